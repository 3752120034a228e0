//! The optional bearer token of the `/v1` routes (SPEC §6): compared in
//! constant time, 401 without it.

use super::AppState;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use crate::secret::Secret;


/// Middleware of `/v1`: lets the request through when no API token is
/// configured or the right one is presented.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    check(state.config.api_token.as_ref(), request, next).await
}

/// Middleware of `/metrics`, which has its own token (SPEC §6).
pub async fn require_metrics_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    check(state.config.metrics_token.as_ref(), request, next).await
}

async fn check(token: Option<&Secret>, request: Request, next: Next) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if token.matches(p.as_bytes()) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

