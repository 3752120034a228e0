//! What handlers take from a request besides the state: the query string
//! as a typed struct ([`Params`], whose rejection is the API's own 400),
//! and the shared parameter parsers (`as_of`, durations such as `window`).
//! No handler parses a URI by hand.

use super::error::{ApiError, ApiResult};
use crate::domain::{self, Micros, Timestamp};
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

/// The query string, parsed into `T`; a malformed one is a 400 naming
/// what is wrong (never axum's plain-text rejection).
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
    }
}

/// `as_of`: an RFC 3339 instant, now when absent.
pub fn as_of_param(value: Option<&str>) -> ApiResult<Timestamp> {
    match value {
        None => Ok(Timestamp::from_datetime(chrono::Utc::now())),
        Some(s) => domain::parse_rfc3339(s).ok_or_else(|| {
            ApiError::bad_parameter(
                "as_of",
                format!("expected an RFC 3339 timestamp with offset, e.g. 2026-11-02T00:00:00Z, got {s:?}"),
            )
        }),
    }
}

/// A positive duration (`window`, `breached_after`).
pub fn duration_param(name: &str, value: &str) -> ApiResult<Micros> {
    match domain::parse_duration(value) {
        Ok(d) if d.0 > 0 => Ok(d),
        Ok(_) => Err(ApiError::bad_parameter(name, "must be longer than 0s")),
        Err(e) => Err(ApiError::bad_parameter(name, e.to_string())),
    }
}
