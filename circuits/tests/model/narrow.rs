//! The narrow backend (one advice column, `CircuitSettings::narrow`) on whole models: the same
//! statement as the pool (outputs equal `execute`, the same instances), tampered witnesses and
//! changed instances rejected, typed errors for what it does not support, and the planner's
//! choice.

use std::sync::Arc;

use anyhow::{anyhow, ensure, Context as _};
use halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_circuits::model::plan::{candidates, choose, smallest_k};
use zkgrid_circuits::model::{
    commitment, CircuitSettings, InputVisibility, OutputVisibility, PlanGoal, Tamper, Visibility,
    WeightsVisibility,
};
use zkgrid_circuits::{CircuitError, ModelCircuit, ModelParams, ModelWitness};
use zkgrid_models::{execute, QuantizedModel};

use crate::common::{
    case_with_input, instance_changes_fail, mock, other_input_hash_fails, outputs_equal_executor,
    rejected, seeded_input, self_consistent_instances, tamper_fails_in, zoo_model, Case,
};
use crate::ops_model::{all_ops_model, conv_dense_model};

/// Narrow settings for `model` at the smallest `k` that holds it.
fn narrow_settings(
    model: &QuantizedModel,
    visibility: Visibility,
) -> anyhow::Result<CircuitSettings> {
    let mut settings =
        CircuitSettings::new(ModelParams::default(), CircuitSettings::MAX_K, visibility)
            .with_narrow(true);
    let shape = zkgrid_circuits::model::shape(model, settings)?;
    ensure!(shape.advice_columns == 1, "one advice column");
    ensure!(
        shape.lookups == 0 && shape.selectors == 0,
        "no lookup, no selector"
    );
    settings.k = smallest_k(shape.rows_needed(), shape.blinding_rows).context("fits")?;
    Ok(settings)
}

fn case(
    model: Arc<QuantizedModel>,
    visibility: Visibility,
    input: Vec<i64>,
) -> anyhow::Result<Case> {
    let settings = narrow_settings(&model, visibility)?;
    case_with_input(model, visibility, settings, input)
}

#[test]
fn narrow_outputs_equal_the_executor() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    outputs_equal_executor(&model, narrow_settings(&model, Visibility::PUBLIC)?, 7, 12)
}

#[test]
fn narrow_convolutions_equal_the_executor_and_reject_lies() -> anyhow::Result<()> {
    let model = Arc::new(conv_dense_model());
    model.validate()?;
    outputs_equal_executor(&model, narrow_settings(&model, Visibility::PUBLIC)?, 11, 6)?;
    // A lying quotient in the convolution (first output, a padded corner; and one inside) and
    // in the dense layer, a lying ReLU: each rejected with instances that follow the lie.
    for tamper in [
        Tamper::RescaleQuotient { layer: 0, index: 0 },
        Tamper::RescaleQuotient {
            layer: 0,
            index: 10,
        },
        Tamper::Relu { layer: 1, index: 7 },
        Tamper::RescaleQuotient { layer: 3, index: 2 },
    ] {
        let c = case(model.clone(), Visibility::PUBLIC, seeded_input(&model))?;
        tamper_fails_in(c, tamper)?;
    }
    Ok(())
}

#[test]
fn narrow_counted_rows_equal_synthesized_rows() -> anyhow::Result<()> {
    // The planner counts rows on a counting tape; key generation and proving lay out a
    // recording one. They must agree exactly.
    let model = zoo_model("mlp_tiny")?;
    for vis in [
        Visibility::PUBLIC,
        Visibility::new(InputVisibility::Hashed, OutputVisibility::Hashed),
    ] {
        let c = case(model.clone(), vis, seeded_input(&model))?;
        let counted = zkgrid_circuits::model::shape(&model, *c.circuit.settings())?.rows_used;
        mock(&c.circuit, c.instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
        ensure!(
            c.circuit.synthesized_rows() == Some(counted),
            "counted {counted}, synthesized {:?}",
            c.circuit.synthesized_rows()
        );
    }
    Ok(())
}

#[test]
fn narrow_rejects_changed_instances() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let c = case(model.clone(), Visibility::PUBLIC, seeded_input(&model))?;
    let layout = c.circuit.instance_layout();
    let out = layout.output_range();
    instance_changes_fail(
        &c,
        &[0, 15, out.start, out.end - 1, layout.recipient_index()],
    )?;
    let mut short = c.instances.clone();
    short.pop();
    ensure!(rejected(&c.circuit, short), "missing recipient accepted");
    Ok(())
}

#[test]
fn narrow_hashes_bind_input_and_output() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let hashed = Visibility::new(InputVisibility::Hashed, OutputVisibility::Hashed);
    let c = case(model.clone(), hashed, seeded_input(&model))?;
    ensure!(c.instances.len() == 3, "input hash, output hash, recipient");
    ensure!(c.instances[0] == commitment(&c.input), "input commitment");
    instance_changes_fail(&c, &[0, 1, 2])?;
    other_input_hash_fails(&c)?;
    let public_out = Visibility::new(InputVisibility::Hashed, OutputVisibility::Public);
    let q = case(model.clone(), public_out, seeded_input(&model))?;
    instance_changes_fail(&q, &[0, 1, q.instances.len() - 1])?;
    Ok(())
}

#[test]
fn narrow_rejects_tampered_witnesses() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    for vis in [
        Visibility::PUBLIC,
        Visibility::new(InputVisibility::Hashed, OutputVisibility::Public),
    ] {
        for tamper in [
            Tamper::Relu { layer: 1, index: 0 },
            Tamper::Relu { layer: 1, index: 3 },
            Tamper::RescaleQuotient { layer: 0, index: 0 },
            Tamper::RescaleQuotient { layer: 0, index: 5 },
            Tamper::RescaleQuotient { layer: 2, index: 3 },
        ] {
            let c = case(model.clone(), vis, seeded_input(&model))?;
            let lying = c.circuit.clone().with_tamper(tamper);
            ensure!(
                self_consistent_instances(&lying, &c.input, c.recipient).is_some(),
                "{tamper:?}: the lying witness has an integer output"
            );
            tamper_fails_in(c, tamper)?;
        }
    }
    Ok(())
}

#[test]
fn narrow_rejects_out_of_range_inputs() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let half = 1i64 << (model.bits - 1);
    for bad in [half, -half - 1, 1 << 40] {
        let mut input = seeded_input(&model);
        input[2] = bad;
        ensure!(
            execute(&model, &input).is_err(),
            "the executor rejects {bad}"
        );
        let settings = narrow_settings(&model, Visibility::PUBLIC)?;
        let circuit = ModelCircuit::from_arc(
            model.clone(),
            settings,
            Some(ModelWitness {
                input: input.clone(),
                recipient: Fr::from(1u64),
            }),
        )?;
        // Whatever the prover publishes for it, the input cell's range check fails.
        let forged = self_consistent_instances(&circuit, &input, Fr::from(1u64));
        let instances =
            forged.unwrap_or_else(|| vec![Fr::from(0u64); circuit.instance_layout().len()]);
        ensure!(rejected(&circuit, instances), "input {bad} accepted");
    }
    Ok(())
}

#[test]
fn narrow_unsupported_is_a_typed_error() -> anyhow::Result<()> {
    let ops = all_ops_model();
    let settings =
        CircuitSettings::new(ModelParams::default(), 16, Visibility::PUBLIC).with_narrow(true);
    match ModelCircuit::new(&ops, settings, None) {
        Err(CircuitError::UnsupportedOp { .. }) => {}
        other => return Err(anyhow!("expected UnsupportedOp, got {other:?}")),
    }
    let tiny = zoo_model("mlp_tiny")?;
    let hashed_weights = Visibility::PUBLIC.with_weights(WeightsVisibility::Hashed);
    let settings =
        CircuitSettings::new(ModelParams::default(), 16, hashed_weights).with_narrow(true);
    ensure!(
        matches!(
            ModelCircuit::new(&tiny, settings, None),
            Err(CircuitError::InvalidParams { .. })
        ),
        "hashed weights are rejected"
    );
    let private = Visibility::new(InputVisibility::Private, OutputVisibility::Public);
    let settings = CircuitSettings::new(ModelParams::default(), 16, private).with_narrow(true);
    ensure!(
        matches!(
            ModelCircuit::new(&tiny, settings, None),
            Err(CircuitError::InvalidParams { .. })
        ),
        "a private input is rejected"
    );
    // Too small a circuit is a typed error too.
    let settings =
        CircuitSettings::new(ModelParams::default(), 9, Visibility::PUBLIC).with_narrow(true);
    ensure!(
        matches!(
            ModelCircuit::new(&tiny, settings, None),
            Err(CircuitError::NotEnoughRows { .. })
        ),
        "too few rows are reported"
    );
    Ok(())
}

#[test]
fn planner_offers_narrow_for_gas_only() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    for vis in [
        Visibility::PUBLIC,
        Visibility::new(InputVisibility::Hashed, OutputVisibility::Public),
    ] {
        let feasible = candidates(&model, vis, 96)?;
        let narrow: Vec<_> = feasible.iter().filter(|p| p.settings.narrow).collect();
        ensure!(narrow.len() == 1, "one narrow candidate");
        let gas = choose(&feasible, PlanGoal::Gas).context("gas plan")?;
        ensure!(
            gas.settings.narrow,
            "gas picks the narrow backend ({vis:?})"
        );
        ensure!(
            gas.shape.verifier_commitments()
                < feasible
                    .iter()
                    .filter(|p| !p.settings.narrow)
                    .map(|p| p.shape.verifier_commitments())
                    .min()
                    .unwrap_or(usize::MAX),
            "fewer commitments than every pool layout"
        );
        let prove = choose(&feasible, PlanGoal::Prove).context("prove plan")?;
        ensure!(!prove.settings.narrow, "prove keeps the pool");
    }
    // A model with ops the narrow backend lacks gets no narrow candidate.
    let ops = all_ops_model();
    let feasible = candidates(&ops, Visibility::PUBLIC, 96)?;
    ensure!(
        feasible.iter().all(|p| !p.settings.narrow),
        "no narrow candidate for unsupported ops"
    );
    Ok(())
}
