//! What the service says about itself: logs (a tracing subscriber on
//! stderr, filtered by `RUST_LOG`, default `info`; initialised once by the
//! binary, tests may skip it) and the Prometheus exposition of SPEC §5
//! ([`metrics`]). Must not depend on HTTP or the store.

pub mod metrics;

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber; a second call is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
