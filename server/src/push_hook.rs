//! The push hook (docs/protocol.md, "Push hook"; docs/scaling.md): when a commit concerns users
//! who hold no live stream here, the server POSTs `{"user", "entities"}` to a configured URL,
//! signed with HMAC-SHA256, so a push provider (FCM, APNs) behind it can wake their devices,
//! which then sync as ever. A wake-up only, like a live hint: a lost call costs latency (the
//! periodic sync is the fallback), never data.
//!
//! The commit path only hands the commit to a broadcast (`Hub::committed_here`), which never
//! waits; everything else runs on one task of its own: finding the members of the touched
//! scopes, leaving out those with a stream on this instance, coalescing per user (at most one
//! call per user per interval: the first at once, what comes during the interval in one call at
//! its end), and calling with retries and backoff, a bounded number at a time.
//!
//! Only the instance that committed decides: on PostgreSQL every instance hears every commit,
//! and if each called, a user would be called once per instance. The price: a user whose only
//! stream is on another instance is called anyway (one redundant wake-up of a device that is in
//! the foreground already).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use prometheus::{IntCounter, IntCounterVec};
use serde_json::json;
use tokio::sync::{broadcast, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::clock::now_ms;
use crate::store::Store;
use crate::token_hash::hex;
use crate::wakeup::Touched;

/// At most one call per user per this long unless configured.
pub const DEFAULT_PUSH_HOOK_INTERVAL: Duration = Duration::from_secs(30);

/// The header carrying the signature, `sha256=<hex>`.
pub(crate) const SIGNATURE_HEADER: &str = "x-syncline-signature";
/// The header carrying the Unix time in seconds the signature was made at.
pub(crate) const TIMESTAMP_HEADER: &str = "x-syncline-timestamp";
/// The header carrying the call's id, the same on every retry of one call.
pub(crate) const DELIVERY_HEADER: &str = "x-syncline-delivery";

/// Users waiting for a call at most; a commit concerning more new users is not called about
/// for them (counted and logged), so a flood of commits cannot grow the server's memory.
const MAX_PENDING_USERS: usize = 100_000;
/// Calls in flight at once (retries included): a slow hook holds back calls, never commits.
const MAX_IN_FLIGHT: usize = 16;
/// Attempts per call: the first and four retries, 1, 2, 4 and 8 s apart.
const MAX_ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest `Retry-After` of the receiver's that the hook waits out before its next attempt.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(300);
/// One attempt's limit, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon a call that found every slot taken is tried again.
const SLOTS_BUSY_WAIT: Duration = Duration::from_millis(100);

/// Where and how the server calls a push hook.
#[derive(Clone)]
pub struct PushHookConfig {
    /// The URL the calls are POSTed to (`http` or `https`).
    pub url: String,
    /// The shared secret the calls are signed with (HMAC-SHA256).
    pub secret: String,
    /// At most one call per user per this long ([`DEFAULT_PUSH_HOOK_INTERVAL`]).
    pub interval: Duration,
}

impl std::fmt::Debug for PushHookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: options end up in debug logs.
        f.debug_struct("PushHookConfig")
            .field("url", &self.url)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The hook's metrics (registered by `http::metrics`, counted here).
#[derive(Debug, Clone)]
pub(crate) struct HookCounters {
    /// Attempts by outcome: `delivered`, `retried` (failed, tried again), `failed` (given up).
    pub(crate) calls: IntCounterVec,
    /// Users not called about a commit, by reason: `live` (a stream here), `queue_full`,
    /// `lagged` (commits missed by a hook that fell behind), `store_error`.
    pub(crate) skipped: IntCounterVec,
    /// Commits folded into a call already waiting for its user.
    pub(crate) coalesced: IntCounter,
}

/// `sha256=<hex>` of HMAC-SHA256 with `secret` over `<timestamp>.<body>`: the signature a
/// receiver recomputes (docs/protocol.md). The timestamp is signed so a recorded call cannot be
/// replayed later with a fresh one.
pub(crate) fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// POSTs `body` as JSON to `url`, signed with `secret` at the current time ([`sign`]), with the
/// delivery id `delivery`: one attempt of the push hook's or a webhook's call.
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &str,
    delivery: &str,
) -> reqwest::Result<reqwest::Response> {
    // Signed afresh on every attempt: a receiver checks the timestamp is recent.
    let timestamp = now_ms() / 1000;
    http.post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(
            SIGNATURE_HEADER,
            sign(secret.as_bytes(), timestamp, body.as_bytes()),
        )
        .header(DELIVERY_HEADER, delivery)
        .body(body.to_string())
        .send()
        .await
}

/// The answer's `Retry-After` in seconds, capped at [`LONGEST_RETRY_AFTER`], if it gave one.
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(LONGEST_RETRY_AFTER))
}

/// Whether a user holds a live stream on this instance now (the server's stream registry; a
/// function, so this module needs nothing of the live streams').
pub(crate) type HoldsStream = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Starts the hook's task on the current runtime; it runs until aborted (the server ends) or
/// the store goes away. Subscribes before it returns, so every commit from now on is seen.
pub(crate) fn spawn(
    config: PushHookConfig,
    store: Store,
    streams: HoldsStream,
    counters: Option<HookCounters>,
) -> Result<tokio::task::JoinHandle<()>, reqwest::Error> {
    let http = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("syncline-server/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let rx = store.hub().subscribe_here();
    let worker = Worker {
        calls: Arc::new(Calls {
            http,
            url: config.url,
            secret: config.secret,
            counters: counters.clone(),
        }),
        interval: config.interval,
        store,
        streams,
        counters,
        rx,
        pending: HashMap::new(),
        due: BinaryHeap::new(),
        last_call: HashMap::new(),
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        next_prune: Instant::now(),
    };
    Ok(tokio::spawn(worker.run()))
}

/// What every call needs.
struct Calls {
    http: reqwest::Client,
    url: String,
    secret: String,
    counters: Option<HookCounters>,
}

/// A user's call, waiting for its time.
struct Pending {
    /// Entity → the newest position heard.
    entities: BTreeMap<String, i64>,
    due: Instant,
}

struct Worker {
    calls: Arc<Calls>,
    interval: Duration,
    store: Store,
    streams: HoldsStream,
    counters: Option<HookCounters>,
    rx: broadcast::Receiver<Arc<Touched>>,
    pending: HashMap<String, Pending>,
    /// (due, user), soonest first; an entry whose user's call is due at another time (or was
    /// dropped) is stale and skipped.
    due: BinaryHeap<Reverse<(Instant, String)>>,
    /// When each user was last called, for the interval (pruned once per interval).
    last_call: HashMap<String, Instant>,
    slots: Arc<Semaphore>,
    next_prune: Instant,
}

impl Worker {
    async fn run(mut self) {
        loop {
            let next = self.due.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                heard = self.rx.recv() => match heard {
                    Ok(first) => {
                        // Whatever else has come meanwhile, in one go: one member lookup for
                        // a burst of commits.
                        let mut batch = vec![first];
                        loop {
                            match self.rx.try_recv() {
                                Ok(t) => batch.push(t),
                                Err(broadcast::error::TryRecvError::Lagged(n)) => self.lagged(n),
                                Err(_) => break,
                            }
                        }
                        self.take_in(&batch).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => self.lagged(n),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = sleep_until(next), if next.is_some() => self.call_due(),
            }
        }
    }

    fn skipped(&self, reason: &str, n: u64) {
        if let Some(c) = &self.counters {
            c.skipped.with_label_values(&[reason]).inc_by(n);
        }
    }

    fn lagged(&self, missed: u64) {
        // Who those commits concerned is unknown now; their devices sync at their next
        // periodic sync, as without a hook.
        log::warn!("push hook: fell {missed} commits behind; their users are not called");
        self.skipped("lagged", missed);
    }

    /// Notes whom a burst of commits concerns: the members of the scopes it touched and the
    /// users it wrote to alone, less those with a stream here.
    async fn take_in(&mut self, batch: &[Arc<Touched>]) {
        let mut scopes: HashSet<&str> = HashSet::new();
        let mut changes: Vec<(String, String, i64)> = Vec::new();
        for touched in batch {
            for (scope, _, _) in touched.scoped() {
                scopes.insert(scope);
            }
            for (user, entity, position) in touched.personal() {
                changes.push((user.to_string(), entity.to_string(), position));
            }
        }
        if !scopes.is_empty() {
            let wanted: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            let store = self.store.clone();
            let members =
                match tokio::task::spawn_blocking(move || store.scope_members(&wanted)).await {
                    Ok(Ok(members)) => members,
                    Ok(Err(e)) => {
                        log::warn!("push hook: the members could not be read: {e}");
                        self.skipped("store_error", 1);
                        Vec::new()
                    }
                    Err(e) => {
                        log::warn!("push hook: the members could not be read: {e}");
                        self.skipped("store_error", 1);
                        Vec::new()
                    }
                };
            let mut by_scope: HashMap<&str, Vec<&str>> = HashMap::new();
            for (scope, user) in &members {
                by_scope.entry(scope).or_default().push(user);
            }
            for touched in batch {
                for (scope, entity, position) in touched.scoped() {
                    for user in by_scope.get(scope).into_iter().flatten() {
                        changes.push((user.to_string(), entity.to_string(), position));
                    }
                }
            }
        }
        let now = Instant::now();
        let mut live = HashSet::new();
        let mut folded = HashSet::new();
        let mut full = HashSet::new();
        for (user, entity, position) in changes {
            if (self.streams)(&user) {
                live.insert(user);
                continue;
            }
            if let Some(p) = self.pending.get_mut(&user) {
                let newest = p.entities.entry(entity).or_insert(position);
                *newest = (*newest).max(position);
                folded.insert(user);
                continue;
            }
            if self.pending.len() >= MAX_PENDING_USERS {
                full.insert(user);
                continue;
            }
            // At once, or when the user's interval since the last call is over.
            let due = self
                .last_call
                .get(&user)
                .map_or(now, |at| *at + self.interval)
                .max(now);
            self.due.push(Reverse((due, user.clone())));
            self.pending.insert(
                user,
                Pending {
                    entities: BTreeMap::from([(entity, position)]),
                    due,
                },
            );
        }
        // Users first noted in this burst count as new, not folded.
        self.skipped("live", live.len() as u64);
        if !full.is_empty() {
            log::warn!(
                "push hook: {} users waiting already; {} more not called",
                self.pending.len(),
                full.len()
            );
            self.skipped("queue_full", full.len() as u64);
        }
        if let Some(c) = &self.counters {
            c.coalesced.inc_by(folded.len() as u64);
        }
    }

    /// Starts the calls that are due, as many as there are free slots.
    fn call_due(&mut self) {
        let now = Instant::now();
        if now >= self.next_prune {
            let interval = self.interval;
            self.last_call
                .retain(|_, at| now.saturating_duration_since(*at) < interval);
            self.next_prune = now + interval;
        }
        while let Some(Reverse((at, _))) = self.due.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, user))) = self.due.pop() else {
                break;
            };
            if self.pending.get(&user).is_none_or(|p| p.due != at) {
                continue;
            }
            if (self.streams)(&user) {
                // The device came to the foreground meanwhile: its stream's own catch-up sync
                // brings the change.
                self.pending.remove(&user);
                self.skipped("live", 1);
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                // Every slot is busy (a slow hook): try again shortly, in due order.
                let later = now + SLOTS_BUSY_WAIT;
                if let Some(p) = self.pending.get_mut(&user) {
                    p.due = later;
                }
                self.due.push(Reverse((later, user)));
                break;
            };
            let Some(call) = self.pending.remove(&user) else {
                continue;
            };
            self.last_call.insert(user.clone(), now);
            tokio::spawn(deliver(self.calls.clone(), user, call.entities, permit));
        }
    }
}

/// Makes one call, retrying with backoff on a network error, a timeout, 408, 429 or 5xx (waiting
/// at least the answer's `Retry-After` in seconds, up to [`LONGEST_RETRY_AFTER`]); any other
/// answer ends it (a 4xx will not change by retrying).
async fn deliver(
    calls: Arc<Calls>,
    user: String,
    entities: BTreeMap<String, i64>,
    _permit: OwnedSemaphorePermit,
) {
    // Positions as cursor strings, as the live stream and `POST /v1/pull` write them.
    let entities: serde_json::Map<String, serde_json::Value> = entities
        .into_iter()
        .map(|(e, p)| (e, p.to_string().into()))
        .collect();
    let body = json!({"user": user, "entities": entities}).to_string();
    let delivery = uuid::Uuid::new_v4().simple().to_string();
    let count = |outcome: &str| {
        if let Some(c) = &calls.counters {
            c.calls.with_label_values(&[outcome]).inc();
        }
    };
    let mut wait = FIRST_RETRY;
    for attempt in 1..=MAX_ATTEMPTS {
        // What the receiver asked for, when it answered 429 or 503 with `Retry-After`.
        let mut asked: Option<Duration> = None;
        let sent = post_signed(&calls.http, &calls.url, &calls.secret, &body, &delivery).await;
        let problem = match sent {
            Ok(resp) if resp.status().is_success() => {
                count("delivered");
                log::debug!("push hook: called about {user} (delivery {delivery})");
                return;
            }
            Ok(resp) => {
                let status = resp.status();
                let again = status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                asked = retry_after(&resp);
                if !again {
                    count("failed");
                    log::warn!(
                        "push hook: the call about {user} was refused with {status}; not retried \
                         (delivery {delivery})"
                    );
                    return;
                }
                format!("answered {status}")
            }
            Err(e) => format!("failed: {e}"),
        };
        if attempt == MAX_ATTEMPTS {
            count("failed");
            log::warn!(
                "push hook: the call about {user} {problem}; given up after {MAX_ATTEMPTS} \
                 attempts (delivery {delivery})"
            );
            return;
        }
        count("retried");
        log::info!(
            "push hook: the call about {user} {problem}; again in {wait:?} (delivery {delivery})"
        );
        tokio::time::sleep(asked.map_or(wait, |asked| asked.max(wait))).await;
        wait *= 2;
    }
}

/// Sleeps until `at` (forever when `None`; the `select!` guard keeps that branch off then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        // The example of docs/protocol.md ("Push hook"), computed apart with Python's hmac.
        let secret = b"an-example-secret-of-at-least-32-bytes";
        let body = br#"{"entities":{"comments":"1452","tasks":"1460"},"user":"alice"}"#;
        assert_eq!(
            sign(secret, 1_765_090_000, body),
            "sha256=38bd905b45a1c8e7e58a90d76ced51e7906f745c62239eb3fe119c0ef188ca4d"
        );
        assert_ne!(
            sign(secret, 1_765_090_001, body),
            sign(secret, 1_765_090_000, body)
        );
        assert_ne!(
            sign(b"another", 1_765_090_000, body),
            sign(secret, 1_765_090_000, body)
        );
    }
}
