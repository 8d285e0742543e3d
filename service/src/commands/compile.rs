//! `zkgrid compile`: ONNX → MODEL.zkg.json, printing the layer table and quantization report.

use std::path::Path;

use anyhow::Context;
use zkgrid_models::compile::CompiledModel;
use zkgrid_models::input::{parse_samples, MAX_INPUT_JSON_BYTES};
use zkgrid_models::onnx::MAX_ONNX_BYTES;
use zkgrid_models::{compile, QuantConfig};

use super::{read_limited, write_atomic};
use crate::cli::CompileArgs;
use crate::output::{fmt_f, print_json, table};

fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    if stem == "network" || stem == "model" {
        if let Some(dir) = path.parent().and_then(|p| p.file_name()) {
            return dir.to_string_lossy().into_owned();
        }
    }
    stem
}

/// Run `zkgrid compile`.
pub fn run(a: &CompileArgs, json: bool) -> anyhow::Result<()> {
    let onnx = read_limited(&a.model, MAX_ONNX_BYTES as u64)?;
    let name = a.name.clone().unwrap_or_else(|| default_name(&a.model));
    let cfg = QuantConfig {
        bits: a.bits,
        weight_bits: a.weight_bits,
        headroom_bits: a.headroom_bits,
        table_bits: a.table_bits,
    };
    // Parse calibration against the model's input size: import once to learn the shape.
    let graph = zkgrid_models::onnx::import_onnx(&onnx, &name)
        .with_context(|| format!("importing {}", a.model.display()))?;
    let n: usize = graph.input_shape.iter().product();
    let calibration = match &a.calibration {
        Some(p) => {
            let bytes = read_limited(p, MAX_INPUT_JSON_BYTES as u64)?;
            Some(
                parse_samples(&bytes, n, &graph.input_shape)
                    .with_context(|| format!("calibration file {}", p.display()))?,
            )
        }
        None => None,
    };
    let compiled = compile(&onnx, &name, calibration.as_deref(), &cfg)
        .with_context(|| format!("compiling {}", a.model.display()))?;
    write_atomic(&a.output, &compiled.to_json_pretty()?)?;
    if json {
        print_json(&serde_json::json!({
            "output": a.output,
            "model_hash": compiled.model_hash,
            "onnx_sha256": compiled.onnx_sha256,
            "report": compiled.report,
        }))
    } else {
        print!("{}", render_report(&compiled));
        println!("wrote {}", a.output.display());
        Ok(())
    }
}

/// Human-readable compile report.
pub fn render_report(c: &CompiledModel) -> String {
    let r = &c.report;
    let rows: Vec<Vec<String>> = r
        .layers
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.kind.clone(),
                l.source_op.clone(),
                format!("{:?}", l.shape),
                l.scale.to_string(),
                fmt_f(l.calibrated_max_abs),
                fmt_f(l.range_max_abs),
                fmt_f(l.error_bound),
                l.macs.to_string(),
            ]
        })
        .collect();
    let mut s = format!(
        "model {} ({} nodes, {} MACs)\n",
        c.model.name,
        c.model.nodes.len(),
        c.model.macs()
    );
    s.push_str(&table(
        &[
            "layer",
            "kind",
            "onnx",
            "shape",
            "scale",
            "calib max|x|",
            "range max|x|",
            "err bound",
            "MACs",
        ],
        &rows,
    ));
    s.push_str(&format!(
        "bits {} (weights {}), headroom {} bit(s), table bits {}\n",
        r.config.bits, r.config.weight_bits, r.config.headroom_bits, r.config.table_bits
    ));
    s.push_str(&format!(
        "calibration: {} samples ({:?})\n",
        r.calibration_samples, r.calibration_source
    ));
    s.push_str(&format!(
        "vs float reference ({}): max |err| {}, mean |err| {}, argmax agreement {:.1}% on {} samples\n",
        r.float_reference,
        fmt_f(r.accuracy.max_abs_error),
        fmt_f(r.accuracy.mean_abs_error),
        r.accuracy.argmax_agreement * 100.0,
        r.accuracy.samples
    ));
    s.push_str(&format!(
        "guaranteed output error bound (any accepted input): {}\n",
        fmt_f(r.output_error_bound)
    ));
    s.push_str(&format!("model hash {}\n", c.model_hash));
    s
}
