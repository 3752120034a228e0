//! `replywatch bench slo`: SPEC §5's decided counter — the SLI of the
//! burn-rate alerts — against the core's exact windowed hit ratio, over a
//! generated month replayed through the streaming engine as it would
//! arrive (in time order, one line in 50 two hours late; the clock
//! ticking every `--tick`). Prints, per
//! threshold, the hits and misses the counter counted and those the core
//! counts at the end (requests decided for the threshold), for the whole
//! month and for the last 7 days (the counter's increase over the window
//! against the requests opened in it), and the revisions late events made.

use crate::domain::decisions::{DECISION_THRESHOLDS, decided_at};
use crate::domain::stats::Clock;
use crate::domain::{EventSet, MessageEvent, Micros, ReplyPolicy, Timestamp};
use crate::engine::Engine;
use crate::files::generate::{GenerateOptions, generate};
use crate::telemetry::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchSloArgs {
    /// Events of the generated month.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// How often the clock ticks (the service's metrics refresh).
    #[arg(long, default_value = "5m", value_parser = crate::args::parse_window)]
    pub tick: Micros,
}

type Counts = BTreeMap<&'static str, (u64, u64)>;

/// Runs the benchmark and prints its figures.
pub fn run_bench_slo(args: &BenchSloArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let end = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")?.to_utc();
    let mut file = Vec::new();
    generate(
        &GenerateOptions {
            events: args.events,
            seed: args.seed,
            accounts: 0,
            end,
            days: 30,
        },
        &mut file,
        |_| {},
    )?;
    let mut events: Vec<MessageEvent> = file
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| MessageEvent::from_json(l).map_err(|e| anyhow::anyhow!("{e:?}")))
        .collect::<anyhow::Result<_>>()?;
    // Arrival: at the event's instant, except one line in 50 that arrives
    // two hours late (a webhook retried) — those make the late decisions
    // and the revisions.
    let arrival = |i: usize, e: &MessageEvent| {
        if i % 50 == 49 {
            e.at.plus(Micros::from_seconds(7_200))
        } else {
            e.at
        }
    };
    let mut arrivals: Vec<(Timestamp, MessageEvent)> = events
        .drain(..)
        .enumerate()
        .map(|(i, e)| (arrival(i, &e), e))
        .collect();
    arrivals.sort_by_key(|(t, _)| *t);
    let events = arrivals;
    let first = events
        .iter()
        .map(|(t, _)| *t)
        .min()
        .unwrap_or(Timestamp::from_unix_micros(0));
    // "Now" is the end of the generated month (late lines may lie after
    // it: they have not arrived yet).
    let end = Timestamp::from_datetime(end);
    let week_start = end.minus(Micros::from_seconds(7 * 86_400));

    let started = std::time::Instant::now();
    let mut engine = Engine::from_set(EventSet::default(), ReplyPolicy::operational(false));
    let metrics = Metrics::new(vec!["30d".parse().map_err(anyhow::Error::msg)?], 100_000)?;
    let book = Arc::new(crate::domain::CalendarBook::default());
    let tick = Micros(args.tick.0.max(1_000_000));
    let mut clock = first;
    let mut next = 0;
    let mut at_week_start: Option<Counts> = None;
    let mut ticks = 0u64;
    while clock < end {
        clock = clock.plus(tick).min(end);
        let from = next;
        while next < events.len() && events[next].0 < clock {
            next += 1;
        }
        if next > from {
            let applied = engine.apply(events[from..next].iter().map(|(_, e)| e.clone()));
            metrics.record(&engine, &applied);
        }
        metrics.advance_decisions(&engine, clock, &book);
        ticks += 1;
        if at_week_start.is_none() && clock >= week_start {
            // The tick at the window's start (the window of an increase).
            at_week_start = Some(totals(&metrics));
        }
    }
    let took = started.elapsed();
    let counter = totals(&metrics);
    let week_counter = at_week_start.unwrap_or_default();

    // The core at the end: requests decided for h, hits among them.
    let mut core_month: Counts = BTreeMap::new();
    let mut core_week: Counts = BTreeMap::new();
    for (_, requests) in engine.operational_requests() {
        for r in requests {
            for (label, seconds) in DECISION_THRESHOLDS {
                let Some(hit) =
                    decided_at(r, clock, Micros::from_seconds(seconds), Clock::Calendar)
                else {
                    continue;
                };
                for (counts, inside) in [
                    (&mut core_month, true),
                    (&mut core_week, r.opened_at >= week_start),
                ] {
                    if inside {
                        let e = counts.entry(label).or_default();
                        if hit { e.0 += 1 } else { e.1 += 1 }
                    }
                }
            }
        }
    }
    writeln!(
        out,
        "{} events, {} requests, replayed in {} ticks of {} s in {:.1} s; revisions by late events: {}",
        events.len(),
        engine
            .operational_requests()
            .map(|(_, r)| r.len())
            .sum::<usize>(),
        ticks,
        tick.0 / 1_000_000,
        took.as_secs_f64(),
        metrics.decisions_revised()
    )?;
    writeln!(
        out,
        "{:>6} | {:>22} {:>22} {:>9} | {:>22} {:>22} {:>9}",
        "within",
        "counter month hit/miss",
        "core month hit/miss",
        "Δ ratio",
        "counter 7d hit/miss",
        "core 7d hit/miss",
        "Δ ratio"
    )?;
    let ratio = |(h, m): (u64, u64)| {
        if h + m == 0 {
            0.0
        } else {
            h as f64 / (h + m) as f64
        }
    };
    for (label, _) in DECISION_THRESHOLDS {
        let c = counter.get(label).copied().unwrap_or_default();
        let k = core_month.get(label).copied().unwrap_or_default();
        let before = week_counter.get(label).copied().unwrap_or_default();
        let cw = (c.0 - before.0, c.1 - before.1);
        let kw = core_week.get(label).copied().unwrap_or_default();
        writeln!(
            out,
            "{label:>6} | {:>22} {:>22} {:>+9.5} | {:>22} {:>22} {:>+9.5}",
            format!("{}/{}", c.0, c.1),
            format!("{}/{}", k.0, k.1),
            ratio(c) - ratio(k),
            format!("{}/{}", cw.0, cw.1),
            format!("{}/{}", kw.0, kw.1),
            ratio(cw) - ratio(kw),
        )?;
    }
    Ok(())
}

fn totals(metrics: &Metrics) -> Counts {
    let mut out: Counts = BTreeMap::new();
    for ((within, hit), n) in metrics.decided_totals() {
        let e = out.entry(within).or_default();
        if hit { e.0 += n } else { e.1 += n }
    }
    out
}
