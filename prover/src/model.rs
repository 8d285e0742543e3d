//! The model pipeline: plan a [`ModelCircuit`] for a quantized model, generate (or load cached)
//! keys, prove an input into a [`ProofBundle`], and verify bundles.
//!
//! Key cache layout under the data dir (keys are derived deterministically from the model, the
//! circuit settings and the SRS, so any worker can rebuild them):
//!
//! ```text
//! keys/<model hash>/plan-<options digest>.json          # the planner's choice (planning is slow)
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
    decode_output, instances, plan_with, shape, CircuitSettings, ModelWitness, Plan, PlanGoal,
    Visibility,
};
use zkgrid_circuits::{ModelCircuit, LAYOUT_VERSION};
use zkgrid_models::execute::{argmax, dequantize, execute};
use zkgrid_models::QuantizedModel;

use crate::bundle::ProofBundle;
use crate::error::{ProverError, Result};
use crate::keys::{
    keygen, read_pk, read_vk, write_pk, write_vk, CircuitKeys, KeygenOptions, VkHash,
};
use crate::proof::{prove, verify};
use crate::srs::{DevSrsCache, Srs};

/// Default advice-column budget for [`zkgrid_circuits::model::plan()`] (trade-off: more
/// columns prove faster per row but cost more on-chain gas per commitment).
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
    /// What the planner optimizes (proving time, verifier gas, or the balance of both).
    pub goal: PlanGoal,
    /// The SRS.
    pub srs: SrsChoice,
    /// A layout chosen earlier (e.g. the one whose verifying key a service published for the
    /// model): used as it is instead of planning, so that a newer planner cannot move a model
    /// that has a deployed verifier to another circuit. Its visibility must be `visibility`.
    pub pinned: Option<CircuitSettings>,
}

impl Default for SetupOptions {
    fn default() -> Self {
        SetupOptions {
            visibility: Visibility::PUBLIC,
            column_budget: DEFAULT_COLUMN_BUDGET,
            goal: PlanGoal::default(),
            srs: SrsChoice::Dev,
            pinned: None,
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

/// Digest of the circuit a key directory holds: its settings and the layout version (the same
/// settings lay out a different circuit when the layout code changes).
fn settings_digest(s: &CircuitSettings) -> Result<String> {
    let key = serde_json::json!({ "settings": s, "layout": LAYOUT_VERSION });
    let bytes =
        serde_json::to_vec(&key).map_err(|source| ProverError::BundleSerialize { source })?;
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

/// Digest of what a plan depends on besides the model: visibility, column budget, the
/// planner's version (this crate's version) and the circuit layout version.
fn plan_digest(opts: &SetupOptions) -> Result<String> {
    let key = serde_json::json!({
        "visibility": opts.visibility,
        "column_budget": opts.column_budget,
        "goal": opts.goal,
        "planner": env!("CARGO_PKG_VERSION"),
        "planner_version": zkgrid_circuits::model::plan::PLANNER_VERSION,
        "layout": LAYOUT_VERSION,
    });
    let bytes =
        serde_json::to_vec(&key).map_err(|source| ProverError::BundleSerialize { source })?;
    Ok(hex::encode(&Sha256::digest(bytes)[..8]))
}

/// A cached plan, or `None` when absent or unreadable (then the caller re-plans).
fn read_plan(path: &Path) -> Option<Plan> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cached plan unreadable; re-planning");
            None
        }
    }
}

fn read_meta(path: &Path) -> Result<KeyMeta> {
    let bytes = std::fs::read(path).map_err(|e| ProverError::io("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| ProverError::KeyMetadata {
        path: path.to_path_buf(),
        source,
    })
}

/// Receives the start and end of each long step of [`setup_with`] and [`ModelKeys::prove_with`]
/// (the CLI draws progress bars from it; every step is also a `tracing` span).
pub trait Progress {
    /// `step` started; `detail` says what it works on (e.g. `k=12`).
    fn begin(&self, step: &'static str, detail: &str);
    /// `step` finished after `seconds`.
    fn end(&self, step: &'static str, seconds: f64);
}

/// A [`Progress`] that reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &'static str, _: &str) {}
    fn end(&self, _: &'static str, _: f64) {}
}

/// Runs `f` as step `name`: a tracing span plus [`Progress`] begin/end; returns its result and time.
fn step<T>(
    progress: &dyn Progress,
    name: &'static str,
    detail: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<(T, f64)> {
    let _span = tracing::info_span!("step", step = name, detail).entered();
    progress.begin(name, detail);
    let t = Instant::now();
    let out = f()?;
    let secs = t.elapsed().as_secs_f64();
    progress.end(name, secs);
    tracing::info!(step = name, seconds = secs, "done");
    Ok((out, secs))
}

/// Plan the circuit, load/generate the SRS and load/generate the keys (cached under `data_dir`).
pub fn setup(data_dir: &Path, model: &QuantizedModel, opts: &SetupOptions) -> Result<ModelKeys> {
    setup_with(data_dir, model, opts, &NoProgress)
}

/// The plan of a layout chosen earlier ([`SetupOptions::pinned`]): its settings and their
/// shape, after checking they were made for `visibility`.
pub fn pinned_plan(
    model: &QuantizedModel,
    settings: CircuitSettings,
    visibility: Visibility,
) -> Result<Plan> {
    if settings.visibility != visibility {
        return Err(ProverError::PinnedVisibility {
            pinned: format!("{:?}", settings.visibility),
            asked: format!("{:?}", visibility),
        });
    }
    Ok(Plan {
        settings,
        shape: shape(model, settings)?,
    })
}

/// [`setup`], reporting each step to `progress`.
#[tracing::instrument(skip_all, fields(model = %model.name))]
pub fn setup_with(
    data_dir: &Path,
    model: &QuantizedModel,
    opts: &SetupOptions,
    progress: &dyn Progress,
) -> Result<ModelKeys> {
    let model_hash = model.hash()?;
    // Planning lays out every candidate pool; its result is cached per (model, options).
    let plan_path = data_dir
        .join("keys")
        .join(&model_hash)
        .join(format!("plan-{}.json", plan_digest(opts)?));
    let (plan, plan_s) = step(progress, "plan", &model.name, || {
        if let Some(settings) = opts.pinned {
            return pinned_plan(model, settings, opts.visibility);
        }
        match read_plan(&plan_path) {
            Some(p) => Ok(p),
            None => {
                let p = plan_with(model, opts.visibility, opts.column_budget, opts.goal)?;
                write_json(&plan_path, &p)?;
                Ok(p)
            }
        }
    })?;
    let k = plan.settings.k;
    let (srs, srs_s) = step(progress, "srs", &format!("k={k}"), || {
        load_srs(data_dir, &opts.srs, k)
    })?;
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
    // Cached keys are used when present and valid; anything else regenerates them.
    let loaded = if meta_path.exists() {
        match step(progress, "load keys", &format!("k={k}"), || {
            let meta = read_meta(&meta_path)?;
            let vk_hash: VkHash = meta.vk_hash.parse()?;
            read_pk::<ModelCircuit>(&pk_path, &srs, meta.settings, Some(&vk_hash))
        }) {
            Ok((keys, _)) => Some(keys),
            Err(e) => {
                tracing::warn!(error = %e, "cached keys unusable; regenerating");
                None
            }
        }
    } else {
        None
    };
    let keys = match loaded {
        Some(keys) => {
            cached = true;
            keys
        }
        None => {
            step(progress, "keygen", &format!("k={k}"), || {
                let circuit = ModelCircuit::from_arc(model.clone(), plan.settings, None)?;
                let keys = keygen(&srs, &circuit, KeygenOptions::for_settings(&plan.settings))?;
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
                Ok(keys)
            })?
            .0
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
    pub fn prove(&self, input_q: &[i64], recipient: Fr) -> Result<(ProofBundle, ProveTimings)> {
        self.prove_with(input_q, recipient, &NoProgress)
    }

    /// [`ModelKeys::prove`], reporting each step to `progress`.
    #[tracing::instrument(skip_all, fields(model = %self.model.name, k = self.plan.settings.k))]
    pub fn prove_with(
        &self,
        input_q: &[i64],
        recipient: Fr,
        progress: &dyn Progress,
    ) -> Result<(ProofBundle, ProveTimings)> {
        let vis = self.plan.settings.visibility;
        let ((output, circuit, columns), witness_s) =
            step(progress, "witness", &self.model.name, || {
                let exec = execute(&self.model, input_q)?;
                let output = exec.output().to_vec();
                let inst = instances(&self.model, vis, input_q, &output, recipient)?;
                let circuit = ModelCircuit::from_arc(
                    self.model.clone(),
                    self.plan.settings,
                    Some(ModelWitness {
                        input: input_q.to_vec(),
                        recipient,
                    }),
                )?;
                Ok((output, circuit, vec![inst]))
            })?;
        let k = self.plan.settings.k;
        let (proof, prove_s) = step(progress, "prove", &format!("k={k}"), || {
            prove(&self.srs, self.keys.pk(), &circuit, &columns)
        })?;
        let ((), verify_s) = step(progress, "verify", "native", || {
            verify(&self.srs, self.keys.vk(), &columns, &proof)
        })?;
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
    if decoded.visibility.hashed_weights() {
        // Private weights: the proof is about the model's weights only if its commitment
        // instance is theirs.
        let layout = zkgrid_circuits::model::InstanceLayout::new(model, decoded.visibility);
        let proven = layout.weights_commitment(inst)?;
        if proven != Some(zkgrid_circuits::model::weights_commitment(model)?) {
            return Err(ProverError::OutputMismatch(
                "the proof's weights commitment is not this model's weights".into(),
            ));
        }
    }
    Ok(decoded)
}

/// The verifying key indexed under `data_dir/vks/<vk hash>` by [`setup`], with its metadata.
pub fn load_indexed_vk(
    data_dir: &Path,
    vk_hash: &VkHash,
) -> Result<(
    halo2_proofs::plonk::VerifyingKey<halo2_proofs::halo2curves::bn256::G1Affine>,
    KeyMeta,
)> {
    let dir = data_dir.join("vks").join(vk_hash.to_string());
    let meta_path = dir.join("meta.json");
    if !meta_path.exists() {
        return Err(ProverError::UnknownVk {
            vk_hash: vk_hash.to_string(),
            dir,
        });
    }
    let meta = read_meta(&meta_path)?;
    let (vk, _) = read_vk::<ModelCircuit>(&dir.join("vk.bin"), meta.settings)?;
    Ok((vk, meta))
}

/// The SRS of `choice` at size `k` (the dev SRS is cached under `data_dir`).
pub fn srs_for(data_dir: &Path, choice: &SrsChoice, k: u32) -> Result<Srs> {
    load_srs(data_dir, choice, k)
}

/// Verify a bundle with the verifying key indexed under `data_dir/vks/<vk hash>` (written by
/// [`setup`]), using the SRS `choice` (the dev SRS by default).
pub fn verify_bundle(data_dir: &Path, bundle: &ProofBundle, choice: &SrsChoice) -> Result<KeyMeta> {
    let (vk, meta) = load_indexed_vk(data_dir, &bundle.vk_hash)?;
    let srs = load_srs(data_dir, choice, bundle.k)?;
    bundle.verify(&srs, &vk)?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use zkgrid_circuits::model::{InputVisibility, OutputVisibility, Visibility};
    use zkgrid_circuits::ModelParams;

    use super::*;

    #[test]
    fn settings_digest_of_layouts_without_poseidon_blocks_is_unchanged() -> anyhow::Result<()> {
        let hashed = Visibility::new(InputVisibility::Hashed, OutputVisibility::Public);
        let settings = CircuitSettings::new(ModelParams::new(17, 1, 3), 13, hashed);
        // Settings written before partial-round blocks existed parse as "no blocks", and such
        // settings serialize without the field: their key directories and plans stay valid.
        let mut json = serde_json::to_value(settings)?;
        anyhow::ensure!(json.get("poseidon_blocks").is_none(), "{json}");
        let parsed: CircuitSettings = serde_json::from_value(json.clone())?;
        anyhow::ensure!(parsed == settings);
        let blocks = settings.with_poseidon_blocks(true);
        anyhow::ensure!(settings_digest(&blocks)? != settings_digest(&settings)?);
        json["poseidon_blocks"] = serde_json::Value::Bool(true);
        anyhow::ensure!(serde_json::from_value::<CircuitSettings>(json)? == blocks);
        // Likewise digit range checks and selector compression: absent means off.
        let json = serde_json::to_value(settings)?;
        anyhow::ensure!(json.get("compress_selectors").is_none(), "{json}");
        anyhow::ensure!(json["params"].get("range_digits").is_none(), "{json}");
        let compressed = settings.with_compressed_selectors(true);
        anyhow::ensure!(settings_digest(&compressed)? != settings_digest(&settings)?);
        let mut digits = settings;
        digits.params = digits.params.with_range_digits(true);
        anyhow::ensure!(settings_digest(&digits)? != settings_digest(&settings)?);
        Ok(())
    }

    /// The zoo's mlp_tiny, compiled with its calibration.
    fn mlp_tiny() -> anyhow::Result<QuantizedModel> {
        let zoo = zkgrid_models::zoo::get("mlp_tiny")?;
        Ok(zkgrid_models::compile(
            &zoo.onnx,
            "mlp_tiny",
            Some(&zoo.calibration),
            &zkgrid_models::QuantConfig::default(),
        )?
        .model)
    }

    #[test]
    fn planned_layouts_are_keyed_as_the_planner_counted() -> anyhow::Result<()> {
        // The planner counts the fixed columns halo2's selector compression leaves; key
        // generation must make exactly those (the verifier pays one ecMul per column).
        let model = mlp_tiny()?;
        let dir = tempfile::tempdir()?;
        let keys = setup(dir.path(), &model, &SetupOptions::default())?;
        let (settings, shape) = (keys.plan.settings, keys.plan.shape);
        anyhow::ensure!(settings.compress_selectors);
        let cs = keys.keys.vk().cs();
        anyhow::ensure!(
            cs.num_fixed_columns() == shape.fixed_columns + shape.selectors,
            "keyed {} fixed columns, planned {} + {}",
            cs.num_fixed_columns(),
            shape.fixed_columns,
            shape.selectors
        );
        anyhow::ensure!(cs.degree() == shape.degree);
        // Compression merged something, without raising the degree.
        let uncompressed =
            zkgrid_circuits::model::shape(&model, settings.with_compressed_selectors(false))?;
        anyhow::ensure!(shape.selectors < uncompressed.selectors);
        anyhow::ensure!(cs.degree() == uncompressed.degree);
        Ok(())
    }

    #[test]
    fn pinned_settings_of_another_visibility_are_refused() -> anyhow::Result<()> {
        let model = mlp_tiny()?;
        let hashed = Visibility::new(InputVisibility::Hashed, OutputVisibility::Public);
        let pinned = CircuitSettings::new(ModelParams::new(4, 1, 2), 10, hashed);
        let dir = tempfile::tempdir()?;
        let opts = SetupOptions {
            pinned: Some(pinned),
            ..SetupOptions::default()
        };
        match setup(dir.path(), &model, &opts) {
            Err(ProverError::PinnedVisibility { pinned, asked }) => {
                anyhow::ensure!(pinned.contains("Hashed") && asked.contains("Public"));
            }
            other => anyhow::bail!("expected PinnedVisibility, got {:?}", other.map(|_| ())),
        }
        Ok(())
    }
}
