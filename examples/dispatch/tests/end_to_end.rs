//! The worked example end to end, on the run's database (SQLite, or PostgreSQL under
//! `SYNCLINE_TEST_BACKEND=postgres`): a real server with the example's schema and signed write
//! rules, the example's rules endpoint, its office as a service over HTTP, and two real device
//! clients. The office provisions the team and hands out tasks; the devices see them without the
//! internal notes; a task ticked done on a phone is answered "Office: received", which reaches
//! the other phone; and a due date in the past is refused with the office's words, which the
//! device shows inside "Refused by the office: …" in English and German.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use syncline_core::{Config, Record, SchemaFile, Syncline, Value};
use syncline_dispatch::office::{Job, Office, RECEIVED};
use syncline_dispatch::rules::{self, DUE_IN_PAST_MESSAGE};
use syncline_server::testing::TestServer;
use syncline_server::{ServerOptions, ServerSchema, Service};
use syncline_words::{BannerText, Lang};

const SECRET: &str = "dispatch-rules-secret-of-32-bytes-or-more";
const PROJECT: &str = "p-dispatch";
/// How long the test waits for something that happens in the background.
const DEADLINE: Duration = Duration::from_secs(60);

fn device(folder: &Path, server: &str, token: &str) -> Syncline {
    let schema = SchemaFile::parse(&syncline_dispatch::schema("http://unused"))
        .expect("the schema file")
        .device_schema()
        .expect("the device's schema");
    let path = folder.join(format!("{token}.db"));
    Syncline::open(&path, schema, Config::new(server, token)).expect("open the device")
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text(record: &Record, field: &str) -> Option<String> {
    match record.values.get(field) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

#[test]
fn the_office_feeds_and_follows_the_field() {
    let rules_url = rules::spawn_on_loopback(Some(SECRET.into())).expect("the rules endpoint");
    let schema = ServerSchema::parse(&syncline_dispatch::schema(&rules_url)).expect("schema");
    let options = ServerOptions {
        rules_secret: Some(SECRET.to_string()),
        ..ServerOptions::default()
    };
    let server = TestServer::try_with_demo_schema(schema, options).expect("server");
    let token = server
        .store()
        .add_service(&Service {
            name: "dispatch".into(),
            scopes: Vec::new(),
            all_scopes: true,
            read_only: false,
        })
        .expect("the office's service");

    // The office provisions alice and bob into its project and hands out two tasks.
    let office = Office::new(&server.url(), &token, "dispatch").expect("office");
    office
        .provision(PROJECT, "Harbour pumps", &["alice", "bob"])
        .expect("provision");
    let due_at = rules::now_ms() + 2 * 86_400_000;
    let jobs = [
        ("d-1", "Replace the seal on pump 2", "Seal kit is in van 3"),
        ("d-2", "Check the fence gate", "Gate code 4711"),
    ]
    .map(|(key, title, notes)| Job {
        key: key.into(),
        title: title.into(),
        internal_notes: notes.into(),
        due_at,
    });
    assert!(office
        .hand_out(PROJECT, &jobs, "test-week")
        .expect("hand out"));
    assert!(
        office.hand_out(PROJECT, &jobs, "test-week").expect("again"),
        "the same batch again is answered as the first, writing nothing twice"
    );
    assert!(
        !office
            .hand_out(PROJECT, &jobs, "next-week")
            .expect("another day"),
        "tasks handed out before are not written again"
    );

    // The office follows the feed in the background.
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (stop, office) = (
            stop.clone(),
            Office::new(&server.url(), &token, "dispatch").expect("office"),
        );
        std::thread::spawn(move || office.follow(PROJECT, None, &stop, |_| {}))
    };

    let folder = tempfile::tempdir().expect("tempdir");
    let alice = device(folder.path(), &server.url(), "demo-alice");
    let bob = device(folder.path(), &server.url(), "demo-bob");
    alice.sync_now_blocking("all").expect("alice syncs");
    let seal = alice
        .get("tasks", "d-1")
        .expect("read")
        .expect("the office's task");
    assert_eq!(
        text(&seal, "title").as_deref(),
        Some("Replace the seal on pump 2")
    );
    assert!(
        !seal.values.contains_key("internal_notes"),
        "the office's notes stay on the server"
    );

    // Alice ticks it done; the office answers under it, and bob's phone gets the answer.
    alice
        .update(
            "tasks",
            Record::new("d-1").with("done", Value::Boolean(true)),
        )
        .expect("tick");
    alice.sync_now_blocking("all").expect("push");
    let answered = || {
        bob.sync_now_blocking("all").expect("bob syncs");
        bob.get("comments", "received-d-1").expect("read")
    };
    let mut comment = None;
    eventually("the office's answer on bob's phone", || {
        comment = answered();
        comment.is_some()
    });
    let comment = comment.expect("answered");
    assert_eq!(text(&comment, "body").as_deref(), Some(RECEIVED));
    assert_eq!(
        text(&comment, "author").as_deref(),
        Some("dispatch"),
        "the service is the author"
    );
    assert_eq!(text(&comment, "task_id").as_deref(), Some("d-1"));
    // Only a device's tick is answered: the other task is untouched, so no answer under it.
    assert!(bob.get("comments", "received-d-2").expect("read").is_none());

    // A due date in the past: the office's rules refuse it, with the office's words.
    let yesterday = rules::now_ms() - 86_400_000;
    bob.update(
        "tasks",
        Record::new("d-2").with("due_at", Value::Timestamp(yesterday)),
    )
    .expect("edit");
    bob.sync_now_blocking("all").expect("sync");
    let refused = bob.quarantined().expect("quarantined");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].code, "rule:due_in_past");
    assert_eq!(refused[0].message, DUE_IN_PAST_MESSAGE);
    assert_eq!(
        BannerText::new(Lang::En).office_refusal(&refused[0].code, &refused[0].message),
        Some(format!("Refused by the office: {DUE_IN_PAST_MESSAGE}"))
    );
    assert_eq!(
        BannerText::new(Lang::De).office_refusal(&refused[0].code, &refused[0].message),
        Some(format!("Vom Büro abgelehnt: {DUE_IN_PAST_MESSAGE}"))
    );
    let stored = server
        .store()
        .get_record("tasks", "d-2")
        .expect("read")
        .expect("there");
    assert_eq!(
        stored.fields["due_at"],
        serde_json::json!(due_at),
        "the refused change is not applied"
    );
    // A later date is accepted.
    bob.discard_quarantined(refused[0].seq).expect("discard");
    bob.update(
        "tasks",
        Record::new("d-2").with("due_at", Value::Timestamp(due_at + 86_400_000)),
    )
    .expect("edit");
    bob.sync_now_blocking("all").expect("sync");
    assert!(bob.quarantined().expect("quarantined").is_empty());

    stop.store(true, Ordering::Relaxed);
    drop(follower); // ends after its current poll; the test does not wait for it
}
