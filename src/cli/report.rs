//! `replywatch report`: tables and charts of one account for a period.

use super::*;

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
