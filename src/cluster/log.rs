//! The cluster's event log on NATS JetStream: one file-backed stream,
//! subject `replywatch.events.<partition>`, work-queue retention (a message
//! is removed once its owner acknowledged it, so the stream only holds what
//! is not yet in PostgreSQL). Encoding of events into messages is pure and
//! tested here; the rest is thin calls to async-nats. Knows no HTTP and no SQL.

use crate::cluster::partition_of;
use crate::domain::MessageEvent;
use anyhow::Context;
use async_nats::jetstream::{self, consumer, kv, stream};
use sha2::Digest;
use std::time::Duration;

pub const STREAM: &str = "REPLYWATCH_EVENTS";
pub const SUBJECT_PREFIX: &str = "replywatch.events";
pub const LEASE_BUCKET: &str = "replywatch_leases";
/// Messages an owner could not decode, or whose events the database
/// refused: kept here (limits retention, 30 days), counted, logged and
/// listed by `GET /v1/dead-letters` — never dropped, never retried forever.
pub const DEAD_STREAM: &str = "REPLYWATCH_DEAD";
pub const DEAD_SUBJECT_PREFIX: &str = "replywatch.dead";
const DEAD_MAX_AGE: Duration = Duration::from_secs(30 * 86_400);
/// NATS refuses payloads over 1 MiB by default; a chunk stays well below.
pub const MAX_CHUNK_BYTES: usize = 512 * 1024;
/// JetStream drops a message whose id it saw within this window.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// A delivered message not acknowledged within this is delivered again
/// (to the partition's next owner when its owner died mid-batch).
pub const ACK_WAIT: Duration = Duration::from_secs(10);
/// How long a publish or a JetStream API call may take before the client is
/// told 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt's wait for a message's acknowledgement: one lost with a
/// killed server is sent again after this, within [`REQUEST_TIMEOUT`].
const ACK_ATTEMPT: Duration = Duration::from_millis(1500);
/// Pause before publishing the unacknowledged messages again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The event log cannot take a batch now (NATS down or slow): 503, retry.
#[derive(Debug, thiserror::Error)]
#[error("the event log (NATS JetStream) did not acknowledge the batch: {0}")]
pub struct LogError(pub String);

/// What publishing a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Events in messages JetStream stored.
    pub events: u64,
    /// Events in messages JetStream had already stored (a re-sent batch).
    pub duplicates: u64,
}

/// Per partition, the stream sequence of a batch's last message there.
pub type Marks = std::collections::BTreeMap<u32, u64>;

/// One message: the NDJSON lines of some events of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub partition: u32,
    /// Hash of the payload: the same events re-sent give the same id.
    pub id: String,
    pub payload: bytes::Bytes,
    pub events: u64,
}

/// The subject of a partition.
pub fn subject(partition: u32) -> String {
    format!("{SUBJECT_PREFIX}.{partition}")
}

/// The durable consumer of a partition.
fn consumer_name(partition: u32) -> String {
    format!("partition-{partition}")
}

/// Splits a batch into messages: per partition, in batch order, NDJSON in
/// SPEC §1 form, at most [`MAX_CHUNK_BYTES`] each (an event is never split).
pub fn encode_chunks(events: &[MessageEvent], partitions: u32) -> Vec<Chunk> {
    let mut open: std::collections::BTreeMap<u32, (Vec<u8>, u64)> = Default::default();
    let mut chunks = Vec::new();
    let seal = |partition: u32, payload: Vec<u8>, events: u64| {
        let digest = sha2::Sha256::digest(&payload);
        let id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Chunk {
            partition,
            id,
            payload: payload.into(),
            events,
        }
    };
    for e in events {
        let line = e.to_json().to_string();
        let p = partition_of(e.account.as_str(), partitions);
        let (buf, n) = open.entry(p).or_default();
        if !buf.is_empty() && buf.len() + line.len() + 1 > MAX_CHUNK_BYTES {
            chunks.push(seal(p, std::mem::take(buf), std::mem::take(n)));
        }
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        *n += 1;
    }
    for (p, (buf, n)) in open {
        if n > 0 {
            chunks.push(seal(p, buf, n));
        }
    }
    chunks
}

/// The events of one message. The front validated them before publishing,
/// so an error here means the stream holds something replywatch did not write.
pub fn decode(payload: &[u8]) -> Result<Vec<MessageEvent>, String> {
    payload
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            MessageEvent::from_json(line).map_err(|errs| {
                let what: Vec<String> = errs.iter().map(ToString::to_string).collect();
                format!("line {}: {}", i + 1, what.join("; "))
            })
        })
        .collect()
}

/// The connection to JetStream, the stream and the lease bucket.
#[derive(Clone)]
pub struct EventLog {
    js: jetstream::Context,
    stream: stream::Stream,
    dead: stream::Stream,
    partitions: u32,
    replicas: u8,
}

/// The stream of `config.name` as stored, created from `config` when it
/// does not exist. Nodes starting together race to create it: a creation
/// that fails because another node's came first finds that one.
async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> anyhow::Result<stream::Stream> {
    if let Ok(stream) = js.get_stream(&config.name).await {
        return Ok(stream);
    }
    let name = config.name.clone();
    match js.create_stream(config).await {
        Ok(stream) => Ok(stream),
        Err(created) => match js.get_stream(&name).await {
            Ok(stream) => Ok(stream),
            Err(_) => Err(created.into()),
        },
    }
}

/// A stream made with another replica count than this node's
/// `--nats-replicas` is refused, naming both (JetStream would silently keep
/// its own).
fn same_replicas(name: &str, existing: usize, wanted: u8) -> anyhow::Result<()> {
    // JetStream reports 0 for a stream made without a count: that is 1.
    let existing = existing.max(1);
    anyhow::ensure!(
        existing == usize::from(wanted),
        "the cluster's JetStream stream {name} has {existing} replica(s), but this node was started with --nats-replicas {wanted}; every node must use the cluster's count (or remove the stream to change it)"
    );
    Ok(())
}

/// One dead letter, as `GET /v1/dead-letters` lists it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Its sequence number in the dead-letter stream.
    pub seq: u64,
    pub partition: u32,
    /// When it was set aside (RFC 3339).
    pub at: String,
    /// Why: the decoding error, or the database's refusal.
    pub reason: String,
    /// Size of the original message, and its first line (at most 512 bytes).
    pub bytes: usize,
    pub first_line: String,
}

impl EventLog {
    /// Connects to any of `servers` and creates the streams (or checks that
    /// the existing ones were made for the same number of partitions and
    /// replicas).
    pub async fn connect(
        servers: &str,
        node: &str,
        partitions: u32,
        replicas: u8,
    ) -> anyhow::Result<EventLog> {
        let addrs = super::nats_servers(servers)?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("replywatch {node}"))
            .connection_timeout(Duration::from_secs(5))
            .connect(addrs)
            .await
            .with_context(|| format!("connecting to NATS at {servers}"))?;
        let mut js = jetstream::new(client);
        js.set_timeout(REQUEST_TIMEOUT);
        let description = format!("replywatch events; partitions={partitions}");
        let stream = ensure_stream(&js, stream::Config {
                name: STREAM.into(),
                description: Some(description.clone()),
                subjects: vec![format!("{SUBJECT_PREFIX}.*")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                num_replicas: usize::from(replicas),
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating the JetStream stream {STREAM} with {replicas} replica(s) (is JetStream enabled: nats-server -js? are there {replicas} servers in the NATS cluster?)"))?;
        // get_or_create returns the stream with its configuration as stored.
        let config = &stream.cached_info().config;
        let existing = config.description.clone().unwrap_or_default();
        anyhow::ensure!(
            existing == description,
            "the cluster's stream {STREAM} was created with {existing:?}, but this node was started with --partitions {partitions}; every node must use the cluster's number"
        );
        same_replicas(STREAM, config.num_replicas, replicas)?;
        let dead = ensure_stream(
            &js,
            stream::Config {
                name: DEAD_STREAM.into(),
                description: Some("replywatch messages set aside (undecodable or refused)".into()),
                subjects: vec![format!("{DEAD_SUBJECT_PREFIX}.*")],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                max_age: DEAD_MAX_AGE,
                num_replicas: usize::from(replicas),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("creating the JetStream stream {DEAD_STREAM}"))?;
        same_replicas(
            DEAD_STREAM,
            dead.cached_info().config.num_replicas,
            replicas,
        )?;
        Ok(EventLog {
            js,
            stream,
            dead,
            partitions,
            replicas,
        })
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Publishes a validated batch; returns once JetStream stored every
    /// message (on disk; with replicas, on a quorum of servers). On error
    /// some messages may be stored: re-sending the batch is safe (same ids;
    /// the store ignores known events).
    pub async fn publish(&self, events: &[MessageEvent]) -> Result<Published, LogError> {
        Ok(self.publish_tracked(events).await?.0)
    }

    /// [`EventLog::publish`], with the stream sequence of the last message
    /// of each partition the batch went to (what [`EventLog::wait_committed`]
    /// waits for).
    pub async fn publish_tracked(
        &self,
        events: &[MessageEvent],
    ) -> Result<(Published, Marks), LogError> {
        // The whole call, re-sends included, is bounded: while no server
        // answers (the client buffers publishes until it reconnects) the
        // caller hears 503 after REQUEST_TIMEOUT rather than waiting.
        match tokio::time::timeout(REQUEST_TIMEOUT, self.publish_attempts(events)).await {
            Ok(result) => result,
            Err(_) => Err(LogError(format!(
                "no acknowledgement from JetStream within {} s",
                REQUEST_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn publish_attempts(
        &self,
        events: &[MessageEvent],
    ) -> Result<(Published, Marks), LogError> {
        let chunks: Vec<(Chunk, async_nats::Subject)> = encode_chunks(events, self.partitions)
            .into_iter()
            .map(|c| {
                let subject = subject(c.partition).into();
                (c, subject)
            })
            .collect();
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        let mut published = Published::default();
        let mut marks = Marks::new();
        let mut todo: Vec<usize> = (0..chunks.len()).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut failed = Vec::new();
            let mut last_error = String::new();
            let mut pending = Vec::with_capacity(todo.len());
            for &i in &todo {
                let (chunk, subject) = &chunks[i];
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(async_nats::header::NATS_MESSAGE_ID, chunk.id.as_str());
                match self
                    .js
                    .publish_with_headers(subject.clone(), headers, chunk.payload.clone())
                    .await
                {
                    Ok(ack) => pending.push((i, ack)),
                    Err(e) => {
                        last_error = e.to_string();
                        failed.push(i);
                    }
                }
            }
            for (i, ack) in pending {
                let chunk = &chunks[i].0;
                match tokio::time::timeout(ACK_ATTEMPT, ack).await {
                    Ok(Ok(ack)) => {
                        // A duplicate's sequence is the stored original's.
                        let mark = marks.entry(chunk.partition).or_default();
                        *mark = (*mark).max(ack.sequence);
                        // A re-sent message reported as a duplicate was most
                        // likely stored by this call's own earlier attempt
                        // (its acknowledgement lost with a failed server).
                        match ack.duplicate && attempt == 1 {
                            true => published.duplicates += chunk.events,
                            false => published.events += chunk.events,
                        }
                    }
                    Ok(Err(e)) => {
                        last_error = e.to_string();
                        failed.push(i);
                    }
                    Err(_) => {
                        last_error = format!("no acknowledgement within {ACK_ATTEMPT:?}");
                        failed.push(i);
                    }
                }
            }
            if failed.is_empty() {
                return Ok((published, marks));
            }
            // A server failed mid-publish (its acknowledgements are lost) or
            // the stream is electing a leader: the same messages again, on
            // whichever server the client reaches now; JetStream drops any
            // it already stored (same id).
            if tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
                return Err(LogError(last_error));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
            todo = failed;
        }
    }

    /// Waits until every partition's owner has committed and acknowledged
    /// its messages up to the marked sequence (the consumer's ack floor),
    /// at most `within`; false when that did not happen in time.
    pub async fn wait_committed(&self, marks: &Marks, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        for (&partition, &seq) in marks {
            loop {
                let floor = self
                    .stream
                    .consumer_info(consumer_name(partition))
                    .await
                    .map(|info| info.ack_floor.stream_sequence);
                if floor.is_ok_and(|f| f >= seq) {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        true
    }

    /// Sets a message aside in the dead-letter stream with its reason;
    /// returns once JetStream stored it (only then may the original be
    /// acknowledged).
    pub async fn dead_letter(
        &self,
        partition: u32,
        payload: &[u8],
        reason: &str,
    ) -> Result<(), LogError> {
        let fail = |e: &dyn std::fmt::Display| LogError(e.to_string());
        let mut headers = async_nats::HeaderMap::new();
        // Header values are one line: the reason's own line breaks go.
        let one_line: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(1000)
            .collect();
        headers.insert("Replywatch-Reason", one_line.as_str());
        headers.insert("Replywatch-Partition", partition.to_string().as_str());
        self.js
            .publish_with_headers(
                format!("{DEAD_SUBJECT_PREFIX}.{partition}"),
                headers,
                payload.to_vec().into(),
            )
            .await
            .map_err(|e| fail(&e))?
            .await
            .map_err(|e| fail(&e))?;
        Ok(())
    }

    /// The newest `limit` dead letters, newest first.
    pub async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let mut dead = self.dead.clone();
        let state = dead
            .info()
            .await
            .context("reading the dead-letter stream")?
            .state
            .clone();
        let mut out = Vec::new();
        let mut seq = state.last_sequence;
        while seq >= state.first_sequence.max(1) && out.len() < limit {
            if let Ok(m) = dead.get_raw_message(seq).await {
                let header = |name: &str| {
                    m.headers
                        .get(name)
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default()
                };
                let first = m.payload.split(|&b| b == b'\n').next().unwrap_or_default();
                let first = &first[..first.len().min(512)];
                out.push(DeadLetter {
                    seq,
                    partition: header("Replywatch-Partition").parse().unwrap_or_default(),
                    at: m.time.to_string(),
                    reason: header("Replywatch-Reason"),
                    bytes: m.payload.len(),
                    first_line: String::from_utf8_lossy(first).into_owned(),
                });
            }
            seq -= 1;
        }
        Ok(out)
    }

    /// Messages not yet committed and acknowledged, over every partition:
    /// each durable consumer's pending plus delivered-but-unacknowledged.
    /// (Not the stream's size: after NATS itself is killed, messages already
    /// acknowledged can reappear in the stream, below the consumers' ack
    /// floor, and are never delivered again.) None while some partition has
    /// never had an owner.
    pub async fn backlog(&self) -> anyhow::Result<Option<u64>> {
        let mut total = 0;
        for p in 0..self.partitions {
            match self.stream.consumer_info(consumer_name(p)).await {
                Ok(info) => total += info.num_pending + info.num_ack_pending as u64,
                Err(e) if e.to_string().contains("not found") => return Ok(None),
                Err(e) => return Err(e).context("reading a consumer's state"),
            }
        }
        Ok(Some(total))
    }

    /// The durable pull consumer of a partition (created on first use).
    pub async fn consumer(
        &self,
        partition: u32,
    ) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
        let name = consumer_name(partition);
        self.stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: subject(partition),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_ack_pending: 100_000,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("opening the consumer {name}"))
    }

    /// The lease bucket, created with `ttl` as the age at which an entry
    /// not rewritten disappears.
    pub async fn lease_bucket(&self, ttl: Duration) -> anyhow::Result<kv::Store> {
        let bucket_stream = format!("KV_{LEASE_BUCKET}");
        if let Ok(bucket) = self.js.get_key_value(LEASE_BUCKET).await {
            let mut info = self
                .js
                .get_stream(&bucket_stream)
                .await
                .context("reading the lease bucket's stream")?;
            let replicas = info.info().await?.config.num_replicas;
            same_replicas(&bucket_stream, replicas, self.replicas)?;
            return Ok(bucket);
        }
        // The bucket's stream as async-nats' create_key_value makes it
        // (that call first asks for account info, which NATS 2.9's answer
        // does not satisfy): one value per key, entries expire after `ttl`.
        let created = self
            .js
            .create_stream(stream::Config {
                name: bucket_stream,
                description: Some("replywatch partition leases and live nodes".into()),
                subjects: vec![format!("$KV.{LEASE_BUCKET}.>")],
                max_messages_per_subject: 1,
                max_age: ttl,
                storage: stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                num_replicas: usize::from(self.replicas),
                ..Default::default()
            })
            .await;
        // Another node may have created it meanwhile: open it either way.
        self.js
            .get_key_value(LEASE_BUCKET)
            .await
            .map_err(|e| match created {
                Err(c) => anyhow::anyhow!(
                    "creating the lease bucket failed ({c}), and opening it too ({e})"
                ),
                Ok(_) => anyhow::anyhow!("opening the lease bucket: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: usize, account: &str) -> MessageEvent {
        let line = format!(
            r#"{{"id":"m{id}","account":"{account}","channel":"whatsapp","conversation":"c","from":"customer","at":"2026-11-01T10:00:00Z"}}"#
        );
        MessageEvent::from_json(line.as_bytes()).unwrap()
    }

    #[test]
    fn a_batch_is_split_by_partition_and_decodes_back_to_the_same_events() {
        let events: Vec<MessageEvent> = (0..300)
            .map(|i| event(i, &format!("acct-{}", i % 7)))
            .collect();
        let chunks = encode_chunks(&events, 4);
        let mut back = Vec::new();
        for c in &chunks {
            let decoded = decode(&c.payload).unwrap();
            assert_eq!(decoded.len() as u64, c.events);
            assert!(
                decoded
                    .iter()
                    .all(|e| partition_of(e.account.as_str(), 4) == c.partition)
            );
            back.extend(decoded);
        }
        let key = |e: &MessageEvent| e.id.to_string();
        let (mut a, mut b) = (events.clone(), back);
        a.sort_by_key(key);
        b.sort_by_key(key);
        assert_eq!(a, b);
    }

    #[test]
    fn the_same_events_give_the_same_message_ids_so_jetstream_drops_a_resend() {
        let events: Vec<MessageEvent> = (0..50).map(|i| event(i, "a")).collect();
        let ids = |evs: &[MessageEvent]| {
            encode_chunks(evs, 16)
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&events), ids(&events.clone()));
        assert_ne!(ids(&events), ids(&events[1..]));
    }

    #[test]
    fn no_message_exceeds_the_chunk_limit() {
        let events: Vec<MessageEvent> = (0..20_000).map(|i| event(i, "one-account")).collect();
        let chunks = encode_chunks(&events, 16);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.payload.len() <= MAX_CHUNK_BYTES));
        assert_eq!(chunks.iter().map(|c| c.events).sum::<u64>(), 20_000);
    }

    #[test]
    fn a_message_replywatch_did_not_write_is_reported_by_line() {
        let err = decode(b"{\"id\":\"x\"}\n").unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
    }
}
