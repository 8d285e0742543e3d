//! `GET /v1/proofs/{id}` and `POST /v1/verify`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use zkgrid_models::compile::CompiledModel;
use zkgrid_prover::{ProofBundle, ProverError};

use super::types::VerifyResult;
use super::ApiError;
use crate::engine::{parse_stored, EngineError, KeysInfo, ModelOptions};
use crate::state::AppState;
use crate::store::ModelRecord;
use crate::store::Tenant;
use zkgrid_prover::model::NoProgress;

/// A proof bundle (`ProofBundle` JSON: instances, proof, decoded output, EVM calldata, SRS).
#[utoipa::path(
    get, path = "/v1/proofs/{id}", tag = "proofs",
    params(("id" = String, Path, description = "Proof id")),
    responses(
        (status = 200, description = "ProofBundle JSON", body = Object),
        (status = 401, body = super::ErrorBody),
        (status = 404, description = "Unknown id or another tenant's proof", body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = state
        .store
        .proof(&tenant.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("proof", &id))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], p.bundle).into_response())
}

/// Verify a proof bundle natively. A proof that does not verify is `valid: false` with the
/// reason; a bundle that cannot be read, or whose verifying key is unknown here, is 422.
#[utoipa::path(
    post, path = "/v1/verify", tag = "proofs",
    request_body(content = Object, description = "ProofBundle JSON", content_type = "application/json"),
    responses(
        (status = 200, body = VerifyResult),
        (status = 401, body = super::ErrorBody),
        (status = 413, body = super::ErrorBody),
        (status = 422, description = "Malformed bundle or unknown verifying key", body = super::ErrorBody),
        (status = 429, body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn verify(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<VerifyResult>, ApiError> {
    let body = body.map_err(|e| ApiError::bytes_rejection(e, state.config.max_body_bytes))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::unprocessable("invalid_bundle", "the body is not UTF-8"))?;
    let bundle = ProofBundle::from_json(text)
        .map_err(|e| ApiError::unprocessable("invalid_bundle", e.to_string()))?;
    let model = state
        .store
        .model_by_hash(&tenant.id, &bundle.model_hash)
        .await?;
    let model_id = model.as_ref().map(|m| m.id.clone());
    let engine = state.engine.clone();
    let (model_hash, vk_hash) = (bundle.model_hash.clone(), bundle.vk_hash.to_string());
    let bundle_vk_hash = vk_hash.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let compiled: Option<CompiledModel> = model
            .as_ref()
            .map(|m| parse_stored("compiled model", &m.compiled))
            .transpose()?;
        let first = engine.verify(&bundle, compiled.as_ref().map(|c| &c.model));
        match (first, model, compiled) {
            // This server has not made the key itself (its workers run elsewhere), but the
            // tenant's model has exactly this verifying key: keys are derived deterministically
            // from (model, options, SRS), so rebuild (or load) them here and verify again.
            (Err(EngineError::Prover(ProverError::UnknownVk { .. })), Some(m), Some(c))
                if keys_vk_hash(&m).as_deref() == Some(vk_hash.as_str()) =>
            {
                let opts: ModelOptions = parse_stored("model options", &m.options)?;
                engine.keys(&c, &opts, &NoProgress)?;
                engine.verify(&bundle, Some(&c.model))
            }
            (first, ..) => first,
        }
    })
    .await?;
    let v = match outcome {
        Ok(v) => v,
        Err(EngineError::Prover(ProverError::UnknownVk { .. })) => {
            return Err(ApiError::unprocessable(
                "unknown_verifying_key",
                format!(
                    "no verifying key {bundle_vk_hash} is known to this service; upload the model first"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(VerifyResult {
        valid: v.rejection.is_none(),
        reason: v.rejection,
        model_hash,
        vk_hash: bundle_vk_hash,
        model_id,
        verify_s: v.seconds,
    }))
}

/// The verifying-key hash recorded for a model by its key generation, if any.
fn keys_vk_hash(m: &ModelRecord) -> Option<String> {
    m.keys
        .as_ref()
        .and_then(|k| parse_stored::<KeysInfo>("keys info", k).ok())
        .map(|k| k.vk_hash)
}
