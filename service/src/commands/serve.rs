//! `zkgrid serve`: the REST API, with in-process workers (`--workers N`, 0 for none) on the
//! embedded SQLite store or a shared PostgreSQL database.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use zkgrid_prover::model::SrsChoice;

use crate::cli::ServeArgs;
use crate::engine::Engine;
use crate::state::{AppState, ServiceConfig};
use crate::worker::{WorkerConfig, Workers};

/// Run `zkgrid serve` until Ctrl-C or SIGTERM.
pub fn run(a: &ServeArgs, data: &Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(a, data))
}

async fn serve(a: &ServeArgs, data: &Path) -> anyhow::Result<()> {
    let store = crate::store::open(a.db.database_url.as_deref(), data)
        .await
        .context("opening the database")?;
    let engine = Arc::new(Engine::new(data, SrsChoice::Dev));
    let config = ServiceConfig {
        max_body_bytes: a.max_body_mib.saturating_mul(1 << 20),
        rate_per_second: a.rate,
        rate_burst: a.burst,
        max_attempts: a.max_attempts.max(1),
        ..ServiceConfig::default()
    };
    let state = AppState::new(store, engine, config);
    let lease = Duration::from_secs(a.lease_secs.max(2));
    let workers = Workers::spawn(
        &state,
        a.workers,
        &format!("{}-{}", crate::capability::hostname(), std::process::id()),
        WorkerConfig {
            lease,
            heartbeat: lease / 4,
            ..WorkerConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    eprintln!(
        "zkgrid serving on http://{} (data dir {}, {} in-process worker(s)); INSECURE dev SRS",
        listener.local_addr().unwrap_or(a.listen),
        data.display(),
        a.workers
    );
    axum::serve(listener, crate::api::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    eprintln!("shutting down: waiting for running jobs (Ctrl-C again to abort)");
    tokio::select! {
        _ = workers.shutdown() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
