//! The service's in-memory state: the streaming [`Engine`] over the stored
//! events, built from the store at start-up and fed by the ingestion worker
//! after each commit, so that reads never touch the database. Owns no SQL
//! and no HTTP.

use crate::domain::{EventSet, MessageEvent, ReplyPolicy};
use crate::engine::{Applied, Engine};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The engine, shared by the worker (writer) and readers.
#[derive(Debug)]
pub struct LiveState {
    engine: RwLock<Engine>,
    ready: AtomicBool,
}

impl LiveState {
    /// An empty, not yet ready state whose operational view uses `policy`.
    pub fn new(policy: ReplyPolicy) -> Self {
        LiveState {
            engine: RwLock::new(Engine::from_set(EventSet::new(), policy)),
            ready: AtomicBool::new(false),
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
        *self.write() = engine;
        self.ready.store(true, Ordering::Release);
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
        observe(&engine, &applied);
    }

    /// Drops the events retention deleted from the store, by key.
    pub fn remove(&self, keys: &HashSet<(String, String, String)>) {
        if keys.is_empty() {
            return;
        }
        let mut engine = self.write();
        let kept = engine.set().filtered(|set, e| {
            let stream = set.stream(set.stream_of(e.conversation));
            !keys.contains(&(
                stream.account.to_string(),
                stream.channel.to_string(),
                e.id.to_string(),
            ))
        });
        let policy = engine.operational();
        *engine = Engine::from_set(kept, policy);
    }

    /// Runs `f` on the current engine.
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.read_guard())
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.read_guard().set().len()
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
