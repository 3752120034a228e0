//! Retention: deletes events older than the configured age from the store
//! in small transactions, pausing between them so that ingestion commits
//! interleave and are never blocked for long, then drops the same events
//! from the live state. Knows the store and the live state, not HTTP.

use crate::domain::{Micros, Timestamp};
use crate::service::live::LiveState;
use crate::store::Store;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Rows per DELETE transaction.
const DELETE_BATCH: i64 = 5_000;
/// Pause between two DELETE transactions.
const PAUSE: Duration = Duration::from_millis(20);

/// Deletes everything before `now - keep`; returns how many events went.
pub async fn run_once(store: &Store, live: &Arc<LiveState>, keep: Micros) -> anyhow::Result<u64> {
    let cutoff = Timestamp::from_datetime(chrono::Utc::now()).minus(keep);
    let mut deleted = HashSet::new();
    loop {
        let keys = store.delete_before(cutoff, DELETE_BATCH).await?;
        let n = keys.len();
        deleted.extend(keys);
        if n < DELETE_BATCH as usize {
            break;
        }
        tokio::time::sleep(PAUSE).await;
    }
    // Exactly the keys the store deleted, so an old event that arrived
    // during the pass stays in both until the next pass.
    let n = deleted.len() as u64;
    // Off the async threads: the rebuild takes a while on a large store.
    let held = live.clone();
    tokio::task::spawn_blocking(move || held.remove(&deleted)).await?;
    if n > 0 {
        tracing::info!(deleted = n, cutoff = %cutoff, "retention deleted expired events");
    }
    Ok(n)
}

/// Runs retention every `every` until the task is aborted.
pub async fn run_forever(store: Store, live: Arc<LiveState>, keep: Micros, every: Duration) {
    loop {
        if live.is_ready()
            && let Err(e) = run_once(&store, &live, keep).await
        {
            tracing::warn!(error = format!("{e:#}"), "retention failed; will retry");
        }
        tokio::time::sleep(every).await;
    }
}
