//! The backend's change feed (`GET /v1/admin/changes`, docs/backend.md): every change to the
//! records a service reaches, in change-log order, after a cursor, with all fields (server-only
//! ones included), who made it, from which client and when.
//!
//! It reads the change log as a pull does: write transactions take their positions in commit
//! order (`store/positions.rs`), so a range scan after a cursor never skips a change, on either
//! database and with any number of instances. Like a pull it sees each record's latest state:
//! a record changed twice since the cursor is one change, at its newer position.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value as Json};

use crate::db::{Next, Param, Tx};
use crate::error::StoreError;
use crate::pull::{parse_cursor, PullError};
use crate::store::{Service, Store};

/// Most changes one answer carries.
pub const MAX_FEED_LIMIT: usize = 1000;

/// What a consumer asks for.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// Changes after this cursor (`None`: from the start of the log).
    pub after: Option<String>,
    /// Only this entity's changes.
    pub entity: Option<String>,
    /// Only this scope's changes (one the service reaches).
    pub scope: Option<String>,
    /// At most this many (clamped to 1..=[`MAX_FEED_LIMIT`]).
    pub limit: usize,
}

/// Why a feed request was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The entity is not served.
    #[error("the server has no entity `{0}`")]
    UnknownEntity(String),
    /// The scope asked for is not one the service reaches.
    #[error("the service {service} does not reach the scope {scope}")]
    Forbidden {
        /// The service.
        service: String,
        /// The scope it asked for.
        scope: String,
    },
    /// The cursor is not one this server hands out.
    #[error("malformed cursor `{0}`")]
    BadCursor(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One change: a record's state at its position in the log. Serialized as the feed and the
/// webhooks write it (docs/backend.md), and described by that same derive in the OpenAPI
/// document, so the two cannot part.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// Its position in the change log (a cursor to resume after it), as a cursor string, as
    /// pulls write cursors.
    #[serde(serialize_with = "as_string")]
    #[schema(value_type = String)]
    pub position: i64,
    /// The entity.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// What happened to the record.
    pub op: FeedOp,
    /// The record's version after it.
    pub version: i64,
    /// The record's scope.
    pub scope: String,
    /// All its fields, server-only ones included (none for a delete).
    #[schema(value_type = std::collections::BTreeMap<String, serde_json::Value>)]
    pub fields: Map<String, Json>,
    /// Who made it: a user or a service (`None`: the server, or a change from before the server
    /// recorded it).
    pub author: Option<String>,
    /// The device (client id) it came from, if a device made it.
    pub client_id: Option<String>,
    /// When the server applied it, ms since the epoch (`None` before the server recorded it).
    pub at: Option<i64>,
}

/// What a change did to a record, as the service sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedOp {
    /// Created (version 1).
    Insert,
    /// Changed.
    Update,
    /// Deleted (a tombstone; no fields).
    Delete,
    /// Moved to a scope this service (or the asked `scope`) does not reach: for this consumer it
    /// is gone, as a pull's tombstone says to a device. `scope` is the scope it left; no fields.
    MovedOut,
}

impl Change {
    /// The change as the feed and the webhooks write it (docs/backend.md): the position as a
    /// cursor string, as pulls write cursors.
    pub fn to_json(&self) -> Json {
        // Strings, numbers and a map of JSON values: nothing in it can fail to serialize.
        serde_json::to_value(self).unwrap_or(Json::Null)
    }
}

/// Writes a log position as the cursor string pulls use.
fn as_string<S: Serializer>(position: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(position)
}

/// One answer of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesPage {
    /// The changes, in log order.
    pub changes: Vec<Change>,
    /// Where to resume: after the last change, or after everything the answer looked at.
    pub cursor: i64,
    /// Whether more changes were there than the limit let through.
    pub has_more: bool,
}

/// The records after a position, filtered by entity, scope and the service's scopes (`?4`: 1
/// when it has every scope, else its scopes are read from `service_scopes`). The casts give
/// PostgreSQL the parameters' types where `IS NULL` alone cannot.
const CHANGES_SQL: &str = "SELECT position, entity, key, scope, version, deleted, data, author,
           writer, changed_at
    FROM records
    WHERE position > ?1
      AND (CAST(?2 AS TEXT) IS NULL OR entity = ?2)
      AND (CAST(?3 AS TEXT) IS NULL OR scope = ?3)
      AND (CAST(?4 AS BIGINT) = 1 OR scope IN (SELECT scope FROM service_scopes WHERE name = ?5))
    ORDER BY position LIMIT ?6";

/// Records that moved out of the scopes the consumer sees (the service's, or the one `scope`
/// it asked for) after the position, and are not visible in another of them: the departure
/// each move left behind (`records.rs`), latest per record, with the move's author and time
/// when the record has not changed since. The same parameters as [`CHANGES_SQL`].
const MOVED_OUT_SQL: &str = "SELECT d.position, d.entity, d.key, d.old_scope, d.version,
           r.author, r.writer, r.changed_at
    FROM departures d
    LEFT JOIN records r ON r.entity = d.entity AND r.key = d.key AND r.position = d.position
    WHERE d.position > ?1
      AND (CAST(?2 AS TEXT) IS NULL OR d.entity = ?2)
      AND (CAST(?3 AS TEXT) IS NULL OR d.old_scope = ?3)
      AND (CAST(?4 AS BIGINT) = 1 OR d.old_scope IN (SELECT scope FROM service_scopes WHERE name = ?5))
      AND NOT EXISTS (SELECT 1 FROM records v WHERE v.entity = d.entity AND v.key = d.key
            AND (CAST(?3 AS TEXT) IS NULL OR v.scope = ?3)
            AND (CAST(?4 AS BIGINT) = 1 OR v.scope IN (SELECT scope FROM service_scopes WHERE name = ?5)))
      AND d.position = (SELECT MAX(d2.position) FROM departures d2
            WHERE d2.entity = d.entity AND d2.key = d.key
              AND (CAST(?3 AS TEXT) IS NULL OR d2.old_scope = ?3)
              AND (CAST(?4 AS BIGINT) = 1 OR d2.old_scope IN (SELECT scope FROM service_scopes WHERE name = ?5)))
    ORDER BY d.position LIMIT ?6";

impl Store {
    /// One page of the change feed for `service`.
    pub fn changes(&self, service: &Service, q: &FeedQuery) -> Result<ChangesPage, FeedError> {
        let after = parse_cursor(q.after.as_deref()).map_err(|e| match e {
            PullError::BadCursor(c) => FeedError::BadCursor(c),
            other => FeedError::BadCursor(other.to_string()),
        })?;
        if let Some(entity) = &q.entity {
            if self.ent(entity).is_none() {
                return Err(FeedError::UnknownEntity(entity.clone()));
            }
        }
        if let Some(scope) = &q.scope {
            if !service.reaches(scope) {
                return Err(FeedError::Forbidden {
                    service: service.name.clone(),
                    scope: scope.clone(),
                });
            }
        }
        let limit = q.limit.clamp(1, MAX_FEED_LIMIT);
        self.with_reader(|tx| self.read_changes(tx, service, q, after, limit))
    }

    fn read_changes(
        &self,
        tx: &mut dyn Tx,
        service: &Service,
        q: &FeedQuery,
        after: i64,
        limit: usize,
    ) -> Result<ChangesPage, FeedError> {
        // The log's end in the same snapshot: with nothing (more) to report, the consumer may
        // resume from there, past changes it does not reach.
        let end = tx
            .query_opt(
                "SELECT value FROM counters WHERE name = 'position'",
                &[],
                |r| r.int(0),
            )?
            .unwrap_or(0);
        // One more than the limit from each list, to tell whether more are waiting: the first
        // `limit` of the two merged in log order are then all there are up to the last of them.
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let params = [
            Param::Int(after),
            Param::OptText(q.entity.as_deref()),
            Param::OptText(q.scope.as_deref()),
            Param::Int(i64::from(service.all_scopes)),
            Param::Text(&service.name),
            Param::Int(fetch),
        ];
        let mut changes = Vec::new();
        tx.query(CHANGES_SQL, &params, &mut |r| {
            let entity = r.text(1)?.to_string();
            let deleted = r.bool(5)?;
            let version = r.int(4)?;
            let fields = match (deleted, self.ent(&entity)) {
                (false, Some(ent)) => {
                    let data: Vec<Json> = serde_json::from_str(r.text(6)?)?;
                    ent.fields_of(&data)
                }
                _ => Map::new(),
            };
            changes.push(Change {
                position: r.int(0)?,
                entity,
                key: r.text(2)?.to_string(),
                op: match (deleted, version) {
                    (true, _) => FeedOp::Delete,
                    (false, 1) => FeedOp::Insert,
                    (false, _) => FeedOp::Update,
                },
                version,
                scope: r.text(3)?.to_string(),
                fields,
                author: r.opt_text(7)?.map(str::to_string),
                client_id: r.opt_text(8)?.map(str::to_string),
                at: r.opt_int(9)?,
            });
            Ok(Next::Continue)
        })?;
        // An all-scopes consumer sees every record wherever it moves: nothing leaves its sight.
        if !(service.all_scopes && q.scope.is_none()) {
            tx.query(MOVED_OUT_SQL, &params, &mut |r| {
                changes.push(Change {
                    position: r.int(0)?,
                    entity: r.text(1)?.to_string(),
                    key: r.text(2)?.to_string(),
                    op: FeedOp::MovedOut,
                    version: r.int(4)?,
                    scope: r.text(3)?.to_string(),
                    fields: Map::new(),
                    author: r.opt_text(5)?.map(str::to_string),
                    client_id: r.opt_text(6)?.map(str::to_string),
                    at: r.opt_int(7)?,
                });
                Ok(Next::Continue)
            })?;
            changes.sort_unstable_by_key(|c| c.position);
        }
        let has_more = changes.len() > limit;
        changes.truncate(limit);
        let cursor = match (has_more, changes.last()) {
            (true, Some(last)) => last.position,
            _ => end.max(after),
        };
        Ok(ChangesPage {
            changes,
            cursor,
            has_more,
        })
    }
}
