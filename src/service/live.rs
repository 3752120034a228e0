//! The service's in-memory state: the streaming [`Engine`] over the stored
//! events, built from the store at start-up and fed by the ingestion worker
//! after each commit, so that reads never touch the database. Owns no SQL
//! and no HTTP.

use crate::domain::{EventSet, MessageEvent, ReplyPolicy};
use crate::engine::{Applied, Engine};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The engine, shared by the worker (writer) and readers.
#[derive(Debug)]
pub struct LiveState {
    engine: RwLock<Engine>,
    ready: AtomicBool,
    /// Events held, kept beside the engine so `/healthz` never waits for
    /// the lock (issue 15: health shared the lock with slow writers).
    events: AtomicU64,
    /// Bumped whenever the engine is replaced (indexes of events change).
    generation: AtomicU64,
}

/// Events copied per read-lock hold while retention rebuilds the engine.
const COPY_CHUNK: usize = 100_000;

impl LiveState {
    /// An empty, not yet ready state whose operational view uses `policy`.
    pub fn new(policy: ReplyPolicy) -> Self {
        LiveState {
            engine: RwLock::new(Engine::from_set(EventSet::new(), policy)),
            ready: AtomicBool::new(false),
            events: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// True once the start-up load has finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn policy(&self) -> ReplyPolicy {
        self.read_guard().operational()
    }

    /// Installs the engine built from the loaded events and opens the service.
    pub fn load(&self, engine: Engine) {
        let mut held = self.write();
        *held = engine;
        self.replaced(&held);
        self.ready.store(true, Ordering::Release);
    }

    /// Bookkeeping after the engine was replaced under the write lock.
    fn replaced(&self, engine: &Engine) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.counted(engine);
    }

    fn counted(&self, engine: &Engine) {
        self.events
            .store(engine.set().len() as u64, Ordering::Release);
    }

    /// Adds committed events (duplicates and conflicts keep the first
    /// version, SPEC §2); `observe` sees what changed, under the same lock.
    pub fn apply(
        &self,
        batches: impl IntoIterator<Item = Vec<MessageEvent>>,
        observe: impl FnOnce(&Engine, &Applied),
    ) {
        let mut engine = self.write();
        let applied = engine.apply(batches.into_iter().flatten());
        self.counted(&engine);
        observe(&engine, &applied);
    }

    /// Drops the events retention deleted from the store, by key, without
    /// holding the lock for long (issue 15: the whole engine was rebuilt
    /// under the write lock): the kept events are copied out in chunks
    /// under short read locks, the new engine is built with no lock held,
    /// and the swap under the write lock only adds the events committed
    /// meanwhile (events are only appended, so they are the ones past the
    /// copied length). Replaced meanwhile by something else: done again.
    pub fn remove(&self, keys: &HashSet<(String, String, String)>) {
        if keys.is_empty() {
            return;
        }
        loop {
            let generation = self.generation.load(Ordering::Acquire);
            let policy = self.policy();
            let mut kept = EventSet::new();
            let mut copied = 0;
            let mut stale = false;
            loop {
                let engine = self.read_guard();
                if self.generation.load(Ordering::Acquire) != generation {
                    stale = true;
                    break;
                }
                let set = engine.set();
                let end = (copied + COPY_CHUNK).min(set.len());
                for i in copied..end {
                    let e = &set.events()[i];
                    let stream = set.stream(set.stream_of(e.conversation));
                    let key = (
                        stream.account.to_string(),
                        stream.channel.to_string(),
                        e.id.to_string(),
                    );
                    if !keys.contains(&key) {
                        kept.insert(set.event(i));
                    }
                }
                copied = end;
                if copied == set.len() {
                    break;
                }
            }
            if stale {
                continue;
            }
            let mut rebuilt = Engine::from_set(kept, policy);
            let mut engine = self.write();
            if self.generation.load(Ordering::Acquire) != generation {
                continue;
            }
            let late: Vec<MessageEvent> = (copied..engine.set().len())
                .map(|i| engine.set().event(i))
                .collect();
            rebuilt.apply(late);
            *engine = rebuilt;
            self.replaced(&engine);
            return;
        }
    }

    /// Drops every event of the accounts `drop` names (a cluster node handing
    /// a partition over).
    pub fn drop_accounts(&self, drop: impl Fn(&str) -> bool) {
        let mut engine = self.write();
        let kept = engine
            .set()
            .filtered(|set, e| !drop(set.stream(set.stream_of(e.conversation)).account.as_str()));
        if kept.len() == engine.set().len() {
            return;
        }
        let policy = engine.operational();
        *engine = Engine::from_set(kept, policy);
        self.replaced(&engine);
    }

    /// Adds stored events loaded from the store (a cluster node taking a
    /// partition over); known events are kept as they are.
    pub fn add_set(&self, loaded: EventSet) {
        if loaded.is_empty() {
            return;
        }
        let mut engine = self.write();
        engine.apply((0..loaded.len()).map(|i| loaded.event(i)));
        self.counted(&engine);
    }

    /// Runs `f` on the current engine.
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.read_guard())
    }

    /// Number of events held; never waits for the lock.
    pub fn len(&self) -> usize {
        self.events.load(Ordering::Acquire) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while holding the lock cannot leave the engine half-updated in
    // a way readers could see as wrong figures (events are applied one by
    // one, then conversations re-walked), so a poisoned lock is used as is.
    fn read_guard(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Engine> {
        self.engine.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::analyze_windows;
    use crate::domain::{AnalyzeOptions, Micros};

    fn event(id: &str, account: &str, from: &str, at: &str) -> MessageEvent {
        let line = format!(
            r#"{{"id":"{id}","account":"{account}","channel":"messenger","conversation":"c","from":"{from}","at":"{at}"}}"#
        );
        MessageEvent::from_json(line.as_bytes()).unwrap()
    }

    fn figures(live: &LiveState) -> serde_json::Value {
        let opts = AnalyzeOptions::new(
            crate::domain::parse_rfc3339("2026-11-02T00:00:00Z").unwrap(),
            Micros(3650 * 86_400 * 1_000_000),
        );
        live.read(|e| {
            serde_json::to_value(analyze_windows(e.set(), &opts, &[opts.window], e).remove(0))
                .unwrap()
        })
    }

    #[test]
    fn a_taken_over_partition_is_added_and_a_handed_over_one_dropped_exactly() {
        let a = [
            event("1", "a", "customer", "2026-11-01T10:00:00Z"),
            event("2", "a", "agent", "2026-11-01T10:05:00Z"),
        ];
        let b = [event("3", "b", "customer", "2026-11-01T11:00:00Z")];
        let live = LiveState::new(ReplyPolicy::operational(false));
        live.apply([a.to_vec()], |_, _| {});
        live.add_set(EventSet::from_events(b.to_vec()));
        // Loading what is already held changes nothing (the first version stays).
        live.add_set(EventSet::from_events(a.to_vec()));
        let both = LiveState::new(ReplyPolicy::operational(false));
        both.load(Engine::from_set(
            EventSet::from_events(a.iter().chain(&b).cloned()),
            ReplyPolicy::operational(false),
        ));
        assert_eq!(figures(&live), figures(&both));

        live.drop_accounts(|account| account == "b");
        let only_a = LiveState::new(ReplyPolicy::operational(false));
        only_a.apply([a.to_vec()], |_, _| {});
        assert_eq!(live.len(), 2);
        assert_eq!(figures(&live), figures(&only_a));
    }
}
