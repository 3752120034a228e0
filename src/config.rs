//! `replywatch serve`'s settings: plain data parsed once by clap (every
//! option has its `REPLYWATCH_<OPTION>` environment variable, SPEC §4).
//! Nothing reads globals after parsing; tests build a [`ServeConfig`] with
//! [`ServeConfig::for_tests`].

use crate::args::parse_window;
use crate::domain::Micros;
use crate::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings of the service.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
HTTP API (SPEC §6; the whole API is described at GET /openapi.json):
  POST /v1/events     JSON array or NDJSON of events; 202 after the commit
                      (?wait=visible on a cluster: once every node shows them)
  GET  /v1/stats      the figures of `analyze` (?as_of=&window=&account=&channel=&compare=previous)
  GET  /v1/requests   the requests behind a figure (?state=pending|answered&breached_after=1h)
  GET  /healthz, /readyz
  GET  /v1/cluster    with --nats: live nodes, partitions owned and served, backlog

Cluster (several nodes, NATS JetStream + one PostgreSQL; README \"Running several nodes\"):
  replywatch serve --database-url postgres://… --partitions 16 \\
    --nats nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222 --nats-replicas 3

Example:
  replywatch serve &
  curl -s -XPOST localhost:8080/v1/events -H 'content-type: application/x-ndjson' --data-binary @events.ndjson
  curl -s 'localhost:8080/v1/stats?window=7d'")]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "REPLYWATCH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// sqlite://PATH (embedded, created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "REPLYWATCH_DATABASE_URL",
        default_value = "sqlite://replywatch.db"
    )]
    pub database_url: String,
    /// When set, every /v1 route needs `Authorization: Bearer <token>`.
    #[arg(long, env = "REPLYWATCH_API_TOKEN", hide_env_values = true, value_parser = crate::secret::parse_secret)]
    pub api_token: Option<Secret>,
    /// Tokens scoped to accounts (SPEC §6): a JSON file {"tokens": [{"name", "token",
    /// "accounts": [..] or "*"}]}, re-read when it changes. With it (or --api-token),
    /// /v1, / and /accounts/... need a token.
    #[arg(long, env = "REPLYWATCH_TOKENS", value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Start with a generated, realistic month of events in a throw-away SQLite database (ignores --database-url).
    #[arg(long, env = "REPLYWATCH_DEMO")]
    pub demo: bool,
    /// Business hours per account (JSON, SPEC §3), used by `/v1/stats?clock=business`.
    #[arg(long, env = "REPLYWATCH_CALENDAR", value_name = "FILE")]
    pub calendar: Option<PathBuf>,
    /// Reply-time objectives (YAML; `replywatch rules --help` shows the format), re-read when the
    /// file changes: the accounts of `clock: business` objectives that have a calendar are also
    /// counted in business time (replywatch_requests_decided_total{clock="business"}).
    #[arg(long, env = "REPLYWATCH_SLO", value_name = "FILE")]
    pub slo: Option<PathBuf>,
    /// Bot messages answer requests in the operational figures of /metrics (the badge always counts them).
    #[arg(long, env = "REPLYWATCH_BOTS_COUNT_AS_REPLIES")]
    pub bots_count_as_replies: bool,
    #[command(flatten)]
    pub ingestion: IngestionArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub meta: MetaArgs,
    #[command(flatten)]
    pub scheduled: ScheduledReportArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
}

/// How batches are taken in: sizes and the queue of the group-commit worker.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Ingestion")]
pub struct IngestionArgs {
    /// Largest accepted request body, in bytes (413 above).
    #[arg(long, env = "REPLYWATCH_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most events accepted in one batch (413 above).
    #[arg(long, env = "REPLYWATCH_MAX_BATCH_EVENTS", default_value_t = 100_000)]
    pub max_batch_events: usize,
    /// Events that may wait for the ingestion worker; beyond, 503 with Retry-After.
    #[arg(long, env = "REPLYWATCH_QUEUE_EVENTS", default_value_t = 500_000)]
    pub queue_events: usize,
    /// Most events committed in one transaction (group commit of queued batches).
    #[arg(long, env = "REPLYWATCH_GROUP_EVENTS", default_value_t = 50_000)]
    pub group_events: usize,
}

/// How long events are kept.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Retention")]
pub struct RetentionArgs {
    /// Events older than this are deleted in the background (`off` keeps everything).
    #[arg(long, env = "REPLYWATCH_RETENTION", default_value = "400d", value_parser = parse_retention)]
    pub retention: Retention,
    /// How often retention runs.
    #[arg(long, env = "REPLYWATCH_RETENTION_INTERVAL", default_value = "1h", value_parser = parse_window)]
    pub retention_interval: Micros,
}

/// What /metrics exports and how often its gauges are recomputed.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsArgs {
    /// Windows of the windowed gauges of /metrics (comma-separated).
    #[arg(
        long,
        env = "REPLYWATCH_METRICS_WINDOWS",
        value_delimiter = ',',
        default_value = "1h,24h,7d,30d"
    )]
    pub metrics_windows: Vec<crate::telemetry::metrics::MetricWindow>,
    /// How often the figure gauges of /metrics are recomputed from the engine (scrapes serve the latest).
    #[arg(long, env = "REPLYWATCH_METRICS_REFRESH", default_value = "5s", value_parser = parse_window)]
    pub metrics_refresh: Micros,
    /// Most accounts with their own /metrics series; the least busy beyond it are reported as account="_other".
    #[arg(long, env = "REPLYWATCH_MAX_SERIES_ACCOUNTS", default_value_t = 10_000)]
    pub max_series_accounts: usize,
    /// Series of /metrics in all (about): beyond it the least busy (account, channel)
    /// pairs are reported as channel="_other", and accounts as account="_other"
    /// when even one group per account does not fit. Counters with a channel label obey it too.
    #[arg(long, env = "REPLYWATCH_MAX_SERIES", default_value_t = 200_000)]
    pub max_series: usize,
    /// Add per-agent series to /metrics (`replywatch_agent_*`, SPEC §3 per agent).
    #[arg(long, env = "REPLYWATCH_AGENT_METRICS")]
    pub agent_metrics: bool,
    /// With --agent-metrics: most agents with their own series; the others are reported as agent="_other".
    #[arg(long, env = "REPLYWATCH_MAX_SERIES_AGENTS", default_value_t = 1_000)]
    pub max_series_agents: usize,
    /// When set, GET /metrics needs `Authorization: Bearer <token>` (its own token, SPEC §6).
    #[arg(long, env = "REPLYWATCH_METRICS_TOKEN", hide_env_values = true, value_parser = crate::secret::parse_secret)]
    pub metrics_token: Option<Secret>,
}

/// Meta webhooks (SPEC §7): the handshake token, the signing secrets and which apps are automation.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Meta webhooks")]
pub struct MetaArgs {
    /// Meta webhooks: the verify token of the subscription handshake (GET /webhooks/meta).
    #[arg(long, env = "REPLYWATCH_META_VERIFY_TOKEN", hide_env_values = true, value_parser = crate::secret::parse_secret)]
    pub meta_verify_token: Option<Secret>,
    /// Meta webhooks: app secret(s) that sign deliveries (repeat, or comma-separate, to rotate).
    #[arg(
        long,
        env = "REPLYWATCH_META_APP_SECRET",
        value_delimiter = ',',
        hide_env_values = true,
        value_parser = crate::secret::parse_secret
    )]
    pub meta_app_secret: Vec<Secret>,
    /// App ids whose echoes are the business's automation (`bot`), e.g. your chatbot's app.
    #[arg(long, env = "REPLYWATCH_META_BOT_APP_ID", value_delimiter = ',')]
    pub meta_bot_app_id: Vec<String>,
    /// App ids whose echoes are Meta's automatic responses (`auto`: instant replies, away messages).
    #[arg(long, env = "REPLYWATCH_META_AUTO_APP_ID", value_delimiter = ',')]
    pub meta_auto_app_id: Vec<String>,
}

/// Scheduled reports and their delivery.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Scheduled reports")]
pub struct ScheduledReportArgs {
    /// A scheduled report, e.g. "weekly mon 08:00 Europe/Istanbul" or "daily 07:00 UTC" (repeatable).
    #[arg(
        long = "report",
        env = "REPLYWATCH_REPORT",
        value_delimiter = ';',
        value_name = "SCHEDULE"
    )]
    pub reports: Vec<String>,
    /// Where scheduled reports are written (one folder per run and account).
    #[arg(long, env = "REPLYWATCH_REPORTS_DIR", default_value = "reports")]
    pub reports_dir: std::path::PathBuf,
    /// Runs of each schedule kept in --reports-dir; older ones are removed after each run.
    #[arg(long, env = "REPLYWATCH_REPORTS_KEEP", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub reports_keep: u32,
    /// SMTP server that e-mails each scheduled report: HOST:PORT (plain, a local relay),
    /// smtp://[USER:PASSWORD@]HOST[:PORT] (STARTTLS required; ?tls=none for plain)
    /// or smtps://[USER:PASSWORD@]HOST[:PORT] (implicit TLS).
    #[arg(
        long,
        env = "REPLYWATCH_REPORT_SMTP",
        value_name = "URL",
        hide_env_values = true,
        value_parser = crate::secret::parse_secret
    )]
    pub report_smtp: Option<Secret>,
    /// Sender address of report e-mails.
    #[arg(long, env = "REPLYWATCH_REPORT_MAIL_FROM")]
    pub report_mail_from: Option<String>,
    /// Recipients of report e-mails (repeatable or comma-separated).
    #[arg(long, env = "REPLYWATCH_REPORT_MAIL_TO", value_delimiter = ',')]
    pub report_mail_to: Vec<String>,
    /// PEM file of a CA to trust (beside the system's roots) for the report e-mail and webhook.
    #[arg(long, env = "REPLYWATCH_REPORT_TLS_CA", value_name = "FILE")]
    pub report_tls_ca: Option<PathBuf>,
    /// HTTP or HTTPS webhook that gets a Slack-style {"text": …} with each run's headline figures.
    #[arg(long, env = "REPLYWATCH_REPORT_WEBHOOK", value_name = "URL")]
    pub report_webhook: Option<String>,
}

/// What one client may hold of the server (issue 15): time to send a
/// request, connections at once, and the stop's grace.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// A request's head (request line and headers) must arrive within this
    /// (a client that sends half a request is disconnected).
    #[arg(long, env = "REPLYWATCH_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_window)]
    pub header_timeout: Micros,
    /// A request's body must arrive within this (408 otherwise).
    #[arg(long, env = "REPLYWATCH_BODY_TIMEOUT", default_value = "60s", value_parser = parse_window)]
    pub body_timeout: Micros,
    /// Connections served at once; one more is answered 503 and closed.
    #[arg(long, env = "REPLYWATCH_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Longest a commit may take before its batches are answered 503 (a silent
    /// database; re-sending is safe).
    #[arg(long, env = "REPLYWATCH_DB_TIMEOUT", default_value = "20s", value_parser = parse_window)]
    pub db_timeout: Micros,
    /// On SIGTERM, how long in-flight requests may still run before the
    /// remaining connections are closed (queued batches are committed either way).
    #[arg(long, env = "REPLYWATCH_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_window)]
    pub shutdown_grace: Micros,
}

impl Default for LimitArgs {
    fn default() -> Self {
        LimitArgs {
            header_timeout: Micros::from_seconds(10),
            body_timeout: Micros::from_seconds(60),
            max_connections: 1024,
            db_timeout: Micros::from_seconds(20),
            shutdown_grace: Micros::from_seconds(10),
        }
    }
}

/// A `Micros` option as a std duration (at least 1 µs).
pub fn std_duration(d: Micros) -> std::time::Duration {
    std::time::Duration::from_micros(d.0.max(1) as u64)
}

impl LimitArgs {
    pub fn db_timeout(&self) -> std::time::Duration {
        std_duration(self.db_timeout)
    }

    pub fn body_timeout(&self) -> std::time::Duration {
        std_duration(self.body_timeout)
    }
}

/// How long events are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Off,
    Keep(Micros),
}

fn parse_retention(s: &str) -> Result<Retention, String> {
    match s {
        "off" | "none" | "forever" => Ok(Retention::Off),
        _ => parse_window(s).map(Retention::Keep),
    }
}

impl ServeConfig {
    /// Defaults with an ephemeral loopback port, no retention, for tests.
    pub fn for_tests(database_url: &str) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_string(),
            api_token: None,
            tokens: None,
            slo: None,
            ingestion: IngestionArgs {
                max_body_bytes: 16 * 1024 * 1024,
                max_batch_events: 100_000,
                queue_events: 500_000,
                group_events: 50_000,
            },
            retention: RetentionArgs {
                retention: Retention::Off,
                retention_interval: Micros(3_600_000_000),
            },
            calendar: None,
            metrics: MetricsArgs {
                metrics_windows: ["1h", "24h", "7d", "30d"]
                    .iter()
                    .filter_map(|w| w.parse().ok())
                    .collect(),
                metrics_refresh: Micros(1_000_000),
                max_series_accounts: 10_000,
                max_series: 200_000,
                agent_metrics: false,
                max_series_agents: 1_000,
                metrics_token: None,
            },
            bots_count_as_replies: false,
            scheduled: ScheduledReportArgs {
                reports: Vec::new(),
                report_smtp: None,
                report_mail_from: None,
                report_mail_to: Vec::new(),
                report_webhook: None,
                report_tls_ca: None,
                reports_dir: std::path::PathBuf::from("reports"),
                reports_keep: 60,
            },
            demo: false,
            meta: MetaArgs {
                meta_verify_token: None,
                meta_app_secret: Vec::new(),
                meta_bot_app_id: Vec::new(),
                meta_auto_app_id: Vec::new(),
            },
            limits: LimitArgs::default(),
            cluster: Default::default(),
        }
    }

    /// Every rule between options, checked once before anything starts;
    /// the error names the options.
    pub fn validate(&self) -> anyhow::Result<()> {
        let i = &self.ingestion;
        anyhow::ensure!(
            i.queue_events >= i.max_batch_events,
            "--queue-events ({}) must be at least --max-batch-events ({}), or a full batch could never be queued",
            i.queue_events,
            i.max_batch_events
        );
        anyhow::ensure!(
            !self.metrics.metrics_windows.is_empty(),
            "--metrics-windows needs at least one window"
        );
        #[cfg(not(feature = "reports"))]
        anyhow::ensure!(
            self.scheduled.reports.is_empty(),
            "--report needs the `reports` feature (this build has --no-default-features)"
        );
        Ok(())
    }
}

impl MetaArgs {
    /// The app ids that classify Meta echoes.
    pub fn apps(&self) -> crate::webhooks::meta::AppIds {
        crate::webhooks::meta::AppIds {
            bot: self.meta_bot_app_id.clone(),
            auto: self.meta_auto_app_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_options_that_disagree() {
        let ok = ServeConfig::for_tests("sqlite://x.db");
        assert!(ok.validate().is_ok());
        let mut small_queue = ok.clone();
        small_queue.ingestion.queue_events = 10;
        let e = small_queue.validate().unwrap_err().to_string();
        assert!(
            e.contains("--queue-events (10)") && e.contains("--max-batch-events"),
            "{e}"
        );
        let mut no_windows = ok;
        no_windows.metrics.metrics_windows.clear();
        let e = no_windows.validate().unwrap_err().to_string();
        assert!(e.contains("--metrics-windows"), "{e}");
    }
}
