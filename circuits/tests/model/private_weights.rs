//! Hashed (private) weights: the weights commitment instance binds the proof to exactly the
//! committed parameters, tampered parameter witnesses fail, the verifying key does not depend on
//! the weights' values, and AddConst / MulConst constants are committed too.

use std::sync::Arc;

use anyhow::{anyhow, ensure, Context as _};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use halo2_proofs::plonk::keygen_vk;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use zkgrid_circuits::model::{
    weights_commitment, InputVisibility, InstanceLayout, OutputVisibility, Tamper, Visibility,
    WeightsVisibility,
};
use zkgrid_circuits::{ModelCircuit, ModelWitness};
use zkgrid_models::{execute, QOp, QuantizedModel};

use crate::common::{candidate_inputs, mock, planned, rejected, rng, zoo_model};
use crate::ops_model::all_ops_model;

fn hashed(input: InputVisibility, output: OutputVisibility) -> Visibility {
    Visibility::new(input, output).with_weights(WeightsVisibility::Hashed)
}

/// Rejected by the constraints (`MockProver` verification), not by a synthesis error.
fn fails_constraints(circuit: &ModelCircuit, instances: Vec<Fr>) -> anyhow::Result<bool> {
    match mock(circuit, instances) {
        Ok(Err(failures)) => {
            println!("rejected: {failures}");
            Ok(true)
        }
        Ok(Ok(())) => Ok(false),
        Err(e) => Err(anyhow!("synthesis failed instead of the constraints: {e}")),
    }
}

/// The model with weight `index` of node `layer` changed by `delta`.
fn with_weight(model: &QuantizedModel, layer: usize, index: usize, delta: i64) -> QuantizedModel {
    let mut m = model.clone();
    if let Some(QOp::Dense { weight, .. } | QOp::Conv2d { weight, .. }) =
        m.nodes.get_mut(layer).map(|n| &mut n.op)
    {
        weight[index] += delta;
    }
    m
}

struct Case {
    model: Arc<QuantizedModel>,
    visibility: Visibility,
    circuit: ModelCircuit,
    input: Vec<i64>,
    recipient: Fr,
    instances: Vec<Fr>,
}

fn case(model: Arc<QuantizedModel>, visibility: Visibility, seed: u64) -> anyhow::Result<Case> {
    let plan = planned(&model, visibility)?;
    let input = candidate_inputs(&model, seed, 1).remove(0);
    let recipient = Fr::from(0xbeef_u64);
    let circuit = ModelCircuit::from_arc(
        model.clone(),
        plan.settings,
        Some(ModelWitness {
            input: input.clone(),
            recipient,
        }),
    )?;
    let instances = circuit.instances()?.context("witness")?;
    Ok(Case {
        model,
        visibility,
        circuit,
        input,
        recipient,
        instances,
    })
}

/// Instances agreeing with a (possibly lying) circuit's own output, with the given weights
/// commitment.
fn instances_for_output(
    c: &Case,
    circuit: &ModelCircuit,
    commitment: Fr,
) -> anyhow::Result<Vec<Fr>> {
    let layout = InstanceLayout::for_model(&c.model, c.visibility)?;
    let _ = mock(circuit, c.instances.clone());
    let output = circuit
        .synthesized_output()
        .ok_or_else(|| anyhow!("no output"))?;
    let mut out = layout.instances(&c.input, &output, c.recipient)?;
    let slot = layout.weights_index().context("weights slot")?;
    out[slot] = commitment;
    Ok(out)
}

#[test]
fn hashed_weights_bind_the_commitment() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let vis = hashed(InputVisibility::Public, OutputVisibility::Public);
    let c = case(model.clone(), vis, 5)?;
    let layout = c.circuit.instance_layout();
    ensure!(layout.weights_index() == Some(0), "weights slot first");
    ensure!(c.instances.len() == 1 + 16 + 4 + 1);
    ensure!(c.instances[0] == weights_commitment(&model)?);
    ensure!(layout.weights_commitment(&c.instances)? == Some(c.instances[0]));
    let expected = execute(&model, &c.input)?.output().to_vec();
    mock(&c.circuit, c.instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
    ensure!(c.circuit.synthesized_output() == Some(expected));

    // Any other commitment fails, including the valid commitment of other weights.
    for wrong in [
        c.instances[0] + Fr::from(1u64),
        weights_commitment(&with_weight(&model, 0, 7, 1))?,
        weights_commitment(&with_weight(&model, 2, 0, -1))?,
    ] {
        let mut instances = c.instances.clone();
        instances[0] = wrong;
        ensure!(rejected(&c.circuit, instances), "wrong commitment accepted");
    }
    // Output and recipient stay bound.
    for p in [1, 17, 20, 21] {
        let mut instances = c.instances.clone();
        instances[p] += Fr::from(1u64);
        ensure!(
            rejected(&c.circuit, instances),
            "instance {p} changed but accepted"
        );
    }
    Ok(())
}

#[test]
fn tampered_private_weights_fail() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let vis = hashed(InputVisibility::Hashed, OutputVisibility::Public);
    let c = case(model.clone(), vis, 6)?;
    mock(&c.circuit, c.instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
    let honest = weights_commitment(&model)?;

    // A row multiplies by another weight than the committed cell holds (wrong product).
    for (layer, index) in [(0, 0), (0, 100), (2, 31)] {
        let lying = c
            .circuit
            .clone()
            .with_tamper(Tamper::PrivateWeight { layer, index });
        let instances = instances_for_output(&c, &lying, honest)?;
        ensure!(
            fails_constraints(&lying, instances)?,
            "private weight {layer}/{index} accepted"
        );
    }

    // The prover computes with other weights and commits to them: rejected against the
    // requester's commitment, accepted against the commitment of the weights it used (the
    // proof is about exactly the committed weights).
    let lying = c
        .circuit
        .clone()
        .with_tamper(Tamper::CommittedWeight { layer: 0, index: 9 });
    let instances = instances_for_output(&c, &lying, honest)?;
    ensure!(
        fails_constraints(&lying, instances.clone())?,
        "other weights accepted"
    );
    let theirs = weights_commitment(&with_weight(&model, 0, 9, 1))?;
    let mut own = instances;
    own[0] = theirs;
    mock(&lying, own)?.map_err(|e| anyhow!("consistent other weights rejected: {e}"))?;

    // Out-of-range weights that pack to the same element (same commitment) fail the range
    // checks.
    for (layer, index) in [(0, 0), (2, 4)] {
        let lying = c
            .circuit
            .clone()
            .with_tamper(Tamper::PackOverflow { layer, index });
        let instances = instances_for_output(&c, &lying, honest)?;
        ensure!(
            fails_constraints(&lying, instances)?,
            "packing overflow {layer}/{index} accepted"
        );
    }
    Ok(())
}

#[test]
fn hashed_weights_differential_mlp_tiny() -> anyhow::Result<()> {
    // Seeded inputs (edge values included): every witness satisfies the circuit and its output
    // is the executor's.
    let model = zoo_model("mlp_tiny")?;
    let vis = hashed(InputVisibility::Hashed, OutputVisibility::Public);
    let plan = planned(&model, vis)?;
    let keygen = ModelCircuit::from_arc(model.clone(), plan.settings, None)?;
    let inputs = candidate_inputs(&model, 77, 32);
    ensure!(inputs.len() == 32);
    for input in inputs {
        let Ok(run) = execute(&model, &input) else {
            continue;
        };
        let circuit = keygen.with_witness(ModelWitness {
            input,
            recipient: Fr::from(5u64),
        })?;
        let instances = circuit.instances()?.context("witness")?;
        mock(&circuit, instances)?.map_err(|e| anyhow!("honest rejected: {e}"))?;
        ensure!(circuit.synthesized_output().as_deref() == Some(run.output()));
    }
    Ok(())
}

#[test]
fn hashed_weights_differential_cnn() -> anyhow::Result<()> {
    // Conv2d reuses each committed weight cell at every window position.
    let model = zoo_model("cnn_small")?;
    let vis = hashed(InputVisibility::Private, OutputVisibility::Public);
    let plan = planned(&model, vis)?;
    let keygen = ModelCircuit::from_arc(model.clone(), plan.settings, None)?;
    for input in candidate_inputs(&model, 41, 3) {
        let circuit = keygen.with_witness(ModelWitness {
            input: input.clone(),
            recipient: Fr::from(3u64),
        })?;
        let instances = circuit.instances()?.context("witness")?;
        mock(&circuit, instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
        let expected = execute(&model, &input)?.output().to_vec();
        ensure!(
            circuit.synthesized_output() == Some(expected),
            "output differs"
        );
        let lying = circuit.clone().with_tamper(Tamper::PrivateWeight {
            layer: 0,
            index: 13,
        });
        ensure!(
            fails_constraints(&lying, instances)?,
            "conv weight lie accepted"
        );
    }
    Ok(())
}

#[test]
fn verifying_key_does_not_depend_on_the_weights() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    // Same shapes and bit widths, other values.
    let other = with_weight(&with_weight(&model, 0, 3, 1), 2, 5, -1);
    ensure!(weights_commitment(&other)? != weights_commitment(&model)?);
    let vis = hashed(InputVisibility::Hashed, OutputVisibility::Hashed);
    let plan = planned(&model, vis)?;
    ensure!(planned(&other, vis)?.settings == plan.settings, "same plan");
    let params = ParamsKZG::<Bn256>::setup(plan.settings.k, rng(0));
    let vk_bytes = |m: &QuantizedModel| -> anyhow::Result<Vec<u8>> {
        let circuit = ModelCircuit::new(m, plan.settings, None)?;
        Ok(keygen_vk(&params, &circuit)?.to_bytes(SerdeFormat::RawBytes))
    };
    ensure!(
        vk_bytes(&model)? == vk_bytes(&other)?,
        "VK depends on weight values"
    );
    // With fixed weights it does (the weights are the fixed columns).
    let fixed = planned(&model, Visibility::PUBLIC)?;
    let fixed_vk = |m: &QuantizedModel| -> anyhow::Result<Vec<u8>> {
        let params = ParamsKZG::<Bn256>::setup(fixed.settings.k, rng(0));
        let circuit = ModelCircuit::new(m, fixed.settings, None)?;
        Ok(keygen_vk(&params, &circuit)?.to_bytes(SerdeFormat::RawBytes))
    };
    ensure!(fixed_vk(&model)? != fixed_vk(&other)?);
    Ok(())
}

#[test]
fn every_op_with_hashed_weights_matches_the_executor() -> anyhow::Result<()> {
    // The model with every supported op, AddConst / MulConst constants committed too.
    let model = Arc::new(all_ops_model());
    let vis = hashed(InputVisibility::Public, OutputVisibility::Public);
    let plan = planned(&model, vis)?;
    let keygen = ModelCircuit::from_arc(model.clone(), plan.settings, None)?;
    let mut checked = 0;
    for input in candidate_inputs(&model, 91, 6) {
        let Ok(run) = execute(&model, &input) else {
            continue;
        };
        let circuit = keygen.with_witness(ModelWitness {
            input,
            recipient: Fr::from(8u64),
        })?;
        let instances = circuit.instances()?.context("witness")?;
        mock(&circuit, instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
        ensure!(circuit.synthesized_output().as_deref() == Some(run.output()));
        // A lying copy of a committed constant fails, for each AddConst / MulConst layer.
        for (layer, node) in model.nodes.iter().enumerate() {
            if matches!(node.op, QOp::AddConst { .. } | QOp::MulConst { .. }) {
                let lying = circuit
                    .clone()
                    .with_tamper(Tamper::PrivateWeight { layer, index: 1 });
                ensure!(
                    fails_constraints(&lying, instances.clone())?,
                    "{} constant lie accepted",
                    node.name
                );
            }
        }
        checked += 1;
    }
    ensure!(checked >= 3, "only {checked} inputs ran");
    ensure!(
        model
            .nodes
            .iter()
            .filter(|n| matches!(n.op, QOp::AddConst { .. } | QOp::MulConst { .. }))
            .count()
            >= 2,
        "the model has AddConst and MulConst layers"
    );
    Ok(())
}
