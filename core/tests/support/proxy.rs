//! A fault-injecting HTTP proxy for tests: forwards to the real server and, when told, answers
//! with a broken version of the real answer (garbage, truncated, cut, oversized, wrong types…),
//! drops or resets the connection, holds the answer back, or throttles. Faults are set per path
//! ([`FaultProxy::set`]) or drawn at random for every request ([`FaultProxy::chaos`]).
//!
//! A live stream (`GET /v1/live`) is passed through as it comes, never buffered; the streams
//! open at the moment can be cut ([`FaultProxy::cut_streams`]), made to go silent while their
//! connections stay open, as a half-open connection does ([`FaultProxy::stall_streams`]), or be
//! sent bytes the server never wrote ([`FaultProxy::inject_into_streams`]).
//!
//! It serves each connection with hyper directly (not `axum::serve`), so a request's handler can
//! end its own connection without an answer: closed, or reset with an RST.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::harness::Rng;

/// What the proxy does to the next answers on a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward unchanged.
    Pass,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with the first half of the real body (framing intact).
    TruncatedJson,
    /// 200 whose body stops half way with the connection cut.
    CutMidBody,
    /// 200 with the real JSON padded to this many bytes (declared length).
    Oversized(usize),
    /// 200 with the real JSON padded to this many bytes, sent chunked (no declared length).
    OversizedChunked(usize),
    /// A pull page whose first row has a number where text belongs.
    WrongType,
    /// A pull page with an extra field the client never asked for.
    UnknownField,
    /// A pull page for another entity.
    UnknownEntity,
    /// A push answer with one result too many.
    ExtraResult,
    /// Forward to the server, then drop the answer (the server did the work; the client never
    /// hears of it).
    LoseAnswer,
    /// An error status with a JSON error body (and `Retry-After: 7`).
    Status(u16),
    /// An error status (429, 503…) with `Retry-After` of this many seconds.
    Throttled { status: u16, retry_after: u32 },
    /// The connection is closed without an answer; the request never reaches the server.
    Drop,
    /// The request reaches the server, which applies it; then the connection is reset (RST)
    /// without an answer.
    Reset,
    /// The request reaches the server, which applies it; the answer is held back this long
    /// (longer than the client's request timeout: the client gives up first).
    Delay(Duration),
}

impl Fault {
    /// Its name, for the tally of injected faults.
    pub fn name(&self) -> String {
        match self {
            Fault::Status(code) => format!("status {code}"),
            Fault::Throttled { status, .. } => format!("{status} with Retry-After"),
            Fault::Delay(_) => "delay past the timeout".into(),
            other => format!("{other:?}")
                .split('(')
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// Random faults for every request: with `probability`, one of `faults`.
struct Chaos {
    rng: Rng,
    probability: f64,
    faults: Vec<Fault>,
}

/// What happens to the live streams open now.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFault {
    /// The connection is cut mid-stream.
    Cut,
    /// Nothing more is passed on, and the connection stays open.
    Stall,
    /// These bytes are passed on as if the server had sent them; the stream goes on.
    Inject(Bytes),
}

struct State {
    /// Tells the live streams open now what to do.
    stream_faults: tokio::sync::broadcast::Sender<StreamFault>,
    upstream: String,
    http: reqwest::Client,
    faults: Mutex<Vec<(String, Fault)>>,
    chaos: Mutex<Option<Chaos>>,
    forwarded: Mutex<Vec<String>>,
    injected: Mutex<BTreeMap<String, u64>>,
}

/// A running proxy; stops with the test process.
pub struct FaultProxy {
    state: Arc<State>,
    addr: SocketAddr,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (a base URL) on a free loopback port.
    pub fn start(upstream: &str) -> FaultProxy {
        let state = Arc::new(State {
            stream_faults: tokio::sync::broadcast::channel(16).0,
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("proxy client"),
            faults: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
            forwarded: Mutex::new(Vec::new()),
            injected: Mutex::new(BTreeMap::new()),
        });
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let app_state = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve_connection(app_state.clone(), stream));
                }
            });
        });
        FaultProxy { state, addr }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the fault for requests whose path is `path` (e.g. `/v1/pull`).
    pub fn set(&self, path: &str, fault: Fault) {
        let mut faults = self.state.faults.lock().expect("faults");
        faults.retain(|(p, _)| p != path);
        faults.push((path.to_string(), fault));
    }

    /// From now on, each request (whatever its path) meets one of `faults` with `probability`,
    /// drawn from a generator seeded with `seed`; a fault [`FaultProxy::set`] for its path wins.
    pub fn chaos(&self, seed: u64, probability: f64, faults: Vec<Fault>) {
        *self.state.chaos.lock().expect("chaos") = Some(Chaos {
            rng: Rng::new(seed),
            probability,
            faults,
        });
    }

    /// Cuts every live stream open now.
    pub fn cut_streams(&self) {
        let _ = self.state.stream_faults.send(StreamFault::Cut);
    }

    /// Silences every live stream open now; their connections stay open.
    pub fn stall_streams(&self) {
        let _ = self.state.stream_faults.send(StreamFault::Stall);
    }

    /// Sends `bytes` down every live stream open now, between two of the server's chunks.
    pub fn inject_into_streams(&self, bytes: &[u8]) {
        let _ = self
            .state
            .stream_faults
            .send(StreamFault::Inject(Bytes::copy_from_slice(bytes)));
    }

    /// How many live streams were asked for so far.
    pub fn streams_opened(&self) -> usize {
        self.requests().iter().filter(|p| *p == "/v1/live").count()
    }

    /// Forwards everything unchanged from now on.
    pub fn heal(&self) {
        self.state.faults.lock().expect("faults").clear();
        *self.state.chaos.lock().expect("chaos") = None;
    }

    /// How many times each fault was injected so far, by [`Fault::name`].
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.state.injected.lock().expect("injected").clone()
    }

    /// Paths of the requests seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.forwarded.lock().expect("forwarded").clone()
    }
}

/// How a handler ends its connection without an answer.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Close it (FIN).
    Close,
    /// Reset it (RST).
    Reset,
}

/// Serves one client connection with hyper until it ends, or until a handler ends it.
async fn serve_connection(state: Arc<State>, stream: tokio::net::TcpStream) {
    // A second handle on the same socket, to reset it after hyper has let go of its own.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(twin) = std_stream.try_clone() else {
        return;
    };
    let (Ok(stream), Ok(twin)) = (
        tokio::net::TcpStream::from_std(std_stream),
        tokio::net::TcpStream::from_std(twin),
    ) else {
        return;
    };
    let (end_tx, mut end_rx) = mpsc::channel::<End>(1);
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let state = state.clone();
        let end_tx = end_tx.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let response = forward(state, parts.method, parts.uri, parts.headers, body).await;
            match response {
                Answer::Respond(r) => Ok::<_, Infallible>(r),
                Answer::End(end) => {
                    let _ = end_tx.send(end).await;
                    // The connection task drops this request with its connection.
                    std::future::pending().await
                }
            }
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        end = end_rx.recv() => {
            if let Some(End::Reset) = end {
                // Closing a socket with a zero linger time sends an RST instead of a FIN.
                #[allow(deprecated)]
                let _ = twin.set_linger(Some(Duration::ZERO));
            }
        }
    }
}

/// What the proxy does with a request: answer it, or end the connection.
enum Answer {
    Respond(Response),
    End(End),
}

/// The fault for a request to `path`: the one set for it, else one drawn by the chaos mode.
fn fault_for(state: &State, path: &str) -> Fault {
    let set = state
        .faults
        .lock()
        .expect("faults")
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, f)| f.clone());
    let fault = set.unwrap_or_else(|| {
        let mut chaos = state.chaos.lock().expect("chaos");
        match chaos.as_mut() {
            Some(c) if !c.faults.is_empty() => {
                if c.rng.chance(c.probability) {
                    let i = c.rng.below(c.faults.len());
                    c.faults[i].clone()
                } else {
                    Fault::Pass
                }
            }
            _ => Fault::Pass,
        }
    });
    if fault != Fault::Pass {
        *state
            .injected
            .lock()
            .expect("injected")
            .entry(fault.name())
            .or_default() += 1;
    }
    fault
}

async fn forward(
    state: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let path = uri.path().to_string();
    state
        .forwarded
        .lock()
        .expect("forwarded")
        .push(path.clone());
    let fault = fault_for(&state, &path);
    let (status, retry_after) = match fault {
        Fault::Status(code) => (Some(code), 7),
        Fault::Throttled {
            status,
            retry_after,
        } => (Some(status), retry_after),
        _ => (None, 0),
    };
    if let Some(code) = status {
        return Answer::Respond(
            Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .header("retry-after", retry_after.to_string())
                .body(Body::from(
                    r#"{"error":{"code":"injected","message":"injected by the test proxy"}}"#,
                ))
                .expect("response"),
        );
    }
    if fault == Fault::Drop {
        return Answer::End(End::Close);
    }
    let mut request = state
        .http
        .request(method, format!("{}{}", state.upstream, uri));
    for (name, value) in headers.iter() {
        if name != "host" && name != "accept-encoding" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let upstream = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Answer::Respond(
                Response::builder()
                    .status(502)
                    .body(Body::from(e.to_string()))
                    .expect("response"),
            )
        }
    };
    let status = upstream.status();
    if path == "/v1/live" && status.is_success() {
        return Answer::Respond(stream_through(&state, upstream));
    }
    let real = upstream.bytes().await.unwrap_or_default();
    match fault {
        Fault::Reset => return Answer::End(End::Reset),
        Fault::Delay(d) => tokio::time::sleep(d).await,
        _ => {}
    }
    Answer::Respond(answer(fault, status, real))
}

/// A live stream's answer, passed on chunk by chunk until the server ends it or a
/// [`StreamFault`] sent after it opened says otherwise.
fn stream_through(state: &State, upstream: reqwest::Response) -> Response {
    let faults = state.stream_faults.subscribe();
    let status = upstream.status();
    let body = futures_util::stream::unfold(
        (upstream, faults, false),
        |(mut upstream, mut faults, mut stalled)| async move {
            loop {
                tokio::select! {
                    fault = faults.recv() => match fault {
                        Ok(StreamFault::Cut) => {
                            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut");
                            return Some((Err(cut), (upstream, faults, true)));
                        }
                        Ok(StreamFault::Stall) => stalled = true,
                        Ok(StreamFault::Inject(bytes)) => {
                            return Some((Ok(bytes), (upstream, faults, stalled)));
                        }
                        Err(_) => {}
                    },
                    chunk = upstream.chunk() => match chunk {
                        // Read on while stalled, so the server believes it is heard.
                        Ok(Some(bytes)) if !stalled => {
                            return Some((Ok(bytes), (upstream, faults, stalled)));
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) if stalled => std::future::pending::<()>().await,
                        Ok(None) | Err(_) => return None,
                    },
                }
            }
        },
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .expect("response")
}

/// The answer to send for `fault`, from the server's real one.
fn answer(fault: Fault, status: StatusCode, real: Bytes) -> Response {
    let json = |bytes: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .expect("response")
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(&real).unwrap_or(serde_json::Value::Null);
    match fault {
        Fault::Pass
        | Fault::Status(_)
        | Fault::Throttled { .. }
        | Fault::Drop
        | Fault::Reset
        | Fault::Delay(_) => json(real.to_vec()),
        Fault::Garbage => json(b"<html>502 Bad Gateway</html>".to_vec()),
        Fault::TruncatedJson => json(real[..real.len() / 2].to_vec()),
        Fault::CutMidBody => {
            let half = Bytes::copy_from_slice(&real[..real.len() / 2]);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "cut",
                )),
            ];
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header("content-length", real.len().to_string())
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .expect("response")
        }
        Fault::Oversized(n) => json(pad(&real, n)),
        Fault::OversizedChunked(n) => {
            let padded = pad(&real, n);
            let chunks: Vec<Result<Bytes, std::io::Error>> = padded
                .chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .expect("response")
        }
        Fault::WrongType => {
            if let Some(row) = value["upserts"].get_mut(0).and_then(|r| r.as_array_mut()) {
                let title = value_index(&value_fields(&real), "title");
                if let Some(slot) = title.and_then(|i| row.get_mut(i + 2)) {
                    *slot = serde_json::json!(42);
                }
            }
            json(serde_json::to_vec(&value).expect("json"))
        }
        Fault::UnknownField => {
            if let Some(fields) = value["fields"].as_array_mut() {
                fields.push(serde_json::json!("colour"));
            }
            if let Some(rows) = value["upserts"].as_array_mut() {
                for row in rows.iter_mut().filter_map(|r| r.as_array_mut()) {
                    row.push(serde_json::json!("red"));
                }
            }
            json(serde_json::to_vec(&value).expect("json"))
        }
        Fault::UnknownEntity => {
            value["entity"] = serde_json::json!("invoices");
            json(serde_json::to_vec(&value).expect("json"))
        }
        Fault::ExtraResult => {
            if let Some(results) = value["results"].as_array_mut() {
                if let Some(first) = results.first().cloned() {
                    results.push(first);
                }
            }
            json(serde_json::to_vec(&value).expect("json"))
        }
        Fault::LoseAnswer => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from("upstream answer lost"))
            .expect("response"),
    }
}

fn value_fields(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::from_value(v["fields"].clone()).ok())
        .unwrap_or_default()
}

fn value_index(fields: &[String], name: &str) -> Option<usize> {
    fields.iter().position(|f| f == name)
}

/// The real JSON object with a padding member that brings it to `size` bytes.
fn pad(real: &[u8], size: usize) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(real).unwrap_or(serde_json::json!({}));
    v["padding"] = serde_json::Value::String("x".repeat(size));
    serde_json::to_vec(&v).expect("json")
}
