//! Attachments' bookkeeping on the device (issue 23): the files in the local cache, the blobs to
//! upload, and which outbox mutations reference which blob. A mutation that references a blob
//! not yet complete on the server is held back (with the later mutations of its record, whose
//! order must hold), while every other mutation is pushed; when the upload completes, the held
//! ones are queued again after everything pushed meanwhile (the server takes each entity's
//! mutations in `seq` order only).
//!
//! Files live beside the database, in `<db>.attachments/ab/<sha256>`: the path is derived from
//! the hash and the database's own place, never stored, so a moved app container (iOS) still
//! finds them.

use rusqlite::{params, Connection, OptionalExtension};

use super::outbox;
use crate::error::Result;
use crate::shared::now_ms;

/// Added by the store's sixth migration.
pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE blob_files (
    hash      TEXT PRIMARY KEY NOT NULL,   -- lowercase hex SHA-256; the file is <folder>/ab/<hash>
    size      INTEGER NOT NULL,
    last_used INTEGER NOT NULL             -- ms since epoch: the cache evicts the oldest first
) WITHOUT ROWID;
CREATE TABLE blob_uploads (
    hash       TEXT PRIMARY KEY NOT NULL,
    size       INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('waiting', 'complete', 'refused')),
    upload_id  TEXT,                       -- the server's upload, once created
    code       TEXT,                       -- why the server refused it
    message    TEXT,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE outbox_blobs (
    mutation_id TEXT NOT NULL,             -- survives a requeue, unlike seq
    hash        TEXT NOT NULL,
    PRIMARY KEY (mutation_id, hash)
) WITHOUT ROWID;
CREATE INDEX outbox_blobs_by_hash ON outbox_blobs (hash);
";

/// A blob to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    /// Its hash.
    pub hash: String,
    /// Its size.
    pub size: u64,
    /// The server's upload, once created.
    pub upload_id: Option<String>,
}

/// Notes a file in the cache (attached here or downloaded), used now.
pub(crate) fn cached(conn: &Connection, hash: &str, size: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO blob_files (hash, size, last_used) VALUES (?1, ?2, ?3)
         ON CONFLICT (hash) DO UPDATE SET last_used = excluded.last_used",
    )?
    .execute(params![hash, size as i64, now_ms()])?;
    Ok(())
}

/// Whether the cache holds the file `hash`.
pub(crate) fn is_cached(conn: &Connection, hash: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM blob_files WHERE hash = ?1")?
        .query_row([hash], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Forgets a cached file (evicted, or found damaged).
pub(crate) fn uncached(conn: &Connection, hash: &str) -> Result<()> {
    conn.execute("DELETE FROM blob_files WHERE hash = ?1", [hash])?;
    Ok(())
}

/// Records that the mutation `mutation_id` references `hash`, which is to be uploaded unless
/// the server has it complete already.
pub(crate) fn reference(conn: &Connection, mutation_id: &str, hash: &str, size: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO blob_uploads (hash, size, state, created_at) VALUES (?1, ?2, 'waiting', ?3)
         ON CONFLICT (hash) DO UPDATE SET state = 'waiting', code = NULL, message = NULL
             WHERE blob_uploads.state = 'refused'",
    )?
    .execute(params![hash, size as i64, now_ms()])?;
    conn.prepare_cached(
        "INSERT INTO outbox_blobs (mutation_id, hash) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![mutation_id, hash])?;
    Ok(())
}

/// The blobs waiting to be uploaded, oldest first.
pub(crate) fn waiting(conn: &Connection) -> Result<Vec<Upload>> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, size, upload_id FROM blob_uploads WHERE state = 'waiting'
         ORDER BY created_at, hash",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Upload {
            hash: r.get(0)?,
            size: r.get::<_, i64>(1)? as u64,
            upload_id: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many blobs wait to be uploaded, and their bytes.
pub(crate) fn waiting_totals(conn: &Connection) -> Result<(u64, u64)> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blob_uploads WHERE state = 'waiting'",
        )?
        .query_row([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })?)
}

/// Keeps the server's upload id of `hash` (so a restart goes on with it).
pub(crate) fn set_upload_id(conn: &Connection, hash: &str, upload_id: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE blob_uploads SET upload_id = ?2 WHERE hash = ?1",
        params![hash, upload_id],
    )?;
    Ok(())
}

/// Whether the mutation references a blob that is not complete on the server.
fn is_held(conn: &Connection, mutation_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM outbox_blobs AS ob
             JOIN blob_uploads AS bu ON bu.hash = ob.hash AND bu.state <> 'complete'
             WHERE ob.mutation_id = ?1 LIMIT 1",
        )?
        .query_row([mutation_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The records with a pending mutation that references `hash`.
fn records_referencing(conn: &Connection, hash: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT o.entity, o.key FROM outbox AS o
         JOIN outbox_blobs AS ob ON ob.mutation_id = o.mutation_id
         WHERE ob.hash = ?1 AND o.state = 'pending'",
    )?;
    let rows = stmt.query_map([hash], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The blob is complete on the server: its held mutations (and the later ones of their records)
/// are queued again, in order, after everything pushed meanwhile. Returns how many.
pub(crate) fn complete(conn: &Connection, hash: &str) -> Result<usize> {
    // Everything from a record's first held mutation on was never pushed: safe to renumber.
    // Found before the blob counts as complete, which would make them look unheld.
    let mut held_chains = Vec::new();
    for (entity, key) in records_referencing(conn, hash)? {
        let mut held = false;
        for entry in outbox::chain(conn, &entity, &key)? {
            held = held || is_held(conn, &entry.mutation.mutation_id)?;
            if held {
                held_chains.push(entry);
            }
        }
    }
    conn.execute(
        "UPDATE blob_uploads SET state = 'complete', upload_id = NULL WHERE hash = ?1",
        [hash],
    )?;
    for entry in &held_chains {
        outbox::requeue(conn, entry, None)?;
    }
    prune(conn)?;
    Ok(held_chains.len())
}

/// The server refused the blob for good (too large, quota): the pending mutations that reference
/// it are quarantined with its reason, like any refused write. Returns how many.
pub(crate) fn refuse(conn: &Connection, hash: &str, code: &str, message: &str) -> Result<usize> {
    conn.execute(
        "UPDATE blob_uploads SET state = 'refused', upload_id = NULL, code = ?2, message = ?3
         WHERE hash = ?1",
        params![hash, code, message],
    )?;
    let seqs: Vec<i64> = conn
        .prepare_cached(
            "SELECT o.seq FROM outbox AS o JOIN outbox_blobs AS ob ON ob.mutation_id = o.mutation_id
             WHERE ob.hash = ?1 AND o.state = 'pending' ORDER BY o.seq",
        )?
        .query_map([hash], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for seq in &seqs {
        outbox::quarantine(conn, *seq as u64, code, message)?;
    }
    Ok(seqs.len())
}

/// Forgets the references of mutations that are gone (pushed and answered, or discarded).
pub(crate) fn prune(conn: &Connection) -> Result<()> {
    conn.execute(
        "DELETE FROM outbox_blobs WHERE NOT EXISTS
             (SELECT 1 FROM outbox WHERE outbox.mutation_id = outbox_blobs.mutation_id)",
        [],
    )?;
    Ok(())
}

/// Cached files the cache may drop, least recently used first, and the cache's total bytes: a
/// file of a blob still to upload, or referenced by a mutation not yet settled, is never among
/// them.
pub(crate) fn evictable(conn: &Connection) -> Result<(Vec<(String, u64)>, u64)> {
    let total: i64 = conn.query_row("SELECT COALESCE(SUM(size), 0) FROM blob_files", [], |r| {
        r.get(0)
    })?;
    let mut stmt = conn.prepare_cached(
        "SELECT f.hash, f.size FROM blob_files AS f
         WHERE NOT EXISTS (SELECT 1 FROM blob_uploads AS u
                           WHERE u.hash = f.hash AND u.state <> 'complete')
           AND NOT EXISTS (SELECT 1 FROM outbox_blobs AS ob
                           JOIN outbox AS o ON o.mutation_id = ob.mutation_id
                           WHERE ob.hash = f.hash)
         ORDER BY f.last_used",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total.max(0) as u64))
}
