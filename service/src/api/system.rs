//! `GET /healthz`, `GET /metrics`, `GET /v1/openapi.json` and the JSON 404/405 fallbacks.

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;

use super::openapi::ApiDoc;
use super::types::Health;
use super::ApiError;
use crate::state::AppState;

/// Liveness and database check.
#[utoipa::path(
    get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 500, body = super::ErrorBody))
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

/// Prometheus metrics: jobs by state, queue depth, prove-seconds histogram.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let counts = state.store.job_counts().await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&counts),
    )
        .into_response())
}

/// This API's OpenAPI 3 document.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", body = Object))
)]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// JSON 404 for unknown routes.
pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_string())
}

/// JSON 405.
pub async fn method_not_allowed() -> Response {
    let mut r = ApiError::MethodNotAllowed.into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}
