//! The built-in dashboard (SPEC §6 `GET /`): plain server-rendered HTML, no
//! front-end build, readable on a phone, refreshing itself every minute.
//! `/` lists the accounts worst first, a page at a time, sortable and
//! searchable ([`overview`]); `/accounts/{account}` shows one account's
//! figures, how far it is from the badge, its charts, agents and oldest
//! pending requests ([`account`]); `/accounts/{account}/requests` is the
//! table behind a figure ([`requests`]). `?clock=business` switches to
//! business hours. Every figure cell carries its exact value in
//! `data-value` and links to the requests behind it.
//! This module holds what the pages share: HTML helpers, the figures of
//! the page's instant, the groups table's rows. Knows no store or cluster:
//! figures come through `AppState::read`.

mod account;
mod overview;
mod requests;

pub use account::account;
pub use overview::overview;
pub use requests::requests;

use super::AppState;
use super::error::ApiResult;
use crate::domain::stats::analyze_compared;
use crate::domain::{AnalyzeOptions, CalendarBook, GroupStats, Micros, StatsReport, Timestamp};
use crate::service::figures::Scope;
use axum::response::Html;
use serde::Deserialize;
use std::fmt::Write as _;

const WEEK: Micros = Micros(7 * 86_400 * 1_000_000);

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub clock: Option<String>,
    /// The overview's order (`domain::listing::Order`; default `worst`).
    pub order: Option<String>,
    /// The overview's account search.
    pub q: Option<String>,
    /// Where the overview's page starts.
    pub cursor: Option<String>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Query-string encoding of a path or query component.
fn url(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

use crate::domain::compare::{Change, Direction, human_duration as duration};

fn cell(out: &mut String, field: &str, value: Option<f64>, shown: impl Fn(f64) -> String) {
    linked_cell(out, field, value, shown, None);
}

/// A figure cell whose value links to `href` (the requests behind it).
fn linked_cell(
    out: &mut String,
    field: &str,
    value: Option<f64>,
    shown: impl Fn(f64) -> String,
    href: Option<&str>,
) {
    match value {
        Some(v) => {
            let text = match href {
                Some(h) => format!("<a href=\"{}\">{}</a>", esc(h), shown(v)),
                None => shown(v),
            };
            let _ = write!(
                out,
                "<td data-field=\"{field}\" data-value=\"{v}\">{text}</td>"
            );
        }
        None => {
            let _ = write!(
                out,
                "<td data-field=\"{field}\" data-value=\"null\" class=\"none\">–</td>"
            );
        }
    }
}

/// The change against the previous 7 days, in its own cell: the arrow
/// shows which way the value went, the colour whether that is good (green:
/// faster, a higher rate) or bad (red), the previous value is in the
/// tooltip; "–" when a period has no such figure.
fn delta(out: &mut String, change: Option<Change>, before: Option<String>, lower_is_better: bool) {
    match change {
        Some(c) => {
            // The arrow: which way the value went; the colour: good or bad.
            let arrow = match (c.direction, lower_is_better) {
                (Direction::Same, _) => "",
                (Direction::Better, true) | (Direction::Worse, false) => "▼ ",
                (Direction::Worse, true) | (Direction::Better, false) => "▲ ",
            };
            let class = match c.direction {
                Direction::Better => "ok",
                Direction::Worse => "no",
                Direction::Same => "none",
            };
            let _ = write!(
                out,
                "<td class=\"delta {class}\" title=\"previous 7 days: {}\">{arrow}{}</td>",
                esc(&before.unwrap_or_default()),
                esc(&c.words)
            );
        }
        None => out.push_str("<td class=\"delta none\">–</td>"),
    }
}

fn percent(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// On a phone (≤ 640 px) the groups table keeps response rate, median,
/// badge and pending (the overview one row per account, its `all` group),
/// and scrolls sideways if it must.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
th,td{padding:.3em .5em;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}\
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}.ok{color:#1a7f37}.no{color:#b42318}\
.none{color:#999}img{max-width:960px;width:100%;margin:.5em 0;border:1px solid #eee}small{color:#666}\
.scroll{overflow-x:auto;max-width:100%}th a{color:inherit}td a{color:inherit;text-decoration:underline dotted}\
form{margin:.5em 0}input{font-size:1em;padding:.2em .4em}nav{margin:.6em 0}\
tr.all td{background:#fafafa;font-weight:600}tr.ch td:first-child{color:#888;font-weight:400}\
td:first-child{white-space:nowrap}\
@media (max-width:640px){body{margin:.6em;font-size:14px}th,td{padding:.25em .35em}.overview tr.ch{display:none}\
.overview td:nth-child(2),.overview th:nth-child(2),#groups td:nth-child(3),#groups th:nth-child(3),#groups td:nth-child(5),#groups th:nth-child(5),\
#groups td:nth-child(7),#groups th:nth-child(7),#groups td:nth-child(8),#groups th:nth-child(8),\
#groups td:nth-child(9),#groups th:nth-child(9),#groups td:nth-child(10),#groups th:nth-child(10),\
#groups td:nth-child(13),#groups th:nth-child(13),#groups small{display:none}h1{font-size:1.4em}}";

/// How often the pages reload themselves, in seconds.
const REFRESH_SECONDS: u32 = 60;

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    ))
}

fn business(q: &PageQuery) -> bool {
    q.clock.as_deref() == Some("business")
}

fn clock_toggle(out: &mut String, path: &str, business: bool) {
    let _ = write!(
        out,
        "<p>Clock: {} · <a href=\"{path}{}\">switch to {}</a></p>",
        if business {
            "business hours (accounts with a calendar)"
        } else {
            "calendar time"
        },
        if business { "" } else { "?clock=business" },
        if business {
            "calendar time"
        } else {
            "business hours"
        }
    );
}

/// Per account, its requests not final at the instant (SPEC §4: pending
/// and younger than 24 h, so the last day's figures may still change).
type NotFinal = std::collections::HashMap<String, u64>;

async fn report(
    state: &AppState,
    scope: Scope<'_>,
    q: &PageQuery,
    by_agent: bool,
) -> ApiResult<(Timestamp, StatsReport, NotFinal)> {
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let mut opts = AnalyzeOptions::new(now, WEEK);
    opts.by_agent = by_agent;
    opts.calendars = match business(q) {
        true => state.calendars.book().as_ref().clone(),
        false => CalendarBook::default(),
    };
    let report = state
        .read(scope, move |engine| {
            opts.bots_count_as_replies = engine.operational().bots_reply;
            // SPEC §4: with the previous 7 days, for the page's Δ.
            let report = analyze_compared(engine.set(), &opts, engine);
            (report, not_final(engine, now))
        })
        .await?;
    Ok((now, report.0, report.1))
}

/// The requests of each account that are not settled at `now`
/// (`domain::stats::settled`), among those opened in the last 24 h.
fn not_final(engine: &crate::engine::Engine, now: Timestamp) -> NotFinal {
    use crate::domain::stats::{Clock, Measured, settled};
    let set = engine.set();
    let since = now.minus(crate::domain::time::ONE_DAY);
    let mut out = NotFinal::new();
    for (stream, requests) in engine.operational_requests() {
        let start = requests.partition_point(|r| r.opened_at < since);
        let n = requests[start..]
            .iter()
            .map_while(|r| r.seen_at(now))
            .filter(|seen| !settled(&Measured::of(seen, now, Clock::Calendar)))
            .count() as u64;
        if n > 0 {
            *out.entry(set.stream(stream).account.to_string())
                .or_default() += n;
        }
    }
    out
}

/// "N requests still open, figures for the last 24 h may change" (SPEC §4).
fn not_final_line(out: &mut String, n: u64) {
    if n > 0 {
        let _ = write!(
            out,
            "<p id=\"not-final\"><small>{n} request{} still open: figures for the last 24 h may change.</small></p>",
            if n == 1 { "" } else { "s" }
        );
    }
}

fn group_row(out: &mut String, g: &GroupStats, link: bool) {
    let account = match link {
        true => format!(
            "<a href=\"/accounts/{}\">{}</a>",
            url(&g.account),
            esc(&g.account)
        ),
        false => esc(&g.account),
    };
    let _ = write!(
        out,
        "<tr class=\"{}\" data-account=\"{}\" data-channel=\"{}\"><td>{account}</td><td>{}</td>",
        if g.channel == crate::domain::ALL_CHANNELS {
            "all"
        } else {
            "ch"
        },
        esc(&g.account),
        esc(&g.channel),
        esc(&g.channel)
    );
    let drill =
        |state: &str, after: Option<&str>| requests::href(&g.account, &g.channel, state, after);
    linked_cell(
        out,
        "requests",
        Some(g.requests as f64),
        |v| format!("{v:.0}"),
        Some(&drill("answered", None)),
    );
    let before = g.previous.as_ref();
    linked_cell(
        out,
        "response_rate",
        g.response_rate,
        percent,
        Some(&drill("pending", Some("24h"))),
    );
    delta(
        out,
        crate::domain::compare::rate_change(g.response_rate, before.and_then(|p| p.response_rate)),
        before.and_then(|p| p.response_rate).map(percent),
        false,
    );
    linked_cell(
        out,
        "median_first_reply_seconds",
        g.median_first_reply_seconds,
        duration,
        Some(&drill("answered", None)),
    );
    delta(
        out,
        crate::domain::compare::reply_time_change(
            g.median_first_reply_seconds,
            before.and_then(|p| p.median_first_reply_seconds),
        ),
        before
            .and_then(|p| p.median_first_reply_seconds)
            .map(duration),
        true,
    );
    linked_cell(
        out,
        "p90_first_reply_seconds",
        g.p90_first_reply_seconds,
        duration,
        Some(&drill("answered", None)),
    );
    linked_cell(
        out,
        "hit_ratio_1h",
        g.hit_ratio_1h,
        percent,
        Some(&drill("answered", Some("1h"))),
    );
    linked_cell(
        out,
        "hit_ratio_24h",
        g.hit_ratio_24h,
        percent,
        Some(&drill("answered", Some("24h"))),
    );
    let badge = match g.badge_eligible {
        true => "<span class=\"ok\">eligible</span>".to_string(),
        false => format!(
            "<span class=\"no\">not eligible</span><br><small>{}</small>",
            esc(&g.badge_blockers.join("; "))
        ),
    };
    let _ = write!(
        out,
        "<td data-field=\"badge_eligible\" data-value=\"{}\">{badge}</td>",
        g.badge_eligible
    );
    linked_cell(
        out,
        "pending",
        Some(g.pending as f64),
        |v| format!("{v:.0}"),
        Some(&drill("pending", None)),
    );
    linked_cell(
        out,
        "oldest_pending_seconds",
        g.oldest_pending_seconds,
        duration,
        Some(&drill("pending", None)),
    );
    out.push_str("</tr>");
}

/// The groups table's header; `sort` gives a column's header its link
/// (the overview's sortable columns) or leaves it plain.
fn header(out: &mut String, sort: impl Fn(&str, Option<crate::domain::listing::Field>) -> String) {
    use crate::domain::listing::Field;
    let columns: [(&str, Option<Field>); 13] = [
        ("account", None),
        ("channel", None),
        ("requests", Some(Field::Requests)),
        ("response rate", Some(Field::ResponseRate)),
        ("vs prior 7 d", None),
        ("median first reply", Some(Field::MedianFirstReply)),
        ("vs prior 7 d", None),
        ("p90 first reply", Some(Field::P90FirstReply)),
        ("within 1 h", Some(Field::HitRatio1h)),
        ("within 24 h", Some(Field::HitRatio24h)),
        ("badge", None),
        ("pending", Some(Field::Pending)),
        ("oldest pending", Some(Field::OldestPending)),
    ];
    out.push_str("<tr>");
    for (label, field) in columns {
        out.push_str(&sort(label, field));
    }
    out.push_str("</tr>");
}

/// A plain column header.
fn plain(label: &str, _: Option<crate::domain::listing::Field>) -> String {
    format!("<th>{}</th>", esc(label))
}
