//! The ingestion worker: a bounded queue of validated batches and ONE task
//! that stores them with group commit — every batch waiting when a commit
//! starts goes into the same transaction, so the cost of a durable commit
//! (an fsync) is shared by all of them. A batch's outcome is sent back only
//! after its transaction committed (SPEC §6: 202 only after the commit).
//! Knows the store and the live state; knows nothing of HTTP.

use crate::domain::{EventSet, Insert, MessageEvent};
use crate::service::live::LiveState;
use crate::store::{Fence, InsertOutcome, Store};
use crate::telemetry::metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use super::sink::SinkError as SubmitError;

/// What the worker commits with: the store, the live state it feeds, the
/// metrics it counts in, and the time a commit may take.
struct Committer {
    store: Store,
    live: Arc<LiveState>,
    metrics: Arc<Metrics>,
    timeout: std::time::Duration,
}

struct Job {
    events: Vec<MessageEvent>,
    /// A cluster owner's partition epoch, checked in the commit.
    fence: Option<Fence>,
    done: oneshot::Sender<Result<InsertOutcome, SubmitError>>,
    /// Queue room taken by this job, given back when it is done.
    room: OwnedSemaphorePermit,
}

/// The sending side: cheap to clone, one per request handler.
#[derive(Clone)]
pub struct IngestQueue {
    jobs: mpsc::UnboundedSender<Job>,
    room: Arc<Semaphore>,
}

impl IngestQueue {
    /// Starts the worker. The queue holds at most `queue_events` events; a
    /// transaction holds at most about `group_events` (never splits a batch)
    /// and may take `commit_timeout` (`--db-timeout`: a silent database must
    /// not hold clients forever; re-sending is safe, storing is idempotent).
    pub fn start(
        store: Store,
        live: Arc<LiveState>,
        metrics: Arc<Metrics>,
        queue_events: usize,
        group_events: usize,
        commit_timeout: std::time::Duration,
    ) -> (IngestQueue, JoinHandle<()>) {
        let (jobs, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(queue_events.min(Semaphore::MAX_PERMITS)));
        let committer = Committer {
            store,
            live,
            metrics,
            timeout: commit_timeout,
        };
        let worker = tokio::spawn(run_worker(committer, rx, group_events.max(1)));
        (IngestQueue { jobs, room }, worker)
    }

    /// Queues a batch and waits until it is committed. Fails at once with
    /// [`SubmitError::QueueFull`] rather than letting memory grow.
    pub async fn submit(&self, events: Vec<MessageEvent>) -> Result<InsertOutcome, SubmitError> {
        self.submit_fenced(events, None).await
    }

    /// [`IngestQueue::submit`] for a cluster owner: committed only while
    /// its epoch of the partition is current ([`SubmitError::Fenced`]
    /// otherwise, and nothing stored).
    pub async fn submit_fenced(
        &self,
        events: Vec<MessageEvent>,
        fence: Option<Fence>,
    ) -> Result<InsertOutcome, SubmitError> {
        let n = u32::try_from(events.len().max(1)).map_err(|_| SubmitError::QueueFull)?;
        let room = self
            .room
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|e| match e {
                tokio::sync::TryAcquireError::NoPermits => SubmitError::QueueFull,
                tokio::sync::TryAcquireError::Closed => SubmitError::Stopped,
            })?;
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job {
                events,
                fence,
                done,
                room,
            })
            .map_err(|_| SubmitError::Stopped)?;
        outcome.await.map_err(|_| SubmitError::Stopped)?
    }
}

impl super::sink::EventSink for IngestQueue {
    fn submit(&self, events: Vec<MessageEvent>) -> super::sink::Submitted<'_> {
        Box::pin(IngestQueue::submit(self, events))
    }
}

/// Each batch's outcome and the group's new events, decided against the
/// live state (which holds exactly what the store holds) in batch order.
fn classify<'a>(
    set: &EventSet,
    batches: &[&'a [MessageEvent]],
) -> (Vec<InsertOutcome>, Vec<&'a MessageEvent>) {
    let mut outcomes = vec![InsertOutcome::default(); batches.len()];
    let mut new: Vec<&MessageEvent> = Vec::new();
    let mut new_keys: HashMap<(&str, &str, &str), &MessageEvent> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        let o = &mut outcomes[b];
        for e in batch.iter() {
            let verdict = match set.probe(e) {
                Insert::New => {
                    let key = (e.account.as_str(), e.channel.as_str(), e.id.as_str());
                    match new_keys.get(&key) {
                        Some(first) if *first == e => Insert::Duplicate,
                        Some(_) => Insert::Conflict,
                        None => {
                            new_keys.insert(key, e);
                            new.push(e);
                            Insert::New
                        }
                    }
                }
                held => held,
            };
            match verdict {
                Insert::New => o.accepted += 1,
                Insert::Duplicate => o.duplicates += 1,
                Insert::Conflict => o.conflicts += 1,
            }
        }
    }
    (outcomes, new)
}

/// Stores a group in one transaction. Fast path: the live state says which
/// events are new and only those are written, with no read-back. If the
/// store disagrees (another process wrote to it), the transaction is rolled
/// back and the store classifies every event itself.
async fn commit_group(
    store: &Store,
    live: &LiveState,
    batches: &[&[MessageEvent]],
    fences: &[Fence],
) -> anyhow::Result<Vec<InsertOutcome>> {
    let (outcomes, new) = live.read(|engine| classify(engine.set(), batches));
    if store.store_new(&new, fences).await? {
        return Ok(outcomes);
    }
    tracing::warn!(
        "the store holds events the live state does not (another writer?); classifying in the store"
    );
    store.insert_batches_fenced(batches, fences).await
}

/// Commits a group and answers each job; returns the events accepted. When
/// the group fails and holds several batches, each batch is committed on
/// its own, so a batch the database refuses fails alone (issue 15) and the
/// others are stored.
async fn commit_and_answer(c: &Committer, group: Vec<Job>) -> u64 {
    let group = match try_commit(c, group).await {
        Ok(accepted) => return accepted,
        Err((group, _)) if group.len() > 1 => group,
        Err((group, e)) => {
            answer_failure(group, e);
            return 0;
        }
    };
    tracing::warn!(
        batches = group.len(),
        "group commit failed; committing its batches one by one"
    );
    let mut accepted = 0;
    for job in group {
        match try_commit(c, vec![job]).await {
            Ok(n) => accepted += n,
            Err((jobs, e)) => answer_failure(jobs, e),
        }
    }
    accepted
}

/// Answers every job of a failed commit with the same error.
fn answer_failure(group: Vec<Job>, e: anyhow::Error) {
    let refused = crate::store::is_refusal(&e);
    let fenced = crate::store::fenced(&e).cloned();
    let message = format!("{e:#}");
    for job in group {
        let e = anyhow::anyhow!(message.clone());
        let _ = job.done.send(Err(match (&fenced, refused) {
            (Some(f), _) => SubmitError::Fenced(f.clone()),
            (None, true) => SubmitError::Refused(e),
            (None, false) => SubmitError::Store(e),
        }));
    }
}

/// One transaction for `group`; on success the live state is updated and
/// each job answered. On failure nothing changed (the store rolled back,
/// the live state was not touched) and the jobs are handed back.
async fn try_commit(c: &Committer, group: Vec<Job>) -> Result<u64, (Vec<Job>, anyhow::Error)> {
    let (store, live, metrics) = (&c.store, &c.live, &c.metrics);
    let batches: Vec<&[MessageEvent]> = group.iter().map(|j| j.events.as_slice()).collect();
    let mut fences: Vec<Fence> = group.iter().filter_map(|j| j.fence).collect();
    fences.sort_by_key(|f| (f.partition, f.epoch));
    fences.dedup();
    let size: usize = batches.iter().map(|b| b.len()).sum();
    let started = std::time::Instant::now();
    let result =
        match tokio::time::timeout(c.timeout, commit_group(store, live, &batches, &fences)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "the database did not commit within {:.1} s",
                c.timeout.as_secs_f64()
            )),
        };
    tracing::debug!(
        batches = batches.len(),
        events = size,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "group committed"
    );
    drop(batches);
    let outcomes = match result {
        Ok(outcomes) => outcomes,
        Err(e) => {
            match crate::store::fenced(&e) {
                // A cluster hand-over: expected, the new owner commits it.
                Some(f) => tracing::warn!(error = %f, events = size, "commit fenced off"),
                None => tracing::error!(error = format!("{e:#}"), events = size, "commit failed"),
            }
            if !crate::store::is_refusal(&e) && crate::store::fenced(&e).is_none() {
                store.relieve().await;
            }
            return Err((group, e));
        }
    };
    let accepted = outcomes.iter().map(|o| o.accepted).sum::<u64>();
    let mut answers = Vec::with_capacity(group.len());
    let mut committed = Vec::with_capacity(group.len());
    for (job, outcome) in group.into_iter().zip(outcomes) {
        committed.push(job.events);
        answers.push((job.done, outcome, job.room));
    }
    // Readers see the events before the client hears "stored":
    // a GET after a 202 always includes them.
    let (live, metrics) = (live.clone(), metrics.clone());
    let applied = tokio::task::spawn_blocking(move || {
        live.apply(committed, |engine, applied| metrics.record(engine, applied))
    })
    .await;
    if let Err(e) = applied {
        tracing::error!(error = %e, "updating the live state failed");
    }
    for (done, outcome, _room) in answers {
        let _ = done.send(Ok(outcome));
    }
    Ok(accepted)
}

/// Rows in the ingestion log that trigger a merge into `events` (SQLite).
const MERGE_ROWS: u64 = 200_000;
/// A quiet spell after which the log is merged anyway.
const MERGE_WHEN_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Moves the ingestion log into `events`, logging a failure (the rows stay
/// in the log, durable, and are merged next time).
async fn merge(store: &Store, logged: &mut u64) {
    let started = std::time::Instant::now();
    match store.merge_log().await {
        Ok(moved) => {
            tracing::debug!(
                moved,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "ingestion log merged"
            );
            *logged = 0;
        }
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "merging the ingestion log failed; will retry"
            );
            store.relieve().await;
        }
    }
}

/// Takes every waiting job (up to `group_events`), commits them in one
/// transaction, updates the live state, then answers each job. Merges the
/// ingestion log when it is large or the queue is quiet. Ends when every
/// sender is gone and the queue is drained (graceful shutdown), after a
/// last merge.
async fn run_worker(c: Committer, mut rx: mpsc::UnboundedReceiver<Job>, group_events: usize) {
    let store = &c.store;
    let mut logged = 0u64;
    loop {
        let first = match tokio::time::timeout(MERGE_WHEN_IDLE, rx.recv()).await {
            Ok(Some(job)) => job,
            Ok(None) => break,
            Err(_idle) => {
                if logged > 0 {
                    merge(store, &mut logged).await;
                }
                continue;
            }
        };
        let mut size = first.events.len();
        let mut group = vec![first];
        while size < group_events {
            match rx.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        logged += commit_and_answer(&c, group).await;
        if logged >= MERGE_ROWS {
            merge(store, &mut logged).await;
        }
    }
    if logged > 0 {
        merge(store, &mut logged).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sender;
    use crate::domain::test_support::ev;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_growing() {
        // A queue with room for 2 events whose worker never takes anything.
        let (jobs, _rx) = mpsc::unbounded_channel();
        let queue = IngestQueue {
            jobs,
            room: Arc::new(Semaphore::new(2)),
        };
        let waiting = {
            let q = queue.clone();
            tokio::spawn(async move { q.submit(vec![ev("c1", Sender::Customer, 0)]).await })
        };
        tokio::task::yield_now().await;
        while queue.room.available_permits() == 2 {
            tokio::task::yield_now().await;
        }
        let two = vec![ev("c2", Sender::Customer, 0), ev("c3", Sender::Customer, 0)];
        assert!(matches!(
            queue.submit(two).await,
            Err(SubmitError::QueueFull)
        ));
        let one = vec![ev("c4", Sender::Customer, 0)];
        assert!(
            !matches!(
                tokio::time::timeout(std::time::Duration::from_millis(50), queue.submit(one)).await,
                Ok(Err(SubmitError::QueueFull))
            ),
            "one more event still fits"
        );
        waiting.abort();
    }

    #[test]
    fn classify_counts_each_batch_as_if_stored_in_order() {
        let mut held = EventSet::new();
        held.insert(ev("c1", Sender::Customer, 0));
        let mut changed = ev("c1", Sender::Customer, 0);
        changed.from = Sender::Agent;
        let a = vec![ev("c1", Sender::Customer, 0), ev("c2", Sender::Customer, 5)];
        let b = vec![
            ev("c2", Sender::Customer, 5),
            changed,
            ev("c3", Sender::Customer, 9),
        ];
        let (outcomes, new) = classify(&held, &[&a, &b]);
        let counts: Vec<_> = outcomes
            .iter()
            .map(|o| (o.accepted, o.duplicates, o.conflicts))
            .collect();
        assert_eq!(counts, [(1, 1, 0), (1, 1, 1)]);
        assert_eq!(new.len(), 2);
    }
}
