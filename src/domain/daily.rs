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
    /// Requests decided for 1 h and for 24 h (the hit ratios' denominators).
    pub decided_1h: u64,
    pub decided_24h: u64,
    /// The day's first-reply times, so figures can be pooled over several
    /// days ([`rolling`]); not part of any document.
    #[serde(skip)]
    pub first_replies: Vec<Micros>,
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
    /// The first and last local day of the range, whether or not a request
    /// was opened on them: a chart draws every day in between, and a day
    /// without a row is a gap.
    pub range: Option<(NaiveDate, NaiveDate)>,
}

/// The most days a chart's axis holds (ten years): a longer range keeps
/// its last days, so a window of centuries cannot make a chart of millions
/// of days.
pub const MAX_CHART_DAYS: u64 = 3_660;

impl Series {
    /// Every local day of the range, in order (the days of the rows when
    /// no range is set), at most the last [`MAX_CHART_DAYS`].
    pub fn dates(&self) -> Vec<NaiveDate> {
        let range = self.range.or_else(|| {
            let first = self.days.first()?.date;
            Some((first, self.days.last()?.date))
        });
        match range {
            Some((first, last)) => {
                let earliest = last
                    .checked_sub_days(chrono::Days::new(MAX_CHART_DAYS - 1))
                    .unwrap_or(first);
                first
                    .max(earliest)
                    .iter_days()
                    .take_while(|d| *d <= last)
                    .collect()
            }
            None => Vec::new(),
        }
    }
}

/// The figures of the requests opened on the days of a trailing span,
/// pooled (one median over all their first replies, one ratio over all
/// their decided requests): a thin day cannot swing them the way it swings
/// its own point. A presentation aid beside the daily figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    /// The last day of the span.
    pub date: NaiveDate,
    pub requests: u64,
    pub median_first_reply_seconds: Option<f64>,
    pub hit_ratio_1h: Option<f64>,
    pub hit_ratio_24h: Option<f64>,
    /// Every day of the span is final (SPEC §4).
    pub is_final: bool,
}

/// The days a rolling figure pools: a week.
pub const ROLLING_DAYS: u64 = 7;

/// For each of `dates`, the figures pooled over the `ROLLING_DAYS` local
/// days ending on it (days without a row add nothing).
pub fn rolling(days: &[DailyRow], dates: &[NaiveDate]) -> Vec<Pooled> {
    let by_date: BTreeMap<NaiveDate, &DailyRow> = days.iter().map(|d| (d.date, d)).collect();
    dates
        .iter()
        .map(|&date| {
            let from = date - chrono::Days::new(ROLLING_DAYS - 1);
            let span: Vec<&DailyRow> = by_date.range(from..=date).map(|(_, d)| *d).collect();
            let sum = |f: fn(&DailyRow) -> u64| span.iter().map(|d| f(d)).sum::<u64>();
            let share = |hits: u64, of: u64| Share { hits, of }.ratio();
            let first: Vec<Micros> = span
                .iter()
                .flat_map(|d| d.first_replies.iter().copied())
                .collect();
            Pooled {
                date,
                requests: sum(|d| d.requests),
                median_first_reply_seconds: median_and_p90(first).0,
                hit_ratio_1h: share(sum(|d| d.within_1h), sum(|d| d.decided_1h)),
                hit_ratio_24h: share(sum(|d| d.within_1h + d.within_24h), sum(|d| d.decided_24h)),
                is_final: span.iter().all(|d| d.is_final),
            }
        })
        .collect()
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
    let local_day = |t: Timestamp| t.to_datetime().with_timezone(&tz).date_naive();
    let range = (local_day(start), local_day(as_of.minus(Micros(1))));
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
            let (median, p90) = median_and_p90(d.first.clone());
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
                decided_1h: d.hit_1h.of,
                decided_24h: d.hit_24h.of,
                is_final: d.unsettled == 0,
                first_replies: d.first,
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
        range: Some(range),
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

    /// Issue 19: a thin day cannot swing the pooled 7-day figures the way
    /// it swings its own point; days without requests keep their place in
    /// the range and pool what came before them.
    #[test]
    fn pooled_figures_span_the_last_seven_days_and_every_day_of_the_range_is_listed() {
        let at = |s: &str| crate::domain::parse_rfc3339(s).unwrap();
        let mut requests: Vec<Request> = (0..10)
            .map(|i| {
                req(
                    &format!("2026-11-02T10:{i:02}:00Z"),
                    Some(&format!("2026-11-02T10:{:02}:00Z", i + 1)),
                )
            })
            .collect();
        requests.push(req("2026-11-04T08:00:00Z", Some("2026-11-04T18:00:00Z")));
        let s = series(
            &requests,
            at("2026-11-12T00:00:00Z"),
            Micros(14 * 86_400_000_000),
            chrono_tz::UTC,
        );
        let dates = s.dates();
        assert_eq!(dates.len(), 14, "Oct 29 … Nov 11, requests on two days");
        assert_eq!(s.days.len(), 2);
        let thin = &s.days[1];
        assert_eq!(thin.median_first_reply_seconds, Some(36_000.0));
        assert_eq!(thin.hit_ratio_1h, Some(0.0));
        let pooled = rolling(&s.days, &dates);
        let on = |d: &str| pooled.iter().find(|p| p.date.to_string() == d).unwrap();
        let nov4 = on("2026-11-04");
        assert_eq!(nov4.requests, 11);
        assert_eq!(nov4.median_first_reply_seconds, Some(60.0));
        assert_eq!(nov4.hit_ratio_1h, Some(10.0 / 11.0));
        assert!(nov4.is_final);
        // Nov 8 holds no request but pools Nov 2 … Nov 8.
        assert_eq!(on("2026-11-08").requests, 11);
        // Nov 9 no longer reaches Nov 2: only the thin day is left.
        assert_eq!(on("2026-11-09").median_first_reply_seconds, Some(36_000.0));
        // A range of centuries keeps its last ten years on the axis.
        let long = Series {
            range: Some((
                NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
                NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            )),
            ..Series::default()
        };
        assert_eq!(long.dates().len() as u64, MAX_CHART_DAYS);
        // Nov 11 reaches back to Nov 5: nothing to pool.
        assert_eq!(on("2026-11-11").requests, 0);
        assert_eq!(on("2026-11-11").hit_ratio_24h, None);
    }
}
