//! Range checks: `v − lo ∈ [0, 2^bits)` as a running sum down one advice column per slot, by
//! 8-bit limbs against one shared 256-row table ([`RangeMode::Limbs`], the default), or by
//! base-4 digits checked in a gate ([`RangeMode::Digits`], [`ModelParams::range_digits`]).
//!
//! # Layout with limbs
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
//! # Layout with digits
//! Each slot owns the column `z`, one fixed column `o` (the offset) and three selectors. A check
//! of `bits` bits has `n = ⌊bits/2⌋` digit rows, one bit row if `bits` is odd, and a zero row:
//!
//! | row | `z` | `o` | gate |
//! |---|---|---|---|
//! | `s` | `v` (copied in) | `−lo` | digit (bit if `n = 0` and `bits = 1`, zero if `bits = 0`) |
//! | `s + i`, `0 < i < n` | `⌊(v − lo) / 4^i⌋` | 0 | digit: `d = z + o − 4 · z_next ∈ {0, 1, 2, 3}` |
//! | `s + n` (odd `bits`) | `⌊(v − lo) / 4^n⌋` | 0 | bit: `z + o − 2 · z_next ∈ {0, 1}` |
//! | last | `⌊(v − lo) / 2^bits⌋` | 0 | zero: `z + o = 0` |
//!
//! Soundness: telescoping, `v − lo = Σ_i d_i · 4^i (+ e · 4^n)`, a sum of at most 33 small
//! non-negative terms, so `v − lo ∈ [0, 2^bits)` as an integer. The digit gate
//! `q · d(d − 1)(d − 2)(d − 3)` has degree 5, the system's degree with the lookups too, so it
//! adds no quotient piece; its selector cannot be merged with others (its own fixed column).
//! Against limbs: no lookup argument (three proof commitments and five opened evaluations), no
//! table and two fewer fixed columns per slot, for `⌈bits/2⌉ + 1` rows per check instead of
//! `⌈bits/8⌉` (+1).
//!
//! # Assumptions
//! None on the value: out-of-range values simply fail to verify. The scales, offsets and
//! multipliers are fixed, so the checked interval is part of the verifying key.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Layouter, Region, Value};
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Expression, Fixed, Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;

use crate::config::{ColumnPool, ModelParams};
use crate::error::CircuitError;
use crate::field::{fe_from_i128, fe_from_u128, Field};
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

/// How the range chip checks its running sums (see the module documentation).
#[derive(Clone, Debug)]
pub enum RangeMode {
    /// 8-bit limbs `a · z + o − b · z_next` looked up in a 256-row table.
    Limbs {
        /// Scale `a` of each slot.
        scales: Vec<Column<Fixed>>,
        /// Next-row multiplier `b` of each slot.
        nexts: Vec<Column<Fixed>>,
        /// The 8-bit table.
        table: TableColumn,
    },
    /// Base-4 digits `z + o − 4 · z_next` checked by a gate, a last bit `z + o − 2 · z_next`
    /// for odd widths, and a final zero row.
    Digits {
        /// Digit rows of each slot (a degree-5 gate: its own fixed column).
        q_digit: Vec<Selector>,
        /// The bit row of an odd-width check, per slot.
        q_bit: Vec<Selector>,
        /// The zero row ending each check, per slot.
        q_zero: Vec<Selector>,
    },
}

/// Columns of the range chip.
#[derive(Clone, Debug)]
pub struct RangeConfig {
    /// Running-sum column of each slot (equality enabled).
    pub columns: Vec<Column<Advice>>,
    /// Offset `o` of each slot (`−lo` on a check's first row, 0 elsewhere).
    pub offsets: Vec<Column<Fixed>>,
    /// Lookup or digit checks, with their columns and selectors.
    pub mode: RangeMode,
    /// Widest check in bytes: the widest check is `8 × limbs_per_slot` bits.
    pub limbs_per_slot: usize,
}

impl RangeConfig {
    /// Adds, per slot of the pool, the lookup `a · z + o − b · z_next ∈ 0..=255`, or (with
    /// [`ModelParams::range_digits`]) the digit, bit and zero gates.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        params: &ModelParams,
    ) -> Result<Self, CircuitError> {
        let slots = params.range_slots;
        let columns = take(&pool.range_columns, 0, slots, "range columns")?;
        let fixed = take(
            &pool.range_fixed,
            0,
            params.range_fixed_columns(),
            "range fixed columns",
        )?;
        if params.range_digits {
            let config = Self {
                columns,
                offsets: fixed,
                mode: RangeMode::Digits {
                    q_digit: (0..slots).map(|_| meta.selector()).collect(),
                    q_bit: (0..slots).map(|_| meta.selector()).collect(),
                    q_zero: (0..slots).map(|_| meta.selector()).collect(),
                },
                limbs_per_slot: params.limbs_per_slot,
            };
            config.configure_digit_gates(meta);
            return Ok(config);
        }
        let table = pool.table.ok_or(CircuitError::InvalidParams {
            parameter: "range table",
            value: 0,
            expected: "a range table in the pool for lookup range checks",
        })?;
        let config = Self {
            columns,
            offsets: fixed[slots..2 * slots].to_vec(),
            mode: RangeMode::Limbs {
                scales: fixed[..slots].to_vec(),
                nexts: fixed[2 * slots..].to_vec(),
                table,
            },
            limbs_per_slot: params.limbs_per_slot,
        };
        for j in 0..slots {
            let (z, a, o, b) = (
                config.columns[j],
                fixed[j],
                fixed[slots + j],
                fixed[2 * slots + j],
            );
            meta.lookup("8-bit limb of a running sum", |meta| {
                let limb = meta.query_fixed(a, Rotation::cur())
                    * meta.query_advice(z, Rotation::cur())
                    + meta.query_fixed(o, Rotation::cur())
                    - meta.query_fixed(b, Rotation::cur()) * meta.query_advice(z, Rotation::next());
                vec![(limb, table)]
            });
        }
        Ok(config)
    }

    fn configure_digit_gates<F: Field>(&self, meta: &mut ConstraintSystem<F>) {
        let RangeMode::Digits {
            q_digit,
            q_bit,
            q_zero,
        } = &self.mode
        else {
            return;
        };
        let constant = |c: u64| Expression::Constant(F::from(c));
        for j in 0..self.columns.len() {
            let (z, o) = (self.columns[j], self.offsets[j]);
            let (qd, qb, qz) = (q_digit[j], q_bit[j], q_zero[j]);
            meta.create_gate("base-4 digit of a running sum", |meta| {
                let q = meta.query_selector(qd);
                let d = meta.query_advice(z, Rotation::cur())
                    + meta.query_fixed(o, Rotation::cur())
                    - constant(4) * meta.query_advice(z, Rotation::next());
                vec![
                    q * d.clone()
                        * (d.clone() - constant(1))
                        * (d.clone() - constant(2))
                        * (d - constant(3)),
                ]
            });
            meta.create_gate("top bit of a running sum", |meta| {
                let q = meta.query_selector(qb);
                let d = meta.query_advice(z, Rotation::cur())
                    + meta.query_fixed(o, Rotation::cur())
                    - constant(2) * meta.query_advice(z, Rotation::next());
                vec![q * d.clone() * (d - constant(1))]
            });
            meta.create_gate("end of a running sum", |meta| {
                let q = meta.query_selector(qz);
                vec![
                    q * (meta.query_advice(z, Rotation::cur())
                        + meta.query_fixed(o, Rotation::cur())),
                ]
            });
        }
    }
}

/// The running-sum cells of one check below its first row (whose cell is the copied value).
/// Limbs: the quotients `⌊(v − lo) / 256^i⌋` for `0 < i < n`, then the copy of the last one
/// when the top limb is narrower than 8 bits. Digits: `⌊(v − lo) / 4^i⌋` for `0 < i ≤ n`,
/// then `⌊(v − lo) / 2^bits⌋` after the bit of an odd width, which the zero row must hold.
/// Computed by [`RangeChip::witness`]; tests replace it to make the assignment lie.
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
enum CheckShape {
    Limbs {
        /// Limbs `n`.
        limbs: usize,
        /// `2^(8−m)` for a top limb of `m < 8` bits, `None` when `m = 8`.
        top_scale: Option<u64>,
    },
    Digits {
        /// Base-4 digits `⌊bits / 2⌋`.
        digits: usize,
        /// Whether a last 1-bit digit follows (odd widths).
        bit: bool,
    },
}

impl CheckShape {
    fn rows(&self) -> usize {
        match self {
            CheckShape::Limbs { limbs, top_scale } => limbs + usize::from(top_scale.is_some()),
            CheckShape::Digits { digits, bit } => digits + usize::from(*bit) + 1,
        }
    }
}

/// Range checks by running sums (8-bit limbs against the table, or base-4 digits).
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

    /// Fills the table with `0..=255` (nothing to fill with digit checks).
    pub fn load_table(&self, layouter: &mut impl Layouter<F>) -> Result<(), CircuitError> {
        let RangeMode::Limbs { table, .. } = &self.config.mode else {
            return Ok(());
        };
        let table = *table;
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
        let to_usize = |n: u32| {
            usize::try_from(n).map_err(|_| CircuitError::InvalidBitWidth {
                op: "range check",
                bits: spec.bits,
            })
        };
        if matches!(self.config.mode, RangeMode::Digits { .. }) {
            return Ok(CheckShape::Digits {
                digits: to_usize(spec.bits / 2)?,
                bit: spec.bits % 2 == 1,
            });
        }
        // bits ≤ 64 here, so these conversions are exact.
        let limbs = spec.bits.div_ceil(8).max(1);
        let top_bits = spec.bits - 8 * (limbs - 1);
        Ok(CheckShape::Limbs {
            limbs: to_usize(limbs)?,
            top_scale: (top_bits < 8).then(|| 1u64 << (8 - top_bits)),
        })
    }

    /// The honest running sum of `value` for `spec`. Total: a value outside the interval gets
    /// the quotients of its low bits, which then fail the lookups or the digit gates.
    pub fn witness(
        &self,
        value: Value<F>,
        spec: &RangeSpec,
    ) -> Result<RangeWitness<F>, CircuitError> {
        let shape = self.shape(spec)?;
        let offset = -fe_from_i128::<F>(spec.lo);
        let cells = match shape {
            CheckShape::Limbs {
                limbs: n,
                top_scale,
            } => value.map(|v| {
                let bytes = (v + offset).to_repr();
                // z_i = Σ_{i ≤ j < n} byte_j · 256^(j − i)
                let quotient = |i: usize| {
                    bytes[i..n].iter().rev().fold(F::ZERO, |acc, b| {
                        acc * F::from(256u64) + F::from(u64::from(*b))
                    })
                };
                let mut cells: Vec<F> = (1..n).map(quotient).collect();
                if top_scale.is_some() {
                    // The copy of the top row: the top quotient, or the value itself if n = 1.
                    cells.push(if n == 1 { v } else { quotient(n - 1) });
                }
                cells
            }),
            CheckShape::Digits { digits, bit } => value.map(|v| {
                // The low 128 bits of v − lo (all of it for an in-range value: bits ≤ 64).
                let repr = (v + offset).to_repr();
                let low = repr
                    .iter()
                    .take(16)
                    .rev()
                    .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
                let mut cells: Vec<F> =
                    (1..=digits).map(|i| fe_from_u128(low >> (2 * i))).collect();
                if bit {
                    cells.push(fe_from_u128(low >> (2 * digits + 1)));
                }
                cells
            }),
        };
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
            self.assign_check(region, slot, start + at, check, shape)?;
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
    ) -> Result<(), CircuitError> {
        let (z, o) = (self.config.columns[slot], self.config.offsets[slot]);
        let offset = -fe_from_i128::<F>(check.spec.lo);
        let mut top = copy(region, &check.var, z, row);
        fix(region, o, row, offset);
        match (&self.config.mode, *shape) {
            (
                RangeMode::Limbs { scales, nexts, .. },
                CheckShape::Limbs {
                    limbs: n,
                    top_scale,
                },
            ) => {
                let (a, b) = (scales[slot], nexts[slot]);
                for i in 0..n {
                    if i > 0 {
                        top = assign(region, z, row + i, check.witness.cells[i - 1]);
                    }
                    fix(region, a, row + i, F::ONE);
                    if i + 1 < n {
                        fix(region, b, row + i, F::from(256u64));
                    }
                }
                if let Some(scale) = top_scale {
                    let scale = F::from(scale);
                    // The copy row claims the witness's value: equal to the top cell's for an
                    // honest witness, otherwise the copy constraint fails.
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
            (
                RangeMode::Digits {
                    q_digit,
                    q_bit,
                    q_zero,
                },
                CheckShape::Digits { digits, bit },
            ) => {
                for (i, cell) in check.witness.cells.iter().enumerate() {
                    assign(region, z, row + 1 + i, *cell);
                }
                for i in 0..digits {
                    q_digit[slot].enable(region, row + i)?;
                }
                if bit {
                    q_bit[slot].enable(region, row + digits)?;
                }
                q_zero[slot].enable(region, row + digits + usize::from(bit))?;
            }
            // `shape` comes from this chip's own mode.
            _ => return Err(CircuitError::NotConfigured),
        }
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
    use crate::test_utils::{edge_values, mock, mock_digits, rng, verify_ok};
    use halo2_proofs::halo2curves::bn256::Fr;
    use rand::Rng as _;

    fn fr(x: i128) -> Fr {
        fe_from_i128(x)
    }

    /// Both range modes: 8-bit limbs (lookup) and base-4 digits (gates).
    const MODES: [bool; 2] = [false, true];

    /// Runs `build` on an 8-lane pool with two range slots of three bytes, range checks by
    /// digits if `digits`.
    fn run_in(
        digits: bool,
        build: impl crate::test_utils::BuildFn,
    ) -> anyhow::Result<Result<(), String>> {
        if digits {
            mock_digits::<8, 2, 3>(10, build)
        } else {
            mock::<8, 2, 3>(10, build)
        }
    }

    /// `1 / x` in the field (0 for 0).
    fn inverse(x: u64) -> Fr {
        Fr::from(x)
            .invert()
            .unwrap_or(<Fr as halo2_proofs::halo2curves::ff::Field>::ZERO)
    }

    /// One check of `v` whose running-sum cells are `cells` (any field elements).
    fn run_raw(
        digits: bool,
        v: i128,
        spec: RangeSpec,
        cells: Vec<Fr>,
    ) -> anyhow::Result<Result<(), String>> {
        run_in(digits, move |config, region, rows| {
            let chip = config.range_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &[Value::known(fr(v))])?;
            chip.assign(
                region,
                rows,
                &[RangeCheck {
                    var: vars[0].clone(),
                    spec,
                    witness: RangeWitness {
                        cells: cells.iter().map(|c| Value::known(*c)).collect(),
                    },
                }],
            )
        })
    }

    /// Lays out one check per value with lookup range checks, optionally with a replaced
    /// witness.
    fn run_checks(
        values: Vec<(i128, RangeSpec)>,
        tamper: Option<(usize, Vec<i128>)>,
    ) -> anyhow::Result<Result<(), String>> {
        run_checks_in(false, values, tamper)
    }

    /// [`run_checks`] in either mode.
    fn run_checks_in(
        digits: bool,
        values: Vec<(i128, RangeSpec)>,
        tamper: Option<(usize, Vec<i128>)>,
    ) -> anyhow::Result<Result<(), String>> {
        run_in(digits, move |config, region, rows| {
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
        for digits in MODES {
            verify_ok(run_checks_in(digits, values.clone(), None)?)?;
        }
        Ok(())
    }

    #[test]
    fn activation_out_of_range_fails() -> anyhow::Result<()> {
        for digits in MODES {
            let spec = RangeSpec::signed(16)?;
            for bad in [1i128 << 15, -(1i128 << 15) - 1, 1 << 20, -(1 << 40)] {
                let result = run_checks_in(digits, vec![(0, spec), (bad, spec)], None)?;
                assert!(result.is_err(), "{bad} accepted as a 16-bit activation");
            }
            // Narrow top limbs (lookup) and odd widths (digits).
            for bits in [12u32, 13] {
                let spec = RangeSpec::signed(bits)?;
                let half = 1i128 << (bits - 1);
                for bad in [half, -half - 1] {
                    let result = run_checks_in(digits, vec![(bad, spec)], None)?;
                    assert!(result.is_err(), "{bad} accepted in {bits} bits");
                }
            }
            for bits in [0u32, 1] {
                let spec = RangeSpec::unsigned(bits)?;
                let result = run_checks_in(digits, vec![(1 << bits, spec)], None)?;
                assert!(result.is_err(), "2^{bits} accepted in {bits} bits");
                assert!(run_checks_in(digits, vec![(-1, spec)], None)?.is_err());
            }
        }
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
        let quotient = (fr(0x1234) - fr(0x35)) * inverse(256);
        assert!(run_raw(false, 0x1234, spec, vec![quotient])?.is_err());
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
    fn lying_digit_running_sums_fail() -> anyhow::Result<()> {
        let run = |v: i128, spec: RangeSpec, cells: Vec<i128>| {
            run_checks_in(true, vec![(v, spec)], Some((0, cells)))
        };
        // 16 bits: z_i = ⌊v / 4^i⌋ for i = 1..=8, the last on the zero row.
        let spec = RangeSpec::unsigned(16)?;
        let honest: Vec<i128> = (1..=8).map(|i| 0x1234 >> (2 * i)).collect();
        assert_eq!(honest[7], 0);
        verify_ok(run(0x1234, spec, honest.clone())?)?;
        // Digit 0 becomes negative or ≥ 4.
        for delta in [1, -1] {
            let mut cells = honest.clone();
            cells[0] += delta;
            assert!(run(0x1234, spec, cells)?.is_err(), "z_1 {delta:+}");
        }
        // A middle quotient that makes one digit 4 and the next −1.
        let mut cells = honest.clone();
        cells[3] -= 1;
        assert!(run(0x1234, spec, cells)?.is_err());
        // 2^16 + 0x1234 with the honest low digits: the zero row holds 1.
        let big = (1 << 16) + 0x1234;
        let cells: Vec<i128> = (1..=8).map(|i| big >> (2 * i)).collect();
        assert!(run(big, spec, cells.clone())?.is_err());
        // … and claiming 0 there breaks the last digit (it would be 4).
        let mut zeroed = cells;
        zeroed[7] = 0;
        assert!(run(big, spec, zeroed)?.is_err());
        // The quotient that makes digit 0 any value we like is a huge field element: row 1's
        // digit fails.
        let mut cells = vec![(fr(0x1234) - fr(1)) * inverse(4)];
        cells.extend((2..=8).map(|i| fr(0x1234 >> (2 * i))));
        assert!(run_raw(true, 0x1234, spec, cells)?.is_err());
        // 13 bits: six digits, the top bit, then the zero row.
        let spec13 = RangeSpec::unsigned(13)?;
        let honest13: Vec<i128> = (1..=6).map(|i| 0x1fff >> (2 * i)).chain([0]).collect();
        verify_ok(run(0x1fff, spec13, honest13.clone())?)?;
        // 2^13: six zero digits and a top "bit" of 2.
        let top2: Vec<i128> = vec![1 << 11, 1 << 9, 1 << 7, 1 << 5, 1 << 3, 2, 0];
        assert!(run(1 << 13, spec13, top2)?.is_err());
        // … or a top bit 0 with 1 left on the zero row.
        let rest1: Vec<i128> = vec![1 << 11, 1 << 9, 1 << 7, 1 << 5, 1 << 3, 2, 1];
        assert!(run(1 << 13, spec13, rest1)?.is_err());
        // An offset interval: −5 + [0, 8) has digits of v + 5.
        let spec3 = RangeSpec::new(-5, 3)?;
        verify_ok(run(2, spec3, vec![1, 0])?)?;
        assert!(run(2, spec3, vec![0, 0])?.is_err());
        // Wrong witness length is a typed error, not a panic.
        assert!(run(0x1234, spec, honest[..7].to_vec()).is_err());
        Ok(())
    }

    #[test]
    fn digit_checks_use_gates_not_lookups() -> anyhow::Result<()> {
        let mut lookup = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
        crate::ModelConfig::configure(&mut lookup, &ModelParams::new(8, 2, 3))?;
        let mut digits = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
        let config = crate::ModelConfig::configure(
            &mut digits,
            &ModelParams::new(8, 2, 3).with_range_digits(true),
        )?;
        assert_eq!(lookup.lookups().len(), 2);
        assert_eq!(digits.lookups().len(), 0);
        // Offsets only: no scales, no next-row multipliers, no table column; three selectors
        // per slot.
        assert_eq!(
            lookup.num_fixed_columns() - digits.num_fixed_columns(),
            2 * 2 + 1
        );
        assert_eq!(digits.num_selectors() - lookup.num_selectors(), 6);
        // The digit gate has degree 5, the system's degree with lookups too.
        assert_eq!(digits.degree(), 5);
        assert_eq!(lookup.degree(), 5);
        let chip = config.range_chip::<Fr>();
        for (bits, rows) in [(0u32, 1usize), (1, 2), (2, 2), (12, 7), (13, 8), (24, 13)] {
            assert_eq!(
                chip.rows_per_check(&RangeSpec::unsigned(bits)?)?,
                rows,
                "{bits}"
            );
        }
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
        for digits in MODES {
            let result = run_in(digits, move |config, region, rows| {
                let chip = config.range_chip::<Fr>();
                let vars = config.assign_inputs(region, rows, &[Value::known(fr(1 << 20))])?;
                // Claim the out-of-range input is 7: the copy into the range row must fail.
                let lie = vars[0].with_value(Value::known(fr(7)));
                chip.check(region, rows, &[(lie, spec)])
            })?;
            assert!(result.is_err());
        }
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
        verify_ok(run_checks(in_range.clone(), None)?)?;
        // Digit checks take up to 13 rows each: half the values fill the two slots' rows.
        verify_ok(run_checks_in(true, in_range[..150].to_vec(), None)?)?;
        for digits in MODES {
            for _ in 0..20 {
                let bits = rng.gen_range(1..=24u32);
                let spec = RangeSpec::new(rng.gen_range(-1000..1000), bits)?;
                let v = if rng.gen_bool(0.5) {
                    spec.lo() + (1i128 << bits) + rng.gen_range(0..1000)
                } else {
                    spec.lo() - 1 - rng.gen_range(0..1000)
                };
                assert!(!spec.contains(v));
                let result = run_checks_in(digits, vec![(v, spec)], None)?;
                assert!(result.is_err(), "{v} {spec:?} (digits: {digits})");
            }
        }
        Ok(())
    }
}
