//! `replywatch generate`: a realistic, reproducible NDJSON event stream for
//! trials and benchmarks — many accounts and conversations, customer bursts,
//! instant replies and bots, fast and late agent replies, proactive messages,
//! re-delivered duplicates and every timestamp format of SPEC §1.
//! Depends on nothing but the standard library and chrono; the same seed
//! always gives the same bytes.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use std::io::{self, Write};

/// A small, fast, reproducible generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub events: u64,
    pub seed: u64,
    /// Number of business accounts; 0 picks one per 10,000 events (1..=1000).
    pub accounts: u64,
    /// Conversations start in the `days` before this instant (late replies
    /// may fall after it).
    pub end: DateTime<Utc>,
    pub days: u64,
}

const CHANNELS: [&str; 3] = ["messenger", "instagram", "whatsapp"];
const AGENTS: [&str; 8] = [
    "ayse", "bob", "carmen", "dmitri", "emeka", "fatima", "goro", "hana",
];
const OFFSETS_MINUTES: [i32; 5] = [0, 180, -300, 60, 330];

struct Line {
    at_micros: i64,
    text: String,
}

struct Writer<'a> {
    rng: &'a mut Rng,
    next_id: u64,
}

impl Writer<'_> {
    /// Formats `at` in one of SPEC §1's forms, chosen at random.
    fn format_at(&mut self, at_micros: i64) -> String {
        let dt = DateTime::from_timestamp_micros(at_micros).unwrap_or_default();
        match self.rng.below(10) {
            0..=3 => format!("\"{}\"", dt.format("%Y-%m-%dT%H:%M:%SZ")),
            4 => format!("\"{}\"", dt.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
            5 | 6 => {
                let minutes = OFFSETS_MINUTES[self.rng.below(5) as usize];
                let off = FixedOffset::east_opt(minutes * 60).unwrap_or(Utc.fix());
                format!(
                    "\"{}\"",
                    dt.with_timezone(&off).format("%Y-%m-%dT%H:%M:%S%:z")
                )
            }
            7 | 8 => dt.timestamp().to_string(),
            _ => dt.timestamp_millis().to_string(),
        }
    }

    fn line(
        &mut self,
        account: &str,
        channel: usize,
        conversation: &str,
        from: &str,
        at_micros: i64,
        agent: Option<&str>,
    ) -> Line {
        self.next_id += 1;
        let id = if CHANNELS[channel] == "whatsapp" {
            format!("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz{:016X}", self.next_id)
        } else {
            format!("m_{:x}", self.next_id)
        };
        let at = self.format_at(at_micros);
        let agent = agent
            .map(|a| format!(",\"agent\":\"{a}\""))
            .unwrap_or_default();
        Line {
            at_micros,
            text: format!(
                "{{\"id\":\"{id}\",\"account\":\"{account}\",\"channel\":\"{}\",\"conversation\":\"{conversation}\",\"from\":\"{from}\",\"at\":{at}{agent}}}\n",
                CHANNELS[channel]
            ),
        }
    }
}

/// How fast an account's agents answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speed {
    /// Mostly minutes, some hours, a few days (most of the generator's
    /// accounts: not eligible for the badge).
    Usual,
    /// A responsive business: nearly every request answered, most within
    /// minutes (eligible for the badge).
    Responsive,
}

/// Seconds until an agent answers.
fn agent_delay_seconds(rng: &mut Rng, speed: Speed) -> i64 {
    if speed == Speed::Responsive {
        let r = rng.below(100);
        return match r {
            0..=91 => 20 + rng.below(480),
            92..=97 => 500 + rng.below(1_300),
            _ => 1_800 + rng.below(9_000),
        } as i64;
    }
    let r = rng.below(100);
    let base = match r {
        0..=44 => 30 + rng.below(900),
        45..=69 => 900 + rng.below(2_700),
        70..=84 => 3_600 + rng.below(6 * 3_600),
        85..=94 => 6 * 3_600 + rng.below(18 * 3_600),
        _ => 24 * 3_600 + rng.below(48 * 3_600),
    };
    base as i64
}

/// Adds a line to the output, and 1 % of the time a re-delivered copy (a
/// webhook retry), while the budget lasts.
fn emit(rng: &mut Rng, line: Line, out: &mut Vec<Line>, budget: &mut u64) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    if *budget > 0 && rng.chance(0.01) {
        *budget -= 1;
        out.push(Line {
            at_micros: line.at_micros + 1 + rng.below(600_000_000) as i64,
            text: line.text.clone(),
        });
    }
    out.push(line);
}

/// One conversation: a few exchanges spread over the period.
#[allow(clippy::too_many_arguments)]
fn conversation(
    w: &mut Writer,
    speed: Speed,
    account: &str,
    channel: usize,
    conv: &str,
    (start, span): (i64, i64),
    out: &mut Vec<Line>,
    budget: &mut u64,
) {
    let mut t = start + (w.rng.below(span.max(1) as u64) as i64);
    let exchanges = 1 + w.rng.below(4);
    for _ in 0..exchanges {
        if *budget == 0 {
            return;
        }
        if w.rng.chance(0.05) {
            // A proactive agent message (no open request).
            let agent = AGENTS[w.rng.below(8) as usize];
            let line = w.line(account, channel, conv, "agent", t * 1_000_000, Some(agent));
            emit(w.rng, line, out, budget);
            t += 60 + w.rng.below(3_600) as i64;
        }
        let burst = 1 + w.rng.below(3);
        for i in 0..burst {
            if *budget == 0 {
                return;
            }
            let at = (t + i as i64 * 20) * 1_000_000 + w.rng.below(1_000_000) as i64;
            let line = w.line(account, channel, conv, "customer", at, None);
            emit(w.rng, line, out, budget);
        }
        if w.rng.chance(0.3) && *budget > 0 {
            let line = w.line(account, channel, conv, "auto", (t + 1) * 1_000_000, None);
            emit(w.rng, line, out, budget);
        }
        if w.rng.chance(0.15) && *budget > 0 {
            let line = w.line(
                account,
                channel,
                conv,
                "bot",
                (t + 5) * 1_000_000,
                Some("faq-bot"),
            );
            emit(w.rng, line, out, budget);
        }
        let answers = match speed {
            Speed::Usual => 0.9,
            Speed::Responsive => 0.995,
        };
        if w.rng.chance(answers) && *budget > 0 {
            let agent = w.rng.chance(0.9).then(|| AGENTS[w.rng.below(8) as usize]);
            t += agent_delay_seconds(w.rng, speed);
            let line = w.line(account, channel, conv, "agent", t * 1_000_000, agent);
            emit(w.rng, line, out, budget);
        }
        // The next exchange: minutes later, or days later (a new conversation).
        t += if w.rng.chance(0.5) {
            120 + w.rng.below(7_200) as i64
        } else {
            86_400 + w.rng.below(5 * 86_400) as i64
        };
    }
}

/// Writes `opts.events` lines to `out`. Events of neighbouring conversations
/// are interleaved in time order, some are re-delivered (exact duplicates)
/// and some arrive late. Calls `progress` with the lines written so far.
pub fn generate(
    opts: &GenerateOptions,
    out: &mut impl Write,
    progress: impl FnMut(u64),
) -> io::Result<()> {
    generate_with(opts, |_| Speed::Usual, out, progress)
}

/// Accounts of the demo that answer fast (every third, from `acct-0000`).
pub fn is_responsive_in_demo(account: u64) -> bool {
    account.is_multiple_of(3)
}

/// As [`generate`], with the realistic mix of `serve --demo` (issue 19):
/// every third account a responsive business (eligible for the badge), the
/// others as usual (slow).
pub fn generate_demo(
    opts: &GenerateOptions,
    out: &mut impl Write,
    progress: impl FnMut(u64),
) -> io::Result<()> {
    let speed = |account: u64| match is_responsive_in_demo(account) {
        true => Speed::Responsive,
        false => Speed::Usual,
    };
    generate_with(opts, speed, out, progress)
}

fn generate_with(
    opts: &GenerateOptions,
    speed: impl Fn(u64) -> Speed,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> io::Result<()> {
    let mut rng = Rng::new(opts.seed);
    let accounts = if opts.accounts > 0 {
        opts.accounts
    } else {
        (opts.events / 10_000).clamp(1, 1_000)
    };
    let end = opts.end.timestamp();
    let span = (opts.days.max(1) * 86_400) as i64;
    let start = end - span;
    let mut budget = opts.events;
    let mut written = 0u64;
    let mut conv_counter = 0u64;
    let mut batch: Vec<Line> = Vec::new();
    let mut late: Vec<Line> = Vec::new();
    let mut w = Writer {
        rng: &mut rng,
        next_id: 0,
    };
    while budget > 0 {
        batch.clear();
        // A slice of ~2,000 conversations, interleaved by time.
        for _ in 0..2_000 {
            if budget == 0 {
                break;
            }
            conv_counter += 1;
            // Busy accounts: a skewed pick (squared uniform).
            let u = w.rng.below(1 << 20) as f64 / (1u64 << 20) as f64;
            let index = (u * u * accounts as f64) as u64;
            let account = format!("acct-{index:04}");
            let channel = w.rng.below(3) as usize;
            let conv = format!(
                "{:016}",
                1_000_000_000_000_000 + conv_counter * 7_919 % 8_999_999_999_999_999
            );
            conversation(
                &mut w,
                speed(index),
                &account,
                channel,
                &conv,
                (start, span),
                &mut batch,
                &mut budget,
            );
        }
        batch.sort_by_key(|l| l.at_micros);
        for line in batch.drain(..) {
            if w.rng.below(1_000) < 20 {
                // Arrives late, after later events.
                late.push(line);
                continue;
            }
            out.write_all(line.text.as_bytes())?;
            written += 1;
        }
        for line in late.drain(..) {
            out.write_all(line.text.as_bytes())?;
            written += 1;
        }
        progress(written);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventSet, MessageEvent};

    fn opts(events: u64, seed: u64) -> GenerateOptions {
        GenerateOptions {
            events,
            seed,
            accounts: 0,
            end: "2026-11-01T00:00:00Z".parse().unwrap(),
            days: 30,
        }
    }

    fn lines(o: &GenerateOptions) -> Vec<u8> {
        let mut out = Vec::new();
        generate(o, &mut out, |_| {}).unwrap();
        out
    }

    #[test]
    fn same_seed_gives_the_same_bytes() {
        assert_eq!(lines(&opts(2_000, 7)), lines(&opts(2_000, 7)));
        assert_ne!(lines(&opts(2_000, 7)), lines(&opts(2_000, 8)));
    }

    #[test]
    fn writes_exactly_the_requested_number_of_valid_events() {
        let out = lines(&opts(5_000, 1));
        let parsed: Vec<MessageEvent> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| MessageEvent::from_json(l).unwrap())
            .collect();
        assert_eq!(parsed.len(), 5_000);
        let set = EventSet::from_events(parsed);
        assert!(set.len() < 5_000, "some lines are re-delivered duplicates");
        assert!(set.streams().len() > 1);
    }
}
