//! What a model circuit is configured with: the visibility of its input and output, the shape
//! of the column pool and the circuit size `k`. [`CircuitSettings`] is the circuit's
//! `Circuit::Params`, so it fully determines the verifying key together with the model.

use serde::{Deserialize, Serialize};

use crate::config::{ChipSet, ModelParams};
use crate::error::CircuitError;

/// How the model input appears in the public instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputVisibility {
    /// Every quantized input value is a public instance.
    #[default]
    Public,
    /// One public instance: the Poseidon `hash_many` of the quantized input values.
    Hashed,
    /// The input is a private witness (only its range is proven).
    Private,
}

/// How the model output appears in the public instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputVisibility {
    /// Every quantized output value is a public instance.
    #[default]
    Public,
    /// One public instance: the Poseidon `hash_many` of the quantized output values.
    Hashed,
}

/// How the model's parameters (Dense/Conv2d weights and biases, AddConst/MulConst constants)
/// enter the circuit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsVisibility {
    /// Fixed columns: the verifying key commits to the weights (anyone holding it can read
    /// them back).
    #[default]
    Fixed,
    /// Private witness cells bound to one public instance, the Poseidon commitment of the
    /// packed parameters ([`crate::model::weights`]); the verifying key depends only on the
    /// architecture and the parameters' shapes and bit widths.
    Hashed,
}

impl WeightsVisibility {
    /// Whether the weights are fixed columns (the default; omitted from serialized settings so
    /// that cache digests of earlier settings stay the same).
    pub fn is_fixed(&self) -> bool {
        *self == WeightsVisibility::Fixed
    }
}

/// Visibility of the input, of the output and of the weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Visibility {
    /// The input.
    pub input: InputVisibility,
    /// The output.
    pub output: OutputVisibility,
    /// The weights.
    #[serde(default, skip_serializing_if = "WeightsVisibility::is_fixed")]
    pub weights: WeightsVisibility,
}

impl Visibility {
    /// Public input and public output.
    pub const PUBLIC: Self = Self {
        input: InputVisibility::Public,
        output: OutputVisibility::Public,
        weights: WeightsVisibility::Fixed,
    };

    /// Visibility of the input and the output, weights fixed.
    pub fn new(input: InputVisibility, output: OutputVisibility) -> Self {
        Self {
            input,
            output,
            weights: WeightsVisibility::Fixed,
        }
    }

    /// The same visibility with the given weights visibility.
    pub fn with_weights(self, weights: WeightsVisibility) -> Self {
        Self { weights, ..self }
    }

    /// Whether the weights are private with a public commitment.
    pub fn hashed_weights(&self) -> bool {
        self.weights == WeightsVisibility::Hashed
    }

    /// Whether the circuit needs the Poseidon chip.
    pub fn needs_poseidon(&self) -> bool {
        self.input == InputVisibility::Hashed
            || self.output == OutputVisibility::Hashed
            || self.hashed_weights()
    }
}

/// Everything `Circuit::configure_with_params` needs: the column pool, the circuit size, the
/// visibility and whether the lookup-table chip is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CircuitSettings {
    /// Shape of the shared column pool.
    pub params: ModelParams,
    /// The circuit has `2^k` rows.
    pub k: u32,
    /// Visibility of input and output.
    pub visibility: Visibility,
    /// Configure the shared lookup table (needed by models with `Lookup` layers; costs one
    /// lookup argument and three table columns otherwise).
    #[serde(default)]
    pub lookup_table: bool,
    /// The optional chips configured (default: all, as before chip sets existed); must cover
    /// the model's layers ([`super::support::required_chips`]).
    #[serde(default)]
    pub chips: ChipSet,
    /// Lay Poseidon's partial rounds out in blocks ([`crate::poseidon::chip::PartialRounds`]):
    /// fewer rows, one more gate. Only meaningful when the circuit hashes; absent (false) in
    /// settings written before blocks existed, and not written when false, so those settings
    /// and their keys are unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub poseidon_blocks: bool,
    /// Key generation merges selectors that are never on together into shared fixed columns
    /// (halo2's selector compression, without raising the degree): fewer fixed commitments
    /// for the verifier and fewer polynomials for the prover. Part of the layout because it
    /// changes the verifying key; absent (false) in settings written before it existed and
    /// not written when false, so those keys are unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compress_selectors: bool,
    /// Lay the model out with the narrow backend ([`crate::narrow`]): one advice column and
    /// two generic gates, the fewest commitments for an on-chain verifier, many more rows to
    /// prove. `params`, `chips` and `poseidon_blocks` are then unused. Absent (false) in
    /// settings written before it existed and not written when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub narrow: bool,
}

impl Default for CircuitSettings {
    /// The default pool at the smallest size, public input and output.
    fn default() -> Self {
        Self {
            params: ModelParams::default(),
            k: Self::MIN_K,
            visibility: Visibility::PUBLIC,
            lookup_table: false,
            chips: ChipSet::ALL,
            poseidon_blocks: false,
            compress_selectors: false,
            narrow: false,
        }
    }
}

impl CircuitSettings {
    /// Smallest circuit size: the 256-row range table must fit in the usable rows.
    pub const MIN_K: u32 = 9;
    /// Largest circuit size accepted (BN254 supports 2^28; keys beyond 2^26 are impractical).
    pub const MAX_K: u32 = 26;

    /// Settings from their parts, without the lookup table (see
    /// [`CircuitSettings::with_lookup_table`]).
    pub fn new(params: ModelParams, k: u32, visibility: Visibility) -> Self {
        Self {
            params,
            k,
            visibility,
            lookup_table: false,
            chips: ChipSet::ALL,
            poseidon_blocks: false,
            compress_selectors: false,
            narrow: false,
        }
    }

    /// The same settings with the narrow backend ([`crate::narrow`]) or the column pool.
    pub fn with_narrow(self, narrow: bool) -> Self {
        Self { narrow, ..self }
    }

    /// The same settings with or without selector compression at key generation.
    pub fn with_compressed_selectors(self, compress_selectors: bool) -> Self {
        Self {
            compress_selectors,
            ..self
        }
    }

    /// The same settings with Poseidon's partial rounds in blocks or one per state.
    pub fn with_poseidon_blocks(self, poseidon_blocks: bool) -> Self {
        Self {
            poseidon_blocks,
            ..self
        }
    }

    /// The same settings configuring only `chips` among the optional chips.
    pub fn with_chips(self, chips: ChipSet) -> Self {
        Self { chips, ..self }
    }

    /// The same settings with or without the lookup table.
    pub fn with_lookup_table(self, lookup_table: bool) -> Self {
        Self {
            lookup_table,
            ..self
        }
    }

    /// Checks the pool shape and the circuit size.
    pub fn validate(&self) -> Result<(), CircuitError> {
        self.params.validate()?;
        if self.narrow && self.lookup_table {
            return Err(CircuitError::InvalidParams {
                parameter: "lookup_table",
                value: 1,
                expected: "no lookup table with the narrow backend",
            });
        }
        if self.lookup_table && self.params.lanes < 7 {
            return Err(CircuitError::InvalidParams {
                parameter: "lanes",
                value: self.params.lanes,
                expected: "at least 7 lanes with the lookup table",
            });
        }
        if !(Self::MIN_K..=Self::MAX_K).contains(&self.k) {
            return Err(CircuitError::InvalidParams {
                parameter: "k",
                value: usize::try_from(self.k).unwrap_or(usize::MAX),
                expected: "9..=26",
            });
        }
        Ok(())
    }
}
