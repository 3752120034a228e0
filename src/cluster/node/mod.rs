//! One node of the cluster. The coordinator keeps this node's leases every
//! third of `--lease-ttl`: announces the node, renews what it owns
//! (compare-and-set; a lost revision means another node has the partition),
//! gives back what exceeds its share and takes free partitions up to it
//! ([`super::ownership`]). Each owned partition has a task that first has
//! its accounts loaded from PostgreSQL into the live engine (one loader
//! batches the loads), then consumes the partition's messages, commits them
//! through the ingestion worker and acknowledges them after the commit; when
//! it stops, it drops those accounts from the live engine, so no two nodes
//! export the same account. Knows no HTTP.

use super::log::{ACK_WAIT, EventLog, LogError, Published, decode};
use super::ownership;
use super::{ClusterArgs, partition_of};
use crate::domain::MessageEvent;
use crate::service::figures::STORE_VIEW_FRESH;
use crate::service::ingest::{IngestQueue, SubmitError};
use crate::service::live::LiveState;
use crate::store::{Fence, Store};
use async_nats::jetstream::kv;
use futures_util::{FutureExt, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Most events handed to the ingestion worker from one partition at once.
const EVENTS_PER_COMMIT: usize = 20_000;
/// Most messages pulled in one request.
const MESSAGES_PER_PULL: usize = 1_000;
/// A pull request waits this long for messages; a stopping partition task
/// notices the stop between pulls, so this bounds a hand-over.
const PULL_EXPIRES: Duration = Duration::from_secs(1);

/// What this node knows of the cluster: the live nodes, the partitions it
/// owns and those it serves (loaded). ("View" is the §2 request view.)
#[derive(Debug, Clone, Default)]
struct Membership {
    nodes: Vec<String>,
    owned: BTreeSet<u32>,
    serving: BTreeSet<u32>,
    /// The epoch this node claimed for each partition it serves.
    epochs: BTreeMap<u32, i64>,
}

/// `GET /v1/cluster`: this node's view.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ClusterStatus {
    pub node: String,
    pub partitions: u32,
    /// Live nodes (those that renewed their presence within the lease TTL).
    pub nodes: Vec<String>,
    /// Partitions whose lease this node holds.
    pub owned: Vec<u32>,
    /// Owned partitions whose accounts are loaded and consumed.
    pub serving: Vec<u32>,
    /// Messages of any partition not yet committed and acknowledged by its
    /// owner (null while unknown: NATS down, or a partition never owned yet).
    pub backlog: Option<u64>,
}

/// A running node: publishes batches, answers which accounts it serves.
pub struct Cluster {
    node: String,
    log: EventLog,
    view: Arc<Mutex<Membership>>,
    stop: mpsc::Sender<oneshot::Sender<()>>,
}

impl Cluster {
    /// Connects to JetStream and starts the coordinator.
    pub async fn start(
        args: &ClusterArgs,
        store: Store,
        live: Arc<LiveState>,
        ingest: IngestQueue,
        metrics: Arc<crate::telemetry::metrics::Metrics>,
    ) -> anyhow::Result<(Arc<Cluster>, JoinHandle<()>)> {
        let url = args.nats.as_deref().unwrap_or("nats://127.0.0.1:4222");
        let node = super::node_id(args.node_id.as_deref())?;
        let log = EventLog::connect(url, &node, args.partitions, args.nats_replicas).await?;
        let ttl = Duration::from_micros(args.lease_ttl.0.max(1_000_000) as u64);
        let leases = log.lease_bucket(ttl).await?;
        let view = Arc::new(Mutex::new(Membership::default()));
        let (stop, stop_rx) = mpsc::channel(1);
        let loader = start_loader(store.clone(), live.clone(), args.partitions);
        let coordinator = Coordinator {
            node: node.clone(),
            leases,
            ttl,
            held: BTreeMap::new(),
            seen: BTreeMap::new(),
            parts: PartitionContext {
                node: node.clone(),
                store,
                log: log.clone(),
                metrics,
                live,
                ingest,
                loader,
                view: view.clone(),
            },
        };
        tracing::info!(
            node,
            url,
            partitions = args.partitions,
            "cluster node started"
        );
        let task = tokio::spawn(coordinator.run(stop_rx));
        Ok((
            Arc::new(Cluster {
                node,
                log,
                view,
                stop,
            }),
            task,
        ))
    }

    /// This node's name in the cluster.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Publishes a validated batch to the event log (202 once this returns).
    pub async fn publish(&self, events: &[MessageEvent]) -> Result<Published, LogError> {
        self.log.publish(events).await
    }

    /// The newest dead letters of the cluster (`GET /v1/dead-letters`).
    pub async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<super::log::DeadLetter>> {
        self.log.dead_letters(limit).await
    }

    /// Whether this node holds the account's events in its live engine.
    pub fn serves(&self, account: &str) -> bool {
        let p = partition_of(account, self.log.partitions());
        self.view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .serving
            .contains(&p)
    }

    fn view(&self) -> Membership {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// This node's view, with the backlog of every partition.
    pub async fn status(&self) -> ClusterStatus {
        let view = self.view();
        let backlog = self.log.backlog().await.ok().flatten();
        ClusterStatus {
            node: self.node.clone(),
            partitions: self.log.partitions(),
            nodes: view.nodes,
            owned: view.owned.into_iter().collect(),
            serving: view.serving.into_iter().collect(),
            backlog,
        }
    }

    /// Stops consuming, hands every lease back and leaves the cluster, so
    /// the other nodes take over at once instead of after the TTL.
    pub async fn leave(&self) {
        let (done, wait) = oneshot::channel();
        if self.stop.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }
}

mod coordinator;
mod partition;

use coordinator::Coordinator;
use partition::PartitionContext;
use partition::start_loader;

/// A cluster node's way in for events: the event log (202 once JetStream
/// stored every message; the partition's owner commits them, and counts
/// conflicts in its metrics).
impl crate::service::sink::EventSink for Cluster {
    fn submit(&self, events: Vec<MessageEvent>) -> crate::service::sink::Submitted<'_> {
        use crate::service::sink::SinkError;
        Box::pin(async move {
            match self.publish(&events).await {
                Ok(published) => Ok(outcome(published)),
                Err(e) => Err(SinkError::Log(e.to_string())),
            }
        })
    }

    /// Read-your-writes: after JetStream stored the batch, waits until each
    /// partition's owner committed and acknowledged it (it is then in the
    /// store and in the owner's live engine), then for the store views
    /// other nodes may have built before the commit to age out
    /// ([`STORE_VIEW_FRESH`]): every node's `/v1/stats` shows the events.
    fn submit_visible(&self, events: Vec<MessageEvent>) -> crate::service::sink::Submitted<'_> {
        use crate::service::sink::SinkError;
        Box::pin(async move {
            let (published, marks) = self
                .log
                .publish_tracked(&events)
                .await
                .map_err(|e| SinkError::Log(e.to_string()))?;
            if !self.log.wait_committed(&marks, VISIBLE_WITHIN).await {
                return Err(SinkError::NotVisible(format!(
                    "the batch is in the event log, but its partitions' owners did not commit it within {} s",
                    VISIBLE_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(STORE_VIEW_FRESH).await;
            Ok(outcome(published))
        })
    }
}

/// How long `?wait=visible` waits for the owners' commits.
const VISIBLE_WITHIN: Duration = Duration::from_secs(30);

/// A cluster's 202 body: conflicts are known only to the owner.
fn outcome(published: Published) -> crate::store::InsertOutcome {
    crate::store::InsertOutcome {
        accepted: published.events,
        duplicates: published.duplicates,
        conflicts: 0,
    }
}

/// A node prunes the partitions it serves, each under its epoch: every
/// event is deleted by its owner only (once per cluster), and the owner's
/// live state loses exactly what it deleted.
impl crate::service::retention::RetentionScope for Cluster {
    fn slices(&self, live: &LiveState) -> Vec<crate::service::retention::Slice> {
        let view = self.view();
        let partitions = self.log.partitions();
        let mut accounts: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        live.read(|engine| {
            for stream in engine.set().streams() {
                let account = stream.account.as_str();
                accounts
                    .entry(partition_of(account, partitions))
                    .or_default()
                    .insert(account.to_string());
            }
        });
        view.serving
            .iter()
            .filter_map(|p| {
                let epoch = *view.epochs.get(p)?;
                Some(crate::service::retention::Slice {
                    accounts: accounts.remove(p)?.into_iter().collect(),
                    fence: Fence {
                        partition: *p,
                        epoch,
                    },
                })
            })
            .collect()
    }
}

/// Which accounts this node's live engine holds (the rest are read from
/// the store by `service::figures::Figures`).
impl crate::service::figures::Ownership for Cluster {
    fn serves(&self, account: &str) -> bool {
        Cluster::serves(self, account)
    }
}
