//! Attachments' bookkeeping in the database (issue 23): who completed the upload of which blob
//! (each user's quota counts what they uploaded), and which blobs records still reference (what
//! `blobs gc` keeps). The bytes themselves are in the blob store (`crate::blobs`).

use std::collections::HashSet;

use serde_json::Value as Json;
use syncline_protocol::{AttachmentRef, FieldType};

use crate::db::{Param, Tx};
use crate::error::StoreError;

use super::entity::Ent;

/// Notes that `user` completed the upload of the blob `hash`, or claimed it again (the server
/// holding it from them already): either way it is fresh, and `blobs gc` leaves it a grace
/// period for the push that will reference it.
pub(super) fn record(
    tx: &mut dyn Tx,
    user: &str,
    hash: &str,
    size: u64,
    at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO blob_uploads (user_id, hash, size, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, hash) DO UPDATE SET created_at = excluded.created_at",
        &[
            Param::Text(user),
            Param::Text(hash),
            Param::Int(i64::try_from(size).unwrap_or(i64::MAX)),
            Param::Int(at),
        ],
    )?;
    Ok(())
}

/// Whether `user` uploaded the blob `hash`.
pub(super) fn has(tx: &mut dyn Tx, user: &str, hash: &str) -> Result<bool, StoreError> {
    tx.exists(
        "SELECT 1 FROM blob_uploads WHERE user_id = ?1 AND hash = ?2",
        &[Param::Text(user), Param::Text(hash)],
    )
}

/// Bytes of the blobs `user` uploaded (each once), what their quota is checked against.
/// (PostgreSQL's SUM of a BIGINT is NUMERIC: cast back.)
pub(super) fn usage(tx: &mut dyn Tx, user: &str) -> Result<u64, StoreError> {
    let total = tx.query_opt(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blob_uploads WHERE user_id = ?1",
        &[Param::Text(user)],
        |r| r.int(0),
    )?;
    Ok(total.unwrap_or(0).max(0) as u64)
}

/// When the blob `hash` was last uploaded or claimed by anyone, ms since the epoch.
pub(super) fn last_claimed(tx: &mut dyn Tx, hash: &str) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT MAX(created_at) FROM blob_uploads WHERE hash = ?1",
            &[Param::Text(hash)],
            |r| r.opt_int(0),
        )?
        .flatten())
}

/// Forgets a deleted blob in every user's account.
pub(super) fn forget(tx: &mut dyn Tx, hash: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM blob_uploads WHERE hash = ?1",
        &[Param::Text(hash)],
    )?;
    Ok(())
}

/// The attachment fields' slots of an entity (empty when it has none).
pub(super) fn attachment_slots(ent: Ent<'_>) -> Vec<usize> {
    ent.def
        .schema
        .fields
        .iter()
        .zip(&ent.layout.slots)
        .filter(|(f, _)| f.field_type == FieldType::Attachment)
        .map(|(_, slot)| *slot)
        .collect()
}

/// The blob an attachment value names, if it is one.
pub(crate) fn blob_of(value: &Json) -> Option<String> {
    AttachmentRef::from_json(value).map(|r| r.sha256)
}

/// Adds to `out` every blob a live record of `ent` references: a pass over the entity's records
/// by key, a page at a time (`blobs gc` runs it rarely, off the request path).
pub(super) fn referenced(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    out: &mut HashSet<String>,
) -> Result<(), StoreError> {
    let slots = attachment_slots(ent);
    if slots.is_empty() {
        return Ok(());
    }
    let mut after = String::new();
    loop {
        let rows = tx.query_all(
            "SELECT key, data FROM records WHERE entity = ?1 AND deleted = FALSE AND key > ?2
             ORDER BY key LIMIT 1000",
            &[Param::Text(ent.name()), Param::Text(&after)],
            |r| {
                Ok((
                    r.text(0)?.to_string(),
                    serde_json::from_str::<Vec<Json>>(r.text(1)?)?,
                ))
            },
        )?;
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after = last.clone();
        for (_, data) in &rows {
            out.extend(slots.iter().filter_map(|&s| data.get(s).and_then(blob_of)));
        }
    }
}
