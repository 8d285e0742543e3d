//! The integer reference executor: the specification every circuit must match bit for bit.
//!
//! Accumulations are exact (`i128`); every stored value (each node's output) must lie in the
//! model's declared `bits`-bit signed range, otherwise execution fails with
//! [`ModelError::Overflow`] naming the layer — never a silent wrap.

use crate::error::{ModelError, Result};
use crate::fixed::{clamp, div_round, in_range, quantize_real, range_max, range_min, rescale};
use crate::graph::numel;
use crate::quantized::{QNode, QOp, QuantizedModel};

/// Every value of one execution: `values[0]` is the input, `values[i + 1]` node `i`'s output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// All values.
    pub values: Vec<Vec<i64>>,
}

impl Execution {
    /// The output (last value).
    pub fn output(&self) -> &[i64] {
        self.values.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Quantize a real input at the model's input scale, checking shape, finiteness and range.
pub fn quantize_input(model: &QuantizedModel, input: &[f64]) -> Result<Vec<i64>> {
    let want = numel(&model.input.shape);
    if input.len() != want {
        return Err(ModelError::WrongInputShape {
            expected_shape: model.input.shape.clone(),
            expected_len: want,
            got: input.len(),
        });
    }
    let (lo, hi) = (range_min(model.bits), range_max(model.bits));
    let scale = 2f64.powi(model.input.scale);
    input
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if !v.is_finite() {
                return Err(ModelError::NonFiniteInput { index: i, value: v });
            }
            let q = quantize_signed(v, model.input.scale);
            if q < lo as f64 || q > hi as f64 {
                return Err(ModelError::InputOutOfRange {
                    index: i,
                    value: v,
                    min: lo as f64 / scale,
                    max: hi as f64 / scale,
                });
            }
            Ok(q as i64)
        })
        .collect()
}

/// `floor(v * 2^s + 1/2)` for a possibly negative scale.
pub(crate) fn quantize_signed(v: f64, s: i32) -> f64 {
    if s >= 0 {
        quantize_real(v, s as u32)
    } else {
        (v / 2f64.powi(-s) + 0.5).floor()
    }
}

/// Real value of integer `q` at scale `s`.
pub fn dequantize(q: i64, s: i32) -> f64 {
    q as f64 / 2f64.powi(s)
}

/// Execute on an already-quantized input.
pub fn execute(model: &QuantizedModel, input: &[i64]) -> Result<Execution> {
    model.validate()?;
    let want = numel(&model.input.shape);
    if input.len() != want {
        return Err(ModelError::WrongInputShape {
            expected_shape: model.input.shape.clone(),
            expected_len: want,
            got: input.len(),
        });
    }
    let (lo, hi) = (range_min(model.bits), range_max(model.bits));
    if let Some((i, &v)) = input.iter().enumerate().find(|(_, &v)| v < lo || v > hi) {
        return Err(ModelError::QuantizedInputOutOfRange {
            index: i,
            value: v,
            min: lo,
            max: hi,
        });
    }
    let mut values: Vec<Vec<i64>> = Vec::with_capacity(model.nodes.len() + 1);
    values.push(input.to_vec());
    for (idx, node) in model.nodes.iter().enumerate() {
        let out = eval_node(node, &values)?;
        let mut stored = Vec::with_capacity(out.len());
        for (j, v) in out.into_iter().enumerate() {
            if !in_range(v, model.bits) {
                return Err(ModelError::Overflow {
                    layer: node.name.clone(),
                    node_index: idx,
                    index: j,
                    value: v,
                    bits: model.bits,
                    min: lo,
                    max: hi,
                });
            }
            stored.push(v as i64);
        }
        values.push(stored);
    }
    Ok(Execution { values })
}

/// Quantize a real input and execute; returns the execution.
pub fn run_real(model: &QuantizedModel, input: &[f64]) -> Result<Execution> {
    let q = quantize_input(model, input)?;
    execute(model, &q)
}

/// Dot product helper: `bias + sum w_i x_i` in i128.
pub fn dot(bias: i64, w: &[i64], x: &[i64]) -> i128 {
    w.iter()
        .zip(x)
        .fold(bias as i128, |acc, (&a, &b)| acc + a as i128 * b as i128)
}

/// Table index of a lookup input: `clamp(rescale(x, in_shift), -2^(tb-1), 2^(tb-1)-1) + 2^(tb-1)`.
pub fn lookup_index(x: i64, in_shift: u32, table_bits: u32) -> usize {
    let half = 1i128 << (table_bits - 1);
    let t = clamp(rescale(x as i128, in_shift), -half, half - 1);
    (t + half) as usize
}

/// Softmax table index of `d = x - max <= 0`: `min(-rescale(d, in_shift), 2^tb - 1)`.
pub fn softmax_index(d: i64, in_shift: u32, table_bits: u32) -> usize {
    let u = -rescale(d as i128, in_shift);
    u.clamp(0, (1i128 << table_bits) - 1) as usize
}

fn eval_node(node: &QNode, values: &[Vec<i64>]) -> Result<Vec<i128>> {
    let x = &values[node.inputs[0]];
    let out: Vec<i128> = match &node.op {
        QOp::Dense {
            in_features,
            out_features,
            weight,
            bias,
            shift,
        } => (0..*out_features)
            .map(|o| {
                rescale(
                    dot(bias[o], &weight[o * in_features..(o + 1) * in_features], x),
                    *shift,
                )
            })
            .collect(),
        QOp::Conv2d {
            geom: g,
            weight,
            bias,
            shift,
        } => {
            let [ih, iw] = g.in_hw;
            let [kh, kw] = g.kernel;
            let mut out = Vec::with_capacity(g.out_channels * g.out_hw[0] * g.out_hw[1]);
            for oc in 0..g.out_channels {
                for oy in 0..g.out_hw[0] {
                    for ox in 0..g.out_hw[1] {
                        let mut acc = bias[oc] as i128;
                        for ic in 0..g.in_channels {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    if let Some((y, xx)) = g.input_pos(oy, ox, ky, kx) {
                                        let w =
                                            weight[((oc * g.in_channels + ic) * kh + ky) * kw + kx];
                                        acc += w as i128 * x[(ic * ih + y) * iw + xx] as i128;
                                    }
                                }
                            }
                        }
                        out.push(rescale(acc, *shift));
                    }
                }
            }
            out
        }
        QOp::Relu => x.iter().map(|&v| (v as i128).max(0)).collect(),
        QOp::LeakyRelu { alpha, alpha_shift } => x
            .iter()
            .map(|&v| {
                if v >= 0 {
                    v as i128
                } else {
                    rescale(v as i128 * *alpha as i128, *alpha_shift)
                }
            })
            .collect(),
        QOp::Add { shift_a, shift_b } | QOp::Sub { shift_a, shift_b } => {
            let b = &values[node.inputs[1]];
            let sub = matches!(node.op, QOp::Sub { .. });
            x.iter()
                .zip(b)
                .map(|(&a, &b)| {
                    let (ra, rb) = (rescale(a as i128, *shift_a), rescale(b as i128, *shift_b));
                    if sub {
                        ra - rb
                    } else {
                        ra + rb
                    }
                })
                .collect()
        }
        QOp::Mul { shift } => {
            let b = &values[node.inputs[1]];
            x.iter()
                .zip(b)
                .map(|(&a, &b)| rescale(a as i128 * b as i128, *shift))
                .collect()
        }
        QOp::AddConst { shift, constant } => x
            .iter()
            .zip(constant)
            .map(|(&a, &c)| rescale(a as i128, *shift) + c as i128)
            .collect(),
        QOp::MulConst { constant, shift } => x
            .iter()
            .zip(constant)
            .map(|(&a, &c)| rescale(a as i128 * c as i128, *shift))
            .collect(),
        QOp::AvgPool {
            geom,
            count_include_pad,
        } => {
            let [ih, iw] = geom.in_hw;
            let mut out = Vec::with_capacity(numel(&node.shape));
            for c in 0..geom.channels {
                for oy in 0..geom.out_hw[0] {
                    for ox in 0..geom.out_hw[1] {
                        let (pos, full) = geom.window(oy, ox);
                        let sum: i128 = pos
                            .iter()
                            .map(|&(y, xx)| x[(c * ih + y) * iw + xx] as i128)
                            .sum();
                        let n = if *count_include_pad { full } else { pos.len() };
                        let y = div_round(sum, n as i128).ok_or_else(|| {
                            ModelError::InvalidModel(format!("{}: empty pooling window", node.name))
                        })?;
                        out.push(y);
                    }
                }
            }
            out
        }
        QOp::MaxPool { geom } => {
            let [ih, iw] = geom.in_hw;
            let mut out = Vec::with_capacity(numel(&node.shape));
            for c in 0..geom.channels {
                for oy in 0..geom.out_hw[0] {
                    for ox in 0..geom.out_hw[1] {
                        let (pos, _) = geom.window(oy, ox);
                        let m = pos
                            .iter()
                            .map(|&(y, xx)| x[(c * ih + y) * iw + xx] as i128)
                            .max()
                            .ok_or_else(|| {
                                ModelError::InvalidModel(format!(
                                    "{}: empty pooling window",
                                    node.name
                                ))
                            })?;
                        out.push(m);
                    }
                }
            }
            out
        }
        QOp::Reshape => x.iter().map(|&v| v as i128).collect(),
        QOp::Lookup {
            in_shift,
            table_bits,
            table,
            add_relu,
            ..
        } => x
            .iter()
            .map(|&v| {
                let t = table[lookup_index(v, *in_shift, *table_bits)] as i128;
                if *add_relu {
                    t + (v as i128).max(0)
                } else {
                    t
                }
            })
            .collect(),
        QOp::Softmax {
            in_shift,
            table_bits,
            exp_table,
            out_shift,
        } => {
            let last = node.shape.last().copied().unwrap_or(1).max(1);
            let mut out = Vec::with_capacity(x.len());
            for row in x.chunks(last) {
                let m = row.iter().copied().max().unwrap_or(0);
                let e: Vec<i128> = row
                    .iter()
                    .map(|&v| exp_table[softmax_index(v - m, *in_shift, *table_bits)] as i128)
                    .collect();
                let s: i128 = e.iter().sum();
                for &ei in &e {
                    let y = div_round(ei << out_shift, s).ok_or_else(|| {
                        ModelError::InvalidModel(format!("{}: zero softmax sum", node.name))
                    })?;
                    out.push(y);
                }
            }
            out
        }
    };
    Ok(out)
}

/// Index of the maximum (ties: the smallest index). `None` for an empty slice.
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for (i, &x) in v.iter().enumerate() {
        match best {
            Some((_, b)) if x.partial_cmp(&b) != Some(std::cmp::Ordering::Greater) => {}
            _ => best = Some((i, x)),
        }
    }
    best.map(|(i, _)| i)
}
