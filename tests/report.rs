//! `replywatch report` (the polars path): its CSV tables agree with the
//! pure core on the same events — per day with the core's daily series, over
//! the whole period and per agent with `analyze` — and the charts are written.
#![cfg(feature = "reports")]
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use clap::Parser;
use replywatch::cli::{Cli, Command, run_report};
use replywatch::domain::daily::series;
use replywatch::domain::{
    AnalyzeOptions, EventSet, Micros, ReplyPolicy, analyze, derive_requests, parse_rfc3339,
};
use replywatch::files::generate::{GenerateOptions, generate};
use std::collections::HashMap;

/// A CSV file as rows of column → cell.
fn csv(path: &std::path::Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, k: &str) -> Option<f64> {
    let v = &row[k];
    (!v.is_empty()).then(|| v.parse().unwrap())
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (None, None) => {}
        (Some(a), Some(b)) => assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{what}: report {a}, core {b}"
        ),
        _ => panic!("{what}: report {a:?}, core {b:?}"),
    }
}

#[test]
fn the_report_tables_agree_with_the_core_and_the_charts_are_written() {
    let dir = std::env::temp_dir().join(format!("replywatch-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("events.ndjson");
    let opts = GenerateOptions {
        events: 30_000,
        seed: 8,
        accounts: 2,
        end: chrono::DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
            .unwrap()
            .to_utc(),
        days: 10,
    };
    generate(&opts, &mut std::fs::File::create(&input).unwrap(), |_| {}).unwrap();
    let out = dir.join("out");
    let argv = [
        "replywatch",
        "report",
        "--account",
        "acct-0000",
        "--from",
        "2026-10-25",
        "--to",
        "2026-10-31",
        "--timezone",
        "Europe/Istanbul",
        "--out",
        out.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    let Command::Report(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let mut printed = Vec::new();
    run_report(&args, &mut printed).unwrap();

    // The core on the same events: period [Oct 25 00:00, Nov 1 00:00) Istanbul (UTC+3).
    let text = std::fs::read_to_string(&input).unwrap();
    let set = EventSet::from_events(
        text.lines()
            .map(|l| replywatch::domain::MessageEvent::from_json(l.as_bytes()).unwrap()),
    );
    let start = parse_rfc3339("2026-10-24T21:00:00Z").unwrap();
    let end = parse_rfc3339("2026-10-31T21:00:00Z").unwrap();
    let requests = derive_requests(&set, end, ReplyPolicy::operational(false));
    let set_ref = &set;
    let requests_ref = &requests;
    let of_channel = |channel: &str| {
        let channel = channel.to_string();
        let set = set_ref;
        requests_ref.operational.iter().filter(move |r| {
            let s = set.stream(set.stream_of(r.conversation));
            s.account.as_str() == "acct-0000" && (channel == "all" || s.channel.as_str() == channel)
        })
    };
    let daily = csv(&out.join("daily.csv"));
    assert!(
        daily.len() >= 7 * 4,
        "7 days × (3 channels + all): {} rows",
        daily.len()
    );
    let mut cores = HashMap::new();
    for row in &daily {
        let channel = row["channel"].clone();
        let core = cores.entry(channel.clone()).or_insert_with(|| {
            series(
                of_channel(&channel),
                end,
                Micros(end.since(start).0),
                chrono_tz::Europe::Istanbul,
            )
        });
        let day = core
            .days
            .iter()
            .find(|d| d.date.to_string() == row["date"])
            .unwrap();
        let what = format!("{} {}", row["date"], channel);
        // SPEC §4 "Final or not": the polars table and the core agree.
        assert_eq!(row["final"], day.is_final.to_string(), "{what} final");
        close(
            num(row, "requests"),
            Some(day.requests as f64),
            &format!("{what} requests"),
        );
        close(
            num(row, "answered"),
            Some(day.answered as f64),
            &format!("{what} answered"),
        );
        close(
            num(row, "pending"),
            Some(day.pending as f64),
            &format!("{what} pending"),
        );
        close(
            num(row, "hit_ratio_1h"),
            day.hit_ratio_1h,
            &format!("{what} hit_ratio_1h"),
        );
        close(
            num(row, "hit_ratio_24h"),
            day.hit_ratio_24h,
            &format!("{what} hit_ratio_24h"),
        );
        close(
            num(row, "median_first_reply_seconds"),
            day.median_first_reply_seconds,
            &format!("{what} median"),
        );
        close(
            num(row, "p90_first_reply_seconds"),
            day.p90_first_reply_seconds,
            &format!("{what} p90"),
        );
    }

    // summary.csv (issue 19): the period against the 7 days before, as the
    // core's comparison with the previous period (SPEC §4) gives them.
    let compared = replywatch::domain::analyze_with_previous(
        &set,
        &AnalyzeOptions::new(end, Micros(end.since(start).0)),
    );
    let g = compared
        .groups
        .iter()
        .find(|g| g.account == "acct-0000" && g.channel == "all")
        .unwrap();
    let before = g.previous.as_ref().unwrap();
    assert!(
        before.requests > 0,
        "the generator's first days are the previous period"
    );
    let summary: HashMap<String, HashMap<String, String>> = csv(&out.join("summary.csv"))
        .into_iter()
        .map(|row| (row["figure"].clone(), row))
        .collect();
    for (figure, now, then) in [
        (
            "requests",
            Some(g.requests as f64),
            Some(before.requests as f64),
        ),
        ("response_rate", g.response_rate, before.response_rate),
        (
            "median_first_reply_seconds",
            g.median_first_reply_seconds,
            before.median_first_reply_seconds,
        ),
        ("hit_ratio_1h", g.hit_ratio_1h, before.hit_ratio_1h),
    ] {
        let row = &summary[figure];
        close(
            num(row, "current"),
            now,
            &format!("summary {figure} current"),
        );
        close(
            num(row, "previous"),
            then,
            &format!("summary {figure} previous"),
        );
        close(
            num(row, "change"),
            now.zip(then).map(|(n, t)| n - t),
            &format!("summary {figure} change"),
        );
    }

    // Over the whole period, with analyze.
    let mut aopts = AnalyzeOptions::new(end, Micros(end.since(start).0));
    aopts.by_agent = true;
    let report = analyze(&set, &aopts);
    let all = report
        .groups
        .iter()
        .find(|g| g.account == "acct-0000" && g.channel == "all")
        .unwrap();
    let total = |k: &str| {
        daily
            .iter()
            .filter(|r| r["channel"] == "all")
            .map(|r| num(r, k).unwrap())
            .sum::<f64>()
    };
    assert_eq!(total("requests"), all.requests as f64);
    assert_eq!(total("answered"), all.answered as f64);
    assert_eq!(total("badge_conversations"), all.badge_conversations as f64);
    // Each day's oldest pending request is measured at the end of the period.
    let oldest = daily
        .iter()
        .filter(|r| r["channel"] == "all")
        .filter_map(|r| num(r, "oldest_pending_seconds"))
        .fold(0.0_f64, f64::max);
    close(
        Some(oldest),
        all.oldest_pending_seconds,
        "oldest pending over the period",
    );
    let agents = csv(&out.join("agents.csv"));
    for a in all.agents.as_ref().unwrap() {
        let name = a.agent.clone().unwrap_or_default();
        let row = agents
            .iter()
            .find(|r| r["channel"] == "all" && r["agent"] == name)
            .unwrap();
        close(
            num(row, "answered"),
            Some(a.answered as f64),
            &format!("agent {name} answered"),
        );
        close(
            num(row, "median_first_reply_seconds"),
            a.median_first_reply_seconds,
            &format!("agent {name} median"),
        );
        close(
            num(row, "p90_first_reply_seconds"),
            a.p90_first_reply_seconds,
            &format!("agent {name} p90"),
        );
        close(
            num(row, "hit_ratio_1h"),
            a.hit_ratio_1h,
            &format!("agent {name} within 1 h"),
        );
    }
    let requests_csv = csv(&out.join("requests.csv"));
    assert_eq!(requests_csv.len() as u64, all.requests);
    for chart in [
        "first-reply",
        "hit-ratios",
        "volume",
        "distribution",
        "heatmap",
    ] {
        let png = std::fs::read(out.join(format!("{chart}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{chart}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_business_hours_report_measures_in_opening_hours() {
    let dir = std::env::temp_dir().join(format!("replywatch-report-bh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Saturday 10:00 Berlin → Monday 09:05 Berlin; open Mon 09:00-17:00.
    std::fs::write(
        dir.join("events.ndjson"),
        concat!(
            r#"{"id":"1","account":"berlin","channel":"messenger","conversation":"c","from":"customer","at":"2026-10-31T09:00:00Z"}"#, "\n",
            r#"{"id":"2","account":"berlin","channel":"messenger","conversation":"c","from":"agent","agent":"ann","at":"2026-11-02T08:05:00Z"}"#, "\n",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("calendar.json"),
        r#"{"accounts": {"berlin": {"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}}}}"#,
    )
    .unwrap();
    let run = |business: bool| {
        let out = dir.join(if business { "business" } else { "calendar" });
        let mut argv: Vec<String> = [
            "replywatch",
            "report",
            "--account",
            "berlin",
            "--from",
            "2026-10-31",
            "--to",
            "2026-11-02",
            "--calendar",
            dir.join("calendar.json").to_str().unwrap(),
            "--input",
            dir.join("events.ndjson").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if business {
            argv.push("--business-hours".into());
        }
        let Command::Report(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        run_report(&args, &mut Vec::new()).unwrap();
        let agents = csv(&out.join("agents.csv"));
        let row = agents
            .iter()
            .find(|r| r["channel"] == "all" && r["agent"] == "ann")
            .unwrap()
            .clone();
        num(&row, "median_first_reply_seconds").unwrap()
    };
    assert_eq!(
        run(false),
        2.0 * 86_400.0 - 3_300.0,
        "calendar time; dates in the calendar's zone"
    );
    assert_eq!(run(true), 300.0, "five business minutes");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15: a 256-byte account broke every tenant's scheduled run (too
/// long for a folder name), and report CSVs wrote `=HYPERLINK(…)` and
/// `@SUM(…)` from conversation and agent names as they were. Now every
/// account gets its folder (a readable prefix and a hash, `account.txt`
/// naming it) and text cells that a spreadsheet would run start with `'`.
#[test]
fn every_account_gets_its_report_whatever_its_name_and_formula_cells_are_inert() {
    use replywatch::domain::MessageEvent;
    use replywatch::engine::Engine;
    let long = format!("{}/../é", "x".repeat(250));
    assert_eq!(long.len(), 256);
    let line = |id: &str, account: &str, conversation: &str, from: &str, at: &str, agent: &str| {
        let agent = match agent {
            "" => String::new(),
            a => format!(r#","agent":{}"#, serde_json::to_string(a).unwrap()),
        };
        MessageEvent::from_json(
            format!(
                r#"{{"id":"{id}","account":{},"channel":"messenger","conversation":{},"from":"{from}","at":"{at}"{agent}}}"#,
                serde_json::to_string(account).unwrap(),
                serde_json::to_string(conversation).unwrap()
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let formula = r#"=HYPERLINK("http://evil.example","click")"#;
    let mut events = Vec::new();
    for account in [long.as_str(), "acme"] {
        events.push(line(
            "1",
            account,
            formula,
            "customer",
            "2026-11-10T10:00:00Z",
            "",
        ));
        events.push(line(
            "2",
            account,
            formula,
            "agent",
            "2026-11-10T10:20:00Z",
            "@SUM(1+1)",
        ));
        events.push(line(
            "3",
            account,
            "-2+3",
            "customer",
            "2026-11-10T11:00:00Z",
            "",
        ));
    }
    let policy = ReplyPolicy::operational(false);
    let engine = Engine::from_set(EventSet::from_events(events), policy);
    let schedule: replywatch::reports::schedule::Schedule = "daily 00:00 UTC".parse().unwrap();
    let dir = std::env::temp_dir().join(format!("replywatch-report-names-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run_date = chrono::NaiveDate::from_ymd_opt(2026, 11, 11).unwrap();
    let (folder, delivered) = replywatch::reports::schedule::run(
        &engine,
        &schedule,
        run_date,
        &dir,
        &replywatch::domain::CalendarBook::default(),
    )
    .unwrap();
    assert_eq!(delivered.len(), 2, "both accounts' reports are written");
    let mut named = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.len() <= 60, "{name}");
        named.push(std::fs::read_to_string(path.join("account.txt")).unwrap());
        let requests = std::fs::read_to_string(path.join("requests.csv")).unwrap();
        assert!(requests.contains(r#"'=HYPERLINK("#), "{requests}");
        assert!(requests.contains("'-2+3"), "{requests}");
        assert!(!requests.contains(",=HYPERLINK"), "{requests}");
        let agents = std::fs::read_to_string(path.join("agents.csv")).unwrap();
        assert!(agents.contains("'@SUM(1+1)"), "{agents}");
    }
    named.sort();
    assert_eq!(named, ["acme".to_string(), long.clone()]);
    // Pruning keeps the newest runs only.
    for day in 12..16 {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        replywatch::reports::schedule::run(
            &engine,
            &schedule,
            d,
            &dir,
            &replywatch::domain::CalendarBook::default(),
        )
        .unwrap();
    }
    let removed = replywatch::reports::schedule::prune(&dir, &schedule, 2);
    assert_eq!(removed.len(), 3, "{removed:?}");
    let left = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(left, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
