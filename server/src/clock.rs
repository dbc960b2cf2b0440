//! The server's clock (a leaf).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whole seconds since `at_ms` (ms since the epoch), never negative.
pub fn age_secs(at_ms: i64) -> i64 {
    now_ms().saturating_sub(at_ms).max(0) / 1000
}
