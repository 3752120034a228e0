//! `POST /v1/events`: idempotent storage, the whole batch validated first,
//! every bad input answered with the right status and the store unchanged.

use crate::helpers::{BOTH, Backend, TestApp, generated};
use replywatch::config::Retention;
use replywatch::domain::Micros;
use std::io::{Read, Write};

const E1: &str = r#"{"id":"m1","account":"acme","channel":"messenger","conversation":"c1","from":"customer","at":"2026-11-01T10:00:00Z"}"#;
const E2: &str = r#"{"id":"m2","account":"acme","channel":"messenger","conversation":"c1","from":"agent","at":"2026-11-01T10:05:00Z"}"#;
const E2_OTHER: &str = r#"{"id":"m2","account":"acme","channel":"messenger","conversation":"c1","from":"bot","at":"2026-11-01T10:05:00Z"}"#;

async fn stored(app: &TestApp) -> u64 {
    let store = app.db.store().await;
    let n = store.count_events().await.unwrap();
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_batch_changes_nothing_and_conflicts_keep_the_first_version() {
    for backend in BOTH {
        let app = TestApp::spawn(backend).await;
        let first = app.post("application/json", format!("[{E1},{E2}]")).await;
        assert_eq!(first.status, 202, "{backend:?}");
        assert_eq!(
            first.body,
            serde_json::json!({"accepted": 2, "duplicates": 0, "conflicts": 0})
        );
        let stats_before = app.get("/v1/stats?as_of=2026-11-02T00:00:00Z").await.body;
        for _ in 0..3 {
            let again = app.post_ndjson(format!("{E1}\n{E2}\n")).await;
            assert_eq!(
                again.body,
                serde_json::json!({"accepted": 0, "duplicates": 2, "conflicts": 0})
            );
        }
        let conflict = app.post_ndjson(E2_OTHER).await;
        assert_eq!(
            conflict.body,
            serde_json::json!({"accepted": 0, "duplicates": 0, "conflicts": 1})
        );
        // Inside one batch: the earlier event of a key wins.
        let inside = app
            .post_ndjson(format!(
                "{}\n{}\n",
                E1.replace("m1", "m3"),
                E1.replace("m1", "m3").replace("customer", "auto")
            ))
            .await;
        assert_eq!(
            inside.body,
            serde_json::json!({"accepted": 1, "duplicates": 0, "conflicts": 1})
        );
        let stats_after = app.get("/v1/stats?as_of=2026-11-02T00:00:00Z").await.body;
        assert_eq!(stats_before["groups"][0]["answered"], 1);
        assert_eq!(
            stats_after["groups"][0]["answered"], 1,
            "the agent reply was kept"
        );
        assert_eq!(stored(&app).await, 3);
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_event_rejects_the_whole_batch_and_lists_every_problem() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bad = E2.replace("\"agent\"", "\"admin\"").replace("acme", "");
    let r = app.post("application/json", format!("[{E1},{bad}]")).await;
    assert_eq!(r.status, 400);
    let details = r.body["error"]["details"].as_array().unwrap();
    let fields: Vec<(u64, &str)> = details
        .iter()
        .map(|d| (d["index"].as_u64().unwrap(), d["field"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [(1, "account"), (1, "from")]);
    assert_eq!(stored(&app).await, 0, "nothing of the batch is stored");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_the_right_status_and_leave_the_store_unchanged() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.ingestion.max_body_bytes = 64 * 1024;
        c.ingestion.max_batch_events = 3;
    })
    .await;
    assert_eq!(app.post_ndjson(E1).await.status, 202);
    let huge_id = E2.replace("\"m2\"", &format!("\"{}\"", "x".repeat(10_000)));
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        (
            "malformed JSON",
            "application/json",
            b"[{\"id\":".to_vec(),
            400,
        ),
        (
            "not an array",
            "application/json",
            E1.as_bytes().to_vec(),
            400,
        ),
        (
            "wrong types",
            "application/json",
            br#"[{"id":5,"account":[],"channel":null,"conversation":{},"from":1,"at":true}]"#
                .to_vec(),
            400,
        ),
        (
            "bad NDJSON line",
            "application/x-ndjson",
            format!("{E2}\nnot json\n").into_bytes(),
            400,
        ),
        (
            "huge string",
            "application/x-ndjson",
            huge_id.into_bytes(),
            400,
        ),
        (
            "invalid UTF-8",
            "application/x-ndjson",
            [&E2.as_bytes()[..10], &[0xff, 0xfe], &E2.as_bytes()[10..]].concat(),
            400,
        ),
        (
            "body over the limit",
            "application/x-ndjson",
            vec![b' '; 65 * 1024],
            413,
        ),
        (
            "too many events",
            "application/x-ndjson",
            format!("{E2}\n{E2}\n{E2}\n{E2}\n").into_bytes(),
            413,
        ),
        (
            "wrong content type",
            "text/csv",
            E2.as_bytes().to_vec(),
            415,
        ),
        ("no content type", "", E2.as_bytes().to_vec(), 415),
    ];
    for (what, content_type, body, status) in cases {
        let r = app.post(content_type, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: JSON error body expected, got {}",
            r.body
        );
    }
    assert_eq!(stored(&app).await, 1, "the store is unchanged");
    let stats = app.get("/v1/stats?as_of=2026-11-02T00:00:00Z").await.body;
    assert_eq!(stats["groups"][0]["requests"], 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_mid_body_stores_nothing_and_the_service_goes_on() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = format!("{E1}\n{E2}\n");
    let mut socket = std::net::TcpStream::connect(app.addr).unwrap();
    write!(
        socket,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{}",
        body.len() + 500,
        body
    )
    .unwrap();
    socket.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // A later batch on another connection: once it is acknowledged, the
    // one ingestion worker has committed everything queued before it — so
    // the cut batch, had it been queued, would be stored by now.
    let later = E1.replace(r#""id":"m1""#, r#""id":"after-the-cut""#);
    assert_eq!(app.post_ndjson(later).await.status, 202);
    assert_eq!(stored(&app).await, 1, "only the later batch is stored");
    assert_eq!(app.post_ndjson(body).await.status, 202);
    assert_eq!(stored(&app).await, 3);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batches_in_another_order_give_identical_stats() {
    let lines = generated(6_000, 7);
    let batches: Vec<String> = lines.chunks(250).map(|c| c.join("\n")).collect();
    let mut shuffled = batches.clone();
    let mut rng = replywatch::files::generate::Rng::new(99);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i as u64 + 1) as usize);
    }
    shuffled.extend(batches.iter().take(5).cloned()); // and some re-sent
    let mut reports = Vec::new();
    for (backend, order) in [
        (Backend::Sqlite, &batches),
        (Backend::Sqlite, &shuffled),
        (Backend::Postgres, &shuffled),
    ] {
        let app = TestApp::spawn(backend).await;
        for b in order {
            assert_eq!(app.post_ndjson(b.clone()).await.status, 202);
        }
        let query = "/v1/stats?as_of=2026-11-01T00:00:00Z&window=10d&by_agent=true";
        reports.push(app.get(query).await.body);
        app.finish().await;
    }
    assert!(reports[0]["groups"].as_array().unwrap().len() > 3);
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_events_from_the_store_and_the_figures() {
    for backend in BOTH {
        let app = TestApp::spawn_with(backend, |c| {
            c.retention.retention = Retention::Keep(Micros(30 * 86_400 * 1_000_000));
            c.retention.retention_interval = Micros(1_000_000);
        })
        .await;
        let now = chrono::Utc::now();
        let at = |days: i64| (now - chrono::Duration::days(days)).to_rfc3339();
        let body = [
            E1.replace("2026-11-01T10:00:00Z", &at(60)),
            E1.replace("m1", "m9")
                .replace("c1", "c9")
                .replace("2026-11-01T10:00:00Z", &at(1)),
        ]
        .join("\n");
        assert_eq!(app.post_ndjson(body).await.status, 202);
        let mut left = u64::MAX;
        for _ in 0..100 {
            left = stored(&app).await;
            if left == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(left, 1, "{backend:?}: the 60-day-old event is deleted");
        let stats = app.get("/v1/stats?window=90d").await.body;
        assert_eq!(stats["groups"][0]["requests"], 1, "{stats}");
        app.finish().await;
    }
}
