//! Prometheus exposition (SPEC §5): the ingestion counters and the
//! first-reply histogram (prometheus crate, with process metrics), and the
//! windowed, badge and live gauges computed from the engine at scrape time.
//! "metrics" means Prometheus only; the figures come from the core.

use crate::domain::stats::{OTHER_ACCOUNTS, analyze_windows};
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

/// Every collector of the service, and how gauges are rendered.
pub struct Metrics {
    registry: Registry,
    ingested: IntCounterVec,
    duplicates: IntCounterVec,
    rejected: IntCounterVec,
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
    /// Accounts with their own series (None: all of them), as of the last scrape.
    keep: RwLock<Option<Arc<HashSet<String>>>>,
    /// The engine gauges as of the last refresh: their instant and text.
    snapshot: RwLock<Option<(Timestamp, Arc<String>)>>,
}

fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    std::borrow::Cow::Owned(escaped)
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
            first_reply,
            folded_accounts,
            folded_total,
            dropped_agents,
            max_agents: max_agents.map(|m| m.max(1)),
            compute_seconds,
            computed_at,
            windows,
            max_accounts: max_accounts.max(1),
            keep: RwLock::new(None),
            snapshot: RwLock::new(None),
        })
    }

    /// Counts refused events (or requests, when the events are unknown).
    pub fn rejected(&self, reason: &str, n: u64) {
        self.rejected.with_label_values(&[reason]).inc_by(n);
    }

    fn account_label<'a>(&self, account: &'a str) -> &'a str {
        match &*self.keep.read().unwrap_or_else(|e| e.into_inner()) {
            Some(keep) if !keep.contains(account) => OTHER_ACCOUNTS,
            _ => account,
        }
    }

    /// Records what the ingestion worker applied.
    pub fn record(&self, engine: &Engine, applied: &Applied) {
        let set = engine.set();
        for &(stream, from) in &applied.new {
            let channel = set.stream(stream).channel.as_str();
            self.ingested
                .with_label_values(&[channel, from_label(from)])
                .inc();
        }
        for &stream in &applied.duplicates {
            self.duplicates
                .with_label_values(&[set.stream(stream).channel.as_str()])
                .inc();
        }
        for a in &applied.answered {
            let s = set.stream(a.stream);
            let account = self.account_label(s.account.as_str());
            self.first_reply
                .with_label_values(&[account, s.channel.as_str()])
                .observe(a.first_reply.as_seconds_f64());
        }
    }

    /// At most `max_accounts` accounts, the busiest by stored events, keep
    /// their own series; None when all fit.
    fn choose_accounts(&self, engine: &Engine) -> Option<Arc<HashSet<String>>> {
        let set = engine.set();
        let mut per_account: HashMap<&str, u64> = HashMap::new();
        for (s, n) in set.streams().iter().zip(engine.stream_events()) {
            *per_account.entry(s.account.as_str()).or_default() += n;
        }
        if per_account.len() <= self.max_accounts {
            self.folded_accounts.set(0);
            return None;
        }
        let mut ranked: Vec<(&str, u64)> = per_account.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let keep: HashSet<String> = ranked[..self.max_accounts]
            .iter()
            .map(|(a, _)| a.to_string())
            .collect();
        let folded = ranked.len() - self.max_accounts;
        let previous = self.folded_accounts.get();
        if folded as i64 != previous {
            tracing::warn!(
                accounts = ranked.len(),
                kept = self.max_accounts,
                folded,
                "more accounts than --max-series-accounts: the least busy are reported as account=\"_other\""
            );
        }
        if folded as i64 > previous {
            self.folded_total.inc_by(folded as u64 - previous as u64);
        }
        self.folded_accounts.set(folded as i64);
        Some(Arc::new(keep))
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
        calendars: &CalendarBook,
    ) -> std::time::Duration {
        let started = std::time::Instant::now();
        let text = self.render_gauges(engine, now, calendars);
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

    fn append_registry(&self, out: &mut String) {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_ok()
        {
            out.push_str(&String::from_utf8_lossy(&buf));
        }
    }

    fn render_gauges(&self, engine: &Engine, now: Timestamp, calendars: &CalendarBook) -> String {
        let keep = self.choose_accounts(engine);
        *self.keep.write().unwrap_or_else(|e| e.into_inner()) = keep.clone();
        let mut lengths: Vec<Micros> = self.windows.iter().map(|w| w.length).collect();
        if !lengths.contains(&BADGE_WINDOW) {
            lengths.push(BADGE_WINDOW);
        }
        let longest = lengths.iter().copied().max().unwrap_or(BADGE_WINDOW);
        let mut opts = AnalyzeOptions::new(now, longest);
        opts.bots_count_as_replies = engine.operational().bots_reply;
        opts.keep_accounts = keep.clone();
        if let Some(max) = self.max_agents {
            opts.by_agent = true;
            opts.keep_agents = self.choose_agents(engine, max);
        }
        let reports = analyze_windows(engine.set(), &opts, &lengths, engine);
        let position = |len: Micros| lengths.iter().position(|&l| l == len).unwrap_or(0);
        // Business hours (SPEC §3) for the accounts that have a calendar:
        // a second pass over the same requests with the calendars.
        let business = (!calendars.is_empty()).then(|| {
            let mut b = opts.clone();
            b.by_agent = false;
            b.calendars = calendars.clone();
            analyze_windows(engine.set(), &b, &lengths, engine)
        });
        let has_calendar =
            |account: &str| account != OTHER_ACCOUNTS && calendars.for_account(account).is_some();

        let mut out = String::with_capacity(1 << 20);
        self.windowed_gauges(&mut out, &reports, business.as_deref(), &has_calendar);
        badge_gauges(&mut out, &reports[position(BADGE_WINDOW)]);
        let longest_at = position(longest);
        let older = pending_older_than(engine, now, longest, keep.as_deref());
        let business_live = business.as_ref().map(|b| &b[longest_at]);
        live_gauges(
            &mut out,
            &reports[longest_at],
            business_live,
            &has_calendar,
            &older,
        );
        if self.max_agents.is_some() {
            self.agent_gauges(&mut out, &reports);
        }
        out
    }

    /// The busiest agents (by requests answered in the longest window is
    /// approximated by stored events per agent: cheap and stable).
    fn choose_agents(&self, engine: &Engine, max: usize) -> Option<Arc<HashSet<String>>> {
        let set = engine.set();
        if set.agent_count() <= max {
            self.dropped_agents.set(0);
            return None;
        }
        let mut per_agent = vec![0u64; set.agent_count()];
        for e in set.events() {
            if let Some(n) = per_agent.get_mut(e.agent as usize) {
                *n += 1;
            }
        }
        let mut ranked: Vec<(u64, &str)> = per_agent
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((*n, set.agent(i as u32)?.as_str())))
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        self.dropped_agents.set((ranked.len() - max) as i64);
        Some(Arc::new(
            ranked[..max].iter().map(|(_, a)| a.to_string()).collect(),
        ))
    }

    fn agent_gauges(&self, out: &mut String, reports: &[StatsReport]) {
        type Field = fn(&AgentStats) -> Option<f64>;
        let gauges: [(&str, &str, Option<&str>, Field); 5] = [
            (
                "replywatch_agent_answered",
                "Requests the agent answered first, opened in the window (SPEC §3 per agent).",
                None,
                |a| Some(a.answered as f64),
            ),
            (
                "replywatch_agent_first_reply_median_seconds",
                "Median first-reply time of the agent's answers.",
                None,
                |a| a.median_first_reply_seconds,
            ),
            (
                "replywatch_agent_first_reply_p90_seconds",
                "90th percentile first-reply time of the agent's answers.",
                None,
                |a| a.p90_first_reply_seconds,
            ),
            (
                "replywatch_agent_hit_ratio",
                "Share of the agent's answers within the threshold.",
                Some("1h"),
                |a| a.hit_ratio_1h,
            ),
            ("replywatch_agent_hit_ratio", "", Some("24h"), |a| {
                a.hit_ratio_24h
            }),
        ];
        for (name, help, within, field) in gauges {
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            }
            for (w, report) in self.windows.iter().zip(reports) {
                for g in &report.groups {
                    for a in g.agents.iter().flatten() {
                        let Some(v) = field(a) else { continue };
                        let agent = a.agent.as_deref().unwrap_or("_none");
                        let _ = write!(
                            out,
                            "{name}{{{},window=\"{}\",agent=\"{}\"",
                            labels(g),
                            w.label,
                            escape(agent)
                        );
                        if let Some(within) = within {
                            let _ = write!(out, ",within=\"{within}\"");
                        }
                        let _ = writeln!(out, "}} {v}");
                    }
                }
            }
        }
    }

    fn windowed_gauges(
        &self,
        out: &mut String,
        reports: &[StatsReport],
        business: Option<&[StatsReport]>,
        has_calendar: &dyn Fn(&str) -> bool,
    ) {
        type Field = fn(&GroupStats) -> Option<f64>;
        let gauges: [(&str, &str, Option<&str>, Field); 6] = [
            (
                "replywatch_requests",
                "Requests opened in the window (SPEC §3).",
                None,
                |g| Some(g.requests as f64),
            ),
            (
                "replywatch_response_rate_ratio",
                "Share of requests decided for 24 h answered within 24 h.",
                None,
                |g| g.response_rate,
            ),
            (
                "replywatch_hit_ratio",
                "Share of requests decided for the threshold answered within it.",
                Some("1h"),
                |g| g.hit_ratio_1h,
            ),
            ("replywatch_hit_ratio", "", Some("24h"), |g| g.hit_ratio_24h),
            (
                "replywatch_first_reply_median_seconds",
                "Median first-reply time of the answered requests.",
                None,
                |g| g.median_first_reply_seconds,
            ),
            (
                "replywatch_first_reply_p90_seconds",
                "90th percentile first-reply time (linear interpolation).",
                None,
                |g| g.p90_first_reply_seconds,
            ),
        ];
        for (name, help, within, field) in gauges {
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            }
            let clocks = [(reports, None), (business.unwrap_or(&[]), Some("business"))];
            for (reports, clock) in clocks {
                for (w, report) in self.windows.iter().zip(reports) {
                    for g in &report.groups {
                        if clock.is_some() && !has_calendar(&g.account) {
                            continue;
                        }
                        // SPEC §5: a null value is left out, never exported as 0.
                        let Some(v) = field(g) else { continue };
                        let _ = write!(out, "{name}{{{},window=\"{}\"", labels(g), w.label);
                        if let Some(within) = within {
                            let _ = write!(out, ",within=\"{within}\"");
                        }
                        if let Some(clock) = clock {
                            let _ = write!(out, ",clock=\"{clock}\"");
                        }
                        let _ = writeln!(out, "}} {v}");
                    }
                }
            }
        }
    }
}

fn from_label(from: Sender) -> &'static str {
    from.as_str()
}

fn labels(g: &GroupStats) -> String {
    format!(
        "account=\"{}\",channel=\"{}\"",
        escape(&g.account),
        escape(&g.channel)
    )
}

fn badge_gauges(out: &mut String, report: &StatsReport) {
    type Field = fn(&GroupStats) -> Option<f64>;
    let gauges: [(&str, &str, Field); 3] = [
        (
            "replywatch_badge_response_rate_ratio",
            "Badge view, 7 days: share of new conversations decided for 24 h answered within 24 h.",
            |g| g.badge_response_rate,
        ),
        (
            "replywatch_badge_response_seconds",
            "Badge view, 7 days: mean of the fastest 90 % of first-reply times.",
            |g| g.badge_response_seconds,
        ),
        (
            "replywatch_badge_eligible",
            "1 when Meta's 'Very responsive' rules hold over 7 days (rate >= 0.90, time <= 900 s).",
            |g| Some(f64::from(u8::from(g.badge_eligible))),
        ),
    ];
    for (name, help, field) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for g in &report.groups {
            if let Some(v) = field(g) {
                let _ = writeln!(out, "{name}{{{}}} {v}", labels(g));
            }
        }
    }
}

/// Pending requests per (account label, channel) group and age threshold,
/// over the requests opened in the longest window.
fn pending_older_than(
    engine: &Engine,
    now: Timestamp,
    longest: Micros,
    keep: Option<&HashSet<String>>,
) -> HashMap<(String, String), [u64; 4]> {
    let set = engine.set();
    let start = now.minus(longest);
    let mut per_stream: Vec<[u64; 4]> = vec![[0; 4]; set.streams().len()];
    for (stream, requests) in engine.operational_requests() {
        for r in requests {
            if r.opened_at < start || r.opened_at >= now || r.reply.is_some_and(|x| x.at < now) {
                continue;
            }
            let age = now.since(r.opened_at).0 / 1_000_000;
            for (i, (_, t)) in PENDING_AGES.iter().enumerate() {
                per_stream[stream as usize][i] += u64::from(age >= *t);
            }
        }
    }
    let mut out: HashMap<(String, String), [u64; 4]> = HashMap::new();
    for (s, counts) in set.streams().iter().zip(per_stream) {
        let account = match keep {
            Some(k) if !k.contains(s.account.as_str()) => OTHER_ACCOUNTS.to_string(),
            _ => s.account.to_string(),
        };
        for channel in [s.channel.as_str(), ALL_CHANNELS] {
            let e = out
                .entry((account.clone(), channel.to_string()))
                .or_default();
            for i in 0..4 {
                e[i] += counts[i];
            }
        }
    }
    out
}

fn live_gauges(
    out: &mut String,
    report: &StatsReport,
    business: Option<&StatsReport>,
    has_calendar: &dyn Fn(&str) -> bool,
    older: &HashMap<(String, String), [u64; 4]>,
) {
    let _ = writeln!(
        out,
        "# HELP replywatch_pending_requests Requests not answered yet, opened in the longest window (live).\n# TYPE replywatch_pending_requests gauge"
    );
    for g in &report.groups {
        let _ = writeln!(
            out,
            "replywatch_pending_requests{{{}}} {}",
            labels(g),
            g.pending
        );
    }
    let _ = writeln!(
        out,
        "# HELP replywatch_oldest_pending_seconds Age of the oldest pending request (live).\n# TYPE replywatch_oldest_pending_seconds gauge"
    );
    for g in &report.groups {
        if let Some(v) = g.oldest_pending_seconds {
            let _ = writeln!(
                out,
                "replywatch_oldest_pending_seconds{{{}}} {v}",
                labels(g)
            );
        }
    }
    for g in business.map(|b| b.groups.as_slice()).unwrap_or(&[]) {
        if let (true, Some(v)) = (has_calendar(&g.account), g.oldest_pending_seconds) {
            let _ = writeln!(
                out,
                "replywatch_oldest_pending_seconds{{{},clock=\"business\"}} {v}",
                labels(g)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP replywatch_pending_older_than Pending requests opened at least `age` ago (20h: the 24 h messaging window is about to close).\n# TYPE replywatch_pending_older_than gauge"
    );
    for g in &report.groups {
        let counts = older
            .get(&(g.account.clone(), g.channel.clone()))
            .copied()
            .unwrap_or_default();
        for (i, (age, _)) in PENDING_AGES.iter().enumerate() {
            let _ = writeln!(
                out,
                "replywatch_pending_older_than{{{},age=\"{age}\"}} {}",
                labels(g),
                counts[i]
            );
        }
    }
}
