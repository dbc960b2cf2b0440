//! Small helpers every module needs once: the wall clock and taking a mutex.

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Locks a mutex. Every holder in the core makes one small, self-contained change (and a SQLite
/// transaction rolls back on drop while unwinding), so the data behind a poisoned lock is
/// consistent and the lock is taken over rather than failing every later caller.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
