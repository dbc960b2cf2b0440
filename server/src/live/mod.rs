//! Live change hints (`GET /v1/live`, docs/protocol.md; decision 0032): the streams an instance
//! holds. [`Streams`] counts them against the per-user and per-instance caps and tells them
//! when the server shuts down; [`stream`] is one stream's life, from `hello` to `bye`, woken by
//! the commits of every instance through the store's hub (`wakeup.rs`) and never by a timer on
//! the database.
//!
//! The events are this module's own ([`LiveEvent`]); the HTTP face (`http/live.rs`) writes them
//! as server-sent events and adds the heartbeat.

mod stream;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

pub(crate) use stream::{open, Opening};

/// Streams one user may hold on one instance unless configured.
pub const DEFAULT_STREAMS_PER_USER: usize = 10;
/// Streams one instance holds at most unless configured.
pub const DEFAULT_STREAMS_PER_INSTANCE: usize = 20_000;

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

/// Why a stream was not opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TooMany {
    /// This user holds as many streams as one user may.
    #[error("this user holds {0} live streams, the most one user may open")]
    User(usize),
    /// This instance holds as many streams as it allows.
    #[error("this server holds {0} live streams, the most it allows; try another instance")]
    Instance(usize),
}

impl TooMany {
    /// Seconds the client should wait: a user at the cap usually has a stream of a dead
    /// connection that the next heartbeat reveals; a full instance is left for another one.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        match self {
            TooMany::User(_) => 30,
            TooMany::Instance(_) => 5,
        }
    }
}

/// The streams one server (one router) holds: counted per user and in all, and told when the
/// server shuts down.
#[derive(Debug)]
pub(crate) struct Streams {
    per_user: usize,
    per_instance: usize,
    instance: String,
    open: Mutex<Counts>,
    closing: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_user: HashMap<String, usize>,
}

impl Streams {
    /// A registry with these caps (at least one each).
    pub(crate) fn new(per_user: usize, per_instance: usize) -> Streams {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Streams {
            per_user: per_user.max(1),
            per_instance: per_instance.max(1),
            instance: id[..12].to_string(),
            open: Mutex::new(Counts::default()),
            closing: watch::Sender::new(false),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counting cannot leave the map half-changed, so a poisoned lock is still right.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a place for a stream of `user`, or says which cap refuses it. The place is given
    /// back when the [`Slot`] drops (the stream ended or its connection closed).
    pub(crate) fn try_open(self: &Arc<Self>, user: &str) -> Result<Slot, TooMany> {
        let mut counts = self.counts();
        if counts.total >= self.per_instance {
            return Err(TooMany::Instance(self.per_instance));
        }
        let mine = counts.by_user.get(user).copied().unwrap_or(0);
        if mine >= self.per_user {
            return Err(TooMany::User(self.per_user));
        }
        counts.total += 1;
        counts.by_user.insert(user.to_string(), mine + 1);
        Ok(Slot {
            streams: self.clone(),
            user: user.to_string(),
        })
    }

    /// Whether `user` holds a stream here now (the push hook leaves them out).
    pub(crate) fn holds(&self, user: &str) -> bool {
        self.counts().by_user.contains_key(user)
    }

    /// Streams open now.
    pub(crate) fn count(&self) -> usize {
        self.counts().total
    }

    /// This instance's id (in `hello`).
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// Tells every stream to say `bye shutdown` and end; streams opened later end at once.
    pub(crate) fn shut_down(&self) {
        self.closing.send_replace(true);
    }

    /// What a stream watches for the shutdown.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

/// A stream's place in [`Streams`], given back on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    streams: Arc<Streams>,
    user: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.streams.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                counts.by_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_refuse_and_places_come_back() {
        let streams = Arc::new(Streams::new(2, 3));
        let a1 = streams.try_open("alice").expect("first");
        let _a2 = streams.try_open("alice").expect("second");
        assert_eq!(streams.try_open("alice").err(), Some(TooMany::User(2)));
        let _b1 = streams.try_open("bob").expect("bob");
        assert_eq!(streams.try_open("carol").err(), Some(TooMany::Instance(3)));
        drop(a1);
        assert_eq!(streams.count(), 2);
        let _a3 = streams.try_open("alice").expect("a place came back");
    }
}
