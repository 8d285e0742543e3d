//! End-to-end tests of the `zkgrid` binary: success paths and clear, non-zero-exit errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use zkgrid_models::onnx_builder::{Attr, OnnxBuilder};

fn zkgrid(data: &Path, args: &[&str]) -> Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_zkgrid"))
        .args(args)
        .env("ZKGRID_DATA_DIR", data)
        .output()
        .context("spawning zkgrid")
}

fn peer(name: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/tests/fixtures/peer")
        .join(name)
        .join(file)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn ok(o: &Output) -> Result<String> {
    ensure!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn fails_with(o: &Output, needle: &str) -> Result<()> {
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(
        o.status.code() == Some(1),
        "expected exit 1, got {:?}; stderr: {err}",
        o.status.code()
    );
    ensure!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    ensure!(!err.contains("panicked"), "panic: {err}");
    Ok(())
}

#[test]
fn compile_and_run_peer_and_zoo_models() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    ok(&zkgrid(
        d,
        &["zoo", "export", "all", "-o", s(&d.join("zoo"))],
    )?)?;
    let mut cases: Vec<(String, PathBuf, PathBuf, Option<PathBuf>)> = vec![];
    for name in ["mlp_small", "mlp_wide", "cnn_small"] {
        // The peer's own sample input doubles as calibration, as EZKL's calibrate_settings does.
        cases.push((
            format!("peer_{name}"),
            peer(name, "network.onnx"),
            peer(name, "input.json"),
            Some(peer(name, "input.json")),
        ));
    }
    for name in zkgrid_models::zoo::NAMES {
        let z = d.join("zoo").join(name);
        cases.push((
            name.to_string(),
            z.join("network.onnx"),
            z.join("input.json"),
            Some(z.join("calibration.json")),
        ));
    }
    for (name, onnx, input, calib) in cases {
        let out = d.join(format!("{name}.zkg.json"));
        let mut args = vec!["--json", "compile", s(&onnx), "-o", s(&out)];
        if let Some(c) = &calib {
            args.extend(["--calibration", s(c)]);
        }
        let report: serde_json::Value = serde_json::from_str(&ok(&zkgrid(d, &args)?)?)?;
        let agree = report["report"]["accuracy"]["argmax_agreement"].as_f64();
        ensure!(agree == Some(1.0), "{name}: argmax agreement {agree:?}");
        let human = ok(&zkgrid(d, &["compile", s(&onnx), "-o", s(&out)])?)?;
        ensure!(
            human.contains("argmax agreement") && human.contains("model hash"),
            "{human}"
        );
        let run: serde_json::Value =
            serde_json::from_str(&ok(&zkgrid(d, &["--json", "run", s(&out), s(&input)])?)?)?;
        ensure!(run["argmax"].is_u64(), "{name}: {run}");
    }
    Ok(())
}

#[test]
fn bad_inputs_give_clear_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let onnx = peer("mlp_small", "network.onnx");
    let bytes = std::fs::read(&onnx)?;
    // truncated ONNX
    let trunc = d.join("trunc.onnx");
    std::fs::write(&trunc, &bytes[..bytes.len() / 3])?;
    fails_with(
        &zkgrid(d, &["compile", s(&trunc), "-o", s(&d.join("x.json"))])?,
        "ONNX",
    )?;
    // garbage
    let garbage = d.join("garbage.onnx");
    std::fs::write(&garbage, b"\x00\x01garbage garbage")?;
    fails_with(
        &zkgrid(d, &["compile", s(&garbage), "-o", s(&d.join("x.json"))])?,
        "ONNX",
    )?;
    // missing file
    fails_with(
        &zkgrid(
            d,
            &[
                "compile",
                s(&d.join("nope.onnx")),
                "-o",
                s(&d.join("x.json")),
            ],
        )?,
        "nope.onnx",
    )?;
    // unsupported op
    let mut b = OnnxBuilder::new("lstm", &[1, 4], &[1, 4]);
    b.node(
        "LSTM",
        "the_lstm",
        &["input"],
        &["output"],
        &[("hidden_size", Attr::Int(4))],
    );
    let lstm = d.join("lstm.onnx");
    std::fs::write(&lstm, b.bytes())?;
    fails_with(
        &zkgrid(d, &["compile", s(&lstm), "-o", s(&d.join("x.json"))])?,
        "the_lstm (LSTM)",
    )?;
    // calibration of the wrong shape
    let bad_cal = d.join("cal.json");
    std::fs::write(&bad_cal, br#"{"input_data": [[0.1, 0.2, 0.3]]}"#)?;
    fails_with(
        &zkgrid(
            d,
            &[
                "compile",
                s(&onnx),
                "--calibration",
                s(&bad_cal),
                "-o",
                s(&d.join("x.json")),
            ],
        )?,
        "wrong input shape",
    )?;
    // NaN weights
    let mut b = OnnxBuilder::new("nan", &[1, 2], &[1, 2]);
    b.init("W", &[2, 2], &[1.0, f32::NAN, 0.0, 1.0]);
    b.node("MatMul", "mm", &["input", "W"], &["output"], &[]);
    let nan = d.join("nan.onnx");
    std::fs::write(&nan, b.bytes())?;
    fails_with(
        &zkgrid(d, &["compile", s(&nan), "-o", s(&d.join("x.json"))])?,
        "non-finite",
    )?;
    // bad --bits
    let o = zkgrid(
        d,
        &[
            "compile",
            s(&onnx),
            "--bits",
            "99",
            "-o",
            s(&d.join("x.json")),
        ],
    )?;
    ensure!(!o.status.success(), "bits 99 accepted");
    // run: wrong input shape, NaN input, bad JSON, tampered model file
    let model = d.join("m.zkg.json");
    ok(&zkgrid(d, &["compile", s(&onnx), "-o", s(&model)])?)?;
    let short = d.join("short.json");
    std::fs::write(&short, br#"{"input_data": [[0.5, 0.5]]}"#)?;
    fails_with(
        &zkgrid(d, &["run", s(&model), s(&short)])?,
        "expects 784 values",
    )?;
    let nan_in = d.join("nan_in.json");
    let mut v = vec![serde_json::json!(0.5); 784];
    v[7] = serde_json::json!("NaN");
    std::fs::write(
        &nan_in,
        serde_json::to_vec(&serde_json::json!({ "input_data": [v] }))?,
    )?;
    fails_with(&zkgrid(d, &["run", s(&model), s(&nan_in)])?, "index 7")?;
    let bad_json = d.join("bad.json");
    std::fs::write(&bad_json, b"{\"input_data\": [[1, 2,")?;
    fails_with(
        &zkgrid(d, &["run", s(&model), s(&bad_json)])?,
        "bad input JSON",
    )?;
    let big = d.join("big.json");
    std::fs::write(
        &big,
        serde_json::to_vec(&serde_json::json!({ "input_data": [vec![1e9; 784]] }))?,
    )?;
    fails_with(
        &zkgrid(d, &["run", s(&model), s(&big)])?,
        "outside the model's input range",
    )?;
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&model)?)?;
    doc["model"]["nodes"][0]["op"]["shift"] = serde_json::json!(1);
    let tampered = d.join("tampered.zkg.json");
    std::fs::write(&tampered, serde_json::to_vec(&doc)?)?;
    fails_with(
        &zkgrid(
            d,
            &["run", s(&tampered), s(&peer("mlp_small", "input.json"))],
        )?,
        "does not match",
    )?;
    Ok(())
}

#[test]
fn every_command_has_help_with_an_example() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for cmd in [
        vec!["compile"],
        vec!["run"],
        vec!["zoo", "export"],
        vec!["inspect"],
        vec!["setup"],
        vec!["prove"],
        vec!["verify"],
        vec!["demo"],
        vec!["replay"],
        vec!["evm", "generate"],
        vec!["evm", "gas"],
        vec!["evm", "deploy"],
        vec!["evm", "post-task"],
        vec!["evm", "submit"],
        vec!["evm", "withdraw"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = ok(&zkgrid(dir.path(), &args)?)?;
        ensure!(
            out.contains("Example: zkgrid"),
            "{cmd:?} --help has no example: {out}"
        );
    }
    Ok(())
}

/// Exports the zoo's mlp_tiny into `d/zoo/mlp_tiny` and compiles it to `d/tiny.zkg.json`;
/// returns (zoo dir, model path).
fn compiled_tiny(d: &Path) -> Result<(PathBuf, PathBuf)> {
    ok(&zkgrid(
        d,
        &["zoo", "export", "mlp_tiny", "-o", s(&d.join("zoo"))],
    )?)?;
    let z = d.join("zoo/mlp_tiny");
    let model = d.join("tiny.zkg.json");
    ok(&zkgrid(
        d,
        &[
            "compile",
            s(&z.join("network.onnx")),
            "--calibration",
            s(&z.join("calibration.json")),
            "-o",
            s(&model),
        ],
    )?)?;
    Ok((z, model))
}

fn out_vk(proof: &Path) -> Result<serde_json::Value> {
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(proof)?)?;
    Ok(b["vk_hash"].clone())
}

#[test]
fn setup_prove_verify_roundtrip_and_tampering() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let (z, model) = compiled_tiny(d)?;
    let inspect = ok(&zkgrid(d, &["inspect", s(&model)])?)?;
    ensure!(
        inspect.contains("advice columns") && inspect.contains("estimated proving memory"),
        "{inspect}"
    );
    let proof = d.join("proof.json");
    let out: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
        d,
        &[
            "--json",
            "prove",
            s(&model),
            s(&z.join("input.json")),
            "-o",
            s(&proof),
        ],
    )?)?)?;
    let run: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
        d,
        &["--json", "run", s(&model), s(&z.join("input.json"))],
    )?)?)?;
    ensure!(
        out["output"]["values"] == run["output"],
        "proven output {} != executor {}",
        out["output"]["values"],
        run["output"]
    );
    let v = ok(&zkgrid(d, &["verify", s(&proof), "--model", s(&model)])?)?;
    ensure!(v.contains("VALID"), "{v}");
    // On-chain: the generated verifier accepts the proof on revm; the artifacts are written.
    let gas: serde_json::Value =
        serde_json::from_str(&ok(&zkgrid(d, &["--json", "evm", "gas", s(&proof)])?)?)?;
    ensure!(gas["accepted"] == true, "{gas}");
    let used = gas["verify_gas"].as_u64().unwrap_or(0);
    ensure!((100_000..5_000_000).contains(&used), "verify gas {used}");
    // A batch (the proof twice) through verifyProofs: one pairing for both.
    let batch: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
        d,
        &["--json", "evm", "gas", s(&proof), s(&proof)],
    )?)?)?;
    ensure!(batch["batch"]["accepted"] == true, "{batch}");
    ensure!(batch["batch"]["proofs"] == 2, "{batch}");
    let per_proof = batch["batch"]["per_proof_gas"].as_u64().unwrap_or(u64::MAX);
    ensure!(per_proof < used, "batch {per_proof} per proof vs {used}");
    let out = d.join("verifier");
    let gen: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
        d,
        &["--json", "evm", "generate", s(&model), "-o", s(&out)],
    )?)?)?;
    ensure!(gen["vk_hash"] == out_vk(&proof)?, "{gen}");
    for f in [
        "Halo2Verifier.sol",
        "Halo2Verifier.bin",
        "Halo2VerifierVk0.bin",
        "Halo2Verifier.abi.json",
        "deployment.json",
    ] {
        ensure!(out.join(f).is_file(), "missing {f}");
    }
    ensure!(
        gen["runtime_bytes"]["verifier"]
            .as_u64()
            .unwrap_or(u64::MAX)
            <= 24_576,
        "{gen}"
    );
    // Change one public output instance: verification must fail.
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof)?)?;
    let inst = b["instances"][0].as_array().cloned().unwrap_or_default();
    let n = inst.len();
    ensure!(n >= 5, "expected input + output + recipient instances");
    b["instances"][0][n - 2] =
        serde_json::json!("0x0000000000000000000000000000000000000000000000000000000000000007");
    let bad = d.join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&b)?)?;
    let o = zkgrid(d, &["verify", s(&bad)])?;
    ensure!(!o.status.success(), "tampered instance accepted");
    // Claiming a different output in the bundle without touching the proof is caught with --model.
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof)?)?;
    b["output"]["values"][0] = serde_json::json!(12345);
    std::fs::write(&bad, serde_json::to_vec(&b)?)?;
    let o = zkgrid(d, &["verify", s(&bad), "--model", s(&model)])?;
    ensure!(!o.status.success(), "lying output accepted");
    // Garbage bundle: clear error.
    std::fs::write(&bad, b"{not json")?;
    let o = zkgrid(d, &["verify", s(&bad)])?;
    ensure!(o.status.code() == Some(1) && !String::from_utf8_lossy(&o.stderr).contains("panicked"));
    Ok(())
}

/// Private weights: the proof's first instance is the weights commitment `inspect` prints; the
/// proof verifies natively and on revm; a changed commitment instance is rejected.
#[test]
fn hashed_weights_prove_verify_and_bind_the_commitment() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let (z, model) = compiled_tiny(d)?;
    let flags = [
        "--weights-visibility",
        "hashed",
        "--input-visibility",
        "hashed",
    ];
    let mut args = vec!["--json", "inspect", s(&model)];
    args.extend(flags);
    let inspect: serde_json::Value = serde_json::from_str(&ok(&zkgrid(d, &args)?)?)?;
    let commitment = inspect["weights_commitment"].clone();
    ensure!(commitment.is_string(), "{inspect}");
    let proof = d.join("proof.json");
    let input = z.join("input.json");
    let mut args = vec!["--json", "prove", s(&model), s(&input)];
    args.extend(flags);
    args.extend(["-o", s(&proof)]);
    let out: serde_json::Value = serde_json::from_str(&ok(&zkgrid(d, &args)?)?)?;
    ensure!(out["weights_commitment"] == commitment, "{out}");
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof)?)?;
    ensure!(
        b["instances"][0][0] == commitment,
        "first instance is the commitment"
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
        d,
        &["--json", "verify", s(&proof), "--model", s(&model)],
    )?)?)?;
    ensure!(
        v["valid"] == true && v["weights_commitment"] == commitment,
        "{v}"
    );
    let gas: serde_json::Value =
        serde_json::from_str(&ok(&zkgrid(d, &["--json", "evm", "gas", s(&proof)])?)?)?;
    ensure!(gas["accepted"] == true, "{gas}");

    // A changed weights commitment instance: native verification fails.
    b["instances"][0][0] =
        serde_json::json!("0x0000000000000000000000000000000000000000000000000000000000000007");
    let bad = d.join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&b)?)?;
    let o = zkgrid(d, &["verify", s(&bad)])?;
    ensure!(!o.status.success(), "changed weights commitment accepted");
    Ok(())
}

#[test]
fn replay_committed_test_vectors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let vectors = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-vectors");
    let out = ok(&zkgrid(d, &["--json", "replay", s(&vectors)])?)?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    let all = v["vectors"].as_array().cloned().unwrap_or_default();
    ensure!(
        all.len() >= 8,
        "expected every zoo + peer vector, got {}",
        all.len()
    );
    ensure!(v["failed"] == 0, "{out}");
    for r in &all {
        let checks = r["report"]["checks"].as_array().map(Vec::len).unwrap_or(0);
        ensure!(checks >= 8, "{}: only {checks} checks", r["file"]);
    }
    // A vector whose claimed output was changed fails, and replay exits non-zero naming it.
    let mut bad: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors.join("mlp_tiny.json"))?)?;
    let first = bad["expected_output"][0].as_i64().unwrap_or(0);
    bad["expected_output"][0] = serde_json::json!(first + 1);
    let bad_dir = d.join("bad");
    std::fs::create_dir_all(&bad_dir)?;
    std::fs::write(bad_dir.join("mlp_tiny.json"), serde_json::to_vec(&bad)?)?;
    let o = zkgrid(d, &["replay", s(&bad_dir)])?;
    fails_with(&o, "1 of 1 test vectors failed")?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    ensure!(
        stdout.contains("FAILED") && stdout.contains("expected"),
        "{stdout}"
    );
    // An empty directory is an error, not a silent pass.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty)?;
    fails_with(
        &zkgrid(d, &["replay", s(&empty)])?,
        "no *.json test vectors",
    )?;
    Ok(())
}

#[test]
fn demo_runs_end_to_end_on_a_zoo_model() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = ok(&zkgrid(
        dir.path(),
        &["--json", "demo", "--model", "mlp_tiny"],
    )?)?;
    let steps: serde_json::Value = serde_json::from_str(&out)?;
    let names: Vec<&str> = steps
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["step"].as_str()).collect())
        .unwrap_or_default();
    for want in [
        "prove",
        "verify (native)",
        "check output",
        "evm: verify (revm)",
    ] {
        ensure!(names.contains(&want), "demo lacks step {want:?}: {names:?}");
    }
    let evm = steps
        .as_array()
        .and_then(|a| a.iter().find(|s| s["step"] == "evm: verify (revm)"))
        .map(|s| s["detail"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    ensure!(evm.contains("changed output rejected"), "{evm}");
    // An unknown zoo model is a clear error.
    fails_with(&zkgrid(dir.path(), &["demo", "--model", "nope"])?, "nope")?;
    Ok(())
}

#[test]
fn demo_rest_goes_through_the_api_on_a_fresh_data_dir() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // Text mode: every step printed with its time, then the table.
    let o = zkgrid(dir.path(), &["demo", "--rest"])?;
    let out = ok(&o)?;
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(err.contains("zkgrid demo --rest: mlp_small"), "{err}");
    for want in [
        "start service",
        "create API key",
        "upload (POST /v1/models)",
        "keygen (job, polled)",
        "submit (POST /v1/models/{id}/proofs)",
        "prove (job, polled)",
        "fetch (GET /v1/proofs/{id})",
        "verify (POST /v1/verify)",
        "verify (native)",
        "total",
    ] {
        ensure!(
            out.contains(want),
            "demo --rest lacks step {want:?}:\n{out}"
        );
    }
    ensure!(out.contains("http://127.0.0.1:"), "{out}");
    ensure!(out.contains("keys generated"), "fresh data dir: {out}");
    // JSON mode on the same data dir: keys now come from the cache; every step has a time.
    let steps: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
        dir.path(),
        &["--json", "demo", "--rest", "--model", "mlp_tiny"],
    )?)?)?;
    let steps = steps.as_array().context("steps")?;
    ensure!(steps.len() == 11, "{steps:?}");
    ensure!(
        steps
            .iter()
            .all(|s| s["seconds"].as_f64().is_some_and(|t| t >= 0.0)),
        "{steps:?}"
    );
    let detail = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .and_then(|s| s["detail"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    ensure!(
        detail("verify (POST /v1/verify)").starts_with("valid"),
        "{steps:?}"
    );
    ensure!(detail("verify (native)").starts_with("valid"), "{steps:?}");
    // The demo's database is removed after a successful run.
    let left = std::fs::read_dir(dir.path().join("demo-rest"))?.count();
    ensure!(left == 0, "{left} demo database dir(s) left behind");
    // An unknown zoo model is a clear error before anything starts.
    fails_with(
        &zkgrid(dir.path(), &["demo", "--rest", "--model", "nope"])?,
        "nope",
    )?;
    Ok(())
}

#[test]
fn optimize_goals_trade_commitments_for_proving_cost() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let (_, model) = compiled_tiny(d)?;
    let mut seen = Vec::new();
    for goal in ["prove", "balanced", "gas"] {
        let out: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
            d,
            &[
                "--json",
                "inspect",
                s(&model),
                "--input-visibility",
                "hashed",
                "--optimize",
                goal,
            ],
        )?)?)?;
        ensure!(out["goal"] == goal, "{out}");
        let verifier = out["verifier_cost"].as_f64().context("verifier cost")?;
        ensure!(out["verifier_commitments"].as_u64().is_some(), "{out}");
        let cost = out["estimated_proving_cost"].as_f64().context("cost")?;
        seen.push((verifier, cost, out["settings"].clone()));
    }
    let (prove, gas) = (&seen[0], &seen[2]);
    ensure!(gas.0 <= seen[1].0 && seen[1].0 <= prove.0, "{seen:?}");
    ensure!(prove.1 <= gas.1, "{seen:?}");
    // `--candidates` lists the layouts the goals chose among, each marked with its goals.
    let listed: serde_json::Value = serde_json::from_str(&ok(&zkgrid(
        d,
        &[
            "--json",
            "inspect",
            s(&model),
            "--input-visibility",
            "hashed",
            "--candidates",
        ],
    )?)?)?;
    let candidates = listed["candidates"].as_array().context("candidates")?;
    ensure!(candidates.len() > 3, "{listed}");
    let fastest = candidates
        .iter()
        .filter_map(|c| c["estimated_proving_cost"].as_f64())
        .fold(f64::INFINITY, f64::min);
    for (goal, (_, cost, settings)) in ["prove", "balanced", "gas"].iter().zip(&seen) {
        let picked: Vec<&serde_json::Value> = candidates
            .iter()
            .filter(|c| {
                c["picked_by"]
                    .as_array()
                    .is_some_and(|goals| goals.iter().any(|g| g == goal))
            })
            .collect();
        ensure!(picked.len() == 1, "{goal}: {picked:?}");
        ensure!(
            &picked[0]["settings"] == settings,
            "{goal}: {picked:?} vs {settings}"
        );
        ensure!(picked[0]["estimated_proving_cost"].as_f64() == Some(*cost));
    }
    ensure!(
        seen[0].1 == fastest && seen[1].1 <= 1.25 * fastest,
        "{seen:?}"
    );
    let table = ok(&zkgrid(
        d,
        &[
            "inspect",
            s(&model),
            "--input-visibility",
            "hashed",
            "--candidates",
        ],
    )?)?;
    ensure!(
        table.contains("picked by") && table.contains("blocks") && table.contains("gas"),
        "{table}"
    );
    let human = ok(&zkgrid(d, &["inspect", s(&model), "--optimize", "gas"])?)?;
    ensure!(
        human.contains("planner goal") && human.contains("gas"),
        "{human}"
    );
    // A wrong goal is a usage error (clap: exit 2) naming the accepted values.
    let bad = zkgrid(d, &["inspect", s(&model), "--optimize", "fastest"])?;
    let stderr = String::from_utf8_lossy(&bad.stderr);
    ensure!(bad.status.code() == Some(2), "{stderr}");
    ensure!(
        stderr.contains("invalid value 'fastest'") && stderr.contains("balanced"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn settings_pin_a_layout_instead_of_planning() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let (z, model) = compiled_tiny(d)?;
    let hashed = ["--input-visibility", "hashed"];
    // The gas goal's layout, saved by `inspect --json`, differs from the default's.
    let mut args = vec!["--json", "inspect", s(&model), "--optimize", "gas"];
    args.extend(hashed);
    let gas_plan = ok(&zkgrid(d, &args)?)?;
    let gas_file = d.join("gas-layout.json");
    std::fs::write(&gas_file, &gas_plan)?;
    let gas_plan: serde_json::Value = serde_json::from_str(&gas_plan)?;
    let mut args = vec!["--json", "inspect", s(&model)];
    args.extend(hashed);
    let default_plan: serde_json::Value = serde_json::from_str(&ok(&zkgrid(d, &args)?)?)?;
    ensure!(
        gas_plan["settings"] != default_plan["settings"],
        "{gas_plan} {default_plan}"
    );
    // Proving with the default goal but the pinned layout gives the gas layout's key.
    let input = z.join("input.json");
    let prove = |extra: &[&str], out: &Path| -> Result<serde_json::Value> {
        let mut args = vec!["prove", s(&model), s(&input)];
        args.extend(hashed);
        args.extend(extra);
        args.extend(["-o", s(out)]);
        ok(&zkgrid(d, &args)?)?;
        Ok(serde_json::from_slice(&std::fs::read(out)?)?)
    };
    let by_goal = prove(&["--optimize", "gas"], &d.join("gas.json"))?;
    let pinned = prove(&["--settings", s(&gas_file)], &d.join("pinned.json"))?;
    ensure!(
        by_goal["vk_hash"] == pinned["vk_hash"],
        "{by_goal} {pinned}"
    );
    ensure!(pinned["k"] == gas_plan["settings"]["k"], "{pinned}");
    // `inspect` says the layout is pinned; a bare settings object works too.
    let settings_only = d.join("settings-only.json");
    std::fs::write(&settings_only, gas_plan["settings"].to_string())?;
    let mut args = vec!["inspect", s(&model), "--settings", s(&settings_only)];
    args.extend(hashed);
    let human = ok(&zkgrid(d, &args)?)?;
    ensure!(human.contains("pinned by"), "{human}");
    // Settings for another visibility, and a file without settings, are errors naming it.
    let wrong = zkgrid(d, &["inspect", s(&model), "--settings", s(&gas_file)])?;
    fails_with(&wrong, "visibility")?;
    let junk = d.join("junk.json");
    std::fs::write(&junk, r#"{"lanes": 3}"#)?;
    let mut args = vec!["inspect", s(&model), "--settings", s(&junk)];
    args.extend(hashed);
    fails_with(&zkgrid(d, &args)?, "holds no circuit settings")?;
    Ok(())
}
