//! The outbox: every local change, recorded in the same transaction as the change itself, kept
//! until the server has answered for it. Mutations the server refuses move to quarantine, with
//! the server's reason, instead of blocking the ones after them or being dropped.
//!
//! Free functions over a connection (or transaction) owned by the store: the outbox has no
//! connection of its own, so a record and its outbox entry can never commit apart.

use rusqlite::{params, Connection, OptionalExtension};
use syncline_protocol::{Mutation, OnConflict, Op, WireFields};

use super::fingerprint::{self, Fingerprint};
use crate::error::{Error, Result};
use crate::mutation::{MutationReceipt, MutationStage, StageKind};
use crate::shared::now_ms;

/// Tables of the outbox (part of the store's first migration).
pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT, -- per-client sequence; AUTOINCREMENT never reuses one
    mutation_id    TEXT NOT NULL UNIQUE,
    entity         TEXT NOT NULL,
    key            TEXT NOT NULL,
    op             TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    fields         TEXT NOT NULL,                     -- JSON object of the changed fields
    base_version   INTEGER,                           -- server version the edit was made on
    state          TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'quarantined')),
    reason_code    TEXT,
    reason_message TEXT,
    created_at     INTEGER NOT NULL                   -- ms since epoch: when it was saved locally
);
CREATE INDEX outbox_by_record ON outbox (entity, key);
CREATE INDEX outbox_by_state ON outbox (state, entity, seq);
";

/// Added by the store's fourth migration: how many entries are in each state, kept by triggers
/// in the same transaction as every change of the outbox. The status counts the outbox after
/// every local write; a `COUNT(*)` walks every pending entry, so with thousands waiting (a day
/// offline) it was most of a write's time (`docs/benchmarks.md`, local write latency).
pub(crate) const COUNTS_SQL: &str = "
CREATE TABLE outbox_counts (state TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO outbox_counts (state, n)
    SELECT 'pending', COUNT(*) FROM outbox WHERE state = 'pending'
    UNION ALL SELECT 'quarantined', COUNT(*) FROM outbox WHERE state = 'quarantined';
CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox BEGIN
    UPDATE outbox_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE state = OLD.state;
END;
CREATE TRIGGER outbox_counts_state AFTER UPDATE OF state ON outbox WHEN OLD.state <> NEW.state BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE state = OLD.state;
    UPDATE outbox_counts SET n = n + 1 WHERE state = NEW.state;
END;
";

/// Added by the store's fifth migration: set on a quarantined entry when a pull replaces its
/// record with the server's state. A quarantined change is not laid over pulled values (only
/// pending ones are), so from then on the record shows the server's values, and discarding the
/// change must leave them be, even a value equal to the change's own (someone else may have
/// written the same value on the server): undoing it by its base values would diverge.
pub(crate) const PULLED_OVER_SQL: &str =
    "ALTER TABLE outbox ADD COLUMN pulled_over INTEGER NOT NULL DEFAULT 0;";

/// Added by the store's third migration: the values the changed fields had before the edit (all
/// fields for a delete), for three-way merges and for undoing a discarded change; and each
/// mutation's stage.
pub(crate) const STAGES_SQL: &str = "
ALTER TABLE outbox ADD COLUMN base_fields TEXT;
-- 1: push with on_conflict overwrite whatever the entity's policy (the user already decided).
ALTER TABLE outbox ADD COLUMN overwrite INTEGER NOT NULL DEFAULT 0;
CREATE TABLE mutation_stages (
    mutation_id TEXT PRIMARY KEY NOT NULL,
    entity      TEXT NOT NULL,
    key         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    version     INTEGER,          -- the server version it produced, once accepted
    updated_at  INTEGER NOT NULL
);
CREATE INDEX mutation_stages_accepted ON mutation_stages (entity, key) WHERE stage = 'accepted';
";

/// Finished stages are kept this long, then forgotten.
const STAGE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Sets a mutation's stage (and version, when given).
pub(crate) fn set_stage(
    conn: &Connection,
    mutation_id: &str,
    entity: &str,
    key: &str,
    stage: StageKind,
    version: Option<i64>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO mutation_stages (mutation_id, entity, key, stage, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (mutation_id) DO UPDATE SET stage = excluded.stage,
             version = COALESCE(excluded.version, version), updated_at = excluded.updated_at",
    )?
    .execute(params![
        mutation_id,
        entity,
        key,
        stage.as_str(),
        version,
        now_ms()
    ])?;
    Ok(())
}

/// Moves the mutations of `entity`/`key` that are at stage `from` to stage `to`.
pub(crate) fn settle_stages(
    conn: &Connection,
    entity: &str,
    key: &str,
    from: StageKind,
    to: StageKind,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE mutation_stages SET stage = ?4, updated_at = ?5
         WHERE entity = ?1 AND key = ?2 AND stage = ?3",
    )?
    .execute(params![entity, key, from.as_str(), to.as_str(), now_ms()])?;
    Ok(())
}

/// Whether `entity` has accepted mutations not yet seen in pulled data.
pub(crate) fn has_accepted(conn: &Connection, entity: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM mutation_stages WHERE stage = 'accepted' AND entity = ?1)",
        )?
        .query_row([entity], |r| r.get(0))?)
}

/// A pull brought `key` at `version`: accepted mutations that produced it (or older) are seen.
pub(crate) fn mark_seen(conn: &Connection, entity: &str, key: &str, version: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE mutation_stages SET stage = 'seen', updated_at = ?4
         WHERE stage = 'accepted' AND entity = ?1 AND key = ?2 AND version <= ?3",
    )?
    .execute(params![entity, key, version, now_ms()])?;
    Ok(())
}

/// Forgets finished stages older than the retention (an accepted mutation whose record never
/// came back in a pull, e.g. it left the user's scope, counts as finished by then).
pub(crate) fn prune_stages(conn: &Connection) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM mutation_stages WHERE stage NOT IN ('saved', 'quarantined', 'in_conflict')
         AND updated_at < ?1",
    )?
    .execute([now_ms() - STAGE_RETENTION_MS])?;
    Ok(())
}

/// A mutation's stage, if it is still remembered.
pub(crate) fn stage(conn: &Connection, mutation_id: &str) -> Result<Option<MutationStage>> {
    let row: Option<(String, Option<i64>)> = conn
        .prepare_cached("SELECT stage, version FROM mutation_stages WHERE mutation_id = ?1")?
        .query_row([mutation_id], |r| Ok((r.get("stage")?, r.get("version")?)))
        .optional()?;
    row.map(|(stage, version)| {
        MutationStage::from_stored(&stage, version).ok_or_else(|| {
            Error::Corrupt(format!("mutation stage `{stage}` with version {version:?}"))
        })
    })
    .transpose()
}

fn encode(fields: &WireFields) -> Result<String> {
    serde_json::to_string(fields)
        .map_err(|e| Error::Corrupt(format!("cannot encode changed fields: {e}")))
}

/// Records a mutation; call inside the transaction that makes the change. `base_fields` are the
/// values the changed fields had before (all fields for a delete; none for an insert).
pub(crate) fn record(
    conn: &Connection,
    entity: &str,
    key: &str,
    op: Op,
    fields: &WireFields,
    base_version: Option<i64>,
    base_fields: &WireFields,
) -> Result<MutationReceipt> {
    let mutation_id = uuid::Uuid::new_v4().to_string();
    let seq = insert(
        conn,
        &mutation_id,
        entity,
        key,
        op,
        fields,
        base_version,
        base_fields,
        now_ms(),
    )?;
    set_stage(conn, &mutation_id, entity, key, StageKind::Saved, None)?;
    Ok(MutationReceipt { seq, mutation_id })
}

#[allow(clippy::too_many_arguments)] // one column each
fn insert(
    conn: &Connection,
    mutation_id: &str,
    entity: &str,
    key: &str,
    op: Op,
    fields: &WireFields,
    base_version: Option<i64>,
    base_fields: &WireFields,
    created_at: i64,
) -> Result<u64> {
    conn.prepare_cached(
        "INSERT INTO outbox (mutation_id, entity, key, op, fields, base_version, base_fields, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        mutation_id,
        entity,
        key,
        op.as_str(),
        encode(fields)?,
        base_version,
        encode(base_fields)?,
        created_at
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

/// Where an outbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryState {
    /// Waiting to be pushed.
    Pending,
    /// Refused by the server; waits for the user.
    Quarantined,
}

impl EntryState {
    fn parse(s: &str) -> Option<EntryState> {
        match s {
            "pending" => Some(EntryState::Pending),
            "quarantined" => Some(EntryState::Quarantined),
            _ => None,
        }
    }
}

/// One outbox entry, with what the merge and undo need.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The mutation as it is pushed.
    pub mutation: Mutation,
    /// Values of the changed fields before the edit.
    pub base_fields: WireFields,
    /// When it was saved, ms since the Unix epoch.
    pub created_at: i64,
    /// Pending or quarantined.
    pub state: EntryState,
    /// The server's code and message, once quarantined.
    pub reason: Option<(String, String)>,
    /// Whether a pull has replaced its record since it was quarantined ([`PULLED_OVER_SQL`]).
    pub pulled_over: bool,
}

/// The columns [`entry_from_row`] reads.
const ENTRY_COLUMNS: &str = "seq, mutation_id, entity, key, op, fields, base_version, overwrite, \
     base_fields, created_at, state, reason_code, reason_message, pulled_over";

fn decode(seq: i64, what: &str, text: &str) -> Result<WireFields> {
    serde_json::from_str(text)
        .map_err(|e| Error::Corrupt(format!("outbox entry {seq} has unreadable {what}: {e}")))
}

/// The one mapping from an outbox row (selected with [`ENTRY_COLUMNS`]) to an entry. Values are
/// decoded strictly: an unknown op or state is a corrupt store, never a default.
fn entry_from_row(row: &rusqlite::Row<'_>) -> Result<Entry> {
    let seq: i64 = row.get("seq")?;
    let op: String = row.get("op")?;
    let op = Op::parse(&op)
        .ok_or_else(|| Error::Corrupt(format!("outbox entry {seq} has unknown op `{op}`")))?;
    let state: String = row.get("state")?;
    let state = EntryState::parse(&state)
        .ok_or_else(|| Error::Corrupt(format!("outbox entry {seq} has unknown state `{state}`")))?;
    let fields = decode(seq, "fields", &row.get::<_, String>("fields")?)?;
    let base_fields = match row.get::<_, Option<String>>("base_fields")? {
        Some(text) => decode(seq, "base values", &text)?,
        None => WireFields::new(),
    };
    let reason = match state {
        EntryState::Quarantined => Some((
            row.get::<_, Option<String>>("reason_code")?
                .unwrap_or_default(),
            row.get::<_, Option<String>>("reason_message")?
                .unwrap_or_default(),
        )),
        EntryState::Pending => None,
    };
    Ok(Entry {
        mutation: Mutation {
            seq: seq as u64,
            mutation_id: row.get("mutation_id")?,
            entity: row.get("entity")?,
            key: row.get("key")?,
            op,
            fields,
            base_version: row.get("base_version")?,
            // Pending entries of last-write-wins entities are sent with `overwrite` by the
            // store before each push; this flag marks a decision already made.
            on_conflict: if row.get::<_, bool>("overwrite")? {
                OnConflict::Overwrite
            } else {
                OnConflict::Report
            },
        },
        base_fields,
        created_at: row.get("created_at")?,
        state,
        reason,
        pulled_over: row.get("pulled_over")?,
    })
}

/// The entries `WHERE filter` selects, in seq order, the first `limit` of them when given.
fn entries<P: rusqlite::Params>(
    conn: &Connection,
    filter: &str,
    limit: Option<usize>,
    args: P,
) -> Result<Vec<Entry>> {
    let limit = limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox WHERE {filter} ORDER BY seq{limit}"
    ))?;
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(entry_from_row(row)?);
    }
    Ok(out)
}

/// Every entry that can still be read from a damaged store, in seq order, and whether the read
/// got to the end (it stops at the first row the damage makes unreadable).
pub(crate) fn readable_entries(conn: &Connection) -> (Vec<Entry>, bool) {
    let mut out = Vec::new();
    let Ok(mut stmt) = conn.prepare(&format!("SELECT {ENTRY_COLUMNS} FROM outbox ORDER BY seq"))
    else {
        return (out, false);
    };
    let Ok(mut rows) = stmt.query([]) else {
        return (out, false);
    };
    loop {
        match rows.next() {
            Ok(Some(row)) => match entry_from_row(row) {
                Ok(entry) => out.push(entry),
                Err(_) => return (out, false),
            },
            Ok(None) => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

/// Writes an entry back as it was (same id, state and reason; the same seq with `keep_seq`, else
/// the next one), for a store that starts over from a damaged one. Returns its seq.
pub(crate) fn restore(conn: &Connection, entry: &Entry, keep_seq: bool) -> Result<u64> {
    let m = &entry.mutation;
    let (state, (code, message)) = match &entry.reason {
        Some(reason) => ("quarantined", (Some(&reason.0), Some(&reason.1))),
        None => ("pending", (None, None)),
    };
    conn.prepare_cached(
        "INSERT INTO outbox (seq, mutation_id, entity, key, op, fields, base_version, base_fields,
             overwrite, state, reason_code, reason_message, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        keep_seq.then_some(m.seq as i64),
        m.mutation_id,
        m.entity,
        m.key,
        m.op.as_str(),
        encode(&m.fields)?,
        m.base_version,
        encode(&entry.base_fields)?,
        m.on_conflict == OnConflict::Overwrite,
        state,
        code,
        message,
        entry.created_at
    ])?;
    let stage = match entry.state {
        EntryState::Pending => StageKind::Saved,
        EntryState::Quarantined => StageKind::Quarantined,
    };
    set_stage(conn, &m.mutation_id, &m.entity, &m.key, stage, None)?;
    Ok(conn.last_insert_rowid() as u64)
}

/// The highest seq ever given (deleted entries included), if the store can still tell: SQLite
/// keeps it in `sqlite_sequence` once the outbox has had an entry.
pub(crate) fn seq_high_water(conn: &Connection) -> Option<u64> {
    conn.query_row(
        "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .ok()
    .map(|s| s as u64)
}

/// Makes new entries take seqs after `seq` (AUTOINCREMENT's own high-water mark).
pub(crate) fn raise_seq_high_water(conn: &Connection, seq: u64) -> Result<()> {
    let raised = conn.execute(
        "UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = 'outbox'",
        [seq as i64],
    )?;
    if raised == 0 {
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?1)",
            [seq as i64],
        )?;
    }
    Ok(())
}

/// One outbox entry by seq, in any state.
pub(crate) fn entry(conn: &Connection, seq: u64) -> Result<Option<Entry>> {
    Ok(entries(conn, "seq = ?1", None, [seq as i64])?
        .into_iter()
        .next())
}

/// Every pending entry of one record, oldest first.
pub(crate) fn chain(conn: &Connection, entity: &str, key: &str) -> Result<Vec<Entry>> {
    entries(
        conn,
        "state = 'pending' AND entity = ?1 AND key = ?2",
        None,
        [entity, key],
    )
}

/// Puts an entry back at the end of the queue as pending, with a new seq (the server has
/// answered for the old one) and, when given, new fields. Returns the new seq.
pub(crate) fn requeue(conn: &Connection, old: &Entry, fields: Option<&WireFields>) -> Result<u64> {
    let m = &old.mutation;
    remove(conn, m.seq)?;
    let seq = insert(
        conn,
        &m.mutation_id,
        &m.entity,
        &m.key,
        m.op,
        fields.unwrap_or(&m.fields),
        m.base_version,
        &old.base_fields,
        old.created_at,
    )?;
    if m.on_conflict == OnConflict::Overwrite {
        set_overwrite(conn, seq)?;
    }
    set_stage(
        conn,
        &m.mutation_id,
        &m.entity,
        &m.key,
        StageKind::Saved,
        None,
    )?;
    Ok(seq)
}

/// The filter of mutations that may be pushed now: pending, and neither they nor an earlier
/// pending mutation of their record reference a blob not yet complete on the server (the blob
/// tables are `blobs.rs`'s).
const PUSHABLE: &str = "state = 'pending' AND entity = ?1 AND NOT EXISTS (
    SELECT 1 FROM outbox AS held
    JOIN outbox_blobs AS ob ON ob.mutation_id = held.mutation_id
    JOIN blob_uploads AS bu ON bu.hash = ob.hash AND bu.state <> 'complete'
    WHERE held.entity = outbox.entity AND held.key = outbox.key
      AND held.state = 'pending' AND held.seq <= outbox.seq)";

/// The oldest pushable mutations of `entity` (pending, not held for a blob), at most `limit`,
/// in sequence order.
pub(crate) fn pending(conn: &Connection, entity: &str, limit: usize) -> Result<Vec<Mutation>> {
    Ok(entries(conn, PUSHABLE, Some(limit), [entity])?
        .into_iter()
        .map(|e| e.mutation)
        .collect())
}

/// The pending mutations of one record, oldest first (to re-apply over pulled data).
pub(crate) fn pending_for_record(
    conn: &Connection,
    entity: &str,
    key: &str,
) -> Result<Vec<Mutation>> {
    Ok(chain(conn, entity, key)?
        .into_iter()
        .map(|e| e.mutation)
        .collect())
}

/// The keys of `entity`'s records with pending mutations.
pub(crate) fn pending_keys(conn: &Connection, entity: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT key FROM outbox WHERE state = 'pending' AND entity = ?1 ORDER BY key",
    )?;
    let keys = stmt
        .query_map([entity], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(keys)
}

/// Whether `entity` has any pending mutation.
pub(crate) fn has_pending(conn: &Connection, entity: &str) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND entity = ?1)",
    )?;
    Ok(stmt.query_row([entity], |r| r.get(0))?)
}

/// Whether `entity` has any quarantined mutation.
pub(crate) fn has_quarantined(conn: &Connection, entity: &str) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'quarantined' AND entity = ?1)",
    )?;
    Ok(stmt.query_row([entity], |r| r.get(0))?)
}

/// Notes that a pull replaced the record of `entity`/`key` with the server's state, for its
/// quarantined mutations ([`PULLED_OVER_SQL`]).
pub(crate) fn mark_pulled_over(conn: &Connection, entity: &str, key: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET pulled_over = 1
         WHERE state = 'quarantined' AND entity = ?1 AND key = ?2 AND pulled_over = 0",
    )?
    .execute([entity, key])?;
    Ok(())
}

/// Marks a mutation to overwrite on conflict (it carries a decision already made).
pub(crate) fn set_overwrite(conn: &Connection, seq: u64) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET overwrite = 1 WHERE seq = ?1")?
        .execute([seq as i64])?;
    Ok(())
}

/// Number of pending and of quarantined mutations.
pub(crate) fn counts(conn: &Connection) -> Result<(u64, u64)> {
    // Runs after every local write: two rows kept by triggers (`COUNTS_SQL`), whatever the
    // outbox holds.
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT n FROM outbox_counts WHERE state = 'pending'),
                (SELECT n FROM outbox_counts WHERE state = 'quarantined')",
    )?;
    Ok(stmt.query_row([], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })?)
}

/// Removes a mutation the server has answered for.
pub(crate) fn remove(conn: &Connection, seq: u64) -> Result<()> {
    conn.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?
        .execute([seq as i64])?;
    Ok(())
}

/// Moves a mutation to quarantine with the server's reason.
pub(crate) fn quarantine(conn: &Connection, seq: u64, code: &str, message: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'quarantined', reason_code = ?2, reason_message = ?3 WHERE seq = ?1",
    )?
    .execute(params![seq as i64, code, message])?;
    Ok(())
}

/// Every quarantined entry, oldest first.
pub(crate) fn quarantined(conn: &Connection) -> Result<Vec<Entry>> {
    entries(conn, "state = 'quarantined'", None, [])
}

/// The fingerprint of every quarantined entry, in [`quarantined`]'s order, without decoding
/// one. It covers the columns a `QuarantinedMutation` is made of and no other, so a change to
/// the rest (none is made while an entry is quarantined, today) could not deliver an equal list.
pub(crate) fn quarantined_fingerprint(conn: &Connection) -> Result<Fingerprint> {
    fingerprint::of_rows(
        conn,
        "SELECT seq, mutation_id, entity, key, op, fields, reason_code, reason_message
         FROM outbox WHERE state = 'quarantined' ORDER BY seq",
    )
}
