//! `/v1/models…`: upload, inspect, verifier, and queue proofs.

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::{Extension, Json};
use zkgrid_circuits::model::{
    CircuitShape, InputVisibility, OutputVisibility, PlanGoal, WeightsVisibility,
};
use zkgrid_models::compile::CompiledModel;
use zkgrid_models::input::{parse_samples, parse_single};
use zkgrid_models::onnx::{import_onnx, MAX_ONNX_BYTES};
use zkgrid_models::{compile, execute, quantize_input, QuantConfig};

use super::listing;
use super::types::{
    ColumnsView, JobAccepted, ModelCreated, ModelList, ModelSummaryView, ModelView, SrsView,
    VerifierView,
};
use super::ApiError;
use crate::engine::{
    parse_address, parse_stored, KeysInfo, ModelOptions, ProvePayload, VerifierArtifacts,
};
use crate::ids::new_id;
use crate::state::AppState;
use crate::store::{JobState, ModelRecord, ModelStatus, NewModel, NewProveJob, Tenant};

const FORM_FIELDS: &str = "onnx, calibration, name, input_visibility, output_visibility, \
    weights_visibility, column_budget, optimize, bits, weight_bits, headroom_bits, table_bits";

/// The parsed upload form.
struct Upload {
    onnx: Option<(Bytes, Option<String>)>,
    calibration: Option<Bytes>,
    name: Option<String>,
    options: ModelOptions,
    quant: QuantConfig,
}

fn text_field(name: &str, data: &[u8]) -> Result<String, ApiError> {
    std::str::from_utf8(data)
        .map(|s| s.trim().to_string())
        .map_err(|_| {
            ApiError::unprocessable(
                "invalid_field",
                format!("form field `{name}` is not UTF-8 text"),
            )
        })
}

fn number_field<T: std::str::FromStr>(name: &str, data: &[u8]) -> Result<T, ApiError> {
    let s = text_field(name, data)?;
    s.parse().map_err(|_| {
        ApiError::unprocessable(
            "invalid_field",
            format!("form field `{name}`: {s:?} is not a non-negative integer"),
        )
    })
}

fn enum_field<T: serde::de::DeserializeOwned>(
    name: &str,
    data: &[u8],
    allowed: &str,
) -> Result<T, ApiError> {
    let s = text_field(name, data)?;
    serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
        ApiError::unprocessable(
            "invalid_field",
            format!("form field `{name}`: {s:?} is not one of {allowed}"),
        )
    })
}

async fn read_form(mut mp: Multipart, limit: usize) -> Result<Upload, ApiError> {
    let mut form = Upload {
        onnx: None,
        calibration: None,
        name: None,
        options: ModelOptions::default(),
        quant: QuantConfig::default(),
    };
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::multipart(e, limit))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = field
            .bytes()
            .await
            .map_err(|e| ApiError::multipart(e, limit))?;
        match name.as_str() {
            "onnx" => form.onnx = Some((data, file_name)),
            "calibration" => form.calibration = Some(data),
            "name" => form.name = Some(text_field(&name, &data)?).filter(|n| !n.is_empty()),
            "input_visibility" => {
                form.options.input_visibility =
                    enum_field::<InputVisibility>(&name, &data, "public, hashed, private")?
            }
            "output_visibility" => {
                form.options.output_visibility =
                    enum_field::<OutputVisibility>(&name, &data, "public, hashed")?
            }
            "weights_visibility" => {
                form.options.weights_visibility =
                    enum_field::<WeightsVisibility>(&name, &data, "fixed, hashed")?
            }
            "column_budget" => form.options.column_budget = number_field(&name, &data)?,
            "optimize" => {
                form.options.optimize =
                    enum_field::<PlanGoal>(&name, &data, "prove, balanced, gas")?
            }
            "bits" => form.quant.bits = number_field(&name, &data)?,
            "weight_bits" => form.quant.weight_bits = number_field(&name, &data)?,
            "headroom_bits" => form.quant.headroom_bits = number_field(&name, &data)?,
            "table_bits" => form.quant.table_bits = number_field(&name, &data)?,
            other => {
                return Err(ApiError::unprocessable(
                    "unknown_field",
                    format!("unknown form field {other:?}; expected {FORM_FIELDS}"),
                ))
            }
        }
    }
    Ok(form)
}

/// Imports, checks and quantizes an upload (blocking).
fn compile_upload(
    onnx: &[u8],
    name: &str,
    calibration: Option<&[u8]>,
    quant: &QuantConfig,
) -> Result<CompiledModel, ApiError> {
    let graph = import_onnx(onnx, name)?;
    let n: usize = graph.input_shape.iter().product();
    let samples = match calibration {
        Some(bytes) => Some(parse_samples(bytes, n, &graph.input_shape).map_err(|e| {
            ApiError::unprocessable(
                super::error::model_error_code(&e),
                format!("calibration: {e}"),
            )
        })?),
        None => None,
    };
    let compiled = compile(onnx, name, samples.as_deref(), quant)?;
    zkgrid_circuits::model::support::check_supported(&compiled.model).map_err(|e| {
        ApiError::unprocessable(
            "unsupported_model",
            format!("the circuit cannot prove this model: {e}"),
        )
    })?;
    Ok(compiled)
}

fn default_name(file_name: Option<&str>) -> String {
    file_name
        .and_then(|f| std::path::Path::new(f).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "model".into())
}

/// Upload an ONNX model: it is imported, quantized and checked now (errors are 422 naming the
/// problem); key generation runs as a job.
#[utoipa::path(
    post, path = "/v1/models", tag = "models",
    request_body(content = super::types::ModelUpload, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Model compiled; key generation queued", body = ModelCreated),
        (status = 401, description = "Missing or invalid API key", body = super::ErrorBody),
        (status = 413, description = "Body too large", body = super::ErrorBody),
        (status = 422, description = "Malformed ONNX, unsupported op, bad calibration or option", body = super::ErrorBody),
        (status = 429, description = "Rate limited", body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<ModelCreated>,
    ),
    ApiError,
> {
    let limit = state.config.max_body_bytes;
    let mp = mp.map_err(|e| ApiError::multipart_rejection(e, limit))?;
    let form = read_form(mp, limit).await?;
    let (onnx, file_name) = form.onnx.ok_or_else(|| {
        ApiError::unprocessable("missing_onnx", "the form has no `onnx` file field")
    })?;
    if onnx.len() > MAX_ONNX_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_ONNX_BYTES,
        });
    }
    if form.options.column_budget == 0 {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "column_budget must be at least 1",
        ));
    }
    let name = form
        .name
        .unwrap_or_else(|| default_name(file_name.as_deref()));
    let (quant, calibration, model_options) = (form.quant, form.calibration, form.options);
    let (compiled, memory_bytes) = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let compiled = compile_upload(&onnx, &name, calibration.as_deref(), &quant)?;
            let memory = model_options.planned_memory(&compiled.model).map_err(|e| {
                ApiError::unprocessable(
                    "no_feasible_layout",
                    format!("the circuit cannot be laid out with these options: {e}"),
                )
            })?;
            Ok::<_, ApiError>((compiled, memory))
        })
        .await??
    };
    let compiled_json = serde_json::to_value(&compiled)
        .map_err(|e| ApiError::Internal(format!("serializing the compiled model: {e}")))?;
    let options = serde_json::to_value(form.options)
        .map_err(|e| ApiError::Internal(format!("serializing options: {e}")))?;
    let (id, job_id) = (new_id("mdl"), new_id("job"));
    state
        .store
        .create_model(NewModel {
            id: id.clone(),
            tenant_id: tenant.id.clone(),
            name,
            model_hash: compiled.model_hash.clone(),
            compiled: compiled_json,
            options,
            keygen_job_id: job_id.clone(),
            max_attempts: state.config.max_attempts,
            memory_bytes,
        })
        .await?;
    state.wake.notify_one();
    tracing::info!(model = %id, tenant = %tenant.name, "model uploaded");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/v1/models/{id}"))],
        Json(ModelCreated {
            id,
            status: ModelStatus::Pending,
            model_hash: compiled.model_hash,
            keygen_job_id: job_id,
        }),
    ))
}

/// The tenant's models, newest first, a page at a time (summaries; the full document is
/// `GET /v1/models/{id}`).
#[utoipa::path(
    get, path = "/v1/models", tag = "models",
    params(
        ("limit" = Option<u32>, Query, description = "Models per page, 1 to 500 (default 50)"),
        ("before" = Option<String>, Query, description = "Cursor: a model id (e.g. the previous page's `next_before`) or a time in ms since the Unix epoch; only older models are listed"),
    ),
    responses(
        (status = 200, body = ModelList),
        (status = 400, description = "Malformed query string", body = super::ErrorBody),
        (status = 401, body = super::ErrorBody),
        (status = 422, description = "Bad limit or cursor, unknown parameter, or a `before` id that is not one of the tenant's models", body = super::ErrorBody),
        (status = 429, body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ModelList>, ApiError> {
    let params = listing::parse(query, false)?;
    let (store, tenant_id) = (&state.store, tenant.id.as_str());
    let cursor = listing::resolve_cursor(params.before, "models", |id| async move {
        Ok(store.model(tenant_id, &id).await?.map(|m| m.created_at))
    })
    .await?;
    let rows = state
        .store
        .list_models(&tenant.id, &listing::store_page(params.limit, cursor))
        .await?;
    let (rows, next_before) = listing::page(rows, params.limit, |m| m.id.clone());
    Ok(Json(ModelList {
        items: rows
            .into_iter()
            .map(|m| ModelSummaryView {
                id: m.id,
                name: m.name,
                status: m.status,
                error: m.error,
                model_hash: m.model_hash,
                keygen_job_id: m.keygen_job_id,
                estimated_proving_memory_bytes: m.memory_bytes,
                created_at: m.created_at,
            })
            .collect(),
        next_before,
    }))
}

async fn owned_model(state: &AppState, tenant: &Tenant, id: &str) -> Result<ModelRecord, ApiError> {
    state
        .store
        .model(&tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("model", id))
}

fn view(m: ModelRecord) -> Result<ModelView, ApiError> {
    let c: CompiledModel = parse_stored("compiled model", &m.compiled)?;
    let options: ModelOptions = parse_stored("model options", &m.options)?;
    let keys: Option<KeysInfo> = m
        .keys
        .as_ref()
        .map(|k| parse_stored("keys info", k))
        .transpose()?;
    let shape: Option<CircuitShape> = keys
        .as_ref()
        .map(|k| parse_stored("circuit shape", &k.shape))
        .transpose()?;
    let mut report = serde_json::to_value(&c.report)
        .map_err(|e| ApiError::Internal(format!("serializing the report: {e}")))?;
    let layers = report
        .as_object_mut()
        .and_then(|o| o.remove("layers"))
        .unwrap_or(serde_json::Value::Array(vec![]));
    Ok(ModelView {
        id: m.id,
        name: m.name,
        status: m.status,
        error: m.error,
        model_hash: m.model_hash,
        onnx_sha256: c.onnx_sha256.clone(),
        options,
        input_shape: c.model.input.shape.clone(),
        output_shape: c.model.output_shape().to_vec(),
        macs: c.model.macs(),
        layers,
        quantization: report,
        keygen_job_id: m.keygen_job_id,
        k: keys.as_ref().map(|k| k.k),
        columns: shape.map(|s| ColumnsView {
            advice: s.advice_columns,
            fixed: s.fixed_columns,
            selectors: s.selectors,
            lookups: s.lookups,
            instance: s.instance_columns,
            rows_used: s.rows_used,
            usable_rows: s.usable_rows,
            degree: s.degree,
        }),
        instance_values: keys.as_ref().map(|k| k.instance_values),
        vk_hash: keys.as_ref().map(|k| k.vk_hash.clone()),
        weights_commitment: keys.as_ref().and_then(|k| k.weights_commitment.clone()),
        srs: keys.map(|k| SrsView {
            label: k.srs_label,
            insecure: k.srs_insecure,
        }),
        estimated_proving_memory_bytes: m.memory_bytes,
        created_at: m.created_at,
    })
}

/// A model: status, layer table, quantization report and, once keys exist, k and columns.
#[utoipa::path(
    get, path = "/v1/models/{id}", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, body = ModelView),
        (status = 401, body = super::ErrorBody),
        (status = 404, description = "Unknown id or another tenant's model", body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<ModelView>, ApiError> {
    let m = owned_model(&state, &tenant, &id).await?;
    let v = tokio::task::spawn_blocking(move || view(m)).await??;
    Ok(Json(v))
}

/// The model's Solidity verifier (generated once, then cached): source, ABI, bytecode and the
/// VK data contracts.
#[utoipa::path(
    get, path = "/v1/models/{id}/verifier", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, body = VerifierView),
        (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "Keys are not ready yet", body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn verifier(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<VerifierView>, ApiError> {
    let m = owned_model(&state, &tenant, &id).await?;
    if m.status != ModelStatus::Ready {
        return Err(ApiError::Conflict {
            code: "model_not_ready",
            message: format!(
                "model {id} is {}; its verifier exists once keys are ready",
                m.status.as_str()
            ),
        });
    }
    let artifacts: VerifierArtifacts = match state.store.verifier(&m.id).await? {
        Some(v) => parse_stored("verifier", &v)?,
        None => {
            let engine = state.engine.clone();
            let (compiled, options) = (m.compiled.clone(), m.options.clone());
            let a = tokio::task::spawn_blocking(move || {
                let c: CompiledModel = parse_stored("compiled model", &compiled)?;
                let o: ModelOptions = parse_stored("model options", &options)?;
                engine.verifier(&c, &o)
            })
            .await??;
            let v = serde_json::to_value(&a)
                .map_err(|e| ApiError::Internal(format!("serializing the verifier: {e}")))?;
            state.store.set_verifier(&m.id, &v).await?;
            a
        }
    };
    Ok(Json(VerifierView {
        model_id: m.id,
        contract: artifacts.contract,
        solidity: artifacts.solidity,
        abi: artifacts.abi,
        bytecode: artifacts.bytecode,
        runtime_bytecode: artifacts.runtime_bytecode,
        vk_contracts: artifacts.vk_contracts,
        instance_values: artifacts.instance_values,
        vk_hash: artifacts.vk_hash,
        srs_insecure: artifacts.srs_insecure,
    }))
}

/// Checks an input document against the model (blocking): parse, quantize, execute.
fn check_input(compiled: &serde_json::Value, body: &[u8]) -> Result<Vec<i64>, ApiError> {
    let c: CompiledModel = parse_stored("compiled model", compiled)?;
    let shape = c.model.input.shape.clone();
    let input = parse_single(body, shape.iter().product(), &shape)?;
    let q = quantize_input(&c.model, &input)?;
    execute(&c.model, &q)?;
    Ok(q)
}

/// Queue a proof of the model on one input. The input is checked now (wrong shape, values out of
/// range → 422); the job is committed before the answer.
#[utoipa::path(
    post, path = "/v1/models/{id}/proofs", tag = "proofs",
    params(("id" = String, Path, description = "Model id")),
    request_body(content = super::types::ProveRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Job queued", body = JobAccepted),
        (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The model failed key generation", body = super::ErrorBody),
        (status = 413, body = super::ErrorBody),
        (status = 422, description = "Malformed input, wrong shape, out-of-range value, bad recipient", body = super::ErrorBody),
        (status = 429, body = super::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn prove(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<JobAccepted>,
    ),
    ApiError,
> {
    let body = body.map_err(|e| ApiError::bytes_rejection(e, state.config.max_body_bytes))?;
    let m = owned_model(&state, &tenant, &id).await?;
    if m.status == ModelStatus::Failed {
        return Err(ApiError::Conflict {
            code: "model_failed",
            message: format!(
                "model {id} failed key generation: {}",
                m.error.as_deref().unwrap_or("unknown reason")
            ),
        });
    }
    let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::unprocessable("invalid_json", format!("the body is not JSON: {e}"))
    })?;
    let recipient = match doc.get("recipient") {
        None | Some(serde_json::Value::Null) => {
            "0x0000000000000000000000000000000000000000".to_string()
        }
        Some(serde_json::Value::String(s)) => {
            parse_address(s)?;
            s.to_lowercase()
        }
        Some(other) => {
            return Err(ApiError::unprocessable(
                "invalid_recipient",
                format!("recipient must be a string (0x + 40 hex digits), found {other}"),
            ))
        }
    };
    let compiled = m.compiled.clone();
    let input_q = tokio::task::spawn_blocking(move || check_input(&compiled, &body)).await??;
    let payload = serde_json::to_value(ProvePayload { input_q, recipient })
        .map_err(|e| ApiError::Internal(format!("serializing the payload: {e}")))?;
    let job_id = new_id("job");
    state
        .store
        .enqueue_proof(NewProveJob {
            id: job_id.clone(),
            tenant_id: tenant.id.clone(),
            model_id: m.id.clone(),
            payload,
            max_attempts: state.config.max_attempts,
        })
        .await?;
    state.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/v1/jobs/{job_id}"))],
        Json(JobAccepted {
            job_id,
            model_id: m.id,
            state: JobState::Queued,
        }),
    ))
}
