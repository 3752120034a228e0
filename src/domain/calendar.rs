//! Business hours of SPEC §3 (`--calendar`): per-account calendars (an IANA
//! zone, weekly opening intervals in local time, closed local dates) and the
//! business length of an interval, computed opening interval by opening
//! interval, never minute by minute. Pure: no IO, no clock.

use super::time::{Micros, Timestamp};
use chrono::offset::LocalResult;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const SECONDS_PER_DAY: u32 = 86_400;

/// A calendar that could not be accepted: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar {path}: {reason}")]
pub struct CalendarError {
    /// JSON path of the bad part, e.g. `accounts.berlin.weekly.mon[1]`.
    pub path: String,
    pub reason: String,
}

/// One account's opening hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    timezone: Tz,
    /// Per weekday (Monday first): sorted, non-overlapping [start, end)
    /// seconds after local midnight; `end` may be 86 400 ("24:00").
    weekly: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

/// Calendars of several accounts, with an optional default (SPEC §3).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalendarBook {
    default: Option<Calendar>,
    accounts: HashMap<String, Calendar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarBookSpec {
    default: Option<CalendarSpec>,
    #[serde(default)]
    accounts: BTreeMap<String, CalendarSpec>,
}

/// The JSON form of one calendar (SPEC §3).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    timezone: String,
    #[serde(default)]
    weekly: BTreeMap<String, Vec<(String, String)>>,
    #[serde(default)]
    holidays: Vec<String>,
}

/// Most opening intervals one weekday may hold (issue 15: 1,440 a day were
/// accepted, and business seconds are summed interval by interval under
/// the engine's lock). 48 is a split every half hour.
pub const MAX_INTERVALS_PER_DAY: usize = 48;
/// Most holidays one calendar may hold: 25 a year for 40 years.
pub const MAX_HOLIDAYS: usize = 1_000;

fn parse_clock(s: &str, allow_24: bool) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return None;
    }
    let h = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let m = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
    match (h, m) {
        (24, 0) if allow_24 => Some(SECONDS_PER_DAY),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

impl CalendarSpec {
    /// Validates the spec; `path` prefixes error locations.
    pub fn validate(self, path: &str) -> Result<Calendar, CalendarError> {
        let err = |at: String, reason: String| CalendarError { path: at, reason };
        let timezone: Tz = self.timezone.parse().map_err(|_| {
            err(
                format!("{path}.timezone"),
                format!("unknown IANA time zone {:?}", self.timezone),
            )
        })?;
        let mut weekly: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, intervals) in self.weekly {
            let Some(d) = DAY_NAMES.iter().position(|n| *n == day) else {
                return Err(err(
                    format!("{path}.weekly"),
                    format!(
                        "unknown day {day:?}: expected one of {}",
                        DAY_NAMES.join(", ")
                    ),
                ));
            };
            if intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(err(
                    format!("{path}.weekly.{day}"),
                    format!(
                        "{} intervals, at most {MAX_INTERVALS_PER_DAY} allowed",
                        intervals.len()
                    ),
                ));
            }
            let mut parsed = Vec::with_capacity(intervals.len());
            for (i, (start, end)) in intervals.iter().enumerate() {
                let at = format!("{path}.weekly.{day}[{i}]");
                let s = parse_clock(start, false).ok_or_else(|| {
                    err(
                        at.clone(),
                        format!("bad start {start:?}: expected HH:MM from 00:00 to 23:59"),
                    )
                })?;
                let e = parse_clock(end, true).ok_or_else(|| {
                    err(
                        at.clone(),
                        format!("bad end {end:?}: expected HH:MM from 00:00 to 24:00"),
                    )
                })?;
                if e <= s {
                    return Err(err(
                        at,
                        format!("{start}-{end} does not end after it starts"),
                    ));
                }
                parsed.push((s, e, i));
            }
            parsed.sort_unstable();
            for pair in parsed.windows(2) {
                if pair[1].0 < pair[0].1 {
                    return Err(err(
                        format!("{path}.weekly.{day}"),
                        format!("intervals [{}] and [{}] overlap", pair[0].2, pair[1].2),
                    ));
                }
            }
            weekly[d] = parsed.into_iter().map(|(s, e, _)| (s, e)).collect();
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            return Err(err(
                format!("{path}.holidays"),
                format!(
                    "{} holidays, at most {MAX_HOLIDAYS} allowed",
                    self.holidays.len()
                ),
            ));
        }
        let mut holidays = BTreeSet::new();
        for (i, h) in self.holidays.iter().enumerate() {
            let date = NaiveDate::parse_from_str(h, "%Y-%m-%d").map_err(|_| {
                err(
                    format!("{path}.holidays[{i}]"),
                    format!("bad date {h:?}: expected YYYY-MM-DD"),
                )
            })?;
            holidays.insert(date);
        }
        Ok(Calendar {
            timezone,
            weekly,
            holidays,
        })
    }
}

impl CalendarBook {
    /// Parses and validates a calendar file (SPEC §3's JSON form).
    pub fn from_json(json: &str) -> Result<Self, CalendarError> {
        let spec: CalendarBookSpec = serde_json::from_str(json).map_err(|e| CalendarError {
            path: "(file)".into(),
            reason: e.to_string(),
        })?;
        let default = spec.default.map(|d| d.validate("default")).transpose()?;
        let mut accounts = HashMap::new();
        for (name, c) in spec.accounts {
            let cal = c.validate(&format!("accounts.{name}"))?;
            accounts.insert(name, cal);
        }
        Ok(CalendarBook { default, accounts })
    }

    /// Whether any account has a calendar (a default counts for all).
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.accounts.is_empty()
    }

    /// The calendar of `account`, else the default; `None` keeps calendar time.
    pub fn for_account(&self, account: &str) -> Option<&Calendar> {
        self.accounts.get(account).or(self.default.as_ref())
    }

    /// Sets one account's calendar.
    pub fn set(&mut self, account: &str, calendar: Calendar) {
        self.accounts.insert(account.to_string(), calendar);
    }
}

impl Calendar {
    /// Parses and validates one calendar (SPEC §3's JSON form of an
    /// account's entry); `path` prefixes error locations.
    pub fn from_json(json: &str, path: &str) -> Result<Calendar, CalendarError> {
        let spec: CalendarSpec = serde_json::from_str(json).map_err(|e| CalendarError {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        spec.validate(path)
    }

    /// The calendar's time zone.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// A calendar open all week round, in UTC (business time = calendar time).
    pub fn always_open() -> Self {
        Calendar {
            timezone: Tz::UTC,
            weekly: std::array::from_fn(|_| vec![(0, SECONDS_PER_DAY)]),
            holidays: BTreeSet::new(),
        }
    }

    /// The instant of a local date and time of day, with SPEC §3's rules:
    /// a time in a daylight-saving gap takes the offset in force before the
    /// gap; an ambiguous time the earlier instant.
    fn instant(&self, date: NaiveDate, seconds_of_day: u32) -> Timestamp {
        let local: NaiveDateTime =
            date.and_time(chrono::NaiveTime::MIN) + Duration::seconds(i64::from(seconds_of_day));
        let resolved = match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t),
            LocalResult::Ambiguous(earlier, _) => Some(earlier),
            LocalResult::None => None,
        };
        if let Some(t) = resolved {
            return Timestamp::from_datetime(t.to_utc());
        }
        // In a gap: find the offset just before it by stepping back.
        let mut probe = local;
        for _ in 0..(48 * 4) {
            probe -= Duration::minutes(15);
            if let Some(t) = self.timezone.from_local_datetime(&probe).latest() {
                let offset = i64::from(t.offset().fix().local_minus_utc());
                let utc = local - Duration::seconds(offset);
                return Timestamp::from_datetime(utc.and_utc());
            }
        }
        Timestamp::from_datetime(local.and_utc())
    }

    fn local_date(&self, at: Timestamp) -> NaiveDate {
        at.to_datetime().with_timezone(&self.timezone).date_naive()
    }

    /// The part of `[from, to)` that lies inside opening hours.
    pub fn business_duration(&self, from: Timestamp, to: Timestamp) -> Micros {
        if to <= from {
            return Micros(0);
        }
        let first = self.local_date(from).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(to).succ_opt().unwrap_or(NaiveDate::MAX);
        let mut total = 0i64;
        for date in first.iter_days().take_while(|d| *d <= last) {
            if self.holidays.contains(&date) {
                continue;
            }
            let weekday = date.weekday().num_days_from_monday() as usize;
            for &(start, end) in &self.weekly[weekday] {
                let open = self.instant(date, start).max(from);
                let close = self.instant(date, end).min(to);
                if close > open {
                    total += close.since(open).0;
                }
            }
        }
        Micros(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::parse_rfc3339;

    fn at(s: &str) -> Timestamp {
        parse_rfc3339(s).unwrap()
    }

    fn berlin() -> Calendar {
        let book = CalendarBook::from_json(
            r#"{"accounts":{"b":{"timezone":"Europe/Berlin",
                "weekly":{"mon":[["09:00","12:00"],["13:00","18:00"]],"sun":[["01:00","04:00"]]},
                "holidays":["2026-11-09"]}}}"#,
        )
        .unwrap();
        book.for_account("b").unwrap().clone()
    }

    fn hours(c: &Calendar, from: &str, to: &str) -> f64 {
        c.business_duration(at(from), at(to)).as_seconds_f64() / 3600.0
    }

    #[test]
    fn lunch_break_is_not_counted() {
        assert_eq!(
            hours(
                &berlin(),
                "2026-11-02T10:00:00+01:00",
                "2026-11-02T14:00:00+01:00"
            ),
            3.0
        );
    }

    #[test]
    fn holidays_are_closed() {
        assert_eq!(
            hours(
                &berlin(),
                "2026-11-09T00:00:00+01:00",
                "2026-11-10T00:00:00+01:00"
            ),
            0.0
        );
    }

    #[test]
    fn local_times_follow_daylight_saving() {
        // 2026-10-25: Berlin falls back at 03:00 CEST; 01:00-04:00 local lasts 4 hours.
        assert_eq!(
            hours(&berlin(), "2026-10-24T00:00:00Z", "2026-10-26T00:00:00Z"),
            4.0
        );
        // 2026-03-29: springs forward at 02:00; 01:00-04:00 local lasts 2 hours.
        assert_eq!(
            hours(&berlin(), "2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z"),
            2.0
        );
    }

    #[test]
    fn a_time_in_the_gap_takes_the_offset_before_it() {
        let c = berlin();
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        // 02:30 does not exist; with +01:00 (in force before) it is 01:30Z.
        assert_eq!(c.instant(d, 2 * 3600 + 1800), at("2026-03-29T01:30:00Z"));
    }

    #[test]
    fn an_ambiguous_time_takes_the_earlier_instant() {
        let c = berlin();
        let d = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        assert_eq!(c.instant(d, 2 * 3600 + 1800), at("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn always_open_equals_calendar_time() {
        let c = Calendar::always_open();
        assert_eq!(
            hours(&c, "2026-11-01T10:17:00Z", "2026-11-04T09:00:00Z"),
            70.0 + 43.0 / 60.0
        );
    }

    #[test]
    fn invalid_calendars_name_the_problem() {
        let cases = [
            (
                r#"{"default":{"timezone":"Mars/Olympus"}}"#,
                "default.timezone",
            ),
            (
                r#"{"default":{"timezone":"UTC","weekly":{"mon":[["10:00","09:00"]]}}}"#,
                "default.weekly.mon[0]",
            ),
            (
                r#"{"default":{"timezone":"UTC","weekly":{"mon":[["09:00","12:00"],["11:00","13:00"]]}}}"#,
                "default.weekly.mon",
            ),
            (
                r#"{"default":{"timezone":"UTC","weekly":{"mon":[["9:00","12:00"]]}}}"#,
                "default.weekly.mon[0]",
            ),
            (
                r#"{"default":{"timezone":"UTC","weekly":{"monday":[]}}}"#,
                "default.weekly",
            ),
            (
                r#"{"accounts":{"x":{"timezone":"UTC","holidays":["2026-02-30"]}}}"#,
                "accounts.x.holidays[0]",
            ),
        ];
        for (json, path) in cases {
            assert_eq!(
                CalendarBook::from_json(json).unwrap_err().path,
                path,
                "{json}"
            );
        }
    }

    #[test]
    fn a_calendar_larger_than_the_limits_is_refused_naming_the_part() {
        // Issue 15: 1,440 intervals a day and 200,000 holidays were accepted.
        let minutes: Vec<String> = (0..MAX_INTERVALS_PER_DAY + 1)
            .map(|i| {
                format!(
                    r#"["{:02}:{:02}","{:02}:{:02}"]"#,
                    i / 60,
                    i % 60,
                    i / 60,
                    i % 60 + 1
                )
            })
            .collect();
        let json = format!(
            r#"{{"default":{{"timezone":"UTC","weekly":{{"tue":[{}]}}}}}}"#,
            minutes.join(",")
        );
        let e = CalendarBook::from_json(&json).unwrap_err();
        assert_eq!(e.path, "default.weekly.tue");
        assert!(e.reason.contains("at most 48"), "{}", e.reason);
        let days: Vec<String> = (0..=MAX_HOLIDAYS)
            .map(|i| {
                format!(
                    r#""{}""#,
                    NaiveDate::from_num_days_from_ce_opt(740_000 + i as i32).unwrap()
                )
            })
            .collect();
        let json = format!(
            r#"{{"default":{{"timezone":"UTC","holidays":[{}]}}}}"#,
            days.join(",")
        );
        assert_eq!(
            CalendarBook::from_json(&json).unwrap_err().path,
            "default.holidays"
        );
        // At the limits, accepted.
        let json = format!(
            r#"{{"default":{{"timezone":"UTC","weekly":{{"tue":[{}]}},"holidays":[{}]}}}}"#,
            minutes[..MAX_INTERVALS_PER_DAY].join(","),
            days[..MAX_HOLIDAYS].join(",")
        );
        assert!(CalendarBook::from_json(&json).is_ok());
    }

    #[test]
    fn accounts_without_calendar_use_the_default_or_none() {
        let book = CalendarBook::from_json(r#"{"accounts":{"a":{"timezone":"UTC"}}}"#).unwrap();
        assert!(book.for_account("a").is_some());
        assert!(book.for_account("b").is_none());
    }
}
