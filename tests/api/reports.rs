//! Scheduled reports in `serve`: a run missed while the service was down
//! happens at start-up, once; `GET /v1/reports` lists it and serves its files.

use crate::helpers::{Backend, TestApp, TestDb};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_daily_report_runs_once_at_start_up_and_is_listed() {
    let db = TestDb::create(Backend::Sqlite).await;
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let at = |h: u32, m: u32| {
        yesterday
            .and_hms_opt(h, m, 0)
            .unwrap()
            .and_utc()
            .to_rfc3339()
    };
    let events: Vec<replywatch::domain::MessageEvent> = [
        format!(r#"{{"id":"1","account":"acme","channel":"messenger","conversation":"c","from":"customer","at":"{}"}}"#, at(10, 0)),
        format!(r#"{{"id":"2","account":"acme","channel":"messenger","conversation":"c","from":"agent","at":"{}"}}"#, at(10, 20)),
    ]
    .iter()
    .map(|l| replywatch::domain::MessageEvent::from_json(l.as_bytes()).unwrap())
    .collect();
    let store = db.store().await;
    store.insert_events(&events).await.unwrap();
    store.close().await;
    let dir = std::env::temp_dir().join(format!("replywatch-reports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let configure = |c: &mut replywatch::config::ServeConfig| {
        c.reports = vec!["daily 00:00 UTC".into()];
        c.reports_dir = dir.clone();
    };
    let app = TestApp::spawn_on(db, configure).await;
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        listed = app.get("/v1/reports").await.body;
        if listed.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = listed.as_array().expect("a list of reports").clone();
    assert_eq!(runs.len(), 1, "{listed}");
    assert_eq!(runs[0]["account"], "acme");
    assert_eq!(runs[0]["run"], format!("daily-0000-{yesterday}"));
    let daily = runs[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f.as_str().unwrap().ends_with("daily.csv"))
        .unwrap();
    let csv = app
        .client
        .get(app.url(daily.as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(text.contains(&format!("{yesterday},all,1,1,0,")), "{text}");
    assert_eq!(app.get("/v1/reports/x/../daily.csv").await.status, 404);

    // After a restart the run is not repeated.
    let state_file = dir.join(".schedule-state.json");
    for _ in 0..100 {
        if state_file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = std::fs::read_to_string(&state_file).unwrap();
    let db = app.stop().await;
    let app = TestApp::spawn_on(db, configure).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        std::fs::read_to_string(dir.join(".schedule-state.json")).unwrap(),
        state
    );
    assert_eq!(
        app.get("/v1/reports").await.body.as_array().unwrap().len(),
        1
    );
    app.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
}
