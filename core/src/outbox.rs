//! The outbox: every local change, recorded in the same transaction as the change itself, kept
//! until the server has answered for it. Mutations the server refuses move to quarantine, with
//! the server's reason, instead of blocking the ones after them or being dropped.
//!
//! Functions here take a connection (or transaction) owned by the store: the outbox has no
//! connection of its own, so a record and its outbox entry can never commit apart.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection};

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

/// Records a mutation; call inside the transaction that makes the change.
pub(crate) fn record(
    conn: &Connection,
    entity: &str,
    key: &str,
    op: Op,
    fields: &serde_json::Map<String, serde_json::Value>,
    base_version: Option<i64>,
) -> Result<MutationReceipt> {
    let mutation_id = uuid::Uuid::new_v4().to_string();
    let fields_json = serde_json::to_string(fields)
        .map_err(|e| Error::Corrupt(format!("cannot encode changed fields: {e}")))?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (mutation_id, entity, key, op, fields, base_version, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        mutation_id,
        entity,
        key,
        op.as_str(),
        fields_json,
        base_version,
        now_ms()
    ])?;
    Ok(MutationReceipt {
        seq: conn.last_insert_rowid() as u64,
        mutation_id,
    })
}

const MUTATION_COLUMNS: &str = "seq, mutation_id, entity, key, op, fields, base_version";

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
            on_conflict: OnConflict::Overwrite,
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

/// Number of pending and of quarantined mutations.
pub(crate) fn counts(conn: &Connection) -> Result<(u64, u64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'quarantined'), 0) FROM outbox",
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
        let code: Option<String> = row.get(7)?;
        let message: Option<String> = row.get(8)?;
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
