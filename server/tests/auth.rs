//! Authentication: every endpoint needs a valid bearer token; failures are 401 with the right code.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, Api};
use reqwest::StatusCode;
use serde_json::json;
use syncline_server::testing::TestServer;

#[test]
fn a_valid_token_identifies_the_user() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let (status, body) = api.me(Some("demo-carol"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"user_id": "carol"}));
}

#[test]
fn missing_malformed_unknown_and_revoked_tokens_are_unauthorized() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let (status, body) = api.me(None);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");

    let resp = api
        .client
        .get(format!("{}/v1/me", api.url))
        .header("Authorization", "Basic ZGVtbzpkZW1v")
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_error(&resp.json().expect("json"), "unauthorized");

    let (status, body) = api.me(Some("not-a-token"));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");

    let token = server.store().issue_token("bob", None).expect("token");
    assert_eq!(api.me(Some(&token)).0, StatusCode::OK);
    assert!(server.store().revoke_token(&token).expect("revoke"));
    let (status, body) = api.me(Some(&token));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
}

#[test]
fn an_expired_token_says_so() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    // Long enough that the first request is answered while the token is valid, on a loaded
    // machine too (with 50 ms it could expire first); then asked until it has expired.
    let ttl = Duration::from_secs(3);
    let issued = Instant::now();
    let token = server
        .store()
        .issue_token("alice", Some(ttl))
        .expect("token");
    assert_eq!(api.me(Some(&token)).0, StatusCode::OK);
    std::thread::sleep(ttl.saturating_sub(issued.elapsed()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, body) = api.me(Some(&token));
        if status != StatusCode::OK || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "token_expired");
}

#[test]
fn pull_and_push_need_a_token_too() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let (status, body) = api.post(
        "/v1/pull",
        None,
        &json!({"entity": "tasks", "limit": 10, "fields": ["title"]}),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
    let (status, body) = api.post(
        "/v1/push",
        Some("demo-nobody"),
        &json!({"client_id": "c1", "mutations": []}),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
    // Authentication comes before the body is even looked at.
    let resp = api
        .client
        .post(format!("{}/v1/push", api.url))
        .body("{not json")
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
