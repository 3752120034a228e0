//! The service's in-memory state: the distinct stored events, loaded from
//! the store at start-up and fed by the ingestion worker after each commit,
//! so that reads never touch the database. Readers compute figures from it
//! with the pure core. Owns no SQL and no HTTP.

use crate::domain::{EventSet, MessageEvent};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The events the store holds, shared by the worker (writer) and readers.
#[derive(Debug, Default)]
pub struct LiveState {
    events: RwLock<EventSet>,
    ready: AtomicBool,
}

impl LiveState {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the start-up load has finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Installs the loaded events and opens the service.
    pub fn load(&self, set: EventSet) {
        *self.write() = set;
        self.ready.store(true, Ordering::Release);
    }

    /// Adds committed events (duplicates and conflicts keep the first version, SPEC §2).
    pub fn apply(&self, batches: impl IntoIterator<Item = Vec<MessageEvent>>) {
        let mut set = self.write();
        for batch in batches {
            for e in batch {
                set.insert(e);
            }
        }
    }

    /// Drops the events retention deleted from the store, by key.
    pub fn remove(&self, keys: &HashSet<(String, String, String)>) {
        if keys.is_empty() {
            return;
        }
        let mut set = self.write();
        *set = set.filtered(|set, e| {
            let stream = set.stream(set.stream_of(e.conversation));
            !keys.contains(&(
                stream.account.to_string(),
                stream.channel.to_string(),
                e.id.to_string(),
            ))
        });
    }

    /// Runs `f` on the current events.
    pub fn read<R>(&self, f: impl FnOnce(&EventSet) -> R) -> R {
        f(&self.read_guard())
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.read_guard().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while holding the lock cannot leave the set half-updated in a
    // way readers could see as wrong figures (inserts are atomic per event),
    // so a poisoned lock is used as is.
    fn read_guard(&self) -> RwLockReadGuard<'_, EventSet> {
        self.events.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, EventSet> {
        self.events.write().unwrap_or_else(|e| e.into_inner())
    }
}
