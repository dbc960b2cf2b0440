//! Test and benchmark support, compiled only with the `testing` feature (tests and benchmarks
//! enable it through their dev-dependencies; the server itself never does):
//!
//! - [`ScratchDb`] is a throw-away database on the backend the test run asks for:
//!   `SYNCLINE_TEST_BACKEND=postgres` (with `SYNCLINE_TEST_POSTGRES` naming a server where
//!   databases may be created) gives a fresh PostgreSQL database, dropped afterwards; otherwise a
//!   SQLite file in a temporary folder. The same tests thus run on both backends;
//! - [`TestServer`] runs a real server on a free loopback port with its own runtime and a
//!   temporary database, exposes the store for admin work, and can be stopped and restarted on
//!   the same port (to simulate an unreachable server);
//! - [`bulk_insert`] and [`bulk_insert_tasks`] fill a store with many records in one
//!   transaction: the data sets of the pull benchmarks and paging tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value as Json};
use tokio::sync::oneshot;

use crate::clock::now_ms;
pub mod fuzzing;

use crate::db::{Location, Param};
use crate::demo::{seed_demo, DemoSeed};
use crate::error::StoreError;
use crate::http::ServerOptions;
use crate::schema::ServerSchema;
use crate::store::{check_key, reserve_positions, FieldProblem, Store};

/// Why a test server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestServerError {
    /// Binding, the runtime or the temporary directory failed.
    #[error("test server: {0}")]
    Io(#[from] std::io::Error),
    /// The database could not be opened or seeded.
    #[error("test server: {0}")]
    Store(#[from] StoreError),
}

struct Running {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// The backend a test run uses, from `SYNCLINE_TEST_BACKEND` (`sqlite`, the default, or
/// `postgres`).
pub fn test_backend() -> &'static str {
    match std::env::var("SYNCLINE_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

/// A throw-away database for one test: a SQLite file in a temporary folder, or a fresh
/// PostgreSQL database (see the module's doc) that is dropped with it.
pub struct ScratchDb {
    location: Location,
    /// The folder of a SQLite file.
    _dir: Option<tempfile::TempDir>,
    /// The server URL and name of a PostgreSQL database to drop afterwards.
    postgres: Option<(String, String)>,
}

impl std::fmt::Debug for ScratchDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchDb")
            .field("location", &self.location)
            .finish()
    }
}

/// Runs statements on the PostgreSQL server at `url` (creating and dropping databases).
pub fn postgres_admin(url: &str, sql: &str) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Postgres(e.to_string()))?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, crate::db::pg_tls::tls()?).await?;
        let driver = tokio::spawn(connection);
        client.batch_execute(sql).await?;
        drop(client);
        let _ = driver.await;
        Ok(())
    })
}

/// `url` naming database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

impl ScratchDb {
    /// A fresh database on the run's backend.
    ///
    /// # Panics
    /// When it cannot be made (no temporary folder, PostgreSQL unreachable): test support only.
    pub fn new() -> ScratchDb {
        ScratchDb::try_new().unwrap_or_else(|e| panic!("cannot make a scratch database: {e}"))
    }

    /// [`ScratchDb::new`], returning errors.
    pub fn try_new() -> Result<ScratchDb, TestServerError> {
        if test_backend() == "postgres" {
            let server = std::env::var("SYNCLINE_TEST_POSTGRES").map_err(|_| {
                StoreError::Invalid(
                    "SYNCLINE_TEST_BACKEND=postgres needs SYNCLINE_TEST_POSTGRES=postgres://…"
                        .into(),
                )
            })?;
            let name = format!("syncline_test_{}", uuid::Uuid::new_v4().simple());
            postgres_admin(&server, &format!("CREATE DATABASE {name}"))?;
            return Ok(ScratchDb {
                location: Location::Postgres(with_database(&server, &name)),
                _dir: None,
                postgres: Some((server, name)),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("syncline-server-")
            .tempdir()?;
        Ok(ScratchDb {
            location: Location::Sqlite(dir.path().join("server.db")),
            _dir: Some(dir),
            postgres: None,
        })
    }

    /// Where it is, for [`Store::open`] or a server's `--db`.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The `--db` argument that names it.
    pub fn arg(&self) -> String {
        match &self.location {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => url.clone(),
        }
    }

    /// Opens it with the sample schema.
    pub fn open_sample(&self) -> Result<Store, StoreError> {
        Store::open_sample(self.location.clone())
    }
}

impl Default for ScratchDb {
    fn default() -> Self {
        ScratchDb::new()
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            if let Err(e) = postgres_admin(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ) {
                log::warn!("cannot drop the scratch database {name}: {e}");
            }
        }
    }
}

/// A sync server on `127.0.0.1:<free port>`, running on its own thread and tokio runtime until
/// [`TestServer::stop`] or drop.
pub struct TestServer {
    store: Store,
    options: ServerOptions,
    addr: SocketAddr,
    running: Option<Running>,
    // Dropped last: the database (when the server made its own).
    _db: Option<ScratchDb>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url())
            .field("db", &self.store.describe())
            .field("running", &self.running.is_some())
            .finish()
    }
}

fn run(
    listener: std::net::TcpListener,
    store: Store,
    options: ServerOptions,
) -> Result<Running, TestServerError> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("syncline-test-server")
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("syncline-test-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        log::error!("test server: cannot use the listener: {e}");
                        return;
                    }
                };
                // The server itself cuts what is still in flight after its grace; this wait only
                // backs that up. Not a fixed few seconds: a page still being sent at a stop
                // (operations.rs) gets the grace, however long a loaded machine takes to send it.
                let limit = options.shutdown_grace + Duration::from_secs(3);
                let (grace, graceful) = oneshot::channel::<()>();
                let server =
                    tokio::spawn(crate::serve_with(listener, store, options, async move {
                        let _ = graceful.await;
                    }));
                let _ = stopped.await;
                let _ = grace.send(());
                match tokio::time::timeout(limit, server).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(e))) => log::error!("test server failed: {e}"),
                    Ok(Err(e)) => log::error!("test server task failed: {e}"),
                    Err(_) => {
                        log::warn!(
                            "test server: connections still open after {limit:?}; dropping them"
                        )
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
    Ok(Running { stop, thread })
}

impl TestServer {
    /// Starts a server on a fresh scratch database ([`ScratchDb`]: SQLite, or PostgreSQL when
    /// the test run asks for it).
    ///
    /// # Panics
    /// When the server cannot start (no free port, no temporary directory): test support only.
    pub fn start() -> TestServer {
        TestServer::try_start().unwrap_or_else(|e| panic!("cannot start the test server: {e}"))
    }

    /// Starts a server on a fresh temporary database, seeded with the demo data
    /// ([`seed_demo`]: users alice, bob, carol with tokens `demo-alice`, `demo-bob`, `demo-carol`).
    ///
    /// # Panics
    /// When the server cannot start.
    pub fn with_demo() -> TestServer {
        let server = TestServer::start();
        if let Err(e) = seed_demo(server.store()) {
            panic!("cannot seed the demo data: {e}");
        }
        server
    }

    /// Starts a server on the database at `location` (a SQLite file is created if missing; the
    /// database is kept afterwards).
    ///
    /// # Panics
    /// When the server cannot start.
    pub fn start_at(location: impl Into<Location>) -> TestServer {
        TestServer::try_start_at(location)
            .unwrap_or_else(|e| panic!("cannot start the test server: {e}"))
    }

    /// Starts a server with the given options (limits, metrics token) on a fresh temporary
    /// database, seeded with the demo data before it starts (so a push hook in the options is
    /// not called about the seed).
    ///
    /// # Panics
    /// When the server cannot start.
    pub fn with_demo_options(options: ServerOptions) -> TestServer {
        let started = ScratchDb::try_new().and_then(|db| {
            let store = db.open_sample()?;
            seed_demo(&store)?;
            TestServer::launch(store, options, Some(db))
        });
        started.unwrap_or_else(|e| panic!("cannot start the seeded test server: {e}"))
    }

    /// [`TestServer::with_demo_options`] serving `schema` (the sample's entities with changed
    /// settings, say: write rules).
    pub fn try_with_demo_schema(
        schema: ServerSchema,
        options: ServerOptions,
    ) -> Result<TestServer, TestServerError> {
        let db = ScratchDb::try_new()?;
        let store = Store::open(db.location().clone(), schema)?;
        seed_demo(&store)?;
        TestServer::launch(store, options, Some(db))
    }

    /// [`TestServer::start`], returning errors.
    pub fn try_start() -> Result<TestServer, TestServerError> {
        TestServer::try_start_with_options(ServerOptions::default())
    }

    /// Starts a server with the given options on a fresh scratch database.
    pub fn try_start_with_options(options: ServerOptions) -> Result<TestServer, TestServerError> {
        let db = ScratchDb::try_new()?;
        let store = db.open_sample()?;
        TestServer::launch(store, options, Some(db))
    }

    /// [`TestServer::start_at`], returning errors.
    pub fn try_start_at(location: impl Into<Location>) -> Result<TestServer, TestServerError> {
        TestServer::launch(
            Store::open_sample(location)?,
            ServerOptions::default(),
            None,
        )
    }

    /// Starts a server with the given options on the database at `location` (kept
    /// afterwards): a second instance on a PostgreSQL database, with a push hook, say.
    pub fn try_start_at_with_options(
        location: impl Into<Location>,
        options: ServerOptions,
    ) -> Result<TestServer, TestServerError> {
        TestServer::launch(Store::open_sample(location)?, options, None)
    }

    /// Starts a server on an already opened store (any schema).
    pub fn try_start_with_store(store: Store) -> Result<TestServer, TestServerError> {
        TestServer::launch(store, ServerOptions::default(), None)
    }

    fn launch(
        store: Store,
        options: ServerOptions,
        db: Option<ScratchDb>,
    ) -> Result<TestServer, TestServerError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let running = run(listener, store.clone(), options.clone())?;
        Ok(TestServer {
            store,
            options,
            addr,
            running: Some(running),
            _db: db,
        })
    }

    /// Seeds the demo data into this server's database; returns the users and tokens.
    pub fn seed_demo(&self) -> Result<DemoSeed, StoreError> {
        seed_demo(&self.store)
    }

    /// The base URL, like `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Admin access to the server's database (the same store the server uses).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `sql` on the server's scratch database behind the server's back (tests that break
    /// the database on purpose).
    pub fn execute_sql(&self, sql: &str) -> Result<(), StoreError> {
        match self._db.as_ref().map(ScratchDb::location) {
            Some(Location::Sqlite(path)) => {
                rusqlite::Connection::open(path)?.execute_batch(sql)?;
                Ok(())
            }
            Some(Location::Postgres(url)) => postgres_admin(url, sql),
            None => Err(StoreError::Invalid(
                "only a server on its own scratch database can be changed behind its back".into(),
            )),
        }
    }

    /// The database file, when it is SQLite.
    pub fn db_path(&self) -> Option<PathBuf> {
        self.store.path().map(Path::to_path_buf)
    }

    /// Whether the server is serving.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Stops serving: new connections are refused, requests in flight get up to 3 s (or the
    /// options' shorter grace) to finish.
    /// The database stays; [`TestServer::restart`] serves it again on the same port.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            if running.thread.join().is_err() {
                log::error!("the test server thread panicked");
            }
        }
    }

    /// Serves again on the same port and database after [`TestServer::stop`] (no-op when
    /// running).
    pub fn restart(&mut self) -> Result<(), TestServerError> {
        if self.running.is_none() {
            let listener = std::net::TcpListener::bind(self.addr)?;
            self.running = Some(run(listener, self.store.clone(), self.options.clone())?);
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How [`bulk_insert_tasks`] makes record keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Random UUIDs (v4): every insert lands at a random place of the key index.
    Random,
    /// Time-ordered UUIDs (v7): inserts append to the key index.
    TimeOrdered,
}

/// Inserts many new records of one entity into `store` in one transaction (each checked like
/// [`Store::upsert_record`]; keys must be new). Returns how many were inserted.
pub fn bulk_insert(
    store: &Store,
    entity: &str,
    rows: impl IntoIterator<Item = (String, Map<String, Json>)>,
) -> Result<usize, StoreError> {
    let ent = store.ent_or_err(entity)?;
    let now = now_ms();
    let mut prepared = Vec::new();
    for (key, fields) in rows {
        check_key(&key)?;
        let mut data = ent.empty_data();
        for (slot, v) in ent.server_values(true, None, now) {
            data[slot] = v;
        }
        for (slot, v) in ent.check_fields(&fields).map_err(|p| match p {
            FieldProblem::Unknown(m) | FieldProblem::Invalid(m) => StoreError::Invalid(m),
        })? {
            data[slot] = v;
        }
        if let Some(missing) = ent.missing_required(&data) {
            return Err(StoreError::Invalid(format!(
                "`{entity}` needs field `{missing}`"
            )));
        }
        let scope = ent
            .scope_of(&key, &data)
            .ok_or_else(|| StoreError::Invalid("the record names no project".into()))?;
        prepared.push((key, scope, serde_json::to_string(&data)?));
    }
    let n = prepared.len();
    if n == 0 {
        return Ok(0);
    }
    store.with_writer(|tx| {
        let first = reserve_positions(tx, n as i64)?;
        for (i, (key, scope, text)) in prepared.iter().enumerate() {
            tx.execute(
                "INSERT INTO records (position, entity, key, scope, version, deleted, data)
                 VALUES (?1, ?2, ?3, ?4, 1, FALSE, ?5)",
                &[
                    Param::Int(first + i as i64),
                    Param::Text(entity),
                    Param::Text(key),
                    Param::Text(scope),
                    Param::Text(text),
                ],
            )?;
            tx.touched().scoped(scope, entity, first + i as i64);
        }
        Ok(n)
    })
}

/// Inserts `count` generated tasks (about 150 bytes of pulled data each) into a project of the
/// sample schema, in one transaction: the pull benchmark's data set. Keys are UUIDs of the given
/// kind: time-ordered v7 (what devices that follow the docs create) or random v4. Returns how
/// many were inserted.
pub fn bulk_insert_tasks(
    store: &Store,
    project_id: &str,
    count: usize,
    keys: KeyKind,
) -> Result<usize, StoreError> {
    const ASSIGNEES: [&str; 5] = ["alice", "bob", "carol", "dana", "eli"];
    const VERBS: [&str; 6] = [
        "Inspect",
        "Replace",
        "Calibrate",
        "Clean",
        "Check",
        "Repair",
    ];
    const THINGS: [&str; 6] = ["valve", "pump", "meter", "filter", "gasket", "sensor"];
    let base: i64 = 1_767_225_600_000;
    let rows = (0..count).map(|i| {
        let mut f = Map::new();
        let n = i as i64;
        f.insert("project_id".into(), Json::from(project_id));
        f.insert(
            "title".into(),
            Json::from(format!("{} {} #{i}", VERBS[i % 6], THINGS[(i / 6) % 6])),
        );
        f.insert(
            "notes".into(),
            Json::from(format!(
                "Station {}, bay {}: see last report",
                i % 97,
                i % 13
            )),
        );
        f.insert("done".into(), Json::from(i % 3 == 0));
        f.insert("priority".into(), Json::from(n % 5));
        f.insert("due_at".into(), Json::from(base + n * 3_600_000));
        f.insert("assignee".into(), Json::from(ASSIGNEES[i % 5]));
        f.insert(
            "estimate_hours".into(),
            Json::from((n % 8) as f64 * 0.5 + 0.5),
        );
        f.insert(
            "tags".into(),
            Json::Array(vec![
                Json::from("bulk"),
                Json::from(format!("zone-{}", i % 9)),
            ]),
        );
        f.insert("updated_at".into(), Json::from(base + n));
        let key = match keys {
            KeyKind::Random => uuid::Uuid::new_v4(),
            KeyKind::TimeOrdered => uuid::Uuid::now_v7(),
        };
        (key.to_string(), f)
    });
    bulk_insert(store, "tasks", rows)
}

/// The raw baseline of the feed's benchmark on any backend: the change log read in pages of
/// `page` rows (`SELECT position, key, data … WHERE position > ? ORDER BY position LIMIT ?`)
/// through the store's own connection, with none of the feed's work (scopes, JSON). Returns
/// the rows read.
pub fn raw_log_scan(store: &Store, page: i64) -> Result<usize, StoreError> {
    store.with_reader(|tx| {
        let (mut after, mut total) = (0i64, 0usize);
        loop {
            let mut last = None;
            let mut rows = 0usize;
            tx.query(
                "SELECT position, key, data FROM records WHERE position > ?1
                 ORDER BY position LIMIT ?2",
                &[Param::Int(after), Param::Int(page)],
                &mut |r| {
                    last = Some(r.int(0)?);
                    let _ = (r.text(1)?, r.text(2)?);
                    rows += 1;
                    Ok(crate::db::Next::Continue)
                },
            )?;
            total += rows;
            match last {
                Some(position) => after = position,
                None => return Ok(total),
            }
        }
    })
}

/// Rows per statement of [`raw_insert_baseline`], as the store's own bulk writes.
const RAW_ROWS_PER_INSERT: usize = 64;

/// The `INSERT` of [`RAW_ROWS_PER_INSERT`] rows into `raw_import`.
static RAW_INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let rows: Vec<String> = (0..RAW_ROWS_PER_INSERT)
        .map(|r| {
            format!(
                "(?{}, 'tasks', ?{}, 'p-harbor', 1, ?{})",
                3 * r + 1,
                3 * r + 2,
                3 * r + 3
            )
        })
        .collect();
    format!(
        "INSERT INTO raw_import (position, entity, key, scope, version, data) VALUES {}",
        rows.join(", ")
    )
});

/// The raw baseline of the import benchmark on any backend: `(key, data)` rows inserted into a
/// table shaped like `records` (`raw_import`, made here), [`RAW_ROWS_PER_INSERT`] rows per
/// statement, a transaction per `batch` rows, through the store's own connection: the least a
/// batched insert of these rows costs, with none of the import's checks. A tail shorter than
/// a statement is left out; returns the rows written.
pub fn raw_insert_baseline(
    store: &Store,
    rows: &[(String, String)],
    batch: usize,
) -> Result<usize, StoreError> {
    store.with_writer(|tx| {
        tx.execute("DROP TABLE IF EXISTS raw_import", &[])?;
        tx.execute(
            "CREATE TABLE raw_import (position BIGINT PRIMARY KEY, entity TEXT NOT NULL,
             key TEXT NOT NULL, scope TEXT NOT NULL, version BIGINT NOT NULL, data TEXT NOT NULL)",
            &[],
        )?;
        tx.execute(
            "CREATE UNIQUE INDEX raw_import_by_key ON raw_import (entity, key)",
            &[],
        )
    })?;
    let sql: &'static str = RAW_INSERT_SQL.as_str();
    let mut written = 0usize;
    for chunk in rows.chunks(batch.max(RAW_ROWS_PER_INSERT)) {
        store.with_writer(|tx| {
            for statement in chunk.chunks_exact(RAW_ROWS_PER_INSERT) {
                let positions: Vec<i64> = (0..statement.len())
                    .map(|i| (written + i + 1) as i64)
                    .collect();
                let mut params = Vec::with_capacity(3 * RAW_ROWS_PER_INSERT);
                for ((key, data), position) in statement.iter().zip(&positions) {
                    params.extend([Param::Int(*position), Param::Text(key), Param::Text(data)]);
                }
                tx.execute(sql, &params)?;
                written += statement.len();
            }
            Ok::<(), StoreError>(())
        })?;
    }
    Ok(written)
}

/// Serves `app` on a free loopback port, on a thread and runtime of its own, for as long as
/// the process runs: the receivers and endpoints of tests and benchmarks (a webhook receiver, a
/// write-rules endpoint). Returns its address.
///
/// # Panics
/// When no port or runtime can be had: test support only.
pub fn serve_on_loopback(app: axum::Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
            let _ = axum::serve(listener, app).await;
        });
    });
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_insert_is_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_sample(dir.path().join("t.db")).expect("open");
        assert_eq!(
            bulk_insert_tasks(&s, "p1", 250, KeyKind::Random).expect("bulk"),
            250
        );
        assert_eq!(s.count_records("tasks").expect("count"), 250);
        assert_eq!(s.log_position().expect("pos"), 250);
    }
}
