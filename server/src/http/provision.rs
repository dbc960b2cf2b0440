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
use serde::Deserialize;
use serde_json::{json, Value as Json};
use syncline_protocol::codes;

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

/// `GET /v1/admin/users`: every user and how many scopes each is a member of.
pub(super) fn users(store: &Store, service: &Service) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let users = store.users().map_err(store_error)?;
    let users: Vec<Json> = users
        .into_iter()
        .map(|(id, scopes)| json!({"id": id, "scopes": scopes}))
        .collect();
    Ok(json!({ "users": users }))
}

/// The body of `POST /v1/admin/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    id: String,
}

/// `POST /v1/admin/users`: adds a user (nothing changes if it exists).
pub(super) fn add_user(store: &Store, service: &Service, body: NewUser) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let created = store.create_user(&body.id).map_err(store_error)?;
    Ok(json!({"id": body.id, "created": created}))
}

/// The body of `POST /v1/admin/users/{id}/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    /// Days until it expires (never, when absent).
    ttl_days: Option<u64>,
}

/// `POST /v1/admin/users/{id}/tokens`: issues a device token for a user; the answer is the only
/// place it is ever seen (the database keeps its hash).
pub(super) fn issue_token(
    store: &Store,
    service: &Service,
    user: &str,
    body: NewToken,
) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let ttl = body
        .ttl_days
        .map(|d| Duration::from_secs(d.saturating_mul(86_400)));
    let token = store.issue_token(user, ttl).map_err(store_error)?;
    Ok(json!({"user": user, "token": token, "ttl_days": body.ttl_days}))
}

/// The body of `POST /v1/admin/tokens/revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Revoke {
    token: String,
}

/// `POST /v1/admin/tokens/revoke`: revokes a device's or a service's token (in the body, never
/// in a URL that logs keep); its live streams end at once.
pub(super) fn revoke_token(
    store: &Store,
    service: &Service,
    body: Revoke,
) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let revoked = store.revoke_token(&body.token).map_err(store_error)?;
    Ok(json!({ "revoked": revoked }))
}

/// The body of `PUT /v1/admin/scopes/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopeBody {
    name: String,
}

/// `PUT /v1/admin/scopes/{id}`: creates a scope (a project) or renames it.
pub(super) fn put_scope(
    store: &Store,
    service: &Service,
    id: &str,
    body: ScopeBody,
) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let version = store.create_project(id, &body.name).map_err(store_error)?;
    Ok(json!({"id": id, "name": body.name, "version": version}))
}

/// `PUT` (add) or `DELETE` (remove) `/v1/admin/scopes/{id}/members/{user}`: a membership, which
/// decides what the user's devices hold (their next pull brings or removes the scope's records).
pub(super) fn membership(
    store: &Store,
    service: &Service,
    scope: &str,
    user: &str,
    member: bool,
) -> Result<Json, ApiError> {
    require(service, Need::Scope(scope))?;
    let changed = if member {
        store.add_membership(user, scope)
    } else {
        store.remove_membership(user, scope)
    }
    .map_err(store_error)?;
    Ok(json!({"scope": scope, "user": user, "member": member, "changed": changed}))
}

/// `GET /v1/admin/services`: every service and what it reaches.
pub(super) fn services(store: &Store, service: &Service) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let services: Vec<Json> = store
        .services()
        .map_err(store_error)?
        .into_iter()
        .map(|s| {
            json!({"name": s.name, "scopes": s.scopes, "all_scopes": s.all_scopes,
                   "read_only": s.read_only})
        })
        .collect();
    Ok(json!({ "services": services }))
}

/// The body of `POST /v1/admin/services`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewService {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    all_scopes: bool,
    #[serde(default)]
    read_only: bool,
}

/// `POST /v1/admin/services`: adds a service; its token is in the answer only.
pub(super) fn add_service(
    store: &Store,
    service: &Service,
    body: NewService,
) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let token = store
        .add_service(&Service {
            name: body.name.clone(),
            scopes: body.scopes,
            all_scopes: body.all_scopes,
            read_only: body.read_only,
        })
        .map_err(store_error)?;
    Ok(json!({"name": body.name, "token": token}))
}

/// `GET /v1/admin/webhook`: where the webhook's delivery stands (`webhook status`).
pub(super) fn webhook_status(store: &Store, service: &Service) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    let (state, end, oldest) = store
        .webhook_status(crate::webhooks::WEBHOOK_NAME)
        .map_err(store_error)?;
    let lag_seconds = oldest.map_or(0, crate::clock::age_secs);
    Ok(match state {
        None => json!({"running": false, "log_end": end.to_string()}),
        Some(s) => json!({
            "running": true,
            "cursor": s.cursor.to_string(),
            "log_end": end.to_string(),
            "lag_positions": end - s.cursor,
            "lag_seconds": lag_seconds,
            "delivered_at": s.delivered_at,
            "holder": s.holder,
        }),
    })
}

/// The body of `POST /v1/admin/webhook/replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Replay {
    from: i64,
}

/// `POST /v1/admin/webhook/replay`: delivers every change after `from` again (`webhook replay`).
pub(super) fn webhook_replay(
    store: &Store,
    service: &Service,
    body: Replay,
) -> Result<Json, ApiError> {
    require(service, Need::Deployment)?;
    if body.from < 0 {
        return Err(ApiError::bad_request("`from` is a position: 0 or more"));
    }
    store
        .webhook_replay(crate::webhooks::WEBHOOK_NAME, body.from)
        .map_err(store_error)?;
    Ok(json!({"replaying_after": body.from.to_string()}))
}
