//! Models using every supported operation: a hand-written `QuantizedModel` (exercising
//! padding, both AvgPool divisor modes, shifts of 0, LeakyReLU with α = 0 and shift 0, a
//! product of two values), a hand-written lookup model, ONNX non-linearities (sigmoid, tanh,
//! erf, products) and an
//! ONNX conv / batch-norm / LeakyReLU / pooling model through the real quantizer.

use std::sync::Arc;

use rand::Rng;
use zkgrid_circuits::model::Visibility;
use zkgrid_models::graph::{ConvGeom, NonLinearity, PoolGeom};
use zkgrid_models::onnx_builder::{Attr, OnnxBuilder};
use zkgrid_models::quantized::{InputSpec, FORMAT_NAME, FORMAT_VERSION};
use zkgrid_models::{compile, zoo, QNode, QOp, QuantConfig, QuantizedModel};

use crate::common::rng;
use crate::differential::{differential, INPUTS};

fn node(name: &str, op: QOp, inputs: &[usize], shape: &[usize]) -> QNode {
    QNode {
        name: name.into(),
        source_op: "test".into(),
        op,
        inputs: inputs.to_vec(),
        shape: shape.to_vec(),
        scale: 8,
    }
}

fn pool(channels: usize, in_hw: usize, kernel: usize, stride: usize, pads: [usize; 4]) -> PoolGeom {
    let out_hw = ConvGeom::output_hw([in_hw; 2], [kernel; 2], [stride; 2], pads).unwrap_or([0; 2]);
    PoolGeom {
        channels,
        in_hw: [in_hw; 2],
        kernel: [kernel; 2],
        stride: [stride; 2],
        pads,
        out_hw,
    }
}

/// A 16-bit model on a `[1, 2, 6, 6]` input at scale 8.
fn model(name: &str, nodes: Vec<QNode>) -> QuantizedModel {
    QuantizedModel {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        name: name.into(),
        bits: 16,
        input: InputSpec {
            shape: vec![1, 2, 6, 6],
            scale: 8,
        },
        nodes,
    }
}

/// Every supported op; value `i + 1` is node `i`'s output.
pub fn all_ops_model() -> QuantizedModel {
    let mut r = rng(77);
    let mut ints = |n: usize, m: i64| -> Vec<i64> { (0..n).map(|_| r.gen_range(-m..=m)).collect() };
    let conv = ConvGeom {
        in_channels: 2,
        out_channels: 3,
        in_hw: [6, 6],
        kernel: [3, 3],
        stride: [1, 1],
        pads: [1, 1, 1, 1],
        out_hw: [6, 6],
    };
    let nodes = vec![
        node(
            "conv",
            QOp::Conv2d {
                geom: conv,
                weight: ints(54, 64),
                bias: ints(3, 1000),
                shift: 8,
            },
            &[0],
            &[1, 3, 6, 6],
        ),
        node(
            "leaky",
            QOp::LeakyRelu {
                alpha: 13,
                alpha_shift: 7,
            },
            &[1],
            &[1, 3, 6, 6],
        ),
        node(
            "maxpool",
            QOp::MaxPool {
                geom: pool(3, 6, 3, 2, [1; 4]),
            },
            &[2],
            &[1, 3, 3, 3],
        ),
        node(
            "avg_valid",
            QOp::AvgPool {
                geom: pool(3, 3, 3, 1, [1; 4]),
                count_include_pad: false,
            },
            &[3],
            &[1, 3, 3, 3],
        ),
        node(
            "avg_full",
            QOp::AvgPool {
                geom: pool(3, 3, 2, 1, [1, 1, 0, 0]),
                count_include_pad: true,
            },
            &[3],
            &[1, 3, 3, 3],
        ),
        node(
            "add",
            QOp::Add {
                shift_a: 1,
                shift_b: 0,
            },
            &[4, 5],
            &[1, 3, 3, 3],
        ),
        node(
            "sub",
            QOp::Sub {
                shift_a: 0,
                shift_b: 2,
            },
            &[6, 3],
            &[1, 3, 3, 3],
        ),
        node(
            "mul_const",
            QOp::MulConst {
                constant: ints(27, 300),
                shift: 6,
            },
            &[7],
            &[1, 3, 3, 3],
        ),
        node(
            "add_const",
            QOp::AddConst {
                shift: 1,
                constant: ints(27, 500),
            },
            &[8],
            &[1, 3, 3, 3],
        ),
        node("flatten", QOp::Reshape, &[9], &[1, 27]),
        node(
            "fc",
            QOp::Dense {
                in_features: 27,
                out_features: 5,
                weight: ints(135, 100),
                bias: ints(5, 2000),
                shift: 7,
            },
            &[10],
            &[1, 5],
        ),
        node(
            "leaky_shift0",
            QOp::LeakyRelu {
                alpha: 3,
                alpha_shift: 0,
            },
            &[11],
            &[1, 5],
        ),
        node(
            "leaky_alpha0",
            QOp::LeakyRelu {
                alpha: 0,
                alpha_shift: 4,
            },
            &[11],
            &[1, 5],
        ),
        node("relu", QOp::Relu, &[12], &[1, 5]),
        node(
            "sub2",
            QOp::Sub {
                shift_a: 1,
                shift_b: 1,
            },
            &[14, 13],
            &[1, 5],
        ),
        node(
            "fc_shift0",
            QOp::Dense {
                in_features: 5,
                out_features: 4,
                weight: ints(20, 3),
                bias: ints(4, 50),
                shift: 0,
            },
            &[15],
            &[1, 4],
        ),
        node("square", QOp::Mul { shift: 12 }, &[16, 16], &[1, 4]),
    ];
    model("all_ops", nodes)
}

/// `Conv(2→3 channels, 3×3, stride (2, 1), pads 1) → Relu → Reshape → Dense(3·3·6 → 4)`: what
/// the narrow backend supports, with padding cells and a strided window.
pub fn conv_dense_model() -> QuantizedModel {
    let mut r = rng(91);
    let mut ints = |n: usize, m: i64| -> Vec<i64> { (0..n).map(|_| r.gen_range(-m..=m)).collect() };
    let conv = ConvGeom {
        in_channels: 2,
        out_channels: 3,
        in_hw: [6, 6],
        kernel: [3, 3],
        stride: [2, 1],
        pads: [1, 1, 1, 1],
        out_hw: [3, 6],
    };
    let nodes = vec![
        node(
            "conv",
            QOp::Conv2d {
                geom: conv,
                weight: ints(54, 64),
                bias: ints(3, 1000),
                shift: 8,
            },
            &[0],
            &[1, 3, 3, 6],
        ),
        node("relu", QOp::Relu, &[1], &[1, 3, 3, 6]),
        node("flatten", QOp::Reshape, &[2], &[1, 54]),
        node(
            "fc",
            QOp::Dense {
                in_features: 54,
                out_features: 4,
                weight: ints(216, 100),
                bias: ints(4, 2000),
                shift: 7,
            },
            &[3],
            &[1, 4],
        ),
    ];
    model("conv_dense", nodes)
}

/// `Conv(pads 1) → BatchNorm → LeakyRelu → MaxPool → AveragePool(pads 1) → Flatten`,
/// compiled by the real quantizer.
pub fn onnx_conv_pool_model() -> anyhow::Result<QuantizedModel> {
    let seq = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) * scale)
            .collect()
    };
    let mut b = OnnxBuilder::new("convs", &[1, 2, 8, 8], &[1, 12]);
    b.init("W", &[3, 2, 3, 3], &seq(54, 0.05));
    b.init("B", &[3], &[0.1, -0.1, 0.05]);
    b.init("s", &[3], &[1.1, 0.9, 1.0]);
    b.init("bb", &[3], &[0.01, 0.02, -0.03]);
    b.init("mu", &[3], &[0.1, 0.0, -0.1]);
    b.init("var", &[3], &[1.2, 0.8, 1.0]);
    b.node(
        "Conv",
        "conv",
        &["input", "W", "B"],
        &["c"],
        &[("pads", Attr::Ints(vec![1, 1, 1, 1]))],
    );
    b.node(
        "BatchNormalization",
        "bn",
        &["c", "s", "bb", "mu", "var"],
        &["n"],
        &[],
    );
    b.node(
        "LeakyRelu",
        "lrelu",
        &["n"],
        &["l"],
        &[("alpha", Attr::Float(0.1))],
    );
    b.node(
        "MaxPool",
        "maxpool",
        &["l"],
        &["m"],
        &[
            ("kernel_shape", Attr::Ints(vec![2, 2])),
            ("strides", Attr::Ints(vec![2, 2])),
        ],
    );
    b.node(
        "AveragePool",
        "avgpool",
        &["m"],
        &["a"],
        &[
            ("kernel_shape", Attr::Ints(vec![3, 3])),
            ("strides", Attr::Ints(vec![2, 2])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
        ],
    );
    b.node("Flatten", "flat", &["a"], &["output"], &[]);
    let calibration = zoo::uniform_samples(3, 16, 128);
    Ok(compile(
        &b.bytes(),
        "convs",
        Some(&calibration),
        &QuantConfig::default(),
    )?
    .model)
}

/// Table lookups: clamping on both sides, `add_relu`, a lookup of a sum of lookups.
pub fn lookup_model() -> QuantizedModel {
    let mut r = rng(78);
    let mut table = |bits: u32, m: i64| -> Vec<i64> {
        (0..1usize << bits).map(|_| r.gen_range(-m..=m)).collect()
    };
    let nodes = vec![
        node(
            "sigmoid_like",
            QOp::Lookup {
                func: NonLinearity::Sigmoid,
                in_shift: 4,
                table_bits: 5,
                table: table(5, 1000),
                add_relu: false,
            },
            &[0],
            &[1, 10],
        ),
        node(
            "gelu_like",
            QOp::Lookup {
                func: NonLinearity::Gelu,
                in_shift: 0,
                table_bits: 4,
                table: table(4, 300),
                add_relu: true,
            },
            &[0],
            &[1, 10],
        ),
        node(
            "sum",
            QOp::Add {
                shift_a: 0,
                shift_b: 1,
            },
            &[1, 2],
            &[1, 10],
        ),
        node(
            "tanh_like",
            QOp::Lookup {
                func: NonLinearity::Tanh,
                in_shift: 2,
                table_bits: 6,
                table: table(6, 20000),
                add_relu: false,
            },
            &[3],
            &[1, 10],
        ),
    ];
    QuantizedModel {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        name: "lookups".into(),
        bits: 16,
        input: InputSpec {
            shape: vec![1, 10],
            scale: 8,
        },
        nodes,
    }
}

/// `MatMul → Add → Sigmoid, Tanh → Add → Sub → GELU (erf form) → Identity → Dropout`, compiled
/// by the real quantizer with `table_bits` index bits.
pub fn onnx_nonlinear_model(table_bits: u32) -> anyhow::Result<QuantizedModel> {
    let seq = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) * scale)
            .collect()
    };
    let mut b = OnnxBuilder::new("mix", &[1, 8], &[1, 8]);
    b.init("M", &[8, 8], &seq(64, 0.04));
    b.init("bias", &[8], &seq(8, 0.01));
    b.init("half", &[], &[0.5]);
    b.init("sq2", &[], &[std::f32::consts::SQRT_2]);
    b.init("one", &[], &[1.0]);
    b.init("k", &[1, 8], &seq(8, 0.1));
    b.node("MatMul", "mm", &["input", "M"], &["mm"], &[]);
    b.node("Add", "bias_add", &["mm", "bias"], &["h"], &[]);
    b.node("Sigmoid", "sig", &["h"], &["s"], &[]);
    b.node("Tanh", "tanh", &["h"], &["t"], &[]);
    b.node("Add", "res", &["s", "t"], &["st"], &[]);
    b.node("Sub", "subc", &["st", "k"], &["u"], &[]);
    b.node("Div", "gdiv", &["u", "sq2"], &["g1"], &[]);
    b.node("Erf", "gerf", &["g1"], &["g2"], &[]);
    b.node("Add", "gadd", &["g2", "one"], &["g3"], &[]);
    b.node("Mul", "gmul", &["u", "g3"], &["g4"], &[]);
    b.node("Mul", "ghalf", &["g4", "half"], &["g"], &[]);
    b.node("Identity", "id", &["g"], &["gi"], &[]);
    b.node("Dropout", "drop", &["gi"], &["output"], &[]);
    let calibration = zoo::uniform_samples(3, 16, 8);
    let config = QuantConfig {
        table_bits,
        ..QuantConfig::default()
    };
    Ok(compile(&b.bytes(), "mix", Some(&calibration), &config)?.model)
}

#[test]
fn lookup_model_matches_executor() -> anyhow::Result<()> {
    let model = lookup_model();
    model.validate()?;
    differential("lookups", Arc::new(model), Visibility::PUBLIC, INPUTS, 8)
}

#[test]
fn onnx_nonlinear_model_matches_executor() -> anyhow::Result<()> {
    let model = onnx_nonlinear_model(8)?;
    let kinds: Vec<&str> = model.nodes.iter().map(|n| n.op.kind()).collect();
    anyhow::ensure!(
        kinds
            == [
                "dense",
                "sigmoid",
                "tanh",
                "add",
                "add_const",
                "mul_const",
                "erf",
                "add_const",
                "mul",
                "mul_const"
            ],
        "{kinds:?}"
    );
    differential(
        "onnx_nonlinear_tb8",
        Arc::new(model),
        Visibility::PUBLIC,
        INPUTS,
        9,
    )
}

/// With the quantizer's default 12-bit tables the three tables (12,289 rows) set `k = 14`.
#[test]
fn default_table_bits_set_k() -> anyhow::Result<()> {
    let model = onnx_nonlinear_model(QuantConfig::default().table_bits)?;
    differential(
        "onnx_nonlinear_tb12",
        Arc::new(model),
        Visibility::PUBLIC,
        4,
        10,
    )
}

#[test]
fn all_ops_model_matches_executor() -> anyhow::Result<()> {
    let model = all_ops_model();
    model.validate()?;
    differential("all_ops", Arc::new(model), Visibility::PUBLIC, INPUTS, 6)
}

#[test]
fn onnx_conv_pool_model_matches_executor() -> anyhow::Result<()> {
    let model = onnx_conv_pool_model()?;
    let kinds: Vec<&str> = model.nodes.iter().map(|n| n.op.kind()).collect();
    anyhow::ensure!(
        kinds == ["conv2d", "leaky_relu", "max_pool", "avg_pool", "reshape"],
        "{kinds:?}"
    );
    differential("onnx_convs", Arc::new(model), Visibility::PUBLIC, INPUTS, 7)
}
