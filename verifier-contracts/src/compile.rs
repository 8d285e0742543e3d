//! Compiles a halo2 verifying key into a verification [`Program`].
//!
//! The program replays `halo2_proofs::plonk::verify_proof` for SHPLONK with the EVM transcript
//! step by step (same transcript order, same challenges, same constraint expressions, same
//! SHPLONK rotation sets), with every circuit-specific value as a constant or a query of the
//! proof. It is checked against the native verifier by the tests.

use std::collections::{BTreeMap, BTreeSet};

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::plonk::{Any, ConstraintSystem, Expression, VerifyingKey};
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;

use crate::error::{EvmError, Result};
use crate::program::{Builder, PointSlot, Program, Slot};

/// Largest supported `k` (BN254's scalar field has a 2^28 root of unity).
const MAX_K: u32 = 28;

/// What the verifier needs from the SRS: `g[0]`, `g2` and `s·g2`.
#[derive(Clone, Copy, Debug)]
pub struct KzgVerifierParams {
    /// `g[0]`, the G1 generator of the SRS.
    pub g1: G1Affine,
    /// The G2 generator.
    pub g2: halo2_proofs::halo2curves::bn256::G2Affine,
    /// `s·g2`.
    pub s_g2: halo2_proofs::halo2curves::bn256::G2Affine,
}

impl KzgVerifierParams {
    /// Takes the verifier part of a zkgrid SRS (dev, params file or `.ptau` import).
    pub fn from_srs(srs: &zkgrid_prover::Srs) -> Self {
        Self::from_params(srs.params())
    }

    /// Takes the verifier part of KZG parameters.
    pub fn from_params(params: &ParamsKZG<Bn256>) -> Self {
        Self {
            g1: params.get_g()[0],
            g2: params.g2(),
            s_g2: params.s_g2(),
        }
    }
}

/// A commitment opened by the multi-open argument (identity as in halo2: one per polynomial).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Commitment {
    Advice(usize),
    PermutationProduct(usize),
    LookupProduct(usize),
    LookupInput(usize),
    LookupTable(usize),
    Fixed(usize),
    PermutationCommon(usize),
    Quotient,
    Random,
}

struct Query {
    commitment: Commitment,
    rotation: i32,
    /// The evaluation read from the proof; `None` for the quotient, whose evaluation the
    /// verifier computes from the constraints after SHPLONK's challenges are squeezed.
    eval: Option<Slot>,
}

/// Slots of everything read from the proof or derived from challenges.
struct Evals<'a> {
    advice: &'a [Slot],
    fixed: &'a [Slot],
    instance: &'a [Slot],
    challenges: &'a [Slot],
}

fn query_index<C>(
    queries: &[(C, halo2_proofs::poly::Rotation)],
    column_of: impl Fn(&C) -> usize,
    column: usize,
    rotation: i32,
    kind: &'static str,
) -> Result<usize> {
    queries
        .iter()
        .position(|(c, r)| column_of(c) == column && r.0 == rotation)
        .ok_or(EvmError::MissingQuery {
            kind,
            column,
            rotation,
        })
}

fn evaluate(
    b: &mut Builder,
    cs: &ConstraintSystem<Fr>,
    expr: &Expression<Fr>,
    evals: &Evals<'_>,
) -> Result<Slot> {
    Ok(match expr {
        Expression::Constant(c) => b.constant(*c),
        Expression::Selector(_) => {
            return Err(EvmError::Unsupported {
                feature: "virtual selector left in a verifying-key expression",
            })
        }
        Expression::Fixed(q) => {
            let i = query_index(
                cs.fixed_queries(),
                |c| c.index(),
                q.column_index(),
                q.rotation().0,
                "fixed",
            )?;
            evals.fixed[i]
        }
        Expression::Advice(q) => {
            let i = query_index(
                cs.advice_queries(),
                |c| c.index(),
                q.column_index(),
                q.rotation().0,
                "advice",
            )?;
            evals.advice[i]
        }
        Expression::Instance(q) => {
            let i = query_index(
                cs.instance_queries(),
                |c| c.index(),
                q.column_index(),
                q.rotation().0,
                "instance",
            )?;
            evals.instance[i]
        }
        Expression::Challenge(c) => {
            *evals
                .challenges
                .get(c.index())
                .ok_or(EvmError::Unsupported {
                    feature: "challenge index out of range",
                })?
        }
        Expression::Negated(a) => {
            let a = evaluate(b, cs, a, evals)?;
            b.neg(a)
        }
        // `x + p·q` (or `p·q + x`) as one multiply-accumulate: the terms of a linear combination
        // (halo2 builds them as left-deep sums of scaled queries) become a chain of them.
        Expression::Sum(l, r) => match (factors(r), factors(l)) {
            (Some((p, q)), _) => {
                let acc = evaluate(b, cs, l, evals)?;
                let (p, q) = evaluate_factors(b, cs, p, q, evals)?;
                b.mac(p, q, acc)
            }
            (None, Some((p, q))) => {
                let acc = evaluate(b, cs, r, evals)?;
                let (p, q) = evaluate_factors(b, cs, p, q, evals)?;
                b.mac(p, q, acc)
            }
            (None, None) => {
                let l = evaluate(b, cs, l, evals)?;
                let r = evaluate(b, cs, r, evals)?;
                b.add(l, r)
            }
        },
        Expression::Product(l, r) => {
            let l = evaluate(b, cs, l, evals)?;
            let r = evaluate(b, cs, r, evals)?;
            b.mul(l, r)
        }
        Expression::Scaled(a, c) => {
            let a = evaluate(b, cs, a, evals)?;
            let c = b.constant(*c);
            b.mul(a, c)
        }
    })
}

/// The two factors of a product or a scaling (the scalar as a constant expression's value).
enum Factor<'e> {
    Expr(&'e Expression<Fr>),
    Scalar(Fr),
}

fn factors(expr: &Expression<Fr>) -> Option<(Factor<'_>, Factor<'_>)> {
    match expr {
        Expression::Product(p, q) => Some((Factor::Expr(p), Factor::Expr(q))),
        Expression::Scaled(a, c) => Some((Factor::Expr(a), Factor::Scalar(*c))),
        _ => None,
    }
}

fn evaluate_factors(
    b: &mut Builder,
    cs: &ConstraintSystem<Fr>,
    p: Factor<'_>,
    q: Factor<'_>,
    evals: &Evals<'_>,
) -> Result<(Slot, Slot)> {
    let one = |f: Factor<'_>, b: &mut Builder| -> Result<Slot> {
        Ok(match f {
            Factor::Expr(e) => evaluate(b, cs, e, evals)?,
            Factor::Scalar(c) => b.constant(c),
        })
    };
    let p = one(p, b)?;
    let q = one(q, b)?;
    Ok((p, q))
}

fn any_eval(
    cs: &ConstraintSystem<Fr>,
    column: &halo2_proofs::plonk::Column<Any>,
    evals: &Evals<'_>,
) -> Result<Slot> {
    let index = column.index();
    Ok(match column.column_type() {
        Any::Advice(_) => {
            evals.advice[query_index(cs.advice_queries(), |c| c.index(), index, 0, "advice")?]
        }
        Any::Fixed => {
            evals.fixed[query_index(cs.fixed_queries(), |c| c.index(), index, 0, "fixed")?]
        }
        Any::Instance => {
            evals.instance[query_index(cs.instance_queries(), |c| c.index(), index, 0, "instance")?]
        }
    })
}

/// `ω^rotation` for the domain generator `omega`.
fn omega_pow(omega: Fr, omega_inv: Fr, rotation: i32) -> Fr {
    if rotation >= 0 {
        omega.pow_vartime([rotation as u64])
    } else {
        omega_inv.pow_vartime([rotation.unsigned_abs() as u64])
    }
}

/// Compiles `vk` (with `num_instances[i]` public values in instance column `i`) into a
/// verification program.
pub fn compile(
    params: &KzgVerifierParams,
    vk: &VerifyingKey<G1Affine>,
    num_instances: &[usize],
) -> Result<Program> {
    let cs = vk.cs();
    let domain = vk.get_domain();
    let k = domain.k();
    if k > MAX_K {
        return Err(EvmError::Unsupported {
            feature: "k above 28",
        });
    }
    if num_instances.len() != cs.num_instance_columns() {
        return Err(EvmError::InstanceColumns {
            expected: cs.num_instance_columns(),
            found: num_instances.len(),
        });
    }
    let n = 1u64 << k;
    let blinding_factors = cs.blinding_factors();
    let usable = (n as usize).saturating_sub(blinding_factors + 1);
    for (column, &len) in num_instances.iter().enumerate() {
        if len > usable {
            return Err(EvmError::InstanceTooLong {
                column,
                len,
                max: usable,
            });
        }
    }
    // cs_degree as cached in the vk: the domain was built with quotient degree cs_degree - 1.
    let cs_degree = domain.get_quotient_poly_degree() + 1;
    let permutation_columns = cs.permutation().get_columns();
    if !permutation_columns.is_empty() && cs_degree < 3 {
        return Err(EvmError::Unsupported {
            feature: "permutation argument with constraint degree below 3",
        });
    }
    let chunk_len = cs_degree.saturating_sub(2).max(1);
    if vk.permutation().commitments().len() != permutation_columns.len() {
        return Err(EvmError::Unsupported {
            feature: "permutation commitments do not match permutation columns",
        });
    }
    if vk.fixed_commitments().len() != cs.num_fixed_columns() {
        return Err(EvmError::Unsupported {
            feature: "fixed commitments do not match fixed columns",
        });
    }

    let omega = domain.get_omega();
    let omega_inv = domain.get_omega_inv();
    let mut b = Builder::default();

    // Constants the verifier needs from the key.
    let fixed_commitments = vk
        .fixed_commitments()
        .iter()
        .map(|p| b.const_point(p, "fixed commitment"))
        .collect::<Result<Vec<_>>>()?;
    let permutation_commitments = vk
        .permutation()
        .commitments()
        .iter()
        .map(|p| b.const_point(p, "permutation commitment"))
        .collect::<Result<Vec<_>>>()?;
    let g1 = b.const_point(&params.g1, "g1")?;
    let s_g2 = b.const_g2(&params.s_g2);
    let neg_g2 = b.const_g2(&(-params.g2));

    // Transcript: vk digest, instances, advice per phase with its challenges.
    let vk_repr = b.constant(vk.transcript_repr());
    b.absorb(vk_repr);
    let total_instances: usize = num_instances.iter().sum();
    if total_instances > 0 {
        b.absorb_instances(total_instances);
    }
    let advice_phase = cs.advice_column_phase();
    let challenge_phase = cs.challenge_phase();
    let max_phase = advice_phase.iter().copied().max().unwrap_or(0);
    let mut advice_commitments: Vec<Option<PointSlot>> = vec![None; cs.num_advice_columns()];
    let mut challenges: Vec<Option<Slot>> = vec![None; cs.num_challenges()];
    for phase in 0..=max_phase {
        for (column, &p) in advice_phase.iter().enumerate() {
            if p == phase {
                advice_commitments[column] = Some(b.read_point("advice commitment"));
            }
        }
        for (index, &p) in challenge_phase.iter().enumerate() {
            if p == phase {
                challenges[index] = Some(b.squeeze());
            }
        }
    }
    let advice_commitments = advice_commitments
        .into_iter()
        .map(|c| {
            c.ok_or(EvmError::Unsupported {
                feature: "advice column in a phase after the last",
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let challenges = challenges
        .into_iter()
        .map(|c| {
            c.ok_or(EvmError::Unsupported {
                feature: "challenge usable only after the last advice phase",
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let theta = b.squeeze();
    let lookups = cs.lookups();
    let lookup_permuted: Vec<(PointSlot, PointSlot)> = lookups
        .iter()
        .map(|_| {
            (
                b.read_point("lookup permuted input commitment"),
                b.read_point("lookup permuted table commitment"),
            )
        })
        .collect();
    let beta = b.squeeze();
    let gamma = b.squeeze();
    let num_sets = permutation_columns.len().div_ceil(chunk_len);
    let permutation_products: Vec<PointSlot> = (0..num_sets)
        .map(|_| b.read_point("permutation product commitment"))
        .collect();
    let lookup_products: Vec<PointSlot> = lookups
        .iter()
        .map(|_| b.read_point("lookup product commitment"))
        .collect();
    let random_commitment = b.read_point("vanishing random commitment");
    let y = b.squeeze();
    let quotient_pieces: Vec<PointSlot> = (0..domain.get_quotient_poly_degree())
        .map(|_| b.read_point("quotient piece commitment"))
        .collect();
    let x = b.squeeze();

    let advice_evals: Vec<Slot> = cs
        .advice_queries()
        .iter()
        .map(|_| b.read_scalar("advice evaluation"))
        .collect();
    let fixed_evals: Vec<Slot> = cs
        .fixed_queries()
        .iter()
        .map(|_| b.read_scalar("fixed evaluation"))
        .collect();
    let random_eval = b.read_scalar("vanishing random evaluation");
    let permutation_evals: Vec<Slot> = permutation_columns
        .iter()
        .map(|_| b.read_scalar("permutation common evaluation"))
        .collect();
    struct SetEvals {
        eval: Slot,
        next: Slot,
        last: Option<Slot>,
    }
    let set_evals: Vec<SetEvals> = (0..num_sets)
        .map(|i| SetEvals {
            eval: b.read_scalar("permutation product evaluation"),
            next: b.read_scalar("permutation product next evaluation"),
            last: (i + 1 < num_sets).then(|| b.read_scalar("permutation product last evaluation")),
        })
        .collect();
    struct LookupEvals {
        product: Slot,
        product_next: Slot,
        input: Slot,
        input_prev: Slot,
        table: Slot,
    }
    let lookup_evals: Vec<LookupEvals> = lookups
        .iter()
        .map(|_| LookupEvals {
            product: b.read_scalar("lookup product evaluation"),
            product_next: b.read_scalar("lookup product next evaluation"),
            input: b.read_scalar("lookup permuted input evaluation"),
            input_prev: b.read_scalar("lookup permuted input previous evaluation"),
            table: b.read_scalar("lookup permuted table evaluation"),
        })
        .collect();

    // Queries, in halo2's order, and SHPLONK's part of the transcript.
    let last_rotation = -((blinding_factors + 1) as i32);
    let mut queries: Vec<Query> = Vec::new();
    for (i, (column, rotation)) in cs.advice_queries().iter().enumerate() {
        queries.push(Query {
            commitment: Commitment::Advice(column.index()),
            rotation: rotation.0,
            eval: Some(advice_evals[i]),
        });
    }
    for (i, set) in set_evals.iter().enumerate() {
        queries.push(Query {
            commitment: Commitment::PermutationProduct(i),
            rotation: 0,
            eval: Some(set.eval),
        });
        queries.push(Query {
            commitment: Commitment::PermutationProduct(i),
            rotation: 1,
            eval: Some(set.next),
        });
    }
    for (i, set) in set_evals.iter().enumerate().rev().skip(1) {
        queries.push(Query {
            commitment: Commitment::PermutationProduct(i),
            rotation: last_rotation,
            eval: Some(set.last.ok_or(EvmError::Unsupported {
                feature: "permutation set without a last evaluation",
            })?),
        });
    }
    for (i, le) in lookup_evals.iter().enumerate() {
        for (commitment, rotation, eval) in [
            (Commitment::LookupProduct(i), 0, le.product),
            (Commitment::LookupInput(i), 0, le.input),
            (Commitment::LookupTable(i), 0, le.table),
            (Commitment::LookupInput(i), -1, le.input_prev),
            (Commitment::LookupProduct(i), 1, le.product_next),
        ] {
            queries.push(Query {
                commitment,
                rotation,
                eval: Some(eval),
            });
        }
    }
    for (i, (column, rotation)) in cs.fixed_queries().iter().enumerate() {
        queries.push(Query {
            commitment: Commitment::Fixed(column.index()),
            rotation: rotation.0,
            eval: Some(fixed_evals[i]),
        });
    }
    for (i, &eval) in permutation_evals.iter().enumerate() {
        queries.push(Query {
            commitment: Commitment::PermutationCommon(i),
            rotation: 0,
            eval: Some(eval),
        });
    }
    // The quotient's evaluation is computed from the constraints below.
    queries.push(Query {
        commitment: Commitment::Quotient,
        rotation: 0,
        eval: None,
    });
    queries.push(Query {
        commitment: Commitment::Random,
        rotation: 0,
        eval: Some(random_eval),
    });

    let opening = Opening::read(&mut b, &queries, x, omega, omega_inv)?;

    // x^n, Lagrange evaluations and instance evaluations.
    let xn = b.pow(x, n);
    let one = b.constant(Fr::ONE);
    let xn_minus_one = b.sub(xn, one);
    let n_inv = b.constant(
        Option::from(Fr::from(n).invert()).ok_or(EvmError::Unsupported {
            feature: "domain size not invertible",
        })?,
    );
    let common = b.mul(xn_minus_one, n_inv);
    let omega_inv_slot = b.constant(omega_inv);
    let starts: Vec<usize> = num_instances
        .iter()
        .scan(0usize, |acc, &len| {
            let start = *acc;
            *acc += len;
            Some(start)
        })
        .collect();
    // Σ inst·w/(x - w) of every instance query, as fractions.
    let instance_fractions: Vec<Option<(Slot, Slot)>> = cs
        .instance_queries()
        .iter()
        .map(|(column, rotation)| {
            let len = num_instances[column.index()];
            (len > 0).then(|| {
                let s0 = b.constant(omega_pow(omega, omega_inv, rotation.0));
                b.instance_fraction(x, s0, omega_inv_slot, starts[column.index()], len)
            })
        })
        .collect();
    // The program's one inversion (Montgomery's trick): 1/(x - ω^i) for the Lagrange
    // evaluations, 1/(xⁿ - 1), 1/x, the instance fractions' denominators and SHPLONK's
    // 1/∏(u - x·ω^r) over the rotations outside its first set.
    let rotations: Vec<i32> = (last_rotation..=0).collect();
    let mut denominators: Vec<Slot> = Vec::with_capacity(rotations.len() + 3);
    let mut omega_slots = Vec::with_capacity(rotations.len());
    for &rotation in &rotations {
        let w = b.constant(omega_pow(omega, omega_inv, rotation));
        omega_slots.push(w);
        denominators.push(b.sub(x, w));
    }
    denominators.push(xn_minus_one);
    denominators.push(x);
    denominators.push(opening.first_set_denominator(&mut b)?);
    denominators.extend(instance_fractions.iter().flatten().map(|&(_, den)| den));
    let inverses = b.batch_inv(&denominators);
    let vanishing_inv = inverses[rotations.len()];
    let x_inv = inverses[rotations.len() + 1];
    let first_set_denominator_inv = inverses[rotations.len() + 2];
    let mut fraction_inverses = inverses[rotations.len() + 3..].iter();
    let lagrange: Vec<Slot> = (0..rotations.len())
        .map(|i| {
            let t = b.mul(inverses[i], common);
            b.mul(t, omega_slots[i])
        })
        .collect();
    let l_last = lagrange[0];
    let mut l_blind = b.constant(Fr::ZERO);
    for &l in &lagrange[1..lagrange.len() - 1] {
        l_blind = b.add(l_blind, l);
    }
    let l_0 = lagrange[lagrange.len() - 1];

    let zero = b.constant(Fr::ZERO);
    let mut instance_evals: Vec<Slot> = Vec::with_capacity(instance_fractions.len());
    for fraction in &instance_fractions {
        instance_evals.push(match fraction {
            Some((num, _)) => {
                let inv = *fraction_inverses.next().ok_or(EvmError::Unsupported {
                    feature: "instance fraction without an inverse",
                })?;
                let sum = b.mul(*num, inv);
                b.mul(sum, common)
            }
            None => zero,
        });
    }

    let evals = Evals {
        advice: &advice_evals,
        fixed: &fixed_evals,
        instance: &instance_evals,
        challenges: &challenges,
    };

    // Every constraint evaluated at x, folded with y.
    let mut constraints: Vec<Slot> = Vec::new();
    for gate in cs.gates() {
        for poly in gate.polynomials() {
            constraints.push(evaluate(&mut b, cs, poly, &evals)?);
        }
    }
    // Permutation argument.
    let l_last_plus_blind = b.add(l_last, l_blind);
    let active_rows = b.sub(one, l_last_plus_blind);
    if let Some(first) = set_evals.first() {
        let t = b.sub(one, first.eval);
        constraints.push(b.mul(l_0, t));
    }
    if let Some(last) = set_evals.last() {
        let sq = b.mul(last.eval, last.eval);
        let t = b.sub(sq, last.eval);
        constraints.push(b.mul(t, l_last));
    }
    for pair in set_evals.windows(2) {
        let prev_last = pair[0].last.ok_or(EvmError::Unsupported {
            feature: "permutation set without a last evaluation",
        })?;
        let t = b.sub(pair[1].eval, prev_last);
        constraints.push(b.mul(t, l_0));
    }
    let beta_x = b.mul(beta, x);
    for (chunk_index, ((set, columns), perm_evals)) in set_evals
        .iter()
        .zip(permutation_columns.chunks(chunk_len))
        .zip(permutation_evals.chunks(chunk_len))
        .enumerate()
    {
        let mut left = set.next;
        for (column, &perm_eval) in columns.iter().zip(perm_evals) {
            let eval = any_eval(cs, column, &evals)?;
            let t = b.mac(beta, perm_eval, eval);
            let t = b.add(t, gamma);
            left = b.mul(left, t);
        }
        let mut right = set.eval;
        let mut delta_power = Fr::DELTA.pow_vartime([(chunk_index * chunk_len) as u64]);
        for column in columns {
            let eval = any_eval(cs, column, &evals)?;
            let delta = b.constant(delta_power);
            let t = b.mac(beta_x, delta, eval);
            let t = b.add(t, gamma);
            right = b.mul(right, t);
            delta_power *= Fr::DELTA;
        }
        let diff = b.sub(left, right);
        constraints.push(b.mul(diff, active_rows));
    }
    // Lookup arguments.
    for (argument, le) in lookups.iter().zip(&lookup_evals) {
        let compress = |b: &mut Builder, exprs: &[Expression<Fr>]| -> Result<Slot> {
            let mut acc = b.constant(Fr::ZERO);
            for e in exprs {
                let v = evaluate(b, cs, e, &evals)?;
                acc = b.mac(acc, theta, v);
            }
            Ok(acc)
        };
        let t1 = b.sub(one, le.product);
        constraints.push(b.mul(l_0, t1));
        let sq = b.mul(le.product, le.product);
        let t2 = b.sub(sq, le.product);
        constraints.push(b.mul(l_last, t2));
        let a_beta = b.add(le.input, beta);
        let s_gamma = b.add(le.table, gamma);
        let left = b.mul(le.product_next, a_beta);
        let left = b.mul(left, s_gamma);
        let input = compress(&mut b, argument.input_expressions())?;
        let table = compress(&mut b, argument.table_expressions())?;
        let input_beta = b.add(input, beta);
        let table_gamma = b.add(table, gamma);
        let right = b.mul(le.product, input_beta);
        let right = b.mul(right, table_gamma);
        let diff = b.sub(left, right);
        constraints.push(b.mul(diff, active_rows));
        let a_minus_s = b.sub(le.input, le.table);
        constraints.push(b.mul(l_0, a_minus_s));
        let a_minus_prev = b.sub(le.input, le.input_prev);
        let t = b.mul(a_minus_s, a_minus_prev);
        constraints.push(b.mul(t, active_rows));
    }
    let mut h_eval = b.constant(Fr::ZERO);
    for c in constraints {
        h_eval = b.mac(h_eval, y, c);
    }
    let expected_h_eval = b.mul(h_eval, vanishing_inv);

    // The points of each commitment as an MSM: (point, optional coefficient).
    let xn_powers: Vec<Slot> = {
        let mut powers = vec![one];
        for i in 1..quotient_pieces.len() {
            let next = b.mul(powers[i - 1], xn);
            powers.push(next);
        }
        powers
    };
    let msm_of = |commitment: Commitment| -> Result<Vec<(PointSlot, Slot)>> {
        let single = |p: Option<&PointSlot>| -> Result<Vec<(PointSlot, Slot)>> {
            p.map(|&p| vec![(p, one)]).ok_or(EvmError::Unsupported {
                feature: "query of a commitment the key does not have",
            })
        };
        match commitment {
            Commitment::Advice(i) => single(advice_commitments.get(i)),
            Commitment::PermutationProduct(i) => single(permutation_products.get(i)),
            Commitment::LookupProduct(i) => single(lookup_products.get(i)),
            Commitment::LookupInput(i) => single(lookup_permuted.get(i).map(|(a, _)| a)),
            Commitment::LookupTable(i) => single(lookup_permuted.get(i).map(|(_, s)| s)),
            Commitment::Fixed(i) => single(fixed_commitments.get(i)),
            Commitment::PermutationCommon(i) => single(permutation_commitments.get(i)),
            Commitment::Quotient => Ok(quotient_pieces
                .iter()
                .copied()
                .zip(xn_powers.iter().copied())
                .collect()),
            Commitment::Random => single(Some(&random_commitment)),
        }
    };

    opening.verify(
        &mut b,
        &queries,
        msm_of,
        x_inv,
        first_set_denominator_inv,
        expected_h_eval,
        g1,
        s_g2,
        neg_g2,
    )?;
    b.finish(num_instances.to_vec())
}

/// SHPLONK multi-open verification (halo2's `VerifierSHPLONK` with its intermediate sets):
/// the rotation sets of the queries, SHPLONK's challenges and commitments, and `u - x·ω^r`.
struct Opening {
    /// Rotation set -> commitments, in order of first appearance.
    rotation_sets: Vec<(BTreeSet<i32>, Vec<Commitment>)>,
    super_set: BTreeSet<i32>,
    y: Slot,
    v: Slot,
    u: Slot,
    h1: PointSlot,
    h2: PointSlot,
    /// `u - x·ω^r` for every rotation `r`.
    u_minus: BTreeMap<i32, Slot>,
    omega: Fr,
    omega_inv: Fr,
}

impl Opening {
    /// Groups the queries (their commitments and rotations; evaluations are not read) and
    /// reads SHPLONK's part of the transcript, which follows the evaluations.
    fn read(b: &mut Builder, queries: &[Query], x: Slot, omega: Fr, omega_inv: Fr) -> Result<Self> {
        // No commitment may be opened twice at one point.
        for (i, q) in queries.iter().enumerate() {
            if queries[..i]
                .iter()
                .any(|p| p.commitment == q.commitment && p.rotation == q.rotation)
            {
                return Err(EvmError::Unsupported {
                    feature: "a commitment queried twice at the same rotation",
                });
            }
        }
        // Commitment -> set of rotations, in order of first appearance.
        let mut commitment_rotations: Vec<(Commitment, BTreeSet<i32>)> = Vec::new();
        let mut super_set: BTreeSet<i32> = BTreeSet::new();
        for q in queries {
            super_set.insert(q.rotation);
            match commitment_rotations
                .iter_mut()
                .find(|(c, _)| *c == q.commitment)
            {
                Some((_, set)) => {
                    set.insert(q.rotation);
                }
                None => commitment_rotations.push((q.commitment, BTreeSet::from([q.rotation]))),
            }
        }
        let mut rotation_sets: Vec<(BTreeSet<i32>, Vec<Commitment>)> = Vec::new();
        for (commitment, set) in commitment_rotations {
            match rotation_sets.iter_mut().find(|(s, _)| *s == set) {
                Some((_, commitments)) => commitments.push(commitment),
                None => rotation_sets.push((set, vec![commitment])),
            }
        }
        if rotation_sets.is_empty() {
            return Err(EvmError::Unsupported {
                feature: "a proof without openings",
            });
        }

        let y = b.squeeze();
        let v = b.squeeze();
        let h1 = b.read_point("shplonk h1");
        let u = b.squeeze();
        let h2 = b.read_point("shplonk h2");

        let mut u_minus = BTreeMap::new();
        for &r in &super_set {
            let point = if r == 0 {
                x
            } else {
                let w = b.constant(omega_pow(omega, omega_inv, r));
                b.mul(x, w)
            };
            u_minus.insert(r, b.sub(u, point));
        }
        Ok(Self {
            rotation_sets,
            super_set,
            y,
            v,
            u,
            h1,
            h2,
            u_minus,
            omega,
            omega_inv,
        })
    }

    fn u_minus_of(&self, r: i32) -> Result<Slot> {
        self.u_minus.get(&r).copied().ok_or(EvmError::Unsupported {
            feature: "rotation missing from the super point set",
        })
    }

    /// `∏ (u - x·ω^r)` over the rotations outside the first set: every set's factor is
    /// divided by it, so it is the opening's one inverse.
    fn first_set_denominator(&self, b: &mut Builder) -> Result<Slot> {
        let mut z_diff = b.constant(Fr::ONE);
        for &r in self.super_set.difference(&self.rotation_sets[0].0) {
            z_diff = b.mul(z_diff, self.u_minus_of(r)?);
        }
        Ok(z_diff)
    }

    /// The SHPLONK check: the queries' evaluations, the MSM and the pairing.
    /// `first_set_denominator_inv` is the inverse of [`Opening::first_set_denominator`];
    /// `quotient_eval` is the evaluation of the queries that carry none.
    #[allow(clippy::too_many_arguments)]
    fn verify(
        self,
        b: &mut Builder,
        queries: &[Query],
        msm_of: impl Fn(Commitment) -> Result<Vec<(PointSlot, Slot)>>,
        x_inv: Slot,
        first_set_denominator_inv: Slot,
        quotient_eval: Slot,
        g1: PointSlot,
        s_g2: Slot,
        neg_g2: Slot,
    ) -> Result<()> {
        let eval_of = |commitment: Commitment, rotation: i32| -> Result<Slot> {
            queries
                .iter()
                .find(|q| q.commitment == commitment && q.rotation == rotation)
                .map(|q| q.eval.unwrap_or(quotient_eval))
                .ok_or(EvmError::Unsupported {
                    feature: "missing evaluation in a rotation set",
                })
        };
        let Self {
            rotation_sets,
            super_set,
            y,
            v,
            u,
            h1,
            h2,
            ..
        } = &self;
        let (y, v, u, h1, h2) = (*y, *v, *u, *h1, *h2);
        let one = b.constant(Fr::ONE);
        let max_set = rotation_sets
            .iter()
            .map(|(s, _)| s.len())
            .max()
            .unwrap_or(1);
        let x_inv_powers: Vec<Slot> = if max_set > 1 {
            let mut powers = vec![one];
            for i in 1..max_set {
                let next = b.mul(powers[i - 1], x_inv);
                powers.push(next);
            }
            powers
        } else {
            vec![one]
        };

        let mut z_0 = one;
        let mut v_power = one;
        let mut r_outer = b.constant(Fr::ZERO);
        let mut msm: Vec<(PointSlot, Slot)> = Vec::new();
        for (i, (set, commitments)) in rotation_sets.iter().enumerate() {
            let z_diff = if i == 0 {
                for &r in set {
                    z_0 = b.mul(z_0, self.u_minus_of(r)?);
                }
                one
            } else {
                let mut z_diff = first_set_denominator_inv;
                for &r in super_set.difference(set) {
                    z_diff = b.mul(z_diff, self.u_minus_of(r)?);
                }
                z_diff
            };
            // Lagrange basis of the set's points at u: ∏_{j≠i}(u - p_j) / ∏_{j≠i}(p_i - p_j),
            // where p = x·ω^r, so the denominator is x^(k-1) · ∏_{j≠i}(ω^r_i - ω^r_j).
            let rotations: Vec<i32> = set.iter().copied().collect();
            let basis: Vec<Slot> = if rotations.len() == 1 {
                vec![one]
            } else {
                let k = rotations.len();
                let mut basis = Vec::with_capacity(k);
                for (ii, &ri) in rotations.iter().enumerate() {
                    let mut num = x_inv_powers[k - 1];
                    let mut denom = Fr::ONE;
                    for (jj, &rj) in rotations.iter().enumerate() {
                        if ii != jj {
                            num = b.mul(num, self.u_minus_of(rj)?);
                            denom *= omega_pow(self.omega, self.omega_inv, ri)
                                - omega_pow(self.omega, self.omega_inv, rj);
                        }
                    }
                    let denom_inv: Fr =
                        Option::from(denom.invert()).ok_or(EvmError::Unsupported {
                            feature: "rotations that coincide in the domain",
                        })?;
                    let c = b.constant(denom_inv);
                    basis.push(b.mul(num, c));
                }
                basis
            };
            let scale = b.mul(v_power, z_diff);
            let mut r_inner = b.constant(Fr::ZERO);
            let mut y_power = one;
            for (j, &commitment) in commitments.iter().enumerate() {
                if j > 0 {
                    y_power = b.mul(y_power, y);
                }
                let mut r_eval = b.constant(Fr::ZERO);
                for (&r, &l) in rotations.iter().zip(&basis) {
                    let e = eval_of(commitment, r)?;
                    r_eval = b.mac(e, l, r_eval);
                }
                r_inner = b.mac(y_power, r_eval, r_inner);
                let coefficient = b.mul(scale, y_power);
                for (point, c) in msm_of(commitment)? {
                    let s = if c == one {
                        coefficient
                    } else {
                        b.mul(coefficient, c)
                    };
                    msm.push((point, s));
                }
            }
            r_outer = b.mac(scale, r_inner, r_outer);
            if i + 1 < rotation_sets.len() {
                v_power = b.mul(v_power, v);
            }
        }
        // Equal points (e.g. selector columns with the same rows, identical table columns)
        // share a slot: one multiplication per distinct point.
        let mut merged: Vec<(PointSlot, Slot)> = Vec::with_capacity(msm.len());
        for (point, s) in msm {
            match merged.iter_mut().find(|(p, _)| *p == point) {
                Some((_, sum)) => *sum = b.add(*sum, s),
                None => merged.push((point, s)),
            }
        }
        for (point, s) in merged {
            b.msm_acc(point, s);
        }
        let neg_r_outer = b.neg(r_outer);
        b.msm_acc(g1, neg_r_outer);
        let neg_z_0 = b.neg(z_0);
        b.msm_acc(h1, neg_z_0);
        b.msm_acc(h2, u);
        b.pairing(h2, s_g2, neg_g2);
        Ok(())
    }
}
