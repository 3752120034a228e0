//! Runs of scheduled reports claimed in the shared store, so a cluster
//! writes and delivers each due report once: every node sees it fall due,
//! the one whose claim inserts the row runs it, and marks it done. A claim
//! not done within `stale` (its node died mid-run) may be taken again.

use super::*;

/// What a node's claim of a due run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunClaim {
    /// This node runs it.
    Mine,
    /// Another node runs it now (claimed, not done, not stale).
    Running { node: String },
    /// Done already (by any node).
    Done,
}

impl Store {
    /// Claims the run of `schedule` due at `due_us` for `node`.
    pub async fn claim_report_run(
        &self,
        schedule: &str,
        due_us: i64,
        node: &str,
        stale: Duration,
    ) -> anyhow::Result<RunClaim> {
        let now = chrono::Utc::now().timestamp_micros();
        let stale_before = now - stale.as_micros() as i64;
        let claim = "INSERT INTO report_runs (schedule, due_us, node, claimed_at_us) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (schedule, due_us) DO UPDATE SET node = excluded.node, claimed_at_us = excluded.claimed_at_us \
             WHERE report_runs.done_at_us IS NULL AND report_runs.claimed_at_us < $5 RETURNING node";
        let look = "SELECT node, done_at_us FROM report_runs WHERE schedule = $1 AND due_us = $2";
        on_pool!(self, |pool| {
            let won: Option<String> = sqlx::query_scalar(claim)
                .bind(schedule)
                .bind(due_us)
                .bind(node)
                .bind(now)
                .bind(stale_before)
                .fetch_optional(pool)
                .await
                .context("claiming a report run")?;
            if won.is_some() {
                return Ok(RunClaim::Mine);
            }
            let (by, done): (String, Option<i64>) = sqlx::query_as(look)
                .bind(schedule)
                .bind(due_us)
                .fetch_one(pool)
                .await
                .context("reading a report run")?;
            Ok(match done {
                Some(_) => RunClaim::Done,
                None => RunClaim::Running { node: by },
            })
        })
    }

    /// Marks a claimed run done.
    pub async fn finish_report_run(&self, schedule: &str, due_us: i64) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_micros();
        let sql = "UPDATE report_runs SET done_at_us = $1 WHERE schedule = $2 AND due_us = $3";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(now)
            .bind(schedule)
            .bind(due_us)
            .execute(pool)
            .await
            .map(drop))
        .context("marking a report run done")
    }
}
