//! [`Syncline`]: the one object an app holds. It owns the local store, the engine, the scheduler
//! and the status, and runs all network work on the core's own runtime.
//!
//! This module is the scheduler's driver: it feeds [`Machine`] real events (API calls, timers,
//! syncs and probes ending) and carries out its actions (queue writes, starting syncs, probes).
//! Every decision is the machine's; nothing here decides *when*.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use syncline_protocol::{ConflictPolicy, Schema, Value};
use tokio::sync::{broadcast, oneshot, watch, Notify};

use crate::config::{Config, SyncUnit};
use crate::conflict::{Conflict, Resolution};
use crate::engine::{Engine, SyncReport};
use crate::error::{Error, Result};
use crate::machine::{Action, FailureKind, Input, Machine, Millis, ProbeResult};
use crate::mutation::{MutationReceipt, MutationStage, QuarantinedMutation};
use crate::network::{Connectivity, NetworkStatus, NetworkType};
use crate::queue::SyncRequest;
use crate::record::{Page, Query, Record};
use crate::runtime;
use crate::shared::{lock, now_ms};
use crate::status::{Banner, Progress, Status, SyncState};
use crate::store::Store;
use crate::transport::Transport;

const LAST_SYNCED_AT: &str = "last_synced_at";
/// Priority of a request someone awaits (`sync_now`): ahead of background requests.
const AWAITED_PRIORITY: i32 = 1000;

/// Something that happened in the sync engine, for apps that want more than the status.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A sync of `unit` started.
    SyncStarted {
        /// The unit.
        unit: String,
    },
    /// A sync completed.
    SyncCompleted {
        /// What it did (names the unit).
        report: SyncReport,
    },
    /// A sync failed.
    SyncFailed {
        /// The unit.
        unit: String,
        /// Why.
        error: Error,
    },
    /// The network state changed.
    NetworkChanged {
        /// The new state.
        status: NetworkStatus,
        /// What the OS reports.
        connectivity: Connectivity,
    },
}

/// A status listener's registration: dropping it (or calling [`Subscription::stop`]) stops the
/// listener.
pub struct Subscription {
    task: tokio::task::AbortHandle,
}

impl Subscription {
    /// Stops the listener; it is not called again.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An offline-first client of one user: local data, outbox, sync and status.
///
/// Cheap to clone; clones share everything. Dropping the last clone stops its background work.
#[derive(Clone)]
pub struct Syncline {
    inner: Arc<Inner>,
}

type Waiter = oneshot::Sender<Result<SyncReport>>;

/// Callers of `sync_now`, by the unit they wait for.
#[derive(Default)]
struct Waiters {
    /// Waiting for the unit's next run.
    queued: HashMap<String, Vec<Waiter>>,
    /// Waiting for the run in progress.
    running: Vec<Waiter>,
}

struct Inner {
    /// The core's runtime, where every background task runs.
    rt: tokio::runtime::Handle,
    store: Arc<Store>,
    engine: Engine,
    units: Vec<SyncUnit>,
    sync_timeout: std::time::Duration,
    /// Zero of the machine's clock.
    epoch: Instant,
    machine: Mutex<Machine>,
    /// Wakes the timer task when the machine's next wake-up may have moved.
    wake: Arc<Notify>,
    progress: Mutex<Option<Progress>>,
    waiters: Mutex<Waiters>,
    status: watch::Sender<Status>,
    events: broadcast::Sender<Event>,
}

/// How the scheduler sees a failed sync.
fn failure_kind(error: &Error) -> FailureKind {
    match error {
        Error::Offline => FailureKind::Offline,
        Error::Unreachable(_) => FailureKind::Unreachable,
        Error::SignInNeeded { .. } => FailureKind::SignInNeeded,
        Error::Server { retry_after, .. } if error.is_retryable() => FailureKind::Retryable {
            retry_after: retry_after.map(Duration::from_secs),
        },
        e if e.is_retryable() => FailureKind::Retryable { retry_after: None },
        _ => FailureKind::Fatal,
    }
}

impl Syncline {
    /// Opens the store at `path` with the app's `schema`, for the user and server in `config`, and
    /// starts the scheduler (which syncs by itself as `config.auto` says).
    pub fn open(path: &Path, schema: Schema, config: Config) -> Result<Syncline> {
        let units = config.resolve_units(&schema)?;
        let transport = Transport::new(&config)?;
        let store = Arc::new(Store::open(path, schema)?);
        let status = Status {
            last_synced_at: store.meta(LAST_SYNCED_AT)?.and_then(|v| v.parse().ok()),
            ..Status::default()
        };
        let engine = Engine::new(store.clone(), transport, config.push_batch_size);
        let seed = fastrand::u64(..);
        let inner = Arc::new(Inner {
            rt: runtime::handle()?,
            store,
            engine,
            units,
            sync_timeout: config.sync_timeout,
            epoch: Instant::now(),
            machine: Mutex::new(Machine::new(config.auto.clone(), seed)),
            wake: Arc::new(Notify::new()),
            progress: Mutex::new(None),
            waiters: Mutex::new(Waiters::default()),
            status: watch::channel(status).0,
            events: broadcast::channel(64).0,
        });
        inner.refresh_counts();
        // The queue survived the restart: the machine learns what is in it before it starts.
        for request in inner.store.queued_syncs()? {
            inner.feed(Input::Queued {
                unit: request.unit,
                discard_pending: false,
                force: false,
            });
        }
        inner.rt.spawn(timers(Arc::downgrade(&inner)));
        inner.feed(Input::Start);
        Ok(Syncline { inner })
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
    fn check_editable(&self, entity: &str) -> Result<()> {
        let e = self.inner.store.schema().entity(entity)?;
        if e.sync.conflict == ConflictPolicy::LockedOffline
            && self.network_status() != NetworkStatus::Online
        {
            return Err(Error::LockedOffline(entity.to_string()));
        }
        Ok(())
    }

    /// After a local write: new counts, and a (debounced) sync.
    fn written(&self) {
        self.inner.refresh_counts();
        self.inner.feed(Input::LocalChange);
    }

    /// Creates a record (saved locally at once; synced later).
    pub fn insert(&self, entity: &str, record: Record) -> Result<MutationReceipt> {
        self.check_editable(entity)?;
        let receipt = self.inner.store.insert(entity, record)?;
        self.written();
        Ok(receipt)
    }

    /// Changes fields of a record; `None` when nothing actually changed.
    pub fn update(
        &self,
        entity: &str,
        key: &str,
        changes: BTreeMap<String, Value>,
    ) -> Result<Option<MutationReceipt>> {
        self.check_editable(entity)?;
        let receipt = self.inner.store.update(entity, key, changes)?;
        if receipt.is_some() {
            self.written();
        }
        Ok(receipt)
    }

    /// Deletes a record.
    pub fn delete(&self, entity: &str, key: &str) -> Result<MutationReceipt> {
        self.check_editable(entity)?;
        let receipt = self.inner.store.delete(entity, key)?;
        self.written();
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

    /// The keys of `entity`'s records with mutations waiting to be pushed (to mark unsynced rows).
    pub fn pending_keys(&self, entity: &str) -> Result<Vec<String>> {
        self.inner.store.pending_keys(entity)
    }

    /// Mutations the server refused, with its reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedMutation>> {
        self.inner.store.quarantined()
    }

    /// Conflicts waiting for the user, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.inner.store.conflicts()
    }

    /// Settles a conflict as the user decided; the chosen version syncs next.
    pub fn resolve(&self, id: i64, resolution: Resolution) -> Result<Option<MutationReceipt>> {
        let receipt = self.inner.store.resolve(id, resolution)?;
        self.written();
        Ok(receipt)
    }

    /// Sends a quarantined change again; returns its new seq.
    pub fn retry_quarantined(&self, seq: u64) -> Result<u64> {
        let seq = self.inner.store.retry_quarantined(seq)?;
        self.written();
        Ok(seq)
    }

    /// Edits a quarantined change and sends it again; returns its new seq.
    pub fn edit_quarantined(&self, seq: u64, changes: BTreeMap<String, Value>) -> Result<u64> {
        let seq = self.inner.store.edit_quarantined(seq, changes)?;
        self.written();
        Ok(seq)
    }

    /// Drops a quarantined change and undoes it locally.
    pub fn discard_quarantined(&self, seq: u64) -> Result<()> {
        self.inner.store.discard_quarantined(seq)?;
        self.inner.refresh_counts();
        Ok(())
    }

    /// Where a mutation is on its way (saved, accepted, seen, …).
    pub fn mutation_stage(&self, mutation_id: &str) -> Result<Option<MutationStage>> {
        self.inner.store.mutation_stage(mutation_id)
    }

    /// The shell reports the OS's connectivity (at start and on every change).
    pub fn report_connectivity(&self, connectivity: Connectivity) {
        self.inner.feed(Input::Connectivity(connectivity));
    }

    /// The app came to the foreground.
    pub fn resumed(&self) {
        self.inner.feed(Input::Resume);
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

    /// The network state: online, offline, server unreachable or sign-in needed.
    pub fn network_status(&self) -> NetworkStatus {
        lock(&self.inner.machine).network()
    }

    /// The kind of network the OS last reported.
    pub fn network_type(&self) -> NetworkType {
        lock(&self.inner.machine).connectivity().kind
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
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Calls `listener` with the current status at once and with every change after, coalesced
    /// (a burst of changes while it runs reaches it as the latest value). It runs on the core's
    /// runtime; a panic in it is logged and the listener goes on. Stops when the returned
    /// [`Subscription`] is dropped or stopped.
    pub fn listen(&self, listener: impl Fn(Status) + Send + Sync + 'static) -> Subscription {
        let mut rx = self.inner.status.subscribe();
        let task = self.inner.rt.spawn(async move {
            loop {
                let status = rx.borrow_and_update().clone();
                let call = std::panic::AssertUnwindSafe(|| listener(status));
                if std::panic::catch_unwind(call).is_err() {
                    log::error!("a status listener panicked; it stays subscribed");
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        Subscription {
            task: task.abort_handle(),
        }
    }

    /// Events (syncs started, completed, failed; network changes). A receiver that falls more
    /// than 64 events behind skips the oldest.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The requests waiting in the queue, in the order they will run.
    pub fn queued_syncs(&self) -> Result<Vec<SyncRequest>> {
        self.inner.store.queued_syncs()
    }

    /// Queues a sync of `unit` and returns at once; it runs when the scheduler allows (online,
    /// not backing off), after requests of higher priority. A unit already queued is not queued
    /// twice. With `discard_pending`, queued requests are dropped (never the running one, never
    /// outbox data) and this one goes first.
    pub fn trigger_sync(&self, unit: &str, discard_pending: bool) -> Result<()> {
        let priority = self.inner.unit(unit)?.priority;
        self.inner
            .queue(unit, priority, discard_pending, false)
            .map(|_| ())
    }

    /// Syncs `unit` (push, then pull, entity by entity) and returns what it did. The request goes
    /// through the queue ahead of background requests and runs even while the scheduler backs
    /// off; a sync already running finishes first. Fails at once with [`Error::Offline`] when
    /// the device is offline.
    pub async fn sync_now(&self, unit: &str) -> Result<SyncReport> {
        let answer = self.request_now(unit)?;
        runtime::run(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(Error::Stopped("the sync engine stopped".into())))
        })
        .await
    }

    /// [`Syncline::sync_now`] for callers that are not async (a terminal, a test).
    pub fn sync_now_blocking(&self, unit: &str) -> Result<SyncReport> {
        let answer = self.request_now(unit)?;
        runtime::block_on(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(Error::Stopped("the sync engine stopped".into())))
        })
    }

    fn request_now(&self, unit: &str) -> Result<oneshot::Receiver<Result<SyncReport>>> {
        self.inner.unit(unit)?;
        if !lock(&self.inner.machine).connectivity().connected {
            return Err(Error::Offline);
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.waiters)
            .queued
            .entry(unit.to_string())
            .or_default()
            .push(tx);
        self.inner.queue(unit, AWAITED_PRIORITY, false, true)?;
        Ok(rx)
    }
}

/// Sleeps until the machine's next timer and ticks it; ends when the client is dropped.
async fn timers(inner: Weak<Inner>) {
    loop {
        let (wake_at, now) = {
            let Some(inner) = inner.upgrade() else { return };
            let wake = lock(&inner.machine).next_wake();
            (wake, inner.now())
        };
        let sleep = match wake_at {
            Some(at) => std::time::Duration::from_millis(at.saturating_sub(now)),
            // Nothing scheduled: wait for a notification, re-checking now and then.
            None => std::time::Duration::from_secs(60),
        };
        // Only the notifier is held while sleeping, so dropping the client is not delayed.
        let Some(wake) = inner.upgrade().map(|i| i.wake.clone()) else {
            return;
        };
        let notified = tokio::select! {
            _ = wake.notified() => true,
            _ = tokio::time::sleep(sleep) => false,
        };
        if !notified {
            let Some(inner) = inner.upgrade() else { return };
            inner.feed(Input::Tick);
        }
    }
}

impl Inner {
    /// Now on the machine's clock.
    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    fn unit(&self, name: &str) -> Result<&SyncUnit> {
        self.units
            .iter()
            .find(|u| u.name == name)
            .ok_or_else(|| Error::UnknownUnit(name.to_string()))
    }

    /// Writes a request to the durable queue and tells the machine, under the machine's lock (so
    /// the machine never starts the next request between the two).
    fn queue(
        self: &Arc<Self>,
        unit: &str,
        priority: i32,
        discard_pending: bool,
        force: bool,
    ) -> Result<()> {
        let actions = {
            let mut machine = lock(&self.machine);
            self.store.queue_sync(unit, priority, discard_pending)?;
            if discard_pending {
                // Callers awaiting a dropped request learn it now rather than never.
                let mut waiters = lock(&self.waiters);
                let dropped: Vec<String> = waiters
                    .queued
                    .keys()
                    .filter(|u| *u != unit)
                    .cloned()
                    .collect();
                for u in dropped {
                    for w in waiters.queued.remove(&u).unwrap_or_default() {
                        let _ = w.send(Err(Error::Discarded(format!(
                            "the sync of `{u}` was dropped for `{unit}`"
                        ))));
                    }
                }
            }
            self.step_locked(
                &mut machine,
                Input::Queued {
                    unit: unit.to_string(),
                    discard_pending,
                    force,
                },
            )
        };
        self.carry_out(actions);
        Ok(())
    }

    /// Steps the machine (its lock held by the caller) and writes the queue requests it asks
    /// for before the lock is released: the durable queue is never behind the machine's mirror.
    /// Lock order everywhere: machine, then waiters, progress or the store's writer.
    fn step_locked(&self, machine: &mut Machine, input: Input) -> Vec<Action> {
        let actions = machine.step(self.now(), input);
        for action in &actions {
            if let Action::Enqueue { unit } = action {
                let priority = self.unit(unit).map_or(0, |u| u.priority);
                if let Err(e) = self.store.queue_sync(unit, priority, false) {
                    log::error!("cannot queue a sync of `{unit}`: {e}");
                }
            }
        }
        actions
    }

    /// Feeds the machine one input and carries out what it asks.
    fn feed(self: &Arc<Self>, input: Input) {
        let actions = {
            let mut machine = lock(&self.machine);
            self.step_locked(&mut machine, input)
        };
        self.carry_out(actions);
    }

    /// Starts what the machine asked for (outside its lock), then publishes the new status.
    fn carry_out(self: &Arc<Self>, actions: Vec<Action>) {
        for action in actions {
            match action {
                // Written by `step_locked` already.
                Action::Enqueue { .. } => {}
                Action::RunNext => self.start_next(),
                Action::Probe => {
                    let inner = self.clone();
                    self.rt.spawn(async move {
                        let result = match inner.engine.transport().me().await {
                            Ok(_) => ProbeResult::Reachable,
                            Err(Error::SignInNeeded { .. }) => ProbeResult::SignInNeeded,
                            Err(e) => {
                                log::debug!("probe: {e}");
                                ProbeResult::Unreachable
                            }
                        };
                        inner.feed(Input::ProbeEnded(result));
                    });
                }
            }
        }
        self.publish();
        self.wake.notify_one();
    }

    /// Takes the next request off the durable queue and tells the machine, under its lock.
    fn start_next(self: &Arc<Self>) {
        let (request, actions) = {
            let mut machine = lock(&self.machine);
            match self.store.start_next_sync() {
                Ok(Some(request)) => {
                    let mut waiters = lock(&self.waiters);
                    let now_running = waiters.queued.remove(&request.unit).unwrap_or_default();
                    waiters.running.extend(now_running);
                    drop(waiters);
                    *lock(&self.progress) = None;
                    let unit = request.unit.clone();
                    let actions = self.step_locked(&mut machine, Input::Started { unit });
                    (Some(request), actions)
                }
                other => {
                    if let Err(e) = other {
                        log::error!("cannot read the sync queue: {e}");
                    }
                    (None, self.step_locked(&mut machine, Input::QueueEmpty))
                }
            }
        };
        if let Some(request) = request {
            let _ = self.events.send(Event::SyncStarted {
                unit: request.unit.clone(),
            });
            let inner = self.clone();
            self.rt.spawn(async move { inner.run(request).await });
        }
        self.carry_out(actions);
    }

    /// Runs one request to its end and reports it to the machine, the waiters and the events.
    async fn run(self: Arc<Self>, request: SyncRequest) {
        let outcome = match self.unit(&request.unit) {
            Ok(unit) => {
                let inner = self.clone();
                let progress = move |p: Progress| {
                    *lock(&inner.progress) = Some(p);
                    inner.publish();
                };
                match tokio::time::timeout(self.sync_timeout, self.engine.sync(unit, &progress))
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Error::Timeout(format!(
                        "sync of `{}` took longer than {:?}",
                        unit.name, self.sync_timeout
                    ))),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = self.store.finish_sync(request.id) {
            log::error!("cannot remove a finished sync request: {e}");
        }
        let pending = self.refresh_counts();
        if outcome.is_ok() {
            let now = now_ms();
            if let Err(e) = self.store.set_meta(LAST_SYNCED_AT, &now.to_string()) {
                log::warn!("cannot store the last sync time: {e}");
            }
            self.status.send_modify(|s| s.last_synced_at = Some(now));
        }
        let failure = match &outcome {
            Ok(report) => {
                log::info!("sync of `{}` done: {:?}", report.unit, report.entities);
                None
            }
            Err(e) => {
                log::warn!("sync of `{}` failed: {e}", request.unit);
                Some((failure_kind(e), e.summary()))
            }
        };
        let succeeded = failure.is_none();
        // This run's callers, taken before the machine may start the next run (whose callers
        // must not get this run's result).
        let waiters = std::mem::take(&mut lock(&self.waiters).running);
        self.feed(Input::Ended {
            unit: request.unit.clone(),
            failure,
        });
        // Changes saved during the sync, or of entities outside the unit, get their own sync
        // (only those the automatic unit carries: others would ask for it forever).
        if succeeded && pending > 0 && self.auto_unit_has_pending() {
            self.feed(Input::LocalChange);
        }
        let _ = self.events.send(match &outcome {
            Ok(report) => Event::SyncCompleted {
                report: report.clone(),
            },
            Err(error) => Event::SyncFailed {
                unit: request.unit.clone(),
                error: error.clone(),
            },
        });
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
    }

    /// Whether an entity of the automatic unit has pending changes.
    fn auto_unit_has_pending(&self) -> bool {
        let unit = lock(&self.machine).policy().unit.clone();
        self.unit(&unit).is_ok_and(|u| {
            u.entities
                .iter()
                .any(|e| self.store.has_pending(e).unwrap_or(false))
        })
    }

    /// Re-reads the outbox and inbox counts into the status; returns the pending count.
    fn refresh_counts(&self) -> u64 {
        match self.store.counts() {
            Ok(c) => {
                self.status.send_if_modified(|s| {
                    let changed = (s.pending, s.quarantined, s.conflicts)
                        != (c.pending, c.quarantined, c.conflicts);
                    s.pending = c.pending;
                    s.quarantined = c.quarantined;
                    s.conflicts = c.conflicts;
                    changed
                });
                c.pending
            }
            Err(e) => {
                log::warn!("cannot count the outbox: {e}");
                0
            }
        }
    }

    /// Publishes the machine's state into the status (only when something changed).
    fn publish(&self) {
        // Computed and sent under the machine's lock: two publishers cannot send out of order
        // (a stale "Syncing…" landing after "Idle").
        let machine = lock(&self.machine);
        let progress = lock(&self.progress);
        let (now, wall) = (self.now(), now_ms());
        let state = SyncState::of(&machine, progress.as_ref(), |t| {
            wall + (t as i64 - now as i64)
        });
        drop(progress);
        let (network, connectivity) = (machine.network(), machine.connectivity());
        let mut network_changed = false;
        self.status.send_if_modified(|s| {
            network_changed = s.network != network;
            let changed = s.state != state
                || network_changed
                || s.network_type != connectivity.kind
                || s.metered != connectivity.metered;
            s.state = state;
            s.network = network;
            s.network_type = connectivity.kind;
            s.metered = connectivity.metered;
            changed
        });
        drop(machine);
        if network_changed && network == NetworkStatus::Offline {
            // Callers awaiting a sync learn now that it waits for connectivity (the requests
            // stay queued and run when it returns).
            let waiting = std::mem::take(&mut lock(&self.waiters).queued);
            for w in waiting.into_values().flatten() {
                let _ = w.send(Err(Error::Offline));
            }
        }
        if network_changed {
            let _ = self.events.send(Event::NetworkChanged {
                status: network,
                connectivity,
            });
        }
    }
}
