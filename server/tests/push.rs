//! Push: validation, versions, conflicts and idempotent replay, checked on the server's data.

mod common;

use common::{assert_error, outcome, Api};
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use syncline_server::testing::TestServer;

fn insert_task(seq: u64, key: &str, title: &str) -> Json {
    json!({"mutation_id": format!("m{seq}"), "seq": seq, "entity": "tasks", "key": key, "op": "insert",
           "fields": {"project_id": "p-harbor", "title": title, "done": false}, "base_version": null})
}

#[test]
fn the_same_batch_twice_is_applied_once() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let store = server.store();
    let batch = json!([
        insert_task(1, "t-a", "First"),
        {"mutation_id": "m2", "seq": 2, "entity": "tasks", "key": "t-harbor-2", "op": "update",
         "fields": {"done": true}, "base_version": 1},
        {"mutation_id": "m3", "seq": 3, "entity": "tasks", "key": "t-harbor-4", "op": "delete", "base_version": 1},
        {"mutation_id": "m4", "seq": 4, "entity": "tasks", "key": "t-b", "op": "insert",
         "fields": {"project_id": "p-harbor", "title": 42}},
        {"mutation_id": "m5", "seq": 5, "entity": "comments", "key": "c-a", "op": "insert",
         "fields": {"project_id": "p-harbor", "task_id": "t-a", "body": "on it"}},
    ]);
    let first = api.push("demo-bob", "bob-phone", batch.clone());
    let position = store.log_position().expect("position");
    let tasks = store.count_records("tasks").expect("count");
    let second = api.push("demo-bob", "bob-phone", batch);
    assert_eq!(first, second, "the stored results come back");
    assert_eq!(
        store.log_position().expect("position"),
        position,
        "nothing applied twice"
    );
    assert_eq!(store.count_records("tasks").expect("count"), tasks);

    assert_eq!(
        outcome(&first, 0),
        json!({"mutation_id": "m1", "seq": 1, "status": "applied", "version": 1})
    );
    assert_eq!(outcome(&first, 1)["version"], 2);
    assert_eq!(outcome(&first, 2)["version"], 2);
    assert_eq!(outcome(&first, 3)["code"], "invalid_value");
    assert_eq!(outcome(&first, 4)["status"], "applied");
    let a = store
        .get_record("tasks", "t-a")
        .expect("get")
        .expect("exists");
    assert_eq!((a.version, a.fields["title"].clone()), (1, json!("First")));
    let h2 = store
        .get_record("tasks", "t-harbor-2")
        .expect("get")
        .expect("exists");
    assert_eq!((h2.version, h2.fields["done"].clone()), (2, json!(true)));
    let h4 = store
        .get_record("tasks", "t-harbor-4")
        .expect("get")
        .expect("exists");
    assert!(h4.deleted);
    assert_eq!(h4.version, 2);
    assert!(store.get_record("tasks", "t-b").expect("get").is_none());
    assert_eq!(
        store.client_last_seq("bob-phone", "tasks").expect("seq"),
        Some(4)
    );
    assert_eq!(
        store.client_last_seq("bob-phone", "comments").expect("seq"),
        Some(5)
    );

    // A resend of the tail plus a new mutation: the old ones are replayed, the new one applied.
    let third = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "m5", "seq": 5, "entity": "comments", "key": "c-a", "op": "insert",
             "fields": {"project_id": "p-harbor", "task_id": "t-a", "body": "on it"}},
            {"mutation_id": "m6", "seq": 6, "entity": "tasks", "key": "t-a", "op": "update",
             "fields": {"title": "First!"}, "base_version": 1},
        ]),
    );
    assert_eq!(third.results[0], first.results[4]);
    assert_eq!(outcome(&third, 1)["version"], 2);
    // Results below the latest batch's lowest seq were pruned.
    let fourth = api.push(
        "demo-bob",
        "bob-phone",
        json!([insert_task(2, "t-zzz", "late")]),
    );
    assert_eq!(outcome(&fourth, 0)["code"], "invalid_mutation");
    assert!(store.get_record("tasks", "t-zzz").expect("get").is_none());
}

#[test]
fn conflicts_overwrite_field_by_field_or_are_reported() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let store = server.store();
    // Someone else edits the task on the server: version 2.
    let mut fields = serde_json::Map::new();
    fields.insert("notes".into(), json!("server notes"));
    assert_eq!(
        store
            .upsert_record("tasks", "t-harbor-2", &fields)
            .expect("edit"),
        2
    );

    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "r", "seq": 1, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"title": "Mine"}, "base_version": 1, "on_conflict": "report"},
        ]),
    );
    let r = outcome(&resp, 0);
    assert_eq!(r["status"], "conflict");
    assert_eq!(r["current"]["key"], "t-harbor-2");
    assert_eq!(r["current"]["version"], 2);
    assert_eq!(r["current"]["fields"]["notes"], "server notes");
    assert_eq!(r["current"]["fields"]["title"], "Inspect pump 2 impeller");
    assert_eq!(
        store
            .get_record("tasks", "t-harbor-2")
            .expect("get")
            .expect("exists")
            .version,
        2
    );

    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "o", "seq": 2, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"title": "Mine"}, "base_version": 1},
        ]),
    );
    assert_eq!(
        outcome(&resp, 0),
        json!({"mutation_id": "o", "seq": 2, "status": "applied", "version": 3, "overwrote": 2})
    );
    let rec = store
        .get_record("tasks", "t-harbor-2")
        .expect("get")
        .expect("exists");
    assert_eq!(rec.fields["title"], "Mine");
    assert_eq!(
        rec.fields["notes"], "server notes",
        "untouched fields keep the newer value"
    );

    // A deleted record: report answers a null current; an overwriting update is not_found.
    store.delete_record("tasks", "t-harbor-3").expect("delete");
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "d1", "seq": 3, "entity": "tasks", "key": "t-harbor-3", "op": "update",
             "fields": {"done": true}, "base_version": 1, "on_conflict": "report"},
            {"mutation_id": "d2", "seq": 4, "entity": "tasks", "key": "t-harbor-3", "op": "update",
             "fields": {"done": true}, "base_version": 1},
        ]),
    );
    assert_eq!(
        outcome(&resp, 0),
        json!({"mutation_id": "d1", "seq": 3, "status": "conflict", "current": null})
    );
    assert_eq!(outcome(&resp, 1)["code"], "not_found");
}

#[test]
fn an_insert_of_an_existing_key_is_an_update_conflict() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let resp = api.push(
        "demo-alice",
        "alice-tablet",
        json!([
            {"mutation_id": "a", "seq": 1, "entity": "tasks", "key": "t-harbor-1", "op": "insert",
             "fields": {"project_id": "p-harbor", "title": "Again"}, "on_conflict": "report"},
            {"mutation_id": "b", "seq": 2, "entity": "tasks", "key": "t-harbor-1", "op": "insert",
             "fields": {"project_id": "p-harbor", "title": "Again"}},
            {"mutation_id": "c", "seq": 3, "entity": "comments", "key": "c-harbor-1", "op": "insert",
             "fields": {"project_id": "p-harbor", "task_id": "t-harbor-1", "body": "dup"}},
        ]),
    );
    assert_eq!(outcome(&resp, 0)["status"], "conflict");
    assert_eq!(outcome(&resp, 0)["current"]["version"], 1);
    assert_eq!(outcome(&resp, 1)["overwrote"], 1);
    assert_eq!(outcome(&resp, 1)["version"], 2);
    assert_eq!(outcome(&resp, 2)["code"], "append_only");
}

#[test]
fn schema_violations_are_rejected_one_by_one() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([
            {"mutation_id": "1", "seq": 1, "entity": "invoices", "key": "i1", "op": "insert", "fields": {}},
            {"mutation_id": "2", "seq": 2, "entity": "tasks", "key": "t-depot-1", "op": "update",
             "fields": {"colour": "red"}, "base_version": 1},
            {"mutation_id": "3", "seq": 3, "entity": "tasks", "key": "t-depot-1", "op": "update",
             "fields": {"id": "t-other"}, "base_version": 1},
            {"mutation_id": "4", "seq": 4, "entity": "tasks", "key": "t-depot-1", "op": "update",
             "fields": {"done": "yes"}, "base_version": 1},
            {"mutation_id": "5", "seq": 5, "entity": "tasks", "key": "t-depot-1", "op": "update",
             "fields": {"priority": 1.5}, "base_version": 1},
            {"mutation_id": "6", "seq": 6, "entity": "tasks", "key": "t-depot-1", "op": "update",
             "fields": {"title": null}, "base_version": 1},
            {"mutation_id": "7", "seq": 7, "entity": "tasks", "key": "t-x", "op": "insert",
             "fields": {"project_id": "p-depot"}},
            {"mutation_id": "8", "seq": 8, "entity": "projects", "key": "p-depot", "op": "update",
             "fields": {"name": "Mine now"}, "base_version": 1},
            {"mutation_id": "9", "seq": 9, "entity": "projects", "key": "p-new", "op": "insert",
             "fields": {"name": "New"}},
            {"mutation_id": "10", "seq": 10, "entity": "comments", "key": "c-depot-1", "op": "update",
             "fields": {"body": "edited"}, "base_version": 1},
            {"mutation_id": "11", "seq": 11, "entity": "comments", "key": "c-depot-1", "op": "delete",
             "base_version": 1},
            {"mutation_id": "12", "seq": 12, "entity": "tasks", "key": "t-depot-1", "op": "update",
             "fields": {"estimate_hours": 2, "tags": {"any": ["json"]}, "due_at": 1767225600000_i64},
             "base_version": 1},
        ]),
    );
    let codes: Vec<Json> = (0..12).map(|i| outcome(&resp, i)["code"].clone()).collect();
    assert_eq!(
        codes,
        vec![
            json!("unknown_entity"),
            json!("unknown_field"),
            json!("unknown_field"),
            json!("invalid_value"),
            json!("invalid_value"),
            json!("invalid_value"),
            json!("invalid_value"),
            json!("read_only"),
            json!("read_only"),
            json!("append_only"),
            json!("append_only"),
            Json::Null,
        ]
    );
    assert_eq!(
        outcome(&resp, 11)["status"],
        "applied",
        "one rejection never stops the others"
    );
    let rec = server
        .store()
        .get_record("tasks", "t-depot-1")
        .expect("get")
        .expect("exists");
    assert_eq!(rec.fields["estimate_hours"], json!(2.0));
    assert_eq!(rec.fields["tags"], json!({"any": ["json"]}));
    let project = server
        .store()
        .get_record("projects", "p-depot")
        .expect("get")
        .expect("exists");
    assert_eq!(project.fields["name"], "North depot inspection");
    assert_eq!(
        server
            .store()
            .client_last_seq("alice-phone", "tasks")
            .expect("seq"),
        Some(12)
    );
}

#[test]
fn malformed_batches_are_bad_requests() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let (status, body) = api.push_raw(
        "demo-alice",
        "alice-phone",
        json!([insert_task(2, "t-a", "a"), insert_task(2, "t-b", "b")]),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");
    let (status, _) = api.push_raw(
        "demo-alice",
        "alice-phone",
        json!([insert_task(3, "t-a", "a"), insert_task(1, "t-b", "b")]),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let many: Vec<Json> = (1..=501)
        .map(|i| insert_task(i, &format!("t-{i}"), "x"))
        .collect();
    let (status, body) = api.push_raw("demo-alice", "alice-phone", Json::Array(many));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");
    let (status, body) = api.post(
        "/v1/push",
        Some("demo-alice"),
        &json!({"client_id": "c", "mutations": [{"seq": 1, "entity": "tasks", "key": "k", "op": "rename"}]}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");
    // A client id PostgreSQL could not store is refused as a bad request on either database.
    let (status, body) = api.push_raw(
        "demo-alice",
        "alice\u{0}phone",
        json!([insert_task(1, "t-a", "a")]),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "bad_request");
    assert_eq!(
        server.store().count_records("tasks").expect("count"),
        12,
        "nothing applied"
    );

    // 500 is fine.
    let max: Vec<Json> = (1..=500)
        .map(|i| insert_task(i, &format!("t-{i}"), "x"))
        .collect();
    let resp = api.push("demo-alice", "alice-phone", Json::Array(max));
    assert_eq!(resp.results.len(), 500);
    assert_eq!(server.store().count_records("tasks").expect("count"), 512);
}

#[test]
fn marks_are_per_entity_so_units_can_sync_in_any_order() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    // The tasks unit syncs first with a later seq; the older comment arrives afterwards.
    let tasks = api.push(
        "demo-bob",
        "bob-tablet",
        json!([insert_task(7, "t-later", "Later")]),
    );
    assert_eq!(outcome(&tasks, 0)["status"], "applied");
    let comments = api.push(
        "demo-bob",
        "bob-tablet",
        json!([{"mutation_id": "c3", "seq": 3, "entity": "comments", "key": "c-older", "op": "insert",
                "fields": {"project_id": "p-harbor", "task_id": "t-later", "body": "older"}}]),
    );
    assert_eq!(
        outcome(&comments, 0)["status"],
        "applied",
        "not mistaken for a replay"
    );
    assert!(server
        .store()
        .get_record("comments", "c-older")
        .expect("get")
        .is_some());
    assert_eq!(
        server
            .store()
            .client_last_seq("bob-tablet", "tasks")
            .expect("seq"),
        Some(7)
    );
    assert_eq!(
        server
            .store()
            .client_last_seq("bob-tablet", "comments")
            .expect("seq"),
        Some(3)
    );
}

#[test]
fn a_clients_own_edits_never_conflict_but_anothers_do() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let update = |id: &str, seq: u64, field: &str, value: Json, base: i64| {
        json!({"mutation_id": id, "seq": seq, "entity": "tasks", "key": "t-harbor-3", "op": "update",
               "fields": {field: value}, "base_version": base, "on_conflict": "report"})
    };
    // Three offline edits of one record, all made on version 1, pushed together.
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            update("a", 1, "done", json!(true), 1),
            update("b", 2, "priority", json!(3), 1),
            update("c", 3, "notes", json!("n"), 1)
        ]),
    );
    for i in 0..3 {
        assert_eq!(
            outcome(&resp, i)["status"],
            "applied",
            "edit {i}: {:?}",
            outcome(&resp, i)
        );
    }
    // alice's device, which last saw version 1, now conflicts: the newer versions are bob's.
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([update("d", 1, "title", json!("x"), 1)]),
    );
    assert_eq!(outcome(&resp, 0)["status"], "conflict");
    assert_eq!(outcome(&resp, 0)["current"]["version"], 4);
    // A change made on the server conflicts with bob's next edit made on his last version.
    let mut fields = serde_json::Map::new();
    fields.insert("title".into(), json!("From the office"));
    server
        .store()
        .upsert_record("tasks", "t-harbor-3", &fields)
        .expect("server edit");
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([update("e", 4, "done", json!(false), 4)]),
    );
    assert_eq!(outcome(&resp, 0)["status"], "conflict");
}

/// Issue 22: a key holding U+0000 failed the whole batch with `500 internal` on PostgreSQL, on
/// every retry, so every later change of the device waited behind it; SQLite stored it. One key
/// rule now holds on both databases, and a key that breaks it is rejected alone.
#[test]
fn a_key_that_breaks_the_key_rule_is_rejected_alone_on_either_database() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let long = "k".repeat(257);
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([
            insert_task(1, "t-key-good-1", "Before"),
            insert_task(2, "k\u{0}ey", "NUL in the key"),
            insert_task(3, "tab\tkey", "A tab in the key"),
            insert_task(4, &long, "Too long"),
            insert_task(5, "", "Empty"),
            insert_task(6, "t-key-good-2", "After"),
        ]),
    );
    let codes: Vec<Json> = (0..6).map(|i| outcome(&resp, i)["code"].clone()).collect();
    assert_eq!(
        codes,
        vec![
            Json::Null,
            json!("invalid_key"),
            json!("invalid_key"),
            json!("invalid_key"),
            json!("invalid_key"),
            Json::Null,
        ]
    );
    assert!(outcome(&resp, 1)["message"]
        .as_str()
        .is_some_and(|m| m.contains("U+0000")));
    let store = server.store();
    assert!(store
        .get_record("tasks", "t-key-good-1")
        .expect("get")
        .is_some());
    assert!(store
        .get_record("tasks", "t-key-good-2")
        .expect("get")
        .is_some());
    // The device's next batch goes on from there.
    let next = api.push(
        "demo-alice",
        "alice-phone",
        json!([insert_task(7, "t-key-good-3", "Later")]),
    );
    assert_eq!(outcome(&next, 0)["status"], "applied");
}
