//! `replywatch bench engine`: what one late event costs the streaming
//! engine in a long conversation (issue 15: the engine re-walked the whole
//! conversation and compared every request with every earlier one, under
//! the lock that ingestion, scrapes and reads need). Prints the time to
//! apply one event at the start, the middle and the end of a conversation
//! of `--conversation-events` events, beside a full build of it.

use crate::domain::{EventSet, MessageEvent, ReplyPolicy, Timestamp};
use crate::engine::Engine;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchEngineArgs {
    /// Events in the one long conversation.
    #[arg(long, default_value_t = 100_000)]
    pub conversation_events: usize,
    /// Repetitions of each measurement (the median is printed).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

fn event(id: String, from: &str, seconds: i64) -> anyhow::Result<MessageEvent> {
    let at = Timestamp::from_unix_micros(1_780_000_000_000_000 + seconds * 1_000_000);
    let line = format!(
        r#"{{"id":"{id}","account":"bench","channel":"messenger","conversation":"long","from":"{from}","at":"{at}"}}"#
    );
    MessageEvent::from_json(line.as_bytes()).map_err(|e| anyhow::anyhow!("bench event {id}: {e:?}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the benchmark and prints its figures.
pub fn run_bench_engine(
    args: &BenchEngineArgs,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let n = args.conversation_events.max(2);
    let mut base = Vec::with_capacity(n);
    for i in 0..(n / 2) as i64 {
        base.push(event(format!("c{i}"), "customer", i * 600)?);
        base.push(event(format!("a{i}"), "agent", i * 600 + 30 + i % 90)?);
    }
    let policy = ReplyPolicy::operational(false);
    let span = (n / 2) as i64 * 600;
    writeln!(
        out,
        "one conversation of {} events ({} requests)",
        base.len(),
        n / 2
    )?;
    let mut builds = Vec::new();
    for _ in 0..args.repeat.max(1) {
        let t = Instant::now();
        let engine = Engine::from_set(EventSet::from_events(base.clone()), policy);
        builds.push(t.elapsed().as_secs_f64() * 1e3);
        drop(engine);
    }
    writeln!(
        out,
        "full build of the conversation: {:.1} ms (median)",
        median(builds)
    )?;
    for (name, seconds) in [
        ("at the start", -5),
        ("in the middle", span / 2 + 7),
        ("at the end", span + 11),
    ] {
        let mut times = Vec::new();
        for r in 0..args.repeat.max(1) {
            let mut engine = Engine::from_set(EventSet::from_events(base.clone()), policy);
            let late = event(format!("late-{r}"), "customer", seconds)?;
            let t = Instant::now();
            let _ = engine.apply([late]);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        writeln!(
            out,
            "apply one late event {name}: {:.3} ms (median of {})",
            median(times),
            args.repeat.max(1)
        )?;
    }
    Ok(())
}
