//! Shared helpers: zoo models compiled once, `MockProver` runs, seeded inputs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, ensure, Context as _};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkgrid_circuits::model::plan::{candidates, choose};
use zkgrid_circuits::model::{
    commitment, instances, plan, CircuitSettings, Plan, PlanGoal, Tamper, Visibility,
};
use zkgrid_circuits::{ModelCircuit, ModelWitness};
use zkgrid_models::{compile, execute, zoo, QuantConfig, QuantizedModel};

/// Advice-column budget of the tests' plans.
pub const BUDGET: usize = 96;

/// Zoo models compiled once per test binary.
pub fn zoo_model(name: &str) -> anyhow::Result<Arc<QuantizedModel>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<QuantizedModel>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(m) = cache.lock().map_err(|_| anyhow!("poisoned"))?.get(name) {
        return Ok(m.clone());
    }
    let entry = zoo::get(name)?;
    let compiled = compile(
        &entry.onnx,
        name,
        Some(&entry.calibration),
        &QuantConfig::default(),
    )?;
    let model = Arc::new(compiled.model);
    cache
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .insert(name.to_string(), model.clone());
    Ok(model)
}

/// The plan for a model under a visibility with the tests' budget.
pub fn planned(model: &QuantizedModel, visibility: Visibility) -> anyhow::Result<Plan> {
    Ok(plan(model, visibility, BUDGET)?)
}

/// The plan `goal` picks among the column-pool layouts only (the narrow backend, which the gas
/// goal prefers for the models it supports, is tested in `narrow`).
pub fn pool_plan(
    model: &QuantizedModel,
    visibility: Visibility,
    goal: PlanGoal,
) -> anyhow::Result<Plan> {
    let pool: Vec<Plan> = candidates(model, visibility, BUDGET)?
        .into_iter()
        .filter(|p| !p.settings.narrow)
        .collect();
    choose(&pool, goal).ok_or_else(|| anyhow!("no pool layout fits"))
}

/// `MockProver` on the circuit: outer error = synthesis failed, inner = verification failures.
pub fn mock(circuit: &ModelCircuit, instances: Vec<Fr>) -> anyhow::Result<Result<(), String>> {
    let prover = MockProver::run(circuit.k(), circuit, vec![instances])
        .map_err(|e| anyhow!("synthesis failed: {e:?}"))?;
    Ok(prover.verify().map_err(|failures| {
        let shown: Vec<String> = failures.iter().take(2).map(|f| format!("{f}")).collect();
        format!("{} failures, first: {}", failures.len(), shown.join(" | "))
    }))
}

/// Whether `MockProver` rejects the circuit (a synthesis error also counts as a rejection).
pub fn rejected(circuit: &ModelCircuit, instances: Vec<Fr>) -> bool {
    !matches!(mock(circuit, instances), Ok(Ok(())))
}

/// Seeded RNG.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Candidate quantized inputs for `model`: edge cases first (zeros, extremes, one-hot,
/// alternating), then random ones — half calibration-like reals in [0, 1), a quarter reals in
/// [−1, 1], a quarter uniform over the whole activation range.
pub fn candidate_inputs(model: &QuantizedModel, seed: u64, count: usize) -> Vec<Vec<i64>> {
    let n: usize = model.input.shape.iter().product();
    let half = 1i64 << (model.bits - 1);
    let (lo, hi) = (-half, half - 1);
    let one = if model.input.scale >= 0 {
        (1i64 << model.input.scale.min(62)).min(hi)
    } else {
        1
    };
    let mut rng = rng(seed);
    let mut out = vec![
        vec![0; n],
        vec![hi; n],
        vec![lo; n],
        vec![one; n],
        vec![-one; n],
        (0..n).map(|i| if i % 2 == 0 { hi } else { lo }).collect(),
        (0..n).map(|i| if i % 2 == 0 { one } else { 0 }).collect(),
    ];
    let hot = rng.gen_range(0..n);
    out.push((0..n).map(|i| if i == hot { hi } else { 0 }).collect());
    out.push((0..n).map(|i| if i == hot { lo } else { 0 }).collect());
    out.push((0..n).map(|i| if i == hot { hi } else { one }).collect());
    while out.len() < count {
        let kind = out.len() % 4;
        let v: Vec<i64> = (0..n)
            .map(|_| match kind {
                0 | 1 => rng.gen_range(0..=one),
                2 => rng.gen_range(-one..=one),
                _ => rng.gen_range(lo..=hi),
            })
            .collect();
        out.push(v);
    }
    out.truncate(count.max(1));
    out
}

/// Instances that agree with whatever the circuit's witness computes (possibly a dishonest
/// output): what a cheating prover would publish. `None` if the witness has no integer output.
pub fn self_consistent_instances(
    circuit: &ModelCircuit,
    input: &[i64],
    recipient: Fr,
) -> Option<Vec<Fr>> {
    let layout = circuit.instance_layout();
    let _ = mock(circuit, vec![Fr::zero(); layout.len()]);
    let output = circuit.synthesized_output()?;
    layout.instances(input, &output, recipient).ok()
}

/// A model, a circuit for a seeded input and the honest instances.
pub struct Case {
    pub circuit: ModelCircuit,
    pub input: Vec<i64>,
    pub output: Vec<i64>,
    pub recipient: Fr,
    pub instances: Vec<Fr>,
}

/// [`case_with_input`] on a seeded input.
pub fn case_with(
    model: Arc<QuantizedModel>,
    visibility: Visibility,
    settings: CircuitSettings,
) -> anyhow::Result<Case> {
    let input = seeded_input(&model);
    case_with_input(model, visibility, settings, input)
}

/// The soundness tests' input: `(37·i mod 200) − 50`.
pub fn seeded_input(model: &QuantizedModel) -> Vec<i64> {
    let n: usize = model.input.shape.iter().product();
    (0..n).map(|i| ((i * 37) % 200) as i64 - 50).collect()
}

/// With a hashed input (instance 0): the valid hash of another input is rejected.
pub fn other_input_hash_fails(c: &Case) -> anyhow::Result<()> {
    let mut other_input = c.input.clone();
    *other_input.get_mut(3).context("at least 4 inputs")? += 1;
    let mut wrong = c.instances.clone();
    *wrong.get_mut(0).context("an input hash")? = commitment(&other_input);
    ensure!(
        rejected(&c.circuit, wrong),
        "hash of another input accepted"
    );
    Ok(())
}

/// `settings` proves `model` on `count` candidate inputs (those the executor accepts) and the
/// output cells equal `execute`'s.
pub fn outputs_equal_executor(
    model: &Arc<QuantizedModel>,
    settings: CircuitSettings,
    seed: u64,
    count: usize,
) -> anyhow::Result<()> {
    for input in candidate_inputs(model, seed, count) {
        let Ok(execution) = execute(model, &input) else {
            continue;
        };
        let c = case_with_input(model.clone(), settings.visibility, settings, input)?;
        mock(&c.circuit, c.instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
        ensure!(
            c.circuit.synthesized_output().as_deref() == Some(execution.output()),
            "output cells differ from execute"
        );
    }
    Ok(())
}

/// The circuit of `model` with `settings` on `input` (recipient 0xc0ffee) and its honest
/// instances.
pub fn case_with_input(
    model: Arc<QuantizedModel>,
    visibility: Visibility,
    settings: CircuitSettings,
    input: Vec<i64>,
) -> anyhow::Result<Case> {
    let output = execute(&model, &input)?.output().to_vec();
    let recipient = Fr::from(0x00c0_ffee_u64);
    let circuit = ModelCircuit::from_arc(
        model.clone(),
        settings,
        Some(ModelWitness {
            input: input.clone(),
            recipient,
        }),
    )?;
    let instances = instances(&model, visibility, &input, &output, recipient)?;
    Ok(Case {
        circuit,
        input,
        output,
        recipient,
        instances,
    })
}

/// The honest case passes; each listed instance position changed by one fails.
pub fn instance_changes_fail(c: &Case, positions: &[usize]) -> anyhow::Result<()> {
    mock(&c.circuit, c.instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
    for &p in positions {
        let mut wrong = c.instances.clone();
        let slot = wrong.get_mut(p).context("position in range")?;
        *slot += Fr::from(1u64);
        ensure!(
            rejected(&c.circuit, wrong),
            "instance {p} changed but accepted"
        );
    }
    Ok(())
}

pub fn tamper_fails_in(c: Case, tamper: Tamper) -> anyhow::Result<()> {
    mock(&c.circuit, c.instances.clone())?.map_err(|e| anyhow!("honest rejected: {e}"))?;
    let lying = c.circuit.clone().with_tamper(tamper);
    match self_consistent_instances(&lying, &c.input, c.recipient) {
        Some(instances) => ensure!(rejected(&lying, instances), "{tamper:?} accepted"),
        None => ensure!(rejected(&lying, c.instances.clone()), "{tamper:?} accepted"),
    }
    Ok(())
}
