//! The float graph: what ONNX import produces and quantization consumes.
//!
//! Values are numbered: value 0 is the model input, node `i` produces value `i + 1`.
//! Nodes are in topological order. Shapes include the batch dimension, fixed to 1.
//! Tensors are row-major (NCHW for images).

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// A tabulated non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonLinearity {
    /// Logistic sigmoid `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Gaussian error function.
    Erf,
    /// GELU, exact (erf) form: `x * Phi(x)`.
    Gelu,
}

impl NonLinearity {
    /// Evaluate in f64.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            NonLinearity::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            NonLinearity::Tanh => x.tanh(),
            NonLinearity::Erf => erf(x),
            NonLinearity::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
        }
    }

    /// Upper bound of `|f'(x)|` over the reals.
    pub fn lipschitz(self) -> f64 {
        match self {
            NonLinearity::Sigmoid => 0.25,
            NonLinearity::Tanh => 1.0,
            NonLinearity::Erf => 2.0 / std::f64::consts::PI.sqrt(),
            NonLinearity::Gelu => 1.13,
        }
    }
}

/// Error function, Abramowitz–Stegun 7.1.26 refined by a few Newton-free series terms:
/// we use the high-precision W. J. Cody rational approximation's simpler cousin, accurate to
/// ~1e-12, more than enough for 16-bit tables. Deterministic (pure f64 arithmetic + `exp`).
pub fn erf(x: f64) -> f64 {
    // erf(x) = 1 - erfc(x); erfc via continued-fraction-free Chebyshev fit (Numerical Recipes erfcc
    // has 1.2e-7 error); we use the series for small |x| and asymptotic-safe erfc for large |x|.
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Maclaurin series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        let mut sum = 0.0;
        let mut term = ax; // x^(2n+1)/n!
        let x2 = ax * ax;
        let mut n = 0.0f64;
        loop {
            let add = term / (2.0 * n + 1.0);
            sum += add;
            n += 1.0;
            term *= -x2 / n;
            if add.abs() < 1e-17 * sum.abs() || n > 200.0 {
                break;
            }
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        // Continued fraction for erfc (Lentz), converges fast for x >= 2.5.
        let mut f = ax;
        let mut c = ax;
        let mut d = 0.0;
        let tiny = 1e-300;
        for k in 1..300 {
            let a = k as f64 / 2.0;
            d = ax + a * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = ax + a / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        let erfc = (-ax * ax).exp() / (f * std::f64::consts::PI.sqrt());
        1.0 - erfc
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// A float operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FloatOp {
    /// `y[o] = b[o] + sum_i w[o][i] x[i]` over the flattened input.
    Dense {
        /// Row-major `[out][in]`.
        weight: Vec<f32>,
        /// `[out]`.
        bias: Vec<f32>,
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
    },
    /// 2-D convolution, NCHW, group 1, dilation 1.
    Conv2d {
        /// `[oc][ic][kh][kw]`.
        weight: Vec<f32>,
        /// `[oc]`.
        bias: Vec<f32>,
        /// Geometry.
        geom: ConvGeom,
    },
    /// `max(x, 0)`.
    Relu,
    /// `x >= 0 ? x : alpha * x`.
    LeakyRelu {
        /// Negative slope.
        alpha: f32,
    },
    /// Elementwise sum of two values of equal shape.
    Add,
    /// Elementwise difference of two values of equal shape.
    Sub,
    /// Elementwise product of two values of equal shape.
    Mul,
    /// `x + c` with `c` broadcast to the full shape.
    AddConst {
        /// One constant per element.
        constant: Vec<f32>,
    },
    /// `x * c` with `c` broadcast to the full shape.
    MulConst {
        /// One constant per element.
        constant: Vec<f32>,
    },
    /// Average pooling over windows (padding cells excluded from the count unless asked).
    AvgPool {
        /// Geometry (kernel, stride, padding; channels = in = out).
        geom: PoolGeom,
        /// ONNX `count_include_pad`.
        count_include_pad: bool,
    },
    /// Max pooling (padding cells never win).
    MaxPool {
        /// Geometry.
        geom: PoolGeom,
    },
    /// Shape change only (row-major order preserved).
    Reshape,
    /// A tabulated non-linearity, elementwise.
    NonLinear {
        /// Which function.
        func: NonLinearity,
    },
    /// Softmax over the last axis.
    Softmax,
}

/// Convolution geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvGeom {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Input height, width.
    pub in_hw: [usize; 2],
    /// Kernel height, width.
    pub kernel: [usize; 2],
    /// Stride (h, w).
    pub stride: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Output height, width.
    pub out_hw: [usize; 2],
}

impl ConvGeom {
    /// Compute output size; `None` if the kernel does not fit.
    pub fn output_hw(
        in_hw: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        pads: [usize; 4],
    ) -> Option<[usize; 2]> {
        let h = in_hw[0] + pads[0] + pads[2];
        let w = in_hw[1] + pads[1] + pads[3];
        if kernel[0] == 0 || kernel[1] == 0 || stride[0] == 0 || stride[1] == 0 {
            return None;
        }
        if h < kernel[0] || w < kernel[1] {
            return None;
        }
        Some([
            (h - kernel[0]) / stride[0] + 1,
            (w - kernel[1]) / stride[1] + 1,
        ])
    }

    /// For output position (oy, ox) and kernel offset (ky, kx): the input (y, x), or `None` in padding.
    pub fn input_pos(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        window_pos(self.stride, self.pads, self.in_hw, oy, ox, ky, kx)
    }
}

/// Pooling geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolGeom {
    /// Channels.
    pub channels: usize,
    /// Input height, width.
    pub in_hw: [usize; 2],
    /// Kernel height, width.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Output height, width.
    pub out_hw: [usize; 2],
}

impl PoolGeom {
    /// Input positions inside the window of output (oy, ox) (padding skipped), and the full
    /// window size including padding cells.
    pub fn window(&self, oy: usize, ox: usize) -> (Vec<(usize, usize)>, usize) {
        let mut v = Vec::with_capacity(self.kernel[0] * self.kernel[1]);
        for ky in 0..self.kernel[0] {
            for kx in 0..self.kernel[1] {
                if let Some(p) = window_pos(self.stride, self.pads, self.in_hw, oy, ox, ky, kx) {
                    v.push(p);
                }
            }
        }
        (v, self.kernel[0] * self.kernel[1])
    }
}

fn window_pos(
    stride: [usize; 2],
    pads: [usize; 4],
    in_hw: [usize; 2],
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
) -> Option<(usize, usize)> {
    let y = (oy * stride[0] + ky).checked_sub(pads[0])?;
    let x = (ox * stride[1] + kx).checked_sub(pads[1])?;
    if y < in_hw[0] && x < in_hw[1] {
        Some((y, x))
    } else {
        None
    }
}

/// A node of the float graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatNode {
    /// Name (from ONNX, made unique).
    pub name: String,
    /// ONNX op type(s) this node came from, for reports.
    pub source_op: String,
    /// The operation.
    pub op: FloatOp,
    /// Input value ids.
    pub inputs: Vec<usize>,
    /// Output shape.
    pub shape: Vec<usize>,
}

/// A float model: one input, one output (the last node's value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatGraph {
    /// Model name.
    pub name: String,
    /// Input shape (batch = 1).
    pub input_shape: Vec<usize>,
    /// Nodes in topological order.
    pub nodes: Vec<FloatNode>,
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl FloatGraph {
    /// Shape of value `v`.
    pub fn value_shape(&self, v: usize) -> &[usize] {
        if v == 0 {
            &self.input_shape
        } else {
            &self.nodes[v - 1].shape
        }
    }

    /// Output shape.
    pub fn output_shape(&self) -> &[usize] {
        self.nodes
            .last()
            .map(|n| n.shape.as_slice())
            .unwrap_or(&self.input_shape)
    }

    /// Run the graph in f64 and return every value (index 0 = input).
    pub fn run_all(&self, input: &[f64]) -> Result<Vec<Vec<f64>>> {
        let want = numel(&self.input_shape);
        if input.len() != want {
            return Err(ModelError::WrongInputShape {
                expected_shape: self.input_shape.clone(),
                expected_len: want,
                got: input.len(),
            });
        }
        let mut values: Vec<Vec<f64>> = Vec::with_capacity(self.nodes.len() + 1);
        values.push(input.to_vec());
        for node in &self.nodes {
            let out = eval_float(node, &values)?;
            values.push(out);
        }
        Ok(values)
    }

    /// Run the graph in f64 and return the output.
    pub fn run(&self, input: &[f64]) -> Result<Vec<f64>> {
        let mut all = self.run_all(input)?;
        all.pop()
            .ok_or_else(|| ModelError::InvalidModel("empty graph".into()))
    }
}

fn arg<'a>(node: &FloatNode, values: &'a [Vec<f64>], i: usize) -> Result<&'a [f64]> {
    node.inputs
        .get(i)
        .and_then(|&v| values.get(v))
        .map(Vec::as_slice)
        .ok_or_else(|| ModelError::Shape {
            node: node.name.clone(),
            detail: format!("missing input {i}"),
        })
}

fn eval_float(node: &FloatNode, values: &[Vec<f64>]) -> Result<Vec<f64>> {
    let x = arg(node, values, 0)?;
    let out = match &node.op {
        FloatOp::Dense {
            weight,
            bias,
            in_features,
            out_features,
        } => (0..*out_features)
            .map(|o| {
                let row = &weight[o * in_features..(o + 1) * in_features];
                bias[o] as f64 + row.iter().zip(x).map(|(w, v)| *w as f64 * v).sum::<f64>()
            })
            .collect(),
        FloatOp::Conv2d { weight, bias, geom } => {
            let g = geom;
            let [ih, iw] = g.in_hw;
            let [kh, kw] = g.kernel;
            let mut out = Vec::with_capacity(g.out_channels * g.out_hw[0] * g.out_hw[1]);
            for oc in 0..g.out_channels {
                for oy in 0..g.out_hw[0] {
                    for ox in 0..g.out_hw[1] {
                        let mut acc = bias[oc] as f64;
                        for ic in 0..g.in_channels {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    if let Some((y, xx)) = g.input_pos(oy, ox, ky, kx) {
                                        let w =
                                            weight[((oc * g.in_channels + ic) * kh + ky) * kw + kx];
                                        acc += w as f64 * x[(ic * ih + y) * iw + xx];
                                    }
                                }
                            }
                        }
                        out.push(acc);
                    }
                }
            }
            out
        }
        FloatOp::Relu => x.iter().map(|v| v.max(0.0)).collect(),
        FloatOp::LeakyRelu { alpha } => x
            .iter()
            .map(|&v| if v >= 0.0 { v } else { *alpha as f64 * v })
            .collect(),
        FloatOp::Add | FloatOp::Sub | FloatOp::Mul => {
            let b = arg(node, values, 1)?;
            x.iter()
                .zip(b)
                .map(|(a, b)| match node.op {
                    FloatOp::Add => a + b,
                    FloatOp::Sub => a - b,
                    _ => a * b,
                })
                .collect()
        }
        FloatOp::AddConst { constant } => {
            x.iter().zip(constant).map(|(a, c)| a + *c as f64).collect()
        }
        FloatOp::MulConst { constant } => {
            x.iter().zip(constant).map(|(a, c)| a * *c as f64).collect()
        }
        FloatOp::AvgPool {
            geom,
            count_include_pad,
        } => pool(geom, x, |vals, full| {
            let n = if *count_include_pad { full } else { vals.len() };
            vals.iter().sum::<f64>() / n.max(1) as f64
        }),
        FloatOp::MaxPool { geom } => pool(geom, x, |vals, _| {
            vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        }),
        FloatOp::Reshape => x.to_vec(),
        FloatOp::NonLinear { func } => x.iter().map(|&v| func.eval(v)).collect(),
        FloatOp::Softmax => {
            let last = node.shape.last().copied().unwrap_or(1).max(1);
            let mut out = Vec::with_capacity(x.len());
            for row in x.chunks(last) {
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
                let s: f64 = e.iter().sum();
                out.extend(e.iter().map(|v| v / s));
            }
            out
        }
    };
    Ok(out)
}

fn pool(geom: &PoolGeom, x: &[f64], f: impl Fn(&[f64], usize) -> f64) -> Vec<f64> {
    let [ih, iw] = geom.in_hw;
    let mut out = Vec::with_capacity(geom.channels * geom.out_hw[0] * geom.out_hw[1]);
    let mut vals = Vec::new();
    for c in 0..geom.channels {
        for oy in 0..geom.out_hw[0] {
            for ox in 0..geom.out_hw[1] {
                let (pos, full) = geom.window(oy, ox);
                vals.clear();
                vals.extend(pos.iter().map(|&(y, xx)| x[(c * ih + y) * iw + xx]));
                out.push(f(&vals, full));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_known_values() {
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.5, 0.999_593_047_982_555),
            (3.0, 0.999_977_909_503_001_4),
            (-1.0, -0.842_700_792_949_714_9),
        ];
        for (x, want) in cases {
            assert!(
                (erf(x) - want).abs() < 1e-12,
                "erf({x}) = {} want {want}",
                erf(x)
            );
        }
    }

    #[test]
    fn conv_output_size() {
        assert_eq!(
            ConvGeom::output_hw([28, 28], [5, 5], [2, 2], [0; 4]),
            Some([12, 12])
        );
        assert_eq!(ConvGeom::output_hw([4, 4], [5, 5], [1, 1], [0; 4]), None);
        assert_eq!(
            ConvGeom::output_hw([4, 4], [3, 3], [1, 1], [1; 4]),
            Some([4, 4])
        );
    }
}
