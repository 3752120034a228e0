//! One owned partition: its accounts loaded from the store, its messages
//! pulled from JetStream, committed through the ingestion worker and
//! acknowledged only after the commit; what cannot be stored goes to the
//! dead letters.

use super::*;

/// What a partition task needs.
#[derive(Clone)]
pub(super) struct PartitionContext {
    pub(super) node: String,
    pub(super) store: Store,
    pub(super) log: EventLog,
    pub(super) metrics: Arc<crate::telemetry::metrics::Metrics>,
    pub(super) live: Arc<LiveState>,
    pub(super) ingest: IngestQueue,
    pub(super) loader: mpsc::UnboundedSender<(u32, oneshot::Sender<()>)>,
    pub(super) view: Arc<Mutex<Membership>>,
}

/// Claims the partition's epoch (fencing off its previous owner), loads
/// its accounts, consumes until told to stop (or fenced off in turn), then
/// drops the accounts from the live engine.
pub(super) async fn serve_partition(
    p: u32,
    ctx: PartitionContext,
    mut stop: watch::Receiver<bool>,
) {
    // Before the load: a commit of the previous owner either checked the
    // old epoch before this (and the load below sees it) or is refused.
    let Some(epoch) = claim(p, &ctx, &mut stop).await else {
        return;
    };
    let fence = Fence {
        partition: p,
        epoch,
    };
    let (loaded, wait) = oneshot::channel();
    // Awaited even if a stop comes meanwhile: the accounts must be in the
    // engine before they are dropped again below.
    if ctx.loader.send((p, loaded)).is_ok() {
        let _ = wait.await;
    }
    ctx.view
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .epochs
        .insert(p, epoch);
    set_serving(&ctx.view, p, true);
    consume(p, &ctx, fence, stop).await;
    set_serving(&ctx.view, p, false);
    let partitions = ctx.log.partitions();
    ctx.live
        .drop_accounts(|account| partition_of(account, partitions) == p);
    tracing::info!(partition = p, "stopped serving the partition");
}

/// Raises the partition's epoch in the store, retrying while the database
/// fails; None when told to stop first.
async fn claim(p: u32, ctx: &PartitionContext, stop: &mut watch::Receiver<bool>) -> Option<i64> {
    loop {
        match ctx.store.claim_partition(p, &ctx.node).await {
            Ok(epoch) => {
                tracing::info!(partition = p, epoch, "partition claimed");
                return Some(epoch);
            }
            Err(e) => tracing::warn!(
                partition = p,
                error = format!("{e:#}"),
                "claiming the partition failed; retrying"
            ),
        }
        if pause(stop, Duration::from_secs(1)).await {
            return None;
        }
    }
}

pub(super) fn set_serving(view: &Mutex<Membership>, p: u32, on: bool) {
    let mut view = view.lock().unwrap_or_else(|e| e.into_inner());
    match on {
        true => view.serving.insert(p),
        false => view.serving.remove(&p),
    };
}

/// Sleeps `d` unless told to stop first; true when stopping.
pub(super) async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    let _ = tokio::time::timeout(d, stop.wait_for(|s| *s)).await;
    *stop.borrow()
}

pub(super) async fn consume(
    p: u32,
    ctx: &PartitionContext,
    fence: Fence,
    mut stop: watch::Receiver<bool>,
) {
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
            match commit_all(p, ctx, fence, &messages, batches, &mut stop).await {
                true => {}
                // Unacknowledged: delivered again after ACK_WAIT (to the
                // new owner when this one was fenced off).
                false => return,
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
pub(super) async fn set_aside(
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
pub(super) async fn set_aside_payload(
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
        crate::cluster::log::DEAD_STREAM
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
pub(super) async fn commit_all(
    p: u32,
    ctx: &PartitionContext,
    fence: Fence,
    messages: &[async_nats::jetstream::Message],
    batches: Vec<(usize, Vec<MessageEvent>)>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let all: Vec<MessageEvent> = batches
        .iter()
        .flat_map(|(_, e)| e.iter().cloned())
        .collect();
    match commit(p, ctx, fence, all, stop).await {
        Committed::Yes => return true,
        Committed::Stopped => return false,
        Committed::Refused(_) => {}
    }
    for (i, events) in batches {
        match commit(p, ctx, fence, events.clone(), stop).await {
            Committed::Yes => {}
            Committed::Stopped => return false,
            // One event at a time: only the refused ones are set aside, the
            // others of the message (acknowledged to their sender) stored.
            Committed::Refused(why) => {
                let mut refused = Vec::new();
                let mut reason = why;
                for e in events {
                    match commit(p, ctx, fence, vec![e.clone()], stop).await {
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
pub(super) enum Committed {
    Yes,
    /// The database refused the content (retrying cannot help).
    Refused(String),
    /// The worker stopped, the partition was told to stop, or another
    /// node has claimed it since (fenced off: nothing was stored).
    Stopped,
}

/// Commits through the ingestion worker, waiting out a full queue or a
/// database outage (the database failing is retried with backoff; the
/// database refusing the data is not).
pub(super) async fn commit(
    p: u32,
    ctx: &PartitionContext,
    fence: Fence,
    events: Vec<MessageEvent>,
    stop: &mut watch::Receiver<bool>,
) -> Committed {
    if events.is_empty() {
        return Committed::Yes;
    }
    let mut delay = Duration::from_millis(20);
    loop {
        match ctx.ingest.submit_fenced(events.clone(), Some(fence)).await {
            Ok(_) => return Committed::Yes,
            Err(SubmitError::Stopped) => return Committed::Stopped,
            Err(SubmitError::Fenced(e)) => {
                tracing::warn!(partition = p, error = %e, "fenced off: stopping the partition");
                ctx.metrics.fenced();
                return Committed::Stopped;
            }
            Err(SubmitError::Refused(e)) => return Committed::Refused(format!("{e:#}")),
            Err(SubmitError::QueueFull) => {}
            Err(SubmitError::Store(e)) => tracing::warn!(
                partition = p,
                error = format!("{e:#}"),
                "committing consumed events failed; retrying"
            ),
            // The local queue never answers with the log's errors.
            Err(SubmitError::Log(e) | SubmitError::NotVisible(e)) => {
                tracing::warn!(partition = p, error = %e, "retrying")
            }
        }
        if pause(stop, delay).await {
            return Committed::Stopped;
        }
        delay = (delay * 2).min(ACK_WAIT / 4);
    }
}

/// Loads the accounts of newly owned partitions from the store into the
/// live engine. Requests arriving together share one load.
pub(super) fn start_loader(
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
