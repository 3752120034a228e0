//! The series behind the charts: the operational-view requests of one
//! group opened in the window, measured at the evaluation instant (SPEC §3),
//! bucketed by local day (the account's time zone, daylight-saving changes
//! included), by SLA bucket (SPEC §5) and by local weekday × hour. Pure.

use super::Request;
use super::stats::Clock;
use super::stats::{Measured, Share, median_and_p90, settled};
use super::time::{Micros, ONE_DAY, ONE_HOUR, Timestamp};
use chrono::{Datelike, NaiveDate, Timelike};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// The figures of the requests opened on one local day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DailyRow {
    pub date: NaiveDate,
    pub requests: u64,
    pub answered: u64,
    pub within_1h: u64,
    /// Answered after 1 h but within 24 h.
    pub within_24h: u64,
    /// Answered after 24 h.
    pub later: u64,
    pub pending: u64,
    pub median_first_reply_seconds: Option<f64>,
    pub p90_first_reply_seconds: Option<f64>,
    pub hit_ratio_1h: Option<f64>,
    pub hit_ratio_24h: Option<f64>,
    /// SPEC §4: every request of the day is decided for 24 h at the instant,
    /// so its figures no longer change with time ([`settled`]).
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// SPEC §5's SLA bucket edges, in seconds.
pub const SLA_BUCKETS: [i64; 9] = [60, 300, 900, 1800, 3600, 14400, 28800, 43200, 86400];

/// Everything the charts of one group show.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Series {
    pub days: Vec<DailyRow>,
    /// Answered requests per SLA bucket (first reply ≤ edge, above the
    /// previous edge); the last entry counts those over 24 h.
    pub distribution: Vec<u64>,
    /// Median first-reply seconds by local weekday (Monday first) × hour of opening.
    pub heatmap: Vec<[Option<f64>; 24]>,
    /// Requests the series rest on.
    pub requests: u64,
}

/// Builds the series of `requests` (one group's operational view) opened in
/// `[as_of - window, as_of)`, measured at `as_of`, days in `tz`.
pub fn series<'a>(
    requests: impl IntoIterator<Item = &'a Request>,
    as_of: Timestamp,
    window: Micros,
    tz: Tz,
) -> Series {
    struct Day {
        requests: u64,
        answered: u64,
        within_1h: u64,
        within_24h: u64,
        later: u64,
        hit_1h: Share,
        hit_24h: Share,
        unsettled: u64,
        first: Vec<Micros>,
    }
    let start = as_of.minus(window);
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    let mut distribution = vec![0u64; SLA_BUCKETS.len() + 1];
    let mut cells: Vec<Vec<Micros>> = vec![Vec::new(); 7 * 24];
    let mut total = 0;
    for r in requests {
        // SPEC §3: a reply at or after the instant has not happened yet.
        let Some(r) = r.seen_at(as_of).filter(|r| r.opened_at >= start) else {
            continue;
        };
        total += 1;
        let m = Measured::of(&r, as_of, Clock::Calendar);
        let local = r.opened_at.to_datetime().with_timezone(&tz);
        let day = days.entry(local.date_naive()).or_insert_with(|| Day {
            requests: 0,
            answered: 0,
            within_1h: 0,
            within_24h: 0,
            later: 0,
            hit_1h: Share::default(),
            hit_24h: Share::default(),
            unsettled: 0,
            first: Vec::new(),
        });
        day.requests += 1;
        day.unsettled += u64::from(!settled(&m));
        day.hit_1h.add(m.decided(ONE_HOUR), m.hit(ONE_HOUR));
        day.hit_24h.add(m.decided(ONE_DAY), m.hit(ONE_DAY));
        if let Some(f) = m.first_reply {
            day.answered += 1;
            day.first.push(f);
            match f {
                f if f <= ONE_HOUR => day.within_1h += 1,
                f if f <= ONE_DAY => day.within_24h += 1,
                _ => day.later += 1,
            }
            let seconds = f.0.div_euclid(1_000_000) + i64::from(f.0.rem_euclid(1_000_000) > 0);
            let bucket = SLA_BUCKETS
                .iter()
                .position(|&edge| seconds <= edge)
                .unwrap_or(SLA_BUCKETS.len());
            distribution[bucket] += 1;
            let cell = local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize;
            cells[cell].push(f);
        }
    }
    let days = days
        .into_iter()
        .map(|(date, d)| {
            let (median, p90) = median_and_p90(d.first);
            DailyRow {
                date,
                requests: d.requests,
                answered: d.answered,
                within_1h: d.within_1h,
                within_24h: d.within_24h,
                later: d.later,
                pending: d.requests - d.answered,
                median_first_reply_seconds: median,
                p90_first_reply_seconds: p90,
                hit_ratio_1h: d.hit_1h.ratio(),
                hit_ratio_24h: d.hit_24h.ratio(),
                is_final: d.unsettled == 0,
            }
        })
        .collect();
    let mut heatmap = vec![[None; 24]; 7];
    for (i, cell) in cells.into_iter().enumerate() {
        heatmap[i / 24][i % 24] = median_and_p90(cell).0;
    }
    Series {
        days,
        distribution,
        heatmap,
        requests: total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::eventset::NO_AGENT;
    use crate::domain::requests::Reply;

    fn req(opened: &str, reply: Option<&str>) -> Request {
        let t = |s: &str| crate::domain::parse_rfc3339(s).unwrap();
        Request {
            conversation: 0,
            opened_at: t(opened),
            reply: reply.map(|r| Reply {
                at: t(r),
                agent: NO_AGENT,
            }),
            new_conversation: true,
        }
    }

    #[test]
    fn days_follow_the_accounts_time_zone_and_replies_after_the_instant_are_pending() {
        let requests = [
            // 23:30 UTC on Oct 31 is already Nov 1 in Istanbul (UTC+3).
            req("2026-10-31T23:30:00Z", Some("2026-10-31T23:40:00Z")),
            req("2026-11-01T08:00:00Z", Some("2026-11-01T10:00:00Z")),
            req("2026-11-01T09:00:00Z", Some("2026-11-03T00:00:00Z")),
        ];
        let as_of = crate::domain::parse_rfc3339("2026-11-02T00:00:00Z").unwrap();
        let s = series(
            &requests,
            as_of,
            Micros(7 * 86_400_000_000),
            chrono_tz::Europe::Istanbul,
        );
        assert_eq!(s.days.len(), 1);
        let d = &s.days[0];
        assert_eq!(d.date.to_string(), "2026-11-01");
        assert_eq!(
            (d.requests, d.answered, d.within_1h, d.within_24h, d.pending),
            (3, 2, 1, 1, 1)
        );
        assert_eq!(d.median_first_reply_seconds, Some((600.0 + 7200.0) / 2.0));
        assert_eq!(s.distribution[2], 1, "10 min falls in (300, 900]");
        assert_eq!(s.distribution[5], 1, "2 h falls in (3600, 14400]");
        assert_eq!(s.heatmap[6][2], Some(600.0), "Sunday 02:xx local");
        // The 09:00 request is pending and 15 h old at the instant: not final.
        assert!(!d.is_final);
    }

    #[test]
    fn a_day_is_final_once_each_of_its_requests_is_answered_or_24_hours_old() {
        let requests = [
            req("2026-11-01T08:00:00Z", Some("2026-11-01T10:00:00Z")),
            req("2026-11-01T09:00:00Z", None),
        ];
        let at = |s: &str| crate::domain::parse_rfc3339(s).unwrap();
        let day = |as_of: &str| {
            series(
                &requests,
                at(as_of),
                Micros(7 * 86_400_000_000),
                chrono_tz::UTC,
            )
            .days[0]
                .clone()
        };
        assert!(
            !day("2026-11-02T08:59:59Z").is_final,
            "the 09:00 request is 23:59:59 old"
        );
        assert!(
            day("2026-11-02T09:00:00Z").is_final,
            "exactly 24 h: decided (inclusive)"
        );
        assert!(!day("2026-11-01T09:30:00Z").is_final);
    }
}
