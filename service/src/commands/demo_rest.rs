//! `zkgrid demo --rest`: the demo as a user of the REST API sees it. Starts the service
//! in-process (SQLite in a fresh directory under the data dir, one in-process worker, a random
//! loopback port), issues an API key, uploads the zoo model over HTTP (multipart
//! `POST /v1/models`), waits for key generation, asks for a proof, polls the job, fetches the
//! bundle and verifies it through `POST /v1/verify` and natively; every step timed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::json;
use zkgrid_models::{compile, zoo, QuantConfig};
use zkgrid_prover::model::{check_bundle_output, verify_bundle, SrsChoice};
use zkgrid_prover::ProofBundle;

use super::local::{LocalService, RestClient};
use crate::cli::DemoArgs;
use crate::output::{print_json, table};
use crate::state::ServiceConfig;
use crate::worker::WorkerConfig;

/// How often the demo polls a job.
const POLL: Duration = Duration::from_millis(50);
/// Longest the demo waits for one job.
const JOB_LIMIT: Duration = Duration::from_secs(1800);

struct Steps {
    rows: Vec<(String, f64, String)>,
    json: bool,
}

impl Steps {
    /// Records a step and, in text mode, prints it as it finishes.
    fn push(&mut self, step: &str, t: Instant, detail: String) {
        let secs = t.elapsed().as_secs_f64();
        if !self.json {
            eprintln!("  {step:<36} {secs:>8.3}s  {detail}");
        }
        self.rows.push((step.to_string(), secs, detail));
    }
}

/// Run `zkgrid demo --rest`.
pub fn run(a: &DemoArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let run_dir = data.join("demo-rest").join(format!(
        "run-{}-{}",
        std::process::id(),
        crate::store::now_ms()
    ));
    let result = rt.block_on(demo(a, json, data, &run_dir));
    match &result {
        Ok(()) => {
            if let Err(e) = std::fs::remove_dir_all(&run_dir) {
                tracing::warn!(dir = %run_dir.display(), error = %e, "could not remove the demo database");
            }
        }
        Err(_) => eprintln!("the demo's database is kept in {}", run_dir.display()),
    }
    result
}

async fn demo(a: &DemoArgs, json: bool, data: &Path, run_dir: &Path) -> anyhow::Result<()> {
    let m = zoo::get(&a.model)?;
    let mut steps = Steps { rows: vec![], json };
    let total = Instant::now();
    if !json {
        eprintln!("zkgrid demo --rest: {} ({})", m.name, m.description);
    }

    let t = Instant::now();
    let svc = LocalService::start(
        data,
        run_dir,
        ServiceConfig::default(),
        1,
        WorkerConfig {
            idle_poll: Duration::from_millis(100),
            ..WorkerConfig::default()
        },
    )
    .await?;
    steps.push(
        "start service",
        t,
        format!(
            "{} (SQLite {}, 1 in-process worker)",
            svc.base_url,
            svc.db_path.display()
        ),
    );
    let outcome = over_http(&svc, &m, data, &mut steps).await;
    let t = Instant::now();
    let stopped = svc.stop().await;
    outcome?;
    stopped?;
    steps.push("stop service", t, "graceful".into());
    steps
        .rows
        .push(("total".into(), total.elapsed().as_secs_f64(), String::new()));

    if json {
        let v: Vec<_> = steps
            .rows
            .iter()
            .map(|(s, t, d)| json!({"step": s, "seconds": t, "detail": d}))
            .collect();
        return print_json(&v);
    }
    let rows: Vec<Vec<String>> = steps
        .rows
        .iter()
        .map(|(s, t, d)| vec![s.clone(), format!("{t:.3}s"), d.clone()])
        .collect();
    print!("{}", table(&["step", "time", "detail"], &rows));
    Ok(())
}

async fn over_http(
    svc: &LocalService,
    m: &zoo::ZooModel,
    data: &Path,
    steps: &mut Steps,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let key = svc.api_key("demo").await?;
    steps.push("create API key", t, "tenant demo".into());
    let client = RestClient::new(&svc.base_url, &key)?;

    let t = Instant::now();
    let calibration = serde_json::to_vec(&json!({ "input_data": m.calibration }))?;
    let created = client
        .upload_model(&format!("{}.onnx", m.name), &m.onnx, Some(&calibration))
        .await?;
    let model_id = created["id"].as_str().context("upload: no model id")?;
    let keygen = created["keygen_job_id"]
        .as_str()
        .context("upload: no keygen job id")?;
    steps.push(
        "upload (POST /v1/models)",
        t,
        format!(
            "{model_id}, {} bytes ONNX, model hash {}",
            m.onnx.len(),
            created["model_hash"].as_str().unwrap_or("?")
        ),
    );

    let t = Instant::now();
    let job = client.wait_job(keygen, POLL, JOB_LIMIT).await?;
    ensure!(job["state"] == "succeeded", "key generation failed: {job}");
    let model = client.get_json(&format!("/v1/models/{model_id}")).await?;
    steps.push(
        "keygen (job, polled)",
        t,
        format!(
            "k={} vk {} ({})",
            model["k"],
            model["vk_hash"].as_str().unwrap_or("?"),
            if job["timings"]["keys_cached"] == true {
                "keys cached"
            } else {
                "keys generated"
            }
        ),
    );

    let t = Instant::now();
    let accepted = client
        .post_json(
            &format!("/v1/models/{model_id}/proofs"),
            &json!({ "input": m.sample_input, "recipient": format!("0x{}", "11".repeat(20)) }),
        )
        .await?;
    let job_id = accepted["job_id"].as_str().context("no job id")?;
    steps.push(
        "submit (POST /v1/models/{id}/proofs)",
        t,
        job_id.to_string(),
    );

    let t = Instant::now();
    let job = client.wait_job(job_id, POLL, JOB_LIMIT).await?;
    ensure!(job["state"] == "succeeded", "the proof job failed: {job}");
    let proof_id = job["proof_id"].as_str().context("job has no proof id")?;
    steps.push(
        "prove (job, polled)",
        t,
        format!(
            "create_proof {:.3}s, queued {:.3}s",
            job["timings"]["prove_s"].as_f64().unwrap_or(f64::NAN),
            job["queued_s"].as_f64().unwrap_or(f64::NAN)
        ),
    );

    let t = Instant::now();
    let reply = client.get(&format!("/v1/proofs/{proof_id}")).await?;
    ensure!(
        reply.status == 200,
        "GET /v1/proofs/{proof_id}: HTTP {}",
        reply.status
    );
    let text = String::from_utf8(reply.body).context("the bundle is not UTF-8")?;
    let bundle = ProofBundle::from_json(&text).context("reading the proof bundle")?;
    steps.push(
        "fetch (GET /v1/proofs/{id})",
        t,
        format!("{proof_id}, {} bytes", text.len()),
    );

    let t = Instant::now();
    let verdict = client
        .post("/v1/verify", "application/json", text.into_bytes())
        .await?
        .ok_json()?;
    if verdict["valid"] != true {
        bail!("POST /v1/verify rejected the proof: {verdict}");
    }
    steps.push(
        "verify (POST /v1/verify)",
        t,
        format!(
            "valid (verify {:.3}s)",
            verdict["verify_s"].as_f64().unwrap_or(f64::NAN)
        ),
    );

    // Natively, as an auditor would: the cached verifying key, and the proven output checked
    // against this machine's own compile of the same model.
    let t = Instant::now();
    let data = data.to_path_buf();
    let (onnx, name, calib) = (m.onnx.clone(), m.name, m.calibration.clone());
    let argmax = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<usize>> {
        verify_bundle(&data, &bundle, &SrsChoice::Dev).context("native verification")?;
        let c = compile(&onnx, name, Some(&calib), &QuantConfig::default())?;
        ensure!(
            c.model_hash == bundle.model_hash,
            "the proof is for model {}, not {}",
            bundle.model_hash,
            c.model_hash
        );
        let out = check_bundle_output(&c.model, &bundle)?;
        Ok(out.argmax)
    })
    .await??;
    steps.push(
        "verify (native)",
        t,
        match argmax {
            Some(i) => {
                format!("valid; proven output decodes and matches the instances, argmax {i}")
            }
            None => "valid; proven output decodes and matches the instances".into(),
        },
    );
    Ok(())
}
