//! ReLU `y = max(x, 0)` and LeakyReLU `y = x if x ≥ 0 else ⌊(x·α + 2^(s−1)) / 2^s⌋`.
//!
//! Both prove the sign of `x` with a boolean `sgn` and one range check of
//! `t = (2·sgn − 1)·x + sgn − 1` against `[0, 2^(b−1))`: if `sgn = 1` then `t = x`, so
//! `0 ≤ x < 2^(b−1)`; if `sgn = 0` then `t = −x − 1`, so `−2^(b−1) ≤ x < 0`. This also proves
//! `x` lies in the `b`-bit activation range, so `x` needs no separate check.
//!
//! # ReLU layout and constraints
//! `⌊W/4⌋` ops per row; slot `k` uses lanes `4k … 4k+3` for `x` (copied in), `sgn`, `t`, `y`:
//! * `sgn · (1 − sgn) = 0`
//! * `t = (2·sgn − 1)·x + sgn − 1`, range check `t ∈ [0, 2^(b−1))`
//! * `y = sgn · x`
//!
//! # LeakyReLU layout and constraints
//! `⌊W/6⌋` ops per row; slot `k` uses lanes `6k … 6k+5` for `x`, `sgn`, `t`, `z`, `rem`, `y` and
//! fixed columns `3k … 3k+2` for `α`, `2^(s−1)`, `2^s`:
//! * the two sign constraints above
//! * `x·α + 2^(s−1) = z·2^s + rem`, range check `rem ∈ [0, 2^s)`
//! * `y = sgn·x + (1 − sgn)·z`, range check `y` in the `b`-bit activation range
//!
//! When `sgn = 0`, `y = z` is range-checked and `rem` is a proper remainder, so the equation
//! holds over the integers and `z` is the rounded quotient. When `sgn = 1`, `y = x`.
//!
//! # Assumptions
//! `α ≥ 1`, `1 ≤ s ≤` the range slot width, constants small enough that `x·α` stays far below
//! the field size (|α| < 2^64).

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::chips::range::{RangeChip, RangeConfig, RangeSpec};
use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::{fe_from_i128, fe_from_u64, Field};
use crate::layout::{assign, copy, fix, rows_for, take, try_map, AssignedVar, RowAllocator};

/// Lanes one ReLU uses.
const RELU_LANES: usize = 4;
/// Lanes one LeakyReLU uses.
const LEAKY_LANES: usize = 6;

/// Columns and selectors of the ReLU / LeakyReLU chip.
#[derive(Clone, Debug)]
pub struct ReluConfig {
    /// Enables the ReLU gate.
    pub q_relu: Selector,
    /// Enables the LeakyReLU gate (`None` when LeakyReLU is not configured).
    pub q_leaky: Option<Selector>,
    /// ReLU slots: lanes for `x`, `sgn`, `t`, `y`.
    pub relu_slots: Vec<[Column<Advice>; 4]>,
    /// LeakyReLU slots: lanes for `x`, `sgn`, `t`, `z`, `rem`, `y`.
    pub leaky_slots: Vec<[Column<Advice>; 6]>,
    /// LeakyReLU constants: fixed columns for `α`, `2^(s−1)`, `2^s`.
    pub leaky_constants: Vec<[Column<Fixed>; 3]>,
    /// The range chip.
    pub range: RangeConfig,
}

/// The sign constraints shared by ReLU and LeakyReLU.
fn sign_constraints<F: Field>(
    x: Expression<F>,
    sgn: Expression<F>,
    t: Expression<F>,
) -> [Expression<F>; 2] {
    let one = Expression::Constant(F::ONE);
    let boolean = sgn.clone() * (one.clone() - sgn.clone());
    let two_sgn_minus_one = sgn.clone() + sgn.clone() - one.clone();
    let sign = t - (two_sgn_minus_one * x + sgn - one);
    [boolean, sign]
}

impl ReluConfig {
    /// Adds the ReLU gate, and the LeakyReLU gate when `leaky` is set (it needs six lanes).
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        range: &RangeConfig,
        leaky: bool,
    ) -> Result<Self, CircuitError> {
        let width = pool.lanes.len();
        let mut relu_slots = Vec::new();
        for k in 0..width / RELU_LANES {
            let l = take(&pool.lanes, RELU_LANES * k, RELU_LANES, "lanes")?;
            relu_slots.push([l[0], l[1], l[2], l[3]]);
        }
        let mut leaky_slots = Vec::new();
        let mut leaky_constants = Vec::new();
        for k in 0..if leaky { width / LEAKY_LANES } else { 0 } {
            let l = take(&pool.lanes, LEAKY_LANES * k, LEAKY_LANES, "lanes")?;
            let f = take(&pool.fixed, 3 * k, 3, "fixed columns")?;
            leaky_slots.push([l[0], l[1], l[2], l[3], l[4], l[5]]);
            leaky_constants.push([f[0], f[1], f[2]]);
        }
        let config = Self {
            q_relu: meta.selector(),
            q_leaky: (!leaky_slots.is_empty()).then(|| meta.selector()),
            relu_slots,
            leaky_slots,
            leaky_constants,
            range: range.clone(),
        };
        meta.create_gate("relu", |meta| {
            let q = meta.query_selector(config.q_relu);
            let mut constraints = Vec::new();
            for slot in &config.relu_slots {
                let [x, sgn, t, y] = slot.map(|c| meta.query_advice(c, Rotation::cur()));
                for c in sign_constraints(x.clone(), sgn.clone(), t) {
                    constraints.push(q.clone() * c);
                }
                constraints.push(q.clone() * (y - sgn * x));
            }
            constraints
        });
        let Some(q_leaky) = config.q_leaky else {
            return Ok(config);
        };
        meta.create_gate("leaky relu", |meta| {
            let q = meta.query_selector(q_leaky);
            let one = Expression::Constant(F::ONE);
            let mut constraints = Vec::new();
            for (slot, fixed) in config.leaky_slots.iter().zip(&config.leaky_constants) {
                let [x, sgn, t, z, rem, y] = slot.map(|c| meta.query_advice(c, Rotation::cur()));
                let [alpha, half, scale] = fixed.map(|c| meta.query_fixed(c, Rotation::cur()));
                for c in sign_constraints(x.clone(), sgn.clone(), t) {
                    constraints.push(q.clone() * c);
                }
                constraints.push(q.clone() * (x.clone() * alpha + half - z.clone() * scale - rem));
                constraints.push(q.clone() * (y - sgn.clone() * x - (one.clone() - sgn) * z));
            }
            constraints
        });
        Ok(config)
    }
}

/// Witness of one ReLU.
#[derive(Clone, Debug)]
pub struct ReluWitness<F: Field> {
    /// 1 if `x ≥ 0`, else 0.
    pub sgn: Value<F>,
    /// `x` if `x ≥ 0`, else `−x − 1`.
    pub t: Value<F>,
    /// The output.
    pub y: Value<F>,
}

/// Witness of one LeakyReLU.
#[derive(Clone, Debug)]
pub struct LeakyWitness<F: Field> {
    /// 1 if `x ≥ 0`, else 0.
    pub sgn: Value<F>,
    /// `x` if `x ≥ 0`, else `−x − 1`.
    pub t: Value<F>,
    /// `⌊(x·α + 2^(s−1)) / 2^s⌋`.
    pub z: Value<F>,
    /// The remainder of that division.
    pub rem: Value<F>,
    /// The output.
    pub y: Value<F>,
}

/// LeakyReLU constants: slope `α / 2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakyParams {
    /// Integer multiplier `α ≥ 1`.
    pub alpha: u64,
    /// Rescale shift `s ≥ 1`.
    pub shift: u32,
}

/// ReLU and LeakyReLU.
#[derive(Clone, Debug)]
pub struct ReluChip<F: Field> {
    config: ReluConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for ReluChip<F> {
    type Config = ReluConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

/// `(sgn, t)` of an integer.
fn sign_parts(x: i128) -> (i128, i128) {
    if x >= 0 {
        (1, x)
    } else {
        // x > i128::MIN is guaranteed by the callers' integer reads.
        (0, -(x + 1))
    }
}

/// Checks `bits` is a usable activation width.
fn activation_spec(op: &'static str, bits: u32) -> Result<(RangeSpec, RangeSpec), CircuitError> {
    if bits == 0 {
        return Err(CircuitError::InvalidBitWidth { op, bits });
    }
    Ok((RangeSpec::signed(bits)?, RangeSpec::unsigned(bits - 1)?))
}

impl<F: Field> ReluChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: ReluConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    fn range(&self) -> RangeChip<F> {
        RangeChip::construct(self.config.range.clone())
    }

    /// The honest ReLU witness.
    pub fn relu_witness(&self, x: &AssignedVar<F>) -> Result<ReluWitness<F>, CircuitError> {
        let parts = try_map(x.value(), |_| {
            let x = x
                .value_i128("relu")?
                .ok_or(CircuitError::NotAnInteger { op: "relu" })?;
            let (sgn, t) = sign_parts(x);
            Ok((sgn, t, x.max(0)))
        })?;
        Ok(ReluWitness {
            sgn: parts.map(|p| fe_from_i128(p.0)),
            t: parts.map(|p| fe_from_i128(p.1)),
            y: parts.map(|p| fe_from_i128(p.2)),
        })
    }

    /// Lays out ReLUs with the given witnesses; `bits` is the activation width.
    pub fn assign_relu(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        ops: &[(AssignedVar<F>, ReluWitness<F>)],
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let (_, t_spec) = activation_spec("relu", bits)?;
        let per_row = self.config.relu_slots.len();
        let n_rows = rows_for(ops.len(), per_row);
        let start = rows.alloc(n_rows)?;
        for r in 0..n_rows {
            self.config.q_relu.enable(region, start + r)?;
        }
        // Unused slots of the last row hold the dummy op x = 0, sgn = 1, t = 0, y = 0.
        for k in ops.len()..n_rows * per_row {
            let sgn_col = self.config.relu_slots[k % per_row][1];
            assign(region, sgn_col, start + k / per_row, Value::known(F::ONE));
        }
        let mut outputs = Vec::with_capacity(ops.len());
        let mut checks = Vec::with_capacity(ops.len());
        for (idx, (x, w)) in ops.iter().enumerate() {
            let row = start + idx / per_row;
            let [x_col, sgn_col, t_col, y_col] = self.config.relu_slots[idx % per_row];
            copy(region, x, x_col, row);
            assign(region, sgn_col, row, w.sgn);
            let t = assign(region, t_col, row, w.t);
            outputs.push(assign(region, y_col, row, w.y));
            checks.push((t, t_spec));
        }
        self.range().check(region, rows, &checks)?;
        tracing::debug!(ops = ops.len(), rows = n_rows, "relu laid out");
        Ok(outputs)
    }

    /// `y_i = max(x_i, 0)`, proving `x_i` lies in the `bits`-bit activation range.
    pub fn relu(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        xs: &[AssignedVar<F>],
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let ops = xs
            .iter()
            .map(|x| Ok((x.clone(), self.relu_witness(x)?)))
            .collect::<Result<Vec<_>, CircuitError>>()?;
        self.assign_relu(region, rows, &ops, bits)
    }

    fn check_leaky(&self, params: LeakyParams) -> Result<(), CircuitError> {
        let op = "leaky relu";
        if params.alpha == 0 {
            return Err(CircuitError::InvalidConstant {
                op,
                name: "alpha",
                value: 0,
            });
        }
        if params.shift == 0 || params.shift >= 63 {
            return Err(CircuitError::InvalidConstant {
                op,
                name: "shift",
                value: i128::from(params.shift),
            });
        }
        Ok(())
    }

    /// The honest LeakyReLU witness.
    pub fn leaky_witness(
        &self,
        x: &AssignedVar<F>,
        params: LeakyParams,
    ) -> Result<LeakyWitness<F>, CircuitError> {
        let op = "leaky relu";
        self.check_leaky(params)?;
        let scale = 1i128 << params.shift;
        let parts = try_map(x.value(), |_| {
            let x = x.value_i128(op)?.ok_or(CircuitError::NotAnInteger { op })?;
            let (sgn, t) = sign_parts(x);
            let scaled = x
                .checked_mul(i128::from(params.alpha))
                .and_then(|v| v.checked_add(scale / 2))
                .ok_or(CircuitError::Overflow { op })?;
            let (z, rem) = (scaled.div_euclid(scale), scaled.rem_euclid(scale));
            let y = if x >= 0 { x } else { z };
            Ok([sgn, t, z, rem, y])
        })?;
        let [sgn, t, z, rem, y] = parts.map(|p| p.map(fe_from_i128::<F>)).transpose_array();
        Ok(LeakyWitness { sgn, t, z, rem, y })
    }

    /// Lays out LeakyReLUs with the given witnesses; `bits` is the activation width.
    pub fn assign_leaky(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        ops: &[(AssignedVar<F>, LeakyWitness<F>)],
        params: LeakyParams,
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        self.check_leaky(params)?;
        let (y_spec, t_spec) = activation_spec("leaky relu", bits)?;
        let rem_spec = RangeSpec::unsigned(params.shift)?;
        let q_leaky = self
            .config
            .q_leaky
            .ok_or(CircuitError::ChipNotConfigured { chip: "leaky relu" })?;
        let per_row = self.config.leaky_slots.len();
        let n_rows = rows_for(ops.len(), per_row);
        let start = rows.alloc(n_rows)?;
        for r in 0..n_rows {
            q_leaky.enable(region, start + r)?;
        }
        for k in ops.len()..n_rows * per_row {
            let sgn_col = self.config.leaky_slots[k % per_row][1];
            assign(region, sgn_col, start + k / per_row, Value::known(F::ONE));
        }
        let alpha = fe_from_u64::<F>(params.alpha);
        let scale = fe_from_u64::<F>(1u64 << params.shift);
        let half = fe_from_u64::<F>(1u64 << (params.shift - 1));
        let mut outputs = Vec::with_capacity(ops.len());
        let mut checks = Vec::with_capacity(3 * ops.len());
        for (idx, (x, w)) in ops.iter().enumerate() {
            let row = start + idx / per_row;
            let k = idx % per_row;
            let [x_col, sgn_col, t_col, z_col, rem_col, y_col] = self.config.leaky_slots[k];
            let [alpha_col, half_col, scale_col] = self.config.leaky_constants[k];
            copy(region, x, x_col, row);
            assign(region, sgn_col, row, w.sgn);
            let t = assign(region, t_col, row, w.t);
            assign(region, z_col, row, w.z);
            let rem = assign(region, rem_col, row, w.rem);
            let y = assign(region, y_col, row, w.y);
            fix(region, alpha_col, row, alpha);
            fix(region, half_col, row, half);
            fix(region, scale_col, row, scale);
            checks.push((t, t_spec));
            checks.push((rem, rem_spec));
            checks.push((y.clone(), y_spec));
            outputs.push(y);
        }
        self.range().check(region, rows, &checks)?;
        tracing::debug!(ops = ops.len(), rows = n_rows, "leaky relu laid out");
        Ok(outputs)
    }

    /// LeakyReLU with slope `α / 2^shift` on `bits`-bit activations.
    pub fn leaky_relu(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        xs: &[AssignedVar<F>],
        params: LeakyParams,
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let ops = xs
            .iter()
            .map(|x| Ok((x.clone(), self.leaky_witness(x, params)?)))
            .collect::<Result<Vec<_>, CircuitError>>()?;
        self.assign_leaky(region, rows, &ops, params, bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{edge_values, fr, known, mock, rng, verify_ok, Recorder};
    use halo2_proofs::halo2curves::bn256::Fr;
    use rand::Rng as _;

    fn reference_relu(x: i128) -> i128 {
        x.max(0)
    }

    fn reference_leaky(x: i128, p: LeakyParams) -> i128 {
        if x >= 0 {
            x
        } else {
            let s = 1i128 << p.shift;
            (x * i128::from(p.alpha) + s / 2).div_euclid(s)
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Tamper {
        /// Output the input unchanged (lets a negative value through).
        PassThrough,
        /// Output 0 regardless of the sign.
        Zero,
        /// Flip the sign bit and recompute `t` and `y` consistently.
        FlipSign,
        /// Output off by one.
        Output,
        /// Sign bit 2.
        NonBooleanSign,
        /// The input claims another value (`−x − 1`) when copied in.
        Copy,
    }

    fn tamper_parts(
        x: i128,
        t: Tamper,
        sgn: &mut Value<Fr>,
        tv: &mut Value<Fr>,
        y: &mut Value<Fr>,
    ) {
        match t {
            Tamper::PassThrough => *y = Value::known(fr(x)),
            Tamper::Zero => *y = Value::known(fr(0)),
            Tamper::FlipSign => {
                let s = if x >= 0 { 0 } else { 1 };
                *sgn = Value::known(fr(s));
                *tv = Value::known(fr(if s == 1 { x } else { -x - 1 }));
                *y = Value::known(fr(if s == 1 { x } else { 0 }));
            }
            Tamper::Output => *y = *y + Value::known(fr(1)),
            Tamper::NonBooleanSign => {
                *sgn = Value::known(fr(2));
                *tv = Value::known(fr(3 * x + 1));
                *y = Value::known(fr(2 * x));
            }
            Tamper::Copy => {}
        }
    }

    fn run_relu(
        xs: Vec<i128>,
        bits: u32,
        tamper: Option<(usize, Tamper)>,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<8, 1, 3>(11, move |config, region, rows| {
            let chip = config.relu_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &known(&xs))?;
            let mut ops = Vec::new();
            for (i, x) in vars.iter().enumerate() {
                let mut w = chip.relu_witness(x)?;
                let mut x = x.clone();
                if let Some((_, t)) = tamper.filter(|(at, _)| *at == i) {
                    tamper_parts(xs[i], t, &mut w.sgn, &mut w.t, &mut w.y);
                    if let Tamper::Copy = t {
                        x = x.with_value(Value::known(fr(-xs[i] - 1)));
                        w = chip.relu_witness(&x)?;
                    }
                }
                ops.push((x, w));
            }
            let ys = chip.assign_relu(region, rows, &ops, bits)?;
            out.push(&ys);
            Ok(())
        })
    }

    fn run_leaky(
        xs: Vec<i128>,
        params: LeakyParams,
        bits: u32,
        tamper: Option<(usize, Tamper)>,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<12, 1, 3>(11, move |config, region, rows| {
            let chip = config.relu_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &known(&xs))?;
            let mut ops = Vec::new();
            for (i, x) in vars.iter().enumerate() {
                let mut w = chip.leaky_witness(x, params)?;
                let mut x = x.clone();
                if let Some((_, t)) = tamper.filter(|(at, _)| *at == i) {
                    tamper_parts(xs[i], t, &mut w.sgn, &mut w.t, &mut w.y);
                    if let Tamper::FlipSign = t {
                        // Keep y consistent with the flipped sign.
                        w.y = if xs[i] >= 0 {
                            w.z
                        } else {
                            Value::known(fr(xs[i]))
                        };
                    }
                    if let Tamper::Copy = t {
                        x = x.with_value(Value::known(fr(-xs[i] - 1)));
                        w = chip.leaky_witness(&x, params)?;
                    }
                }
                ops.push((x, w));
            }
            let ys = chip.assign_leaky(region, rows, &ops, params, bits)?;
            out.push(&ys);
            Ok(())
        })
    }

    const TAMPERS: [Tamper; 6] = [
        Tamper::PassThrough,
        Tamper::Zero,
        Tamper::FlipSign,
        Tamper::Output,
        Tamper::NonBooleanSign,
        Tamper::Copy,
    ];

    #[test]
    fn honest_relu_passes() -> anyhow::Result<()> {
        for bits in [8u32, 16, 24] {
            let xs = edge_values(bits);
            let out = Recorder::default();
            verify_ok(run_relu(xs.clone(), bits, None, out.clone())?)?;
            let expected: Vec<_> = xs.iter().map(|x| Some(reference_relu(*x))).collect();
            assert_eq!(out.take(), expected);
        }
        Ok(())
    }

    #[test]
    fn tampered_relu_fails() -> anyhow::Result<()> {
        let xs = vec![-5, 7, -1, 0, 1, -32768, 32767];
        for tamper in TAMPERS {
            for at in 0..xs.len() {
                let x = xs[at];
                // Passing through a non-negative value or zeroing zero is honest.
                let harmless = matches!(
                    (tamper, x),
                    (Tamper::PassThrough, 0..) | (Tamper::Zero, i128::MIN..=0)
                );
                let result = run_relu(xs.clone(), 16, Some((at, tamper)), Recorder::default())?;
                assert_eq!(result.is_ok(), harmless, "{tamper:?} on {x}");
            }
        }
        Ok(())
    }

    #[test]
    fn relu_rejects_inputs_outside_the_activation_range() -> anyhow::Result<()> {
        for bad in [1i128 << 15, -(1i128 << 15) - 1] {
            assert!(run_relu(vec![bad], 16, None, Recorder::default())?.is_err());
        }
        Ok(())
    }

    #[test]
    fn honest_leaky_passes() -> anyhow::Result<()> {
        let params = LeakyParams {
            alpha: 13,
            shift: 7,
        };
        for bits in [8u32, 16] {
            let mut xs = edge_values(bits);
            // x = −64: x·α / 128 = −6.5 exactly, which rounds half up to −6.
            xs.extend([-64, -5, -10, -128, -3]);
            let out = Recorder::default();
            verify_ok(run_leaky(xs.clone(), params, bits, None, out.clone())?)?;
            let expected: Vec<_> = xs
                .iter()
                .map(|x| Some(reference_leaky(*x, params)))
                .collect();
            assert_eq!(out.take(), expected);
        }
        Ok(())
    }

    #[test]
    fn tampered_leaky_fails() -> anyhow::Result<()> {
        let params = LeakyParams { alpha: 1, shift: 1 };
        let xs = vec![-5, 7, -2, 0, 3, -32768, 32767];
        for tamper in TAMPERS {
            for at in 0..xs.len() {
                let x = xs[at];
                let honest_y = reference_leaky(x, params);
                let harmless = match tamper {
                    Tamper::PassThrough => x == honest_y,
                    Tamper::Zero => honest_y == 0,
                    _ => false,
                };
                let result = run_leaky(
                    xs.clone(),
                    params,
                    16,
                    Some((at, tamper)),
                    Recorder::default(),
                )?;
                assert_eq!(result.is_ok(), harmless, "{tamper:?} on {x}");
            }
        }
        // A lying quotient with a compensating remainder is caught by the remainder check.
        let result = mock::<12, 1, 3>(10, move |config, region, rows| {
            let chip = config.relu_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &known(&[-9]))?;
            let mut w = chip.leaky_witness(&vars[0], params)?;
            w.z = w.z - Value::known(fr(1));
            w.y = w.z;
            w.rem = w.rem + Value::known(fr(2));
            chip.assign_leaky(region, rows, &[(vars[0].clone(), w)], params, 16)?;
            Ok(())
        })?;
        assert!(result.is_err());
        Ok(())
    }

    #[test]
    fn invalid_constants_are_errors() -> anyhow::Result<()> {
        let result = mock::<12, 1, 3>(9, move |config, region, rows| {
            let chip = config.relu_chip::<Fr>();
            let vars = config.assign_inputs(region, rows, &known(&[1]))?;
            let bad_alpha =
                chip.leaky_relu(region, rows, &vars, LeakyParams { alpha: 0, shift: 1 }, 16);
            let bad_shift =
                chip.leaky_relu(region, rows, &vars, LeakyParams { alpha: 1, shift: 0 }, 16);
            let bad_bits = chip.relu(region, rows, &vars, 0);
            match (bad_alpha, bad_shift, bad_bits) {
                (
                    Err(CircuitError::InvalidConstant { name: "alpha", .. }),
                    Err(CircuitError::InvalidConstant { name: "shift", .. }),
                    Err(CircuitError::InvalidBitWidth { .. }),
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
        let mut rng = rng(5);
        let bits = 16u32;
        let half = 1i128 << (bits - 1);
        let xs: Vec<i128> = (0..300)
            .map(|i| match i % 12 {
                0 => -half,
                1 => half - 1,
                2 => 0,
                3 => -1,
                _ => rng.gen_range(-half..half),
            })
            .collect();
        let out = Recorder::default();
        verify_ok(run_relu(xs.clone(), bits, None, out.clone())?)?;
        let expected: Vec<_> = xs.iter().map(|x| Some(reference_relu(*x))).collect();
        assert_eq!(out.take(), expected);

        // LeakyReLU with slope 0.1 ≈ 13/128 and with slope 1/2.
        for params in [
            LeakyParams {
                alpha: 13,
                shift: 7,
            },
            LeakyParams { alpha: 1, shift: 1 },
        ] {
            let xs: Vec<i128> = xs.iter().take(150).copied().collect();
            let out = Recorder::default();
            verify_ok(run_leaky(xs.clone(), params, bits, None, out.clone())?)?;
            let expected: Vec<_> = xs
                .iter()
                .map(|x| Some(reference_leaky(*x, params)))
                .collect();
            assert_eq!(out.take(), expected);
        }
        Ok(())
    }
}
