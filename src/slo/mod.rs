//! Reply-time objectives from a file (`--slo FILE` of `serve`,
//! `replywatch rules --slo FILE`): the YAML is parsed and validated here
//! (errors name the objective and field, or the line and column), the
//! rules are written by [`rules`] and their promtool tests by
//! [`rules_test`]. The meaning of an objective and its tiers is the core's
//! (`domain::slo`); nothing here knows HTTP, the store or the engine.

pub mod rules;
pub mod rules_test;

use crate::domain::slo::{Objective, ObjectiveSpec, validate_all};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// `replywatch rules`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Writes into --out:
  slo-rules.yml       Prometheus recording and alerting rules: per objective, the decided and
                      missed requests and the error ratio of every alert window (increases of
                      replywatch_requests_decided_total), the objective, the budget left over the
                      period and its time to exhaustion; one alert per burn-rate tier (labels
                      tier, severity, slo, account, channel) and a pending-age alert
  slo-rules_test.yml  promtool unit tests of those rules: every tier firing and not firing, a
                      quiet account under min_requests, an idle account, a waiting customer
Check them with: promtool check rules slo-rules.yml && promtool test rules slo-rules_test.yml

The objectives file (YAML):
  objectives:
    - name: badge            # [a-z0-9_-], unique
      accounts: \"*\"         # or a list of accounts
      except: [\"test-page\"] # optional, with \"*\"
      channel: all           # or one channel
      within: 15m            # 1m 5m 15m 30m 1h 4h 8h 12h 24h
      objective: 0.90        # 0.5 to 0.9999
      period: 7d             # 7d or 28d
      min_requests: 10       # optional (default 10): no page below this many decided requests
      clock: calendar        # optional: business (the account's business hours)

Example:
  replywatch rules --slo dashboards/slo.yaml --out dashboards/prometheus")]
pub struct RulesArgs {
    /// The objectives file (YAML).
    #[arg(long, value_name = "FILE")]
    pub slo: PathBuf,
    /// Folder to write slo-rules.yml and slo-rules_test.yml into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Divide every window and `for` by N, to try the rules against a running service in
    /// minutes instead of days (record names keep the real windows; no test file is written).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub time_scale: u32,
}

/// The rule file's name in `--out`.
pub const RULES_FILE: &str = "slo-rules.yml";
/// Its promtool tests' name.
pub const RULES_TEST_FILE: &str = "slo-rules_test.yml";

/// `replywatch rules`: validates the objectives, writes the rules and
/// their tests, and says what it wrote.
pub fn run_rules(args: &RulesArgs, stdout: &mut impl Write) -> anyhow::Result<()> {
    let objectives = read(&args.slo)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let opts = rules::RuleOptions {
        time_scale: args.time_scale,
    };
    let write = |name: &str, text: String| -> anyhow::Result<PathBuf> {
        let path = args.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let rules_path = write(RULES_FILE, rules::render(&objectives, opts)?)?;
    let file = rules::rule_file(&objectives, opts);
    let alerts = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.alert.is_some())
        .count();
    let records = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.record.is_some())
        .count();
    writeln!(
        stdout,
        "{}: {} objective(s), {records} recording rules, {alerts} alerts ({} series per covered account and channel)",
        rules_path.display(),
        objectives.len(),
        rules::series_per_account(&objectives)
    )?;
    for o in &objectives {
        let tiers: Vec<String> = o
            .tiers()
            .iter()
            .map(|t| {
                format!(
                    "{} {}x over {}/{}",
                    t.name,
                    rules::number((t.factor * 100.0).round() / 100.0),
                    rules::duration(t.long_seconds),
                    rules::duration(t.short_seconds)
                )
            })
            .collect();
        writeln!(
            stdout,
            "  {}: {}; tiers: {}",
            o.name,
            rules::describe(o),
            tiers.join(", ")
        )?;
    }
    if args.time_scale == 1 {
        let tests = write(
            RULES_TEST_FILE,
            rules_test::render(&objectives, RULES_FILE)?,
        )?;
        writeln!(stdout, "{}: promtool tests", tests.display())?;
    } else {
        let stale = args.out.join(RULES_TEST_FILE);
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("removing {}", stale.display()))?;
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    objectives: Vec<EntrySpec>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum AccountsSpec {
    Star(String),
    List(Vec<String>),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    name: String,
    accounts: AccountsSpec,
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    channel: Option<String>,
    within: String,
    objective: f64,
    period: String,
    #[serde(default)]
    min_requests: Option<u32>,
    #[serde(default)]
    clock: Option<String>,
}

/// Parses and validates the objectives of a YAML document.
pub fn parse(yaml: &str) -> anyhow::Result<Vec<Objective>> {
    let file: FileSpec = serde_yaml::from_str(yaml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut specs = Vec::with_capacity(file.objectives.len());
    for (i, e) in file.objectives.into_iter().enumerate() {
        let accounts = match e.accounts {
            AccountsSpec::Star(s) if s == "*" => None,
            AccountsSpec::Star(s) => anyhow::bail!(
                "objectives[{i}] ({}).accounts: {s:?} is neither \"*\" nor a list of accounts",
                e.name
            ),
            AccountsSpec::List(list) => Some(list),
        };
        specs.push(ObjectiveSpec {
            name: e.name,
            accounts,
            except: e.except,
            channel: e.channel,
            within: e.within,
            objective: e.objective,
            period: e.period,
            min_requests: e.min_requests,
            clock: e.clock,
        });
    }
    Ok(validate_all(specs)?)
}

/// Reads and validates an objectives file; errors name the file.
pub fn read(path: &Path) -> anyhow::Result<Vec<Objective>> {
    let yaml = std::fs::read_to_string(path)
        .with_context(|| format!("reading objectives {}", path.display()))?;
    parse(&yaml).with_context(|| format!("in {}", path.display()))
}

/// `serve --slo FILE`: the objectives in force, re-read when the file
/// changes (an invalid file keeps the previous objectives; the log says
/// why, once per change).
#[derive(Debug)]
pub struct ObjectivesFile {
    path: PathBuf,
    state: std::sync::RwLock<(Arc<Vec<Objective>>, Option<SystemTime>)>,
}

impl ObjectivesFile {
    /// Reads the file; an invalid one refuses the start.
    pub fn load(path: PathBuf) -> anyhow::Result<ObjectivesFile> {
        let mtime = modified(&path);
        let objectives = read(&path)?;
        Ok(ObjectivesFile {
            path,
            state: std::sync::RwLock::new((Arc::new(objectives), mtime)),
        })
    }

    pub fn current(&self) -> Arc<Vec<Objective>> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Re-reads the file when its modification time changed: Some(new
    /// objectives) when reloaded.
    pub fn reload(&self) -> anyhow::Result<Option<Arc<Vec<Objective>>>> {
        let mtime = modified(&self.path);
        if mtime == self.state.read().unwrap_or_else(|e| e.into_inner()).1 {
            return Ok(None);
        }
        let loaded = read(&self.path);
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.1 = mtime;
        let objectives = Arc::new(loaded?);
        state.0 = objectives.clone();
        Ok(Some(objectives))
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Re-reads the objectives every `every` and hands new ones to `apply`.
pub async fn watch(
    file: Arc<ObjectivesFile>,
    every: std::time::Duration,
    apply: impl Fn(Arc<Vec<Objective>>) + Send + 'static,
) {
    loop {
        tokio::time::sleep(every).await;
        match file.reload() {
            Ok(Some(objectives)) => {
                tracing::info!(objectives = objectives.len(), "objectives file reloaded");
                apply(objectives);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "the objectives file is invalid; the previous objectives stay in force"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_EXAMPLE: &str = r#"
objectives:
  - name: badge
    accounts: "*"            # or a list of accounts
    except: ["test-page"]    # optional
    channel: all             # or one channel
    within: 15m
    objective: 0.90
    period: 7d               # 7d or 28d
  - name: whatsapp-first-hour
    accounts: ["1000123"]
    channel: whatsapp
    within: 1h
    objective: 0.80
    period: 28d
    min_requests: 20         # no page below this many decided requests in the long window
    clock: business          # optional: business hours of the account's calendar
"#;

    #[test]
    fn the_documented_example_parses() {
        let o = parse(ISSUE_EXAMPLE).unwrap();
        assert_eq!(o.len(), 2);
        assert!(o[0].covers("acme") && !o[0].covers("test-page"));
        assert_eq!(o[1].channel_label(), "whatsapp");
        assert_eq!(o[1].min_requests, 20);
    }

    #[test]
    fn errors_name_the_objective_and_field_or_the_line() {
        let e = parse(&ISSUE_EXAMPLE.replace("within: 1h", "within: 45m")).unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("objectives[1] (whatsapp-first-hour).within")
                && text.contains("1m, 5m, 15m"),
            "{text}"
        );
        let e =
            parse(&ISSUE_EXAMPLE.replace("period: 7d", "period: 7d\n    colour: red")).unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("unknown field `colour`") && text.contains("line"),
            "{text}"
        );
        let e = parse(&ISSUE_EXAMPLE.replace("\"*\"", "\"all\"")).unwrap_err();
        assert!(format!("{e:#}").contains("objectives[0] (badge).accounts"));
        let e = parse(&ISSUE_EXAMPLE.replace("objective: 0.90", "objective: high")).unwrap_err();
        assert!(format!("{e:#}").contains("line"), "{e:#}");
    }
}
