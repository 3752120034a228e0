//! The streaming engine equals the pure core: random streams from the
//! generator, fed in shuffled batches, compared with `analyze` at several
//! instants (including ones with events after them) and windows at once.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use replywatch::domain::stats::analyze_windows;
use replywatch::domain::{
    AnalyzeOptions, EventSet, MessageEvent, Micros, ReplyPolicy, analyze, parse_rfc3339,
};
use replywatch::engine::Engine;
use replywatch::files::generate::{GenerateOptions, generate};

fn stream(events: u64, seed: u64) -> Vec<MessageEvent> {
    let opts = GenerateOptions {
        events,
        seed,
        accounts: 4,
        end: chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        days: 6,
    };
    let mut out = Vec::new();
    generate(&opts, &mut out, |_| {}).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| MessageEvent::from_json(l.as_bytes()).unwrap())
        .collect()
}

const HOUR: i64 = 3_600_000_000;

#[test]
fn the_engine_fed_in_any_order_equals_analyze_at_every_instant_and_window() {
    let windows = [
        Micros(HOUR),
        Micros(24 * HOUR),
        Micros(7 * 24 * HOUR),
        Micros(30 * 24 * HOUR),
    ];
    for seed in [1, 2, 3] {
        let events = stream(20_000, seed);
        let core_set = EventSet::from_events(events.clone());
        for bots in [false, true] {
            let shuffled =
                common::shuffle_keeping_key_order(events.clone(), seed * 10 + bots as u64);
            let mut engine = Engine::from_set(EventSet::new(), ReplyPolicy::operational(bots));
            let mut rng = replywatch::files::generate::Rng::new(seed);
            let mut rest = shuffled.as_slice();
            while !rest.is_empty() {
                let n = (1 + rng.below(700) as usize).min(rest.len());
                engine.apply(rest[..n].to_vec());
                rest = &rest[n..];
            }
            for as_of in [
                "2026-10-27T13:30:00Z",
                "2026-10-30T00:00:00Z",
                "2026-11-01T00:00:00Z",
                "2026-11-03T08:00:00Z",
            ] {
                let mut opts = AnalyzeOptions::new(parse_rfc3339(as_of).unwrap(), windows[0]);
                opts.bots_count_as_replies = bots;
                opts.by_agent = true;
                let from_engine = analyze_windows(engine.set(), &opts, &windows, &engine);
                for (w, report) in windows.iter().zip(from_engine) {
                    opts.window = *w;
                    let expected = serde_json::to_value(analyze(&core_set, &opts)).unwrap();
                    let d = common::differences(&serde_json::to_value(&report).unwrap(), &expected);
                    assert!(
                        d.is_empty(),
                        "seed {seed}, bots {bots}, as_of {as_of}, window {w:?}:\n{}",
                        d.join("\n")
                    );
                }
            }
        }
    }
}

#[test]
fn rebuilding_from_the_set_gives_the_same_figures_as_feeding_it() {
    let events = stream(5_000, 9);
    let mut fed = Engine::from_set(EventSet::new(), ReplyPolicy::operational(false));
    fed.apply(events.clone());
    let rebuilt = Engine::from_set(
        EventSet::from_events(events),
        ReplyPolicy::operational(false),
    );
    let opts = AnalyzeOptions::new(
        parse_rfc3339("2026-11-01T00:00:00Z").unwrap(),
        Micros(7 * 24 * HOUR),
    );
    let a = analyze_windows(fed.set(), &opts, &[opts.window], &fed);
    let b = analyze_windows(rebuilt.set(), &opts, &[opts.window], &rebuilt);
    assert_eq!(
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap()
    );
}

#[test]
fn a_request_is_observed_once_when_it_becomes_answered_even_by_a_late_event() {
    let ev = |id: &str, from: &str, at: &str| {
        MessageEvent::from_json(
            format!(r#"{{"id":"{id}","account":"a","channel":"messenger","conversation":"c","from":"{from}","at":"{at}"}}"#).as_bytes(),
        )
        .unwrap()
    };
    let mut engine = Engine::from_set(EventSet::new(), ReplyPolicy::operational(false));
    let applied = engine.apply(vec![ev("1", "customer", "2026-11-01T10:00:00Z")]);
    assert!(applied.answered.is_empty());
    let applied = engine.apply(vec![ev("3", "agent", "2026-11-01T10:30:00Z")]);
    assert_eq!(applied.answered.len(), 1);
    assert_eq!(applied.answered[0].first_reply, Micros(1_800_000_000));
    // A late, earlier reply changes the first-reply time but is not a new answer.
    let applied = engine.apply(vec![ev("2", "agent", "2026-11-01T10:05:00Z")]);
    assert!(applied.answered.is_empty());
    assert_eq!(applied.new.len(), 1);
    let again = engine.apply(vec![ev("2", "agent", "2026-11-01T10:05:00Z")]);
    assert_eq!(again.duplicates.len(), 1);
}

#[test]
fn the_engines_requests_at_an_instant_equal_a_fresh_walk() {
    let events = stream(5_000, 4);
    let mut engine = Engine::from_set(EventSet::new(), ReplyPolicy::operational(false));
    engine.apply(common::shuffle_keeping_key_order(events, 4));
    for as_of in [
        "2026-10-28T00:00:00Z",
        "2026-11-01T00:00:00Z",
        "2026-11-05T00:00:00Z",
    ] {
        let at = parse_rfc3339(as_of).unwrap();
        let mut cached: Vec<_> = engine.operational_at(at).collect();
        let mut walked =
            replywatch::domain::derive_requests(engine.set(), at, ReplyPolicy::operational(false))
                .operational;
        cached.sort_by_key(|r| (r.conversation, r.opened_at));
        walked.sort_by_key(|r| (r.conversation, r.opened_at));
        assert_eq!(cached, walked, "as of {as_of}");
        assert!(!cached.is_empty());
    }
}

/// Issue 15: a late event re-walked its whole conversation and compared
/// every request with every earlier one. Now the walk resumes after the
/// last reply before the new event; the result must equal an engine built
/// from scratch, wherever in a long conversation the event lands (before
/// everything, between a request and its reply, at a reply's instant, at
/// the end), and the first-reply histogram must see each newly answered
/// request exactly once.
#[test]
fn a_late_event_anywhere_in_a_long_conversation_gives_the_figures_of_a_fresh_build() {
    let at = |s: i64| {
        replywatch::domain::Timestamp::from_unix_micros(1_780_000_000_000_000 + s * 1_000_000)
            .to_string()
    };
    let ev = |id: String, from: &str, s: i64| {
        MessageEvent::from_json(
            format!(r#"{{"id":"{id}","account":"a","channel":"messenger","conversation":"long","from":"{from}","at":"{}"}}"#, at(s))
                .as_bytes(),
        )
        .unwrap()
    };
    // 2,000 customer/agent pairs, an hour apart; some left unanswered.
    let mut base = Vec::new();
    for i in 0..2_000i64 {
        base.push(ev(format!("c{i}"), "customer", i * 3600));
        if i % 7 != 3 {
            base.push(ev(format!("a{i}"), "agent", i * 3600 + 60 + i % 50));
        }
    }
    let late = [
        ev("early".into(), "customer", -10),
        ev("mid-agent".into(), "agent", 1000 * 3600 + 5),
        ev("same-instant".into(), "bot", 500 * 3600 + 60),
        ev("unanswered-gets-reply".into(), "agent", 3 * 3600 + 1800),
        ev("mid-customer".into(), "customer", 1500 * 3600 + 30),
        ev("end".into(), "customer", 2_000 * 3600),
    ];
    let policy = ReplyPolicy::operational(false);
    let as_of = parse_rfc3339(&at(2_001 * 3600)).unwrap();
    let opts = AnalyzeOptions::new(as_of, Micros(200 * 24 * HOUR));
    let mut engine = Engine::from_set(EventSet::from_events(base.clone()), policy);
    let mut all = base.clone();
    for e in late {
        all.push(e.clone());
        let answered_before: usize = engine
            .operational_requests()
            .map(|(_, r)| r.iter().filter(|x| x.reply.is_some()).count())
            .sum();
        let applied = engine.apply([e]);
        let answered_after: usize = engine
            .operational_requests()
            .map(|(_, r)| r.iter().filter(|x| x.reply.is_some()).count())
            .sum();
        assert!(applied.answered.len() <= answered_after.saturating_sub(answered_before) + 1);
        let fresh = Engine::from_set(EventSet::from_events(all.clone()), policy);
        let got = analyze_windows(engine.set(), &opts, &[opts.window], &engine);
        let want = analyze_windows(fresh.set(), &opts, &[opts.window], &fresh);
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            serde_json::to_value(&want).unwrap(),
            "after {} events",
            all.len()
        );
        let requests = |e: &Engine| -> Vec<_> {
            e.operational_requests()
                .flat_map(|(_, r)| {
                    r.iter()
                        .map(|x| (x.opened_at, x.reply.map(|y| y.at), x.new_conversation))
                })
                .collect()
        };
        assert_eq!(requests(&engine), requests(&fresh));
    }
}
