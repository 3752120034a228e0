//! `POST /v1/events` (SPEC §6): read the body within the limits, validate
//! the whole batch (every problem listed by index and field), then hand it
//! to the ingestion worker and answer 202 only after the commit.

use super::AppState;
use super::body::read_body;
use super::error::{ApiError, ApiResult, Problem};
use crate::domain::MessageEvent;
use crate::store::InsertOutcome;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::value::RawValue;

/// At most this many problems are listed in a 400.
const MAX_PROBLEMS: usize = 1_000;

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    JsonArray,
    Ndjson,
}

fn body_format(headers: &HeaderMap) -> ApiResult<BodyFormat> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(BodyFormat::JsonArray),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            Ok(BodyFormat::Ndjson)
        }
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "content type {value:?} is not accepted: send application/json (an array of events) or application/x-ndjson (one event per line)"
        ))),
    }
}

fn problems_of(
    errors: Vec<crate::domain::FieldError>,
    index: u64,
    line: Option<u64>,
) -> impl Iterator<Item = Problem> {
    errors.into_iter().map(move |e| Problem {
        index: Some(index),
        line,
        field: Some(e.field.to_string()),
        reason: e.reason,
    })
}

/// Validates a whole batch: the events, or every problem found.
fn parse_batch(format: BodyFormat, body: &[u8], max_events: usize) -> ApiResult<Vec<MessageEvent>> {
    let too_many = |n: usize| {
        ApiError::TooLarge(format!(
            "the batch holds {n} events, more than the limit of {max_events}; split it"
        ))
    };
    let mut events = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut bad_events = 0u64;
    let mut note = |events: &mut Vec<MessageEvent>,
                    r: Result<MessageEvent, Vec<crate::domain::FieldError>>,
                    index: u64,
                    line: Option<u64>| match r {
        Ok(e) => events.push(e),
        Err(errs) => {
            bad_events += 1;
            problems.extend(problems_of(errs, index, line));
        }
    };
    match format {
        BodyFormat::JsonArray => {
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body is not a JSON array of event objects: {e}"
                ))
            })?;
            if items.len() > max_events {
                return Err(too_many(items.len()));
            }
            events.reserve(items.len());
            for (i, raw) in items.iter().enumerate() {
                note(
                    &mut events,
                    MessageEvent::from_json(raw.get().as_bytes()),
                    i as u64,
                    None,
                );
            }
        }
        BodyFormat::Ndjson => {
            let lines: Vec<(usize, &[u8])> = body
                .split(|&b| b == b'\n')
                .enumerate()
                .map(|(i, l)| (i, l.strip_suffix(b"\r").unwrap_or(l)))
                .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
                .collect();
            if lines.len() > max_events {
                return Err(too_many(lines.len()));
            }
            events.reserve(lines.len());
            for (index, (i, line)) in lines.into_iter().enumerate() {
                note(
                    &mut events,
                    MessageEvent::from_json(line),
                    index as u64,
                    Some(i as u64 + 1),
                );
            }
        }
    }
    if problems.is_empty() {
        return Ok(events);
    }
    let total = problems.len();
    problems.truncate(MAX_PROBLEMS);
    let listed = match total > MAX_PROBLEMS {
        true => format!(" (the first {MAX_PROBLEMS} of {total} problems are listed)"),
        false => String::new(),
    };
    Err(ApiError::BadRequest {
        message: format!(
            "{bad_events} of the batch's events are invalid; nothing was stored{listed}"
        ),
        details: problems,
    })
}

/// SPEC §6: a batch holding any event of an account the token does not
/// reach is refused whole (403), naming those events' indexes.
fn outside_scope(access: &crate::access::Access, events: &[MessageEvent]) -> ApiResult<()> {
    if access.is_all() {
        return Ok(());
    }
    let details: Vec<Problem> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| !access.allows(e.account.as_str()))
        .take(MAX_PROBLEMS)
        .map(|(i, _)| Problem {
            index: Some(i as u64),
            line: None,
            field: Some("account".into()),
            reason: "this token does not reach this event's account".into(),
        })
        .collect();
    match details.is_empty() {
        true => Ok(()),
        false => Err(ApiError::Forbidden {
            message: format!(
                "{} of the batch's events belong to accounts this token does not reach; nothing was stored",
                details.len()
            ),
            details,
        }),
    }
}

/// `POST /v1/events` query.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `visible`: answer only once the events show in `/v1/stats` on every
    /// node of a cluster (read-your-writes; on a single node every 202
    /// already means that). Without it a cluster node answers once the
    /// event log stored the batch.
    pub wait: Option<Wait>,
}

/// What `?wait=` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Wait {
    Visible,
}

/// Stores a batch of events, idempotently.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    params(EventsQuery),
    request_body(
        description = "A JSON array of events (application/json) or one event per line (application/x-ndjson), SPEC §1.",
        content(
            (Vec<super::schema::EventDoc> = "application/json"),
            (String = "application/x-ndjson")
        )
    ),
    responses(
        (status = 202, description = "Durably stored: new, duplicate and conflicting events counted", body = InsertOutcome),
        (status = 400, description = "Invalid events, each problem listed; nothing stored", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 403, description = "Events of accounts the token does not reach (their indexes listed); nothing stored", body = super::error::ErrorBody),
        (status = 413, description = "Body or batch larger than the limits", body = super::error::ErrorBody),
        (status = 408, description = "The body did not arrive within --body-timeout", body = super::error::ErrorBody),
        (status = 415, description = "Neither application/json nor application/x-ndjson", body = super::error::ErrorBody),
        (status = 422, description = "The database refused the batch's content; nothing stored, do not retry as is", body = super::error::ErrorBody),
        (status = 503, description = "Queue full, state loading or database unavailable (or, with wait=visible, not visible on every node in time; re-sending is safe); retry after Retry-After seconds", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn post_events(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    super::extract::Params(query): super::extract::Params<EventsQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<InsertOutcome>)> {
    let result = store_batch(&state, &access, query.wait, headers, body).await;
    // SPEC §5: replywatch_events_rejected_total{reason}.
    match &result {
        Err(ApiError::BadRequest { details, .. }) => {
            let bad: std::collections::HashSet<u64> =
                details.iter().filter_map(|p| p.index).collect();
            state.metrics.rejected("invalid", (bad.len() as u64).max(1));
        }
        Err(ApiError::TooLarge(_)) => state.metrics.rejected("too_large", 1),
        Err(ApiError::UnsupportedMediaType(_)) => {
            state.metrics.rejected("unsupported_media_type", 1)
        }
        Err(ApiError::Unavailable { .. }) => state.metrics.rejected("unavailable", 1),
        Err(ApiError::Unprocessable(_)) => state.metrics.rejected("refused", 1),
        Err(ApiError::Forbidden { .. }) => state.metrics.rejected("forbidden", 1),
        Err(ApiError::Timeout(_)) => state.metrics.rejected("timeout", 1),
        _ => {}
    }
    result
}

async fn store_batch(
    state: &AppState,
    access: &crate::access::Access,
    wait: Option<Wait>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<InsertOutcome>)> {
    let format = body_format(&headers)?;
    state.require_ready()?;
    let bytes = read_body(
        &headers,
        body,
        state.config.ingestion.max_body_bytes,
        state.config.limits.body_timeout(),
    )
    .await?;
    let max = state.config.ingestion.max_batch_events;
    let events = tokio::task::spawn_blocking(move || parse_batch(format, &bytes, max))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    outside_scope(access, &events)?;
    let outcome = match wait {
        Some(Wait::Visible) => state.ingest_events_visible(events).await?,
        None => state.ingest_events(events).await?,
    };
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(r: ApiResult<Vec<MessageEvent>>) -> (String, Vec<Problem>) {
        match r {
            Err(ApiError::BadRequest { message, details }) => (message, details),
            other => panic!("expected 400, got {other:?}"),
        }
    }

    const GOOD: &str = r#"{"id":"m1","account":"a","channel":"messenger","conversation":"c","from":"customer","at":"2026-11-01T10:00:00Z"}"#;

    #[test]
    fn every_bad_event_of_an_array_is_listed_by_index_and_field() {
        let body = format!(
            r#"[{GOOD},{{"id":"m2","account":"a","channel":"ALL","conversation":"c","from":"admin","at":"2026-11-01T10:00:00Z"}},{GOOD}]"#
        );
        let (message, details) = bad(parse_batch(BodyFormat::JsonArray, body.as_bytes(), 10));
        assert!(
            message.contains("1 of the batch's events are invalid"),
            "{message}"
        );
        let fields: Vec<_> = details
            .iter()
            .map(|p| (p.index, p.field.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            fields,
            vec![(Some(1), "channel".into()), (Some(1), "from".into())]
        );
    }

    #[test]
    fn ndjson_problems_name_the_line_and_blank_lines_are_skipped() {
        let body = format!("{GOOD}\n\n{{\"id\":1}}\n");
        let (_, details) = bad(parse_batch(BodyFormat::Ndjson, body.as_bytes(), 10));
        assert!(
            details
                .iter()
                .all(|p| p.line == Some(3) && p.index == Some(1)),
            "{details:?}"
        );
    }

    #[test]
    fn a_batch_over_the_event_limit_is_413() {
        let body = format!("[{GOOD},{GOOD},{GOOD}]");
        assert!(matches!(
            parse_batch(BodyFormat::JsonArray, body.as_bytes(), 2),
            Err(ApiError::TooLarge(_))
        ));
    }

    #[test]
    fn malformed_json_and_non_arrays_are_400() {
        for body in ["[{", "{}", "\"x\"", "[1,2]"] {
            let r = parse_batch(BodyFormat::JsonArray, body.as_bytes(), 10);
            assert!(
                matches!(r, Err(ApiError::BadRequest { .. })),
                "{body}: {r:?}"
            );
        }
    }

    #[test]
    fn content_types_other_than_json_or_ndjson_are_415() {
        let mut h = HeaderMap::new();
        assert!(matches!(
            body_format(&h),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(matches!(
            body_format(&h),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(body_format(&h).unwrap(), BodyFormat::JsonArray);
    }
}
