//! Live queries and listeners. An app subscribes to the status, to a query or to one record, to
//! the conflict inbox or to the quarantined mutations, and is handed the current value now and
//! again after every change, until it drops or stops the [`ListenerHandle`]. A query or record
//! watch runs again after every committed transaction that changed its entity. The store knows
//! which entity each of its transactions changed (`changes.rs`), so a write to another entity
//! triggers nothing, and no SQLite hook is needed. The inbox and quarantine watches wait on a
//! key of their own that every such commit bumps (`changes::SETTLE_KEY`, which says why).
//!
//! Two threads of the client's own serve them, started when it opens: one reads, one calls
//! listeners. Neither is the runtime's blocking pool, where a sync applies its
//! pages: extra threads there (one per read or per call, as this was at first) made the sync
//! hop between idle threads and slowed it by a tenth even while no watch was reading.
//!
//! - **Reads.** The watches of one entity are re-read together, in a round, one after the other,
//!   through the store's read-only connection (WAL: never blocked by a sync's writes, never
//!   holding the writer). Each read first takes the answer's fingerprint (`store/fingerprint.rs`)
//!   and decodes the records only when it differs from the last one delivered, so an unchanged
//!   answer costs a scan of its rows and is never delivered twice.
//! - **The throttle**, per entity: a round runs at once after a quiet spell; while changes keep
//!   coming (a burst of commits, a sync's pages) the next waits [`WATCH_INTERVAL`], or ten times
//!   the last round's length when that is longer, and one always runs after the last change.
//! - **Listeners.** Each watch (and status listener) has a one-slot mailbox holding the newest
//!   answer not yet delivered. A listener that is slow delays the calls of the others but never a
//!   read or a sync, and is then handed the newest answer, never a backlog; one that panics is
//!   logged and stays subscribed.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;

use crate::error::{Error, Result, SynclineError};
use crate::shared::lock;
use crate::status::SyncStatus;
use crate::store::{Fingerprint, Store};

/// A listener's or a watch's registration: dropping it (or calling [`ListenerHandle::stop`]) stops
/// the calls.
pub struct ListenerHandle {
    stopped: Arc<AtomicBool>,
    /// The task that follows the status, for a status listener.
    task: Option<AbortHandle>,
    /// The watch itself (rounds hold it weakly): dropping the handle drops the listener.
    _watch: Option<Arc<dyn Refresh>>,
}

impl ListenerHandle {
    /// Stops the calls: none begins after this returns (one already running finishes).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The shortest time between two rounds of an entity's watches while changes keep coming.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// While changes keep coming, a round is followed by a pause of at least this many times its
/// own length: rounds take at most about a tenth of the time, however many watches are open, so
/// they cannot slow down the sync feeding them.
const ROUND_SHARE: u32 = 10;

/// A client's live queries and listeners.
pub(crate) struct LiveQueries {
    by_entity: Mutex<HashMap<String, Arc<Watches>>>,
    threads: Threads,
}

/// The ways to the client's two live threads.
#[derive(Clone)]
struct Threads {
    reads: mpsc::Sender<Read>,
    listeners: mpsc::Sender<Arc<dyn Deliver>>,
}

/// Work for the reading thread.
enum Read {
    /// A new watch's first answer.
    First {
        store: Weak<Store>,
        watch: Weak<dyn Refresh>,
    },
    /// A round of an entity's watches; `done` hears whether the store was still open.
    Round {
        store: Weak<Store>,
        watches: Vec<Arc<dyn Refresh>>,
        done: oneshot::Sender<bool>,
    },
}

impl Threads {
    fn start() -> Result<Threads> {
        let (reads, read_rx) = mpsc::channel::<Read>();
        let (listeners, listener_rx) = mpsc::channel::<Arc<dyn Deliver>>();
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(work)
                .map(drop)
                .map_err(|e| Error::Stopped(format!("cannot start the {name} thread: {e}")))
        };
        spawn(
            "syncline-live",
            Box::new(move || {
                for read in read_rx {
                    // A bug in a read must not end every watch of the client.
                    if catch_unwind(AssertUnwindSafe(|| run(read))).is_err() {
                        log::error!("a live query's read panicked");
                    }
                }
            }),
        )?;
        spawn(
            "syncline-listeners",
            Box::new(move || {
                for mailbox in listener_rx {
                    mailbox.deliver_all();
                }
            }),
        )?;
        Ok(Threads { reads, listeners })
    }
}

/// Does one piece of the reading thread's work.
fn run(read: Read) {
    match read {
        Read::First { store, watch } => {
            if let (Some(store), Some(watch)) = (store.upgrade(), watch.upgrade()) {
                watch.refresh(&store);
            }
        }
        Read::Round {
            store,
            watches,
            done,
        } => {
            let open = match store.upgrade() {
                Some(store) => {
                    for watch in watches {
                        watch.refresh(&store);
                    }
                    true
                }
                None => false,
            };
            let _ = done.send(open);
        }
    }
}

/// The watches of one entity, as its rounds see them.
#[derive(Default)]
struct Watches(Mutex<Vec<Weak<dyn Refresh>>>);

impl Watches {
    /// The watches still subscribed (forgetting the others).
    fn current(&self) -> Vec<Arc<dyn Refresh>> {
        let mut list = lock(&self.0);
        list.retain(|w| w.upgrade().is_some_and(|w| !w.stopped()));
        list.iter().filter_map(Weak::upgrade).collect()
    }
}

/// A watch as the reading thread sees it.
trait Refresh: Send + Sync {
    /// Reads the answer again and leaves it for the listener when it differs from the last one.
    fn refresh(&self, store: &Store);
    /// Whether its handle was stopped.
    fn stopped(&self) -> bool;
}

impl LiveQueries {
    /// Starts the client's two live threads (they end with the client and its watches).
    pub(crate) fn start() -> Result<LiveQueries> {
        Ok(LiveQueries {
            by_entity: Mutex::default(),
            threads: Threads::start()?,
        })
    }

    /// Calls `listener` with the status now and with every change after, coalesced, on the
    /// listeners' thread.
    pub(crate) fn listen(
        &self,
        rt: &Handle,
        mut status: watch::Receiver<SyncStatus>,
        listener: impl Fn(SyncStatus) + Send + Sync + 'static,
    ) -> ListenerHandle {
        let stopped = Arc::new(AtomicBool::new(false));
        let mailbox = Arc::new(Mailbox::new(
            self.threads.listeners.clone(),
            stopped.clone(),
            move |status: std::result::Result<SyncStatus, SynclineError>| {
                if let Ok(status) = status {
                    listener(status);
                }
            },
        ));
        let task = rt.spawn(async move {
            loop {
                mailbox.post(Ok(status.borrow_and_update().clone()));
                if status.changed().await.is_err() {
                    return;
                }
            }
        });
        ListenerHandle {
            stopped,
            task: Some(task.abort_handle()),
            _watch: None,
        }
    }

    /// Starts watching `entity` (an entity's name, or `changes::SETTLE_KEY`): `read` runs now and
    /// in every round of its watches (after the commits that changed it, throttled), given the
    /// fingerprint of the answer delivered last; it returns `None` when the answer still has that
    /// fingerprint, else the answer and its fingerprint. `deliver` gets each new answer, and every
    /// error. Ends when the handle stops or drops, or the store closes (reads hold it only
    /// while they read).
    pub(crate) fn watch<T, R, D>(
        &self,
        rt: &Handle,
        store: &Arc<Store>,
        entity: &str,
        read: R,
        deliver: D,
    ) -> Result<ListenerHandle>
    where
        T: Send + 'static,
        R: Fn(&Store, Option<Fingerprint>) -> Result<Option<(T, Fingerprint)>>
            + Send
            + Sync
            + 'static,
        D: Fn(std::result::Result<T, SynclineError>) + Send + Sync + 'static,
    {
        let threads = &self.threads;
        let stopped = Arc::new(AtomicBool::new(false));
        let watch: Arc<dyn Refresh> = Arc::new(Watch {
            read,
            last: Mutex::new(None),
            mailbox: Arc::new(Mailbox::new(
                threads.listeners.clone(),
                stopped.clone(),
                deliver,
            )),
        });
        // In the entity's rounds before the first read: a commit from now on is seen by a round.
        lock(&self.entity(rt, store, entity, threads).0).push(Arc::downgrade(&watch));
        threads
            .reads
            .send(Read::First {
                store: Arc::downgrade(store),
                watch: Arc::downgrade(&watch),
            })
            .map_err(|_| Error::Stopped("the live-query thread ended".into()))?;
        Ok(ListenerHandle {
            stopped,
            task: None,
            _watch: Some(watch),
        })
    }

    /// The watches of `entity`, with the task that runs their rounds (started on first use).
    fn entity(
        &self,
        rt: &Handle,
        store: &Arc<Store>,
        entity: &str,
        threads: &Threads,
    ) -> Arc<Watches> {
        let mut by_entity = lock(&self.by_entity);
        if let Some(watches) = by_entity.get(entity) {
            return watches.clone();
        }
        let watches = Arc::new(Watches::default());
        by_entity.insert(entity.to_string(), watches.clone());
        rt.spawn(rounds(
            store.changes().subscribe(entity),
            Arc::downgrade(store),
            watches.clone(),
            threads.reads.clone(),
        ));
        watches
    }
}

/// Asks for a round of `watches` after each change, throttled; ends when the store closes.
async fn rounds(
    mut changes: watch::Receiver<u64>,
    store: Weak<Store>,
    watches: Arc<Watches>,
    reads: mpsc::Sender<Read>,
) {
    // When the last round ended, and the pause it asks for before the next.
    let mut answered: Option<(Instant, Duration)> = None;
    // Waits for the store's sender: gone once the store has closed.
    while changes.changed().await.is_ok() {
        if let Some((at, pause)) = answered {
            let since = at.elapsed();
            if since < pause {
                tokio::time::sleep(pause - since).await;
            }
        }
        // Seen before reading: a commit during the round asks for another.
        changes.borrow_and_update();
        let current = watches.current();
        if current.is_empty() {
            continue;
        }
        let started = Instant::now();
        let (done, round) = oneshot::channel();
        let asked = reads.send(Read::Round {
            store: store.clone(),
            watches: current,
            done,
        });
        // The store closed, or the reading thread is gone: nothing more to watch.
        if asked.is_err() || !matches!(round.await, Ok(true)) {
            return;
        }
        let took = started.elapsed();
        answered = Some((Instant::now(), WATCH_INTERVAL.max(took * ROUND_SHARE)));
    }
}

/// One watch: how to read its answer, the fingerprint of the last one handed over, and its
/// mailbox. Only the fingerprint is kept: no copy of the answer, and an unchanged answer is
/// never decoded.
struct Watch<R, T, D> {
    read: R,
    /// Locked across a read and its hand-over, so answers reach the mailbox in the order read.
    last: Mutex<Option<Fingerprint>>,
    mailbox: Arc<Mailbox<T, D>>,
}

impl<R, T, D> Refresh for Watch<R, T, D>
where
    T: Send + 'static,
    R: Fn(&Store, Option<Fingerprint>) -> Result<Option<(T, Fingerprint)>> + Send + Sync + 'static,
    D: Fn(std::result::Result<T, SynclineError>) + Send + Sync + 'static,
{
    fn refresh(&self, store: &Store) {
        if self.stopped() {
            return;
        }
        let mut last = lock(&self.last);
        match (self.read)(store, *last) {
            Ok(None) => {}
            Ok(Some((answer, fingerprint))) => {
                *last = Some(fingerprint);
                self.mailbox.post(Ok(answer));
            }
            Err(e) => self.mailbox.post(Err(e.into())),
        }
    }

    fn stopped(&self) -> bool {
        self.mailbox.stopped.load(Ordering::SeqCst)
    }
}

/// A mailbox as the listeners' thread sees it.
trait Deliver: Send + Sync {
    /// Calls the listener until the mailbox is empty (or its handle stopped).
    fn deliver_all(&self);
}

/// The way to one listener: one slot holding the newest answer not yet delivered, queued on the
/// listeners' thread at most once at a time.
struct Mailbox<T, D> {
    listeners: mpsc::Sender<Arc<dyn Deliver>>,
    deliver: D,
    stopped: Arc<AtomicBool>,
    slot: Mutex<Slot<T>>,
}

/// The newest answer not yet delivered, and whether the mailbox is queued for delivery.
struct Slot<T> {
    next: Option<std::result::Result<T, SynclineError>>,
    queued: bool,
}

impl<T, D> Mailbox<T, D>
where
    T: Send + 'static,
    D: Fn(std::result::Result<T, SynclineError>) + Send + Sync + 'static,
{
    fn new(
        listeners: mpsc::Sender<Arc<dyn Deliver>>,
        stopped: Arc<AtomicBool>,
        deliver: D,
    ) -> Self {
        Mailbox {
            listeners,
            deliver,
            stopped,
            slot: Mutex::new(Slot {
                next: None,
                queued: false,
            }),
        }
    }

    /// Leaves `answer` for the listener, replacing one it has not had yet.
    fn post(self: &Arc<Self>, answer: std::result::Result<T, SynclineError>) {
        let mut slot = lock(&self.slot);
        slot.next = Some(answer);
        if slot.queued {
            return;
        }
        slot.queued = true;
        drop(slot);
        // Fails only once the listeners' thread is gone, with the client: nobody to tell.
        let _ = self.listeners.send(self.clone());
    }
}

impl<T, D> Deliver for Mailbox<T, D>
where
    T: Send + 'static,
    D: Fn(std::result::Result<T, SynclineError>) + Send + Sync + 'static,
{
    fn deliver_all(&self) {
        loop {
            let answer = {
                let mut slot = lock(&self.slot);
                match slot.next.take() {
                    Some(answer) if !self.stopped.load(Ordering::SeqCst) => answer,
                    _ => {
                        slot.queued = false;
                        return;
                    }
                }
            };
            if catch_unwind(AssertUnwindSafe(|| (self.deliver)(answer))).is_err() {
                log::error!("a listener panicked; it stays subscribed");
            }
        }
    }
}
