//! The local store: one SQLite file (bundled SQLite, WAL) holding the entity tables, the outbox,
//! the conflict inbox, the sync-request queue, the pull cursors and the client's identity.
//!
//! Exactly one writer connection, behind a mutex: every write and its outbox entry commit in one
//! transaction, and a pulled page's cursor commits with its last rows (a page is applied in
//! parts when local writes wait). Reads use a second, read-only connection, so the app can read while a page is being
//! applied; a third one only checkpoints the WAL, on its own thread.
//!
//! The modules below hold free functions over a connection or transaction; only this one owns
//! connections, takes locks and decides where transactions begin and end:
//! `sql` (entity-table SQL, the leaf) ← `outbox`, `inbox`, `queue` (their tables) ← `records`,
//! `settle` ← `apply`, and `migrations`.

mod apply;
mod blobs;
mod fingerprint;
mod inbox;
mod migrations;
mod outbox;
mod queue;
mod records;
mod salvage;
mod settle;
mod sql;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction};
use syncline_protocol::{
    ConflictPolicy, EntitySchema, Mutation, MutationResult, OnConflict, Schema, SyncMode, Value,
};

pub(crate) use apply::{PageStats, PushStats};
pub(crate) use blobs::Upload;
pub(crate) use fingerprint::Fingerprint;
pub use salvage::Salvage;
#[cfg(any(test, feature = "testing"))]
use syncline_protocol::PullPage;

use crate::changes::Changes;
use crate::conflict::{Conflict, Resolution};
use crate::error::{Error, Result};
use crate::mutation::{MutationReceipt, MutationStage, QuarantinedMutation};
use crate::pulled::PulledPage;
use crate::queue::{QueueChange, Queued};
use crate::record::{Counts, Page, Query, Record};
use crate::shared::lock;
use crate::status::StorageErrorKind;

/// The folder of the attachments of the database at `path`: `<path>.attachments`.
fn attachments_folder(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".attachments");
    PathBuf::from(name)
}

/// How long a connection waits for SQLite's own file lock (another process, a checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps each cached statement's query plan when new values are bound to it. Without this,
/// SQLite marks a statement expired when a parameter its planner looked at (a `LIMIT`, an `IN`
/// list) is bound again, so every run of a cached statement was compiled again (measured: a
/// re-query of 50 rows spent about a fifth of its time compiling). The store never runs
/// `ANALYZE`, so no plan could profit from the bound values anyway.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// The record of `e` with `key`, with its sync state.
fn read_with_state(conn: &Connection, e: &EntitySchema, key: &str) -> Result<Option<Record>> {
    let mut record = sql::read_record(conn, e, key)?;
    if let Some(record) = record.as_mut() {
        records::with_states(conn, e, std::slice::from_mut(record))?;
    }
    Ok(record)
}

/// How many mutations are pending and quarantined and how many conflicts wait, as of `commit`.
fn read_counts(conn: &Connection, commit: u64) -> Result<Counts> {
    let (pending, quarantined) = outbox::counts(conn)?;
    Ok(Counts {
        pending,
        quarantined,
        conflicts: inbox::count(conn)?,
        commit,
    })
}

/// Longest a pulled page waits for other writes to go first: a sync is never starved.
const YIELD_TO_WRITES: Duration = Duration::from_millis(20);

/// Prepared statements the read-only connection keeps (rusqlite's default is 16).
const READER_STATEMENTS: usize = 128;

/// The local SQLite store.
pub(crate) struct Store {
    /// The folder of attachments' files (`<db>.attachments`).
    attachments: PathBuf,
    /// First, so stopped (and its connection closed) before the connections below.
    checkpointer: Checkpointer,
    // Declared (so dropped) before the writer: the last connection to close checkpoints the WAL
    // into the database file and removes it, and a read-only one cannot.
    reader: Mutex<Connection>,
    writer: Mutex<Connection>,
    /// Threads waiting to take `writer` in [`Store::write`]: a pulled page lets them go first.
    writers_waiting: AtomicUsize,
    /// Commits of the writer so far, bumped under the writer's lock: orders published counts.
    commits: AtomicU64,
    schema: Schema,
    /// Each entity's write-path SQL, built once here rather than on every write.
    statements: HashMap<String, sql::EntityStatements>,
    client_id: String,
    /// Bumped after every commit that changes an entity's records or their sync state (a
    /// conflict or a quarantined mutation is part of its record's sync state).
    changes: Changes,
    /// Last: unregistered after the connections above have closed.
    _open: OpenGuard,
}

impl Store {
    /// Opens (creating if needed) the store at `path` for `schema`, migrating its tables.
    ///
    /// A field added to an entity since the last open gets its column, and the entity's pull
    /// cursor is reset so the next sync fills it. Changing a field's type is refused: give the
    /// field a new name instead.
    pub(crate) fn open(path: &Path, schema: Schema) -> Result<Store> {
        let mut writer = Connection::open(path)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer. NORMAL: a commit survives the app being killed
        // (not a power cut, which would cost an fsync per write and the local-write budget).
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        // A 4 MiB page cache and checkpoints every 4,000 pages (16 MiB of WAL): a pulled page
        // dirties many index pages at random (keys are UUIDs), and checkpointing after nearly
        // every page (the default 1,000) made initial syncs I/O bound. See docs/benchmarks.md.
        writer.pragma_update(None, "cache_size", -4000)?;
        // The WAL is checkpointed by a thread of its own (`Checkpointer`): an automatic
        // checkpoint runs on the thread whose commit crosses the limit, and a user's write then
        // waited for a 16 MiB copy and two fsyncs (docs/benchmarks.md, local write latency).
        // The automatic one stays, far above, in case that thread falls behind.
        writer.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
        stable_plans(&writer)?;
        migrations::migrate(&mut writer)?;
        migrations::ensure_entity_tables(&mut writer, &schema)?;
        let client_id = migrations::client_id(&writer)?;
        queue::recover(&writer)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        stable_plans(&reader)?;
        // Each live query's page has a statement of its own shape (filters, sort): room for
        // many open lists, so none is compiled again per round.
        reader.set_prepared_statement_cache_capacity(READER_STATEMENTS);
        let statements = schema
            .entities()
            .iter()
            .map(|e| (e.name.clone(), sql::EntityStatements::of(e)))
            .collect();
        let checkpointer = Checkpointer::start(path)?;
        Ok(Store {
            attachments: attachments_folder(path),
            checkpointer,
            statements,
            writer: Mutex::new(writer),
            writers_waiting: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            reader: Mutex::new(reader),
            schema,
            client_id,
            changes: Changes::default(),
            _open: OpenGuard::new(path),
        })
    }

    /// The folder of attachments' files, beside the database.
    pub(crate) fn attachments_folder(&self) -> &Path {
        &self.attachments
    }

    /// Where the file of blob `hash` is (or goes) in the cache: derived from the database's
    /// place, never stored, so a moved app container still finds it.
    pub(crate) fn blob_path(&self, hash: &str) -> PathBuf {
        self.attachments.join(&hash[..2.min(hash.len())]).join(hash)
    }

    /// Writes an attachment reference into a record's field and notes that its mutation waits
    /// for the blob, in one transaction (the file is in the cache already).
    pub(crate) fn attach_counted(
        &self,
        entity: &str,
        key: &str,
        field: &str,
        reference: syncline_protocol::AttachmentRef,
    ) -> Result<(Option<MutationReceipt>, Counts)> {
        let e = self.changeable(entity)?;
        let sql = self.statements_of(e)?;
        let (hash, size) = (reference.sha256.clone(), reference.size);
        let changes = HashMap::from([(field.to_string(), Value::Attachment(reference))]);
        let (receipt, counts) = self.write_counted(|tx| {
            blobs::cached(tx, &hash, size)?;
            let receipt = records::update(tx, e, sql, key, changes)?;
            if let Some(r) = &receipt {
                blobs::reference(tx, &r.mutation_id, &hash, size)?;
            }
            Ok(receipt)
        })?;
        if receipt.is_some() {
            self.changes.committed(&e.name);
        }
        Ok((receipt, counts))
    }

    /// The blobs waiting to be uploaded, oldest first.
    pub(crate) fn blobs_to_upload(&self) -> Result<Vec<Upload>> {
        self.read(blobs::waiting)
    }

    /// How many blobs wait to be uploaded, and their bytes.
    pub(crate) fn blob_uploads_waiting(&self) -> Result<(u64, u64)> {
        self.read(blobs::waiting_totals)
    }

    /// Keeps (or forgets) the server's upload id of a blob.
    pub(crate) fn set_blob_upload_id(&self, hash: &str, upload_id: Option<&str>) -> Result<()> {
        self.write(|tx| blobs::set_upload_id(tx, hash, upload_id))
    }

    /// The blob is complete on the server: its held mutations go out with the next push.
    pub(crate) fn blob_uploaded(&self, hash: &str) -> Result<usize> {
        self.write(|tx| blobs::complete(tx, hash))
    }

    /// The server refused the blob for good: its mutations are quarantined with the reason.
    pub(crate) fn blob_refused(&self, hash: &str, code: &str, message: &str) -> Result<usize> {
        let n = self.write(|tx| blobs::refuse(tx, hash, code, message))?;
        for e in self.schema.entities() {
            self.changes.committed(&e.name);
        }
        Ok(n)
    }

    /// Whether the cache holds the file of `hash` (by the store's word; the file is checked
    /// when read).
    pub(crate) fn blob_is_cached(&self, hash: &str) -> Result<bool> {
        self.read(|conn| blobs::is_cached(conn, hash))
    }

    /// Notes a file now in the cache (or used again).
    pub(crate) fn blob_cached(&self, hash: &str, size: u64) -> Result<()> {
        self.write(|tx| blobs::cached(tx, hash, size))
    }

    /// Forgets a cached file (evicted, or found damaged).
    pub(crate) fn blob_uncached(&self, hash: &str) -> Result<()> {
        self.write(|tx| blobs::uncached(tx, hash))
    }

    /// Cached files the cache may drop, least recently used first, and the cache's bytes.
    pub(crate) fn blobs_evictable(&self) -> Result<(Vec<(String, u64)>, u64)> {
        self.read(blobs::evictable)
    }

    /// The schema the store was opened with.
    pub(crate) fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The per-entity change counters live queries wait on.
    pub(crate) fn changes(&self) -> &Changes {
        &self.changes
    }

    /// This device's client id (made on first open, kept for the life of the file).
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Runs `work` in one write transaction, committed when it succeeds.
    ///
    /// `BEGIN IMMEDIATE`: the write lock is taken first, waiting up to [`BUSY_TIMEOUT`] for
    /// another connection to the file (another process). A deferred transaction reads first and
    /// takes the lock at its first write; when another connection has committed in between,
    /// SQLite fails it at once (`SQLITE_BUSY_SNAPSHOT`, no busy wait), and a local write failed
    /// with "database is locked" (found by the crash harness, `tests/crash.rs`).
    fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        let mut conn = lock(&self.writer);
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        tx.commit()?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.checkpointer.wrote();
        Ok(out)
    }

    /// [`Store::write`], with the counts as `work` left them, read in the same transaction.
    fn write_counted<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<(T, Counts)> {
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        let mut conn = lock(&self.writer);
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        // Numbered before the commit, under the writer's lock: the next commit gets the next.
        let commit = self.commits.load(Ordering::SeqCst) + 1;
        let counts = read_counts(&tx, commit)?;
        tx.commit()?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.checkpointer.wrote();
        Ok((out, counts))
    }

    /// [`Store::write`] for bulk work (a pulled page): writes already waiting for the writer go
    /// first (for at most [`YIELD_TO_WRITES`]). The mutex is not fair: the thread applying pages
    /// took it again for the next page before a woken local write ran, and a user's edit waited
    /// behind several pages (p99 34 ms during a pull, `docs/benchmarks.md`).
    fn write_after_waiting<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let until = Instant::now() + YIELD_TO_WRITES;
        while self.writers_waiting.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_micros(20));
        }
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        tx.commit()?;
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.checkpointer.wrote();
        Ok(out)
    }

    /// Caps the database at `pages` pages (SQLite's `max_page_count`): a full disk, for tests.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn limit_pages(&self, pages: i64) -> Result<i64> {
        let conn = lock(&self.writer);
        Ok(conn.pragma_update_and_check(None, "max_page_count", pages, |r| r.get(0))?)
    }

    /// Makes the writer connection refuse every write (`PRAGMA query_only`), or accept them
    /// again: a database file that became read-only, for tests. SQLite answers such writes with
    /// `SQLITE_READONLY`, the code a read-only file or mount gives; file modes cannot stand in
    /// for it where the tests run as root (who may write any file) or on an open file.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn set_read_only(&self, read_only: bool) -> Result<()> {
        let conn = lock(&self.writer);
        Ok(conn.pragma_update(None, "query_only", read_only)?)
    }

    /// Pages the database holds now.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn page_count(&self) -> Result<i64> {
        let conn = lock(&self.writer);
        Ok(conn.pragma_query_value(None, "page_count", |r| r.get(0))?)
    }

    /// Runs `work` on the read-only connection (never waits for the writer), in one read
    /// transaction: every statement of `work` sees the same commit (a page and its records'
    /// sync states agree).
    pub(crate) fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.reader);
        let snapshot = conn.unchecked_transaction()?;
        work(&snapshot)
    }

    /// The write-path SQL of `e` (built at open for every entity of the schema).
    fn statements_of(&self, e: &EntitySchema) -> Result<&sql::EntityStatements> {
        self.statements
            .get(&e.name)
            .ok_or_else(|| Error::Corrupt(format!("no statements for entity `{}`", e.name)))
    }

    /// An entity the device may write to.
    fn writable(&self, entity: &str) -> Result<&EntitySchema> {
        let e = self.schema.entity(entity)?;
        if e.sync.mode == SyncMode::ReadOnly {
            return Err(Error::ReadOnly(entity.to_string()));
        }
        Ok(e)
    }

    /// An entity whose records the device may change and delete.
    fn changeable(&self, entity: &str) -> Result<&EntitySchema> {
        let e = self.writable(entity)?;
        if e.sync.mode == SyncMode::AppendOnly {
            return Err(Error::AppendOnly(entity.to_string()));
        }
        Ok(e)
    }

    /// Creates a record and its outbox entry, in one transaction.
    #[cfg(any(test, feature = "testing"))] // the client takes the counts too (`*_counted`)
    pub(crate) fn insert(&self, entity: &str, record: Record) -> Result<MutationReceipt> {
        self.insert_counted(entity, record)
            .map(|(receipt, _)| receipt)
    }

    /// [`Store::insert`], with the counts after it read in the same transaction: the status
    /// needs them after every local write, and reading them in a read transaction of its own
    /// cost ~23,000 instructions of a ~200,000-instruction write (`docs/benchmarks.md`).
    pub(crate) fn insert_counted(
        &self,
        entity: &str,
        record: Record,
    ) -> Result<(MutationReceipt, Counts)> {
        let e = self.writable(entity)?;
        let sql = self.statements_of(e)?;
        let out = self.write_counted(|tx| records::insert(tx, e, sql, record))?;
        self.changes.committed(&e.name);
        Ok(out)
    }

    /// Changes some fields of a record, recording only those that really changed; `None` when
    /// nothing changed.
    #[cfg(any(test, feature = "testing"))] // the client takes the counts too (`*_counted`)
    pub(crate) fn update(
        &self,
        entity: &str,
        key: &str,
        changes: HashMap<String, Value>,
    ) -> Result<Option<MutationReceipt>> {
        self.update_counted(entity, key, changes)
            .map(|(receipt, _)| receipt)
    }

    /// [`Store::update`], with the counts after it read in the same transaction (see
    /// [`Store::insert_counted`]).
    pub(crate) fn update_counted(
        &self,
        entity: &str,
        key: &str,
        changes: HashMap<String, Value>,
    ) -> Result<(Option<MutationReceipt>, Counts)> {
        let e = self.changeable(entity)?;
        let sql = self.statements_of(e)?;
        let (receipt, counts) =
            self.write_counted(|tx| records::update(tx, e, sql, key, changes))?;
        if receipt.is_some() {
            self.changes.committed(&e.name);
        }
        Ok((receipt, counts))
    }

    /// Deletes a record and records the deletion, in one transaction.
    #[cfg(any(test, feature = "testing"))] // the client takes the counts too (`*_counted`)
    pub(crate) fn delete(&self, entity: &str, key: &str) -> Result<MutationReceipt> {
        self.delete_counted(entity, key).map(|(receipt, _)| receipt)
    }

    /// [`Store::delete`], with the counts after it read in the same transaction (see
    /// [`Store::insert_counted`]).
    pub(crate) fn delete_counted(
        &self,
        entity: &str,
        key: &str,
    ) -> Result<(MutationReceipt, Counts)> {
        let e = self.changeable(entity)?;
        let sql = self.statements_of(e)?;
        let out = self.write_counted(|tx| records::delete(tx, e, sql, key))?;
        self.changes.committed(&e.name);
        Ok(out)
    }

    /// The record with this key, if there is one.
    pub(crate) fn get(&self, entity: &str, key: &str) -> Result<Option<Record>> {
        let e = self.schema.entity(entity)?;
        self.read(|conn| read_with_state(conn, e, key))
    }

    /// Checks `query` against the schema (names, value types) without running it.
    pub(crate) fn check_query(&self, entity: &str, query: &Query) -> Result<()> {
        records::page_sql(self.schema.entity(entity)?, query).map(|_| ())
    }

    /// One page of the records that match `query`.
    pub(crate) fn query(&self, entity: &str, query: &Query) -> Result<Page> {
        let e = self.schema.entity(entity)?;
        self.read(|conn| records::query(conn, e, query))
    }

    /// The page `query` selects, unless its fingerprint is still `last` (then `None`, without
    /// decoding a record); with the page's fingerprint.
    pub(crate) fn query_if_changed(
        &self,
        entity: &str,
        query: &Query,
        last: Option<Fingerprint>,
    ) -> Result<Option<(Page, Fingerprint)>> {
        let e = self.schema.entity(entity)?;
        self.read(|conn| {
            let fingerprint = records::page_fingerprint(conn, e, query)?;
            if last == Some(fingerprint) {
                return Ok(None);
            }
            Ok(Some((records::query(conn, e, query)?, fingerprint)))
        })
    }

    /// The record of `entity` with `key` (`None`: there is none), unless its fingerprint is
    /// still `last`; with its fingerprint.
    pub(crate) fn get_if_changed(
        &self,
        entity: &str,
        key: &str,
        last: Option<Fingerprint>,
    ) -> Result<Option<(Option<Record>, Fingerprint)>> {
        let e = self.schema.entity(entity)?;
        self.read(|conn| {
            let fingerprint = records::record_fingerprint(conn, e, key)?;
            if last == Some(fingerprint) {
                return Ok(None);
            }
            Ok(Some((read_with_state(conn, e, key)?, fingerprint)))
        })
    }

    /// How many mutations are pending and quarantined, and how many conflicts wait.
    pub(crate) fn counts(&self) -> Result<Counts> {
        // Loaded before the read transaction begins: its snapshot holds at least these commits.
        let commit = self.commits.load(Ordering::SeqCst);
        self.read(|conn| read_counts(conn, commit))
    }

    /// The mutations the server refused, with its reasons.
    pub(crate) fn quarantined(&self) -> Result<Vec<QuarantinedMutation>> {
        self.read(|conn| settle::quarantined(conn, &self.schema))
    }

    /// The quarantined mutations, unless their fingerprint is still `last` (then `None`, without
    /// decoding one); with their fingerprint.
    pub(crate) fn quarantined_if_changed(
        &self,
        last: Option<Fingerprint>,
    ) -> Result<Option<(Vec<QuarantinedMutation>, Fingerprint)>> {
        // One read transaction: the list decoded is the one fingerprinted.
        self.read(|conn| {
            let fingerprint = outbox::quarantined_fingerprint(conn)?;
            if last == Some(fingerprint) {
                return Ok(None);
            }
            Ok(Some((
                settle::quarantined(conn, &self.schema)?,
                fingerprint,
            )))
        })
    }

    /// The oldest pending mutations of `entity`, ready to push, each asking the server to
    /// overwrite or to report a conflict as the entity's policy says.
    pub(crate) fn pending(&self, entity: &str, limit: usize) -> Result<Vec<Mutation>> {
        let e = self.schema.entity(entity)?;
        let mut batch = self.read(|conn| outbox::pending(conn, entity, limit))?;
        if e.sync.conflict == ConflictPolicy::LastWriteWins {
            for m in &mut batch {
                m.on_conflict = OnConflict::Overwrite;
            }
        }
        // The app cannot write fields only the server writes, but a mutation that copies a
        // whole record (client-wins, a retried insert) carries them as last pulled; the server
        // would reject it for naming them (`read_only_field`).
        for m in &mut batch {
            m.fields
                .retain(|name, _| e.field_def(name).map_or(true, |f| f.writable));
        }
        Ok(batch)
    }

    /// Whether `entity` has mutations waiting to be pushed.
    pub(crate) fn has_pending(&self, entity: &str) -> Result<bool> {
        self.read(|conn| outbox::has_pending(conn, entity))
    }

    /// The keys of `entity`'s records with mutations waiting to be pushed.
    pub(crate) fn pending_keys(&self, entity: &str) -> Result<Vec<String>> {
        self.schema.entity(entity)?;
        self.read(|conn| outbox::pending_keys(conn, entity))
    }

    /// Persists the scheduler's queue changes, in order, in one transaction.
    pub(crate) fn apply_queue_changes(&self, changes: &[QueueChange]) -> Result<()> {
        self.write(|tx| queue::apply(tx, changes))
    }

    /// The sync requests kept from before (a request that was running when the process ended
    /// is queued again), and the highest request id ever given.
    pub(crate) fn kept_queue(&self) -> Result<(Vec<Queued>, i64)> {
        self.read(queue::kept)
    }

    /// Where the next pull of `entity` starts (`None`: from the beginning).
    pub(crate) fn pull_cursor(&self, entity: &str) -> Result<Option<String>> {
        self.read(|conn| {
            let cursor: Option<Option<String>> = conn
                .prepare_cached("SELECT cursor FROM pull_state WHERE entity = ?1")?
                .query_row([entity], |r| r.get(0))
                .optional()?;
            Ok(cursor.flatten())
        })
    }

    /// A stored setting of the client (last sync time, …).
    pub(crate) fn meta(&self, name: &str) -> Result<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
                .query_row([name], |r| r.get(0))
                .optional()?)
        })
    }

    /// Stores a setting of the client.
    pub(crate) fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute([name, value])?;
            Ok(())
        })
    }

    /// Applies the server's answer to a push, in one transaction, after checking it against
    /// what was sent.
    pub(crate) fn apply_push_results(
        &self,
        sent: &[Mutation],
        results: &[MutationResult],
    ) -> Result<PushStats> {
        apply::check_push_answer(sent, results)?;
        let stats = self.write(|tx| apply::push_answer(tx, &self.schema, sent, results))?;
        // Every answered mutation changes its record's sync state, and a settled conflict may
        // change the record itself.
        let mut entities: Vec<&str> = sent.iter().map(|m| m.entity.as_str()).collect();
        entities.dedup();
        for entity in entities {
            self.changes.committed(entity);
        }
        Ok(stats)
    }

    /// Applies one pulled page and stores its cursor, in one transaction, or in several when
    /// local writes wait (`apply::pull_page`), the cursor with the last; a page that fails its
    /// checks changes nothing, and one that fails part way is pulled again whole (its cursor did
    /// not move).
    pub(crate) fn apply_pulled(&self, entity: &str, page: &PulledPage) -> Result<PageStats> {
        let e = self.schema.entity(entity)?;
        apply::check_page(e, page)?;
        let mut stats = PageStats::default();
        let mut start = 0;
        loop {
            let writes_wait = || self.writers_waiting.load(Ordering::SeqCst) > 0;
            let (part, next) =
                self.write_after_waiting(|tx| apply::pull_page(tx, e, page, start, writes_wait))?;
            stats.upserts += part.upserts;
            stats.tombstones += part.tombstones;
            match next {
                Some(next) => start = next,
                None => break,
            }
        }
        if stats.upserts + stats.tombstones > 0 {
            self.changes.committed(&e.name);
        }
        Ok(stats)
    }

    /// [`Store::apply_pulled`] for a page in the wire type (as tests build them), checked by
    /// the same decoder the engine uses.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn apply_pull_page(&self, entity: &str, page: &PullPage) -> Result<PageStats> {
        let e = self.schema.entity(entity)?;
        self.apply_pulled(entity, &PulledPage::from_wire(e, page)?)
    }

    /// [`Store::apply_pulled`] in a transaction that is rolled back: what the fuzz targets run
    /// on every input, so that one input's page does not change what the next one meets.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn try_pulled(&self, entity: &str, page: &PulledPage) -> Result<PageStats> {
        let e = self.schema.entity(entity)?;
        apply::check_page(e, page)?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        // The whole page in one part (nothing waits here); dropped without a commit: rolled back.
        apply::pull_page(&tx, e, page, 0, || false).map(|(stats, _)| stats)
    }

    /// [`Store::apply_push_results`] in a transaction that is rolled back (see
    /// [`Store::try_pulled`]).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn try_push_results(
        &self,
        sent: &[Mutation],
        results: &[MutationResult],
    ) -> Result<PushStats> {
        apply::check_push_answer(sent, results)?;
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        apply::push_answer(&tx, &self.schema, sent, results)
    }

    /// The conflicts waiting for the user, oldest first (fields and entities the schema no
    /// longer declares are left out).
    pub(crate) fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.read(|conn| settle::conflicts(conn, &self.schema))
    }

    /// The conflicts waiting for the user, unless their fingerprint is still `last` (then
    /// `None`, without decoding one); with their fingerprint.
    pub(crate) fn conflicts_if_changed(
        &self,
        last: Option<Fingerprint>,
    ) -> Result<Option<(Vec<Conflict>, Fingerprint)>> {
        self.read(|conn| {
            let fingerprint = inbox::fingerprint(conn)?;
            if last == Some(fingerprint) {
                return Ok(None);
            }
            Ok(Some((settle::conflicts(conn, &self.schema)?, fingerprint)))
        })
    }

    /// Settles a conflict as the user decided, in one transaction.
    pub(crate) fn resolve(
        &self,
        id: i64,
        resolution: Resolution,
    ) -> Result<(Option<MutationReceipt>, Counts)> {
        let ((entity, receipt), counts) =
            self.write_counted(|tx| settle::resolve(tx, &self.schema, id, resolution))?;
        self.changes.committed(&entity);
        Ok((receipt, counts))
    }

    /// Sends a quarantined mutation again; returns its new seq.
    pub(crate) fn retry_quarantined(&self, seq: u64) -> Result<(u64, Counts)> {
        let ((entity, seq), counts) =
            self.write_counted(|tx| settle::retry_quarantined(tx, &self.schema, seq))?;
        self.changes.committed(&entity);
        Ok((seq, counts))
    }

    /// Edits a quarantined mutation (locally too) and sends it again; returns its new seq.
    pub(crate) fn edit_quarantined(
        &self,
        seq: u64,
        changes: HashMap<String, Value>,
    ) -> Result<(u64, Counts)> {
        let ((entity, seq), counts) =
            self.write_counted(|tx| settle::edit_quarantined(tx, &self.schema, seq, changes))?;
        self.changes.committed(&entity);
        Ok((seq, counts))
    }

    /// Drops a quarantined mutation and undoes it locally.
    pub(crate) fn discard_quarantined(&self, seq: u64) -> Result<Counts> {
        let (entity, counts) =
            self.write_counted(|tx| settle::discard_quarantined(tx, &self.schema, seq))?;
        self.changes.committed(&entity);
        Ok(counts)
    }

    /// Where a mutation is (`None` once finished stages are forgotten, after a week).
    pub(crate) fn mutation_stage(&self, mutation_id: &str) -> Result<Option<MutationStage>> {
        self.read(|conn| outbox::stage(conn, mutation_id))
    }
}

/// WAL pages after which a commit checkpoints on its own thread (a safety net: the
/// [`Checkpointer`] normally keeps the WAL far shorter).
const AUTOCHECKPOINT_PAGES: i64 = 16_000;

/// How long the checkpointer lets commits gather before it copies the WAL into the database
/// file: at most one checkpoint per this while writes go on.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// What the checkpointer waits on.
#[derive(Default)]
struct CheckpointState {
    /// A commit since the last checkpoint began.
    dirty: bool,
    /// The store is closing.
    stopped: bool,
}

/// A thread that checkpoints the WAL (`PASSIVE`: never waits for, nor blocks, the writer or
/// readers) on a connection of its own, so that no local write pays for a checkpoint.
///
/// It sleeps until a commit says there is something to copy ([`Checkpointer::wrote`]), never
/// on a timer: an idle app's thread wakes no phone (it woke 4 times a second when it polled,
/// 14,400 wake-ups an hour; `core/benches/live.rs` counts them).
struct Checkpointer {
    state: Arc<(Mutex<CheckpointState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Dirty at first: opening may have migrated, and a WAL may be left from the last run.
        let state = Arc::new((
            Mutex::new(CheckpointState {
                dirty: true,
                stopped: false,
            }),
            Condvar::new(),
        ));
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("syncline-checkpoint".into())
            .spawn(move || {
                let (state, wake) = &*shared;
                let mut guard = lock(state);
                loop {
                    // Asleep until a commit (or the close).
                    while !guard.dirty && !guard.stopped {
                        guard = wake.wait(guard).unwrap_or_else(|p| p.into_inner());
                    }
                    // The commits of the next moment go into the same checkpoint.
                    let gathered = Instant::now() + CHECKPOINT_EVERY;
                    while !guard.stopped {
                        let left = gathered.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        guard = match wake.wait_timeout(guard, left) {
                            Ok((g, _)) => g,
                            Err(poisoned) => poisoned.into_inner().0,
                        };
                    }
                    if guard.stopped {
                        break;
                    }
                    guard.dirty = false;
                    // Outside the lock: neither a commit nor the close waits for a checkpoint.
                    drop(guard);
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        log::debug!("background checkpoint: {e}");
                    }
                    guard = lock(state);
                }
            })
            .map_err(|e| Error::Storage {
                kind: StorageErrorKind::Other,
                detail: format!("cannot start the checkpoint thread: {e}"),
            })?;
        Ok(Checkpointer {
            state,
            thread: Some(thread),
        })
    }

    /// A commit went into the WAL: the thread checkpoints it soon.
    fn wrote(&self) {
        let (state, wake) = &*self.state;
        let mut guard = lock(state);
        if !guard.dirty {
            guard.dirty = true;
            wake.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (state, wake) = &*self.state;
        lock(state).stopped = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // Joined: its connection is closed before the store's own (the last one to close
            // checkpoints the WAL and removes it).
            let _ = thread.join();
        }
    }
}

/// Stores open in this process, by canonical path: `start_over` must not move a file from under
/// a client that still has it open.
static OPEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Registers an open store; removes it again when dropped. The store's last field, so it is
/// dropped after the connections have closed.
struct OpenGuard(Option<PathBuf>);

impl OpenGuard {
    fn new(path: &Path) -> OpenGuard {
        let canonical = std::fs::canonicalize(path).ok();
        if let Some(p) = &canonical {
            lock(&OPEN).push(p.clone());
        }
        OpenGuard(canonical)
    }

    fn is_open(path: &Path) -> bool {
        std::fs::canonicalize(path).is_ok_and(|p| lock(&OPEN).contains(&p))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let mut open = lock(&OPEN);
            if let Some(at) = open.iter().position(|o| o == p) {
                open.swap_remove(at);
            }
        }
    }
}

/// How long `start_over` waits for a client that was just dropped to finish its background work
/// (a sync or a probe in flight) and close the file.
#[cfg(not(test))]
const CLOSE_WAIT: Duration = Duration::from_secs(10);
#[cfg(test)]
const CLOSE_WAIT: Duration = Duration::from_millis(300);

/// Replaces the damaged store at `path` with a fresh one holding what could be saved of it
/// (`salvage.rs`). Atomic for the app: the fresh store is built beside the file first; only
/// when it is complete is the damaged file moved aside and the fresh one renamed into its place,
/// so a failure on the way leaves `path` as it was and `start_over` can be called again.
pub(crate) fn start_over(path: &Path, schema: Schema) -> Result<Salvage> {
    let deadline = std::time::Instant::now() + CLOSE_WAIT;
    while OpenGuard::is_open(path) {
        if std::time::Instant::now() > deadline {
            return Err(Error::Storage {
                kind: StorageErrorKind::Busy,
                detail: "the store is still open: drop every clone of the client first".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let readable = salvage::read_damaged(path);
    let same_client = readable.same_client();
    let (damaged, fresh) = salvage::side_paths(path);
    let built = Store::open(&fresh, schema).and_then(|store| {
        let kept = store.write(|tx| salvage::restore(tx, &store.schema, readable))?;
        // Closed (its WAL checkpointed into the file) before the file is renamed.
        drop(store);
        Ok(kept)
    });
    let (mutations_kept, complete) = match built {
        Ok(kept) => kept,
        Err(e) => {
            salvage::remove_store(&fresh);
            return Err(e);
        }
    };
    if let Err(e) = salvage::rename_store(path, &damaged) {
        salvage::remove_store(&fresh);
        return Err(e);
    }
    if let Err(e) = salvage::rename_store(&fresh, path) {
        // Put the damaged file back, so that nothing has changed for the app.
        let _ = salvage::rename_store(&damaged, path);
        salvage::remove_store(&fresh);
        return Err(e);
    }
    log::warn!(
        "started over from a damaged store (kept at {}): {mutations_kept} mutations saved, \
         complete: {complete}, same client: {same_client}",
        damaged.display()
    );
    Ok(Salvage {
        damaged_copy: damaged.to_string_lossy().into_owned(),
        mutations_kept,
        complete,
        same_client,
    })
}
