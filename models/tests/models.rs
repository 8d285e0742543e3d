//! Cross-module tests of zkgrid-models: import, quantization, executor, zoo, bad input.

use std::path::PathBuf;

use anyhow::{anyhow, ensure, Result};
use proptest::prelude::*;
use zkgrid_models::compile::{compile, evaluate, CompiledModel};
use zkgrid_models::execute::{argmax, dequantize, execute, quantize_input, run_real};
use zkgrid_models::input::{parse_samples, parse_single};
use zkgrid_models::onnx::import_onnx;
use zkgrid_models::onnx_builder::{Attr, OnnxBuilder};
use zkgrid_models::quantize::QuantConfig;
use zkgrid_models::quantized::QuantizedModel;
use zkgrid_models::reference::FloatReference;
use zkgrid_models::{zoo, ModelError};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

fn zoo_dir(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("zoo")
        .join(p)
}

/// Compile, then check that on `samples` the integer output is within the guaranteed bound of
/// the tract float output (plus f32 slack), and return the compiled model.
fn compile_and_check_bound(
    onnx: &[u8],
    name: &str,
    calib: &[Vec<f64>],
    samples: &[Vec<f64>],
) -> Result<CompiledModel> {
    let c = compile(onnx, name, Some(calib), &QuantConfig::default())?;
    let reference = FloatReference::new(onnx, &c.model.input.shape)?;
    let bound = c.report.output_error_bound;
    for s in samples {
        let exec = match run_real(&c.model, s) {
            Ok(e) => e,
            // Inputs outside the declared range are rejected, never silently wrapped.
            Err(ModelError::Overflow { .. } | ModelError::InputOutOfRange { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let float = reference.run(s)?;
        for (q, f) in exec.output().iter().zip(&float) {
            let d = dequantize(*q, c.model.output_scale());
            let slack = 1e-4 * (1.0 + f.abs());
            ensure!(
                (d - f).abs() <= bound + slack,
                "{name}: |{d} - {f}| > bound {bound}"
            );
        }
    }
    Ok(c)
}

#[test]
fn peer_models_compile_with_full_argmax_agreement() -> Result<()> {
    for name in ["mlp_small", "mlp_wide", "cnn_small"] {
        let onnx = std::fs::read(fixture(&format!("peer/{name}/network.onnx")))?;
        let input_json = std::fs::read(fixture(&format!("peer/{name}/input.json")))?;
        let graph = import_onnx(&onnx, name)?;
        let n = graph.input_shape.iter().product();
        let input = parse_single(&input_json, n, &graph.input_shape)?;
        let calib = zoo::uniform_samples(7, 16, n);
        let c = compile_and_check_bound(&onnx, name, &calib, std::slice::from_ref(&input))?;
        let reference = FloatReference::new(&onnx, &c.model.input.shape)?;
        let acc = evaluate(&c.model, &reference, &[input])?;
        ensure!(
            acc.argmax_agreement == 1.0,
            "{name}: argmax disagrees on the sample input"
        );
        ensure!(
            c.report.accuracy.argmax_agreement == 1.0,
            "{name}: calibration argmax agreement {}",
            c.report.accuracy.argmax_agreement
        );
        ensure!(
            acc.max_abs_error <= c.report.output_error_bound,
            "{name}: error above bound"
        );
    }
    Ok(())
}

#[test]
fn zoo_models_compile_with_full_argmax_agreement() -> Result<()> {
    for name in zoo::NAMES {
        let m = zoo::get(name)?;
        let c = compile_and_check_bound(
            &m.onnx,
            name,
            &m.calibration,
            std::slice::from_ref(&m.sample_input),
        )?;
        let reference = FloatReference::new(&m.onnx, &c.model.input.shape)?;
        let acc = evaluate(&c.model, &reference, std::slice::from_ref(&m.sample_input))?;
        ensure!(
            acc.argmax_agreement == 1.0,
            "{name}: sample argmax disagrees"
        );
        ensure!(
            c.report.accuracy.argmax_agreement == 1.0,
            "{name}: calibration argmax agreement {}",
            c.report.accuracy.argmax_agreement
        );
    }
    Ok(())
}

#[test]
fn digits_quantized_accuracy_within_one_point_of_float() -> Result<()> {
    let m = zoo::get("digits_mlp")?;
    let c = compile(
        &m.onnx,
        "digits_mlp",
        Some(&m.calibration),
        &QuantConfig::default(),
    )?;
    let test: serde_json::Value =
        serde_json::from_slice(&std::fs::read(zoo_dir("digits_test.json"))?)?;
    let inputs = test["inputs"].as_array().ok_or_else(|| anyhow!("inputs"))?;
    let labels = test["labels"].as_array().ok_or_else(|| anyhow!("labels"))?;
    let reference = FloatReference::new(&m.onnx, &c.model.input.shape)?;
    let (mut ok_f, mut ok_q) = (0usize, 0usize);
    for (x, y) in inputs.iter().zip(labels) {
        let x: Vec<f64> = serde_json::from_value(x.clone())?;
        let y = y.as_u64().ok_or_else(|| anyhow!("label"))? as usize;
        let f = reference.run(&x)?;
        let q = run_real(&c.model, &x)?;
        ok_f += usize::from(argmax(&f) == Some(y));
        ok_q += usize::from(argmax(q.output()) == Some(y));
    }
    let n = inputs.len() as f64;
    let (af, aq) = (ok_f as f64 / n, ok_q as f64 / n);
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(zoo_dir("digits_float_accuracy.json"))?)?;
    let recorded = recorded["float_test_accuracy"]
        .as_f64()
        .ok_or_else(|| anyhow!("float acc"))?;
    println!(
        "digits: float {af:.4} (recorded {recorded:.4}), quantized {aq:.4} on {n} test samples"
    );
    ensure!(
        (af - recorded).abs() < 1e-9,
        "tract float accuracy {af} != recorded {recorded}"
    );
    ensure!(
        (af - aq).abs() <= 0.01,
        "quantized accuracy {aq} more than 1 point from float {af}"
    );
    Ok(())
}

/// Golden hashes: the zoo's quantized models hash identically on every run and platform.
#[test]
fn zoo_model_hashes_are_stable() -> Result<()> {
    let golden: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("zoo_hashes.json"))?)?;
    let regenerate = std::env::var_os("ZKGRID_REGENERATE_VECTORS").is_some();
    let mut now = serde_json::Map::new();
    for name in zoo::NAMES {
        let m = zoo::get(name)?;
        let a = compile(&m.onnx, name, Some(&m.calibration), &QuantConfig::default())?;
        let b = compile(&m.onnx, name, Some(&m.calibration), &QuantConfig::default())?;
        ensure!(
            a.model_hash == b.model_hash,
            "{name}: hash differs between runs"
        );
        ensure!(
            a.model.canonical_bytes()? == b.model.canonical_bytes()?,
            "{name}: bytes differ"
        );
        now.insert(
            name.to_string(),
            serde_json::Value::String(a.model_hash.clone()),
        );
        if !regenerate {
            ensure!(
                golden[name].as_str() == Some(a.model_hash.as_str()),
                "{name}: hash {} != golden {}",
                a.model_hash,
                golden[name]
            );
        }
    }
    if regenerate {
        std::fs::write(fixture("zoo_hashes.json"), serde_json::to_vec_pretty(&now)?)?;
    }
    Ok(())
}

#[test]
fn canonical_bytes_round_trip() -> Result<()> {
    let m = zoo::get("cnn_small")?;
    let c = compile(
        &m.onnx,
        "cnn_small",
        Some(&m.calibration),
        &QuantConfig::default(),
    )?;
    let bytes = c.model.canonical_bytes()?;
    let back = QuantizedModel::from_json_bytes(&bytes)?;
    ensure!(back == c.model);
    ensure!(back.canonical_bytes()? == bytes);
    ensure!(back.hash()? == c.model_hash);
    let file = c.to_json_pretty()?;
    let again = CompiledModel::from_json_bytes(&file)?;
    ensure!(again.model == c.model);
    // Editing the model without updating the hash is detected.
    let mut tampered: serde_json::Value = serde_json::from_slice(&file)?;
    tampered["model"]["nodes"][0]["op"]["shift"] = serde_json::json!(3);
    let err = CompiledModel::from_json_bytes(&serde_json::to_vec(&tampered)?).err();
    ensure!(
        matches!(err, Some(ModelError::InvalidModel(_))),
        "tampered model accepted: {err:?}"
    );
    Ok(())
}

fn tiny_compiled() -> Result<CompiledModel> {
    let m = zoo::get("mlp_tiny")?;
    Ok(compile(
        &m.onnx,
        "mlp_tiny",
        Some(&m.calibration),
        &QuantConfig::default(),
    )?)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Executor vs float reference within the reported bound, on random inputs.
    #[test]
    fn executor_within_reported_bound(xs in proptest::collection::vec(-1.0f64..2.0, 16)) {
        let c = tiny_compiled().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let m = zoo::get("mlp_tiny").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let reference = FloatReference::new(&m.onnx, &c.model.input.shape).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match run_real(&c.model, &xs) {
            Ok(exec) => {
                let f = reference.run(&xs).map_err(|e| TestCaseError::fail(e.to_string()))?;
                for (q, fv) in exec.output().iter().zip(&f) {
                    let d = dequantize(*q, c.model.output_scale());
                    prop_assert!((d - fv).abs() <= c.report.output_error_bound + 1e-4 * (1.0 + fv.abs()),
                        "|{} - {}| > {}", d, fv, c.report.output_error_bound);
                }
            }
            Err(ModelError::Overflow { .. } | ModelError::InputOutOfRange { .. }) => {}
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
    }

    /// Canonical bytes round-trip for arbitrary (valid) edits of a model.
    #[test]
    fn canonical_round_trip_random_models(seed in 0u64..1000) {
        let onnx = zoo::mlp_onnx("rt", &[5, 3, 2], seed);
        let calib = zoo::uniform_samples(seed, 4, 5);
        let c = compile(&onnx, "rt", Some(&calib), &QuantConfig::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = c.model.canonical_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = QuantizedModel::from_json_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &c.model);
        prop_assert_eq!(back.hash().ok(), c.model.hash().ok());
    }
}

// ---------- op coverage: every supported op imports, and stays within its bound vs tract ----------

fn check_ops_model(b: &OnnxBuilder, name: &str, n: usize) -> Result<CompiledModel> {
    let onnx = b.bytes();
    let calib = zoo::uniform_samples(3, 16, n);
    let samples = zoo::uniform_samples(4, 8, n);
    compile_and_check_bound(&onnx, name, &calib, &samples)
}

fn seq(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) * scale)
        .collect()
}

#[test]
fn conv_pool_batchnorm_leaky() -> Result<()> {
    let mut b = OnnxBuilder::new("convs", &[1, 2, 8, 8], &[1, 12]).dynamic_batch();
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
    let c = check_ops_model(&b, "convs", 128)?;
    let kinds: Vec<&str> = c.model.nodes.iter().map(|n| n.op.kind()).collect();
    ensure!(
        kinds == ["conv2d", "leaky_relu", "max_pool", "avg_pool", "reshape"],
        "{kinds:?}"
    );
    ensure!(
        c.model.nodes[0].source_op.contains("BatchNormalization"),
        "batchnorm not folded"
    );
    Ok(())
}

#[test]
fn matmul_add_residual_nonlinearities_softmax() -> Result<()> {
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
    // GELU in the erf form PyTorch exports: x * 0.5 * (1 + erf(x / sqrt 2))
    b.node("Div", "gdiv", &["u", "sq2"], &["g1"], &[]);
    b.node("Erf", "gerf", &["g1"], &["g2"], &[]);
    b.node("Add", "gadd", &["g2", "one"], &["g3"], &[]);
    b.node("Mul", "gmul", &["u", "g3"], &["g4"], &[]);
    b.node("Mul", "ghalf", &["g4", "half"], &["g"], &[]);
    b.node("Identity", "id", &["g"], &["gi"], &[]);
    b.node("Dropout", "drop", &["gi"], &["gd"], &[]);
    b.node(
        "Softmax",
        "softmax",
        &["gd"],
        &["output"],
        &[("axis", Attr::Int(-1))],
    );
    let c = check_ops_model(&b, "mix", 8)?;
    let kinds: Vec<&str> = c.model.nodes.iter().map(|n| n.op.kind()).collect();
    ensure!(
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
                "mul_const",
                "softmax"
            ],
        "{kinds:?}"
    );
    Ok(())
}

#[test]
fn gelu_op_reshape_transpose_global_pool() -> Result<()> {
    let mut b = OnnxBuilder::new("g", &[1, 2, 4, 4], &[1, 2]).opset(20);
    b.init_i64("shape2", &[4], &[1, 2, 4, 4]);
    b.node("Gelu", "gelu", &["input"], &["a"], &[]);
    b.node("Reshape", "rs", &["a", "shape2"], &["b"], &[]);
    b.node("GlobalAveragePool", "gap", &["b"], &["c"], &[]);
    b.node(
        "Transpose",
        "tr",
        &["c"],
        &["d"],
        &[("perm", Attr::Ints(vec![0, 2, 3, 1]))],
    );
    b.node("Flatten", "fl", &["d"], &["output"], &[]);
    let onnx = b.bytes();
    // tract may not know opset-20 Gelu; our importer must, and the executor must match the
    // f64 float graph within the bound.
    let graph = import_onnx(&onnx, "g")?;
    let calib = zoo::uniform_samples(5, 16, 32);
    let (model, layers) =
        zkgrid_models::quantize::quantize(&graph, &calib, &QuantConfig::default())?;
    let bound = layers.last().map(|l| l.error_bound).unwrap_or(0.0);
    for s in zoo::uniform_samples(6, 8, 32) {
        let s: Vec<f64> = s.iter().map(|v| v * 4.0 - 2.0).collect();
        let f = graph.run(&s)?;
        let q = run_real(&model, &s)?;
        for (a, b) in q.output().iter().zip(&f) {
            let d = dequantize(*a, model.output_scale());
            ensure!(
                (d - b).abs() <= bound + 1e-9,
                "gelu model: |{d} - {b}| > {bound}"
            );
        }
    }
    let kinds: Vec<&str> = model.nodes.iter().map(|n| n.op.kind()).collect();
    ensure!(
        kinds == ["gelu", "reshape", "avg_pool", "reshape", "reshape"],
        "{kinds:?}"
    );
    Ok(())
}

// ---------- bad input: a clear typed error for each, never a panic ----------

#[test]
fn truncated_and_garbage_onnx_are_errors() -> Result<()> {
    let good = zoo::get("mlp_tiny")?.onnx;
    for cut in [1usize, 10, good.len() / 2, good.len() - 3] {
        let r = import_onnx(&good[..cut], "t");
        ensure!(
            matches!(
                r,
                Err(ModelError::OnnxDecode(_) | ModelError::OnnxMalformed(_))
            ),
            "cut {cut}: {r:?}"
        );
    }
    let r = import_onnx(b"this is not a model", "t");
    ensure!(
        matches!(
            r,
            Err(ModelError::OnnxDecode(_) | ModelError::OnnxMalformed(_))
        ),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn unsupported_ops_are_all_listed() -> Result<()> {
    let mut b = OnnxBuilder::new("lstm", &[1, 4], &[1, 4]);
    b.init("W", &[4, 4], &seq(16, 0.1));
    b.node("LSTM", "my_lstm", &["input"], &["l"], &[]);
    b.node("MatMul", "mm", &["input", "W"], &["m"], &[]);
    b.node("Cos", "my_cos", &["m"], &["c"], &[]);
    b.node("Add", "add", &["l", "c"], &["output"], &[]);
    let err = import_onnx(&b.bytes(), "lstm")
        .err()
        .ok_or_else(|| anyhow!("accepted"))?;
    let msg = err.to_string();
    match &err {
        ModelError::UnsupportedOps(list) => {
            ensure!(list.len() == 2, "{list:?}");
            ensure!(
                msg.contains("my_lstm (LSTM)") && msg.contains("my_cos (Cos)"),
                "{msg}"
            );
        }
        other => return Err(anyhow!("wrong error {other:?}")),
    }
    Ok(())
}

#[test]
fn wrong_input_shape_and_bad_values_are_errors() -> Result<()> {
    let c = tiny_compiled()?;
    let m = &c.model;
    let r = quantize_input(m, &[0.5; 15]);
    ensure!(
        matches!(
            r,
            Err(ModelError::WrongInputShape {
                expected_len: 16,
                got: 15,
                ..
            })
        ),
        "{r:?}"
    );
    let mut x = vec![0.5; 16];
    x[3] = f64::NAN;
    ensure!(matches!(
        quantize_input(m, &x),
        Err(ModelError::NonFiniteInput { index: 3, .. })
    ));
    x[3] = f64::INFINITY;
    ensure!(matches!(
        quantize_input(m, &x),
        Err(ModelError::NonFiniteInput { index: 3, .. })
    ));
    x[3] = 1e9;
    ensure!(matches!(
        quantize_input(m, &x),
        Err(ModelError::InputOutOfRange { index: 3, .. })
    ));
    ensure!(matches!(
        execute(m, &[0; 3]),
        Err(ModelError::WrongInputShape { .. })
    ));
    ensure!(matches!(
        execute(m, &[1 << 20; 16]),
        Err(ModelError::QuantizedInputOutOfRange { .. })
    ));
    // JSON inputs
    ensure!(matches!(
        parse_single(br#"{"input_data": [[1, 2]]}"#, 16, &[1, 16]),
        Err(ModelError::WrongInputShape { got: 2, .. })
    ));
    ensure!(matches!(
        parse_single(br#"{"input_data": [[1, "NaN"]]}"#, 2, &[1, 2]),
        Err(ModelError::NonFiniteInput { .. })
    ));
    Ok(())
}

#[test]
fn overflow_names_the_layer() -> Result<()> {
    // Calibrate on tiny inputs so large (but in-range) inputs overflow an inner layer.
    let m = zoo::get("mlp_tiny")?;
    let calib: Vec<Vec<f64>> = zoo::uniform_samples(1, 8, 16)
        .into_iter()
        .map(|v| v.iter().map(|x| x * 0.01).collect())
        .collect();
    let c = compile(
        &m.onnx,
        "mlp_tiny",
        Some(&calib),
        &QuantConfig {
            headroom_bits: 0,
            ..QuantConfig::default()
        },
    )?;
    let max_in = (32767.0 / 2f64.powi(c.model.input.scale)) * 0.99;
    let x = vec![max_in; 16];
    match run_real(&c.model, &x) {
        Err(ModelError::Overflow { layer, .. }) => ensure!(layer.starts_with("fc"), "{layer}"),
        other => return Err(anyhow!("expected overflow, got {other:?}")),
    }
    Ok(())
}

#[test]
fn non_finite_weights_are_errors() -> Result<()> {
    let mut b = OnnxBuilder::new("nan", &[1, 2], &[1, 2]);
    b.init("W", &[2, 2], &[1.0, f32::NAN, 0.0, 1.0]);
    b.init("B", &[2], &[0.0, 0.0]);
    b.node(
        "Gemm",
        "fc",
        &["input", "W", "B"],
        &["output"],
        &[("transB", Attr::Int(1))],
    );
    let r = import_onnx(&b.bytes(), "nan");
    ensure!(
        matches!(r, Err(ModelError::NonFiniteWeight { index: 1, .. })),
        "{r:?}"
    );
    let mut b = OnnxBuilder::new("inf", &[1, 2], &[1, 2]);
    b.init("W", &[2, 2], &[1.0, 0.0, 0.0, 1.0]);
    b.init("B", &[2], &[f32::INFINITY, 0.0]);
    b.node(
        "Gemm",
        "fc",
        &["input", "W", "B"],
        &["output"],
        &[("transB", Attr::Int(1))],
    );
    let r = import_onnx(&b.bytes(), "inf");
    ensure!(
        matches!(r, Err(ModelError::NonFiniteWeight { index: 0, .. })),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn calibration_of_wrong_shape_is_an_error() -> Result<()> {
    let m = zoo::get("mlp_tiny")?;
    let r = parse_samples(br#"{"input_data": [[1, 2, 3]]}"#, 16, &[1, 16]);
    ensure!(
        matches!(
            r,
            Err(ModelError::WrongInputShape {
                expected_len: 16,
                got: 3,
                ..
            })
        ),
        "{r:?}"
    );
    let bad = vec![vec![0.5; 15]];
    let r = compile(&m.onnx, "t", Some(&bad), &QuantConfig::default());
    ensure!(
        matches!(r, Err(ModelError::WrongInputShape { .. })),
        "{r:?}"
    );
    let r = compile(&m.onnx, "t", Some(&[]), &QuantConfig::default());
    ensure!(matches!(r, Err(ModelError::Calibration(_))), "{r:?}");
    let r = compile(
        &m.onnx,
        "t",
        None,
        &QuantConfig {
            bits: 40,
            ..QuantConfig::default()
        },
    );
    ensure!(matches!(r, Err(ModelError::InvalidSetting(_))), "{r:?}");
    Ok(())
}
