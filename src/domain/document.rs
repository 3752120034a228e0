//! The §4 document: [`StatsReport`] with its groups in SPEC order, and its
//! CSV form. Pure data and formatting; no IO.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// The section-4 document (`analyze`, `GET /v1/stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// RFC 3339, UTC.
    pub as_of: String,
    pub window_seconds: i64,
    pub groups: Vec<GroupStats>,
}

/// The SPEC §3 figures of one (`account`, `channel`) group, or of an account
/// over all its channels (`channel` = `"all"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub account: String,
    pub channel: String,
    pub requests: u64,
    pub answered: u64,
    pub pending: u64,
    pub response_rate: Option<f64>,
    pub hit_ratio_1h: Option<f64>,
    pub hit_ratio_24h: Option<f64>,
    pub median_first_reply_seconds: Option<f64>,
    pub p90_first_reply_seconds: Option<f64>,
    pub oldest_pending_seconds: Option<f64>,
    pub badge_conversations: u64,
    pub badge_response_rate: Option<f64>,
    pub badge_response_seconds: Option<f64>,
    pub badge_eligible: bool,
    pub badge_blockers: Vec<String>,
    /// Present only with `--by-agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<AgentStats>>,
    /// Present only with `--compare-previous` (SPEC §4): the same figures
    /// for the requests opened in the period of the same length before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PeriodStats>,
}

/// The figures of a group over one period, without its name: a group's
/// `previous` (SPEC §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodStats {
    pub requests: u64,
    pub answered: u64,
    pub pending: u64,
    pub response_rate: Option<f64>,
    pub hit_ratio_1h: Option<f64>,
    pub hit_ratio_24h: Option<f64>,
    pub median_first_reply_seconds: Option<f64>,
    pub p90_first_reply_seconds: Option<f64>,
    pub oldest_pending_seconds: Option<f64>,
    pub badge_conversations: u64,
    pub badge_response_rate: Option<f64>,
    pub badge_response_seconds: Option<f64>,
    pub badge_eligible: bool,
    pub badge_blockers: Vec<String>,
}

impl GroupStats {
    /// A group with no request in its period (SPEC §4: a group listed for
    /// the other period): counts 0, ratios and times `null`, not eligible.
    pub fn empty(account: &str, channel: &str, by_agent: bool) -> GroupStats {
        GroupStats {
            account: account.to_string(),
            channel: channel.to_string(),
            requests: 0,
            answered: 0,
            pending: 0,
            response_rate: None,
            hit_ratio_1h: None,
            hit_ratio_24h: None,
            median_first_reply_seconds: None,
            p90_first_reply_seconds: None,
            oldest_pending_seconds: None,
            badge_conversations: 0,
            badge_response_rate: None,
            badge_response_seconds: None,
            badge_eligible: false,
            badge_blockers: super::stats::badge_blockers(Default::default(), None),
            agents: by_agent.then(Vec::new),
            previous: None,
        }
    }

    /// The figures without the group's name.
    pub fn figures(&self) -> PeriodStats {
        PeriodStats {
            requests: self.requests,
            answered: self.answered,
            pending: self.pending,
            response_rate: self.response_rate,
            hit_ratio_1h: self.hit_ratio_1h,
            hit_ratio_24h: self.hit_ratio_24h,
            median_first_reply_seconds: self.median_first_reply_seconds,
            p90_first_reply_seconds: self.p90_first_reply_seconds,
            oldest_pending_seconds: self.oldest_pending_seconds,
            badge_conversations: self.badge_conversations,
            badge_response_rate: self.badge_response_rate,
            badge_response_seconds: self.badge_response_seconds,
            badge_eligible: self.badge_eligible,
            badge_blockers: self.badge_blockers.clone(),
        }
    }
}

impl StatsReport {
    /// SPEC §4 comparison: `self` (the current period) with every group
    /// given the figures of the same group in `previous` (the period of the
    /// same length before, measured at the same instant); a group with
    /// requests in only one period shows the other as an empty group.
    pub fn with_previous(mut self, previous: StatsReport, by_agent: bool) -> StatsReport {
        let mut before: std::collections::HashMap<(String, String), GroupStats> = previous
            .groups
            .into_iter()
            .map(|g| ((g.account.clone(), g.channel.clone()), g))
            .collect();
        for g in &mut self.groups {
            let key = (g.account.clone(), g.channel.clone());
            let old = before
                .remove(&key)
                .unwrap_or_else(|| GroupStats::empty(&g.account, &g.channel, false));
            g.previous = Some(old.figures());
        }
        for (_, old) in before {
            let mut g = GroupStats::empty(&old.account, &old.channel, by_agent);
            g.previous = Some(old.figures());
            self.groups.push(g);
        }
        self.groups
            .sort_by(|a, b| group_order((&a.account, &a.channel), (&b.account, &b.channel)));
        self
    }
}

/// Per-agent figures over the requests an agent answered (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStats {
    pub agent: Option<String>,
    pub answered: u64,
    pub median_first_reply_seconds: Option<f64>,
    pub p90_first_reply_seconds: Option<f64>,
    pub hit_ratio_1h: Option<f64>,
    pub hit_ratio_24h: Option<f64>,
}

/// SPEC §4: byte-wise by account, then by channel with `"all"` last.
pub fn group_order(a: (&str, &str), b: (&str, &str)) -> Ordering {
    let channel_key = |c: &str| (c == super::ids::ALL_CHANNELS, c.to_string());
    a.0.cmp(b.0)
        .then_with(|| channel_key(a.1).cmp(&channel_key(b.1)))
}

/// SPEC §3: agents byte-wise, the `null` agent last.
pub fn agent_order(a: &Option<String>, b: &Option<String>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The column names of the CSV form, in JSON field order.
pub const CSV_COLUMNS: [&str; 16] = [
    "account",
    "channel",
    "requests",
    "answered",
    "pending",
    "response_rate",
    "hit_ratio_1h",
    "hit_ratio_24h",
    "median_first_reply_seconds",
    "p90_first_reply_seconds",
    "oldest_pending_seconds",
    "badge_conversations",
    "badge_response_rate",
    "badge_response_seconds",
    "badge_eligible",
    "badge_blockers",
];

/// Columns of the per-agent CSV form (`--by-agent --format csv`).
pub const AGENT_CSV_COLUMNS: [&str; 8] = [
    "account",
    "channel",
    "agent",
    "answered",
    "median_first_reply_seconds",
    "p90_first_reply_seconds",
    "hit_ratio_1h",
    "hit_ratio_24h",
];

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV cells of a period's figures, in [`CSV_COLUMNS`] order after
/// `account` and `channel`.
fn figure_cells(f: &PeriodStats) -> Vec<String> {
    vec![
        f.requests.to_string(),
        f.answered.to_string(),
        f.pending.to_string(),
        csv_number(f.response_rate),
        csv_number(f.hit_ratio_1h),
        csv_number(f.hit_ratio_24h),
        csv_number(f.median_first_reply_seconds),
        csv_number(f.p90_first_reply_seconds),
        csv_number(f.oldest_pending_seconds),
        f.badge_conversations.to_string(),
        csv_number(f.badge_response_rate),
        csv_number(f.badge_response_seconds),
        f.badge_eligible.to_string(),
        csv_field(&f.badge_blockers.join(";")),
    ]
}

/// A float as JSON writes it, empty for `null`.
pub fn csv_number(v: Option<f64>) -> String {
    v.map(|x| serde_json::Number::from_f64(x).map_or_else(String::new, |n| n.to_string()))
        .unwrap_or_default()
}

impl StatsReport {
    /// One row per group, header first, empty cells for `null`,
    /// `badge_blockers` joined with `;` (SPEC §4).
    pub fn to_csv(&self) -> String {
        // With the comparison: the figure columns again, `previous_` first.
        let compared = self.groups.iter().any(|g| g.previous.is_some());
        let mut header: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
        if compared {
            header.extend(CSV_COLUMNS[2..].iter().map(|c| format!("previous_{c}")));
        }
        let mut out = header.join(",");
        out.push('\n');
        for g in &self.groups {
            let mut cells: Vec<String> = vec![csv_field(&g.account), csv_field(&g.channel)];
            cells.extend(figure_cells(&g.figures()));
            if compared {
                let empty = GroupStats::empty("", "", false).figures();
                cells.extend(figure_cells(g.previous.as_ref().unwrap_or(&empty)));
            }
            let _ = writeln!(out, "{}", cells.join(","));
        }
        out
    }

    /// One row per (group, agent): the CSV form of `--by-agent` figures.
    /// The `null` agent is an empty cell.
    pub fn agents_to_csv(&self) -> String {
        let mut out = AGENT_CSV_COLUMNS.join(",");
        out.push('\n');
        for g in &self.groups {
            for a in g.agents.iter().flatten() {
                let cells = [
                    csv_field(&g.account),
                    csv_field(&g.channel),
                    csv_field(a.agent.as_deref().unwrap_or("")),
                    a.answered.to_string(),
                    csv_number(a.median_first_reply_seconds),
                    csv_number(a.p90_first_reply_seconds),
                    csv_number(a.hit_ratio_1h),
                    csv_number(a.hit_ratio_24h),
                ];
                let _ = writeln!(out, "{}", cells.join(","));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_sorts_last_within_its_account() {
        let mut v = vec![
            ("b", "all"),
            ("a", "all"),
            ("a", "whatsapp"),
            ("a", "instagram"),
            ("B", "x"),
        ];
        v.sort_by(|a, b| group_order(*a, *b));
        assert_eq!(
            v,
            [
                ("B", "x"),
                ("a", "instagram"),
                ("a", "whatsapp"),
                ("a", "all"),
                ("b", "all")
            ]
        );
    }

    #[test]
    fn null_agent_sorts_last() {
        let mut v = vec![None, Some("bob".to_string()), Some("Ayse".to_string())];
        v.sort_by(agent_order);
        assert_eq!(v, [Some("Ayse".to_string()), Some("bob".to_string()), None]);
    }

    #[test]
    fn a_comparison_lists_the_groups_of_either_period_and_csv_repeats_the_figures() {
        let group = |account: &str, requests| {
            let mut g = GroupStats::empty(account, "all", false);
            g.requests = requests;
            g
        };
        let report = |groups| StatsReport {
            as_of: "2026-11-09T00:00:00Z".into(),
            window_seconds: 604_800,
            groups,
        };
        let compared = report(vec![group("a", 2)])
            .with_previous(report(vec![group("b", 3), group("a", 1)]), false);
        let seen: Vec<(&str, u64, u64)> = compared
            .groups
            .iter()
            .map(|g| {
                let p = g.previous.as_ref().unwrap();
                (g.account.as_str(), g.requests, p.requests)
            })
            .collect();
        assert_eq!(seen, [("a", 2, 1), ("b", 0, 3)]);
        let csv = compared.to_csv();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header.len(), 2 + 2 * (CSV_COLUMNS.len() - 2));
        assert_eq!(header[CSV_COLUMNS.len()], "previous_requests");
        assert!(lines.nth(1).unwrap().starts_with("b,all,0,0,0,"));
    }

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_number(Some(1.0)), "1.0");
        assert_eq!(csv_number(None), "");
    }
}
