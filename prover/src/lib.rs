//! SRS handling, key generation, proving and verification for zkgrid.
//!
//! Proof system: halo2 (halo2-axiom 0.5.3) with KZG commitments on BN254, SHPLONK multi-open
//! and snark-verifier's EVM Keccak transcript (uncompressed points), so proofs verify both
//! natively ([`verify`]) and in a Solidity verifier ([`encode_calldata`]).
//! Everything is generic over `C: halo2_proofs::plonk::Circuit<Fr>`.
//!
//! | module | what |
//! |---|---|
//! | [`srs`] | [`Srs`]: INSECURE dev SRS with an on-disk cache ([`DevSrsCache`]), halo2 params files, snarkjs `.ptau` import; validation |
//! | [`keys`] | [`keygen`], canonical vk bytes and [`VkHash`], proving-key cache files |
//! | [`proof`] | [`prove`], [`verify`], [`verify_batch`], [`encode_calldata`] |
//! | [`bundle`] | [`ProofBundle`] JSON with strict, typed parsing |
//! | [`model`] | the model pipeline: [`model::setup`] (plan, SRS, cached keys), [`model::ModelKeys::prove`], [`model::verify_bundle`] |
//! | [`estimate`] | [`estimate_proving_memory`] for capacity planning |
//! | [`vectors`] | committed test vectors: [`vectors::generate`], [`vectors::replay`] |
//! | [`cpu`] | [`cpu::check`]: the CPU has the instructions the field arithmetic uses |
//! | [`error`] | [`ProverError`] |
//!
//! Typical flow:
//!
//! ```text
//! let srs = DevSrsCache::new(data_dir).with_generate_k(max_k).load(k)?;   // or Srs::from_ptau(..)
//! let keys = keygen(&srs, &circuit.without_witnesses(), KeygenOptions::default())?;
//! let proof = prove(&srs, keys.pk(), &circuit, &instances)?;
//! verify(&srs, keys.vk(), &instances, &proof)?;
//! let bundle = ProofBundle::new(model_hash, keys.vk(), &srs, instances, proof, output);
//! ```
#![deny(missing_docs)]

pub mod bundle;
pub mod cpu;
pub mod error;
pub mod estimate;
pub mod keys;
pub mod model;
pub mod proof;
pub mod srs;
mod util;
pub mod vectors;

pub use bundle::{ProofBundle, BUNDLE_FORMAT_VERSION};
pub use error::{ProverError, Result};
pub use estimate::{estimate_proving_memory, CircuitShape, MemoryEstimate};
pub use keys::{
    keygen, keygen_vk, pk_from_bytes, pk_to_bytes, read_pk, read_vk, vk_from_bytes, vk_hash, vk_k,
    vk_to_bytes, write_pk, write_vk, CircuitKeys, KeygenOptions, VkHash,
};
pub use proof::{encode_calldata, prove, verify, verify_batch};
pub use srs::{DevSrsCache, Srs, SrsInfo, SrsSource, DEV_SRS_LABEL, MAX_K};

/// The halo2 crate this prover is built on (halo2-axiom), for callers that build circuits.
pub use halo2_proofs;
