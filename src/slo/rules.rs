//! The Prometheus rule file of a set of objectives (`replywatch rules`):
//! per objective, recording rules for the decided and missed requests and
//! the error ratio of every alert window (increases of SPEC §5's decided
//! counter, never a mean of ratios), the objective, the budget left over
//! the period and the time to its exhaustion; one alert per burn-rate tier
//! of `domain::slo::tiers` (labels `tier`, `severity`, `slo`, `account`,
//! `channel` for routing and inhibition) and one pending-age alert.
//! Guards: `min_requests` in the long window, an error ratio of 0 (never
//! NaN) on a window without decided requests.

use crate::domain::slo::{Accounts, ClockKind, Objective, Tier};
use serde::Serialize;
use std::collections::BTreeMap;

/// Rule file, as Prometheus reads it.
#[derive(Debug, Serialize)]
pub struct RuleFile {
    pub groups: Vec<Group>,
}

#[derive(Debug, Serialize)]
pub struct Group {
    pub name: String,
    pub interval: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Serialize, Default)]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// How rules are written.
#[derive(Debug, Clone, Copy)]
pub struct RuleOptions {
    /// Every window, `for` and interval divided by this (1: as specified).
    /// Only for trying the rules against a running service in minutes
    /// instead of days; record names keep the unscaled windows.
    pub time_scale: u32,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions { time_scale: 1 }
    }
}

/// The alert name of a tier (one per tier: `tier`/`severity` label it).
pub fn alert_name(tier: &Tier) -> String {
    match tier.name {
        "fast" => "ReplywatchSLOBurnFast".into(),
        "medium" => "ReplywatchSLOBurnMedium".into(),
        "slow" => "ReplywatchSLOBurnSlow".into(),
        other => format!("ReplywatchSLOBurn_{other}"),
    }
}

/// The pending-age alert's name.
pub const PENDING_ALERT: &str = "ReplywatchSLOPendingPastObjective";

/// Evaluation interval of the alert windows' group, and of the period's.
const ALERT_INTERVAL: i64 = 60;
const PERIOD_INTERVAL: i64 = 300;
/// How long a request must wait past the objective before the pending alert.
const PENDING_FOR: i64 = 300;

/// A duration as Prometheus writes it (`1h`, `2h30m`, `4d`).
pub fn duration(seconds: i64) -> String {
    if seconds <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = seconds;
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    out
}

/// A PromQL string literal.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// RE2 syntax for a literal.
fn regex_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn account_matcher(o: &Objective) -> Option<String> {
    let alternatives = |list: &[crate::domain::AccountId]| {
        list.iter()
            .map(|a| regex_literal(a.as_str()))
            .collect::<Vec<_>>()
            .join("|")
    };
    match &o.accounts {
        Accounts::All { except } if except.is_empty() => None,
        Accounts::All { except } => Some(format!("account!~{}", quoted(&alternatives(except)))),
        Accounts::Listed(list) if list.len() == 1 => {
            Some(format!("account={}", quoted(list[0].as_str())))
        }
        Accounts::Listed(list) => Some(format!("account=~{}", quoted(&alternatives(list)))),
    }
}

fn clock_matcher(o: &Objective) -> &'static str {
    match o.clock {
        ClockKind::Calendar => "clock=\"\"",
        ClockKind::Business => "clock=\"business\"",
    }
}

/// What an objective's rules select and how they group.
struct Selection<'a> {
    o: &'a Objective,
    /// `account` or `account, channel`.
    by: &'static str,
    scale: i64,
}

impl Selection<'_> {
    fn decided(&self, extra: &str) -> String {
        let mut m = vec![
            format!("within={}", quoted(self.o.within.0)),
            clock_matcher(self.o).to_string(),
        ];
        m.extend(account_matcher(self.o));
        if let Some(c) = &self.o.channel {
            m.push(format!("channel={}", quoted(c.as_str())));
        }
        if !extra.is_empty() {
            m.push(extra.to_string());
        }
        format!("replywatch_requests_decided_total{{{}}}", m.join(", "))
    }

    fn range(&self, seconds: i64) -> String {
        duration((seconds / self.scale).max(1))
    }

    /// A recorded series of this objective.
    fn recorded(&self, name: &str) -> String {
        format!("{name}{{slo={}}}", quoted(&self.o.name))
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert("slo".to_string(), self.o.name.clone());
        if self.o.channel.is_none() {
            l.insert("channel".to_string(), "all".to_string());
        }
        l
    }

    /// Decided, missed, error ratio and burn rate over `window` seconds.
    fn window_rules(&self, window: i64) -> Vec<Rule> {
        let w = duration(window);
        let decided = format!("slo:replywatch_requests_decided:increase{w}");
        let missed = format!("slo:replywatch_requests_missed:increase{w}");
        let ratio = format!("slo:replywatch_error:ratio{w}");
        let range = self.range(window);
        let record = |name: &str, expr: String| Rule {
            record: Some(name.to_string()),
            expr,
            labels: self.labels(),
            ..Rule::default()
        };
        vec![
            record(
                &decided,
                format!(
                    "sum by ({}) (increase({}[{range}]))",
                    self.by,
                    self.decided("")
                ),
            ),
            // No miss series yet is 0 misses (not an absent ratio).
            record(
                &missed,
                format!(
                    "sum by ({by}) (increase({}[{range}])) or on ({by}) (0 * {})",
                    self.decided("outcome=\"miss\""),
                    self.recorded(&decided),
                    by = self.by
                ),
            ),
            // A window without decided requests has an error ratio of 0: an
            // idle account burns nothing and never turns the budget NaN.
            record(
                &ratio,
                format!(
                    "{m} / ({d} > 0) or (0 * {d})",
                    m = self.recorded(&missed),
                    d = self.recorded(&decided)
                ),
            ),
            record(
                &format!("slo:replywatch_burn_rate:rate{w}"),
                format!("{} / {}", self.recorded(&ratio), number(self.o.budget())),
            ),
        ]
    }
}

/// Every window an objective's tiers use (long and short), ascending.
fn alert_windows(tiers: &[Tier]) -> Vec<i64> {
    let mut w: Vec<i64> = tiers
        .iter()
        .flat_map(|t| [t.long_seconds, t.short_seconds])
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// A number as a rule writes it: at most 10 decimals, no float noise
/// (`1 - 0.9` is written 0.1).
pub fn number(x: f64) -> String {
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

fn percent(x: f64) -> String {
    let v = (x * 1000.0).round() / 10.0;
    if v.fract() == 0.0 {
        format!("{v:.0} %")
    } else {
        format!("{v} %")
    }
}

/// A human sentence of what the objective promises.
pub fn describe(o: &Objective) -> String {
    format!(
        "{} of requests answered within {} over {}{}",
        percent(o.objective),
        o.within.0,
        o.period.label(),
        match o.clock {
            ClockKind::Calendar => "",
            ClockKind::Business => " (business hours)",
        }
    )
}

/// The query of an objective's recorded series for the alert's labels,
/// as a Go template expression.
fn template_query(name: &str) -> String {
    format!(
        "printf \"{name}{{slo=%q,account=%q,channel=%q}}\" $labels.slo $labels.account $labels.channel | query"
    )
}

fn burn_alert(sel: &Selection, tier: &Tier) -> Rule {
    let o = sel.o;
    let long = duration(tier.long_seconds);
    let short = duration(tier.short_seconds);
    let t = number(tier.threshold);
    let expr = format!(
        "{long_ratio} > {t} and {short_ratio} > {t} and {decided} >= {min}",
        long_ratio = sel.recorded(&format!("slo:replywatch_error:ratio{long}")),
        short_ratio = sel.recorded(&format!("slo:replywatch_error:ratio{short}")),
        decided = sel.recorded(&format!("slo:replywatch_requests_decided:increase{long}")),
        min = o.min_requests,
    );
    let mut labels = sel.labels();
    labels.insert("tier".into(), tier.name.into());
    labels.insert("severity".into(), tier.severity.label().into());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".into(),
        format!(
            "{{{{ $labels.account }}}}/{{{{ $labels.channel }}}}: objective {} ({}) burns its error budget at over {}x the sustainable rate",
            o.name,
            describe(o),
            number((tier.factor * 100.0).round() / 100.0)
        ),
    );
    let period = o.period.label();
    annotations.insert(
        "description".into(),
        format!(
            "{{{{ $value | humanizePercentage }}}} of the requests decided in the last {long} were not answered within {within} \
             (the tier fires above {threshold}: {spent} of the {period} budget in {long}, a full budget gone in {lasts}). \
             {{{{ with {remaining} }}}}{{{{ with . | first | value }}}}{{{{ if le . 0.0 }}}}The {period} error budget is spent ({{{{ humanizePercentage . }}}} left).\
             {{{{ else }}}}{{{{ humanizePercentage . }}}} of the {period} error budget is left{{{{ with {exhaustion} }}}}; at this rate it is spent in {{{{ . | first | value | humanizeDuration }}}}{{{{ end }}}}.{{{{ end }}}}{{{{ end }}}}{{{{ end }}}}",
            within = o.within.0,
            threshold = percent(tier.threshold),
            spent = percent(tier.budget_spent),
            lasts = duration((o.period.seconds() as f64 / tier.factor).round() as i64),
            remaining = template_query("slo:replywatch_error_budget_remaining:ratio"),
            exhaustion = template_query("slo:replywatch_error_budget_exhaustion:seconds"),
        ),
    );
    annotations.insert(
        "runbook".into(),
        "Open GET /v1/requests?account={{ $labels.account }}&state=pending (oldest first) and the dashboard's SLO panels; answer the waiting customers, then look at staffing for this channel.".into(),
    );
    Rule {
        alert: Some(alert_name(tier)),
        expr,
        for_: Some(sel.range(tier.for_seconds)),
        labels,
        annotations,
        ..Rule::default()
    }
}

/// Unanswered requests past the threshold page even with no decided
/// traffic (a quiet account whose only customer waits).
fn pending_alert(sel: &Selection) -> Rule {
    let o = sel.o;
    let mut m = vec![
        clock_matcher(o).to_string(),
        format!("channel={}", quoted(o.channel_label())),
    ];
    m.extend(account_matcher(o));
    let mut labels = sel.labels();
    labels.insert("tier".into(), "pending".into());
    labels.insert("severity".into(), "critical".into());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".into(),
        format!(
            "{{{{ $labels.account }}}}/{{{{ $labels.channel }}}}: a customer has waited {{{{ $value | humanizeDuration }}}}, past objective {} (within {})",
            o.name, o.within.0
        ),
    );
    annotations.insert(
        "runbook".into(),
        "Answer the requests of GET /v1/requests?account={{ $labels.account }}&state=pending (oldest first).".into(),
    );
    Rule {
        alert: Some(PENDING_ALERT.into()),
        expr: format!(
            "max by (account, channel) (replywatch_oldest_pending_seconds{{{}}}) > {}",
            m.join(", "),
            o.within.1
        ),
        for_: Some(sel.range(PENDING_FOR)),
        labels,
        annotations,
        ..Rule::default()
    }
}

/// The rule groups of one objective: alert windows and alerts every
/// minute, the period's figures every 5 minutes (a 28-day increase is the
/// expensive one).
pub fn objective_groups(o: &Objective, opts: RuleOptions) -> Vec<Group> {
    let scale = i64::from(opts.time_scale.max(1));
    let sel = Selection {
        o,
        by: if o.channel.is_some() {
            "account, channel"
        } else {
            "account"
        },
        scale,
    };
    let tiers = o.tiers();
    let mut rules: Vec<Rule> = alert_windows(&tiers)
        .into_iter()
        .flat_map(|w| sel.window_rules(w))
        .collect();
    rules.extend(tiers.iter().map(|t| burn_alert(&sel, t)));
    rules.push(pending_alert(&sel));

    let p = o.period.seconds();
    let pw = duration(p);
    let mut period = sel.window_rules(p);
    let record = |name: &str, expr: String| Rule {
        record: Some(name.to_string()),
        expr,
        labels: sel.labels(),
        ..Rule::default()
    };
    let decided_p = sel.recorded(&format!("slo:replywatch_requests_decided:increase{pw}"));
    period.push(record(
        "slo:replywatch_objective:ratio",
        format!("0 * {decided_p} + {}", number(o.objective)),
    ));
    period.push(record(
        "slo:replywatch_error_budget_remaining:ratio",
        format!(
            "1 - {} / {}",
            sel.recorded(&format!("slo:replywatch_error:ratio{pw}")),
            number(o.budget())
        ),
    ));
    // At the burn rate of the slowest tier's long window: what is left of
    // the budget lasts left × period / burn rate (0 when spent; absent
    // when nothing burns).
    let slowest = tiers.last().map_or(86_400, |t| t.long_seconds);
    period.push(record(
        "slo:replywatch_error_budget_exhaustion:seconds",
        format!(
            "clamp_min({}, 0) * {p} / ({} > 0)",
            sel.recorded("slo:replywatch_error_budget_remaining:ratio"),
            sel.recorded(&format!(
                "slo:replywatch_burn_rate:rate{}",
                duration(slowest)
            ))
        ),
    ));
    vec![
        Group {
            name: format!("replywatch-slo-{}", o.name),
            interval: sel.range(ALERT_INTERVAL),
            rules,
        },
        Group {
            name: format!("replywatch-slo-{}-period", o.name),
            interval: sel.range(PERIOD_INTERVAL),
            rules: period,
        },
    ]
}

/// The rule file of every objective.
pub fn rule_file(objectives: &[Objective], opts: RuleOptions) -> RuleFile {
    RuleFile {
        groups: objectives
            .iter()
            .flat_map(|o| objective_groups(o, opts))
            .collect(),
    }
}

/// The rule file as YAML, with a header saying where it came from.
pub fn render(objectives: &[Objective], opts: RuleOptions) -> anyhow::Result<String> {
    let mut out = String::from(
        "# Generated by `replywatch rules` from an objectives file: do not edit, regenerate.\n\
         # Windows and factors: README \"Objectives and burn-rate alerts\".\n",
    );
    if opts.time_scale > 1 {
        out.push_str(&format!(
            "# Time compressed {}x for trials: every window and `for` is divided by it.\n",
            opts.time_scale
        ));
    }
    out.push_str(&serde_yaml::to_string(&rule_file(objectives, opts))?);
    Ok(out)
}

/// Series the rules of `objectives` record per covered (account, channel).
pub fn series_per_account(objectives: &[Objective]) -> usize {
    objectives
        .iter()
        .map(|o| (alert_windows(&o.tiers()).len() + 1) * 4 + 3)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::slo::ObjectiveSpec;

    fn objective(accounts: Option<Vec<&str>>, except: Vec<&str>) -> Objective {
        ObjectiveSpec {
            name: "badge".into(),
            accounts: accounts.map(|l| l.into_iter().map(String::from).collect()),
            except: except.into_iter().map(String::from).collect(),
            within: "15m".into(),
            objective: 0.9,
            period: "7d".into(),
            ..ObjectiveSpec::default()
        }
        .validate(0)
        .unwrap()
    }

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(86_400), "1d");
        assert_eq!(duration(4 * 86_400), "4d");
        assert_eq!(duration(9_000), "2h30m");
        assert_eq!(duration(1), "1s");
    }

    #[test]
    fn accounts_become_exact_matchers_with_regex_characters_escaped() {
        let o = objective(None, vec![]);
        assert_eq!(account_matcher(&o), None);
        let o = objective(None, vec!["test.page", "x\"y"]);
        assert_eq!(
            account_matcher(&o).unwrap(),
            r#"account!~"test\\.page|x\"y""#
        );
        let o = objective(Some(vec!["1000123"]), vec![]);
        assert_eq!(account_matcher(&o).unwrap(), r#"account="1000123""#);
    }

    #[test]
    fn the_error_ratio_comes_from_increases_of_the_decided_counter() {
        let o = objective(None, vec!["test-page"]);
        let groups = objective_groups(&o, RuleOptions::default());
        let rules = &groups[0].rules;
        let decided = rules
            .iter()
            .find(|r| r.record.as_deref() == Some("slo:replywatch_requests_decided:increase1h"))
            .unwrap();
        assert_eq!(
            decided.expr,
            r#"sum by (account) (increase(replywatch_requests_decided_total{within="15m", clock="", account!~"test-page"}[1h]))"#
        );
        assert_eq!(decided.labels["channel"], "all");
        let ratio = rules
            .iter()
            .find(|r| r.record.as_deref() == Some("slo:replywatch_error:ratio1h"))
            .unwrap();
        assert!(ratio.expr.contains("> 0) or (0 *"), "{}", ratio.expr);
        assert!(!ratio.expr.contains("avg_over_time"));
        let alerts: Vec<_> = rules.iter().filter_map(|r| r.alert.as_deref()).collect();
        assert_eq!(
            alerts,
            [
                "ReplywatchSLOBurnFast",
                "ReplywatchSLOBurnMedium",
                "ReplywatchSLOBurnSlow",
                PENDING_ALERT
            ]
        );
        let fast = rules
            .iter()
            .find(|r| r.alert.as_deref() == Some("ReplywatchSLOBurnFast"))
            .unwrap();
        assert_eq!(
            fast.expr,
            r#"slo:replywatch_error:ratio1h{slo="badge"} > 0.336 and slo:replywatch_error:ratio5m{slo="badge"} > 0.336 and slo:replywatch_requests_decided:increase1h{slo="badge"} >= 10"#
        );
        assert_eq!(fast.labels["severity"], "critical");
        assert_eq!(fast.labels["tier"], "fast");
        assert_eq!(fast.for_.as_deref(), Some("2m"));
    }

    #[test]
    fn a_time_scale_shrinks_ranges_but_keeps_record_names() {
        let o = objective(None, vec![]);
        let groups = objective_groups(&o, RuleOptions { time_scale: 60 });
        let decided = groups[0]
            .rules
            .iter()
            .find(|r| r.record.as_deref() == Some("slo:replywatch_requests_decided:increase1h"))
            .unwrap();
        assert!(decided.expr.ends_with("[1m]))"), "{}", decided.expr);
        assert_eq!(groups[0].interval, "1s");
        assert_eq!(groups[1].interval, "5s");
    }
}
