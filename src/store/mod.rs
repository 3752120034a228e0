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

pub use migrations::MIGRATIONS;

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

/// Streamed rows into `set`, each validated ([`valid_or_logged`]).
async fn insert_streamed(
    set: &mut EventSet,
    mut rows: impl futures_util::Stream<Item = Result<Row, sqlx::Error>> + Unpin,
    what: &'static str,
) -> anyhow::Result<()> {
    while let Some(row) = rows.try_next().await.context(what)? {
        if let Some(e) = valid_or_logged(event_of(row)) {
            set.insert(e);
        }
    }
    Ok(())
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

/// `INSERT INTO $table … VALUES` with one bound tuple per [`RowRef`] of `chunk`.
macro_rules! insert_statement {
    ($db:ty, $chunk:expr) => {
        insert_statement!($db, "events", $chunk)
    };
    ($db:ty, $table:expr, $chunk:expr) => {{
        let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!(
            "INSERT INTO {} (account, channel, id, conversation, sender, at_us, agent) ",
            $table
        ));
        qb.push_values($chunk, |mut b, r: RowRef| {
            b.push_bind(r.0)
                .push_bind(r.1)
                .push_bind(r.2)
                .push_bind(r.3)
                .push_bind(r.4)
                .push_bind(r.5)
                .push_bind(r.6);
        });
        qb
    }};
}

/// Inserts `rows` (distinct keys) in one transaction, and returns the stored
/// rows of the keys that already existed. Written once for both backends.
macro_rules! insert_rows {
    ($pool:expr, $db:ty, $rows:expr) => {{
        in_transaction!($pool, |tx| {
        let mut existing: Vec<Row> = Vec::new();
        for chunk in $rows.chunks(ROWS_PER_STATEMENT) {
            let mut qb = insert_statement!($db, chunk.iter().map(row_ref));
            qb.push(" ON CONFLICT DO NOTHING RETURNING account, channel, id");
            let inserted: Vec<Key> = qb.build_query_as().fetch_all(&mut *tx).await.context("inserting events")?;
            if inserted.len() == chunk.len() {
                continue;
            }
            let inserted: std::collections::HashSet<Key> = inserted.into_iter().collect();
            let missing: Vec<&Row> = chunk.iter().filter(|r| !inserted.contains(&key_of(r))).collect();
            let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                "SELECT account, channel, id, conversation, sender, at_us, agent FROM events WHERE (account, channel, id) IN ",
            );
            qb.push_tuples(missing, |mut b, r| {
                b.push_bind(&r.0).push_bind(&r.1).push_bind(&r.2);
            });
            let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *tx).await.context("reading stored duplicates")?;
            existing.extend(rows);
        }
        existing
        })
    }};
}

/// Inserts `events` in one transaction with `suffix` after each multi-row
/// INSERT, and returns the rows affected. The transaction commits when
/// `commit_if(affected)` holds and rolls back otherwise.
macro_rules! insert_events_tx {
    ($pool:expr, $db:ty, $events:expr, $suffix:expr, $commit_if:expr) => {
        insert_events_tx!($pool, $db, "events", $events, $suffix, $commit_if)
    };
    ($pool:expr, $db:ty, $table:expr, $events:expr, $suffix:expr, $commit_if:expr) => {{
        closing_on_failure!($pool, |conn| async {
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .context("starting a transaction")?;
            let mut affected = 0u64;
            for chunk in $events.chunks(ROWS_PER_STATEMENT) {
                let mut qb = insert_statement!($db, $table, chunk.iter().map(|e| event_row_ref(e)));
                qb.push($suffix);
                affected += qb
                    .build()
                    .execute(&mut *tx)
                    .await
                    .context("inserting events")?
                    .rows_affected();
            }
            if $commit_if(affected) {
                tx.commit().await.context("committing events")?;
            } else {
                tx.rollback().await.context("rolling back")?;
            }
            Ok(affected)
        })
    }};
}

/// PostgreSQL: inserts `events` with one `INSERT … SELECT FROM UNNEST` of
/// seven array parameters per 10,000 rows (far less protocol and parse work
/// than one bind per value), ON CONFLICT DO NOTHING, in one transaction that
/// commits when `commit_if(affected)` holds. Returns the rows affected.
async fn insert_unnest(
    pool: &PgPool,
    events: &[&MessageEvent],
    commit_if: impl Fn(u64) -> bool,
) -> anyhow::Result<u64> {
    Ok(closing_on_failure!(pool, |conn| insert_unnest_on(
        &mut conn, events, commit_if
    )))
}

async fn insert_unnest_on(
    conn: &mut sqlx::PgConnection,
    events: &[&MessageEvent],
    commit_if: impl Fn(u64) -> bool,
) -> anyhow::Result<u64> {
    let mut tx = sqlx::Connection::begin(conn)
        .await
        .context("starting a transaction")?;
    let mut affected = 0;
    for chunk in events.chunks(10_000) {
        let col = |f: fn(&MessageEvent) -> &str| chunk.iter().map(|e| f(e)).collect::<Vec<&str>>();
        let done = sqlx::query(
            "INSERT INTO events (account, channel, id, conversation, sender, at_us, agent) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(col(|e| e.account.as_str()))
        .bind(col(|e| e.channel.as_str()))
        .bind(col(|e| e.id.as_str()))
        .bind(col(|e| e.conversation.as_str()))
        .bind(col(|e| e.from.as_str()))
        .bind(chunk.iter().map(|e| e.at.unix_micros()).collect::<Vec<i64>>())
        .bind(chunk.iter().map(|e| e.agent.as_ref().map(|a| a.as_str())).collect::<Vec<Option<&str>>>())
        .execute(&mut *tx)
        .await
        .context("inserting events")?;
        affected += done.rows_affected();
    }
    if commit_if(affected) {
        tx.commit().await.context("committing events")?;
    } else {
        tx.rollback().await.context("rolling back")?;
    }
    Ok(affected)
}

/// Loads every event of a SQLite store. sqlx hands SQLite rows one by one
/// from its worker thread, which costs a thread wake-up per row (~4 µs);
/// so SQLite packs each page of rows into one JSON array
/// (`json_group_array`, which escapes every value), and the pages are
/// parsed on the other cores while the next one is read.
/// The stored events of `accounts` (PostgreSQL), streamed and decoded as read.
async fn load_pg_accounts(pool: &PgPool, accounts: &[String]) -> anyhow::Result<EventSet> {
    let mut set = EventSet::new();
    if accounts.is_empty() {
        return Ok(set);
    }
    let rows = sqlx::query_as::<_, Row>(
        "SELECT account, channel, id, conversation, sender, at_us, agent FROM events WHERE account = ANY($1)",
    )
    .bind(accounts)
    .fetch(pool);
    insert_streamed(&mut set, rows, "loading events").await?;
    Ok(set)
}

async fn load_sqlite(pool: &SqlitePool, set: &mut EventSet) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<Vec<MessageEvent>>>(2);
    let pool = pool.clone();
    let producer = tokio::spawn(async move {
        let mut after: Option<Key> = None;
        loop {
            let page = read_json_page(&pool, after.as_ref()).await;
            let decoded = match page {
                Ok(json) => tokio::task::spawn_blocking(move || decode_page(&json))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r),
                Err(e) => Err(e),
            };
            let (events, last) = match decoded {
                Ok(x) => x,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let full = events.len() as i64 == LOAD_PAGE_ROWS;
            if tx.send(Ok(events)).await.is_err() || !full {
                return;
            }
            after = last;
        }
    });
    while let Some(page) = rx.recv().await {
        for e in page? {
            set.insert(e);
        }
    }
    producer.await.context("loading events")?;
    Ok(())
}

/// One page of rows after `after`, in key order, as a JSON array of arrays.
async fn read_json_page(pool: &SqlitePool, after: Option<&Key>) -> anyhow::Result<String> {
    // Two statements, not `?1 = 0 OR (…) > (…)`: the OR would defeat the
    // key range seek and rescan the table from its start for every page.
    let page: Option<String> = match after {
        None => sqlx::query_scalar(
            "SELECT json_group_array(json_array(account, channel, id, conversation, sender, at_us, agent)) \
             FROM (SELECT * FROM events ORDER BY account, channel, id LIMIT ?1)",
        )
        .bind(LOAD_PAGE_ROWS)
        .fetch_one(pool)
        .await,
        Some((a, c, i)) => sqlx::query_scalar(
            "SELECT json_group_array(json_array(account, channel, id, conversation, sender, at_us, agent)) \
             FROM (SELECT * FROM events WHERE (account, channel, id) > (?1, ?2, ?3) \
                   ORDER BY account, channel, id LIMIT ?4)",
        )
        .bind(a)
        .bind(c)
        .bind(i)
        .bind(LOAD_PAGE_ROWS)
        .fetch_one(pool)
        .await,
    }
    .context("loading events")?;
    Ok(page.unwrap_or_else(|| "[]".to_string()))
}

/// The events of a JSON page, validated, and the page's last key.
fn decode_page(json: &str) -> anyhow::Result<(Vec<MessageEvent>, Option<Key>)> {
    let rows: Vec<JsonRow> =
        serde_json::from_str(json).context("decoding a page of stored events")?;
    let last = rows
        .last()
        .map(|r| (r.0.to_string(), r.1.to_string(), r.2.to_string()));
    let events = rows
        .iter()
        .filter_map(|r| {
            valid_or_logged(event_from((
                &r.0,
                &r.1,
                &r.2,
                &r.3,
                &r.4,
                r.5,
                r.6.as_deref(),
            )))
        })
        .collect();
    Ok((events, last))
}

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
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
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

    /// Stores a batch idempotently in one transaction: new keys are added,
    /// known keys are counted as duplicates (same content) or conflicts (the
    /// first stored version is kept). Durable when it returns.
    pub async fn insert_events(&self, events: &[MessageEvent]) -> anyhow::Result<InsertOutcome> {
        Ok(self.insert_batches(&[events]).await?[0])
    }

    /// Group commit: stores several batches in ONE transaction and returns
    /// each batch's own outcome, as if they had been stored one after the
    /// other in the order given (an event repeated in a later batch of the
    /// group is that batch's duplicate or conflict).
    pub async fn insert_batches(
        &self,
        batches: &[&[MessageEvent]],
    ) -> anyhow::Result<Vec<InsertOutcome>> {
        let mut outcomes = vec![InsertOutcome::default(); batches.len()];
        let total: usize = batches.iter().map(|b| b.len()).sum();
        // De-duplication inside the group first: the earliest event of a key wins.
        let mut first: HashMap<Key, usize> = HashMap::with_capacity(total);
        let mut rows: Vec<Row> = Vec::with_capacity(total);
        let mut row_batch: Vec<usize> = Vec::with_capacity(total);
        for (b, batch) in batches.iter().enumerate() {
            for e in batch.iter() {
                let row = row_of(e);
                match first.get(&key_of(&row)) {
                    Some(&i) if rows[i] == row => outcomes[b].duplicates += 1,
                    Some(_) => outcomes[b].conflicts += 1,
                    None => {
                        first.insert(key_of(&row), rows.len());
                        rows.push(row);
                        row_batch.push(b);
                    }
                }
            }
        }
        if rows.is_empty() {
            return Ok(outcomes);
        }
        let existing = match self {
            Store::Sqlite(pool) => insert_rows!(pool, Sqlite, rows),
            Store::Postgres(pool) => insert_rows!(pool, Postgres, rows),
        };
        for (i, _) in rows.iter().enumerate() {
            outcomes[row_batch[i]].accepted += 1;
        }
        for stored in &existing {
            let i = first[&key_of(stored)];
            let o = &mut outcomes[row_batch[i]];
            o.accepted -= 1;
            if &rows[i] == stored {
                o.duplicates += 1;
            } else {
                o.conflicts += 1;
            }
        }
        Ok(outcomes)
    }

    /// The baseline of the ingestion benchmark: the same rows with a plain
    /// multi-row INSERT in one transaction, no conflict handling, no
    /// RETURNING. Fails on a key that is already stored.
    pub async fn insert_plain(&self, events: &[MessageEvent]) -> anyhow::Result<()> {
        let all = |_| true;
        match self {
            Store::Sqlite(pool) => insert_events_tx!(pool, Sqlite, events, "", all),
            Store::Postgres(pool) => insert_events_tx!(pool, Postgres, events, "", all),
        };
        Ok(())
    }

    /// The ingestion worker's fast path: durably stores `events`, which the
    /// caller (the only writer) has found new and distinct.
    ///
    /// SQLite appends them to the ingestion log: a small commit there writes
    /// only the log's last pages, where a direct insert would rewrite a page
    /// of the key index per event; [`Store::merge_log`] moves them into
    /// `events` in large sorted transactions. PostgreSQL inserts into
    /// `events` directly; when some key is already there (another writer),
    /// it rolls back and returns false, and the caller falls back to
    /// [`Store::insert_batches`], which classifies each event itself.
    pub async fn store_new(&self, events: &[&MessageEvent]) -> anyhow::Result<bool> {
        let n = events.len() as u64;
        let all_new = |affected: u64| affected == n;
        match self {
            Store::Sqlite(pool) => {
                insert_events_tx!(pool, Sqlite, "ingest_log", events, "", |_| true);
                Ok(true)
            }
            Store::Postgres(pool) => {
                let affected = insert_unnest(pool, events, all_new).await?;
                Ok(all_new(affected))
            }
        }
    }

    /// Moves the ingestion log into `events` in one transaction, in key
    /// order (sequential B-tree writes); the first stored version of a key
    /// wins. Returns the rows moved. A no-op on PostgreSQL.
    pub async fn merge_log(&self) -> anyhow::Result<u64> {
        let Store::Sqlite(pool) = self else {
            return Ok(0);
        };
        let moved = in_transaction!(pool, |tx| {
            let moved = sqlx::query(
                "INSERT INTO events (account, channel, id, conversation, sender, at_us, agent) \
             SELECT account, channel, id, conversation, sender, at_us, agent FROM ingest_log \
             WHERE true ORDER BY account, channel, id, seq ON CONFLICT DO NOTHING",
            )
            .execute(&mut *tx)
            .await
            .context("moving the ingestion log into events")?;
            sqlx::query("DELETE FROM ingest_log")
                .execute(&mut *tx)
                .await
                .context("emptying the ingestion log")?;
            moved
        });
        Ok(moved.rows_affected())
    }

    /// Deletes at most `limit` events with `at < cutoff` in one short
    /// transaction; returns the keys (account, channel, id) that went.
    /// Retention calls it in a loop.
    pub async fn delete_before(
        &self,
        cutoff: Timestamp,
        limit: i64,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        let done = match self {
            Store::Sqlite(pool) => {
                sqlx::query_as(
                    "DELETE FROM events WHERE (account, channel, id) IN \
                 (SELECT account, channel, id FROM events WHERE at_us < ? LIMIT ?) \
                 RETURNING account, channel, id",
                )
                .bind(cutoff.unix_micros())
                .bind(limit)
                .fetch_all(pool)
                .await
            }
            Store::Postgres(pool) => {
                sqlx::query_as(
                    "DELETE FROM events WHERE (account, channel, id) IN \
                 (SELECT account, channel, id FROM events WHERE at_us < $1 LIMIT $2) \
                 RETURNING account, channel, id",
                )
                .bind(cutoff.unix_micros())
                .bind(limit)
                .fetch_all(pool)
                .await
            }
        };
        done.context("deleting expired events")
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

    /// Calendars set through the API: (account, calendar JSON).
    pub async fn load_calendars(&self) -> anyhow::Result<Vec<(String, String)>> {
        const SQL: &str = "SELECT account, calendar FROM calendars ORDER BY account";
        match self {
            Store::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
            Store::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        }
        .context("loading calendars")
    }

    /// Stores (or replaces) one account's calendar JSON, as changed at
    /// `at` (the caller's clock: the store reads none for data).
    pub async fn put_calendar(
        &self,
        account: &str,
        json: &str,
        at: crate::domain::Timestamp,
    ) -> anyhow::Result<()> {
        const SQL: &str = "INSERT INTO calendars (account, calendar, updated_at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (account) DO UPDATE SET calendar = excluded.calendar, updated_at_us = excluded.updated_at_us";
        let now = at.unix_micros();
        match self {
            Store::Sqlite(pool) => sqlx::query(SQL)
                .bind(account)
                .bind(json)
                .bind(now)
                .execute(pool)
                .await
                .map(drop),
            Store::Postgres(pool) => sqlx::query(SQL)
                .bind(account)
                .bind(json)
                .bind(now)
                .execute(pool)
                .await
                .map(drop),
        }
        .context("storing a calendar")
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

    /// Loads every stored event into an [`EventSet`].
    pub async fn load_events(&self) -> anyhow::Result<EventSet> {
        // The merge needs room for both copies of the log's rows: on a full
        // disk it fails, and the log is read beside `events` instead (in seq
        // order after them, which is what the merge would keep), so a
        // restart on a full disk still serves every stored event.
        let unmerged = match self.merge_log().await {
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "merging the ingestion log failed; reading it unmerged"
                );
                true
            }
        };
        let mut set = EventSet::with_capacity(self.count_events().await? as usize);
        match self {
            Store::Sqlite(pool) => {
                load_sqlite(pool, &mut set).await?;
                if unmerged {
                    let rows = sqlx::query_as::<_, Row>(
                        "SELECT account, channel, id, conversation, sender, at_us, agent FROM ingest_log ORDER BY seq",
                    )
                    .fetch(pool);
                    insert_streamed(&mut set, rows, "loading the ingestion log").await?;
                }
            }
            Store::Postgres(pool) => {
                // One streamed query: rows are decoded while the next ones are read.
                let rows = sqlx::query_as::<_, Row>(
                    "SELECT account, channel, id, conversation, sender, at_us, agent FROM events",
                )
                .fetch(pool);
                insert_streamed(&mut set, rows, "loading events").await?;
            }
        }
        Ok(set)
    }

    /// Loads the stored events of the accounts `keep` accepts (a cluster
    /// node taking partitions over). PostgreSQL: the accounts are listed
    /// first (one short column) and only theirs are read, rather than every
    /// row sent over and decoded.
    pub async fn load_events_where(&self, keep: impl Fn(&str) -> bool) -> anyhow::Result<EventSet> {
        match self {
            Store::Sqlite(_) => {
                let all = self.load_events().await?;
                Ok(all.filtered(|set, e| {
                    keep(set.stream(set.stream_of(e.conversation)).account.as_str())
                }))
            }
            Store::Postgres(pool) => {
                let accounts: Vec<String> =
                    sqlx::query_scalar("SELECT DISTINCT account FROM events")
                        .fetch_all(pool)
                        .await
                        .context("listing accounts")?;
                let wanted: Vec<String> = accounts.into_iter().filter(|a| keep(a)).collect();
                load_pg_accounts(pool, &wanted).await
            }
        }
    }

    /// Loads the stored events of one account, or of all (answering for
    /// accounts another cluster node serves).
    pub async fn load_account_events(&self, account: Option<&str>) -> anyhow::Result<EventSet> {
        match (self, account) {
            (_, None) => self.load_events().await,
            (Store::Postgres(pool), Some(account)) => {
                load_pg_accounts(pool, &[account.to_string()]).await
            }
            (Store::Sqlite(_), Some(account)) => self.load_events_where(|a| a == account).await,
        }
    }

    /// Number of stored events.
    pub async fn count_events(&self) -> anyhow::Result<u64> {
        let n: i64 = match self {
            Store::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM ingest_log)",
                )
                .fetch_one(pool)
                .await
            }
            Store::Postgres(pool) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM events")
                    .fetch_one(pool)
                    .await
            }
        }
        .context("counting events")?;
        Ok(n as u64)
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}
