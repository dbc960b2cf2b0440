//! The core's one error type: what went wrong, in terms the caller can act on.

use crate::status::{FailureReason, StorageErrorKind};

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the core can fail with. Each variant says what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A name is not a lowercase identifier (`[a-z][a-z0-9_]*`); fix the declaration.
    #[error("`{0}` is not a valid entity or field name (lowercase letters, digits and _, starting with a letter)")]
    InvalidName(String),
    /// The schema declaration contradicts itself; fix the declaration.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// The configuration is unusable; fix the configuration.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// No entity of that name is declared.
    #[error("unknown entity `{0}`")]
    UnknownEntity(String),
    /// The entity declares no field of that name.
    #[error("entity `{entity}` has no field `{field}`")]
    UnknownField {
        /// The entity.
        entity: String,
        /// The unknown field.
        field: String,
    },
    /// A value does not have the field's declared type.
    #[error("field `{entity}.{field}` expects {expected}")]
    WrongType {
        /// The entity.
        entity: String,
        /// The field.
        field: String,
        /// The declared type.
        expected: &'static str,
    },
    /// No unit of that name is configured.
    #[error("unknown sync unit `{0}`")]
    UnknownUnit(String),
    /// A record key is empty, too long, or not text.
    #[error("invalid record key `{0}` (1 to 256 bytes of text)")]
    InvalidKey(String),
    /// A required field has no value.
    #[error("field `{entity}.{field}` is required")]
    MissingField {
        /// The entity.
        entity: String,
        /// The field.
        field: String,
    },
    /// No record with that key exists locally.
    #[error("no `{entity}` record with key `{key}`")]
    NotFound {
        /// The entity.
        entity: String,
        /// The key.
        key: String,
    },
    /// A record with that key already exists locally.
    #[error("a `{entity}` record with key `{key}` already exists")]
    AlreadyExists {
        /// The entity.
        entity: String,
        /// The key.
        key: String,
    },
    /// The entity is read-only on the device.
    #[error("`{0}` is read-only on this device")]
    ReadOnly(String),
    /// The entity is append-only: records can be created, never changed or deleted.
    #[error("`{0}` is append-only: records cannot be changed or deleted")]
    AppendOnly(String),
    /// The local database failed; the write did not happen.
    #[error("local store ({kind:?}): {detail}")]
    Storage {
        /// What kind of failure, for the app and the banner.
        kind: StorageErrorKind,
        /// SQLite's words (kept as text: errors are cloned to every waiter and listener).
        detail: String,
    },
    /// The local database holds something the schema does not allow.
    #[error("local store is inconsistent: {0}")]
    Corrupt(String),
    /// The device reports no connectivity; the change is kept and syncs later.
    #[error("the device is offline")]
    Offline,
    /// The server could not be reached (connect failure, reset, timeout); retry later.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// A request or the whole sync ran out of time; retry later.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server refused the token (missing, unknown, expired or revoked): the user must sign in.
    #[error("sign-in needed: {message} ({code})")]
    SignInNeeded {
        /// The server's stable error code (`unauthorized`, `token_expired`).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered with an error; `retry_after` is the server's hint, in seconds.
    #[error("server error {status} {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's stable error code.
        code: String,
        /// The server's message.
        message: String,
        /// Seconds the server asked us to wait, if it said.
        retry_after: Option<u64>,
    },
    /// The server's response could not be understood; nothing of it was applied.
    #[error("malformed server response: {0}")]
    MalformedResponse(String),
    /// The server's response was larger than the configured limit; nothing of it was applied.
    #[error("server response larger than the {limit}-byte limit")]
    ResponseTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// Editing this entity is locked while the device is offline (its conflict policy).
    #[error("`{0}` can only be changed while online")]
    LockedOffline(String),
    /// A quarantined delete has nothing to edit: retry or discard it.
    #[error("{0}")]
    NotEditable(String),
    /// No conflict with that id is in the inbox.
    #[error("no conflict with id {0}")]
    NoSuchConflict(i64),
    /// No quarantined mutation with that sequence number.
    #[error("no quarantined change with seq {0}")]
    NoSuchQuarantined(u64),
    /// The sync request was dropped before it ran (by a `discard_pending` request).
    #[error("the sync request was discarded: {0}")]
    Discarded(String),
    /// The core's background work stopped (the runtime shut down).
    #[error("the sync engine stopped: {0}")]
    Stopped(String),
}

impl From<syncline_protocol::SchemaError> for Error {
    fn from(e: syncline_protocol::SchemaError) -> Self {
        use syncline_protocol::SchemaError as S;
        match e {
            S::InvalidName(name) => Error::InvalidName(name),
            S::InvalidSchema(why) => Error::InvalidSchema(why),
            S::UnknownEntity(name) => Error::UnknownEntity(name),
            S::UnknownField { entity, field } => Error::UnknownField { entity, field },
            S::WrongType {
                entity,
                field,
                expected,
            } => Error::WrongType {
                entity,
                field,
                expected,
            },
        }
    }
}

/// The kind of a SQLite failure.
fn storage_kind(e: &rusqlite::Error) -> StorageErrorKind {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DiskFull) => StorageErrorKind::DiskFull,
        Some(C::DatabaseCorrupt | C::NotADatabase) => StorageErrorKind::Corrupt,
        Some(C::DatabaseBusy | C::DatabaseLocked) => StorageErrorKind::Busy,
        Some(C::ReadOnly) => StorageErrorKind::ReadOnly,
        _ => StorageErrorKind::Other,
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Storage {
            kind: storage_kind(&e),
            detail: e.to_string(),
        }
    }
}

impl Error {
    /// Whether trying the same thing again later may succeed (network trouble, server hiccups).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Offline | Error::Unreachable(_) | Error::Timeout(_) => true,
            Error::Server { status, .. } => *status >= 500 || *status == 429,
            // A bad response is often a proxy or a cut connection: the next try may be fine.
            Error::MalformedResponse(_) | Error::ResponseTooLarge { .. } => true,
            // Space may be freed, another process may let go of the file.
            Error::Storage {
                kind: StorageErrorKind::DiskFull | StorageErrorKind::Busy,
                ..
            } => true,
            _ => false,
        }
    }

    /// Why a sync that failed with this error failed, as the code a front end translates.
    pub fn reason(&self) -> FailureReason {
        match self {
            Error::Unreachable(_) | Error::Offline => FailureReason::Unreachable,
            Error::Timeout(_) => FailureReason::Timeout,
            Error::SignInNeeded { .. } => FailureReason::SignInNeeded,
            Error::Server { status, .. } if self.is_retryable() => {
                FailureReason::ServerError { status: *status }
            }
            Error::Server { status, .. } => FailureReason::Rejected { status: *status },
            Error::MalformedResponse(_) | Error::ResponseTooLarge { .. } => {
                FailureReason::BadResponse
            }
            Error::Storage { kind, .. } => FailureReason::Storage { kind: *kind },
            Error::Corrupt(_) => FailureReason::Storage {
                kind: StorageErrorKind::Corrupt,
            },
            _ => FailureReason::Internal,
        }
    }
}
