//! Native (out-of-circuit) Poseidon: circomlib's fixed-arity hash and the `hash_many` rule.

use halo2_proofs::halo2curves::{bn256::Fr, ff::Field};

use super::params::{mat_vec, Arity, PoseidonParams};
use crate::error::CircuitError;

/// Number of message elements absorbed per permutation by [`hash_many`]: 16 inputs minus the
/// chaining value.
pub const HASH_MANY_CHUNK: usize = Arity::MAX.get() - 1;

/// `x^5`, the S-box.
pub(crate) fn pow5(x: Fr) -> Fr {
    x.square().square() * x
}

/// Applies the linear layer: `s'_i = sum_j mds[i][j] * s_j`.
pub(crate) fn mds_mul(params: &PoseidonParams, state: &[Fr]) -> Vec<Fr> {
    mat_vec(params.mds(), state)
}

/// The Poseidon permutation of width `params.width()` (exactly circomlibjs'
/// `poseidon_reference`): per round add constants, S-box (all lanes in full rounds, lane 0 in
/// partial rounds), multiply by the MDS matrix.
///
/// `state` must hold `params.width()` elements (the callers in this module guarantee it).
pub(crate) fn permute(params: &PoseidonParams, state: &mut Vec<Fr>) {
    permute_with(params, state, PoseidonParams::round_constants);
}

/// The permutation with another choice of round constants per round (the reference's, or
/// [`PoseidonParams::shifted_round_constants`], which give the same output).
pub(crate) fn permute_with(
    params: &PoseidonParams,
    state: &mut Vec<Fr>,
    constants: impl Fn(&PoseidonParams, usize) -> &[Fr],
) {
    for round in 0..params.rounds() {
        for (s, c) in state.iter_mut().zip(constants(params, round)) {
            *s += c;
        }
        if params.is_full_round(round) {
            for s in state.iter_mut() {
                *s = pow5(*s);
            }
        } else if let Some(s0) = state.first_mut() {
            *s0 = pow5(*s0);
        }
        *state = mds_mul(params, state);
    }
}

/// circomlib's `Poseidon(n)` on `n = inputs.len()` inputs, `1 <= n <= 16`: the permutation of
/// width `n + 1` on `[0, inputs...]`, output lane 0. Equals circomlibjs `poseidon(inputs)`.
pub fn poseidon(inputs: &[Fr]) -> Result<Fr, CircuitError> {
    let arity = Arity::new(inputs.len())?;
    let params = PoseidonParams::get(arity);
    let mut state = Vec::with_capacity(arity.width());
    state.push(Fr::ZERO);
    state.extend_from_slice(inputs);
    permute(params, &mut state);
    Ok(state[0])
}

/// The chaining rule of [`hash_many`] for one chunk: `poseidon([acc, chunk..., 0...])` with
/// the chunk zero-padded to [`HASH_MANY_CHUNK`] elements.
fn chain(acc: Fr, chunk: &[Fr]) -> Fr {
    let params = PoseidonParams::get(Arity::MAX);
    let mut state = Vec::with_capacity(Arity::MAX.width());
    state.push(Fr::ZERO);
    state.push(acc);
    state.extend(chunk.iter().take(HASH_MANY_CHUNK));
    state.resize(Arity::MAX.width(), Fr::ZERO);
    permute(params, &mut state);
    state[0]
}

/// Hashes any number of field elements with circomlib's 16-input Poseidon (see the module
/// documentation of [`crate::poseidon`] for the rule and its circomlibjs equivalent):
///
/// `h_0 = n`; for each chunk `k` of 15 inputs (the last one zero-padded; one all-zero chunk
/// when `n = 0`), `h_{k+1} = poseidon([h_k, x_{15k}, ..., x_{15k+14}])`; the result is the last
/// `h`.
pub fn hash_many(inputs: &[Fr]) -> Fr {
    let length = Fr::from(inputs.len() as u64);
    if inputs.is_empty() {
        return chain(length, &[]);
    }
    inputs.chunks(HASH_MANY_CHUNK).fold(length, chain)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::poseidon::params::FULL_ROUNDS;
    use halo2_proofs::halo2curves::ff::PrimeField;

    fn fr(decimal: &str) -> anyhow::Result<Fr> {
        Fr::from_str_vartime(decimal).ok_or_else(|| anyhow::anyhow!("bad decimal {decimal}"))
    }

    /// circomlibjs 0.1.7 `poseidon([1, 2, ..., n])` for n = 1..=16 (`node vectors.js`).
    pub(crate) const FIXED_1_TO_N: [&str; 16] = [
        "18586133768512220936620570745912940619677854269274689475585506675881198879027",
        "7853200120776062878684798364095072458815029376092732009249414926327459813530",
        "6542985608222806190361240322586112750744169038454362455181422643027100751666",
        "18821383157269793795438455681495246036402687001665670618754263018637548127333",
        "6183221330272524995739186171720101788151706631170188140075976616310159254464",
        "20400040500897583745843009878988256314335038853985262692600694741116813247201",
        "12748163991115452309045839028154629052133952896122405799815156419278439301912",
        "18604317144381847857886385684060986177838410221561136253933256952257712543953",
        "13589767895268936107593642967621470491511464502761040466226072462545218539640",
        "3657500514307717306974218405144578736633140001277925127187636780142269815841",
        "3572015662710076994097916907865950486270383304442561406230608893458731714472",
        "2501997477381648492950318384533644783248002172679259592360114615426357826485",
        "7041832639553862712666971417715061873827921493498355005117622707743491651590",
        "8354478399926161176778659061636406690034081872658507739535256090879947077494",
        "4203130618016961831408770638653325366880478848856764494148034853759773445968",
        "9989051620750914585850546081941653841776809718687451684622678807385399211877",
    ];

    /// circomlibjs `poseidon([0, 0])`.
    const ZEROS_2: &str =
        "14744269619966411208579211824598458697587494354926760081771325075741142829156";
    /// circomlibjs `poseidon([p - 1, 2^200, 0, 12345])`.
    const BIG_4: &str =
        "17429636364259992194834341568097720626160621788204129992531457547461764103005";
    /// circomlibjs `poseidon(Array(16).fill(0))`.
    const ZEROS_16: &str =
        "6961025786505490270790487869888725702980364259855350215456397845563605340881";

    /// `hash_many` over `x_i = i^2 + 7`, computed in JS with circomlibjs (`node vectors.js`).
    pub(crate) const MANY: [(usize, &str); 9] = [
        (
            0,
            "6961025786505490270790487869888725702980364259855350215456397845563605340881",
        ),
        (
            1,
            "18494894736881359738350844972294753735440475211105225499040184117335085140456",
        ),
        (
            2,
            "14156787109877296863335035717032910066373912663230471014295754571984895384535",
        ),
        (
            15,
            "6527888218494053294323569608948147512254684088413039461138812624878796574930",
        ),
        (
            16,
            "21238374436469564150818598997483676335040273461558274030480808554039171565232",
        ),
        (
            17,
            "16034678386687813535720635152569006701323900545318599223354263754358582816608",
        ),
        (
            30,
            "16481636577006045387732764453920316146461417271480477413801408858013476228471",
        ),
        (
            31,
            "11835093465411660591643458230717171987766569035423112150998645886887375571267",
        ),
        (
            100,
            "11282000244473497309576988113613211695623120755787007016487528524319718915401",
        ),
    ];

    /// The inputs of the [`MANY`] vectors: `x_i = i^2 + 7`.
    pub(crate) fn many_inputs(n: usize) -> Vec<Fr> {
        (0..n as u64).map(|i| Fr::from(i * i + 7)).collect()
    }

    #[test]
    fn fixed_arity_matches_circomlibjs_for_every_width() -> anyhow::Result<()> {
        for (n, expected) in (1u64..).zip(FIXED_1_TO_N) {
            let inputs: Vec<Fr> = (1..=n).map(Fr::from).collect();
            assert_eq!(poseidon(&inputs)?, fr(expected)?, "arity {n}");
        }
        Ok(())
    }

    #[test]
    fn special_inputs_match_circomlibjs() -> anyhow::Result<()> {
        assert_eq!(poseidon(&[Fr::ZERO, Fr::ZERO])?, fr(ZEROS_2)?);
        let big = [
            -Fr::ONE,
            Fr::from(2).pow_vartime([200]),
            Fr::ZERO,
            Fr::from(12345),
        ];
        assert_eq!(poseidon(&big)?, fr(BIG_4)?);
        assert_eq!(poseidon(&[Fr::ZERO; 16])?, fr(ZEROS_16)?);
        Ok(())
    }

    #[test]
    fn hash_many_matches_circomlibjs_chaining() -> anyhow::Result<()> {
        for (n, expected) in MANY {
            assert_eq!(hash_many(&many_inputs(n)), fr(expected)?, "length {n}");
        }
        Ok(())
    }

    #[test]
    fn hash_many_binds_the_length() {
        // Zero padding must not collide with explicit zeros.
        let one = [Fr::from(5)];
        let padded = [Fr::from(5), Fr::ZERO];
        assert_ne!(hash_many(&one), hash_many(&padded));
        assert_ne!(hash_many(&[]), hash_many(&[Fr::ZERO]));
    }

    #[test]
    fn shifted_constants_give_the_same_permutation() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(17);
        for arity in Arity::all() {
            let params = PoseidonParams::get(arity);
            for _ in 0..3 {
                let input: Vec<Fr> = (0..arity.width())
                    .map(|_| Fr::from(rng.gen::<u64>()) * Fr::from(rng.gen::<u64>()))
                    .collect();
                let mut reference = input.clone();
                permute(params, &mut reference);
                let mut shifted = input;
                permute_with(
                    params,
                    &mut shifted,
                    PoseidonParams::shifted_round_constants,
                );
                assert_eq!(shifted, reference, "arity {}", arity.get());
            }
            // Partial rounds add a constant to lane 0 only; full rounds other than the first
            // after the partial rounds keep the reference constants.
            let first_partial = FULL_ROUNDS / 2;
            let after = first_partial + arity.partial_rounds();
            for round in 0..params.rounds() {
                let shifted = params.shifted_round_constants(round);
                if params.is_full_round(round) && round != after {
                    assert_eq!(shifted, params.round_constants(round));
                } else if !params.is_full_round(round) {
                    assert!(shifted.iter().skip(1).all(|c| *c == Fr::ZERO));
                }
            }
            assert_ne!(
                params.shifted_round_constants(after),
                params.round_constants(after)
            );
        }
    }

    #[test]
    fn unsupported_arities_are_errors() {
        assert!(matches!(
            poseidon(&[]),
            Err(CircuitError::InvalidParams { value: 0, .. })
        ));
        assert!(matches!(
            poseidon(&[Fr::ONE; 17]),
            Err(CircuitError::InvalidParams { value: 17, .. })
        ));
    }
}
