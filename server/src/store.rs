//! The server's embedded SQLite store: schema and migrations, connections (one writer behind a
//! mutex, a few WAL readers), the record and change-log primitives push and pull are built on,
//! and the admin operations tests, the demo seed and benchmarks use.
//!
//! Layout: every record of every entity lives in one `records` table, keyed by (entity, key),
//! with its scope (project id), version, a deleted flag and its fields as a JSON array in
//! storage-slot order (`data`). Its `position` (the table's rowid) comes from a global change-log
//! counter bumped on every change, so a delta pull is an index range scan on
//! (entity, position). A record that changes scope leaves a row in `departures` so the users of
//! its old project learn of it as a tombstone. Storage slots are recorded per entity in
//! `layout`, so reordering or adding declared fields never misreads stored arrays.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json};
use syncline_protocol::{ServerValue, SetOn, Value};

use crate::db::{self, Database, Location, Param, Tx};
use crate::entities::{EntityDef, ScopeRule, ServerSchema};
use crate::token_hash::{hash_token, new_token};

/// Longest record key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (or no connection could be had).
    #[error("database: {0}")]
    Postgres(String),
    /// A transaction's work failed and asked to roll back (its own error is returned instead).
    #[error("the transaction was rolled back")]
    RolledBack,
    /// A JSON value could not be encoded or decoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A value or declaration was refused by the schema (wrong type, bad name).
    #[error(transparent)]
    Value(#[from] syncline_protocol::SchemaError),
    /// The served entities are invalid.
    #[error(transparent)]
    Schema(#[from] crate::entities::SchemaError),
    /// The schema file changes the declared schema in a way the stored data cannot follow
    /// (a field's type, a scope rule, a field made required that records lack, an entity with
    /// records left out): the server refuses to start. Each entry names the entity or field.
    #[error(
        "the schema is not compatible with the data in the database (docs/schema.md, \"Changing \
         the schema\"):\n  - {}",
        .0.join("\n  - ")
    )]
    IncompatibleSchema(Vec<String>),
    /// The database was written by a newer server.
    #[error("the database has schema version {found}; this server knows up to {known}")]
    TooNew {
        /// `PRAGMA user_version` found.
        found: i64,
        /// Migrations this server has.
        known: usize,
    },
    /// No entity of that name is served.
    #[error("unknown entity `{0}`")]
    UnknownEntity(String),
    /// The entity has no field of that name (or it is the key).
    #[error("entity `{entity}` has no field `{field}`")]
    UnknownField {
        /// The entity.
        entity: String,
        /// The field.
        field: String,
    },
    /// No user of that id exists.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
    /// No live record with that key exists.
    #[error("no `{entity}` record with key `{key}`")]
    NotFound {
        /// The entity.
        entity: String,
        /// The key.
        key: String,
    },
    /// The request to the store is invalid (missing required field, bad key…).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Stored data does not have the expected shape.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

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

/// Storage slots of an entity's fields in the `data` arrays.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Slot of each declared field, by index in the declaration.
    pub slots: Vec<usize>,
    /// Length of a stored array (slots of undeclared, older fields included).
    pub width: usize,
}

/// An entity with its storage layout: what push, pull and admin ops work with.
#[derive(Clone, Copy)]
pub(crate) struct Ent<'a> {
    /// The declaration.
    pub def: &'a EntityDef,
    /// Where its fields are stored.
    pub layout: &'a Layout,
}

impl Ent<'_> {
    /// The entity's name.
    pub fn name(&self) -> &str {
        self.def.name()
    }

    /// An all-null data array.
    pub fn empty_data(&self) -> Vec<Json> {
        vec![Json::Null; self.layout.width]
    }

    /// The scope of a record with this key and data, if the data names one.
    pub fn scope_of(&self, key: &str, data: &[Json]) -> Option<String> {
        match (&self.def.scope, self.def.scope_field) {
            (ScopeRule::OwnKey, _) => Some(key.to_string()),
            (ScopeRule::Field(_), Some(i)) => data
                .get(self.layout.slots[i])
                .and_then(Json::as_str)
                .map(str::to_string),
            (ScopeRule::Field(_), None) => None,
        }
    }

    /// The declared fields of a data array, by name.
    pub fn fields_of(&self, data: &[Json]) -> Map<String, Json> {
        self.def
            .schema
            .fields
            .iter()
            .zip(&self.layout.slots)
            .map(|(f, &slot)| {
                (
                    f.name.clone(),
                    data.get(slot).cloned().unwrap_or(Json::Null),
                )
            })
            .collect()
    }

    /// Checks a map of wire fields (names known, not the key, values of the right type) and
    /// returns each as (slot, canonical value).
    pub fn check_fields(
        &self,
        fields: &Map<String, Json>,
    ) -> Result<Vec<(usize, Json)>, FieldProblem> {
        let mut out = Vec::with_capacity(fields.len());
        for (name, json) in fields {
            if *name == self.def.schema.key {
                return Err(FieldProblem::Unknown(format!(
                    "`{}` is the key of `{}`, not a field",
                    name,
                    self.name()
                )));
            }
            let Some(i) = self.def.field_index(name) else {
                return Err(FieldProblem::Unknown(format!(
                    "entity `{}` has no field `{}`",
                    self.name(),
                    name
                )));
            };
            let def = &self.def.schema.fields[i];
            let value = Value::from_json(self.name(), def, json)
                .map_err(|e| FieldProblem::Invalid(e.to_string()))?;
            out.push((self.layout.slots[i], value.to_json()));
        }
        Ok(out)
    }

    /// The first required field that has no value in a new record's `data`.
    pub fn missing_required(&self, data: &[Json]) -> Option<&str> {
        self.def
            .schema
            .fields
            .iter()
            .zip(&self.layout.slots)
            .find(|(f, &slot)| !f.nullable && data.get(slot).is_none_or(Json::is_null))
            .map(|(f, _)| f.name.as_str())
    }

    /// The values the server sets into a record being written (`creating`: the write creates
    /// it), as (slot, value): the user's id where a field says `"user"` (none when `user` is
    /// `None`, a server-side write), the server's time where it says `"now"`.
    pub fn server_values(
        &self,
        creating: bool,
        user: Option<&str>,
        now: i64,
    ) -> Vec<(usize, Json)> {
        self.def
            .server_set_fields()
            .filter(|(_, set)| creating || set.on == SetOn::Write)
            .filter_map(|(i, set)| {
                let value = match set.value {
                    ServerValue::User => Json::String(user?.to_string()),
                    ServerValue::Now => Json::from(now),
                };
                Some((self.layout.slots[i], value))
            })
            .collect()
    }
}

/// Why a set of wire fields was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldProblem {
    /// Unknown field or the key field.
    Unknown(String),
    /// A value of the wrong type.
    Invalid(String),
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

struct Inner {
    db: Box<dyn Database>,
    schema: ServerSchema,
    layouts: Vec<Layout>,
    /// Test hook (`SYNCLINE_TEST_SLOW_WRITES`, off unless set): holds some write transactions
    /// open before commit.
    slow_writes: Option<crate::test_hooks::SlowWrites>,
}

/// The server's data, on either database ([`Location`]). Cheap to clone (shared); all methods
/// block, so async code calls them from `spawn_blocking`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db", &self.inner.db.describe())
            .finish()
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads the storage slots of every served entity, giving new fields fresh slots.
fn load_layouts(tx: &mut dyn Tx, schema: &ServerSchema) -> Result<Vec<Layout>, StoreError> {
    let mut layouts = Vec::with_capacity(schema.entities().len());
    for e in schema.entities() {
        let mut known: Vec<(String, usize)> = tx.query_all(
            "SELECT field, slot FROM layout WHERE entity = ?1",
            &[Param::Text(e.name())],
            |r| {
                let field = r.text(0)?.to_string();
                let slot = usize::try_from(r.int(1)?).map_err(|_| {
                    StoreError::Corrupt(format!("negative slot for {}.{field}", e.name()))
                })?;
                Ok((field, slot))
            },
        )?;
        let mut width = known.iter().map(|(_, s)| s + 1).max().unwrap_or(0);
        let mut slots = Vec::with_capacity(e.schema.fields.len());
        for f in &e.schema.fields {
            let slot = match known.iter().find(|(name, _)| *name == f.name) {
                Some((_, s)) => *s,
                None => {
                    let s = width;
                    width += 1;
                    tx.execute(
                        "INSERT INTO layout (entity, field, slot) VALUES (?1, ?2, ?3)",
                        &[
                            Param::Text(e.name()),
                            Param::Text(&f.name),
                            Param::Int(s as i64),
                        ],
                    )?;
                    known.push((f.name.clone(), s));
                    s
                }
            };
            slots.push(slot);
        }
        layouts.push(Layout { slots, width });
    }
    Ok(layouts)
}

/// Takes `n` fresh change-log positions; returns the first. Only write transactions call it,
/// and they are serialized (`db/mod.rs`), so positions commit in the order they are taken.
pub(crate) fn reserve_positions(tx: &mut dyn Tx, n: i64) -> Result<i64, StoreError> {
    let last = tx
        .query_opt(
            "UPDATE counters SET value = value + ?1 WHERE name = 'position' RETURNING value",
            &[Param::Int(n)],
            |r| r.int(0),
        )?
        .ok_or_else(|| StoreError::Corrupt("the change-log counter is missing".into()))?;
    Ok(last - n + 1)
}

/// The stored state of a record, deleted or not.
pub(crate) fn load_row(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    key: &str,
) -> Result<Option<Row>, StoreError> {
    let found = tx.query_opt(
        "SELECT scope, version, deleted, data, writer FROM records WHERE entity = ?1 AND key = ?2",
        &[Param::Text(ent.name()), Param::Text(key)],
        |r| {
            let data: Vec<Json> = serde_json::from_str(r.text(3)?)?;
            Ok(Row {
                scope: r.text(0)?.to_string(),
                version: r.int(1)?,
                deleted: r.bool(2)?,
                data,
                writer: r.opt_text(4)?.map(str::to_string),
            })
        },
    )?;
    Ok(found.map(|mut row| {
        row.data.resize(ent.layout.width, Json::Null);
        row
    }))
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
}

/// Change-log positions handed out one by one from a block taken at the first need: a push of
/// N mutations takes one block of N (one statement instead of N; on PostgreSQL each statement
/// is a round trip inside the serialized section). Positions of mutations that were rejected
/// stay unused: the log has gaps, which cursors do not mind.
pub(crate) struct Positions {
    /// How many to take at the first need.
    block: i64,
    next: std::cell::Cell<i64>,
    end: std::cell::Cell<i64>,
}

impl Positions {
    /// A source that takes `block` positions at a time (at least one).
    pub(crate) fn new(block: usize) -> Positions {
        Positions {
            block: i64::try_from(block).unwrap_or(i64::MAX).max(1),
            next: std::cell::Cell::new(0),
            end: std::cell::Cell::new(0),
        }
    }

    /// The next position, taking a new block when the last one is used up.
    pub(crate) fn take(&self, tx: &mut dyn Tx) -> Result<i64, StoreError> {
        if self.next.get() == self.end.get() {
            let first = reserve_positions(tx, self.block)?;
            self.next.set(first);
            self.end.set(first + self.block);
        }
        let position = self.next.get();
        self.next.set(position + 1);
        Ok(position)
    }
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
                 writer = ?8 WHERE entity = ?6 AND key = ?7",
                &[
                    Param::Int(position),
                    Param::Text(scope),
                    Param::Int(version),
                    Param::Bool(deleted),
                    Param::Text(&text),
                    Param::Text(ent.name()),
                    Param::Text(key),
                    Param::OptText(writer),
                ],
            )?;
            if o.scope != scope {
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
                "INSERT INTO records (position, entity, key, scope, version, deleted, data, writer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &[
                    Param::Int(position),
                    Param::Text(ent.name()),
                    Param::Text(key),
                    Param::Text(scope),
                    Param::Int(version),
                    Param::Bool(deleted),
                    Param::Text(&text),
                    Param::OptText(writer),
                ],
            )?;
        }
    }
    Ok(version)
}

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

/// Whether a user exists.
fn has_user(tx: &mut dyn Tx, user_id: &str) -> Result<bool, StoreError> {
    tx.exists(
        "SELECT 1 FROM users WHERE user_id = ?1",
        &[Param::Text(user_id)],
    )
}

/// Replaces tokens kept in plain text (by servers before hashing) with their hashes.
fn hash_plain_tokens(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let plain = tx.query_all("SELECT token FROM tokens WHERE hashed = FALSE", &[], |r| {
        Ok(r.text(0)?.to_string())
    })?;
    for token in &plain {
        tx.execute(
            "UPDATE tokens SET token = ?1, hashed = TRUE WHERE token = ?2",
            &[Param::Text(&hash_token(token)), Param::Text(token)],
        )?;
    }
    if !plain.is_empty() {
        log::info!("{} stored tokens replaced by their hashes", plain.len());
    }
    Ok(())
}

fn ttl_expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|d| now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

impl Store {
    /// Opens the database at `location` (a SQLite file, created if missing, or a PostgreSQL
    /// URL), brings its tables up to date, records the storage layout of `schema`'s entities,
    /// and checks `schema` against the one the database was last opened with
    /// ([`StoreError::IncompatibleSchema`] when the stored data cannot follow the change).
    pub fn open(location: impl Into<Location>, schema: ServerSchema) -> Result<Store, StoreError> {
        let db = db::open(&location.into())?;
        let mut layouts = Vec::new();
        db.write(&mut |tx| {
            layouts = load_layouts(tx, &schema)?;
            // In the same transaction: an incompatible schema leaves the database as it was.
            crate::schema_file::check_and_record(tx, &schema, &layouts)?;
            hash_plain_tokens(tx)
        })?;
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                schema,
                layouts,
                slow_writes: crate::test_hooks::SlowWrites::from_env()?,
            }),
        })
    }

    /// Opens the database at `location` serving the sample app's entities
    /// ([`ServerSchema::sample`]).
    pub fn open_sample(location: impl Into<Location>) -> Result<Store, StoreError> {
        Store::open(location, ServerSchema::sample()?)
    }

    /// The SQLite file, when the store is one.
    pub fn path(&self) -> Option<&Path> {
        self.inner.db.file()
    }

    /// What the database is, for logs (a PostgreSQL URL comes without its password).
    pub fn describe(&self) -> String {
        self.inner.db.describe()
    }

    /// Checks that the database answers (readiness).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.inner.db.ping()
    }

    /// The served entities.
    pub fn schema(&self) -> &ServerSchema {
        &self.inner.schema
    }

    /// The entity called `name` with its storage layout.
    pub(crate) fn ent(&self, name: &str) -> Option<Ent<'_>> {
        let entities = self.inner.schema.entities();
        let i = entities.iter().position(|e| e.name() == name)?;
        Some(Ent {
            def: &entities[i],
            layout: &self.inner.layouts[i],
        })
    }

    pub(crate) fn ent_or_err(&self, name: &str) -> Result<Ent<'_>, StoreError> {
        self.ent(name)
            .ok_or_else(|| StoreError::UnknownEntity(name.to_string()))
    }

    /// Runs `f` in a read-only transaction (one committed snapshot; never blocks writes).
    pub(crate) fn with_reader<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transact(false, f)
    }

    /// Runs `f` in a write transaction (serialized with all others), committing when it
    /// succeeds and rolling back when it fails.
    pub(crate) fn with_writer<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transact(true, f)
    }

    fn transact<T, E: From<StoreError>>(
        &self,
        write: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut f = Some(f);
        let mut out: Option<Result<T, E>> = None;
        let mut work = |tx: &mut dyn Tx| -> Result<(), StoreError> {
            let f = f.take().ok_or(StoreError::RolledBack)?;
            let result = f(tx);
            let failed = result.is_err();
            if let (true, false, Some(slow)) = (write, failed, &self.inner.slow_writes) {
                // Positions are taken, the commit has not happened: the window the ordering
                // tests widen.
                slow.maybe_pause();
            }
            out = Some(result);
            if failed {
                Err(StoreError::RolledBack)
            } else {
                Ok(())
            }
        };
        let done = if write {
            self.inner.db.write(&mut work)
        } else {
            self.inner.db.read(&mut work)
        };
        match (done, out) {
            (Ok(()), Some(Ok(v))) => Ok(v),
            (_, Some(Err(e))) => Err(e),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(StoreError::RolledBack.into()),
        }
    }

    // ----- users, tokens, memberships -----

    /// Creates a user; returns false when it already existed (nothing changes then).
    pub fn create_user(&self, user_id: &str) -> Result<bool, StoreError> {
        if user_id.is_empty() {
            return Err(StoreError::Invalid("a user id cannot be empty".into()));
        }
        self.with_writer(|tx| {
            let n = tx.execute(
                "INSERT INTO users (user_id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                &[Param::Text(user_id), Param::Int(now_ms())],
            )?;
            Ok(n == 1)
        })
    }

    /// Whether a user exists.
    pub fn user_exists(&self, user_id: &str) -> Result<bool, StoreError> {
        self.with_reader(|tx| has_user(tx, user_id))
    }

    /// Issues a new random token (256 bits from the OS) for a user, valid for `ttl` (forever
    /// when `None`). Only its hash is stored: this is the one time the token is seen.
    pub fn issue_token(&self, user_id: &str, ttl: Option<Duration>) -> Result<String, StoreError> {
        let token = new_token().map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.add_token(user_id, &token, ttl)?;
        Ok(token)
    }

    /// Registers a given token string for a user (the demo's fixed tokens). Idempotent for the
    /// same user; a token that belongs to another user is refused.
    pub fn add_token(
        &self,
        user_id: &str,
        token: &str,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        if token.is_empty() {
            return Err(StoreError::Invalid("a token cannot be empty".into()));
        }
        let token = &hash_token(token);
        self.with_writer(|tx| {
            if !has_user(tx, user_id)? {
                return Err(StoreError::UnknownUser(user_id.to_string()));
            }
            tx.execute(
                "INSERT INTO tokens (token, user_id, created_at, expires_at, hashed)
                 VALUES (?1, ?2, ?3, ?4, TRUE) ON CONFLICT DO NOTHING",
                &[
                    Param::Text(token),
                    Param::Text(user_id),
                    Param::Int(now_ms()),
                    Param::OptInt(ttl_expiry(ttl)),
                ],
            )?;
            let owner = tx.query_opt(
                "SELECT user_id FROM tokens WHERE token = ?1",
                &[Param::Text(token)],
                |r| Ok(r.text(0)?.to_string()),
            )?;
            if owner.as_deref() != Some(user_id) {
                return Err(StoreError::Invalid(
                    "that token belongs to another user".into(),
                ));
            }
            Ok(())
        })
    }

    /// Revokes a token; returns false when no such token exists.
    pub fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let token = &hash_token(token);
        self.with_writer(|tx| {
            Ok(tx.execute(
                "UPDATE tokens SET revoked = TRUE WHERE token = ?1",
                &[Param::Text(token)],
            )? == 1)
        })
    }

    /// Sets a token's expiry to a given time in milliseconds since the epoch (`None`: never).
    /// Tests use it to make a token expire without waiting.
    pub fn set_token_expiry(
        &self,
        token: &str,
        expires_at_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let token = &hash_token(token);
        self.with_writer(|tx| {
            Ok(tx.execute(
                "UPDATE tokens SET expires_at = ?1 WHERE token = ?2",
                &[Param::OptInt(expires_at_ms), Param::Text(token)],
            )? == 1)
        })
    }

    /// Makes a user a member of a project; returns false when they already were. The project's
    /// records get fresh change-log positions, so the new member's next pull delivers them even
    /// if their cursor is past them (other members re-receive them unchanged, harmlessly).
    pub fn add_membership(&self, user_id: &str, project_id: &str) -> Result<bool, StoreError> {
        self.with_writer(|tx| {
            if !has_user(tx, user_id)? {
                return Err(StoreError::UnknownUser(user_id.to_string()));
            }
            let added = tx.execute(
                "INSERT INTO memberships (user_id, project_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                &[Param::Text(user_id), Param::Text(project_id)],
            )? == 1;
            if added {
                let positions = tx.query_all(
                    "SELECT position FROM records WHERE scope = ?1 ORDER BY position",
                    &[Param::Text(project_id)],
                    |r| r.int(0),
                )?;
                if !positions.is_empty() {
                    let first = reserve_positions(tx, positions.len() as i64)?;
                    for (i, old) in positions.iter().enumerate() {
                        tx.execute(
                            "UPDATE records SET position = ?1 WHERE position = ?2",
                            &[Param::Int(first + i as i64), Param::Int(*old)],
                        )?;
                    }
                }
            }
            Ok(added)
        })
    }

    /// Removes a user from a project; returns false when they were not a member. Every live
    /// record of the project is revoked for that user: their next pull of its entity delivers
    /// it as a tombstone (unless another of their projects still shows it), so it leaves their
    /// devices.
    pub fn remove_membership(&self, user_id: &str, project_id: &str) -> Result<bool, StoreError> {
        self.with_writer(|tx| {
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
                    }
                }
                log::info!(
                    "{user_id} left project {project_id}: {} records revoked",
                    records.len()
                );
            }
            Ok(removed)
        })
    }

    /// Every user with the number of projects they are a member of, sorted by id.
    pub fn users(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.with_reader(|tx| {
            tx.query_all(
                "SELECT u.user_id, (SELECT COUNT(*) FROM memberships m WHERE m.user_id = u.user_id)
                 FROM users u ORDER BY u.user_id",
                &[],
                |r| {
                    Ok((
                        r.text(0)?.to_string(),
                        usize::try_from(r.int(1)?).unwrap_or(0),
                    ))
                },
            )
        })
    }

    /// Makes sure a user authenticated elsewhere (by a JWT from the team's identity provider)
    /// exists, creating it on first sight; returns whether it was created. A read first, so an
    /// existing user costs no write.
    pub fn ensure_user(&self, user_id: &str) -> Result<bool, StoreError> {
        if self.user_exists(user_id)? {
            return Ok(false);
        }
        self.create_user(user_id)
    }

    /// The projects a user is a member of, sorted.
    pub fn memberships(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let mut v: Vec<String> = self
            .with_reader(|tx| user_scopes(tx, user_id))?
            .into_iter()
            .collect();
        v.sort();
        Ok(v)
    }

    // ----- records -----

    /// Creates or renames a project (a record of the entity scoped by its own key, `projects`
    /// in the sample). Returns its version.
    pub fn create_project(&self, project_id: &str, name: &str) -> Result<i64, StoreError> {
        let entity = self
            .inner
            .schema
            .project_entity()
            .ok_or_else(|| StoreError::UnknownEntity("(project entity)".into()))?
            .name()
            .to_string();
        let mut fields = Map::new();
        fields.insert("name".into(), Json::String(name.to_string()));
        self.upsert_record(&entity, project_id, &fields)
    }

    /// Server-side write, as if another system edited the record: creates it (required fields
    /// must be given) or applies `fields` over the current state; a deleted record is created
    /// anew. Every field may be written, read-only and server-only ones included; a server-set
    /// `"now"` field that `fields` does not give gets the server's time (a `"user"` one has no
    /// user to take). Bumps the version and the change-log position. Returns the new version.
    pub fn upsert_record(
        &self,
        entity: &str,
        key: &str,
        fields: &Map<String, Json>,
    ) -> Result<i64, StoreError> {
        let ent = self.ent_or_err(entity)?;
        check_key(key)?;
        let changes = ent.check_fields(fields).map_err(|p| match p {
            FieldProblem::Unknown(_) => StoreError::UnknownField {
                entity: entity.to_string(),
                field: fields
                    .keys()
                    .find(|k| ent.def.field_index(k).is_none())
                    .cloned()
                    .unwrap_or_default(),
            },
            FieldProblem::Invalid(m) => StoreError::Invalid(m),
        })?;
        self.with_writer(|tx| {
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
                        "`{entity}` needs field `{missing}` to be created"
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
            };
            save_row(tx, ent, key, old.as_ref(), next)
        })
    }

    /// Server-side delete: leaves a tombstone (version +1, fresh position). Returns the
    /// tombstone's version; a missing or already deleted record is `NotFound`.
    pub fn delete_record(&self, entity: &str, key: &str) -> Result<i64, StoreError> {
        let ent = self.ent_or_err(entity)?;
        self.with_writer(|tx| {
            let old = load_row(tx, ent, key)?;
            match old {
                Some(o) if !o.deleted => {
                    let next = NextState {
                        scope: &o.scope,
                        deleted: true,
                        data: &[],
                        writer: None,
                    };
                    save_row(tx, ent, key, Some(&o), next)
                }
                _ => Err(StoreError::NotFound {
                    entity: entity.to_string(),
                    key: key.to_string(),
                }),
            }
        })
    }

    /// A record's stored state (deleted ones included), or `None`.
    pub fn get_record(&self, entity: &str, key: &str) -> Result<Option<StoredRecord>, StoreError> {
        let ent = self.ent_or_err(entity)?;
        self.with_reader(|tx| {
            tx.query_opt(
                "SELECT scope, version, deleted, data, position FROM records WHERE entity = ?1 AND key = ?2",
                &[Param::Text(entity), Param::Text(key)],
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
        })
    }

    /// Number of live (not deleted) records of an entity.
    pub fn count_records(&self, entity: &str) -> Result<u64, StoreError> {
        self.ent_or_err(entity)?;
        self.with_reader(|tx| live_records(tx, entity))
    }

    /// The highest `seq` applied for a client's mutations of `entity` (`None`: nothing yet).
    pub fn client_last_seq(
        &self,
        client_id: &str,
        entity: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.with_reader(|tx| {
            let v = tx.query_opt(
                "SELECT last_seq FROM client_marks WHERE client_id = ?1 AND entity = ?2",
                &[Param::Text(client_id), Param::Text(entity)],
                |r| r.int(0),
            )?;
            Ok(v.and_then(|s| u64::try_from(s).ok()))
        })
    }

    /// The user a client id is bound to, if any.
    pub fn client_user(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        self.with_reader(|tx| {
            tx.query_opt(
                "SELECT user_id FROM clients WHERE client_id = ?1",
                &[Param::Text(client_id)],
                |r| Ok(r.text(0)?.to_string()),
            )
        })
    }

    /// The current end of the change log (the highest position handed out).
    pub fn log_position(&self) -> Result<i64, StoreError> {
        self.with_reader(|tx| {
            tx.query_opt(
                "SELECT value FROM counters WHERE name = 'position'",
                &[],
                |r| r.int(0),
            )?
            .ok_or_else(|| StoreError::Corrupt("the change-log counter is missing".into()))
        })
    }
}

/// Checks a record key's shape (non-empty, at most [`MAX_KEY_LEN`] bytes).
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(StoreError::Invalid(format!(
            "a key must be 1 to {MAX_KEY_LEN} bytes long"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_sample(dir.path().join("t.db")).expect("open");
        (dir, s)
    }

    fn obj(v: Json) -> Map<String, Json> {
        match v {
            Json::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn records_get_versions_and_positions() {
        let (_d, s) = store();
        assert_eq!(s.create_project("p1", "One").expect("project"), 1);
        let v = s
            .upsert_record(
                "tasks",
                "t1",
                &obj(json!({"project_id": "p1", "title": "A"})),
            )
            .expect("insert");
        assert_eq!(v, 1);
        let v = s
            .upsert_record("tasks", "t1", &obj(json!({"done": true})))
            .expect("update");
        assert_eq!(v, 2);
        let r = s.get_record("tasks", "t1").expect("get").expect("exists");
        assert_eq!(r.fields["title"], json!("A"));
        assert_eq!(r.fields["done"], json!(true));
        assert_eq!(r.fields["notes"], json!(null));
        assert_eq!(r.scope, "p1");
        assert_eq!(r.position, 3);
        assert_eq!(s.delete_record("tasks", "t1").expect("delete"), 3);
        assert!(
            s.get_record("tasks", "t1")
                .expect("get")
                .expect("tombstone")
                .deleted
        );
        assert!(matches!(
            s.delete_record("tasks", "t1"),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.count_records("tasks").expect("count"), 0);
        assert!(s
            .upsert_record("tasks", "t2", &obj(json!({"title": "no project"})))
            .is_err());
        assert!(s
            .upsert_record("tasks", "t2", &obj(json!({"colour": "red"})))
            .is_err());
        assert!(s.upsert_record("nope", "t2", &Map::new()).is_err());
    }

    #[test]
    fn migrations_and_layout_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        {
            let s = Store::open_sample(&path).expect("open");
            s.create_project("p1", "One").expect("project");
        }
        let s = Store::open_sample(&path).expect("reopen");
        assert_eq!(s.count_records("projects").expect("count"), 1);
        assert_eq!(s.log_position().expect("pos"), 1);
    }

    #[test]
    fn stored_data_survives_reordered_and_new_fields() {
        use crate::entities::{ScopeRule, ServedEntity};
        use syncline_protocol::{EntitySchema, FieldDef, FieldType};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let notes = |fields: &[(&str, FieldType)]| {
            let mut e = EntitySchema::new("notes", "id")
                .field(FieldDef::required("project_id", FieldType::Text));
            for (name, ty) in fields {
                e = e.field(FieldDef::new(name, *ty));
            }
            ServerSchema::new(vec![ServedEntity::new(
                e,
                ScopeRule::Field("project_id".into()),
            )])
            .expect("schema")
        };
        {
            let s = Store::open(
                &path,
                notes(&[("a", FieldType::Text), ("b", FieldType::Integer)]),
            )
            .expect("open");
            s.upsert_record(
                "notes",
                "n1",
                &obj(json!({"project_id": "p", "a": "x", "b": 7})),
            )
            .expect("insert");
        }
        let s = Store::open(
            &path,
            notes(&[
                ("c", FieldType::Boolean),
                ("b", FieldType::Integer),
                ("a", FieldType::Text),
            ]),
        )
        .expect("reopen");
        let r = s.get_record("notes", "n1").expect("get").expect("exists");
        assert_eq!(
            Json::Object(r.fields),
            json!({"project_id": "p", "a": "x", "b": 7, "c": null})
        );
        let page = s
            .pull_page(
                "nobody",
                &syncline_protocol::PullRequest {
                    entity: "notes".into(),
                    cursor: None,
                    limit: 10,
                    fields: vec!["c".into(), "a".into()],
                },
            )
            .expect("pull");
        assert!(page.upserts.is_empty(), "not a member");
        s.create_user("u").expect("user");
        s.add_membership("u", "p").expect("member");
        let page = s
            .pull_page(
                "u",
                &syncline_protocol::PullRequest {
                    entity: "notes".into(),
                    cursor: None,
                    limit: 10,
                    fields: vec!["c".into(), "b".into(), "a".into()],
                },
            )
            .expect("pull");
        assert_eq!(
            page.upserts,
            vec![vec![
                json!("n1"),
                json!(1),
                json!(null),
                json!(7),
                json!("x")
            ]]
        );
    }

    #[test]
    fn a_record_leaving_two_of_a_users_projects_is_one_tombstone() {
        let (_d, s) = store();
        s.create_user("u").expect("user");
        s.add_membership("u", "a").expect("member");
        s.add_membership("u", "b").expect("member");
        s.upsert_record("tasks", "t", &obj(json!({"project_id": "a", "title": "T"})))
            .expect("insert");
        s.upsert_record("tasks", "t", &obj(json!({"project_id": "b"})))
            .expect("move a→b");
        s.upsert_record("tasks", "t", &obj(json!({"project_id": "c"})))
            .expect("move b→c");
        let req = syncline_protocol::PullRequest {
            entity: "tasks".into(),
            cursor: None,
            limit: 10,
            fields: vec!["title".into()],
        };
        let page = s.pull_page("u", &req).expect("pull");
        assert!(page.upserts.is_empty());
        assert_eq!(page.tombstones, vec![("t".to_string(), 3)]);
        // Back in a: an upsert, no tombstone.
        s.upsert_record("tasks", "t", &obj(json!({"project_id": "a"})))
            .expect("move c→a");
        let page = s.pull_page("u", &req).expect("pull");
        assert_eq!(page.upserts.len(), 1);
        assert!(page.tombstones.is_empty());
    }

    #[test]
    fn tokens_and_memberships() {
        let (_d, s) = store();
        assert!(s.create_user("u").expect("user"));
        assert!(!s.create_user("u").expect("again"));
        assert!(s.issue_token("nobody", None).is_err());
        let t = s.issue_token("u", None).expect("token");
        assert!(s.revoke_token(&t).expect("revoke"));
        assert!(!s.revoke_token("nope").expect("revoke"));
        assert!(s.add_membership("u", "p1").expect("add"));
        assert!(!s.add_membership("u", "p1").expect("add again"));
        assert_eq!(s.memberships("u").expect("list"), vec!["p1".to_string()]);
        assert!(s.remove_membership("u", "p1").expect("remove"));
    }
}
