//! The office's write rules (docs/backend.md, "Write rules"): the endpoint the server asks, once
//! per push, about the devices' task writes. The one rule: a due date may not lie before today
//! (UTC). Calls are checked against the server's signature when a secret is configured.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{KeyInit as _, Mac as _};
use serde_json::{json, Value};

/// The office's code for a due date in the past (the device sees `rule:due_in_past`).
pub const DUE_IN_PAST: &str = "due_in_past";
/// The office's words for it, which the device shows inside "Refused by the office: …".
pub const DUE_IN_PAST_MESSAGE: &str = "The due date is in the past: pick today or a later day.";
/// How far a call's signed time may be from ours, in seconds: older calls are replays.
const SIGNATURE_WINDOW_SECS: u64 = 300;
const MS_PER_DAY: i64 = 86_400_000;

/// The path the endpoint answers on.
pub const PATH: &str = "/rules";

/// The verdict on one rules call (`{"user", "client_id", "mutations": [...]}`): every mutation
/// that sets a `due_at` before the start of `today_ms`'s day (UTC) is refused.
pub fn judge(question: &Value, today_ms: i64) -> Value {
    let start_of_day = today_ms - today_ms.rem_euclid(MS_PER_DAY);
    let rejected: Vec<Value> = question["mutations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["fields"]["due_at"]
                .as_i64()
                .is_some_and(|due| due < start_of_day)
        })
        .map(|m| {
            json!({
                "mutation_id": m["mutation_id"],
                "code": DUE_IN_PAST,
                "message": DUE_IN_PAST_MESSAGE,
            })
        })
        .collect();
    json!({ "rejected": rejected })
}

/// The endpoint's router: `POST /rules`, checking the signature with `secret` when given.
pub fn router(secret: Option<String>) -> Router {
    Router::new().route(PATH, post(answer)).with_state(secret)
}

/// Serves the endpoint on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    secret: Option<String>,
) -> std::io::Result<()> {
    axum::serve(listener, router(secret)).await
}

/// Serves the endpoint on a free loopback port, on a thread of its own, for as long as the
/// process runs (tests and embedding); its URL.
pub fn spawn_on_loopback(secret: Option<String>) -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}{PATH}", listener.local_addr()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    if let Err(e) = serve(listener, secret).await {
                        eprintln!("the rules endpoint stopped: {e}");
                    }
                }
                Err(e) => eprintln!("the rules endpoint cannot listen: {e}"),
            }
        });
    });
    Ok(url)
}

async fn answer(State(secret): State<Option<String>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = now_ms();
    if let Some(secret) = &secret {
        if let Err(why) = check_signature(secret, &headers, &body, now / 1000) {
            return (StatusCode::UNAUTHORIZED, why).into_response();
        }
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(question) => Json(judge(&question, now)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("not JSON: {e}")).into_response(),
    }
}

/// Checks `x-syncline-signature` (`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`) and
/// that `x-syncline-timestamp` is recent, as every receiver of the server's calls should.
pub fn check_signature(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no {name} header"))
    };
    let timestamp: i64 = header("x-syncline-timestamp")?
        .parse()
        .map_err(|_| "the timestamp is not a number".to_string())?;
    if now_secs.abs_diff(timestamp) > SIGNATURE_WINDOW_SECS {
        return Err("the signature is too old".into());
    }
    let given = header("x-syncline-signature")?
        .strip_prefix("sha256=")
        .and_then(from_hex)
        .ok_or_else(|| "the signature is not sha256=<hex>".to_string())?;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    // Compared in constant time.
    mac.verify_slice(&given)
        .map_err(|_| "the signature does not match".to_string())
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_before_today_are_refused_and_the_rest_accepted() {
        let today = 20_794 * 86_400_000 + 3_600_000; // 01:00 UTC on some day
        let question = json!({"user": "alice", "client_id": "c", "mutations": [
            {"mutation_id": "m1", "fields": {"due_at": today - 2 * 3_600_000}},
            {"mutation_id": "m2", "fields": {"due_at": today - 1}},
            {"mutation_id": "m3", "fields": {"title": "no due date"}},
            {"mutation_id": "m4", "fields": {"due_at": null}},
        ]});
        let verdict = judge(&question, today);
        let refused: Vec<&str> = verdict["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .map(|r| r["mutation_id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            refused,
            ["m1"],
            "yesterday is refused, earlier today is not"
        );
    }

    #[test]
    fn a_signature_is_checked() {
        let secret = "an-office-secret-of-32-bytes-or-more";
        let body = br#"{"mutations":[]}"#;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(b"1000.");
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert("x-syncline-timestamp", "1000".parse().expect("header"));
        headers.insert(
            "x-syncline-signature",
            format!("sha256={hex}").parse().expect("header"),
        );
        assert_eq!(check_signature(secret, &headers, body, 1010), Ok(()));
        assert!(
            check_signature(secret, &headers, b"{}", 1010).is_err(),
            "another body"
        );
        assert!(check_signature("another-secret", &headers, body, 1010).is_err());
        assert!(
            check_signature(secret, &headers, body, 2000).is_err(),
            "too old"
        );
    }
}
