//! The cluster without a single point of failure (issue 17): the event log
//! on a three-server NATS JetStream cluster of the test's own (routes on
//! loopback ports, stream and lease bucket with three replicas), a NATS
//! server killed with -9 under load — any one, or the one leading the
//! stream — and a replywatch owner paused past its lease (fencing).
//! Afterwards every acknowledged event is stored once and every node's
//! figures equal `analyze`.

use crate::cluster::{
    Node, PARTITIONS, Posted, assert_stats_match, batches_of, numbers, post_all, recent_events,
    sent_events, statuses, wait_acked, wait_settled,
};
use crate::helpers::{Backend, TestDb, free_port};
use crate::reliability::{keys, stored_events};
use replywatch::domain::EventSet;

/// The stored events once they are exactly `expected`, or what is stored
/// after 30 s, and how long that took. Once, in a full CI run, the store
/// held 90 % of the acknowledged events when the cluster first read as
/// settled after the stream's leader was killed (its backlog comes from
/// the consumers' info, which a lagging replica can answer): lag, or loss?
/// Waiting tells them apart — a lost event still fails the comparison.
async fn stored_when_complete(db: &TestDb, expected: &EventSet) -> (EventSet, Duration) {
    let started = Instant::now();
    loop {
        let stored = stored_events(db).await;
        if keys(&stored) == keys(expected) || started.elapsed() > Duration::from_secs(30) {
            return (stored, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// These tests start up to three NATS servers and two nodes each, and time
/// failovers: one at a time, so they do not starve each other's leases on
/// a small machine (the rest of the API tests still run beside them).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const STREAM: &str = "REPLYWATCH_EVENTS";

/// One server of the test's NATS cluster.
struct Server {
    name: String,
    port: u16,
    config: PathBuf,
    child: Option<Child>,
}

/// Three NATS servers with JetStream, routed to each other on loopback;
/// killed and their stores removed on drop.
struct NatsCluster {
    dir: PathBuf,
    servers: Vec<Server>,
}

impl NatsCluster {
    fn start() -> NatsCluster {
        let dir = std::env::temp_dir().join(format!(
            "replywatch-nats-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<String> = route_ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let servers = (0..3)
            .map(|i| {
                let name = format!("n{i}");
                let port = free_port();
                let config = dir.join(format!("{name}.conf"));
                let text = format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{port}\n\
                     jetstream {{ store_dir: {:?} }}\n\
                     cluster {{ name: replywatch-test, listen: 127.0.0.1:{}, routes: [{}] }}\n",
                    dir.join(&name).display().to_string(),
                    route_ports[i],
                    routes.join(", ")
                );
                std::fs::write(&config, text).unwrap();
                Server {
                    name,
                    port,
                    config,
                    child: None,
                }
            })
            .collect();
        let mut cluster = NatsCluster { dir, servers };
        for i in 0..3 {
            cluster.spawn(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let server = &mut self.servers[i];
        let child = Command::new(NATS_SERVER)
            .arg("-c")
            .arg(&server.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (.ci/run installs Debian's nats-server)");
        server.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", server.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server {i} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill_9(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every server's URL, comma-separated (what `--nats` takes).
    fn urls(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("nats://127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A JetStream client through any live server.
    async fn jetstream(&self) -> async_nats::jetstream::Context {
        let addrs: Vec<async_nats::ServerAddr> =
            self.urls().split(',').map(|u| u.parse().unwrap()).collect();
        let client = async_nats::connect(addrs).await.unwrap();
        async_nats::jetstream::new(client)
    }

    /// Waits until the cluster has elected its JetStream meta leader: a
    /// three-replica stream can be made (and is removed again).
    async fn wait_ready(&self) {
        let js = self.jetstream().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let made = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: "PROBE".into(),
                    subjects: vec!["probe".into()],
                    num_replicas: 3,
                    ..Default::default()
                })
                .await;
            if made.is_ok() {
                js.delete_stream("PROBE").await.unwrap();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the NATS cluster never formed: {made:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The event stream's cluster view: (leader, replicas with whether
    /// each is current).
    async fn stream_view(&self) -> Option<(String, Vec<(String, bool)>)> {
        let js = self.jetstream().await;
        let mut stream = js.get_stream(STREAM).await.ok()?;
        let info = stream.info().await.ok()?;
        let cluster = info.cluster.clone()?;
        let replicas = cluster
            .replicas
            .iter()
            .map(|r| (r.name.clone(), r.current && !r.offline))
            .collect();
        Some((cluster.leader?, replicas))
    }

    fn index_of(&self, name: &str) -> usize {
        self.servers.iter().position(|s| s.name == name).unwrap()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill_9(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Samples every node's `/v1/cluster` until told to stop; returns the
/// samples in which some partition was served by two nodes at once.
fn watch_double_serving(
    client: reqwest::Client,
    ports: Vec<u16>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let (mut samples, mut doubles) = (0, Vec::new());
        while !done.load(Ordering::SeqCst) {
            let mut seen = std::collections::BTreeMap::<u64, usize>::new();
            for port in &ports {
                let url = format!("http://127.0.0.1:{port}/v1/cluster");
                if let Ok(r) = client
                    .get(&url)
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    && let Ok(body) = r.bytes().await
                    && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                {
                    for p in numbers(&v, "serving") {
                        *seen.entry(p).or_default() += 1;
                    }
                }
            }
            samples += 1;
            if let Some((p, _)) = seen.iter().find(|(_, n)| **n > 1) {
                doubles.push(format!("partition {p} at sample {samples}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (samples, doubles)
    })
}

/// Two replywatch nodes on a three-server NATS cluster with three
/// replicas; four clients post 40,000 events; one NATS server (the stream's
/// leader, or one that is not) is killed with -9 a third of the way in and
/// restarted two thirds of the way in.
async fn kill_a_nats_server_under_load(kill_the_leader: bool) {
    let mut nats = NatsCluster::start();
    nats.wait_ready().await;
    let db = TestDb::create(Backend::Postgres).await;
    let client = replywatch::tls::client();
    let urls = nats.urls();
    let nodes: Vec<Node> = (0..2)
        .map(|i| {
            Node::start_with(
                &format!("node-{i}"),
                &db,
                &urls,
                "10s",
                &["--nats-replicas", "3"],
            )
        })
        .collect();
    let all: Vec<&Node> = nodes.iter().collect();
    wait_settled(&client, &all, Duration::from_secs(60)).await;
    let (leader, replicas) = nats.stream_view().await.expect("the stream has a leader");
    assert_eq!(replicas.len() + 1, 3, "the stream has three replicas");

    let ports: Vec<u16> = nodes.iter().map(|n| n.process.port).collect();
    let done = Arc::new(AtomicBool::new(false));
    let doubles = watch_double_serving(client.clone(), ports.clone(), done.clone());
    let batches = batches_of(&recent_events(40_000, 31 + u64::from(kill_the_leader)), 200);
    let acked = Arc::new(AtomicUsize::new(0));
    let clients = post_all(Arc::new(ports), batches.clone(), 4, acked.clone());
    wait_acked(&acked, batches.len() / 3).await;
    let victim = match kill_the_leader {
        true => nats.index_of(&leader),
        false => (nats.index_of(&leader) + 1) % 3,
    };
    nats.kill_9(victim);
    let killed = Instant::now();
    let killed_at = acked.load(Ordering::SeqCst);
    // The first 202 after the kill, and the stream's leader then.
    while acked.load(Ordering::SeqCst) == killed_at && killed.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_again = killed.elapsed();
    let mut new_leader = None;
    while new_leader.is_none() && killed.elapsed() < Duration::from_secs(30) {
        match nats.stream_view().await {
            Some((l, _)) if l != nats.servers[victim].name => new_leader = Some(l),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    wait_acked(&acked, batches.len() * 2 / 3).await;
    nats.spawn(victim);
    let restarted = Instant::now();
    let mut posted = Posted::default();
    for c in clients {
        let p = c.await.unwrap();
        posted.unavailable += p.unavailable;
        posted.longest = posted.longest.max(p.longest);
    }
    assert!(
        killed_at < batches.len(),
        "the kill came after the load ({killed_at} of {})",
        batches.len()
    );
    wait_settled(&client, &all, Duration::from_secs(60)).await;
    // The restarted server catches up and is a current replica again.
    let mut caught_up = None;
    while restarted.elapsed() < Duration::from_secs(60) {
        if let Some((_, replicas)) = nats.stream_view().await
            && replicas.iter().all(|(_, current)| *current)
        {
            caught_up = Some(restarted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done.store(true, Ordering::SeqCst);
    let (samples, doubles) = doubles.await.unwrap();

    let expected = sent_events(&batches);
    let (stored, late) = stored_when_complete(&db, &expected).await;
    assert_eq!(
        keys(&stored),
        keys(&expected),
        "the store holds exactly the acknowledged events"
    );
    eprintln!("the store held every acknowledged event {late:?} after the cluster read as settled");
    assert_stats_match(&client, &all, &expected).await;
    assert!(
        doubles.is_empty(),
        "a partition was served by two nodes: {doubles:?}"
    );
    let caught_up = caught_up.expect("the restarted NATS server never caught up");
    eprintln!(
        "NATS {} (server {}) killed -9 after {killed_at} of {} batches: first 202 {:.1} s after the kill, stream led by {new_leader:?}; \
         clients saw {} answers 503, the slowest batch took {:.1} s to its 202; \
         restarted server current again after {:.1} s; {samples} samples of /v1/cluster, no partition served twice",
        if kill_the_leader {
            "stream leader"
        } else {
            "follower"
        },
        nats.servers[victim].name,
        batches.len(),
        acked_again.as_secs_f64(),
        posted.unavailable,
        posted.longest.as_secs_f64(),
        caught_up.as_secs_f64(),
    );
    assert!(
        posted.longest < Duration::from_secs(20),
        "a batch waited {:?} for its 202",
        posted.longest
    );
    drop(nodes);
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_killed_under_load_loses_nothing_with_three_replicas() {
    let _one = ONE_AT_A_TIME.lock().await;
    kill_a_nats_server_under_load(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_nats_server_that_leads_the_stream_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    kill_a_nats_server_under_load(true).await;
}

/// Fencing: an owner paused (SIGSTOP) past its lease is replaced; the new
/// owner claims the partitions (raising their epochs), loads them and
/// commits; the old one, resumed, commits nothing more of them (its
/// commits carry a stale epoch and are refused in the transaction; the
/// messages go to the new owner). Nothing is lost, and the figures equal
/// `analyze` over what was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_past_its_lease_is_fenced_off_and_nothing_is_lost() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_nats, db, client, nodes) = crate::cluster::cluster_of(2).await;
    let all: Vec<&Node> = nodes.iter().collect();
    let before = db.store().await.partition_epochs().await.unwrap();

    let batches = batches_of(&recent_events(40_000, 41), 200);
    let ports: Vec<u16> = nodes.iter().map(|n| n.process.port).collect();
    let acked = Arc::new(AtomicUsize::new(0));
    let clients = post_all(Arc::new(ports), batches.clone(), 4, acked.clone());
    wait_acked(&acked, batches.len() / 4).await;
    nodes[0].process.signal("STOP");
    let paused = Instant::now();
    // node-1 takes every partition once node-0's leases (2 s) expire.
    loop {
        let views = statuses(&client, &[&nodes[1]]).await;
        if views
            .first()
            .is_some_and(|v| numbers(v, "serving").len() == PARTITIONS as usize)
        {
            break;
        }
        assert!(
            paused.elapsed() < Duration::from_secs(30),
            "node-1 never took over: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took_over = paused.elapsed();
    let at_pause = acked.load(Ordering::SeqCst);
    wait_acked(&acked, (at_pause + 40).min(batches.len())).await;
    nodes[0].process.signal("CONT");
    let resumed = Instant::now();
    for c in clients {
        c.await.unwrap();
    }
    wait_settled(&client, &all, Duration::from_secs(60)).await;
    let settled = resumed.elapsed();

    let store = db.store().await;
    let after = store.partition_epochs().await.unwrap();
    store.close().await;
    let moved = after
        .iter()
        .filter(|(p, epoch, _)| {
            before
                .iter()
                .find(|(q, _, n)| q == p && n == "node-0")
                .is_some_and(|(_, old, _)| epoch >= &(old + 2))
        })
        .count();
    assert!(
        moved > 0,
        "node-0's partitions were claimed by node-1 and back: {before:?} → {after:?}"
    );
    let expected = sent_events(&batches);
    let (stored, _) = stored_when_complete(&db, &expected).await;
    assert_eq!(
        keys(&stored),
        keys(&expected),
        "the store holds exactly the acknowledged events"
    );
    assert_stats_match(&client, &all, &expected).await;
    let metrics = crate::helpers::get_text(&client, &nodes[0].url("/metrics")).await;
    let fenced: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("replywatch_cluster_fenced_total "))
        .and_then(|v| v.parse().ok())
        .expect("node-0 exports replywatch_cluster_fenced_total");
    eprintln!(
        "SIGSTOP: node-1 served every partition {:.1} s after node-0 was paused (lease 2 s); \
         after SIGCONT the cluster settled in {:.1} s; node-0's fenced commits: {fenced}; \
         {moved} partitions went node-0 → node-1 → node-0 (epochs {before:?} → {after:?})",
        took_over.as_secs_f64(),
        settled.as_secs_f64()
    );
    drop(nodes);
    db.remove().await;
}

/// Retention on a cluster: each owner deletes the expired events of the
/// partitions it serves (under their fences) and prunes its own live state
/// of exactly those, so no node keeps serving deleted events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_a_cluster_prunes_every_owners_live_state() {
    let _one = ONE_AT_A_TIME.lock().await;
    use replywatch::files::generate::GenerateOptions;
    let retention = ["--retention", "3d", "--retention-interval", "1s"];
    let (_nats, db, client, nodes) = crate::cluster::cluster_with(2, &retention).await;
    let all: Vec<&Node> = nodes.iter().collect();
    // Old events (over 4 days) and recent ones (under 2 days): none near
    // the 3-day cutoff while the test runs (late replies the generator
    // writes after its span are left out).
    let span = |days_ago: i64, seed: u64, keep: &dyn Fn(chrono::Duration) -> bool| {
        let now = chrono::Utc::now();
        crate::helpers::generated_lines(GenerateOptions {
            events: 6_000,
            seed,
            accounts: 24,
            end: now - chrono::Duration::days(days_ago),
            days: 1,
        })
        .into_iter()
        .filter(|l| {
            let at = replywatch::domain::MessageEvent::from_json(l.as_bytes())
                .unwrap()
                .at;
            keep(now - at.to_datetime())
        })
        .collect::<Vec<_>>()
    };
    // Ids of their own, so no old event shares a key with a recent one.
    let old: Vec<String> = span(5, 51, &|age| age > chrono::Duration::days(4))
        .iter()
        .map(|l| l.replacen("\"id\":\"", "\"id\":\"old-", 1))
        .collect();
    let recent = span(1, 52, &|age| age < chrono::Duration::days(2));
    let old_batches = batches_of(&old, 200);
    let recent_batches = batches_of(&recent, 200);
    let everything: Vec<String> = old_batches
        .iter()
        .chain(recent_batches.iter())
        .cloned()
        .collect();
    let acked = Arc::new(AtomicUsize::new(0));
    let ports: Vec<u16> = nodes.iter().map(|n| n.process.port).collect();
    for c in post_all(Arc::new(ports), Arc::new(everything.clone()), 2, acked) {
        c.await.unwrap();
    }
    wait_settled(&client, &all, Duration::from_secs(30)).await;
    let expected = sent_events(&recent_batches);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = stored_events(&db).await;
        if keys(&stored) == keys(&expected) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention left {} events, expected {}",
            stored.len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Every node answers from the pruned state (owners' live engines for
    // their accounts, the store for the others; all-accounts reads reuse a
    // store view for up to 2 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_stats_match(&client, &all, &expected).await;
    drop(nodes);
    db.remove().await;
}

/// Read-your-writes on request: `POST /v1/events?wait=visible` answers only
/// once every node's `/v1/stats` shows the batch — the owners committed it
/// and no node answers from a store view built before that — even right
/// after every node built such a view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_visible_answers_once_every_node_shows_the_batch() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_nats, db, client, nodes) = crate::cluster::cluster_of(2).await;
    let all: Vec<&Node> = nodes.iter().collect();
    let batches = batches_of(&recent_events(3_000, 61), 1_000);
    let mut latencies = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        // Every node has just built its all-accounts view from the store.
        for node in &nodes {
            let warm = client.get(node.url("/v1/stats")).send().await.unwrap();
            assert_eq!(warm.status(), 200);
        }
        let started = Instant::now();
        let posted = client
            .post(nodes[i % 2].url("/v1/events?wait=visible"))
            .header("content-type", "application/x-ndjson")
            .body(batch.clone())
            .send()
            .await
            .unwrap();
        latencies.push(started.elapsed());
        assert_eq!(posted.status(), 202, "{}", posted.text().await.unwrap());
        assert_stats_match(&client, &all, &sent_events(&batches[..=i])).await;
    }
    let bad = client
        .post(nodes[0].url("/v1/events?wait=forever"))
        .header("content-type", "application/x-ndjson")
        .body(batches[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    eprintln!("wait=visible: 202 after {latencies:?} (owners' commits + the 2 s store-view age)");
    drop(nodes);
    db.remove().await;
}

/// Scheduled reports run once per cluster: both nodes see the daily report
/// fall due at start-up, one claims the run in the store and writes it for
/// every account (those of both nodes' partitions); the other writes none.
#[cfg(feature = "reports")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_report_is_written_once_per_cluster_for_every_account() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = crate::cluster::Nats::start();
    let db = TestDb::create(Backend::Postgres).await;
    let client = replywatch::tls::client();
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let at = yesterday
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc()
        .to_rfc3339();
    let accounts = ["acct-0000", "acct-0001", "acct-0002", "acct-0003"];
    let lines: Vec<String> = accounts
        .iter()
        .map(|a| format!(r#"{{"id":"1","account":"{a}","channel":"messenger","conversation":"c","from":"customer","at":"{at}"}}"#))
        .collect();
    let store = db.store().await;
    store
        .insert_events(&crate::reliability::events_of(&lines.join("\n")))
        .await
        .unwrap();
    store.close().await;
    let dirs: Vec<PathBuf> = (0..2)
        .map(|i| {
            std::env::temp_dir().join(format!(
                "replywatch-cluster-reports-{}-{i}",
                std::process::id()
            ))
        })
        .collect();
    let nodes: Vec<Node> = (0..2)
        .map(|i| {
            let dir = dirs[i].to_str().unwrap();
            let args = ["--report", "daily 00:00 UTC", "--reports-dir", dir];
            Node::start_with(&format!("node-{i}"), &db, &nats.url(), "2s", &args)
        })
        .collect();
    let all: Vec<&Node> = nodes.iter().collect();
    wait_settled(&client, &all, Duration::from_secs(30)).await;
    let partitions: std::collections::BTreeSet<u32> = accounts
        .iter()
        .map(|a| replywatch::cluster::partition_of(a, PARTITIONS))
        .collect();
    assert!(
        partitions.len() > 1,
        "the accounts span partitions: {partitions:?}"
    );
    let listed = |node: &Node| {
        let client = client.clone();
        let url = node.url("/v1/reports");
        async move {
            let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
            let runs: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            runs.iter()
                .map(|r| r["account"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let written = listed(&nodes[0]).await.len() + listed(&nodes[1]).await.len();
        if written >= accounts.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A second run would have come within the same second or two.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = (listed(&nodes[0]).await, listed(&nodes[1]).await);
    let (writer, other) = match seen.0.is_empty() {
        true => (seen.1, seen.0),
        false => (seen.0, seen.1),
    };
    let mut writer = writer;
    writer.sort();
    assert_eq!(
        writer, accounts,
        "one node wrote the report of every account"
    );
    assert!(other.is_empty(), "the other node wrote {other:?} too");
    drop(nodes);
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    db.remove().await;
}
