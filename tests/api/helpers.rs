//! `TestApp::spawn`: a migrated, empty database of either backend and a
//! running service on a free loopback port; typed request helpers.

use replywatch::config::ServeConfig;
use replywatch::startup::Application;
use replywatch::store::Store;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const ADMIN_URL: &str = "postgres://root@127.0.0.1:5432/test";
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub use replywatch::store::scratch::Backend;
use replywatch::store::scratch::ScratchDb;

pub const BOTH: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A fresh database (`store::scratch`, as the benchmarks use); PostgreSQL
/// ones are dropped by [`TestDb::remove`]. Derefs to the scratch database
/// (`db.url`).
pub struct TestDb(ScratchDb);

impl std::ops::Deref for TestDb {
    type Target = ScratchDb;
    fn deref(&self) -> &ScratchDb {
        &self.0
    }
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        TestDb(
            ScratchDb::create(backend, "api", ADMIN_URL)
                .await
                .expect("PostgreSQL must run at 127.0.0.1:5432 (scripts/test starts it)"),
        )
    }

    /// Opens the database directly (to check what is stored).
    pub async fn store(&self) -> Store {
        self.0.open().await.unwrap()
    }

    /// The same database reached through another URL (e.g. a relay).
    pub fn reached_at(self, url: String) -> TestDb {
        TestDb(self.0.reached_at(url))
    }

    pub async fn remove(self) {
        self.0.remove().await.unwrap();
    }
}

/// A running service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub db: TestDb,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A response: status, headers, JSON body (`Null` when not JSON).
pub struct Reply {
    pub status: u16,
    #[allow(dead_code)] // read by some tests only
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let db = TestDb::create(backend).await;
        Self::spawn_on(db, configure).await
    }

    pub async fn spawn_on(db: TestDb, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let mut config = ServeConfig::for_tests(&db.url);
        configure(&mut config);
        let app = Application::build(config).await.unwrap();
        let addr = app.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let test_app = TestApp {
            addr,
            client: replywatch::tls::client(),
            db,
            stop,
            server,
        };
        test_app.wait_ready().await;
        test_app
    }

    pub async fn wait_ready(&self) {
        for _ in 0..400 {
            if self.get("/readyz").await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the service did not become ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn reply(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post(&self, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        let r = self
            .client
            .post(self.url("/v1/events"))
            .header("content-type", content_type)
            .body(body.into())
            .send()
            .await
            .unwrap();
        Self::reply(r).await
    }

    /// `GET /metrics`, as text (the one scrape helper of the tests).
    pub async fn scrape(&self) -> String {
        get_text(&self.client, &self.url("/metrics")).await
    }

    pub async fn post_ndjson(&self, body: impl Into<Vec<u8>>) -> Reply {
        self.post("application/x-ndjson", body).await
    }

    /// Stops the service gracefully and returns its database.
    pub async fn stop(self) -> TestDb {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.db
    }

    /// Stops the service and removes its database.
    pub async fn finish(self) {
        self.stop().await.remove().await;
    }
}

/// `n` synthetic NDJSON lines from the generator (re-deliveries included, no conflicts).
pub fn generated(n: u64, seed: u64) -> Vec<String> {
    generated_lines(replywatch::files::generate::GenerateOptions {
        events: n,
        seed,
        accounts: 3,
        end: chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        days: 10,
    })
}

/// The generator's NDJSON lines for `opts`.
pub fn generated_lines(opts: replywatch::files::generate::GenerateOptions) -> Vec<String> {
    let mut out = Vec::new();
    replywatch::files::generate::generate(&opts, &mut out, |_| {}).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// The body of a GET as text (e.g. a `/metrics` scrape); panics on failure.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encoding of a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Prometheus (Debian's package) scraping `target` every second,
/// with optional rule files; killed and cleaned up on drop.
pub struct Prometheus {
    pub port: u16,
    child: std::process::Child,
    dir: PathBuf,
}

impl Prometheus {
    pub fn start(target: SocketAddr, rules: Option<&str>) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "replywatch-prom-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n".to_string();
        if let Some(rules) = rules {
            std::fs::write(dir.join("rules.yml"), rules).unwrap();
            config += &format!("rule_files:\n  - {}\n", dir.join("rules.yml").display());
        }
        config += &format!(
            "scrape_configs:\n  - job_name: replywatch\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = std::process::Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Prometheus must be installed: apt-get install prometheus (.ci/run does it)");
        Prometheus { port, child, dir }
    }

    /// GET on Prometheus's HTTP API, parsed.
    pub async fn get(&self, client: &reqwest::Client, path: &str) -> Option<Value> {
        let r = client
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&r.bytes().await.ok()?).ok()
    }

    /// The value of an instant query's first sample.
    pub async fn query(&self, client: &reqwest::Client, q: &str) -> Option<f64> {
        let body = self
            .get(client, &format!("/api/v1/query?query={}", encode(q)))
            .await?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `replywatch serve` process on a loopback port: SIGKILLed when dropped
/// (a failing test leaves no server behind); its log goes to a file that
/// is printed when the test fails.
pub struct ServeProcess {
    pub port: u16,
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl ServeProcess {
    /// `replywatch serve --listen 127.0.0.1:PORT ARGS…` on a free port.
    pub fn start(args: &[&str]) -> ServeProcess {
        Self::start_on(free_port(), args)
    }

    /// The same on `port` (a restart on the port of an earlier process).
    pub fn start_on(port: u16, args: &[&str]) -> ServeProcess {
        let log = std::env::temp_dir().join(format!(
            "replywatch-serve-{}-{}.log",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let file = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_replywatch"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env_remove("REPLYWATCH_API_TOKEN")
            // REPLYWATCH_TEST_LOG=info shows more of a failing test's server.
            .env(
                "RUST_LOG",
                std::env::var("REPLYWATCH_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting replywatch serve");
        ServeProcess {
            port,
            child: Some(child),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, client: &reqwest::Client, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            let r = client.get(self.url("/readyz")).send().await;
            if r.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "replywatch serve did not become ready within {within:?}:\n{}",
            self.log_tail()
        );
    }

    /// Sends a signal (`TERM`, `STOP`, `CONT`).
    pub fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} {}", self.pid());
    }

    /// SIGTERM, and the exit status once it has stopped.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let status = self.child.take().unwrap().wait().unwrap();
        if !status.success() {
            eprintln!("{}", self.log_tail());
        }
        status
    }

    /// SIGKILL and wait.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last lines the process logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill_9();
        if std::thread::panicking() {
            eprintln!(
                "--- replywatch serve log (last lines) ---\n{}",
                self.log_tail()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
