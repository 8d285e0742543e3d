//! Peak-memory estimate for proving with halo2-axiom 0.5.3 (KZG, SHPLONK) on BN254.
//!
//! Notation: `n = 2^k` rows; `col = 32·n` bytes (one column of field elements); a G1 affine
//! point is 64 bytes; `A, F, I` advice/fixed/instance columns (`F` includes selectors, which
//! halo2 turns into fixed columns), `L` lookup arguments, `P` columns in the permutation (copy
//! constraints), `D` the constraint system's degree (at least 3, halo2's minimum);
//! `S = ⌈P / (D − 2)⌉` permutation grand products; `d = 2^⌈log2(D − 1)⌉` the extended-domain
//! factor (the quotient lives on `d·n` points).
//!
//! Resident while proving (what the prover keeps until the end):
//!
//! | part | bytes | what |
//! |---|---|---|
//! | params | `2n · 64` | `g` and `g_lagrange` |
//! | proving key | `(3 + 2F + 2P + 2(2d − 1)) · col` | `l0, l_last, l_active`; fixed and σ columns, values + coefficients; the domain's FFT twiddle tables for sizes `n, 2n, …, d·n`, forward and inverse |
//! | witness | `(A + 2I) · col` | advice coefficients; instance values + coefficients |
//! | lookups | `3L · col` | permuted input, permuted table, grand product |
//! | permutation | `S · col` | grand products |
//!
//! Transient on top of that, one phase at a time (the estimate takes the largest):
//!
//! | phase | bytes | what |
//! |---|---|---|
//! | synthesis | `3A · col` | advice as `Assigned` (72 bytes a cell) + inverted values |
//! | lookup commit | `(3L + 2) · col` | compressed/permuted expressions of every lookup, product construction |
//! | quotient | `max(F + A + I + P + S + 9 + d, 3d) · col` | halo2-axiom evaluates the quotient on one `n`-sized coset part at a time: every column's part (+ `l0, l_last, l_active`, accumulator, 3 lookup cosets, 2 FFT scratch), plus the finished parts; then the `d·n` quotient, its coefficients and pieces |
//! | opening | `(d + 7) · col` | quotient pieces and random poly, SHPLONK linearisation/quotient polynomials |
//!
//! `total = params + proving key + witness + lookups + permutation + max(phases)`.
//!
//! Not modelled: the process baseline (binary, thread stacks), allocator slack and
//! fragmentation, memory a caller retains from keygen, and the circuit's own synthesis data
//! (e.g. a model's weights held by the circuit struct). It is an estimate for capacity planning:
//! `prover/tests/memory_estimate.rs` prints it next to a measured peak RSS. Measured on the
//! test circuit at k = 14 (A = 3, F = 4, I = 1, L = 1, P = 4, D = 5; proving with keys loaded
//! from files in a fresh process): peak RSS above the process baseline was 1.08× the estimate
//! with `MALLOC_ARENA_MAX=1` and 1.26× with glibc's default per-thread arenas — budget about
//! 1.3× the estimate, or cap glibc arenas on proving workers.

use halo2_proofs::halo2curves::bn256::G1Affine;
use halo2_proofs::plonk::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::error::{ProverError, Result};
use crate::keys::vk_k;
use crate::srs::MAX_K;

const FIELD_BYTES: u64 = 32;
const G1_BYTES: u64 = 64;

/// The circuit dimensions that drive proving memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitShape {
    /// log2 of the number of rows.
    pub k: u32,
    /// Advice columns.
    pub advice_columns: usize,
    /// Fixed columns, selectors included.
    pub fixed_columns: usize,
    /// Instance columns.
    pub instance_columns: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// Columns that take part in copy constraints.
    pub permutation_columns: usize,
    /// Maximum degree of any gate or lookup expression (the constraint system degree).
    pub max_gate_degree: usize,
}

impl CircuitShape {
    /// Reads the exact shape of a keyed circuit from its verifying key.
    pub fn from_vk(vk: &VerifyingKey<G1Affine>) -> Self {
        let cs = vk.cs();
        Self {
            k: vk_k(vk),
            advice_columns: cs.num_advice_columns(),
            fixed_columns: cs.num_fixed_columns(),
            instance_columns: cs.num_instance_columns(),
            lookups: cs.lookups().len(),
            permutation_columns: cs.permutation().get_columns().len(),
            max_gate_degree: cs.degree(),
        }
    }

    /// The shape of a planned model circuit, before any key exists (selectors counted as the
    /// fixed columns halo2 turns them into, an upper bound when it merges them).
    pub fn from_plan(s: &zkgrid_circuits::model::CircuitShape) -> Self {
        Self {
            k: s.k,
            advice_columns: s.advice_columns,
            fixed_columns: s.fixed_columns + s.selectors,
            instance_columns: s.instance_columns,
            lookups: s.lookups,
            permutation_columns: s.permutation_columns,
            max_gate_degree: s.degree,
        }
    }
}

/// The estimate, split by part (bytes). See the module docs for the formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// KZG parameters (`g`, `g_lagrange`).
    pub params_bytes: u64,
    /// Proving key polynomials.
    pub proving_key_bytes: u64,
    /// Advice and instance polynomials kept by the prover.
    pub witness_bytes: u64,
    /// Lookup argument polynomials kept by the prover.
    pub lookup_bytes: u64,
    /// Permutation grand products kept by the prover.
    pub permutation_bytes: u64,
    /// Transient peak of witness synthesis.
    pub synthesis_bytes: u64,
    /// Transient peak of the lookup commitments.
    pub lookup_commit_bytes: u64,
    /// Transient peak of the quotient computation.
    pub quotient_bytes: u64,
    /// Transient peak of the multi-open.
    pub opening_bytes: u64,
    /// The largest transient phase.
    pub transient_bytes: u64,
    /// Estimated peak: resident parts plus the largest transient phase.
    pub total_bytes: u64,
}

/// Estimates peak proving memory for `shape` (see the module docs).
pub fn estimate_proving_memory(shape: &CircuitShape) -> Result<MemoryEstimate> {
    if !(1..=MAX_K).contains(&shape.k) {
        return Err(ProverError::KOutOfRange {
            k: shape.k,
            max: MAX_K,
        });
    }
    let n = 1u64 << shape.k;
    let col = n * FIELD_BYTES;
    let [a, f, i, l, p] = [
        shape.advice_columns,
        shape.fixed_columns,
        shape.instance_columns,
        shape.lookups,
        shape.permutation_columns,
    ]
    .map(|c| c as u64);
    let degree = (shape.max_gate_degree as u64).max(3);
    let sets = p.div_ceil(degree - 2);
    let extension = (degree - 1).next_power_of_two();

    let params_bytes = 2 * n * G1_BYTES;
    let twiddles = 2 * (2 * extension - 1);
    let proving_key_bytes = (3 + 2 * f + 2 * p + twiddles) * col;
    let witness_bytes = (a + 2 * i) * col;
    let lookup_bytes = 3 * l * col;
    let permutation_bytes = sets * col;
    let synthesis_bytes = 3 * a * col;
    let lookup_commit_bytes = if l == 0 { 0 } else { (3 * l + 2) * col };
    let quotient_bytes = (f + a + i + p + sets + 9 + extension).max(3 * extension) * col;
    let opening_bytes = (extension + 7) * col;
    let transient_bytes = synthesis_bytes
        .max(lookup_commit_bytes)
        .max(quotient_bytes)
        .max(opening_bytes);
    let total_bytes = params_bytes
        + proving_key_bytes
        + witness_bytes
        + lookup_bytes
        + permutation_bytes
        + transient_bytes;
    Ok(MemoryEstimate {
        params_bytes,
        proving_key_bytes,
        witness_bytes,
        lookup_bytes,
        permutation_bytes,
        synthesis_bytes,
        lookup_commit_bytes,
        quotient_bytes,
        opening_bytes,
        transient_bytes,
        total_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(k: u32) -> CircuitShape {
        CircuitShape {
            k,
            advice_columns: 4,
            fixed_columns: 3,
            instance_columns: 1,
            lookups: 1,
            permutation_columns: 5,
            max_gate_degree: 4,
        }
    }

    #[test]
    fn hand_computed_example() -> anyhow::Result<()> {
        // n = 1024, col = 32 KiB; D = 4 → S = ⌈5/2⌉ = 3, d = 4.
        let e = estimate_proving_memory(&shape(10))?;
        let col = 1024 * 32;
        assert_eq!(e.params_bytes, 2 * 1024 * 64);
        // 3 + 2·3 + 2·5 + twiddles 2·(2·4 − 1) = 33.
        assert_eq!(e.proving_key_bytes, 33 * col);
        assert_eq!(e.witness_bytes, (4 + 2) * col);
        assert_eq!(e.lookup_bytes, 3 * col);
        assert_eq!(e.permutation_bytes, 3 * col);
        assert_eq!(e.synthesis_bytes, 12 * col);
        assert_eq!(e.lookup_commit_bytes, 5 * col);
        // max(3 + 4 + 1 + 5 + 3 + 9 + 4, 12) = 29.
        assert_eq!(e.quotient_bytes, 29 * col);
        assert_eq!(e.opening_bytes, 11 * col);
        assert_eq!(e.transient_bytes, e.quotient_bytes);
        assert_eq!(e.total_bytes, 2 * 1024 * 64 + (33 + 6 + 3 + 3 + 29) * col);
        Ok(())
    }

    #[test]
    fn quotient_dominated_by_extension_for_high_degree() -> anyhow::Result<()> {
        let high = CircuitShape {
            max_gate_degree: 9,
            advice_columns: 1,
            fixed_columns: 1,
            instance_columns: 0,
            lookups: 0,
            permutation_columns: 0,
            ..shape(10)
        };
        let e = estimate_proving_memory(&high)?;
        assert_eq!(e.quotient_bytes, 3 * 8 * 1024 * 32);
        assert_eq!(e.lookup_commit_bytes, 0);
        Ok(())
    }

    #[test]
    fn each_row_doubling_doubles_the_estimate() -> anyhow::Result<()> {
        let a = estimate_proving_memory(&shape(14))?.total_bytes;
        let b = estimate_proving_memory(&shape(15))?.total_bytes;
        assert_eq!(b, 2 * a);
        Ok(())
    }

    #[test]
    fn k_out_of_range_is_an_error() {
        assert!(matches!(
            estimate_proving_memory(&shape(0)),
            Err(ProverError::KOutOfRange { k: 0, .. })
        ));
        assert!(matches!(
            estimate_proving_memory(&shape(MAX_K + 1)),
            Err(ProverError::KOutOfRange { .. })
        ));
    }
}
