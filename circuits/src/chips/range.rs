//! Range checks: `v − lo ∈ [0, 2^bits)` by 8-bit limbs against one shared 256-row table.
//!
//! # Layout
//! A range row holds `range_slots` (S) checks. Slot `j` uses the range value column `j` for
//! the value `v` (copied in with an equality constraint), `P + 1` limb columns `l_0 … l_P` and
//! `P + 2` fixed columns: the offset `off = −lo`, the limb coefficients `c_0 … c_{P−1}` and the
//! top-limb multiplier `d`. These columns are the range chip's own, so its rows come from the
//! allocator's range track ([`RowAllocator::alloc_range`]) and overlap the other chips' rows.
//!
//! # Constraints (per slot, on rows where `q_range` is on)
//! * `v + off = Σ_i c_i · l_i`
//! * `l_P = d · l_{P−1}`
//! * every limb cell of every row is in `0..=255` (one selector-free lookup per limb column;
//!   cells that no check uses stay 0).
//!
//! A `bits`-wide check uses the top `n = ⌈bits/8⌉` limbs with `c_{P−n+k} = 256^k` (the others
//! have coefficient 0) and `d = 2^(8−m)` where `m = bits − 8(n−1)` is the width of the top
//! limb: `l_P = d · l_{P−1} < 256` forces `l_{P−1} < 2^m`, so `v − lo < 2^bits`. A 0-bit check
//! (`n = 0`, all coefficients 0) proves `v = lo`.
//!
//! # Assumptions
//! None on the value: out-of-range values simply fail to verify. The coefficients are fixed,
//! so the checked interval is part of the verifying key.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Layouter, Region, Value};
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Expression, Fixed, Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;

use crate::config::{ColumnPool, ModelParams};
use crate::error::CircuitError;
use crate::field::{fe_from_i128, Field};
use crate::layout::{assign, copy, fix, rows_for, take, AssignedVar, RowAllocator};

/// The interval `[lo, lo + 2^bits)` a value must lie in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeSpec {
    lo: i128,
    bits: u32,
}

impl RangeSpec {
    /// Widest interval representable (values must stay far below the field size).
    pub const MAX_BITS: u32 = 120;

    /// `[lo, lo + 2^bits)`.
    pub fn new(lo: i128, bits: u32) -> Result<Self, CircuitError> {
        if bits > Self::MAX_BITS {
            return Err(CircuitError::InvalidBitWidth {
                op: "range check",
                bits,
            });
        }
        Ok(Self { lo, bits })
    }

    /// The activation range of a `bits`-wide signed integer: `[−2^(bits−1), 2^(bits−1))`.
    pub fn signed(bits: u32) -> Result<Self, CircuitError> {
        if bits == 0 || bits > Self::MAX_BITS {
            return Err(CircuitError::InvalidBitWidth {
                op: "signed range",
                bits,
            });
        }
        Ok(Self {
            lo: -(1i128 << (bits - 1)),
            bits,
        })
    }

    /// `[0, 2^bits)`.
    pub fn unsigned(bits: u32) -> Result<Self, CircuitError> {
        Self::new(0, bits)
    }

    /// Lower bound (inclusive).
    pub fn lo(&self) -> i128 {
        self.lo
    }

    /// Width of the interval in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Whether `x` lies in the interval.
    pub fn contains(&self, x: i128) -> bool {
        x.checked_sub(self.lo)
            .is_some_and(|u| u >= 0 && (u >> self.bits) == 0)
    }
}

/// Columns and selector of the range chip.
#[derive(Clone, Debug)]
pub struct RangeConfig {
    /// Enables the decomposition gate on a range row.
    pub q_range: Selector,
    /// Value column of each slot.
    pub values: Vec<Column<Advice>>,
    /// Limb columns of each slot: `P` limbs then the shifted copy of the top limb.
    pub limbs: Vec<Vec<Column<Advice>>>,
    /// Offset (`−lo`) column of each slot.
    pub offsets: Vec<Column<Fixed>>,
    /// Limb coefficient columns of each slot.
    pub coeffs: Vec<Vec<Column<Fixed>>>,
    /// Top-limb multiplier column of each slot.
    pub shifts: Vec<Column<Fixed>>,
    /// The 8-bit table.
    pub table: TableColumn,
    /// Limbs per slot (`P`).
    pub limbs_per_slot: usize,
}

impl RangeConfig {
    /// Adds the decomposition gate and one lookup per limb column of the pool.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        params: &ModelParams,
    ) -> Result<Self, CircuitError> {
        let slots = params.range_slots;
        let p = params.limbs_per_slot;
        let values = take(&pool.range_values, 0, slots, "range value columns")?;
        let mut limbs = Vec::with_capacity(slots);
        let mut offsets = Vec::with_capacity(slots);
        let mut coeffs = Vec::with_capacity(slots);
        let mut shifts = Vec::with_capacity(slots);
        for j in 0..slots {
            limbs.push(take(&pool.limbs, j * (p + 1), p + 1, "limb columns")?);
            let fixed = take(&pool.range_fixed, j * (p + 2), p + 2, "range fixed columns")?;
            offsets.push(fixed[0]);
            coeffs.push(fixed[1..=p].to_vec());
            shifts.push(fixed[p + 1]);
        }
        let q_range = meta.selector();
        let config = Self {
            q_range,
            values,
            limbs,
            offsets,
            coeffs,
            shifts,
            table: pool.table,
            limbs_per_slot: p,
        };

        meta.create_gate("range decomposition", |meta| {
            let q = meta.query_selector(config.q_range);
            let mut constraints = Vec::with_capacity(2 * slots);
            for j in 0..slots {
                let v = meta.query_advice(config.values[j], Rotation::cur());
                let off = meta.query_fixed(config.offsets[j], Rotation::cur());
                let mut sum = Expression::Constant(F::ZERO);
                for i in 0..p {
                    let c = meta.query_fixed(config.coeffs[j][i], Rotation::cur());
                    let l = meta.query_advice(config.limbs[j][i], Rotation::cur());
                    sum = sum + c * l;
                }
                constraints.push(q.clone() * (v + off - sum));
                let d = meta.query_fixed(config.shifts[j], Rotation::cur());
                let top = meta.query_advice(config.limbs[j][p - 1], Rotation::cur());
                let shifted = meta.query_advice(config.limbs[j][p], Rotation::cur());
                constraints.push(q.clone() * (shifted - d * top));
            }
            constraints
        });

        for limb in &pool.limbs {
            meta.lookup("8-bit limb", |meta| {
                vec![(meta.query_advice(*limb, Rotation::cur()), pool.table)]
            });
        }
        Ok(config)
    }
}

/// The limb cells of one check (`P` limbs and the shifted top limb). Computed by
/// [`RangeChip::witness`]; tests replace it to make the assignment lie.
#[derive(Clone, Debug)]
pub struct RangeWitness<F: Field> {
    /// `P + 1` values: limbs `l_0 … l_{P−1}` and `l_P = d · l_{P−1}`.
    pub limbs: Vec<Value<F>>,
}

/// One range check to lay out: a value, its interval and its limb witness.
#[derive(Clone, Debug)]
pub struct RangeCheck<F: Field> {
    /// The checked value (copied into the range row).
    pub var: AssignedVar<F>,
    /// The interval.
    pub spec: RangeSpec,
    /// The limbs.
    pub witness: RangeWitness<F>,
}

/// Fixed coefficients of one slot for a given interval.
struct SlotCoefficients<F: Field> {
    offset: F,
    coeffs: Vec<F>,
    shift: F,
    used_limbs: usize,
}

/// Range checks against the 8-bit table.
#[derive(Clone, Debug)]
pub struct RangeChip<F: Field> {
    config: RangeConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for RangeChip<F> {
    type Config = RangeConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

impl<F: Field> RangeChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: RangeConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// Widest check one slot supports, in bits.
    pub fn max_bits(&self) -> u32 {
        u32::try_from(self.config.limbs_per_slot)
            .unwrap_or(u32::MAX / 8)
            .saturating_mul(8)
    }

    /// Checks per range row.
    pub fn slots(&self) -> usize {
        self.config.values.len()
    }

    /// Fills the table with `0..=255`.
    pub fn load_table(&self, layouter: &mut impl Layouter<F>) -> Result<(), CircuitError> {
        let table = self.config.table;
        layouter.assign_table(
            || "8-bit range table",
            |mut t| {
                for (row, byte) in (0..256u64).enumerate() {
                    t.assign_cell(|| "u8", table, row, || Value::known(F::from(byte)))?;
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    fn coefficients(&self, spec: &RangeSpec) -> Result<SlotCoefficients<F>, CircuitError> {
        let max_bits = self.max_bits();
        if spec.bits > max_bits {
            return Err(CircuitError::RangeTooWide {
                bits: spec.bits,
                max_bits,
            });
        }
        let p = self.config.limbs_per_slot;
        // bits ≤ 8P ≤ 64 here, so these conversions are exact.
        let used_limbs =
            usize::try_from(spec.bits.div_ceil(8)).map_err(|_| CircuitError::InvalidBitWidth {
                op: "range check",
                bits: spec.bits,
            })?;
        let first = p - used_limbs;
        let mut coeffs = vec![F::ZERO; p];
        let mut weight = F::ONE;
        for c in coeffs.iter_mut().skip(first) {
            *c = weight;
            weight *= F::from(256u64);
        }
        let shift = if used_limbs == 0 {
            F::ZERO
        } else {
            let top_bits = spec.bits - 8 * (spec.bits.div_ceil(8) - 1);
            F::from(1u64 << (8 - top_bits))
        };
        Ok(SlotCoefficients {
            offset: -fe_from_i128::<F>(spec.lo),
            coeffs,
            shift,
            used_limbs,
        })
    }

    /// The honest limbs of `value` for `spec`. Total: a value outside the interval gets limbs
    /// from its low bytes, which then fail the constraints.
    pub fn witness(
        &self,
        value: Value<F>,
        spec: &RangeSpec,
    ) -> Result<RangeWitness<F>, CircuitError> {
        let coefficients = self.coefficients(spec)?;
        let p = self.config.limbs_per_slot;
        let first = p - coefficients.used_limbs;
        let shifted = value.map(|v| {
            let bytes = (v + coefficients.offset).to_repr();
            let mut limbs = vec![F::ZERO; p + 1];
            for (k, limb) in limbs.iter_mut().enumerate().take(p).skip(first) {
                *limb = F::from(u64::from(bytes[k - first]));
            }
            limbs[p] = coefficients.shift * limbs[p - 1];
            limbs
        });
        Ok(RangeWitness {
            limbs: shifted.transpose_vec(p + 1),
        })
    }

    /// Lays out `checks`, `S` per row, with the given witnesses.
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        checks: &[RangeCheck<F>],
    ) -> Result<(), CircuitError> {
        let slots = self.slots();
        let p = self.config.limbs_per_slot;
        let coefficients = checks
            .iter()
            .map(|check| {
                if check.witness.limbs.len() != p + 1 {
                    return Err(CircuitError::LengthMismatch {
                        what: "range witness limbs",
                        expected: p + 1,
                        got: check.witness.limbs.len(),
                    });
                }
                self.coefficients(&check.spec)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n_rows = rows_for(checks.len(), slots);
        let start = rows.alloc_range(n_rows)?;
        for r in 0..n_rows {
            self.config.q_range.enable(region, start + r)?;
        }
        for (idx, (check, coef)) in checks.iter().zip(coefficients).enumerate() {
            let row = start + idx / slots;
            let j = idx % slots;
            copy(region, &check.var, self.config.values[j], row);
            fix(region, self.config.offsets[j], row, coef.offset);
            for (column, c) in self.config.coeffs[j].iter().zip(coef.coeffs) {
                fix(region, *column, row, c);
            }
            fix(region, self.config.shifts[j], row, coef.shift);
            for (column, limb) in self.config.limbs[j].iter().zip(&check.witness.limbs) {
                assign(region, *column, row, *limb);
            }
        }
        tracing::debug!(
            checks = checks.len(),
            rows = n_rows,
            "range checks laid out"
        );
        Ok(())
    }

    /// Proves `lo ≤ v < lo + 2^bits` for each `(v, spec)`.
    pub fn check(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        items: &[(AssignedVar<F>, RangeSpec)],
    ) -> Result<(), CircuitError> {
        let checks = items
            .iter()
            .map(|(var, spec)| {
                Ok(RangeCheck {
                    var: var.clone(),
                    spec: *spec,
                    witness: self.witness(var.value(), spec)?,
                })
            })
            .collect::<Result<Vec<_>, CircuitError>>()?;
        self.assign(region, rows, &checks)
    }

    /// Proves every value of `vars` lies in `spec`.
    pub fn check_all(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        vars: &[AssignedVar<F>],
        spec: RangeSpec,
    ) -> Result<(), CircuitError> {
        let items: Vec<_> = vars.iter().map(|v| (v.clone(), spec)).collect();
        self.check(region, rows, &items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{edge_values, mock, rng, verify_ok};
    use halo2_proofs::halo2curves::bn256::Fr;
    use rand::Rng as _;

    fn fr(x: i128) -> Fr {
        fe_from_i128(x)
    }

    /// Lays out one check per value, optionally with a replaced witness.
    fn run_checks(
        values: Vec<(i128, RangeSpec)>,
        tamper: Option<(usize, Vec<i128>)>,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 2, 3>(10, move |config, region, rows| {
            let chip = config.range_chip::<Fr>();
            let inputs: Vec<Value<Fr>> = values.iter().map(|(v, _)| Value::known(fr(*v))).collect();
            let vars = config.assign_inputs(region, rows, &inputs)?;
            let mut checks = Vec::new();
            for (i, (var, (_, spec))) in vars.iter().zip(&values).enumerate() {
                let mut witness = chip.witness(var.value(), spec)?;
                if let Some((at, limbs)) = &tamper {
                    if *at == i {
                        witness.limbs = limbs.iter().map(|l| Value::known(fr(*l))).collect();
                    }
                }
                checks.push(RangeCheck {
                    var: var.clone(),
                    spec: *spec,
                    witness,
                });
            }
            chip.assign(region, rows, &checks)
        })
    }

    #[test]
    fn honest_values_pass() -> anyhow::Result<()> {
        let mut values = Vec::new();
        for bits in [8u32, 12, 16, 24] {
            let spec = RangeSpec::signed(bits)?;
            for v in edge_values(bits) {
                values.push((v, spec));
            }
        }
        for bits in [0u32, 1, 7, 8, 9, 13, 16, 23, 24] {
            let spec = RangeSpec::unsigned(bits)?;
            values.push((0, spec));
            values.push(((1i128 << bits) - 1, spec));
        }
        values.push((-5, RangeSpec::new(-5, 3)?));
        values.push((2, RangeSpec::new(-5, 3)?));
        verify_ok(run_checks(values, None)?)
    }

    #[test]
    fn activation_out_of_range_fails() -> anyhow::Result<()> {
        let spec = RangeSpec::signed(16)?;
        for bad in [1i128 << 15, -(1i128 << 15) - 1, 1 << 20, -(1 << 40)] {
            let result = run_checks(vec![(0, spec), (bad, spec)], None)?;
            assert!(result.is_err(), "{bad} accepted as a 16-bit activation");
        }
        // Odd widths rely on the shifted top limb.
        let spec = RangeSpec::signed(12)?;
        for bad in [1i128 << 11, -(1i128 << 11) - 1] {
            assert!(run_checks(vec![(bad, spec)], None)?.is_err());
        }
        let spec = RangeSpec::unsigned(0)?;
        assert!(run_checks(vec![(1, spec)], None)?.is_err());
        Ok(())
    }

    #[test]
    fn lying_limbs_fail() -> anyhow::Result<()> {
        let spec = RangeSpec::unsigned(16)?;
        // 0x1234 = 0x34 + 256·0x12; honest witness (right-aligned in 3 limbs): [0, 0x34, 0x12, 0x12].
        verify_ok(run_checks(
            vec![(0x1234, spec)],
            Some((0, vec![0, 0x34, 0x12, 0x12])),
        )?)?;
        // Sum still matches but a limb is ≥ 256.
        let bad_limb = run_checks(
            vec![(0x1234, spec)],
            Some((0, vec![0, 0x34 + 256, 0x11, 0x11])),
        )?;
        assert!(bad_limb.is_err());
        // Sum does not match.
        let bad_sum = run_checks(vec![(0x1234, spec)], Some((0, vec![0, 0x35, 0x12, 0x12])))?;
        assert!(bad_sum.is_err());
        // Shifted copy inconsistent with the top limb.
        let bad_shift = run_checks(vec![(0x1234, spec)], Some((0, vec![0, 0x34, 0x12, 0x13])))?;
        assert!(bad_shift.is_err());
        // 12-bit check of 2^12: limbs [0, 0x00, 0x10], shifted copy 0x10·16 = 256 is not a byte.
        let spec12 = RangeSpec::unsigned(12)?;
        let overflow = run_checks(vec![(1 << 12, spec12)], Some((0, vec![0, 0, 0x10, 0x100])))?;
        assert!(overflow.is_err());
        // Negative limb whose field value is huge.
        let negative = run_checks(
            vec![(0x1234, spec)],
            Some((0, vec![0, 0x34 + 256 * 0x13, -1, -1])),
        )?;
        assert!(negative.is_err());
        Ok(())
    }

    #[test]
    fn copied_value_must_match() -> anyhow::Result<()> {
        let spec = RangeSpec::signed(16)?;
        let result = mock::<8, 1, 2>(10, move |config, region, rows| {
            let chip = config.range_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &[Value::known(fr(1 << 20))])?;
            // Claim the out-of-range input is 7: the copy into the range row must fail.
            let lie = vars[0].with_value(Value::known(fr(7)));
            chip.check(region, rows, &[(lie, spec)])
        })?;
        assert!(result.is_err());
        Ok(())
    }

    #[test]
    fn too_wide_is_an_error() -> anyhow::Result<()> {
        let mut meta = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
        let config = crate::ModelConfig::configure(&mut meta, &ModelParams::new(8, 1, 3))?;
        let chip = config.range_chip::<Fr>();
        let spec = RangeSpec::unsigned(25)?;
        assert!(matches!(
            chip.witness(Value::known(fr(1)), &spec),
            Err(CircuitError::RangeTooWide {
                bits: 25,
                max_bits: 24
            })
        ));
        assert!(RangeSpec::signed(0).is_err());
        assert!(RangeSpec::new(0, 121).is_err());
        Ok(())
    }

    #[test]
    fn randomized_matches_reference() -> anyhow::Result<()> {
        let mut rng = rng(7);
        let mut in_range = Vec::new();
        for _ in 0..300 {
            let bits = rng.gen_range(0..=24u32);
            let lo = rng.gen_range(-(1i128 << 30)..(1i128 << 30));
            let spec = RangeSpec::new(lo, bits)?;
            let v = lo + rng.gen_range(0..(1i128 << bits));
            assert!(spec.contains(v));
            in_range.push((v, spec));
        }
        verify_ok(run_checks(in_range, None)?)?;
        for _ in 0..20 {
            let bits = rng.gen_range(1..=24u32);
            let spec = RangeSpec::new(rng.gen_range(-1000..1000), bits)?;
            let v = if rng.gen_bool(0.5) {
                spec.lo() + (1i128 << bits) + rng.gen_range(0..1000)
            } else {
                spec.lo() - 1 - rng.gen_range(0..1000)
            };
            assert!(!spec.contains(v));
            assert!(run_checks(vec![(v, spec)], None)?.is_err(), "{v} {spec:?}");
        }
        Ok(())
    }
}
