//! The job store's lease protocol on the embedded SQLite store: fencing of lapsed leases and
//! capability-aware leasing and tenant listings (the same checks run on PostgreSQL in `tests/pg_durability.rs`).

mod support;

use anyhow::Result;
use zkgrid_service::store::SqliteStore;

async fn fresh() -> Result<(SqliteStore, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("zkgrid.db")).await?;
    Ok((store, dir))
}

#[tokio::test]
async fn sqlite_lapsed_leases_are_fenced() -> Result<()> {
    let (store, _dir) = fresh().await?;
    support::lease_fencing(&store).await
}

#[tokio::test]
async fn sqlite_jobs_go_only_to_workers_that_can_hold_them() -> Result<()> {
    let (store, _dir) = fresh().await?;
    support::capability_leasing(&store).await
}

#[tokio::test]
async fn sqlite_lists_are_tenant_scoped_newest_first_and_paginated() -> Result<()> {
    let (store, _dir) = fresh().await?;
    support::listing(&store).await
}

#[tokio::test]
async fn database_urls_pick_the_backend() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("by-url.db").display());
    let store = zkgrid_service::store::open(Some(&url), dir.path()).await?;
    store.ping().await?;
    for bad in ["mysql://localhost/zkgrid", "zkgrid.db"] {
        let err = zkgrid_service::store::open(Some(bad), dir.path())
            .await
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("unsupported database URL")),
            "{bad}: {err:?}"
        );
    }
    Ok(())
}
