//! ONNX import: protobuf (parsed by tract-onnx's prost types) → [`FloatGraph`].
//!
//! Supported: Gemm, MatMul (+Add bias), Conv (2-D, group 1, dilation 1), Relu, LeakyRelu, Add, Sub,
//! Mul, Div (by a constant), AveragePool, GlobalAveragePool, MaxPool, Flatten, Reshape, Squeeze,
//! Unsqueeze, Transpose (layout no-ops only), BatchNormalization (folded into the preceding
//! Conv/Gemm when it is the only consumer, else a per-channel affine), Sigmoid, Tanh, Erf, Gelu,
//! Softmax (last axis), Identity, Dropout; Constant / Shape / Gather / Concat / Cast on constants
//! are folded. A dynamic batch dimension is fixed to 1. Every unsupported node is reported at once.

use std::collections::HashMap;

use tract_onnx::pb;
use tract_onnx::prelude::Framework;

use crate::error::{ModelError, Result, UnsupportedNode};
use crate::graph::{numel, ConvGeom, FloatGraph, FloatNode, FloatOp, NonLinearity, PoolGeom};

/// Largest ONNX file accepted (bytes).
pub const MAX_ONNX_BYTES: usize = 256 * 1024 * 1024;

/// Decode ONNX bytes into the raw protobuf.
pub fn decode(bytes: &[u8]) -> Result<pb::ModelProto> {
    if bytes.is_empty() {
        return Err(ModelError::OnnxDecode("file is empty".into()));
    }
    if bytes.len() > MAX_ONNX_BYTES {
        return Err(ModelError::OnnxDecode(format!(
            "file is {} bytes, larger than the {} byte limit",
            bytes.len(),
            MAX_ONNX_BYTES
        )));
    }
    let mut r = bytes;
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut r)
        .map_err(|e| ModelError::OnnxDecode(format!("{e:#}")))?;
    if proto.graph.is_none() {
        return Err(ModelError::OnnxMalformed(
            "the model contains no graph".into(),
        ));
    }
    Ok(proto)
}

/// Import ONNX bytes into a float graph. `name` labels the model in reports.
pub fn import_onnx(bytes: &[u8], name: &str) -> Result<FloatGraph> {
    let proto = decode(bytes)?;
    import_proto(&proto, name)
}

/// A value during import.
#[derive(Clone, Debug)]
enum Val {
    /// A runtime tensor: value id in the graph being built.
    Dyn(usize),
    /// A constant tensor (f64 so that int64 shape tensors survive; shape).
    Const(Const),
    /// Produced by an unsupported node.
    Poisoned,
}

#[derive(Clone, Debug)]
struct Const {
    shape: Vec<usize>,
    data: Vec<f64>,
    is_int: bool,
}

struct Builder {
    graph: FloatGraph,
    vals: HashMap<String, Val>,
    unsupported: Vec<UnsupportedNode>,
    uses: HashMap<String, usize>,
    names: HashMap<String, usize>,
}

/// Import an already-decoded protobuf.
pub fn import_proto(proto: &pb::ModelProto, name: &str) -> Result<FloatGraph> {
    let g = proto
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::OnnxMalformed("the model contains no graph".into()))?;
    let mut b = Builder {
        graph: FloatGraph {
            name: name.to_string(),
            input_shape: vec![],
            nodes: vec![],
        },
        vals: HashMap::new(),
        unsupported: vec![],
        uses: HashMap::new(),
        names: HashMap::new(),
    };
    for t in &g.initializer {
        let c = tensor_to_const(t)?;
        b.vals.insert(t.name.clone(), Val::Const(c));
    }
    let runtime_inputs: Vec<&pb::ValueInfoProto> = g
        .input
        .iter()
        .filter(|i| !b.vals.contains_key(&i.name))
        .collect();
    if runtime_inputs.len() != 1 {
        return Err(ModelError::OnnxMalformed(format!(
            "zkgrid proves models with exactly one runtime input; this one has {} ({})",
            runtime_inputs.len(),
            runtime_inputs
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let input = runtime_inputs[0];
    b.graph.input_shape = input_shape(input)?;
    b.vals.insert(input.name.clone(), Val::Dyn(0));
    if g.output.len() != 1 {
        return Err(ModelError::OnnxMalformed(format!(
            "zkgrid proves models with exactly one output; this one has {}",
            g.output.len()
        )));
    }
    for n in &g.node {
        for i in &n.input {
            *b.uses.entry(i.clone()).or_default() += 1;
        }
    }
    for n in &g.node {
        if let Err(reason) = b.node(n) {
            match reason {
                NodeFail::Unsupported(reason) => {
                    b.unsupported.push(UnsupportedNode {
                        name: node_name(n),
                        op_type: n.op_type.clone(),
                        reason,
                    });
                    for o in &n.output {
                        b.vals.insert(o.clone(), Val::Poisoned);
                    }
                }
                NodeFail::Poisoned => {
                    for o in &n.output {
                        b.vals.insert(o.clone(), Val::Poisoned);
                    }
                }
                NodeFail::Fatal(e) => return Err(e),
            }
        }
    }
    if !b.unsupported.is_empty() {
        return Err(ModelError::UnsupportedOps(b.unsupported));
    }
    let out_name = &g.output[0].name;
    let out = match b.vals.get(out_name) {
        Some(Val::Dyn(v)) => *v,
        Some(Val::Const(_)) => {
            return Err(ModelError::OnnxMalformed(format!(
                "output `{out_name}` does not depend on the input"
            )))
        }
        _ => {
            return Err(ModelError::OnnxMalformed(format!(
                "output `{out_name}` is not produced by any node"
            )))
        }
    };
    if out == 0 {
        return Err(ModelError::OnnxMalformed(
            "the model output is its input".into(),
        ));
    }
    let graph = prune(b.graph, out);
    for node in &graph.nodes {
        check_finite(node)?;
    }
    Ok(graph)
}

fn node_name(n: &pb::NodeProto) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else if let Some(o) = n.output.first() {
        o.clone()
    } else {
        format!("<unnamed {}>", n.op_type)
    }
}

enum NodeFail {
    Unsupported(String),
    Poisoned,
    Fatal(ModelError),
}

impl From<ModelError> for NodeFail {
    fn from(e: ModelError) -> Self {
        NodeFail::Fatal(e)
    }
}

type NodeResult<T> = std::result::Result<T, NodeFail>;

fn unsupported<T>(msg: impl Into<String>) -> NodeResult<T> {
    Err(NodeFail::Unsupported(msg.into()))
}

fn input_shape(vi: &pb::ValueInfoProto) -> Result<Vec<usize>> {
    use pb::tensor_shape_proto::dimension::Value as D;
    use pb::type_proto::Value as T;
    let t = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(T::TensorType(t)) => t,
        None => {
            return Err(ModelError::OnnxMalformed(format!(
                "input `{}` has no tensor type",
                vi.name
            )))
        }
    };
    if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(ModelError::OnnxMalformed(format!(
            "input `{}` has element type {}, zkgrid expects float32",
            vi.name, t.elem_type
        )));
    }
    let shape = t
        .shape
        .as_ref()
        .ok_or_else(|| ModelError::OnnxMalformed(format!("input `{}` has no shape", vi.name)))?;
    let mut dims = Vec::with_capacity(shape.dim.len());
    for (i, d) in shape.dim.iter().enumerate() {
        match &d.value {
            Some(D::DimValue(v)) if *v > 0 => dims.push(*v as usize),
            Some(D::DimValue(v)) if *v <= 0 && i == 0 => dims.push(1),
            Some(D::DimParam(_)) | None if i == 0 => dims.push(1), // dynamic batch → 1
            other => {
                return Err(ModelError::OnnxMalformed(format!(
                    "input `{}` dimension {i} is not fixed ({other:?}); only the batch dimension may be dynamic",
                    vi.name
                )))
            }
        }
    }
    if dims.is_empty() || numel(&dims) == 0 {
        return Err(ModelError::OnnxMalformed(format!(
            "input `{}` has an empty shape",
            vi.name
        )));
    }
    Ok(dims)
}

fn tensor_to_const(t: &pb::TensorProto) -> Result<Const> {
    use pb::tensor_proto::DataType as DT;
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                ModelError::OnnxMalformed(format!("tensor `{}` has negative dimension {d}", t.name))
            })
        })
        .collect::<Result<_>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            ModelError::OnnxMalformed(format!("tensor `{}` has an absurd shape {shape:?}", t.name))
        })?;
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return Err(ModelError::OnnxMalformed(format!(
            "tensor `{}` uses external data; save the model with weights embedded",
            t.name
        )));
    }
    let raw = &t.raw_data;
    let (data, is_int): (Vec<f64>, bool) = match t.data_type {
        x if x == DT::Float as i32 => {
            if !raw.is_empty() {
                (
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                        .collect(),
                    false,
                )
            } else {
                (t.float_data.iter().map(|&v| v as f64).collect(), false)
            }
        }
        x if x == DT::Double as i32 => {
            if !raw.is_empty() {
                (
                    raw.chunks_exact(8)
                        .map(|c| {
                            f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect(),
                    false,
                )
            } else {
                (t.double_data.clone(), false)
            }
        }
        x if x == DT::Int64 as i32 => {
            if !raw.is_empty() {
                (
                    raw.chunks_exact(8)
                        .map(|c| {
                            i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                                as f64
                        })
                        .collect(),
                    true,
                )
            } else {
                (t.int64_data.iter().map(|&v| v as f64).collect(), true)
            }
        }
        x if x == DT::Int32 as i32 => {
            if !raw.is_empty() {
                (
                    raw.chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                        .collect(),
                    true,
                )
            } else {
                (t.int32_data.iter().map(|&v| v as f64).collect(), true)
            }
        }
        other => {
            return Err(ModelError::OnnxMalformed(format!(
                "tensor `{}` has unsupported element type {other}",
                t.name
            )))
        }
    };
    if data.len() != n {
        return Err(ModelError::OnnxMalformed(format!(
            "tensor `{}` declares shape {shape:?} ({n} values) but holds {}",
            t.name,
            data.len()
        )));
    }
    Ok(Const {
        shape,
        data,
        is_int,
    })
}

fn check_finite(node: &FloatNode) -> Result<()> {
    let check = |name: &str, v: &[f32]| -> Result<()> {
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(ModelError::NonFiniteWeight {
                tensor: name.to_string(),
                index: i,
                value: *x,
            });
        }
        Ok(())
    };
    match &node.op {
        FloatOp::Dense { weight, bias, .. } | FloatOp::Conv2d { weight, bias, .. } => {
            check(&format!("{}.weight", node.name), weight)?;
            check(&format!("{}.bias", node.name), bias)
        }
        FloatOp::AddConst { constant } | FloatOp::MulConst { constant } => {
            check(&format!("{}.constant", node.name), constant)
        }
        FloatOp::LeakyRelu { alpha } => check(&format!("{}.alpha", node.name), &[*alpha]),
        _ => Ok(()),
    }
}

/// Keep only nodes the output depends on, renumbering values.
fn prune(g: FloatGraph, out: usize) -> FloatGraph {
    let mut live = vec![false; g.nodes.len() + 1];
    live[out] = true;
    for v in (1..=g.nodes.len()).rev() {
        if live[v] {
            for &i in &g.nodes[v - 1].inputs {
                live[i] = true;
            }
        }
    }
    let mut remap = vec![usize::MAX; g.nodes.len() + 1];
    remap[0] = 0;
    let mut nodes = Vec::new();
    for (i, mut n) in g.nodes.into_iter().enumerate() {
        if live[i + 1] && i < out {
            n.inputs = n.inputs.iter().map(|&v| remap[v]).collect();
            nodes.push(n);
            remap[i + 1] = nodes.len();
        }
    }
    FloatGraph {
        name: g.name,
        input_shape: g.input_shape,
        nodes,
    }
}

fn attr<'a>(n: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}
fn attr_i(n: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map(|a| a.i).unwrap_or(default)
}
fn attr_f(n: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map(|a| a.f).unwrap_or(default)
}
fn attr_ints(n: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}
fn attr_s(n: &pb::NodeProto, name: &str) -> Option<String> {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

fn to_usizes(v: &[i64], what: &str) -> NodeResult<Vec<usize>> {
    v.iter()
        .map(|&x| {
            usize::try_from(x).map_err(|_| NodeFail::Unsupported(format!("negative {what} {x}")))
        })
        .collect()
}

impl Builder {
    fn get(&self, name: &str) -> NodeResult<Val> {
        match self.vals.get(name) {
            Some(Val::Poisoned) => Err(NodeFail::Poisoned),
            Some(v) => Ok(v.clone()),
            None => Err(NodeFail::Fatal(ModelError::OnnxMalformed(format!(
                "value `{name}` is used before it is defined (graph not topologically sorted?)"
            )))),
        }
    }

    fn input(&self, n: &pb::NodeProto, i: usize) -> NodeResult<Val> {
        match n.input.get(i) {
            Some(s) if !s.is_empty() => self.get(s),
            _ => Err(NodeFail::Fatal(ModelError::OnnxMalformed(format!(
                "node `{}` ({}) is missing input {i}",
                node_name(n),
                n.op_type
            )))),
        }
    }

    fn opt_input(&self, n: &pb::NodeProto, i: usize) -> NodeResult<Option<Val>> {
        match n.input.get(i) {
            Some(s) if !s.is_empty() => self.get(s).map(Some),
            _ => Ok(None),
        }
    }

    fn dyn_input(&self, n: &pb::NodeProto, i: usize) -> NodeResult<usize> {
        match self.input(n, i)? {
            Val::Dyn(v) => Ok(v),
            _ => unsupported(format!("input {i} must depend on the model input")),
        }
    }

    fn const_input(&self, n: &pb::NodeProto, i: usize) -> NodeResult<Const> {
        match self.input(n, i)? {
            Val::Const(c) => Ok(c),
            _ => unsupported(format!("input {i} must be a constant (initializer)")),
        }
    }

    fn shape(&self, v: usize) -> Vec<usize> {
        self.graph.value_shape(v).to_vec()
    }

    fn unique_name(&mut self, base: &str) -> String {
        let c = self.names.entry(base.to_string()).or_default();
        *c += 1;
        if *c == 1 {
            base.to_string()
        } else {
            format!("{base}#{c}")
        }
    }

    fn push(
        &mut self,
        n: &pb::NodeProto,
        op: FloatOp,
        inputs: Vec<usize>,
        shape: Vec<usize>,
    ) -> usize {
        let name = self.unique_name(&node_name(n));
        self.graph.nodes.push(FloatNode {
            name,
            source_op: n.op_type.clone(),
            op,
            inputs,
            shape,
        });
        self.graph.nodes.len()
    }

    fn set_out(&mut self, n: &pb::NodeProto, v: Val) {
        if let Some(o) = n.output.first() {
            self.vals.insert(o.clone(), v);
        }
    }

    /// The node producing value `v`, if it is only used once (so it may be fused).
    fn fusable(&self, v: usize, onnx_name: &str) -> bool {
        v > 0 && v == self.graph.nodes.len() && self.uses.get(onnx_name).copied() == Some(1)
    }

    fn node(&mut self, n: &pb::NodeProto) -> NodeResult<()> {
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return unsupported(format!("custom domain `{}`", n.domain));
        }
        match n.op_type.as_str() {
            "Identity" | "Dropout" => {
                let v = self.input(n, 0)?;
                self.set_out(n, v);
            }
            "Constant" => {
                let a = attr(n, "value").and_then(|a| a.t.as_ref());
                let c = match a {
                    Some(t) => tensor_to_const(t)?,
                    None => {
                        if let Some(a) = attr(n, "value_float") {
                            Const {
                                shape: vec![],
                                data: vec![a.f as f64],
                                is_int: false,
                            }
                        } else if let Some(a) = attr(n, "value_floats") {
                            Const {
                                shape: vec![a.floats.len()],
                                data: a.floats.iter().map(|&v| v as f64).collect(),
                                is_int: false,
                            }
                        } else if let Some(a) = attr(n, "value_int") {
                            Const {
                                shape: vec![],
                                data: vec![a.i as f64],
                                is_int: true,
                            }
                        } else if let Some(a) = attr(n, "value_ints") {
                            Const {
                                shape: vec![a.ints.len()],
                                data: a.ints.iter().map(|&v| v as f64).collect(),
                                is_int: true,
                            }
                        } else {
                            return unsupported("Constant without a tensor/float/int value");
                        }
                    }
                };
                self.set_out(n, Val::Const(c));
            }
            "Gemm" => self.gemm(n)?,
            "MatMul" => self.matmul(n)?,
            "Conv" => self.conv(n)?,
            "BatchNormalization" => self.batchnorm(n)?,
            "Relu" => self.unary(n, FloatOp::Relu)?,
            "LeakyRelu" => {
                let alpha = attr_f(n, "alpha", 0.01);
                if alpha < 0.0 {
                    return unsupported(format!("LeakyRelu with negative alpha {alpha}"));
                }
                self.unary(n, FloatOp::LeakyRelu { alpha })?
            }
            "Sigmoid" => self.unary(
                n,
                FloatOp::NonLinear {
                    func: NonLinearity::Sigmoid,
                },
            )?,
            "Tanh" => self.unary(
                n,
                FloatOp::NonLinear {
                    func: NonLinearity::Tanh,
                },
            )?,
            "Erf" => self.unary(
                n,
                FloatOp::NonLinear {
                    func: NonLinearity::Erf,
                },
            )?,
            "Gelu" => {
                let approx = attr_s(n, "approximate").unwrap_or_else(|| "none".into());
                if approx != "none" {
                    return unsupported(format!(
                        "Gelu approximate=`{approx}` (only the exact erf form is supported)"
                    ));
                }
                self.unary(
                    n,
                    FloatOp::NonLinear {
                        func: NonLinearity::Gelu,
                    },
                )?
            }
            "Softmax" => {
                let x = self.dyn_input(n, 0)?;
                let shape = self.shape(x);
                let axis = attr_i(n, "axis", -1);
                let rank = shape.len() as i64;
                let ax = if axis < 0 { axis + rank } else { axis };
                let trailing_ones = shape[(ax.max(0) as usize + 1).min(shape.len())..]
                    .iter()
                    .all(|&d| d == 1);
                if ax < 0 || ax >= rank || !trailing_ones {
                    return unsupported(format!("Softmax over axis {axis} of shape {shape:?}; only the last axis is supported"));
                }
                let v = self.push(n, FloatOp::Softmax, vec![x], shape);
                self.set_out(n, Val::Dyn(v));
            }
            "Add" | "Sub" | "Mul" | "Div" => self.binary(n)?,
            "AveragePool" | "MaxPool" | "GlobalAveragePool" | "GlobalMaxPool" => self.pool(n)?,
            "Flatten" => {
                let x = self.input(n, 0)?;
                let shape = val_shape(&x, self);
                let axis = attr_i(n, "axis", 1);
                let r = shape.len() as i64;
                let ax = if axis < 0 { axis + r } else { axis };
                if ax < 0 || ax > r {
                    return unsupported(format!("Flatten axis {axis} out of range"));
                }
                let ax = ax as usize;
                let new = vec![shape[..ax].iter().product(), shape[ax..].iter().product()];
                self.reshape_to(n, x, new)?;
            }
            "Reshape" => {
                let x = self.input(n, 0)?;
                let spec = self.const_input(n, 1)?;
                let shape = val_shape(&x, self);
                let new = reshape_target(&shape, &spec.data, attr_i(n, "allowzero", 0) != 0)
                    .map_err(NodeFail::Unsupported)?;
                self.reshape_to(n, x, new)?;
            }
            "Squeeze" | "Unsqueeze" => {
                let x = self.input(n, 0)?;
                let shape = val_shape(&x, self);
                let axes: Vec<i64> = match attr_ints(n, "axes") {
                    Some(a) => a,
                    None => match self.opt_input(n, 1)? {
                        Some(Val::Const(c)) => c.data.iter().map(|&v| v as i64).collect(),
                        Some(_) => return unsupported("non-constant axes"),
                        None => vec![],
                    },
                };
                let new = if n.op_type == "Squeeze" {
                    squeeze(&shape, &axes).map_err(NodeFail::Unsupported)?
                } else {
                    unsqueeze(&shape, &axes).map_err(NodeFail::Unsupported)?
                };
                self.reshape_to(n, x, new)?;
            }
            "Transpose" => {
                let x = self.input(n, 0)?;
                let shape = val_shape(&x, self);
                let perm: Vec<usize> = match attr_ints(n, "perm") {
                    Some(p) => to_usizes(&p, "perm")?,
                    None => (0..shape.len()).rev().collect(),
                };
                if perm.len() != shape.len() || perm.iter().any(|&p| p >= shape.len()) {
                    return unsupported("Transpose perm does not match the rank");
                }
                let non_unit: Vec<usize> =
                    perm.iter().copied().filter(|&p| shape[p] != 1).collect();
                if non_unit.windows(2).any(|w| w[0] > w[1]) {
                    return unsupported(format!("Transpose perm {perm:?} of shape {shape:?} moves data (only layout no-ops are supported)"));
                }
                let new = perm.iter().map(|&p| shape[p]).collect();
                self.reshape_to(n, x, new)?;
            }
            "Shape" => {
                let x = self.input(n, 0)?;
                let shape = val_shape(&x, self);
                let data = shape.iter().map(|&d| d as f64).collect::<Vec<_>>();
                self.set_out(
                    n,
                    Val::Const(Const {
                        shape: vec![data.len()],
                        data,
                        is_int: true,
                    }),
                );
            }
            "Gather" => {
                let data = self.const_input(n, 0)?;
                let idx = self.const_input(n, 1)?;
                if attr_i(n, "axis", 0) != 0 || data.shape.len() > 1 {
                    return unsupported("Gather is only folded on 1-D constants along axis 0");
                }
                let len = data.data.len() as i64;
                let mut out = Vec::with_capacity(idx.data.len());
                for &i in &idx.data {
                    let i = i as i64;
                    let j = if i < 0 { i + len } else { i };
                    if j < 0 || j >= len {
                        return unsupported(format!("Gather index {i} out of range"));
                    }
                    out.push(data.data[j as usize]);
                }
                self.set_out(
                    n,
                    Val::Const(Const {
                        shape: idx.shape.clone(),
                        data: out,
                        is_int: data.is_int,
                    }),
                );
            }
            "Concat" => {
                let mut data = vec![];
                let mut is_int = true;
                for i in 0..n.input.len() {
                    let c = self.const_input(n, i)?;
                    if c.shape.len() > 1 {
                        return unsupported("Concat is only folded on 1-D constants");
                    }
                    is_int &= c.is_int;
                    data.extend(c.data);
                }
                self.set_out(
                    n,
                    Val::Const(Const {
                        shape: vec![data.len()],
                        data,
                        is_int,
                    }),
                );
            }
            "Cast" => {
                let c = self.const_input(n, 0)?;
                self.set_out(n, Val::Const(c));
            }
            other => return unsupported(format!("op `{other}` is not supported")),
        }
        Ok(())
    }

    fn reshape_to(&mut self, n: &pb::NodeProto, x: Val, new: Vec<usize>) -> NodeResult<()> {
        match x {
            Val::Dyn(v) => {
                if numel(&new) != numel(&self.shape(v)) {
                    return unsupported(format!(
                        "reshape {:?} -> {new:?} changes the element count",
                        self.shape(v)
                    ));
                }
                let out = self.push(n, FloatOp::Reshape, vec![v], new);
                self.set_out(n, Val::Dyn(out));
            }
            Val::Const(mut c) => {
                c.shape = new;
                self.set_out(n, Val::Const(c));
            }
            Val::Poisoned => return Err(NodeFail::Poisoned),
        }
        Ok(())
    }

    fn unary(&mut self, n: &pb::NodeProto, op: FloatOp) -> NodeResult<()> {
        let x = self.dyn_input(n, 0)?;
        let shape = self.shape(x);
        let v = self.push(n, op, vec![x], shape);
        self.set_out(n, Val::Dyn(v));
        Ok(())
    }

    fn dense_from(
        &mut self,
        n: &pb::NodeProto,
        x: usize,
        weight: Vec<f32>,
        bias: Vec<f32>,
        inf: usize,
        outf: usize,
    ) -> NodeResult<()> {
        let shape = self.shape(x);
        let lead: usize = shape[..shape.len().saturating_sub(1)].iter().product();
        if shape.last().copied() != Some(inf) || lead != 1 {
            return unsupported(format!(
                "{} input of shape {shape:?} does not match {inf} features with batch 1",
                n.op_type
            ));
        }
        let mut out_shape = shape.clone();
        if let Some(l) = out_shape.last_mut() {
            *l = outf;
        }
        let v = self.push(
            n,
            FloatOp::Dense {
                weight,
                bias,
                in_features: inf,
                out_features: outf,
            },
            vec![x],
            out_shape,
        );
        self.set_out(n, Val::Dyn(v));
        Ok(())
    }

    fn gemm(&mut self, n: &pb::NodeProto) -> NodeResult<()> {
        let a = self.dyn_input(n, 0)?;
        let b = self.const_input(n, 1)?;
        let c = self.opt_input(n, 2)?;
        if attr_i(n, "transA", 0) != 0 {
            return unsupported("Gemm with transA=1");
        }
        let alpha = attr_f(n, "alpha", 1.0) as f64;
        let beta = attr_f(n, "beta", 1.0) as f64;
        if b.shape.len() != 2 {
            return unsupported(format!("Gemm weight of shape {:?}", b.shape));
        }
        let trans_b = attr_i(n, "transB", 0) != 0;
        let (k, nout) = if trans_b {
            (b.shape[1], b.shape[0])
        } else {
            (b.shape[0], b.shape[1])
        };
        let mut w = vec![0f32; nout * k];
        for o in 0..nout {
            for i in 0..k {
                let v = if trans_b {
                    b.data[o * k + i]
                } else {
                    b.data[i * nout + o]
                };
                w[o * k + i] = (alpha * v) as f32;
            }
        }
        let bias = match c {
            None => vec![0f32; nout],
            Some(Val::Const(c)) => {
                let full = broadcast(&c, &[nout]).map_err(NodeFail::Unsupported)?;
                full.iter().map(|&v| (beta * v) as f32).collect()
            }
            Some(_) => return unsupported("Gemm bias C must be a constant"),
        };
        self.dense_from(n, a, w, bias, k, nout)
    }

    fn matmul(&mut self, n: &pb::NodeProto) -> NodeResult<()> {
        let a = self.dyn_input(n, 0)?;
        let b = self.const_input(n, 1)?;
        if b.shape.len() != 2 {
            return unsupported(format!(
                "MatMul with a constant of shape {:?} (need [K, N])",
                b.shape
            ));
        }
        let (k, nout) = (b.shape[0], b.shape[1]);
        let mut w = vec![0f32; nout * k];
        for o in 0..nout {
            for i in 0..k {
                w[o * k + i] = b.data[i * nout + o] as f32;
            }
        }
        self.dense_from(n, a, w, vec![0f32; nout], k, nout)
    }

    fn conv(&mut self, n: &pb::NodeProto) -> NodeResult<()> {
        let x = self.dyn_input(n, 0)?;
        let w = self.const_input(n, 1)?;
        let b = self.opt_input(n, 2)?;
        let xs = self.shape(x);
        if xs.len() != 4 || xs[0] != 1 {
            return unsupported(format!(
                "Conv input of shape {xs:?}: only 2-D NCHW with batch 1"
            ));
        }
        if w.shape.len() != 4 {
            return unsupported(format!("Conv weight of shape {:?}", w.shape));
        }
        if attr_i(n, "group", 1) != 1 {
            return unsupported(format!("Conv group {}", attr_i(n, "group", 1)));
        }
        if let Some(d) = attr_ints(n, "dilations") {
            if d.iter().any(|&v| v != 1) {
                return unsupported(format!("Conv dilations {d:?}"));
            }
        }
        let (oc, ic, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        if ic != xs[1] {
            return unsupported(format!(
                "Conv weight expects {ic} channels, input has {}",
                xs[1]
            ));
        }
        if let Some(ks) = attr_ints(n, "kernel_shape") {
            if ks != [kh as i64, kw as i64] {
                return unsupported(format!(
                    "Conv kernel_shape {ks:?} disagrees with weight {:?}",
                    w.shape
                ));
            }
        }
        let stride = match attr_ints(n, "strides") {
            Some(s) if s.len() == 2 => {
                let s = to_usizes(&s, "stride")?;
                [s[0], s[1]]
            }
            Some(s) => return unsupported(format!("Conv strides {s:?}")),
            None => [1, 1],
        };
        let in_hw = [xs[2], xs[3]];
        let pads = self.pads(n, in_hw, [kh, kw], stride)?;
        let out_hw = ConvGeom::output_hw(in_hw, [kh, kw], stride, pads).ok_or_else(|| {
            NodeFail::Unsupported("Conv kernel larger than the padded input".into())
        })?;
        let bias = match b {
            None => vec![0f32; oc],
            Some(Val::Const(c)) if c.data.len() == oc => c.data.iter().map(|&v| v as f32).collect(),
            Some(_) => return unsupported("Conv bias must be a constant of length out_channels"),
        };
        let geom = ConvGeom {
            in_channels: ic,
            out_channels: oc,
            in_hw,
            kernel: [kh, kw],
            stride,
            pads,
            out_hw,
        };
        let weight = w.data.iter().map(|&v| v as f32).collect();
        let v = self.push(
            n,
            FloatOp::Conv2d { weight, bias, geom },
            vec![x],
            vec![1, oc, out_hw[0], out_hw[1]],
        );
        self.set_out(n, Val::Dyn(v));
        Ok(())
    }

    fn pads(
        &self,
        n: &pb::NodeProto,
        in_hw: [usize; 2],
        k: [usize; 2],
        stride: [usize; 2],
    ) -> NodeResult<[usize; 4]> {
        let auto = attr_s(n, "auto_pad").unwrap_or_else(|| "NOTSET".into());
        match auto.as_str() {
            "NOTSET" | "" => match attr_ints(n, "pads") {
                Some(p) if p.len() == 4 => {
                    let p = to_usizes(&p, "pad")?;
                    Ok([p[0], p[1], p[2], p[3]])
                }
                Some(p) => unsupported(format!("pads {p:?}")),
                None => Ok([0; 4]),
            },
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut p = [0usize; 4];
                for d in 0..2 {
                    let out = in_hw[d].div_ceil(stride[d]);
                    let total = ((out - 1) * stride[d] + k[d]).saturating_sub(in_hw[d]);
                    let (small, big) = (total / 2, total - total / 2);
                    if auto == "SAME_UPPER" {
                        p[d] = small;
                        p[d + 2] = big;
                    } else {
                        p[d] = big;
                        p[d + 2] = small;
                    }
                }
                Ok(p)
            }
            other => unsupported(format!("auto_pad {other}")),
        }
    }

    fn pool(&mut self, n: &pb::NodeProto) -> NodeResult<()> {
        let x = self.dyn_input(n, 0)?;
        let xs = self.shape(x);
        if xs.len() != 4 || xs[0] != 1 {
            return unsupported(format!(
                "pooling input of shape {xs:?}: only NCHW with batch 1"
            ));
        }
        let in_hw = [xs[2], xs[3]];
        let global = n.op_type.starts_with("Global");
        let (kernel, stride, pads) = if global {
            (in_hw, [1, 1], [0; 4])
        } else {
            let ks = attr_ints(n, "kernel_shape")
                .ok_or_else(|| NodeFail::Unsupported("missing kernel_shape".into()))?;
            if ks.len() != 2 {
                return unsupported(format!("kernel_shape {ks:?}"));
            }
            let ks = to_usizes(&ks, "kernel")?;
            let stride = match attr_ints(n, "strides") {
                Some(s) if s.len() == 2 => {
                    let s = to_usizes(&s, "stride")?;
                    [s[0], s[1]]
                }
                Some(s) => return unsupported(format!("strides {s:?}")),
                None => [1, 1],
            };
            if attr_i(n, "ceil_mode", 0) != 0 {
                return unsupported("ceil_mode=1");
            }
            if let Some(d) = attr_ints(n, "dilations") {
                if d.iter().any(|&v| v != 1) {
                    return unsupported(format!("dilations {d:?}"));
                }
            }
            if attr_i(n, "storage_order", 0) != 0 {
                return unsupported("storage_order=1");
            }
            if n.output.len() > 1 && n.output[1..].iter().any(|o| !o.is_empty()) {
                return unsupported("MaxPool Indices output");
            }
            let k = [ks[0], ks[1]];
            (k, stride, self.pads(n, in_hw, k, stride)?)
        };
        let out_hw = ConvGeom::output_hw(in_hw, kernel, stride, pads).ok_or_else(|| {
            NodeFail::Unsupported("pooling window larger than the padded input".into())
        })?;
        let geom = PoolGeom {
            channels: xs[1],
            in_hw,
            kernel,
            stride,
            pads,
            out_hw,
        };
        let op = if n.op_type.contains("Max") {
            FloatOp::MaxPool { geom }
        } else {
            FloatOp::AvgPool {
                geom,
                count_include_pad: attr_i(n, "count_include_pad", 0) != 0,
            }
        };
        let v = self.push(n, op, vec![x], vec![1, xs[1], out_hw[0], out_hw[1]]);
        self.set_out(n, Val::Dyn(v));
        Ok(())
    }

    fn batchnorm(&mut self, n: &pb::NodeProto) -> NodeResult<()> {
        let x = self.dyn_input(n, 0)?;
        let scale = self.const_input(n, 1)?;
        let bias = self.const_input(n, 2)?;
        let mean = self.const_input(n, 3)?;
        let var = self.const_input(n, 4)?;
        let eps = attr_f(n, "epsilon", 1e-5) as f64;
        let xs = self.shape(x);
        let c = if xs.len() >= 2 { xs[1] } else { xs[0] };
        if [&scale, &bias, &mean, &var]
            .iter()
            .any(|t| t.data.len() != c)
        {
            return unsupported("BatchNormalization parameters do not match the channel count");
        }
        // y = a * x + d per channel.
        let a: Vec<f64> = (0..c)
            .map(|i| scale.data[i] / (var.data[i] + eps).sqrt())
            .collect();
        let d: Vec<f64> = (0..c).map(|i| bias.data[i] - a[i] * mean.data[i]).collect();
        let in_name = n.input[0].clone();
        if self.fusable(x, &in_name) {
            let node = &mut self.graph.nodes[x - 1];
            let folded = match &mut node.op {
                FloatOp::Conv2d { weight, bias, geom } if geom.out_channels == c => {
                    let per = weight.len() / c;
                    for (i, w) in weight.iter_mut().enumerate() {
                        *w = (*w as f64 * a[i / per]) as f32;
                    }
                    for (i, b) in bias.iter_mut().enumerate() {
                        *b = (*b as f64 * a[i] + d[i]) as f32;
                    }
                    true
                }
                FloatOp::Dense {
                    weight,
                    bias,
                    in_features,
                    out_features,
                } if *out_features == c => {
                    for (i, w) in weight.iter_mut().enumerate() {
                        *w = (*w as f64 * a[i / *in_features]) as f32;
                    }
                    for (i, b) in bias.iter_mut().enumerate() {
                        *b = (*b as f64 * a[i] + d[i]) as f32;
                    }
                    true
                }
                _ => false,
            };
            if folded {
                node.source_op.push_str("+BatchNormalization");
                self.set_out(n, Val::Dyn(x));
                return Ok(());
            }
        }
        // Standalone: per-channel affine as MulConst then AddConst.
        let inner: usize = xs.iter().skip(2).product();
        let per_elem = |v: &[f64]| -> Vec<f32> {
            (0..numel(&xs))
                .map(|i| v[(i / inner.max(1)) % c] as f32)
                .collect()
        };
        let m = self.push(
            n,
            FloatOp::MulConst {
                constant: per_elem(&a),
            },
            vec![x],
            xs.clone(),
        );
        let name = self.unique_name(&format!("{}.shift", node_name(n)));
        self.graph.nodes.push(FloatNode {
            name,
            source_op: n.op_type.clone(),
            op: FloatOp::AddConst {
                constant: per_elem(&d),
            },
            inputs: vec![m],
            shape: xs,
        });
        let v = self.graph.nodes.len();
        self.set_out(n, Val::Dyn(v));
        Ok(())
    }

    fn binary(&mut self, n: &pb::NodeProto) -> NodeResult<()> {
        let a = self.input(n, 0)?;
        let b = self.input(n, 1)?;
        let op = n.op_type.as_str();
        match (a, b) {
            (Val::Const(ca), Val::Const(cb)) => {
                // Fold constant arithmetic (shape computations).
                if ca.data.len() != cb.data.len() && ca.data.len() != 1 && cb.data.len() != 1 {
                    return unsupported("constant broadcast in folded arithmetic");
                }
                let len = ca.data.len().max(cb.data.len());
                let get = |c: &Const, i: usize| {
                    if c.data.len() == 1 {
                        c.data[0]
                    } else {
                        c.data[i]
                    }
                };
                let data = (0..len)
                    .map(|i| {
                        let (x, y) = (get(&ca, i), get(&cb, i));
                        match op {
                            "Add" => x + y,
                            "Sub" => x - y,
                            "Mul" => x * y,
                            _ if ca.is_int && cb.is_int && y != 0.0 => (x / y).floor(),
                            _ => x / y,
                        }
                    })
                    .collect();
                let shape = if ca.data.len() >= cb.data.len() {
                    ca.shape
                } else {
                    cb.shape
                };
                self.set_out(
                    n,
                    Val::Const(Const {
                        shape,
                        data,
                        is_int: ca.is_int && cb.is_int,
                    }),
                );
            }
            (Val::Dyn(x), Val::Dyn(y)) => {
                if self.shape(x) != self.shape(y) {
                    return unsupported(format!(
                        "{op} of tensors with shapes {:?} and {:?} (broadcasting between two runtime tensors is not supported)",
                        self.shape(x),
                        self.shape(y)
                    ));
                }
                let fop = match op {
                    "Add" => FloatOp::Add,
                    "Sub" => FloatOp::Sub,
                    "Mul" => FloatOp::Mul,
                    _ => return unsupported("Div of two runtime tensors"),
                };
                let shape = self.shape(x);
                let v = self.push(n, fop, vec![x, y], shape);
                self.set_out(n, Val::Dyn(v));
            }
            (Val::Dyn(x), Val::Const(c)) => {
                let shape = self.shape(x);
                let full = broadcast(&c, &shape).map_err(NodeFail::Unsupported)?;
                match op {
                    "Add" | "Sub" => {
                        let sign = if op == "Sub" { -1.0 } else { 1.0 };
                        let consts: Vec<f64> = full.iter().map(|v| sign * v).collect();
                        // Fuse a bias into the preceding Dense/Conv when possible.
                        let in_name = n.input[0].clone();
                        if self.fusable(x, &in_name) && self.fuse_bias(x, &consts) {
                            self.set_out(n, Val::Dyn(x));
                            return Ok(());
                        }
                        let constant = consts.iter().map(|&v| v as f32).collect();
                        let v = self.push(n, FloatOp::AddConst { constant }, vec![x], shape);
                        self.set_out(n, Val::Dyn(v));
                    }
                    "Mul" | "Div" => {
                        if op == "Div" && full.contains(&0.0) {
                            return unsupported("division by a constant zero");
                        }
                        let constant = full
                            .iter()
                            .map(|&v| {
                                if op == "Div" {
                                    (1.0 / v) as f32
                                } else {
                                    v as f32
                                }
                            })
                            .collect();
                        let v = self.push(n, FloatOp::MulConst { constant }, vec![x], shape);
                        self.set_out(n, Val::Dyn(v));
                    }
                    _ => return unsupported(format!("op {op}")),
                }
            }
            (Val::Const(c), Val::Dyn(x)) => {
                let shape = self.shape(x);
                let full = broadcast(&c, &shape).map_err(NodeFail::Unsupported)?;
                match op {
                    "Add" | "Mul" => {
                        let constant = full.iter().map(|&v| v as f32).collect();
                        let fop = if op == "Add" {
                            FloatOp::AddConst { constant }
                        } else {
                            FloatOp::MulConst { constant }
                        };
                        let v = self.push(n, fop, vec![x], shape);
                        self.set_out(n, Val::Dyn(v));
                    }
                    "Sub" => {
                        // c - x = (-1 * x) + c
                        let neg = self.push(
                            n,
                            FloatOp::MulConst {
                                constant: vec![-1.0; numel(&shape)],
                            },
                            vec![x],
                            shape.clone(),
                        );
                        let name = self.unique_name(&format!("{}.add", node_name(n)));
                        self.graph.nodes.push(FloatNode {
                            name,
                            source_op: n.op_type.clone(),
                            op: FloatOp::AddConst {
                                constant: full.iter().map(|&v| v as f32).collect(),
                            },
                            inputs: vec![neg],
                            shape,
                        });
                        let v = self.graph.nodes.len();
                        self.set_out(n, Val::Dyn(v));
                    }
                    _ => return unsupported("division of a constant by a runtime tensor"),
                }
            }
            _ => return Err(NodeFail::Poisoned),
        }
        Ok(())
    }

    /// Add per-element constants to the bias of node producing `v` if the constants are constant
    /// per output channel / feature.
    fn fuse_bias(&mut self, v: usize, consts: &[f64]) -> bool {
        let node = &mut self.graph.nodes[v - 1];
        match &mut node.op {
            FloatOp::Dense {
                bias, out_features, ..
            } if consts.len() == *out_features => {
                for (b, c) in bias.iter_mut().zip(consts) {
                    *b = (*b as f64 + c) as f32;
                }
                node.source_op.push_str("+Add");
                true
            }
            FloatOp::Conv2d { bias, geom, .. } => {
                let per = geom.out_hw[0] * geom.out_hw[1];
                if consts.len() != per * geom.out_channels {
                    return false;
                }
                let uniform = (0..geom.out_channels).all(|c| {
                    consts[c * per..(c + 1) * per]
                        .iter()
                        .all(|&v| v == consts[c * per])
                });
                if !uniform {
                    return false;
                }
                for (c, b) in bias.iter_mut().enumerate() {
                    *b = (*b as f64 + consts[c * per]) as f32;
                }
                node.source_op.push_str("+Add");
                true
            }
            _ => false,
        }
    }
}

fn val_shape(v: &Val, b: &Builder) -> Vec<usize> {
    match v {
        Val::Dyn(x) => b.shape(*x),
        Val::Const(c) => c.shape.clone(),
        Val::Poisoned => vec![],
    }
}

/// Numpy-style broadcast of a constant to `shape`, returning one value per element.
fn broadcast(c: &Const, shape: &[usize]) -> std::result::Result<Vec<f64>, String> {
    if c.shape.len() > shape.len() {
        return Err(format!(
            "constant of shape {:?} cannot broadcast to {shape:?}",
            c.shape
        ));
    }
    let off = shape.len() - c.shape.len();
    for (i, &d) in c.shape.iter().enumerate() {
        if d != 1 && d != shape[off + i] {
            return Err(format!(
                "constant of shape {:?} cannot broadcast to {shape:?}",
                c.shape
            ));
        }
    }
    let total = numel(shape);
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..total {
        let mut flat = 0usize;
        for (i, &d) in c.shape.iter().enumerate() {
            let j = if d == 1 { 0 } else { idx[off + i] };
            flat = flat * d + j;
        }
        out.push(c.data.get(flat).copied().unwrap_or(0.0));
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Ok(out)
}

fn reshape_target(
    shape: &[usize],
    spec: &[f64],
    allow_zero: bool,
) -> std::result::Result<Vec<usize>, String> {
    let total = numel(shape);
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        let s = s as i64;
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => {
                out.push(*shape.get(i).ok_or("reshape 0 refers past the input rank")?)
            }
            s if s > 0 => out.push(s as usize),
            _ => return Err(format!("invalid reshape spec {spec:?}")),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {shape:?} to {spec:?}"));
        }
        out[i] = total / known;
    }
    if numel(&out) != total {
        return Err(format!(
            "cannot reshape {shape:?} ({total} values) to {out:?}"
        ));
    }
    // Dynamic batch: a leading dimension of the data is 1 already.
    Ok(out)
}

fn norm_axes(axes: &[i64], rank: usize) -> std::result::Result<Vec<usize>, String> {
    axes.iter()
        .map(|&a| {
            let a2 = if a < 0 { a + rank as i64 } else { a };
            if a2 < 0 || a2 >= rank as i64 {
                Err(format!("axis {a} out of range for rank {rank}"))
            } else {
                Ok(a2 as usize)
            }
        })
        .collect()
}

fn squeeze(shape: &[usize], axes: &[i64]) -> std::result::Result<Vec<usize>, String> {
    if axes.is_empty() {
        return Ok(shape.iter().copied().filter(|&d| d != 1).collect());
    }
    let ax = norm_axes(axes, shape.len())?;
    if ax.iter().any(|&a| shape[a] != 1) {
        return Err(format!(
            "cannot squeeze non-unit axes {axes:?} of {shape:?}"
        ));
    }
    Ok(shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !ax.contains(i))
        .map(|(_, &d)| d)
        .collect())
}

fn unsqueeze(shape: &[usize], axes: &[i64]) -> std::result::Result<Vec<usize>, String> {
    let rank = shape.len() + axes.len();
    let ax = norm_axes(axes, rank)?;
    let mut out = Vec::with_capacity(rank);
    let mut it = shape.iter();
    for i in 0..rank {
        if ax.contains(&i) {
            out.push(1);
        } else {
            out.push(*it.next().ok_or("unsqueeze axes repeat")?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        let c = Const {
            shape: vec![2, 1],
            data: vec![1.0, 2.0],
            is_int: false,
        };
        assert_eq!(
            broadcast(&c, &[2, 3]).unwrap_or_default(),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        let s = Const {
            shape: vec![],
            data: vec![5.0],
            is_int: false,
        };
        assert_eq!(broadcast(&s, &[1, 2]).unwrap_or_default(), vec![5.0, 5.0]);
        let bad = Const {
            shape: vec![3],
            data: vec![0.0; 3],
            is_int: false,
        };
        assert!(broadcast(&bad, &[1, 2]).is_err());
    }

    #[test]
    fn reshape_specs() {
        assert_eq!(
            reshape_target(&[1, 4, 12, 12], &[1.0, -1.0], false),
            Ok(vec![1, 576])
        );
        assert_eq!(
            reshape_target(&[1, 4, 12, 12], &[0.0, -1.0], false),
            Ok(vec![1, 576])
        );
        assert!(reshape_target(&[1, 5], &[2.0, -1.0], false).is_err());
        assert_eq!(squeeze(&[1, 3, 1], &[]), Ok(vec![3]));
        assert_eq!(unsqueeze(&[3], &[0]), Ok(vec![1, 3]));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            import_onnx(b"", "x"),
            Err(ModelError::OnnxDecode(_))
        ));
        let garbage: Vec<u8> = (0..200u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(matches!(
            import_onnx(&garbage, "x"),
            Err(ModelError::OnnxDecode(_) | ModelError::OnnxMalformed(_))
        ));
    }
}
