//! `zkgrid evm generate | gas`: Solidity verifiers for compiled models, and their gas on an
//! in-process EVM (revm). The on-chain commands (deploy, post-task, submit, withdraw) live in
//! [`super::chain`].

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use zkgrid_evm::{
    call_verify_proof, call_verify_proofs, deploy_verifier, generate, CompiledContract, EvmRunner,
    GeneratedVerifier, KzgVerifierParams, Solc, SolcSettings, EIP170_LIMIT, VERIFIER_CONTRACT,
};
use zkgrid_prover::bundle::hex_string;
use zkgrid_prover::halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use zkgrid_prover::halo2_proofs::plonk::VerifyingKey;
use zkgrid_prover::model::{load_indexed_vk, setup_with, srs_for};
use zkgrid_prover::Srs;

use super::prove::{options, srs_choice};
use super::{load_bundle, single_column, write_atomic};
use crate::cli::{EvmCommand, EvmGasArgs, EvmGenerateArgs};
use crate::output::{print_json, table};
use crate::progress::Bars;

/// Run an `evm` subcommand.
pub fn run(cmd: &EvmCommand, json: bool, data: &Path) -> anyhow::Result<()> {
    match cmd {
        EvmCommand::Generate(a) => generate_cmd(a, json, data),
        EvmCommand::Gas(a) => gas_cmd(a, json, data),
        EvmCommand::Deploy(a) => super::chain::deploy(a, json, data),
        EvmCommand::PostTask(a) => super::chain::post_task(a, json),
        EvmCommand::Submit(a) => super::chain::submit(a, json),
        EvmCommand::Withdraw(a) => super::chain::withdraw(a, json),
    }
}

/// Generated contracts and the compiled verifier for a verifying key.
pub(crate) struct Built {
    /// The verifier source and VK code contracts.
    pub(crate) generated: GeneratedVerifier,
    /// The compiled verifier.
    pub(crate) compiled: CompiledContract,
}

/// Generate the Solidity verifier for `vk` (one instance column of `num_instances` values) and
/// compile it with the pinned solc-js.
pub(crate) fn build(
    srs: &Srs,
    vk: &VerifyingKey<G1Affine>,
    num_instances: usize,
) -> anyhow::Result<Built> {
    let generated = generate(&KzgVerifierParams::from_srs(srs), vk, &[num_instances])
        .context("generating the Solidity verifier")?;
    let compiled = Solc::pinned()
        .compile(
            &generated.solidity,
            VERIFIER_CONTRACT,
            SolcSettings::default(),
        )
        .context("compiling the verifier with the pinned solc-js")?;
    Ok(Built {
        generated,
        compiled,
    })
}

/// The verifier's ABI: the constructor takes the VK data contract addresses in order.
fn abi(chunks: usize) -> serde_json::Value {
    let ctor: Vec<_> = (0..chunks)
        .map(|i| serde_json::json!({"name": format!("vk{i}"), "type": "address", "internalType": "address"}))
        .collect();
    serde_json::json!([
        {"type": "constructor", "stateMutability": "nonpayable", "inputs": ctor},
        {"type": "function", "name": "verifyProof", "stateMutability": "view",
         "inputs": [
            {"name": "proof", "type": "bytes", "internalType": "bytes"},
            {"name": "instances", "type": "uint256[]", "internalType": "uint256[]"}],
         "outputs": [{"name": "", "type": "bool", "internalType": "bool"}]},
        {"type": "error", "name": "VkCodeMismatch",
         "inputs": [{"name": "chunk", "type": "uint256", "internalType": "uint256"}]}
    ])
}

fn generate_cmd(a: &EvmGenerateArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let c = super::run::load_compiled(&a.setup.model)?;
    let keys =
        setup_with(data, &c.model, &options(&a.setup)?, &Bars::new(json)).context("setup")?;
    let layout =
        zkgrid_circuits::model::InstanceLayout::new(&c.model, keys.plan.settings.visibility);
    let t = Instant::now();
    let built = build(&keys.srs, keys.keys.vk(), layout.len())?;
    let secs = t.elapsed().as_secs_f64();
    let out = &a.output;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_atomic(
        &out.join("Halo2Verifier.sol"),
        built.generated.solidity.as_bytes(),
    )?;
    write_atomic(
        &out.join("Halo2Verifier.bin"),
        hex_string(&built.compiled.creation).as_bytes(),
    )?;
    let chunks = built.generated.vk_creation_codes();
    let mut chunk_files = Vec::new();
    for (i, code) in chunks.iter().enumerate() {
        let name = format!("Halo2VerifierVk{i}.bin");
        write_atomic(&out.join(&name), hex_string(code).as_bytes())?;
        chunk_files.push(name);
    }
    let abi = abi(chunks.len());
    write_atomic(
        &out.join("Halo2Verifier.abi.json"),
        serde_json::to_string_pretty(&abi)?.as_bytes(),
    )?;
    let max_runtime = built
        .generated
        .vk_runtimes
        .iter()
        .map(Vec::len)
        .chain([built.compiled.runtime.len()])
        .max()
        .unwrap_or(0);
    let manifest = serde_json::json!({
        "model_hash": keys.model_hash,
        "vk_hash": keys.keys.vk_hash().to_string(),
        "k": keys.plan.settings.k,
        "visibility": keys.plan.settings.visibility,
        "instances": {
            "count": layout.len(),
            "input": [layout.input_range().start, layout.input_range().end],
            "output": [layout.output_range().start, layout.output_range().end],
            "recipient": layout.recipient_index(),
        },
        "srs": keys.srs.info(),
        "deploy": {
            "order": "deploy every VK data contract (creation code in vk_chunks, no constructor arguments), then the verifier with their addresses as constructor arguments, in order",
            "vk_chunks": chunk_files,
            "verifier": "Halo2Verifier.bin",
        },
        "runtime_bytes": {"verifier": built.compiled.runtime.len(), "vk_chunks": built.generated.vk_runtimes.iter().map(Vec::len).collect::<Vec<_>>(), "limit": EIP170_LIMIT},
        "solc": {"version": "pinned in verifier-contracts/package.json", "optimizer": true},
    });
    write_atomic(
        &out.join("deployment.json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    if json {
        return print_json(&manifest);
    }
    if keys.srs.insecure() {
        eprintln!("WARNING: verifier generated for the INSECURE dev SRS");
    }
    println!(
        "verifier for {} (k={}, vk {}) in {:.2}s",
        c.model.name,
        keys.plan.settings.k,
        keys.keys.vk_hash(),
        secs
    );
    println!(
        "runtime: verifier {} B, {} VK contract(s), largest {} B (EIP-170 limit {EIP170_LIMIT} B)",
        built.compiled.runtime.len(),
        chunks.len(),
        max_runtime
    );
    println!(
        "wrote {}/{{Halo2Verifier.sol, Halo2Verifier.bin, Halo2VerifierVk*.bin, Halo2Verifier.abi.json, deployment.json}}",
        out.display()
    );
    Ok(())
}

fn gas_cmd(a: &EvmGasArgs, json: bool, data: &Path) -> anyhow::Result<()> {
    let bundle = load_bundle(&a.proof)?;
    let mut batch = vec![];
    for path in &a.batch {
        let other = load_bundle(path)?;
        if other.vk_hash != bundle.vk_hash || other.k != bundle.k {
            bail!(
                "{} is a proof for another verifying key than {} (a batch shares one verifier)",
                path.display(),
                a.proof.display()
            );
        }
        if single_column(&other)?.len() != single_column(&bundle)?.len() {
            bail!("{} has another instance layout", path.display());
        }
        batch.push(other);
    }
    let (vk, _) = load_indexed_vk(data, &bundle.vk_hash)
        .context("finding the proof's verifying key (run `zkgrid setup` for its model)")?;
    let srs = srs_for(data, &srs_choice(a.srs.as_deref()), bundle.k)?;
    let instances = single_column(&bundle)?;
    let built = build(&srs, &vk, instances.len())?;
    let mut evm = EvmRunner::new(true);
    let deployed = deploy_verifier(&mut evm, &built.generated, &built.compiled.creation)
        .context("deploying on revm")?;
    let verdict = call_verify_proof(
        &mut evm,
        deployed.verifier.address,
        &bundle.proof,
        instances,
    )?;
    let calldata_len = zkgrid_evm::verify_proof_calldata(&bundle.proof, instances).len();
    // The whole batch (this proof first) through verifyProofs.
    let batch_verdict = if batch.is_empty() {
        None
    } else {
        let mut items: Vec<(&[u8], &[Fr])> = vec![(&bundle.proof, instances)];
        items.extend(
            batch
                .iter()
                .map(|b| (b.proof.as_slice(), b.instances[0].as_slice())),
        );
        let v = call_verify_proofs(&mut evm, deployed.verifier.address, &items)?;
        Some((items.len(), v))
    };
    let deploy_gas: u64 = deployed
        .vk
        .iter()
        .map(|d| d.gas_used)
        .chain([deployed.verifier.gas_used])
        .sum();
    if json {
        let mut out = serde_json::json!({
            "accepted": verdict.accepted, "verify_gas": verdict.gas_used, "deploy_gas": deploy_gas,
            "calldata_bytes": calldata_len, "instances": instances.len(), "proof_bytes": bundle.proof.len(),
            "verifier_runtime_bytes": deployed.verifier.runtime_size,
            "vk_runtime_bytes": deployed.vk.iter().map(|d| d.runtime_size).collect::<Vec<_>>(),
        });
        if let Some((n, v)) = batch_verdict {
            out["batch"] = serde_json::json!({
                "proofs": n, "accepted": v.accepted, "verify_gas": v.gas_used,
                "per_proof_gas": v.gas_used / n as u64,
            });
        }
        print_json(&out)?;
    } else {
        let mut rows = vec![
            vec![
                "verdict".into(),
                if verdict.accepted {
                    "ACCEPTED"
                } else {
                    "REJECTED"
                }
                .into(),
            ],
            vec![
                "verifyProof gas (tx total)".into(),
                verdict.gas_used.to_string(),
            ],
            vec![
                "deployment gas (all contracts)".into(),
                deploy_gas.to_string(),
            ],
            vec!["calldata bytes".into(), calldata_len.to_string()],
            vec!["public instances".into(), instances.len().to_string()],
            vec![
                "verifier runtime bytes".into(),
                deployed.verifier.runtime_size.to_string(),
            ],
            vec![
                "VK contracts (runtime bytes)".into(),
                format!(
                    "{:?}",
                    deployed
                        .vk
                        .iter()
                        .map(|d| d.runtime_size)
                        .collect::<Vec<_>>()
                ),
            ],
        ];
        if let Some((n, v)) = batch_verdict {
            rows.push(vec![
                format!("verifyProofs, {n} proofs"),
                if v.accepted { "ACCEPTED" } else { "REJECTED" }.into(),
            ]);
            rows.push(vec![
                "verifyProofs gas (tx total / per proof)".into(),
                format!("{} / {}", v.gas_used, v.gas_used / n as u64),
            ]);
        }
        print!("{}", table(&["", ""], &rows));
    }
    if !verdict.accepted {
        bail!("the generated verifier rejected the proof on the EVM");
    }
    if batch_verdict.is_some_and(|(_, v)| !v.accepted) {
        bail!("the generated verifier rejected the batch on the EVM");
    }
    Ok(())
}
