//! A real cluster on this machine (issue 10): a NATS JetStream server of the
//! test's own (port and store directory, so it can be restarted), one
//! PostgreSQL database, and `replywatch serve --nats` nodes as processes.
//! Clients post through any node and retry elsewhere on 503 or a dead node,
//! like a load balancer. Afterwards every acknowledged event is stored once,
//! every node's `/v1/stats` equals `analyze`, and `/metrics` summed over the
//! nodes equals one node's figures over the same events.

use crate::helpers::{Backend, ServeProcess, TestDb, free_port};
use crate::reliability::{events_of, keys, stored_events};
use replywatch::domain::{AnalyzeOptions, CalendarBook, EventSet, Micros, Timestamp, analyze};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const PARTITIONS: u32 = 8;
const NATS_SERVER: &str = "/usr/sbin/nats-server";
const META_SECRET: &str = "cluster-app-secret";

/// A NATS server with JetStream on a free port, killed on drop.
pub struct Nats {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nats {
    pub fn start() -> Nats {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("replywatch-nats-{}-{port}", std::process::id()));
        let mut nats = Nats {
            port,
            dir,
            child: None,
        };
        nats.spawn();
        nats
    }

    fn spawn(&mut self) {
        let child = Command::new(NATS_SERVER)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (.ci/run installs Debian's nats-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9, then start again on the same port and store.
    pub fn restart(&mut self, down_for: Duration) {
        self.kill();
        std::thread::sleep(down_for);
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One `serve --nats` process.
pub struct Node {
    pub id: String,
    pub process: ServeProcess,
}

impl Node {
    pub fn start(id: &str, db: &TestDb, nats: &str) -> Node {
        Self::start_with_ttl(id, db, nats, "2s")
    }

    pub fn start_with_ttl(id: &str, db: &TestDb, nats: &str, ttl: &str) -> Node {
        Self::start_with(id, db, nats, ttl, &[])
    }

    /// A node with `extra` arguments (e.g. `--nats-replicas 3`).
    pub fn start_with(id: &str, db: &TestDb, nats: &str, ttl: &str, extra: &[&str]) -> Node {
        let partitions = PARTITIONS.to_string();
        let mut args = vec!["--database-url", &db.url];
        if !extra.contains(&"--retention") {
            args.extend(["--retention", "off"]);
        }
        args.extend([
            "--nats",
            nats,
            "--partitions",
            &partitions,
            "--node-id",
            id,
            "--lease-ttl",
            ttl,
            "--metrics-refresh",
            "1s",
            "--meta-app-secret",
            META_SECRET,
        ]);
        args.extend_from_slice(extra);
        let process = ServeProcess::start(&args);
        Node {
            id: id.to_string(),
            process,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    pub fn kill_9(&mut self) {
        self.process.kill_9();
    }

    /// SIGTERM and wait: the node hands its partitions back.
    pub fn stop(&mut self) {
        let status = self.process.stop();
        assert!(status.success(), "{} did not stop cleanly", self.id);
    }
}

/// Events from the generator, all between 5 and 2 days before now (so the
/// 7d and 30d windows hold all of them and 1h/24h none, whenever a node
/// refreshes its gauges), with 24 accounts spread over the partitions.
/// The generator writes slow replies after its span, some of them less than
/// an hour ago or in the future: those are left out, so no figure changes
/// between a node's gauge refresh and the test's own computation a second
/// later (a reply "happening" in between failed the gauge comparison).
pub fn recent_events(n: u64, seed: u64) -> Vec<String> {
    let settled = replywatch::domain::Timestamp::from_datetime(
        chrono::Utc::now() - chrono::Duration::hours(1),
    );
    crate::helpers::generated_lines(replywatch::files::generate::GenerateOptions {
        events: n,
        seed,
        accounts: 24,
        end: chrono::Utc::now() - chrono::Duration::days(2),
        days: 3,
    })
    .into_iter()
    .filter(|l| {
        replywatch::domain::MessageEvent::from_json(l.as_bytes()).is_ok_and(|e| e.at < settled)
    })
    .collect()
}

/// A NATS server, a PostgreSQL database and `n` nodes that have shared the
/// partitions out.
pub async fn cluster_of(n: usize) -> (Nats, TestDb, reqwest::Client, Vec<Node>) {
    cluster_with(n, &[]).await
}

/// [`cluster_of`] with `extra` arguments for every node (2 s leases).
pub async fn cluster_with(n: usize, extra: &[&str]) -> (Nats, TestDb, reqwest::Client, Vec<Node>) {
    let nats = Nats::start();
    let db = TestDb::create(Backend::Postgres).await;
    let client = replywatch::tls::client();
    let nodes: Vec<Node> = (0..n)
        .map(|i| Node::start_with(&format!("node-{i}"), &db, &nats.url(), "2s", extra))
        .collect();
    let all: Vec<&Node> = nodes.iter().collect();
    wait_settled(&client, &all, Duration::from_secs(30)).await;
    (nats, db, client, nodes)
}

/// The cluster's view from every live node.
pub async fn statuses(client: &reqwest::Client, nodes: &[&Node]) -> Vec<Value> {
    let mut out = Vec::new();
    for node in nodes {
        if let Ok(r) = client.get(node.url("/v1/cluster")).send().await
            && let Ok(body) = r.bytes().await
            && let Ok(v) = serde_json::from_slice::<Value>(&body)
        {
            out.push(v);
        }
    }
    out
}

pub fn numbers(v: &Value, field: &str) -> Vec<u64> {
    v[field]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// Waits until every partition is served by exactly one of `nodes`, each
/// sees all of them, and nothing is left in the event log.
pub async fn wait_settled(client: &reqwest::Client, nodes: &[&Node], within: Duration) {
    let deadline = Instant::now() + within;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = statuses(client, nodes).await;
        let mut served: Vec<u64> = last.iter().flat_map(|s| numbers(s, "serving")).collect();
        served.sort();
        let everyone_seen = last.iter().all(|s| {
            s["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == nodes.len())
        });
        if last.len() == nodes.len()
            && served == (0..u64::from(PARTITIONS)).collect::<Vec<_>>()
            && everyone_seen
            && last.iter().all(|s| !numbers(s, "serving").is_empty())
            && last.iter().all(|s| s["backlog"] == 0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cluster did not settle within {within:?}: {last:#?}");
}

/// What one posting client saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Posted {
    /// Answers that were 503 (each followed by a retry).
    pub unavailable: usize,
    /// The longest a batch took from its first attempt to its 202.
    pub longest: Duration,
}

/// Clients that post every batch through the nodes (round-robin), moving
/// to the next node on 503 or when a node does not answer (10 s), until
/// each batch got a 202.
pub fn post_all(
    ports: Arc<Vec<u16>>,
    batches: Arc<Vec<String>>,
    clients: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Posted>> {
    (0..clients)
        .map(|c| {
            let (ports, batches, acked) = (ports.clone(), batches.clone(), acked.clone());
            tokio::spawn(async move {
                let client = replywatch::tls::client_builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut posted = Posted::default();
                let mut node = c;
                for i in (c..batches.len()).step_by(clients) {
                    let first = Instant::now();
                    let deadline = first + Duration::from_secs(60);
                    loop {
                        assert!(
                            Instant::now() < deadline,
                            "batch {i} was never acknowledged"
                        );
                        let port = ports[node % ports.len()];
                        let r = client
                            .post(format!("http://127.0.0.1:{port}/v1/events"))
                            .header("content-type", "application/x-ndjson")
                            .body(batches[i].clone())
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == 202 => break,
                            Ok(r) if r.status() == 503 => posted.unavailable += 1,
                            Ok(r) => panic!("batch {i}: unexpected status {}", r.status()),
                            Err(_) => {} // that node is down
                        }
                        node += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    posted.longest = posted.longest.max(first.elapsed());
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                posted
            })
        })
        .collect()
}

pub async fn wait_acked(acked: &AtomicUsize, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::SeqCst) < at_least {
        assert!(Instant::now() < deadline, "the load stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn batches_of(lines: &[String], size: usize) -> Arc<Vec<String>> {
    Arc::new(lines.chunks(size).map(|c| c.join("\n")).collect())
}

pub fn sent_events(batches: &[String]) -> EventSet {
    EventSet::from_events(batches.iter().flat_map(|b| events_of(b)))
}

/// The figure gauges of a scrape that time alone does not move, by series.
fn stable_gauges(text: &str) -> BTreeMap<String, f64> {
    const FAMILIES: [&str; 10] = [
        "replywatch_requests{",
        "replywatch_response_rate_ratio{",
        "replywatch_hit_ratio{",
        "replywatch_first_reply_median_seconds{",
        "replywatch_first_reply_p90_seconds{",
        "replywatch_pending_requests{",
        "replywatch_pending_older_than{",
        "replywatch_badge_response_rate_ratio{",
        "replywatch_badge_response_seconds{",
        "replywatch_badge_eligible{",
    ];
    text.lines()
        .filter(|l| FAMILIES.iter().any(|f| l.starts_with(f)))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Every node's `/v1/stats` (per account, and for all accounts) equals
/// `analyze` over `expected`.
async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let body = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{url}: {e}: {}", String::from_utf8_lossy(&body)))
}

pub async fn assert_stats_match(client: &reqwest::Client, nodes: &[&Node], expected: &EventSet) {
    let as_of = Timestamp::from_datetime(chrono::Utc::now());
    let window = Micros(7 * 86_400 * 1_000_000);
    let want =
        serde_json::to_value(analyze(expected, &AnalyzeOptions::new(as_of, window))).unwrap();
    let accounts: BTreeSet<String> = want["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["account"].as_str().unwrap().to_string())
        .collect();
    assert!(accounts.len() > 10, "the load spans many accounts");
    for node in nodes {
        let q = format!(
            "as_of={}&window=7d",
            crate::helpers::encode(&as_of.to_string())
        );
        let all = get_json(client, node.url(&format!("/v1/stats?{q}"))).await;
        let diffs = crate::common::differences(&all, &want);
        assert!(
            diffs.is_empty(),
            "{} (all accounts): {}",
            node.id,
            diffs.join("\n")
        );
        for account in &accounts {
            let one = get_json(
                client,
                node.url(&format!("/v1/stats?{q}&account={account}")),
            )
            .await;
            let mut want_one = want.clone();
            want_one["groups"]
                .as_array_mut()
                .unwrap()
                .retain(|g| g["account"] == account.as_str());
            let diffs = crate::common::differences(&one, &want_one);
            assert!(
                diffs.is_empty(),
                "{} ({account}): {}",
                node.id,
                diffs.join("\n")
            );
        }
        // The page and the charts show every account on every node, not
        // only those it owns (they read through the Figures seam).
        let page = client
            .get(node.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for account in &accounts {
            assert!(
                page.contains(&format!("href=\"/accounts/{account}\"")),
                "{}: the page lacks {account}",
                node.id
            );
        }
        for account in accounts.iter().take(3) {
            let one = client
                .get(node.url(&format!("/accounts/{account}")))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                one.contains("<table id=\"groups\">"),
                "{}: /accounts/{account} shows no figures",
                node.id
            );
            let chart = client
                .get(node.url(&format!("/v1/charts/volume.png?account={account}")))
                .send()
                .await
                .unwrap();
            assert_eq!(chart.status(), 200);
            let png = chart.bytes().await.unwrap();
            assert!(
                png.starts_with(b"\x89PNG"),
                "{}: {account}'s chart",
                node.id
            );
        }
    }
}

/// `/metrics` of every node: no series on two nodes, and their union equals
/// the figures one node computes over `expected`.
async fn assert_metrics_sum_to_one_node(
    client: &reqwest::Client,
    nodes: &[&Node],
    expected: EventSet,
) {
    // Every node refreshes its gauges each second; let them catch up.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut summed: BTreeMap<String, f64> = BTreeMap::new();
    for node in nodes {
        let text = crate::helpers::get_text(client, &node.url("/metrics")).await;
        for (series, value) in stable_gauges(&text) {
            assert!(
                summed.insert(series.clone(), value).is_none(),
                "{series} is exported by two nodes"
            );
        }
    }
    let single = replywatch::telemetry::metrics::Metrics::new(
        ["1h", "24h", "7d", "30d"]
            .iter()
            .map(|w| w.parse().unwrap())
            .collect(),
        10_000,
    )
    .unwrap();
    let engine = replywatch::engine::Engine::from_set(
        expected,
        replywatch::domain::ReplyPolicy::operational(false),
    );
    single.refresh(
        &engine,
        Timestamp::from_datetime(chrono::Utc::now()),
        &std::sync::Arc::new(CalendarBook::default()),
    );
    let want = stable_gauges(&single.scrape().unwrap());
    assert!(want.len() > 100, "the single-node scrape has the figures");
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !summed.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = summed
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (series, value) in &want {
        let got = summed[series];
        assert!(
            (got - value).abs() <= 1e-9 * value.abs().max(1.0),
            "{series}: cluster {got}, one node {value}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_lose_nothing_when_one_is_killed_and_agree_with_analyze() {
    let (nats, db, client, mut nodes) = cluster_of(3).await;

    let batches = batches_of(&recent_events(60_000, 21), 300);
    let ports = Arc::new(nodes.iter().map(|n| n.process.port).collect::<Vec<_>>());
    let acked = Arc::new(AtomicUsize::new(0));
    let clients = post_all(ports, batches.clone(), 4, acked.clone());
    wait_acked(&acked, batches.len() / 4).await;
    nodes[1].kill_9();
    let killed_at = acked.load(Ordering::SeqCst);
    wait_acked(&acked, batches.len() * 2 / 3).await;
    let restarted_at = acked.load(Ordering::SeqCst);
    nodes[1] = Node::start("node-1", &db, &nats.url());
    for c in clients {
        c.await.unwrap();
    }
    assert!(
        killed_at < restarted_at && restarted_at < batches.len(),
        "the kill and the restart happened mid-load ({killed_at}, {restarted_at} of {})",
        batches.len()
    );
    let all: Vec<&Node> = nodes.iter().collect();
    let settling = Instant::now();
    wait_settled(&client, &all, Duration::from_secs(60)).await;
    eprintln!(
        "3 nodes: node-1 killed after {killed_at} and restarted after {restarted_at} of {} batches; settled {:.1} s after the load",
        batches.len(),
        settling.elapsed().as_secs_f64()
    );

    // Re-sending a batch through another node: JetStream recognises every
    // message (same content, same id) and nothing new is stored.
    let again = client
        .post(nodes[2].url("/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(batches[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    let again: Value = serde_json::from_slice(&again.bytes().await.unwrap()).unwrap();
    assert_eq!(again["accepted"], 0, "{again}");
    assert_eq!(again["duplicates"], events_of(&batches[0]).len(), "{again}");

    let expected = sent_events(&batches);
    let stored = stored_events(&db).await;
    assert_eq!(
        keys(&stored),
        keys(&expected),
        "the store holds exactly the acknowledged events"
    );
    let store = db.store().await;
    assert_eq!(
        store.count_events().await.unwrap(),
        expected.len() as u64,
        "each stored once"
    );
    store.close().await;
    assert_stats_match(&client, &all, &expected).await;
    assert_metrics_sum_to_one_node(&client, &all, expected).await;

    // A calendar stored through one node is in force on the others within
    // their 5 s re-read of the stored calendars.
    let calendar = r#"{"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}}"#;
    let put = client
        .put(nodes[0].url("/v1/accounts/acct-0001/calendar"))
        .header("content-type", "application/json")
        .body(calendar)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = get_json(&client, nodes[2].url("/v1/accounts/acct-0001/calendar")).await;
        if got["source"] == "api" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node-2 never saw the calendar: {got}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    drop(nodes);
    db.remove().await;
}

/// A clean stop (SIGTERM) hands the partitions over at once: with 10 s
/// leases, the other node serves everything well before a lease could
/// have expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_hands_its_partitions_over_before_any_lease_expires() {
    let nats = Nats::start();
    let db = TestDb::create(Backend::Postgres).await;
    let client = replywatch::tls::client();
    let mut nodes: Vec<Node> = (0..2)
        .map(|i| Node::start_with_ttl(&format!("node-{i}"), &db, &nats.url(), "10s"))
        .collect();
    let all: Vec<&Node> = nodes.iter().collect();
    wait_settled(&client, &all, Duration::from_secs(40)).await;
    let started = Instant::now();
    nodes[1].stop();
    let stopped = started.elapsed();
    let left: Vec<&Node> = nodes[..1].iter().collect();
    wait_settled(&client, &left, Duration::from_secs(30)).await;
    let settled = started.elapsed();
    eprintln!(
        "clean stop: process gone after {stopped:?}, partitions all served after {settled:?}"
    );
    assert!(
        settled < Duration::from_secs(5),
        "took {settled:?}: the partitions waited for their 10 s leases to expire"
    );
    drop(nodes);
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_load_loses_nothing_acknowledged() {
    let (mut nats, db, client, nodes) = cluster_of(2).await;
    let all: Vec<&Node> = nodes.iter().collect();

    let batches = batches_of(&recent_events(40_000, 22), 200);
    let ports = Arc::new(nodes.iter().map(|n| n.process.port).collect::<Vec<_>>());
    let acked = Arc::new(AtomicUsize::new(0));
    let clients = post_all(ports, batches.clone(), 3, acked.clone());
    wait_acked(&acked, batches.len() / 3).await;
    let restarted_at = acked.load(Ordering::SeqCst);
    // Down for longer than a publish may wait for its acknowledgement (5 s),
    // so clients get 503s (a shorter outage only slows the 202s down).
    tokio::task::block_in_place(|| nats.restart(Duration::from_secs(7)));
    let mut unavailable = 0;
    for c in clients {
        unavailable += c.await.unwrap().unavailable;
    }
    assert!(
        restarted_at < batches.len(),
        "the restart came after the load"
    );
    assert!(unavailable > 0, "clients were told 503 while NATS was down");
    wait_settled(&client, &all, Duration::from_secs(60)).await;

    let expected = sent_events(&batches);
    let stored = stored_events(&db).await;
    assert_eq!(
        keys(&stored),
        keys(&expected),
        "the store holds exactly the acknowledged events"
    );
    assert_stats_match(&client, &all, &expected).await;
    eprintln!("NATS restart: {unavailable} answers were 503 and retried");

    // A Meta webhook delivered to one node is published like a batch: its
    // owner stores it and every node answers for the account.
    let body = serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "PHONE_1"},
        "messages": [{"from": "15550001", "id": "wamid.A", "timestamp": "1793613600", "type": "text"}],
        "statuses": [{"id": "wamid.B", "status": "sent", "timestamp": "1793614200", "recipient_id": "15550001"}]
    }}]}]}))
    .unwrap();
    let delivered = client
        .post(nodes[0].url("/webhooks/meta"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            replywatch::webhooks::meta::sign(&body, META_SECRET),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 200);
    wait_settled(&client, &all, Duration::from_secs(30)).await;
    for node in &nodes {
        let stats = get_json(
            &client,
            node.url("/v1/stats?account=PHONE_1&as_of=2026-11-03T00:00:00Z&window=7d"),
        )
        .await;
        let group = &stats["groups"][0];
        assert_eq!(
            (group["requests"].as_u64(), group["answered"].as_u64()),
            (Some(1), Some(1)),
            "{}: {stats}",
            node.id
        );
        assert_eq!(group["median_first_reply_seconds"], 600.0);
    }
    drop(nodes);
    db.remove().await;
}

/// Runs `serve` expecting it to refuse to start; returns its stderr.
fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_replywatch"))
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve {args:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_sqlite_another_partition_count_or_no_nats() {
    let nats = Nats::start();
    let db = TestDb::create(Backend::Postgres).await;
    let sqlite = TestDb::create(Backend::Sqlite).await;
    let err = refused(&["--database-url", &sqlite.url, "--nats", &nats.url()]);
    assert!(
        err.contains("--nats needs a postgres:// --database-url"),
        "{err}"
    );

    let mut first = Node::start("node-0", &db, &nats.url());
    let client = replywatch::tls::client();
    wait_settled(&client, &[&first], Duration::from_secs(30)).await;
    let err = refused(&[
        "--database-url",
        &db.url,
        "--nats",
        &nats.url(),
        "--partitions",
        "4",
    ]);
    assert!(
        err.contains("--partitions 4") && err.contains("partitions=8"),
        "{err}"
    );

    let err = refused(&[
        "--database-url",
        &db.url,
        "--nats",
        &format!("nats://127.0.0.1:{}", free_port()),
    ]);
    assert!(err.contains("connecting to NATS at"), "{err}");
    first.stop();
    sqlite.remove().await;
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_node_loses_its_leases_and_gets_partitions_back_when_it_resumes() {
    let (_nats, db, client, nodes) = cluster_of(2).await;
    let all: Vec<&Node> = nodes.iter().collect();
    // SIGSTOP: the process keeps its connections open but renews nothing.
    nodes[1].process.signal("STOP");
    wait_settled(&client, &all[..1], Duration::from_secs(20)).await;
    let lines = recent_events(3_000, 23);
    let r = client
        .post(nodes[0].url("/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // SIGCONT: its renewals fail (the revisions moved on), it drops what it
    // held, and the two nodes share the partitions again.
    nodes[1].process.signal("CONT");
    wait_settled(&client, &all, Duration::from_secs(30)).await;
    let expected = EventSet::from_events(
        lines
            .iter()
            .map(|l| replywatch::domain::MessageEvent::from_json(l.as_bytes()).unwrap()),
    );
    assert_stats_match(&client, &all, &expected).await;
    assert_metrics_sum_to_one_node(&client, &all, expected).await;
    drop(nodes);
    db.remove().await;
}

/// Issue 15: a message an owner cannot decode was dropped (after the front
/// answered 202), and a batch PostgreSQL refuses was retried forever and
/// stopped the partition. Now both go to the dead-letter stream — counted
/// in /metrics, listed by GET /v1/dead-letters — and only the refused
/// events of a message: the partition goes on, the rest is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_refused_messages_go_to_the_dead_letters_and_the_partition_goes_on() {
    let (nats, db, client, nodes) = cluster_of(1).await;
    let node = &nodes[0];
    let store = db.store().await;
    store
        .execute_admin("ALTER TABLE events ADD CONSTRAINT no_poison CHECK (id <> 'poison')")
        .await
        .unwrap();
    store.close().await;
    // Something replywatch did not write, straight into a partition.
    let nc = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(nc);
    js.publish("replywatch.events.0", "not an event\n".into())
        .await
        .unwrap()
        .await
        .unwrap();
    // A batch whose one event PostgreSQL refuses, beside good ones.
    let at = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let line = |id: &str, conversation: &str| {
        format!(
            r#"{{"id":"{id}","account":"dl","channel":"messenger","conversation":"{conversation}","from":"customer","at":"{at}"}}"#
        )
    };
    let body = [
        line("good-1", "c1"),
        line("poison", "c2"),
        line("good-2", "c3"),
    ]
    .join("\n");
    let r = client
        .post(node.url("/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "the log took it");
    let started = Instant::now();
    let letters = loop {
        let v = get_json(&client, node.url("/v1/dead-letters")).await;
        if v.as_array().is_some_and(|a| a.len() == 2) {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "dead letters: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reasons: Vec<&str> = letters
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("undecodable")),
        "{letters}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("refused: 1 of the message's events")),
        "{letters}"
    );
    let refused = letters
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["reason"].as_str().unwrap().starts_with("refused"))
        .unwrap();
    assert!(
        refused["first_line"]
            .as_str()
            .unwrap()
            .contains(r#""id":"poison""#),
        "{refused}"
    );
    // Nothing waits in the partitions, and the good events are stored.
    wait_settled(&client, &[node], Duration::from_secs(20)).await;
    let stats = get_json(
        &client,
        node.url("/v1/stats?account=dl&channel=all&window=1d"),
    )
    .await;
    assert_eq!(stats["groups"][0]["requests"], 2, "{stats}");
    let metrics = crate::helpers::get_text(&client, &node.url("/metrics")).await;
    assert!(
        metrics.contains(r#"replywatch_dead_letters_total{reason="undecodable"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"replywatch_dead_letters_total{reason="refused"} 1"#));
    drop(nodes);
    drop(nats);
    db.remove().await;
}
