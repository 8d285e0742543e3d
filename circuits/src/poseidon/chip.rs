//! halo2 chip for circomlib's Poseidon (BN254), one or several widths over shared columns.
//!
//! # Columns
//!
//! `C` state advice columns (equality enabled), one auxiliary advice column, `C` fixed
//! round-constant columns, and a fixed column enabled for constants (capacity 0, the
//! `hash_many` length, zero padding). [`PoseidonColumns::shared`] takes them from the shared
//! column pool (lanes, accumulator, fixed columns), so a model circuit pays only for the
//! constants column, which it reuses if the circuit already has one.
//!
//! A state of width `t` fills `F = ⌈t / C⌉` rows (its *fold*): lane `j` sits in column `j mod C`
//! of the state's row `j / C`, and so does its round constant. With `C ≥ t` (`F = 1`) a state
//! is one row; a narrow pool (say 8 lanes for `t = 17`, `F = 3`) trades rows for columns, and
//! every column is one more commitment for an on-chain verifier.
//!
//! # Constraints
//!
//! Each configured width `t` adds two selectors and two gates (three with partial-round
//! blocks); every constraint has degree at most 4 (selector included). With `e_j = s_j + c_j` (state plus its round constant) and
//! states, squares and next states read `F` rows at a time:
//!
//! * full round at row `r`: the `F` rows from `r + F` hold `q_j = e_j^2` and those from
//!   `r + 2F` the next state, `s'_i = sum_j M[i][j] * q_j^2 * e_j`;
//! * partial round at row `r`: the auxiliary cell of row `r` holds `a = e_0^2` and the rows
//!   from `r + F` the next state, `s'_i = M[i][0] * a^2 * e_0 + sum_{j>0} M[i][j] * e_j`.
//!
//! A permutation of width `t` occupies `(2 * 8 + R_P(t) + 1) * F` rows (74 for `t = 3`, 85 for
//! `t = 17` at `F = 1`): state/squares pairs for the first four full rounds, one state per
//! partial round, state/squares pairs for the last four full rounds, then the output state.
//!
//! # Partial-round blocks
//!
//! With [`PartialRounds::Blocks`] a third gate checks `R` partial rounds at once (round
//! constants pushed to lane 0, [`PoseidonParams::shifted_round_constants`]): a block holds its
//! input state, then the square `z_i` and S-box output `y_i` of lane 0 for each round (in the
//! state's unused cells and at most `F` more rows), and the next state follows. Each round's
//! S-box input is a fixed linear form in the block's input state and the earlier `y`, and so
//! is the output state, so one gate (`2R + t` constraints of degree ≤ 4, no round-constant
//! columns beyond lane 0's `R` constants) serves every block. `R` is as large as those cells
//! allow, at most [`MAX_BLOCK_ROUNDS`]; leftover partial rounds take one state each. For
//! `t = 17`: 37 rows per permutation at 17 lanes (was 85), 155 at 4 lanes (was 425). The
//! verifier pays for the larger gate (≈ 1,800–2,400 more operations), so the planner weighs
//! it against the rows saved.
//! The first state holds the input: lane 0 (capacity) is constrained to the constant 0 and
//! every other lane is copy-constrained to the caller's cell or to a constant. Each later
//! state is the gate image of the one before, so the digest (lane 0 of the output state) is
//! determined by the input cells alone. Cells of a state's last row past lane `t − 1` are
//! unused and unconstrained.
//!
//! # Assumptions
//!
//! Rows come from the circuit's [`RowAllocator`]; no other chip may enable a gate on them. The
//! floor planner writes constants (at most two per hash) to the constants column from row 0, so
//! that column must not be assigned otherwise.

use halo2_proofs::{
    circuit::{Cell, Region, Value},
    halo2curves::{bn256::Fr, ff::Field},
    plonk::{Advice, Column, ConstraintSystem, Expression, Fixed, Selector},
    poly::Rotation,
};

use super::{
    native::{mds_mul, HASH_MANY_CHUNK},
    params::{Arity, PoseidonParams, FULL_ROUNDS},
};
use crate::error::CircuitError;
use crate::layout::{assign, AssignedVar, RowAllocator};

/// Columns used by [`PoseidonChip`].
#[derive(Clone, Debug)]
pub struct PoseidonColumns {
    /// State lanes, at least as many as the widest configured width (`arity + 1`).
    pub state: Vec<Column<Advice>>,
    /// Auxiliary advice column holding the square of lane 0 in partial rounds.
    pub aux: Column<Advice>,
    /// Round constants, at least as many as the widest configured width.
    pub round_constants: Vec<Column<Fixed>>,
    /// Fixed column enabled for constants (`ConstraintSystem::enable_constant`).
    pub constants: Column<Fixed>,
}

impl PoseidonColumns {
    /// Allocates fresh columns for widths up to `max_arity + 1`, one state row per state.
    pub fn new(meta: &mut ConstraintSystem<Fr>, max_arity: Arity) -> Self {
        Self::with_lanes(meta, max_arity.width())
    }

    /// Allocates `lanes` fresh state columns (at least 1) and as many round-constant columns:
    /// states wider than `lanes` fold over several rows.
    pub fn with_lanes(meta: &mut ConstraintSystem<Fr>, lanes: usize) -> Self {
        let lanes = lanes.max(1);
        PoseidonColumns {
            state: (0..lanes).map(|_| meta.advice_column()).collect(),
            aux: meta.advice_column(),
            round_constants: (0..lanes).map(|_| meta.fixed_column()).collect(),
            constants: Self::constants_column(meta),
        }
    }

    /// Uses the first `min(lanes, max_arity + 1)` of `lanes` (equality-enabled advice) and as
    /// many of `fixed`, `aux` as the auxiliary column, and the circuit's first constants column
    /// (a new fixed column if there is none yet); e.g. `shared(meta, &pool.lanes, pool.acc,
    /// &pool.fixed, Arity::MAX)` for the model circuit's [`crate::ColumnPool`]. With fewer
    /// lanes than the state width, states fold over several rows.
    pub fn shared(
        meta: &mut ConstraintSystem<Fr>,
        lanes: &[Column<Advice>],
        aux: Column<Advice>,
        fixed: &[Column<Fixed>],
        max_arity: Arity,
    ) -> Result<Self, CircuitError> {
        let used = max_arity.width().min(lanes.len());
        if used == 0 {
            return Err(CircuitError::InvalidParams {
                parameter: "poseidon state lanes",
                value: 0,
                expected: "at least one advice lane",
            });
        }
        let state = &lanes[..used];
        let round_constants = fixed.get(..used).ok_or(CircuitError::InvalidParams {
            parameter: "poseidon round-constant columns",
            value: fixed.len(),
            expected: "at least as many fixed columns as state lanes",
        })?;
        Ok(PoseidonColumns {
            state: state.to_vec(),
            aux,
            round_constants: round_constants.to_vec(),
            constants: Self::constants_column(meta),
        })
    }

    /// The circuit's first constants column, or a new one.
    fn constants_column(meta: &mut ConstraintSystem<Fr>) -> Column<Fixed> {
        match meta.constants().first() {
            Some(column) => *column,
            None => meta.fixed_column(),
        }
    }
}

/// How a chip lays out the partial rounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PartialRounds {
    /// One state per partial round (the round constants of circomlib as they are).
    #[default]
    PerRound,
    /// Runs of up to [`MAX_BLOCK_ROUNDS`] partial rounds per block: the block's input state,
    /// then for each round the square and the S-box output of lane 0, then the output
    /// state, checked by one gate with the run's linear map (with
    /// [`PoseidonParams::shifted_round_constants`], a run of partial rounds is the same linear
    /// map wherever it starts). A block holds as many rounds as fit in the cells of one more
    /// state (so its gate reaches no further than a full round's), the partial rounds that
    /// are left over take one state each. Fewer rows, one more gate for the verifier.
    Blocks,
}

/// Most partial rounds in one block (bounds the block gate's size).
pub const MAX_BLOCK_ROUNDS: usize = 16;

/// Shape of the partial-round blocks of one width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BlockShape {
    /// Enables the block gate at a block's first row.
    selector: Selector,
    /// Partial rounds per block.
    rounds: usize,
    /// Rows between the input state's last row and the output state's first row.
    extra_rows: usize,
}

impl BlockShape {
    /// Rounds per block and extra rows for a width-`width` state over `columns` columns: the
    /// `2·rounds` cells (square, S-box output per round) fill the input state's unused cells
    /// and at most one more state's rows; `None` when fewer than two rounds fit.
    fn size(width: usize, columns: usize, partial_rounds: usize) -> Option<(usize, usize)> {
        let columns = columns.max(1);
        let f = fold(width, columns);
        let spare = f * columns - width;
        let rounds = ((spare + f * columns) / 2)
            .min(MAX_BLOCK_ROUNDS)
            .min(partial_rounds);
        if rounds < 2 {
            return None;
        }
        let extra_rows = (2 * rounds).saturating_sub(spare).div_ceil(columns);
        Some((rounds, extra_rows))
    }
}

/// Selectors of one configured width.
#[derive(Clone, Debug)]
struct WidthSelectors {
    arity: Arity,
    full: Selector,
    partial: Selector,
    /// Partial-round blocks, with [`PartialRounds::Blocks`].
    block: Option<BlockShape>,
}

impl WidthSelectors {
    /// Round constants the layout adds in round `round`.
    fn round_constants(&self, params: &'static PoseidonParams, round: usize) -> &'static [Fr] {
        if self.block.is_some() {
            params.shifted_round_constants(round)
        } else {
            params.round_constants(round)
        }
    }

    /// Rows of a row kind.
    fn rows(&self, kind: RowKind, fold: usize) -> usize {
        match kind {
            RowKind::Block { .. } => fold + self.block.map_or(0, |b| b.extra_rows),
            _ => fold,
        }
    }
}

/// Configuration of [`PoseidonChip`]: its columns and the widths it has gates for.
#[derive(Clone, Debug)]
pub struct PoseidonConfig {
    columns: PoseidonColumns,
    widths: Vec<WidthSelectors>,
}

impl PoseidonConfig {
    /// The columns the chip assigns.
    pub fn columns(&self) -> &PoseidonColumns {
        &self.columns
    }

    /// The arities the chip has gates for, ascending.
    pub fn arities(&self) -> Vec<Arity> {
        self.widths.iter().map(|w| w.arity).collect()
    }

    /// Rows one state of `arity + 1` lanes fills: `⌈(arity + 1) / C⌉` for `C` state columns.
    pub fn fold(&self, arity: Arity) -> usize {
        fold(arity.width(), self.columns.state.len())
    }

    fn selectors(&self, arity: Arity) -> Result<&WidthSelectors, CircuitError> {
        self.widths
            .iter()
            .find(|w| w.arity == arity)
            .ok_or(CircuitError::InvalidParams {
                parameter: "poseidon arity",
                value: arity.get(),
                expected: "an arity the Poseidon chip was configured with",
            })
    }
}

/// Rows a state of `width` lanes fills over `columns` state columns.
fn fold(width: usize, columns: usize) -> usize {
    width.div_ceil(columns.max(1))
}

/// Column index and row offset of `lane` in a state folded over `columns` state columns.
fn place(lane: usize, columns: usize) -> (usize, usize) {
    let columns = columns.max(1);
    (lane % columns, lane / columns)
}

/// Rotation of lane `lane` in the state `rows_down` rows below the gate's row.
fn rotation(lane: usize, columns: usize, rows_down: usize) -> Rotation {
    let offset = rows_down + place(lane, columns).1;
    Rotation(i32::try_from(offset).unwrap_or(i32::MAX))
}

/// One input lane of a permutation.
#[derive(Clone, Copy, Debug)]
enum Lane {
    /// The constant 0 (capacity and padding).
    Zero,
    /// Another constant (the `hash_many` length).
    Constant(Fr),
    /// A copy of an existing cell.
    Copy { cell: Cell, value: Value<Fr> },
}

impl Lane {
    fn of(var: &AssignedVar<Fr>) -> Lane {
        Lane::Copy {
            cell: var.cell(),
            value: var.value(),
        }
    }

    fn value(&self) -> Value<Fr> {
        match self {
            Lane::Zero => Value::known(Fr::ZERO),
            Lane::Constant(c) => Value::known(*c),
            Lane::Copy { value, .. } => *value,
        }
    }
}

/// What a row of a permutation holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowKind {
    /// State entering full round `round`; the full-round gate is enabled here.
    Full { round: usize },
    /// Squares `e_j^2` of the full round above.
    Squares,
    /// State entering partial round `round`; the partial-round gate is enabled here.
    Partial { round: usize },
    /// State entering partial rounds `first..first + rounds`, followed by the square and the
    /// S-box output of lane 0 for each (cells `t + 2i` and `t + 2i + 1` of the block); the
    /// block gate is enabled here.
    Block { first: usize, rounds: usize },
    /// Output state.
    Output,
}

/// Row layout of one permutation: the partial rounds in blocks of `block.rounds` (the rest one
/// per state) when `block` is given.
fn row_kinds(params: &PoseidonParams, block: Option<&BlockShape>) -> Vec<RowKind> {
    let mut kinds = Vec::with_capacity(PoseidonChip::states_per_permutation(params.arity()));
    let mut round = 0;
    while round < params.rounds() {
        if params.is_full_round(round) {
            kinds.push(RowKind::Full { round });
            kinds.push(RowKind::Squares);
            round += 1;
            continue;
        }
        let left = (round..params.rounds())
            .take_while(|r| !params.is_full_round(*r))
            .count();
        match block {
            Some(block) if left >= block.rounds => {
                kinds.push(RowKind::Block {
                    first: round,
                    rounds: block.rounds,
                });
                round += block.rounds;
            }
            _ => {
                kinds.push(RowKind::Partial { round });
                round += 1;
            }
        }
    }
    kinds.push(RowKind::Output);
    kinds
}

/// Witness of one permutation: `cells[s]` are the cell values of its `s`-th row kind (a
/// state's lanes; a squares block; a partial-round block's input state, then its squares and
/// S-box outputs), `aux[s]` the auxiliary value (zero outside single partial rounds).
#[derive(Clone, Debug)]
struct Trace {
    cells: Vec<Vec<Fr>>,
    aux: Vec<Fr>,
}

/// A deliberate witness error, for the soundness tests only.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
struct Tamper {
    /// Absolute first row of the tampered state (the row itself when states are one row).
    row: usize,
    /// `Some(lane)` for a state lane, `None` for the auxiliary column.
    lane: Option<usize>,
    /// Added to the honest value.
    delta: Fr,
    /// Recompute every later row of the permutation from the tampered state (a state row
    /// only), so that only the constraint into the tampered row can catch it.
    recompute: bool,
}

/// Chip computing circomlib's Poseidon and the `hash_many` rule in-circuit.
#[derive(Clone, Debug)]
pub struct PoseidonChip {
    config: PoseidonConfig,
    #[cfg(test)]
    tamper: Option<Tamper>,
}

impl PoseidonChip {
    /// Creates the gates for each of `arities` over `columns`, enables equality on the state
    /// columns used and constants on `columns.constants`; one state per partial round.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        columns: PoseidonColumns,
        arities: &[Arity],
    ) -> Result<PoseidonConfig, CircuitError> {
        Self::configure_with(meta, columns, arities, PartialRounds::PerRound)
    }

    /// [`PoseidonChip::configure`] with the partial rounds laid out as `partial` says.
    pub fn configure_with(
        meta: &mut ConstraintSystem<Fr>,
        columns: PoseidonColumns,
        arities: &[Arity],
        partial: PartialRounds,
    ) -> Result<PoseidonConfig, CircuitError> {
        let mut arities = arities.to_vec();
        arities.sort();
        arities.dedup();
        let width = arities.last().map_or(0, |a| a.width());
        if columns.state.is_empty() {
            return Err(CircuitError::InvalidParams {
                parameter: "poseidon state columns",
                value: 0,
                expected: "at least one state column",
            });
        }
        if columns.round_constants.len() < columns.state.len().min(width) {
            return Err(CircuitError::InvalidParams {
                parameter: "poseidon round-constant columns",
                value: columns.round_constants.len(),
                expected: "at least as many round-constant columns as state columns",
            });
        }
        for column in columns.state.iter().take(width) {
            meta.enable_equality(*column);
        }
        meta.enable_constant(columns.constants);
        let widths = arities
            .into_iter()
            .map(|arity| {
                let block = match partial {
                    PartialRounds::PerRound => None,
                    PartialRounds::Blocks => {
                        BlockShape::size(arity.width(), columns.state.len(), arity.partial_rounds())
                            .map(|(rounds, extra_rows)| BlockShape {
                                selector: meta.selector(),
                                rounds,
                                extra_rows,
                            })
                    }
                };
                let selectors = WidthSelectors {
                    arity,
                    full: meta.selector(),
                    partial: meta.selector(),
                    block,
                };
                full_round_gate(meta, &columns, &selectors);
                partial_round_gate(meta, &columns, &selectors);
                if let Some(block) = &selectors.block {
                    block_gate(meta, &columns, arity, block);
                }
                selectors
            })
            .collect();
        Ok(PoseidonConfig { columns, widths })
    }

    /// Creates the chip.
    pub fn construct(config: PoseidonConfig) -> Self {
        PoseidonChip {
            config,
            #[cfg(test)]
            tamper: None,
        }
    }

    /// The chip's configuration.
    pub fn config(&self) -> &PoseidonConfig {
        &self.config
    }

    /// States (and squares blocks) one permutation of `arity` inputs holds with one state per
    /// partial round: `2 * 8 + R_P + 1`.
    pub fn states_per_permutation(arity: Arity) -> usize {
        2 * FULL_ROUNDS + arity.partial_rounds() + 1
    }

    /// Rows one permutation of `arity` inputs occupies: `(2 * 8 + R_P + 1) * F` with one state
    /// per partial round, fewer with partial-round blocks. An arity the chip was not
    /// configured for counts as one state per partial round.
    pub fn rows_per_permutation(&self, arity: Arity) -> usize {
        let fold = self.config.fold(arity);
        match self.config.selectors(arity) {
            Ok(selectors) => row_kinds(PoseidonParams::get(arity), selectors.block.as_ref())
                .into_iter()
                .map(|kind| selectors.rows(kind, fold))
                .sum(),
            Err(_) => Self::states_per_permutation(arity) * fold,
        }
    }

    /// Rows [`PoseidonChip::hash`] occupies for `len` inputs.
    pub fn rows_for_hash(&self, len: usize) -> usize {
        len.div_ceil(HASH_MANY_CHUNK).max(1) * self.rows_per_permutation(Arity::MAX)
    }

    /// circomlib's `Poseidon(n)` of `n = inputs.len()` cells (`1 <= n <= 16`, with `n`
    /// configured); equals [`super::native::poseidon`]. Takes
    /// [`PoseidonChip::rows_per_permutation`] rows from `rows`.
    pub fn hash_fixed(
        &self,
        region: &mut Region<'_, Fr>,
        rows: &mut RowAllocator,
        inputs: &[AssignedVar<Fr>],
    ) -> Result<AssignedVar<Fr>, CircuitError> {
        let arity = Arity::new(inputs.len())?;
        let selectors = self.config.selectors(arity)?;
        let start = rows.alloc(self.rows_per_permutation(arity))?;
        tracing::debug!(arity = arity.get(), start, "poseidon hash_fixed");
        let mut lanes = Vec::with_capacity(arity.width());
        lanes.push(Lane::Zero);
        lanes.extend(inputs.iter().map(Lane::of));
        self.assign_permutation(region, selectors, start, &lanes, &mut None)
    }

    /// The `hash_many` rule over any number of cells (see [`super::native::hash_many`]); needs
    /// arity 16 configured. Takes [`PoseidonChip::rows_for_hash`] rows from `rows`.
    pub fn hash(
        &self,
        region: &mut Region<'_, Fr>,
        rows: &mut RowAllocator,
        inputs: &[AssignedVar<Fr>],
    ) -> Result<AssignedVar<Fr>, CircuitError> {
        let selectors = self.config.selectors(Arity::MAX)?;
        let per_permutation = self.rows_per_permutation(Arity::MAX);
        let start = rows.alloc(self.rows_for_hash(inputs.len()))?;
        let chunks = inputs.len().div_ceil(HASH_MANY_CHUNK).max(1);
        tracing::debug!(inputs = inputs.len(), chunks, start, "poseidon hash_many");
        let mut zero = None;
        let mut chained = Lane::Constant(Fr::from(inputs.len() as u64));
        let mut digest = None;
        for chunk in 0..chunks {
            let mut lanes = Vec::with_capacity(Arity::MAX.width());
            lanes.push(Lane::Zero);
            lanes.push(chained);
            lanes.extend(
                inputs
                    .iter()
                    .skip(chunk * HASH_MANY_CHUNK)
                    .take(HASH_MANY_CHUNK)
                    .map(Lane::of),
            );
            lanes.resize(Arity::MAX.width(), Lane::Zero);
            let out = self.assign_permutation(
                region,
                selectors,
                start + chunk * per_permutation,
                &lanes,
                &mut zero,
            )?;
            chained = Lane::of(&out);
            digest = Some(out);
        }
        digest.ok_or(CircuitError::EmptyInput {
            op: "poseidon hash_many",
        })
    }

    /// Assigns one permutation at rows `start..` with input lanes `lanes` (`t` of them) and
    /// returns lane 0 of the output row. `zero` caches the first cell constrained to 0 so that
    /// later zero lanes are copies of it rather than new constants.
    fn assign_permutation(
        &self,
        region: &mut Region<'_, Fr>,
        selectors: &WidthSelectors,
        start: usize,
        lanes: &[Lane],
        zero: &mut Option<Cell>,
    ) -> Result<AssignedVar<Fr>, CircuitError> {
        let params = PoseidonParams::get(selectors.arity);
        let width = params.width();
        if lanes.len() != width {
            return Err(CircuitError::LengthMismatch {
                what: "poseidon input lanes",
                expected: width,
                got: lanes.len(),
            });
        }
        let columns = &self.config.columns;
        let fold = self.config.fold(selectors.arity);
        let kinds = row_kinds(params, selectors.block.as_ref());
        let starts = kind_starts(selectors, &kinds, fold);
        let input: Value<Vec<Fr>> = lanes.iter().map(Lane::value).collect();
        let trace =
            input.map(|state| self.trace(params, selectors, (&kinds, &starts), start, state));

        let mut digest = None;
        for (offset, kind) in kinds.into_iter().enumerate() {
            let row = start + starts[offset];
            match kind {
                RowKind::Full { round } => {
                    selectors.full.enable(region, row)?;
                    self.assign_round_constants(region, selectors, params, round, row);
                }
                RowKind::Partial { round } => {
                    selectors.partial.enable(region, row)?;
                    self.assign_round_constants(region, selectors, params, round, row);
                    let aux = trace.as_ref().map(|t| t.aux[offset]);
                    assign(region, columns.aux, row, aux);
                }
                RowKind::Block { first, rounds } => {
                    if let Some(block) = &selectors.block {
                        block.selector.enable(region, row)?;
                    }
                    for r in 0..rounds {
                        let constant = selectors
                            .round_constants(params, first + r)
                            .first()
                            .copied()
                            .unwrap_or(Fr::ZERO);
                        let (column, down) = place(r, columns.state.len());
                        region.assign_fixed(columns.round_constants[column], row + down, constant);
                    }
                    for v in width..width + 2 * rounds {
                        let (column, down) = place(v, columns.state.len());
                        let value = trace.as_ref().map(|t| t.cells[offset][v]);
                        assign(region, columns.state[column], row + down, value);
                    }
                }
                RowKind::Squares | RowKind::Output => {}
            }
            for (lane, input) in lanes.iter().enumerate() {
                let (column, down) = place(lane, columns.state.len());
                let value = trace.as_ref().map(|t| t.cells[offset][lane]);
                let var = assign(region, columns.state[column], row + down, value);
                if offset == 0 {
                    match input {
                        Lane::Zero => match zero {
                            Some(zero) => region.constrain_equal(var.cell(), *zero),
                            None => {
                                region.constrain_constant(var.cell(), Fr::ZERO)?;
                                *zero = Some(var.cell());
                            }
                        },
                        Lane::Constant(c) => region.constrain_constant(var.cell(), *c)?,
                        Lane::Copy { cell, .. } => region.constrain_equal(var.cell(), *cell),
                    }
                }
                if kind == RowKind::Output && lane == 0 {
                    digest = Some(var);
                }
            }
        }
        digest.ok_or(CircuitError::EmptyInput {
            op: "poseidon permutation",
        })
    }

    fn assign_round_constants(
        &self,
        region: &mut Region<'_, Fr>,
        selectors: &WidthSelectors,
        params: &'static PoseidonParams,
        round: usize,
        row: usize,
    ) {
        let columns = &self.config.columns;
        for (lane, constant) in selectors.round_constants(params, round).iter().enumerate() {
            let (column, down) = place(lane, columns.state.len());
            region.assign_fixed(columns.round_constants[column], row + down, *constant);
        }
    }

    /// Computes the witness of one permutation laid out as `(kinds, starts)` (its row kinds and
    /// their first rows) from absolute row `start` (which, with `starts`, only locates the
    /// test-only tampering).
    #[cfg_attr(not(test), allow(unused_variables))]
    fn trace(
        &self,
        params: &'static PoseidonParams,
        selectors: &WidthSelectors,
        (kinds, starts): (&[RowKind], &[usize]),
        start: usize,
        input: Vec<Fr>,
    ) -> Trace {
        let mut cells: Vec<Vec<Fr>> = Vec::with_capacity(kinds.len());
        let mut aux = Vec::with_capacity(kinds.len());
        let mut state = input;
        let mut squares = Vec::new();
        for (offset, &kind) in kinds.iter().enumerate() {
            #[cfg(test)]
            if kind != RowKind::Squares {
                self.tamper_state(start + starts[offset], &mut state);
            }
            let constants = |round| selectors.round_constants(params, round);
            match kind {
                RowKind::Full { round } => {
                    let e: Vec<Fr> = state
                        .iter()
                        .zip(constants(round))
                        .map(|(s, c)| *s + c)
                        .collect();
                    squares = e.iter().map(Fr::square).collect();
                    let sbox: Vec<Fr> = e
                        .iter()
                        .zip(&squares)
                        .map(|(x, q)| q.square() * x)
                        .collect();
                    cells.push(std::mem::replace(&mut state, mds_mul(params, &sbox)));
                    aux.push(Fr::ZERO);
                }
                RowKind::Squares => {
                    cells.push(std::mem::take(&mut squares));
                    aux.push(Fr::ZERO);
                }
                RowKind::Partial { round } => {
                    let mut sbox: Vec<Fr> = state
                        .iter()
                        .zip(constants(round))
                        .map(|(s, c)| *s + c)
                        .collect();
                    let square = sbox.first().map_or(Fr::ZERO, Fr::square);
                    if let Some(x0) = sbox.first_mut() {
                        *x0 *= square.square();
                    }
                    cells.push(std::mem::replace(&mut state, mds_mul(params, &sbox)));
                    aux.push(square);
                }
                RowKind::Block { first, rounds } => {
                    let mut block = state.clone();
                    for round in first..first + rounds {
                        // Lanes j ≥ 1 add no constant in a partial round (shifted constants).
                        let x = state.first().copied().unwrap_or(Fr::ZERO)
                            + constants(round).first().copied().unwrap_or(Fr::ZERO);
                        let square = x.square();
                        let y = square.square() * x;
                        block.push(square);
                        block.push(y);
                        if let Some(x0) = state.first_mut() {
                            *x0 = y;
                        }
                        state = mds_mul(params, &state);
                    }
                    cells.push(block);
                    aux.push(Fr::ZERO);
                }
                RowKind::Output => {
                    cells.push(state.clone());
                    aux.push(Fr::ZERO);
                }
            }
        }
        let trace = Trace { cells, aux };
        #[cfg(test)]
        let trace = self.tamper_cell(start, starts, trace);
        trace
    }

    /// Applies a recomputing tamper to the state about to be stored at absolute row `row`.
    #[cfg(test)]
    fn tamper_state(&self, row: usize, state: &mut [Fr]) {
        if let Some(Tamper {
            row: target,
            lane: Some(lane),
            delta,
            recompute: true,
        }) = self.tamper
        {
            if target == row {
                if let Some(value) = state.get_mut(lane) {
                    *value += delta;
                }
            }
        }
    }

    /// Applies a non-recomputing tamper to the finished trace of the permutation at `start`
    /// (`lane` indexes the row kind's cells: a block's squares and S-box outputs follow its
    /// state's lanes).
    #[cfg(test)]
    fn tamper_cell(&self, start: usize, starts: &[usize], mut trace: Trace) -> Trace {
        let Some(tamper) = self.tamper.filter(|t| !t.recompute && t.row >= start) else {
            return trace;
        };
        let Some(offset) = starts.iter().position(|s| start + s == tamper.row) else {
            return trace;
        };
        let value = match tamper.lane {
            Some(lane) => trace.cells.get_mut(offset).and_then(|r| r.get_mut(lane)),
            None => trace.aux.get_mut(offset),
        };
        if let Some(value) = value {
            *value += tamper.delta;
        }
        trace
    }
}

/// First row of each row kind, relative to the permutation's first row.
fn kind_starts(selectors: &WidthSelectors, kinds: &[RowKind], fold: usize) -> Vec<usize> {
    kinds
        .iter()
        .scan(0, |row, kind| {
            let start = *row;
            *row += selectors.rows(*kind, fold);
            Some(start)
        })
        .collect()
}

/// Full-round gate: squares row and MDS mix of `q_j^2 * e_j` into the state two rows down.
fn full_round_gate(
    meta: &mut ConstraintSystem<Fr>,
    columns: &PoseidonColumns,
    selectors: &WidthSelectors,
) {
    let params = PoseidonParams::get(selectors.arity);
    let width = params.width();
    let c = columns.state.len();
    let fold = fold(width, c);
    meta.create_gate(format!("poseidon full round t={width}"), |vc| {
        let q = vc.query_selector(selectors.full);
        let e = round_inputs(vc, columns, width);
        let squares: Vec<Expression<Fr>> = (0..width)
            .map(|j| vc.query_advice(columns.state[place(j, c).0], rotation(j, c, fold)))
            .collect();
        let next: Vec<Expression<Fr>> = (0..width)
            .map(|j| vc.query_advice(columns.state[place(j, c).0], rotation(j, c, 2 * fold)))
            .collect();
        let sbox: Vec<Expression<Fr>> = e
            .iter()
            .zip(&squares)
            .map(|(e, sq)| sq.clone().square() * e.clone())
            .collect();
        let square_checks = e
            .iter()
            .zip(&squares)
            .map(|(e, sq)| q.clone() * (sq.clone() - e.clone().square()));
        let mix_checks = params
            .mds()
            .iter()
            .zip(next)
            .map(|(row, next)| q.clone() * (next - linear_combination(row, &sbox)));
        square_checks.chain(mix_checks).collect::<Vec<_>>()
    });
}

/// Partial-round gate: auxiliary square of lane 0 and MDS mix into the next row.
fn partial_round_gate(
    meta: &mut ConstraintSystem<Fr>,
    columns: &PoseidonColumns,
    selectors: &WidthSelectors,
) {
    let params = PoseidonParams::get(selectors.arity);
    let width = params.width();
    let c = columns.state.len();
    let fold = fold(width, c);
    meta.create_gate(format!("poseidon partial round t={width}"), |vc| {
        let q = vc.query_selector(selectors.partial);
        let e = round_inputs(vc, columns, width);
        let next: Vec<Expression<Fr>> = (0..width)
            .map(|j| vc.query_advice(columns.state[place(j, c).0], rotation(j, c, fold)))
            .collect();
        let aux = vc.query_advice(columns.aux, Rotation::cur());
        let e0 = e.first().cloned().unwrap_or(Expression::Constant(Fr::ZERO));
        let aux_check = q.clone() * (aux.clone() - e0.clone().square());
        let mut sbox = e;
        if let Some(x0) = sbox.first_mut() {
            *x0 = aux.square() * e0;
        }
        let mix_checks = params
            .mds()
            .iter()
            .zip(next)
            .map(|(row, next)| q.clone() * (next - linear_combination(row, &sbox)));
        std::iter::once(aux_check)
            .chain(mix_checks)
            .collect::<Vec<_>>()
    });
}

/// Partial-round block gate: with the input state `s` (lanes `0..t` of the block's first
/// rows), lane-0 constants `k_i` (fixed cells `0..R` of those rows), squares `z_i` and S-box
/// outputs `y_i` (cells `t + 2i`, `t + 2i + 1`) and the output state `o` (the state after the
/// block), for each round `i < R`: `x_i = (state before round i)_0 + k_i`, `z_i = x_i^2`,
/// `y_i = z_i^2 * x_i`, where the state before round `i` is the linear map
/// `M·(y_{i−1}, state_1, …)` applied `i` times to `s`; and `o` equals the state after round
/// `R − 1`. Every state is a linear form in `(s, y)` with coefficients from `M` only, so one
/// gate serves every block. Degree 4 (selector included).
fn block_gate(
    meta: &mut ConstraintSystem<Fr>,
    columns: &PoseidonColumns,
    arity: Arity,
    block: &BlockShape,
) {
    let params = PoseidonParams::get(arity);
    let width = params.width();
    let c = columns.state.len();
    let fold = fold(width, c);
    let rounds = block.rounds;
    meta.create_gate(format!("poseidon partial-round block t={width}"), |vc| {
        let q = vc.query_selector(block.selector);
        let mut cell = |v: usize, down: usize| {
            vc.query_advice(columns.state[place(v, c).0], rotation(v, c, down))
        };
        let s: Vec<Expression<Fr>> = (0..width).map(|j| cell(j, 0)).collect();
        let z: Vec<Expression<Fr>> = (0..rounds).map(|i| cell(width + 2 * i, 0)).collect();
        let y: Vec<Expression<Fr>> = (0..rounds).map(|i| cell(width + 2 * i + 1, 0)).collect();
        let out: Vec<Expression<Fr>> = (0..width)
            .map(|j| cell(j, fold + block.extra_rows))
            .collect();
        let k: Vec<Expression<Fr>> = (0..rounds)
            .map(|i| vc.query_fixed(columns.round_constants[place(i, c).0], rotation(i, c, 0)))
            .collect();
        let vars: Vec<Expression<Fr>> = s.iter().chain(&y).cloned().collect();
        // Linear forms over `vars` of the state before each round.
        let unit = |index: usize| {
            let mut form = vec![Fr::ZERO; width + rounds];
            form[index] = Fr::ONE;
            form
        };
        let mut state: Vec<Vec<Fr>> = (0..width).map(unit).collect();
        let mut constraints = Vec::with_capacity(2 * rounds + width);
        for i in 0..rounds {
            let x = sparse_combination(&state[0], &vars) + k[i].clone();
            constraints.push(q.clone() * (z[i].clone() - x.clone().square()));
            constraints.push(q.clone() * (y[i].clone() - z[i].clone().square() * x));
            state[0] = unit(width + i);
            state = params
                .mds()
                .iter()
                .map(|row| {
                    let mut form = vec![Fr::ZERO; width + rounds];
                    for (m, input) in row.iter().zip(&state) {
                        for (f, a) in form.iter_mut().zip(input) {
                            *f += *m * a;
                        }
                    }
                    form
                })
                .collect();
        }
        for (o, form) in out.into_iter().zip(&state) {
            constraints.push(q.clone() * (o - sparse_combination(form, &vars)));
        }
        constraints
    });
}

/// `sum_j coefficients[j] * terms[j]` over the non-zero coefficients.
fn sparse_combination(coefficients: &[Fr], terms: &[Expression<Fr>]) -> Expression<Fr> {
    coefficients
        .iter()
        .zip(terms)
        .filter(|(m, _)| !bool::from(m.is_zero()))
        .map(|(m, x)| {
            if *m == Fr::ONE {
                x.clone()
            } else {
                x.clone() * *m
            }
        })
        .reduce(|a, b| a + b)
        .unwrap_or(Expression::Constant(Fr::ZERO))
}

/// `e_j = s_j + c_j` for the state (and its round constants) starting at the gate's row.
fn round_inputs(
    vc: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>,
    columns: &PoseidonColumns,
    width: usize,
) -> Vec<Expression<Fr>> {
    let c = columns.state.len();
    (0..width)
        .map(|j| {
            let (column, _) = place(j, c);
            vc.query_advice(columns.state[column], rotation(j, c, 0))
                + vc.query_fixed(columns.round_constants[column], rotation(j, c, 0))
        })
        .collect()
}

/// `sum_j row[j] * terms[j]`.
fn linear_combination(row: &[Fr], terms: &[Expression<Fr>]) -> Expression<Fr> {
    row.iter()
        .zip(terms)
        .map(|(m, x)| x.clone() * *m)
        .reduce(|a, b| a + b)
        .unwrap_or(Expression::Constant(Fr::ZERO))
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, ops::Range};

    use halo2_proofs::halo2curves::ff::PrimeField;
    use halo2_proofs::{
        circuit::{Layouter, SimpleFloorPlanner},
        dev::{MockProver, VerifyFailure},
        plonk::{Circuit, Error, Instance},
    };
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::field::value_to_option;
    use crate::poseidon::native::{
        self,
        tests::{many_inputs, FIXED_1_TO_N, MANY},
    };

    const K: u32 = 10;
    /// Usable rows at `K` (1024 minus halo2's blinding rows, with margin).
    const CAPACITY: usize = 1000;
    /// Rows of one 16-input permutation.
    const PER: usize = 85;
    /// Relative row of the first partial round (after four two-row full rounds).
    const FIRST_PARTIAL: usize = FULL_ROUNDS;

    /// One hash the test circuit computes over a range of its input cells; digest `i` is
    /// constrained to instance row `i`.
    #[derive(Clone, Debug)]
    enum Op {
        Fixed(Range<usize>),
        Many(Range<usize>),
    }

    #[derive(Clone, Debug, Default)]
    struct TestParams {
        arities: Vec<Arity>,
        /// State columns (default: the widest state, one row per state).
        lanes: Option<usize>,
        /// Partial-round layout.
        partial: PartialRounds,
    }

    #[derive(Clone, Debug)]
    struct TestCircuit {
        inputs: Vec<Fr>,
        ops: Vec<Op>,
        arities: Vec<Arity>,
        lanes: Option<usize>,
        partial: PartialRounds,
        tamper: Option<Tamper>,
        capacity: usize,
        /// Digests the witness produced during the last synthesis.
        digests: RefCell<Vec<Fr>>,
    }

    #[derive(Clone, Debug)]
    struct TestConfig {
        poseidon: PoseidonConfig,
        input: Column<Advice>,
        instance: Column<Instance>,
    }

    impl TestCircuit {
        /// Assigns the inputs (own column, rows `0..n`) and runs the ops.
        fn lay_out(
            &self,
            chip: &PoseidonChip,
            config: &TestConfig,
            region: &mut Region<'_, Fr>,
        ) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
            let mut rows = RowAllocator::new(self.capacity);
            let cells: Vec<AssignedVar<Fr>> = self
                .inputs
                .iter()
                .enumerate()
                .map(|(row, x)| assign(region, config.input, row, Value::known(*x)))
                .collect();
            self.ops
                .iter()
                .map(|op| match op {
                    Op::Fixed(range) => chip.hash_fixed(region, &mut rows, &cells[range.clone()]),
                    Op::Many(range) => chip.hash(region, &mut rows, &cells[range.clone()]),
                })
                .collect()
        }
    }

    impl Circuit<Fr> for TestCircuit {
        type Config = TestConfig;
        type FloorPlanner = SimpleFloorPlanner;
        type Params = TestParams;

        fn without_witnesses(&self) -> Self {
            self.clone()
        }

        fn params(&self) -> TestParams {
            TestParams {
                arities: self.arities.clone(),
                lanes: self.lanes,
                partial: self.partial,
            }
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> TestConfig {
            Self::configure_with_params(
                meta,
                TestParams {
                    arities: vec![Arity::TWO, Arity::MAX],
                    lanes: None,
                    partial: PartialRounds::PerRound,
                },
            )
        }

        fn configure_with_params(
            meta: &mut ConstraintSystem<Fr>,
            params: TestParams,
        ) -> TestConfig {
            let max = params.arities.iter().copied().max().unwrap_or(Arity::MAX);
            let columns = match params.lanes {
                Some(lanes) => PoseidonColumns::with_lanes(meta, lanes),
                None => PoseidonColumns::new(meta, max),
            };
            let poseidon =
                PoseidonChip::configure_with(meta, columns, &params.arities, params.partial)
                    .expect("fresh columns are wide enough");
            let input = meta.advice_column();
            meta.enable_equality(input);
            let instance = meta.instance_column();
            meta.enable_equality(instance);
            TestConfig {
                poseidon,
                input,
                instance,
            }
        }

        fn synthesize(
            &self,
            config: TestConfig,
            mut layouter: impl Layouter<Fr>,
        ) -> Result<(), Error> {
            let mut chip = PoseidonChip::construct(config.poseidon.clone());
            chip.tamper = self.tamper;
            let digests = layouter.assign_region(
                || "poseidon test",
                |mut region| Ok(self.lay_out(&chip, &config, &mut region)),
            )??;
            let mut recorded = self.digests.borrow_mut();
            recorded.clear();
            for (index, digest) in digests.iter().enumerate() {
                recorded.extend(value_to_option(digest.value()));
                layouter.constrain_instance(digest.cell(), config.instance, index);
            }
            Ok(())
        }
    }

    fn circuit(inputs: Vec<Fr>, ops: Vec<Op>, arities: &[Arity]) -> TestCircuit {
        TestCircuit {
            inputs,
            ops,
            arities: arities.to_vec(),
            lanes: None,
            partial: PartialRounds::PerRound,
            tamper: None,
            capacity: CAPACITY,
            digests: RefCell::new(Vec::new()),
        }
    }

    fn tampered(
        circuit: &TestCircuit,
        row: usize,
        lane: Option<usize>,
        recompute: bool,
    ) -> TestCircuit {
        TestCircuit {
            tamper: Some(Tamper {
                row,
                lane,
                delta: Fr::from(3),
                recompute,
            }),
            ..circuit.clone()
        }
    }

    fn fr(decimal: &str) -> anyhow::Result<Fr> {
        Fr::from_str_vartime(decimal).ok_or_else(|| anyhow::anyhow!("bad decimal {decimal}"))
    }

    fn one_to(n: u64) -> Vec<Fr> {
        (1..=n).map(Fr::from).collect()
    }

    fn verify(
        circuit: &TestCircuit,
        instance: Vec<Fr>,
    ) -> anyhow::Result<Result<(), Vec<VerifyFailure>>> {
        let prover = MockProver::run(K, circuit, vec![instance])?;
        Ok(prover.verify())
    }

    /// Synthesizes once to learn the digests the (possibly tampered) witness produces, then
    /// verifies with the instance set to them, so that any failure comes from the chip.
    fn verify_own_output(circuit: &TestCircuit) -> anyhow::Result<Result<(), Vec<VerifyFailure>>> {
        MockProver::run(K, circuit, vec![vec![Fr::ZERO; circuit.ops.len()]])?;
        let digests = circuit.digests.borrow().clone();
        anyhow::ensure!(digests.len() == circuit.ops.len(), "digests not recorded");
        verify(circuit, digests)
    }

    fn gate_failure(result: &Result<(), Vec<VerifyFailure>>) -> bool {
        matches!(result, Err(failures)
            if failures.iter().any(|f| matches!(f, VerifyFailure::ConstraintNotSatisfied { .. })))
    }

    fn copy_failure_only(result: &Result<(), Vec<VerifyFailure>>) -> bool {
        matches!(result, Err(failures)
            if failures.iter().all(|f| matches!(f, VerifyFailure::Permutation { .. })))
    }

    /// `hash_many` over 17 elements: two permutations, the second with padding.
    fn chain17() -> TestCircuit {
        circuit(many_inputs(17), vec![Op::Many(0..17)], &[Arity::MAX])
    }

    #[test]
    fn rows_per_permutation_matches_layout() -> anyhow::Result<()> {
        let chip = |lanes: usize| -> anyhow::Result<PoseidonChip> {
            let mut cs = ConstraintSystem::<Fr>::default();
            let columns = PoseidonColumns::with_lanes(&mut cs, lanes);
            let config = PoseidonChip::configure(&mut cs, columns, &[Arity::TWO, Arity::MAX])?;
            Ok(PoseidonChip::construct(config))
        };
        let wide = chip(17)?;
        assert_eq!(wide.rows_per_permutation(Arity::MAX), PER);
        assert_eq!(wide.rows_per_permutation(Arity::TWO), 74);
        assert_eq!(wide.rows_for_hash(0), PER);
        assert_eq!(wide.rows_for_hash(15), PER);
        assert_eq!(wide.rows_for_hash(16), 2 * PER);
        // Folded: 8 lanes hold a 17-wide state in 3 rows, a 3-wide one in 1.
        let narrow = chip(8)?;
        assert_eq!(narrow.config().fold(Arity::MAX), 3);
        assert_eq!(narrow.rows_per_permutation(Arity::MAX), 3 * PER);
        assert_eq!(narrow.rows_per_permutation(Arity::TWO), 74);
        assert_eq!(chip(1)?.rows_per_permutation(Arity::MAX), 17 * PER);
        for arity in Arity::all() {
            let params = PoseidonParams::get(arity);
            assert_eq!(
                row_kinds(params, None).len(),
                PoseidonChip::states_per_permutation(arity)
            );
        }
        Ok(())
    }

    /// `hash_many` over 17 elements with states folded over `lanes` columns.
    fn chain17_folded(lanes: usize) -> TestCircuit {
        TestCircuit {
            lanes: Some(lanes),
            ..chain17()
        }
    }

    #[test]
    fn folded_states_match_native_and_circomlibjs() -> anyhow::Result<()> {
        // Two permutations fit the test circuit down to 5 lanes (4 rows per state); one
        // permutation down to 2 lanes (9 rows per state).
        for lanes in [16, 8, 6, 5] {
            let c = chain17_folded(lanes);
            let expected = native::hash_many(&many_inputs(17));
            assert_eq!(verify(&c, vec![expected])?, Ok(()), "lanes {lanes}");
            assert!(verify(&c, vec![expected + Fr::ONE])?.is_err());
        }
        for lanes in [3, 2] {
            let c = TestCircuit {
                lanes: Some(lanes),
                ..circuit(
                    one_to(16),
                    vec![Op::Fixed(0..16)],
                    &[Arity::TWO, Arity::MAX],
                )
            };
            let expected = fr(FIXED_1_TO_N[15])?;
            assert_eq!(verify(&c, vec![expected])?, Ok(()), "lanes {lanes}");
            let two = TestCircuit {
                lanes: Some(lanes),
                ..circuit(one_to(2), vec![Op::Fixed(0..2)], &[Arity::TWO, Arity::MAX])
            };
            assert_eq!(verify(&two, vec![fr(FIXED_1_TO_N[1])?])?, Ok(()));
        }
        Ok(())
    }

    #[test]
    fn folded_tampering_fails() -> anyhow::Result<()> {
        // 8 lanes: states of 3 rows; lane 16 sits alone in a state's third row.
        let c = chain17_folded(8);
        let f = 3;
        let per = PER * f;
        // State cells (recomputed or not): after the first full round, inside the partial
        // rounds, in the second permutation, and lane 16 (third row of its state).
        for (state, lane) in [(2, 9), (FIRST_PARTIAL + 10, 3), (FIRST_PARTIAL + 68, 16)] {
            for (start, recompute) in [(0, false), (0, true), (per, true)] {
                let row = start + state * f;
                let result = verify_own_output(&tampered(&c, row, Some(lane), recompute))?;
                assert!(
                    gate_failure(&result),
                    "state {state} lane {lane} start {start}: {result:?}"
                );
            }
        }
        // Squares (second row of a squares block) and the auxiliary cell.
        for (state, lane) in [(1, Some(12)), (FIRST_PARTIAL + 5, None)] {
            let result = verify_own_output(&tampered(&c, state * f, lane, false))?;
            assert!(
                gate_failure(&result),
                "state {state} lane {lane:?}: {result:?}"
            );
        }
        // Output digest and copied inputs of the second permutation.
        let result = verify_own_output(&tampered(&c, per - f, Some(0), false))?;
        assert!(gate_failure(&result), "{result:?}");
        for lane in [1, 3, 9] {
            let result = verify_own_output(&tampered(&c, per, Some(lane), false))?;
            assert!(result.is_err(), "input lane {lane}: {result:?}");
        }
        Ok(())
    }

    #[test]
    fn two_inputs_match_circomlibjs() -> anyhow::Result<()> {
        let c = circuit(one_to(2), vec![Op::Fixed(0..2)], &[Arity::TWO]);
        let expected = fr(FIXED_1_TO_N[1])?;
        assert_eq!(verify(&c, vec![expected])?, Ok(()));
        assert!(verify(&c, vec![expected + Fr::ONE])?.is_err());
        Ok(())
    }

    #[test]
    fn sixteen_inputs_match_circomlibjs() -> anyhow::Result<()> {
        let c = circuit(one_to(16), vec![Op::Fixed(0..16)], &[Arity::MAX]);
        let expected = fr(FIXED_1_TO_N[15])?;
        assert_eq!(verify(&c, vec![expected])?, Ok(()));
        assert!(verify(&c, vec![expected + Fr::ONE])?.is_err());
        Ok(())
    }

    #[test]
    fn one_config_serves_several_widths() -> anyhow::Result<()> {
        let inputs = one_to(16);
        let ops = vec![
            Op::Fixed(0..2),
            Op::Fixed(0..16),
            Op::Many(0..16),
            Op::Fixed(3..5),
        ];
        let c = circuit(inputs.clone(), ops, &[Arity::TWO, Arity::MAX]);
        let expected = vec![
            fr(FIXED_1_TO_N[1])?,
            fr(FIXED_1_TO_N[15])?,
            native::hash_many(&inputs),
            native::poseidon(&inputs[3..5])?,
        ];
        assert_eq!(verify(&c, expected.clone())?, Ok(()));
        let mut wrong = expected;
        wrong[2] += Fr::ONE;
        assert!(verify(&c, wrong)?.is_err());
        Ok(())
    }

    #[test]
    fn hash_many_in_circuit_equals_native_on_random_inputs() -> anyhow::Result<()> {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        for len in [1, 15, 16, 17, 100] {
            let inputs: Vec<Fr> = (0..len).map(|_| Fr::random(&mut rng)).collect();
            let c = circuit(inputs.clone(), vec![Op::Many(0..len)], &[Arity::MAX]);
            let expected = native::hash_many(&inputs);
            assert_eq!(verify(&c, vec![expected])?, Ok(()), "length {len}");
            assert!(
                verify(&c, vec![expected + Fr::ONE])?.is_err(),
                "length {len}"
            );
        }
        Ok(())
    }

    #[test]
    fn hash_many_in_circuit_matches_circomlibjs_vectors() -> anyhow::Result<()> {
        for (len, expected) in MANY.into_iter().filter(|(n, _)| [0, 17, 100].contains(n)) {
            let c = circuit(many_inputs(len), vec![Op::Many(0..len)], &[Arity::MAX]);
            assert_eq!(verify(&c, vec![fr(expected)?])?, Ok(()), "length {len}");
        }
        Ok(())
    }

    #[test]
    fn honest_witness_passes_against_its_own_output() -> anyhow::Result<()> {
        let c = chain17();
        assert_eq!(verify_own_output(&c)?, Ok(()));
        assert_eq!(
            *c.digests.borrow(),
            vec![native::hash_many(&many_inputs(17))]
        );
        Ok(())
    }

    #[test]
    fn tampered_output_fails() -> anyhow::Result<()> {
        let c = chain17();
        // Output of the first permutation (it also feeds the chain) and the final digest.
        for row in [PER - 1, 2 * PER - 1] {
            let result = verify_own_output(&tampered(&c, row, Some(0), false))?;
            assert!(gate_failure(&result), "row {row}: {result:?}");
        }
        Ok(())
    }

    #[test]
    fn tampered_intermediate_state_fails() -> anyhow::Result<()> {
        let c = chain17();
        let cells = [
            (2, 16),                       // state after the first full round
            (FIRST_PARTIAL + 10, 3),       // inside the partial rounds
            (FIRST_PARTIAL + 68, 0),       // first state of the last full rounds
            (PER + FIRST_PARTIAL + 30, 9), // second permutation
        ];
        for (row, lane) in cells {
            for recompute in [false, true] {
                let result = verify_own_output(&tampered(&c, row, Some(lane), recompute))?;
                assert!(
                    gate_failure(&result),
                    "row {row} lane {lane} recompute {recompute}: {result:?}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn tampered_squares_and_aux_fail() -> anyhow::Result<()> {
        let c = chain17();
        for (row, lane) in [
            (1, Some(2)),
            (FIRST_PARTIAL + 68 + 3, Some(16)),
            (FIRST_PARTIAL + 5, None),
        ] {
            let result = verify_own_output(&tampered(&c, row, lane, false))?;
            assert!(gate_failure(&result), "row {row} lane {lane:?}: {result:?}");
        }
        Ok(())
    }

    #[test]
    fn tampered_input_lanes_fail_by_copy_constraints() -> anyhow::Result<()> {
        let c = chain17();
        let lanes = [
            (0, 0),   // capacity (constant 0)
            (0, 1),   // length n (constant)
            (0, 2),   // copied input x_0
            (0, 16),  // copied input x_14
            (PER, 0), // capacity of the second permutation (copy of the zero cell)
            (PER, 1), // chaining value h_1
            (PER, 3), // copied input x_16
            (PER, 5), // zero padding
        ];
        for (row, lane) in lanes {
            let result = verify_own_output(&tampered(&c, row, Some(lane), true))?;
            assert!(
                copy_failure_only(&result),
                "row {row} lane {lane}: {result:?}"
            );
        }
        let fixed = circuit(one_to(2), vec![Op::Fixed(0..2)], &[Arity::TWO]);
        for lane in 0..3 {
            let result = verify_own_output(&tampered(&fixed, 0, Some(lane), true))?;
            assert!(copy_failure_only(&result), "fixed lane {lane}: {result:?}");
        }
        Ok(())
    }

    #[test]
    fn synthesis_errors_are_reported() -> anyhow::Result<()> {
        let short = TestCircuit {
            capacity: PER + 10,
            ..chain17()
        };
        assert!(MockProver::run(K, &short, vec![vec![Fr::ZERO]]).is_err());
        let unconfigured = circuit(one_to(2), vec![Op::Fixed(0..2)], &[Arity::MAX]);
        assert!(MockProver::run(K, &unconfigured, vec![vec![Fr::ZERO]]).is_err());
        let too_wide = circuit(one_to(17), vec![Op::Fixed(0..17)], &[Arity::MAX]);
        assert!(MockProver::run(K, &too_wide, vec![vec![Fr::ZERO]]).is_err());

        let mut cs = ConstraintSystem::<Fr>::default();
        let columns = PoseidonColumns::new(&mut cs, Arity::TWO);
        let no_state = PoseidonColumns {
            state: Vec::new(),
            ..columns.clone()
        };
        assert!(matches!(
            PoseidonChip::configure(&mut cs, no_state, &[Arity::MAX]),
            Err(CircuitError::InvalidParams {
                parameter: "poseidon state columns",
                value: 0,
                ..
            })
        ));
        let few_constants = PoseidonColumns {
            round_constants: columns.round_constants[..2].to_vec(),
            ..columns.clone()
        };
        assert!(matches!(
            PoseidonChip::configure(&mut cs, few_constants, &[Arity::MAX]),
            Err(CircuitError::InvalidParams {
                parameter: "poseidon round-constant columns",
                value: 2,
                ..
            })
        ));
        let config = PoseidonChip::configure(&mut cs, columns, &[Arity::TWO])?;
        assert_eq!(config.arities(), vec![Arity::TWO]);
        assert!(matches!(
            config.selectors(Arity::MAX),
            Err(CircuitError::InvalidParams { value: 16, .. })
        ));
        Ok(())
    }

    #[test]
    fn shared_columns_come_from_the_pool() -> anyhow::Result<()> {
        let mut cs = ConstraintSystem::<Fr>::default();
        let lanes: Vec<Column<Advice>> = (0..20).map(|_| cs.advice_column()).collect();
        let acc = cs.advice_column();
        let fixed: Vec<Column<Fixed>> = (0..21).map(|_| cs.fixed_column()).collect();
        let constants = cs.fixed_column();
        cs.enable_constant(constants);
        assert!(PoseidonColumns::shared(&mut cs, &lanes[..0], acc, &fixed, Arity::MAX).is_err());
        assert!(PoseidonColumns::shared(&mut cs, &lanes, acc, &fixed[..16], Arity::MAX).is_err());
        // Fewer lanes than the state width: states fold, as many round-constant columns.
        let folded = PoseidonColumns::shared(&mut cs, &lanes[..8], acc, &fixed, Arity::MAX)?;
        assert_eq!(folded.state, lanes[..8]);
        assert_eq!(folded.round_constants, fixed[..8]);
        let columns = PoseidonColumns::shared(&mut cs, &lanes, acc, &fixed, Arity::MAX)?;
        assert_eq!(columns.constants, constants);
        assert_eq!(columns.state, lanes[..17]);
        assert_eq!(columns.round_constants, fixed[..17]);
        let (advice, fixed_count) = (cs.num_advice_columns(), cs.num_fixed_columns());
        PoseidonChip::configure(&mut cs, columns, &[Arity::TWO, Arity::MAX])?;
        assert_eq!(cs.num_advice_columns(), advice);
        assert_eq!(cs.num_fixed_columns(), fixed_count);
        assert_eq!(cs.constants().len(), 1);
        Ok(())
    }

    #[test]
    fn constraint_degree_is_at_most_four() -> anyhow::Result<()> {
        for (lanes, partial) in [
            (17, PartialRounds::PerRound),
            (17, PartialRounds::Blocks),
            (4, PartialRounds::Blocks),
        ] {
            let mut cs = ConstraintSystem::<Fr>::default();
            let columns = PoseidonColumns::with_lanes(&mut cs, lanes);
            PoseidonChip::configure_with(&mut cs, columns, &[Arity::TWO, Arity::MAX], partial)?;
            let max_gate = cs
                .gates()
                .iter()
                .flat_map(|gate| gate.polynomials())
                .map(|poly| poly.degree())
                .max();
            assert_eq!(max_gate, Some(4));
            assert!(cs.degree() <= 4, "degree {}", cs.degree());
        }
        Ok(())
    }

    /// `chain17` with partial-round blocks over `lanes` columns.
    fn chain17_blocks(lanes: usize) -> TestCircuit {
        TestCircuit {
            partial: PartialRounds::Blocks,
            ..chain17_folded(lanes)
        }
    }

    fn block_chip(lanes: usize) -> anyhow::Result<PoseidonChip> {
        let mut cs = ConstraintSystem::<Fr>::default();
        let columns = PoseidonColumns::with_lanes(&mut cs, lanes);
        let config = PoseidonChip::configure_with(
            &mut cs,
            columns,
            &[Arity::TWO, Arity::MAX],
            PartialRounds::Blocks,
        )?;
        Ok(PoseidonChip::construct(config))
    }

    #[test]
    fn block_shapes_and_rows() -> anyhow::Result<()> {
        // (lanes, rounds per block, extra rows, rows per 16-input permutation)
        // 17 lanes: 8 blocks of 8 rounds (2 rows each) + 4 single rounds: 16 + 16 + 4 + 1.
        // 4 lanes (5-row states, 3 spare cells): 6 blocks of 11 (10 rows) + 2 singles:
        // 80 + 60 + 10 + 5. 8 lanes: 4 blocks of 15 (6 rows) + 8 singles: 48 + 24 + 24 + 3.
        // 64 lanes: the squares fit the state row's 47 spare cells (blocks of one row).
        for (lanes, rounds, extra, rows) in [
            (17, 8, 1, 37),
            (4, 11, 5, 155),
            (8, 15, 3, 99),
            (1, 8, 16, 621),
            (64, 16, 0, 25),
        ] {
            let chip = block_chip(lanes)?;
            let shape = chip.config.selectors(Arity::MAX)?.block;
            assert_eq!(
                shape.map(|b| (b.rounds, b.extra_rows)),
                Some((rounds, extra)),
                "lanes {lanes}"
            );
            assert_eq!(chip.rows_per_permutation(Arity::MAX), rows, "lanes {lanes}");
            assert!(extra <= chip.config.fold(Arity::MAX), "lanes {lanes}");
        }
        // Without blocks the layout is the per-round one.
        let mut cs = ConstraintSystem::<Fr>::default();
        let columns = PoseidonColumns::with_lanes(&mut cs, 4);
        let per_round =
            PoseidonChip::construct(PoseidonChip::configure(&mut cs, columns, &[Arity::MAX])?);
        assert_eq!(per_round.rows_per_permutation(Arity::MAX), 5 * PER);
        Ok(())
    }

    #[test]
    fn blocks_match_native_and_circomlibjs() -> anyhow::Result<()> {
        let expected = native::hash_many(&many_inputs(17));
        for lanes in [17, 16, 9, 8, 6, 4, 2] {
            let c = chain17_blocks(lanes);
            assert_eq!(verify(&c, vec![expected])?, Ok(()), "lanes {lanes}");
            assert!(verify(&c, vec![expected + Fr::ONE])?.is_err());
        }
        for lanes in [17, 3, 1] {
            let c = TestCircuit {
                lanes: Some(lanes),
                partial: PartialRounds::Blocks,
                ..circuit(
                    one_to(16),
                    vec![Op::Fixed(0..16)],
                    &[Arity::TWO, Arity::MAX],
                )
            };
            assert_eq!(
                verify(&c, vec![fr(FIXED_1_TO_N[15])?])?,
                Ok(()),
                "lanes {lanes}"
            );
            let two = TestCircuit {
                lanes: Some(lanes),
                partial: PartialRounds::Blocks,
                ..circuit(one_to(2), vec![Op::Fixed(0..2)], &[Arity::TWO, Arity::MAX])
            };
            assert_eq!(
                verify(&two, vec![fr(FIXED_1_TO_N[1])?])?,
                Ok(()),
                "lanes {lanes}"
            );
        }
        Ok(())
    }

    #[test]
    fn block_tampering_fails() -> anyhow::Result<()> {
        // 8 lanes, blocks of 15 rounds: rows 0..24 the first four full rounds, blocks at 24,
        // 30, 36 and 42 (3 state rows, then 3 rows of squares and S-box outputs), single
        // partial rounds at 48, 51, …, 69, the last full rounds from 72, output at 96.
        let c = chain17_blocks(8);
        let per = 99;
        let t = 17;
        assert_eq!(verify_own_output(&c)?, Ok(()));
        let failing = |row: usize, lane: Option<usize>, recompute: bool| -> anyhow::Result<()> {
            let result = verify_own_output(&tampered(&c, row, lane, recompute))?;
            anyhow::ensure!(
                gate_failure(&result),
                "row {row} lane {lane:?} recompute {recompute}: {result:?}"
            );
            Ok(())
        };
        for start in [0, per] {
            // Input state of a block (alone, or recomputed onwards so that only the previous
            // block's output check can catch it), in both permutations.
            failing(start + 30, Some(5), false)?;
            failing(start + 36, Some(3), true)?;
            failing(start + 24, Some(16), true)?;
            // A square, an S-box output, the last S-box output (third extra row).
            failing(start + 30, Some(t + 2 * 3), false)?;
            failing(start + 30, Some(t + 2 * 7 + 1), false)?;
            failing(start + 42, Some(t + 2 * 14 + 1), false)?;
            // The last block's output (the first single partial round's state).
            failing(start + 48, Some(0), false)?;
            failing(start + 48, Some(11), true)?;
        }
        Ok(())
    }

    #[test]
    fn kzg_proof_of_two_input_hash_verifies() -> anyhow::Result<()> {
        use halo2_proofs::{
            halo2curves::bn256::{Bn256, G1Affine},
            plonk::{create_proof, keygen_pk, keygen_vk, verify_proof},
            poly::{
                commitment::ParamsProver,
                kzg::{
                    commitment::{KZGCommitmentScheme, ParamsKZG},
                    multiopen::{ProverSHPLONK, VerifierSHPLONK},
                    strategy::SingleStrategy,
                },
            },
            transcript::{
                Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer,
                TranscriptWriterBuffer,
            },
        };

        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let params = ParamsKZG::<Bn256>::setup(7, &mut rng);
        let c = TestCircuit {
            capacity: 100,
            ..circuit(one_to(2), vec![Op::Fixed(0..2)], &[Arity::TWO])
        };
        let vk = keygen_vk(&params, &c)?;
        let pk = keygen_pk(&params, vk, &c)?;
        let expected = fr(FIXED_1_TO_N[1])?;
        let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<_>, _, _, _, _>(
            &params,
            &pk,
            std::slice::from_ref(&c),
            &[&[&[expected]]],
            &mut rng,
            &mut transcript,
        )?;
        let proof = transcript.finalize();
        let accepts = |instance: Fr| {
            let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(&proof[..]);
            verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<_>, _, _, _>(
                params.verifier_params(),
                pk.get_vk(),
                SingleStrategy::new(&params),
                &[&[&[instance]]],
                &mut transcript,
            )
            .is_ok()
        };
        assert!(accepts(expected));
        assert!(!accepts(expected + Fr::ONE));
        Ok(())
    }
}
