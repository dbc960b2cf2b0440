//! Sync status and the banner derived from it: one value that says what the engine is doing and
//! one banner that every shell (Android, iOS, the terminal) renders the same way.

/// What the engine is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// Nothing to do, or waiting for the next sync.
    Idle,
    /// A sync of `unit` is running.
    Syncing {
        /// The unit being synced.
        unit: String,
    },
    /// The last sync failed.
    Failed {
        /// Why, in words for the user.
        reason: String,
        /// Whether trying again may help (network trouble) or the user must act (sign in).
        retryable: bool,
    },
}

/// Everything a shell needs to show the state of sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What the engine is doing.
    pub activity: Activity,
    /// Whether the OS reports connectivity.
    pub connected: bool,
    /// Local changes not yet accepted by the server.
    pub pending: u64,
    /// Local changes the server refused, waiting for the user.
    pub quarantined: u64,
    /// When a sync last completed, in ms since the Unix epoch.
    pub last_synced_at: Option<i64>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            activity: Activity::Idle,
            connected: true,
            pending: 0,
            quarantined: 0,
            last_synced_at: None,
        }
    }
}

/// The banner a shell shows above its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Banner {
    /// Everything is synced or about to be: show nothing.
    Hidden,
    /// "Syncing…".
    Syncing,
    /// "Sync failed", with the reason and a Retry action.
    Failed {
        /// Why it failed.
        reason: String,
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
        if !self.connected {
            return Banner::Offline {
                pending: self.pending,
            };
        }
        match &self.activity {
            Activity::Syncing { .. } => Banner::Syncing,
            Activity::Failed { reason, .. } => Banner::Failed {
                reason: reason.clone(),
            },
            Activity::Idle => Banner::Hidden,
        }
    }
}

impl Banner {
    /// The banner's text, as every shell shows it; `None` when hidden.
    pub fn text(&self) -> Option<String> {
        match self {
            Banner::Hidden => None,
            Banner::Syncing => Some("Syncing…".to_string()),
            Banner::Failed { reason } => Some(format!("Sync failed: {reason}")),
            Banner::Offline { pending: 0 } => Some("You're offline".to_string()),
            Banner::Offline { pending: 1 } => {
                Some("You're offline · 1 change waiting to sync".to_string())
            }
            Banner::Offline { pending } => Some(format!(
                "You're offline · {pending} changes waiting to sync"
            )),
        }
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
        s.activity = Activity::Failed {
            reason: "server unreachable".into(),
            retryable: true,
        };
        assert_eq!(
            s.banner().text().as_deref(),
            Some("Sync failed: server unreachable")
        );
        s.activity = Activity::Syncing { unit: "all".into() };
        assert_eq!(s.banner(), Banner::Syncing);
        s.connected = false;
        assert_eq!(
            s.banner().text().as_deref(),
            Some("You're offline · 2 changes waiting to sync")
        );
    }
}
