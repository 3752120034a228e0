//! replywatch: how fast and how often a business answers its customers on
//! Messenger, Instagram Direct and WhatsApp.
//!
//! - [`domain`]: the pure core (SPEC §1–3): events, requests, figures, report.
//! - [`ndjson`]: reads NDJSON event files into the core, in parallel.
//! - [`generate`]: realistic synthetic event streams for trials and benchmarks.
//! - [`store`]: the event store (SQLite by default, PostgreSQL), the only SQL.
//! - [`engine`]: the streaming metrics engine (per-conversation state, exact figures).
//! - [`metrics`]: Prometheus exposition of SPEC §5.
//! - [`service`]: between the HTTP edge and the store: the two seams (events in: `EventSink`; figures out: `Figures`), the ingestion queue, the in-memory events, calendars, retention.
//! - [`http`]: the HTTP API of SPEC §6 (axum) and its OpenAPI document.
//! - [`config`], [`startup`], [`shutdown`], [`telemetry`]: running `serve`.
//! - [`bench`]: `replywatch bench ingest`/`metrics`, the benchmarks; [`bench_cluster`]: `bench cluster`; [`bench_engine`]: `bench engine`; [`bench_slo`]: `bench slo`.
//! - [`webhooks`]: Meta's webhook payloads mapped to events (SPEC §7), pure.
//! - [`charts`]: PNG charts (plotters) of one group's daily series.
//! - [`report`]: `replywatch report`, the polars path (CSV tables and charts).
//! - [`tabular`]: CSV event files read with polars.
//! - [`schedule`]: scheduled reports inside `serve`.
//! - [`deliver`]: e-mail (SMTP) and webhook delivery of scheduled reports.
//! - [`cluster`]: several nodes on NATS JetStream and one PostgreSQL (`serve --nats`).
//! - [`access`]: tokens scoped to accounts (SPEC §6), `--tokens FILE`.
//! - [`slo`]: reply-time objectives from a YAML file, the burn-rate rules and their promtool tests (`replywatch rules`).
//! - [`tls`]: outgoing TLS (rustls, ring) and the HTTP clients built on it.
//! - [`secret`]: tokens and app secrets that never print.
//! - [`args`]: value parsers shared by the argument groups (windows, instants).
//! - [`cli`]: the command line (SPEC §4) and what each subcommand does.

pub mod access;
pub mod args;
pub mod bench;
pub mod bench_cluster;
pub mod bench_engine;
pub mod bench_slo;
pub mod charts;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod deliver;
pub mod domain;
pub mod engine;
pub mod generate;
pub mod http;
pub mod metrics;
pub mod ndjson;
#[cfg(feature = "reports")]
pub mod report;
#[cfg(feature = "reports")]
pub mod schedule;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod slo;
pub mod startup;
pub mod store;
#[cfg(feature = "reports")]
pub mod tabular;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
