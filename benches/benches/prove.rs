//! Criterion benches of the proving pipeline: `keygen/<model>` and `prove/<model>` for every zoo
//! model and for the three peer ONNX models (`peer_mlp_small`, `peer_mlp_wide`,
//! `peer_cnn_small`: the files EZKL was measured on, calibrated on their own `input.json` as
//! EZKL's `calibrate_settings` is).
//!
//! * `keygen/<model>`: `zkgrid_prover::keygen` (proving + verifying key) of the planned
//!   `ModelCircuit` with the SRS already in memory (SRS generation/loading is not timed).
//! * `prove/<model>`: `ModelKeys::prove` = integer execution + witness, `create_proof` (SHPLONK,
//!   EVM transcript) and the native verification of the fresh proof, as `zkgrid prove` runs it.
//!
//! Run: `cargo bench -p zkgrid-benches --bench prove` (all, a few minutes on 2 cores), or filter:
//! `cargo bench -p zkgrid-benches --bench prove -- prove/peer_`. `ZKGRID_BENCH_MODELS=a,b` limits
//! the model list; `ZKGRID_BENCH_DATA_DIR` sets where the INSECURE dev SRS and the keys are
//! cached (default: `<target>/tmp/zkgrid-bench`). Setup runs lazily, only for benches that the
//! filter selects. Without `--bench` (`cargo test --benches`), criterion's test mode runs each
//! routine once, and only `mlp_tiny` is included unless `ZKGRID_BENCH_MODELS` says otherwise, so
//! tests stay fast.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use zkgrid_benches::{load_case, Case, PEER};
use zkgrid_circuits::model::{plan, recipient_from_address};
use zkgrid_circuits::ModelCircuit;
use zkgrid_models::zoo;
use zkgrid_prover::keys::{keygen, KeygenOptions};
use zkgrid_prover::model::{setup, ModelKeys, SetupOptions};
use zkgrid_prover::srs::DevSrsCache;

/// Model ids to run: `ZKGRID_BENCH_MODELS`, else everything in bench mode, else `mlp_tiny`.
fn selected(bench_mode: bool) -> Vec<String> {
    if let Ok(list) = std::env::var("ZKGRID_BENCH_MODELS") {
        return list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }
    if !bench_mode {
        return vec!["mlp_tiny".into()];
    }
    zoo::NAMES
        .iter()
        .map(|n| n.to_string())
        .chain(PEER.iter().map(|n| format!("peer_{n}")))
        .collect()
}

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ZKGRID_BENCH_DATA_DIR") {
        return PathBuf::from(d);
    }
    let tmp = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    tmp.join("zkgrid-bench")
}

/// Lazily built state shared by a model's benches (built only if a bench of it runs).
struct Lazy<'a> {
    case: &'a Case,
    data: &'a Path,
    keys: Option<ModelKeys>,
}

impl Lazy<'_> {
    fn keys(&mut self) -> &ModelKeys {
        if self.keys.is_none() {
            let opts = SetupOptions::default();
            // Warm the dev SRS cache at this model's k (one-off per data dir; not timed).
            let p = plan(&self.case.model, opts.visibility, opts.column_budget)
                .unwrap_or_else(|e| panic!("planning {}: {e}", self.case.id));
            DevSrsCache::new(self.data)
                .load(p.settings.k)
                .unwrap_or_else(|e| panic!("dev SRS at k={}: {e}", p.settings.k));
            let keys = setup(self.data, &self.case.model, &opts)
                .unwrap_or_else(|e| panic!("setup {}: {e}", self.case.id));
            eprintln!(
                "{}: k={} lanes={} keys {} ({:.2}s)",
                self.case.id,
                keys.plan.settings.k,
                keys.plan.settings.params.lanes,
                if keys.timings.cached {
                    "loaded from cache"
                } else {
                    "generated"
                },
                keys.timings.keys_s
            );
            self.keys = Some(keys);
        }
        self.keys.as_ref().unwrap_or_else(|| unreachable!())
    }
}

fn configure<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(SamplingMode::Flat);
}

fn bench_case(c: &mut Criterion, case: &Case, data: &Path) {
    let mut lazy = Lazy {
        case,
        data,
        keys: None,
    };
    let mut g = c.benchmark_group("keygen");
    configure(&mut g);
    g.bench_function(&case.id, |b| {
        let keys = lazy.keys();
        let circuit = ModelCircuit::from_arc(keys.model.clone(), keys.plan.settings, None)
            .unwrap_or_else(|e| panic!("circuit {}: {e}", case.id));
        b.iter(|| {
            keygen(
                &keys.srs,
                &circuit,
                KeygenOptions::for_settings(&keys.plan.settings),
            )
            .unwrap_or_else(|e| panic!("keygen {}: {e}", case.id))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("prove");
    configure(&mut g);
    let recipient = recipient_from_address(&[0x11; 20]);
    g.bench_function(&case.id, |b| {
        let keys = lazy.keys();
        b.iter(|| {
            keys.prove(&case.input_q, recipient)
                .unwrap_or_else(|e| panic!("prove {}: {e}", case.id))
        });
    });
    g.finish();
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bench_mode = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let mut c = Criterion::default().configure_from_args();
    let data = data_dir();
    for id in selected(bench_mode) {
        let case = load_case(&id).with_context(|| format!("loading model {id}"))?;
        bench_case(&mut c, &case, &data);
    }
    c.final_summary();
    Ok(())
}
