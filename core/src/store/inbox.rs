//! The conflict inbox: conflicts waiting for the user, with all three versions, in their raw
//! stored (wire) form; the store turns them into typed values with the schema. One open conflict
//! per record.

use rusqlite::{params, Connection, OptionalExtension};
use syncline_protocol::WireFields;

use super::fingerprint::{self, Fingerprint};
use crate::error::{Error, Result};
use crate::shared::now_ms;

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

#[derive(Clone, Copy)]
pub(crate) struct NewConflict<'a> {
    pub entity: &'a str,
    pub key: &'a str,
    pub fields: &'a [String],
    pub base: &'a WireFields,
    pub local: Option<&'a WireFields>,
    pub remote: Option<&'a WireFields>,
    pub remote_version: Option<i64>,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(format!("cannot encode a conflict: {e}")))
}

/// Stores a conflict. A conflict already open for the record is merged into it, never replaced:
/// its fields stay in conflict with the user's values for them (the row shows the server's
/// values by now), and its base values, older, are kept.
pub(crate) fn insert(conn: &Connection, c: &NewConflict<'_>) -> Result<()> {
    let open = read(conn, "WHERE entity = ?1 AND key = ?2", [c.entity, c.key])?
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
    pub base: WireFields,
    pub local: Option<WireFields>,
    pub remote: Option<WireFields>,
    pub remote_version: Option<i64>,
    pub created_at: i64,
}

fn decode<T: serde::de::DeserializeOwned>(id: i64, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("conflict {id} is unreadable: {e}")))
}

/// The one mapping from a `conflicts` row to its stored form, reading columns by name.
fn from_row(r: &rusqlite::Row<'_>) -> Result<StoredConflict> {
    let id: i64 = r.get("id")?;
    let optional = |name: &str| -> Result<Option<WireFields>> {
        r.get::<_, Option<String>>(name)?
            .map(|text| decode(id, &text))
            .transpose()
    };
    Ok(StoredConflict {
        id,
        entity: r.get("entity")?,
        key: r.get("key")?,
        fields: decode(id, &r.get::<_, String>("fields")?)?,
        base: decode(id, &r.get::<_, String>("base")?)?,
        local: optional("local")?,
        remote: optional("remote")?,
        remote_version: r.get("remote_version")?,
        created_at: r.get("created_at")?,
    })
}

/// The columns of a conflict, all of which its typed form shows.
const COLUMNS: &str = "id, entity, key, fields, base, local, remote, remote_version, created_at";

fn read<P: rusqlite::Params>(
    conn: &Connection,
    filter: &str,
    args: P,
) -> Result<Vec<StoredConflict>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM conflicts {filter} ORDER BY id"
    ))?;
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(from_row(row)?);
    }
    Ok(out)
}

/// Every open conflict, oldest first.
pub(crate) fn all(conn: &Connection) -> Result<Vec<StoredConflict>> {
    read(conn, "", [])
}

/// The fingerprint of every open conflict, in [`all`]'s order, without decoding one: the rows
/// as stored are all the typed list is made of (with the schema, fixed while the store is open).
pub(crate) fn fingerprint(conn: &Connection) -> Result<Fingerprint> {
    fingerprint::of_rows(
        conn,
        &format!("SELECT {COLUMNS} FROM conflicts ORDER BY id"),
    )
}

/// One conflict by id.
pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<StoredConflict>> {
    Ok(read(conn, "WHERE id = ?1", [id])?.into_iter().next())
}

/// The open conflict of a record, if any (its base is the oldest, so it is kept on replace).
pub(crate) fn base_of(conn: &Connection, entity: &str, key: &str) -> Result<Option<WireFields>> {
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
