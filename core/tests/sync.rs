//! End to end: sample-app clients on real SQLite files syncing with the real reference server
//! over loopback HTTP.

mod support;

use serde_json::json;
use support::{client, client_with, new_task, server, server_put, set};
use syncline_core::Connectivity;
use syncline_core::Query;
use syncline_core::{BannerKind, FailureReason, Record, Syncline, SynclineError, Value};
use syncline_protocol::sample::{COMMENTS, PROJECTS, TASKS};

fn keys(client: &Syncline, entity: &str) -> Vec<String> {
    client
        .query(entity, &Query::all(10_000))
        .expect("query")
        .records
        .into_iter()
        .map(|r| r.key)
        .collect()
}

fn all_records(client: &Syncline, entity: &str) -> Vec<Record> {
    client
        .query(entity, &Query::all(10_000))
        .expect("query")
        .records
}

#[test]
fn two_devices_of_one_user_converge() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = client(dir.path(), "phone", &server.url(), &users.alice);
    let tablet = client(dir.path(), "tablet", &server.url(), &users.alice);
    phone.sync_now_blocking("all").expect("first sync, phone");
    tablet.sync_now_blocking("all").expect("first sync, tablet");

    phone
        .update(
            TASKS,
            Record::new("t-shared-1")
                .with_values(set("title", Value::Text("Replace gasket".into()))),
        )
        .expect("edit");
    tablet
        .update(
            TASKS,
            Record::new("t-shared-2").with_values(set("done", Value::Boolean(true))),
        )
        .expect("edit");
    tablet
        .insert(TASKS, new_task("t-new", "p-alice", "Photograph meter"))
        .expect("insert");
    tablet.delete(TASKS, "t-alice-1").expect("delete");

    phone.sync_now_blocking("all").expect("sync");
    tablet.sync_now_blocking("all").expect("sync");
    phone.sync_now_blocking("all").expect("sync");

    for entity in [PROJECTS, TASKS, COMMENTS] {
        assert_eq!(
            all_records(&phone, entity),
            all_records(&tablet, entity),
            "{entity} differ"
        );
    }
    let t1 = phone
        .get(TASKS, "t-shared-1")
        .expect("get")
        .expect("t-shared-1");
    assert_eq!(t1.get("title"), Some(&Value::Text("Replace gasket".into())));
    assert_eq!(
        phone
            .get(TASKS, "t-shared-2")
            .expect("get")
            .expect("t2")
            .get("done"),
        Some(&Value::Boolean(true))
    );
    assert!(phone.get(TASKS, "t-new").expect("get").is_some());
    assert!(phone.get(TASKS, "t-alice-1").expect("get").is_none());
    // And the server agrees.
    let on_server = server
        .store()
        .get_record("tasks", "t-shared-1")
        .expect("server read")
        .expect("present");
    assert_eq!(
        on_server.fields.get("title"),
        Some(&json!("Replace gasket"))
    );
    assert_eq!(on_server.version, t1.version.expect("synced version"));
    assert!(
        server
            .store()
            .get_record("tasks", "t-alice-1")
            .expect("read")
            .expect("tombstone")
            .deleted
    );
    assert_eq!(phone.status().pending, 0);
    assert_eq!(tablet.banner().kind, BannerKind::Hidden);
}

#[test]
fn users_see_only_their_projects_and_cannot_touch_others() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = client(dir.path(), "bob", &server.url(), &users.bob);
    bob.sync_now_blocking("all").expect("sync");
    assert_eq!(keys(&bob, PROJECTS), vec!["p-shared"]);
    assert_eq!(keys(&bob, TASKS), vec!["t-shared-1", "t-shared-2"]);
    assert_eq!(keys(&bob, COMMENTS), vec!["c-shared"]);

    // A task in carol's project, and an edit of carol's task under its real key.
    bob.insert(TASKS, new_task("t-bob-sneaky", "p-carol", "Mine now"))
        .expect("local insert");
    bob.insert(TASKS, new_task("t-carol-1", "p-shared", "Overwrite carol"))
        .expect("local insert");
    bob.insert(TASKS, new_task("t-bob-ok", "p-shared", "Legit"))
        .expect("local insert");
    let carol_before = server
        .store()
        .get_record("tasks", "t-carol-1")
        .expect("read")
        .expect("present");
    let report = bob.sync_now_blocking("all").expect("sync");
    let tasks = report
        .entities
        .iter()
        .find(|e| e.entity == TASKS)
        .expect("tasks step");
    assert_eq!(
        (tasks.pushed, tasks.quarantined),
        (1, 2),
        "the legit task passes, the others are refused"
    );
    let refused = bob.quarantined().expect("quarantine");
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|q| q.code == "forbidden"), "{refused:?}");
    assert_eq!(
        server
            .store()
            .get_record("tasks", "t-carol-1")
            .expect("read"),
        Some(carol_before)
    );
    assert!(server
        .store()
        .get_record("tasks", "t-bob-sneaky")
        .expect("read")
        .is_none());
    assert!(server
        .store()
        .get_record("tasks", "t-bob-ok")
        .expect("read")
        .is_some());
    assert_eq!(bob.status().quarantined, 2);
    assert_eq!(
        bob.status().pending,
        0,
        "refused changes do not block the queue"
    );

    // carol sees none of bob's attempts, and none of the shared project.
    let carol = client(dir.path(), "carol", &server.url(), &users.carol);
    carol.sync_now_blocking("all").expect("sync");
    assert_eq!(keys(&carol, TASKS), vec!["t-carol-1"]);
    assert_eq!(
        carol
            .get(TASKS, "t-carol-1")
            .expect("get")
            .expect("t")
            .get("title"),
        Some(&Value::Text("Task t-carol-1".into()))
    );
}

#[test]
fn offline_edits_wait_in_the_outbox_across_restarts() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let device = client(dir.path(), "device", &server.url(), &users.alice);
        device.sync_now_blocking("all").expect("sync");
        device.report_connectivity(Connectivity::offline());
        device
            .update(
                TASKS,
                Record::new("t-shared-1").with_values(set("done", Value::Boolean(true))),
            )
            .expect("edit");
        device
            .insert(
                TASKS,
                new_task("t-offline", "p-shared", "Written in a basement"),
            )
            .expect("insert");
        assert!(matches!(
            device.sync_now_blocking("all"),
            Err(SynclineError::Offline)
        ));
        let banner = device.banner();
        assert_eq!(banner.kind, BannerKind::Offline);
        assert_eq!(banner.pending, 2);
    }
    assert!(
        server
            .store()
            .get_record("tasks", "t-offline")
            .expect("read")
            .is_none(),
        "nothing left the device"
    );
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    assert_eq!(
        device.status().pending,
        2,
        "the outbox survived closing the client"
    );
    device.sync_now_blocking("all").expect("sync");
    assert_eq!(device.status().pending, 0);
    assert!(server
        .store()
        .get_record("tasks", "t-offline")
        .expect("read")
        .is_some());
    let t1 = server
        .store()
        .get_record("tasks", "t-shared-1")
        .expect("read")
        .expect("t1");
    assert_eq!(t1.fields.get("done"), Some(&json!(true)));
}

#[test]
fn a_lost_push_answer_is_resent_and_applied_once() {
    let (server, users) = server();
    let proxy = support::proxy::FaultProxy::start(&server.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &proxy.url(), &users.alice);
    device.sync_now_blocking("all").expect("sync");
    device
        .update(
            TASKS,
            Record::new("t-shared-2").with_values(set("title", Value::Text("Sent once".into()))),
        )
        .expect("edit");
    proxy.set("/v1/push", support::proxy::Fault::LoseAnswer);
    let err = device
        .sync_now_blocking("tasks")
        .expect_err("the answer was lost");
    assert!(err.is_retryable(), "{err:?}");
    let applied = server
        .store()
        .get_record("tasks", "t-shared-2")
        .expect("read")
        .expect("t2");
    assert_eq!(applied.version, 2, "the server applied it");
    assert_eq!(
        device.status().pending,
        1,
        "the device still waits for an answer"
    );
    proxy.heal();
    device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(device.status().pending, 0);
    let after = server
        .store()
        .get_record("tasks", "t-shared-2")
        .expect("read")
        .expect("t2");
    assert_eq!(after.version, 2, "the resent batch was not applied again");
    assert_eq!(
        device
            .get(TASKS, "t-shared-2")
            .expect("get")
            .expect("t2")
            .version,
        Some(2)
    );
}

#[test]
fn last_write_wins_and_says_so() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = support::client_with_schema(
        dir.path(),
        "device",
        support::schema_with_task_policy(syncline_core::ConflictPolicy::LastWriteWins),
        support::manual(&server.url(), &users.alice),
    );
    device.sync_now_blocking("all").expect("sync");
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("title", Value::Text("Device title".into()))),
        )
        .expect("edit");
    server_put(
        &server,
        "tasks",
        "t-shared-1",
        json!({"project_id": "p-shared", "title": "Office title", "notes": "from the office"}),
    );
    let report = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(
        report.entities[0].overwrote, 1,
        "the report says the edit overwrote a newer version"
    );
    let on_server = server
        .store()
        .get_record("tasks", "t-shared-1")
        .expect("read")
        .expect("t1");
    assert_eq!(
        on_server.fields.get("title"),
        Some(&json!("Device title")),
        "last write wins on the field it changed"
    );
    assert_eq!(
        on_server.fields.get("notes"),
        Some(&json!("from the office")),
        "other fields keep the newer value"
    );
    let local = device.get(TASKS, "t-shared-1").expect("get").expect("t1");
    assert_eq!(
        local.get("notes"),
        Some(&Value::Text("from the office".into()))
    );
    assert_eq!(local.version, Some(on_server.version));

    // Several offline edits of one record push together without conflicting with each other.
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("done", Value::Boolean(true))),
        )
        .expect("edit");
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("priority", Value::Integer(3))),
        )
        .expect("edit");
    let report = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(
        (report.entities[0].pushed, report.entities[0].overwrote),
        (2, 0)
    );
}

#[test]
fn server_deletes_reach_the_device_as_tombstones() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.bob);
    device.sync_now_blocking("all").expect("sync");
    server
        .store()
        .delete_record("tasks", "t-shared-2")
        .expect("server delete");
    // A task moved to a project bob is not a member of leaves his device too.
    server_put(
        &server,
        "tasks",
        "t-shared-1",
        json!({"project_id": "p-carol", "title": "Moved"}),
    );
    let report = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(report.entities[0].deleted, 2);
    assert!(keys(&device, TASKS).is_empty());
}

#[test]
fn a_member_removed_from_a_project_loses_its_records_and_a_new_member_gets_them() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = client(dir.path(), "alice", &server.url(), &users.alice);
    let bob = client(dir.path(), "bob", &server.url(), &users.bob);
    alice.sync_now_blocking("all").expect("sync");
    bob.sync_now_blocking("all").expect("sync");
    assert_eq!(
        keys(&alice, TASKS),
        ["t-alice-1", "t-shared-1", "t-shared-2"]
    );
    assert_eq!(keys(&bob, TASKS), ["t-shared-1", "t-shared-2"]);

    // An admin takes alice out of p-shared and lets bob into p-alice.
    assert!(server
        .store()
        .remove_membership("alice", "p-shared")
        .expect("remove"));
    assert!(server
        .store()
        .add_membership("bob", "p-alice")
        .expect("add"));
    alice.sync_now_blocking("all").expect("sync");
    bob.sync_now_blocking("all").expect("sync");

    assert_eq!(
        keys(&alice, TASKS),
        ["t-alice-1"],
        "p-shared's tasks left alice's device"
    );
    assert!(keys(&alice, COMMENTS).is_empty(), "and its comments");
    assert_eq!(
        keys(&alice, PROJECTS),
        ["p-alice"],
        "and the project itself"
    );
    assert_eq!(
        keys(&bob, TASKS),
        ["t-alice-1", "t-shared-1", "t-shared-2"],
        "p-alice's existing task reached bob on his next pull"
    );
    assert_eq!(keys(&bob, PROJECTS), ["p-alice", "p-shared"]);
}

#[test]
fn pulls_page_and_resume_from_the_cursor() {
    let (server, users) = server();
    syncline_server::testing::bulk_insert_tasks(
        server.store(),
        "p-alice",
        2_345,
        syncline_server::testing::KeyKind::TimeOrdered,
    )
    .expect("bulk");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut schema_small_pages = syncline_protocol::sample::schema()
        .expect("schema")
        .entities()
        .to_vec();
    for e in &mut schema_small_pages {
        e.sync.page_size = 500;
    }
    let schema = syncline_core::Schema::new(schema_small_pages).expect("schema");
    let device = Syncline::open(
        &dir.path().join("d.db"),
        schema,
        support::manual(&server.url(), &users.alice),
    )
    .expect("open");
    let report = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(report.entities[0].pulled, 2_345 + 3);
    assert_eq!(report.entities[0].pages, 5);
    let again = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(
        (again.entities[0].pulled, again.entities[0].pages),
        (0, 1),
        "a delta pull after the cursor"
    );
    server_put(
        &server,
        "tasks",
        "t-alice-1",
        json!({"project_id": "p-alice", "title": "Changed"}),
    );
    let delta = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(delta.entities[0].pulled, 1);
}

#[test]
fn a_revoked_token_means_sign_in() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("all").expect("sync");
    server.store().revoke_token(&users.alice).expect("revoke");
    let err = device.sync_now_blocking("all").expect_err("refused");
    assert!(
        matches!(err, SynclineError::SignInNeeded { ref code, .. } if code == "unauthorized"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let banner = device.banner();
    assert_eq!(banner.kind, BannerKind::Failed);
    assert_eq!(banner.reason, Some(FailureReason::SignInNeeded));
    assert_eq!((banner.next_retry_at, banner.can_retry), (None, false));
    let fresh = server.store().issue_token("alice", None).expect("token");
    device.set_token(&fresh);
    device
        .sync_now_blocking("all")
        .expect("sync after signing in");
    assert_eq!(device.banner().kind, BannerKind::Hidden);
}

#[test]
fn an_unreachable_server_is_a_typed_retryable_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut config = support::manual(&format!("http://127.0.0.1:{port}"), "t");
    config.connect_timeout = std::time::Duration::from_secs(2);
    let device = client_with(dir.path(), "device", config);
    let err = device.sync_now_blocking("all").expect_err("nobody there");
    assert!(matches!(err, SynclineError::Unreachable { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[test]
fn the_server_sets_a_comments_author_and_time() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = client(dir.path(), "phone", &server.url(), &users.alice);
    let comment = Record::new("c-new")
        .with("project_id", Value::Text("p-shared".into()))
        .with("task_id", Value::Text("t-shared-1".into()))
        .with("body", Value::Text("gasket replaced".into()));
    // The app cannot claim to be someone else: the field is the server's.
    let err = phone
        .insert(
            COMMENTS,
            comment.clone().with("author", Value::Text("bob".into())),
        )
        .expect_err("author is set by the server");
    assert!(matches!(err, SynclineError::NotAllowed { .. }), "{err:?}");
    let before = now_ms();
    phone.insert(COMMENTS, comment).expect("insert");
    let local = phone.get(COMMENTS, "c-new").expect("get").expect("saved");
    assert!(
        matches!(local.values.get("author"), None | Some(Value::Null)),
        "unknown until pulled: {local:?}"
    );
    let report = phone.sync_now_blocking("all").expect("sync");
    let quarantined: u64 = report.entities.iter().map(|e| e.quarantined).sum();
    assert_eq!(quarantined, 0, "{report:?}");
    let after = now_ms();
    let synced = phone.get(COMMENTS, "c-new").expect("get").expect("synced");
    assert_eq!(
        synced.values.get("author"),
        Some(&Value::Text("alice".into()))
    );
    match synced.values.get("created_at") {
        Some(Value::Timestamp(t)) => assert!((before..=after).contains(t), "{t}"),
        other => panic!("created_at: {other:?}"),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The sync a client starts by itself at open is joined by a `sync_now` made while it runs: the
/// report counts the records that reached the device since the call, not only those of its own
/// (second) run, which finds nothing left to pull.
#[test]
fn sync_now_joins_the_sync_already_running_and_counts_what_it_brought() {
    let (server, users) = server();
    syncline_server::testing::bulk_insert_tasks(
        server.store(),
        "p-shared",
        20_000,
        syncline_server::testing::KeyKind::Random,
    )
    .expect("bulk");
    let dir = tempfile::tempdir().expect("tempdir");
    // The default configuration: the client syncs by itself as soon as it opens.
    let device = client_with(
        dir.path(),
        "device",
        syncline_core::Config::new(&server.url(), &users.alice),
    );
    let count = |client: &Syncline| {
        client
            .query(TASKS, &Query::all(100_000))
            .expect("query")
            .records
            .len() as u64
    };
    let before = count(&device);
    let report = device.sync_now_blocking("all").expect("sync");
    let after = count(&device);
    let tasks = report
        .entities
        .iter()
        .find(|e| e.entity == TASKS)
        .expect("tasks");
    assert!(after > 20_000, "everything arrived: {after}");
    assert!(
        tasks.pulled >= after - before,
        "the report counts what arrived since the call: {} pulled, {} arrived",
        tasks.pulled,
        after - before
    );
}
