//! Sync requests: units waiting to sync, at most one queued request per unit, higher priority
//! first, and a request made with `discard_pending` ahead of everything. The store keeps them
//! (`store/queue.rs`), so they survive a restart.

/// A request to sync one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// The request's id (increases with every request).
    pub id: i64,
    /// The unit to sync.
    pub unit: String,
    /// Higher runs first.
    pub priority: i32,
    /// When it was requested, ms since the Unix epoch.
    pub requested_at: i64,
}

/// What queuing a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new request was queued.
    Added,
    /// The unit was already queued; that request stands (with the higher of the two priorities).
    AlreadyQueued,
}
