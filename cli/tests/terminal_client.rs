//! The terminal client as a user runs it: separate processes against the real reference server.
//! Edits made offline survive the process ending and reach the server from the next process.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use syncline_server::TestServer;

fn syncline(db: &std::path::Path, server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncline"))
        .arg("--db")
        .arg(db)
        .args(["--server", server, "--token", "demo-alice"])
        .args(args)
        .output()
        .expect("run syncline")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn offline_edits_survive_the_process_and_sync_from_the_next() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("alice.db");
    let url = server.url();

    let first = stdout(&syncline(&db, &url, &["sync"]));
    assert!(first.contains("tasks: pushed 0"), "{first}");

    let added = stdout(&syncline(
        &db,
        &url,
        &[
            "--offline",
            "add-task",
            "--project",
            "p-harbor",
            "--title",
            "Written offline",
            "--id",
            "t-offline",
        ],
    ));
    assert!(added.contains("saved t-offline locally"), "{added}");
    let edited = stdout(&syncline(
        &db,
        &url,
        &["--offline", "edit-task", "t-harbor-2", "--done", "true"],
    ));
    assert!(edited.contains("saved t-harbor-2 locally"), "{edited}");

    let status = stdout(&syncline(&db, &url, &["--offline", "status"]));
    assert!(
        status.contains("banner: You're offline · 2 changes waiting to sync"),
        "{status}"
    );
    assert!(status.contains("pending: 2"), "{status}");
    assert!(
        server
            .store()
            .get_record("tasks", "t-offline")
            .expect("read")
            .is_none(),
        "nothing was sent while offline"
    );

    let synced = stdout(&syncline(&db, &url, &["sync"]));
    assert!(synced.contains("tasks: pushed 2"), "{synced}");
    let on_server = server
        .store()
        .get_record("tasks", "t-offline")
        .expect("read")
        .expect("arrived");
    assert_eq!(
        on_server.fields.get("title"),
        Some(&serde_json::json!("Written offline"))
    );
    let done = server
        .store()
        .get_record("tasks", "t-harbor-2")
        .expect("read")
        .expect("present");
    assert_eq!(done.fields.get("done"), Some(&serde_json::json!(true)));

    let status = stdout(&syncline(&db, &url, &["status"]));
    assert!(
        status.contains("banner: hidden") && status.contains("pending: 0"),
        "{status}"
    );
    let list = stdout(&syncline(&db, &url, &["list"]));
    assert!(
        list.contains("[x] t-harbor-2") && list.contains("t-offline Written offline"),
        "{list}"
    );
}

#[test]
fn the_screen_shows_the_banner_for_each_state() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncline"))
        .arg("--db")
        .arg(dir.path().join("alice.db"))
        .args(["--server", &server.url(), "--token", "demo-alice", "ui"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the screen");
    // Go offline, add a task, come back online (it syncs), quit.
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"o\na Check the gate\no\nq\n")
        .expect("type");
    let out = child.wait_with_output().expect("screen ends");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("✓ Up to date"), "{screen}");
    assert!(
        screen.contains("You're offline · 1 change waiting to sync"),
        "{screen}"
    );
    assert!(
        screen.contains("Check the gate  • not synced yet"),
        "{screen}"
    );
    assert!(screen.contains("Synced: 1 sent"), "{screen}");
    assert_eq!(
        server.store().count_records("tasks").expect("count"),
        13,
        "the demo's 12 tasks and the new one"
    );
}

#[test]
fn the_demo_runs_server_and_client_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncline"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo");
    // Stop the server, try to sync, start it again, retry, quit.
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"x\ns\nx\nr\nq\n")
        .expect("type");
    let out = child.wait_with_output().expect("demo ends");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{screen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(screen.contains("signed in as alice"), "{screen}");
    assert!(
        screen.contains("Inspect pump 2 impeller"),
        "demo data arrived: {screen}"
    );
    assert!(
        screen.contains("✗ Sync failed: server unreachable"),
        "{screen}"
    );
    assert!(screen.contains("Server started again"), "{screen}");
    assert!(screen.contains("Harbor pump station retrofit"), "{screen}");
    assert!(
        !screen.contains("Ridge substation upgrade"),
        "alice never sees carol's project"
    );
}
