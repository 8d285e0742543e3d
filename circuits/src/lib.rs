//! halo2 chips and the model circuit of zkgrid.
//!
//! The circuit constrains exactly the integer semantics of `zkgrid_models::execute`: signed
//! integers embedded in BN254's scalar field, activations range-checked to `b` bits, rescales
//! rounded half up.
//!
//! * [`config`] — the shared column pool ([`ColumnPool`]) and [`ModelConfig`], which
//!   configures every chip on it.
//! * [`layout`] — the [`RowAllocator`] and [`AssignedVar`], the value handle chips exchange.
//! * [`chips`] — range checks, dense (multiply-accumulate), rescale / division,
//!   ReLU / LeakyReLU, add / sub, max / argmax, multiply / add constants, products.
//! * [`model`] — [`ModelCircuit`]: a whole quantized model as one circuit, its public-instance
//!   layout and the automatic choice of `k` and columns ([`model::plan()`]).
//! * [`poseidon`] — circomlib-compatible Poseidon, native and in-circuit.
//! * [`field`] — the [`Field`] bound and integer ↔ field conversions.
//! * [`error`] — [`CircuitError`].
//!
//! Chips use absolute rows: lay them out with halo2-axiom's `SimpleFloorPlanner`, which puts
//! every region at row 0.
#![deny(missing_docs)]

pub mod chips;
pub mod config;
pub mod error;
pub mod field;
pub mod layout;
pub mod model;
pub mod narrow;
pub mod poseidon;

#[cfg(test)]
mod test_utils;

pub use config::{ChipSet, ColumnPool, ModelConfig, ModelParams};

/// Version of the circuit layout: bumped whenever the same [`model::CircuitSettings`] lay out
/// a different circuit (other columns, gates or row placement), so that cached plans and keys
/// made by an older layout are not reused. 2: range checks on their own row track. 3: range
/// checks as running sums, one column and one lookup per slot (constraint degree 5).
pub const LAYOUT_VERSION: u32 = 3;
pub use error::CircuitError;
pub use field::{fe_from_i128, fe_from_i64, fe_to_i128, fe_to_i64, Field};
pub use layout::{AssignedVar, RowAllocator};
pub use model::{
    CircuitSettings, InputVisibility, ModelCircuit, ModelWitness, OutputVisibility, Visibility,
};
