//! Reports: the PNG charts of one group's daily series ([`charts`],
//! plotters; also served by `/v1/charts`), the tables and charts of
//! `replywatch report` ([`tables`], polars), the scheduled runs inside
//! `serve` ([`schedule`]) and their delivery by e-mail and webhook
//! ([`delivery`]). Must not depend on HTTP.

pub mod charts;
pub mod delivery;
#[cfg(feature = "reports")]
pub mod schedule;
#[cfg(feature = "reports")]
pub mod tables;
