//! SPEC §3: the windowed figures of each group, the responsive badge with its
//! blockers, business-hours clocks and per-agent rows. [`analyze`] is the
//! pure `EventSet -> StatsReport` function every other path must equal.
//! Pure: no IO, no clock.

use super::calendar::{Calendar, CalendarBook};
use super::document::{AgentStats, GroupStats, StatsReport, agent_order, group_order};
use super::eventset::{AgentIdx, EventSet, NO_AGENT};
use super::ids::ALL_CHANNELS;
use super::requests::{ReplyPolicy, Request, View, fold_requests};
use super::time::{MICROS_PER_SECOND, Micros, ONE_DAY, ONE_HOUR, Timestamp};
use std::collections::HashMap;

/// Meta's badge thresholds (SPEC §3).
const BADGE_MIN_RESPONSE_RATE: (u64, u64) = (9, 10);
const BADGE_MAX_RESPONSE_SECONDS: i64 = 900;

/// What to compute: the evaluation instant, the window and the options of
/// `analyze` (SPEC §4).
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub as_of: Timestamp,
    pub window: Micros,
    pub bots_count_as_replies: bool,
    pub by_agent: bool,
    /// Business hours per account; accounts without one keep calendar time.
    pub calendars: CalendarBook,
    /// When set, accounts outside it are reported together as
    /// [`OTHER_ACCOUNTS`] (the service's bound on metric series).
    pub keep_accounts: Option<std::sync::Arc<std::collections::HashSet<String>>>,
    /// When set, the (account label, channel) pairs outside it are
    /// reported as channel [`OTHER_CHANNELS`] of their account label (the
    /// service's total series budget).
    pub keep_channels: Option<std::sync::Arc<std::collections::HashSet<(String, String)>>>,
    /// With `by_agent`: when set, agents outside it share one row, `_other`.
    pub keep_agents: Option<std::sync::Arc<std::collections::HashSet<String>>>,
}

impl AnalyzeOptions {
    /// The (account, channel) labels a stream is reported under, after
    /// `keep_accounts` and `keep_channels` folded it.
    pub fn labels_of(&self, account: &str, channel: &str) -> (String, String) {
        folded_labels(
            self.keep_accounts.as_deref(),
            self.keep_channels.as_deref(),
            account,
            channel,
        )
    }
}

/// The (account, channel) labels of a stream when only `keep_accounts`
/// keep their name (others: [`OTHER_ACCOUNTS`]) and only `keep_channels`
/// (pairs of account label and channel) theirs (others: [`OTHER_CHANNELS`]);
/// None keeps every name.
pub fn folded_labels(
    keep_accounts: Option<&std::collections::HashSet<String>>,
    keep_channels: Option<&std::collections::HashSet<(String, String)>>,
    account: &str,
    channel: &str,
) -> (String, String) {
    let account = match keep_accounts {
        Some(keep) if !keep.contains(account) => OTHER_ACCOUNTS.to_string(),
        _ => account.to_string(),
    };
    let channel = match keep_channels {
        Some(keep) if !keep.contains(&(account.clone(), channel.to_string())) => {
            OTHER_CHANNELS.to_string()
        }
        _ => channel.to_string(),
    };
    (account, channel)
}

impl AnalyzeOptions {
    pub fn new(as_of: Timestamp, window: Micros) -> Self {
        AnalyzeOptions {
            as_of,
            window,
            bots_count_as_replies: false,
            by_agent: false,
            calendars: CalendarBook::default(),
            keep_accounts: None,
            keep_channels: None,
            keep_agents: None,
        }
    }
}

/// How durations are measured for one account: calendar or business time.
#[derive(Clone, Copy)]
pub enum Clock<'a> {
    Calendar,
    Business(&'a Calendar),
}

impl<'a> Clock<'a> {
    /// Business time for an account with a calendar, else calendar time.
    pub fn for_account(calendars: &'a CalendarBook, account: &str) -> Self {
        match calendars.for_account(account) {
            Some(c) => Clock::Business(c),
            None => Clock::Calendar,
        }
    }

    pub fn duration(self, from: Timestamp, to: Timestamp) -> Micros {
        match self {
            Clock::Calendar => to.since(from),
            Clock::Business(c) => c.business_duration(from, to),
        }
    }
}

/// One request measured at the evaluation instant.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// First-reply time, when answered before the instant.
    pub first_reply: Option<Micros>,
    /// Time since opening, at the instant.
    pub age: Micros,
}

impl Measured {
    pub fn of(r: &Request, as_of: Timestamp, clock: Clock) -> Self {
        Measured {
            first_reply: r.reply.map(|x| clock.duration(r.opened_at, x.at)),
            age: clock.duration(r.opened_at, as_of),
        }
    }

    /// Answered within `h` (inclusive).
    pub fn hit(&self, h: Micros) -> bool {
        self.first_reply.is_some_and(|f| f <= h)
    }

    /// SPEC §3: decided for `h` when answered within `h`, or open for at least `h`.
    pub fn decided(&self, h: Micros) -> bool {
        self.hit(h) || self.age >= h
    }
}

/// SPEC §4, "Final or not": a request no longer moves the figures of the
/// period it was opened in once it is decided for 24 h (answered, or opened
/// at least 24 h before the instant). A period is final when all its
/// requests are; charts, daily tables and the page mark the others.
pub fn settled(m: &Measured) -> bool {
    m.decided(ONE_DAY)
}

/// A share with its denominator, `None` when nothing counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Share {
    pub hits: u64,
    pub of: u64,
}

impl Share {
    pub fn add(&mut self, counts: bool, hit: bool) {
        if counts {
            self.of += 1;
            self.hits += u64::from(hit);
        }
    }

    pub fn ratio(self) -> Option<f64> {
        (self.of > 0).then(|| self.hits as f64 / self.of as f64)
    }

    /// `hits/of ≥ num/den`, exactly.
    fn at_least(self, (num, den): (u64, u64)) -> bool {
        self.of > 0 && self.hits * den >= num * self.of
    }
}

/// Median of sorted values in seconds (mean of the middle two for even counts).
pub fn median_seconds(sorted: &[Micros]) -> Option<f64> {
    median_by_rank(sorted.len(), |i| sorted[i])
}

/// The ranks (0-based, in sorted order) the median of `n` values reads.
fn median_ranks(n: usize) -> [usize; 2] {
    match n % 2 {
        1 => [n / 2, n / 2],
        _ => [n / 2 - 1, n / 2],
    }
}

/// The median of `n` values, given the value at each rank.
fn median_by_rank(n: usize, at: impl Fn(usize) -> Micros) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let [a, b] = median_ranks(n);
    Some(match a == b {
        true => at(a).as_seconds_f64(),
        false => (at(a).as_seconds_f64() + at(b).as_seconds_f64()) / 2.0,
    })
}

/// Percentile `q` of sorted values in seconds, linear interpolation between
/// closest ranks, computed as numpy's default method does.
pub fn percentile_seconds(sorted: &[Micros], q: f64) -> Option<f64> {
    percentile_by_rank(sorted.len(), q, |i| sorted[i])
}

/// The two ranks percentile `q` of `n` values interpolates between.
fn percentile_ranks(n: usize, q: f64) -> (usize, usize, f64) {
    let h = q * (n - 1) as f64;
    let lo = h.floor() as usize;
    (lo, (lo + 1).min(n - 1), h - lo as f64)
}

/// Percentile `q` of `n` values, given the value at each rank.
fn percentile_by_rank(n: usize, q: f64, at: impl Fn(usize) -> Micros) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let (lo, hi, t) = percentile_ranks(n, q);
    let (a, b) = (at(lo).as_seconds_f64(), at(hi).as_seconds_f64());
    // numpy's _lerp: symmetric form for t ≥ 0.5 keeps it monotone.
    Some(if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    })
}

/// SPEC §3: mean of the fastest ⌈9n/10⌉ first-reply times, as a sum and a
/// count. Selection, not sorting: only which values are the k smallest
/// matters. The sum is an i128: millions of week-long replies in
/// microseconds pass i64's range (issue 15: the sum was unchecked).
pub fn badge_fastest(mut values: Vec<Micros>) -> Option<(i128, u64)> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let k = (9 * n).div_ceil(10); // (9n + 9) div 10
    values.select_nth_unstable(k - 1);
    Some((values[..k].iter().map(|m| i128::from(m.0)).sum(), k as u64))
}

/// Median and 90th percentile of `values`, reading only the ranks they
/// need by selection (O(n)) instead of sorting (O(n log n)); the arithmetic
/// is [`median_seconds`]'s and [`percentile_seconds`]'s.
pub fn median_and_p90(mut values: Vec<Micros>) -> (Option<f64>, Option<f64>) {
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let [m1, m2] = median_ranks(n);
    let (p1, p2, _) = percentile_ranks(n, 0.9);
    let mut ranks = [m1, m2, p1, p2];
    ranks.sort_unstable();
    let mut start = 0;
    let mut found: Vec<(usize, Micros)> = Vec::with_capacity(4);
    for r in ranks {
        if r >= start {
            values[start..].select_nth_unstable(r - start);
            start = r + 1;
        }
        found.push((r, values[r]));
    }
    let at = |i: usize| {
        found
            .iter()
            .find(|(r, _)| *r == i)
            .map_or(Micros(0), |(_, v)| *v)
    };
    (median_by_rank(n, at), percentile_by_rank(n, 0.9, at))
}

/// Counts and durations of the operational view for one group or agent.
#[derive(Debug, Default, Clone)]
struct OperationalAcc {
    requests: u64,
    answered: u64,
    hit_1h: Share,
    hit_24h: Share,
    first_replies: Vec<Micros>,
    oldest_pending_opened_at: Option<Timestamp>,
}

#[derive(Debug, Default, Clone)]
struct BadgeAcc {
    /// Badge-view requests in the window, new conversations or not.
    requests: u64,
    conversations: u64,
    within_24h: Share,
    first_replies: Vec<Micros>,
}

#[derive(Debug, Default, Clone)]
struct AgentAcc {
    within_1h: u64,
    within_24h: u64,
    first_replies: Vec<Micros>,
}

#[derive(Debug, Default, Clone)]
struct GroupAcc {
    op: OperationalAcc,
    badge: BadgeAcc,
    agents: HashMap<AgentIdx, AgentAcc>,
}

impl Share {
    fn merge(&mut self, o: Share) {
        self.hits += o.hits;
        self.of += o.of;
    }
}

impl GroupAcc {
    /// Adds another partial accumulator of the same group (order-insensitive).
    fn merge(&mut self, o: GroupAcc) {
        let (op, oo) = (&mut self.op, o.op);
        op.requests += oo.requests;
        op.answered += oo.answered;
        op.hit_1h.merge(oo.hit_1h);
        op.hit_24h.merge(oo.hit_24h);
        op.first_replies.extend(oo.first_replies);
        op.oldest_pending_opened_at =
            match (op.oldest_pending_opened_at, oo.oldest_pending_opened_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        let (b, ob) = (&mut self.badge, o.badge);
        b.requests += ob.requests;
        b.conversations += ob.conversations;
        b.within_24h.merge(ob.within_24h);
        b.first_replies.extend(ob.first_replies);
        for (agent, a) in o.agents {
            let mine = self.agents.entry(agent).or_default();
            mine.within_1h += a.within_1h;
            mine.within_24h += a.within_24h;
            mine.first_replies.extend(a.first_replies);
        }
    }

    fn add_operational(&mut self, r: &Request, m: &Measured, by_agent: Option<&[AgentIdx]>) {
        let op = &mut self.op;
        op.requests += 1;
        op.hit_1h.add(m.decided(ONE_HOUR), m.hit(ONE_HOUR));
        op.hit_24h.add(m.decided(ONE_DAY), m.hit(ONE_DAY));
        match (m.first_reply, r.reply) {
            (Some(f), Some(reply)) => {
                op.answered += 1;
                op.first_replies.push(f);
                if let Some(agent_map) = by_agent {
                    // Agents outside `keep_agents` share one row.
                    let agent = agent_map
                        .get(reply.agent as usize)
                        .copied()
                        .unwrap_or(reply.agent);
                    let a = self.agents.entry(agent).or_default();
                    a.first_replies.push(f);
                    a.within_1h += u64::from(f <= ONE_HOUR);
                    a.within_24h += u64::from(f <= ONE_DAY);
                }
            }
            _ => {
                let oldest = op.oldest_pending_opened_at.get_or_insert(r.opened_at);
                *oldest = (*oldest).min(r.opened_at);
            }
        }
    }

    fn add_badge(&mut self, r: &Request, m: &Measured) {
        self.badge.requests += 1;
        // SPEC §3: the badge counts new conversations only.
        if !r.new_conversation {
            return;
        }
        self.badge.conversations += 1;
        self.badge
            .within_24h
            .add(m.decided(ONE_DAY), m.hit(ONE_DAY));
        self.badge.first_replies.extend(m.first_reply);
    }
}

/// Microseconds as seconds, split to keep full precision (as
/// [`Micros::as_seconds_f64`], for sums beyond i64).
fn seconds_of(micros: i128) -> f64 {
    let per = i128::from(MICROS_PER_SECOND);
    (micros / per) as f64 + (micros % per) as f64 / per as f64
}

/// SPEC §3's badge conditions, in words, for the ones that fail.
pub fn badge_blockers(rate: Share, fastest: Option<(i128, u64)>) -> Vec<String> {
    let mut blockers = Vec::new();
    match rate.ratio() {
        None => blockers.push("response_rate undefined".to_string()),
        Some(r) if !rate.at_least(BADGE_MIN_RESPONSE_RATE) => {
            let shown = format!("{r:.2}");
            let shown = if shown == "0.90" {
                format!("{r:.4}")
            } else {
                shown
            };
            blockers.push(format!("response_rate {shown} < 0.90"));
        }
        Some(_) => {}
    }
    match fastest {
        None => blockers.push("response_time undefined".to_string()),
        Some((sum, k))
            if sum > i128::from(BADGE_MAX_RESPONSE_SECONDS * MICROS_PER_SECOND) * i128::from(k) =>
        {
            let mean = sum as f64 / k as f64 / MICROS_PER_SECOND as f64;
            let shown = if mean < 900.5 {
                format!("{mean:.1}")
            } else {
                format!("{mean:.0}")
            };
            blockers.push(format!("response_time {shown}s > 900s"));
        }
        Some(_) => {}
    }
    blockers
}

impl GroupAcc {
    fn finish(
        self,
        account: &str,
        channel: &str,
        set: &EventSet,
        by_agent: bool,
        as_of: Timestamp,
        clock: Clock,
    ) -> GroupStats {
        let op = self.op;
        let (median, p90) = median_and_p90(op.first_replies);
        let fastest = badge_fastest(self.badge.first_replies);
        let blockers = badge_blockers(self.badge.within_24h, fastest);
        let agents = by_agent.then(|| {
            let mut rows: Vec<AgentStats> = self
                .agents
                .into_iter()
                .map(|(idx, a)| {
                    let n = a.first_replies.len() as u64;
                    let (median, p90) = median_and_p90(a.first_replies);
                    AgentStats {
                        agent: match idx {
                            NO_AGENT => None,
                            OTHER_AGENT => Some(OTHER_AGENTS.to_string()),
                            _ => set.agent(idx).map(|n| n.to_string()),
                        },
                        answered: n,
                        median_first_reply_seconds: median,
                        p90_first_reply_seconds: p90,
                        hit_ratio_1h: Share {
                            hits: a.within_1h,
                            of: n,
                        }
                        .ratio(),
                        hit_ratio_24h: Share {
                            hits: a.within_24h,
                            of: n,
                        }
                        .ratio(),
                    }
                })
                .collect();
            rows.sort_by(|a, b| agent_order(&a.agent, &b.agent));
            rows
        });
        GroupStats {
            account: account.to_string(),
            channel: channel.to_string(),
            requests: op.requests,
            answered: op.answered,
            pending: op.requests - op.answered,
            response_rate: op.hit_24h.ratio(),
            hit_ratio_1h: op.hit_1h.ratio(),
            hit_ratio_24h: op.hit_24h.ratio(),
            median_first_reply_seconds: median,
            p90_first_reply_seconds: p90,
            oldest_pending_seconds: op
                .oldest_pending_opened_at
                .map(|o| clock.duration(o, as_of).as_seconds_f64()),
            badge_conversations: self.badge.conversations,
            badge_response_rate: self.badge.within_24h.ratio(),
            badge_response_seconds: fastest.map(|(sum, k)| seconds_of(sum) / k as f64),
            badge_eligible: blockers.is_empty(),
            badge_blockers: blockers,
            agents,
            previous: None,
        }
    }
}

/// Where the requests of a computation come from: the walk over an event
/// set ([`Walk`], what `analyze` uses) or a cache of already derived
/// requests (the service's engine). Either way the figures are computed by
/// the same accumulators below, so they cannot disagree.
pub trait RequestSource: Sync {
    /// Folds every request of both views as derived from the events with
    /// `at < until` (SPEC §3). `add` sees each request once; `merge`
    /// combines partial accumulators (order-insensitive).
    fn fold<A: Send>(
        &self,
        until: Timestamp,
        init: impl Fn() -> A + Sync + Send,
        add: impl Fn(&mut A, View, &Request) + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> A;
}

/// Requests derived by walking every conversation of an event set.
pub struct Walk<'a> {
    pub set: &'a EventSet,
    pub operational: ReplyPolicy,
}

impl RequestSource for Walk<'_> {
    fn fold<A: Send>(
        &self,
        until: Timestamp,
        init: impl Fn() -> A + Sync + Send,
        add: impl Fn(&mut A, View, &Request) + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> A {
        fold_requests(self.set, until, self.operational, init, add, merge)
    }
}

/// The agent name reported for agents folded by [`AnalyzeOptions::keep_agents`].
pub const OTHER_AGENTS: &str = "_other";
const OTHER_AGENT: AgentIdx = NO_AGENT - 1;

/// The account name reported for accounts folded by [`AnalyzeOptions::keep_accounts`].
pub const OTHER_ACCOUNTS: &str = "_other";
/// The channel name reported for pairs folded by [`AnalyzeOptions::keep_channels`].
pub const OTHER_CHANNELS: &str = "_other";

/// Computes the SPEC §3 figures of every group over the distinct events of `set`.
pub fn analyze(set: &EventSet, opts: &AnalyzeOptions) -> StatsReport {
    let walk = Walk {
        set,
        operational: ReplyPolicy::operational(opts.bots_count_as_replies),
    };
    let mut reports = analyze_windows(set, opts, &[opts.window], &walk);
    reports
        .pop()
        .unwrap_or_else(|| unreachable!("one window gives one report"))
}

/// [`analyze`] with SPEC §4's comparison with the previous period: every
/// group gains `previous` (`analyze --compare-previous`).
pub fn analyze_with_previous(set: &EventSet, opts: &AnalyzeOptions) -> StatsReport {
    let walk = Walk {
        set,
        operational: ReplyPolicy::operational(opts.bots_count_as_replies),
    };
    analyze_compared(set, opts, &walk)
}

/// The figures at `opts.as_of` for several windows at once (one pass over
/// the requests), one report per window in the order given; `opts.window`
/// is ignored. `set` names the streams, conversations and agents of the
/// requests `source` folds.
pub fn analyze_windows(
    set: &EventSet,
    opts: &AnalyzeOptions,
    windows: &[Micros],
    source: &impl RequestSource,
) -> Vec<StatsReport> {
    let spans: Vec<(Timestamp, Timestamp)> = windows
        .iter()
        .map(|&w| (opts.as_of.minus(w), opts.as_of))
        .collect();
    analyze_spans(set, opts, &spans, source)
}

/// SPEC §4 `--compare-previous`: the figures of the window W before
/// `opts.as_of`, each group with the figures of the requests opened in
/// [`as_of` − 2W, `as_of` − W) measured at `as_of` (one pass).
pub fn analyze_compared(
    set: &EventSet,
    opts: &AnalyzeOptions,
    source: &impl RequestSource,
) -> StatsReport {
    let (w, at) = (opts.window, opts.as_of);
    let spans = [(at.minus(w), at), (at.minus(w).minus(w), at.minus(w))];
    let mut reports = analyze_spans(set, opts, &spans, source).into_iter();
    let (Some(current), Some(previous)) = (reports.next(), reports.next()) else {
        unreachable!("two spans give two reports")
    };
    current.with_previous(previous, opts.by_agent)
}

/// The figures at `opts.as_of` of the requests opened in each span
/// [start, end) (`end` ≤ `as_of`), one report per span in the order given,
/// from one pass over the requests; `opts.window` is ignored and each
/// report's window is its span's length.
fn analyze_spans(
    set: &EventSet,
    opts: &AnalyzeOptions,
    spans: &[(Timestamp, Timestamp)],
    source: &impl RequestSource,
) -> Vec<StatsReport> {
    // Each stream feeds its own group and its account's "all" group.
    let mut group_index: HashMap<(String, String), usize> = HashMap::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut index_of = |account: String, channel: &str| -> usize {
        *group_index
            .entry((account.clone(), channel.to_string()))
            .or_insert_with(|| {
                keys.push((account, channel.to_string()));
                keys.len() - 1
            })
    };
    let mut stream_groups: Vec<(usize, usize)> = Vec::with_capacity(set.streams().len());
    let mut clocks: Vec<Clock> = Vec::with_capacity(set.streams().len());
    for s in set.streams() {
        let (account, channel) = opts.labels_of(s.account.as_str(), s.channel.as_str());
        let own = index_of(account.clone(), &channel);
        let all = index_of(account, ALL_CHANNELS);
        stream_groups.push((own, all));
        clocks.push(Clock::for_account(&opts.calendars, s.account.as_str()));
    }
    let n_groups = keys.len();
    // Per agent index: itself, or OTHER_AGENT when `keep_agents` leaves it out.
    let agent_map: Option<Vec<AgentIdx>> = opts.by_agent.then(|| {
        (0..set.agent_count() as AgentIdx)
            .map(|i| match (&opts.keep_agents, set.agent(i)) {
                (Some(keep), Some(name)) if !keep.contains(name.as_str()) => OTHER_AGENT,
                _ => i,
            })
            .collect()
    });
    let inside = |r: &Request, &(start, end): &(Timestamp, Timestamp)| {
        r.opened_at >= start && r.opened_at < end && r.opened_at < opts.as_of
    };
    let add = |accs: &mut Vec<GroupAcc>, view: View, r: &Request| {
        if !spans.iter().any(|span| inside(r, span)) {
            return;
        }
        let s = set.stream_of(r.conversation) as usize;
        let (own, all) = stream_groups[s];
        let m = match view {
            View::Operational => Measured::of(r, opts.as_of, clocks[s]),
            // SPEC §3: the badge stays in calendar time.
            View::Badge => Measured::of(r, opts.as_of, Clock::Calendar),
        };
        for (w, span) in spans.iter().enumerate() {
            if !inside(r, span) {
                continue;
            }
            for g in [own, all] {
                let acc = &mut accs[w * n_groups + g];
                match view {
                    View::Operational => acc.add_operational(r, &m, agent_map.as_deref()),
                    View::Badge => acc.add_badge(r, &m),
                }
            }
        }
    };
    let accs = source.fold(
        opts.as_of,
        || vec![GroupAcc::default(); n_groups * spans.len()],
        add,
        |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        },
    );

    let mut accs = accs.into_iter();
    spans
        .iter()
        .map(|&(start, end)| {
            let mut groups: Vec<GroupStats> = keys
                .iter()
                .zip(accs.by_ref().take(n_groups))
                // SPEC §3: listed when it has a request in the window in either view.
                .filter(|(_, acc)| acc.op.requests > 0 || acc.badge.requests > 0)
                .map(|((account, channel), acc)| {
                    acc.finish(
                        account,
                        channel,
                        set,
                        opts.by_agent,
                        opts.as_of,
                        Clock::for_account(&opts.calendars, account),
                    )
                })
                .collect();
            groups.sort_by(|a, b| group_order((&a.account, &a.channel), (&b.account, &b.channel)));
            StatsReport {
                as_of: opts.as_of.to_string(),
                window_seconds: end.since(start).0 / MICROS_PER_SECOND,
                groups,
            }
        })
        .collect()
}

/// SPEC §5 `replywatch_pending_older_than`: of `requests`, those opened
/// in [`start`, `now`) and still pending at `now`, counted per age: opened
/// at least `ages[i]` seconds before `now`.
pub fn pending_older_than<const N: usize>(
    requests: &[Request],
    start: Timestamp,
    now: Timestamp,
    ages: &[i64; N],
) -> [u64; N] {
    let mut counts = [0u64; N];
    for r in requests {
        if r.opened_at < start || r.opened_at >= now || r.reply.is_some_and(|x| x.at < now) {
            continue;
        }
        let age = now.since(r.opened_at).0 / 1_000_000;
        for (count, &t) in counts.iter_mut().zip(ages) {
            *count += u64::from(age >= t);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_older_than_counts_requests_still_open_by_age() {
        use crate::domain::requests::Reply;
        let t0 = Timestamp::from_unix_micros(1_780_000_000_000_000);
        let at = |s: i64| t0.plus(Micros::from_seconds(s));
        let open = |s: i64, reply: Option<i64>| Request {
            conversation: 0,
            opened_at: at(s),
            reply: reply.map(|r| Reply {
                at: at(r),
                agent: crate::domain::eventset::NO_AGENT,
            }),
            new_conversation: true,
        };
        let now = at(100_000);
        let requests = [
            open(0, None),               // 100,000 s old: every age
            open(90_000, None),          // 10,000 s: 1 h only
            open(99_000, Some(100_000)), // answered at now: still pending
            open(50_000, Some(60_000)),  // answered before now
            open(100_000, None),         // opened at now: not yet
        ];
        assert_eq!(
            pending_older_than(&requests, at(0), now, &[3_600, 72_000, 86_400]),
            [2, 1, 1]
        );
        assert_eq!(
            pending_older_than(&requests, at(1), now, &[0]),
            [2],
            "opened before the start"
        );
    }

    #[test]
    fn selecting_ranks_gives_the_same_median_p90_and_badge_mean_as_sorting() {
        let mut rng = crate::files::generate::Rng::new(5);
        for n in 1usize..200 {
            let v: Vec<Micros> = (0..n)
                .map(|_| Micros(rng.below(50) as i64 * 1_000_000))
                .collect();
            let mut sorted = v.clone();
            sorted.sort_unstable();
            let (median, p90) = median_and_p90(v.clone());
            assert_eq!(median, median_seconds(&sorted), "n = {n}");
            assert_eq!(p90, percentile_seconds(&sorted, 0.9), "n = {n}");
            let k = (9 * n).div_ceil(10);
            let fastest: i128 = sorted[..k].iter().map(|m| i128::from(m.0)).sum();
            assert_eq!(badge_fastest(v), Some((fastest, k as u64)), "n = {n}");
        }
    }

    #[test]
    fn badge_sums_past_i64_stay_exact() {
        // Issue 15: the sum of the fastest 90 % was an unchecked i64; 20
        // replies of 2^62 µs each pass i64::MAX.
        let huge = Micros(1 << 62);
        let (sum, k) = badge_fastest(vec![huge; 20]).unwrap();
        assert_eq!(k, 18);
        assert_eq!(sum, 18 * (1i128 << 62));
        let blockers = badge_blockers(Share { hits: 20, of: 20 }, Some((sum, k)));
        assert_eq!(blockers.len(), 1, "{blockers:?}");
        assert!(blockers[0].starts_with("response_time"), "{blockers:?}");
    }
}
