//! Local writes and reads of entity records: each write changes the row and records its
//! mutation in the outbox in the caller's transaction; queries page through one entity.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, Transaction};
use syncline_protocol::{EntitySchema, FieldDef, Op, Value, WireFields};

use super::fingerprint::{Fingerprint, Fingerprinter};
use super::outbox;
use super::sql::{self, EntitySql, EntityStatements};
use crate::error::{Error, Result};
use crate::mutation::MutationReceipt;
use crate::record::{
    coerce_all, fields_to_json, values_of, Filter, Page, Query, Record, RecordState, Sort,
};

/// Creates a record and its outbox entry.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    statements: &EntityStatements,
    record: Record,
) -> Result<MutationReceipt> {
    // The server's rule, before anything is written: a key it would refuse never reaches the
    // outbox.
    if syncline_protocol::key_problem(&record.key).is_some() {
        return Err(Error::InvalidKey(record.key));
    }
    let values = coerce_all(e, record.values)?;
    // A field only the server writes is filled in by the server (and pulled); the app cannot
    // give it, so it cannot be required of the app.
    for def in e.fields.iter().filter(|f| !f.nullable && f.writable) {
        if matches!(values.get(&def.name), None | Some(Value::Null)) {
            return Err(Error::MissingField {
                entity: e.name.clone(),
                field: def.name.clone(),
            });
        }
    }
    let row = EntitySql::of(e).row(&record.key, None, &values);
    let inserted = sql::insert_row_with(tx, statements, &row);
    match inserted {
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            return Err(Error::AlreadyExists {
                entity: e.name.clone(),
                key: record.key,
            });
        }
        other => other?,
    };
    outbox::record(
        tx,
        &e.name,
        &record.key,
        Op::Insert,
        &fields_to_json(&values),
        None,
        &WireFields::new(),
    )
}

/// Changes some fields of a record and records only the fields that really changed; `None`
/// (and nothing recorded) when nothing changed.
pub(crate) fn update(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    statements: &EntityStatements,
    key: &str,
    changes: HashMap<String, Value>,
) -> Result<Option<MutationReceipt>> {
    let changes = coerce_all(e, changes)?;
    let current = sql::existing_with(tx, e, statements, key)?;
    let changed: BTreeMap<String, Value> = changes
        .into_iter()
        .filter(|(name, v)| current.get_or_null(name) != v)
        .collect();
    if changed.is_empty() {
        return Ok(None);
    }
    sql::set_fields_with(tx, e, statements, key, &changed)?;
    outbox::record(
        tx,
        &e.name,
        key,
        Op::Update,
        &fields_to_json(&changed),
        current.version,
        &values_of(&current, changed.keys()),
    )
    .map(Some)
}

/// Deletes a record and records the deletion.
pub(crate) fn delete(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    statements: &EntityStatements,
    key: &str,
) -> Result<MutationReceipt> {
    let current = sql::existing_with(tx, e, statements, key)?;
    sql::delete_row_with(tx, statements, key)?;
    outbox::record(
        tx,
        &e.name,
        key,
        Op::Delete,
        &WireFields::new(),
        current.version,
        &values_of(&current, e.fields.iter().map(|f| &f.name)),
    )
}

/// A copy of a field definition that accepts null (to filter on null).
fn nullable(def: &FieldDef) -> FieldDef {
    FieldDef {
        nullable: true,
        ..def.clone()
    }
}

/// The SQL of `query`'s page and its parameters. Every name in it is checked against the schema
/// (and every value against its field) before any SQL is built.
pub(crate) fn page_sql(e: &EntitySchema, query: &Query) -> Result<(String, Vec<Value>)> {
    let mut filters = Vec::with_capacity(query.filters.len());
    let mut args: Vec<Value> = Vec::new();
    for Filter { field: name, value } in &query.filters {
        let value = if *name == e.key {
            match value {
                Value::Text(_) => value.clone(),
                _ => return Err(Error::InvalidKey(format!("{value:?}"))),
            }
        } else {
            value
                .clone()
                .coerce(&e.name, &nullable(e.field_def(name)?))?
        };
        filters.push((name.as_str(), value == Value::Null));
        if value != Value::Null {
            args.push(value);
        }
    }
    let mut sort = Vec::with_capacity(query.sort.len());
    for Sort { field: name, order } in &query.sort {
        if *name != e.key {
            e.field_def(name)?;
        }
        sort.push((name.as_str(), *order));
    }
    // One more than asked tells whether another page exists.
    args.push(Value::Integer(i64::from(query.limit) + 1));
    args.push(Value::Integer(query.offset.min(i64::MAX as u64) as i64));
    Ok((EntitySql::of(e).select_page(&filters, &sort), args))
}

/// The sizes of the key lists sync states are looked up with: a page's keys are padded (with
/// nulls, which match nothing) to the next one, so a few statements serve every page size and
/// stay prepared. The last is the most a statement takes (well under SQLite's limit of bound
/// parameters).
const KEY_LISTS: [usize; 8] = [8, 16, 32, 64, 128, 256, 512, 1000];

/// The sync states of the records of `e` with these keys that are not synced, from the conflict
/// inbox and the outbox: two lookups by `(entity, key)` per list of keys, so a query's cost does
/// not grow with the outbox.
fn states(
    conn: &Connection,
    e: &EntitySchema,
    keys: &[&str],
) -> Result<HashMap<String, RecordState>> {
    let mut states: HashMap<String, RecordState> = HashMap::new();
    // Most of the time nothing of the entity waits (after a sync, during a first one): two
    // probes then answer for the whole page.
    if keys.is_empty() || !any_unsynced(conn, e)? {
        return Ok(states);
    }
    for batch in keys.chunks(KEY_LISTS[KEY_LISTS.len() - 1]) {
        let size = KEY_LISTS
            .into_iter()
            .find(|&n| n >= batch.len())
            .unwrap_or(batch.len());
        let marks = vec!["?"; size].join(", ");
        let mut args: Vec<Option<&str>> = vec![Some(e.name.as_str())];
        args.extend(batch.iter().map(|k| Some(*k)));
        args.resize(size + 1, None);
        // Quarantined wins over pending, and a conflict over both.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT key, MAX(state = 'quarantined') AS quarantined FROM outbox
             INDEXED BY outbox_by_record WHERE entity = ? AND key IN ({marks}) GROUP BY key"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&args))?;
        while let Some(row) = rows.next()? {
            let state = if row.get::<_, bool>("quarantined")? {
                RecordState::Quarantined
            } else {
                RecordState::Pending
            };
            states.insert(row.get("key")?, state);
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT key FROM conflicts WHERE entity = ? AND key IN ({marks})"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&args))?;
        while let Some(row) = rows.next()? {
            states.insert(row.get("key")?, RecordState::InConflict);
        }
    }
    Ok(states)
}

/// Whether any record of `e` has a mutation in the outbox or a conflict in the inbox.
fn any_unsynced(conn: &Connection, e: &EntitySchema) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox INDEXED BY outbox_by_record WHERE entity = ?1)
                 OR EXISTS (SELECT 1 FROM conflicts WHERE entity = ?1)",
        )?
        .query_row([&e.name], |row| row.get(0))?)
}

/// Sets each record's sync state (see [`states`]).
pub(crate) fn with_states(
    conn: &Connection,
    e: &EntitySchema,
    records: &mut [Record],
) -> Result<()> {
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let states = states(conn, e, &keys)?;
    for record in records {
        record.state = Some(
            states
                .get(&record.key)
                .copied()
                .unwrap_or(RecordState::Synced),
        );
    }
    Ok(())
}

/// The fingerprint of the page `query` selects (its rows as stored, whether another page
/// follows, each record's sync state), read without decoding a record.
pub(crate) fn page_fingerprint(
    conn: &Connection,
    e: &EntitySchema,
    query: &Query,
) -> Result<Fingerprint> {
    let (sql, args) = page_sql(e, query)?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(sql::params(&args))?;
    let columns = EntitySql::of(e).column_count();
    let mut fingerprint = Fingerprinter::new();
    let mut keys: Vec<String> = Vec::new();
    while let Some(row) = rows.next()? {
        if keys.len() == query.limit as usize {
            fingerprint.mark(b'+');
            break;
        }
        keys.push(row.get(0)?);
        fingerprint.row(row, columns)?;
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    add_states(conn, e, &keys, &mut fingerprint)?;
    Ok(fingerprint.finish())
}

/// The fingerprint of the record of `e` with `key` (or of its absence) and its sync state.
pub(crate) fn record_fingerprint(
    conn: &Connection,
    e: &EntitySchema,
    key: &str,
) -> Result<Fingerprint> {
    let table = EntitySql::of(e);
    let mut stmt = conn.prepare_cached(&table.select_by_key())?;
    let mut rows = stmt.query([key])?;
    let mut fingerprint = Fingerprinter::new();
    match rows.next()? {
        Some(row) => {
            fingerprint.row(row, table.column_count())?;
            add_states(conn, e, &[key], &mut fingerprint)?;
        }
        None => fingerprint.mark(b'0'),
    }
    Ok(fingerprint.finish())
}

/// Adds the sync state of each of `keys`, in order.
fn add_states(
    conn: &Connection,
    e: &EntitySchema,
    keys: &[&str],
    fingerprint: &mut Fingerprinter,
) -> Result<()> {
    let states = states(conn, e, keys)?;
    for key in keys {
        fingerprint.state(states.get(*key).copied().unwrap_or(RecordState::Synced));
    }
    Ok(())
}

/// One page of the records that match `query`, each with its sync state.
pub(crate) fn query(conn: &Connection, e: &EntitySchema, query: &Query) -> Result<Page> {
    let (sql, args) = page_sql(e, query)?;
    let table = EntitySql::of(e);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(sql::params(&args))?;
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        records.push(table.record(row)?);
    }
    let next_offset = if records.len() > query.limit as usize {
        records.truncate(query.limit as usize);
        Some(query.offset + u64::from(query.limit))
    } else {
        None
    };
    with_states(conn, e, &mut records)?;
    Ok(Page {
        records,
        next_offset,
    })
}
