//! Row decoding shared by the SQLite and PostgreSQL stores. Both schemas store the same values
//! with the same column names (text, 64-bit integers, JSON as text, booleans), so each record is
//! decoded once here through [`StoreRow`], which both row types implement.

use sqlx::Row;

use super::{
    JobKind, JobRecord, JobState, ModelRecord, ModelStatus, ModelSummary, ProofRecord, StoreError,
    StoreResult, Tenant, WorkerCapability, WorkerRecord,
};

/// Columns of `jobs` read into a [`JobRecord`].
pub(super) const JOB_COLUMNS: &str = "id, tenant_id, kind, model_id, payload, state, attempts, \
    max_attempts, run_after, lease_owner, lease_expires_at, progress, memory_bytes, error, \
    timings, proof_id, created_at, started_at, finished_at";

/// Columns of `models` read into a [`ModelRecord`].
pub(super) const MODEL_COLUMNS: &str = "id, tenant_id, name, status, model_hash, compiled, \
    options, keys, keygen_job_id, error, memory_bytes, created_at";

/// Columns of `models` read into a [`ModelSummary`].
pub(super) const MODEL_SUMMARY_COLUMNS: &str =
    "id, tenant_id, name, status, model_hash, keygen_job_id, error, memory_bytes, created_at";

/// Columns of `proofs` read into a [`ProofRecord`].
pub(super) const PROOF_COLUMNS: &str = "id, tenant_id, model_id, job_id, bundle, created_at";

/// Columns of `workers` read into a [`WorkerRecord`].
pub(super) const WORKER_COLUMNS: &str = "id, hostname, cpu_cores, memory_total_bytes, \
    memory_available_bytes, gpu, started_at, last_seen_at";

/// Typed column access for the row types of both backends.
pub(super) trait StoreRow {
    /// A text column.
    fn text(&self, col: &'static str) -> StoreResult<String>;
    /// A nullable text column.
    fn opt_text(&self, col: &'static str) -> StoreResult<Option<String>>;
    /// A 64-bit integer column.
    fn int(&self, col: &'static str) -> StoreResult<i64>;
    /// A nullable 64-bit integer column.
    fn opt_int(&self, col: &'static str) -> StoreResult<Option<i64>>;
    /// A boolean column.
    fn boolean(&self, col: &'static str) -> StoreResult<bool>;
}

macro_rules! impl_store_row {
    ($row:ty) => {
        impl StoreRow for $row {
            fn text(&self, col: &'static str) -> StoreResult<String> {
                Ok(self.try_get(col)?)
            }
            fn opt_text(&self, col: &'static str) -> StoreResult<Option<String>> {
                Ok(self.try_get(col)?)
            }
            fn int(&self, col: &'static str) -> StoreResult<i64> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &'static str) -> StoreResult<Option<i64>> {
                Ok(self.try_get(col)?)
            }
            fn boolean(&self, col: &'static str) -> StoreResult<bool> {
                Ok(self.try_get(col)?)
            }
        }
    };
}

impl_store_row!(sqlx::sqlite::SqliteRow);
impl_store_row!(sqlx::postgres::PgRow);

fn parse_json(col: &'static str, text: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: col,
        detail: e.to_string(),
    })
}

/// A JSON document stored as text.
pub(super) fn json_col(row: &impl StoreRow, col: &'static str) -> StoreResult<serde_json::Value> {
    parse_json(col, &row.text(col)?)
}

/// A nullable JSON document stored as text.
pub(super) fn opt_json_col(
    row: &impl StoreRow,
    col: &'static str,
) -> StoreResult<Option<serde_json::Value>> {
    row.opt_text(col)?.map(|t| parse_json(col, &t)).transpose()
}

fn unsigned<T: TryFrom<i64>>(col: &'static str, v: i64) -> StoreResult<T> {
    T::try_from(v).map_err(|_| StoreError::Corrupt {
        what: col,
        detail: v.to_string(),
    })
}

fn opt_unsigned(row: &impl StoreRow, col: &'static str) -> StoreResult<Option<u64>> {
    row.opt_int(col)?.map(|v| unsigned(col, v)).transpose()
}

/// A byte count or count for a signed 64-bit column (saturating: no machine has 2^63 bytes).
pub(super) fn to_db_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn tenant_from_row(row: &impl StoreRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: row.text("id")?,
        name: row.text("name")?,
    })
}

pub(super) fn job_from_row(row: &impl StoreRow) -> StoreResult<JobRecord> {
    Ok(JobRecord {
        id: row.text("id")?,
        tenant_id: row.text("tenant_id")?,
        kind: JobKind::parse(&row.text("kind")?)?,
        model_id: row.text("model_id")?,
        payload: json_col(row, "payload")?,
        state: JobState::parse(&row.text("state")?)?,
        attempts: unsigned("attempts", row.int("attempts")?)?,
        max_attempts: unsigned("max_attempts", row.int("max_attempts")?)?,
        run_after: row.int("run_after")?,
        lease_owner: row.opt_text("lease_owner")?,
        lease_expires_at: row.opt_int("lease_expires_at")?,
        progress: row.opt_text("progress")?,
        memory_bytes: opt_unsigned(row, "memory_bytes")?,
        error: row.opt_text("error")?,
        timings: opt_json_col(row, "timings")?,
        proof_id: row.opt_text("proof_id")?,
        created_at: row.int("created_at")?,
        started_at: row.opt_int("started_at")?,
        finished_at: row.opt_int("finished_at")?,
    })
}

pub(super) fn model_from_row(row: &impl StoreRow) -> StoreResult<ModelRecord> {
    Ok(ModelRecord {
        id: row.text("id")?,
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        status: ModelStatus::parse(&row.text("status")?)?,
        model_hash: row.text("model_hash")?,
        compiled: json_col(row, "compiled")?,
        options: json_col(row, "options")?,
        keys: opt_json_col(row, "keys")?,
        keygen_job_id: row.text("keygen_job_id")?,
        error: row.opt_text("error")?,
        memory_bytes: opt_unsigned(row, "memory_bytes")?,
        created_at: row.int("created_at")?,
    })
}

pub(super) fn model_summary_from_row(row: &impl StoreRow) -> StoreResult<ModelSummary> {
    Ok(ModelSummary {
        id: row.text("id")?,
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        status: ModelStatus::parse(&row.text("status")?)?,
        model_hash: row.text("model_hash")?,
        keygen_job_id: row.text("keygen_job_id")?,
        error: row.opt_text("error")?,
        memory_bytes: opt_unsigned(row, "memory_bytes")?,
        created_at: row.int("created_at")?,
    })
}

pub(super) fn proof_from_row(row: &impl StoreRow) -> StoreResult<ProofRecord> {
    Ok(ProofRecord {
        id: row.text("id")?,
        tenant_id: row.text("tenant_id")?,
        model_id: row.text("model_id")?,
        job_id: row.text("job_id")?,
        bundle: row.text("bundle")?,
        created_at: row.int("created_at")?,
    })
}

pub(super) fn worker_from_row(row: &impl StoreRow) -> StoreResult<WorkerRecord> {
    Ok(WorkerRecord {
        id: row.text("id")?,
        capability: WorkerCapability {
            hostname: row.text("hostname")?,
            cpu_cores: unsigned("cpu_cores", row.int("cpu_cores")?)?,
            memory_total_bytes: unsigned("memory_total_bytes", row.int("memory_total_bytes")?)?,
            memory_available_bytes: unsigned(
                "memory_available_bytes",
                row.int("memory_available_bytes")?,
            )?,
            gpu: row.boolean("gpu")?,
        },
        started_at: row.int("started_at")?,
        last_seen_at: row.int("last_seen_at")?,
    })
}

/// Job counts per state from `(state, n)` rows, every state present.
pub(super) fn job_counts_from_rows<R: StoreRow>(rows: &[R]) -> StoreResult<Vec<(JobState, u64)>> {
    let mut out: Vec<(JobState, u64)> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
    for r in rows {
        let state = JobState::parse(&r.text("state")?)?;
        let n: u64 = unsigned("n", r.int("n")?)?;
        if let Some(slot) = out.iter_mut().find(|(s, _)| *s == state) {
            slot.1 = n;
        }
    }
    Ok(out)
}
