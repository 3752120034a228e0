//! `GET /v1/stats` (the §4 document, equal to `analyze` for the same events,
//! instant and window) and `GET /v1/requests` (the requests behind a figure).
//! Figures come from the pure core over the live state, off the async threads.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Params, Selection};
use crate::domain::stats::{analyze_compared, analyze_windows};
use crate::domain::{
    self, AnalyzeOptions, CalendarBook, ReplyPolicy, Request, StatsReport, Timestamp,
    derive_requests,
};
use crate::service::figures::Scope;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which clock durations are measured on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClockParam {
    /// Wall-clock time.
    #[default]
    Calendar,
    /// Opening hours of the account's calendar (`serve --calendar`); calendar time for accounts without one.
    Business,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Bot messages answer requests in the operational figures too.
    pub bots_count_as_replies: Option<bool>,
    /// Add per-agent rows to each group.
    pub by_agent: Option<bool>,
    /// `calendar` (default) or `business`.
    pub clock: Option<ClockParam>,
    /// `previous`: each group gains `previous`, the same figures for the
    /// requests opened in the window of the same length before (SPEC §4).
    pub compare: Option<Compare>,
    /// How accounts are ordered: `account` (default, SPEC §4 order),
    /// `worst` (lowest response rate, then slowest median, then most
    /// pending), or a figure (`response_rate`, `median_first_reply_seconds`,
    /// `p90_first_reply_seconds`, `hit_ratio_1h`, `hit_ratio_24h`,
    /// `requests`, `pending`, `oldest_pending_seconds`), smallest first, or
    /// largest first with `-` before it. Undefined figures come last.
    /// Accounts are ordered by their `all` group and listed whole.
    #[param(value_type = Option<super::schema::OrderName>, inline)]
    pub order: Option<String>,
    /// Only accounts whose name contains this (case-insensitive).
    pub search: Option<String>,
    /// At most this many accounts (every group of each), 1 to 10000; the
    /// response then carries `accounts` and, unless it is the last page,
    /// `next_cursor`.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: the listing goes on in the
    /// cursor's own order (pass the same `search`).
    #[param(
        pattern = r"^1\.(account|worst|-?(requests|response_rate|median_first_reply_seconds|p90_first_reply_seconds|hit_ratio_1h|hit_ratio_24h|pending|oldest_pending_seconds))\.((n|[0-9a-f]{1,16})(_(n|[0-9a-f]{1,16}))*)?\.([0-9a-f]{2})*$"
    )]
    pub cursor: Option<String>,
}

/// The §4 document, and with `limit` (or `cursor`) where the page ends.
#[derive(Debug, Serialize)]
pub struct StatsPage {
    #[serde(flatten)]
    pub report: StatsReport,
    /// Accounts matching `search` in all (present when paging).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<usize>,
    /// Pass as `cursor=` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The paging asked for by `order`, `search`, `limit` and `cursor`;
/// `None` when none of them is given (the whole document, SPEC order).
struct Paging {
    order: domain::listing::Order,
    search: Option<String>,
    cursor: Option<domain::listing::Cursor>,
    limit: Option<usize>,
}

impl Paging {
    fn of(q: &StatsQuery) -> ApiResult<Option<Paging>> {
        use domain::listing::Order;
        if q.order.is_none() && q.search.is_none() && q.limit.is_none() && q.cursor.is_none() {
            return Ok(None);
        }
        let (order, cursor) = super::extract::order_and_cursor(
            q.order.as_deref(),
            q.cursor.as_deref(),
            Order::Account,
        )?;
        let limit = match q.limit {
            None => None,
            Some(n @ 1..=10_000) => Some(n as usize),
            Some(n) => {
                return Err(ApiError::bad_parameter(
                    "limit",
                    format!("must be 1 to 10000, got {n}"),
                ));
            }
        };
        Ok(Some(Paging {
            order,
            search: q.search.clone(),
            cursor,
            limit,
        }))
    }
}

/// What `compare=` compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compare {
    Previous,
}

/// The section-4 document: what `replywatch analyze` prints for the stored events.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "stats",
    params(Selection, StatsQuery),
    responses(
        (status = 200, description = "The figures of every (account, channel) group and of each account over all channels", body = super::schema::document::StatsReport),
        (status = 400, description = "A bad query parameter, named", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 403, description = "account= names an account the token does not reach", body = super::error::ErrorBody),
        (status = 503, description = "State still loading", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn get_stats(
    State(state): State<AppState>,
    axum::Extension(scope): axum::Extension<crate::access::Access>,
    Params(sel): Params<Selection>,
    Params(q): Params<StatsQuery>,
) -> ApiResult<Json<StatsPage>> {
    let (as_of, window) = sel.checked(&scope)?;
    let paging = Paging::of(&q)?;
    let mut opts = AnalyzeOptions::new(as_of, window);
    opts.bots_count_as_replies = q.bots_count_as_replies.unwrap_or(false);
    opts.by_agent = q.by_agent.unwrap_or(false);
    opts.calendars = match q.clock.unwrap_or_default() {
        ClockParam::Calendar => CalendarBook::default(),
        ClockParam::Business => state.calendars.book().as_ref().clone(),
    };
    let compare = q.compare.is_some();
    let mut report = state
        .read(Scope::of(sel.account.as_deref()), move |engine| {
            // The engine's cached requests when its view matches the query's
            // (same accumulators, so the same figures); else a fresh walk.
            let cached =
                engine.operational() == ReplyPolicy::operational(opts.bots_count_as_replies);
            match (cached, compare) {
                (true, false) => {
                    analyze_windows(engine.set(), &opts, &[opts.window], engine).remove(0)
                }
                (true, true) => analyze_compared(engine.set(), &opts, engine),
                (false, false) => domain::analyze(engine.set(), &opts),
                (false, true) => domain::analyze_with_previous(engine.set(), &opts),
            }
        })
        .await?;
    // SPEC §6: a token limited to some accounts sees only theirs.
    report.groups.retain(|g| {
        sel.account.as_ref().is_none_or(|a| &g.account == a)
            && sel.channel.as_ref().is_none_or(|c| &g.channel == c)
            && scope.allows(&g.account)
    });
    let Some(p) = paging else {
        return Ok(Json(StatsPage {
            report,
            accounts: None,
            next_cursor: None,
        }));
    };
    let groups = std::mem::take(&mut report.groups);
    let listing = domain::listing::list(
        groups,
        p.order,
        p.search.as_deref(),
        p.cursor.as_ref(),
        p.limit.unwrap_or(usize::MAX),
    );
    report.groups = listing.groups;
    Ok(Json(StatsPage {
        report,
        accounts: Some(listing.accounts),
        next_cursor: listing.next.map(|c| c.encode()),
    }))
}

/// Which requests `/v1/requests` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Not answered at `as_of`.
    #[default]
    Pending,
    /// Answered before `as_of`.
    Answered,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// `pending` (default) or `answered`.
    pub state: Option<RequestState>,
    /// Only requests whose first reply (answered) or wait so far (pending) is longer than this, e.g. `1h`.
    #[param(pattern = r"^([1-9][0-9]{0,5}[smhdw]){1,3}$")]
    pub breached_after: Option<String>,
    /// Bot messages answer requests too.
    pub bots_count_as_replies: Option<bool>,
    /// At most this many requests (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// One request (SPEC §2) behind a figure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestRow {
    pub account: String,
    pub channel: String,
    pub conversation: String,
    /// When the customer's request opened (RFC 3339, UTC).
    pub opened_at: String,
    /// The first reply, when answered before `as_of`.
    pub first_reply_at: Option<String>,
    pub first_reply_seconds: Option<f64>,
    /// The agent of the first reply, if the event named one.
    pub agent: Option<String>,
    /// Time from opening to `as_of`.
    pub age_seconds: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestsPage {
    pub as_of: String,
    pub window_seconds: i64,
    /// Matching requests in all; `requests` holds the oldest `limit` of them.
    pub total: u64,
    pub requests: Vec<RequestRow>,
}

/// Which requests to list: the query of `/v1/requests` and of the page's
/// drill-down table.
pub struct RequestsFilter {
    pub as_of: Timestamp,
    pub window: domain::Micros,
    pub state: RequestState,
    /// Only those whose first reply (answered) or wait (pending) is longer.
    pub breached_after: Option<domain::Micros>,
    pub policy: ReplyPolicy,
    pub account: Option<String>,
    /// A channel; `None` for all.
    pub channel: Option<String>,
    pub limit: usize,
}

/// The requests of `engine` matching `filter` among the accounts `allows`
/// admits: how many in all, and the `limit` oldest.
pub fn select_requests(
    engine: &crate::engine::Engine,
    filter: &RequestsFilter,
    allows: impl Fn(&str) -> bool,
) -> RequestsPage {
    let RequestsFilter {
        as_of,
        window,
        state: wanted,
        breached_after,
        policy,
        ref account,
        ref channel,
        limit,
    } = *filter;
    let set = engine.set();
    let window_start = as_of.minus(window);
    // The engine's cached requests when its view matches the query's.
    let derived;
    let requests: Box<dyn Iterator<Item = Request> + '_> = match engine.operational() == policy {
        true => Box::new(engine.operational_at(as_of)),
        false => {
            derived = derive_requests(set, as_of, policy).operational;
            Box::new(derived.into_iter())
        }
    };
    // Issue 15: only the `limit` oldest matches are kept (a max-heap of
    // them), not every match built and then cut.
    // (opened, account, channel, conversation, reply): every field is
    // ordered, and the first four are unique per request.
    type Row<'a> = (
        Timestamp,
        &'a str,
        &'a str,
        &'a str,
        Option<(Timestamp, u32)>,
    );
    let mut oldest: std::collections::BinaryHeap<Row> =
        std::collections::BinaryHeap::with_capacity(limit + 1);
    let mut total = 0u64;
    for r in requests {
        let in_state = match wanted {
            RequestState::Pending => r.reply.is_none(),
            RequestState::Answered => r.reply.is_some(),
        };
        if r.opened_at < window_start || r.opened_at >= as_of || !in_state {
            continue;
        }
        let late = match r.reply {
            Some(reply) => reply.at.since(r.opened_at),
            None => as_of.since(r.opened_at),
        };
        if breached_after.is_some_and(|t| late <= t) {
            continue;
        }
        let stream = set.stream(set.stream_of(r.conversation));
        let keep = account
            .as_ref()
            .is_none_or(|a| stream.account.as_str() == a)
            && channel
                .as_ref()
                .is_none_or(|c| stream.channel.as_str() == c)
            && allows(stream.account.as_str());
        if !keep {
            continue;
        }
        total += 1;
        oldest.push((
            r.opened_at,
            stream.account.as_str(),
            stream.channel.as_str(),
            set.conversation_id(r.conversation).as_str(),
            r.reply.map(|x| (x.at, x.agent)),
        ));
        if oldest.len() > limit {
            oldest.pop();
        }
    }
    let rows = oldest
        .into_sorted_vec()
        .into_iter()
        .map(
            |(opened_at, account, channel, conversation, reply)| RequestRow {
                account: account.to_string(),
                channel: channel.to_string(),
                conversation: conversation.to_string(),
                opened_at: opened_at.to_string(),
                first_reply_at: reply.map(|(at, _)| at.to_string()),
                first_reply_seconds: reply.map(|(at, _)| at.since(opened_at).as_seconds_f64()),
                agent: reply
                    .and_then(|(_, agent)| set.agent(agent))
                    .map(|a| a.to_string()),
                age_seconds: as_of.since(opened_at).as_seconds_f64(),
            },
        )
        .collect();
    RequestsPage {
        as_of: as_of.to_string(),
        window_seconds: window.0 / 1_000_000,
        total,
        requests: rows,
    }
}

/// The requests behind a figure: pending ones, or answered ones, optionally
/// only those past a threshold; oldest first.
#[utoipa::path(
    get,
    path = "/v1/requests",
    tag = "stats",
    params(Selection, RequestsQuery),
    responses(
        (status = 200, description = "Matching requests, oldest first", body = RequestsPage),
        (status = 400, description = "A bad query parameter, named", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 403, description = "account= names an account the token does not reach", body = super::error::ErrorBody),
        (status = 503, description = "State still loading", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn get_requests(
    State(state): State<AppState>,
    axum::Extension(scope): axum::Extension<crate::access::Access>,
    Params(sel): Params<Selection>,
    Params(q): Params<RequestsQuery>,
) -> ApiResult<Json<RequestsPage>> {
    let (as_of, window) = sel.checked(&scope)?;
    let breached_after = q
        .breached_after
        .as_deref()
        .map(|s| {
            domain::parse_duration(s)
                .map_err(|e| ApiError::bad_parameter("breached_after", e.to_string()))
        })
        .transpose()?;
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=10_000) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_parameter(
                "limit",
                format!("must be 1 to 10000, got {n}"),
            ));
        }
    };
    let filter = RequestsFilter {
        as_of,
        window,
        state: q.state.unwrap_or_default(),
        breached_after,
        policy: ReplyPolicy::operational(q.bots_count_as_replies.unwrap_or(false)),
        channel: sel.channel.filter(|c| c != domain::ALL_CHANNELS),
        account: sel.account,
        limit,
    };
    let holder = filter.account.clone();
    let page = state
        .read(Scope::of(holder.as_deref()), move |engine| {
            select_requests(engine, &filter, |a| scope.allows(a))
        })
        .await?;
    Ok(Json(page))
}
