//! The change log's positions: one counter, bumped inside write transactions only, so positions
//! commit in the order they are taken (writes are serialized, `db/mod.rs`) and a delta pull is an
//! index range scan that never skips a change.

use std::cell::Cell;

use crate::db::{Param, Tx};
use crate::error::StoreError;

/// Takes `n` fresh change-log positions; returns the first. Only write transactions call it,
/// and they are serialized (`db/mod.rs`), so positions commit in the order they are taken.
pub(crate) fn reserve_positions(tx: &mut dyn Tx, n: i64) -> Result<i64, StoreError> {
    let last = tx
        .query_opt(
            "UPDATE counters SET value = value + ?1 WHERE name = 'position' RETURNING value",
            &[Param::Int(n)],
            |r| r.int(0),
        )?
        .ok_or_else(|| StoreError::Corrupt("the change-log counter is missing".into()))?;
    Ok(last - n + 1)
}

/// Change-log positions handed out one by one from a block taken at the first need: a push of
/// N mutations takes one block of N (one statement instead of N; on PostgreSQL each statement
/// is a round trip inside the serialized section). Positions of mutations that were rejected
/// stay unused: the log has gaps, which cursors do not mind.
pub(crate) struct Positions {
    /// How many to take at the first need.
    block: i64,
    next: Cell<i64>,
    end: Cell<i64>,
}

impl Positions {
    /// A source that takes `block` positions at a time (at least one).
    pub(crate) fn new(block: usize) -> Positions {
        Positions {
            block: i64::try_from(block).unwrap_or(i64::MAX).max(1),
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }

    /// The next position, taking a new block when the last one is used up.
    pub(crate) fn take(&self, tx: &mut dyn Tx) -> Result<i64, StoreError> {
        if self.next.get() == self.end.get() {
            let first = reserve_positions(tx, self.block)?;
            self.next.set(first);
            self.end.set(first + self.block);
        }
        let position = self.next.get();
        self.next.set(position + 1);
        Ok(position)
    }
}

/// The current end of the change log (the highest position handed out).
pub(super) fn log_position(tx: &mut dyn Tx) -> Result<i64, StoreError> {
    tx.query_opt(
        "SELECT value FROM counters WHERE name = 'position'",
        &[],
        |r| r.int(0),
    )?
    .ok_or_else(|| StoreError::Corrupt("the change-log counter is missing".into()))
}
