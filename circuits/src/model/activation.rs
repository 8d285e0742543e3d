//! Element-wise activations: ReLU, LeakyReLU and tabulated non-linearities (`Lookup`).

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;

use super::layer::LayerCx;
use super::tamper::Tamper;
use crate::chips::arith::ArithOp;
use crate::chips::lookup::{TableLookupChip, TableSpec};
use crate::chips::relu::{LeakyParams, ReluWitness};
use crate::error::CircuitError;
use crate::field::value_to_option;
use crate::layout::AssignedVar;

/// `y = max(x, 0)`; also proves `x` is an activation.
pub(crate) fn relu(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let chip = cx.config.relu_chip::<Fr>();
    let lie = Tamper::relu_at(cx.tamper, cx.layer);
    let ops = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut witness = chip.relu_witness(v)?;
            if lie == Some(i) {
                witness = wrong_branch(v, witness)?;
            }
            Ok((v.clone(), witness))
        })
        .collect::<Result<Vec<_>, CircuitError>>()?;
    chip.assign_relu(cx.region, cx.rows, &ops, cx.bits)
}

/// The witness of the other branch: `y = x` with sign 1 for a negative `x`, `y = 0` with
/// sign 0 for a non-negative one. The gates hold; only the sign's range check can object.
fn wrong_branch(
    x: &AssignedVar<Fr>,
    honest: ReluWitness<Fr>,
) -> Result<ReluWitness<Fr>, CircuitError> {
    let Some(value) = x.value_i128("relu")? else {
        return Ok(honest);
    };
    let fe = value_to_option(x.value()).unwrap_or(Fr::ZERO);
    Ok(if value < 0 {
        ReluWitness {
            sgn: Value::known(Fr::ONE),
            t: Value::known(fe),
            y: Value::known(fe),
        }
    } else {
        ReluWitness {
            sgn: Value::known(Fr::ZERO),
            t: Value::known(-fe - Fr::ONE),
            y: Value::known(Fr::ZERO),
        }
    })
}

/// `y = x ≥ 0 ? x : rescale(x·α, s)` with the executor's `α ≥ 0` and `s ≥ 0`.
///
/// The chip needs `α ≥ 1` and `s ≥ 1`: `α = 0` is ReLU (`rescale(0, s) = 0`), and `s = 0` is
/// the same function as `(2α, 1)` (`⌊(2αx + 1)/2⌋ = αx`).
pub(crate) fn leaky_relu(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    alpha: i64,
    alpha_shift: u32,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let op = "leaky relu";
    let alpha = u64::try_from(alpha).map_err(|_| CircuitError::InvalidConstant {
        op,
        name: "alpha",
        value: i128::from(alpha),
    })?;
    if alpha == 0 {
        return relu(cx, x);
    }
    let params = if alpha_shift == 0 {
        LeakyParams {
            alpha: alpha.checked_mul(2).ok_or(CircuitError::InvalidConstant {
                op,
                name: "alpha",
                value: i128::from(alpha),
            })?,
            shift: 1,
        }
    } else {
        LeakyParams {
            alpha,
            shift: alpha_shift,
        }
    };
    let chip = cx.config.relu_chip::<Fr>();
    let lie = Tamper::leaky_at(cx.tamper, cx.layer);
    let ops = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut witness = chip.leaky_witness(v, params)?;
            if lie == Some(i) {
                witness.y = witness.y + Value::known(Fr::ONE);
            }
            Ok((v.clone(), witness))
        })
        .collect::<Result<Vec<_>, CircuitError>>()?;
    chip.assign_leaky(cx.region, cx.rows, &ops, params, cx.bits)
}

/// `t = clamp(rescale(x, in_shift), −H, H − 1)`, `y = table[t + H] (+ max(x, 0) if add_relu)`,
/// range-checked.
pub(crate) fn lookup(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    spec: &TableSpec<'_>,
    in_shift: u32,
    add_relu: bool,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let config = cx.lookup.ok_or(CircuitError::NotConfigured)?;
    let chip = TableLookupChip::<Fr>::construct(config.clone());
    let r = cx.rescale_operand(x, in_shift)?;
    let lie = Tamper::lookup_at(cx.tamper, cx.layer);
    let ops = r
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut witness = chip.witness(v, spec)?;
            if lie == Some(i) {
                witness.y = witness.y + Value::known(Fr::ONE);
            }
            Ok((v.clone(), witness))
        })
        .collect::<Result<Vec<_>, CircuitError>>()?;
    let looked_up = chip.assign(cx.region, cx.rows, &ops, spec, cx.bits)?;
    if add_relu {
        let rectified = relu(cx, x)?;
        cx.config.arith_chip::<Fr>()?.elementwise(
            cx.region,
            cx.rows,
            &looked_up,
            &rectified,
            ArithOp::Add,
            cx.bits,
        )
    } else {
        cx.range_check(&looked_up)?;
        Ok(looked_up)
    }
}
