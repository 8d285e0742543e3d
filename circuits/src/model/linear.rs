//! Dense and Conv2d layers: one dot product per output (weights and bias in fixed columns,
//! inputs copied into the lanes), then a rescale to the output scale.
//!
//! A convolution is laid out im2col-style: each output position is a dot product over the
//! input cells of its window, copied from the previous layer; padding cells contribute
//! nothing and are simply left out of the dot product.

use halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_models::graph::ConvGeom;

use std::borrow::Cow;

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field as _;

use super::layer::LayerCx;
use super::tamper::Tamper;
use crate::error::CircuitError;
use crate::layout::AssignedVar;

/// The parameters of a dense layer, borrowed from the model.
pub(crate) struct DenseLayer<'m> {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Row-major `[out][in]`.
    pub weight: &'m [i64],
    /// `[out]`.
    pub bias: &'m [i64],
    /// Rescale shift.
    pub shift: u32,
}

/// `y[o] = rescale(bias[o] + Σ_i weight[o][i]·x[i], shift)`.
pub(crate) fn dense(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    layer: &DenseLayer<'_>,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let n = layer.in_features;
    check_len("dense input", n, x.len())?;
    check_len("dense weight", n * layer.out_features, layer.weight.len())?;
    check_len("dense bias", layer.out_features, layer.bias.len())?;
    let chip = cx.config.dense_chip::<Fr>();
    let accs = match cx.private_params()? {
        Some(params) => {
            check_len(
                "dense weight cells",
                layer.weight.len(),
                params.weight.len(),
            )?;
            check_len("dense bias cells", layer.bias.len(), params.bias.len())?;
            let weights = lying_weights(cx, &params.weight);
            let mut accs = Vec::with_capacity(layer.out_features);
            for (o, b) in params.bias.iter().enumerate() {
                let w = weights
                    .get(o * n..(o + 1) * n)
                    .ok_or(CircuitError::LengthMismatch {
                        what: "dense weight cells",
                        expected: n * layer.out_features,
                        got: weights.len(),
                    })?;
                accs.push(chip.dot_private(cx.region, cx.rows, x, w, b)?);
            }
            accs
        }
        None => layer
            .weight
            .chunks(n.max(1))
            .take(layer.out_features)
            .zip(layer.bias)
            .map(|(w, b)| chip.dot(cx.region, cx.rows, x, &w[..n], *b))
            .collect::<Result<Vec<_>, _>>()?,
    };
    cx.rescale_out(&accs, layer.shift)
}

/// Convolution `[oc][oy][ox] = rescale(bias[oc] + Σ w[oc][ic][ky][kx]·x[ic][y][x], shift)`
/// over the window's non-padding cells.
pub(crate) fn conv2d(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    geom: &ConvGeom,
    weight: &[i64],
    bias: &[i64],
    shift: u32,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let g = geom;
    let [ih, iw] = g.in_hw;
    let [kh, kw] = g.kernel;
    check_len("conv input", g.in_channels * ih * iw, x.len())?;
    check_len(
        "conv weight",
        g.out_channels * g.in_channels * kh * kw,
        weight.len(),
    )?;
    check_len("conv bias", g.out_channels, bias.len())?;
    let chip = cx.config.dense_chip::<Fr>();
    let private = cx.private_params()?;
    let private_weights = match private {
        Some(p) => {
            check_len("conv weight cells", weight.len(), p.weight.len())?;
            check_len("conv bias cells", bias.len(), p.bias.len())?;
            lying_weights(cx, &p.weight)
        }
        None => Cow::Borrowed(&[][..]),
    };
    let mut accs = Vec::with_capacity(g.out_channels * g.out_hw[0] * g.out_hw[1]);
    let mut cells = Vec::with_capacity(g.in_channels * kh * kw);
    let mut ws = Vec::with_capacity(g.in_channels * kh * kw);
    let mut w_cells = Vec::with_capacity(g.in_channels * kh * kw);
    for (oc, b) in bias.iter().enumerate() {
        for oy in 0..g.out_hw[0] {
            for ox in 0..g.out_hw[1] {
                cells.clear();
                ws.clear();
                w_cells.clear();
                for ic in 0..g.in_channels {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some((y, xx)) = g.input_pos(oy, ox, ky, kx) {
                                let wi = ((oc * g.in_channels + ic) * kh + ky) * kw + kx;
                                ws.push(weight[wi]);
                                if let Some(w) = private_weights.get(wi) {
                                    w_cells.push(w.clone());
                                }
                                cells.push(x[(ic * ih + y) * iw + xx].clone());
                            }
                        }
                    }
                }
                let acc = match private.and_then(|p| p.bias.get(oc)) {
                    Some(b_cell) => {
                        chip.dot_private(cx.region, cx.rows, &cells, &w_cells, b_cell)?
                    }
                    None => chip.dot(cx.region, cx.rows, &cells, &ws, *b)?,
                };
                accs.push(acc);
            }
        }
    }
    cx.rescale_out(&accs, shift)
}

/// The committed weight cells as a layer uses them; with a [`Tamper::PrivateWeight`] fault of
/// this layer, one of them carries another value than its committed cell (tests only).
/// Borrows the cells unless a fault applies (no copy on the honest path).
pub(crate) fn lying_weights<'w>(
    cx: &LayerCx<'_, '_>,
    weights: &'w [AssignedVar<Fr>],
) -> Cow<'w, [AssignedVar<Fr>]> {
    match Tamper::private_weight_at(cx.tamper, cx.layer) {
        Some(i) if i < weights.len() => {
            let mut out = weights.to_vec();
            out[i] = out[i].with_value(out[i].value() + Value::known(Fr::ONE));
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(weights),
    }
}

pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    got: usize,
) -> Result<(), CircuitError> {
    if expected == got {
        Ok(())
    } else {
        Err(CircuitError::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}
