//! Retention: deletes events older than the configured age from the store
//! in small transactions, pausing between them so that ingestion commits
//! interleave and are never blocked for long, then drops exactly the same
//! events from the live state. On a cluster node each owned partition is a
//! [`Slice`] of its own: the owner deletes its partition's accounts' events
//! with the partition's fence (see `store::fencing`) and prunes its own live
//! state, so every event is deleted once per cluster, by the one node that
//! serves it. Knows the store and the live state, not HTTP or NATS.

use crate::domain::{Micros, Timestamp};
use crate::service::live::LiveState;
use crate::store::{Fence, Store};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Rows per DELETE transaction.
const DELETE_BATCH: i64 = 5_000;
/// Pause between two DELETE transactions.
const PAUSE: Duration = Duration::from_millis(20);

/// A part of the store one node prunes: the events of `accounts` under the
/// partition's `fence` (a cluster owner's partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub accounts: Vec<String>,
    pub fence: Fence,
}

/// Which parts of the store this node prunes: the whole store (a single
/// node: `None`), or the partitions it serves (a cluster node).
pub trait RetentionScope: Send + Sync {
    /// The slices served now, each with its accounts in `live`.
    fn slices(&self, live: &LiveState) -> Vec<Slice>;
}

/// Deletes everything before `now - keep` (of the node's slices, when
/// given); returns how many events went.
pub async fn run_once(
    store: &Store,
    live: &Arc<LiveState>,
    keep: Micros,
    scope: Option<&dyn RetentionScope>,
) -> anyhow::Result<u64> {
    let cutoff = Timestamp::from_datetime(chrono::Utc::now()).minus(keep);
    let mut deleted = HashSet::new();
    match scope {
        None => delete_all(&mut deleted, || store.delete_before(cutoff, DELETE_BATCH)).await?,
        Some(scope) => {
            let slices = scope.slices(live);
            tracing::debug!(
                slices = slices.len(),
                "retention pass over this node's partitions"
            );
            for slice in slices {
                let pass = delete_all(&mut deleted, || {
                    store.delete_before_fenced(cutoff, DELETE_BATCH, &slice.accounts, slice.fence)
                })
                .await;
                // Fenced off: the partition's new owner prunes it; what this
                // node deleted before stays deleted (and is pruned below).
                if let Err(e) = pass {
                    match crate::store::fenced(&e) {
                        Some(f) => tracing::info!(error = %f, "retention skipped a partition"),
                        None => return Err(e),
                    }
                }
            }
        }
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

/// Calls `delete` (one short transaction) until it deletes less than a
/// batch, collecting the keys.
async fn delete_all<F, Fut>(
    deleted: &mut HashSet<(String, String, String)>,
    delete: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<(String, String, String)>>>,
{
    loop {
        let keys = delete().await?;
        let n = keys.len();
        deleted.extend(keys);
        if n < DELETE_BATCH as usize {
            return Ok(());
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Runs retention every `every` until the task is aborted.
pub async fn run_forever(
    store: Store,
    live: Arc<LiveState>,
    keep: Micros,
    every: Duration,
    scope: Option<Arc<dyn RetentionScope>>,
) {
    loop {
        if live.is_ready()
            && let Err(e) = run_once(&store, &live, keep, scope.as_deref()).await
        {
            tracing::warn!(error = format!("{e:#}"), "retention failed; will retry");
        }
        tokio::time::sleep(every).await;
    }
}
