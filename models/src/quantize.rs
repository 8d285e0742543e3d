//! Quantization: float graph + calibration samples → [`QuantizedModel`], with a worst-case error
//! bound per layer.
//!
//! Scales are powers of two chosen per tensor. An activation scale is the largest `s` with
//! `max|calibrated value| * 2^s <= 2^(b-1) - 1`, minus `headroom_bits` so unseen inputs up to
//! `2^headroom` times larger still fit. Weight scales use the full `weight_bits` range.
//!
//! The error bound is rigorous for every input the integer executor accepts (activations are
//! then within their declared ranges): it propagates input rounding, weight rounding, rescale
//! rounding and table error through each op's Lipschitz constant, measured against exact real
//! arithmetic on the same float weights.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::graph::{numel, FloatGraph, FloatOp, NonLinearity};
use crate::quantized::{InputSpec, QNode, QOp, QuantizedModel, FORMAT_NAME, FORMAT_VERSION};

/// Quantization settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantConfig {
    /// Activation bit width `b` (8..=24).
    pub bits: u32,
    /// Weight bit width (4..=24).
    pub weight_bits: u32,
    /// Bits of headroom above the calibrated maximum (0..=8).
    pub headroom_bits: u32,
    /// Index bits of non-linearity tables (6..=16).
    pub table_bits: u32,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            bits: 16,
            weight_bits: 16,
            headroom_bits: 1,
            table_bits: 12,
        }
    }
}

impl QuantConfig {
    /// Check ranges.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, m: String| {
            if ok {
                Ok(())
            } else {
                Err(ModelError::InvalidSetting(m))
            }
        };
        check(
            (8..=24).contains(&self.bits),
            format!("bits = {} (allowed 8..=24)", self.bits),
        )?;
        check(
            (4..=24).contains(&self.weight_bits),
            format!("weight_bits = {} (allowed 4..=24)", self.weight_bits),
        )?;
        check(
            self.headroom_bits <= 8,
            format!("headroom_bits = {} (allowed 0..=8)", self.headroom_bits),
        )?;
        check(
            (6..=16).contains(&self.table_bits),
            format!("table_bits = {} (allowed 6..=16)", self.table_bits),
        )
    }
}

/// Per-layer facts for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Layer name.
    pub name: String,
    /// Quantized op kind.
    pub kind: String,
    /// ONNX op(s).
    pub source_op: String,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Output scale.
    pub scale: i32,
    /// Largest |value| seen in calibration (float model).
    pub calibrated_max_abs: f64,
    /// Largest |value| the declared range can hold at this scale.
    pub range_max_abs: f64,
    /// Worst-case absolute error bound of this layer's output vs exact real arithmetic.
    pub error_bound: f64,
    /// Multiply-accumulates.
    pub macs: usize,
}

fn half(s: i32) -> f64 {
    2f64.powi(-s - 1)
}

fn range_real(bits: u32, s: i32) -> f64 {
    2f64.powi(bits as i32 - 1) / 2f64.powi(s)
}

/// Largest scale `s` with `m * 2^s <= 2^(bits-1) - 1`, minus headroom; clamped to [-32, cap].
/// Uses only exact power-of-two multiplications, so it is identical on every platform.
fn activation_scale(m: f64, bits: u32, headroom: u32, cap: i32) -> i32 {
    let max = (2f64.powi(bits as i32 - 1) - 1.0).max(1.0);
    if !m.is_finite() || m <= 0.0 {
        return cap;
    }
    let mut s = cap + headroom as i32;
    while s > -32 && m * 2f64.powi(s) > max {
        s -= 1;
    }
    (s - headroom as i32).clamp(-32, cap)
}

fn weight_scale(m: f64, bits: u32) -> i32 {
    activation_scale(m, bits, 0, 30)
}

fn q(v: f64, s: i32, what: &str) -> Result<i64> {
    let x = (v * 2f64.powi(s) + 0.5).floor();
    if !x.is_finite() || x.abs() >= 2f64.powi(62) {
        return Err(ModelError::InvalidSetting(format!(
            "{what}: value {v} at scale {s} does not fit in 62 bits"
        )));
    }
    Ok(x as i64)
}

fn shift_of(natural: i32, out: i32, name: &str) -> Result<u32> {
    u32::try_from(natural - out).map_err(|_| {
        ModelError::InvalidSetting(format!("{name}: negative shift {natural} -> {out}"))
    })
}

fn max_abs(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Largest `|f(x) - f(edge)|` for `x` beyond the clamp edges of a table covering `[-d, d)`.
fn tail(func: NonLinearity, d: f64) -> f64 {
    match func {
        NonLinearity::Sigmoid | NonLinearity::Tanh | NonLinearity::Erf => {
            let hi = func.eval(1e6) - func.eval(d);
            let lo = func.eval(-d) - func.eval(-1e6);
            hi.abs().max(lo.abs())
        }
        NonLinearity::Gelu => {
            let g = |x: f64| NonLinearity::Gelu.eval(x) - x.max(0.0);
            2.0 * g(d).abs().max(g(-d).abs())
        }
    }
}

/// Half-width of a table's real input domain for each function: beyond it the function is
/// saturated (to within [`tail`]).
fn table_domain(func: NonLinearity) -> f64 {
    match func {
        NonLinearity::Erf => 4.0,
        _ => 8.0,
    }
}

/// A quantized linear layer (dense or convolution): weights, bias, shift, output scale and the
/// worst-case error bound of its output.
struct Linear {
    weight: Vec<i64>,
    bias: Vec<i64>,
    shift: u32,
    scale: i32,
    error: f64,
}

/// Quantize `weight` (`outputs` rows of equal length) and `bias` for an input at scale `sx` with
/// error `ex` and declared range `rx`; the output scale is `want` capped at the accumulator scale.
/// The bound per output row is `sum |w| ex + sum |dw| rx + |db|`, plus half an LSB when rescaled.
#[allow(clippy::too_many_arguments)]
fn quantize_linear(
    weight: &[f32],
    bias: &[f32],
    outputs: usize,
    sx: i32,
    ex: f64,
    rx: f64,
    want: i32,
    cfg: &QuantConfig,
    name: &str,
) -> Result<Linear> {
    let sw = weight_scale(max_abs(weight.iter().map(|&w| w as f64)), cfg.weight_bits);
    let natural = sx + sw;
    let scale = want.min(natural);
    let shift = shift_of(natural, scale, name)?;
    let wq = weight
        .iter()
        .map(|&w| q(w as f64, sw, name))
        .collect::<Result<Vec<_>>>()?;
    let bq = bias
        .iter()
        .map(|&c| q(c as f64, natural, name))
        .collect::<Result<Vec<_>>>()?;
    let per = weight.len() / outputs.max(1);
    let mut error = 0f64;
    for o in 0..outputs {
        let mut acc = 0.0;
        for k in 0..per {
            let w = weight[o * per + k] as f64;
            let dw = (wq[o * per + k] as f64 / 2f64.powi(sw) - w).abs();
            acc += w.abs() * ex + dw * rx;
        }
        acc += (bq[o] as f64 / 2f64.powi(natural) - bias[o] as f64).abs();
        error = error.max(acc);
    }
    if shift > 0 {
        error += half(scale);
    }
    Ok(Linear {
        weight: wq,
        bias: bq,
        shift,
        scale,
        error,
    })
}

/// Quantize `graph` using `calibration` samples (each of the input's length).
/// Returns the model and per-layer info (index 0 of the info is the input).
pub fn quantize(
    graph: &FloatGraph,
    calibration: &[Vec<f64>],
    cfg: &QuantConfig,
) -> Result<(QuantizedModel, Vec<LayerInfo>)> {
    cfg.validate()?;
    if calibration.is_empty() {
        return Err(ModelError::Calibration("no calibration samples".into()));
    }
    if graph.nodes.is_empty() {
        return Err(ModelError::InvalidModel("graph has no nodes".into()));
    }
    let nvals = graph.nodes.len() + 1;
    let mut maxes = vec![0f64; nvals];
    for (i, sample) in calibration.iter().enumerate() {
        let vals = graph.run_all(sample).map_err(|e| match e {
            ModelError::WrongInputShape {
                expected_shape,
                expected_len,
                got,
            } => ModelError::WrongInputShape {
                expected_shape,
                expected_len,
                got,
            },
            other => ModelError::Calibration(format!("sample {i}: {other}")),
        })?;
        for (m, v) in maxes.iter_mut().zip(&vals) {
            let a = max_abs(v.iter().copied());
            if !a.is_finite() {
                return Err(ModelError::Calibration(format!(
                    "sample {i} produces non-finite values"
                )));
            }
            *m = m.max(a);
        }
    }
    let b = cfg.bits;
    let cap = b as i32 - 2;
    let act = |m: f64| activation_scale(m, b, cfg.headroom_bits, cap);
    let mut scales = vec![act(maxes[0])];
    let mut err = vec![half(scales[0])];
    let mut infos = vec![LayerInfo {
        name: "input".into(),
        kind: "input".into(),
        source_op: "-".into(),
        shape: graph.input_shape.clone(),
        scale: scales[0],
        calibrated_max_abs: maxes[0],
        range_max_abs: range_real(b, scales[0]),
        error_bound: err[0],
        macs: 0,
    }];
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    let tb = cfg.table_bits;
    for (i, node) in graph.nodes.iter().enumerate() {
        let v = i + 1;
        let x = node.inputs[0];
        let sx = scales[x];
        let ex = err[x];
        let rx = range_real(b, sx);
        let want = act(maxes[v]);
        let name = node.name.as_str();
        let (op, s, e) = match &node.op {
            FloatOp::Dense {
                weight,
                bias,
                in_features,
                out_features,
            } => {
                let l = quantize_linear(weight, bias, *out_features, sx, ex, rx, want, cfg, name)?;
                let op = QOp::Dense {
                    in_features: *in_features,
                    out_features: *out_features,
                    weight: l.weight,
                    bias: l.bias,
                    shift: l.shift,
                };
                (op, l.scale, l.error)
            }
            FloatOp::Conv2d { weight, bias, geom } => {
                let l =
                    quantize_linear(weight, bias, geom.out_channels, sx, ex, rx, want, cfg, name)?;
                let op = QOp::Conv2d {
                    geom: *geom,
                    weight: l.weight,
                    bias: l.bias,
                    shift: l.shift,
                };
                (op, l.scale, l.error)
            }
            FloatOp::Relu => (QOp::Relu, sx, ex),
            FloatOp::Reshape => (QOp::Reshape, sx, ex),
            FloatOp::MaxPool { geom } => (QOp::MaxPool { geom: *geom }, sx, ex),
            FloatOp::AvgPool {
                geom,
                count_include_pad,
            } => (
                QOp::AvgPool {
                    geom: *geom,
                    count_include_pad: *count_include_pad,
                },
                sx,
                ex + half(sx),
            ),
            FloatOp::LeakyRelu { alpha } => {
                let a_shift = 16u32;
                let aq = q(*alpha as f64, a_shift as i32, name)?;
                let da = (aq as f64 / 2f64.powi(a_shift as i32) - *alpha as f64).abs();
                let e = (*alpha as f64).max(1.0) * ex + da * rx + half(sx);
                (
                    QOp::LeakyRelu {
                        alpha: aq,
                        alpha_shift: a_shift,
                    },
                    sx,
                    e,
                )
            }
            FloatOp::Add | FloatOp::Sub => {
                let y = node.inputs[1];
                let sy = scales[y];
                let s = want.min(sx).min(sy);
                let (sa, sb) = (shift_of(sx, s, name)?, shift_of(sy, s, name)?);
                let mut e = ex + err[y];
                if sa > 0 {
                    e += half(s);
                }
                if sb > 0 {
                    e += half(s);
                }
                let op = if matches!(node.op, FloatOp::Add) {
                    QOp::Add {
                        shift_a: sa,
                        shift_b: sb,
                    }
                } else {
                    QOp::Sub {
                        shift_a: sa,
                        shift_b: sb,
                    }
                };
                (op, s, e)
            }
            FloatOp::Mul => {
                let y = node.inputs[1];
                let sy = scales[y];
                let natural = sx + sy;
                let s = want.min(natural);
                let shift = shift_of(natural, s, name)?;
                let ry = range_real(b, sy);
                let mut e = rx * err[y] + ry * ex + ex * err[y];
                if shift > 0 {
                    e += half(s);
                }
                (QOp::Mul { shift }, s, e)
            }
            FloatOp::AddConst { constant } => {
                let s = want.min(sx);
                let shift = shift_of(sx, s, name)?;
                let cq = constant
                    .iter()
                    .map(|&c| q(c as f64, s, name))
                    .collect::<Result<Vec<_>>>()?;
                let dc = max_abs(
                    cq.iter()
                        .zip(constant)
                        .map(|(&a, &c)| a as f64 / 2f64.powi(s) - c as f64),
                );
                let mut e = ex + dc;
                if shift > 0 {
                    e += half(s);
                }
                (
                    QOp::AddConst {
                        shift,
                        constant: cq,
                    },
                    s,
                    e,
                )
            }
            FloatOp::MulConst { constant } => {
                let sc = weight_scale(max_abs(constant.iter().map(|&c| c as f64)), cfg.weight_bits);
                let natural = sx + sc;
                let s = want.min(natural);
                let shift = shift_of(natural, s, name)?;
                let cq = constant
                    .iter()
                    .map(|&c| q(c as f64, sc, name))
                    .collect::<Result<Vec<_>>>()?;
                let mut e = 0f64;
                for (&a, &c) in cq.iter().zip(constant) {
                    let dc = (a as f64 / 2f64.powi(sc) - c as f64).abs();
                    e = e.max((c as f64).abs() * ex + dc * rx);
                }
                if shift > 0 {
                    e += half(s);
                }
                (
                    QOp::MulConst {
                        constant: cq,
                        shift,
                    },
                    s,
                    e,
                )
            }
            FloatOp::NonLinear { func } => {
                let func = *func;
                let d = table_domain(func);
                let t_scale = sx.min(tb as i32 - 1 - d.log2().ceil() as i32);
                let in_shift = shift_of(sx, t_scale, name)?;
                let add_relu = func == NonLinearity::Gelu;
                let s = if add_relu { sx } else { b as i32 - 2 };
                let half_n = 1i64 << (tb - 1);
                let mut table = Vec::with_capacity(1 << tb);
                for idx in 0..(1i64 << tb) {
                    let t = (idx - half_n) as f64 / 2f64.powi(t_scale);
                    let val = if add_relu {
                        func.eval(t) - t.max(0.0)
                    } else {
                        func.eval(t)
                    };
                    table.push(q(val, s, name)?);
                }
                let lip = func.lipschitz();
                let grid = if in_shift > 0 { half(t_scale) } else { 0.0 };
                let e =
                    lip * (ex + grid) + tail(func, half_n as f64 / 2f64.powi(t_scale)) + half(s);
                (
                    QOp::Lookup {
                        func,
                        in_shift,
                        table_bits: tb,
                        table,
                        add_relu,
                    },
                    s,
                    e,
                )
            }
            FloatOp::Softmax => {
                let s = b as i32 - 2;
                let exp_scale = b as i32 - 2;
                let t_scale = sx.min(tb as i32 - 4);
                let in_shift = shift_of(sx, t_scale, name)?;
                let mut exp_table = Vec::with_capacity(1 << tb);
                for u in 0..(1i64 << tb) {
                    exp_table.push(q(
                        (-(u as f64) / 2f64.powi(t_scale)).exp(),
                        exp_scale,
                        name,
                    )?);
                }
                let n = node.shape.last().copied().unwrap_or(1) as f64;
                let grid = if in_shift > 0 { half(t_scale) } else { 0.0 };
                let tail = (-((1i64 << tb) - 1) as f64 / 2f64.powi(t_scale)).exp();
                let delta = grid + half(exp_scale) + tail;
                let e = ex / 2.0 + (n + 1.0) * delta + half(s);
                let out_shift = u32::try_from(s)
                    .map_err(|_| ModelError::InvalidSetting("softmax scale".into()))?;
                (
                    QOp::Softmax {
                        in_shift,
                        table_bits: tb,
                        exp_table,
                        out_shift,
                    },
                    s,
                    e,
                )
            }
        };
        let qnode = QNode {
            name: node.name.clone(),
            source_op: node.source_op.clone(),
            op,
            inputs: node.inputs.clone(),
            shape: node.shape.clone(),
            scale: s,
        };
        infos.push(LayerInfo {
            name: node.name.clone(),
            kind: qnode.op.kind().to_string(),
            source_op: node.source_op.clone(),
            shape: node.shape.clone(),
            scale: s,
            calibrated_max_abs: maxes[v],
            range_max_abs: range_real(b, s),
            error_bound: e,
            macs: qnode.op.macs(),
        });
        scales.push(s);
        err.push(e);
        nodes.push(qnode);
    }
    let model = QuantizedModel {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        name: graph.name.clone(),
        bits: b,
        input: InputSpec {
            shape: graph.input_shape.clone(),
            scale: scales[0],
        },
        nodes,
    };
    model.validate()?;
    debug_assert_eq!(numel(model.output_shape()), numel(graph.output_shape()));
    Ok((model, infos))
}
