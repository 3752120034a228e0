//! The contract test: every case of `../shared/golden` through the core, with
//! its own `args`, must equal `expected.json`. A failure names the case and
//! the field.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use clap::Parser;
use common::{differences, golden_cases};
use replywatch::cli::{Cli, Command, run_analyze};

fn analyze_case(case: &common::GoldenCase, extra: &[&str]) -> serde_json::Value {
    let argv = ["replywatch", "analyze", "--input", "events.ndjson"]
        .into_iter()
        .map(String::from)
        .chain(case.args.iter().cloned())
        .chain(extra.iter().map(|s| s.to_string()));
    let Command::Analyze(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run_analyze(&args, &case.dir, &mut out, &mut err)
        .unwrap_or_else(|e| panic!("{}: {e:#}", case.name));
    serde_json::from_slice(&out).unwrap()
}

fn check_all(extra: &[&str]) {
    let mut failures = Vec::new();
    for case in golden_cases() {
        let actual = analyze_case(&case, extra);
        for d in differences(&actual, &case.expected) {
            failures.push(format!("{}: {d}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_golden_case_matches_through_the_core() {
    check_all(&[]);
}

#[test]
fn every_golden_case_matches_on_one_thread() {
    check_all(&["--threads", "1"]);
}

#[test]
fn the_comparison_names_the_case_field_that_differs() {
    let case = &golden_cases()[0];
    let mut wrong = case.expected.clone();
    wrong["groups"][0]["median_first_reply_seconds"] = serde_json::json!(1.5);
    wrong["groups"][1]["badge_blockers"] = serde_json::json!(["response_rate 0.00 < 0.90"]);
    let d = differences(&analyze_case(case, &[]), &wrong);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d[0].contains("groups[0](acme/messenger).median_first_reply_seconds"),
        "{d:?}"
    );
}

/// The streaming engine, fed each case's events in shuffled batches, gives
/// the expected figures (STYLE: golden parity for every implementation).
#[test]
fn every_golden_case_matches_through_the_engine_fed_in_shuffled_batches() {
    use replywatch::domain::stats::analyze_windows;
    use replywatch::domain::{EventSet, MessageEvent, ReplyPolicy};
    use replywatch::engine::Engine;
    let mut failures = Vec::new();
    for case in golden_cases() {
        let argv = ["replywatch", "analyze", "--input", "events.ndjson"]
            .into_iter()
            .map(String::from)
            .chain(case.args.iter().cloned());
        let Command::Analyze(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let opts = args.options(&case.dir).unwrap();
        let text = std::fs::read_to_string(case.dir.join("events.ndjson")).unwrap();
        let events: Vec<MessageEvent> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| MessageEvent::from_json(l.as_bytes()).unwrap())
            .collect();
        for seed in 1..=5 {
            let shuffled = common::shuffle_keeping_key_order(events.clone(), seed);
            let policy = ReplyPolicy::operational(opts.bots_count_as_replies);
            let mut engine = Engine::from_set(EventSet::new(), policy);
            for batch in shuffled.chunks(1 + seed as usize) {
                engine.apply(batch.to_vec());
            }
            let report = analyze_windows(engine.set(), &opts, &[opts.window], &engine).remove(0);
            let actual = serde_json::to_value(&report).unwrap();
            for d in differences(&actual, &case.expected) {
                failures.push(format!("{} (seed {seed}): {d}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "engine mismatches:\n{}",
        failures.join("\n")
    );
}
