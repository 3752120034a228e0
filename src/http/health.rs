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
        events: state.figures.live_events() as u64,
    })
}

/// The database answers and the state is loaded: traffic may be sent.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Loading the state, or the database does not answer", body = Health),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let events = state.figures.live_events() as u64;
    let not_ready = |status: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status, events }),
        )
    };
    if !state.figures.is_ready() {
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
        // The cause is logged; a client only learns that the database failed.
        Ok(Err(e)) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "readiness: the database did not answer"
            );
            not_ready("database: not answering; see the server log".into())
        }
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

/// `GET /v1/dead-letters`'s query.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// At most this many, newest first (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The newest cluster messages set aside as undecodable or refused by the
/// database (`serve --nats`): counted in `replywatch_dead_letters_total`,
/// kept 30 days in the JetStream stream `REPLYWATCH_DEAD`.
#[utoipa::path(get, path = "/v1/dead-letters", tag = "health",
    params(DeadLetterQuery),
    responses(
        (status = 200, description = "The newest dead letters", body = Vec<crate::cluster::DeadLetter>),
        (status = 400, description = "A bad query parameter, named", body = super::error::ErrorBody),
        (status = 404, description = "Not a cluster node: a single node answers a refused batch 422 at once", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn dead_letters(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    super::extract::Params(q): super::extract::Params<DeadLetterQuery>,
) -> super::ApiResult<Json<Vec<crate::cluster::DeadLetter>>> {
    // Dead letters hold any account's events: for all-accounts tokens only.
    if !access.is_all() {
        return Err(super::ApiError::forbidden_account());
    }
    let Some(cluster) = &state.cluster else {
        return Err(super::ApiError::NotConfigured(
            "no dead letters on a single node: a batch the database refuses is answered 422 to its sender".into(),
        ));
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(super::ApiError::bad_parameter("limit", "must be 1 to 1000"));
    }
    match cluster.dead_letters(limit).await {
        Ok(list) => Ok(Json(list)),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "listing dead letters failed");
            Err(super::ApiError::unavailable(
                "the event log (NATS JetStream) did not answer; retry",
                super::error::RETRY_LATER_S,
            ))
        }
    }
}
