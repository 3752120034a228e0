//! Crash and shutdown: `replywatch serve` as its own process, killed with
//! SIGKILL or stopped with SIGTERM while clients stream batches. Every
//! batch that got a 202 must be stored, and the figures after a restart
//! must equal `analyze` over what is stored.

use crate::helpers::{Backend, ServeProcess, TestDb, free_port, generated};
use replywatch::domain::{AnalyzeOptions, EventSet, MessageEvent, analyze, parse_rfc3339};
use std::collections::HashSet;

use std::sync::Arc;
use std::time::Duration;

pub(crate) fn start_server(db: &TestDb, port: u16) -> ServeProcess {
    ServeProcess::start_on(port, &["--database-url", &db.url, "--retention", "off"])
}

pub(crate) async fn wait_ready(client: &reqwest::Client, port: u16) {
    for _ in 0..400 {
        let r = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not become ready");
}

/// One request of [`stream_recorded`]: which batch, when it was sent and
/// answered, and the answer (None: no HTTP answer).
struct Sent {
    batch: usize,
    started: std::time::Instant,
    ended: std::time::Instant,
    status: Option<u16>,
}

/// Clients that post `batches` (each client its own share) until the
/// server refuses connections, recording every request.
fn stream_recorded(
    port: u16,
    batches: Arc<Vec<String>>,
    clients: usize,
) -> Vec<tokio::task::JoinHandle<Vec<Sent>>> {
    (0..clients)
        .map(|c| {
            let batches = batches.clone();
            tokio::spawn(async move {
                let client = replywatch::tls::client();
                let mut sent = Vec::new();
                for i in (c..batches.len()).step_by(clients) {
                    let started = std::time::Instant::now();
                    let r = client
                        .post(format!("http://127.0.0.1:{port}/v1/events"))
                        .header("content-type", "application/x-ndjson")
                        .body(batches[i].clone())
                        .send()
                        .await;
                    let (status, refused) = match &r {
                        Ok(r) => (Some(r.status().as_u16()), false),
                        Err(e) => (None, e.is_connect()),
                    };
                    sent.push(Sent {
                        batch: i,
                        started,
                        ended: std::time::Instant::now(),
                        status,
                    });
                    if refused {
                        break; // the listener is closed
                    }
                }
                sent
            })
        })
        .collect()
}

fn batches_of(n: u64, seed: u64) -> Arc<Vec<String>> {
    Arc::new(
        generated(n, seed)
            .chunks(200)
            .map(|c| c.join("\n"))
            .collect(),
    )
}

/// The stored events, after a clean stop.
pub(crate) async fn stored_events(db: &TestDb) -> EventSet {
    let store = db.store().await;
    let set = store.load_events().await.unwrap();
    store.close().await;
    set
}

pub(crate) fn keys(set: &EventSet) -> HashSet<(String, String, String)> {
    (0..set.len())
        .map(|i| {
            let e = set.event(i);
            (
                e.account.to_string(),
                e.channel.to_string(),
                e.id.to_string(),
            )
        })
        .collect()
}

/// Every event of every acknowledged batch is among `stored` (keys).
pub(crate) fn assert_acknowledged_stored(
    acked: &[usize],
    batches: &[String],
    stored: &HashSet<(String, String, String)>,
    context: &str,
) {
    for &i in acked {
        for e in events_of(&batches[i]) {
            let key = (
                e.account.to_string(),
                e.channel.to_string(),
                e.id.to_string(),
            );
            assert!(
                stored.contains(&key),
                "acknowledged event {key:?} of batch {i} is lost {context}"
            );
        }
    }
}

pub(crate) fn events_of(batch: &str) -> Vec<MessageEvent> {
    batch
        .lines()
        .map(|l| MessageEvent::from_json(l.as_bytes()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_batch_and_the_figures_match_analyze() {
    let db = TestDb::create(Backend::Sqlite).await;
    let port = free_port();
    let mut server = start_server(&db, port);
    let client = replywatch::tls::client();
    wait_ready(&client, port).await;

    let batches = batches_of(400_000, 11);
    let clients = stream_recorded(port, batches.clone(), 4);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill_9();
    let mut acked = Vec::new();
    for c in clients {
        for s in c.await.unwrap() {
            assert!(
                matches!(s.status, None | Some(202) | Some(503)),
                "batch {}: {:?}",
                s.batch,
                s.status
            );
            if s.status == Some(202) {
                acked.push(s.batch);
            }
        }
    }
    assert!(
        !acked.is_empty(),
        "no batch was acknowledged before the kill"
    );
    assert!(
        acked.len() < batches.len(),
        "the kill came after the last batch"
    );

    // Restart on the same file: the figures over HTTP, then a clean stop.
    let mut server = start_server(&db, port);
    wait_ready(&client, port).await;
    let as_of = "2026-11-01T00:00:00Z";
    let body = client
        .get(format!(
            "http://127.0.0.1:{port}/v1/stats?as_of={as_of}&window=10d"
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let http: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(server.stop().success());

    let stored = stored_events(&db).await;
    let stored_keys = keys(&stored);
    assert_acknowledged_stored(&acked, &batches, &stored_keys, "");
    let expected = analyze(
        &stored,
        &AnalyzeOptions::new(
            parse_rfc3339(as_of).unwrap(),
            replywatch::domain::Micros(10 * 86_400 * 1_000_000),
        ),
    );
    let diffs = crate::common::differences(&http, &serde_json::to_value(&expected).unwrap());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // Nothing was stored that no client sent: every stored key is in some batch.
    let sent: HashSet<_> = batches
        .iter()
        .flat_map(|b| events_of(b))
        .map(|e| {
            (
                e.account.to_string(),
                e.channel.to_string(),
                e.id.to_string(),
            )
        })
        .collect();
    assert!(stored_keys.is_subset(&sent));
    eprintln!(
        "kill -9: {} of {} batches acknowledged, {} events stored",
        acked.len(),
        batches.len(),
        stored.len()
    );
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_queue_commits_and_exits_0() {
    let db = TestDb::create(Backend::Sqlite).await;
    let port = free_port();
    let mut server = start_server(&db, port);
    let client = replywatch::tls::client();
    wait_ready(&client, port).await;
    let batches = batches_of(400_000, 12);
    let clients = stream_recorded(port, batches.clone(), 4);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let signalled = std::time::Instant::now();
    let status = server.stop();
    assert!(status.success(), "exit status {status}");
    let mut sent = Vec::new();
    for c in clients {
        sent.extend(c.await.unwrap());
    }
    // The signal came mid-stream: requests were in flight across it and
    // were answered 202 after it.
    let across: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.started < signalled && s.ended > signalled)
        .collect();
    assert!(
        across.iter().any(|s| s.status == Some(202)),
        "no request was in flight at the SIGTERM and acknowledged after it"
    );
    // Every request sent before the signal got an HTTP answer (202, or 503
    // to retry): none was cut.
    let cut: Vec<usize> = sent
        .iter()
        .filter(|s| s.started < signalled && s.status.is_none())
        .map(|s| s.batch)
        .collect();
    assert!(cut.is_empty(), "requests cut by the stop: {cut:?}");
    for s in &sent {
        assert!(
            matches!(s.status, None | Some(202) | Some(503)),
            "batch {}: {:?}",
            s.batch,
            s.status
        );
    }
    // (A request sent after the signal on a kept-alive connection may meet
    // the connection closing: a client error the client retries; nothing
    // of it was acknowledged.)
    let acked: Vec<usize> = sent
        .iter()
        .filter(|s| s.status == Some(202))
        .map(|s| s.batch)
        .collect();
    assert!(!acked.is_empty());
    let stored = stored_events(&db).await;
    let stored_keys = keys(&stored);
    let acked_keys: HashSet<_> = acked
        .iter()
        .flat_map(|&i| events_of(&batches[i]))
        .map(|e| {
            (
                e.account.to_string(),
                e.channel.to_string(),
                e.id.to_string(),
            )
        })
        .collect();
    assert!(acked_keys.is_subset(&stored_keys));
    db.remove().await;
}
