//! `/metrics` content (SPEC §5) rendered from the engine at given instants:
//! names, labels and values equal the core's; undefined gauges are left
//! out; time alone turns pending requests into decided misses; accounts
//! beyond the series bound fold into `_other`.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use replywatch::domain::CalendarBook;
use replywatch::domain::{
    AnalyzeOptions, EventSet, MessageEvent, Micros, ReplyPolicy, analyze, parse_rfc3339,
};
use replywatch::engine::Engine;
use replywatch::telemetry::metrics::{MetricWindow, Metrics};

fn ev(account: &str, conversation: &str, id: &str, from: &str, at: &str) -> MessageEvent {
    MessageEvent::from_json(
        format!(r#"{{"id":"{id}","account":"{account}","channel":"messenger","conversation":"{conversation}","from":"{from}","at":"{at}"}}"#)
            .as_bytes(),
    )
    .unwrap()
}

fn windows() -> Vec<MetricWindow> {
    ["1h", "24h", "7d", "30d"]
        .iter()
        .map(|w| w.parse().unwrap())
        .collect()
}

/// The value of the sample with exactly these labels, if exported.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

fn engine_of(events: Vec<MessageEvent>) -> Engine {
    let mut engine = Engine::from_set(EventSet::new(), ReplyPolicy::operational(false));
    engine.apply(events);
    engine
}

#[test]
fn gauges_equal_the_core_at_the_scrape_instant_and_nulls_are_left_out() {
    let events = vec![
        ev("acme", "c1", "1", "customer", "2026-11-01T10:00:00Z"),
        ev("acme", "c1", "2", "agent", "2026-11-01T10:10:00Z"),
        ev("acme", "c2", "3", "customer", "2026-11-01T11:00:00Z"),
        ev("acme", "c2", "4", "bot", "2026-11-01T11:01:00Z"),
        ev("idle", "c9", "5", "customer", "2026-11-01T11:30:00Z"),
    ];
    let engine = engine_of(events.clone());
    let metrics = Metrics::new(windows(), 100).unwrap();
    let now = parse_rfc3339("2026-11-01T12:00:00Z").unwrap();
    let text = metrics.render(&engine, now, &Default::default());
    let core = analyze(
        &EventSet::from_events(events),
        &AnalyzeOptions::new(now, Micros(7 * 86_400_000_000)),
    );
    let acme = core
        .groups
        .iter()
        .find(|g| g.account == "acme" && g.channel == "all")
        .unwrap();
    let l = r#"account="acme",channel="all",window="7d""#;
    assert_eq!(
        sample(&text, "replywatch_requests", l),
        Some(acme.requests as f64)
    );
    assert_eq!(
        sample(&text, "replywatch_first_reply_median_seconds", l),
        acme.median_first_reply_seconds
    );
    assert_eq!(
        sample(&text, "replywatch_hit_ratio", &format!("{l},within=\"1h\"")),
        acme.hit_ratio_1h
    );
    let b = r#"account="acme",channel="all""#;
    assert_eq!(
        sample(&text, "replywatch_badge_response_seconds", b),
        acme.badge_response_seconds
    );
    assert_eq!(sample(&text, "replywatch_badge_eligible", b), Some(1.0));
    assert_eq!(sample(&text, "replywatch_pending_requests", b), Some(1.0));
    // "idle" has one request, pending 30 minutes: no reply time, no decided request.
    let idle = r#"account="idle",channel="messenger",window="7d""#;
    assert_eq!(sample(&text, "replywatch_requests", idle), Some(1.0));
    assert_eq!(
        sample(&text, "replywatch_first_reply_median_seconds", idle),
        None
    );
    assert_eq!(sample(&text, "replywatch_response_rate_ratio", idle), None);
    assert_eq!(
        sample(
            &text,
            "replywatch_oldest_pending_seconds",
            r#"account="idle",channel="messenger""#
        ),
        Some(1800.0)
    );
    // Label values come from accounts and channels only.
    for id in ["c1", "c2", "c9"] {
        assert!(
            !text.contains(&format!("\"{id}\"")),
            "{id} leaked into a label"
        );
    }
}

#[test]
fn pending_requests_of_several_conversations_add_up_by_age() {
    // Three conversations of one (account, channel): 3 h, 2 h and 10 min
    // waiting at 12:00; the counts are per group, not per conversation.
    let engine = engine_of(vec![
        ev("acme", "c1", "1", "customer", "2026-11-01T09:00:00Z"),
        ev("acme", "c2", "2", "customer", "2026-11-01T10:00:00Z"),
        ev("acme", "c3", "3", "customer", "2026-11-01T11:50:00Z"),
    ]);
    let metrics = Metrics::new(windows(), 100).unwrap();
    let text = metrics.render(
        &engine,
        parse_rfc3339("2026-11-01T12:00:00Z").unwrap(),
        &CalendarBook::default(),
    );
    for channel in ["messenger", "all"] {
        let labels = format!(r#"account="acme",channel="{channel}",age="1h""#);
        assert_eq!(
            sample(&text, "replywatch_pending_older_than", &labels),
            Some(2.0),
            "{channel}"
        );
    }
}

#[test]
fn time_alone_turns_a_pending_request_into_a_decided_miss() {
    let engine = engine_of(vec![ev(
        "acme",
        "c1",
        "1",
        "customer",
        "2026-11-01T10:00:00Z",
    )]);
    let metrics = Metrics::new(windows(), 100).unwrap();
    let l = r#"account="acme",channel="all",window="24h",within="1h""#;
    let p = r#"account="acme",channel="all""#;
    let early = metrics.render(
        &engine,
        parse_rfc3339("2026-11-01T10:59:59Z").unwrap(),
        &CalendarBook::default(),
    );
    assert_eq!(
        sample(&early, "replywatch_hit_ratio", l),
        None,
        "not decided yet"
    );
    assert_eq!(
        sample(
            &early,
            "replywatch_pending_older_than",
            &format!("{p},age=\"1h\"")
        ),
        Some(0.0)
    );
    let later = metrics.render(
        &engine,
        parse_rfc3339("2026-11-01T11:00:00Z").unwrap(),
        &CalendarBook::default(),
    );
    assert_eq!(
        sample(&later, "replywatch_hit_ratio", l),
        Some(0.0),
        "a decided miss at exactly 1 h"
    );
    assert_eq!(
        sample(&later, "replywatch_oldest_pending_seconds", p),
        Some(3600.0)
    );
    assert_eq!(
        sample(
            &later,
            "replywatch_pending_older_than",
            &format!("{p},age=\"1h\"")
        ),
        Some(1.0)
    );
    let day = metrics.render(
        &engine,
        parse_rfc3339("2026-11-02T06:00:00Z").unwrap(),
        &CalendarBook::default(),
    );
    assert_eq!(
        sample(
            &day,
            "replywatch_pending_older_than",
            &format!("{p},age=\"20h\"")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &day,
            "replywatch_pending_older_than",
            &format!("{p},age=\"24h\"")
        ),
        Some(0.0)
    );
}

#[test]
fn accounts_beyond_the_bound_fold_into_other_and_say_so() {
    let mut events = Vec::new();
    for (account, n) in [("big", 6), ("mid", 4), ("small", 2), ("tiny", 1)] {
        for i in 0..n {
            events.push(ev(
                account,
                &format!("c{i}"),
                &format!("{account}{i}"),
                "customer",
                "2026-11-01T10:00:00Z",
            ));
        }
    }
    let engine = engine_of(events);
    let metrics = Metrics::new(windows(), 2).unwrap();
    let text = metrics.render(
        &engine,
        parse_rfc3339("2026-11-01T12:00:00Z").unwrap(),
        &CalendarBook::default(),
    );
    let w = r#"channel="all",window="7d""#;
    assert_eq!(
        sample(
            &text,
            "replywatch_requests",
            &format!("account=\"big\",{w}")
        ),
        Some(6.0)
    );
    assert_eq!(
        sample(
            &text,
            "replywatch_requests",
            &format!("account=\"mid\",{w}")
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            "replywatch_requests",
            &format!("account=\"_other\",{w}")
        ),
        Some(3.0)
    );
    assert!(!text.contains("account=\"small\""));
    assert_eq!(sample(&text, "replywatch_series_folded_accounts", ""), None);
    assert!(
        text.contains("replywatch_series_folded_accounts 2"),
        "the fold is reported"
    );
    assert!(text.contains("replywatch_series_folded_accounts_total 2"));
}

#[test]
fn the_histogram_uses_the_sla_thresholds_as_buckets() {
    let metrics = Metrics::new(windows(), 100).unwrap();
    let mut engine = Engine::from_set(EventSet::new(), ReplyPolicy::operational(false));
    let applied = engine.apply(vec![
        ev("acme", "c1", "1", "customer", "2026-11-01T10:00:00Z"),
        ev("acme", "c1", "2", "agent", "2026-11-01T11:00:00Z"),
    ]);
    metrics.record(&engine, &applied);
    let text = metrics.render(
        &engine,
        parse_rfc3339("2026-11-01T12:00:00Z").unwrap(),
        &CalendarBook::default(),
    );
    let b = |le: &str| {
        sample(
            &text,
            "replywatch_first_reply_seconds_bucket",
            &format!("account=\"acme\",channel=\"messenger\",le=\"{le}\""),
        )
    };
    assert_eq!(b("1800"), Some(0.0));
    assert_eq!(
        b("3600"),
        Some(1.0),
        "a reply after exactly 1 h is within the 1 h bucket"
    );
    assert_eq!(b("86400"), Some(1.0));
    assert!(
        text.contains(
            "replywatch_events_ingested_total{channel=\"messenger\",from=\"customer\"} 1"
        )
    );
}

#[test]
fn accounts_with_a_calendar_get_business_clock_series_too() {
    // Saturday 10:00 → Monday 09:05 in Berlin (open Mon 09:00-17:00): 5 business minutes.
    let engine = engine_of(vec![
        ev("berlin", "c1", "1", "customer", "2026-10-31T09:00:00Z"),
        ev("berlin", "c1", "2", "agent", "2026-11-02T08:05:00Z"),
        ev("plain", "c1", "3", "customer", "2026-10-31T09:00:00Z"),
        ev("plain", "c1", "4", "agent", "2026-11-02T08:05:00Z"),
    ]);
    let book = CalendarBook::from_json(
        r#"{"accounts": {"berlin": {"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}}}}"#,
    )
    .unwrap();
    let metrics = Metrics::new(windows(), 100).unwrap();
    let text = metrics.render(
        &engine,
        parse_rfc3339("2026-11-03T00:00:00Z").unwrap(),
        &book,
    );
    let l = |a: &str| format!("account=\"{a}\",channel=\"messenger\",window=\"7d\"");
    let wall = 2.0 * 86_400.0 - 55.0 * 60.0;
    assert_eq!(
        sample(&text, "replywatch_first_reply_median_seconds", &l("berlin")),
        Some(wall)
    );
    assert_eq!(
        sample(
            &text,
            "replywatch_first_reply_median_seconds",
            &format!("{},clock=\"business\"", l("berlin"))
        ),
        Some(300.0)
    );
    assert!(
        !text.contains("account=\"plain\",channel=\"messenger\",window=\"7d\",clock"),
        "no calendar, no business series"
    );
    // The badge stays in calendar time: no clock label on it.
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("replywatch_badge") && l.contains("clock="))
    );
}

#[test]
fn agent_series_appear_only_when_enabled_and_are_bounded() {
    let mut events = Vec::new();
    for (i, agent) in ["ann", "ann", "bob", "cid"].iter().enumerate() {
        let c = format!("c{i}");
        events.push(ev(
            "acme",
            &c,
            &format!("q{i}"),
            "customer",
            "2026-11-01T10:00:00Z",
        ));
        let mut reply = ev(
            "acme",
            &c,
            &format!("r{i}"),
            "agent",
            "2026-11-01T10:10:00Z",
        );
        reply.agent = Some(replywatch::domain::AgentName::parse(agent).unwrap());
        events.push(reply);
    }
    let engine = engine_of(events);
    let now = parse_rfc3339("2026-11-01T12:00:00Z").unwrap();
    let off = Metrics::new(windows(), 100)
        .unwrap()
        .render(&engine, now, &Default::default());
    assert!(!off.contains("replywatch_agent_"));
    let on = Metrics::with_agents(windows(), 100, Some(1))
        .unwrap()
        .render(&engine, now, &Default::default());
    let l =
        |agent: &str| format!("account=\"acme\",channel=\"all\",window=\"7d\",agent=\"{agent}\"");
    assert_eq!(
        sample(&on, "replywatch_agent_answered", &l("ann")),
        Some(2.0)
    );
    assert_eq!(
        sample(&on, "replywatch_agent_answered", &l("_other")),
        Some(2.0),
        "bob and cid folded"
    );
    assert_eq!(sample(&on, "replywatch_agent_answered", &l("bob")), None);
    assert!(on.contains("replywatch_series_folded_agents 2"));
}

/// Issue 15: one account with 20,000 channel names gave 280,025 series,
/// and the ingestion counters never shrank. With `--max-series` the least
/// busy pairs fold into channel="_other", the counters move their counts
/// there (totals stay exact), and the scrape stays within the budget.
#[test]
fn twenty_thousand_channels_stay_within_the_series_budget() {
    let mut events = Vec::new();
    let line = |id: String, channel: String, from: &str| {
        MessageEvent::from_json(
            format!(r#"{{"id":"{id}","account":"a","channel":"{channel}","conversation":"c","from":"{from}","at":"2026-11-01T10:00:00Z"}}"#)
                .as_bytes(),
        )
        .unwrap()
    };
    // The busiest channel has 5 events; 20,000 others one each.
    for i in 0..5 {
        events.push(line(format!("busy{i}"), "messenger".into(), "customer"));
    }
    for i in 0..20_000 {
        events.push(line(format!("m{i}"), format!("ch{i}"), "customer"));
    }
    let mut engine = Engine::from_set(EventSet::new(), ReplyPolicy::operational(false));
    let metrics = Metrics::new(windows(), 100)
        .unwrap()
        .with_max_series(20_000);
    let applied = engine.apply(events);
    metrics.record(&engine, &applied);
    let text = metrics.render(
        &engine,
        parse_rfc3339("2026-11-01T12:00:00Z").unwrap(),
        &CalendarBook::default(),
    );
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    assert!(series <= 20_000, "{series} series");
    assert!(
        text.contains(r#"replywatch_requests{account="a",channel="messenger",window="7d"} 1"#),
        "the busiest channel keeps its name"
    );
    assert!(text.contains(r#"channel="_other""#));
    let ingested: f64 = text
        .lines()
        .filter(|l| l.starts_with("replywatch_events_ingested_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(ingested, 20_005.0, "counts moved to _other, none lost");
    let counter_series = text
        .lines()
        .filter(|l| l.starts_with("replywatch_events_ingested_total{"))
        .count();
    assert!(counter_series < 1_000, "{counter_series} counter series");
    assert!(text.contains("replywatch_series_folded_channels "));
}

/// The sum of a counter's samples whose labels contain every `needle`.
fn counter_sum(text: &str, name: &str, needles: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The value of an unlabelled sample.
fn plain(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|v| v.parse().unwrap())
}

/// SPEC §3's decided-for-h, written from the text: at T, a request (as
/// derived from the events before T) is decided when answered within h or
/// open for at least h; a hit when answered within h.
fn decided(
    r: &replywatch::domain::Request,
    t: replywatch::domain::Timestamp,
    h: Micros,
) -> Option<bool> {
    let hit = r.reply.is_some_and(|x| x.at.since(r.opened_at) <= h);
    (hit || t.since(r.opened_at) >= h).then_some(hit)
}

/// Issue 20 / SPEC §5: `replywatch_requests_decided_total` driven through
/// time with no new events (refreshes at irregular steps over five days)
/// counts, per threshold, exactly the requests that became decided between
/// the first refresh and the last, with the core's outcome — including
/// the misses of requests that are never answered.
#[test]
fn the_decided_counter_follows_the_passage_of_time_like_the_core() {
    use replywatch::domain::decisions::DECISION_THRESHOLDS;
    use replywatch::domain::derive_requests;
    let opts = replywatch::files::generate::GenerateOptions {
        events: 6_000,
        seed: 17,
        accounts: 3,
        end: chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .to_utc(),
        days: 6,
    };
    let mut out = Vec::new();
    replywatch::files::generate::generate(&opts, &mut out, |_| {}).unwrap();
    let events: Vec<MessageEvent> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| MessageEvent::from_json(l.as_bytes()).unwrap())
        .collect();
    let engine = engine_of(events);
    let metrics = Metrics::new(windows(), 100).unwrap();
    let t0 = parse_rfc3339("2026-10-29T00:00:00Z").unwrap();
    let end = parse_rfc3339("2026-11-03T00:00:00Z").unwrap();
    let mut t = t0;
    let mut step = 0i64;
    while t < end {
        metrics.refresh(&engine, t, &Default::default());
        step += 1;
        t = t.plus(Micros::from_seconds(600 + (step * 7_919) % 3_000));
    }
    metrics.refresh(&engine, end, &Default::default());
    let text = metrics.scrape().unwrap();
    let policy = ReplyPolicy::operational(false);
    let before = derive_requests(engine.set(), t0, policy).operational;
    let after = derive_requests(engine.set(), end, policy).operational;
    let known: std::collections::HashMap<_, _> = before
        .iter()
        .map(|r| ((r.conversation, r.opened_at), *r))
        .collect();
    for (label, seconds) in DECISION_THRESHOLDS {
        let h = Micros::from_seconds(seconds);
        let (mut hits, mut misses) = (0u64, 0u64);
        for r in &after {
            let was = known
                .get(&(r.conversation, r.opened_at))
                .and_then(|b| decided(b, t0, h));
            match (was, decided(r, end, h)) {
                (None, Some(true)) => hits += 1,
                (None, Some(false)) => misses += 1,
                _ => {}
            }
        }
        let within = format!("within=\"{label}\"");
        let got_hits = counter_sum(
            &text,
            "replywatch_requests_decided_total",
            &[&within, "outcome=\"hit\""],
        );
        let got_misses = counter_sum(
            &text,
            "replywatch_requests_decided_total",
            &[&within, "outcome=\"miss\""],
        );
        assert_eq!(
            (got_hits, got_misses),
            (hits as f64, misses as f64),
            "within {label}"
        );
        assert!(
            misses > 0 && hits > 0,
            "within {label}: the data exercises both outcomes"
        );
    }
    assert_eq!(
        plain(&text, "replywatch_decisions_revised_total"),
        Some(0.0)
    );
    assert!(
        !text.contains(r#"channel="all",within"#),
        "counters carry real channels only (sum() adds up)"
    );
}

/// SPEC §5: a late event changes no counted decision — a reply arriving
/// after its request was counted a miss is a revision; a decision a late
/// event makes for an instant already past (a reply in time for a longer
/// threshold, a request nobody knew of) is counted when it arrives.
#[test]
fn late_events_are_counted_on_arrival_or_as_revisions() {
    let metrics = Metrics::new(windows(), 100).unwrap();
    let mut engine = engine_of(vec![ev(
        "a",
        "c1",
        "q1",
        "customer",
        "2026-11-01T10:00:00Z",
    )]);
    let refresh = |engine: &Engine, at: &str| {
        metrics.refresh(engine, parse_rfc3339(at).unwrap(), &Default::default())
    };
    refresh(&engine, "2026-11-01T09:59:00Z"); // counting starts
    refresh(&engine, "2026-11-01T12:00:00Z"); // open for 2 h: misses for 1m … 1h
    let count = |outcome: &str| {
        let text = metrics.scrape().unwrap();
        counter_sum(
            &text,
            "replywatch_requests_decided_total",
            &[&format!("outcome=\"{outcome}\"")],
        )
    };
    assert_eq!((count("hit"), count("miss")), (0.0, 5.0));
    // The reply was sent at 10:10 but arrives now: within 15m, 30m and 1h it
    // would have been a hit (revisions); 4h … 24h were not decided at 12:00
    // and are hits at once; 1m and 5m stay misses.
    let applied = engine.apply([ev("a", "c1", "r1", "agent", "2026-11-01T10:10:00Z")]);
    metrics.record(&engine, &applied);
    // A customer message of three days ago that nobody had: 9 misses.
    let applied = engine.apply([ev("a", "c2", "q2", "customer", "2026-10-29T10:00:00Z")]);
    metrics.record(&engine, &applied);
    refresh(&engine, "2026-11-01T13:00:00Z");
    let text = metrics.scrape().unwrap();
    assert_eq!((count("hit"), count("miss")), (4.0, 14.0), "{text}");
    assert_eq!(
        plain(&text, "replywatch_decisions_revised_total"),
        Some(3.0)
    );
}
