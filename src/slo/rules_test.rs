//! The `promtool test rules` file for the rules of [`super::rules`]: per
//! objective, one scenario per burn-rate tier (an error ratio just above
//! that tier's threshold and below the next faster one: that tier and the
//! slower ones fire, the faster ones stay silent), a quiet account whose
//! every decided request misses but stays under `min_requests` (no page),
//! an idle account (error ratio 0 and a whole budget, never NaN), and a
//! customer waiting past the threshold with no decided traffic (the
//! pending alert pages). Decoy series (another threshold, the other clock,
//! an excepted account) miss everything and must not count. Expected
//! annotations are rendered here as Prometheus renders them.

use super::rules::{PENDING_ALERT, alert_name, number};
use crate::domain::slo::{Accounts, ClockKind, Objective, Tier};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    tests: Vec<TestCase>,
}

#[derive(Serialize)]
struct TestCase {
    name: String,
    interval: String,
    input_series: Vec<Series>,
    alert_rule_test: Vec<AlertTest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Serialize)]
struct Series {
    series: String,
    values: String,
}

#[derive(Serialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Serialize)]
struct ExpAlert {
    exp_labels: BTreeMap<String, String>,
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ExprTest {
    expr: String,
    eval_time: String,
    exp_samples: Vec<Sample>,
}

#[derive(Serialize)]
struct Sample {
    labels: String,
    value: f64,
}

/// Decided requests per minute in the tier scenarios (misses are a whole
/// number of them, so ratios print exactly).
const PER_MINUTE: u64 = 10_000;
/// Minutes the scenarios run: past every tier's `for` (the slowest is 1 h).
const MINUTES: i64 = 75;

/// Go's `%.4g` (what `humanize`, `humanizePercentage` print).
pub fn go_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:.3e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if !(-4..4).contains(&exp) {
        let m = mantissa.trim_end_matches('0').trim_end_matches('.');
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let fixed = format!("{v:.*}", (3 - exp) as usize);
    if fixed.contains('.') {
        fixed
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        fixed
    }
}

/// Go template `humanizeDuration` for values of a second or more.
pub fn go_duration(v: f64) -> String {
    if v == 0.0 {
        return "0s".into();
    }
    let d = v.abs() as i64;
    let sign = if v < 0.0 { "-" } else { "" };
    let (days, hours, minutes, seconds) = (d / 86_400, d / 3_600 % 24, d / 60 % 60, d % 60);
    if days != 0 {
        format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
    } else if hours != 0 {
        format!("{sign}{hours}h {minutes}m {seconds}s")
    } else if minutes != 0 {
        format!("{sign}{minutes}m {seconds}s")
    } else {
        format!("{sign}{}s", go_g4(v.abs()))
    }
}

/// Replaces a template's `{{ $labels.x }}` by the scenario's labels.
fn with_labels(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in labels {
        out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    out
}

/// The file's objectives and rules, which every scenario runs against
/// (one scenario's series may be seen by several objectives).
struct Ctx<'a> {
    all: &'a [Objective],
    rules: &'a super::rules::RuleFile,
}

fn clock_label(clock: ClockKind) -> &'static str {
    match clock {
        ClockKind::Calendar => "",
        ClockKind::Business => ", clock=\"business\"",
    }
}

fn other(clock: ClockKind) -> ClockKind {
    match clock {
        ClockKind::Calendar => ClockKind::Business,
        ClockKind::Business => ClockKind::Calendar,
    }
}

impl Ctx<'_> {
    /// Objectives whose decided rules read the series of (account,
    /// channel, within, clock).
    fn seers(
        &self,
        account: &str,
        channel: &str,
        within: &str,
        clock: ClockKind,
    ) -> Vec<&Objective> {
        self.all
            .iter()
            .filter(|o| {
                o.within.0 == within
                    && o.clock == clock
                    && o.covers(account)
                    && o.channel.as_ref().is_none_or(|c| c.as_str() == channel)
            })
            .collect()
    }

    /// Every alert name of the file, in order.
    fn alert_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for o in self.all {
            for t in o.tiers() {
                let n = alert_name(&t);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names.push(PENDING_ALERT.to_string());
        names
    }

    fn find_alert(&self, slo: &str, alert: &str) -> &super::rules::Rule {
        self.rules
            .groups
            .iter()
            .filter(|g| g.name == format!("replywatch-slo-{slo}"))
            .flat_map(|g| &g.rules)
            .find(|r| r.alert.as_deref() == Some(alert))
            .expect("the generated alert")
    }

    /// Nothing fires.
    fn silent(&self) -> Vec<AlertTest> {
        self.alert_names()
            .into_iter()
            .map(|alertname| AlertTest {
                eval_time: eval_time(),
                alertname,
                exp_alerts: vec![],
            })
            .collect()
    }
}

/// Where a scenario's series live: one objective's account, channel,
/// threshold and clock.
struct Place<'a> {
    ctx: &'a Ctx<'a>,
    o: &'a Objective,
    account: String,
    /// The channel of the input series (an objective over all channels
    /// reads a real channel's series and reports `channel="all"`).
    channel: String,
}

impl Place<'_> {
    fn decided(&self, account: &str, within: &str, outcome: &str, clock: ClockKind) -> String {
        format!(
            "replywatch_requests_decided_total{{account=\"{account}\", channel=\"{}\", within=\"{within}\", outcome=\"{outcome}\"{}}}",
            self.channel,
            clock_label(clock)
        )
    }

    /// Hits and misses per minute of this objective's counter, plus decoys
    /// that miss everything and that no objective of the file may read
    /// (another threshold, the other clock, an excepted account).
    fn traffic(&self, hits: &str, misses: &str) -> Vec<Series> {
        let (within, clock) = (self.o.within.0, self.o.clock);
        let mut s = vec![
            Series {
                series: self.decided(&self.account, within, "hit", clock),
                values: hits.into(),
            },
            Series {
                series: self.decided(&self.account, within, "miss", clock),
                values: misses.into(),
            },
        ];
        let all_miss = format!("0+{PER_MINUTE}x{MINUTES}");
        let unseen = |account: &str, within: &str, clock: ClockKind| {
            self.ctx
                .seers(account, &self.channel, within, clock)
                .is_empty()
        };
        let mut decoys = Vec::new();
        if let Some((w, _)) = crate::domain::decisions::DECISION_THRESHOLDS
            .iter()
            .find(|(w, _)| unseen(&self.account, w, clock))
        {
            decoys.push((self.account.clone(), *w, clock));
        }
        if unseen(&self.account, within, other(clock)) {
            decoys.push((self.account.clone(), within, other(clock)));
        }
        if let Accounts::All { except } = &self.o.accounts
            && let Some(excepted) = except.first()
            && unseen(excepted.as_str(), within, clock)
        {
            decoys.push((excepted.as_str().to_string(), within, clock));
        }
        for (account, w, c) in decoys {
            s.push(Series {
                series: self.decided(&account, w, "miss", c),
                values: all_miss.clone(),
            });
        }
        s
    }

    /// The objectives reading this place's series.
    fn seers(&self) -> Vec<&Objective> {
        self.ctx
            .seers(&self.account, &self.channel, self.o.within.0, self.o.clock)
    }

    fn labels_for(&self, o: &Objective) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert("slo".to_string(), o.name.clone());
        l.insert("account".to_string(), self.account.clone());
        l.insert("channel".to_string(), o.channel_label().to_string());
        l
    }

    fn recorded(&self, name: &str) -> String {
        format!(
            "{name}{{account=\"{}\", channel=\"{}\", slo=\"{}\"}}",
            self.account,
            self.o.channel_label(),
            self.o.name
        )
    }

    /// What each alert of the file shows when every window's error ratio
    /// on this place's series is `ratio` (a tier fires above its threshold).
    fn expected_burns(&self, ratio: f64) -> Vec<AlertTest> {
        let seers = self.seers();
        self.ctx
            .alert_names()
            .into_iter()
            .map(|name| {
                let mut exp = Vec::new();
                for o in &seers {
                    for t in o.tiers() {
                        if alert_name(&t) == name && ratio > t.threshold {
                            exp.push(self.burn_alert(o, &t, ratio));
                        }
                    }
                }
                AlertTest {
                    eval_time: eval_time(),
                    alertname: name,
                    exp_alerts: exp,
                }
            })
            .collect()
    }

    fn burn_alert(&self, o: &Objective, t: &Tier, ratio: f64) -> ExpAlert {
        let mut labels = self.labels_for(o);
        labels.insert("tier".into(), t.name.into());
        labels.insert("severity".into(), t.severity.label().into());
        let rule = self.ctx.find_alert(&o.name, &alert_name(t));
        let budget: f64 = number(o.budget()).parse().unwrap_or(1.0);
        let description = expand_description(
            &rule.annotations["description"],
            &labels,
            ratio,
            1.0 - ratio / budget,
        );
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "summary".into(),
            with_labels(&rule.annotations["summary"], &labels),
        );
        annotations.insert("description".into(), description);
        annotations.insert(
            "runbook".into(),
            with_labels(&rule.annotations["runbook"], &labels),
        );
        ExpAlert {
            exp_labels: labels,
            exp_annotations: annotations,
        }
    }
}

/// An account the objective covers, for its scenarios.
fn covered_account(o: &Objective) -> String {
    match &o.accounts {
        Accounts::Listed(list) => list[0].as_str().to_string(),
        Accounts::All { .. } => {
            let mut a = "slo-test-account".to_string();
            while !o.covers(&a) {
                a.push('x');
            }
            a
        }
    }
}

fn eval_time() -> String {
    format!("{MINUTES}m")
}

/// The burn alert's description as Prometheus renders it for a spent
/// budget (every firing scenario spends it: its ratio exceeds the budget).
fn expand_description(
    template: &str,
    labels: &BTreeMap<String, String>,
    ratio: f64,
    remaining: f64,
) -> String {
    let text = with_labels(template, labels).replace(
        "{{ $value | humanizePercentage }}",
        &format!("{}%", go_g4(ratio * 100.0)),
    );
    let start = text.find("{{ with printf").expect("the budget part");
    let head = &text[..start];
    let spent = text[start..]
        .split("{{ if le . 0.0 }}")
        .nth(1)
        .and_then(|s| s.split("{{ else }}").next())
        .expect("the spent branch");
    let spent = spent.replace(
        "{{ humanizePercentage . }}",
        &format!("{}%", go_g4(remaining * 100.0)),
    );
    format!("{head}{spent}")
}

fn place_of<'a>(ctx: &'a Ctx<'a>, o: &'a Objective) -> Place<'a> {
    Place {
        ctx,
        o,
        account: covered_account(o),
        channel: o
            .channel
            .as_ref()
            .map_or("messenger".into(), |c| c.as_str().into()),
    }
}

/// An error ratio just above tier `i`'s threshold and below the next
/// faster one's: that tier and the slower ones fire, the faster ones not.
fn tier_scenario(ctx: &Ctx, o: &Objective, i: usize, tiers: &[Tier]) -> TestCase {
    let upper = if i == 0 { 1.0 } else { tiers[i - 1].threshold };
    let wanted = (tiers[i].threshold + upper) / 2.0;
    let misses = ((wanted * PER_MINUTE as f64).round() as u64).clamp(1, PER_MINUTE);
    let ratio = misses as f64 / PER_MINUTE as f64;
    let place = place_of(ctx, o);
    let input_series = place.traffic(
        &format!("0+{}x{MINUTES}", PER_MINUTE - misses),
        &format!("0+{misses}x{MINUTES}"),
    );
    TestCase {
        name: format!(
            "{}: error ratio {} fires tier {} and slower, not faster",
            o.name,
            number(ratio),
            tiers[i].name
        ),
        interval: "1m".into(),
        input_series,
        alert_rule_test: place.expected_burns(ratio),
        promql_expr_test: vec![],
    }
}

/// Minutes of the quiet scenario's misses: each tier's short window holds
/// one for longer than the tier's `for` at the end (so only the guard can
/// keep it silent), and a 1-hour window holds three.
const QUIET_MISSES: [i64; 4] = [10, 55, 70, 73];

/// Every decided request misses, but fewer than `min_requests` of them:
/// no burn alert, though the error ratio is 1. (Only when every objective
/// reading the series needs more than the four misses it takes to hold
/// every tier's condition.)
fn quiet_scenario(ctx: &Ctx, o: &Objective) -> Option<TestCase> {
    let place = place_of(ctx, o);
    if place
        .seers()
        .iter()
        .any(|s| (s.min_requests as usize) <= QUIET_MISSES.len())
    {
        return None;
    }
    let misses: Vec<String> = (0..=MINUTES)
        .map(|m| {
            QUIET_MISSES
                .iter()
                .filter(|&&at| at <= m)
                .count()
                .to_string()
        })
        .collect();
    let input_series = place.traffic(&format!("0x{MINUTES}"), &misses.join(" "));
    Some(TestCase {
        name: format!(
            "{}: {} misses on a quiet account page nobody (min_requests {})",
            o.name,
            QUIET_MISSES.len(),
            o.min_requests
        ),
        interval: "1m".into(),
        input_series,
        alert_rule_test: ctx.silent(),
        promql_expr_test: vec![ExprTest {
            expr: place.recorded("slo:replywatch_error:ratio1h"),
            eval_time: eval_time(),
            exp_samples: vec![Sample {
                labels: place.recorded("slo:replywatch_error:ratio1h"),
                value: 1.0,
            }],
        }],
    })
}

/// Traffic long ago, none now: error ratio 0 and the whole budget left.
fn idle_scenario(ctx: &Ctx, o: &Objective) -> TestCase {
    let place = place_of(ctx, o);
    let input_series = place.traffic(&format!("500x{MINUTES}"), &format!("500x{MINUTES}"));
    let sample = |name: &str, value: f64| ExprTest {
        expr: place.recorded(name),
        eval_time: eval_time(),
        exp_samples: vec![Sample {
            labels: place.recorded(name),
            value,
        }],
    };
    let mut alert_rule_test = place.expected_burns(0.0);
    // The decoys miss everything; nothing reads them.
    alert_rule_test.retain(|t| t.exp_alerts.is_empty());
    TestCase {
        name: format!(
            "{}: an idle account neither pages nor turns its budget NaN",
            o.name
        ),
        interval: "1m".into(),
        input_series,
        alert_rule_test,
        promql_expr_test: vec![
            sample("slo:replywatch_error:ratio1h", 0.0),
            sample("slo:replywatch_error_budget_remaining:ratio", 1.0),
        ],
    }
}

/// One customer waits past the threshold and nothing is decided yet: the
/// pending alert of every objective reading that gauge whose threshold
/// the wait passed 5 minutes before the end.
fn pending_scenario(ctx: &Ctx, o: &Objective) -> TestCase {
    let place = place_of(ctx, o);
    let start = o.within.1 - 600;
    let value_at_end = start + 60 * MINUTES;
    let mut exp_alerts = Vec::new();
    for o2 in ctx.all.iter().filter(|o2| {
        o2.clock == o.clock && o2.covers(&place.account) && o2.channel_label() == o.channel_label()
    }) {
        let w = o2.within.1;
        let first_true = if w < start { 0 } else { (w - start) / 60 + 1 };
        if MINUTES - first_true < 5 {
            continue;
        }
        let mut labels = place.labels_for(o2);
        labels.insert("tier".into(), "pending".into());
        labels.insert("severity".into(), "critical".into());
        let rule = ctx.find_alert(&o2.name, PENDING_ALERT);
        let summary = with_labels(&rule.annotations["summary"], &labels).replace(
            "{{ $value | humanizeDuration }}",
            &go_duration(value_at_end as f64),
        );
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), summary);
        annotations.insert(
            "runbook".into(),
            with_labels(&rule.annotations["runbook"], &labels),
        );
        exp_alerts.push(ExpAlert {
            exp_labels: labels,
            exp_annotations: annotations,
        });
    }
    TestCase {
        name: format!(
            "{}: a customer waiting past {} pages with no decided traffic",
            o.name, o.within.0
        ),
        interval: "1m".into(),
        input_series: vec![Series {
            series: format!(
                "replywatch_oldest_pending_seconds{{account=\"{}\", channel=\"{}\"{}}}",
                place.account,
                o.channel_label(),
                clock_label(o.clock)
            ),
            values: format!("{start}+60x{MINUTES}"),
        }],
        alert_rule_test: vec![AlertTest {
            eval_time: eval_time(),
            alertname: PENDING_ALERT.into(),
            exp_alerts,
        }],
        promql_expr_test: vec![],
    }
}

/// The test file for `objectives`' rules (generated with the default
/// options), which live in `rule_file_name` beside it.
pub fn render(objectives: &[Objective], rule_file_name: &str) -> anyhow::Result<String> {
    let rules = super::rules::rule_file(objectives, super::rules::RuleOptions::default());
    let ctx = Ctx {
        all: objectives,
        rules: &rules,
    };
    let mut tests = Vec::new();
    for o in objectives {
        let tiers = o.tiers();
        for i in 0..tiers.len() {
            tests.push(tier_scenario(&ctx, o, i, &tiers));
        }
        tests.extend(quiet_scenario(&ctx, o));
        tests.push(idle_scenario(&ctx, o));
        tests.push(pending_scenario(&ctx, o));
    }
    let file = TestFile {
        rule_files: vec![rule_file_name.to_string()],
        evaluation_interval: "1m".into(),
        tests,
    };
    Ok(format!(
        "# Generated by `replywatch rules`: promtool test rules {}\n{}",
        rule_file_name.replace(".yml", "_test.yml"),
        serde_yaml::to_string(&file)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats_are_reproduced() {
        assert_eq!(go_g4(66.8), "66.8");
        assert_eq!(go_g4(-568.0000001), "-568");
        assert_eq!(go_g4(33.6), "33.6");
        assert_eq!(go_g4(100.0), "100");
        assert_eq!(go_g4(12345.0), "1.234e+04");
        assert_eq!(go_g4(0.000012), "1.2e-05");
        assert_eq!(go_g4(0.5), "0.5");
        assert_eq!(go_duration(4_200.0), "1h 10m 0s");
        assert_eq!(go_duration(90_061.0), "1d 1h 1m 1s");
        assert_eq!(go_duration(0.0), "0s");
    }
}
