//! Reading events: every stored event (or some accounts') into an event
//! set, validated row by row (a row no longer valid is logged and left
//! out), in pages parsed while the next one is read.

use super::*;

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
}
