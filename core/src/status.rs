//! Sync status and the banner derived from it: what the engine is doing, and the one banner every
//! front end (Android, iOS, the terminal) shows the same way. Structure only, never words: each
//! front end turns a [`Banner`] and its [`FailureReason`] into its own language
//! (`docs/banner-text.md` lists the texts).

use crate::network::{NetworkStatus, NetworkType};

/// Which part of a sync is running.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Phase {
    /// Taking the request off the queue.
    Starting,
    /// Sending an entity's pending mutations.
    Pushing {
        /// Entity whose mutations are being sent.
        entity: String,
    },
    /// Fetching an entity's changes from the server.
    Pulling {
        /// Entity whose changes are being fetched.
        entity: String,
    },
}

/// How far a running sync has got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncProgress {
    /// The step of the sync running now.
    pub phase: Phase,
    /// Entities of the unit finished.
    pub entities_done: u32,
    /// Entities in the unit.
    pub entities_total: u32,
    /// Mutations pushed and records pulled so far.
    pub items: u64,
}

impl SyncProgress {
    /// A sync of `entities_total` entities that has not begun its first: the total is known from
    /// the start, so a banner never reads "0 of 0".
    pub(crate) fn starting(entities_total: u32) -> SyncProgress {
        SyncProgress {
            phase: Phase::Starting,
            entities_done: 0,
            entities_total,
            items: 0,
        }
    }
}

/// What kind of storage failure happened, so an app can say what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum StorageErrorKind {
    /// The device (or the database's size limit) is full: free space, then sync again.
    DiskFull,
    /// The database file is damaged or not a database: `Syncline::start_over` starts over
    /// without losing pending mutations (decision 0021 in `docs/decisions/`).
    Corrupt,
    /// Another connection or process holds the database longer than the busy timeout.
    Busy,
    /// The file or its folder cannot be written (read-only file system or permissions).
    ReadOnly,
    /// Anything else (cannot open the file, an I/O error).
    Other,
}

/// Why the last sync failed, as a code a front end translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum FailureReason {
    /// No answer from the server (connection refused or reset, no route, DNS).
    Unreachable,
    /// The server took too long (one request, or the whole sync).
    Timeout,
    /// The server refused the user's token: they must sign in again.
    SignInNeeded,
    /// The server failed or is overloaded (HTTP 5xx or 429); it usually passes.
    ServerError {
        /// The HTTP status.
        status: u16,
    },
    /// The server refused the request itself (an HTTP 4xx other than 401 and 429): an app or
    /// server bug that retrying does not fix.
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// The server's answer was malformed, cut short or too large; nothing of it was applied.
    BadResponse,
    /// This device's storage failed (full, corrupt, read-only, busy).
    Storage {
        /// What kind of storage failure.
        kind: StorageErrorKind,
    },
    /// Something the core did not expect (see the log).
    Internal,
}

/// What the engine is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SyncState {
    /// Nothing to do, or waiting for the next sync.
    Idle,
    /// A sync of `unit` is running.
    Syncing {
        /// The unit that is syncing.
        unit: String,
        /// How far it got.
        progress: SyncProgress,
    },
    /// The last sync failed.
    Failed {
        /// The reason code a front end translates.
        reason: FailureReason,
        /// Whether trying again can help (not when the user must sign in, or for a fault that
        /// retrying cannot fix).
        retryable: bool,
        /// When the core tries again by itself, ms since the Unix epoch.
        next_retry_at: Option<i64>,
    },
    /// The device is offline; mutations wait.
    Offline,
}

/// Which banner to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum BannerKind {
    /// Everything is synced or about to be: show nothing.
    Hidden,
    /// "Syncing…".
    Syncing,
    /// "Sync failed", with the reason and (when it helps) a Retry action.
    Failed,
    /// "You're offline".
    Offline,
    /// Nothing else to say, but conflicts or quarantined mutations wait for the user: "1 change
    /// needs your decision", with an action that opens them. Never "up to date" while one waits.
    NeedsDecision,
}

/// The banner a front end shows above its content, as structure: the front end chooses the
/// words for `kind` and `reason`, shows the counts, the progress, a countdown to `next_retry_at`
/// and, when `can_retry`, a Retry action that calls `retry()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Banner {
    /// What to show: nothing, syncing, failed, offline, or a decision waiting. Whatever the
    /// kind, `conflicts + quarantined` above zero means a decision waits, and every front end
    /// says so beside the kind's own words (`docs/banner-text.md`).
    pub kind: BannerKind,
    /// Local mutations waiting to be pushed.
    pub pending: u64,
    /// Conflicts waiting in the inbox for the user.
    pub conflicts: u64,
    /// Quarantined mutations: the server rejected them, and they wait for the user.
    pub quarantined: u64,
    /// Entities of the running sync done (syncing only).
    pub entities_done: u32,
    /// Entities in the running sync (syncing only; 0 while it starts).
    pub entities_total: u32,
    /// Why the last sync failed (failed only).
    pub reason: Option<FailureReason>,
    /// When the core retries by itself, in milliseconds since the Unix epoch (failed only). The
    /// banner does not change as that time comes closer: a front end that shows a countdown
    /// ticks it itself (once a second), rounding the seconds left up, so that it says "now" only
    /// once the time has come.
    pub next_retry_at: Option<i64>,
    /// Whether a Retry action can help (failed only; not when the user must sign in again).
    pub can_retry: bool,
}

/// Everything a front end needs to show the state of sync.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncStatus {
    /// What the engine is doing.
    pub state: SyncState,
    /// The network as the core sees it.
    pub network: NetworkStatus,
    /// The kind of network the OS reports.
    pub network_type: NetworkType,
    /// Whether that network is metered.
    pub metered: bool,
    /// Local mutations not yet accepted by the server.
    pub pending: u64,
    /// Conflicts waiting in the inbox for the user.
    pub conflicts: u64,
    /// Local mutations the server rejected, waiting in quarantine for the user.
    pub quarantined: u64,
    /// When a sync last completed, in ms since the Unix epoch.
    pub last_synced_at: Option<i64>,
    /// The banner for all of the above (kept in step by the core).
    pub banner: Banner,
}

impl Default for SyncStatus {
    fn default() -> Self {
        let mut status = SyncStatus {
            state: SyncState::Idle,
            network: NetworkStatus::Online,
            network_type: NetworkType::Other,
            metered: false,
            pending: 0,
            conflicts: 0,
            quarantined: 0,
            last_synced_at: None,
            banner: Banner::hidden(),
        };
        status.banner = status.derive_banner();
        status
    }
}

impl Banner {
    /// A banner that shows nothing, every count 0: a starting point for previews and tests
    /// (`Banner { kind: BannerKind::Offline, pending: 3, ..Banner::hidden() }`).
    pub fn hidden() -> Banner {
        Banner {
            kind: BannerKind::Hidden,
            pending: 0,
            conflicts: 0,
            quarantined: 0,
            entities_done: 0,
            entities_total: 0,
            reason: None,
            next_retry_at: None,
            can_retry: false,
        }
    }
}

impl SyncStatus {
    /// The banner for this status. Offline wins over everything (nothing else can be done about
    /// it), then a running sync, then a failure, then a decision waiting for the user; only when
    /// none of them holds is there nothing to show.
    pub(crate) fn derive_banner(&self) -> Banner {
        let mut banner = Banner {
            pending: self.pending,
            conflicts: self.conflicts,
            quarantined: self.quarantined,
            ..Banner::hidden()
        };
        if self.network == NetworkStatus::Offline {
            banner.kind = BannerKind::Offline;
            return banner;
        }
        match &self.state {
            SyncState::Idle if self.conflicts + self.quarantined > 0 => {
                banner.kind = BannerKind::NeedsDecision;
            }
            SyncState::Idle => {}
            SyncState::Offline => banner.kind = BannerKind::Offline,
            SyncState::Syncing { progress, .. } => {
                banner.kind = BannerKind::Syncing;
                banner.entities_done = progress.entities_done;
                banner.entities_total = progress.entities_total;
            }
            SyncState::Failed {
                reason,
                retryable,
                next_retry_at,
            } => {
                banner.kind = BannerKind::Failed;
                banner.reason = Some(*reason);
                banner.next_retry_at = *next_retry_at;
                banner.can_retry = *retryable;
            }
        }
        banner
    }

    /// The same status with its banner in step.
    pub(crate) fn with_banner(mut self) -> SyncStatus {
        self.banner = self.derive_banner();
        self
    }

    /// Changes the status with `change` and brings the banner in step; returns whether anything
    /// changed.
    pub fn update(&mut self, change: impl FnOnce(&mut SyncStatus)) -> bool {
        let before = self.clone();
        change(self);
        self.banner = self.derive_banner();
        *self != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_wins_then_syncing_then_failure() {
        let mut s = SyncStatus::default();
        assert!(s.update(|s| s.pending = 2));
        assert_eq!(s.banner.kind, BannerKind::Hidden);
        assert_eq!(s.banner.pending, 2);
        s.update(|s| {
            s.state = SyncState::Failed {
                reason: FailureReason::Unreachable,
                retryable: true,
                next_retry_at: Some(12_500),
            }
        });
        assert_eq!(s.banner.kind, BannerKind::Failed);
        assert_eq!(s.banner.reason, Some(FailureReason::Unreachable));
        assert_eq!(s.banner.next_retry_at, Some(12_500));
        assert!(s.banner.can_retry);
        s.update(|s| {
            s.state = SyncState::Syncing {
                unit: "all".into(),
                progress: SyncProgress {
                    phase: Phase::Pulling {
                        entity: "tasks".into(),
                    },
                    entities_done: 1,
                    entities_total: 3,
                    items: 10,
                },
            }
        });
        assert_eq!(s.banner.kind, BannerKind::Syncing);
        assert_eq!((s.banner.entities_done, s.banner.entities_total), (1, 3));
        assert_eq!(s.banner.reason, None);
        s.update(|s| s.network = NetworkStatus::Offline);
        assert_eq!(s.banner.kind, BannerKind::Offline);
        assert_eq!(s.banner.pending, 2);
        assert!(!s.update(|s| s.pending = 2), "no change, no update");
    }

    /// A decision waiting is never hidden: idle and online, a conflict or a quarantined mutation
    /// is the banner; offline, syncing or failed say their own thing first, with the counts.
    #[test]
    fn a_decision_waiting_is_the_banner_when_nothing_else_is() {
        let mut s = SyncStatus::default();
        s.update(|s| s.conflicts = 1);
        assert_eq!(s.banner.kind, BannerKind::NeedsDecision);
        s.update(|s| {
            s.conflicts = 0;
            s.quarantined = 2;
        });
        assert_eq!(s.banner.kind, BannerKind::NeedsDecision);
        assert_eq!(s.banner.quarantined, 2);
        s.update(|s| s.network = NetworkStatus::Offline);
        assert_eq!(s.banner.kind, BannerKind::Offline);
        assert_eq!(s.banner.quarantined, 2, "the count rides along");
        s.update(|s| {
            s.network = NetworkStatus::Online;
            s.quarantined = 0;
        });
        assert_eq!(s.banner.kind, BannerKind::Hidden);
    }
}
