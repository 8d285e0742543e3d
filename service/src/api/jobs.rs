//! `GET /v1/jobs/{id}`.

use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::types::JobView;
use super::ApiError;
use crate::state::AppState;
use crate::store::{JobRecord, Tenant};

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
