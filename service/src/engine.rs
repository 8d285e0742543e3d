//! The proving engine the service and its workers call: key generation, proving, verification
//! and Solidity verifier generation for stored models, on top of `zkgrid_prover::model`.
//!
//! Everything here is synchronous and CPU-bound; async callers run it under
//! `tokio::task::spawn_blocking`. Keys are derived deterministically from (model, circuit
//! options, SRS) and cached on disk under the data dir by the prover, and in memory here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use zkgrid_circuits::model::{
    recipient_from_address, CircuitSettings, InputVisibility, InstanceLayout, OutputVisibility,
    PlanGoal, Visibility, WeightsVisibility,
};
use zkgrid_models::compile::CompiledModel;
use zkgrid_models::{ModelError, QuantizedModel};
use zkgrid_prover::model::{
    check_bundle_output, setup_with, verify_bundle, ModelKeys, Progress, ProveTimings,
    SetupOptions, SrsChoice, DEFAULT_COLUMN_BUDGET,
};
use zkgrid_prover::{estimate_proving_memory, CircuitShape, ProofBundle, ProverError};

/// How many models' keys stay loaded in memory.
const KEY_CACHE_MODELS: usize = 4;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The model or input is invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Key generation, proving or verification failed.
    #[error(transparent)]
    Prover(#[from] ProverError),
    /// Generating or compiling the Solidity verifier failed.
    #[error("verifier generation: {0}")]
    Evm(#[from] zkgrid_evm::EvmError),
    /// A stored document (compiled model, options, job payload) is unreadable.
    #[error("stored {what} is unreadable: {detail}")]
    Stored {
        /// Which document.
        what: &'static str,
        /// The parse error.
        detail: String,
    },
    /// A recipient address is not 0x + 40 hex digits.
    #[error("recipient {0:?} must be an address: 0x followed by 40 hex digits")]
    BadRecipient(String),
    /// The model's keys today are not the ones its key generation published (this zkgrid lays
    /// the circuit out differently): a proof would not verify with the published verifier.
    #[error(
        "the model's verifying key changed since its key generation ({published} then, {current} \
         now; this zkgrid version lays the circuit out differently): proofs would not verify \
         with the published verifier; upload the model again to get new keys and a new verifier"
    )]
    KeysChanged {
        /// The verifying-key hash key generation published.
        published: String,
        /// The verifying-key hash of the keys this version builds.
        current: String,
    },
}

impl EngineError {
    /// Whether another attempt may succeed (I/O trouble, a contained panic); model, input and
    /// circuit errors are permanent.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EngineError::Prover(ProverError::Io { .. } | ProverError::DependencyPanic { .. })
        )
    }
}

/// Circuit options chosen when a model is uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelOptions {
    /// `public`, `hashed` or `private`.
    #[schema(value_type = String, example = "public")]
    pub input_visibility: InputVisibility,
    /// `public` or `hashed`.
    #[schema(value_type = String, example = "public")]
    pub output_visibility: OutputVisibility,
    /// `fixed` (weights in the verifying key) or `hashed` (private weights, public Poseidon
    /// commitment as the first instance).
    #[serde(default)]
    #[schema(value_type = String, example = "fixed")]
    pub weights_visibility: WeightsVisibility,
    /// Most advice columns the layout may use.
    pub column_budget: usize,
    /// What the layout planner optimizes: `prove`, `balanced` (default) or `gas`.
    #[serde(default)]
    #[schema(value_type = String, example = "balanced")]
    pub optimize: PlanGoal,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            input_visibility: InputVisibility::Public,
            output_visibility: OutputVisibility::Public,
            weights_visibility: WeightsVisibility::Fixed,
            column_budget: DEFAULT_COLUMN_BUDGET,
            optimize: PlanGoal::default(),
        }
    }
}

impl ModelOptions {
    /// The visibility pair.
    pub fn visibility(&self) -> Visibility {
        Visibility::new(self.input_visibility, self.output_visibility)
            .with_weights(self.weights_visibility)
    }

    /// Plans `model`'s circuit with these options and estimates the memory key generation and
    /// proving need (bytes; `None` if the estimate overflows). Fails with the planner's error
    /// when no layout fits the column budget. Run at upload so that the key-generation job is
    /// only leased to a worker that can hold it, and an impossible layout is a 422 at once.
    pub fn planned_memory(
        &self,
        model: &QuantizedModel,
    ) -> Result<Option<u64>, zkgrid_circuits::CircuitError> {
        let p = zkgrid_circuits::model::plan_with(
            model,
            self.visibility(),
            self.column_budget,
            self.optimize,
        )?;
        Ok(estimate_proving_memory(&CircuitShape::from_plan(&p.shape))
            .ok()
            .map(|m| m.total_bytes))
    }
}

/// The input of a prove job, as stored in the job's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvePayload {
    /// The quantized input (checked against the model when the job was accepted).
    pub input_q: Vec<i64>,
    /// Recipient address bound into the proof (0x + 40 hex digits).
    pub recipient: String,
}

/// What key generation found, stored with the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeysInfo {
    /// log2 of the circuit's rows.
    pub k: u32,
    /// Hash of the verifying key.
    pub vk_hash: String,
    /// Public instance values per proof.
    pub instance_values: usize,
    /// The circuit settings (JSON of `CircuitSettings`).
    pub settings: serde_json::Value,
    /// The circuit's shape (JSON of `CircuitShape`: columns, lookups, rows).
    pub shape: serde_json::Value,
    /// SRS label (says INSECURE for the dev SRS).
    pub srs_label: String,
    /// Whether the SRS is the insecure dev SRS.
    pub srs_insecure: bool,
    /// Estimated peak proving memory in bytes (from the verifying key's exact shape); workers
    /// are only leased this model's jobs when they have that much memory available.
    #[serde(default)]
    pub proving_memory_bytes: Option<u64>,
    /// With private (hashed) weights: their Poseidon commitment (0x hex), the first public
    /// instance of every proof of this model; a settlement task names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_commitment: Option<String>,
}

/// Timings of a key-generation job, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeygenTimings {
    /// Planning.
    pub plan_s: f64,
    /// SRS load or generation.
    pub srs_s: f64,
    /// Key generation or cache load.
    pub keys_s: f64,
    /// Whether the keys came from the disk cache.
    pub cached: bool,
}

/// A generated, compiled Solidity verifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifierArtifacts {
    /// Contract name.
    pub contract: String,
    /// Solidity source.
    pub solidity: String,
    /// Contract ABI.
    pub abi: serde_json::Value,
    /// Creation bytecode (0x hex); its constructor takes the VK contract addresses in order.
    pub bytecode: String,
    /// Runtime bytecode (0x hex).
    pub runtime_bytecode: String,
    /// Creation bytecode of each VK data contract (0x hex), deployed first.
    pub vk_contracts: Vec<String>,
    /// Public instance values `verifyProof` expects.
    pub instance_values: usize,
    /// The verifying key the contract checks.
    pub vk_hash: String,
    /// Whether the verifier trusts the INSECURE dev SRS.
    pub srs_insecure: bool,
}

/// The outcome of verifying a bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct Verification {
    /// `None` when valid, else why not.
    pub rejection: Option<String>,
    /// Seconds spent verifying.
    pub seconds: f64,
}

/// A [`Progress`] that keeps the latest step for the worker's heartbeat to report.
#[derive(Clone, Debug, Default)]
pub struct SharedProgress(Arc<Mutex<Option<String>>>);

impl SharedProgress {
    /// Takes the step reported since the last call.
    pub fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }

    fn set(&self, s: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(s);
        }
    }
}

impl Progress for SharedProgress {
    fn begin(&self, step: &'static str, detail: &str) {
        self.set(format!("{step} {detail}"));
    }

    fn end(&self, step: &'static str, seconds: f64) {
        self.set(format!("{step} done in {seconds:.3}s"));
    }
}

/// Parses a stored JSON document.
pub fn parse_stored<T: serde::de::DeserializeOwned>(
    what: &'static str,
    v: &serde_json::Value,
) -> Result<T, EngineError> {
    T::deserialize(v).map_err(|e| EngineError::Stored {
        what,
        detail: e.to_string(),
    })
}

/// Parses `0x` + 40 hex digits.
pub fn parse_address(s: &str) -> Result<[u8; 20], EngineError> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| EngineError::BadRecipient(s.to_string()))?;
    let bytes = hex::decode(h).map_err(|_| EngineError::BadRecipient(s.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| EngineError::BadRecipient(s.to_string()))
}

/// Model hash, options and the pinned layout (if any).
type KeyCacheKey = (String, ModelOptions, Option<CircuitSettings>);

/// The engine: data dir, SRS choice and an in-memory key cache.
pub struct Engine {
    data_dir: PathBuf,
    srs: SrsChoice,
    keys: Mutex<HashMap<KeyCacheKey, Arc<ModelKeys>>>,
    setup_lock: Mutex<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.data_dir)
            .field("srs", &self.srs)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine caching SRS and keys under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>, srs: SrsChoice) -> Self {
        Self {
            data_dir: data_dir.into(),
            srs,
            keys: Mutex::new(HashMap::new()),
            setup_lock: Mutex::new(()),
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn cached(&self, key: &KeyCacheKey) -> Option<Arc<ModelKeys>> {
        self.keys.lock().ok().and_then(|m| m.get(key).cloned())
    }

    /// Keys for `model` with `opts`: from memory, else the disk cache, else generated.
    pub fn keys(
        &self,
        model: &CompiledModel,
        opts: &ModelOptions,
        progress: &dyn Progress,
    ) -> Result<Arc<ModelKeys>, EngineError> {
        self.keys_for(model, opts, None, progress)
    }

    /// [`Engine::keys`] for the layout `pinned` when given (the one key generation published)
    /// instead of planning anew.
    fn keys_for(
        &self,
        model: &CompiledModel,
        opts: &ModelOptions,
        pinned: Option<CircuitSettings>,
        progress: &dyn Progress,
    ) -> Result<Arc<ModelKeys>, EngineError> {
        let key = (model.model_hash.clone(), *opts, pinned);
        if let Some(k) = self.cached(&key) {
            return Ok(k);
        }
        // One setup at a time: two workers never generate the same keys concurrently.
        let _guard = self.setup_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = self.cached(&key) {
            return Ok(k);
        }
        let setup = SetupOptions {
            visibility: opts.visibility(),
            column_budget: opts.column_budget,
            goal: opts.optimize,
            srs: self.srs.clone(),
            pinned,
        };
        let keys = Arc::new(setup_with(&self.data_dir, &model.model, &setup, progress)?);
        if let Ok(mut m) = self.keys.lock() {
            // Up to two entries per model (see below).
            if m.len() >= 2 * KEY_CACHE_MODELS {
                m.clear();
            }
            // The same keys serve a later prove job pinned to the layout they were made for
            // (key generation plans; prove jobs pin what it published): one copy in memory.
            let (hash, opts, _) = key.clone();
            m.insert((hash, opts, Some(keys.plan.settings)), keys.clone());
            m.insert(key, keys.clone());
        }
        Ok(keys)
    }

    /// The key-generation job: plan, SRS, keys.
    pub fn keygen(
        &self,
        model: &CompiledModel,
        opts: &ModelOptions,
        progress: &dyn Progress,
    ) -> Result<(KeysInfo, KeygenTimings), EngineError> {
        let keys = self.keys(model, opts, progress)?;
        let to_value = |v: serde_json::Result<serde_json::Value>| {
            v.map_err(|source| EngineError::Prover(ProverError::BundleSerialize { source }))
        };
        let info = KeysInfo {
            k: keys.plan.settings.k,
            vk_hash: keys.keys.vk_hash().to_string(),
            instance_values: InstanceLayout::new(&keys.model, keys.plan.settings.visibility).len(),
            weights_commitment: if keys.plan.settings.visibility.hashed_weights() {
                Some(zkgrid_prover::bundle::fr_to_hex(
                    &zkgrid_circuits::model::weights_commitment(&keys.model)
                        .map_err(ProverError::from)?,
                ))
            } else {
                None
            },
            settings: to_value(serde_json::to_value(keys.plan.settings))?,
            shape: to_value(serde_json::to_value(keys.plan.shape))?,
            srs_label: keys.srs.label(),
            srs_insecure: keys.srs.insecure(),
            proving_memory_bytes: match estimate_proving_memory(&CircuitShape::from_vk(
                keys.keys.vk(),
            )) {
                Ok(m) => Some(m.total_bytes),
                Err(e) => {
                    tracing::warn!(error = %e, "no proving-memory estimate for this circuit");
                    None
                }
            },
        };
        let t = keys.timings;
        Ok((
            info,
            KeygenTimings {
                plan_s: t.plan_s,
                srs_s: t.srs_s,
                keys_s: t.keys_s,
                cached: t.cached,
            },
        ))
    }

    /// The prove job: prove, verify natively (inside `prove_with`) and check the decoded output.
    /// Proves `payload` with `model`'s keys; with `published` (what key generation stored),
    /// uses the layout it published rather than planning anew (a newer planner may prefer
    /// another one, and the model's verifier is already out there), and refuses to prove when
    /// today's keys for it differ from the published verifying key (a changed circuit layout).
    pub fn prove(
        &self,
        model: &CompiledModel,
        opts: &ModelOptions,
        payload: &ProvePayload,
        published: Option<&KeysInfo>,
        progress: &dyn Progress,
    ) -> Result<(ProofBundle, ProveTimings), EngineError> {
        let recipient = recipient_from_address(&parse_address(&payload.recipient)?);
        // Settings stored by an older version that this one cannot read: plan anew, the vk
        // comparison below still catches a different circuit.
        let pinned = published
            .and_then(|info| serde_json::from_value::<CircuitSettings>(info.settings.clone()).ok());
        let keys = self.keys_for(model, opts, pinned, progress)?;
        let current = keys.keys.vk_hash().to_string();
        let published_vk = published.map(|info| info.vk_hash.as_str());
        if let Some(published) = published_vk.filter(|p| *p != current) {
            return Err(EngineError::KeysChanged {
                published: published.to_string(),
                current,
            });
        }
        let (bundle, timings) = keys.prove_with(&payload.input_q, recipient, progress)?;
        check_bundle_output(&model.model, &bundle)?;
        Ok((bundle, timings))
    }

    /// Verifies a bundle with the verifying key indexed under the data dir; with `model`, also
    /// checks the decoded output against the instances. A proof that does not verify is a
    /// rejection, not an error; an unknown verifying key is an error.
    pub fn verify(
        &self,
        bundle: &ProofBundle,
        model: Option<&QuantizedModel>,
    ) -> Result<Verification, EngineError> {
        let t = Instant::now();
        let rejection = match verify_bundle(&self.data_dir, bundle, &self.srs) {
            Ok(_) => match model.map(|m| check_bundle_output(m, bundle)) {
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            },
            Err(e @ ProverError::UnknownVk { .. }) => return Err(e.into()),
            Err(
                e @ (ProverError::VerificationFailed { .. }
                | ProverError::VkHashMismatch { .. }
                | ProverError::BundleKMismatch { .. }
                | ProverError::InstanceColumns { .. }
                | ProverError::InstanceTooLong { .. }
                | ProverError::TrailingProofBytes { .. }
                | ProverError::OutputMismatch(_)),
            ) => Some(e.to_string()),
            Err(e) => return Err(e.into()),
        };
        Ok(Verification {
            rejection,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// Generates the Solidity verifier for the model's key and compiles it with the pinned solc.
    pub fn verifier(
        &self,
        model: &CompiledModel,
        opts: &ModelOptions,
    ) -> Result<VerifierArtifacts, EngineError> {
        use zkgrid_evm::{generate, KzgVerifierParams, Solc, SolcSettings, VERIFIER_CONTRACT};
        let keys = self.keys(model, opts, &zkgrid_prover::model::NoProgress)?;
        let instance_values = InstanceLayout::new(&keys.model, keys.plan.settings.visibility).len();
        let generated = generate(
            &KzgVerifierParams::from_srs(&keys.srs),
            keys.keys.vk(),
            &[instance_values],
        )?;
        let compiled = Solc::pinned().compile(
            &generated.solidity,
            VERIFIER_CONTRACT,
            SolcSettings::default(),
        )?;
        let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
        Ok(VerifierArtifacts {
            contract: VERIFIER_CONTRACT.to_string(),
            abi: compiled.abi,
            bytecode: hex0x(&compiled.creation),
            runtime_bytecode: hex0x(&compiled.runtime),
            vk_contracts: generated
                .vk_creation_codes()
                .iter()
                .map(|c| hex0x(c))
                .collect(),
            solidity: generated.solidity,
            instance_values,
            vk_hash: keys.keys.vk_hash().to_string(),
            srs_insecure: keys.srs.insecure(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(parse_address("0x0000000000000000000000000000000000000011").is_ok());
        assert!(matches!(
            parse_address("0x11"),
            Err(EngineError::BadRecipient(_))
        ));
        assert!(matches!(
            parse_address("11"),
            Err(EngineError::BadRecipient(_))
        ));
        assert!(matches!(
            parse_address("0xzz00000000000000000000000000000000000011"),
            Err(EngineError::BadRecipient(_))
        ));
    }

    #[test]
    fn prove_refuses_keys_other_than_the_published_ones() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let engine = Engine::new(dir.path(), SrsChoice::Dev);
        let entry = zkgrid_models::zoo::get("mlp_tiny")?;
        let model = zkgrid_models::compile(
            &entry.onnx,
            "mlp_tiny",
            Some(&entry.calibration),
            &zkgrid_models::QuantConfig::default(),
        )?;
        let opts = ModelOptions {
            input_visibility: InputVisibility::Hashed,
            ..ModelOptions::default()
        };
        let progress = zkgrid_prover::model::NoProgress;
        let (info, _) = engine.keygen(&model, &opts, &progress)?;
        let payload = ProvePayload {
            input_q: zkgrid_models::quantize_input(&model.model, &entry.sample_input)?,
            recipient: "0x00000000000000000000000000000000000000aa".to_string(),
        };
        // Keys as published: proves, with the keys key generation loaded (not a second copy).
        let planned = engine.keys(&model, &opts, &progress)?;
        let pinned = engine.keys_for(&model, &opts, Some(planned.plan.settings), &progress)?;
        assert!(Arc::ptr_eq(&planned, &pinned));
        let (bundle, _) = engine.prove(&model, &opts, &payload, Some(&info), &progress)?;
        assert_eq!(bundle.vk_hash.to_string(), info.vk_hash);
        // The published layout is used even where today's planner would choose another (here
        // the gas goal's, while the options say balanced): the published verifier keeps working.
        let gas = ModelOptions {
            optimize: PlanGoal::Gas,
            ..opts
        };
        let (gas_info, _) = engine.keygen(&model, &gas, &progress)?;
        assert_ne!(
            gas_info.settings, info.settings,
            "goals chose the same layout"
        );
        let (bundle, _) = engine.prove(&model, &opts, &payload, Some(&gas_info), &progress)?;
        assert_eq!(bundle.vk_hash.to_string(), gas_info.vk_hash);
        // Published keys of another circuit for the same layout: refused before proving,
        // permanently, naming both.
        let stale = "0x".to_string() + &"ab".repeat(32);
        let published = KeysInfo {
            vk_hash: stale.clone(),
            ..info.clone()
        };
        match engine.prove(&model, &opts, &payload, Some(&published), &progress) {
            Err(e @ EngineError::KeysChanged { .. }) => {
                assert!(!e.is_transient());
                let m = e.to_string();
                assert!(m.contains(&stale) && m.contains(&info.vk_hash), "{m}");
            }
            other => anyhow::bail!("expected KeysChanged, got {:?}", other.map(|_| ())),
        }
        Ok(())
    }
}
