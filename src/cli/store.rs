//! `replywatch migrate` and `replywatch ingest`: the store's schema, and
//! NDJSON files backfilled into it idempotently.

use super::*;

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
