//! The one error type every exported function returns: the core's errors, grouped by what the
//! app can do about them, with their details as fields. (Fields are never called `message`: in
//! Kotlin that would clash with `Throwable.message`, which carries the whole text anyway.)

use syncline_core::Error as CoreError;

/// What went wrong, in terms the app can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum SynclineError {
    /// The app passed something the schema or configuration does not allow (unknown entity,
    /// field or unit, wrong type, missing required field, bad key or name): fix the call.
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What is wrong.
        detail: String,
    },
    /// No local record with that key.
    #[error("{detail}")]
    NotFound {
        /// Which record.
        detail: String,
    },
    /// A local record with that key exists already.
    #[error("{detail}")]
    AlreadyExists {
        /// Which record.
        detail: String,
    },
    /// The entity cannot be changed this way (read-only, append-only, locked while offline, a
    /// quarantined delete that cannot be edited).
    #[error("{detail}")]
    NotAllowed {
        /// Why.
        detail: String,
    },
    /// The device's storage failed or holds something unexpected; the write did not happen.
    #[error("storage: {detail}")]
    Storage {
        /// The storage error.
        detail: String,
    },
    /// The device is offline; changes are kept and sync later.
    #[error("the device is offline")]
    Offline,
    /// The server could not be reached; retry later.
    #[error("server unreachable: {detail}")]
    Unreachable {
        /// The connection error.
        detail: String,
    },
    /// A request or the whole sync took too long; retry later.
    #[error("timed out: {detail}")]
    Timeout {
        /// What timed out.
        detail: String,
    },
    /// The server refused the token: sign in again and call `set_token`.
    #[error("sign-in needed: {detail} ({code})")]
    SignInNeeded {
        /// The server's code.
        code: String,
        /// The server's message.
        detail: String,
    },
    /// The server answered with an error.
    #[error("server error {status} {code}: {detail}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's code.
        code: String,
        /// The server's message.
        detail: String,
        /// Seconds the server asked to wait, if it said.
        retry_after_secs: Option<u64>,
    },
    /// The server's answer was malformed or too large; nothing of it was applied.
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
    /// No quarantined change with that sequence number.
    #[error("no quarantined change with seq {seq}")]
    NoSuchQuarantined {
        /// The seq asked for.
        seq: u64,
    },
    /// The awaited sync request was dropped by a `discard_pending` request.
    #[error("discarded: {detail}")]
    Discarded {
        /// Which request.
        detail: String,
    },
    /// The engine's background work stopped.
    #[error("stopped: {detail}")]
    Stopped {
        /// Why.
        detail: String,
    },
    /// A callback into the app failed (it threw).
    #[error("callback failed: {detail}")]
    Callback {
        /// What it threw.
        detail: String,
    },
}

impl SynclineError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SynclineError::Offline
            | SynclineError::Unreachable { .. }
            | SynclineError::Timeout { .. }
            | SynclineError::BadResponse { .. } => true,
            SynclineError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<CoreError> for SynclineError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::InvalidName(_)
            | CoreError::InvalidSchema(_)
            | CoreError::InvalidConfig(_)
            | CoreError::UnknownEntity(_)
            | CoreError::UnknownField { .. }
            | CoreError::WrongType { .. }
            | CoreError::UnknownUnit(_)
            | CoreError::InvalidKey(_)
            | CoreError::MissingField { .. } => SynclineError::InvalidInput { detail: message },
            CoreError::NotFound { .. } => SynclineError::NotFound { detail: message },
            CoreError::AlreadyExists { .. } => SynclineError::AlreadyExists { detail: message },
            CoreError::ReadOnly(_)
            | CoreError::AppendOnly(_)
            | CoreError::LockedOffline(_)
            | CoreError::NotEditable(_) => SynclineError::NotAllowed { detail: message },
            CoreError::Storage { .. } | CoreError::Corrupt(_) => {
                SynclineError::Storage { detail: message }
            }
            CoreError::Offline => SynclineError::Offline,
            CoreError::Unreachable(m) => SynclineError::Unreachable { detail: m },
            CoreError::Timeout(m) => SynclineError::Timeout { detail: m },
            CoreError::SignInNeeded { code, message } => SynclineError::SignInNeeded {
                code,
                detail: message,
            },
            CoreError::Server {
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
            CoreError::MalformedResponse(_) | CoreError::ResponseTooLarge { .. } => {
                SynclineError::BadResponse { detail: message }
            }
            CoreError::NoSuchConflict(id) => SynclineError::NoSuchConflict { id },
            CoreError::NoSuchQuarantined(seq) => SynclineError::NoSuchQuarantined { seq },
            CoreError::Discarded(m) => SynclineError::Discarded { detail: m },
            CoreError::Stopped(m) => SynclineError::Stopped { detail: m },
        }
    }
}

/// What a callback into the app can fail with; an exception the app throws arrives here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CallbackError {
    /// The app's callback failed.
    #[error("{detail}")]
    Failed {
        /// What it said.
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for CallbackError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        CallbackError::Failed { detail: e.reason }
    }
}
