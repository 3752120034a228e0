//! The coordinator of one node: every round it renews the leases it holds,
//! takes free partitions up to its even share, hands back what it holds
//! beyond it, and starts or stops the partitions' consumers.

use super::partition::{serve_partition, set_serving};
use super::*;

/// A held lease and the task serving its partition.
pub(super) struct Held {
    pub(super) revision: u64,
    pub(super) renewed: Instant,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: JoinHandle<()>,
}

pub(super) struct Coordinator {
    pub(super) node: String,
    pub(super) leases: kv::Store,
    pub(super) ttl: Duration,
    pub(super) held: BTreeMap<u32, Held>,
    /// When each other node was last seen in a listing of the bucket.
    pub(super) seen: BTreeMap<String, Instant>,
    /// Also the event log and the shared view the coordinator reads and updates.
    pub(super) parts: PartitionContext,
}

/// A lease not renewed for `ttl / LOST_AFTER` counts as lost. Rounds run
/// every third of the TTL, so the round that notices comes before the
/// lease can have expired in JetStream (at most `ttl` after the last
/// renewal was stored): the node stops serving before another may start.
const LOST_AFTER: u32 = 2;

pub(super) fn lease_key(p: u32) -> String {
    format!("partition.{p}")
}

impl Coordinator {
    pub(super) async fn run(mut self, mut stop: mpsc::Receiver<oneshot::Sender<()>>) {
        let mut tick = tokio::time::interval(self.ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Leases handed back and nodes leaving (deleted keys) start a round
        // at once, so a clean stop's partitions are taken without waiting
        // for the next tick or for the leaving node to age out.
        let mut handed_back: Option<kv::Watch> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if handed_back.is_none() {
                        handed_back = self.leases.watch(">").await.ok();
                    }
                    self.round().await;
                }
                change = next_change(&mut handed_back) => match change {
                    Some(entry) if entry.operation != kv::Operation::Put => {
                        // A node that left deleted its key: not live any more.
                        if let Some(gone) = entry.key.strip_prefix("node.") {
                            self.seen.remove(gone);
                        }
                        self.round().await
                    }
                    Some(_) => {}
                    None => handed_back = None, // the watch ended (NATS restarted): reopened next tick
                },
                done = stop.recv() => {
                    self.leave().await;
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
        }
    }

    /// One round: announce, renew, then move towards the share.
    pub(super) async fn round(&mut self) {
        let me = self.node.clone();
        // A partition task that ended by itself was fenced off (another
        // node claimed the partition): the lease is not worth holding.
        let ended: Vec<u32> = self
            .held
            .iter()
            .filter(|(_, h)| h.task.is_finished())
            .map(|(p, _)| *p)
            .collect();
        for p in ended {
            tracing::info!(
                partition = p,
                "the partition's task ended (fenced off): giving the lease back"
            );
            self.release(p);
        }
        if let Err(e) = self
            .leases
            .put(format!("node.{me}"), me.clone().into())
            .await
        {
            // NATS is unreachable: renewing would time out lease by lease.
            // Leases not renewed for half a TTL may expire before the next
            // round ends: stop serving them (see `LOST_AFTER`).
            tracing::warn!(error = %e, "announcing this node failed (NATS down?)");
            let stale: Vec<u32> = self
                .held
                .iter()
                .filter(|(_, h)| h.renewed.elapsed() >= self.ttl / LOST_AFTER)
                .map(|(p, _)| *p)
                .collect();
            self.drop_lost(stale);
            self.publish_view(None);
            return;
        }
        self.renew().await;
        let Some(nodes) = self.live_nodes().await else {
            self.publish_view(None);
            return;
        };
        let rank = nodes.iter().position(|n| *n == me).unwrap_or(0);
        let partitions = self.parts.log.partitions();
        let owned: BTreeSet<u32> = self.held.keys().copied().collect();
        let plan = ownership::plan(&owned, partitions, nodes.len(), rank);
        for p in plan.release {
            tracing::info!(
                partition = p,
                nodes = nodes.len(),
                "over this node's share: giving the lease back"
            );
            self.release(p);
        }
        let mut wanted = plan.acquire;
        for p in ownership::preference(partitions, nodes.len(), rank) {
            if wanted == 0 {
                break;
            }
            if self.held.contains_key(&p) {
                continue;
            }
            match self.leases.create(lease_key(p), me.clone().into()).await {
                Ok(revision) => {
                    self.take(p, revision);
                    wanted -= 1;
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "taking a lease failed");
                    break;
                }
            }
        }
        self.publish_view(Some(nodes));
    }

    pub(super) fn publish_view(&self, nodes: Option<Vec<String>>) {
        let mut view = self.parts.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(nodes) = nodes {
            view.nodes = nodes;
        }
        view.owned = self.held.keys().copied().collect();
    }

    /// Renews every held lease; drops those another node has taken, or that
    /// could not be renewed for half a TTL (they may expire before the
    /// next round).
    pub(super) async fn renew(&mut self) {
        let mut lost = Vec::new();
        for (&p, held) in self.held.iter_mut() {
            match self
                .leases
                .update(lease_key(p), self.node.clone().into(), held.revision)
                .await
            {
                Ok(revision) => {
                    held.revision = revision;
                    held.renewed = Instant::now();
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => lost.push(p),
                Err(e) if held.renewed.elapsed() >= self.ttl / LOST_AFTER => {
                    tracing::warn!(partition = p, error = %e, "lease not renewed for half its TTL");
                    lost.push(p);
                }
                Err(e) => tracing::warn!(partition = p, error = %e, "renewing a lease failed"),
            }
        }
        self.drop_lost(lost);
    }

    /// Stops serving partitions whose lease is gone (in the background, like
    /// a release, but the lease is left alone: it is not ours any more).
    pub(super) fn drop_lost(&mut self, lost: Vec<u32>) {
        for p in lost {
            tracing::warn!(
                partition = p,
                "lease lost; another node may serve the partition now"
            );
            if let Some(held) = self.held.remove(&p) {
                // Not served from now on (its figures come from the store),
                // before the lease can expire and another node serve it;
                // a commit still in flight is fenced off if it is late.
                set_serving(&self.parts.view, p, false);
                tokio::spawn(stop_task(p, held));
            }
        }
    }

    /// The sorted ids of the nodes that announced themselves within the TTL.
    pub(super) async fn live_nodes(&mut self) -> Option<Vec<String>> {
        let keys = match self.leases.keys().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "listing live nodes failed");
                return None;
            }
        };
        let keys: Vec<String> = keys.filter_map(|k| async { k.ok() }).collect().await;
        let listed = ownership::live_nodes(&keys, &self.node);
        Some(ownership::remembered(
            &mut self.seen,
            &listed,
            Instant::now(),
            self.ttl,
        ))
    }

    pub(super) fn take(&mut self, p: u32, revision: u64) {
        tracing::info!(partition = p, "lease taken");
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve_partition(p, self.parts.clone(), stopped));
        self.held.insert(
            p,
            Held {
                revision,
                renewed: Instant::now(),
                stop,
                task,
            },
        );
    }

    /// Hands a partition over in the background (so the other leases keep
    /// being renewed meanwhile): its task finishes and acknowledges its
    /// current pull, then the lease is deleted so another node can take it
    /// at once. Should that take longer than the TTL, the lease expires
    /// instead; a batch then committed twice is harmless (the store ignores
    /// known events).
    pub(super) fn release(&mut self, p: u32) -> Option<JoinHandle<()>> {
        let held = self.held.remove(&p)?;
        let leases = self.leases.clone();
        Some(tokio::spawn(async move {
            let revision = held.revision;
            stop_task(p, held).await;
            match leases
                .delete_expect_revision(lease_key(p), Some(revision))
                .await
            {
                Ok(()) => tracing::info!(partition = p, "lease given back"),
                Err(e) => {
                    tracing::info!(partition = p, error = %e, "the released lease had expired already")
                }
            }
        }))
    }

    /// Hands every partition over at once and leaves.
    pub(super) async fn leave(&mut self) {
        let owned: Vec<u32> = self.held.keys().copied().collect();
        let handovers: Vec<_> = owned.into_iter().filter_map(|p| self.release(p)).collect();
        for h in handovers {
            let _ = h.await;
        }
        let _ = self.leases.delete(format!("node.{}", self.node)).await;
        self.parts
            .view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .owned
            .clear();
    }
}

/// The next change seen by the watch; None when it ended; never resolves
/// without a watch.
pub(super) async fn next_change(watch: &mut Option<kv::Watch>) -> Option<kv::Entry> {
    match watch {
        Some(w) => w.next().await.and_then(Result::ok),
        None => std::future::pending().await,
    }
}

pub(super) async fn stop_task(p: u32, held: Held) {
    let _ = held.stop.send(true);
    if tokio::time::timeout(Duration::from_secs(30), held.task)
        .await
        .is_err()
    {
        tracing::warn!(
            partition = p,
            "the partition's task did not stop within 30 s"
        );
    }
}
