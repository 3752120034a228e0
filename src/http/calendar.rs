//! `GET`/`PUT /v1/accounts/{account}/calendar`: one account's business
//! hours (SPEC §3's JSON form), validated before anything is stored (400
//! naming the bad part), kept in the store, in force at once.

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use crate::domain::{AccountId, Calendar};
use crate::service::calendars::Source;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

/// One account's business hours (SPEC §3). Intervals of a day must not
/// overlap and must end after they start; `"24:00"` ends a day.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the wire format only; parsing is in `domain::calendar`
pub struct CalendarDoc {
    /// IANA time zone, e.g. `Europe/Berlin`.
    timezone: String,
    /// Opening intervals per day (`mon` … `sun`), local `HH:MM` pairs (at most 48 a day).
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<[String; 2]>>>)]
    weekly: Option<()>,
    /// Closed local dates, `YYYY-MM-DD` (at most 1,000).
    #[schema(max_items = 1000)]
    holidays: Option<Vec<String>>,
}

/// An account's calendar and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountCalendar {
    pub account: String,
    pub source: Source,
    /// `{"timezone": IANA zone, "weekly": {"mon": [["09:00","17:00"]], …}, "holidays": ["2026-12-25"]}`
    #[schema(value_type = Object)]
    pub calendar: serde_json::Value,
}

fn account_param(account: &str) -> ApiResult<()> {
    AccountId::parse(account)
        .map(drop)
        .map_err(|e| ApiError::bad_parameter("account", e))
}

/// The calendar in force for an account.
#[utoipa::path(get, path = "/v1/accounts/{account}/calendar", tag = "calendars",
    params(("account" = String, Path, pattern = r"^[^\u0000-\u001F\u007F]{1,256}$", description = "The business account")),
    responses(
        (status = 200, description = "The account's calendar", body = AccountCalendar),
        (status = 400, description = "Bad account", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 404, description = "The account keeps calendar time", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn get_calendar(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Path(account): Path<String>,
) -> ApiResult<Json<AccountCalendar>> {
    account_param(&account)?;
    AppState::check_account(&access, &account)?;
    match state.calendars.get(&account) {
        Some((source, calendar)) => Ok(Json(AccountCalendar {
            account,
            source,
            calendar,
        })),
        None => Err(ApiError::NotConfigured(format!(
            "account {account:?} has no calendar: its durations are in calendar time"
        ))),
    }
}

/// A calendar is a few hundred bytes; 256 KiB holds the largest one the
/// limits of `domain::calendar` allow.
const MAX_CALENDAR_BYTES: usize = 256 * 1024;

/// Sets an account's business hours.
#[utoipa::path(put, path = "/v1/accounts/{account}/calendar", tag = "calendars",
    params(("account" = String, Path, pattern = r"^[^\u0000-\u001F\u007F]{1,256}$", description = "The business account")),
    request_body(content = CalendarDoc, content_type = "application/json",
        description = "SPEC §3: {\"timezone\": \"Europe/Berlin\", \"weekly\": {\"mon\": [[\"09:00\",\"12:00\"],[\"13:00\",\"18:00\"]]}, \"holidays\": [\"2026-12-25\"]}"),
    responses(
        (status = 200, description = "Stored and in force", body = AccountCalendar),
        (status = 400, description = "Invalid calendar, the bad part named", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 413, description = "Body larger than the limit", body = super::error::ErrorBody),
        (status = 503, description = "Database unavailable", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn put_calendar(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<AccountCalendar>> {
    account_param(&account)?;
    AppState::check_account(&access, &account)?;
    let bytes = super::body::read_body(
        &headers,
        body,
        MAX_CALENDAR_BYTES,
        state.config.limits.body_timeout(),
    )
    .await?;
    let json = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_request("the calendar is not UTF-8 JSON"))?;
    let calendar = Calendar::from_json(json, "calendar").map_err(|e| ApiError::BadRequest {
        message: e.to_string(),
        details: vec![Problem {
            index: None,
            line: None,
            field: Some(e.path.clone()),
            reason: e.reason.clone(),
        }],
    })?;
    let raw: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    if let Err(e) = state
        .store
        .put_calendar(
            &account,
            json,
            crate::domain::Timestamp::from_datetime(chrono::Utc::now()),
        )
        .await
    {
        tracing::error!(error = format!("{e:#}"), "calendar not stored");
        return Err(ApiError::unavailable(
            "the database did not store the calendar; retry",
            super::error::RETRY_STOPPING_S,
        ));
    }
    state.calendars.set(&account, calendar, raw.clone());
    Ok(Json(AccountCalendar {
        account,
        source: Source::Api,
        calendar: raw,
    }))
}
