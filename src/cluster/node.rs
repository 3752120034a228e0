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
use crate::service::ingest::{IngestQueue, SubmitError};
use crate::service::live::LiveState;
use crate::store::Store;
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
        let log = EventLog::connect(url, &node, args.partitions).await?;
        let ttl = Duration::from_micros(args.lease_ttl.0.max(1_000_000) as u64);
        let leases = log.lease_bucket(ttl).await?;
        let view = Arc::new(Mutex::new(Membership::default()));
        let (stop, stop_rx) = mpsc::channel(1);
        let loader = start_loader(store, live.clone(), args.partitions);
        let coordinator = Coordinator {
            node: node.clone(),
            leases,
            ttl,
            held: BTreeMap::new(),
            parts: PartitionContext {
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

/// What a partition task needs.
#[derive(Clone)]
struct PartitionContext {
    log: EventLog,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    live: Arc<LiveState>,
    ingest: IngestQueue,
    loader: mpsc::UnboundedSender<(u32, oneshot::Sender<()>)>,
    view: Arc<Mutex<Membership>>,
}

/// A held lease and the task serving its partition.
struct Held {
    revision: u64,
    renewed: Instant,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

struct Coordinator {
    node: String,
    leases: kv::Store,
    ttl: Duration,
    held: BTreeMap<u32, Held>,
    /// Also the event log and the shared view the coordinator reads and updates.
    parts: PartitionContext,
}

fn lease_key(p: u32) -> String {
    format!("partition.{p}")
}

impl Coordinator {
    async fn run(mut self, mut stop: mpsc::Receiver<oneshot::Sender<()>>) {
        let mut tick = tokio::time::interval(self.ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Leases handed back (deleted) start a round at once, so a clean
        // stop's partitions are taken without waiting for the next tick.
        let mut handed_back: Option<kv::Watch> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if handed_back.is_none() {
                        handed_back = self.leases.watch("partition.>").await.ok();
                    }
                    self.round().await;
                }
                change = next_change(&mut handed_back) => match change {
                    Some(entry) if entry.operation != kv::Operation::Put => self.round().await,
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
    async fn round(&mut self) {
        let me = self.node.clone();
        if let Err(e) = self
            .leases
            .put(format!("node.{me}"), me.clone().into())
            .await
        {
            // NATS is unreachable: renewing would time out lease by lease.
            // Leases not renewed for a whole TTL have expired: stop serving them.
            tracing::warn!(error = %e, "announcing this node failed (NATS down?)");
            let stale: Vec<u32> = self
                .held
                .iter()
                .filter(|(_, h)| h.renewed.elapsed() >= self.ttl)
                .map(|(p, _)| *p)
                .collect();
            self.drop_lost(stale);
            self.publish_view(None);
            return;
        }
        self.renew().await;
        let Some(nodes) = self.live_nodes().await else {
            return;
        };
        let rank = nodes.iter().position(|n| *n == me).unwrap_or(0);
        let partitions = self.parts.log.partitions();
        let owned: BTreeSet<u32> = self.held.keys().copied().collect();
        let plan = ownership::plan(&owned, partitions, nodes.len(), rank);
        for p in plan.release {
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

    fn publish_view(&self, nodes: Option<Vec<String>>) {
        let mut view = self.parts.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(nodes) = nodes {
            view.nodes = nodes;
        }
        view.owned = self.held.keys().copied().collect();
    }

    /// Renews every held lease; drops those another node has taken, or that
    /// could not be renewed for a whole TTL (they have expired by now).
    async fn renew(&mut self) {
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
                Err(e) if held.renewed.elapsed() >= self.ttl => {
                    tracing::warn!(partition = p, error = %e, "lease not renewed for a whole TTL");
                    lost.push(p);
                }
                Err(e) => tracing::warn!(partition = p, error = %e, "renewing a lease failed"),
            }
        }
        self.drop_lost(lost);
    }

    /// Stops serving partitions whose lease is gone (in the background, like
    /// a release, but the lease is left alone: it is not ours any more).
    fn drop_lost(&mut self, lost: Vec<u32>) {
        for p in lost {
            tracing::warn!(
                partition = p,
                "lease lost; another node may serve the partition now"
            );
            if let Some(held) = self.held.remove(&p) {
                tokio::spawn(stop_task(p, held));
            }
        }
    }

    /// The sorted ids of the nodes that announced themselves within the TTL.
    async fn live_nodes(&self) -> Option<Vec<String>> {
        let keys = match self.leases.keys().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "listing live nodes failed");
                return None;
            }
        };
        let keys: Vec<_> = keys.collect().await;
        let mut nodes: Vec<String> = keys
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|k| k.strip_prefix("node.").map(String::from))
            .collect();
        if !nodes.contains(&self.node) {
            nodes.push(self.node.clone());
        }
        nodes.sort();
        Some(nodes)
    }

    fn take(&mut self, p: u32, revision: u64) {
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
    fn release(&mut self, p: u32) -> Option<JoinHandle<()>> {
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
    async fn leave(&mut self) {
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
async fn next_change(watch: &mut Option<kv::Watch>) -> Option<kv::Entry> {
    match watch {
        Some(w) => w.next().await.and_then(Result::ok),
        None => std::future::pending().await,
    }
}

async fn stop_task(p: u32, held: Held) {
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

/// Loads the partition's accounts, consumes until told to stop, then drops
/// the accounts from the live engine.
async fn serve_partition(p: u32, ctx: PartitionContext, stop: watch::Receiver<bool>) {
    let (loaded, wait) = oneshot::channel();
    // Awaited even if a stop comes meanwhile: the accounts must be in the
    // engine before they are dropped again below.
    if ctx.loader.send((p, loaded)).is_ok() {
        let _ = wait.await;
    }
    set_serving(&ctx.view, p, true);
    consume(p, &ctx, stop).await;
    set_serving(&ctx.view, p, false);
    let partitions = ctx.log.partitions();
    ctx.live
        .drop_accounts(|account| partition_of(account, partitions) == p);
    tracing::info!(partition = p, "stopped serving the partition");
}

fn set_serving(view: &Mutex<Membership>, p: u32, on: bool) {
    let mut view = view.lock().unwrap_or_else(|e| e.into_inner());
    match on {
        true => view.serving.insert(p),
        false => view.serving.remove(&p),
    };
}

/// Sleeps `d` unless told to stop first; true when stopping.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    let _ = tokio::time::timeout(d, stop.wait_for(|s| *s)).await;
    *stop.borrow()
}

async fn consume(p: u32, ctx: &PartitionContext, mut stop: watch::Receiver<bool>) {
    let consumer = loop {
        match ctx.log.consumer(p).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(
                    partition = p,
                    error = format!("{e:#}"),
                    "opening the consumer failed"
                );
                if pause(&mut stop, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    };
    while !*stop.borrow() {
        let pull = consumer
            .batch()
            .max_messages(MESSAGES_PER_PULL)
            .expires(PULL_EXPIRES)
            .messages()
            .await;
        let mut pull = match pull {
            Ok(pull) => pull,
            Err(e) => {
                tracing::warn!(partition = p, error = %e, "pulling messages failed");
                if pause(&mut stop, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        // Every message of a pull is committed and acknowledged before the
        // stop is looked at, so a hand-over leaves nothing waiting for ACK_WAIT.
        loop {
            // A message already here is taken before the stop (`biased`); a
            // stop while none is coming ends the pull (NATS may be down).
            let next = tokio::select! {
                biased;
                next = pull.next() => next,
                _ = stop.wait_for(|s| *s) => return,
            };
            let first = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!(partition = p, error = %e, "pull ended");
                    break;
                }
                None => break,
            };
            let started = Instant::now();
            let mut messages = Vec::new();
            let mut batches: Vec<(usize, Vec<MessageEvent>)> = Vec::new();
            let mut n_events = 0;
            let mut next = Some(first);
            while let Some(m) = next.take() {
                match decode(&m.payload) {
                    Ok(events) => {
                        n_events += events.len();
                        batches.push((messages.len(), events));
                    }
                    // Issue 15: never dropped, never retried forever.
                    Err(e) => {
                        if !set_aside(p, ctx, &m, "undecodable", &e, &mut stop).await {
                            return;
                        }
                    }
                }
                messages.push(m);
                if n_events < EVENTS_PER_COMMIT
                    && let Some(Some(Ok(m))) = pull.next().now_or_never()
                {
                    next = Some(m);
                }
            }
            let n_messages = messages.len();
            match commit_all(p, ctx, &messages, batches, &mut stop).await {
                true => {}
                false => return, // unacknowledged: delivered again after ACK_WAIT
            }
            tracing::debug!(
                partition = p,
                messages = n_messages,
                events = n_events,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "committed"
            );
            for m in messages {
                // A lost ack only means a redelivery, which the store ignores.
                if let Err(e) = m.ack().await {
                    tracing::debug!(partition = p, error = %e, "acknowledging failed");
                }
            }
        }
    }
}

/// Sets a message aside in the dead-letter stream, counts and logs it;
/// false when told to stop before JetStream stored it (the original then
/// stays unacknowledged and comes back).
async fn set_aside(
    p: u32,
    ctx: &PartitionContext,
    m: &async_nats::jetstream::Message,
    kind: &'static str,
    reason: &str,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    set_aside_payload(p, ctx, &m.subject, &m.payload, kind, reason, stop).await
}

/// [`set_aside`] for a payload (a whole message, or its refused events).
async fn set_aside_payload(
    p: u32,
    ctx: &PartitionContext,
    subject: &str,
    payload: &[u8],
    kind: &'static str,
    reason: &str,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    tracing::error!(
        partition = p,
        subject,
        kind,
        reason,
        "setting events aside in the dead-letter stream {}",
        super::log::DEAD_STREAM
    );
    let mut delay = Duration::from_millis(50);
    loop {
        match ctx
            .log
            .dead_letter(p, payload, &format!("{kind}: {reason}"))
            .await
        {
            Ok(()) => {
                ctx.metrics.dead_lettered(kind);
                return true;
            }
            Err(e) => {
                tracing::warn!(partition = p, error = %e, "storing a dead letter failed; retrying")
            }
        }
        if pause(stop, delay).await {
            return false;
        }
        delay = (delay * 2).min(ACK_WAIT / 4);
    }
}

/// Commits the events of a pull's messages in one group; when the
/// database refuses the group, message by message, setting aside the
/// ones it refuses (a poison message stops neither the partition nor the
/// messages beside it). False when stopping before everything was done.
async fn commit_all(
    p: u32,
    ctx: &PartitionContext,
    messages: &[async_nats::jetstream::Message],
    batches: Vec<(usize, Vec<MessageEvent>)>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let all: Vec<MessageEvent> = batches
        .iter()
        .flat_map(|(_, e)| e.iter().cloned())
        .collect();
    match commit(p, &ctx.ingest, all, stop).await {
        Committed::Yes => return true,
        Committed::Stopped => return false,
        Committed::Refused(_) => {}
    }
    for (i, events) in batches {
        match commit(p, &ctx.ingest, events.clone(), stop).await {
            Committed::Yes => {}
            Committed::Stopped => return false,
            // One event at a time: only the refused ones are set aside, the
            // others of the message (acknowledged to their sender) stored.
            Committed::Refused(why) => {
                let mut refused = Vec::new();
                let mut reason = why;
                for e in events {
                    match commit(p, &ctx.ingest, vec![e.clone()], stop).await {
                        Committed::Yes => {}
                        Committed::Stopped => return false,
                        Committed::Refused(why) => {
                            reason = why;
                            refused.push(e);
                        }
                    }
                }
                if refused.is_empty() {
                    continue;
                }
                let payload: Vec<u8> = refused
                    .iter()
                    .flat_map(|e| {
                        let mut line = e.to_json().to_string().into_bytes();
                        line.push(b'\n');
                        line
                    })
                    .collect();
                let what = format!("{} of the message's events: {reason}", refused.len());
                if !set_aside_payload(
                    p,
                    ctx,
                    &messages[i].subject,
                    &payload,
                    "refused",
                    &what,
                    stop,
                )
                .await
                {
                    return false;
                }
            }
        }
    }
    true
}

/// How a commit through the worker ended.
enum Committed {
    Yes,
    /// The database refused the content (retrying cannot help).
    Refused(String),
    /// The worker stopped, or the partition was told to stop.
    Stopped,
}

/// Commits through the ingestion worker, waiting out a full queue or a
/// database outage (the database failing is retried with backoff; the
/// database refusing the data is not).
async fn commit(
    p: u32,
    ingest: &IngestQueue,
    events: Vec<MessageEvent>,
    stop: &mut watch::Receiver<bool>,
) -> Committed {
    if events.is_empty() {
        return Committed::Yes;
    }
    let mut delay = Duration::from_millis(20);
    loop {
        match ingest.submit(events.clone()).await {
            Ok(_) => return Committed::Yes,
            Err(SubmitError::Stopped) => return Committed::Stopped,
            Err(SubmitError::Refused(e)) => return Committed::Refused(format!("{e:#}")),
            Err(SubmitError::QueueFull) => {}
            Err(SubmitError::Store(e)) => tracing::warn!(
                partition = p,
                error = format!("{e:#}"),
                "committing consumed events failed; retrying"
            ),
            // The local queue never answers with the log's error.
            Err(SubmitError::Log(e)) => tracing::warn!(partition = p, error = %e, "retrying"),
        }
        if pause(stop, delay).await {
            return Committed::Stopped;
        }
        delay = (delay * 2).min(ACK_WAIT / 4);
    }
}

/// Loads the accounts of newly owned partitions from the store into the
/// live engine. Requests arriving together share one load.
fn start_loader(
    store: Store,
    live: Arc<LiveState>,
    partitions: u32,
) -> mpsc::UnboundedSender<(u32, oneshot::Sender<()>)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(u32, oneshot::Sender<()>)>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Let the other partitions taken in the same round join in.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut group = vec![first];
            while let Ok(more) = rx.try_recv() {
                group.push(more);
            }
            let wanted: HashSet<u32> = group.iter().map(|(p, _)| *p).collect();
            let started = Instant::now();
            let set = loop {
                let keep = |account: &str| wanted.contains(&partition_of(account, partitions));
                match store.load_events_where(keep).await {
                    Ok(set) => break set,
                    Err(e) => {
                        tracing::error!(
                            error = format!("{e:#}"),
                            "loading partitions failed; retrying in 2 s"
                        );
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            };
            let events = set.len();
            live.add_set(set);
            tracing::info!(
                partitions = ?wanted,
                events,
                seconds = started.elapsed().as_secs_f64(),
                "partitions loaded"
            );
            for (_, done) in group {
                let _ = done.send(());
            }
        }
    });
    tx
}

/// A cluster node's way in for events: the event log (202 once JetStream
/// stored every message; the partition's owner commits them, and counts
/// conflicts in its metrics).
impl crate::service::sink::EventSink for Cluster {
    fn submit(&self, events: Vec<MessageEvent>) -> crate::service::sink::Submitted<'_> {
        use crate::service::sink::SinkError;
        Box::pin(async move {
            match self.publish(&events).await {
                Ok(published) => Ok(crate::store::InsertOutcome {
                    accepted: published.events,
                    duplicates: published.duplicates,
                    conflicts: 0,
                }),
                Err(e) => Err(SinkError::Log(e.to_string())),
            }
        })
    }
}

/// Which accounts this node's live engine holds (the rest are read from
/// the store by `service::figures::Figures`).
impl crate::service::figures::Ownership for Cluster {
    fn serves(&self, account: &str) -> bool {
        Cluster::serves(self, account)
    }
}
