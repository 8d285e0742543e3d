//! Deliberate witness faults, for soundness tests only.
//!
//! A [`Tamper`] makes the model circuit assign one dishonest witness cell while every other
//! cell is computed honestly from it. The constraints must reject the result; the tests in
//! `tests/model.rs` check they do. Setting one needs the `tamper` cargo feature
//! (`ModelCircuit::with_tamper`); without it the honest witness is the only one the circuit
//! can produce.

use serde::{Deserialize, Serialize};

/// One dishonest witness cell. `layer` is the node index in the model, `index` the element of
/// that layer's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tamper {
    /// A ReLU claims the wrong branch: `y = x` for a negative `x` (sign bit 1), or `y = 0` for
    /// a non-negative `x` (sign bit 0), with a consistent sign witness.
    Relu {
        /// Node index.
        layer: usize,
        /// Output element.
        index: usize,
    },
    /// A rescale (or rounded division) quotient one above the true one, remainder unchanged.
    RescaleQuotient {
        /// Node index.
        layer: usize,
        /// Output element.
        index: usize,
    },
    /// A LeakyReLU output one above the true one.
    LeakyRelu {
        /// Node index.
        layer: usize,
        /// Output element.
        index: usize,
    },
    /// A table-lookup output one above the table entry.
    Lookup {
        /// Node index.
        layer: usize,
        /// Output element.
        index: usize,
    },
    /// A max-pool output one above the window's true maximum.
    MaxPool {
        /// Node index.
        layer: usize,
        /// Output element.
        index: usize,
    },
    /// Hashed weights: a Dense/Conv2d row multiplies by weight `index` plus one instead of the
    /// committed weight (the row's copy of the committed cell holds another value).
    PrivateWeight {
        /// Node index.
        layer: usize,
        /// Weight element.
        index: usize,
    },
    /// Hashed weights: the circuit commits to weight `index` plus one and computes with it (a
    /// consistent witness for other weights than the public commitment's).
    CommittedWeight {
        /// Node index.
        layer: usize,
        /// Weight element.
        index: usize,
    },
    /// Hashed weights: weight `index` plus `2^b` and weight `index + 1` minus one, which packs
    /// to the same element (so the same commitment) unless the range checks stop it.
    PackOverflow {
        /// Node index.
        layer: usize,
        /// Weight element.
        index: usize,
    },
}

impl Tamper {
    /// The weight element whose copy lies in `layer`'s private-weight rows.
    pub(crate) fn private_weight_at(fault: Option<Tamper>, layer: usize) -> Option<usize> {
        match fault {
            Some(Tamper::PrivateWeight { layer: l, index }) if l == layer => Some(index),
            _ => None,
        }
    }

    /// The fault of the committed parameters, if any.
    pub(crate) fn param_fault(fault: Option<Tamper>) -> Option<super::weights::ParamFault> {
        use super::weights::ParamFault;
        match fault {
            Some(Tamper::CommittedWeight { layer, index }) => {
                Some(ParamFault::Committed { layer, index })
            }
            Some(Tamper::PackOverflow { layer, index }) => {
                Some(ParamFault::PackOverflow { layer, index })
            }
            _ => None,
        }
    }

    /// The output element this fault targets in `layer` for a fault of the given kind.
    pub(crate) fn relu_at(fault: Option<Tamper>, layer: usize) -> Option<usize> {
        match fault {
            Some(Tamper::Relu { layer: l, index }) if l == layer => Some(index),
            _ => None,
        }
    }

    /// See [`Tamper::relu_at`].
    pub(crate) fn quotient_at(fault: Option<Tamper>, layer: usize) -> Option<usize> {
        match fault {
            Some(Tamper::RescaleQuotient { layer: l, index }) if l == layer => Some(index),
            _ => None,
        }
    }

    /// See [`Tamper::relu_at`].
    pub(crate) fn leaky_at(fault: Option<Tamper>, layer: usize) -> Option<usize> {
        match fault {
            Some(Tamper::LeakyRelu { layer: l, index }) if l == layer => Some(index),
            _ => None,
        }
    }

    /// See [`Tamper::relu_at`].
    pub(crate) fn lookup_at(fault: Option<Tamper>, layer: usize) -> Option<usize> {
        match fault {
            Some(Tamper::Lookup { layer: l, index }) if l == layer => Some(index),
            _ => None,
        }
    }

    /// See [`Tamper::relu_at`].
    pub(crate) fn max_at(fault: Option<Tamper>, layer: usize) -> Option<usize> {
        match fault {
            Some(Tamper::MaxPool { layer: l, index }) if l == layer => Some(index),
            _ => None,
        }
    }
}
