//! The verification program, run by the native interpreter, agrees with halo2's verifier.

mod common;

use common::{PhaseCircuit, RichCircuit, Tamper, WideCircuit};
use zkgrid_evm::interpret::{run, Rejection};
use zkgrid_evm::{compile, KzgVerifierParams};
use zkgrid_prover::halo2_proofs::dev::MockProver;
use zkgrid_prover::halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_prover::halo2_proofs::plonk::Circuit;
use zkgrid_prover::{keygen, prove, verify, DevSrsCache, KeygenOptions};

const K: u32 = 6;
const REPS: usize = 6;

#[test]
fn rich_circuit_mock_prover() -> anyhow::Result<()> {
    let honest = MockProver::run(K, &RichCircuit::new(REPS), RichCircuit::instances(REPS))?;
    assert_eq!(honest.verify(), Ok(()));
    for tamper in [Tamper::WrongCubic, Tamper::WrongSquare, Tamper::BrokenCopy] {
        let prover = MockProver::run(
            K,
            &RichCircuit::tampered(REPS, tamper),
            RichCircuit::instances(REPS),
        )?;
        assert!(prover.verify().is_err(), "{tamper:?} accepted");
    }
    let wide = MockProver::run(K, &WideCircuit::new(12, 3), WideCircuit::instances())?;
    assert_eq!(wide.verify(), Ok(()));
    Ok(())
}

#[test]
fn program_matches_native_verifier() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let srs = DevSrsCache::new(dir.path()).load(K)?;
    let circuit = RichCircuit::new(REPS);
    let keys = keygen(&srs, &circuit.without_witnesses(), KeygenOptions::default())?;
    let instances = RichCircuit::instances(REPS);
    let proof = prove(&srs, keys.pk(), &circuit, &instances)?;
    verify(&srs, keys.vk(), &instances, &proof)?;

    let params = KzgVerifierParams::from_params(srs.params());
    let lens: Vec<usize> = instances.iter().map(Vec::len).collect();
    let program = compile(&params, keys.vk(), &lens)?;
    assert_eq!(program.proof_len, proof.len());
    let flat: Vec<Fr> = instances.concat();
    assert_eq!(run(&program, &flat, &proof)?, Ok(()));

    let mut wrong = flat.clone();
    wrong[0] += Fr::one();
    assert_eq!(run(&program, &wrong, &proof)?, Err(Rejection::Pairing));
    let mut bad = proof.clone();
    bad[100] ^= 1;
    assert!(run(&program, &flat, &bad)?.is_err());
    Ok(())
}

/// Checks the program against the native verifier for one honest proof of `circuit`, and that
/// a proof of the tampered witness is rejected by both.
fn check_against_native<C: Circuit<Fr>>(
    k: u32,
    circuit: &C,
    tampered: Option<&C>,
    instances: Vec<Vec<Fr>>,
    options: KeygenOptions,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let srs = DevSrsCache::new(dir.path()).load(k)?;
    let keys = keygen(&srs, &circuit.without_witnesses(), options)?;
    let params = KzgVerifierParams::from_params(srs.params());
    let lens: Vec<usize> = instances.iter().map(Vec::len).collect();
    let program = compile(&params, keys.vk(), &lens)?;
    let flat: Vec<Fr> = instances.concat();
    let proof = prove(&srs, keys.pk(), circuit, &instances)?;
    verify(&srs, keys.vk(), &instances, &proof)?;
    assert_eq!(run(&program, &flat, &proof)?, Ok(()));
    if let Some(tampered) = tampered {
        let bad = prove(&srs, keys.pk(), tampered, &instances)?;
        assert!(verify(&srs, keys.vk(), &instances, &bad).is_err());
        assert_eq!(run(&program, &flat, &bad)?, Err(Rejection::Pairing));
    }
    Ok(())
}

#[test]
fn compressed_selectors_match_native_verifier() -> anyhow::Result<()> {
    // Selector compression folds selectors into fixed columns and raises expression degrees.
    check_against_native(
        K,
        &RichCircuit::new(REPS),
        Some(&RichCircuit::tampered(REPS, Tamper::WrongCubic)),
        RichCircuit::instances(REPS),
        KeygenOptions {
            compress_selectors: true,
        },
    )
}

#[test]
fn second_phase_challenges_match_native_verifier() -> anyhow::Result<()> {
    let tampered = PhaseCircuit {
        tamper: true,
        ..PhaseCircuit::new(5)
    };
    check_against_native(
        5,
        &PhaseCircuit::new(5),
        Some(&tampered),
        PhaseCircuit::instances(5),
        KeygenOptions::default(),
    )
}

#[test]
fn wide_circuit_matches_native_verifier() -> anyhow::Result<()> {
    check_against_native(
        K,
        &WideCircuit::new(60, 10),
        None,
        WideCircuit::instances(),
        KeygenOptions::default(),
    )
}
