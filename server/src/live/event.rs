//! What a live stream says, before the HTTP face writes it as server-sent events, and how its
//! request was authenticated.

use std::collections::BTreeMap;

/// Why a stream ends (the `bye` event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByeReason {
    /// The server shuts down: reconnect, to any instance.
    Shutdown,
    /// The token expired or was revoked.
    SignInNeeded,
}

impl ByeReason {
    /// Its name on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ByeReason::Shutdown => "shutdown",
            ByeReason::SignInNeeded => "sign_in_needed",
        }
    }
}

/// One event of a stream, before the HTTP face writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LiveEvent {
    /// The first event: the heartbeat in force and the instance holding the stream.
    Hello {
        /// Milliseconds between pings when idle.
        heartbeat_ms: u64,
        /// This instance's id.
        instance: String,
    },
    /// Entities with changes visible to the user, each up to its newest position.
    Changes(BTreeMap<String, i64>),
    /// The stream ends.
    Bye(ByeReason),
}

/// How the stream's request was authenticated: what it must watch to close when the token
/// stops being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// An opaque token of the store, by its hash: checked again when it is revoked or re-timed.
    Stored {
        /// Its SHA-256 hash, as the store keeps it.
        hash: String,
        /// When it expires (ms since the epoch; `None`: never).
        expires_at: Option<i64>,
    },
    /// A JWT: nothing to revoke on the server; it ends at its `exp` (plus the leeway the
    /// server grants, so a reconnect is refused rather than accepted for a few seconds).
    Jwt {
        /// When the server stops accepting it (ms since the epoch).
        expires_at: Option<i64>,
    },
}
