//! The PostgreSQL backend: several server instances on one database, through a connection pool
//! (`deadpool-postgres` over `tokio-postgres`).
//!
//! The server's data code is synchronous (it runs on tokio's blocking pool, like the SQLite
//! backend's), so this backend drives its connections on a small runtime of its own and waits
//! for each statement's answer. Statements are the shared SQL with `?N` rewritten to `$N`, once
//! per statement, and prepared once per connection.
//!
//! Write transactions first take one transaction-scoped advisory lock ([`WRITE_LOCK`]): writes
//! are serialized across instances, which keeps the change log commit-ordered (see `db/mod.rs`).
//! Reads run in `REPEATABLE READ READ ONLY` transactions: one snapshot for all their statements,
//! never waiting on a writer.
//!
//! A write transaction that touched the change log sends `NOTIFY` with what it touched before
//! it commits, so the notification is delivered exactly when the commit is; each instance's
//! listener (`listen.rs`) wakes its live streams from it.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::pg_tls::tls;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::IsolationLevel;

use super::interface::{Database, Next, Param, Row, Tx, Work};
use crate::error::StoreError;
use crate::wakeup::{Collector, Hub, CHANNEL};

/// The advisory lock every write transaction takes first (any fixed number; "syncline" in
/// ASCII, so it is recognizable in `pg_locks`).
pub const WRITE_LOCK: i64 = 0x73_796e_636c_696e;

/// The tables, as migrations applied in order (the `meta` table counts the applied ones): the
/// same tables as SQLite's, in PostgreSQL's types.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    token      TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE memberships (
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);

CREATE TABLE clients (
    client_id  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);

CREATE TABLE client_marks (
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    entity    TEXT NOT NULL,
    last_seq  BIGINT NOT NULL,
    PRIMARY KEY (client_id, entity)
);

CREATE TABLE push_results (
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    entity    TEXT NOT NULL,
    result    TEXT NOT NULL,
    PRIMARY KEY (client_id, seq)
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('position', 0);

CREATE TABLE layout (
    entity TEXT NOT NULL,
    field  TEXT NOT NULL,
    slot   BIGINT NOT NULL,
    PRIMARY KEY (entity, field)
);

CREATE TABLE records (
    position BIGINT PRIMARY KEY,
    entity   TEXT NOT NULL,
    key      TEXT NOT NULL,
    scope    TEXT NOT NULL,
    version  BIGINT NOT NULL,
    deleted  BOOLEAN NOT NULL DEFAULT FALSE,
    data     TEXT NOT NULL,
    writer   TEXT
);
CREATE UNIQUE INDEX records_by_key ON records (entity, key);
CREATE INDEX records_by_entity_position ON records (entity, position);
CREATE INDEX records_by_scope ON records (scope);

CREATE TABLE departures (
    entity    TEXT NOT NULL,
    key       TEXT NOT NULL,
    old_scope TEXT NOT NULL,
    version   BIGINT NOT NULL,
    position  BIGINT NOT NULL,
    PRIMARY KEY (entity, key, old_scope)
);
CREATE INDEX departures_by_entity_position ON departures (entity, position);
"#,
    r#"
-- Tokens are kept as SHA-256 hashes; rows from before are hashed when the store opens.
ALTER TABLE tokens ADD COLUMN hashed BOOLEAN NOT NULL DEFAULT FALSE;

-- A user removed from a project loses its records on their devices: one row per record, each
-- with a fresh change-log position, pulled by that user as a tombstone.
CREATE TABLE revocations (
    user_id  TEXT NOT NULL,
    entity   TEXT NOT NULL,
    key      TEXT NOT NULL,
    version  BIGINT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (user_id, entity, key)
);
CREATE INDEX revocations_by_user_position ON revocations (user_id, entity, position);
"#,
    r#"
CREATE TABLE declared_entities (
    entity      TEXT PRIMARY KEY,
    scope_field TEXT
);

CREATE TABLE declared_fields (
    entity     TEXT NOT NULL,
    field      TEXT NOT NULL,
    field_type TEXT NOT NULL,
    required   BOOLEAN NOT NULL,
    PRIMARY KEY (entity, field)
);
"#,
    r#"
-- The members of a project, for the push hook (a commit in a project concerns its members).
CREATE INDEX memberships_by_project ON memberships (project_id, user_id);
"#,
    r#"
CREATE TABLE services (
    name       TEXT PRIMARY KEY,
    all_scopes BOOLEAN NOT NULL,
    read_only  BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE service_scopes (
    name  TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    PRIMARY KEY (name, scope)
);

CREATE TABLE service_tokens (
    token      TEXT PRIMARY KEY,
    name       TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
"#,
    r#"
ALTER TABLE records ADD COLUMN author TEXT;
ALTER TABLE records ADD COLUMN changed_at BIGINT;
"#,
    r#"
CREATE TABLE idempotency_keys (
    service    TEXT NOT NULL,
    key        TEXT NOT NULL,
    request    TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (service, key)
);
"#,
    r#"
CREATE TABLE webhook_state (
    name         TEXT PRIMARY KEY,
    cursor       BIGINT NOT NULL,
    holder       TEXT,
    lease_until  BIGINT,
    delivered_at BIGINT
);
"#,
    r#"
CREATE INDEX departures_by_position ON departures (position);
"#,
    r#"
-- Attachments: who completed the upload of which blob, and its size: what counts against the
-- user's quota (a blob counts once per user who uploaded it). The bytes are in the blob store.
CREATE TABLE blob_uploads (
    user_id    TEXT NOT NULL,
    hash       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, hash)
);
CREATE INDEX blob_uploads_by_hash ON blob_uploads (hash);
"#,
];

/// Connections per server instance (PostgreSQL's own default limit is 100 in all).
const POOL_SIZE: usize = 16;

/// How long a request waits for a free connection before it fails.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// A PostgreSQL database.
pub struct PostgresDb {
    /// Drives the connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    described: String,
    /// Each shared statement in PostgreSQL's parameter syntax.
    dialect: Mutex<HashMap<&'static str, Arc<str>>>,
    /// Told of this instance's own commits (the push hook; the streams hear every instance's
    /// commits through the listener).
    hub: Arc<Hub>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The driver's own text is only "db error" for everything the server reports; the
        // server's message says what went wrong.
        match e.as_db_error() {
            Some(db) => StoreError::Postgres(format!("{} ({})", db.message(), db.code().code())),
            None => StoreError::Postgres(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Postgres(format!("no connection: {e}"))
    }
}

/// `url` without its password, for logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((who, host)) => {
            let user = who.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

/// `sql` with SQLite's `?N` parameters written as PostgreSQL's `$N`.
fn to_dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl PostgresDb {
    /// Connects to the database at `url` (it must exist) and brings its tables up to date.
    pub fn open(url: &str, hub: Arc<Hub>) -> Result<PostgresDb, StoreError> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Postgres(format!("bad database URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("syncline-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Postgres(format!("cannot start its runtime: {e}")))?;
        super::listen::spawn(&runtime, config.clone(), hub.clone());
        let manager = Manager::from_config(
            config,
            tls()?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Postgres(format!("cannot make the pool: {e}")))?;
        let db = PostgresDb {
            runtime: Some(runtime),
            pool,
            described: redact(url),
            dialect: Mutex::new(HashMap::new()),
            hub,
        };
        db.migrate()?;
        Ok(db)
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output, StoreError> {
        match &self.runtime {
            Some(rt) => Ok(rt.block_on(f)),
            None => Err(StoreError::Postgres("the database is closing".into())),
        }
    }

    /// Applies the migrations not yet applied, under the write lock (instances starting
    /// together migrate one after the other).
    fn migrate(&self) -> Result<(), StoreError> {
        self.block_on(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
                 INSERT INTO meta (name, value) VALUES ('schema_version', 0)
                 ON CONFLICT (name) DO NOTHING;",
            )
            .await?;
            let found: i64 = tx
                .query_one("SELECT value FROM meta WHERE name = 'schema_version'", &[])
                .await?
                .try_get(0)?;
            let applied = usize::try_from(found).unwrap_or(usize::MAX);
            if applied > MIGRATIONS.len() {
                return Err(StoreError::TooNew {
                    found,
                    known: MIGRATIONS.len(),
                });
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
                log::info!("migrating the database to schema version {}", i + 1);
                tx.batch_execute(sql).await?;
            }
            tx.execute(
                "UPDATE meta SET value = $1 WHERE name = 'schema_version'",
                &[&(MIGRATIONS.len() as i64)],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })?
    }

    /// The statement `sql` in PostgreSQL's syntax (rewritten once, then remembered).
    fn dialect(&self, sql: &'static str) -> Arc<str> {
        let mut map = self.dialect.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(sql)
            .or_insert_with(|| Arc::from(to_dollars(sql)))
            .clone()
    }

    fn run(&self, write: bool, work: &mut Work<'_>) -> Result<(), StoreError> {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Postgres("the database is closing".into()))?;
        let mut client = rt.block_on(self.pool.get())?;
        let tx = if write {
            let tx = rt.block_on(client.transaction())?;
            rt.block_on(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]))?;
            tx
        } else {
            rt.block_on(
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start(),
            )?
        };
        let mut pg = PgTx {
            db: self,
            rt,
            tx,
            touched: Collector::default(),
        };
        work(&mut pg)?;
        let touched = pg.touched.take().filter(|_| write);
        if let Some(touched) = &touched {
            // Inside the transaction: PostgreSQL delivers it at the commit, and not at all on a
            // rollback; every instance's listener hears it (this one's included).
            let payload = touched.payload();
            rt.block_on(
                pg.tx
                    .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]),
            )?;
        }
        rt.block_on(pg.tx.commit())?;
        if let Some(touched) = &touched {
            self.hub.committed_here(touched);
        }
        Ok(())
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics on an async thread (where the last server
        // handle may go); shutting down in the background never blocks.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Database for PostgresDb {
    fn write(&self, work: &mut Work<'_>) -> Result<(), StoreError> {
        self.run(true, work)
    }

    fn read(&self, work: &mut Work<'_>) -> Result<(), StoreError> {
        self.run(false, work)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.block_on(async {
            let client = self.pool.get().await?;
            client.simple_query("SELECT 1").await?;
            Ok(())
        })?
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}

struct PgTx<'a> {
    db: &'a PostgresDb,
    rt: &'a tokio::runtime::Runtime,
    tx: deadpool_postgres::Transaction<'a>,
    touched: Collector,
}

fn bind<'p>(params: &'p [Param<'p>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| -> &(dyn ToSql + Sync) {
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

impl Tx for PgTx<'_> {
    fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let sql = self.db.dialect(sql);
        self.rt.block_on(async {
            let stmt = self.tx.prepare_cached(&sql).await?;
            Ok(self.tx.execute(&stmt, bind(params).as_slice()).await?)
        })
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<Next, StoreError>,
    ) -> Result<(), StoreError> {
        let sql = self.db.dialect(sql);
        let rows = self.rt.block_on(async {
            let stmt = self.tx.prepare_cached(&sql).await?;
            self.tx.query(&stmt, bind(params).as_slice()).await
        })?;
        for row in &rows {
            if each(&PgRow(row))? == Next::Stop {
                break;
            }
        }
        Ok(())
    }

    fn touched(&mut self) -> &mut Collector {
        &mut self.touched
    }
}

struct PgRow<'r>(&'r tokio_postgres::Row);

impl Row for PgRow<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.0.try_get(i)?)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.0.try_get(i)?)
    }

    fn text(&self, i: usize) -> Result<&str, StoreError> {
        Ok(self.0.try_get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<&str>, StoreError> {
        Ok(self.0.try_get(i)?)
    }

    fn bool(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.0.try_get(i)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_rewritten_outside_quotes() {
        assert_eq!(
            to_dollars("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d IN (?12)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d IN ($12)"
        );
    }

    #[test]
    fn connections_use_tls_when_the_url_asks_for_it() {
        let scratch = crate::testing::ScratchDb::new();
        let crate::db::Location::Postgres(url) = scratch.location() else {
            println!("skipped: the run is on SQLite");
            return;
        };
        let db = PostgresDb::open(url, Arc::new(Hub::new())).expect("open");
        let mut ssl = None;
        db.read(&mut |tx| {
            ssl = tx.query_opt(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
                |r| r.bool(0),
            )?;
            Ok(())
        })
        .expect("read");
        assert_eq!(ssl, Some(url.contains("sslmode=require")), "{url}");
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redact("postgres://syncline:s3cret@db.internal:5432/app"),
            "postgres://syncline@db.internal:5432/app"
        );
        assert_eq!(
            redact("postgres://localhost/app"),
            "postgres://localhost/app"
        );
    }
}
