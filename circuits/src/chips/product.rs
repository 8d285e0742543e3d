//! Element-wise product of two activations: `p = a·b` (the accumulator of a `Mul` layer,
//! rescaled afterwards).
//!
//! # Layout
//! `⌊W/3⌋` ops per row; slot `k` uses lanes `3k` (`a`), `3k + 1` (`b`), both copied in, and
//! `3k + 2` (`p`).
//!
//! # Constraints (per slot, on rows where `q_product` is on)
//! * `p = a·b` (degree 3 with the selector). Unused slots hold zeros.
//!
//! # Assumptions
//! `a` and `b` are integers far below the square root of the field size (range-checked
//! activations), so `p` is their integer product. `p` is not range-checked here.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Selector};
use halo2_proofs::poly::Rotation;

use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::Field;
use crate::layout::{assign, copy, rows_for, take, AssignedVar, RowAllocator};

/// Lanes one op uses.
const LANES_PER_OP: usize = 3;

/// Columns and selector of the product chip.
#[derive(Clone, Debug)]
pub struct ProductConfig {
    /// Enables the product gate.
    pub q_product: Selector,
    /// Per slot: lanes for `a`, `b`, `p`.
    pub slots: Vec<[Column<Advice>; 3]>,
}

impl ProductConfig {
    /// Adds the product gate.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
    ) -> Result<Self, CircuitError> {
        let n_slots = pool.lanes.len() / LANES_PER_OP;
        let mut slots = Vec::with_capacity(n_slots);
        for k in 0..n_slots {
            let l = take(&pool.lanes, LANES_PER_OP * k, LANES_PER_OP, "lanes")?;
            slots.push([l[0], l[1], l[2]]);
        }
        let config = Self {
            q_product: meta.selector(),
            slots,
        };
        meta.create_gate("product", |meta| {
            let q = meta.query_selector(config.q_product);
            config
                .slots
                .iter()
                .map(|lanes| {
                    let [a, b, p] = lanes.map(|c| meta.query_advice(c, Rotation::cur()));
                    q.clone() * (p - a * b)
                })
                .collect::<Vec<_>>()
        });
        Ok(config)
    }
}

/// One product to lay out.
#[derive(Clone, Debug)]
pub struct ProductOp<F: Field> {
    /// Left factor (copied in).
    pub a: AssignedVar<F>,
    /// Right factor (copied in).
    pub b: AssignedVar<F>,
    /// The claimed product.
    pub p: Value<F>,
}

/// Element-wise products of activations.
#[derive(Clone, Debug)]
pub struct ProductChip<F: Field> {
    config: ProductConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for ProductChip<F> {
    type Config = ProductConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

impl<F: Field> ProductChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: ProductConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// Products per row.
    pub fn ops_per_row(&self) -> usize {
        self.config.slots.len()
    }

    /// Lays out products with the given results; returns the `p` cells.
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        ops: &[ProductOp<F>],
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let per_row = self.ops_per_row();
        if per_row == 0 {
            return Err(CircuitError::InvalidParams {
                parameter: "lanes",
                value: 0,
                expected: "at least three lanes for the product chip",
            });
        }
        let n_rows = rows_for(ops.len(), per_row);
        let start = rows.alloc(n_rows)?;
        for r in 0..n_rows {
            self.config.q_product.enable(region, start + r)?;
        }
        let mut outputs = Vec::with_capacity(ops.len());
        for (idx, op) in ops.iter().enumerate() {
            let row = start + idx / per_row;
            let [a_col, b_col, p_col] = self.config.slots[idx % per_row];
            copy(region, &op.a, a_col, row);
            copy(region, &op.b, b_col, row);
            outputs.push(assign(region, p_col, row, op.p));
        }
        tracing::debug!(ops = ops.len(), rows = n_rows, "products laid out");
        Ok(outputs)
    }

    /// `p_i = a_i·b_i`.
    pub fn mul(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        a: &[AssignedVar<F>],
        b: &[AssignedVar<F>],
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        if a.len() != b.len() {
            return Err(CircuitError::LengthMismatch {
                what: "product operands",
                expected: a.len(),
                got: b.len(),
            });
        }
        let ops: Vec<_> = a
            .iter()
            .zip(b)
            .map(|(a, b)| ProductOp {
                a: a.clone(),
                b: b.clone(),
                p: a.value() * b.value(),
            })
            .collect();
        self.assign(region, rows, &ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{edge_values, known, mock, rng, verify_ok, Recorder};
    use halo2_proofs::halo2curves::bn256::Fr;
    use halo2_proofs::halo2curves::ff::Field as _;
    use rand::Rng as _;

    #[derive(Clone, Copy, Debug)]
    enum Tamper {
        /// Product off by one.
        Product(usize),
        /// The left factor claims another value when copied in (product of the lie).
        Copy(usize),
    }

    fn run(
        a: Vec<i128>,
        b: Vec<i128>,
        tamper: Option<Tamper>,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.product_chip::<Fr>()?;
            let mut va = config.assign_inputs(region, rows, &known(&a))?;
            let vb = config.assign_inputs(region, rows, &known(&b))?;
            if let Some(Tamper::Copy(i)) = tamper {
                va[i] = va[i].with_value(va[i].value() + Value::known(Fr::ONE));
            }
            let mut ops: Vec<ProductOp<Fr>> = va
                .iter()
                .zip(&vb)
                .map(|(a, b)| ProductOp {
                    a: a.clone(),
                    b: b.clone(),
                    p: a.value() * b.value(),
                })
                .collect();
            if let Some(Tamper::Product(i)) = tamper {
                ops[i].p = ops[i].p + Value::known(Fr::ONE);
            }
            let ps = chip.assign(region, rows, &ops)?;
            out.push(&ps);
            Ok(())
        })
    }

    fn case() -> (Vec<i128>, Vec<i128>) {
        let mut rng = rng(9);
        let mut a = edge_values(16);
        let mut b: Vec<i128> = edge_values(16).into_iter().rev().collect();
        for _ in 0..6 {
            a.push(rng.gen_range(-(1i128 << 15)..(1 << 15)));
            b.push(rng.gen_range(-(1i128 << 15)..(1 << 15)));
        }
        (a, b)
    }

    #[test]
    fn honest_products_match_reference() -> anyhow::Result<()> {
        let (a, b) = case();
        let out = Recorder::default();
        verify_ok(run(a.clone(), b.clone(), None, out.clone())?)?;
        let expected: Vec<Option<i128>> = a.iter().zip(&b).map(|(x, y)| Some(x * y)).collect();
        assert_eq!(out.take(), expected);
        Ok(())
    }

    #[test]
    fn tampered_products_fail() -> anyhow::Result<()> {
        let (a, b) = case();
        for tamper in [
            Tamper::Product(0),
            Tamper::Product(12),
            Tamper::Copy(2),
            Tamper::Copy(11),
        ] {
            let result = run(a.clone(), b.clone(), Some(tamper), Recorder::default())?;
            assert!(result.is_err(), "{tamper:?} accepted");
        }
        Ok(())
    }

    #[test]
    fn mismatched_lengths_are_errors() -> anyhow::Result<()> {
        let result = mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.product_chip::<Fr>()?;
            let a = config.assign_inputs(region, rows, &known(&[1, 2]))?;
            match chip.mul(region, rows, &a, &a[..1]) {
                Err(CircuitError::LengthMismatch { .. }) => Ok(()),
                _ => Err(CircuitError::EmptyInput {
                    op: "expected a length error",
                }),
            }
        })?;
        verify_ok(result)
    }
}
