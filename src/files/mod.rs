//! Event files: NDJSON read into the core in parallel ([`ndjson`]), CSV and
//! other tabular files through polars ([`tabular`], `reports` feature), and
//! the realistic synthetic stream of `replywatch generate` ([`generate`]).
//! Must not depend on the store, the service or HTTP.

pub mod generate;
pub mod ndjson;
#[cfg(feature = "reports")]
pub mod tabular;
