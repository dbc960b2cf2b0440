//! The `records` table: every record of every entity, keyed by (entity, key), with its scope
//! (project id), version, a deleted flag, the client that last wrote it and its fields as a JSON
//! array in storage-slot order (`data`). Its `position` comes from the change log
//! (`positions.rs`), so a delta pull is an index range scan on (entity, position). A record that
//! changes scope leaves a row in `departures`, so the users of its old project learn of it as a
//! tombstone. Also the server-side edits (another system writing a record) that admin commands,
//! the demo and tests make.

use serde_json::{Map, Value as Json};

use crate::clock::now_ms;
use crate::db::{Param, Tx};
use crate::error::StoreError;

use super::entity::Ent;
use super::positions::reserve_positions;

/// A record as the store keeps it, for admin reads and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The key.
    pub key: String,
    /// Its version (1 on creation, +1 per change, including the deletion).
    pub version: i64,
    /// Whether it is deleted (a tombstone).
    pub deleted: bool,
    /// The project it belongs to.
    pub scope: String,
    /// Its fields, all the entity declares (empty when deleted).
    pub fields: Map<String, Json>,
    /// Its position in the change log.
    pub position: i64,
}

/// A record's stored state, as push and admin writes need it.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Project it belongs to.
    pub scope: String,
    /// Current version.
    pub version: i64,
    /// Tombstone?
    pub deleted: bool,
    /// Field values by slot (`width` long).
    pub data: Vec<Json>,
    /// Client that made the last change (`None`: made on the server).
    pub writer: Option<String>,
}

/// The stored state of a record, deleted or not.
pub(crate) fn load_row(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    key: &str,
) -> Result<Option<Row>, StoreError> {
    tx.query_opt(
        "SELECT scope, version, deleted, data, writer FROM records WHERE entity = ?1 AND key = ?2",
        &[Param::Text(ent.name()), Param::Text(key)],
        |r| row_from(r, ent),
    )
}

/// A [`Row`] of `ent` from the columns `scope, version, deleted, data, writer` (in that order,
/// first), its data as wide as the entity's layout.
pub(crate) fn row_from(r: &dyn crate::db::Row, ent: Ent<'_>) -> Result<Row, StoreError> {
    let mut data: Vec<Json> = serde_json::from_str(r.text(3)?)?;
    data.resize(ent.layout.width, Json::Null);
    Ok(Row {
        scope: r.text(0)?.to_string(),
        version: r.int(1)?,
        deleted: r.bool(2)?,
        data,
        writer: r.opt_text(4)?.map(str::to_string),
    })
}

/// A record's next state, as [`save_row`] writes it.
pub(crate) struct NextState<'a> {
    /// Project it belongs to afterwards.
    pub scope: &'a str,
    /// Whether it is a tombstone afterwards.
    pub deleted: bool,
    /// Field values by slot (ignored for a tombstone).
    pub data: &'a [Json],
    /// Client making the change (`None`: a change made on the server).
    pub writer: Option<&'a str>,
    /// Who makes it: the user or service (`None`: the server itself, an admin command).
    pub author: Option<&'a str>,
    /// When, ms since the epoch (the server's clock).
    pub at: i64,
}

/// Writes a record's new state: version +1 (1 when new), a fresh change-log position, and a
/// departure when its scope changed. Returns the new version.
pub(crate) fn save_row(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    key: &str,
    old: Option<&Row>,
    next: NextState<'_>,
) -> Result<i64, StoreError> {
    let position = reserve_positions(tx, 1)?;
    save_row_at(tx, ent, key, old, next, position)
}

/// [`save_row`] at a position the caller took.
pub(crate) fn save_row_at(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    key: &str,
    old: Option<&Row>,
    next: NextState<'_>,
    position: i64,
) -> Result<i64, StoreError> {
    let NextState {
        scope,
        deleted,
        data,
        writer,
        author,
        at,
    } = next;
    let version = old.map_or(1, |o| o.version + 1);
    let text = if deleted {
        "[]".to_string()
    } else {
        serde_json::to_string(data)?
    };
    match old {
        Some(o) => {
            tx.execute(
                "UPDATE records SET position = ?1, scope = ?2, version = ?3, deleted = ?4, data = ?5,
                 writer = ?8, author = ?9, changed_at = ?10 WHERE entity = ?6 AND key = ?7",
                &[
                    Param::Int(position),
                    Param::Text(scope),
                    Param::Int(version),
                    Param::Bool(deleted),
                    Param::Text(&text),
                    Param::Text(ent.name()),
                    Param::Text(key),
                    Param::OptText(writer),
                    Param::OptText(author),
                    Param::Int(at),
                ],
            )?;
            if o.scope != scope {
                // The old project's members learn of it as a tombstone.
                tx.touched().scoped(&o.scope, ent.name(), position);
                tx.execute(
                    "INSERT INTO departures (entity, key, old_scope, version, position)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (entity, key, old_scope)
                     DO UPDATE SET version = excluded.version, position = excluded.position",
                    &[
                        Param::Text(ent.name()),
                        Param::Text(key),
                        Param::Text(&o.scope),
                        Param::Int(version),
                        Param::Int(position),
                    ],
                )?;
                tx.execute(
                    "DELETE FROM departures WHERE entity = ?1 AND key = ?2 AND old_scope = ?3",
                    &[
                        Param::Text(ent.name()),
                        Param::Text(key),
                        Param::Text(scope),
                    ],
                )?;
            }
        }
        None => {
            tx.execute(
                "INSERT INTO records (position, entity, key, scope, version, deleted, data, writer,
                                      author, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                &[
                    Param::Int(position),
                    Param::Text(ent.name()),
                    Param::Text(key),
                    Param::Text(scope),
                    Param::Int(version),
                    Param::Bool(deleted),
                    Param::Text(&text),
                    Param::OptText(writer),
                    Param::OptText(author),
                    Param::Int(at),
                ],
            )?;
        }
    }
    tx.touched().scoped(scope, ent.name(), position);
    Ok(version)
}

/// Live (not deleted) records of `entity`.
pub(crate) fn live_records(tx: &mut dyn Tx, entity: &str) -> Result<u64, StoreError> {
    let n = tx
        .query_opt(
            "SELECT COUNT(*) FROM records WHERE entity = ?1 AND deleted = FALSE",
            &[Param::Text(entity)],
            |r| r.int(0),
        )?
        .unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Creates a record or applies `changes` (checked fields, by slot) over its current state, as a
/// server-side write: see [`Store::upsert_record`](super::Store::upsert_record). Returns the
/// new version.
pub(super) fn upsert(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    key: &str,
    changes: Vec<(usize, Json)>,
) -> Result<i64, StoreError> {
    let old = load_row(tx, ent, key)?;
    let creating = !matches!(&old, Some(o) if !o.deleted);
    let mut data = match &old {
        Some(o) if !creating => o.data.clone(),
        _ => ent.empty_data(),
    };
    // The server's values first: a field the caller gives keeps the caller's value.
    for (slot, v) in ent.server_values(creating, None, now_ms()) {
        data[slot] = v;
    }
    for (slot, v) in changes {
        data[slot] = v;
    }
    if creating {
        if let Some(missing) = ent.missing_required(&data) {
            return Err(StoreError::Invalid(format!(
                "`{}` needs field `{missing}` to be created",
                ent.name()
            )));
        }
    }
    let scope = ent
        .scope_of(key, &data)
        .ok_or_else(|| StoreError::Invalid("the record names no project".into()))?;
    let next = NextState {
        scope: &scope,
        deleted: false,
        data: &data,
        writer: None,
        author: None,
        at: now_ms(),
    };
    save_row(tx, ent, key, old.as_ref(), next)
}

/// Leaves a tombstone of a live record (version +1, fresh position); returns its version.
pub(super) fn delete(tx: &mut dyn Tx, ent: Ent<'_>, key: &str) -> Result<i64, StoreError> {
    match load_row(tx, ent, key)? {
        Some(o) if !o.deleted => {
            let next = NextState {
                scope: &o.scope,
                deleted: true,
                data: &[],
                writer: None,
                author: None,
                at: now_ms(),
            };
            save_row(tx, ent, key, Some(&o), next)
        }
        _ => Err(StoreError::NotFound {
            entity: ent.name().to_string(),
            key: key.to_string(),
        }),
    }
}

/// A record's stored state (deleted ones included), or `None`.
pub(super) fn get(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    key: &str,
) -> Result<Option<StoredRecord>, StoreError> {
    tx.query_opt(
        "SELECT scope, version, deleted, data, position FROM records WHERE entity = ?1 AND key = ?2",
        &[Param::Text(ent.name()), Param::Text(key)],
        |r| {
            let deleted = r.bool(2)?;
            let fields = if deleted {
                Map::new()
            } else {
                let data: Vec<Json> = serde_json::from_str(r.text(3)?)?;
                ent.fields_of(&data)
            };
            Ok(StoredRecord {
                key: key.to_string(),
                version: r.int(1)?,
                deleted,
                scope: r.text(0)?.to_string(),
                fields,
                position: r.int(4)?,
            })
        },
    )
}
