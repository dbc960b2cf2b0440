//! The backend API (issue 22): service identities and what they reach, on the real server over
//! loopback HTTP, on either database (`SYNCLINE_TEST_BACKEND`).

mod common;

use common::assert_error;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use syncline_server::testing::TestServer;
use syncline_server::Service;

/// `GET path` with `token`: the status and the JSON body.
fn get(server: &TestServer, path: &str, token: Option<&str>) -> (StatusCode, Json) {
    let mut req = Client::new().get(format!("{}{path}", server.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("request");
    let status = resp.status();
    (status, resp.json().expect("a JSON body"))
}

fn service(server: &TestServer, name: &str, scopes: &[&str], all_scopes: bool) -> String {
    server
        .store()
        .add_service(&Service {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            all_scopes,
            read_only: false,
        })
        .expect("add the service")
}

#[test]
fn a_service_reads_a_record_with_its_server_only_fields_within_its_scopes() {
    let server = TestServer::with_demo();
    // The office's notes: a server-only field no device ever sees.
    let mut fields = serde_json::Map::new();
    fields.insert(
        "internal_notes".into(),
        json!("Customer asked for a call first"),
    );
    server
        .store()
        .upsert_record("tasks", "t-harbor-1", &fields)
        .expect("office notes");
    let erp = service(&server, "erp", &["p-harbor"], false);

    let (status, body) = get(&server, "/v1/admin/records/tasks/t-harbor-1", Some(&erp));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "t-harbor-1");
    assert_eq!(body["scope"], "p-harbor");
    assert_eq!(body["deleted"], false);
    assert_eq!(
        body["fields"]["internal_notes"],
        "Customer asked for a call first"
    );
    assert!(body["version"].as_i64().is_some_and(|v| v >= 2), "{body}");
    assert!(body["position"].is_string(), "a cursor string: {body}");

    // Outside its scopes: 403; no such record or entity: 404.
    let (status, body) = get(&server, "/v1/admin/records/tasks/t-depot-1", Some(&erp));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, "forbidden");
    let (status, body) = get(&server, "/v1/admin/records/tasks/t-nowhere", Some(&erp));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "not_found");
    let (status, body) = get(&server, "/v1/admin/records/invoices/i-1", Some(&erp));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "unknown_entity");

    // A service with every scope reaches p-depot too.
    let audit = service(&server, "audit", &[], true);
    let (status, body) = get(&server, "/v1/admin/records/tasks/t-depot-1", Some(&audit));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "p-depot");
}

#[test]
fn devices_get_403_and_no_or_unknown_or_revoked_tokens_401() {
    let server = TestServer::with_demo();
    let erp = service(&server, "erp", &["p-harbor"], false);
    let path = "/v1/admin/records/tasks/t-harbor-1";
    // A device's token, even one whose user sees the record: devices have their own routes.
    let (status, body) = get(&server, path, Some("demo-alice"));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, "forbidden");
    for token in [None, Some("not-a-token")] {
        let (status, body) = get(&server, path, token);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert_error(&body, "unauthorized");
    }
    // A service's token is no device token either.
    let (status, _) = get(&server, "/v1/me", Some(&erp));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // `token revoke` ends a service's token like a device's.
    assert!(server.store().revoke_token(&erp).expect("revoke"));
    let (status, body) = get(&server, path, Some(&erp));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // And a service never shows among the users (no memberships, no member lists).
    let users: Vec<String> = server
        .store()
        .users()
        .expect("users")
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert!(!users.contains(&"erp".to_string()), "{users:?}");
}
