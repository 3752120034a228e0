//! The figure gauges of `/metrics` (SPEC §5), rendered as text at each
//! refresh from the core's figures: windowed, badge, live and per-agent.

use super::*;

pub(super) fn escape(value: &str) -> std::borrow::Cow<'_, str> {
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
    pub(super) fn render_gauges(
        &self,
        engine: &Engine,
        now: Timestamp,
        calendars: &CalendarBook,
    ) -> String {
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
    pub(super) fn choose_agents(
        &self,
        engine: &Engine,
        max: usize,
    ) -> Option<Arc<HashSet<String>>> {
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

    pub(super) fn agent_gauges(&self, out: &mut String, reports: &[StatsReport]) {
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

    pub(super) fn windowed_gauges(
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

pub(super) fn labels(g: &GroupStats) -> String {
    format!(
        "account=\"{}\",channel=\"{}\"",
        escape(&g.account),
        escape(&g.channel)
    )
}

pub(super) fn badge_gauges(out: &mut String, report: &StatsReport) {
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
pub(super) fn pending_older_than(
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

pub(super) fn live_gauges(
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
