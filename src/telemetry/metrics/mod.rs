//! Prometheus exposition (SPEC §5): the ingestion counters and the
//! first-reply histogram (prometheus crate, with process metrics), and the
//! windowed, badge and live gauges computed from the engine at scrape time.
//! "metrics" means Prometheus only; the figures come from the core.

use crate::domain::stats::{OTHER_ACCOUNTS, OTHER_CHANNELS, analyze_windows};
use crate::domain::{
    ALL_CHANNELS, AgentStats, AnalyzeOptions, CalendarBook, GroupStats, Micros, Sender,
    StatsReport, Timestamp,
};
use crate::engine::{Applied, Engine};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

mod decided;
mod folding;
mod gauges;

use folding::{Folding, move_counts};

/// SPEC §5: the SLA thresholds are bucket edges.
const FIRST_REPLY_BUCKETS: [f64; 9] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 28800.0, 43200.0, 86400.0,
];
/// SPEC §5: the badge is always 7 days.
const BADGE_WINDOW: Micros = Micros(7 * 86_400 * 1_000_000);
/// SPEC §5: `replywatch_pending_older_than` ages.
const PENDING_AGES: [(&str, i64); 4] = [
    ("1h", 3_600),
    ("20h", 72_000),
    ("24h", 86_400),
    ("7d", 604_800),
];

/// A window of the windowed gauges, with its label (`1h`, `24h`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricWindow {
    pub label: String,
    pub length: Micros,
}

impl std::str::FromStr for MetricWindow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match crate::domain::parse_duration(s) {
            Ok(length) if length.0 > 0 => Ok(MetricWindow {
                label: s.to_string(),
                length,
            }),
            Ok(_) => Err(format!("window {s:?} must be longer than 0s")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Engine series one (account, channel) group costs at most: six windowed
/// gauges per window (and as many with a business clock), three badge, two
/// live and four pending-age gauges, the histogram's 12 and the decided
/// counter's 18 (9 thresholds × hit/miss).
fn series_per_group(windows: usize) -> usize {
    12 * windows + 3 + 3 + 4 + 12 + 18
}

/// Every collector of the service, and how gauges are rendered.
pub struct Metrics {
    registry: Registry,
    ingested: IntCounterVec,
    duplicates: IntCounterVec,
    rejected: IntCounterVec,
    dead_letters: IntCounterVec,
    fenced: IntCounter,
    /// SPEC §5: `replywatch_requests_decided_total` and its revisions.
    decided: decided::Decided,
    first_reply: HistogramVec,
    folded_accounts: IntGauge,
    folded_total: IntCounter,
    dropped_agents: IntGauge,
    /// `--agent-metrics`: at most this many agents get their own series.
    max_agents: Option<usize>,
    compute_seconds: Gauge,
    computed_at: Gauge,
    windows: Vec<MetricWindow>,
    max_accounts: usize,
    /// `--max-series`: the budget of engine series in all.
    max_series: usize,
    folded_pairs: IntGauge,
    /// How streams are labelled (accounts and pairs kept), as of the last refresh.
    folding: RwLock<Folding>,
    /// The engine gauges as of the last refresh: their instant and text.
    snapshot: RwLock<Option<(Timestamp, Arc<String>)>>,
}

impl Metrics {
    pub fn new(windows: Vec<MetricWindow>, max_accounts: usize) -> anyhow::Result<Metrics> {
        Self::with_agents(windows, max_accounts, None)
    }

    /// With per-agent series for at most `max_agents` agents (the rest as `agent="_other"`).
    pub fn with_agents(
        windows: Vec<MetricWindow>,
        max_accounts: usize,
        max_agents: Option<usize>,
    ) -> anyhow::Result<Metrics> {
        let registry = Registry::new();
        let ingested = IntCounterVec::new(
            Opts::new(
                "replywatch_events_ingested_total",
                "New events stored, by channel and sender.",
            ),
            &["channel", "from"],
        )?;
        let duplicates = IntCounterVec::new(
            Opts::new(
                "replywatch_events_duplicate_total",
                "Events already stored (same or conflicting content), by channel.",
            ),
            &["channel"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "replywatch_events_rejected_total",
                "Events or requests refused, by reason.",
            ),
            &["reason"],
        )?;
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "replywatch_dead_letters_total",
                "Cluster messages set aside in the dead-letter stream (GET /v1/dead-letters), by reason: undecodable, refused.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(dead_letters.clone()))?;
        let fenced = IntCounter::new(
            "replywatch_cluster_fenced_total",
            "Commits of this cluster node refused because another node claimed the partition since (its lease had expired); the messages go to the new owner.",
        )?;
        registry.register(Box::new(fenced.clone()))?;
        let decided = decided::Decided::register(&registry)?;
        let first_reply = HistogramVec::new(
            HistogramOpts::new(
                "replywatch_first_reply_seconds",
                "First-reply time, observed when a request is answered (operational view).",
            )
            .buckets(FIRST_REPLY_BUCKETS.to_vec()),
            &["account", "channel"],
        )?;
        let folded_accounts = IntGauge::new(
            "replywatch_series_folded_accounts",
            "Accounts whose series are folded into account=\"_other\" (beyond --max-series-accounts).",
        )?;
        let folded_total = IntCounter::new(
            "replywatch_series_folded_accounts_total",
            "Times an account was folded into account=\"_other\".",
        )?;
        let compute_seconds = Gauge::new(
            "replywatch_metrics_compute_seconds",
            "How long the last computation of the figure gauges took.",
        )?;
        let computed_at = Gauge::new(
            "replywatch_metrics_computed_timestamp_seconds",
            "The instant (unix seconds) the figure gauges of this scrape were computed at.",
        )?;
        let dropped_agents = IntGauge::new(
            "replywatch_series_folded_agents",
            "Agents whose series are folded into agent=\"_other\" (beyond --max-series-agents).",
        )?;
        let folded_pairs = IntGauge::new(
            "replywatch_series_folded_channels",
            "(account, channel) pairs folded into channel=\"_other\" (beyond --max-series).",
        )?;
        registry.register(Box::new(folded_pairs.clone()))?;
        registry.register(Box::new(dropped_agents.clone()))?;
        registry.register(Box::new(compute_seconds.clone()))?;
        registry.register(Box::new(computed_at.clone()))?;
        registry.register(Box::new(ingested.clone()))?;
        registry.register(Box::new(duplicates.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(first_reply.clone()))?;
        registry.register(Box::new(folded_accounts.clone()))?;
        registry.register(Box::new(folded_total.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            ingested,
            duplicates,
            rejected,
            dead_letters,
            fenced,
            decided,
            first_reply,
            folded_accounts,
            folded_total,
            dropped_agents,
            max_agents: max_agents.map(|m| m.max(1)),
            compute_seconds,
            computed_at,
            windows,
            max_accounts: max_accounts.max(1),
            max_series: usize::MAX,
            folded_pairs,
            folding: RwLock::new(Folding::default()),
            snapshot: RwLock::new(None),
        })
    }

    /// Bounds the series in all to about `max_series` (`--max-series`):
    /// the least busy (account, channel) pairs fold into `channel="_other"`
    /// and, when even one group per account does not fit, the least busy
    /// accounts into `account="_other"`.
    pub fn with_max_series(mut self, max_series: usize) -> Metrics {
        self.max_series = max_series.max(1);
        self
    }

    /// Counts a message set aside in the dead-letter stream.
    pub fn dead_lettered(&self, reason: &str) {
        self.dead_letters.with_label_values(&[reason]).inc();
    }

    /// Counts a commit fenced off (another node owns the partition now).
    pub fn fenced(&self) {
        self.fenced.inc();
    }

    /// Counts refused events (or requests, when the events are unknown).
    pub fn rejected(&self, reason: &str, n: u64) {
        self.rejected.with_label_values(&[reason]).inc_by(n);
    }

    /// Records what the ingestion worker applied, under the labels of the
    /// last refresh's folding (new names beyond the budget count as `_other`).
    pub fn record(&self, engine: &Engine, applied: &Applied) {
        let set = engine.set();
        let folding = self.folding();
        for &(stream, from) in &applied.new {
            let channel = folding.channel(set.stream(stream).channel.as_str());
            self.ingested
                .with_label_values(&[channel, from_label(from)])
                .inc();
        }
        for &stream in &applied.duplicates {
            let channel = folding.channel(set.stream(stream).channel.as_str());
            self.duplicates.with_label_values(&[channel]).inc();
        }
        for a in &applied.answered {
            let s = set.stream(a.stream);
            let (account, channel) = folding.labels(s.account.as_str(), s.channel.as_str());
            self.first_reply
                .with_label_values(&[account.as_str(), channel.as_str()])
                .observe(a.first_reply.as_seconds_f64());
        }
        self.decided.count_late(engine, applied, &folding);
    }

    /// The whole exposition at instant `now`, computed now.
    pub fn render(&self, engine: &Engine, now: Timestamp, calendars: &CalendarBook) -> String {
        let mut out = self.render_gauges(engine, now, calendars);
        self.append_registry(&mut out);
        out
    }

    /// Recomputes the engine gauges at `now` and keeps them for
    /// [`Metrics::scrape`]; returns how long it took.
    pub fn refresh(
        &self,
        engine: &Engine,
        now: Timestamp,
        calendars: &Arc<CalendarBook>,
    ) -> std::time::Duration {
        let started = std::time::Instant::now();
        let text = self.render_gauges(engine, now, calendars);
        self.decided.count(engine, now, calendars, &self.folding());
        let took = started.elapsed();
        self.compute_seconds.set(took.as_secs_f64());
        self.computed_at.set(now.unix_micros() as f64 / 1e6);
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some((now, Arc::new(text)));
        took
    }

    /// The exposition served by `GET /metrics`: the engine gauges of the last
    /// refresh (None before the first one) and the counters as they are now.
    pub fn scrape(&self) -> Option<String> {
        let (_, gauges) = self
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let mut out = String::with_capacity(gauges.len() + 64 * 1024);
        out.push_str(&gauges);
        self.append_registry(&mut out);
        Some(out)
    }

    /// Counts the decisions the passage of time brought up to `now`
    /// (what [`Metrics::refresh`] does besides the gauges).
    pub fn advance_decisions(
        &self,
        engine: &Engine,
        now: Timestamp,
        calendars: &Arc<CalendarBook>,
    ) {
        self.decided.count(engine, now, calendars, &self.folding());
    }

    /// The decided counter summed over accounts and channels, per
    /// threshold label and outcome (hit: true), calendar time.
    pub fn decided_totals(&self) -> HashMap<(&'static str, bool), u64> {
        self.decided.totals()
    }

    /// `replywatch_decisions_revised_total`.
    pub fn decisions_revised(&self) -> u64 {
        self.decided.revised()
    }

    /// The objectives in force (`serve --slo`): the accounts their
    /// `clock: business` objectives cover are also counted in business time.
    pub fn set_objectives(&self, objectives: Arc<Vec<crate::domain::slo::Objective>>) {
        self.decided.set_objectives(objectives);
    }

    fn append_registry(&self, out: &mut String) {
        let mut buf = Vec::new();
        let mut families = self.registry.gather();
        // The business-time decided series join their family (one group
        // per metric name, as the text format requires).
        for extra in self.decided.business_registry.gather() {
            if let Some(f) = families.iter_mut().find(|f| f.name() == extra.name()) {
                f.mut_metric().extend(extra.get_metric().iter().cloned());
            }
        }
        if TextEncoder::new().encode(&families, &mut buf).is_ok() {
            out.push_str(&String::from_utf8_lossy(&buf));
        }
    }
}

fn from_label(from: Sender) -> &'static str {
    from.as_str()
}
