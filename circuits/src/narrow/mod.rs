//! The narrow backend: a whole circuit in **one advice column** with two generic gates, for the
//! cheapest on-chain verifier at the price of many more rows.
//!
//! # Why
//!
//! An on-chain verifier pays one elliptic-curve multiplication (≈ 6,000 gas) and ≈ 1 KB of
//! calldata per committed polynomial, and ≈ 600 gas per opened evaluation. The pool backend
//! ([`crate::config::ModelConfig`]) spreads work over many columns to prove fast; this backend
//! commits to the fewest polynomials halo2 allows for a model circuit:
//!
//! * 1 advice column `a` (equality enabled),
//! * 3 fixed columns: the gate kind `q`, the coefficients `f` and the constants column,
//! * 3 permutation columns (`a`, constants, instance), 2 grand products, 3 quotient pieces and
//!   halo2's random polynomial: 13 commitments, about 20 opened evaluations.
//!
//! # Gates
//!
//! The gate kind `q(0) ∈ {0, 1, 2}` selects, at row `r`:
//!
//! * `q = 1`, **lin**: `a(3) = a(0) + f(0) + f(1)·a(1) + f(2)·a(2)` (a running sum with two
//!   terms of constant coefficients per gate, or an affine map of up to three cells);
//! * `q = 2`, **mul**: `a(2) = a(0)·a(1)`.
//!
//! Each is multiplied by the Lagrange indicator of its kind (`q(2 − q)` and `q(q − 1)`), so the
//! constraint system has degree 4 (quotient in 3 pieces, permutation products over 2 columns).
//! A gate's rows never overlap the next gate's but its output row, which may be the next
//! gate's `a(0)` (a chain costs 3 rows per link), so `f` of a lin gate at `r` sits at rows
//! `r..r + 3` and no other gate reads them.
//!
//! # Building a circuit
//!
//! [`Tape`] records rows (advice values, gate kinds, coefficients), copy constraints and
//! constant bindings while the caller computes; [`Tape::assign`] writes them into one region.
//! Layout never depends on witness values, so key generation, proving and row counting lay out
//! the same rows. [`Var`] is a row of `a` holding a value.
//!
//! * [`poseidon`] — circomlib's Poseidon `hash_many` on the tape.
//! * [`model`] — a quantized model (dense, convolution, ReLU, reshape) on the tape.

pub mod model;
pub mod poseidon;

use std::collections::HashMap;

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::{Field as _, PrimeField};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Expression, Fixed, Instance};
use halo2_proofs::poly::Rotation;

use crate::error::CircuitError;
use crate::field::fe_from_u128;

/// Gate kind of a row (the value of the `q` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum GateKind {
    /// No gate starts here.
    None = 0,
    /// `a(3) = a(0) + f(0) + f(1)·a(1) + f(2)·a(2)`.
    Lin = 1,
    /// `a(2) = a(0)·a(1)`.
    Mul = 2,
}

/// The columns and gates of the narrow backend.
#[derive(Clone, Copy, Debug)]
pub struct NarrowConfig {
    /// The single advice column.
    pub a: Column<Advice>,
    /// Gate kind per row ([`GateKind`]).
    pub q: Column<Fixed>,
    /// Gate coefficients.
    pub f: Column<Fixed>,
    /// The constants column (`enable_constant`).
    pub constants: Column<Fixed>,
    /// The instance column.
    pub instance: Column<Instance>,
}

impl NarrowConfig {
    /// Configures the columns and the two gates.
    pub fn configure(meta: &mut ConstraintSystem<Fr>) -> Self {
        let a = meta.advice_column();
        let q = meta.fixed_column();
        let f = meta.fixed_column();
        let constants = meta.fixed_column();
        let instance = meta.instance_column();
        meta.enable_equality(a);
        meta.enable_constant(constants);
        meta.enable_equality(instance);
        meta.create_gate("narrow lin", |meta| {
            let q = meta.query_fixed(q, Rotation::cur());
            let a: Vec<Expression<Fr>> =
                (0..4).map(|r| meta.query_advice(a, Rotation(r))).collect();
            let f: Vec<Expression<Fr>> = (0..3).map(|r| meta.query_fixed(f, Rotation(r))).collect();
            let on = q.clone() * (Expression::Constant(Fr::from(2)) - q);
            vec![
                on * (a[0].clone()
                    + f[0].clone()
                    + f[1].clone() * a[1].clone()
                    + f[2].clone() * a[2].clone()
                    - a[3].clone()),
            ]
        });
        meta.create_gate("narrow mul", |meta| {
            let q = meta.query_fixed(q, Rotation::cur());
            let a: Vec<Expression<Fr>> =
                (0..3).map(|r| meta.query_advice(a, Rotation(r))).collect();
            let on = q.clone() * (q - Expression::Constant(Fr::ONE));
            vec![on * (a[0].clone() * a[1].clone() - a[2].clone())]
        });
        Self {
            a,
            q,
            f,
            constants,
            instance,
        }
    }
}

/// A row of the advice column and its value.
#[derive(Clone, Copy, Debug)]
pub struct Var {
    row: usize,
    value: Value<Fr>,
}

impl Var {
    /// The row.
    pub fn row(&self) -> usize {
        self.row
    }

    /// The value (unknown without a witness).
    pub fn value(&self) -> Value<Fr> {
        self.value
    }
}

/// The rows of a narrow circuit, recorded before they are assigned (see the module
/// documentation).
#[derive(Clone, Debug)]
pub struct Tape {
    values: Vec<Value<Fr>>,
    kinds: Vec<GateKind>,
    coefficients: Vec<Fr>,
    copies: Vec<(usize, usize)>,
    constants: Vec<(usize, Fr)>,
    constant_rows: HashMap<[u8; 32], Var>,
    capacity: usize,
    /// Rows pushed (also in counting mode, where nothing else is stored).
    len: usize,
    /// Copy constraints recorded (also in counting mode).
    copy_count: usize,
    /// Count rows only: no values, coefficients, copies or constants are kept, so a tape of
    /// any length takes constant memory (the planner's row count of a huge model).
    counting: bool,
}

/// The cells [`Tape::assign`] made, by row.
pub struct AssignedTape {
    cells: Vec<Cell>,
}

impl AssignedTape {
    /// The cell of `var`.
    pub fn cell(&self, var: &Var) -> Result<Cell, CircuitError> {
        self.cells
            .get(var.row)
            .copied()
            .ok_or(CircuitError::EmptyInput {
                op: "narrow tape cell",
            })
    }
}

impl Tape {
    /// An empty tape of at most `capacity` rows.
    pub fn new(capacity: usize) -> Self {
        Self {
            values: Vec::new(),
            kinds: Vec::new(),
            coefficients: Vec::new(),
            copies: Vec::new(),
            constants: Vec::new(),
            constant_rows: HashMap::new(),
            capacity,
            len: 0,
            copy_count: 0,
            counting: false,
        }
    }

    /// A tape that only counts rows and copies, unbounded, in constant memory; it cannot be
    /// assigned.
    pub fn counting() -> Self {
        Self {
            counting: true,
            ..Self::new(usize::MAX)
        }
    }

    /// Rows used so far.
    pub fn rows(&self) -> usize {
        self.len
    }

    /// Copy constraints recorded so far.
    pub fn copies(&self) -> usize {
        self.copy_count
    }

    fn push(&mut self, value: Value<Fr>) -> Result<Var, CircuitError> {
        let row = self.len;
        if row >= self.capacity {
            return Err(CircuitError::NotEnoughRows {
                needed: row + 1,
                available: self.capacity,
            });
        }
        if !self.counting {
            self.values.push(value);
            self.kinds.push(GateKind::None);
            self.coefficients.push(Fr::ZERO);
        }
        self.len += 1;
        Ok(Var { row, value })
    }

    fn copy_constraint(&mut self, a: usize, b: usize) {
        self.copy_count += 1;
        if !self.counting {
            self.copies.push((a, b));
        }
    }

    /// Starts a gate of `kind` at row `r` with coefficients `f(r), f(r + 1), …`.
    fn set_gate(&mut self, r: usize, kind: GateKind, coefficients: &[Fr]) {
        if let Some(k) = self.kinds.get_mut(r) {
            *k = kind;
        }
        for (i, c) in coefficients.iter().enumerate() {
            if let Some(slot) = self.coefficients.get_mut(r + i) {
                *slot = *c;
            }
        }
    }

    /// A new row holding `value`, constrained by nothing yet: the caller must constrain it.
    pub fn witness(&mut self, value: Value<Fr>) -> Result<Var, CircuitError> {
        self.push(value)
    }

    /// A row equal to `var`: `var` itself when it is the last row (a chain), else a copy.
    fn operand(&mut self, var: &Var) -> Result<Var, CircuitError> {
        if var.row + 1 == self.len {
            return Ok(*var);
        }
        self.copy_of(var)
    }

    /// A new row copy-constrained to `var`.
    pub fn copy_of(&mut self, var: &Var) -> Result<Var, CircuitError> {
        let copy = self.push(var.value)?;
        self.copy_constraint(var.row, copy.row);
        Ok(copy)
    }

    /// Constrains two rows to be equal.
    pub fn assert_equal(&mut self, a: &Var, b: &Var) {
        if a.row != b.row {
            self.copy_constraint(a.row, b.row);
        }
    }

    /// A row fixed to `c` (one row per distinct constant, bound to the constants column).
    pub fn constant(&mut self, c: Fr) -> Result<Var, CircuitError> {
        let key = c.to_repr();
        if let Some(var) = self.constant_rows.get(&key) {
            return Ok(*var);
        }
        let var = self.push(Value::known(c))?;
        if !self.counting {
            self.constants.push((var.row, c));
        }
        self.constant_rows.insert(key, var);
        Ok(var)
    }

    /// Constrains `var` to the constant `c`.
    pub fn assert_constant(&mut self, var: &Var, c: Fr) -> Result<(), CircuitError> {
        let fixed = self.constant(c)?;
        self.assert_equal(var, &fixed);
        Ok(())
    }

    /// One lin gate: `a0 + c0 + c1·x1 + c2·x2` (three rows and the output row).
    pub fn lin(
        &mut self,
        a0: &Var,
        c0: Fr,
        (c1, x1): (Fr, &Var),
        (c2, x2): (Fr, &Var),
    ) -> Result<Var, CircuitError> {
        let start = self.operand(a0)?;
        let r = start.row;
        self.copy_of(x1)?;
        self.copy_of(x2)?;
        let value = start.value
            + x1.value * Value::known(c1)
            + x2.value * Value::known(c2)
            + Value::known(c0);
        let out = self.push(value)?;
        self.set_gate(r, GateKind::Lin, &[c0, c1, c2]);
        Ok(out)
    }

    /// `x·y` (one mul gate).
    pub fn mul(&mut self, x: &Var, y: &Var) -> Result<Var, CircuitError> {
        let start = self.operand(x)?;
        let r = start.row;
        self.copy_of(y)?;
        let out = self.push(x.value * y.value)?;
        self.set_gate(r, GateKind::Mul, &[]);
        Ok(out)
    }

    /// `constant + Σ cᵢ·xᵢ` as a chain of lin gates (two terms per gate).
    pub fn lincomb(&mut self, constant: Fr, terms: &[(Fr, Var)]) -> Result<Var, CircuitError> {
        let zero = self.constant(Fr::ZERO)?;
        if terms.is_empty() {
            return self.lin(&zero, constant, (Fr::ZERO, &zero), (Fr::ZERO, &zero));
        }
        let mut acc = zero;
        for (i, pair) in terms.chunks(2).enumerate() {
            let c0 = if i == 0 { constant } else { Fr::ZERO };
            let (c1, x1) = pair[0];
            let (c2, x2) = pair.get(1).copied().unwrap_or((Fr::ZERO, zero));
            acc = self.lin(&acc, c0, (c1, &x1), (c2, &x2))?;
        }
        Ok(acc)
    }

    /// `x + c`.
    pub fn add_constant(&mut self, x: &Var, c: Fr) -> Result<Var, CircuitError> {
        let zero = self.constant(Fr::ZERO)?;
        self.lin(x, c, (Fr::ZERO, &zero), (Fr::ZERO, &zero))
    }

    /// Constrains `b ∈ {0, 1}` (`b·b = b`).
    pub fn assert_bit(&mut self, b: &Var) -> Result<(), CircuitError> {
        let square = self.mul(b, b)?;
        self.assert_equal(&square, b);
        Ok(())
    }

    /// Constrains `0 ≤ x < 2^bits` (as integers): `x = Σ bᵢ·2^i` with every `bᵢ` a bit.
    /// `bits = 0` constrains `x = 0`. The bits are computed from `x`'s value; a value out of
    /// range gets bits that do not add up to it, and the circuit is unsatisfied.
    pub fn range_check(&mut self, x: &Var, bits: u32) -> Result<(), CircuitError> {
        if bits >= 128 {
            return Err(CircuitError::InvalidBitWidth {
                op: "narrow range check",
                bits,
            });
        }
        let bit_values: Vec<Value<Fr>> = (0..bits)
            .map(|i| {
                x.value.map(|v| {
                    let repr = v.to_repr();
                    let byte = repr.as_ref()[(i / 8) as usize];
                    Fr::from(u64::from((byte >> (i % 8)) & 1))
                })
            })
            .collect();
        let mut terms = Vec::with_capacity(bit_values.len());
        for (i, value) in bit_values.into_iter().enumerate() {
            let b = self.witness(value)?;
            self.assert_bit(&b)?;
            terms.push((fe_from_u128(1u128 << i), b));
        }
        let sum = self.lincomb(Fr::ZERO, &terms)?;
        self.assert_equal(&sum, x);
        Ok(())
    }

    /// Constrains `−2^(bits−1) ≤ x < 2^(bits−1)` (`bits ≥ 1`).
    pub fn range_check_signed(&mut self, x: &Var, bits: u32) -> Result<(), CircuitError> {
        if bits == 0 || bits >= 128 {
            return Err(CircuitError::InvalidBitWidth {
                op: "narrow signed range check",
                bits,
            });
        }
        let shifted = self.add_constant(x, fe_from_u128(1u128 << (bits - 1)))?;
        self.range_check(&shifted, bits)
    }

    /// Overwrites the value of a row (soundness tests: a lying witness).
    #[cfg(any(test, feature = "tamper"))]
    pub fn set_value(&mut self, row: usize, value: Value<Fr>) {
        if let Some(v) = self.values.get_mut(row) {
            *v = value;
        }
    }

    /// Writes every row, coefficient, copy and constant into `region` (at rows from 0).
    pub fn assign(
        &self,
        region: &mut Region<'_, Fr>,
        config: &NarrowConfig,
    ) -> Result<AssignedTape, CircuitError> {
        if self.counting {
            return Err(CircuitError::InvalidParams {
                parameter: "narrow tape",
                value: self.len,
                expected: "a recording tape (a counting tape cannot be assigned)",
            });
        }
        let mut cells = Vec::with_capacity(self.values.len());
        let rows = self.values.iter().zip(&self.kinds).zip(&self.coefficients);
        for (row, ((value, kind), c)) in rows.enumerate() {
            let cell = region.assign_advice(config.a, row, *value);
            cells.push(cell.cell());
            if *kind != GateKind::None {
                region.assign_fixed(config.q, row, Fr::from(*kind as u64));
            }
            if *c != Fr::ZERO {
                region.assign_fixed(config.f, row, *c);
            }
        }
        let cell = |row: &usize| {
            cells.get(*row).copied().ok_or(CircuitError::EmptyInput {
                op: "narrow tape row",
            })
        };
        for (a, b) in &self.copies {
            region.constrain_equal(cell(a)?, cell(b)?);
        }
        for (row, c) in &self.constants {
            region.constrain_constant(cell(row)?, *c)?;
        }
        Ok(AssignedTape { cells })
    }
}

#[cfg(test)]
mod tests;
