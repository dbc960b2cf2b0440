//! The HTTP face of the server: the axum router for `GET /v1/me`, `POST /v1/pull`,
//! `POST /v1/push` and `GET /v1/live` (its child [`live`]), bearer authentication, request bodies (gzip-decoded, at most 4 MiB after
//! decoding), gzip responses, and the JSON error body `{"error": {"code", "message"}}` on every
//! non-2xx answer. Store work runs on the blocking pool, never on the async threads.
//! Health, metrics, request ids and limits live in the children [`ops`], [`limits`],
//! [`metrics`] and [`request_id`]; failures become answers in [`error`]. This file only calls
//! them. The OpenAPI document (`GET /v1/openapi.json`) lists its operations here, beside the
//! routes, and is made in [`openapi`].

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
use axum::routing::{get, post, put, MethodRouter};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use http_body_util::BodyExt;
use syncline_protocol::{
    codes, ErrorBody, Me, PullPage, PullRequest, PushRequest, PushResponse, UploadRequest,
    UploadState, LIVE_PATH, MAX_REQUEST_BYTES, ME_PATH, PULL_PATH, PUSH_PATH, UPLOADS_PATH,
    UPLOAD_OFFSET_HEADER,
};
use tokio::sync::mpsc;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel, DefaultPredicate};
use tower_http::decompression::RequestDecompressionLayer;

mod backend;
mod body_stream;
mod error;
mod limits;
mod live;
mod metrics;
mod openapi;
mod ops;
mod provision;
mod pull_body;
mod request_id;
mod transfer;

pub use limits::{
    default_max_concurrent_pulls, Limits, DEFAULT_AUTH_FAILURES_PER_MINUTE, DEFAULT_RATE_BURST,
    DEFAULT_RATE_PER_USER,
};
pub use openapi::OPENAPI_PATH;
pub use ops::ServerOptions;

use crate::attachments::{missing_blobs, AttachmentError, Attachments, BlobReader, Through};
use crate::auth::bearer_token;
use crate::blobs::BlobError;
use crate::jwt::{looks_like_jwt, JwtVerifier};
use crate::live::Credential;
use crate::pull::PullError;
use crate::store::{Service, Store, WriteKind};
use crate::token_hash::hash_token;

use error::ApiError;
use openapi::{DeviceErrors, Document, ServiceErrors, TooLarge};
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

/// A request authenticated by either kind of token, a device user's or a service's (the
/// OpenAPI document: both kinds of client have use for it).
struct AnyToken;

impl FromRequestParts<AppState> for AnyToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, state)
            .await
            .map(|_| AnyToken)
    }
}

/// Who a request authenticates as, by either kind of token: a device's user or a backend
/// service (the OpenAPI document and blob downloads take both).
enum Caller {
    User(String),
    Service(Service),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let device = match Authed::from_request_parts(parts, state).await {
            Ok(a) => return Ok(Caller::User(a.user)),
            Err(e) => e,
        };
        // Only a refused token may still be a service's; a rate limit or a failure stands.
        if device.status != StatusCode::UNAUTHORIZED {
            return Err(device);
        }
        match ServiceAuthed::from_request_parts(parts, state).await {
            Ok(ServiceAuthed(service)) => Ok(Caller::Service(service)),
            // Neither kind: the device side's reason, which says `token_expired` when that is
            // why (the service side only knows "unknown").
            Err(e) if matches!(e.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                Err(device)
            }
            Err(e) => Err(e),
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

/// `GET /v1/live`: the live stream of change hints, for the authenticated user.
///
/// Server-sent events: `hello` first (`{"heartbeat_ms", "instance"}`), then `changes`
/// (`{"entities": {"<entity>": "<cursor>"}}`: pull these), `ping` (`{}`) after each idle
/// heartbeat, and `bye` (`{"reason"}`) before the server ends the stream. See
/// docs/protocol.md.
#[utoipa::path(
    get,
    path = LIVE_PATH,
    tag = "device",
    security(("device_token" = [])),
    params(live::LiveQuery),
    responses(
        (status = 200, description = "The stream of server-sent events", content_type = "text/event-stream", body = String),
        (status = 429, description = "`too_many_streams`: this user or this instance holds as many streams as it allows (retry after `Retry-After`, on any instance); or `rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        DeviceErrors,
    )
)]
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

/// What a backend route answers: its typed answer (whose schema the OpenAPI document shows), as
/// JSON.
type BackendAnswer<T> = Result<Json<T>, ApiError>;

impl Backend {
    /// Runs the route's store work off the async threads; answers its JSON.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&Store, &Service) -> Result<T, ApiError> + Send + 'static,
    ) -> BackendAnswer<T> {
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

/// `GET /v1/admin/records/{entity}/{key}`: one record with all its fields.
///
/// Server-only fields included, with its version, scope and change-log position; a deleted
/// record answers `"deleted": true` with no fields.
#[utoipa::path(
    get,
    path = "/v1/admin/records/{entity}/{key}",
    tag = "backend",
    security(("service_token" = [])),
    params(openapi::RecordPath),
    responses(
        (status = 200, description = "The record", body = backend::RecordAnswer),
        (status = 404, description = "`unknown_entity` (the schema declares no such entity) or `not_found` (no record has the key)", body = ErrorBody),
        ServiceErrors,
    )
)]
async fn admin_record(
    b: Backend,
    Path((entity, key)): Path<(String, String)>,
) -> BackendAnswer<backend::RecordAnswer> {
    b.run(move |s, sv| backend::record(s, sv, &entity, &key))
        .await
}

/// `PUT` (upsert) and `PATCH` (patch) `/v1/admin/records/{entity}/{key}` (`backend.rs`).
async fn admin_write(
    kind: WriteKind,
    b: Backend,
    Path((entity, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<backend::RecordBody>,
) -> BackendAnswer<backend::WrittenAnswer> {
    b.run(move |s, sv| backend::write_record(s, sv, kind, entity, key, body))
        .await
}

/// `PUT /v1/admin/records/{entity}/{key}`: creates the record or writes the given fields over it.
///
/// Required fields are needed to create it; a deleted record is created anew. Every field may
/// be written, read-only and server-only ones included; devices pull the write like another
/// device's.
#[utoipa::path(
    put,
    path = "/v1/admin/records/{entity}/{key}",
    tag = "backend",
    security(("service_token" = [])),
    params(openapi::RecordPath),
    request_body = backend::RecordBody,
    responses(
        (status = 200, description = "The record's new version", body = backend::WrittenAnswer),
        (status = 400, description = "`bad_request`, `unknown_field` or `invalid_value` (a wrong type, a missing required field, a bad key)", body = ErrorBody),
        (status = 404, description = "`unknown_entity`", body = ErrorBody),
        (status = 409, description = "`version_conflict`: the record is not at `if_version`; the error carries `current_version`", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_upsert(
    b: Backend,
    path: Path<(String, String)>,
    body: JsonBody<backend::RecordBody>,
) -> BackendAnswer<backend::WrittenAnswer> {
    admin_write(WriteKind::Upsert, b, path, body).await
}

/// `PATCH /v1/admin/records/{entity}/{key}`: writes the given fields over an existing record.
#[utoipa::path(
    patch,
    path = "/v1/admin/records/{entity}/{key}",
    tag = "backend",
    security(("service_token" = [])),
    params(openapi::RecordPath),
    request_body = backend::RecordBody,
    responses(
        (status = 200, description = "The record's new version", body = backend::WrittenAnswer),
        (status = 400, description = "`bad_request`, `unknown_field` or `invalid_value`", body = ErrorBody),
        (status = 404, description = "`unknown_entity`, or `not_found`: no record has the key", body = ErrorBody),
        (status = 409, description = "`version_conflict`: the record is not at `if_version`; the error carries `current_version`", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_patch(
    b: Backend,
    path: Path<(String, String)>,
    body: JsonBody<backend::RecordBody>,
) -> BackendAnswer<backend::WrittenAnswer> {
    admin_write(WriteKind::Patch, b, path, body).await
}

/// `DELETE /v1/admin/records/{entity}/{key}`: a service's delete.
///
/// Leaves a tombstone, which devices pull.
#[utoipa::path(
    delete,
    path = "/v1/admin/records/{entity}/{key}",
    tag = "backend",
    security(("service_token" = [])),
    params(openapi::RecordPath, backend::DeleteQuery),
    responses(
        (status = 200, description = "The tombstone's version", body = backend::WrittenAnswer),
        (status = 400, description = "`bad_request`: a malformed query string", body = ErrorBody),
        (status = 404, description = "`unknown_entity`, or `not_found`: no record has the key", body = ErrorBody),
        (status = 409, description = "`version_conflict`: the record is not at `if_version`; the error carries `current_version`", body = ErrorBody),
        ServiceErrors,
    )
)]
async fn admin_delete(
    b: Backend,
    Path((entity, key)): Path<(String, String)>,
    Query(q): Query<backend::DeleteQuery>,
) -> BackendAnswer<backend::WrittenAnswer> {
    b.run(move |s, sv| backend::delete_record(s, sv, entity, key, q))
        .await
}

/// `POST /v1/admin/batch`: a service's operations, all or nothing.
///
/// Up to 1,000 operations in one transaction. Under an `Idempotency-Key`, a retry of the same
/// request gets the first answer and writes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/batch",
    tag = "backend",
    security(("service_token" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Your id for this request (1 to 256 bytes of visible text), kept per service")),
    request_body = backend::BatchBody,
    responses(
        (status = 200, description = "Each operation's result, in order", body = backend::BatchAnswer),
        (status = 400, description = "`bad_request` (a bad `op`, too many operations, a bad `Idempotency-Key`), `unknown_field` or `invalid_value`; the message names the operation", body = ErrorBody),
        (status = 404, description = "`unknown_entity` or `not_found`", body = ErrorBody),
        (status = 409, description = "`version_conflict`: an operation's record is not at its `if_version`; nothing applied", body = ErrorBody),
        (status = 422, description = "`idempotency_key_reused`: the key came with other operations before", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_batch(
    b: Backend,
    headers: HeaderMap,
    JsonBody(body): JsonBody<backend::BatchBody>,
) -> BackendAnswer<backend::BatchAnswer> {
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

/// `GET /v1/admin/users`: every user (`user list`).
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "backend",
    security(("service_token" = [])),
    responses(
        (status = 200, description = "Every user and how many scopes each is a member of", body = provision::UsersAnswer),
        ServiceErrors,
    )
)]
async fn admin_users(b: Backend) -> BackendAnswer<provision::UsersAnswer> {
    b.run(provision::users).await
}

/// `POST /v1/admin/users`: adds a user (`user add`).
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "backend",
    security(("service_token" = [])),
    request_body = provision::NewUser,
    responses(
        (status = 200, description = "The user, and whether it was created (nothing changes if it exists)", body = provision::UserAdded),
        (status = 400, description = "`bad_request`: not a user id (empty, a service's name)", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_add_user(
    b: Backend,
    JsonBody(body): JsonBody<provision::NewUser>,
) -> BackendAnswer<provision::UserAdded> {
    b.run(move |s, sv| provision::add_user(s, sv, body)).await
}

/// `POST /v1/admin/users/{id}/tokens`: issues a device token (`token issue`).
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/tokens",
    tag = "backend",
    security(("service_token" = [])),
    params(("id" = String, Path, description = "The user")),
    request_body = provision::NewToken,
    responses(
        (status = 200, description = "The token: the only place it is ever shown", body = provision::TokenIssued),
        (status = 400, description = "`bad_request`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_issue_token(
    b: Backend,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<provision::NewToken>,
) -> BackendAnswer<provision::TokenIssued> {
    b.run(move |s, sv| provision::issue_token(s, sv, &user, body))
        .await
}

/// `POST /v1/admin/tokens/revoke`: revokes a device's or a service's token.
///
/// The token is in the body, never in a URL (URLs end up in logs); its live streams end at once.
#[utoipa::path(
    post,
    path = "/v1/admin/tokens/revoke",
    tag = "backend",
    security(("service_token" = [])),
    request_body = provision::Revoke,
    responses(
        (status = 200, description = "Whether a token was revoked", body = provision::Revoked),
        (status = 400, description = "`bad_request`", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_revoke_token(
    b: Backend,
    JsonBody(body): JsonBody<provision::Revoke>,
) -> BackendAnswer<provision::Revoked> {
    b.run(move |s, sv| provision::revoke_token(s, sv, body))
        .await
}

/// `PUT /v1/admin/scopes/{id}`: creates a scope (a project) or renames it.
#[utoipa::path(
    put,
    path = "/v1/admin/scopes/{id}",
    tag = "backend",
    security(("service_token" = [])),
    params(("id" = String, Path, description = "The scope (its project record's key)")),
    request_body = provision::ScopeBody,
    responses(
        (status = 200, description = "The scope and its project record's version", body = provision::ScopeWritten),
        (status = 400, description = "`bad_request`", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_put_scope(
    b: Backend,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<provision::ScopeBody>,
) -> BackendAnswer<provision::ScopeWritten> {
    b.run(move |s, sv| provision::put_scope(s, sv, &id, body))
        .await
}

/// `GET /v1/admin/services`: every service and what it reaches (`service list`).
#[utoipa::path(
    get,
    path = "/v1/admin/services",
    tag = "backend",
    security(("service_token" = [])),
    responses(
        (status = 200, description = "Every service", body = provision::ServicesAnswer),
        ServiceErrors,
    )
)]
async fn admin_services(b: Backend) -> BackendAnswer<provision::ServicesAnswer> {
    b.run(provision::services).await
}

/// `POST /v1/admin/services`: adds a service (`service add`).
#[utoipa::path(
    post,
    path = "/v1/admin/services",
    tag = "backend",
    security(("service_token" = [])),
    request_body = provision::NewService,
    responses(
        (status = 200, description = "The service and its token: the only place it is ever shown", body = provision::ServiceAdded),
        (status = 400, description = "`bad_request`: a bad name (the key rule, a user's id, taken), neither scopes nor `all_scopes`", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_add_service(
    b: Backend,
    JsonBody(body): JsonBody<provision::NewService>,
) -> BackendAnswer<provision::ServiceAdded> {
    b.run(move |s, sv| provision::add_service(s, sv, body))
        .await
}

/// `GET /v1/admin/webhook`: where the webhook's delivery stands (`webhook status`).
#[utoipa::path(
    get,
    path = "/v1/admin/webhook",
    tag = "backend",
    security(("service_token" = [])),
    responses(
        (status = 200, description = "The delivery's cursor, the log's end and the lag", body = provision::WebhookStatus),
        ServiceErrors,
    )
)]
async fn admin_webhook_status(b: Backend) -> BackendAnswer<provision::WebhookStatus> {
    b.run(provision::webhook_status).await
}

/// `POST /v1/admin/webhook/replay`: delivers every change after `from` again.
#[utoipa::path(
    post,
    path = "/v1/admin/webhook/replay",
    tag = "backend",
    security(("service_token" = [])),
    request_body = provision::Replay,
    responses(
        (status = 200, description = "Where delivery resumes", body = provision::Replaying),
        (status = 400, description = "`bad_request`: `from` below 0", body = ErrorBody),
        TooLarge,
        ServiceErrors,
    )
)]
async fn admin_webhook_replay(
    b: Backend,
    JsonBody(body): JsonBody<provision::Replay>,
) -> BackendAnswer<provision::Replaying> {
    b.run(move |s, sv| provision::webhook_replay(s, sv, body))
        .await
}

/// `PUT /v1/admin/scopes/{id}/members/{user}`: makes a user a member (`member add`).
///
/// The scope's records reach the user's devices on their next pull.
#[utoipa::path(
    put,
    path = "/v1/admin/scopes/{id}/members/{user}",
    tag = "backend",
    security(("service_token" = [])),
    params(
        ("id" = String, Path, description = "The scope"),
        ("user" = String, Path, description = "The user"),
    ),
    responses(
        (status = 200, description = "The membership now, and whether it changed", body = provision::Membership),
        (status = 404, description = "`not_found`: no such user", body = ErrorBody),
        ServiceErrors,
    )
)]
async fn admin_add_member(
    b: Backend,
    Path((scope, user)): Path<(String, String)>,
) -> BackendAnswer<provision::Membership> {
    b.run(move |s, sv| provision::membership(s, sv, &scope, &user, true))
        .await
}

/// `DELETE /v1/admin/scopes/{id}/members/{user}`: ends a membership (`member remove`).
///
/// The scope's records leave the user's devices as tombstones on their next pull.
#[utoipa::path(
    delete,
    path = "/v1/admin/scopes/{id}/members/{user}",
    tag = "backend",
    security(("service_token" = [])),
    params(
        ("id" = String, Path, description = "The scope"),
        ("user" = String, Path, description = "The user"),
    ),
    responses(
        (status = 200, description = "The membership now, and whether it changed", body = provision::Membership),
        (status = 404, description = "`not_found`: no such user", body = ErrorBody),
        ServiceErrors,
    )
)]
async fn admin_remove_member(
    b: Backend,
    Path((scope, user)): Path<(String, String)>,
) -> BackendAnswer<provision::Membership> {
    b.run(move |s, sv| provision::membership(s, sv, &scope, &user, false))
        .await
}

/// `GET /v1/admin/changes`: the change feed, a long poll.
///
/// Every change to the records the service reaches, in change-log order, after `after`. With
/// nothing to report and `wait` > 0, answers as soon as a commit comes or when `wait` is over.
#[utoipa::path(
    get,
    path = "/v1/admin/changes",
    tag = "backend",
    security(("service_token" = [])),
    params(backend::ChangesQuery),
    responses(
        (status = 200, description = "A page of changes (empty when `wait` passed without one)", body = backend::ChangesAnswer),
        (status = 400, description = "`bad_request`: a malformed cursor or query string", body = ErrorBody),
        (status = 404, description = "`unknown_entity`", body = ErrorBody),
        ServiceErrors,
    )
)]
async fn admin_changes(
    State(ops): State<Arc<Ops>>,
    b: Backend,
    Query(query): Query<backend::ChangesQuery>,
) -> BackendAnswer<backend::ChangesAnswer> {
    // A waiting long poll answers at shutdown, as a live stream says `bye`: the graceful
    // shutdown then does not wait out the grace for it.
    let closing = ops.streams.closing();
    backend::changes(b.store, b.service, query, closing)
        .await
        .map(Json)
}

/// `POST /v1/admin/import/{entity}`: NDJSON records written by the service.
///
/// One `{"key": "…", "fields": {…}}` per line (an export's lines import as they are), every
/// field the service may write, in batches of 1,000, each all or nothing. A bad line stops the
/// import: the answer names it, the batches before it stay applied. The service must reach each
/// record's scope and may not be `--read-only`; it is the records' author.
#[utoipa::path(
    post,
    path = "/v1/admin/import/{entity}",
    tag = "backend",
    security(("service_token" = [])),
    params(openapi::EntityPath),
    request_body(content = String, content_type = "application/x-ndjson", description = "One record per line"),
    responses(
        (status = 200, description = "Every line imported", body = transfer::Imported),
        (status = 400, description = "`bad_request`: line N is not a record, or the schema or the service's scopes refuse it (the message names the line; earlier batches stay applied)", body = ErrorBody),
        (status = 404, description = "`unknown_entity`", body = ErrorBody),
        ServiceErrors,
    )
)]
async fn admin_import(
    b: Backend,
    Path(entity): Path<String>,
    body: Body,
) -> BackendAnswer<transfer::Imported> {
    transfer::import(b.store, b.service, entity, body)
        .await
        .map(Json)
}

/// `GET /v1/admin/export/{entity}`: the live records the service reaches, as NDJSON.
///
/// One `{"key", "version", "fields"}` per line, every field (server-only ones included), in
/// change-log order, streamed as they are read (gzip when the client accepts it).
#[utoipa::path(
    get,
    path = "/v1/admin/export/{entity}",
    tag = "backend",
    security(("service_token" = [])),
    params(openapi::EntityPath),
    responses(
        (status = 200, description = "One record per line", body = String, content_type = "application/x-ndjson"),
        (status = 404, description = "`unknown_entity`", body = ErrorBody),
        ServiceErrors,
    )
)]
async fn admin_export(b: Backend, Path(entity): Path<String>) -> Result<Response, ApiError> {
    transfer::export(b.store, b.service, entity)
}

/// `GET /v1/me`: who the token belongs to; clients also use it as the reachability probe.
#[utoipa::path(
    get,
    path = ME_PATH,
    tag = "device",
    security(("device_token" = [])),
    responses((status = 200, description = "The authenticated user", body = Me), DeviceErrors)
)]
async fn me(AuthUser(user_id): AuthUser) -> Json<Me> {
    Json(Me { user_id })
}

/// `POST /v1/pull`: one page of changes after a cursor, visible to the user.
///
/// Streamed as it is read from the database; gzip-compressed when the request accepts it.
#[utoipa::path(
    post,
    path = PULL_PATH,
    tag = "device",
    security(("device_token" = [])),
    request_body = PullRequest,
    responses(
        (status = 200, description = "One page: the changes after `cursor` (at most `limit`, at most 5,000)", body = PullPage),
        (status = 400, description = "`bad_request` (not a pull's body, a malformed cursor), `unknown_entity` or `unknown_field` (also for a server-only field)", body = ErrorBody),
        (status = 503, description = "`busy`: the server is at its limit of concurrent pulls", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        TooLarge,
        DeviceErrors,
    )
)]
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

/// `POST /v1/push`: the device's mutations, applied in order; one result per mutation.
///
/// Idempotent by `client_id` and `seq`: a replayed batch gets the first answers again.
#[utoipa::path(
    post,
    path = PUSH_PATH,
    tag = "device",
    security(("device_token" = [])),
    request_body = PushRequest,
    responses(
        (status = 200, description = "One result per mutation, in the request's order", body = PushResponse),
        (status = 400, description = "`bad_request`: not a push's body, mutations out of `seq` order, more than 500", body = ErrorBody),
        (status = 403, description = "`forbidden`: the `client_id` belongs to another user", body = ErrorBody),
        (status = 503, description = "`rules_unavailable`: the office's write rules could not be asked and the entity's policy is `fail_closed`; nothing was applied, send the same push again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        TooLarge,
        DeviceErrors,
    )
)]
async fn push(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PushResponse>, ApiError> {
    let push: PushRequest = read_json(&headers, body).await?;
    crate::push::check_batch(&push)?;
    // The office's write rules are asked before the transaction, never inside it (rules.rs).
    let mut verdicts = state.ops.rules.judge(&state.store, &user, &push).await?;
    let (store, attachments) = (state.store, state.ops.attachments.clone());
    let answer = blocking(move || {
        // A mutation may reference only files its user has uploaded (attachments.rs).
        for (seq, refusal) in missing_blobs(attachments.as_deref(), &store, &user, &push)? {
            verdicts.entry(seq).or_insert(refusal);
        }
        Ok::<_, ApiError>(store.push_judged(&user, &push, &verdicts)?)
    })
    .await?;
    state.ops.metrics.push_answered(&answer);
    Ok(Json(answer))
}

/// The server's attachments, or 404 when it keeps none.
fn attachments_of(state: &AppState) -> Result<Arc<Attachments>, ApiError> {
    state.ops.attachments.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "this server keeps no attachments",
        )
    })
}

/// A blob route's refusal, counted by its code.
fn blob_refused(ops: &Ops, e: ApiError) -> ApiError {
    ops.metrics.blob_refused(e.code);
    e
}

/// An upload's state as the answer's body and its `Upload-Offset` header.
fn upload_answer(state: UploadState) -> Response {
    let offset = HeaderValue::from(state.offset);
    let mut resp = Json(state).into_response();
    resp.headers_mut().insert(UPLOAD_OFFSET_HEADER, offset);
    resp
}

/// `POST /v1/uploads`: starts the upload of a file's bytes.
///
/// The body names the blob (`sha256`, `size`). When this user uploaded it before, the answer
/// says `complete` and there is nothing to send; otherwise it carries the `upload_id` the bytes
/// go to, at offset 0.
#[utoipa::path(
    post,
    path = UPLOADS_PATH,
    tag = "device",
    security(("device_token" = [])),
    request_body = UploadRequest,
    responses(
        (status = 200, description = "The new upload, or `complete` when the server holds the blob from this user already", body = UploadState,
            headers(("Upload-Offset" = u64, description = "Bytes the server has"))),
        (status = 400, description = "`bad_request`: not a SHA-256", body = ErrorBody),
        (status = 404, description = "`not_found`: this server keeps no attachments", body = ErrorBody),
        (status = 413, description = "`blob_too_large` (over the server's limit) or `quota_exceeded` (over the user's quota)", body = ErrorBody),
        DeviceErrors,
    )
)]
async fn start_upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: UploadRequest = read_json(&headers, body).await?;
    let attachments = attachments_of(&state)?;
    let store = state.store.clone();
    blocking(move || attachments.start(&store, &user, &request))
        .await
        .map(upload_answer)
        .map_err(|e| blob_refused(&state.ops, e))
}

/// `GET /v1/uploads/{id}` (and `HEAD`): how much of an upload has arrived.
///
/// A device that lost its connection or was restarted asks, then sends from `offset`.
#[utoipa::path(
    get,
    path = "/v1/uploads/{id}",
    tag = "device",
    security(("device_token" = [])),
    params(("id" = String, Path, description = "The upload's id")),
    responses(
        (status = 200, description = "The upload's offset", body = UploadState,
            headers(("Upload-Offset" = u64, description = "Bytes the server has"))),
        (status = 404, description = "`not_found`: no such upload of this user (completed, dropped after a day idle, or never made)", body = ErrorBody),
        DeviceErrors,
    )
)]
async fn upload_state(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let attachments = attachments_of(&state)?;
    blocking(move || attachments.state(&user, &id))
        .await
        .map(upload_answer)
}

/// `PATCH /v1/uploads/{id}`: appends the body's bytes at `Upload-Offset`.
///
/// The bytes are written while they arrive; a body cut off half-way keeps what arrived. A range
/// at another offset than the upload's is refused with `409 wrong_offset`, whose
/// `Upload-Offset` header says where to go on from.
#[utoipa::path(
    patch,
    path = "/v1/uploads/{id}",
    tag = "device",
    security(("device_token" = [])),
    params(
        ("id" = String, Path, description = "The upload's id"),
        ("Upload-Offset" = u64, Header, description = "Where in the file the body's bytes start"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "Bytes of the file from `Upload-Offset` on"),
    responses(
        (status = 200, description = "The upload's new offset", body = UploadState,
            headers(("Upload-Offset" = u64, description = "Bytes the server has"))),
        (status = 400, description = "`bad_request`: no `Upload-Offset`, or more bytes than announced", body = ErrorBody),
        (status = 404, description = "`not_found`: no such upload of this user", body = ErrorBody),
        (status = 409, description = "`wrong_offset`: the upload is elsewhere (see `Upload-Offset`), or another request sends to it now", body = ErrorBody,
            headers(("Upload-Offset" = u64, description = "Bytes the server has"))),
        DeviceErrors,
    )
)]
async fn append_upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let at = headers
        .get(UPLOAD_OFFSET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_request("an upload range needs an Upload-Offset header"))?;
    let a = attachments_of(&state)?;
    let (tx, rx) = mpsc::channel(body_stream::CHANNEL_CHUNKS);
    let (u, i) = (user, id.clone());
    state.ops.metrics.upload_in_progress(1);
    let writing = tokio::task::spawn_blocking(move || {
        let appended = a.append(&u, &i, at, &mut body_stream::ChannelReader::new(rx));
        // A refused range's answer says where the upload is, so the device goes on from there.
        let offset = match &appended {
            Ok(offset) => Some(*offset),
            Err(_) => a.state(&u, &i).ok().map(|s| s.offset),
        };
        (appended, offset)
    });
    body_stream::feed(body, tx).await;
    let written = writing.await;
    state.ops.metrics.upload_in_progress(-1);
    match written {
        Ok((Ok(offset), _)) => {
            // Bytes kept, not bytes sent: a refused range counts for nothing.
            state
                .ops
                .metrics
                .blob_bytes("in", offset.saturating_sub(at));
            Ok(upload_answer(UploadState {
                upload_id: Some(id),
                offset,
                complete: false,
            }))
        }
        Ok((Err(e), offset)) => {
            // A range refused before it was written (elsewhere, busy, not theirs) kept nothing;
            // one cut off or too long kept what arrived from `at`.
            let written = matches!(
                e,
                AttachmentError::Blob(BlobError::TooLong { .. } | BlobError::Io(_))
            );
            let kept = offset
                .filter(|_| written)
                .map_or(0, |o| o.saturating_sub(at));
            state.ops.metrics.blob_bytes("in", kept);
            let mut resp = blob_refused(&state.ops, e.into()).into_response();
            if let Some(offset) = offset {
                resp.headers_mut()
                    .insert(UPLOAD_OFFSET_HEADER, HeaderValue::from(offset));
            }
            Ok(resp)
        }
        Err(e) => Err(ApiError::internal(format!("the upload task failed: {e}"))),
    }
}

/// `POST /v1/uploads/{id}/complete`: checks the bytes against the announced hash and keeps them.
///
/// From then on the user's pushes may reference the blob. Bytes that hash otherwise are dropped
/// (`422 hash_mismatch`): the device sends the file again from its start.
#[utoipa::path(
    post,
    path = "/v1/uploads/{id}/complete",
    tag = "device",
    security(("device_token" = [])),
    params(("id" = String, Path, description = "The upload's id")),
    responses(
        (status = 200, description = "The blob is complete", body = UploadState),
        (status = 404, description = "`not_found`: no such upload of this user", body = ErrorBody),
        (status = 409, description = "`upload_incomplete`: not all bytes have arrived", body = ErrorBody),
        (status = 422, description = "`hash_mismatch`: the bytes do not hash to the announced SHA-256; the upload is dropped", body = ErrorBody),
        DeviceErrors,
    )
)]
async fn complete_upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let attachments = attachments_of(&state)?;
    let store = state.store.clone();
    blocking(move || attachments.complete(&store, &user, &id))
        .await
        .map(upload_answer)
        .map_err(|e| blob_refused(&state.ops, e))
}

/// The byte range a `Range` header asks of a blob of `size` bytes: `Ok(None)` for the whole
/// blob (no header, or one this server does not serve: several ranges, another unit), `Err`
/// when it lies outside the blob (416).
fn requested_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(axum::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // `bytes=-N`: the last N bytes.
        let n: u64 = last.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = first.parse().map_err(|_| ())?;
        let end = match last {
            "" => size.saturating_sub(1),
            l => l
                .parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1)),
        };
        (start, end)
    };
    if size == 0 || range.0 >= size || range.0 > range.1 {
        return Err(());
    }
    Ok(Some(range))
}

/// `GET /v1/blobs/{sha256}`: an attachment's bytes, through a record that references it.
///
/// The query names the record (`entity`, `key`) and its attachment `field`; the caller must see
/// the record (a member of its scope, or a service reaching it) and the field must name this
/// blob. Anything else is `404`, alike. `Range: bytes=…` (one range) answers 206 with those
/// bytes; the `ETag` is the hash. Always `application/octet-stream`: the app knows the media
/// type from the reference, and the server never serves a user's file as a page.
#[utoipa::path(
    get,
    path = "/v1/blobs/{sha256}",
    tag = "device",
    security(("device_token" = []), ("service_token" = [])),
    params(
        ("sha256" = String, Path, description = "The blob's SHA-256, lowercase hex"),
        Through,
        ("Range" = Option<String>, Header, description = "`bytes=START-`, `bytes=START-END` or `bytes=-N`"),
    ),
    responses(
        (status = 200, description = "The whole blob", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("Content-Range" = String, description = "`bytes START-END/SIZE`"))),
        (status = 400, description = "`bad_request`: not a SHA-256, or the query does not name a record's field", body = ErrorBody),
        (status = 404, description = "`not_found`: no such blob through that record for this caller", body = ErrorBody),
        (status = 416, description = "The range lies outside the blob", body = ErrorBody),
        DeviceErrors,
    )
)]
async fn download_blob(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
    Query(through): Query<Through>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    use axum::http::header::{ACCEPT_RANGES, CONTENT_RANGE, ETAG};
    let attachments = attachments_of(&state)?;
    let store = state.store.clone();
    let a = attachments.clone();
    let (hash, size, reader, range) = blocking(move || {
        let reader = match &caller {
            Caller::User(user) => BlobReader::User(user),
            Caller::Service(service) => BlobReader::Service(service),
        };
        let hash = a.check_readable(&store, reader, &hash, &through)?;
        let (size, _) = a.open(&hash, 0)?;
        let range = requested_range(&headers, size);
        let start = match range {
            Ok(Some((start, _))) => start,
            _ => 0,
        };
        let (_, reader) = a.open(&hash, start)?;
        Ok::<_, ApiError>((hash, size, reader, range))
    })
    .await?;
    let Ok(range) = range else {
        let mut resp = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            codes::BAD_REQUEST,
            format!("the range lies outside the blob's {size} bytes"),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
            resp.headers_mut().insert(CONTENT_RANGE, v);
        }
        return Ok(resp);
    };
    let (first, last) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { last - first + 1 };
    let (tx, rx) = mpsc::channel(body_stream::CHANNEL_CHUNKS);
    let ops = state.ops.clone();
    tokio::task::spawn_blocking(move || {
        let sent = body_stream::pump(reader, len, &tx);
        ops.metrics.blob_bytes("out", sent);
    });
    let mut resp = Response::new(Body::new(ChannelBody::new(Bytes::new(), rx)));
    *resp.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(BLOB_CONTENT_TYPE));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        h.insert(ETAG, v);
    }
    if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{size}")) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// The content type of every download: never compressed (the compression layer leaves it
/// alone, so `Content-Length` and ranges stay true) and never rendered as a page.
const BLOB_CONTENT_TYPE: &str = "application/octet-stream";

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

/// `GET /v1/openapi.json`: the OpenAPI document of this API.
///
/// It takes a token like every `/v1/` route (docs/protocol.md, "Authentication": only the
/// operations routes outside `/v1/` answer without one), so a proxy or an operator can go on
/// reasoning "everything under `/v1/` is authenticated", with no exception. Either kind of token
/// will do, a device user's or a service's. The document holds nothing secret: who has no token
/// reads the committed `docs/openapi.json`.
#[utoipa::path(
    get,
    path = OPENAPI_PATH,
    operation_id = "openapi",
    tag = "ops",
    security(("device_token" = []), ("service_token" = [])),
    responses(
        (status = 200, description = "This document", content_type = "application/json", body = Object),
        DeviceErrors,
    )
)]
async fn openapi_document(_: AnyToken) -> Result<Response, ApiError> {
    let text = openapi::served(openapi_json)?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        text,
    )
        .into_response())
}

/// The OpenAPI document's operations: every handler of [`routes`], by its `#[utoipa::path]`.
/// The rest of the document is made in `openapi.rs`. Listed here, beside the routes, because it
/// names their handlers; the test checks this list and the routes against each other.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        me,
        pull,
        push,
        live_stream,
        start_upload,
        upload_state,
        append_upload,
        complete_upload,
        download_blob,
        admin_record,
        admin_upsert,
        admin_patch,
        admin_delete,
        admin_batch,
        admin_users,
        admin_add_user,
        admin_issue_token,
        admin_revoke_token,
        admin_put_scope,
        admin_services,
        admin_add_service,
        admin_webhook_status,
        admin_webhook_replay,
        admin_add_member,
        admin_remove_member,
        admin_changes,
        admin_import,
        admin_export,
        ops::healthz,
        ops::metrics,
        openapi_document,
    ),
    // Referenced by the shared error answers, which utoipa does not look into.
    components(schemas(ErrorBody)),
    modifiers(&Document)
)]
struct ApiDoc;

/// The OpenAPI 3.1 document of the HTTP API, as served at [`OPENAPI_PATH`] and committed as
/// `docs/openapi.json`: pretty-printed JSON, ending in a newline.
pub fn openapi_json() -> Result<String, serde_json::Error> {
    openapi::to_json(&<ApiDoc as utoipa::OpenApi>::openapi())
}

/// A router that keeps the paths of its routes: what [`route_paths`] lists, so the OpenAPI test
/// checks the document against the routes the server really has, not a copy of them.
struct Routes {
    router: Router<AppState>,
    paths: Vec<String>,
}

impl Routes {
    fn new() -> Routes {
        Routes {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// Adds a route, as [`Router::route`].
    fn route(mut self, path: &str, handlers: MethodRouter<AppState>) -> Routes {
        self.router = self.router.route(path, handlers);
        self.paths.push(path.to_string());
        self
    }
}

/// Every route of the server and its handlers (without state: no store is needed to list them).
fn routes() -> Routes {
    Routes::new()
        .route(ME_PATH, get(me))
        .route(PULL_PATH, post(pull))
        .route(PUSH_PATH, post(push))
        .route(LIVE_PATH, get(live_stream))
        .route(
            &format!("{}/records/{{entity}}/{{key}}", backend::PREFIX),
            get(admin_record)
                .put(admin_upsert)
                .patch(admin_patch)
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
            get(admin_services).post(admin_add_service),
        )
        .route(
            &format!("{}/webhook", backend::PREFIX),
            get(admin_webhook_status),
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
        .route(
            &format!("{}/import/{{entity}}", backend::PREFIX),
            post(admin_import),
        )
        .route(
            &format!("{}/export/{{entity}}", backend::PREFIX),
            get(admin_export),
        )
        .route(UPLOADS_PATH, post(start_upload))
        .route(
            &format!("{UPLOADS_PATH}/{{id}}"),
            get(upload_state).patch(append_upload),
        )
        .route(
            &format!("{UPLOADS_PATH}/{{id}}/complete"),
            post(complete_upload),
        )
        .route(
            &format!("{}/{{sha256}}", syncline_protocol::BLOBS_PATH),
            get(download_blob),
        )
        .route(HEALTHZ_PATH, get(ops::healthz))
        .route(METRICS_PATH, get(ops::metrics))
        .route(OPENAPI_PATH, get(openapi_document))
}

/// The path of every route the server serves (`{name}` for a path parameter), in the order
/// they were added.
pub fn route_paths() -> Vec<String> {
    routes().paths
}

/// The router and its operations state (which [`serve_with`] needs to end the live streams at
/// shutdown).
fn build(store: Store, options: &ServerOptions) -> (Router, Arc<Ops>) {
    let ops = Arc::new(Ops::new(options));
    let app = routes()
        .router
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
    let app = ops::layer(app, ops.clone()).layer(
        CompressionLayer::new()
            .quality(CompressionLevel::Fastest)
            .compress_when(
                DefaultPredicate::new().and(NotForContentType::const_new(BLOB_CONTENT_TYPE)),
            ),
    );
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
