//! `GET /v1/jobs` and `GET /v1/jobs/{id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};

use super::listing;
use super::types::{JobList, JobView};
use super::ApiError;
use crate::state::AppState;
use crate::store::{now_ms, JobRecord, JobState, Tenant};

/// Workers that reported within this long count as live when `GET /v1/jobs/{id}` explains why
/// a job waits (workers report every 30 s).
const LIVE_WORKER_MS: i64 = 120_000;

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
            memory_bytes: j.memory_bytes,
            waiting_reason: None,
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
    let reason = waiting_reason(&state, &job).await?;
    let mut view = JobView::from(job);
    view.waiting_reason = reason;
    Ok(Json(view))
}

/// Why a queued job with a memory estimate cannot be leased right now: no live worker at all,
/// or none with that much memory available. `None` when some live worker can take it.
async fn waiting_reason(state: &AppState, job: &JobRecord) -> Result<Option<String>, ApiError> {
    let (JobState::Queued, Some(need)) = (job.state, job.memory_bytes) else {
        return Ok(None);
    };
    let since = now_ms().saturating_sub(LIVE_WORKER_MS);
    let workers = state.store.workers().await?;
    let best = workers
        .iter()
        .filter(|w| w.last_seen_at >= since)
        .map(|w| w.capability.memory_available_bytes)
        .max();
    Ok(match best {
        None => Some(format!(
            "no worker has reported in the last {} s: start `zkgrid worker` or `zkgrid serve` with workers",
            LIVE_WORKER_MS / 1000
        )),
        Some(best) if best < need => Some(format!(
            "needs an estimated {} MiB of memory; the largest live worker has {} MiB available",
            need.div_ceil(1 << 20),
            best >> 20
        )),
        Some(_) => None,
    })
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
    let (store, tenant_id) = (&state.store, tenant.id.as_str());
    let cursor = listing::resolve_cursor(params.before, "jobs", |id| async move {
        Ok(store.job(tenant_id, &id).await?.map(|j| j.created_at))
    })
    .await?;
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
