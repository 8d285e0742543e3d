//! Soundness and typed errors: wrong instances, tampered witnesses, wrong hashes, unsupported
//! operations, too small circuits.

use std::sync::Arc;

use anyhow::{ensure, Context as _};
use halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_circuits::model::{
    commitment, decode_output, instances, CircuitSettings, InputVisibility, OutputVisibility,
    Tamper, Visibility,
};
use zkgrid_circuits::{CircuitError, ModelCircuit, ModelParams, ModelWitness};
use zkgrid_models::{QOp, QuantizedModel};

use crate::common::{
    case_with, instance_changes_fail, other_input_hash_fails, planned, rejected, tamper_fails_in,
    zoo_model, Case,
};
use crate::ops_model::{all_ops_model, lookup_model};

fn case(model: Arc<QuantizedModel>, visibility: Visibility) -> anyhow::Result<Case> {
    let settings = planned(&model, visibility)?.settings;
    case_with(model, visibility, settings)
}

/// [`case`] on the plan's pool with range checks by base-4 digits, at its smallest `k`.
fn digit_case(model: Arc<QuantizedModel>, visibility: Visibility) -> anyhow::Result<Case> {
    let mut settings = planned(&model, visibility)?.settings;
    settings.params = settings.params.with_range_digits(true);
    settings.k = CircuitSettings::MAX_K;
    let fitted = zkgrid_circuits::model::shape(&model, settings)?;
    ensure!(fitted.lookups == 0, "digit range checks use no lookup");
    settings.k =
        zkgrid_circuits::model::plan::smallest_k(fitted.rows_needed(), fitted.blinding_rows)
            .context("digit layout fits")?;
    case_with(model, visibility, settings)
}

#[test]
fn wrong_public_instances_fail() -> anyhow::Result<()> {
    let c = case(zoo_model("mlp_tiny")?, Visibility::PUBLIC)?;
    let layout = c.circuit.instance_layout();
    let out = layout.output_range();
    instance_changes_fail(
        &c,
        &[0, 15, out.start, out.end - 1, layout.recipient_index()],
    )?;
    // A shorter instance vector (recipient missing) is rejected too.
    let mut short = c.instances.clone();
    short.pop();
    ensure!(rejected(&c.circuit, short), "missing recipient accepted");
    Ok(())
}

/// The tampered circuit fails even with instances that match its own (lying) output.
fn tamper_fails(model: Arc<QuantizedModel>, tamper: Tamper) -> anyhow::Result<()> {
    tamper_fails_in(case(model, Visibility::PUBLIC)?, tamper)
}

#[test]
fn tampered_relu_fails() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    ensure!(
        matches!(model.nodes[1].op, QOp::Relu),
        "layer 1 is the relu"
    );
    for index in [0, 3, 7] {
        tamper_fails(model.clone(), Tamper::Relu { layer: 1, index })?;
    }
    Ok(())
}

#[test]
fn tampered_rescale_quotient_fails() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    for (layer, index) in [(0, 0), (0, 5), (2, 3)] {
        tamper_fails(model.clone(), Tamper::RescaleQuotient { layer, index })?;
    }
    Ok(())
}

#[test]
fn tampered_witnesses_fail_with_digit_range_checks() -> anyhow::Result<()> {
    // Range checks by base-4 digits instead of the 8-bit lookup: a lying ReLU or rescale
    // quotient (whose remainder or sign witness leaves its range) is still rejected, and so
    // is every changed instance.
    let model = zoo_model("mlp_tiny")?;
    let c = digit_case(model.clone(), Visibility::PUBLIC)?;
    let layout = c.circuit.instance_layout();
    let out = layout.output_range();
    instance_changes_fail(&c, &[0, out.start, layout.recipient_index()])?;
    for tamper in [
        Tamper::Relu { layer: 1, index: 3 },
        Tamper::RescaleQuotient { layer: 0, index: 5 },
        Tamper::RescaleQuotient { layer: 2, index: 3 },
    ] {
        tamper_fails_in(digit_case(model.clone(), Visibility::PUBLIC)?, tamper)?;
    }
    let ops = Arc::new(all_ops_model());
    for tamper in [
        Tamper::RescaleQuotient {
            layer: 0,
            index: 10,
        },
        Tamper::LeakyRelu { layer: 1, index: 4 },
        Tamper::MaxPool { layer: 2, index: 5 },
        Tamper::RescaleQuotient { layer: 4, index: 0 },
    ] {
        tamper_fails_in(digit_case(ops.clone(), Visibility::PUBLIC)?, tamper)?;
    }
    Ok(())
}

#[test]
fn tampered_ops_fail() -> anyhow::Result<()> {
    let model = Arc::new(all_ops_model());
    for tamper in [
        Tamper::RescaleQuotient {
            layer: 0,
            index: 10,
        }, // conv rescale
        Tamper::LeakyRelu { layer: 1, index: 4 },
        Tamper::MaxPool { layer: 2, index: 5 },
        Tamper::RescaleQuotient { layer: 3, index: 2 }, // avg pool division (valid cells)
        Tamper::RescaleQuotient { layer: 4, index: 0 }, // avg pool division (full window)
        Tamper::RescaleQuotient { layer: 7, index: 8 }, // mul-const rescale
        Tamper::LeakyRelu {
            layer: 11,
            index: 1,
        },
        Tamper::Relu {
            layer: 12,
            index: 2,
        }, // LeakyReLU with α = 0 is a ReLU
    ] {
        tamper_fails(model.clone(), tamper)?;
    }
    Ok(())
}

#[test]
fn hashed_visibility_binds_the_hashes() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let hashed = Visibility::new(InputVisibility::Hashed, OutputVisibility::Hashed);
    let c = case(model.clone(), hashed)?;
    ensure!(c.instances.len() == 3, "input hash, output hash, recipient");
    ensure!(c.instances[0] == commitment(&c.input), "input commitment");
    ensure!(c.instances[1] == commitment(&c.output), "output commitment");
    instance_changes_fail(&c, &[0, 1, 2])?;
    // A hash of another input is rejected even though it is a valid hash.
    other_input_hash_fails(&c)?;

    let private = Visibility::new(InputVisibility::Private, OutputVisibility::Hashed);
    let p = case(model.clone(), private)?;
    ensure!(p.instances.len() == 2, "output hash, recipient");
    instance_changes_fail(&p, &[0, 1])?;
    let public_out = Visibility::new(InputVisibility::Hashed, OutputVisibility::Public);
    let q = case(model, public_out)?;
    instance_changes_fail(&q, &[0, 1, q.instances.len() - 1])?;
    Ok(())
}

#[test]
fn instances_encode_and_decode() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let input: Vec<i64> = (0..16).map(|i| i - 8).collect();
    let output = vec![-3, 0, 5, -32768];
    let public = instances(&model, Visibility::PUBLIC, &input, &output, Fr::from(9u64))?;
    ensure!(public.len() == 16 + 4 + 1);
    ensure!(
        public[0] == -Fr::from(8u64),
        "negative values encode as p - |x|"
    );
    ensure!(public[19] == -Fr::from(32768u64));
    ensure!(decode_output(&model, Visibility::PUBLIC, &public)? == Some(output.clone()));
    let hashed = Visibility::new(InputVisibility::Private, OutputVisibility::Hashed);
    let h = instances(&model, hashed, &input, &output, Fr::from(9u64))?;
    ensure!(decode_output(&model, hashed, &h)?.is_none());
    let mut bad = public.clone();
    bad[16] = Fr::from(1u64 << 20);
    ensure!(matches!(
        decode_output(&model, Visibility::PUBLIC, &bad),
        Err(CircuitError::InvalidInstance { index: 16, .. })
    ));
    ensure!(matches!(
        instances(
            &model,
            Visibility::PUBLIC,
            &input[1..],
            &output,
            Fr::from(9u64)
        ),
        Err(CircuitError::LengthMismatch { .. })
    ));
    Ok(())
}

#[test]
fn unsupported_ops_are_typed_errors() -> anyhow::Result<()> {
    let base = zoo_model("mlp_tiny")?;
    let settings = planned(&base, Visibility::PUBLIC)?.settings;
    let mut with_softmax = (*base).clone();
    let last = with_softmax.nodes.len();
    with_softmax.nodes.push(zkgrid_models::QNode {
        name: "softmax".into(),
        source_op: "Softmax".into(),
        op: QOp::Softmax {
            in_shift: 2,
            table_bits: 4,
            exp_table: vec![1; 16],
            out_shift: 8,
        },
        inputs: vec![last],
        shape: vec![1, 4],
        scale: 8,
    });
    with_softmax.validate()?;
    ensure!(matches!(
        ModelCircuit::new(&with_softmax, settings, None),
        Err(CircuitError::UnsupportedOp {
            kind: "softmax",
            ..
        })
    ));
    Ok(())
}

#[test]
fn lookups_need_the_table_and_reject_tampering() -> anyhow::Result<()> {
    let model = Arc::new(lookup_model());
    let plan = planned(&model, Visibility::PUBLIC)?;
    ensure!(
        plan.settings.lookup_table,
        "planner enables the lookup table"
    );
    let without = plan.settings.with_lookup_table(false);
    ensure!(matches!(
        ModelCircuit::new(&model, without, None),
        Err(CircuitError::InvalidParams {
            parameter: "lookup_table",
            ..
        })
    ));
    for tamper in [
        Tamper::Lookup { layer: 0, index: 2 },
        Tamper::Lookup { layer: 1, index: 9 }, // add_relu lookup
        Tamper::Relu { layer: 1, index: 4 },   // its relu
        Tamper::Lookup { layer: 3, index: 5 },
    ] {
        tamper_fails(model.clone(), tamper)?;
    }
    Ok(())
}

#[test]
fn too_small_circuits_are_typed_errors() -> anyhow::Result<()> {
    let model = zoo_model("mlp_small")?;
    let plan = planned(&model, Visibility::PUBLIC)?;
    let small = CircuitSettings {
        k: CircuitSettings::MIN_K,
        ..plan.settings
    };
    ensure!(
        plan.settings.k > small.k,
        "mlp_small needs more than 2^9 rows"
    );
    let err = ModelCircuit::new(&model, small, None);
    ensure!(
        matches!(err, Err(CircuitError::NotEnoughRows { needed, available }) if needed == plan.shape.rows_needed() && needed > available),
        "{err:?}"
    );
    // Range slots narrower than the model's shifts and activations.
    let narrow = CircuitSettings {
        params: ModelParams::new(plan.settings.params.lanes, 1, 1),
        ..plan.settings
    };
    ensure!(matches!(
        ModelCircuit::new(&model, narrow, None),
        Err(CircuitError::RangeTooWide { .. })
    ));
    let bad_k = CircuitSettings {
        k: 40,
        ..plan.settings
    };
    ensure!(matches!(
        ModelCircuit::new(&model, bad_k, None),
        Err(CircuitError::InvalidParams { parameter: "k", .. })
    ));
    let wrong_len = ModelCircuit::new(
        &model,
        plan.settings,
        Some(ModelWitness {
            input: vec![0; 10],
            recipient: Fr::from(1u64),
        }),
    );
    ensure!(matches!(
        wrong_len,
        Err(CircuitError::LengthMismatch { .. })
    ));
    Ok(())
}
