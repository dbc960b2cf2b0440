//! Who is a member of which project (the unit of access). Joining gives the project's records
//! fresh positions, so the new member's next pull delivers them; leaving writes a revocation per
//! live record, pulled as a tombstone, so the records leave the member's devices.

use std::collections::HashSet;

use crate::db::{Param, Tx};
use crate::error::StoreError;

use super::accounts::has_user;
use super::positions::reserve_positions;

/// The projects a user is a member of.
pub(crate) fn user_scopes(tx: &mut dyn Tx, user_id: &str) -> Result<HashSet<String>, StoreError> {
    Ok(tx
        .query_all(
            "SELECT project_id FROM memberships WHERE user_id = ?1",
            &[Param::Text(user_id)],
            |r| Ok(r.text(0)?.to_string()),
        )?
        .into_iter()
        .collect())
}

/// Makes a user a member of a project; returns false when they already were. See
/// [`Store::add_membership`](super::Store::add_membership).
pub(super) fn add(tx: &mut dyn Tx, user_id: &str, project_id: &str) -> Result<bool, StoreError> {
    if !has_user(tx, user_id)? {
        return Err(StoreError::UnknownUser(user_id.to_string()));
    }
    let added = tx.execute(
        "INSERT INTO memberships (user_id, project_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        &[Param::Text(user_id), Param::Text(project_id)],
    )? == 1;
    if added {
        let positions = tx.query_all(
            "SELECT position, entity FROM records WHERE scope = ?1 ORDER BY position",
            &[Param::Text(project_id)],
            |r| Ok((r.int(0)?, r.text(1)?.to_string())),
        )?;
        if !positions.is_empty() {
            let first = reserve_positions(tx, positions.len() as i64)?;
            for (i, (old, entity)) in positions.iter().enumerate() {
                let position = first + i as i64;
                tx.execute(
                    "UPDATE records SET position = ?1 WHERE position = ?2",
                    &[Param::Int(position), Param::Int(*old)],
                )?;
                tx.touched().scoped(project_id, entity, position);
            }
        }
        // The new member's streams read their scopes again before they match these changes.
        tx.touched().member(user_id);
    }
    Ok(added)
}

/// Removes a user from a project; returns false when they were not a member. See
/// [`Store::remove_membership`](super::Store::remove_membership).
pub(super) fn remove(tx: &mut dyn Tx, user_id: &str, project_id: &str) -> Result<bool, StoreError> {
    let removed = tx.execute(
        "DELETE FROM memberships WHERE user_id = ?1 AND project_id = ?2",
        &[Param::Text(user_id), Param::Text(project_id)],
    )? == 1;
    if removed {
        let records = tx.query_all(
            "SELECT entity, key, version FROM records
             WHERE scope = ?1 AND deleted = FALSE ORDER BY position",
            &[Param::Text(project_id)],
            |r| Ok((r.text(0)?.to_string(), r.text(1)?.to_string(), r.int(2)?)),
        )?;
        if !records.is_empty() {
            let first = reserve_positions(tx, records.len() as i64)?;
            for (i, (entity, key, version)) in records.iter().enumerate() {
                tx.execute(
                    "INSERT INTO revocations (user_id, entity, key, version, position)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (user_id, entity, key)
                     DO UPDATE SET version = excluded.version, position = excluded.position",
                    &[
                        Param::Text(user_id),
                        Param::Text(entity),
                        Param::Text(key),
                        Param::Int(*version),
                        Param::Int(first + i as i64),
                    ],
                )?;
                // Hinted to that user alone: the project is no longer theirs, the tombstones
                // are.
                tx.touched().personal(user_id, entity, first + i as i64);
            }
        }
        tx.touched().member(user_id);
        log::info!(
            "{user_id} left project {project_id}: {} records revoked",
            records.len()
        );
    }
    Ok(removed)
}
