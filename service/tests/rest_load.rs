//! Bounded loopback load and overhead measurements of the REST service (both `#[ignore]`d: they
//! take a minute, print markdown tables and are run by hand; see benches/RESULTS.md):
//!
//! - `load_status_and_list_requests_while_proving`: the service (SQLite, one in-process worker)
//!   on a loopback port, 20 `mlp_tiny` proving jobs queued, and waves of 500 concurrent
//!   `GET /v1/jobs/{id}`, `GET /v1/jobs`, `GET /v1/models` requests (250 ms apart) until the
//!   jobs are done.
//!   Asserts no unexpected non-2xx (a few deliberate 404s are sent and must be 404), every job
//!   succeeded; prints p50/p95/p99 latency per endpoint and the process's peak RSS (VmHWM).
//!   One API key with the rate limit raised to 1,000,000 requests/s (burst 1,000,000): the
//!   default (20/s, burst 100 per key) would answer most of a 500-request burst with 429.
//! - `rest_prove_overhead_vs_cli`: end-to-end REST prove of the zoo model `mlp_small`
//!   (submit → `succeeded` seen by polling every 10 ms) against the wall time of the
//!   `zkgrid prove` process on the same model, same data dir (keys cached), alternating.
//!
//! `cargo test -p zkgrid-service --test rest_load -- --ignored --nocapture --test-threads 1`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;
use tokio::task::JoinSet;
use zkgrid_models::zoo;
use zkgrid_service::commands::local::{LocalService, RestClient};
use zkgrid_service::worker::WorkerConfig;
use zkgrid_service::ServiceConfig;

/// SRS and key caches kept between runs (the measurements are of proving with cached keys).
fn cache_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn unlimited() -> ServiceConfig {
    ServiceConfig {
        rate_per_second: 1_000_000.0,
        rate_burst: 1_000_000.0,
        ..ServiceConfig::default()
    }
}

fn workers() -> WorkerConfig {
    WorkerConfig {
        idle_poll: Duration::from_millis(100),
        ..WorkerConfig::default()
    }
}

/// `VmHWM` / `VmRSS` of this process in MiB.
fn proc_status_mib(field: &str) -> Result<f64> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    let line = s
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("malformed status line")?
        .parse()?;
    Ok(kib / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    percentile(&s, 50.0)
}

async fn upload_zoo(client: &RestClient, name: &str) -> Result<(String, String)> {
    let m = zoo::get(name)?;
    let calib = serde_json::to_vec(&json!({ "input_data": m.calibration }))?;
    let created = client
        .upload_model(&format!("{name}.onnx"), &m.onnx, Some(&calib))
        .await?;
    let id = created["id"].as_str().context("model id")?.to_string();
    let keygen = created["keygen_job_id"].as_str().context("keygen job")?;
    let j = client
        .wait_job(keygen, Duration::from_millis(50), Duration::from_secs(900))
        .await?;
    ensure!(j["state"] == "succeeded", "keygen: {j}");
    Ok((
        id,
        created["model_hash"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Endpoint {
    Job,
    Jobs,
    Models,
    Missing,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Job => "GET /v1/jobs/{id}",
            Endpoint::Jobs => "GET /v1/jobs?limit=50",
            Endpoint::Models => "GET /v1/models",
            Endpoint::Missing => "GET /v1/jobs/{unknown} (deliberate 404)",
        }
    }
}

const WAVE: usize = 500;
const JOBS: usize = 20;
/// Pause between waves (the proofs keep running).
const PAUSE: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load measurement: run by hand with --ignored --nocapture"]
async fn load_status_and_list_requests_while_proving() -> Result<()> {
    let db = tempfile::tempdir()?;
    let svc = LocalService::start(
        &cache_dir("rest-load-data"),
        db.path(),
        unlimited(),
        1,
        workers(),
    )
    .await?;
    let key = svc.api_key("load").await?;
    let client = RestClient::new(&svc.base_url, &key)?;
    let (model, _) = upload_zoo(&client, "mlp_tiny").await?;
    let input = json!({ "input": zoo::get("mlp_tiny")?.sample_input });
    let mut jobs = vec![];
    for _ in 0..JOBS {
        let a = client
            .post_json(&format!("/v1/models/{model}/proofs"), &input)
            .await?;
        jobs.push(a["job_id"].as_str().context("job id")?.to_string());
    }
    let rss_before = proc_status_mib("VmRSS:")?;
    let started = Instant::now();
    let mut samples: Vec<(Endpoint, f64)> = vec![];
    let (mut waves, mut waves_while_proving, mut unexpected) = (0usize, 0usize, vec![]);
    loop {
        let states = client
            .get_json("/v1/jobs?state=succeeded&limit=500")
            .await?;
        let done = states["items"].as_array().map(Vec::len).unwrap_or(0);
        // The keygen job is one of the succeeded jobs.
        let proving = done < JOBS + 1;
        if !proving && waves >= 3 {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(900),
            "jobs not done after {waves} waves"
        );
        if waves > 0 {
            tokio::time::sleep(PAUSE).await;
        }
        waves += 1;
        waves_while_proving += usize::from(proving);
        let mut set = JoinSet::new();
        for i in 0..WAVE {
            let (c, job) = (client.clone(), jobs[i % JOBS].clone());
            let ep = match i % 50 {
                49 => Endpoint::Missing,
                n if n % 3 == 0 => Endpoint::Jobs,
                n if n % 3 == 1 => Endpoint::Job,
                _ => Endpoint::Models,
            };
            set.spawn(async move {
                let path = match ep {
                    Endpoint::Job => format!("/v1/jobs/{job}"),
                    Endpoint::Jobs => "/v1/jobs?limit=50".to_string(),
                    Endpoint::Models => "/v1/models".to_string(),
                    Endpoint::Missing => "/v1/jobs/job_00000000000000000000000000000000".into(),
                };
                let t = Instant::now();
                let r = c.get(&path).await;
                (ep, path, t.elapsed().as_secs_f64(), r.map(|r| r.status))
            });
        }
        while let Some(res) = set.join_next().await {
            let (ep, path, secs, status) = res?;
            let want = if ep == Endpoint::Missing { 404 } else { 200 };
            match status {
                Ok(s) if s == want => samples.push((ep, secs)),
                Ok(s) => unexpected.push(format!("{path}: HTTP {s}")),
                Err(e) => unexpected.push(format!("{path}: {e:#}")),
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut failed_jobs = vec![];
    for j in &jobs {
        let v = client.get_json(&format!("/v1/jobs/{j}")).await?;
        if v["state"] != "succeeded" {
            failed_jobs.push(v);
        }
    }
    let hwm = proc_status_mib("VmHWM:")?;
    svc.stop().await?;

    println!(
        "\n{waves} waves of {WAVE} concurrent requests ({waves_while_proving} while proofs were \
         running), {} requests in {elapsed:.1} s ({:.0} req/s incl. pauses between waves), \
         {JOBS} mlp_tiny proofs, 1 in-process worker, SQLite\n",
        samples.len() + unexpected.len(),
        (samples.len() + unexpected.len()) as f64 / elapsed
    );
    println!("| endpoint | requests | errors | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut all: Vec<f64> = vec![];
    for ep in [
        Endpoint::Job,
        Endpoint::Jobs,
        Endpoint::Models,
        Endpoint::Missing,
    ] {
        let mut v: Vec<f64> = samples
            .iter()
            .filter(|(e, _)| *e == ep)
            .map(|(_, s)| s * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        all.extend(&v);
        let errors = unexpected
            .iter()
            .filter(|u| {
                let job_path = u.starts_with("/v1/jobs/job_");
                match ep {
                    Endpoint::Job => job_path && !u.contains("job_0000000000"),
                    Endpoint::Jobs => u.starts_with("/v1/jobs?"),
                    Endpoint::Models => u.starts_with("/v1/models"),
                    Endpoint::Missing => u.contains("job_0000000000"),
                }
            })
            .count();
        println!(
            "| {} | {} | {errors} | {:.1} | {:.1} | {:.1} | {:.1} |",
            ep.label(),
            v.len() + errors,
            percentile(&v, 50.0),
            percentile(&v, 95.0),
            percentile(&v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    all.sort_by(f64::total_cmp);
    println!(
        "| **all** | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        all.len() + unexpected.len(),
        unexpected.len(),
        percentile(&all, 50.0),
        percentile(&all, 95.0),
        percentile(&all, 99.0),
        all.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "\nprocess peak RSS (VmHWM, service + worker + load client in one process): {hwm:.0} MiB \
         (VmRSS before the load: {rss_before:.0} MiB)\n"
    );
    if !unexpected.is_empty() {
        bail!(
            "{} unexpected responses, e.g. {:?}",
            unexpected.len(),
            &unexpected[..unexpected.len().min(5)]
        );
    }
    ensure!(
        waves_while_proving >= 1,
        "no wave ran while proofs were running"
    );
    ensure!(
        failed_jobs.is_empty(),
        "jobs did not succeed: {failed_jobs:?}"
    );
    Ok(())
}

fn zkgrid(data: &Path, args: &[&str]) -> Result<std::process::Output> {
    let o = Command::new(env!("CARGO_BIN_EXE_zkgrid"))
        .args(args)
        .env("ZKGRID_DATA_DIR", data)
        .output()
        .context("spawning zkgrid")?;
    ensure!(
        o.status.success(),
        "zkgrid {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "overhead measurement: run by hand with --ignored --nocapture"]
async fn rest_prove_overhead_vs_cli() -> Result<()> {
    let runs: usize = std::env::var("ZKGRID_OVERHEAD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let data = cache_dir("rest-overhead-data");
    let files = tempfile::tempdir()?;
    let m = zoo::get("mlp_small")?;
    let dir = files.path().join("mlp_small");
    std::fs::create_dir_all(&dir)?;
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (onnx, calib, input, compiled, proof) = (
        dir.join("network.onnx"),
        dir.join("calibration.json"),
        dir.join("input.json"),
        dir.join("mlp_small.zkg.json"),
        dir.join("proof.json"),
    );
    std::fs::write(&onnx, &m.onnx)?;
    std::fs::write(
        &calib,
        serde_json::to_vec(&json!({ "input_data": m.calibration }))?,
    )?;
    std::fs::write(
        &input,
        serde_json::to_vec(&json!({ "input_data": [m.sample_input] }))?,
    )?;
    zkgrid(
        &data,
        &[
            "compile",
            &s(&onnx),
            "--calibration",
            &s(&calib),
            "-o",
            &s(&compiled),
        ],
    )?;
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&compiled)?)?;
    // Keys once (cached on disk for both sides).
    zkgrid(&data, &["setup", &s(&compiled)])?;

    let db = tempfile::tempdir()?;
    let svc = LocalService::start(&data, db.path(), unlimited(), 1, workers()).await?;
    let key = svc.api_key("overhead").await?;
    let client = RestClient::new(&svc.base_url, &key)?;
    let (model, hash) = upload_zoo(&client, "mlp_small").await?;
    ensure!(
        Some(hash.as_str()) == c["model_hash"].as_str(),
        "REST and CLI compiled different models: {hash} vs {}",
        c["model_hash"]
    );
    let body = json!({ "input": m.sample_input });
    let rest_prove = || async {
        let t = Instant::now();
        let a = client
            .post_json(&format!("/v1/models/{model}/proofs"), &body)
            .await?;
        let id = a["job_id"].as_str().context("job id")?.to_string();
        let j = client
            .wait_job(&id, Duration::from_millis(10), Duration::from_secs(600))
            .await?;
        let secs = t.elapsed().as_secs_f64();
        ensure!(j["state"] == "succeeded", "{j}");
        anyhow::Ok((secs, j["timings"]["prove_s"].as_f64().unwrap_or(f64::NAN)))
    };
    let cli_prove = || -> Result<(f64, f64)> {
        let t = Instant::now();
        let o = zkgrid(
            &data,
            &[
                "--json",
                "prove",
                &s(&compiled),
                &s(&input),
                "-o",
                &s(&proof),
            ],
        )?;
        let secs = t.elapsed().as_secs_f64();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        Ok((secs, v["prove"]["prove_s"].as_f64().unwrap_or(f64::NAN)))
    };
    // Warm-up (first loads of SRS and keys, page cache), not counted.
    rest_prove().await?;
    tokio::task::block_in_place(cli_prove)?;

    let (mut rest, mut cli) = (vec![], vec![]);
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n| run | CLI `zkgrid prove` wall s | CLI create_proof s | CLI other s | \
         REST submit→succeeded s | REST create_proof s | REST other s | REST / CLI |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for i in 1..=runs {
        let (cw, cp) = tokio::task::block_in_place(cli_prove)?;
        let (rw, rp) = rest_prove().await?;
        println!(
            "| {i} | {cw:.3} | {cp:.3} | {:.3} | {rw:.3} | {rp:.3} | {:.3} | {:.2} |",
            cw - cp,
            rw - rp,
            rw / cw
        );
        cli.push((cw, cp));
        rest.push((rw, rp));
    }
    let col =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let (cw, cp, co, rw, rp, ro) = (
        col(&cli, |x| x.0),
        col(&cli, |x| x.1),
        col(&cli, |x| x.0 - x.1),
        col(&rest, |x| x.0),
        col(&rest, |x| x.1),
        col(&rest, |x| x.0 - x.1),
    );
    println!(
        "| **median** | **{cw:.3}** | {cp:.3} | {co:.3} | **{rw:.3}** | {rp:.3} | {ro:.3} | **{:.2}** |\n",
        rw / cw
    );
    println!(
        "/proc/loadavg before: {}after: {}",
        load_before,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
    );
    svc.stop().await?;
    Ok(())
}
