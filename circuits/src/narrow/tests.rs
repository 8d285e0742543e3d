//! MockProver tests of the narrow gates and the [`Tape`] primitives: honest witnesses pass,
//! lying ones (wrong product, wrong sum, non-bit, out of range, broken copy) fail.

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};

use super::{NarrowConfig, Tape, Var};
use crate::error::CircuitError;
use crate::field::fe_from_i64;

/// What a test tape exposes: the rows to bind to the instance column, in order.
pub(crate) type Build = dyn Fn(&mut Tape) -> Result<Vec<Var>, CircuitError>;

/// A circuit whose synthesis runs `build` on a fresh tape, then applies `lies` (row, value)
/// to the recorded values before assigning them, and binds the returned rows to the
/// instances.
pub(crate) struct TapeCircuit<'a> {
    pub build: &'a Build,
    pub lies: Vec<(usize, Fr)>,
}

impl Circuit<Fr> for TapeCircuit<'_> {
    type Config = NarrowConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Self {
            build: self.build,
            lies: Vec::new(),
        }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> NarrowConfig {
        NarrowConfig::configure(meta)
    }

    fn synthesize(
        &self,
        config: NarrowConfig,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        let mut tape = Tape::new(usize::MAX);
        let public = (self.build)(&mut tape)?;
        for (row, value) in &self.lies {
            tape.set_value(*row, Value::known(*value));
        }
        let cells = layouter.assign_region(
            || "tape",
            |mut region| {
                let assigned = tape.assign(&mut region, &config)?;
                public
                    .iter()
                    .map(|v| assigned.cell(v))
                    .collect::<Result<Vec<_>, CircuitError>>()
                    .map_err(Error::from)
            },
        )?;
        for (i, cell) in cells.into_iter().enumerate() {
            layouter.constrain_instance(cell, config.instance, i);
        }
        Ok(())
    }
}

/// Rows `build` lays out.
pub(crate) fn rows_of(build: &Build) -> anyhow::Result<usize> {
    let mut tape = Tape::new(usize::MAX);
    build(&mut tape)?;
    Ok(tape.rows())
}

/// Whether MockProver accepts `build` with `lies` and `instances` at size `k`.
pub(crate) fn accepts(
    build: &Build,
    lies: Vec<(usize, Fr)>,
    instances: Vec<Fr>,
    k: u32,
) -> anyhow::Result<bool> {
    let circuit = TapeCircuit { build, lies };
    let prover = MockProver::run(k, &circuit, vec![instances])?;
    Ok(prover.verify().is_ok())
}

fn known(x: i64) -> Value<Fr> {
    Value::known(fe_from_i64(x))
}

#[test]
fn lin_and_mul_accept_honest_and_reject_wrong_results() -> anyhow::Result<()> {
    // out = 3 + 2·x − 5·y, then p = out · y.
    let build: Box<Build> = Box::new(|tape| {
        let x = tape.witness(known(7))?;
        let y = tape.witness(known(-4))?;
        let zero = tape.constant(Fr::ZERO)?;
        let out = tape.lin(&zero, Fr::from(3), (Fr::from(2), &x), (-Fr::from(5), &y))?;
        let p = tape.mul(&out, &y)?;
        Ok(vec![x, y, out, p])
    });
    let instances = vec![
        fe_from_i64(7),
        fe_from_i64(-4),
        fe_from_i64(37),
        fe_from_i64(-148),
    ];
    assert!(accepts(&build, vec![], instances.clone(), 6)?);
    let mut tape = Tape::new(usize::MAX);
    let rows = build(&mut tape)?;
    let (out, p) = (rows[2].row(), rows[3].row());
    // A wrong sum, with the instance following the lie (so only the gate can catch it).
    let mut lied = instances.clone();
    lied[2] = fe_from_i64(38);
    assert!(!accepts(&build, vec![(out, fe_from_i64(38))], lied, 6)?);
    // A wrong product.
    let mut lied = instances.clone();
    lied[3] = fe_from_i64(-147);
    assert!(!accepts(&build, vec![(p, fe_from_i64(-147))], lied, 6)?);
    // The honest rows against a wrong public value.
    let mut wrong = instances;
    wrong[3] = fe_from_i64(0);
    assert!(!accepts(&build, vec![], wrong, 6)?);
    Ok(())
}

#[test]
fn copies_bind_operands() -> anyhow::Result<()> {
    let build: Box<Build> = Box::new(|tape| {
        let x = tape.witness(known(5))?;
        let y = tape.witness(known(6))?;
        let p = tape.mul(&y, &x)?; // y is the last row: chained; x is copied
        Ok(vec![x, y, p])
    });
    let instances = vec![fe_from_i64(5), fe_from_i64(6), fe_from_i64(30)];
    assert!(accepts(&build, vec![], instances.clone(), 5)?);
    // The copy of x (row 2) lies: the product row still says 30 = 6 · 5, but the gate reads 9.
    assert!(!accepts(&build, vec![(2, fe_from_i64(9))], instances, 5)?);
    Ok(())
}

#[test]
fn range_checks_accept_edges_and_reject_outside() -> anyhow::Result<()> {
    for bits in [1u32, 2, 7, 16] {
        let max = (1i64 << bits) - 1;
        for (x, ok) in [(0, true), (max, true), (max + 1, false), (-1, false)] {
            let build: Box<Build> = Box::new(move |tape| {
                let v = tape.witness(known(x))?;
                tape.range_check(&v, bits)?;
                Ok(vec![v])
            });
            assert_eq!(
                accepts(&build, vec![], vec![fe_from_i64(x)], 9)?,
                ok,
                "x = {x}, bits = {bits}"
            );
        }
    }
    for (x, ok) in [(-128, true), (127, true), (128, false), (-129, false)] {
        let build: Box<Build> = Box::new(move |tape| {
            let v = tape.witness(known(x))?;
            tape.range_check_signed(&v, 8)?;
            Ok(vec![v])
        });
        assert_eq!(
            accepts(&build, vec![], vec![fe_from_i64(x)], 9)?,
            ok,
            "x = {x}"
        );
    }
    Ok(())
}

#[test]
fn range_check_rejects_lying_bits() -> anyhow::Result<()> {
    // 5 = 0b101 in 3 bits; the bits are rows 1, 4, 7 (each followed by its booleanity rows).
    let build: Box<Build> = Box::new(|tape| {
        let v = tape.witness(known(5))?;
        tape.range_check(&v, 3)?;
        Ok(vec![v])
    });
    assert!(accepts(&build, vec![], vec![fe_from_i64(5)], 7)?);
    let mut tape = Tape::new(usize::MAX);
    build(&mut tape)?;
    // Any single changed row (bit, booleanity copy or square, partial sum, zero constant)
    // must fail.
    for row in 1..tape.rows() {
        let lie = Fr::from(2);
        assert!(
            !accepts(&build, vec![(row, lie)], vec![fe_from_i64(5)], 7)?,
            "row {row} lied and passed"
        );
    }
    // Rows: v, then per bit (b, its copy, its square), the zero constant, then two lin gates
    // (copies of b0 and b1, partial sum; copies of b2 and zero, the sum).
    assert_eq!(rows_of(&build)?, 17);
    // A coordinated lie: bits (3, 1, 0) also sum to 5, with every copy and partial sum made
    // consistent. Only the booleanity gate b·b = b (3·3 ≠ 3) is left to catch it.
    let three = Fr::from(3);
    let lies = vec![
        (1, three),
        (2, three),
        (3, three),
        (7, Fr::ZERO),
        (8, Fr::ZERO),
        (9, Fr::ZERO),
        (11, three),
        (13, Fr::from(5)),
        (14, Fr::ZERO),
    ];
    assert!(!accepts(&build, lies.clone(), vec![fe_from_i64(5)], 7)?);
    // The same lie with an honest square row fails too (the square is copy-bound to the bit).
    let mut honest_square = lies;
    honest_square[2] = (3, Fr::from(9));
    assert!(!accepts(&build, honest_square, vec![fe_from_i64(5)], 7)?);
    Ok(())
}

#[test]
fn lincomb_and_constants() -> anyhow::Result<()> {
    let build: Box<Build> = Box::new(|tape| {
        let xs: Vec<Var> = (1..=5)
            .map(|i| tape.witness(known(i)))
            .collect::<Result<_, _>>()?;
        let terms: Vec<(Fr, Var)> = xs.iter().map(|x| (Fr::from(10), *x)).collect();
        let s = tape.lincomb(Fr::from(7), &terms)?;
        let nine = tape.constant(Fr::from(9))?;
        let t = tape.add_constant(&nine, -Fr::ONE)?;
        Ok(vec![s, t])
    });
    assert!(accepts(
        &build,
        vec![],
        vec![Fr::from(157), Fr::from(8)],
        7
    )?);
    // The constant row 9 lies (the constants column disagrees).
    let mut tape = Tape::new(usize::MAX);
    let out = build(&mut tape)?;
    let t_row = out[1].row();
    let nine_row = t_row - 3; // the constant starts the add gate: its row, two zero copies, out
    assert!(!accepts(
        &build,
        vec![(nine_row, Fr::from(10)), (t_row, Fr::from(9))],
        vec![Fr::from(157), Fr::from(9)],
        7
    )?);
    Ok(())
}

#[test]
fn counting_tapes_count_what_recording_tapes_lay_out() -> anyhow::Result<()> {
    let build = |tape: &mut Tape| -> Result<(), CircuitError> {
        let x = tape.witness(known(-3))?;
        tape.range_check_signed(&x, 8)?;
        let y = tape.mul(&x, &x)?;
        tape.lincomb(Fr::from(4), &[(Fr::from(2), x), (Fr::ONE, y), (Fr::ONE, x)])?;
        Ok(())
    };
    let mut recording = Tape::new(usize::MAX);
    build(&mut recording)?;
    let mut counting = Tape::counting();
    build(&mut counting)?;
    assert_eq!(counting.rows(), recording.rows());
    assert_eq!(counting.copies(), recording.copies());
    // A recording tape stops at its capacity with a typed error.
    let mut small = Tape::new(5);
    assert!(matches!(
        build(&mut small),
        Err(CircuitError::NotEnoughRows { available: 5, .. })
    ));
    Ok(())
}
