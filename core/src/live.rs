//! Live queries and listeners. An app subscribes to the status, to a query or to one record, and
//! is handed the current value now and again after every change, until it drops or stops the
//! [`Subscription`]. A query or record watch runs again after every committed transaction that
//! changed its entity. The store knows which entity
//! each of its transactions changed (`changes.rs`), so a write to another entity triggers
//! nothing, and no SQLite hook is needed.
//!
//! The throttle: an answer goes out at once after a quiet spell, and then at most once per
//! [`WATCH_INTERVAL`] while changes keep coming (a burst of commits, a sync's pages), the last
//! one always after the burst. An answer equal to the one delivered before is not delivered
//! again. Each re-query runs on the blocking pool through the store's read-only connection (WAL:
//! never blocked by a sync's writes), and the listener is called there too, so a slow listener
//! holds up only its own watch and a panicking one is contained.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::error::{Result, SynclineError};
use crate::status::SyncStatus;
use crate::store::Store;

/// A listener's or a watch's registration: dropping it (or calling [`Subscription::stop`]) stops
/// the calls.
pub struct Subscription {
    task: AbortHandle,
    stopped: Arc<AtomicBool>,
}

impl Subscription {
    /// Stops the calls: none begins after this returns (one already running finishes).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Calls `listener` with the status now and with every change after, coalesced, on the runtime.
pub(crate) fn listen(
    rt: &Handle,
    mut status: watch::Receiver<SyncStatus>,
    listener: impl Fn(SyncStatus) + Send + Sync + 'static,
) -> Subscription {
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    let task = rt.spawn(async move {
        loop {
            let current = status.borrow_and_update().clone();
            if flag.load(Ordering::SeqCst) {
                return;
            }
            if catch_unwind(AssertUnwindSafe(|| listener(current))).is_err() {
                log::error!("a status listener panicked; it stays subscribed");
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    });
    Subscription {
        task: task.abort_handle(),
        stopped,
    }
}

/// The shortest time between two answers of one watch while changes keep coming.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Starts watching `entity`: `read` runs now and after every commit that changed it (throttled),
/// and `deliver` gets each answer that differs from the one before, and every error. Ends when
/// stopped or when the store closes (the watch holds it only while it reads).
pub(crate) fn watch<T, R, D>(
    rt: &Handle,
    store: &Arc<Store>,
    entity: &str,
    read: R,
    deliver: D,
) -> Subscription
where
    T: PartialEq + Clone + Send + 'static,
    R: Fn(&Store) -> Result<T> + Send + Sync + 'static,
    D: Fn(std::result::Result<T, SynclineError>) + Send + Sync + 'static,
{
    let mut changes = store.changes().subscribe(entity);
    let store: Weak<Store> = Arc::downgrade(store);
    let read = Arc::new(read);
    let deliver = Arc::new(deliver);
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    let task = rt.spawn(async move {
        let mut last: Option<T> = None;
        loop {
            // Seen before reading: a commit during the read asks for another round.
            changes.borrow_and_update();
            let (store, read, deliver, before) =
                (store.clone(), read.clone(), deliver.clone(), last.take());
            let flag = flag.clone();
            let round = tokio::task::spawn_blocking(move || {
                let Some(store) = store.upgrade() else {
                    return Err(());
                };
                let answer = read(&store);
                drop(store);
                if flag.load(Ordering::SeqCst) {
                    return Err(());
                }
                Ok(match answer {
                    Ok(value) if before.as_ref() == Some(&value) => before,
                    Ok(value) => {
                        call(&*deliver, Ok(value.clone()));
                        Some(value)
                    }
                    Err(e) => {
                        call(&*deliver, Err(e.into()));
                        before
                    }
                })
            })
            .await;
            match round {
                Ok(Ok(kept)) => last = kept,
                // Stopped, the store closed, or the pool shut down: nothing more to watch.
                _ => return,
            }
            let answered = Instant::now();
            if changes.changed().await.is_err() {
                return;
            }
            let since = answered.elapsed();
            if since < WATCH_INTERVAL {
                tokio::time::sleep(WATCH_INTERVAL - since).await;
            }
        }
    });
    Subscription {
        task: task.abort_handle(),
        stopped,
    }
}

/// Calls the app's listener; a panic in it is logged and the watch goes on.
fn call<T>(
    deliver: &(dyn Fn(std::result::Result<T, SynclineError>) + Send + Sync),
    answer: std::result::Result<T, SynclineError>,
) {
    if catch_unwind(AssertUnwindSafe(|| deliver(answer))).is_err() {
        log::error!("a watch listener panicked; it stays subscribed");
    }
}
