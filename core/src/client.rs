//! [`Syncline`]: the one object an app holds. It owns the local store, the engine, the scheduler
//! and the status, and runs all network work on the core's own runtime. This module is the API;
//! `driver.rs` does the work behind it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use syncline_protocol::{AttachmentRef, ConflictPolicy, FieldType, Schema, Value};
use tokio::sync::{broadcast, oneshot, watch};

use crate::attachments::Check;
use crate::changes::SETTLE_KEY;
use crate::config::Config;
use crate::conflict::{Conflict, Resolution};
use crate::driver::{Driver, Event, LiveConfig, LAST_SYNCED_AT};
use crate::engine::{BlobSettings, Engine, SyncReport};
use crate::error::{Error, SynclineError};
use crate::live::{ListenerHandle, LiveQueries};
use crate::machine::{Input, LiveSettings};
use crate::mutation::{MutationReceipt, MutationStage, QuarantinedMutation};
use crate::network::{Connectivity, NetworkStatus, NetworkType};
use crate::queue::SyncRequest;
use crate::record::{Counts, Page, Query, Record};
use crate::runtime;
use crate::status::{Banner, SyncStatus};
use crate::store::{self, Salvage, Store};
use crate::transport::Transport;

/// What the device has of an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentState {
    /// The field names no file.
    Empty,
    /// The file is not on the device; a download has started.
    Missing {
        /// What the field names.
        reference: AttachmentRef,
    },
    /// The file is on the device.
    Ready {
        /// Its path (in the attachment cache; read it, never move or change it).
        path: String,
        /// What the field names.
        reference: AttachmentRef,
    },
}

/// What the public calls return.
type Result<T> = std::result::Result<T, SynclineError>;

/// Priority of a request someone awaits (`sync_now`): ahead of background requests.
const AWAITED_PRIORITY: i32 = 1000;

/// An offline-first client of one user: local data, outbox, sync and status.
///
/// Cheap to clone; clones share everything. Dropping the last clone stops the client: its timers
/// stop at once, and a sync or probe in flight ends first, then the store closes.
#[derive(Clone)]
pub struct Syncline {
    inner: Arc<Driver>,
    /// The live queries (watches), by entity.
    live: Arc<LiveQueries>,
}

impl Syncline {
    /// Opens the store at `path` with the app's `schema`, for the user and server in `config`, and
    /// starts the scheduler, which syncs by itself as `config.auto` says: by default at once
    /// (`AutoSync::on_start`), so records may arrive before the app asks for anything; a
    /// [`Syncline::sync_now`] made then joins that sync and counts what it brought. Until the shell first
    /// calls [`Syncline::report_connectivity`], the core assumes a working link
    /// ([`Syncline::network_status`] says `Online`) and learns otherwise from the first failure.
    pub fn open(path: &Path, schema: Schema, config: Config) -> Result<Syncline> {
        Ok(Syncline::start(path, schema, config)?)
    }

    /// Starts over from a damaged store file (opening it failed, or any call failed, with
    /// [`SynclineError::Storage`] of kind `Corrupt`): moves the file aside, creates a fresh store
    /// at `path`, and copies into it the mutations that had not reached the server, as far as the
    /// damage lets them be read. Then [`Syncline::open`] as usual: the first sync pulls
    /// everything again and sends the kept mutations (never twice when the client id could be
    /// kept; see [`Salvage`]). Drop every clone of the client on the file first: this waits a
    /// few seconds for background work in flight to end, then answers `Storage` of kind `Busy`.
    pub fn start_over(path: &Path, schema: Schema) -> Result<Salvage> {
        Ok(store::start_over(path, schema)?)
    }

    fn start(path: &Path, schema: Schema, config: Config) -> crate::error::Result<Syncline> {
        let units = config.resolve_units(&schema)?;
        let transport = Transport::new(&config)?;
        let store = Arc::new(Store::open(path, schema)?);
        let status = SyncStatus {
            last_synced_at: store.meta(LAST_SYNCED_AT)?.and_then(|v| v.parse().ok()),
            ..SyncStatus::default()
        };
        let engine = Engine::new(store.clone(), transport, config.push_batch_size as usize)
            .with_blobs(BlobSettings {
                parallel: config.max_parallel_uploads.max(1) as usize,
                on_cellular: config.uploads_on_cellular,
                cache_bytes: config.attachment_cache_bytes,
            });
        let inner = Driver::start(
            store,
            engine,
            units,
            config.auto.clone(),
            config.sync_timeout,
            status.with_banner(),
            LiveConfig {
                settings: LiveSettings {
                    enabled: config.live,
                    heartbeat: config.live_heartbeat,
                },
                open_timeout: config.request_timeout,
            },
        )?;
        Ok(Syncline {
            inner,
            live: Arc::new(LiveQueries::start()?),
        })
    }

    /// The store, for the core's own fault tests.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The schema the client was opened with.
    pub fn schema(&self) -> &Schema {
        self.inner.store.schema()
    }

    /// This device's client id.
    pub fn client_id(&self) -> &str {
        self.inner.store.client_id()
    }

    /// Refuses a write to an entity whose policy locks editing while not online.
    fn check_editable(&self, entity: &str) -> crate::error::Result<()> {
        let e = self.inner.store.schema().entity(entity)?;
        if e.sync.conflict == ConflictPolicy::LockedOffline
            && self.network_status() != NetworkStatus::Online
        {
            return Err(Error::LockedOffline(entity.to_string()));
        }
        Ok(())
    }

    /// After a local write, with the counts it read in its own transaction (so the status never
    /// shows a count from before it once the write has returned): those counts, and a
    /// (debounced) sync.
    fn written_with(&self, counts: Counts) {
        self.inner.publish_counts(counts);
        self.inner.feed(Input::LocalChange);
    }

    /// Creates a record (saved locally at once; synced later), built with [`Record::new`] and
    /// [`Record::with`]; [`Syncline::update`] takes the same form.
    pub fn insert(&self, entity: &str, record: Record) -> Result<MutationReceipt> {
        self.check_editable(entity)?;
        let (receipt, counts) = self.inner.store.insert_counted(entity, record)?;
        self.written_with(counts);
        Ok(receipt)
    }

    /// Changes the fields `patch` sets on the record with `patch`'s key, built as for
    /// [`Syncline::insert`]; fields it leaves out keep their values. `None` when nothing actually
    /// changed (the record already had those values).
    ///
    /// ```no_run
    /// # fn demo(client: &syncline_core::Syncline) -> syncline_core::Result<()> {
    /// use syncline_core::{Record, Value};
    ///
    /// client.insert("tasks", Record::new("t-1")
    ///     .with("project_id", Value::Text("p-harbor".into()))
    ///     .with("title", Value::Text("Inspect pump".into()))
    ///     .with("done", Value::Boolean(false)))?;
    /// client.update("tasks", Record::new("t-1").with("done", Value::Boolean(true)))?;
    /// # Ok(()) }
    /// ```
    pub fn update(&self, entity: &str, patch: Record) -> Result<Option<MutationReceipt>> {
        self.check_editable(entity)?;
        let Record { key, values, .. } = patch;
        let (receipt, counts) = self.inner.store.update_counted(entity, &key, values)?;
        if receipt.is_some() {
            self.written_with(counts);
        }
        Ok(receipt)
    }

    /// Deletes a record.
    pub fn delete(&self, entity: &str, key: &str) -> Result<MutationReceipt> {
        self.check_editable(entity)?;
        let (receipt, counts) = self.inner.store.delete_counted(entity, key)?;
        self.written_with(counts);
        Ok(receipt)
    }

    /// Attaches the file at `source` to a record's attachment field: streams it into the
    /// attachment cache under the app's data folder (beside the store file) by its SHA-256,
    /// then writes the field's reference and the outbox entry in one transaction, as every
    /// write does. The file itself is uploaded in the background, resumably; the mutation is
    /// pushed only once the server has the whole file, and the device's other mutations are not
    /// held back meanwhile. `None` when the field already names this file. The name shown is
    /// `source`'s file name; `media_type` is the app's word (`image/jpeg`).
    pub fn attach(
        &self,
        entity: &str,
        key: &str,
        field: &str,
        source: &Path,
        media_type: &str,
    ) -> Result<Option<MutationReceipt>> {
        Ok(self.attach_inner(entity, key, field, source, media_type)?)
    }

    fn attach_inner(
        &self,
        entity: &str,
        key: &str,
        field: &str,
        source: &Path,
        media_type: &str,
    ) -> crate::error::Result<Option<MutationReceipt>> {
        self.check_editable(entity)?;
        self.attachment_field(entity, field)?;
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_string());
        let (sha256, size) = crate::attachments::store_file(&self.inner.store, source)?;
        let reference = AttachmentRef {
            sha256,
            size,
            media_type: media_type.to_string(),
            name,
        };
        if let Some(problem) = reference.problem() {
            return Err(Error::AttachmentSource(format!(
                "{}: {problem}",
                source.display()
            )));
        }
        let (receipt, counts) = self
            .inner
            .store
            .attach_counted(entity, key, field, reference)?;
        self.written_with(counts);
        self.inner.kick_uploads();
        Ok(receipt)
    }

    /// Refuses a field that is not an attachment field.
    fn attachment_field(&self, entity: &str, field: &str) -> crate::error::Result<()> {
        let e = self.inner.store.schema().entity(entity)?;
        if e.field_def(field)?.field_type != FieldType::Attachment {
            return Err(Error::WrongType {
                entity: entity.to_string(),
                field: field.to_string(),
                expected: FieldType::Attachment.name(),
            });
        }
        Ok(())
    }

    /// The attachment a record's field references, as the device has it: `Ready` with the
    /// local file's path when it is cached (its size checked, cheap enough for every draw; a
    /// damaged file is dropped and fetched again; [`Syncline::fetch_attachment`] checks the
    /// hash), `Missing` when it is not (a download starts in the background: call
    /// [`Syncline::fetch_attachment`] to wait for it), `Empty` when the field names none.
    pub fn attachment(&self, entity: &str, key: &str, field: &str) -> Result<AttachmentState> {
        let Some(reference) = self.reference(entity, key, field)? else {
            return Ok(AttachmentState::Empty);
        };
        if let Some(path) =
            crate::attachments::cached_file(&self.inner.store, &reference, Check::Size)
                .map_err(SynclineError::from)?
        {
            return Ok(AttachmentState::Ready {
                path: path.to_string_lossy().into_owned(),
                reference,
            });
        }
        let client = self.clone();
        let (e, k, f) = (entity.to_string(), key.to_string(), field.to_string());
        self.inner.rt.spawn(async move {
            if let Err(err) = client.fetch_attachment(&e, &k, &f).await {
                log::warn!("cannot download the attachment of {e} {k}.{f}: {err}");
            }
        });
        Ok(AttachmentState::Missing { reference })
    }

    /// The reference a record's field holds, if any.
    fn reference(
        &self,
        entity: &str,
        key: &str,
        field: &str,
    ) -> crate::error::Result<Option<AttachmentRef>> {
        self.attachment_field(entity, field)?;
        let record = self
            .inner
            .store
            .get(entity, key)?
            .ok_or_else(|| Error::NotFound {
                entity: entity.to_string(),
                key: key.to_string(),
            })?;
        Ok(record.get(field).and_then(Value::attachment).cloned())
    }

    /// The local file of the attachment a record's field references: the cached one, or
    /// downloaded now through that record (going on from a download a lost connection cut),
    /// its SHA-256 checked before it is kept. Then the cache is trimmed to its budget.
    pub async fn fetch_attachment(&self, entity: &str, key: &str, field: &str) -> Result<PathBuf> {
        Ok(self.fetch_inner(entity, key, field).await?)
    }

    async fn fetch_inner(
        &self,
        entity: &str,
        key: &str,
        field: &str,
    ) -> crate::error::Result<PathBuf> {
        let reference = self
            .reference(entity, key, field)?
            .ok_or_else(|| Error::NoAttachment {
                entity: entity.to_string(),
                key: key.to_string(),
                field: field.to_string(),
            })?;
        let one_at_a_time = self.inner.download_lock(&reference.sha256);
        let _downloading = one_at_a_time.lock().await;
        let driver = self.inner.clone();
        let r = reference.clone();
        let cached = runtime::blocking(move || {
            crate::attachments::cached_file(&driver.store, &r, Check::Hash)
        })
        .await?;
        if let Some(path) = cached {
            return Ok(path);
        }
        let path = self
            .inner
            .engine
            .download_attachment(&reference, (entity, key, field), &|_| {})
            .await?;
        let budget = self.inner.engine.blobs.cache_bytes;
        let driver = self.inner.clone();
        runtime::blocking(move || crate::attachments::evict(&driver.store, budget)).await?;
        Ok(path)
    }

    /// [`Syncline::fetch_attachment`], blocking the calling thread (never the main thread).
    pub fn fetch_attachment_blocking(
        &self,
        entity: &str,
        key: &str,
        field: &str,
    ) -> Result<PathBuf> {
        let client = self.clone();
        let (e, k, f) = (entity.to_string(), key.to_string(), field.to_string());
        Ok(runtime::block_on(async move {
            client.fetch_inner(&e, &k, &f).await
        })?)
    }

    /// Uploads the waiting attachments now and waits for the round to end; returns how many
    /// completed. The client does this by itself after every sync; a process about to exit (a
    /// command-line tool) calls it, then syncs again to push what the uploads released.
    pub fn upload_attachments_blocking(&self) -> Result<u64> {
        let driver = self.inner.clone();
        let report = runtime::block_on(async move {
            let parallel = driver.engine.blobs.parallel;
            driver.engine.upload_blobs(parallel).await
        })?;
        self.inner.refresh_counts();
        Ok(report.completed)
    }

    /// How many attachments wait to be uploaded, and their bytes.
    pub fn uploads_waiting(&self) -> Result<(u64, u64)> {
        Ok(self.inner.store.blob_uploads_waiting()?)
    }

    /// The record with this key, if the device has it.
    pub fn get(&self, entity: &str, key: &str) -> Result<Option<Record>> {
        Ok(self.inner.store.get(entity, key)?)
    }

    /// One page of the records that match `query`, read without waiting for a sync in progress.
    pub fn query(&self, entity: &str, query: &Query) -> Result<Page> {
        Ok(self.inner.store.query(entity, query)?)
    }

    /// The keys of `entity`'s records with mutations waiting to be pushed (to mark unsynced rows).
    pub fn pending_keys(&self, entity: &str) -> Result<Vec<String>> {
        Ok(self.inner.store.pending_keys(entity)?)
    }

    /// The quarantined mutations (the server rejected them), with its codes and reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedMutation>> {
        Ok(self.inner.store.quarantined()?)
    }

    /// Conflicts waiting for the user, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        Ok(self.inner.store.conflicts()?)
    }

    /// Settles a conflict as the user decided; the chosen version syncs next.
    pub fn resolve(&self, id: i64, resolution: Resolution) -> Result<Option<MutationReceipt>> {
        let (receipt, counts) = self.inner.store.resolve(id, resolution)?;
        self.written_with(counts);
        Ok(receipt)
    }

    /// Sends a quarantined mutation again; returns its new seq.
    pub fn retry_quarantined(&self, seq: u64) -> Result<u64> {
        let (seq, counts) = self.inner.store.retry_quarantined(seq)?;
        self.written_with(counts);
        Ok(seq)
    }

    /// Edits a quarantined mutation and sends it again; returns its new seq.
    pub fn edit_quarantined(&self, seq: u64, changes: HashMap<String, Value>) -> Result<u64> {
        let (seq, counts) = self.inner.store.edit_quarantined(seq, changes)?;
        self.written_with(counts);
        Ok(seq)
    }

    /// Drops a quarantined mutation and undoes it locally.
    pub fn discard_quarantined(&self, seq: u64) -> Result<()> {
        let counts = self.inner.store.discard_quarantined(seq)?;
        self.inner.publish_counts(counts);
        Ok(())
    }

    /// Where a mutation is on its way (saved, accepted, seen, …).
    pub fn mutation_stage(&self, mutation_id: &str) -> Result<Option<MutationStage>> {
        Ok(self.inner.store.mutation_stage(mutation_id)?)
    }

    /// The shell reports the OS's connectivity (at start and on every change). Until the first
    /// report the core assumes a working link (the status says `Online` and syncs are tried);
    /// a report of no connectivity stops syncs and probes until connectivity returns, which
    /// itself triggers a sync. A loss shorter than a second is ignored.
    ///
    /// ```no_run
    /// # fn demo(client: &syncline_core::Syncline) {
    /// use syncline_core::{Connectivity, NetworkType};
    ///
    /// client.report_connectivity(Connectivity::online(NetworkType::Wifi)); // from the OS
    /// client.report_connectivity(Connectivity::offline());
    /// # }
    /// ```
    pub fn report_connectivity(&self, connectivity: Connectivity) {
        self.inner.feed(Input::Connectivity(connectivity));
    }

    /// The app came to the foreground: a sync if `AutoSync::on_resume` says so, and the live
    /// stream opens again (`Config::live`). The client counts as in the foreground from
    /// [`Syncline::open`] until [`Syncline::paused`].
    pub fn resumed(&self) {
        self.inner.feed(Input::Resume);
    }

    /// The app went to the background: the live stream closes (the OS would cut it anyway, and
    /// an open connection keeps the radio awake); periodic and requested syncs go on as the OS
    /// lets them. Call [`Syncline::resumed`] when it returns.
    pub fn paused(&self) {
        self.inner.feed(Input::Pause);
    }

    /// Whether the live stream is open: another device's change reaches this one within moments
    /// (a hint, then a pull), instead of at the next sync. It opens while the app is in the
    /// foreground, online and signed in (`Config::live`), and reconnects by itself with backoff;
    /// [`Event::LiveChanged`] tells each change. Not part of the status or the banner: whether
    /// the device is live never changes what the user is told about sync.
    pub fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    /// The banner's Retry action: forget the backoff and sync now.
    pub fn retry(&self) {
        self.inner.feed(Input::RetryNow);
    }

    /// Replaces the user's token (after signing in again); syncing resumes.
    pub fn set_token(&self, token: &str) {
        self.inner.engine.transport().set_token(token);
        self.inner.feed(Input::TokenChanged);
    }

    /// The network state: online, offline, server unreachable or sign-in needed. Before any
    /// [`Syncline::report_connectivity`] it is `Online`: the link is assumed until a connection
    /// fails (then `ServerUnreachable`) or the OS reports none.
    pub fn network_status(&self) -> NetworkStatus {
        self.inner.network()
    }

    /// The kind of network the OS last reported.
    pub fn network_type(&self) -> NetworkType {
        self.inner.connectivity().kind
    }

    /// The status now (what the last listener call carried).
    pub fn status(&self) -> SyncStatus {
        self.inner.status.borrow().clone()
    }

    /// The banner for the current status.
    pub fn banner(&self) -> Banner {
        self.inner.status.borrow().banner.clone()
    }

    /// A receiver that holds the current status and sees every change after (coalesced: a slow
    /// reader sees the latest value, never a backlog).
    pub fn watch_status(&self) -> watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// Calls `listener` with the current status at once and with every change after, coalesced
    /// (a burst of changes while it runs reaches it as the latest value). It runs on the client's
    /// listeners' thread, as watches' listeners do: return quickly (hand the value to your UI
    /// thread), since a slow listener delays the others' calls. A panic in it is logged and the
    /// listener goes on. Stops when the returned
    /// [`ListenerHandle`] is dropped or stopped.
    pub fn listen(&self, listener: impl Fn(SyncStatus) + Send + Sync + 'static) -> ListenerHandle {
        self.live
            .listen(&self.inner.rt, self.inner.status.subscribe(), listener)
    }

    /// Calls `listener` with the banner now and whenever it changes, never twice the same banner
    /// in a row (a status change that leaves the banner as it was, such as one more record
    /// pulled, is not delivered). Called like [`Syncline::listen`]'s listener.
    ///
    /// ```no_run
    /// # fn show(_: &syncline_core::Banner) {}
    /// # fn demo(client: &syncline_core::Syncline) {
    /// let handle = client.listen_banner(|banner| show(&banner));
    /// // … later, or by dropping it:
    /// handle.stop();
    /// # }
    /// ```
    pub fn listen_banner(
        &self,
        listener: impl Fn(Banner) + Send + Sync + 'static,
    ) -> ListenerHandle {
        // The listeners' thread calls one listener at a time, so the lock is never contended.
        let last = std::sync::Mutex::new(None::<Banner>);
        self.listen(move |status| {
            let mut last = crate::shared::lock(&last);
            if last.as_ref() == Some(&status.banner) {
                return;
            }
            *last = Some(status.banner.clone());
            drop(last);
            listener(status.banner);
        })
    }

    /// Calls `listener` with the page `query` selects from `entity` now, and again after every
    /// committed transaction that changed `entity` (a local write, a pulled page, a push answer,
    /// a conflict settled, a quarantined mutation retried or discarded): at once after a quiet
    /// spell, then at most every 200 ms while changes keep coming (longer when many watches make
    /// a round of re-reads slow), and never twice the same page. Records carry their sync state.
    /// Re-reads run off the app's threads, on the store's read-only connection; the listener is
    /// called on the client's listeners' thread (return quickly), and a panic in it is logged
    /// and it stays subscribed. Stops when the returned [`ListenerHandle`] is dropped or stopped.
    /// Names and values in `query` are checked now.
    pub fn watch(
        &self,
        entity: &str,
        query: &Query,
        listener: impl Fn(Result<Page>) + Send + Sync + 'static,
    ) -> Result<ListenerHandle> {
        self.inner.store.check_query(entity, query)?;
        let name = entity.to_string();
        let query = query.clone();
        Ok(self.live.watch(
            &self.inner.rt,
            &self.inner.store,
            entity,
            move |store, last| store.query_if_changed(&name, &query, last),
            listener,
        )?)
    }

    /// Calls `listener` with the record of `entity` with this key now (`None`: there is none),
    /// and again whenever it changes, its deletion included; throttled like [`Syncline::watch`].
    pub fn watch_record(
        &self,
        entity: &str,
        key: &str,
        listener: impl Fn(Result<Option<Record>>) + Send + Sync + 'static,
    ) -> Result<ListenerHandle> {
        self.inner
            .store
            .schema()
            .entity(entity)
            .map_err(Error::from)?;
        let (name, key) = (entity.to_string(), key.to_string());
        Ok(self.live.watch(
            &self.inner.rt,
            &self.inner.store,
            entity,
            move |store, last| store.get_if_changed(&name, &key, last),
            listener,
        )?)
    }

    /// Calls `listener` with the conflicts waiting for the user (as [`Syncline::conflicts`]
    /// lists them, oldest first) now, and again after every committed transaction that changed
    /// that list: a sync that put a conflict in the inbox or merged a newer one into it, a
    /// conflict resolved. Throttled and called like [`Syncline::watch`]'s listener, and never with
    /// the same list twice, so a conflicts screen can follow it instead of reading the inbox
    /// again on every status change.
    pub fn watch_conflicts(
        &self,
        listener: impl Fn(Result<Vec<Conflict>>) + Send + Sync + 'static,
    ) -> Result<ListenerHandle> {
        Ok(self.live.watch(
            &self.inner.rt,
            &self.inner.store,
            SETTLE_KEY,
            |store, last| store.conflicts_if_changed(last),
            listener,
        )?)
    }

    /// Calls `listener` with the quarantined mutations (as [`Syncline::quarantined`]
    /// lists them, oldest first) now, and again after every committed transaction that changed
    /// that list: a push answer that quarantined one, a quarantined mutation retried, edited or
    /// discarded. Throttled and called like [`Syncline::watch`]'s listener, and never with the
    /// same list twice.
    pub fn watch_quarantined(
        &self,
        listener: impl Fn(Result<Vec<QuarantinedMutation>>) + Send + Sync + 'static,
    ) -> Result<ListenerHandle> {
        Ok(self.live.watch(
            &self.inner.rt,
            &self.inner.store,
            SETTLE_KEY,
            |store, last| store.quarantined_if_changed(last),
            listener,
        )?)
    }

    /// Events (syncs started, completed, failed; network changes; the live stream opening and
    /// closing). A receiver that falls more
    /// than 64 events behind skips the oldest.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The requests waiting in the queue, in the order they will run.
    pub fn queued_syncs(&self) -> Vec<SyncRequest> {
        self.inner.queued()
    }

    /// Queues a sync of `unit` and returns at once; it runs when the scheduler allows (online,
    /// not backing off), after requests of higher priority. A unit already queued is not queued
    /// twice. With `discard_pending`, queued requests are dropped (never the running one, never
    /// outbox data) and this one goes first.
    pub fn trigger_sync(&self, unit: &str, discard_pending: bool) -> Result<()> {
        let priority = self.inner.unit(unit)?.priority;
        self.inner.request(unit, priority, discard_pending, false);
        Ok(())
    }

    /// Syncs `unit` (push, then pull, entity by entity) and returns what reached the device and
    /// the server since the call. The request goes through the queue ahead of background
    /// requests and runs even while the scheduler backs off. A sync already running (the one the
    /// client starts by itself at open, say) is joined: the report adds what it did to `unit`'s
    /// entities, so the records it brought count. Fails at once with [`SynclineError::Offline`]
    /// when the device is offline.
    pub async fn sync_now(&self, unit: &str) -> Result<SyncReport> {
        let (joined, answer) = self.request_now(unit)?;
        runtime::run(Self::answer(joined, answer)).await?
    }

    /// [`Syncline::sync_now`] for callers that are not async (a terminal, a test).
    pub fn sync_now_blocking(&self, unit: &str) -> Result<SyncReport> {
        let (joined, answer) = self.request_now(unit)?;
        runtime::block_on(Self::answer(joined, answer))?
    }

    /// Joins the sync in progress, if any (a sync the client started by itself, say at open),
    /// and queues a run of `unit` first in line: that run pushes what the app saved before the
    /// call, which the joined one may have missed.
    fn request_now(&self, unit: &str) -> Result<(Option<ReportReceiver>, ReportReceiver)> {
        self.inner.unit(unit)?;
        if !self.inner.connectivity().connected {
            return Err(SynclineError::Offline);
        }
        let joined = self.inner.join_running();
        let answer = self.inner.wait_for(unit);
        self.inner.request(unit, AWAITED_PRIORITY, false, true);
        Ok((joined, answer))
    }

    /// The report of the run of the unit, with what the joined run (if it succeeded) did to the
    /// same entities added in: what reached the device and the server since the call.
    async fn answer(
        joined: Option<ReportReceiver>,
        answer: ReportReceiver,
    ) -> std::result::Result<Result<SyncReport>, Error> {
        let joined = match joined {
            Some(rx) => rx.await.ok().and_then(|outcome| outcome.ok()),
            None => None,
        };
        Ok(answer
            .await
            .unwrap_or_else(|_| stopped())
            .map(|mut report| {
                if let Some(joined) = joined {
                    report.add(&joined);
                }
                report
            }))
    }
}

/// Where a `sync_now` caller gets a run's outcome.
type ReportReceiver = oneshot::Receiver<Result<SyncReport>>;

/// What a `sync_now` caller gets when the engine went away before answering.
fn stopped() -> Result<SyncReport> {
    Err(Error::Stopped("the sync engine stopped".into()).into())
}
