//! Dense and Conv2d layers: one dot product per output (weights and bias in fixed columns,
//! inputs copied into the lanes), then a rescale to the output scale.
//!
//! A convolution is laid out im2col-style: each output position is a dot product over the
//! input cells of its window, copied from the previous layer; padding cells contribute
//! nothing and are simply left out of the dot product.

use halo2_proofs::halo2curves::bn256::Fr;
use zkgrid_models::graph::ConvGeom;

use super::layer::LayerCx;
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
    let accs = layer
        .weight
        .chunks(n.max(1))
        .take(layer.out_features)
        .zip(layer.bias)
        .map(|(w, b)| chip.dot(cx.region, cx.rows, x, &w[..n], *b))
        .collect::<Result<Vec<_>, _>>()?;
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
    let mut accs = Vec::with_capacity(g.out_channels * g.out_hw[0] * g.out_hw[1]);
    let mut cells = Vec::with_capacity(g.in_channels * kh * kw);
    let mut ws = Vec::with_capacity(g.in_channels * kh * kw);
    for (oc, b) in bias.iter().enumerate() {
        for oy in 0..g.out_hw[0] {
            for ox in 0..g.out_hw[1] {
                cells.clear();
                ws.clear();
                for ic in 0..g.in_channels {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some((y, xx)) = g.input_pos(oy, ox, ky, kx) {
                                ws.push(weight[((oc * g.in_channels + ic) * kh + ky) * kw + kx]);
                                cells.push(x[(ic * ih + y) * iw + xx].clone());
                            }
                        }
                    }
                }
                accs.push(chip.dot(cx.region, cx.rows, &cells, &ws, *b)?);
            }
        }
    }
    cx.rescale_out(&accs, shift)
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
