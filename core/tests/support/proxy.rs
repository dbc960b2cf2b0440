//! A fault-injecting HTTP proxy for tests: forwards to the real server and, when told, answers
//! with a broken version of the real answer (garbage, truncated, cut, oversized, wrong types…).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

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
    /// An error status with a JSON error body.
    Status(u16),
}

struct State {
    upstream: String,
    http: reqwest::Client,
    faults: Mutex<Vec<(String, Fault)>>,
    forwarded: Mutex<Vec<String>>,
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
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("proxy client"),
            faults: Mutex::new(Vec::new()),
            forwarded: Mutex::new(Vec::new()),
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
                let app = axum::Router::new().fallback(move |method, uri, headers, body| {
                    forward(app_state.clone(), method, uri, headers, body)
                });
                let _ = axum::serve(listener, app).await;
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

    /// Forwards everything unchanged from now on.
    pub fn heal(&self) {
        self.state.faults.lock().expect("faults").clear();
    }

    /// Paths of the requests seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.forwarded.lock().expect("forwarded").clone()
    }
}

async fn forward(
    state: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    state
        .forwarded
        .lock()
        .expect("forwarded")
        .push(path.clone());
    let fault = state
        .faults
        .lock()
        .expect("faults")
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, f)| f.clone())
        .unwrap_or(Fault::Pass);
    if let Fault::Status(code) = fault {
        return Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .header("retry-after", "7")
            .body(Body::from(
                r#"{"error":{"code":"injected","message":"injected by the test proxy"}}"#,
            ))
            .expect("response");
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
            return Response::builder()
                .status(502)
                .body(Body::from(e.to_string()))
                .expect("response")
        }
    };
    let status = upstream.status();
    let real = upstream.bytes().await.unwrap_or_default();
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
        Fault::Pass | Fault::Status(_) => json(real.to_vec()),
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
