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
    /// 3: the event log on a three-server NATS cluster of the bench's own
    /// (routes on loopback), stream and lease bucket with three replicas.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub nats_replicas: u8,
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

impl Node {
    /// A field of the process's /proc status, in kB (VmRSS, VmHWM).
    fn status_kb(&self, field: &str) -> Option<u64> {
        let pid = self.proc.0.as_ref()?.id();
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
            .trim()
            .trim_end_matches(" kB")
            .parse()
            .ok()
    }
}

/// Memory per held event of each node (resident set after the load minus
/// before it, over the events its live engine holds), then the cost of
/// full `/v1/stats` (every account) on node 0: one call alone, then ten at
/// once once its store view has aged out (single-flight: one load shared),
/// with the node's peak resident set around them.
async fn memory_and_full_reads(
    client: &reqwest::Client,
    nodes: &[Node],
    baseline: &[u64],
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    for (i, node) in nodes.iter().enumerate() {
        let health: serde_json::Value = serde_json::from_slice(
            &client
                .get(format!("http://127.0.0.1:{}/healthz", node.port))
                .send()
                .await?
                .bytes()
                .await?,
        )?;
        let held = health["events"].as_u64().unwrap_or(0);
        let rss = node.status_kb("VmRSS").unwrap_or(0);
        let grown = rss.saturating_sub(baseline[i]) * 1024;
        writeln!(
            out,
            "  node {i}: holds {held} events live; resident {:.0} MB ({:.0} MB at start): {:.0} bytes per held event",
            rss as f64 / 1024.0,
            baseline[i] as f64 / 1024.0,
            grown as f64 / held.max(1) as f64
        )?;
    }
    let node = &nodes[0];
    let url = format!("http://127.0.0.1:{}/v1/stats?window=30d", node.port);
    let get = |client: reqwest::Client, url: String| async move {
        let t = Instant::now();
        let r = client.get(url).send().await?;
        anyhow::ensure!(r.status() == 200, "GET /v1/stats: {}", r.status());
        let bytes = r.bytes().await?.len();
        anyhow::Ok((t.elapsed(), bytes))
    };
    tokio::time::sleep(crate::service::figures::STORE_VIEW_FRESH).await;
    let before = node.status_kb("VmRSS").unwrap_or(0);
    let (alone, bytes) = get(client.clone(), url.clone()).await?;
    let peak_one = node.status_kb("VmHWM").unwrap_or(0);
    tokio::time::sleep(crate::service::figures::STORE_VIEW_FRESH).await;
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(get(client.clone(), url.clone())))
        .collect();
    let mut took = Vec::new();
    for c in calls {
        took.push(c.await??.0);
    }
    took.sort();
    let peak_ten = node.status_kb("VmHWM").unwrap_or(0);
    writeln!(
        out,
        "  full /v1/stats on node 0 (every account, from its store view; {bytes} bytes): alone {:.0} ms; ten at once p50 {:.0} ms, slowest {:.0} ms; resident {:.0} MB before, peak {:.0} MB after one, {:.0} MB after ten",
        alone.as_secs_f64() * 1e3,
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        took.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        before as f64 / 1024.0,
        peak_one as f64 / 1024.0,
        peak_ten as f64 / 1024.0,
    )?;
    Ok(())
}

fn start_node(args: &BenchClusterArgs, i: usize, db: &str, nats: &str) -> anyhow::Result<Node> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", db, "--retention", "off", "--nats", nats])
        .args(["--nats-replicas", &args.nats_replicas.to_string()])
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

/// The bench's own NATS: one server, or (`--nats-replicas 3`) three routed
/// to each other, each with its store under `dir`. Returns the processes
/// and the URL list the nodes get.
async fn start_nats(
    args: &BenchClusterArgs,
    dir: &std::path::Path,
) -> anyhow::Result<(Vec<Proc>, String)> {
    let servers = usize::from(args.nats_replicas.max(1));
    let ports: Vec<u16> = (0..servers)
        .map(|_| free_port())
        .collect::<Result<_, _>>()?;
    let routes: Vec<u16> = (0..servers)
        .map(|_| free_port())
        .collect::<Result<_, _>>()?;
    std::fs::create_dir_all(dir)?;
    let mut procs = Vec::new();
    for i in 0..servers {
        let mut command = Command::new(&args.nats_server);
        command
            .args(["-a", "127.0.0.1", "-p", &ports[i].to_string(), "-js", "-sd"])
            .arg(dir.join(format!("n{i}")));
        if servers > 1 {
            let all: Vec<String> = routes
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            command
                .args(["--server_name", &format!("n{i}"), "--cluster_name", "bench"])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", routes[i])])
                .args(["--routes", &all.join(",")]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", args.nats_server))?;
        procs.push(Proc(Some(child)));
    }
    for port in &ports {
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect();
    if servers > 1 {
        // Until the servers have elected a JetStream meta leader, a
        // replicated stream cannot be made.
        let addrs: Vec<async_nats::ServerAddr> =
            urls.iter().map(|u| u.parse()).collect::<Result<_, _>>()?;
        let js = async_nats::jetstream::new(async_nats::connect(addrs).await?);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let probe = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: "BENCH_PROBE".into(),
                    subjects: vec!["bench.probe".into()],
                    num_replicas: servers,
                    ..Default::default()
                })
                .await;
            if probe.is_ok() {
                js.delete_stream("BENCH_PROBE").await?;
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the NATS cluster did not form");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok((procs, urls.join(",")))
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
    let nats_dir =
        std::env::temp_dir().join(format!("replywatch-bench-nats-{}-{n}", std::process::id()));
    let (_nats, nats) = start_nats(args, &nats_dir).await?;
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
    let baseline: Vec<u64> = nodes
        .iter()
        .map(|n| n.status_kb("VmRSS").unwrap_or(0))
        .collect();

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

    memory_and_full_reads(&client, &nodes, &baseline, out).await?;

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
    let conversations: std::collections::HashSet<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.account.as_str(),
                e.channel.as_str(),
                e.conversation.as_str(),
            )
        })
        .collect();
    writeln!(
        out,
        "{} conversations ({:.1} events each)",
        conversations.len(),
        events.len() as f64 / conversations.len().max(1) as f64
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    writeln!(
        out,
        "{} distinct events; batches of {}; {} clients; {} partitions; NATS: {} server(s), {} replica(s); nodes, NATS, PostgreSQL and clients share this machine's {} cores",
        events.len(),
        args.load.batch,
        args.load.clients,
        args.partitions,
        args.nats_replicas,
        args.nats_replicas,
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
