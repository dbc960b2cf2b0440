//! Sync status and the banner derived from it: one value that says what the engine is doing and
//! one banner that every shell (Android, iOS, the terminal) renders the same way.

use crate::machine::{Machine, Millis};
use crate::network::{NetworkStatus, NetworkType};

/// Which part of a sync is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Taking the request off the queue.
    Starting,
    /// Sending an entity's local changes.
    Pushing {
        /// The entity.
        entity: String,
    },
    /// Fetching an entity's changes from the server.
    Pulling {
        /// The entity.
        entity: String,
    },
}

/// How far a running sync has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The step running.
    pub phase: Phase,
    /// Entities of the unit finished.
    pub entities_done: u32,
    /// Entities in the unit.
    pub entities_total: u32,
    /// Mutations pushed and records pulled so far.
    pub items: u64,
}

/// What the engine is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// Nothing to do, or waiting for the next sync.
    Idle,
    /// A sync of `unit` is running.
    Syncing {
        /// The unit being synced.
        unit: String,
        /// How far it got.
        progress: Progress,
    },
    /// The last sync failed.
    Failed {
        /// Why, in words for the user.
        reason: String,
        /// Whether the core will try again by itself (else the user must act: sign in, retry).
        retryable: bool,
        /// When it will, ms since the Unix epoch.
        next_retry_at: Option<i64>,
    },
    /// The device is offline; changes wait.
    Offline,
}

/// Everything a shell needs to show the state of sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What the engine is doing.
    pub state: SyncState,
    /// The network as the core sees it.
    pub network: NetworkStatus,
    /// The kind of network the OS reports.
    pub network_type: NetworkType,
    /// Whether that network is metered.
    pub metered: bool,
    /// Local changes not yet accepted by the server.
    pub pending: u64,
    /// Conflicts waiting in the inbox for the user.
    pub conflicts: u64,
    /// Local changes the server refused, waiting for the user.
    pub quarantined: u64,
    /// When a sync last completed, in ms since the Unix epoch.
    pub last_synced_at: Option<i64>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            state: SyncState::Idle,
            network: NetworkStatus::Online,
            network_type: NetworkType::Other,
            metered: false,
            pending: 0,
            conflicts: 0,
            quarantined: 0,
            last_synced_at: None,
        }
    }
}

impl SyncState {
    /// The state the scheduler is in: a running sync wins, then being offline, then a standing
    /// failure. `progress` is the running sync's; `wall` turns machine time into epoch ms.
    pub fn of(
        machine: &Machine,
        progress: Option<&Progress>,
        wall: impl Fn(Millis) -> i64,
    ) -> Self {
        if let Some(unit) = machine.running() {
            return SyncState::Syncing {
                unit: unit.to_string(),
                progress: progress.cloned().unwrap_or(Progress {
                    phase: Phase::Starting,
                    entities_done: 0,
                    entities_total: 0,
                    items: 0,
                }),
            };
        }
        if machine.network() == NetworkStatus::Offline {
            return SyncState::Offline;
        }
        match machine.failure() {
            Some(f) => SyncState::Failed {
                reason: f.reason.clone(),
                retryable: f.retryable,
                next_retry_at: f.next_retry_at.map(wall),
            },
            None => SyncState::Idle,
        }
    }
}

/// The banner a shell shows above its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Banner {
    /// Everything is synced or about to be: show nothing.
    Hidden,
    /// "Syncing…", with how far it got.
    Syncing {
        /// Entities done and in the unit.
        done: u32,
        /// Entities in the unit (0 while starting).
        total: u32,
    },
    /// "Sync failed", with the reason, when it retries, and a Retry action.
    Failed {
        /// Why it failed.
        reason: String,
        /// When the core retries by itself, ms since the Unix epoch.
        next_retry_at: Option<i64>,
        /// Whether a Retry action can help (not when the user must sign in again).
        can_retry: bool,
    },
    /// "You're offline", with how many changes wait to be synced.
    Offline {
        /// Local changes waiting.
        pending: u64,
    },
}

impl Status {
    /// The banner for this status. Offline wins over everything (nothing else can be done about
    /// it), then a running sync, then a failure.
    pub fn banner(&self) -> Banner {
        if self.network == NetworkStatus::Offline {
            return Banner::Offline {
                pending: self.pending,
            };
        }
        match &self.state {
            SyncState::Syncing { progress, .. } => Banner::Syncing {
                done: progress.entities_done,
                total: progress.entities_total,
            },
            SyncState::Failed {
                reason,
                next_retry_at,
                retryable,
            } => Banner::Failed {
                reason: reason.clone(),
                next_retry_at: *next_retry_at,
                can_retry: *retryable,
            },
            SyncState::Offline => Banner::Offline {
                pending: self.pending,
            },
            SyncState::Idle => Banner::Hidden,
        }
    }
}

impl Banner {
    /// The banner's title, as every shell shows it; `None` when hidden.
    pub fn text(&self) -> Option<String> {
        match self {
            Banner::Hidden => None,
            Banner::Syncing { .. } => Some("Syncing…".to_string()),
            Banner::Failed { reason, .. } => Some(format!("Sync failed: {reason}")),
            Banner::Offline { pending: 0 } => Some("You're offline".to_string()),
            Banner::Offline { pending: 1 } => {
                Some("You're offline · 1 change waiting to sync".to_string())
            }
            Banner::Offline { pending } => Some(format!(
                "You're offline · {pending} changes waiting to sync"
            )),
        }
    }

    /// The banner's second line, relative to `now` (epoch ms): progress, or when it retries.
    pub fn detail(&self, now: i64) -> Option<String> {
        match self {
            Banner::Syncing { done, total } if *total > 1 => Some(format!("{done} of {total}")),
            Banner::Failed {
                next_retry_at: Some(at),
                ..
            } => {
                let secs = ((at - now).max(0) + 999) / 1000;
                Some(if secs == 0 {
                    "Retrying now".to_string()
                } else {
                    format!("Retrying in {secs} s")
                })
            }
            _ => None,
        }
    }

    /// Whether the shell shows a Retry action (a failure that retrying can fix).
    pub fn has_retry(&self) -> bool {
        matches!(
            self,
            Banner::Failed {
                can_retry: true,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_wins_then_syncing_then_failure() {
        let mut s = Status {
            pending: 2,
            ..Status::default()
        };
        assert_eq!(s.banner(), Banner::Hidden);
        s.state = SyncState::Failed {
            reason: "server unreachable".into(),
            retryable: true,
            next_retry_at: Some(12_500),
        };
        assert_eq!(
            s.banner().text().as_deref(),
            Some("Sync failed: server unreachable")
        );
        assert_eq!(
            s.banner().detail(10_000).as_deref(),
            Some("Retrying in 3 s")
        );
        assert!(s.banner().has_retry());
        s.state = SyncState::Syncing {
            unit: "all".into(),
            progress: Progress {
                phase: Phase::Pulling {
                    entity: "tasks".into(),
                },
                entities_done: 1,
                entities_total: 3,
                items: 10,
            },
        };
        assert_eq!(s.banner(), Banner::Syncing { done: 1, total: 3 });
        assert_eq!(s.banner().detail(0).as_deref(), Some("1 of 3"));
        s.network = NetworkStatus::Offline;
        assert_eq!(
            s.banner().text().as_deref(),
            Some("You're offline · 2 changes waiting to sync")
        );
    }
}
