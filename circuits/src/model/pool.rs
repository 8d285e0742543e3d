//! Pooling layers over `[channels][h][w]` values. Padding cells never take part: a window is
//! the list of its in-bounds input cells (`PoolGeom::window`).
//!
//! * AvgPool: the window sum is a dot product with weights 1, then a rounded division by the
//!   number of valid cells (or the full window size with `count_include_pad`).
//! * MaxPool: the max chip over the window's cells.

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;
use zkgrid_models::graph::PoolGeom;

use super::layer::LayerCx;
use super::linear::check_len;
use super::tamper::Tamper;
use crate::error::CircuitError;
use crate::layout::AssignedVar;

/// The in-bounds input cells of one window and the window's full size including padding.
type Window = (Vec<AssignedVar<Fr>>, usize);

/// Every window, in output order (`[c][oy][ox]`).
fn windows(x: &[AssignedVar<Fr>], geom: &PoolGeom) -> Result<Vec<Window>, CircuitError> {
    let [ih, iw] = geom.in_hw;
    check_len("pool input", geom.channels * ih * iw, x.len())?;
    let mut out = Vec::with_capacity(geom.channels * geom.out_hw[0] * geom.out_hw[1]);
    for c in 0..geom.channels {
        for oy in 0..geom.out_hw[0] {
            for ox in 0..geom.out_hw[1] {
                let (positions, full) = geom.window(oy, ox);
                let cells = positions
                    .iter()
                    .map(|&(y, xx)| {
                        x.get((c * ih + y) * iw + xx)
                            .cloned()
                            .ok_or(CircuitError::LengthMismatch {
                                what: "pool input",
                                expected: geom.channels * ih * iw,
                                got: x.len(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if cells.is_empty() {
                    return Err(CircuitError::EmptyInput {
                        op: "pooling window",
                    });
                }
                out.push((cells, full));
            }
        }
    }
    Ok(out)
}

/// `y = div_round(Σ window, n)`, `n` = valid cells, or the full window size with
/// `count_include_pad`.
pub(crate) fn avg_pool(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    geom: &PoolGeom,
    count_include_pad: bool,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let dense = cx.config.dense_chip::<Fr>();
    let mut sums = Vec::new();
    let mut divisors = Vec::new();
    for (cells, full) in windows(x, geom)? {
        let n = if count_include_pad { full } else { cells.len() };
        let ones = vec![1i64; cells.len()];
        sums.push(dense.dot(cx.region, cx.rows, &cells, &ones, 0)?);
        divisors.push(u64::try_from(n).map_err(|_| CircuitError::InvalidConstant {
            op: "avg pool",
            name: "divisor",
            value: i128::MAX,
        })?);
    }
    cx.divide(&sums, &divisors, true)
}

/// `y = max(window)`.
pub(crate) fn max_pool(
    cx: &mut LayerCx<'_, '_>,
    x: &[AssignedVar<Fr>],
    geom: &PoolGeom,
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let chip = cx.config.max_chip::<Fr>()?;
    let lie = Tamper::max_at(cx.tamper, cx.layer);
    let with_witness = windows(x, geom)?
        .into_iter()
        .enumerate()
        .map(|(i, (cells, _))| {
            let mut witness = chip.max_witness(&cells)?;
            if lie == Some(i) {
                witness.y = witness.y + Value::known(Fr::ONE);
            }
            Ok((cells, witness))
        })
        .collect::<Result<Vec<_>, CircuitError>>()?;
    let outputs = chip.assign(cx.region, cx.rows, &with_witness, cx.bits)?;
    Ok(outputs.into_iter().map(|o| o.max).collect())
}
