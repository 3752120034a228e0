//! `GET /accounts/{account}`: one account's figures by channel, how far it
//! is from the badge, its agents, its five charts and its oldest pending
//! requests.

use super::{
    PageQuery, WEEK, business, cell, clock_toggle, duration, esc, group_row, header,
    not_final_line, page, percent, plain, report, url,
};
use crate::domain::{ALL_CHANNELS, GroupStats, Micros, Timestamp};
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::http::extract::Params;
use crate::reports::charts::Chart;
use crate::service::figures::Scope;
use axum::extract::{Path, State};
use axum::response::Html;
use std::fmt::Write as _;

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
    out.push_str("<div class=\"scroll\"><table id=\"groups\">");
    header(&mut out, plain);
    for g in &groups {
        group_row(&mut out, g, false);
    }
    out.push_str("</table></div>");
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
