//! Reading a request body within the limits (issue 15): the size limit,
//! decided from `Content-Length` before reading when it is declared, and
//! the time limit. Used by every route that reads a body; knows no route.

use super::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// An oversized body up to this size is read (and thrown away, frame by
/// frame) before the 413, so that a client still uploading sees the answer
/// instead of a broken pipe; a larger one is refused without reading it.
const DRAIN_BYTES: u64 = 1024 * 1024;

/// Reads the whole body within `timeout`, refusing more than `limit` bytes
/// (413, decided from Content-Length before reading when it is declared)
/// and reporting a body cut short (client gone) as 400 and a body that
/// trickles in too slowly as 408.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "the body is larger than the limit of {limit} bytes; split the batch"
        ))
    };
    let too_slow = || {
        ApiError::Timeout(format!(
            "the body did not arrive within {} s",
            timeout.as_secs_f64()
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit as u64) {
        if n <= DRAIN_BYTES {
            let _ = tokio::time::timeout(timeout, drain(body)).await;
        }
        return Err(too_large());
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(too_slow()),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "the body could not be read completely: {e}"
        ))),
    }
}

/// Reads a body to its end without keeping it.
async fn drain(mut body: Body) {
    while let Some(Ok(_)) = body.frame().await {}
}
