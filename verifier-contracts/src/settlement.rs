//! The settlement contract (`contracts/Settlement.sol`): compile it, encode its calls, decode
//! its reverts, events and views, and drive it on the in-process [`EvmRunner`].
//!
//! A requester posts a task — verifier address, model commitment (the verifier's code hash),
//! the input instances (for a hashed input: the one Poseidon commitment), where the input and
//! the recipient slot sit among the instances, an optional named recipient, a deadline — and
//! escrows the reward. The first valid proof whose recipient slot names the submitter (or the
//! named recipient) settles the task and credits the reward; `withdraw` pays credits out.
//! After the deadline the requester can reclaim an unsettled task's escrow.
//!
//! The calldata builders and decoders are independent of the runner, so a JSON-RPC client can
//! reuse them.

use halo2_proofs::halo2curves::bn256::Fr;
use revm::primitives::{Address, U256};

use crate::abi::{self, address_word, encode_call, u256_word, u64_word, Token, Words};
use crate::error::{EvmError, Result};
use crate::evm::{CallOutcome, Deployed, EventLog, EvmRunner};
use crate::program::{fr_word, Word};
use crate::solc::{CompiledContract, Solc, SolcSettings};

/// Solidity source of the settlement contract.
pub const SETTLEMENT_SOURCE: &str = include_str!("../contracts/Settlement.sol");

/// Name of the settlement contract in [`SETTLEMENT_SOURCE`].
pub const SETTLEMENT_CONTRACT: &str = "Settlement";

/// Function signatures of the settlement contract.
pub mod functions {
    /// `postTask(verifier, modelCommitment, input, inputOffset, recipientIndex, recipient, deadline)`.
    pub const POST_TASK: &str = "postTask(address,bytes32,uint256[],uint32,uint32,address,uint64)";
    /// `submit(taskId, proof, instances)`.
    pub const SUBMIT: &str = "submit(uint256,bytes,uint256[])";
    /// `reclaim(taskId)`.
    pub const RECLAIM: &str = "reclaim(uint256)";
    /// `withdraw()`.
    pub const WITHDRAW: &str = "withdraw()";
    /// `credit(account)` (public mapping getter).
    pub const CREDIT: &str = "credit(address)";
    /// `tasks(taskId)` (public mapping getter).
    pub const TASKS: &str = "tasks(uint256)";
    /// `taskCount()`.
    pub const TASK_COUNT: &str = "taskCount()";
    /// Every function above.
    pub const ALL: [&str; 7] = [
        POST_TASK, SUBMIT, RECLAIM, WITHDRAW, CREDIT, TASKS, TASK_COUNT,
    ];
}

/// Event signatures of the settlement contract.
pub mod events {
    /// Emitted by `postTask`.
    pub const TASK_POSTED: &str =
        "TaskPosted(uint256,address,address,bytes32,bytes32,address,uint256,uint64)";
    /// Emitted by `submit`.
    pub const TASK_SETTLED: &str = "TaskSettled(uint256,address,address,uint256)";
    /// Emitted by `reclaim`.
    pub const TASK_RECLAIMED: &str = "TaskReclaimed(uint256,address,uint256)";
    /// Emitted by `withdraw`.
    pub const WITHDRAWN: &str = "Withdrawn(address,uint256)";
    /// Every event above.
    pub const ALL: [&str; 4] = [TASK_POSTED, TASK_SETTLED, TASK_RECLAIMED, WITHDRAWN];
}

/// Custom-error signatures of the settlement contract.
pub mod errors {
    /// `InvalidReward(value)`.
    pub const INVALID_REWARD: &str = "InvalidReward(uint256)";
    /// `DeadlineInPast(deadline, timestamp)`.
    pub const DEADLINE_IN_PAST: &str = "DeadlineInPast(uint64,uint256)";
    /// `ModelMismatch(verifier, expected, actual)`.
    pub const MODEL_MISMATCH: &str = "ModelMismatch(address,bytes32,bytes32)";
    /// `InvalidLayout()`.
    pub const INVALID_LAYOUT: &str = "InvalidLayout()";
    /// `UnknownTask(taskId)`.
    pub const UNKNOWN_TASK: &str = "UnknownTask(uint256)";
    /// `TaskClosed(taskId, state)`.
    pub const TASK_CLOSED: &str = "TaskClosed(uint256,uint8)";
    /// `DeadlinePassed(taskId, deadline)`.
    pub const DEADLINE_PASSED: &str = "DeadlinePassed(uint256,uint64)";
    /// `DeadlineNotReached(taskId, deadline)`.
    pub const DEADLINE_NOT_REACHED: &str = "DeadlineNotReached(uint256,uint64)";
    /// `InstancesTooShort(length, needed)`.
    pub const INSTANCES_TOO_SHORT: &str = "InstancesTooShort(uint256,uint256)";
    /// `InputMismatch(taskId, expected, actual)`.
    pub const INPUT_MISMATCH: &str = "InputMismatch(uint256,bytes32,bytes32)";
    /// `RecipientMismatch(expected, slot)`.
    pub const RECIPIENT_MISMATCH: &str = "RecipientMismatch(address,uint256)";
    /// `InvalidProof(taskId)`.
    pub const INVALID_PROOF: &str = "InvalidProof(uint256)";
    /// `NotRequester(caller, requester)`.
    pub const NOT_REQUESTER: &str = "NotRequester(address,address)";
    /// `NothingToWithdraw(account)`.
    pub const NOTHING_TO_WITHDRAW: &str = "NothingToWithdraw(address)";
    /// `TransferFailed(account, amount)`.
    pub const TRANSFER_FAILED: &str = "TransferFailed(address,uint256)";
    /// `Reentrancy()`.
    pub const REENTRANCY: &str = "Reentrancy()";
    /// Every error above.
    pub const ALL: [&str; 16] = [
        INVALID_REWARD,
        DEADLINE_IN_PAST,
        MODEL_MISMATCH,
        INVALID_LAYOUT,
        UNKNOWN_TASK,
        TASK_CLOSED,
        DEADLINE_PASSED,
        DEADLINE_NOT_REACHED,
        INSTANCES_TOO_SHORT,
        INPUT_MISMATCH,
        RECIPIENT_MISMATCH,
        INVALID_PROOF,
        NOT_REQUESTER,
        NOTHING_TO_WITHDRAW,
        TRANSFER_FAILED,
        REENTRANCY,
    ];
}

/// Compiles [`SETTLEMENT_SOURCE`] with the optimizer on.
pub fn compile_settlement(solc: &Solc) -> Result<CompiledContract> {
    solc.compile(
        SETTLEMENT_SOURCE,
        SETTLEMENT_CONTRACT,
        SolcSettings::default(),
    )
}

/// Lifecycle of a task (the contract's `State` enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Never posted.
    None,
    /// Posted, waiting for a proof.
    Open,
    /// Paid to a prover.
    Settled,
    /// Escrow returned to the requester.
    Reclaimed,
}

impl TaskState {
    fn from_u64(value: u64) -> Option<Self> {
        match value {
            0 => Some(Self::None),
            1 => Some(Self::Open),
            2 => Some(Self::Settled),
            3 => Some(Self::Reclaimed),
            _ => None,
        }
    }
}

/// What a requester posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// The generated verifier of the model.
    pub verifier: Address,
    /// The verifier's code hash ([`EvmRunner::code_hash`] of the deployed verifier; it embeds
    /// the code hashes of the VK code contracts, so it pins the verifying key).
    pub model_commitment: Word,
    /// The input instances a proof must carry (one Poseidon commitment for a hashed input).
    pub input: Vec<Fr>,
    /// Position of `input[0]` among the instances.
    pub input_offset: u32,
    /// Position of the recipient slot among the instances.
    pub recipient_index: u32,
    /// The only account that may be paid, or `None` for "the submitter, if the proof is bound
    /// to them".
    pub recipient: Option<Address>,
    /// Last block timestamp at which a proof is accepted.
    pub deadline: u64,
    /// Reward in wei, escrowed with the call.
    pub reward: U256,
}

/// A task as the contract stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Who posted it.
    pub requester: Address,
    /// Last timestamp for proofs.
    pub deadline: u64,
    /// Lifecycle state.
    pub state: TaskState,
    /// The verifier.
    pub verifier: Address,
    /// Position of the first input instance.
    pub input_offset: u32,
    /// Number of input instances.
    pub input_length: u32,
    /// Position of the recipient slot.
    pub recipient_index: u32,
    /// Named recipient (zero: the submitter).
    pub recipient: Address,
    /// Escrowed reward in wei.
    pub reward: U256,
    /// The verifier's code hash at posting time.
    pub model_commitment: Word,
    /// [`input_digest`] of the input instances.
    pub input_digest: Word,
}

/// `keccak256` of the input instances as the contract computes it (32-byte big-endian words,
/// concatenated).
pub fn input_digest(input: &[Fr]) -> Word {
    let bytes: Vec<u8> = input.iter().flat_map(fr_word).collect();
    abi::keccak256(&bytes)
}

/// Calldata of `postTask` (send [`TaskSpec::reward`] as the value).
pub fn post_task_calldata(spec: &TaskSpec) -> Vec<u8> {
    encode_call(
        abi::selector(functions::POST_TASK),
        &[
            Token::Word(address_word(spec.verifier)),
            Token::Word(spec.model_commitment),
            Token::Scalars(&spec.input),
            Token::Word(u64_word(u64::from(spec.input_offset))),
            Token::Word(u64_word(u64::from(spec.recipient_index))),
            Token::Word(address_word(spec.recipient.unwrap_or(Address::ZERO))),
            Token::Word(u64_word(spec.deadline)),
        ],
    )
}

/// Calldata of `submit(taskId, proof, instances)`.
pub fn submit_calldata(task_id: U256, proof: &[u8], instances: &[Fr]) -> Vec<u8> {
    encode_call(
        abi::selector(functions::SUBMIT),
        &[
            Token::Word(u256_word(task_id)),
            Token::Bytes(proof),
            Token::Scalars(instances),
        ],
    )
}

/// Calldata of `reclaim(taskId)`.
pub fn reclaim_calldata(task_id: U256) -> Vec<u8> {
    encode_call(
        abi::selector(functions::RECLAIM),
        &[Token::Word(u256_word(task_id))],
    )
}

/// Calldata of `withdraw()`.
pub fn withdraw_calldata() -> Vec<u8> {
    encode_call(abi::selector(functions::WITHDRAW), &[])
}

/// Calldata of `credit(account)`.
pub fn credit_calldata(account: Address) -> Vec<u8> {
    encode_call(
        abi::selector(functions::CREDIT),
        &[Token::Word(address_word(account))],
    )
}

/// Calldata of `tasks(taskId)`.
pub fn task_calldata(task_id: U256) -> Vec<u8> {
    encode_call(
        abi::selector(functions::TASKS),
        &[Token::Word(u256_word(task_id))],
    )
}

/// Decodes the return data of `tasks(taskId)`.
pub fn decode_task(data: &[u8]) -> Result<Task> {
    let w = Words::exact("tasks() return data", data, 11)?;
    let state = w.small_uint(2, 8)?;
    Ok(Task {
        requester: w.address(0)?,
        deadline: w.small_uint(1, 64)?,
        state: TaskState::from_u64(state).ok_or(EvmError::AbiDecode {
            what: "tasks() return data",
            index: 2,
            problem: "unknown task state",
        })?,
        verifier: w.address(3)?,
        input_offset: small_u32(&w, 4)?,
        input_length: small_u32(&w, 5)?,
        recipient_index: small_u32(&w, 6)?,
        recipient: w.address(7)?,
        reward: w.uint(8)?,
        model_commitment: w.word(9)?,
        input_digest: w.word(10)?,
    })
}

fn small_u32(w: &Words<'_>, i: usize) -> Result<u32> {
    // small_uint(_, 32) guarantees the value fits.
    Ok(w.small_uint(i, 32)? as u32)
}

/// Why a settlement call reverted (the contract's custom errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettlementRevert {
    /// Zero reward, or one above 96 bits.
    #[error("invalid reward {value}")]
    InvalidReward {
        /// `msg.value`.
        value: U256,
    },
    /// The deadline was not in the future.
    #[error("deadline {deadline} is not after the block timestamp {timestamp}")]
    DeadlineInPast {
        /// Requested deadline.
        deadline: u64,
        /// Block timestamp.
        timestamp: U256,
    },
    /// The verifier's code hash is not the model commitment (or it has no code).
    #[error("verifier {verifier} has code hash 0x{}, task expects 0x{}", hex::encode(.actual), hex::encode(.expected))]
    ModelMismatch {
        /// The verifier.
        verifier: Address,
        /// The model commitment.
        expected: Word,
        /// The verifier's code hash.
        actual: Word,
    },
    /// Empty, overflowing or overlapping input/recipient positions, or an input value that is
    /// not a field element.
    #[error("invalid instance layout")]
    InvalidLayout,
    /// No such task.
    #[error("unknown task {task_id}")]
    UnknownTask {
        /// The id.
        task_id: U256,
    },
    /// The task is settled or reclaimed.
    #[error("task {task_id} is closed ({state:?})")]
    TaskClosed {
        /// The id.
        task_id: U256,
        /// Its state.
        state: TaskState,
    },
    /// Submission after the deadline.
    #[error("task {task_id}: deadline {deadline} passed")]
    DeadlinePassed {
        /// The id.
        task_id: U256,
        /// Its deadline.
        deadline: u64,
    },
    /// Reclaim before (or at) the deadline.
    #[error("task {task_id}: deadline {deadline} not reached")]
    DeadlineNotReached {
        /// The id.
        task_id: U256,
        /// Its deadline.
        deadline: u64,
    },
    /// Fewer instances than the task's layout needs.
    #[error("{length} instances, the task's layout needs {needed}")]
    InstancesTooShort {
        /// Submitted.
        length: U256,
        /// Needed.
        needed: U256,
    },
    /// The input instances are not the task's.
    #[error("task {task_id}: input digest 0x{}, expected 0x{}", hex::encode(.actual), hex::encode(.expected))]
    InputMismatch {
        /// The id.
        task_id: U256,
        /// The task's input digest.
        expected: Word,
        /// The submitted one.
        actual: Word,
    },
    /// The recipient slot does not name the payee.
    #[error("recipient slot {slot:#x} does not name {expected}")]
    RecipientMismatch {
        /// The payee the slot must name.
        expected: Address,
        /// The submitted slot.
        slot: U256,
    },
    /// The verifier rejected the proof.
    #[error("task {task_id}: invalid proof")]
    InvalidProof {
        /// The id.
        task_id: U256,
    },
    /// Reclaim by someone other than the requester.
    #[error("{caller} is not the requester {requester}")]
    NotRequester {
        /// The caller.
        caller: Address,
        /// The requester.
        requester: Address,
    },
    /// Withdrawal without credit.
    #[error("{account} has nothing to withdraw")]
    NothingToWithdraw {
        /// The caller.
        account: Address,
    },
    /// The ETH transfer of a withdrawal failed.
    #[error("sending {amount} wei to {account} failed")]
    TransferFailed {
        /// The recipient.
        account: Address,
        /// The amount.
        amount: U256,
    },
    /// A guarded function was re-entered.
    #[error("reentrant call")]
    Reentrancy,
    /// Revert data that is none of the contract's errors (empty after an out-of-gas halt,
    /// or bubbled up from elsewhere).
    #[error("unrecognized revert data 0x{}", hex::encode(.data))]
    Unrecognized {
        /// The raw revert data.
        data: Vec<u8>,
    },
}

impl SettlementRevert {
    /// Decodes revert data; anything that is not a well-formed custom error of the contract
    /// becomes [`SettlementRevert::Unrecognized`].
    pub fn decode(data: &[u8]) -> Self {
        Self::try_decode(data).unwrap_or_else(|| Self::Unrecognized {
            data: data.to_vec(),
        })
    }

    fn try_decode(data: &[u8]) -> Option<Self> {
        let (sel, args) = data.split_first_chunk::<4>()?;
        let is = |signature: &str| *sel == abi::selector(signature);
        let words = |count| Words::exact("revert data", args, count).ok();
        use errors::*;
        Some(if is(INVALID_REWARD) {
            let w = words(1)?;
            Self::InvalidReward {
                value: w.uint(0).ok()?,
            }
        } else if is(DEADLINE_IN_PAST) {
            let w = words(2)?;
            Self::DeadlineInPast {
                deadline: w.small_uint(0, 64).ok()?,
                timestamp: w.uint(1).ok()?,
            }
        } else if is(MODEL_MISMATCH) {
            let w = words(3)?;
            Self::ModelMismatch {
                verifier: w.address(0).ok()?,
                expected: w.word(1).ok()?,
                actual: w.word(2).ok()?,
            }
        } else if is(INVALID_LAYOUT) {
            words(0)?;
            Self::InvalidLayout
        } else if is(UNKNOWN_TASK) {
            Self::UnknownTask {
                task_id: words(1)?.uint(0).ok()?,
            }
        } else if is(TASK_CLOSED) {
            let w = words(2)?;
            Self::TaskClosed {
                task_id: w.uint(0).ok()?,
                state: TaskState::from_u64(w.small_uint(1, 8).ok()?)?,
            }
        } else if is(DEADLINE_PASSED) || is(DEADLINE_NOT_REACHED) {
            let w = words(2)?;
            let task_id = w.uint(0).ok()?;
            let deadline = w.small_uint(1, 64).ok()?;
            if is(DEADLINE_PASSED) {
                Self::DeadlinePassed { task_id, deadline }
            } else {
                Self::DeadlineNotReached { task_id, deadline }
            }
        } else if is(INSTANCES_TOO_SHORT) {
            let w = words(2)?;
            Self::InstancesTooShort {
                length: w.uint(0).ok()?,
                needed: w.uint(1).ok()?,
            }
        } else if is(INPUT_MISMATCH) {
            let w = words(3)?;
            Self::InputMismatch {
                task_id: w.uint(0).ok()?,
                expected: w.word(1).ok()?,
                actual: w.word(2).ok()?,
            }
        } else if is(RECIPIENT_MISMATCH) {
            let w = words(2)?;
            Self::RecipientMismatch {
                expected: w.address(0).ok()?,
                slot: w.uint(1).ok()?,
            }
        } else if is(INVALID_PROOF) {
            Self::InvalidProof {
                task_id: words(1)?.uint(0).ok()?,
            }
        } else if is(NOT_REQUESTER) {
            let w = words(2)?;
            Self::NotRequester {
                caller: w.address(0).ok()?,
                requester: w.address(1).ok()?,
            }
        } else if is(NOTHING_TO_WITHDRAW) {
            Self::NothingToWithdraw {
                account: words(1)?.address(0).ok()?,
            }
        } else if is(TRANSFER_FAILED) {
            let w = words(2)?;
            Self::TransferFailed {
                account: w.address(0).ok()?,
                amount: w.uint(1).ok()?,
            }
        } else if is(REENTRANCY) {
            words(0)?;
            Self::Reentrancy
        } else {
            return None;
        })
    }
}

/// An event of the settlement contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettlementEvent {
    /// `TaskPosted`.
    TaskPosted {
        /// Task id.
        task_id: U256,
        /// Requester.
        requester: Address,
        /// Verifier.
        verifier: Address,
        /// Model commitment.
        model_commitment: Word,
        /// [`input_digest`] of the input instances.
        input_digest: Word,
        /// Named recipient (zero: the submitter).
        recipient: Address,
        /// Escrowed reward in wei.
        reward: U256,
        /// Deadline.
        deadline: u64,
    },
    /// `TaskSettled`.
    TaskSettled {
        /// Task id.
        task_id: U256,
        /// Credited account.
        recipient: Address,
        /// Who submitted the proof.
        submitter: Address,
        /// Reward in wei.
        reward: U256,
    },
    /// `TaskReclaimed`.
    TaskReclaimed {
        /// Task id.
        task_id: U256,
        /// Requester (credited).
        requester: Address,
        /// Reward in wei.
        reward: U256,
    },
    /// `Withdrawn`.
    Withdrawn {
        /// Paid account.
        account: Address,
        /// Amount in wei.
        amount: U256,
    },
}

fn topic_address(log: &EventLog, i: usize) -> Result<Address> {
    let topics: Vec<u8> = log.topics.iter().flatten().copied().collect();
    Words::exact("event topics", &topics, log.topics.len())?.address(i)
}

fn topic_uint(log: &EventLog, i: usize) -> Result<U256> {
    log.topics
        .get(i)
        .map(|t| U256::from_be_bytes(*t))
        .ok_or(EvmError::InputShape {
            what: "event topics",
            expected: i + 1,
            found: log.topics.len(),
        })
}

impl SettlementEvent {
    /// Decodes `log` if its topic 0 is one of the contract's events (`Ok(None)` otherwise).
    /// Does not check the emitting address.
    pub fn decode(log: &EventLog) -> Result<Option<Self>> {
        let Some(topic0) = log.topics.first() else {
            return Ok(None);
        };
        let is = |signature: &str| *topic0 == abi::event_topic(signature);
        let expect_topics = |n: usize| {
            if log.topics.len() == n {
                Ok(())
            } else {
                Err(EvmError::InputShape {
                    what: "event topics",
                    expected: n,
                    found: log.topics.len(),
                })
            }
        };
        Ok(Some(if is(events::TASK_POSTED) {
            expect_topics(4)?;
            let w = Words::exact("TaskPosted data", &log.data, 5)?;
            Self::TaskPosted {
                task_id: topic_uint(log, 1)?,
                requester: topic_address(log, 2)?,
                verifier: topic_address(log, 3)?,
                model_commitment: w.word(0)?,
                input_digest: w.word(1)?,
                recipient: w.address(2)?,
                reward: w.uint(3)?,
                deadline: w.small_uint(4, 64)?,
            }
        } else if is(events::TASK_SETTLED) {
            expect_topics(4)?;
            let w = Words::exact("TaskSettled data", &log.data, 1)?;
            Self::TaskSettled {
                task_id: topic_uint(log, 1)?,
                recipient: topic_address(log, 2)?,
                submitter: topic_address(log, 3)?,
                reward: w.uint(0)?,
            }
        } else if is(events::TASK_RECLAIMED) {
            expect_topics(3)?;
            let w = Words::exact("TaskReclaimed data", &log.data, 1)?;
            Self::TaskReclaimed {
                task_id: topic_uint(log, 1)?,
                requester: topic_address(log, 2)?,
                reward: w.uint(0)?,
            }
        } else if is(events::WITHDRAWN) {
            expect_topics(2)?;
            let w = Words::exact("Withdrawn data", &log.data, 1)?;
            Self::Withdrawn {
                account: topic_address(log, 1)?,
                amount: w.uint(0)?,
            }
        } else {
            return Ok(None);
        }))
    }
}

/// A successful settlement transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt<T> {
    /// What the call returned (the task id for `postTask`).
    pub value: T,
    /// Gas used by the transaction.
    pub gas_used: u64,
    /// The settlement contract's events, in order.
    pub events: Vec<SettlementEvent>,
}

/// A deployed settlement contract on an [`EvmRunner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlementContract {
    /// Its address.
    pub address: Address,
}

impl SettlementContract {
    /// Deploys the compiled contract (from [`compile_settlement`]).
    pub fn deploy(runner: &mut EvmRunner, compiled: &CompiledContract) -> Result<(Self, Deployed)> {
        let deployed = runner.deploy("settlement", compiled.creation.clone())?;
        tracing::debug!(address = %deployed.address, gas = deployed.gas_used, "deployed Settlement");
        Ok((
            Self {
                address: deployed.address,
            },
            deployed,
        ))
    }

    fn transact(
        &self,
        runner: &mut EvmRunner,
        call: &'static str,
        from: Address,
        value: U256,
        calldata: Vec<u8>,
    ) -> Result<(CallOutcome, Vec<SettlementEvent>)> {
        let outcome = runner.call_from(from, self.address, value, calldata)?;
        if !outcome.success {
            let revert = SettlementRevert::decode(&outcome.output);
            tracing::debug!(call, %revert, gas = outcome.gas_used, "Settlement call reverted");
            return Err(EvmError::SettlementReverted {
                call,
                revert: Box::new(revert),
            });
        }
        let mut events = Vec::new();
        for log in outcome
            .logs
            .iter()
            .filter(|log| log.address == self.address)
        {
            if let Some(event) = SettlementEvent::decode(log)? {
                events.push(event);
            }
        }
        tracing::debug!(call, gas = outcome.gas_used, "Settlement call");
        Ok((outcome, events))
    }

    /// Posts `spec` from `from`, escrowing `spec.reward`; returns the task id.
    pub fn post_task(
        &self,
        runner: &mut EvmRunner,
        from: Address,
        spec: &TaskSpec,
    ) -> Result<Receipt<U256>> {
        let (outcome, events) = self.transact(
            runner,
            "postTask",
            from,
            spec.reward,
            post_task_calldata(spec),
        )?;
        let task_id = Words::exact("postTask return data", &outcome.output, 1)?.uint(0)?;
        Ok(Receipt {
            value: task_id,
            gas_used: outcome.gas_used,
            events,
        })
    }

    /// Submits a proof for `task_id` from `from`.
    pub fn submit(
        &self,
        runner: &mut EvmRunner,
        from: Address,
        task_id: U256,
        proof: &[u8],
        instances: &[Fr],
    ) -> Result<Receipt<()>> {
        let calldata = submit_calldata(task_id, proof, instances);
        let (outcome, events) = self.transact(runner, "submit", from, U256::ZERO, calldata)?;
        Ok(Receipt {
            value: (),
            gas_used: outcome.gas_used,
            events,
        })
    }

    /// Reclaims the escrow of `task_id` (from its requester, after the deadline).
    pub fn reclaim(
        &self,
        runner: &mut EvmRunner,
        from: Address,
        task_id: U256,
    ) -> Result<Receipt<()>> {
        let calldata = reclaim_calldata(task_id);
        let (outcome, events) = self.transact(runner, "reclaim", from, U256::ZERO, calldata)?;
        Ok(Receipt {
            value: (),
            gas_used: outcome.gas_used,
            events,
        })
    }

    /// Withdraws all credit of `from`.
    pub fn withdraw(&self, runner: &mut EvmRunner, from: Address) -> Result<Receipt<()>> {
        let calldata = withdraw_calldata();
        let (outcome, events) = self.transact(runner, "withdraw", from, U256::ZERO, calldata)?;
        Ok(Receipt {
            value: (),
            gas_used: outcome.gas_used,
            events,
        })
    }

    /// The credit of `account` in wei.
    pub fn credit(&self, runner: &mut EvmRunner, account: Address) -> Result<U256> {
        let caller = runner.caller();
        let (outcome, _) = self.transact(
            runner,
            "credit",
            caller,
            U256::ZERO,
            credit_calldata(account),
        )?;
        Words::exact("credit return data", &outcome.output, 1)?.uint(0)
    }

    /// The stored task `task_id` (all zero, state [`TaskState::None`], if never posted).
    pub fn task(&self, runner: &mut EvmRunner, task_id: U256) -> Result<Task> {
        let caller = runner.caller();
        let (outcome, _) =
            self.transact(runner, "tasks", caller, U256::ZERO, task_calldata(task_id))?;
        decode_task(&outcome.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revert_data(signature: &str, words: &[Word]) -> Vec<u8> {
        let mut data = abi::selector(signature).to_vec();
        for w in words {
            data.extend_from_slice(w);
        }
        data
    }

    #[test]
    fn custom_errors_decode() {
        let who = Address::repeat_byte(0x11);
        assert_eq!(
            SettlementRevert::decode(&revert_data(
                errors::RECIPIENT_MISMATCH,
                &[address_word(who), u64_word(7)]
            )),
            SettlementRevert::RecipientMismatch {
                expected: who,
                slot: U256::from(7u8)
            }
        );
        assert_eq!(
            SettlementRevert::decode(&revert_data(
                errors::TASK_CLOSED,
                &[u64_word(3), u64_word(2)]
            )),
            SettlementRevert::TaskClosed {
                task_id: U256::from(3u8),
                state: TaskState::Settled
            }
        );
        assert_eq!(
            SettlementRevert::decode(&revert_data(errors::REENTRANCY, &[])),
            SettlementRevert::Reentrancy
        );
        // Wrong arity, unknown state and unknown selectors are not guessed at.
        for data in [
            revert_data(errors::REENTRANCY, &[u64_word(1)]),
            revert_data(errors::TASK_CLOSED, &[u64_word(3), u64_word(9)]),
            revert_data("Other()", &[]),
            vec![0x01, 0x02],
        ] {
            assert_eq!(
                SettlementRevert::decode(&data),
                SettlementRevert::Unrecognized { data: data.clone() }
            );
        }
    }

    #[test]
    fn signature_lists_have_distinct_selectors() {
        let mut selectors: Vec<[u8; 4]> = functions::ALL
            .iter()
            .chain(errors::ALL.iter())
            .map(|s| abi::selector(s))
            .collect();
        selectors.sort_unstable();
        selectors.dedup();
        assert_eq!(selectors.len(), functions::ALL.len() + errors::ALL.len());
    }

    #[test]
    fn withdrawn_event_decodes() -> Result<()> {
        let who = Address::repeat_byte(0x22);
        let log = EventLog {
            address: Address::ZERO,
            topics: vec![abi::event_topic(events::WITHDRAWN), address_word(who)],
            data: u64_word(5).to_vec(),
        };
        assert_eq!(
            SettlementEvent::decode(&log)?,
            Some(SettlementEvent::Withdrawn {
                account: who,
                amount: U256::from(5u8)
            })
        );
        let mut short = log.clone();
        short.topics.pop();
        assert!(SettlementEvent::decode(&short).is_err());
        let other = EventLog {
            topics: vec![[0u8; 32]],
            ..log
        };
        assert_eq!(SettlementEvent::decode(&other)?, None);
        Ok(())
    }

    #[test]
    fn input_digest_hashes_big_endian_words() {
        let digest = input_digest(&[Fr::from(1u64)]);
        assert_eq!(digest, abi::keccak256(&u64_word(1)));
    }
}
