//! Poseidon over BN254, bit-compatible with circomlib / circomlibjs.
//!
//! * [`params`]: circomlib's parameters (`x^5` S-box, 8 full rounds, partial rounds
//!   `[56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68]` for `t = 2..=17`),
//!   round constants and MDS matrices regenerated on first use with the Grain LFSR of the
//!   Poseidon reference script, identical to circomlib's `poseidon_constants.js`.
//! * [`native`]: [`poseidon`] (circomlib's fixed-arity `Poseidon(n)`, `1 <= n <= 16`) and
//!   [`hash_many`] (any length).
//! * [`chip`]: [`PoseidonChip`], the same two functions as halo2 constraints.
//!
//! # `hash_many`: hashing any number of field elements
//!
//! Built only from circomlib's 16-input Poseidon (`t = 17`), absorbing 15 elements per call
//! and chaining the previous digest through the first input; the initial chaining value is
//! the input length `n`, so inputs that differ only by trailing zeros hash differently:
//!
//! ```text
//! h_0     = n
//! h_{k+1} = Poseidon16(h_k, x[15k], x[15k+1], ..., x[15k+14])   (missing x's are 0)
//! hash_many(x[0..n]) = h_m,  m = max(1, ceil(n / 15))
//! ```
//!
//! With circomlibjs (`const poseidon = await buildPoseidon()`):
//!
//! ```js
//! function hashMany(xs) {               // xs: array of BigInt field elements
//!   let h = BigInt(xs.length);
//!   const m = Math.max(1, Math.ceil(xs.length / 15));
//!   for (let k = 0; k < m; k++) {
//!     const chunk = xs.slice(15 * k, 15 * k + 15);
//!     while (chunk.length < 15) chunk.push(0n);
//!     h = poseidon.F.toObject(poseidon([h, ...chunk]));
//!   }
//!   return h;
//! }
//! ```
//!
//! `hash_many` is a different function from `Poseidon(n)`: `hash_many([])` equals
//! `Poseidon16(0, ..., 0)`, and for `n <= 15`, `hash_many(x)` equals
//! `Poseidon16(n, x, 0, ...)`. Commitments must say which of the two they use.

pub mod chip;
pub mod native;
pub mod params;

pub use chip::{PartialRounds, PoseidonChip, PoseidonColumns, PoseidonConfig, MAX_BLOCK_ROUNDS};
pub use native::{hash_many, poseidon, HASH_MANY_CHUNK};
pub use params::{Arity, PoseidonParams, FULL_ROUNDS, MAX_ARITY, PARTIAL_ROUNDS};
