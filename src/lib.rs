//! replywatch: how fast and how often a business answers its customers on
//! Messenger, Instagram Direct and WhatsApp.
//!
//! - [`domain`]: the pure core (SPEC §1–3): events, requests, figures, report.
//! - [`ndjson`]: reads NDJSON event files into the core, in parallel.
//! - [`generate`]: realistic synthetic event streams for trials and benchmarks.
//! - [`store`]: the event store (SQLite by default, PostgreSQL), the only SQL.
//! - [`cli`]: the command line (SPEC §4) and what each subcommand does.

pub mod cli;
pub mod domain;
pub mod generate;
pub mod ndjson;
pub mod store;
