//! The store's own tables and their migrations (`PRAGMA user_version`), the entity tables made
//! from the schema, and the client's identity.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};
use syncline_protocol::Schema;

use super::sql::EntitySql;
use super::{blobs, inbox, outbox, queue};
use crate::error::{Error, Result};
use crate::status::StorageErrorKind;

/// Migration N takes `PRAGMA user_version` from N-1 to N. Append only: a shipped migration is
/// never edited.
const MIGRATIONS: &[&[&str]] = &[
    // 1: identity and settings, pull cursors, the outbox.
    &[
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE pull_state (
             entity TEXT PRIMARY KEY,
             cursor TEXT,            -- where the last applied page ended; NULL: pull everything
             fields TEXT NOT NULL    -- the kept fields the cursor is valid for
         );",
        outbox::SCHEMA_SQL,
    ],
    // 2: the sync-request queue.
    &[queue::SCHEMA_SQL],
    // 3: base values and overwrite flag in the outbox, mutation stages, the conflict inbox.
    &[outbox::STAGES_SQL, inbox::SCHEMA_SQL],
    // 4: the outbox's counts per state, kept by triggers.
    &[outbox::COUNTS_SQL],
    // 5: whether a pull has replaced a quarantined mutation's record since.
    &[outbox::PULLED_OVER_SQL],
    // 6: attachments: cached files, blobs to upload, and the mutations that reference them.
    &[blobs::SCHEMA_SQL],
];

/// Brings the store's own tables to the current version, in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        // Not Corrupt: the file is sound, and starting over would throw away a good store.
        return Err(Error::Storage {
            kind: StorageErrorKind::Other,
            detail: format!(
                "the store was written by a newer Syncline (schema version {version}); update the app"
            ),
        });
    }
    let tx = conn.transaction()?;
    for (i, steps) in MIGRATIONS.iter().enumerate().skip(version) {
        for sql in *steps {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// Creates each entity's table, adds columns for new fields, and resets the pull cursor of an
/// entity whose kept fields changed.
pub(crate) fn ensure_entity_tables(conn: &mut Connection, schema: &Schema) -> Result<()> {
    let tx = conn.transaction()?;
    for e in schema.entities() {
        let table = EntitySql::of(e);
        tx.execute_batch(&table.create_table())?;
        let existing: BTreeMap<String, String> = {
            let mut stmt = tx.prepare(&table.columns_stored())?;
            let rows = stmt.query_map([], |r| Ok((r.get("name")?, r.get("type")?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for f in &e.fields {
            match existing.get(&f.name) {
                None => tx.execute_batch(&table.add_column(f))?,
                Some(ty) if !ty.eq_ignore_ascii_case(f.field_type.sql_type()) => {
                    return Err(Error::InvalidSchema(format!(
                        "field `{}.{}` was stored as {ty}; give a field of a new type a new name",
                        e.name, f.name
                    )))
                }
                Some(_) => {}
            }
            if f.indexed {
                tx.execute_batch(&table.create_index(f))?;
            }
        }
        let kept = e.field_names().join(",");
        let stored: Option<String> = tx
            .query_row(
                "SELECT fields FROM pull_state WHERE entity = ?1",
                [&e.name],
                |r| r.get(0),
            )
            .optional()?;
        if stored.as_deref() != Some(kept.as_str()) {
            // New or changed fields: pull everything again so every kept field is filled.
            tx.execute(
                "INSERT INTO pull_state (entity, cursor, fields) VALUES (?1, NULL, ?2)
                 ON CONFLICT (entity) DO UPDATE SET cursor = NULL, fields = excluded.fields",
                [&e.name, &kept],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// This device's client id: made on first open, kept for the life of the file.
pub(crate) fn client_id(conn: &Connection) -> Result<String> {
    let existing: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE name = 'client_id'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT INTO meta (name, value) VALUES ('client_id', ?1)",
        [&id],
    )?;
    Ok(id)
}
