//! Writing events: the insert statements of both backends (multi-row
//! VALUES on SQLite, UNNEST on PostgreSQL), batches committed together or
//! alone, the SQLite ingestion log and its merge, retention's deletes.

use super::*;

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

/// Inserts `rows` (distinct keys) in one transaction that also checks
/// `fences`, and returns the stored rows of the keys that already existed.
/// Written once for both backends.
macro_rules! insert_rows {
    ($pool:expr, $db:ty, $rows:expr, $fences:expr, $lock:expr) => {{
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
        check_fences!(tx, $db, $fences, $lock);
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
    fences: &[Fence],
) -> anyhow::Result<u64> {
    Ok(closing_on_failure!(pool, |conn| insert_unnest_on(
        &mut conn, events, commit_if, fences
    )))
}

async fn insert_unnest_on(
    conn: &mut sqlx::PgConnection,
    events: &[&MessageEvent],
    commit_if: impl Fn(u64) -> bool,
    fences: &[Fence],
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
        // Last, so the epoch's row is locked only for the commit itself.
        check_fences!(tx, Postgres, fences, " FOR SHARE");
        tx.commit().await.context("committing events")?;
    } else {
        tx.rollback().await.context("rolling back")?;
    }
    Ok(affected)
}

impl Store {
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
        self.insert_batches_fenced(batches, &[]).await
    }

    /// [`Store::insert_batches`] in a transaction that commits only while
    /// every fence holds (a cluster owner's commit; see `fencing`).
    pub async fn insert_batches_fenced(
        &self,
        batches: &[&[MessageEvent]],
        fences: &[Fence],
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
            Store::Sqlite(pool) => insert_rows!(pool, Sqlite, rows, fences, ""),
            Store::Postgres(pool) => insert_rows!(pool, Postgres, rows, fences, " FOR SHARE"),
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
    ///
    /// `fences` (a cluster owner's commit, PostgreSQL) are checked in the
    /// same transaction: a stale one fails the call with
    /// [`super::Fenced`] and nothing is stored.
    pub async fn store_new(
        &self,
        events: &[&MessageEvent],
        fences: &[Fence],
    ) -> anyhow::Result<bool> {
        let n = events.len() as u64;
        let all_new = |affected: u64| affected == n;
        match self {
            Store::Sqlite(pool) => {
                anyhow::ensure!(
                    fences.is_empty(),
                    "fenced commits need PostgreSQL (a cluster's store)"
                );
                insert_events_tx!(pool, Sqlite, "ingest_log", events, "", |_| true);
                Ok(true)
            }
            Store::Postgres(pool) => {
                let affected = insert_unnest(pool, events, all_new, fences).await?;
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

    /// A cluster owner's retention of one partition (PostgreSQL): deletes at
    /// most `limit` events with `at < cutoff` of `accounts`, in a
    /// transaction that commits only while `fence` holds, so an owner that
    /// lost the partition deletes nothing the new owner has loaded. Returns
    /// the keys that went.
    pub async fn delete_before_fenced(
        &self,
        cutoff: Timestamp,
        limit: i64,
        accounts: &[String],
        fence: Fence,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        let Store::Postgres(pool) = self else {
            bail!("fenced retention needs PostgreSQL (a cluster's store)");
        };
        Ok(in_transaction!(pool, |tx| {
            let keys: Vec<(String, String, String)> = sqlx::query_as(
                "DELETE FROM events WHERE (account, channel, id) IN \
                 (SELECT account, channel, id FROM events WHERE at_us < $1 AND account = ANY($3) LIMIT $2) \
                 RETURNING account, channel, id",
            )
            .bind(cutoff.unix_micros())
            .bind(limit)
            .bind(accounts)
            .fetch_all(&mut *tx)
            .await
            .context("deleting expired events")?;
            check_fences!(tx, Postgres, &[fence], " FOR SHARE");
            keys
        }))
    }
}
