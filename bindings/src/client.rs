//! `SynclineClient`: the object the shells hold, a thin wrapper of the core's `Syncline` (an
//! FFI object must be shared behind an `Arc` and take owned arguments). Every method passes the
//! core's own types through.

use std::collections::HashMap;
use std::sync::Arc;

use syncline_core::{
    AutoSync, Banner, Config, Conflict, Connectivity, EntitySchema, MutationReceipt, MutationStage,
    NetworkStatus, NetworkType, Page, QuarantinedMutation, Query, Record, Resolution, Salvage,
    Schema, SchemaFile, SyncReport, SyncStatus, Syncline, SynclineError, Value,
};

use crate::error::CallbackError;

type Result<T> = std::result::Result<T, SynclineError>;

/// Receives the sync status: the current value at once, then every change (coalesced).
#[uniffi::export(with_foreign)]
pub trait StatusListener: Send + Sync {
    /// Called on a background thread; hop to the main thread to render.
    fn on_status(&self, status: SyncStatus) -> std::result::Result<(), CallbackError>;
}

/// Receives a live query's pages: the current one at once, then a new one after every commit
/// that changed its entity (throttled; never the same page twice).
#[uniffi::export(with_foreign)]
pub trait PageListener: Send + Sync {
    /// A new page. Called on a background thread; hop to the main thread to render.
    fn on_page(&self, page: Page) -> std::result::Result<(), CallbackError>;
    /// Reading the page failed (the watch goes on, and answers again after the next change).
    fn on_error(&self, error: SynclineError) -> std::result::Result<(), CallbackError>;
}

/// Receives one record as it changes: now, after every change, and `None` once it is deleted.
#[uniffi::export(with_foreign)]
pub trait RecordListener: Send + Sync {
    /// The record now (`None`: there is none). Called on a background thread.
    fn on_record(&self, record: Option<Record>) -> std::result::Result<(), CallbackError>;
    /// Reading the record failed (the watch goes on).
    fn on_error(&self, error: SynclineError) -> std::result::Result<(), CallbackError>;
}

/// Receives the conflicts waiting for the user: the list now, then a new one after every commit
/// that changed it (a sync that put a conflict in the inbox, a conflict resolved; throttled,
/// never the same list twice), so a conflicts screen need not read again on status changes.
#[uniffi::export(with_foreign)]
pub trait ConflictListener: Send + Sync {
    /// The conflicts now, oldest first. Called on a background thread; hop to the main thread.
    fn on_conflicts(&self, conflicts: Vec<Conflict>) -> std::result::Result<(), CallbackError>;
    /// Reading the inbox failed (the watch goes on, and answers again after the next change).
    fn on_error(&self, error: SynclineError) -> std::result::Result<(), CallbackError>;
}

/// Receives the quarantined mutations (the server rejected them): the list now, then a new one
/// after every commit that changed it (a push that quarantined one, one retried, edited or
/// discarded; throttled, never the same list twice), so a quarantine screen need not read again
/// on status changes.
#[uniffi::export(with_foreign)]
pub trait QuarantineListener: Send + Sync {
    /// The quarantined mutations now, oldest first. Called on a background thread; hop to the
    /// main thread.
    fn on_quarantined(
        &self,
        mutations: Vec<QuarantinedMutation>,
    ) -> std::result::Result<(), CallbackError>;
    /// Reading them failed (the watch goes on, and answers again after the next change).
    fn on_error(&self, error: SynclineError) -> std::result::Result<(), CallbackError>;
}

/// A listener's or a watch's registration; `stop` (or dropping it) stops the calls.
#[derive(uniffi::Object)]
pub struct ListenerHandle {
    /// The core's own handle (the same concept; an FFI object must be shared behind an `Arc`).
    inner: syncline_core::ListenerHandle,
}

#[uniffi::export]
impl ListenerHandle {
    /// Stops the listener; it is not called again.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

/// An offline-first client of one user: local data, outbox, sync and status.
#[derive(uniffi::Object)]
pub struct SynclineClient {
    inner: Syncline,
}

/// A configuration with the core's defaults for `server_url` and `token`.
#[uniffi::export]
pub fn default_config(server_url: String, token: String) -> Config {
    Config::new(&server_url, &token)
}

/// Automatic sync switched off (syncs run only when asked).
#[uniffi::export]
pub fn manual_auto_sync() -> AutoSync {
    AutoSync::manual()
}

/// The sample app's entities (projects, tasks, comments), as the demo and the tests use them.
#[uniffi::export]
pub fn sample_schema() -> Result<Vec<EntitySchema>> {
    let schema = syncline_protocol::sample::schema()?;
    Ok(schema.entities().to_vec())
}

/// The device schema from the text of the app's schema file (the one the server is started with,
/// `docs/schema.md`), shipped with the app. `keep` lists the entities to keep, each with the
/// fields to keep in that order (an empty list: every field clients may see); an empty `keep`
/// keeps every entity with every such field. Entities come in the file's order; server-only
/// fields are never kept (naming one is an error, as for a field the file lacks). Errors are
/// `InvalidInput`, naming the file's line.
#[uniffi::export]
pub fn schema_from_file_text(
    text: String,
    keep: HashMap<String, Vec<String>>,
) -> Result<Vec<EntitySchema>> {
    let file = SchemaFile::parse(&text)?;
    let schema = if keep.is_empty() {
        file.device_schema()?
    } else {
        for name in keep.keys() {
            if file.entity(name).is_none() {
                return Err(syncline_core::SchemaError::UnknownEntity(name.clone()).into());
            }
        }
        // The file's order, whatever order the map gives.
        let listed: Vec<(&str, Vec<&str>)> = file
            .entities()
            .iter()
            .filter_map(|e| {
                let fields = keep.get(e.name())?;
                Some((e.name(), fields.iter().map(String::as_str).collect()))
            })
            .collect();
        let borrowed: Vec<(&str, &[&str])> = listed
            .iter()
            .map(|(name, fields)| (*name, fields.as_slice()))
            .collect();
        file.device_subset(&borrowed)?
    };
    Ok(schema.entities().to_vec())
}

/// Starts over from a damaged store file (opening it failed with a `Storage` error of kind
/// `Corrupt`): the file is moved aside and a fresh store keeps the mutations that had not reached
/// the server, as far as they can be read. Open the client afterwards as usual.
#[uniffi::export]
pub fn start_over(path: String, entities: Vec<EntitySchema>) -> Result<Salvage> {
    Syncline::start_over(path.as_ref(), Schema::new(entities)?)
}

#[uniffi::export]
impl SynclineClient {
    /// Opens (creating if needed) the store at `path` for `entities`, with `config`, and starts
    /// syncing as `config.auto` says.
    #[uniffi::constructor]
    pub fn open(path: String, entities: Vec<EntitySchema>, config: Config) -> Result<Arc<Self>> {
        let schema = Schema::new(entities)?;
        let inner = Syncline::open(path.as_ref(), schema, config)?;
        Ok(Arc::new(SynclineClient { inner }))
    }

    /// This device's client id.
    pub fn client_id(&self) -> String {
        self.inner.client_id().to_string()
    }

    /// The entities the client was opened with.
    pub fn schema(&self) -> Vec<EntitySchema> {
        self.inner.schema().entities().to_vec()
    }

    /// Creates a record (saved at once; synced later).
    pub fn insert(&self, entity: String, record: Record) -> Result<MutationReceipt> {
        self.inner.insert(&entity, record)
    }

    /// Changes fields of a record; `None` when nothing changed.
    pub fn update(&self, entity: String, patch: Record) -> Result<Option<MutationReceipt>> {
        self.inner.update(&entity, patch)
    }

    /// Deletes a record.
    pub fn delete(&self, entity: String, key: String) -> Result<MutationReceipt> {
        self.inner.delete(&entity, &key)
    }

    /// A record by key.
    pub fn get(&self, entity: String, key: String) -> Result<Option<Record>> {
        self.inner.get(&entity, &key)
    }

    /// A page of records, in one call.
    pub fn query(&self, entity: String, query: Query) -> Result<Page> {
        self.inner.query(&entity, &query)
    }

    /// The keys of `entity`'s records with mutations waiting to be pushed.
    pub fn pending_keys(&self, entity: String) -> Result<Vec<String>> {
        self.inner.pending_keys(&entity)
    }

    /// Queues a sync of `unit` and returns at once.
    pub fn trigger_sync(&self, unit: String, discard_pending: bool) -> Result<()> {
        self.inner.trigger_sync(&unit, discard_pending)
    }

    /// Syncs `unit` and returns what it did (Kotlin `suspend`, Swift `async`).
    pub async fn sync_now(&self, unit: String) -> Result<SyncReport> {
        self.inner.sync_now(&unit).await
    }

    /// The shell reports the OS's connectivity (at start and on every change).
    pub fn report_connectivity(&self, connectivity: Connectivity) {
        self.inner.report_connectivity(connectivity);
    }

    /// The app came to the foreground (a sync, and the live stream opens again).
    pub fn resumed(&self) {
        self.inner.resumed();
    }

    /// The app went to the background: the live stream closes until `resumed`.
    pub fn paused(&self) {
        self.inner.paused();
    }

    /// Whether the live stream is open (other devices' changes arrive within moments).
    pub fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    /// The banner's Retry action.
    pub fn retry(&self) {
        self.inner.retry();
    }

    /// Replaces the user's token after signing in again.
    pub fn set_token(&self, token: String) {
        self.inner.set_token(&token);
    }

    /// The network state.
    pub fn network_status(&self) -> NetworkStatus {
        self.inner.network_status()
    }

    /// The network type the OS last reported.
    pub fn network_type(&self) -> NetworkType {
        self.inner.network_type()
    }

    /// The current status, its banner included.
    pub fn status(&self) -> SyncStatus {
        self.inner.status()
    }

    /// The banner for the current status.
    pub fn banner(&self) -> Banner {
        self.inner.banner()
    }

    /// Calls `listener` with the current status at once and with every change after.
    pub fn listen(&self, listener: Arc<dyn StatusListener>) -> Arc<ListenerHandle> {
        let handle = self.inner.listen(move |status| {
            if let Err(e) = listener.on_status(status) {
                log::warn!("the status listener failed: {e}");
            }
        });
        Arc::new(ListenerHandle { inner: handle })
    }

    /// Watches a query: `listener` gets its page now and after every change of `entity`.
    pub fn watch(
        &self,
        entity: String,
        query: Query,
        listener: Arc<dyn PageListener>,
    ) -> Result<Arc<ListenerHandle>> {
        let handle = self.inner.watch(&entity, &query, move |answer| {
            let called = match answer {
                Ok(page) => listener.on_page(page),
                Err(e) => listener.on_error(e),
            };
            if let Err(e) = called {
                log::warn!("a page listener failed: {e}");
            }
        })?;
        Ok(Arc::new(ListenerHandle { inner: handle }))
    }

    /// Watches one record: `listener` gets it now and whenever it changes, its deletion included.
    pub fn watch_record(
        &self,
        entity: String,
        key: String,
        listener: Arc<dyn RecordListener>,
    ) -> Result<Arc<ListenerHandle>> {
        let handle = self.inner.watch_record(&entity, &key, move |answer| {
            let called = match answer {
                Ok(record) => listener.on_record(record),
                Err(e) => listener.on_error(e),
            };
            if let Err(e) = called {
                log::warn!("a record listener failed: {e}");
            }
        })?;
        Ok(Arc::new(ListenerHandle { inner: handle }))
    }

    /// Conflicts waiting for the user.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.inner.conflicts()
    }

    /// Watches the conflict inbox: `listener` gets the conflicts now and whenever they change.
    pub fn watch_conflicts(
        &self,
        listener: Arc<dyn ConflictListener>,
    ) -> Result<Arc<ListenerHandle>> {
        let handle = self.inner.watch_conflicts(move |answer| {
            let called = match answer {
                Ok(conflicts) => listener.on_conflicts(conflicts),
                Err(e) => listener.on_error(e),
            };
            // The listener's failure is the app's to report; the watch goes on.
            if let Err(e) = called {
                log::warn!("a conflict listener failed: {e}");
            }
        })?;
        Ok(Arc::new(ListenerHandle { inner: handle }))
    }

    /// Settles a conflict; the chosen version syncs next.
    pub fn resolve(&self, id: i64, resolution: Resolution) -> Result<Option<MutationReceipt>> {
        self.inner.resolve(id, resolution)
    }

    /// The quarantined mutations (the server rejected them), with its codes and reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedMutation>> {
        self.inner.quarantined()
    }

    /// Watches the quarantined mutations: `listener` gets them now and whenever they change.
    pub fn watch_quarantined(
        &self,
        listener: Arc<dyn QuarantineListener>,
    ) -> Result<Arc<ListenerHandle>> {
        let handle = self.inner.watch_quarantined(move |answer| {
            let called = match answer {
                Ok(mutations) => listener.on_quarantined(mutations),
                Err(e) => listener.on_error(e),
            };
            // The listener's failure is the app's to report; the watch goes on.
            if let Err(e) = called {
                log::warn!("a quarantine listener failed: {e}");
            }
        })?;
        Ok(Arc::new(ListenerHandle { inner: handle }))
    }

    /// Sends a quarantined mutation again; returns its new seq.
    pub fn retry_quarantined(&self, seq: u64) -> Result<u64> {
        self.inner.retry_quarantined(seq)
    }

    /// Edits a quarantined mutation and sends it again; returns its new seq.
    pub fn edit_quarantined(&self, seq: u64, values: HashMap<String, Value>) -> Result<u64> {
        self.inner.edit_quarantined(seq, values)
    }

    /// Drops a quarantined mutation and undoes it locally.
    pub fn discard_quarantined(&self, seq: u64) -> Result<()> {
        self.inner.discard_quarantined(seq)
    }

    /// Where a mutation is on its way.
    pub fn mutation_stage(&self, mutation_id: String) -> Result<Option<MutationStage>> {
        self.inner.mutation_stage(&mutation_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncline_protocol::sample::{COMMENTS, PROJECTS, SCHEMA_TOML, TASKS};

    fn keep(entities: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        entities
            .iter()
            .map(|(e, fields)| {
                (
                    e.to_string(),
                    fields.iter().map(|f| f.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn the_sample_schema_comes_from_the_file() {
        let sample = sample_schema().expect("sample");
        let fields = |entity: &str| -> Vec<String> {
            sample
                .iter()
                .find(|e| e.name == entity)
                .map(|e| e.field_names())
                .unwrap_or_default()
        };
        let (p, t, c) = (fields(PROJECTS), fields(TASKS), fields(COMMENTS));
        fn as_str(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let (p, t, c) = (as_str(&p), as_str(&t), as_str(&c));
        // Listed in another order than the file's: the file's order wins.
        let from_file = schema_from_file_text(
            SCHEMA_TOML.to_string(),
            keep(&[(COMMENTS, &c), (TASKS, &t), (PROJECTS, &p)]),
        )
        .expect("from the file");
        assert_eq!(from_file, sample);

        let all = schema_from_file_text(SCHEMA_TOML.to_string(), HashMap::new()).expect("all");
        let tasks = all.iter().find(|e| e.name == TASKS).expect("tasks");
        assert!(tasks.field_def("internal_notes").is_err(), "server-only");
        assert!(tasks.field_def("budget_cents").is_err());
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn bad_files_and_names_are_invalid_input() {
        let err = schema_from_file_text("[entities.x]\nscope = 1\n".into(), HashMap::new())
            .expect_err("scope is not a string");
        assert!(
            matches!(&err, SynclineError::InvalidInput { detail } if detail.contains("line 2")),
            "{err:?}"
        );
        for bad in [
            keep(&[(TASKS, &["internal_notes"])]),
            keep(&[("nope", &[])]),
        ] {
            let err = schema_from_file_text(SCHEMA_TOML.to_string(), bad).expect_err("unknown");
            assert!(matches!(err, SynclineError::InvalidInput { .. }), "{err:?}");
        }
    }
}
