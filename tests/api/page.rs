//! The built-in dashboard page in a real headless Chromium (Debian's
//! `chromium`; `.ci/run` installs it): it renders (a screenshot is saved),
//! the figures it shows equal `/v1/stats`, and its charts load.

use crate::helpers::{Backend, TestApp};
use std::process::Command;

fn chromium(args: &[&str], url: &str) -> String {
    let profile = std::env::temp_dir().join(format!(
        "replywatch-chromium-{}-{}",
        std::process::id(),
        args.len()
    ));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("Chromium must be installed: apt-get install chromium (.ci/run does it)");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (account, channel, field) → value of every figure cell of the page.
fn cells(dom: &str) -> Vec<(String, String, String, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].to_string())
    };
    let mut out = Vec::new();
    let table = dom.split("id=\"groups\"").nth(1).unwrap_or("");
    let table = table.split("</table>").next().unwrap_or("");
    for row in table.split("<tr ").skip(1) {
        let head = &row[..row.find('>').unwrap_or(0)];
        let (Some(account), Some(channel)) =
            (attr(head, "data-account"), attr(head, "data-channel"))
        else {
            continue;
        };
        for td in row.split("<td ").skip(1) {
            let head = &td[..td.find('>').unwrap_or(0)];
            if let (Some(field), Some(value)) = (attr(head, "data-field"), attr(head, "data-value"))
            {
                out.push((account.clone(), channel.clone(), field, value));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_in_chromium_shows_the_figures_of_v1_stats() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let opts = replywatch::generate::GenerateOptions {
        events: 6_000,
        seed: 5,
        accounts: 2,
        end: chrono::Utc::now() - chrono::Duration::hours(2),
        days: 6,
    };
    let mut week = Vec::new();
    replywatch::generate::generate(&opts, &mut week, |_| {}).unwrap();
    // Drop events dated after now (late replies the generator places beyond `end`).
    let now = chrono::Utc::now();
    let body: Vec<&str> = std::str::from_utf8(&week)
        .unwrap()
        .lines()
        .filter(|l| {
            let e = replywatch::domain::MessageEvent::from_json(l.as_bytes()).unwrap();
            e.at.to_datetime() < now
        })
        .collect();
    assert_eq!(app.post_ndjson(body.join("\n")).await.status, 202);

    let dom = chromium(&["--dump-dom"], &app.url("/"));
    let stats = app.get("/v1/stats?window=7d").await.body;
    let shown = cells(&dom);
    assert!(
        shown.len() >= 40,
        "the page shows the groups: {} cells",
        shown.len()
    );
    for (account, channel, field, value) in &shown {
        let group = stats["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["account"] == account.as_str() && g["channel"] == channel.as_str())
            .unwrap_or_else(|| panic!("{account}/{channel} is on the page but not in /v1/stats"));
        let expected = &group[field.as_str()];
        match (value.as_str(), expected) {
            ("null", serde_json::Value::Null) => {}
            ("true" | "false", serde_json::Value::Bool(b)) => {
                assert_eq!(value == "true", *b, "{account}/{channel} {field}")
            }
            (v, e) => {
                let (v, e): (f64, f64) = (v.parse().unwrap(), e.as_f64().unwrap_or(f64::NAN));
                // Ages grow between the two requests; everything else is equal.
                let tolerance = if field == "oldest_pending_seconds" {
                    30.0
                } else {
                    1e-9 * e.abs().max(1.0)
                };
                assert!(
                    (v - e).abs() <= tolerance,
                    "{account}/{channel} {field}: page {v}, /v1/stats {e}"
                );
            }
        }
    }

    // The account page renders with its charts; keep a screenshot to look at.
    let shot = std::env::temp_dir().join("replywatch-dashboard.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ],
        &app.url("/accounts/acct-0000"),
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.len() > 50_000 && png.starts_with(b"\x89PNG"),
        "screenshot of {} bytes",
        png.len()
    );
    for chart in [
        "first-reply",
        "hit-ratios",
        "volume",
        "distribution",
        "heatmap",
    ] {
        let r = app
            .client
            .get(app.url(&format!("/v1/charts/{chart}.png?account=acct-0000")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{chart}");
        assert!(r.bytes().await.unwrap().starts_with(b"\x89PNG"), "{chart}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_starts_populated_and_leaves_nothing_behind() {
    let mut server = crate::helpers::ServeProcess::start(&["--demo"]);
    let client = replywatch::tls::client();
    let url = |p: &str| server.url(p);
    server
        .wait_ready(&client, std::time::Duration::from_secs(60))
        .await;
    let page = client
        .get(url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.matches("<tr data-account=").count() >= 12 * 2,
        "a populated overview"
    );
    let pid = server.pid();
    assert!(server.stop().success());
    let dir = std::env::temp_dir().join(format!("replywatch-demo-{pid}"));
    assert!(!dir.exists(), "the demo database is removed on exit");
}

/// SPEC §4 "Final or not" on the page: requests pending and younger than
/// 24 h are counted as still open (their day's figures may change); a
/// request pending for two days is settled and not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_how_many_requests_are_still_open() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ago = |hours: i64| (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc3339();
    let line = |id: &str, account: &str, hours: i64| {
        format!(
            r#"{{"id":"{id}","account":"{account}","channel":"messenger","conversation":"{id}","from":"customer","at":"{}"}}"#,
            ago(hours)
        )
    };
    let body = [
        line("young", "shop", 1),
        line("old", "shop", 48),
        line("other", "quiet", 50),
    ]
    .join("\n");
    assert_eq!(app.post_ndjson(body).await.status, 202);
    let text = |path: &str| {
        let (client, url) = (app.client.clone(), app.url(path));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let overview = text("/").await;
    assert!(
        overview.contains("1 request still open: figures for the last 24 h may change."),
        "{overview}"
    );
    assert!(
        text("/accounts/shop")
            .await
            .contains("1 request still open")
    );
    assert!(
        !text("/accounts/quiet").await.contains("still open"),
        "a two-day-old request is settled"
    );
    app.finish().await;
}
