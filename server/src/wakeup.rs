//! The commit wake-up: what one write transaction touched ([`Touched`]: entities per scope with
//! their newest change-log position, users whose memberships changed, tokens revoked or
//! re-timed), and the in-process [`Hub`] that hands it to every live stream of this instance.
//!
//! On SQLite the backend publishes a commit's [`Touched`] to the hub after the commit; on
//! PostgreSQL the committing transaction sends it as a `NOTIFY` payload ([`Touched::payload`]),
//! and every instance's listener decodes it ([`Touched::from_payload`]) into its own hub, so one
//! path serves one instance and many (decision 0032). A leaf: the database backends and the
//! live streams both use it, and it uses neither.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The PostgreSQL channel commits notify and instances listen on.
pub(crate) const CHANNEL: &str = "syncline_changes";

/// Largest `NOTIFY` payload sent: PostgreSQL refuses more than 8000 bytes. A bigger change set
/// is sent in its "everything up to P" form.
pub(crate) const MAX_PAYLOAD: usize = 7900;

/// Commits a lagging stream may fall behind by before it only learns "everything changed": a
/// slow stream never holds a commit back, it just loses detail.
const HUB_CAPACITY: usize = 1024;

/// What one committed write transaction touched. Built by the data layer while it writes
/// (through the transaction, see `db::Tx::touched`), so every commit that adds to the change
/// log names what it added, whoever made it (push, admin, membership, demo).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Touched {
    /// (scope, entity) → the newest position written in that scope: every member of the scope
    /// may see it.
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    scoped: Vec<(String, String, i64)>,
    /// (user, entity) → the newest position written for that user alone (a revocation after
    /// leaving a project: the scope is no longer theirs, the tombstones are).
    #[serde(rename = "p", default, skip_serializing_if = "Vec::is_empty")]
    personal: Vec<(String, String, i64)>,
    /// Users whose memberships changed: their streams read their scopes again.
    #[serde(rename = "m", default, skip_serializing_if = "BTreeSet::is_empty")]
    members: BTreeSet<String>,
    /// Hashes of tokens revoked or given a new expiry: their streams check them again.
    #[serde(rename = "t", default, skip_serializing_if = "BTreeSet::is_empty")]
    tokens: BTreeSet<String>,
    /// Anything may have changed up to this position (a change set too big for one
    /// notification, a listener that reconnected): every stream hints every entity.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    everything: Option<i64>,
    /// With `everything`: every stream reads its scopes again.
    #[serde(rename = "ma", default, skip_serializing_if = "std::ops::Not::not")]
    all_members: bool,
    /// With `everything`: every stream checks its token again.
    #[serde(rename = "ta", default, skip_serializing_if = "std::ops::Not::not")]
    all_tokens: bool,
}

/// Notes what a transaction touches, merged per key as it goes (a push of 500 tasks in one
/// project is one entry).
#[derive(Debug, Default)]
pub(crate) struct Collector {
    scoped: BTreeMap<(String, String), i64>,
    personal: BTreeMap<(String, String), i64>,
    members: BTreeSet<String>,
    tokens: BTreeSet<String>,
}

impl Collector {
    /// A change of `entity` at `position` visible in `scope`.
    pub(crate) fn scoped(&mut self, scope: &str, entity: &str, position: i64) {
        let e = self
            .scoped
            .entry((scope.to_string(), entity.to_string()))
            .or_insert(position);
        *e = (*e).max(position);
    }

    /// A change of `entity` at `position` for `user` alone.
    pub(crate) fn personal(&mut self, user: &str, entity: &str, position: i64) {
        let e = self
            .personal
            .entry((user.to_string(), entity.to_string()))
            .or_insert(position);
        *e = (*e).max(position);
    }

    /// `user`'s memberships changed.
    pub(crate) fn member(&mut self, user: &str) {
        self.members.insert(user.to_string());
    }

    /// The token with this hash was revoked or re-timed.
    pub(crate) fn token(&mut self, token_hash: &str) {
        self.tokens.insert(token_hash.to_string());
    }

    /// What was noted, emptying the collector (`None`: nothing that wakes a stream).
    pub(crate) fn take(&mut self) -> Option<Touched> {
        let c = std::mem::take(self);
        if c.scoped.is_empty()
            && c.personal.is_empty()
            && c.members.is_empty()
            && c.tokens.is_empty()
        {
            return None;
        }
        Some(Touched {
            scoped: c.scoped.into_iter().map(|((s, e), p)| (s, e, p)).collect(),
            personal: c
                .personal
                .into_iter()
                .map(|((u, e), p)| (u, e, p))
                .collect(),
            members: c.members,
            tokens: c.tokens,
            everything: None,
            all_members: false,
            all_tokens: false,
        })
    }
}

impl Touched {
    /// "Anything may have changed up to `position`": what a stream hears when the detail is
    /// lost (a listener reconnected, a notification was too big, a stream lagged).
    pub(crate) fn everything(position: i64) -> Touched {
        Touched {
            everything: Some(position),
            all_members: true,
            all_tokens: true,
            ..Touched::default()
        }
    }

    /// The newest position it names.
    pub(crate) fn newest(&self) -> i64 {
        let rows = self.scoped.iter().chain(&self.personal).map(|r| r.2);
        rows.chain(self.everything).max().unwrap_or(0)
    }

    /// The `NOTIFY` payload: the compact JSON form, or, over [`MAX_PAYLOAD`] bytes, the
    /// "everything up to the newest position" form.
    pub(crate) fn payload(&self) -> String {
        match serde_json::to_string(self) {
            Ok(text) if text.len() <= MAX_PAYLOAD => text,
            _ => {
                let short = Touched {
                    everything: Some(self.newest()),
                    all_members: !self.members.is_empty() || self.all_members,
                    all_tokens: !self.tokens.is_empty() || self.all_tokens,
                    ..Touched::default()
                };
                // Three small fields: serializing cannot fail or grow past the limit.
                serde_json::to_string(&short).unwrap_or_else(|_| "{}".to_string())
            }
        }
    }

    /// Reads a `NOTIFY` payload; `None` for one this server does not understand.
    pub(crate) fn from_payload(payload: &str) -> Option<Touched> {
        serde_json::from_str(payload).ok()
    }

    /// For a stream of `user` that sees `scopes`: each entity it should hear about, with the
    /// newest position (`all_entities` is what "everything" names).
    pub(crate) fn hints_for<'a>(
        &'a self,
        user: &'a str,
        sees: impl Fn(&str) -> bool + 'a,
        all_entities: &'a [String],
    ) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        let scoped = self
            .scoped
            .iter()
            .filter(move |(scope, _, _)| sees(scope))
            .map(|(_, e, p)| (e.as_str(), *p));
        let personal = self
            .personal
            .iter()
            .filter(move |(u, _, _)| u == user)
            .map(|(_, e, p)| (e.as_str(), *p));
        let everything = self
            .everything
            .into_iter()
            .flat_map(move |p| all_entities.iter().map(move |e| (e.as_str(), p)));
        scoped.chain(personal).chain(everything)
    }

    /// The scopes it changed, each with the entities and their newest positions.
    pub(crate) fn scoped(&self) -> impl Iterator<Item = (&str, &str, i64)> {
        self.scoped
            .iter()
            .map(|(s, e, p)| (s.as_str(), e.as_str(), *p))
    }

    /// The changes for one user alone: (user, entity, newest position).
    pub(crate) fn personal(&self) -> impl Iterator<Item = (&str, &str, i64)> {
        self.personal
            .iter()
            .map(|(u, e, p)| (u.as_str(), e.as_str(), *p))
    }

    /// Whether `user`'s stream must read its scopes again.
    pub(crate) fn names_member(&self, user: &str) -> bool {
        self.all_members || self.members.contains(user)
    }

    /// Whether a stream on the token with this hash must check it again.
    pub(crate) fn names_token(&self, token_hash: &str) -> bool {
        self.all_tokens || self.tokens.contains(token_hash)
    }
}

/// The in-process wake-up of one instance: a broadcast of [`Touched`] to every live stream.
/// Publishing never waits: a stream that falls [`HUB_CAPACITY`] commits behind is told
/// "everything up to [`Hub::latest`]" instead.
///
/// Apart from that, the commits this instance made itself ([`Hub::committed_here`]), for the
/// push hook: on PostgreSQL every instance hears every commit, and only the committing one
/// decides whom to call, so a commit is called about once, not once per instance.
#[derive(Debug)]
pub(crate) struct Hub {
    tx: broadcast::Sender<Arc<Touched>>,
    here: broadcast::Sender<Arc<Touched>>,
    latest: AtomicI64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// A hub nobody listens to yet.
    pub(crate) fn new() -> Hub {
        Hub {
            tx: broadcast::channel(HUB_CAPACITY).0,
            here: broadcast::channel(HUB_CAPACITY).0,
            latest: AtomicI64::new(0),
        }
    }

    /// Tells the push hook (if one listens) about a commit this instance made, after the
    /// commit. Never waits; without a listener it costs nothing.
    pub(crate) fn committed_here(&self, touched: &Touched) {
        if self.here.receiver_count() > 0 {
            // An error only means the hook stopped meanwhile.
            let _ = self.here.send(Arc::new(touched.clone()));
        }
    }

    /// A receiver of every commit this instance makes from now on.
    pub(crate) fn subscribe_here(&self) -> broadcast::Receiver<Arc<Touched>> {
        self.here.subscribe()
    }

    /// Wakes every stream subscribed now (none: nothing happens).
    pub(crate) fn publish(&self, touched: Touched) {
        self.latest.fetch_max(touched.newest(), Ordering::Relaxed);
        // An error only means no stream is open.
        let _ = self.tx.send(Arc::new(touched));
    }

    /// A receiver of every commit published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Touched>> {
        self.tx.subscribe()
    }

    /// The newest position published so far (what a lagging stream is told).
    pub(crate) fn latest(&self) -> i64 {
        self.latest.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_overflow_to_everything() {
        let mut c = Collector::default();
        c.scoped("p-1", "tasks", 7);
        c.scoped("p-1", "tasks", 5);
        c.personal("bob", "comments", 9);
        c.member("bob");
        let t = c.take().expect("touched");
        assert_eq!(Touched::from_payload(&t.payload()), Some(t.clone()));
        assert_eq!(t.newest(), 9);
        let all = vec!["tasks".to_string(), "comments".to_string()];
        let hints: Vec<_> = t.hints_for("bob", |s| s == "p-1", &all).collect();
        assert_eq!(hints, vec![("tasks", 7), ("comments", 9)]);
        assert_eq!(t.hints_for("eve", |_| false, &all).count(), 0);

        let mut big = Collector::default();
        for i in 0..1000 {
            big.scoped(&format!("project-{i}"), "tasks", i);
        }
        big.member("carol");
        let big = big.take().expect("touched");
        let short = Touched::from_payload(&big.payload()).expect("decoded");
        assert!(big.payload().len() <= MAX_PAYLOAD);
        assert_eq!(short.everything, Some(999));
        assert!(short.names_member("anyone"));
        assert!(!short.names_token("x"));
        assert_eq!(Collector::default().take(), None);
    }
}
