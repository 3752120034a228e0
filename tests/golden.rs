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

/// A case's analyze options (from its `args`) and its events.
fn options_and_events(
    case: &common::GoldenCase,
) -> (
    replywatch::domain::AnalyzeOptions,
    Vec<replywatch::domain::MessageEvent>,
) {
    let argv = ["replywatch", "analyze", "--input", "events.ndjson"]
        .into_iter()
        .map(String::from)
        .chain(case.args.iter().cloned());
    let Command::Analyze(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let text = std::fs::read_to_string(case.dir.join("events.ndjson")).unwrap();
    let events = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| replywatch::domain::MessageEvent::from_json(l.as_bytes()).unwrap())
        .collect();
    (args.options(&case.dir).unwrap(), events)
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

/// SPEC §4 comparison with the previous period: the golden-next case
/// (`--compare-previous`) through the core, on one thread and on all.
#[test]
fn the_comparison_with_the_previous_period_matches_its_golden_case() {
    let cases = common::golden_next_cases();
    assert!(
        cases
            .iter()
            .any(|c| c.args.iter().any(|a| a == "--compare-previous")),
        "the golden-next case of the comparison is there"
    );
    let mut failures = Vec::new();
    for case in &cases {
        for extra in [&[][..], &["--threads", "1"][..]] {
            for d in differences(&analyze_case(case, extra), &case.expected) {
                failures.push(format!("{} {extra:?}: {d}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

/// The same through the service's engine (what `/v1/stats?compare=previous`
/// computes), fed in shuffled batches.
#[test]
fn the_comparison_through_the_engine_matches_its_golden_case() {
    use replywatch::domain::stats::analyze_compared;
    use replywatch::domain::{EventSet, ReplyPolicy};
    use replywatch::engine::Engine;
    for case in common::golden_next_cases() {
        let (opts, events) = options_and_events(&case);
        for seed in 1..=3 {
            let shuffled = common::shuffle_keeping_key_order(events.clone(), seed);
            let policy = ReplyPolicy::operational(opts.bots_count_as_replies);
            let mut engine = Engine::from_set(EventSet::new(), policy);
            for batch in shuffled.chunks(1 + seed as usize) {
                engine.apply(batch.to_vec());
            }
            let actual =
                serde_json::to_value(analyze_compared(engine.set(), &opts, &engine)).unwrap();
            let d = differences(&actual, &case.expected);
            assert!(
                d.is_empty(),
                "{} (seed {seed}): {}",
                case.name,
                d.join("\n")
            );
        }
    }
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
    use replywatch::domain::{EventSet, ReplyPolicy};
    use replywatch::engine::Engine;
    let mut failures = Vec::new();
    for case in golden_cases() {
        let (opts, events) = options_and_events(&case);
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

/// SPEC §4 "Final or not", on every golden case's data: at the case's
/// instant, a day of an account is final exactly when none of its requests
/// is pending and less than 24 h old (the rule written from the text over
/// the core's requests), and a final day stays final at every later instant.
#[test]
fn a_day_is_final_exactly_when_no_request_of_it_is_pending_and_younger_than_24_hours() {
    use replywatch::domain::daily::series;
    use replywatch::domain::{EventSet, Micros, ReplyPolicy, derive_requests, parse_rfc3339};
    let mut checked = 0;
    for case in golden_cases() {
        let as_of = case
            .expected
            .get("as_of")
            .and_then(|v| v.as_str())
            .and_then(parse_rfc3339)
            .unwrap_or_else(|| panic!("{}: expected.json names its as_of", case.name));
        let text = std::fs::read_to_string(case.dir.join("events.ndjson")).unwrap();
        let set = EventSet::from_events(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| replywatch::domain::MessageEvent::from_json(l.as_bytes()).ok()),
        );
        let window = Micros(3_650 * 86_400_000_000);
        for (step, later) in [(0, 0i64), (1, 6), (2, 30)] {
            let at = as_of.plus(Micros::from_seconds(later * 3_600));
            let requests = derive_requests(&set, at, ReplyPolicy::operational(false)).operational;
            let days = series(&requests, at, window, chrono_tz::UTC).days;
            for day in &days {
                let young_pending = requests.iter().any(|r| {
                    r.opened_at.to_datetime().date_naive() == day.date
                        && r.reply.is_none_or(|x| x.at >= at)
                        && at.since(r.opened_at) < Micros::from_seconds(86_400)
                });
                assert_eq!(
                    day.is_final, !young_pending,
                    "{} day {} step {step}",
                    case.name, day.date
                );
                checked += 1;
            }
        }
        // Monotonic: final at the instant stays final 6 h and 30 h later.
        let at_as_of = series(
            &derive_requests(&set, as_of, ReplyPolicy::operational(false)).operational,
            as_of,
            window,
            chrono_tz::UTC,
        );
        let later = as_of.plus(Micros::from_seconds(30 * 3_600));
        let after = series(
            &derive_requests(&set, later, ReplyPolicy::operational(false)).operational,
            later,
            window,
            chrono_tz::UTC,
        );
        for d in at_as_of.days.iter().filter(|d| d.is_final) {
            let then = after.days.iter().find(|x| x.date == d.date).unwrap();
            assert!(then.is_final, "{}: {} final, then not", case.name, d.date);
        }
    }
    assert!(checked > 0);
}
