//! The ingestion worker: a bounded queue of validated batches and ONE task
//! that stores them with group commit — every batch waiting when a commit
//! starts goes into the same transaction, so the cost of a durable commit
//! (an fsync) is shared by all of them. A batch's outcome is sent back only
//! after its transaction committed (SPEC §6: 202 only after the commit).
//! Knows the store and the live state; knows nothing of HTTP.

use crate::domain::MessageEvent;
use crate::live::LiveState;
use crate::store::{InsertOutcome, Store};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue holds as many events as allowed: try again shortly.
    #[error("the ingestion queue is full")]
    QueueFull,
    /// The service is shutting down.
    #[error("the ingestion worker has stopped")]
    Stopped,
    /// The database refused or failed the commit; nothing of the batch is stored.
    #[error("storing the batch failed: {0:#}")]
    Store(anyhow::Error),
}

struct Job {
    events: Vec<MessageEvent>,
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
    /// transaction holds at most about `group_events` (never splits a batch).
    pub fn start(
        store: Store,
        live: Arc<LiveState>,
        queue_events: usize,
        group_events: usize,
    ) -> (IngestQueue, JoinHandle<()>) {
        let (jobs, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(queue_events.min(Semaphore::MAX_PERMITS)));
        let worker = tokio::spawn(run_worker(store, live, rx, group_events.max(1)));
        (IngestQueue { jobs, room }, worker)
    }

    /// Queues a batch and waits until it is committed. Fails at once with
    /// [`SubmitError::QueueFull`] rather than letting memory grow.
    pub async fn submit(&self, events: Vec<MessageEvent>) -> Result<InsertOutcome, SubmitError> {
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
            .send(Job { events, done, room })
            .map_err(|_| SubmitError::Stopped)?;
        outcome.await.map_err(|_| SubmitError::Stopped)?
    }
}

/// Takes every waiting job (up to `group_events`), commits them in one
/// transaction, updates the live state, then answers each job. Ends when
/// every sender is gone and the queue is drained (graceful shutdown).
async fn run_worker(
    store: Store,
    live: Arc<LiveState>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    group_events: usize,
) {
    while let Some(first) = rx.recv().await {
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
        let batches: Vec<&[MessageEvent]> = group.iter().map(|j| j.events.as_slice()).collect();
        let result = store.insert_batches(&batches).await;
        match result {
            Ok(outcomes) => {
                let mut answers = Vec::with_capacity(group.len());
                let mut committed = Vec::with_capacity(group.len());
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    committed.push(job.events);
                    answers.push((job.done, outcome, job.room));
                }
                // Readers see the events before the client hears "stored":
                // a GET after a 202 always includes them.
                let live = live.clone();
                let applied = tokio::task::spawn_blocking(move || live.apply(committed)).await;
                if let Err(e) = applied {
                    tracing::error!(error = %e, "updating the live state failed");
                }
                for (done, outcome, _room) in answers {
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    events = size,
                    "group commit failed"
                );
                let message = format!("{e:#}");
                for job in group {
                    let _ = job
                        .done
                        .send(Err(SubmitError::Store(anyhow::anyhow!(message.clone()))));
                }
            }
        }
    }
}
