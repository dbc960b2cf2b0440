//! The local store: one SQLite file (bundled SQLite, WAL) holding the entity tables, the outbox,
//! the pull cursors and the client's identity.
//!
//! Exactly one writer connection, behind a mutex: every write and its outbox entry commit in one
//! transaction, and a pulled page commits with its cursor. Reads use a second, read-only
//! connection, so the app can read while a page is being applied. Table and column names come only
//! from a validated [`Schema`]; values are always bound as parameters.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use crate::conflict;
use crate::error::{Error, Result};
use crate::outbox::{self, Fields, MutationReceipt, QuarantinedMutation, Stage};
use crate::protocol::{Mutation, MutationResult, OnConflict, Op, Outcome, PullPage};
use crate::queue::{self, Enqueued, SyncRequest};
use crate::schema::{ConflictPolicy, EntitySchema, FieldDef, Schema, SyncMode};
use crate::value::{fields_from_json, fields_to_json, Record, Value};

/// Longest record key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 256;
/// Longest pull cursor accepted from a server, in bytes.
const MAX_CURSOR_LEN: usize = 256;

/// The store's own tables: migration N takes `PRAGMA user_version` from N-1 to N. Append only: a
/// shipped migration is never edited.
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
    &[outbox::STAGES_SQL, conflict::SCHEMA_SQL],
];

/// Sort direction of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// A query of one entity: field equality filters, an order and a page window.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Records must have these values (the key field may be named too); `Null` matches null.
    pub filters: Vec<(String, Value)>,
    /// Sort by these fields, in turn; the key breaks ties so pages are stable.
    pub order_by: Vec<(String, Order)>,
    /// Most records in the page.
    pub limit: u32,
    /// Records to skip (from a previous page's `next_offset`).
    pub offset: u64,
}

impl Query {
    /// The first `limit` records, in key order.
    pub fn all(limit: u32) -> Self {
        Query {
            filters: Vec::new(),
            order_by: Vec::new(),
            limit,
            offset: 0,
        }
    }

    /// Adds an equality filter (builder style).
    pub fn filter(mut self, field: &str, value: Value) -> Self {
        self.filters.push((field.to_string(), value));
        self
    }

    /// Adds a sort field (builder style).
    pub fn order(mut self, field: &str, order: Order) -> Self {
        self.order_by.push((field.to_string(), order));
        self
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records.
    pub records: Vec<Record>,
    /// Offset of the next page, if there may be one.
    pub next_offset: Option<u64>,
}

/// What applying one pulled page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageStats {
    /// Records created or changed.
    pub upserts: u64,
    /// Records deleted.
    pub tombstones: u64,
}

/// What applying one push answer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Mutations the server applied.
    pub applied: u64,
    /// Of those, how many overwrote a newer server version (last write wins).
    pub overwrote: u64,
    /// Mutations the server refused, now quarantined.
    pub quarantined: u64,
    /// Records whose edits met a newer server version (settled by the entity's policy).
    pub conflicts: u64,
    /// Of those, how many went to the conflict inbox for the user.
    pub to_inbox: u64,
}

/// How many changes wait, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Mutations waiting to be pushed.
    pub pending: u64,
    /// Mutations the server refused, waiting for the user.
    pub quarantined: u64,
    /// Conflicts in the inbox, waiting for the user.
    pub conflicts: u64,
}

/// The local SQLite store.
pub struct Store {
    pub(crate) writer: Mutex<Connection>,
    pub(crate) reader: Mutex<Connection>,
    schema: Schema,
    client_id: String,
}

/// Locks a connection. A panic while holding it cannot leave a transaction open (rusqlite rolls
/// back on drop while unwinding), so a poisoned lock is safe to take over.
pub(crate) fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn table(entity: &EntitySchema) -> String {
    format!("\"e_{}\"", entity.name)
}

pub(crate) fn column(name: &str) -> String {
    format!("\"{name}\"")
}

fn malformed(entity: &str, what: impl std::fmt::Display) -> Error {
    Error::MalformedResponse(format!("pull of `{entity}`: {what}"))
}

impl Store {
    /// Opens (creating if needed) the store at `path` for `schema`, migrating its tables.
    ///
    /// A field added to an entity since the last open gets its column, and the entity's pull
    /// cursor is reset so the next sync fills it. Changing a field's type is refused: give the
    /// field a new name instead.
    pub fn open(path: &Path, schema: Schema) -> Result<Store> {
        let mut writer = Connection::open(path)?;
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL: readers never block the writer. NORMAL: a commit survives the app being killed
        // (not a power cut, which would cost an fsync per write and the local-write budget).
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        // A 4 MiB page cache and checkpoints every 4,000 pages (16 MiB of WAL): a pulled page
        // dirties many index pages at random (keys are UUIDs), and checkpointing after nearly
        // every page (the default 1,000) made initial syncs I/O bound. See docs/benchmarks.md.
        writer.pragma_update(None, "cache_size", -4000)?;
        writer.pragma_update(None, "wal_autocheckpoint", 4000)?;
        migrate(&mut writer)?;
        ensure_entity_tables(&mut writer, &schema)?;
        let client_id = client_id(&writer)?;
        queue::recover(&writer)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Store {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            schema,
            client_id,
        })
    }

    /// The schema the store was opened with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// This device's client id (made on first open, kept for the life of the file).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn writable(&self, entity: &str) -> Result<&EntitySchema> {
        let e = self.schema.entity(entity)?;
        if e.sync.mode == SyncMode::ReadOnly {
            return Err(Error::ReadOnly(entity.to_string()));
        }
        Ok(e)
    }

    pub(crate) fn changeable(&self, entity: &str) -> Result<&EntitySchema> {
        let e = self.writable(entity)?;
        if e.sync.mode == SyncMode::AppendOnly {
            return Err(Error::AppendOnly(entity.to_string()));
        }
        Ok(e)
    }

    /// Creates a record and its outbox entry, in one transaction.
    pub fn insert(&self, entity: &str, record: Record) -> Result<MutationReceipt> {
        let e = self.writable(entity)?;
        if record.key.is_empty() || record.key.len() > MAX_KEY_LEN {
            return Err(Error::InvalidKey(record.key));
        }
        let values = coerce_all(e, record.values)?;
        for def in e.fields.iter().filter(|f| !f.nullable) {
            if matches!(values.get(&def.name), None | Some(Value::Null)) {
                return Err(Error::MissingField {
                    entity: e.name.clone(),
                    field: def.name.clone(),
                });
            }
        }
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&upsert_sql(e, &e.fields, false))?;
            let mut row = Vec::with_capacity(e.fields.len() + 2);
            row.push(Value::Text(record.key.clone()));
            row.push(Value::Null);
            row.extend(
                e.fields
                    .iter()
                    .map(|f| values.get(&f.name).cloned().unwrap_or(Value::Null)),
            );
            match stmt.execute(rusqlite::params_from_iter(row.iter())) {
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
        }
        let receipt = outbox::record(
            &tx,
            &e.name,
            &record.key,
            Op::Insert,
            &fields_to_json(&values),
            None,
            &Fields::new(),
        )?;
        tx.commit()?;
        Ok(receipt)
    }

    /// Changes some fields of a record and records only the fields that really changed. Returns
    /// `None` (and records nothing) when nothing changed.
    pub fn update(
        &self,
        entity: &str,
        key: &str,
        changes: BTreeMap<String, Value>,
    ) -> Result<Option<MutationReceipt>> {
        let e = self.changeable(entity)?;
        let changes = coerce_all(e, changes)?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let current = existing(&tx, e, key)?;
        let changed: BTreeMap<String, Value> = changes
            .into_iter()
            .filter(|(name, v)| current.get(name) != v)
            .collect();
        if changed.is_empty() {
            return Ok(None);
        }
        set_fields(&tx, e, key, &changed)?;
        let receipt = outbox::record(
            &tx,
            &e.name,
            key,
            Op::Update,
            &fields_to_json(&changed),
            current.version,
            &values_of(&current, changed.keys()),
        )?;
        tx.commit()?;
        Ok(Some(receipt))
    }

    /// Deletes a record and records the deletion, in one transaction.
    pub fn delete(&self, entity: &str, key: &str) -> Result<MutationReceipt> {
        let e = self.changeable(entity)?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let current = existing(&tx, e, key)?;
        delete_row(&tx, e, key)?;
        let receipt = outbox::record(
            &tx,
            &e.name,
            key,
            Op::Delete,
            &Fields::new(),
            current.version,
            &values_of(&current, e.fields.iter().map(|f| &f.name)),
        )?;
        tx.commit()?;
        Ok(receipt)
    }

    /// The record with this key, if there is one.
    pub fn get(&self, entity: &str, key: &str) -> Result<Option<Record>> {
        let e = self.schema.entity(entity)?;
        read_record(&lock(&self.reader), e, key)
    }

    /// One page of the records that match `query`.
    pub fn query(&self, entity: &str, query: &Query) -> Result<Page> {
        let e = self.schema.entity(entity)?;
        let mut sql = format!("SELECT {} FROM {}", select_columns(e), table(e));
        let mut args: Vec<Value> = Vec::new();
        for (i, (name, value)) in query.filters.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
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
            if value == Value::Null {
                sql.push_str(&format!("{} IS NULL", column(name)));
            } else {
                sql.push_str(&format!("{} = ?", column(name)));
                args.push(value);
            }
        }
        sql.push_str(" ORDER BY ");
        for (name, order) in &query.order_by {
            if *name != e.key {
                e.field_def(name)?;
            }
            let dir = if *order == Order::Ascending {
                "ASC"
            } else {
                "DESC"
            };
            sql.push_str(&format!("{} {dir}, ", column(name)));
        }
        sql.push_str(&format!("{} ASC LIMIT ? OFFSET ?", column(&e.key)));
        // One more than asked tells whether another page exists.
        args.push(Value::Integer(i64::from(query.limit) + 1));
        args.push(Value::Integer(query.offset.min(i64::MAX as u64) as i64));
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
        let mut records = Vec::new();
        while let Some(row) = rows.next()? {
            records.push(record_from_row(e, row)?);
        }
        let next_offset = if records.len() > query.limit as usize {
            records.truncate(query.limit as usize);
            Some(query.offset + u64::from(query.limit))
        } else {
            None
        };
        Ok(Page {
            records,
            next_offset,
        })
    }

    /// How many changes are pending, quarantined and in conflict.
    pub fn counts(&self) -> Result<Counts> {
        let conn = lock(&self.reader);
        let (pending, quarantined) = outbox::counts(&conn)?;
        Ok(Counts {
            pending,
            quarantined,
            conflicts: conflict::count(&conn)?,
        })
    }

    /// The mutations the server refused, with its reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedMutation>> {
        outbox::quarantined(&lock(&self.reader))
    }

    /// The oldest pending mutations of `entity`, ready to push, each asking the server to
    /// overwrite or to report a conflict as the entity's policy says.
    pub fn pending(&self, entity: &str, limit: usize) -> Result<Vec<Mutation>> {
        let e = self.schema.entity(entity)?;
        let mut batch = outbox::pending(&lock(&self.reader), entity, limit)?;
        if e.sync.conflict == ConflictPolicy::LastWriteWins {
            for m in &mut batch {
                m.on_conflict = OnConflict::Overwrite;
            }
        }
        Ok(batch)
    }

    /// Whether `entity` has changes waiting to be pushed.
    pub fn has_pending(&self, entity: &str) -> Result<bool> {
        outbox::has_pending(&lock(&self.reader), entity)
    }

    /// Queues a sync of `unit` (see [`queue::enqueue`]); survives a restart.
    pub fn queue_sync(&self, unit: &str, priority: i32, discard_pending: bool) -> Result<Enqueued> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let enqueued = queue::enqueue(&tx, unit, priority, discard_pending)?;
        tx.commit()?;
        Ok(enqueued)
    }

    /// Takes the next queued sync request, marking it running.
    pub fn start_next_sync(&self) -> Result<Option<SyncRequest>> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let next = queue::start_next(&tx)?;
        tx.commit()?;
        Ok(next)
    }

    /// Removes a sync request that has run.
    pub fn finish_sync(&self, id: i64) -> Result<()> {
        queue::finish(&lock(&self.writer), id)
    }

    /// The queued sync requests, in the order they will run.
    pub fn queued_syncs(&self) -> Result<Vec<SyncRequest>> {
        queue::queued(&lock(&self.reader))
    }

    /// Where the next pull of `entity` starts (`None`: from the beginning).
    pub fn pull_cursor(&self, entity: &str) -> Result<Option<String>> {
        let conn = lock(&self.reader);
        let cursor: Option<Option<String>> = conn
            .prepare_cached("SELECT cursor FROM pull_state WHERE entity = ?1")?
            .query_row([entity], |r| r.get(0))
            .optional()?;
        Ok(cursor.flatten())
    }

    /// A stored setting of the client (last sync time, …).
    pub fn meta(&self, name: &str) -> Result<Option<String>> {
        let conn = lock(&self.reader);
        let value = conn
            .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        Ok(value)
    }

    /// Stores a setting of the client.
    pub fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        lock(&self.writer)
            .prepare_cached(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute([name, value])?;
        Ok(())
    }

    /// Applies the server's answer to a push, in one transaction: applied mutations leave the
    /// outbox and set their record's version, refused ones go to quarantine. The answer is checked
    /// against what was sent before anything is written.
    pub fn apply_push_results(
        &self,
        sent: &[Mutation],
        results: &[MutationResult],
    ) -> Result<PushStats> {
        if sent.len() != results.len() {
            return Err(Error::MalformedResponse(format!(
                "push: {} results for {} mutations",
                results.len(),
                sent.len()
            )));
        }
        for (m, r) in sent.iter().zip(results) {
            if m.mutation_id != r.mutation_id || m.seq != r.seq {
                return Err(Error::MalformedResponse(format!(
                    "push: result for `{}` (seq {}) where `{}` (seq {}) was sent",
                    r.mutation_id, r.seq, m.mutation_id, m.seq
                )));
            }
        }
        let mut stats = PushStats::default();
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        // Records whose conflict is settled: the rest of their chain was settled with them.
        let mut settled = std::collections::HashSet::new();
        for (m, r) in sent.iter().zip(results) {
            if settled.contains(&(m.entity.as_str(), m.key.as_str())) {
                continue;
            }
            match &r.outcome {
                Outcome::Applied { version, overwrote } => {
                    outbox::remove(&tx, m.seq)?;
                    outbox::set_stage(
                        &tx,
                        &m.mutation_id,
                        &m.entity,
                        &m.key,
                        Stage::Accepted,
                        Some(*version),
                    )?;
                    let e = self.schema.entity(&m.entity)?;
                    tx.prepare_cached(&format!(
                        "UPDATE {} SET _version = ?2 WHERE {} = ?1 AND COALESCE(_version, 0) < ?2",
                        table(e),
                        column(&e.key)
                    ))?
                    .execute(params![m.key, version])?;
                    stats.applied += 1;
                    stats.overwrote += u64::from(overwrote.is_some());
                }
                Outcome::Conflict { current } => {
                    let e = self.schema.entity(&m.entity)?;
                    let to_inbox =
                        crate::settle::settle_conflict(&tx, e, &m.key, current.as_ref())?;
                    stats.conflicts += 1;
                    stats.to_inbox += u64::from(to_inbox);
                    settled.insert((m.entity.as_str(), m.key.as_str()));
                }
                Outcome::Rejected { code, message } => {
                    outbox::quarantine(&tx, m.seq, code, message)?;
                    outbox::set_stage(
                        &tx,
                        &m.mutation_id,
                        &m.entity,
                        &m.key,
                        Stage::Quarantined,
                        None,
                    )?;
                    stats.quarantined += 1;
                }
            }
        }
        outbox::prune_stages(&tx)?;
        tx.commit()?;
        Ok(stats)
    }

    /// Applies one pulled page and stores its cursor, in one transaction; on any error nothing of
    /// the page is applied. Records with pending local edits keep them: the edits are re-applied
    /// over the server's values (they are pushed before the next pull).
    pub fn apply_pull_page(&self, entity: &str, page: &PullPage) -> Result<PageStats> {
        let e = self.schema.entity(entity)?;
        if page.entity != e.name {
            return Err(malformed(
                entity,
                format!("page is for entity `{}`", page.entity),
            ));
        }
        if page.fields != e.field_names() {
            return Err(malformed(
                entity,
                format!(
                    "page has fields {:?}, asked for {:?}",
                    page.fields,
                    e.field_names()
                ),
            ));
        }
        if page.cursor.is_empty() || page.cursor.len() > MAX_CURSOR_LEN {
            return Err(malformed(entity, "missing or oversized cursor"));
        }
        let mut stats = PageStats::default();
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let has_pending = outbox::has_pending(&tx, &e.name)?;
        let has_accepted = outbox::has_accepted(&tx, &e.name)?;
        {
            let mut upsert = tx.prepare_cached(&upsert_sql(e, &e.fields, true))?;
            let mut row_values: Vec<Value> = Vec::with_capacity(e.fields.len() + 2);
            for row in &page.upserts {
                if row.len() != e.fields.len() + 2 {
                    return Err(malformed(
                        entity,
                        format!(
                            "row of {} values, expected {}",
                            row.len(),
                            e.fields.len() + 2
                        ),
                    ));
                }
                let key = match row[0].as_str() {
                    Some(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k,
                    _ => return Err(malformed(entity, "row without a valid key")),
                };
                let Some(version) = row[1].as_i64() else {
                    return Err(malformed(
                        entity,
                        format!("row `{key}` has no integer version"),
                    ));
                };
                row_values.clear();
                row_values.push(Value::Text(key.to_string()));
                row_values.push(Value::Integer(version));
                for (def, json) in e.fields.iter().zip(&row[2..]) {
                    let v = Value::from_json(&e.name, def, json)
                        .map_err(|err| malformed(entity, format!("row `{key}`: {err}")))?;
                    row_values.push(v);
                }
                upsert.execute(rusqlite::params_from_iter(row_values.iter()))?;
                if has_pending {
                    reapply_pending(&tx, e, key)?;
                }
                if has_accepted {
                    outbox::mark_seen(&tx, &e.name, key, version)?;
                }
                stats.upserts += 1;
            }
            let mut delete = tx.prepare_cached(&delete_sql(e))?;
            for (key, version) in &page.tombstones {
                if has_accepted {
                    outbox::mark_seen(&tx, &e.name, key, *version)?;
                }
                if has_pending && !outbox::pending_for_record(&tx, &e.name, key)?.is_empty() {
                    continue;
                }
                stats.tombstones += delete.execute([key])? as u64;
            }
        }
        tx.prepare_cached("UPDATE pull_state SET cursor = ?2 WHERE entity = ?1")?
            .execute([&e.name, &page.cursor])?;
        tx.commit()?;
        Ok(stats)
    }
}

/// Coerces every value to its field's type, refusing unknown fields.
pub(crate) fn coerce_all(
    e: &EntitySchema,
    values: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>> {
    values
        .into_iter()
        .map(|(name, v)| {
            let def = e.field_def(&name)?;
            Ok((name, v.coerce(&e.name, def)?))
        })
        .collect()
}

/// The values `names` have in `record`, as JSON (null when unset): what an edit changes them from.
pub(crate) fn values_of<'a>(record: &Record, names: impl Iterator<Item = &'a String>) -> Fields {
    names
        .map(|n| (n.clone(), record.get(n).to_json()))
        .collect()
}

/// A copy of a field definition that accepts null (to filter on null).
fn nullable(def: &FieldDef) -> FieldDef {
    FieldDef {
        nullable: true,
        ..def.clone()
    }
}

fn select_columns(e: &EntitySchema) -> String {
    let mut cols = vec![column(&e.key), "_version".to_string()];
    cols.extend(e.fields.iter().map(|f| column(&f.name)));
    cols.join(", ")
}

/// `INSERT` of key, version and `fields`; with `from_server`, an upsert that never goes back to
/// an older version.
fn upsert_sql(e: &EntitySchema, fields: &[FieldDef], from_server: bool) -> String {
    let mut cols = vec![column(&e.key), "_version".to_string()];
    cols.extend(fields.iter().map(|f| column(&f.name)));
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table(e),
        cols.join(", "),
        marks.join(", ")
    );
    if from_server {
        let sets: Vec<String> = cols[1..]
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        sql.push_str(&format!(
            " ON CONFLICT ({}) DO UPDATE SET {} WHERE excluded._version >= COALESCE({}._version, 0)",
            column(&e.key),
            sets.join(", "),
            table(e)
        ));
    }
    sql
}

fn record_from_row(e: &EntitySchema, row: &rusqlite::Row<'_>) -> Result<Record> {
    let mut record = Record::new(row.get::<_, String>(0)?);
    record.version = row.get(1)?;
    for (i, def) in e.fields.iter().enumerate() {
        let v = Value::from_sql(def, row.get_ref(i + 2)?)?;
        if v != Value::Null {
            record.values.insert(def.name.clone(), v);
        }
    }
    Ok(record)
}

/// The record with this key, or `NotFound`.
fn existing(conn: &Connection, e: &EntitySchema, key: &str) -> Result<Record> {
    read_record(conn, e, key)?.ok_or_else(|| Error::NotFound {
        entity: e.name.clone(),
        key: key.to_string(),
    })
}

pub(crate) fn read_record(
    conn: &Connection,
    e: &EntitySchema,
    key: &str,
) -> Result<Option<Record>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        select_columns(e),
        table(e),
        column(&e.key)
    ))?;
    let mut rows = stmt.query([key])?;
    match rows.next()? {
        Some(row) => Ok(Some(record_from_row(e, row)?)),
        None => Ok(None),
    }
}

pub(crate) fn set_fields(
    conn: &Connection,
    e: &EntitySchema,
    key: &str,
    values: &BTreeMap<String, Value>,
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let sets: Vec<String> = values
        .keys()
        .enumerate()
        .map(|(i, name)| format!("{} = ?{}", column(name), i + 2))
        .collect();
    let sql = format!(
        "UPDATE {} SET {} WHERE {} = ?1",
        table(e),
        sets.join(", "),
        column(&e.key)
    );
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&key];
    args.extend(values.values().map(|v| v as &dyn rusqlite::ToSql));
    conn.prepare_cached(&sql)?.execute(args.as_slice())?;
    Ok(())
}

fn delete_sql(e: &EntitySchema) -> String {
    format!("DELETE FROM {} WHERE {} = ?1", table(e), column(&e.key))
}

/// Deletes a record's row.
pub(crate) fn delete_row(conn: &Connection, e: &EntitySchema, key: &str) -> Result<()> {
    conn.prepare_cached(&delete_sql(e))?.execute([key])?;
    Ok(())
}

/// Re-applies a record's pending local edits over values just pulled from the server.
fn reapply_pending(tx: &Transaction<'_>, e: &EntitySchema, key: &str) -> Result<()> {
    for m in outbox::pending_for_record(tx, &e.name, key)? {
        match m.op {
            Op::Insert | Op::Update => set_fields(tx, e, key, &fields_from_json(e, &m.fields)?)?,
            Op::Delete => {
                delete_row(tx, e, key)?;
            }
        }
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(Error::Corrupt(format!(
            "the store was written by a newer Syncline (schema version {version})"
        )));
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
fn ensure_entity_tables(conn: &mut Connection, schema: &Schema) -> Result<()> {
    let tx = conn.transaction()?;
    for e in schema.entities() {
        let mut cols = vec![
            format!("{} TEXT PRIMARY KEY NOT NULL", column(&e.key)),
            "_version INTEGER".to_string(),
        ];
        cols.extend(
            e.fields
                .iter()
                .map(|f| format!("{} {}", column(&f.name), f.ty.sql_type())),
        );
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            table(e),
            cols.join(", ")
        ))?;
        let existing: BTreeMap<String, String> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT name, type FROM pragma_table_info('e_{}')",
                e.name
            ))?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for f in &e.fields {
            match existing.get(&f.name) {
                None => tx.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    table(e),
                    column(&f.name),
                    f.ty.sql_type()
                ))?,
                Some(ty) if !ty.eq_ignore_ascii_case(f.ty.sql_type()) => {
                    return Err(Error::InvalidSchema(format!(
                        "field `{}.{}` was stored as {ty}; give a field of a new type a new name",
                        e.name, f.name
                    )))
                }
                Some(_) => {}
            }
            if f.indexed {
                tx.execute_batch(&format!(
                    "CREATE INDEX IF NOT EXISTS \"i_{0}_{1}\" ON {2} ({3})",
                    e.name,
                    f.name,
                    table(e),
                    column(&f.name)
                ))?;
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

fn client_id(conn: &Connection) -> Result<String> {
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
