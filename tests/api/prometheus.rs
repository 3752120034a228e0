//! A real Prometheus (Debian's `prometheus`; `.ci/run` installs it) scrapes
//! a running replywatch on loopback; its query API must hold the values the
//! core computes for the ingested events.

use crate::helpers::{Backend, Prometheus, TestApp};
use replywatch::domain::{AnalyzeOptions, EventSet, MessageEvent, Micros, Timestamp, analyze};
use std::time::Duration;

/// Events placed minutes to hours before now, far from every threshold, so
/// the figures are the same at any instant of the test.
fn recent_events() -> Vec<String> {
    let now = chrono::Utc::now();
    let at = |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_rfc3339();
    let mut lines = Vec::new();
    for (c, open, reply) in [
        (1, 300, Some(290)),
        (2, 240, Some(235)),
        (3, 200, Some(170)),
        (4, 180, None),
    ] {
        lines.push(format!(r#"{{"id":"o{c}","account":"acme","channel":"messenger","conversation":"c{c}","from":"customer","at":"{}"}}"#, at(open)));
        if let Some(r) = reply {
            lines.push(format!(r#"{{"id":"r{c}","account":"acme","channel":"messenger","conversation":"c{c}","from":"agent","at":"{}"}}"#, at(r)));
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_figures_the_core_computes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let lines = recent_events();
    assert_eq!(app.post_ndjson(lines.join("\n")).await.status, 202);

    let prometheus = Prometheus::start(app.addr, None);
    let client = replywatch::tls::client();
    let eligible_q = r#"replywatch_badge_eligible{account="acme",channel="all"}"#;
    let median_q =
        r#"replywatch_first_reply_median_seconds{account="acme",channel="messenger",window="7d"}"#;
    let pending_q = r#"replywatch_pending_requests{account="acme",channel="all"}"#;
    let mut got = (None, None, None);
    for _ in 0..120 {
        got = (
            prometheus.query(&client, eligible_q).await,
            prometheus.query(&client, median_q).await,
            prometheus.query(&client, pending_q).await,
        );
        if got.0.is_some() && got.1.is_some() && got.2.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(prometheus);

    let set = EventSet::from_events(
        lines
            .iter()
            .map(|l| MessageEvent::from_json(l.as_bytes()).unwrap()),
    );
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let core = analyze(&set, &AnalyzeOptions::new(now, Micros(7 * 86_400_000_000)));
    let all = core.groups.iter().find(|g| g.channel == "all").unwrap();
    let messenger = core
        .groups
        .iter()
        .find(|g| g.channel == "messenger")
        .unwrap();
    assert_eq!(
        got.0,
        Some(f64::from(u8::from(all.badge_eligible))),
        "badge_eligible"
    );
    assert_eq!(
        got.1, messenger.median_first_reply_seconds,
        "median first reply"
    );
    assert_eq!(got.2, Some(all.pending as f64), "pending");
    assert_eq!(
        messenger.median_first_reply_seconds,
        Some(600.0),
        "the data is what the test means"
    );
    app.finish().await;
}
