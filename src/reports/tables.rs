//! `replywatch report`: the polars path (with `tabular`, the only modules
//! that import polars). One table of the account's requests (operational view, SPEC §2–3,
//! measured at the end of the period or now) is built from the core's
//! requests; `daily.csv`, `agents.csv` and the PNG charts are all computed
//! from that table, so their numbers agree with each other.

use crate::domain::daily::{DailyRow, SLA_BUCKETS, Series};
use crate::domain::stats::{Clock, Measured};
use crate::domain::time::{ONE_DAY, ONE_HOUR};
use crate::domain::{
    ALL_CHANNELS, CalendarBook, EventSet, ReplyPolicy, Timestamp, derive_requests,
};
use crate::reports::charts::{Chart, render};
use anyhow::Context;
use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use polars::prelude::{
    CsvWriter, DataFrame, DataType, Expr, IntoLazy, JoinArgs, JoinType, LazyFrame, Null,
    QuantileMethod, SerWriter, SortMultipleOptions, UnionArgs, col, concat, df, len, lit, when,
};
use std::path::{Path, PathBuf};

/// What a report covers.
#[derive(Debug, Clone)]
pub struct ReportSpec {
    pub account: String,
    /// First and last local dates, inclusive.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: Tz,
    /// Business hours for the durations (`clock=business`), else calendar time.
    pub calendars: CalendarBook,
    pub bots_count_as_replies: bool,
    /// The instant figures are measured at when the period is not over yet.
    pub now: Timestamp,
}

/// The files a report wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub requests: usize,
}

pub fn local_midnight(tz: Tz, date: NaiveDate) -> Timestamp {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // SPEC §3's rule for local times: a gap takes the offset before it, an
    // ambiguous time the earlier instant. Midnight is rarely either.
    let utc = match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.to_utc(),
        chrono::LocalResult::None => tz.from_utc_datetime(&naive).to_utc(),
    };
    Timestamp::from_datetime(utc)
}

/// The requests table of the report.
pub fn requests_table(set: &EventSet, spec: &ReportSpec) -> anyhow::Result<(DataFrame, Timestamp)> {
    let start = local_midnight(spec.timezone, spec.from);
    let end = local_midnight(
        spec.timezone,
        spec.to.succ_opt().context("--to is the last date")?,
    );
    let as_of = end.min(spec.now);
    let requests = derive_requests(
        set,
        as_of,
        ReplyPolicy::operational(spec.bots_count_as_replies),
    );
    let clock = Clock::for_account(&spec.calendars, &spec.account);
    let (mut channel, mut conversation, mut opened, mut date) = (vec![], vec![], vec![], vec![]);
    let (mut answered, mut first_reply, mut decided_1h, mut within_1h) =
        (vec![], vec![], vec![], vec![]);
    let (mut decided_24h, mut within_24h, mut new_conversation, mut agent) =
        (vec![], vec![], vec![], vec![]);
    let (mut weekday, mut hour, mut pending_age) = (vec![], vec![], vec![]);
    for r in &requests.operational {
        let stream = set.stream(set.stream_of(r.conversation));
        if stream.account.as_str() != spec.account || r.opened_at < start || r.opened_at >= as_of {
            continue;
        }
        let m = Measured::of(r, as_of, clock);
        let local = r.opened_at.to_datetime().with_timezone(&spec.timezone);
        channel.push(stream.channel.to_string());
        conversation.push(set.conversation_id(r.conversation).to_string());
        opened.push(r.opened_at.to_string());
        date.push(local.date_naive().to_string());
        answered.push(m.first_reply.is_some());
        pending_age.push(m.first_reply.is_none().then(|| m.age.as_seconds_f64()));
        first_reply.push(m.first_reply.map(|f| f.as_seconds_f64()));
        decided_1h.push(m.decided(ONE_HOUR));
        within_1h.push(m.hit(ONE_HOUR));
        decided_24h.push(m.decided(ONE_DAY));
        within_24h.push(m.hit(ONE_DAY));
        new_conversation.push(r.new_conversation);
        agent.push(
            r.reply
                .and_then(|x| set.agent(x.agent))
                .map(|a| a.to_string()),
        );
        weekday.push(local.weekday().num_days_from_monday());
        hour.push(local.hour());
    }
    let df = df!(
        "account" => vec![spec.account.clone(); channel.len()],
        "channel" => channel,
        "conversation" => conversation,
        "opened" => opened,
        "date" => date,
        "answered" => answered,
        "first_reply_seconds" => first_reply,
        "pending_age_seconds" => pending_age,
        "within_1h" => within_1h,
        "within_24h" => within_24h,
        "decided_1h" => decided_1h,
        "decided_24h" => decided_24h,
        "new_conversation" => new_conversation,
        "agent" => agent,
        "weekday" => weekday,
        "hour" => hour,
    )?
    .lazy()
    .sort(
        ["opened", "channel", "conversation"],
        SortMultipleOptions::default(),
    )
    .collect()?;
    Ok((df, as_of))
}

/// The badge figures (SPEC §3, badge view, calendar time) of the new
/// conversations opened each local day, per channel and for `all`.
pub fn badge_daily(
    set: &EventSet,
    spec: &ReportSpec,
    as_of: Timestamp,
) -> anyhow::Result<DataFrame> {
    use crate::domain::stats::{Share, badge_blockers, badge_fastest};
    use std::collections::BTreeMap;
    let start = local_midnight(spec.timezone, spec.from);
    let requests = derive_requests(
        set,
        as_of,
        ReplyPolicy::operational(spec.bots_count_as_replies),
    );
    type Acc = (Share, Vec<crate::domain::Micros>, u32);
    let mut groups: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for r in &requests.badge {
        let stream = set.stream(set.stream_of(r.conversation));
        if stream.account.as_str() != spec.account
            || r.opened_at < start
            || r.opened_at >= as_of
            || !r.new_conversation
        {
            continue;
        }
        let m = Measured::of(r, as_of, Clock::Calendar);
        let date = r
            .opened_at
            .to_datetime()
            .with_timezone(&spec.timezone)
            .date_naive()
            .to_string();
        for channel in [stream.channel.to_string(), ALL_CHANNELS.to_string()] {
            let g = groups.entry((date.clone(), channel)).or_default();
            g.0.add(m.decided(ONE_DAY), m.hit(ONE_DAY));
            g.1.extend(m.first_reply);
            g.2 += 1;
        }
    }
    let (mut date, mut channel, mut conversations, mut rate) = (vec![], vec![], vec![], vec![]);
    let (mut seconds, mut eligible, mut blockers) = (vec![], vec![], vec![]);
    for ((d, c), (share, first, n)) in groups {
        let fastest = badge_fastest(first);
        let failed = badge_blockers(share, fastest);
        date.push(d);
        channel.push(c);
        conversations.push(n);
        rate.push(share.ratio());
        seconds.push(fastest.map(|(sum, k)| sum as f64 / 1e6 / k as f64));
        eligible.push(failed.is_empty());
        blockers.push(failed.join(";"));
    }
    Ok(df!(
        "date" => date,
        "channel" => channel,
        "badge_conversations" => conversations,
        "badge_response_rate" => rate,
        "badge_response_seconds" => seconds,
        "badge_eligible" => eligible,
        "badge_blockers" => blockers,
    )?)
}

fn count(name: &str) -> Expr {
    col(name).cast(DataType::UInt32).sum().alias(name)
}

/// A share column, null where nothing is decided (SPEC §3).
fn share(hits: &str, of: &str, name: &str) -> Expr {
    when(col(of).gt(lit(0)))
        .then(col(hits).cast(DataType::Float64) / col(of).cast(DataType::Float64))
        .otherwise(lit(Null {}))
        .alias(name)
}

/// SPEC §3's median and p90 (numpy's linear method) of the first replies.
fn first_reply_median_p90() -> [Expr; 2] {
    let first = col("first_reply_seconds");
    [
        first.clone().median().alias("median_first_reply_seconds"),
        first
            .quantile(lit(0.9), QuantileMethod::Linear)
            .alias("p90_first_reply_seconds"),
    ]
}

/// `aggs` grouped by (`key`, channel) and by `key` alone as channel `all`,
/// both with `columns`, one after the other.
fn per_channel_and_all(
    rows: LazyFrame,
    key: &str,
    aggs: &[Expr],
    columns: &[&str],
) -> anyhow::Result<LazyFrame> {
    let select = |lf: LazyFrame| lf.select(columns.iter().map(|c| col(*c)).collect::<Vec<_>>());
    let per_channel = rows.clone().group_by([col(key), col("channel")]).agg(aggs);
    let all = rows
        .group_by([col(key)])
        .agg(aggs)
        .with_column(lit(ALL_CHANNELS).alias("channel"));
    Ok(concat(
        [select(per_channel), select(all)],
        UnionArgs::default(),
    )?)
}

/// One row per day and channel, plus the account over all channels.
pub fn daily_table(requests: &DataFrame, badge: &DataFrame) -> anyhow::Result<DataFrame> {
    let [median, p90] = first_reply_median_p90();
    let aggs = [
        len().cast(DataType::UInt32).alias("requests"),
        count("answered"),
        count("within_1h"),
        count("within_24h"),
        count("decided_1h"),
        count("decided_24h"),
        median,
        p90,
        col("pending_age_seconds")
            .max()
            .alias("oldest_pending_seconds"),
    ];
    let columns = [
        "date",
        "channel",
        "requests",
        "answered",
        "within_1h",
        "within_24h",
        "decided_1h",
        "decided_24h",
        "median_first_reply_seconds",
        "p90_first_reply_seconds",
        "oldest_pending_seconds",
    ];
    let daily = per_channel_and_all(requests.clone().lazy(), "date", &aggs, &columns)?
        .join(
            badge.clone().lazy(),
            [col("date"), col("channel")],
            [col("date"), col("channel")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            (col("requests") - col("answered")).alias("pending"),
            share("within_1h", "decided_1h", "hit_ratio_1h"),
            share("within_24h", "decided_24h", "hit_ratio_24h"),
            share("within_24h", "decided_24h", "response_rate"),
            // SPEC §4 "Final or not" (`domain::stats::settled`): every
            // request of the day decided for 24 h.
            (col("decided_24h").eq(col("requests"))).alias("final"),
            (col("channel").eq(lit(ALL_CHANNELS))).alias("is_all"),
        ])
        .sort(
            ["date", "is_all", "channel"],
            SortMultipleOptions::default(),
        )
        .select([
            col("date"),
            col("channel"),
            col("requests"),
            col("answered"),
            col("pending"),
            col("response_rate"),
            col("hit_ratio_1h"),
            col("hit_ratio_24h"),
            col("median_first_reply_seconds"),
            col("p90_first_reply_seconds"),
            col("oldest_pending_seconds"),
            col("badge_conversations").fill_null(lit(0)),
            col("badge_response_rate"),
            col("badge_response_seconds"),
            col("badge_eligible").fill_null(lit(false)),
            col("badge_blockers").fill_null(lit("response_rate undefined;response_time undefined")),
            col("within_1h"),
            col("within_24h"),
            col("final"),
        ])
        .collect()?;
    Ok(daily)
}

/// Per agent over the answered requests (SPEC §3 per agent): each channel and all.
pub fn agents_table(requests: &DataFrame) -> anyhow::Result<DataFrame> {
    let answered = requests.clone().lazy().filter(col("answered"));
    let [median, p90] = first_reply_median_p90();
    let aggs = [
        len().cast(DataType::UInt32).alias("answered"),
        count("within_1h"),
        median,
        p90,
    ];
    let columns = [
        "channel",
        "agent",
        "answered",
        "within_1h",
        "median_first_reply_seconds",
        "p90_first_reply_seconds",
    ];
    let agents = per_channel_and_all(answered, "agent", &aggs, &columns)?
        .with_columns([
            share("within_1h", "answered", "hit_ratio_1h"),
            (col("channel").eq(lit(ALL_CHANNELS))).alias("is_all"),
            col("agent").is_null().alias("no_agent"),
        ])
        .sort(
            ["is_all", "channel", "no_agent", "agent"],
            SortMultipleOptions::default(),
        )
        .select([
            col("channel"),
            col("agent"),
            col("answered"),
            col("median_first_reply_seconds"),
            col("p90_first_reply_seconds"),
            col("hit_ratio_1h"),
        ])
        .collect()?;
    Ok(agents)
}

/// The chart series of the account over all channels, from the same
/// tables; `range` is the report's first and last local day.
pub fn chart_series(
    requests: &DataFrame,
    daily: &DataFrame,
    range: (NaiveDate, NaiveDate),
) -> anyhow::Result<Series> {
    let mut s = Series {
        distribution: vec![0; SLA_BUCKETS.len() + 1],
        heatmap: vec![[None; 24]; 7],
        requests: requests.height() as u64,
        range: Some(range),
        ..Series::default()
    };
    let all = daily
        .clone()
        .lazy()
        .filter(col("channel").eq(lit(ALL_CHANNELS)))
        .collect()?;
    let u = |name: &str| -> anyhow::Result<Vec<u64>> {
        Ok(all
            .column(name)?
            .cast(&DataType::UInt64)?
            .u64()?
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect())
    };
    let f = |name: &str| -> anyhow::Result<Vec<Option<f64>>> {
        Ok(all
            .column(name)?
            .cast(&DataType::Float64)?
            .f64()?
            .iter()
            .collect())
    };
    let dates: Vec<String> = all
        .column("date")?
        .str()?
        .iter()
        .map(|d| d.unwrap_or("").to_string())
        .collect();
    let (requests_n, answered, within_1h, within_24h) = (
        u("requests")?,
        u("answered")?,
        u("within_1h")?,
        u("within_24h")?,
    );
    let (median, p90, h1, h24) = (
        f("median_first_reply_seconds")?,
        f("p90_first_reply_seconds")?,
        f("hit_ratio_1h")?,
        f("hit_ratio_24h")?,
    );
    let finals: Vec<bool> = all
        .column("final")?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    for i in 0..all.height() {
        s.days.push(DailyRow {
            date: anyhow::Context::context(
                dates[i].parse::<NaiveDate>(),
                "a date of the daily table",
            )?,
            requests: requests_n[i],
            answered: answered[i],
            within_1h: within_1h[i],
            within_24h: within_24h[i] - within_1h[i],
            later: answered[i] - within_24h[i],
            pending: requests_n[i] - answered[i],
            median_first_reply_seconds: median[i],
            p90_first_reply_seconds: p90[i],
            hit_ratio_1h: h1[i],
            hit_ratio_24h: h24[i],
            decided_1h: 0,
            decided_24h: 0,
            first_replies: Vec::new(),
            is_final: finals[i],
        });
    }
    // Distribution, heatmap and the days' pooling inputs from the requests table.
    let seconds: Vec<Option<f64>> = requests
        .column("first_reply_seconds")?
        .f64()?
        .iter()
        .collect();
    let weekday: Vec<Option<u32>> = requests.column("weekday")?.u32()?.iter().collect();
    let hour: Vec<Option<u32>> = requests.column("hour")?.u32()?.iter().collect();
    let flags = |name: &str| -> anyhow::Result<Vec<bool>> {
        Ok(requests
            .column(name)?
            .bool()?
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect())
    };
    let (decided_1h, decided_24h) = (flags("decided_1h")?, flags("decided_24h")?);
    let request_dates: Vec<Option<&str>> = requests.column("date")?.str()?.iter().collect();
    let row_of: std::collections::HashMap<String, usize> = s
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.date.to_string(), i))
        .collect();
    let mut cells: Vec<Vec<crate::domain::Micros>> = vec![Vec::new(); 7 * 24];
    for i in 0..requests.height() {
        let row = request_dates[i].and_then(|d| row_of.get(d).copied());
        if let Some(row) = row {
            let day = &mut s.days[row];
            day.decided_1h += u64::from(decided_1h[i]);
            day.decided_24h += u64::from(decided_24h[i]);
            if let Some(f) = seconds[i] {
                day.first_replies
                    .push(crate::domain::Micros((f * 1e6).round() as i64));
            }
        }
        let Some(f) = seconds[i] else { continue };
        let whole = f.ceil() as i64;
        let bucket = SLA_BUCKETS
            .iter()
            .position(|&e| whole <= e)
            .unwrap_or(SLA_BUCKETS.len());
        s.distribution[bucket] += 1;
        if let (Some(d), Some(h)) = (weekday[i], hour[i]) {
            cells[(d * 24 + h) as usize].push(crate::domain::Micros((f * 1e6).round() as i64));
        }
    }
    for (i, cell) in cells.into_iter().enumerate() {
        s.heatmap[i / 24][i % 24] = crate::domain::stats::median_and_p90(cell).0;
    }
    Ok(s)
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// tab or carriage return first) gets a leading `'`, as OWASP's "CSV
/// injection" page recommends: conversation and agent names come from
/// customers and must not become `=HYPERLINK(…)` in a manager's Excel.
/// Only text columns are touched (a negative number stays a number).
/// `analyze --format csv` is for machines and stays raw.
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Every text column of `df` with [`neutralise_cell`] applied.
fn neutralise_text_columns(df: &mut DataFrame) -> anyhow::Result<()> {
    use polars::prelude::{IntoColumn, StringChunked};
    let text: Vec<String> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::String)
        .map(|c| c.name().to_string())
        .collect();
    for name in text {
        let column = df.column(&name).map_err(|e| anyhow::anyhow!("{e}"))?;
        let ca = column.str().map_err(|e| anyhow::anyhow!("{e}"))?;
        let safe: StringChunked = ca.iter().map(|v| v.map(neutralise_cell)).collect();
        df.replace(&name, safe.with_name(name.as_str().into()).into_column())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

fn write_csv(dir: &Path, name: &str, df: &mut DataFrame) -> anyhow::Result<PathBuf> {
    neutralise_text_columns(df)?;
    let path = dir.join(name);
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    CsvWriter::new(&mut file)
        .finish(df)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// The account's figures over the report's period (all channels), with
/// `previous`: the period of the same length before (SPEC §4), measured at
/// the same instant; and the period's length in days. None without
/// requests in either period.
pub fn period_figures(
    set: &EventSet,
    spec: &ReportSpec,
) -> (Option<crate::domain::GroupStats>, i64) {
    let start = local_midnight(spec.timezone, spec.from);
    let end = spec
        .to
        .succ_opt()
        .map_or(spec.now, |d| local_midnight(spec.timezone, d))
        .min(spec.now);
    let mut opts = crate::domain::AnalyzeOptions::new(end, end.since(start));
    opts.bots_count_as_replies = spec.bots_count_as_replies;
    opts.calendars = spec.calendars.clone();
    let report = crate::domain::analyze_with_previous(set, &opts);
    let days = (spec.to - spec.from).num_days() + 1;
    let group = report
        .groups
        .into_iter()
        .find(|g| g.account == spec.account && g.channel == crate::domain::ALL_CHANNELS);
    (group, days)
}

/// `summary.csv`: one row per figure of the period (all channels) with the
/// previous period's value and the change (current − previous; empty when
/// either is undefined).
pub fn summary_csv(group: Option<&crate::domain::GroupStats>) -> String {
    use crate::domain::document::csv_number;
    let mut out = String::from("figure,current,previous,change\n");
    let Some(g) = group else {
        return out;
    };
    let empty = crate::domain::GroupStats::empty("", "", false).figures();
    let p = g.previous.as_ref().unwrap_or(&empty);
    let c = g.figures();
    let rows: [(&str, Option<f64>, Option<f64>); 9] = [
        ("requests", Some(c.requests as f64), Some(p.requests as f64)),
        ("answered", Some(c.answered as f64), Some(p.answered as f64)),
        ("response_rate", c.response_rate, p.response_rate),
        ("hit_ratio_1h", c.hit_ratio_1h, p.hit_ratio_1h),
        ("hit_ratio_24h", c.hit_ratio_24h, p.hit_ratio_24h),
        (
            "median_first_reply_seconds",
            c.median_first_reply_seconds,
            p.median_first_reply_seconds,
        ),
        (
            "p90_first_reply_seconds",
            c.p90_first_reply_seconds,
            p.p90_first_reply_seconds,
        ),
        (
            "badge_response_rate",
            c.badge_response_rate,
            p.badge_response_rate,
        ),
        (
            "badge_response_seconds",
            c.badge_response_seconds,
            p.badge_response_seconds,
        ),
    ];
    for (name, now, before) in rows {
        let change = now.zip(before).map(|(n, b)| n - b);
        // Counts as counts; ratios and seconds as JSON writes them.
        let cell = |v: Option<f64>| match name {
            "requests" | "answered" => v.map_or(String::new(), |v| format!("{v:.0}")),
            _ => csv_number(v),
        };
        out.push_str(&format!(
            "{name},{},{},{}\n",
            cell(now),
            cell(before),
            cell(change)
        ));
    }
    out
}

/// Writes `summary.csv`, `requests.csv`, `daily.csv`, `agents.csv` and the
/// five charts into `out`.
pub fn write_report(set: &EventSet, spec: &ReportSpec, out: &Path) -> anyhow::Result<Written> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (mut requests, as_of) = requests_table(set, spec)?;
    let badge = badge_daily(set, spec, as_of)?;
    let mut daily = daily_table(&requests, &badge)?;
    let mut agents = agents_table(&requests)?;
    let last_day = as_of
        .minus(crate::domain::Micros(1))
        .to_datetime()
        .with_timezone(&spec.timezone)
        .date_naive();
    let series = chart_series(&requests, &daily, (spec.from, spec.to.min(last_day)))?;
    let summary = out.join("summary.csv");
    std::fs::write(&summary, summary_csv(period_figures(set, spec).0.as_ref()))
        .with_context(|| format!("writing {}", summary.display()))?;
    let mut files = vec![
        summary,
        write_csv(out, "daily.csv", &mut daily)?,
        write_csv(out, "agents.csv", &mut agents)?,
    ];
    let n = requests.height();
    let mut table = requests.drop_many([
        "decided_1h",
        "decided_24h",
        "weekday",
        "hour",
        "pending_age_seconds",
    ]);
    files.push(write_csv(out, "requests.csv", &mut table)?);
    let _ = &mut requests;
    let subject = format!(
        "{} / all, {} to {} (as of {})",
        spec.account,
        spec.from,
        spec.to,
        as_of
            .to_datetime()
            .with_timezone(&spec.timezone)
            .format("%Y-%m-%d %H:%M %Z")
    );
    for chart in Chart::ALL {
        let path = out.join(format!("{}.png", chart.name()));
        std::fs::write(&path, render(chart, &series, &subject)?)
            .with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    Ok(Written { files, requests: n })
}
