//! Addition and subtraction of two activations of the same scale: `y = a ± b`.
//!
//! # Layout
//! `⌊W/3⌋` ops per row; slot `k` uses lanes `3k … 3k+2` for `a`, `b` (both copied in) and `y`,
//! and fixed column `k` for the sign `σ ∈ {+1, −1}`.
//!
//! # Constraints (per slot, on rows where `q_arith` is on)
//! * `y = a + σ · b`
//! * range check: `y` in the `b`-bit activation range.
//!
//! # Assumptions
//! `a` and `b` are integers far below the field size (activations are range-checked where
//! they are produced), so the field sum is the integer sum.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::chips::range::{RangeChip, RangeConfig, RangeSpec};
use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::Field;
use crate::layout::{assign, copy, fix, rows_for, take, AssignedVar, RowAllocator};

/// Lanes one op uses.
const LANES_PER_OP: usize = 3;

/// Whether an op adds or subtracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `y = a + b`.
    Add,
    /// `y = a − b`.
    Sub,
}

impl ArithOp {
    fn sign<F: Field>(self) -> F {
        match self {
            ArithOp::Add => F::ONE,
            ArithOp::Sub => -F::ONE,
        }
    }
}

/// Columns and selector of the add / sub chip.
#[derive(Clone, Debug)]
pub struct ArithConfig {
    /// Enables the add / sub gate.
    pub q_arith: Selector,
    /// Per slot: lanes for `a`, `b`, `y`.
    pub slots: Vec<[Column<Advice>; 3]>,
    /// Per slot: the sign column.
    pub signs: Vec<Column<Fixed>>,
    /// The range chip.
    pub range: RangeConfig,
}

impl ArithConfig {
    /// Adds the add / sub gate.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        range: &RangeConfig,
    ) -> Result<Self, CircuitError> {
        let n_slots = pool.lanes.len() / LANES_PER_OP;
        let mut slots = Vec::with_capacity(n_slots);
        for k in 0..n_slots {
            let l = take(&pool.lanes, LANES_PER_OP * k, LANES_PER_OP, "lanes")?;
            slots.push([l[0], l[1], l[2]]);
        }
        let config = Self {
            q_arith: meta.selector(),
            slots,
            signs: take(&pool.fixed, 0, n_slots, "fixed columns")?,
            range: range.clone(),
        };
        meta.create_gate("add / sub", |meta| {
            let q = meta.query_selector(config.q_arith);
            config
                .slots
                .iter()
                .zip(&config.signs)
                .map(|(slot, sign)| {
                    let [a, b, y] = slot.map(|c| meta.query_advice(c, Rotation::cur()));
                    let sign = meta.query_fixed(*sign, Rotation::cur());
                    q.clone() * (y - a - sign * b)
                })
                .collect::<Vec<_>>()
        });
        Ok(config)
    }
}

/// One add / sub to lay out.
#[derive(Clone, Debug)]
pub struct ArithAssignment<F: Field> {
    /// Left operand (copied in).
    pub a: AssignedVar<F>,
    /// Right operand (copied in).
    pub b: AssignedVar<F>,
    /// Add or subtract.
    pub op: ArithOp,
    /// The claimed result.
    pub y: Value<F>,
}

/// Addition and subtraction of activations.
#[derive(Clone, Debug)]
pub struct ArithChip<F: Field> {
    config: ArithConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for ArithChip<F> {
    type Config = ArithConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

impl<F: Field> ArithChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: ArithConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// The honest result of `a op b`.
    pub fn witness(a: &AssignedVar<F>, b: &AssignedVar<F>, op: ArithOp) -> Value<F> {
        let sign = op.sign::<F>();
        a.value() + b.value().map(|b| b * sign)
    }

    /// Lays out ops with the given results and range-checks them to `bits` signed bits.
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        ops: &[ArithAssignment<F>],
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let spec = RangeSpec::signed(bits)?;
        let per_row = self.config.slots.len();
        let n_rows = rows_for(ops.len(), per_row);
        let start = rows.alloc(n_rows)?;
        for r in 0..n_rows {
            self.config.q_arith.enable(region, start + r)?;
        }
        let mut outputs = Vec::with_capacity(ops.len());
        for (idx, op) in ops.iter().enumerate() {
            let row = start + idx / per_row;
            let k = idx % per_row;
            let [a_col, b_col, y_col] = self.config.slots[k];
            copy(region, &op.a, a_col, row);
            copy(region, &op.b, b_col, row);
            fix(region, self.config.signs[k], row, op.op.sign());
            outputs.push(assign(region, y_col, row, op.y));
        }
        let range = RangeChip::<F>::construct(self.config.range.clone());
        range.check_all(region, rows, &outputs, spec)?;
        tracing::debug!(ops = ops.len(), rows = n_rows, "add / sub laid out");
        Ok(outputs)
    }

    /// `y_i = a_i op b_i`, each range-checked to `bits` signed bits.
    pub fn elementwise(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        a: &[AssignedVar<F>],
        b: &[AssignedVar<F>],
        op: ArithOp,
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        if a.len() != b.len() {
            return Err(CircuitError::LengthMismatch {
                what: "add / sub operands",
                expected: a.len(),
                got: b.len(),
            });
        }
        let ops: Vec<_> = a
            .iter()
            .zip(b)
            .map(|(a, b)| ArithAssignment {
                a: a.clone(),
                b: b.clone(),
                op,
                y: Self::witness(a, b, op),
            })
            .collect();
        self.assign(region, rows, &ops, bits)
    }

    /// `y_i = a_i + b_i`.
    pub fn add(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        a: &[AssignedVar<F>],
        b: &[AssignedVar<F>],
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        self.elementwise(region, rows, a, b, ArithOp::Add, bits)
    }

    /// `y_i = a_i − b_i`.
    pub fn sub(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        a: &[AssignedVar<F>],
        b: &[AssignedVar<F>],
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        self.elementwise(region, rows, a, b, ArithOp::Sub, bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{edge_values, fr, known, mock, rng, verify_ok, Recorder};
    use halo2_proofs::halo2curves::bn256::Fr;
    use rand::Rng as _;

    fn reference(a: i128, b: i128, op: ArithOp) -> i128 {
        match op {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Tamper {
        /// Result off by one.
        Result,
        /// Result of the other operation.
        WrongOp,
        /// Operand `b` claims another value when copied in.
        Copy,
    }

    fn run(
        pairs: Vec<(i128, i128, ArithOp)>,
        bits: u32,
        tamper: Option<(usize, Tamper)>,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 1, 3>(10, move |config, region, rows| {
            let chip = config.arith_chip::<Fr>()?;
            let a_vals: Vec<i128> = pairs.iter().map(|p| p.0).collect();
            let b_vals: Vec<i128> = pairs.iter().map(|p| p.1).collect();
            let a = config.assign_inputs(region, rows, &known(&a_vals))?;
            let b = config.assign_inputs(region, rows, &known(&b_vals))?;
            let mut ops = Vec::new();
            for (i, ((a, b), p)) in a.iter().zip(&b).zip(&pairs).enumerate() {
                let mut op = ArithAssignment {
                    a: a.clone(),
                    b: b.clone(),
                    op: p.2,
                    y: ArithChip::witness(a, b, p.2),
                };
                if let Some((_, t)) = tamper.filter(|(at, _)| *at == i) {
                    match t {
                        Tamper::Result => op.y = op.y + Value::known(fr(1)),
                        Tamper::WrongOp => {
                            let other = if p.2 == ArithOp::Add {
                                ArithOp::Sub
                            } else {
                                ArithOp::Add
                            };
                            op.y = ArithChip::witness(a, b, other);
                        }
                        Tamper::Copy => {
                            op.b = b.with_value(b.value() + Value::known(fr(1)));
                            op.y = ArithChip::witness(a, &op.b, p.2);
                        }
                    }
                }
                ops.push(op);
            }
            let ys = chip.assign(region, rows, &ops, bits)?;
            out.push(&ys);
            Ok(())
        })
    }

    #[test]
    fn honest_add_sub_passes() -> anyhow::Result<()> {
        let edges = edge_values(16);
        let mut pairs = Vec::new();
        for a in &edges {
            for b in &edges {
                for op in [ArithOp::Add, ArithOp::Sub] {
                    let y = reference(*a, *b, op);
                    if (-(1 << 15)..(1 << 15)).contains(&y) {
                        pairs.push((*a, *b, op));
                    }
                }
            }
        }
        let out = Recorder::default();
        verify_ok(run(pairs.clone(), 16, None, out.clone())?)?;
        let expected: Vec<_> = pairs
            .iter()
            .map(|p| Some(reference(p.0, p.1, p.2)))
            .collect();
        assert_eq!(out.take(), expected);
        Ok(())
    }

    #[test]
    fn tampered_add_sub_fails() -> anyhow::Result<()> {
        let pairs = vec![
            (3, 4, ArithOp::Add),
            (3, 4, ArithOp::Sub),
            (-7, 100, ArithOp::Sub),
        ];
        for tamper in [Tamper::Result, Tamper::WrongOp, Tamper::Copy] {
            for at in 0..pairs.len() {
                let result = run(pairs.clone(), 16, Some((at, tamper)), Recorder::default())?;
                assert!(result.is_err(), "{tamper:?} at {at}");
            }
        }
        Ok(())
    }

    #[test]
    fn overflowing_result_fails() -> anyhow::Result<()> {
        let max = (1i128 << 15) - 1;
        let min = -(1i128 << 15);
        for pair in [
            (max, 1, ArithOp::Add),
            (min, 1, ArithOp::Sub),
            (min, max, ArithOp::Sub),
        ] {
            assert!(
                run(vec![pair], 16, None, Recorder::default())?.is_err(),
                "{pair:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn randomized_matches_reference() -> anyhow::Result<()> {
        let mut rng = rng(9);
        let half = 1i128 << 14;
        let pairs: Vec<(i128, i128, ArithOp)> = (0..300)
            .map(|i| {
                let op = if rng.gen_bool(0.5) {
                    ArithOp::Add
                } else {
                    ArithOp::Sub
                };
                let (a, b) = match i % 10 {
                    0 => (-half, -half),
                    1 => (half - 1, half),
                    2 => (0, 0),
                    _ => (rng.gen_range(-half..half), rng.gen_range(-half..half)),
                };
                (a, b, if i % 10 < 2 { ArithOp::Add } else { op })
            })
            .collect();
        let out = Recorder::default();
        verify_ok(run(pairs.clone(), 16, None, out.clone())?)?;
        let expected: Vec<_> = pairs
            .iter()
            .map(|p| Some(reference(p.0, p.1, p.2)))
            .collect();
        assert_eq!(out.take(), expected);
        Ok(())
    }

    #[test]
    fn length_mismatch_is_an_error() -> anyhow::Result<()> {
        let result = mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.arith_chip::<Fr>()?;
            let a = config.assign_inputs(region, rows, &known(&[1, 2]))?;
            match chip.add(region, rows, &a, &a[..1], 16) {
                Err(CircuitError::LengthMismatch { .. }) => Ok(()),
                _ => Err(CircuitError::EmptyInput {
                    op: "expected error",
                }),
            }
        })?;
        verify_ok(result)
    }
}
