//! Bearer tokens (SPEC §6): `/v1`, `/` and `/accounts/…` take `--api-token`
//! or a `--tokens` token (scoped to accounts); `/metrics` its own
//! `--metrics-token`. Compared in constant time, 401 without.

use super::AppState;
use super::error::ApiError;
use crate::access::Access;
use crate::secret::Secret;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware of `/v1`, `/` and `/accounts/…` (SPEC §6): with no token
/// configured everyone passes with access to every account; otherwise the
/// presented token must be `--api-token` or one of `--tokens`, and its
/// [`Access`] (name and accounts) goes with the request to the handler.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let book = state.tokens.book();
    if book.is_empty() {
        request.extensions_mut().insert(Access::open());
        return next.run(request).await;
    }
    match bearer(&request).and_then(|p| book.lookup(p)) {
        Some(access) => {
            if request.method() != axum::http::Method::GET {
                // SPEC §6: the log names the token's name for each write.
                tracing::info!(token = access.name.as_deref().unwrap_or(""), method = %request.method(), path = %request.uri().path(), "write");
            }
            request.extensions_mut().insert(access);
            next.run(request).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Middleware of `/metrics`, which has its own token (SPEC §6).
pub async fn require_metrics_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    check(state.config.metrics.metrics_token.as_ref(), request, next).await
}

async fn check(token: Option<&Secret>, request: Request, next: Next) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    match bearer(&request) {
        Some(p) if token.matches(p.as_bytes()) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}
