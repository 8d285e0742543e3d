//! Dot products and dense layers: `acc = bias + Σ_i w_i · x_i` with constant weights.
//!
//! # Layout
//! A dot product of `n` inputs takes `⌈n / W⌉` rows (at least one). Row `r` holds inputs
//! `x_{rW} … x_{rW+W−1}` in the W lanes (copied from earlier cells), their weights in the W
//! weight columns (fixed, part of the verifying key) and the running sum in the accumulator
//! column. The bias sits in the bias column of the first row.
//!
//! # Constraints
//! * first row (`q_first`): `acc = bias + Σ_j w_j · x_j`
//! * next rows (`q_cont`):  `acc = acc_prev + bias + Σ_j w_j · x_j` (bias is 0 there)
//!
//! Lanes beyond `n` in the last row have weight 0, so their content does not matter. The sum
//! is exact over the integers as long as it stays far below the field size (|acc| ≲ 2^120),
//! which holds for activations and weights of ≤ 24 bits and any realistic `n`.
//!
//! # Assumptions
//! Inputs are range-checked where they were produced; the output accumulator is usually fed
//! to [`crate::chips::rescale::RescaleChip`], which range-checks its result.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::{fe_from_i64, Field};
use crate::layout::{assign, copy, fix, take, AssignedVar, RowAllocator};

/// Columns and selectors of the dense chip.
#[derive(Clone, Debug)]
pub struct DenseConfig {
    /// First row of a dot product.
    pub q_first: Selector,
    /// Continuation rows of a dot product.
    pub q_cont: Selector,
    /// Input lanes.
    pub lanes: Vec<Column<Advice>>,
    /// One weight column per lane.
    pub weights: Vec<Column<Fixed>>,
    /// The bias column.
    pub bias: Column<Fixed>,
    /// The accumulator column.
    pub acc: Column<Advice>,
    /// The private-weight gate, when configured ([`DenseConfig::configure_private`]).
    pub private: Option<PrivateDenseConfig>,
}

/// Selectors of the private-weight multiply-accumulate gate.
///
/// A row holds `h = ⌊(W − 1) / 2⌋` pairs: inputs in lanes `0..h`, weights in lanes `h..2h`, the
/// bias in lane `2h` (first row only); the weight columns hold a 0/1 pair mask `c_j`:
/// * first row (`q_first`): `acc = lane_2h + Σ_j c_j · x_j · w_j`
/// * next rows (`q_cont`):  `acc = acc_prev + Σ_j c_j · x_j · w_j`
///
/// Unused pairs have `c_j = 0`, so their cells do not matter. Degree 4 (selector, mask, two
/// advice cells), the constraint system's degree with lookups.
#[derive(Clone, Debug)]
pub struct PrivateDenseConfig {
    /// First row of a private dot product.
    pub q_first: Selector,
    /// Continuation rows.
    pub q_cont: Selector,
}

impl DenseConfig {
    /// Adds the multiply-accumulate gate.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
    ) -> Result<Self, CircuitError> {
        let width = pool.lanes.len();
        let weights = take(&pool.fixed, 0, width, "fixed columns")?;
        let bias = take(&pool.fixed, width, 1, "fixed columns")?[0];
        let config = Self {
            q_first: meta.selector(),
            q_cont: meta.selector(),
            lanes: pool.lanes.clone(),
            weights,
            bias,
            acc: pool.acc,
            private: None,
        };
        meta.create_gate("dense multiply-accumulate", |meta| {
            let q_first = meta.query_selector(config.q_first);
            let q_cont = meta.query_selector(config.q_cont);
            let mut sum = meta.query_fixed(config.bias, Rotation::cur());
            for (lane, weight) in config.lanes.iter().zip(&config.weights) {
                let x = meta.query_advice(*lane, Rotation::cur());
                let w = meta.query_fixed(*weight, Rotation::cur());
                sum = sum + w * x;
            }
            let acc = meta.query_advice(config.acc, Rotation::cur());
            let acc_prev = meta.query_advice(config.acc, Rotation::prev());
            let first: Expression<F> = q_first * (acc.clone() - sum.clone());
            let cont = q_cont * (acc - acc_prev - sum);
            [first, cont]
        });
        Ok(config)
    }

    /// Pairs per private-weight row: `⌊(W − 1) / 2⌋`.
    pub fn private_pairs(&self) -> usize {
        self.lanes.len().saturating_sub(1) / 2
    }

    /// Adds the private-weight gate (circuits whose weights are witnesses).
    pub fn configure_private<F: Field>(&mut self, meta: &mut ConstraintSystem<F>) {
        let h = self.private_pairs();
        let private = PrivateDenseConfig {
            q_first: meta.selector(),
            q_cont: meta.selector(),
        };
        let lanes = self.lanes.clone();
        let masks = self.weights.clone();
        let acc_column = self.acc;
        meta.create_gate("dense private-weight multiply-accumulate", |meta| {
            let q_first = meta.query_selector(private.q_first);
            let q_cont = meta.query_selector(private.q_cont);
            let mut sum = Expression::Constant(F::ZERO);
            for j in 0..h {
                let x = meta.query_advice(lanes[j], Rotation::cur());
                let w = meta.query_advice(lanes[h + j], Rotation::cur());
                let c = meta.query_fixed(masks[j], Rotation::cur());
                sum = sum + c * x * w;
            }
            let bias = meta.query_advice(lanes[2 * h], Rotation::cur());
            let acc = meta.query_advice(acc_column, Rotation::cur());
            let acc_prev = meta.query_advice(acc_column, Rotation::prev());
            [
                q_first * (acc.clone() - bias - sum.clone()),
                q_cont * (acc - acc_prev - sum),
            ]
        });
        self.private = Some(private);
    }
}

/// An operand of a dot-product row: a copy of an earlier cell, or a fresh value.
enum Operand<'a, F: Field> {
    Copy(&'a AssignedVar<F>),
    Fresh(Value<F>),
}

/// Dot products with constant weights.
#[derive(Clone, Debug)]
pub struct DenseChip<F: Field> {
    config: DenseConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for DenseChip<F> {
    type Config = DenseConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

impl<F: Field> DenseChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: DenseConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// Lanes per row (W).
    pub fn width(&self) -> usize {
        self.config.lanes.len()
    }

    /// Rows one dot product of `n` inputs takes.
    pub fn rows_per_dot(&self, n: usize) -> usize {
        n.div_ceil(self.width()).max(1)
    }

    /// The honest running sums, one per row.
    pub fn dot_witness(
        &self,
        inputs: &[AssignedVar<F>],
        weights: &[i64],
        bias: i64,
    ) -> Result<Vec<Value<F>>, CircuitError> {
        check_len("dense weights", inputs.len(), weights.len())?;
        let width = self.width();
        let mut acc = Value::known(fe_from_i64::<F>(bias));
        let mut accs = Vec::with_capacity(self.rows_per_dot(inputs.len()));
        for r in 0..self.rows_per_dot(inputs.len()) {
            let lo = (r * width).min(inputs.len());
            let hi = ((r + 1) * width).min(inputs.len());
            for (x, w) in inputs[lo..hi].iter().zip(&weights[lo..hi]) {
                let w = fe_from_i64::<F>(*w);
                acc = acc + x.value().map(|x| x * w);
            }
            accs.push(acc);
        }
        Ok(accs)
    }

    /// Lays out one dot product with the given running sums; returns the final accumulator.
    pub fn assign_dot(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        inputs: &[AssignedVar<F>],
        weights: &[i64],
        bias: i64,
        accs: &[Value<F>],
    ) -> Result<AssignedVar<F>, CircuitError> {
        check_len("dense weights", inputs.len(), weights.len())?;
        let operands: Vec<Operand<'_, F>> = inputs.iter().map(Operand::Copy).collect();
        let weights: Vec<F> = weights.iter().map(|w| fe_from_i64(*w)).collect();
        let (_, sum) = self.lay_rows(region, rows, &operands, &weights, fe_from_i64(bias), accs)?;
        Ok(sum)
    }

    /// The rows of one dot product `bias + Σ_i weights[i] · operands[i]` with the given running
    /// sums (one per row): copied or fresh operands in the lanes, the constants in the weight and
    /// bias columns. Returns the operands' cells and the final sum's cell.
    fn lay_rows(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        operands: &[Operand<'_, F>],
        weights: &[F],
        bias: F,
        accs: &[Value<F>],
    ) -> Result<(Vec<AssignedVar<F>>, AssignedVar<F>), CircuitError> {
        check_len("dense weights", operands.len(), weights.len())?;
        let n_rows = self.rows_per_dot(operands.len());
        check_len("dense accumulators", n_rows, accs.len())?;
        let width = self.width();
        let start = rows.alloc(n_rows)?;
        let mut cells = Vec::with_capacity(operands.len());
        let mut last = None;
        for (r, acc) in accs.iter().enumerate() {
            let row = start + r;
            if r == 0 {
                self.config.q_first.enable(region, row)?;
                fix(region, self.config.bias, row, bias);
            } else {
                self.config.q_cont.enable(region, row)?;
            }
            let lo = (r * width).min(operands.len());
            let hi = ((r + 1) * width).min(operands.len());
            for (j, (x, w)) in operands[lo..hi].iter().zip(&weights[lo..hi]).enumerate() {
                let lane = self.config.lanes[j];
                cells.push(match x {
                    Operand::Copy(var) => copy(region, var, lane, row),
                    Operand::Fresh(value) => assign(region, lane, row, *value),
                });
                fix(region, self.config.weights[j], row, *w);
            }
            last = Some(assign(region, self.config.acc, row, *acc));
        }
        let sum = last.ok_or(CircuitError::EmptyInput { op: "dense" })?;
        Ok((cells, sum))
    }

    /// Proves `bias + Σ w_i x_i` and returns its cell.
    pub fn dot(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        inputs: &[AssignedVar<F>],
        weights: &[i64],
        bias: i64,
    ) -> Result<AssignedVar<F>, CircuitError> {
        let accs = self.dot_witness(inputs, weights, bias)?;
        self.assign_dot(region, rows, inputs, weights, bias, &accs)
    }

    /// Lays out `offset + Σ_i coeffs[i] · values[i]` over fresh cells holding `values` (the
    /// packing of committed parameters); returns the value cells and the sum's cell.
    pub fn pack(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        values: &[Value<F>],
        coeffs: &[F],
        offset: F,
    ) -> Result<(Vec<AssignedVar<F>>, AssignedVar<F>), CircuitError> {
        check_len("packing coefficients", values.len(), coeffs.len())?;
        let width = self.width();
        let mut acc = Value::known(offset);
        let accs: Vec<Value<F>> = values
            .chunks(width)
            .zip(coeffs.chunks(width))
            .map(|(vs, cs)| {
                for (v, c) in vs.iter().zip(cs) {
                    acc = acc + v.map(|v| v * c);
                }
                acc
            })
            .collect();
        let accs = if accs.is_empty() { vec![acc] } else { accs };
        let operands: Vec<Operand<'_, F>> = values.iter().copied().map(Operand::Fresh).collect();
        self.lay_rows(region, rows, &operands, coeffs, offset, &accs)
    }

    /// Rows one private-weight dot product of `n` inputs takes.
    pub fn rows_per_private_dot(&self, n: usize) -> usize {
        n.div_ceil(self.config.private_pairs().max(1)).max(1)
    }

    /// Proves `bias + Σ_i w_i x_i` with weights and bias in advice cells (private weights),
    /// copying every operand into a private-weight row; returns the sum's cell.
    pub fn dot_private(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        inputs: &[AssignedVar<F>],
        weights: &[AssignedVar<F>],
        bias: &AssignedVar<F>,
    ) -> Result<AssignedVar<F>, CircuitError> {
        check_len("dense weights", inputs.len(), weights.len())?;
        let private = self
            .config
            .private
            .as_ref()
            .ok_or(CircuitError::NotConfigured)?;
        let h = self.config.private_pairs();
        let n_rows = self.rows_per_private_dot(inputs.len());
        let start = rows.alloc(n_rows)?;
        let lanes = &self.config.lanes;
        let mut acc = bias.value();
        let mut last = None;
        for r in 0..n_rows {
            let row = start + r;
            if r == 0 {
                private.q_first.enable(region, row)?;
                copy(region, bias, lanes[2 * h], row);
            } else {
                private.q_cont.enable(region, row)?;
            }
            let lo = (r * h).min(inputs.len());
            let hi = ((r + 1) * h).min(inputs.len());
            for j in 0..h {
                let used = lo + j < hi;
                fix(
                    region,
                    self.config.weights[j],
                    row,
                    if used { F::ONE } else { F::ZERO },
                );
                if used {
                    let (x, w) = (&inputs[lo + j], &weights[lo + j]);
                    copy(region, x, lanes[j], row);
                    copy(region, w, lanes[h + j], row);
                    acc = acc + x.value() * w.value();
                }
            }
            last = Some(assign(region, self.config.acc, row, acc));
        }
        last.ok_or(CircuitError::EmptyInput { op: "dense" })
    }

    /// A dense layer: one dot product per row of `weights` (`weights[o][i]` multiplies input
    /// `i` for output `o`). Returns the accumulators, before any rescale.
    pub fn layer(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        inputs: &[AssignedVar<F>],
        weights: &[Vec<i64>],
        bias: &[i64],
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        check_len("dense bias", weights.len(), bias.len())?;
        let start = rows.main_used();
        let out = weights
            .iter()
            .zip(bias)
            .map(|(w, b)| self.dot(region, rows, inputs, w, *b))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::debug!(
            inputs = inputs.len(),
            outputs = out.len(),
            rows = rows.main_used() - start,
            "dense layer laid out"
        );
        Ok(out)
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), CircuitError> {
    if expected == got {
        Ok(())
    } else {
        Err(CircuitError::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chips::range::RangeSpec;
    use crate::config::ModelParams;
    use crate::test_utils::{known, mock, rng, verify_ok, Recorder};
    use halo2_proofs::halo2curves::bn256::Fr;
    use halo2_proofs::halo2curves::ff::Field as _;
    use rand::Rng as _;

    /// Reference: `bias + Σ w_i x_i` over the integers.
    fn reference_dot(xs: &[i128], ws: &[i64], bias: i64) -> i128 {
        xs.iter()
            .zip(ws)
            .fold(i128::from(bias), |acc, (x, w)| acc + x * i128::from(*w))
    }

    #[derive(Clone, Copy)]
    enum Tamper {
        None,
        /// Add 1 to the running sum of row `r`.
        Acc(usize),
        /// Compute the witness with weight `i` increased by one (a wrong product).
        Product(usize),
        /// Claim input `i` has another value when it is copied into the lanes.
        Copy(usize),
    }

    fn run_dot(
        xs: Vec<i128>,
        ws: Vec<i64>,
        bias: i64,
        tamper: Tamper,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.dense_chip::<Fr>();
            let mut inputs = config.assign_inputs(region, rows, &known(&xs))?;
            let mut accs = match tamper {
                Tamper::Product(i) => {
                    let mut lying = ws.clone();
                    lying[i] += 1;
                    chip.dot_witness(&inputs, &lying, bias)?
                }
                _ => chip.dot_witness(&inputs, &ws, bias)?,
            };
            match tamper {
                Tamper::Acc(r) => accs[r] = accs[r] + Value::known(Fr::ONE),
                Tamper::Copy(i) => {
                    inputs[i] = inputs[i].with_value(inputs[i].value() + Value::known(Fr::ONE));
                    accs = chip.dot_witness(&inputs, &ws, bias)?;
                }
                _ => {}
            }
            let acc = chip.assign_dot(region, rows, &inputs, &ws, bias, &accs)?;
            out.push(&[acc]);
            Ok(())
        })
    }

    #[test]
    fn honest_dot_passes() -> anyhow::Result<()> {
        let xs: Vec<i128> = (0..20).map(|i| i * 37 - 300).collect();
        let ws: Vec<i64> = (0..20).map(|i| 5 - i * 3).collect();
        let out = Recorder::default();
        verify_ok(run_dot(
            xs.clone(),
            ws.clone(),
            -77,
            Tamper::None,
            out.clone(),
        )?)?;
        assert_eq!(out.take(), vec![Some(reference_dot(&xs, &ws, -77))]);
        Ok(())
    }

    #[test]
    fn tampered_dot_fails() -> anyhow::Result<()> {
        let xs: Vec<i128> = (0..20).map(|i| i * 37 - 300).collect();
        let ws: Vec<i64> = (0..20).map(|i| 5 - i * 3).collect();
        for tamper in [
            Tamper::Acc(0),
            Tamper::Acc(1),
            Tamper::Acc(2),
            Tamper::Product(0),
            Tamper::Product(19),
            Tamper::Copy(3),
            Tamper::Copy(17),
        ] {
            let result = run_dot(xs.clone(), ws.clone(), 11, tamper, Recorder::default())?;
            assert!(result.is_err());
        }
        Ok(())
    }

    #[test]
    fn empty_dot_is_the_bias() -> anyhow::Result<()> {
        let out = Recorder::default();
        verify_ok(run_dot(vec![], vec![], -9, Tamper::None, out.clone())?)?;
        assert_eq!(out.take(), vec![Some(-9)]);
        Ok(())
    }

    #[test]
    fn randomized_dots_match_reference() -> anyhow::Result<()> {
        let mut rng = rng(11);
        let half = 1i128 << 15;
        let mut cases = Vec::new();
        for case in 0..12 {
            let n = rng.gen_range(1..40usize);
            let xs: Vec<i128> = (0..n)
                .map(|i| match (case + i) % 7 {
                    0 => -half,
                    1 => half - 1,
                    2 => 0,
                    _ => rng.gen_range(-half..half),
                })
                .collect();
            let ws: Vec<i64> = (0..n)
                .map(|i| match (case + i) % 5 {
                    0 => -(1 << 15),
                    1 => (1 << 15) - 1,
                    _ => rng.gen_range(-(1i64 << 15)..(1 << 15)),
                })
                .collect();
            let bias = rng.gen_range(-(1i64 << 40)..(1 << 40));
            cases.push((xs, ws, bias));
        }
        let out = Recorder::default();
        let recorder = out.clone();
        let inputs = cases.clone();
        let result = mock::<8, 1, 3>(10, move |config, region, rows| {
            let chip = config.dense_chip::<Fr>();
            for (xs, ws, bias) in &inputs {
                let vars = config.assign_inputs(region, rows, &known(xs))?;
                let acc = chip.dot(region, rows, &vars, ws, *bias)?;
                recorder.push(&[acc]);
            }
            Ok(())
        })?;
        verify_ok(result)?;
        let expected: Vec<Option<i128>> = cases
            .iter()
            .map(|(xs, ws, b)| Some(reference_dot(xs, ws, *b)))
            .collect();
        assert_eq!(out.take(), expected);
        Ok(())
    }

    /// The mlp's first layer: 784 → 32 at W = 32, with rescale and the range checks of its
    /// outputs and remainders. Prints the rows and columns used.
    #[test]
    fn dense_784_to_32_layer() -> anyhow::Result<()> {
        const K: u32 = 10;
        let (n_in, n_out, bits, shift) = (784usize, 32usize, 16u32, 8u32);
        let mut rng = rng(784);
        let xs: Vec<i128> = (0..n_in).map(|_| rng.gen_range(-128..128)).collect();
        let ws: Vec<Vec<i64>> = (0..n_out)
            .map(|_| (0..n_in).map(|_| rng.gen_range(-64..64)).collect())
            .collect();
        let bias: Vec<i64> = (0..n_out).map(|_| rng.gen_range(-4096..4096)).collect();
        let expected: Vec<Option<i128>> = ws
            .iter()
            .zip(&bias)
            .map(|(w, b)| {
                let acc = reference_dot(&xs, w, *b);
                Some((acc + (1 << (shift - 1))).div_euclid(1 << shift))
            })
            .collect();
        assert!(expected.iter().flatten().all(|y| RangeSpec::signed(bits)
            .map(|s| s.contains(*y))
            .unwrap_or(false)));

        let out = Recorder::default();
        let recorder = out.clone();
        let used = std::sync::Arc::new(std::sync::Mutex::new([0usize; 4]));
        let used_in = used.clone();
        let result = mock::<32, 1, 2>(K, move |config, region, rows| {
            let dense = config.dense_chip::<Fr>();
            let rescale = config.rescale_chip::<Fr>();
            let inputs = config.assign_inputs(region, rows, &known(&xs))?;
            let after_inputs = rows.main_used();
            let accs = dense.layer(region, rows, &inputs, &ws, &bias)?;
            let after_dense = rows.main_used();
            let ys = rescale.rescale(region, rows, &accs, shift, bits)?;
            recorder.push(&ys);
            if let Ok(mut u) = used_in.lock() {
                *u = [
                    after_inputs,
                    after_dense,
                    rows.used(),
                    config.usable_rows(K),
                ];
            }
            Ok(())
        })?;
        verify_ok(result)?;
        assert_eq!(out.take(), expected);

        let [inputs, dense, total, usable] = *used.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        let mut meta = ConstraintSystem::<Fr>::default();
        let config = crate::ModelConfig::configure(&mut meta, &ModelParams::new(32, 1, 2))?;
        println!(
            "dense 784->32, W=32: rows inputs={} mac={} rescale+range={} total={} of {} usable (k={K})",
            inputs,
            dense - inputs,
            total - dense,
            total,
            usable
        );
        println!(
            "columns: advice={} (lanes 32, acc 1, range {}), fixed={}, selectors={}, lookups={}, \
             equality={}, degree={}, blinding rows={}",
            meta.num_advice_columns(),
            config.pool.range_columns.len(),
            meta.num_fixed_columns(),
            meta.num_selectors(),
            meta.lookups().len(),
            meta.permutation().get_columns().len(),
            meta.degree(),
            config.blinding_factors
        );
        assert_eq!(dense - inputs, 800);
        assert!(meta.degree() <= 5);
        Ok(())
    }

    #[derive(Clone, Copy, PartialEq)]
    enum PrivateTamper {
        None,
        /// The row's copy of weight `i` holds another value than the weight cell.
        WeightCopy(usize),
        /// The row's copy of the bias holds another value.
        BiasCopy,
        /// Running sum of row `r` plus one (wrong product / sum).
        Acc(usize),
    }

    /// A private-weight dot of `xs` and `ws` (weights and bias assigned as cells first).
    fn run_private_dot(
        xs: Vec<i128>,
        ws: Vec<i128>,
        bias: i128,
        tamper: PrivateTamper,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.dense_chip::<Fr>();
            let inputs = config.assign_inputs(region, rows, &known(&xs))?;
            let mut weights = config.assign_inputs(region, rows, &known(&ws))?;
            let mut bias = config
                .assign_inputs(region, rows, &known(&[bias]))?
                .remove(0);
            match tamper {
                PrivateTamper::WeightCopy(i) => {
                    weights[i] = weights[i].with_value(weights[i].value() + Value::known(Fr::ONE))
                }
                PrivateTamper::BiasCopy => {
                    bias = bias.with_value(bias.value() + Value::known(Fr::ONE))
                }
                _ => {}
            }
            let acc = chip.dot_private(region, rows, &inputs, &weights, &bias)?;
            let acc = match tamper {
                PrivateTamper::Acc(r) => {
                    // Re-assign row r's accumulator with a wrong value.
                    let h = chip.config().private_pairs();
                    let rows_used = chip.rows_per_private_dot(inputs.len());
                    let last_row = rows.main_used() - 1;
                    let row = last_row + 1 - rows_used + r;
                    let honest: i128 = xs
                        .iter()
                        .zip(&ws)
                        .take((r + 1) * h)
                        .map(|(x, w)| x * w)
                        .sum::<i128>()
                        + bias.value_i128("bias")?.unwrap_or(0);
                    assign(
                        region,
                        chip.config().acc,
                        row,
                        Value::known(crate::field::fe_from_i128::<Fr>(honest + 1)),
                    )
                }
                _ => acc,
            };
            out.push(&[acc]);
            Ok(())
        })
    }

    #[test]
    fn private_weight_dot_honest_passes_and_tampering_fails() -> anyhow::Result<()> {
        // W = 8: 3 pairs per row; 7 inputs take 3 rows, the last one with two masked pairs.
        let xs: Vec<i128> = vec![5, -3, 12, 0, 7, -128, 127];
        let ws: Vec<i128> = vec![-2, 9, 1, 44, -7, 3, -1];
        let bias = -1000;
        let expected = xs.iter().zip(&ws).map(|(x, w)| x * w).sum::<i128>() + bias;
        let out = Recorder::default();
        verify_ok(run_private_dot(
            xs.clone(),
            ws.clone(),
            bias,
            PrivateTamper::None,
            out.clone(),
        )?)?;
        assert_eq!(out.take(), vec![Some(expected)]);
        for tamper in [
            PrivateTamper::WeightCopy(0),
            PrivateTamper::WeightCopy(6),
            PrivateTamper::BiasCopy,
            PrivateTamper::Acc(0),
            PrivateTamper::Acc(1),
            PrivateTamper::Acc(2),
        ] {
            let result =
                run_private_dot(xs.clone(), ws.clone(), bias, tamper, Recorder::default())?;
            assert!(result.is_err(), "tampered private dot accepted");
        }
        Ok(())
    }

    #[test]
    fn masked_pairs_ignore_their_cells() -> anyhow::Result<()> {
        // Garbage in the unused pairs of the last row does not change the sum: the fixed mask
        // is 0 there. (A prover cannot use them to add anything.)
        let result = mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.dense_chip::<Fr>();
            let xs = config.assign_inputs(region, rows, &known(&[3, 4]))?;
            let ws = config.assign_inputs(region, rows, &known(&[5, 6]))?;
            let b = config.assign_inputs(region, rows, &known(&[1]))?.remove(0);
            let acc = chip.dot_private(region, rows, &xs, &ws, &b)?;
            let row = rows.main_used() - 1;
            let lanes = &chip.config().lanes;
            // pair 2 (unused): x in lane 2, w in lane 5
            assign(region, lanes[2], row, Value::known(Fr::from(1000u64)));
            assign(region, lanes[5], row, Value::known(Fr::from(1000u64)));
            if acc.value_i128("acc")? != Some(3 * 5 + 4 * 6 + 1) {
                return Err(CircuitError::EmptyInput { op: "wrong sum" });
            }
            Ok(())
        })?;
        verify_ok(result)
    }

    #[test]
    fn packing_honest_passes_and_tampering_fails() -> anyhow::Result<()> {
        // 10 values packed base 2^8 with offset 128 each: spans two rows at W = 8.
        let values: Vec<i128> = vec![-128, 127, 0, 5, -7, 100, -100, 1, -1, 64];
        let run = |lie: Option<usize>| {
            let values = values.clone();
            mock::<8, 1, 3>(9, move |config, region, rows| {
                let chip = config.dense_chip::<Fr>();
                let coeffs: Vec<Fr> = (0..values.len())
                    .map(|i| crate::field::fe_from_i128::<Fr>(1i128 << (8 * i)))
                    .collect();
                let offset = coeffs
                    .iter()
                    .fold(Fr::ZERO, |acc, c| acc + *c * Fr::from(128u64));
                let (cells, packed) = chip.pack(region, rows, &known(&values), &coeffs, offset)?;
                let expected = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v + 128) << (8 * i))
                    .sum::<i128>();
                if packed.value_i128("packed")? != Some(expected) || cells.len() != values.len() {
                    return Err(CircuitError::EmptyInput {
                        op: "wrong packing",
                    });
                }
                if let Some(r) = lie {
                    assign(region, chip.config().acc, r, Value::known(Fr::from(7u64)));
                }
                Ok(())
            })
        };
        verify_ok(run(None)?)?;
        assert!(run(Some(0))?.is_err());
        assert!(run(Some(1))?.is_err());
        Ok(())
    }

    #[test]
    fn mismatched_lengths_are_errors() -> anyhow::Result<()> {
        let result = mock::<8, 1, 3>(9, move |config, region, rows| {
            let chip = config.dense_chip::<Fr>();
            let inputs = config.assign_inputs(region, rows, &known(&[1, 2, 3]))?;
            match chip.dot(region, rows, &inputs, &[1, 2], 0) {
                Err(CircuitError::LengthMismatch { .. }) => {}
                _ => {
                    return Err(CircuitError::EmptyInput {
                        op: "expected error",
                    })
                }
            }
            match chip.layer(region, rows, &inputs, &[vec![1, 2, 3]], &[]) {
                Err(CircuitError::LengthMismatch { .. }) => Ok(()),
                _ => Err(CircuitError::EmptyInput {
                    op: "expected error",
                }),
            }
        })?;
        verify_ok(result)
    }
}
