//! `GET /v1/stats` equals `analyze` on every golden case (and the
//! golden-next comparison case, `compare=previous`), through both stores; `GET /v1/requests` lists the requests behind a figure.

use crate::common::{differences, golden_cases};
use crate::helpers::{BOTH, Backend, TestApp};

/// The `/v1/stats` query equivalent to a golden case's `args`, and the
/// calendar file it needs, if any.
fn stats_query(args: &[String]) -> (String, Option<String>) {
    let mut query = Vec::new();
    let mut calendar = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--as-of" => {
                query.push(format!("as_of={}", args[i + 1]));
                i += 1;
            }
            "--window" => {
                query.push(format!("window={}", args[i + 1]));
                i += 1;
            }
            "--calendar" => {
                calendar = Some(args[i + 1].clone());
                query.push("clock=business".into());
                i += 1;
            }
            "--by-agent" => query.push("by_agent=true".into()),
            "--compare-previous" => query.push("compare=previous".into()),
            "--bots-count-as-replies" => query.push("bots_count_as_replies=true".into()),
            other => panic!("golden args: unknown option {other}"),
        }
        i += 1;
    }
    (query.join("&"), calendar)
}

async fn golden_cases_through(backend: Backend) {
    let mut failures = Vec::new();
    // With the comparison with the previous period (golden-next, SPEC §4).
    let cases = golden_cases()
        .into_iter()
        .chain(crate::common::golden_next_cases());
    for case in cases {
        let (query, calendar) = stats_query(&case.args);
        let app = TestApp::spawn_with(backend, |c| {
            c.calendar = calendar.map(|f| case.dir.join(f));
        })
        .await;
        let events = std::fs::read(case.dir.join("events.ndjson")).unwrap();
        let posted = app.post_ndjson(events).await;
        assert_eq!(posted.status, 202, "{}: {}", case.name, posted.body);
        let got = app.get(&format!("/v1/stats?{query}")).await;
        assert_eq!(got.status, 200, "{}: {}", case.name, got.body);
        for d in differences(&got.body, &case.expected) {
            failures.push(format!("{backend:?} {}: {d}", case.name));
        }
        app.finish().await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_over_http_equal_analyze_on_every_golden_case_with_sqlite() {
    golden_cases_through(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_over_http_equal_analyze_on_every_golden_case_with_postgres() {
    golden_cases_through(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_filter_by_account_and_channel() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let case = golden_cases()
        .into_iter()
        .find(|c| c.name == "09-groups-and-all")
        .unwrap();
    let posted = app
        .post_ndjson(std::fs::read(case.dir.join("events.ndjson")).unwrap())
        .await;
    assert_eq!(posted.status, 202);
    let all = app.get("/v1/stats?as_of=2026-11-02T00:00:00Z").await.body;
    let first = &all["groups"][0];
    let account = first["account"].as_str().unwrap();
    let one = app
        .get(&format!(
            "/v1/stats?as_of=2026-11-02T00:00:00Z&account={account}&channel=all"
        ))
        .await
        .body;
    let groups = one["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["account"], account);
    assert_eq!(groups[0]["channel"], "all");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_drill_down_lists_pending_and_late_answers_oldest_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let events = [
        r#"{"id":"1","account":"a","channel":"messenger","conversation":"slow","from":"customer","at":"2026-11-01T08:00:00Z"}"#,
        r#"{"id":"2","account":"a","channel":"messenger","conversation":"slow","from":"agent","agent":"ann","at":"2026-11-01T10:00:00Z"}"#,
        r#"{"id":"3","account":"a","channel":"messenger","conversation":"fast","from":"customer","at":"2026-11-01T09:00:00Z"}"#,
        r#"{"id":"4","account":"a","channel":"messenger","conversation":"fast","from":"agent","at":"2026-11-01T09:05:00Z"}"#,
        r#"{"id":"5","account":"a","channel":"whatsapp","conversation":"open2","from":"customer","at":"2026-11-01T11:00:00Z"}"#,
        r#"{"id":"6","account":"a","channel":"messenger","conversation":"open1","from":"customer","at":"2026-11-01T10:30:00Z"}"#,
    ];
    assert_eq!(app.post_ndjson(events.join("\n")).await.status, 202);
    let at = "as_of=2026-11-01T12:00:00Z";

    let pending = app
        .get(&format!("/v1/requests?{at}&state=pending"))
        .await
        .body;
    let convs: Vec<&str> = pending["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["conversation"].as_str().unwrap())
        .collect();
    assert_eq!(convs, ["open1", "open2"], "oldest first: {pending}");
    assert_eq!(pending["requests"][0]["age_seconds"], 5400.0);
    assert_eq!(pending["total"], 2);

    let late = app
        .get(&format!(
            "/v1/requests?{at}&state=answered&breached_after=1h"
        ))
        .await
        .body;
    assert_eq!(late["total"], 1, "{late}");
    let row = &late["requests"][0];
    assert_eq!(row["conversation"], "slow");
    assert_eq!(row["first_reply_seconds"], 7200.0);
    assert_eq!(row["agent"], "ann");

    let one = app
        .get(&format!("/v1/requests?{at}&channel=whatsapp&limit=1"))
        .await
        .body;
    assert_eq!(one["requests"][0]["conversation"], "open2");

    let bad = app.get("/v1/requests?limit=0").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["details"][0]["field"], "limit");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (query, field) in [
        ("as_of=yesterday", "as_of"),
        ("window=7x", "window"),
        ("window=0s", "window"),
    ] {
        let r = app.get(&format!("/v1/stats?{query}")).await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.body["error"]["details"][0]["field"], field, "{query}");
    }
    let r = app.get("/v1/stats?by_agent=perhaps").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("by_agent")
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_openapi_answer_without_a_token_and_v1_needs_it() {
    for backend in BOTH {
        let app = TestApp::spawn_with(backend, |c| c.api_token = Some("s3cret".into())).await;
        assert_eq!(app.get("/healthz").await.status, 200);
        assert_eq!(app.get("/readyz").await.status, 200);
        let doc = app.get("/openapi.json").await;
        assert_eq!(doc.status, 200);
        assert!(doc.body["paths"]["/v1/events"]["post"].is_object());
        let denied = app.get("/v1/stats").await;
        assert_eq!(denied.status, 401);
        assert!(denied.body["error"]["message"].is_string());
        let wrong = app
            .client
            .get(app.url("/v1/stats"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let ok = app
            .client
            .get(app.url("/v1/stats"))
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let post = app
            .client
            .post(app.url("/v1/events"))
            .header("content-type", "application/json")
            .body("[]")
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 401);
        app.finish().await;
    }
}

/// Issue 19 / SPEC §4 "Final or not" in the JSON series: a day whose
/// requests are all decided for 24 h is final, a day with a request
/// pending for 2 h is not; the series' days are in the asked time zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_series_marks_each_day_final_or_not() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let now = chrono::Utc::now();
    let ago = |hours: i64| (now - chrono::Duration::hours(hours)).to_rfc3339();
    let line = |id: &str, conversation: &str, from: &str, hours: i64| {
        format!(
            r#"{{"id":"{id}","account":"shop","channel":"messenger","conversation":"{conversation}","from":"{from}","at":"{}"}}"#,
            ago(hours)
        )
    };
    let body = [
        line("a1", "old", "customer", 72),
        line("a2", "old", "agent", 71),
        line("b1", "new", "customer", 2),
    ]
    .join("\n");
    assert_eq!(app.post_ndjson(body).await.status, 202);
    let got = app
        .get("/v1/series?account=shop&window=7d&timezone=UTC")
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let days = got.body["days"].as_array().unwrap();
    assert_eq!(got.body["requests"], 2);
    assert_eq!(got.body["timezone"], "UTC");
    let old = days.first().unwrap();
    let new = days.last().unwrap();
    assert_eq!(old["final"], true, "{old}");
    assert_eq!(old["median_first_reply_seconds"], 3600.0);
    assert_eq!(new["final"], false, "{new}");
    assert_eq!(new["pending"], 1);
    assert_eq!(
        new["decided_24h"], 0,
        "pending for 2 h: not decided for 24 h"
    );
    assert_eq!(got.body["heatmap"].as_array().unwrap().len(), 7);
    let bad = app.get("/v1/series?account=shop&timezone=Mars/Base").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.to_string().contains("timezone"), "{}", bad.body);
    assert_eq!(
        app.get("/v1/series").await.status,
        400,
        "account= is required"
    );
    app.finish().await;
}
