//! `zkgrid evm deploy | post-task | submit | withdraw`: the generated verifier and the settlement
//! contract on a JSON-RPC node (through `zkgrid_evm::rpc`).
//!
//! The flow of a marketplace and a prover from the command line:
//!
//! ```text
//! zkgrid evm deploy --rpc-url URL MODEL.zkg.json --input-visibility hashed --settlement -o deployment.json
//! zkgrid evm post-task --rpc-url URL --deployment deployment.json MODEL.zkg.json input.json --reward-wei N
//! zkgrid prove MODEL.zkg.json input.json --input-visibility hashed --recipient PROVER_ADDRESS -o proof.json
//! zkgrid evm submit --rpc-url URL proof.json --task ID --settlement ADDRESS   # as the prover
//! zkgrid evm withdraw --rpc-url URL --settlement ADDRESS                      # as the prover
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use zkgrid_circuits::model::{InstanceLayout, Visibility};
use zkgrid_evm::rpc::{parse_private_key, RpcChain, RpcDeployed, RpcSettlement, TxOutcome};
use zkgrid_evm::settlement::input_digest;
use zkgrid_evm::{
    compile_settlement, Address, EvmError, SettlementEvent, SettlementRevert, Solc, TaskSpec, U256,
};
use zkgrid_models::input::{parse_single, MAX_INPUT_JSON_BYTES};
use zkgrid_models::quantize_input;
use zkgrid_prover::bundle::{fr_to_hex, hex_string};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_prover::halo2_proofs::halo2curves::ff::Field as _;
use zkgrid_prover::model::setup_with;

use super::prove::options;
use super::run::load_compiled;
use super::{load_bundle, read_limited, single_column, write_atomic};
use crate::cli::{
    ChainArgs, EvmDeployArgs, EvmPostTaskArgs, EvmSubmitArgs, EvmWithdrawArgs, SetupArgs,
};
use crate::output::{print_json, table};
use crate::progress::Bars;

/// One deployed contract in a [`Deployment`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeployedContract {
    /// Address (EIP-55).
    pub address: String,
    /// Deployment transaction hash.
    pub tx_hash: String,
    /// Gas used by the deployment.
    pub gas_used: u64,
    /// Runtime code size in bytes.
    pub runtime_bytes: usize,
}

impl From<&RpcDeployed> for DeployedContract {
    fn from(d: &RpcDeployed) -> Self {
        Self {
            address: d.address.to_string(),
            tx_hash: d.tx.tx_hash.to_string(),
            gas_used: d.tx.gas_used,
            runtime_bytes: d.runtime_size,
        }
    }
}

/// Positions in the instance vector (as in `zkgrid evm generate`'s manifest).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayoutJson {
    /// Number of instances.
    pub count: usize,
    /// Position of the weights commitment (hashed weights only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<usize>,
    /// Input positions `[start, end)`.
    pub input: [usize; 2],
    /// Output positions `[start, end)`.
    pub output: [usize; 2],
    /// Recipient slot position.
    pub recipient: usize,
}

impl From<&InstanceLayout> for LayoutJson {
    fn from(l: &InstanceLayout) -> Self {
        Self {
            count: l.len(),
            weights: l.weights_index(),
            input: [l.input_range().start, l.input_range().end],
            output: [l.output_range().start, l.output_range().end],
            recipient: l.recipient_index(),
        }
    }
}

/// What `zkgrid evm deploy` writes: enough for `post-task` and for a third party to check the
/// deployment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deployment {
    /// Chain id of the node.
    pub chain_id: u64,
    /// Sender of the deployments.
    pub deployer: String,
    /// Hash of the compiled model.
    pub model_hash: String,
    /// Hash of the verifying key.
    pub vk_hash: String,
    /// Circuit size.
    pub k: u32,
    /// Input and output visibility of the proofs the verifier checks.
    pub visibility: Visibility,
    /// The instance layout.
    pub instances: LayoutJson,
    /// Whether the verifier is for the INSECURE dev SRS.
    pub insecure_dev_srs: bool,
    /// The verifier's runtime code hash: the model commitment tasks name.
    pub model_commitment: String,
    /// The verifier.
    pub verifier: DeployedContract,
    /// The VK code contracts, in constructor order.
    pub vk_contracts: Vec<DeployedContract>,
    /// The settlement contract, when deployed.
    pub settlement: Option<DeployedContract>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A node with one signing account.
struct Node {
    chain: RpcChain,
    from: Address,
    chain_id: u64,
}

async fn connect(a: &ChainArgs) -> anyhow::Result<Node> {
    let signer = parse_private_key(&a.private_key)?;
    let from = signer.address();
    let chain = RpcChain::connect(&a.rpc_url, vec![signer])?;
    let chain_id = chain
        .chain_id()
        .await
        .with_context(|| format!("cannot reach the JSON-RPC node at {}", a.rpc_url))?;
    tracing::info!(chain_id, %from, "connected");
    Ok(Node {
        chain,
        from,
        chain_id,
    })
}

fn parse_address(what: &str, s: &str) -> anyhow::Result<Address> {
    Address::from_str(s.trim())
        .map_err(|_| anyhow::anyhow!("{what} {s:?} is not an address (0x + 40 hex digits)"))
}

fn parse_u256(what: &str, s: &str) -> anyhow::Result<U256> {
    U256::from_str(s.trim())
        .map_err(|_| anyhow::anyhow!("{what} {s:?} is not an unsigned integer (decimal or 0x-hex)"))
}

fn read_hex_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = read_limited(path, 1 << 20)?;
    let text =
        String::from_utf8(bytes).with_context(|| format!("{} is not text", path.display()))?;
    let t = text.trim();
    hex::decode(t.strip_prefix("0x").unwrap_or(t))
        .with_context(|| format!("{} is not hex bytecode", path.display()))
}

fn tx_json(tx: &TxOutcome) -> serde_json::Value {
    serde_json::json!({
        "tx_hash": tx.tx_hash.to_string(),
        "gas_used": tx.gas_used,
        "effective_gas_price": tx.effective_gas_price.to_string(),
        "fee_wei": tx.fee().to_string(),
    })
}

fn event_json(e: &SettlementEvent) -> serde_json::Value {
    match e {
        SettlementEvent::TaskPosted {
            task_id,
            requester,
            verifier,
            model_commitment,
            input_digest,
            recipient,
            reward,
            deadline,
        } => serde_json::json!({
            "event": "TaskPosted", "task_id": task_id.to_string(), "requester": requester.to_string(),
            "verifier": verifier.to_string(), "model_commitment": hex_string(model_commitment),
            "input_digest": hex_string(input_digest), "recipient": recipient.to_string(),
            "reward_wei": reward.to_string(), "deadline": deadline,
        }),
        SettlementEvent::TaskSettled {
            task_id,
            recipient,
            submitter,
            reward,
        } => serde_json::json!({
            "event": "TaskSettled", "task_id": task_id.to_string(), "recipient": recipient.to_string(),
            "submitter": submitter.to_string(), "reward_wei": reward.to_string(),
        }),
        SettlementEvent::TaskReclaimed {
            task_id,
            requester,
            reward,
        } => serde_json::json!({
            "event": "TaskReclaimed", "task_id": task_id.to_string(),
            "requester": requester.to_string(), "reward_wei": reward.to_string(),
        }),
        SettlementEvent::Withdrawn { account, amount } => serde_json::json!({
            "event": "Withdrawn", "account": account.to_string(), "amount_wei": amount.to_string(),
        }),
    }
}

fn event_line(e: &SettlementEvent) -> String {
    match e {
        SettlementEvent::TaskPosted {
            task_id,
            reward,
            deadline,
            recipient,
            ..
        } => format!(
            "TaskPosted(task {task_id}, reward {reward} wei, deadline {deadline}, recipient {})",
            if *recipient == Address::ZERO {
                "the submitter".to_owned()
            } else {
                recipient.to_string()
            }
        ),
        SettlementEvent::TaskSettled {
            task_id,
            recipient,
            submitter,
            reward,
        } => format!(
            "TaskSettled(task {task_id}, {reward} wei credited to {recipient}, submitted by {submitter})"
        ),
        SettlementEvent::TaskReclaimed {
            task_id,
            requester,
            reward,
        } => format!("TaskReclaimed(task {task_id}, {reward} wei to {requester})"),
        SettlementEvent::Withdrawn { account, amount } => {
            format!("Withdrawn({amount} wei to {account})")
        }
    }
}

/// A settlement error with what to do about it.
fn explain(e: EvmError) -> anyhow::Error {
    let hint = match &e {
        EvmError::SettlementReverted { revert, .. } => match revert.as_ref() {
            SettlementRevert::RecipientMismatch { .. } => Some(
                "the proof is bound to another address: prove with --recipient set to the submitting account",
            ),
            SettlementRevert::InputMismatch { .. } => {
                Some("the proof is about another input than the task's")
            }
            SettlementRevert::InstancesTooShort { .. } | SettlementRevert::InvalidProof { .. } => {
                Some("the proof is not for this task's verifier (model, visibility or SRS differ)")
            }
            SettlementRevert::TaskClosed { .. } => Some("the task was already paid or reclaimed"),
            SettlementRevert::UnknownTask { .. } => Some("no task with this id on this contract"),
            SettlementRevert::NothingToWithdraw { .. } => {
                Some("this account has no credit on this contract")
            }
            _ => None,
        },
        _ => None,
    };
    match hint {
        Some(h) => anyhow::Error::new(e).context(h),
        None => e.into(),
    }
}

/// `zkgrid evm deploy`.
pub fn deploy(a: &EvmDeployArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let rt = runtime()?;
    // A bad key fails before the (slow) setup.
    parse_private_key(&a.chain.private_key)?;
    // Everything off chain first: a failure here sends nothing.
    let prepared = match (&a.model, &a.verifier_dir) {
        (Some(model), _) => prepare_from_model(a, model, json, data)?,
        (None, Some(dir)) => prepare_from_dir(dir)?,
        (None, None) => bail!("give MODEL.zkg.json or --verifier-dir"),
    };
    let settlement = if a.settlement {
        Some(compile_settlement(&Solc::pinned()).context("compiling Settlement.sol")?)
    } else {
        None
    };
    let dep = rt.block_on(async {
        let node = connect(&a.chain).await?;
        let deployed = node
            .chain
            .deploy_verifier_codes(node.from, prepared.vk_codes, &prepared.verifier_code)
            .await
            .context("deploying the verifier")?;
        let settlement = match &settlement {
            Some(compiled) => Some(
                RpcSettlement::deploy(&node.chain, node.from, compiled)
                    .await
                    .context("deploying the settlement contract")?
                    .1,
            ),
            None => None,
        };
        anyhow::Ok(Deployment {
            chain_id: node.chain_id,
            deployer: node.from.to_string(),
            model_hash: prepared.model_hash,
            vk_hash: prepared.vk_hash,
            k: prepared.k,
            visibility: prepared.visibility,
            instances: prepared.layout,
            insecure_dev_srs: prepared.insecure,
            model_commitment: hex_string(&deployed.code_hash),
            verifier: (&deployed.verifier).into(),
            vk_contracts: deployed.vk.iter().map(DeployedContract::from).collect(),
            settlement: settlement.as_ref().map(DeployedContract::from),
        })
    })?;
    write_atomic(&a.output, serde_json::to_string_pretty(&dep)?.as_bytes())?;
    if json {
        return print_json(&dep);
    }
    if dep.insecure_dev_srs {
        eprintln!("WARNING: the verifier is for the INSECURE dev SRS (anyone can forge proofs)");
    }
    let mut rows = vec![vec![
        "verifier".to_owned(),
        dep.verifier.address.clone(),
        dep.verifier.runtime_bytes.to_string(),
        dep.verifier.gas_used.to_string(),
        dep.verifier.tx_hash.clone(),
    ]];
    for (i, c) in dep.vk_contracts.iter().enumerate() {
        rows.push(vec![
            format!("VK code {i}"),
            c.address.clone(),
            c.runtime_bytes.to_string(),
            c.gas_used.to_string(),
            c.tx_hash.clone(),
        ]);
    }
    if let Some(c) = &dep.settlement {
        rows.push(vec![
            "settlement".to_owned(),
            c.address.clone(),
            c.runtime_bytes.to_string(),
            c.gas_used.to_string(),
            c.tx_hash.clone(),
        ]);
    }
    println!(
        "deployed on chain {} from {} (vk {})",
        dep.chain_id, dep.deployer, dep.vk_hash
    );
    print!(
        "{}",
        table(&["contract", "address", "runtime B", "gas", "tx"], &rows)
    );
    println!(
        "model commitment (verifier code hash) {}",
        dep.model_commitment
    );
    println!("wrote {}", a.output.display());
    Ok(())
}

/// Bytecode and statement facts of a verifier, before deployment.
struct Prepared {
    vk_codes: Vec<Vec<u8>>,
    verifier_code: Vec<u8>,
    model_hash: String,
    vk_hash: String,
    k: u32,
    visibility: Visibility,
    layout: LayoutJson,
    insecure: bool,
}

fn prepare_from_model(
    a: &EvmDeployArgs,
    model: &Path,
    json: bool,
    data: &Path,
) -> anyhow::Result<Prepared> {
    let setup = SetupArgs {
        model: model.to_path_buf(),
        input_visibility: a.input_visibility,
        output_visibility: a.output_visibility,
        weights_visibility: a.weights_visibility,
        column_budget: a.column_budget,
        optimize: a.optimize,
        srs: a.srs.clone(),
        settings: a.settings.clone(),
    };
    let c = load_compiled(model)?;
    let keys = setup_with(data, &c.model, &options(&setup)?, &Bars::new(json)).context("setup")?;
    let layout = InstanceLayout::new(&c.model, keys.plan.settings.visibility);
    let built = super::evm::build(&keys.srs, keys.keys.vk(), layout.len())?;
    Ok(Prepared {
        vk_codes: built.generated.vk_creation_codes(),
        verifier_code: built.compiled.creation,
        model_hash: keys.model_hash.clone(),
        vk_hash: keys.keys.vk_hash().to_string(),
        k: keys.plan.settings.k,
        visibility: keys.plan.settings.visibility,
        layout: (&layout).into(),
        insecure: keys.srs.insecure(),
    })
}

/// The manifest `zkgrid evm generate` writes (the fields deploy needs).
#[derive(Deserialize)]
struct GenerateManifest {
    model_hash: String,
    vk_hash: String,
    k: u32,
    visibility: Visibility,
    instances: LayoutJson,
    srs: serde_json::Value,
    deploy: GenerateDeploy,
}

#[derive(Deserialize)]
struct GenerateDeploy {
    vk_chunks: Vec<PathBuf>,
    verifier: PathBuf,
}

fn prepare_from_dir(dir: &Path) -> anyhow::Result<Prepared> {
    let manifest_path = dir.join("deployment.json");
    let bytes = read_limited(&manifest_path, 1 << 20)?;
    let m: GenerateManifest = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a manifest written by `zkgrid evm generate`",
            manifest_path.display()
        )
    })?;
    let mut vk_codes = Vec::with_capacity(m.deploy.vk_chunks.len());
    for name in &m.deploy.vk_chunks {
        vk_codes.push(read_hex_file(&dir.join(name))?);
    }
    Ok(Prepared {
        vk_codes,
        verifier_code: read_hex_file(&dir.join(&m.deploy.verifier))?,
        model_hash: m.model_hash,
        vk_hash: m.vk_hash,
        k: m.k,
        visibility: m.visibility,
        layout: m.instances,
        insecure: m.srs["insecure"].as_bool().unwrap_or(true),
    })
}

fn load_deployment(path: &Path) -> anyhow::Result<Deployment> {
    let bytes = read_limited(path, 1 << 20)?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a deployment JSON written by `zkgrid evm deploy`",
            path.display()
        )
    })
}

/// `zkgrid evm post-task`.
pub fn post_task(a: &EvmPostTaskArgs, json: bool) -> anyhow::Result<()> {
    let dep = load_deployment(&a.deployment)?;
    let c = load_compiled(&a.model)?;
    if c.model_hash != dep.model_hash {
        bail!(
            "{} is model {}, but the deployment's verifier is for model {}",
            a.model.display(),
            c.model_hash,
            dep.model_hash
        );
    }
    let layout = InstanceLayout::for_model(&c.model, dep.visibility)?;
    if layout.len() != dep.instances.count {
        bail!(
            "the deployment's verifier takes {} instances, the model's layout has {}",
            dep.instances.count,
            layout.len()
        );
    }
    if layout.task_range().is_empty() {
        bail!("the deployment's input is private and its weights are fixed, so a task cannot name its statement: deploy a verifier with --input-visibility public or hashed (or --weights-visibility hashed)");
    }
    let bytes = read_limited(&a.input, MAX_INPUT_JSON_BYTES as u64)?;
    let input = parse_single(
        &bytes,
        c.model.input.shape.iter().product(),
        &c.model.input.shape,
    )
    .with_context(|| format!("input file {}", a.input.display()))?;
    let q = quantize_input(&c.model, &input)?;
    let exec = zkgrid_models::execute(&c.model, &q)?;
    let instances = layout.instances(&q, exec.output(), Fr::ZERO)?;
    // With hashed weights the task pins the weights commitment too (it precedes the input).
    let task_input = instances[layout.task_range()].to_vec();
    let settlement = match (&a.settlement, &dep.settlement) {
        (Some(s), _) => parse_address("--settlement", s)?,
        (None, Some(d)) => parse_address("deployment settlement address", &d.address)?,
        (None, None) => bail!(
            "{} has no settlement contract: pass --settlement ADDRESS or deploy with --settlement",
            a.deployment.display()
        ),
    };
    let verifier = parse_address("deployment verifier address", &dep.verifier.address)?;
    let commitment_bytes = hex::decode(dep.model_commitment.trim_start_matches("0x"))
        .context("deployment model_commitment is not hex")?;
    let model_commitment: [u8; 32] = commitment_bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("deployment model_commitment is not 32 bytes"))?;
    let reward = parse_u256("--reward-wei", &a.reward_wei)?;
    let recipient = a
        .recipient
        .as_deref()
        .map(|r| parse_address("--recipient", r))
        .transpose()?;
    let rt = runtime()?;
    let (task, receipt) = rt.block_on(async {
        let node = connect(&a.chain).await?;
        if node.chain_id != dep.chain_id {
            bail!(
                "the node is chain {}, the deployment is on chain {}",
                node.chain_id,
                dep.chain_id
            );
        }
        node.chain
            .require_code("settlement contract", settlement)
            .await?;
        node.chain.require_code("verifier", verifier).await?;
        let deadline = node.chain.latest_timestamp().await? + a.deadline_secs;
        let spec = TaskSpec {
            verifier,
            model_commitment,
            input: task_input.clone(),
            input_offset: u32::try_from(layout.task_range().start)?,
            recipient_index: u32::try_from(layout.recipient_index())?,
            recipient,
            deadline,
            reward,
        };
        let receipt = RpcSettlement::at(settlement)
            .post_task(&node.chain, node.from, &spec)
            .await
            .map_err(explain)?;
        anyhow::Ok((receipt.value, receipt))
    })?;
    let events: Vec<_> = receipt.events.iter().map(event_json).collect();
    if json {
        return print_json(&serde_json::json!({
            "task_id": task.to_string(), "settlement": settlement.to_string(),
            "input_digest": hex_string(&input_digest(&task_input)),
            "input_instances": task_input.iter().map(fr_to_hex).collect::<Vec<_>>(),
            "tx": tx_json(&receipt.tx), "events": events,
        }));
    }
    println!("posted task {task} on settlement {settlement}");
    println!(
        "tx {} (gas {}, fee {} wei)",
        receipt.tx.tx_hash,
        receipt.tx.gas_used,
        receipt.tx.fee()
    );
    for e in &receipt.events {
        println!("event {}", event_line(e));
    }
    Ok(())
}

/// `zkgrid evm submit`.
pub fn submit(a: &EvmSubmitArgs, json: bool) -> anyhow::Result<()> {
    let bundle = load_bundle(&a.proof)?;
    let instances = single_column(&bundle)?.to_vec();
    let settlement = parse_address("--settlement", &a.settlement)?;
    let task = parse_u256("--task", &a.task)?;
    let rt = runtime()?;
    let (from, receipt, credit) = rt.block_on(async {
        let node = connect(&a.chain).await?;
        node.chain
            .require_code("settlement contract", settlement)
            .await?;
        let contract = RpcSettlement::at(settlement);
        let receipt = contract
            .submit(&node.chain, node.from, task, &bundle.proof, &instances)
            .await
            .map_err(explain)?;
        let credit = contract.credit(&node.chain, node.from).await?;
        anyhow::Ok((node.from, receipt, credit))
    })?;
    let settled = receipt.events.iter().find_map(|e| match e {
        SettlementEvent::TaskSettled {
            recipient, reward, ..
        } => Some((*recipient, *reward)),
        _ => None,
    });
    if json {
        return print_json(&serde_json::json!({
            "task_id": task.to_string(), "submitter": from.to_string(), "paid": settled.is_some(),
            "recipient": settled.map(|s| s.0.to_string()), "reward_wei": settled.map(|s| s.1.to_string()),
            "submitter_credit_wei": credit.to_string(),
            "tx": tx_json(&receipt.tx), "events": receipt.events.iter().map(event_json).collect::<Vec<_>>(),
        }));
    }
    println!(
        "submitted proof for task {task}: tx {} (gas {}, fee {} wei)",
        receipt.tx.tx_hash,
        receipt.tx.gas_used,
        receipt.tx.fee()
    );
    match settled {
        Some((recipient, reward)) => println!(
            "PAID: {reward} wei credited to {recipient} (withdraw with `zkgrid evm withdraw`)"
        ),
        None => println!("not paid: no TaskSettled event"),
    }
    for e in &receipt.events {
        println!("event {}", event_line(e));
    }
    Ok(())
}

/// `zkgrid evm withdraw`.
pub fn withdraw(a: &EvmWithdrawArgs, json: bool) -> anyhow::Result<()> {
    let settlement = parse_address("--settlement", &a.settlement)?;
    let rt = runtime()?;
    let (from, receipt) = rt.block_on(async {
        let node = connect(&a.chain).await?;
        node.chain
            .require_code("settlement contract", settlement)
            .await?;
        let receipt = RpcSettlement::at(settlement)
            .withdraw(&node.chain, node.from)
            .await
            .map_err(explain)?;
        anyhow::Ok((node.from, receipt))
    })?;
    let amount = receipt
        .events
        .iter()
        .find_map(|e| match e {
            SettlementEvent::Withdrawn { amount, .. } => Some(*amount),
            _ => None,
        })
        .unwrap_or(U256::ZERO);
    if json {
        return print_json(&serde_json::json!({
            "account": from.to_string(), "amount_wei": amount.to_string(), "tx": tx_json(&receipt.tx),
            "events": receipt.events.iter().map(event_json).collect::<Vec<_>>(),
        }));
    }
    println!(
        "withdrew {amount} wei to {from}: tx {} (gas {}, fee {} wei)",
        receipt.tx.tx_hash,
        receipt.tx.gas_used,
        receipt.tx.fee()
    );
    Ok(())
}
