//! The small interface both backends implement: a database that runs work in read or write
//! transactions, and a transaction that runs statements and hands back rows (a leaf).

use crate::error::StoreError;
use crate::wakeup::Collector;

/// A parameter of a statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    /// A 64-bit integer (`BIGINT`).
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// Text.
    Text(&'a str),
    /// Text or NULL.
    OptText(Option<&'a str>),
    /// A boolean (`BOOLEAN` on PostgreSQL, 0/1 on SQLite).
    Bool(bool),
}

/// One row of a query's answer, read by column index.
pub trait Row {
    /// A non-null integer column.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// An integer column that may be NULL.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A non-null text column, borrowed from the row.
    fn text(&self, i: usize) -> Result<&str, StoreError>;
    /// A text column that may be NULL.
    fn opt_text(&self, i: usize) -> Result<Option<&str>, StoreError>;
    /// A boolean column.
    fn bool(&self, i: usize) -> Result<bool, StoreError>;
}

/// What a query's row callback says: read on, or stop here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Hand over the next row.
    Continue,
    /// Stop reading (the rest of the answer is not needed).
    Stop,
}

/// An open transaction: the only way the server reads or writes its data.
pub trait Tx {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64, StoreError>;

    /// Runs a query, handing each row to `each` until it says [`Next::Stop`] or the rows end.
    fn query(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<Next, StoreError>,
    ) -> Result<(), StoreError>;

    /// What this transaction touched so far, for the live streams' wake-up at its commit
    /// (`wakeup.rs`). The data layer notes every change-log entry it writes here; a read
    /// transaction's notes are dropped.
    fn touched(&mut self) -> &mut Collector;
}

impl dyn Tx + '_ {
    /// The first row's value as `read` makes it, or `None` when there is no row.
    pub fn query_opt<T>(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
        read: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut out = None;
        self.query(sql, params, &mut |row| {
            out = Some(read(row)?);
            Ok(Next::Stop)
        })?;
        Ok(out)
    }

    /// Every row's value as `read` makes it.
    pub fn query_all<T>(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
        read: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.query(sql, params, &mut |row| {
            out.push(read(row)?);
            Ok(Next::Continue)
        })?;
        Ok(out)
    }

    /// Whether the query has at least one row.
    pub fn exists(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<bool, StoreError> {
        Ok(self.query_opt(sql, params, |_| Ok(()))?.is_some())
    }
}

/// Work done in one transaction: it returns `Err` to roll back.
pub type Work<'a> = dyn FnMut(&mut dyn Tx) -> Result<(), StoreError> + 'a;

/// A database the server can run on.
pub trait Database: Send + Sync {
    /// Runs `work` in a write transaction, serialized with every other write transaction on
    /// this database (by every instance), and commits when it returns `Ok`.
    fn write(&self, work: &mut Work<'_>) -> Result<(), StoreError>;

    /// Runs `work` in a read-only transaction that sees one consistent, committed state and
    /// never blocks writers.
    fn read(&self, work: &mut Work<'_>) -> Result<(), StoreError>;

    /// Checks the database answers (readiness).
    fn ping(&self) -> Result<(), StoreError>;

    /// What the database is, for logs and `Debug` (a PostgreSQL URL without its password).
    fn describe(&self) -> String;

    /// The SQLite file, when this is one.
    fn file(&self) -> Option<&std::path::Path> {
        None
    }
}
