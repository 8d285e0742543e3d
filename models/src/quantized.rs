//! The `QuantizedModel` format: versioned, canonical bytes, stable hash.
//!
//! Everything in a [`QuantizedModel`] is an integer or a string, so its canonical JSON encoding
//! (serde_json, struct field order, no whitespace) is identical on every platform, and
//! [`QuantizedModel::hash`] (SHA-256 over a domain tag and those bytes) is a stable identity.
//! Value numbering: value 0 is the input; node `i` produces value `i + 1`; the output is the
//! last node's value.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ModelError, Result};
use crate::graph::{numel, ConvGeom, NonLinearity, PoolGeom};

/// Name tag stored in every serialized model.
pub const FORMAT_NAME: &str = "zkgrid-quantized-model";
/// Current format version.
pub const FORMAT_VERSION: u32 = 1;

/// A quantized integer operation. Semantics are given by [`crate::execute()`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum QOp {
    /// `y[o] = rescale(bias[o] + sum_i weight[o][i] * x[i], shift)`.
    Dense {
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// Row-major `[out][in]` at the weight scale.
        weight: Vec<i64>,
        /// `[out]` at scale `input scale + weight scale`.
        bias: Vec<i64>,
        /// Right shift (round half up) from the accumulator scale to the output scale.
        shift: u32,
    },
    /// Convolution, same accumulate-then-rescale as [`QOp::Dense`] over each window.
    Conv2d {
        /// Geometry.
        geom: ConvGeom,
        /// `[oc][ic][kh][kw]`.
        weight: Vec<i64>,
        /// `[oc]` at the accumulator scale.
        bias: Vec<i64>,
        /// Right shift to the output scale.
        shift: u32,
    },
    /// `max(x, 0)`.
    Relu,
    /// `x >= 0 ? x : rescale(x * alpha, alpha_shift)`.
    LeakyRelu {
        /// Slope at scale `alpha_shift`.
        alpha: i64,
        /// Scale of `alpha`.
        alpha_shift: u32,
    },
    /// `rescale(a, shift_a) + rescale(b, shift_b)`.
    Add {
        /// Shift of the first operand.
        shift_a: u32,
        /// Shift of the second operand.
        shift_b: u32,
    },
    /// `rescale(a, shift_a) - rescale(b, shift_b)`.
    Sub {
        /// Shift of the first operand.
        shift_a: u32,
        /// Shift of the second operand.
        shift_b: u32,
    },
    /// `rescale(a * b, shift)`.
    Mul {
        /// Shift applied to the product.
        shift: u32,
    },
    /// `rescale(x, shift) + constant[i]`.
    AddConst {
        /// Shift applied to `x` first.
        shift: u32,
        /// One constant per element, at the output scale.
        constant: Vec<i64>,
    },
    /// `rescale(x * constant[i], shift)`.
    MulConst {
        /// One constant per element.
        constant: Vec<i64>,
        /// Shift applied to the product.
        shift: u32,
    },
    /// `div_round(sum of window, n)` with `n` = valid cells (or the full window if
    /// `count_include_pad`).
    AvgPool {
        /// Geometry.
        geom: PoolGeom,
        /// Count padding cells in the divisor.
        count_include_pad: bool,
    },
    /// Maximum over each window's valid cells.
    MaxPool {
        /// Geometry.
        geom: PoolGeom,
    },
    /// Shape change only.
    Reshape,
    /// Table lookup: `t = clamp(rescale(x, in_shift), -2^(tb-1), 2^(tb-1)-1)`,
    /// `y = table[t + 2^(tb-1)] + (add_relu ? max(x, 0) : 0)`.
    Lookup {
        /// Which function was tabulated (informational; the table is normative).
        func: NonLinearity,
        /// Shift from the input scale to the table's input scale.
        in_shift: u32,
        /// Table index bits `tb`; the table has `2^tb` entries.
        table_bits: u32,
        /// The table.
        table: Vec<i64>,
        /// Add `max(x, 0)` (GELU is tabulated as `gelu(x) - relu(x)`, which saturates).
        add_relu: bool,
    },
    /// Softmax over the last axis: per row `m = max(x)`,
    /// `u_i = min(-rescale(x_i - m, in_shift), 2^tb - 1)`, `e_i = exp_table[u_i]`, `S = sum e`,
    /// `y_i = div_round(e_i * 2^out_shift, S)`.
    Softmax {
        /// Shift from the input scale to the table's input scale.
        in_shift: u32,
        /// Table index bits.
        table_bits: u32,
        /// `exp_table[u] = round(exp(-u / 2^table_scale) * 2^exp_scale)`.
        exp_table: Vec<i64>,
        /// Multiplier exponent: the output scale.
        out_shift: u32,
    },
}

impl QOp {
    /// Short kind name for tables.
    pub fn kind(&self) -> &'static str {
        match self {
            QOp::Dense { .. } => "dense",
            QOp::Conv2d { .. } => "conv2d",
            QOp::Relu => "relu",
            QOp::LeakyRelu { .. } => "leaky_relu",
            QOp::Add { .. } => "add",
            QOp::Sub { .. } => "sub",
            QOp::Mul { .. } => "mul",
            QOp::AddConst { .. } => "add_const",
            QOp::MulConst { .. } => "mul_const",
            QOp::AvgPool { .. } => "avg_pool",
            QOp::MaxPool { .. } => "max_pool",
            QOp::Reshape => "reshape",
            QOp::Lookup { func, .. } => match func {
                NonLinearity::Sigmoid => "sigmoid",
                NonLinearity::Tanh => "tanh",
                NonLinearity::Erf => "erf",
                NonLinearity::Gelu => "gelu",
            },
            QOp::Softmax { .. } => "softmax",
        }
    }

    /// Multiply-accumulate count (for reports and layout planning).
    pub fn macs(&self) -> usize {
        match self {
            QOp::Dense {
                in_features,
                out_features,
                ..
            } => in_features * out_features,
            QOp::Conv2d { geom, .. } => {
                geom.out_channels
                    * geom.out_hw[0]
                    * geom.out_hw[1]
                    * geom.in_channels
                    * geom.kernel[0]
                    * geom.kernel[1]
            }
            _ => 0,
        }
    }

    fn arity(&self) -> usize {
        match self {
            QOp::Add { .. } | QOp::Sub { .. } | QOp::Mul { .. } => 2,
            _ => 1,
        }
    }
}

/// A node of the quantized model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QNode {
    /// Layer name (unique).
    pub name: String,
    /// ONNX op(s) it came from.
    pub source_op: String,
    /// The operation.
    pub op: QOp,
    /// Input value ids (each `<` this node's own value id).
    pub inputs: Vec<usize>,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Output scale `s`: real value = `q / 2^s`.
    pub scale: i32,
}

/// The model input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Shape (batch 1).
    pub shape: Vec<usize>,
    /// Scale.
    pub scale: i32,
}

/// A quantized model: the exact integer program that circuits prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizedModel {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// Model name.
    pub name: String,
    /// Activation bit width `b`: every stored value is in `[-2^(b-1), 2^(b-1))`.
    pub bits: u32,
    /// The input.
    pub input: InputSpec,
    /// Nodes in topological order.
    pub nodes: Vec<QNode>,
}

impl QuantizedModel {
    /// Canonical bytes: compact JSON in struct field order (contains no floats).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| ModelError::InvalidModel(e.to_string()))
    }

    /// Parse canonical (or pretty) JSON and validate.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self> {
        let m: QuantizedModel =
            serde_json::from_slice(bytes).map_err(|e| ModelError::InvalidModel(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Stable model hash: hex SHA-256 of `"zkgrid-model-v1\0" || canonical_bytes`.
    pub fn hash(&self) -> Result<String> {
        let mut h = Sha256::new();
        h.update(b"zkgrid-model-v1\0");
        h.update(self.canonical_bytes()?);
        Ok(hex::encode(h.finalize()))
    }

    /// Shape of value `v`.
    pub fn value_shape(&self, v: usize) -> Option<&[usize]> {
        if v == 0 {
            Some(&self.input.shape)
        } else {
            self.nodes.get(v - 1).map(|n| n.shape.as_slice())
        }
    }

    /// Scale of value `v`.
    pub fn value_scale(&self, v: usize) -> Option<i32> {
        if v == 0 {
            Some(self.input.scale)
        } else {
            self.nodes.get(v - 1).map(|n| n.scale)
        }
    }

    /// Output shape.
    pub fn output_shape(&self) -> &[usize] {
        self.nodes
            .last()
            .map(|n| n.shape.as_slice())
            .unwrap_or(&self.input.shape)
    }

    /// Output scale.
    pub fn output_scale(&self) -> i32 {
        self.nodes
            .last()
            .map(|n| n.scale)
            .unwrap_or(self.input.scale)
    }

    /// Total multiply-accumulates.
    pub fn macs(&self) -> usize {
        self.nodes.iter().map(|n| n.op.macs()).sum()
    }

    /// Check structural consistency (shapes, sizes, references) so that executing never panics.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::InvalidModel(m));
        if self.format != FORMAT_NAME {
            return bad(format!(
                "format is `{}`, expected `{FORMAT_NAME}`",
                self.format
            ));
        }
        if self.version != FORMAT_VERSION {
            return bad(format!(
                "format version {} is not supported (expected {FORMAT_VERSION})",
                self.version
            ));
        }
        if !(4..=32).contains(&self.bits) {
            return bad(format!("activation bits {} not in 4..=32", self.bits));
        }
        if self.nodes.is_empty() {
            return bad("model has no nodes".into());
        }
        if numel(&self.input.shape) == 0 || self.input.shape.len() > 8 {
            return bad(format!("input shape {:?}", self.input.shape));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let me = i + 1;
            let ctx = |m: String| ModelError::InvalidModel(format!("node {i} `{}`: {m}", n.name));
            if n.inputs.len() != n.op.arity() || n.inputs.iter().any(|&v| v >= me) {
                return Err(ctx(format!("inputs {:?} invalid", n.inputs)));
            }
            if n.scale.abs() > 64 {
                return Err(ctx(format!("scale {} out of range", n.scale)));
            }
            let in_shape = self.value_shape(n.inputs[0]).unwrap_or(&[]).to_vec();
            let in_len = numel(&in_shape);
            let out_len = numel(&n.shape);
            let shift_ok = |s: u32| s <= 62;
            let ok = match &n.op {
                QOp::Dense {
                    in_features,
                    out_features,
                    weight,
                    bias,
                    shift,
                } => {
                    *in_features == in_len
                        && *out_features == out_len
                        && weight.len() == in_features * out_features
                        && bias.len() == *out_features
                        && shift_ok(*shift)
                }
                QOp::Conv2d {
                    geom,
                    weight,
                    bias,
                    shift,
                } => {
                    let g = geom;
                    ConvGeom::output_hw(g.in_hw, g.kernel, g.stride, g.pads) == Some(g.out_hw)
                        && in_len == g.in_channels * g.in_hw[0] * g.in_hw[1]
                        && out_len == g.out_channels * g.out_hw[0] * g.out_hw[1]
                        && weight.len()
                            == g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1]
                        && bias.len() == g.out_channels
                        && shift_ok(*shift)
                }
                QOp::Relu | QOp::Reshape => in_len == out_len,
                QOp::LeakyRelu { alpha, alpha_shift } => {
                    in_len == out_len && *alpha >= 0 && shift_ok(*alpha_shift) && *alpha < (1 << 32)
                }
                QOp::Add { shift_a, shift_b } | QOp::Sub { shift_a, shift_b } => {
                    let b_len = numel(self.value_shape(n.inputs[1]).unwrap_or(&[]));
                    in_len == out_len
                        && b_len == out_len
                        && shift_ok(*shift_a)
                        && shift_ok(*shift_b)
                }
                QOp::Mul { shift } => {
                    let b_len = numel(self.value_shape(n.inputs[1]).unwrap_or(&[]));
                    in_len == out_len && b_len == out_len && shift_ok(*shift)
                }
                QOp::AddConst { shift, constant } => {
                    in_len == out_len && constant.len() == out_len && shift_ok(*shift)
                }
                QOp::MulConst { constant, shift } => {
                    in_len == out_len && constant.len() == out_len && shift_ok(*shift)
                }
                QOp::AvgPool { geom, .. } | QOp::MaxPool { geom } => {
                    ConvGeom::output_hw(geom.in_hw, geom.kernel, geom.stride, geom.pads)
                        == Some(geom.out_hw)
                        && in_len == geom.channels * geom.in_hw[0] * geom.in_hw[1]
                        && out_len == geom.channels * geom.out_hw[0] * geom.out_hw[1]
                        && (0..geom.out_hw[0]).all(|oy| {
                            (0..geom.out_hw[1]).all(|ox| !geom.window(oy, ox).0.is_empty())
                        })
                }
                QOp::Lookup {
                    in_shift,
                    table_bits,
                    table,
                    ..
                } => {
                    in_len == out_len
                        && (1..=20).contains(table_bits)
                        && table.len() == 1usize << table_bits
                        && shift_ok(*in_shift)
                }
                QOp::Softmax {
                    in_shift,
                    table_bits,
                    exp_table,
                    out_shift,
                } => {
                    in_len == out_len
                        && (1..=20).contains(table_bits)
                        && exp_table.len() == 1usize << table_bits
                        && exp_table.first().copied().unwrap_or(0) > 0
                        && exp_table.iter().all(|e| (0..(1 << 32)).contains(e))
                        && shift_ok(*in_shift)
                        && *out_shift <= 32
                        && n.shape.last().copied().unwrap_or(0) > 0
                }
            };
            if !ok {
                return Err(ctx(format!(
                    "{} parameters do not match shapes (in {in_shape:?}, out {:?})",
                    n.op.kind(),
                    n.shape
                )));
            }
        }
        Ok(())
    }
}
