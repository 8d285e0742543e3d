//! End-to-end tests of `ModelCircuit` (one test binary):
//!
//! * `differential` — every zoo model and a hand-written model using every supported op:
//!   at least 200 seeded inputs each (edge values included) pass `MockProver` and the output
//!   cells equal `zkgrid_models::execute`; inputs the executor rejects fail in the circuit.
//! * `soundness` — wrong public instances, tampered intermediate witnesses and wrong hashes
//!   fail; unsupported ops and too small circuits give typed errors.
//! * `narrow` — the narrow backend (one advice column): same statement, tampering rejected,
//!   typed errors, the planner's choice.
//! * `planning` — the planner's `k` is minimal and its row count exact.
//! * `private_weights` — hashed weights: the commitment binds, tampered parameter witnesses
//!   fail, the verifying key is independent of the weight values.
//! * `real_prover` — keygen / prove / verify with KZG + SHPLONK on mlp_tiny.

#[path = "model/common.rs"]
mod common;
#[path = "model/differential.rs"]
mod differential;
#[path = "model/narrow.rs"]
mod narrow;
#[path = "model/ops_model.rs"]
mod ops_model;
#[path = "model/planning.rs"]
mod planning;
#[path = "model/private_weights.rs"]
mod private_weights;
#[path = "model/real_prover.rs"]
mod real_prover;
#[path = "model/soundness.rs"]
mod soundness;
