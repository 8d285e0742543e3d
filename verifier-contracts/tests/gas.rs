//! Gas breakdown of `verifyProof`: ours and snark-verifier's reference on the same verifying
//! key, for the test circuits and for zoo models (hashed input, public output). Prints
//! markdown tables (`cargo test -p zkgrid-evm --test gas -- --ignored --nocapture`).

mod common;

use std::collections::BTreeMap;

use common::hashed::hashed_model;
use common::{PhaseCircuit, RichCircuit, WideCircuit};
use zkgrid_evm::profile::GasProfile;
use zkgrid_evm::program::Op;
use zkgrid_evm::{
    deploy_verifier, generate, verify_proof_calldata, EvmRunner, KzgVerifierParams, Solc,
    SolcSettings, VERIFIER_CONTRACT,
};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use zkgrid_prover::halo2_proofs::plonk::{Circuit, Expression, VerifyingKey};
use zkgrid_prover::{keygen, prove, DevSrsCache, KeygenOptions, Srs};

fn expression_nodes(e: &Expression<Fr>) -> usize {
    match e {
        Expression::Negated(a) | Expression::Scaled(a, _) => 1 + expression_nodes(a),
        Expression::Sum(a, b) | Expression::Product(a, b) => {
            1 + expression_nodes(a) + expression_nodes(b)
        }
        _ => 1,
    }
}

/// Commitment and expression counts of a verifying key.
fn vk_shape(vk: &VerifyingKey<G1Affine>) -> String {
    let cs = vk.cs();
    let polys: Vec<&Expression<Fr>> = cs.gates().iter().flat_map(|g| g.polynomials()).collect();
    let nodes: usize = polys.iter().map(|p| expression_nodes(p)).sum();
    let max_degree = polys.iter().map(|p| p.degree()).max().unwrap_or(0);
    let lookup_nodes: usize = cs
        .lookups()
        .iter()
        .flat_map(|l| l.input_expressions().iter().chain(l.table_expressions()))
        .map(expression_nodes)
        .sum();
    let quotient = vk.get_domain().get_quotient_poly_degree();
    let perm = cs.permutation().get_columns().len();
    let degree = quotient + 1;
    let sets = perm.div_ceil(degree.saturating_sub(2).max(1));
    format!(
        "k = {k}; advice {adv} (queries {aq}), fixed {fix} (queries {fq}), instance {inst}; \
         permutation columns {perm} ({sets} product sets); lookups {lk}; quotient chunks {quotient} \
         (degree {degree}); gates {gates}, constraint polynomials {np}, expression nodes {nodes} \
         (max degree {max_degree}), lookup expression nodes {lookup_nodes}; \
         commitments: {adv} advice + {fix} fixed + {perm} permutation + {sets} perm. products + \
         {l3} lookup (3 per lookup) + {quotient} quotient + 1 random = {total}",
        k = vk.get_domain().k(),
        adv = cs.num_advice_columns(),
        aq = cs.advice_queries().len(),
        fix = vk.fixed_commitments().len(),
        fq = cs.fixed_queries().len(),
        inst = cs.num_instance_columns(),
        lk = cs.lookups().len(),
        gates = cs.gates().len(),
        np = polys.len(),
        l3 = 3 * cs.lookups().len(),
        total = cs.num_advice_columns()
            + vk.fixed_commitments().len()
            + perm
            + sets
            + 3 * cs.lookups().len()
            + quotient
            + 1,
    )
}

fn program_shape(ops: &[Op], num_slots: usize, code: usize, vk_bytes: usize) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for op in ops {
        let name = match op {
            Op::Add { .. } => "add",
            Op::Sub { .. } => "sub",
            Op::Mul { .. } => "mul",
            Op::Mac { .. } => "mac",
            Op::Inv { .. } => "inv",
            Op::ReadScalar { .. } => "read_scalar",
            Op::ReadPoint { .. } => "read_point",
            Op::Absorb { .. } => "absorb",
            Op::AbsorbInstances => "absorb_instances",
            Op::Squeeze { .. } => "squeeze",
            Op::InstanceFraction { .. } => "instance_fraction",
            Op::MsmAcc { .. } => "msm_acc",
            Op::MsmAdd { .. } => "msm_add",
            Op::Pairing { .. } => "pairing",
        };
        *counts.entry(name).or_default() += 1;
    }
    format!(
        "program: {} ops {:?}, {} slots, {} code bytes, {} VK data bytes",
        ops.len(),
        counts,
        num_slots,
        code,
        vk_bytes
    )
}

fn print_profile(name: &str, p: &GasProfile) {
    println!("\n{name}: total {} (success {})", p.total, p.success);
    println!("| category | detail | gas | share |\n|---|---|---|---|");
    print!("{}", p.summary().table());
    let mut top: Vec<(u8, u64, u64)> = p
        .opcodes
        .iter()
        .map(|(&o, u)| (o, u.count, u.gas))
        .collect();
    top.sort_by_key(|&(_, _, g)| std::cmp::Reverse(g));
    let top: Vec<String> = top
        .iter()
        .take(12)
        .map(|(o, c, g)| format!("{o:#04x}×{c}={g}"))
        .collect();
    println!("top opcodes: {}", top.join(", "));
    println!(
        "memory: max frame {} B, calls {}",
        p.max_memory_bytes, p.contract_calls
    );
}

/// Totals of one [`measure`]ment.
#[derive(Debug, Default, serde::Serialize)]
struct Totals {
    /// Our `verifyProof` transaction gas.
    ours: u64,
    /// Our verifier's runtime bytes.
    ours_verifier_bytes: usize,
    /// Our VK code contracts' runtime bytes.
    ours_vk_bytes: Vec<usize>,
    /// The reference's transaction gas and runtime bytes, when measured.
    reference: Option<u64>,
    reference_bytes: Option<usize>,
}

/// Profiles ours (and the reference, when `reference` is set) on one proof.
fn measure(
    name: &str,
    srs: &Srs,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Vec<Fr>],
    proof: &[u8],
    reference: bool,
) -> anyhow::Result<Totals> {
    println!("\n### {name}\n{}", vk_shape(vk));
    let lens: Vec<usize> = instances.iter().map(Vec::len).collect();
    let generated = generate(&KzgVerifierParams::from_srs(srs), vk, &lens)?;
    let p = &generated.program;
    println!(
        "{}",
        program_shape(&p.ops, p.num_slots, p.code_len(), p.data_blob().len())
    );
    let compiled = Solc::pinned().compile(
        &generated.solidity,
        VERIFIER_CONTRACT,
        SolcSettings::default(),
    )?;
    let mut evm = EvmRunner::new(true);
    let deployed = deploy_verifier(&mut evm, &generated, &compiled.creation)?;
    let flat: Vec<Fr> = instances.concat();
    let ours = evm.profile_call(
        deployed.verifier.address,
        verify_proof_calldata(proof, &flat),
    )?;
    anyhow::ensure!(ours.success, "ours rejected");
    print_profile(
        &format!(
            "ours (verifier {} B, VK {:?} B)",
            deployed.verifier.runtime_size,
            deployed
                .vk
                .iter()
                .map(|d| d.runtime_size)
                .collect::<Vec<_>>()
        ),
        &ours,
    );
    let mut totals = Totals {
        ours: ours.total,
        ours_verifier_bytes: deployed.verifier.runtime_size,
        ours_vk_bytes: deployed.vk.iter().map(|d| d.runtime_size).collect(),
        ..Totals::default()
    };
    if reference {
        let source = snark_verifier_sdk::evm::gen_evm_verifier_sol_code::<
            RichCircuit,
            snark_verifier_sdk::SHPLONK,
        >(srs.params(), vk, lens);
        let source = source.replace("pragma solidity 0.8.19;", "pragma solidity ^0.8.19;");
        let compiled = Solc::pinned().compile(
            &source,
            "Halo2Verifier",
            SolcSettings {
                optimize: false,
                runs: 200,
                via_ir: false,
            },
        )?;
        let mut revm = EvmRunner::new(false);
        let d = revm.deploy("reference", compiled.creation)?;
        let mut calldata: Vec<u8> = flat.iter().flat_map(zkgrid_evm::program::fr_word).collect();
        calldata.extend_from_slice(proof);
        let r = revm.profile_call(d.address, calldata)?;
        anyhow::ensure!(r.success, "reference rejected");
        print_profile(&format!("reference ({} B)", d.runtime_size), &r);
        println!(
            "ratio ours/reference: {:.3}",
            ours.total as f64 / r.total as f64
        );
        totals.reference = Some(r.total);
        totals.reference_bytes = Some(d.runtime_size);
    }
    Ok(totals)
}

fn circuit_case<C: Circuit<Fr>>(
    name: &str,
    k: u32,
    circuit: &C,
    instances: Vec<Vec<Fr>>,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let srs = DevSrsCache::new(dir.path()).load(k)?;
    let keys = keygen(&srs, &circuit.without_witnesses(), KeygenOptions::default())?;
    let proof = prove(&srs, keys.pk(), circuit, &instances)?;
    measure(name, &srs, keys.vk(), &instances, &proof, true).map(drop)
}

fn model_case(model_name: &str, reference: bool) -> anyhow::Result<()> {
    let m = hashed_model(model_name)?;
    let (proof, instances) = m.prove(&m.input, &[0xb2; 20])?;
    measure(
        &format!("{model_name} (hashed input, public output)"),
        &m.keys.srs,
        m.keys.keys.vk(),
        &[instances],
        &proof,
        reference,
    )
    .map(drop)
}

#[test]
#[ignore = "gas report; run with --ignored --nocapture"]
fn gas_breakdown_test_circuits() -> anyhow::Result<()> {
    circuit_case(
        "rich circuit (k = 6, 12 instances)",
        6,
        &RichCircuit::new(6),
        RichCircuit::instances(6),
    )?;
    circuit_case(
        "two-phase circuit (k = 5, 5 instances)",
        5,
        &PhaseCircuit::new(5),
        PhaseCircuit::instances(5),
    )?;
    circuit_case(
        "wide circuit (60 advice, 10 lookups, k = 6)",
        6,
        &WideCircuit::new(60, 10),
        WideCircuit::instances(),
    )
}

#[test]
#[ignore = "gas report; run with --ignored --nocapture"]
fn gas_breakdown_mlp_tiny() -> anyhow::Result<()> {
    model_case("mlp_tiny", true)
}

#[test]
#[ignore = "gas report; run with --ignored --nocapture"]
fn gas_breakdown_mlp_small() -> anyhow::Result<()> {
    model_case(
        "mlp_small",
        std::env::var("ZKGRID_GAS_REFERENCE").is_ok_and(|v| v == "1"),
    )
}

/// One row of the zoo gas table (`ZKGRID_GAS_ZOO=model:visibility,...`, visibility `public`
/// = public input and output, `hashed` = hashed input, public output, optionally `+GOAL` for a
/// planner goal other than the default, e.g. `hashed+gas`): ours and the reference on the same
/// proof, printed as `GAS_ROW {json}` lines for benches/peer/evm_gas.sh. A case that fails
/// prints its error in the row instead of stopping the others.
#[test]
#[ignore = "gas report; run with --ignored --nocapture"]
fn gas_zoo_rows() -> anyhow::Result<()> {
    use common::hashed::{zoo_case, zoo_model_for};
    let cases = std::env::var("ZKGRID_GAS_ZOO").unwrap_or_else(|_| "mlp_tiny:hashed".to_owned());
    let reference = std::env::var("ZKGRID_GAS_REFERENCE").map_or(true, |v| v != "0");
    let mut measured = 0;
    for case in cases.split(',').filter(|c| !c.is_empty()) {
        let (model, visibility, goal) = zoo_case(case)?;
        let (model, vis) = (model.as_str(), &case[model.len() + 1..]);
        let row = zoo_model_for(model, visibility, goal).and_then(|m| {
            let (proof, instances) = m.prove(&m.input, &[0xb2; 20])?;
            let n = instances.len();
            let totals = measure(
                &format!("{model} ({vis})"),
                &m.keys.srs,
                m.keys.keys.vk(),
                &[instances],
                &proof,
                reference,
            )?;
            Ok((n, m.keys.plan.settings.k, totals))
        });
        let json = match row {
            Ok((instances, k, totals)) => {
                measured += 1;
                serde_json::json!({"model": model, "visibility": vis, "k": k, "instances": instances, "totals": totals})
            }
            Err(e) => {
                serde_json::json!({"model": model, "visibility": vis, "error": format!("{e:#}")})
            }
        };
        println!("GAS_ROW {json}");
    }
    anyhow::ensure!(measured > 0, "no case measured");
    Ok(())
}

/// Batch verification (`verifyProofs`) on zoo cases (`ZKGRID_BATCH_ZOO`, default
/// `mlp_small:hashed+gas`; sizes `ZKGRID_BATCH_SIZES`, default 1,2,4,8): total and per-proof
/// gas of a batch of distinct proofs against `verifyProof` on each, printed as
/// `BATCH_ROW {json}` lines.
#[test]
#[ignore = "gas report; run with --ignored --nocapture"]
fn batch_gas_rows() -> anyhow::Result<()> {
    use common::hashed::{zoo_case, zoo_model_for};
    use zkgrid_evm::{call_verify_proof, call_verify_proofs};
    let cases = std::env::var("ZKGRID_BATCH_ZOO").unwrap_or_else(|_| "mlp_small:hashed+gas".into());
    let sizes: Vec<usize> = std::env::var("ZKGRID_BATCH_SIZES")
        .unwrap_or_else(|_| "1,2,4,8".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let most = sizes.iter().copied().max().unwrap_or(1);
    for case in cases.split(',').filter(|c| !c.is_empty()) {
        let (model, visibility, goal) = zoo_case(case)?;
        let m = zoo_model_for(&model, visibility, goal)?;
        let (generated, compiled) = m.verifier()?;
        let mut evm = EvmRunner::new(true);
        let deployed = deploy_verifier(&mut evm, &generated, &compiled.creation)?;
        let verifier = deployed.verifier.address;
        let mut proofs = Vec::new();
        let mut single = Vec::new();
        for i in 0..most {
            // Distinct proofs: one recipient each.
            let (proof, instances) = m.prove(&m.input, &[0x40 + i as u8; 20])?;
            let v = call_verify_proof(&mut evm, verifier, &proof, &instances)?;
            anyhow::ensure!(v.accepted, "{case}: proof {i} rejected");
            single.push(v.gas_used);
            proofs.push((proof, instances));
        }
        let single_mean = single.iter().sum::<u64>() / single.len() as u64;
        for &n in &sizes {
            let batch: Vec<(&[u8], &[Fr])> = proofs[..n]
                .iter()
                .map(|(p, i)| (p.as_slice(), i.as_slice()))
                .collect();
            let v = call_verify_proofs(&mut evm, verifier, &batch)?;
            anyhow::ensure!(v.accepted, "{case}: batch of {n} rejected");
            let json = serde_json::json!({
                "case": case, "k": m.keys.plan.settings.k, "batch": n, "gas": v.gas_used,
                "per_proof": v.gas_used / n as u64, "verify_proof": single_mean,
            });
            println!("BATCH_ROW {json}");
        }
    }
    Ok(())
}
