//! Test harness: a circuit that configures the full column pool and runs a closure in one
//! region, checked with halo2's `MockProver`.

use std::sync::Arc;

use halo2_proofs::circuit::{Layouter, Region, SimpleFloorPlanner, Value};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{ModelConfig, ModelParams};
use crate::error::CircuitError;
use crate::field::{fe_from_i128, fe_to_i128, value_to_option};
use crate::layout::{AssignedVar, RowAllocator};

/// What a test circuit lays out.
pub(crate) type Build = dyn Fn(&ModelConfig, &mut Region<'_, Fr>, &mut RowAllocator) -> Result<(), CircuitError>
    + Send
    + Sync;

/// What a test lays out, as a closure ([`mock`], [`mock_digits`]).
pub(crate) trait BuildFn:
    Fn(&ModelConfig, &mut Region<'_, Fr>, &mut RowAllocator) -> Result<(), CircuitError>
    + Send
    + Sync
    + 'static
{
}

impl<T> BuildFn for T where
    T: Fn(&ModelConfig, &mut Region<'_, Fr>, &mut RowAllocator) -> Result<(), CircuitError>
        + Send
        + Sync
        + 'static
{
}

/// A circuit with the pool `ModelParams::new(W, S, P)` (range checks by digits if `D`) running
/// `build` in one region.
#[derive(Clone)]
pub(crate) struct TestCircuit<const W: usize, const S: usize, const P: usize, const D: bool = false>
{
    pub k: u32,
    pub build: Arc<Build>,
}

impl<const W: usize, const S: usize, const P: usize, const D: bool> Circuit<Fr>
    for TestCircuit<W, S, P, D>
{
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ModelConfig {
        let params = ModelParams::new(W, S, P).with_range_digits(D);
        let mut config = ModelConfig::configure(meta, &params).expect("valid test params");
        config.dense.configure_private(meta);
        config
    }

    fn synthesize(
        &self,
        config: ModelConfig,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        config.load_table(&mut layouter)?;
        let mut rows = RowAllocator::new(config.usable_rows(self.k));
        layouter.assign_region(
            || "test",
            |mut region| Ok((self.build)(&config, &mut region, &mut rows)),
        )??;
        Ok(())
    }
}

/// Runs `build` under `MockProver` at size `2^k`. The outer error is a synthesis failure, the
/// inner one the (formatted) verification failures.
pub(crate) fn mock<const W: usize, const S: usize, const P: usize>(
    k: u32,
    build: impl BuildFn,
) -> anyhow::Result<Result<(), String>> {
    run_mock(TestCircuit::<W, S, P> {
        k,
        build: Arc::new(build),
    })
}

/// [`mock`] with range checks by base-4 digits ([`ModelParams::range_digits`]).
pub(crate) fn mock_digits<const W: usize, const S: usize, const P: usize>(
    k: u32,
    build: impl BuildFn,
) -> anyhow::Result<Result<(), String>> {
    run_mock(TestCircuit::<W, S, P, true> {
        k,
        build: Arc::new(build),
    })
}

fn run_mock<const W: usize, const S: usize, const P: usize, const D: bool>(
    circuit: TestCircuit<W, S, P, D>,
) -> anyhow::Result<Result<(), String>> {
    let k = circuit.k;
    let prover = MockProver::run(k, &circuit, vec![])
        .map_err(|e| anyhow::anyhow!("synthesis failed: {e}"))?;
    Ok(prover.verify().map_err(|failures| {
        let shown: Vec<String> = failures.iter().take(3).map(|f| format!("{f}")).collect();
        format!("{} failures, first: {}", failures.len(), shown.join(" | "))
    }))
}

/// Turns a verification result that must pass into a test error.
pub(crate) fn verify_ok(result: Result<(), String>) -> anyhow::Result<()> {
    result.map_err(|e| anyhow::anyhow!("honest witness rejected: {e}"))
}

/// Seeded RNG for reproducible randomized tests.
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Edge values of a `bits`-wide signed activation.
pub(crate) fn edge_values(bits: u32) -> Vec<i128> {
    let half = 1i128 << (bits - 1);
    vec![-half, -half + 1, -1, 0, 1, half - 2, half - 1]
}

/// Field element of a signed integer.
pub(crate) fn fr(x: i128) -> Fr {
    fe_from_i128(x)
}

/// Known field values of signed integers.
pub(crate) fn known(xs: &[i128]) -> Vec<Value<Fr>> {
    xs.iter().map(|x| Value::known(fr(*x))).collect()
}

/// Reads an assigned value as an integer (tests only run with known witnesses).
pub(crate) fn int(var: &AssignedVar<Fr>) -> Option<i128> {
    value_to_option(var.value()).and_then(|v| fe_to_i128(&v))
}

/// Records values produced inside a `mock` closure so the test can read them afterwards.
#[derive(Clone, Default)]
pub(crate) struct Recorder(Arc<std::sync::Mutex<Vec<Option<i128>>>>);

impl Recorder {
    pub(crate) fn push(&self, vars: &[AssignedVar<Fr>]) {
        if let Ok(mut out) = self.0.lock() {
            out.extend(vars.iter().map(int));
        }
    }

    pub(crate) fn take(&self) -> Vec<Option<i128>> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}
