//! The embedded backend: one SQLite file in WAL mode, one writer connection behind a mutex and a
//! few read connections (WAL readers see the last committed state and never block the writer).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ToSql, TransactionBehavior};

use super::interface::{Database, Next, Param, Row, Tx, Work};
use crate::error::StoreError;
use crate::wakeup::{Collector, Hub};

/// The tables, as migrations applied in order; `PRAGMA user_version` counts the applied ones.
/// Statements elsewhere are written in SQL both backends speak; these definitions are SQLite's
/// (`postgres.rs` has the same tables in PostgreSQL's types).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE tokens (
    token      TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE memberships (
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id)
) WITHOUT ROWID;

CREATE TABLE clients (
    client_id  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Highest seq applied per client and entity: clients sync entities (units) independently.
CREATE TABLE client_marks (
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    entity    TEXT NOT NULL,
    last_seq  INTEGER NOT NULL,
    PRIMARY KEY (client_id, entity)
) WITHOUT ROWID;

CREATE TABLE push_results (
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    entity    TEXT NOT NULL,
    result    TEXT NOT NULL,
    PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('position', 0);

CREATE TABLE layout (
    entity TEXT NOT NULL,
    field  TEXT NOT NULL,
    slot   INTEGER NOT NULL,
    PRIMARY KEY (entity, field)
) WITHOUT ROWID;

CREATE TABLE records (
    position INTEGER PRIMARY KEY,
    entity   TEXT NOT NULL,
    key      TEXT NOT NULL,
    scope    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    deleted  INTEGER NOT NULL DEFAULT 0,
    data     TEXT NOT NULL,
    writer   TEXT             -- client id of the last change; NULL when made on the server
);
CREATE UNIQUE INDEX records_by_key ON records (entity, key);
CREATE INDEX records_by_entity_position ON records (entity, position);

CREATE TABLE departures (
    entity    TEXT NOT NULL,
    key       TEXT NOT NULL,
    old_scope TEXT NOT NULL,
    version   INTEGER NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (entity, key, old_scope)
) WITHOUT ROWID;
CREATE INDEX departures_by_entity_position ON departures (entity, position);
"#,
    r#"
-- Tokens are kept as SHA-256 hashes; rows from before are hashed when the store opens.
ALTER TABLE tokens ADD COLUMN hashed INTEGER NOT NULL DEFAULT 0;

-- A user removed from a project loses its records on their devices: one row per record, each
-- with a fresh change-log position, pulled by that user as a tombstone.
CREATE TABLE revocations (
    user_id  TEXT NOT NULL,
    entity   TEXT NOT NULL,
    key      TEXT NOT NULL,
    version  INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (user_id, entity, key)
) WITHOUT ROWID;
CREATE INDEX revocations_by_user_position ON revocations (user_id, entity, position);
"#,
    r#"
-- The declared schema the server last started with (its schema file): the next start checks a
-- changed file against it (docs/schema.md, "Changing the schema"). Rows are never deleted: an
-- entity or field name, once used, keeps its type and scope rule, because its stored values
-- stay in `records` even while the file leaves it out.
CREATE TABLE declared_entities (
    entity      TEXT PRIMARY KEY,
    scope_field TEXT             -- NULL: each record is its own scope (its key)
) WITHOUT ROWID;

CREATE TABLE declared_fields (
    entity     TEXT NOT NULL,
    field      TEXT NOT NULL,
    field_type TEXT NOT NULL,    -- text, integer, real, boolean, timestamp or json
    required   INTEGER NOT NULL, -- 0 once the file leaves the field out: new records lack it
    PRIMARY KEY (entity, field)
) WITHOUT ROWID;
"#,
    r#"
-- The members of a project, for the push hook (a commit in a project concerns its members).
CREATE INDEX memberships_by_project ON memberships (project_id, user_id);
"#,
    r#"
-- Service identities: the office's systems on the backend API (docs/backend.md). Not users: no
-- memberships, never in a project's member list; they reach the scopes they were given.
CREATE TABLE services (
    name       TEXT PRIMARY KEY,
    all_scopes INTEGER NOT NULL,
    read_only  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE service_scopes (
    name  TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    PRIMARY KEY (name, scope)
) WITHOUT ROWID;

-- Kept as SHA-256 hashes, as device tokens are.
CREATE TABLE service_tokens (
    token      TEXT PRIMARY KEY,
    name       TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"#,
    r#"
-- Who made a record's last change (a user or a service; NULL: the server itself) and when, in
-- ms since the epoch: what the backend's change feed reports (NULL for changes made before).
ALTER TABLE records ADD COLUMN author TEXT;
ALTER TABLE records ADD COLUMN changed_at INTEGER;
"#,
    r#"
-- A service's write under an Idempotency-Key: the request's fingerprint and the answer given,
-- so a retry gets the same answer instead of a second write.
CREATE TABLE idempotency_keys (
    service    TEXT NOT NULL,
    key        TEXT NOT NULL,
    request    TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (service, key)
) WITHOUT ROWID;
"#,
    r#"
-- A webhook's durable delivery cursor, and the lease that lets one instance deliver at a time.
CREATE TABLE webhook_state (
    name         TEXT PRIMARY KEY,
    cursor       INTEGER NOT NULL,
    holder       TEXT,
    lease_until  INTEGER,
    delivered_at INTEGER
) WITHOUT ROWID;
"#,
    r#"
-- The change feed's moved-out changes read departures by position, across entities.
CREATE INDEX departures_by_position ON departures (position);
"#,
    r#"
-- Attachments: who completed the upload of which blob, and its size: what counts against the
-- user's quota (a blob counts once per user who uploaded it). The bytes are in the blob store.
CREATE TABLE blob_uploads (
    user_id    TEXT NOT NULL,
    hash       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, hash)
);
CREATE INDEX blob_uploads_by_hash ON blob_uploads (hash);
"#,
];

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 4;

/// An embedded SQLite database file.
pub struct SqliteDb {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Woken after each commit that touched something (one instance per file: no other
    /// process needs to hear).
    hub: Arc<Hub>,
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    // A push is acknowledged only once durable: the client then forgets it.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The WAL shrinks back after a big write (a bulk insert) is checkpointed.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path)?;
    conn.pragma_update(None, "query_only", "ON")?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    conn.pragma_update(None, "cache_size", -16 * 1024)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(found).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            found,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        log::info!("migrating the database to schema version {}", i + 1);
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves SQLite consistent (an open transaction is rolled back
    // when dropped), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteDb {
    /// Opens (creating if needed) the file at `path` and brings its tables up to date.
    pub fn open(path: &Path, hub: Arc<Hub>) -> Result<SqliteDb, StoreError> {
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        Ok(SqliteDb {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            hub,
        })
    }
}

impl Database for SqliteDb {
    fn write(&self, work: &mut Work<'_>) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stx = SqliteTx::new(&tx);
        work(&mut stx)?;
        let touched = stx.touched.take();
        tx.commit()?;
        // After the commit: a stream woken now finds the change in its pull. Still under the
        // writer's lock, so commits are published in commit order.
        if let Some(touched) = touched {
            self.hub.committed_here(&touched);
            self.hub.publish(touched);
        }
        Ok(())
    }

    fn read(&self, work: &mut Work<'_>) -> Result<(), StoreError> {
        let pooled = lock(&self.readers).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        // One read transaction: every statement of `work` sees the same snapshot.
        let out = match conn.transaction_with_behavior(TransactionBehavior::Deferred) {
            Ok(tx) => work(&mut SqliteTx::new(&tx)),
            Err(e) => Err(e.into()),
        };
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read(&mut |tx| tx.query("SELECT 1", &[], &mut |_| Ok(Next::Stop)))
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn file(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// A transaction on one of the connections.
struct SqliteTx<'c> {
    conn: &'c Connection,
    touched: Collector,
}

impl<'c> SqliteTx<'c> {
    fn new(conn: &'c Connection) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            touched: Collector::default(),
        }
    }
}

fn bind<'p>(params: &'p [Param<'p>]) -> Vec<&'p dyn ToSql> {
    params
        .iter()
        .map(|p| -> &dyn ToSql {
            match p {
                Param::Int(v) => v,
                Param::OptInt(v) => v,
                Param::Text(v) => v,
                Param::OptText(v) => v,
                Param::Bool(v) => v,
            }
        })
        .collect()
}

impl Tx for SqliteTx<'_> {
    fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let n = self
            .conn
            .prepare_cached(sql)?
            .execute(bind(params).as_slice())?;
        Ok(n as u64)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<Next, StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(bind(params).as_slice())?;
        while let Some(row) = rows.next()? {
            if each(&SqliteRow(row))? == Next::Stop {
                break;
            }
        }
        Ok(())
    }

    fn touched(&mut self) -> &mut Collector {
        &mut self.touched
    }
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

fn corrupt(i: usize, what: &str) -> StoreError {
    StoreError::Corrupt(format!("column {i} is not {what}"))
}

impl Row for SqliteRow<'_, '_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.0.get(i)?)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.0.get(i)?)
    }

    fn text(&self, i: usize) -> Result<&str, StoreError> {
        match self.0.get_ref(i)? {
            ValueRef::Text(t) => std::str::from_utf8(t).map_err(|_| corrupt(i, "UTF-8 text")),
            _ => Err(corrupt(i, "text")),
        }
    }

    fn opt_text(&self, i: usize) -> Result<Option<&str>, StoreError> {
        match self.0.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(Some)
                .map_err(|_| corrupt(i, "UTF-8 text")),
            _ => Err(corrupt(i, "text")),
        }
    }

    fn bool(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.0.get(i)?)
    }
}

/// The query plan SQLite picks for `sql` with these parameters (tests check the pull's plan).
#[cfg(test)]
pub(crate) fn explain(path: &Path, sql: &str, params: &[Param<'_>]) -> Result<String, StoreError> {
    let conn = open_reader(path)?;
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map(bind(params).as_slice(), |r| r.get::<_, String>(3))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
}
