//! A webhook receiver for the tests of the server's outgoing calls (the push hook, the
//! webhooks): a tiny axum server on its own thread that answers `503` with `Retry-After` to the
//! first `fail_first` calls and `204` to the rest, and hands every call to the test, whose
//! signature it checks as a receiver would (HMAC-SHA256, independently of the server's code).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use hmac::{KeyInit as _, Mac as _};
use serde_json::Value as Json;

/// How long a test waits for a call before it calls the server hung.
pub const GUARD: Duration = Duration::from_secs(60);
/// What a failing receiver asks the caller to wait, unless told otherwise (longer than the
/// push hook's first backoff step).
pub const RETRY_AFTER_SECS: u64 = 3;

/// One call the receiver got.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Call {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn user(&self) -> String {
        self.json()["user"].as_str().expect("user").to_string()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// Checks the signature as a receiver would: HMAC-SHA256 of `<timestamp>.<body>` with
    /// the secret, compared in constant time, and a timestamp within five minutes.
    pub fn assert_signed(&self, secret: &str) {
        let timestamp: i64 = self
            .header("x-syncline-timestamp")
            .parse()
            .expect("seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        assert!((now - timestamp).abs() < 300, "{timestamp} vs {now}");
        let hex = self
            .header("x-syncline-signature")
            .strip_prefix("sha256=")
            .expect("sha256=");
        let given: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&self.body);
        mac.verify_slice(&given).expect("a valid signature");
    }
}

/// The receiver: a tiny axum server on its own thread that answers `503` to the first
/// `fail_first` calls and `204` to the rest, and hands every call to the test.
pub struct Receiver {
    pub url: String,
    calls: mpsc::Receiver<Call>,
    seen: Vec<Call>,
}

/// How a receiver answers a call itself (a write-rules endpoint's verdict, a slow or broken
/// answer), instead of the default `503`-then-`204`.
pub type Answer = Arc<dyn Fn(&Call) -> axum::response::Response + Send + Sync>;

#[derive(Clone)]
struct Inbox {
    tx: Arc<Mutex<mpsc::Sender<Call>>>,
    fail_first: Arc<AtomicUsize>,
    retry_after: u64,
    answer: Option<Answer>,
}

async fn take(
    State(inbox): State<Inbox>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let call = Call {
        at: Instant::now(),
        headers,
        body: body.to_vec(),
    };
    let answer = inbox.answer.as_ref().map(|answer| answer(&call));
    let _ = inbox.tx.lock().expect("inbox").send(call);
    if let Some(answer) = answer {
        return answer;
    }
    let failing = inbox
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                axum::http::header::RETRY_AFTER,
                inbox.retry_after.to_string(),
            )],
        )
            .into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

impl Receiver {
    pub fn start(fail_first: usize) -> Receiver {
        Receiver::start_with_retry_after(fail_first, RETRY_AFTER_SECS)
    }

    /// [`Receiver::start`], asking failed callers to wait `retry_after` seconds.
    pub fn start_with_retry_after(fail_first: usize, retry_after: u64) -> Receiver {
        Receiver::launch(fail_first, retry_after, None)
    }

    /// A receiver that answers every call with what `answer` makes of it.
    pub fn answering(
        answer: impl Fn(&Call) -> axum::response::Response + Send + Sync + 'static,
    ) -> Receiver {
        Receiver::launch(0, RETRY_AFTER_SECS, Some(Arc::new(answer)))
    }

    fn launch(fail_first: usize, retry_after: u64, answer: Option<Answer>) -> Receiver {
        let (tx, calls) = mpsc::channel();
        let inbox = Inbox {
            tx: Arc::new(Mutex::new(tx)),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            retry_after,
            answer,
        };
        let app = Router::new().route("/hook", post(take)).with_state(inbox);
        let addr = syncline_server::testing::serve_on_loopback(app);
        Receiver {
            url: format!("http://{addr}/hook"),
            calls,
            seen: Vec::new(),
        }
    }

    /// Waits for the next call that `wanted` accepts, keeping every call seen.
    pub fn next_where(&mut self, what: &str, wanted: impl Fn(&Call) -> bool) -> Call {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let call = self
                .calls
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no call {what} within {GUARD:?}"));
            self.seen.push(call.clone());
            if wanted(&call) {
                return call;
            }
        }
    }

    /// Every call received so far.
    pub fn all(&mut self) -> &[Call] {
        while let Ok(call) = self.calls.try_recv() {
            self.seen.push(call);
        }
        &self.seen
    }
}
