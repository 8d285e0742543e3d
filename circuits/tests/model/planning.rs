//! The planner picks the smallest `k` and its row count is the one synthesis really uses.

use anyhow::{anyhow, ensure};
use halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_circuits::model::{
    instances, plan, shape, CircuitSettings, InputVisibility, OutputVisibility, Visibility,
};
use zkgrid_circuits::{CircuitError, ModelCircuit, ModelWitness};
use zkgrid_models::{execute, zoo};

use crate::common::{mock, zoo_model, BUDGET};

#[test]
fn plans_are_minimal_and_exact() -> anyhow::Result<()> {
    for name in zoo::NAMES {
        let model = zoo_model(name)?;
        for visibility in [
            Visibility::PUBLIC,
            Visibility::new(InputVisibility::Hashed, OutputVisibility::Hashed),
        ] {
            let p = plan(&model, visibility, BUDGET)?;
            let s = p.shape;
            println!(
                "{name} {:?}/{:?}: k={} lanes={} slots={} limbs={} rows={} advice={} fixed={} \
                 lookups={} committed={} instances={}",
                visibility.input,
                visibility.output,
                s.k,
                p.settings.params.lanes,
                p.settings.params.range_slots,
                p.settings.params.limbs_per_slot,
                s.rows_used,
                s.advice_columns,
                s.fixed_columns,
                s.lookups,
                s.committed_columns(),
                s.instance_values
            );
            ensure!(s.advice_columns <= BUDGET, "{name}: over budget");
            ensure!(s.rows_needed() <= s.usable_rows, "{name}: does not fit");
            ensure!(
                shape(&model, p.settings)? == s,
                "{name}: shape() disagrees with plan()"
            );
            if p.settings.k > CircuitSettings::MIN_K {
                let smaller = CircuitSettings {
                    k: p.settings.k - 1,
                    ..p.settings
                };
                ensure!(
                    matches!(
                        ModelCircuit::new(&model, smaller, None),
                        Err(CircuitError::NotEnoughRows { .. })
                    ),
                    "{name}: k - 1 would fit, plan not minimal"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn dry_run_rows_equal_synthesized_rows() -> anyhow::Result<()> {
    for name in ["mlp_tiny", "digits_mlp"] {
        let model = zoo_model(name)?;
        for visibility in [
            Visibility::PUBLIC,
            Visibility::new(InputVisibility::Private, OutputVisibility::Hashed),
        ] {
            let p = plan(&model, visibility, BUDGET)?;
            let n: usize = model.input.shape.iter().product();
            let input = vec![1i64; n];
            let output = execute(&model, &input)?.output().to_vec();
            let circuit = ModelCircuit::new(
                &model,
                p.settings,
                Some(ModelWitness {
                    input: input.clone(),
                    recipient: Fr::from(3u64),
                }),
            )?;
            let public = instances(&model, visibility, &input, &output, Fr::from(3u64))?;
            mock(&circuit, public)?.map_err(|e| anyhow!(e))?;
            ensure!(
                circuit.synthesized_rows() == Some(p.shape.rows_used),
                "{name}: synthesized {:?} rows, planned {}",
                circuit.synthesized_rows(),
                p.shape.rows_used
            );
        }
    }
    Ok(())
}

#[test]
fn budgets_are_respected() -> anyhow::Result<()> {
    let model = zoo_model("mlp_small")?;
    let roomy = plan(&model, Visibility::PUBLIC, BUDGET)?;
    let tight = plan(&model, Visibility::PUBLIC, 16)?;
    ensure!(tight.shape.advice_columns <= 16);
    ensure!(
        tight.shape.k >= roomy.shape.k,
        "a smaller budget cannot lower k"
    );
    ensure!(matches!(
        plan(&model, Visibility::PUBLIC, 5),
        Err(CircuitError::NoFeasiblePlan {
            column_budget: 5,
            ..
        })
    ));
    Ok(())
}
