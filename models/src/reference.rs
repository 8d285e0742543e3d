//! Float reference: run the original ONNX file with tract (f32), independent of zkgrid's importer.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::error::{ModelError, Result};
use crate::graph::numel;

/// A runnable tract plan of the original ONNX model with batch fixed to 1.
#[derive(Debug, Clone)]
pub struct FloatReference {
    plan: Arc<TypedRunnableModel>,
    shape: Vec<usize>,
}

fn err(e: impl std::fmt::Display) -> ModelError {
    ModelError::FloatReference(e.to_string())
}

impl FloatReference {
    /// Build from ONNX bytes and the input shape (from the importer).
    pub fn new(onnx: &[u8], input_shape: &[usize]) -> Result<Self> {
        let mut r = onnx;
        let model = tract_onnx::onnx()
            .model_for_read(&mut r)
            .map_err(|e| ModelError::FloatReference(format!("{e:#}")))?
            .with_input_fact(0, f32::fact(input_shape).into())
            .map_err(err)?;
        let plan = model
            .into_optimized()
            .map_err(|e| ModelError::FloatReference(format!("{e:#}")))?
            .into_runnable()
            .map_err(err)?;
        Ok(FloatReference {
            plan,
            shape: input_shape.to_vec(),
        })
    }

    /// Run one sample; returns the flattened first output.
    pub fn run(&self, input: &[f64]) -> Result<Vec<f64>> {
        if input.len() != numel(&self.shape) {
            return Err(ModelError::WrongInputShape {
                expected_shape: self.shape.clone(),
                expected_len: numel(&self.shape),
                got: input.len(),
            });
        }
        let data: Vec<f32> = input.iter().map(|&v| v as f32).collect();
        let t = Tensor::from_shape(&self.shape, &data).map_err(err)?;
        let out = self.plan.run(tvec!(t.into())).map_err(err)?;
        let first = out.first().ok_or_else(|| err("model produced no output"))?;
        let view = first.to_plain_array_view::<f32>().map_err(err)?;
        Ok(view.iter().map(|&v| v as f64).collect())
    }
}
