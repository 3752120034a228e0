//! One way to read figures: [`Figures`] owns the blocking pool, the live
//! engine and the fallback to the store. A handler, the page, the charts,
//! the scheduled reports and `/metrics` say which accounts they need and
//! get an engine that holds them: the live one, or — on a cluster node
//! that does not serve an account — one built from the store (the same
//! core, the same figures: the store has every event the owners
//! committed). Readiness (503 while the stored events load) is checked
//! here, once. Must not depend on HTTP or on the cluster (which it sees
//! only through [`Ownership`]).

use crate::engine::Engine;
use crate::service::live::LiveState;
use crate::store::Store;
use std::sync::Arc;

/// Which accounts this process's live engine holds (a cluster node: the
/// accounts of the partitions it owns; alone: all of them).
pub trait Ownership: Send + Sync {
    fn serves(&self, account: &str) -> bool;
}

/// Why figures could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FiguresError {
    /// The stored events are still loading into the live engine.
    #[error("loading the stored events; retry shortly")]
    Loading,
    /// The store did not answer while building figures of accounts
    /// another node serves.
    #[error("the database did not answer: {0:#}")]
    Store(anyhow::Error),
    /// The computation panicked (a bug): the cause is logged.
    #[error("computing figures failed: {0}")]
    Failed(String),
}

/// Which accounts a reading needs.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Only what this process's live engine holds (`/metrics`: each node
    /// exports the accounts it owns, so sums across nodes are right).
    Local,
    /// One account, wherever its events live.
    Account(&'a str),
    /// Every account, wherever its events live.
    All,
}

impl<'a> Scope<'a> {
    /// `Some(account)` → one account, `None` → all.
    pub fn of(account: Option<&'a str>) -> Scope<'a> {
        account.map_or(Scope::All, Scope::Account)
    }
}

/// The service's figures.
#[derive(Clone)]
pub struct Figures {
    live: Arc<LiveState>,
    store: Store,
    owner: Option<Arc<dyn Ownership>>,
}

impl Figures {
    /// `owner` is None for a single node (its live engine holds everything).
    pub fn new(live: Arc<LiveState>, store: Store, owner: Option<Arc<dyn Ownership>>) -> Figures {
        Figures { live, store, owner }
    }

    /// Whether the live engine has loaded the stored events.
    pub fn is_ready(&self) -> bool {
        self.live.is_ready()
    }

    /// Events in the live engine (lock-free).
    pub fn live_events(&self) -> usize {
        self.live.len()
    }

    fn in_live_engine(&self, scope: Scope) -> bool {
        match (scope, &self.owner) {
            (Scope::Local, _) | (_, None) => true,
            (Scope::Account(a), Some(owner)) => owner.serves(a),
            (Scope::All, Some(_)) => false,
        }
    }

    /// Runs `f` on the blocking pool over an engine that holds `scope`.
    pub async fn read<R: Send + 'static>(
        &self,
        scope: Scope<'_>,
        f: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, FiguresError> {
        if !self.is_ready() {
            return Err(FiguresError::Loading);
        }
        let task = if self.in_live_engine(scope) {
            let live = self.live.clone();
            tokio::task::spawn_blocking(move || live.read(f))
        } else {
            let account = match scope {
                Scope::Account(a) => Some(a),
                _ => None,
            };
            let set = self
                .store
                .load_account_events(account)
                .await
                .map_err(FiguresError::Store)?;
            let policy = self.live.policy();
            tokio::task::spawn_blocking(move || f(&Engine::from_set(set, policy)))
        };
        task.await.map_err(|e| {
            tracing::error!(error = %e, "a figures computation failed");
            FiguresError::Failed(e.to_string())
        })
    }

    /// Runs `f` over the live engine on the calling thread (for work that
    /// is already on the blocking pool, such as the metrics refresh).
    pub fn read_live_blocking<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        self.live.read(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Owns(&'static str);
    impl Ownership for Owns {
        fn serves(&self, account: &str) -> bool {
            account == self.0
        }
    }

    async fn figures(owner: Option<Arc<dyn Ownership>>) -> Figures {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let live = Arc::new(LiveState::new(crate::domain::ReplyPolicy::operational(
            false,
        )));
        Figures::new(live, store, owner)
    }

    #[tokio::test]
    async fn a_single_node_reads_everything_live_and_a_cluster_node_only_what_it_owns() {
        let alone = figures(None).await;
        for scope in [Scope::Local, Scope::Account("a"), Scope::All] {
            assert!(alone.in_live_engine(scope));
        }
        let node = figures(Some(Arc::new(Owns("mine")))).await;
        assert!(node.in_live_engine(Scope::Local));
        assert!(node.in_live_engine(Scope::Account("mine")));
        assert!(!node.in_live_engine(Scope::Account("theirs")));
        assert!(!node.in_live_engine(Scope::All), "all accounts: the store");
    }

    #[tokio::test]
    async fn nothing_is_read_before_the_stored_events_are_loaded() {
        let f = figures(None).await;
        assert!(matches!(
            f.read(Scope::All, |_| ()).await,
            Err(FiguresError::Loading)
        ));
    }
}
