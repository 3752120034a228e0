//! Which series `/metrics` keeps (SPEC §5's bound on series): the
//! accounts and (account, channel) pairs that keep their own labels, the
//! rest folded into `_other`, and the counters' and histogram's series
//! moved when the folding changes.

use super::*;

/// Which accounts and (account, channel) pairs have their own series;
/// None: all of them.
#[derive(Debug, Clone, Default)]
pub(super) struct Folding {
    pub(super) accounts: Option<Arc<HashSet<String>>>,
    pub(super) pairs: Option<Arc<HashSet<(String, String)>>>,
    /// Channel names that may label the counters (None: any).
    pub(super) channels: Option<Arc<HashSet<String>>>,
}

impl Folding {
    pub(super) fn options(&self, opts: &mut AnalyzeOptions) {
        opts.keep_accounts = self.accounts.clone();
        opts.keep_channels = self.pairs.clone();
    }

    /// The (account, channel) labels of a stream (SPEC §5's series bound).
    pub(super) fn labels(&self, account: &str, channel: &str) -> (String, String) {
        crate::domain::stats::folded_labels(
            self.accounts.as_deref(),
            self.pairs.as_deref(),
            account,
            channel,
        )
    }

    /// The channel label of an ingestion counter.
    pub(super) fn channel<'a>(&self, channel: &'a str) -> &'a str {
        match &self.channels {
            Some(keep) if !keep.contains(channel) => OTHER_CHANNELS,
            _ => channel,
        }
    }
}

impl Metrics {
    pub(super) fn folding(&self) -> Folding {
        self.folding
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Folds the counters' and the histogram's series that the new
    /// folding no longer keeps: a counter's count moves to its `_other`
    /// series (totals stay exact); a histogram series is removed (its
    /// counts cannot be merged; Prometheus sees a counter reset).
    pub(super) fn fold_existing_series(&self, folding: &Folding) {
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
    pub(super) fn choose_folding(&self, engine: &Engine) -> Folding {
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
}

/// The series of `collector` whose label values (in `names`' order) the
/// `relabel` function changes: (their values, the new values).
pub(super) fn relabelled(
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
pub(super) fn move_counts(
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
