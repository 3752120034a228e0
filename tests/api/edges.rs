//! Rules of SPEC §5–6 that had no test: `/metrics` behind its own token,
//! `/v1/requests?state=pending&breached_after=`, and an environment
//! variable for every `serve` option.

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_take_their_own_token_and_not_the_api_token() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.metrics.metrics_token = Some(replywatch::secret::parse_secret("scrape-me").unwrap());
        c.api_token = Some(replywatch::secret::parse_secret("api-token").unwrap());
    })
    .await;
    let get = |token: Option<&'static str>| {
        let mut r = app.client.get(app.url("/metrics"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap() }
    };
    let none = get(None).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_eq!(get(Some("wrong")).await.status(), 401);
    assert_eq!(
        get(Some("api-token")).await.status(),
        401,
        "the API token does not open /metrics"
    );
    let ok = get(Some("scrape-me")).await;
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("replywatch_metrics_compute_seconds")
    );
    // And the metrics token does not open the API.
    let api = app
        .client
        .get(app.url("/v1/stats"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_requests_breached_after_a_duration_are_those_waiting_longer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let now = chrono::Utc::now();
    let at = |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_rfc3339();
    let line = |id: &str, conversation: &str, from: &str, minutes: i64| {
        format!(
            r#"{{"id":"{id}","account":"acme","channel":"messenger","conversation":"{conversation}","from":"{from}","at":"{}"}}"#,
            at(minutes)
        )
    };
    let body = [
        line("1", "waiting-2h", "customer", 120),
        line("2", "waiting-10m", "customer", 10),
        line("3", "answered", "customer", 180),
        line("4", "answered", "agent", 170),
    ]
    .join("\n");
    assert_eq!(app.post_ndjson(body).await.status, 202);
    let r = app
        .get("/v1/requests?account=acme&state=pending&breached_after=1h")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let items = r.body["requests"]
        .as_array()
        .or_else(|| r.body.as_array())
        .cloned()
        .unwrap_or_default();
    let conversations: Vec<&str> = items
        .iter()
        .filter_map(|i| i["conversation"].as_str())
        .collect();
    assert_eq!(conversations, ["waiting-2h"], "{}", r.body);
    let r = app
        .get("/v1/requests?account=acme&state=pending&breached_after=5m")
        .await;
    let n = r.body["requests"]
        .as_array()
        .or_else(|| r.body.as_array())
        .map_or(0, Vec::len);
    assert_eq!(n, 2, "{}", r.body);
    app.finish().await;
}

#[test]
fn every_serve_option_can_be_set_from_the_environment() {
    use clap::CommandFactory;
    let cli = replywatch::cli::Cli::command();
    let serve = cli
        .get_subcommands()
        .find(|c| c.get_name() == "serve")
        .unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        checked += 1;
        let want = format!("REPLYWATCH_{}", long.to_uppercase().replace('-', "_"));
        match arg.get_env() {
            Some(env) if env.to_str() == Some(want.as_str()) => {}
            other => missing.push(format!("--{long}: {other:?}, want {want}")),
        }
    }
    assert!(checked >= 30, "only {checked} options seen");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
