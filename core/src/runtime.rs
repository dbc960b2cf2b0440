//! The core's own tokio runtime, shared by every client in the process. Work is spawned here,
//! never on whatever runtime the caller happens to be on (a Kotlin coroutine, a Swift task, a
//! test's runtime), so network and timers behave the same whoever calls.

use once_cell::sync::OnceCell;
use tokio::runtime::Handle;

use crate::error::{Error, Result};

static RUNTIME: OnceCell<Handle> = OnceCell::new();

/// The shared runtime's handle, starting it on first use.
///
/// One thread runs every task (tokio's current-thread scheduler, driven by a thread of its own
/// that lives as long as the process): sync is I/O bound and SQLite work goes to the blocking
/// pool anyway, and the multi-thread scheduler's work stealing is code the mobile library does
/// not need (`docs/benchmarks.md`, "Library size").
pub fn handle() -> Result<Handle> {
    RUNTIME
        .get_or_try_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .thread_name("syncline-blocking")
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("syncline".into())
                // Runs the spawned tasks until the process ends; the runtime is never dropped,
                // as the former static one never was.
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            Ok(handle)
        })
        .cloned()
        .map_err(|e: std::io::Error| {
            Error::Stopped(format!("could not start the sync runtime: {e}"))
        })
}

/// Runs `future` on the shared runtime and waits for it from any async context.
pub async fn run<F, T>(future: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    handle()?
        .spawn(future)
        .await
        .map_err(|e| Error::Stopped(format!("sync task ended abnormally: {e}")))?
}

/// Runs `future` on the shared runtime and blocks the calling (non-async) thread until it ends.
pub fn block_on<F, T>(future: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let handle = handle()?;
    // tokio's oneshot, not std's channel: one channel implementation fewer in the mobile library.
    let (tx, rx) = tokio::sync::oneshot::channel();
    handle.spawn(async move {
        // The receiver only goes away if the caller's thread died; nothing to report then.
        let _ = tx.send(future.await);
    });
    rx.blocking_recv()
        .map_err(|_| Error::Stopped("sync task ended abnormally".into()))?
}

/// Runs blocking work (SQLite) on the runtime's blocking pool, never on its async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Stopped(format!("store task ended abnormally: {e}")))?
}
