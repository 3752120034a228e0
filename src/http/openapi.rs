//! `GET /openapi.json`: the OpenAPI 3.1 description of the whole HTTP API,
//! generated from the handlers' annotations (utoipa), never hand-written.

use super::error::{ErrorBody, ErrorContent, Problem};
use super::health::Health;
use super::stats::{ClockParam, RequestRow, RequestState, RequestsPage};
use crate::domain::{AgentStats, GroupStats, StatsReport};
use crate::store::InsertOutcome;
use axum::Json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

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

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "replywatch",
        description = "How fast and how often a business answers its customers on Messenger, Instagram Direct and WhatsApp. Bearer authentication applies to /v1 routes only when the server has an API token."
    ),
    paths(
        super::events::post_events,
        super::stats::get_stats,
        super::stats::get_requests,
        super::health::healthz,
        super::health::readyz,
        super::health::cluster,
        super::health::dead_letters,
        super::metrics::get_metrics,
        super::charts::get_chart,
        super::reports::list_reports,
        super::reports::get_report_file,
        super::calendar::get_calendar,
        super::calendar::put_calendar,
        super::webhooks::verify,
        super::webhooks::receive,
    ),
    components(schemas(
        EventDoc, SenderDoc, AtDoc, InsertOutcome, StatsReport, GroupStats, AgentStats,
        RequestsPage, RequestRow, super::calendar::AccountCalendar, super::reports::ReportEntry, super::calendar::CalendarDoc, crate::calendars::Source, RequestState, ClockParam, ErrorBody, ErrorContent, Problem, Health, crate::cluster::ClusterStatus, crate::cluster::DeadLetter
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Serves the document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
