//! Private weights with a public Poseidon commitment ([`WeightsVisibility::Hashed`]).
//!
//! # The parameters
//!
//! The committed parameters are, in node order, the `weight` and then the `bias` tensor of every
//! `Dense` and `Conv2d` node and the `constant` tensor of every `AddConst` and `MulConst` node
//! (e.g. a folded normalization) ([`param_tensors`]). Activation tables (`Lookup`), rescale
//! shifts and the architecture stay public.
//!
//! # The commitment (reproducible off-chain)
//!
//! Each tensor `t` has a public bit width `b_t`: the smallest `b ≥ 1` with
//! `−2^(b−1) ≤ v < 2^(b−1)` for all of its values ([`signed_width`]).
//!
//! * `b_t ≤ 16` (weights): the tensor is cut into chunks of `m = ⌊252 / b_t⌋` values (the last
//!   one shorter) and each chunk `v_0 … v_{m'−1}` becomes one field element
//!   `Σ_i (v_i + 2^(b_t−1)) · 2^(b_t·i)` (< 2^252, so no reduction mod p happens).
//! * `b_t > 16` (typically biases at the accumulator scale): each value is one field element,
//!   `v ≥ 0 ↦ v`, `v < 0 ↦ p − |v|`.
//!
//! The commitment is `hash_many` (the circomlib-compatible rule of [`crate::poseidon`]) of all
//! tensors' elements concatenated in parameter order ([`weights_commitment`]). Shapes and widths
//! are public (the verifying key depends on them), so the element list determines every value.
//! `scripts/weights-commitment.mjs` is an independent implementation with circomlibjs.
//!
//! # In the circuit
//!
//! Every parameter value is a private advice cell. A packed chunk is one dense-chip dot product
//! with the constant coefficients `2^(b·i)` and offset `Σ_i 2^(b−1)·2^(b·i)` whose inputs are the
//! chunk's cells, and every value of a packed tensor is range-checked to `b_t` bits, which makes
//! the packing injective (without the check, `v_0 + 2^b` and `v_1 − 1` would pack to the same
//! element). The elements are hashed with the Poseidon chip and the digest is bound to its
//! instance slot. Dense and Conv2d layers copy these cells into the dense chip's private-weight
//! rows ([`crate::chips::dense::DenseChip::dot_private`]); `AddConst` / `MulConst` become an
//! addition / a product of two cells (the arith and product chips), exactly their semantics.

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;
use zkgrid_models::{QOp, QuantizedModel};

use super::settings::WeightsVisibility;
use crate::chips::range::RangeSpec;
use crate::config::ModelConfig;
use crate::error::CircuitError;
use crate::field::fe_from_i64;
use crate::layout::{AssignedVar, RowAllocator};
use crate::poseidon::{hash_many, PoseidonChip};

/// Widest tensor width (bits) that is packed; wider tensors are hashed one value per element.
pub const PACK_MAX_BITS: u32 = 16;

/// Bits of a packed element: chunks hold `⌊PACKED_BITS / b⌋` values.
pub const PACKED_BITS: u32 = 252;

/// Which tensor of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// The weight tensor.
    Weight,
    /// The bias tensor.
    Bias,
    /// The per-element constants of `AddConst` / `MulConst`.
    Constant,
}

/// One committed tensor.
#[derive(Clone, Copy, Debug)]
pub struct ParamTensor<'m> {
    /// Index of its node.
    pub node: usize,
    /// Weight or bias.
    pub kind: ParamKind,
    /// The values, in the model's order.
    pub values: &'m [i64],
}

impl ParamTensor<'_> {
    /// Bit width `b_t` of the tensor.
    pub fn width(&self) -> u32 {
        signed_width(self.values)
    }

    /// Values per packed element, or `None` when the tensor is not packed (`b_t > 16`).
    pub fn chunk(&self) -> Option<usize> {
        chunk_len(self.width())
    }
}

/// Values per packed element for width `bits`, `None` above [`PACK_MAX_BITS`].
fn chunk_len(bits: u32) -> Option<usize> {
    (bits <= PACK_MAX_BITS).then(|| (PACKED_BITS / bits.max(1)) as usize)
}

/// Smallest `b ≥ 1` with every value in `[−2^(b−1), 2^(b−1))`.
pub fn signed_width(values: &[i64]) -> u32 {
    values
        .iter()
        .map(|v| {
            // Bits of the magnitude of v (for negatives, of −v − 1) plus the sign bit.
            let m = if *v < 0 { !*v } else { *v } as u64;
            u64::BITS - m.leading_zeros() + 1
        })
        .max()
        .unwrap_or(1)
}

/// The committed tensors of `model`, in commitment order.
pub fn param_tensors(model: &QuantizedModel) -> Result<Vec<ParamTensor<'_>>, CircuitError> {
    let mut out = Vec::new();
    for (node, n) in model.nodes.iter().enumerate() {
        match &n.op {
            QOp::Dense { weight, bias, .. } | QOp::Conv2d { weight, bias, .. } => {
                out.push(ParamTensor {
                    node,
                    kind: ParamKind::Weight,
                    values: weight,
                });
                out.push(ParamTensor {
                    node,
                    kind: ParamKind::Bias,
                    values: bias,
                });
            }
            QOp::AddConst { constant, .. } | QOp::MulConst { constant, .. } => {
                out.push(ParamTensor {
                    node,
                    kind: ParamKind::Constant,
                    values: constant,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `2^e` as a field element.
fn pow2(e: u32) -> Fr {
    let mut x = Fr::ONE;
    for _ in 0..e {
        x = x.double();
    }
    x
}

/// The packing coefficients `2^(b·i)` for a chunk of `len` values and its offset
/// `Σ_i 2^(b−1)·2^(b·i)`.
pub(crate) fn packing(bits: u32, len: usize) -> (Vec<Fr>, Fr) {
    let step = pow2(bits);
    let half = pow2(bits.saturating_sub(1));
    let mut coeffs = Vec::with_capacity(len);
    let mut c = Fr::ONE;
    for _ in 0..len {
        coeffs.push(c);
        c *= step;
    }
    let offset = coeffs.iter().fold(Fr::ZERO, |acc, c| acc + half * c);
    (coeffs, offset)
}

/// The field elements a tensor contributes to the commitment.
pub fn tensor_elements(tensor: &ParamTensor<'_>) -> Vec<Fr> {
    let bits = tensor.width();
    match chunk_len(bits) {
        Some(m) => tensor
            .values
            .chunks(m)
            .map(|chunk| {
                let (coeffs, offset) = packing(bits, chunk.len());
                chunk
                    .iter()
                    .zip(&coeffs)
                    .fold(offset, |acc, (v, c)| acc + fe_from_i64::<Fr>(*v) * c)
            })
            .collect(),
        None => tensor.values.iter().map(|v| fe_from_i64(*v)).collect(),
    }
}

/// The public commitment to `model`'s parameters (see the module documentation).
pub fn weights_commitment(model: &QuantizedModel) -> Result<Fr, CircuitError> {
    let elements: Vec<Fr> = param_tensors(model)?
        .iter()
        .flat_map(tensor_elements)
        .collect();
    Ok(hash_many(&elements))
}

/// The bit width range checks need for hashed weights: the widest packed tensor (0 when the
/// weights are fixed).
pub fn required_range_bits(
    model: &QuantizedModel,
    weights: WeightsVisibility,
) -> Result<u32, CircuitError> {
    if weights.is_fixed() {
        return Ok(0);
    }
    Ok(param_tensors(model)?
        .iter()
        .map(ParamTensor::width)
        .filter(|b| *b <= PACK_MAX_BITS)
        .max()
        .unwrap_or(0))
}

/// The parameter cells of one node.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeParams {
    /// Weight cells, in the model's order.
    pub weight: Vec<AssignedVar<Fr>>,
    /// Bias cells.
    pub bias: Vec<AssignedVar<Fr>>,
    /// `AddConst` / `MulConst` constant cells.
    pub constant: Vec<AssignedVar<Fr>>,
}

/// The committed parameter cells and the digest cell.
pub(crate) struct CommittedParams {
    /// Cells per node index (`None` for nodes without parameters).
    pub nodes: Vec<Option<NodeParams>>,
    /// The Poseidon digest, bound to the weights-commitment instance.
    pub digest: AssignedVar<Fr>,
}

/// A deliberate fault in the committed parameters (tests only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamFault {
    /// Commit to weight `index` of node `layer` plus one (the layer then uses that value too).
    Committed { layer: usize, index: usize },
    /// Weight `index` of node `layer` plus `2^b`, weight `index + 1` minus one: the packed
    /// element (and so the digest) is unchanged, the values are not.
    PackOverflow { layer: usize, index: usize },
}

/// Assigns, range-checks, packs and hashes every parameter. `known` is false for key
/// generation (values unknown).
pub(crate) fn commit_params(
    config: &ModelConfig,
    poseidon: &PoseidonChip,
    region: &mut Region<'_, Fr>,
    rows: &mut RowAllocator,
    model: &QuantizedModel,
    known: bool,
    fault: Option<ParamFault>,
) -> Result<CommittedParams, CircuitError> {
    let dense = config.dense_chip::<Fr>();
    let range = config.range_chip::<Fr>();
    let mut nodes: Vec<Option<NodeParams>> = vec![None; model.nodes.len()];
    let mut elements = Vec::new();
    for tensor in param_tensors(model)? {
        let bits = tensor.width();
        let mut values: Vec<i64> = tensor.values.to_vec();
        if tensor.kind != ParamKind::Bias {
            apply_fault(&mut values, tensor.node, bits, fault);
        }
        let as_values = |vs: &[i64]| -> Vec<Value<Fr>> {
            vs.iter()
                .map(|v| {
                    if known {
                        Value::known(fe_from_i64(*v))
                    } else {
                        Value::unknown()
                    }
                })
                .collect()
        };
        let cells = match chunk_len(bits) {
            Some(m) => {
                let mut cells = Vec::with_capacity(values.len());
                for chunk in values.chunks(m) {
                    let (coeffs, offset) = packing(bits, chunk.len());
                    let (chunk_cells, packed) =
                        dense.pack(region, rows, &as_values(chunk), &coeffs, offset)?;
                    elements.push(packed);
                    cells.extend(chunk_cells);
                }
                range.check_all(region, rows, &cells, RangeSpec::signed(bits)?)?;
                cells
            }
            None => {
                let cells = config.assign_inputs(region, rows, &as_values(&values))?;
                elements.extend(cells.iter().cloned());
                cells
            }
        };
        let slot = nodes
            .get_mut(tensor.node)
            .ok_or(CircuitError::EmptyInput { op: "model node" })?
            .get_or_insert_with(NodeParams::default);
        match tensor.kind {
            ParamKind::Weight => slot.weight = cells,
            ParamKind::Bias => slot.bias = cells,
            ParamKind::Constant => slot.constant = cells,
        }
    }
    let digest = poseidon.hash(region, rows, &elements)?;
    Ok(CommittedParams { nodes, digest })
}

fn apply_fault(values: &mut [i64], node: usize, bits: u32, fault: Option<ParamFault>) {
    match fault {
        Some(ParamFault::Committed { layer, index }) if layer == node => {
            if let Some(v) = values.get_mut(index) {
                *v += 1;
            }
        }
        Some(ParamFault::PackOverflow { layer, index })
            if layer == node && index + 1 < values.len() && bits < 62 =>
        {
            values[index] += 1i64 << bits;
            values[index + 1] -= 1;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(signed_width(&[]), 1);
        assert_eq!(signed_width(&[0]), 1);
        assert_eq!(signed_width(&[-1]), 1);
        assert_eq!(signed_width(&[1]), 2);
        assert_eq!(signed_width(&[-128, 127]), 8);
        assert_eq!(signed_width(&[128]), 9);
        assert_eq!(signed_width(&[-129]), 9);
        assert_eq!(signed_width(&[i64::MIN, i64::MAX]), 64);
    }

    #[test]
    fn packing_is_the_offset_base_2b_number() {
        // b = 4: values −8..8 shift to 0..16, digits of a base-16 number.
        let t = ParamTensor {
            node: 0,
            kind: ParamKind::Weight,
            values: &[-8, 7, 0, 3],
        };
        assert_eq!(t.width(), 4);
        assert_eq!(t.chunk(), Some(63));
        // Digits 0, 15, 8, 11 (base 16, least significant first).
        let expected = Fr::from(15 * 16 + 8 * 256 + 11 * 4096);
        assert_eq!(tensor_elements(&t), vec![expected]);
        // Wide tensors are not packed.
        let wide = ParamTensor {
            node: 0,
            kind: ParamKind::Bias,
            values: &[1 << 20, -5],
        };
        assert_eq!(wide.chunk(), None);
        assert_eq!(
            tensor_elements(&wide),
            vec![Fr::from(1 << 20), -Fr::from(5)]
        );
        // Chunks: 16-bit values, 15 per element.
        let many: Vec<i64> = (0..31).map(|i| i * 2000 - 30_000).collect();
        let t = ParamTensor {
            node: 0,
            kind: ParamKind::Weight,
            values: &many,
        };
        assert_eq!(t.width(), 16);
        assert_eq!(tensor_elements(&t).len(), 3);
    }
}
