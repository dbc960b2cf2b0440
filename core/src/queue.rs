//! The sync-request queue: units waiting to sync, at most one queued request per unit, higher
//! priority first, a request made with `discard_pending` ahead of everything, oldest first among
//! equals. It lives in memory, owned by the scheduler, so deciding what runs next never touches
//! the disk; every change is also returned as a [`QueueChange`] that the store persists in order
//! (`store/queue.rs`), so the queue survives a restart.

/// A request to sync one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// Increases with every request (and across restarts).
    pub id: i64,
    /// The unit it syncs.
    pub unit: String,
    /// Higher runs first.
    pub priority: i32,
    /// When it was requested, ms since the Unix epoch.
    pub requested_at: i64,
}

/// A change to the queue, to be persisted in the order it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueChange {
    /// A request was queued (`first`: queued with `discard_pending`, ahead of the rest).
    Added {
        request: SyncRequest,
        /// Whether it goes before everything queued without `discard_pending`.
        first: bool,
    },
    /// A queued request took a higher priority (its unit was requested again).
    Raised {
        id: i64,
        /// Its new priority.
        priority: i32,
    },
    /// Every queued request was dropped (never the running one), and none is first any more.
    Discarded,
    /// A request started running; it stays stored until it finishes, so a crash re-queues it.
    Started { id: i64 },
    /// A request ended (successfully or not: retries are new requests).
    Finished { id: i64 },
}

/// A queued request and how it is ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queued {
    pub request: SyncRequest,
    /// Queued with `discard_pending`: runs before everything queued without it.
    pub first: bool,
    /// Someone awaits it (`sync_now`): it runs even while the scheduler would wait.
    pub forced: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Queue {
    queued: Vec<Queued>,
    next_id: i64,
}

impl Queue {
    /// A queue holding what the store kept (a restart); new ids continue after the highest.
    pub(crate) fn restore(kept: Vec<Queued>, highest_id: i64) -> Queue {
        let mut queue = Queue {
            queued: kept,
            next_id: highest_id + 1,
        };
        queue.queued.sort_by(Queue::order);
        queue
    }

    fn order(a: &Queued, b: &Queued) -> std::cmp::Ordering {
        b.first
            .cmp(&a.first)
            .then(b.request.priority.cmp(&a.request.priority))
            .then(a.request.id.cmp(&b.request.id))
    }

    /// Queues `unit`. A unit already queued is not queued twice: that request takes the higher
    /// priority (and stays forced once forced). With `discard_pending`, everything queued is
    /// dropped first (a request someone awaits for this same unit stays awaited) and this one
    /// goes ahead of anything queued later without it.
    pub(crate) fn push(
        &mut self,
        unit: &str,
        priority: i32,
        discard_pending: bool,
        force: bool,
        now_wall: i64,
        changes: &mut Vec<QueueChange>,
    ) {
        let mut forced = force;
        if discard_pending {
            forced |= self
                .queued
                .iter()
                .any(|q| q.request.unit == unit && q.forced);
            self.queued.clear();
            changes.push(QueueChange::Discarded);
        }
        if let Some(q) = self.queued.iter_mut().find(|q| q.request.unit == unit) {
            q.forced |= forced;
            if priority > q.request.priority {
                q.request.priority = priority;
                changes.push(QueueChange::Raised {
                    id: q.request.id,
                    priority,
                });
            }
        } else {
            let request = SyncRequest {
                id: self.next_id,
                unit: unit.to_string(),
                priority,
                requested_at: now_wall,
            };
            self.next_id += 1;
            changes.push(QueueChange::Added {
                request: request.clone(),
                first: discard_pending,
            });
            self.queued.push(Queued {
                request,
                first: discard_pending,
                forced,
            });
        }
        self.queued.sort_by(Queue::order);
    }

    /// Takes the request to run next, if any.
    pub(crate) fn pop(&mut self, changes: &mut Vec<QueueChange>) -> Option<SyncRequest> {
        if self.queued.is_empty() {
            return None;
        }
        let next = self.queued.remove(0).request;
        changes.push(QueueChange::Started { id: next.id });
        Some(next)
    }

    /// Takes the first request someone awaits, if any: what may run while automatic syncs wait.
    pub(crate) fn pop_forced(&mut self, changes: &mut Vec<QueueChange>) -> Option<SyncRequest> {
        let at = self.queued.iter().position(|q| q.forced)?;
        let next = self.queued.remove(at).request;
        changes.push(QueueChange::Started { id: next.id });
        Some(next)
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Whether someone awaits a queued request.
    #[cfg(test)]
    pub(crate) fn any_forced(&self) -> bool {
        self.queued.iter().any(|q| q.forced)
    }

    /// The queued requests, in the order they will run.
    pub(crate) fn requests(&self) -> impl Iterator<Item = &SyncRequest> {
        self.queued.iter().map(|q| &q.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(q: &Queue) -> Vec<&str> {
        q.requests().map(|r| r.unit.as_str()).collect()
    }

    #[test]
    fn a_unit_is_queued_once_and_priority_orders() {
        let mut q = Queue::default();
        let mut changes = Vec::new();
        q.push("comments", 0, false, false, 0, &mut changes);
        q.push("comments", 0, false, false, 0, &mut changes);
        q.push("tasks", 5, false, false, 0, &mut changes);
        q.push("comments", 9, false, false, 0, &mut changes);
        q.push("all", 0, false, false, 0, &mut changes);
        // comments took the higher priority of its two requests.
        assert_eq!(units(&q), vec!["comments", "tasks", "all"]);
        assert_eq!(
            changes
                .iter()
                .filter(|c| matches!(c, QueueChange::Added { .. }))
                .count(),
            3
        );
        assert!(changes.contains(&QueueChange::Raised { id: 0, priority: 9 }));
    }

    #[test]
    fn discard_pending_drops_the_queue_and_goes_first() {
        let mut q = Queue::default();
        let mut changes = Vec::new();
        q.push("all", 0, false, false, 0, &mut changes);
        q.push("tasks", 0, false, true, 0, &mut changes);
        let running = q.pop(&mut changes).expect("one");
        assert_eq!(running.unit, "all");
        q.push("comments", 0, false, false, 0, &mut changes);
        q.push("tasks", 0, true, false, 0, &mut changes);
        assert_eq!(units(&q), vec!["tasks"], "queued ones dropped");
        assert!(q.any_forced(), "the awaited `tasks` stays awaited");
        // A later high-priority request still runs after the discard_pending one.
        q.push("projects", 100, false, false, 0, &mut changes);
        assert_eq!(units(&q), vec!["tasks", "projects"]);
    }

    #[test]
    fn while_waiting_only_an_awaited_request_is_taken() {
        let mut q = Queue::default();
        let mut changes = Vec::new();
        q.push("all", 0, true, false, 0, &mut changes);
        q.push("big", 5000, false, false, 0, &mut changes);
        q.push("tasks", 1000, false, true, 0, &mut changes);
        assert_eq!(
            q.pop_forced(&mut changes).map(|r| r.unit).as_deref(),
            Some("tasks")
        );
        assert_eq!(q.pop_forced(&mut changes), None);
        assert_eq!(units(&q), vec!["all", "big"]);
    }

    #[test]
    fn a_restored_queue_keeps_its_order_and_ids() {
        let kept = |id: i64, unit: &str, priority: i32, first: bool| Queued {
            request: SyncRequest {
                id,
                unit: unit.into(),
                priority,
                requested_at: 0,
            },
            first,
            forced: false,
        };
        let mut q = Queue::restore(
            vec![
                kept(3, "a", 0, false),
                kept(7, "b", 0, true),
                kept(5, "c", 9, false),
            ],
            9,
        );
        assert_eq!(units(&q), vec!["b", "c", "a"]);
        let mut changes = Vec::new();
        q.push("d", 0, false, false, 0, &mut changes);
        assert_eq!(q.requests().last().map(|r| r.id), Some(10));
    }
}
