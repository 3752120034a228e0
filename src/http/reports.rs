//! `GET /v1/reports` (the scheduled reports written so far) and
//! `GET /v1/reports/{run}/{folder}/{file}` (one of their files; the folder
//! is `delivery::folder_name` of the account, `account.txt` names it).

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::reports::delivery::safe_component;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One account's report of one run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportEntry {
    /// `{schedule}-{last date}`, e.g. `weekly-mon-0800-2026-11-22`.
    pub run: String,
    pub account: String,
    /// The account's folder in the run (a readable prefix and a hash).
    pub folder: String,
    /// Paths of its files under this API.
    pub files: Vec<String>,
}

fn sorted_dir(path: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The scheduled reports written so far, newest run first.
#[utoipa::path(get, path = "/v1/reports", tag = "reports",
    responses(
        (status = 200, description = "Reports by run and account", body = Vec<ReportEntry>),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn list_reports(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
) -> Json<Vec<ReportEntry>> {
    let dir = state.config.scheduled.reports_dir.clone();
    let mut out = Vec::new();
    for run in sorted_dir(&dir).into_iter().rev() {
        for folder in sorted_dir(&dir.join(&run)) {
            let path = dir.join(&run).join(&folder);
            let Ok(account) =
                std::fs::read_to_string(path.join(crate::reports::delivery::ACCOUNT_FILE))
            else {
                continue;
            };
            // SPEC §6: another account's files do not exist for this token.
            if !access.allows(&account) {
                continue;
            }
            let files = sorted_dir(&path)
                .into_iter()
                .filter(|f| f != crate::reports::delivery::ACCOUNT_FILE)
                .map(|f| format!("/v1/reports/{run}/{folder}/{f}"))
                .collect();
            out.push(ReportEntry {
                run: run.clone(),
                account,
                folder,
                files,
            });
        }
    }
    Json(out)
}

/// One file of a scheduled report.
#[utoipa::path(get, path = "/v1/reports/{run}/{folder}/{file}", tag = "reports",
    params(("run" = String, Path), ("folder" = String, Path), ("file" = String, Path)),
    responses(
        (status = 200, description = "The CSV or PNG file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody),
        (status = 404, description = "No such file", body = super::error::ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn get_report_file(
    State(state): State<AppState>,
    axum::Extension(access): axum::Extension<crate::access::Access>,
    Path((run, folder, file)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let not_found = || ApiError::NotConfigured(format!("no report file {run}/{folder}/{file}"));
    if ![&run, &folder, &file].iter().all(|c| safe_component(c)) {
        return Err(not_found());
    }
    let dir = state.config.scheduled.reports_dir.join(&run).join(&folder);
    let path = dir.join(&file);
    if !access.is_all() {
        let owner = tokio::fs::read_to_string(dir.join(crate::reports::delivery::ACCOUNT_FILE))
            .await
            .map_err(|_| not_found())?;
        if !access.allows(&owner) {
            return Err(not_found());
        }
    }
    let bytes = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}
