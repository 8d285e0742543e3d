//! Counting rows without a prover: the real layout code runs against an [`Assignment`] that
//! discards every assignment but the selectors', with an unbounded row allocator and no
//! witness (the layout does not depend on witness values). The narrow backend counts its
//! tape instead ([`crate::narrow::Tape::counting`]).

use std::cell::RefCell;

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{
    Advice, Any, Assigned, Assignment, Challenge, Circuit, Column, ConstraintSystem, Error, Fixed,
    FloorPlanner, Instance, Selector,
};

use super::config::CircuitConfig;
use super::synth::{lay_out, Synthesis};
use super::ModelCircuit;
use crate::error::CircuitError;

/// Rows a layout needs and the constraint system it was laid out on.
pub(crate) struct Measured {
    /// Rows taken from the allocator.
    pub rows_used: usize,
    /// Usable rows at the circuit's `k`.
    pub usable_rows: usize,
    /// The configured constraint system.
    pub cs: ConstraintSystem<Fr>,
    /// Blinding rows of that system.
    pub blinding_factors: usize,
    /// Per selector, the rows it is on (all of the same length).
    pub selectors: Vec<Vec<bool>>,
}

impl Measured {
    /// The constraint system as key generation leaves it with
    /// [`super::CircuitSettings::compress_selectors`]: selectors merged into fixed columns
    /// (from the rows each selector is on). Only the planner needs it, so it is not computed
    /// on the proving path.
    pub fn compressed(&self) -> ConstraintSystem<Fr> {
        self.cs.clone().compress_selectors(self.selectors.clone()).0
    }
}

/// Lays `circuit` out without assigning anything and counts its rows.
pub(crate) fn measure(circuit: &ModelCircuit) -> Result<Measured, CircuitError> {
    let blank = circuit.without_witnesses();
    let mut cs = ConstraintSystem::<Fr>::default();
    let config = CircuitConfig::configure(&mut cs, &blank.settings)?;
    if blank.settings.narrow {
        // One tape, counted in constant memory (no selectors).
        let rows_used = crate::narrow::model::count_rows(&blank.model, blank.settings.visibility)?;
        return Ok(Measured {
            rows_used,
            usable_rows: config.usable_rows(circuit.settings.k),
            blinding_factors: config.blinding_factors(),
            cs,
            selectors: Vec::new(),
        });
    }
    let probe = Probe {
        circuit: &blank,
        config: config.clone(),
        result: RefCell::new(None),
    };
    let mut sink = Discard {
        selectors: vec![Vec::new(); cs.num_selectors()],
    };
    SimpleFloorPlanner::synthesize(
        &mut sink,
        &probe,
        Some(config.clone()),
        cs.constants().clone(),
    )?;
    let synthesis = probe
        .result
        .into_inner()
        .ok_or(CircuitError::NotConfigured)??;
    // halo2 compares activations row by row: give every selector the same length.
    let rows = sink.selectors.iter().map(Vec::len).max().unwrap_or(0);
    let mut selectors = sink.selectors;
    for s in &mut selectors {
        s.resize(rows, false);
    }
    Ok(Measured {
        rows_used: synthesis.rows_used,
        usable_rows: config.usable_rows(circuit.settings.k),
        blinding_factors: config.blinding_factors(),
        cs,
        selectors,
    })
}

/// A circuit wrapper whose synthesis lays the model out with unbounded rows.
struct Probe<'a> {
    circuit: &'a ModelCircuit,
    config: CircuitConfig,
    result: RefCell<Option<Result<Synthesis, CircuitError>>>,
}

impl Circuit<Fr> for Probe<'_> {
    type Config = Option<CircuitConfig>;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        Self {
            circuit: self.circuit,
            config: self.config.clone(),
            result: RefCell::new(None),
        }
    }

    /// Never used: the probe is synthesized directly with the model circuit's configuration.
    fn configure(_meta: &mut ConstraintSystem<Fr>) -> Self::Config {
        None
    }

    fn synthesize(
        &self,
        config: Self::Config,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        let config = config.unwrap_or_else(|| self.config.clone());
        let result = lay_out(&self.circuit.job(), &config, &mut layouter, usize::MAX);
        *self.result.borrow_mut() = Some(result);
        Ok(())
    }
}

/// An assignment backend that records only the rows each selector is enabled on.
struct Discard {
    /// Per selector, whether it is on at each row (rows past the end: off).
    selectors: Vec<Vec<bool>>,
}

impl Assignment<Fr> for Discard {
    fn enter_region<NR, N>(&mut self, _name: N)
    where
        NR: Into<String>,
        N: FnOnce() -> NR,
    {
    }

    fn annotate_column<A, AR>(&mut self, _annotation: A, _column: Column<Any>)
    where
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
    }

    fn exit_region(&mut self) {}

    fn enable_selector<A, AR>(
        &mut self,
        _annotation: A,
        selector: &Selector,
        row: usize,
    ) -> Result<(), Error>
    where
        A: FnOnce() -> AR,
        AR: Into<String>,
    {
        let on = self
            .selectors
            .get_mut(selector.index())
            .ok_or(Error::Synthesis)?;
        if on.len() <= row {
            on.resize(row + 1, false);
        }
        on[row] = true;
        Ok(())
    }

    fn query_instance(&self, _column: Column<Instance>, _row: usize) -> Result<Value<Fr>, Error> {
        Ok(Value::unknown())
    }

    fn assign_advice<'v>(
        &mut self,
        _column: Column<Advice>,
        _row: usize,
        _to: Value<Assigned<Fr>>,
    ) -> Value<&'v Assigned<Fr>> {
        Value::unknown()
    }

    fn assign_fixed(&mut self, _column: Column<Fixed>, _row: usize, _to: Assigned<Fr>) {}

    fn copy(
        &mut self,
        _left_column: Column<Any>,
        _left_row: usize,
        _right_column: Column<Any>,
        _right_row: usize,
    ) {
    }

    fn fill_from_row(
        &mut self,
        _column: Column<Fixed>,
        _row: usize,
        _to: Value<Assigned<Fr>>,
    ) -> Result<(), Error> {
        Ok(())
    }

    fn get_challenge(&self, _challenge: Challenge) -> Value<Fr> {
        Value::unknown()
    }

    fn push_namespace<NR, N>(&mut self, _name: N)
    where
        NR: Into<String>,
        N: FnOnce() -> NR,
    {
    }

    fn pop_namespace(&mut self, _gadget_name: Option<String>) {}
}
