//! The pure core: events, requests, windowed figures and their report.
//! No tokio, sqlx, axum, polars, prometheus or plotters here; no clock, no IO.
//! Re-exports only.

pub mod badge;
pub mod calendar;
pub mod compare;
pub mod daily;
pub mod decisions;
pub mod document;
pub mod event;
pub mod eventset;
pub mod ids;
pub mod listing;
pub mod requests;
pub mod slo;
pub mod stats;
pub mod time;

pub use calendar::{Calendar, CalendarBook, CalendarError};
pub use document::{AgentStats, GroupStats, PeriodStats, StatsReport};
pub use event::{EventError, FieldError, Location, MessageEvent, Sender};
pub use eventset::{EventSet, Insert};
pub use ids::{ALL_CHANNELS, AccountId, AgentName, ChannelName, ConversationId, EventId};
pub use requests::{ReplyPolicy, Request, derive_requests};
pub use stats::{AnalyzeOptions, analyze, analyze_with_previous};
pub use time::{Micros, Timestamp, parse_duration, parse_rfc3339};

/// Small builders for the core's unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// An event of account `acme` on `messenger`, `seconds` after 2026-11-01T00:00:00Z.
    pub fn ev(conversation: &str, from: Sender, seconds: i64) -> MessageEvent {
        MessageEvent {
            id: EventId::parse(&format!("{conversation}-{from}-{seconds}")).unwrap(),
            account: AccountId::parse("acme").unwrap(),
            channel: ChannelName::parse("messenger").unwrap(),
            conversation: ConversationId::parse(conversation).unwrap(),
            from,
            at: base().plus(Micros::from_seconds(seconds)),
            agent: None,
        }
    }

    /// An `agent` reply signed by `agent`.
    pub fn ev_agent(conversation: &str, seconds: i64, agent: &str) -> MessageEvent {
        MessageEvent {
            agent: Some(AgentName::parse(agent).unwrap()),
            ..ev(conversation, Sender::Agent, seconds)
        }
    }

    pub fn base() -> Timestamp {
        parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
    }

    pub fn set_of(events: Vec<MessageEvent>) -> EventSet {
        EventSet::from_events(events)
    }
}
