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

/// Which accounts and (account, channel) pairs have their own series;
/// None: all of them.
#[derive(Debug, Clone, Default)]
struct Folding {
    accounts: Option<Arc<HashSet<String>>>,
    pairs: Option<Arc<HashSet<(String, String)>>>,
    /// Channel names that may label the counters (None: any).
    channels: Option<Arc<HashSet<String>>>,
}

impl Folding {
    fn options(&self, opts: &mut AnalyzeOptions) {
        opts.keep_accounts = self.accounts.clone();
        opts.keep_channels = self.pairs.clone();
    }

    /// The (account, channel) labels of a stream (SPEC §5's series bound).
    fn labels(&self, account: &str, channel: &str) -> (String, String) {
        crate::domain::stats::folded_labels(
            self.accounts.as_deref(),
            self.pairs.as_deref(),
            account,
            channel,
        )
    }

    /// The channel label of an ingestion counter.
    fn channel<'a>(&self, channel: &'a str) -> &'a str {
        match &self.channels {
            Some(keep) if !keep.contains(channel) => OTHER_CHANNELS,
            _ => channel,
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
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "replywatch_dead_letters_total",
                "Cluster messages set aside in the dead-letter stream (GET /v1/dead-letters), by reason: undecodable, refused.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(dead_letters.clone()))?;
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

    /// Counts refused events (or requests, when the events are unknown).
    pub fn rejected(&self, reason: &str, n: u64) {
        self.rejected.with_label_values(&[reason]).inc_by(n);
    }

    fn folding(&self) -> Folding {
        self.folding
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

    /// Folds the counters' and the histogram's series that the new
    /// folding no longer keeps: a counter's count moves to its `_other`
    /// series (totals stay exact); a histogram series is removed (its
    /// counts cannot be merged; Prometheus sees a counter reset).
    fn fold_existing_series(&self, folding: &Folding) {
        let channel = |v: &[String]| folding.channel(&v[0]).to_string();
        move_counts(&self.ingested, &["channel", "from"], |v| {
            vec![channel(v), v[1].clone()]
        });
        move_counts(&self.duplicates, &["channel"], |v| vec![channel(v)]);
        self.decided.fold(folding);
        for (from, _) in relabelled(&self.first_reply, &["account", "channel"], |v| {
            let (account, channel) = folding.labels(&v[0], &v[1]);
            vec![account, channel]
        }) {
            let from: Vec<&str> = from.iter().map(String::as_str).collect();
            let _ = self.first_reply.remove_label_values(&from);
        }
    }

    /// Which accounts and pairs keep their own series: at most
    /// `max_accounts` accounts and about `max_series` series in all, the
    /// busiest by stored events first (SPEC §5's labels stay bounded
    /// whatever names clients send, issue 15).
    fn choose_folding(&self, engine: &Engine) -> Folding {
        let set = engine.set();
        let mut per_pair: HashMap<(&str, &str), u64> = HashMap::new();
        let mut per_account: HashMap<&str, u64> = HashMap::new();
        for (s, n) in set.streams().iter().zip(engine.stream_events()) {
            *per_pair
                .entry((s.account.as_str(), s.channel.as_str()))
                .or_default() += n;
            *per_account.entry(s.account.as_str()).or_default() += n;
        }
        let groups = (self.max_series / series_per_group(self.windows.len())).max(2);
        // Each account label needs its "all" group and may need "_other".
        let max_accounts = self.max_accounts.min(groups / 2).max(1);
        let mut folding = Folding::default();
        if per_account.len() > max_accounts {
            let mut ranked: Vec<(&str, u64)> = per_account.iter().map(|(a, n)| (*a, *n)).collect();
            ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            folding.accounts = Some(Arc::new(
                ranked[..max_accounts]
                    .iter()
                    .map(|(a, _)| a.to_string())
                    .collect(),
            ));
        }
        let accounts = folding.accounts.clone();
        let folded = accounts.as_ref().map_or(0, |k| per_account.len() - k.len());
        let previous = self.folded_accounts.get();
        if folded as i64 != previous {
            tracing::warn!(
                accounts = per_account.len(),
                kept = per_account.len() - folded,
                folded,
                "more accounts than the series bounds (--max-series-accounts, --max-series): the least busy are reported as account=\"_other\""
            );
        }
        if folded as i64 > previous {
            self.folded_total.inc_by(folded as u64 - previous as u64);
        }
        self.folded_accounts.set(folded as i64);
        // Pairs under their account label, busiest first.
        fn label<'a>(accounts: &Option<Arc<HashSet<String>>>, a: &'a str) -> &'a str {
            match accounts {
                Some(k) if !k.contains(a) => OTHER_ACCOUNTS,
                _ => a,
            }
        }
        let mut labelled: HashMap<(&str, &str), u64> = HashMap::new();
        let mut labels: HashSet<&str> = HashSet::new();
        for ((a, c), n) in &per_pair {
            *labelled.entry((label(&accounts, a), *c)).or_default() += n;
            labels.insert(label(&accounts, a));
        }
        let room = groups.saturating_sub(2 * labels.len());
        if labelled.len() > room {
            let mut ranked: Vec<((&str, &str), u64)> = labelled.into_iter().collect();
            ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let kept: HashSet<(String, String)> = ranked[..room]
                .iter()
                .map(|((a, c), _)| (a.to_string(), c.to_string()))
                .collect();
            let channels: HashSet<String> = kept.iter().map(|(_, c)| c.clone()).collect();
            let folded = ranked.len() - room;
            if folded as i64 != self.folded_pairs.get() {
                tracing::warn!(
                    pairs = ranked.len(),
                    kept = room,
                    folded,
                    "more (account, channel) pairs than --max-series allows: the least busy are reported as channel=\"_other\""
                );
            }
            self.folded_pairs.set(folded as i64);
            folding.pairs = Some(Arc::new(kept));
            folding.channels = Some(Arc::new(channels));
        } else {
            self.folded_pairs.set(0);
        }
        folding
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

    fn render_gauges(&self, engine: &Engine, now: Timestamp, calendars: &CalendarBook) -> String {
        let folding = self.choose_folding(engine);
        self.fold_existing_series(&folding);
        *self.folding.write().unwrap_or_else(|e| e.into_inner()) = folding.clone();
        let mut lengths: Vec<Micros> = self.windows.iter().map(|w| w.length).collect();
        if !lengths.contains(&BADGE_WINDOW) {
            lengths.push(BADGE_WINDOW);
        }
        let longest = lengths.iter().copied().max().unwrap_or(BADGE_WINDOW);
        let mut opts = AnalyzeOptions::new(now, longest);
        opts.bots_count_as_replies = engine.operational().bots_reply;
        folding.options(&mut opts);
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
        let older = pending_older_than(engine, now, longest, &opts);
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

/// The series of `collector` whose label values (in `names`' order) the
/// `relabel` function changes: (their values, the new values).
fn relabelled(
    collector: &impl prometheus::core::Collector,
    names: &[&str],
    relabel: impl Fn(&[String]) -> Vec<String>,
) -> Vec<(Vec<String>, Vec<String>)> {
    collector
        .collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .filter_map(|m| {
            let values: Vec<String> = names
                .iter()
                .map(|name| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == *name)
                        .map(|l| l.value().to_string())
                        .unwrap_or_default()
                })
                .collect();
            let to = relabel(&values);
            (to != values).then_some((values, to))
        })
        .collect()
}

/// Moves the count of each series of `counter` that `relabel` changes into
/// the series it names (created if needed): the total stays exact.
fn move_counts(
    counter: &IntCounterVec,
    names: &[&str],
    relabel: impl Fn(&[String]) -> Vec<String>,
) {
    for (from, to) in relabelled(counter, names, relabel) {
        let from: Vec<&str> = from.iter().map(String::as_str).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        if let Ok(c) = counter.get_metric_with_label_values(&from) {
            let n = c.get();
            let _ = counter.remove_label_values(&from);
            counter.with_label_values(&to).inc_by(n);
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
    labels: &AnalyzeOptions,
) -> HashMap<(String, String), [u64; 4]> {
    let set = engine.set();
    let start = now.minus(longest);
    let mut per_stream: Vec<[u64; 4]> = vec![[0; 4]; set.streams().len()];
    let ages = PENDING_AGES.map(|(_, t)| t);
    // One slice per conversation: a stream's counts add up.
    for (stream, requests) in engine.operational_requests() {
        let counts = crate::domain::stats::pending_older_than(requests, start, now, &ages);
        for (total, n) in per_stream[stream as usize].iter_mut().zip(counts) {
            *total += n;
        }
    }
    let mut out: HashMap<(String, String), [u64; 4]> = HashMap::new();
    for (s, counts) in set.streams().iter().zip(per_stream) {
        let (account, channel) = labels.labels_of(s.account.as_str(), s.channel.as_str());
        for channel in [channel.as_str(), ALL_CHANNELS] {
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
