//! Test vectors: committed, self-checking records of one proof per model that anyone can replay.
//!
//! A vector names how to rebuild its model from the repository (a zoo model, or an ONNX file
//! relative to the vector plus a seeded calibration set) instead of embedding the quantized
//! weights, so the vector stays small and its replay also checks that quantization is
//! reproducible. [`replay`] checks, in order:
//!
//! 1. the format version;
//! 2. the rebuilt model's hash equals `model_hash` (deterministic import and quantization);
//! 3. quantizing `input` gives `input_q`, and the integer executor maps it to `expected_output`;
//! 4. the public instances rebuilt from (visibility, input, output, recipient) equal the proof's;
//! 5. the verifying key parses for the model circuit with `settings`, and its hash is the bundle's;
//! 6. the bundle's decoded output agrees with its instances;
//! 7. the proof verifies against the SRS it was made with (the dev SRS is regenerated and its
//!    fingerprint compared);
//! 8. the same proof with one output instance changed is rejected;
//! 9. optionally ([`ReplayOptions::keygen`]) the verifying key regenerated from the model and
//!    settings is byte-identical to the committed one.
//!
//! Vectors are written by [`generate`]; the repository regenerates them only when
//! `ZKGRID_REGENERATE_VECTORS=1` (see `prover/tests/vectors.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;
use serde::{Deserialize, Serialize};
use zkgrid_circuits::model::{
    instances, recipient_from_address, CircuitSettings, PlanGoal, Visibility,
};
use zkgrid_circuits::ModelCircuit;
use zkgrid_models::input::parse_single;
use zkgrid_models::{compile, execute, quantize_input, zoo, QuantConfig, QuantizedModel};

use crate::bundle::{hex_string, ProofBundle};
use crate::error::{ProverError, Result};
use crate::keys::{keygen_vk, vk_from_bytes, vk_to_bytes, KeygenOptions};
use crate::model::{check_bundle_output, setup, SetupOptions, SrsChoice};
use crate::srs::DevSrsCache;

/// The vector format version this crate writes and reads.
pub const VECTOR_FORMAT_VERSION: u32 = 1;

/// Largest ONNX file a vector may reference (bytes).
const MAX_ONNX_BYTES: u64 = 64 << 20;

/// Where a vector's model comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSource {
    /// A model of the built-in zoo, calibrated with the zoo's calibration set.
    Zoo {
        /// Zoo name.
        name: String,
    },
    /// An ONNX file, calibrated with `zoo::uniform_samples(calibration_seed, calibration_samples, n)`.
    Onnx {
        /// Path of the ONNX file, relative to the vector's directory.
        path: PathBuf,
        /// Seed of the uniform calibration samples.
        calibration_seed: u64,
        /// Number of calibration samples.
        calibration_samples: usize,
    },
}

/// What to make a vector from.
#[derive(Clone, Debug)]
pub struct VectorSpec {
    /// Vector name (file stem).
    pub name: String,
    /// The model.
    pub source: ModelSource,
    /// Quantization settings.
    pub quant: QuantConfig,
    /// Input/output visibility of the proof.
    pub visibility: Visibility,
    /// The float input.
    pub input: Vec<f64>,
    /// The 20-byte recipient address bound into the proof.
    pub recipient: [u8; 20],
    /// The planner goal the layout is chosen for (the vector stores the settings it got).
    pub goal: PlanGoal,
}

/// One committed test vector (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestVector {
    /// [`VECTOR_FORMAT_VERSION`].
    pub format_version: u32,
    /// Name.
    pub name: String,
    /// How to rebuild the model.
    pub source: ModelSource,
    /// Quantization settings.
    pub quant: QuantConfig,
    /// SHA-256 of the quantized model's canonical bytes.
    pub model_hash: String,
    /// The float input.
    pub input: Vec<f64>,
    /// The quantized input.
    pub input_q: Vec<i64>,
    /// The executor's quantized output.
    pub expected_output: Vec<i64>,
    /// The recipient address bound into the proof (0x + 40 hex digits).
    pub recipient: String,
    /// Circuit settings (visibility, layout, k): with the model they determine the vk.
    pub settings: CircuitSettings,
    /// Canonical verifying-key bytes, 0x-hex.
    pub vk: String,
    /// The proof bundle (instances, proof, decoded output, calldata, SRS).
    pub bundle: ProofBundle,
}

/// Options of [`replay`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayOptions {
    /// Also regenerate the verifying key from the model and compare bytes (runs keygen).
    pub keygen: bool,
}

/// What a successful replay checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Vector name.
    pub name: String,
    /// Model hash.
    pub model_hash: String,
    /// Circuit size.
    pub k: u32,
    /// vk hash.
    pub vk_hash: String,
    /// Number of public instances.
    pub instances: usize,
    /// Proof size in bytes.
    pub proof_bytes: usize,
    /// Seconds spent in proof verification.
    pub verify_s: f64,
    /// Seconds for the whole replay (model rebuild included).
    pub total_s: f64,
    /// The checks that passed, in order.
    pub checks: Vec<&'static str>,
}

fn mismatch(vector: &str, what: impl Into<String>) -> ProverError {
    ProverError::VectorMismatch {
        vector: vector.to_string(),
        what: what.into(),
    }
}

fn parse_address(vector: &str, s: &str) -> Result<[u8; 20]> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| mismatch(vector, format!("recipient {s:?} lacks 0x")))?;
    let bytes =
        hex::decode(h).map_err(|e| mismatch(vector, format!("recipient {s:?} is not hex: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| mismatch(vector, format!("recipient {s:?} is not 20 bytes")))
}

/// Rebuilds the quantized model a vector (or spec) names. `base` is the vector's directory;
/// `n_inputs` sizes the calibration set of ONNX sources.
pub fn build_model(
    name: &str,
    source: &ModelSource,
    quant: &QuantConfig,
    base: &Path,
    n_inputs: usize,
) -> Result<QuantizedModel> {
    let compiled = match source {
        ModelSource::Zoo { name: zoo_name } => {
            let m = zoo::get(zoo_name)?;
            compile(&m.onnx, m.name, Some(&m.calibration), quant)?
        }
        ModelSource::Onnx {
            path,
            calibration_seed,
            calibration_samples,
        } => {
            let full = base.join(path);
            let bytes = read_limited(&full, MAX_ONNX_BYTES)?;
            let calib = zoo::uniform_samples(*calibration_seed, *calibration_samples, n_inputs);
            compile(&bytes, name, Some(&calib), quant)?
        }
    };
    Ok(compiled.model)
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| ProverError::io("open", path, e))?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ProverError::io("read", path, e))?;
    if bytes.len() as u64 > limit {
        return Err(ProverError::FileTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Reads a float input JSON file (any format `zkgrid run` accepts) for a model with `shape`.
pub fn read_input(path: &Path, shape: &[usize]) -> Result<Vec<f64>> {
    let bytes = read_limited(path, zkgrid_models::input::MAX_INPUT_JSON_BYTES as u64)?;
    Ok(parse_single(&bytes, shape.iter().product(), shape)?)
}

/// Proves `spec` (keys cached under `data_dir`, dev SRS) and returns the vector. `base` is the
/// directory the vector will be written to (ONNX paths are relative to it).
#[tracing::instrument(skip_all, fields(vector = %spec.name))]
pub fn generate(data_dir: &Path, base: &Path, spec: &VectorSpec) -> Result<TestVector> {
    let model = build_model(
        &spec.name,
        &spec.source,
        &spec.quant,
        base,
        spec.input.len(),
    )?;
    let opts = SetupOptions {
        visibility: spec.visibility,
        srs: SrsChoice::Dev,
        goal: spec.goal,
        ..SetupOptions::default()
    };
    let keys = setup(data_dir, &model, &opts)?;
    let input_q = quantize_input(&model, &spec.input)?;
    let expected_output = execute(&model, &input_q)?.output().to_vec();
    let (bundle, _) = keys.prove(&input_q, recipient_from_address(&spec.recipient))?;
    Ok(TestVector {
        format_version: VECTOR_FORMAT_VERSION,
        name: spec.name.clone(),
        source: spec.source.clone(),
        quant: spec.quant,
        model_hash: keys.model_hash.clone(),
        input: spec.input.clone(),
        input_q,
        expected_output,
        recipient: hex_string(&spec.recipient),
        settings: keys.plan.settings,
        vk: hex_string(&vk_to_bytes(keys.keys.vk())),
        bundle,
    })
}

impl TestVector {
    /// Parses a vector (strict: unknown fields are errors).
    pub fn from_json(name: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| mismatch(name, format!("unreadable JSON: {e}")))
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<String> {
        let mut s = serde_json::to_string_pretty(self)
            .map_err(|source| ProverError::BundleSerialize { source })?;
        s.push('\n');
        Ok(s)
    }
}

/// Replays one vector file; see the module docs for the checks.
pub fn replay_file(data_dir: &Path, path: &Path, opts: ReplayOptions) -> Result<ReplayReport> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let bytes = read_limited(path, 64 << 20)?;
    let v = TestVector::from_json(&name, &bytes)?;
    let base = path.parent().unwrap_or(Path::new("."));
    replay(data_dir, base, &v, opts)
}

/// Replays a parsed vector whose ONNX paths are relative to `base`.
#[tracing::instrument(skip_all, fields(vector = %v.name))]
pub fn replay(
    data_dir: &Path,
    base: &Path,
    v: &TestVector,
    opts: ReplayOptions,
) -> Result<ReplayReport> {
    let start = Instant::now();
    let name = v.name.as_str();
    let mut checks = Vec::new();
    if v.format_version != VECTOR_FORMAT_VERSION {
        return Err(mismatch(
            name,
            format!(
                "format_version {} (this build reads {VECTOR_FORMAT_VERSION})",
                v.format_version
            ),
        ));
    }
    checks.push("format version");

    let model = build_model(name, &v.source, &v.quant, base, v.input.len())?;
    let model_hash = model.hash()?;
    if model_hash != v.model_hash || v.bundle.model_hash != v.model_hash {
        return Err(mismatch(
            name,
            format!(
                "model hash: rebuilt {model_hash}, vector {}, bundle {}",
                v.model_hash, v.bundle.model_hash
            ),
        ));
    }
    checks.push("model rebuilt with the same hash");

    let input_q = quantize_input(&model, &v.input)?;
    if input_q != v.input_q {
        return Err(mismatch(name, "quantized input differs from input_q"));
    }
    let output = execute(&model, &input_q)?.output().to_vec();
    if output != v.expected_output {
        return Err(mismatch(
            name,
            format!(
                "executor output {output:?} differs from expected {:?}",
                v.expected_output
            ),
        ));
    }
    checks.push("executor output = expected output");

    let recipient: Fr = recipient_from_address(&parse_address(name, &v.recipient)?);
    let want = instances(&model, v.settings.visibility, &input_q, &output, recipient)?;
    match v.bundle.instances.as_slice() {
        [col] if *col == want => {}
        _ => {
            return Err(mismatch(
                name,
                "the proof's public instances are not the statement \
                 ([weights commitment,] input, output, recipient)",
            ))
        }
    }
    checks.push(if v.settings.visibility.hashed_weights() {
        "instances = (weights commitment, input, output, recipient)"
    } else {
        "instances = (input, output, recipient)"
    });

    let vk_bytes = hex::decode(v.vk.trim_start_matches("0x"))
        .map_err(|e| mismatch(name, format!("vk is not hex: {e}")))?;
    let (vk, vk_hash) = vk_from_bytes::<ModelCircuit>(&vk_bytes, v.settings)?;
    if vk_hash != v.bundle.vk_hash {
        return Err(mismatch(
            name,
            format!(
                "vk hash {vk_hash} differs from the bundle's {}",
                v.bundle.vk_hash
            ),
        ));
    }
    checks.push("vk parses for the model circuit, hash = bundle's");

    check_bundle_output(&model, &v.bundle)?;
    checks.push("decoded output = instances");

    if !v.bundle.srs.insecure {
        return Err(mismatch(
            name,
            format!(
                "made with SRS {:?}; replay supports the dev SRS only",
                v.bundle.srs.label
            ),
        ));
    }
    let srs = DevSrsCache::new(data_dir)
        .with_generate_k(v.bundle.k)
        .load(v.bundle.k)?;
    if srs.fingerprint() != v.bundle.srs.fingerprint {
        return Err(mismatch(
            name,
            "dev SRS fingerprint differs from the one the proof was made with",
        ));
    }
    let t = Instant::now();
    v.bundle.verify(&srs, &vk)?;
    let verify_s = t.elapsed().as_secs_f64();
    checks.push("proof verifies");

    let mut tampered = v.bundle.clone();
    let idx = zkgrid_circuits::model::InstanceLayout::new(&model, v.settings.visibility)
        .output_range()
        .start;
    let cell = tampered.instances[0]
        .get_mut(idx)
        .ok_or_else(|| mismatch(name, "no output instance"))?;
    *cell += Fr::ONE;
    if tampered.verify(&srs, &vk).is_ok() {
        return Err(mismatch(
            name,
            "a proof with a changed output instance verified",
        ));
    }
    checks.push("changed output instance rejected");

    if opts.keygen {
        let circuit = ModelCircuit::new(&model, v.settings, None)?;
        let (fresh, _) = keygen_vk(&srs, &circuit, KeygenOptions::for_settings(&v.settings))?;
        if vk_to_bytes(&fresh) != vk_bytes {
            return Err(mismatch(
                name,
                "verifying key regenerated from the model differs from the committed one",
            ));
        }
        checks.push("vk regenerated byte-identical");
    }

    Ok(ReplayReport {
        name: v.name.clone(),
        model_hash,
        k: v.bundle.k,
        vk_hash: vk_hash.to_string(),
        instances: v.bundle.instances.iter().map(Vec::len).sum(),
        proof_bytes: v.bundle.proof.len(),
        verify_s,
        total_s: start.elapsed().as_secs_f64(),
        checks,
    })
}

/// The `*.json` vector files in `dir`, sorted by name.
pub fn vector_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| ProverError::io("read directory", dir, e))?;
    let mut files = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| ProverError::io("read directory", dir, e))?;
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "json") && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// The recipient every committed vector binds its proof to.
pub const VECTOR_RECIPIENT: [u8; 20] = [0x11; 20];

/// The vectors zkgrid commits under `test-vectors/`: every zoo model (with a spread of
/// visibilities) and the three peer models EZKL is measured on. `repo` is the repository root.
pub fn default_specs(repo: &Path) -> Result<Vec<VectorSpec>> {
    use zkgrid_circuits::model::{
        InputVisibility as I, OutputVisibility as O, WeightsVisibility as W,
    };
    let zoo_vis = [
        ("mlp_tiny", Visibility::new(I::Public, O::Public)),
        ("mlp_small", Visibility::new(I::Hashed, O::Public)),
        ("mlp_wide", Visibility::new(I::Public, O::Public)),
        ("cnn_small", Visibility::new(I::Private, O::Hashed)),
        // The trained model: private weights, public commitment.
        (
            "digits_mlp",
            Visibility::new(I::Hashed, O::Hashed).with_weights(W::Hashed),
        ),
    ];
    let mut specs = Vec::new();
    for (name, visibility) in zoo_vis {
        let m = zoo::get(name)?;
        specs.push(VectorSpec {
            name: name.to_string(),
            source: ModelSource::Zoo {
                name: name.to_string(),
            },
            quant: QuantConfig::default(),
            visibility,
            input: m.sample_input,
            recipient: VECTOR_RECIPIENT,
            goal: PlanGoal::default(),
        });
    }
    // The narrow backend (what `--optimize gas` picks for a dense model): mlp_tiny with a
    // hashed input in one advice column.
    let m = zoo::get("mlp_tiny")?;
    specs.push(VectorSpec {
        name: "mlp_tiny_gas".to_string(),
        source: ModelSource::Zoo {
            name: "mlp_tiny".to_string(),
        },
        quant: QuantConfig::default(),
        visibility: Visibility::new(I::Hashed, O::Public),
        input: m.sample_input,
        recipient: VECTOR_RECIPIENT,
        goal: PlanGoal::Gas,
    });
    for peer in ["mlp_small", "mlp_wide", "cnn_small"] {
        let dir = repo.join("models/tests/fixtures/peer").join(peer);
        let graph = zkgrid_models::onnx::import_onnx(
            &read_limited(&dir.join("network.onnx"), MAX_ONNX_BYTES)?,
            peer,
        )?;
        let input = read_input(&dir.join("input.json"), &graph.input_shape)?;
        specs.push(VectorSpec {
            name: format!("peer_{peer}"),
            source: ModelSource::Onnx {
                path: PathBuf::from("../models/tests/fixtures/peer")
                    .join(peer)
                    .join("network.onnx"),
                calibration_seed: 7,
                calibration_samples: 16,
            },
            quant: QuantConfig::default(),
            visibility: Visibility::PUBLIC,
            input,
            recipient: VECTOR_RECIPIENT,
            goal: PlanGoal::default(),
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_json_is_tagged_and_strict() {
        let s = ModelSource::Onnx {
            path: "../a.onnx".into(),
            calibration_seed: 7,
            calibration_samples: 16,
        };
        let j = serde_json::to_string(&s).unwrap_or_default();
        assert!(j.contains("\"kind\":\"onnx\""), "{j}");
        let back: ModelSource = serde_json::from_str(&j).expect("round trip");
        assert_eq!(back, s);
        assert!(
            serde_json::from_str::<ModelSource>(r#"{"kind":"zoo","name":"x","extra":1}"#).is_err()
        );
        assert!(serde_json::from_str::<ModelSource>(r#"{"kind":"url","name":"x"}"#).is_err());
    }

    #[test]
    fn bad_vectors_are_typed_errors() {
        for bad in [&b"{"[..], b"[]", br#"{"format_version":1}"#] {
            let e = TestVector::from_json("v", bad).expect_err("must fail");
            assert!(matches!(e, ProverError::VectorMismatch { .. }), "{e}");
        }
        let e = parse_address("v", "0x1234").expect_err("short");
        assert!(e.to_string().contains("20 bytes"), "{e}");
    }
}
