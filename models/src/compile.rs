//! The compile pipeline: ONNX bytes → float graph → quantized model + quantization report.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info_span;

use crate::error::{ModelError, Result};
use crate::execute::{argmax, dequantize, run_real};
use crate::graph::numel;
use crate::onnx::import_onnx;
use crate::quantize::{quantize, LayerInfo, QuantConfig};
use crate::quantized::QuantizedModel;
use crate::reference::FloatReference;
use crate::zoo::uniform_samples;

/// Where calibration samples came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationSource {
    /// A user-supplied file (or samples passed by the caller).
    Provided,
    /// No file given: seeded uniform [0, 1) samples.
    SyntheticUniform01,
}

/// Accuracy of the integer model against the float reference on some samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Samples evaluated.
    pub samples: usize,
    /// Max over samples and outputs of |dequantized integer output − float output|.
    pub max_abs_error: f64,
    /// Mean over samples and outputs of the same.
    pub mean_abs_error: f64,
    /// Fraction of samples whose argmax agrees.
    pub argmax_agreement: f64,
}

/// The quantization report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantReport {
    /// Settings used.
    pub config: QuantConfig,
    /// Source of calibration data.
    pub calibration_source: CalibrationSource,
    /// Number of calibration samples.
    pub calibration_samples: usize,
    /// Per-layer table (first row: the input).
    pub layers: Vec<LayerInfo>,
    /// Worst-case |error| of any output vs exact real arithmetic, for every accepted input.
    pub output_error_bound: f64,
    /// The float reference used for `accuracy`.
    pub float_reference: String,
    /// Integer model vs float reference on the calibration samples.
    pub accuracy: Accuracy,
}

/// A compiled model as stored in `MODEL.zkg.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompiledModel {
    /// Stable hash of `model` ([`QuantizedModel::hash`]).
    pub model_hash: String,
    /// SHA-256 of the source ONNX bytes.
    pub onnx_sha256: String,
    /// The quantized model.
    pub model: QuantizedModel,
    /// The quantization report.
    pub report: QuantReport,
}

impl CompiledModel {
    /// Parse a `.zkg.json` document and check it is consistent (hash matches the model).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self> {
        let c: CompiledModel =
            serde_json::from_slice(bytes).map_err(|e| ModelError::InvalidModel(e.to_string()))?;
        c.model.validate()?;
        let h = c.model.hash()?;
        if h != c.model_hash {
            return Err(ModelError::InvalidModel(format!(
                "model_hash {} does not match the model's hash {h}: the file was edited or corrupted",
                c.model_hash
            )));
        }
        Ok(c)
    }

    /// Pretty JSON.
    pub fn to_json_pretty(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| ModelError::InvalidModel(e.to_string()))
    }
}

/// Compare the integer model with the float reference on `samples`.
pub fn evaluate(
    model: &QuantizedModel,
    reference: &FloatReference,
    samples: &[Vec<f64>],
) -> Result<Accuracy> {
    let (mut max_err, mut sum_err, mut count, mut agree) = (0f64, 0f64, 0usize, 0usize);
    for (i, s) in samples.iter().enumerate() {
        let exec =
            run_real(model, s).map_err(|e| ModelError::Calibration(format!("sample {i}: {e}")))?;
        let out: Vec<f64> = exec
            .output()
            .iter()
            .map(|&q| dequantize(q, model.output_scale()))
            .collect();
        let float = reference.run(s)?;
        if float.len() != out.len() {
            return Err(ModelError::FloatReference(format!(
                "reference output has {} values, quantized model {}",
                float.len(),
                out.len()
            )));
        }
        for (a, b) in out.iter().zip(&float) {
            let e = (a - b).abs();
            max_err = max_err.max(e);
            sum_err += e;
            count += 1;
        }
        if argmax(&out) == argmax(&float) {
            agree += 1;
        }
    }
    Ok(Accuracy {
        samples: samples.len(),
        max_abs_error: max_err,
        mean_abs_error: if count > 0 {
            sum_err / count as f64
        } else {
            0.0
        },
        argmax_agreement: if samples.is_empty() {
            1.0
        } else {
            agree as f64 / samples.len() as f64
        },
    })
}

/// Number of synthetic calibration samples used when none are given.
pub const SYNTHETIC_SAMPLES: usize = 64;

/// Compile ONNX bytes. `calibration`: samples (each of the input's length), or `None` for
/// seeded uniform [0,1) samples.
pub fn compile(
    onnx: &[u8],
    name: &str,
    calibration: Option<&[Vec<f64>]>,
    cfg: &QuantConfig,
) -> Result<CompiledModel> {
    let _span = info_span!("compile", model = name).entered();
    cfg.validate()?;
    let graph = import_onnx(onnx, name)?;
    let n = numel(&graph.input_shape);
    let (samples, source) = match calibration {
        Some(s) => {
            if s.is_empty() {
                return Err(ModelError::Calibration(
                    "calibration file holds no samples".into(),
                ));
            }
            if let Some(bad) = s.iter().find(|x| x.len() != n) {
                return Err(ModelError::WrongInputShape {
                    expected_shape: graph.input_shape.clone(),
                    expected_len: n,
                    got: bad.len(),
                });
            }
            (s.to_vec(), CalibrationSource::Provided)
        }
        None => (
            uniform_samples(0x5eed, SYNTHETIC_SAMPLES, n),
            CalibrationSource::SyntheticUniform01,
        ),
    };
    let (model, layers) = quantize(&graph, &samples, cfg)?;
    let reference = FloatReference::new(onnx, &graph.input_shape)?;
    let accuracy = evaluate(&model, &reference, &samples)?;
    let output_error_bound = layers.last().map(|l| l.error_bound).unwrap_or(0.0);
    let report = QuantReport {
        config: *cfg,
        calibration_source: source,
        calibration_samples: samples.len(),
        layers,
        output_error_bound,
        float_reference: "tract-onnx 0.23 (f32) on the original ONNX file".into(),
        accuracy,
    };
    Ok(CompiledModel {
        model_hash: model.hash()?,
        onnx_sha256: hex::encode(Sha256::digest(onnx)),
        model,
        report,
    })
}
