//! The OpenAPI document drives schemathesis (from PyPI; `.ci/run` installs
//! it) against a live server: no 5xx, no response outside the document, no
//! schema-valid request refused, no invalid one accepted.

use crate::helpers::{Backend, TestApp};

async fn schemathesis(app: &TestApp, seed: &str, extra: &[&str]) {
    let run = tokio::process::Command::new("schemathesis")
        .args(["run", &app.url("/openapi.json")])
        .args(["--checks", "all", "--max-examples", "150", "--seed", seed])
        // One worker: with several, hypothesis (4.x) sometimes fails inside
        // its own lambda-source cache ("AST constructor recursion depth mismatch").
        .args(["--workers", "1", "--no-color"])
        .args(extra)
        .output()
        .await
        .expect("schemathesis must be installed: pip install schemathesis (.ci/run does it)");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis {extra:?} found problems (seed {seed}):\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.contains("passed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.meta.meta_app_secret = vec!["fuzz-secret".into()];
        c.meta.meta_verify_token = Some("fuzz-token".into());
    })
    .await;
    let seed = std::env::var("REPLYWATCH_FUZZ_SEED").unwrap_or_else(|_| "20261127".into());
    schemathesis(&app, &seed, &["--exclude-operation-id", "put_calendar"]).await;
    // A calendar's rules (an existing IANA zone, intervals that end after
    // they start and do not overlap) are not expressible in JSON Schema, so
    // a schema-valid calendar may rightly get a 400 there: every other check.
    schemathesis(
        &app,
        &seed,
        &[
            "--include-operation-id",
            "put_calendar",
            "--exclude-checks",
            "positive_data_acceptance",
        ],
    )
    .await;
    app.finish().await;
}

/// Issue 15: raw bytes (not only schema-shaped JSON) to the three routes
/// that read a body: never a panic, never a 5xx, and the service answers
/// afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_to_every_body_route_never_give_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.meta.meta_app_secret = vec!["fuzz-secret".into()];
    })
    .await;
    let client = app.client.clone();
    let urls = [
        (app.url("/v1/events"), "application/x-ndjson", false),
        (app.url("/v1/events"), "application/json", false),
        (app.url("/webhooks/meta"), "application/json", true),
        (
            app.url("/v1/accounts/fuzz/calendar"),
            "application/json",
            false,
        ),
    ];
    // Bytes with JSON's own characters mixed in, so that parsers go deep.
    let bytes = proptest::collection::vec(
        prop_oneof![
            any::<u8>(),
            proptest::sample::select(b"{}[]\":,\\\n0123456789.-eE tfn".to_vec()),
        ],
        0..600,
    );
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config::with_cases(300));
        runner
            .run(&bytes, |body| {
                for (url, content_type, signed) in &urls {
                    let mut request = client.request(
                        if url.ends_with("/calendar") {
                            reqwest::Method::PUT
                        } else {
                            reqwest::Method::POST
                        },
                        url,
                    );
                    request = request
                        .header("content-type", *content_type)
                        .body(body.clone());
                    if *signed {
                        request = request.header(
                            "x-hub-signature-256",
                            replywatch::webhooks::meta::sign(&body, "fuzz-secret"),
                        );
                    }
                    let status = handle.block_on(request.send()).unwrap().status();
                    prop_assert!(status.as_u16() < 500, "{url}: {status} for {body:?}");
                }
                Ok(())
            })
            .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(app.get("/healthz").await.status, 200);
    app.finish().await;
}
