//! The error type of `zkgrid-circuits`.

use halo2_proofs::plonk;

/// Everything that can go wrong while configuring or laying out zkgrid circuits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CircuitError {
    /// The column pool parameters cannot host every chip.
    #[error("invalid column pool: {parameter} = {value}, expected {expected}")]
    InvalidParams {
        /// Name of the offending parameter.
        parameter: &'static str,
        /// The value that was given.
        value: usize,
        /// Human readable description of the accepted values.
        expected: &'static str,
    },
    /// The circuit needs more rows than the current `k` provides.
    #[error("not enough rows: {needed} rows needed, {available} usable")]
    NotEnoughRows {
        /// Rows that the layout needs in total.
        needed: usize,
        /// Usable rows of the circuit (2^k minus blinding rows).
        available: usize,
    },
    /// A range check is wider than the limb columns of one range slot can decompose.
    #[error("range check of {bits} bits exceeds the {max_bits}-bit capacity of a range slot")]
    RangeTooWide {
        /// Requested width in bits.
        bits: u32,
        /// Widest check one range slot supports (8 × limbs per slot).
        max_bits: u32,
    },
    /// A bit width outside of what a chip supports (e.g. an activation width of 0).
    #[error("unsupported bit width {bits} for {op}")]
    InvalidBitWidth {
        /// The operation that rejected the width.
        op: &'static str,
        /// The rejected width.
        bits: u32,
    },
    /// A constant operand of a chip is out of its supported domain.
    #[error("invalid constant for {op}: {name} = {value}")]
    InvalidConstant {
        /// The operation that rejected the constant.
        op: &'static str,
        /// Name of the constant (e.g. `divisor`, `alpha`, `shift`).
        name: &'static str,
        /// The rejected value.
        value: i128,
    },
    /// Two inputs that must have matching lengths do not.
    #[error("length mismatch in {what}: expected {expected}, got {got}")]
    LengthMismatch {
        /// What was being compared.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// An operation that needs at least one input got none.
    #[error("{op} needs at least one input")]
    EmptyInput {
        /// The operation.
        op: &'static str,
    },
    /// A witness value is not a small signed integer, so integer semantics cannot be applied.
    #[error("witness value for {op} is not a signed integer below 2^127 in magnitude")]
    NotAnInteger {
        /// The operation whose input was not an integer.
        op: &'static str,
    },
    /// An integer computation of the witness overflowed `i128`.
    #[error("integer overflow while computing the witness of {op}")]
    Overflow {
        /// The operation.
        op: &'static str,
    },
    /// The model contains an operation the model circuit cannot prove (yet).
    #[error("layer `{layer}`: operation `{kind}` is not supported by the model circuit")]
    UnsupportedOp {
        /// Name of the layer.
        layer: String,
        /// Kind of the operation (`QOp::kind`).
        kind: &'static str,
    },
    /// The quantized model itself is invalid (structural check of `zkgrid_models`).
    #[error(transparent)]
    Model(#[from] zkgrid_models::ModelError),
    /// No column pool within the column budget fits the model in a circuit of at most
    /// `2^max_k` rows.
    #[error(
        "no layout fits within {column_budget} advice columns and k <= {max_k} \
         (the narrowest candidate has 4 lanes plus the accumulator and range columns, 6 advice \
         columns, or 8 with LeakyReLU or max layers; raise the column budget)"
    )]
    NoFeasiblePlan {
        /// Most advice columns allowed.
        column_budget: usize,
        /// Largest circuit size considered.
        max_k: u32,
    },
    /// A planner goal name that is not `prove`, `balanced` or `gas`.
    #[error("unknown plan goal {got:?}: expected prove, balanced or gas")]
    UnknownPlanGoal {
        /// The name given (at most 32 characters of it).
        got: String,
    },
    /// A public instance value is not what the instance layout expects (e.g. an output that is
    /// not an integer of the model's activation range).
    #[error("instance {index} is not a valid {what}")]
    InvalidInstance {
        /// Position in the instance vector.
        index: usize,
        /// What the position should hold.
        what: &'static str,
    },
    /// A layer needs a chip the circuit's settings left out (settings made for another model).
    #[error(
        "the {chip} chip is not configured in this circuit (settings made for another model?)"
    )]
    ChipNotConfigured {
        /// The chip.
        chip: &'static str,
    },
    /// The circuit was configured with parameters that failed validation; see the logs.
    #[error("the circuit configuration failed")]
    NotConfigured,
    /// An error reported by halo2 itself.
    #[error("halo2: {0}")]
    Halo2(#[from] plonk::Error),
}

impl From<CircuitError> for plonk::Error {
    fn from(err: CircuitError) -> Self {
        match err {
            CircuitError::Halo2(inner) => inner,
            other => {
                tracing::error!(error = %other, "circuit synthesis failed");
                plonk::Error::Synthesis
            }
        }
    }
}
