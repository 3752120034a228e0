//! The command line (SPEC §4): the clap definitions of every subcommand
//! and what the ones that need no server do, one file each: [`analyze`],
//! [`generate`], [`store`] (`migrate`, `ingest`), [`report`] (`reports`
//! feature) and [`serve`] (starts the service of `crate::startup`). This is
//! the boundary where files are read and the clock is consulted; the
//! figures come from [`crate::domain`].

mod analyze;
mod generate;
#[cfg(feature = "reports")]
mod report;
mod serve;
mod store;

pub use analyze::{AnalyzeArgs, Format, run_analyze};
pub use generate::{GenerateArgs, run_generate};
#[cfg(feature = "reports")]
pub use report::{ReportArgs, run_report};
pub use serve::run_serve;
pub use store::{DatabaseArgs, IngestArgs, run_ingest, run_migrate};

use crate::args::{parse_instant, parse_window};
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
