//! Workers: claim a job, hold its lease with heartbeats while the engine works on a blocking
//! thread, then finish it (fenced by the lease) or fail it with retry and backoff. They run
//! inside `zkgrid serve` or as standalone `zkgrid worker` processes on any machine sharing the
//! database; either way each reports its capability and claims only jobs that fit its memory.
//!
//! A worker that stops (crash, shutdown, lost lease) simply stops heartbeating: its lease lapses
//! and any worker's [`crate::store::JobStore::requeue_expired`] puts the job back in the queue. A result
//! computed under a lost lease is thrown away by the store's fencing.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn, Instrument};

use crate::engine::{
    parse_stored, EngineError, KeysInfo, ModelOptions, ProvePayload, SharedProgress,
};
use crate::ids::new_id;
use crate::state::AppState;
use crate::store::{now_ms, FailMode, JobKind, JobRecord, JobState, Lease, ModelRecord, NewProof};
use zkgrid_models::compile::CompiledModel;

/// Lease and polling intervals of a worker.
#[derive(Clone, Copy, Debug)]
pub struct WorkerConfig {
    /// How long a lease lasts without a heartbeat.
    pub lease: Duration,
    /// How often the lease is renewed (well below `lease`).
    pub heartbeat: Duration,
    /// How often an idle worker looks for work (it is also woken on enqueue).
    pub idle_poll: Duration,
    /// Delay before the first retry; doubled per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Most memory (bytes) a job may need to be claimed, below what the machine has available
    /// (`None`: the machine's available memory decides alone).
    pub memory_limit: Option<u64>,
}

/// How often a worker refreshes its registered capability.
const REGISTER_EVERY: Duration = Duration::from_secs(30);

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
            idle_poll: Duration::from_secs(1),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            memory_limit: None,
        }
    }
}

impl WorkerConfig {
    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Running in-process workers. Dropping this aborts them like a crash (leases lapse);
/// [`Workers::shutdown`] lets each finish its current job first.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Workers {
    /// Starts `n` workers named `<prefix>-<i>` on `state`.
    pub fn spawn(state: &AppState, n: usize, prefix: &str, cfg: WorkerConfig) -> Self {
        let (stop, rx) = watch::channel(false);
        let handles = (0..n)
            .map(|i| {
                let id = format!("{prefix}-{i}");
                let span = tracing::info_span!("worker", id = %id);
                tokio::spawn(run(state.clone(), id, cfg, rx.clone()).instrument(span))
            })
            .collect();
        Self { handles, stop }
    }

    /// Asks the workers to stop after their current job and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for h in self.handles.drain(..) {
            let _ = h.await;
        }
    }

    /// Stops the workers at once, as a crash would: running jobs keep their (lapsing) leases.
    pub fn abort(mut self) {
        for h in self.handles.drain(..) {
            h.abort();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

async fn run(state: AppState, id: String, cfg: WorkerConfig, mut stop: watch::Receiver<bool>) {
    let lease_ms = i64::try_from(cfg.lease.as_millis()).unwrap_or(i64::MAX);
    let mut registered: Option<Instant> = None;
    info!("worker started");
    loop {
        if *stop.borrow() {
            break;
        }
        let now = now_ms();
        let capability = crate::capability::detect(cfg.memory_limit);
        if registered.is_none_or(|t| t.elapsed() >= REGISTER_EVERY) {
            match state.store.register_worker(&id, &capability, now).await {
                Ok(()) => {
                    if registered.is_none() {
                        info!(
                            cpu_cores = capability.cpu_cores,
                            memory_available_mib = capability.memory_available_bytes >> 20,
                            gpu = capability.gpu,
                            "registered"
                        );
                    }
                    registered = Some(Instant::now());
                }
                Err(e) => warn!(error = %e, "cannot register the worker's capability"),
            }
        }
        match state.store.requeue_expired(now).await {
            Ok(0) => {}
            Ok(n) => info!(jobs = n, "requeued jobs whose lease lapsed"),
            Err(e) => warn!(error = %e, "requeue_expired failed"),
        }
        match state.store.claim(&id, &capability, now, lease_ms).await {
            Ok(Some(job)) => {
                process(&state, &id, &cfg, job).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "claim failed"),
        }
        tokio::select! {
            _ = state.wake.notified() => {}
            _ = tokio::time::sleep(cfg.idle_poll) => {}
            _ = stop.changed() => {}
        }
    }
    info!("worker stopped");
}

/// What a finished attempt produced.
enum Outcome {
    Keygen {
        keys: serde_json::Value,
        memory_bytes: Option<u64>,
        timings: serde_json::Value,
    },
    Prove {
        bundle: String,
        prove_s: f64,
        timings: serde_json::Value,
    },
}

fn work(
    state: &AppState,
    job: &JobRecord,
    record: &ModelRecord,
    progress: &SharedProgress,
) -> Result<Outcome, EngineError> {
    let model: CompiledModel = parse_stored("compiled model", &record.compiled)?;
    let opts: ModelOptions = parse_stored("model options", &record.options)?;
    let started = Instant::now();
    let value = |v: serde_json::Result<serde_json::Value>| {
        v.map_err(|e| EngineError::Stored {
            what: "job result",
            detail: e.to_string(),
        })
    };
    match job.kind {
        JobKind::Keygen => {
            let (info, t) = state.engine.keygen(&model, &opts, progress)?;
            Ok(Outcome::Keygen {
                memory_bytes: info.proving_memory_bytes,
                keys: value(serde_json::to_value(&info))?,
                timings: json!({
                    "plan_s": t.plan_s, "srs_s": t.srs_s, "keys_s": t.keys_s,
                    "keys_cached": t.cached, "total_s": started.elapsed().as_secs_f64(),
                }),
            })
        }
        JobKind::Prove => {
            let payload: ProvePayload = parse_stored("job payload", &job.payload)?;
            let published: Option<KeysInfo> = record
                .keys
                .as_ref()
                .map(|k| parse_stored("model keys", k))
                .transpose()?;
            let (bundle, t) =
                state
                    .engine
                    .prove(&model, &opts, &payload, published.as_ref(), progress)?;
            Ok(Outcome::Prove {
                bundle: bundle.to_json()?,
                prove_s: t.prove_s,
                timings: json!({
                    "witness_s": t.witness_s, "prove_s": t.prove_s, "verify_s": t.verify_s,
                    "total_s": started.elapsed().as_secs_f64(),
                }),
            })
        }
    }
}

async fn process(state: &AppState, worker: &str, cfg: &WorkerConfig, job: JobRecord) {
    let lease_ms = i64::try_from(cfg.lease.as_millis()).unwrap_or(i64::MAX);
    let lease = job.lease(worker);
    info!(job = %job.id, kind = job.kind.as_str(), attempt = job.attempts, "claimed");
    let model = match state.store.model_by_id(&job.model_id).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            finish_failed(
                state,
                &lease,
                cfg,
                &job,
                "the job's model no longer exists",
                false,
            )
            .await;
            return;
        }
        Err(e) => {
            finish_failed(state, &lease, cfg, &job, &format!("store: {e}"), true).await;
            return;
        }
    };
    let progress = SharedProgress::default();
    let mut task = {
        let (state, job, progress) = (state.clone(), job.clone(), progress.clone());
        tokio::task::spawn_blocking(move || work(&state, &job, &model, &progress))
    };
    let mut beat = tokio::time::interval(cfg.heartbeat);
    beat.tick().await;
    let result = loop {
        tokio::select! {
            r = &mut task => break r,
            _ = beat.tick() => {
                let p = progress.take();
                match state.store.heartbeat(&lease, now_ms(), lease_ms, p.as_deref()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        warn!(job = %job.id, "lease lost; abandoning the attempt");
                        return;
                    }
                    Err(e) => warn!(job = %job.id, error = %e, "heartbeat failed"),
                }
            }
        }
    };
    let now = now_ms();
    match result {
        Ok(Ok(Outcome::Keygen {
            keys,
            memory_bytes,
            timings,
        })) => {
            match state
                .store
                .complete_keygen(&lease, &keys, memory_bytes, &timings, now)
                .await
            {
                Ok(true) => {
                    state.metrics.observe_outcome(JobState::Succeeded);
                    info!(job = %job.id, "keys ready");
                }
                Ok(false) => warn!(job = %job.id, "lease lost before completion; result dropped"),
                Err(e) => warn!(job = %job.id, error = %e, "cannot record keygen result"),
            }
        }
        Ok(Ok(Outcome::Prove {
            bundle,
            prove_s,
            timings,
        })) => {
            let proof = NewProof {
                id: new_id("prf"),
                bundle,
            };
            match state
                .store
                .complete_proof(&lease, proof, &timings, now)
                .await
            {
                Ok(true) => {
                    state.metrics.observe_prove(prove_s);
                    state.metrics.observe_outcome(JobState::Succeeded);
                    info!(job = %job.id, prove_s, "proof stored");
                }
                Ok(false) => warn!(job = %job.id, "lease lost before completion; proof dropped"),
                Err(e) => warn!(job = %job.id, error = %e, "cannot record proof"),
            }
        }
        Ok(Err(e)) => {
            let transient = e.is_transient();
            finish_failed(state, &lease, cfg, &job, &e.to_string(), transient).await;
        }
        Err(join) => {
            let reason = if join.is_panic() {
                "the prover panicked".to_string()
            } else {
                format!("the proving task ended: {join}")
            };
            finish_failed(state, &lease, cfg, &job, &reason, true).await;
        }
    }
}

async fn finish_failed(
    state: &AppState,
    lease: &Lease,
    cfg: &WorkerConfig,
    job: &JobRecord,
    reason: &str,
    transient: bool,
) {
    let now = now_ms();
    let mode = if transient {
        let delay = i64::try_from(cfg.backoff(job.attempts).as_millis()).unwrap_or(i64::MAX);
        FailMode::RetryAt(now.saturating_add(delay))
    } else {
        FailMode::Permanent
    };
    match state.store.fail(lease, reason, mode, now).await {
        Ok(Some(s)) => {
            state.metrics.observe_outcome(s);
            warn!(job = %job.id, state = s.as_str(), reason, "attempt failed");
        }
        Ok(None) => warn!(job = %job.id, "lease lost before recording the failure"),
        Err(e) => warn!(job = %job.id, error = %e, "cannot record failure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = WorkerConfig {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(10),
            ..WorkerConfig::default()
        };
        assert_eq!(c.backoff(1), Duration::from_secs(2));
        assert_eq!(c.backoff(2), Duration::from_secs(4));
        assert_eq!(c.backoff(3), Duration::from_secs(8));
        assert_eq!(c.backoff(4), Duration::from_secs(10));
        assert_eq!(c.backoff(100), Duration::from_secs(10));
    }
}
