//! The service layer of `serve`, between the HTTP edge and the store, the
//! engine and the cluster: the two seams every handler uses —
//! [`sink::EventSink`] (one way in for events) and [`figures::Figures`]
//! (one way to read figures) — and what runs behind them: the ingestion
//! queue and its group-commit worker ([`ingest`]), the in-memory events
//! ([`live`]), the business-hours calendars ([`calendars`]) and retention
//! ([`retention`]). Must not depend on `http` or `cluster` (the cluster
//! plugs in through the two traits).

pub mod calendars;
pub mod figures;
pub mod ingest;
pub mod live;
pub mod retention;
pub mod sink;
