//! `replywatch analyze`: the figures of an NDJSON file (no server, no database).

use super::*;

/// Output format of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Figures (SPEC §3): requests, answered, pending, response_rate, hit_ratio_1h,
hit_ratio_24h, median/p90 first-reply seconds, oldest_pending_seconds, and the
responsive badge (badge_conversations, badge_response_rate,
badge_response_seconds, badge_eligible, badge_blockers), per account and
channel and per account over all channels (channel \"all\").

Examples:
  replywatch analyze --input events.ndjson --as-of 2026-11-02T00:00:00Z --window 7d
  replywatch generate --events 100000 | replywatch analyze --input - --format csv")]
pub struct AnalyzeArgs {
    /// Event file: NDJSON, one event per line (SPEC §1), or `.csv` / `.parquet` with the same columns; `-` reads NDJSON from stdin.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Evaluation instant (RFC 3339); events at or after it have not happened yet. Default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub as_of: Option<Timestamp>,
    /// Requests opened in [as-of − window, as-of) count: e.g. 90m, 24h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_window)]
    pub window: Micros,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Bot messages answer requests in the operational figures too (the badge always counts them).
    #[arg(long)]
    pub bots_count_as_replies: bool,
    /// Business hours per account (JSON, SPEC §3): durations count opening hours only.
    #[arg(long, value_name = "FILE")]
    pub calendar: Option<PathBuf>,
    /// Add per-agent rows to each group (JSON: `agents`; CSV: one row per group and agent instead).
    #[arg(long)]
    pub by_agent: bool,
    /// Add to each group `previous`: the same figures for the requests
    /// opened in the window of the same length before (SPEC §4), measured at
    /// --as-of (CSV: `previous_…` columns).
    #[arg(long)]
    pub compare_previous: bool,
    /// Print how long reading and computing took, the events/s and the peak memory, on stderr.
    #[arg(long)]
    pub timings: bool,
    /// Worker threads (default: one per core). The figures do not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl AnalyzeArgs {
    /// The core's options; relative calendar paths resolve against `base`.
    pub fn options(&self, base: &Path) -> anyhow::Result<AnalyzeOptions> {
        let mut opts = AnalyzeOptions::new(
            self.as_of
                .unwrap_or_else(|| Timestamp::from_datetime(chrono::Utc::now())),
            self.window,
        );
        opts.bots_count_as_replies = self.bots_count_as_replies;
        opts.by_agent = self.by_agent;
        if let Some(path) = &self.calendar {
            let path = base.join(path);
            let json = std::fs::read_to_string(&path)
                .with_context(|| format!("reading calendar {}", path.display()))?;
            opts.calendars =
                CalendarBook::from_json(&json).with_context(|| format!("in {}", path.display()))?;
        }
        Ok(opts)
    }

    /// Reads the events (relative paths against `base`), reporting conflicts on `stderr`.
    pub fn read_events(
        &self,
        base: &Path,
        stderr: &mut impl Write,
    ) -> anyhow::Result<(EventSet, ReadSummary)> {
        let path = match self.input.as_os_str() == "-" {
            true => self.input.clone(),
            false => base.join(&self.input),
        };
        let (set, summary) = read_input(&path, OnInvalid::Fail)
            .with_context(|| format!("in {}", self.input.display()))?;
        for line in summary.conflicts.iter().take(20) {
            writeln!(
                stderr,
                "warning: line {line}: an earlier line has the same account, channel and id with other content; the earlier line is kept"
            )?;
        }
        if summary.conflicts.len() > 20 {
            writeln!(
                stderr,
                "warning: {} conflicting duplicates in all",
                summary.conflicts.len()
            )?;
        }
        Ok((set, summary))
    }
}

/// The process's peak resident memory, from /proc (Linux).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.0} MiB", kb as f64 / 1024.0))
}

/// Runs `analyze`: reads, computes, prints. File names resolve against `base`.
pub fn run_analyze(
    args: &AnalyzeArgs,
    base: &Path,
    stdout: &mut impl Write,
    stderr: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    let opts = args.options(base)?;
    let mut work = || -> anyhow::Result<String> {
        let t0 = std::time::Instant::now();
        let (set, summary) = args.read_events(base, stderr)?;
        let t1 = std::time::Instant::now();

        let report = match args.compare_previous {
            true => domain::analyze_with_previous(&set, &opts),
            false => domain::analyze(&set, &opts),
        };
        if args.timings {
            let events = summary.lines as f64;
            let total = t0.elapsed().as_secs_f64();
            writeln!(
                stderr,
                "timings: {} lines ({} distinct events); read {:.2} s, figures {:.2} s, total {total:.2} s; {:.0} lines/s; peak RSS {}",
                summary.lines,
                set.len(),
                (t1 - t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
                events / total,
                peak_rss().unwrap_or_else(|| "unknown".into()),
            )?;
        }
        Ok(match (args.format, args.by_agent) {
            (Format::Json, _) => serde_json::to_string_pretty(&report)? + "\n",
            (Format::Csv, false) => report.to_csv(),
            (Format::Csv, true) => report.agents_to_csv(),
        })
    };
    let out = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()?
            .install(work)?,
        None => work()?,
    };
    stdout.write_all(out.as_bytes())?;
    Ok(())
}
