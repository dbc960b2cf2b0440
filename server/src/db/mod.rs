//! The databases the server runs on, behind one small interface: an embedded SQLite file (the
//! zero-setup default) or PostgreSQL (several server instances on one database).
//!
//! Everything the server does with its data (push, pull, the admin operations) is written once,
//! in `store/`, `push.rs` and `pull.rs`, against [`Tx`]: run a statement, read rows. Statements are
//! written once too, in the SQL both databases speak (`ON CONFLICT`, `RETURNING`, `TRUE`/`FALSE`,
//! numbered `?N` parameters, which the PostgreSQL backend rewrites to `$N`). Only the tables'
//! definitions (`migrations`) and the way transactions are begun differ per backend.
//!
//! **Writes are serialized**, on both backends: SQLite has one writer, and PostgreSQL write
//! transactions take one advisory lock first. That is what keeps the change log commit-ordered
//! across instances: a position is handed out only inside a write transaction, and the next
//! write transaction cannot begin until this one has committed, so a pull that has read up to a
//! position can never later see a smaller one commit (decision
//! 0023, `docs/decisions/0023-serialized-writes-order-the-change-log.md`).

mod interface;
mod listen;
pub(crate) mod pg_tls;
pub(crate) mod postgres;
pub(crate) mod sqlite;

pub(crate) use interface::{Database, Next, Param, Row, Tx};

use std::sync::Arc;

use crate::error::StoreError;
use crate::wakeup::Hub;

/// Where the server keeps its data, as given on the command line: a PostgreSQL URL
/// (`postgres://` or `postgresql://`) or a SQLite file path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An embedded SQLite file (created if missing).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database (it must exist; the server creates its tables).
    Postgres(String),
}

impl Location {
    /// Reads a `--db` value.
    pub fn parse(spec: &str) -> Location {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Location::Postgres(spec.to_string())
        } else {
            Location::Sqlite(spec.into())
        }
    }
}

impl From<&std::path::Path> for Location {
    fn from(p: &std::path::Path) -> Self {
        Location::Sqlite(p.to_path_buf())
    }
}

impl From<std::path::PathBuf> for Location {
    fn from(p: std::path::PathBuf) -> Self {
        Location::Sqlite(p)
    }
}

impl From<&std::path::PathBuf> for Location {
    fn from(p: &std::path::PathBuf) -> Self {
        Location::Sqlite(p.clone())
    }
}

impl From<&str> for Location {
    fn from(s: &str) -> Self {
        Location::parse(s)
    }
}

impl From<&String> for Location {
    fn from(s: &String) -> Self {
        Location::parse(s)
    }
}

impl From<String> for Location {
    fn from(s: String) -> Self {
        Location::parse(&s)
    }
}

/// Opens (creating its tables when needed) the database at `location`. Every commit that
/// touched something wakes `hub`: SQLite publishes to it after the commit; PostgreSQL sends a
/// `NOTIFY` in the committing transaction and this instance's listener publishes what it hears
/// (its own commits and other instances').
pub fn open(location: &Location, hub: Arc<Hub>) -> Result<Box<dyn Database>, StoreError> {
    Ok(match location {
        Location::Sqlite(path) => Box::new(sqlite::SqliteDb::open(path, hub)?),
        Location::Postgres(url) => Box::new(postgres::PostgresDb::open(url, hub)?),
    })
}
