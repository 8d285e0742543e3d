//! Compares the memory estimate with a measured peak RSS. Prints only (no memory or timing
//! asserts: the numbers depend on the allocator and the machine).
//!
//! The measurement runs in a child process (this test binary re-executed) that loads the params
//! and the proving key from files and then proves, so keygen's freed-but-retained memory does
//! not inflate the peak — this mirrors a worker proving with cached keys.
//!
//! `cargo test -p zkgrid-prover --test memory_estimate -- --nocapture` shows the table;
//! `ZKGRID_MEMTEST_K=16` (default 14) measures a larger circuit.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestCircuit, TestParams};
use zkgrid_prover::halo2_proofs::plonk::Circuit;
use zkgrid_prover::halo2_proofs::SerdeFormat;
use zkgrid_prover::{
    estimate_proving_memory, keygen, prove, read_pk, verify, write_pk, CircuitShape, KeygenOptions,
    Srs,
};

const TEST_NAME: &str = "estimate_vs_measured_peak_rss";
const CHILD_DIR_ENV: &str = "ZKGRID_MEMTEST_CHILD_DIR";

/// A field of `/proc/self/status` (`VmRSS:`, `VmHWM:`) in bytes; `None` off Linux.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib = line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    Some(kib * 1024)
}

/// Resets the peak-RSS counter (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn memtest_k() -> u32 {
    std::env::var("ZKGRID_MEMTEST_K")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14)
}

/// Fills most usable rows: 2 rows per repetition.
fn reps(k: u32) -> usize {
    ((1usize << k) - 16) / 2
}

/// Child: load params and pk from `dir`, prove, verify, report RSS numbers on stdout.
fn child(dir: &Path, k: u32) -> anyhow::Result<()> {
    let baseline = proc_status_bytes("VmRSS:").unwrap_or(0);
    let srs = Srs::read_params_file(&dir.join("params"), SerdeFormat::RawBytesUnchecked)?;
    let keys = read_pk::<TestCircuit>(&dir.join("pk"), &srs, TestParams::default(), None)?;
    let circuit = TestCircuit::new(reps(k));
    let instances = TestCircuit::instances(reps(k));
    let reset = reset_peak_rss();
    let before = proc_status_bytes("VmRSS:").unwrap_or(0);
    let proof = prove(&srs, keys.pk(), &circuit, &instances)?;
    let peak = proc_status_bytes("VmHWM:").unwrap_or(0);
    verify(&srs, keys.vk(), &instances, &proof)?;
    println!("ZKGRID_MEMTEST baseline={baseline} before={before} peak={peak} reset={reset}");
    Ok(())
}

#[test]
fn estimate_vs_measured_peak_rss() -> anyhow::Result<()> {
    let k = memtest_k();
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        return child(Path::new(&dir), k);
    }

    let dir = tempfile::tempdir()?;
    let srs = Srs::dev_insecure(k)?;
    srs.write_params_file(&dir.path().join("params"), SerdeFormat::RawBytesUnchecked)?;
    let keys = keygen(
        &srs,
        &TestCircuit::new(reps(k)).without_witnesses(),
        KeygenOptions::default(),
    )?;
    write_pk(&keys, &dir.path().join("pk"))?;
    let shape = CircuitShape::from_vk(keys.vk());
    let estimate = estimate_proving_memory(&shape)?;
    drop((keys, srs));

    println!("shape: {shape:?}");
    println!("estimate (MiB):");
    for (name, bytes) in [
        ("params", estimate.params_bytes),
        ("proving key", estimate.proving_key_bytes),
        ("witness", estimate.witness_bytes),
        ("lookups", estimate.lookup_bytes),
        ("permutation", estimate.permutation_bytes),
        ("phase peak", estimate.transient_bytes),
        ("TOTAL", estimate.total_bytes),
    ] {
        println!("  {name:<12} {:>9.2}", mib(bytes));
    }

    let output = Command::new(std::env::current_exe()?)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir.path())
        .env("ZKGRID_MEMTEST_K", k.to_string())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout
        .lines()
        .find_map(|l| l.split_once("ZKGRID_MEMTEST ").map(|(_, report)| report))
        .ok_or_else(|| anyhow::anyhow!("child printed no report: {stdout}"))?;
    let field = |name: &str| -> Option<u64> {
        report
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    match (field("baseline"), field("before"), field("peak")) {
        (Some(baseline), Some(before), Some(peak)) if peak > 0 => {
            println!(
                "measured (MiB): child baseline {:.2}, RSS after loading params+pk {:.2}, peak RSS {:.2} ({report})",
                mib(baseline),
                mib(before),
                mib(peak)
            );
            let above = peak.saturating_sub(baseline);
            println!(
                "peak above baseline {:.2} MiB = {:.2} x estimate",
                mib(above),
                above as f64 / estimate.total_bytes as f64
            );
        }
        _ => println!("peak RSS not measurable on this platform ({report})"),
    }
    Ok(())
}
