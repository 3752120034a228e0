//! SPEC rules that no golden case pins down, each checked where it shows
//! in the figures: the §2 order of events at one instant, the badge's
//! thresholds exactly at 0.90 and 900 s, and a group that only the badge
//! view lists.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use replywatch::domain::{
    AnalyzeOptions, EventSet, GroupStats, MessageEvent, Micros, analyze, parse_rfc3339,
};

const BASE: &str = "2026-11-01T00:00:00Z";

fn event(
    id: &str,
    conversation: &str,
    from: &str,
    seconds: i64,
    agent: Option<&str>,
) -> MessageEvent {
    let at = parse_rfc3339(BASE)
        .unwrap()
        .plus(Micros::from_seconds(seconds));
    let agent = agent.map_or(String::new(), |a| format!(r#","agent":"{a}""#));
    MessageEvent::from_json(
        format!(
            r#"{{"id":"{id}","account":"acme","channel":"messenger","conversation":"{conversation}","from":"{from}","at":"{at}"{agent}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

/// The per-account group ("all") of the events, one day after BASE, over 7 days.
fn all(events: Vec<MessageEvent>, by_agent: bool) -> GroupStats {
    let mut opts = AnalyzeOptions::new(
        parse_rfc3339("2026-11-03T00:00:00Z").unwrap(),
        Micros::from_seconds(7 * 86_400),
    );
    opts.by_agent = by_agent;
    analyze(&EventSet::from_events(events), &opts)
        .groups
        .into_iter()
        .find(|g| g.channel == "all")
        .unwrap()
}

#[test]
fn at_one_instant_the_customer_comes_before_the_agent_so_a_reply_at_the_same_instant_answers_in_0_s()
 {
    // Given in the other order on purpose.
    let g = all(
        vec![
            event("z-agent", "c", "agent", 0, None),
            event("a-customer", "c", "customer", 0, None),
        ],
        false,
    );
    assert_eq!((g.requests, g.answered), (1, 1));
    assert_eq!(g.median_first_reply_seconds, Some(0.0));
}

#[test]
fn at_one_instant_the_customer_comes_before_an_auto_reply_so_it_opens_a_new_conversation() {
    let g = all(
        vec![
            event("a-auto", "c", "auto", 0, None),
            event("b-customer", "c", "customer", 0, None),
        ],
        false,
    );
    assert_eq!(
        g.badge_conversations, 1,
        "the customer's message is the first event"
    );
}

#[test]
fn at_one_instant_two_replies_are_ordered_by_id_byte_wise_and_the_first_gets_the_credit() {
    // "B" (0x42) sorts before "a" (0x61) byte-wise, not alphabetically.
    let g = all(
        vec![
            event("0", "c", "customer", 0, None),
            event("a-reply", "c", "agent", 60, Some("alice")),
            event("B-reply", "c", "agent", 60, Some("bob")),
        ],
        true,
    );
    let agents = g.agents.unwrap();
    let credited: Vec<_> = agents
        .iter()
        .filter(|a| a.answered > 0)
        .map(|a| a.agent.clone())
        .collect();
    assert_eq!(credited, [Some("bob".to_string())]);
}

/// Ten new conversations: `answered` of them answered after `seconds[i]`,
/// the rest never.
fn badge_case(reply_seconds: &[i64], unanswered: usize) -> GroupStats {
    let mut events = Vec::new();
    for (i, s) in reply_seconds.iter().enumerate() {
        let c = format!("c{i}");
        events.push(event(&format!("{c}-q"), &c, "customer", 0, None));
        events.push(event(&format!("{c}-a"), &c, "agent", *s, None));
    }
    for i in 0..unanswered {
        let c = format!("u{i}");
        events.push(event(&format!("{c}-q"), &c, "customer", 0, None));
    }
    all(events, false)
}

#[test]
fn the_badge_holds_at_exactly_90_percent_and_exactly_900_seconds() {
    // 9 of 10 answered within 24 h; the fastest 90 % of the 9 answered
    // (k = (81 + 9) div 10 = 9) average exactly 900 s.
    let g = badge_case(&[900; 9], 1);
    assert_eq!(g.badge_response_rate, Some(0.9));
    assert_eq!(g.badge_response_seconds, Some(900.0));
    assert!(g.badge_eligible, "{:?}", g.badge_blockers);
    assert!(g.badge_blockers.is_empty());
}

#[test]
fn the_badge_fails_one_second_or_one_request_beyond_the_thresholds() {
    let mut slower = vec![900; 8];
    slower.push(909); // the mean of the nine is 901 s
    let g = badge_case(&slower, 1);
    assert_eq!(g.badge_response_seconds, Some(901.0));
    assert!(!g.badge_eligible);
    assert_eq!(g.badge_blockers, ["response_time 901s > 900s"]);
    // 8 of 10 answered: 0.80.
    let g = badge_case(&[900; 8], 2);
    assert!(!g.badge_eligible);
    assert_eq!(g.badge_blockers.len(), 1);
    assert!(
        g.badge_blockers[0].starts_with("response_rate 0.80 < 0.90"),
        "{:?}",
        g.badge_blockers
    );
}

#[test]
fn a_group_is_listed_when_only_the_badge_view_has_requests_in_the_window() {
    // A request opened before the window is closed by a bot in the badge
    // view only; the customer's next message, inside the window and more
    // than 24 h later, joins the still-open request in the operational
    // view but opens a new conversation in the badge view.
    let day = 86_400;
    let g = all(
        vec![
            event("q1", "c", "customer", -6 * day, None),
            event("b1", "c", "bot", -6 * day + 30, None),
            event("q2", "c", "customer", 0, None),
        ],
        false,
    );
    assert_eq!(
        g.requests, 0,
        "operational: no request opened in the window"
    );
    assert_eq!(
        g.badge_conversations, 1,
        "badge: the new conversation of q2"
    );
    assert_eq!(
        g.badge_response_rate,
        Some(0.0),
        "unanswered and decided for 24 h"
    );
    assert!(!g.badge_eligible);
}

/// Issue 19, how far from the badge: on generated accounts that miss it,
/// applying each suggestion to the events makes that badge condition hold
/// in the core's figures and one fewer does not; both together make the
/// account eligible.
#[test]
fn applying_the_badge_suggestions_to_the_events_makes_the_badge_conditions_hold() {
    use replywatch::domain::badge::{FAST_REPLY, badge_gap, badge_inputs};
    use replywatch::domain::requests::derive_requests;
    use replywatch::domain::stats::{Clock, Measured};
    use replywatch::domain::time::ONE_DAY;
    use replywatch::domain::{ReplyPolicy, Timestamp};
    let end = chrono::DateTime::parse_from_rfc3339("2026-11-08T00:00:00Z")
        .unwrap()
        .to_utc();
    let mut text = Vec::new();
    replywatch::files::generate::generate(
        &replywatch::files::generate::GenerateOptions {
            events: 4_000,
            seed: 19,
            accounts: 4,
            end,
            days: 7,
        },
        &mut text,
        |_| {},
    )
    .unwrap();
    let events: Vec<MessageEvent> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| MessageEvent::from_json(l.as_bytes()).unwrap())
        .collect();
    let as_of = Timestamp::from_datetime(end);
    let week = Micros::from_seconds(7 * 86_400);
    let group = |events: &[MessageEvent], account: &str| {
        let report = analyze(
            &EventSet::from_events(events.iter().cloned()),
            &AnalyzeOptions::new(as_of, week),
        );
        report
            .groups
            .into_iter()
            .find(|g| g.account == account && g.channel == "all")
            .unwrap()
    };
    let blocked = |g: &GroupStats, what: &str| g.badge_blockers.iter().any(|b| b.starts_with(what));
    let line = |id: String, account: &str, channel: &str, conv: &str, from: &str, at: Timestamp| {
        MessageEvent::from_json(
            format!(r#"{{"id":"{id}","account":"{account}","channel":"{channel}","conversation":"{conv}","from":"{from}","at":"{at}"}}"#)
                .as_bytes(),
        )
        .unwrap()
    };
    let set = EventSet::from_events(events.iter().cloned());
    let requests = derive_requests(&set, as_of, ReplyPolicy::operational(false)).badge;
    let mut checked = 0;
    for account in ["acct-0000", "acct-0001", "acct-0002", "acct-0003"] {
        let before = group(&events, account);
        if before.badge_eligible {
            continue;
        }
        let (hits, decided, replies) = badge_inputs(&set, as_of, week, account, None);
        let gap = badge_gap(hits, decided, &replies);
        let words = gap.words(&replies);
        assert!(!words.is_empty(), "{account}: words for the gap");
        eprintln!("{account}: {}", words.join("; "));
        // The rate: answer the first x missed conversations 1 h after they opened.
        let missed: Vec<_> = requests
            .iter()
            .filter(|r| {
                let s = set.stream(set.stream_of(r.conversation));
                let m = Measured::of(r, as_of, Clock::Calendar);
                s.account.as_str() == account
                    && r.new_conversation
                    && r.opened_at >= as_of.minus(week)
                    && m.decided(ONE_DAY)
                    && !m.hit(ONE_DAY)
            })
            .collect();
        let answer = |x: u64| -> Vec<MessageEvent> {
            missed
                .iter()
                .take(x as usize)
                .enumerate()
                .map(|(i, r)| {
                    let s = set.stream(set.stream_of(r.conversation));
                    line(
                        format!("fix-{i}"),
                        account,
                        s.channel.as_str(),
                        set.conversation_id(r.conversation).as_str(),
                        "agent",
                        r.opened_at.plus(Micros::from_seconds(300)),
                    )
                })
                .collect()
        };
        let fast = |m: u64| -> Vec<MessageEvent> {
            (0..m)
                .flat_map(|i| {
                    let opened = as_of.minus(Micros::from_seconds(2 * 86_400 + i as i64));
                    let conv = format!("fast-{i}");
                    [
                        line(
                            format!("q-{i}"),
                            account,
                            "messenger",
                            &conv,
                            "customer",
                            opened,
                        ),
                        line(
                            format!("r-{i}"),
                            account,
                            "messenger",
                            &conv,
                            "agent",
                            opened.plus(FAST_REPLY),
                        ),
                    ]
                })
                .collect()
        };
        let with = |extra: Vec<MessageEvent>| {
            let mut all = events.clone();
            all.extend(extra);
            group(&all, account)
        };
        let x = gap.answered_within_24h;
        if blocked(&before, "response_rate") {
            assert!(
                x > 0 && x as usize <= missed.len(),
                "{account}: {x} of {}",
                missed.len()
            );
            assert!(
                !blocked(&with(answer(x)), "response_rate"),
                "{account}: {x} answers"
            );
            assert!(
                blocked(&with(answer(x - 1)), "response_rate"),
                "{account}: {} answers",
                x - 1
            );
        }
        let m = gap.fast_replies;
        if blocked(&before, "response_time") {
            assert!(
                !blocked(&with(fast(m)), "response_time"),
                "{account}: {m} fast replies"
            );
            assert!(
                blocked(&with(fast(m - 1)), "response_time"),
                "{account}: {} fast replies",
                m - 1
            );
        }
        let mut both = answer(x);
        both.extend(fast(m));
        assert!(
            with(both).badge_eligible,
            "{account}: both suggestions → eligible"
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the generated accounts miss the badge ({checked})"
    );
}
