//! The terminal client as a user runs it: separate processes against the real reference server.
//! Edits made offline survive the process ending and reach the server from the next process;
//! conflicts and quarantined mutations are listed and settled from the command line; the interactive
//! screen follows the core's status by itself while it is driven through its stdin.
//!
//! Nothing here asserts speed: what the screen does in the background is awaited by polling its
//! output with a generous deadline.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use syncline_server::testing::TestServer;

/// Longest wait for something the client does in the background (a loaded CI machine is slow;
/// a correct client gets there in seconds).
const DEADLINE: Duration = Duration::from_secs(60);

fn syncline_as(db: &std::path::Path, server: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncline"))
        .arg("--db")
        .arg(db)
        .args(["--server", server, "--token", token])
        .args(args)
        .output()
        .expect("run syncline")
}

fn syncline(db: &std::path::Path, server: &str, args: &[&str]) -> Output {
    syncline_as(db, server, "demo-alice", args)
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

/// Polls `check` until it holds, up to [`DEADLINE`].
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The title of a task as the server has it.
fn server_title(server: &TestServer, key: &str) -> serde_json::Value {
    server
        .store()
        .get_record("tasks", key)
        .expect("read")
        .expect("present")
        .fields
        .get("title")
        .cloned()
        .unwrap_or_default()
}

/// The number after `prefix` in `text` (an id or seq the client printed).
fn number_after(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).map(|i| i + prefix.len());
    let Some(start) = start else {
        panic!("no `{prefix}` in:\n{text}")
    };
    text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// An interactive `syncline` process: commands go to its stdin, its screen is collected as it
/// comes, and every wait looks only at what was drawn since the last command.
struct Screen {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    /// Where the output since the last command starts.
    from: usize,
}

impl Screen {
    fn start(mut command: Command) -> Screen {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start syncline");
        let mut stdout = child.stdout.take().expect("stdout");
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                sink.lock().expect("output").extend_from_slice(&buf[..n]);
            }
        });
        Screen {
            stdin: child.stdin.take(),
            child,
            out,
            from: 0,
        }
    }

    fn all(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("output")).into_owned()
    }

    fn since_command(&self) -> String {
        let out = self.out.lock().expect("output");
        String::from_utf8_lossy(&out[self.from.min(out.len())..]).into_owned()
    }

    fn send(&mut self, line: &str) {
        self.from = self.out.lock().expect("output").len();
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("type");
        stdin.flush().expect("flush");
    }

    /// Waits until the screen shows `text` (drawn since the last command).
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.since_command().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the screen never showed `{text}`; since the last command it drew:\n{}",
                self.since_command()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Quits with `q`; returns everything the screen drew.
    fn quit(mut self) -> String {
        self.send("q");
        self.stdin = None;
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let screen = self.all();
                assert!(status.success(), "exit {status}:\n{screen}");
                return screen;
            }
            assert!(Instant::now() < deadline, "q did not quit:\n{}", self.all());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // A failed test must not leave its client running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screen_command(db: &std::path::Path, server: &str, token: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_syncline"));
    command
        .arg("--db")
        .arg(db)
        .args(["--server", server, "--token", token, "ui"]);
    command
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
    assert!(status.contains("network: offline (no network)"), "{status}");
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
    assert_eq!(
        server_title(&server, "t-offline"),
        serde_json::json!("Written offline")
    );
    let done = server
        .store()
        .get_record("tasks", "t-harbor-2")
        .expect("read")
        .expect("present");
    assert_eq!(done.fields.get("done"), Some(&serde_json::json!(true)));

    let status = stdout(&syncline(&db, &url, &["status"]));
    for line in [
        "banner: hidden",
        "network: online",
        "pending: 0",
        "conflicts: 0",
        "quarantined: 0",
    ] {
        assert!(status.contains(line), "{line}: {status}");
    }
    assert!(!status.contains("last synced: never"), "{status}");
    let list = stdout(&syncline(&db, &url, &["list"]));
    assert!(
        list.contains("[x] t-harbor-2") && list.contains("t-offline Written offline"),
        "{list}"
    );
}

#[test]
fn an_overlapping_edit_is_listed_and_resolved_from_the_command_line() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("alice.db");
    let url = server.url();
    stdout(&syncline(&db, &url, &["sync"]));

    // A colleague renames two tasks on the server; alice renames the same two here, on the
    // versions she has (older now).
    let theirs = |key: &str, title: &str| {
        let fields = serde_json::Map::from_iter([("title".into(), serde_json::json!(title))]);
        server
            .store()
            .upsert_record("tasks", key, &fields)
            .expect("colleague's edit");
    };
    theirs("t-harbor-2", "Replace both seals");
    theirs("t-harbor-3", "Order the cabinet");
    for (key, title) in [
        ("t-harbor-2", "Replace the impeller"),
        ("t-harbor-3", "Order the cabinet, grey"),
    ] {
        stdout(&syncline(&db, &url, &["edit-task", key, "--title", title]));
    }

    let synced = stdout(&syncline(&db, &url, &["sync"]));
    assert!(
        synced.contains("tasks: pushed 0") && synced.contains("conflicts 2 (2 to resolve)"),
        "the tasks' manual policy sends overlapping edits to the inbox: {synced}"
    );
    assert_eq!(
        server_title(&server, "t-harbor-2"),
        serde_json::json!("Replace both seals"),
        "nothing is overwritten before the user decides"
    );
    let status = stdout(&syncline(&db, &url, &["status"]));
    assert!(status.contains("conflicts: 2"), "{status}");

    let listed = stdout(&syncline(&db, &url, &["conflicts"]));
    for shown in [
        "tasks t-harbor-2 · changed on both sides: title",
        "title (was \"Inspect pump 2 impeller\")\n      mine:   \"Replace the impeller\"\n      theirs: \"Replace both seals\"",
        "tasks t-harbor-3 · changed on both sides: title",
    ] {
        assert!(listed.contains(shown), "{shown}:\n{listed}");
    }
    let id_of = |key: &str| {
        let line = listed
            .lines()
            .find(|l| l.contains(&format!("tasks {key} ")))
            .unwrap_or_default();
        number_after(line, "conflict ")
    };
    let (mine, theirs) = (id_of("t-harbor-2"), id_of("t-harbor-3"));

    let resolved = stdout(&syncline(&db, &url, &["resolve", &mine, "mine"]));
    assert!(resolved.contains("sent on the next sync"), "{resolved}");
    let resolved = stdout(&syncline(&db, &url, &["resolve", &theirs, "theirs"]));
    assert!(
        resolved.contains("the server's version stands"),
        "{resolved}"
    );
    let again = syncline(&db, &url, &["resolve", &mine, "mine"]);
    assert!(!again.status.success(), "a conflict is resolved once");

    let synced = stdout(&syncline(&db, &url, &["sync"]));
    assert!(synced.contains("tasks: pushed 1"), "{synced}");
    assert_eq!(
        server_title(&server, "t-harbor-2"),
        serde_json::json!("Replace the impeller"),
        "mine won"
    );
    assert_eq!(
        server_title(&server, "t-harbor-3"),
        serde_json::json!("Order the cabinet"),
        "theirs stood"
    );
    let list = stdout(&syncline(&db, &url, &["list"]));
    assert!(
        list.contains("t-harbor-2 Replace the impeller")
            && list.contains("t-harbor-3 Order the cabinet\n"),
        "{list}"
    );
    let listed = stdout(&syncline(&db, &url, &["conflicts"]));
    assert!(listed.contains("no conflicts to resolve"), "{listed}");
}

#[test]
fn quarantined_mutations_are_listed_retried_and_discarded_from_the_command_line() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("alice.db");
    let url = server.url();
    stdout(&syncline(&db, &url, &["sync"]));
    let add = |key: &str| {
        stdout(&syncline(
            &db,
            &url,
            &[
                "add-task",
                "--project",
                "p-ridge",
                "--title",
                "On carol's project",
                "--id",
                key,
            ],
        ))
    };

    // alice is not a member of carol's project: the server refuses the task.
    add("t-refused");
    let synced = stdout(&syncline(&db, &url, &["sync"]));
    assert!(
        synced.contains("tasks: pushed 0 (overwrote 0), quarantined 1"),
        "{synced}"
    );
    let listed = stdout(&syncline(&db, &url, &["quarantine"]));
    assert!(
        listed.contains("insert tasks t-refused: ") && listed.contains("(forbidden)"),
        "the server's reason and code: {listed}"
    );
    let status = stdout(&syncline(&db, &url, &["status"]));
    assert!(status.contains("quarantined: 1"), "{status}");

    // The cause is fixed on the server; the mutation is sent again.
    server
        .store()
        .add_membership("alice", "p-ridge")
        .expect("membership");
    let seq = number_after(&listed, "quarantined seq ");
    let retried = stdout(&syncline(&db, &url, &["quarantine-retry", &seq]));
    assert!(retried.contains("sent again"), "{retried}");
    let synced = stdout(&syncline(&db, &url, &["sync"]));
    assert!(synced.contains("tasks: pushed 1"), "{synced}");
    assert_eq!(
        server_title(&server, "t-refused"),
        serde_json::json!("On carol's project")
    );

    // Refused again, and this time given up: it is undone on the device.
    server
        .store()
        .remove_membership("alice", "p-ridge")
        .expect("membership");
    add("t-given-up");
    stdout(&syncline(&db, &url, &["sync"]));
    let listed = stdout(&syncline(&db, &url, &["quarantine"]));
    assert!(listed.contains("tasks t-given-up"), "{listed}");
    let seq = number_after(&listed, "quarantined seq ");
    let discarded = stdout(&syncline(&db, &url, &["quarantine-discard", &seq]));
    assert!(discarded.contains("undone on this device"), "{discarded}");
    let listed = stdout(&syncline(&db, &url, &["quarantine"]));
    assert!(listed.contains("no quarantined mutations"), "{listed}");
    let list = stdout(&syncline(&db, &url, &["list"]));
    assert!(!list.contains("t-given-up"), "{list}");
}

#[test]
fn the_screen_follows_the_status_by_itself() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ui = Screen::start(screen_command(
        &dir.path().join("alice.db"),
        &server.url(),
        "demo-alice",
    ));
    // It syncs by itself at start.
    ui.wait_for("Inspect pump 2 impeller");
    ui.wait_for("✓ Up to date");
    ui.wait_for("Network: online");
    // The live stream is open: the footer says so.
    ui.wait_for(" · live · last synced");

    // Offline: the banner changes without another command (after the flap debounce).
    ui.send("o");
    ui.wait_for("Going offline…");
    ui.wait_for("⚠ You're offline");
    ui.wait_for("Network: offline (no network)");
    ui.send("a Check the gate");
    ui.wait_for("You're offline · 1 change waiting to sync");
    ui.wait_for("Check the gate  • Not synced yet");
    ui.wait_for("1 pending");
    assert_eq!(
        server.store().count_records("tasks").expect("count"),
        12,
        "nothing is sent while offline"
    );

    // Back online: the core syncs by itself (and once more as the live stream reopens, to catch
    // up on hints it missed, so the screen's "Last sync" line may be that second one's).
    ui.send("o");
    ui.wait_for("✓ Up to date");
    ui.wait_for("0 pending");
    eventually("the new task reaches the server", || {
        server.store().count_records("tasks").expect("count") == 13
    });

    // A colleague's edit on the server: the live stream's hint brings it, and the list (a live
    // query) shows it, with no key pressed.
    let fields = serde_json::Map::from_iter([(
        "title".to_string(),
        serde_json::json!("Inspect pump 2 impeller (checked by bob)"),
    )]);
    server
        .store()
        .upsert_record("tasks", "t-harbor-2", &fields)
        .expect("colleague's edit");
    ui.wait_for("Inspect pump 2 impeller (checked by bob)");
    ui.quit();
}

#[test]
fn the_screen_says_when_sign_in_is_needed() {
    let server = TestServer::with_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ui = Screen::start(screen_command(
        &dir.path().join("alice.db"),
        &server.url(),
        "not-a-token",
    ));
    ui.wait_for("✗ Sync failed: sign-in needed");
    ui.wait_for("T <token> to sign in again");
    ui.wait_for("Network: sign-in needed");
    ui.send("T demo-alice");
    ui.wait_for("Inspect pump 2 impeller");
    ui.wait_for("✓ Up to date");
    ui.quit();
}

#[test]
fn the_demo_runs_server_and_client_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_syncline"));
    command
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--dir"])
        .arg(dir.path());
    let mut demo = Screen::start(command);
    demo.wait_for("signed in as alice");
    demo.wait_for("Inspect pump 2 impeller");
    demo.wait_for("✓ Up to date");

    // The server goes away: a sync fails, and the banner says when it retries.
    demo.send("x");
    demo.wait_for("Server stopped");
    demo.send("s");
    demo.wait_for("✗ Sync failed: server unreachable");
    demo.wait_for("Retrying");
    demo.wait_for("Network: server unreachable");
    demo.send("x");
    demo.wait_for("Server started again");
    demo.send("r");
    demo.wait_for("✓ Up to date");
    demo.wait_for("0 pending");

    // A colleague renames task 1 on the server while alice, offline (or the live stream would
    // bring his rename at once), renames it here: back online, a conflict.
    demo.send("o");
    demo.wait_for("⚠ You're offline");
    demo.send("W 1");
    demo.wait_for("bob renamed task 1 on the server");
    demo.send("e 1 Pump check by alice");
    demo.send("o");
    demo.wait_for("1 conflict (C)");
    demo.wait_for("⚠ In conflict (C)");
    demo.send("C");
    demo.wait_for("1. tasks ");
    demo.wait_for("mine:   \"Pump check by alice\"");
    demo.wait_for("(renamed by bob)\"");
    demo.send("C 1 mine");
    demo.wait_for("your version syncs in a moment");
    demo.wait_for("0 conflicts (C)");

    // bob, on his own device, gets alice's decision from the demo server.
    let bob = dir.path().join("bob-device.db");
    eventually("bob sees alice's title", || {
        let synced = syncline_as(&bob, &url, "demo-bob", &["sync"]);
        let list = stdout(&syncline_as(&bob, &url, "demo-bob", &["list"]));
        synced.status.success() && list.contains("Pump check by alice")
    });

    let screen = demo.quit();
    assert!(screen.contains("Harbor pump station retrofit"), "{screen}");
    assert!(
        !screen.contains("Ridge substation upgrade"),
        "alice never sees carol's project"
    );
}

#[test]
fn the_offices_refusal_is_shown_in_its_words_in_both_languages() {
    let secret = "terminal-rules-secret-of-32-bytes-or-more";
    let rules_url =
        syncline_dispatch::rules::spawn_on_loopback(Some(secret.into())).expect("rules endpoint");
    let schema = syncline_server::ServerSchema::parse(&syncline_dispatch::schema(&rules_url))
        .expect("the example's schema");
    let options = syncline_server::ServerOptions {
        rules_secret: Some(secret.into()),
        ..Default::default()
    };
    let server = TestServer::try_with_demo_schema(schema, options).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("alice.db");
    let url = server.url();
    stdout(&syncline(&db, &url, &["sync"]));
    // A task in alice's project, due `days` from today.
    let add_due = |key: &str, title: &str, days: &str| {
        let args = [
            "add-task",
            "--project",
            "p-harbor",
            "--title",
            title,
            "--id",
            key,
        ];
        stdout(&syncline(
            &db,
            &url,
            &[&args[..], &["--due-in-days", days]].concat(),
        ))
    };
    add_due("t-late", "Late", "-1");
    let synced = stdout(&syncline(&db, &url, &["sync"]));
    assert!(synced.contains("quarantined 1"), "{synced}");
    let message = syncline_dispatch::rules::DUE_IN_PAST_MESSAGE;
    let listed = stdout(&syncline(&db, &url, &["--lang", "en", "quarantine"]));
    assert!(
        listed.contains(&format!(
            "insert tasks t-late: Refused by the office: {message} (rule:due_in_past)"
        )),
        "{listed}"
    );
    let german = stdout(&syncline(&db, &url, &["--lang", "de", "quarantine"]));
    assert!(
        german.contains(&format!("Vom Büro abgelehnt: {message}")),
        "{german}"
    );
    // Due tomorrow instead: the office accepts it.
    let seq = number_after(&listed, "quarantined seq ");
    stdout(&syncline(&db, &url, &["quarantine-discard", &seq]));
    add_due("t-on-time", "On time", "1");
    let synced = stdout(&syncline(&db, &url, &["sync"]));
    assert!(synced.contains("quarantined 0"), "{synced}");
    assert_eq!(
        server_title(&server, "t-on-time"),
        serde_json::json!("On time")
    );
    // A task's comments, with the server's word on who wrote each.
    let comments = stdout(&syncline(&db, &url, &["comments", "t-harbor-1"]));
    assert_eq!(
        comments.trim(),
        "bob: Drained and locked out. Volute is clean."
    );
    let none = stdout(&syncline(&db, &url, &["comments", "t-on-time"]));
    assert_eq!(none.trim(), "t-on-time: no comments");
}

#[test]
fn a_photo_is_attached_synced_and_fetched_from_the_command_line() {
    use std::sync::Arc;
    use syncline_server::blobs::fs::FsBlobStore;
    use syncline_server::{Attachments, BlobLimits, ServerOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = FsBlobStore::open(&dir.path().join("server-blobs")).expect("blob store");
    let server = TestServer::with_demo_options(ServerOptions {
        attachments: Some(Arc::new(Attachments::new(
            Arc::new(blobs),
            BlobLimits::default(),
        ))),
        ..ServerOptions::default()
    });
    let url = server.url();
    let (alice_db, bob_db) = (dir.path().join("alice.db"), dir.path().join("bob.db"));
    stdout(&syncline(&alice_db, &url, &["sync"]));
    let photo: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let file = dir.path().join("valve.jpg");
    std::fs::write(&file, &photo).expect("photo");
    let attached = stdout(&syncline(
        &alice_db,
        &url,
        &["attach", "t-harbor-1", file.to_str().expect("path")],
    ));
    assert!(attached.contains("attached"), "{attached}");
    let synced = stdout(&syncline(&alice_db, &url, &["sync"]));
    assert!(synced.contains("attachments: uploaded 1 of 1"), "{synced}");
    let on_server = server
        .store()
        .get_record("tasks", "t-harbor-1")
        .expect("read")
        .expect("present");
    assert_eq!(
        on_server.fields["photo"]["name"],
        serde_json::json!("valve.jpg")
    );
    assert_eq!(
        on_server.fields["photo"]["media_type"],
        serde_json::json!("image/jpeg")
    );
    // bob shares the project: he pulls the task and fetches its photo.
    stdout(&syncline_as(&bob_db, &url, "demo-bob", &["sync"]));
    let out = dir.path().join("fetched.jpg");
    stdout(&syncline_as(
        &bob_db,
        &url,
        "demo-bob",
        &["fetch", "t-harbor-1", "photo", out.to_str().expect("path")],
    ));
    assert_eq!(std::fs::read(&out).expect("fetched"), photo);
}
