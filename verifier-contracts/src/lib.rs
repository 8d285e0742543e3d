//! Solidity verifier generation and EVM runners for zkgrid.
//!
//! A halo2 verifying key (KZG on BN254, SHPLONK, snark-verifier's EVM Keccak transcript — what
//! `zkgrid-prover` produces) is compiled into a verification [`Program`]; the program becomes
//! straight-line EVM code (and one loop over the public instances) in VK code contracts (each
//! under EIP-170) that a fixed-size Solidity verifier calls in order, so every circuit deploys
//! under EIP-170. The verifier's `verifyProof(bytes, uint256[])` checks one proof;
//! `verifyProofs(bytes[], uint256[][])` checks a batch with one shared pairing (two ecMul per
//! extra proof instead of a pairing and a transaction).
//!
//! | module | what |
//! |---|---|
//! | [`mod@compile`] | verifying key → [`Program`] (transcript, constraints, permutation, lookups, SHPLONK) |
//! | [`program`] | the program's instruction set and compact encoding |
//! | [`codegen`] | program → EVM code, split into code contracts under EIP-170 |
//! | [`interpret`] | native interpreter of a program (the contract's semantics without an EVM) |
//! | [`solidity`] | `Halo2Verifier.sol` (template) and VK code contract bytecode |
//! | [`solc`] | pinned solc-js through standard JSON |
//! | [`evm`] | revm runner: deploy, `verifyProof`, value transfers, logs, gas |
//! | [`profile`] | gas profile of a call: precompiles, Keccak, memory, opcodes |
//! | [`abi`] | the Solidity ABI subset the contracts need (calls, reverts, events) |
//! | [`settlement`] | `Settlement.sol`: escrowed tasks paid for verified proofs |
//! | [`anvil`] | a local anvil node (pinned npm package) on 127.0.0.1, killed on drop |
//! | [`rpc`] | the same deployments and settlement calls on a JSON-RPC node through alloy |
//! | [`error`] | [`EvmError`] |
//!
//! ```text
//! let generated = generate(&KzgVerifierParams::from_srs(&srs), keys.vk(), &[n0, n1])?;
//! let compiled = Solc::pinned().compile(&generated.solidity, VERIFIER_CONTRACT, SolcSettings::default())?;
//! let mut evm = EvmRunner::new(true);
//! let deployed = deploy_verifier(&mut evm, &generated, &compiled.creation)?;
//! let verdict = call_verify_proof(&mut evm, deployed.verifier.address, &proof, &flat_instances)?;
//!
//! let settlement = SettlementContract::deploy(&mut evm, &compile_settlement(&Solc::pinned())?)?.0;
//! let task = settlement.post_task(&mut evm, requester, &TaskSpec { verifier, model_commitment, … })?.value;
//! settlement.submit(&mut evm, prover, task, &proof, &flat_instances)?;  // credits the prover
//! settlement.withdraw(&mut evm, prover)?;
//! ```
#![deny(missing_docs)]

pub mod abi;
pub mod anvil;
pub mod codegen;
pub mod compile;
pub mod error;
pub mod evm;
pub mod interpret;
pub mod profile;
pub mod program;
pub mod rpc;
pub mod settlement;
pub mod solc;
pub mod solidity;

use halo2_proofs::halo2curves::bn256::G1Affine;
use halo2_proofs::plonk::VerifyingKey;

pub use compile::{compile, KzgVerifierParams};
pub use error::{EvmError, Result};
pub use evm::{
    call_verify_proof, call_verify_proofs, call_verify_raw, deploy_verifier, verify_proof_calldata,
    verify_proofs_calldata, CallOutcome, Deployed, DeployedVerifier, EventLog, EvmRunner, Verdict,
};
pub use program::{Op, Program, ProofItem};
pub use revm::primitives::{Address, U256};
pub use settlement::{
    compile_settlement, SettlementContract, SettlementEvent, SettlementRevert, TaskSpec, TaskState,
    SETTLEMENT_CONTRACT,
};
pub use solc::{CompiledContract, Solc, SolcSettings};
pub use solidity::{GeneratedVerifier, EIP170_LIMIT, VERIFIER_CONTRACT};

/// Generates the Solidity verifier and VK code contracts for `vk`, whose instance column `i`
/// holds `num_instances[i]` public values. Deterministic: the same key and layout give
/// byte-identical output. Unsupported circuit shapes are [`EvmError`]s.
#[tracing::instrument(skip_all, fields(k = vk.get_domain().k()))]
pub fn generate(
    params: &KzgVerifierParams,
    vk: &VerifyingKey<G1Affine>,
    num_instances: &[usize],
) -> Result<GeneratedVerifier> {
    let program = compile(params, vk, num_instances)?;
    let digest = program::fr_word(&vk.transcript_repr());
    let generated = solidity::render(&program, vk.get_domain().k(), &digest)?;
    tracing::info!(
        ops = program.ops.len(),
        slots = program.num_slots,
        vk_bytes = generated.vk_runtimes.iter().map(Vec::len).sum::<usize>(),
        vk_chunks = generated.vk_runtimes.len(),
        "generated verifier"
    );
    Ok(generated)
}
