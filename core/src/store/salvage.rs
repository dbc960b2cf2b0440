//! Starting over from a damaged store file: the file is moved aside, a fresh store is created in
//! its place, and the mutations that had not reached the server are copied into it, as far as
//! the damage lets them be read.
//!
//! The device keeps its client id when the damaged file still tells it and the highest outbox
//! seq ever given: then a salvaged mutation the server had already applied (its answer lost) is
//! recognised by its seq and not applied twice, and new mutations continue after every seq ever
//! used. Without both, the kept mutations go out under a new client id, each as a new mutation.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction};
use syncline_protocol::{Op, Schema};

use super::outbox::{self, Entry};
use super::sql;
use crate::error::{Error, Result};
use crate::record::{declared, fields_from_json};
use crate::shared::now_ms;

/// What starting over kept from a damaged store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Salvage {
    /// Where the damaged file was moved (kept for support; the app may delete it).
    pub damaged_copy: String,
    /// Mutations not yet accepted by the server (pending or quarantined) copied into the new store.
    pub mutations_kept: u64,
    /// Whether reading the damaged outbox reached its end; when false, mutations after the
    /// damage could not be read and are lost.
    pub complete: bool,
    /// Whether the device kept its client id, so that nothing kept can be applied twice.
    pub same_client: bool,
}

/// What could be read from the damaged file.
pub(crate) struct Readable {
    client_id: Option<String>,
    seq_high_water: Option<u64>,
    entries: Vec<Entry>,
    complete: bool,
}

/// `path` with `suffix` appended to its file name (`-wal`, `.damaged-…`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where the damaged file goes, and where its replacement is built first.
pub(crate) fn side_paths(path: &Path) -> (PathBuf, PathBuf) {
    let now = now_ms();
    (
        with_suffix(path, &format!(".damaged-{now}")),
        with_suffix(path, &format!(".salvage-{now}")),
    )
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Storage {
        kind: crate::status::StorageErrorKind::Other,
        detail: format!("{what}: {e}"),
    }
}

/// Renames a database with its WAL and shared-memory files, keeping them a set (SQLite finds a
/// WAL by the database's name).
pub(crate) fn rename_store(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(io("cannot move the store file"))?;
    for suffix in ["-wal", "-shm"] {
        let side = with_suffix(from, suffix);
        if side.exists() {
            std::fs::rename(&side, with_suffix(to, suffix))
                .map_err(io("cannot move the store's WAL"))?;
        }
    }
    Ok(())
}

/// Removes a store file and its WAL and shared-memory files, if there.
pub(crate) fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(path, suffix));
    }
}

impl Readable {
    /// Whether the device can stay the same client: its id and its highest seq are known.
    pub(crate) fn same_client(&self) -> bool {
        self.client_id.is_some() && self.seq_high_water.is_some()
    }
}

/// Reads what it can; every failure only shortens what is kept.
pub(crate) fn read_damaged(path: &Path) -> Readable {
    let nothing = Readable {
        client_id: None,
        seq_high_water: None,
        entries: Vec::new(),
        complete: false,
    };
    let Ok(conn) = Connection::open(path) else {
        return nothing;
    };
    let client_id = conn
        .query_row("SELECT value FROM meta WHERE name = 'client_id'", [], |r| {
            r.get(0)
        })
        .optional()
        .ok()
        .flatten();
    let (entries, complete) = outbox::readable_entries(&conn);
    // Every seq ever given must be known, or a new mutation could reuse one the server has seen
    // (and be answered with that one's stored result): no sequence row, no same client.
    let highest_read = entries.iter().map(|e| e.mutation.seq).max().unwrap_or(0);
    Readable {
        client_id,
        seq_high_water: outbox::seq_high_water(&conn).map(|high| high.max(highest_read)),
        entries,
        complete,
    }
}

/// Copies what was read from the damaged store into a fresh one's transaction; returns how many
/// mutations were kept and whether everything readable was.
pub(crate) fn restore(
    tx: &Transaction<'_>,
    schema: &Schema,
    readable: Readable,
) -> Result<(u64, bool)> {
    let same_client = readable.same_client();
    if let (Some(id), Some(high)) = (&readable.client_id, readable.seq_high_water) {
        tx.execute("UPDATE meta SET value = ?1 WHERE name = 'client_id'", [id])?;
        outbox::raise_seq_high_water(tx, high)?;
    }
    let (mut kept, mut complete) = (0, readable.complete);
    for entry in readable.entries {
        let Ok(e) = schema.entity(&entry.mutation.entity) else {
            log::warn!(
                "salvage: mutation {} is of an undeclared entity: dropped",
                entry.mutation.mutation_id
            );
            complete = false;
            continue;
        };
        // A new client id starts its seqs afresh; the server knows none of them.
        outbox::restore(tx, &entry, same_client)?;
        // The local rows show the kept mutations at once, in order: a record made on this
        // device exists only here until it is pushed. Rows of server records come back with the
        // first pull, and pending mutations are re-applied over every pulled page.
        let m = &entry.mutation;
        let values = match fields_from_json(e, &declared(e, &m.fields)) {
            Ok(values) => values,
            Err(err) => {
                log::warn!("salvage: mutation {} kept, not shown: {err}", m.mutation_id);
                kept += 1;
                continue;
            }
        };
        match m.op {
            Op::Insert => sql::write_row(tx, e, &m.key, None, &values)?,
            Op::Update => sql::set_fields(tx, e, &m.key, &values)?,
            Op::Delete => sql::delete_row(tx, e, &m.key)?,
        }
        kept += 1;
    }
    Ok((kept, complete))
}
