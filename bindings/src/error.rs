//! What a callback into the app (a status listener, a log sink) can fail with. The API's own
//! error is the core's `SynclineError`, derived for the FFI in the core itself.

/// An exception the app's callback threw.
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
