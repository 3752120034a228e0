//! `PUT`/`GET /v1/accounts/{account}/calendar`: validated business hours,
//! stored, in force at once for `/v1/stats?clock=business`, kept across a
//! restart.

use crate::helpers::{Backend, TestApp};

async fn put(app: &TestApp, account: &str, body: &str) -> (u16, serde_json::Value) {
    let r = app
        .client
        .put(app.url(&format!("/v1/accounts/{account}/calendar")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_set_through_the_api_measures_business_time_and_survives_a_restart() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Saturday 10:00 Berlin → Monday 09:05 Berlin.
    let events = [
        r#"{"id":"1","account":"berlin","channel":"messenger","conversation":"c","from":"customer","at":"2026-10-31T09:00:00Z"}"#,
        r#"{"id":"2","account":"berlin","channel":"messenger","conversation":"c","from":"agent","at":"2026-11-02T08:05:00Z"}"#,
    ];
    assert_eq!(app.post_ndjson(events.join("\n")).await.status, 202);
    assert_eq!(app.get("/v1/accounts/berlin/calendar").await.status, 404);
    let calendar = r#"{"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}, "holidays": ["2026-12-25"]}"#;
    let (status, body) = put(&app, "berlin", calendar).await;
    assert_eq!(status, 200, "{body}");
    let q = "/v1/stats?as_of=2026-11-03T00:00:00Z&account=berlin&channel=messenger";
    let wall = app.get(q).await.body;
    let business = app.get(&format!("{q}&clock=business")).await.body;
    assert_eq!(
        wall["groups"][0]["median_first_reply_seconds"],
        2.0 * 86_400.0 - 3_300.0
    );
    assert_eq!(business["groups"][0]["median_first_reply_seconds"], 300.0);

    let db = app.stop().await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let got = app.get("/v1/accounts/berlin/calendar").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["source"], "api");
    assert_eq!(got.body["calendar"]["timezone"], "Europe/Berlin");
    assert_eq!(app.get(&format!("{q}&clock=business")).await.body, business);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_calendar_is_400_naming_the_problem_and_changes_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (body, field, words) in [
        (
            r#"{"timezone": "Mars/Olympus"}"#,
            "calendar.timezone",
            "unknown IANA time zone",
        ),
        (
            r#"{"timezone": "UTC", "weekly": {"mon": [["10:00", "09:00"]]}}"#,
            "calendar.weekly.mon[0]",
            "does not end after it starts",
        ),
        (
            r#"{"timezone": "UTC", "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}"#,
            "calendar.weekly.mon",
            "overlap",
        ),
        (
            r#"{"timezone": "UTC", "holidays": ["2026-02-30"]}"#,
            "calendar.holidays[0]",
            "",
        ),
        (
            r#"{"timezone": "UTC", "weekly": {"funday": []}}"#,
            "calendar.weekly",
            "unknown day",
        ),
        (r#"not json"#, "calendar", ""),
    ] {
        let (status, r) = put(&app, "acme", body).await;
        assert_eq!(status, 400, "{body}: {r}");
        let detail = &r["error"]["details"][0];
        assert!(
            detail["field"].as_str().unwrap().starts_with(field),
            "{body}: {r}"
        );
        assert!(
            r["error"]["message"].as_str().unwrap().contains(words),
            "{body}: {r}"
        );
    }
    assert_eq!(app.get("/v1/accounts/acme/calendar").await.status, 404);
    app.finish().await;
}
