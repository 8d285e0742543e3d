//! Test circuits for the verifier generator (the idea of prover/tests/common, extended to the
//! shapes a generic verifier must handle).
//!
//! [`RichCircuit`], per repetition `r` with public input `x` (instance column 1) and private
//! `y`, both in `[0, 16)`:
//!
//! ```text
//! row 0: a = x (copied from instance)  b = y   c = y²   d = x²·y + (r+1)·c
//!        gate "cubic"  q·(a·a·b + f·c - d)          (degree 4, fixed coefficient f = r+1)
//!        gate "next"   q·(a[+1] - (a + b·c))        (rotation +1)
//!        lookups: a ∈ [0,16); (b, c) ∈ {(v, v²)}      (two-column lookup, theta compression)
//! row 1: a = x + y³   b = 7 (from the constants column)   c = d[row 0] (copy)
//!        d = a + b·c + a[-1]                          (gate "prev", rotation -1)
//!        d → instance column 0, row r
//! ```
//!
//! Four advice, two fixed (one of them the constants column), two instance columns, degree-4
//! gates, rotations -1/0/+1, two lookups (one multi-column), copy constraints.
//!
//! [`WideCircuit`]: `width` advice columns, all equality-enabled, `lookups` lookups, one
//! degree-4 gate per column triple — a synthetic shape for contract-size limits.

#![allow(dead_code)]

pub mod hashed;

use zkgrid_prover::halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_prover::halo2_proofs::plonk::{
    Advice, Circuit, Column, ConstraintSystem, Error, Fixed, Instance, Selector, TableColumn,
};
use zkgrid_prover::halo2_proofs::poly::Rotation;

/// Values of the range table: `0..RANGE`.
pub const RANGE: u64 = 16;

/// Ways the witness of [`RichCircuit`] can lie (always in repetition 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tamper {
    /// Honest witness.
    #[default]
    None,
    /// `d = … + 1` in row 0 (and later rows follow it).
    WrongCubic,
    /// `c = y² + 1` (the gates follow it; only the two-column lookup catches it).
    WrongSquare,
    /// Row 1's `c` is not the copy of row 0's `d`.
    BrokenCopy,
}

/// Column configuration of [`RichCircuit`].
#[derive(Clone, Debug)]
pub struct RichConfig {
    advice: [Column<Advice>; 4],
    coef: Column<Fixed>,
    output: Column<Instance>,
    input: Column<Instance>,
    q_cubic: Selector,
    q_next: Selector,
    q_prev: Selector,
    q_range: Selector,
    q_square: Selector,
    range: TableColumn,
    square_in: TableColumn,
    square_out: TableColumn,
}

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub struct RichCircuit {
    /// Private `y` per repetition (`x` comes from the instance).
    pub ys: Vec<Value<Fr>>,
    /// Public inputs `x`, needed to compute the witness.
    pub xs: Vec<Value<Fr>>,
    /// Witness tampering.
    pub tamper: Tamper,
}

fn rich_inputs(r: usize) -> (u64, u64) {
    let r = r as u64;
    ((r * 5 + 1) % RANGE, (r * 7 + 3) % RANGE)
}

/// The public output of repetition `r` for inputs `x`, `y`.
fn rich_output(r: usize, x: u64, y: u64) -> u64 {
    let d0 = x * x * y + (r as u64 + 1) * y * y;
    let a1 = x + y * y * y;
    a1 + 7 * d0 + x
}

impl RichCircuit {
    /// Honest circuit with `reps` repetitions.
    pub fn new(reps: usize) -> Self {
        let (xs, ys) = (0..reps)
            .map(|r| {
                let (x, y) = rich_inputs(r);
                (Value::known(Fr::from(x)), Value::known(Fr::from(y)))
            })
            .unzip();
        Self {
            ys,
            xs,
            tamper: Tamper::None,
        }
    }

    /// Tampered witness.
    pub fn tampered(reps: usize, tamper: Tamper) -> Self {
        Self {
            tamper,
            ..Self::new(reps)
        }
    }

    /// Instance columns: outputs, inputs.
    pub fn instances(reps: usize) -> Vec<Vec<Fr>> {
        let (outputs, inputs) = (0..reps)
            .map(|r| {
                let (x, y) = rich_inputs(r);
                (Fr::from(rich_output(r, x, y)), Fr::from(x))
            })
            .unzip();
        vec![outputs, inputs]
    }
}

impl Circuit<Fr> for RichCircuit {
    type Config = RichConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Self {
            ys: vec![Value::unknown(); self.ys.len()],
            xs: vec![Value::unknown(); self.xs.len()],
            tamper: Tamper::None,
        }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> RichConfig {
        let advice = [(); 4].map(|_| meta.advice_column());
        for column in advice {
            meta.enable_equality(column);
        }
        let coef = meta.fixed_column();
        let constants = meta.fixed_column();
        meta.enable_constant(constants);
        let output = meta.instance_column();
        let input = meta.instance_column();
        meta.enable_equality(output);
        meta.enable_equality(input);
        let [q_cubic, q_next, q_prev] = [(); 3].map(|_| meta.selector());
        let q_range = meta.complex_selector();
        let q_square = meta.complex_selector();
        let range = meta.lookup_table_column();
        let square_in = meta.lookup_table_column();
        let square_out = meta.lookup_table_column();
        let [a, b, c, d] = advice;

        meta.create_gate("cubic", |m| {
            let q = m.query_selector(q_cubic);
            let [a, b, c, d] = [a, b, c, d].map(|col| m.query_advice(col, Rotation::cur()));
            let f = m.query_fixed(coef, Rotation::cur());
            vec![q * (a.clone() * a * b + f * c - d)]
        });
        meta.create_gate("next", |m| {
            let q = m.query_selector(q_next);
            let a_next = m.query_advice(a, Rotation::next());
            let [a, b, c] = [a, b, c].map(|col| m.query_advice(col, Rotation::cur()));
            vec![q * (a_next - (a + b * c))]
        });
        meta.create_gate("prev", |m| {
            let q = m.query_selector(q_prev);
            let a_prev = m.query_advice(a, Rotation::prev());
            let [a, b, c, d] = [a, b, c, d].map(|col| m.query_advice(col, Rotation::cur()));
            vec![q * (d - (a + b * c) - a_prev)]
        });
        meta.lookup("range", |m| {
            let q = m.query_selector(q_range);
            let a = m.query_advice(a, Rotation::cur());
            vec![(q * a, range)]
        });
        meta.lookup("square", |m| {
            let q = m.query_selector(q_square);
            let b = m.query_advice(b, Rotation::cur());
            let c = m.query_advice(c, Rotation::cur());
            vec![(q.clone() * b, square_in), (q * c, square_out)]
        });
        RichConfig {
            advice,
            coef,
            output,
            input,
            q_cubic,
            q_next,
            q_prev,
            q_range,
            q_square,
            range,
            square_in,
            square_out,
        }
    }

    fn synthesize(&self, config: RichConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "tables",
            |mut table| {
                for v in 0..RANGE {
                    let row = v as usize;
                    table.assign_cell(
                        || "range",
                        config.range,
                        row,
                        || Value::known(Fr::from(v)),
                    )?;
                    table.assign_cell(
                        || "square in",
                        config.square_in,
                        row,
                        || Value::known(Fr::from(v)),
                    )?;
                    table.assign_cell(
                        || "square out",
                        config.square_out,
                        row,
                        || Value::known(Fr::from(v * v)),
                    )?;
                }
                Ok(())
            },
        )?;
        let [a, b, c, d] = config.advice;
        let tamper = self.tamper;
        let outputs = layouter.assign_region(
            || "reps",
            |mut region| {
                let mut outputs = Vec::with_capacity(self.ys.len());
                for (r, (&x, &y)) in self.xs.iter().zip(&self.ys).enumerate() {
                    let row = 2 * r;
                    let lie = |v: Value<Fr>, on: Tamper| {
                        if r == 0 && tamper == on {
                            v.map(|v| v + Fr::one())
                        } else {
                            v
                        }
                    };
                    config.q_cubic.enable(&mut region, row)?;
                    config.q_next.enable(&mut region, row)?;
                    config.q_range.enable(&mut region, row)?;
                    config.q_square.enable(&mut region, row)?;
                    let coef = Fr::from(r as u64 + 1);
                    region.assign_fixed(config.coef, row, coef);
                    let a0 = region.assign_advice_from_instance(|| "x", config.input, r, a, row)?;
                    let _ = a0;
                    region.assign_advice(b, row, y);
                    let c0 = lie(y * y, Tamper::WrongSquare);
                    region.assign_advice(c, row, c0);
                    let d0 = lie(x * x * y + Value::known(coef) * c0, Tamper::WrongCubic);
                    let d0_cell = region.assign_advice(d, row, d0).cell();

                    config.q_prev.enable(&mut region, row + 1)?;
                    let a1 = x + y * c0;
                    region.assign_advice(a, row + 1, a1);
                    let seven = region.assign_advice_from_constant(
                        || "seven",
                        b,
                        row + 1,
                        Fr::from(7u64),
                    )?;
                    let _ = seven;
                    let c1 = lie(d0, Tamper::BrokenCopy);
                    let c1_cell = region.assign_advice(c, row + 1, c1).cell();
                    region.constrain_equal(c1_cell, d0_cell);
                    let d1 = a1 + Value::known(Fr::from(7u64)) * c1 + x;
                    outputs.push(region.assign_advice(d, row + 1, d1).cell());
                }
                Ok(outputs)
            },
        )?;
        for (r, cell) in outputs.into_iter().enumerate() {
            layouter.constrain_instance(cell, config.output, r);
        }
        Ok(())
    }
}

/// Column configuration of [`WideCircuit`].
#[derive(Clone, Debug)]
pub struct WideConfig {
    advice: Vec<Column<Advice>>,
    instance: Column<Instance>,
    q_gate: Selector,
    q_lookup: Selector,
    table: TableColumn,
}

/// Shape of [`WideCircuit`] (halo2 circuit params: they change the constraint system).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WideParams {
    /// Advice columns (at least 4).
    pub width: usize,
    /// Lookup arguments (at most `width`).
    pub lookups: usize,
}

impl Default for WideParams {
    fn default() -> Self {
        Self {
            width: 4,
            lookups: 1,
        }
    }
}

/// See the module docs: one active row where every advice cell is 1, constraints
/// `q·(a_i·a_{i+1}·a_{i+2} - a_{i+3}) = 0`, lookups `q·a_i ∈ [0, 16)`, `a_0 → instance`.
#[derive(Clone, Debug, Default)]
pub struct WideCircuit {
    /// Shape.
    pub params: WideParams,
    /// Whether the witness is known.
    pub known: bool,
}

impl WideCircuit {
    /// Honest circuit of the given shape.
    pub fn new(width: usize, lookups: usize) -> Self {
        Self {
            params: WideParams { width, lookups },
            known: true,
        }
    }

    /// Its single public instance.
    pub fn instances() -> Vec<Vec<Fr>> {
        vec![vec![Fr::one()]]
    }
}

impl Circuit<Fr> for WideCircuit {
    type Config = WideConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = WideParams;

    fn without_witnesses(&self) -> Self {
        Self {
            params: self.params,
            known: false,
        }
    }

    fn params(&self) -> WideParams {
        self.params
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> WideConfig {
        Self::configure_with_params(meta, WideParams::default())
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: WideParams) -> WideConfig {
        let advice: Vec<Column<Advice>> = (0..params.width).map(|_| meta.advice_column()).collect();
        for &column in &advice {
            meta.enable_equality(column);
        }
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let q_gate = meta.selector();
        let q_lookup = meta.complex_selector();
        let table = meta.lookup_table_column();
        let cols = advice.clone();
        meta.create_gate("wide", |m| {
            let q = m.query_selector(q_gate);
            let cells: Vec<_> = cols
                .iter()
                .map(|&c| m.query_advice(c, Rotation::cur()))
                .collect();
            (0..cells.len() - 3)
                .map(|i| {
                    q.clone()
                        * (cells[i].clone() * cells[i + 1].clone() * cells[i + 2].clone()
                            - cells[i + 3].clone())
                })
                .collect::<Vec<_>>()
        });
        for &column in advice.iter().take(params.lookups) {
            meta.lookup("range", |m| {
                let q = m.query_selector(q_lookup);
                vec![(q * m.query_advice(column, Rotation::cur()), table)]
            });
        }
        WideConfig {
            advice,
            instance,
            q_gate,
            q_lookup,
            table,
        }
    }

    fn synthesize(&self, config: WideConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "range",
            |mut table| {
                for v in 0..RANGE {
                    table.assign_cell(
                        || "range",
                        config.table,
                        v as usize,
                        || Value::known(Fr::from(v)),
                    )?;
                }
                Ok(())
            },
        )?;
        let value = if self.known {
            Value::known(Fr::one())
        } else {
            Value::unknown()
        };
        let first = layouter.assign_region(
            || "row",
            |mut region| {
                config.q_gate.enable(&mut region, 0)?;
                config.q_lookup.enable(&mut region, 0)?;
                let mut first = None;
                for &column in &config.advice {
                    let cell = region.assign_advice(column, 0, value).cell();
                    first.get_or_insert(cell);
                }
                first.ok_or(Error::Synthesis)
            },
        )?;
        layouter.constrain_instance(first, config.instance, 0);
        Ok(())
    }
}

/// snark-verifier's circuit extension (for generating the reference verifier in tests).
impl snark_verifier_sdk::CircuitExt<Fr> for RichCircuit {
    fn num_instance(&self) -> Vec<usize> {
        vec![self.xs.len(), self.xs.len()]
    }

    fn instances(&self) -> Vec<Vec<Fr>> {
        RichCircuit::instances(self.xs.len())
    }
}

impl snark_verifier_sdk::CircuitExt<Fr> for WideCircuit {
    fn num_instance(&self) -> Vec<usize> {
        vec![1]
    }

    fn instances(&self) -> Vec<Vec<Fr>> {
        WideCircuit::instances()
    }
}

/// Column configuration of [`PhaseCircuit`].
#[derive(Clone, Debug)]
pub struct PhaseConfig {
    a: Column<Advice>,
    b: Column<Advice>,
    instance: Column<Instance>,
    q: Selector,
    challenge: zkgrid_prover::halo2_proofs::plonk::Challenge,
}

/// A two-phase circuit: `a` (first phase, copied to the instance) and `b = a · c` (second
/// phase) for a challenge `c` squeezed after the first phase — the transcript shape of
/// challenge-based arguments (e.g. RLC lookups).
#[derive(Clone, Debug, Default)]
pub struct PhaseCircuit {
    /// First-phase values (public).
    pub values: Vec<Value<Fr>>,
    /// Assign `b = a·c + 1` in row 0.
    pub tamper: bool,
}

impl PhaseCircuit {
    /// Honest circuit over `1..=n`.
    pub fn new(n: u64) -> Self {
        Self {
            values: (1..=n).map(|v| Value::known(Fr::from(v))).collect(),
            tamper: false,
        }
    }

    /// Its instance column.
    pub fn instances(n: u64) -> Vec<Vec<Fr>> {
        vec![(1..=n).map(Fr::from).collect()]
    }
}

impl Circuit<Fr> for PhaseCircuit {
    type Config = PhaseConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Self {
            values: vec![Value::unknown(); self.values.len()],
            tamper: false,
        }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> PhaseConfig {
        use zkgrid_prover::halo2_proofs::plonk::{FirstPhase, SecondPhase};
        let a = meta.advice_column_in(FirstPhase);
        let challenge = meta.challenge_usable_after(FirstPhase);
        let b = meta.advice_column_in(SecondPhase);
        let instance = meta.instance_column();
        meta.enable_equality(a);
        meta.enable_equality(instance);
        let q = meta.selector();
        meta.create_gate("b = a * challenge", |m| {
            let q = m.query_selector(q);
            let a = m.query_advice(a, Rotation::cur());
            let b = m.query_advice(b, Rotation::cur());
            let c = m.query_challenge(challenge);
            vec![q * (b - a * c)]
        });
        PhaseConfig {
            a,
            b,
            instance,
            q,
            challenge,
        }
    }

    fn synthesize(
        &self,
        config: PhaseConfig,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        let tamper = self.tamper;
        let cells = layouter.assign_region(
            || "phases",
            |mut region| {
                let mut cells = Vec::with_capacity(self.values.len());
                for (row, &v) in self.values.iter().enumerate() {
                    config.q.enable(&mut region, row)?;
                    cells.push(region.assign_advice(config.a, row, v).cell());
                }
                region.next_phase();
                let c = region.get_challenge(config.challenge);
                for (row, &v) in self.values.iter().enumerate() {
                    let b = v * c;
                    let b = if tamper && row == 0 {
                        b.map(|b| b + Fr::one())
                    } else {
                        b
                    };
                    region.assign_advice(config.b, row, b);
                }
                Ok(cells)
            },
        )?;
        for (row, cell) in cells.into_iter().enumerate() {
            layouter.constrain_instance(cell, config.instance, row);
        }
        Ok(())
    }
}

impl snark_verifier_sdk::CircuitExt<Fr> for PhaseCircuit {
    fn num_instance(&self) -> Vec<usize> {
        vec![self.values.len()]
    }

    fn instances(&self) -> Vec<Vec<Fr>> {
        PhaseCircuit::instances(self.values.len() as u64)
    }
}
