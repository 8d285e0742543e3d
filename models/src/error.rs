//! The one error type of `zkgrid-models`.

use std::fmt;

/// A node the importer cannot translate, listed in [`ModelError::UnsupportedOps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedNode {
    /// ONNX node name (may be empty in the file; then the output name is used).
    pub name: String,
    /// ONNX op type, e.g. `LSTM`.
    pub op_type: String,
    /// Why it is unsupported (e.g. "op not supported", "group > 1").
    pub reason: String,
}

impl fmt::Display for UnsupportedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.op_type, self.reason)
    }
}

fn list_nodes(nodes: &[UnsupportedNode]) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Everything that can go wrong while importing, quantizing or executing a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf.
    #[error("not a valid ONNX model: {0}")]
    OnnxDecode(String),
    /// The ONNX model is structurally unusable (no graph, several inputs, missing tensors...).
    #[error("malformed ONNX model: {0}")]
    OnnxMalformed(String),
    /// One or more nodes use ops or attributes zkgrid cannot prove. Lists every such node.
    #[error("{} unsupported ONNX node(s): {}", .0.len(), list_nodes(.0))]
    UnsupportedOps(Vec<UnsupportedNode>),
    /// A tensor in the model (weights) contains NaN or infinity.
    #[error("tensor `{tensor}` contains a non-finite value ({value}) at index {index}")]
    NonFiniteWeight {
        /// Tensor name.
        tensor: String,
        /// Flat index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// Shapes that do not fit together.
    #[error("shape error at node `{node}`: {detail}")]
    Shape {
        /// Node name.
        node: String,
        /// What does not fit.
        detail: String,
    },
    /// An input (or calibration sample) has the wrong number of values.
    #[error("wrong input shape: model expects {expected_len} values (shape {expected_shape:?}), got {got}")]
    WrongInputShape {
        /// Expected shape.
        expected_shape: Vec<usize>,
        /// Expected flat length.
        expected_len: usize,
        /// Received flat length.
        got: usize,
    },
    /// An input value is NaN or infinite.
    #[error("input value at index {index} is not finite ({value})")]
    NonFiniteInput {
        /// Flat index.
        index: usize,
        /// The value.
        value: f64,
    },
    /// An input value does not fit the model's declared input range once quantized.
    #[error(
        "input value {value} at index {index} is outside the model's input range [{min}, {max}]"
    )]
    InputOutOfRange {
        /// Flat index.
        index: usize,
        /// The value.
        value: f64,
        /// Smallest representable real value.
        min: f64,
        /// Largest representable real value.
        max: f64,
    },
    /// An integer input is outside the declared bit range.
    #[error("quantized input {value} at index {index} is outside [{min}, {max}]")]
    QuantizedInputOutOfRange {
        /// Flat index.
        index: usize,
        /// The value.
        value: i64,
        /// Lower bound (inclusive).
        min: i64,
        /// Upper bound (inclusive).
        max: i64,
    },
    /// An input/calibration JSON document could not be understood.
    #[error("bad input JSON: {0}")]
    InputJson(String),
    /// Calibration data is unusable.
    #[error("calibration: {0}")]
    Calibration(String),
    /// A layer output left the declared activation range during integer execution.
    #[error("layer `{layer}` (node {node_index}) produced {value} at index {index}, outside the {bits}-bit activation range [{min}, {max}]")]
    Overflow {
        /// Layer name.
        layer: String,
        /// Index of the node in the model.
        node_index: usize,
        /// Flat index within the output tensor.
        index: usize,
        /// The offending value.
        value: i128,
        /// Activation bit width.
        bits: u32,
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
    },
    /// A quantization parameter is out of its allowed range.
    #[error("invalid quantization setting: {0}")]
    InvalidSetting(String),
    /// A serialized `QuantizedModel` is unreadable or inconsistent.
    #[error("invalid quantized model: {0}")]
    InvalidModel(String),
    /// The float reference (tract) failed.
    #[error("float reference (tract) failed: {0}")]
    FloatReference(String),
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
