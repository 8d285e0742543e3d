//! `zkgrid run`: the integer reference executor on one input.

use anyhow::Context;
use zkgrid_models::compile::CompiledModel;
use zkgrid_models::execute::{argmax, dequantize, run_real};
use zkgrid_models::input::{parse_single, MAX_INPUT_JSON_BYTES};

use super::read_limited;
use crate::cli::RunArgs;
use crate::output::print_json;

/// Largest compiled-model file accepted.
pub const MAX_MODEL_JSON_BYTES: u64 = 1 << 30;

/// Load a MODEL.zkg.json.
pub fn load_compiled(path: &std::path::Path) -> anyhow::Result<CompiledModel> {
    let bytes = read_limited(path, MAX_MODEL_JSON_BYTES)?;
    CompiledModel::from_json_bytes(&bytes).with_context(|| format!("loading {}", path.display()))
}

/// Run `zkgrid run`.
pub fn run(a: &RunArgs, json: bool) -> anyhow::Result<()> {
    let c = load_compiled(&a.model)?;
    let m = &c.model;
    let bytes = read_limited(&a.input, MAX_INPUT_JSON_BYTES as u64)?;
    let input = parse_single(&bytes, m.input.shape.iter().product(), &m.input.shape)
        .with_context(|| format!("input file {}", a.input.display()))?;
    let exec = run_real(m, &input).with_context(|| format!("running {}", m.name))?;
    let out = exec.output();
    let deq: Vec<f64> = out
        .iter()
        .map(|&q| dequantize(q, m.output_scale()))
        .collect();
    let best = argmax(out);
    if json {
        print_json(&serde_json::json!({
            "model_hash": c.model_hash,
            "output_shape": m.output_shape(),
            "output_scale": m.output_scale(),
            "output": out,
            "dequantized": deq,
            "argmax": best,
        }))
    } else {
        println!("model {} ({})", m.name, c.model_hash);
        println!(
            "output shape {:?}, scale {} (real = q / 2^{})",
            m.output_shape(),
            m.output_scale(),
            m.output_scale()
        );
        println!("integer output: {out:?}");
        println!(
            "dequantized:    [{}]",
            deq.iter()
                .map(|v| format!("{v:.6}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(b) = best {
            println!("argmax: {b}");
        }
        Ok(())
    }
}
