//! Element-wise arithmetic layers: Add / Sub of two values (each operand rescaled first),
//! Mul of two values (product, then rescale), AddConst and MulConst with per-element constants.

use halo2_proofs::halo2curves::bn256::Fr;

use super::layer::LayerCx;
use super::linear::{check_len, lying_weights};
use crate::chips::arith::ArithOp;
use crate::error::CircuitError;
use crate::layout::AssignedVar;

/// `y = rescale(a, shift_a) ± rescale(b, shift_b)`, range-checked.
pub(crate) fn add_sub(
    cx: &mut LayerCx<'_, '_>,
    a: &[AssignedVar<Fr>],
    b: &[AssignedVar<Fr>],
    shifts: (u32, u32),
    op: ArithOp,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    check_len("add / sub operands", a.len(), b.len())?;
    let ra = cx.rescale_operand(a, shifts.0)?;
    let rb = cx.rescale_operand(b, shifts.1)?;
    cx.config
        .arith_chip::<Fr>()?
        .elementwise(cx.region, cx.rows, &ra, &rb, op, cx.bits)
}

/// `y_i = rescale(x_i, shift) + constant[i]`, range-checked.
pub(crate) fn add_const(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    shift: u32,
    constant: &[i64],
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    check_len("add-const constants", x.len(), constant.len())?;
    if let Some(params) = cx.private_params()? {
        // Private constants: an addition of two cells.
        let c = lying_weights(cx, &params.constant);
        return add_sub(cx, x, &c, (shift, 0), ArithOp::Add);
    }
    let r = cx.rescale_operand(x, shift)?;
    let ones = vec![1i64; r.len()];
    let y = cx
        .config
        .affine_chip::<Fr>()?
        .affine(cx.region, cx.rows, &r, &ones, constant)?;
    cx.range_check(&y)?;
    Ok(y)
}

/// `y_i = rescale(x_i · constant[i], shift)`, range-checked.
pub(crate) fn mul_const(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    constant: &[i64],
    shift: u32,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    check_len("mul-const constants", x.len(), constant.len())?;
    if let Some(params) = cx.private_params()? {
        // Private constants: a product of two cells.
        let c = lying_weights(cx, &params.constant);
        return mul(cx, x, &c, shift);
    }
    let zeros = vec![0i64; x.len()];
    let products = cx
        .config
        .affine_chip::<Fr>()?
        .affine(cx.region, cx.rows, x, constant, &zeros)?;
    cx.rescale_out(&products, shift)
}

/// `y_i = rescale(a_i · b_i, shift)`, range-checked.
pub(crate) fn mul(
    cx: &mut LayerCx<'_, '_>,
    a: &[AssignedVar<Fr>],
    b: &[AssignedVar<Fr>],
    shift: u32,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    check_len("mul operands", a.len(), b.len())?;
    let products = cx
        .config
        .product_chip::<Fr>()?
        .mul(cx.region, cx.rows, a, b)?;
    cx.rescale_out(&products, shift)
}
