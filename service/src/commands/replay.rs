//! `zkgrid replay`: check committed test vectors (see `zkgrid_prover::vectors`).

use std::path::Path;

use anyhow::bail;
use zkgrid_prover::vectors::{replay_file, vector_files, ReplayOptions, ReplayReport};

use crate::cli::ReplayArgs;
use crate::output::{print_json, table};

/// Replay every vector under `a.path`; report each, fail when any fails.
pub fn run(a: &ReplayArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let files = if a.path.is_dir() {
        vector_files(&a.path)?
    } else {
        vec![a.path.clone()]
    };
    if files.is_empty() {
        bail!("no *.json test vectors in {}", a.path.display());
    }
    let opts = ReplayOptions { keygen: a.keygen };
    let mut results: Vec<(String, Result<ReplayReport, String>)> = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !json {
            eprintln!("replaying {name} ...");
        }
        let r = replay_file(data, f, opts).map_err(|e| format!("{e:#}"));
        results.push((name, r));
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if json {
        let v: Vec<_> = results
            .iter()
            .map(|(f, r)| match r {
                Ok(rep) => serde_json::json!({"file": f, "ok": true, "report": rep}),
                Err(e) => serde_json::json!({"file": f, "ok": false, "error": e}),
            })
            .collect();
        print_json(&serde_json::json!({"vectors": v, "failed": failed}))?;
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|(f, r)| match r {
                Ok(rep) => vec![
                    f.clone(),
                    "ok".into(),
                    rep.k.to_string(),
                    rep.instances.to_string(),
                    rep.proof_bytes.to_string(),
                    format!("{:.3}s", rep.verify_s),
                    format!("{} checks", rep.checks.len()),
                ],
                Err(e) => vec![
                    f.clone(),
                    "FAILED".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    e.clone(),
                ],
            })
            .collect();
        print!(
            "{}",
            table(
                &[
                    "vector",
                    "result",
                    "k",
                    "instances",
                    "proof bytes",
                    "verify",
                    "detail"
                ],
                &rows
            )
        );
        println!(
            "{} of {} vectors passed",
            results.len() - failed,
            results.len()
        );
    }
    if failed > 0 {
        bail!("{failed} of {} test vectors failed", results.len());
    }
    Ok(())
}
