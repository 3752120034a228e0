//! Fencing of cluster partitions (issue 17): each partition has an epoch in
//! `partition_epochs`, raised by every node that takes the partition over
//! ([`Store::claim_partition`]) before it loads the partition's events. An
//! owner's commit carries the epoch it claimed ([`Fence`]) and is refused in
//! its own transaction when the epoch has moved on ([`Fenced`]): a node
//! whose lease expired while it was paused or cut off cannot store anything
//! after the new owner loaded the partition. Knows SQL, not NATS.

use super::*;

/// The epoch an owner claimed for a partition; its commits carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    pub partition: u32,
    pub epoch: i64,
}

/// A commit refused because another node claimed a partition since.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "partition {partition}: this node's epoch {epoch} is stale (the store's is {current}): another node owns the partition now"
)]
pub struct Fenced {
    pub partition: u32,
    pub epoch: i64,
    pub current: i64,
}

/// Whether a failed store call was a [`Fenced`] refusal.
pub fn fenced(e: &anyhow::Error) -> Option<&Fenced> {
    e.chain().find_map(|c| c.downcast_ref::<Fenced>())
}

/// The first fence whose epoch is not the stored one (a partition never
/// claimed has epoch 0).
pub(super) fn first_stale(fences: &[Fence], stored: &[(i32, i64)]) -> Option<Fenced> {
    fences.iter().find_map(|f| {
        let current = stored
            .iter()
            .find(|(p, _)| *p as u32 == f.partition)
            .map_or(0, |(_, e)| *e);
        (current != f.epoch).then_some(Fenced {
            partition: f.partition,
            epoch: f.epoch,
            current,
        })
    })
}

/// Checks `$fences` inside the transaction `$tx` (`$lock`: PostgreSQL's
/// `FOR SHARE`, so a claim waits for a commit that checked the old epoch,
/// and the claimer's load then sees what that commit stored).
macro_rules! check_fences {
    ($tx:expr, $db:ty, $fences:expr, $lock:expr) => {{
        let fences: &[Fence] = $fences;
        if !fences.is_empty() {
            let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                "SELECT partition, epoch FROM partition_epochs WHERE partition IN (",
            );
            let mut list = qb.separated(", ");
            for f in fences {
                list.push_bind(f.partition as i32);
            }
            qb.push(")");
            qb.push($lock);
            let stored: Vec<(i32, i64)> = qb
                .build_query_as()
                .fetch_all(&mut *$tx)
                .await
                .context("checking the partitions' epochs")?;
            if let Some(stale) = crate::store::fencing::first_stale(fences, &stored) {
                return Err(anyhow::Error::new(stale));
            }
        }
    }};
}
pub(super) use check_fences;

impl Store {
    /// Takes a partition over: raises its epoch and returns the new one.
    /// Waits for a commit of the previous owner that already checked its
    /// epoch (so a load after this sees that commit), at most a few seconds:
    /// PostgreSQL ends a transaction left idle by a paused node
    /// (`idle_in_transaction_session_timeout`, see [`Store::connect`]).
    pub async fn claim_partition(&self, partition: u32, node: &str) -> anyhow::Result<i64> {
        let now = chrono::Utc::now().timestamp_micros();
        let sql = "INSERT INTO partition_epochs (partition, epoch, node, claimed_at_us) VALUES ($1, 1, $2, $3) \
             ON CONFLICT (partition) DO UPDATE SET epoch = partition_epochs.epoch + 1, \
             node = excluded.node, claimed_at_us = excluded.claimed_at_us RETURNING epoch";
        let epoch: Result<i64, _> = on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(partition as i32)
            .bind(node)
            .bind(now)
            .fetch_one(pool)
            .await);
        epoch.with_context(|| format!("claiming partition {partition}"))
    }

    /// The current epoch of every claimed partition, and who claimed it.
    pub async fn partition_epochs(&self) -> anyhow::Result<Vec<(u32, i64, String)>> {
        let sql = "SELECT partition, epoch, node FROM partition_epochs ORDER BY partition";
        let rows: Vec<(i32, i64, String)> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)
                .context("reading the partitions' epochs")?;
        Ok(rows.into_iter().map(|(p, e, n)| (p as u32, e, n)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_holds_only_at_the_stored_epoch() {
        let stored = [(0, 3), (1, 1)];
        let at = |partition, epoch| Fence { partition, epoch };
        assert_eq!(first_stale(&[at(0, 3), at(1, 1)], &stored), None);
        assert_eq!(
            first_stale(&[at(0, 3), at(1, 0)], &stored),
            Some(Fenced {
                partition: 1,
                epoch: 0,
                current: 1
            })
        );
        // Never claimed: epoch 0, which no claim returns.
        assert_eq!(first_stale(&[at(7, 0)], &stored), None);
        assert!(first_stale(&[at(7, 1)], &stored).is_some());
    }
}
