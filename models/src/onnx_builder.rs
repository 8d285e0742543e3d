//! A small ONNX writer (prost types from tract-onnx) used by the model zoo and by tests that need
//! models with specific ops. Produces standard opset-13 ONNX files.

use prost::Message;
use tract_onnx::pb;

/// Builds one ONNX graph with a single float input and a single float output.
#[derive(Debug, Clone)]
pub struct OnnxBuilder {
    graph: pb::GraphProto,
    opset: i64,
}

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A string.
    Str(String),
}

fn value_info(name: &str, dims: &[i64], batch_param: bool) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value as D, Dimension};
    let dim = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| Dimension {
            value: Some(if i == 0 && batch_param {
                D::DimParam("batch".into())
            } else {
                D::DimValue(d)
            }),
            denotation: String::new(),
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

impl OnnxBuilder {
    /// A graph named `name` with input `input` of shape `input_dims` (first dim may be made
    /// dynamic with [`OnnxBuilder::dynamic_batch`]) and output `output` of shape `output_dims`.
    pub fn new(name: &str, input_dims: &[i64], output_dims: &[i64]) -> Self {
        let graph = pb::GraphProto {
            name: name.into(),
            input: vec![value_info("input", input_dims, false)],
            output: vec![value_info("output", output_dims, false)],
            ..Default::default()
        };
        OnnxBuilder { graph, opset: 13 }
    }

    /// Make the input's first dimension a symbolic batch dimension.
    pub fn dynamic_batch(mut self) -> Self {
        if let Some(i) = self.graph.input.first_mut() {
            let dims: Vec<i64> = match i.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(pb::type_proto::Value::TensorType(t)) => t
                    .shape
                    .as_ref()
                    .map(|s| {
                        s.dim
                            .iter()
                            .map(|d| match d.value {
                                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => v,
                                _ => 1,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                None => vec![],
            };
            *i = value_info("input", &dims, true);
        }
        self
    }

    /// Set the opset version (default 13).
    pub fn opset(mut self, v: i64) -> Self {
        self.opset = v;
        self
    }

    /// Add a float initializer.
    pub fn init(&mut self, name: &str, dims: &[i64], data: &[f32]) -> &mut Self {
        let raw_data = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializer.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data,
            ..Default::default()
        });
        self
    }

    /// Add an int64 initializer (shapes, axes).
    pub fn init_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> &mut Self {
        self.graph.initializer.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            int64_data: data.to_vec(),
            ..Default::default()
        });
        self
    }

    /// Add a node.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: &[(&str, Attr)],
    ) -> &mut Self {
        use pb::attribute_proto::AttributeType as T;
        let attribute = attrs
            .iter()
            .map(|(n, a)| {
                let mut p = pb::AttributeProto {
                    name: (*n).into(),
                    ..Default::default()
                };
                match a {
                    Attr::Int(i) => {
                        p.i = *i;
                        p.r#type = T::Int as i32;
                    }
                    Attr::Float(f) => {
                        p.f = *f;
                        p.r#type = T::Float as i32;
                    }
                    Attr::Ints(v) => {
                        p.ints = v.clone();
                        p.r#type = T::Ints as i32;
                    }
                    Attr::Str(s) => {
                        p.s = s.as_bytes().to_vec();
                        p.r#type = T::String as i32;
                    }
                }
                p
            })
            .collect();
        self.graph.node.push(pb::NodeProto {
            input: inputs.iter().map(|s| (*s).into()).collect(),
            output: outputs.iter().map(|s| (*s).into()).collect(),
            name: name.into(),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        self
    }

    /// The model proto.
    pub fn proto(&self) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            producer_name: "zkgrid".into(),
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
    }

    /// Serialized ONNX bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.proto().encode_to_vec()
    }
}
