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
    /// Every account's events built from the store (a cluster node asked
    /// for all accounts): one load at a time, shared while fresh.
    everyone: Arc<tokio::sync::Mutex<Option<StoreView>>>,
    /// Loads of every account from the store, for tests and logs.
    loads: Arc<std::sync::atomic::AtomicU64>,
    /// [`STORE_VIEW_FRESH`] (shorter in tests).
    fresh: std::time::Duration,
}

/// An engine over every stored account and when its load began.
struct StoreView {
    engine: Arc<Engine>,
    built: std::time::Instant,
}

/// How long an engine built from the store for all accounts answers
/// before the next request loads again: figures for every account on a
/// node that does not own them are at most this much older than the
/// store (a node's own accounts are always live).
pub const STORE_VIEW_FRESH: std::time::Duration = std::time::Duration::from_secs(2);

impl Figures {
    /// `owner` is None for a single node (its live engine holds everything).
    pub fn new(live: Arc<LiveState>, store: Store, owner: Option<Arc<dyn Ownership>>) -> Figures {
        Figures {
            live,
            store,
            owner,
            everyone: Arc::default(),
            loads: Arc::default(),
            fresh: STORE_VIEW_FRESH,
        }
    }

    /// How many times every account was loaded from the store.
    pub fn store_loads(&self) -> u64 {
        self.loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An engine over every stored account: single-flight (callers that
    /// come while one loads wait for it and share it) and bounded (one at
    /// a time: the stale one is dropped before the next is built).
    ///
    /// A view serves a request that arrived less than [`STORE_VIEW_FRESH`]
    /// after its load began — however long the load took, so requests that
    /// waited for a slow load share it (a view aged by its own load time
    /// made each of them load again) — and never one that arrived later
    /// (`?wait=visible` relies on that: a request 2 s after a commit gets a
    /// view whose load began after the commit).
    async fn everyone(&self) -> Result<Arc<Engine>, FiguresError> {
        let arrived = std::time::Instant::now();
        let mut view = self.everyone.lock().await;
        if let Some(v) = view.as_ref()
            && arrived.saturating_duration_since(v.built) < self.fresh
        {
            return Ok(v.engine.clone());
        }
        *view = None;
        // Fresh from when the load began: a commit after this instant may
        // be missing from it (`?wait=visible` relies on that).
        let started = std::time::Instant::now();
        let set = self
            .store
            .load_account_events(None)
            .await
            .map_err(FiguresError::Store)?;
        self.loads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let policy = self.live.policy();
        let engine = tokio::task::spawn_blocking(move || Engine::from_set(set, policy))
            .await
            .map_err(|e| FiguresError::Failed(e.to_string()))?;
        let engine = Arc::new(engine);
        *view = Some(StoreView {
            engine: engine.clone(),
            built: started,
        });
        Ok(engine)
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
        } else if let Scope::Account(account) = scope {
            let set = self
                .store
                .load_account_events(Some(account))
                .await
                .map_err(FiguresError::Store)?;
            let policy = self.live.policy();
            tokio::task::spawn_blocking(move || f(&Engine::from_set(set, policy)))
        } else {
            let engine = self.everyone().await?;
            tokio::task::spawn_blocking(move || f(&engine))
        };
        task.await.map_err(|e| {
            tracing::error!(error = %e, "a figures computation failed");
            FiguresError::Failed(e.to_string())
        })
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

    /// Ten concurrent reads of every account on a node that owns none
    /// load the store once and share the engine (issue 17: ten full loads
    /// saturated the pool).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_of_every_account_share_one_load_from_the_store() {
        let dir = std::env::temp_dir().join(format!("replywatch-figures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.join("f.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let lines: Vec<String> = (0..2_000)
            .map(|i| {
                format!(
                    r#"{{"id":"{i}","account":"acct-{}","channel":"messenger","conversation":"c{i}","from":"customer","at":"2026-11-01T00:00:00Z"}}"#,
                    i % 20
                )
            })
            .collect();
        let events: Vec<crate::domain::MessageEvent> = lines
            .iter()
            .map(|l| crate::domain::MessageEvent::from_json(l.as_bytes()).unwrap())
            .collect();
        store.insert_events(&events).await.unwrap();
        let live = Arc::new(LiveState::new(crate::domain::ReplyPolicy::operational(
            false,
        )));
        live.load(Engine::from_set(
            crate::domain::EventSet::new(),
            crate::domain::ReplyPolicy::operational(false),
        ));
        let figures = Figures::new(live, store.clone(), Some(Arc::new(Owns("none"))));
        let started = std::time::Instant::now();
        let reads: Vec<_> = (0..10)
            .map(|_| {
                let f = figures.clone();
                tokio::spawn(async move { f.read(Scope::All, |e| e.set().len()).await.unwrap() })
            })
            .collect();
        for r in reads {
            assert_eq!(r.await.unwrap(), 2_000);
        }
        eprintln!(
            "10 concurrent reads of every account: {:?}, {} load(s)",
            started.elapsed(),
            figures.store_loads()
        );
        assert_eq!(figures.store_loads(), 1, "one load for all ten");
        // Stale after STORE_VIEW_FRESH: the next read loads again.
        tokio::time::sleep(STORE_VIEW_FRESH).await;
        figures.read(Scope::All, |_| ()).await.unwrap();
        assert_eq!(figures.store_loads(), 2);

        // A load slower than the freshness (here 1 ms) is still shared by
        // the requests that came while it ran.
        let mut quick = figures.clone();
        quick.fresh = std::time::Duration::from_millis(1);
        quick.everyone = Arc::default();
        quick.loads = Arc::default();
        let reads: Vec<_> = (0..10)
            .map(|_| {
                let f = quick.clone();
                tokio::spawn(async move { f.read(Scope::All, |e| e.set().len()).await.unwrap() })
            })
            .collect();
        for r in reads {
            assert_eq!(r.await.unwrap(), 2_000);
        }
        assert_eq!(
            quick.store_loads(),
            1,
            "waiting for a slow load is sharing it"
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
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
