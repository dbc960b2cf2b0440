//! Storage failures end to end, on real files against the real reference server: a disk that
//! fills during a pull or local writes, a database file that turns read-only, a file that is
//! damaged. Filling the disk and turning the file read-only act on the store's own connection
//! (SQLite's `max_page_count` and `query_only` are per connection), through the crate's test
//! support (`syncline_core::testing::StorageFaults`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use syncline_protocol::sample::{self, COMMENTS, TASKS};
use syncline_protocol::Value;
use syncline_server::testing::{bulk_insert_tasks, KeyKind, TestServer};

use syncline_core::testing::StorageFaults;
use syncline_core::{
    AutoSync, Banner, BannerKind, Config, FailureReason, Query, Record, StorageErrorKind, Syncline,
    SynclineError,
};

fn manual(server: &TestServer) -> Config {
    let mut config = Config::new(&server.url(), "demo-alice");
    config.auto = AutoSync::manual();
    config.live = false;
    config
}

fn open(path: &Path, server: &TestServer) -> Syncline {
    Syncline::open(path, sample::schema().expect("schema"), manual(server)).expect("open")
}

fn comment(key: &str) -> Record {
    Record::new(key)
        .with("project_id", Value::Text("p-harbor".into()))
        .with("task_id", Value::Text("t-harbor-1".into()))
        .with("body", Value::Text("written before the trouble".into()))
}

/// The device's database file in a test's scratch folder.
fn device_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("device.db")
}

/// The tasks the device holds, and its outbox and cursors as stored in its file (read by a
/// connection of the test's own, as another process would): what must not change.
fn snapshot(client: &Syncline, path: &Path) -> (Vec<Record>, String) {
    let tasks = client
        .query(TASKS, &Query::all(100_000))
        .expect("query")
        .records;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the file");
    let mut stored = String::new();
    for sql in [
        "SELECT seq, mutation_id, state FROM outbox ORDER BY seq",
        "SELECT entity, cursor FROM pull_state ORDER BY entity",
    ] {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let mut rows = stmt.query([]).expect("query");
        while let Some(row) = rows.next().expect("row") {
            for i in 0..row.as_ref().column_count() {
                let v: rusqlite::types::Value = row.get(i).expect("value");
                stored.push_str(&format!("{v:?}|"));
            }
            stored.push('\n');
        }
    }
    (tasks, stored)
}

/// A server with `tasks` more tasks in p-harbor, and a device of it (on a scratch folder, kept
/// alive by the returned `TempDir`) with a mutation waiting in the outbox: a comment, which is
/// not in the `tasks` unit, so it stays waiting through a sync of tasks.
fn device_with_a_waiting_comment(tasks: usize) -> (TestServer, tempfile::TempDir, Syncline) {
    let server = TestServer::with_demo();
    bulk_insert_tasks(server.store(), "p-harbor", tasks, KeyKind::Random).expect("bulk");
    let dir = tempfile::tempdir().expect("tempdir");
    let client = open(&device_file(&dir), &server);
    client
        .insert(COMMENTS, comment("c-before"))
        .expect("insert");
    (server, dir, client)
}

#[test]
fn a_disk_that_fills_during_a_pull_changes_nothing_and_the_next_sync_completes() {
    let (server, dir, client) = device_with_a_waiting_comment(5_000);
    let before = snapshot(&client, &device_file(&dir));

    // The disk fills: a few pages more than the store holds now, far less than a pulled page.
    let store = StorageFaults::of(&client);
    let pages = store.page_count().expect("pages");
    store.limit_pages(pages + 4).expect("limit");
    let err = client
        .sync_now_blocking(TASKS)
        .expect_err("the disk is full");
    assert!(
        matches!(
            err,
            SynclineError::Storage {
                kind: StorageErrorKind::DiskFull,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable(), "space may come back");
    assert_eq!(
        snapshot(&client, &device_file(&dir)),
        before,
        "store, outbox and cursor unchanged"
    );
    let banner = assert_failed_banner(&client, StorageErrorKind::DiskFull);
    assert!(banner.can_retry);

    // Space returns: the next sync completes, and the outbox still has its mutation.
    store.limit_pages(i64::from(u32::MAX)).expect("unlimit");
    let report = client
        .sync_now_blocking(TASKS)
        .expect("sync after space returns");
    assert!(report.entities[0].pulled >= 5_000);
    assert_eq!(client.status().pending, 1);
    client.sync_now_blocking("all").expect("push the comment");
    assert!(server
        .store()
        .get_record(COMMENTS, "c-before")
        .expect("read")
        .is_some());
}

fn assert_corrupt(err: &SynclineError) {
    assert!(
        matches!(
            err,
            SynclineError::Storage {
                kind: StorageErrorKind::Corrupt,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Waits until the store's connections are closed: the last one to close checkpoints the WAL into
/// the file and removes it (the client's background work may hold the store a moment longer).
fn wait_closed(path: &Path) {
    let wal = path.with_extension("db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while wal.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the store never closed: its WAL stays"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Overwrites page `page` (1-based) of the database file with garbage.
fn damage_page(path: &Path, page: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let page_size = 4096;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the file");
    file.seek(SeekFrom::Start((page - 1) * page_size))
        .expect("seek");
    file.write_all(&[0xA5; 4096]).expect("write");
}

#[test]
fn a_damaged_header_is_corrupt_on_open_and_starting_over_gives_a_working_store() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("device.db");
    drop(open(&path, &server));
    wait_closed(&path);
    damage_page(&path, 1);
    let err = Syncline::open(&path, sample::schema().expect("schema"), manual(&server))
        .err()
        .expect("a damaged file does not open");
    assert_corrupt(&err);
    let salvage =
        Syncline::start_over(&path, sample::schema().expect("schema")).expect("start over");
    assert_eq!(salvage.mutations_kept, 0, "nothing could be read");
    assert!(!salvage.same_client && !salvage.complete);
    assert!(
        Path::new(&salvage.damaged_copy).exists(),
        "kept for support"
    );
    let client = open(&path, &server);
    client
        .sync_now_blocking("all")
        .expect("a fresh store syncs");
    assert!(client.get(TASKS, "t-harbor-1").expect("get").is_some());
}

#[test]
fn starting_over_waits_for_the_file_to_be_closed() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("device.db");
    let client = open(&path, &server);
    let err = Syncline::start_over(&path, sample::schema().expect("schema"))
        .expect_err("the file is open");
    assert!(
        matches!(
            err,
            SynclineError::Storage {
                kind: StorageErrorKind::Busy,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(path.exists(), "nothing was moved");
    drop(client);
    let salvage =
        Syncline::start_over(&path, sample::schema().expect("schema")).expect("closed now");
    assert!(salvage.complete);
}

#[test]
fn starting_over_from_damaged_data_keeps_unsent_mutations_and_applies_them_once() {
    let server = TestServer::with_demo();
    bulk_insert_tasks(server.store(), "p-harbor", 2_000, KeyKind::Random).expect("bulk");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("device.db");
    let client_id;
    {
        let client = open(&path, &server);
        client.sync_now_blocking("all").expect("first sync");
        client_id = client.client_id().to_string();
        client.insert(COMMENTS, comment("c-kept")).expect("insert");
        client
            .update(
                TASKS,
                Record::new("t-harbor-1").with_values(HashMap::from([(
                    "title".to_string(),
                    Value::Text("Edited, unsent".into()),
                )])),
            )
            .expect("update");
    }
    wait_closed(&path);
    // The tasks table's root page is damaged (the outbox's pages are not).
    let root: i64 = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'e_tasks'",
            [],
            |r| r.get(0),
        )
        .expect("root page");
    damage_page(&path, root as u64);
    let client = open(&path, &server);
    let err = client
        .query(TASKS, &Query::all(10))
        .expect_err("the damage shows on use");
    assert_corrupt(&err);
    drop(client);

    let salvage =
        Syncline::start_over(&path, sample::schema().expect("schema")).expect("start over");
    assert_eq!(salvage.mutations_kept, 2);
    assert!(salvage.complete && salvage.same_client);
    let client = open(&path, &server);
    assert_eq!(
        client.client_id(),
        client_id,
        "the device is the same client"
    );
    assert_eq!(client.status().pending, 2);
    assert!(
        client.get(COMMENTS, "c-kept").expect("get").is_some(),
        "a record made here shows at once"
    );
    client.sync_now_blocking("all").expect("sync");
    client.sync_now_blocking("all").expect("sync again");
    let task = server
        .store()
        .get_record(TASKS, "t-harbor-1")
        .expect("read")
        .expect("task");
    assert_eq!(
        task.fields.get("title"),
        Some(&serde_json::json!("Edited, unsent"))
    );
    assert_eq!(
        client
            .get(TASKS, "t-harbor-1")
            .expect("get")
            .expect("pulled again")
            .text("title"),
        Some("Edited, unsent")
    );
    assert!(server
        .store()
        .get_record(COMMENTS, "c-kept")
        .expect("read")
        .is_some());
    assert_eq!(client.status().pending, 0);
}

/// A record whose text makes one insert need several database pages.
fn big_comment(key: &str) -> Record {
    comment(key).with("body", Value::Text("x".repeat(64 * 1024)))
}

/// The banner says the sync failed for a storage fault of `kind`; returns it.
fn assert_failed_banner(client: &Syncline, kind: StorageErrorKind) -> Banner {
    let banner = client.banner();
    assert_eq!(banner.kind, BannerKind::Failed);
    assert_eq!(banner.reason, Some(FailureReason::Storage { kind }));
    banner
}

/// Whether `err` is a storage failure of `kind`.
fn is_storage(err: &SynclineError, kind: StorageErrorKind) -> bool {
    matches!(err, SynclineError::Storage { kind: k, .. } if *k == kind)
}

/// The engine still answers and works: status, a read, and a sync of the unit that has nothing
/// to write (projects pulled already are unchanged).
fn assert_running(client: &Syncline) {
    let _ = client.status();
    let _ = client.network_status();
    client
        .query(COMMENTS, &Query::all(10))
        .expect("reads still work");
}

#[test]
fn a_full_disk_during_local_writes_is_typed_loses_nothing_and_writes_resume_when_space_returns() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = open(&dir.path().join("device.db"), &server);
    client.sync_now_blocking("all").expect("first sync");
    // Acknowledged writes before the disk fills: an insert and an update, both pending.
    client
        .insert(COMMENTS, comment("c-before"))
        .expect("insert");
    client
        .update(
            TASKS,
            Record::new("t-harbor-1").with_values(HashMap::from([(
                "title".to_string(),
                Value::Text("Before the disk filled".into()),
            )])),
        )
        .expect("update");
    let before = snapshot(&client, &device_file(&dir));
    let pending = client.status().pending;
    assert_eq!(pending, 2);

    // The disk fills: no page left beyond what the store holds now.
    let store = StorageFaults::of(&client);
    store
        .limit_pages(store.page_count().expect("pages"))
        .expect("limit");
    let err = client
        .insert(COMMENTS, big_comment("c-too-big"))
        .expect_err("the disk is full");
    assert!(is_storage(&err, StorageErrorKind::DiskFull), "{err:?}");
    assert!(err.is_retryable(), "space may come back");
    let err = client
        .update(
            TASKS,
            Record::new("t-harbor-2").with_values(HashMap::from([(
                "notes".to_string(),
                Value::Text("y".repeat(64 * 1024)),
            )])),
        )
        .expect_err("the disk is still full");
    assert!(is_storage(&err, StorageErrorKind::DiskFull), "{err:?}");

    // Nothing lost, nothing half-written: the failed writes left no row and no outbox entry.
    assert_eq!(
        snapshot(&client, &device_file(&dir)),
        before,
        "records, outbox and cursors unchanged"
    );
    assert!(client.get(COMMENTS, "c-too-big").expect("get").is_none());
    assert_eq!(client.status().pending, pending);
    assert_running(&client);

    // Space returns: the same write works, and the next sync sends all three.
    store.limit_pages(i64::from(u32::MAX)).expect("unlimit");
    client
        .insert(COMMENTS, big_comment("c-too-big"))
        .expect("insert after space returns");
    assert_eq!(client.status().pending, 3);
    client
        .sync_now_blocking("all")
        .expect("sync after space returns");
    assert_eq!(client.status().pending, 0);
    for key in ["c-before", "c-too-big"] {
        assert!(
            server
                .store()
                .get_record(COMMENTS, key)
                .expect("read")
                .is_some(),
            "{key} reached the server"
        );
    }
    let task = server
        .store()
        .get_record(TASKS, "t-harbor-1")
        .expect("read")
        .expect("task");
    assert_eq!(
        task.fields.get("title"),
        Some(&serde_json::json!("Before the disk filled"))
    );
}

#[test]
fn a_read_only_database_refuses_local_writes_typed_and_they_work_once_it_is_writable() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = open(&dir.path().join("device.db"), &server);
    client.sync_now_blocking("all").expect("first sync");
    client
        .insert(COMMENTS, comment("c-before"))
        .expect("insert");
    let before = snapshot(&client, &device_file(&dir));

    StorageFaults::of(&client)
        .set_read_only(true)
        .expect("read-only");
    let err = client
        .insert(COMMENTS, comment("c-refused"))
        .expect_err("read-only");
    assert!(is_storage(&err, StorageErrorKind::ReadOnly), "{err:?}");
    let err = client
        .update(
            TASKS,
            Record::new("t-harbor-1").with_values(HashMap::from([(
                "title".to_string(),
                Value::Text("Refused".into()),
            )])),
        )
        .expect_err("read-only");
    assert!(is_storage(&err, StorageErrorKind::ReadOnly), "{err:?}");
    let err = client.delete(TASKS, "t-harbor-2").expect_err("read-only");
    assert!(is_storage(&err, StorageErrorKind::ReadOnly), "{err:?}");
    assert_eq!(
        snapshot(&client, &device_file(&dir)),
        before,
        "records, outbox and cursors unchanged"
    );
    assert_eq!(client.status().pending, 1);
    assert_running(&client);

    StorageFaults::of(&client)
        .set_read_only(false)
        .expect("writable");
    client
        .insert(COMMENTS, comment("c-refused"))
        .expect("insert once writable");
    client.sync_now_blocking("all").expect("sync once writable");
    assert_eq!(client.status().pending, 0);
    for key in ["c-before", "c-refused"] {
        assert!(
            server
                .store()
                .get_record(COMMENTS, key)
                .expect("read")
                .is_some(),
            "{key} reached the server"
        );
    }
}

#[test]
fn a_read_only_database_during_a_pull_changes_nothing_and_the_next_sync_completes() {
    let (server, dir, client) = device_with_a_waiting_comment(2_000);
    let before = snapshot(&client, &device_file(&dir));

    StorageFaults::of(&client)
        .set_read_only(true)
        .expect("read-only");
    let err = client
        .sync_now_blocking(TASKS)
        .expect_err("the database is read-only");
    assert!(is_storage(&err, StorageErrorKind::ReadOnly), "{err:?}");
    assert_eq!(
        snapshot(&client, &device_file(&dir)),
        before,
        "store, outbox and cursor unchanged"
    );
    assert_failed_banner(&client, StorageErrorKind::ReadOnly);
    // A push needs the store as much as a pull does (its results are written there).
    let err = client
        .sync_now_blocking("all")
        .expect_err("the database is read-only");
    assert!(is_storage(&err, StorageErrorKind::ReadOnly), "{err:?}");
    assert_eq!(client.status().pending, 1, "the outbox kept its mutation");
    assert_running(&client);

    StorageFaults::of(&client)
        .set_read_only(false)
        .expect("writable");
    let report = client.sync_now_blocking("all").expect("sync once writable");
    let tasks = report
        .entities
        .iter()
        .find(|e| e.entity == TASKS)
        .expect("tasks synced");
    assert!(tasks.pulled >= 2_000);
    assert_eq!(client.status().pending, 0);
    assert_eq!(client.banner().kind, BannerKind::Hidden);
    assert!(server
        .store()
        .get_record(COMMENTS, "c-before")
        .expect("read")
        .is_some());
}
