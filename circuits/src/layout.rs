//! Row allocation and assigned values shared by all chips.
//!
//! halo2-axiom's `SimpleFloorPlanner` places every region at row 0, so region offsets are
//! absolute rows. Chips therefore take their rows from one [`RowAllocator`] per circuit and
//! may be called from one region or from many.
//!
//! The allocator keeps two independent tracks over the same rows: the *main* track (lanes,
//! accumulator and the pool's fixed columns: every chip but the range chip) and the *range*
//! track (the range chip's own value, limb and fixed columns). A range check therefore shares
//! its row with a dense or rescale row instead of taking a row of its own; the circuit needs
//! as many rows as the longer track.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::plonk::{Advice, Column, Fixed};

use crate::error::CircuitError;
use crate::field::{fe_to_i128, value_to_option, Field};

/// Hands out consecutive absolute rows and refuses to go past the usable rows of the circuit.
#[derive(Clone, Debug)]
pub struct RowAllocator {
    next: usize,
    range_next: usize,
    capacity: usize,
}

impl RowAllocator {
    /// An allocator for a circuit with `capacity` usable rows (see
    /// [`crate::ModelConfig::usable_rows`]).
    pub fn new(capacity: usize) -> Self {
        Self {
            next: 0,
            range_next: 0,
            capacity,
        }
    }

    /// An allocator without a limit, for measuring how many rows a layout needs before `k` is
    /// chosen. Never use it to assign a real circuit: halo2 panics on rows past `2^k`.
    pub fn unbounded() -> Self {
        Self::new(usize::MAX)
    }

    /// Reserves `rows` consecutive rows of the main track and returns the first one.
    pub fn alloc(&mut self, rows: usize) -> Result<usize, CircuitError> {
        let start = self.next;
        self.next = Self::reserve(start, rows, self.capacity)?;
        Ok(start)
    }

    /// Reserves `rows` consecutive rows of the range track and returns the first one.
    pub fn alloc_range(&mut self, rows: usize) -> Result<usize, CircuitError> {
        let start = self.range_next;
        self.range_next = Self::reserve(start, rows, self.capacity)?;
        Ok(start)
    }

    fn reserve(start: usize, rows: usize, capacity: usize) -> Result<usize, CircuitError> {
        let end = start.checked_add(rows).ok_or(CircuitError::NotEnoughRows {
            needed: usize::MAX,
            available: capacity,
        })?;
        if end > capacity {
            return Err(CircuitError::NotEnoughRows {
                needed: end,
                available: capacity,
            });
        }
        Ok(end)
    }

    /// Number of rows in use: the longer of the two tracks.
    pub fn used(&self) -> usize {
        self.next.max(self.range_next)
    }

    /// Rows used by the main track.
    pub fn main_used(&self) -> usize {
        self.next
    }

    /// Rows used by the range track.
    pub fn range_used(&self) -> usize {
        self.range_next
    }

    /// Usable rows of the circuit this allocator was made for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A value assigned to an equality-enabled advice cell of the column pool: the handle chips
/// pass to each other (outputs of one layer are copied into the next layer's rows).
#[derive(Clone, Debug)]
pub struct AssignedVar<F: Field> {
    cell: Cell,
    value: Value<F>,
}

impl<F: Field> AssignedVar<F> {
    /// The cell holding the value.
    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// The witness value (unknown during key generation).
    pub fn value(&self) -> Value<F> {
        self.value
    }

    /// The witness value read as a signed integer: `Ok(None)` during key generation,
    /// [`CircuitError::NotAnInteger`] if the value is not a small integer.
    pub fn value_i128(&self, op: &'static str) -> Result<Option<i128>, CircuitError> {
        match value_to_option(self.value) {
            None => Ok(None),
            Some(v) => fe_to_i128(&v)
                .map(Some)
                .ok_or(CircuitError::NotAnInteger { op }),
        }
    }
}

impl<F: Field> AssignedVar<F> {
    /// The same cell claiming another value: used by deliberate faults (tests) to make a copy
    /// lie.
    pub(crate) fn with_value(&self, value: Value<F>) -> Self {
        Self {
            cell: self.cell,
            value,
        }
    }
}

/// Assigns `value` to `column` at absolute `row`.
pub(crate) fn assign<F: Field>(
    region: &mut Region<'_, F>,
    column: Column<Advice>,
    row: usize,
    value: Value<F>,
) -> AssignedVar<F> {
    let cell = region.assign_advice(column, row, value).cell();
    AssignedVar { cell, value }
}

/// Copies `var` into `column` at absolute `row` and constrains both cells to be equal.
pub(crate) fn copy<F: Field>(
    region: &mut Region<'_, F>,
    var: &AssignedVar<F>,
    column: Column<Advice>,
    row: usize,
) -> AssignedVar<F> {
    let out = assign(region, column, row, var.value);
    region.constrain_equal(out.cell, var.cell);
    out
}

/// Assigns a constant to a fixed column at absolute `row`.
pub(crate) fn fix<F: Field>(region: &mut Region<'_, F>, column: Column<Fixed>, row: usize, v: F) {
    region.assign_fixed(column, row, v);
}

/// `Value::known(f(x))` for known `x`, `Value::unknown()` otherwise, with a fallible `f`.
pub(crate) fn try_map<T, U>(
    value: Value<T>,
    f: impl FnOnce(T) -> Result<U, CircuitError>,
) -> Result<Value<U>, CircuitError> {
    match value_to_option(value) {
        Some(v) => Ok(Value::known(f(v)?)),
        None => Ok(Value::unknown()),
    }
}

/// Number of rows needed to host `items` items at `per_row` items per row.
pub(crate) fn rows_for(items: usize, per_row: usize) -> usize {
    if per_row == 0 {
        0
    } else {
        items.div_ceil(per_row)
    }
}

/// Returns `columns[range]` or an [`CircuitError::InvalidParams`] naming `what`.
pub(crate) fn take<C: Copy>(
    columns: &[C],
    start: usize,
    len: usize,
    what: &'static str,
) -> Result<Vec<C>, CircuitError> {
    start
        .checked_add(len)
        .and_then(|end| columns.get(start..end))
        .map(<[C]>::to_vec)
        .ok_or(CircuitError::InvalidParams {
            parameter: what,
            value: columns.len(),
            expected: "enough columns in the pool for this chip",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_refuses_overflow() {
        let mut rows = RowAllocator::new(10);
        assert_eq!(rows.alloc(4).ok(), Some(0));
        assert_eq!(rows.alloc(6).ok(), Some(4));
        assert!(matches!(
            rows.alloc(1),
            Err(CircuitError::NotEnoughRows {
                needed: 11,
                available: 10
            })
        ));
        assert_eq!(rows.used(), 10);
        let mut unbounded = RowAllocator::unbounded();
        assert_eq!(unbounded.alloc(1 << 20).ok(), Some(0));
        assert!(unbounded.alloc(usize::MAX).is_err());
    }

    #[test]
    fn tracks_share_rows_and_capacity() {
        let mut rows = RowAllocator::new(10);
        assert_eq!(rows.alloc(6).ok(), Some(0));
        assert_eq!(rows.alloc_range(3).ok(), Some(0));
        assert_eq!(rows.alloc_range(4).ok(), Some(3));
        assert_eq!(
            (rows.main_used(), rows.range_used(), rows.used()),
            (6, 7, 7)
        );
        assert!(matches!(
            rows.alloc_range(4),
            Err(CircuitError::NotEnoughRows {
                needed: 11,
                available: 10
            })
        ));
        assert_eq!(rows.alloc(4).ok(), Some(6));
        assert_eq!(rows.used(), 10);
    }

    #[test]
    fn rows_for_rounds_up() {
        assert_eq!(rows_for(0, 4), 0);
        assert_eq!(rows_for(1, 4), 1);
        assert_eq!(rows_for(8, 4), 2);
        assert_eq!(rows_for(9, 4), 3);
    }
}
