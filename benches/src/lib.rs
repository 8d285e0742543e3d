//! Shared pieces of zkgrid's benchmarks: the models they run (zoo models and the three peer
//! ONNX models EZKL was measured on). Benches live in `benches/benches/`, tools in
//! `benches/examples/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use zkgrid_models::input::parse_samples;
use zkgrid_models::onnx::import_onnx;
use zkgrid_models::{compile, quantize_input, zoo, QuantConfig, QuantizedModel};

/// The peer models (committed copies of ../shared/peer/ezkl/models).
pub const PEER: [&str; 3] = ["mlp_small", "mlp_wide", "cnn_small"];

/// A model to benchmark: quantized model and the quantized input to prove.
pub struct Case {
    /// `<zoo name>` or `peer_<name>`.
    pub id: String,
    /// The compiled model.
    pub model: QuantizedModel,
    /// The quantized input to prove.
    pub input_q: Vec<i64>,
}

/// Directory of a peer model (ONNX + input.json).
pub fn peer_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/tests/fixtures/peer")
        .join(name)
}

/// A zoo model compiled on its calibration set, with its sample input.
pub fn zoo_case(name: &str) -> Result<Case> {
    let z = zoo::get(name)?;
    let c = compile(
        &z.onnx,
        z.name,
        Some(&z.calibration),
        &QuantConfig::default(),
    )?;
    let input_q = quantize_input(&c.model, &z.sample_input)?;
    Ok(Case {
        id: name.to_string(),
        model: c.model,
        input_q,
    })
}

/// The same pipeline as `zkgrid compile network.onnx --calibration input.json` + `zkgrid prove`.
pub fn peer_case(name: &str) -> Result<Case> {
    let dir = peer_dir(name);
    let onnx = std::fs::read(dir.join("network.onnx"))
        .with_context(|| format!("reading {}", dir.display()))?;
    let input = std::fs::read(dir.join("input.json"))?;
    let shape = import_onnx(&onnx, name)?.input_shape;
    let samples = parse_samples(&input, shape.iter().product(), &shape)?;
    let c = compile(&onnx, name, Some(&samples), &QuantConfig::default())?;
    let input_q = quantize_input(&c.model, &samples[0])?;
    Ok(Case {
        id: format!("peer_{name}"),
        model: c.model,
        input_q,
    })
}

/// A zoo model by name, or a peer model as `peer_<name>`.
pub fn load_case(id: &str) -> Result<Case> {
    match id.strip_prefix("peer_") {
        Some(name) => peer_case(name),
        None => zoo_case(id),
    }
}
