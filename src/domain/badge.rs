//! How far a group is from Meta's "Very responsive" badge (SPEC §3's badge
//! rules), in numbers a manager can act on. The rule used:
//!
//! - **response rate** (answered within 24 h of the decided new
//!   conversations, at least 90 %): the fewest missed conversations that,
//!   answered within 24 h, lift it to 90 %: `x = ⌈(9d − 10h) / 10⌉` with `h`
//!   hits of `d` decided.
//! - **response time** (mean of the fastest ⌈9n/10⌉ first replies, at most
//!   900 s): the fewest new conversations answered in 5 minutes that bring
//!   that mean to 900 s, counted exactly by adding them to the n replies
//!   (they also raise the response rate).
//!
//! Pure: computed from the badge view's requests, no IO or clock. A test
//! applies each suggestion to the events and checks the badge condition
//! then holds (and one fewer is not enough).

use super::requests::{Request, View};
use super::stats::{Clock, Measured, RequestSource, Walk, badge_fastest};
use super::time::{Micros, ONE_DAY, Timestamp};
use super::{EventSet, ReplyPolicy};

/// The reply time the time suggestion assumes for new conversations.
pub const FAST_REPLY: Micros = Micros::from_seconds(300);
const MAX_MEAN_SECONDS: i128 = 900;

/// What the badge needs, for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BadgeGap {
    /// Missed conversations to have answered within 24 h (0: the rate is met).
    pub answered_within_24h: u64,
    /// New conversations answered in 5 minutes that would bring the mean
    /// of the fastest 90 % to 15 minutes (0: the time is met).
    pub fast_replies: u64,
    /// Decided new conversations and those answered within 24 h.
    pub decided: u64,
    pub hits: u64,
}

/// The badge inputs of the new conversations of `account` (and `channel`,
/// or all with `None`) opened in [`as_of` − `window`, `as_of`): hits and
/// decided for 24 h, and the first-reply times.
pub fn badge_inputs(
    set: &EventSet,
    as_of: Timestamp,
    window: Micros,
    account: &str,
    channel: Option<&str>,
) -> (u64, u64, Vec<Micros>) {
    let walk = Walk {
        set,
        operational: ReplyPolicy::operational(false),
    };
    badge_inputs_by_channel(set, &walk, as_of, window, account)
        .remove(channel.unwrap_or(super::ids::ALL_CHANNELS))
        .unwrap_or_default()
}

/// [`badge_inputs`] for every channel of `account` and for `"all"` at
/// once, from any request source (the service's engine keeps its requests
/// derived): channel → (hits, decided, first replies).
pub fn badge_inputs_by_channel(
    set: &EventSet,
    source: &impl RequestSource,
    as_of: Timestamp,
    window: Micros,
    account: &str,
) -> std::collections::BTreeMap<String, (u64, u64, Vec<Micros>)> {
    type Inputs = std::collections::BTreeMap<String, (u64, u64, Vec<Micros>)>;
    let start = as_of.minus(window);
    source.fold(
        as_of,
        Inputs::new,
        |acc: &mut Inputs, view, r: &Request| {
            if view != View::Badge
                || !r.new_conversation
                || r.opened_at < start
                || r.opened_at >= as_of
            {
                return;
            }
            let s = set.stream(set.stream_of(r.conversation));
            if s.account.as_str() != account {
                return;
            }
            let m = Measured::of(r, as_of, Clock::Calendar);
            for key in [s.channel.as_str(), super::ids::ALL_CHANNELS] {
                let e = acc.entry(key.to_string()).or_default();
                if m.decided(ONE_DAY) {
                    e.1 += 1;
                    e.0 += u64::from(m.hit(ONE_DAY));
                }
                e.2.extend(m.first_reply);
            }
        },
        |mut a, b| {
            for (k, (h, d, r)) in b {
                let e = a.entry(k).or_default();
                e.0 += h;
                e.1 += d;
                e.2.extend(r);
            }
            a
        },
    )
}

/// The fewest misses to turn into answers within 24 h for `hits / decided`
/// to reach 90 % (0 when it does; with nothing decided, 1: one answered
/// conversation makes the rate defined and 100 %).
pub fn rate_gap(hits: u64, decided: u64) -> u64 {
    if decided == 0 {
        return 1;
    }
    let need = 9 * decided;
    match 10 * hits >= need {
        true => 0,
        false => (need - 10 * hits).div_ceil(10),
    }
}

/// Whether the badge's time condition holds for these first replies.
pub fn time_met(replies: &[Micros]) -> bool {
    badge_fastest(replies.to_vec()).is_some_and(|(sum, k)| {
        sum <= MAX_MEAN_SECONDS * i128::from(Micros::from_seconds(1).0) * i128::from(k)
    })
}

/// The fewest replies of [`FAST_REPLY`] to add to `replies` for the mean of
/// the fastest ⌈9n/10⌉ to be at most 900 s (0 when it is).
pub fn time_gap(replies: &[Micros]) -> u64 {
    if time_met(replies) {
        return 0;
    }
    let mut sorted: Vec<i128> = replies.iter().map(|m| i128::from(m.0)).collect();
    sorted.sort_unstable();
    let prefix: Vec<i128> = std::iter::once(0)
        .chain(sorted.iter().scan(0i128, |acc, v| {
            *acc += v;
            Some(*acc)
        }))
        .collect();
    let fast = i128::from(FAST_REPLY.0);
    let below = sorted.partition_point(|v| *v <= fast);
    let limit = MAX_MEAN_SECONDS * i128::from(Micros::from_seconds(1).0);
    let n = sorted.len() as u64;
    // The sum of the k smallest of `sorted` with m copies of `fast` merged in.
    let fastest = |m: u64, k: u64| -> i128 {
        let (k, m) = (k as usize, m as usize);
        match k {
            k if k <= below => prefix[k],
            k if k <= below + m => prefix[below] + fast * (k - below) as i128,
            k => prefix[k - m] + fast * m as i128,
        }
    };
    // Monotone in m (each added reply is below the 900 s mean sought), so
    // the first m that works is found by doubling, then bisecting.
    let works = |m: u64| {
        let k = (9 * (n + m)).div_ceil(10);
        fastest(m, k) <= limit * i128::from(k)
    };
    let mut hi = 1;
    while !works(hi) {
        hi *= 2;
    }
    let mut lo = hi / 2; // does not work (or is 0, which does not)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match works(mid) {
            true => hi = mid,
            false => lo = mid,
        }
    }
    hi
}

/// The gap of one group.
pub fn badge_gap(hits: u64, decided: u64, replies: &[Micros]) -> BadgeGap {
    BadgeGap {
        answered_within_24h: rate_gap(hits, decided),
        fast_replies: time_gap(replies),
        decided,
        hits,
    }
}

impl BadgeGap {
    /// The gap in words, e.g. "response rate 89.8 %: 1 more conversation
    /// answered within 24 h (of 480) reaches 90 %"; empty when eligible.
    pub fn words(&self, replies: &[Micros]) -> Vec<String> {
        let mut out = Vec::new();
        if self.answered_within_24h > 0 {
            let rate = match self.decided {
                0 => "no conversation decided yet".to_string(),
                d => format!("{:.1} %", self.hits as f64 * 100.0 / d as f64),
            };
            out.push(format!(
                "response rate {rate}: {} more conversation{} answered within 24 h (of {}) reach{} 90 %",
                self.answered_within_24h,
                if self.answered_within_24h == 1 { "" } else { "s" },
                self.decided,
                if self.answered_within_24h == 1 { "es" } else { "" },
            ));
        }
        if self.fast_replies > 0 {
            let mean = badge_fastest(replies.to_vec())
                .map(|(sum, k)| super::compare::human_duration(sum as f64 / k as f64 / 1e6));
            out.push(format!(
                "response time {}: the fastest 90 % must average 15 min or less — {} more conversation{} answered within 5 min would do it",
                mean.unwrap_or_else(|| "undefined".into()),
                self.fast_replies,
                if self.fast_replies == 1 { "" } else { "s" },
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_gap_is_the_fewest_misses_to_answer_for_90_percent() {
        assert_eq!(rate_gap(431, 480), 1, "431/480 = 89.8 %, 432/480 = 90 %");
        assert_eq!(rate_gap(432, 480), 0);
        assert_eq!(rate_gap(0, 10), 9);
        assert_eq!(rate_gap(0, 0), 1);
    }

    #[test]
    fn the_time_gap_is_the_fewest_five_minute_replies_that_bring_the_mean_to_15_minutes() {
        let min = |m: i64| Micros::from_seconds(60 * m);
        // Ten replies of 54 min: fastest 9 average 54 min.
        let slow = vec![min(54); 10];
        let m = time_gap(&slow);
        let with = |m: u64| {
            let mut v = slow.clone();
            v.extend(std::iter::repeat_n(FAST_REPLY, m as usize));
            v
        };
        assert!(time_met(&with(m)), "{m} fast replies are enough");
        assert!(!time_met(&with(m - 1)), "{} are not", m - 1);
        assert_eq!(time_gap(&[min(10)]), 0);
        // No reply at all: one fast reply defines the time and meets it.
        assert_eq!(time_gap(&[]), 1);
    }
}
