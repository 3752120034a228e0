//! The schemas of the wire format for the OpenAPI document (SPEC §1's
//! event as sent): descriptions only — parsing lives in `domain::event`.
//! Imported by the handlers' annotations and by `openapi`; imports neither.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

/// A message event as sent (SPEC §1). Anything else in the object is ignored.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the wire format only; parsing is in `domain::event`
pub struct EventDoc {
    /// Message id, unique within (account, channel): the idempotency key.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    id: String,
    /// The business account: a Page id, an Instagram account id, a WhatsApp phone-number id.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    account: String,
    /// `messenger`, `instagram`, `whatsapp` or another lowercase name except `all`.
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    channel: String,
    /// The thread with one customer, unique within (account, channel).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    conversation: String,
    from: SenderDoc,
    at: AtDoc,
    /// Who replied, for per-agent figures.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    agent: Option<String>,
}

/// Who wrote the message.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SenderDoc {
    Customer,
    Agent,
    Bot,
    Auto,
}

/// When it was sent: RFC 3339 with offset, or unix seconds / milliseconds (> 1e11).
pub struct AtDoc;

impl PartialSchema for AtDoc {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    // SPEC §1: within 1970 … 9999.
                    .pattern(Some(r"^(19[7-9][0-9]|[2-9][0-9]{3})-")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    // SPEC §1: > 1e11 means milliseconds; up to the year 9999.
                    .maximum(Some(253_402_300_799_999u64)),
            )
            .description(Some(
                "RFC 3339 timestamp with offset, or integer unix seconds (milliseconds above 1e11)",
            ))
            .into()
    }
}

impl ToSchema for AtDoc {}

/// An IANA time zone name (`Europe/Berlin`): every zone the service knows.
pub struct IanaZone;

impl PartialSchema for IanaZone {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())))
            .description(Some("An IANA time zone, e.g. Europe/Berlin"))
            .into()
    }
}

impl ToSchema for IanaZone {}

/// How `/v1/stats` orders accounts (`domain::listing::Order`).
pub struct OrderName;

impl PartialSchema for OrderName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(crate::domain::listing::Order::names()))
            .into()
    }
}

impl ToSchema for OrderName {}

/// The §4 document as `GET /v1/stats` sends it (`domain::StatsReport`;
/// the schema lives here so that the core knows no schema crate; a test
/// checks both have the same fields).
pub mod document {
    use utoipa::ToSchema;

    /// The section-4 document (`analyze`, `GET /v1/stats`).
    #[derive(ToSchema)]
    #[allow(dead_code)] // describes `domain::StatsReport` only
    pub struct StatsReport {
        /// RFC 3339, UTC.
        as_of: String,
        window_seconds: i64,
        groups: Vec<GroupStats>,
        /// With `order`, `search`, `limit` or `cursor`: the accounts
        /// matching `search` in all.
        accounts: Option<u64>,
        /// With `limit`, unless this is the last page: pass it as
        /// `cursor=` for the next page.
        next_cursor: Option<String>,
    }

    /// The SPEC §3 figures of one (`account`, `channel`) group, or of an
    /// account over all its channels (`channel` = `"all"`).
    #[derive(ToSchema)]
    #[allow(dead_code)]
    pub struct GroupStats {
        account: String,
        channel: String,
        requests: u64,
        answered: u64,
        pending: u64,
        response_rate: Option<f64>,
        hit_ratio_1h: Option<f64>,
        hit_ratio_24h: Option<f64>,
        median_first_reply_seconds: Option<f64>,
        p90_first_reply_seconds: Option<f64>,
        oldest_pending_seconds: Option<f64>,
        badge_conversations: u64,
        badge_response_rate: Option<f64>,
        badge_response_seconds: Option<f64>,
        badge_eligible: bool,
        badge_blockers: Vec<String>,
        /// Present only with `by_agent=true`.
        #[schema(nullable = false)]
        agents: Option<Vec<AgentStats>>,
        /// Present only with `compare=previous`: the same figures for the
        /// requests opened in the period of the same length before.
        #[schema(nullable = false)]
        previous: Option<PeriodStats>,
    }

    /// A group's figures over the previous period (`compare=previous`).
    #[derive(ToSchema)]
    #[allow(dead_code)]
    pub struct PeriodStats {
        requests: u64,
        answered: u64,
        pending: u64,
        response_rate: Option<f64>,
        hit_ratio_1h: Option<f64>,
        hit_ratio_24h: Option<f64>,
        median_first_reply_seconds: Option<f64>,
        p90_first_reply_seconds: Option<f64>,
        oldest_pending_seconds: Option<f64>,
        badge_conversations: u64,
        badge_response_rate: Option<f64>,
        badge_response_seconds: Option<f64>,
        badge_eligible: bool,
        badge_blockers: Vec<String>,
    }

    /// Per-agent figures over the requests an agent answered (SPEC §3).
    #[derive(ToSchema)]
    #[allow(dead_code)]
    pub struct AgentStats {
        agent: Option<String>,
        answered: u64,
        median_first_reply_seconds: Option<f64>,
        p90_first_reply_seconds: Option<f64>,
        hit_ratio_1h: Option<f64>,
        hit_ratio_24h: Option<f64>,
    }

    /// The figures of the requests opened on one local day
    /// (`domain::daily::DailyRow`), as `GET /v1/series` sends them.
    #[derive(ToSchema)]
    #[allow(dead_code)]
    pub struct DailyRow {
        /// The local day (YYYY-MM-DD) in the series' time zone.
        date: String,
        requests: u64,
        answered: u64,
        /// Answered within 1 h.
        within_1h: u64,
        /// Answered after 1 h but within 24 h.
        within_24h: u64,
        /// Answered after 24 h.
        later: u64,
        pending: u64,
        median_first_reply_seconds: Option<f64>,
        p90_first_reply_seconds: Option<f64>,
        hit_ratio_1h: Option<f64>,
        hit_ratio_24h: Option<f64>,
        /// Requests decided for 1 h (the 1-hour hit ratio's denominator).
        decided_1h: u64,
        /// Requests decided for 24 h (the 24-hour hit ratio's denominator).
        decided_24h: u64,
        /// SPEC §4 "Final or not": every request of the day is decided for
        /// 24 h at `as_of`, so the day's figures no longer change; `false`
        /// while some can still be answered or cross 1 h or 24 h.
        #[schema(rename = "final")]
        r#final: bool,
    }

    #[cfg(test)]
    mod tests {
        use utoipa::PartialSchema;

        /// The property names of a schema.
        fn properties<T: PartialSchema>() -> Vec<String> {
            let schema = serde_json::to_value(T::schema()).unwrap();
            let mut names: Vec<String> = schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        }

        fn keys(v: serde_json::Value) -> Vec<String> {
            let mut names: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            names.sort();
            names
        }

        #[test]
        fn the_schemas_have_the_fields_the_core_sends() {
            use crate::domain::{AgentStats, GroupStats, StatsReport};
            let agent = AgentStats {
                agent: Some("a".into()),
                answered: 1,
                median_first_reply_seconds: None,
                p90_first_reply_seconds: None,
                hit_ratio_1h: None,
                hit_ratio_24h: None,
            };
            let group = GroupStats {
                account: "x".into(),
                channel: "all".into(),
                requests: 0,
                answered: 0,
                pending: 0,
                response_rate: None,
                hit_ratio_1h: None,
                hit_ratio_24h: None,
                median_first_reply_seconds: None,
                p90_first_reply_seconds: None,
                oldest_pending_seconds: None,
                badge_conversations: 0,
                badge_response_rate: None,
                badge_response_seconds: None,
                badge_eligible: false,
                badge_blockers: vec![],
                agents: Some(vec![agent.clone()]),
                previous: None,
            };
            let mut compared = group.clone();
            compared.previous = Some(group.figures());
            let report = crate::http::stats::StatsPage {
                report: StatsReport {
                    as_of: "2026-11-01T00:00:00Z".into(),
                    window_seconds: 1,
                    groups: vec![group.clone()],
                },
                accounts: Some(1),
                next_cursor: Some("1.account..61".into()),
            };
            let json = |v: serde_json::Result<serde_json::Value>| keys(v.unwrap());
            assert_eq!(
                properties::<super::AgentStats>(),
                json(serde_json::to_value(&agent))
            );
            assert_eq!(
                properties::<super::GroupStats>(),
                json(serde_json::to_value(&compared))
            );
            assert_eq!(
                properties::<super::StatsReport>(),
                json(serde_json::to_value(&report))
            );
            assert_eq!(
                properties::<super::PeriodStats>(),
                json(serde_json::to_value(compared.previous.unwrap()))
            );
            let day = crate::domain::daily::DailyRow {
                date: chrono::NaiveDate::default(),
                requests: 1,
                answered: 1,
                within_1h: 1,
                within_24h: 0,
                later: 0,
                pending: 0,
                median_first_reply_seconds: Some(1.0),
                p90_first_reply_seconds: Some(1.0),
                hit_ratio_1h: Some(1.0),
                hit_ratio_24h: Some(1.0),
                decided_1h: 1,
                decided_24h: 1,
                first_replies: vec![],
                is_final: true,
            };
            assert_eq!(
                properties::<super::DailyRow>(),
                json(serde_json::to_value(&day))
            );
        }
    }
}
