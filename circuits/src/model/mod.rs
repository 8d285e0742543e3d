//! `ModelCircuit`: a whole [`QuantizedModel`] as one halo2 circuit.
//!
//! The circuit constrains exactly the integer semantics of `zkgrid_models::execute`: the input
//! is range-checked to the model's `bits`, every node is laid out with the chips of
//! [`crate::chips`] in the model's order, and every stored activation is range-checked. Weights
//! and biases are fixed columns, so the verifying key commits to the model.
//!
//! Supported operations: Dense, Conv2d (im2col dot products; padding cells left out), Relu,
//! LeakyRelu, Reshape (same cells), Add / Sub (operands rescaled first), Mul, AddConst,
//! MulConst, AvgPool (window sum, rounded division), MaxPool and Lookup (shared tagged table
//! with clamping; needs [`CircuitSettings::lookup_table`]). Softmax is rejected with
//! [`CircuitError::UnsupportedOp`] when the circuit is built.
//!
//! * [`settings`] — [`CircuitSettings`] (the circuit's `Circuit::Params`) and [`Visibility`].
//! * [`instances`](mod@instances) — THE public-instance layout, [`instances()`](instances::instances) and
//!   [`decode_output`].
//! * [`plan`](mod@plan) — automatic choice of `k` and the column pool ([`plan()`](plan::plan)),
//!   and the shape numbers of a layout ([`CircuitShape`]).
//! * [`support`] — supported operations and required range-check width.
//! * [`tamper`] — deliberate witness faults for soundness tests (feature `tamper`).
//! * internal: `synth` (layout driver), `layer` (shared layer context and rescale helpers),
//!   `linear` / `activation` / `arith` / `pool` (one file per kind of layer), `dry_run` (row
//!   counting without a prover).
//! * [`config`] — the circuit's columns ([`ModelCircuitConfig`]).

pub mod config;
pub mod instances;
pub mod plan;
pub mod settings;
pub mod support;
pub mod tamper;
pub mod weights;

mod activation;
mod arith;
mod dry_run;
mod layer;
mod linear;
mod pool;
mod synth;

use std::sync::{Arc, Mutex};

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};
use zkgrid_models::QuantizedModel;

pub use config::{CircuitConfig, ModelCircuitConfig};
pub use instances::{commitment, decode_output, instances, recipient_from_address, InstanceLayout};
pub use plan::{plan, plan_with, shape, CircuitShape, Plan, PlanGoal};
pub use settings::{
    CircuitSettings, InputVisibility, OutputVisibility, Visibility, WeightsVisibility,
};
pub use tamper::Tamper;
pub use weights::weights_commitment;

use crate::error::CircuitError;
use synth::{lay_out, Job, Synthesis};

/// The private witness of a model circuit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelWitness {
    /// The quantized input (`zkgrid_models::quantize_input`), row-major.
    pub input: Vec<i64>,
    /// The recipient slot (also a public instance; see [`mod@instances`]).
    pub recipient: Fr,
}

/// A quantized model as a halo2 circuit over BN254.
///
/// The circuit computes every intermediate value itself from the input with the chips'
/// integer witness functions, which equal `zkgrid_models::execute` bit for bit.
#[derive(Clone, Debug)]
pub struct ModelCircuit {
    model: Arc<QuantizedModel>,
    settings: CircuitSettings,
    witness: Option<ModelWitness>,
    tamper: Option<Tamper>,
    /// What the last synthesis produced (rows used, output values).
    last: Arc<Mutex<Option<Synthesis>>>,
}

impl ModelCircuit {
    /// A circuit for `model` with `settings`; `witness = None` for key generation.
    ///
    /// Fails with [`CircuitError::UnsupportedOp`] for operations the circuit cannot prove,
    /// [`CircuitError::RangeTooWide`] if the pool's range slots are too narrow for the model,
    /// [`CircuitError::NotEnoughRows`] if the layout or its tables do not fit in `2^k` rows,
    /// [`CircuitError::InvalidParams`] if the model has `Lookup` layers but
    /// `settings.lookup_table` is off, and
    /// [`CircuitError::LengthMismatch`] for an input of the wrong length.
    pub fn new(
        model: &QuantizedModel,
        settings: CircuitSettings,
        witness: Option<ModelWitness>,
    ) -> Result<Self, CircuitError> {
        Self::from_arc(Arc::new(model.clone()), settings, witness)
    }

    /// [`ModelCircuit::new`] for a shared model (no copy of the weights).
    pub fn from_arc(
        model: Arc<QuantizedModel>,
        settings: CircuitSettings,
        witness: Option<ModelWitness>,
    ) -> Result<Self, CircuitError> {
        let circuit = Self::unmeasured(model, settings, witness)?;
        let measured = dry_run::measure(&circuit)?;
        let needed = measured
            .rows_used
            .max(support::settings_table_rows(&circuit.model, &settings))
            .max(circuit.instance_layout().len());
        if needed > measured.usable_rows {
            return Err(CircuitError::NotEnoughRows {
                needed,
                available: measured.usable_rows,
            });
        }
        Ok(circuit)
    }

    /// Every check of [`ModelCircuit::new`] except the row count.
    fn unmeasured(
        model: Arc<QuantizedModel>,
        settings: CircuitSettings,
        witness: Option<ModelWitness>,
    ) -> Result<Self, CircuitError> {
        model.validate()?;
        settings.validate()?;
        support::check_supported(&model)?;
        if support::uses_lookup_table(&model) && !settings.lookup_table {
            return Err(CircuitError::InvalidParams {
                parameter: "lookup_table",
                value: 0,
                expected: "lookup_table = true for a model with Lookup layers",
            });
        }
        if settings.visibility.hashed_weights() {
            weights::param_tensors(&model)?;
        }
        if settings.narrow {
            crate::narrow::model::check_supported(&model, settings.visibility)?;
        } else {
            let chips = support::required_chips(&model, settings.visibility.weights);
            if !settings.chips.covers(&chips) {
                return Err(CircuitError::InvalidParams {
                    parameter: "chips",
                    value: 0,
                    expected:
                        "settings.chips covering the model's layers (support::required_chips)",
                });
            }
            let needed = support::required_range_bits(&model).max(weights::required_range_bits(
                &model,
                settings.visibility.weights,
            )?);
            let max_bits = settings.params.max_range_bits();
            if needed > max_bits {
                return Err(CircuitError::RangeTooWide {
                    bits: needed,
                    max_bits,
                });
            }
        }
        if let Some(w) = &witness {
            let n: usize = model.input.shape.iter().product();
            if w.input.len() != n {
                return Err(CircuitError::LengthMismatch {
                    what: "model input",
                    expected: n,
                    got: w.input.len(),
                });
            }
        }
        Ok(Self {
            model,
            settings,
            witness,
            tamper: None,
            last: Arc::new(Mutex::new(None)),
        })
    }

    /// The same circuit (model, settings, layout already checked) with another witness: the
    /// cheap way to make one proving circuit per input from a key-generation circuit.
    pub fn with_witness(&self, witness: ModelWitness) -> Result<Self, CircuitError> {
        let n: usize = self.model.input.shape.iter().product();
        if witness.input.len() != n {
            return Err(CircuitError::LengthMismatch {
                what: "model input",
                expected: n,
                got: witness.input.len(),
            });
        }
        Ok(Self {
            model: self.model.clone(),
            settings: self.settings,
            witness: Some(witness),
            tamper: self.tamper,
            last: Arc::new(Mutex::new(None)),
        })
    }

    /// The same circuit with a deliberate witness fault (soundness tests only).
    #[cfg(feature = "tamper")]
    pub fn with_tamper(mut self, tamper: Tamper) -> Self {
        self.tamper = Some(tamper);
        self
    }

    /// The model.
    pub fn model(&self) -> &QuantizedModel {
        &self.model
    }

    /// The settings (the circuit's `Circuit::Params`).
    pub fn settings(&self) -> &CircuitSettings {
        &self.settings
    }

    /// The circuit size `k`.
    pub fn k(&self) -> u32 {
        self.settings.k
    }

    /// The instance layout of this circuit.
    pub fn instance_layout(&self) -> InstanceLayout {
        InstanceLayout::new(&self.model, self.settings.visibility)
    }

    /// The public instances of this circuit's witness: the output is computed with
    /// `zkgrid_models::execute`. `None` without a witness.
    pub fn instances(&self) -> Result<Option<Vec<Fr>>, CircuitError> {
        let Some(w) = &self.witness else {
            return Ok(None);
        };
        let execution = zkgrid_models::execute(&self.model, &w.input)?;
        InstanceLayout::for_model(&self.model, self.settings.visibility)?
            .instances(&w.input, execution.output(), w.recipient)
            .map(Some)
    }

    /// The values of the output cells assigned by the last synthesis with a known witness
    /// (e.g. a `MockProver` run or a proof).
    pub fn synthesized_output(&self) -> Option<Vec<i64>> {
        self.last
            .lock()
            .ok()
            .and_then(|last| last.as_ref().and_then(|s| s.output.clone()))
    }

    /// Rows the last synthesis (key generation, proving or `MockProver`) actually assigned.
    pub fn synthesized_rows(&self) -> Option<usize> {
        self.last
            .lock()
            .ok()
            .and_then(|last| last.as_ref().map(|s| s.rows_used))
    }

    fn job(&self) -> Job<'_> {
        Job {
            model: &self.model,
            visibility: self.settings.visibility,
            witness: self.witness.as_ref(),
            tamper: self.tamper,
        }
    }
}

impl Circuit<Fr> for ModelCircuit {
    type Config = Option<CircuitConfig>;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = CircuitSettings;

    fn without_witnesses(&self) -> Self {
        Self {
            model: self.model.clone(),
            settings: self.settings,
            witness: None,
            tamper: None,
            last: Arc::new(Mutex::new(None)),
        }
    }

    fn params(&self) -> CircuitSettings {
        self.settings
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> Self::Config {
        Self::configure_with_params(meta, CircuitSettings::default())
    }

    /// Configures the chips; invalid settings give `None` (logged), and synthesis then fails.
    fn configure_with_params(
        meta: &mut ConstraintSystem<Fr>,
        settings: CircuitSettings,
    ) -> Self::Config {
        match CircuitConfig::configure(meta, &settings) {
            Ok(config) => Some(config),
            Err(error) => {
                tracing::error!(%error, ?settings, "model circuit configuration failed");
                None
            }
        }
    }

    fn synthesize(
        &self,
        config: Self::Config,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        let config = config.ok_or(CircuitError::NotConfigured)?;
        let capacity = config.usable_rows(self.settings.k);
        let synthesis = lay_out(&self.job(), &config, &mut layouter, capacity)?;
        if let Ok(mut last) = self.last.lock() {
            *last = Some(synthesis);
        }
        Ok(())
    }
}
