//! `zkgrid inspect | setup | prove | verify | demo`: the proving pipeline from the CLI.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use zkgrid_circuits::model::plan::{candidates, choose, BALANCED_SLACK};
use zkgrid_circuits::model::{
    plan_with, recipient_from_address, CircuitSettings, InputVisibility, OutputVisibility,
    PlanGoal, Visibility, WeightsVisibility,
};
use zkgrid_models::input::{parse_single, MAX_INPUT_JSON_BYTES};
use zkgrid_models::{compile, quantize_input, zoo, QuantConfig};
use zkgrid_prover::model::{
    check_bundle_output, pinned_plan, setup_with, verify_bundle, SetupOptions, SrsChoice,
};
use zkgrid_prover::{estimate_proving_memory, CircuitShape, ProofBundle};

use super::run::load_compiled;
use super::{read_limited, write_atomic};
use crate::cli::{
    DemoArgs, InputVis, InspectArgs, OutputVis, ProveArgs, SetupArgs, VerifyArgs, WeightsVis,
};
use crate::output::{print_json, table};
use crate::progress::Bars;

pub(crate) fn weights_visibility(w: WeightsVis) -> WeightsVisibility {
    match w {
        WeightsVis::Fixed => WeightsVisibility::Fixed,
        WeightsVis::Hashed => WeightsVisibility::Hashed,
    }
}

fn visibility(a: &SetupArgs) -> Visibility {
    Visibility::new(
        match a.input_visibility {
            InputVis::Public => InputVisibility::Public,
            InputVis::Hashed => InputVisibility::Hashed,
            InputVis::Private => InputVisibility::Private,
        },
        match a.output_visibility {
            OutputVis::Public => OutputVisibility::Public,
            OutputVis::Hashed => OutputVisibility::Hashed,
        },
    )
    .with_weights(weights_visibility(a.weights_visibility))
}

/// The SRS named by a `--srs` flag (dev SRS when absent; `.ptau` files by extension).
pub(crate) fn srs_choice(p: Option<&Path>) -> SrsChoice {
    match p {
        None => SrsChoice::Dev,
        Some(p) if p.extension().is_some_and(|e| e == "ptau") => SrsChoice::Ptau(p.to_path_buf()),
        Some(p) => SrsChoice::ParamsFile(p.to_path_buf()),
    }
}

/// Setup options from the shared flags.
pub(crate) fn options(a: &SetupArgs) -> anyhow::Result<SetupOptions> {
    Ok(SetupOptions {
        visibility: visibility(a),
        column_budget: a.column_budget,
        goal: a.optimize.into(),
        srs: srs_choice(a.srs.as_deref()),
        pinned: pinned_settings(a)?,
    })
}

/// Most bytes of a `--settings` file.
const MAX_SETTINGS_JSON_BYTES: u64 = 16 << 20;

/// The layout named by `--settings` (checked against the visibility flags where it is used,
/// by [`pinned_plan`]).
fn pinned_settings(a: &SetupArgs) -> anyhow::Result<Option<CircuitSettings>> {
    let Some(path) = &a.settings else {
        return Ok(None);
    };
    let bytes = read_limited(path, MAX_SETTINGS_JSON_BYTES)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let inner = value.get("settings").cloned().unwrap_or(value);
    let settings: CircuitSettings = serde_json::from_value(inner).with_context(|| {
        format!(
            "{} holds no circuit settings (expected the settings object or one with a \
             `settings` field)",
            path.display()
        )
    })?;
    settings
        .validate()
        .with_context(|| format!("circuit settings in {}", path.display()))?;
    Ok(Some(settings))
}

fn parse_address(s: &str) -> anyhow::Result<[u8; 20]> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(h).with_context(|| format!("recipient {s:?} is not hex"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("recipient {s:?} must be 20 bytes (0x + 40 hex digits)"))
}

/// `zkgrid inspect`.
pub fn inspect(args: &InspectArgs, json: bool) -> anyhow::Result<()> {
    let a = &args.setup;
    if args.candidates {
        return inspect_candidates(a, json);
    }
    let c = load_compiled(&a.model)?;
    let goal: zkgrid_circuits::model::PlanGoal = a.optimize.into();
    let p = match pinned_settings(a)? {
        Some(settings) => {
            pinned_plan(&c.model, settings, visibility(a)).context("the --settings layout")?
        }
        None => plan_with(&c.model, visibility(a), a.column_budget, goal)
            .context("planning the circuit")?,
    };
    let s = p.shape;
    let mem = estimate_proving_memory(&CircuitShape::from_plan(&s))?;
    let weights_commitment = if p.settings.visibility.hashed_weights() {
        Some(zkgrid_prover::bundle::fr_to_hex(
            &zkgrid_circuits::model::weights_commitment(&c.model)?,
        ))
    } else {
        None
    };
    if json {
        return print_json(
            &serde_json::json!({"model_hash": c.model_hash, "goal": goal, "pinned_from": a.settings, "settings": p.settings, "shape": s, "verifier_commitments": s.verifier_commitments(), "verifier_cost": s.verifier_cost(), "estimated_proving_cost": s.proving_cost(), "estimated_proving_memory": mem, "weights_commitment": weights_commitment}),
        );
    }
    println!(
        "model {} ({}), {} MACs",
        c.model.name,
        c.model_hash,
        c.model.macs()
    );
    let rows = vec![
        match &a.settings {
            Some(path) => vec!["layout".into(), format!("pinned by {}", path.display())],
            None => vec!["planner goal".into(), goal.as_str().to_string()],
        },
        vec!["k".into(), s.k.to_string()],
        vec![
            "rows used / usable".into(),
            format!("{} / {}", s.rows_used, s.usable_rows),
        ],
        if p.settings.narrow {
            vec![
                "backend".into(),
                "narrow: one advice column, generic gates, range checks by bits".into(),
            ]
        } else {
            vec![
                "lanes (MACs per row)".into(),
                p.settings.params.lanes.to_string(),
            ]
        },
        if p.settings.narrow {
            vec!["range checks".into(), "bits".into()]
        } else {
            vec![
                "range slots (limbs)".into(),
                format!(
                    "{} ({}), {}",
                    p.settings.params.range_slots,
                    p.settings.params.limbs_per_slot,
                    range_mode(&p.settings.params)
                ),
            ]
        },
        vec!["advice columns".into(), s.advice_columns.to_string()],
        vec![
            "fixed columns (+ selectors)".into(),
            format!("{} (+{})", s.fixed_columns, s.selectors),
        ],
        vec!["lookup arguments".into(), s.lookups.to_string()],
        vec!["instance values".into(), s.instance_values.to_string()],
        vec![
            "permutation columns".into(),
            s.permutation_columns.to_string(),
        ],
        vec!["gate degree".into(), s.degree.to_string()],
        vec![
            "verifier commitments (≈ ecMuls)".into(),
            format!("≤ {}", s.verifier_commitments()),
        ],
        vec![
            "gate operations".into(),
            format!(
                "{} (poseidon {})",
                s.gate_ops,
                if p.settings.narrow {
                    "in generic gates"
                } else if p.settings.poseidon_blocks {
                    "partial rounds in blocks"
                } else {
                    "one state per partial round"
                }
            ),
        ],
        vec![
            "estimated proving cost".into(),
            format!("{:.0} (planner units)", s.proving_cost()),
        ],
        vec![
            "estimated proving memory".into(),
            format!("{:.0} MiB", mem.total_bytes as f64 / 1048576.0),
        ],
    ];
    print!("{}", table(&["", ""], &rows));
    if let Some(w) = weights_commitment {
        println!("weights commitment (first public instance; publish it): {w}");
    }
    Ok(())
}

/// How a layout's range chip checks its running sums.
fn range_mode(params: &zkgrid_circuits::ModelParams) -> &'static str {
    if params.range_digits {
        "digits"
    } else {
        "lookup"
    }
}

/// `zkgrid inspect --candidates`: every layout the planner weighs, and what each goal picks.
fn inspect_candidates(a: &SetupArgs, json: bool) -> anyhow::Result<()> {
    let c = load_compiled(&a.model)?;
    let feasible =
        candidates(&c.model, visibility(a), a.column_budget).context("planning the circuit")?;
    let goals = [PlanGoal::Prove, PlanGoal::Balanced, PlanGoal::Gas];
    let picks: Vec<(PlanGoal, Option<usize>)> = goals
        .iter()
        .map(|goal| {
            let picked = choose(&feasible, *goal);
            (*goal, feasible.iter().position(|p| Some(*p) == picked))
        })
        .collect();
    let fastest = feasible
        .iter()
        .map(|p| p.shape.proving_cost())
        .min_by(f64::total_cmp)
        .unwrap_or(1.0);
    let picked_by = |index: usize| -> Vec<&'static str> {
        picks
            .iter()
            .filter(|(_, i)| *i == Some(index))
            .map(|(goal, _)| goal.as_str())
            .collect()
    };
    if json {
        let list: Vec<serde_json::Value> = feasible
            .iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::json!({
                    "settings": p.settings,
                    "shape": p.shape,
                    "verifier_commitments": p.shape.verifier_commitments(),
                    "verifier_cost": p.shape.verifier_cost(),
                    "estimated_proving_cost": p.shape.proving_cost(),
                    "picked_by": picked_by(i),
                })
            })
            .collect();
        return print_json(&serde_json::json!({
            "model_hash": c.model_hash,
            "column_budget": a.column_budget,
            "balanced_slack": BALANCED_SLACK,
            "candidates": list,
        }));
    }
    println!(
        "model {} ({}): {} layouts within {} advice columns; proving cost relative to the \
         fastest, verifier cost in commitments (+ gate operations / {:.0}); balanced = cheapest \
         verifier within {:.2}× of the fastest",
        c.model.name,
        c.model_hash,
        feasible.len(),
        a.column_budget,
        zkgrid_circuits::model::plan::GATE_OPS_PER_COMMITMENT,
        BALANCED_SLACK
    );
    let rows: Vec<Vec<String>> = feasible
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = &p.shape;
            let (lanes, slots, range, poseidon) = if p.settings.narrow {
                ("narrow".to_string(), "-".to_string(), "bits", "generic")
            } else {
                (
                    p.settings.params.lanes.to_string(),
                    p.settings.params.range_slots.to_string(),
                    range_mode(&p.settings.params),
                    if p.settings.poseidon_blocks {
                        "blocks"
                    } else {
                        "per round"
                    },
                )
            };
            vec![
                lanes,
                slots,
                range.to_string(),
                poseidon.to_string(),
                s.k.to_string(),
                s.rows_used.to_string(),
                s.advice_columns.to_string(),
                s.verifier_commitments().to_string(),
                format!("{:.1}", s.verifier_cost()),
                format!("{:.2}×", s.proving_cost() / fastest),
                picked_by(i).join(", "),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "lanes",
                "range slots",
                "range checks",
                "poseidon",
                "k",
                "rows",
                "advice",
                "commitments",
                "verifier cost",
                "proving cost",
                "picked by",
            ],
            &rows
        )
    );
    Ok(())
}

/// `zkgrid setup`.
pub fn setup_cmd(a: &SetupArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let c = load_compiled(&a.model)?;
    let keys = setup_with(data, &c.model, &options(a)?, &Bars::new(json)).context("setup")?;
    if json {
        return print_json(&serde_json::json!({
            "model_hash": keys.model_hash, "vk_hash": keys.keys.vk_hash().to_string(), "k": keys.plan.settings.k,
            "settings": keys.plan.settings, "srs": keys.srs.info(), "timings": keys.timings, "key_dir": keys.key_dir,
        }));
    }
    if keys.srs.insecure() {
        eprintln!("WARNING: using the INSECURE dev SRS (anyone can forge proofs); pass --srs for production");
    }
    println!(
        "model {} k={} lanes={} vk {}",
        c.model.name,
        keys.plan.settings.k,
        keys.plan.settings.params.lanes,
        keys.keys.vk_hash()
    );
    println!(
        "srs {} ({:.2}s), keys {} ({:.2}s) in {}",
        keys.srs.label(),
        keys.timings.srs_s,
        if keys.timings.cached {
            "loaded from cache"
        } else {
            "generated"
        },
        keys.timings.keys_s,
        keys.key_dir.display()
    );
    Ok(())
}

/// `zkgrid prove`.
pub fn prove_cmd(a: &ProveArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let c = load_compiled(&a.setup.model)?;
    let recipient = recipient_from_address(&parse_address(&a.recipient)?);
    let bytes = read_limited(&a.input, MAX_INPUT_JSON_BYTES as u64)?;
    let input = parse_single(
        &bytes,
        c.model.input.shape.iter().product(),
        &c.model.input.shape,
    )
    .with_context(|| format!("input file {}", a.input.display()))?;
    let q = quantize_input(&c.model, &input)?;
    let bars = Bars::new(json);
    let keys = setup_with(data, &c.model, &options(&a.setup)?, &bars).context("setup")?;
    let (bundle, t) = keys.prove_with(&q, recipient, &bars).context("proving")?;
    write_atomic(&a.output, bundle.to_json()?.as_bytes())?;
    let weights_commitment =
        zkgrid_circuits::model::InstanceLayout::new(&c.model, keys.plan.settings.visibility)
            .weights_commitment(bundle.instances.first().map(Vec::as_slice).unwrap_or(&[]))?
            .map(|w| zkgrid_prover::bundle::fr_to_hex(&w));
    if json {
        return print_json(
            &serde_json::json!({"proof": a.output, "vk_hash": bundle.vk_hash.to_string(), "k": bundle.k, "setup": keys.timings, "prove": t, "output": bundle.output, "weights_commitment": weights_commitment}),
        );
    }
    if bundle.srs.insecure {
        eprintln!("WARNING: proof made with the INSECURE dev SRS");
    }
    println!(
        "proved {} (k={}) in {:.3}s; verified natively in {:.3}s",
        c.model.name, bundle.k, t.prove_s, t.verify_s
    );
    println!("output {}", bundle.output);
    if let Some(w) = &weights_commitment {
        println!("weights commitment (private weights) {w}");
    }
    println!("wrote {}", a.output.display());
    Ok(())
}

/// `zkgrid verify`.
pub fn verify_cmd(a: &VerifyArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let bundle = super::load_bundle(&a.proof)?;
    let t = Instant::now();
    let meta = verify_bundle(data, &bundle, &srs_choice(a.srs.as_deref()))
        .context("verification failed")?;
    let secs = t.elapsed().as_secs_f64();
    if let Some(m) = &a.model {
        let c = load_compiled(m)?;
        if c.model_hash != bundle.model_hash {
            bail!(
                "proof is for model {}, not {}",
                bundle.model_hash,
                c.model_hash
            );
        }
        check_bundle_output(&c.model, &bundle)?;
    }
    // With private weights the first instance is their commitment: what the proof is about.
    let weights_commitment = (bundle.output["visibility"]["weights"] == "hashed")
        .then(|| bundle.instances.first().and_then(|c| c.first()))
        .flatten()
        .map(zkgrid_prover::bundle::fr_to_hex);
    if json {
        return print_json(
            &serde_json::json!({"valid": true, "model_hash": bundle.model_hash, "vk_hash": bundle.vk_hash.to_string(), "srs": meta.srs_label, "verify_s": secs, "weights_commitment": weights_commitment}),
        );
    }
    println!(
        "VALID proof for model {} (vk {}, {}) in {:.3}s",
        bundle.model_hash, bundle.vk_hash, meta.srs_label, secs
    );
    if let Some(w) = weights_commitment {
        println!("private weights with commitment {w}");
    }
    Ok(())
}

/// `zkgrid demo`.
pub fn demo(a: &DemoArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let mut steps: Vec<(String, f64, String)> = vec![];
    let t = Instant::now();
    let m = zoo::get(&a.model)?;
    let c = compile(
        &m.onnx,
        m.name,
        Some(&m.calibration),
        &QuantConfig::default(),
    )?;
    steps.push((
        "import + quantize".into(),
        t.elapsed().as_secs_f64(),
        format!(
            "{} nodes, {} MACs, argmax agreement {:.0}%",
            c.model.nodes.len(),
            c.model.macs(),
            c.report.accuracy.argmax_agreement * 100.0
        ),
    ));
    let bars = Bars::new(json);
    let keys = setup_with(data, &c.model, &SetupOptions::default(), &bars)?;
    steps.push((
        "plan".into(),
        keys.timings.plan_s,
        format!(
            "k={} lanes={}",
            keys.plan.settings.k, keys.plan.settings.params.lanes
        ),
    ));
    steps.push(("srs".into(), keys.timings.srs_s, keys.srs.label()));
    steps.push((
        "keys".into(),
        keys.timings.keys_s,
        format!(
            "{} vk {}",
            if keys.timings.cached {
                "cached"
            } else {
                "generated"
            },
            keys.keys.vk_hash()
        ),
    ));
    let q = quantize_input(&c.model, &m.sample_input)?;
    let (bundle, pt) = keys.prove_with(&q, recipient_from_address(&[0x11; 20]), &bars)?;
    steps.push((
        "prove".into(),
        pt.prove_s,
        format!("{} byte proof", bundle.proof.len()),
    ));
    steps.push(("verify (native)".into(), pt.verify_s, "valid".into()));
    let out = check_bundle_output(&c.model, &bundle)?;
    let expected = zkgrid_models::execute(&c.model, &q)?;
    if out.values != expected.output() {
        bail!("proven output differs from the reference executor");
    }
    steps.push((
        "check output".into(),
        0.0,
        format!("argmax {:?} = executor's", out.argmax),
    ));
    evm_steps(&keys, &bundle, &mut steps)?;
    if json {
        let v: Vec<_> = steps
            .iter()
            .map(|(s, t, d)| serde_json::json!({"step": s, "seconds": t, "detail": d}))
            .collect();
        return print_json(&v);
    }
    println!("zkgrid demo: {} ({})", m.name, m.description);
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|(s, t, d)| vec![s.clone(), format!("{t:.3}s"), d.clone()])
        .collect();
    print!("{}", table(&["step", "time", "detail"], &rows));
    Ok(())
}

/// Generate the Solidity verifier for the demo's key, compile it with the pinned solc-js, deploy
/// it on an in-process EVM (revm), verify the proof there and check that a changed output is
/// rejected.
fn evm_steps(
    keys: &zkgrid_prover::model::ModelKeys,
    bundle: &ProofBundle,
    steps: &mut Vec<(String, f64, String)>,
) -> anyhow::Result<()> {
    use zkgrid_evm::{call_verify_proof, deploy_verifier, EvmRunner};
    let t = Instant::now();
    let instances = bundle
        .instances
        .first()
        .context("proof bundle has no instance column")?;
    let super::evm::Built {
        generated,
        compiled,
    } = super::evm::build(&keys.srs, keys.keys.vk(), instances.len())?;
    steps.push((
        "evm: generate + solc".into(),
        t.elapsed().as_secs_f64(),
        format!(
            "verifier {} B, {} VK contract(s)",
            compiled.runtime.len(),
            generated.vk_runtimes.len()
        ),
    ));
    let t = Instant::now();
    let mut evm = EvmRunner::new(true);
    let deployed = deploy_verifier(&mut evm, &generated, &compiled.creation)
        .context("deploying the verifier on revm")?;
    let verdict = call_verify_proof(
        &mut evm,
        deployed.verifier.address,
        &bundle.proof,
        instances,
    )?;
    if !verdict.accepted {
        bail!("the on-chain verifier rejected a valid proof");
    }
    let mut tampered = instances.clone();
    let first_output =
        zkgrid_circuits::model::InstanceLayout::new(&keys.model, keys.plan.settings.visibility)
            .output_range()
            .start;
    let cell = tampered
        .get_mut(first_output)
        .context("no output instance")?;
    *cell += halo2_fr_one();
    let bad = call_verify_proof(
        &mut evm,
        deployed.verifier.address,
        &bundle.proof,
        &tampered,
    )?;
    if bad.accepted {
        bail!("the on-chain verifier accepted a changed output");
    }
    steps.push((
        "evm: verify (revm)".into(),
        t.elapsed().as_secs_f64(),
        format!("valid, {} gas; changed output rejected", verdict.gas_used),
    ));
    Ok(())
}

fn halo2_fr_one() -> zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr {
    use zkgrid_prover::halo2_proofs::halo2curves::ff::Field;
    zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr::ONE
}
