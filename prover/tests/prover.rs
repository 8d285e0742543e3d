//! End-to-end tests: SRS → keygen → prove → verify, key and bundle serialization, ptau import.

mod common;

use std::path::PathBuf;

use common::{Tamper, TestCircuit, TestParams};
use zkgrid_prover::halo2_proofs::dev::{MockProver, VerifyFailure};
use zkgrid_prover::halo2_proofs::halo2curves::bn256::{pairing, Fq, Fr, G1Affine, G2Affine};
use zkgrid_prover::halo2_proofs::halo2curves::ff::PrimeField;
use zkgrid_prover::halo2_proofs::halo2curves::CurveAffine;
use zkgrid_prover::halo2_proofs::plonk::Circuit;
use zkgrid_prover::halo2_proofs::poly::commitment::ParamsProver;
use zkgrid_prover::halo2_proofs::SerdeFormat;
use zkgrid_prover::{
    encode_calldata, keygen, keygen_vk, pk_from_bytes, pk_to_bytes, prove, read_pk, read_vk,
    verify, verify_batch, vk_from_bytes, vk_to_bytes, write_pk, write_vk, DevSrsCache,
    KeygenOptions, ProofBundle, ProverError, Srs, SrsSource,
};

/// k of the test circuit: 16-row table, 2 rows per repetition, plus blinding rows.
const K: u32 = 6;
const REPS: usize = 8;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

fn params_bytes(srs: &Srs) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    srs.params().write_custom(&mut out, SerdeFormat::RawBytes)?;
    Ok(out)
}

fn dev_srs(k: u32) -> anyhow::Result<(tempfile::TempDir, Srs)> {
    let dir = tempfile::tempdir()?;
    let srs = DevSrsCache::new(dir.path()).load(k)?;
    Ok((dir, srs))
}

/// Proves the honest test circuit with `srs` and checks it verifies.
fn prove_and_verify(srs: &Srs) -> anyhow::Result<()> {
    let circuit = TestCircuit::new(REPS);
    let keys = keygen(srs, &circuit.without_witnesses(), KeygenOptions::default())?;
    let instances = TestCircuit::instances(REPS);
    let proof = prove(srs, keys.pk(), &circuit, &instances)?;
    verify(srs, keys.vk(), &instances, &proof)?;
    Ok(())
}

#[test]
fn mock_prover_accepts_honest_and_rejects_each_tampering() -> anyhow::Result<()> {
    let honest = MockProver::run(K, &TestCircuit::new(REPS), TestCircuit::instances(REPS))?;
    assert_eq!(honest.verify(), Ok(()));

    let failures =
        |tamper: Tamper, instances: Vec<Vec<Fr>>| -> anyhow::Result<Vec<VerifyFailure>> {
            let prover = MockProver::run(K, &TestCircuit::tampered(REPS, tamper), instances)?;
            match prover.verify() {
                Ok(()) => anyhow::bail!("{tamper:?} was accepted"),
                Err(failures) => Ok(failures),
            }
        };
    let is_gate = |f: &VerifyFailure, gate: &str| {
        matches!(f, VerifyFailure::ConstraintNotSatisfied { constraint, .. }
            if format!("{constraint}").contains(gate))
    };
    let is_copy = |f: &VerifyFailure| matches!(f, VerifyFailure::Permutation { .. });
    let is_lookup = |f: &VerifyFailure| matches!(f, VerifyFailure::Lookup { .. });

    let f = failures(Tamper::WrongProduct, TestCircuit::instances(REPS))?;
    assert!(f.iter().any(|f| is_gate(f, "mul")), "{f:?}");

    let f = failures(Tamper::WrongSum, TestCircuit::instances(REPS))?;
    assert!(f.iter().any(|f| is_gate(f, "add")), "{f:?}");

    // The sum follows the wrong copied value, so only copy constraints can catch it.
    let f = failures(Tamper::BrokenCopy, TestCircuit::instances(REPS))?;
    assert!(f.iter().all(is_copy), "{f:?}");
    assert!(!f.is_empty());

    // Give the instance the tampered output so that only the range lookup can catch it:
    // x = 16, y = 3 → y + x·y = 51.
    let mut instances = TestCircuit::instances(REPS);
    instances[0][0] = Fr::from(51u64);
    let f = failures(Tamper::OutOfRange, instances)?;
    assert!(f.iter().all(is_lookup), "{f:?}");
    assert!(!f.is_empty());

    // A wrong public output is caught by the instance copy constraint.
    let mut wrong_output = TestCircuit::instances(REPS);
    wrong_output[0][3] += Fr::from(1u64);
    let prover = MockProver::run(K, &TestCircuit::new(REPS), wrong_output)?;
    assert!(prover.verify().is_err());
    Ok(())
}

#[test]
fn prove_verify_and_reject_tampering() -> anyhow::Result<()> {
    let (_dir, srs) = dev_srs(K)?;
    assert!(srs.insecure());
    let circuit = TestCircuit::new(REPS);
    let keys = keygen(&srs, &circuit.without_witnesses(), KeygenOptions::default())?;
    let instances = TestCircuit::instances(REPS);
    let proof = prove(&srs, keys.pk(), &circuit, &instances)?;
    verify(&srs, keys.vk(), &instances, &proof)?;

    // Proofs are randomized, both verify.
    let proof2 = prove(&srs, keys.pk(), &circuit, &instances)?;
    assert_ne!(proof, proof2);
    verify(&srs, keys.vk(), &instances, &proof2)?;

    // Changing any single instance value must fail.
    for index in [0, REPS - 1] {
        let mut changed = instances.clone();
        changed[0][index] += Fr::from(1u64);
        assert!(matches!(
            verify(&srs, keys.vk(), &changed, &proof),
            Err(ProverError::VerificationFailed { .. })
        ));
    }
    // Dropping an instance (zero-padding it) must fail too.
    let mut shorter = instances.clone();
    shorter[0].pop();
    assert!(verify(&srs, keys.vk(), &shorter, &proof).is_err());

    // Flipping one bit anywhere in the proof must fail (first point, middle, last scalar).
    for position in [0, 31, 63, proof.len() / 2, proof.len() - 1] {
        let mut flipped = proof.clone();
        flipped[position] ^= 1;
        assert!(
            verify(&srs, keys.vk(), &instances, &flipped).is_err(),
            "flipped byte {position} accepted"
        );
    }
    // Truncated and extended proofs.
    assert!(verify(&srs, keys.vk(), &instances, &proof[..proof.len() - 1]).is_err());
    let mut extended = proof.clone();
    extended.push(0);
    assert!(matches!(
        verify(&srs, keys.vk(), &instances, &extended),
        Err(ProverError::TrailingProofBytes { count: 1 })
    ));

    // Shape errors are typed, not panics.
    assert!(matches!(
        verify(&srs, keys.vk(), &[], &proof),
        Err(ProverError::InstanceColumns {
            expected: 1,
            found: 0
        })
    ));
    let too_long = vec![vec![Fr::from(0u64); 1 << K]];
    assert!(matches!(
        prove(&srs, keys.pk(), &circuit, &too_long),
        Err(ProverError::InstanceTooLong { column: 0, .. })
    ));

    // A witness that violates a gate yields a proof that does not verify.
    let bad = TestCircuit::tampered(REPS, Tamper::WrongProduct);
    let mut bad_instances = instances.clone();
    bad_instances[0][0] += Fr::from(1u64); // keep the instance consistent with the lie
    match prove(&srs, keys.pk(), &bad, &bad_instances) {
        Ok(bad_proof) => assert!(verify(&srs, keys.vk(), &bad_instances, &bad_proof).is_err()),
        Err(e) => assert!(matches!(e, ProverError::Halo2 { .. }), "{e}"),
    }
    // A value outside the lookup table cannot even be proven.
    let mut range_instances = instances.clone();
    range_instances[0][0] = Fr::from(51u64);
    let out_of_range = TestCircuit::tampered(REPS, Tamper::OutOfRange);
    match prove(&srs, keys.pk(), &out_of_range, &range_instances) {
        Ok(bad_proof) => assert!(verify(&srs, keys.vk(), &range_instances, &bad_proof).is_err()),
        Err(e) => assert!(matches!(e, ProverError::Halo2 { .. }), "{e}"),
    }
    Ok(())
}

#[test]
fn batch_verification() -> anyhow::Result<()> {
    let (_dir, srs) = dev_srs(K)?;
    let circuit = TestCircuit::new(REPS);
    let keys = keygen(&srs, &circuit.without_witnesses(), KeygenOptions::default())?;
    let instances = TestCircuit::instances(REPS);
    let items: Vec<_> = (0..3)
        .map(|_| {
            Ok((
                instances.clone(),
                prove(&srs, keys.pk(), &circuit, &instances)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    verify_batch(&srs, keys.vk(), &items)?;

    let mut bad = items.clone();
    bad[1].0[0][2] += Fr::from(1u64);
    assert!(verify_batch(&srs, keys.vk(), &bad).is_err());
    let mut bad = items;
    let last = bad[2].1.len() - 1;
    bad[2].1[last] ^= 1;
    assert!(verify_batch(&srs, keys.vk(), &bad).is_err());
    Ok(())
}

#[test]
fn calldata_layout_matches_evm_encoding() -> anyhow::Result<()> {
    let (_dir, srs) = dev_srs(K)?;
    let circuit = TestCircuit::new(REPS);
    let keys = keygen(&srs, &circuit.without_witnesses(), KeygenOptions::default())?;
    let instances = TestCircuit::instances(REPS);
    let proof = prove(&srs, keys.pk(), &circuit, &instances)?;
    let calldata = encode_calldata(&instances, &proof);
    assert_eq!(calldata.len(), 32 * REPS + proof.len());
    for (i, value) in instances[0].iter().enumerate() {
        let mut be = value.to_repr();
        be.reverse();
        assert_eq!(&calldata[32 * i..32 * (i + 1)], be.as_slice());
    }
    assert_eq!(&calldata[32 * REPS..], proof.as_slice());
    // The first proof element is an uncompressed point: 64 bytes of big-endian x ‖ y on G1.
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    x.copy_from_slice(&proof[..32]);
    y.copy_from_slice(&proof[32..64]);
    x.reverse();
    y.reverse();
    let point = Option::<Fq>::from(Fq::from_repr(x))
        .zip(Option::<Fq>::from(Fq::from_repr(y)))
        .and_then(|(x, y)| Option::<G1Affine>::from(G1Affine::from_xy(x, y)));
    assert!(
        point.is_some(),
        "proof does not start with an uncompressed G1 point"
    );
    Ok(())
}

#[test]
fn vk_is_deterministic_and_keys_round_trip() -> anyhow::Result<()> {
    let (dir, srs) = dev_srs(K)?;
    let shape = TestCircuit::new(REPS).without_witnesses();
    let a = keygen(&srs, &shape, KeygenOptions::default())?;
    let b = keygen(&srs, &shape, KeygenOptions::default())?;
    assert_eq!(vk_to_bytes(a.vk()), vk_to_bytes(b.vk()));
    assert_eq!(a.vk_hash(), b.vk_hash());
    let (vk_only, vk_only_hash) = keygen_vk(&srs, &shape, KeygenOptions::default())?;
    assert_eq!(vk_to_bytes(&vk_only), vk_to_bytes(a.vk()));
    assert_eq!(vk_only_hash, a.vk_hash());
    // Same SRS reloaded from the cache: same vk.
    let reloaded = DevSrsCache::new(dir.path()).load(K)?;
    let c = keygen(&reloaded, &shape, KeygenOptions::default())?;
    assert_eq!(vk_to_bytes(c.vk()), vk_to_bytes(a.vk()));
    // A different circuit (more repetitions → other copy constraints) has another vk hash.
    let other = keygen(
        &srs,
        &TestCircuit::new(REPS + 1).without_witnesses(),
        KeygenOptions::default(),
    )?;
    assert_ne!(other.vk_hash(), a.vk_hash());
    // Selector compression is a different (valid) key.
    let compressed = keygen(
        &srs,
        &shape,
        KeygenOptions {
            compress_selectors: true,
        },
    )?;
    assert_ne!(compressed.vk_hash(), a.vk_hash());
    let circuit = TestCircuit::new(REPS);
    let instances = TestCircuit::instances(REPS);
    let proof = prove(&srs, compressed.pk(), &circuit, &instances)?;
    verify(&srs, compressed.vk(), &instances, &proof)?;

    // vk: bytes and file round trip; wrong circuit params are rejected.
    let vk_path = dir.path().join("keys").join("test.vk");
    write_vk(a.vk(), &vk_path)?;
    let (vk, hash) = read_vk::<TestCircuit>(&vk_path, TestParams::default())?;
    assert_eq!(hash, a.vk_hash());
    assert_eq!(vk_to_bytes(&vk), vk_to_bytes(a.vk()));
    let wrong = TestParams { add_offset: 1 };
    assert!(matches!(
        vk_from_bytes::<TestCircuit>(&vk_to_bytes(a.vk()), wrong),
        Err(ProverError::KeyFormat { .. })
    ));
    let vk_bytes = vk_to_bytes(a.vk());
    for cut in [0, 1, 5, vk_bytes.len() / 2, vk_bytes.len() - 1] {
        assert!(vk_from_bytes::<TestCircuit>(&vk_bytes[..cut], TestParams::default()).is_err());
    }
    let mut huge_k = vk_bytes.clone();
    huge_k[1..5].copy_from_slice(&60u32.to_le_bytes());
    assert!(matches!(
        vk_from_bytes::<TestCircuit>(&huge_k, TestParams::default()),
        Err(ProverError::KOutOfRange { k: 60, .. })
    ));
    // A fixed commitment moved off the curve (header: 1 + 4 + 1 + 4 bytes).
    let mut off_curve = vk_bytes.clone();
    off_curve[10] ^= 1;
    assert!(vk_from_bytes::<TestCircuit>(&off_curve, TestParams::default()).is_err());

    // pk: envelope round trip; the loaded key proves, the original vk verifies.
    let pk_path = dir.path().join("keys").join("test.pk");
    write_pk(&a, &pk_path)?;
    let loaded = read_pk::<TestCircuit>(&pk_path, &srs, TestParams::default(), Some(&a.vk_hash()))?;
    assert_eq!(loaded.vk_hash(), a.vk_hash());
    let proof = prove(&srs, loaded.pk(), &circuit, &instances)?;
    verify(&srs, a.vk(), &instances, &proof)?;

    let pk_bytes = pk_to_bytes(&a);
    let mut corrupt = pk_bytes.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert!(matches!(
        pk_from_bytes::<TestCircuit>(&corrupt, &srs, TestParams::default(), None),
        Err(ProverError::KeyFormat { .. })
    ));
    assert!(matches!(
        pk_from_bytes::<TestCircuit>(
            &pk_bytes[..pk_bytes.len() - 9],
            &srs,
            TestParams::default(),
            None
        ),
        Err(ProverError::KeyFormat { .. })
    ));
    assert!(matches!(
        pk_from_bytes::<TestCircuit>(&pk_bytes, &srs, wrong, None),
        Err(ProverError::VkHashMismatch { .. })
    ));
    assert!(matches!(
        pk_from_bytes::<TestCircuit>(
            &pk_bytes,
            &srs,
            TestParams::default(),
            Some(&other.vk_hash())
        ),
        Err(ProverError::VkHashMismatch { .. })
    ));
    let ptau_srs = Srs::from_ptau(&fixture("pot6_final.ptau"), K)?;
    assert!(matches!(
        pk_from_bytes::<TestCircuit>(&pk_bytes, &ptau_srs, TestParams::default(), None),
        Err(ProverError::PkSrsMismatch { .. })
    ));
    Ok(())
}

#[test]
fn dev_srs_cache_hit_and_downsized_params_prove() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cache = DevSrsCache::new(dir.path()).with_generate_k(K + 2);
    let first = cache.load(K)?;
    // Generated at k + 2; the downsized params are cached too, so later loads at K skip the
    // Lagrange-basis recomputation.
    assert_eq!(cache.cached_ks()?, vec![K, K + 2]);
    assert!(cache.path_for(K + 2).exists());
    let hit = cache.load(K)?;
    assert_eq!(params_bytes(&first)?, params_bytes(&hit)?);
    assert!(first.label().starts_with("INSECURE dev SRS"));
    assert!(first.info().insecure);
    assert_eq!(first.source(), &SrsSource::DevInsecure);

    // Downsized from the cached k + 2; proves and verifies.
    prove_and_verify(&hit)?;
    // Downsized again in memory from the full-size params.
    let big = cache.load(K + 2)?;
    prove_and_verify(&big.downsized(K)?)?;

    // Params of the wrong size are a typed error.
    let circuit = TestCircuit::new(REPS);
    let keys = keygen(&hit, &circuit.without_witnesses(), KeygenOptions::default())?;
    let instances = TestCircuit::instances(REPS);
    assert!(matches!(
        prove(&big, keys.pk(), &circuit, &instances),
        Err(ProverError::KMismatch { srs_k, key_k }) if srs_k == K + 2 && key_k == K
    ));
    Ok(())
}

#[test]
fn bundle_round_trip_and_verify() -> anyhow::Result<()> {
    let (_dir, srs) = dev_srs(K)?;
    let circuit = TestCircuit::new(REPS);
    let keys = keygen(&srs, &circuit.without_witnesses(), KeygenOptions::default())?;
    let instances = TestCircuit::instances(REPS);
    let proof = prove(&srs, keys.pk(), &circuit, &instances)?;
    let bundle = ProofBundle::new(
        "test-model",
        keys.vk(),
        &srs,
        instances.clone(),
        proof.clone(),
        serde_json::json!({"outputs": [3, 17]}),
    );
    assert!(bundle.srs.insecure);
    assert!(bundle.srs.label.contains("INSECURE dev SRS"));
    assert_eq!(bundle.calldata(), encode_calldata(&instances, &proof));
    let json = bundle.to_json()?;
    assert!(json.contains("INSECURE dev SRS"));
    let back = ProofBundle::from_json(&json)?;
    assert_eq!(back, bundle);
    back.verify(&srs, keys.vk())?;

    let mut lying = back.clone();
    lying.instances[0][1] += Fr::from(1u64);
    assert!(lying.verify(&srs, keys.vk()).is_err());
    let other = keygen(
        &srs,
        &TestCircuit::new(REPS + 1).without_witnesses(),
        KeygenOptions::default(),
    )?;
    assert!(matches!(
        back.verify(&srs, other.vk()),
        Err(ProverError::VkHashMismatch { .. })
    ));
    Ok(())
}

/// Affine coordinates as `0x` + 64 hex digits, big-endian.
fn fq_hex(x: &Fq) -> String {
    let mut bytes = x.to_repr();
    bytes.reverse();
    format!("0x{}", hex::encode(bytes))
}

#[test]
fn ptau_fixture_imports_and_proves() -> anyhow::Result<()> {
    // Produced by npm snarkjs 0.7: `powersoftau new bn128 6`, two contributions, a beacon,
    // `prepare phase2` (see tests/fixtures/README.md).
    let path = fixture("pot6_final.ptau");
    let srs = Srs::from_ptau(&path, K)?;
    assert!(!srs.insecure());
    assert_eq!(srs.k(), K);
    assert!(srs.label().contains("pot6_final.ptau"));
    let g = srs.params().get_g();
    assert_eq!(g.len(), 1 << K);
    assert_eq!(g[0], G1Affine::generator());
    assert_eq!(srs.params().g2(), G2Affine::generator());

    // Coordinates decoded independently by snarkjs' ffjavascript (G1.toObject(toAffine(..))).
    assert_eq!(
        (fq_hex(&g[1].x), fq_hex(&g[1].y)),
        (
            "0x0c9001dde04cddf31011a8c4183427f396f5d403125aa1ac0df3759912b3277e".to_owned(),
            "0x0ce6958e3783b65b4e0e124d05644c188fa983f1dca78bce5d4abb5938dcc873".to_owned()
        )
    );
    assert_eq!(
        (fq_hex(&g[63].x), fq_hex(&g[63].y)),
        (
            "0x253273f2376e524bf1149d6e391b1e64a52c628d3e2fd9da1714ff2377e7b274".to_owned(),
            "0x1ec8d9cedea86cc4d624fa4097cdd63f2b701440d71c683f908be1bc93cbf468".to_owned()
        )
    );
    let s_g2 = srs.params().s_g2();
    assert_eq!(
        [
            fq_hex(&s_g2.x.c0),
            fq_hex(&s_g2.x.c1),
            fq_hex(&s_g2.y.c0),
            fq_hex(&s_g2.y.c1)
        ],
        [
            "0x08386e7d3ac57e17435afc79ab3d20825d4991059a1dc27518b4f6a6c4a476d3",
            "0x23d6d094f07af3532b52a363d9dcf0db1c0d7f130880ff22e06d37cebff64baf",
            "0x0d8cf7e3c7cee095dee26dbd47baae3f56214beffff8d08f1e61c30e980d9165",
            "0x1a87ff200d77e6b79992ae589e63a6918e2128b31ef4bea389b5ebd8721e4dea",
        ]
    );

    // Pairing consistency, point by point: e(g_i, [τ]₂) = e(g_{i+1}, [1]₂).
    let g2 = srs.params().g2();
    for i in 0..g.len() - 1 {
        assert_eq!(pairing(&g[i], &s_g2), pairing(&g[i + 1], &g2), "power {i}");
    }
    srs.validate()?;

    prove_and_verify(&srs)?;

    // Smaller k from the same file equals downsizing.
    let small = Srs::from_ptau(&path, 4)?;
    assert_eq!(params_bytes(&small)?, params_bytes(&srs.downsized(4)?)?);
    assert_eq!(small.fingerprint(), srs.fingerprint());
    assert!(matches!(
        Srs::from_ptau(&path, K + 1),
        Err(ProverError::PtauPowerTooSmall { power: 6, k: 7, .. })
    ));
    Ok(())
}
