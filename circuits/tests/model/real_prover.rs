//! A real proof of mlp_tiny: KZG on BN254, SHPLONK, Blake2b transcript.

use anyhow::ensure;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, keygen_pk, keygen_vk, verify_proof, Circuit as _};
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{
    Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer,
};
use zkgrid_circuits::model::Visibility;
use zkgrid_circuits::{ModelCircuit, ModelWitness};
use zkgrid_models::{execute, quantize_input, zoo};

use crate::common::{planned, rng, zoo_model};

#[test]
fn mlp_tiny_real_proof_verifies_and_binds_the_output() -> anyhow::Result<()> {
    let model = zoo_model("mlp_tiny")?;
    let plan = planned(&model, Visibility::PUBLIC)?;
    let params = ParamsKZG::<Bn256>::setup(plan.settings.k, rng(0));
    let keygen_circuit = ModelCircuit::from_arc(model.clone(), plan.settings, None)?;
    let vk = keygen_vk(&params, &keygen_circuit)?;
    let pk = keygen_pk(&params, vk, &keygen_circuit)?;

    let input = quantize_input(&model, &zoo::get("mlp_tiny")?.sample_input)?;
    let output = execute(&model, &input)?.output().to_vec();
    let recipient = Fr::from(0x1234_5678u64);
    let circuit = keygen_circuit.with_witness(ModelWitness {
        input: input.clone(),
        recipient,
    })?;
    let public = circuit
        .instances()?
        .ok_or_else(|| anyhow::anyhow!("witness"))?;
    let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
        &params,
        &pk,
        std::slice::from_ref(&circuit),
        &[&[&public]],
        rng(1),
        &mut transcript,
    )?;
    let proof = transcript.finalize();
    ensure!(circuit.synthesized_output() == Some(output));
    println!(
        "mlp_tiny proof: k={} {} bytes, {} instances",
        circuit.params().k,
        proof.len(),
        public.len()
    );

    let verify = |instances: &[Fr]| {
        let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(&proof[..]);
        verify_proof::<_, VerifierSHPLONK<'_, Bn256>, _, _, _>(
            params.verifier_params(),
            pk.get_vk(),
            SingleStrategy::new(&params),
            &[&[instances]],
            &mut transcript,
        )
        .is_ok()
    };
    ensure!(verify(&public), "honest proof rejected");
    let layout = circuit.instance_layout();
    let mut wrong_output = public.clone();
    wrong_output[layout.output_range().start] += Fr::from(1u64);
    ensure!(!verify(&wrong_output), "proof verified with another output");
    let mut wrong_recipient = public.clone();
    wrong_recipient[layout.recipient_index()] = Fr::from(0xbadu64);
    ensure!(
        !verify(&wrong_recipient),
        "proof verified for another recipient"
    );
    Ok(())
}
