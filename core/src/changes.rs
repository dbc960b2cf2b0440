//! Which entities committed transactions changed: one counter per entity, bumped after each
//! commit that changed its records or their sync state. Live queries wait on their entity's
//! counter; the store bumps it.
//!
//! One more counter, under [`SETTLE_KEY`], is bumped by every such commit: the watches of the
//! conflict inbox and of the quarantined mutations wait on it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::shared::lock;

/// The change key of the conflict inbox and the quarantine. Never an entity's name: those are
/// lowercase identifiers (`[a-z][a-z0-9_]*`, `validate_identifier` in the protocol crate), and
/// this starts with `#`.
///
/// It is bumped by every commit that changes any entity, not only by those that touch the inbox
/// or the quarantine, on purpose: a conflict or a quarantined mutation is part of its record's
/// sync state (`RecordState::InConflict`, `Quarantined`), so every commit that can change either
/// (a push answer, `resolve`, retrying, editing or discarding a quarantined mutation) already has
/// to report its entity here. Riding on that covers every such path, present and future, without
/// a list of them to keep right. What it costs: a commit that leaves both alone (a local write, a
/// pulled page) makes those watches hash the inbox's rows and the quarantined ones, throttled
/// like any round, and deliver nothing (the rows' fingerprint is unchanged); both are small.
pub(crate) const SETTLE_KEY: &str = "#inbox+quarantine";

/// The per-entity change counters of one store.
#[derive(Default)]
pub(crate) struct Changes {
    by_entity: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Changes {
    /// A receiver that sees a new value after every commit that changes `entity` (any entity,
    /// for [`SETTLE_KEY`]); a slow reader sees only the latest, never a backlog.
    pub(crate) fn subscribe(&self, entity: &str) -> watch::Receiver<u64> {
        lock(&self.by_entity)
            .entry(entity.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Tells the watchers of `entity`, and those of [`SETTLE_KEY`], that a commit changed it
    /// (nothing happens for a key nobody watches).
    pub(crate) fn committed(&self, entity: &str) {
        let by_entity = lock(&self.by_entity);
        for key in [entity, SETTLE_KEY] {
            if let Some(sender) = by_entity.get(key) {
                sender.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}
