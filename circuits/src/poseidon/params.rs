//! circomlib's Poseidon parameters for BN254, generated on first use.
//!
//! circomlib (`poseidon_constants.js`, circomlibjs 0.1.7) took its round constants and MDS
//! matrices from the reference script of the Poseidon authors,
//! `generate_parameters_grain.sage 1 0 254 t 8 R_P p` (prime field, S-box `x^5`, 254-bit
//! field, width `t`, 8 full rounds, `R_P` partial rounds). This module re-runs that procedure
//! instead of embedding ~12,600 constants:
//!
//! 1. An 80-bit Grain LFSR is seeded with the bits of (field type 1 in 2 bits, S-box 0 in 4
//!    bits, field size 254 in 12 bits, `t` in 12 bits, `R_F` in 10 bits, `R_P` in 10 bits,
//!    thirty 1 bits), most significant bit first, and clocked 160 times with the feedback
//!    `b[62] ^ b[51] ^ b[38] ^ b[23] ^ b[13] ^ b[0]`.
//! 2. Output bits are self-shrunk: the generator draws pairs `(a, b)` and emits `b` when `a`
//!    is 1, discarding both otherwise.
//! 3. Round constants: `(R_F + R_P) * t` integers of 254 bits (most significant bit first),
//!    each redrawn until it is below the BN254 scalar modulus `p`.
//! 4. MDS matrix: `2t` further 254-bit integers reduced mod `p`, `x = first t`,
//!    `y = last t`, redrawn while any two coincide or some `x_i + y_j = 0`;
//!    `M[i][j] = 1 / (x_i + y_j)` (a Cauchy matrix).
//!
//! The reference script also rejects matrices that fail its invariant-subspace checks
//! (Algorithms 1–3 of the script). For every circomlib width the first Cauchy matrix drawn is
//! the one circomlib uses, so those checks are not re-run here: the generated constants were
//! compared entry by entry with `poseidon_constants.js` for `t = 2..=17`, and the known-answer
//! tests in `native.rs` (one per width, from circomlibjs) pin them.

use std::sync::OnceLock;

use halo2_proofs::halo2curves::{
    bn256::Fr,
    ff::{Field, PrimeField},
};

use crate::error::CircuitError;

/// Number of full rounds (`R_F`), the same for every width.
pub const FULL_ROUNDS: usize = 8;

/// Largest number of inputs circomlib's Poseidon takes (state width 17).
pub const MAX_ARITY: usize = 16;

/// Number of partial rounds (`R_P`) for 1 to 16 inputs (state width `t = 2..=17`), as in
/// circomlib's `N_ROUNDS_P`.
pub const PARTIAL_ROUNDS: [usize; MAX_ARITY] = [
    56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68,
];

/// Bit length of the BN254 scalar field used by the parameter generator.
const FIELD_BITS: usize = 254;

/// A validated number of Poseidon inputs, `1..=16` (state width `arity + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arity(usize);

impl Arity {
    /// Two inputs (`t = 3`), the Merkle-tree arity.
    pub const TWO: Arity = Arity(2);
    /// Sixteen inputs (`t = 17`), the widest circomlib Poseidon.
    pub const MAX: Arity = Arity(MAX_ARITY);

    /// Validates a number of inputs.
    pub fn new(arity: usize) -> Result<Self, CircuitError> {
        if (1..=MAX_ARITY).contains(&arity) {
            Ok(Arity(arity))
        } else {
            Err(CircuitError::InvalidParams {
                parameter: "poseidon arity",
                value: arity,
                expected: "1..=16 inputs (circomlib widths t = 2..=17)",
            })
        }
    }

    /// Number of inputs.
    pub const fn get(self) -> usize {
        self.0
    }

    /// State width `t = arity + 1` (one capacity element).
    pub const fn width(self) -> usize {
        self.0 + 1
    }

    /// Number of partial rounds for this arity.
    pub const fn partial_rounds(self) -> usize {
        PARTIAL_ROUNDS[self.0 - 1]
    }

    /// Every supported arity, `1..=16`.
    pub fn all() -> impl Iterator<Item = Arity> {
        (1..=MAX_ARITY).map(Arity)
    }
}

/// Round constants and MDS matrix of circomlib's Poseidon for one width.
#[derive(Clone, Debug)]
pub struct PoseidonParams {
    arity: Arity,
    /// `(R_F + R_P) * t` constants, round-major: round `r` adds `rc[r * t .. (r + 1) * t]`.
    round_constants: Vec<Fr>,
    /// `t x t` matrix: the linear layer maps `s` to `s'_i = sum_j mds[i][j] * s_j`.
    mds: Vec<Vec<Fr>>,
    /// The same constants pushed forward through the partial rounds (see
    /// [`PoseidonParams::shifted_round_constants`]), round-major like `round_constants`.
    shifted_round_constants: Vec<Fr>,
}

impl PoseidonParams {
    /// Parameters for `arity` inputs, generated on first use and cached for the process.
    pub fn get(arity: Arity) -> &'static PoseidonParams {
        static CACHE: [OnceLock<PoseidonParams>; MAX_ARITY] =
            [const { OnceLock::new() }; MAX_ARITY];
        CACHE[arity.0 - 1].get_or_init(|| PoseidonParams::generate(arity))
    }

    /// Runs the Grain LFSR generator of the Poseidon reference script for `arity` inputs.
    pub fn generate(arity: Arity) -> PoseidonParams {
        let width = arity.width();
        let mut grain = Grain::new(width, arity.partial_rounds());
        let count = (FULL_ROUNDS + arity.partial_rounds()) * width;
        let round_constants: Vec<Fr> = (0..count).map(|_| grain.next_canonical()).collect();
        let mds = grain.next_cauchy_matrix(width);
        let shifted_round_constants = shift_partial_constants(arity, &round_constants, &mds);
        PoseidonParams {
            arity,
            round_constants,
            mds,
            shifted_round_constants,
        }
    }

    /// Number of inputs.
    pub fn arity(&self) -> Arity {
        self.arity
    }

    /// State width `t`.
    pub fn width(&self) -> usize {
        self.arity.width()
    }

    /// Total number of rounds `R_F + R_P`.
    pub fn rounds(&self) -> usize {
        FULL_ROUNDS + self.arity.partial_rounds()
    }

    /// Whether round `round` applies the S-box to every lane (the first and last `R_F / 2`
    /// rounds) rather than to lane 0 only.
    pub fn is_full_round(&self, round: usize) -> bool {
        round < FULL_ROUNDS / 2 || round >= FULL_ROUNDS / 2 + self.arity.partial_rounds()
    }

    /// The `t` constants added at the start of round `round` (empty past the last round).
    pub fn round_constants(&self, round: usize) -> &[Fr] {
        let t = self.width();
        self.round_constants
            .get(round * t..(round + 1) * t)
            .unwrap_or(&[])
    }

    /// The MDS matrix, row-major (`t` rows of `t` entries).
    pub fn mds(&self) -> &[Vec<Fr>] {
        &self.mds
    }

    /// Round constants of the same permutation in which every partial round adds a constant
    /// to lane 0 only: `(k_r, 0, …, 0)`.
    ///
    /// In a partial round the lanes `j ≥ 1` skip the S-box, so their constants can be moved
    /// past the round's linear layer: `M·(S(s_0 + c_0), s_1 + c_1, …) = M·(S(s_0 + c_0), s_1,
    /// …) + M·(0, c_1, …)`. Carrying that offset `a` forward, round `r` adds `u = c_r + a` and
    /// keeps only `k_r = u_0`; the next offset is `M·(0, u_1, …, u_{t−1})`. The first full
    /// round after the partial rounds absorbs the last offset into its constants; every other
    /// full round is unchanged. The permutation's output is the same for every input (the
    /// states between the partial rounds differ from the reference's by the offset). With
    /// constants on lane 0 only, a run of partial rounds is a fixed linear map of its input
    /// state and its S-box outputs, whatever rounds it starts at.
    pub fn shifted_round_constants(&self, round: usize) -> &[Fr] {
        let t = self.width();
        self.shifted_round_constants
            .get(round * t..(round + 1) * t)
            .unwrap_or(&[])
    }
}

/// `m · v` for a matrix given by its rows.
pub(crate) fn mat_vec(m: &[Vec<Fr>], v: &[Fr]) -> Vec<Fr> {
    m.iter()
        .map(|row| row.iter().zip(v).fold(Fr::ZERO, |acc, (a, x)| acc + *a * x))
        .collect()
}

/// The constants of [`PoseidonParams::shifted_round_constants`], round-major.
fn shift_partial_constants(arity: Arity, round_constants: &[Fr], mds: &[Vec<Fr>]) -> Vec<Fr> {
    let t = arity.width();
    let first_partial = FULL_ROUNDS / 2;
    let after_partial = first_partial + arity.partial_rounds();
    let mut shifted = round_constants.to_vec();
    let mut offset = vec![Fr::ZERO; t];
    for round in first_partial..after_partial {
        let Some(constants) = shifted.get_mut(round * t..(round + 1) * t) else {
            break;
        };
        for (c, a) in constants.iter_mut().zip(&offset) {
            *c += a;
        }
        let mut pushed = constants.to_vec();
        if let Some(lane0) = pushed.first_mut() {
            *lane0 = Fr::ZERO;
        }
        offset = mat_vec(mds, &pushed);
        for c in constants.iter_mut().skip(1) {
            *c = Fr::ZERO;
        }
    }
    if let Some(constants) = shifted.get_mut(after_partial * t..(after_partial + 1) * t) {
        for (c, a) in constants.iter_mut().zip(&offset) {
            *c += a;
        }
    }
    shifted
}

/// The Grain LFSR of the Poseidon reference parameter script.
struct Grain {
    /// 80-bit state; bit `i` is `b[i]` of the script, `b[0]` the oldest.
    state: u128,
}

impl Grain {
    fn new(width: usize, partial_rounds: usize) -> Self {
        // (value, bit length) fields, most significant bit first.
        let fields: [(usize, usize); 7] = [
            (1, 2),               // field: prime field
            (0, 4),               // S-box: x^alpha
            (FIELD_BITS, 12),     // field size in bits
            (width, 12),          // t
            (FULL_ROUNDS, 10),    // R_F
            (partial_rounds, 10), // R_P
            ((1 << 30) - 1, 30),  // padding ones
        ];
        let mut state = 0u128;
        let mut index = 0;
        for (value, bits) in fields {
            for k in (0..bits).rev() {
                state |= (((value >> k) & 1) as u128) << index;
                index += 1;
            }
        }
        let mut grain = Grain { state };
        for _ in 0..160 {
            grain.clock();
        }
        grain
    }

    /// Clocks the LFSR once and returns the new bit.
    fn clock(&mut self) -> bool {
        let s = self.state;
        let bit = ((s >> 62) ^ (s >> 51) ^ (s >> 38) ^ (s >> 23) ^ (s >> 13) ^ s) & 1;
        self.state = (s >> 1) | (bit << 79);
        bit == 1
    }

    /// Next self-shrunk output bit.
    fn next_bit(&mut self) -> bool {
        loop {
            let keep = self.clock();
            let bit = self.clock();
            if keep {
                return bit;
            }
        }
    }

    /// Next 254-bit integer as little-endian bytes (bits are drawn most significant first).
    fn next_bytes(&mut self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        for position in (0..FIELD_BITS).rev() {
            if self.next_bit() {
                bytes[position / 8] |= 1 << (position % 8);
            }
        }
        bytes
    }

    /// Next integer below `p` (rejection sampling), as used for round constants.
    fn next_canonical(&mut self) -> Fr {
        loop {
            if let Some(value) = Option::<Fr>::from(Fr::from_repr(self.next_bytes())) {
                return value;
            }
        }
    }

    /// Next integer reduced mod `p`, as used for the MDS matrix.
    fn next_reduced(&mut self) -> Fr {
        let bytes = self.next_bytes();
        // Horner over the bits, most significant first: reduction mod p comes for free.
        (0..FIELD_BITS).rev().fold(Fr::ZERO, |acc, position| {
            let bit = (bytes[position / 8] >> (position % 8)) & 1;
            acc.double() + Fr::from(u64::from(bit))
        })
    }

    /// Cauchy matrix `M[i][j] = 1 / (x_i + y_j)` from `2t` distinct draws with no zero sum.
    fn next_cauchy_matrix(&mut self, width: usize) -> Vec<Vec<Fr>> {
        loop {
            let draws: Vec<Fr> = (0..2 * width).map(|_| self.next_reduced()).collect();
            let distinct = draws
                .iter()
                .enumerate()
                .all(|(i, a)| draws.iter().skip(i + 1).all(|b| a != b));
            if !distinct {
                continue;
            }
            let (xs, ys) = draws.split_at(width);
            let matrix: Option<Vec<Vec<Fr>>> = xs
                .iter()
                .map(|x| {
                    ys.iter()
                        .map(|y| Option::<Fr>::from((*x + y).invert()))
                        .collect()
                })
                .collect();
            if let Some(matrix) = matrix {
                return matrix;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(decimal: &str) -> anyhow::Result<Fr> {
        Fr::from_str_vartime(decimal).ok_or_else(|| anyhow::anyhow!("bad decimal {decimal}"))
    }

    /// Spot checks against circomlib's `poseidon_constants.js` (`C[t-2][i]`, `M[t-2][i][j]`);
    /// the full tables were compared once with `vectors.js constants`, and every width is
    /// pinned by a known-answer hash in `native.rs`.
    #[test]
    fn generated_constants_match_circomlib_spot_checks() -> anyhow::Result<()> {
        let t2 = PoseidonParams::get(Arity::new(1)?);
        assert_eq!(
            t2.round_constants(0)[0],
            fr("4417881134626180770308697923359573201005643519861877412381846989312604493735")?
        );
        let t3 = PoseidonParams::get(Arity::TWO);
        assert_eq!(
            t3.round_constants(0)[0],
            fr("6745197990210204598374042828761989596302876299545964402857411729872131034734")?
        );
        assert_eq!(
            t3.mds()[0][0],
            fr("7511745149465107256748700652201246547602992235352608707588321460060273774987")?
        );
        assert_eq!(
            t3.mds()[2][1],
            fr("10595341252162738537912664445405114076324478519622938027420701542910180337937")?
        );
        let t17 = PoseidonParams::get(Arity::MAX);
        // C[15][1291] is the last constant: round 75, lane 16.
        assert_eq!(
            t17.round_constants(75)[16],
            fr("19116371381269652319147699604019975103087973589614811479290794650138683901396")?
        );
        assert_eq!(
            t17.mds()[16][3],
            fr("2984855641991264563125921669666111398496570671860076360618117725463255935294")?
        );
        assert!(t17.round_constants(76).is_empty());
        Ok(())
    }

    #[test]
    fn arity_bounds() {
        assert!(Arity::new(0).is_err());
        assert!(Arity::new(17).is_err());
        assert_eq!(Arity::all().count(), MAX_ARITY);
        assert_eq!(Arity::MAX.width(), 17);
        assert_eq!(Arity::TWO.partial_rounds(), 57);
    }
}
