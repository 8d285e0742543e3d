//! A zoo model (default quantization), by default with a Poseidon-hashed input and a public
//! output: compiled, keys set up in a temporary data dir, proofs bound to a recipient, and its
//! generated + compiled verifier. Shared by the settlement, anvil and gas tests.

use anyhow::{anyhow, ensure};
use zkgrid_circuits::model::{
    commitment, recipient_from_address, InputVisibility, InstanceLayout, OutputVisibility,
    PlanGoal, Visibility, WeightsVisibility,
};
use zkgrid_evm::{
    generate, CompiledContract, GeneratedVerifier, KzgVerifierParams, Solc, SolcSettings,
    VERIFIER_CONTRACT,
};
use zkgrid_models::{compile, quantize_input, zoo, QuantConfig};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_prover::model::{setup, ModelKeys, SetupOptions};

/// Hashed input, public output.
pub const HASHED_INPUT: Visibility = Visibility {
    input: InputVisibility::Hashed,
    output: OutputVisibility::Public,
    weights: WeightsVisibility::Fixed,
};

/// A zoo case `model:visibility[+goal]` (visibility `public` = public input and output,
/// `hashed` = hashed input, public output; `+goal` plans for another goal than the default,
/// e.g. `mlp_small:hashed+gas`).
pub fn zoo_case(case: &str) -> anyhow::Result<(String, Visibility, PlanGoal)> {
    let (model, vis) = case
        .split_once(':')
        .ok_or_else(|| anyhow!("case {case:?} is not model:visibility"))?;
    let (base, goal) = match vis.split_once('+') {
        Some((base, goal)) => (base, goal.parse::<PlanGoal>()?),
        None => (vis, PlanGoal::default()),
    };
    let visibility = match base {
        "public" => Visibility::PUBLIC,
        "hashed" => HASHED_INPUT,
        other => anyhow::bail!("unknown visibility {other:?} (public or hashed)"),
    };
    Ok((model.to_owned(), visibility, goal))
}

/// A set-up zoo model.
pub struct HashedModel {
    /// Its visibility ([`HASHED_INPUT`] unless made by [`zoo_model`]).
    pub visibility: Visibility,
    /// Keys, SRS and plan.
    pub keys: ModelKeys,
    /// Its instance layout.
    pub layout: InstanceLayout,
    /// The zoo's sample input (real values).
    pub sample: Vec<f64>,
    /// The sample input, quantized.
    pub input: Vec<i64>,
    _dir: tempfile::TempDir,
}

/// Compiles zoo model `name` and sets up its keys for [`HASHED_INPUT`].
pub fn hashed_model(name: &str) -> anyhow::Result<HashedModel> {
    zoo_model(name, HASHED_INPUT)
}

/// Compiles zoo model `name` and sets up its keys for `visibility`.
pub fn zoo_model(name: &str, visibility: Visibility) -> anyhow::Result<HashedModel> {
    zoo_model_for(name, visibility, PlanGoal::default())
}

/// Compiles zoo model `name` and sets up its keys for `visibility`, planned for `goal`.
pub fn zoo_model_for(
    name: &str,
    visibility: Visibility,
    goal: PlanGoal,
) -> anyhow::Result<HashedModel> {
    let entry = zoo::get(name)?;
    let model = compile(
        &entry.onnx,
        name,
        Some(&entry.calibration),
        &QuantConfig::default(),
    )?
    .model;
    let dir = tempfile::tempdir()?;
    let keys = setup(
        dir.path(),
        &model,
        &SetupOptions {
            visibility,
            goal,
            ..SetupOptions::default()
        },
    )?;
    let layout = InstanceLayout::new(&model, visibility);
    let input = quantize_input(&model, &entry.sample_input)?;
    Ok(HashedModel {
        visibility,
        keys,
        layout,
        sample: entry.sample_input,
        input,
        _dir: dir,
    })
}

impl HashedModel {
    /// Quantizes a real input.
    pub fn quantize(&self, real: &[f64]) -> anyhow::Result<Vec<i64>> {
        Ok(quantize_input(&self.keys.model, real)?)
    }

    /// A proof of `input` bound to the EVM address `recipient`, with its flat instances
    /// (checked: layout length, recipient slot, input commitment when the input is hashed).
    pub fn prove(&self, input: &[i64], recipient: &[u8; 20]) -> anyhow::Result<(Vec<u8>, Vec<Fr>)> {
        let slot = recipient_from_address(recipient);
        let (bundle, _) = self.keys.prove(input, slot)?;
        let instances = bundle
            .instances
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("no instance column"))?;
        ensure!(bundle.instances.len() == 1, "one instance column expected");
        ensure!(instances.len() == self.layout.len());
        ensure!(instances[self.layout.recipient_index()] == slot);
        if self.visibility.input == InputVisibility::Hashed {
            ensure!(instances[self.layout.input_range().start] == commitment(input));
        }
        Ok((bundle.proof, instances))
    }

    /// The generated verifier and its compiled (optimized) Solidity.
    pub fn verifier(&self) -> anyhow::Result<(GeneratedVerifier, CompiledContract)> {
        let generated = generate(
            &KzgVerifierParams::from_srs(&self.keys.srs),
            self.keys.keys.vk(),
            &[self.layout.len()],
        )?;
        let compiled = Solc::pinned().compile(
            &generated.solidity,
            VERIFIER_CONTRACT,
            SolcSettings::default(),
        )?;
        Ok((generated, compiled))
    }
}
