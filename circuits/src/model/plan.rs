//! Automatic choice of the circuit size `k` and of the column pool.
//!
//! [`plan`] tries every pool in a small grid (lanes `W` in [`LANE_CANDIDATES`], range slots
//! `S ∈ {1, 2, 4, 8}`, limbs per slot = `⌈required range bits / 8⌉`, range checks by lookup
//! or by digits, Poseidon partial rounds per round or in blocks), counts the rows of each
//! layout exactly (the real layout code run against a discarding backend) together with its
//! table rows, takes the smallest `k` that holds them, and picks, among the layouts within the
//! advice-column budget, the one that best serves the [`PlanGoal`]:
//!
//! * [`PlanGoal::Prove`]: the lowest estimated proving time ([`CircuitShape::proving_cost`]);
//!   ties go to fewer committed columns (advice columns plus three per lookup argument:
//!   permuted input, permuted table and product), then fewer fixed columns;
//! * [`PlanGoal::Gas`]: the fewest verifier commitments
//!   ([`CircuitShape::verifier_commitments`]), then the lowest proving cost;
//! * [`PlanGoal::Balanced`] (the default): the fewest verifier commitments among the layouts
//!   whose estimated proving cost is at most [`BALANCED_SLACK`] times the fastest one's.
//!
//! Both the goal and the budget are the on-chain trade-off: every committed column and every
//! fixed column is one more elliptic-curve multiplication (≈ 6–8k gas with its opened
//! evaluation) in the verifier, so fewer columns buy cheaper verification with a taller circuit
//! and a longer proof time.
//!
//! [`CircuitShape`] reports the numbers a proving-cost estimate needs (rows, columns,
//! lookups, degree); the prover crate turns them into time and memory.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::ConstraintSystem;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zkgrid_models::QuantizedModel;

use super::dry_run::measure;
use super::instances::InstanceLayout;
use super::settings::{CircuitSettings, Visibility};
use super::support::{
    check_supported, required_chips, required_limbs, settings_table_rows, uses_lookup_table,
};
use super::ModelCircuit;
use crate::config::ModelParams;
use crate::error::CircuitError;

/// Version of the planner's choice: bumped whenever [`plan()`] may choose differently for the
/// same model and options (other candidates or cost model), so that cached plans are redone.
/// 2: 17 lanes are a candidate. 3: the goal ([`PlanGoal`], default balanced); Poseidon folds
/// into pools narrower than its state. 4: only the chips the model uses are configured, 4-lane
/// pools. 5: balanced slack 2 → 1.25. 6: Poseidon partial rounds in blocks are a candidate.
/// 7: gate operations weigh less in the verifier cost (cheaper verifier arithmetic).
/// 8: range checks by base-4 digits (no lookup) are a candidate; selectors are compressed at
/// key generation.
/// 9: the narrow backend (one advice column, [`crate::narrow`]) is a candidate for the models
/// it supports.
pub const PLANNER_VERSION: u32 = 9;

/// [`PlanGoal::Balanced`] accepts layouts up to this factor slower to prove (estimated) than
/// the fastest one, and among them takes the cheapest to verify. At 2 the peer mlp_small took
/// an 8-lane k-12 layout: 24% less verifier gas but 1.6× the prove time (4.8× EZKL's speed
/// instead of ≥ 5×); at 1.25 it keeps a 16-lane k-11 layout (1.11× the estimate).
pub const BALANCED_SLACK: f64 = 1.25;

/// What [`plan_with`] optimizes among the layouts within the column budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanGoal {
    /// Fastest estimated proving, whatever the verifier costs.
    Prove,
    /// Fewest verifier commitments among layouts at most [`BALANCED_SLACK`]× slower to prove
    /// than the fastest.
    #[default]
    Balanced,
    /// Fewest verifier commitments (cheapest on-chain verification), whatever proving costs.
    Gas,
}

impl PlanGoal {
    /// The goal's name as the CLI and the REST API spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            PlanGoal::Prove => "prove",
            PlanGoal::Balanced => "balanced",
            PlanGoal::Gas => "gas",
        }
    }
}

impl std::str::FromStr for PlanGoal {
    type Err = CircuitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "prove" => Ok(PlanGoal::Prove),
            "balanced" => Ok(PlanGoal::Balanced),
            "gas" => Ok(PlanGoal::Gas),
            _ => Err(CircuitError::UnknownPlanGoal {
                got: s.chars().take(32).collect(),
            }),
        }
    }
}

/// Lane widths the planner tries. Poseidon (hashed input, output or weights) always shares the
/// pool's lanes; 17 is the width of its 16-input state, so at 17 lanes a state is one row,
/// with 9 (or 12) lanes over two rows, with 6 or 8 over three, with 4 over five (see
/// [`crate::poseidon::PoseidonChip`]). Narrow pools mean fewer commitments for the verifier;
/// 4 lanes only for models without LeakyReLU or max layers ([`crate::ChipSet::min_lanes`]).
pub const LANE_CANDIDATES: [usize; 10] = [4, 6, 8, 9, 12, 16, 17, 32, 64, 128];
/// Range slots per row the planner tries (at most the lane count).
pub const RANGE_SLOT_CANDIDATES: [usize; 4] = [1, 2, 4, 8];

/// Cost of one commitment per domain row (see [`CircuitShape::proving_cost`]).
pub const MSM_COST_PER_ROW: f64 = 1.0;
/// Cost of one polynomial per extended-domain point (see [`CircuitShape::proving_cost`]).
pub const EXTENDED_COST_PER_POINT: f64 = 0.1;
/// Cost of one gate operation per extended-domain point (see [`CircuitShape::proving_cost`]).
/// Fitted to create_proof times of zoo mlp_small here (public input at 4 and 16 lanes, hashed
/// input at 4, 9 and 17 lanes with and without partial-round blocks): without it the hashed
/// layouts, whose Poseidon gates hold thousands of operations, were estimated up to 1.6× too
/// fast relative to the public ones.
pub const GATE_COST_PER_OP_POINT: f64 = 0.0035;
/// Gate operations that cost an on-chain verifier about as much as one commitment (≈ 7k gas
/// per commitment, ≈ 18 gas per operation of straight-line field arithmetic with linear
/// combinations as multiply-accumulate chains: zoo mlp_small with a hashed input at 17 lanes,
/// 893,520 gas with one state per Poseidon partial round and 929,424 with blocks, 1,765 more
/// operations).
pub const GATE_OPS_PER_COMMITMENT: f64 = 400.0;

/// The shape of one model circuit layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitShape {
    /// Circuit size: `2^k` rows.
    pub k: u32,
    /// Rows the layout uses.
    pub rows_used: usize,
    /// Rows of the longest fixed table (256 for the range table, more with lookup tables).
    pub table_rows: usize,
    /// Usable rows at `k` (`2^k` minus blinding rows and one).
    pub usable_rows: usize,
    /// Blinding rows at the end of every column.
    pub blinding_rows: usize,
    /// Advice columns (committed by the prover).
    pub advice_columns: usize,
    /// Fixed columns, selectors not included.
    pub fixed_columns: usize,
    /// Fixed columns the selectors become at key generation: one per selector, or fewer with
    /// [`CircuitSettings::compress_selectors`].
    pub selectors: usize,
    /// Lookup arguments (each commits three more polynomials).
    pub lookups: usize,
    /// Instance columns.
    pub instance_columns: usize,
    /// Public instance values.
    pub instance_values: usize,
    /// Columns in the permutation argument.
    pub permutation_columns: usize,
    /// Degree of the constraint system.
    pub degree: usize,
    /// Arithmetic operations (sums, products, scalings, negations) in the gates' constraint
    /// polynomials: what the prover evaluates at every extended-domain point and the verifier
    /// once.
    #[serde(default)]
    pub gate_ops: usize,
}

impl CircuitShape {
    /// Committed polynomials apart from the permutation and the quotient: advice columns plus
    /// three per lookup. The planner minimizes this after `k`.
    pub fn committed_columns(&self) -> usize {
        self.advice_columns + 3 * self.lookups
    }

    /// Rows the circuit needs: its layout, its longest table and its public instances (the
    /// instance column holds one value per usable row).
    pub fn rows_needed(&self) -> usize {
        self.rows_used
            .max(self.table_rows)
            .max(self.instance_values)
    }

    /// Commitments a verifier multiplies (one elliptic-curve multiplication each, the bulk of
    /// on-chain gas): advice, lookup and permutation-product commitments from the proof,
    /// `degree − 1` quotient pieces, and the key's fixed, selector and permutation (σ)
    /// commitments (selectors counted as the fixed columns key generation makes of them).
    pub fn verifier_commitments(&self) -> usize {
        self.committed_columns()
            + self.permutation_products()
            + self.degree.saturating_sub(1)
            + self.fixed_columns
            + self.selectors
            + self.permutation_columns
    }

    /// Grand products of the permutation argument: halo2 packs `degree − 2` columns into each.
    pub fn permutation_products(&self) -> usize {
        self.permutation_columns
            .div_ceil(self.degree.saturating_sub(2).max(1))
    }

    /// Estimated on-chain verification cost in commitments: [`CircuitShape::verifier_commitments`]
    /// plus the gates' operations at [`GATE_OPS_PER_COMMITMENT`] (the verifier evaluates every
    /// constraint once). What [`PlanGoal::Gas`] and [`PlanGoal::Balanced`] minimize.
    pub fn verifier_cost(&self) -> f64 {
        self.verifier_commitments() as f64 + self.gate_ops as f64 / GATE_OPS_PER_COMMITMENT
    }

    /// Extended-domain factor: the quotient is evaluated on `d · 2^k` points,
    /// `d = 2^⌈log2(degree − 1)⌉`.
    pub fn extension(&self) -> usize {
        self.degree.saturating_sub(1).max(1).next_power_of_two()
    }

    /// Estimated proving work in arbitrary units (≈ microseconds on one core here), the
    /// planner's objective. Two terms, per row of the `2^k` domain:
    /// * multi-scalar multiplications: one per committed polynomial (advice, three per lookup,
    ///   permutation products, `d − 1` quotient pieces, two SHPLONK openings);
    /// * extended-domain work: every polynomial the quotient reads (advice, fixed, selectors,
    ///   instance, permutation σ columns and products, lookup polynomials) is FFT'd to and
    ///   evaluated on `d · 2^k` points, and so is every gate operation.
    pub fn proving_cost(&self) -> f64 {
        let n = (1u64 << self.k) as f64;
        let d = self.extension() as f64;
        let msms = (self.committed_columns() + self.permutation_products()) as f64 + d - 1.0 + 2.0;
        let extended = (self.advice_columns
            + self.fixed_columns
            + self.selectors
            + self.instance_columns
            + self.permutation_columns
            + self.permutation_products()
            + 3 * self.lookups) as f64;
        n * (MSM_COST_PER_ROW * msms
            + EXTENDED_COST_PER_POINT * d * extended
            + GATE_COST_PER_OP_POINT * d * self.gate_ops as f64)
    }
}

/// A chosen layout: the settings to build the circuit with and its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The circuit's settings.
    pub settings: CircuitSettings,
    /// Its shape.
    pub shape: CircuitShape,
}

/// The shape of `model` laid out with `settings` (rows counted exactly; `settings.k` may be too
/// small, then `rows_used > usable_rows`). The lookup-table flag of `settings` must match the
/// model.
pub fn shape(
    model: &QuantizedModel,
    settings: CircuitSettings,
) -> Result<CircuitShape, CircuitError> {
    shape_of(Arc::new(model.clone()), settings)
}

fn shape_of(
    model: Arc<QuantizedModel>,
    settings: CircuitSettings,
) -> Result<CircuitShape, CircuitError> {
    let circuit = ModelCircuit::unmeasured(model, settings, None)?;
    let measured = measure(&circuit)?;
    let cs = &measured.cs;
    let usable_rows = (1usize << settings.k).saturating_sub(measured.blinding_factors + 1);
    // With compression, the selectors become the fixed columns key generation adds, and the
    // gates read those columns instead.
    let compressed = settings.compress_selectors.then(|| measured.compressed());
    let (selectors, keyed) = match &compressed {
        Some(compressed) => (
            compressed.num_fixed_columns() - cs.num_fixed_columns(),
            compressed,
        ),
        None => (cs.num_selectors(), cs),
    };
    Ok(CircuitShape {
        k: settings.k,
        rows_used: measured.rows_used,
        table_rows: settings_table_rows(&circuit.model, &settings),
        usable_rows,
        blinding_rows: measured.blinding_factors,
        advice_columns: cs.num_advice_columns(),
        fixed_columns: cs.num_fixed_columns(),
        selectors,
        lookups: cs.lookups().len(),
        instance_columns: cs.num_instance_columns(),
        instance_values: InstanceLayout::new(&circuit.model, settings.visibility).len(),
        permutation_columns: cs.permutation().get_columns().len(),
        degree: cs.degree(),
        gate_ops: gate_ops(keyed),
    })
}

/// Arithmetic operations in the constraint polynomials of `cs`'s gates.
pub fn gate_ops(cs: &ConstraintSystem<Fr>) -> usize {
    cs.gates()
        .iter()
        .flat_map(|gate| gate.polynomials())
        .map(|poly| {
            poly.evaluate(
                &|_| 0,
                &|_| 0,
                &|_| 0,
                &|_| 0,
                &|_| 0,
                &|_| 0,
                &|a| a + 1,
                &|a, b| a + b + 1,
                &|a, b| a + b + 1,
                &|a, _| a + 1,
            )
        })
        .sum()
}

/// Smallest `k` whose usable rows hold `rows` (at least [`CircuitSettings::MIN_K`]), given
/// the constraint system's blinding rows; `None` above [`CircuitSettings::MAX_K`].
pub fn smallest_k(rows: usize, blinding_rows: usize) -> Option<u32> {
    (CircuitSettings::MIN_K..=CircuitSettings::MAX_K)
        .find(|k| (1usize << k).saturating_sub(blinding_rows + 1) >= rows)
}

/// Picks `k` and the column pool for `model` under `visibility` with at most `column_budget`
/// advice columns, for the default goal ([`PlanGoal::Balanced`]).
pub fn plan(
    model: &QuantizedModel,
    visibility: Visibility,
    column_budget: usize,
) -> Result<Plan, CircuitError> {
    plan_with(model, visibility, column_budget, PlanGoal::default())
}

/// Picks `k` and the column pool for `model` under `visibility` with at most `column_budget`
/// advice columns, serving `goal` (see the module documentation): the one [`choose`] picks
/// among [`candidates`].
pub fn plan_with(
    model: &QuantizedModel,
    visibility: Visibility,
    column_budget: usize,
    goal: PlanGoal,
) -> Result<Plan, CircuitError> {
    let feasible = candidates(model, visibility, column_budget)?;
    let chosen = choose(&feasible, goal).ok_or(CircuitError::NoFeasiblePlan {
        column_budget,
        max_k: CircuitSettings::MAX_K,
    })?;
    tracing::info!(
        model = %model.name,
        k = chosen.shape.k,
        lanes = chosen.settings.params.lanes,
        range_slots = chosen.settings.params.range_slots,
        range_digits = chosen.settings.params.range_digits,
        poseidon_blocks = chosen.settings.poseidon_blocks,
        rows = chosen.shape.rows_used,
        advice = chosen.shape.advice_columns,
        commitments = chosen.shape.verifier_commitments(),
        goal = goal.as_str(),
        "model circuit planned"
    );
    Ok(chosen)
}

/// Every layout the planner considers for `model` under `visibility` within `column_budget`
/// advice columns, each at its smallest `k`, in the planner's fixed order (lanes, range slots,
/// Poseidon per round before blocks, then range checks by lookup before digits); empty when
/// none fits.
pub fn candidates(
    model: &QuantizedModel,
    visibility: Visibility,
    column_budget: usize,
) -> Result<Vec<Plan>, CircuitError> {
    model.validate()?;
    check_supported(model)?;
    let weight_bits = super::weights::required_range_bits(model, visibility.weights)?;
    let limbs = required_limbs(model)
        .max(usize::try_from(weight_bits.div_ceil(8)).unwrap_or(usize::MAX))
        .max(1);
    let shared = Arc::new(model.clone());
    let lookup_table = uses_lookup_table(model);
    let chips = required_chips(model, visibility.weights);
    // Poseidon's partial rounds one per state, then (when the circuit hashes) in blocks: on
    // equal terms the per-round layout comes first and wins.
    let block_variants: &[bool] = if visibility.needs_poseidon() {
        &[false, true]
    } else {
        &[false]
    };
    let mut feasible: Vec<Plan> = Vec::new();
    for lanes in LANE_CANDIDATES
        .into_iter()
        .filter(|l| (!lookup_table || *l >= 8) && *l >= chips.min_lanes())
    {
        let slot_candidates = RANGE_SLOT_CANDIDATES.into_iter().filter(|s| *s <= lanes);
        let variants = slot_candidates.flat_map(|s| {
            block_variants
                .iter()
                .flat_map(move |b| [false, true].map(|digits| (s, *b, digits)))
        });
        for (slots, poseidon_blocks, range_digits) in variants {
            let params = ModelParams::new(lanes, slots, limbs).with_range_digits(range_digits);
            let settings = CircuitSettings::new(params, CircuitSettings::MAX_K, visibility)
                .with_lookup_table(lookup_table)
                .with_chips(chips)
                .with_poseidon_blocks(poseidon_blocks)
                .with_compressed_selectors(true);
            let mut candidate = shape_of(shared.clone(), settings)?;
            if candidate.advice_columns > column_budget {
                continue;
            }
            let Some(k) = smallest_k(candidate.rows_needed(), candidate.blinding_rows) else {
                continue;
            };
            candidate.k = k;
            candidate.usable_rows = (1usize << k).saturating_sub(candidate.blinding_rows + 1);
            feasible.push(Plan {
                settings: CircuitSettings { k, ..settings },
                shape: candidate,
            });
        }
    }
    // Last, the narrow backend (one advice column), for the models it supports: the fewest
    // commitments, by far the most rows.
    if crate::narrow::model::check_supported(model, visibility).is_ok() {
        let settings =
            CircuitSettings::new(ModelParams::default(), CircuitSettings::MAX_K, visibility)
                .with_narrow(true);
        let mut candidate = shape_of(shared.clone(), settings)?;
        let fits = smallest_k(candidate.rows_needed(), candidate.blinding_rows)
            .filter(|_| candidate.advice_columns <= column_budget);
        if let Some(k) = fits {
            candidate.k = k;
            candidate.usable_rows = (1usize << k).saturating_sub(candidate.blinding_rows + 1);
            feasible.push(Plan {
                settings: CircuitSettings { k, ..settings },
                shape: candidate,
            });
        }
    }
    Ok(feasible)
}

/// The plan among `feasible` that best serves `goal`; the first of equals (candidates come in
/// a fixed order, so the choice is deterministic); `None` when `feasible` is empty.
pub fn choose(feasible: &[Plan], goal: PlanGoal) -> Option<Plan> {
    let fastest = feasible
        .iter()
        .map(|p| p.shape.proving_cost())
        .min_by(f64::total_cmp)?;
    let order = |a: &CircuitShape, b: &CircuitShape| {
        let ordering = match goal {
            PlanGoal::Prove => (a.proving_cost(), a.committed_columns(), a.fixed_columns)
                .partial_cmp(&(b.proving_cost(), b.committed_columns(), b.fixed_columns)),
            PlanGoal::Balanced | PlanGoal::Gas => (a.verifier_cost(), a.proving_cost())
                .partial_cmp(&(b.verifier_cost(), b.proving_cost())),
        };
        ordering.unwrap_or(std::cmp::Ordering::Equal)
    };
    // `min_by` keeps the first of equals.
    feasible
        .iter()
        .filter(|p| {
            goal != PlanGoal::Balanced || p.shape.proving_cost() <= BALANCED_SLACK * fastest
        })
        .min_by(|a, b| order(&a.shape, &b.shape))
        .copied()
}
