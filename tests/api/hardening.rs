//! Hostile input and failures (issue 15): each test is one failure found
//! on the old main, reproduced, and the behaviour that replaced it.

use crate::helpers::{Backend, ServeProcess, TestApp, free_port, generated};
use crate::reliability::{assert_acknowledged_stored, keys, wait_ready};
use replywatch::store::Store;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn serve_process(url: &str, port: u16, extra: &[&str]) -> ServeProcess {
    let mut args = vec!["--database-url", url, "--retention", "off"];
    args.extend_from_slice(extra);
    ServeProcess::start_on(port, &args)
}

/// A small tmpfs, unmounted on drop (the test runs as root, as CI does).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(bytes: u64) -> SmallDisk {
        let dir = std::env::temp_dir().join(format!("replywatch-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a {bytes}-byte tmpfs at {} failed: the disk-full test needs root (CI runs as root)",
            dir.display()
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response body as JSON (`Null` when not JSON).
async fn json(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or_default()
}

async fn post(client: &reqwest::Client, port: u16, body: &str) -> u16 {
    match client
        .post(format!("http://127.0.0.1:{port}/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body.to_string())
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Issue 15, first bullet: on a full disk the old main answered 202 after
/// a failed commit (the pooled connection kept a dead transaction), and
/// those batches were gone after kill -9. Now: every 202 survives kill -9,
/// a full disk answers 503, and ingestion recovers once space is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_never_acknowledges_a_lost_batch_and_ingestion_recovers() {
    let disk = SmallDisk::mount(4 * 1024 * 1024);
    let filler = disk.dir.join("filler");
    std::fs::write(&filler, vec![0u8; 1536 * 1024]).unwrap();
    let url = format!("sqlite://{}", disk.dir.join("t.db").display());
    let port = free_port();
    let client = replywatch::tls::client();
    let mut server = serve_process(&url, port, &[]);
    wait_ready(&client, port).await;

    let lines = generated(60_000, 21);
    let batches: Vec<String> = lines.chunks(500).map(|c| c.join("\n")).collect();
    let mut acked: Vec<usize> = Vec::new();
    let mut statuses: Vec<u16> = Vec::new();
    let mut failures_in_a_row = 0;
    let mut next = 0;
    // Fill the disk, then keep posting: nothing may be acknowledged that
    // does not reach the disk.
    while next < batches.len() && failures_in_a_row < 8 {
        let status = post(&client, port, &batches[next]).await;
        statuses.push(status);
        match status {
            202 => {
                acked.push(next);
                failures_in_a_row = 0;
            }
            503 | 507 => failures_in_a_row += 1,
            s => panic!("batch {next}: unexpected status {s} (statuses so far {statuses:?})"),
        }
        next += 1;
    }
    assert!(
        failures_in_a_row >= 8,
        "the disk never filled: {statuses:?}"
    );
    assert!(!acked.is_empty(), "nothing fitted before the disk was full");
    // Space comes back: the same batch is taken within seconds.
    std::fs::remove_file(&filler).unwrap();
    let retried = next - 1;
    let started = Instant::now();
    loop {
        let status = post(&client, port, &batches[retried]).await;
        if status == 202 {
            acked.push(retried);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ingestion did not recover after space came back (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill_9();

    let store = Store::connect(&url).await.unwrap();
    let stored = keys(&store.load_events().await.unwrap());
    store.close().await;
    assert_acknowledged_stored(
        &acked,
        &batches,
        &stored,
        &format!("(statuses {statuses:?})"),
    );
    eprintln!(
        "disk full: {} batches acknowledged, statuses {statuses:?}, {} events stored",
        acked.len(),
        stored.len()
    );
    drop(disk);
}

/// Reads until the peer closes the connection; the bytes read.
fn read_until_closed(stream: &mut std::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(_) => return None, // timed out: still open
        }
    }
}

/// Issue 15: a client that sends half a request head is disconnected
/// after --header-timeout, and a stop does not wait for it beyond
/// --shutdown-grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_is_cut_off_and_never_blocks_the_stop() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.limits.header_timeout = replywatch::domain::Micros::from_seconds(1);
    })
    .await;
    let addr = app.addr;
    let started = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        read_until_closed(&mut s, Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(
        closed.is_some(),
        "the half-sent request was still open after 5 s"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // Others are served meanwhile.
    assert_eq!(app.get("/healthz").await.status, 200);
    app.finish().await;

    // A stalled connection at the stop: closed after the grace.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.limits.header_timeout = replywatch::domain::Micros::from_seconds(60);
        c.limits.shutdown_grace = replywatch::domain::Micros::from_seconds(1);
    })
    .await;
    let mut stalled = std::net::TcpStream::connect(app.addr).unwrap();
    stalled
        .write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\ncontent-type: application/x-ndjson\r\n")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.finish())
        .await
        .expect("the stop waited for a stalled connection");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the stop took {took:?}");
    assert!(read_until_closed(&mut stalled, Duration::from_secs(2)).is_some());
}

/// Issue 15: connections beyond --max-connections are answered 503 at
/// once (not queued, not read), and a freed place is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_get_503_and_a_freed_place_is_used_again() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.limits.max_connections = 2).await;
    // The test client's own pooled connection may hold a place: drop it.
    let addr = app.addr;
    let mut held: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = tokio::task::spawn_blocking(move || {
        let mut extra = std::net::TcpStream::connect(addr).unwrap();
        let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        read_until_closed(&mut extra, Duration::from_secs(5))
    })
    .await
    .unwrap()
    .expect("the connection over the limit was closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("retry-after: 1"), "{text}");
    held.clear();
    let started = Instant::now();
    loop {
        let fresh = replywatch::tls::client();
        if let Ok(r) = fresh.get(app.url("/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the freed places were not reused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.finish().await;
}

/// Issue 15: a batch PostgreSQL refuses (here: a CHECK constraint on the
/// test database) fails alone with 422, every time and at once; the
/// batches committed beside it are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_database_refuses_fails_alone_and_never_wedges_ingestion() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let store = app.db.store().await;
    store
        .execute_admin("ALTER TABLE events ADD CONSTRAINT no_poison CHECK (id <> 'poison')")
        .await
        .unwrap();
    store.close().await;
    let event = |id: &str, conversation: &str| {
        format!(
            r#"{{"id":"{id}","account":"a","channel":"messenger","conversation":"{conversation}","from":"customer","at":"2026-11-01T10:00:00Z"}}"#
        )
    };
    let good: Vec<String> = (0..6)
        .map(|b| {
            (0..50)
                .map(|i| event(&format!("g{b}-{i}"), &format!("c{b}-{i}")))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let poison = format!(
        "{}\n{}",
        event("ok-beside-poison", "p1"),
        event("poison", "p2")
    );
    for round in 0..3 {
        // Sent together, so that the worker commits them as one group.
        let mut bodies = good.clone();
        bodies.insert(3, poison.clone());
        let posts: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let (client, url) = (app.client.clone(), app.url("/v1/events"));
                tokio::spawn(async move {
                    let r = client
                        .post(url)
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    (status, json(r).await)
                })
            })
            .collect();
        let mut replies = Vec::new();
        for p in posts {
            replies.push(p.await.unwrap());
        }
        let statuses: Vec<u16> = replies.iter().map(|r| r.0).collect();
        assert_eq!(
            statuses.iter().filter(|&&s| s == 422).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|&&s| s == 202).count(),
            good.len(),
            "round {round}: {statuses:?}"
        );
        let refused = replies.iter().find(|r| r.0 == 422).unwrap();
        let message = refused.1["error"]["message"].as_str().unwrap();
        assert!(message.contains("refused"), "{message}");
        assert!(
            !message.contains("no_poison"),
            "database text leaked: {message}"
        );
    }
    // Nothing of the refused batch is stored; every good event is.
    let stats = app
        .get("/v1/stats?as_of=2026-11-02T00:00:00Z&window=7d&channel=all")
        .await;
    assert_eq!(stats.body["groups"][0]["requests"], 300, "{}", stats.body);
    app.finish().await;
}

/// Issue 15: an empty secret (e.g. a trailing comma in the app-secret
/// list) refuses the start, naming the option, instead of accepting a
/// body signed with the empty key.
#[test]
fn empty_secrets_refuse_the_start_naming_the_option() {
    for (var, value, option) in [
        ("REPLYWATCH_META_APP_SECRET", "s3cret,", "--meta-app-secret"),
        ("REPLYWATCH_API_TOKEN", "", "--api-token"),
        ("REPLYWATCH_METRICS_TOKEN", " ", "--metrics-token"),
        ("REPLYWATCH_META_VERIFY_TOKEN", "", "--meta-verify-token"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_replywatch"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                "sqlite::memory:",
            ])
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value:?} started");
        assert!(
            stderr.contains(option) && stderr.contains("must not be empty"),
            "{var}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cret"),
            "a secret reached the output: {stderr}"
        );
    }
}

/// Issue 15: an empty `hub.verify_token` never matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_verify_token_never_passes_the_handshake() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.meta.meta_verify_token = Some("verify-me".into())
    })
    .await;
    for q in [
        "hub.mode=subscribe&hub.verify_token=&hub.challenge=42",
        "hub.mode=subscribe&hub.challenge=42",
    ] {
        assert_eq!(
            app.get(&format!("/webhooks/meta?{q}")).await.status,
            403,
            "{q}"
        );
    }
    let ok =
        app.client
            .get(app.url(
                "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42",
            ))
            .send()
            .await
            .unwrap();
    assert_eq!(ok.text().await.unwrap(), "42");
    app.finish().await;
}

fn tokens_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.json");
    std::fs::write(
        &path,
        r#"{"tokens": [
            {"name": "acme", "token": "acme-token", "accounts": ["acme-1", "acme-2"]},
            {"name": "admin", "token": "admin-token", "accounts": "*"}]}"#,
    )
    .unwrap();
    path
}

/// SPEC §6, tokens scoped to accounts: a token sees and changes only its
/// accounts; the others do not exist for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_and_changes_only_its_accounts() {
    let dir = std::env::temp_dir().join(format!("replywatch-tokens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = tokens_file(&dir);
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.tokens = Some(file.clone())).await;
    // An hour ago: the page shows the last 7 days to now.
    let at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let event = |id: &str, account: &str| {
        format!(
            r#"{{"id":"{id}","account":"{account}","channel":"messenger","conversation":"c","from":"customer","at":"{at}"}}"#
        )
    };
    let send = |token: &str, body: String| {
        app.client
            .post(app.url("/v1/events"))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
    };
    let get =
        |token: &'static str, path: &str| app.client.get(app.url(path)).bearer_auth(token).send();

    // No token, an unknown token: 401.
    assert_eq!(app.get("/v1/stats").await.status, 401);
    assert_eq!(get("nope", "/v1/stats").await.unwrap().status(), 401);
    // A batch with another account's event: 403 naming its index, nothing stored.
    let mixed = [
        event("1", "acme-1"),
        event("2", "other"),
        event("3", "acme-2"),
    ]
    .join("\n");
    let r = send("acme-token", mixed).await.unwrap();
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    let indexes: Vec<u64> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1]);
    assert_eq!(
        send(
            "acme-token",
            [event("1", "acme-1"), event("3", "acme-2")].join("\n")
        )
        .await
        .unwrap()
        .status(),
        202
    );
    assert_eq!(
        send("admin-token", event("2", "other"))
            .await
            .unwrap()
            .status(),
        202
    );

    let q = "/v1/stats?window=7d&channel=all";
    let accounts = |v: serde_json::Value| -> HashSet<String> {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["account"].as_str().unwrap().to_string())
            .collect()
    };
    let mine = accounts(json(get("acme-token", q).await.unwrap()).await);
    assert_eq!(
        mine,
        HashSet::from(["acme-1".to_string(), "acme-2".to_string()])
    );
    let all = accounts(json(get("admin-token", q).await.unwrap()).await);
    assert_eq!(all.len(), 3);
    // Another account named: 403, for every route that names one.
    for path in [
        format!("{q}&account=other"),
        "/v1/requests?account=other".to_string(),
        "/v1/charts/volume.png?account=other".to_string(),
        "/v1/accounts/other/calendar".to_string(),
        "/accounts/other".to_string(),
    ] {
        assert_eq!(
            get("acme-token", &path).await.unwrap().status(),
            403,
            "{path}"
        );
    }
    let put = app
        .client
        .put(app.url("/v1/accounts/other/calendar"))
        .bearer_auth("acme-token")
        .header("content-type", "application/json")
        .body(r#"{"timezone":"UTC"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 403);
    // Requests and the page list only its accounts, with no hint of others.
    let rows = json(get("acme-token", "/v1/requests").await.unwrap()).await;
    assert_eq!(rows["total"], 2, "{rows}");
    let page = get("acme-token", "/").await.unwrap().text().await.unwrap();
    assert!(page.contains("acme-1") && !page.contains("other"), "{page}");
    // Dead letters hold any account's events: all-accounts tokens only.
    assert_eq!(
        get("acme-token", "/v1/dead-letters")
            .await
            .unwrap()
            .status(),
        403
    );
    // The file is re-read when it changes: a revoked token stops working.
    std::fs::write(
        &file,
        r#"{"tokens": [{"name": "admin", "token": "admin-token", "accounts": "*"}]}"#,
    )
    .unwrap();
    let started = Instant::now();
    while get("acme-token", q).await.unwrap().status() != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the tokens file was not re-read"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15: a time the cluster could not carry (year −1) is refused at
/// the boundary with the field named, and so is a NUL in an id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_outside_spec_1_are_refused_naming_the_field() {
    let app = TestApp::spawn(Backend::Postgres).await;
    for (body, field) in [
        (
            r#"{"id":"1","account":"a","channel":"messenger","conversation":"c","from":"customer","at":"0000-01-01T00:00:00+00:01"}"#,
            "at",
        ),
        (
            r#"{"id":"x\u0000","account":"a","channel":"messenger","conversation":"c","from":"customer","at":"2026-11-01T10:00:00Z"}"#,
            "id",
        ),
        (
            r#"{"id":"1","account":"a","channel":"messenger","conversation":"c\r\nBcc: x","from":"customer","at":"2026-11-01T10:00:00Z"}"#,
            "conversation",
        ),
    ] {
        let r = app.post_ndjson(body).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body["error"]["details"][0]["field"], field, "{}", r.body);
    }
    app.finish().await;
}

/// A TCP relay to PostgreSQL that can go silent (hold every byte, close
/// nothing): what a hung database or a dead network path looks like.
struct SilentableRelay {
    port: u16,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SilentableRelay {
    async fn start(target: &'static str) -> SilentableRelay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = silent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, flag.clone()));
                tokio::spawn(pump(sr, cw, flag.clone()));
            }
        });
        SilentableRelay { port, silent }
    }

    fn set_silent(&self, on: bool) {
        self.silent.store(on, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Copies `from` to `to`, holding every byte while `silent` is set.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while silent.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let n = match tokio::time::timeout(Duration::from_millis(50), from.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
        };
        while silent.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Issue 15: database calls have timeouts — a silent database answers 503
/// within seconds (`--db-timeout`), `/readyz` says not ready, and ingestion
/// recovers on its own when the database answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_database_gives_503_within_seconds_and_ingestion_recovers() {
    let relay = SilentableRelay::start("127.0.0.1:5432").await;
    let db = crate::helpers::TestDb::create(Backend::Postgres).await;
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let relayed = db.reached_at(format!("postgres://root@127.0.0.1:{}/{name}", relay.port));
    let app = TestApp::spawn_on(relayed, |c| {
        c.limits.db_timeout = replywatch::domain::Micros::from_seconds(2);
    })
    .await;
    let event = |id: &str| {
        format!(
            r#"{{"id":"{id}","account":"a","channel":"messenger","conversation":"c-{id}","from":"customer","at":"2026-11-01T10:00:00Z"}}"#
        )
    };
    assert_eq!(app.post_ndjson(event("before")).await.status, 202);
    relay.set_silent(true);
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(15), app.post_ndjson(event("during")))
        .await
        .expect("the batch waited for the silent database");
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    assert!(took < Duration::from_secs(6), "the 503 took {took:?}");
    assert_eq!(app.get("/readyz").await.status, 503);
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "the process itself answers"
    );
    relay.set_silent(false);
    let started = Instant::now();
    loop {
        let r = app.post_ndjson(event("during")).await;
        if r.status == 202 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ingestion did not recover"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stats = app
        .get("/v1/stats?as_of=2026-11-02T00:00:00Z&window=7d&channel=all")
        .await;
    assert_eq!(stats.body["groups"][0]["requests"], 2, "{}", stats.body);
    app.finish().await;
}
