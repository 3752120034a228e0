//! `GET /accounts/{account}/requests`: the requests behind a figure of the
//! page as a table (what `/v1/requests` lists, for a reader): pending or
//! answered, optionally only those past a threshold, oldest first. Every
//! figure on the other pages links here.

use super::{esc, page, url};
use crate::domain::{self, ALL_CHANNELS, Timestamp};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Params;
use crate::http::stats::{RequestState, RequestsFilter, select_requests};
use crate::service::figures::Scope;
use axum::extract::{Path, State};
use axum::response::Html;
use serde::Deserialize;
use std::fmt::Write as _;

/// Rows shown at most (the count says how many there are in all).
const ROWS: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct DrillQuery {
    /// A channel, or `all` (default).
    pub channel: Option<String>,
    /// `pending` (default) or `answered`, as `/v1/requests`.
    pub state: Option<RequestState>,
    /// Only requests answered after, or waiting, longer than this (`1h`).
    pub breached_after: Option<String>,
    /// How far back requests were opened (default 7d, as the figures).
    pub window: Option<String>,
}

/// The drill-down page of a group's requests in `state`, past `after`.
pub fn href(account: &str, channel: &str, state: &str, after: Option<&str>) -> String {
    let mut out = format!(
        "/accounts/{}/requests?channel={}&state={state}",
        url(account),
        url(channel)
    );
    if let Some(a) = after {
        let _ = write!(out, "&breached_after={a}");
    }
    out
}

/// `GET /accounts/{account}/requests`.
pub async fn requests(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Path(account): Path<String>,
    Params(q): Params<DrillQuery>,
) -> ApiResult<Html<String>> {
    AppState::check_account(&access, &account)?;
    let wanted = q.state.unwrap_or_default();
    let window_text = q
        .window
        .clone()
        .unwrap_or_else(|| crate::http::extract::DEFAULT_WINDOW.to_string());
    let window = crate::http::extract::duration_param("window", &window_text)?;
    let breached_after = q
        .breached_after
        .as_deref()
        .map(|v| {
            domain::parse_duration(v)
                .map_err(|e| ApiError::bad_parameter("breached_after", e.to_string()))
        })
        .transpose()?;
    let channel = q
        .channel
        .clone()
        .unwrap_or_else(|| ALL_CHANNELS.to_string());
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let mut filter = RequestsFilter {
        as_of: now,
        window,
        state: wanted,
        breached_after,
        policy: domain::ReplyPolicy::operational(false),
        account: Some(account.clone()),
        channel: (channel != ALL_CHANNELS).then(|| channel.clone()),
        limit: ROWS,
    };
    let listed = state
        .read(Scope::Account(&account), move |engine| {
            // The page's figures use the engine's view (its bot policy).
            filter.policy = engine.operational();
            select_requests(engine, &filter, |_| true)
        })
        .await?;

    let what = match (wanted, q.breached_after.as_deref()) {
        (RequestState::Pending, None) => "Pending requests".to_string(),
        (RequestState::Pending, Some(a)) => format!("Requests waiting more than {a}"),
        (RequestState::Answered, None) => "Answered requests".to_string(),
        (RequestState::Answered, Some(a)) => format!("Requests answered after more than {a}"),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<p><a href=\"/accounts/{0}\">← {1}</a> · <a href=\"/\">all accounts</a></p>\
<h1>{what}</h1><p>{1} / {2}, opened in the {3} to {4} · {5} in all{6} · \
<a href=\"/v1/requests?account={0}&amp;channel={7}&amp;state={8}&amp;window={9}{10}\">as JSON</a></p>",
        url(&account),
        esc(&account),
        esc(&channel),
        esc(&window_text),
        now.to_datetime().format("%Y-%m-%d %H:%M UTC"),
        listed.total,
        if listed.total as usize > ROWS {
            format!(", the oldest {ROWS} shown")
        } else {
            String::new()
        },
        url(&channel),
        if wanted == RequestState::Pending {
            "pending"
        } else {
            "answered"
        },
        url(&window_text),
        q.breached_after
            .as_deref()
            .map(|a| format!("&amp;breached_after={}", url(a)))
            .unwrap_or_default(),
    );
    if listed.requests.is_empty() {
        out.push_str("<p>None.</p>");
        return Ok(page(&what, &out));
    }
    out.push_str("<div class=\"scroll\"><table id=\"requests\"><tr><th>channel</th><th>conversation</th><th>opened (UTC)</th><th>first reply after</th><th>agent</th><th>waiting</th></tr>");
    for r in &listed.requests {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.channel),
            esc(&r.conversation),
            domain::parse_rfc3339(&r.opened_at).map_or_else(
                || esc(&r.opened_at),
                |t| t.to_datetime().format("%Y-%m-%d %H:%M:%S").to_string()
            ),
            r.first_reply_seconds
                .map(crate::domain::compare::human_duration)
                .unwrap_or_else(|| "–".to_string()),
            esc(r.agent.as_deref().unwrap_or("–")),
            match r.first_reply_seconds {
                Some(_) => "–".to_string(),
                None => crate::domain::compare::human_duration(r.age_seconds),
            }
        );
    }
    out.push_str("</table></div>");
    Ok(page(&what, &out))
}
