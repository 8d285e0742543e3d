//! The core chips. All of them configure on the shared [`crate::ColumnPool`], take their rows
//! from a [`crate::RowAllocator`] and exchange values as [`crate::AssignedVar`]s.
//!
//! Every chip offers the same three levels of API: `*_witness` computes the honest witness from
//! the input values, `assign*` lays out constraints for a given (possibly dishonest) witness,
//! and a convenience method does both.

pub mod affine;
pub mod arith;
pub mod dense;
pub mod lookup;
pub mod max;
pub mod product;
pub mod range;
pub mod relu;
pub mod rescale;

pub use affine::{AffineChip, AffineConfig, AffineOp};
pub use arith::{ArithChip, ArithConfig, ArithOp};
pub use dense::{DenseChip, DenseConfig};
pub use lookup::{TableLookupChip, TableLookupConfig, TableSpec};
pub use max::{MaxChip, MaxConfig, MaxOutput};
pub use product::{ProductChip, ProductConfig, ProductOp};
pub use range::{RangeChip, RangeConfig, RangeSpec};
pub use relu::{LeakyParams, ReluChip, ReluConfig};
pub use rescale::{RescaleChip, RescaleConfig};

#[cfg(test)]
mod tests {
    //! End to end with the real KZG prover: key generation without witnesses, a proof of a
    //! small network using every chip, and a tampered proof that must not verify.

    use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
    use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
    use halo2_proofs::plonk::{
        create_proof, keygen_pk, keygen_vk, verify_proof, Circuit, ConstraintSystem, Error,
    };
    use halo2_proofs::poly::commitment::ParamsProver;
    use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
    use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
    use halo2_proofs::poly::kzg::strategy::SingleStrategy;
    use halo2_proofs::transcript::{
        Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer,
    };

    use super::rescale::DivOp;
    use super::{ArithOp, LeakyParams, RangeSpec};
    use crate::config::{ModelConfig, ModelParams};
    use crate::error::CircuitError;
    use crate::field::fe_from_i128;
    use crate::layout::RowAllocator;
    use crate::test_utils::rng;

    const K: u32 = 9;
    const BITS: u32 = 16;

    /// 16 inputs → dense 16→4 → rescale → ReLU and LeakyReLU → add, sub → max/argmax,
    /// division by 3.
    #[derive(Clone)]
    struct AllChips {
        inputs: Option<Vec<i128>>,
        /// Make the first rescale quotient lie by one.
        tamper: bool,
    }

    impl AllChips {
        fn layout(
            &self,
            config: &ModelConfig,
            region: &mut halo2_proofs::circuit::Region<'_, Fr>,
            rows: &mut RowAllocator,
        ) -> Result<(), CircuitError> {
            let values: Vec<Value<Fr>> = match &self.inputs {
                Some(xs) => xs.iter().map(|x| Value::known(fe_from_i128(*x))).collect(),
                None => vec![Value::unknown(); 16],
            };
            let activation = RangeSpec::signed(BITS)?;
            let xs = config.assign_inputs(region, rows, &values)?;
            config
                .range_chip()
                .check_all(region, rows, &xs, activation)?;
            let weights: Vec<Vec<i64>> = (0..4)
                .map(|o| (0..16).map(|i| ((o * 7 + i * 3) % 11) - 5).collect())
                .collect();
            let accs = config
                .dense_chip()
                .layer(region, rows, &xs, &weights, &[3, -100, 0, 77])?;
            let rescale = config.rescale_chip();
            let mut ops = accs
                .iter()
                .map(|x| {
                    Ok(DivOp {
                        x: x.clone(),
                        divisor: 16,
                        witness: rescale.div_witness(x, 16)?,
                    })
                })
                .collect::<Result<Vec<_>, CircuitError>>()?;
            if self.tamper {
                ops[0].witness.y = ops[0].witness.y + Value::known(Fr::from(1));
            }
            let hidden = rescale.assign(region, rows, &ops, activation)?;
            let relu = config.relu_chip().relu(region, rows, &hidden, BITS)?;
            let leaky = config.relu_chip().leaky_relu(
                region,
                rows,
                &hidden,
                LeakyParams {
                    alpha: 13,
                    shift: 7,
                },
                BITS,
            )?;
            let arith = config.arith_chip()?;
            let sum = arith.elementwise(region, rows, &relu, &leaky, ArithOp::Add, BITS)?;
            let diff = arith.sub(region, rows, &sum, &leaky, BITS)?;
            let best = config.max_chip()?.max(region, rows, &diff, BITS)?;
            let total = config
                .dense_chip()
                .dot(region, rows, &sum, &[1, 1, 1, 1], 0)?;
            rescale.div_round(region, rows, &[total, best.max], 3, BITS)?;
            Ok(())
        }
    }

    impl Circuit<Fr> for AllChips {
        type Config = ModelConfig;
        type FloorPlanner = SimpleFloorPlanner;
        type Params = ();

        fn without_witnesses(&self) -> Self {
            Self {
                inputs: None,
                tamper: self.tamper,
            }
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> ModelConfig {
            ModelConfig::configure(meta, &ModelParams::new(8, 1, 3)).expect("valid test params")
        }

        fn synthesize(
            &self,
            config: ModelConfig,
            mut layouter: impl Layouter<Fr>,
        ) -> Result<(), Error> {
            config.load_table(&mut layouter)?;
            let mut rows = RowAllocator::new(config.usable_rows(K));
            layouter.assign_region(
                || "all chips",
                |mut region| Ok(self.layout(&config, &mut region, &mut rows)),
            )??;
            Ok(())
        }
    }

    fn prove_and_verify(
        params: &ParamsKZG<Bn256>,
        vk_circuit: &AllChips,
        circuit: &AllChips,
    ) -> anyhow::Result<bool> {
        let vk = keygen_vk(params, vk_circuit)?;
        let pk = keygen_pk(params, vk, vk_circuit)?;
        let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
            params,
            &pk,
            std::slice::from_ref(circuit),
            &[&[]],
            rng(1),
            &mut transcript,
        )?;
        let proof = transcript.finalize();
        let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(&proof[..]);
        let verified = verify_proof::<_, VerifierSHPLONK<'_, Bn256>, _, _, _>(
            params.verifier_params(),
            pk.get_vk(),
            SingleStrategy::new(params),
            &[&[]],
            &mut transcript,
        );
        Ok(verified.is_ok())
    }

    #[test]
    fn real_prover_accepts_honest_and_rejects_tampered() -> anyhow::Result<()> {
        let params = ParamsKZG::<Bn256>::setup(K, rng(0));
        let inputs: Vec<i128> = (0..16).map(|i| (i * 997 % 4001) - 2000).collect();
        let honest = AllChips {
            inputs: Some(inputs.clone()),
            tamper: false,
        };
        let keygen_circuit = honest.without_witnesses();
        assert!(prove_and_verify(&params, &keygen_circuit, &honest)?);
        let tampered = AllChips {
            inputs: Some(inputs),
            tamper: true,
        };
        assert!(!prove_and_verify(&params, &keygen_circuit, &tampered)?);
        Ok(())
    }
}
