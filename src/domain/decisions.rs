//! When a request becomes decided for a threshold (SPEC §3, decided for
//! h), and with which outcome: the SLI behind `replywatch_requests_decided_total`
//! (SPEC §5). A request answered within h is a hit at its reply; one that
//! reaches h unanswered is a miss at that moment, whether or not it is
//! answered later. Pure: the caller says which instants to compare.

use super::requests::Request;
use super::stats::{Clock, Measured};
use super::time::{Micros, Timestamp};

/// SPEC §5's thresholds of the decided counter, with their labels.
pub const DECISION_THRESHOLDS: [(&str, i64); 9] = [
    ("1m", 60),
    ("5m", 300),
    ("15m", 900),
    ("30m", 1_800),
    ("1h", 3_600),
    ("4h", 14_400),
    ("8h", 28_800),
    ("12h", 43_200),
    ("24h", 86_400),
];

/// The longest threshold: a request opened longer ago than this before an
/// instant is decided for every threshold at that instant.
pub const LONGEST_THRESHOLD: Micros = Micros::from_seconds(86_400);

/// At `at`, whether `r` is decided for `h` and, if so, whether it is a hit
/// (the core's own rule: [`Measured::decided`] and [`Measured::hit`]).
/// With a business clock, "open for h" counts business hours (SPEC §3).
pub fn decided_at(r: &Request, at: Timestamp, h: Micros, clock: Clock) -> Option<bool> {
    let seen = r.seen_at(at)?;
    let m = Measured::of(&seen, at, clock);
    m.decided(h).then(|| m.hit(h))
}

/// What happened to one request's decision for `h` between two instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It became decided: a hit (true) or a miss (false).
    Decided(bool),
    /// It was decided before and its outcome is another now (a late reply
    /// exactly at the threshold's instant; counted as a revision).
    Revised,
}

/// The change of `r`'s decision for `h` from `from` to `to` (`from < to`).
pub fn change_between(
    r: &Request,
    from: Timestamp,
    to: Timestamp,
    h: Micros,
    clock: Clock,
) -> Option<Change> {
    match (decided_at(r, from, h, clock), decided_at(r, to, h, clock)) {
        (None, Some(hit)) => Some(Change::Decided(hit)),
        (Some(before), Some(now)) if before != now => Some(Change::Revised),
        _ => None,
    }
}

/// The change of a request's decision for `h` as of `at` when what is
/// known of it changes from `before` (None: the request did not exist) to
/// `after` — a late event: a decision that falls at or before `at` was not
/// counted by the passage of time and is counted now, or, when it differs
/// from one already counted, is a revision.
pub fn change_of_knowledge(
    before: Option<&Request>,
    after: &Request,
    at: Timestamp,
    h: Micros,
    clock: Clock,
) -> Option<Change> {
    match (
        before.and_then(|r| decided_at(r, at, h, clock)),
        decided_at(after, at, h, clock),
    ) {
        (None, Some(hit)) => Some(Change::Decided(hit)),
        (Some(was), Some(is)) if was != is => Some(Change::Revised),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::requests::Reply;

    const T0: i64 = 1_780_000_000_000_000;
    const CAL: Clock = Clock::Calendar;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_micros(T0 + seconds * 1_000_000)
    }

    fn request(opened: i64, reply: Option<i64>) -> Request {
        Request {
            conversation: 0,
            opened_at: at(opened),
            reply: reply.map(|s| Reply {
                at: at(s),
                agent: crate::domain::eventset::NO_AGENT,
            }),
            new_conversation: true,
        }
    }

    #[test]
    fn a_request_answered_within_h_is_a_hit_at_its_reply() {
        let r = request(0, Some(600));
        let h = Micros::from_seconds(3600);
        assert_eq!(
            decided_at(&r, at(600), h, CAL),
            None,
            "the reply at 600 s is not seen at 600 s"
        );
        assert_eq!(decided_at(&r, at(601), h, CAL), Some(true));
        assert_eq!(
            change_between(&r, at(0), at(601), h, CAL),
            Some(Change::Decided(true))
        );
        assert_eq!(
            change_between(&r, at(601), at(9999), h, CAL),
            None,
            "counted once"
        );
    }

    #[test]
    fn a_request_unanswered_at_h_is_a_miss_then_even_if_answered_later() {
        let r = request(0, Some(5000));
        let h = Micros::from_seconds(3600);
        assert_eq!(decided_at(&r, at(3599), h, CAL), None);
        // Inclusive: open for exactly h with no reply is a decided miss.
        assert_eq!(decided_at(&r, at(3600), h, CAL), Some(false));
        assert_eq!(
            change_between(&r, at(3000), at(4000), h, CAL),
            Some(Change::Decided(false))
        );
        assert_eq!(
            change_between(&r, at(4000), at(6000), h, CAL),
            None,
            "the late reply changes nothing"
        );
        let never = request(0, None);
        assert_eq!(
            change_between(&never, at(3000), at(4000), h, CAL),
            Some(Change::Decided(false))
        );
    }

    #[test]
    fn late_knowledge_is_counted_once_or_as_a_revision() {
        let h = Micros::from_seconds(3600);
        let unanswered = request(0, None);
        let answered_fast = request(0, Some(600));
        // A reply within h arriving after the miss was counted: a revision.
        assert_eq!(
            change_of_knowledge(Some(&unanswered), &answered_fast, at(4000), h, CAL),
            Some(Change::Revised)
        );
        // Arriving before h passed: the hit, counted now.
        assert_eq!(
            change_of_knowledge(Some(&unanswered), &answered_fast, at(700), h, CAL),
            Some(Change::Decided(true))
        );
        // A request nobody knew of, decided long ago: counted now.
        assert_eq!(
            change_of_knowledge(None, &unanswered, at(9000), h, CAL),
            Some(Change::Decided(false))
        );
        // Not decided yet: left to the passage of time.
        assert_eq!(
            change_of_knowledge(None, &unanswered, at(100), h, CAL),
            None
        );
    }

    #[test]
    fn a_reply_exactly_at_the_threshold_turns_a_counted_miss_into_a_hit() {
        // Seen at 3600 s: open for exactly 1 h, reply not yet (at < T): miss.
        // Seen later: the reply at 3600 s is within 1 h (inclusive): hit.
        let r = request(0, Some(3600));
        let h = Micros::from_seconds(3600);
        assert_eq!(decided_at(&r, at(3600), h, CAL), Some(false));
        assert_eq!(decided_at(&r, at(3601), h, CAL), Some(true));
        assert_eq!(
            change_between(&r, at(3600), at(3601), h, CAL),
            Some(Change::Revised)
        );
    }

    #[test]
    fn with_a_business_clock_a_request_is_decided_after_h_business_hours() {
        use crate::domain::calendar::CalendarBook;
        use crate::domain::time::parse_rfc3339;
        let book = CalendarBook::from_json(
            r#"{"default":{"timezone":"UTC","weekly":{"mon":[["09:00","17:00"]],"fri":[["09:00","17:00"]]}}}"#,
        )
        .unwrap();
        let calendar = book.for_account("acme").unwrap();
        let t = |s: &str| parse_rfc3339(s).unwrap();
        // Opened Friday 2026-11-06 16:30 UTC, never answered.
        let r = Request {
            conversation: 0,
            opened_at: t("2026-11-06T16:30:00Z"),
            reply: None,
            new_conversation: true,
        };
        let h = Micros::from_seconds(3600);
        let business = Clock::Business(calendar);
        // 30 business minutes on Friday, none over the weekend.
        assert_eq!(decided_at(&r, t("2026-11-08T12:00:00Z"), h, business), None);
        assert_eq!(
            decided_at(&r, t("2026-11-08T12:00:00Z"), h, CAL),
            Some(false),
            "in calendar time it missed on Friday evening"
        );
        // Monday 09:30: the second half hour: a miss exactly then.
        assert_eq!(decided_at(&r, t("2026-11-09T09:29:59Z"), h, business), None);
        assert_eq!(
            change_between(
                &r,
                t("2026-11-08T12:00:00Z"),
                t("2026-11-09T09:30:00Z"),
                h,
                business
            ),
            Some(Change::Decided(false))
        );
    }
}
