//! HTTP behaviour: body limits, malformed bodies, compression both ways, JSON errors everywhere,
//! and the test server's own lifecycle.

mod common;

use std::io::{Read, Write};

use common::{assert_error, Api};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use syncline_protocol::PullPage;
use syncline_server::testing::ScratchDb;
use syncline_server::testing::TestServer;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("compress");
    enc.finish().expect("compress")
}

fn raw_client() -> Client {
    Client::builder().no_gzip().build().expect("client")
}

#[test]
fn oversized_bodies_are_413_with_a_json_error() {
    let server = TestServer::with_demo();
    let url = format!("{}/v1/push", server.url());
    // Plain: 5 MiB of valid-looking JSON.
    let big = format!(
        r#"{{"client_id": "c", "mutations": [], "padding": "{}"}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let resp = raw_client()
        .post(&url)
        .bearer_auth("demo-alice")
        .header("Content-Type", "application/json")
        .body(big.clone())
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp.json().expect("json"), "payload_too_large");
    // Compressed: tiny on the wire, over the limit once decompressed.
    let compressed = gzip(big.as_bytes());
    assert!(compressed.len() < 100 * 1024);
    let resp = raw_client()
        .post(&url)
        .bearer_auth("demo-alice")
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(compressed)
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp.json().expect("json"), "payload_too_large");
    // Just under the limit is fine (unknown fields are ignored).
    let ok = format!(
        r#"{{"client_id": "c", "mutations": [], "padding": "{}"}}"#,
        "x".repeat(4 * 1024 * 1024 - 100)
    );
    let resp = raw_client()
        .post(&url)
        .bearer_auth("demo-alice")
        .header("Content-Encoding", "gzip")
        .body(gzip(ok.as_bytes()))
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn malformed_json_is_a_json_bad_request() {
    let server = TestServer::with_demo();
    for path in ["/v1/push", "/v1/pull"] {
        for body in ["{not json", "", "[]", r#"{"client_id": 3}"#] {
            let resp = raw_client()
                .post(format!("{}{path}", server.url()))
                .bearer_auth("demo-bob")
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .expect("request");
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            assert!(resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json")));
            assert_error(&resp.json().expect("json"), "bad_request");
        }
    }
    // A body that claims gzip but is not.
    let resp = raw_client()
        .post(format!("{}/v1/pull", server.url()))
        .bearer_auth("demo-bob")
        .header("Content-Encoding", "gzip")
        .body("definitely not gzip")
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_error(&resp.json().expect("json"), "bad_request");
}

#[test]
fn responses_are_gzipped_when_asked_and_requests_may_be() {
    let server = TestServer::with_demo();
    let body =
        json!({"entity": "tasks", "limit": 100, "fields": ["title", "notes", "tags"]}).to_string();
    let resp = raw_client()
        .post(format!("{}/v1/pull", server.url()))
        .bearer_auth("demo-alice")
        .header("Accept-Encoding", "gzip")
        .header("Content-Encoding", "gzip")
        .body(gzip(body.as_bytes()))
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let compressed = resp.bytes().expect("body");
    let mut text = String::new();
    GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    let page: PullPage = serde_json::from_str(&text).expect("page");
    assert_eq!(page.upserts.len(), 9);
    // Not asked: not compressed.
    let resp = raw_client()
        .post(format!("{}/v1/pull", server.url()))
        .bearer_auth("demo-alice")
        .body(body)
        .send()
        .expect("request");
    assert!(resp.headers().get("content-encoding").is_none());
    let page: PullPage = resp.json().expect("page");
    assert_eq!(page.upserts.len(), 9);
}

#[test]
fn every_error_has_the_json_body() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let resp = raw_client()
        .get(format!("{}/v1/nope", server.url()))
        .bearer_auth("demo-bob")
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_error(&resp.json().expect("json"), "not_found");
    let resp = raw_client()
        .get(format!("{}/v1/pull", server.url()))
        .bearer_auth("demo-bob")
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&resp.json().expect("json"), "bad_request");
    let resp = raw_client()
        .post(format!("{}/v1/pull", server.url()))
        .bearer_auth("demo-bob")
        .header("Content-Encoding", "br")
        .body("{}")
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Json = resp.json().expect("json");
    assert_error(&body, "bad_request");
    let (status, _) = api.me(Some("demo-bob"));
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn the_test_server_stops_restarts_and_reopens_its_database() {
    let db = ScratchDb::new();
    {
        let server = TestServer::start_at(db.location().clone());
        server.seed_demo().expect("seed");
    }
    let mut server = TestServer::start_at(db.location().clone());
    let api = Api::new(&server);
    assert_eq!(api.me(Some("demo-alice")).0, StatusCode::OK);
    server.stop();
    assert!(!server.is_running());
    assert!(
        api.client.get(format!("{}/v1/me", api.url)).send().is_err(),
        "refused while stopped"
    );
    assert_eq!(
        server
            .store()
            .count_records("tasks")
            .expect("store still usable"),
        12
    );
    server.restart().expect("restart");
    assert_eq!(
        api.me(Some("demo-alice")).0,
        StatusCode::OK,
        "same port again"
    );
}
