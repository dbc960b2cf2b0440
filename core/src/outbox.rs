//! The outbox: every local change, recorded in the same transaction as the change itself, kept
//! until the server has answered for it. Mutations the server refuses move to quarantine, with
//! the server's reason, instead of blocking the ones after them or being dropped.
//!
//! Functions here take a connection (or transaction) owned by the store: the outbox has no
//! connection of its own, so a record and its outbox entry can never commit apart.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::protocol::{Mutation, OnConflict, Op};

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

/// Where a mutation is on its way from the device to everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Saved on the device, waiting to be pushed.
    Saved,
    /// The server applied it.
    Accepted,
    /// A pull brought back the server's record at (or past) the version it produced.
    Seen,
    /// The server refused it; it waits in quarantine for the user.
    Quarantined,
    /// It met a newer server version; the conflict inbox holds it for the user.
    InConflict,
    /// It met a newer server version and the entity's policy let the server's record stand.
    Dropped,
    /// A new mutation carries it on (client-wins, a clean merge, or a resolved conflict).
    Replaced,
    /// The user discarded it from quarantine.
    Discarded,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Saved => "saved",
            Stage::Accepted => "accepted",
            Stage::Seen => "seen",
            Stage::Quarantined => "quarantined",
            Stage::InConflict => "in_conflict",
            Stage::Dropped => "dropped",
            Stage::Replaced => "replaced",
            Stage::Discarded => "discarded",
        }
    }

    fn parse(s: &str) -> Option<Stage> {
        [
            Stage::Saved,
            Stage::Accepted,
            Stage::Seen,
            Stage::Quarantined,
            Stage::InConflict,
            Stage::Dropped,
            Stage::Replaced,
            Stage::Discarded,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A mutation's stage, and the server version it produced once accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutationStage {
    /// The stage.
    pub stage: Stage,
    /// The record's server version it produced (from `Accepted` on).
    pub version: Option<i64>,
}

/// Finished stages are kept this long, then forgotten.
const STAGE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Sets a mutation's stage (and version, when given).
pub(crate) fn set_stage(
    conn: &Connection,
    mutation_id: &str,
    entity: &str,
    key: &str,
    stage: Stage,
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
        .query_row([mutation_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(stage, version)| {
        let stage = Stage::parse(&stage)
            .ok_or_else(|| Error::Corrupt(format!("unknown mutation stage `{stage}`")))?;
        Ok(MutationStage { stage, version })
    })
    .transpose()
}

/// What a local write returns: the outbox entry that will carry it to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationReceipt {
    /// The client's sequence number of the mutation.
    pub seq: u64,
    /// The mutation's unique id.
    pub mutation_id: String,
}

/// A mutation the server refused, set aside with the server's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedMutation {
    /// The mutation as it was sent.
    pub mutation: Mutation,
    /// The server's stable rejection code.
    pub code: String,
    /// The server's reason.
    pub message: String,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// JSON object of fields.
pub(crate) type Fields = serde_json::Map<String, serde_json::Value>;

fn encode(fields: &Fields) -> Result<String> {
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
    fields: &Fields,
    base_version: Option<i64>,
    base_fields: &Fields,
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
    set_stage(conn, &mutation_id, entity, key, Stage::Saved, None)?;
    Ok(MutationReceipt { seq, mutation_id })
}

#[allow(clippy::too_many_arguments)] // one column each
fn insert(
    conn: &Connection,
    mutation_id: &str,
    entity: &str,
    key: &str,
    op: Op,
    fields: &Fields,
    base_version: Option<i64>,
    base_fields: &Fields,
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

/// One outbox entry with what the merge and undo need.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The mutation.
    pub mutation: Mutation,
    /// Values of the changed fields before the edit.
    pub base_fields: Fields,
    /// When it was saved.
    pub created_at: i64,
}

/// One outbox entry by seq, in any state.
pub(crate) fn entry(conn: &Connection, seq: u64) -> Result<Option<(Entry, String)>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {MUTATION_COLUMNS}, base_fields, created_at, state FROM outbox WHERE seq = ?1"
        ))?
        .query_row([seq as i64], |row| {
            let (m, fields) = mutation_from_row(row)?;
            let base: Option<String> = row.get(8)?;
            Ok((
                m,
                fields,
                base,
                row.get::<_, i64>(9)?,
                row.get::<_, String>(10)?,
            ))
        })
        .optional()?;
    let Some((mut mutation, fields, base, created_at, state)) = row else {
        return Ok(None);
    };
    decode_fields(&mut mutation, &fields)?;
    let base_fields = match base {
        Some(b) => serde_json::from_str(&b)
            .map_err(|e| Error::Corrupt(format!("outbox entry {seq} has unreadable base: {e}")))?,
        None => Fields::new(),
    };
    Ok(Some((
        Entry {
            mutation,
            base_fields,
            created_at,
        },
        state,
    )))
}

/// Every pending entry of one record, oldest first.
pub(crate) fn chain(conn: &Connection, entity: &str, key: &str) -> Result<Vec<Entry>> {
    let seqs: Vec<i64> = conn
        .prepare_cached(
            "SELECT seq FROM outbox WHERE state = 'pending' AND entity = ?1 AND key = ?2 ORDER BY seq",
        )?
        .query_map([entity, key], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        if let Some((e, _)) = entry(conn, seq as u64)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Puts an entry back at the end of the queue as pending, with a new seq (the server has
/// answered for the old one) and, when given, new fields. Returns the new seq.
pub(crate) fn requeue(conn: &Connection, old: &Entry, fields: Option<&Fields>) -> Result<u64> {
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
    set_stage(conn, &m.mutation_id, &m.entity, &m.key, Stage::Saved, None)?;
    Ok(seq)
}

const MUTATION_COLUMNS: &str = "seq, mutation_id, entity, key, op, fields, base_version, overwrite";

fn mutation_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Mutation, String)> {
    let op: String = row.get(4)?;
    let fields: String = row.get(5)?;
    Ok((
        Mutation {
            seq: row.get::<_, i64>(0)? as u64,
            mutation_id: row.get(1)?,
            entity: row.get(2)?,
            key: row.get(3)?,
            // Checked by the table's CHECK constraint; `parse` failing means a corrupt file.
            op: Op::parse(&op).unwrap_or(Op::Update),
            fields: serde_json::Map::new(),
            base_version: row.get(6)?,
            // The store sets `overwrite` for last-write-wins entities before pushing.
            on_conflict: if row.get::<_, bool>(7)? {
                OnConflict::Overwrite
            } else {
                OnConflict::Report
            },
        },
        fields,
    ))
}

fn decode_fields(mutation: &mut Mutation, fields: &str) -> Result<()> {
    mutation.fields = serde_json::from_str(fields).map_err(|e| {
        Error::Corrupt(format!(
            "outbox entry {} has unreadable fields: {e}",
            mutation.seq
        ))
    })?;
    Ok(())
}

/// The oldest pending mutations of `entity`, at most `limit`, in sequence order.
pub(crate) fn pending(conn: &Connection, entity: &str, limit: usize) -> Result<Vec<Mutation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MUTATION_COLUMNS} FROM outbox WHERE state = 'pending' AND entity = ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![entity, limit as i64], mutation_from_row)?;
    collect_mutations(rows)
}

/// The pending mutations of one record, oldest first (to re-apply over pulled data).
pub(crate) fn pending_for_record(
    conn: &Connection,
    entity: &str,
    key: &str,
) -> Result<Vec<Mutation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MUTATION_COLUMNS} FROM outbox
         WHERE state = 'pending' AND entity = ?1 AND key = ?2 ORDER BY seq"
    ))?;
    let rows = stmt.query_map(params![entity, key], mutation_from_row)?;
    collect_mutations(rows)
}

/// Decodes the rows of a mutation query.
fn collect_mutations(
    rows: impl Iterator<Item = rusqlite::Result<(Mutation, String)>>,
) -> Result<Vec<Mutation>> {
    rows.map(|row| {
        let (mut m, fields) = row?;
        decode_fields(&mut m, &fields)?;
        Ok(m)
    })
    .collect()
}

/// Whether `entity` has any pending mutation.
pub(crate) fn has_pending(conn: &Connection, entity: &str) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND entity = ?1)",
    )?;
    Ok(stmt.query_row([entity], |r| r.get(0))?)
}

/// Marks a mutation to overwrite on conflict (it carries a decision already made).
pub(crate) fn set_overwrite(conn: &Connection, seq: u64) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET overwrite = 1 WHERE seq = ?1")?
        .execute([seq as i64])?;
    Ok(())
}

/// Number of pending and of quarantined mutations.
pub(crate) fn counts(conn: &Connection) -> Result<(u64, u64)> {
    // Runs after every local write: two counts over the `outbox_by_state` index, not a scan of
    // every row's JSON.
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending'),
                (SELECT COUNT(*) FROM outbox WHERE state = 'quarantined')",
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

/// Every quarantined mutation, oldest first.
pub(crate) fn quarantined(conn: &Connection) -> Result<Vec<QuarantinedMutation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MUTATION_COLUMNS}, reason_code, reason_message FROM outbox
         WHERE state = 'quarantined' ORDER BY seq"
    ))?;
    let rows = stmt.query_map([], |row| {
        let (m, fields) = mutation_from_row(row)?;
        let code: Option<String> = row.get(8)?;
        let message: Option<String> = row.get(9)?;
        Ok((
            m,
            fields,
            code.unwrap_or_default(),
            message.unwrap_or_default(),
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut mutation, fields, code, message) = row?;
        decode_fields(&mut mutation, &fields)?;
        out.push(QuarantinedMutation {
            mutation,
            code,
            message,
        });
    }
    Ok(out)
}
