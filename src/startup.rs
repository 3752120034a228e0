//! Builds and runs the service: opens and migrates the store, binds the
//! listener, loads the stored events into the live state in the background
//! (`/readyz` says when), starts the ingestion worker and retention, and on
//! the stop signal stops accepting, drains the queue, commits and closes.

use crate::config::{Retention, ServeConfig};
use crate::domain::ReplyPolicy;
use crate::engine::Engine;
use crate::http::{AppState, router};
use crate::service::calendars::Calendars;
use crate::service::figures::{Figures, Ownership, Scope};
use crate::service::ingest::IngestQueue;
use crate::service::live::LiveState;
use crate::service::retention;
use crate::service::sink::EventSink;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A built service, listening, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    worker: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    /// The cluster coordinator (`--nats`): not aborted at shutdown but asked
    /// to hand its partitions back.
    coordinator: Option<JoinHandle<()>>,
}

impl Application {
    pub async fn build(config: ServeConfig) -> anyhow::Result<Application> {
        config.validate()?;
        let store = Store::connect(&config.database_url).await?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "database migrated");
        }
        let stored = store.load_calendars().await?;
        let calendars = Arc::new(Calendars::load(config.calendar.clone(), stored)?);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let policy = ReplyPolicy::operational(config.bots_count_as_replies);
        let live = Arc::new(LiveState::new(policy));
        let metrics = Arc::new(
            Metrics::with_agents(
                config.metrics.metrics_windows.clone(),
                config.metrics.max_series_accounts,
                config
                    .metrics
                    .agent_metrics
                    .then_some(config.metrics.max_series_agents),
            )?
            .with_max_series(config.metrics.max_series),
        );
        let (ingest, worker) = IngestQueue::start(
            store.clone(),
            live.clone(),
            metrics.clone(),
            config.ingestion.queue_events,
            config.ingestion.group_events,
            config.limits.db_timeout(),
        );
        let mut background = Vec::new();
        if let Some(path) = &config.slo {
            let file = Arc::new(crate::slo::ObjectivesFile::load(path.clone())?);
            metrics.set_objectives(file.current());
            let m = metrics.clone();
            background.push(tokio::spawn(crate::slo::watch(
                file,
                Duration::from_secs(2),
                move |objectives| m.set_objectives(objectives),
            )));
        }
        let cluster = match config.cluster.nats {
            None => {
                background.push(tokio::spawn(load_live_state(store.clone(), live.clone())));
                None
            }
            Some(_) => {
                anyhow::ensure!(
                    matches!(store, Store::Postgres(_)),
                    "--nats needs a postgres:// --database-url: every node of a cluster stores into the same database"
                );
                // Ready at once: the events of each partition are loaded
                // when this node takes the partition's lease.
                live.load(Engine::from_set(crate::domain::EventSet::new(), policy));
                background.push(tokio::spawn(crate::service::calendars::sync_from_store(
                    calendars.clone(),
                    store.clone(),
                    Duration::from_secs(5),
                )));
                let (cluster, coordinator) = crate::cluster::Cluster::start(
                    &config.cluster,
                    store.clone(),
                    live.clone(),
                    ingest.clone(),
                    metrics.clone(),
                )
                .await?;
                Some((cluster, coordinator))
            }
        };
        let (cluster, coordinator) = cluster.unzip();
        // The two seams: events in through the cluster's log or the local
        // queue; figures out of the live engine, or the store for accounts
        // another node serves.
        let (sink, owner): (Arc<dyn EventSink>, Option<Arc<dyn Ownership>>) = match &cluster {
            Some(c) => (c.clone(), Some(c.clone())),
            None => (Arc::new(ingest), None),
        };
        let figures = Figures::new(live.clone(), store.clone(), owner);
        if let Retention::Keep(keep) = config.retention.retention {
            let every =
                Duration::from_micros(config.retention.retention_interval.0.max(1_000_000) as u64);
            // A cluster node prunes the partitions it serves (see `retention`).
            let scope = cluster
                .clone()
                .map(|c| c as Arc<dyn retention::RetentionScope>);
            background.push(tokio::spawn(retention::run_forever(
                store.clone(),
                live.clone(),
                keep,
                every,
                scope,
            )));
        }
        background.push(tokio::spawn(crate::service::calendars::watch(
            calendars.clone(),
            Duration::from_secs(5),
        )));
        background.push(tokio::spawn(refresh_metrics(
            figures.clone(),
            metrics.clone(),
            calendars.clone(),
            Duration::from_micros(config.metrics.metrics_refresh.0.max(100_000) as u64),
        )));
        #[cfg(feature = "reports")]
        for schedule in crate::reports::schedule::parse_all(&config.scheduled.reports)? {
            background.push(tokio::spawn(crate::reports::schedule::run_forever(
                figures.clone(),
                schedule,
                config.scheduled.reports_dir.clone(),
                config.scheduled.reports_keep as usize,
                calendars.clone(),
                crate::reports::delivery::Delivery {
                    smtp: config.scheduled.report_smtp.clone(),
                    mail_from: config.scheduled.report_mail_from.clone(),
                    mail_to: config.scheduled.report_mail_to.clone(),
                    webhook: config.scheduled.report_webhook.clone(),
                    tls_ca: config.scheduled.report_tls_ca.clone(),
                },
                // On a cluster the nodes claim each due run in the store:
                // one writes and delivers it (every account).
                cluster
                    .as_ref()
                    .map(|c| crate::reports::schedule::SharedRuns {
                        store: store.clone(),
                        node: c.node().to_string(),
                    }),
            )));
        }
        let tokens = Arc::new(crate::access::Tokens::load(
            config.tokens.clone(),
            config.api_token.clone(),
        )?);
        background.push(tokio::spawn(crate::access::watch(
            tokens.clone(),
            Duration::from_secs(2),
        )));
        let state = AppState {
            tokens,
            config: Arc::new(config),
            figures: figures.clone(),
            store,
            sink,
            calendars,
            metrics,
            cluster,
        };
        Ok(Application {
            listener,
            state,
            worker,
            background,
            coordinator,
        })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `stop` resolves, then shuts down gracefully: in-flight
    /// requests finish, every queued batch is committed, the store is closed.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            worker,
            background,
            coordinator,
        } = self;
        let store = state.store.clone();
        let cluster = state.cluster.clone();
        tracing::info!(addr = %listener.local_addr()?, "replywatch serving");
        let limits = crate::http::ServerLimits::of(&state.config.limits);
        let served = crate::http::serve(listener, router(state), limits, stop).await;
        // A cluster node hands its partitions over (each finishes and
        // acknowledges its current pull) and drops its queue senders.
        if let (Some(cluster), Some(coordinator)) = (cluster, coordinator) {
            cluster.leave().await;
            let _ = coordinator.await;
        }
        // The router and its queue senders are gone: the worker drains and ends.
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "ingestion worker failed");
        }
        for task in background {
            task.abort();
        }
        store.close().await;
        tracing::info!("stopped");
        served.context("serving HTTP")
    }
}

/// Loads every stored event into the live state, retrying while the
/// database is unavailable.
async fn load_live_state(store: Store, live: Arc<LiveState>) {
    loop {
        let started = std::time::Instant::now();
        match store.load_events().await {
            Ok(set) => {
                let events = set.len();
                let policy = live.policy();
                let engine = match tokio::task::spawn_blocking(move || {
                    Engine::from_set(set, policy)
                })
                .await
                {
                    Ok(engine) => engine,
                    Err(e) => {
                        tracing::error!(error = %e, "building the engine failed");
                        return;
                    }
                };
                live.load(engine);
                tracing::info!(
                    events,
                    seconds = started.elapsed().as_secs_f64(),
                    "stored events loaded; ready"
                );
                return;
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "loading stored events failed; retrying in 5 s"
                );
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Recomputes the figure gauges of /metrics every `every`, at the current
/// instant, so that time moves them even without events.
async fn refresh_metrics(
    figures: Figures,
    metrics: Arc<Metrics>,
    calendars: Arc<Calendars>,
    every: Duration,
) {
    loop {
        if figures.is_ready() {
            let metrics = metrics.clone();
            let book = calendars.book();
            let now = crate::domain::Timestamp::from_datetime(chrono::Utc::now());
            // What this node holds: each node exports the accounts it owns.
            let done = figures
                .read(Scope::Local, move |engine| {
                    metrics.refresh(engine, now, &book)
                })
                .await;
            match done {
                Ok(took) => tracing::debug!(ms = took.as_secs_f64() * 1e3, "metrics refreshed"),
                Err(e) => tracing::error!(error = %e, "refreshing metrics failed"),
            }
        }
        tokio::time::sleep(every).await;
    }
}
