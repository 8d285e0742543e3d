//! Tabulated non-linearities: `y = table[clamp(r, −H, H−1) + H]` with `H = 2^(tb−1)`, one
//! shared three-column table holding every lookup layer's table under its own tag.
//!
//! `r` is the (already rescaled) table input; the caller range-checks it to the activation
//! width `b` (it is a rescale quotient or an activation).
//!
//! # Table
//! Rows `(tag, i, table[i])` for every lookup layer (`tag ≥ 1`, `0 ≤ i < 2^tb`) and one row
//! `(0, 0, 0)`, which rows without a lookup hit. A layer's tag and `H` sit in fixed columns,
//! so the prover cannot pick another layer's table or index range.
//!
//! # Layout
//! One lookup per row: lanes `0 … 6` hold `r` (copied in), `c_hi`, `c_lo`, `t`, `s_hi`,
//! `s_lo`, `y`; fixed columns `0` and `1` hold the tag and `H`.
//!
//! # Constraints (on rows where `q_lookup` is on)
//! * `c_hi`, `c_lo` boolean, `c_hi·c_lo = 0`
//! * `t = c_hi·(H − 1) − c_lo·H + (1 − c_hi − c_lo)·r`
//! * `s_hi = c_hi·(r − H + 1)`, `s_lo = c_lo·(−H − r)`, both range-checked to `[0, 2^b)`
//! * lookup `(q·tag, q·(t + H), q·y)` in `(tag, i, value)`.
//!
//! The lookup proves `−H ≤ t < H` and `y = table[t + H]`. If neither flag is set, `t = r`, so
//! `r` is in the table range and `clamp(r) = r`. With `c_hi`, `t = H − 1` and `s_hi ≥ 0` proves
//! `r ≥ H − 1`, where the clamp is `H − 1`; `c_lo` likewise. So `t = clamp(r, −H, H − 1)`.
//!
//! # Assumptions
//! `r` is a `b`-bit activation, so `s_hi`, `s_lo` are far from the field size and their range
//! checks decide their signs.

use std::marker::PhantomData;

use halo2_proofs::circuit::{Chip, Layouter, Region, Value};
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Expression, Fixed, Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;

use crate::chips::range::{RangeChip, RangeConfig, RangeSpec};
use crate::config::ColumnPool;
use crate::error::CircuitError;
use crate::field::{fe_from_i128, fe_from_i64, fe_from_u64, Field};
use crate::layout::{assign, copy, fix, take, try_map, AssignedVar, RowAllocator};

/// Lanes one lookup uses.
const LANES: usize = 7;
/// Widest table index accepted (the model format allows up to 20 bits).
pub const MAX_TABLE_BITS: u32 = 20;

/// One layer's table.
#[derive(Clone, Copy, Debug)]
pub struct TableSpec<'a> {
    /// The layer's tag (`≥ 1`, unique per table in a circuit).
    pub tag: u64,
    /// Index bits `tb`: the table has `2^tb` entries.
    pub table_bits: u32,
    /// The entries, `table[i]` for `i = t + 2^(tb−1)`.
    pub table: &'a [i64],
}

impl TableSpec<'_> {
    /// `H = 2^(tb−1)`.
    fn half(&self) -> Result<i128, CircuitError> {
        if !(1..=MAX_TABLE_BITS).contains(&self.table_bits) {
            return Err(CircuitError::InvalidBitWidth {
                op: "table lookup",
                bits: self.table_bits,
            });
        }
        let len = 1usize << self.table_bits;
        if self.table.len() != len {
            return Err(CircuitError::LengthMismatch {
                what: "lookup table",
                expected: len,
                got: self.table.len(),
            });
        }
        if self.tag == 0 {
            return Err(CircuitError::InvalidConstant {
                op: "table lookup",
                name: "tag",
                value: 0,
            });
        }
        Ok(1i128 << (self.table_bits - 1))
    }
}

/// Columns, selector and table of the lookup chip.
#[derive(Clone, Debug)]
pub struct TableLookupConfig {
    /// Enables the clamp gate and the lookup (a complex selector: it appears in the lookup).
    pub q_lookup: Selector,
    /// Lanes for `r`, `c_hi`, `c_lo`, `t`, `s_hi`, `s_lo`, `y`.
    pub lanes: [Column<Advice>; LANES],
    /// The layer's tag.
    pub tag: Column<Fixed>,
    /// The layer's `H`.
    pub half: Column<Fixed>,
    /// Table column: tags.
    pub table_tag: TableColumn,
    /// Table column: indices.
    pub table_index: TableColumn,
    /// Table column: values.
    pub table_value: TableColumn,
    /// The range chip (for `s_hi`, `s_lo`).
    pub range: RangeConfig,
}

impl TableLookupConfig {
    /// Adds the three table columns, the clamp gate and one lookup argument.
    pub fn configure<F: Field>(
        meta: &mut ConstraintSystem<F>,
        pool: &ColumnPool,
        range: &RangeConfig,
    ) -> Result<Self, CircuitError> {
        let l = take(&pool.lanes, 0, LANES, "lanes (the lookup chip needs 7)")?;
        let f = take(&pool.fixed, 0, 2, "fixed columns")?;
        let config = Self {
            q_lookup: meta.complex_selector(),
            lanes: [l[0], l[1], l[2], l[3], l[4], l[5], l[6]],
            tag: f[0],
            half: f[1],
            table_tag: meta.lookup_table_column(),
            table_index: meta.lookup_table_column(),
            table_value: meta.lookup_table_column(),
            range: range.clone(),
        };
        meta.create_gate("clamp for table lookup", |meta| {
            let q = meta.query_selector(config.q_lookup);
            let one = Expression::Constant(F::ONE);
            let [r, c_hi, c_lo, t, s_hi, s_lo, _] =
                config.lanes.map(|c| meta.query_advice(c, Rotation::cur()));
            let half = meta.query_fixed(config.half, Rotation::cur());
            let clamped = c_hi.clone() * (half.clone() - one.clone()) - c_lo.clone() * half.clone()
                + (one.clone() - c_hi.clone() - c_lo.clone()) * r.clone();
            vec![
                q.clone() * c_hi.clone() * (one.clone() - c_hi.clone()),
                q.clone() * c_lo.clone() * (one.clone() - c_lo.clone()),
                q.clone() * c_hi.clone() * c_lo.clone(),
                q.clone() * (t - clamped),
                q.clone() * (s_hi - c_hi * (r.clone() - half.clone() + one)),
                q * (s_lo - c_lo * (Expression::Constant(F::ZERO) - half - r)),
            ]
        });
        meta.lookup("table lookup", |meta| {
            let q = meta.query_selector(config.q_lookup);
            let tag = meta.query_fixed(config.tag, Rotation::cur());
            let half = meta.query_fixed(config.half, Rotation::cur());
            let t = meta.query_advice(config.lanes[3], Rotation::cur());
            let y = meta.query_advice(config.lanes[6], Rotation::cur());
            vec![
                (q.clone() * tag, config.table_tag),
                (q.clone() * (t + half), config.table_index),
                (q * y, config.table_value),
            ]
        });
        Ok(config)
    }
}

/// Witness of one lookup.
#[derive(Clone, Debug)]
pub struct LookupWitness<F: Field> {
    /// 1 if `r ≥ H`.
    pub c_hi: Value<F>,
    /// 1 if `r < −H`.
    pub c_lo: Value<F>,
    /// `clamp(r, −H, H − 1)`.
    pub t: Value<F>,
    /// `c_hi·(r − H + 1)`.
    pub s_hi: Value<F>,
    /// `c_lo·(−H − r)`.
    pub s_lo: Value<F>,
    /// `table[t + H]`.
    pub y: Value<F>,
}

/// Table lookups with clamping.
#[derive(Clone, Debug)]
pub struct TableLookupChip<F: Field> {
    config: TableLookupConfig,
    _marker: PhantomData<F>,
}

impl<F: Field> Chip<F> for TableLookupChip<F> {
    type Config = TableLookupConfig;
    type Loaded = ();

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn loaded(&self) -> &Self::Loaded {
        &()
    }
}

/// Rows the shared table needs for `tables`: one per entry plus the zero row.
pub fn table_rows<'a>(tables: impl IntoIterator<Item = &'a TableSpec<'a>>) -> usize {
    1 + tables.into_iter().map(|t| t.table.len()).sum::<usize>()
}

impl<F: Field> TableLookupChip<F> {
    /// The chip for a configuration.
    pub fn construct(config: TableLookupConfig) -> Self {
        Self {
            config,
            _marker: PhantomData,
        }
    }

    /// Fills the shared table with the zero row and every `(tag, i, table[i])`. Call once per
    /// synthesis; tags must be distinct.
    pub fn load_tables(
        &self,
        layouter: &mut impl Layouter<F>,
        tables: &[TableSpec<'_>],
    ) -> Result<(), CircuitError> {
        for (i, spec) in tables.iter().enumerate() {
            spec.half()?;
            if tables[..i].iter().any(|other| other.tag == spec.tag) {
                return Err(CircuitError::InvalidConstant {
                    op: "table lookup",
                    name: "duplicate tag",
                    value: i128::from(spec.tag),
                });
            }
        }
        let c = &self.config;
        layouter.assign_table(
            || "lookup tables",
            |mut t| {
                let mut row = 0;
                let mut put = |row: usize, tag: F, index: F, value: F| {
                    t.assign_cell(|| "tag", c.table_tag, row, || Value::known(tag))?;
                    t.assign_cell(|| "index", c.table_index, row, || Value::known(index))?;
                    t.assign_cell(|| "value", c.table_value, row, || Value::known(value))
                };
                put(row, F::ZERO, F::ZERO, F::ZERO)?;
                for spec in tables {
                    let tag = fe_from_u64::<F>(spec.tag);
                    for (i, v) in spec.table.iter().enumerate() {
                        row += 1;
                        put(row, tag, fe_from_u64(i as u64), fe_from_i64(*v))?;
                    }
                }
                Ok(())
            },
        )?;
        tracing::debug!(
            tables = tables.len(),
            rows = table_rows(tables),
            "lookup tables loaded"
        );
        Ok(())
    }

    /// The honest witness of `table[clamp(r) + H]`.
    pub fn witness(
        &self,
        r: &AssignedVar<F>,
        spec: &TableSpec<'_>,
    ) -> Result<LookupWitness<F>, CircuitError> {
        let op = "table lookup";
        let half = spec.half()?;
        let parts = try_map(r.value(), |_| {
            let r = r.value_i128(op)?.ok_or(CircuitError::NotAnInteger { op })?;
            let (c_hi, c_lo) = (i128::from(r >= half), i128::from(r < -half));
            let t = r.clamp(-half, half - 1);
            let index = usize::try_from(t + half).map_err(|_| CircuitError::Overflow { op })?;
            let y = spec
                .table
                .get(index)
                .copied()
                .ok_or(CircuitError::Overflow { op })?;
            let s_hi = c_hi * (r - half + 1);
            let s_lo = c_lo * (-half - r);
            Ok([c_hi, c_lo, t, s_hi, s_lo, i128::from(y)])
        })?;
        let [c_hi, c_lo, t, s_hi, s_lo, y] =
            parts.map(|p| p.map(fe_from_i128::<F>)).transpose_array();
        Ok(LookupWitness {
            c_hi,
            c_lo,
            t,
            s_hi,
            s_lo,
            y,
        })
    }

    /// Lays out lookups of one table with the given witnesses; `bits` is the activation width
    /// of the inputs `r`. Returns the `y` cells (not range-checked).
    pub fn assign(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        ops: &[(AssignedVar<F>, LookupWitness<F>)],
        spec: &TableSpec<'_>,
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let half = spec.half()?;
        let slack = RangeSpec::unsigned(bits)?;
        let c = &self.config;
        let start = rows.alloc(ops.len())?;
        let mut outputs = Vec::with_capacity(ops.len());
        let mut checks = Vec::with_capacity(2 * ops.len());
        for (i, (r, w)) in ops.iter().enumerate() {
            let row = start + i;
            c.q_lookup.enable(region, row)?;
            fix(region, c.tag, row, fe_from_u64(spec.tag));
            fix(region, c.half, row, fe_from_i128(half));
            let [r_col, hi_col, lo_col, t_col, s_hi_col, s_lo_col, y_col] = c.lanes;
            copy(region, r, r_col, row);
            assign(region, hi_col, row, w.c_hi);
            assign(region, lo_col, row, w.c_lo);
            assign(region, t_col, row, w.t);
            checks.push((assign(region, s_hi_col, row, w.s_hi), slack));
            checks.push((assign(region, s_lo_col, row, w.s_lo), slack));
            outputs.push(assign(region, y_col, row, w.y));
        }
        RangeChip::<F>::construct(c.range.clone()).check(region, rows, &checks)?;
        tracing::debug!(ops = ops.len(), tag = spec.tag, "table lookups laid out");
        Ok(outputs)
    }

    /// `y_i = table[clamp(r_i, −H, H − 1) + H]`.
    pub fn lookup(
        &self,
        region: &mut Region<'_, F>,
        rows: &mut RowAllocator,
        rs: &[AssignedVar<F>],
        spec: &TableSpec<'_>,
        bits: u32,
    ) -> Result<Vec<AssignedVar<F>>, CircuitError> {
        let ops = rs
            .iter()
            .map(|r| Ok((r.clone(), self.witness(r, spec)?)))
            .collect::<Result<Vec<_>, CircuitError>>()?;
        self.assign(region, rows, &ops, spec, bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelConfig, ModelParams};
    use crate::test_utils::{fr, int, known};
    use halo2_proofs::circuit::SimpleFloorPlanner;
    use halo2_proofs::dev::MockProver;
    use halo2_proofs::halo2curves::bn256::Fr;
    use halo2_proofs::halo2curves::ff::Field as _;
    use halo2_proofs::plonk::{Circuit, Error};
    use std::sync::{Arc, Mutex};

    const K: u32 = 9;
    const BITS: u32 = 16;

    /// Table 1: 3 index bits (H = 4); table 2: 2 index bits (H = 2).
    fn tables() -> (Vec<i64>, Vec<i64>) {
        (
            vec![-700, -5, 0, 3, 9, 81, 1000, 32767],
            vec![11, -12, 13, -32768],
        )
    }

    #[derive(Clone, Copy, Debug)]
    enum Tamper {
        /// Output one above the table value.
        Y(usize),
        /// Claim the upper clamp for an input inside the table range.
        ClampHi(usize),
        /// Claim the lower clamp for an input inside the table range.
        ClampLo(usize),
        /// Index one above the input (output read from the table there), no clamp flag.
        Index(usize),
        /// Output of the other table at the same index.
        OtherTable(usize),
        /// The input claims another value when copied in.
        Copy(usize),
    }

    #[derive(Clone)]
    struct LookupCircuit {
        inputs: Vec<i128>,
        tamper: Option<Tamper>,
        out: Arc<Mutex<Vec<Option<i128>>>>,
    }

    #[derive(Clone, Debug)]
    struct Config {
        model: ModelConfig,
        lookup: TableLookupConfig,
    }

    impl LookupCircuit {
        fn lay_out(
            &self,
            config: &Config,
            region: &mut Region<'_, Fr>,
        ) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
            let (t1, t2) = tables();
            let spec1 = TableSpec {
                tag: 1,
                table_bits: 3,
                table: &t1,
            };
            let spec2 = TableSpec {
                tag: 2,
                table_bits: 2,
                table: &t2,
            };
            let chip = TableLookupChip::<Fr>::construct(config.lookup.clone());
            let mut rows = RowAllocator::new(config.model.usable_rows(K));
            let mut xs = config
                .model
                .assign_inputs(region, &mut rows, &known(&self.inputs))?;
            config.model.range_chip().check_all(
                region,
                &mut rows,
                &xs,
                RangeSpec::signed(BITS)?,
            )?;
            if let Some(Tamper::Copy(i)) = self.tamper {
                xs[i] = xs[i].with_value(xs[i].value() + Value::known(Fr::ONE));
            }
            let mut ops = xs
                .iter()
                .map(|x| Ok((x.clone(), chip.witness(x, &spec1)?)))
                .collect::<Result<Vec<_>, CircuitError>>()?;
            let at = |i: usize| -> i128 { self.inputs[i] };
            let table = |t: i128| fr(i128::from(t1[(t + 4) as usize]));
            match self.tamper {
                Some(Tamper::Y(i)) => ops[i].1.y = ops[i].1.y + Value::known(Fr::ONE),
                Some(Tamper::ClampHi(i)) => {
                    let w = &mut ops[i].1;
                    w.c_hi = Value::known(Fr::ONE);
                    w.t = Value::known(fr(3));
                    w.s_hi = Value::known(fr(at(i) - 3));
                    w.y = Value::known(table(3));
                }
                Some(Tamper::ClampLo(i)) => {
                    let w = &mut ops[i].1;
                    w.c_lo = Value::known(Fr::ONE);
                    w.t = Value::known(fr(-4));
                    w.s_lo = Value::known(fr(-4 - at(i)));
                    w.y = Value::known(table(-4));
                }
                Some(Tamper::Index(i)) => {
                    let w = &mut ops[i].1;
                    w.t = Value::known(fr(at(i) + 1));
                    w.y = Value::known(table(at(i) + 1));
                }
                Some(Tamper::OtherTable(i)) => {
                    ops[i].1.y = Value::known(fr(i128::from(t2[(at(i) + 4) as usize % 4])));
                }
                _ => {}
            }
            let mut ys = chip.assign(region, &mut rows, &ops, &spec1, BITS)?;
            // A second table on the same inputs, honest.
            ys.extend(chip.lookup(region, &mut rows, &xs, &spec2, BITS)?);
            Ok(ys)
        }
    }

    impl Circuit<Fr> for LookupCircuit {
        type Config = Config;
        type FloorPlanner = SimpleFloorPlanner;
        type Params = ();

        fn without_witnesses(&self) -> Self {
            self.clone()
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> Config {
            let model = ModelConfig::configure(meta, &ModelParams::new(8, 1, 2))
                .expect("valid test params");
            let lookup = TableLookupConfig::configure(meta, &model.pool, &model.range)
                .expect("8 lanes suffice");
            Config { model, lookup }
        }

        fn synthesize(&self, config: Config, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
            config.model.load_table(&mut layouter)?;
            let (t1, t2) = tables();
            TableLookupChip::<Fr>::construct(config.lookup.clone()).load_tables(
                &mut layouter,
                &[
                    TableSpec {
                        tag: 1,
                        table_bits: 3,
                        table: &t1,
                    },
                    TableSpec {
                        tag: 2,
                        table_bits: 2,
                        table: &t2,
                    },
                ],
            )?;
            let ys = layouter.assign_region(
                || "lookups",
                |mut region| Ok(self.lay_out(&config, &mut region)),
            )??;
            if let Ok(mut out) = self.out.lock() {
                *out = ys.iter().map(int).collect();
            }
            Ok(())
        }
    }

    fn run(inputs: &[i128], tamper: Option<Tamper>) -> anyhow::Result<(bool, Vec<Option<i128>>)> {
        let circuit = LookupCircuit {
            inputs: inputs.to_vec(),
            tamper,
            out: Arc::new(Mutex::new(Vec::new())),
        };
        let prover = MockProver::run(K, &circuit, vec![])
            .map_err(|e| anyhow::anyhow!("synthesis failed: {e:?}"))?;
        let ok = prover.verify().is_ok();
        let out = circuit.out.lock().map(|o| o.clone()).unwrap_or_default();
        Ok((ok, out))
    }

    /// Reference: `table[clamp(r, −H, H − 1) + H]`.
    fn reference(r: i128, table: &[i64]) -> i128 {
        let half = (table.len() / 2) as i128;
        i128::from(table[(r.clamp(-half, half - 1) + half) as usize])
    }

    fn inputs() -> Vec<i128> {
        vec![-32768, -100, -5, -4, -3, -1, 0, 1, 2, 3, 4, 5, 200, 32767]
    }

    #[test]
    fn honest_lookups_match_reference() -> anyhow::Result<()> {
        let xs = inputs();
        let (ok, out) = run(&xs, None)?;
        assert!(ok, "honest lookups rejected");
        let (t1, t2) = tables();
        let expected: Vec<Option<i128>> = xs
            .iter()
            .map(|x| Some(reference(*x, &t1)))
            .chain(xs.iter().map(|x| Some(reference(*x, &t2))))
            .collect();
        assert_eq!(out, expected);
        Ok(())
    }

    #[test]
    fn tampered_lookups_fail() -> anyhow::Result<()> {
        let xs = inputs();
        // Indices 4..=8 hold inputs −3, −1, 0, 1, 2: strictly inside table 1's clamp range.
        for tamper in [
            Tamper::Y(0),
            Tamper::Y(7),
            Tamper::ClampHi(6),
            Tamper::ClampHi(8),
            Tamper::ClampLo(4),
            Tamper::ClampLo(6),
            Tamper::Index(5),
            Tamper::OtherTable(7),
            Tamper::Copy(8),
        ] {
            let (ok, _) = run(&xs, Some(tamper))?;
            assert!(!ok, "{tamper:?} accepted");
        }
        Ok(())
    }

    #[test]
    fn bad_tables_are_errors() {
        let table = [1i64, 2, 3];
        let spec = TableSpec {
            tag: 1,
            table_bits: 2,
            table: &table,
        };
        assert!(matches!(
            spec.half(),
            Err(CircuitError::LengthMismatch { .. })
        ));
        let zero_tag = TableSpec {
            tag: 0,
            table_bits: 1,
            table: &table[..2],
        };
        assert!(matches!(
            zero_tag.half(),
            Err(CircuitError::InvalidConstant { .. })
        ));
        let wide = TableSpec {
            tag: 1,
            table_bits: 21,
            table: &table,
        };
        assert!(matches!(
            wide.half(),
            Err(CircuitError::InvalidBitWidth { .. })
        ));
        assert_eq!(table_rows(&[spec, zero_tag]), 6);
    }
}
