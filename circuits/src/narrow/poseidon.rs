//! circomlib's Poseidon (width 17) on the narrow [`Tape`]: [`permute`] and [`hash_many`],
//! equal to [`crate::poseidon::native`].
//!
//! # Layout
//!
//! The permutation runs with [`PoseidonParams::shifted_round_constants`] (same output; partial
//! rounds add a constant to lane 0 only). Between S-boxes nothing is laid out: every lane is
//! tracked natively as an *affine form* `k + Σ cₘ·aₘ` over **atoms** `aₘ` (rows already on the
//! tape: inputs, S-box outputs, and the basis rows below), with the constants and coefficients
//! (the round constants and the MDS matrix) computed in `Fr` at layout time. A form is
//! materialized only where a row is needed:
//!
//! * an S-box input: the form, divided by one of its coefficients (the *pivot*), as a chain
//!   of lin gates. The pivot atom sits in the first gate's `a(0)` (free when it is the tape's
//!   last row, else one copy row), the other atoms two per gate (3 rows per pair) and the
//!   constant in the first gate's `f(0)`. The S-box of `v` is `v² = v·v`, `v⁴ = v²·v²`,
//!   `v⁵ = v⁴·v` (6 rows, `v` chained), and the lane becomes `pivot⁵ · v⁵` (a form again);
//! * the outputs: each output lane (or the digest) once, with coefficient 1 on `a(0)`.
//!
//! **Full rounds** (4 + 4): every lane's S-box input is the MDS image of the previous S-box
//! outputs plus the round constants, a 17-term form: 25 rows (24 for the first lane, whose
//! pivot is the previous round's last S-box output) and 6 S-box rows per lane, 526 rows per
//! round. Constant lanes (capacity, `hash_many`'s length and zero padding) stay constants
//! until they mix with an input.
//!
//! **Partial rounds** (68): only lane 0 goes through the S-box, so lanes 1…16 are linear in
//! the earlier atoms, and the lanes need not be materialized at all. What has to be laid out
//! is lane 0's S-box input each round, over atoms that still span the state. A vector of the
//! state space *survives* round `r` if it lies in the span of lanes 1…16 of round `r` (it
//! does not depend on lane 0, which the S-box replaces); in coordinates `a` over the lanes
//! (`u = Σ aᵢ·Lᵢ`) that is `a₀ = 0`, and the coordinates of a survivor in the next round are
//! `a·M⁻¹`. So `u` survives `J` rounds iff `a ⊥ M⁻ʲ·e₀` for `j < J`: since the partial rounds
//! share `M`, the survivors of `J` rounds form a fixed subspace of dimension `17 − J`.
//!
//! The partial rounds keep an **adapted basis**: 17 atoms spanning the state, of which
//! exactly one dies (stops surviving) in each round. Per round:
//!
//! 1. lane 0's S-box input, a 17-term form over the basis, chained on the newest basis row:
//!    24 rows, then 6 S-box rows;
//! 2. the basis loses the atom that died and gains the S-box output `z`; `z` itself would die
//!    in the next round, so it is traded for `w = z + (combination of the 16 survivors)` that
//!    survives 16 more rounds (the 1-dimensional survivor subspace): 17 terms chained on `z`,
//!    24 rows. Near the end `w` only has to survive the remaining rounds, and costs fewer
//!    terms (`z` alone after the last round).
//!
//! That is 54 rows per partial round, every lin gate full. The basis is set up once after the
//! last full round of the first half: 16 vectors that survive `1, 2, …, 16` rounds, the one
//! surviving `k − 1` rounds built with `k` terms (the sparsest such vector), 223 rows in all.
//! The partial rounds could instead be cut into blocks of `R` rounds whose lane-0 forms grow
//! by one atom per round and whose end re-bases the state (reduced row echelon form of the
//! lanes, `1 + R` terms for each of 16 new rows): the best block length, `R = 4` (found by
//! a dynamic program over the same row costs), needs 61 rows per round, and re-materializing
//! all 17 lanes at each block end (`17 + R` terms each) about 91 at its best `R ≈ 24`.
//!
//! Every row is determined by the inputs: atoms are inputs (copy constraints), lin-gate
//! outputs of earlier atoms with fixed coefficients, or mul-gate outputs; the basis changes
//! only choose which such rows are laid out. Nothing depends on witness values, so the layout
//! is the same with or without a witness.
//!
//! # Rows
//!
//! [`permute`] of 17 inputs: [`PERMUTATION_ROWS`] = 8,013 rows — round 0, 169 (`x + c` for
//! each input, 4 rows, then its S-box); rounds 1–3 and 72–75, 526 each; the partial rounds,
//! 3,703 with their basis; the 17 outputs, 27 rows each (output `i` chains on output
//! `i − 1`: `oᵢ = oᵢ₋₁ + (Lᵢ − Lᵢ₋₁)`).
//!
//! [`hash_many`]: the capacity, the length and the padding are constants, and the chaining
//! value `h_k` is never a row of its own: it stays a form and is materialized as the next
//! chunk's lane-1 S-box input. A chunk of 15 inputs takes 7,566 rows (180 for round 0), the
//! first one a little less, and the digest 27 rows once: 400,475 rows for 784 inputs
//! (53 chunks), the inputs' own rows excluded.

use std::sync::OnceLock;

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field as _;

use super::{Tape, Var};
use crate::error::CircuitError;
use crate::poseidon::native::{pow5, HASH_MANY_CHUNK};
use crate::poseidon::params::{mat_vec, Arity, PoseidonParams};

/// State width of the permutation: [`Arity::MAX`] inputs and the capacity lane.
pub const WIDTH: usize = Arity::MAX.width();

/// Rows [`permute`] lays out (its 17 inputs excluded), pinned by the tests.
pub const PERMUTATION_ROWS: usize = 8_013;

/// What a row of the layout is (recorded for the soundness tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A full round's S-box input (MDS output plus constants).
    FullInput,
    /// Lane 0's S-box input in a partial round.
    PartialInput,
    /// A materialized basis vector of the partial rounds.
    Basis,
    /// An S-box output.
    SboxOutput,
}

/// `k + Σ cₘ·atomₘ` over the atoms of a [`State`] (`coefficients` is as long as the atom
/// list).
#[derive(Clone, Debug)]
struct Affine {
    constant: Fr,
    coefficients: Vec<Fr>,
}

impl Affine {
    fn constant(constant: Fr, atoms: usize) -> Self {
        Self {
            constant,
            coefficients: vec![Fr::ZERO; atoms],
        }
    }

    fn unit(index: usize, atoms: usize) -> Self {
        let mut form = Self::constant(Fr::ZERO, atoms);
        if let Some(c) = form.coefficients.get_mut(index) {
            *c = Fr::ONE;
        }
        form
    }
}

fn internal(what: &'static str) -> CircuitError {
    CircuitError::InvalidParams {
        parameter: what,
        value: WIDTH,
        expected: "a generic Poseidon MDS matrix (narrow poseidon layout invariant)",
    }
}

fn is_zero(x: &Fr) -> bool {
    x.is_zero_vartime()
}

/// `y += a·x` (over the shorter length).
fn axpy(y: &mut [Fr], a: Fr, x: &[Fr]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

fn dot(a: &[Fr], b: &[Fr]) -> Fr {
    a.iter().zip(b).fold(Fr::ZERO, |acc, (a, b)| acc + *a * b)
}

/// `a · m` for a row vector `a` and a matrix given by its rows.
fn vec_mat(a: &[Fr], m: &[Vec<Fr>], columns: usize) -> Vec<Fr> {
    let mut out = vec![Fr::ZERO; columns];
    for (a, row) in a.iter().zip(m) {
        if !is_zero(a) {
            axpy(&mut out, *a, row);
        }
    }
    out
}

/// Reduced row echelon form: pivots are searched among the columns `order` (in that order);
/// entries past those columns follow the row operations. Returns the nonzero rows with their
/// pivot columns, in pivot order, each 1 at its pivot and 0 at every other pivot column.
fn reduce(mut rows: Vec<Vec<Fr>>, order: &[usize]) -> Result<Vec<(usize, Vec<Fr>)>, CircuitError> {
    let mut done: Vec<(usize, Vec<Fr>)> = Vec::new();
    for &col in order {
        let Some(position) = rows
            .iter()
            .position(|row| row.get(col).is_some_and(|x| !is_zero(x)))
        else {
            continue;
        };
        let mut row = rows.swap_remove(position);
        let pivot = row.get(col).copied().unwrap_or(Fr::ZERO);
        let inverse = Option::<Fr>::from(pivot.invert()).ok_or_else(|| internal("pivot"))?;
        for x in row.iter_mut() {
            *x *= inverse;
        }
        for other in rows.iter_mut().chain(done.iter_mut().map(|(_, r)| r)) {
            let factor = other.get(col).copied().unwrap_or(Fr::ZERO);
            if !is_zero(&factor) {
                axpy(other, -factor, &row);
            }
        }
        done.push((col, row));
    }
    Ok(done)
}

/// A basis of `{a ∈ Fⁿ : r·a = 0 for every r in rows}`.
fn kernel(rows: &[Vec<Fr>], n: usize) -> Result<Vec<Vec<Fr>>, CircuitError> {
    let order: Vec<usize> = (0..n).collect();
    let reduced = reduce(rows.to_vec(), &order)?;
    Ok((0..n)
        .filter(|c| reduced.iter().all(|(p, _)| p != c))
        .map(|free| {
            let mut a = vec![Fr::ZERO; n];
            if let Some(x) = a.get_mut(free) {
                *x = Fr::ONE;
            }
            for (p, row) in &reduced {
                if let Some(x) = a.get_mut(*p) {
                    *x = -row.get(free).copied().unwrap_or(Fr::ZERO);
                }
            }
            a
        })
        .collect())
}

/// The inverse of a square matrix given by its rows.
fn invert(m: &[Vec<Fr>]) -> Result<Vec<Vec<Fr>>, CircuitError> {
    let n = m.len();
    let augmented: Vec<Vec<Fr>> = m
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.resize(n, Fr::ZERO);
            r.extend((0..n).map(|j| if i == j { Fr::ONE } else { Fr::ZERO }));
            r
        })
        .collect();
    let order: Vec<usize> = (0..n).collect();
    let mut reduced = reduce(augmented, &order)?;
    if reduced.len() != n {
        return Err(internal("singular matrix"));
    }
    reduced.sort_by_key(|(p, _)| *p);
    Ok(reduced
        .into_iter()
        .map(|(_, row)| row.into_iter().skip(n).collect())
        .collect())
}

/// The survivor subspaces of the partial rounds (they depend on the MDS matrix only).
struct Survivors {
    /// `M⁻ʲ·e₀` for `j = 0..WIDTH`: `a` survives round `j` (counted from now) iff it is
    /// orthogonal to `krylov[0..=j]`.
    krylov: Vec<Vec<Fr>>,
    /// `spaces[J]`: a basis of the lane coordinates surviving `J` rounds (`J = 0..WIDTH`).
    spaces: Vec<Vec<Vec<Fr>>>,
}

impl Survivors {
    fn get() -> Result<&'static Survivors, CircuitError> {
        static CACHE: OnceLock<Option<Survivors>> = OnceLock::new();
        CACHE
            .get_or_init(|| Survivors::compute(PoseidonParams::get(Arity::MAX)).ok())
            .as_ref()
            .ok_or_else(|| internal("survivor spaces"))
    }

    fn compute(params: &PoseidonParams) -> Result<Survivors, CircuitError> {
        let inverse = invert(params.mds())?;
        let mut krylov = Vec::with_capacity(WIDTH);
        let mut k = Affine::unit(0, WIDTH).coefficients;
        for _ in 0..WIDTH {
            let next = mat_vec(&inverse, &k);
            krylov.push(k);
            k = next;
        }
        let spaces = (0..WIDTH)
            .map(|j| kernel(krylov.get(..j).unwrap_or(&[]), WIDTH))
            .collect::<Result<Vec<_>, _>>()?;
        // Every further round must cut the survivors by exactly one dimension.
        for (j, space) in spaces.iter().enumerate() {
            if space.len() != WIDTH - j {
                return Err(internal("survivor dimension"));
            }
        }
        Ok(Survivors { krylov, spaces })
    }

    fn space(&self, rounds: usize) -> Result<&[Vec<Fr>], CircuitError> {
        self.spaces
            .get(rounds)
            .map(Vec::as_slice)
            .ok_or_else(|| internal("survivor rounds"))
    }

    /// Whether lane coordinates `a` that survive rounds `0..round` (counted from now) also
    /// survive round `round`.
    fn survives(&self, a: &[Fr], round: usize) -> bool {
        self.krylov.get(round).is_some_and(|k| is_zero(&dot(a, k)))
    }
}

/// A basis row of the partial rounds' start: lane coordinates `a`, atom coefficients `c`
/// and the row, `c = scale·var`.
#[derive(Clone, Debug)]
struct BasisRow {
    a: Vec<Fr>,
    c: Vec<Fr>,
    var: Var,
    scale: Fr,
}

/// Number of nonzero entries.
fn support(v: &[Fr]) -> usize {
    v.iter().filter(|x| !is_zero(x)).count()
}

/// Rows of a lin chain over `terms ≥ 1` atoms (pivot in `a(0)`, chained or copied).
fn chain_rows(terms: usize, chained: bool) -> usize {
    usize::from(!chained) + 3 * terms.saturating_sub(1).div_ceil(2)
}

/// Lays out `constant + Σ cₘ·atomₘ` as a chain of lin gates and returns `(v, s)` with
/// `form = s·v`, or `None` for a constant form. With `exact`, `s = 1`; else `s` is the
/// coefficient of the pivot (the tape's last row when it is an atom of the form).
fn materialize(
    tape: &mut Tape,
    atoms: &[Var],
    coefficients: &[Fr],
    constant: Fr,
    exact: bool,
) -> Result<Option<(Var, Fr)>, CircuitError> {
    let mut terms: Vec<(Fr, Var)> = coefficients
        .iter()
        .zip(atoms)
        .filter(|(c, _)| !is_zero(c))
        .map(|(c, v)| (*c, *v))
        .collect();
    if terms.is_empty() {
        return Ok(None);
    }
    let last = tape.rows().checked_sub(1);
    let chained = terms.iter().position(|(_, v)| Some(v.row()) == last);
    let unit = terms.iter().position(|(c, _)| *c == Fr::ONE);
    let pick = match (chained, exact) {
        (Some(i), _) => i,
        (None, true) => unit.unwrap_or(0),
        (None, false) => 0,
    };
    if pick >= terms.len() {
        return Err(internal("pivot index"));
    }
    let (coefficient, pivot) = terms.swap_remove(pick);
    let scale = if exact { Fr::ONE } else { coefficient };
    let inverse = Option::<Fr>::from(scale.invert()).ok_or_else(|| internal("zero pivot"))?;
    let mut rest: Vec<(Fr, Var)> = terms.into_iter().map(|(c, v)| (c * inverse, v)).collect();
    if exact && coefficient != Fr::ONE {
        rest.push((coefficient - Fr::ONE, pivot));
    }
    let mut c0 = constant * inverse;
    if rest.is_empty() && is_zero(&c0) {
        return Ok(Some((pivot, scale)));
    }
    let mut acc = pivot;
    if rest.is_empty() {
        acc = tape.lin(&acc, c0, (Fr::ZERO, &pivot), (Fr::ZERO, &pivot))?;
    }
    let mut slots = rest.into_iter();
    while let Some((c1, x1)) = slots.next() {
        let (c2, x2) = slots.next().unwrap_or((Fr::ZERO, x1));
        acc = tape.lin(&acc, c0, (c1, &x1), (c2, &x2))?;
        c0 = Fr::ZERO;
    }
    Ok(Some((acc, scale)))
}

/// `v⁵` (three mul gates, 6 rows when `v` is the last row).
fn sbox(tape: &mut Tape, v: &Var) -> Result<Var, CircuitError> {
    let square = tape.mul(v, v)?;
    let fourth = tape.mul(&square, &square)?;
    tape.mul(&fourth, v)
}

/// The permutation state: lanes as affine forms over atoms (see the module documentation).
struct State {
    params: &'static PoseidonParams,
    atoms: Vec<Var>,
    lanes: Vec<Affine>,
    #[cfg(test)]
    trace: Vec<(Role, usize)>,
}

impl State {
    fn new() -> Self {
        Self {
            params: PoseidonParams::get(Arity::MAX),
            atoms: Vec::new(),
            lanes: Vec::new(),
            #[cfg(test)]
            trace: Vec::new(),
        }
    }

    #[cfg(test)]
    fn record(&mut self, role: Role, var: &Var) {
        self.trace.push((role, var.row()));
    }

    #[cfg(not(test))]
    fn record(&mut self, _role: Role, _var: &Var) {}

    fn push_atom(&mut self, var: Var) -> usize {
        self.atoms.push(var);
        let n = self.atoms.len();
        for lane in &mut self.lanes {
            lane.coefficients.resize(n, Fr::ZERO);
        }
        n - 1
    }

    /// Drops the atoms no lane uses.
    fn prune(&mut self) {
        let used: Vec<bool> = (0..self.atoms.len())
            .map(|m| {
                self.lanes
                    .iter()
                    .any(|lane| lane.coefficients.get(m).is_some_and(|c| !is_zero(c)))
            })
            .collect();
        let keep = |m: &usize| used.get(*m).copied().unwrap_or(false);
        self.atoms = (0..self.atoms.len())
            .filter(keep)
            .filter_map(|m| self.atoms.get(m).copied())
            .collect();
        for lane in &mut self.lanes {
            lane.coefficients = (0..lane.coefficients.len())
                .filter(keep)
                .filter_map(|m| lane.coefficients.get(m).copied())
                .collect();
        }
    }

    fn lane(&self, lane: usize) -> Result<&Affine, CircuitError> {
        self.lanes.get(lane).ok_or(CircuitError::LengthMismatch {
            what: "narrow poseidon lanes",
            expected: WIDTH,
            got: self.lanes.len(),
        })
    }

    fn add_constants(&mut self, round: usize) {
        for (lane, c) in self
            .lanes
            .iter_mut()
            .zip(self.params.shifted_round_constants(round))
        {
            lane.constant += c;
        }
    }

    fn mds(&mut self) {
        let n = self.atoms.len();
        self.lanes = self
            .params
            .mds()
            .iter()
            .map(|row| {
                let mut out = Affine::constant(Fr::ZERO, n);
                for (m, lane) in row.iter().zip(&self.lanes) {
                    out.constant += *m * lane.constant;
                    axpy(&mut out.coefficients, *m, &lane.coefficients);
                }
                out
            })
            .collect();
    }

    /// Replaces lane `lane` by its S-box image (laid out unless the lane is constant; `role`
    /// is the S-box input's).
    fn sbox_lane(&mut self, tape: &mut Tape, lane: usize, role: Role) -> Result<(), CircuitError> {
        let form = self.lane(lane)?.clone();
        let image = match materialize(tape, &self.atoms, &form.coefficients, form.constant, false)?
        {
            None => Affine::constant(pow5(form.constant), self.atoms.len()),
            Some((v, s)) => {
                self.record(role, &v);
                let z = sbox(tape, &v)?;
                self.record(Role::SboxOutput, &z);
                let index = self.push_atom(z);
                let mut image = Affine::constant(Fr::ZERO, self.atoms.len());
                if let Some(c) = image.coefficients.get_mut(index) {
                    *c = pow5(s);
                }
                image
            }
        };
        if let Some(slot) = self.lanes.get_mut(lane) {
            *slot = image;
        }
        Ok(())
    }

    fn full_round(&mut self, tape: &mut Tape, round: usize) -> Result<(), CircuitError> {
        self.add_constants(round);
        // The lane using the tape's last row goes first: its pivot chains.
        let last = tape.rows().checked_sub(1);
        let first = self
            .atoms
            .iter()
            .position(|v| Some(v.row()) == last)
            .and_then(|m| {
                self.lanes
                    .iter()
                    .position(|l| l.coefficients.get(m).is_some_and(|c| !is_zero(c)))
            })
            .unwrap_or(0);
        for lane in std::iter::once(first).chain((0..WIDTH).filter(|l| *l != first)) {
            self.sbox_lane(tape, lane, Role::FullInput)?;
        }
        self.mds();
        self.prune();
        Ok(())
    }

    /// The lanes' coefficient matrix (lanes × atoms).
    fn matrix(&self) -> Vec<Vec<Fr>> {
        self.lanes.iter().map(|l| l.coefficients.clone()).collect()
    }

    /// `count` partial rounds from round `first` (see the module documentation).
    fn partial_rounds(
        &mut self,
        tape: &mut Tape,
        first: usize,
        count: usize,
    ) -> Result<(), CircuitError> {
        self.prune();
        if self.atoms.is_empty() {
            // A constant state (hash_many of nothing): nothing to lay out.
            for round in first..first + count {
                self.add_constants(round);
                self.sbox_lane(tape, 0, Role::PartialInput)?;
                self.mds();
            }
            return Ok(());
        }
        let survivors = Survivors::get()?;
        self.adapt(tape, survivors, count)?;
        for q in 0..count {
            self.add_constants(first + q);
            self.sbox_lane(tape, 0, Role::PartialInput)?;
            self.mds();
            self.prune();
            self.renew(tape, survivors, (WIDTH - 1).min(count - 1 - q))?;
        }
        Ok(())
    }

    /// Sets up the adapted basis before the first partial round: lanes 1…16 are rewritten
    /// over 16 new rows `u₂…u₁₇`, `u_k` surviving exactly `k − 1` rounds (`k` terms, built
    /// from `u₁₇` down; `u_k + u_{k+1}` instead when chaining on `u_{k+1}` saves a row), and
    /// lane 0 stays a form over the current atoms (rewritten to chain on the last row built).
    fn adapt(
        &mut self,
        tape: &mut Tape,
        survivors: &Survivors,
        count: usize,
    ) -> Result<(), CircuitError> {
        let n = self.atoms.len();
        if n != WIDTH || count < WIDTH {
            return Err(internal("partial rounds start"));
        }
        let lambda = self.matrix();
        let mut built: Vec<BasisRow> = Vec::with_capacity(WIDTH - 1);
        for k in (2..=WIDTH).rev() {
            let last = tape.rows().checked_sub(1);
            let first = self.atoms.iter().position(|v| Some(v.row()) == last);
            let order: Vec<usize> = first
                .into_iter()
                .chain((0..n).filter(|m| Some(*m) != first))
                .collect();
            // Rows [c | a]: atom coefficients c = a·Λ, then the lane coordinates a.
            let rows: Vec<Vec<Fr>> = survivors
                .space(k - 1)?
                .iter()
                .map(|a| {
                    let mut row = vec_mat(a, &lambda, n);
                    row.extend_from_slice(a);
                    row
                })
                .collect();
            let (c, a) = reduce(rows, &order)?
                .into_iter()
                .map(|(_, mut row)| {
                    let a = row.split_off(n.min(row.len()));
                    (row, a)
                })
                .find(|(_, a)| !survivors.survives(a, k - 1))
                .ok_or_else(|| internal("basis lifetime"))?;
            let terms = support(&c);
            let alone = chain_rows(
                terms,
                first.is_some_and(|m| c.get(m).is_some_and(|x| !is_zero(x))),
            );
            let previous = built
                .last()
                .filter(|p| Some(p.var.row()) == last && chain_rows(terms + 1, true) < alone)
                .cloned();
            let row = match previous {
                Some(p) => {
                    let mut atoms = self.atoms.clone();
                    atoms.push(p.var);
                    let mut coefficients = c.clone();
                    coefficients.push(p.scale);
                    let (var, scale) = materialize(tape, &atoms, &coefficients, Fr::ZERO, false)?
                        .ok_or_else(|| internal("empty basis vector"))?;
                    let (mut c, mut a) = (c, a);
                    axpy(&mut c, Fr::ONE, &p.c);
                    axpy(&mut a, Fr::ONE, &p.a);
                    BasisRow { a, c, var, scale }
                }
                None => {
                    let (var, scale) = materialize(tape, &self.atoms, &c, Fr::ZERO, false)?
                        .ok_or_else(|| internal("empty basis vector"))?;
                    BasisRow { a, c, var, scale }
                }
            };
            self.record(Role::Basis, &row.var);
            built.push(row);
        }
        // Lanes 1…16 over the new rows: eᵢ = Σ_k xᵢₖ·a⁽ᵏ⁾ on coordinates 1…16.
        if built
            .iter()
            .any(|row| row.a.first().is_some_and(|a0| !is_zero(a0)))
        {
            return Err(internal("basis survives round 0"));
        }
        let coordinates: Vec<Vec<Fr>> = built
            .iter()
            .map(|row| row.a.iter().skip(1).copied().collect())
            .collect();
        let x = invert(&coordinates)?;
        let indices: Vec<usize> = built.iter().map(|row| self.push_atom(row.var)).collect();
        let total = self.atoms.len();
        for (lane, xi) in self.lanes.iter_mut().skip(1).zip(&x) {
            let mut coefficients = vec![Fr::ZERO; total];
            for ((x, row), index) in xi.iter().zip(&built).zip(&indices) {
                if let Some(c) = coefficients.get_mut(*index) {
                    *c = *x * row.scale;
                }
            }
            lane.coefficients = coefficients;
        }
        // Lane 0 = (lane 0 − β·c) + β·scale·u for the last row u built: one atom traded for
        // u, which chains.
        if let (Some(row), Some(index), Some(lane0)) =
            (built.last(), indices.last(), self.lanes.first_mut())
        {
            let cancel = lane0
                .coefficients
                .iter()
                .zip(&row.c)
                .find(|(l, c)| !is_zero(l) && !is_zero(c))
                .and_then(|(l, c)| Option::<Fr>::from(c.invert()).map(|inv| *l * inv));
            if let Some(beta) = cancel {
                let mut rewritten = lane0.coefficients.clone();
                axpy(&mut rewritten, -beta, &row.c);
                if let Some(c) = rewritten.get_mut(*index) {
                    *c += beta * row.scale;
                }
                let before = chain_rows(support(&lane0.coefficients), false);
                if chain_rows(support(&rewritten), true) < before {
                    lane0.coefficients = rewritten;
                }
            }
        }
        Ok(())
    }

    /// After a partial round (lanes pruned): trades the S-box output `z` (the last atom) for
    /// a row surviving `survive` more rounds.
    fn renew(
        &mut self,
        tape: &mut Tape,
        survivors: &Survivors,
        survive: usize,
    ) -> Result<(), CircuitError> {
        let n = self.atoms.len();
        if n != WIDTH {
            return Err(internal("one atom per partial round"));
        }
        if survive == 0 {
            return Ok(());
        }
        let z = n - 1;
        let lambda = self.matrix();
        let rows: Vec<Vec<Fr>> = survivors
            .space(survive)?
            .iter()
            .map(|a| vec_mat(a, &lambda, n))
            .collect();
        let order: Vec<usize> = std::iter::once(z).chain(0..z).collect();
        let w = match reduce(rows, &order)?.into_iter().next() {
            Some((pivot, row)) if pivot == z => row,
            _ => return Err(internal("survivor with the new S-box output")),
        };
        let (var, s) = materialize(tape, &self.atoms, &w, Fr::ZERO, false)?
            .ok_or_else(|| internal("empty basis vector"))?;
        self.record(Role::Basis, &var);
        // z = s·var − Σ_{m≠z} wₘ·atomₘ (w is 1 at z).
        let index = self.push_atom(var);
        for lane in &mut self.lanes {
            let lambda_z = lane.coefficients.get(z).copied().unwrap_or(Fr::ZERO);
            if is_zero(&lambda_z) {
                continue;
            }
            axpy(&mut lane.coefficients, -lambda_z, &w);
            if let Some(c) = lane.coefficients.get_mut(index) {
                *c += lambda_z * s;
            }
        }
        self.prune();
        Ok(())
    }

    fn permute(&mut self, tape: &mut Tape) -> Result<(), CircuitError> {
        if self.lanes.len() != WIDTH {
            return Err(CircuitError::LengthMismatch {
                what: "narrow poseidon state",
                expected: WIDTH,
                got: self.lanes.len(),
            });
        }
        let rounds = self.params.rounds();
        let mut round = 0;
        while round < rounds {
            if self.params.is_full_round(round) {
                self.full_round(tape, round)?;
                round += 1;
            } else {
                let count = (round..rounds)
                    .take_while(|r| !self.params.is_full_round(*r))
                    .count();
                self.partial_rounds(tape, round, count)?;
                round += count;
            }
        }
        Ok(())
    }

    /// A row equal to `form` (a constant row for a constant form).
    fn exact(&self, tape: &mut Tape, form: &Affine) -> Result<Var, CircuitError> {
        match materialize(tape, &self.atoms, &form.coefficients, form.constant, true)? {
            Some((var, _)) => Ok(var),
            None => tape.constant(form.constant),
        }
    }
}

/// circomlib's Poseidon permutation of width 17 (exactly
/// `crate::poseidon::native::permute`) of `state` on the tape; returns the 17 output rows.
///
/// Layout (see the module documentation): lanes are affine forms in `Fr` between S-boxes; each
/// S-box input is one chain of lin gates and three mul gates; the partial rounds keep a basis
/// of which one row dies per round, so each costs two 17-term forms and an S-box (54 rows).
/// [`PERMUTATION_ROWS`] rows in all, plus nothing for the inputs (they are copied into gates).
/// A state of another width is an error.
pub fn permute(tape: &mut Tape, state: &[Var]) -> Result<Vec<Var>, CircuitError> {
    if state.len() != WIDTH {
        return Err(CircuitError::LengthMismatch {
            what: "narrow poseidon state",
            expected: WIDTH,
            got: state.len(),
        });
    }
    permute_state(tape, state).map(|(outputs, _)| outputs)
}

/// [`permute`], also returning the final state (its trace in tests).
fn permute_state(tape: &mut Tape, state: &[Var]) -> Result<(Vec<Var>, State), CircuitError> {
    let mut st = State::new();
    for var in state {
        st.push_atom(*var);
    }
    st.lanes = (0..WIDTH).map(|i| Affine::unit(i, WIDTH)).collect();
    st.permute(tape)?;
    // Output i = output i−1 (chained, coefficient 1) + (lane i − lane i−1): no copy row.
    let mut outputs: Vec<Var> = Vec::with_capacity(WIDTH);
    let mut previous: Option<(Var, &Affine)> = None;
    for lane in &st.lanes {
        let output = match previous {
            Some((prev, prev_lane)) if prev.row() + 1 == tape.rows() => {
                let mut atoms = st.atoms.clone();
                atoms.push(prev);
                let mut coefficients = lane.coefficients.clone();
                axpy(&mut coefficients, -Fr::ONE, &prev_lane.coefficients);
                coefficients.push(Fr::ONE);
                let constant = lane.constant - prev_lane.constant;
                match materialize(tape, &atoms, &coefficients, constant, true)? {
                    Some((var, _)) => var,
                    None => tape.constant(lane.constant)?,
                }
            }
            _ => st.exact(tape, lane)?,
        };
        outputs.push(output);
        previous = Some((output, lane));
    }
    Ok((outputs, st))
}

/// circomlib Poseidon `hash_many` (exactly `crate::poseidon::native::hash_many`) of `inputs`
/// on the tape; returns the digest row.
///
/// `h₀ = n` (the length, a constant), `h_{k+1} = poseidon([h_k, chunk_k…])` over chunks of
/// [`HASH_MANY_CHUNK`] inputs, zero-padded (one all-zero chunk for `n = 0`). One [`permute`]
/// layout per chunk, with the capacity, the length and the padding folded into the gates as
/// constants and `h_k` kept as a form (the next chunk's lane 1); only the digest is laid out
/// as a row of its own (a constant row when `n = 0`).
pub fn hash_many(tape: &mut Tape, inputs: &[Var]) -> Result<Var, CircuitError> {
    hash_state(tape, inputs).map(|(digest, _)| digest)
}

/// [`hash_many`], also returning the final state (its trace in tests).
fn hash_state(tape: &mut Tape, inputs: &[Var]) -> Result<(Var, State), CircuitError> {
    let mut st = State::new();
    let mut acc = Affine::constant(Fr::from(inputs.len() as u64), 0);
    let empty: [&[Var]; 1] = [&[]];
    let chunks: Vec<&[Var]> = if inputs.is_empty() {
        empty.to_vec()
    } else {
        inputs.chunks(HASH_MANY_CHUNK).collect()
    };
    for chunk in chunks {
        let n = st.atoms.len();
        let mut lanes = Vec::with_capacity(WIDTH);
        lanes.push(Affine::constant(Fr::ZERO, n));
        lanes.push(acc);
        st.lanes = lanes;
        for var in chunk.iter().take(HASH_MANY_CHUNK) {
            let index = st.push_atom(*var);
            st.lanes.push(Affine::unit(index, st.atoms.len()));
        }
        while st.lanes.len() < WIDTH {
            st.lanes.push(Affine::constant(Fr::ZERO, st.atoms.len()));
        }
        st.permute(tape)?;
        acc = st.lane(0)?.clone();
    }
    let digest = st.exact(tape, &acc)?;
    Ok((digest, st))
}

#[cfg(test)]
mod tests {
    use halo2_proofs::circuit::Value;

    use super::super::tests::{accepts, rows_of, Build};
    use super::*;
    use crate::field::fe_from_i64;
    use crate::poseidon::native;

    /// Varied inputs: small, negative, large.
    fn values(n: usize) -> Vec<Fr> {
        (0..n)
            .map(|i| {
                let i = i as i64;
                match i % 4 {
                    0 => fe_from_i64(i * i + 7),
                    1 => fe_from_i64(-(i * 7919) - 1),
                    2 => fe_from_i64(i64::MAX - i),
                    _ => -Fr::ONE - fe_from_i64::<Fr>(i),
                }
            })
            .collect()
    }

    fn witnesses(tape: &mut Tape, values: &[Fr]) -> Result<Vec<Var>, CircuitError> {
        values
            .iter()
            .map(|v| tape.witness(Value::known(*v)))
            .collect()
    }

    fn hash_build(values: Vec<Fr>) -> Box<Build> {
        Box::new(move |tape| {
            let inputs = witnesses(tape, &values)?;
            Ok(vec![hash_many(tape, &inputs)?])
        })
    }

    /// Smallest `k` with room for `rows` and the blinding rows.
    fn k_for(rows: usize) -> u32 {
        let mut k = 4;
        while (1usize << k) <= rows + 10 {
            k += 1;
        }
        k
    }

    fn known(value: Value<Fr>) -> Option<Fr> {
        let mut out = None;
        value.map(|v| out = Some(v));
        out
    }

    /// Roles of laid-out rows, in layout order.
    type Trace = Vec<(Role, usize)>;

    /// The layout of `hash_many(values)` on a fresh tape: digest, trace and rows.
    fn traced_hash(values: &[Fr]) -> anyhow::Result<(Var, Trace, usize)> {
        let mut tape = Tape::new(usize::MAX);
        let inputs = witnesses(&mut tape, values)?;
        let (digest, st) = hash_state(&mut tape, &inputs)?;
        Ok((digest, st.trace, tape.rows() - values.len()))
    }

    #[test]
    fn digests_match_native() -> anyhow::Result<()> {
        for n in [0usize, 1, 2, 14, 15, 16, 17, 29, 30, 31, 45] {
            let values = values(n);
            let (digest, _, _) = traced_hash(&values)?;
            assert_eq!(
                known(digest.value()),
                Some(native::hash_many(&values)),
                "n = {n}"
            );
        }
        Ok(())
    }

    #[test]
    fn permutation_matches_native() -> anyhow::Result<()> {
        let params = PoseidonParams::get(Arity::MAX);
        let input = values(WIDTH);
        let mut expected = input.clone();
        native::permute(params, &mut expected);
        let mut tape = Tape::new(usize::MAX);
        let state = witnesses(&mut tape, &input)?;
        let outputs = permute(&mut tape, &state)?;
        let got: Vec<Option<Fr>> = outputs.iter().map(|v| known(v.value())).collect();
        let want: Vec<Option<Fr>> = expected.iter().copied().map(Some).collect();
        assert_eq!(got, want);
        assert_eq!(tape.rows() - WIDTH, PERMUTATION_ROWS);
        // Every output bound to the instance: MockProver accepts.
        let build: Box<Build> = Box::new(move |tape| {
            let state = witnesses(tape, &input)?;
            permute(tape, &state)
        });
        let k = k_for(rows_of(&build)?);
        assert!(accepts(&build, vec![], expected, k)?);
        Ok(())
    }

    #[test]
    fn permute_rejects_other_widths() {
        let mut tape = Tape::new(usize::MAX);
        let state: Vec<Var> = (0..WIDTH - 1)
            .filter_map(|i| tape.witness(Value::known(Fr::from(i as u64))).ok())
            .collect();
        assert!(matches!(
            permute(&mut tape, &state),
            Err(CircuitError::LengthMismatch { .. })
        ));
        assert_eq!(tape.rows(), WIDTH - 1);
    }

    #[test]
    fn honest_hashes_are_accepted() -> anyhow::Result<()> {
        for n in [0usize, 1, 15, 16, 31] {
            let values = values(n);
            let digest = native::hash_many(&values);
            let build = hash_build(values);
            let k = k_for(rows_of(&build)?);
            assert!(accepts(&build, vec![], vec![digest], k)?, "n = {n}");
        }
        Ok(())
    }

    #[test]
    fn wrong_digest_and_lies_are_rejected() -> anyhow::Result<()> {
        let values = values(15);
        let digest = native::hash_many(&values);
        let (_, trace, _) = traced_hash(&values)?;
        let build = hash_build(values);
        let k = k_for(rows_of(&build)?);
        assert!(!accepts(&build, vec![], vec![digest + Fr::ONE], k)?);
        let rows = |role: Role| -> Vec<usize> {
            trace
                .iter()
                .filter(|(r, _)| *r == role)
                .map(|(_, row)| *row)
                .collect()
        };
        let (full, partial, basis, outputs) = (
            rows(Role::FullInput),
            rows(Role::PartialInput),
            rows(Role::Basis),
            rows(Role::SboxOutput),
        );
        // 8 full rounds (round 0: the 15 inputs; lanes 0 and 1 are constants), 68 partial
        // rounds, 16 start rows and 67 survivors (the last round needs none).
        assert_eq!(full.len(), 15 + 7 * WIDTH);
        assert_eq!(partial.len(), 68);
        assert_eq!(outputs.len(), full.len() + partial.len());
        assert_eq!(basis.len(), 16 + 67);
        let lie = Fr::from(0xdead_u64);
        let middle = |rows: &[usize]| rows.get(rows.len() / 2).copied();
        let targets = [
            ("S-box output", middle(&outputs)),
            ("partial-round lane 0 input", middle(&partial)),
            ("partial-round basis row", middle(&basis)),
            // Round 1's first S-box input: an MDS output plus constants.
            ("full-round MDS output", full.get(15).copied()),
        ];
        for (what, row) in targets {
            let row = row.ok_or_else(|| anyhow::anyhow!("no {what} row"))?;
            assert!(
                !accepts(&build, vec![(row, lie)], vec![digest], k)?,
                "a lie on the {what} (row {row}) was accepted"
            );
        }
        Ok(())
    }

    #[test]
    fn rows_are_within_budget() -> anyhow::Result<()> {
        let build: Box<Build> = Box::new(|tape| {
            let state = witnesses(tape, &values(WIDTH))?;
            permute(tape, &state)
        });
        let permutation = rows_of(&build)? - WIDTH;
        let (_, _, one_chunk) = traced_hash(&values(15))?;
        let (_, _, two_chunks) = traced_hash(&values(30))?;
        let (_, _, three_chunks) = traced_hash(&values(45))?;
        let chained_chunk = three_chunks - two_chunks;
        let (_, _, model) = traced_hash(&values(784))?;
        println!(
            "narrow poseidon rows: permute {permutation}, hash_many(15) {one_chunk}, chained \
             chunk {chained_chunk}, hash_many(784) {model} (input rows excluded)"
        );
        assert_eq!(permutation, PERMUTATION_ROWS);
        assert!(permutation < 13_000);
        assert!(chained_chunk < 13_000);
        // The hashed input of a 784-input model leaves most of 2^20 rows to the model.
        assert!(model < 1 << 19);
        Ok(())
    }
}
