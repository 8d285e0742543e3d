//! Measures `create_proof` for every column pool the planner may choose, so that its proving-cost
//! model can be checked against reality.
//!
//! For each model and each pool (lanes × range slots), the exact layout is counted, the smallest
//! `k` that holds it is taken, keys are generated and the model is proved `ZKGRID_SWEEP_PROVES`
//! times (default 2, the minimum is reported). One line per layout: k, rows, advice / fixed
//! columns, lookups, permutation columns, committed polynomials, the planner's cost estimate and
//! the measured keygen and prove seconds (wall, and CPU seconds of the process: steadier than
//! wall time when other jobs share the machine).
//!
//! Run: `cargo run --release -p zkgrid-benches --example layout_sweep -- peer_mlp_small peer_cnn_small`
//! (model ids as in the prove bench: zoo names or `peer_<name>`). `ZKGRID_SWEEP_ONLY=32x1,16x2`
//! limits the pools (lanes x range slots), `ZKGRID_SWEEP_MAX_ADVICE` skips wider layouts. The INSECURE dev SRS is cached
//! under `ZKGRID_BENCH_DATA_DIR` (default: the system temp dir).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use zkgrid_benches::load_case;
use zkgrid_circuits::model::plan::{smallest_k, LANE_CANDIDATES, RANGE_SLOT_CANDIDATES};
use zkgrid_circuits::model::{
    instances, recipient_from_address, shape, CircuitSettings, ModelWitness, Visibility,
};
use zkgrid_circuits::{ModelCircuit, ModelParams};
use zkgrid_models::execute::execute;
use zkgrid_prover::keys::{keygen, KeygenOptions};
use zkgrid_prover::proof::prove;
use zkgrid_prover::srs::DevSrsCache;

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
/// Wall time on a shared 2-core box varies with the neighbours; CPU time much less.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Linux reports in USER_HZ, 100 on every mainstream configuration.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<()> {
    let ids: Vec<String> = std::env::args().skip(1).collect();
    let proves: usize = std::env::var("ZKGRID_SWEEP_PROVES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let max_advice: usize = std::env::var("ZKGRID_SWEEP_MAX_ADVICE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    // `ZKGRID_SWEEP_ONLY=32x1,16x2` restricts the pools (lanes x slots).
    let only: Option<Vec<(usize, usize)>> = std::env::var("ZKGRID_SWEEP_ONLY").ok().map(|s| {
        s.split(',')
            .filter_map(|p| {
                let (l, r) = p.trim().split_once('x')?;
                Some((l.parse().ok()?, r.parse().ok()?))
            })
            .collect()
    });
    let data = std::env::var_os("ZKGRID_BENCH_DATA_DIR")
        .map_or_else(|| std::env::temp_dir().join("zkgrid-bench"), PathBuf::from);
    let srs_cache = DevSrsCache::new(&data);
    let vis = Visibility::PUBLIC;
    let recipient = recipient_from_address(&[0x11; 20]);
    println!(
        "| model | lanes | slots | k | rows | advice | fixed | lookups | perm | committed | estimate | keygen s | prove s | prove CPU s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for id in &ids {
        let case = load_case(id).with_context(|| format!("loading model {id}"))?;
        let limbs = zkgrid_circuits::model::support::required_limbs(&case.model).max(1);
        let lookup_table = zkgrid_circuits::model::support::uses_lookup_table(&case.model);
        for lanes in LANE_CANDIDATES {
            for slots in RANGE_SLOT_CANDIDATES.into_iter().filter(|s| *s <= lanes) {
                if only.as_ref().is_some_and(|o| !o.contains(&(lanes, slots))) {
                    continue;
                }
                let params = ModelParams::new(lanes, slots, limbs);
                let probe = CircuitSettings::new(params, CircuitSettings::MAX_K, vis)
                    .with_lookup_table(lookup_table);
                let s = shape(&case.model, probe)?;
                if s.advice_columns > max_advice {
                    continue;
                }
                let Some(k) = smallest_k(s.rows_needed(), s.blinding_rows) else {
                    continue;
                };
                let settings = CircuitSettings { k, ..probe };
                let s = shape(&case.model, settings)?;
                let srs = srs_cache.load(k)?;
                let circuit = ModelCircuit::new(&case.model, settings, None)?;
                let t = Instant::now();
                let keys = keygen(&srs, &circuit, KeygenOptions::for_settings(&settings))?;
                let keygen_s = t.elapsed().as_secs_f64();
                let exec = execute(&case.model, &case.input_q)?;
                let inst = instances(&case.model, vis, &case.input_q, exec.output(), recipient)?;
                let columns = vec![inst];
                let mut best = f64::INFINITY;
                let mut best_cpu = f64::INFINITY;
                for _ in 0..proves {
                    let witness = ModelWitness {
                        input: case.input_q.clone(),
                        recipient,
                    };
                    let circuit = circuit.with_witness(witness)?;
                    let (t, c) = (Instant::now(), cpu_seconds());
                    prove(&srs, keys.pk(), &circuit, &columns)?;
                    best = best.min(t.elapsed().as_secs_f64());
                    best_cpu = best_cpu.min(cpu_seconds() - c);
                }
                println!(
                    "| {id} | {lanes} | {slots} | {k} | {} | {} | {} | {} | {} | {} | {:.0} | {keygen_s:.2} | {best:.2} | {best_cpu:.2} |",
                    s.rows_used,
                    s.advice_columns,
                    s.fixed_columns + s.selectors,
                    s.lookups,
                    s.permutation_columns,
                    s.committed_columns(),
                    s.proving_cost(),
                );
            }
        }
    }
    Ok(())
}
