//! [`SqliteStore`]: the embedded [`JobStore`] (one SQLite file under the data dir, WAL journal,
//! `synchronous = FULL` so a committed job survives a crash or power loss).
//!
//! SQLite serializes writers, so each claim is one `UPDATE … WHERE id = (SELECT …) RETURNING`
//! statement and each completion one short transaction; no two workers can lease the same job.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use super::rows::{
    job_counts_from_rows, job_from_row, model_from_row, model_summary_from_row, opt_json_col,
    proof_from_row, tenant_from_row, to_db_int, worker_from_row, JOB_COLUMNS, MODEL_COLUMNS,
    MODEL_SUMMARY_COLUMNS, PROOF_COLUMNS, WORKER_COLUMNS,
};
use super::{
    FailMode, JobKind, JobRecord, JobState, JobStore, Lease, Millis, ModelRecord, ModelSummary,
    NewModel, NewProof, NewProveJob, Page, ProofRecord, StoreError, StoreResult, Tenant,
    WorkerCapability, WorkerRecord,
};
use crate::ids::new_id;

/// Migrations embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The embedded SQLite job store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path` and runs the migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        Self::connect(options).await
    }

    /// Opens a `sqlite:` URL (e.g. `sqlite:///var/lib/zkgrid/zkgrid.db`).
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> StoreResult<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    async fn model_where(&self, clause: &str, binds: &[&str]) -> StoreResult<Option<ModelRecord>> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE {clause}");
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(*b);
        }
        q.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(model_from_row)
            .transpose()
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_tenant(&self, name: &str) -> StoreResult<Tenant> {
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING")
            .bind(new_id("ten"))
            .bind(name)
            .bind(super::now_ms())
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT id, name FROM tenants WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        tenant_from_row(&row)
    }

    async fn add_api_key(&self, tenant_id: &str, key_hash: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO api_keys (key_hash, tenant_id, created_at) VALUES (?, ?, ?)")
            .bind(key_hash)
            .bind(tenant_id)
            .bind(super::now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn tenant_by_key_hash(&self, key_hash: &str) -> StoreResult<Option<Tenant>> {
        sqlx::query(
            "SELECT t.id, t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(tenant_from_row)
        .transpose()
    }

    async fn create_model(&self, m: NewModel) -> StoreResult<()> {
        let now = super::now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO models (id, tenant_id, name, status, model_hash, compiled, options, keygen_job_id, created_at) \
             VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
        )
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(&m.name)
        .bind(&m.model_hash)
        .bind(m.compiled.to_string())
        .bind(m.options.to_string())
        .bind(&m.keygen_job_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO jobs (id, tenant_id, kind, model_id, payload, state, max_attempts, run_after, memory_bytes, created_at) \
             VALUES (?, ?, 'keygen', ?, '{}', 'queued', ?, ?, ?, ?)",
        )
        .bind(&m.keygen_job_id)
        .bind(&m.tenant_id)
        .bind(&m.id)
        .bind(i64::from(m.max_attempts))
        .bind(now)
        .bind(m.memory_bytes.map(to_db_int))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn model(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ModelRecord>> {
        self.model_where("id = ? AND tenant_id = ?", &[id, tenant_id])
            .await
    }

    async fn list_models(&self, tenant_id: &str, page: &Page) -> StoreResult<Vec<ModelSummary>> {
        let sql = format!(
            "SELECT {MODEL_SUMMARY_COLUMNS} FROM models WHERE tenant_id = ?1 \
                 AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3)) \
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        );
        let before = page.before.as_ref();
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(before.map(|c| c.created_at))
            .bind(before.and_then(|c| c.id.as_deref()))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(model_summary_from_row).collect()
    }

    async fn list_jobs(
        &self,
        tenant_id: &str,
        page: &Page,
        state: Option<JobState>,
    ) -> StoreResult<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = ?1 \
                 AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3)) \
                 AND (?5 IS NULL OR state = ?5) \
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        );
        let before = page.before.as_ref();
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(before.map(|c| c.created_at))
            .bind(before.and_then(|c| c.id.as_deref()))
            .bind(i64::from(page.limit))
            .bind(state.map(JobState::as_str))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn model_by_id(&self, id: &str) -> StoreResult<Option<ModelRecord>> {
        self.model_where("id = ?", &[id]).await
    }

    async fn model_by_hash(
        &self,
        tenant_id: &str,
        model_hash: &str,
    ) -> StoreResult<Option<ModelRecord>> {
        self.model_where(
            "tenant_id = ? AND model_hash = ? ORDER BY created_at LIMIT 1",
            &[tenant_id, model_hash],
        )
        .await
    }

    async fn set_verifier(&self, id: &str, verifier: &serde_json::Value) -> StoreResult<()> {
        sqlx::query("UPDATE models SET verifier = ? WHERE id = ?")
            .bind(verifier.to_string())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn verifier(&self, id: &str) -> StoreResult<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT verifier FROM models WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => opt_json_col(&r, "verifier"),
            None => Ok(None),
        }
    }

    async fn enqueue_proof(&self, j: NewProveJob) -> StoreResult<()> {
        let now = super::now_ms();
        // The model's memory estimate (when its keys exist) travels with the job.
        sqlx::query(
            "INSERT INTO jobs (id, tenant_id, kind, model_id, payload, state, max_attempts, run_after, memory_bytes, created_at) \
             VALUES (?1, ?2, 'prove', ?3, ?4, 'queued', ?5, ?6, (SELECT memory_bytes FROM models WHERE id = ?3), ?6)",
        )
        .bind(&j.id)
        .bind(&j.tenant_id)
        .bind(&j.model_id)
        .bind(j.payload.to_string())
        .bind(i64::from(j.max_attempts))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn job(&self, tenant_id: &str, id: &str) -> StoreResult<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND tenant_id = ?");
        sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn register_worker(
        &self,
        id: &str,
        c: &WorkerCapability,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO workers (id, hostname, cpu_cores, memory_total_bytes, memory_available_bytes, gpu, started_at, last_seen_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
             ON CONFLICT(id) DO UPDATE SET hostname = excluded.hostname, cpu_cores = excluded.cpu_cores, \
                 memory_total_bytes = excluded.memory_total_bytes, \
                 memory_available_bytes = excluded.memory_available_bytes, gpu = excluded.gpu, \
                 last_seen_at = excluded.last_seen_at",
        )
        .bind(id)
        .bind(&c.hostname)
        .bind(i64::from(c.cpu_cores))
        .bind(to_db_int(c.memory_total_bytes))
        .bind(to_db_int(c.memory_available_bytes))
        .bind(c.gpu)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let sql = format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(worker_from_row).collect()
    }

    async fn claim(
        &self,
        worker: &str,
        capability: &WorkerCapability,
        now: Millis,
        lease_ms: i64,
    ) -> StoreResult<Option<JobRecord>> {
        // SQLite serializes writers: one statement picks and leases the job atomically.
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = ?1, lease_expires_at = ?2, \
                 attempts = attempts + 1, started_at = ?3, progress = 'claimed' \
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ?3 \
                             AND (memory_bytes IS NULL OR memory_bytes <= ?4) \
                         ORDER BY created_at, id LIMIT 1) \
             RETURNING {JOB_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(worker)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .bind(to_db_int(capability.memory_available_bytes))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn heartbeat(
        &self,
        lease: &Lease,
        now: Millis,
        lease_ms: i64,
        progress: Option<&str>,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ?, progress = COALESCE(?, progress) \
             WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ?",
        )
        .bind(now.saturating_add(lease_ms))
        .bind(progress)
        .bind(&lease.job_id)
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn requeue_expired(&self, now: Millis) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let failed = sqlx::query(
            "UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_expires_at = NULL, finished_at = ?1, \
                 error = 'lease lapsed on the last allowed attempt (' || attempts || ' of ' || max_attempts || '): the worker stopped' \
             WHERE state = 'running' AND lease_expires_at < ?1 AND attempts >= max_attempts \
             RETURNING kind, model_id, error",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for row in &failed {
            let kind: String = row.try_get("kind")?;
            if kind == JobKind::Keygen.as_str() {
                let model_id: String = row.try_get("model_id")?;
                let error: Option<String> = row.try_get("error")?;
                sqlx::query("UPDATE models SET status = 'failed', error = ? WHERE id = ?")
                    .bind(error)
                    .bind(model_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let requeued = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = ?1, \
                 progress = 'requeued: lease lapsed', error = 'lease lapsed on attempt ' || attempts || ': the worker stopped' \
             WHERE state = 'running' AND lease_expires_at < ?1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(failed.len() as u64 + requeued.rows_affected())
    }

    async fn complete_proof(
        &self,
        lease: &Lease,
        proof: NewProof,
        timings: &serde_json::Value,
        now: Millis,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, \
                 finished_at = ?, timings = ?, proof_id = ?, progress = 'done', error = NULL \
             WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ? \
             RETURNING tenant_id, model_id",
        )
        .bind(now)
        .bind(timings.to_string())
        .bind(&proof.id)
        .bind(&lease.job_id)
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let tenant_id: String = row.try_get("tenant_id")?;
        let model_id: String = row.try_get("model_id")?;
        sqlx::query(
            "INSERT INTO proofs (id, tenant_id, model_id, job_id, bundle, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&proof.id)
        .bind(tenant_id)
        .bind(model_id)
        .bind(&lease.job_id)
        .bind(&proof.bundle)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn complete_keygen(
        &self,
        lease: &Lease,
        keys: &serde_json::Value,
        memory_bytes: Option<u64>,
        timings: &serde_json::Value,
        now: Millis,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, \
                 finished_at = ?, timings = ?, progress = 'done', error = NULL \
             WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempts = ? \
             RETURNING model_id",
        )
        .bind(now)
        .bind(timings.to_string())
        .bind(&lease.job_id)
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let model_id: String = row.try_get("model_id")?;
        let memory = memory_bytes.map(to_db_int);
        sqlx::query(
            "UPDATE models SET status = 'ready', keys = ?, memory_bytes = ?, error = NULL WHERE id = ?",
        )
        .bind(keys.to_string())
        .bind(memory)
        .bind(&model_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE jobs SET memory_bytes = ? WHERE model_id = ? AND memory_bytes IS NULL \
                 AND state IN ('queued', 'running')",
        )
        .bind(memory)
        .bind(&model_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn fail(
        &self,
        lease: &Lease,
        reason: &str,
        mode: FailMode,
        now: Millis,
    ) -> StoreResult<Option<JobState>> {
        let retry_at = match mode {
            FailMode::RetryAt(t) => Some(t),
            FailMode::Permanent => None,
        };
        let mut tx = self.pool.begin().await?;
        // Retry only while attempts remain; otherwise the failure is terminal.
        let row = sqlx::query(
            "UPDATE jobs SET \
                 state = CASE WHEN ?1 IS NOT NULL AND attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
                 run_after = COALESCE(?1, run_after), \
                 finished_at = CASE WHEN ?1 IS NOT NULL AND attempts < max_attempts THEN NULL ELSE ?2 END, \
                 lease_owner = NULL, lease_expires_at = NULL, error = ?3, progress = 'attempt failed' \
             WHERE id = ?4 AND state = 'running' AND lease_owner = ?5 AND attempts = ?6 \
             RETURNING state, kind, model_id",
        )
        .bind(retry_at)
        .bind(now)
        .bind(reason)
        .bind(&lease.job_id)
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let state = JobState::parse(&row.try_get::<String, _>("state")?)?;
        let kind = JobKind::parse(&row.try_get::<String, _>("kind")?)?;
        if state == JobState::Failed && kind == JobKind::Keygen {
            let model_id: String = row.try_get("model_id")?;
            sqlx::query("UPDATE models SET status = 'failed', error = ? WHERE id = ?")
                .bind(reason)
                .bind(model_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(state))
    }

    async fn job_counts(&self) -> StoreResult<Vec<(JobState, u64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        job_counts_from_rows(&rows)
    }

    async fn proof(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProofRecord>> {
        let sql = format!("SELECT {PROOF_COLUMNS} FROM proofs WHERE id = ? AND tenant_id = ?");
        sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(proof_from_row)
            .transpose()
    }
}
