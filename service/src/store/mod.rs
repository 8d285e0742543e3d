//! The durable state of the service behind one trait, [`JobStore`]: tenants and API keys, models,
//! jobs (with leases) and proofs.
//!
//! The job protocol is written so that both the embedded SQLite store ([`SqliteStore`]) and a
//! PostgreSQL store (`SELECT … FOR UPDATE SKIP LOCKED`) implement it with single statements or
//! short transactions:
//!
//! 1. [`JobStore::enqueue_proof`] / [`JobStore::create_model`] commit the job before the request
//!    returns.
//! 2. A worker registers its [`WorkerCapability`] ([`JobStore::register_worker`]), calls
//!    [`JobStore::requeue_expired`] (lapsed leases go back to `queued`, or to `failed` once
//!    `max_attempts` is used up), then [`JobStore::claim`], which moves the oldest runnable
//!    `queued` job whose estimated proving memory fits the worker to `running` with a lease
//!    (`lease_owner`, `lease_expires_at`) and counts an attempt. The [`Lease`] it returns (job,
//!    worker, attempt number) is the fencing token of every later call.
//! 3. While it works it calls [`JobStore::heartbeat`]; `false` means the lease was lost and the
//!    result must be thrown away.
//! 4. It finishes with [`JobStore::complete_proof`] / [`JobStore::complete_keygen`] or
//!    [`JobStore::fail`]. Every finishing call is fenced: it only applies while the job is
//!    `running` under the caller's lease (same owner *and* same attempt), so a job is never
//!    finished twice and a worker whose lease lapsed cannot overwrite the result of the worker
//!    that took over, even when that is a later attempt under the same worker name.
//!
//! A job's `memory_bytes` is the model's estimated proving memory, known once key generation
//! has run (it is copied to prove jobs at enqueue, and filled in for jobs queued before it was
//! known); a job without an estimate may go to any worker.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod postgres;
mod rows;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Milliseconds since the Unix epoch (the store's clock unit).
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Errors of a [`JobStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (connection, SQL, constraint).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Running the embedded migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded.
    #[error("corrupt {what} in the database: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The database URL names a backend this build does not support.
    #[error("unsupported database URL {url:?}: {reason}")]
    UnsupportedUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// Creating the database directory failed.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A tenant: owner of API keys, models, jobs and proofs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// Tenant name (unique).
    pub name: String,
}

/// Lifecycle of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    /// Compiled; the key-generation job has not finished yet.
    Pending,
    /// Keys exist; proofs can be made.
    Ready,
    /// Key generation failed for good (see `error`).
    Failed,
}

impl ModelStatus {
    /// Stable text form (also the database value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "pending" => Self::Pending,
            "ready" => Self::Ready,
            "failed" => Self::Failed,
            other => {
                return Err(StoreError::Corrupt {
                    what: "model status",
                    detail: other.to_string(),
                })
            }
        })
    }
}

/// A stored model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRecord {
    /// Model id (`mdl_…`).
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: ModelStatus,
    /// `QuantizedModel::hash`.
    pub model_hash: String,
    /// The compiled model (`CompiledModel` JSON).
    pub compiled: serde_json::Value,
    /// Circuit options (`ModelOptions` JSON).
    pub options: serde_json::Value,
    /// What key generation found (`KeysInfo` JSON), once ready.
    pub keys: Option<serde_json::Value>,
    /// The key-generation job.
    pub keygen_job_id: String,
    /// Why key generation failed, when it did.
    pub error: Option<String>,
    /// Estimated peak proving memory in bytes, once keys exist.
    pub memory_bytes: Option<u64>,
    /// Creation time.
    pub created_at: Millis,
}

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Plan the circuit and generate (or load cached) keys for a model.
    Keygen,
    /// Prove one input.
    Prove,
}

impl JobKind {
    /// Stable text form (also the database value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keygen => "keygen",
            Self::Prove => "prove",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "keygen" => Ok(Self::Keygen),
            "prove" => Ok(Self::Prove),
            other => Err(StoreError::Corrupt {
                what: "job kind",
                detail: other.to_string(),
            }),
        }
    }
}

/// State of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker (possibly until `run_after`, after a failed attempt).
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished with a verified result.
    Succeeded,
    /// Finished without a result (see `error`); terminal.
    Failed,
}

impl JobState {
    /// All states, in display order.
    pub const ALL: [JobState; 4] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
    ];

    /// Stable text form (also the database value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            other => {
                return Err(StoreError::Corrupt {
                    what: "job state",
                    detail: other.to_string(),
                })
            }
        })
    }
}

/// A stored job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    /// Job id (`job_…`).
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// What it does.
    pub kind: JobKind,
    /// The model it works on.
    pub model_id: String,
    /// Kind-specific input (`ProvePayload` JSON for proofs).
    pub payload: serde_json::Value,
    /// Current state.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before the job fails for good.
    pub max_attempts: u32,
    /// Not runnable before this time (backoff after a failed attempt).
    pub run_after: Millis,
    /// Worker holding the lease while `running`.
    pub lease_owner: Option<String>,
    /// When the lease lapses unless renewed.
    pub lease_expires_at: Option<Millis>,
    /// Last reported step (free text, e.g. `prove k=9`).
    pub progress: Option<String>,
    /// Estimated peak proving memory in bytes (`None` until the model's keys were made).
    pub memory_bytes: Option<u64>,
    /// Why the last attempt failed (kept while retrying), or why the job failed.
    pub error: Option<String>,
    /// Step timings of the successful attempt (JSON object of seconds).
    pub timings: Option<serde_json::Value>,
    /// The proof made by a successful prove job.
    pub proof_id: Option<String>,
    /// Enqueue time.
    pub created_at: Millis,
    /// Start of the latest attempt.
    pub started_at: Option<Millis>,
    /// When the job reached a terminal state.
    pub finished_at: Option<Millis>,
}

/// A stored proof.
#[derive(Clone, Debug, PartialEq)]
pub struct ProofRecord {
    /// Proof id (`prf_…`).
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The model proven.
    pub model_id: String,
    /// The job that made it.
    pub job_id: String,
    /// The `ProofBundle` JSON text.
    pub bundle: String,
    /// Creation time.
    pub created_at: Millis,
}

/// A model without its compiled document, keys or verifier: what a listing shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSummary {
    /// Model id (`mdl_…`).
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: ModelStatus,
    /// `QuantizedModel::hash`.
    pub model_hash: String,
    /// The key-generation job.
    pub keygen_job_id: String,
    /// Why key generation failed, when it did.
    pub error: Option<String>,
    /// Estimated peak proving memory in bytes, once keys exist.
    pub memory_bytes: Option<u64>,
    /// Creation time.
    pub created_at: Millis,
}

/// Where a page of a newest-first listing ends: only rows strictly older than this point are
/// listed. Rows are ordered by `(created_at, id)`, both descending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Rows created before this time are listed (and, with `id`, rows created at this time
    /// whose id sorts before `id`).
    pub created_at: Millis,
    /// The id of the last row of the previous page (`None`: a bare time cursor).
    pub id: Option<String>,
}

/// One page of a tenant's newest-first listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Most rows returned.
    pub limit: u32,
    /// Start below this point (`None`: from the newest row).
    pub before: Option<Cursor>,
}

/// A new model with its key-generation job (inserted together).
#[derive(Clone, Debug)]
pub struct NewModel {
    /// Model id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Model hash.
    pub model_hash: String,
    /// `CompiledModel` JSON.
    pub compiled: serde_json::Value,
    /// Circuit options JSON.
    pub options: serde_json::Value,
    /// Id of its key-generation job.
    pub keygen_job_id: String,
    /// Attempts allowed for the key-generation job.
    pub max_attempts: u32,
    /// Estimated memory (bytes) of key generation and proving for the planned layout: the
    /// key-generation job is only leased to workers with that much available memory. `None`
    /// when unknown (any worker may take it).
    pub memory_bytes: Option<u64>,
}

/// A new prove job.
#[derive(Clone, Debug)]
pub struct NewProveJob {
    /// Job id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Model to prove.
    pub model_id: String,
    /// `ProvePayload` JSON.
    pub payload: serde_json::Value,
    /// Attempts allowed.
    pub max_attempts: u32,
}

/// A successful proof, written together with the job's completion.
#[derive(Clone, Debug)]
pub struct NewProof {
    /// Proof id.
    pub id: String,
    /// The `ProofBundle` JSON text.
    pub bundle: String,
}

/// A worker's hold on a job: the fencing token of heartbeats and finishing calls. A call with a
/// lease applies only while the job is `running` under the same owner and attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: String,
    /// The worker holding it.
    pub worker: String,
    /// The attempt the lease belongs to (the job's `attempts` when it was claimed).
    pub attempt: u32,
}

impl JobRecord {
    /// The lease `worker` holds on this freshly claimed job.
    pub fn lease(&self, worker: &str) -> Lease {
        Lease {
            job_id: self.id.clone(),
            worker: worker.to_string(),
            attempt: self.attempts,
        }
    }
}

/// What a worker can hold, reported when it starts and refreshed while it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerCapability {
    /// Host name.
    pub hostname: String,
    /// CPU cores available to the process.
    pub cpu_cores: u32,
    /// Total memory of the machine in bytes.
    pub memory_total_bytes: u64,
    /// Memory available for a new job in bytes: what the worker claims against.
    pub memory_available_bytes: u64,
    /// Whether a GPU was detected.
    pub gpu: bool,
}

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRecord {
    /// Worker id.
    pub id: String,
    /// What it reported.
    pub capability: WorkerCapability,
    /// First registration.
    pub started_at: Millis,
    /// Latest report.
    pub last_seen_at: Millis,
}

/// How a failed attempt ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// Retry at this time if attempts remain, else fail for good.
    RetryAt(Millis),
    /// Fail for good now (the error is not transient).
    Permanent,
}

/// The service's durable state. See the module docs for the job protocol.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// The tenant called `name`, created if missing.
    async fn ensure_tenant(&self, name: &str) -> StoreResult<Tenant>;
    /// Stores an API key (by its hash) for a tenant.
    async fn add_api_key(&self, tenant_id: &str, key_hash: &str) -> StoreResult<()>;
    /// The tenant owning the API key with this hash.
    async fn tenant_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Tenant>>;

    /// Inserts a model and its key-generation job in one transaction.
    async fn create_model(&self, model: NewModel) -> StoreResult<()>;
    /// A model of `tenant_id` (`None` for unknown ids and other tenants' models).
    async fn model(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ModelRecord>>;
    /// A page of `tenant_id`'s models, newest first (see [`Page`]).
    async fn list_models(&self, tenant_id: &str, page: &Page) -> StoreResult<Vec<ModelSummary>>;
    /// A model of any tenant (for workers).
    async fn model_by_id(&self, id: &str) -> StoreResult<Option<ModelRecord>>;
    /// Caches a model's generated verifier (JSON).
    async fn set_verifier(&self, id: &str, verifier: &serde_json::Value) -> StoreResult<()>;
    /// A model's cached verifier.
    async fn verifier(&self, id: &str) -> StoreResult<Option<serde_json::Value>>;

    /// Inserts a prove job.
    async fn enqueue_proof(&self, job: NewProveJob) -> StoreResult<()>;
    /// A job of `tenant_id`.
    async fn job(&self, tenant_id: &str, id: &str) -> StoreResult<Option<JobRecord>>;
    /// A page of `tenant_id`'s jobs, newest first, only those in `state` when given.
    async fn list_jobs(
        &self,
        tenant_id: &str,
        page: &Page,
        state: Option<JobState>,
    ) -> StoreResult<Vec<JobRecord>>;
    /// Records (or refreshes) what worker `id` can hold.
    async fn register_worker(
        &self,
        id: &str,
        capability: &WorkerCapability,
        now: Millis,
    ) -> StoreResult<()>;
    /// The registered workers, by id.
    async fn workers(&self) -> StoreResult<Vec<WorkerRecord>>;
    /// Leases to `worker` until `now + lease_ms` the oldest runnable queued job whose estimated
    /// proving memory fits in `capability.memory_available_bytes` (jobs without an estimate fit
    /// any worker). Returns the job with its `attempts` already counting this attempt.
    async fn claim(
        &self,
        worker: &str,
        capability: &WorkerCapability,
        now: Millis,
        lease_ms: i64,
    ) -> StoreResult<Option<JobRecord>>;
    /// Renews the lease and records progress; `false` when the lease is no longer held.
    async fn heartbeat(
        &self,
        lease: &Lease,
        now: Millis,
        lease_ms: i64,
        progress: Option<&str>,
    ) -> StoreResult<bool>;
    /// Returns jobs whose lease lapsed before `now` to the queue (or fails them when their
    /// attempts are used up). Returns how many jobs it touched.
    async fn requeue_expired(&self, now: Millis) -> StoreResult<u64>;
    /// Finishes a prove job with its (verified) proof, atomically; `false` when `worker` no longer
    /// holds the lease (nothing is written then).
    async fn complete_proof(
        &self,
        lease: &Lease,
        proof: NewProof,
        timings: &serde_json::Value,
        now: Millis,
    ) -> StoreResult<bool>;
    /// Finishes a key-generation job and marks its model ready with `keys` and its estimated
    /// proving memory (also given to the model's jobs that have none yet); fenced like
    /// [`JobStore::complete_proof`].
    async fn complete_keygen(
        &self,
        lease: &Lease,
        keys: &serde_json::Value,
        memory_bytes: Option<u64>,
        timings: &serde_json::Value,
        now: Millis,
    ) -> StoreResult<bool>;
    /// Ends a failed attempt: back to `queued` (at the retry time) while attempts remain,
    /// else `failed` with `reason` (a failed key-generation job also fails its model).
    /// Fenced like [`JobStore::complete_proof`]; returns the job's new state.
    async fn fail(
        &self,
        lease: &Lease,
        reason: &str,
        mode: FailMode,
        now: Millis,
    ) -> StoreResult<Option<JobState>>;
    /// Number of jobs in each state (all tenants).
    async fn job_counts(&self) -> StoreResult<Vec<(JobState, u64)>>;

    /// A proof of `tenant_id`.
    async fn proof(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProofRecord>>;
    /// A model of `tenant_id` with this model hash, if any.
    async fn model_by_hash(
        &self,
        tenant_id: &str,
        model_hash: &str,
    ) -> StoreResult<Option<ModelRecord>>;
}

/// File name of the embedded database under the data dir.
pub const SQLITE_FILE: &str = "zkgrid.db";

/// Opens the store named by `url`, or the embedded SQLite file under `data_dir` without one.
pub async fn open(
    url: Option<&str>,
    data_dir: &std::path::Path,
) -> StoreResult<std::sync::Arc<dyn JobStore>> {
    match url {
        None => Ok(std::sync::Arc::new(
            SqliteStore::open(&data_dir.join(SQLITE_FILE)).await?,
        )),
        Some(u) if u.starts_with("sqlite:") => {
            Ok(std::sync::Arc::new(SqliteStore::open_url(u).await?))
        }
        Some(u) if u.starts_with("postgres:") || u.starts_with("postgresql:") => {
            Ok(std::sync::Arc::new(PgStore::open(u).await?))
        }
        Some(u) => Err(StoreError::UnsupportedUrl {
            url: u.to_string(),
            reason: "expected a sqlite:, postgres:// or postgresql:// URL",
        }),
    }
}
