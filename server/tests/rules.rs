//! The office's write rules (docs/backend.md, "Write rules") on a real server over loopback
//! HTTP, on the run's backend, asking an endpoint of the test's own (`common::receiver`): one
//! signed call per push with each mutation, the stored record (server-only fields included) and
//! the user; a refusal comes back as `rule:<code>` with the office's words and nothing of it is
//! stored, while the rest of the push is applied; a replayed push is not asked about again; and a
//! timeout or a broken answer follows the entity's policy: `fail_closed` holds the whole push
//! (503, nothing applied), `fail_open` applies it.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::receiver::{Call, Receiver};
use common::{outcome, Api};
use serde_json::{json, Value as Json};
use syncline_server::testing::TestServer;
use syncline_server::{ServerOptions, ServerSchema};

const SECRET: &str = "rules-test-secret-of-32-bytes-or-more!";

/// The sample schema with write rules on tasks at `url`.
fn schema(url: &str, on_failure: &str, timeout_ms: u64) -> ServerSchema {
    let text = format!(
        "{}\n[entities.tasks.validate]\nurl = \"{url}\"\non_failure = \"{on_failure}\"\ntimeout_ms = {timeout_ms}\n",
        syncline_protocol::sample::SCHEMA_TOML
    );
    ServerSchema::parse(&text).expect("the schema with rules")
}

fn server(url: &str, on_failure: &str, timeout_ms: u64) -> TestServer {
    let options = ServerOptions {
        rules_secret: Some(SECRET.to_string()),
        ..ServerOptions::default()
    };
    TestServer::try_with_demo_schema(schema(url, on_failure, timeout_ms), options)
        .expect("a server with rules")
}

/// The office's rule: no due date in the past (before 2020 here, so the test's clock does not
/// matter); a title "ERP-unsafe" is refused too. Everything else is accepted.
fn office(call: &Call) -> axum::response::Response {
    let body = call.json();
    let mut rejected = Vec::new();
    for m in body["mutations"].as_array().expect("mutations") {
        let id = m["mutation_id"].clone();
        if m["fields"]["due_at"]
            .as_i64()
            .is_some_and(|d| d < 1_577_836_800_000)
        {
            rejected.push(json!({"mutation_id": id, "code": "due_in_past",
                "message": "The due date is in the past.\nPick a later one."}));
        } else if m["fields"]["title"] == json!("ERP-unsafe") {
            rejected.push(json!({"mutation_id": id, "code": "title_refused",
                "message": "The ERP cannot take this title."}));
        }
    }
    axum::Json(json!({ "rejected": rejected })).into_response()
}

fn task(seq: u64, key: &str, fields: Json) -> Json {
    json!({"mutation_id": format!("m-{seq}"), "seq": seq, "entity": "tasks", "key": key,
           "op": "insert", "fields": fields})
}

fn task_fields(title: &str, due_at: i64) -> Json {
    json!({"project_id": "p-harbor", "title": title, "due_at": due_at})
}

#[test]
fn a_refusal_reaches_the_device_with_the_offices_words_and_the_rest_is_applied() {
    let mut endpoint = Receiver::answering(office);
    let server = server(&endpoint.url, "fail_closed", 2000);
    let api = Api::new(&server);
    // The office's own notes on an existing task: the rules see them, devices never do.
    server
        .store()
        .upsert_record(
            "tasks",
            "t-office",
            json!({"project_id": "p-harbor", "title": "Pump", "internal_notes": "ask for Jo"})
                .as_object()
                .expect("fields"),
        )
        .expect("office task");
    let mutations = json!([
        task(1, "t-late", task_fields("Late", 1_000)),
        task(2, "t-fine", task_fields("Fine", 4_000_000_000_000)),
        {"mutation_id": "m-3", "seq": 3, "entity": "tasks", "key": "t-office", "op": "update",
         "fields": {"title": "ERP-unsafe"}, "base_version": 1},
        {"mutation_id": "m-4", "seq": 4, "entity": "comments", "key": "c-1", "op": "insert",
         "fields": {"project_id": "p-harbor", "task_id": "t-fine", "body": "on it"}},
    ]);
    let resp = api.push("demo-alice", "phone-a", mutations.clone());
    assert_eq!(
        outcome(&resp, 0),
        json!({"mutation_id": "m-1", "seq": 1, "status": "rejected", "code": "rule:due_in_past",
               "message": "The due date is in the past. Pick a later one."})
    );
    assert_eq!(outcome(&resp, 1)["status"], json!("applied"));
    assert_eq!(outcome(&resp, 2)["code"], json!("rule:title_refused"));
    assert_eq!(outcome(&resp, 3)["status"], json!("applied"));

    // One call for the push, signed, with the user, each task mutation and the stored record.
    let call = endpoint.next_where("for the push", |_| true);
    call.assert_signed(SECRET);
    let body = call.json();
    assert_eq!(body["user"], json!("alice"));
    assert_eq!(body["client_id"], json!("phone-a"));
    let asked = body["mutations"].as_array().expect("mutations");
    let keys: Vec<&str> = asked
        .iter()
        .map(|m| m["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        ["t-late", "t-fine", "t-office"],
        "comments have no rules"
    );
    assert_eq!(asked[0]["current"], Json::Null);
    assert_eq!(
        asked[2]["current"]["fields"]["internal_notes"],
        json!("ask for Jo")
    );
    assert_eq!(asked[2]["current"]["version"], json!(1));

    // Nothing of a refused mutation is stored.
    let stored = |key: &str| server.store().get_record("tasks", key).expect("read");
    assert!(stored("t-late").is_none());
    assert!(stored("t-fine").is_some());
    assert_eq!(
        stored("t-office").expect("kept").fields["title"],
        json!("Pump")
    );

    // The same push again (the answer was lost): the stored results stand, the office is not
    // asked again.
    let again = api.push("demo-alice", "phone-a", mutations);
    assert_eq!(again.results, resp.results);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(endpoint.all().len(), 1, "a replay is not judged again");
}

#[test]
fn a_push_of_a_hundred_mutations_is_one_call() {
    let mut endpoint = Receiver::answering(office);
    let server = server(&endpoint.url, "fail_closed", 2000);
    let mutations: Vec<Json> = (1..=100)
        .map(|i| task(i, &format!("t-{i}"), task_fields("Fine", 4_000_000_000_000)))
        .collect();
    let resp = Api::new(&server).push("demo-bob", "phone-b", Json::Array(mutations));
    assert!(resp
        .results
        .iter()
        .all(|r| matches!(r.outcome, syncline_protocol::Outcome::Applied { .. })));
    let call = endpoint.next_where("for the push", |_| true);
    assert_eq!(call.json()["mutations"].as_array().map(Vec::len), Some(100));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(endpoint.all().len(), 1);
}

/// An endpoint that answers `broken` to every call, under `policy`: the push's status and
/// whether the task was stored.
fn pushed_past(
    broken: impl Fn(&Call) -> axum::response::Response + Send + Sync + 'static,
    policy: &str,
) -> (StatusCode, Json, bool) {
    let endpoint = Receiver::answering(broken);
    let server = server(&endpoint.url, policy, 300);
    let (status, body) = Api::new(&server).push_raw(
        "demo-alice",
        "phone-a",
        json!([task(1, "t-1", task_fields("Fine", 4_000_000_000_000))]),
    );
    let stored = server
        .store()
        .get_record("tasks", "t-1")
        .expect("read")
        .is_some();
    (status, body, stored)
}

fn broken_answers() -> Vec<(&'static str, common::receiver::Answer)> {
    vec![
        (
            "a 500",
            std::sync::Arc::new(|_: &Call| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        ),
        (
            "a timeout",
            std::sync::Arc::new(|_: &Call| {
                std::thread::sleep(Duration::from_millis(1500));
                axum::Json(json!({"rejected": []})).into_response()
            }),
        ),
        (
            "invalid JSON",
            std::sync::Arc::new(|_: &Call| "{not json".into_response()),
        ),
        (
            "a huge body",
            std::sync::Arc::new(|_: &Call| {
                let padding = "x".repeat(2 * 1024 * 1024);
                axum::Json(json!({"rejected": [], "padding": padding})).into_response()
            }),
        ),
        (
            "an unknown mutation",
            std::sync::Arc::new(|_: &Call| {
                axum::Json(
                    json!({"rejected": [{"mutation_id": "nope", "code": "x", "message": "m"}]}),
                )
                .into_response()
            }),
        ),
        (
            "a bad code",
            std::sync::Arc::new(|call: &Call| {
                let id = call.json()["mutations"][0]["mutation_id"].clone();
                axum::Json(
                    json!({"rejected": [{"mutation_id": id, "code": "Bad Code", "message": "m"}]}),
                )
                .into_response()
            }),
        ),
    ]
}

#[test]
fn fail_closed_holds_the_push_when_the_rules_cannot_be_asked() {
    for (what, answer) in broken_answers() {
        let (status, body, stored) = pushed_past(move |call| answer(call), "fail_closed");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
        assert_eq!(body["error"]["code"], json!("rules_unavailable"), "{what}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("127.0.0.1"),
            "{what}: the office's address stays in the log: {message}"
        );
        assert!(!stored, "{what}: nothing is applied");
    }
}

#[test]
fn fail_open_applies_the_push_when_the_rules_cannot_be_asked() {
    for (what, answer) in broken_answers() {
        let (status, body, stored) = pushed_past(move |call| answer(call), "fail_open");
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        assert_eq!(body["results"][0]["status"], json!("applied"), "{what}");
        assert!(stored, "{what}");
    }
}

#[test]
fn a_schema_with_bad_rules_is_refused_with_its_line() {
    let bad = |table: &str| {
        let text = format!(
            "{}\n[entities.tasks.validate]\n{table}\n",
            syncline_protocol::sample::SCHEMA_TOML
        );
        ServerSchema::parse(&text).expect_err(table).to_string()
    };
    assert!(bad("on_failure = \"fail_open\"").contains("needs a `url`"));
    assert!(bad("url = \"ftp://office\"").contains("not an http:// or https:// URL"));
    assert!(bad("url = \"http://o\"\ntimeout_ms = 0").contains("timeout_ms"));
    assert!(bad("url = \"http://o\"\non_failure = \"maybe\"").contains("fail_closed"));
    assert!(bad("url = \"http://o\"\nretries = 3").contains("validate.retries"));
}

/// A push that carries one mutation id twice cannot slip the second past the office: a refusal
/// of the id holds back both.
#[test]
fn a_refused_id_holds_back_every_mutation_that_carries_it() {
    let endpoint = Receiver::answering(office);
    let server = server(&endpoint.url, "fail_closed", 2000);
    let mut late = task(1, "t-late", task_fields("Late", 1_000));
    let mut fine = task(2, "t-fine", task_fields("Fine", 4_000_000_000_000));
    late["mutation_id"] = json!("same");
    fine["mutation_id"] = json!("same");
    // The refused one first: were the id matched to one mutation, it would be the second.
    let resp = Api::new(&server).push("demo-alice", "phone-a", json!([late, fine]));
    assert_eq!(outcome(&resp, 0)["code"], json!("rule:due_in_past"));
    assert_eq!(outcome(&resp, 1)["code"], json!("rule:due_in_past"));
    assert!(server
        .store()
        .get_record("tasks", "t-late")
        .expect("get")
        .is_none());
}
