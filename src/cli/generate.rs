//! `replywatch generate`: a realistic synthetic event stream.

use super::*;

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
