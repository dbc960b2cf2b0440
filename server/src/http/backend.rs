//! The backend API (`/v1/admin/…`, docs/backend.md): the office's systems, authenticated as
//! services (`syncline-server service add`), reading what devices cannot, server-only fields
//! included, within the scopes each service was given. The route and its authentication are in
//! `http/mod.rs`; this module does the work.

use axum::http::StatusCode;
use serde_json::{json, Value as Json};
use syncline_protocol::codes;

use super::error::ApiError;
use crate::error::StoreError;
use crate::store::{Service, Store};

/// The path prefix of every backend route.
pub(super) const PREFIX: &str = "/v1/admin";

/// `GET /v1/admin/records/{entity}/{key}`: one record with all its fields (server-only ones
/// included), its version, scope and change-log position; a tombstone says `"deleted": true`.
/// 404 when there is no such entity or record, 403 when the record's scope is not the
/// service's.
pub(super) fn record(
    store: &Store,
    service: &Service,
    entity: &str,
    key: &str,
) -> Result<Json, ApiError> {
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
    Ok(json!({
        "entity": entity,
        "key": record.key,
        "version": record.version,
        "deleted": record.deleted,
        "scope": record.scope,
        "position": record.position.to_string(),
        "fields": record.fields,
    }))
}
