//! One way in for events: an [`EventSink`] takes a validated batch and
//! answers once it is durable — the local group-commit queue
//! (`service::ingest::IngestQueue`: committed to the store) or the cluster's
//! log (`cluster::Cluster`: stored by JetStream, committed by the
//! partition's owner). HTTP ingestion and the webhooks call it and never
//! know which one they have. Must not depend on HTTP or on the cluster.

use crate::domain::MessageEvent;
use crate::store::InsertOutcome;
use std::future::Future;
use std::pin::Pin;

/// Why a batch was not stored. Every case leaves nothing of the batch
/// stored; all but [`SinkError::Refused`] may succeed when sent again.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The queue holds as many events as allowed: try again shortly.
    #[error("the ingestion queue is full")]
    QueueFull,
    /// The service is shutting down.
    #[error("the ingestion worker has stopped")]
    Stopped,
    /// The database failed the commit (unreachable, full, locked, too
    /// slow).
    #[error("storing the batch failed: {0:#}")]
    Store(anyhow::Error),
    /// The database refused this batch's content (a constraint or data
    /// error): sending it again would fail again. Other batches are not
    /// affected: a group that fails is retried batch by batch.
    #[error("the database refused the batch: {0:#}")]
    Refused(anyhow::Error),
    /// The cluster's event log did not take the batch (no quorum, no ack).
    #[error("{0}")]
    Log(String),
    /// The batch is stored (in the cluster's log), but did not show on
    /// every node within the wait a client asked for (`?wait=visible`).
    #[error("{0}")]
    NotVisible(String),
    /// A cluster owner's commit carried a stale partition epoch: another
    /// node took the partition over, and stores its events now.
    #[error("{0}")]
    Fenced(crate::store::Fenced),
}

/// A batch's way to durability.
pub type Submitted<'a> =
    Pin<Box<dyn Future<Output = Result<InsertOutcome, SinkError>> + Send + 'a>>;

/// Where validated batches go.
pub trait EventSink: Send + Sync {
    /// Stores `events` (all or nothing) and says how many were new.
    fn submit(&self, events: Vec<MessageEvent>) -> Submitted<'_>;

    /// Stores `events` and answers only once they show in the figures of
    /// every node (`POST /v1/events?wait=visible`: read-your-writes). The
    /// local queue's answer already means that (the live state is updated
    /// before a batch is answered); a cluster waits for the owners.
    fn submit_visible(&self, events: Vec<MessageEvent>) -> Submitted<'_> {
        self.submit(events)
    }
}
