//! The HTTP face of the server: the axum router for `GET /v1/me`, `POST /v1/pull`,
//! `POST /v1/push` and `GET /v1/live` (its child [`live`]), bearer authentication, request bodies (gzip-decoded, at most 4 MiB after
//! decoding), gzip responses, and the JSON error body `{"error": {"code", "message"}}` on every
//! non-2xx answer. Store work runs on the blocking pool, never on the async threads.
//! Health, metrics, request ids and limits live in the children [`ops`], [`limits`],
//! [`metrics`] and [`request_id`]; failures become answers in [`error`]. This file only calls
//! them.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use http_body_util::BodyExt;
use syncline_protocol::{
    codes, Me, PullRequest, PushRequest, PushResponse, LIVE_PATH, MAX_REQUEST_BYTES, ME_PATH,
    PULL_PATH, PUSH_PATH,
};
use tokio::sync::mpsc;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;

mod backend;
mod error;
mod limits;
mod live;
mod metrics;
mod ops;
mod provision;
mod pull_body;
mod request_id;

pub use limits::{
    default_max_concurrent_pulls, Limits, DEFAULT_AUTH_FAILURES_PER_MINUTE, DEFAULT_RATE_BURST,
    DEFAULT_RATE_PER_USER,
};
pub use ops::ServerOptions;

use crate::auth::bearer_token;
use crate::jwt::{looks_like_jwt, JwtVerifier};
use crate::live::Credential;
use crate::pull::PullError;
use crate::store::{Service, Store, WriteKind};
use crate::token_hash::hash_token;

use error::ApiError;
use ops::{Ops, UserSlot, HEALTHZ_PATH, METRICS_PATH};
use pull_body::{accepts_gzip, write_pull_body, ChannelBody, ChunkWriter};

/// Shared state of the handlers.
#[derive(Clone, Debug)]
struct AppState {
    store: Store,
    ops: Arc<Ops>,
    jwt: Option<Arc<JwtVerifier>>,
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Store {
        state.store.clone()
    }
}

impl FromRef<AppState> for Arc<Ops> {
    fn from_ref(state: &AppState) -> Arc<Ops> {
        state.ops.clone()
    }
}

/// Runs blocking store work off the async threads.
async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(ApiError::internal(format!("blocking task failed: {e}"))),
    }
}

/// The authenticated user of a request.
struct AuthUser(String);

/// A 401 `unauthorized` saying why.
fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
}

/// The bearer token of a request, or 401: no `Authorization` header, or not `Bearer <token>`.
fn bearer_of(parts: &Parts) -> Result<String, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing Authorization header"))?;
    header
        .to_str()
        .ok()
        .and_then(bearer_token)
        .map(str::to_string)
        .ok_or_else(|| unauthorized("malformed Authorization header; expected `Bearer <token>`"))
}

/// The authenticated user of a request and how they authenticated (what a live stream watches
/// to end when the token does).
struct Authed {
    user: String,
    credential: Credential,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_of(parts)?;
        let store = state.store.clone();
        let (user, credential) = match &state.jwt {
            // A JWT from the team's identity provider: checked here, no database needed to
            // verify it; its user is created on first sight so devices can be bound to it.
            Some(verifier) if looks_like_jwt(&token) => {
                let claims = verifier.verify(&token).map_err(|e| {
                    ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
                })?;
                if claims.service.is_some() {
                    return Err(unauthorized(
                        "the token names a service: services use the backend API (/v1/admin/)",
                    ));
                }
                let user = claims.user;
                let id = user.clone();
                blocking(move || store.ensure_user(&id)).await?;
                let expires_at = claims
                    .expires_at
                    .map(|at| at.saturating_add(verifier.leeway_ms()));
                (user, Credential::Jwt { expires_at })
            }
            _ => {
                let hash = hash_token(&token);
                let h = hash.clone();
                let (user, expires_at) = blocking(move || store.token_holder(&h)).await?;
                (user, Credential::Stored { hash, expires_at })
            }
        };
        if let Some(slot) = parts.extensions.get::<UserSlot>() {
            slot.set(&user);
        }
        state.ops.limiters.check_user(&user)?;
        Ok(Authed { user, credential })
    }
}

/// The service a backend request authenticates as (`syncline-server service add`). No token,
/// or one nobody holds: 401. A device's token: 403 (devices have the device routes only).
struct ServiceAuthed(Service);

impl FromRequestParts<AppState> for ServiceAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_of(parts)?;
        // A JWT from the team's identity provider naming a service through the configured
        // claim; one naming none is a device user's.
        if let Some(verifier) = state.jwt.as_ref().filter(|_| looks_like_jwt(&token)) {
            let claims = verifier
                .verify(&token)
                .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
            let Some(name) = claims.service else {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::FORBIDDEN,
                    "a device user's token cannot use the backend API",
                ));
            };
            let store = state.store.clone();
            let n = name.clone();
            let service = blocking(move || store.service_named(&n))
                .await?
                .ok_or_else(|| {
                    unauthorized("the token names a service the server does not know")
                })?;
            if let Some(slot) = parts.extensions.get::<UserSlot>() {
                slot.set(&service.name);
            }
            state.ops.limiters.check_user(&service.name)?;
            return Ok(ServiceAuthed(service));
        }
        let hash = hash_token(&token);
        let store = state.store.clone();
        let h = hash.clone();
        if let Some(service) = blocking(move || store.service_holder(&h)).await? {
            if let Some(slot) = parts.extensions.get::<UserSlot>() {
                slot.set(&service.name);
            }
            // Services draw from the same per-identity rate as users, under their own name.
            state.ops.limiters.check_user(&service.name)?;
            return Ok(ServiceAuthed(service));
        }
        let store = state.store.clone();
        match blocking(move || Ok::<_, ApiError>(store.token_holder(&hash).is_ok())).await? {
            true => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                "a device's token cannot use the backend API: use a service's \
                 (`syncline-server service add`)",
            )),
            false => Err(unauthorized("unknown or revoked token")),
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(AuthUser(
            Authed::from_request_parts(parts, state).await?.user,
        ))
    }
}

/// Most bytes of an oversized body read and thrown away before answering 413. Answering while
/// the client is still sending makes the connection close under it, and most HTTP/1 clients then
/// report a reset instead of the 413; reading a bounded rest first lets them see the answer.
const MAX_DRAINED_BYTES: u64 = 4 * MAX_REQUEST_BYTES as u64;

/// Reads a request body (already gzip-decoded by the decompression layer), refusing more than
/// [`MAX_REQUEST_BYTES`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = body;
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        if declared.is_some_and(|n| n <= MAX_DRAINED_BYTES) {
            drain(&mut body, 0).await;
        }
        return Err(ApiError::payload_too_large());
    }
    let mut buf = Vec::with_capacity(declared.map_or(8 * 1024, |n| n as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_REQUEST_BYTES {
                drain(&mut body, (buf.len() + data.len()) as u64).await;
                return Err(ApiError::payload_too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Reads and discards the rest of a body, up to [`MAX_DRAINED_BYTES`] in all.
async fn drain(body: &mut Body, mut seen: u64) {
    while seen <= MAX_DRAINED_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.into_data().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

/// Reads and parses a JSON request body.
async fn read_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_body(headers, body).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// `GET /v1/live`: the live stream (`live.rs`), for the authenticated user.
async fn live_stream(
    State(state): State<AppState>,
    Authed { user, credential }: Authed,
    axum::extract::Query(query): axum::extract::Query<live::LiveQuery>,
) -> Result<Response, ApiError> {
    live::live(
        state.store.clone(),
        state.ops.clone(),
        user,
        credential,
        query,
    )
    .await
}

/// A backend request: the store and the service it authenticated as.
struct Backend {
    store: Store,
    service: Service,
}

impl FromRequestParts<AppState> for Backend {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ServiceAuthed(service) = ServiceAuthed::from_request_parts(parts, state).await?;
        Ok(Backend {
            store: state.store.clone(),
            service,
        })
    }
}

/// What a backend route answers.
type BackendAnswer = Result<Json<serde_json::Value>, ApiError>;

impl Backend {
    /// Runs the route's store work off the async threads; answers its JSON.
    async fn run(
        self,
        work: impl FnOnce(&Store, &Service) -> Result<serde_json::Value, ApiError> + Send + 'static,
    ) -> BackendAnswer {
        blocking(move || work(&self.store, &self.service))
            .await
            .map(Json)
    }
}

/// A JSON request body of type `T`, or 400 saying what is wrong with it.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("the body: {e}")))?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the body: {e}")))
    }
}

/// `GET /v1/admin/records/{entity}/{key}` (`backend.rs`).
async fn admin_record(b: Backend, Path((entity, key)): Path<(String, String)>) -> BackendAnswer {
    b.run(move |s, sv| backend::record(s, sv, &entity, &key))
        .await
}

/// `PUT` (upsert) and `PATCH` (patch) `/v1/admin/records/{entity}/{key}` (`backend.rs`).
async fn admin_write(
    kind: WriteKind,
    b: Backend,
    Path((entity, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<backend::RecordBody>,
) -> BackendAnswer {
    b.run(move |s, sv| backend::write_record(s, sv, kind, entity, key, body))
        .await
}

/// `DELETE /v1/admin/records/{entity}/{key}` (`backend.rs`): a service's delete.
async fn admin_delete(
    b: Backend,
    Path((entity, key)): Path<(String, String)>,
    Query(q): Query<backend::DeleteQuery>,
) -> BackendAnswer {
    b.run(move |s, sv| backend::delete_record(s, sv, entity, key, q))
        .await
}

/// `POST /v1/admin/batch` (`backend.rs`): a service's operations, all or nothing.
async fn admin_batch(
    b: Backend,
    headers: HeaderMap,
    JsonBody(body): JsonBody<backend::BatchBody>,
) -> BackendAnswer {
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|k| syncline_protocol::key_problem(k).is_none())
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::bad_request("Idempotency-Key: 1 to 256 bytes of visible text")
                })
        })
        .transpose()?;
    b.run(move |s, sv| backend::batch(s, sv, key, body)).await
}

/// `GET /v1/admin/users` (`provision.rs`).
async fn admin_users(b: Backend) -> BackendAnswer {
    b.run(provision::users).await
}

/// `POST /v1/admin/users` (`provision.rs`).
async fn admin_add_user(b: Backend, JsonBody(body): JsonBody<provision::NewUser>) -> BackendAnswer {
    b.run(move |s, sv| provision::add_user(s, sv, body)).await
}

/// `POST /v1/admin/users/{id}/tokens` (`provision.rs`).
async fn admin_issue_token(
    b: Backend,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<provision::NewToken>,
) -> BackendAnswer {
    b.run(move |s, sv| provision::issue_token(s, sv, &user, body))
        .await
}

/// `POST /v1/admin/tokens/revoke` (`provision.rs`).
async fn admin_revoke_token(
    b: Backend,
    JsonBody(body): JsonBody<provision::Revoke>,
) -> BackendAnswer {
    b.run(move |s, sv| provision::revoke_token(s, sv, body))
        .await
}

/// `PUT /v1/admin/scopes/{id}` (`provision.rs`).
async fn admin_put_scope(
    b: Backend,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<provision::ScopeBody>,
) -> BackendAnswer {
    b.run(move |s, sv| provision::put_scope(s, sv, &id, body))
        .await
}

/// `POST /v1/admin/services` (`provision.rs`).
async fn admin_add_service(
    b: Backend,
    JsonBody(body): JsonBody<provision::NewService>,
) -> BackendAnswer {
    b.run(move |s, sv| provision::add_service(s, sv, body))
        .await
}

/// `POST /v1/admin/webhook/replay` (`provision.rs`).
async fn admin_webhook_replay(
    b: Backend,
    JsonBody(body): JsonBody<provision::Replay>,
) -> BackendAnswer {
    b.run(move |s, sv| provision::webhook_replay(s, sv, body))
        .await
}

/// `PUT /v1/admin/scopes/{id}/members/{user}` (`provision.rs`).
async fn admin_add_member(
    b: Backend,
    Path((scope, user)): Path<(String, String)>,
) -> BackendAnswer {
    b.run(move |s, sv| provision::membership(s, sv, &scope, &user, true))
        .await
}

/// `DELETE /v1/admin/scopes/{id}/members/{user}` (`provision.rs`).
async fn admin_remove_member(
    b: Backend,
    Path((scope, user)): Path<(String, String)>,
) -> BackendAnswer {
    b.run(move |s, sv| provision::membership(s, sv, &scope, &user, false))
        .await
}

/// `GET /v1/admin/changes` (`backend.rs`): the change feed, a long poll.
async fn admin_changes(
    State(ops): State<Arc<Ops>>,
    b: Backend,
    Query(query): Query<backend::ChangesQuery>,
) -> BackendAnswer {
    // A waiting long poll answers at shutdown, as a live stream says `bye`: the graceful
    // shutdown then does not wait out the grace for it.
    let closing = ops.streams.closing();
    backend::changes(b.store, b.service, query, closing)
        .await
        .map(Json)
}

async fn me(AuthUser(user_id): AuthUser) -> Json<Me> {
    Json(Me { user_id })
}

async fn pull(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let pull: PullRequest = read_json(&headers, body).await?;
    // Refusals (unknown entity or field, bad cursor) need no database and come before the
    // answer starts.
    let plan = state.store.plan_pull(&pull)?;
    // Held until the page is written (moved into the writing task).
    let permit = state.ops.limiters.pull_permit().await?;
    let gzip = accepts_gzip(&headers);
    // The page is written, compressed and sent while it is read from the database, so the
    // client receives and decompresses it while the server still works on it.
    let (tx, rx) = mpsc::channel(8);
    let (store, ops, entity) = (state.store, state.ops, pull.entity);
    let writer = ChunkWriter::new(tx.clone());
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let written = write_pull_body(&store, &user, &plan, gzip, writer);
        // Counted before the task ends, so before the body ends: a client that has the whole
        // page finds its rows counted.
        if let Ok(rows) = written {
            ops.metrics.rows_pulled(&entity, rows);
        }
        if let Err(e) = written {
            match e {
                PullError::Io(ref io) if io.kind() == std::io::ErrorKind::BrokenPipe => {
                    log::debug!("pull for {user}: {e}")
                }
                _ => log::error!("pull for {user} failed: {e}"),
            }
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    // Failures before the first chunk (a small page is one chunk) still get a proper error
    // answer; later ones can only cut the response, which the client sees as a transport error.
    let mut rx = rx;
    let first = match rx.recv().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(e)) => return Err(ApiError::internal(e)),
        None => return Err(ApiError::internal("the pull ended without an answer")),
    };
    let mut resp = Response::new(Body::new(ChannelBody::new(first, rx)));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(resp)
}

async fn push(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PushResponse>, ApiError> {
    let push: PushRequest = read_json(&headers, body).await?;
    crate::push::check_batch(&push)?;
    // The office's write rules are asked before the transaction, never inside it (rules.rs).
    let verdicts = state.ops.rules.judge(&state.store, &user, &push).await?;
    let store = state.store;
    let answer = blocking(move || store.push_judged(&user, &push, &verdicts)).await?;
    state.ops.metrics.push_answered(&answer);
    Ok(Json(answer))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such endpoint")
}

/// Gives every error answer that is not JSON yet (from a layer or axum itself: 405, 415…) the
/// protocol's JSON error body.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let code = match status {
        StatusCode::UNAUTHORIZED => codes::UNAUTHORIZED,
        StatusCode::FORBIDDEN => codes::FORBIDDEN,
        StatusCode::NOT_FOUND => codes::NOT_FOUND,
        StatusCode::PAYLOAD_TOO_LARGE => codes::PAYLOAD_TOO_LARGE,
        s if s.is_server_error() => codes::INTERNAL,
        _ => codes::BAD_REQUEST,
    };
    let message = status
        .canonical_reason()
        .unwrap_or("request failed")
        .to_string();
    let (mut parts, _) = resp.into_parts();
    let mut fixed = ApiError::new(status, code, message).into_response();
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    for (name, value) in fixed.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    *fixed.headers_mut() = parts.headers;
    fixed
}

/// The server's router over a store: the three endpoints with authentication, request
/// decompression, the body limit, JSON errors and gzip responses, with the default
/// [`ServerOptions`].
pub fn router(store: Store) -> Router {
    router_with(store, &ServerOptions::default())
}

/// [`router`] with the given options; also serves `GET /healthz` and `GET /metrics`. Each
/// router has its own metrics and limiters. Serve it with `ConnectInfo<SocketAddr>` (as
/// [`serve_with`] does) for the per-address limit; without, that limit is off.
pub fn router_with(store: Store, options: &ServerOptions) -> Router {
    build(store, options).0
}

/// The router and its operations state (which [`serve_with`] needs to end the live streams at
/// shutdown).
fn build(store: Store, options: &ServerOptions) -> (Router, Arc<Ops>) {
    let ops = Arc::new(Ops::new(options));
    let app = Router::new()
        .route(ME_PATH, get(me))
        .route(PULL_PATH, post(pull))
        .route(PUSH_PATH, post(push))
        .route(LIVE_PATH, get(live_stream))
        .route(
            &format!("{}/records/{{entity}}/{{key}}", backend::PREFIX),
            get(admin_record)
                .put(|b, path, body| admin_write(WriteKind::Upsert, b, path, body))
                .patch(|b, path, body| admin_write(WriteKind::Patch, b, path, body))
                .delete(admin_delete),
        )
        .route(&format!("{}/batch", backend::PREFIX), post(admin_batch))
        .route(
            &format!("{}/users", backend::PREFIX),
            get(admin_users).post(admin_add_user),
        )
        .route(
            &format!("{}/users/{{id}}/tokens", backend::PREFIX),
            post(admin_issue_token),
        )
        .route(
            &format!("{}/tokens/revoke", backend::PREFIX),
            post(admin_revoke_token),
        )
        .route(
            &format!("{}/scopes/{{id}}", backend::PREFIX),
            put(admin_put_scope),
        )
        .route(
            &format!("{}/services", backend::PREFIX),
            get(|b: Backend| b.run(provision::services)).post(admin_add_service),
        )
        .route(
            &format!("{}/webhook", backend::PREFIX),
            get(|b: Backend| b.run(provision::webhook_status)),
        )
        .route(
            &format!("{}/webhook/replay", backend::PREFIX),
            post(admin_webhook_replay),
        )
        .route(
            &format!("{}/scopes/{{id}}/members/{{user}}", backend::PREFIX),
            put(admin_add_member).delete(admin_remove_member),
        )
        .route(&format!("{}/changes", backend::PREFIX), get(admin_changes))
        .route(HEALTHZ_PATH, get(ops::healthz))
        .route(METRICS_PATH, get(ops::metrics))
        .fallback(not_found)
        .with_state(AppState {
            store,
            ops: ops.clone(),
            jwt: options.jwt.clone(),
        })
        .layer(RequestDecompressionLayer::new())
        .layer(map_response(json_errors));
    // Server-sent events are never compressed: tower-http's default predicate leaves
    // `text/event-stream` alone, so each event leaves as soon as it is written.
    let app = ops::layer(app, ops.clone())
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest));
    (app, ops)
}

/// The push hook's task, ended when the server ends.
struct HookTask(tokio::task::JoinHandle<()>);

impl Drop for HookTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves the protocol on `listener` until `shutdown` completes, then finishes the requests
/// in flight, with the default [`ServerOptions`].
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    store: Store,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, store, ServerOptions::default(), shutdown).await
}

/// [`serve`] with the given options: once `shutdown` completes, no new connection is accepted,
/// requests in flight get `options.shutdown_grace` to finish, and the rest are cut.
pub async fn serve_with<F>(
    listener: tokio::net::TcpListener,
    store: Store,
    options: ServerOptions,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Ok(addr) = listener.local_addr() {
        log::info!(
            "serving the sync protocol on http://{addr} (database {})",
            store.describe()
        );
    }
    // Pages are streamed in chunks: without TCP_NODELAY the last chunk would wait for the
    // client's delayed ACK (Nagle), adding up to 40 ms per page.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            log::warn!("cannot set TCP_NODELAY: {e}");
        }
    });
    let (app, ops) = build(store.clone(), &options);
    let hook = match &options.push_hook {
        Some(config) => Some(HookTask(
            crate::push_hook::spawn(
                config.clone(),
                store.clone(),
                {
                    let streams = ops.streams.clone();
                    Arc::new(move |user: &str| streams.holds(user))
                },
                ops.metrics.hook_counters(),
            )
            .map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let webhook = match &options.webhook {
        Some(config) => Some(
            crate::webhooks::spawn(
                config.clone(),
                store.clone(),
                ops.metrics.webhook_counters(),
            )
            .map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let (started, grace_starts) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        // A live stream never ends by itself: each says `bye shutdown` and ends, so its
        // connection closes and the graceful shutdown does not wait out the grace for it.
        ops.streams.shut_down();
        let _ = started.send(());
    });
    let grace = options.shutdown_grace;
    let deadline = async move {
        if grace_starts.await.is_err() {
            // The server ended without a shutdown: nothing to time.
            std::future::pending::<()>().await;
        }
        log::info!("shutting down: finishing the requests in flight (up to {grace:?})");
        tokio::time::sleep(grace).await;
    };
    // Calls still waiting when the server ends are dropped with the task (the periodic sync
    // is the fallback); the guard ends it on every way out, early returns included.
    let _hook = hook;
    let served = tokio::select! {
        served = server.into_future() => served,
        () = deadline => {
            log::warn!("requests still in flight after {grace:?}; cutting them");
            Ok(())
        }
    };
    if let Some(webhook) = webhook {
        webhook.stop().await;
    }
    served
}
