//! Property tests of SPEC §2–3: the figures depend only on the set of
//! distinct events, never on order, re-deliveries, later conflicting
//! versions or how the input is split across accounts (events at
//! sub-second instants and after `as_of` included); the badge rule holds
//! on the published figures; business seconds behave like a length and
//! equal a minute-by-minute count.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use proptest::prelude::*;
use replywatch::domain::{
    AccountId, AgentName, AnalyzeOptions, CalendarBook, ChannelName, ConversationId, EventId,
    EventSet, MessageEvent, Micros, Sender, StatsReport, Timestamp, analyze, parse_rfc3339,
};

fn base() -> Timestamp {
    parse_rfc3339("2026-10-20T00:00:00Z").unwrap()
}

fn as_of() -> Timestamp {
    parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
}

/// Events over ~13 days — some at or after `as_of` (not happened yet) —
/// on a coarse time grid so that ties happen, half of them at sub-second
/// instants.
fn events() -> impl Strategy<Value = Vec<MessageEvent>> {
    let one = (
        0..3u8,
        0..2u8,
        0..4u8,
        0..4u8,
        0..(13 * 24 * 12u32),
        prop::option::of(0..3u8),
        prop::option::of(1..1_000_000i64),
    );
    prop::collection::vec(one, 1..60).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(
                |(i, (account, channel, conv, from, five_minutes, agent, micros))| MessageEvent {
                    id: EventId::parse(&format!("m{i}")).unwrap(),
                    account: AccountId::parse(&format!("acct{account}")).unwrap(),
                    channel: ChannelName::parse(["messenger", "whatsapp"][channel as usize])
                        .unwrap(),
                    conversation: ConversationId::parse(&format!("c{conv}")).unwrap(),
                    from: Sender::ALL[from as usize],
                    at: base()
                        .plus(Micros::from_seconds(i64::from(five_minutes) * 300))
                        .plus(Micros(micros.unwrap_or(0))),
                    agent: agent.map(|a| AgentName::parse(&format!("agent{a}")).unwrap()),
                },
            )
            .collect()
    })
}

fn options(window_hours: i64, bots: bool) -> AnalyzeOptions {
    let mut o = AnalyzeOptions::new(as_of(), Micros::from_seconds(window_hours * 3600));
    o.bots_count_as_replies = bots;
    o.by_agent = true;
    o.calendars = CalendarBook::from_json(
        r#"{"accounts":{"acct1":{"timezone":"Europe/Berlin",
            "weekly":{"mon":[["09:00","17:00"]],"tue":[["09:00","12:00"],["13:00","17:00"]],"sat":[["10:00","24:00"]]},
            "holidays":["2026-10-26"]}}}"#,
    )
    .unwrap();
    o
}

fn report(events: &[MessageEvent], opts: &AnalyzeOptions) -> StatsReport {
    analyze(&EventSet::from_events(events.iter().cloned()), opts)
}

/// A deterministic shuffle driven by `seed`.
fn shuffled<T: Clone>(v: &[T], seed: u64) -> Vec<T> {
    let mut rng = replywatch::files::generate::Rng::new(seed);
    let mut out = v.to_vec();
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i as u64 + 1) as usize);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn order_and_redelivery_never_change_the_figures(
        events in events(), seed in any::<u64>(), dups in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        window_hours in 1i64..400, bots in any::<bool>(),
    ) {
        let opts = options(window_hours, bots);
        let expected = report(&events, &opts);
        let mut again = events.clone();
        again.extend(dups.iter().map(|i| i.get(&events).clone()));
        prop_assert_eq!(report(&shuffled(&again, seed), &opts), expected);
    }

    /// SPEC §2: a duplicate id whose content differs keeps the first
    /// version seen: later conflicting versions change nothing.
    #[test]
    fn conflicting_versions_arriving_later_never_change_the_figures(
        events in events(), picks in prop::collection::vec((any::<prop::sample::Index>(), 1..3600i64, 0..4usize), 1..10),
        window_hours in 1i64..400,
    ) {
        let opts = options(window_hours, false);
        let expected = report(&events, &opts);
        let mut with_conflicts = events.clone();
        for (i, shift, from) in &picks {
            let mut other = i.get(&events).clone();
            other.at = other.at.plus(Micros::from_seconds(*shift));
            other.from = Sender::ALL[*from];
            with_conflicts.push(other);
        }
        prop_assert_eq!(report(&with_conflicts, &opts), expected);
    }

    #[test]
    fn splitting_the_input_across_accounts_never_changes_the_figures(events in events(), window_hours in 1i64..400) {
        let opts = options(window_hours, false);
        let whole = report(&events, &opts);
        let mut parts = Vec::new();
        for account in ["acct0", "acct1", "acct2"] {
            let mine: Vec<_> = events.iter().filter(|e| e.account.as_str() == account).cloned().collect();
            parts.extend(report(&mine, &opts).groups);
        }
        prop_assert_eq!(parts, whole.groups);
    }

    #[test]
    fn figures_keep_their_identities(events in events(), window_hours in 1i64..400, bots in any::<bool>()) {
        for g in report(&events, &options(window_hours, bots)).groups {
            prop_assert_eq!(g.answered + g.pending, g.requests);
            for r in [g.response_rate, g.hit_ratio_1h, g.hit_ratio_24h, g.badge_response_rate].into_iter().flatten() {
                prop_assert!((0.0..=1.0).contains(&r));
            }
            // SPEC §3: eligible exactly when both published figures meet
            // Meta's thresholds (not merely "no blocker was written").
            let meets = g.badge_response_rate.is_some_and(|r| r >= 0.90)
                && g.badge_response_seconds.is_some_and(|s| s <= 900.0);
            prop_assert_eq!(g.badge_eligible, meets);
            prop_assert_eq!(g.badge_blockers.is_empty(), meets);
            prop_assert_eq!(g.median_first_reply_seconds.is_some(), g.answered > 0);
            prop_assert_eq!(g.oldest_pending_seconds.is_some(), g.pending > 0);
            if let (Some(m), Some(p)) = (g.median_first_reply_seconds, g.p90_first_reply_seconds) {
                prop_assert!(m <= p + 1e-9);
            }
            let agents = g.agents.unwrap_or_default();
            prop_assert_eq!(agents.iter().map(|a| a.answered).sum::<u64>(), g.answered);
        }
    }
}

/// What a random calendar says, for a brute-force oracle: its zone, the
/// opening hours per weekday (Monday first) and its holiday.
#[derive(Debug, Clone)]
struct Hours {
    zone: chrono_tz::Tz,
    days: Vec<Vec<(u32, u32)>>,
    holiday: Option<chrono::NaiveDate>,
}

impl Hours {
    /// Open at `t` (a minute's start): its local weekday and hour fall in
    /// an opening interval and its local date is not the holiday.
    fn open_at(&self, t: Timestamp) -> bool {
        use chrono::{Datelike, Timelike};
        let local = chrono::DateTime::from_timestamp_micros(t.unix_micros())
            .unwrap()
            .with_timezone(&self.zone);
        if Some(local.date_naive()) == self.holiday {
            return false;
        }
        let day = local.weekday().num_days_from_monday() as usize;
        let hour = local.hour();
        self.days[day].iter().any(|&(s, e)| s <= hour && hour < e)
    }
}

/// A random calendar: a zone with daylight saving or not, a few intervals a
/// day, maybe a holiday.
fn calendar() -> impl Strategy<Value = CalendarBook> {
    calendar_and_hours().prop_map(|(book, _)| book)
}

fn calendar_and_hours() -> impl Strategy<Value = (CalendarBook, Hours)> {
    let zones = prop::sample::select(vec![
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ]);
    let day = prop::collection::vec((0u32..24, 1u32..6), 0..3);
    (
        zones,
        prop::collection::vec(day, 7),
        prop::option::of(0u32..40),
    )
        .prop_map(|(zone, days, holiday)| {
            let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let mut hours = Vec::new();
            let weekly: Vec<String> = days
                .iter()
                .zip(names)
                .map(|(intervals, name)| {
                    // Non-overlapping: each interval starts after the previous one ends.
                    let mut at = 0u32;
                    let mut parts = Vec::new();
                    let mut open = Vec::new();
                    for (gap, len) in intervals {
                        let start = at + gap;
                        let end = (start + len).min(24);
                        if start >= 24 || end <= start {
                            break;
                        }
                        parts.push(format!("[\"{start:02}:00\",\"{end:02}:00\"]"));
                        open.push((start, end));
                        at = end;
                    }
                    hours.push(open);
                    format!("\"{name}\":[{}]", parts.join(","))
                })
                .collect();
            let holiday = holiday.map(|d| {
                chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() + chrono::Days::new(d.into())
            });
            let holidays = holiday
                .map(|d| format!("\"{}\"", d.format("%Y-%m-%d")))
                .unwrap_or_default();
            let json = format!(
                r#"{{"default":{{"timezone":"{zone}","weekly":{{{}}},"holidays":[{holidays}]}}}}"#,
                weekly.join(",")
            );
            let oracle = Hours {
                zone: zone.parse().unwrap(),
                days: hours,
                holiday,
            };
            (CalendarBook::from_json(&json).unwrap(), oracle)
        })
}

fn instant() -> impl Strategy<Value = Timestamp> {
    // 2026-09-25 .. 2026-11-15, to the microsecond, across two DST changes.
    (0i64..(51 * 86_400 * 1_000_000)).prop_map(|us| {
        parse_rfc3339("2026-09-25T00:00:00Z")
            .unwrap()
            .plus(Micros(us))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn business_seconds_are_additive_and_never_exceed_calendar_seconds(
        book in calendar(), a in instant(), b in instant(), c in instant(),
    ) {
        let mut t = [a, b, c];
        t.sort();
        let cal = book.for_account("any").unwrap();
        let whole = cal.business_duration(t[0], t[2]);
        prop_assert_eq!(whole.0, cal.business_duration(t[0], t[1]).0 + cal.business_duration(t[1], t[2]).0);
        prop_assert!(whole.0 >= 0 && whole <= t[2].since(t[0]));
    }

    /// Against a brute-force oracle: minute by minute over up to three
    /// days (whole minutes, across the DST changes of the range).
    #[test]
    fn business_seconds_equal_the_open_minutes_counted_one_by_one(
        (book, hours) in calendar_and_hours(),
        start in 0i64..(48 * 24 * 60),
        minutes in 0i64..(3 * 24 * 60),
    ) {
        let origin = parse_rfc3339("2026-09-25T00:00:00Z").unwrap();
        let from = origin.plus(Micros::from_seconds(start * 60));
        let to = from.plus(Micros::from_seconds(minutes * 60));
        let open = (0..minutes)
            .filter(|m| hours.open_at(from.plus(Micros::from_seconds(m * 60))))
            .count() as i64;
        let cal = book.for_account("any").unwrap();
        prop_assert_eq!(cal.business_duration(from, to), Micros::from_seconds(open * 60));
    }

    #[test]
    fn a_24_7_calendar_counts_calendar_seconds(a in instant(), b in instant(), zone in prop::sample::select(vec!["UTC", "Europe/Berlin", "America/New_York"])) {
        let all_day = r#"[["00:00","24:00"]]"#;
        let json = format!(
            r#"{{"default":{{"timezone":"{zone}","weekly":{{"mon":{all_day},"tue":{all_day},"wed":{all_day},"thu":{all_day},"fri":{all_day},"sat":{all_day},"sun":{all_day}}}}}}}"#
        );
        let book = CalendarBook::from_json(&json).unwrap();
        let (from, to) = (a.min(b), a.max(b));
        prop_assert_eq!(book.for_account("x").unwrap().business_duration(from, to), to.since(from));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// SPEC §7's parser is total: arbitrary bytes never panic it.
    #[test]
    fn meta_payload_mapping_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let apps = replywatch::webhooks::meta::AppIds::default();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let _ = replywatch::webhooks::meta::map_payload(&v, &apps);
        }
        let _ = replywatch::webhooks::meta::signature_matches(std::str::from_utf8(&bytes).ok(), &bytes, &["k".into()]);
    }

    /// …nor does arbitrary JSON shaped like Meta's envelopes.
    #[test]
    fn meta_payload_mapping_never_panics_on_arbitrary_json(v in meta_like_json()) {
        let apps = replywatch::webhooks::meta::AppIds { bot: vec!["1".into()], auto: vec!["2".into()] };
        let m = replywatch::webhooks::meta::map_payload(&v, &apps);
        prop_assert!(m.events.len() as u64 + m.ignored + m.invalid.len() as u64 <= 10_000);
    }
}

fn meta_like_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_.0-9]{0,12}".prop_map(Value::String),
        Just(json!("page")),
        Just(json!("instagram")),
        Just(json!("whatsapp_business_account")),
        Just(json!("sent")),
        Just(json!(true)),
        Just(json!("1762077600")),
        Just(json!(1762077600000u64)),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let keys = prop_oneof![
            Just("object"),
            Just("entry"),
            Just("id"),
            Just("messaging"),
            Just("standby"),
            Just("message"),
            Just("mid"),
            Just("is_echo"),
            Just("app_id"),
            Just("sender"),
            Just("recipient"),
            Just("timestamp"),
            Just("changes"),
            Just("value"),
            Just("metadata"),
            Just("phone_number_id"),
            Just("messages"),
            Just("statuses"),
            Just("status"),
            Just("recipient_id"),
            Just("from"),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}
