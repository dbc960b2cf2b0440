//! Pull: projection, paging, tombstones and request validation.

mod common;

use common::{assert_error, tombstone_keys, upsert_keys, Api};
use reqwest::StatusCode;
use serde_json::json;
use syncline_server::testing::TestServer;
use syncline_server::testing::{bulk_insert_tasks, KeyKind};

#[test]
fn a_page_carries_exactly_the_requested_fields_in_order() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let page = api.pull(
        "demo-carol",
        "tasks",
        None,
        100,
        &["due_at", "title", "tags", "done", "estimate_hours"],
    );
    assert_eq!(page.entity, "tasks");
    assert_eq!(
        page.fields,
        vec!["due_at", "title", "tags", "done", "estimate_hours"]
    );
    assert!(!page.has_more);
    assert!(page.tombstones.is_empty());
    assert_eq!(page.upserts.len(), 3);
    assert_eq!(
        page.upserts[1],
        json!([
            "t-ridge-2",
            1,
            1_767_600_000_000_i64 + 3 * 86_400_000,
            "Confirm the transformer delivery slot",
            ["logistics"],
            false,
            0.5
        ])
        .as_array()
        .expect("array")
        .clone()
    );
    let position = server.store().log_position().expect("pos");
    let cursor: i64 = page.cursor.parse().expect("a decimal cursor");
    assert!(cursor > 0 && cursor <= position);
    // Nothing new: an empty page that keeps the cursor.
    let again = api.pull("demo-carol", "tasks", Some(&page.cursor), 100, &["title"]);
    assert!(again.upserts.is_empty() && again.tombstones.is_empty() && !again.has_more);
    assert_eq!(again.cursor, page.cursor);
    // No fields at all: key and version only.
    let bare = api.pull("demo-carol", "tasks", None, 100, &[]);
    assert_eq!(bare.upserts[0], vec![json!("t-ridge-1"), json!(1)]);
}

#[test]
fn paging_walks_the_change_log_with_has_more() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    assert_eq!(
        bulk_insert_tasks(server.store(), "p-depot", 2_345, KeyKind::Random).expect("bulk"),
        2_345
    );
    let mut cursor: Option<String> = None;
    let mut keys = Vec::new();
    let mut pages = 0;
    loop {
        let page = api.pull(
            "demo-alice",
            "tasks",
            cursor.as_deref(),
            500,
            &["title", "project_id"],
        );
        pages += 1;
        assert!(page.upserts.len() <= 500);
        if page.has_more {
            assert_eq!(page.upserts.len(), 500);
        }
        keys.extend(
            page.upserts
                .iter()
                .map(|u| u[0].as_str().expect("key").to_string()),
        );
        cursor = Some(page.cursor.clone());
        if !page.has_more {
            break;
        }
    }
    assert_eq!(keys.len(), 2_345 + 9);
    assert_eq!(pages, 5);
    let unique: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "each record once");
    // Bob still sees only the harbor's five.
    assert_eq!(
        upsert_keys(&api.pull_all("demo-bob", "tasks", &["title"])).len(),
        5
    );
    // The limit is clamped to 5000.
    let big = api.pull("demo-alice", "tasks", None, 1_000_000, &["title"]);
    assert_eq!(big.upserts.len(), 2_354);
    assert!(!big.has_more);
}

#[test]
fn deletions_reach_other_devices_as_tombstones() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let first = api.pull_all("demo-bob", "tasks", &["title"]);
    let cursor = first.last().expect("page").cursor.clone();
    // Alice deletes one task from her device, the server deletes another.
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([{"mutation_id": "d", "seq": 1, "entity": "tasks", "key": "t-harbor-2", "op": "delete", "base_version": 1}]),
    );
    assert_eq!(common::outcome(&resp, 0)["version"], 2);
    server
        .store()
        .delete_record("tasks", "t-harbor-3")
        .expect("delete");
    let mut fields = serde_json::Map::new();
    fields.insert("done".into(), json!(true));
    server
        .store()
        .upsert_record("tasks", "t-harbor-1", &fields)
        .expect("edit");

    let next = api.pull_from("demo-bob", "tasks", Some(&cursor), &["title", "done"]);
    assert_eq!(
        next[0].tombstones,
        vec![("t-harbor-2".to_string(), 2), ("t-harbor-3".to_string(), 2)]
    );
    assert_eq!(upsert_keys(&next), vec!["t-harbor-1"]);
    assert_eq!(next[0].upserts[0][1], json!(2));
    // A device starting from scratch gets the tombstones too (harmless) and the live records.
    let fresh = api.pull_all("demo-bob", "tasks", &["title"]);
    assert_eq!(tombstone_keys(&fresh).len(), 2);
    assert_eq!(upsert_keys(&fresh).len(), 3);
}

#[test]
fn bad_pull_requests_are_refused_with_json_errors() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let cases = [
        (
            json!({"entity": "invoices", "limit": 10, "fields": []}),
            "unknown_entity",
        ),
        (
            json!({"entity": "tasks", "limit": 10, "fields": ["title", "colour"]}),
            "unknown_field",
        ),
        (
            json!({"entity": "tasks", "limit": 10, "fields": ["id"]}),
            "unknown_field",
        ),
        (
            json!({"entity": "tasks", "cursor": "12abc", "limit": 10, "fields": []}),
            "bad_request",
        ),
        (
            json!({"entity": "tasks", "cursor": "-3", "limit": 10, "fields": []}),
            "bad_request",
        ),
        (json!({"entity": "tasks", "fields": []}), "bad_request"),
        (
            json!({"entity": "tasks", "limit": 10, "fields": "title"}),
            "bad_request",
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = api.post("/v1/pull", Some("demo-alice"), &body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&answer, code);
    }
}
