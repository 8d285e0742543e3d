//! Response and request documents of the API (with their OpenAPI schemas).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::ModelOptions;
use crate::store::{JobKind, JobState, ModelStatus};

/// `POST /v1/models` form (multipart/form-data). Only `onnx` is required.
#[derive(Debug, ToSchema)]
pub struct ModelUpload {
    /// The ONNX file.
    #[schema(value_type = String, format = Binary)]
    pub onnx: Vec<u8>,
    /// Calibration samples (JSON: `{"input_data": [[...]]}`, `{"inputs": ...}` or an array).
    /// Default: 64 seeded uniform [0,1) samples.
    #[schema(value_type = Option<String>, format = Binary)]
    pub calibration: Option<Vec<u8>>,
    /// Model name (default: the ONNX file name without extension).
    pub name: Option<String>,
    /// `public` (default), `hashed` or `private`.
    pub input_visibility: Option<String>,
    /// `public` (default) or `hashed`.
    pub output_visibility: Option<String>,
    /// `fixed` (default: weights in the verifying key) or `hashed` (private weights, public
    /// Poseidon commitment).
    pub weights_visibility: Option<String>,
    /// Most advice columns the circuit layout may use (default 48).
    pub column_budget: Option<usize>,
    /// What the layout planner optimizes: `prove` (fastest proving), `gas` (cheapest
    /// on-chain verifier) or `balanced` (default: the cheapest verifier at most 1.25× slower to
    /// prove than the fastest).
    pub optimize: Option<String>,
    /// Activation bit width (default 16).
    pub bits: Option<u32>,
    /// Weight bit width (default 16).
    pub weight_bits: Option<u32>,
    /// Headroom bits above the calibrated maximum (default 1).
    pub headroom_bits: Option<u32>,
    /// Lookup-table index bits (default 12).
    pub table_bits: Option<u32>,
}

/// Answer to `POST /v1/models`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelCreated {
    /// The model id.
    pub id: String,
    /// `pending` until key generation finishes.
    pub status: ModelStatus,
    /// Hash of the quantized model.
    pub model_hash: String,
    /// The key-generation job (poll `GET /v1/jobs/{id}`).
    pub keygen_job_id: String,
}

/// Circuit columns of a model's layout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ColumnsView {
    /// Advice columns (committed per proof).
    pub advice: usize,
    /// Fixed columns (weights, tables), selectors not included.
    pub fixed: usize,
    /// Selectors.
    pub selectors: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// Instance columns.
    pub instance: usize,
    /// Rows the layout uses.
    pub rows_used: usize,
    /// Usable rows at `k`.
    pub usable_rows: usize,
    /// Constraint degree.
    pub degree: usize,
}

/// SRS description.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SrsView {
    /// Label (starts with `INSECURE` for the dev SRS).
    pub label: String,
    /// Whether anyone can forge proofs against it.
    pub insecure: bool,
}

/// `GET /v1/models/{id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelView {
    /// Model id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `pending`, `ready` or `failed`.
    pub status: ModelStatus,
    /// Why key generation failed.
    pub error: Option<String>,
    /// Hash of the quantized model.
    pub model_hash: String,
    /// SHA-256 of the uploaded ONNX file.
    pub onnx_sha256: String,
    /// Circuit options.
    pub options: ModelOptions,
    /// Input tensor shape.
    pub input_shape: Vec<usize>,
    /// Output tensor shape.
    pub output_shape: Vec<usize>,
    /// Multiply-accumulates per inference.
    pub macs: usize,
    /// Layer table of the quantization report (first row: the input).
    #[schema(value_type = Vec<Object>)]
    pub layers: serde_json::Value,
    /// Quantization report: settings, calibration, error bound, accuracy vs float.
    #[schema(value_type = Object)]
    pub quantization: serde_json::Value,
    /// The key-generation job.
    pub keygen_job_id: String,
    /// Circuit size (log2 rows), once keys exist.
    pub k: Option<u32>,
    /// Circuit columns, once keys exist.
    pub columns: Option<ColumnsView>,
    /// Public instance values per proof, once keys exist.
    pub instance_values: Option<usize>,
    /// Verifying-key hash, once keys exist.
    pub vk_hash: Option<String>,
    /// With `weights_visibility = hashed`, once keys exist: the Poseidon commitment of the
    /// private weights (0x hex), the first public instance of every proof of this model.
    pub weights_commitment: Option<String>,
    /// SRS, once keys exist.
    pub srs: Option<SrsView>,
    /// Estimated peak proving memory in bytes, once keys exist; only workers with this much
    /// memory available are leased the model's jobs.
    pub estimated_proving_memory_bytes: Option<u64>,
    /// Upload time (ms since the Unix epoch).
    pub created_at: i64,
}

/// `POST /v1/models/{id}/proofs` body: an input document as accepted by `zkgrid run`
/// (`{"input": [...]}`, `{"input_data": [[...]]}`), plus an optional recipient.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProveRequest {
    /// The input values (nested arrays are flattened row-major).
    #[schema(value_type = Vec<f64>)]
    pub input: Option<serde_json::Value>,
    /// EZKL layout: one sample.
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub input_data: Option<serde_json::Value>,
    /// Address bound into the proof's recipient slot (0x + 40 hex). Default: zero address.
    pub recipient: Option<String>,
}

/// Answer to `POST /v1/models/{id}/proofs`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobAccepted {
    /// The job id (poll `GET /v1/jobs/{id}`).
    pub job_id: String,
    /// The model.
    pub model_id: String,
    /// `queued`.
    pub state: JobState,
}

/// `GET /v1/jobs/{id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// `keygen` or `prove`.
    pub kind: JobKind,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: JobState,
    /// The model.
    pub model_id: String,
    /// Latest reported step.
    pub progress: Option<String>,
    /// Attempts started.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Why the job failed (or why the last attempt failed, while retrying).
    pub error: Option<String>,
    /// The proof, when a prove job succeeded (`GET /v1/proofs/{id}`).
    pub proof_id: Option<String>,
    /// Step timings in seconds, when succeeded.
    #[schema(value_type = Option<Object>)]
    pub timings: Option<serde_json::Value>,
    /// Estimated memory (bytes) the job needs; it is only leased to a worker with that much
    /// available.
    pub memory_bytes: Option<u64>,
    /// For a queued job (`GET /v1/jobs/{id}` only): why no worker can take it now — none has
    /// reported recently, or none has enough memory. Absent when a live worker can take it.
    pub waiting_reason: Option<String>,
    /// Seconds from enqueue to the start of the latest attempt.
    pub queued_s: Option<f64>,
    /// Enqueue time (ms since the Unix epoch).
    pub created_at: i64,
    /// Start of the latest attempt (ms).
    pub started_at: Option<i64>,
    /// End time (ms), when terminal.
    pub finished_at: Option<i64>,
}

/// Answer to `POST /v1/verify`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyResult {
    /// Whether the proof verifies (and, for a model of this tenant, its decoded output matches).
    pub valid: bool,
    /// Why not, when invalid.
    pub reason: Option<String>,
    /// The bundle's model hash.
    pub model_hash: String,
    /// The bundle's verifying-key hash.
    pub vk_hash: String,
    /// The tenant's model with this hash, if any (its output was checked too).
    pub model_id: Option<String>,
    /// Seconds spent verifying.
    pub verify_s: f64,
}

/// `GET /v1/models/{id}/verifier`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifierView {
    /// The model.
    pub model_id: String,
    /// Contract name.
    pub contract: String,
    /// Solidity source.
    pub solidity: String,
    /// ABI.
    #[schema(value_type = Vec<Object>)]
    pub abi: serde_json::Value,
    /// Creation bytecode (0x hex); constructor arguments: the VK contract addresses in order.
    pub bytecode: String,
    /// Runtime bytecode (0x hex).
    pub runtime_bytecode: String,
    /// Creation bytecode of each VK data contract (0x hex), deployed first.
    pub vk_contracts: Vec<String>,
    /// Public instance values `verifyProof` expects.
    pub instance_values: usize,
    /// Verifying-key hash.
    pub vk_hash: String,
    /// Whether it trusts the INSECURE dev SRS.
    pub srs_insecure: bool,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// One model in `GET /v1/models` (the full document is `GET /v1/models/{id}`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelSummaryView {
    /// Model id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `pending`, `ready` or `failed`.
    pub status: ModelStatus,
    /// Why key generation failed.
    pub error: Option<String>,
    /// Hash of the quantized model.
    pub model_hash: String,
    /// The key-generation job.
    pub keygen_job_id: String,
    /// Estimated peak proving memory in bytes, once keys exist.
    pub estimated_proving_memory_bytes: Option<u64>,
    /// Upload time (ms since the Unix epoch).
    pub created_at: i64,
}

/// `GET /v1/models`: a page of the tenant's models, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// The models.
    pub items: Vec<ModelSummaryView>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<String>,
}

/// `GET /v1/jobs`: a page of the tenant's jobs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// The jobs.
    pub items: Vec<JobView>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<String>,
}
