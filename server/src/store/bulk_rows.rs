//! Many records read and written per statement: what a batch of service writes and an import
//! use instead of a statement per record. On PostgreSQL each statement inside the serialized
//! write section is a network round trip, so a batch of 1,000 upserts made one by one costs
//! 3,000 of them (docs/benchmarks.md, "Import"); here it costs 32 for its full chunks of 64
//! (16 reads, 16 writes) and one per record of the tail under 64.
//!
//! The SQL stays the shared, portable kind (`?N` parameters, `&'static str`): a statement for a
//! fixed number of rows is built once, and a shorter tail is padded (reads) or written row by
//! row (writes).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value as Json;

use super::entity::Ent;
use super::records::{row_from, Row};
use crate::db::{Next, Param, Tx};
use crate::error::StoreError;

/// Keys looked up per statement.
const KEYS_PER_READ: usize = 64;
/// Records written per statement (10 parameters each, far below both databases' limits).
const ROWS_PER_WRITE: usize = 64;

/// `SELECT` of the stored state of [`KEYS_PER_READ`] keys of one entity: one point lookup on
/// the (entity, key) index per key, glued with `UNION ALL`. Not `key IN (…)`: PostgreSQL's
/// generic plan for that (a prepared statement's, after five runs) can pick the entity index
/// and filter every record of the entity, which made an import 40 ms per lookup.
static READ_SQL: LazyLock<String> = LazyLock::new(|| {
    let lookups: Vec<String> = (0..KEYS_PER_READ)
        .map(|i| {
            format!(
                "SELECT scope, version, deleted, data, writer, key FROM records
                 WHERE entity = ?1 AND key = ?{}",
                i + 2
            )
        })
        .collect();
    lookups.join(" UNION ALL ")
});

/// The columns of a written record, in the order of [`WRITE_SQL`]'s rows.
const WRITE_COLUMNS: usize = 10;

/// The upsert of [`ROWS_PER_WRITE`] records.
static WRITE_SQL: LazyLock<String> = LazyLock::new(|| {
    let rows: Vec<String> = (0..ROWS_PER_WRITE)
        .map(|r| {
            let cells: Vec<String> = (0..WRITE_COLUMNS)
                .map(|c| format!("?{}", r * WRITE_COLUMNS + c + 1))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    format!(
        "{} VALUES {} {}",
        WRITE_INSERT,
        rows.join(", "),
        WRITE_CONFLICT
    )
});

const WRITE_INSERT: &str = "INSERT INTO records (position, entity, key, scope, version, deleted, \
                            data, writer, author, changed_at)";
const WRITE_CONFLICT: &str =
    "ON CONFLICT (entity, key) DO UPDATE SET position = excluded.position, \
     scope = excluded.scope, version = excluded.version, deleted = excluded.deleted, \
     data = excluded.data, writer = excluded.writer, author = excluded.author, \
     changed_at = excluded.changed_at";

/// The upsert of one record (the tail of a batch).
static WRITE_ONE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("{WRITE_INSERT} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) {WRITE_CONFLICT}")
});

/// The stored state of each of `keys` of `ent` that has a record (deleted ones included), by
/// key: one statement per [`KEYS_PER_READ`] keys.
pub(crate) fn load_rows(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    keys: &[&str],
) -> Result<HashMap<String, Row>, StoreError> {
    let mut found = HashMap::with_capacity(keys.len());
    let sql: &'static str = READ_SQL.as_str();
    for chunk in keys.chunks(KEYS_PER_READ) {
        let Some(&last) = chunk.last() else {
            continue;
        };
        let mut params = Vec::with_capacity(KEYS_PER_READ + 1);
        params.push(Param::Text(ent.name()));
        // A short chunk repeats its last key: the same statement serves every chunk.
        params
            .extend((0..KEYS_PER_READ).map(|i| Param::Text(chunk.get(i).copied().unwrap_or(last))));
        tx.query(sql, &params, &mut |r| {
            found.insert(r.text(5)?.to_string(), row_from(r, ent)?);
            Ok(Next::Continue)
        })?;
    }
    Ok(found)
}

/// A record's new state as [`upsert_rows`] writes it: a service's or an import's write that
/// keeps the record's scope (or creates it), so it leaves no departure behind.
pub(crate) struct NewRow<'a> {
    /// Its change-log position (taken by the caller).
    pub position: i64,
    /// The key.
    pub key: &'a str,
    /// The project it belongs to.
    pub scope: &'a str,
    /// Its version afterwards.
    pub version: i64,
    /// Whether it is a tombstone afterwards.
    pub deleted: bool,
    /// Its fields by slot (ignored for a tombstone).
    pub data: &'a [Json],
    /// Who wrote it (a service's name).
    pub author: Option<&'a str>,
    /// When, ms since the epoch.
    pub at: i64,
}

/// Writes `rows` of `ent` (each key at most once; none moving to another scope), one
/// statement per [`ROWS_PER_WRITE`], and notes each for the live streams' wake-up.
pub(crate) fn upsert_rows(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    rows: &[NewRow<'_>],
) -> Result<(), StoreError> {
    let texts: Vec<String> = rows
        .iter()
        .map(|r| {
            if r.deleted {
                Ok("[]".to_string())
            } else {
                serde_json::to_string(r.data)
            }
        })
        .collect::<Result<_, _>>()?;
    let mut chunks = rows.chunks_exact(ROWS_PER_WRITE);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let mut params = Vec::with_capacity(ROWS_PER_WRITE * WRITE_COLUMNS);
        for (r, text) in chunk.iter().zip(&texts[offset..]) {
            push_params(&mut params, ent.name(), r, text);
        }
        let sql: &'static str = WRITE_SQL.as_str();
        tx.execute(sql, &params)?;
        offset += chunk.len();
    }
    for (r, text) in chunks.remainder().iter().zip(&texts[offset..]) {
        let mut params = Vec::with_capacity(WRITE_COLUMNS);
        push_params(&mut params, ent.name(), r, text);
        let sql: &'static str = WRITE_ONE_SQL.as_str();
        tx.execute(sql, &params)?;
    }
    for r in rows {
        tx.touched().scoped(r.scope, ent.name(), r.position);
    }
    Ok(())
}

/// One row's parameters, in [`WRITE_INSERT`]'s column order. A service's write has no writer
/// (no client): a device's pending edit meets it as another's change.
fn push_params<'p>(params: &mut Vec<Param<'p>>, entity: &'p str, r: &NewRow<'p>, text: &'p str) {
    params.extend([
        Param::Int(r.position),
        Param::Text(entity),
        Param::Text(r.key),
        Param::Text(r.scope),
        Param::Int(r.version),
        Param::Bool(r.deleted),
        Param::Text(text),
        Param::OptText(None),
        Param::OptText(r.author),
        Param::Int(r.at),
    ]);
}
