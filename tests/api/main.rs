//! The HTTP API (SPEC §6) against a real `serve`: in-process on port 0 over
//! a fresh SQLite file or PostgreSQL database per test, and as a separate
//! process for the crash and shutdown tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod calendar;
mod cluster;
mod cluster_ha;
mod delivery;
mod edges;
mod events;
mod fuzz;
mod hardening;
mod monitoring;
mod page;
mod prometheus;
mod reliability;
#[cfg(feature = "reports")]
mod reports;
mod slo;
mod stats;
mod webhooks;
