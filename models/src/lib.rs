//! ONNX import, quantization and the bit-exact integer reference executor of zkgrid.
//!
//! Pipeline: [`onnx::import_onnx`] (ONNX → [`graph::FloatGraph`]) → [`quantize::quantize`]
//! (calibration → [`quantized::QuantizedModel`]) → [`execute::execute`] (the integer semantics
//! every circuit proves). [`compile::compile`] runs all of it and writes a report against the
//! float reference ([`reference::FloatReference`], tract).
#![deny(missing_docs)]

pub mod compile;
pub mod error;
pub mod execute;
pub mod fixed;
pub mod graph;
pub mod input;
pub mod onnx;
pub mod onnx_builder;
pub mod quantize;
pub mod quantized;
pub mod reference;
pub mod zoo;

pub use compile::{compile, CompiledModel, QuantReport};
pub use error::{ModelError, Result};
pub use execute::{execute, quantize_input, run_real, Execution};
pub use quantize::QuantConfig;
pub use quantized::{QNode, QOp, QuantizedModel};
