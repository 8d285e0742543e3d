//! Store conformance checks shared by the SQLite tests (`tests/store.rs`) and the PostgreSQL
//! test (`tests/pg_durability.rs`): lease fencing, capability-aware leasing and tenant listings,
//! run against any fresh, empty [`JobStore`].

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;
use zkgrid_service::store::{
    Cursor, FailMode, JobState, JobStore, Lease, NewModel, NewProof, NewProveJob, Page,
    WorkerCapability,
};

const MIB: u64 = 1 << 20;

fn capability(memory_mib: u64) -> WorkerCapability {
    WorkerCapability {
        hostname: "test-host".into(),
        cpu_cores: 2,
        memory_total_bytes: memory_mib * MIB,
        memory_available_bytes: memory_mib * MIB,
        gpu: false,
    }
}

/// A model (ready, with `memory_mib` of estimated proving memory) owned by a new tenant.
/// Returns (tenant id, model id).
async fn ready_model(store: &dyn JobStore, tag: &str, memory_mib: u64) -> Result<(String, String)> {
    let tenant = store.ensure_tenant(&format!("tenant-{tag}")).await?;
    let (model_id, keygen_id) = (format!("mdl_{tag}"), format!("job_keygen_{tag}"));
    store
        .create_model(NewModel {
            id: model_id.clone(),
            tenant_id: tenant.id.clone(),
            name: tag.into(),
            model_hash: format!("hash-{tag}"),
            compiled: json!({}),
            options: json!({}),
            keygen_job_id: keygen_id.clone(),
            max_attempts: 3,
            memory_bytes: None,
        })
        .await?;
    let now = zkgrid_service::store::now_ms();
    let job = store
        .claim("keygen-worker", &capability(1 << 20), now, 60_000)
        .await?
        .context("the keygen job is claimable")?;
    ensure!(
        job.id == keygen_id,
        "claimed {} instead of the keygen job",
        job.id
    );
    ensure!(
        store
            .complete_keygen(
                &job.lease("keygen-worker"),
                &json!({"k": 9}),
                Some(memory_mib * MIB),
                &json!({}),
                now
            )
            .await?,
        "keygen completion under a held lease"
    );
    Ok((tenant.id, model_id))
}

async fn enqueue(store: &dyn JobStore, tenant: &str, model: &str, id: &str) -> Result<()> {
    store
        .enqueue_proof(NewProveJob {
            id: id.into(),
            tenant_id: tenant.into(),
            model_id: model.into(),
            payload: json!({"input_q": [1, 2], "recipient": "0x00"}),
            max_attempts: 3,
        })
        .await?;
    Ok(())
}

fn proof(id: &str) -> NewProof {
    NewProof {
        id: id.into(),
        bundle: format!("{{\"proof\": \"{id}\"}}"),
    }
}

/// A worker whose lease lapsed and whose job was leased again (to another worker, or to a later
/// attempt under the same worker name) can neither heartbeat, fail nor complete it; the holder of
/// the current lease completes it exactly once.
pub async fn lease_fencing(store: &dyn JobStore) -> Result<()> {
    let (tenant, model) = ready_model(store, "fence", 64).await?;
    let big = capability(1024);
    // Jobs are runnable from their enqueue time: work a minute ahead of the wall clock.
    let t0 = zkgrid_service::store::now_ms() + 60_000;

    // Another worker takes over a lapsed lease.
    enqueue(store, &tenant, &model, "job_fence_1").await?;
    let first = store
        .claim("worker-a", &big, t0, 1_000)
        .await?
        .context("claim")?;
    ensure!(
        first.id == "job_fence_1" && first.attempts == 1,
        "{first:?}"
    );
    ensure!(
        first.memory_bytes == Some(64 * MIB),
        "the model's estimate travels with the job: {first:?}"
    );
    let lease_a = first.lease("worker-a");
    ensure!(
        store
            .heartbeat(&lease_a, t0 + 500, 1_000, Some("prove"))
            .await?
    );
    ensure!(
        store.requeue_expired(t0 + 1_000).await? == 0,
        "the lease was renewed to t0+1500"
    );
    ensure!(
        store.requeue_expired(t0 + 5_000).await? == 1,
        "the lapsed lease is swept"
    );
    let requeued = store.job(&tenant, "job_fence_1").await?.context("job")?;
    ensure!(
        requeued.state == JobState::Queued && requeued.lease_owner.is_none(),
        "{requeued:?}"
    );
    ensure!(
        requeued
            .error
            .as_deref()
            .is_some_and(|e| e.contains("lease lapsed")),
        "{requeued:?}"
    );
    ensure!(
        !store.heartbeat(&lease_a, t0 + 5_001, 1_000, None).await?,
        "lapsed heartbeat"
    );
    let second = store
        .claim("worker-b", &big, t0 + 5_000, 60_000)
        .await?
        .context("re-claim")?;
    ensure!(
        second.id == "job_fence_1" && second.attempts == 2,
        "{second:?}"
    );
    let lease_b = second.lease("worker-b");
    ensure!(
        !store
            .complete_proof(&lease_a, proof("prf_stale_a"), &json!({}), t0 + 5_100)
            .await?,
        "a lapsed worker's result must not be written"
    );
    ensure!(
        store
            .fail(&lease_a, "late failure", FailMode::Permanent, t0 + 5_100)
            .await?
            .is_none(),
        "a lapsed worker cannot fail the job"
    );
    ensure!(
        store
            .complete_proof(&lease_b, proof("prf_b"), &json!({}), t0 + 5_200)
            .await?
    );
    ensure!(
        !store
            .complete_proof(&lease_b, proof("prf_b_again"), &json!({}), t0 + 5_300)
            .await?,
        "a job is completed once"
    );
    let done = store.job(&tenant, "job_fence_1").await?.context("job")?;
    ensure!(
        done.state == JobState::Succeeded && done.proof_id.as_deref() == Some("prf_b"),
        "{done:?}"
    );
    ensure!(store.proof(&tenant, "prf_b").await?.is_some());
    for stale in ["prf_stale_a", "prf_b_again"] {
        ensure!(
            store.proof(&tenant, stale).await?.is_none(),
            "{stale} was written"
        );
    }

    // The same worker name re-leases the job on a later attempt: the old attempt is fenced off.
    enqueue(store, &tenant, &model, "job_fence_2").await?;
    let t1 = t0 + 10_000;
    let old = store
        .claim("worker-a", &big, t1, 1_000)
        .await?
        .context("claim")?;
    ensure!(old.id == "job_fence_2", "{old:?}");
    ensure!(store.requeue_expired(t1 + 2_000).await? == 1);
    let new = store
        .claim("worker-a", &big, t1 + 2_000, 60_000)
        .await?
        .context("re-claim")?;
    ensure!(
        new.id == "job_fence_2" && new.attempts == old.attempts + 1,
        "{new:?}"
    );
    let (old_lease, new_lease): (Lease, Lease) = (old.lease("worker-a"), new.lease("worker-a"));
    ensure!(!store.heartbeat(&old_lease, t1 + 2_001, 1_000, None).await?);
    ensure!(
        !store
            .complete_proof(&old_lease, proof("prf_old"), &json!({}), t1 + 2_100)
            .await?,
        "an earlier attempt of the same worker must not write its result"
    );
    ensure!(
        store
            .complete_proof(&new_lease, proof("prf_new"), &json!({}), t1 + 2_200)
            .await?
    );
    ensure!(store.proof(&tenant, "prf_old").await?.is_none());

    // A lease lapsing on the last allowed attempt fails the job for good, with the reason.
    enqueue(store, &tenant, &model, "job_fence_3").await?;
    let mut t = t1 + 10_000;
    for attempt in 1..=3 {
        let j = store
            .claim("worker-c", &big, t, 1_000)
            .await?
            .context("claim")?;
        ensure!(j.id == "job_fence_3" && j.attempts == attempt, "{j:?}");
        t += 2_000;
        ensure!(store.requeue_expired(t).await? == 1);
    }
    let failed = store.job(&tenant, "job_fence_3").await?.context("job")?;
    ensure!(failed.state == JobState::Failed, "{failed:?}");
    ensure!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("3 of 3")),
        "{failed:?}"
    );
    Ok(())
}

/// A job whose estimated proving memory exceeds a worker's available memory stays queued for
/// that worker and goes to one that can hold it; jobs queued before the estimate existed get it
/// when key generation finishes; workers' capabilities are recorded.
pub async fn capability_leasing(store: &dyn JobStore) -> Result<()> {
    let small = capability(512);
    let big = capability(4096);
    // Jobs are runnable from their enqueue time: work a minute ahead of the wall clock.
    let now = zkgrid_service::store::now_ms() + 60_000;
    store.register_worker("small-0", &small, now).await?;
    store.register_worker("big-0", &big, now).await?;
    let mut refreshed = big.clone();
    refreshed.memory_available_bytes = 3000 * MIB;
    store.register_worker("big-0", &refreshed, now + 10).await?;
    let workers = store.workers().await?;
    ensure!(workers.len() == 2, "{workers:?}");
    let b = workers
        .iter()
        .find(|w| w.id == "big-0")
        .context("big-0 registered")?;
    ensure!(
        b.capability == refreshed && b.started_at == now && b.last_seen_at == now + 10,
        "{b:?}"
    );

    let (tenant, model) = ready_model(store, "cap", 1024).await?;
    enqueue(store, &tenant, &model, "job_cap_big").await?;
    ensure!(
        store.claim("small-0", &small, now, 60_000).await?.is_none(),
        "a 1 GiB job must not go to a 512 MiB worker"
    );
    let j = store.job(&tenant, "job_cap_big").await?.context("job")?;
    ensure!(j.state == JobState::Queued && j.attempts == 0, "{j:?}");
    let taken = store
        .claim("big-0", &big, now, 60_000)
        .await?
        .context("the big worker takes it")?;
    ensure!(taken.id == "job_cap_big", "{taken:?}");

    // A job queued while the model's keys were still pending has no estimate: any worker may
    // take it until key generation records one.
    let pending_tenant = store.ensure_tenant("tenant-pending").await?;
    store
        .create_model(NewModel {
            id: "mdl_pending".into(),
            tenant_id: pending_tenant.id.clone(),
            name: "pending".into(),
            model_hash: "hash-pending".into(),
            compiled: json!({}),
            options: json!({}),
            keygen_job_id: "job_keygen_pending".into(),
            max_attempts: 3,
            // The upload-time estimate from the planned layout (`ModelOptions::planned_memory`).
            memory_bytes: Some(1024 * MIB),
        })
        .await?;
    ensure!(
        store.claim("small-0", &small, now, 60_000).await?.is_none(),
        "a keygen job estimated at 1 GiB must not go to a 512 MiB worker"
    );
    // Claims take the oldest job first, ties (same millisecond) by id, and "job_early" sorts
    // before "job_keygen_pending": enqueue it a clock tick later so the keygen job is older.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    enqueue(store, &pending_tenant.id, "mdl_pending", "job_early").await?;
    let early = store
        .job(&pending_tenant.id, "job_early")
        .await?
        .context("job")?;
    ensure!(early.memory_bytes.is_none(), "{early:?}");
    let keygen = store
        .claim("big-0", &big, now + 1, 60_000)
        .await?
        .context("keygen")?;
    ensure!(keygen.id == "job_keygen_pending", "{keygen:?}");
    ensure!(
        store
            .complete_keygen(
                &keygen.lease("big-0"),
                &json!({}),
                Some(2048 * MIB),
                &json!({}),
                now + 2
            )
            .await?
    );
    let early = store
        .job(&pending_tenant.id, "job_early")
        .await?
        .context("job")?;
    ensure!(early.memory_bytes == Some(2048 * MIB), "{early:?}");
    let model = store.model_by_id("mdl_pending").await?.context("model")?;
    ensure!(model.memory_bytes == Some(2048 * MIB), "{model:?}");
    if store
        .claim("small-0", &small, now + 3, 60_000)
        .await?
        .is_some()
    {
        bail!("the small worker got a 2 GiB job");
    }
    let j = store
        .claim("big-0", &big, now + 3, 60_000)
        .await?
        .context("big takes it")?;
    ensure!(j.id == "job_early", "{j:?}");
    Ok(())
}

/// Tenant listings: newest first by (created_at, id), scoped to the tenant, keyset pages with an
/// id or a time cursor, and the job state filter.
pub async fn listing(store: &dyn JobStore) -> Result<()> {
    let (a, model_a) = ready_model(store, "list-a", 64).await?;
    let (b, model_b) = ready_model(store, "list-b", 64).await?;
    for i in 0..5 {
        enqueue(store, &a, &model_a, &format!("job_list_a{i}")).await?;
    }
    enqueue(store, &b, &model_b, "job_list_b0").await?;
    let all = |limit| Page {
        limit,
        before: None,
    };
    let jobs = store.list_jobs(&a, &all(100), None).await?;
    // 5 prove jobs + the (succeeded) keygen job, none of B's.
    ensure!(jobs.len() == 6, "{jobs:?}");
    ensure!(jobs.iter().all(|j| j.tenant_id == a), "{jobs:?}");
    for w in jobs.windows(2) {
        ensure!(
            (w[0].created_at, &w[0].id) > (w[1].created_at, &w[1].id),
            "not newest first: {} then {}",
            w[0].id,
            w[1].id
        );
    }
    // Keyset pages of 2 from the id cursor reproduce the one-page order.
    let mut paged = vec![];
    let mut before: Option<Cursor> = None;
    loop {
        let page = store
            .list_jobs(
                &a,
                &Page {
                    limit: 2,
                    before: before.clone(),
                },
                None,
            )
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(Cursor {
            created_at: last.created_at,
            id: Some(last.id.clone()),
        });
        paged.extend(page.iter().map(|j| j.id.clone()));
        ensure!(paged.len() <= 6, "pagination repeats rows: {paged:?}");
    }
    let one: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    ensure!(paged == one, "{paged:?} != {one:?}");
    // A time cursor lists rows created strictly before it.
    let oldest = jobs.last().context("jobs")?.created_at;
    let none = store
        .list_jobs(
            &a,
            &Page {
                limit: 100,
                before: Some(Cursor {
                    created_at: oldest,
                    id: None,
                }),
            },
            None,
        )
        .await?;
    ensure!(none.is_empty(), "{none:?}");
    // State filter.
    let queued = store
        .list_jobs(&a, &all(100), Some(JobState::Queued))
        .await?;
    ensure!(queued.len() == 5, "{queued:?}");
    let done = store
        .list_jobs(&a, &all(100), Some(JobState::Succeeded))
        .await?;
    ensure!(
        done.len() == 1 && done[0].id == "job_keygen_list-a",
        "{done:?}"
    );
    // Models.
    let models = store.list_models(&a, &all(10)).await?;
    ensure!(
        models.len() == 1 && models[0].id == model_a && models[0].memory_bytes == Some(64 * MIB),
        "{models:?}"
    );
    let models_b = store.list_models(&b, &all(10)).await?;
    ensure!(
        models_b.len() == 1 && models_b[0].id == model_b,
        "{models_b:?}"
    );
    let limited = store.list_jobs(&a, &all(3), None).await?;
    ensure!(limited.len() == 3, "{limited:?}");
    Ok(())
}
