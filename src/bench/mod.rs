//! `replywatch bench ingest`: the ingestion benchmark of issue 4. It builds
//! distinct synthetic events, stores them once with a plain multi-row
//! INSERT in one transaction (the raw speed of the database), then once
//! through a real `serve` on loopback with concurrent HTTP clients posting
//! batches, and prints events/s, the time to 202 (p50/p99/max) and the ratio.
//! Each phase gets a fresh database: SQLite files in a temp dir, or
//! PostgreSQL databases created and dropped on the given server.
//! `bench metrics` (below), [`cluster`], [`engine`] and [`slo`] are the
//! other benchmarks; BENCHMARKS.md has their figures.

pub mod cluster;
pub mod engine;
pub mod slo;

use crate::config::{Retention, ServeConfig};
use crate::domain::{EventSet, MessageEvent};
use crate::files::generate::{GenerateOptions, generate};
use crate::files::ndjson::{OnInvalid, read_into};
use crate::startup::Application;
use crate::store::Store;
use anyhow::{Context, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use crate::store::scratch::{Backend, ScratchDb};

/// The load of an HTTP benchmark: where its databases live and how its
/// clients post (shared by `bench ingest` and `bench cluster`).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// PostgreSQL server to create the benchmark databases on.
    #[arg(
        long,
        env = "REPLYWATCH_BENCH_POSTGRES",
        default_value = "postgres://root@127.0.0.1:5432/test"
    )]
    pub postgres_url: String,
    /// Events per HTTP request.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchIngestArgs {
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// Distinct events to store in each phase.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Distinct synthetic events, in generation order.
pub(crate) fn distinct_events(n: usize, seed: u64) -> anyhow::Result<Vec<MessageEvent>> {
    let mut ndjson = Vec::new();
    let opts = GenerateOptions {
        events: (n + n / 10 + 100) as u64,
        seed,
        accounts: 0,
        end: chrono::Utc::now(),
        days: 30,
    };
    generate(&opts, &mut ndjson, |_| {})?;
    let mut set = EventSet::new();
    read_into(&ndjson[..], &mut set, OnInvalid::Fail, |_| {})?;
    if set.len() < n {
        bail!("the generator gave only {} distinct events", set.len());
    }
    Ok((0..n).map(|i| set.event(i)).collect())
}

/// A fresh, empty database for one phase, and how to remove it.
/// A scratch database of the benchmark's backend (`store::scratch`).
pub(crate) async fn scratch(args: &BenchIngestArgs, name: &str) -> anyhow::Result<ScratchDb> {
    ScratchDb::create(
        args.backend,
        &format!("bench_{name}"),
        &args.load.postgres_url,
    )
    .await
}

/// Time to store `events` with a plain multi-row INSERT in one transaction.
async fn raw_phase(args: &BenchIngestArgs, events: &[MessageEvent]) -> anyhow::Result<Duration> {
    let db = scratch(args, "raw").await?;
    let store = Store::connect(&db.url).await?;
    store.migrate().await?;
    let t = Instant::now();
    store.insert_plain(events).await?;
    let took = t.elapsed();
    anyhow::ensure!(
        store.count_events().await? == events.len() as u64,
        "raw insert lost rows"
    );
    store.close().await;
    db.remove().await?;
    Ok(took)
}

struct HttpResult {
    took: Duration,
    latencies: Vec<Duration>,
    /// `GET /healthz` every 20 ms during the load (issue 15: health must
    /// answer in < 10 ms under any load).
    health: Vec<Duration>,
}

/// Time to store `events` through `serve` with `clients` concurrent clients.
async fn http_phase(args: &BenchIngestArgs, events: &[MessageEvent]) -> anyhow::Result<HttpResult> {
    let db = scratch(args, "http").await?;
    let mut config = ServeConfig::for_tests(&db.url);
    config.retention.retention = Retention::Off;
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    let client = crate::tls::client();
    let url = format!("http://{addr}/v1/events");
    // Wait until ready.
    for _ in 0..200 {
        let r = client.get(format!("http://{addr}/readyz")).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Bodies are built before the clock starts: the client must not be the bottleneck.
    let bodies = ndjson_bodies(events, args.load.batch);
    let t = Instant::now();
    let (probe_stop, mut probe_stopped) = tokio::sync::oneshot::channel::<()>();
    let probe = {
        let (client, url) = (client.clone(), format!("http://{addr}/healthz"));
        tokio::spawn(async move {
            let mut took = Vec::new();
            loop {
                let sent = Instant::now();
                if let Ok(r) = client.get(&url).send().await {
                    let _ = r.bytes().await;
                    took.push(sent.elapsed());
                }
                tokio::select! {
                    _ = &mut probe_stopped => return took,
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        })
    };
    let latencies = post_bodies(&client, &[url], bodies, args.load.clients).await?;
    let _ = probe_stop.send(());
    let health = probe.await.context("health probe")?;
    // The clock stops when the server has shut down: every event is then in
    // `events` (SQLite's ingestion log merged), not merely acknowledged.
    let _ = stop_tx.send(());
    server.await.context("server task")??;
    let took = t.elapsed();
    let store = Store::connect(&db.url).await?;
    let stored = store.count_events().await?;
    store.close().await;
    db.remove().await?;
    anyhow::ensure!(
        stored == events.len() as u64,
        "stored {stored} of {} events",
        events.len()
    );
    Ok(HttpResult {
        took,
        latencies,
        health,
    })
}

/// The events as NDJSON request bodies of `batch` events each.
pub(crate) fn ndjson_bodies(events: &[MessageEvent], batch: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        events
            .chunks(batch.max(1))
            .map(|chunk| {
                let mut body = Vec::with_capacity(chunk.len() * 180);
                for e in chunk {
                    serde_json::to_writer(&mut body, &e.to_json()).expect("serialising to memory");
                    body.push(b'\n');
                }
                body
            })
            .collect(),
    )
}

/// Posts every body with `clients` concurrent clients, each moving to the
/// next of `urls` after a 503 (and retrying the body there); returns the
/// time to each 202.
pub(crate) async fn post_bodies(
    client: &reqwest::Client,
    urls: &[String],
    bodies: Arc<Vec<Vec<u8>>>,
    clients: usize,
) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients.max(1) {
        let (client, bodies, next, urls) =
            (client.clone(), bodies.clone(), next.clone(), urls.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut node = c;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                loop {
                    let sent = Instant::now();
                    let r = client
                        .post(&urls[node % urls.len()])
                        .header("content-type", "application/x-ndjson")
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = r.status();
                    let _ = r.bytes().await?;
                    node += 1;
                    match status.as_u16() {
                        202 => {
                            latencies.push(sent.elapsed());
                            break;
                        }
                        503 => tokio::time::sleep(Duration::from_millis(50)).await,
                        s => bail!("POST /v1/events answered {s}"),
                    }
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("client task")??);
    }
    Ok(latencies)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs both phases and prints the figures.
pub fn run_bench_ingest(
    args: &BenchIngestArgs,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    crate::telemetry::init();
    let events = distinct_events(args.events, args.load.seed)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let raw = rt.block_on(raw_phase(args, &events))?;
    let http = rt.block_on(http_phase(args, &events))?;
    let mut lat = http.latencies;
    lat.sort();
    let n = events.len() as f64;
    let raw_rate = n / raw.as_secs_f64();
    let http_rate = n / http.took.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    writeln!(
        out,
        "backend: {:?}; {} distinct events; batches of {}; {} clients",
        args.backend,
        events.len(),
        args.load.batch,
        args.load.clients
    )?;
    writeln!(
        out,
        "raw bulk insert (one transaction, plain multi-row INSERT): {:.2} s, {raw_rate:.0} events/s",
        raw.as_secs_f64()
    )?;
    writeln!(
        out,
        "HTTP POST /v1/events, 202 after durable group commit (until all merged and the server stopped): {:.2} s, {http_rate:.0} events/s",
        http.took.as_secs_f64()
    )?;
    writeln!(
        out,
        "time to 202 over {} requests: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default())
    )?;
    writeln!(out, "ratio HTTP / raw: {:.2}", http_rate / raw_rate)?;
    let mut health = http.health;
    health.sort();
    writeln!(
        out,
        "GET /healthz during the load, {} probes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        health.len(),
        ms(percentile(&health, 0.5)),
        ms(percentile(&health, 0.99)),
        ms(health.last().copied().unwrap_or_default())
    )?;
    Ok(())
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchMetricsArgs {
    /// Lines to generate (distinct events are ~1 % fewer), spread over the last `--days` days.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1_000)]
    pub accounts: u64,
    #[arg(long, default_value_t = 30)]
    pub days: u64,
    /// Scrapes to time.
    #[arg(long, default_value_t = 50)]
    pub scrapes: usize,
    /// SQLite file holding the events; filled on first use, reused afterwards.
    #[arg(long, default_value = "/var/tmp/replywatch-bench-metrics.db")]
    pub database: std::path::PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The /metrics benchmark of issue 5: restart time from SQLite, scrape
/// time percentiles, engine memory.
pub fn run_bench_metrics(
    args: &BenchMetricsArgs,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    use crate::engine::Engine;
    use crate::telemetry::metrics::{MetricWindow, Metrics};
    crate::telemetry::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let url = format!("sqlite://{}", args.database.display());
    let store = rt.block_on(Store::connect(&url))?;
    rt.block_on(store.migrate())?;
    if rt.block_on(store.count_events())? == 0 {
        writeln!(
            out,
            "filling {} with {} generated lines (once)…",
            args.database.display(),
            args.events
        )?;
        let opts = GenerateOptions {
            events: args.events,
            seed: args.seed,
            accounts: args.accounts,
            end: chrono::Utc::now(),
            days: args.days,
        };
        let path = args.database.with_extension("ndjson");
        generate(
            &opts,
            &mut std::io::BufWriter::new(std::fs::File::create(&path)?),
            |_| {},
        )?;
        let mut set = EventSet::new();
        read_into(
            std::fs::File::open(&path)?,
            &mut set,
            OnInvalid::Fail,
            |_| {},
        )?;
        let _ = std::fs::remove_file(&path);
        for start in (0..set.len()).step_by(200_000) {
            let chunk: Vec<MessageEvent> = (start..(start + 200_000).min(set.len()))
                .map(|i| set.event(i))
                .collect();
            rt.block_on(store.insert_plain(&chunk))?;
        }
    }
    // Restart: load the store and build the engine, as `serve` does.
    let rss_0 = rss_bytes();
    let t = Instant::now();
    let set = rt.block_on(store.load_events())?;
    let loaded = t.elapsed();
    let rss_set = rss_bytes();
    let (events, conversations) = (set.len(), set.conversation_count());
    let engine = Engine::from_set(set, crate::domain::ReplyPolicy::operational(false));
    let rebuilt = t.elapsed();
    let rss_engine = rss_bytes();
    rt.block_on(store.close());
    let requests: usize = engine.operational_requests().map(|(_, r)| r.len()).sum();

    let windows: Vec<MetricWindow> = ["1h", "24h", "7d", "30d"]
        .iter()
        .filter_map(|w| w.parse().ok())
        .collect();
    let metrics = Metrics::new(windows, 10_000)?;
    // Refreshes (what the background task does every --metrics-refresh),
    // each followed by scrapes of the snapshot (what GET /metrics does).
    let mut computes = Vec::with_capacity(args.scrapes);
    let mut times = Vec::with_capacity(args.scrapes * 10);
    let mut size = 0;
    for _ in 0..args.scrapes.max(1) {
        let now = crate::domain::Timestamp::from_datetime(chrono::Utc::now());
        computes.push(metrics.refresh(&engine, now, &Default::default()));
        for _ in 0..10 {
            let t = Instant::now();
            size = metrics.scrape().map_or(0, |s| s.len());
            times.push(t.elapsed());
        }
    }
    computes.sort();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    writeln!(
        out,
        "{events} events, {conversations} conversations, {requests} operational requests, {} accounts",
        args.accounts
    )?;
    writeln!(
        out,
        "restart from SQLite: load {:.2} s, engine built at {:.2} s",
        loaded.as_secs_f64(),
        rebuilt.as_secs_f64()
    )?;
    writeln!(
        out,
        "refresh of the figure gauges ({} refreshes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        computes.len(),
        ms(percentile(&computes, 0.5)),
        ms(percentile(&computes, 0.99)),
        ms(computes.last().copied().unwrap_or_default())
    )?;
    writeln!(
        out,
        "scrape of /metrics ({} scrapes, {:.1} KiB): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        size as f64 / 1024.0,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default())
    )?;
    let engine_bytes = rss_engine.saturating_sub(rss_set);
    writeln!(
        out,
        "memory (RSS): event set {:.0} MiB ({:.0} B/event); engine state on top {:.0} MiB ({:.0} B/conversation, {:.0} B/event); total {:.0} MiB",
        mib(rss_set.saturating_sub(rss_0)),
        rss_set.saturating_sub(rss_0) as f64 / events.max(1) as f64,
        mib(engine_bytes),
        engine_bytes as f64 / conversations.max(1) as f64,
        engine_bytes as f64 / events.max(1) as f64,
        mib(rss_engine)
    )?;
    drop(engine);
    Ok(())
}
