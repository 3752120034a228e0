//! The event store: the ONLY place with SQL. One [`Store`] over two
//! backends — SQLite embedded by default (a file, WAL mode, created on first
//! use) and PostgreSQL for teams — both through sqlx with runtime queries and
//! bound parameters. Idempotent by (`account`, `channel`, `id`): the first
//! stored version wins (SPEC §2). Depends on the domain, not on HTTP.

mod migrations;
pub mod scratch;

use crate::domain::{
    AccountId, AgentName, ChannelName, ConversationId, EventId, EventSet, MessageEvent, Sender,
    Timestamp,
};
use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, QueryBuilder, Sqlite};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

pub use fencing::{Fence, Fenced, fenced};
pub use migrations::MIGRATIONS;
pub use report_runs::RunClaim;

/// Rows per multi-row statement: 7 binds a row stays far below SQLite's
/// 32,766 and PostgreSQL's 65,535 bind limits.
const ROWS_PER_STATEMENT: usize = 2_000;
/// Rows per page when loading the whole store.
const LOAD_PAGE_ROWS: i64 = 50_000;

/// What storing a batch did (SPEC §6's 202 body).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InsertOutcome {
    /// Events stored for the first time.
    pub accepted: u64,
    /// Events already stored (or earlier in the batch) with the same content.
    pub duplicates: u64,
    /// Events whose key was stored with other content; the stored one is kept.
    pub conflicts: u64,
}

impl InsertOutcome {
    /// Adds another outcome's counts.
    pub fn add(&mut self, o: InsertOutcome) {
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.conflicts += o.conflicts;
    }
}

/// Whether a failed store call was the database refusing the data itself
/// (sending the same rows again would fail again), as opposed to the
/// database failing (unreachable, full, locked, slow), which a retry may
/// overcome. PostgreSQL: SQLSTATE classes 22 (data exception), 23
/// (integrity constraint) and 54 (program limit, e.g. an index row too
/// large); SQLite: TOOBIG, CONSTRAINT and MISMATCH.
pub fn is_refusal(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() else {
            return false;
        };
        let code = db.code().unwrap_or_default();
        match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            Some(_) => ["22", "23", "54"]
                .iter()
                .any(|class| code.starts_with(class)),
            // SQLite's primary result code is the low byte of the extended one.
            None => code
                .parse::<i32>()
                .is_ok_and(|c| matches!(c & 0xff, 18..=20)),
        }
    })
}

/// A connected store.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A stored row: (account, channel, id, conversation, sender, at_us, agent).
type Row = (String, String, String, String, String, i64, Option<String>);

fn row_of(e: &MessageEvent) -> Row {
    (
        e.account.to_string(),
        e.channel.to_string(),
        e.id.to_string(),
        e.conversation.to_string(),
        e.from.as_str().to_string(),
        e.at.unix_micros(),
        e.agent.as_ref().map(|a| a.to_string()),
    )
}

/// Turns a stored row back into an event, validating it like input.
fn event_of(row: Row) -> anyhow::Result<MessageEvent> {
    let (account, channel, id, conversation, sender, at_us, agent) = row;
    event_from((
        &account,
        &channel,
        &id,
        &conversation,
        &sender,
        at_us,
        agent.as_deref(),
    ))
}

fn event_from(row: RowRef<'_>) -> anyhow::Result<MessageEvent> {
    let (account, channel, id, conversation, sender, at_us, agent) = row;
    let bad = |what: &str, why: String| {
        anyhow::anyhow!("stored event {account}/{channel}/{id}: {what}: {why}")
    };
    Ok(MessageEvent {
        id: EventId::parse(id).map_err(|e| bad("id", e))?,
        account: AccountId::parse(account).map_err(|e| bad("account", e))?,
        channel: ChannelName::parse(channel).map_err(|e| bad("channel", e))?,
        conversation: ConversationId::parse(conversation).map_err(|e| bad("conversation", e))?,
        from: Sender::parse(sender).ok_or_else(|| bad("sender", sender.to_string()))?,
        at: Timestamp::from_unix_micros(at_us),
        agent: agent
            .map(AgentName::parse)
            .transpose()
            .map_err(|e| bad("agent", e))?,
    })
}

/// A stored row that today's validation refuses (stored by an older
/// version, before SPEC §1 forbade control characters and years before
/// 1970) is left in the database and out of the figures, and logged: one
/// such row must not keep the whole service from loading.
fn valid_or_logged(row: anyhow::Result<MessageEvent>) -> Option<MessageEvent> {
    match row {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "a stored event is not valid today; left out of the figures"
            );
            None
        }
    }
}

/// A row of a JSON page, borrowing from the page where no escape forces a copy.
#[derive(serde::Deserialize)]
struct JsonRow<'a>(
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    i64,
    #[serde(borrow)] Option<std::borrow::Cow<'a, str>>,
);

type Key = (String, String, String);

fn key_of(r: &Row) -> Key {
    (r.0.clone(), r.1.clone(), r.2.clone())
}

/// A row to bind, borrowed: (account, channel, id, conversation, sender, at_us, agent).
type RowRef<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    i64,
    Option<&'a str>,
);

fn row_ref(r: &Row) -> RowRef<'_> {
    (&r.0, &r.1, &r.2, &r.3, &r.4, r.5, r.6.as_deref())
}

fn event_row_ref(e: &MessageEvent) -> RowRef<'_> {
    (
        e.account.as_str(),
        e.channel.as_str(),
        e.id.as_str(),
        e.conversation.as_str(),
        e.from.as_str(),
        e.at.unix_micros(),
        e.agent.as_ref().map(|a| a.as_str()),
    )
}

/// Runs `$body` (an async block that uses `conn`) on a connection taken
/// from `$pool`; on ANY failure the connection is closed instead of going
/// back to the pool. SQLite may leave a transaction open after a failed
/// COMMIT ("database or disk is full"): a pooled connection in that state
/// would turn the next batch's BEGIN into a savepoint of the dead
/// transaction, answer "stored" and lose it (issue 15). Closing rolls back
/// whatever was begun. Every write transaction of the event store runs in it
/// (the migrations, run once at start-up, do not).
macro_rules! closing_on_failure {
    ($pool:expr, |$conn:ident| $body:expr) => {{
        let mut $conn = $pool
            .acquire()
            .await
            .context("taking a database connection")?;
        let result: anyhow::Result<_> = $body.await;
        if result.is_err() {
            $conn.close_on_drop();
        }
        result?
    }};
}

/// Runs `$body` (which uses `tx`) in one transaction and commits, through
/// [`closing_on_failure!`].
macro_rules! in_transaction {
    ($pool:expr, |$tx:ident| $body:block) => {{
        closing_on_failure!($pool, |conn| async {
            let mut $tx = sqlx::Connection::begin(&mut *conn)
                .await
                .context("starting a transaction")?;
            let value = $body;
            $tx.commit().await.context("committing")?;
            Ok(value)
        })
    }};
}

/// The same `$body` over whichever pool `$store` holds: a query written
/// once for both backends (sqlx's query types are per database).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

// The jobs of the store, one file each (after the shared macros above).
mod calendars;
mod fencing;
use fencing::check_fences;
mod read;
mod report_runs;
mod write;

impl Store {
    /// Connects to `sqlite://PATH` (created if missing, WAL, synchronous
    /// FULL so a commit survives a crash) or `postgres://…`.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("bad SQLite URL {url:?}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                // 64 MiB of page cache per connection: the key index of a
                // large store stays in memory, so inserts seldom read pages.
                .pragma("cache_size", "-262144")
                // Checkpoint the WAL every ~64 MiB instead of every 4 MiB: a
                // page rewritten by many small commits is copied back once.
                .pragma("wal_autocheckpoint", "16384")
                // Merging the ingestion log sorts it: in memory, not in a temp file.
                .pragma("temp_store", "memory");
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await
                .with_context(|| format!("opening {url}"))?;
            Ok(Store::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // A transaction left open by a paused or cut-off node is ended
            // by the server, so its locks (a partition's epoch, see
            // `fencing`) cannot hold the node that takes over for long.
            // Nothing here keeps a transaction idle on purpose.
            let opts = sqlx::postgres::PgConnectOptions::from_str(url)
                .context("bad PostgreSQL URL")?
                .options([("idle_in_transaction_session_timeout", "5s")]);
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Store::Postgres(pool))
        } else {
            bail!("unsupported database URL {url:?}: expected sqlite://PATH or postgres://…")
        }
    }

    /// Applies the migrations not yet applied; returns their versions.
    pub async fn migrate(&self) -> anyhow::Result<Vec<i64>> {
        migrations::run(self).await
    }

    /// Runs one administrative statement (e.g. CREATE DATABASE) outside a
    /// transaction. For benchmarks and tests; never with user input.
    pub async fn execute_admin(&self, sql: &str) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(drop),
            Store::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(drop),
        }
        .with_context(|| format!("running {sql}"))
    }

    /// SQLite after a failed write (e.g. a full disk): copies the committed
    /// WAL frames into the database file and truncates the WAL, which gives
    /// back the space the WAL held (its autocheckpoint is 64 MiB, so on a
    /// nearly full disk it would never come). Errors are logged, not
    /// returned: this only helps. A no-op on PostgreSQL.
    pub async fn relieve(&self) {
        if let Store::Sqlite(pool) = self {
            let done = tokio::time::timeout(
                Duration::from_secs(10),
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool),
            )
            .await;
            match done {
                Ok(Ok(_)) => tracing::info!("WAL checkpointed and truncated after a failed write"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "checkpointing the WAL after a failed write failed")
                }
                Err(_) => {
                    tracing::warn!("checkpointing the WAL after a failed write took over 10 s")
                }
            }
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Store::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
        .context("database did not answer")
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}
