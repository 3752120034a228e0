//! Parsers of command-line and environment values that several groups of
//! arguments share (a window such as `7d`, an RFC 3339 instant): clap's
//! value parsers for domain types. Depends on the domain only, so that
//! `config`, `cluster` and `cli` can all use them without importing one
//! another.

use crate::domain::{self, Micros, Timestamp};

/// An RFC 3339 instant with offset (SPEC §1's range).
pub fn parse_instant(s: &str) -> Result<Timestamp, String> {
    domain::parse_rfc3339(s).ok_or_else(|| {
        format!("expected an RFC 3339 timestamp with offset, e.g. 2026-11-02T00:00:00Z, got {s:?}")
    })
}

/// A duration such as `90m`, `24h`, `7d` or `1h30m` (SPEC §4).
pub fn parse_window(s: &str) -> Result<Micros, String> {
    domain::parse_duration(s).map_err(|e| e.to_string())
}
