//! The planner picks the smallest `k` and its row count is the one synthesis really uses.

use anyhow::{anyhow, ensure};
use halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_circuits::model::support::required_chips;
use zkgrid_circuits::model::{
    instances, plan, plan_with, shape, CircuitSettings, InputVisibility, OutputVisibility,
    PlanGoal, Visibility,
};
use zkgrid_circuits::{ChipSet, CircuitError, ModelCircuit, ModelWitness};
use zkgrid_models::{execute, zoo};

use crate::common::{mock, pool_plan, zoo_model, BUDGET};

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
            ensure!(
                p.settings.chips == required_chips(&model, visibility.weights),
                "{name}: plan configures other chips than the model needs"
            );
            ensure!(s.rows_needed() <= s.usable_rows, "{name}: does not fit");
            ensure!(
                visibility.needs_poseidon() || !p.settings.poseidon_blocks,
                "{name}: Poseidon blocks without Poseidon"
            );
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
    // Below the pool's smallest layout only the narrow backend (one advice column) fits.
    let narrow = plan(&model, Visibility::PUBLIC, 5)?;
    ensure!(narrow.settings.narrow && narrow.shape.advice_columns == 1);
    ensure!(matches!(
        plan(&model, Visibility::PUBLIC, 0),
        Err(CircuitError::NoFeasiblePlan {
            column_budget: 0,
            ..
        })
    ));
    Ok(())
}

#[test]
fn goals_trade_proving_time_for_verifier_commitments() -> anyhow::Result<()> {
    let hashed = Visibility::new(InputVisibility::Hashed, OutputVisibility::Public);
    for name in ["mlp_tiny", "mlp_small", "cnn_small"] {
        let model = zoo_model(name)?;
        for visibility in [Visibility::PUBLIC, hashed] {
            let [prove, balanced, gas] = [PlanGoal::Prove, PlanGoal::Balanced, PlanGoal::Gas]
                .map(|goal| plan_with(&model, visibility, BUDGET, goal));
            let (prove, balanced, gas) = (prove?.shape, balanced?.shape, gas?.shape);
            println!(
                "{name} {:?}: verifier cost prove/balanced/gas {:.1}/{:.1}/{:.1}, cost \
                 {:.0}/{:.0}/{:.0}",
                visibility.input,
                prove.verifier_cost(),
                balanced.verifier_cost(),
                gas.verifier_cost(),
                prove.proving_cost(),
                balanced.proving_cost(),
                gas.proving_cost()
            );
            ensure!(gas.verifier_cost() <= balanced.verifier_cost());
            ensure!(balanced.verifier_cost() <= prove.verifier_cost());
            ensure!(prove.proving_cost() <= balanced.proving_cost());
            ensure!(prove.proving_cost() <= gas.proving_cost());
            ensure!(
                balanced.proving_cost()
                    <= zkgrid_circuits::model::plan::BALANCED_SLACK * prove.proving_cost(),
                "{name}: balanced beyond the slack"
            );
        }
    }
    // The default is balanced; names round-trip and a wrong one is a typed error.
    let model = zoo_model("mlp_tiny")?;
    ensure!(
        plan(&model, hashed, BUDGET)? == plan_with(&model, hashed, BUDGET, PlanGoal::Balanced)?
    );
    for goal in [PlanGoal::Prove, PlanGoal::Balanced, PlanGoal::Gas] {
        ensure!(goal.as_str().parse::<PlanGoal>()? == goal);
    }
    ensure!(matches!(
        "fast".parse::<PlanGoal>(),
        Err(CircuitError::UnknownPlanGoal { .. })
    ));
    Ok(())
}

#[test]
fn narrowest_hashed_layout_folds_poseidon_and_stays_sound() -> anyhow::Result<()> {
    // The gas goal's pool layout (the narrow backend aside) puts mlp_tiny's hashed input and
    // output on 6 lanes: each 17-wide Poseidon state folds over 3 rows of the pool.
    let model = zoo_model("mlp_tiny")?;
    let visibility = Visibility::new(InputVisibility::Hashed, OutputVisibility::Hashed);
    let p = pool_plan(&model, visibility, PlanGoal::Gas)?;
    ensure!(
        p.settings.params.lanes < 17,
        "expected a folded layout, got {} lanes",
        p.settings.params.lanes
    );
    ensure!(
        !p.settings.poseidon_blocks,
        "the gas goal keeps one state per partial round (the block gate costs the verifier)"
    );
    hashed_layout_is_sound(&model, visibility, p.settings)
}

#[test]
fn poseidon_blocks_speed_hashed_layouts_up_and_stay_sound() -> anyhow::Result<()> {
    let hashed = Visibility::new(InputVisibility::Hashed, OutputVisibility::Public);
    let model = zoo_model("mlp_small")?;
    let prove = plan_with(&model, hashed, BUDGET, PlanGoal::Prove)?;
    ensure!(
        prove.settings.poseidon_blocks,
        "fastest layout without blocks"
    );
    // The same pool with one state per partial round needs more rows (here a larger k) and
    // is estimated slower; the blocks cost the verifier their gate.
    let per_round = prove.settings.with_poseidon_blocks(false);
    let (with_blocks, without) = (shape(&model, prove.settings)?, shape(&model, per_round)?);
    ensure!(
        with_blocks.rows_used < without.rows_used,
        "blocks {} rows, per round {}",
        with_blocks.rows_used,
        without.rows_used
    );
    ensure!(
        without.rows_needed() > with_blocks.usable_rows,
        "same k without blocks"
    );
    ensure!(with_blocks.gate_ops > without.gate_ops);
    ensure!(with_blocks.verifier_cost() > without.verifier_cost());
    // Sound at the 17-lane layout and folded (6 lanes: 3 rows per state), hashed input and
    // output, against every changed instance and a lying input.
    let model = zoo_model("mlp_tiny")?;
    let visibility = Visibility::new(InputVisibility::Hashed, OutputVisibility::Hashed);
    for lanes in [17, 6] {
        let base = pool_plan(&model, visibility, PlanGoal::Gas)?.settings;
        let mut settings = base.with_poseidon_blocks(true);
        settings.params.lanes = lanes;
        settings.k = CircuitSettings::MAX_K;
        let fitted = shape(&model, settings)?;
        settings.k =
            zkgrid_circuits::model::plan::smallest_k(fitted.rows_needed(), fitted.blinding_rows)
                .ok_or_else(|| anyhow!("{lanes} lanes do not fit"))?;
        hashed_layout_is_sound(&model, visibility, settings)?;
    }
    Ok(())
}

#[test]
fn gas_goal_checks_ranges_by_digits_and_stays_sound() -> anyhow::Result<()> {
    // Without a lookup argument (three proof commitments), its table and two fixed columns
    // per slot, the gas goal's layout for mlp_small with a hashed input is cheaper to verify.
    let hashed = Visibility::new(InputVisibility::Hashed, OutputVisibility::Public);
    let model = zoo_model("mlp_small")?;
    let gas = pool_plan(&model, hashed, PlanGoal::Gas)?;
    ensure!(gas.settings.params.range_digits, "gas goal kept the lookup");
    ensure!(gas.shape.lookups == 0 && gas.shape.table_rows == 0);
    let mut lookup = gas.settings;
    lookup.params = lookup.params.with_range_digits(false);
    let with_lookup = shape(&model, lookup)?;
    ensure!(with_lookup.lookups == 1);
    ensure!(
        gas.shape.verifier_cost() < with_lookup.verifier_cost(),
        "digits {} vs lookup {}",
        gas.shape.verifier_cost(),
        with_lookup.verifier_cost()
    );
    ensure!(gas.shape.rows_used >= with_lookup.rows_used);
    // Sound with hashed input and output on a digit layout: every changed instance and a
    // lying input behind the same hash are rejected.
    let model = zoo_model("mlp_tiny")?;
    let visibility = Visibility::new(InputVisibility::Hashed, OutputVisibility::Hashed);
    let mut settings = pool_plan(&model, visibility, PlanGoal::Gas)?.settings;
    settings.params = settings.params.with_range_digits(true);
    settings.k = CircuitSettings::MAX_K;
    let fitted = shape(&model, settings)?;
    settings.k =
        zkgrid_circuits::model::plan::smallest_k(fitted.rows_needed(), fitted.blinding_rows)
            .ok_or_else(|| anyhow!("digit layout does not fit"))?;
    hashed_layout_is_sound(&model, visibility, settings)
}

/// `settings` proves `model` on an input and rejects every changed instance and a different
/// input behind the same public hash.
fn hashed_layout_is_sound(
    model: &zkgrid_models::QuantizedModel,
    visibility: Visibility,
    settings: CircuitSettings,
) -> anyhow::Result<()> {
    let n: usize = model.input.shape.iter().product();
    let input: Vec<i64> = (0..n as i64).map(|i| (i * 37) % 200 - 100).collect();
    let output = execute(model, &input)?.output().to_vec();
    let recipient = Fr::from(11u64);
    let circuit = ModelCircuit::new(
        model,
        settings,
        Some(ModelWitness {
            input: input.clone(),
            recipient,
        }),
    )?;
    let public = instances(model, visibility, &input, &output, recipient)?;
    mock(&circuit, public.clone())?.map_err(|e| anyhow!(e))?;
    // Any changed public value (input hash, output hash, recipient) is rejected.
    for i in 0..public.len() {
        let mut wrong = public.clone();
        wrong[i] += Fr::from(1u64);
        ensure!(
            crate::common::rejected(&circuit, wrong),
            "instance {i} changed and still accepted"
        );
    }
    // So is a different input behind the same public hash.
    let mut other = input.clone();
    other[0] += 1;
    let lying = ModelCircuit::new(
        model,
        settings,
        Some(ModelWitness {
            input: other,
            recipient,
        }),
    )?;
    ensure!(crate::common::rejected(&lying, public));
    Ok(())
}

#[test]
fn settings_must_configure_the_chips_the_model_uses() -> anyhow::Result<()> {
    // The zoo's fixed-weight models need no optional chip; the all-ops model needs all.
    for name in zoo::NAMES {
        let model = zoo_model(name)?;
        ensure!(required_chips(&model, Visibility::PUBLIC.weights) == ChipSet::NONE);
    }
    let model = crate::ops_model::all_ops_model();
    ensure!(required_chips(&model, Visibility::PUBLIC.weights) == ChipSet::ALL);
    let p = plan(&model, Visibility::PUBLIC, BUDGET)?;
    ensure!(p.settings.chips == ChipSet::ALL && p.settings.params.lanes >= 6);
    for missing in [
        ChipSet::NONE,
        ChipSet {
            max: false,
            ..ChipSet::ALL
        },
        ChipSet {
            leaky: false,
            ..ChipSet::ALL
        },
    ] {
        ensure!(
            matches!(
                ModelCircuit::new(&model, p.settings.with_chips(missing), None),
                Err(CircuitError::InvalidParams {
                    parameter: "chips",
                    ..
                })
            ),
            "settings without {missing:?} accepted"
        );
    }
    // More chips than a model needs is fine (settings written before chip sets had all).
    let tiny = zoo_model("mlp_tiny")?;
    let p = plan(&tiny, Visibility::PUBLIC, BUDGET)?;
    let mut all = p.settings.with_chips(ChipSet::ALL);
    all.params.lanes = all.params.lanes.max(6);
    ModelCircuit::new(&tiny, all, None)?;
    Ok(())
}
