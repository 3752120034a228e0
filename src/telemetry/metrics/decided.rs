//! SPEC §5's `replywatch_requests_decided_total` and
//! `replywatch_decisions_revised_total`: which decisions the passage of
//! time brought since the last count, and which a late event made. With
//! objectives that ask for business hours (`serve --slo`, `clock:
//! business`), the accounts they cover that have a calendar are counted a
//! second time in business time, as series with `clock="business"` (as the
//! gauges do). The rule of a decision is the core's (`domain::decisions`);
//! this module only keeps counters.

use super::Folding;
use crate::domain::decisions::{
    Change, DECISION_THRESHOLDS, LONGEST_THRESHOLD, change_between, change_of_knowledge,
};
use crate::domain::slo::{ClockKind, Objective};
use crate::domain::stats::Clock;
use crate::domain::{CalendarBook, Micros, Request, Timestamp};
use crate::engine::{Applied, Engine};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

pub(super) const DECIDED: &str = "replywatch_requests_decided_total";
const LABELS: [&str; 4] = ["account", "channel", "within", "outcome"];

/// How far back business-time decisions are looked for: 30 days (the
/// live gauges' horizon); a request still undecided in business time after
/// that is not counted.
const BUSINESS_HORIZON: Micros = Micros::from_seconds(30 * 86_400);

/// Decisions to count: per (stream, threshold index, hit), and revisions.
#[derive(Default)]
struct Tally {
    counts: HashMap<(u32, usize, bool), u64>,
    revised: u64,
}

impl Tally {
    /// Adds what `change` says of one request of `stream` for each threshold.
    fn add(&mut self, stream: u32, change: impl Fn(Micros) -> Option<Change>) {
        for (i, (_, seconds)) in DECISION_THRESHOLDS.iter().enumerate() {
            match change(Micros::from_seconds(*seconds)) {
                Some(Change::Decided(hit)) => {
                    *self.counts.entry((stream, i, hit)).or_default() += 1
                }
                Some(Change::Revised) => self.revised += 1,
                None => {}
            }
        }
    }
}

/// Which accounts are counted in business time, and their calendars.
#[derive(Default, Clone)]
struct Business {
    objectives: Arc<Vec<Objective>>,
    book: Arc<CalendarBook>,
}

impl Business {
    /// Whether `account` is counted in business time: an objective with
    /// `clock: business` covers it and it has a calendar.
    fn calendar_of(&self, account: &str) -> Option<Clock<'_>> {
        let wanted = self
            .objectives
            .iter()
            .any(|o| o.clock == ClockKind::Business && o.covers(account));
        if !wanted {
            return None;
        }
        self.book.for_account(account).map(Clock::Business)
    }
}

/// The decided counters and how far they have counted.
pub(super) struct Decided {
    /// Calendar time: SPEC §5's labels.
    pub(super) calendar: IntCounterVec,
    /// Business time: the same family with `clock="business"`, kept in
    /// its own registry and merged into the exposition.
    business: IntCounterVec,
    pub(super) business_registry: Registry,
    revised: IntCounter,
    /// Decisions up to this instant are counted (None before the first refresh).
    until: Mutex<Option<Timestamp>>,
    scope: RwLock<Business>,
}

impl Decided {
    pub(super) fn register(registry: &Registry) -> anyhow::Result<Decided> {
        let help = "Requests that became decided for a threshold (SPEC §3, §5): hit when answered within it, miss when it passed unanswered.";
        let calendar = IntCounterVec::new(Opts::new(DECIDED, help), &LABELS)?;
        let revised = IntCounter::new(
            "replywatch_decisions_revised_total",
            "Decisions already counted that a late event changed (not retracted from replywatch_requests_decided_total).",
        )?;
        registry.register(Box::new(calendar.clone()))?;
        registry.register(Box::new(revised.clone()))?;
        let business_registry = Registry::new();
        let mut labels = LABELS.to_vec();
        labels.push("clock");
        let business = IntCounterVec::new(Opts::new(DECIDED, help), &labels)?;
        business_registry.register(Box::new(business.clone()))?;
        Ok(Decided {
            calendar,
            business,
            business_registry,
            revised,
            until: Mutex::new(None),
            scope: RwLock::new(Business::default()),
        })
    }

    /// The objectives in force (`serve --slo`): which accounts are also
    /// counted in business time.
    pub(super) fn set_objectives(&self, objectives: Arc<Vec<Objective>>) {
        self.scope
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .objectives = objectives;
    }

    fn scope(&self) -> Business {
        self.scope.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The decisions that the passage of time brought since the last
    /// count. Counting starts at the first refresh (counter semantics).
    pub(super) fn count(
        &self,
        engine: &Engine,
        now: Timestamp,
        book: &Arc<CalendarBook>,
        folding: &Folding,
    ) {
        self.scope.write().unwrap_or_else(|e| e.into_inner()).book = book.clone();
        let scope = self.scope();
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let Some(from) = *until else {
            *until = Some(now);
            return;
        };
        if now <= from {
            return;
        }
        // Opened longer than the longest threshold before `from`: decided
        // for every threshold already (calendar time).
        let earliest = from.minus(LONGEST_THRESHOLD);
        let mut tally = Tally::default();
        let mut business = Tally::default();
        let set = engine.set();
        for (stream, requests) in engine.operational_requests() {
            let start = requests.partition_point(|r| r.opened_at < earliest);
            for r in requests[start..].iter().take_while(|r| r.opened_at < now) {
                tally.add(stream, |h| change_between(r, from, now, h, Clock::Calendar));
            }
            if let Some(clock) = scope.calendar_of(set.stream(stream).account.as_str()) {
                // Business hours can hold a request undecided for days:
                // every request not answered by `from` may change.
                let horizon = from.minus(BUSINESS_HORIZON);
                let start = requests.partition_point(|r| r.opened_at < horizon);
                for r in requests[start..].iter().take_while(|r| r.opened_at < now) {
                    if r.reply.is_some_and(|reply| reply.at < from) {
                        continue;
                    }
                    business.add(stream, |h| change_between(r, from, now, h, clock));
                }
            }
        }
        self.add(engine, tally, folding, None);
        self.add(engine, business, folding, Some("business"));
        *until = Some(now);
    }

    /// Decisions up to the last count that a late event made (a request
    /// nobody knew of, a reply that arrived after its moment): counted
    /// now, or as revisions when they differ from a counted one.
    pub(super) fn count_late(&self, engine: &Engine, applied: &Applied, folding: &Folding) {
        let until = *self.until.lock().unwrap_or_else(|e| e.into_inner());
        let Some(until) = until else { return };
        let scope = self.scope();
        let set = engine.set();
        let clocks = |stream: u32| {
            let business = scope.calendar_of(set.stream(stream).account.as_str());
            [(Clock::Calendar, None)]
                .into_iter()
                .chain(business.map(|c| (c, Some("business"))))
        };
        let mut tallies: [Tally; 2] = Default::default();
        let new: HashSet<(u32, Timestamp)> = applied
            .opened
            .iter()
            .map(|(s, r)| (*s, r.opened_at))
            .collect();
        for (stream, r) in &applied.opened {
            for (i, (clock, _)) in clocks(*stream).enumerate() {
                tallies[i].add(*stream, |h| change_of_knowledge(None, r, until, h, clock));
            }
        }
        for a in &applied.answered {
            if new.contains(&(a.stream, a.request.opened_at)) {
                continue; // counted whole above
            }
            // Before this event the request was known, unanswered.
            let unanswered = Request {
                reply: None,
                ..a.request
            };
            for (i, (clock, _)) in clocks(a.stream).enumerate() {
                tallies[i].add(a.stream, |h| {
                    change_of_knowledge(Some(&unanswered), &a.request, until, h, clock)
                });
            }
        }
        let [calendar, business] = tallies;
        self.add(engine, calendar, folding, None);
        self.add(engine, business, folding, Some("business"));
    }

    fn add(&self, engine: &Engine, tally: Tally, folding: &Folding, clock: Option<&str>) {
        let set = engine.set();
        for ((stream, i, hit), n) in tally.counts {
            let s = set.stream(stream);
            let (account, channel) = folding.labels(s.account.as_str(), s.channel.as_str());
            let within = DECISION_THRESHOLDS[i].0;
            // Both outcomes exist once either does: a first miss is then an
            // increase from 0, which `increase()` sees (an alert's SLI).
            for outcome in [hit, !hit] {
                let label = if outcome { "hit" } else { "miss" };
                let counter = match clock {
                    None => self.calendar.with_label_values(&[
                        account.as_str(),
                        channel.as_str(),
                        within,
                        label,
                    ]),
                    Some(c) => self.business.with_label_values(&[
                        account.as_str(),
                        channel.as_str(),
                        within,
                        label,
                        c,
                    ]),
                };
                if outcome == hit {
                    counter.inc_by(n);
                }
            }
        }
        if tally.revised > 0 {
            self.revised.inc_by(tally.revised);
        }
    }

    /// The calendar-time counter summed per threshold and outcome.
    pub(super) fn totals(&self) -> HashMap<(&'static str, bool), u64> {
        use prometheus::core::Collector;
        let mut out = HashMap::new();
        for family in self.calendar.collect() {
            for m in family.get_metric() {
                let label = |name: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_string())
                };
                let within = DECISION_THRESHOLDS
                    .iter()
                    .find(|(w, _)| Some(*w) == label("within").as_deref())
                    .map(|(w, _)| *w);
                if let Some(within) = within {
                    let hit = label("outcome").as_deref() == Some("hit");
                    *out.entry((within, hit)).or_default() += m.get_counter().get_value() as u64;
                }
            }
        }
        out
    }

    pub(super) fn revised(&self) -> u64 {
        self.revised.get()
    }

    /// Moves counts whose labels the new folding no longer keeps.
    pub(super) fn fold(&self, folding: &Folding) {
        super::move_counts(&self.calendar, &LABELS, |v| {
            let (account, channel) = folding.labels(&v[0], &v[1]);
            vec![account, channel, v[2].clone(), v[3].clone()]
        });
        let mut labels = LABELS.to_vec();
        labels.push("clock");
        super::move_counts(&self.business, &labels, |v| {
            let (account, channel) = folding.labels(&v[0], &v[1]);
            vec![account, channel, v[2].clone(), v[3].clone(), v[4].clone()]
        });
    }
}
