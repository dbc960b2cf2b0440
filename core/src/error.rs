//! Errors: the core's internal [`Error`], detailed for its own modules and logs, and the
//! [`SynclineError`] every public call returns, grouped by what an app can do about it. The one
//! becomes the other (and is logged) at the API boundary, `client.rs`.

use crate::status::{FailureReason, StorageErrorKind};

/// Result with the core's internal [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the core can fail with, inside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Error {
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
    UnknownField { entity: String, field: String },
    /// A value does not have the field's declared type.
    #[error("field `{entity}.{field}` expects {expected}")]
    WrongType {
        entity: String,
        field: String,
        expected: &'static str,
    },
    /// No unit of that name is configured.
    #[error("unknown sync unit `{0}`")]
    UnknownUnit(String),
    /// A record key is empty, too long, or holds a control character.
    #[error("invalid record key {0:?} (1 to 256 bytes of text, no control characters)")]
    InvalidKey(String),
    /// A required field has no value.
    #[error("field `{entity}.{field}` is required")]
    MissingField { entity: String, field: String },
    /// No record with that key exists locally.
    #[error("no `{entity}` record with key `{key}`")]
    NotFound { entity: String, key: String },
    /// A record with that key already exists locally.
    #[error("a `{entity}` record with key `{key}` already exists")]
    AlreadyExists { entity: String, key: String },
    /// The entity is read-only on the device.
    #[error("`{0}` is read-only on this device")]
    ReadOnly(String),
    /// The entity is append-only: records can be created, never changed or deleted.
    #[error("`{0}` is append-only: records cannot be changed or deleted")]
    AppendOnly(String),
    /// The field is written by the server only (read-only for clients, or set by the server).
    #[error("field `{entity}.{field}` is written by the server only")]
    ReadOnlyField { entity: String, field: String },
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
    #[error("no quarantined mutation with seq {0}")]
    NoSuchQuarantined(u64),
    /// The core's background work stopped (the runtime shut down).
    #[error("the sync engine stopped: {0}")]
    Stopped(String),
    /// An attachment's file could not be read or written on the device.
    #[error("attachment file: {0}")]
    Attachment(String),
    /// The file the app passed to `attach` cannot be read.
    #[error("cannot attach {0}")]
    AttachmentSource(String),
    /// The record has no attachment in that field.
    #[error("`{entity}.{field}` of `{key}` holds no attachment")]
    NoAttachment {
        entity: String,
        key: String,
        field: String,
    },
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
    /// Whether trying the same thing again later may succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        self.to_api().is_retryable()
    }

    /// Why a sync that failed with this error failed, as the code a front end translates.
    pub(crate) fn reason(&self) -> FailureReason {
        self.to_api().reason()
    }

    /// What an app sees of this error (pure: the boundary's `From` also logs).
    fn to_api(&self) -> SynclineError {
        let text = self.to_string();
        match self.clone() {
            Error::InvalidName(_)
            | Error::InvalidSchema(_)
            | Error::InvalidConfig(_)
            | Error::UnknownEntity(_)
            | Error::UnknownField { .. }
            | Error::WrongType { .. }
            | Error::UnknownUnit(_)
            | Error::InvalidKey(_)
            | Error::MissingField { .. }
            | Error::AttachmentSource(_)
            | Error::NoAttachment { .. } => SynclineError::InvalidInput { detail: text },
            Error::NotFound { entity, key } => SynclineError::NotFound { entity, key },
            Error::AlreadyExists { entity, key } => SynclineError::AlreadyExists { entity, key },
            Error::ReadOnly(_)
            | Error::AppendOnly(_)
            | Error::ReadOnlyField { .. }
            | Error::LockedOffline(_)
            | Error::NotEditable(_) => SynclineError::NotAllowed { detail: text },
            Error::Storage { kind, detail } => SynclineError::Storage { kind, detail },
            Error::Corrupt(detail) => SynclineError::Storage {
                kind: StorageErrorKind::Corrupt,
                detail,
            },
            Error::Unreachable(detail) => SynclineError::Unreachable { detail },
            Error::Timeout(detail) => SynclineError::Timeout { detail },
            Error::SignInNeeded { code, message } => SynclineError::SignInNeeded {
                code,
                detail: message,
            },
            Error::Server {
                status,
                code,
                message,
                retry_after,
            } => SynclineError::Server {
                status,
                code,
                detail: message,
                retry_after_secs: retry_after,
            },
            Error::MalformedResponse(_) | Error::ResponseTooLarge { .. } => {
                SynclineError::BadResponse { detail: text }
            }
            Error::NoSuchConflict(id) => SynclineError::NoSuchConflict { id },
            Error::NoSuchQuarantined(seq) => SynclineError::NoSuchQuarantined { seq },
            Error::Stopped(detail) => SynclineError::Stopped { detail },
            Error::Attachment(detail) => SynclineError::Storage {
                kind: StorageErrorKind::Other,
                detail,
            },
        }
    }
}

/// What went wrong, in terms an app can act on. Every fallible public call returns it; Kotlin
/// sees it as `SynclineException`, Swift as `SynclineError`. (Detail fields are never called
/// `message`: in Kotlin that would clash with `Throwable.message`, which carries the whole
/// text anyway.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Error))]
pub enum SynclineError {
    /// The app passed something the schema or configuration does not allow (unknown entity,
    /// field or unit, wrong type, missing required field, bad key or name): fix the call.
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What is wrong.
        detail: String,
    },
    /// No local record with that key.
    #[error("no `{entity}` record with key `{key}`")]
    NotFound {
        /// The entity asked for.
        entity: String,
        /// The key asked for.
        key: String,
    },
    /// A local record with that key exists already.
    #[error("a `{entity}` record with key `{key}` already exists")]
    AlreadyExists {
        /// The entity written to.
        entity: String,
        /// The key in use.
        key: String,
    },
    /// The entity cannot be changed this way: read-only, append-only, locked while not online,
    /// or a quarantined delete that cannot be edited.
    #[error("not allowed: {detail}")]
    NotAllowed {
        /// Which rule refused it (read-only, append-only, locked while offline, …).
        detail: String,
    },
    /// The device's storage failed; nothing was written. `kind` says what the app can do
    /// (free space, start over from a damaged file: `Syncline::start_over`, decision 0021 in
    /// `docs/decisions/`).
    #[error("storage ({kind:?}): {detail}")]
    Storage {
        /// What kind of failure.
        kind: StorageErrorKind,
        /// SQLite's words, for logs and support.
        detail: String,
    },
    /// The device is offline; mutations are kept and sync later.
    #[error("the device is offline")]
    Offline,
    /// The server could not be reached; the core retries by itself.
    #[error("server unreachable: {detail}")]
    Unreachable {
        /// The connection error.
        detail: String,
    },
    /// A request or the whole sync took too long; the core retries by itself.
    #[error("timed out: {detail}")]
    Timeout {
        /// What timed out.
        detail: String,
    },
    /// The server refused the token: sign in again and call `set_token`.
    #[error("sign-in needed: {detail} ({code})")]
    SignInNeeded {
        /// The server's code (`unauthorized`, `token_expired`).
        code: String,
        /// The server's words.
        detail: String,
    },
    /// The server answered with an error.
    #[error("server error {status} {code}: {detail}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's stable code (`docs/protocol.md`).
        code: String,
        /// The server's words.
        detail: String,
        /// Seconds the server asked to wait, if it said.
        retry_after_secs: Option<u64>,
    },
    /// The server's answer was malformed, cut short or too large; nothing of it was applied.
    #[error("bad server response: {detail}")]
    BadResponse {
        /// What was wrong with it.
        detail: String,
    },
    /// No conflict with that id in the inbox.
    #[error("no conflict with id {id}")]
    NoSuchConflict {
        /// The id asked for.
        id: i64,
    },
    /// No quarantined mutation with that sequence number.
    #[error("no quarantined mutation with seq {seq}")]
    NoSuchQuarantined {
        /// The seq asked for.
        seq: u64,
    },
    /// The awaited sync request was dropped by a `discard_pending` request.
    #[error("discarded: {detail}")]
    Discarded {
        /// Which unit's request was dropped, and for which.
        detail: String,
    },
    /// The engine's background work stopped (the runtime could not start or went away).
    #[error("stopped: {detail}")]
    Stopped {
        /// What stopped it.
        detail: String,
    },
    /// A model type does not fit its entity's schema (`Syncline::collection`, Rust only): a
    /// field the entity does not declare, of another type, an `Option` or not where the field
    /// says otherwise, or a required field the type leaves out. Fix the type.
    #[error("the model of `{entity}` does not fit its schema: field `{field}` is {found}, the schema wants {expected}")]
    ModelMismatch {
        /// The entity the model is for.
        entity: String,
        /// The field, by its name in the schema (the key's, for the key).
        field: String,
        /// What the schema wants there (type, and whether it may be null).
        expected: String,
        /// What the model has there (its Rust type, or nothing).
        found: String,
    },
    /// A stored record does not fit the model type it is read as (a json field's content, a
    /// number out of the type's range): the record is fine, the type is too narrow for it.
    #[error("`{entity}` record `{key}` does not fit the model: field `{field}`: {detail}")]
    RecordMismatch {
        /// The record's entity.
        entity: String,
        /// The record's key.
        key: String,
        /// Where in the record (`tags[2]`; `.` for the whole record).
        field: String,
        /// What does not fit.
        detail: String,
    },
}

impl SynclineError {
    /// Whether trying the same thing again later may succeed (network trouble, server hiccups,
    /// a full disk).
    pub fn is_retryable(&self) -> bool {
        match self {
            SynclineError::Offline
            | SynclineError::Unreachable { .. }
            | SynclineError::Timeout { .. }
            | SynclineError::BadResponse { .. } => true,
            SynclineError::Server { status, .. } => *status >= 500 || *status == 429,
            SynclineError::Storage { kind, .. } => {
                matches!(kind, StorageErrorKind::DiskFull | StorageErrorKind::Busy)
            }
            _ => false,
        }
    }

    /// Why a sync that failed with this error failed, as the code a front end translates.
    pub fn reason(&self) -> FailureReason {
        match self {
            SynclineError::Offline | SynclineError::Unreachable { .. } => {
                FailureReason::Unreachable
            }
            SynclineError::Timeout { .. } => FailureReason::Timeout,
            SynclineError::SignInNeeded { .. } => FailureReason::SignInNeeded,
            SynclineError::Server { status, .. } if self.is_retryable() => {
                FailureReason::ServerError { status: *status }
            }
            SynclineError::Server { status, .. } => FailureReason::Rejected { status: *status },
            SynclineError::BadResponse { .. } => FailureReason::BadResponse,
            SynclineError::Storage { kind, .. } => FailureReason::Storage { kind: *kind },
            _ => FailureReason::Internal,
        }
    }
}

impl From<Error> for SynclineError {
    /// The boundary: what the app sees of an internal error. Failures of the device's storage
    /// and of the engine itself are logged here (an app may only show a banner for them);
    /// mistakes in the app's call and network trouble are the app's and the banner's to tell.
    fn from(e: Error) -> Self {
        if matches!(
            e,
            Error::Storage { .. } | Error::Corrupt(_) | Error::Stopped(_)
        ) {
            log::error!("{e}");
        }
        e.to_api()
    }
}

impl From<syncline_protocol::SchemaError> for SynclineError {
    fn from(e: syncline_protocol::SchemaError) -> Self {
        Error::from(e).into()
    }
}

impl From<syncline_protocol::SchemaFileError> for SynclineError {
    /// A schema file the app ships is wrong: `InvalidInput`, its detail naming the line.
    fn from(e: syncline_protocol::SchemaFileError) -> Self {
        syncline_protocol::SchemaError::from(e).into()
    }
}
