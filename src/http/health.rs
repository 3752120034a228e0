//! `GET /healthz` (the process answers) and `GET /readyz` (the database
//! answers and the state is loaded). Neither needs a token (SPEC §6).

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or what is not ready yet.
    pub status: String,
    /// Events held by the live state.
    pub events: u64,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        events: state.live.len() as u64,
    })
}

/// The database answers and the state is loaded: traffic may be sent.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Loading the state, or the database does not answer", body = Health),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let events = state.live.len() as u64;
    let not_ready = |status: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status, events }),
        )
    };
    if !state.live.is_ready() {
        return not_ready("loading the stored events".into());
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
                events,
            }),
        ),
        Ok(Err(e)) => not_ready(format!("database: {e:#}")),
        Err(_) => not_ready("database: no answer within 2 s".into()),
    }
}

/// This node's view of the cluster (`serve --nats`): live nodes, the
/// partitions it owns and serves, and the messages not yet committed.
#[utoipa::path(get, path = "/v1/cluster", tag = "health",
    responses(
        (status = 200, description = "This node's view of the cluster", body = crate::cluster::ClusterStatus),
        (status = 404, description = "Not a cluster node (no --nats)", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn cluster(
    State(state): State<AppState>,
) -> super::ApiResult<Json<crate::cluster::ClusterStatus>> {
    match &state.cluster {
        Some(cluster) => Ok(Json(cluster.status().await)),
        None => Err(super::ApiError::NotFound),
    }
}
