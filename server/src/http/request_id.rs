//! Request ids: every request gets an `x-request-id` (the client's own when it is sane, else a
//! new UUID), echoed in the answer's header, written in the request's log line and in every
//! error body, so a user's report, the client's log and the server's log meet.
//!
//! tower-http's `SetRequestIdLayer` keeps whatever id a request carries; an id is only kept
//! here when it is 1 to 64 characters of `[A-Za-z0-9._-]`, so a client cannot put control
//! characters, log-forging text or kilobytes into the server's logs. An insane one is dropped
//! and replaced.

use axum::extract::Request;
use axum::http::HeaderName;
use axum::middleware::map_request;
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// The header (lower case, as HTTP/2 wants it).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id taken from a client.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's request id is kept: 1 to 64 characters of `[A-Za-z0-9._-]`.
pub fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Removes an incoming id that is not sane (or sent more than once), so the next layer makes
/// one.
async fn drop_insane(mut req: Request) -> Request {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    let mut values = req.headers().get_all(&header).iter();
    let keep = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().is_ok_and(is_sane),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        req.headers_mut().remove(&header);
    }
    req
}

/// The request id of a request that went through [`layer`] (always set by then).
pub(crate) fn of(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// Adds the request-id layers around `router`: drop an insane id, set one if missing, copy it
/// to the answer. Whatever `router` already has inside sees the id in the request's headers.
pub(crate) fn layer(router: Router) -> Router {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    router
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
        .layer(map_request(drop_insane))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_short_and_plain() {
        assert!(is_sane("abc-123_X.y"));
        assert!(is_sane(&"a".repeat(64)));
        assert!(!is_sane(&"a".repeat(65)));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("a\nb"));
        assert!(!is_sane("ä"));
        assert!(!is_sane("a/b"));
    }
}
