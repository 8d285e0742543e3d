//! Settlement.sol in revm with real proofs: mlp_tiny (zoo, default quantization) with a
//! Poseidon-hashed input and a public output, proven by `zkgrid_prover::model` and checked by
//! the verifier zkgrid-evm generates for its key.
//!
//! One keygen and one compilation per test binary (a `OnceLock` fixture); proofs are cached by
//! (input, recipient). Every test starts from a fresh chain with the verifier, its VK contracts
//! and the settlement contract deployed. `private_weights_task_pins_the_weights_commitment`
//! sets up its own mlp_tiny with private (hashed) weights.

mod common;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use anyhow::{anyhow, ensure, Context as _};
use common::hashed::{hashed_model, HashedModel};
use zkgrid_circuits::model::{commitment, recipient_from_address};
use zkgrid_evm::abi::{self, address_word, encode_call, selector, Token, Words};
use zkgrid_evm::settlement::{errors, events, functions, input_digest};
use zkgrid_evm::{
    call_verify_proof, compile_settlement, deploy_verifier, Address, CompiledContract, EvmError,
    EvmRunner, GeneratedVerifier, SettlementContract, SettlementEvent, SettlementRevert, Solc,
    SolcSettings, TaskSpec, TaskState, EIP170_LIMIT, U256,
};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;

/// A recipient contract that re-enters the settlement contract from `receive`.
const ATTACKER_SOURCE: &str = r#"
// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

interface ISettlement {
    function submit(uint256 taskId, bytes calldata proof, uint256[] calldata instances) external;
    function withdraw() external;
}

/// Claims a reward, then tries to withdraw it again (and to submit again) while the payout
/// is in flight.
contract ReentrantRecipient {
    ISettlement public immutable settlement;
    uint256 public payouts;
    uint256 public failedReentries;
    bytes4 public lastWithdrawError;
    bytes4 public lastSubmitError;
    uint256 private taskId;

    constructor(ISettlement s) {
        settlement = s;
    }

    function claim(uint256 id, bytes calldata proof, uint256[] calldata instances) external {
        taskId = id;
        settlement.submit(id, proof, instances);
    }

    function cashOut() external {
        settlement.withdraw();
    }

    receive() external payable {
        payouts += 1;
        for (uint256 i = 0; i < 3; ++i) {
            try settlement.withdraw() {} catch (bytes memory reason) {
                failedReentries += 1;
                lastWithdrawError = bytes4(reason);
            }
        }
        try settlement.submit(taskId, "", new uint256[](0)) {} catch (bytes memory reason) {
            failedReentries += 1;
            lastSubmitError = bytes4(reason);
        }
    }
}
"#;

const ATTACKER_CONTRACT: &str = "ReentrantRecipient";

const ETH: u128 = 1_000_000_000_000_000_000;
const START: u64 = 1_700_000_000;
const DEADLINE: u64 = START + 3_600;

fn wei(eth_tenths: u128) -> U256 {
    U256::from(eth_tenths * ETH / 10)
}

/// The recipient-slot value of an address.
fn slot_of(address: Address) -> Fr {
    recipient_from_address(&address.0 .0)
}

fn requester() -> Address {
    Address::repeat_byte(0xa1)
}
fn prover() -> Address {
    Address::repeat_byte(0xb2)
}
fn front_runner() -> Address {
    Address::repeat_byte(0xc3)
}

/// Which input a proof is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Input {
    A,
    B,
}

/// A proof and its flat public instances.
type ProofAndInstances = (Vec<u8>, Vec<Fr>);

struct Fixture {
    model: HashedModel,
    inputs: HashMap<Input, Vec<i64>>,
    generated: GeneratedVerifier,
    verifier: CompiledContract,
    settlement: CompiledContract,
    attacker: CompiledContract,
    proofs: Mutex<HashMap<(Input, Address), ProofAndInstances>>,
}

fn build_fixture() -> anyhow::Result<Fixture> {
    let model = hashed_model("mlp_tiny")?;
    let input_a = model.input.clone();
    let other: Vec<f64> = model.sample.iter().map(|x| 1.0 - x).collect();
    let input_b = model.quantize(&other)?;
    ensure!(input_a != input_b, "the two inputs must differ");

    let (generated, verifier) = model.verifier()?;
    let solc = Solc::pinned();
    let settlement = compile_settlement(&solc)?;
    let attacker = solc.compile(ATTACKER_SOURCE, ATTACKER_CONTRACT, SolcSettings::default())?;
    println!(
        "mlp_tiny (hashed input, public output): k = {}, {} instances, Settlement runtime {} bytes",
        model.keys.plan.settings.k,
        model.layout.len(),
        settlement.runtime.len()
    );
    Ok(Fixture {
        model,
        inputs: HashMap::from([(Input::A, input_a), (Input::B, input_b)]),
        generated,
        verifier,
        settlement,
        attacker,
        proofs: Mutex::new(HashMap::new()),
    })
}

fn fixture() -> anyhow::Result<&'static Fixture> {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| build_fixture().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("fixture: {e}"))
}

impl Fixture {
    fn input(&self, which: Input) -> anyhow::Result<&[i64]> {
        self.inputs
            .get(&which)
            .map(Vec::as_slice)
            .ok_or_else(|| anyhow!("no input {which:?}"))
    }

    /// The Poseidon commitment of an input: the task's input instance.
    fn input_commitment(&self, which: Input) -> anyhow::Result<Fr> {
        Ok(commitment(self.input(which)?))
    }

    /// A proof of `which` bound to `recipient`, with its flat instances.
    fn proof(&self, which: Input, recipient: Address) -> anyhow::Result<(Vec<u8>, Vec<Fr>)> {
        let mut cache = self.proofs.lock().map_err(|_| anyhow!("poisoned"))?;
        if let Some(hit) = cache.get(&(which, recipient)) {
            return Ok(hit.clone());
        }
        let entry = self.model.prove(self.input(which)?, &recipient.0 .0)?;
        cache.insert((which, recipient), entry.clone());
        Ok(entry)
    }
}

/// A fresh chain: verifier + VK contracts + Settlement deployed, accounts funded.
struct Chain {
    evm: EvmRunner,
    verifier: Address,
    model_commitment: [u8; 32],
    settlement: SettlementContract,
}

const FUNDS: u128 = 100;

impl Chain {
    fn new(f: &Fixture) -> anyhow::Result<Self> {
        let mut evm = EvmRunner::new(true);
        evm.set_timestamp(START);
        for who in [requester(), prover(), front_runner()] {
            evm.set_balance(who, U256::from(FUNDS * ETH));
        }
        let deployed = deploy_verifier(&mut evm, &f.generated, &f.verifier.creation)?;
        let verifier = deployed.verifier.address;
        let model_commitment = evm.code_hash(verifier);
        let (settlement, d) = SettlementContract::deploy(&mut evm, &f.settlement)?;
        ensure!(d.runtime_size <= EIP170_LIMIT);
        Ok(Self {
            evm,
            verifier,
            model_commitment,
            settlement,
        })
    }

    fn spec(&self, f: &Fixture, which: Input, reward: U256) -> anyhow::Result<TaskSpec> {
        Ok(TaskSpec {
            verifier: self.verifier,
            model_commitment: self.model_commitment,
            input: vec![f.input_commitment(which)?],
            input_offset: u32::try_from(f.model.layout.input_range().start)?,
            recipient_index: u32::try_from(f.model.layout.recipient_index())?,
            recipient: None,
            deadline: DEADLINE,
            reward,
        })
    }

    fn post(&mut self, spec: &TaskSpec) -> anyhow::Result<U256> {
        let receipt = self
            .settlement
            .post_task(&mut self.evm, requester(), spec)?;
        Ok(receipt.value)
    }

    fn submit(
        &mut self,
        from: Address,
        task: U256,
        proof: &[u8],
        instances: &[Fr],
    ) -> zkgrid_evm::Result<zkgrid_evm::settlement::Receipt<()>> {
        self.settlement
            .submit(&mut self.evm, from, task, proof, instances)
    }

    fn credit(&mut self, who: Address) -> anyhow::Result<U256> {
        Ok(self.settlement.credit(&mut self.evm, who)?)
    }

    fn state(&mut self, task: U256) -> anyhow::Result<TaskState> {
        Ok(self.settlement.task(&mut self.evm, task)?.state)
    }

    fn escrow(&mut self) -> U256 {
        self.evm.balance(self.settlement.address)
    }
}

/// The revert of a settlement call, or an error if it did not revert.
fn reverted<T: std::fmt::Debug>(result: zkgrid_evm::Result<T>) -> anyhow::Result<SettlementRevert> {
    match result {
        Err(EvmError::SettlementReverted { revert, .. }) => Ok(*revert),
        other => Err(anyhow!("expected a revert, got {other:?}")),
    }
}

fn view_word(evm: &mut EvmRunner, to: Address, signature: &str) -> anyhow::Result<[u8; 32]> {
    let outcome = evm.call(to, selector(signature).to_vec())?;
    ensure!(outcome.success, "{signature} failed");
    Ok(Words::exact("view", &outcome.output, 1)?.word(0)?)
}

#[test]
fn abi_of_compiled_contract_matches_rust_signatures() -> anyhow::Result<()> {
    let f = fixture()?;
    let entries = f
        .settlement
        .abi
        .as_array()
        .ok_or_else(|| anyhow!("abi is not an array"))?;
    let mut found = std::collections::BTreeMap::<&str, Vec<String>>::new();
    for entry in entries {
        let kind = entry["type"].as_str().unwrap_or_default();
        if !["function", "event", "error"].contains(&kind) {
            continue;
        }
        let inputs: Vec<&str> = entry["inputs"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["type"].as_str()).collect())
            .unwrap_or_default();
        let name = entry["name"].as_str().unwrap_or_default();
        found
            .entry(kind)
            .or_default()
            .push(format!("{name}({})", inputs.join(",")));
    }
    for (kind, rust) in [
        ("function", &functions::ALL[..]),
        ("event", &events::ALL[..]),
        ("error", &errors::ALL[..]),
    ] {
        let mut abi = found.remove(kind).unwrap_or_default();
        abi.sort();
        let mut ours: Vec<String> = rust.iter().map(|s| s.to_string()).collect();
        ours.sort();
        ensure!(abi == ours, "{kind}s: solc {abi:?} vs Rust {ours:?}");
    }
    ensure!(f.settlement.runtime.len() <= EIP170_LIMIT);
    Ok(())
}

#[test]
fn valid_proof_pays_once() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut chain = Chain::new(f)?;
    let reward = wei(10);
    let spec = chain.spec(f, Input::A, reward)?;
    let posted = chain
        .settlement
        .post_task(&mut chain.evm, requester(), &spec)?;
    let task = posted.value;
    ensure!(task == U256::from(1u8));
    ensure!(
        posted.events
            == vec![SettlementEvent::TaskPosted {
                task_id: task,
                requester: requester(),
                verifier: chain.verifier,
                model_commitment: chain.model_commitment,
                input_digest: input_digest(&spec.input),
                recipient: Address::ZERO,
                reward,
                deadline: DEADLINE,
            }],
        "TaskPosted: {:?}",
        posted.events
    );
    ensure!(chain.escrow() == reward);
    ensure!(chain.evm.balance(requester()) == U256::from(FUNDS * ETH) - reward);

    let (proof, instances) = f.proof(Input::A, prover())?;
    let direct = call_verify_proof(&mut chain.evm, chain.verifier, &proof, &instances)?;
    ensure!(direct.accepted, "the generated verifier rejects the proof");

    let settled = chain.submit(prover(), task, &proof, &instances)?;
    ensure!(
        settled.events
            == vec![SettlementEvent::TaskSettled {
                task_id: task,
                recipient: prover(),
                submitter: prover(),
                reward,
            }],
        "TaskSettled: {:?}",
        settled.events
    );
    ensure!(chain.state(task)? == TaskState::Settled);
    ensure!(chain.credit(prover())? == reward);

    // Second claim, same prover and proof.
    let again = reverted(chain.submit(prover(), task, &proof, &instances))?;
    ensure!(
        again
            == SettlementRevert::TaskClosed {
                task_id: task,
                state: TaskState::Settled
            },
        "{again}"
    );
    ensure!(chain.credit(prover())? == reward, "credited twice");

    let before = chain.evm.balance(prover());
    let withdrawn = chain.settlement.withdraw(&mut chain.evm, prover())?;
    ensure!(
        withdrawn.events
            == vec![SettlementEvent::Withdrawn {
                account: prover(),
                amount: reward
            }]
    );
    ensure!(
        chain.evm.balance(prover()) == before + reward,
        "paid exactly the reward"
    );
    ensure!(chain.escrow() == U256::ZERO);
    ensure!(chain.credit(prover())? == U256::ZERO);
    let twice = reverted(chain.settlement.withdraw(&mut chain.evm, prover()))?;
    ensure!(twice == SettlementRevert::NothingToWithdraw { account: prover() });
    ensure!(chain.evm.balance(prover()) == before + reward);

    println!(
        "gas: postTask {}, verifyProof (direct) {}, submit (verify + settle) {}, withdraw {}",
        posted.gas_used, direct.gas_used, settled.gas_used, withdrawn.gas_used
    );
    // The settlement checks cost little next to verification: its calldata is the verifier's
    // plus one word, and the checks are a few storage reads and one keccak.
    ensure!(
        settled.gas_used < direct.gas_used + 60_000,
        "settlement overhead {} gas",
        settled.gas_used - direct.gas_used.min(settled.gas_used)
    );
    Ok(())
}

#[test]
fn tampered_proof_reverts_and_leaves_the_task_open() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut chain = Chain::new(f)?;
    let reward = wei(5);
    let task = chain.post(&chain.spec(f, Input::A, reward)?)?;
    let (proof, instances) = f.proof(Input::A, prover())?;

    let mut cases: Vec<(String, Vec<u8>, Vec<Fr>)> = Vec::new();
    for at in [0usize, 31, 64 + 7, proof.len() / 2, proof.len() - 1] {
        let mut p = proof.clone();
        p[at] ^= 0x01;
        cases.push((format!("proof byte {at} flipped"), p, instances.clone()));
    }
    let mut truncated = proof.clone();
    truncated.truncate(proof.len() - 32);
    cases.push(("proof truncated".into(), truncated, instances.clone()));
    let other = f.proof(Input::B, prover())?.0;
    cases.push(("proof of another input".into(), other, instances.clone()));
    for i in f.model.layout.output_range() {
        let mut inst = instances.clone();
        inst[i] += Fr::one();
        cases.push((format!("output instance {i} + 1"), proof.clone(), inst));
    }
    ensure!(cases.len() >= 8);
    for (name, p, inst) in &cases {
        let revert = reverted(chain.submit(prover(), task, p, inst)).context(name.clone())?;
        ensure!(
            revert == SettlementRevert::InvalidProof { task_id: task },
            "{name}: {revert}"
        );
    }
    ensure!(chain.state(task)? == TaskState::Open);
    ensure!(chain.credit(prover())? == U256::ZERO);
    ensure!(chain.escrow() == reward);

    // The untouched proof still settles.
    chain.submit(prover(), task, &proof, &instances)?;
    ensure!(chain.credit(prover())? == reward);
    Ok(())
}

#[test]
fn proof_for_another_task_reverts() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut chain = Chain::new(f)?;
    let reward = wei(3);
    let task_a = chain.post(&chain.spec(f, Input::A, reward)?)?;
    let task_b = chain.post(&chain.spec(f, Input::B, reward)?)?;
    let (proof_b, instances_b) = f.proof(Input::B, prover())?;

    let revert = reverted(chain.submit(prover(), task_a, &proof_b, &instances_b))?;
    let expected = SettlementRevert::InputMismatch {
        task_id: task_a,
        expected: input_digest(&[f.input_commitment(Input::A)?]),
        actual: input_digest(&[f.input_commitment(Input::B)?]),
    };
    ensure!(revert == expected, "{revert}");
    // Relabelling the input instance does not help: the proof no longer verifies.
    let mut relabelled = instances_b.clone();
    relabelled[f.model.layout.input_range().start] = f.input_commitment(Input::A)?;
    let revert = reverted(chain.submit(prover(), task_a, &proof_b, &relabelled))?;
    ensure!(
        revert == SettlementRevert::InvalidProof { task_id: task_a },
        "{revert}"
    );
    ensure!(chain.state(task_a)? == TaskState::Open);
    ensure!(chain.credit(prover())? == U256::ZERO);

    // Its own task accepts it.
    chain.submit(prover(), task_b, &proof_b, &instances_b)?;
    ensure!(chain.state(task_b)? == TaskState::Settled);
    ensure!(chain.state(task_a)? == TaskState::Open);
    ensure!(chain.credit(prover())? == reward);

    // A task must name the verifier by its code hash.
    let mut wrong_model = chain.spec(f, Input::A, reward)?;
    wrong_model.model_commitment[0] ^= 1;
    let revert = reverted(
        chain
            .settlement
            .post_task(&mut chain.evm, requester(), &wrong_model),
    )?;
    ensure!(
        matches!(revert, SettlementRevert::ModelMismatch { verifier, .. } if verifier == chain.verifier),
        "{revert}"
    );
    let unknown = reverted(chain.submit(prover(), U256::from(99u8), &proof_b, &instances_b))?;
    ensure!(
        unknown
            == SettlementRevert::UnknownTask {
                task_id: U256::from(99u8)
            }
    );
    Ok(())
}

#[test]
fn front_runner_gets_nothing() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut chain = Chain::new(f)?;
    let reward = wei(7);
    let task = chain.post(&chain.spec(f, Input::A, reward)?)?;
    let (proof, instances) = f.proof(Input::A, prover())?;
    let runner_funds = chain.evm.balance(front_runner());

    // The copied transaction, sent by someone else.
    let revert = reverted(chain.submit(front_runner(), task, &proof, &instances))?;
    ensure!(
        revert
            == SettlementRevert::RecipientMismatch {
                expected: front_runner(),
                slot: U256::from_be_bytes(address_word(prover())),
            },
        "{revert}"
    );
    // Rewriting the recipient slot to themselves breaks the proof.
    let mut rebound = instances.clone();
    rebound[f.model.layout.recipient_index()] = slot_of(front_runner());
    let revert = reverted(chain.submit(front_runner(), task, &proof, &rebound))?;
    ensure!(
        revert == SettlementRevert::InvalidProof { task_id: task },
        "{revert}"
    );
    ensure!(chain.credit(front_runner())? == U256::ZERO);
    let revert = reverted(chain.settlement.withdraw(&mut chain.evm, front_runner()))?;
    ensure!(
        revert
            == SettlementRevert::NothingToWithdraw {
                account: front_runner()
            }
    );
    ensure!(chain.evm.balance(front_runner()) == runner_funds);

    // The rightful prover still claims.
    let settled = chain.submit(prover(), task, &proof, &instances)?;
    ensure!(matches!(
        settled.events.as_slice(),
        [SettlementEvent::TaskSettled { recipient, submitter, .. }]
            if *recipient == prover() && *submitter == prover()
    ));
    chain.settlement.withdraw(&mut chain.evm, prover())?;
    ensure!(chain.evm.balance(prover()) == U256::from(FUNDS * ETH) + reward);

    // With a named recipient anyone may relay the proof, and only the recipient is paid.
    let mut named = chain.spec(f, Input::A, reward)?;
    named.recipient = Some(prover());
    let task = chain.post(&named)?;
    let relayed = chain.submit(front_runner(), task, &proof, &instances)?;
    ensure!(
        relayed.events
            == vec![SettlementEvent::TaskSettled {
                task_id: task,
                recipient: prover(),
                submitter: front_runner(),
                reward,
            }]
    );
    ensure!(chain.credit(front_runner())? == U256::ZERO);
    ensure!(chain.credit(prover())? == reward);
    Ok(())
}

#[test]
fn reclaim_only_after_deadline_and_only_when_unsettled() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut chain = Chain::new(f)?;
    let reward = wei(4);
    let open = chain.post(&chain.spec(f, Input::A, reward)?)?;
    let settled = chain.post(&chain.spec(f, Input::B, reward)?)?;
    let (proof_b, instances_b) = f.proof(Input::B, prover())?;
    chain.submit(prover(), settled, &proof_b, &instances_b)?;

    // Not before the deadline (the deadline itself still belongs to provers).
    for t in [START, DEADLINE] {
        chain.evm.set_timestamp(t);
        let revert = reverted(chain.settlement.reclaim(&mut chain.evm, requester(), open))?;
        ensure!(
            revert
                == SettlementRevert::DeadlineNotReached {
                    task_id: open,
                    deadline: DEADLINE
                },
            "t = {t}: {revert}"
        );
    }

    chain.evm.set_timestamp(DEADLINE + 1);
    // After it, proofs are refused...
    let (proof_a, instances_a) = f.proof(Input::A, prover())?;
    let revert = reverted(chain.submit(prover(), open, &proof_a, &instances_a))?;
    ensure!(
        revert
            == SettlementRevert::DeadlinePassed {
                task_id: open,
                deadline: DEADLINE
            }
    );
    // ...only the requester may reclaim...
    let revert = reverted(chain.settlement.reclaim(&mut chain.evm, prover(), open))?;
    ensure!(
        revert
            == SettlementRevert::NotRequester {
                caller: prover(),
                requester: requester()
            }
    );
    // ...and not a settled task.
    let revert = reverted(
        chain
            .settlement
            .reclaim(&mut chain.evm, requester(), settled),
    )?;
    ensure!(
        revert
            == SettlementRevert::TaskClosed {
                task_id: settled,
                state: TaskState::Settled
            }
    );

    let reclaimed = chain
        .settlement
        .reclaim(&mut chain.evm, requester(), open)?;
    ensure!(
        reclaimed.events
            == vec![SettlementEvent::TaskReclaimed {
                task_id: open,
                requester: requester(),
                reward
            }]
    );
    ensure!(chain.state(open)? == TaskState::Reclaimed);
    let revert = reverted(chain.settlement.reclaim(&mut chain.evm, requester(), open))?;
    ensure!(
        revert
            == SettlementRevert::TaskClosed {
                task_id: open,
                state: TaskState::Reclaimed
            }
    );

    let before = chain.evm.balance(requester());
    chain.settlement.withdraw(&mut chain.evm, requester())?;
    ensure!(
        chain.evm.balance(requester()) == before + reward,
        "refund of exactly the escrow"
    );
    // What is left in escrow is the settled task's reward, owed to the prover.
    ensure!(chain.escrow() == reward);
    ensure!(chain.credit(prover())? == reward);

    // Posting needs a future deadline and a reward.
    let mut late = chain.spec(f, Input::A, reward)?;
    late.deadline = DEADLINE;
    let revert = reverted(
        chain
            .settlement
            .post_task(&mut chain.evm, requester(), &late),
    )?;
    ensure!(
        matches!(
            revert,
            SettlementRevert::DeadlineInPast {
                deadline: DEADLINE,
                ..
            }
        ),
        "{revert}"
    );
    let mut free = chain.spec(f, Input::A, U256::ZERO)?;
    free.deadline = DEADLINE + 100;
    let revert = reverted(
        chain
            .settlement
            .post_task(&mut chain.evm, requester(), &free),
    )?;
    ensure!(revert == SettlementRevert::InvalidReward { value: U256::ZERO });
    Ok(())
}

#[test]
fn reentrant_recipient_cannot_double_withdraw() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut chain = Chain::new(f)?;
    let reward = wei(6);
    let other_escrow = wei(9);
    let task = chain.post(&chain.spec(f, Input::A, reward)?)?;
    // Someone else's escrow sits in the same contract: a double withdrawal would take it.
    chain.post(&chain.spec(f, Input::B, other_escrow)?)?;
    ensure!(chain.escrow() == reward + other_escrow);

    let mut creation = f.attacker.creation.clone();
    creation.extend_from_slice(&address_word(chain.settlement.address));
    let attacker = chain.evm.deploy("attacker", creation)?.address;
    let (proof, instances) = f.proof(Input::A, attacker)?;

    let claim = encode_call(
        selector("claim(uint256,bytes,uint256[])"),
        &[
            Token::Word(abi::u256_word(task)),
            Token::Bytes(&proof),
            Token::Scalars(&instances),
        ],
    );
    let outcome = chain.evm.call_from(prover(), attacker, U256::ZERO, claim)?;
    ensure!(
        outcome.success,
        "claim: {}",
        SettlementRevert::decode(&outcome.output)
    );
    ensure!(chain.credit(attacker)? == reward);

    let cash_out = selector("cashOut()").to_vec();
    let outcome = chain
        .evm
        .call_from(prover(), attacker, U256::ZERO, cash_out.clone())?;
    ensure!(
        outcome.success,
        "cashOut: {}",
        SettlementRevert::decode(&outcome.output)
    );

    let word_u64 = |w: [u8; 32]| U256::from_be_bytes(w);
    ensure!(
        chain.evm.balance(attacker) == reward,
        "attacker got more than the reward"
    );
    ensure!(chain.escrow() == other_escrow, "other escrow touched");
    ensure!(chain.credit(attacker)? == U256::ZERO);
    ensure!(word_u64(view_word(&mut chain.evm, attacker, "payouts()")?) == U256::from(1u8));
    // 3 withdraw attempts and 1 submit attempt from inside receive(), all refused by the lock.
    ensure!(word_u64(view_word(&mut chain.evm, attacker, "failedReentries()")?) == U256::from(4u8));
    let reentrancy = selector(errors::REENTRANCY);
    for getter in ["lastWithdrawError()", "lastSubmitError()"] {
        let w = view_word(&mut chain.evm, attacker, getter)?;
        ensure!(w[..4] == reentrancy, "{getter}: 0x{}", hex::encode(&w[..4]));
    }

    // Neither a second cash-out nor a second claim pays.
    let outcome = chain
        .evm
        .call_from(prover(), attacker, U256::ZERO, cash_out)?;
    ensure!(!outcome.success);
    ensure!(
        SettlementRevert::decode(&outcome.output)
            == SettlementRevert::NothingToWithdraw { account: attacker }
    );
    let revert = reverted(chain.submit(prover(), task, &proof, &instances))?;
    ensure!(
        revert
            == SettlementRevert::TaskClosed {
                task_id: task,
                state: TaskState::Settled
            }
    );
    ensure!(chain.evm.balance(attacker) == reward);
    ensure!(chain.escrow() == other_escrow);
    Ok(())
}

/// Private weights: the task's statement range starts at the weights commitment, so a proof
/// made with other weights (another commitment) cannot settle it, and relabelling the
/// commitment breaks the proof.
#[test]
fn private_weights_task_pins_the_weights_commitment() -> anyhow::Result<()> {
    use zkgrid_circuits::model::{weights_commitment, WeightsVisibility};
    let visibility = common::hashed::HASHED_INPUT.with_weights(WeightsVisibility::Hashed);
    let model = common::hashed::zoo_model("mlp_tiny", visibility)?;
    let layout = &model.layout;
    ensure!(layout.weights_index() == Some(0) && layout.task_range() == (0..2));
    let (generated, verifier) = model.verifier()?;
    let settlement_code = compile_settlement(&Solc::pinned())?;
    let mut evm = EvmRunner::new(true);
    evm.set_timestamp(START);
    for who in [requester(), prover()] {
        evm.set_balance(who, U256::from(FUNDS * ETH));
    }
    let deployed = deploy_verifier(&mut evm, &generated, &verifier.creation)?;
    let (settlement, _) = SettlementContract::deploy(&mut evm, &settlement_code)?;
    let weights = weights_commitment(&model.keys.model)?;
    let mut other_model = (*model.keys.model).clone();
    if let Some(zkgrid_models::QOp::Dense { weight, .. }) =
        other_model.nodes.first_mut().map(|n| &mut n.op)
    {
        weight[0] += 1;
    }
    let other_weights = weights_commitment(&other_model)?;
    ensure!(other_weights != weights);
    let model_commitment = evm.code_hash(deployed.verifier.address);
    let spec = |w: Fr| -> anyhow::Result<TaskSpec> {
        Ok(TaskSpec {
            verifier: deployed.verifier.address,
            model_commitment,
            input: vec![w, commitment(&model.input)],
            input_offset: u32::try_from(layout.task_range().start)?,
            recipient_index: u32::try_from(layout.recipient_index())?,
            recipient: None,
            deadline: DEADLINE,
            reward: wei(2),
        })
    };
    let (ours, theirs) = (spec(weights)?, spec(other_weights)?);
    let task_ours = settlement.post_task(&mut evm, requester(), &ours)?.value;
    let task_theirs = settlement.post_task(&mut evm, requester(), &theirs)?.value;
    let (proof, instances) = model.prove(&model.input, &prover().0 .0)?;
    ensure!(
        instances[0] == weights,
        "first instance is the weights commitment"
    );

    // A task for other weights: the proof's commitment does not match.
    match settlement.submit(&mut evm, prover(), task_theirs, &proof, &instances) {
        Err(EvmError::SettlementReverted { revert, .. }) => ensure!(
            matches!(*revert, SettlementRevert::InputMismatch { .. }),
            "{revert}"
        ),
        other => return Err(anyhow!("expected InputMismatch, got {other:?}")),
    }
    // Relabelled to the other weights: the proof no longer verifies.
    let mut relabelled = instances.clone();
    relabelled[0] = other_weights;
    match settlement.submit(&mut evm, prover(), task_theirs, &proof, &relabelled) {
        Err(EvmError::SettlementReverted { revert, .. }) => ensure!(
            *revert
                == SettlementRevert::InvalidProof {
                    task_id: task_theirs
                },
            "{revert}"
        ),
        other => return Err(anyhow!("expected InvalidProof, got {other:?}")),
    }
    // The task for the committed weights pays.
    settlement.submit(&mut evm, prover(), task_ours, &proof, &instances)?;
    ensure!(settlement.task(&mut evm, task_ours)?.state == TaskState::Settled);
    ensure!(settlement.task(&mut evm, task_theirs)?.state == TaskState::Open);
    ensure!(settlement.credit(&mut evm, prover())? == wei(2));
    Ok(())
}
