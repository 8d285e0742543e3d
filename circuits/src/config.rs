//! The shared column pool every chip configures on, and the model-wide configuration.
//!
//! One pool per circuit keeps the column count small: a dense row, a rescale row and a ReLU
//! row all use the same advice *lanes* and the same fixed columns, only their selectors differ.
//!
//! | columns | count | equality | used by |
//! |---|---|---|---|
//! | advice lanes | `lanes` (W) | yes | inputs of every op, outputs handed to the next layer |
//! | advice accumulator | 1 | yes | running sum of the dense chip |
//! | fixed | `W + 1` | no | weights, bias, per-op constants |
//! | range columns | `range_slots` (S) | yes | running sums of range checks, one lookup each |
//! | range fixed | `3 × S` | no | scale, offset and next-row multiplier of each slot |
//! | table | 1 (256 rows) | – | the 8-bit range table |
//!
//! With [`ModelParams::range_digits`] the range chip checks base-4 digits in a gate instead
//! (see [`crate::chips::range`]): one fixed column per slot (the offset) plus its digit
//! selector, no table and no lookup argument, four times the range rows.
//!
//! The range columns belong to the range chip alone, so range checks run on their own row
//! track beside the other chips (see [`crate::layout::RowAllocator`]): a rescale or ReLU row
//! and the range checks of earlier values share rows.
//!
//! Gates have degree ≤ 4; the range lookups take `fixed × advice` expressions without selector
//! (degree 5), so the constraint system degree is 5: unused range rows have all-zero fixed
//! cells, so their lookup input is 0, which is in the table.

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Fixed, TableColumn};
use serde::{Deserialize, Serialize};

use crate::chips::affine::{AffineChip, AffineConfig};
use crate::chips::arith::{ArithChip, ArithConfig};
use crate::chips::dense::{DenseChip, DenseConfig};
use crate::chips::max::{MaxChip, MaxConfig};
use crate::chips::product::{ProductChip, ProductConfig};
use crate::chips::range::{RangeChip, RangeConfig};
use crate::chips::relu::{ReluChip, ReluConfig};
use crate::chips::rescale::{RescaleChip, RescaleConfig};
use crate::error::CircuitError;
use crate::field::Field;
use crate::layout::{assign, rows_for, AssignedVar, RowAllocator};

/// Shape of the column pool, fixed at configure time (it determines the verifying key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelParams {
    /// Number of advice lanes W: multiply-accumulates per dense row.
    pub lanes: usize,
    /// Range checks per range row (each slot has its own limb columns).
    pub range_slots: usize,
    /// Most 8-bit limbs one range check may use: the widest check is `8 × limbs_per_slot` bits
    /// (a check of `n` limbs takes `n` rows of its slot, one more if its top limb is narrower
    /// than 8 bits).
    pub limbs_per_slot: usize,
    /// Range checks by base-4 digits in a gate instead of 8-bit limbs against a lookup table:
    /// five fewer verifier commitments per slot (no lookup argument, no table, one fixed
    /// column instead of three, one more selector), about four times the range rows. Not
    /// written when false, so settings from before this option keep their digests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub range_digits: bool,
}

impl Default for ModelParams {
    /// 32 lanes, one range slot of 3 limbs (checks up to 24 bits), lookup range checks.
    fn default() -> Self {
        Self {
            lanes: 32,
            range_slots: 1,
            limbs_per_slot: 3,
            range_digits: false,
        }
    }
}

/// The optional chips a pool configures; the range, dense, rescale and ReLU chips always are.
/// A chip that is not configured adds no selector (a fixed commitment) and no gate (constraint
/// evaluation) to the verifier, and LeakyReLU and max need six lanes, the others at most four.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChipSet {
    /// Addition and subtraction of activations.
    pub arith: bool,
    /// Multiplication / addition by per-element constants.
    pub affine: bool,
    /// Element-wise products of activations.
    pub product: bool,
    /// Max and argmax over windows.
    pub max: bool,
    /// LeakyReLU.
    pub leaky: bool,
}

impl ChipSet {
    /// Every chip.
    pub const ALL: Self = Self {
        arith: true,
        affine: true,
        product: true,
        max: true,
        leaky: true,
    };
    /// Only the chips that are always configured.
    pub const NONE: Self = Self {
        arith: false,
        affine: false,
        product: false,
        max: false,
        leaky: false,
    };

    /// Whether every chip of `other` is in `self`.
    pub fn covers(&self, other: &ChipSet) -> bool {
        (self.arith || !other.arith)
            && (self.affine || !other.affine)
            && (self.product || !other.product)
            && (self.max || !other.max)
            && (self.leaky || !other.leaky)
    }

    /// Fewest lanes these chips need: six with LeakyReLU or max, else four (ReLU and rescale).
    pub fn min_lanes(&self) -> usize {
        if self.leaky || self.max {
            6
        } else {
            4
        }
    }
}

impl Default for ChipSet {
    /// Every chip (what settings written before chip sets existed were configured with).
    fn default() -> Self {
        Self::ALL
    }
}

impl ModelParams {
    /// Fewest lanes the chips support (ReLU and rescale need four lanes per op; LeakyReLU and
    /// max six, see [`ChipSet::min_lanes`]).
    pub const MIN_LANES: usize = 4;
    /// Most lanes accepted (a sanity bound, far above useful values).
    pub const MAX_LANES: usize = 256;
    /// Most limbs per range slot (64-bit checks).
    pub const MAX_LIMBS_PER_SLOT: usize = 8;

    /// Parameters with the given lanes, range slots and limbs per slot (lookup range checks).
    pub fn new(lanes: usize, range_slots: usize, limbs_per_slot: usize) -> Self {
        Self {
            lanes,
            range_slots,
            limbs_per_slot,
            range_digits: false,
        }
    }

    /// The same parameters with range checks by base-4 digits (`true`) or by lookup (`false`).
    pub fn with_range_digits(self, range_digits: bool) -> Self {
        Self {
            range_digits,
            ..self
        }
    }

    /// Checks that every chip can be configured on a pool of this shape.
    pub fn validate(&self) -> Result<(), CircuitError> {
        if !(Self::MIN_LANES..=Self::MAX_LANES).contains(&self.lanes) {
            return Err(CircuitError::InvalidParams {
                parameter: "lanes",
                value: self.lanes,
                expected: "4..=256",
            });
        }
        if !(1..=self.lanes).contains(&self.range_slots) {
            return Err(CircuitError::InvalidParams {
                parameter: "range_slots",
                value: self.range_slots,
                expected: "1..=lanes",
            });
        }
        if !(1..=Self::MAX_LIMBS_PER_SLOT).contains(&self.limbs_per_slot) {
            return Err(CircuitError::InvalidParams {
                parameter: "limbs_per_slot",
                value: self.limbs_per_slot,
                expected: "1..=8",
            });
        }
        Ok(())
    }

    /// Widest range check (in bits) a range slot can decompose.
    pub fn max_range_bits(&self) -> u32 {
        // limbs_per_slot ≤ 8 after validation; saturate for unvalidated input.
        u32::try_from(self.limbs_per_slot)
            .unwrap_or(u32::MAX / 8)
            .saturating_mul(8)
    }

    /// Number of fixed columns shared by the chips of the main track.
    pub fn fixed_columns(&self) -> usize {
        self.lanes + 1
    }

    /// Number of fixed columns of the range chip: scale, offset and next-row multiplier per
    /// slot, or only the offset with digit checks (whose selectors are not counted here).
    pub fn range_fixed_columns(&self) -> usize {
        if self.range_digits {
            self.range_slots
        } else {
            3 * self.range_slots
        }
    }

    /// Rows of the 8-bit range table (none with digit checks).
    pub fn range_table_rows(&self) -> usize {
        if self.range_digits {
            0
        } else {
            256
        }
    }
}

/// The shared columns. Chips only ever use columns from here.
#[derive(Clone, Debug)]
pub struct ColumnPool {
    /// W equality-enabled advice lanes.
    pub lanes: Vec<Column<Advice>>,
    /// The equality-enabled accumulator column of the dense chip.
    pub acc: Column<Advice>,
    /// Fixed columns: weights and bias of dense rows, per-op constants of other rows.
    pub fixed: Vec<Column<Fixed>>,
    /// The range chip's equality-enabled running-sum columns (one per range slot, each with
    /// one lookup into `table`).
    pub range_columns: Vec<Column<Advice>>,
    /// The range chip's fixed columns (scales, then offsets, then next-row multipliers; only
    /// offsets with digit checks).
    pub range_fixed: Vec<Column<Fixed>>,
    /// The 256-row table `0..=255` (none with digit checks).
    pub table: Option<TableColumn>,
}

impl ColumnPool {
    /// Allocates the pool's columns (no gates; chips add those).
    pub fn configure<F: Field>(meta: &mut ConstraintSystem<F>, params: &ModelParams) -> Self {
        let lanes = (0..params.lanes)
            .map(|_| {
                let column = meta.advice_column();
                meta.enable_equality(column);
                column
            })
            .collect();
        let acc = meta.advice_column();
        meta.enable_equality(acc);
        let fixed = (0..params.fixed_columns())
            .map(|_| meta.fixed_column())
            .collect();
        let range_columns = (0..params.range_slots)
            .map(|_| {
                let column = meta.advice_column();
                meta.enable_equality(column);
                column
            })
            .collect();
        let range_fixed = (0..params.range_fixed_columns())
            .map(|_| meta.fixed_column())
            .collect();
        let table = (!params.range_digits).then(|| meta.lookup_table_column());
        Self {
            lanes,
            acc,
            fixed,
            range_columns,
            range_fixed,
            table,
        }
    }
}

/// The pool plus every chip configured on it: what a model circuit's `configure` returns.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The shape the pool was configured with.
    pub params: ModelParams,
    /// The shared columns.
    pub pool: ColumnPool,
    /// Range checks (running sums of 8-bit limbs against the shared table).
    pub range: RangeConfig,
    /// Dot products / dense layers.
    pub dense: DenseConfig,
    /// Rescale and rounded division by a constant.
    pub rescale: RescaleConfig,
    /// ReLU and LeakyReLU.
    pub relu: ReluConfig,
    /// Addition and subtraction of activations (when configured).
    pub arith: Option<ArithConfig>,
    /// Max and argmax over windows (when configured).
    pub max: Option<MaxConfig>,
    /// Multiplication / addition by per-element constants (when configured).
    pub affine: Option<AffineConfig>,
    /// Element-wise products of activations (when configured).
    pub product: Option<ProductConfig>,
    /// Blinding rows halo2 reserves at the end of each column for this constraint system.
    pub blinding_factors: usize,
}

impl ModelConfig {
    /// Creates the pool and configures every chip on it.
    ///
    /// Call this last in `Circuit::configure` if other chips (e.g. Poseidon) add columns with
    /// more rotations, or recompute [`Self::blinding_factors`] afterwards.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        params: &ModelParams,
    ) -> Result<Self, CircuitError> {
        Self::configure_with(meta, params, ChipSet::ALL)
    }

    /// Creates the pool and configures the always-present chips and those of `chips`.
    pub fn configure_with<F: Field>(
        meta: &mut ConstraintSystem<F>,
        params: &ModelParams,
        chips: ChipSet,
    ) -> Result<Self, CircuitError> {
        params.validate()?;
        if params.lanes < chips.min_lanes() {
            return Err(CircuitError::InvalidParams {
                parameter: "lanes",
                value: params.lanes,
                expected: "at least 6 lanes with LeakyReLU or max layers",
            });
        }
        let pool = ColumnPool::configure(meta, params);
        let range = RangeConfig::configure(meta, &pool, params)?;
        let dense = DenseConfig::configure(meta, &pool)?;
        let rescale = RescaleConfig::configure(meta, &pool, &range)?;
        let relu = ReluConfig::configure(meta, &pool, &range, chips.leaky)?;
        let arith = chips
            .arith
            .then(|| ArithConfig::configure(meta, &pool, &range))
            .transpose()?;
        let max = chips
            .max
            .then(|| MaxConfig::configure(meta, &pool, &range))
            .transpose()?;
        let affine = chips
            .affine
            .then(|| AffineConfig::configure(meta, &pool))
            .transpose()?;
        let product = chips
            .product
            .then(|| ProductConfig::configure(meta, &pool))
            .transpose()?;
        let blinding_factors = meta.blinding_factors();
        Ok(Self {
            params: *params,
            pool,
            range,
            dense,
            rescale,
            relu,
            arith,
            max,
            affine,
            product,
            blinding_factors,
        })
    }

    /// Usable rows at circuit size `2^k`: everything but the blinding rows and the last row.
    pub fn usable_rows(&self, k: u32) -> usize {
        1usize
            .checked_shl(k)
            .unwrap_or(0)
            .saturating_sub(self.blinding_factors + 1)
    }

    /// Fills the 8-bit table (nothing with digit checks). Call once per synthesis, before any
    /// range check is proven.
    pub fn load_table<F: Field>(
        &self,
        layouter: &mut impl Layouter<F>,
    ) -> Result<(), CircuitError> {
        self.range_chip().load_table(layouter)
    }

    /// Assigns private witness values to lanes (W per row, no constraints) so that chips can
    /// copy them. Range-check them if they are not otherwise constrained.
    pub fn assign_inputs<F: Field>(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        values: &[Value<F>],
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let width = self.pool.lanes.len();
        let start = rows.alloc(rows_for(values.len(), width))?;
        Ok(values
            .iter()
            .zip(self.pool.lanes.iter().cycle())
            .enumerate()
            .map(|(i, (value, lane))| assign(region, *lane, start + i / width, *value))
            .collect())
    }

    /// The range chip.
    pub fn range_chip<F: Field>(&self) -> RangeChip<F> {
        RangeChip::construct(self.range.clone())
    }

    /// The dense chip.
    pub fn dense_chip<F: Field>(&self) -> DenseChip<F> {
        DenseChip::construct(self.dense.clone())
    }

    /// The rescale / division chip.
    pub fn rescale_chip<F: Field>(&self) -> RescaleChip<F> {
        RescaleChip::construct(self.rescale.clone())
    }

    /// The ReLU / LeakyReLU chip.
    pub fn relu_chip<F: Field>(&self) -> ReluChip<F> {
        ReluChip::construct(self.relu.clone())
    }

    /// The add / sub chip, if configured.
    pub fn arith_chip<F: Field>(&self) -> Result<ArithChip<F>, CircuitError> {
        configured(&self.arith, "add/sub").map(ArithChip::construct)
    }

    /// The max / argmax chip, if configured.
    pub fn max_chip<F: Field>(&self) -> Result<MaxChip<F>, CircuitError> {
        configured(&self.max, "max").map(MaxChip::construct)
    }

    /// The multiply / add constant chip, if configured.
    pub fn affine_chip<F: Field>(&self) -> Result<AffineChip<F>, CircuitError> {
        configured(&self.affine, "affine").map(AffineChip::construct)
    }

    /// The element-wise product chip, if configured.
    pub fn product_chip<F: Field>(&self) -> Result<ProductChip<F>, CircuitError> {
        configured(&self.product, "product").map(ProductChip::construct)
    }
}

/// A clone of an optional chip's configuration, or [`CircuitError::ChipNotConfigured`].
fn configured<T: Clone>(config: &Option<T>, chip: &'static str) -> Result<T, CircuitError> {
    config
        .clone()
        .ok_or(CircuitError::ChipNotConfigured { chip })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_validation() {
        assert!(ModelParams::default().validate().is_ok());
        assert!(ModelParams::new(3, 1, 3).validate().is_err());
        assert!(ModelParams::new(8, 0, 3).validate().is_err());
        assert!(ModelParams::new(8, 9, 3).validate().is_err());
        assert!(ModelParams::new(8, 1, 0).validate().is_err());
        assert!(ModelParams::new(8, 1, 9).validate().is_err());
        let p = ModelParams::new(8, 2, 3);
        assert_eq!(p.fixed_columns(), 9);
        assert_eq!(p.range_fixed_columns(), 6);
        assert_eq!(p.max_range_bits(), 24);
        assert_eq!(p.range_table_rows(), 256);
        let d = p.with_range_digits(true);
        assert_eq!(d.range_fixed_columns(), 2);
        assert_eq!(d.max_range_bits(), 24);
        assert_eq!(d.range_table_rows(), 0);
        assert!(d.validate().is_ok());
    }

    #[test]
    fn range_digits_are_not_written_when_off() -> anyhow::Result<()> {
        let lookup = serde_json::to_string(&ModelParams::new(8, 1, 3))?;
        assert!(!lookup.contains("range_digits"), "{lookup}");
        let back: ModelParams = serde_json::from_str(&lookup)?;
        assert!(!back.range_digits);
        let digits = ModelParams::new(8, 1, 3).with_range_digits(true);
        let back: ModelParams = serde_json::from_str(&serde_json::to_string(&digits)?)?;
        assert_eq!(back, digits);
        Ok(())
    }

    #[test]
    fn chip_sets_configure_only_what_they_name() -> anyhow::Result<()> {
        use halo2_proofs::halo2curves::bn256::Fr;
        let selectors = |chips: ChipSet, lanes: usize| -> anyhow::Result<(usize, ModelConfig)> {
            let mut meta = ConstraintSystem::<Fr>::default();
            let config =
                ModelConfig::configure_with(&mut meta, &ModelParams::new(lanes, 1, 2), chips)?;
            Ok((meta.num_selectors(), config))
        };
        let (all, _) = selectors(ChipSet::ALL, 8)?;
        let (none, config) = selectors(ChipSet::NONE, 4)?;
        // dense (2), rescale, relu only; every optional chip adds its selector.
        assert_eq!(none, 4);
        assert_eq!(all, 9);
        assert!(matches!(
            config.max_chip::<Fr>(),
            Err(CircuitError::ChipNotConfigured { chip: "max" })
        ));
        assert!(matches!(
            config.arith_chip::<Fr>(),
            Err(CircuitError::ChipNotConfigured { .. })
        ));
        assert!(config.relu.q_leaky.is_none());
        // LeakyReLU and max need six lanes.
        for chips in [
            ChipSet {
                leaky: true,
                ..ChipSet::NONE
            },
            ChipSet {
                max: true,
                ..ChipSet::NONE
            },
        ] {
            assert_eq!(chips.min_lanes(), 6);
            assert!(matches!(
                selectors(chips, 4),
                Err(e) if e.to_string().contains("lanes")
            ));
        }
        assert!(ChipSet::ALL.covers(&ChipSet::NONE));
        assert!(!ChipSet::NONE.covers(&ChipSet {
            product: true,
            ..ChipSet::NONE
        }));
        assert!(ModelParams::new(3, 1, 2).validate().is_err());
        Ok(())
    }
}
