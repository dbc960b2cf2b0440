//! Malformed, truncated and oversized server answers, injected by a proxy in front of the real
//! server: each gives a typed error, leaves the local store and outbox exactly as they were, and
//! the next sync works.

mod support;

use support::proxy::{Fault, FaultProxy};
use support::{client_with, server};
use syncline_core::Query;
use syncline_core::{Record, Syncline, SynclineError, Value};
use syncline_protocol::sample::TASKS;

/// What the error must look like.
type Expect = fn(&SynclineError) -> bool;

/// Everything the device holds, to compare before and after a failed sync: its records, and its
/// outbox, cursors and inbox as stored in its database file.
fn snapshot(device: &Syncline, db: &std::path::Path) -> (Vec<Record>, String) {
    let tasks = device
        .query(TASKS, &Query::all(10_000))
        .expect("query")
        .records;
    (tasks, support::stored_state(db))
}

#[test]
fn bad_answers_change_nothing_and_the_next_sync_works() {
    let (server, users) = server();
    let proxy = FaultProxy::start(&server.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::manual(&proxy.url(), &users.alice);
    config.max_response_bytes = 256 * 1024;
    let device = client_with(dir.path(), "device", config);
    let db = dir.path().join("device.db");
    device.sync_now_blocking("tasks").expect("first sync");
    // Something new on the server to pull, and something local waiting to push.
    support::server_put(
        &server,
        "tasks",
        "t-new",
        serde_json::json!({"project_id": "p-alice", "title": "New on server"}),
    );
    device
        .update(
            TASKS,
            Record::new("t-alice-1").with_values(std::collections::HashMap::from([(
                "done".to_string(),
                Value::Boolean(true),
            )])),
        )
        .expect("edit");

    let pull_faults: Vec<(Fault, Expect)> = vec![
        (Fault::Garbage, |e| {
            matches!(e, SynclineError::BadResponse { .. })
        }),
        (Fault::TruncatedJson, |e| {
            matches!(e, SynclineError::BadResponse { .. })
        }),
        (Fault::CutMidBody, |e| {
            matches!(
                e,
                SynclineError::BadResponse { .. } | SynclineError::Unreachable { .. }
            )
        }),
        (Fault::Oversized(1024 * 1024), |e| {
            matches!(e, SynclineError::BadResponse { .. })
        }),
        (Fault::OversizedChunked(1024 * 1024), |e| {
            matches!(e, SynclineError::BadResponse { .. })
        }),
        (
            Fault::WrongType,
            |e| matches!(e, SynclineError::BadResponse { detail: m } if m.contains("expects text")),
        ),
        (
            Fault::UnknownField,
            |e| matches!(e, SynclineError::BadResponse { detail: m } if m.contains("colour")),
        ),
        (
            Fault::UnknownEntity,
            |e| matches!(e, SynclineError::BadResponse { detail: m } if m.contains("invoices")),
        ),
        (Fault::Status(503), |e| {
            matches!(
                e,
                SynclineError::Server {
                    status: 503,
                    retry_after_secs: Some(7),
                    ..
                }
            )
        }),
    ];
    let push_faults: Vec<(Fault, Expect)> = vec![
        (Fault::Garbage, |e| {
            matches!(e, SynclineError::BadResponse { .. })
        }),
        (Fault::ExtraResult, |e| {
            matches!(e, SynclineError::BadResponse { .. })
        }),
        (Fault::Status(500), |e| {
            matches!(e, SynclineError::Server { status: 500, .. })
        }),
    ];
    for (path, faults) in [("/v1/push", push_faults), ("/v1/pull", pull_faults)] {
        if path == "/v1/pull" {
            // Get the push out of the way so the pull is what fails.
            proxy.heal();
            proxy.set("/v1/pull", Fault::Status(500));
            let _ = device.sync_now_blocking("tasks");
        }
        for (fault, expected) in faults {
            proxy.set(path, fault.clone());
            let before = snapshot(&device, &db);
            let err = device
                .sync_now_blocking("tasks")
                .expect_err("the bad answer is refused");
            assert!(expected(&err), "{path} {fault:?}: unexpected error {err:?}");
            assert_eq!(
                snapshot(&device, &db),
                before,
                "{path} {fault:?} changed the device"
            );
            assert!(err.is_retryable(), "{fault:?}");
        }
    }
    proxy.heal();
    device
        .sync_now_blocking("tasks")
        .expect("the next sync works");
    assert!(device.get(TASKS, "t-new").expect("get").is_some());
    assert_eq!(device.status().pending, 0);
    let t = server
        .store()
        .get_record("tasks", "t-alice-1")
        .expect("read")
        .expect("present");
    assert_eq!(t.fields.get("done"), Some(&serde_json::json!(true)));
    assert_eq!(t.version, 2, "replayed pushes were applied once");
}
