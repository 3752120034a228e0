//! `GET /openapi.json`: the OpenAPI 3.1 description of the whole HTTP API,
//! generated from the handlers' annotations (utoipa), never hand-written.

use super::error::{ErrorBody, ErrorContent, Problem};
use super::health::Health;
use super::schema::document::{AgentStats, GroupStats, StatsReport};
use super::schema::{AtDoc, EventDoc, SenderDoc};
use super::stats::{ClockParam, RequestRow, RequestState, RequestsPage};
use crate::store::InsertOutcome;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
        super::charts::get_series,
        super::reports::list_reports,
        super::reports::get_report_file,
        super::calendar::get_calendar,
        super::calendar::put_calendar,
        super::webhooks::verify,
        super::webhooks::receive,
    ),
    components(schemas(
        EventDoc, SenderDoc, AtDoc, InsertOutcome, StatsReport, GroupStats, AgentStats,
        RequestsPage, RequestRow, super::calendar::AccountCalendar, super::reports::ReportEntry, super::calendar::CalendarDoc, crate::service::calendars::Source, RequestState, ClockParam, ErrorBody, ErrorContent, Problem, Health, crate::cluster::ClusterStatus, crate::cluster::DeadLetter
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
