//! Differential tests: circuit output cells == `zkgrid_models::execute`, under `MockProver`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, ensure};
use halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_circuits::model::{instances, Visibility};
use zkgrid_circuits::{ModelCircuit, ModelWitness};
use zkgrid_models::{execute, QuantizedModel};

use crate::common::{
    candidate_inputs, mock, planned, rejected, self_consistent_instances, zoo_model,
};

/// Inputs per model.
pub const INPUTS: usize = 200;
/// Inputs the executor rejects that are also run through the circuit (must fail).
const REJECTED_CHECKED: usize = 3;

/// Runs `target` executable inputs (and a few rejected ones) of `model` through `MockProver`
/// on all cores; prints the plan and timings.
pub fn differential(
    label: &str,
    model: Arc<QuantizedModel>,
    visibility: Visibility,
    target: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let plan = planned(&model, visibility)?;
    let base = ModelCircuit::from_arc(model.clone(), plan.settings, None)?;
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for input in candidate_inputs(&model, seed, 4 * target) {
        if accepted.len() == target {
            break;
        }
        match execute(&model, &input) {
            Ok(run) => accepted.push((input, run.output().to_vec())),
            Err(_) => refused.push(input),
        }
    }
    ensure!(
        accepted.len() == target,
        "{label}: only {} of {} candidate inputs execute",
        accepted.len(),
        4 * target
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let base = &base;
                let model = &model;
                let accepted = &accepted;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (i, (input, expected)) in
                        accepted.iter().enumerate().skip(t).step_by(threads)
                    {
                        if let Err(e) = check_one(base, model, visibility, input, expected, i) {
                            failures.push(format!("input {i}: {e}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec!["thread panicked".into()]))
            .collect()
    });
    let elapsed = started.elapsed();
    ensure!(
        failures.is_empty(),
        "{label}: {} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    for input in refused.iter().take(REJECTED_CHECKED) {
        let circuit = base.with_witness(ModelWitness {
            input: input.clone(),
            recipient: Fr::from(7u64),
        })?;
        let cheating = self_consistent_instances(&circuit, input, Fr::from(7u64));
        let rejected_by_circuit = match cheating {
            Some(instances) => rejected(&circuit, instances),
            None => true,
        };
        ensure!(
            rejected_by_circuit,
            "{label}: an input the executor rejects was proven"
        );
    }
    let s = &plan.shape;
    println!(
        "{label}: k={} lanes={} range_slots={} limbs={} rows={}/{} advice={} fixed={} selectors={} \
         lookups={} instances={} | {} inputs in {:.1} s on {threads} threads = {:.0} ms per input \
         per thread; {} executor-rejected inputs seen, {} checked to fail",
        s.k,
        plan.settings.params.lanes,
        plan.settings.params.range_slots,
        plan.settings.params.limbs_per_slot,
        s.rows_used,
        s.usable_rows,
        s.advice_columns,
        s.fixed_columns,
        s.selectors,
        s.lookups,
        s.instance_values,
        accepted.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 * threads as f64 / accepted.len() as f64,
        refused.len(),
        refused.len().min(REJECTED_CHECKED),
    );
    Ok(())
}

/// One input: `MockProver` passes with the executor's instances and the output cells equal
/// the executor's output.
fn check_one(
    base: &ModelCircuit,
    model: &QuantizedModel,
    visibility: Visibility,
    input: &[i64],
    expected: &[i64],
    i: usize,
) -> anyhow::Result<()> {
    let recipient = Fr::from(1_000_003u64 * (i as u64 + 1));
    let circuit = base.with_witness(ModelWitness {
        input: input.to_vec(),
        recipient,
    })?;
    let public = instances(model, visibility, input, expected, recipient)?;
    mock(&circuit, public)?.map_err(|e| anyhow!(e))?;
    ensure!(
        circuit.synthesized_output().as_deref() == Some(expected),
        "output cells {:?} != executor {:?}",
        circuit.synthesized_output(),
        expected
    );
    Ok(())
}

#[test]
fn mlp_tiny_matches_executor() -> anyhow::Result<()> {
    differential(
        "mlp_tiny",
        zoo_model("mlp_tiny")?,
        Visibility::PUBLIC,
        INPUTS,
        1,
    )
}

#[test]
fn mlp_small_matches_executor() -> anyhow::Result<()> {
    differential(
        "mlp_small",
        zoo_model("mlp_small")?,
        Visibility::PUBLIC,
        INPUTS,
        2,
    )
}

#[test]
fn mlp_wide_matches_executor() -> anyhow::Result<()> {
    differential(
        "mlp_wide",
        zoo_model("mlp_wide")?,
        Visibility::PUBLIC,
        INPUTS,
        3,
    )
}

#[test]
fn cnn_small_matches_executor() -> anyhow::Result<()> {
    differential(
        "cnn_small",
        zoo_model("cnn_small")?,
        Visibility::PUBLIC,
        INPUTS,
        4,
    )
}

#[test]
fn digits_mlp_matches_executor() -> anyhow::Result<()> {
    differential(
        "digits_mlp",
        zoo_model("digits_mlp")?,
        Visibility::PUBLIC,
        INPUTS,
        5,
    )
}
