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

/// Which figures a request asks for: the instant, the window and the
/// groups (`/v1/stats`, `/v1/requests`, the charts). Parsed from the same
/// query string as each route's own parameters.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Selection {
    /// Evaluation instant, RFC 3339 within 1970 … 9999 (default: now).
    #[param(format = DateTime, pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-")]
    pub as_of: Option<String>,
    /// Window length: requests opened in [as_of − window, as_of) count, e.g. `24h`, `7d`, `90m` (default 7d).
    #[param(pattern = r"^([1-9][0-9]{0,5}[smhdw]){1,3}$")]
    pub window: Option<String>,
    /// Only this account (required by the charts).
    pub account: Option<String>,
    /// Only this channel (`all`: the per-account totals).
    pub channel: Option<String>,
}

/// The window when none is asked for.
pub const DEFAULT_WINDOW: &str = "7d";

impl Selection {
    /// 403 unless `access` reaches the account asked for (SPEC §6), then
    /// the instant and the window, parsed.
    pub fn checked(&self, access: &crate::access::Access) -> ApiResult<(Timestamp, Micros)> {
        if let Some(a) = &self.account {
            super::AppState::check_account(access, a)?;
        }
        self.instant_and_window()
    }

    /// The evaluation instant and the window, parsed (400 naming the parameter).
    pub fn instant_and_window(&self) -> ApiResult<(Timestamp, Micros)> {
        Ok((
            as_of_param(self.as_of.as_deref())?,
            duration_param("window", self.window.as_deref().unwrap_or(DEFAULT_WINDOW))?,
        ))
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

/// `order` and `cursor` of a listing of accounts (`/v1/stats`, the page):
/// the order asked for (else `default`), unless a cursor is given — the
/// listing then goes on in the cursor's own order. 400 naming the bad one.
pub fn order_and_cursor(
    order: Option<&str>,
    cursor: Option<&str>,
    default: domain::listing::Order,
) -> ApiResult<(domain::listing::Order, Option<domain::listing::Cursor>)> {
    use domain::listing::{Cursor, Order};
    let asked = match order {
        None => default,
        Some(o) => Order::parse(o).map_err(|e| ApiError::bad_parameter("order", e))?,
    };
    match cursor {
        None => Ok((asked, None)),
        Some(c) => {
            let (own, cursor) =
                Cursor::decode(c).map_err(|e| ApiError::bad_parameter("cursor", e))?;
            Ok((own, Some(cursor)))
        }
    }
}
