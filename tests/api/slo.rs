//! Objectives end to end: a real Prometheus on the rules `replywatch
//! rules` generates (time compressed 60×: an hour of the rules is a minute
//! here) scrapes a running replywatch fed with a scenario — a busy account
//! that collapses, one that degrades, a quiet account with one miss, an
//! account that goes idle. Through Prometheus's API the right tiers fire
//! for the right accounts, within an evaluation of the moment the core's
//! rule (`domain::slo::Tier::fires` on the counts posted) says the tier's
//! condition holds plus its `for`, and the others stay silent.

use crate::helpers::{Backend, Prometheus, TestApp};
use replywatch::domain::slo::{Decided, Tier};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SCALE: i64 = 60;

const OBJECTIVES: &str = r#"
objectives:
  - name: badge
    accounts: "*"
    channel: all
    within: 15m
    objective: 0.90
    period: 7d
"#;

/// Requests opened 20 minutes ago: answered after 1 minute (a hit for
/// 15 min) or after 19 (a miss), so each is decided when it arrives.
fn requests(account: &str, tag: &str, hits: u32, misses: u32) -> Vec<String> {
    let now = chrono::Utc::now();
    let at = |minutes_ago: i64| (now - chrono::Duration::minutes(minutes_ago)).to_rfc3339();
    let mut lines = Vec::new();
    for i in 0..hits + misses {
        let c = format!("{tag}-{i}");
        let reply_after = if i < hits { 19 } else { 1 };
        for (n, from, ago) in [(0, "customer", 20), (1, "agent", reply_after)] {
            lines.push(format!(
                r#"{{"id":"{c}-{n}","account":"{account}","channel":"messenger","conversation":"{c}","from":"{from}","at":"{}"}}"#,
                at(ago)
            ));
        }
    }
    lines
}

/// What was posted, when (seconds since the start), per account.
#[derive(Default)]
struct Posted(Vec<(f64, String, u32, u32)>);

impl Posted {
    fn window(&self, account: &str, at: f64, seconds: f64) -> Decided {
        let mut d = Decided::default();
        for (t, a, hits, misses) in &self.0 {
            if a == account && *t <= at && *t > at - seconds {
                d.total += u64::from(hits + misses);
                d.misses += u64::from(*misses);
            }
        }
        d
    }

    /// The first post after which the core's rule says `tier` holds.
    fn core_moment(&self, account: &str, tier: &Tier, min_requests: u32) -> Option<f64> {
        let scaled = |s: i64| (s / SCALE) as f64;
        self.0
            .iter()
            .filter(|(_, a, ..)| a == account)
            .map(|(t, ..)| *t)
            .find(|&t| {
                tier.fires(
                    self.window(account, t, scaled(tier.long_seconds)),
                    self.window(account, t, scaled(tier.short_seconds)),
                    min_requests,
                )
            })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_on_the_generated_rules_fires_the_right_tiers_for_each_account() {
    let objectives = replywatch::slo::parse(OBJECTIVES).unwrap();
    let rules = replywatch::slo::rules::render(
        &objectives,
        replywatch::slo::rules::RuleOptions {
            time_scale: SCALE as u32,
        },
    )
    .unwrap();
    let tiers = objectives[0].tiers();
    let min_requests = objectives[0].min_requests;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let prometheus = Prometheus::start(app.addr, Some(&rules));
    let client = replywatch::tls::client();
    // Prometheus up and scraping before the scenario starts.
    for _ in 0..200 {
        if prometheus.query(&client, "up").await == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One hit per account first, not counted below: Prometheus's first
    // sample of a counter is its baseline (increase() starts there), so
    // the scenario's own requests must come after it.
    for account in ["busy", "degrading", "quiet", "idle"] {
        let r = app
            .post_ndjson(requests(account, "prime", 1, 0).join("\n"))
            .await;
        assert_eq!(r.status, 202);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let start = Instant::now();
    let mut posted = Posted::default();
    let post = async |account: &str, hits: u32, misses: u32, posted: &mut Posted| {
        let t = start.elapsed().as_secs_f64();
        let tag = format!("{account}-{}", posted.0.len());
        let r = app
            .post_ndjson(requests(account, &tag, hits, misses).join("\n"))
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        posted.0.push((t, account.to_string(), hits, misses));
    };
    // Baseline: every account answers well, so its series exist.
    post("busy", 20, 0, &mut posted).await;
    post("degrading", 20, 0, &mut posted).await;
    post("quiet", 5, 0, &mut posted).await;
    post("idle", 20, 0, &mut posted).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    post("quiet", 0, 1, &mut posted).await; // its only miss

    // Every second: busy misses 3 of 4, degrading 2 of 10; the others
    // are silent. Alerts are polled as they come.
    let mut fired: BTreeMap<(String, String), f64> = BTreeMap::new();
    let run_for = 80.0;
    let mut next_post = start.elapsed().as_secs_f64();
    while start.elapsed().as_secs_f64() < run_for {
        if start.elapsed().as_secs_f64() >= next_post {
            post("busy", 1, 3, &mut posted).await;
            post("degrading", 8, 2, &mut posted).await;
            next_post += 1.0;
        }
        if let Some(alerts) = prometheus.get(&client, "/api/v1/alerts").await {
            let now = start.elapsed().as_secs_f64();
            for a in alerts["data"]["alerts"].as_array().into_iter().flatten() {
                if a["state"] == "firing" {
                    let key = (
                        a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                        a["labels"]["account"].as_str().unwrap_or("").to_string(),
                    );
                    fired.entry(key).or_insert(now);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Idle and quiet: an error ratio of 0 on empty windows (not NaN), the
    // busy account's budget overspent.
    let q = |expr: String| {
        let (p, c) = (&prometheus, &client);
        async move { p.query(c, &expr).await }
    };
    let idle_ratio = q("slo:replywatch_error:ratio5m{account=\"idle\"}".into()).await;
    let idle_budget =
        q("slo:replywatch_error_budget_remaining:ratio{account=\"idle\"}".into()).await;
    let busy_budget =
        q("slo:replywatch_error_budget_remaining:ratio{account=\"busy\"}".into()).await;
    let busy_misses = q(
        "replywatch_requests_decided_total{account=\"busy\",within=\"15m\",outcome=\"miss\"}"
            .into(),
    )
    .await;
    // Every query of the shipped SLO dashboard returns series here.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana/slo.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut empty = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$slo", ".*")
                .replace("$account", ".*");
            let body = prometheus
                .get(
                    &client,
                    &format!("/api/v1/query?query={}", crate::helpers::encode(&expr)),
                )
                .await;
            let n = body
                .as_ref()
                .and_then(|b| b["data"]["result"].as_array().map(Vec::len))
                .unwrap_or(0);
            if n == 0 {
                empty.push(format!("{}: {expr}: {body:?}", p["title"]));
            }
        }
    }
    drop(prometheus);
    app.finish().await;
    assert!(empty.is_empty(), "{}", empty.join("\n"));

    let mut report = Vec::new();
    let mut failures = Vec::new();
    for account in ["busy", "degrading", "quiet", "idle"] {
        for tier in &tiers {
            let name = replywatch::slo::rules::alert_name(tier);
            let core = posted.core_moment(account, tier, min_requests);
            let expected = core.map(|t| t + (tier.for_seconds / SCALE) as f64);
            let got = fired.get(&(name.clone(), account.to_string())).copied();
            report.push(format!(
                "{account:>9} {name:<24} core+for {:>6} fired {:>6}",
                expected.map_or("-".into(), |t| format!("{t:.1}s")),
                got.map_or("-".into(), |t| format!("{t:.1}s"))
            ));
            match (expected, got) {
                // One scrape (1 s), one evaluation (1 s) and the poll
                // (0.25 s) after the core's moment; never before it
                // (allowing the extrapolation of increase()).
                (Some(e), Some(g)) if g > e + 2.5 || g < e - 1.0 => failures.push(format!(
                    "{account} {name}: fired at {g:.1}s, expected {e:.1}s"
                )),
                (Some(e), None) if e < run_for - 3.0 => failures.push(format!(
                    "{account} {name}: never fired, expected at {e:.1}s"
                )),
                (None, Some(g)) => failures.push(format!(
                    "{account} {name}: fired at {g:.1}s, the core says never"
                )),
                _ => {}
            }
        }
    }
    let pending = fired
        .keys()
        .filter(|(n, _)| n == replywatch::slo::rules::PENDING_ALERT)
        .count();
    assert!(
        failures.is_empty(),
        "{}\n\n{}",
        failures.join("\n"),
        report.join("\n")
    );
    eprintln!("{}", report.join("\n"));
    // The scenario is what the issue asks: busy pages on the fast tier,
    // degrading only on the slower ones, quiet and idle never.
    let fired_for = |account: &str| -> Vec<&str> {
        fired
            .keys()
            .filter(|(_, a)| a == account)
            .map(|(n, _)| n.as_str())
            .collect()
    };
    assert!(fired_for("busy").contains(&"ReplywatchSLOBurnFast"));
    assert!(!fired_for("degrading").contains(&"ReplywatchSLOBurnFast"));
    assert!(fired_for("degrading").contains(&"ReplywatchSLOBurnMedium"));
    assert!(fired_for("quiet").is_empty() && fired_for("idle").is_empty());
    assert_eq!(pending, 0, "nobody waits: every request was answered");
    assert_eq!(idle_ratio, Some(0.0), "an idle window is 0, not NaN");
    assert_eq!(idle_budget, Some(1.0));
    assert!(busy_budget.is_some_and(|b| b < 0.0), "{busy_budget:?}");
    let posted_misses: u32 = posted
        .0
        .iter()
        .filter(|(_, a, ..)| a == "busy")
        .map(|(.., m)| m)
        .sum();
    assert_eq!(busy_misses, Some(f64::from(posted_misses)));
}

fn decided_line<'a>(exposition: &'a str, parts: &[&str]) -> Option<&'a str> {
    exposition.lines().find(|l| {
        l.starts_with("replywatch_requests_decided_total{") && parts.iter().all(|p| l.contains(p))
    })
}

/// `serve --slo`: the accounts of a `clock: business` objective that have
/// a calendar are also counted in business time; the file is re-read when
/// it changes, and an invalid one refuses the start naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_counts_business_time_decisions_for_the_objectives_that_ask() {
    let dir = std::env::temp_dir().join(format!("replywatch-slo-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let every_day: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| format!(r#""{d}":[["00:00","24:00"]]"#))
        .collect();
    let calendar = format!(
        r#"{{"accounts":{{"acme":{{"timezone":"UTC","weekly":{{{}}}}},"other":{{"timezone":"UTC","weekly":{{{}}}}}}}}}"#,
        every_day.join(","),
        every_day.join(",")
    );
    std::fs::write(dir.join("calendar.json"), calendar).unwrap();
    let slo = |account: &str| {
        format!(
            "objectives:\n  - name: vip\n    accounts: [\"{account}\"]\n    channel: all\n    within: 15m\n    objective: 0.95\n    period: 7d\n    clock: business\n"
        )
    };
    let slo_path = dir.join("slo.yaml");
    std::fs::write(&slo_path, slo("acme")).unwrap();

    // An invalid file refuses the start, naming the objective and field.
    std::fs::write(dir.join("bad.yaml"), slo("acme").replace("15m", "45m")).unwrap();
    let db = crate::helpers::TestDb::create(Backend::Sqlite).await;
    let mut bad = replywatch::config::ServeConfig::for_tests(&db.url);
    bad.slo = Some(dir.join("bad.yaml"));
    let e = replywatch::startup::Application::build(bad)
        .await
        .err()
        .expect("an invalid objectives file refuses the start");
    let text = format!("{e:#}");
    assert!(text.contains("objectives[0] (vip).within"), "{text}");
    db.remove().await;

    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.calendar = Some(dir.join("calendar.json"));
        c.slo = Some(slo_path.clone());
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // the first count
    let unanswered = |account: &str, id: &str| {
        format!(
            r#"{{"id":"{id}","account":"{account}","channel":"messenger","conversation":"{id}","from":"customer","at":"{}"}}"#,
            (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc3339()
        )
    };
    let r = app
        .post_ndjson([unanswered("acme", "a1"), unanswered("other", "o1")].join("\n"))
        .await;
    assert_eq!(r.status, 202);
    let scrape = async || {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.scrape().await
    };
    let text = scrape().await;
    let business = r#"clock="business""#;
    let acme_miss = [
        r#"account="acme""#,
        r#"within="15m""#,
        r#"outcome="miss""#,
        business,
    ];
    assert!(
        decided_line(&text, &acme_miss).is_some_and(|l| l.ends_with(" 1")),
        "{text}"
    );
    assert!(
        decided_line(&text, &[r#"account="other""#, business]).is_none(),
        "no objective asks for other's business time"
    );
    assert!(
        decided_line(
            &text,
            &[r#"account="other""#, r#"within="15m""#, r#"outcome="miss""#]
        )
        .is_some_and(|l| l.ends_with(" 1") && !l.contains("clock")),
        "calendar time counts every account"
    );

    // The objective moves to `other`: acme's business count stays, other's starts.
    std::fs::write(&slo_path, slo("other")).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&slo_path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await; // re-read within 2 s
    let r = app
        .post_ndjson([unanswered("acme", "a2"), unanswered("other", "o2")].join("\n"))
        .await;
    assert_eq!(r.status, 202);
    let text = scrape().await;
    assert!(
        decided_line(&text, &acme_miss).is_some_and(|l| l.ends_with(" 1")),
        "{text}"
    );
    assert!(
        decided_line(
            &text,
            &[
                r#"account="other""#,
                r#"within="15m""#,
                r#"outcome="miss""#,
                business
            ]
        )
        .is_some_and(|l| l.ends_with(" 1")),
        "{text}"
    );
    app.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
}
