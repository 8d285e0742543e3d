//! Which models the circuit can prove, how wide its range checks must be and how many rows its
//! tables take.

use zkgrid_models::{QOp, QuantizedModel};

use super::settings::WeightsVisibility;
use crate::chips::lookup::TableSpec;
use crate::config::{ChipSet, ModelParams};
use crate::error::CircuitError;

/// Checks every node's operation is supported; the first unsupported one is reported as
/// [`CircuitError::UnsupportedOp`].
pub fn check_supported(model: &QuantizedModel) -> Result<(), CircuitError> {
    for node in &model.nodes {
        match &node.op {
            QOp::Dense { .. }
            | QOp::Conv2d { .. }
            | QOp::Relu
            | QOp::LeakyRelu { .. }
            | QOp::Reshape
            | QOp::Add { .. }
            | QOp::Sub { .. }
            | QOp::Mul { .. }
            | QOp::AddConst { .. }
            | QOp::MulConst { .. }
            | QOp::AvgPool { .. }
            | QOp::MaxPool { .. }
            | QOp::Lookup { .. } => {}
            other => {
                return Err(CircuitError::UnsupportedOp {
                    layer: node.name.clone(),
                    kind: other.kind(),
                })
            }
        }
    }
    Ok(())
}

/// The optional chips `model`'s layers use with weights `weights` (with private weights the
/// AddConst/MulConst constants are cells, so those layers become an add / a product).
pub fn required_chips(model: &QuantizedModel, weights: WeightsVisibility) -> ChipSet {
    let private = !weights.is_fixed();
    let mut chips = ChipSet::NONE;
    for node in &model.nodes {
        match &node.op {
            QOp::Add { .. } | QOp::Sub { .. } => chips.arith = true,
            QOp::Mul { .. } => chips.product = true,
            QOp::AddConst { .. } if private => chips.arith = true,
            QOp::MulConst { .. } if private => chips.product = true,
            QOp::AddConst { .. } | QOp::MulConst { .. } => chips.affine = true,
            QOp::MaxPool { .. } => chips.max = true,
            QOp::LeakyRelu { .. } => chips.leaky = true,
            QOp::Lookup { add_relu: true, .. } => chips.arith = true,
            _ => {}
        }
    }
    chips
}

/// Bit length of `v` (0 for 0).
fn bit_length(v: u64) -> u32 {
    u64::BITS - v.leading_zeros()
}

/// The widest range check the model's layout needs, in bits: the activation width, every
/// rescale shift (remainders) and every pooling divisor's remainder width.
pub fn required_range_bits(model: &QuantizedModel) -> u32 {
    let mut bits = model.bits;
    for node in &model.nodes {
        let needed = match &node.op {
            QOp::Dense { shift, .. } | QOp::Conv2d { shift, .. } => *shift,
            QOp::LeakyRelu { alpha_shift, .. } => (*alpha_shift).max(1),
            QOp::Add { shift_a, shift_b } | QOp::Sub { shift_a, shift_b } => {
                (*shift_a).max(*shift_b)
            }
            QOp::AddConst { shift, .. } | QOp::MulConst { shift, .. } | QOp::Mul { shift } => {
                *shift
            }
            QOp::AvgPool {
                geom,
                count_include_pad,
            } => {
                let full = geom.kernel[0].saturating_mul(geom.kernel[1]);
                let n = if *count_include_pad {
                    full
                } else {
                    (0..geom.out_hw[0])
                        .flat_map(|oy| (0..geom.out_hw[1]).map(move |ox| (oy, ox)))
                        .map(|(oy, ox)| geom.window(oy, ox).0.len())
                        .max()
                        .unwrap_or(full)
                };
                bit_length(u64::try_from(n.saturating_sub(1)).unwrap_or(u64::MAX))
            }
            QOp::Lookup { in_shift, .. } | QOp::Softmax { in_shift, .. } => *in_shift,
            QOp::Relu | QOp::Reshape | QOp::MaxPool { .. } => 0,
        };
        bits = bits.max(needed);
    }
    bits
}

/// Limbs per range slot for a model: `⌈required_range_bits / 8⌉`.
pub fn required_limbs(model: &QuantizedModel) -> usize {
    usize::try_from(required_range_bits(model).div_ceil(8)).unwrap_or(usize::MAX)
}

/// The `Lookup` layers' tables with their tags (node index + 1), in node order.
pub fn lookup_tables(model: &QuantizedModel) -> Vec<TableSpec<'_>> {
    model
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(idx, node)| match &node.op {
            QOp::Lookup {
                table_bits, table, ..
            } => Some(TableSpec {
                tag: idx as u64 + 1,
                table_bits: *table_bits,
                table,
            }),
            _ => None,
        })
        .collect()
}

/// Whether the model needs the lookup-table chip.
pub fn uses_lookup_table(model: &QuantizedModel) -> bool {
    model
        .nodes
        .iter()
        .any(|n| matches!(n.op, QOp::Lookup { .. }))
}

/// Rows the fixed tables need: the 256-row range table (none with digit range checks), and the
/// shared lookup table (one row per entry plus a zero row) when the model has lookups.
pub fn table_rows(model: &QuantizedModel, params: &ModelParams) -> usize {
    let lookups = lookup_tables(model);
    let range = params.range_table_rows();
    if lookups.is_empty() {
        range
    } else {
        crate::chips::lookup::table_rows(&lookups).max(range)
    }
}

/// Rows of the fixed tables of `model` laid out with `settings`: none with the narrow
/// backend (no tables), else [`table_rows`].
pub fn settings_table_rows(model: &QuantizedModel, settings: &super::CircuitSettings) -> usize {
    if settings.narrow {
        0
    } else {
        table_rows(model, &settings.params)
    }
}
