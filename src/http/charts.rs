//! `GET /v1/charts/{name}.png` (SPEC §6): one group's chart, computed from
//! the engine's requests and rendered off the async threads.

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
    let (as_of, window) = sel.instant_and_window()?;
    let window_label = sel
        .window
        .unwrap_or_else(|| super::extract::DEFAULT_WINDOW.to_string());
    let account = sel
        .account
        .ok_or_else(|| ApiError::bad_parameter("account", "required"))?;
    AppState::check_account(&access, &account)?;
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
