//! A service's writes (the backend API's `PUT`, `PATCH`, `DELETE` and batch): upsert, patch and
//! delete, each optionally checked against the version the service last saw, all of one call in
//! one transaction (all or nothing), and idempotent under an `Idempotency-Key`.
//!
//! They enter the change log as a device's writes do (a fresh position, version +1), so devices
//! pull them, their live streams are hinted, and a device's pending edit made on an older
//! version meets them as it would another device's write: a conflict, settled under the
//! entity's policy. A service may write every field, read-only and server-only ones included;
//! server-set `"user"` fields take the service's name.

use serde_json::{Map, Value as Json};

use std::collections::HashMap;

use super::bulk_rows::{load_rows, upsert_rows, NewRow};
use super::entity::{check_key, Ent, FieldProblem};
use super::positions::reserve_positions;
use super::records::{save_row_at, NextState, Row};
use super::services::Service;
use crate::clock::now_ms;
use crate::db::{Param, Tx};
use crate::error::StoreError;

/// Most operations in one batch.
pub const MAX_BATCH_OPS: usize = 1000;

/// What a service does to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Creates the record, or writes the given fields over it (a deleted record is created
    /// anew).
    Upsert,
    /// Writes the given fields over an existing record.
    Patch,
    /// Leaves a tombstone of an existing record.
    Delete,
}

/// One operation of a service's write.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceWrite {
    /// What it does.
    pub kind: WriteKind,
    /// The entity.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// The fields to write (none for a delete).
    pub fields: Map<String, Json>,
    /// Applied only if the record is at this version now (0: only if it does not exist).
    pub if_version: Option<i64>,
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The entity.
    pub entity: String,
    /// The key.
    pub key: String,
    /// The record's version after it.
    pub version: i64,
    /// Whether the record is now a tombstone.
    pub deleted: bool,
}

/// Why a service's write was refused; nothing of the call was applied.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The service was made `--read-only`.
    #[error("the service {0} is read-only")]
    ReadOnly(String),
    /// Too many operations in one call.
    #[error("a batch carries at most {MAX_BATCH_OPS} operations, this one has {0}")]
    TooMany(usize),
    /// Operation `index` names an entity the server does not serve.
    #[error("operation {index}: the server has no entity `{entity}`")]
    UnknownEntity {
        /// Its index in the call.
        index: usize,
        /// The entity.
        entity: String,
    },
    /// Operation `index` names a field the entity does not have.
    #[error("operation {index}: {message}")]
    UnknownField {
        /// Its index in the call.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Operation `index` is invalid (a value of the wrong type, a missing required field, a bad
    /// key, fields on a delete).
    #[error("operation {index}: {message}")]
    Invalid {
        /// Its index in the call.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Operation `index` touches a scope the service does not reach.
    #[error("operation {index}: the service does not reach the scope {scope}")]
    Forbidden {
        /// Its index in the call.
        index: usize,
        /// The scope.
        scope: String,
    },
    /// Operation `index` patches or deletes a record that does not exist (or is deleted).
    #[error("operation {index}: no {entity} record has the key {key:?}")]
    NotFound {
        /// Its index in the call.
        index: usize,
        /// The entity.
        entity: String,
        /// The key.
        key: String,
    },
    /// Operation `index` was checked against a version the record is no longer at.
    #[error("operation {index}: {entity} {key:?} is at version {current:?}, not {expected}")]
    VersionConflict {
        /// Its index in the call.
        index: usize,
        /// The entity.
        entity: String,
        /// The key.
        key: String,
        /// The version the service gave.
        expected: i64,
        /// The version now (`None`: no such record).
        current: Option<i64>,
    },
    /// The `Idempotency-Key` was used before for a different request.
    #[error("the Idempotency-Key {0:?} was used for a different request")]
    IdempotencyKeyReused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WriteError {
    /// The index of the operation it is about, if it is about one.
    pub fn index(&self) -> Option<usize> {
        match self {
            WriteError::UnknownEntity { index, .. }
            | WriteError::UnknownField { index, .. }
            | WriteError::Invalid { index, .. }
            | WriteError::Forbidden { index, .. }
            | WriteError::NotFound { index, .. }
            | WriteError::VersionConflict { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// Applies `writes` for `service` in `tx` (the caller's one transaction: an error rolls all of
/// it back); `ents` holds each write's entity (`None`: not served).
///
/// In three steps, so a batch costs a few statements rather than three per write (on
/// PostgreSQL each is a round trip, `bulk_rows.rs`): the stored records are read per entity in
/// chunks; each write is checked and planned in order against them (a later write of the same
/// key sees the earlier one); then one block of change-log positions is taken and the records
/// are written in chunks. A key written twice, or a record moving to another scope (which
/// leaves a departure behind), is written one statement at a time, in order, as before.
pub(super) fn apply(
    tx: &mut dyn Tx,
    ents: &[Option<Ent<'_>>],
    service: &Service,
    writes: &[ServiceWrite],
) -> Result<Vec<Written>, WriteError> {
    if service.read_only {
        return Err(WriteError::ReadOnly(service.name.clone()));
    }
    if writes.len() > MAX_BATCH_OPS {
        return Err(WriteError::TooMany(writes.len()));
    }
    let now = now_ms();
    let mut known: Vec<Ent<'_>> = Vec::with_capacity(writes.len());
    for (index, (w, ent)) in writes.iter().zip(ents).enumerate() {
        let ent = (*ent).ok_or_else(|| WriteError::UnknownEntity {
            index,
            entity: w.entity.clone(),
        })?;
        check_key(&w.key).map_err(|e| WriteError::Invalid {
            index,
            message: e.to_string(),
        })?;
        known.push(ent);
    }
    // The stored records, then each write's result over them, in order.
    let mut current: HashMap<(&str, &str), Option<Row>> = HashMap::with_capacity(writes.len());
    let mut by_entity: HashMap<&str, (Ent<'_>, Vec<&str>)> = HashMap::new();
    for (w, ent) in writes.iter().zip(&known) {
        by_entity
            .entry(ent.name())
            .or_insert_with(|| (*ent, Vec::new()))
            .1
            .push(w.key.as_str());
    }
    for (name, (ent, keys)) in &by_entity {
        let mut found = load_rows(tx, *ent, keys)?;
        for key in keys {
            // A key written twice is listed twice: its stored record is taken once.
            current
                .entry((name, key))
                .or_insert_with(|| found.remove(*key));
        }
    }
    let mut plans = Vec::with_capacity(writes.len());
    for (index, (w, ent)) in writes.iter().zip(&known).enumerate() {
        let slot = current.entry((ent.name(), w.key.as_str())).or_default();
        let plan = plan_one(*ent, service, w, index, now, slot.as_ref())?;
        *slot = Some(Row {
            scope: plan.scope.clone(),
            version: plan.version,
            deleted: plan.deleted,
            data: plan.data.clone(),
            writer: None,
        });
        plans.push(plan);
    }
    // Written in bulk: keys written once that keep their scope (or are new).
    let mut times: HashMap<(&str, &str), usize> = HashMap::with_capacity(writes.len());
    for (w, ent) in writes.iter().zip(&known) {
        *times.entry((ent.name(), w.key.as_str())).or_default() += 1;
    }
    let first = match plans.len() {
        0 => 0,
        n => reserve_positions(tx, i64::try_from(n).unwrap_or(i64::MAX))?,
    };
    let author = Some(service.name.as_str());
    let mut bulk: HashMap<&str, (Ent<'_>, Vec<NewRow<'_>>)> = HashMap::new();
    for (i, ((w, ent), plan)) in writes.iter().zip(&known).zip(&plans).enumerate() {
        let position = first + i as i64;
        let stays = plan.old.as_ref().is_none_or(|o| o.scope == plan.scope);
        if stays && times.get(&(ent.name(), w.key.as_str())) == Some(&1) {
            bulk.entry(ent.name())
                .or_insert_with(|| (*ent, Vec::new()))
                .1
                .push(NewRow {
                    position,
                    key: &w.key,
                    scope: &plan.scope,
                    version: plan.version,
                    deleted: plan.deleted,
                    data: &plan.data,
                    author,
                    at: now,
                });
        } else {
            let next = NextState {
                scope: &plan.scope,
                deleted: plan.deleted,
                data: &plan.data,
                writer: None,
                author,
                at: now,
            };
            save_row_at(tx, *ent, &w.key, plan.old.as_ref(), next, position)?;
        }
    }
    for (ent, rows) in bulk.values() {
        upsert_rows(tx, *ent, rows)?;
    }
    Ok(writes
        .iter()
        .zip(plans)
        .map(|(w, plan)| Written {
            entity: w.entity.clone(),
            key: w.key.clone(),
            version: plan.version,
            deleted: plan.deleted,
        })
        .collect())
}

/// What one write makes of a record: its state before and after.
struct Plan {
    /// The record before the write (`None`: no such key).
    old: Option<Row>,
    scope: String,
    version: i64,
    deleted: bool,
    data: Vec<Json>,
}

/// Checks write `w` (number `index`) against the record as it is before it (`old`), and plans
/// its result; writes nothing.
fn plan_one(
    ent: Ent<'_>,
    service: &Service,
    w: &ServiceWrite,
    index: usize,
    now: i64,
    old: Option<&Row>,
) -> Result<Plan, WriteError> {
    let live = old.filter(|o| !o.deleted);
    if let Some(expected) = w.if_version {
        let current = old.map(|o| o.version);
        let matches = match (expected, live) {
            (0, None) => true,
            (e, Some(o)) => o.version == e,
            _ => false,
        };
        if !matches {
            return Err(WriteError::VersionConflict {
                index,
                entity: w.entity.clone(),
                key: w.key.clone(),
                expected,
                current,
            });
        }
    }
    if let Some(o) = live {
        if !service.reaches(&o.scope) {
            return Err(WriteError::Forbidden {
                index,
                scope: o.scope.clone(),
            });
        }
    }
    let not_found = || WriteError::NotFound {
        index,
        entity: w.entity.clone(),
        key: w.key.clone(),
    };
    let version = old.map_or(1, |o| o.version + 1);
    if w.kind == WriteKind::Delete {
        if !w.fields.is_empty() {
            return Err(WriteError::Invalid {
                index,
                message: "a delete carries no fields".into(),
            });
        }
        let o = live.ok_or_else(not_found)?;
        return Ok(Plan {
            old: old.cloned(),
            scope: o.scope.clone(),
            version,
            deleted: true,
            data: Vec::new(),
        });
    }
    if w.kind == WriteKind::Patch && live.is_none() {
        return Err(not_found());
    }
    let changes = ent.check_fields(&w.fields).map_err(|p| match p {
        FieldProblem::Unknown(message) => WriteError::UnknownField { index, message },
        FieldProblem::Invalid(message) => WriteError::Invalid { index, message },
    })?;
    let creating = live.is_none();
    let mut data = match live {
        Some(o) => o.data.clone(),
        None => ent.empty_data(),
    };
    // The server's values first: a field the service gives keeps the service's value.
    for (slot, v) in ent.server_values(creating, Some(service.name.as_str()), now) {
        data[slot] = v;
    }
    for (slot, v) in changes {
        data[slot] = v;
    }
    if creating {
        if let Some(missing) = ent.missing_required(&data) {
            return Err(WriteError::Invalid {
                index,
                message: format!("`{}` needs field `{missing}` to be created", ent.name()),
            });
        }
    }
    let scope = ent
        .scope_of(&w.key, &data)
        .ok_or_else(|| WriteError::Invalid {
            index,
            message: "the record names no scope".into(),
        })?;
    if !service.reaches(&scope) {
        return Err(WriteError::Forbidden { index, scope });
    }
    Ok(Plan {
        old: old.cloned(),
        scope,
        version,
        deleted: false,
        data,
    })
}

/// The answer stored for `(service, key)` and the fingerprint of the request it answered.
pub(super) fn remembered(
    tx: &mut dyn Tx,
    service: &str,
    key: &str,
) -> Result<Option<(String, String)>, StoreError> {
    tx.query_opt(
        "SELECT request, response FROM idempotency_keys WHERE service = ?1 AND key = ?2",
        &[Param::Text(service), Param::Text(key)],
        |r| Ok((r.text(0)?.to_string(), r.text(1)?.to_string())),
    )
}

/// Keeps the answer to a request under its `Idempotency-Key`.
pub(super) fn remember(
    tx: &mut dyn Tx,
    service: &str,
    key: &str,
    request: &str,
    response: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO idempotency_keys (service, key, request, response, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &[
            Param::Text(service),
            Param::Text(key),
            Param::Text(request),
            Param::Text(response),
            Param::Int(now_ms()),
        ],
    )?;
    Ok(())
}
