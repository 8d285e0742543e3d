//! In-process EVM (revm 43): deploy the VK data contracts and the verifier, call
//! `verifyProof`, report the verdict and the gas.

use halo2_proofs::halo2curves::bn256::Fr;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{MainBuilder, MainContext, MainnetContext, MainnetEvm};
use revm::primitives::{Address, Bytes, TxKind};
use revm::ExecuteCommitEvm;
use sha3::{Digest, Keccak256};

use crate::error::{EvmError, Result};
use crate::program::fr_word;
use crate::solidity::{GeneratedVerifier, EIP170_LIMIT};

/// Gas limit of every transaction (below Osaka's per-transaction cap of 2^24).
pub const TX_GAS_LIMIT: u64 = 16_000_000;

/// Gas limit of transactions on a runner without the EIP-170 limit (oversized contracts cost
/// more to deploy than one Osaka transaction may use; the cap is lifted there too).
pub const UNLIMITED_TX_GAS_LIMIT: u64 = 1_000_000_000;

type Db = CacheDB<EmptyDB>;

/// A fresh in-memory chain with one funded-free caller (fees are disabled).
pub struct EvmRunner {
    evm: MainnetEvm<MainnetContext<Db>>,
    caller: Address,
    gas_limit: u64,
}

impl std::fmt::Debug for EvmRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmRunner")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// A deployed contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployed {
    /// Its address.
    pub address: Address,
    /// Its runtime code size in bytes.
    pub runtime_size: usize,
    /// Gas used by the deployment transaction.
    pub gas_used: u64,
}

/// Result of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// The call returned (did not revert or halt).
    pub success: bool,
    /// Returned (or revert) data.
    pub output: Vec<u8>,
    /// Gas used by the transaction (intrinsic + calldata + execution).
    pub gas_used: u64,
}

/// The verdict of `verifyProof`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `true` iff the call returned ABI `true`; a revert or `false` is a rejection.
    pub accepted: bool,
    /// Gas used by the transaction.
    pub gas_used: u64,
}

impl EvmRunner {
    /// A new chain. With `enforce_eip170 = false`, contracts above 24,576 bytes may be
    /// deployed and transactions may use more gas (for measuring oversized reference
    /// verifiers).
    pub fn new(enforce_eip170: bool) -> Self {
        let ctx = Context::mainnet()
            .modify_cfg_chained(|cfg| {
                cfg.disable_nonce_check = true;
                if !enforce_eip170 {
                    cfg.limit_contract_code_size = Some(usize::MAX);
                    cfg.limit_contract_initcode_size = Some(usize::MAX);
                    cfg.tx_gas_limit_cap = Some(u64::MAX);
                }
            })
            .with_db(CacheDB::new(EmptyDB::default()));
        Self {
            evm: ctx.build_mainnet(),
            caller: Address::repeat_byte(0x5a),
            gas_limit: if enforce_eip170 {
                TX_GAS_LIMIT
            } else {
                UNLIMITED_TX_GAS_LIMIT
            },
        }
    }

    fn transact(&mut self, kind: TxKind, data: Vec<u8>) -> Result<ExecutionResult> {
        let tx = TxEnv::builder()
            .caller(self.caller)
            .kind(kind)
            .data(Bytes::from(data))
            .gas_limit(self.gas_limit)
            .gas_price(0)
            .build_fill();
        self.evm
            .transact_commit(tx)
            .map_err(|source| EvmError::Evm { source })
    }

    /// Deploys `creation_code` (constructor arguments already appended).
    pub fn deploy(&mut self, what: &'static str, creation_code: Vec<u8>) -> Result<Deployed> {
        let result = self.transact(TxKind::Create, creation_code)?;
        let gas_used = result.tx_gas_used();
        match result {
            ExecutionResult::Success {
                output: Output::Create(runtime, Some(address)),
                ..
            } => Ok(Deployed {
                address,
                runtime_size: runtime.len(),
                gas_used,
            }),
            ExecutionResult::Success { .. } => Err(EvmError::Deploy {
                what,
                reason: "no contract created".into(),
            }),
            ExecutionResult::Revert { output, .. } => Err(EvmError::Deploy {
                what,
                reason: format!("reverted: 0x{}", hex::encode(output)),
            }),
            ExecutionResult::Halt { reason, .. } => Err(EvmError::Deploy {
                what,
                reason: format!("halted: {reason:?}"),
            }),
        }
    }

    /// Calls `to` with `calldata`.
    pub fn call(&mut self, to: Address, calldata: Vec<u8>) -> Result<CallOutcome> {
        let result = self.transact(TxKind::Call(to), calldata)?;
        let gas_used = result.tx_gas_used();
        Ok(match result {
            ExecutionResult::Success { output, .. } => CallOutcome {
                success: true,
                output: output.into_data().to_vec(),
                gas_used,
            },
            ExecutionResult::Revert { output, .. } => CallOutcome {
                success: false,
                output: output.to_vec(),
                gas_used,
            },
            ExecutionResult::Halt { .. } => CallOutcome {
                success: false,
                output: Vec::new(),
                gas_used,
            },
        })
    }
}

/// `bytes4(keccak256("verifyProof(bytes,uint256[])"))`.
pub fn verify_proof_selector() -> [u8; 4] {
    let hash = Keccak256::digest(b"verifyProof(bytes,uint256[])");
    [hash[0], hash[1], hash[2], hash[3]]
}

fn u256_word(value: usize) -> [u8; 32] {
    let mut word = [0u8; 32];
    word[24..].copy_from_slice(&(value as u64).to_be_bytes());
    word
}

/// Canonical ABI calldata of `verifyProof(bytes proof, uint256[] instances)`.
pub fn verify_proof_calldata(proof: &[u8], instances: &[Fr]) -> Vec<u8> {
    let padded = proof.len().div_ceil(32) * 32;
    let mut out = Vec::with_capacity(4 + 0x80 + padded + 32 * instances.len());
    out.extend_from_slice(&verify_proof_selector());
    out.extend_from_slice(&u256_word(0x40));
    out.extend_from_slice(&u256_word(0x40 + 0x20 + padded));
    out.extend_from_slice(&u256_word(proof.len()));
    out.extend_from_slice(proof);
    out.resize(4 + 0x60 + padded, 0);
    out.extend_from_slice(&u256_word(instances.len()));
    for value in instances {
        out.extend_from_slice(&fr_word(value));
    }
    out
}

/// A deployed generated verifier with its VK data contracts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployedVerifier {
    /// The verifier contract.
    pub verifier: Deployed,
    /// The VK data contracts, in order.
    pub vk: Vec<Deployed>,
}

impl DeployedVerifier {
    /// Largest runtime among the verifier and its VK contracts.
    pub fn max_runtime_size(&self) -> usize {
        self.vk
            .iter()
            .map(|d| d.runtime_size)
            .chain([self.verifier.runtime_size])
            .max()
            .unwrap_or(0)
    }
}

/// Deploys the VK data contracts of `generated`, then the verifier (`verifier_creation_code`,
/// compiled from `generated.solidity`) with their addresses as constructor arguments. Fails
/// with [`EvmError::CodeTooLarge`] if any runtime exceeds EIP-170.
pub fn deploy_verifier(
    runner: &mut EvmRunner,
    generated: &GeneratedVerifier,
    verifier_creation_code: &[u8],
) -> Result<DeployedVerifier> {
    let mut vk = Vec::new();
    for code in generated.vk_creation_codes() {
        vk.push(runner.deploy("VK data contract", code)?);
    }
    let mut creation = verifier_creation_code.to_vec();
    for d in &vk {
        let mut word = [0u8; 32];
        word[12..].copy_from_slice(d.address.as_slice());
        creation.extend_from_slice(&word);
    }
    let verifier = runner.deploy("verifier", creation)?;
    let deployed = DeployedVerifier { verifier, vk };
    let size = deployed.max_runtime_size();
    if size > EIP170_LIMIT {
        return Err(EvmError::CodeTooLarge {
            what: "verifier or VK contract",
            size,
            limit: EIP170_LIMIT,
        });
    }
    Ok(deployed)
}

/// Calls `verifyProof(proof, instances)` on `verifier`.
pub fn call_verify_proof(
    runner: &mut EvmRunner,
    verifier: Address,
    proof: &[u8],
    instances: &[Fr],
) -> Result<Verdict> {
    call_verify_raw(runner, verifier, verify_proof_calldata(proof, instances))
}

/// Calls `verifier` with raw `calldata` and reads a `verifyProof` verdict from the result.
pub fn call_verify_raw(
    runner: &mut EvmRunner,
    verifier: Address,
    calldata: Vec<u8>,
) -> Result<Verdict> {
    let outcome = runner.call(verifier, calldata)?;
    let mut one = [0u8; 32];
    one[31] = 1;
    Ok(Verdict {
        accepted: outcome.success && outcome.output.as_slice() == one,
        gas_used: outcome.gas_used,
    })
}
