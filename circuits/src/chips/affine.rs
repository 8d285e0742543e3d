//! Multiplication by a constant and addition of a constant: `y = c·x + d` with `c`, `d` fixed
//! per op (the per-element constants of `MulConst` and `AddConst` layers).
//!
//! # Layout
//! `⌊W/2⌋` ops per row; slot `k` uses lanes `2k` (`x`, copied in) and `2k + 1` (`y`), and fixed
//! columns `2k` (`c`) and `2k + 1` (`d`).
//!
//! # Constraints (per slot, on rows where `q_affine` is on)
//! * `y = c·x + d` (degree 3 with the selector).
//!
//! Unused slots of a row have `x = y = c = d = 0`. No range check: the caller range-checks `y`
//! where it becomes an activation (or rescales it first).
//!
//! # Assumptions
//! `x` is an integer far below the field size and `|c|, |d| < 2^63`, so `y` is the integer
//! `c·x + d`.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::{fe_from_i64, Field};
use crate::layout::{assign, copy, fix, rows_for, take, AssignedVar, RowAllocator};

/// Lanes one op uses.
const LANES_PER_OP: usize = 2;

/// Columns and selector of the affine chip.
#[derive(Clone, Debug)]
pub struct AffineConfig {
    /// Enables the affine gate.
    pub q_affine: Selector,
    /// Per slot: lanes for `x` and `y`.
    pub slots: Vec<[Column<Advice>; 2]>,
    /// Per slot: fixed columns for `c` and `d`.
    pub constants: Vec<[Column<Fixed>; 2]>,
}

impl AffineConfig {
    /// Adds the affine gate.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
    ) -> Result<Self, CircuitError> {
        let n_slots = pool.lanes.len() / LANES_PER_OP;
        let mut slots = Vec::with_capacity(n_slots);
        let mut constants = Vec::with_capacity(n_slots);
        for k in 0..n_slots {
            let l = take(&pool.lanes, LANES_PER_OP * k, LANES_PER_OP, "lanes")?;
            let f = take(&pool.fixed, LANES_PER_OP * k, LANES_PER_OP, "fixed columns")?;
            slots.push([l[0], l[1]]);
            constants.push([f[0], f[1]]);
        }
        let config = Self {
            q_affine: meta.selector(),
            slots,
            constants,
        };
        meta.create_gate("affine", |meta| {
            let q = meta.query_selector(config.q_affine);
            config
                .slots
                .iter()
                .zip(&config.constants)
                .map(|(lanes, fixed)| {
                    let [x, y] = lanes.map(|c| meta.query_advice(c, Rotation::cur()));
                    let [c, d] = fixed.map(|c| meta.query_fixed(c, Rotation::cur()));
                    q.clone() * (y - c * x - d)
                })
                .collect::<Vec<_>>()
        });
        Ok(config)
    }
}

/// One `y = c·x + d` to lay out.
#[derive(Clone, Debug)]
pub struct AffineOp<F: Field> {
    /// The input (copied in).
    pub x: AssignedVar<F>,
    /// The multiplier `c`.
    pub scale: i64,
    /// The offset `d`.
    pub offset: i64,
    /// The claimed result.
    pub y: Value<F>,
}

/// `y = c·x + d` with constant `c`, `d`.
#[derive(Clone, Debug)]
pub struct AffineChip<F: Field> {
    config: AffineConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for AffineChip<F> {
    type Config = AffineConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

impl<F: Field> AffineChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: AffineConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// Ops per row.
    pub fn ops_per_row(&self) -> usize {
        self.config.slots.len()
    }

    /// The honest `c·x + d`.
    pub fn witness(x: &AssignedVar<F>, scale: i64, offset: i64) -> Value<F> {
        let c = fe_from_i64::<F>(scale);
        let d = fe_from_i64::<F>(offset);
        x.value().map(|x| c * x + d)
    }

    /// Lays out ops with the given results; returns the `y` cells.
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        ops: &[AffineOp<F>],
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let per_row = self.ops_per_row();
        if per_row == 0 {
            return Err(CircuitError::InvalidParams {
                parameter: "lanes",
                value: 0,
                expected: "at least two lanes for the affine chip",
            });
        }
        let n_rows = rows_for(ops.len(), per_row);
        let start = rows.alloc(n_rows)?;
        for r in 0..n_rows {
            self.config.q_affine.enable(region, start + r)?;
        }
        let mut outputs = Vec::with_capacity(ops.len());
        for (idx, op) in ops.iter().enumerate() {
            let row = start + idx / per_row;
            let k = idx % per_row;
            let [x_col, y_col] = self.config.slots[k];
            let [c_col, d_col] = self.config.constants[k];
            copy(region, &op.x, x_col, row);
            fix(region, c_col, row, fe_from_i64(op.scale));
            fix(region, d_col, row, fe_from_i64(op.offset));
            outputs.push(assign(region, y_col, row, op.y));
        }
        tracing::debug!(ops = ops.len(), rows = n_rows, "affine laid out");
        Ok(outputs)
    }

    /// `y_i = scales[i]·x_i + offsets[i]`.
    pub fn affine(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        xs: &[AssignedVar<F>],
        scales: &[i64],
        offsets: &[i64],
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        for (what, got) in [
            ("affine scales", scales.len()),
            ("affine offsets", offsets.len()),
        ] {
            if got != xs.len() {
                return Err(CircuitError::LengthMismatch {
                    what,
                    expected: xs.len(),
                    got,
                });
            }
        }
        let ops: Vec<_> = xs
            .iter()
            .zip(scales.iter().zip(offsets))
            .map(|(x, (c, d))| AffineOp {
                x: x.clone(),
                scale: *c,
                offset: *d,
                y: Self::witness(x, *c, *d),
            })
            .collect();
        self.assign(region, rows, &ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{known, mock, rng, verify_ok, Recorder};
    use halo2_proofs::halo2curves::bn256::Fr;
    use halo2_proofs::halo2curves::ff::Field as _;
    use rand::Rng as _;

    #[derive(Clone, Copy, Debug)]
    enum Tamper {
        /// Result off by one.
        Result(usize),
        /// The input claims another value when copied in (result computed from the lie).
        Copy(usize),
    }

    fn run(
        xs: Vec<i128>,
        cs: Vec<i64>,
        ds: Vec<i64>,
        tamper: Option<Tamper>,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.affine_chip::<Fr>()?;
            let mut vars = config.assign_inputs(region, rows, &known(&xs))?;
            if let Some(Tamper::Copy(i)) = tamper {
                vars[i] = vars[i].with_value(vars[i].value() + Value::known(Fr::ONE));
            }
            let mut ops: Vec<AffineOp<Fr>> = vars
                .iter()
                .zip(cs.iter().zip(&ds))
                .map(|(x, (c, d))| AffineOp {
                    x: x.clone(),
                    scale: *c,
                    offset: *d,
                    y: AffineChip::witness(x, *c, *d),
                })
                .collect();
            if let Some(Tamper::Result(i)) = tamper {
                ops[i].y = ops[i].y + Value::known(Fr::ONE);
            }
            let ys = chip.assign(region, rows, &ops)?;
            out.push(&ys);
            Ok(())
        })
    }

    fn case() -> (Vec<i128>, Vec<i64>, Vec<i64>) {
        let mut rng = rng(5);
        let n = 11;
        let xs = (0..n)
            .map(|_| rng.gen_range(-(1i128 << 15)..(1 << 15)))
            .collect();
        let cs = (0..n)
            .map(|i| match i {
                0 => 0,
                1 => -1,
                2 => i64::from(i32::MAX),
                _ => rng.gen_range(-(1i64 << 20)..(1 << 20)),
            })
            .collect();
        let ds = (0..n)
            .map(|i| match i {
                3 => i64::from(i32::MIN),
                _ => rng.gen_range(-(1i64 << 30)..(1 << 30)),
            })
            .collect();
        (xs, cs, ds)
    }

    #[test]
    fn honest_affine_matches_reference() -> anyhow::Result<()> {
        let (xs, cs, ds) = case();
        let out = Recorder::default();
        verify_ok(run(xs.clone(), cs.clone(), ds.clone(), None, out.clone())?)?;
        let expected: Vec<Option<i128>> = xs
            .iter()
            .zip(cs.iter().zip(&ds))
            .map(|(x, (c, d))| Some(x * i128::from(*c) + i128::from(*d)))
            .collect();
        assert_eq!(out.take(), expected);
        Ok(())
    }

    #[test]
    fn tampered_affine_fails() -> anyhow::Result<()> {
        let (xs, cs, ds) = case();
        for tamper in [
            Tamper::Result(0),
            Tamper::Result(4),
            Tamper::Result(10),
            Tamper::Copy(1),
            Tamper::Copy(9),
        ] {
            let result = run(
                xs.clone(),
                cs.clone(),
                ds.clone(),
                Some(tamper),
                Recorder::default(),
            )?;
            assert!(result.is_err(), "{tamper:?} accepted");
        }
        Ok(())
    }

    #[test]
    fn mismatched_lengths_are_errors() -> anyhow::Result<()> {
        let result = mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.affine_chip::<Fr>()?;
            let vars = config.assign_inputs(region, rows, &known(&[1, 2]))?;
            match chip.affine(region, rows, &vars, &[1], &[0, 0]) {
                Err(CircuitError::LengthMismatch { .. }) => Ok(()),
                _ => Err(CircuitError::EmptyInput {
                    op: "expected a length error",
                }),
            }
        })?;
        verify_ok(result)
    }
}
