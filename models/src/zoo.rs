//! The model zoo: deterministic models (fixed seeds) built as real ONNX files, plus a trained
//! classifier (scikit-learn's 8x8 digits; `models/zoo/make_digits.py`).
//!
//! Random weights use ChaCha20 and an Irwin–Hall normal (sum of 12 uniforms − 6): only exact
//! arithmetic and `sqrt`, so the weights, and hence model hashes, are identical on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::{ModelError, Result};
use crate::input::parse_samples;
use crate::onnx_builder::{Attr, OnnxBuilder};

/// A zoo entry.
#[derive(Debug, Clone)]
pub struct ZooModel {
    /// Name.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// ONNX bytes.
    pub onnx: Vec<u8>,
    /// Calibration samples.
    pub calibration: Vec<Vec<f64>>,
    /// A sample input.
    pub sample_input: Vec<f64>,
}

/// Names of all zoo models.
pub const NAMES: [&str; 5] = [
    "mlp_tiny",
    "mlp_small",
    "mlp_wide",
    "cnn_small",
    "digits_mlp",
];

const DIGITS_ONNX: &[u8] = include_bytes!("../zoo/digits_mlp.onnx");
const DIGITS_CALIBRATION: &[u8] = include_bytes!("../zoo/digits_calibration.json");
const DIGITS_SAMPLE: &[u8] = include_bytes!("../zoo/digits_sample_input.json");

/// Seeded uniform in [0, 1) with 32 random bits (exact in f64).
fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    rng.gen::<u32>() as f64 / 4_294_967_296.0
}

/// Irwin–Hall approximation of a standard normal.
fn normal(rng: &mut ChaCha20Rng) -> f64 {
    (0..12).map(|_| uniform(rng)).sum::<f64>() - 6.0
}

fn he(rng: &mut ChaCha20Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let std = (2.0 / fan_in as f64).sqrt();
    (0..n).map(|_| (normal(rng) * std) as f32).collect()
}

fn small(rng: &mut ChaCha20Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| (normal(rng) * 0.01) as f32).collect()
}

/// `count` uniform [0,1) samples of `n` values from `seed`.
pub fn uniform_samples(seed: u64, count: usize, n: usize) -> Vec<Vec<f64>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| (0..n).map(|_| uniform(&mut rng)).collect())
        .collect()
}

/// An MLP `dims[0] -> ... -> dims[last]` with ReLU between Gemm layers.
pub fn mlp_onnx(name: &str, dims: &[usize], seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let d = |x: usize| x as i64;
    let mut b = OnnxBuilder::new(name, &[1, d(dims[0])], &[1, d(dims[dims.len() - 1])]);
    let mut cur = "input".to_string();
    for i in 0..dims.len() - 1 {
        let (fi, fo) = (dims[i], dims[i + 1]);
        let w = he(&mut rng, fo * fi, fi);
        let bias = small(&mut rng, fo);
        b.init(&format!("W{i}"), &[d(fo), d(fi)], &w);
        b.init(&format!("b{i}"), &[d(fo)], &bias);
        let last = i == dims.len() - 2;
        let out = if last {
            "output".to_string()
        } else {
            format!("h{i}")
        };
        b.node(
            "Gemm",
            &format!("fc{i}"),
            &[&cur, &format!("W{i}"), &format!("b{i}")],
            &[&out],
            &[("transB", Attr::Int(1))],
        );
        cur = out;
        if !last {
            let r = format!("r{i}");
            b.node("Relu", &format!("relu{i}"), &[&cur], &[&r], &[]);
            cur = r;
        }
    }
    b.bytes()
}

/// `[1,1,28,28] -> Conv(4, 5x5, stride 2) -> Relu -> Flatten -> Gemm(10)`.
pub fn cnn_small_onnx(seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut b = OnnxBuilder::new("cnn_small", &[1, 1, 28, 28], &[1, 10]);
    b.init("Wc", &[4, 1, 5, 5], &he(&mut rng, 100, 25));
    b.init("bc", &[4], &small(&mut rng, 4));
    b.init("Wf", &[10, 576], &he(&mut rng, 5760, 576));
    b.init("bf", &[10], &small(&mut rng, 10));
    b.node(
        "Conv",
        "conv",
        &["input", "Wc", "bc"],
        &["c"],
        &[
            ("kernel_shape", Attr::Ints(vec![5, 5])),
            ("strides", Attr::Ints(vec![2, 2])),
        ],
    );
    b.node("Relu", "relu", &["c"], &["r"], &[]);
    b.node(
        "Flatten",
        "flatten",
        &["r"],
        &["f"],
        &[("axis", Attr::Int(1))],
    );
    b.node(
        "Gemm",
        "fc",
        &["f", "Wf", "bf"],
        &["output"],
        &[("transB", Attr::Int(1))],
    );
    b.bytes()
}

/// Get a zoo model by name.
pub fn get(name: &str) -> Result<ZooModel> {
    let m = match name {
        "mlp_tiny" => ZooModel {
            name: "mlp_tiny",
            description: "16-8-4 MLP with ReLU, random weights (seed 10); for fast tests",
            onnx: mlp_onnx("mlp_tiny", &[16, 8, 4], 10),
            calibration: uniform_samples(110, 32, 16),
            sample_input: uniform_samples(210, 1, 16).remove(0),
        },
        "mlp_small" => ZooModel {
            name: "mlp_small",
            description: "784-32-10 MLP with ReLU, He-normal weights (seed 1)",
            onnx: mlp_onnx("mlp_small", &[784, 32, 10], 1),
            calibration: uniform_samples(101, 32, 784),
            sample_input: uniform_samples(201, 1, 784).remove(0),
        },
        "mlp_wide" => ZooModel {
            name: "mlp_wide",
            description: "784-128-128-10 MLP with ReLU, He-normal weights (seed 2)",
            onnx: mlp_onnx("mlp_wide", &[784, 128, 128, 10], 2),
            calibration: uniform_samples(102, 32, 784),
            sample_input: uniform_samples(202, 1, 784).remove(0),
        },
        "cnn_small" => ZooModel {
            name: "cnn_small",
            description: "Conv(4 filters 5x5 stride 2)-ReLU-Flatten-Gemm(10) on 1x28x28, seed 3",
            onnx: cnn_small_onnx(3),
            calibration: uniform_samples(103, 32, 784),
            sample_input: uniform_samples(203, 1, 784).remove(0),
        },
        "digits_mlp" => ZooModel {
            name: "digits_mlp",
            description:
                "64-32-10 MLP trained on scikit-learn's 8x8 digits (97.3% float test accuracy)",
            onnx: DIGITS_ONNX.to_vec(),
            calibration: parse_samples(DIGITS_CALIBRATION, 64, &[1, 64])?,
            sample_input: parse_samples(DIGITS_SAMPLE, 64, &[1, 64])?.remove(0),
        },
        other => {
            return Err(ModelError::InvalidSetting(format!(
                "unknown zoo model `{other}`; available: {}",
                NAMES.join(", ")
            )))
        }
    };
    Ok(m)
}
