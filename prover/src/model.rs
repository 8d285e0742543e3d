//! The model pipeline: plan a [`ModelCircuit`] for a quantized model, generate (or load cached)
//! keys, prove an input into a [`ProofBundle`], and verify bundles.
//!
//! Key cache layout under the data dir (keys are derived deterministically from the model, the
//! circuit settings and the SRS, so any worker can rebuild them):
//!
//! ```text
//! keys/<model hash>/<settings digest>-<srs fingerprint prefix>/{pk.bin, vk.bin, meta.json}
//! vks/<vk hash>/{vk.bin, meta.json}      # index used by `verify` to find the key of a bundle
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use halo2_proofs::halo2curves::bn256::Fr;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zkgrid_circuits::model::{
    decode_output, instances, plan, CircuitSettings, ModelWitness, Plan, Visibility,
};
use zkgrid_circuits::ModelCircuit;
use zkgrid_models::execute::{argmax, dequantize, execute};
use zkgrid_models::QuantizedModel;

use crate::bundle::ProofBundle;
use crate::error::{ProverError, Result};
use crate::keys::{
    keygen, read_pk, read_vk, write_pk, write_vk, CircuitKeys, KeygenOptions, VkHash,
};
use crate::proof::{prove, verify};
use crate::srs::{DevSrsCache, Srs};

/// Default advice-column budget for [`plan`] (trade-off: more columns prove faster per row but
/// cost more on-chain gas per commitment).
pub const DEFAULT_COLUMN_BUDGET: usize = 48;

/// Which SRS to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SrsChoice {
    /// The INSECURE deterministic dev SRS, cached under the data dir.
    Dev,
    /// A halo2 params file (raw bytes format).
    ParamsFile(PathBuf),
    /// A snarkjs powers-of-tau file.
    Ptau(PathBuf),
}

/// Setup options.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    /// Input/output visibility.
    pub visibility: Visibility,
    /// Advice-column budget for the planner.
    pub column_budget: usize,
    /// The SRS.
    pub srs: SrsChoice,
}

impl Default for SetupOptions {
    fn default() -> Self {
        SetupOptions {
            visibility: Visibility::PUBLIC,
            column_budget: DEFAULT_COLUMN_BUDGET,
            srs: SrsChoice::Dev,
        }
    }
}

/// What `meta.json` beside cached keys records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyMeta {
    /// Model hash.
    pub model_hash: String,
    /// Circuit settings (needed to read the keys back).
    pub settings: CircuitSettings,
    /// vk hash.
    pub vk_hash: String,
    /// SRS label (says INSECURE for the dev SRS).
    pub srs_label: String,
    /// SRS fingerprint.
    pub srs_fingerprint: String,
    /// Whether the SRS is the insecure dev SRS.
    pub srs_insecure: bool,
}

/// Timings of [`setup`] in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupTimings {
    /// Planning (exact row count of candidate layouts).
    pub plan_s: f64,
    /// Loading or generating the SRS.
    pub srs_s: f64,
    /// Key generation, or loading cached keys.
    pub keys_s: f64,
    /// Whether the keys came from the cache.
    pub cached: bool,
}

/// Keys and everything needed to prove a model.
pub struct ModelKeys {
    /// The model.
    pub model: Arc<QuantizedModel>,
    /// Its hash.
    pub model_hash: String,
    /// The chosen layout.
    pub plan: Plan,
    /// The SRS at the circuit's `k`.
    pub srs: Srs,
    /// Proving and verifying key.
    pub keys: CircuitKeys,
    /// Where the keys are cached.
    pub key_dir: PathBuf,
    /// How long setup took.
    pub timings: SetupTimings,
}

/// Timings of one proof, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProveTimings {
    /// Integer execution (witness values).
    pub witness_s: f64,
    /// `create_proof`.
    pub prove_s: f64,
    /// Native verification of the fresh proof.
    pub verify_s: f64,
}

fn settings_digest(s: &CircuitSettings) -> Result<String> {
    let bytes = serde_json::to_vec(s).map_err(|source| ProverError::BundleSerialize { source })?;
    Ok(hex::encode(&Sha256::digest(bytes)[..8]))
}

fn load_srs(data_dir: &Path, choice: &SrsChoice, k: u32) -> Result<Srs> {
    match choice {
        SrsChoice::Dev => DevSrsCache::new(data_dir).with_generate_k(k).load(k),
        SrsChoice::ParamsFile(p) => {
            Srs::read_params_file(p, halo2_proofs::SerdeFormat::RawBytes)?.into_downsized(k)
        }
        SrsChoice::Ptau(p) => Srs::from_ptau(p, k),
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes =
        serde_json::to_vec_pretty(v).map_err(|source| ProverError::BundleSerialize { source })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ProverError::io("create", dir, e))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| ProverError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ProverError::io("rename", path, e))
}

fn read_meta(path: &Path) -> Result<KeyMeta> {
    let bytes = std::fs::read(path).map_err(|e| ProverError::io("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| ProverError::KeyMetadata {
        path: path.to_path_buf(),
        source,
    })
}

/// Plan the circuit, load/generate the SRS and load/generate the keys (cached under `data_dir`).
#[tracing::instrument(skip_all, fields(model = %model.name))]
pub fn setup(data_dir: &Path, model: &QuantizedModel, opts: &SetupOptions) -> Result<ModelKeys> {
    let t = Instant::now();
    let model_hash = model.hash()?;
    let plan = plan(model, opts.visibility, opts.column_budget)?;
    let plan_s = t.elapsed().as_secs_f64();
    let k = plan.settings.k;
    let t = Instant::now();
    let srs = load_srs(data_dir, &opts.srs, k)?;
    let srs_s = t.elapsed().as_secs_f64();
    let fp = srs.fingerprint();
    let fp_short: String = fp.trim_start_matches("0x").chars().take(16).collect();
    let key_dir = data_dir
        .join("keys")
        .join(&model_hash)
        .join(format!("{}-{fp_short}", settings_digest(&plan.settings)?));
    let (pk_path, meta_path) = (key_dir.join("pk.bin"), key_dir.join("meta.json"));
    let model = Arc::new(model.clone());
    let t = Instant::now();
    let mut cached = false;
    let keys = match read_meta(&meta_path).and_then(|meta| {
        let vk_hash: VkHash = meta.vk_hash.parse()?;
        read_pk::<ModelCircuit>(&pk_path, &srs, meta.settings, Some(&vk_hash))
    }) {
        Ok(keys) => {
            cached = true;
            keys
        }
        Err(e) => {
            if meta_path.exists() {
                tracing::warn!(error = %e, "cached keys unusable; regenerating");
            }
            let circuit = ModelCircuit::from_arc(model.clone(), plan.settings, None)?;
            let keys = keygen(&srs, &circuit, KeygenOptions::default())?;
            write_pk(&keys, &pk_path)?;
            write_vk(keys.vk(), &key_dir.join("vk.bin"))?;
            let meta = KeyMeta {
                model_hash: model_hash.clone(),
                settings: plan.settings,
                vk_hash: keys.vk_hash().to_string(),
                srs_label: srs.label(),
                srs_fingerprint: fp.clone(),
                srs_insecure: srs.insecure(),
            };
            write_json(&meta_path, &meta)?;
            let index = data_dir.join("vks").join(keys.vk_hash().to_string());
            write_vk(keys.vk(), &index.join("vk.bin"))?;
            write_json(&index.join("meta.json"), &meta)?;
            keys
        }
    };
    let keys_s = t.elapsed().as_secs_f64();
    Ok(ModelKeys {
        model,
        model_hash,
        plan,
        srs,
        keys,
        key_dir,
        timings: SetupTimings {
            plan_s,
            srs_s,
            keys_s,
            cached,
        },
    })
}

/// The decoded output stored in a bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecodedOutput {
    /// Output shape.
    pub shape: Vec<usize>,
    /// Output scale: real value = q / 2^scale.
    pub scale: i32,
    /// Quantized output values.
    pub values: Vec<i64>,
    /// Dequantized values.
    pub dequantized: Vec<f64>,
    /// Index of the largest value (ties: smallest index).
    pub argmax: Option<usize>,
    /// Visibility the proof was made with.
    pub visibility: Visibility,
    /// The recipient slot (0x-hex field element).
    pub recipient: String,
}

impl ModelKeys {
    /// Prove the model on a quantized input, binding the proof to `recipient`. The fresh proof
    /// is verified natively before it is returned.
    #[tracing::instrument(skip_all, fields(model = %self.model.name, k = self.plan.settings.k))]
    pub fn prove(&self, input_q: &[i64], recipient: Fr) -> Result<(ProofBundle, ProveTimings)> {
        let t = Instant::now();
        let exec = execute(&self.model, input_q)?;
        let output = exec.output().to_vec();
        let vis = self.plan.settings.visibility;
        let inst = instances(&self.model, vis, input_q, &output, recipient)?;
        let circuit = ModelCircuit::from_arc(
            self.model.clone(),
            self.plan.settings,
            Some(ModelWitness {
                input: input_q.to_vec(),
                recipient,
            }),
        )?;
        let witness_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let columns = vec![inst];
        let proof = prove(&self.srs, self.keys.pk(), &circuit, &columns)?;
        let prove_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        verify(&self.srs, self.keys.vk(), &columns, &proof)?;
        let verify_s = t.elapsed().as_secs_f64();
        let scale = self.model.output_scale();
        let decoded = DecodedOutput {
            shape: self.model.output_shape().to_vec(),
            scale,
            dequantized: output.iter().map(|&q| dequantize(q, scale)).collect(),
            argmax: argmax(&output),
            values: output,
            visibility: vis,
            recipient: crate::bundle::fr_to_hex(&recipient),
        };
        let value = serde_json::to_value(&decoded)
            .map_err(|source| ProverError::BundleSerialize { source })?;
        let bundle = ProofBundle::new(
            self.model_hash.clone(),
            self.keys.vk(),
            &self.srs,
            columns,
            proof,
            value,
        );
        Ok((
            bundle,
            ProveTimings {
                witness_s,
                prove_s,
                verify_s,
            },
        ))
    }
}

/// Check that a bundle's decoded output agrees with its instances (public values, or the
/// Poseidon commitment for hashed outputs).
pub fn check_bundle_output(model: &QuantizedModel, bundle: &ProofBundle) -> Result<DecodedOutput> {
    let decoded: DecodedOutput = serde_json::from_value(bundle.output.clone())
        .map_err(|e| ProverError::OutputMismatch(format!("output field unreadable: {e}")))?;
    let inst = bundle
        .instances
        .first()
        .ok_or_else(|| ProverError::OutputMismatch("no instance column".into()))?;
    let want = match decode_output(model, decoded.visibility, inst)? {
        Some(values) => values == decoded.values,
        None => {
            // Hashed output: recompute the commitment from the claimed values.
            let layout = zkgrid_circuits::model::InstanceLayout::new(model, decoded.visibility);
            let range = layout.output_range();
            inst.get(range.start) == Some(&zkgrid_circuits::model::commitment(&decoded.values))
        }
    };
    if !want {
        return Err(ProverError::OutputMismatch(
            "decoded output values differ from the proven ones".into(),
        ));
    }
    Ok(decoded)
}

/// Verify a bundle with the verifying key indexed under `data_dir/vks/<vk hash>` (written by
/// [`setup`]), using the SRS `choice` (the dev SRS by default).
pub fn verify_bundle(data_dir: &Path, bundle: &ProofBundle, choice: &SrsChoice) -> Result<KeyMeta> {
    let dir = data_dir.join("vks").join(bundle.vk_hash.to_string());
    let meta_path = dir.join("meta.json");
    if !meta_path.exists() {
        return Err(ProverError::UnknownVk {
            vk_hash: bundle.vk_hash.to_string(),
            dir,
        });
    }
    let meta = read_meta(&meta_path)?;
    let (vk, _) = read_vk::<ModelCircuit>(&dir.join("vk.bin"), meta.settings)?;
    let srs = load_srs(data_dir, choice, bundle.k)?;
    bundle.verify(&srs, &vk)?;
    Ok(meta)
}
