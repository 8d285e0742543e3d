//! The public-instance layout of a model circuit: the one place that defines it.
//!
//! A model circuit has a single instance column. Its values, in this order:
//!
//! | position | present when | value |
//! |---|---|---|
//! | weights | weights [`Hashed`](WeightsVisibility::Hashed) | one value: the parameters' commitment ([`super::weights`]) |
//! | input | input [`Public`](InputVisibility::Public) | every quantized input value, in the model's row-major order |
//! | input | input [`Hashed`](InputVisibility::Hashed) | one value: `hash_many(input)` |
//! | input | input [`Private`](InputVisibility::Private) | nothing |
//! | output | output [`Public`](OutputVisibility::Public) | every quantized output value, row-major |
//! | output | output [`Hashed`](OutputVisibility::Hashed) | one value: `hash_many(output)` |
//! | recipient | always | the recipient / prover address slot |
//!
//! * Integers are embedded in BN254's scalar field: `x ≥ 0 ↦ x`, `x < 0 ↦ p − |x|`.
//! * `hash_many` is the circomlib-compatible Poseidon rule of [`crate::poseidon`] applied to the
//!   embedded values ([`commitment`]), so commitments can be recomputed off-chain with
//!   circomlibjs.
//! * The recipient slot is a field element chosen by the caller, e.g. an EVM address read as a
//!   160-bit big-endian integer ([`recipient_from_address`]). The circuit copies it into an
//!   advice cell, so a proof is bound to it and cannot be replayed for another recipient.
//! * With fixed weights (the default) the weights are fixed columns, part of the verifying key,
//!   so there is no weights instance: the verifying key identifies the model. With hashed
//!   weights the verifying key identifies the architecture and the first instance the weights.
//!   It sits right before the input so that a settlement task's input range can cover both.

use std::ops::Range;

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;
use zkgrid_models::QuantizedModel;

use super::settings::{InputVisibility, OutputVisibility, Visibility, WeightsVisibility};
use super::weights::weights_commitment;
use crate::error::CircuitError;
use crate::field::{fe_from_i64, fe_to_i64};
use crate::poseidon::hash_many;

/// Positions of the input, output and recipient in the instance vector of one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceLayout {
    visibility: Visibility,
    input_len: usize,
    output_len: usize,
    bits: u32,
    weights: Option<usize>,
    input: Range<usize>,
    output: Range<usize>,
    recipient: usize,
    /// The weights commitment, once computed ([`InstanceLayout::for_model`]).
    weights_commitment: Option<Fr>,
}

impl InstanceLayout {
    /// The layout and the weights commitment for `model` under `visibility`: what
    /// [`InstanceLayout::instances`] needs with hashed weights (it hashes the parameters once).
    pub fn for_model(model: &QuantizedModel, visibility: Visibility) -> Result<Self, CircuitError> {
        let mut layout = Self::new(model, visibility);
        if visibility.hashed_weights() {
            layout.weights_commitment = Some(weights_commitment(model)?);
        }
        Ok(layout)
    }

    /// The positions for `model` under `visibility` (cheap: no hashing; see
    /// [`InstanceLayout::for_model`] for building instances with hashed weights).
    pub fn new(model: &QuantizedModel, visibility: Visibility) -> Self {
        let input_len = model.input.shape.iter().product();
        let output_len = model.output_shape().iter().product();
        let input_slots = match visibility.input {
            InputVisibility::Public => input_len,
            InputVisibility::Hashed => 1,
            InputVisibility::Private => 0,
        };
        let output_slots = match visibility.output {
            OutputVisibility::Public => output_len,
            OutputVisibility::Hashed => 1,
        };
        let weights = match visibility.weights {
            WeightsVisibility::Fixed => None,
            WeightsVisibility::Hashed => Some(0),
        };
        let first = usize::from(weights.is_some());
        let input = first..first + input_slots;
        let output = input.end..input.end + output_slots;
        Self {
            visibility,
            input_len,
            output_len,
            bits: model.bits,
            recipient: output.end,
            weights,
            input,
            output,
            weights_commitment: None,
        }
    }

    /// Number of instance values.
    pub fn len(&self) -> usize {
        self.recipient + 1
    }

    /// Always false: the recipient slot is always present.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Position of the weights commitment (hashed weights only).
    pub fn weights_index(&self) -> Option<usize> {
        self.weights
    }

    /// The weights commitment of an instance vector (hashed weights only).
    pub fn weights_commitment(&self, instances: &[Fr]) -> Result<Option<Fr>, CircuitError> {
        check_len("instances", self.len(), instances.len())?;
        Ok(self.weights.and_then(|i| instances.get(i).copied()))
    }

    /// Positions of the input values (or of the input hash); empty for a private input.
    pub fn input_range(&self) -> Range<usize> {
        self.input.clone()
    }

    /// Positions of the output values (or of the output hash).
    pub fn output_range(&self) -> Range<usize> {
        self.output.clone()
    }

    /// The instances a settlement task pins (its "input" range): the weights commitment with
    /// hashed weights, then the input values or the input hash. Empty for fixed weights and a
    /// private input.
    pub fn task_range(&self) -> Range<usize> {
        self.weights.unwrap_or(self.input.start)..self.input.end
    }

    /// Position of the recipient slot (the last one).
    pub fn recipient_index(&self) -> usize {
        self.recipient
    }

    /// The visibility this layout was made for.
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// The instance vector for a quantized input, its output and the recipient.
    pub fn instances(
        &self,
        input_q: &[i64],
        output_q: &[i64],
        recipient: Fr,
    ) -> Result<Vec<Fr>, CircuitError> {
        check_len("instance input values", self.input_len, input_q.len())?;
        check_len("instance output values", self.output_len, output_q.len())?;
        let mut out = Vec::with_capacity(self.len());
        if self.weights.is_some() {
            out.push(self.weights_commitment.ok_or(CircuitError::InvalidParams {
                parameter: "weights commitment",
                value: 0,
                expected: "an instance layout made with InstanceLayout::for_model",
            })?);
        }
        match self.visibility.input {
            InputVisibility::Public => out.extend(input_q.iter().map(|x| fe_from_i64::<Fr>(*x))),
            InputVisibility::Hashed => out.push(commitment(input_q)),
            InputVisibility::Private => {}
        }
        match self.visibility.output {
            OutputVisibility::Public => out.extend(output_q.iter().map(|x| fe_from_i64::<Fr>(*x))),
            OutputVisibility::Hashed => out.push(commitment(output_q)),
        }
        out.push(recipient);
        Ok(out)
    }

    /// The quantized output read back from an instance vector: `Ok(None)` when the output is
    /// hashed. Every value must be an integer of the model's activation range.
    pub fn decode_output(&self, instances: &[Fr]) -> Result<Option<Vec<i64>>, CircuitError> {
        check_len("instances", self.len(), instances.len())?;
        if self.visibility.output == OutputVisibility::Hashed {
            return Ok(None);
        }
        let half = 1i64 << (self.bits.clamp(1, 63) - 1);
        self.output
            .clone()
            .map(|index| {
                instances
                    .get(index)
                    .and_then(fe_to_i64)
                    .filter(|v| (-half..half).contains(v))
                    .ok_or(CircuitError::InvalidInstance {
                        index,
                        what: "quantized output value",
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The recipient slot of an instance vector.
    pub fn recipient(&self, instances: &[Fr]) -> Result<Fr, CircuitError> {
        check_len("instances", self.len(), instances.len())?;
        instances
            .get(self.recipient)
            .copied()
            .ok_or(CircuitError::InvalidInstance {
                index: self.recipient,
                what: "recipient",
            })
    }
}

/// The public instances of `model` under `visibility` for a quantized input, its output (as
/// computed by `zkgrid_models::execute`) and the recipient slot.
pub fn instances(
    model: &QuantizedModel,
    visibility: Visibility,
    input_q: &[i64],
    output_q: &[i64],
    recipient: Fr,
) -> Result<Vec<Fr>, CircuitError> {
    InstanceLayout::for_model(model, visibility)?.instances(input_q, output_q, recipient)
}

/// The quantized output from an instance vector (`Ok(None)` when the output is hashed).
pub fn decode_output(
    model: &QuantizedModel,
    visibility: Visibility,
    instances: &[Fr],
) -> Result<Option<Vec<i64>>, CircuitError> {
    InstanceLayout::new(model, visibility).decode_output(instances)
}

/// The Poseidon commitment of quantized values: `hash_many` of their field embeddings.
pub fn commitment(values: &[i64]) -> Fr {
    let embedded: Vec<Fr> = values.iter().map(|x| fe_from_i64(*x)).collect();
    hash_many(&embedded)
}

/// A 20-byte EVM address as a field element (big-endian, below 2^160).
pub fn recipient_from_address(address: &[u8; 20]) -> Fr {
    let radix = Fr::from(256u64);
    address.iter().fold(Fr::ZERO, |acc, byte| {
        acc * radix + Fr::from(u64::from(*byte))
    })
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), CircuitError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fe_from_i128;

    #[test]
    fn address_is_big_endian() {
        let mut address = [0u8; 20];
        address[19] = 0x01;
        address[18] = 0x02;
        assert_eq!(recipient_from_address(&address), Fr::from(0x0201u64));
        let all = recipient_from_address(&[0xff; 20]);
        let pow2_160 = (0..160).fold(fe_from_i128::<Fr>(1), |acc, _| acc + acc);
        assert_eq!(all + fe_from_i128::<Fr>(1), pow2_160);
    }
}
