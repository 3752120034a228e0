//! `GET /v1/charts/{name}.png` (SPEC §6): one group's chart, computed from
//! the engine's requests and rendered off the async threads; and
//! `GET /v1/series`, the same daily series as JSON (each day with `final`).

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Params, Selection};
use crate::domain::daily::series;
use crate::domain::{ALL_CHANNELS, Micros, Request, Timestamp};
use crate::engine::Engine;
use crate::reports::charts::{Chart, render};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// IANA zone for days and hours (default: the account's calendar zone, else UTC).
    #[param(value_type = Option<super::schema::IanaZone>, inline)]
    pub timezone: Option<String>,
}

/// The requests of one group (operational view of the engine's policy).
pub fn group_requests<'a>(
    engine: &'a Engine,
    account: &'a str,
    channel: &'a str,
) -> impl Iterator<Item = &'a Request> {
    let set = engine.set();
    engine
        .operational_requests()
        .filter(move |(stream, _)| {
            let s = set.stream(*stream);
            s.account.as_str() == account
                && (channel == ALL_CHANNELS || s.channel.as_str() == channel)
        })
        .flat_map(|(_, requests)| requests.iter())
}

/// One chart of one group, at an instant, over a window, in a time zone.
pub struct ChartRequest {
    pub chart: Chart,
    pub account: String,
    pub channel: String,
    pub as_of: Timestamp,
    pub window: Micros,
    pub window_label: String,
    pub tz: Tz,
}

/// Renders one chart of a group as PNG (the work of `GET /v1/charts/…`).
pub fn chart_png(engine: &Engine, r: &ChartRequest) -> anyhow::Result<Vec<u8>> {
    let s = series(
        group_requests(engine, &r.account, &r.channel),
        r.as_of,
        r.window,
        r.tz,
    );
    let until = r.as_of.to_datetime().with_timezone(&r.tz);
    let subject = format!(
        "{} / {}, last {} to {}",
        r.account,
        r.channel,
        r.window_label,
        until.format("%Y-%m-%d %H:%M %Z")
    );
    render(r.chart, &s, &subject)
}

/// The daily series behind the charts, as JSON.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SeriesDoc {
    pub account: String,
    pub channel: String,
    /// RFC 3339, UTC.
    pub as_of: String,
    pub window_seconds: i64,
    /// The IANA zone of the days and hours.
    pub timezone: String,
    /// The first and last local day of the range (YYYY-MM-DD).
    pub from: Option<String>,
    pub to: Option<String>,
    /// Requests opened in the window.
    pub requests: u64,
    /// One row per local day with requests, in order (days without
    /// requests are left out: a chart draws them as gaps).
    #[schema(value_type = Vec<super::schema::document::DailyRow>)]
    pub days: Vec<crate::domain::daily::DailyRow>,
    /// Answered requests per SLA bucket of SPEC §5 (≤ 60 s, ≤ 300 s, …,
    /// ≤ 86,400 s, then over 24 h).
    pub distribution: Vec<u64>,
    /// Median first reply in seconds by local weekday (Monday first) ×
    /// hour of opening; `null` where no request was answered.
    pub heatmap: Vec<Vec<Option<f64>>>,
}

/// The group of `GET /v1/series`: as [`Selection`], the account required.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesSelection {
    /// Evaluation instant, RFC 3339 within 1970 … 9999 (default: now).
    #[param(format = DateTime, pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-")]
    pub as_of: Option<String>,
    /// Window length, e.g. `24h`, `7d`, `30d` (default 7d).
    #[param(pattern = r"^([1-9][0-9]{0,5}[smhdw]){1,3}$")]
    pub window: Option<String>,
    /// The account.
    pub account: String,
    /// One channel, or `all` (default).
    pub channel: Option<String>,
}

/// The resolved selection of a chart or series request.
struct Group {
    account: String,
    channel: String,
    as_of: Timestamp,
    window: Micros,
    window_label: String,
    tz: Tz,
}

fn group(
    state: &AppState,
    access: &crate::access::Access,
    sel: Selection,
    q: ChartQuery,
) -> ApiResult<Group> {
    let (as_of, window) = sel.instant_and_window()?;
    let window_label = sel
        .window
        .unwrap_or_else(|| super::extract::DEFAULT_WINDOW.to_string());
    let account = sel
        .account
        .ok_or_else(|| ApiError::bad_parameter("account", "required"))?;
    AppState::check_account(access, &account)?;
    let channel = sel.channel.unwrap_or_else(|| ALL_CHANNELS.to_string());
    let tz = match q.timezone {
        Some(z) => z.parse::<Tz>().map_err(|_| {
            ApiError::bad_parameter("timezone", format!("unknown IANA time zone {z:?}"))
        })?,
        None => state
            .calendars
            .book()
            .for_account(&account)
            .map_or(Tz::UTC, |c| c.timezone()),
    };
    Ok(Group {
        account,
        channel,
        as_of,
        window,
        window_label,
        tz,
    })
}

/// The daily series of one account (and channel) as JSON: what the charts
/// draw, each day with `final` (SPEC §4).
#[utoipa::path(get, path = "/v1/series", tag = "charts",
    params(SeriesSelection, ChartQuery),
    responses(
        (status = 200, description = "The series", body = SeriesDoc),
        (status = 400, description = "A bad query parameter, named", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 403, description = "account= names an account the token does not reach", body = super::error::ErrorBody),
        (status = 503, description = "State still loading", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn get_series(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Params(sel): Params<SeriesSelection>,
    Params(q): Params<ChartQuery>,
) -> ApiResult<axum::Json<SeriesDoc>> {
    let sel = Selection {
        as_of: sel.as_of,
        window: sel.window,
        account: Some(sel.account),
        channel: sel.channel,
    };
    let g = group(&state, &access, sel, q)?;
    let scope_account = g.account.clone();
    let scope = crate::service::figures::Scope::Account(&scope_account);
    let doc = state
        .read(scope, move |engine| {
            let s = series(
                group_requests(engine, &g.account, &g.channel),
                g.as_of,
                g.window,
                g.tz,
            );
            SeriesDoc {
                account: g.account,
                channel: g.channel,
                as_of: g.as_of.to_string(),
                window_seconds: g.window.0 / 1_000_000,
                timezone: g.tz.name().to_string(),
                from: s.range.map(|r| r.0.to_string()),
                to: s.range.map(|r| r.1.to_string()),
                requests: s.requests,
                days: s.days,
                distribution: s.distribution,
                heatmap: s.heatmap.iter().map(|h| h.to_vec()).collect(),
            }
        })
        .await?;
    Ok(axum::Json(doc))
}

/// A PNG chart of one account (and channel): first-reply, hit-ratios, volume, distribution or heatmap.
#[utoipa::path(get, path = "/v1/charts/{name}", tag = "charts",
    params(("name" = String, Path, description = "first-reply.png, hit-ratios.png, volume.png, distribution.png or heatmap.png"), Selection, ChartQuery),
    responses(
        (status = 200, description = "The chart", content_type = "image/png", body = Vec<u8>),
        (status = 400, description = "A bad query parameter, named", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 404, description = "No such chart", body = super::error::ErrorBody),
        (status = 503, description = "State still loading", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn get_chart(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Path(name): Path<String>,
    Params(sel): Params<Selection>,
    Params(q): Params<ChartQuery>,
) -> ApiResult<Response> {
    let chart = name
        .strip_suffix(".png")
        .and_then(Chart::parse)
        .ok_or_else(|| ApiError::NotConfigured(format!("no chart {name:?}: use first-reply.png, hit-ratios.png, volume.png, distribution.png or heatmap.png")))?;
    let Group {
        account,
        channel,
        as_of,
        window,
        window_label,
        tz,
    } = group(&state, &access, sel, q)?;
    let account_name = account.clone();
    let request = ChartRequest {
        chart,
        account,
        channel,
        as_of,
        window,
        window_label,
        tz,
    };
    let scope = crate::service::figures::Scope::Account(&account_name);
    let png = state
        .read(scope, move |engine| chart_png(engine, &request))
        .await??;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
