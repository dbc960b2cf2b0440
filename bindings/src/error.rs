//! The one error type every exported function returns: the core's errors, grouped by what the
//! app can do about them, with their details as fields.

use syncline_core::Error as CoreError;

/// What went wrong, in terms the app can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum SynclineError {
    /// The app passed something the schema or configuration does not allow (unknown entity,
    /// field or unit, wrong type, missing required field, bad key or name): fix the call.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
    /// No local record with that key.
    #[error("{message}")]
    NotFound {
        /// Which record.
        message: String,
    },
    /// A local record with that key exists already.
    #[error("{message}")]
    AlreadyExists {
        /// Which record.
        message: String,
    },
    /// The entity cannot be changed this way (read-only, append-only, locked while offline, a
    /// quarantined delete that cannot be edited).
    #[error("{message}")]
    NotAllowed {
        /// Why.
        message: String,
    },
    /// The device's storage failed or holds something unexpected; the write did not happen.
    #[error("storage: {message}")]
    Storage {
        /// The storage error.
        message: String,
    },
    /// The device is offline; changes are kept and sync later.
    #[error("the device is offline")]
    Offline,
    /// The server could not be reached; retry later.
    #[error("server unreachable: {message}")]
    Unreachable {
        /// The connection error.
        message: String,
    },
    /// A request or the whole sync took too long; retry later.
    #[error("timed out: {message}")]
    Timeout {
        /// What timed out.
        message: String,
    },
    /// The server refused the token: sign in again and call `set_token`.
    #[error("sign-in needed: {message} ({code})")]
    SignInNeeded {
        /// The server's code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered with an error.
    #[error("server error {status} {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's code.
        code: String,
        /// The server's message.
        message: String,
        /// Seconds the server asked to wait, if it said.
        retry_after_secs: Option<u64>,
    },
    /// The server's answer was malformed or too large; nothing of it was applied.
    #[error("bad server response: {message}")]
    BadResponse {
        /// What was wrong with it.
        message: String,
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
    #[error("discarded: {message}")]
    Discarded {
        /// Which request.
        message: String,
    },
    /// The engine's background work stopped.
    #[error("stopped: {message}")]
    Stopped {
        /// Why.
        message: String,
    },
    /// A callback into the app failed (it threw).
    #[error("callback failed: {message}")]
    Callback {
        /// What it threw.
        message: String,
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
            | CoreError::MissingField { .. } => SynclineError::InvalidInput { message },
            CoreError::NotFound { .. } => SynclineError::NotFound { message },
            CoreError::AlreadyExists { .. } => SynclineError::AlreadyExists { message },
            CoreError::ReadOnly(_)
            | CoreError::AppendOnly(_)
            | CoreError::LockedOffline(_)
            | CoreError::NotEditable(_) => SynclineError::NotAllowed { message },
            CoreError::Storage(_) | CoreError::Corrupt(_) => SynclineError::Storage { message },
            CoreError::Offline => SynclineError::Offline,
            CoreError::Unreachable(m) => SynclineError::Unreachable { message: m },
            CoreError::Timeout(m) => SynclineError::Timeout { message: m },
            CoreError::SignInNeeded { code, message } => {
                SynclineError::SignInNeeded { code, message }
            }
            CoreError::Server {
                status,
                code,
                message,
                retry_after,
            } => SynclineError::Server {
                status,
                code,
                message,
                retry_after_secs: retry_after,
            },
            CoreError::MalformedResponse(_) | CoreError::ResponseTooLarge { .. } => {
                SynclineError::BadResponse { message }
            }
            CoreError::NoSuchConflict(id) => SynclineError::NoSuchConflict { id },
            CoreError::NoSuchQuarantined(seq) => SynclineError::NoSuchQuarantined { seq },
            CoreError::Discarded(m) => SynclineError::Discarded { message: m },
            CoreError::Stopped(m) => SynclineError::Stopped { message: m },
        }
    }
}

/// What a callback into the app can fail with; an exception the app throws arrives here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CallbackError {
    /// The app's callback failed.
    #[error("{message}")]
    Failed {
        /// What it said.
        message: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for CallbackError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        CallbackError::Failed { message: e.reason }
    }
}
