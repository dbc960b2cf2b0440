//! The HTTP client for the sync server: reqwest with rustls and gzip, timeouts from the
//! configuration, and every failure turned into a typed [`Error`]. Response bodies are read with
//! a size limit (counted after decompression) before any of them is parsed. The live stream
//! (`GET /v1/live`) is the one answer read as it comes, chunk by chunk, with no limit on the
//! whole (it never ends) but one on each event (`sse.rs`).

use std::sync::RwLock;

use serde::{de::DeserializeOwned, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::pulled::PulledPage;
use syncline_protocol::{
    self as protocol, EntitySchema, ErrorBody, Me, PullRequest, PushRequest, PushResponse,
    UploadRequest, UploadState,
};

/// A client of one sync server, for one user.
pub struct Transport {
    http: reqwest::Client,
    /// For the live stream: no timeout for the whole answer (it stays open), no gzip (the
    /// server never compresses it), and a connection of its own, so a stream never holds the
    /// connection a sync would use.
    live_http: reqwest::Client,
    /// For attachments' bytes: no timeout for the whole request (a 100 MB file takes what it
    /// takes) but one per read, and no gzip (photos do not compress; ranges must stay true).
    blob_http: reqwest::Client,
    base: String,
    token: RwLock<String>,
    max_response_bytes: usize,
}

impl Transport {
    /// A client for the server and token in `config`.
    pub fn new(config: &Config) -> Result<Transport> {
        let base = reqwest::Url::parse(&config.server_url).map_err(|e| {
            Error::InvalidConfig(format!("server_url `{}`: {e}", config.server_url))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::InvalidConfig(format!(
                "server_url `{}` is not http(s)",
                config.server_url
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .gzip(true)
            .use_preconfigured_tls(crate::tls::client_config()?)
            .user_agent(concat!("syncline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidConfig(format!("HTTP client: {e}")))?;
        let live_http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .no_gzip()
            .use_preconfigured_tls(crate::tls::client_config()?)
            .user_agent(concat!("syncline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidConfig(format!("HTTP client: {e}")))?;
        let blob_http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.request_timeout)
            .no_gzip()
            .use_preconfigured_tls(crate::tls::client_config()?)
            .user_agent(concat!("syncline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidConfig(format!("HTTP client: {e}")))?;
        Ok(Transport {
            http,
            live_http,
            blob_http,
            base: config.server_url.trim_end_matches('/').to_string(),
            token: RwLock::new(config.token.clone()),
            max_response_bytes: usize::try_from(config.max_response_bytes).unwrap_or(usize::MAX),
        })
    }

    /// Replaces the bearer token (after the user signed in again).
    pub fn set_token(&self, token: &str) {
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = token.to_string();
    }

    fn bearer(&self) -> String {
        format!(
            "Bearer {}",
            self.token.read().unwrap_or_else(|p| p.into_inner())
        )
    }

    /// `POST /v1/push`.
    pub async fn push(&self, request: &PushRequest) -> Result<PushResponse> {
        self.post(protocol::PUSH_PATH, request).await
    }

    /// `POST /v1/pull`, its answer decoded and checked against `e` (the entity asked for).
    pub async fn pull(&self, request: &PullRequest, e: &EntitySchema) -> Result<PulledPage> {
        let body = self.post_for_body(protocol::PULL_PATH, request).await?;
        PulledPage::decode(e, &body)
    }

    /// `POST /v1/uploads`: starts the upload of a blob (or hears the server has it from us).
    pub(crate) async fn start_upload(&self, sha256: &str, size: u64) -> Result<UploadState> {
        let request = UploadRequest {
            sha256: sha256.to_string(),
            size,
        };
        self.post(protocol::UPLOADS_PATH, &request).await
    }

    /// `GET /v1/uploads/{id}`: how much of an upload the server has.
    pub(crate) async fn upload_state(&self, upload_id: &str) -> Result<UploadState> {
        let url = format!("{}{}/{upload_id}", self.base, protocol::UPLOADS_PATH);
        self.send(self.blob_http.get(url)).await
    }

    /// `PATCH /v1/uploads/{id}`: sends `bytes` at `offset`; the server's new offset. A
    /// `409 wrong_offset` answers the offset the server has instead of an error.
    pub(crate) async fn append_upload(
        &self,
        upload_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<u64> {
        let url = format!("{}{}/{upload_id}", self.base, protocol::UPLOADS_PATH);
        let response = self
            .blob_http
            .patch(url)
            .header(reqwest::header::AUTHORIZATION, self.bearer())
            .header(protocol::UPLOAD_OFFSET_HEADER, offset)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/offset+octet-stream",
            )
            .body(bytes)
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status();
        let told = response
            .headers()
            .get(protocol::UPLOAD_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = self.read_body(response).await?;
        match (status.as_u16(), told) {
            (200..=299 | 409, Some(offset)) => Ok(offset),
            _ => {
                answer_body(status.as_u16(), None, &body)?;
                Err(Error::MalformedResponse(
                    "an upload range was answered without Upload-Offset".into(),
                ))
            }
        }
    }

    /// `POST /v1/uploads/{id}/complete`.
    pub(crate) async fn complete_upload(&self, upload_id: &str) -> Result<UploadState> {
        let path = format!("{}/{upload_id}/complete", protocol::UPLOADS_PATH);
        self.post(&path, &serde_json::json!({})).await
    }

    /// `GET /v1/blobs/{sha256}` through a record's field, from byte `from` on: the answer, its
    /// status checked (200, or 206 for a range), its body still to be read chunk by chunk.
    pub(crate) async fn download(
        &self,
        sha256: &str,
        through: (&str, &str, &str),
        from: u64,
    ) -> Result<BlobBody> {
        let (entity, key, field) = through;
        let mut url =
            reqwest::Url::parse(&format!("{}{}/{sha256}", self.base, protocol::BLOBS_PATH))
                .map_err(|e| Error::InvalidConfig(format!("blob URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("entity", entity)
            .append_pair("key", key)
            .append_pair("field", field);
        let mut request = self
            .blob_http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, self.bearer());
        if from > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let response = request.send().await.map_err(network_error)?;
        let status = response.status().as_u16();
        if status == 200 || (status == 206 && from > 0) {
            return Ok(BlobBody { response });
        }
        let body = self.read_body(response).await?;
        answer_body(status, None, &body)?;
        Err(Error::MalformedResponse(format!(
            "a download was answered {status}"
        )))
    }

    /// `GET /v1/me`: checks the token and that the server answers.
    pub async fn me(&self) -> Result<Me> {
        let request = self.http.get(format!("{}{}", self.base, protocol::ME_PATH));
        self.send(request).await
    }

    /// `GET /v1/live?heartbeat=N`: the stream once the server has answered 200, its events
    /// still to be read; any other answer is its typed error (401 `SignInNeeded`, 429 with
    /// `Retry-After`). Waits at most `timeout` for the answer's head.
    pub(crate) async fn live(
        &self,
        heartbeat: std::time::Duration,
        timeout: std::time::Duration,
    ) -> Result<LiveBody> {
        let request = self
            .live_http
            .get(format!("{}{}", self.base, protocol::LIVE_PATH))
            .query(&[("heartbeat", heartbeat.as_secs().to_string())])
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .header(reqwest::header::AUTHORIZATION, self.bearer())
            .send();
        let response = tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "no answer to {} within {timeout:?}",
                    protocol::LIVE_PATH
                ))
            })?
            .map_err(network_error)?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(LiveBody { response });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        // An error answer is small; read at most 64 KiB of it.
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(network_error)? {
            body.extend_from_slice(&chunk);
            if body.len() > 64 * 1024 {
                break;
            }
        }
        // Not 2xx, so this is always the answer's typed error.
        Err(answer_body(status, retry_after, body)
            .err()
            .unwrap_or_else(|| Error::MalformedResponse(format!("HTTP {status}"))))
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp> {
        let body = self.post_for_body(path, body).await?;
        parse_answer(&body)
    }

    /// Posts `body` as JSON; the body of a successful answer, unparsed.
    async fn post_for_body<Req: Serialize>(&self, path: &str, body: &Req) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidConfig(format!("cannot encode request: {e}")))?;
        let request = self
            .http
            .post(format!("{}{}", self.base, path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send_for_body(request).await
    }

    async fn send<Resp: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<Resp> {
        let body = self.send_for_body(request).await?;
        parse_answer(&body)
    }

    /// Sends `request`; the body of a successful answer, or the typed error of any other.
    async fn send_for_body(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>> {
        let response = request
            .header(reqwest::header::AUTHORIZATION, self.bearer())
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = self.read_body(response).await?;
        answer_body(status.as_u16(), retry_after, body)
    }

    /// Reads the whole body, refusing it as soon as it passes the limit.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>> {
        let limit = self.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|n| n as usize > limit)
        {
            return Err(Error::ResponseTooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network_error)? {
            if body.len() + chunk.len() > limit {
                return Err(Error::ResponseTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The body of an open live stream, read as it arrives.
pub(crate) struct LiveBody {
    response: reqwest::Response,
}

/// A download's answer, read chunk by chunk.
pub(crate) struct BlobBody {
    response: reqwest::Response,
}

impl BlobBody {
    /// The next bytes; `None` at the end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        self.response.chunk().await.map_err(network_error)
    }
}

impl LiveBody {
    /// The next bytes of the stream; `None` once the server closed it.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .response
            .chunk()
            .await
            .map_err(network_error)?
            .map(|b| b.to_vec()))
    }
}

/// Turns a server's answer (its status, `Retry-After` seconds and whole body) into the typed
/// result, as the transport does: [`answer_body`], then the body of a 2xx parsed as `Resp`.
/// Apart from the network, everything a server answers goes through those two or, for a pull
/// page, through [`answer_body`] and the page's own decoder (`pulled.rs`); the fuzz targets call
/// this (`fuzz/`, `docs/reliability.md`).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn decode_answer<Resp: DeserializeOwned>(
    status: u16,
    retry_after: Option<u64>,
    body: &[u8],
) -> Result<Resp> {
    parse_answer(answer_body(status, retry_after, body)?)
}

/// A successful answer's body as `Resp`; anything else in it is a malformed response.
fn parse_answer<Resp: DeserializeOwned>(body: &[u8]) -> Result<Resp> {
    serde_json::from_slice(body).map_err(|e| Error::MalformedResponse(e.to_string()))
}

/// The body of a successful answer (`status` 2xx), or the typed error of any other: the
/// server's error body when it sent one, `SignInNeeded` for a 401, with `Retry-After`'s seconds.
pub(crate) fn answer_body<B: AsRef<[u8]>>(
    status: u16,
    retry_after: Option<u64>,
    body: B,
) -> Result<B> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body.as_ref()) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (
            format!("http_{status}"),
            String::from_utf8_lossy(body.as_ref())
                .chars()
                .take(200)
                .collect(),
        ),
    };
    if status == 401 {
        return Err(Error::SignInNeeded { code, message });
    }
    Err(Error::Server {
        status,
        code,
        message,
        retry_after,
    })
}

/// Classifies a reqwest failure: a cut or undecodable body is a bad response, everything else
/// means the server could not be reached in time.
fn network_error(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout(e.to_string())
    } else if e.is_decode() {
        Error::MalformedResponse(format!("undecodable body: {e}"))
    } else if e.is_body() {
        Error::MalformedResponse(format!("response cut short: {e}"))
    } else {
        // Show the root cause ("connection refused"), not only reqwest's outer message.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        Error::Unreachable(text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use syncline_protocol::sample::TASKS;
    use syncline_protocol::{Mutation, OnConflict, Op, Outcome, PushRequest};
    use syncline_server::testing::TestServer;

    use super::*;

    #[test]
    fn the_same_push_twice_is_applied_once() {
        let server = TestServer::start();
        let store = server.store();
        store.create_user("alice").expect("user");
        let token = store.issue_token("alice", None).expect("token");
        store.create_project("p-shared", "Shared").expect("project");
        store
            .add_membership("alice", "p-shared")
            .expect("membership");
        let fields = json!({"project_id": "p-shared", "title": "Task", "done": false});
        store
            .upsert_record(TASKS, "t-shared-1", fields.as_object().expect("object"))
            .expect("server write");
        let transport = Transport::new(&Config::new(&server.url(), &token)).expect("transport");
        let request = PushRequest {
            client_id: "device-1".into(),
            mutations: vec![
                Mutation {
                    mutation_id: "m-1".into(),
                    seq: 1,
                    entity: TASKS.into(),
                    key: "t-idem".into(),
                    op: Op::Insert,
                    fields: json!({"project_id": "p-shared", "title": "Once", "done": false})
                        .as_object()
                        .cloned()
                        .expect("object"),
                    base_version: None,
                    on_conflict: OnConflict::Overwrite,
                },
                Mutation {
                    mutation_id: "m-2".into(),
                    seq: 2,
                    entity: TASKS.into(),
                    key: "t-shared-1".into(),
                    op: Op::Update,
                    fields: json!({"title": "Edited once"})
                        .as_object()
                        .cloned()
                        .expect("object"),
                    base_version: Some(1),
                    on_conflict: OnConflict::Overwrite,
                },
            ],
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let first = rt.block_on(transport.push(&request)).expect("push");
        let on_server = || {
            let read = |key: &str| {
                server
                    .store()
                    .get_record("tasks", key)
                    .expect("read")
                    .expect("present")
            };
            (
                read("t-idem"),
                read("t-shared-1"),
                server.store().log_position().expect("position"),
            )
        };
        let after_first = on_server();
        let second = rt.block_on(transport.push(&request)).expect("push again");
        assert_eq!(first, second, "a replay answers with the stored results");
        assert!(matches!(
            first.results[0].outcome,
            Outcome::Applied { version: 1, .. }
        ));
        assert!(matches!(
            first.results[1].outcome,
            Outcome::Applied { version: 2, .. }
        ));
        let after_second = on_server();
        assert_eq!(
            after_first, after_second,
            "nothing applied twice: same versions, same change log"
        );
    }
}
