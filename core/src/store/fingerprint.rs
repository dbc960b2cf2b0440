//! Fingerprints of query answers, so a live query can tell that its answer has not changed
//! without decoding it: a keyed hash of the rows as stored (every column, in order) and of their
//! sync states; for the conflict inbox and the quarantined mutations, of their rows alone. Two
//! independent 64-bit SipHash keys, chosen at random per process: a changed answer goes unnoticed
//! with probability 2⁻¹²⁸, and nobody can craft values that collide.

use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};
use std::sync::OnceLock;

use rusqlite::types::ValueRef;
use rusqlite::Row;

use crate::error::Result;
use crate::record::RecordState;

/// What an answer hashed to; equal fingerprints mean an equal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(u64, u64);

/// Hashes an answer's parts, in the order they are written.
pub(crate) struct Fingerprinter(DefaultHasher, DefaultHasher);

impl Fingerprinter {
    /// A fingerprinter with this process's keys.
    pub(crate) fn new() -> Fingerprinter {
        static KEYS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
        let (a, b) = KEYS.get_or_init(|| (RandomState::new(), RandomState::new()));
        Fingerprinter(a.build_hasher(), b.build_hasher())
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
        self.1.write(bytes);
    }

    /// Adds the first `columns` columns of `row`, each with its type, so no two different rows
    /// (or row boundaries) write the same bytes.
    pub(crate) fn row(&mut self, row: &Row<'_>, columns: usize) -> Result<()> {
        for i in 0..columns {
            match row.get_ref(i)? {
                ValueRef::Null => self.write(&[0]),
                ValueRef::Integer(n) => {
                    self.write(&[1]);
                    self.write(&n.to_le_bytes());
                }
                ValueRef::Real(x) => {
                    self.write(&[2]);
                    self.write(&x.to_bits().to_le_bytes());
                }
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                    self.write(&[3]);
                    self.write(&(bytes.len() as u64).to_le_bytes());
                    self.write(bytes);
                }
            }
        }
        Ok(())
    }

    /// Adds a record's sync state.
    pub(crate) fn state(&mut self, state: RecordState) {
        self.write(&[match state {
            RecordState::Synced => 0,
            RecordState::Pending => 1,
            RecordState::InConflict => 2,
            RecordState::Quarantined => 3,
        }]);
    }

    /// Marks a boundary that changes the answer's shape (no record, another page follows).
    pub(crate) fn mark(&mut self, mark: u8) {
        self.write(&[0xff, mark]);
    }

    /// The fingerprint of everything written.
    pub(crate) fn finish(&self) -> Fingerprint {
        Fingerprint(self.0.finish(), self.1.finish())
    }
}

/// The fingerprint of every row `sql` (a statement without parameters) selects: all its
/// columns, in its order.
pub(crate) fn of_rows(conn: &rusqlite::Connection, sql: &str) -> Result<Fingerprint> {
    let mut stmt = conn.prepare_cached(sql)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut fingerprint = Fingerprinter::new();
    while let Some(row) = rows.next()? {
        fingerprint.row(row, columns)?;
    }
    Ok(fingerprint.finish())
}
