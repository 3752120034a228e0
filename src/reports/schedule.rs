//! Scheduled reports inside `serve` (`--report "weekly mon 08:00 Europe/Istanbul"`,
//! repeatable): at each due instant every account's report for the period
//! just ended is written into `--reports-dir/{name}-{last date}/{folder}/`
//! (`delivery::folder_name`: a readable prefix of the account and a hash;
//! `account.txt` inside names the account).
//! A run missed while the service was down happens once at start-up (the
//! last run of each schedule is remembered in `.schedule-state.json`).

use crate::domain::{CalendarBook, Timestamp};
use crate::engine::Engine;
use crate::reports::tables::{ReportSpec, write_report};
use crate::service::figures::{Figures, Scope};
use anyhow::{Context, bail};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How often a report runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// The previous local day.
    Daily,
    /// The previous 7 local days, run on this weekday.
    Weekly(Weekday),
}

/// One `--report` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub every: Every,
    pub at: NaiveTime,
    pub timezone: Tz,
}

impl std::str::FromStr for Schedule {
    type Err = String;
    /// `daily 07:00 Europe/Berlin` or `weekly mon 08:00 Europe/Istanbul`.
    fn from_str(s: &str) -> Result<Schedule, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let (every, rest) = match words.as_slice() {
            ["daily", rest @ ..] => (Every::Daily, rest),
            ["weekly", day, rest @ ..] => (
                Every::Weekly(
                    day.parse::<Weekday>()
                        .map_err(|_| format!("unknown weekday {day:?}: use mon … sun"))?,
                ),
                rest,
            ),
            _ => {
                return Err(format!(
                    "{s:?}: expected \"daily HH:MM ZONE\" or \"weekly DAY HH:MM ZONE\""
                ));
            }
        };
        let [time, zone] = rest else {
            return Err(format!(
                "{s:?}: expected a time HH:MM and an IANA time zone after the period"
            ));
        };
        let at = NaiveTime::parse_from_str(time, "%H:%M")
            .map_err(|_| format!("bad time {time:?}: use HH:MM"))?;
        let timezone = zone
            .parse::<Tz>()
            .map_err(|_| format!("unknown IANA time zone {zone:?}"))?;
        Ok(Schedule {
            every,
            at,
            timezone,
        })
    }
}

impl Schedule {
    /// A stable name for folders and state.
    pub fn name(&self) -> String {
        match self.every {
            Every::Daily => format!("daily-{}", self.at.format("%H%M")),
            Every::Weekly(d) => format!(
                "weekly-{}-{}",
                d.to_string().to_lowercase(),
                self.at.format("%H%M")
            ),
        }
    }

    fn instant(&self, date: NaiveDate) -> Timestamp {
        let local = date.and_time(self.at);
        let t = match self.timezone.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.to_utc(),
            chrono::LocalResult::None => self.timezone.from_utc_datetime(&local).to_utc(),
        };
        Timestamp::from_datetime(t)
    }

    fn is_run_day(&self, date: NaiveDate) -> bool {
        match self.every {
            Every::Daily => true,
            Every::Weekly(d) => date.weekday() == d,
        }
    }

    /// The latest due instant at or before `now`, with the local date it falls on.
    pub fn last_due(&self, now: Timestamp) -> (Timestamp, NaiveDate) {
        let today = now.to_datetime().with_timezone(&self.timezone).date_naive();
        let mut date = today;
        loop {
            if self.is_run_day(date) && self.instant(date) <= now {
                return (self.instant(date), date);
            }
            date -= Duration::days(1);
        }
    }

    /// The first due instant after `now`.
    pub fn next_due(&self, now: Timestamp) -> Timestamp {
        let mut date = now.to_datetime().with_timezone(&self.timezone).date_naive();
        loop {
            if self.is_run_day(date) && self.instant(date) > now {
                return self.instant(date);
            }
            date += Duration::days(1);
        }
    }

    /// The local dates a run on `run_date` covers (inclusive).
    pub fn period(&self, run_date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let last = run_date - Duration::days(1);
        match self.every {
            Every::Daily => (last, last),
            Every::Weekly(_) => (run_date - Duration::days(7), last),
        }
    }
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join(".schedule-state.json")
}

fn load_state(dir: &Path) -> BTreeMap<String, i64> {
    std::fs::read_to_string(state_path(dir))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

fn save_state(dir: &Path, state: &BTreeMap<String, i64>) -> anyhow::Result<()> {
    let tmp = dir.join(".schedule-state.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)?;
    std::fs::rename(&tmp, state_path(dir)).context("saving the schedule state")
}

/// The headline of one account's period: requests, response rate, median
/// (with the change against the previous period of the same length, SPEC
/// §4), badge.
fn headline(set: &crate::domain::EventSet, spec: &ReportSpec) -> String {
    use crate::domain::compare::{median_sentence, rate_change};
    let (g, days) = crate::reports::tables::period_figures(set, spec);
    // A group listed only for its previous period has no request now.
    let Some(g) = g.filter(|g| g.requests > 0 || g.badge_conversations > 0) else {
        return format!("no requests from {} to {}", spec.from, spec.to);
    };
    let period = match days {
        1 => "day".to_string(),
        n => format!("{n} days"),
    };
    let before = g.previous.as_ref();
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.1} %", v * 100.0));
    let mins = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.0} min", v / 60.0));
    let rate = match rate_change(g.response_rate, before.and_then(|p| p.response_rate)) {
        Some(c) => format!(
            "{} ({} on the previous {period})",
            pct(g.response_rate),
            c.words
        ),
        None => pct(g.response_rate),
    };
    format!(
        "{} to {}: {} requests, response rate {rate}, within 1 h {}, {}, p90 {}; badge {}",
        spec.from,
        spec.to,
        g.requests,
        pct(g.hit_ratio_1h),
        median_sentence(
            g.median_first_reply_seconds,
            before.and_then(|p| p.median_first_reply_seconds),
            &period
        ),
        mins(g.p90_first_reply_seconds),
        if g.badge_eligible {
            "eligible".to_string()
        } else {
            format!("not eligible ({})", g.badge_blockers.join("; "))
        }
    )
}

/// Writes every account's report of one run; returns the folder and what to deliver.
pub fn run(
    engine: &Engine,
    schedule: &Schedule,
    run_date: NaiveDate,
    dir: &Path,
    calendars: &CalendarBook,
) -> anyhow::Result<(PathBuf, Vec<crate::reports::delivery::Delivered>)> {
    let (from, to) = schedule.period(run_date);
    let name = format!("{}-{}", schedule.name(), to);
    let folder = dir.join(&name);
    // Written under a hidden name, then renamed: a listing never shows half a run.
    let partial = dir.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let mut delivered = Vec::new();
    {
        let set = engine.set();
        let mut accounts: Vec<String> = set
            .streams()
            .iter()
            .map(|s| s.account.to_string())
            .collect();
        accounts.sort();
        accounts.dedup();
        for account in accounts {
            let spec = ReportSpec {
                timezone: calendars
                    .for_account(&account)
                    .map_or(schedule.timezone, |c| c.timezone()),
                account: account.clone(),
                from,
                to,
                calendars: CalendarBook::default(),
                bots_count_as_replies: engine.operational().bots_reply,
                now: Timestamp::from_datetime(chrono::Utc::now()),
            };
            // One account's failure never stops the others' reports.
            let folder_of = crate::reports::delivery::folder_name(&account);
            let out = partial.join(&folder_of);
            let written = write_report(set, &spec, &out).and_then(|w| {
                std::fs::write(out.join(crate::reports::delivery::ACCOUNT_FILE), &account)?;
                Ok(w)
            });
            let written = match written {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(
                        account,
                        error = format!("{e:#}"),
                        "this account's report failed; the others go on"
                    );
                    let _ = std::fs::remove_dir_all(&out);
                    continue;
                }
            };
            delivered.push(crate::reports::delivery::Delivered {
                run: name.clone(),
                headline: headline(set, &spec),
                files: written
                    .files
                    .iter()
                    .filter_map(|f| f.file_name().map(|n| folder.join(&folder_of).join(n)))
                    .collect(),
                account,
            });
        }
    }
    std::fs::create_dir_all(&partial)?;
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::rename(&partial, &folder).context("publishing the report folder")?;
    Ok((folder, delivered))
}

/// Removes the oldest runs of `schedule` beyond the newest `keep`
/// (`--reports-keep`); returns the runs removed.
pub fn prune(dir: &Path, schedule: &Schedule, keep: usize) -> Vec<String> {
    let prefix = format!("{}-", schedule.name());
    let mut runs: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        // The run's last date follows the prefix: YYYY-MM-DD.
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
        })
        .collect();
    runs.sort();
    let old = runs.len().saturating_sub(keep.max(1));
    let mut removed = Vec::new();
    for run in runs.into_iter().take(old) {
        match std::fs::remove_dir_all(dir.join(&run)) {
            Ok(()) => removed.push(run),
            Err(e) => tracing::warn!(run, error = %e, "removing an old report run failed"),
        }
    }
    removed
}

/// Runs `schedule` forever; a run missed while down happens at once.
/// After each run, runs beyond the newest `keep` are removed.
pub async fn run_forever(
    figures: Figures,
    schedule: Schedule,
    dir: PathBuf,
    keep: usize,
    calendars: Arc<crate::service::calendars::Calendars>,
    delivery: crate::reports::delivery::Delivery,
    shared: Option<SharedRuns>,
) {
    while !figures.is_ready() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    loop {
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let (due, run_date) = schedule.last_due(now);
        let state = load_state(&dir);
        let done = state.get(&schedule.name()).copied().unwrap_or(i64::MIN);
        let mut retry_soon = false;
        if done < due.unix_micros() {
            match claim(shared.as_ref(), &schedule, due).await {
                Some(true) => {
                    run_due(
                        &figures, &schedule, due, run_date, &dir, keep, &calendars, &delivery,
                    )
                    .await;
                    if let Some(s) = &shared
                        && let Err(e) = s
                            .store
                            .finish_report_run(&schedule.name(), due.unix_micros())
                            .await
                    {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "marking the report run done failed"
                        );
                    }
                }
                // Done by another node: remembered here too.
                Some(false) => {
                    let mut state = state;
                    state.insert(schedule.name(), due.unix_micros());
                    if let Err(e) = save_state(&dir, &state) {
                        tracing::warn!(error = format!("{e:#}"), "saving the report state failed");
                    }
                }
                // Running elsewhere, or the store did not answer: look again.
                None => retry_soon = true,
            }
        }
        let next = schedule.next_due(Timestamp::from_datetime(chrono::Utc::now()));
        let wait = next
            .since(Timestamp::from_datetime(chrono::Utc::now()))
            .0
            .max(1_000_000);
        let wait = match retry_soon {
            true => wait.min(SHARED_RETRY.as_micros() as i64),
            false => wait,
        };
        tokio::time::sleep(std::time::Duration::from_micros(wait as u64)).await;
    }
}

/// On a cluster, the store where the nodes claim each due run (so it is
/// written and delivered once per cluster), and this node's name.
#[derive(Clone)]
pub struct SharedRuns {
    pub store: crate::store::Store,
    pub node: String,
}

/// A claim not done after this was left by a node that died mid-run:
/// another node runs the report.
const SHARED_STALE: std::time::Duration = std::time::Duration::from_secs(600);
/// How soon a node looks again at a run another node has claimed.
const SHARED_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether this node runs the due report: Some(true) to run it,
/// Some(false) when another node did, None to look again later.
async fn claim(shared: Option<&SharedRuns>, schedule: &Schedule, due: Timestamp) -> Option<bool> {
    use crate::store::RunClaim;
    let Some(shared) = shared else {
        return Some(true);
    };
    match shared
        .store
        .claim_report_run(
            &schedule.name(),
            due.unix_micros(),
            &shared.node,
            SHARED_STALE,
        )
        .await
    {
        Ok(RunClaim::Mine) => Some(true),
        Ok(RunClaim::Done) => Some(false),
        Ok(RunClaim::Running { node }) => {
            tracing::debug!(
                schedule = schedule.name(),
                node,
                "the report runs on another node"
            );
            None
        }
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "claiming a report run failed; will retry"
            );
            None
        }
    }
}

/// Writes the due report over every account, records it, prunes old runs
/// and delivers it.
#[allow(clippy::too_many_arguments)]
async fn run_due(
    figures: &Figures,
    schedule: &Schedule,
    due: Timestamp,
    run_date: chrono::NaiveDate,
    dir: &std::path::Path,
    keep: usize,
    calendars: &crate::service::calendars::Calendars,
    delivery: &crate::reports::delivery::Delivery,
) {
    let (schedule2, dir2, book) = (schedule.clone(), dir.to_path_buf(), calendars.book());
    // Every account, wherever its events live (on a cluster, the one node
    // that claimed the run writes the whole report).
    let result = figures
        .read(Scope::All, move |engine| {
            std::fs::create_dir_all(&dir2)?;
            let written = run(engine, &schedule2, run_date, &dir2, &book)?;
            let mut state = load_state(&dir2);
            state.insert(schedule2.name(), due.unix_micros());
            save_state(&dir2, &state)?;
            anyhow::Ok(written)
        })
        .await;
    match result {
        Ok(Ok((folder, reports))) => {
            tracing::info!(folder = %folder.display(), "scheduled report written");
            let removed = prune(dir, schedule, keep);
            if !removed.is_empty() {
                tracing::info!(?removed, keep, "old report runs removed (--reports-keep)");
            }
            for e in crate::reports::delivery::deliver(delivery, &reports, dir).await {
                tracing::error!(error = format!("{e:#}"), "delivering a report failed");
            }
        }
        Ok(Err(e)) => tracing::error!(error = format!("{e:#}"), "scheduled report failed"),
        Err(e) => tracing::error!(error = %e, "scheduled report failed"),
    }
}

/// Checks `--report` values at start-up.
pub fn parse_all(values: &[String]) -> anyhow::Result<Vec<Schedule>> {
    let mut out: Vec<Schedule> = Vec::new();
    for v in values {
        let s: Schedule = v
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--report {e}"))?;
        if out.iter().any(|o| o.name() == s.name()) {
            bail!("--report {v:?} repeats a schedule");
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        crate::domain::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn a_weekly_schedule_covers_the_previous_seven_local_days() {
        let s: Schedule = "weekly mon 08:00 Europe/Istanbul".parse().unwrap();
        // Friday Nov 27 2026: the last due run was Monday Nov 23 08:00 Istanbul (05:00 UTC).
        let (due, date) = s.last_due(t("2026-11-27T12:00:00Z"));
        assert_eq!(due, t("2026-11-23T05:00:00Z"));
        assert_eq!(
            s.period(date),
            ("2026-11-16".parse().unwrap(), "2026-11-22".parse().unwrap())
        );
        assert_eq!(
            s.next_due(t("2026-11-27T12:00:00Z")),
            t("2026-11-30T05:00:00Z")
        );
        assert_eq!(s.name(), "weekly-mon-0800");
    }

    #[test]
    fn bad_schedules_are_explained() {
        for bad in [
            "hourly 08:00 UTC",
            "weekly funday 08:00 UTC",
            "daily 25:00 UTC",
            "daily 08:00 Mars/Base",
            "daily 08:00",
        ] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad}");
        }
        let d: Schedule = "daily 07:30 UTC".parse().unwrap();
        assert_eq!(
            d.period("2026-11-27".parse().unwrap()),
            ("2026-11-26".parse().unwrap(), "2026-11-26".parse().unwrap())
        );
    }
}
