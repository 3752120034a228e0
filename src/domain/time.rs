//! Instants and durations of the domain: [`Timestamp`] (UTC, microsecond
//! precision, SPEC §1), parsing of the `at` field and of window durations
//! (`7d`, `90m`). Pure: no clock, no IO.

use chrono::{DateTime, Utc};
use std::fmt;

/// Microseconds in one second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// An integer `at` above this is unix milliseconds, below it unix seconds (SPEC §1).
const MILLIS_THRESHOLD: u64 = 100_000_000_000;
/// Largest accepted instant: 9999-12-31T23:59:59.999999Z (SPEC §1).
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// Whether `micros` lies in SPEC §1's range 1970-01-01T00:00:00Z …
/// 9999-12-31T23:59:59.999999Z: every stored instant prints as a four-digit
/// year and parses back (a year −1 would not, in NATS messages and files).
fn in_range(micros: i64) -> bool {
    (0..=MAX_MICROS).contains(&micros)
}

/// A UTC instant with microsecond precision (SPEC §1: finer fractions are
/// truncated). Kept as one integer so that sorting and arithmetic over
/// millions of events stay cheap; convert with [`Timestamp::to_datetime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `micros` microseconds after the unix epoch.
    pub const fn from_unix_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the unix epoch.
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// Truncates a chrono instant to whole microseconds.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Timestamp(at.timestamp_micros())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `self + d`, saturating at the representable range.
    pub fn plus(self, d: Micros) -> Self {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// `self − d`, saturating at the representable range.
    pub fn minus(self, d: Micros) -> Self {
        Timestamp(self.0.saturating_sub(d.0))
    }

    /// The duration from `earlier` to `self` (negative when `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Micros {
        Micros(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with `Z`, fractions only when non-zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt = self.to_datetime();
        if self.0.rem_euclid(MICROS_PER_SECOND) == 0 {
            write!(f, "{}", dt.format("%Y-%m-%dT%H:%M:%SZ"))
        } else {
            write!(f, "{}", dt.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
        }
    }
}

/// A signed duration in microseconds. Named with its unit so that nothing
/// mixes seconds and microseconds by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(pub i64);

impl Micros {
    pub const fn from_seconds(s: i64) -> Self {
        Micros(s * MICROS_PER_SECOND)
    }

    /// The duration in seconds as a float (the unit of every reported figure).
    pub fn as_seconds_f64(self) -> f64 {
        // Split to keep full precision for large values.
        (self.0 / MICROS_PER_SECOND) as f64
            + (self.0 % MICROS_PER_SECOND) as f64 / MICROS_PER_SECOND as f64
    }
}

/// One hour, the first-hour threshold of SPEC §3.
pub const ONE_HOUR: Micros = Micros::from_seconds(3600);
/// 24 hours: the response-rate threshold and the new-conversation gap (SPEC §2–3).
pub const ONE_DAY: Micros = Micros::from_seconds(86_400);

/// Parses an RFC 3339 timestamp with any offset into a [`Timestamp`],
/// truncating fractions finer than a microsecond.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    if let Some(t) = parse_rfc3339_fast(s.as_bytes()) {
        return Some(t);
    }
    // Rare forms (leap second, lowercase separators) go through chrono.
    let dt = DateTime::parse_from_rfc3339(s).ok()?;
    let micros = dt.timestamp_micros();
    in_range(micros).then_some(Timestamp(micros))
}

/// Converts an integer `at` (unix seconds, or milliseconds above 1e11).
pub fn from_unix_integer(n: u64) -> Option<Timestamp> {
    let micros = if n > MILLIS_THRESHOLD {
        n.checked_mul(1_000)?
    } else {
        n.checked_mul(1_000_000)?
    };
    let micros = i64::try_from(micros).ok()?;
    in_range(micros).then_some(Timestamp(micros))
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f+](Z|±HH:MM)`; anything else returns `None` and
/// falls back to chrono.
fn parse_rfc3339_fast(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac_micros = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                frac_micros = frac_micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            frac_micros *= 10;
        }
    }
    let offset_seconds = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = digits(&[*oh1, *oh2])?;
            let om = digits(&[*om1, *om2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_seconds;
    let micros = secs * MICROS_PER_SECOND + frac_micros;
    in_range(micros).then_some(Timestamp(micros))
}

/// Error of [`parse_duration`], naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (use e.g. 90m, 24h, 7d, 3600s, 1h30m)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a duration such as `7d`, `24h`, `30m`, `3600s`, `2w` or `1h30m`
/// (SPEC §4). Must be positive.
pub fn parse_duration(input: &str) -> Result<Micros, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = number.unwrap_or(0);
            number = Some(
                n.checked_mul(10)
                    .and_then(|n| n.checked_add(i64::from(d)))
                    .ok_or_else(|| err("too large"))?,
            );
            continue;
        }
        let unit_seconds = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(err("unknown unit: expected s, m, h, d or w")),
        };
        let n = number
            .take()
            .ok_or_else(|| err("a unit must follow a number"))?;
        total = n
            .checked_mul(unit_seconds)
            .and_then(|v| v.checked_mul(MICROS_PER_SECOND))
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err("too large"))?;
    }
    if number.is_some() {
        return Err(err("missing unit after the last number"));
    }
    if total <= 0 {
        return Err(err("must be positive"));
    }
    Ok(Micros(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        parse_rfc3339(s).expect(s).unix_micros()
    }

    #[test]
    fn rfc3339_with_any_offset_is_the_same_instant() {
        assert_eq!(ts("2026-11-01T12:00:00+03:00"), ts("2026-11-01T09:00:00Z"));
        assert_eq!(ts("2026-11-01T04:30:00-04:30"), ts("2026-11-01T09:00:00Z"));
    }

    #[test]
    fn fast_path_agrees_with_chrono() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.999999Z",
            "2026-11-01T09:30:00.250+01:00",
            "1970-01-01T01:00:00+01:00",
            "9999-12-31T23:59:59.999999Z",
            "2000-03-01T00:00:00.1-00:30",
        ] {
            let chrono = DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
            assert_eq!(ts(s), chrono, "{s}");
        }
    }

    #[test]
    fn instants_outside_1970_to_9999_are_refused_whatever_the_offset() {
        // SPEC §1: the year −1 would print as "-0001-…" and never parse back.
        for s in [
            "0000-01-01T00:00:00+00:01",
            "1969-12-31T23:59:59.999999Z",
            "1970-01-01T00:59:59+01:00",
            "9999-12-31T23:59:59-00:01",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
        assert_eq!(ts("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ts("9999-12-31T23:59:59.999999Z"), MAX_MICROS);
        assert_eq!(from_unix_integer(0), Some(Timestamp(0)));
        assert_eq!(from_unix_integer(253_402_300_800_000), None);
    }

    #[test]
    fn every_accepted_instant_prints_as_rfc3339_that_parses_back() {
        for micros in [0, 1, 86_399_999_999, 1_730_455_200_123_456, MAX_MICROS] {
            let t = Timestamp(micros);
            assert_eq!(parse_rfc3339(&t.to_string()), Some(t), "{t}");
        }
    }

    #[test]
    fn fractions_finer_than_a_microsecond_are_truncated_not_rounded() {
        assert_eq!(
            ts("2026-11-01T00:00:00.1234569Z") % MICROS_PER_SECOND,
            123_456
        );
    }

    #[test]
    fn lowercase_separators_and_leap_seconds_go_through_chrono() {
        assert_eq!(ts("2026-11-01t09:00:00z"), ts("2026-11-01T09:00:00Z"));
    }

    #[test]
    fn invalid_dates_are_rejected() {
        for s in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01",
            "2026-11-01T09:00:00",
            "yesterday",
        ] {
            assert!(parse_rfc3339(s).is_none(), "{s}");
        }
    }

    #[test]
    fn integers_above_1e11_are_milliseconds() {
        assert_eq!(
            from_unix_integer(1_793_523_660_000).unwrap(),
            from_unix_integer(1_793_523_660).unwrap()
        );
        assert_eq!(
            from_unix_integer(100_000_000_000).unwrap().unix_micros(),
            100_000_000_000 * MICROS_PER_SECOND
        );
    }

    #[test]
    fn durations_take_units_and_combinations() {
        assert_eq!(parse_duration("7d").unwrap(), Micros::from_seconds(604_800));
        assert_eq!(parse_duration("90m").unwrap(), Micros::from_seconds(5_400));
        assert_eq!(parse_duration("3600s").unwrap(), ONE_HOUR);
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            Micros::from_seconds(5_400)
        );
        for bad in ["", "7", "d", "0h", "7x", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_is_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_unix_micros(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_micros(1_500_000).to_string(),
            "1970-01-01T00:00:01.500000Z"
        );
    }
}
