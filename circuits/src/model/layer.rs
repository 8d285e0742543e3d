//! What every layer's layout function gets: the chips, the region, the row allocator, the
//! activation width and the layer's index (for test faults). Also the rescale helpers several
//! layers share.

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;

use super::tamper::Tamper;
use super::weights::{CommittedParams, NodeParams};
use crate::chips::lookup::TableLookupConfig;
use crate::chips::range::RangeSpec;
use crate::chips::rescale::DivOp;
use crate::config::ModelConfig;
use crate::error::CircuitError;
use crate::layout::{AssignedVar, RowAllocator};

/// Layout context of one layer.
pub(crate) struct LayerCx<'c, 'r> {
    /// Every chip's configuration.
    pub config: &'c ModelConfig,
    /// The circuit's single region.
    pub region: &'c mut Region<'r, Fr>,
    /// Rows of the circuit.
    pub rows: &'c mut RowAllocator,
    /// Activation width `b` of the model.
    pub bits: u32,
    /// Index of the node being laid out.
    pub layer: usize,
    /// A deliberate fault (tests only; `None` for every honest circuit).
    pub tamper: Option<Tamper>,
    /// The lookup-table chip, when configured.
    pub lookup: Option<&'c TableLookupConfig>,
    /// The committed parameter cells, with hashed weights.
    pub params: Option<&'c CommittedParams>,
}

impl<'c> LayerCx<'c, '_> {
    /// This layer's committed parameter cells, with hashed weights (`None` with fixed
    /// weights).
    pub fn private_params(&self) -> Result<Option<&'c NodeParams>, CircuitError> {
        match self.params {
            None => Ok(None),
            Some(params) => params
                .nodes
                .get(self.layer)
                .and_then(Option::as_ref)
                .map(Some)
                .ok_or(CircuitError::EmptyInput {
                    op: "committed parameters of a dense or conv layer",
                }),
        }
    }

    /// The activation range `[−2^(b−1), 2^(b−1))`.
    pub fn activation(&self) -> Result<RangeSpec, CircuitError> {
        RangeSpec::signed(self.bits)
    }

    /// Proves every value lies in the activation range.
    pub fn range_check(&mut self, xs: &[AssignedVar<Fr>]) -> Result<(), CircuitError> {
        let spec = self.activation()?;
        self.config
            .range_chip::<Fr>()
            .check_all(self.region, self.rows, xs, spec)
    }

    /// Output activations from accumulators: `rescale(acc, shift)`, range-checked. With
    /// `shift = 0` the accumulators themselves are range-checked and returned.
    pub fn rescale_out(
        &mut self,
        accs: &[AssignedVar<Fr>],
        shift: u32,
    ) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
        if shift == 0 {
            self.range_check(accs)?;
            return Ok(accs.to_vec());
        }
        let divisor = pow2(shift)?;
        self.divide(accs, &vec![divisor; accs.len()], true)
    }

    /// `rescale(x, shift)` of values that are already activations (operands of add / sub /
    /// add-const): `shift = 0` returns them unchanged, otherwise the quotients are
    /// range-checked to the activation range (which they honestly satisfy).
    pub fn rescale_operand(
        &mut self,
        xs: &[AssignedVar<Fr>],
        shift: u32,
    ) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
        if shift == 0 {
            return Ok(xs.to_vec());
        }
        let divisor = pow2(shift)?;
        self.divide(xs, &vec![divisor; xs.len()], false)
    }

    /// `y_i = ⌊(x_i + ⌊n_i/2⌋) / n_i⌋`, range-checked to the activation range. When
    /// `may_tamper`, a [`Tamper::RescaleQuotient`] of this layer lies about one quotient.
    pub fn divide(
        &mut self,
        xs: &[AssignedVar<Fr>],
        divisors: &[u64],
        may_tamper: bool,
    ) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
        if xs.len() != divisors.len() {
            return Err(CircuitError::LengthMismatch {
                what: "division divisors",
                expected: xs.len(),
                got: divisors.len(),
            });
        }
        let chip = self.config.rescale_chip::<Fr>();
        let lie = if may_tamper {
            Tamper::quotient_at(self.tamper, self.layer)
        } else {
            None
        };
        let ops = xs
            .iter()
            .zip(divisors)
            .enumerate()
            .map(|(i, (x, divisor))| {
                let mut witness = chip.div_witness(x, *divisor)?;
                if lie == Some(i) {
                    witness.y = witness.y + Value::known(Fr::ONE);
                }
                Ok(DivOp {
                    x: x.clone(),
                    divisor: *divisor,
                    witness,
                })
            })
            .collect::<Result<Vec<_>, CircuitError>>()?;
        let spec = self.activation()?;
        chip.assign(self.region, self.rows, &ops, spec)
    }
}

/// `2^shift` for a rescale shift (`shift ≤ 62`, as the model format guarantees).
pub(crate) fn pow2(shift: u32) -> Result<u64, CircuitError> {
    if shift <= 62 {
        Ok(1u64 << shift)
    } else {
        Err(CircuitError::InvalidConstant {
            op: "rescale",
            name: "shift",
            value: i128::from(shift),
        })
    }
}
