//! The built-in dashboard (SPEC §6 `GET /`): plain server-rendered HTML, no
//! front-end build. `/` lists every account and channel with its figures;
//! `/accounts/{account}` shows the account's charts, its per-agent table and
//! its oldest pending requests. `?clock=business` switches to business hours.
//! Every figure cell carries its exact value in `data-value`.

use super::AppState;
use super::error::ApiResult;
use super::extract::Params;
use crate::domain::stats::analyze_compared;
use crate::domain::{
    ALL_CHANNELS, AnalyzeOptions, CalendarBook, GroupStats, Micros, StatsReport, Timestamp,
};
use crate::reports::charts::Chart;
use crate::service::figures::Scope;
use axum::extract::{Path, State};
use axum::response::Html;
use serde::Deserialize;
use std::fmt::Write as _;

const WEEK: Micros = Micros(7 * 86_400 * 1_000_000);

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub clock: Option<String>,
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
    match value {
        Some(v) => {
            let _ = write!(
                out,
                "<td data-field=\"{field}\" data-value=\"{v}\">{}</td>",
                shown(v)
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

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}\
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}.ok{color:#1a7f37}.no{color:#b42318}\
.none{color:#999}img{max-width:960px;width:100%;margin:.5em 0;border:1px solid #eee}small{color:#666}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
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
        "<tr data-account=\"{}\" data-channel=\"{}\"><td>{account}</td><td>{}</td>",
        esc(&g.account),
        esc(&g.channel),
        esc(&g.channel)
    );
    cell(out, "requests", Some(g.requests as f64), |v| {
        format!("{v:.0}")
    });
    let before = g.previous.as_ref();
    cell(out, "response_rate", g.response_rate, percent);
    delta(
        out,
        crate::domain::compare::rate_change(g.response_rate, before.and_then(|p| p.response_rate)),
        before.and_then(|p| p.response_rate).map(percent),
        false,
    );
    cell(
        out,
        "median_first_reply_seconds",
        g.median_first_reply_seconds,
        duration,
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
    cell(
        out,
        "p90_first_reply_seconds",
        g.p90_first_reply_seconds,
        duration,
    );
    cell(out, "hit_ratio_1h", g.hit_ratio_1h, percent);
    cell(out, "hit_ratio_24h", g.hit_ratio_24h, percent);
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
    cell(out, "pending", Some(g.pending as f64), |v| {
        format!("{v:.0}")
    });
    cell(
        out,
        "oldest_pending_seconds",
        g.oldest_pending_seconds,
        duration,
    );
    out.push_str("</tr>");
}

const HEADER: &str = "<tr><th>account</th><th>channel</th><th>requests</th><th>response rate</th><th>vs prior 7 d</th><th>median first reply</th>\
<th>vs prior 7 d</th><th>p90 first reply</th><th>within 1 h</th><th>within 24 h</th><th>responsive badge</th><th>pending</th><th>oldest pending</th></tr>";

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

/// `GET /`: every account and channel over the last 7 days.
pub async fn overview(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Html<String>> {
    let (now, mut report, open) = report(&state, Scope::All, &q, false).await?;
    // SPEC §6: only the token's accounts exist for it.
    report.groups.retain(|g| access.allows(&g.account));
    let mut out = String::new();
    let _ = write!(
        out,
        "<h1>replywatch</h1><p>Requests opened in the 7 days to {} · <a href=\"/metrics\">metrics</a> · <a href=\"/openapi.json\">API</a></p>",
        esc(&now.to_string())
    );
    clock_toggle(&mut out, "/", business(&q));
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
    } else {
        let _ = write!(out, "<table id=\"groups\">{HEADER}");
        for g in &report.groups {
            group_row(&mut out, g, true);
        }
        out.push_str("</table>");
    }
    Ok(page("replywatch", &out))
}

/// "How far from the badge", in numbers, for each group of the account
/// that misses it (`domain::badge`: the rule and its test against the core).
async fn badge_gaps(
    out: &mut String,
    state: &AppState,
    account: &str,
    now: Timestamp,
    groups: &[&GroupStats],
) -> ApiResult<()> {
    let missing: Vec<String> = groups
        .iter()
        .filter(|g| !g.badge_eligible)
        .map(|g| g.channel.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let who = account.to_string();
    let inputs = state
        .read(Scope::Account(account), move |engine| {
            crate::domain::badge::badge_inputs_by_channel(engine.set(), engine, now, WEEK, &who)
        })
        .await?;
    out.push_str("<h2>How far from the badge</h2><ul id=\"badge-gap\">");
    for channel in missing {
        let (hits, decided, replies) = inputs.get(&channel).cloned().unwrap_or_default();
        let gap = crate::domain::badge::badge_gap(hits, decided, &replies);
        let _ = write!(
            out,
            "<li data-channel=\"{}\"><b>{}</b>: {}</li>",
            esc(&channel),
            esc(&channel),
            esc(&gap.words(&replies).join("; "))
        );
    }
    out.push_str("</ul><p><small>Meta's rule over 7 days: at least 90 % of new conversations answered within 24 h, and the fastest 90 % of first replies averaging 15 minutes or less.</small></p>");
    Ok(())
}

/// `GET /accounts/{account}`: one account's figures, charts, agents and oldest pending requests.
pub async fn account(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Path(account): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Html<String>> {
    AppState::check_account(&access, &account)?;
    let (now, report, open) = report(&state, Scope::Account(&account), &q, true).await?;
    let groups: Vec<&GroupStats> = report
        .groups
        .iter()
        .filter(|g| g.account == account)
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<p><a href=\"/\">← all accounts</a></p><h1>{}</h1>",
        esc(&account)
    );
    clock_toggle(
        &mut out,
        &format!("/accounts/{}", url(&account)),
        business(&q),
    );
    not_final_line(&mut out, open.get(&account).copied().unwrap_or(0));
    if groups.is_empty() {
        out.push_str("<p>No requests in the last 7 days.</p>");
        return Ok(page(&account, &out));
    }
    let _ = write!(out, "<table id=\"groups\">{HEADER}");
    for g in &groups {
        group_row(&mut out, g, false);
    }
    out.push_str("</table>");
    badge_gaps(&mut out, &state, &account, now, &groups).await?;

    if let Some(all) = groups.iter().find(|g| g.channel == ALL_CHANNELS) {
        out.push_str("<h2>Agents</h2><table id=\"agents\"><tr><th>agent</th><th>answered</th><th>median</th><th>p90</th><th>within 1 h</th></tr>");
        for a in all.agents.iter().flatten() {
            let name = a.agent.as_deref().map_or("(no agent)".to_string(), esc);
            let _ = write!(out, "<tr><td>{name}</td>");
            cell(&mut out, "answered", Some(a.answered as f64), |v| {
                format!("{v:.0}")
            });
            cell(
                &mut out,
                "median_first_reply_seconds",
                a.median_first_reply_seconds,
                duration,
            );
            cell(
                &mut out,
                "p90_first_reply_seconds",
                a.p90_first_reply_seconds,
                duration,
            );
            cell(&mut out, "hit_ratio_1h", a.hit_ratio_1h, percent);
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Charts (all channels, 7 days)</h2>");
    for chart in Chart::ALL {
        let _ = write!(
            out,
            "<div><img alt=\"{0}\" src=\"/v1/charts/{0}.png?account={1}&amp;channel=all&amp;window=7d\"></div>",
            chart.name(),
            url(&account)
        );
    }

    let who = account.clone();
    let pending: Vec<(String, String, Timestamp)> = state
        .read(Scope::Account(&account), move |engine| {
            let set = engine.set();
            let start = now.minus(Micros(30 * 86_400 * 1_000_000));
            let mut rows: Vec<(String, String, Timestamp)> = engine
                .operational_requests()
                .filter(|(s, _)| set.stream(*s).account.as_str() == who)
                .flat_map(|(s, requests)| requests.iter().map(move |r| (s, r)))
                .filter(|(_, r)| {
                    r.opened_at >= start && r.opened_at < now && r.reply.is_none_or(|x| x.at >= now)
                })
                .map(|(s, r)| {
                    (
                        set.stream(s).channel.to_string(),
                        set.conversation_id(r.conversation).to_string(),
                        r.opened_at,
                    )
                })
                .collect();
            rows.sort_by_key(|r| r.2);
            rows.truncate(20);
            rows
        })
        .await?;
    out.push_str("<h2>Oldest pending requests (30 days)</h2>");
    if pending.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str("<table id=\"pending\"><tr><th>channel</th><th>conversation</th><th>opened</th><th>waiting</th></tr>");
        for (channel, conversation, opened) in pending {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&channel),
                esc(&conversation),
                esc(&opened.to_string()),
                duration(now.since(opened).as_seconds_f64())
            );
        }
        out.push_str("</table>");
    }
    Ok(page(&account, &out))
}
