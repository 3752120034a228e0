//! `replywatch bench cluster` (issue 10): starts a NATS JetStream server of
//! its own (a temp store, so no other cluster is touched) and, for 1, 2, …
//! `--nodes` nodes, that many `serve --nats` processes on one fresh
//! PostgreSQL database; posts distinct events through all of them and
//! prints events/s to 202 (in the event log) and to committed (in
//! PostgreSQL). With two or more nodes it then kills one with SIGKILL and
//! one with SIGTERM and prints how long until their partitions are served
//! again.

use crate::bench::{distinct_events, ndjson_bodies, percentile, post_bodies};
use anyhow::{Context, bail};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchClusterArgs {
    /// The nats-server binary (Debian's package installs /usr/sbin/nats-server).
    #[arg(long, default_value = "/usr/sbin/nats-server")]
    pub nats_server: String,
    /// Measure 1, 2, … up to this many nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    #[arg(long, default_value_t = 16)]
    pub partitions: u32,
    /// Distinct events per run.
    #[arg(long, default_value_t = 300_000)]
    pub events: usize,
    /// Lease TTL of the nodes (the failover time is about this plus a renewal period).
    #[arg(long, default_value = "5s")]
    pub lease_ttl: String,
    /// Clients are spread over the nodes.
    #[command(flatten)]
    pub load: super::LoadArgs,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process killed on drop.
struct Proc(Option<Child>);

impl Proc {
    fn kill_9(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.0.take() {
            Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status()?;
            c.wait()?;
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_9();
    }
}

struct Node {
    port: u16,
    proc: Proc,
}

fn start_node(args: &BenchClusterArgs, i: usize, db: &str, nats: &str) -> anyhow::Result<Node> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", db, "--retention", "off", "--nats", nats])
        .args(["--partitions", &args.partitions.to_string()])
        .args([
            "--node-id",
            &format!("bench-{i}"),
            "--lease-ttl",
            &args.lease_ttl,
        ])
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .spawn()
        .context("starting a node")?;
    Ok(Node {
        port,
        proc: Proc(Some(child)),
    })
}

/// The partitions served by each node that answers, and the log's backlog.
async fn served(client: &reqwest::Client, ports: &[u16]) -> (Vec<u64>, Option<u64>, usize) {
    let mut all = Vec::new();
    let mut backlog = Some(0);
    let mut answered = 0;
    for port in ports {
        let r = client
            .get(format!("http://127.0.0.1:{port}/v1/cluster"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        let Ok(body) = (match r {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        }) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
            continue;
        };
        answered += 1;
        all.extend(
            v["serving"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_u64()),
        );
        backlog = match (backlog, v["backlog"].as_u64()) {
            (Some(_), Some(b)) => Some(b),
            _ => None,
        };
    }
    all.sort();
    (all, backlog, answered)
}

/// Waits until `ports` together serve every partition exactly once (and,
/// with `drained`, the log is empty); returns how long it took.
async fn wait_covered(
    client: &reqwest::Client,
    ports: &[u16],
    partitions: u32,
    drained: bool,
    within: Duration,
) -> anyhow::Result<Duration> {
    // Each /v1/cluster asks JetStream for every consumer's state: poll the
    // drain slowly (it must not slow the consumers down), failover fast.
    let every = Duration::from_millis(if drained { 250 } else { 20 });
    let t = Instant::now();
    let want: Vec<u64> = (0..u64::from(partitions)).collect();
    while t.elapsed() < within {
        let (all, backlog, answered) = served(client, ports).await;
        if answered == ports.len() && all == want && (!drained || backlog == Some(0)) {
            return Ok(t.elapsed());
        }
        tokio::time::sleep(every).await;
    }
    bail!("the partitions were not all served within {within:?}")
}

struct Run {
    acked: Duration,
    committed: Duration,
    latencies: Vec<Duration>,
}

async fn run_nodes(
    args: &BenchClusterArgs,
    n: usize,
    bodies: Arc<Vec<Vec<u8>>>,
    events: usize,
    out: &mut impl std::io::Write,
) -> anyhow::Result<Run> {
    let nats_port = free_port()?;
    let nats_dir =
        std::env::temp_dir().join(format!("replywatch-bench-nats-{}-{n}", std::process::id()));
    let _nats = Proc(Some(
        Command::new(&args.nats_server)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &nats_port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&nats_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", args.nats_server))?,
    ));
    let nats = format!("nats://127.0.0.1:{nats_port}");
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let db = crate::store::scratch::ScratchDb::create(
        crate::store::scratch::Backend::Postgres,
        &format!("bench_cluster{n}"),
        &args.load.postgres_url,
    )
    .await?;
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(start_node(args, i, &db.url, &nats)?);
    }
    let client = crate::tls::client();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    wait_covered(
        &client,
        &ports,
        args.partitions,
        true,
        Duration::from_secs(60),
    )
    .await?;

    let t = Instant::now();
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/v1/events"))
        .collect();
    let latencies = post_bodies(&client, &urls, bodies, args.load.clients).await?;
    let acked = t.elapsed();
    wait_covered(
        &client,
        &ports,
        args.partitions,
        true,
        Duration::from_secs(600),
    )
    .await?;
    let committed = t.elapsed();
    let store = crate::store::Store::connect(&db.url).await?;
    let stored = store.count_events().await?;
    store.close().await;
    anyhow::ensure!(
        stored == events as u64,
        "stored {stored} of {events} events"
    );

    if n >= 2 {
        // Failover: SIGKILL node 0; the survivors wait for its leases to expire.
        nodes[0].proc.kill_9();
        let survivors = &ports[1..];
        let took = wait_covered(
            &client,
            survivors,
            args.partitions,
            false,
            Duration::from_secs(120),
        )
        .await?;
        writeln!(
            out,
            "  {n} nodes: node killed with SIGKILL -> its partitions served again after {:.2} s (lease TTL {})",
            took.as_secs_f64(),
            args.lease_ttl
        )?;
    }
    if n >= 3 {
        // A clean stop hands the leases back at once.
        let survivors = &ports[1..];
        let leaving: BTreeSet<u64> = served(&client, &survivors[..1])
            .await
            .0
            .into_iter()
            .collect();
        let t = Instant::now();
        nodes[1].proc.terminate()?;
        wait_covered(
            &client,
            &survivors[1..],
            args.partitions,
            false,
            Duration::from_secs(120),
        )
        .await?;
        writeln!(
            out,
            "  {n} nodes: node stopped with SIGTERM ({} partitions) -> served again after {:.2} s",
            leaving.len(),
            t.elapsed().as_secs_f64()
        )?;
    }
    drop(nodes);
    db.remove().await?;
    let _ = std::fs::remove_dir_all(&nats_dir);
    Ok(Run {
        acked,
        committed,
        latencies,
    })
}

pub fn run_bench_cluster(
    args: &BenchClusterArgs,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    crate::telemetry::init();
    let events = distinct_events(args.events, args.load.seed)?;
    let bodies = ndjson_bodies(&events, args.load.batch);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    writeln!(
        out,
        "{} distinct events; batches of {}; {} clients; {} partitions; nodes, NATS, PostgreSQL and clients share this machine's {} cores",
        events.len(),
        args.load.batch,
        args.load.clients,
        args.partitions,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )?;
    for n in 1..=args.nodes.max(1) {
        let run = rt.block_on(run_nodes(args, n, bodies.clone(), events.len(), out))?;
        let mut lat = run.latencies;
        lat.sort();
        let rate = |d: Duration| events.len() as f64 / d.as_secs_f64();
        writeln!(
            out,
            "{n} node(s): {:.0} events/s acknowledged (202 from JetStream, {:.2} s), {:.0} events/s committed to PostgreSQL ({:.2} s); time to 202 p50 {:.1} ms, p99 {:.1} ms",
            rate(run.acked),
            run.acked.as_secs_f64(),
            rate(run.committed),
            run.committed.as_secs_f64(),
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
        )?;
    }
    Ok(())
}
