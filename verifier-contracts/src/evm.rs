//! In-process EVM (revm 43): deploy the VK code contracts and the verifier, call
//! `verifyProof`, report the verdict and the gas. The runner also sends value from any
//! account, sets balances and the block timestamp, and returns event logs — what settlement
//! tests need.

use halo2_proofs::halo2curves::bn256::Fr;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{MainBuilder, MainContext, MainnetContext, MainnetEvm};
use revm::primitives::{Address, Bytes, TxKind, U256};
use revm::state::AccountInfo;
use revm::{Database, ExecuteCommitEvm};

use crate::abi::{self, Token};
use crate::error::{EvmError, Result};
use crate::solidity::{GeneratedVerifier, EIP170_LIMIT};

/// Gas limit of every transaction (below Osaka's per-transaction cap of 2^24).
pub const TX_GAS_LIMIT: u64 = 16_000_000;

/// Gas limit of transactions on a runner without the EIP-170 limit (oversized contracts cost
/// more to deploy than one Osaka transaction may use; the cap is lifted there too).
pub const UNLIMITED_TX_GAS_LIMIT: u64 = 1_000_000_000;

type Db = CacheDB<EmptyDB>;

/// A fresh in-memory chain. Gas is free (gas price 0); [`EvmRunner::deploy`] and
/// [`EvmRunner::call`] come from a default caller, [`EvmRunner::call_from`] from any account
/// with enough balance for the value it sends.
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

/// An event log emitted by a successful transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLog {
    /// The emitting contract.
    pub address: Address,
    /// Topics (topic 0 is the event signature hash for non-anonymous events).
    pub topics: Vec<[u8; 32]>,
    /// Non-indexed data.
    pub data: Vec<u8>,
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
    /// Logs of a successful call (empty otherwise).
    pub logs: Vec<EventLog>,
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

    /// The chain's context (state, block and configuration).
    pub(crate) fn context(&self) -> &MainnetContext<Db> {
        &self.evm.ctx
    }

    /// Gas limit of this runner's transactions.
    pub(crate) fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    /// The default caller of [`EvmRunner::deploy`] and [`EvmRunner::call`].
    pub fn caller(&self) -> Address {
        self.caller
    }

    fn transact(&mut self, kind: TxKind, data: Vec<u8>) -> Result<ExecutionResult> {
        self.transact_from(self.caller, kind, data, U256::ZERO)
    }

    fn transact_from(
        &mut self,
        caller: Address,
        kind: TxKind,
        data: Vec<u8>,
        value: U256,
    ) -> Result<ExecutionResult> {
        let tx = TxEnv::builder()
            .caller(caller)
            .kind(kind)
            .value(value)
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

    /// Calls `to` with `calldata` from the default caller, sending no value.
    pub fn call(&mut self, to: Address, calldata: Vec<u8>) -> Result<CallOutcome> {
        self.call_from(self.caller, to, U256::ZERO, calldata)
    }

    /// Calls `to` with `calldata` from `from`, sending `value` wei (which `from` must hold).
    pub fn call_from(
        &mut self,
        from: Address,
        to: Address,
        value: U256,
        calldata: Vec<u8>,
    ) -> Result<CallOutcome> {
        let result = self.transact_from(from, TxKind::Call(to), calldata, value)?;
        let gas_used = result.tx_gas_used();
        Ok(match result {
            ExecutionResult::Success { output, logs, .. } => CallOutcome {
                success: true,
                output: output.into_data().to_vec(),
                gas_used,
                logs: logs
                    .into_iter()
                    .map(|log| EventLog {
                        address: log.address,
                        topics: log.data.topics().iter().map(|t| t.0).collect(),
                        data: log.data.data.to_vec(),
                    })
                    .collect(),
            },
            ExecutionResult::Revert { output, .. } => CallOutcome {
                success: false,
                output: output.to_vec(),
                gas_used,
                logs: Vec::new(),
            },
            ExecutionResult::Halt { .. } => CallOutcome {
                success: false,
                output: Vec::new(),
                gas_used,
                logs: Vec::new(),
            },
        })
    }

    fn db(&mut self) -> &mut Db {
        &mut self.evm.ctx.journaled_state.database
    }

    fn account(&mut self, account: Address) -> Option<AccountInfo> {
        match self.db().basic(account) {
            Ok(info) => info,
            Err(never) => match never {},
        }
    }

    /// Sets the balance of `account` to `wei`.
    pub fn set_balance(&mut self, account: Address, wei: U256) {
        let mut info = self.account(account).unwrap_or_default();
        info.balance = wei;
        self.db().insert_account_info(account, info);
    }

    /// The balance of `account` in wei.
    pub fn balance(&mut self, account: Address) -> U256 {
        self.account(account)
            .map(|info| info.balance)
            .unwrap_or_default()
    }

    /// The code hash of `account` as `EXTCODEHASH` reports it: zero for an account that does
    /// not exist, `keccak256("")` for one without code.
    pub fn code_hash(&mut self, account: Address) -> [u8; 32] {
        self.account(account)
            .map(|info| info.code_hash.0)
            .unwrap_or_default()
    }

    /// Sets the timestamp of the blocks that later transactions run in.
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.evm
            .ctx
            .modify_block(|block| block.timestamp = U256::from(timestamp));
    }

    /// The current block timestamp.
    pub fn timestamp(&self) -> u64 {
        self.evm.ctx.block.timestamp.saturating_to::<u64>()
    }
}

/// `bytes4(keccak256("verifyProof(bytes,uint256[])"))`.
pub fn verify_proof_selector() -> [u8; 4] {
    abi::selector("verifyProof(bytes,uint256[])")
}

/// Canonical ABI calldata of `verifyProof(bytes proof, uint256[] instances)`.
pub fn verify_proof_calldata(proof: &[u8], instances: &[Fr]) -> Vec<u8> {
    abi::encode_call(
        verify_proof_selector(),
        &[Token::Bytes(proof), Token::Scalars(instances)],
    )
}

/// Selector of `verifyProofs(bytes[],uint256[][])` (batch verification, one pairing).
pub fn verify_proofs_selector() -> [u8; 4] {
    abi::selector("verifyProofs(bytes[],uint256[][])")
}

/// Canonical calldata of `verifyProofs(proofs, instances)` for a batch of
/// `(proof, instances)` pairs.
pub fn verify_proofs_calldata(batch: &[(&[u8], &[Fr])]) -> Vec<u8> {
    let proofs: Vec<&[u8]> = batch.iter().map(|(p, _)| *p).collect();
    let instances: Vec<&[Fr]> = batch.iter().map(|(_, i)| *i).collect();
    abi::encode_call(
        verify_proofs_selector(),
        &[Token::BytesList(&proofs), Token::ScalarsList(&instances)],
    )
}

/// Calls `verifyProofs` on `verifier` for `batch`: accepted iff every proof is valid.
pub fn call_verify_proofs(
    runner: &mut EvmRunner,
    verifier: Address,
    batch: &[(&[u8], &[Fr])],
) -> Result<Verdict> {
    call_verify_raw(runner, verifier, verify_proofs_calldata(batch))
}

/// A deployed generated verifier with its VK code contracts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployedVerifier {
    /// The verifier contract.
    pub verifier: Deployed,
    /// The VK code contracts, in order.
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

/// Deploys the VK code contracts of `generated`, then the verifier (`verifier_creation_code`,
/// compiled from `generated.solidity`) with their addresses as constructor arguments. Fails
/// with [`EvmError::CodeTooLarge`] if any runtime exceeds EIP-170.
pub fn deploy_verifier(
    runner: &mut EvmRunner,
    generated: &GeneratedVerifier,
    verifier_creation_code: &[u8],
) -> Result<DeployedVerifier> {
    let mut vk = Vec::new();
    for code in generated.vk_creation_codes() {
        vk.push(runner.deploy("VK code contract", code)?);
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
