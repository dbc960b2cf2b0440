//! The streams one server holds: counted per user and in all against the caps, and told when
//! the server shuts down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

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
