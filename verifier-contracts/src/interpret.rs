//! Native interpreter of a verification [`Program`], with exactly the semantics of the
//! Solidity interpreter (same checks, same transcript). It lets the program be checked against
//! halo2's native verifier without an EVM, and serves as the differential oracle for the
//! contract.

use halo2_proofs::halo2curves::bn256::{
    multi_miller_loop, Fq, Fq2, Fr, G1Affine, G2Affine, G2Prepared, Gt,
};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::{Curve, Group};
use halo2_proofs::halo2curves::pairing::MillerLoopResult;
use halo2_proofs::halo2curves::{Coordinates, CurveAffine};
use sha3::{Digest, Keccak256};

use crate::error::{EvmError, Result};
use crate::program::{fq_word, fr_word, Op, Program, Word};

/// Why a proof was rejected by [`run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The proof does not have the program's exact length.
    ProofLength,
    /// A proof scalar is not canonical.
    NonCanonicalScalar,
    /// A proof point has a coordinate `>= q` or is not on the curve.
    InvalidPoint,
    /// The final pairing check failed.
    Pairing,
}

fn fr(word: &Word) -> Option<Fr> {
    let mut le = *word;
    le.reverse();
    Option::from(Fr::from_repr(le))
}

fn fq(word: &Word) -> Option<Fq> {
    let mut le = *word;
    le.reverse();
    Option::from(Fq::from_repr(le))
}

fn g1(x: &Word, y: &Word) -> Option<G1Affine> {
    let (x, y) = (fq(x)?, fq(y)?);
    if x.is_zero_vartime() && y.is_zero_vartime() {
        return Some(G1Affine::identity());
    }
    Option::from(G1Affine::from_xy(x, y))
}

fn g1_words(p: &G1Affine) -> [Word; 2] {
    let coordinates: Option<Coordinates<G1Affine>> = Option::from(p.coordinates());
    match coordinates {
        Some(c) => [fq_word(c.x()), fq_word(c.y())],
        None => [[0u8; 32]; 2],
    }
}

fn g2(words: &[Word]) -> Option<G2Affine> {
    let [x1, x0, y1, y0] = [
        fq(&words[0])?,
        fq(&words[1])?,
        fq(&words[2])?,
        fq(&words[3])?,
    ];
    let x = Fq2 { c0: x0, c1: x1 };
    let y = Fq2 { c0: y0, c1: y1 };
    Option::from(G2Affine::from_xy(x, y))
}

/// Runs `program` on the flat public `instances` and the `proof` bytes. `Ok(Ok(()))` means the
/// proof is accepted; `Ok(Err(rejection))` says why it was rejected; `Err` means the program or
/// the instance count is malformed.
pub fn run(
    program: &Program,
    instances: &[Fr],
    proof: &[u8],
) -> Result<std::result::Result<(), Rejection>> {
    if instances.len() != program.total_instances() {
        return Err(EvmError::InputShape {
            what: "instances",
            expected: program.total_instances(),
            found: instances.len(),
        });
    }
    if proof.len() != program.proof_len {
        return Ok(Err(Rejection::ProofLength));
    }
    let mut mem: Vec<Word> = vec![[0u8; 32]; program.num_slots];
    mem[..program.consts.len()].copy_from_slice(&program.consts);
    let mut transcript: Vec<u8> = Vec::new();
    let mut cursor = 0usize;
    let mut acc = G1Affine::identity().to_curve();
    let mut verdict: std::result::Result<(), Rejection> = Err(Rejection::Pairing);

    let bad = |problem: &'static str| EvmError::MalformedProgram { problem };
    let get = |mem: &Vec<Word>, i: u16| -> Result<Word> {
        mem.get(i as usize).copied().ok_or(bad("slot index"))
    };
    let scalar = |mem: &Vec<Word>, i: u16| -> Result<Fr> {
        fr(&get(mem, i)?).ok_or(bad("non-canonical scalar slot"))
    };
    let set = |mem: &mut Vec<Word>, i: u16, w: Word| -> Result<()> {
        *mem.get_mut(i as usize).ok_or(bad("slot index"))? = w;
        Ok(())
    };

    for op in &program.ops {
        match *op {
            Op::Add { d, a, b } => {
                let v = scalar(&mem, a)? + scalar(&mem, b)?;
                set(&mut mem, d, fr_word(&v))?;
            }
            Op::Sub { d, a, b } => {
                let v = scalar(&mem, a)? - scalar(&mem, b)?;
                set(&mut mem, d, fr_word(&v))?;
            }
            Op::Mul { d, a, b } => {
                let v = scalar(&mem, a)? * scalar(&mem, b)?;
                set(&mut mem, d, fr_word(&v))?;
            }
            Op::Mac { d, a, b, c } => {
                let v = scalar(&mem, a)? * scalar(&mem, b)? + scalar(&mem, c)?;
                set(&mut mem, d, fr_word(&v))?;
            }
            Op::Inv { d, a } => {
                let v = Option::from(scalar(&mem, a)?.invert()).unwrap_or(Fr::ZERO);
                set(&mut mem, d, fr_word(&v))?;
            }
            Op::ReadScalar { d } => {
                let word: Word = proof_word(proof, cursor)?;
                cursor += 32;
                if fr(&word).is_none() {
                    return Ok(Err(Rejection::NonCanonicalScalar));
                }
                transcript.extend_from_slice(&word);
                set(&mut mem, d, word)?;
            }
            Op::ReadPoint { d } => {
                let x: Word = proof_word(proof, cursor)?;
                let y: Word = proof_word(proof, cursor + 32)?;
                cursor += 64;
                if g1(&x, &y).is_none() {
                    return Ok(Err(Rejection::InvalidPoint));
                }
                transcript.extend_from_slice(&x);
                transcript.extend_from_slice(&y);
                set(&mut mem, d, x)?;
                set(&mut mem, d.wrapping_add(1), y)?;
            }
            Op::Absorb { a } => transcript.extend_from_slice(&get(&mem, a)?),
            Op::AbsorbInstances => {
                for value in instances {
                    transcript.extend_from_slice(&fr_word(value));
                }
            }
            Op::Squeeze { d } => {
                if transcript.len() == 32 {
                    transcript.push(1);
                }
                let hash: [u8; 32] = Keccak256::digest(&transcript).into();
                transcript = hash.to_vec();
                set(&mut mem, d, fr_word(&reduce(&hash)))?;
            }
            Op::InstanceFraction {
                d,
                x,
                s0,
                step,
                start,
                len,
            } => {
                let (x, s0, step) = (scalar(&mem, x)?, scalar(&mem, s0)?, scalar(&mem, step)?);
                let values = instances
                    .get(start as usize..start as usize + len as usize)
                    .ok_or(bad("instance range"))?;
                // The contract's running fraction, step for step.
                let (mut num, mut den, mut z) = (Fr::ZERO, Fr::ONE, x * s0);
                for value in values {
                    let diff = z - Fr::ONE;
                    num = num * diff + *value * den;
                    den *= diff;
                    z *= step;
                }
                set(&mut mem, d, fr_word(&num))?;
                set(&mut mem, d.wrapping_add(1), fr_word(&den))?;
            }
            Op::MsmAcc { p, s } => {
                let point =
                    g1(&get(&mem, p)?, &get(&mem, p.wrapping_add(1))?).ok_or(bad("msm point"))?;
                acc += point * scalar(&mem, s)?;
            }
            Op::MsmAdd { p } => {
                let point =
                    g1(&get(&mem, p)?, &get(&mem, p.wrapping_add(1))?).ok_or(bad("msm point"))?;
                acc += point;
            }
            Op::Pairing { a, g2a, g2b } => {
                let a = g1(&get(&mem, a)?, &get(&mem, a.wrapping_add(1))?)
                    .ok_or(bad("pairing point"))?;
                let words = |start: u16| -> Result<Vec<Word>> {
                    (0..4).map(|i| get(&mem, start.wrapping_add(i))).collect()
                };
                let ga = g2(&words(g2a)?).ok_or(bad("g2 point"))?;
                let gb = g2(&words(g2b)?).ok_or(bad("g2 point"))?;
                let acc_affine = acc.to_affine();
                // Round-trip through words as the EVM does.
                let [ax, ay] = g1_words(&acc_affine);
                let acc_affine = g1(&ax, &ay).ok_or(bad("accumulator"))?;
                let (pa, pb) = (G2Prepared::from(ga), G2Prepared::from(gb));
                let result: Gt =
                    multi_miller_loop(&[(&a, &pa), (&acc_affine, &pb)]).final_exponentiation();
                verdict = if bool::from(result.is_identity()) {
                    Ok(())
                } else {
                    Err(Rejection::Pairing)
                };
            }
        }
    }
    Ok(verdict)
}

fn proof_word(proof: &[u8], at: usize) -> Result<Word> {
    proof
        .get(at..at + 32)
        .and_then(|s| <Word>::try_from(s).ok())
        .ok_or(EvmError::MalformedProgram {
            problem: "proof read past the program's proof length",
        })
}

/// `hash mod r` for a big-endian 256-bit hash.
fn reduce(hash: &[u8; 32]) -> Fr {
    // hash = hi · 2^128 + lo
    let shift = Fr::from_u128(1u128 << 64) * Fr::from_u128(1u128 << 64);
    let hi = u128::from_be_bytes(hash[..16].try_into().unwrap_or([0u8; 16]));
    let lo = u128::from_be_bytes(hash[16..].try_into().unwrap_or([0u8; 16]));
    Fr::from_u128(hi) * shift + Fr::from_u128(lo)
}
