//! The one error type of the HTTP layer. Every failure answers
//! `{"error":{"message":…,"details":[…]}}` with a precise status (SPEC §6);
//! internal causes are logged once here and never shown to clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body of every route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorContent,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorContent {
    /// What went wrong, in one sentence.
    pub message: String,
    /// Every problem found, when there are several (400 on a batch: one per bad field).
    pub details: Vec<Problem>,
}

/// One problem of a request: where and what.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// 0-based position of the event in the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// 1-based line of an NDJSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The event field, or query parameter, that is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub reason: String,
}

/// An error answer of the API.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is wrong; nothing was stored.
    BadRequest {
        message: String,
        details: Vec<Problem>,
    },
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 403: the token does not reach this account (SPEC §6).
    Forbidden {
        message: String,
        details: Vec<Problem>,
    },
    /// 404: no such route.
    NotFound,
    /// 404: a feature that is not configured.
    NotConfigured(String),
    /// 405: the route exists with other methods.
    MethodNotAllowed,
    /// 413: the body or the batch is larger than allowed.
    TooLarge(String),
    /// 408: the body did not arrive in time.
    Timeout(String),
    /// 422: well-formed, but the database refused the content.
    Unprocessable(String),
    /// 415: not a content type the route reads.
    UnsupportedMediaType(String),
    /// 503 with Retry-After: try again later (queue full, state loading, database down).
    Unavailable { message: String, retry_after_s: u32 },
    /// 500: a bug or an unexpected failure; the cause is logged.
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// 403 for one account outside the caller's token.
    pub fn forbidden_account() -> Self {
        ApiError::Forbidden {
            message: "this token does not reach that account".into(),
            details: Vec::new(),
        }
    }

    /// A bad query parameter, named.
    pub fn bad_parameter(name: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        ApiError::BadRequest {
            message: format!("query parameter {name:?}: {reason}"),
            details: vec![Problem {
                index: None,
                line: None,
                field: Some(name.to_string()),
                reason,
            }],
        }
    }
}

/// Retry-After of a 503 that a moment fixes (a full queue, a log that did
/// not ack), of one that takes a few seconds (loading, a database or an
/// event log that did not answer), and of a stopping service or a database
/// that failed a write.
pub const RETRY_SOON_S: u32 = 1;
pub const RETRY_LATER_S: u32 = 2;
pub const RETRY_STOPPING_S: u32 = 5;

impl ApiError {
    /// 503 with a Retry-After.
    pub fn unavailable(message: impl Into<String>, retry_after_s: u32) -> Self {
        ApiError::Unavailable {
            message: message.into(),
            retry_after_s,
        }
    }
}

/// The sink's refusals: 503 for what sending again may fix, 422 for
/// content the database refuses. Causes are logged (with the request id),
/// never shown: they may quote the database.
impl From<crate::service::sink::SinkError> for ApiError {
    fn from(e: crate::service::sink::SinkError) -> Self {
        use crate::service::sink::SinkError;
        match e {
            SinkError::QueueFull => ApiError::unavailable(
                "the ingestion queue is full; retry the same batch after Retry-After seconds",
                RETRY_SOON_S,
            ),
            SinkError::Stopped => ApiError::unavailable(
                "the service is shutting down; retry the same batch",
                RETRY_STOPPING_S,
            ),
            SinkError::Refused(e) => {
                tracing::warn!(error = format!("{e:#}"), "batch refused by the database");
                ApiError::Unprocessable(
                    "the database refused this batch's content; nothing of it was stored, and sending it again will fail again".into(),
                )
            }
            SinkError::Store(e) => {
                tracing::error!(error = format!("{e:#}"), "batch not stored");
                ApiError::unavailable(
                    "the database did not store the batch; nothing of it was stored, retry it",
                    RETRY_STOPPING_S,
                )
            }
            SinkError::NotVisible(e) => ApiError::unavailable(
                format!("{e}; re-sending the same batch is safe (nothing is stored twice)"),
                RETRY_SOON_S,
            ),
            // Only a cluster owner's own commits carry an epoch; HTTP never
            // sees this, but it is an outage for the caller, not its fault.
            SinkError::Fenced(e) => {
                ApiError::unavailable(format!("{e}; retry the same batch"), RETRY_SOON_S)
            }
            SinkError::Log(e) => {
                tracing::warn!(error = %e, "batch not published");
                ApiError::unavailable(
                    format!("{e}; retry the same batch after Retry-After seconds"),
                    RETRY_SOON_S,
                )
            }
        }
    }
}

/// Figures that cannot be read: 503 while loading or when the database
/// does not answer (the cause logged), 500 for a failed computation.
impl From<crate::service::figures::FiguresError> for ApiError {
    fn from(e: crate::service::figures::FiguresError) -> Self {
        use crate::service::figures::FiguresError;
        match e {
            FiguresError::Loading => {
                ApiError::unavailable("loading the stored events; retry shortly", RETRY_LATER_S)
            }
            FiguresError::Store(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "loading events for figures failed"
                );
                ApiError::unavailable(
                    "the database did not answer; retry (the server log has the cause under this response's x-request-id)",
                    RETRY_LATER_S,
                )
            }
            FiguresError::Failed(e) => ApiError::Internal(anyhow::anyhow!(e)),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message, details, retry_after) = match self {
            ApiError::BadRequest { message, details } => {
                (StatusCode::BAD_REQUEST, message, details, None)
            }
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer <token>)".into(),
                Vec::new(),
                None,
            ),
            ApiError::Forbidden { message, details } => {
                (StatusCode::FORBIDDEN, message, details, None)
            }
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "no such route; see GET /openapi.json".into(),
                Vec::new(),
                None,
            ),
            ApiError::NotConfigured(m) => (StatusCode::NOT_FOUND, m, Vec::new(), None),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route; see GET /openapi.json".into(),
                Vec::new(),
                None,
            ),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m, Vec::new(), None),
            ApiError::Timeout(m) => (StatusCode::REQUEST_TIMEOUT, m, Vec::new(), None),
            ApiError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m, Vec::new(), None),
            ApiError::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, m, Vec::new(), None)
            }
            ApiError::Unavailable {
                message,
                retry_after_s,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                message,
                Vec::new(),
                Some(retry_after_s),
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server log has the cause under this response's x-request-id".into(),
                    Vec::new(),
                    None,
                )
            }
        };
        let body = ErrorBody {
            error: ErrorContent { message, details },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(s) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `Result` of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
