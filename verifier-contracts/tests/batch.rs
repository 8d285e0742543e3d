//! Batch verification: `verifyProofs(bytes[], uint256[][])` runs each proof through the VK code
//! chunks like `verifyProof` and shares one pairing check between them (random weights from the
//! calldata). A batch is accepted iff every proof in it is valid; bad encodings are `false`.

mod common;

use common::hashed::{zoo_model_for, HASHED_INPUT};
use zkgrid_circuits::model::PlanGoal;
use zkgrid_evm::evm::verify_proofs_calldata;
use zkgrid_evm::{
    call_verify_proof, call_verify_proofs, call_verify_raw, deploy_verifier, EvmRunner,
};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;

type Batch<'a> = Vec<(&'a [u8], &'a [Fr])>;

#[test]
fn batches_accept_valid_proofs_and_reject_any_bad_one() -> anyhow::Result<()> {
    // The narrow (one advice column) layout of mlp_tiny with a hashed input: a real model
    // proof, cheap to make.
    let m = zoo_model_for("mlp_tiny", HASHED_INPUT, PlanGoal::Gas)?;
    let other_input = m.quantize(&m.sample.iter().map(|x| -0.5 * x).collect::<Vec<_>>())?;
    anyhow::ensure!(other_input != m.input, "a second input");
    let mut proofs = Vec::new();
    for (input, recipient) in [
        (&m.input, [0x11u8; 20]),
        (&m.input, [0x22; 20]),
        (&other_input, [0x33; 20]),
    ] {
        proofs.push(m.prove(input, &recipient)?);
    }
    let (generated, compiled) = m.verifier()?;
    let mut evm = EvmRunner::new(true);
    let deployed = deploy_verifier(&mut evm, &generated, &compiled.creation)?;
    let verifier = deployed.verifier.address;
    println!("verifier: {} VK code chunk(s)", deployed.vk.len());

    let batch_of = |idx: &[usize]| -> Batch<'_> {
        idx.iter()
            .map(|&i| (proofs[i].0.as_slice(), proofs[i].1.as_slice()))
            .collect()
    };
    let mut single_gas = Vec::new();
    for (proof, instances) in &proofs {
        let single = call_verify_proof(&mut evm, verifier, proof, instances)?;
        assert!(single.accepted);
        single_gas.push(single.gas_used);
    }

    // Valid batches of every size, repeated proofs included.
    for idx in [&[0][..], &[0, 1], &[2, 0, 1], &[1, 1], &[0, 1, 2, 0]] {
        let v = call_verify_proofs(&mut evm, verifier, &batch_of(idx))?;
        assert!(v.accepted, "valid batch {idx:?} rejected");
        println!(
            "batch {idx:?}: {} gas, {} per proof (verifyProof: {} each)",
            v.gas_used,
            v.gas_used / idx.len() as u64,
            single_gas[0]
        );
    }

    // One bad proof anywhere in the batch fails it: another proof's instances (valid proof
    // values, so the chunks return pairing inputs and only the shared pairing catches it),
    // another recipient, and a flipped proof byte.
    for bad in 0..3 {
        let wrong_instances = proofs[(bad + 2) % 3].1.clone();
        let mut other_recipient = proofs[bad].1.clone();
        let slot = m.layout.recipient_index();
        other_recipient[slot] += Fr::from(1u64);
        let mut flipped = proofs[bad].0.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        let cases: [(&str, &[u8], &[Fr]); 3] = [
            (
                "another proof's instances",
                &proofs[bad].0,
                &wrong_instances,
            ),
            ("another recipient", &proofs[bad].0, &other_recipient),
            ("a flipped proof byte", &flipped, &proofs[bad].1),
        ];
        for (what, proof, instances) in cases {
            assert!(!call_verify_proof(&mut evm, verifier, proof, instances)?.accepted);
            let mut batch = batch_of(&[0, 1, 2]);
            batch[bad] = (proof, instances);
            let v = call_verify_proofs(&mut evm, verifier, &batch)?;
            assert!(!v.accepted, "batch with {what} at {bad} accepted");
        }
    }

    // Encodings: an empty batch, lists of different lengths, truncated or extended calldata,
    // and changed offsets or lengths are all rejected: `false`, or a revert from Solidity's ABI
    // decoder for offsets and lengths that point outside the calldata.
    let good = verify_proofs_calldata(&batch_of(&[0, 1]));
    assert!(call_verify_raw(&mut evm, verifier, good.clone())?.accepted);
    let mut bad_encodings: Vec<(&str, Vec<u8>)> = vec![
        ("empty batch", verify_proofs_calldata(&[])),
        ("truncated by a byte", good[..good.len() - 1].to_vec()),
        ("extended by a word", [good.as_slice(), &[0u8; 32]].concat()),
    ];
    {
        let proofs_only: Vec<&[u8]> = vec![&proofs[0].0, &proofs[1].0];
        let instances_only: Vec<&[Fr]> = vec![&proofs[0].1];
        bad_encodings.push((
            "two proofs, one instance list",
            zkgrid_evm::abi::encode_call(
                zkgrid_evm::evm::verify_proofs_selector(),
                &[
                    zkgrid_evm::abi::Token::BytesList(&proofs_only),
                    zkgrid_evm::abi::Token::ScalarsList(&instances_only),
                ],
            ),
        ));
    }
    // Every head and length word of the encoding: the two argument offsets, the list lengths,
    // the element offsets and the element lengths.
    let n = 2usize;
    let proof_stride = 32 + proofs[0].0.len().div_ceil(32) * 32;
    let instances_head = 4 + 0x60 + n * (32 + proof_stride);
    let mut words = vec![
        ("proofs offset", 4),
        ("instances offset", 4 + 32),
        ("proofs length", 4 + 64),
        ("instances length", instances_head),
    ];
    for i in 0..n {
        words.push(("proof offset", 4 + 96 + 32 * i));
        words.push(("proof length", 4 + 96 + 32 * n + i * proof_stride));
        words.push(("instance list offset", instances_head + 32 + 32 * i));
    }
    let instance_stride = 32 + 32 * proofs[0].1.len();
    for i in 0..n {
        words.push((
            "instance list length",
            instances_head + 32 + 32 * n + i * instance_stride,
        ));
    }
    for (what, at) in words {
        for delta in [1u8, 32] {
            let mut data = good.clone();
            data[at + 31] = data[at + 31].wrapping_add(delta);
            bad_encodings.push((what, data));
        }
    }
    let (mut reverted, total) = (0, bad_encodings.len());
    for (what, data) in bad_encodings {
        let outcome = evm.call(verifier, data)?;
        if outcome.success {
            assert_eq!(outcome.output, [0u8; 32].to_vec(), "{what}: not false");
        } else {
            // Solidity's ABI decoder refuses offsets and lengths that leave the calldata.
            reverted += 1;
        }
    }
    println!("{total} bad encodings rejected ({reverted} by the ABI decoder's revert)");
    Ok(())
}
