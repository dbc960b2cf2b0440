//! Conflicts: a local edit made on a record version the server has since replaced. The three-way
//! merge decides field by field; what it cannot decide waits in the conflict inbox (a table in
//! the store) with all three versions until the user resolves it.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::outbox::{now_ms, Fields};
use crate::value::Value;

/// The inbox table (the store's third migration). One open conflict per record: a newer one for
/// the same record replaces it, keeping the oldest base.
pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE conflicts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    entity         TEXT NOT NULL,
    key            TEXT NOT NULL,
    fields         TEXT NOT NULL,   -- JSON array: the fields changed on both sides
    base           TEXT NOT NULL,   -- JSON object: those fields before the local edit
    local          TEXT,            -- JSON object: the whole local record; NULL: deleted locally
    remote         TEXT,            -- JSON object: the whole server record; NULL: deleted there
    remote_version INTEGER,
    created_at     INTEGER NOT NULL,
    UNIQUE (entity, key)
);
";

/// A conflict waiting for the user, with all three versions.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Its id in the inbox.
    pub id: i64,
    /// The entity.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// The fields both sides changed (every changed field when one side deleted the record).
    pub fields: Vec<String>,
    /// Those fields as they were before the local edit.
    pub base: BTreeMap<String, Value>,
    /// The local record; `None` when it was deleted on this device.
    pub local: Option<BTreeMap<String, Value>>,
    /// The server's record; `None` when it was deleted on the server.
    pub remote: Option<BTreeMap<String, Value>>,
    /// The server version the conflict was found against.
    pub remote_version: Option<i64>,
    /// When it was found, ms since the Unix epoch.
    pub created_at: i64,
}

/// How the user settles a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The local version wins: it is written over the server's.
    KeepMine,
    /// The server's version stands; the local edit is dropped.
    KeepTheirs,
    /// These values (a record the user merged) are written over the server's.
    Merged(BTreeMap<String, Value>),
}

/// The outcome of a three-way merge of one record's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merge {
    /// Local changes the server's version does not contradict: apply them over it.
    pub clean: Fields,
    /// Fields changed differently on both sides.
    pub overlapping: Vec<String>,
}

/// Merges the fields changed locally (`local`, with their values before the edit in `base`)
/// into the server's record (`remote`). A field the server left at its base value takes the
/// local value; a field both sides set to the same value needs nothing; anything else overlaps.
pub fn merge3(base: &Fields, local: &Fields, remote: &Fields) -> Merge {
    let mut merge = Merge::default();
    let null = serde_json::Value::Null;
    for (name, mine) in local {
        let theirs = remote.get(name).unwrap_or(&null);
        let before = base.get(name).unwrap_or(&null);
        // Same on both sides, or changed here and changed back: nothing to decide.
        if theirs == mine || (mine == before && base.contains_key(name)) {
            continue;
        }
        if theirs == before {
            merge.clean.insert(name.clone(), mine.clone());
        } else {
            merge.overlapping.push(name.clone());
        }
    }
    merge
}

/// A conflict to store.
#[derive(Clone, Copy)]
pub(crate) struct NewConflict<'a> {
    pub entity: &'a str,
    pub key: &'a str,
    pub fields: &'a [String],
    pub base: &'a Fields,
    pub local: Option<&'a Fields>,
    pub remote: Option<&'a Fields>,
    pub remote_version: Option<i64>,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(format!("cannot encode a conflict: {e}")))
}

/// Stores a conflict. A conflict already open for the record is merged into it, never replaced:
/// its fields stay in conflict with the user's values for them (the row shows the server's
/// values by now), and its base values, older, are kept.
pub(crate) fn insert(conn: &Connection, c: &NewConflict<'_>) -> Result<()> {
    let open = read(
        conn,
        "WHERE entity = ?1 AND key = ?2",
        None,
        Some((c.entity, c.key)),
    )?
    .into_iter()
    .next();
    let mut fields: Vec<String> = c.fields.to_vec();
    let mut base = c.base.clone();
    let mut local_values = c.local.cloned();
    if let Some(old) = open {
        for name in &old.fields {
            if !fields.contains(name) {
                fields.push(name.clone());
                // The user's earlier value of a field that is not in the new conflict.
                if let (Some(mine), Some(earlier)) = (local_values.as_mut(), old.local.as_ref()) {
                    if let Some(v) = earlier.get(name) {
                        mine.insert(name.clone(), v.clone());
                    }
                }
            }
        }
        for (name, v) in old.base {
            base.insert(name, v);
        }
    }
    let c = &NewConflict {
        fields: &fields,
        base: &base,
        local: local_values.as_ref(),
        ..*c
    };
    let local = c.local.map(json).transpose()?;
    let remote = c.remote.map(json).transpose()?;
    conn.prepare_cached(
        "INSERT INTO conflicts (entity, key, fields, base, local, remote, remote_version, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (entity, key) DO UPDATE SET fields = excluded.fields, local = excluded.local,
             remote = excluded.remote, remote_version = excluded.remote_version",
    )?
    .execute(params![
        c.entity,
        c.key,
        json(&c.fields)?,
        json(c.base)?,
        local,
        remote,
        c.remote_version,
        now_ms()
    ])?;
    Ok(())
}

/// Raw stored form; the store turns the JSON into typed values with the schema.
pub(crate) struct StoredConflict {
    pub id: i64,
    pub entity: String,
    pub key: String,
    pub fields: Vec<String>,
    pub base: Fields,
    pub local: Option<Fields>,
    pub remote: Option<Fields>,
    pub remote_version: Option<i64>,
    pub created_at: i64,
}

fn decode<T: serde::de::DeserializeOwned>(id: i64, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("conflict {id} is unreadable: {e}")))
}

const COLUMNS: &str = "id, entity, key, fields, base, local, remote, remote_version, created_at";

/// One row as stored, before decoding.
type Row = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
);

fn read(
    conn: &Connection,
    filter: &str,
    id: Option<i64>,
    record: Option<(&str, &str)>,
) -> Result<Vec<StoredConflict>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM conflicts {filter} ORDER BY id"
    ))?;
    let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        ))
    };
    let rows: Vec<Row> = match (id, record) {
        (Some(a), _) => stmt.query_map([a], map)?.collect::<rusqlite::Result<_>>()?,
        (None, Some((e, k))) => stmt
            .query_map([e, k], map)?
            .collect::<rusqlite::Result<_>>()?,
        (None, None) => stmt.query_map([], map)?.collect::<rusqlite::Result<_>>()?,
    };
    rows.into_iter()
        .map(
            |(id, entity, key, fields, base, local, remote, remote_version, created_at)| {
                Ok(StoredConflict {
                    id,
                    entity,
                    key,
                    fields: decode(id, &fields)?,
                    base: decode(id, &base)?,
                    local: local.map(|l| decode(id, &l)).transpose()?,
                    remote: remote.map(|r| decode(id, &r)).transpose()?,
                    remote_version,
                    created_at,
                })
            },
        )
        .collect()
}

/// Every open conflict, oldest first.
pub(crate) fn all(conn: &Connection) -> Result<Vec<StoredConflict>> {
    read(conn, "", None, None)
}

/// One conflict by id.
pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<StoredConflict>> {
    Ok(read(conn, "WHERE id = ?1", Some(id), None)?
        .into_iter()
        .next())
}

/// The open conflict of a record, if any (its base is the oldest, so it is kept on replace).
pub(crate) fn base_of(conn: &Connection, entity: &str, key: &str) -> Result<Option<Fields>> {
    let base: Option<String> = conn
        .prepare_cached("SELECT base FROM conflicts WHERE entity = ?1 AND key = ?2")?
        .query_row([entity, key], |r| r.get(0))
        .optional()?;
    base.map(|b| decode(0, &b)).transpose()
}

/// Removes a resolved conflict.
pub(crate) fn remove(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM conflicts WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Number of open conflicts.
pub(crate) fn count(conn: &Connection) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM conflicts")?
        .query_row([], |r| r.get::<_, i64>(0))? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> Fields {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn different_fields_merge_and_the_same_field_overlaps() {
        let base = obj(json!({"title": "a", "done": false, "notes": "x"}));
        let local = obj(json!({"title": "mine", "done": true, "notes": "same"}));
        let remote = obj(json!({"title": "a", "done": false, "notes": "same", "due": 3}));
        let m = merge3(&base, &local, &remote);
        assert_eq!(m.clean, obj(json!({"title": "mine", "done": true})));
        assert!(m.overlapping.is_empty(), "notes: both sides wrote the same");
        let remote = obj(json!({"title": "theirs", "done": false, "notes": "x"}));
        let m = merge3(&base, &local, &remote);
        assert_eq!(m.clean, obj(json!({"done": true, "notes": "same"})));
        assert_eq!(m.overlapping, vec!["title".to_string()]);
        // Changed here and back again: the server's value stands, no conflict.
        let local = obj(json!({"title": "a"}));
        let m = merge3(&base, &local, &remote);
        assert!(m.clean.is_empty() && m.overlapping.is_empty(), "{m:?}");
    }
}
