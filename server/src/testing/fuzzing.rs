//! The entry point for fuzzing everything a client sends the server: method and path, the
//! `Authorization` header (opaque tokens and JWTs), `Content-Encoding`, and the push and pull
//! bodies, through the whole router (decompression, body limit, authentication, validation, the
//! store). The `fuzz/` crate's target (cargo-fuzz, nightly) and this crate's proptest pass
//! (`tests/fuzz_requests.rs`, stable) both call [`ServerTarget::request`].
//!
//! Test support (cargo feature `testing`): never part of a server build.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower_service::Service as _;

use crate::demo::seed_demo;
use crate::http::{Limits, ServerOptions};
use crate::jwt::{JwtConfig, JwtVerifier};
use crate::store::Store;

/// The HS256 secret the target's server trusts JWTs signed with (so a fuzzer can sign claims
/// of its own and get past the signature to the claims' checks).
pub const JWT_SECRET: &str = "fuzzing-secret-fuzzing-secret-32";

/// The opaque token of a demo user who is a member of two projects.
pub const TOKEN: &str = "demo-alice";

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Sent as it is, no `Content-Encoding`.
    Identity,
    /// Gzipped by the target, with `Content-Encoding: gzip`.
    Gzip,
    /// Sent as it is but labelled `Content-Encoding: gzip` (a broken gzip stream).
    FalseGzip,
}

/// A server on a scratch SQLite database with the demo data, limits off (a fuzzer sends far
/// more requests per second than any client), trusting [`TOKEN`] and JWTs signed with
/// [`JWT_SECRET`]; requests are handed to its router in-process, no socket.
pub struct ServerTarget {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

impl ServerTarget {
    /// Opens the database and builds the router.
    ///
    /// # Panics
    /// When the scratch database cannot be made: test support only.
    pub fn new() -> ServerTarget {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = Store::open_sample(dir.path().join("server.db"))
            .unwrap_or_else(|e| panic!("store: {e}"));
        seed_demo(&store).unwrap_or_else(|e| panic!("demo data: {e}"));
        let verifier = JwtVerifier::new(JwtConfig::hs256(JWT_SECRET))
            .unwrap_or_else(|e| panic!("verifier: {e}"));
        let options = ServerOptions {
            limits: Limits {
                rate_per_user: None,
                auth_failures_per_minute: None,
                ..Limits::default()
            },
            jwt: Some(Arc::new(verifier)),
            ..ServerOptions::default()
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let router = crate::http::router_with(store, &options);
        ServerTarget {
            runtime,
            router,
            _dir: dir,
        }
    }

    /// Sends one request (`endpoint` picks method and path) and returns the answer's status
    /// once its body has been read to the end.
    ///
    /// # Panics
    /// When the server answers 500 (a request must never make it fail: a bad one is a 4xx) or
    /// its body cannot be read: the fuzzers' finding.
    pub fn request(
        &self,
        endpoint: u8,
        authorization: Option<&[u8]>,
        encoding: Encoding,
        body: &[u8],
    ) -> StatusCode {
        let (method, path) = match endpoint % 6 {
            0 | 1 => (Method::POST, syncline_protocol::PUSH_PATH),
            2 | 3 => (Method::POST, syncline_protocol::PULL_PATH),
            4 => (Method::GET, syncline_protocol::ME_PATH),
            _ => (Method::POST, "/v1/nope"),
        };
        let mut request = Request::builder().method(method).uri(path);
        if let Some(value) = authorization.and_then(|v| axum::http::HeaderValue::from_bytes(v).ok())
        {
            request = request.header(header::AUTHORIZATION, value);
        }
        request = request.header(header::CONTENT_TYPE, "application/json");
        let body = match encoding {
            Encoding::Identity => body.to_vec(),
            Encoding::Gzip => {
                request = request.header(header::CONTENT_ENCODING, "gzip");
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(body)
                    .and_then(|()| enc.finish())
                    .unwrap_or_else(|e| panic!("gzip: {e}"))
            }
            Encoding::FalseGzip => {
                request = request.header(header::CONTENT_ENCODING, "gzip");
                body.to_vec()
            }
        };
        let request = request
            .body(Body::from(body))
            .unwrap_or_else(|e| panic!("request: {e}"));
        let mut router = self.router.clone();
        self.runtime.block_on(async move {
            let response = router
                .call(request)
                .await
                .unwrap_or_else(|never| match never {});
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .unwrap_or_else(|e| panic!("the answer's body broke: {e}"))
                .to_bytes();
            assert_ne!(
                status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "a request made the server fail: {}",
                String::from_utf8_lossy(&body)
            );
            status
        })
    }
}

impl Default for ServerTarget {
    fn default() -> Self {
        ServerTarget::new()
    }
}

/// `Authorization: Bearer <a JWT>` signed with [`JWT_SECRET`] over the given header and claims
/// JSON texts (any bytes: a fuzzer's), so the server gets past the signature to the claims.
pub fn signed_jwt(header_json: &[u8], claims_json: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!("{}.{}", b64.encode(header_json), b64.encode(claims_json));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(JWT_SECRET.as_bytes())
        .unwrap_or_else(|e| panic!("hmac key: {e}"));
    mac.update(signed.as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    format!("Bearer {signed}.{signature}").into_bytes()
}
