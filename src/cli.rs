//! The command line (SPEC §4): clap definitions, and the subcommands that
//! need no server — `analyze` and `generate`. This is the boundary where
//! files are read and the clock is consulted; the figures come from
//! [`crate::domain`].

use crate::domain::{self, AnalyzeOptions, CalendarBook, EventSet, Micros, Timestamp};
use crate::files::generate::{GenerateOptions, generate};
use crate::files::ndjson::{OnInvalid, ReadSummary, read_into};
use crate::store::Store;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// How fast and how often a business answers its customers on Messenger,
/// Instagram Direct and WhatsApp.
#[derive(Debug, Parser)]
#[command(name = "replywatch", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write PNG charts and CSV tables (daily.csv, agents.csv, requests.csv) of one account for a period.
    #[cfg(feature = "reports")]
    Report(ReportArgs),
    /// Benchmarks (figures printed; see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the service: HTTP ingestion and figures over an embedded SQLite file (default) or PostgreSQL.
    Serve(Box<crate::config::ServeConfig>),
    /// Print the response figures of an NDJSON event file (no server, no database).
    Analyze(AnalyzeArgs),
    /// Write a realistic synthetic NDJSON event stream (for trials and benchmarks).
    Generate(GenerateArgs),
    /// Apply the database migrations (also done by every command that opens the store).
    Migrate(DatabaseArgs),
    /// Backfill NDJSON event files into the store, idempotently (safe to re-run after a crash).
    Ingest(IngestArgs),
    /// Write Prometheus burn-rate rules (and their promtool tests) from an objectives file.
    Rules(crate::slo::RulesArgs),
}

#[cfg(feature = "reports")]
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Files written into --out:
  daily.csv     one row per local day and channel (and channel \"all\"): requests, answered,
                pending, response_rate, hit_ratio_1h, hit_ratio_24h, median and p90 first reply
  agents.csv    per agent (channel and \"all\"): answered, median, p90, share within 1 h
  requests.csv  one row per request: channel, conversation, opened, date, answered,
                first_reply_seconds, within_1h, within_24h, new_conversation, agent
  first-reply.png, hit-ratios.png, volume.png, distribution.png, heatmap.png
Requests opened from the start of --from to the end of --to (local dates) count, measured at
the end of the period (or now, if it is not over).

Example:
  replywatch report --account acme --from 2026-10-26 --to 2026-11-01 --out reports/acme-w44 --timezone Europe/Istanbul")]
pub struct ReportArgs {
    #[arg(long)]
    pub account: String,
    /// First local date (YYYY-MM-DD).
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// Last local date, inclusive.
    #[arg(long)]
    pub to: chrono::NaiveDate,
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// IANA zone of the dates and charts (default: the account's calendar zone, else UTC).
    #[arg(long)]
    pub timezone: Option<String>,
    /// Read events from this NDJSON file instead of the database.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Business hours per account (JSON, SPEC §3).
    #[arg(long, value_name = "FILE")]
    pub calendar: Option<PathBuf>,
    /// Measure durations in the account's business hours (needs --calendar).
    #[arg(long)]
    pub business_hours: bool,
    /// Bot messages answer requests too.
    #[arg(long)]
    pub bots_count_as_replies: bool,
}

/// Runs `report`.
#[cfg(feature = "reports")]
pub fn run_report(args: &ReportArgs, stdout: &mut impl Write) -> anyhow::Result<()> {
    if args.to < args.from {
        bail!("--to ({}) is before --from ({})", args.to, args.from);
    }
    let calendars = match &args.calendar {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("reading calendar {}", path.display()))?;
            CalendarBook::from_json(&json).with_context(|| format!("in {}", path.display()))?
        }
        None => CalendarBook::default(),
    };
    if args.business_hours && calendars.for_account(&args.account).is_none() {
        bail!(
            "--business-hours needs a --calendar with a calendar for {:?} (or a default)",
            args.account
        );
    }
    let timezone: chrono_tz::Tz = match &args.timezone {
        Some(z) => z
            .parse()
            .map_err(|_| anyhow::anyhow!("--timezone: unknown IANA time zone {z:?}"))?,
        None => calendars
            .for_account(&args.account)
            .map_or(chrono_tz::Tz::UTC, |c| c.timezone()),
    };
    let set = match &args.input {
        Some(path) => {
            read_input(path, OnInvalid::Fail)
                .with_context(|| format!("in {}", path.display()))?
                .0
        }
        None => runtime()?.block_on(async {
            let store = Store::connect(&args.database.database_url).await?;
            store.migrate().await?;
            let set = store.load_events().await;
            store.close().await;
            set
        })?,
    };
    let spec = crate::reports::tables::ReportSpec {
        account: args.account.clone(),
        from: args.from,
        to: args.to,
        timezone,
        calendars: if args.business_hours {
            calendars
        } else {
            CalendarBook::default()
        },
        bots_count_as_replies: args.bots_count_as_replies,
        now: Timestamp::from_datetime(chrono::Utc::now()),
    };
    let written = crate::reports::tables::write_report(&set, &spec, &args.out)?;
    writeln!(
        stdout,
        "{} requests of {}; wrote:",
        written.requests, args.account
    )?;
    for f in written.files {
        writeln!(stdout, "  {}", f.display())?;
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable ingestion over HTTP on loopback vs a raw bulk INSERT into the same database.
    Ingest(crate::bench::BenchIngestArgs),
    /// Scrape time of /metrics and restart time from SQLite over a large store.
    Metrics(crate::bench::BenchMetricsArgs),
    /// Events/s of a NATS JetStream cluster with 1, 2, 3 nodes, and failover time.
    Cluster(crate::bench::cluster::BenchClusterArgs),
    /// Time to apply one late event to a long conversation in the streaming engine.
    Engine(crate::bench::engine::BenchEngineArgs),
    /// The decided counter (the SLO alerts' SLI) against the exact windowed hit ratio over a generated month.
    Slo(crate::bench::slo::BenchSloArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// sqlite://PATH (embedded, created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "REPLYWATCH_DATABASE_URL",
        default_value = "sqlite://replywatch.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// NDJSON event files (SPEC §1); `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Write bad lines' errors to the rejects file and go on, instead of stopping before storing anything of that file.
    #[arg(long, env = "REPLYWATCH_SKIP_INVALID")]
    pub skip_invalid: bool,
    /// Where `--skip-invalid` writes the errors, one per line.
    #[arg(
        long,
        env = "REPLYWATCH_REJECTS",
        default_value = "replywatch-rejects.txt"
    )]
    pub rejects: PathBuf,
    /// Events per transaction.
    #[arg(long, env = "REPLYWATCH_BATCH_EVENTS", default_value_t = 10_000)]
    pub batch_events: usize,
}

/// Output format of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

pub(crate) use crate::args::{parse_instant, parse_window};

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
    /// Print how long reading and computing took, the events/s and the peak memory, on stderr.
    #[arg(long)]
    pub timings: bool,
    /// Worker threads (default: one per core). The figures do not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Number of event lines to write (duplicates included).
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Random seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Business accounts (default: one per 10,000 events, 1 to 1,000).
    #[arg(long, default_value_t = 0)]
    pub accounts: u64,
    /// Conversations start in the days before this instant.
    #[arg(long, value_name = "RFC3339", default_value = "2026-11-01T00:00:00Z", value_parser = parse_instant)]
    pub end: Timestamp,
    /// Length of the period, in days.
    #[arg(long, default_value_t = 30)]
    pub days: u64,
    /// Output file (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn progress_bar(len: Option<u64>, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = match len {
        Some(_) => format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{bytes}}/{{total_bytes}} {unit} ({{eta}})"
        ),
        None => format!("{{spinner}} [{{elapsed_precise}}] {{human_pos}} {unit}"),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Reads an NDJSON event file (`-` for stdin) into a new set, with a
/// progress bar on stderr.
fn read_input(path: &Path, on_invalid: OnInvalid) -> anyhow::Result<(EventSet, ReadSummary)> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        #[cfg(feature = "reports")]
        Some("csv") => return crate::files::tabular::read_csv(path, on_invalid),
        #[cfg(feature = "reports")]
        Some("parquet") => return crate::files::tabular::read_parquet(path, on_invalid),
        #[cfg(not(feature = "reports"))]
        Some("csv" | "parquet") => {
            bail!(
                "reading .csv and .parquet needs the `reports` feature (built with --no-default-features)"
            )
        }
        _ => {}
    }
    let (reader, len): (Box<dyn Read>, Option<u64>) = if path.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    // A line takes at least ~100 bytes: room for every event up front costs
    // address space only, and saves copying while the set grows.
    let mut set = EventSet::with_capacity(len.map_or(0, |l| (l / 100) as usize));
    let bar = progress_bar(len, "read");
    let summary = read_into(reader, &mut set, on_invalid, |n| bar.inc(n))?;
    bar.finish_and_clear();
    Ok((set, summary))
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

        let report = domain::analyze(&set, &opts);
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs `migrate`.
pub fn run_migrate(args: &DatabaseArgs, stdout: &mut impl Write) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let store = Store::connect(&args.database_url).await?;
        let applied = store.migrate().await?;
        store.close().await;
        match applied.as_slice() {
            [] => writeln!(stdout, "database is up to date")?,
            v => writeln!(stdout, "applied migrations {v:?}")?,
        }
        Ok(())
    })
}

/// Runs `ingest`: each file is validated whole first (or its bad lines set
/// aside with `--skip-invalid`), then stored in batches. Re-running after a
/// crash is safe: stored events count as duplicates.
pub fn run_ingest(args: &IngestArgs, stdout: &mut impl Write) -> anyhow::Result<()> {
    if args.batch_events == 0 {
        bail!("--batch-events must be at least 1");
    }
    let on_invalid = if args.skip_invalid {
        OnInvalid::Skip
    } else {
        OnInvalid::Fail
    };
    let rt = runtime()?;
    let store = rt.block_on(async {
        let store = Store::connect(&args.database.database_url).await?;
        store.migrate().await?;
        anyhow::Ok(store)
    })?;
    let mut rejects: Option<BufWriter<File>> = None;
    let mut total = crate::store::InsertOutcome::default();
    for path in &args.files {
        let (set, summary) = read_input(path, on_invalid)
            .with_context(|| format!("in {}; nothing of it was stored", path.display()))?;
        if !summary.rejected.is_empty() {
            let out = match &mut rejects {
                Some(w) => w,
                None => rejects
                    .insert(BufWriter::new(File::create(&args.rejects).with_context(
                        || format!("creating {}", args.rejects.display()),
                    )?)),
            };
            for e in &summary.rejected {
                writeln!(out, "{}: {e}", path.display())?;
            }
        }
        let events: Vec<_> = (0..set.len()).map(|i| set.event(i)).collect();
        let bar = progress_bar(Some(events.len() as u64), "stored");
        let mut outcome = crate::store::InsertOutcome {
            duplicates: summary.duplicates,
            conflicts: summary.conflicts.len() as u64,
            ..Default::default()
        };
        for chunk in events.chunks(args.batch_events) {
            outcome.add(rt.block_on(store.insert_events(chunk))?);
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        writeln!(
            stdout,
            "{}: {} lines, {} stored, {} duplicates, {} conflicts, {} rejected",
            path.display(),
            summary.lines,
            outcome.accepted,
            outcome.duplicates,
            outcome.conflicts,
            summary.rejected.len()
        )?;
        total.add(outcome);
    }
    if args.files.len() > 1 {
        writeln!(
            stdout,
            "total: {} stored, {} duplicates, {} conflicts",
            total.accepted, total.duplicates, total.conflicts
        )?;
    }
    if let Some(mut w) = rejects {
        w.flush()?;
        writeln!(
            stdout,
            "bad lines were written to {}",
            args.rejects.display()
        )?;
    }
    rt.block_on(store.close());
    Ok(())
}

/// Runs `generate`.
pub fn run_generate(args: &GenerateArgs) -> anyhow::Result<()> {
    let opts = GenerateOptions {
        events: args.events,
        seed: args.seed,
        accounts: args.accounts,
        end: args.end.to_datetime(),
        days: args.days,
    };
    let bar = progress_bar(None, "events");
    let write = |out: &mut dyn Write| -> anyhow::Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, out);
        generate(&opts, &mut out, |n| bar.set_position(n))?;
        out.flush()?;
        Ok(())
    };
    match &args.out {
        Some(path) => {
            let mut f =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            write(&mut f)?;
        }
        None => write(&mut io::stdout().lock())?,
    }
    bar.finish_and_clear();
    Ok(())
}

/// Runs `serve` until Ctrl-C or SIGTERM.
pub fn run_serve(mut config: crate::config::ServeConfig) -> anyhow::Result<()> {
    crate::telemetry::init();
    let demo_dir = match config.demo {
        true => {
            let dir = std::env::temp_dir().join(format!("replywatch-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            config.database_url = format!("sqlite://{}", dir.join("demo.db").display());
            config.retention = crate::config::Retention::Off;
            Some(dir)
        }
        false => None,
    };
    let served = runtime()?.block_on(async {
        if demo_dir.is_some() {
            fill_demo(&config.database_url).await?;
        }
        let app = crate::startup::Application::build(config).await?;
        if demo_dir.is_some() {
            eprintln!(
                "demo: a generated month of events for 12 accounts; open http://{}/ (the database is deleted on exit)",
                app.local_addr()?
            );
        }
        app.run_until_stopped(crate::shutdown::signal()).await
    });
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    served
}

/// Stores a generated, realistic month of events ending now (`serve --demo`).
async fn fill_demo(database_url: &str) -> anyhow::Result<()> {
    let opts = GenerateOptions {
        events: 200_000,
        seed: 2026,
        accounts: 12,
        end: chrono::Utc::now() - chrono::Duration::hours(1),
        days: 30,
    };
    let mut ndjson = Vec::new();
    generate(&opts, &mut ndjson, |_| {})?;
    let mut set = EventSet::new();
    read_into(&ndjson[..], &mut set, OnInvalid::Fail, |_| {})?;
    let now = Timestamp::from_datetime(chrono::Utc::now());
    // Replies the generator places after now have not happened yet.
    let events: Vec<domain::MessageEvent> = (0..set.len())
        .map(|i| set.event(i))
        .filter(|e| e.at < now)
        .collect();
    let store = Store::connect(database_url).await?;
    store.migrate().await?;
    for chunk in events.chunks(50_000) {
        store.insert_events(chunk).await?;
    }
    store.close().await;
    Ok(())
}
