//! The HTTP API of SPEC §6 on axum: the shared [`AppState`] and the
//! [`router`]. Handlers parse and validate at the boundary, then call the
//! ingestion queue or the pure core; no SQL here.

mod auth;
mod body;
mod calendar;
mod charts;
mod error;
mod events;
mod extract;
mod health;
mod metrics;
pub mod openapi;
mod page;
mod reports;
mod schema;
mod server;
pub(crate) mod stats;
mod webhooks;

pub use error::{ApiError, ApiResult};
pub use server::{ServerLimits, serve};

use crate::config::ServeConfig;
use crate::service::figures::{Figures, FiguresError, Scope};
use crate::service::sink::EventSink;
use crate::store::Store;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// What every handler can reach. Events go in through `sink`, figures
/// come out through `figures`: a handler never knows whether it runs on a
/// cluster node.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServeConfig>,
    pub store: Store,
    /// One way in for events: the local queue or the cluster's log.
    pub sink: Arc<dyn EventSink>,
    /// One way to read figures: live engine or store, on the blocking pool.
    pub figures: Figures,
    pub calendars: Arc<crate::service::calendars::Calendars>,
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// `--api-token` and `--tokens`: who reaches which accounts.
    pub tokens: Arc<crate::access::Tokens>,
    /// Set when this node is part of a cluster (`serve --nats`): only the
    /// cluster's own endpoints (`/v1/cluster`, `/v1/dead-letters`) use it.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

impl AppState {
    /// 403 unless `access` reaches `account` (SPEC §6).
    pub fn check_account(access: &crate::access::Access, account: &str) -> ApiResult<()> {
        match access.allows(account) {
            true => Ok(()),
            false => Err(ApiError::forbidden_account()),
        }
    }

    /// 503 until the stored events are loaded.
    pub fn require_ready(&self) -> ApiResult<()> {
        match self.figures.is_ready() {
            true => Ok(()),
            false => Err(FiguresError::Loading.into()),
        }
    }

    /// Stores a validated batch through the sink (errors are 503s with
    /// Retry-After, or 422 for content the database refuses).
    pub async fn ingest_events(
        &self,
        events: Vec<crate::domain::MessageEvent>,
    ) -> ApiResult<crate::store::InsertOutcome> {
        Ok(self.sink.submit(events).await?)
    }

    /// [`AppState::ingest_events`], answering once the events show in
    /// every node's figures (`?wait=visible`).
    pub async fn ingest_events_visible(
        &self,
        events: Vec<crate::domain::MessageEvent>,
    ) -> ApiResult<crate::store::InsertOutcome> {
        Ok(self.sink.submit_visible(events).await?)
    }

    /// Runs `f` over an engine that holds `scope`'s accounts.
    pub async fn read<R: Send + 'static>(
        &self,
        scope: Scope<'_>,
        f: impl FnOnce(&crate::engine::Engine) -> R + Send + 'static,
    ) -> ApiResult<R> {
        Ok(self.figures.read(scope, f).await?)
    }
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/events", post(events::post_events))
        .route("/v1/stats", get(stats::get_stats))
        .route("/v1/requests", get(stats::get_requests))
        .route("/v1/cluster", get(health::cluster))
        .route("/v1/dead-letters", get(health::dead_letters))
        .route("/v1/charts/{name}", get(charts::get_chart))
        .route("/v1/series", get(charts::get_series))
        .route("/v1/reports", get(reports::list_reports))
        .route(
            "/v1/reports/{run}/{folder}/{file}",
            get(reports::get_report_file),
        )
        .route("/", get(page::overview))
        .route("/accounts/{account}", get(page::account))
        .route("/accounts/{account}/requests", get(page::requests))
        .route(
            "/v1/accounts/{account}/calendar",
            get(calendar::get_calendar).put(calendar::put_calendar),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .merge(v1)
        .route(
            "/metrics",
            get(metrics::get_metrics).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::require_metrics_token,
            )),
        )
        .route(
            "/webhooks/meta",
            get(webhooks::verify).post(webhooks::receive),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}

/// Gives every request an id: in the `x-request-id` response header and
/// on every log line written while it is handled, so an error answer (whose
/// body never holds internal causes) can be matched with its log.
async fn request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::Instrument;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Random-looking and unique within the process: a fresh SipHash key
    // (seeded by the OS) over a counter.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!(
        "{:016x}",
        std::collections::hash_map::RandomState::new().hash_one(n)
    );
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
