//! `zkgrid worker`: a standalone process running the worker loop against a shared database
//! (PostgreSQL when API servers and workers run on several machines). It registers its
//! capability, claims jobs that fit its memory, and rebuilds or caches keys per (model, SRS)
//! under its own data dir. Ctrl-C or SIGTERM lets running jobs finish; a killed worker's lease
//! lapses and its job goes back to the queue.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use zkgrid_prover::model::SrsChoice;

use crate::cli::WorkerArgs;
use crate::engine::Engine;
use crate::state::{AppState, ServiceConfig};
use crate::worker::{WorkerConfig, Workers};

/// Run `zkgrid worker` until Ctrl-C or SIGTERM.
pub fn run(a: &WorkerArgs, data: &Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(work(a, data))
}

async fn work(a: &WorkerArgs, data: &Path) -> anyhow::Result<()> {
    let store = crate::store::open(a.db.database_url.as_deref(), data)
        .await
        .context("opening the database")?;
    let engine = Arc::new(Engine::new(data, SrsChoice::Dev));
    let state = AppState::new(store, engine, ServiceConfig::default());
    let lease = Duration::from_secs(a.lease_secs);
    let name =
        a.id.clone()
            .unwrap_or_else(|| format!("{}-{}", crate::capability::hostname(), std::process::id()));
    let cfg = WorkerConfig {
        lease,
        heartbeat: lease / 4,
        idle_poll: Duration::from_millis(a.poll_ms),
        memory_limit: a.memory_mib.map(|m| m.saturating_mul(1 << 20)),
        ..WorkerConfig::default()
    };
    let slots = usize::try_from(a.concurrency).unwrap_or(1);
    let workers = Workers::spawn(&state, slots, &name, cfg);
    eprintln!(
        "zkgrid worker {name}: {slots} slot(s), lease {}s, data dir {}; INSECURE dev SRS",
        a.lease_secs,
        data.display()
    );
    super::serve::shutdown_signal().await;
    eprintln!("shutting down: waiting for running jobs (Ctrl-C again to abort)");
    tokio::select! {
        _ = workers.shutdown() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
