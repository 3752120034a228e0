//! Reply-time objectives (SLOs) and the burn-rate rule that alerts on them,
//! pure: what an objective is once validated, which accounts and channels
//! it covers, the alert tiers derived from its period, and whether a tier
//! fires on given counts of decided requests. Knows no YAML, no PromQL, no
//! clock: `crate::slo` parses the file and writes the Prometheus rules from
//! what is defined here, so the rules and the core apply one rule.
//!
//! The SLI is SPEC §5's `replywatch_requests_decided_total`: a request is
//! decided for `within` when answered within it (hit) or when it passes
//! unanswered (miss). The error ratio over a window is misses / decided,
//! from the counts of that window (never a mean of shorter ratios).

use super::decisions::DECISION_THRESHOLDS;
use super::ids::{AccountId, ChannelName};
use std::fmt;

/// The objective's period: the window its error budget is spent over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Days7,
    Days28,
}

impl Period {
    pub fn parse(s: &str) -> Result<Period, String> {
        match s {
            "7d" => Ok(Period::Days7),
            "28d" => Ok(Period::Days28),
            other => Err(format!("{other:?} is not a period; use 7d or 28d")),
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Period::Days7 => 7 * 86_400,
            Period::Days28 => 28 * 86_400,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Period::Days7 => "7d",
            Period::Days28 => "28d",
        }
    }
}

/// Calendar time, or the business hours of the account's calendar (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    Calendar,
    Business,
}

/// Which accounts an objective covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// Every account but those listed.
    All { except: Vec<AccountId> },
    /// Only those listed.
    Listed(Vec<AccountId>),
}

/// One validated objective: `objective` of the requests decided for
/// `within` over `period` are hits.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Unique in its file; `[a-z0-9_-]{1,64}` (a label value and part of names).
    pub name: String,
    pub accounts: Accounts,
    /// `None`: all channels together (`channel: all`).
    pub channel: Option<ChannelName>,
    /// The threshold's label (`15m`) and seconds, one of SPEC §5's.
    pub within: (&'static str, i64),
    /// The target share of hits, 0.5 ≤ objective < 1.
    pub objective: f64,
    pub period: Period,
    /// No burn-rate alert below this many decided requests in the tier's
    /// long window (one miss on a quiet account pages nobody).
    pub min_requests: u32,
    pub clock: ClockKind,
}

/// The default of `min_requests`.
pub const DEFAULT_MIN_REQUESTS: u32 = 10;

/// The highest error ratio a tier may wait for: a threshold over 1 could
/// never be reached (at most every decided request misses), and one close
/// to 1 would wait for a total outage.
pub const MAX_TIER_ERROR_RATIO: f64 = 0.5;

impl Objective {
    /// The share of decided requests that may miss.
    pub fn budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// Whether the objective covers `account`.
    pub fn covers(&self, account: &str) -> bool {
        match &self.accounts {
            Accounts::All { except } => !except.iter().any(|a| a.as_str() == account),
            Accounts::Listed(list) => list.iter().any(|a| a.as_str() == account),
        }
    }

    /// The channel label its figures carry (`all` for every channel together).
    pub fn channel_label(&self) -> &str {
        self.channel
            .as_ref()
            .map_or(super::ids::ALL_CHANNELS, |c| c.as_str())
    }

    /// The burn-rate tiers of this objective, fastest first.
    pub fn tiers(&self) -> Vec<Tier> {
        tiers(self.period, self.budget())
    }
}

/// Why a tier exists: it pages (`critical`) or opens a ticket (`warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// One multi-window burn-rate alert: it fires when the error ratio over
/// both the long and the short window exceeds `threshold` (= `factor` ×
/// budget) and the long window holds at least `min_requests` decided
/// requests, for `for_seconds`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// `fast`, `medium` or `slow`: the `tier` label.
    pub name: &'static str,
    pub severity: Severity,
    pub long_seconds: i64,
    pub short_seconds: i64,
    pub for_seconds: i64,
    /// The burn rate: how many times faster than the period allows.
    pub factor: f64,
    /// The error ratio it fires above.
    pub threshold: f64,
    /// The share of the whole period's budget spent when it fires at its
    /// threshold over its long window.
    pub budget_spent: f64,
}

/// The tiers before capping: (name, severity, long window, short window,
/// `for`, share of the budget spent in the long window). The long windows
/// of the two paging tiers are fixed (1 h and 6 h: a detection time a
/// person accepts, whatever the period); the ticket tier burns at exactly
/// the sustainable rate (factor 1) over a seventh of the period. Short
/// windows are a twelfth of the long one, so an alert stops soon after the
/// problem does.
fn base_tiers(period: Period) -> [(&'static str, Severity, i64, i64, f64); 3] {
    let p = period.seconds();
    [
        ("fast", Severity::Critical, 3_600, 120, 0.02),
        ("medium", Severity::Critical, 6 * 3_600, 15 * 60, 0.05),
        ("slow", Severity::Warning, p / 7, 3_600, 1.0 / 7.0),
    ]
}

/// The tiers of an objective with `budget` over `period`, fastest first.
///
/// factor = share of the budget spent × period / long window (the
/// Google SRE workbook's derivation: 2 % of a 30-day budget in 1 h is
/// 14.4×). On a 7-day period the same shares give 3.36× and 1.4×; on 28
/// days 13.44× and 5.6×. A threshold (factor × budget) above
/// [`MAX_TIER_ERROR_RATIO`] is lowered to it — a 90 % objective over 28
/// days can never burn 13.44× — and a tier whose threshold is then no
/// lower than a faster tier's is left out: it would fire later on the same
/// condition. So no tier can never fire.
pub fn tiers(period: Period, budget: f64) -> Vec<Tier> {
    let p = period.seconds() as f64;
    let mut out: Vec<Tier> = Vec::new();
    for (name, severity, long, for_seconds, share) in base_tiers(period) {
        let wanted = share * p / long as f64;
        let threshold = (wanted * budget).min(MAX_TIER_ERROR_RATIO);
        if out.last().is_some_and(|t| t.threshold <= threshold) {
            continue;
        }
        let factor = threshold / budget;
        out.push(Tier {
            name,
            severity,
            long_seconds: long,
            short_seconds: long / 12,
            for_seconds,
            factor,
            threshold,
            budget_spent: factor * long as f64 / p,
        });
    }
    out
}

/// Decided requests and misses over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decided {
    pub total: u64,
    pub misses: u64,
}

impl Decided {
    /// misses / total; 0 with no decided request (an idle window burns
    /// nothing: never NaN).
    pub fn error_ratio(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.misses as f64 / self.total as f64
        }
    }
}

impl Tier {
    /// The tier's condition on the counts of its two windows (without the
    /// `for` delay): both error ratios above the threshold and enough
    /// decided requests in the long window.
    pub fn fires(&self, long: Decided, short: Decided, min_requests: u32) -> bool {
        long.total >= u64::from(min_requests)
            && long.error_ratio() > self.threshold
            && short.error_ratio() > self.threshold
    }
}

/// The error budget left over the period: 1 − error ratio / budget (1
/// untouched, 0 spent, negative overspent).
pub fn budget_remaining(period: Decided, budget: f64) -> f64 {
    1.0 - period.error_ratio() / budget
}

/// An objective that cannot be used, naming the part of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloError {
    /// e.g. `objectives[1] (whatsapp-first-hour).within`.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for SloError {}

/// An objective as written, before validation.
#[derive(Debug, Clone, Default)]
pub struct ObjectiveSpec {
    pub name: String,
    /// `None`: `"*"`.
    pub accounts: Option<Vec<String>>,
    pub except: Vec<String>,
    pub channel: Option<String>,
    pub within: String,
    pub objective: f64,
    pub period: String,
    pub min_requests: Option<u32>,
    pub clock: Option<String>,
}

/// The labels of SPEC §5's thresholds, for messages.
pub fn threshold_labels() -> String {
    DECISION_THRESHOLDS
        .iter()
        .map(|(l, _)| *l)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ObjectiveSpec {
    /// Validates the `index`th objective of a file.
    pub fn validate(self, index: usize) -> Result<Objective, SloError> {
        let at = |part: &str| -> Box<dyn Fn(String) -> SloError> {
            let who = if self.name.is_empty() {
                format!("objectives[{index}]")
            } else {
                format!("objectives[{index}] ({})", self.name)
            };
            let path = if part.is_empty() {
                who
            } else {
                format!("{who}.{part}")
            };
            Box::new(move |reason: String| SloError {
                path: path.clone(),
                reason,
            })
        };
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(at("name")(format!(
                "{:?} is not a name: use 1-64 characters of [a-z0-9_-]",
                self.name
            )));
        }
        let parse_ids = |part: &str, list: &[String]| -> Result<Vec<AccountId>, SloError> {
            list.iter()
                .enumerate()
                .map(|(i, a)| {
                    AccountId::parse(a).map_err(|e| at(&format!("{part}[{i}]"))(e.to_string()))
                })
                .collect()
        };
        let accounts = match &self.accounts {
            None => Accounts::All {
                except: parse_ids("except", &self.except)?,
            },
            Some(list) => {
                if list.is_empty() {
                    return Err(at("accounts")(
                        "an empty list covers nobody; use \"*\" for every account".into(),
                    ));
                }
                if !self.except.is_empty() {
                    return Err(at("except")(
                        "only with accounts: \"*\" (a list names its accounts already)".into(),
                    ));
                }
                Accounts::Listed(parse_ids("accounts", list)?)
            }
        };
        let channel = match self.channel.as_deref() {
            None | Some("all") => None,
            Some(c) => Some(ChannelName::parse(c).map_err(|e| at("channel")(e.to_string()))?),
        };
        let within = DECISION_THRESHOLDS
            .iter()
            .find(|(l, _)| *l == self.within)
            .copied()
            .ok_or_else(|| {
                at("within")(format!(
                    "{:?} is not a threshold of replywatch_requests_decided_total; use one of {}",
                    self.within,
                    threshold_labels()
                ))
            })?;
        if !(0.5..1.0).contains(&self.objective) || self.objective > 0.9999 {
            return Err(at("objective")(format!(
                "{} is not a target share: use 0.5 to 0.9999 (0.90 means 90 % within {})",
                self.objective, within.0
            )));
        }
        let period = Period::parse(&self.period).map_err(at("period"))?;
        let min_requests = self.min_requests.unwrap_or(DEFAULT_MIN_REQUESTS);
        if min_requests == 0 {
            return Err(at("min_requests")(
                "0 would page on a single miss; use 1 or more".into(),
            ));
        }
        let clock = match self.clock.as_deref() {
            None | Some("calendar") => ClockKind::Calendar,
            Some("business") => ClockKind::Business,
            Some(other) => {
                return Err(at("clock")(format!(
                    "{other:?} is not a clock; use calendar or business"
                )));
            }
        };
        Ok(Objective {
            name: self.name,
            accounts,
            channel,
            within,
            objective: self.objective,
            period,
            min_requests,
            clock,
        })
    }
}

/// Validates every objective of a file: names unique, at least one.
pub fn validate_all(specs: Vec<ObjectiveSpec>) -> Result<Vec<Objective>, SloError> {
    if specs.is_empty() {
        return Err(SloError {
            path: "objectives".into(),
            reason: "no objective: list at least one".into(),
        });
    }
    let mut out: Vec<Objective> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let o = spec.validate(i)?;
        if let Some(j) = out.iter().position(|p| p.name == o.name) {
            return Err(SloError {
                path: format!("objectives[{i}] ({}).name", o.name),
                reason: format!("objectives[{j}] has the same name; names must be unique"),
            });
        }
        out.push(o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(within: &str, objective: f64, period: &str) -> ObjectiveSpec {
        ObjectiveSpec {
            name: "badge".into(),
            within: within.into(),
            objective,
            period: period.into(),
            ..ObjectiveSpec::default()
        }
    }

    #[test]
    fn a_7_day_badge_objective_has_three_tiers_from_the_budget_shares() {
        let o = spec("15m", 0.90, "7d").validate(0).unwrap();
        let t = o.tiers();
        let names: Vec<_> = t.iter().map(|t| t.name).collect();
        assert_eq!(names, ["fast", "medium", "slow"]);
        // 2 % of a 168 h budget in 1 h: 3.36×; 5 % in 6 h: 1.4×; 1× over 1 day.
        assert!((t[0].factor - 3.36).abs() < 1e-9);
        assert!((t[1].factor - 1.4).abs() < 1e-9);
        assert!((t[2].factor - 1.0).abs() < 1e-9);
        assert!((t[0].threshold - 0.336).abs() < 1e-9);
        assert_eq!(
            (t[0].long_seconds, t[0].short_seconds),
            (3_600, 300),
            "1 h and 5 min"
        );
        assert_eq!((t[1].long_seconds, t[1].short_seconds), (21_600, 1_800));
        assert_eq!((t[2].long_seconds, t[2].short_seconds), (86_400, 7_200));
        assert!((t[0].budget_spent - 0.02).abs() < 1e-9);
        assert_eq!(t[0].severity, Severity::Critical);
        assert_eq!(t[2].severity, Severity::Warning);
    }

    #[test]
    fn no_tier_waits_for_an_error_ratio_it_cannot_reach() {
        // 28 days, 90 %: 13.44× and 5.6× would need error ratios of 1.344
        // and 0.56; the fast tier is capped at 0.5, the medium one would
        // then repeat it and is left out.
        let t = tiers(Period::Days28, 0.10);
        let names: Vec<_> = t.iter().map(|t| t.name).collect();
        assert_eq!(names, ["fast", "slow"]);
        assert!((t[0].threshold - MAX_TIER_ERROR_RATIO).abs() < 1e-12);
        assert!((t[0].factor - 5.0).abs() < 1e-9);
        assert_eq!(t[1].long_seconds, 4 * 86_400, "a seventh of 28 days");
        for budget in [0.0001, 0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5] {
            for period in [Period::Days7, Period::Days28] {
                let t = tiers(period, budget);
                assert!(!t.is_empty());
                for w in t.windows(2) {
                    assert!(
                        w[0].threshold > w[1].threshold,
                        "faster tiers wait for more"
                    );
                }
                for tier in &t {
                    assert!(tier.threshold <= MAX_TIER_ERROR_RATIO, "reachable: under 1");
                    assert!(
                        tier.factor >= 1.0 - 1e-12,
                        "no tier below the sustainable rate"
                    );
                    // Every tier can fire: all misses exceed its threshold.
                    let all_miss = Decided {
                        total: 1_000,
                        misses: 1_000,
                    };
                    assert!(tier.fires(all_miss, all_miss, 1_000));
                }
            }
        }
    }

    #[test]
    fn a_tier_fires_only_above_its_threshold_in_both_windows_with_enough_requests() {
        let tier = &tiers(Period::Days7, 0.10)[0]; // 0.336
        let d = |total, misses| Decided { total, misses };
        assert!(tier.fires(d(100, 40), d(10, 4), 10));
        assert!(!tier.fires(d(100, 40), d(10, 3), 10), "short window fine");
        assert!(!tier.fires(d(100, 30), d(10, 4), 10), "long window fine");
        assert!(
            !tier.fires(d(9, 9), d(9, 9), 10),
            "a quiet account: below min_requests"
        );
        // Idle: no decided request is an error ratio of 0, not NaN.
        assert_eq!(d(0, 0).error_ratio(), 0.0);
        assert!(!tier.fires(d(0, 0), d(0, 0), 1));
    }

    #[test]
    fn the_budget_left_is_one_minus_the_error_ratio_over_the_budget() {
        let d = |total, misses| Decided { total, misses };
        assert!((budget_remaining(d(1000, 50), 0.10) - 0.5).abs() < 1e-12);
        assert!((budget_remaining(d(1000, 100), 0.10)).abs() < 1e-12);
        assert!(budget_remaining(d(1000, 200), 0.10) < 0.0);
        assert_eq!(budget_remaining(d(0, 0), 0.10), 1.0, "idle spends nothing");
    }

    #[test]
    fn an_objective_outside_the_rules_is_refused_naming_the_part() {
        let e = spec("45m", 0.9, "7d").validate(2).unwrap_err();
        assert_eq!(e.path, "objectives[2] (badge).within");
        assert!(
            e.reason.contains("1m, 5m, 15m, 30m, 1h, 4h, 8h, 12h, 24h"),
            "{e}"
        );
        let e = spec("15m", 1.0, "7d").validate(0).unwrap_err();
        assert_eq!(e.path, "objectives[0] (badge).objective");
        let e = spec("15m", 0.9, "30d").validate(0).unwrap_err();
        assert_eq!(e.path, "objectives[0] (badge).period");
        assert!(e.reason.contains("7d or 28d"));
        let e = ObjectiveSpec {
            name: "Bad Name".into(),
            ..spec("15m", 0.9, "7d")
        }
        .validate(0)
        .unwrap_err();
        assert_eq!(e.path, "objectives[0] (Bad Name).name");
        let e = ObjectiveSpec {
            accounts: Some(vec!["a".into()]),
            except: vec!["b".into()],
            ..spec("15m", 0.9, "7d")
        }
        .validate(0)
        .unwrap_err();
        assert_eq!(e.path, "objectives[0] (badge).except");
        let e = ObjectiveSpec {
            channel: Some("All".into()),
            ..spec("15m", 0.9, "7d")
        }
        .validate(0)
        .unwrap_err();
        assert_eq!(e.path, "objectives[0] (badge).channel");
        let e = ObjectiveSpec {
            accounts: Some(vec!["ok".into(), "bad\u{7}".into()]),
            ..spec("15m", 0.9, "7d")
        }
        .validate(0)
        .unwrap_err();
        assert_eq!(e.path, "objectives[0] (badge).accounts[1]");
        let e = validate_all(vec![spec("15m", 0.9, "7d"), spec("1h", 0.8, "28d")]).unwrap_err();
        assert_eq!(e.path, "objectives[1] (badge).name");
        assert!(validate_all(vec![]).is_err());
    }

    #[test]
    fn accounts_star_covers_all_but_the_exceptions_and_a_list_only_itself() {
        let all = ObjectiveSpec {
            except: vec!["test-page".into()],
            ..spec("15m", 0.9, "7d")
        }
        .validate(0)
        .unwrap();
        assert!(all.covers("acme") && !all.covers("test-page"));
        assert_eq!(all.channel_label(), "all");
        let listed = ObjectiveSpec {
            accounts: Some(vec!["1000123".into()]),
            channel: Some("whatsapp".into()),
            clock: Some("business".into()),
            min_requests: Some(20),
            ..spec("1h", 0.8, "28d")
        }
        .validate(0)
        .unwrap();
        assert!(listed.covers("1000123") && !listed.covers("acme"));
        assert_eq!(listed.channel_label(), "whatsapp");
        assert_eq!(listed.clock, ClockKind::Business);
        assert_eq!(listed.min_requests, 20);
        assert_eq!(listed.within, ("1h", 3_600));
    }
}
