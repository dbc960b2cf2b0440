//! One live stream's life: `hello`, then `changes` hints coalesced to at most one per
//! [`COALESCE`], each naming only what the user sees, until `bye` (shutdown, or the token
//! expired or was revoked) or the client goes away.
//!
//! The stream subscribes to the store's hub before it reads the user's scopes, so no commit
//! falls between the two. It reads the scopes again when a commit names the user's
//! memberships, and checks an opaque token again when a commit revoked or re-timed it. A
//! stream that falls behind the hub hears "everything up to the newest position": it may pull
//! for nothing, never miss a change.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::event::{ByeReason, Credential, LiveEvent};
use super::registry::Slot;
use crate::auth::AuthError;
use crate::clock::now_ms;
use crate::error::StoreError;
use crate::store::Store;
use crate::wakeup::Touched;

/// At most one `changes` event per stream per this long: a burst of commits becomes one hint.
pub(crate) const COALESCE: Duration = Duration::from_millis(100);

/// Longest single wait for a token's expiry; the stream looks again after it (tokio's timer
/// does not take arbitrarily far deadlines, and a token may never expire).
const MAX_EXPIRY_WAIT: Duration = Duration::from_secs(24 * 3600);

/// What a stream is opened with.
#[derive(Debug)]
pub(crate) struct Opening {
    /// The authenticated user.
    pub user: String,
    /// How they authenticated.
    pub credential: Credential,
    /// Its place among the instance's streams (given back when the stream ends).
    pub slot: Slot,
    /// The first event.
    pub hello: LiveEvent,
    /// Becomes true when the server shuts down.
    pub closing: watch::Receiver<bool>,
}

/// Opens a stream: subscribes to the hub, reads the user's scopes, and returns the events.
pub(crate) async fn open(
    store: Store,
    opening: Opening,
) -> Result<impl Stream<Item = LiveEvent> + Send + 'static, StoreError> {
    // Subscribed before the scopes are read: a commit in between is heard, not lost.
    let rx = store.hub().subscribe();
    let scopes = read_scopes(&store, &opening.user).await?;
    let entities = store
        .schema()
        .entities()
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    let live = Live {
        store,
        user: opening.user,
        credential: opening.credential,
        scopes,
        entities,
        rx,
        closing: opening.closing,
        pending: BTreeMap::new(),
        next_send: Instant::now(),
        hello: Some(opening.hello),
        done: false,
        _slot: opening.slot,
    };
    Ok(futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((event, live))
    }))
}

/// The user's scopes, read off the async threads.
async fn read_scopes(store: &Store, user: &str) -> Result<HashSet<String>, StoreError> {
    let (store, user) = (store.clone(), user.to_string());
    match tokio::task::spawn_blocking(move || store.memberships(&user)).await {
        Ok(scopes) => Ok(scopes?.into_iter().collect()),
        Err(e) => Err(StoreError::Invalid(format!(
            "reading the scopes failed: {e}"
        ))),
    }
}

struct Live {
    store: Store,
    user: String,
    credential: Credential,
    scopes: HashSet<String>,
    /// Every served entity: what "everything changed" names.
    entities: Vec<String>,
    rx: broadcast::Receiver<Arc<Touched>>,
    closing: watch::Receiver<bool>,
    /// Entities to hint, with the newest position heard.
    pending: BTreeMap<String, i64>,
    /// The earliest time the next `changes` may go.
    next_send: Instant,
    hello: Option<LiveEvent>,
    done: bool,
    _slot: Slot,
}

impl Live {
    fn expires_at(&self) -> Option<i64> {
        match &self.credential {
            Credential::Stored { expires_at, .. } | Credential::Jwt { expires_at } => *expires_at,
        }
    }

    /// The next event, or `None` when the stream is over.
    async fn next(&mut self) -> Option<LiveEvent> {
        if let Some(hello) = self.hello.take() {
            return Some(hello);
        }
        if self.done {
            return None;
        }
        loop {
            let expiry = self.expires_at().map(|at| {
                let left = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
                Instant::now() + Duration::from_millis(left).min(MAX_EXPIRY_WAIT)
            });
            let flush = (!self.pending.is_empty()).then_some(self.next_send);
            let woke = tokio::select! {
                // Shutdown first: a stream with hints pending still says bye promptly.
                biased;
                _ = self.closing.wait_for(|closing| *closing) => Woke::Closing,
                () = sleep_until(expiry), if expiry.is_some() => Woke::Expiry,
                () = sleep_until(flush), if flush.is_some() => Woke::Flush,
                heard = self.rx.recv() => Woke::Heard(heard),
            };
            let ended = match woke {
                Woke::Closing => Some(ByeReason::Shutdown),
                // Waits are capped: the deadline may not have come yet.
                Woke::Expiry => self
                    .expires_at()
                    .is_some_and(|at| at <= now_ms())
                    .then_some(ByeReason::SignInNeeded),
                Woke::Flush => {
                    self.next_send = Instant::now() + COALESCE;
                    return Some(LiveEvent::Changes(std::mem::take(&mut self.pending)));
                }
                Woke::Heard(Ok(touched)) => self.absorb(&touched).await,
                Woke::Heard(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    log::debug!("live stream of {} missed {missed} commits", self.user);
                    let everything = Touched::everything(self.store.hub().latest());
                    self.absorb(&everything).await
                }
                // The store is gone: nothing will ever wake this stream again.
                Woke::Heard(Err(broadcast::error::RecvError::Closed)) => Some(ByeReason::Shutdown),
            };
            if let Some(reason) = ended {
                self.done = true;
                return Some(LiveEvent::Bye(reason));
            }
        }
    }

    /// Takes in one commit: the token and scopes first (a commit that removed the user or
    /// revoked the token is judged by the state it made), then the hints it holds for this
    /// user. Returns why the stream must end, if it must.
    async fn absorb(&mut self, touched: &Touched) -> Option<ByeReason> {
        if let Credential::Stored { hash, expires_at } = &mut self.credential {
            if touched.names_token(hash) {
                let (store, h) = (self.store.clone(), hash.clone());
                match tokio::task::spawn_blocking(move || store.token_holder(&h)).await {
                    Ok(Ok((_, new_expiry))) => *expires_at = new_expiry,
                    Ok(Err(AuthError::Unauthorized(_) | AuthError::TokenExpired)) => {
                        return Some(ByeReason::SignInNeeded)
                    }
                    // The check failed, not the token: keep going; the next request sees.
                    Ok(Err(AuthError::Store(e))) => {
                        log::warn!("live stream of {}: token check failed: {e}", self.user)
                    }
                    Err(e) => log::warn!("live stream of {}: token check failed: {e}", self.user),
                }
            }
        }
        if touched.names_member(&self.user) {
            match read_scopes(&self.store, &self.user).await {
                Ok(scopes) => self.scopes = scopes,
                Err(e) => log::warn!("live stream of {}: scopes not read: {e}", self.user),
            }
        }
        let scopes = &self.scopes;
        for (entity, position) in
            touched.hints_for(&self.user, |s| scopes.contains(s), &self.entities)
        {
            let newest = self.pending.entry(entity.to_string()).or_insert(position);
            *newest = (*newest).max(position);
        }
        None
    }
}

/// What woke a stream.
enum Woke {
    Closing,
    Expiry,
    Flush,
    Heard(Result<Arc<Touched>, broadcast::error::RecvError>),
}

/// Sleeps until `at` (forever when `None`; the `select!` guards keep that branch off then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
