//! The scheduler's driver: it feeds the [`Machine`] real events (API calls, timers, syncs and
//! probes ending) and carries out its actions (persisting the queue, starting syncs, probes),
//! keeps the waiters of `sync_now`, and publishes the status. Every decision is the machine's.
//!
//! Nothing here waits for SQLite while holding the machine's lock, and no SQLite work runs on the
//! runtime's async workers: queue changes go, in order, to a thread of their own
//! ([`QueueWriter`]); store reads after a sync run on the blocking pool. So `status()`,
//! `network_status()` and `report_connectivity()` (the OS's callback thread) never wait behind a
//! page being applied.
//!
//! The live stream runs here too: a task per stream the machine opens, reading its events
//! (`sse.rs`, `hints.rs`) and feeding them back as inputs; a hint becomes the units whose stored
//! cursors are behind, read from the store off the runtime's workers.
//!
//! Lock order: machine, then waiters, progress or the live flag. The status channel is written under the
//! machine's lock, so two publishers never send out of order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot, watch, Notify};

use crate::config::SyncUnit;
use crate::engine::{Engine, SyncReport};
use crate::error::{Error, Result, SynclineError};
use crate::hints::{is_news, ByeReason, LiveEvent};
use crate::machine::{
    Action, FailureKind, Input, LiveSettings, Machine, Millis, ProbeResult, StreamEnd,
};
use crate::network::{Connectivity, NetworkStatus};
use crate::queue::{Queue, QueueChange, SyncRequest};
use crate::record::Counts;
use crate::runtime::blocking;
use crate::shared::{lock, now_ms};
use crate::sse::SseParser;
use crate::status::{SyncProgress, SyncStatus};
use crate::store::Store;

/// The largest live-stream event read (`docs/protocol.md`); a larger one resets the stream.
const MAX_LIVE_EVENT_BYTES: usize = 64 * 1024;

/// Where the last completed sync's time is kept.
pub(crate) const LAST_SYNCED_AT: &str = "last_synced_at";

/// Something that happened in the sync engine, for apps that want more than the status.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A sync of `unit` started.
    SyncStarted {
        /// The unit it syncs.
        unit: String,
    },
    /// A sync completed.
    SyncCompleted {
        /// What it did (names the unit).
        report: SyncReport,
    },
    /// A sync failed.
    SyncFailed {
        /// The unit whose sync failed.
        unit: String,
        /// What went wrong, as the callers of `sync_now` got it.
        error: SynclineError,
    },
    /// The network state changed.
    NetworkChanged {
        /// The network state the core derives now.
        status: NetworkStatus,
        /// What the OS reports.
        connectivity: Connectivity,
    },
    /// The live stream opened (`live`: the device hears of other devices' changes as they
    /// happen) or closed (they arrive with the next sync). Never a banner change by itself.
    LiveChanged {
        /// Whether a live stream is open now.
        live: bool,
    },
}

type Waiter = oneshot::Sender<std::result::Result<SyncReport, SynclineError>>;

/// Callers of `sync_now`, by the unit they wait for.
#[derive(Default)]
struct Waiters {
    /// Waiting for the unit's next run.
    queued: HashMap<String, Vec<Waiter>>,
    /// Waiting for the run in progress.
    running: Vec<Waiter>,
    /// Whether a run is in progress whose callers are still in `running`: set when it starts,
    /// cleared when it takes them, so a caller joins a run only before its outcome is handed out.
    active: bool,
}

/// Persists the scheduler's queue changes, in the order they were made, on a thread of its own
/// (it may wait for the store's writer; nobody waits for it).
///
/// A mutex-guarded list and a condition variable rather than a channel: the changes that piled
/// up while the thread wrote go together into one transaction, and the mobile library carries
/// one channel implementation fewer.
struct QueueWriter {
    shared: Arc<(Mutex<Handoff>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// What the client hands the writer thread.
#[derive(Default)]
struct Handoff {
    changes: Vec<QueueChange>,
    closed: bool,
}

/// How long the writer waits before trying a failed batch again, at first and at most.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(30);

impl QueueWriter {
    fn start(store: Arc<Store>) -> Result<QueueWriter> {
        let shared = Arc::new((Mutex::new(Handoff::default()), Condvar::new()));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("syncline-queue".into())
            .spawn(move || write_queue(&store, &theirs))
            .map_err(|e| Error::Stopped(format!("cannot start the queue writer: {e}")))?;
        Ok(QueueWriter {
            shared,
            thread: Some(thread),
        })
    }

    fn send(&self, changes: Vec<QueueChange>) {
        let (handoff, ready) = &*self.shared;
        lock(handoff).changes.extend(changes);
        ready.notify_one();
    }
}

/// The writer thread: applies what the client hands over. A batch that fails (a full or busy
/// disk) is kept, ahead of anything newer, and tried again after a growing pause: the changes
/// are idempotent, so the table ends where the scheduler is.
fn write_queue(store: &Store, shared: &(Mutex<Handoff>, Condvar)) {
    let (handoff, ready) = shared;
    let mut failed: Vec<QueueChange> = Vec::new();
    let mut pause = RETRY_FIRST;
    loop {
        let (mut changes, closed) = {
            let mut h = lock(handoff);
            while h.changes.is_empty() && !h.closed && failed.is_empty() {
                h = ready.wait(h).unwrap_or_else(|p| p.into_inner());
            }
            if !failed.is_empty() && h.changes.is_empty() && !h.closed {
                h = ready
                    .wait_timeout(h, pause)
                    .map_or_else(|p| p.into_inner().0, |(h, _)| h);
            }
            (std::mem::take(&mut h.changes), h.closed)
        };
        if !failed.is_empty() {
            failed.append(&mut changes);
            changes = std::mem::take(&mut failed);
        }
        if !changes.is_empty() {
            match store.apply_queue_changes(&changes) {
                Ok(()) => pause = RETRY_FIRST,
                Err(e) => {
                    log::error!("cannot persist the sync queue (tried again later): {e}");
                    failed = changes;
                    pause = (pause * 2).min(RETRY_CAP);
                }
            }
        }
        if closed {
            return;
        }
    }
}

impl Drop for QueueWriter {
    /// Lets the thread write what is left. An app thread waits for it (the file may be opened
    /// again next); a runtime worker, which must not block, leaves it to finish and close the
    /// store on its own thread.
    fn drop(&mut self) {
        let (handoff, ready) = &*self.shared;
        lock(handoff).closed = true;
        ready.notify_one();
        if let Some(thread) = self.thread.take() {
            if tokio::runtime::Handle::try_current().is_err() {
                let _ = thread.join();
            }
        }
    }
}

/// Everything a client shares between its handle and its background work.
pub(crate) struct Driver {
    /// The core's runtime, where every background task runs.
    pub(crate) rt: tokio::runtime::Handle,
    /// Whether an upload round runs now (one at a time; it takes every waiting blob).
    uploading: std::sync::atomic::AtomicBool,
    /// One lock per blob being downloaded: a second caller waits for the first download and
    /// finds the file cached, instead of writing the same part file beside it.
    downloads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(crate) store: Arc<Store>,
    pub(crate) engine: Engine,
    units: Vec<SyncUnit>,
    sync_timeout: Duration,
    /// Zero of the machine's clock.
    epoch: Instant,
    machine: Mutex<Machine>,
    queue_writer: QueueWriter,
    /// Wakes the timer task when the machine's next wake-up may have moved.
    wake: Arc<Notify>,
    progress: Mutex<Option<SyncProgress>>,
    waiters: Mutex<Waiters>,
    pub(crate) status: watch::Sender<SyncStatus>,
    /// The commit number of the counts in the status (see [`Driver::publish_counts`]).
    counts_commit: Mutex<u64>,
    pub(crate) events: broadcast::Sender<Event>,
    /// The live stream's heartbeat and how long its request may wait for an answer.
    live_heartbeat: Duration,
    live_open_timeout: Duration,
    /// The task reading the live stream, by its machine id; aborted when the machine closes it.
    live_task: Mutex<Option<(u64, tokio::task::AbortHandle)>>,
    /// Whether the last published state was live (for [`Event::LiveChanged`]).
    live_published: Mutex<bool>,
}

impl Drop for Driver {
    /// The live stream's task holds only a weak reference while it reads; end it with the
    /// client rather than at its next event.
    fn drop(&mut self) {
        if let Some((_, task)) = lock(&self.live_task).take() {
            task.abort();
        }
    }
}

/// How the live stream's settings and timeouts come from the configuration.
pub(crate) struct LiveConfig {
    /// What the machine needs.
    pub settings: LiveSettings,
    /// Longest wait for the stream's answer head (the request timeout).
    pub open_timeout: Duration,
}

/// How the scheduler sees a failed sync. A server that could not be reached while the OS reports
/// no connectivity says nothing about the server: the device went offline.
fn failure_kind(error: &Error, connected: bool) -> FailureKind {
    match error {
        Error::Unreachable(_) if !connected => FailureKind::Offline,
        Error::Unreachable(_) => FailureKind::Unreachable,
        Error::SignInNeeded { .. } => FailureKind::SignInNeeded,
        Error::Server { retry_after, .. } if error.is_retryable() => FailureKind::Retryable {
            retry_after: retry_after.map(Duration::from_secs),
        },
        e if e.is_retryable() => FailureKind::Retryable { retry_after: None },
        _ => FailureKind::Fatal,
    }
}

impl Driver {
    /// A driver over an opened store; its machine starts with the queue the store kept.
    pub(crate) fn start(
        store: Arc<Store>,
        engine: Engine,
        units: Vec<SyncUnit>,
        policy: crate::autosync::AutoSync,
        sync_timeout: Duration,
        status: SyncStatus,
        live: LiveConfig,
    ) -> Result<Arc<Driver>> {
        let (kept, highest_id) = store.kept_queue()?;
        let priorities: BTreeMap<String, i32> =
            units.iter().map(|u| (u.name.clone(), u.priority)).collect();
        // The machine's zero on both clocks, read together: the status's wall times (a retry's
        // moment on the banner) are the machine's times plus the wall zero, so a wall zero read
        // earlier than the epoch made each of them read early by the time in between.
        let (epoch, wall_zero) = (Instant::now(), now_ms());
        let machine = Machine::new(
            policy,
            priorities,
            fastrand::u64(..),
            wall_zero,
            Queue::restore(kept, highest_id),
        )
        .with_live(live.settings);
        let driver = Arc::new(Driver {
            rt: crate::runtime::handle()?,
            uploading: std::sync::atomic::AtomicBool::new(false),
            downloads: Mutex::new(HashMap::new()),
            queue_writer: QueueWriter::start(store.clone())?,
            store,
            engine,
            units,
            sync_timeout,
            epoch,
            machine: Mutex::new(machine),
            wake: Arc::new(Notify::new()),
            progress: Mutex::new(None),
            waiters: Mutex::new(Waiters::default()),
            status: watch::channel(status).0,
            counts_commit: Mutex::new(0),
            events: broadcast::channel(64).0,
            live_heartbeat: live.settings.heartbeat,
            live_open_timeout: live.open_timeout,
            live_task: Mutex::new(None),
            live_published: Mutex::new(false),
        });
        driver.refresh_counts();
        driver.rt.spawn(timers(Arc::downgrade(&driver)));
        driver.feed(Input::Start);
        Ok(driver)
    }

    /// Now on the machine's clock.
    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    /// The configured unit of that name.
    pub(crate) fn unit(&self, name: &str) -> Result<&SyncUnit> {
        self.units
            .iter()
            .find(|u| u.name == name)
            .ok_or_else(|| Error::UnknownUnit(name.to_string()))
    }

    pub(crate) fn network(&self) -> NetworkStatus {
        lock(&self.machine).network()
    }

    /// What the OS last reported.
    pub(crate) fn connectivity(&self) -> Connectivity {
        lock(&self.machine).connectivity()
    }

    /// Whether a live stream is open.
    pub(crate) fn is_live(&self) -> bool {
        lock(&self.machine).is_live()
    }

    /// The queued requests, in the order they will run.
    pub(crate) fn queued(&self) -> Vec<SyncRequest> {
        lock(&self.machine).queued().cloned().collect()
    }

    /// Queues a sync of `unit`. Callers awaiting a request that `discard_pending` drops learn it
    /// at once.
    pub(crate) fn request(
        self: &Arc<Self>,
        unit: &str,
        priority: i32,
        discard_pending: bool,
        force: bool,
    ) {
        let input = Input::Requested {
            unit: unit.to_string(),
            priority,
            discard_pending,
            force,
        };
        let actions = {
            let mut machine = lock(&self.machine);
            if discard_pending {
                let mut waiters = lock(&self.waiters);
                let dropped: Vec<String> = waiters
                    .queued
                    .keys()
                    .filter(|u| *u != unit)
                    .cloned()
                    .collect();
                for u in dropped {
                    for w in waiters.queued.remove(&u).unwrap_or_default() {
                        let _ = w.send(Err(SynclineError::Discarded {
                            detail: format!("the sync of `{u}` was dropped for `{unit}`"),
                        }));
                    }
                }
            }
            self.step_locked(&mut machine, input)
        };
        self.carry_out(actions);
    }

    /// Registers a caller that joins the run in progress, if there is one whose outcome has not
    /// been handed out yet: it gets that run's outcome, whatever the run's unit.
    pub(crate) fn join_running(
        &self,
    ) -> Option<oneshot::Receiver<std::result::Result<SyncReport, SynclineError>>> {
        let mut waiters = lock(&self.waiters);
        if !waiters.active {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        waiters.running.push(tx);
        Some(rx)
    }

    /// Registers a caller waiting for the next run of `unit`.
    pub(crate) fn wait_for(
        &self,
        unit: &str,
    ) -> oneshot::Receiver<std::result::Result<SyncReport, SynclineError>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters)
            .queued
            .entry(unit.to_string())
            .or_default()
            .push(tx);
        rx
    }

    /// Steps the machine (its lock held by the caller). Queue changes go to the writer and a
    /// started request takes its waiters before the lock is released, so nothing can come
    /// between the machine's decision and its record.
    fn step_locked(&self, machine: &mut Machine, input: Input) -> Vec<Action> {
        let actions = machine.step(self.now(), input);
        for action in &actions {
            match action {
                Action::Persist(changes) => self.queue_writer.send(changes.clone()),
                Action::Run(request) => {
                    let mut waiters = lock(&self.waiters);
                    let now_running = waiters.queued.remove(&request.unit).unwrap_or_default();
                    waiters.running.extend(now_running);
                    waiters.active = true;
                    drop(waiters);
                    // The unit's size is known now: the banner says "0 of 2", never "0 of 0".
                    let total = self.unit(&request.unit).map_or(0, |u| u.entities.len());
                    *lock(&self.progress) = Some(SyncProgress::starting(
                        u32::try_from(total).unwrap_or(u32::MAX),
                    ));
                }
                Action::Probe | Action::OpenStream { .. } | Action::CloseStream { .. } => {}
            }
        }
        actions
    }

    /// Feeds the machine one input and carries out what it asks.
    pub(crate) fn feed(self: &Arc<Self>, input: Input) {
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
                // Sent to the writer by `step_locked` already.
                Action::Persist(_) => {}
                Action::Run(request) => {
                    let _ = self.events.send(Event::SyncStarted {
                        unit: request.unit.clone(),
                    });
                    let driver = self.clone();
                    self.rt.spawn(async move { driver.run(request).await });
                }
                Action::Probe => {
                    let driver = self.clone();
                    self.rt.spawn(async move {
                        let result = match driver.engine.transport().me().await {
                            Ok(_) => ProbeResult::Reachable,
                            Err(Error::SignInNeeded { .. }) => ProbeResult::SignInNeeded,
                            Err(e) => {
                                log::debug!("probe: {e}");
                                ProbeResult::Unreachable
                            }
                        };
                        driver.feed(Input::ProbeEnded(result));
                    });
                }
                Action::OpenStream { conn } => {
                    let task = self
                        .rt
                        .spawn(live_stream(Arc::downgrade(self), conn))
                        .abort_handle();
                    if let Some((_, old)) = lock(&self.live_task).replace((conn, task)) {
                        old.abort();
                    }
                }
                Action::CloseStream { conn } => {
                    let mut task = lock(&self.live_task);
                    if task.as_ref().is_some_and(|(c, _)| *c == conn) {
                        if let Some((_, t)) = task.take() {
                            t.abort();
                        }
                    }
                }
            }
        }
        self.publish();
        self.wake.notify_one();
    }

    /// Runs one request to its end and reports it to the machine, the waiters and the events.
    async fn run(self: Arc<Self>, request: SyncRequest) {
        let outcome = match self.unit(&request.unit) {
            Ok(unit) => {
                let driver = self.clone();
                let progress = move |p: SyncProgress| {
                    *lock(&driver.progress) = Some(p);
                    driver.publish();
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
        let driver = self.clone();
        let succeeded = outcome.is_ok();
        // Store work after the sync, on the blocking pool: counts, the last sync time, and
        // whether the automatic unit still has something to push.
        let more_to_push = blocking(move || {
            let pending = driver.refresh_counts();
            if succeeded {
                let now = now_ms();
                if let Err(e) = driver.store.set_meta(LAST_SYNCED_AT, &now.to_string()) {
                    log::warn!("cannot store the last sync time: {e}");
                }
                driver.status.send_modify(|s| {
                    s.update(|s| s.last_synced_at = Some(now));
                });
            }
            Ok(pending > 0 && driver.auto_unit_has_pending())
        })
        .await
        .unwrap_or(false);
        let failure = match &outcome {
            Ok(report) => {
                log::info!("sync of `{}` done: {:?}", report.unit, report.entities);
                None
            }
            Err(e) => {
                log::warn!("sync of `{}` failed: {e}", request.unit);
                Some((failure_kind(e, self.connectivity().connected), e.reason()))
            }
        };
        // This run's callers, taken before the machine may start the next run (whose callers
        // must not get this run's result).
        let waiters = {
            let mut waiters = lock(&self.waiters);
            waiters.active = false;
            std::mem::take(&mut waiters.running)
        };
        self.feed(Input::Ended(failure));
        // Mutations saved during the sync, or of entities outside the unit, get their own sync
        // (only those the automatic unit carries: others would ask for it forever).
        if succeeded && more_to_push {
            self.feed(Input::LocalChange);
        }
        // What the app sees of the outcome, converted (and a storage failure logged) once.
        let outcome = outcome.map_err(SynclineError::from);
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
        if succeeded {
            self.kick_uploads();
        }
    }

    /// The lock of downloads of `hash` (made on first use; dropped once nobody holds it).
    pub(crate) fn download_lock(&self, hash: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = lock(&self.downloads);
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(hash.to_string()).or_default().clone()
    }

    /// Starts a round of uploads of the waiting attachments unless one runs, or the network is
    /// mobile data and uploads wait for another. A round that completed blobs asks for a sync,
    /// which pushes the mutations they held; a failed one is tried again after the next sync
    /// (whose retries back off as the scheduler does).
    pub(crate) fn kick_uploads(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if !self.engine.blobs.on_cellular
            && self.connectivity().kind == crate::network::NetworkType::Cellular
        {
            return;
        }
        if self.uploading.swap(true, Ordering::SeqCst) {
            return;
        }
        let driver = Arc::downgrade(self);
        let round = self.engine.uploader();
        let parallel = self.engine.blobs.parallel;
        self.rt.spawn(async move {
            // The driver only after the round: holding it meanwhile would keep a dropped
            // client alive, its queue unflushed when the process exits.
            let outcome = round.run(parallel).await;
            let Some(d) = driver.upgrade() else { return };
            d.uploading.store(false, Ordering::SeqCst);
            match outcome {
                Ok(report) if report.completed + report.refused > 0 => {
                    log::info!("attachments uploaded: {report:?}");
                    let counts = d.clone();
                    let _ = blocking(move || Ok(counts.refresh_counts())).await;
                    d.feed(Input::LocalChange);
                }
                Ok(_) => {}
                Err(e) => log::warn!("attachment uploads stopped: {e}"),
            }
        });
    }

    /// Whether an entity of the automatic unit has pending mutations (reads the store).
    fn auto_unit_has_pending(&self) -> bool {
        let unit = lock(&self.machine).policy().unit.clone();
        self.unit(&unit).is_ok_and(|u| {
            u.entities
                .iter()
                .any(|e| self.store.has_pending(e).unwrap_or(false))
        })
    }

    /// Re-reads the outbox and inbox counts into the status (reads the store); returns the
    /// pending count.
    pub(crate) fn refresh_counts(&self) -> u64 {
        match self.store.counts() {
            Ok(c) => {
                self.publish_counts(c);
                c.pending
            }
            Err(e) => {
                log::warn!("cannot count the outbox: {e}");
                0
            }
        }
    }

    /// Puts counts into the status, unless counts of a later commit are there already (two
    /// threads' counts can arrive out of order).
    pub(crate) fn publish_counts(&self, c: Counts) {
        let mut last = lock(&self.counts_commit);
        if c.commit < *last {
            return;
        }
        *last = c.commit;
        self.status.send_if_modified(|s| {
            s.update(|s| {
                s.pending = c.pending;
                s.quarantined = c.quarantined;
                s.conflicts = c.conflicts;
            })
        });
    }

    /// Publishes the machine's state into the status (only when something changed).
    fn publish(&self) {
        let machine = lock(&self.machine);
        let state = machine.sync_state(lock(&self.progress).as_ref());
        let (network, connectivity) = (machine.network(), machine.connectivity());
        let live = machine.is_live();
        // Compared and sent under the machine's lock, so the events come in the machine's order.
        let live_changed = {
            let mut published = lock(&self.live_published);
            std::mem::replace(&mut *published, live) != live
        };
        if live_changed {
            let _ = self.events.send(Event::LiveChanged { live });
        }
        let mut network_changed = false;
        self.status.send_if_modified(|s| {
            network_changed = s.network != network;
            s.update(|s| {
                s.state = state;
                s.network = network;
                s.network_type = connectivity.kind;
                s.metered = connectivity.metered;
            })
        });
        drop(machine);
        if network_changed && network == NetworkStatus::Offline {
            // Callers awaiting a sync learn now that it waits for connectivity (the requests
            // stay queued and run when it returns).
            let waiting = std::mem::take(&mut lock(&self.waiters).queued);
            for w in waiting.into_values().flatten() {
                let _ = w.send(Err(SynclineError::Offline));
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

impl Driver {
    /// The units to sync for a `changes` hint: each hinted entity of the schema whose stored
    /// cursor is not already at its position, as its own unit (reads the store).
    fn hinted_units(&self, entities: &std::collections::BTreeMap<String, String>) -> Vec<String> {
        let mut units: Vec<String> = Vec::new();
        for (entity, position) in entities {
            if self.store.schema().entity(entity).is_err() {
                continue;
            }
            let stored = match self.store.pull_cursor(entity) {
                Ok(c) => c,
                Err(e) => {
                    // Taken as news: a sync too many is the safe side.
                    log::warn!("cannot read the cursor of `{entity}`: {e}");
                    None
                }
            };
            if !is_news(stored.as_deref(), position) {
                continue;
            }
            if let Some(unit) = self.unit_of(entity) {
                if !units.contains(&unit) {
                    units.push(unit);
                }
            }
        }
        units
    }

    /// The unit that syncs `entity`: the smallest configured unit holding it (with the default
    /// units, the entity's own).
    fn unit_of(&self, entity: &str) -> Option<String> {
        self.units
            .iter()
            .filter(|u| u.entities.iter().any(|e| e == entity))
            .min_by_key(|u| u.entities.len())
            .map(|u| u.name.clone())
    }
}

/// Reads live stream `conn` until it ends, feeding what it says to the machine. Holds the
/// client only while it opens the stream and while it feeds an event, so a dropped client is
/// not kept alive by a quiet stream (the driver's `Drop` aborts it besides).
async fn live_stream(driver: Weak<Driver>, conn: u64) {
    let end = read_live_stream(&driver, conn).await;
    if let Some(driver) = driver.upgrade() {
        driver.feed(Input::StreamEnded { conn, end });
    }
}

/// The stream's life, from the request to its end; returns how it ended.
async fn read_live_stream(driver: &Weak<Driver>, conn: u64) -> StreamEnd {
    let opened = {
        let Some(d) = driver.upgrade() else {
            return StreamEnd::Failed;
        };
        d.engine
            .transport()
            .live(d.live_heartbeat, d.live_open_timeout)
            .await
    };
    let mut body = match opened {
        Ok(body) => body,
        Err(e) => {
            log::info!("live stream not opened: {e}");
            return match e {
                Error::SignInNeeded { .. } => StreamEnd::SignInNeeded,
                Error::Server {
                    retry_after: Some(s),
                    ..
                } => StreamEnd::RetryAfter(Duration::from_secs(s)),
                _ => StreamEnd::Failed,
            };
        }
    };
    // Feeds the machine; false once the client is gone or the machine has closed this stream
    // (a close can overtake the task's start, which then has no handle to abort it by).
    let feed = |input: Input| match driver.upgrade() {
        Some(d) => {
            d.feed(input);
            lock(&d.machine).is_current_stream(conn)
        }
        None => false,
    };
    if !feed(Input::StreamOpened { conn }) {
        return StreamEnd::Failed;
    }
    log::debug!("live stream {conn} open");
    let mut parser = SseParser::new(MAX_LIVE_EVENT_BYTES);
    let mut events = Vec::new();
    loop {
        let chunk = match body.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                log::info!("live stream closed by the server");
                return StreamEnd::Failed;
            }
            Err(e) => {
                log::info!("live stream lost: {e}");
                return StreamEnd::Failed;
            }
        };
        events.clear();
        if let Err(e) = parser.feed(&chunk, &mut events) {
            log::warn!("live stream reset: {e}");
            return StreamEnd::Failed;
        }
        for event in &events {
            let decoded = match LiveEvent::decode(event) {
                Ok(decoded) => decoded,
                Err(e) => {
                    log::warn!("live stream reset: {e}");
                    return StreamEnd::Failed;
                }
            };
            let input = match decoded {
                LiveEvent::Hello { .. } | LiveEvent::Ping => Input::StreamHeard { conn },
                LiveEvent::Changes { entities } => {
                    let Some(d) = driver.upgrade() else {
                        return StreamEnd::Failed;
                    };
                    let units = blocking(move || Ok(d.hinted_units(&entities)))
                        .await
                        .unwrap_or_default();
                    log::debug!("live hint: sync {units:?}");
                    Input::Hinted { conn, units }
                }
                LiveEvent::Bye { reason } => {
                    log::info!("live stream: the server said goodbye ({reason:?})");
                    return match reason {
                        ByeReason::Reconnect => StreamEnd::Failed,
                        // The protocol asks to check the token before believing it.
                        ByeReason::SignInNeeded => match driver.upgrade() {
                            Some(d) => match d.engine.transport().me().await {
                                Err(Error::SignInNeeded { .. }) => StreamEnd::SignInNeeded,
                                _ => StreamEnd::Failed,
                            },
                            None => StreamEnd::Failed,
                        },
                    };
                }
            };
            if !feed(input) {
                return StreamEnd::Failed;
            }
        }
    }
}

/// Sleeps until the machine's next timer and ticks it; ends when the client is dropped.
async fn timers(driver: Weak<Driver>) {
    loop {
        let (wake_at, now) = {
            let Some(driver) = driver.upgrade() else {
                return;
            };
            let wake = lock(&driver.machine).next_wake();
            (wake, driver.now())
        };
        let sleep = match wake_at {
            Some(at) => Duration::from_millis(at.saturating_sub(now)),
            // Nothing scheduled: wait for a notification, re-checking now and then.
            None => Duration::from_secs(60),
        };
        // Only the notifier is held while sleeping, so dropping the client is not delayed.
        let Some(wake) = driver.upgrade().map(|d| d.wake.clone()) else {
            return;
        };
        let notified = tokio::select! {
            _ = wake.notified() => true,
            _ = tokio::time::sleep(sleep) => false,
        };
        if !notified {
            let Some(driver) = driver.upgrade() else {
                return;
            };
            driver.feed(Input::Tick);
        }
    }
}
