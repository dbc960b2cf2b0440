//! The backend API (`/v1/admin/…`, docs/backend.md): the office's systems, authenticated as
//! services (`syncline-server service add`), reading what devices cannot, server-only fields
//! included, within the scopes each service was given. The route and its authentication are in
//! `http/mod.rs`; this module does the work.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use syncline_protocol::codes;
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::error::StoreError;
use crate::feed::{Change, ChangesPage, FeedError, FeedQuery, MAX_FEED_LIMIT};
use crate::store::{Service, ServiceWrite, Store, WriteError, WriteKind, Written};

/// The longest a change-feed request waits for a change (`wait`, seconds).
const MAX_WAIT_SECS: u64 = 60;

/// The change feed's query string.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ChangesQuery {
    /// Changes after this cursor (an answer's `cursor`); from the start of the log without it.
    after: Option<String>,
    /// Only this entity's changes.
    entity: Option<String>,
    /// Only this scope's changes (one the service reaches, else 403).
    scope: Option<String>,
    /// At most this many changes, 1 to 1,000 (1,000 without it).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Seconds to wait for a change when there is none yet (a long poll), 0..=60.
    #[param(maximum = 60)]
    wait: Option<u64>,
}

/// The answer of `GET /v1/admin/changes`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChangesAnswer {
    /// The changes, in change-log order.
    changes: Vec<Change>,
    /// Where to resume: pass it as the next `after`.
    cursor: String,
    /// Whether more changes are waiting after `cursor` (ask again at once).
    has_more: bool,
}

/// `GET /v1/admin/changes`: the change feed (`crate::feed`) as a long poll. With nothing to
/// report yet and `wait` > 0, the request sleeps until a commit wakes it (the same wake-up as
/// the devices' live streams: in the process on SQLite, LISTEN/NOTIFY across instances on
/// PostgreSQL), never polling the database on a timer, and answers with what came, or with
/// nothing once `wait` is over.
pub(super) async fn changes(
    store: Store,
    service: Service,
    q: ChangesQuery,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> Result<ChangesAnswer, ApiError> {
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let deadline = Instant::now() + wait;
    let query = FeedQuery {
        after: q.after,
        entity: q.entity,
        scope: q.scope,
        limit: q.limit.unwrap_or(MAX_FEED_LIMIT),
    };
    // Subscribed before the first read: a commit between the read and the wait still wakes it.
    let mut woken = store.hub().subscribe();
    loop {
        let (s, sv, fq) = (store.clone(), service.clone(), query.clone());
        let page = match tokio::task::spawn_blocking(move || s.changes(&sv, &fq)).await {
            Ok(page) => page.map_err(feed_error)?,
            Err(e) => return Err(ApiError::internal(format!("the feed's read failed: {e}"))),
        };
        if !page.changes.is_empty() || Instant::now() >= deadline || *closing.borrow() {
            return Ok(page_json(page));
        }
        let woke = tokio::select! {
            woke = tokio::time::timeout_at(deadline, woken.recv()) => woke,
            // The server is shutting down: answer what there is, the consumer asks again.
            _ = closing.changed() => return Ok(page_json(page)),
        };
        match woke {
            // Woken (or fell behind the hub: read again either way).
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            // Out of time, or the store is closing: answer what there is.
            Err(_) | Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                return Ok(page_json(page));
            }
        }
    }
}

fn feed_error(e: FeedError) -> ApiError {
    match e {
        FeedError::UnknownEntity(_) => {
            ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_ENTITY, e.to_string())
        }
        FeedError::Forbidden { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, e.to_string())
        }
        FeedError::BadCursor(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, e.to_string())
        }
        FeedError::Store(s) => ApiError::internal(s),
    }
}

/// The feed's answer: positions and the cursor as strings, as pulls write cursors.
fn page_json(page: ChangesPage) -> ChangesAnswer {
    ChangesAnswer {
        changes: page.changes,
        cursor: page.cursor.to_string(),
        has_more: page.has_more,
    }
}

/// The path prefix of every backend route.
pub(super) const PREFIX: &str = "/v1/admin";

/// The answer of `GET /v1/admin/records/{entity}/{key}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RecordAnswer {
    /// The entity.
    entity: String,
    /// The record's key.
    key: String,
    /// Its version (1 on creation, +1 per change, the deletion included).
    version: i64,
    /// Whether it is deleted (a tombstone, with no fields).
    deleted: bool,
    /// The scope (project) it belongs to.
    scope: String,
    /// Its change-log position: a cursor string, as pulls write it.
    position: String,
    /// Every field, server-only ones included.
    #[schema(value_type = std::collections::BTreeMap<String, serde_json::Value>)]
    fields: serde_json::Map<String, Json>,
}

/// `GET /v1/admin/records/{entity}/{key}`: one record with all its fields (server-only ones
/// included), its version, scope and change-log position; a tombstone says `"deleted": true`.
/// 404 when there is no such entity or record, 403 when the record's scope is not the
/// service's.
pub(super) fn record(
    store: &Store,
    service: &Service,
    entity: &str,
    key: &str,
) -> Result<RecordAnswer, ApiError> {
    let found = store.get_record(entity, key).map_err(|e| match e {
        StoreError::UnknownEntity(_) => {
            ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_ENTITY, e.to_string())
        }
        other => ApiError::internal(other),
    })?;
    let Some(record) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no {entity} record has the key {key:?}"),
        ));
    };
    if !service.reaches(&record.scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!(
                "the service {} does not reach the scope {}",
                service.name, record.scope
            ),
        ));
    }
    Ok(RecordAnswer {
        entity: entity.to_string(),
        key: record.key,
        version: record.version,
        deleted: record.deleted,
        scope: record.scope,
        position: record.position.to_string(),
        fields: record.fields,
    })
}

/// The body of `PUT` and `PATCH /v1/admin/records/{entity}/{key}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RecordBody {
    /// The fields to write (every field, read-only and server-only ones included).
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, serde_json::Value>)]
    fields: serde_json::Map<String, Json>,
    /// Write only if the record is at this version now (0: only if it does not exist).
    if_version: Option<i64>,
}

/// The query string of `DELETE /v1/admin/records/{entity}/{key}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeleteQuery {
    /// Delete only if the record is at this version now.
    if_version: Option<i64>,
}

/// One operation of `POST /v1/admin/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchOp {
    /// `upsert`, `patch` or `delete` (as `PUT`, `PATCH` and `DELETE` of a record).
    #[schema(pattern = "^(upsert|patch|delete)$")]
    op: String,
    /// The entity.
    entity: String,
    /// The record's key.
    key: String,
    /// The fields to write (none for a delete).
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, serde_json::Value>)]
    fields: serde_json::Map<String, Json>,
    /// Apply only if the record is at this version now (0: only if it does not exist).
    if_version: Option<i64>,
}

/// The body of `POST /v1/admin/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchBody {
    /// Up to 1,000 operations, applied in order in one transaction: all or none.
    operations: Vec<BatchOp>,
}

/// What one write did: the answer of a record's `PUT`, `PATCH` and `DELETE`, and each result of
/// a batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct WrittenAnswer {
    /// The entity.
    entity: String,
    /// The record's key.
    key: String,
    /// The record's version after the write.
    version: i64,
    /// Whether the record is now a tombstone.
    deleted: bool,
}

/// The answer of `POST /v1/admin/batch`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct BatchAnswer {
    /// One per operation, in the request's order.
    results: Vec<WrittenAnswer>,
}

/// `PUT` (upsert) or `PATCH` (patch) `/v1/admin/records/{entity}/{key}`: one write; answers
/// the record's new version.
pub(super) fn write_record(
    store: &Store,
    service: &Service,
    kind: WriteKind,
    entity: String,
    key: String,
    body: RecordBody,
) -> Result<WrittenAnswer, ApiError> {
    let write = ServiceWrite {
        kind,
        entity,
        key,
        fields: body.fields,
        if_version: body.if_version,
    };
    one(store, service, write)
}

/// `DELETE /v1/admin/records/{entity}/{key}`: leaves a tombstone.
pub(super) fn delete_record(
    store: &Store,
    service: &Service,
    entity: String,
    key: String,
    q: DeleteQuery,
) -> Result<WrittenAnswer, ApiError> {
    let write = ServiceWrite {
        kind: WriteKind::Delete,
        entity,
        key,
        fields: serde_json::Map::new(),
        if_version: q.if_version,
    };
    one(store, service, write)
}

fn one(store: &Store, service: &Service, write: ServiceWrite) -> Result<WrittenAnswer, ApiError> {
    let text = store
        .service_write(service, std::slice::from_ref(&write), None, &|w| {
            w.first()
                .map(written_json)
                .unwrap_or(Json::Null)
                .to_string()
        })
        .map_err(write_error)?;
    serde_json::from_str(&text).map_err(ApiError::internal)
}

/// `POST /v1/admin/batch`: up to 1,000 operations in one transaction, all or nothing; under an
/// `Idempotency-Key`, a retry of the same request gets the first answer and writes nothing.
pub(super) fn batch(
    store: &Store,
    service: &Service,
    idempotency_key: Option<String>,
    body: BatchBody,
) -> Result<BatchAnswer, ApiError> {
    // The request's fingerprint, for the Idempotency-Key: its operations, canonical JSON.
    let mut writes = Vec::with_capacity(body.operations.len());
    let mut fingerprint = Vec::with_capacity(body.operations.len());
    for (index, op) in body.operations.into_iter().enumerate() {
        let kind = match op.op.as_str() {
            "upsert" => WriteKind::Upsert,
            "patch" => WriteKind::Patch,
            "delete" => WriteKind::Delete,
            other => {
                return Err(ApiError::bad_request(format!(
                    "operation {index}: `op` is upsert, patch or delete, not {other:?}"
                )))
            }
        };
        fingerprint.push(json!([op.op, op.entity, op.key, op.fields, op.if_version]));
        writes.push(ServiceWrite {
            kind,
            entity: op.entity,
            key: op.key,
            fields: op.fields,
            if_version: op.if_version,
        });
    }
    let fingerprint = Json::Array(fingerprint).to_string();
    let idempotency = idempotency_key
        .as_deref()
        .map(|k| (k, fingerprint.as_str()));
    let text = store
        .service_write(service, &writes, idempotency, &|written| {
            json!({"results": written.iter().map(written_json).collect::<Vec<_>>()}).to_string()
        })
        .map_err(write_error)?;
    serde_json::from_str(&text).map_err(ApiError::internal)
}

fn written_json(w: &Written) -> Json {
    json!(WrittenAnswer {
        entity: w.entity.clone(),
        key: w.key.clone(),
        version: w.version,
        deleted: w.deleted,
    })
}

fn write_error(e: WriteError) -> ApiError {
    let message = e.to_string();
    match e {
        WriteError::ReadOnly(_) | WriteError::Forbidden { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
        }
        WriteError::TooMany(_) => ApiError::bad_request(message),
        WriteError::UnknownEntity { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, codes::UNKNOWN_ENTITY, message)
        }
        WriteError::UnknownField { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, codes::UNKNOWN_FIELD, message)
        }
        WriteError::Invalid { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_VALUE, message)
        }
        WriteError::NotFound { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
        }
        WriteError::VersionConflict { current, .. } => {
            ApiError::new(StatusCode::CONFLICT, codes::VERSION_CONFLICT, message)
                .with_current_version(current)
        }
        WriteError::IdempotencyKeyReused(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::IDEMPOTENCY_KEY_REUSED,
            message,
        ),
        WriteError::Store(s) => ApiError::internal(s),
    }
}
