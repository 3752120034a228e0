//! `GET /metrics`: the Prometheus text exposition (SPEC §5), computed from
//! the engine at the instant of the scrape, off the async threads.

use super::AppState;
use crate::domain::Timestamp;
use crate::service::figures::Scope;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric of SPEC §5. The figure gauges are those of the last refresh
/// (`--metrics-refresh`, instant in `replywatch_metrics_computed_timestamp_seconds`);
/// the counters are current.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 401, description = "Missing or wrong metrics token", body = super::error::ErrorBody),
        (status = 503, description = "State still loading", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    if let Err(e) = state.require_ready() {
        return e.into_response();
    }
    if let Some(text) = state.metrics.scrape() {
        return ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response();
    }
    // No refresh yet (just started): compute now, over what this node
    // holds (each node exports the accounts it owns).
    let metrics = state.metrics.clone();
    let book = state.calendars.book();
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let computed = state
        .read(Scope::Local, move |engine| {
            metrics.refresh(engine, now, &book);
            metrics.scrape().unwrap_or_default()
        })
        .await;
    match computed {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => e.into_response(),
    }
}
