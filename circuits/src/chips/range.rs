//! Range checks: `v − lo ∈ [0, 2^bits)` by 8-bit limbs against one shared 256-row table, as a
//! running sum down one advice column per slot.
//!
//! # Layout
//! Each range slot `j` owns one equality-enabled advice column `z` and three fixed columns: the
//! scale `a`, the offset `o` and the next-row multiplier `b`. One lookup per slot, without
//! selector, puts the expression
//!
//! `l(r) = a(r) · z(r) + o(r) − b(r) · z(r + 1)`
//!
//! in the table `0..=255` on every usable row; rows no check uses have `a = o = b = 0`, so
//! `l = 0`. The columns are the range chip's own, so its rows come from the allocator's range
//! track ([`RowAllocator::alloc_range`]) and overlap the other chips' rows.
//!
//! A check of `bits` bits uses `n = max(1, ⌈bits/8⌉)` limbs; the top limb has width
//! `m = bits − 8(n − 1)` (`m = 0` for a 0-bit check). Its rows, from the slot's current row `s`:
//!
//! | row | `z` | `a` | `o` | `b` | `l` |
//! |---|---|---|---|---|---|
//! | `s` | `v` (copied in) | 1 | `−lo` | 256 (0 if `n = 1`) | limb 0 |
//! | `s + i`, `0 < i < n` | `⌊(v − lo) / 256^i⌋` | 1 | 0 | 256 (0 if `i = n − 1`) | limb `i` |
//! | `s + n` (only if `m < 8`) | copy of row `s + n − 1` | `2^(8−m)` | `2^(8−m) · o(s + n − 1)` | 0 | limb `n − 1` `· 2^(8−m)` |
//!
//! Soundness: the first `n` rows give `v − lo = Σ_i l_i · 256^i` with every `l_i ∈ [0, 256)`
//! (telescoping the running sum), i.e. `v − lo ∈ [0, 2^(8n))` as an integer (`8n ≤ 64`, far
//! below the field size). The last row multiplies the top limb `l_{n−1}` — already known to
//! be below 256 — by `2^(8−m)` and looks it up again, so `l_{n−1} < 2^m` and
//! `v − lo < 2^bits`. A 0-bit check (`n = 1`, `m = 0`) forces `256 · (v − lo) < 256`, i.e.
//! `v = lo`.
//!
//! One advice column and one lookup per slot (instead of a column and a lookup per limb) keep
//! the verifier's commitments few: every commitment costs an elliptic-curve multiplication
//! on-chain. The lookup's input has degree 2 (fixed × advice), which makes the constraint
//! system's degree 5.
//!
//! # Assumptions
//! None on the value: out-of-range values simply fail to verify. The scales, offsets and
//! multipliers are fixed, so the checked interval is part of the verifying key.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Layouter, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Fixed, TableColumn};
use halo2_proofs::poly::Rotation;

use crate::config::{ColumnPool, ModelParams};
use crate::error::CircuitError;
use crate::field::{fe_from_i128, Field};
use crate::layout::{assign, copy, fix, take, AssignedVar, RowAllocator};

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

/// Columns of the range chip.
#[derive(Clone, Debug)]
pub struct RangeConfig {
    /// Running-sum column of each slot (equality enabled).
    pub columns: Vec<Column<Advice>>,
    /// Scale `a` of each slot.
    pub scales: Vec<Column<Fixed>>,
    /// Offset `o` of each slot.
    pub offsets: Vec<Column<Fixed>>,
    /// Next-row multiplier `b` of each slot.
    pub nexts: Vec<Column<Fixed>>,
    /// The 8-bit table.
    pub table: TableColumn,
    /// Most limbs one check may use: the widest check is `8 × limbs_per_slot` bits.
    pub limbs_per_slot: usize,
}

impl RangeConfig {
    /// Adds one lookup per slot of the pool: `a · z + o − b · z_next ∈ 0..=255`.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        params: &ModelParams,
    ) -> Result<Self, CircuitError> {
        let slots = params.range_slots;
        let columns = take(&pool.range_columns, 0, slots, "range columns")?;
        let fixed = take(&pool.range_fixed, 0, 3 * slots, "range fixed columns")?;
        let config = Self {
            columns,
            scales: fixed[..slots].to_vec(),
            offsets: fixed[slots..2 * slots].to_vec(),
            nexts: fixed[2 * slots..].to_vec(),
            table: pool.table,
            limbs_per_slot: params.limbs_per_slot,
        };
        for j in 0..slots {
            let (z, a, o, b) = (
                config.columns[j],
                config.scales[j],
                config.offsets[j],
                config.nexts[j],
            );
            meta.lookup("8-bit limb of a running sum", |meta| {
                let limb = meta.query_fixed(a, Rotation::cur())
                    * meta.query_advice(z, Rotation::cur())
                    + meta.query_fixed(o, Rotation::cur())
                    - meta.query_fixed(b, Rotation::cur()) * meta.query_advice(z, Rotation::next());
                vec![(limb, config.table)]
            });
        }
        Ok(config)
    }
}

/// The running-sum cells of one check below its first row (whose cell is the copied value):
/// the quotients `⌊(v − lo) / 256^i⌋` for `0 < i < n`, then the copy of the last one when the
/// top limb is narrower than 8 bits. Computed by [`RangeChip::witness`]; tests replace it to
/// make the assignment lie.
#[derive(Clone, Debug)]
pub struct RangeWitness<F: Field> {
    /// One value per row after the first.
    pub cells: Vec<Value<F>>,
}

/// One range check to lay out: a value, its interval and its running-sum witness.
#[derive(Clone, Debug)]
pub struct RangeCheck<F: Field> {
    /// The checked value (copied into the check's first row).
    pub var: AssignedVar<F>,
    /// The interval.
    pub spec: RangeSpec,
    /// The running sum.
    pub witness: RangeWitness<F>,
}

/// Row shape of one check.
#[derive(Clone, Copy, Debug)]
struct CheckShape {
    /// Limbs `n`.
    limbs: usize,
    /// `2^(8−m)` for a top limb of `m < 8` bits, `None` when `m = 8`.
    top_scale: Option<u64>,
}

impl CheckShape {
    fn rows(&self) -> usize {
        self.limbs + usize::from(self.top_scale.is_some())
    }
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

    /// Widest check the chip supports, in bits.
    pub fn max_bits(&self) -> u32 {
        u32::try_from(self.config.limbs_per_slot)
            .unwrap_or(u32::MAX / 8)
            .saturating_mul(8)
    }

    /// Running-sum columns the checks are spread over.
    pub fn slots(&self) -> usize {
        self.config.columns.len()
    }

    /// Rows of the range track a check of `spec` occupies in its slot.
    pub fn rows_per_check(&self, spec: &RangeSpec) -> Result<usize, CircuitError> {
        Ok(self.shape(spec)?.rows())
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

    fn shape(&self, spec: &RangeSpec) -> Result<CheckShape, CircuitError> {
        let max_bits = self.max_bits();
        if spec.bits > max_bits {
            return Err(CircuitError::RangeTooWide {
                bits: spec.bits,
                max_bits,
            });
        }
        // bits ≤ 64 here, so these conversions are exact.
        let limbs = spec.bits.div_ceil(8).max(1);
        let top_bits = spec.bits - 8 * (limbs - 1);
        Ok(CheckShape {
            limbs: usize::try_from(limbs).map_err(|_| CircuitError::InvalidBitWidth {
                op: "range check",
                bits: spec.bits,
            })?,
            top_scale: (top_bits < 8).then(|| 1u64 << (8 - top_bits)),
        })
    }

    /// The honest running sum of `value` for `spec`. Total: a value outside the interval gets
    /// the quotients of its low bytes, which then fail the lookups.
    pub fn witness(
        &self,
        value: Value<F>,
        spec: &RangeSpec,
    ) -> Result<RangeWitness<F>, CircuitError> {
        let shape = self.shape(spec)?;
        let offset = -fe_from_i128::<F>(spec.lo);
        let n = shape.limbs;
        let cells = value.map(|v| {
            let bytes = (v + offset).to_repr();
            // z_i = Σ_{i ≤ j < n} byte_j · 256^(j − i)
            let quotient = |i: usize| {
                bytes[i..n].iter().rev().fold(F::ZERO, |acc, b| {
                    acc * F::from(256u64) + F::from(u64::from(*b))
                })
            };
            let mut cells: Vec<F> = (1..n).map(quotient).collect();
            if shape.top_scale.is_some() {
                // The copy of the top row: the top quotient, or the value itself if n = 1.
                cells.push(if n == 1 { v } else { quotient(n - 1) });
            }
            cells
        });
        Ok(RangeWitness {
            cells: cells.transpose_vec(shape.rows() - 1),
        })
    }

    /// Lays out `checks` over the slots (each check goes to the slot with the fewest rows so
    /// far), with the given witnesses.
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        checks: &[RangeCheck<F>],
    ) -> Result<(), CircuitError> {
        let slots = self.slots();
        let shapes = checks
            .iter()
            .map(|check| {
                let shape = self.shape(&check.spec)?;
                if check.witness.cells.len() != shape.rows() - 1 {
                    return Err(CircuitError::LengthMismatch {
                        what: "range witness cells",
                        expected: shape.rows() - 1,
                        got: check.witness.cells.len(),
                    });
                }
                Ok(shape)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut used = vec![0usize; slots];
        let placements: Vec<(usize, usize)> = shapes
            .iter()
            .map(|shape| {
                let (slot, at) = used
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by_key(|(_, at)| *at)
                    .unwrap_or((0, 0));
                used[slot] = at + shape.rows();
                (slot, at)
            })
            .collect();
        let n_rows = used.iter().copied().max().unwrap_or(0);
        let start = rows.alloc_range(n_rows)?;
        for ((check, shape), (slot, at)) in checks.iter().zip(&shapes).zip(placements) {
            self.assign_check(region, slot, start + at, check, shape);
        }
        tracing::debug!(
            checks = checks.len(),
            rows = n_rows,
            "range checks laid out"
        );
        Ok(())
    }

    fn assign_check(
        &self,
        region: &mut Region<'_, F>,
        slot: usize,
        row: usize,
        check: &RangeCheck<F>,
        shape: &CheckShape,
    ) {
        let (z, a, o, b) = (
            self.config.columns[slot],
            self.config.scales[slot],
            self.config.offsets[slot],
            self.config.nexts[slot],
        );
        let offset = -fe_from_i128::<F>(check.spec.lo);
        let n = shape.limbs;
        let mut top = copy(region, &check.var, z, row);
        fix(region, o, row, offset);
        for i in 0..n {
            if i > 0 {
                top = assign(region, z, row + i, check.witness.cells[i - 1]);
            }
            fix(region, a, row + i, F::ONE);
            if i + 1 < n {
                fix(region, b, row + i, F::from(256u64));
            }
        }
        if let Some(scale) = shape.top_scale {
            let scale = F::from(scale);
            // The copy row claims the witness's value: equal to the top cell's for an honest
            // witness, otherwise the copy constraint fails.
            copy(
                region,
                &top.with_value(check.witness.cells[n - 1]),
                z,
                row + n,
            );
            fix(region, a, row + n, scale);
            if n == 1 {
                fix(region, o, row + n, scale * offset);
            }
        }
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
                if let Some((at, cells)) = &tamper {
                    if *at == i {
                        witness.cells = cells.iter().map(|l| Value::known(fr(*l))).collect();
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
    fn lying_running_sums_fail() -> anyhow::Result<()> {
        let spec = RangeSpec::unsigned(16)?;
        // 0x1234 = 0x34 + 256·0x12: the honest witness is the quotient [0x12].
        verify_ok(run_checks(vec![(0x1234, spec)], Some((0, vec![0x12])))?)?;
        // A quotient one too large makes limb 0 negative, one too small makes it ≥ 256.
        assert!(run_checks(vec![(0x1234, spec)], Some((0, vec![0x13])))?.is_err());
        assert!(run_checks(vec![(0x1234, spec)], Some((0, vec![0x11])))?.is_err());
        // A quotient that is itself no byte.
        assert!(run_checks(vec![(0x1234, spec)], Some((0, vec![0x112])))?.is_err());
        // The quotient that makes limb 0 any byte we like is a huge field element: row 1 fails.
        let result = mock::<8, 2, 3>(10, move |config, region, rows| {
            let chip = config.range_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &[Value::known(fr(0x1234))])?;
            let quotient = (fr(0x1234) - fr(0x35))
                * Fr::from(256u64)
                    .invert()
                    .unwrap_or(<Fr as halo2_proofs::halo2curves::ff::Field>::ZERO);
            chip.assign(
                region,
                rows,
                &[RangeCheck {
                    var: vars[0].clone(),
                    spec,
                    witness: RangeWitness {
                        cells: vec![Value::known(quotient)],
                    },
                }],
            )
        })?;
        assert!(result.is_err());
        // 12 bits: [quotient, copy of the top limb]; the copy must equal the top limb.
        let spec12 = RangeSpec::unsigned(12)?;
        verify_ok(run_checks(
            vec![(0xfff, spec12)],
            Some((0, vec![0xf, 0xf])),
        )?)?;
        assert!(run_checks(vec![(0xfff, spec12)], Some((0, vec![0xf, 0x0])))?.is_err());
        // 2^12 has top limb 0x10, and 0x10 · 16 = 256 is not a byte.
        assert!(run_checks(vec![(1 << 12, spec12)], Some((0, vec![0x10, 0x10])))?.is_err());
        // One-limb check with a narrow top limb: the copy row repeats the value itself.
        let spec3 = RangeSpec::new(-5, 3)?;
        verify_ok(run_checks(vec![(2, spec3)], Some((0, vec![2])))?)?;
        assert!(run_checks(vec![(2, spec3)], Some((0, vec![1])))?.is_err());
        // Wrong witness length is a typed error, not a panic.
        assert!(run_checks(vec![(0x1234, spec)], Some((0, vec![0x12, 0x12]))).is_err());
        Ok(())
    }

    #[test]
    fn checks_spread_over_slots() -> anyhow::Result<()> {
        let used = std::sync::Arc::new(std::sync::Mutex::new(0usize));
        let seen = used.clone();
        let result = mock::<8, 2, 3>(10, move |config, region, rows| {
            let chip = config.range_chip::<Fr>();
            assert_eq!(chip.slots(), 2);
            let values: Vec<Value<Fr>> = (0..5).map(|i| Value::known(fr(i * 100))).collect();
            let vars = config.assign_inputs(region, rows, &values)?;
            let before = rows.range_used();
            // 16 bits: 2 rows; 12 bits: 3 rows (two limbs and the shifted copy).
            let specs = [16u32, 16, 12, 16, 12];
            let items: Vec<_> = vars
                .iter()
                .zip(specs)
                .map(|(v, bits)| Ok((v.clone(), RangeSpec::unsigned(bits)?)))
                .collect::<Result<_, CircuitError>>()?;
            assert_eq!(chip.rows_per_check(&RangeSpec::unsigned(12)?)?, 3);
            assert_eq!(chip.rows_per_check(&RangeSpec::unsigned(0)?)?, 2);
            chip.check(region, rows, &items)?;
            *seen.lock().map_err(|_| CircuitError::NotConfigured)? = rows.range_used() - before;
            Ok(())
        })?;
        verify_ok(result)?;
        // Slot rows after each check: (2,0) (2,2) (5,2) (5,4) (5,7): 7 rows, not 12.
        assert_eq!(*used.lock().map_err(|_| anyhow::anyhow!("lock"))?, 7);
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
