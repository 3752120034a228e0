//! `GET /`: the accounts over the last 7 days, worst first, a page of
//! [`ROWS`] accounts at a time, sortable by any figure and searchable by
//! name, under a summary line. The page stays small whatever the number of
//! accounts (issue 19: 50,000 accounts were 80 MB of HTML).

use super::{
    PageQuery, business, clock_toggle, duration, esc, group_row, header, not_final_line, page,
    report, url,
};
use crate::domain::listing::{Field, Order, list};
use crate::domain::{ALL_CHANNELS, GroupStats};
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::http::extract::Params;
use crate::service::figures::Scope;
use axum::extract::State;
use axum::response::Html;
use std::fmt::Write as _;

/// Accounts per page.
pub const ROWS: usize = 50;

/// The overview's first line: accounts, how many are eligible for the
/// badge, how many are at risk (eligible over the prior 7 days, not now)
/// and the oldest pending request anywhere.
fn summary_line(out: &mut String, groups: &[GroupStats]) {
    let accounts: Vec<&GroupStats> = groups
        .iter()
        .filter(|g| g.channel == ALL_CHANNELS)
        .collect();
    if accounts.is_empty() {
        return;
    }
    let eligible = accounts.iter().filter(|g| g.badge_eligible).count();
    let at_risk = accounts
        .iter()
        .filter(|g| !g.badge_eligible && g.previous.as_ref().is_some_and(|p| p.badge_eligible))
        .count();
    let oldest = accounts
        .iter()
        .filter_map(|g| g.oldest_pending_seconds.map(|s| (s, g.account.as_str())))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let oldest = match oldest {
        Some((seconds, account)) => format!(
            "oldest pending request: {} (<a href=\"/accounts/{}\">{}</a>)",
            duration(seconds),
            url(account),
            esc(account)
        ),
        None => "no request pending".to_string(),
    };
    let _ = write!(
        out,
        "<p id=\"summary\"><b>{} account{}</b> · {eligible} eligible for the badge · {at_risk} at risk (eligible over the prior 7 days, not now) · {oldest}</p>",
        accounts.len(),
        if accounts.len() == 1 { "" } else { "s" },
    );
}

/// The overview's address with these settings.
fn href(business: bool, order: Order, search: &str, cursor: Option<&str>) -> String {
    let mut parts = vec![format!("order={}", url(&order.name()))];
    if !search.is_empty() {
        parts.push(format!("q={}", url(search)));
    }
    if business {
        parts.push("clock=business".to_string());
    }
    if let Some(c) = cursor {
        parts.push(format!("cursor={}", url(c)));
    }
    format!("/?{}", parts.join("&"))
}

/// A sortable column's header: a link that sorts by it worst first, or
/// the other way when it already sorts the page; the current one marked.
fn sortable(
    business: bool,
    current: Order,
    search: &str,
) -> impl Fn(&str, Option<Field>) -> String {
    move |label, field| {
        let (target, mark, aria) = match (field, current) {
            (None, _) if label == "account" => {
                let mark = if current == Order::Account {
                    " ▲"
                } else {
                    ""
                };
                (Some(Order::Account), mark, current == Order::Account)
            }
            (None, _) => (None, "", false),
            (Some(f), Order::By { field, descending }) if f == field => (
                Some(Order::By {
                    field,
                    descending: !descending,
                }),
                if descending { " ▼" } else { " ▲" },
                true,
            ),
            (Some(f), _) => (Some(Order::worst_first(f)), "", false),
        };
        match target {
            Some(order) => format!(
                "<th{}><a href=\"{}\" data-order=\"{}\">{}{mark}</a></th>",
                if aria { " aria-sort=\"active\"" } else { "" },
                esc(&href(business, order, search, None)),
                esc(&order.name()),
                esc(label)
            ),
            None => format!("<th>{}</th>", esc(label)),
        }
    }
}

/// `GET /`: the accounts over the last 7 days, a page at a time.
pub async fn overview(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Html<String>> {
    // An empty field of the search form counts as absent.
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
    let (order, cursor) =
        crate::http::extract::order_and_cursor(given(&q.order), given(&q.cursor), Order::Worst)?;
    let search = q.q.clone().unwrap_or_default();
    let business = business(&q);
    let (now, mut report, open) = report(&state, Scope::All, &q, false).await?;
    // SPEC §6: only the token's accounts exist for it.
    report.groups.retain(|g| access.allows(&g.account));
    let mut out = String::new();
    let _ = write!(
        out,
        "<h1>replywatch</h1><p>Requests opened in the 7 days to {} · <a href=\"/metrics\">metrics</a> · <a href=\"/openapi.json\">API</a></p>",
        now.to_datetime().format("%Y-%m-%d %H:%M UTC")
    );
    clock_toggle(&mut out, "/", business);
    // SPEC §6: only the token's accounts count.
    not_final_line(
        &mut out,
        open.iter()
            .filter(|(a, _)| access.allows(a))
            .map(|(_, n)| n)
            .sum(),
    );
    summary_line(&mut out, &report.groups);
    if report.groups.is_empty() {
        out.push_str("<p>No requests in the last 7 days. Post events to <code>/v1/events</code> or connect a Meta app.</p>");
        return Ok(page("replywatch", &out));
    }
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"account contains…\" aria-label=\"search accounts\"> \
<input type=\"hidden\" name=\"order\" value=\"{}\">{}<button>search</button></form>",
        esc(&search),
        esc(&order.name()),
        if business {
            "<input type=\"hidden\" name=\"clock\" value=\"business\">"
        } else {
            ""
        }
    );
    let listing = list(
        std::mem::take(&mut report.groups),
        order,
        Some(&search),
        cursor.as_ref(),
        ROWS,
    );
    let shown = listing
        .groups
        .iter()
        .filter(|g| g.channel == ALL_CHANNELS)
        .count();
    let order_words = match order {
        Order::Worst => "worst first (lowest response rate, then slowest median)".to_string(),
        Order::Account => "by name".to_string(),
        Order::By { field, descending } => format!(
            "by {}, {}",
            field.name(),
            if descending {
                "largest first"
            } else {
                "smallest first"
            }
        ),
    };
    let _ = write!(
        out,
        "<p id=\"listing\"><small>{shown} of {} account{}{}, {order_words}.</small></p>",
        listing.accounts,
        if listing.accounts == 1 { "" } else { "s" },
        if search.is_empty() {
            String::new()
        } else {
            format!(" matching “{}”", esc(&search))
        }
    );
    out.push_str("<div class=\"scroll overview\"><table id=\"groups\">");
    header(&mut out, sortable(business, order, &search));
    // Each account's `all` row first, its channels under it.
    // (The listing keeps each account's groups together.)
    for groups in listing.groups.chunk_by(|a, b| a.account == b.account) {
        let (all, channels): (Vec<&GroupStats>, Vec<&GroupStats>) =
            groups.iter().partition(|g| g.channel == ALL_CHANNELS);
        for g in all.into_iter().chain(channels) {
            group_row(&mut out, g, true);
        }
    }
    out.push_str("</table></div><nav>");
    if cursor.is_some() {
        let _ = write!(
            out,
            "<a id=\"first-page\" href=\"{}\">← first page</a> ",
            esc(&href(business, order, &search, None))
        );
    }
    if let Some(next) = &listing.next {
        let _ = write!(
            out,
            "<a id=\"next-page\" href=\"{}\">next {ROWS} →</a>",
            esc(&href(business, order, &search, Some(&next.encode())))
        );
    }
    out.push_str("</nav>");
    Ok(page("replywatch", &out))
}
