//! Proving and verification: KZG on BN254, SHPLONK multi-open, EVM Keccak transcript.
//!
//! The transcript is snark-verifier's [`EvmTranscript`]: Keccak-256 challenges, points written
//! uncompressed as big-endian `x ‖ y` (64 bytes), scalars as 32 big-endian bytes — exactly what
//! a Solidity verifier reads. (halo2's own `Keccak256Write` writes compressed points and is not
//! EVM-compatible.) Blinding randomness comes fresh from the OS ([`OsRng`]), so proofs are
//! randomized: compare verification results, never proof bytes.

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{self, Circuit, ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::{AccumulatorStrategy, SingleStrategy};
use halo2_proofs::poly::VerificationStrategy;
use rand::rngs::OsRng;
use snark_verifier::loader::native::NativeLoader;
use snark_verifier::system::halo2::transcript::evm::{ChallengeEvm, EvmTranscript};

use crate::error::{ProverError, Result};
use crate::keys::vk_k;
use crate::srs::Srs;
use crate::util::contain_panic;

/// Proves `circuit` (with its witness) against `pk`, exposing `instances` (one vector per
/// instance column, in the circuit's column order). Returns the proof bytes.
///
/// The SRS `k` must equal the key's `k`. The prover does not check that the witness satisfies
/// the circuit; an unsatisfied circuit yields a proof that fails [`verify`].
#[tracing::instrument(skip_all, fields(k = srs.k()))]
pub fn prove<C: Circuit<Fr>>(
    srs: &Srs,
    pk: &ProvingKey<G1Affine>,
    circuit: &C,
    instances: &[Vec<Fr>],
) -> Result<Vec<u8>> {
    crate::cpu::check()?;
    check_k(srs, pk.get_vk())?;
    check_instances(pk.get_vk(), instances)?;
    let columns: Vec<&[Fr]> = instances.iter().map(Vec::as_slice).collect();
    let proof = contain_panic("create_proof", || {
        let mut transcript =
            EvmTranscript::<G1Affine, NativeLoader, Vec<u8>, Vec<u8>>::new(Vec::new());
        plonk::create_proof::<
            KZGCommitmentScheme<Bn256>,
            ProverSHPLONK<'_, Bn256>,
            ChallengeEvm<G1Affine>,
            _,
            _,
            _,
        >(
            srs.params(),
            pk,
            std::slice::from_ref(circuit),
            &[columns.as_slice()],
            OsRng,
            &mut transcript,
        )
        .map_err(|source| ProverError::Halo2 {
            stage: "prove",
            source,
        })?;
        Ok(transcript.finalize())
    })?;
    tracing::info!(proof_bytes = proof.len(), "proof created");
    Ok(proof)
}

/// Verifies `proof` for `instances` against `vk` (SHPLONK, single-proof strategy).
///
/// Rejects proofs with bytes left over after the transcript, so a proof has one encoding.
#[tracing::instrument(skip_all, fields(k = srs.k()))]
pub fn verify(
    srs: &Srs,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Vec<Fr>],
    proof: &[u8],
) -> Result<()> {
    crate::cpu::check()?;
    check_k(srs, vk)?;
    check_instances(vk, instances)?;
    let columns: Vec<&[Fr]> = instances.iter().map(Vec::as_slice).collect();
    let mut reader = proof;
    contain_panic("verify_proof", || {
        let mut transcript = EvmTranscript::<G1Affine, NativeLoader, _, Vec<u8>>::new(&mut reader);
        plonk::verify_proof::<
            KZGCommitmentScheme<Bn256>,
            VerifierSHPLONK<'_, Bn256>,
            ChallengeEvm<G1Affine>,
            _,
            SingleStrategy<'_, Bn256>,
        >(
            srs.params().verifier_params(),
            vk,
            SingleStrategy::new(srs.params()),
            &[columns.as_slice()],
            &mut transcript,
        )
        .map_err(|source| ProverError::VerificationFailed { source })
    })?;
    if !reader.is_empty() {
        return Err(ProverError::TrailingProofBytes {
            count: reader.len(),
        });
    }
    Ok(())
}

/// Verifies several proofs for one verifying key with a single final pairing check
/// (`AccumulatorStrategy`; each proof's contribution is scaled by fresh randomness). Succeeds
/// only if every proof is valid; on failure it does not say which one failed — fall back to
/// [`verify`] per proof for that.
#[tracing::instrument(skip_all, fields(k = srs.k(), proofs = items.len()))]
pub fn verify_batch(
    srs: &Srs,
    vk: &VerifyingKey<G1Affine>,
    items: &[(Vec<Vec<Fr>>, Vec<u8>)],
) -> Result<()> {
    check_k(srs, vk)?;
    let mut strategy = AccumulatorStrategy::new(srs.params());
    for (instances, proof) in items {
        check_instances(vk, instances)?;
        let columns: Vec<&[Fr]> = instances.iter().map(Vec::as_slice).collect();
        let mut reader = proof.as_slice();
        strategy = contain_panic("verify_proof", || {
            let mut transcript =
                EvmTranscript::<G1Affine, NativeLoader, _, Vec<u8>>::new(&mut reader);
            plonk::verify_proof::<
                KZGCommitmentScheme<Bn256>,
                VerifierSHPLONK<'_, Bn256>,
                ChallengeEvm<G1Affine>,
                _,
                AccumulatorStrategy<'_, Bn256>,
            >(
                srs.params().verifier_params(),
                vk,
                strategy,
                &[columns.as_slice()],
                &mut transcript,
            )
            .map_err(|source| ProverError::VerificationFailed { source })
        })?;
        if !reader.is_empty() {
            return Err(ProverError::TrailingProofBytes {
                count: reader.len(),
            });
        }
    }
    let valid = VerificationStrategy::<
        '_,
        KZGCommitmentScheme<Bn256>,
        VerifierSHPLONK<'_, Bn256>,
    >::finalize(strategy);
    if valid {
        Ok(())
    } else {
        Err(ProverError::VerificationFailed {
            source: plonk::Error::ConstraintSystemFailure,
        })
    }
}

/// EVM calldata for a verifier contract: every instance (columns concatenated in order) as a
/// 32-byte big-endian word, then the proof bytes — the layout of snark-verifier's
/// `encode_calldata`.
pub fn encode_calldata(instances: &[Vec<Fr>], proof: &[u8]) -> Vec<u8> {
    snark_verifier::loader::evm::encode_calldata(instances, proof)
}

fn check_k(srs: &Srs, vk: &VerifyingKey<G1Affine>) -> Result<()> {
    let key_k = vk_k(vk);
    if srs.k() != key_k {
        return Err(ProverError::KMismatch {
            srs_k: srs.k(),
            key_k,
        });
    }
    Ok(())
}

/// Instance shape must match the circuit: right column count, and each column short enough to
/// fit in the usable rows (halo2 would otherwise error late or assert).
fn check_instances(vk: &VerifyingKey<G1Affine>, instances: &[Vec<Fr>]) -> Result<()> {
    let cs = vk.cs();
    if instances.len() != cs.num_instance_columns() {
        return Err(ProverError::InstanceColumns {
            expected: cs.num_instance_columns(),
            found: instances.len(),
        });
    }
    let max = (1usize << vk_k(vk)).saturating_sub(cs.blinding_factors() + 1);
    for (column, values) in instances.iter().enumerate() {
        if values.len() > max {
            return Err(ProverError::InstanceTooLong {
                column,
                len: values.len(),
                max,
            });
        }
    }
    Ok(())
}
