//! Numbered migrations under `migrations/{sqlite,postgres}`, embedded in the
//! binary so that it runs from any directory, applied in order inside a
//! transaction each and recorded in `replywatch_migrations`.

use super::Store;
use anyhow::Context;
use sqlx::Acquire;

/// One migration: version, name, and its SQL for each backend.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events",
        sqlite: include_str!("../../migrations/sqlite/0001_events.sql"),
        postgres: include_str!("../../migrations/postgres/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "events_without_rowid",
        sqlite: include_str!("../../migrations/sqlite/0002_events_without_rowid.sql"),
        postgres: include_str!("../../migrations/postgres/0002_events_without_rowid.sql"),
    },
    Migration {
        version: 3,
        name: "ingest_log",
        sqlite: include_str!("../../migrations/sqlite/0003_ingest_log.sql"),
        postgres: include_str!("../../migrations/postgres/0003_ingest_log.sql"),
    },
    Migration {
        version: 4,
        name: "calendars",
        sqlite: include_str!("../../migrations/sqlite/0004_calendars.sql"),
        postgres: include_str!("../../migrations/postgres/0004_calendars.sql"),
    },
    Migration {
        version: 5,
        name: "partition_epochs",
        sqlite: include_str!("../../migrations/sqlite/0005_partition_epochs.sql"),
        postgres: include_str!("../../migrations/postgres/0005_partition_epochs.sql"),
    },
    Migration {
        version: 6,
        name: "report_runs",
        sqlite: include_str!("../../migrations/sqlite/0006_report_runs.sql"),
        postgres: include_str!("../../migrations/postgres/0006_report_runs.sql"),
    },
];

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS replywatch_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at_us BIGINT NOT NULL)";

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Applied in one transaction per migration; written once for both backends.
macro_rules! apply {
    ($pool:expr, $field:ident) => {{
        sqlx::query(CREATE_LEDGER).execute($pool).await.context("creating the migration ledger")?;
        let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM replywatch_migrations")
            .fetch_all($pool)
            .await
            .context("reading the migration ledger")?;
        let mut applied = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
            let mut tx = $pool.begin().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(m.$field))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("applying migration {} ({})", m.version, m.name))?;
            sqlx::query("INSERT INTO replywatch_migrations (version, name, applied_at_us) VALUES ($1, $2, $3)")
                .bind(m.version)
                .bind(m.name)
                .bind(now_us())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            applied.push(m.version);
        }
        applied
    }};
}

pub async fn run(store: &Store) -> anyhow::Result<Vec<i64>> {
    Ok(match store {
        Store::Sqlite(pool) => apply!(pool, sqlite),
        Store::Postgres(pool) => {
            // Cluster nodes start together on one database: one migrates,
            // the others wait on this lock, then find nothing left to do.
            const LOCK: i64 = 0x7265_706c_7977;
            let mut conn = pool.acquire().await.context("connecting to migrate")?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(LOCK)
                .execute(&mut *conn)
                .await
                .context("waiting for the migration lock")?;
            let applied: anyhow::Result<Vec<i64>> =
                async { Ok(apply!(&mut *conn, postgres)) }.await;
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK)
                .execute(&mut *conn)
                .await;
            applied?
        }
    })
}
