//! Automatic choice of the circuit size `k` and of the column pool.
//!
//! [`plan`] tries every pool in a small grid (lanes `W ∈ {8, 16, 32, 64, 128}`, range slots
//! `S ∈ {1, 2, 4, 8}`, limbs per slot = `⌈required range bits / 8⌉`), counts the rows of each
//! layout exactly (the real layout code run against a discarding backend) together with its
//! table rows, takes the smallest `k` that holds them, and picks the layout with the lowest
//! estimated proving time ([`CircuitShape::proving_cost`]) among those within the advice-column
//! budget; ties go to fewer committed columns (advice columns plus three per lookup argument:
//! permuted input, permuted table and product), then fewer fixed columns.
//!
//! The budget is the on-chain trade-off: every committed column and every fixed column is one
//! more elliptic-curve multiplication (and one more opened evaluation) in the verifier, so a
//! smaller budget buys cheaper verification with a longer proof time.
//!
//! [`CircuitShape`] reports the numbers a proving-cost estimate needs (rows, columns,
//! lookups, degree); the prover crate turns them into time and memory.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zkgrid_models::QuantizedModel;

use super::dry_run::measure;
use super::instances::InstanceLayout;
use super::settings::{CircuitSettings, Visibility};
use super::support::{check_supported, required_limbs, table_rows, uses_lookup_table};
use super::ModelCircuit;
use crate::config::ModelParams;
use crate::error::CircuitError;

/// Version of the planner's choice: bumped whenever [`plan()`] may choose differently for the
/// same model and options (other candidates or cost model), so that cached plans are redone.
/// 2: 17 lanes are a candidate.
pub const PLANNER_VERSION: u32 = 2;

/// Lane widths the planner tries. 17 is the width of the 16-input Poseidon state: with 17
/// lanes a hashed input/output/weights circuit shares the pool's columns with Poseidon instead
/// of adding its own 18 advice and 17 fixed columns (zoo mlp_small with a hashed input: 23
/// instead of 32 advice columns at the same k, 17% less verifier gas).
pub const LANE_CANDIDATES: [usize; 6] = [8, 16, 17, 32, 64, 128];
/// Range slots per row the planner tries (at most the lane count).
pub const RANGE_SLOT_CANDIDATES: [usize; 4] = [1, 2, 4, 8];

/// Cost of one commitment per domain row (see [`CircuitShape::proving_cost`]).
pub const MSM_COST_PER_ROW: f64 = 1.0;
/// Cost of one polynomial per extended-domain point (see [`CircuitShape::proving_cost`]).
pub const EXTENDED_COST_PER_POINT: f64 = 0.1;

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
    /// Selectors (halo2 compresses them into extra fixed columns at key generation).
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
    /// commitments. An upper bound: halo2 may merge selectors into fewer fixed columns.
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
    ///   evaluated on `d · 2^k` points.
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
        n * (MSM_COST_PER_ROW * msms + EXTENDED_COST_PER_POINT * d * extended)
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
    Ok(CircuitShape {
        k: settings.k,
        rows_used: measured.rows_used,
        table_rows: table_rows(&circuit.model),
        usable_rows,
        blinding_rows: measured.blinding_factors,
        advice_columns: cs.num_advice_columns(),
        fixed_columns: cs.num_fixed_columns(),
        selectors: cs.num_selectors(),
        lookups: cs.lookups().len(),
        instance_columns: cs.num_instance_columns(),
        instance_values: InstanceLayout::new(&circuit.model, settings.visibility).len(),
        permutation_columns: cs.permutation().get_columns().len(),
        degree: cs.degree(),
    })
}

/// Smallest `k` whose usable rows hold `rows` (at least [`CircuitSettings::MIN_K`]), given
/// the constraint system's blinding rows; `None` above [`CircuitSettings::MAX_K`].
pub fn smallest_k(rows: usize, blinding_rows: usize) -> Option<u32> {
    (CircuitSettings::MIN_K..=CircuitSettings::MAX_K)
        .find(|k| (1usize << k).saturating_sub(blinding_rows + 1) >= rows)
}

/// Picks `k` and the column pool for `model` under `visibility` with at most `column_budget`
/// advice columns: lowest [`CircuitShape::proving_cost`], then fewest committed columns, then
/// fewest fixed columns.
pub fn plan(
    model: &QuantizedModel,
    visibility: Visibility,
    column_budget: usize,
) -> Result<Plan, CircuitError> {
    model.validate()?;
    check_supported(model)?;
    let weight_bits = super::weights::required_range_bits(model, visibility.weights)?;
    let limbs = required_limbs(model)
        .max(usize::try_from(weight_bits.div_ceil(8)).unwrap_or(usize::MAX))
        .max(1);
    let shared = Arc::new(model.clone());
    let lookup_table = uses_lookup_table(model);
    let mut best: Option<Plan> = None;
    for lanes in LANE_CANDIDATES
        .into_iter()
        .filter(|l| !lookup_table || *l >= 8)
    {
        for slots in RANGE_SLOT_CANDIDATES.into_iter().filter(|s| *s <= lanes) {
            let params = ModelParams::new(lanes, slots, limbs);
            let settings = CircuitSettings::new(params, CircuitSettings::MAX_K, visibility)
                .with_lookup_table(lookup_table);
            let mut candidate = shape_of(shared.clone(), settings)?;
            if candidate.advice_columns > column_budget {
                continue;
            }
            let Some(k) = smallest_k(candidate.rows_needed(), candidate.blinding_rows) else {
                continue;
            };
            candidate.k = k;
            candidate.usable_rows = (1usize << k).saturating_sub(candidate.blinding_rows + 1);
            let key = |s: &CircuitShape| (s.proving_cost(), s.committed_columns(), s.fixed_columns);
            let better = best.as_ref().is_none_or(|b| {
                key(&candidate)
                    .partial_cmp(&key(&b.shape))
                    .is_some_and(|o| o.is_lt())
            });
            if better {
                best = Some(Plan {
                    settings: CircuitSettings { k, ..settings },
                    shape: candidate,
                });
            }
        }
    }
    let chosen = best.ok_or(CircuitError::NoFeasiblePlan {
        column_budget,
        max_k: CircuitSettings::MAX_K,
    })?;
    tracing::info!(
        model = %model.name,
        k = chosen.shape.k,
        lanes = chosen.settings.params.lanes,
        range_slots = chosen.settings.params.range_slots,
        rows = chosen.shape.rows_used,
        advice = chosen.shape.advice_columns,
        "model circuit planned"
    );
    Ok(chosen)
}
