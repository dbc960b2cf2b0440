//! Provisioning over HTTP (docs/backend.md): the administration commands of the server binary
//! (`user add`, `user list`, `token issue`, `token revoke`, `scope create`, `member add`,
//! `member remove`, `service add`, `service list`, `webhook status`, `webhook replay`) for a
//! service, so a backend sets up a team without shell access to the
//! server. The routes and their authentication are in `http/mod.rs`; this module does the work.
//!
//! Who may do what: users, tokens and new scopes concern the whole deployment, so they take a
//! service with every scope that may write (`--all-scopes`, not `--read-only`); memberships
//! take a service that may write and reaches the scope.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use syncline_protocol::codes;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::error::StoreError;
use crate::store::{Service, Store};

/// What a provisioning call needs of its service.
enum Need<'a> {
    /// The whole deployment: every scope, and writing.
    Deployment,
    /// One scope, and writing.
    Scope(&'a str),
}

fn require(service: &Service, need: Need<'_>) -> Result<(), ApiError> {
    let forbidden = |m: String| ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, m);
    if service.read_only {
        return Err(forbidden(format!(
            "the service {} is read-only",
            service.name
        )));
    }
    match need {
        Need::Deployment if !service.all_scopes => Err(forbidden(format!(
            "users, tokens and new scopes take a service with --all-scopes; {} has some scopes only",
            service.name
        ))),
        Need::Scope(scope) if !service.reaches(scope) => Err(forbidden(format!(
            "the service {} does not reach the scope {scope}",
            service.name
        ))),
        _ => Ok(()),
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::UnknownUser(u) => ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no user {u:?}"),
        ),
        StoreError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other),
    }
}

/// The answer of `GET /v1/admin/users`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UsersAnswer {
    /// Every user.
    users: Vec<UserEntry>,
}

/// A user in [`UsersAnswer`].
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserEntry {
    /// The user's id.
    id: String,
    /// How many scopes (projects) the user is a member of.
    scopes: usize,
}

/// `GET /v1/admin/users`: every user and how many scopes each is a member of.
pub(super) fn users(store: &Store, service: &Service) -> Result<UsersAnswer, ApiError> {
    require(service, Need::Deployment)?;
    let users = store.users().map_err(store_error)?;
    let users = users
        .into_iter()
        .map(|(id, scopes)| UserEntry { id, scopes })
        .collect();
    Ok(UsersAnswer { users })
}

/// The body of `POST /v1/admin/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    /// The user's id (what a JWT's `sub` would be); not a service's name.
    id: String,
}

/// The answer of `POST /v1/admin/users`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserAdded {
    /// The user's id.
    id: String,
    /// Whether it was created (false: it existed, nothing changed).
    created: bool,
}

/// `POST /v1/admin/users`: adds a user (nothing changes if it exists).
pub(super) fn add_user(
    store: &Store,
    service: &Service,
    body: NewUser,
) -> Result<UserAdded, ApiError> {
    require(service, Need::Deployment)?;
    let created = store.create_user(&body.id).map_err(store_error)?;
    Ok(UserAdded {
        id: body.id,
        created,
    })
}

/// The body of `POST /v1/admin/users/{id}/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    /// Days until it expires (never, when absent).
    ttl_days: Option<u64>,
}

/// The answer of `POST /v1/admin/users/{id}/tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TokenIssued {
    /// The user it authenticates.
    user: String,
    /// The device token: shown here only, the database keeps its hash.
    token: String,
    /// Days until it expires (`null`: never).
    ttl_days: Option<u64>,
}

/// `POST /v1/admin/users/{id}/tokens`: issues a device token for a user; the answer is the only
/// place it is ever seen (the database keeps its hash).
pub(super) fn issue_token(
    store: &Store,
    service: &Service,
    user: &str,
    body: NewToken,
) -> Result<TokenIssued, ApiError> {
    require(service, Need::Deployment)?;
    let ttl = body
        .ttl_days
        .map(|d| Duration::from_secs(d.saturating_mul(86_400)));
    let token = store.issue_token(user, ttl).map_err(store_error)?;
    Ok(TokenIssued {
        user: user.to_string(),
        token,
        ttl_days: body.ttl_days,
    })
}

/// The body of `POST /v1/admin/tokens/revoke`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Revoke {
    /// The token, a device's or a service's (in the body, never in a URL that logs keep).
    token: String,
}

/// The answer of `POST /v1/admin/tokens/revoke`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Revoked {
    /// Whether a token was revoked (false: nobody held it).
    revoked: bool,
}

/// `POST /v1/admin/tokens/revoke`: revokes a device's or a service's token (in the body, never
/// in a URL that logs keep); its live streams end at once.
pub(super) fn revoke_token(
    store: &Store,
    service: &Service,
    body: Revoke,
) -> Result<Revoked, ApiError> {
    require(service, Need::Deployment)?;
    let revoked = store.revoke_token(&body.token).map_err(store_error)?;
    Ok(Revoked { revoked })
}

/// The body of `PUT /v1/admin/scopes/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopeBody {
    /// The scope's (project's) display name.
    name: String,
}

/// The answer of `PUT /v1/admin/scopes/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ScopeWritten {
    /// The scope's id (its project record's key).
    id: String,
    /// Its name.
    name: String,
    /// The project record's version after the write.
    version: i64,
}

/// `PUT /v1/admin/scopes/{id}`: creates a scope (a project) or renames it.
pub(super) fn put_scope(
    store: &Store,
    service: &Service,
    id: &str,
    body: ScopeBody,
) -> Result<ScopeWritten, ApiError> {
    require(service, Need::Deployment)?;
    let version = store.create_project(id, &body.name).map_err(store_error)?;
    Ok(ScopeWritten {
        id: id.to_string(),
        name: body.name,
        version,
    })
}

/// The answer of `PUT` and `DELETE /v1/admin/scopes/{id}/members/{user}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Membership {
    /// The scope.
    scope: String,
    /// The user.
    user: String,
    /// Whether the user is a member now.
    member: bool,
    /// Whether that changed (false: it already was so).
    changed: bool,
}

/// `PUT` (add) or `DELETE` (remove) `/v1/admin/scopes/{id}/members/{user}`: a membership, which
/// decides what the user's devices hold (their next pull brings or removes the scope's records).
pub(super) fn membership(
    store: &Store,
    service: &Service,
    scope: &str,
    user: &str,
    member: bool,
) -> Result<Membership, ApiError> {
    require(service, Need::Scope(scope))?;
    let changed = if member {
        store.add_membership(user, scope)
    } else {
        store.remove_membership(user, scope)
    }
    .map_err(store_error)?;
    Ok(Membership {
        scope: scope.to_string(),
        user: user.to_string(),
        member,
        changed,
    })
}

/// The answer of `GET /v1/admin/services`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ServicesAnswer {
    /// Every service.
    services: Vec<ServiceEntry>,
}

/// A service in [`ServicesAnswer`].
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ServiceEntry {
    /// Its name.
    name: String,
    /// The scopes it was given (empty with `all_scopes`).
    scopes: Vec<String>,
    /// Whether it reaches every scope, present and future.
    all_scopes: bool,
    /// Whether it may only read.
    read_only: bool,
}

/// `GET /v1/admin/services`: every service and what it reaches.
pub(super) fn services(store: &Store, service: &Service) -> Result<ServicesAnswer, ApiError> {
    require(service, Need::Deployment)?;
    let services = store
        .services()
        .map_err(store_error)?
        .into_iter()
        .map(|s| ServiceEntry {
            name: s.name,
            scopes: s.scopes,
            all_scopes: s.all_scopes,
            read_only: s.read_only,
        })
        .collect();
    Ok(ServicesAnswer { services })
}

/// The body of `POST /v1/admin/services`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewService {
    /// Its name: the key rule (1 to 256 bytes, no control characters), not a user's id.
    name: String,
    /// The scopes it reaches (or `all_scopes`; one of the two is required).
    #[serde(default)]
    scopes: Vec<String>,
    /// Whether it reaches every scope, present and future.
    #[serde(default)]
    all_scopes: bool,
    /// Whether it may only read.
    #[serde(default)]
    read_only: bool,
}

/// The answer of `POST /v1/admin/services`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ServiceAdded {
    /// Its name.
    name: String,
    /// Its token: shown here only, the database keeps its hash.
    token: String,
}

/// `POST /v1/admin/services`: adds a service; its token is in the answer only.
pub(super) fn add_service(
    store: &Store,
    service: &Service,
    body: NewService,
) -> Result<ServiceAdded, ApiError> {
    require(service, Need::Deployment)?;
    let token = store
        .add_service(&Service {
            name: body.name.clone(),
            scopes: body.scopes,
            all_scopes: body.all_scopes,
            read_only: body.read_only,
        })
        .map_err(store_error)?;
    Ok(ServiceAdded {
        name: body.name,
        token,
    })
}

/// The answer of `GET /v1/admin/webhook`. One shape for both states (rather than two that
/// a client tells apart by `running`): what exists only once a webhook has run is left out
/// before.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookStatus {
    /// Whether a webhook has a delivery cursor (false: none has run on this database).
    running: bool,
    /// The last position its receiver took.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// The change log's end now.
    log_end: String,
    /// Positions between the cursor and the log's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_positions: Option<i64>,
    /// Age in seconds of the oldest change not delivered yet (0 when none waits).
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_seconds: Option<i64>,
    /// When a batch was last delivered, ms since the epoch (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered_at: Option<i64>,
    /// The instance delivering now (absent: none holds the lease).
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<String>,
}

/// `GET /v1/admin/webhook`: where the webhook's delivery stands (`webhook status`).
pub(super) fn webhook_status(store: &Store, service: &Service) -> Result<WebhookStatus, ApiError> {
    require(service, Need::Deployment)?;
    let (state, end, oldest) = store
        .webhook_status(crate::webhooks::WEBHOOK_NAME)
        .map_err(store_error)?;
    let lag_seconds = oldest.map_or(0, crate::clock::age_secs);
    Ok(match state {
        None => WebhookStatus {
            running: false,
            cursor: None,
            log_end: end.to_string(),
            lag_positions: None,
            lag_seconds: None,
            delivered_at: None,
            holder: None,
        },
        Some(s) => WebhookStatus {
            running: true,
            cursor: Some(s.cursor.to_string()),
            log_end: end.to_string(),
            lag_positions: Some(end - s.cursor),
            lag_seconds: Some(lag_seconds),
            delivered_at: s.delivered_at,
            holder: s.holder,
        },
    })
}

/// The body of `POST /v1/admin/webhook/replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Replay {
    /// The position to deliver after (0: from the start of the log).
    #[schema(minimum = 0)]
    from: i64,
}

/// The answer of `POST /v1/admin/webhook/replay`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Replaying {
    /// The position delivery resumes after, as a cursor string.
    replaying_after: String,
}

/// `POST /v1/admin/webhook/replay`: delivers every change after `from` again (`webhook replay`).
pub(super) fn webhook_replay(
    store: &Store,
    service: &Service,
    body: Replay,
) -> Result<Replaying, ApiError> {
    require(service, Need::Deployment)?;
    if body.from < 0 {
        return Err(ApiError::bad_request("`from` is a position: 0 or more"));
    }
    store
        .webhook_replay(crate::webhooks::WEBHOOK_NAME, body.from)
        .map_err(store_error)?;
    Ok(Replaying {
        replaying_after: body.from.to_string(),
    })
}
