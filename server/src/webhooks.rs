//! Webhooks (docs/backend.md): the change feed pushed to the office's endpoint. The same changes
//! as `GET /v1/admin/changes`, in log order, in batches, each POST signed with HMAC-SHA256 over
//! a timestamp and the body (the push hook's scheme).
//!
//! Delivery is at least once: the durable cursor (`webhook_state`) moves only after the
//! receiver answered `2xx`, so a batch cut short by a crash is sent again. A failed batch is
//! sent again, the same changes from the same cursor, with exponential backoff (and the
//! receiver's `Retry-After`), however long the endpoint is down: nothing is skipped, and
//! delivery resumes in order when it returns. Where several instances share a PostgreSQL
//! database, a lease lets exactly one deliver at a time; the others wait to take it over.
//!
//! The worker sleeps on the store's commit hub (the live streams' wake-up) between batches,
//! never polling the database on a timer, but for renewing its lease.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge};
use serde_json::json;
use tokio::sync::broadcast;

use crate::feed::{FeedQuery, MAX_FEED_LIMIT};
use crate::push_hook::{post_signed, retry_after};
use crate::store::{Service, Store};

/// The name of the deployment's webhook in `webhook_state` (one per deployment for now).
pub const WEBHOOK_NAME: &str = "default";

/// How long a lease lasts; renewed at a third of it.
const LEASE: Duration = Duration::from_secs(30);
/// Changes per batch at most.
const BATCH: usize = 100;
/// The first retry's wait; doubled per failure up to [`LONGEST_WAIT`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// One call's limit, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how the server delivers the change feed.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The URL batches are POSTed to (`http` or `https`).
    pub url: String,
    /// The shared secret they are signed with (HMAC-SHA256).
    pub secret: String,
    /// Only these entities' changes (all, when empty).
    pub entities: Vec<String>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: options end up in debug logs.
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("entities", &self.entities)
            .finish_non_exhaustive()
    }
}

/// The webhook's metrics (registered by `http::metrics`, set here).
#[derive(Debug, Clone)]
pub(crate) struct WebhookCounters {
    /// Batches by outcome: `delivered`, `failed` (sent again later).
    pub(crate) batches: IntCounterVec,
    /// Changes delivered.
    pub(crate) changes: prometheus::IntCounter,
    /// Positions between the log's end and the delivery cursor, as last seen.
    pub(crate) lag_positions: IntGauge,
    /// Seconds since the oldest undelivered change was made, as last seen (0: none waits).
    pub(crate) lag_seconds: IntGauge,
}

/// The running worker: aborted and its lease handed back by [`Running::stop`].
pub(crate) struct Running {
    task: Option<tokio::task::JoinHandle<()>>,
    holder: String,
    store: Store,
}

impl Running {
    /// Ends the worker and gives up its lease, so an instance started next (a rolling deploy)
    /// delivers at once instead of waiting out the lease ([`LEASE`]; what a crashed instance's
    /// successor waits).
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        let (store, holder) = (self.store.clone(), self.holder.clone());
        let _ = blocking(move || store.webhook_release(WEBHOOK_NAME, &holder)).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Every way out ends the task; only `stop` also hands back the lease.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Starts the webhook's worker on the current runtime; it runs until stopped.
pub(crate) fn spawn(
    config: WebhookConfig,
    store: Store,
    counters: Option<WebhookCounters>,
) -> Result<Running, reqwest::Error> {
    let http = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("syncline-server/", env!("CARGO_PKG_VERSION")))
        .build()?;
    // Subscribed before the first read: a commit between a read and the wait still wakes it.
    let woken = store.hub().subscribe();
    let holder = format!("instance-{}", uuid::Uuid::new_v4().simple());
    let worker = Worker {
        holder: holder.clone(),
        config: Arc::new(config),
        store: store.clone(),
        http,
        counters,
    };
    Ok(Running {
        task: Some(tokio::spawn(worker.run(woken))),
        holder,
        store,
    })
}

struct Worker {
    /// This instance's name in the lease.
    holder: String,
    config: Arc<WebhookConfig>,
    store: Store,
    http: reqwest::Client,
    counters: Option<WebhookCounters>,
}

/// What one round did.
enum Round {
    /// Another instance holds the lease.
    NotOurs,
    /// Delivered a batch (or skipped changes the webhook does not want); more may wait.
    Moved { more: bool },
    /// Nothing to deliver.
    Idle,
    /// The receiver failed; the same changes go again after this long.
    Failed(Duration),
}

impl Worker {
    async fn run(self, mut woken: broadcast::Receiver<Arc<crate::wakeup::Touched>>) {
        let mut failures = 0u32;
        loop {
            let round = self.round().await;
            let wait = match round {
                Round::Moved { more: true } => {
                    failures = 0;
                    continue;
                }
                Round::Moved { more: false } | Round::Idle => {
                    failures = 0;
                    None
                }
                Round::NotOurs => Some(LEASE / 3),
                Round::Failed(asked) => {
                    failures = failures.saturating_add(1);
                    let backoff = FIRST_RETRY
                        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
                        .min(LONGEST_WAIT);
                    Some(backoff.max(asked.min(LONGEST_WAIT)))
                }
            };
            match wait {
                // Until a commit, or the lease needs renewing.
                None => {
                    let _ = tokio::time::timeout(LEASE / 3, woken.recv()).await;
                }
                Some(wait) => tokio::time::sleep(wait).await,
            }
            // Commits heard while waiting out a backoff are in the next read anyway.
            while woken.try_recv().is_ok() {}
        }
    }

    /// Takes the lease, reads the changes after the cursor, and delivers one batch.
    async fn round(&self) -> Round {
        let (store, holder) = (self.store.clone(), self.holder.clone());
        let cursor = match blocking(move || store.webhook_lease(WEBHOOK_NAME, &holder, LEASE)).await
        {
            Some(Some(cursor)) => cursor,
            Some(None) => return Round::NotOurs,
            None => return Round::Failed(Duration::ZERO),
        };
        self.report_lag().await;
        let everything = Service {
            name: "webhook".into(),
            scopes: Vec::new(),
            all_scopes: true,
            read_only: true,
        };
        let query = FeedQuery {
            after: Some(cursor.to_string()),
            entity: None,
            scope: None,
            limit: BATCH.min(MAX_FEED_LIMIT),
        };
        let store = self.store.clone();
        let read = move || {
            store
                .changes(&everything, &query)
                .map_err(|e| crate::error::StoreError::Invalid(e.to_string()))
        };
        let Some(page) = blocking(read).await else {
            return Round::Failed(Duration::ZERO);
        };
        if page.cursor == cursor {
            return Round::Idle;
        }
        let wanted: Vec<_> = page
            .changes
            .iter()
            .filter(|c| self.config.entities.is_empty() || self.config.entities.contains(&c.entity))
            .collect();
        if !wanted.is_empty() {
            let body = json!({
                "webhook": WEBHOOK_NAME,
                "changes": wanted.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
                "cursor": page.cursor.to_string(),
            })
            .to_string();
            // The same id for the same batch on every attempt: a receiver that saw it already
            // answers 2xx and does nothing.
            let delivery = format!("{WEBHOOK_NAME}-{cursor}-{}", page.cursor);
            if let Err(asked) = self.post(&body, &delivery).await {
                self.count("failed", 0);
                return Round::Failed(asked);
            }
            self.count("delivered", wanted.len());
        }
        let (store, holder) = (self.store.clone(), self.holder.clone());
        let to = page.cursor;
        match blocking(move || store.webhook_advance(WEBHOOK_NAME, &holder, cursor, to)).await {
            Some(true) => Round::Moved {
                more: page.has_more,
            },
            // The lease passed to another instance meanwhile: it delivers from the cursor.
            Some(false) => Round::NotOurs,
            None => Round::Failed(Duration::ZERO),
        }
    }

    /// POSTs one batch; on failure, the receiver's `Retry-After` (zero when it gave none).
    async fn post(&self, body: &str, delivery: &str) -> Result<(), Duration> {
        let c = &self.config;
        match post_signed(&self.http, &c.url, &c.secret, body, delivery).await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => {
                log::warn!("webhook: {} answered {}", self.config.url, resp.status());
                Err(retry_after(&resp).unwrap_or(Duration::ZERO))
            }
            Err(e) => {
                log::warn!("webhook: {} failed: {e}", self.config.url);
                Err(Duration::ZERO)
            }
        }
    }

    fn count(&self, outcome: &str, changes: usize) {
        if let Some(c) = &self.counters {
            c.batches.with_label_values(&[outcome]).inc();
            c.changes.inc_by(u64::try_from(changes).unwrap_or(0));
        }
    }

    /// Sets the lag gauges from the store (best effort: a failed read leaves them).
    async fn report_lag(&self) {
        let Some(c) = &self.counters else { return };
        let store = self.store.clone();
        if let Some((Some(state), end, oldest)) =
            blocking(move || store.webhook_status(WEBHOOK_NAME)).await
        {
            c.lag_positions.set(end.saturating_sub(state.cursor));
            c.lag_seconds.set(oldest.map_or(0, crate::clock::age_secs));
        }
    }
}

/// Runs store work off the async threads; `None` when it failed (logged).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::error::StoreError> + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            log::warn!("webhook: the store failed: {e}");
            None
        }
        Err(e) => {
            log::warn!("webhook: a store task failed: {e}");
            None
        }
    }
}
