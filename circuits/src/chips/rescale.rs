//! Rescale by `2^r` and rounded division by a small positive constant `n`, round half up:
//! `y = ⌊(x + ⌊n/2⌋) / n⌋` (rescale is `n = 2^r`; `r = 0` is the identity).
//!
//! # Layout
//! `⌊W/4⌋` divisions per row. Slot `k` uses lanes `4k … 4k+3` for `x` (copied in), `y`, `rem`
//! and `comp = n − 1 − rem`, and fixed columns `3k … 3k+2` for `n`, `⌊n/2⌋` and `n − 1`.
//!
//! # Constraints (per slot, on rows where `q_div` is on)
//! * `x + ⌊n/2⌋ = y · n + rem`
//! * `comp + rem = n − 1`
//! * range checks: `y` in the output range (signed, `out_bits`); `rem ∈ [0, 2^c)` with `c`
//!   the bit length of `n − 1`; when `n` is not a power of two also `comp ∈ [0, 2^c)`, which
//!   together prove `0 ≤ rem < n`.
//!
//! With `|y| < 2^(out_bits−1)` and `0 ≤ rem < n` the right-hand side is far below the field
//! size, and so is `x` (an accumulator, `|x| ≲ 2^120`), so the field equation is the integer
//! equation and `y`, `rem` are the unique quotient and remainder.
//!
//! # Assumptions
//! `x` is an integer far below the field size (true for dense accumulators).

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::chips::range::{RangeChip, RangeConfig, RangeSpec};
use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::{fe_from_i128, fe_from_u64, Field};
use crate::layout::{assign, copy, fix, rows_for, take, try_map, AssignedVar, RowAllocator};

/// Lanes one division uses.
const LANES_PER_OP: usize = 4;

/// Columns and selector of the rescale / division chip.
#[derive(Clone, Debug)]
pub struct RescaleConfig {
    /// Enables the division gate.
    pub q_div: Selector,
    /// Per slot: lanes for `x`, `y`, `rem`, `comp`.
    pub slots: Vec<[Column<Advice>; 4]>,
    /// Per slot: fixed columns for `n`, `⌊n/2⌋`, `n − 1`.
    pub constants: Vec<[Column<Fixed>; 3]>,
    /// The range chip used for `y`, `rem` and `comp`.
    pub range: RangeConfig,
}

impl RescaleConfig {
    /// Adds the division gate.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        range: &RangeConfig,
    ) -> Result<Self, CircuitError> {
        let n_slots = pool.lanes.len() / LANES_PER_OP;
        let mut slots = Vec::with_capacity(n_slots);
        let mut constants = Vec::with_capacity(n_slots);
        for k in 0..n_slots {
            let l = take(&pool.lanes, LANES_PER_OP * k, LANES_PER_OP, "lanes")?;
            let f = take(&pool.fixed, 3 * k, 3, "fixed columns")?;
            slots.push([l[0], l[1], l[2], l[3]]);
            constants.push([f[0], f[1], f[2]]);
        }
        let config = Self {
            q_div: meta.selector(),
            slots,
            constants,
            range: range.clone(),
        };
        meta.create_gate("rounded division", |meta| {
            let q = meta.query_selector(config.q_div);
            let mut constraints = Vec::with_capacity(2 * n_slots);
            for (lanes, fixed) in config.slots.iter().zip(&config.constants) {
                let [x, y, rem, comp] = lanes.map(|c| meta.query_advice(c, Rotation::cur()));
                let [n, half, n_minus_1] = fixed.map(|c| meta.query_fixed(c, Rotation::cur()));
                constraints.push(q.clone() * (x + half - y * n - rem.clone()));
                constraints.push(q.clone() * (comp + rem - n_minus_1));
            }
            constraints
        });
        Ok(config)
    }
}

/// Witness of one division.
#[derive(Clone, Debug)]
pub struct DivWitness<F: Field> {
    /// The quotient `y`.
    pub y: Value<F>,
    /// The remainder.
    pub rem: Value<F>,
    /// `n − 1 − rem`.
    pub comp: Value<F>,
}

/// One division to lay out.
#[derive(Clone, Debug)]
pub struct DivOp<F: Field> {
    /// The dividend (copied in).
    pub x: AssignedVar<F>,
    /// The constant divisor `n ≥ 1`.
    pub divisor: u64,
    /// Quotient, remainder and complement.
    pub witness: DivWitness<F>,
}

/// Rescale and rounded division by constants.
#[derive(Clone, Debug)]
pub struct RescaleChip<F: Field> {
    config: RescaleConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for RescaleChip<F> {
    type Config = RescaleConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

/// Bit length of `v` (0 for 0).
fn bit_length(v: u64) -> u32 {
    u64::BITS - v.leading_zeros()
}

impl<F: Field> RescaleChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: RescaleConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// Divisions per row.
    pub fn ops_per_row(&self) -> usize {
        self.config.slots.len()
    }

    /// The honest quotient, remainder and complement of `x / n` rounded half up.
    pub fn div_witness(
        &self,
        x: &AssignedVar<F>,
        divisor: u64,
    ) -> Result<DivWitness<F>, CircuitError> {
        let op = "division";
        if divisor == 0 {
            return Err(CircuitError::InvalidConstant {
                op,
                name: "divisor",
                value: 0,
            });
        }
        let n = i128::from(divisor);
        let parts = try_map(x.value(), |_| {
            let x = x.value_i128(op)?.ok_or(CircuitError::NotAnInteger { op })?;
            let shifted = x.checked_add(n / 2).ok_or(CircuitError::Overflow { op })?;
            Ok((shifted.div_euclid(n), shifted.rem_euclid(n)))
        })?;
        let (y, rem) = parts.unzip();
        Ok(DivWitness {
            y: y.map(fe_from_i128),
            rem: rem.map(fe_from_i128),
            comp: rem.map(|r| fe_from_i128(n - 1 - r)),
        })
    }

    /// Lays out divisions with the given witnesses and range-checks quotients (against `out`)
    /// and remainders. Returns the quotients.
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        ops: &[DivOp<F>],
        out: RangeSpec,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let range = RangeChip::<F>::construct(self.config.range.clone());
        let per_row = self.ops_per_row();
        let n_rows = rows_for(ops.len(), per_row);
        for op in ops {
            if op.divisor == 0 {
                return Err(CircuitError::InvalidConstant {
                    op: "division",
                    name: "divisor",
                    value: 0,
                });
            }
        }
        let start = rows.alloc(n_rows)?;
        for r in 0..n_rows {
            self.config.q_div.enable(region, start + r)?;
        }
        let mut outputs = Vec::with_capacity(ops.len());
        let mut checks = Vec::with_capacity(3 * ops.len());
        for (idx, op) in ops.iter().enumerate() {
            let row = start + idx / per_row;
            let k = idx % per_row;
            let [x_col, y_col, rem_col, comp_col] = self.config.slots[k];
            let [n_col, half_col, nm1_col] = self.config.constants[k];
            copy(region, &op.x, x_col, row);
            let y = assign(region, y_col, row, op.witness.y);
            let rem = assign(region, rem_col, row, op.witness.rem);
            let comp = assign(region, comp_col, row, op.witness.comp);
            fix(region, n_col, row, fe_from_u64(op.divisor));
            fix(region, half_col, row, fe_from_u64(op.divisor / 2));
            fix(region, nm1_col, row, fe_from_u64(op.divisor - 1));
            let rem_spec = RangeSpec::unsigned(bit_length(op.divisor - 1))?;
            checks.push((y.clone(), out));
            checks.push((rem, rem_spec));
            if !op.divisor.is_power_of_two() {
                checks.push((comp, rem_spec));
            }
            outputs.push(y);
        }
        range.check(region, rows, &checks)?;
        tracing::debug!(ops = ops.len(), rows = n_rows, "divisions laid out");
        Ok(outputs)
    }

    /// `y_i = ⌊(x_i + ⌊n/2⌋) / n⌋`, each `y_i` range-checked to `out_bits` signed bits.
    pub fn div_round(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        xs: &[AssignedVar<F>],
        divisor: u64,
        out_bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let out = RangeSpec::signed(out_bits)?;
        let ops = xs
            .iter()
            .map(|x| {
                Ok(DivOp {
                    x: x.clone(),
                    divisor,
                    witness: self.div_witness(x, divisor)?,
                })
            })
            .collect::<Result<Vec<_>, CircuitError>>()?;
        self.assign(region, rows, &ops, out)
    }

    /// Rescale by `2^shift`, round half up: `y_i = ⌊(x_i + 2^(shift−1)) / 2^shift⌋`
    /// (`shift = 0` copies `x_i`), each `y_i` range-checked to `out_bits` signed bits.
    pub fn rescale(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        xs: &[AssignedVar<F>],
        shift: u32,
        out_bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let divisor = 1u64.checked_shl(shift).filter(|_| shift < 63).ok_or(
            CircuitError::InvalidConstant {
                op: "rescale",
                name: "shift",
                value: i128::from(shift),
            },
        )?;
        self.div_round(region, rows, xs, divisor, out_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{fr, known, mock, rng, verify_ok, Recorder};
    use halo2_proofs::halo2curves::bn256::Fr;
    use rand::Rng as _;

    /// Reference: `⌊(x + ⌊n/2⌋) / n⌋`.
    fn reference_div(x: i128, n: i128) -> i128 {
        (x + n / 2).div_euclid(n)
    }

    #[derive(Clone, Copy, Debug)]
    enum Tamper {
        /// Quotient + 1, remainder unchanged.
        Quotient,
        /// Remainder + 1, quotient unchanged.
        Remainder,
        /// Quotient − 1 and remainder + n: the equation holds, the remainder is out of range.
        RemainderTooBig,
        /// Quotient + 1 and remainder − n: the equation holds, the remainder is negative.
        RemainderNegative,
        /// Complement off by one.
        Complement,
        /// The dividend claims another value when copied in.
        Copy,
    }

    fn run_div(
        xs: Vec<i128>,
        divisor: u64,
        bits: u32,
        tamper: Option<(usize, Tamper)>,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 1, 3>(11, move |config, region, rows| {
            let chip = config.rescale_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &known(&xs))?;
            let n = fe_from_u64::<Fr>(divisor);
            let one = Value::known(fr(1));
            let mut ops = Vec::new();
            for (i, x) in vars.iter().enumerate() {
                let mut op = DivOp {
                    x: x.clone(),
                    divisor,
                    witness: chip.div_witness(x, divisor)?,
                };
                if let Some((_, t)) = tamper.filter(|(at, _)| *at == i) {
                    let w = &mut op.witness;
                    match t {
                        Tamper::Quotient => w.y = w.y + one,
                        Tamper::Remainder => {
                            w.rem = w.rem + one;
                            w.comp = w.comp - one;
                        }
                        Tamper::RemainderTooBig => {
                            w.y = w.y - one;
                            w.rem = w.rem.map(|r| r + n);
                            w.comp = w.comp.map(|c| c - n);
                        }
                        Tamper::RemainderNegative => {
                            w.y = w.y + one;
                            w.rem = w.rem.map(|r| r - n);
                            w.comp = w.comp.map(|c| c + n);
                        }
                        Tamper::Complement => w.comp = w.comp + one,
                        Tamper::Copy => op.x = x.with_value(x.value() + one),
                    }
                }
                ops.push(op);
            }
            let ys = chip.assign(region, rows, &ops, RangeSpec::signed(bits)?)?;
            out.push(&ys);
            Ok(())
        })
    }

    #[test]
    fn honest_rescale_rounds_half_up() -> anyhow::Result<()> {
        for shift in [0u32, 1, 2, 8, 16] {
            let n = 1i128 << shift;
            let half = n / 2;
            let mut xs = vec![
                0,
                1,
                -1,
                half,
                -half,
                half - 1,
                -half - 1,
                3 * n + half,
                -3 * n - half,
            ];
            xs.extend([(1 << 15) * n - half - 1, -(1 << 15) * n - half]);
            let out = Recorder::default();
            verify_ok(run_div(xs.clone(), 1 << shift, 16, None, out.clone())?)?;
            let expected: Vec<_> = xs.iter().map(|x| Some(reference_div(*x, n))).collect();
            assert_eq!(out.take(), expected, "shift {shift}");
        }
        // Exact halves go up: 0.5 → 1, −0.5 → 0, −1.5 → −1.
        let out = Recorder::default();
        verify_ok(run_div(vec![1, -1, -3, 3], 2, 16, None, out.clone())?)?;
        assert_eq!(out.take(), vec![Some(1), Some(0), Some(-1), Some(2)]);
        Ok(())
    }

    #[test]
    fn honest_division_by_constants() -> anyhow::Result<()> {
        for n in [1u64, 3, 4, 9, 25, 49, 255, 1000] {
            let ni = i128::from(n);
            let xs = vec![
                0,
                1,
                -1,
                ni / 2,
                -(ni / 2),
                ni / 2 - 1,
                7 * ni + ni / 2,
                -7 * ni - 1,
            ];
            let out = Recorder::default();
            verify_ok(run_div(xs.clone(), n, 16, None, out.clone())?)?;
            let expected: Vec<_> = xs.iter().map(|x| Some(reference_div(*x, ni))).collect();
            assert_eq!(out.take(), expected, "n = {n}");
        }
        Ok(())
    }

    #[test]
    fn tampered_division_fails() -> anyhow::Result<()> {
        let xs = vec![1000, -1000, 77, -77, 0, 5];
        for divisor in [256u64, 9] {
            for tamper in [
                Tamper::Quotient,
                Tamper::Remainder,
                Tamper::RemainderTooBig,
                Tamper::RemainderNegative,
                Tamper::Complement,
                Tamper::Copy,
            ] {
                for at in [0usize, 3, 5] {
                    let result = run_div(
                        xs.clone(),
                        divisor,
                        16,
                        Some((at, tamper)),
                        Recorder::default(),
                    )?;
                    assert!(
                        result.is_err(),
                        "{tamper:?} at {at} accepted for n = {divisor}"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn output_out_of_activation_range_fails() -> anyhow::Result<()> {
        // 2^15 · 256 rescaled by 8 is 2^15: not a 16-bit activation.
        let top = (1i128 << 15) * 256;
        verify_ok(run_div(
            vec![top - 129],
            256,
            16,
            None,
            Recorder::default(),
        )?)?;
        assert!(run_div(vec![top - 128], 256, 16, None, Recorder::default())?.is_err());
        let bottom = -(1i128 << 15) * 256;
        verify_ok(run_div(
            vec![bottom - 128],
            256,
            16,
            None,
            Recorder::default(),
        )?)?;
        assert!(run_div(vec![bottom - 129], 256, 16, None, Recorder::default())?.is_err());
        Ok(())
    }

    #[test]
    fn invalid_constants_are_errors() -> anyhow::Result<()> {
        let result = mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.rescale_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &known(&[1]))?;
            let zero = chip.div_round(region, rows, &vars, 0, 16);
            let shift = chip.rescale(region, rows, &vars, 63, 16);
            let wide = chip.div_round(region, rows, &vars, 1 << 30, 16);
            match (zero, shift, wide) {
                (
                    Err(CircuitError::InvalidConstant { .. }),
                    Err(CircuitError::InvalidConstant { .. }),
                    Err(CircuitError::RangeTooWide { .. }),
                ) => Ok(()),
                _ => Err(CircuitError::EmptyInput {
                    op: "expected errors",
                }),
            }
        })?;
        verify_ok(result)
    }

    #[test]
    fn randomized_matches_reference() -> anyhow::Result<()> {
        let mut rng = rng(3);
        for (divisor, bits) in [
            (1u64 << 8, 16u32),
            (1 << 12, 16),
            (1 << 16, 24),
            (9, 8),
            (7, 12),
        ] {
            let n = i128::from(divisor);
            let half = 1i128 << (bits - 1);
            let xs: Vec<i128> = (0..200)
                .map(|i| {
                    // Pick an in-range quotient, then any dividend that rounds to it.
                    let y = match i % 10 {
                        0 => -half,
                        1 => half - 1,
                        2 => 0,
                        _ => rng.gen_range(-half..half),
                    };
                    let r = match i % 4 {
                        0 => 0,
                        1 => n - 1,
                        _ => rng.gen_range(0..n),
                    };
                    y * n - n / 2 + r
                })
                .collect();
            let out = Recorder::default();
            verify_ok(run_div(xs.clone(), divisor, bits, None, out.clone())?)?;
            let expected: Vec<_> = xs.iter().map(|x| Some(reference_div(*x, n))).collect();
            assert_eq!(out.take(), expected, "n = {divisor}");
        }
        Ok(())
    }
}
