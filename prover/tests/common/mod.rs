//! A small test circuit shared by the integration tests.
//!
//! Per repetition `r` with private inputs `x, y ∈ [0, 16)`:
//!
//! ```text
//! row 0:  a = x   b = y        c = x·y        q_mul, q_range(a)
//! row 1:  a = y'  b = p'       c = y' + p'    q_add, q_range(a)
//! copies: y' = row0.b, p' = row0.c, row1.c = instance[r]
//! ```
//!
//! so the public output is `y + x·y`, with a mul gate, an add gate, a 4-bit range lookup
//! (a 16-row table), copy constraints and one instance column. `Tamper` makes the witness lie
//! in one specific way, for negative tests.

#![allow(dead_code)]

use zkgrid_prover::halo2_proofs::circuit::{Cell, Layouter, SimpleFloorPlanner, Value};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_prover::halo2_proofs::plonk::{
    Advice, Circuit, Column, ConstraintSystem, Error, Expression, Instance, Selector, TableColumn,
};
use zkgrid_prover::halo2_proofs::poly::Rotation;

/// Range of the lookup table: values `0..RANGE`.
pub const RANGE: u64 = 16;

/// Ways the witness can lie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tamper {
    /// Honest witness.
    #[default]
    None,
    /// Row 0 claims `c = x·y + 1`.
    WrongProduct,
    /// Row 1 claims `c = y' + p' + 1`.
    WrongSum,
    /// Row 1's `p'` is assigned `x·y + 1` without the copy constraint being honoured
    /// (the copy is still declared, the value differs) and the sum follows the wrong value.
    BrokenCopy,
    /// `x = RANGE` (out of the lookup table); the product and sum are computed consistently.
    OutOfRange,
}

/// Column configuration.
#[derive(Clone, Debug)]
pub struct TestConfig {
    a: Column<Advice>,
    b: Column<Advice>,
    c: Column<Advice>,
    instance: Column<Instance>,
    q_mul: Selector,
    q_add: Selector,
    q_range: Selector,
    table: TableColumn,
}

/// Configuration parameters (halo2 `circuit-params`): they change the constraint system, so a
/// key read back with the wrong parameters must be rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestParams {
    /// Constant added in the add gate: `a + b + add_offset = c` (0 for the real circuit).
    pub add_offset: u64,
}

/// The test circuit: `inputs.len()` repetitions of the gadget.
#[derive(Clone, Debug, Default)]
pub struct TestCircuit {
    /// `(x, y)` per repetition; `None` values for keygen.
    pub inputs: Vec<(Value<Fr>, Value<Fr>)>,
    /// Witness tampering.
    pub tamper: Tamper,
    /// Configuration parameters.
    pub params: TestParams,
}

impl TestCircuit {
    /// Honest circuit with `reps` repetitions and deterministic inputs.
    pub fn new(reps: usize) -> Self {
        Self {
            inputs: (0..reps)
                .map(|r| {
                    let (x, y) = inputs_for(r);
                    (Value::known(Fr::from(x)), Value::known(Fr::from(y)))
                })
                .collect(),
            tamper: Tamper::None,
            params: TestParams::default(),
        }
    }

    /// The same circuit with a tampered witness.
    pub fn tampered(reps: usize, tamper: Tamper) -> Self {
        Self {
            tamper,
            ..Self::new(reps)
        }
    }

    /// The public instance column for [`TestCircuit::new`].
    pub fn instances(reps: usize) -> Vec<Vec<Fr>> {
        vec![(0..reps)
            .map(|r| {
                let (x, y) = inputs_for(r);
                Fr::from(y + x * y)
            })
            .collect()]
    }
}

fn inputs_for(r: usize) -> (u64, u64) {
    let r = r as u64;
    (r % RANGE, (r * 7 + 3) % RANGE)
}

impl Circuit<Fr> for TestCircuit {
    type Config = TestConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = TestParams;

    fn without_witnesses(&self) -> Self {
        Self {
            inputs: vec![(Value::unknown(), Value::unknown()); self.inputs.len()],
            tamper: Tamper::None,
            params: self.params,
        }
    }

    fn params(&self) -> TestParams {
        self.params
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
        Self::configure_with_params(meta, TestParams::default())
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: TestParams) -> TestConfig {
        let [a, b, c] = [(); 3].map(|_| meta.advice_column());
        let instance = meta.instance_column();
        for column in [a, b, c] {
            meta.enable_equality(column);
        }
        meta.enable_equality(instance);
        let q_mul = meta.selector();
        let q_add = meta.selector();
        let q_range = meta.complex_selector();
        let table = meta.lookup_table_column();

        meta.create_gate("mul", |m| {
            let q = m.query_selector(q_mul);
            let [a, b, c] = [a, b, c].map(|col| m.query_advice(col, Rotation::cur()));
            vec![q * (a * b - c)]
        });
        meta.create_gate("add", |m| {
            let q = m.query_selector(q_add);
            let [a, b, c] = [a, b, c].map(|col| m.query_advice(col, Rotation::cur()));
            let offset = Expression::Constant(Fr::from(params.add_offset));
            vec![q * (a + b + offset - c)]
        });
        meta.lookup("range", |m| {
            let q = m.query_selector(q_range);
            let a = m.query_advice(a, Rotation::cur());
            vec![(q * a, table)]
        });
        TestConfig {
            a,
            b,
            c,
            instance,
            q_mul,
            q_add,
            q_range,
            table,
        }
    }

    fn synthesize(&self, config: TestConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "range table",
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

        let tamper = self.tamper;
        let outputs: Vec<Cell> = layouter.assign_region(
            || "gadgets",
            |mut region| {
                let mut outputs = Vec::with_capacity(self.inputs.len());
                for (r, &(x, y)) in self.inputs.iter().enumerate() {
                    let row = 2 * r;
                    let first = r == 0;
                    let x = if first && tamper == Tamper::OutOfRange {
                        x.map(|_| Fr::from(RANGE))
                    } else {
                        x
                    };
                    let bump = |v: Value<Fr>, on: Tamper| {
                        if first && tamper == on {
                            v.map(|v| v + Fr::from(1u64))
                        } else {
                            v
                        }
                    };
                    config.q_mul.enable(&mut region, row)?;
                    config.q_range.enable(&mut region, row)?;
                    region.assign_advice(config.a, row, x);
                    let b0 = region.assign_advice(config.b, row, y).cell();
                    let product = bump(x * y, Tamper::WrongProduct);
                    let c0 = region.assign_advice(config.c, row, product).cell();

                    config.q_add.enable(&mut region, row + 1)?;
                    config.q_range.enable(&mut region, row + 1)?;
                    let a1 = region.assign_advice(config.a, row + 1, y).cell();
                    region.constrain_equal(a1, b0);
                    let copied = bump(product, Tamper::BrokenCopy);
                    let b1 = region.assign_advice(config.b, row + 1, copied).cell();
                    region.constrain_equal(b1, c0);
                    let sum = bump(y + copied, Tamper::WrongSum);
                    outputs.push(region.assign_advice(config.c, row + 1, sum).cell());
                }
                Ok(outputs)
            },
        )?;
        for (r, cell) in outputs.into_iter().enumerate() {
            layouter.constrain_instance(cell, config.instance, r);
        }
        Ok(())
    }
}
