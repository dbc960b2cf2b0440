//! End to end, the sync engine's scheduling and settling: the request queue and units, the
//! network watcher, automatic sync, status and listeners, conflicts and quarantine. Real server
//! over loopback, real SQLite files; background work is awaited by polling its visible effects.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use support::{
    client, client_with, client_with_schema, eventually, manual, new_task, schema_with_task_policy,
    server, server_put, set,
};
use syncline_core::Event;
use syncline_core::Record;
use syncline_core::{
    AutoSync, BannerKind, Config, ConflictPolicy, Connectivity, FailureReason, MutationStage,
    NetworkStatus, NetworkType, Resolution, SyncState, SyncUnit, Syncline, SynclineError, Value,
};
use syncline_protocol::sample::{COMMENTS, PROJECTS, TASKS};
use tokio::sync::broadcast;

/// Waits for the next event that `pick` accepts; returns what it made of it.
fn wait_event<T>(
    rx: &mut broadcast::Receiver<Event>,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let mut found = None;
    eventually(what, || {
        while let Ok(event) = rx.try_recv() {
            if let Some(t) = pick(&event) {
                found = Some(t);
                return true;
            }
        }
        false
    });
    found.expect("found")
}

fn completed(unit: &str) -> impl FnMut(&Event) -> Option<syncline_core::SyncReport> + '_ {
    move |e| match e {
        Event::SyncCompleted { report } if report.unit == unit => Some(report.clone()),
        _ => None,
    }
}

/// A task as the server holds it (tombstones included).
fn server_task(
    server: &syncline_server::testing::TestServer,
    key: &str,
) -> Option<syncline_server::StoredRecord> {
    server.store().get_record("tasks", key).expect("read")
}

fn server_title(server: &syncline_server::testing::TestServer, key: &str) -> serde_json::Value {
    server_task(server, key)
        .expect("record")
        .fields
        .get("title")
        .cloned()
        .unwrap_or_default()
}

fn local_title(device: &Syncline, key: &str) -> Value {
    device
        .get(TASKS, key)
        .expect("get")
        .expect("record")
        .get("title")
        .cloned()
        .unwrap_or(Value::Null)
}

fn online() -> Connectivity {
    Connectivity::online(NetworkType::Wifi)
}

fn queued_units(device: &Syncline) -> Vec<String> {
    device.queued_syncs().into_iter().map(|r| r.unit).collect()
}

#[test]
fn trigger_sync_returns_at_once_and_reports_through_events() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    let mut events = device.events();
    device.trigger_sync("tasks", false).expect("queued");
    let unit = wait_event(&mut events, "sync started", |e| match e {
        Event::SyncStarted { unit } => Some(unit.clone()),
        _ => None,
    });
    assert_eq!(unit, "tasks");
    let report = wait_event(&mut events, "tasks synced", completed("tasks"));
    // A unit syncs only its entities, each as its own step.
    assert_eq!(report.entities.len(), 1);
    assert_eq!(report.entities[0].entity, TASKS);
    assert_eq!(report.entities[0].pulled, 3);
    assert!(device
        .query(COMMENTS, &syncline_core::Query::all(10))
        .expect("q")
        .records
        .is_empty());
    assert!(matches!(
        device.trigger_sync("nope", false),
        Err(SynclineError::InvalidInput { .. })
    ));

    // A failure names the unit and carries the error.
    server.store().revoke_token(&users.alice).expect("revoke");
    device.trigger_sync("comments", false).expect("queued");
    let error = wait_event(&mut events, "comments failed", |e| match e {
        Event::SyncFailed { unit, error } if unit == "comments" => Some(error.clone()),
        _ => None,
    });
    assert!(
        matches!(error, SynclineError::SignInNeeded { .. }),
        "{error:?}"
    );
}

#[test]
fn discard_pending_drops_queued_requests_but_never_outbox_data() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("all").expect("sync");
    device.report_connectivity(Connectivity::offline());
    device
        .insert(TASKS, new_task("t-new", "p-shared", "Kept through discard"))
        .expect("insert");
    device.trigger_sync("comments", false).expect("queued");
    device.trigger_sync("projects", false).expect("queued");
    device.trigger_sync("comments", false).expect("queued");
    assert_eq!(
        queued_units(&device),
        vec!["comments", "projects"],
        "queued once"
    );
    device.trigger_sync("tasks", true).expect("queued");
    assert_eq!(queued_units(&device), vec!["tasks"]);
    assert_eq!(device.status().pending, 1, "the outbox is untouched");

    let mut events = device.events();
    device.report_connectivity(online());
    let report = wait_event(&mut events, "tasks synced", completed("tasks"));
    assert_eq!(report.entities[0].pushed, 1);
    assert_eq!(
        server_title(&server, "t-new"),
        json!("Kept through discard")
    );
    assert!(queued_units(&device).is_empty());
}

#[test]
fn unit_priorities_order_the_queue() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = manual(&server.url(), &users.alice);
    config.units = vec![
        SyncUnit::new("all", &[PROJECTS, TASKS, COMMENTS]),
        SyncUnit::new("comments", &[COMMENTS]),
        SyncUnit::new("tasks", &[TASKS]).priority(5),
    ];
    let device = client_with(dir.path(), "device", config);
    device.report_connectivity(Connectivity::offline());
    device.trigger_sync("all", false).expect("q");
    device.trigger_sync("comments", false).expect("q");
    device.trigger_sync("tasks", false).expect("q");
    assert_eq!(queued_units(&device), vec!["tasks", "all", "comments"]);
}

#[test]
fn the_queue_survives_a_restart_and_runs_after_it() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let device = client(dir.path(), "device", &server.url(), &users.alice);
        device.report_connectivity(Connectivity::offline());
        device
            .insert(
                TASKS,
                new_task("t-restart", "p-shared", "Queued before a restart"),
            )
            .expect("insert");
        device.trigger_sync("comments", false).expect("q");
        device.trigger_sync("tasks", false).expect("q");
        assert_eq!(queued_units(&device), vec!["comments", "tasks"]);
    }
    // The process "restarts" online: the queued requests run by themselves.
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    eventually("the restored queue ran", || {
        queued_units(&device).is_empty() && device.status().pending == 0
    });
    assert_eq!(
        server_title(&server, "t-restart"),
        json!("Queued before a restart")
    );
    assert!(device.status().last_synced_at.is_some());
}

#[test]
fn a_rejected_mutation_waits_aside_and_can_be_edited_retried_or_discarded() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = client(dir.path(), "bob", &server.url(), &users.bob);
    bob.sync_now_blocking("all").expect("sync");
    let to_edit = bob
        .insert(TASKS, new_task("t-edit", "p-carol", "Wrong project"))
        .expect("insert");
    let to_retry = bob
        .insert(TASKS, new_task("t-retry", "p-carol", "Not yet allowed"))
        .expect("insert");
    bob.insert(TASKS, new_task("t-discard", "p-carol", "Never mind"))
        .expect("insert");
    let after = bob
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("done", Value::Boolean(true))),
        )
        .expect("edit")
        .expect("changed");
    assert_eq!(
        bob.mutation_stage(&after.mutation_id).expect("stage"),
        Some(MutationStage::Saved)
    );
    let report = bob.sync_now_blocking("tasks").expect("sync");
    assert_eq!(
        (report.entities[0].pushed, report.entities[0].quarantined),
        (1, 3)
    );
    // The mutation after the refused ones synced, and the pull that followed saw it.
    let stage = bob
        .mutation_stage(&after.mutation_id)
        .expect("stage")
        .expect("known");
    assert!(matches!(stage, MutationStage::Seen { .. }), "{stage:?}");
    assert_eq!(
        bob.mutation_stage(&to_edit.mutation_id).expect("stage"),
        Some(MutationStage::Quarantined)
    );
    let refused = bob.quarantined().expect("quarantine");
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|q| q.code == "forbidden"));
    let seq_of = |key: &str| {
        refused
            .iter()
            .find(|q| q.key == key)
            .expect("quarantined")
            .seq
    };

    // Edit: move it to a project bob belongs to.
    bob.edit_quarantined(
        seq_of("t-edit"),
        set("project_id", Value::Text("p-shared".into())),
    )
    .expect("edit");
    // Discard: the local record goes away.
    bob.discard_quarantined(seq_of("t-discard"))
        .expect("discard");
    assert!(bob.get(TASKS, "t-discard").expect("get").is_none());
    // Retry: after carol lets bob into her project.
    server
        .store()
        .add_membership("bob", "p-carol")
        .expect("membership");
    bob.retry_quarantined(seq_of("t-retry")).expect("retry");
    assert!(matches!(
        bob.retry_quarantined(seq_of("t-retry")),
        Err(SynclineError::NoSuchQuarantined { .. })
    ));
    assert_eq!(bob.status().quarantined, 0);
    assert_eq!(bob.status().pending, 2);

    let report = bob.sync_now_blocking("tasks").expect("sync");
    assert_eq!(
        (report.entities[0].pushed, report.entities[0].quarantined),
        (2, 0)
    );
    let edited = server_task(&server, "t-edit").expect("t-edit");
    assert_eq!(edited.fields.get("project_id"), Some(&json!("p-shared")));
    assert!(server_task(&server, "t-retry").is_some());
    assert!(server_task(&server, "t-discard").is_none());
    assert!(
        matches!(
            bob.mutation_stage(&to_retry.mutation_id).expect("stage"),
            Some(MutationStage::Seen { .. })
        ),
        "a retried mutation keeps its id"
    );
}

#[test]
fn edits_of_different_fields_merge_by_themselves() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("tasks").expect("sync");
    device
        .update(
            TASKS,
            Record::new("t-shared-1")
                .with_values(set("title", Value::Text("Title from the device".into()))),
        )
        .expect("edit");
    server_put(
        &server,
        "tasks",
        "t-shared-1",
        json!({"project_id": "p-shared", "title": "Task t-shared-1", "done": false,
               "notes": "Notes from the office", "internal_notes": "server only"}),
    );
    let report = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(
        (report.entities[0].conflicts, report.entities[0].to_inbox),
        (1, 0)
    );
    assert_eq!(
        server_title(&server, "t-shared-1"),
        json!("Title from the device")
    );
    let on_server = server_task(&server, "t-shared-1").expect("t1");
    assert_eq!(
        on_server.fields.get("notes"),
        Some(&json!("Notes from the office"))
    );
    let local = device.get(TASKS, "t-shared-1").expect("get").expect("t1");
    assert_eq!(local.text("notes"), Some("Notes from the office"));
    assert_eq!(local.version, Some(on_server.version));
    assert!(device.conflicts().expect("inbox").is_empty());
}

/// Makes an overlapping title edit on `key` (device and server) and syncs it into the inbox.
fn overlap(
    server: &syncline_server::testing::TestServer,
    device: &Syncline,
    key: &str,
    mine: &str,
    theirs: &str,
) -> i64 {
    device
        .update(
            TASKS,
            Record::new(key).with_values(set("title", Value::Text(mine.into()))),
        )
        .expect("edit");
    server_put(
        server,
        "tasks",
        key,
        json!({"project_id": "p-shared", "title": theirs, "done": false}),
    );
    let report = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(report.entities[0].to_inbox, 1);
    let inbox = device.conflicts().expect("inbox");
    let conflict = inbox
        .iter()
        .find(|c| c.key == key)
        .expect("the conflict is in the inbox");
    assert_eq!(conflict.fields, vec!["title".to_string()]);
    assert_eq!(
        conflict.local.as_ref().and_then(|l| l.get("title")),
        Some(&Value::Text(mine.into())),
        "nothing the user wrote is lost"
    );
    assert_eq!(
        conflict.remote.as_ref().and_then(|r| r.get("title")),
        Some(&Value::Text(theirs.into()))
    );
    conflict.id
}

#[test]
fn overlapping_edits_go_to_the_inbox_and_resolve_each_way() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("tasks").expect("sync");

    // Keep mine.
    let id = overlap(&server, &device, "t-shared-1", "Mine", "Theirs");
    let conflict = &device.conflicts().expect("inbox")[0];
    assert_eq!(
        conflict.base.get("title"),
        Some(&Value::Text("Task t-shared-1".into()))
    );
    assert_eq!(device.status().conflicts, 1);
    assert_eq!(
        local_title(&device, "t-shared-1"),
        Value::Text("Theirs".into())
    );
    device.resolve(id, Resolution::KeepMine).expect("resolve");
    assert_eq!(
        local_title(&device, "t-shared-1"),
        Value::Text("Mine".into())
    );
    device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(server_title(&server, "t-shared-1"), json!("Mine"));
    assert_eq!(device.status().conflicts, 0);

    // Keep theirs.
    let id = overlap(&server, &device, "t-shared-1", "Mine again", "Theirs again");
    assert!(device
        .resolve(id, Resolution::KeepTheirs)
        .expect("resolve")
        .is_none());
    let report = device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(report.entities[0].pushed, 0);
    assert_eq!(server_title(&server, "t-shared-1"), json!("Theirs again"));
    assert_eq!(
        local_title(&device, "t-shared-1"),
        Value::Text("Theirs again".into())
    );

    // A merged record.
    let id = overlap(&server, &device, "t-shared-2", "Left", "Right");
    device
        .resolve(
            id,
            Resolution::Merged {
                values: HashMap::from([(
                    "title".to_string(),
                    Value::Text("Left and right".into()),
                )]),
            },
        )
        .expect("resolve");
    device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(server_title(&server, "t-shared-2"), json!("Left and right"));
    assert!(matches!(
        device.resolve(id, Resolution::KeepMine),
        Err(SynclineError::NoSuchConflict { .. })
    ));
    assert!(device.conflicts().expect("inbox").is_empty());
}

#[test]
fn a_delete_against_a_remote_edit_waits_for_the_user() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("tasks").expect("sync");
    device.delete(TASKS, "t-shared-2").expect("delete");
    server_put(
        &server,
        "tasks",
        "t-shared-2",
        json!({"project_id": "p-shared", "title": "Still needed", "done": false}),
    );
    device.sync_now_blocking("tasks").expect("sync");
    let inbox = device.conflicts().expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].local.is_none(), "deleted here");
    assert_eq!(
        local_title(&device, "t-shared-2"),
        Value::Text("Still needed".into()),
        "the server's record is shown until the user decides"
    );
    device
        .resolve(inbox[0].id, Resolution::KeepMine)
        .expect("resolve");
    assert!(device.get(TASKS, "t-shared-2").expect("get").is_none());
    device.sync_now_blocking("tasks").expect("sync");
    assert!(
        server_task(&server, "t-shared-2")
            .expect("tombstone")
            .deleted
    );
}

#[test]
fn server_wins_client_wins_and_locked_offline_policies() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let edit_both = |device: &Syncline, mine: &str, theirs: &str| {
        device.sync_now_blocking("tasks").expect("sync");
        device
            .update(
                TASKS,
                Record::new("t-shared-1").with_values(set("title", Value::Text(mine.into()))),
            )
            .expect("edit");
        server_put(
            &server,
            "tasks",
            "t-shared-1",
            json!({"project_id": "p-shared", "title": theirs, "notes": format!("notes by {theirs}"), "done": false}),
        );
        device.sync_now_blocking("tasks").expect("sync")
    };

    let device = client_with_schema(
        dir.path(),
        "server-wins",
        schema_with_task_policy(ConflictPolicy::ServerWins),
        manual(&server.url(), &users.alice),
    );
    let report = edit_both(&device, "Device", "Server");
    assert_eq!(
        (report.entities[0].conflicts, report.entities[0].pushed),
        (1, 0)
    );
    assert_eq!(server_title(&server, "t-shared-1"), json!("Server"));
    assert_eq!(
        local_title(&device, "t-shared-1"),
        Value::Text("Server".into())
    );
    assert_eq!(device.status().pending, 0);

    let device = client_with_schema(
        dir.path(),
        "client-wins",
        schema_with_task_policy(ConflictPolicy::ClientWins),
        manual(&server.url(), &users.alice),
    );
    let report = edit_both(&device, "Device wins", "Server again");
    assert_eq!(report.entities[0].conflicts, 1);
    assert_eq!(server_title(&server, "t-shared-1"), json!("Device wins"));
    let on_server = server_task(&server, "t-shared-1").expect("t1");
    assert_eq!(
        on_server.fields.get("notes"),
        Some(&json!("notes by Server")),
        "the whole local record (as pulled before the edit) replaced the server's"
    );

    let device = client_with_schema(
        dir.path(),
        "locked",
        schema_with_task_policy(ConflictPolicy::LockedOffline),
        manual(&server.url(), &users.alice),
    );
    device.sync_now_blocking("tasks").expect("sync");
    device.report_connectivity(Connectivity::offline());
    assert!(matches!(
        device.update(
            TASKS,
            Record::new("t-shared-1").with_values(set("done", Value::Boolean(true)))
        ),
        Err(SynclineError::NotAllowed { .. })
    ));
    device.report_connectivity(online());
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("done", Value::Boolean(true))),
        )
        .expect("online edit");
}

/// A client that syncs by itself, with short delays so tests do not wait for defaults.
fn auto_client(dir: &std::path::Path, name: &str, url: &str, token: &str) -> Syncline {
    let mut config = Config::new(url, token);
    config.auto = AutoSync {
        after_change: Some(Duration::from_millis(50)),
        retry_base: Duration::from_millis(50),
        retry_cap: Duration::from_millis(500),
        probe_base: Duration::from_millis(50),
        probe_cap: Duration::from_millis(500),
        offline_debounce: Duration::from_millis(100),
        ..AutoSync::default()
    };
    config.connect_timeout = Duration::from_secs(2);
    // These tests count the syncs the scheduler starts; live hints would add their own.
    config.live = false;
    client_with(dir, name, config)
}

#[test]
fn sync_starts_by_itself_on_start_after_changes_and_when_connectivity_returns() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = auto_client(dir.path(), "device", &server.url(), &users.alice);
    eventually("the start sync pulled the tasks", || {
        device.get(TASKS, "t-shared-1").ok().flatten().is_some()
    });
    // A local change syncs by itself (debounced).
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("priority", Value::Integer(7))),
        )
        .expect("edit");
    eventually("the change reached the server", || {
        server
            .store()
            .get_record("tasks", "t-shared-1")
            .ok()
            .flatten()
            .and_then(|r| r.fields.get("priority").cloned())
            == Some(json!(7))
    });
    // The sync that carried it may still be pulling: a sync in flight when the OS reports no
    // connectivity goes on (and would push what is written next).
    eventually("that sync ended", || {
        matches!(device.status().state, SyncState::Idle)
    });

    device.report_connectivity(Connectivity::offline());
    eventually("offline after the debounce", || {
        device.network_status() == NetworkStatus::Offline
    });
    device
        .insert(TASKS, new_task("t-basement", "p-shared", "Written offline"))
        .expect("insert");
    eventually("the offline banner counts the change", || {
        let banner = device.banner();
        banner.kind == BannerKind::Offline && banner.pending == 1
    });
    device.report_connectivity(online());
    assert_eq!(device.network_type(), NetworkType::Wifi);
    eventually("connectivity return synced the change", || {
        device.status().pending == 0
            && server
                .store()
                .get_record("tasks", "t-basement")
                .ok()
                .flatten()
                .is_some()
    });
    eventually("the banner is hidden again", || {
        device.banner().kind == BannerKind::Hidden
    });
}

#[test]
fn an_unreachable_server_is_probed_and_sync_resumes_when_it_is_back() {
    let (mut server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = auto_client(dir.path(), "device", &server.url(), &users.alice);
    eventually("first sync", || device.status().last_synced_at.is_some());
    server.stop();
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("title", Value::Text("While down".into()))),
        )
        .expect("edit");
    eventually("the server is marked unreachable", || {
        device.network_status() == NetworkStatus::ServerUnreachable
    });
    eventually("the banner says why and when it retries", || {
        let banner = device.banner();
        banner.kind == BannerKind::Failed
            && banner.reason == Some(FailureReason::Unreachable)
            && banner.next_retry_at.is_some()
            && banner.can_retry
    });
    server.restart().expect("restart");
    eventually("a probe found the server and the edit synced", || {
        device.network_status() == NetworkStatus::Online && device.status().pending == 0
    });
    assert_eq!(server_title(&server, "t-shared-1"), json!("While down"));
}

#[test]
fn sign_in_needed_stops_syncing_until_a_new_token() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = auto_client(dir.path(), "device", &server.url(), &users.alice);
    eventually("first sync", || device.status().last_synced_at.is_some());
    server.store().revoke_token(&users.alice).expect("revoke");
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("done", Value::Boolean(true))),
        )
        .expect("edit");
    eventually("sign-in needed", || {
        device.network_status() == NetworkStatus::SignInNeeded
    });
    let banner = device.banner();
    assert_eq!(banner.kind, BannerKind::Failed);
    assert_eq!(banner.reason, Some(FailureReason::SignInNeeded));
    assert_eq!(banner.next_retry_at, None);
    assert!(!banner.can_retry, "Retry cannot fix a refused token");
    assert_eq!(device.status().pending, 1, "the edit waits");
    let fresh = server.store().issue_token("alice", None).expect("token");
    device.set_token(&fresh);
    eventually("synced after signing in", || {
        device.network_status() == NetworkStatus::Online && device.status().pending == 0
    });
}

/// The banner listener never gets the same banner twice in a row, and a sync's banner knows its
/// unit's size from the first moment ("0 of 3", never "0 of 0"), through a sync of many pages.
#[test]
fn the_banner_listener_gets_each_banner_once_and_never_zero_of_zero() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    syncline_server::testing::bulk_insert_tasks(
        server.store(),
        "p-shared",
        3000,
        syncline_server::testing::KeyKind::TimeOrdered,
    )
    .expect("bulk");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let handle = device.listen_banner(move |banner| s.lock().expect("lock").push(banner));
    eventually("the banner now", || !seen.lock().expect("lock").is_empty());
    device.sync_now_blocking("all").expect("sync");
    eventually("the banner after the sync", || {
        let seen = seen.lock().expect("lock");
        seen.len() > 1 && seen.last().map(|b| b.kind) == Some(BannerKind::Hidden)
    });
    handle.stop();
    let seen = seen.lock().expect("lock").clone();
    assert!(
        seen.iter().any(|b| b.kind == BannerKind::Syncing),
        "the sync was shown: {seen:?}"
    );
    for pair in seen.windows(2) {
        assert_ne!(pair[0], pair[1], "the same banner twice in a row");
    }
    for b in seen.iter().filter(|b| b.kind == BannerKind::Syncing) {
        assert_eq!(
            b.entities_total, 3,
            "the unit `all` has three entities: {b:?}"
        );
    }
}

#[test]
fn a_listener_gets_the_current_status_then_coalesced_changes_until_stopped() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    syncline_server::testing::bulk_insert_tasks(
        server.store(),
        "p-shared",
        3000,
        syncline_server::testing::KeyKind::TimeOrdered,
    )
    .expect("bulk");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    let calls = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (calls.clone(), seen.clone());
    let subscription = device.listen(move |status| {
        c.fetch_add(1, Ordering::SeqCst);
        s.lock().expect("lock").push(status.banner.kind);
    });
    eventually("the current value at once", || {
        calls.load(Ordering::SeqCst) >= 1
    });
    assert_eq!(seen.lock().expect("lock")[0], BannerKind::Hidden);
    let report = device.sync_now_blocking("all").expect("sync");
    let rows: u64 = report.entities.iter().map(|e| e.pulled).sum();
    assert!(rows > 3000);
    eventually("the listener saw the sync end", || {
        seen.lock().expect("lock").last() == Some(&BannerKind::Hidden)
            && calls.load(Ordering::SeqCst) > 1
    });
    let n = calls.load(Ordering::SeqCst);
    assert!(n < 100, "coalesced: {n} calls for {rows} records");
    subscription.stop();
    device.report_connectivity(Connectivity::offline());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        n,
        "stopped listeners are not called"
    );

    // A listener that panics does not take the engine down.
    let _bad = device.listen(|_| panic!("listener bug"));
    device.report_connectivity(online());
    device.sync_now_blocking("tasks").expect("still syncing");
}

#[test]
fn resume_syncs_and_a_server_retry_after_is_honoured() {
    let (server, users) = server();
    let proxy = support::proxy::FaultProxy::start(&server.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = manual(&proxy.url(), &users.alice);
    config.auto.on_resume = true;
    config.auto.retry = true;
    // Read before the client opens: the status's wall times are its monotonic clock anchored to
    // the wall clock once, as it opens, and read a few ms early; a bound taken just before the
    // failing sync could be later than the retry time the banner reports (seen: +6997 ms).
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let device = client_with(dir.path(), "device", config);
    let mut events = device.events();
    device.resumed();
    wait_event(&mut events, "resume synced", completed("all"));

    // 503 with Retry-After: 7 s. The banner says when; the retry waits for it.
    proxy.set(
        syncline_protocol::PULL_PATH,
        support::proxy::Fault::Status(503),
    );
    device.trigger_sync("tasks", false).expect("queued");
    wait_event(&mut events, "503", |e| match e {
        Event::SyncFailed { unit, .. } if unit == "tasks" => Some(()),
        _ => None,
    });
    let banner = device.banner();
    assert_eq!(banner.kind, BannerKind::Failed);
    assert_eq!(
        banner.reason,
        Some(FailureReason::ServerError { status: 503 })
    );
    let retry_at = banner.next_retry_at.expect("a retry time");
    assert!(banner.can_retry, "a server hiccup offers Retry");
    assert!(
        retry_at >= before + 7_000,
        "retry at +{} ms, the server asked for 7 s",
        retry_at - before
    );
    assert_eq!(queued_units(&device), vec!["tasks"], "the retry is queued");
    // The banner's Retry action does not wait.
    proxy.heal();
    device.retry();
    wait_event(&mut events, "retried at once", completed("all"));
    eventually("the failure is gone", || {
        device.banner().kind == BannerKind::Hidden
    });
}

/// Spends one request of `token`'s rate budget on the server (a bare `GET /v1/me`).
fn spend_one_request(server: &syncline_server::testing::TestServer, token: &str) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(server.addr()).expect("connect");
    write!(
        conn,
        "GET /v1/me HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_rate_limited_sync_waits_for_retry_after_then_pushes_and_pulls() {
    // One request per second, no burst: the server answers 429 with Retry-After: 1.
    let mut options = syncline_server::ServerOptions::default();
    options.limits.rate_per_user = std::num::NonZeroU32::new(1);
    options.limits.rate_burst = std::num::NonZeroU32::MIN;
    let (server, users) = support::server_with(options);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = manual(&server.url(), &users.alice);
    config.auto.retry = true;
    // Before the client opens, as in the test above: its wall times read a few ms early.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let device = client_with(dir.path(), "device", config);
    let mut events = device.events();
    device
        .insert(TASKS, new_task("t-limited", "p-alice", "Pushed late"))
        .expect("insert");

    spend_one_request(&server, &users.alice);
    device.trigger_sync("tasks", false).expect("queued");
    wait_event(&mut events, "429", |e| match e {
        Event::SyncFailed { unit, .. } if unit == "tasks" => Some(()),
        _ => None,
    });
    let banner = device.banner();
    assert_eq!(
        banner.reason,
        Some(FailureReason::ServerError { status: 429 })
    );
    assert!(banner.can_retry, "rate limited is a passing state");
    let retry_at = banner.next_retry_at.expect("a retry time");
    assert!(
        retry_at >= before + 1_000,
        "retry at +{} ms, the server asked for 1 s",
        retry_at - before
    );

    // The retries (each waiting for the server's word) get the change through and the pull done.
    wait_event(&mut events, "synced after waiting", completed("tasks"));
    assert!(device.quarantined().expect("quarantine").is_empty());
    assert_eq!(device.status().pending, 0);
    assert!(server_task(&server, "t-limited").is_some(), "pushed");
    eventually("the failure is gone", || {
        device.banner().kind == BannerKind::Hidden
    });
}

#[test]
fn a_second_conflict_on_the_same_record_keeps_the_first_ones_edit() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("tasks").expect("sync");
    overlap(&server, &device, "t-shared-1", "My title", "Their title");
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("notes", Value::Text("My notes".into()))),
        )
        .expect("edit");
    server_put(
        &server,
        "tasks",
        "t-shared-1",
        json!({"project_id": "p-shared", "title": "Their title", "notes": "Their notes", "done": false}),
    );
    device.sync_now_blocking("tasks").expect("sync");
    let inbox = device.conflicts().expect("inbox");
    assert_eq!(inbox.len(), 1, "one conflict per record");
    let c = &inbox[0];
    let mut fields = c.fields.clone();
    fields.sort();
    assert_eq!(fields, vec!["notes".to_string(), "title".to_string()]);
    let mine = c.local.as_ref().expect("local");
    assert_eq!(mine.get("title"), Some(&Value::Text("My title".into())));
    assert_eq!(mine.get("notes"), Some(&Value::Text("My notes".into())));
    assert_eq!(
        c.base.get("title"),
        Some(&Value::Text("Task t-shared-1".into())),
        "the oldest base is kept"
    );
    device.resolve(c.id, Resolution::KeepMine).expect("resolve");
    device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(server_title(&server, "t-shared-1"), json!("My title"));
}

/// Found by the convergence property test (`tests/convergence.rs`): a resolved conflict's
/// mutations stayed "in conflict" for ever (that stage is never pruned), so `mutation_stage`
/// kept sending the app to an inbox that no longer held them.
#[test]
fn a_resolved_conflicts_mutations_leave_the_in_conflict_stage() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("tasks").expect("sync");
    for (key, resolution, stage) in [
        ("t-shared-1", Resolution::KeepTheirs, MutationStage::Dropped),
        ("t-shared-2", Resolution::KeepMine, MutationStage::Replaced),
    ] {
        let edit = device
            .update(
                TASKS,
                Record::new(key).with_values(set("title", Value::Text("Mine".into()))),
            )
            .expect("edit")
            .expect("a mutation");
        server_put(
            &server,
            "tasks",
            key,
            json!({"project_id": "p-shared", "title": "Theirs", "done": false}),
        );
        device.sync_now_blocking("tasks").expect("sync");
        let stage_of = |id: &str| device.mutation_stage(id).expect("stage");
        assert_eq!(stage_of(&edit.mutation_id), Some(MutationStage::InConflict));
        let conflict = device.conflicts().expect("inbox")[0].id;
        device.resolve(conflict, resolution).expect("resolve");
        assert_eq!(stage_of(&edit.mutation_id), Some(stage), "{key}");
    }
    device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(server_title(&server, "t-shared-1"), json!("Theirs"));
    assert_eq!(server_title(&server, "t-shared-2"), json!("Mine"));
}

/// Found by the convergence property test (`tests/convergence.rs`): when two devices created
/// the same record under the manual policy, the conflict's base held null for the required title
/// (nothing was there before), and reading the inbox failed on it, so no conflict at all could be
/// listed or resolved.
#[test]
fn a_conflict_between_two_inserts_of_one_key_can_be_read_and_resolved() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = client(dir.path(), "phone", &server.url(), &users.alice);
    let tablet = client(dir.path(), "tablet", &server.url(), &users.alice);
    phone
        .insert(TASKS, new_task("t-twice", "p-shared", "From the phone"))
        .expect("insert");
    tablet
        .insert(TASKS, new_task("t-twice", "p-shared", "From the tablet"))
        .expect("insert");
    phone.sync_now_blocking("tasks").expect("sync");
    tablet.sync_now_blocking("tasks").expect("sync");
    let inbox = tablet.conflicts().expect("the inbox can be read");
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let c = &inbox[0];
    assert_eq!(c.fields, vec!["title".to_string()]);
    assert_eq!(c.base.get("title"), Some(&Value::Null), "nothing was there");
    tablet.resolve(c.id, Resolution::KeepMine).expect("resolve");
    tablet.sync_now_blocking("tasks").expect("sync");
    assert_eq!(server_title(&server, "t-twice"), json!("From the tablet"));
}

#[test]
fn a_retried_change_never_undoes_a_newer_edit() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = client(dir.path(), "bob", &server.url(), &users.bob);
    bob.sync_now_blocking("tasks").expect("sync");
    let project = |p: &str| set("project_id", Value::Text(p.into()));
    bob.update(
        TASKS,
        Record::new("t-shared-1").with_values(project("p-carol")),
    )
    .expect("edit");
    let report = bob.sync_now_blocking("tasks").expect("sync");
    assert_eq!(
        report.entities[0].quarantined, 1,
        "moving to carol's project is refused"
    );
    let refused = bob.quarantined().expect("q")[0].seq;
    // The user moves it back; that newer edit syncs.
    bob.update(
        TASKS,
        Record::new("t-shared-1").with_values(project("p-shared")),
    )
    .expect("edit");
    bob.sync_now_blocking("tasks").expect("sync");
    // Even once carol lets bob in, retrying the old move would undo the newer edit: refused.
    server
        .store()
        .add_membership("bob", "p-carol")
        .expect("membership");
    assert!(matches!(
        bob.retry_quarantined(refused),
        Err(SynclineError::NotAllowed { .. })
    ));
    bob.discard_quarantined(refused).expect("discard");
    let on_server = server_task(&server, "t-shared-1").expect("t1");
    assert_eq!(on_server.fields.get("project_id"), Some(&json!("p-shared")));
    assert_eq!(
        bob.get(TASKS, "t-shared-1")
            .expect("get")
            .expect("t1")
            .text("project_id"),
        Some("p-shared"),
        "discarding the old change does not undo the newer one locally either"
    );
}
