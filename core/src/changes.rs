//! Which entities committed transactions changed: one counter per entity, bumped after each
//! commit that changed its records or their sync state. Live queries wait on their entity's
//! counter; the store bumps it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::shared::lock;

/// The per-entity change counters of one store.
#[derive(Default)]
pub(crate) struct Changes {
    by_entity: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Changes {
    /// A receiver that sees a new value after every commit that changes `entity`; a slow reader
    /// sees only the latest, never a backlog.
    pub(crate) fn subscribe(&self, entity: &str) -> watch::Receiver<u64> {
        lock(&self.by_entity)
            .entry(entity.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Tells the watchers of `entity` that a commit changed it (nothing happens when nobody
    /// watches it).
    pub(crate) fn committed(&self, entity: &str) {
        if let Some(sender) = lock(&self.by_entity).get(entity) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}
