//! A quantized model on the narrow [`Tape`]: the same statement as the pool backend
//! ([`crate::model`]) — the integer semantics of `zkgrid_models::execute`, the public instances
//! of [`mod@crate::model::instances`] — in one advice column.
//!
//! Supported: Dense and Conv2d (weights and biases as gate coefficients, so the verifying key
//! commits to them; a convolution is one dot product per output, padding left out), Relu and
//! Reshape, with the input and the output public or hashed (Poseidon
//! `hash_many`) and fixed weights. Anything else is [`CircuitError::UnsupportedOp`] (or
//! [`CircuitError::InvalidParams`] for hashed weights or a private input); the planner then
//! offers only pool layouts.
//!
//! Per value:
//!
//! * input: `x + 2^(b−1)` decomposed into `b` bits (each `b·b = b`), ≈ `4.5·b + 4` rows;
//! * dense or convolution output `o`: `acc = bias + Σ wᵢ·xᵢ` as a lin chain (≈ 1.5 rows per nonzero weight);
//!   with a shift `s > 0` the quotient `y` is a witness and `r = acc + 2^(s−1) − 2^s·y` is
//!   range-checked to `s` bits and `y` to the activation range, which makes `y` the rounded
//!   quotient (both sides are small integers, so the field equation is an integer one);
//! * ReLU of `x`: a sign bit `t`, `y = t·x` and `z = 2y + t − x − 1` range-checked to `b − 1`
//!   bits: `t = 1` forces `0 ≤ x`, `t = 0` forces `x < 0` (then `y = 0`).

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;
use zkgrid_models::fixed::rescale;
use zkgrid_models::graph::ConvGeom;
use zkgrid_models::{QOp, QuantizedModel};

use super::{poseidon, Tape, Var};
use crate::error::CircuitError;
use crate::field::{
    fe_from_i128, fe_from_i64, fe_from_u128, fe_to_i128, fe_to_i64, value_to_option,
};
use crate::model::settings::{InputVisibility, OutputVisibility, Visibility};
use crate::model::tamper::Tamper;
use crate::model::ModelWitness;

/// Whether the narrow backend can lay out `model` under `visibility`.
pub fn check_supported(model: &QuantizedModel, visibility: Visibility) -> Result<(), CircuitError> {
    if visibility.hashed_weights() {
        return Err(CircuitError::InvalidParams {
            parameter: "narrow",
            value: 1,
            expected: "fixed weights with the narrow backend",
        });
    }
    if visibility.input == InputVisibility::Private {
        return Err(CircuitError::InvalidParams {
            parameter: "narrow",
            value: 1,
            expected: "a public or hashed input with the narrow backend",
        });
    }
    if !(2..=62).contains(&model.bits) {
        return Err(CircuitError::InvalidBitWidth {
            op: "narrow model activations",
            bits: model.bits,
        });
    }
    for node in &model.nodes {
        match &node.op {
            QOp::Dense { shift, .. } | QOp::Conv2d { shift, .. } if *shift <= 62 => {}
            QOp::Relu | QOp::Reshape => {}
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

/// What laying a model out on a tape produced.
pub(crate) struct NarrowLayout {
    /// The rows.
    pub tape: Tape,
    /// The rows bound to the instance column, in instance order.
    pub public: Vec<Var>,
    /// The output values, when the witness is known.
    pub output: Option<Vec<i64>>,
}

/// Rows `model` takes under `visibility` (laid out on a counting tape: constant memory
/// whatever the model's size).
pub fn count_rows(model: &QuantizedModel, visibility: Visibility) -> Result<usize, CircuitError> {
    Ok(lay_out(model, visibility, None, None, Tape::counting())?
        .tape
        .rows())
}

/// Lays out `model` under `visibility` on `tape` (a fresh one: [`Tape::new`] with the
/// circuit's usable rows, or [`Tape::counting`]).
pub(crate) fn lay_out(
    model: &QuantizedModel,
    visibility: Visibility,
    witness: Option<&ModelWitness>,
    tamper: Option<Tamper>,
    mut tape: Tape,
) -> Result<NarrowLayout, CircuitError> {
    check_supported(model, visibility)?;
    let n_input: usize = model.input.shape.iter().product();
    let input: Vec<Var> = match witness {
        Some(w) => {
            if w.input.len() != n_input {
                return Err(CircuitError::LengthMismatch {
                    what: "model input",
                    expected: n_input,
                    got: w.input.len(),
                });
            }
            w.input
                .iter()
                .map(|x| tape.witness(Value::known(fe_from_i64(*x))))
                .collect::<Result<_, _>>()?
        }
        None => (0..n_input)
            .map(|_| tape.witness(Value::unknown()))
            .collect::<Result<_, _>>()?,
    };
    for x in &input {
        tape.range_check_signed(x, model.bits)?;
    }
    let mut values: Vec<Vec<Var>> = Vec::with_capacity(model.nodes.len() + 1);
    values.push(input);
    for (layer, node) in model.nodes.iter().enumerate() {
        let x = node
            .inputs
            .first()
            .and_then(|i| values.get(*i))
            .ok_or(CircuitError::EmptyInput {
                op: "model node input",
            })?
            .clone();
        let out = match &node.op {
            QOp::Dense {
                in_features,
                out_features,
                weight,
                bias,
                shift,
            } => rescaled_dots(
                &mut tape,
                dense_dots(&x, *in_features, *out_features, weight, bias)?,
                *shift,
                model.bits,
                Tamper::quotient_at(tamper, layer),
            )?,
            QOp::Conv2d {
                geom,
                weight,
                bias,
                shift,
            } => rescaled_dots(
                &mut tape,
                conv_dots(&x, geom, weight, bias)?,
                *shift,
                model.bits,
                Tamper::quotient_at(tamper, layer),
            )?,
            QOp::Relu => relu(&mut tape, &x, model.bits, Tamper::relu_at(tamper, layer))?,
            QOp::Reshape => x,
            other => {
                return Err(CircuitError::UnsupportedOp {
                    layer: node.name.clone(),
                    kind: other.kind(),
                })
            }
        };
        values.push(out);
    }
    let input = values.first().cloned().unwrap_or_default();
    let output = values.last().cloned().unwrap_or_default();
    let mut public = Vec::new();
    match visibility.input {
        InputVisibility::Public => public.extend(input.iter().copied()),
        InputVisibility::Hashed => public.push(poseidon::hash_many(&mut tape, &input)?),
        InputVisibility::Private => {}
    }
    match visibility.output {
        OutputVisibility::Public => public.extend(output.iter().copied()),
        OutputVisibility::Hashed => public.push(poseidon::hash_many(&mut tape, &output)?),
    }
    let recipient = witness.map_or(Value::unknown(), |w| Value::known(w.recipient));
    public.push(tape.witness(recipient)?);
    let output_values = output
        .iter()
        .map(|v| value_to_option(v.value()).and_then(|f| fe_to_i64(&f)))
        .collect::<Option<Vec<i64>>>();
    Ok(NarrowLayout {
        tape,
        public,
        output: output_values,
    })
}

/// One dot product per output: its bias and its `(weight, input)` terms.
type Dots = Vec<(i64, Vec<(i64, Var)>)>;

/// A dense layer's dot products: row `o` of the `out_features × in_features` weights with `x`.
fn dense_dots(
    x: &[Var],
    in_features: usize,
    out_features: usize,
    weight: &[i64],
    bias: &[i64],
) -> Result<Dots, CircuitError> {
    if x.len() != in_features
        || weight.len() != in_features * out_features
        || bias.len() != out_features
    {
        return Err(CircuitError::LengthMismatch {
            what: "dense layer operands",
            expected: in_features,
            got: x.len(),
        });
    }
    Ok(bias
        .iter()
        .enumerate()
        .map(|(o, b)| {
            let row = weight
                .get(o * in_features..(o + 1) * in_features)
                .unwrap_or(&[]);
            (*b, row.iter().copied().zip(x.iter().copied()).collect())
        })
        .collect())
}

/// A convolution's dot products, one per output (channel-major, then rows, then columns, as
/// the executor), padding cells left out.
fn conv_dots(x: &[Var], g: &ConvGeom, weight: &[i64], bias: &[i64]) -> Result<Dots, CircuitError> {
    let [ih, iw] = g.in_hw;
    let [kh, kw] = g.kernel;
    let taps = g.in_channels * kh * kw;
    if x.len() != g.in_channels * ih * iw
        || weight.len() != g.out_channels * taps
        || bias.len() != g.out_channels
    {
        return Err(CircuitError::LengthMismatch {
            what: "conv2d layer operands",
            expected: g.in_channels * ih * iw,
            got: x.len(),
        });
    }
    let mut dots = Vec::with_capacity(g.out_channels * g.out_hw[0] * g.out_hw[1]);
    for (oc, b) in bias.iter().enumerate() {
        for oy in 0..g.out_hw[0] {
            for ox in 0..g.out_hw[1] {
                let mut terms = Vec::with_capacity(taps);
                for ic in 0..g.in_channels {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some((y, xx)) = g.input_pos(oy, ox, ky, kx) {
                                let w = weight[((oc * g.in_channels + ic) * kh + ky) * kw + kx];
                                terms.push((w, x[(ic * ih + y) * iw + xx]));
                            }
                        }
                    }
                }
                dots.push((*b, terms));
            }
        }
    }
    Ok(dots)
}

/// `rescale(bias + Σ w·x, shift)` for each `(bias, terms)`, range-checked to the signed
/// `bits`-bit range. Zero weights take no row. When `lie` names an output, its quotient is
/// off by one (soundness tests).
fn rescaled_dots(
    tape: &mut Tape,
    outputs: Dots,
    shift: u32,
    bits: u32,
    lie: Option<usize>,
) -> Result<Vec<Var>, CircuitError> {
    let mut out = Vec::with_capacity(outputs.len());
    for (o, (bias, terms)) in outputs.into_iter().enumerate() {
        let terms: Vec<(Fr, Var)> = terms
            .into_iter()
            .filter(|(w, _)| *w != 0)
            .map(|(w, v)| (fe_from_i64(w), v))
            .collect();
        let acc = tape.lincomb(fe_from_i64(bias), &terms)?;
        let y = if shift == 0 {
            acc
        } else {
            let n = 1u128 << shift;
            let mut quotient = acc.value().map(|a| match fe_to_i128(&a) {
                Some(a) => fe_from_i128(rescale(a, shift)),
                // Not a small integer: no quotient exists and the checks below fail.
                None => Fr::ZERO,
            });
            if lie == Some(o) {
                quotient = quotient + Value::known(Fr::ONE);
            }
            let y = tape.witness(quotient)?;
            let zero = tape.constant(Fr::ZERO)?;
            let remainder = tape.lin(
                &acc,
                fe_from_u128(n / 2),
                (-fe_from_u128::<Fr>(n), &y),
                (Fr::ZERO, &zero),
            )?;
            tape.range_check(&remainder, shift)?;
            y
        };
        tape.range_check_signed(&y, bits)?;
        out.push(y);
    }
    Ok(out)
}

/// `max(x, 0)` per value of activations already in the `bits`-bit range.
fn relu(
    tape: &mut Tape,
    x: &[Var],
    bits: u32,
    lie: Option<usize>,
) -> Result<Vec<Var>, CircuitError> {
    x.iter()
        .enumerate()
        .map(|(i, x)| {
            let mut sign = x.value().map(|v| match fe_to_i128(&v) {
                Some(v) if v >= 0 => Fr::ONE,
                _ => Fr::ZERO,
            });
            if lie == Some(i) {
                sign = sign.map(|t| Fr::ONE - t);
            }
            let t = tape.witness(sign)?;
            tape.assert_bit(&t)?;
            let y = tape.mul(&t, x)?;
            let z = tape.lin(&t, -Fr::ONE, (Fr::from(2), &y), (-Fr::ONE, x))?;
            tape.range_check(&z, bits - 1)?;
            Ok(y)
        })
        .collect()
}
