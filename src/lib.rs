//! replywatch: how fast and how often a business answers its customers on
//! Messenger, Instagram Direct and WhatsApp.
//!
//! From the bottom layer up (a module imports only from layers below it):
//!
//! - [`domain`]: the pure core (SPEC §1–3): events, requests, figures, decisions, objectives; no IO, no clock.
//! - [`engine`]: the streaming metrics engine (per-conversation state, exact figures), pure.
//! - [`webhooks`]: Meta's webhook payloads mapped to events (SPEC §7), pure.
//! - [`secret`], [`tls`], [`args`]: secrets that never print, outgoing TLS and HTTP clients, shared value parsers.
//! - [`files`]: event files (NDJSON read in parallel, CSV through polars) and the synthetic generator.
//! - [`store`]: the event store (SQLite by default, PostgreSQL), the only SQL; scratch databases.
//! - [`telemetry`]: tracing and the Prometheus exposition of SPEC §5 (`telemetry::metrics`).
//! - [`slo`]: reply-time objectives from a YAML file, the burn-rate rules and their promtool tests.
//! - [`reports`]: charts (plotters), report tables (polars), scheduled runs and their delivery.
//! - [`service`]: between the HTTP edge and the store: the two seams (`EventSink`, `Figures`), ingestion, live events, calendars, retention.
//! - [`access`]: tokens scoped to accounts (SPEC §6), `--tokens FILE`.
//! - [`cluster`]: several nodes on NATS JetStream and one PostgreSQL (`serve --nats`), plugged into the service's seams.
//! - [`http`]: the HTTP API of SPEC §6 (axum) and its OpenAPI document.
//! - [`config`], [`startup`], [`shutdown`]: running `serve`: options, wiring, signals.
//! - [`bench`]: `replywatch bench …`, the benchmarks.
//! - [`cli`]: the command line (SPEC §4) and what each subcommand does.

pub mod access;
pub mod args;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod engine;
pub mod files;
pub mod http;
pub mod reports;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod slo;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
