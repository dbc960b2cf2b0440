//! The wire protocol, version 1: request and response bodies, serde only. `docs/protocol.md` is
//! the specification; this module is its executable form, shared by the client and the server.

use serde::{Deserialize, Serialize};

/// Path prefix of every endpoint of this protocol version.
pub const PREFIX: &str = "/v1";
/// Push endpoint: `POST /v1/push` with a [`PushRequest`].
pub const PUSH_PATH: &str = "/v1/push";
/// Pull endpoint: `POST /v1/pull` with a [`PullRequest`].
pub const PULL_PATH: &str = "/v1/pull";
/// Who-am-I endpoint: `GET /v1/me`, answers [`Me`]; doubles as the reachability probe.
pub const ME_PATH: &str = "/v1/me";
/// Live stream: `GET /v1/live?heartbeat=<seconds>`, server-sent events of hints.
pub const LIVE_PATH: &str = "/v1/live";

/// Most mutations the server takes in one push.
pub const MAX_PUSH_MUTATIONS: usize = 500;
/// Largest page the server returns, whatever the client asks.
pub const MAX_PULL_LIMIT: u32 = 5000;
/// Largest request body the server reads, in bytes (after decompression).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Field values in their wire form: a JSON object of name to value.
pub type WireFields = serde_json::Map<String, serde_json::Value>;

/// What a mutation does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Op {
    /// Create the record with the given fields.
    Insert,
    /// Change only the given fields.
    Update,
    /// Delete the record (leaves a tombstone for other devices).
    Delete,
}

impl Op {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "insert" => Some(Op::Insert),
            "update" => Some(Op::Update),
            "delete" => Some(Op::Delete),
            _ => None,
        }
    }
}

/// What the server does when the record changed since the version the edit was made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OnConflict {
    /// Apply the changed fields over the server's record (last write wins, field by field) and
    /// say in the result that it overwrote a newer version.
    #[default]
    Overwrite,
    /// Apply nothing; answer `conflict` with the server's current record.
    Report,
}

/// One local change, as recorded in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mutation {
    /// Unique id the client gave this change (UUID).
    pub mutation_id: String,
    /// The client's sequence number for it: strictly increasing per client.
    pub seq: u64,
    /// Entity name.
    pub entity: String,
    /// Record key.
    pub key: String,
    /// What it does.
    pub op: Op,
    /// The changed fields (all fields for an insert, none for a delete).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, serde_json::Value>))]
    pub fields: WireFields,
    /// The server version the edit was made on; `None` for a record the server has not seen.
    #[serde(default)]
    pub base_version: Option<i64>,
    /// What the server does if the record changed since `base_version`.
    #[serde(default)]
    pub on_conflict: OnConflict,
}

/// `POST /v1/push` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    /// The device's client id (UUID), bound to the user on first use.
    pub client_id: String,
    /// Mutations in increasing `seq` order.
    pub mutations: Vec<Mutation>,
}

/// `POST /v1/push` answer: one result per mutation, in the request's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// One per mutation sent, in the request's order.
    pub results: Vec<MutationResult>,
}

/// The fate of one mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MutationResult {
    /// The mutation's id.
    pub mutation_id: String,
    /// The mutation's sequence number.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What happened to a mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// Applied; the record is now at `version`.
    Applied {
        /// The record's new version.
        version: i64,
        /// Set when the edit was made on an older version and overwrote a newer one (last write
        /// wins): the version it overwrote.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overwrote: Option<i64>,
    },
    /// Not applied because the record changed since `base_version` (only with `on_conflict: report`).
    Conflict {
        /// The server's current record (`None` if it was deleted).
        current: Option<WireRecord>,
    },
    /// Refused; retrying the same mutation will fail the same way.
    Rejected {
        /// A stable code (see `docs/protocol.md`).
        code: String,
        /// A human-readable reason.
        message: String,
    },
}

/// A whole record on the wire (used in conflict results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WireRecord {
    /// Record key.
    pub key: String,
    /// The record's version on the server.
    pub version: i64,
    /// All of its fields (the server does not know which ones a device keeps).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, serde_json::Value>))]
    pub fields: WireFields,
}

/// `POST /v1/pull` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullRequest {
    /// Entity to pull.
    pub entity: String,
    /// Where the previous page ended; `None` for everything.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Most rows wanted (the server caps it at [`MAX_PULL_LIMIT`]).
    pub limit: u32,
    /// The fields the client keeps; the answer carries exactly these, in this order.
    pub fields: Vec<String>,
}

/// `POST /v1/pull` answer: one page of changes after the cursor, visible to the user.
///
/// Field names appear once, in `fields`; each upsert is an array
/// `[key, version, value of fields[0], value of fields[1], …]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullPage {
    /// The entity the page is of.
    pub entity: String,
    /// Column order of the values in each upsert (after key and version).
    pub fields: Vec<String>,
    /// Created or changed records: `[key, version, values…]`.
    pub upserts: Vec<Vec<serde_json::Value>>,
    /// Deleted records (or records that left the user's scope): `[key, version]`.
    pub tombstones: Vec<(String, i64)>,
    /// Cursor to send for the next page; store it with the page's data.
    pub cursor: String,
    /// Whether more changes remain after `cursor`.
    pub has_more: bool,
}

/// `GET /v1/me` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The authenticated user's id.
    pub user_id: String,
}

/// Body of every error answer: `{"error": {"code": …, "message": …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Its code and message.
    pub error: ErrorDetail,
}

/// The error inside an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A stable code (see `docs/protocol.md`).
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// The request's id (the `x-request-id` header, the client's own when it sent a sane one):
    /// what a user quotes to an operator to find the server's log line. Absent from older
    /// servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The record's version now, in a `409 version_conflict` of the backend API (a write checked
    /// with `if_version` against a record that moved on). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

/// Stable error and rejection codes.
pub mod codes {
    /// No token, or one the server does not know or that was revoked (HTTP 401).
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The token's lifetime is over (HTTP 401).
    pub const TOKEN_EXPIRED: &str = "token_expired";
    /// The body is not valid for this endpoint (HTTP 400).
    pub const BAD_REQUEST: &str = "bad_request";
    /// The entity does not exist on the server (HTTP 400 for pull, rejection for push).
    pub const UNKNOWN_ENTITY: &str = "unknown_entity";
    /// A field does not exist on the entity, or is server-only: clients cannot tell the two
    /// apart (HTTP 400 for pull, rejection for push).
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// A value does not have the field's type (rejection).
    pub const INVALID_VALUE: &str = "invalid_value";
    /// The record is outside the user's scope, or the client id belongs to another user.
    pub const FORBIDDEN: &str = "forbidden";
    /// The record does not exist (rejection of an update or delete).
    pub const NOT_FOUND: &str = "not_found";
    /// The entity cannot be written by clients (rejection).
    pub const READ_ONLY: &str = "read_only";
    /// A push names a field clients may not write: read-only for clients, or set by the server
    /// (a comment's author, a creation time). Rejection; nothing of the mutation is applied.
    pub const READ_ONLY_FIELD: &str = "read_only_field";
    /// The entity's records cannot be changed or deleted once created (rejection).
    pub const APPEND_ONLY: &str = "append_only";
    /// The mutation itself is invalid (a delete with fields, a replayed seq whose result is no
    /// longer kept).
    pub const INVALID_MUTATION: &str = "invalid_mutation";
    /// The record key breaks the key rule ([`crate::key_problem`]: 1 to 256 bytes, no control
    /// characters); rejection of that mutation alone.
    pub const INVALID_KEY: &str = "invalid_key";
    /// The start of the code of a mutation the office's write rules refused: `rule:` and the
    /// office's own code (`rule:due_in_past`); the rejection's message is the office's own
    /// words, meant for the user (`docs/backend.md`, "Write rules"). See [`office_code`].
    pub const RULE_PREFIX: &str = "rule:";
    /// The office's write rules could not be asked (their endpoint timed out, failed or answered
    /// nonsense) and the entity's policy is `fail_closed` (HTTP 503 for the whole push, with
    /// `Retry-After`): nothing was applied; send the same push again later.
    pub const RULES_UNAVAILABLE: &str = "rules_unavailable";
    /// The request body is over the size limit (HTTP 413).
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// The server failed (HTTP 500); retry later.
    pub const INTERNAL: &str = "internal";
    /// Too many requests from this user or address (HTTP 429); retry after `Retry-After`.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The server is at its limit of concurrent pulls (HTTP 503); retry after `Retry-After`.
    pub const BUSY: &str = "busy";
    /// A backend write checked with `if_version` found the record at another version (HTTP
    /// 409, with `current_version`); nothing of the call was applied.
    pub const VERSION_CONFLICT: &str = "version_conflict";
    /// An `Idempotency-Key` came again with a different request (HTTP 422).
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    /// This user or this instance holds as many live streams as it allows (HTTP 429); retry
    /// after `Retry-After`, on any instance.
    pub const TOO_MANY_STREAMS: &str = "too_many_streams";
    /// An upload announces a blob over the server's size limit (HTTP 413; rejection of a
    /// mutation whose attachment could never be uploaded).
    pub const BLOB_TOO_LARGE: &str = "blob_too_large";
    /// The upload would take the user over their storage quota (HTTP 413).
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// The bytes of a completed upload do not hash to its announced name (HTTP 422): it is
    /// dropped, and the file is sent again from its start.
    pub const HASH_MISMATCH: &str = "hash_mismatch";
    /// A range was sent at another offset than the upload has (HTTP 409); the answer's
    /// `Upload-Offset` says where to go on from.
    pub const WRONG_OFFSET: &str = "wrong_offset";
    /// An upload was completed before all its bytes arrived (HTTP 409).
    pub const UPLOAD_INCOMPLETE: &str = "upload_incomplete";
    /// A pushed mutation references an attachment whose blob the server does not hold
    /// (rejection): the blob must be uploaded first.
    pub const MISSING_BLOB: &str = "missing_blob";

    /// The office's own code when `code` is a refusal by its write rules ([`RULE_PREFIX`]).
    ///
    /// ```
    /// use syncline_protocol::codes::office_code;
    /// assert_eq!(office_code("rule:due_in_past"), Some("due_in_past"));
    /// assert_eq!(office_code("forbidden"), None);
    /// ```
    pub fn office_code(code: &str) -> Option<&str> {
        code.strip_prefix(RULE_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_bodies_carry_an_optional_request_id() {
        // An older server's body (no id) still decodes, and no id means no key on the wire.
        let old: ErrorBody =
            serde_json::from_value(json!({"error": {"code": "internal", "message": "m"}}))
                .expect("old body");
        assert_eq!(old.error.request_id, None);
        assert_eq!(
            serde_json::to_value(&old).expect("encode"),
            json!({"error": {"code": "internal", "message": "m"}})
        );
        let new: ErrorBody = serde_json::from_value(
            json!({"error": {"code": "busy", "message": "m", "request_id": "r-1"}}),
        )
        .expect("new body");
        assert_eq!(new.error.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn outcomes_have_a_flat_status_tag() {
        let r = MutationResult {
            mutation_id: "m1".into(),
            seq: 3,
            outcome: Outcome::Applied {
                version: 7,
                overwrote: None,
            },
        };
        let v = serde_json::to_value(&r).expect("serialize");
        assert_eq!(
            v,
            json!({"mutation_id": "m1", "seq": 3, "status": "applied", "version": 7})
        );
        let back: MutationResult = serde_json::from_value(v).expect("deserialize");
        assert_eq!(back, r);
        let rej: MutationResult = serde_json::from_value(json!({
            "mutation_id": "m2", "seq": 4, "status": "rejected", "code": "forbidden", "message": "no"
        }))
        .expect("deserialize");
        assert!(matches!(rej.outcome, Outcome::Rejected { ref code, .. } if code == "forbidden"));
    }

    #[test]
    fn a_pull_page_names_fields_once() {
        let page = PullPage {
            entity: "tasks".into(),
            fields: vec!["title".into(), "done".into()],
            upserts: vec![vec![json!("t1"), json!(2), json!("Buy milk"), json!(false)]],
            tombstones: vec![("t2".into(), 5)],
            cursor: "42".into(),
            has_more: false,
        };
        let text = serde_json::to_string(&page).expect("serialize");
        assert_eq!(text.matches("title").count(), 1);
        assert_eq!(
            serde_json::from_str::<PullPage>(&text).expect("parse"),
            page
        );
    }
}
