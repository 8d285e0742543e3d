//! End to end on a real node: anvil (pinned npm package, installed by the crate's tooling when
//! missing) on 127.0.0.1, driven through alloy.
//!
//! mlp_tiny (zoo, default quantization) with a Poseidon-hashed input and a public output: the
//! generated verifier, its VK code contracts and Settlement are deployed; a requester posts a
//! task with escrow; a front-runner replays the prover's proof and gets a revert (simulated and
//! mined); the prover submits its real proof and withdraws. Balances are checked to the wei
//! against the receipts' gas fees, and the settlement events against the task.

mod common;

use anyhow::{anyhow, ensure, Context as _};
use common::hashed::hashed_model;
use zkgrid_circuits::model::{commitment, recipient_from_address, InstanceLayout};
use zkgrid_evm::anvil::Anvil;
use zkgrid_evm::rpc::{RpcChain, RpcSettlement};
use zkgrid_evm::settlement::input_digest;
use zkgrid_evm::{
    compile_settlement, Address, EvmError, SettlementEvent, SettlementRevert, Solc, TaskSpec,
    TaskState, EIP170_LIMIT, U256,
};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;

use alloy::primitives::B256;
use alloy::signers::local::PrivateKeySigner;

const ETH: u128 = 1_000_000_000_000_000_000;

/// A deterministic local key (never a real account).
fn signer(byte: u8) -> anyhow::Result<PrivateKeySigner> {
    Ok(PrivateKeySigner::from_bytes(&B256::repeat_byte(byte))?)
}

/// The recipient-slot value of an address.
fn slot_of(address: Address) -> Fr {
    recipient_from_address(&address.0 .0)
}

/// Everything produced off chain: the proof bound to the prover, the contracts' bytecode.
struct OffChain {
    layout: InstanceLayout,
    input_commitment: Fr,
    proof: Vec<u8>,
    instances: Vec<Fr>,
    generated: zkgrid_evm::GeneratedVerifier,
    verifier_creation: Vec<u8>,
    settlement: zkgrid_evm::CompiledContract,
}

fn off_chain(prover: Address) -> anyhow::Result<OffChain> {
    let tiny = hashed_model("mlp_tiny")?;
    let (proof, instances) = tiny.prove(&tiny.input, &prover.0 .0)?;
    let (generated, verifier) = tiny.verifier()?;
    let settlement = compile_settlement(&Solc::pinned())?;
    Ok(OffChain {
        layout: tiny.layout.clone(),
        input_commitment: commitment(&tiny.input),
        proof,
        instances,
        generated,
        verifier_creation: verifier.creation,
        settlement,
    })
}

#[test]
fn settle_a_real_proof_on_anvil() -> anyhow::Result<()> {
    let requester = signer(0xa1)?;
    let prover = signer(0xb2)?;
    let front_runner = signer(0xc3)?;
    let (req, prv, runner) = (
        requester.address(),
        prover.address(),
        front_runner.address(),
    );

    let started = std::time::Instant::now();
    let off = off_chain(prv).context("keygen, proof and contracts")?;
    eprintln!(
        "off chain (keygen, proof, solc): {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(on_chain(
        &off,
        requester,
        prover,
        front_runner,
        [req, prv, runner],
    ))?;
    eprintln!("total: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn on_chain(
    off: &OffChain,
    requester: PrivateKeySigner,
    prover: PrivateKeySigner,
    front_runner: PrivateKeySigner,
    [req, prv, runner]: [Address; 3],
) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let anvil = Anvil::spawn_default().await?;
    let chain = RpcChain::connect(&anvil.endpoint(), vec![requester, prover, front_runner])?;
    ensure!(chain.chain_id().await? == anvil.chain_id());
    let funds = U256::from(100 * ETH);
    for who in [req, prv, runner] {
        chain.anvil_set_balance(who, funds).await?;
        ensure!(chain.balance(who).await? == funds);
    }
    eprintln!(
        "anvil up on port {} in {:.2} s",
        anvil.port(),
        t.elapsed().as_secs_f64()
    );

    // Deploy: VK code contracts, verifier, settlement.
    let deployed = chain
        .deploy_verifier(req, &off.generated, &off.verifier_creation)
        .await?;
    ensure!(deployed.vk.len() == off.generated.vk_creation_codes().len());
    for d in deployed.vk.iter().chain([&deployed.verifier]) {
        ensure!(d.runtime_size > 0 && d.runtime_size <= EIP170_LIMIT);
    }
    let (settlement, d) = RpcSettlement::deploy(&chain, req, &off.settlement).await?;
    ensure!(d.runtime_size <= EIP170_LIMIT);
    eprintln!(
        "deployed on anvil: {} VK contract(s) ({} gas), verifier {} bytes ({} gas), settlement {} bytes ({} gas)",
        deployed.vk.len(),
        deployed.vk.iter().map(|v| v.tx.gas_used).sum::<u64>(),
        deployed.verifier.runtime_size,
        deployed.verifier.tx.gas_used,
        d.runtime_size,
        d.tx.gas_used
    );

    // Post a task with 1.5 ETH escrow.
    let reward = U256::from(3 * ETH / 2);
    let deadline = chain.latest_timestamp().await? + 3_600;
    let spec = TaskSpec {
        verifier: deployed.verifier.address,
        model_commitment: deployed.code_hash,
        input: vec![off.input_commitment],
        input_offset: u32::try_from(off.layout.input_range().start)?,
        recipient_index: u32::try_from(off.layout.recipient_index())?,
        recipient: None,
        deadline,
        reward,
    };
    let requester_before = chain.balance(req).await?;
    let posted = settlement.post_task(&chain, req, &spec).await?;
    let task = posted.value;
    ensure!(
        posted.events
            == vec![SettlementEvent::TaskPosted {
                task_id: task,
                requester: req,
                verifier: deployed.verifier.address,
                model_commitment: deployed.code_hash,
                input_digest: input_digest(&spec.input),
                recipient: Address::ZERO,
                reward,
                deadline,
            }],
        "TaskPosted: {:?}",
        posted.events
    );
    ensure!(chain.balance(req).await? == requester_before - reward - posted.tx.fee());
    ensure!(chain.balance(settlement.address).await? == reward);
    ensure!(settlement.task(&chain, task).await?.state == TaskState::Open);

    // A front-runner copies the prover's proof: the simulation reverts with the typed error...
    match settlement
        .submit(&chain, runner, task, &off.proof, &off.instances)
        .await
    {
        Err(EvmError::SettlementReverted { revert, .. }) => ensure!(
            *revert
                == SettlementRevert::RecipientMismatch {
                    expected: runner,
                    slot: U256::from_be_bytes(zkgrid_evm::program::fr_word(&slot_of(prv))),
                },
            "front-runner revert: {revert}"
        ),
        other => return Err(anyhow!("front-runner was not rejected: {other:?}")),
    }
    // ... and the same transaction forced on chain is mined as a failure that costs only gas.
    let runner_before = chain.balance(runner).await?;
    let forced = chain
        .send_unchecked(
            runner,
            settlement.address,
            U256::ZERO,
            zkgrid_evm::settlement::submit_calldata(task, &off.proof, &off.instances),
            3_000_000,
        )
        .await?;
    ensure!(!forced.success, "the front-runner's transaction succeeded");
    ensure!(chain.balance(runner).await? == runner_before - forced.fee());
    ensure!(settlement.credit(&chain, runner).await? == U256::ZERO);
    ensure!(settlement.task(&chain, task).await?.state == TaskState::Open);

    // The prover submits its proof.
    let prover_start = chain.balance(prv).await?;
    let submitted = settlement
        .submit(&chain, prv, task, &off.proof, &off.instances)
        .await?;
    ensure!(
        submitted.events
            == vec![SettlementEvent::TaskSettled {
                task_id: task,
                recipient: prv,
                submitter: prv,
                reward,
            }],
        "TaskSettled: {:?}",
        submitted.events
    );
    ensure!(settlement.task(&chain, task).await?.state == TaskState::Settled);
    ensure!(settlement.credit(&chain, prv).await? == reward);
    let after_submit = chain.balance(prv).await?;
    ensure!(after_submit == prover_start - submitted.tx.fee());
    eprintln!(
        "gas on anvil: Settlement.submit (verifies the proof) = {} gas, postTask = {}, front-runner's failed submit = {}",
        submitted.tx.gas_used, posted.tx.gas_used, forced.gas_used
    );

    // Paid once: a second submission is rejected.
    match settlement
        .submit(&chain, prv, task, &off.proof, &off.instances)
        .await
    {
        Err(EvmError::SettlementReverted { revert, .. }) => ensure!(
            *revert
                == SettlementRevert::TaskClosed {
                    task_id: task,
                    state: TaskState::Settled,
                },
            "second submit: {revert}"
        ),
        other => return Err(anyhow!("second submit was not rejected: {other:?}")),
    }

    // Withdraw: the prover's ETH grows by exactly reward − gas.
    let withdrawn = settlement.withdraw(&chain, prv).await?;
    ensure!(
        withdrawn.events
            == vec![SettlementEvent::Withdrawn {
                account: prv,
                amount: reward,
            }],
        "Withdrawn: {:?}",
        withdrawn.events
    );
    let end = chain.balance(prv).await?;
    ensure!(end == after_submit + reward - withdrawn.tx.fee());
    ensure!(end == prover_start + reward - submitted.tx.fee() - withdrawn.tx.fee());
    ensure!(settlement.credit(&chain, prv).await? == U256::ZERO);
    ensure!(chain.balance(settlement.address).await? == U256::ZERO);
    eprintln!(
        "withdraw = {} gas; prover net gain {} wei (reward {} wei); on-chain part {:.2} s",
        withdrawn.tx.gas_used,
        end - prover_start,
        reward,
        t.elapsed().as_secs_f64()
    );
    drop(anvil);
    Ok(())
}
