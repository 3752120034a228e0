//! `GET` and `POST /webhooks/meta` (SPEC §7): the subscription handshake,
//! and deliveries verified by signature before anything is parsed, mapped
//! to events and stored like `POST /v1/events`; 200 only after the commit,
//! because Meta retries otherwise.

use super::AppState;
use super::body::read_body;
use super::error::{ApiError, ApiResult};
use crate::webhooks::meta::{map_payload, signature_matches};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    pub mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

/// Meta's subscription handshake: the challenge, verbatim, for the right token.
#[utoipa::path(get, path = "/webhooks/meta", tag = "webhooks", params(Handshake),
    responses(
        (status = 200, description = "hub.challenge, verbatim", content_type = "text/plain", body = String),
        (status = 403, description = "Wrong mode or verify token, or none configured", body = super::error::ErrorBody),
    ))]
pub async fn verify(State(state): State<AppState>, uri: Uri) -> Response {
    let forbidden = || {
        (
            StatusCode::FORBIDDEN,
            Json(super::error::ErrorBody {
                error: super::error::ErrorContent {
                    message: "hub.mode must be subscribe and hub.verify_token must match --meta-verify-token".into(),
                    details: Vec::new(),
                },
            }),
        )
            .into_response()
    };
    let Ok(q) = axum::extract::Query::<Handshake>::try_from_uri(&uri) else {
        return forbidden();
    };
    // Both sides non-empty: a `Secret` is never empty, and an empty
    // presented token never matches (issue 15).
    let expected = state.config.meta.meta_verify_token.as_ref();
    let token_ok = match (expected, q.verify_token.as_deref()) {
        (Some(e), Some(t)) if !t.is_empty() => e.matches(t.as_bytes()),
        _ => false,
    };
    match (q.mode.as_deref(), token_ok, q.challenge.clone()) {
        (Some("subscribe"), true, Some(challenge)) => (
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            challenge,
        )
            .into_response(),
        _ => forbidden(),
    }
}

/// What a delivery held.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    /// Items acknowledged without an event (reads, deliveries, reactions…).
    pub ignored: u64,
    /// Message items that could not become valid events.
    pub invalid: u64,
}

/// A Meta delivery: signature first, then mapping and storage.
#[utoipa::path(post, path = "/webhooks/meta", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "Meta's webhook payload, signed with X-Hub-Signature-256"),
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body with the app secret>")),
    responses(
        (status = 200, description = "Stored (or acknowledged and ignored)", body = WebhookOutcome),
        (status = 400, description = "Signed, but not JSON", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = super::error::ErrorBody),
        (status = 404, description = "Meta webhooks are off (no --meta-app-secret)", body = super::error::ErrorBody),
        (status = 413, description = "Body larger than the limit", body = super::error::ErrorBody),
        (status = 503, description = "Loading, queue full or database unavailable; Meta retries", body = super::error::ErrorBody),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<WebhookOutcome>> {
    if state.config.meta.meta_app_secret.is_empty() {
        return Err(ApiError::NotConfigured(
            "Meta webhooks are off: start replywatch with --meta-app-secret".into(),
        ));
    }
    let bytes = read_body(
        &headers,
        body,
        state.config.ingestion.max_body_bytes,
        state.config.limits.body_timeout(),
    )
    .await?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    // SPEC §7: verified before parsing; nothing stored on a mismatch.
    if !signature_matches(signature, &bytes, &state.config.meta.meta_app_secret) {
        state.metrics.rejected("bad_signature", 1);
        return Err(ApiError::Unauthorized);
    }
    state.require_ready()?;
    let payload: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let mapped = map_payload(&payload, &state.config.meta.apps());
    if mapped.unsupported_object {
        state.metrics.rejected("unsupported_object", 1);
    }
    if !mapped.invalid.is_empty() {
        state
            .metrics
            .rejected("invalid", mapped.invalid.len() as u64);
        tracing::warn!(problems = ?mapped.invalid, "Meta webhook items that are not valid events were skipped");
    }
    let mut outcome = WebhookOutcome {
        accepted: 0,
        duplicates: 0,
        conflicts: 0,
        ignored: mapped.ignored,
        invalid: mapped.invalid.len() as u64,
    };
    if mapped.events.is_empty() {
        return Ok(Json(outcome));
    }
    // Meta retries a delivery that did not get a 200.
    let stored = state.ingest_events(mapped.events).await?;
    outcome.accepted = stored.accepted;
    outcome.duplicates = stored.duplicates;
    outcome.conflicts = stored.conflicts;
    Ok(Json(outcome))
}
