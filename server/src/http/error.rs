//! Every failure as the client sees it: an HTTP status, a stable code from the protocol's
//! `codes` and a message, sent as the JSON error body `{"error": {"code", "message"}}`, with
//! `Retry-After` where waiting helps. The errors of the layers below turn into one here.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use syncline_protocol::{codes, ErrorBody, ErrorDetail, MAX_REQUEST_BYTES};

use crate::attachments::AttachmentError;
use crate::auth::AuthError;
use crate::blobs::BlobError;
use crate::error::StoreError;
use crate::pull::PullError;
use crate::push::PushError;
use crate::rules::RulesError;

/// An error answer: HTTP status, stable code and message, sent as [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code from [`codes`].
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds for the `Retry-After` header (429 and 503 answers).
    pub retry_after: Option<u64>,
    /// The record's version now, for a `409 version_conflict`.
    pub current_version: Option<i64>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            current_version: None,
        }
    }

    /// The same error naming the record's current version (a `409 version_conflict`).
    pub fn with_current_version(mut self, version: Option<i64>) -> Self {
        self.current_version = version;
        self
    }

    /// The same error with a `Retry-After` of `secs` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// 500 `internal`; the cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "the server failed; retry later",
        )
    }

    pub(super) fn payload_too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!("request bodies are limited to {MAX_REQUEST_BYTES} bytes after decompression"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = ErrorDetail {
            code: self.code.to_string(),
            message: self.message,
            request_id: None,
            current_version: self.current_version,
        };
        let mut resp = (
            self.status,
            Json(ErrorBody {
                error: detail.clone(),
            }),
        )
            .into_response();
        // For `ops::observe`: it counts the code and adds the request id to the body.
        resp.extensions_mut().insert(detail);
        if let Some(secs) = self.retry_after {
            set_retry_after(&mut resp, secs);
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized(m) => {
                ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, m)
            }
            AuthError::TokenExpired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::TOKEN_EXPIRED,
                e.to_string(),
            ),
            AuthError::Store(s) => ApiError::internal(s),
        }
    }
}

impl From<PullError> for ApiError {
    fn from(e: PullError) -> Self {
        match e {
            PullError::UnknownEntity(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::UNKNOWN_ENTITY,
                e.to_string(),
            ),
            PullError::UnknownField(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, codes::UNKNOWN_FIELD, m)
            }
            PullError::BadCursor(_) => ApiError::bad_request(e.to_string()),
            PullError::Store(s) => ApiError::internal(s),
            PullError::Io(e) => ApiError::internal(e),
        }
    }
}

impl From<RulesError> for ApiError {
    fn from(e: RulesError) -> Self {
        match e {
            // The cause (which may name the office's internal URL) is in the server's log, not
            // in the answer to a device.
            RulesError::Unavailable { entity, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::RULES_UNAVAILABLE,
                format!(
                    "the office's rules for `{entity}` cannot be asked now; send it again later"
                ),
            )
            .with_retry_after(crate::rules::RETRY_AFTER.as_secs()),
            RulesError::Store(s) => ApiError::internal(s),
            RulesError::Task(m) => ApiError::internal(m),
        }
    }
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::BadRequest(m) => ApiError::bad_request(m),
            PushError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, m),
            PushError::Store(s) => ApiError::internal(s),
        }
    }
}

impl From<AttachmentError> for ApiError {
    fn from(e: AttachmentError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            AttachmentError::BadRequest(_) => (StatusCode::BAD_REQUEST, codes::BAD_REQUEST),
            AttachmentError::TooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, codes::BLOB_TOO_LARGE)
            }
            AttachmentError::Quota { .. } => (StatusCode::PAYLOAD_TOO_LARGE, codes::QUOTA_EXCEEDED),
            AttachmentError::NotFound(_) | AttachmentError::Blob(BlobError::NoUpload(_)) => {
                (StatusCode::NOT_FOUND, codes::NOT_FOUND)
            }
            AttachmentError::Blob(BlobError::NoBlob(_)) => {
                (StatusCode::NOT_FOUND, codes::NOT_FOUND)
            }
            AttachmentError::Busy => (StatusCode::CONFLICT, codes::WRONG_OFFSET),
            AttachmentError::Blob(BlobError::WrongOffset { .. }) => {
                (StatusCode::CONFLICT, codes::WRONG_OFFSET)
            }
            AttachmentError::Blob(BlobError::TooLong { .. }) => {
                (StatusCode::BAD_REQUEST, codes::BAD_REQUEST)
            }
            AttachmentError::Blob(BlobError::Incomplete { .. }) => {
                (StatusCode::CONFLICT, codes::UPLOAD_INCOMPLETE)
            }
            AttachmentError::Blob(BlobError::HashMismatch { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, codes::HASH_MISMATCH)
            }
            AttachmentError::Blob(BlobError::Io(io)) => return ApiError::internal(io),
            AttachmentError::Store(s) => return ApiError::internal(s),
        };
        ApiError::new(status, code, message)
    }
}

/// Adds `Retry-After` to an answer.
fn set_retry_after(resp: &mut Response, secs: u64) {
    let mut itoa = itoa::Buffer::new();
    if let Ok(v) = HeaderValue::from_str(itoa.format(secs)) {
        resp.headers_mut().insert(RETRY_AFTER, v);
    }
}
