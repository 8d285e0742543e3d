//! The REST API v1: [`app`] builds the router over an [`AppState`] (tests call it with
//! `tower::ServiceExt::oneshot`, `zkgrid serve` binds it to a socket).
//!
//! | route | handler |
//! |---|---|
//! | `POST /v1/models` | [`models::create`]: upload + compile an ONNX model, queue key generation |
//! | `GET /v1/models` | [`models::list`]: the tenant's models, newest first (`limit`, `before`) |
//! | `GET /v1/models/{id}` | [`models::get`]: status, layer table, quantization report, k, columns |
//! | `GET /v1/models/{id}/verifier` | [`models::verifier`]: Solidity + ABI + bytecode |
//! | `POST /v1/models/{id}/proofs` | [`models::prove`]: queue a proof of one input |
//! | `GET /v1/jobs` | [`jobs::list`]: the tenant's jobs, newest first (`limit`, `before`, `state`) |
//! | `GET /v1/jobs/{id}` | [`jobs::get`]: state, progress, timings, error |
//! | `GET /v1/proofs/{id}` | [`proofs::get`]: the `ProofBundle` |
//! | `POST /v1/verify` | [`proofs::verify`]: verify a `ProofBundle` |
//! | `GET /healthz`, `GET /metrics`, `GET /v1/openapi.json` | [`system`] |
//!
//! Every `/v1/` route except the OpenAPI document needs `Authorization: Bearer <API key>`;
//! every resource belongs to the key's tenant and is invisible (404) to other tenants.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

pub mod auth;
pub mod error;
pub mod jobs;
pub mod listing;
pub mod models;
pub mod openapi;
pub mod proofs;
pub mod system;
pub mod types;

pub use error::{ApiError, ErrorBody};

/// The service's router.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let authed = Router::new()
        .route("/v1/models", post(models::create).get(models::list))
        .route("/v1/models/{id}", get(models::get))
        .route("/v1/models/{id}/verifier", get(models::verifier))
        .route("/v1/models/{id}/proofs", post(models::prove))
        .route("/v1/jobs", get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::get))
        .route("/v1/proofs/{id}", get(proofs::get))
        .route("/v1/verify", post(proofs::verify))
        .route_layer(from_fn_with_state(state.clone(), auth::require_key));
    Router::new()
        .merge(authed)
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/v1/openapi.json", get(system::openapi))
        .fallback(system::no_route)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(state.clone(), timeout))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers 503 `timeout` when a request takes longer than the configured limit.
async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
