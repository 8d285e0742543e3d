//! Lays out a whole model: input cells, every node in order, the public cells (values or
//! Poseidon digests) and the recipient cell, then binds the public cells to the instance column
//! in the order of [`mod@super::instances`].

use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::Error;
use zkgrid_models::{QOp, QuantizedModel};

use super::activation::{leaky_relu, lookup, relu};
use super::arith::{add_const, add_sub, mul, mul_const};
use super::config::{CircuitConfig, ModelCircuitConfig};
use super::layer::LayerCx;
use super::linear::{conv2d, dense, DenseLayer};
use super::pool::{avg_pool, max_pool};
use super::settings::{InputVisibility, OutputVisibility};
use super::support::lookup_tables;
use super::tamper::Tamper;
use super::weights::commit_params;
use super::ModelWitness;
use crate::chips::arith::ArithOp;
use crate::chips::lookup::{TableLookupChip, TableSpec};
use crate::error::CircuitError;
use crate::field::{fe_from_i64, fe_to_i64, value_to_option};
use crate::layout::{assign, AssignedVar, RowAllocator};
use crate::narrow::{self, NarrowConfig};
use crate::poseidon::PoseidonChip;

/// What one synthesis produced.
#[derive(Clone, Debug)]
pub(crate) struct Synthesis {
    /// Rows taken from the allocator.
    pub rows_used: usize,
    /// The output cells' values, when the witness is known.
    pub output: Option<Vec<i64>>,
}

/// Everything the layout reads.
pub(crate) struct Job<'a> {
    pub model: &'a QuantizedModel,
    pub visibility: super::settings::Visibility,
    pub witness: Option<&'a ModelWitness>,
    pub tamper: Option<Tamper>,
}

/// Lays out the model with at most `capacity` rows and binds the public cells.
pub(crate) fn lay_out(
    job: &Job<'_>,
    config: &CircuitConfig,
    layouter: &mut impl Layouter<Fr>,
    capacity: usize,
) -> Result<Synthesis, CircuitError> {
    match config {
        CircuitConfig::Pool(config) => lay_out_pool(job, config, layouter, capacity),
        CircuitConfig::Narrow { columns, .. } => lay_out_narrow(job, columns, layouter, capacity),
    }
}

/// The narrow backend: the whole model on one tape ([`crate::narrow::model`]), written into
/// one region.
fn lay_out_narrow(
    job: &Job<'_>,
    columns: &NarrowConfig,
    layouter: &mut impl Layouter<Fr>,
    capacity: usize,
) -> Result<Synthesis, CircuitError> {
    let layout = narrow::model::lay_out(
        job.model,
        job.visibility,
        job.witness,
        job.tamper,
        narrow::Tape::new(capacity),
    )?;
    let public = layouter.assign_region(
        || "narrow model",
        |mut region| {
            let assigned = layout.tape.assign(&mut region, columns)?;
            layout
                .public
                .iter()
                .map(|v| assigned.cell(v))
                .collect::<Result<Vec<Cell>, CircuitError>>()
                .map_err(Error::from)
        },
    )?;
    for (row, cell) in public.iter().enumerate() {
        layouter.constrain_instance(*cell, columns.instance, row);
    }
    tracing::debug!(
        model = %job.model.name,
        rows = layout.tape.rows(),
        copies = layout.tape.copies(),
        capacity,
        instances = public.len(),
        "model laid out (narrow)"
    );
    Ok(Synthesis {
        rows_used: layout.tape.rows(),
        output: layout.output,
    })
}

/// The column pool: every node with the pool's chips in one region.
fn lay_out_pool(
    job: &Job<'_>,
    config: &ModelCircuitConfig,
    layouter: &mut impl Layouter<Fr>,
    capacity: usize,
) -> Result<Synthesis, CircuitError> {
    config.model.load_table(layouter)?;
    if let Some(lookup) = &config.lookup {
        TableLookupChip::<Fr>::construct(lookup.clone())
            .load_tables(layouter, &lookup_tables(job.model))?;
    }
    let mut rows = RowAllocator::new(capacity);
    let (public, output) = layouter.assign_region(
        || "model",
        |mut region| Ok(lay_out_region(job, config, &mut region, &mut rows)),
    )??;
    for (row, cell) in public.iter().enumerate() {
        layouter.constrain_instance(*cell, config.instance, row);
    }
    tracing::debug!(
        model = %job.model.name,
        rows = rows.used(),
        capacity,
        instances = public.len(),
        "model laid out"
    );
    Ok(Synthesis {
        rows_used: rows.used(),
        output,
    })
}

/// The region's content; returns the cells to bind to the instances (in instance order) and
/// the output values.
fn lay_out_region(
    job: &Job<'_>,
    config: &ModelCircuitConfig,
    region: &mut Region<'_, Fr>,
    rows: &mut RowAllocator,
) -> Result<(Vec<Cell>, Option<Vec<i64>>), CircuitError> {
    let model = job.model;
    let n_input: usize = model.input.shape.iter().product();
    let input_values: Vec<Value<Fr>> = match job.witness {
        Some(w) => w
            .input
            .iter()
            .map(|x| Value::known(fe_from_i64(*x)))
            .collect(),
        None => vec![Value::unknown(); n_input],
    };
    let input = config.model.assign_inputs(region, rows, &input_values)?;
    let committed = if job.visibility.hashed_weights() {
        let poseidon = config.poseidon.clone().ok_or(CircuitError::NotConfigured)?;
        Some(commit_params(
            &config.model,
            &PoseidonChip::construct(poseidon),
            region,
            rows,
            model,
            job.witness.is_some(),
            Tamper::param_fault(job.tamper),
        )?)
    } else {
        None
    };
    let mut values: Vec<Vec<AssignedVar<Fr>>> = Vec::with_capacity(model.nodes.len() + 1);
    {
        let mut cx = LayerCx {
            config: &config.model,
            region: &mut *region,
            rows: &mut *rows,
            bits: model.bits,
            layer: 0,
            tamper: job.tamper,
            lookup: config.lookup.as_ref(),
            params: committed.as_ref(),
        };
        // Always range-check the input: it bounds every accumulator built from it.
        cx.range_check(&input)?;
        values.push(input);
        for idx in 0..model.nodes.len() {
            cx.layer = idx;
            let out = lay_out_node(&mut cx, model, idx, &values)?;
            values.push(out);
        }
    }
    let input = values.first().map(Vec::as_slice).unwrap_or(&[]);
    let output = values.last().map(Vec::as_slice).unwrap_or(&[]);
    let mut public = Vec::new();
    if let Some(committed) = &committed {
        public.push(committed.digest.cell());
    }
    match job.visibility.input {
        InputVisibility::Public => public.extend(input.iter().map(AssignedVar::cell)),
        InputVisibility::Hashed => public.push(digest(config, region, rows, input)?),
        InputVisibility::Private => {}
    }
    match job.visibility.output {
        OutputVisibility::Public => public.extend(output.iter().map(AssignedVar::cell)),
        OutputVisibility::Hashed => public.push(digest(config, region, rows, output)?),
    }
    let recipient = job
        .witness
        .map_or(Value::unknown(), |w| Value::known(w.recipient));
    let row = rows.alloc(1)?;
    let lane = config
        .model
        .pool
        .lanes
        .first()
        .copied()
        .ok_or(CircuitError::InvalidParams {
            parameter: "lanes",
            value: 0,
            expected: "at least one lane",
        })?;
    public.push(assign(region, lane, row, recipient).cell());
    let output_values = output
        .iter()
        .map(|v| value_to_option(v.value()).and_then(|f| fe_to_i64(&f)))
        .collect::<Option<Vec<i64>>>();
    Ok((public, output_values))
}

/// The Poseidon `hash_many` digest cell of `vars`.
fn digest(
    config: &ModelCircuitConfig,
    region: &mut Region<'_, Fr>,
    rows: &mut RowAllocator,
    vars: &[AssignedVar<Fr>],
) -> Result<Cell, CircuitError> {
    let poseidon = config.poseidon.clone().ok_or(CircuitError::NotConfigured)?;
    let chip = PoseidonChip::construct(poseidon);
    Ok(chip.hash(region, rows, vars)?.cell())
}

/// Lays out node `idx` on the values computed so far.
fn lay_out_node(
    cx: &mut LayerCx<'_, '_>,
    model: &QuantizedModel,
    idx: usize,
    values: &[Vec<AssignedVar<Fr>>],
) -> Result<Vec<AssignedVar<Fr>>, CircuitError> {
    let node = model
        .nodes
        .get(idx)
        .ok_or(CircuitError::EmptyInput { op: "model node" })?;
    let operand = |k: usize| -> Result<&[AssignedVar<Fr>], CircuitError> {
        node.inputs
            .get(k)
            .and_then(|v| values.get(*v))
            .map(Vec::as_slice)
            .ok_or(CircuitError::EmptyInput {
                op: "model node input",
            })
    };
    let x = operand(0)?;
    match &node.op {
        QOp::Dense {
            in_features,
            out_features,
            weight,
            bias,
            shift,
        } => dense(
            cx,
            x,
            &DenseLayer {
                in_features: *in_features,
                out_features: *out_features,
                weight,
                bias,
                shift: *shift,
            },
        ),
        QOp::Conv2d {
            geom,
            weight,
            bias,
            shift,
        } => conv2d(cx, x, geom, weight, bias, *shift),
        QOp::Relu => relu(cx, x),
        QOp::LeakyRelu { alpha, alpha_shift } => leaky_relu(cx, x, *alpha, *alpha_shift),
        QOp::Reshape => Ok(x.to_vec()),
        QOp::Add { shift_a, shift_b } => {
            add_sub(cx, x, operand(1)?, (*shift_a, *shift_b), ArithOp::Add)
        }
        QOp::Sub { shift_a, shift_b } => {
            add_sub(cx, x, operand(1)?, (*shift_a, *shift_b), ArithOp::Sub)
        }
        QOp::Mul { shift } => mul(cx, x, operand(1)?, *shift),
        QOp::AddConst { shift, constant } => add_const(cx, x, *shift, constant),
        QOp::MulConst { constant, shift } => mul_const(cx, x, constant, *shift),
        QOp::AvgPool {
            geom,
            count_include_pad,
        } => avg_pool(cx, x, geom, *count_include_pad),
        QOp::MaxPool { geom } => max_pool(cx, x, geom),
        QOp::Lookup {
            in_shift,
            table_bits,
            table,
            add_relu,
            ..
        } => lookup(
            cx,
            x,
            &TableSpec {
                tag: idx as u64 + 1,
                table_bits: *table_bits,
                table,
            },
            *in_shift,
            *add_relu,
        ),
        other => Err(CircuitError::UnsupportedOp {
            layer: node.name.clone(),
            kind: other.kind(),
        }),
    }
}
