//! Logging: a tracing subscriber on stderr, filtered by `RUST_LOG`
//! (default `info`). Initialised once by the binary; tests may skip it.

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
