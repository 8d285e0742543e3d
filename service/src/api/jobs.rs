//! `GET /v1/jobs` and `GET /v1/jobs/{id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};

use super::listing;
use super::types::{JobList, JobView};
use super::ApiError;
use crate::state::AppState;
use crate::store::{Cursor, JobRecord, JobState, Tenant};

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        JobView {
            queued_s: j
                .started_at
                .map(|s| (s - j.created_at).max(0) as f64 / 1000.0),
            id: j.id,
            kind: j.kind,
            state: j.state,
            model_id: j.model_id,
            progress: j.progress,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            error: j.error,
            proof_id: j.proof_id,
            timings: j.timings,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// A job: state, progress, attempts, timings, error and (for proofs) the proof id.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = JobView),
        (status = 401, body = super::ErrorBody),
        (status = 404, description = "Unknown id or another tenant's job", body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = state
        .store
        .job(&tenant.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("job", &id))?;
    Ok(Json(job.into()))
}

/// The tenant's jobs (key generation and proofs), newest first, a page at a time.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs",
    params(
        ("limit" = Option<u32>, Query, description = "Jobs per page, 1 to 500 (default 50)"),
        ("before" = Option<String>, Query, description = "Cursor: a job id (e.g. the previous page's `next_before`) or a time in ms since the Unix epoch; only older jobs are listed"),
        ("state" = Option<JobState>, Query, description = "Only jobs in this state"),
    ),
    responses(
        (status = 200, body = JobList),
        (status = 400, description = "Malformed query string", body = super::ErrorBody),
        (status = 401, body = super::ErrorBody),
        (status = 422, description = "Bad limit, cursor or state, unknown parameter, or a `before` id that is not one of the tenant's jobs", body = super::ErrorBody),
        (status = 429, body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<JobList>, ApiError> {
    let params = listing::parse(query, true)?;
    let cursor = match params.before {
        None => None,
        Some(listing::Before::Id(id)) => {
            let job = state.store.job(&tenant.id, &id).await?.ok_or_else(|| {
                ApiError::unprocessable(
                    "invalid_cursor",
                    format!("before: {id} is not one of your jobs"),
                )
            })?;
            Some(Cursor {
                created_at: job.created_at,
                id: Some(id),
            })
        }
        Some(t) => t.time_cursor(),
    };
    let rows = state
        .store
        .list_jobs(
            &tenant.id,
            &listing::store_page(params.limit, cursor),
            params.state,
        )
        .await?;
    let (rows, next_before) = listing::page(rows, params.limit, |j| j.id.clone());
    Ok(Json(JobList {
        items: rows.into_iter().map(JobView::from).collect(),
        next_before,
    }))
}
