//! Bulk import and export of one entity's records as NDJSON (`syncline-server import ENTITY
//! FILE.ndjson`, `export ENTITY`; docs/backend.md), streaming in constant memory.
//!
//! A line is `{"key": "…", "fields": {…}}` (an export also writes `"version"`, which an import
//! ignores): every field, server-only ones included, so an export imports again as it was.
//! An import writes as a service with every scope would (`author` "import"): batches of
//! [`IMPORT_BATCH`] lines, each in one transaction; a bad line stops it with its line number,
//! and nothing of that line's batch is applied (the batches before it are).

use std::io::{BufRead, Write};

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::db::{Next, Param};
use crate::error::StoreError;
use crate::store::{Service, ServiceWrite, Store, WriteError, WriteKind};

/// Lines per import transaction.
pub const IMPORT_BATCH: usize = 1000;
/// The longest line an import reads, in bytes (its newline included): a longer one is a bad
/// line, never a buffer that grows with its input.
pub const MAX_IMPORT_LINE: usize = 1024 * 1024;
/// Records an export reads per transaction.
const EXPORT_PAGE: i64 = 1000;
/// A batch is written once its lines reach this many bytes, even short of [`IMPORT_BATCH`]
/// lines: memory stays bounded with large records too.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A line that is not a record, or a record the schema refuses; the lines of its batch
    /// before it were not applied either.
    #[error("line {line}: {message} (nothing of lines {batch_start}..={line} was applied)")]
    BadLine {
        /// Its number, from 1.
        line: u64,
        /// The first line of its batch.
        batch_start: u64,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One line of an import.
#[derive(Debug, Deserialize)]
struct Line {
    key: String,
    #[serde(default)]
    fields: Map<String, Json>,
    /// Written by an export; ignored.
    #[serde(default, rename = "version")]
    _version: Option<i64>,
}

/// Imports `input` into `entity`; `progress` hears the lines applied so far after each batch.
/// Returns how many records were written.
pub fn import(
    store: &Store,
    entity: &str,
    input: impl BufRead,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, ImportError> {
    let importer = Service {
        name: "import".into(),
        scopes: Vec::new(),
        all_scopes: true,
        read_only: false,
    };
    import_as(store, &importer, entity, input, progress)
}

/// [`import`] written by `service` (the backend API's `POST /v1/admin/import/{entity}`): its
/// name is the records' author and their scopes must be ones it reaches.
pub fn import_as(
    store: &Store,
    importer: &Service,
    entity: &str,
    mut input: impl BufRead,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, ImportError> {
    store.ent_or_err(entity)?;
    let mut batch: Vec<ServiceWrite> = Vec::with_capacity(IMPORT_BATCH);
    // The line number of each write of the batch (blank lines are skipped).
    let mut numbers: Vec<u64> = Vec::with_capacity(IMPORT_BATCH);
    let mut done = 0u64;
    let mut number = 0u64;
    let flush =
        |batch: &mut Vec<ServiceWrite>, numbers: &mut Vec<u64>| -> Result<u64, ImportError> {
            let Some(&batch_start) = numbers.first() else {
                return Ok(0);
            };
            store
                .service_write(importer, batch, None, &|_| String::new())
                .map_err(|e| match e {
                    // The database failed, not a line: retry the import from this batch.
                    WriteError::Store(s) => ImportError::Store(s),
                    e => ImportError::BadLine {
                        line: e
                            .index()
                            .and_then(|i| numbers.get(i).copied())
                            .unwrap_or(batch_start),
                        batch_start,
                        message: e.to_string(),
                    },
                })?;
            let n = batch.len() as u64;
            batch.clear();
            numbers.clear();
            Ok(n)
        };
    let mut raw = Vec::new();
    let mut batch_bytes = 0usize;
    loop {
        raw.clear();
        // At most one byte past the limit, so an endless line is refused, never held whole.
        let read = std::io::Read::take(&mut input, MAX_IMPORT_LINE as u64 + 1)
            .read_until(b'\n', &mut raw)?;
        if read == 0 {
            break;
        }
        number += 1;
        if raw.len() > MAX_IMPORT_LINE {
            return Err(bad_line(
                number,
                &numbers,
                format!("longer than {MAX_IMPORT_LINE} bytes"),
            ));
        }
        let Ok(text) = std::str::from_utf8(&raw) else {
            return Err(bad_line(number, &numbers, "not UTF-8".into()));
        };
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(text)
            .map_err(|e| bad_line(number, &numbers, format!("not a record: {e}")))?;
        numbers.push(number);
        batch_bytes += raw.len();
        batch.push(ServiceWrite {
            kind: WriteKind::Upsert,
            entity: entity.to_string(),
            key: line.key,
            fields: line.fields,
            if_version: None,
        });
        if batch.len() == IMPORT_BATCH || batch_bytes >= MAX_BATCH_BYTES {
            batch_bytes = 0;
            done += flush(&mut batch, &mut numbers)?;
            progress(done);
        }
    }
    done += flush(&mut batch, &mut numbers)?;
    progress(done);
    Ok(done)
}

/// Line `number` is bad: nothing of its batch (which began at the first of `numbers`, or at
/// it) is applied.
fn bad_line(number: u64, numbers: &[u64], message: String) -> ImportError {
    ImportError::BadLine {
        line: number,
        batch_start: numbers.first().copied().unwrap_or(number),
        message,
    }
}

/// Writes every live record of `entity` to `out`, one NDJSON line each, in change-log order;
/// returns how many. Rows are read and written one at a time.
pub fn export(store: &Store, entity: &str, out: &mut dyn Write) -> Result<u64, StoreError> {
    let everything = Service {
        name: "export".into(),
        scopes: Vec::new(),
        all_scopes: true,
        read_only: true,
    };
    export_for(store, &everything, entity, out)
}

/// [`export`] of the records `service` reaches (the backend API's
/// `GET /v1/admin/export/{entity}`).
pub fn export_for(
    store: &Store,
    service: &Service,
    entity: &str,
    out: &mut dyn Write,
) -> Result<u64, StoreError> {
    let ent = store.ent_or_err(entity)?;
    let (mut n, mut after) = (0u64, 0i64);
    loop {
        // A page per short read transaction, written out after it ends: a slow reader holds
        // no connection (PostgreSQL hands a query's rows over all at once, and its pool is
        // small) and no snapshot (SQLite's WAL could not be checkpointed). A record changed
        // between pages moves to a later position and is written again, in its newer state;
        // importing both lines in order ends with the newer.
        let mut page = Vec::new();
        let mut last = None;
        let mut rows = 0u64;
        store.with_reader(|tx| {
            tx.query(
                "SELECT key, version, data, position FROM records
                 WHERE entity = ?1 AND deleted = FALSE AND position > ?4
                   AND (CAST(?2 AS BIGINT) = 1
                        OR scope IN (SELECT scope FROM service_scopes WHERE name = ?3))
                 ORDER BY position LIMIT ?5",
                &[
                    Param::Text(entity),
                    Param::Int(i64::from(service.all_scopes)),
                    Param::Text(&service.name),
                    Param::Int(after),
                    Param::Int(EXPORT_PAGE),
                ],
                &mut |r| {
                    let data: Vec<Json> = serde_json::from_str(r.text(2)?)?;
                    let line = serde_json::json!({
                        "key": r.text(0)?,
                        "version": r.int(1)?,
                        "fields": ent.fields_of(&data),
                    });
                    serde_json::to_writer(&mut page, &line)?;
                    page.push(b'\n');
                    last = Some(r.int(3)?);
                    rows += 1;
                    Ok(Next::Continue)
                },
            )
        })?;
        out.write_all(&page)
            .map_err(|e| StoreError::Invalid(format!("writing the export: {e}")))?;
        n += rows;
        match last {
            Some(position) if rows == EXPORT_PAGE as u64 => after = position,
            _ => return Ok(n),
        }
    }
}
