//! What running the server in public needs around the protocol: `GET /healthz`, `GET /metrics`,
//! request ids, the per-request log line, and the limits of [`super::limits`].
//!
//! [`observe`] wraps every request: it counts a failed authentication against the peer address
//! (and answers 429 for the failures of an address over its budget), notes the user once known, counts the answer, puts the request id into error bodies, and logs
//! one line (method, route, status, latency, user, request id) when the answer's body ends, so a
//! streamed pull page is timed to its last byte.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use bytes::Bytes;
use http_body::Body as _;
use syncline_protocol::{codes, ErrorBody, ErrorDetail};

use crate::attachments::Attachments;
use crate::auth::bearer_token;
use crate::jwt::JwtVerifier;
use crate::live::Streams;
use crate::push_hook::PushHookConfig;
use crate::rules::RulesCaller;
use crate::store::Store;
use crate::webhooks::WebhookConfig;

use super::error::ApiError;
use super::limits::{Limiters, Limits};
use super::metrics::Metrics;

/// Liveness and readiness probe (no authentication).
pub const HEALTHZ_PATH: &str = "/healthz";
/// Prometheus metrics (authenticated only with `--metrics-token`).
pub const METRICS_PATH: &str = "/metrics";

/// How long the readiness probe waits for the database before calling it unavailable.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything configurable about running the server besides the store.
#[derive(Clone)]
pub struct ServerOptions {
    /// Rate, failure and concurrency limits.
    pub limits: Limits,
    /// When set, `GET /metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// How long requests in flight may take to finish after shutdown starts; later ones are cut.
    pub shutdown_grace: Duration,
    /// When set, bearer tokens that are JWTs are verified with it (the team's identity
    /// provider); opaque tokens are still looked up in the store.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// When set, users a commit concerns who hold no live stream on this instance are called
    /// about on this hook (docs/protocol.md, "Push hook"). Runs under [`super::serve_with`].
    pub push_hook: Option<PushHookConfig>,
    /// The webhook that delivers the change feed, if any (docs/backend.md).
    pub webhook: Option<WebhookConfig>,
    /// The secret the calls to the schema's write-rules endpoints are signed with
    /// (docs/backend.md, "Write rules"); unsigned when `None`.
    pub rules_secret: Option<String>,
    /// Where attachments' bytes are kept, with their limits (`docs/protocol.md`,
    /// "Attachments"). `None`: the blob routes answer 404 and a push that references a file is
    /// refused (`missing_blob`).
    pub attachments: Option<Arc<Attachments>>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a secret: options end up in debug logs (the hooks' configs hide theirs too).
        f.debug_struct("ServerOptions")
            .field("limits", &self.limits)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[hidden]"),
            )
            .field("shutdown_grace", &self.shutdown_grace)
            .field("jwt", &self.jwt.is_some())
            .field("push_hook", &self.push_hook)
            .field("webhook", &self.webhook)
            .field(
                "rules_secret",
                &self.rules_secret.as_ref().map(|_| "[hidden]"),
            )
            .field("attachments", &self.attachments)
            .finish()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limits: Limits::default(),
            metrics_token: None,
            shutdown_grace: Duration::from_secs(30),
            jwt: None,
            push_hook: None,
            webhook: None,
            rules_secret: None,
            attachments: None,
        }
    }
}

/// The operations state of one server (one router): its metrics and limiters.
#[derive(Debug)]
pub(crate) struct Ops {
    pub(crate) metrics: Metrics,
    pub(crate) limiters: Limiters,
    /// The live streams this server holds.
    pub(crate) streams: Arc<Streams>,
    /// What asks the office's write rules during a push.
    pub(crate) rules: RulesCaller,
    /// Attachments' blobs, if this server keeps them.
    pub(crate) attachments: Option<Arc<Attachments>>,
    metrics_token: Option<String>,
}

impl Ops {
    pub(crate) fn new(options: &ServerOptions) -> Ops {
        let metrics = Metrics::new();
        let rules = RulesCaller::new(options.rules_secret.clone(), metrics.rules_counters());
        Ops {
            metrics,
            rules,
            attachments: options.attachments.clone(),
            limiters: Limiters::new(&options.limits),
            streams: Arc::new(Streams::new(
                options.limits.max_streams_per_user,
                options.limits.max_streams,
            )),
            metrics_token: options.metrics_token.clone(),
        }
    }
}

/// Where the authentication of a request leaves the user's id for the log line (the handler
/// gets the request; [`observe`] only sees the answer).
#[derive(Debug, Clone, Default)]
pub(crate) struct UserSlot(Arc<OnceLock<String>>);

impl UserSlot {
    pub(crate) fn set(&self, user: &str) {
        let _ = self.0.set(user.to_string());
    }
}

/// The readiness check: whether the database answers a cheap query. Blocking: call it from a
/// blocking task. When the store becomes a trait, this becomes the backend's `ping`.
pub fn database_ready(store: &Store) -> Result<(), String> {
    store.log_position().map(|_| ()).map_err(|e| e.to_string())
}

/// `GET /healthz`: whether the server serves and its database answers, for load balancers.
///
/// 200 `{"status":"ok","database":"ok"}` when the process serves and the database answers
/// within 2 s, else 503 `{"status":"unavailable","database":"<error>"}`. No token.
#[utoipa::path(
    get,
    path = HEALTHZ_PATH,
    tag = "ops",
    responses(
        (status = 200, description = "The server serves and its database answers", body = Health),
        (status = 503, description = "The database did not answer within 2 s", body = Health),
    )
)]
pub(crate) async fn healthz(State(store): State<Store>) -> Response {
    let check = tokio::task::spawn_blocking(move || database_ready(&store));
    let database = match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, check).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(e)) => Err(format!("the check failed: {e}")),
        Err(_) => Err(format!(
            "no answer within {} s",
            DATABASE_CHECK_TIMEOUT.as_secs()
        )),
    };
    match database {
        Ok(()) => Json(Health {
            status: "ok",
            database: "ok".into(),
        })
        .into_response(),
        Err(e) => {
            log::warn!("health check: the database is unavailable: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    database: e,
                }),
            )
                .into_response()
        }
    }
}

/// The answer of `GET /healthz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `unavailable` (with 503).
    #[schema(value_type = String, pattern = "^(ok|unavailable)$")]
    status: &'static str,
    /// `ok`, or why the database did not answer.
    database: String,
}

/// Compares in time independent of where the strings differ, so the token cannot be guessed
/// byte by byte from answer times.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`: the Prometheus text format.
///
/// Only aggregates, so it may be open; with `--metrics-token` it takes that token.
#[utoipa::path(
    get,
    path = METRICS_PATH,
    tag = "ops",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "`unauthorized`: the server has a metrics token and the request does not carry it", body = ErrorBody),
        (status = 500, description = "`internal`: the metrics could not be rendered", body = ErrorBody),
    )
)]
pub(crate) async fn metrics(
    State(ops): State<Arc<Ops>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(expected) = &ops.metrics_token {
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        if !given.is_some_and(|t| same_secret(t.as_bytes(), expected.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHORIZED,
                "the metrics need `Authorization: Bearer <metrics token>`",
            ));
        }
    }
    let text = ops
        .metrics
        .render(ops.limiters.pulls_in_flight(), ops.streams.count())
        .map_err(ApiError::internal)?;
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(prometheus::TEXT_FORMAT),
        )],
        text,
    )
        .into_response())
}

/// Adds [`observe`] and the request-id layers around `router` (inside them: the id is set
/// first).
pub(crate) fn layer(router: Router, ops: Arc<Ops>) -> Router {
    super::request_id::layer(router.layer(from_fn_with_state(ops, observe)))
}

/// The per-request middleware (see the module's documentation).
async fn observe(State(ops): State<Arc<Ops>>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    // The matched route, not the path: a bounded label set, and no client-made text in it.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let request_id = super::request_id::of(&req);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let user = UserSlot::default();
    req.extensions_mut().insert(user.clone());

    let resp = next.run(req).await;
    let resp = limit_failed_authentication(&ops, peer, resp);
    let resp = finish_error(&ops, &request_id, resp);
    let status = resp.status();
    let (parts, body) = resp.into_parts();
    let done = Done {
        ops,
        method,
        route,
        status,
        start,
        user,
        request_id,
    };
    Response::from_parts(
        parts,
        Body::new(Observed {
            inner: body,
            done: Some(done),
        }),
    )
}

/// A failed authentication (401) is counted against the peer address; once the address has
/// used up its budget, its failures are answered `429 rate_limited` with `Retry-After` instead.
/// Only failures: a request that authenticates is served whatever others from its address did
/// (a field office behind one NAT is not locked out by one phone with a stale token).
fn limit_failed_authentication(ops: &Ops, peer: Option<IpAddr>, resp: Response) -> Response {
    if resp.status() != StatusCode::UNAUTHORIZED {
        return resp;
    }
    if let Some(detail) = resp.extensions().get::<ErrorDetail>() {
        ops.metrics.auth_failure(&detail.code);
    }
    let Some(ip) = peer else {
        return resp;
    };
    // Blocked before this failure: 429. Otherwise it draws from the budget, and the failure
    // that finds it empty still gets its 401 (the next ones get 429).
    match ops.limiters.check_address(ip) {
        Err(e) => ApiError::from(e).into_response(),
        Ok(()) => {
            ops.limiters.auth_failed(ip);
            resp
        }
    }
}

/// For an error answer made by [`ApiError`]: counts its code, and rewrites its body with the
/// request id.
fn finish_error(ops: &Ops, request_id: &str, resp: Response) -> Response {
    let Some(detail) = resp.extensions().get::<ErrorDetail>().cloned() else {
        return resp;
    };
    ops.metrics.error(&detail.code);
    let body = ErrorBody {
        error: ErrorDetail {
            request_id: Some(request_id.to_string()),
            ..detail
        },
    };
    let Ok(text) = serde_json::to_vec(&body) else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

/// What [`observe`] records once an answer's body is over.
struct Done {
    ops: Arc<Ops>,
    method: Method,
    route: String,
    status: StatusCode,
    start: Instant,
    user: UserSlot,
    request_id: String,
}

impl Done {
    fn record(self, complete: bool) {
        let elapsed = self.start.elapsed();
        self.ops
            .metrics
            .request(&self.route, self.status.as_u16(), elapsed);
        // Probes come every few seconds; keep them out of the info log.
        let level = if self.route == HEALTHZ_PATH || self.route == METRICS_PATH {
            log::Level::Debug
        } else {
            log::Level::Info
        };
        log::log!(
            level,
            "{} {} {} {:.1} ms user={} request_id={}{}",
            self.method,
            self.route,
            self.status.as_u16(),
            elapsed.as_secs_f64() * 1000.0,
            self.user.0.get().map_or("-", String::as_str),
            self.request_id,
            if complete { "" } else { " (cut short)" },
        );
    }
}

/// An answer's body that records its request when it ends: at its last frame (before that frame
/// is sent, so a client that has the whole answer finds it counted), or when dropped unfinished.
struct Observed {
    inner: Body,
    done: Option<Done>,
}

impl Observed {
    fn finish(&mut self, complete: bool) {
        if let Some(done) = self.done.take() {
            done.record(complete);
        }
    }
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.finish(true),
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.finish(true),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
