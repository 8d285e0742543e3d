//! Max and argmax of a window: `y = max(x_0 … x_{n−1})`, `idx` = the smallest `i` with
//! `x_i = y`.
//!
//! # Layout
//! A window of `n` inputs takes `⌈n / N⌉` consecutive rows, `N = ⌊(W − 3) / 3⌋` positions per
//! row. Lanes: `0` holds `y`, `1` the running count `E` of selected positions, `2` the running
//! index sum `I`; position `p` uses lanes `3+3p … 5+3p` for `x_p` (copied in), the selection bit
//! `e_p` and the slack `d_p`. Fixed columns: `p` holds the mask `a_p` (1 for positions that hold
//! an input), `N` the index of the row's first position, `N+1` / `N+2` flag the window's
//! first / last row.
//!
//! # Constraints (on rows where `q_max` is on; `E_in = (1 − first)·E_prev`, likewise `I_in`)
//! * per position: `e_p ∈ {0, 1}`, `(1 − a_p)·e_p = 0`, `e_p·(y − x_p) = 0`,
//!   `d_p = y − x_p − 1 + E_in + Σ_{j≤p} e_j`
//! * `E = E_in + Σ_p e_p`, `I = I_in + Σ_p (base + p)·e_p`
//! * `(1 − first)·(y − y_prev) = 0` (same `y` on every row), `last·(E − 1) = 0`
//! * range check `d_p ∈ [0, 2^b)` for every position holding an input.
//!
//! So exactly one input `k` is selected and `y = x_k`. For `i ≥ k` the slack is `y − x_i ≥ 0`;
//! for `i < k` it is `y − x_i − 1 ≥ 0`, i.e. `x_i < y`. Hence `y` is the maximum and `k = I` is
//! its first occurrence.
//!
//! # Assumptions
//! Inputs are `b`-bit activations (range-checked where produced), so `y − x_i` is in
//! `(−2^b, 2^b)` and the slack range check decides its sign.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::chips::range::{RangeChip, RangeConfig, RangeSpec};
use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::{fe_from_i128, fe_from_u64, Field};
use crate::layout::{assign, copy, fix, rows_for, take, AssignedVar, RowAllocator};

/// Columns and selector of the max chip.
#[derive(Clone, Debug)]
pub struct MaxConfig {
    /// Enables the max gate.
    pub q_max: Selector,
    /// The lane holding `y`.
    pub y: Column<Advice>,
    /// The lane holding the running selection count `E`.
    pub count: Column<Advice>,
    /// The lane holding the running index sum `I`.
    pub index: Column<Advice>,
    /// Per position: lanes for `x`, `e`, `d`.
    pub positions: Vec<[Column<Advice>; 3]>,
    /// Per position: the mask column.
    pub masks: Vec<Column<Fixed>>,
    /// Index of the row's first position.
    pub base: Column<Fixed>,
    /// 1 on a window's first row.
    pub first: Column<Fixed>,
    /// 1 on a window's last row.
    pub last: Column<Fixed>,
    /// The range chip.
    pub range: RangeConfig,
}

impl MaxConfig {
    /// Adds the max gate.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        range: &RangeConfig,
    ) -> Result<Self, CircuitError> {
        let n_pos = pool.lanes.len().saturating_sub(3) / 3;
        if n_pos == 0 {
            return Err(CircuitError::InvalidParams {
                parameter: "lanes",
                value: pool.lanes.len(),
                expected: "at least 6 lanes for the max chip",
            });
        }
        let head = take(&pool.lanes, 0, 3, "lanes")?;
        let mut positions = Vec::with_capacity(n_pos);
        for p in 0..n_pos {
            let l = take(&pool.lanes, 3 + 3 * p, 3, "lanes")?;
            positions.push([l[0], l[1], l[2]]);
        }
        let fixed = take(&pool.fixed, 0, n_pos + 3, "fixed columns")?;
        let config = Self {
            q_max: meta.selector(),
            y: head[0],
            count: head[1],
            index: head[2],
            positions,
            masks: fixed[..n_pos].to_vec(),
            base: fixed[n_pos],
            first: fixed[n_pos + 1],
            last: fixed[n_pos + 2],
            range: range.clone(),
        };
        meta.create_gate("max / argmax", |meta| {
            let q = meta.query_selector(config.q_max);
            let one = Expression::Constant(F::ONE);
            let cur = Rotation::cur();
            let y = meta.query_advice(config.y, cur);
            let y_prev = meta.query_advice(config.y, Rotation::prev());
            let count = meta.query_advice(config.count, cur);
            let count_prev = meta.query_advice(config.count, Rotation::prev());
            let index = meta.query_advice(config.index, cur);
            let index_prev = meta.query_advice(config.index, Rotation::prev());
            let base = meta.query_fixed(config.base, cur);
            let first = meta.query_fixed(config.first, cur);
            let last = meta.query_fixed(config.last, cur);
            let not_first = one.clone() - first;
            let count_in = not_first.clone() * count_prev;
            let index_in = not_first.clone() * index_prev;

            let mut constraints = Vec::new();
            let mut prefix = count_in.clone();
            let mut index_sum = index_in;
            for (p, (lanes, mask)) in config.positions.iter().zip(&config.masks).enumerate() {
                let [x, e, d] = lanes.map(|c| meta.query_advice(c, cur));
                let mask = meta.query_fixed(*mask, cur);
                prefix = prefix + e.clone();
                let offset = Expression::Constant(fe_from_u64::<F>(p as u64));
                index_sum = index_sum + (base.clone() + offset) * e.clone();
                constraints.push(e.clone() * (one.clone() - e.clone()));
                constraints.push((one.clone() - mask) * e.clone());
                constraints.push(e * (y.clone() - x.clone()));
                constraints.push(d - (y.clone() - x - one.clone() + prefix.clone()));
            }
            constraints.push(count.clone() - prefix);
            constraints.push(index - index_sum);
            constraints.push(not_first * (y - y_prev));
            constraints.push(last * (count - one));
            constraints
                .into_iter()
                .map(|c| q.clone() * c)
                .collect::<Vec<_>>()
        });
        Ok(config)
    }
}

/// Witness of one window.
#[derive(Clone, Debug)]
pub struct MaxWitness<F: Field> {
    /// The maximum.
    pub y: Value<F>,
    /// Selection bits, one per input.
    pub selected: Vec<Value<F>>,
    /// Slack of every position of every row of the window (`rows × N`).
    pub slack: Vec<Value<F>>,
    /// Running `(E, I)` after each row.
    pub running: Vec<(Value<F>, Value<F>)>,
}

/// Outputs of one window.
#[derive(Clone, Debug)]
pub struct MaxOutput<F: Field> {
    /// The maximum.
    pub max: AssignedVar<F>,
    /// The index of its first occurrence.
    pub argmax: AssignedVar<F>,
}

/// Max and argmax over windows.
#[derive(Clone, Debug)]
pub struct MaxChip<F: Field> {
    config: MaxConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for MaxChip<F> {
    type Config = MaxConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

impl<F: Field> MaxChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: MaxConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// Inputs per row.
    pub fn positions_per_row(&self) -> usize {
        self.config.positions.len()
    }

    /// Rows one window of `n` inputs takes.
    pub fn rows_per_window(&self, n: usize) -> usize {
        rows_for(n, self.positions_per_row())
    }

    /// The honest witness: the maximum, its first occurrence and the derived cells.
    pub fn max_witness(&self, xs: &[AssignedVar<F>]) -> Result<MaxWitness<F>, CircuitError> {
        if xs.is_empty() {
            return Err(CircuitError::EmptyInput { op: "max" });
        }
        let n_pos = self.positions_per_row();
        let n_rows = self.rows_per_window(xs.len());
        let ints = xs
            .iter()
            .map(|x| x.value_i128("max"))
            .collect::<Result<Option<Vec<i128>>, _>>()?;
        let Some(values) = ints else {
            return Ok(MaxWitness {
                y: Value::unknown(),
                selected: vec![Value::unknown(); xs.len()],
                slack: vec![Value::unknown(); n_rows * n_pos],
                running: vec![(Value::unknown(), Value::unknown()); n_rows],
            });
        };
        let head = values
            .first()
            .copied()
            .ok_or(CircuitError::EmptyInput { op: "max" })?;
        // First index of the maximum.
        let (k, y) = values
            .iter()
            .enumerate()
            .fold(
                (0usize, head),
                |(bk, by), (i, v)| {
                    if *v > by {
                        (i, *v)
                    } else {
                        (bk, by)
                    }
                },
            );
        let mut slack = Vec::with_capacity(n_rows * n_pos);
        let mut running = Vec::with_capacity(n_rows);
        let (mut count, mut index) = (0i128, 0i128);
        for r in 0..n_rows {
            for p in 0..n_pos {
                let g = r * n_pos + p;
                if g == k {
                    count += 1;
                    index += g as i128;
                }
                let x = values.get(g).copied().unwrap_or(0);
                slack.push(Value::known(fe_from_i128(y - x - 1 + count)));
            }
            running.push((
                Value::known(fe_from_i128(count)),
                Value::known(fe_from_i128(index)),
            ));
        }
        let selected = (0..xs.len())
            .map(|i| Value::known(if i == k { F::ONE } else { F::ZERO }))
            .collect();
        Ok(MaxWitness {
            y: Value::known(fe_from_i128(y)),
            selected,
            slack,
            running,
        })
    }

    /// Lays out windows with the given witnesses and range-checks the slacks to `bits` bits.
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        windows: &[(Vec<AssignedVar<F>>, MaxWitness<F>)],
        bits: u32,
    ) -> Result<Vec<MaxOutput<F>>, CircuitError> {
        let spec = RangeSpec::unsigned(bits)?;
        let n_pos = self.positions_per_row();
        let c = &self.config;
        let mut outputs = Vec::with_capacity(windows.len());
        let mut checks = Vec::new();
        for (xs, w) in windows {
            if xs.is_empty() {
                return Err(CircuitError::EmptyInput { op: "max" });
            }
            let n_rows = self.rows_per_window(xs.len());
            for (what, expected, got) in [
                ("max selection bits", xs.len(), w.selected.len()),
                ("max slacks", n_rows * n_pos, w.slack.len()),
                ("max running sums", n_rows, w.running.len()),
            ] {
                if expected != got {
                    return Err(CircuitError::LengthMismatch {
                        what,
                        expected,
                        got,
                    });
                }
            }
            let start = rows.alloc(n_rows)?;
            let mut max = None;
            let mut argmax = None;
            for (r, (count, index)) in w.running.iter().enumerate() {
                let row = start + r;
                c.q_max.enable(region, row)?;
                fix(region, c.base, row, fe_from_u64((r * n_pos) as u64));
                if r == 0 {
                    fix(region, c.first, row, F::ONE);
                }
                if r + 1 == n_rows {
                    fix(region, c.last, row, F::ONE);
                }
                let y = assign(region, c.y, row, w.y);
                if max.is_none() {
                    max = Some(y);
                }
                assign(region, c.count, row, *count);
                argmax = Some(assign(region, c.index, row, *index));
                for (p, ([x_col, e_col, d_col], mask)) in
                    c.positions.iter().zip(&c.masks).enumerate()
                {
                    let g = r * n_pos + p;
                    let d = assign(region, *d_col, row, w.slack[g]);
                    if let (Some(x), Some(e)) = (xs.get(g), w.selected.get(g)) {
                        fix(region, *mask, row, F::ONE);
                        copy(region, x, *x_col, row);
                        assign(region, *e_col, row, *e);
                        checks.push((d, spec));
                    }
                }
            }
            match (max, argmax) {
                (Some(max), Some(argmax)) => outputs.push(MaxOutput { max, argmax }),
                _ => return Err(CircuitError::EmptyInput { op: "max" }),
            }
        }
        RangeChip::<F>::construct(c.range.clone()).check(region, rows, &checks)?;
        tracing::debug!(windows = windows.len(), "max laid out");
        Ok(outputs)
    }

    /// Max and argmax of every window; inputs are `bits`-bit activations.
    pub fn max_windows(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        windows: &[Vec<AssignedVar<F>>],
        bits: u32,
    ) -> Result<Vec<MaxOutput<F>>, CircuitError> {
        let with_witness = windows
            .iter()
            .map(|xs| Ok((xs.clone(), self.max_witness(xs)?)))
            .collect::<Result<Vec<_>, CircuitError>>()?;
        self.assign(region, rows, &with_witness, bits)
    }

    /// Max and argmax of one window; inputs are `bits`-bit activations.
    pub fn max(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        xs: &[AssignedVar<F>],
        bits: u32,
    ) -> Result<MaxOutput<F>, CircuitError> {
        self.max_windows(region, rows, &[xs.to_vec()], bits)?
            .pop()
            .ok_or(CircuitError::EmptyInput { op: "max" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{fr, known, mock, rng, verify_ok, Recorder};
    use halo2_proofs::halo2curves::bn256::Fr;
    use rand::Rng as _;

    /// Reference: the maximum and the first index holding it.
    fn reference(xs: &[i128]) -> (i128, i128) {
        let mut best = (xs[0], 0i128);
        for (i, x) in xs.iter().enumerate() {
            if *x > best.0 {
                best = (*x, i as i128);
            }
        }
        best
    }

    #[derive(Clone, Copy, Debug)]
    enum Tamper {
        /// Select another (smaller or later tied) position and claim its value as the max.
        Select(usize),
        /// Claim a maximum one above the true one.
        MaxPlusOne,
        /// Report another argmax index in the output cell.
        Index(i128),
        /// Select two positions.
        Double(usize),
        /// Select nothing.
        Nothing,
        /// An input claims another value when copied in.
        Copy(usize),
    }

    /// `(E, I)` after a row.
    type Running = (Value<Fr>, Value<Fr>);

    /// Rebuilds the derived cells for a given selection (so that only the tampered aspect
    /// lies), using `y` as the claimed maximum.
    fn derived(n_pos: usize, xs: &[i128], y: i128, sel: &[i128]) -> (Vec<Value<Fr>>, Vec<Running>) {
        let n_rows = xs.len().div_ceil(n_pos);
        let (mut count, mut index) = (0i128, 0i128);
        let mut slack = Vec::new();
        let mut running = Vec::new();
        for r in 0..n_rows {
            for p in 0..n_pos {
                let g = r * n_pos + p;
                let e = sel.get(g).copied().unwrap_or(0);
                count += e;
                index += e * g as i128;
                slack.push(Value::known(fr(
                    y - xs.get(g).copied().unwrap_or(0) - 1 + count
                )));
            }
            running.push((Value::known(fr(count)), Value::known(fr(index))));
        }
        (slack, running)
    }

    fn run(
        windows: Vec<Vec<i128>>,
        bits: u32,
        tamper: Option<Tamper>,
        out: Recorder,
    ) -> anyhow::Result<Result<(), String>> {
        mock::<12, 1, 3>(10, move |config, region, rows| {
            let chip = config.max_chip::<Fr>()?;
            let n_pos = chip.positions_per_row();
            let mut laid = Vec::new();
            for xs in &windows {
                let mut vars = config.assign_inputs(region, rows, &known(xs))?;
                let mut w = chip.max_witness(&vars)?;
                let (y, k) = reference(xs);
                let k = k as usize;
                let select = |i: usize, extra: Option<usize>| {
                    let mut sel = vec![0i128; xs.len()];
                    sel[i] = 1;
                    if let Some(j) = extra {
                        sel[j] = 1;
                    }
                    sel
                };
                match tamper {
                    Some(Tamper::Select(i)) => {
                        let sel = select(i, None);
                        let (slack, running) = derived(n_pos, xs, xs[i], &sel);
                        w = MaxWitness {
                            y: Value::known(fr(xs[i])),
                            selected: known(&sel),
                            slack,
                            running,
                        };
                    }
                    Some(Tamper::MaxPlusOne) => {
                        let sel = select(k, None);
                        let (slack, running) = derived(n_pos, xs, y + 1, &sel);
                        w = MaxWitness {
                            y: Value::known(fr(y + 1)),
                            selected: known(&sel),
                            slack,
                            running,
                        };
                    }
                    Some(Tamper::Index(idx)) => {
                        if let Some(last) = w.running.last_mut() {
                            last.1 = Value::known(fr(idx));
                        }
                    }
                    Some(Tamper::Double(j)) => {
                        let sel = select(k, Some(j));
                        let (slack, running) = derived(n_pos, xs, y, &sel);
                        w.selected = known(&sel);
                        w.slack = slack;
                        w.running = running;
                    }
                    Some(Tamper::Nothing) => {
                        let sel = vec![0i128; xs.len()];
                        let (slack, running) = derived(n_pos, xs, y, &sel);
                        w.selected = known(&sel);
                        w.slack = slack;
                        w.running = running;
                    }
                    Some(Tamper::Copy(i)) => {
                        // Claim input i is larger than the maximum and select it.
                        vars[i] = vars[i].with_value(Value::known(fr(y + 1)));
                        w = chip.max_witness(&vars)?;
                    }
                    None => {}
                }
                laid.push((vars, w));
            }
            let outs = chip.assign(region, rows, &laid, bits)?;
            for o in outs {
                out.push(&[o.max, o.argmax]);
            }
            Ok(())
        })
    }

    fn expected(windows: &[Vec<i128>]) -> Vec<Option<i128>> {
        windows
            .iter()
            .flat_map(|xs| {
                let (y, k) = reference(xs);
                [Some(y), Some(k)]
            })
            .collect()
    }

    #[test]
    fn honest_max_passes() -> anyhow::Result<()> {
        let half = 1i128 << 15;
        // W = 12 gives 3 positions per row: windows of 1, 3 (one row) and 4, 10 (several rows).
        let windows = vec![
            vec![5],
            vec![-half, -half, -half],
            vec![half - 1, -half, half - 1, 0],
            vec![3, 9, -2, 9, 9, 0, -7, 8, 9, 1],
            vec![-4, -3, -3, -9],
            vec![0, 0, 0, 0, 0, 0, 0],
        ];
        let out = Recorder::default();
        verify_ok(run(windows.clone(), 16, None, out.clone())?)?;
        assert_eq!(out.take(), expected(&windows));
        Ok(())
    }

    #[test]
    fn tampered_max_fails() -> anyhow::Result<()> {
        // Max 9 first at index 1, ties at 3, 4 and 8.
        let xs = vec![3, 9, -2, 9, 9, 0, -7, 8, 9, 1];
        let cases = [
            Tamper::Select(0),  // a smaller value as the max
            Tamper::Select(7),  // 8 < 9 on a later row
            Tamper::Select(3),  // a later tie: wrong argmax index
            Tamper::Select(8),  // a later tie on another row
            Tamper::MaxPlusOne, // a max no input has
            Tamper::Index(3),   // lie in the index output only
            Tamper::Index(0),
            Tamper::Double(3), // two selected positions
            Tamper::Nothing,   // none selected
            Tamper::Copy(6),   // an input lies about its value
        ];
        for tamper in cases {
            let result = run(vec![xs.clone()], 16, Some(tamper), Recorder::default())?;
            assert!(result.is_err(), "{tamper:?} accepted");
        }
        Ok(())
    }

    #[test]
    fn randomized_matches_reference() -> anyhow::Result<()> {
        let mut rng = rng(13);
        let half = 1i128 << 15;
        let windows: Vec<Vec<i128>> = (0..60)
            .map(|i| {
                let n = rng.gen_range(1..=12usize);
                (0..n)
                    .map(|j| match (i + j) % 9 {
                        0 => -half,
                        1 => half - 1,
                        // A small alphabet produces many ties.
                        2 | 3 => rng.gen_range(-2..=2),
                        _ => rng.gen_range(-half..half),
                    })
                    .collect()
            })
            .collect();
        let out = Recorder::default();
        verify_ok(run(windows.clone(), 16, None, out.clone())?)?;
        assert_eq!(out.take(), expected(&windows));
        Ok(())
    }

    #[test]
    fn empty_window_is_an_error() -> anyhow::Result<()> {
        let result = mock::<12, 1, 3>(9, move |config, region, rows| {
            let chip = config.max_chip::<Fr>()?;
            match chip.max(region, rows, &[], 16) {
                Err(CircuitError::EmptyInput { .. }) => Ok(()),
                _ => Err(CircuitError::LengthMismatch {
                    what: "expected error",
                    expected: 0,
                    got: 0,
                }),
            }
        })?;
        verify_ok(result)
    }
}
