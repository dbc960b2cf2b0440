//! Scoping: a user sees and touches only the records of projects they are a member of.

mod common;

use common::{assert_error, outcome, tombstone_keys, upsert_keys, Api};
use reqwest::StatusCode;
use serde_json::json;
use syncline_server::testing::TestServer;

const TASK_FIELDS: &[&str] = &["project_id", "title", "done"];

#[test]
fn bob_never_pulls_carols_records() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let projects = upsert_keys(&api.pull_all("demo-bob", "projects", &["name"]));
    assert_eq!(projects, vec!["p-harbor".to_string()]);
    let tasks = upsert_keys(&api.pull_all("demo-bob", "tasks", TASK_FIELDS));
    assert_eq!(tasks.len(), 5);
    assert!(
        tasks.iter().all(|k| k.starts_with("t-harbor-")),
        "{tasks:?}"
    );
    let comments = upsert_keys(&api.pull_all("demo-bob", "comments", &["body", "task_id"]));
    assert_eq!(comments.len(), 3);
    assert!(
        comments.iter().all(|k| k.starts_with("c-harbor-")),
        "{comments:?}"
    );
    // Alice sees both of her projects, carol only hers.
    assert_eq!(
        upsert_keys(&api.pull_all("demo-alice", "tasks", TASK_FIELDS)).len(),
        9
    );
    let carol = upsert_keys(&api.pull_all("demo-carol", "tasks", TASK_FIELDS));
    assert_eq!(carol, vec!["t-ridge-1", "t-ridge-2", "t-ridge-3"]);
}

#[test]
fn a_push_touching_carols_records_is_forbidden_and_changes_nothing() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let before = server
        .store()
        .get_record("tasks", "t-ridge-1")
        .expect("get")
        .expect("exists");
    let position = server.store().log_position().expect("position");
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": "t-ridge-1", "op": "update",
             "fields": {"title": "hijacked"}, "base_version": 1},
            {"mutation_id": "m2", "seq": 2, "entity": "tasks", "key": "t-ridge-2", "op": "delete",
             "base_version": 1},
            {"mutation_id": "m3", "seq": 3, "entity": "tasks", "key": "t-new", "op": "insert",
             "fields": {"project_id": "p-ridge", "title": "sneaky"}, "base_version": null},
            {"mutation_id": "m4", "seq": 4, "entity": "comments", "key": "c-new", "op": "insert",
             "fields": {"project_id": "p-ridge", "task_id": "t-ridge-1", "body": "hi"}},
            {"mutation_id": "m5", "seq": 5, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"project_id": "p-ridge"}, "base_version": 1},
            {"mutation_id": "m6", "seq": 6, "entity": "tasks", "key": "t-ridge-1", "op": "update",
             "fields": {"project_id": "p-harbor"}, "base_version": 1, "on_conflict": "report"},
        ]),
    );
    assert_eq!(resp.results.len(), 6);
    for i in 0..6 {
        let r = outcome(&resp, i);
        assert_eq!(r["status"], "rejected", "{r}");
        assert_eq!(r["code"], "forbidden", "{r}");
    }
    let store = server.store();
    assert_eq!(
        store.get_record("tasks", "t-ridge-1").expect("get"),
        Some(before)
    );
    assert!(
        !store
            .get_record("tasks", "t-ridge-2")
            .expect("get")
            .expect("exists")
            .deleted
    );
    assert!(store.get_record("tasks", "t-new").expect("get").is_none());
    assert!(store
        .get_record("comments", "c-new")
        .expect("get")
        .is_none());
    let harbor2 = store
        .get_record("tasks", "t-harbor-2")
        .expect("get")
        .expect("exists");
    assert_eq!((harbor2.scope.as_str(), harbor2.version), ("p-harbor", 1));
    assert_eq!(
        store.log_position().expect("position"),
        position,
        "nothing was written"
    );
}

#[test]
fn missing_records_in_scope_are_not_found() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": "t-nowhere", "op": "update",
             "fields": {"title": "x"}, "base_version": 1},
            {"mutation_id": "m2", "seq": 2, "entity": "tasks", "key": "t-nowhere", "op": "delete",
             "base_version": 1},
        ]),
    );
    assert_eq!(outcome(&resp, 0)["code"], "not_found");
    assert_eq!(outcome(&resp, 1)["code"], "not_found");
}

#[test]
fn a_client_id_belongs_to_one_user() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    api.push("demo-alice", "shared-device", json!([]));
    let (status, body) = api.push_raw("demo-bob", "shared-device", json!([]));
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");
    assert_eq!(
        server.store().client_user("shared-device").expect("client"),
        Some("alice".to_string())
    );
}

#[test]
fn a_task_moved_out_of_a_users_scope_reaches_them_as_a_tombstone() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let bob_pages = api.pull_all("demo-bob", "tasks", TASK_FIELDS);
    let bob_cursor = bob_pages.last().expect("a page").cursor.clone();
    let alice_pages = api.pull_all("demo-alice", "tasks", TASK_FIELDS);
    let alice_cursor = alice_pages.last().expect("a page").cursor.clone();

    // Alice moves a harbor task (shared with bob) to her own depot project.
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([{"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": "t-harbor-5", "op": "update",
                "fields": {"project_id": "p-depot"}, "base_version": 1}]),
    );
    assert_eq!(
        outcome(&resp, 0),
        json!({"mutation_id": "m1", "seq": 1, "status": "applied", "version": 2})
    );

    let bob_next = api.pull_from("demo-bob", "tasks", Some(&bob_cursor), TASK_FIELDS);
    assert!(upsert_keys(&bob_next).is_empty());
    assert_eq!(bob_next[0].tombstones, vec![("t-harbor-5".to_string(), 2)]);
    // Bob can no longer touch it.
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([{"mutation_id": "b1", "seq": 1, "entity": "tasks", "key": "t-harbor-5", "op": "update",
                "fields": {"done": true}, "base_version": 2}]),
    );
    assert_eq!(outcome(&resp, 0)["code"], "forbidden");

    // Alice, a member of both projects, sees it once, as an upsert in its new project.
    let alice_next = api.pull_from("demo-alice", "tasks", Some(&alice_cursor), TASK_FIELDS);
    assert!(tombstone_keys(&alice_next).is_empty());
    assert_eq!(
        alice_next[0].upserts,
        vec![json!([
            "t-harbor-5",
            2,
            "p-depot",
            "Update the cabinet wiring diagram",
            false
        ])
        .as_array()
        .expect("array")
        .clone()]
    );

    // Moved back: bob gets it again.
    api.push(
        "demo-alice",
        "alice-phone",
        json!([{"mutation_id": "m2", "seq": 2, "entity": "tasks", "key": "t-harbor-5", "op": "update",
                "fields": {"project_id": "p-harbor"}, "base_version": 2}]),
    );
    let bob_cursor = bob_next.last().expect("page").cursor.clone();
    let bob_again = api.pull_from("demo-bob", "tasks", Some(&bob_cursor), TASK_FIELDS);
    assert_eq!(upsert_keys(&bob_again), vec!["t-harbor-5"]);
    assert!(tombstone_keys(&bob_again).is_empty());
    // A fresh device of bob's never hears of the move at all.
    let fresh = api.pull_all("demo-bob", "tasks", TASK_FIELDS);
    assert_eq!(upsert_keys(&fresh).len(), 5);
    assert!(tombstone_keys(&fresh).is_empty());
}

#[test]
fn a_new_member_receives_the_projects_existing_records() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let pages = api.pull_all("demo-bob", "tasks", TASK_FIELDS);
    let cursor = pages.last().expect("page").cursor.clone();
    assert!(server
        .store()
        .add_membership("bob", "p-ridge")
        .expect("add"));
    let next = api.pull_from("demo-bob", "tasks", Some(&cursor), TASK_FIELDS);
    assert_eq!(
        upsert_keys(&next),
        vec!["t-ridge-1", "t-ridge-2", "t-ridge-3"]
    );
}

#[test]
fn a_removed_member_pulls_the_projects_records_as_tombstones_and_gets_them_back_on_rejoining() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    // Alice is in p-harbor (with bob) and p-depot (alone); she leaves p-depot.
    let pages = api.pull_all("demo-alice", "tasks", TASK_FIELDS);
    let all = upsert_keys(&pages);
    let depot: Vec<String> = all
        .iter()
        .filter(|k| k.starts_with("t-depot-"))
        .cloned()
        .collect();
    assert!(!depot.is_empty() && depot.len() < all.len(), "{all:?}");
    let cursor = pages.last().expect("page").cursor.clone();
    let project_cursor = api
        .pull_all("demo-alice", "projects", &["name"])
        .last()
        .expect("page")
        .cursor
        .clone();
    assert!(server
        .store()
        .remove_membership("alice", "p-depot")
        .expect("remove"));
    assert!(!server
        .store()
        .remove_membership("alice", "p-depot")
        .expect("remove again"));

    let next = api.pull_from("demo-alice", "tasks", Some(&cursor), TASK_FIELDS);
    assert_eq!(
        tombstone_keys(&next),
        depot,
        "the project's records leave her devices"
    );
    assert!(upsert_keys(&next).is_empty());
    let projects = api.pull_from("demo-alice", "projects", Some(&project_cursor), &["name"]);
    assert_eq!(
        tombstone_keys(&projects),
        vec!["p-depot"],
        "the project too"
    );
    // Her other project is untouched, and a fresh device of hers gets only that one.
    let fresh = api.pull_all("demo-alice", "tasks", TASK_FIELDS);
    assert_eq!(upsert_keys(&fresh).len(), all.len() - depot.len());
    assert!(upsert_keys(&fresh)
        .iter()
        .all(|k| k.starts_with("t-harbor-")));
    // Bob, who shares p-harbor with her, sees nothing new.
    let bob = api.pull_all("demo-bob", "tasks", TASK_FIELDS);
    assert_eq!(upsert_keys(&bob).len(), 5);
    assert!(tombstone_keys(&bob).is_empty());
    // Nor can alice write there any more.
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([{"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": depot[0],
                "op": "update", "fields": {"title": "still mine?"}, "base_version": 1}]),
    );
    assert_eq!(outcome(&resp, 0)["code"], "forbidden");

    // Rejoining brings the records back after the tombstones.
    let end = next.last().expect("page").cursor.clone();
    assert!(server
        .store()
        .add_membership("alice", "p-depot")
        .expect("add"));
    let back = api.pull_from("demo-alice", "tasks", Some(&end), TASK_FIELDS);
    assert_eq!(upsert_keys(&back), depot);
    assert!(tombstone_keys(&back).is_empty());
}
