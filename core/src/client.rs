//! [`Syncline`]: the one object an app holds. It owns the local store, the engine and the status,
//! and runs all network work on the core's own runtime.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{Config, SyncUnit};
use crate::engine::{Engine, SyncReport};
use crate::error::{Error, Result};
use crate::outbox::{now_ms, MutationReceipt, QuarantinedMutation};
use crate::runtime;
use crate::schema::Schema;
use crate::status::{Activity, Banner, Status};
use crate::store::{Page, Query, Store};
use crate::transport::Transport;
use crate::value::{Record, Value};

const LAST_SYNCED_AT: &str = "last_synced_at";

/// An offline-first client of one user: local data, outbox, sync and status.
///
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Syncline {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    engine: Engine,
    units: Vec<SyncUnit>,
    sync_timeout: std::time::Duration,
    connected: AtomicBool,
    /// One sync at a time: a second caller waits for the first to finish.
    sync_gate: tokio::sync::Mutex<()>,
    status: watch::Sender<Status>,
}

impl Syncline {
    /// Opens the store at `path` with the app's `schema`, for the user and server in `config`.
    pub fn open(path: &Path, schema: Schema, config: Config) -> Result<Syncline> {
        let units = config.resolve_units(&schema)?;
        let transport = Transport::new(&config)?;
        let store = Arc::new(Store::open(path, schema)?);
        let (pending, quarantined) = store.outbox_counts()?;
        let last_synced_at = store.meta(LAST_SYNCED_AT)?.and_then(|v| v.parse().ok());
        let status = Status {
            pending,
            quarantined,
            last_synced_at,
            ..Status::default()
        };
        let engine = Engine::new(store.clone(), transport, config.push_batch_size);
        Ok(Syncline {
            inner: Arc::new(Inner {
                store,
                engine,
                units,
                sync_timeout: config.sync_timeout,
                connected: AtomicBool::new(true),
                sync_gate: tokio::sync::Mutex::new(()),
                status: watch::channel(status).0,
            }),
        })
    }

    /// The local store (reads, writes, outbox inspection).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// This device's client id.
    pub fn client_id(&self) -> &str {
        self.inner.store.client_id()
    }

    /// Creates a record (saved locally at once; synced later).
    pub fn insert(&self, entity: &str, record: Record) -> Result<MutationReceipt> {
        let receipt = self.inner.store.insert(entity, record)?;
        self.inner.refresh_counts();
        Ok(receipt)
    }

    /// Changes fields of a record; `None` when nothing actually changed.
    pub fn update(
        &self,
        entity: &str,
        key: &str,
        changes: BTreeMap<String, Value>,
    ) -> Result<Option<MutationReceipt>> {
        let receipt = self.inner.store.update(entity, key, changes)?;
        self.inner.refresh_counts();
        Ok(receipt)
    }

    /// Deletes a record.
    pub fn delete(&self, entity: &str, key: &str) -> Result<MutationReceipt> {
        let receipt = self.inner.store.delete(entity, key)?;
        self.inner.refresh_counts();
        Ok(receipt)
    }

    /// A record by key.
    pub fn get(&self, entity: &str, key: &str) -> Result<Option<Record>> {
        self.inner.store.get(entity, key)
    }

    /// A page of records.
    pub fn query(&self, entity: &str, query: &Query) -> Result<Page> {
        self.inner.store.query(entity, query)
    }

    /// Mutations the server refused, with its reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedMutation>> {
        self.inner.store.quarantined()
    }

    /// The shell reports whether the OS has connectivity.
    pub fn report_connectivity(&self, connected: bool) {
        self.inner.connected.store(connected, Ordering::SeqCst);
        self.inner.status.send_if_modified(|s| {
            let changed = s.connected != connected;
            s.connected = connected;
            changed
        });
    }

    /// Replaces the user's token (after signing in again).
    pub fn set_token(&self, token: &str) {
        self.inner.engine.transport().set_token(token);
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// The banner for the current status.
    pub fn banner(&self) -> Banner {
        self.inner.status.borrow().banner()
    }

    /// A receiver that holds the current status and sees every change after (coalesced: a slow
    /// reader sees the latest value, never a backlog).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Syncs `unit` (push, then pull, entity by entity) and returns what it did. Runs on the
    /// core's runtime whatever the caller's; waits for a sync already running to finish first.
    pub async fn sync_now(&self, unit: &str) -> Result<SyncReport> {
        let inner = self.inner.clone();
        let unit = unit.to_string();
        runtime::run(async move { inner.sync(&unit).await }).await
    }

    /// [`Syncline::sync_now`] for callers that are not async (a terminal, a test).
    pub fn sync_now_blocking(&self, unit: &str) -> Result<SyncReport> {
        let inner = self.inner.clone();
        let unit = unit.to_string();
        runtime::block_on(async move { inner.sync(&unit).await })
    }
}

impl Inner {
    fn refresh_counts(&self) {
        match self.store.outbox_counts() {
            Ok((pending, quarantined)) => {
                self.status.send_if_modified(|s| {
                    let changed = s.pending != pending || s.quarantined != quarantined;
                    s.pending = pending;
                    s.quarantined = quarantined;
                    changed
                });
            }
            Err(e) => log::warn!("cannot count the outbox: {e}"),
        }
    }

    fn set_activity(&self, activity: Activity) {
        self.status.send_if_modified(|s| {
            let changed = s.activity != activity;
            s.activity = activity;
            changed
        });
    }

    async fn sync(&self, unit_name: &str) -> Result<SyncReport> {
        let unit = self
            .units
            .iter()
            .find(|u| u.name == unit_name)
            .ok_or_else(|| Error::UnknownUnit(unit_name.to_string()))?;
        if !self.connected.load(Ordering::SeqCst) {
            return Err(Error::Offline);
        }
        let _running = self.sync_gate.lock().await;
        self.set_activity(Activity::Syncing {
            unit: unit.name.clone(),
        });
        let outcome = match tokio::time::timeout(self.sync_timeout, self.engine.sync(unit)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Timeout(format!(
                "sync of `{}` took longer than {:?}",
                unit.name, self.sync_timeout
            ))),
        };
        self.refresh_counts();
        match &outcome {
            Ok(report) => {
                let now = now_ms();
                if let Err(e) = self.store.set_meta(LAST_SYNCED_AT, &now.to_string()) {
                    log::warn!("cannot store the last sync time: {e}");
                }
                self.status.send_modify(|s| {
                    s.activity = Activity::Idle;
                    s.last_synced_at = Some(now);
                });
                log::info!("sync of `{}` done: {:?}", unit.name, report.entities);
            }
            Err(e) => {
                log::warn!("sync of `{}` failed: {e}", unit.name);
                self.set_activity(Activity::Failed {
                    reason: e.summary(),
                    retryable: e.is_retryable(),
                });
            }
        }
        outcome
    }
}
