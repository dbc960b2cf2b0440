//! Live change hints (`GET /v1/live`, docs/protocol.md) on a real server over loopback HTTP, on
//! the run's backend (SQLite, or PostgreSQL with `SYNCLINE_TEST_BACKEND=postgres`, where two
//! instances share one database): a commit wakes the streams of the users who see it and no
//! others, a pull then reaches the hinted position, removal and revocation are told at once,
//! heartbeats, refusals, caps and shutdown.
//!
//! Events are read on a thread per stream and handed over a channel; every wait has a generous
//! hang guard ([`GUARD`]) and nothing is asserted against a timer.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{assert_error, tombstone_keys, Api};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use syncline_server::testing::{test_backend, ScratchDb, TestServer};
use syncline_server::{Limits, ServerOptions, HARBOR, RIDGE};

/// How long a test waits for an event before it calls the server hung.
const GUARD: Duration = Duration::from_secs(60);

/// An open `GET /v1/live` stream, read on its own thread.
struct Live {
    events: mpsc::Receiver<(String, Json)>,
}

/// Opens a stream; `Err` with the status, body and `Retry-After` of a refusal.
fn open(
    url: &str,
    token: &str,
    heartbeat: u64,
) -> Result<Live, (StatusCode, Json, Option<String>)> {
    let client = Client::builder()
        // The body stays open: only a hang guard on the whole stream.
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client");
    let resp = client
        .get(format!("{url}/v1/live?heartbeat={heartbeat}"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .expect("request");
    let status = resp.status();
    if status != StatusCode::OK {
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        return Err((status, resp.json().expect("a JSON error"), retry));
    }
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(kind, "text/event-stream");
    assert!(resp.headers().get("content-encoding").is_none());
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kind = String::new();
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if let Some(k) = line.strip_prefix("event: ") {
                kind = k.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                let data: Json = serde_json::from_str(data).expect("JSON data");
                if tx.send((std::mem::take(&mut kind), data)).is_err() {
                    return;
                }
            }
        }
    });
    Ok(Live { events })
}

impl Live {
    /// The next event, whatever it is; `None` when the stream ended.
    fn next(&self) -> Option<(String, Json)> {
        self.next_before(Instant::now() + GUARD)
    }

    fn next_before(&self, deadline: Instant) -> Option<(String, Json)> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(event) => Some(event),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("not there within {GUARD:?}"),
        }
    }

    /// The next event other than a `ping` (pings do not extend the hang guard).
    fn next_news(&self) -> (String, Json) {
        let deadline = Instant::now() + GUARD;
        loop {
            match self.next_before(deadline) {
                Some((kind, _)) if kind == "ping" => continue,
                Some(event) => return event,
                None => panic!("the stream ended"),
            }
        }
    }

    /// The `hello`, which must come first.
    fn hello(&self) -> Json {
        let (kind, data) = self.next().expect("hello");
        assert_eq!(kind, "hello", "{data}");
        data
    }

    /// `changes` events until one names `entity` at `at_least` or later; returns its position.
    fn hinted(&self, entity: &str, at_least: i64) -> i64 {
        let deadline = Instant::now() + GUARD;
        loop {
            assert!(Instant::now() < deadline, "no hint within {GUARD:?}");
            let (kind, data) = self.next_news();
            assert_eq!(kind, "changes", "{data}");
            if let Some(p) = data["entities"][entity].as_str() {
                let p: i64 = p.parse().expect("a cursor");
                if p >= at_least {
                    return p;
                }
            }
        }
    }
}

fn task(key: &str, project: &str, title: &str) -> Json {
    json!([{"mutation_id": format!("m-{key}"), "seq": 1, "entity": "tasks", "key": key,
            "op": "insert", "fields": {"project_id": project, "title": title},
            "base_version": null}])
}

fn cursor_after(api: &Api, token: &str, entity: &str) -> i64 {
    let pages = api.pull_all(token, entity, &["project_id"]);
    let last = pages.last().expect("a page");
    last.cursor.parse().expect("a cursor")
}

#[test]
fn a_push_hints_the_members_who_see_it_and_a_pull_reaches_the_position() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let alice = open(&server.url(), "demo-alice", 25).expect("alice's stream");
    let carol = open(&server.url(), "demo-carol", 25).expect("carol's stream");
    let hello = alice.hello();
    assert_eq!(hello["heartbeat_ms"], 25_000);
    assert!(hello["instance"].as_str().is_some_and(|i| !i.is_empty()));
    carol.hello();

    // Bob pushes into p-harbor: alice (a member) is told, carol (not one) is not.
    api.push(
        "demo-bob",
        "bob-phone",
        task("t-live-1", HARBOR, "Check the live hint"),
    );
    let written = server
        .store()
        .get_record("tasks", "t-live-1")
        .expect("read")
        .expect("stored")
        .position;
    let hinted = alice.hinted("tasks", written);
    assert_eq!(hinted, written);
    assert!(cursor_after(&api, "demo-alice", "tasks") >= hinted);

    // A change carol does see, in another entity: her first hint names it alone. Had bob's
    // push leaked to her, `tasks` would be in it (or in an earlier event).
    server
        .store()
        .upsert_record(
            "comments",
            "c-live-ridge",
            json!({"project_id": RIDGE, "task_id": "t-ridge-1", "body": "seen by carol",
                   "author": "alice"})
            .as_object()
            .expect("fields"),
        )
        .expect("server-side write");
    // On PostgreSQL a notification is delivered after its commit, so a stream may also hear of a
    // commit made just before it opened (the demo seed's projects, say): a hint for nothing new,
    // which costs a pull and never a miss. Such hints may come first; none may name `tasks`.
    loop {
        let (kind, data) = carol.next_news();
        assert_eq!(kind, "changes");
        let names: Vec<&String> = data["entities"]
            .as_object()
            .expect("entities")
            .keys()
            .collect();
        assert!(
            !names.iter().any(|n| *n == "tasks"),
            "bob's push leaked to carol: {data}"
        );
        if names.iter().any(|n| *n == "comments") {
            break;
        }
    }
}

#[test]
fn a_commit_on_one_instance_wakes_a_stream_on_another() {
    if test_backend() != "postgres" {
        println!("skipped: two instances share a database on PostgreSQL only");
        return;
    }
    let db = ScratchDb::new();
    let a = TestServer::start_at(db.location().clone());
    let b = TestServer::start_at(db.location().clone());
    a.seed_demo().expect("seed");
    let on_b = open(&b.url(), "demo-alice", 25).expect("alice's stream on b");
    on_b.hello();
    Api::new(&a).push(
        "demo-bob",
        "bob-phone",
        task("t-live-2", HARBOR, "Across instances"),
    );
    let written = a
        .store()
        .get_record("tasks", "t-live-2")
        .expect("read")
        .expect("stored")
        .position;
    assert_eq!(on_b.hinted("tasks", written), written);
    assert!(cursor_after(&Api::new(&b), "demo-alice", "tasks") >= written);
}

#[test]
fn a_removed_member_is_hinted_at_once_and_pulls_the_tombstones() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let carol = open(&server.url(), "demo-carol", 25).expect("carol's stream");
    carol.hello();
    let before = cursor_after(&api, "demo-carol", "tasks");
    assert!(server
        .store()
        .remove_membership("carol", RIDGE)
        .expect("remove"));
    let hinted = carol.hinted("tasks", before + 1);
    let pages = api.pull_from("demo-carol", "tasks", Some(&before.to_string()), &["title"]);
    assert_eq!(
        tombstone_keys(&pages),
        vec!["t-ridge-1", "t-ridge-2", "t-ridge-3"]
    );
    let reached: i64 = pages
        .last()
        .expect("a page")
        .cursor
        .parse()
        .expect("cursor");
    assert!(reached >= hinted, "{reached} < {hinted}");

    // No longer a member: a later change in p-ridge is not hers.
    server
        .store()
        .upsert_record(
            "tasks",
            "t-ridge-1",
            json!({"title": "renamed after carol left"})
                .as_object()
                .expect("f"),
        )
        .expect("write");
    server
        .store()
        .add_membership("carol", HARBOR)
        .expect("join harbor");
    // Joining hints her about harbor's records; the ridge rename never reaches her.
    let (kind, data) = carol.next_news();
    assert_eq!(kind, "changes");
    let ridge = server
        .store()
        .get_record("tasks", "t-ridge-1")
        .expect("read")
        .expect("stored")
        .position;
    let tasks: i64 = data["entities"]["tasks"]
        .as_str()
        .expect("harbor's tasks")
        .parse()
        .expect("cursor");
    assert!(
        tasks > ridge,
        "{data}: harbor's records come after the rename"
    );
}

#[test]
fn heartbeats_come_at_the_requested_interval_clamped_to_the_range() {
    let server = TestServer::with_demo();
    let live = open(&server.url(), "demo-alice", 5).expect("stream");
    assert_eq!(live.hello()["heartbeat_ms"], 5_000);
    let (kind, _) = live.next().expect("a ping");
    assert_eq!(kind, "ping");
    let since = Instant::now();
    let (kind, data) = live.next().expect("another ping");
    assert_eq!((kind.as_str(), data), ("ping", json!({})));
    // Pings come when idle for the interval: never sooner (later only on a slow machine).
    assert!(
        since.elapsed() >= Duration::from_millis(4_500),
        "{:?}",
        since.elapsed()
    );
    let clamped = open(&server.url(), "demo-alice", 1).expect("stream");
    assert_eq!(clamped.hello()["heartbeat_ms"], 5_000);
    let clamped = open(&server.url(), "demo-alice", 100_000).expect("stream");
    assert_eq!(clamped.hello()["heartbeat_ms"], 120_000);
}

#[test]
fn bad_and_expired_tokens_are_refused_and_revocation_or_expiry_closes_the_stream() {
    let server = TestServer::with_demo();
    let (status, body, _) = open(&server.url(), "not-a-token", 25)
        .err()
        .expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
    let resp = Client::new()
        .get(format!("{}/v1/live", server.url()))
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let store = server.store();
    let expired = store.issue_token("alice", None).expect("token");
    store
        .set_token_expiry(&expired, Some(1))
        .expect("expire it");
    let (status, body, _) = open(&server.url(), &expired, 25).err().expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "token_expired");

    // Revoked while the stream is open: bye at once, then the end.
    let token = store.issue_token("alice", None).expect("token");
    let live = open(&server.url(), &token, 25).expect("stream");
    live.hello();
    assert!(store.revoke_token(&token).expect("revoke"));
    assert_eq!(
        live.next_news(),
        ("bye".to_string(), json!({"reason": "sign_in_needed"}))
    );
    assert_eq!(live.next(), None);

    // Given an expiry while open: bye when it comes.
    let token = store.issue_token("alice", None).expect("token");
    let live = open(&server.url(), &token, 25).expect("stream");
    live.hello();
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        + 1_000;
    store.set_token_expiry(&token, Some(soon)).expect("re-time");
    assert_eq!(
        live.next_news(),
        ("bye".to_string(), json!({"reason": "sign_in_needed"}))
    );
    assert_eq!(live.next(), None);
}

#[test]
fn the_per_user_cap_refuses_with_429_and_retry_after() {
    let options = ServerOptions {
        limits: Limits {
            max_streams_per_user: 2,
            ..Limits::default()
        },
        ..ServerOptions::default()
    };
    let server = TestServer::with_demo_options(options);
    let first = open(&server.url(), "demo-alice", 5).expect("first");
    let second = open(&server.url(), "demo-alice", 5).expect("second");
    first.hello();
    second.hello();
    let (status, body, retry) = open(&server.url(), "demo-alice", 5).err().expect("refused");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&body, "too_many_streams");
    assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s > 0)));
    // Another user is not affected.
    open(&server.url(), "demo-bob", 5).expect("bob's").hello();
    let metrics = Client::new()
        .get(format!("{}/metrics", server.url()))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(metrics.contains("syncline_live_streams 3"), "{metrics}");

    // A stream whose client went away gives its place back (seen at its next write, the
    // heartbeat at the latest).
    drop(first);
    let deadline = Instant::now() + GUARD;
    loop {
        match open(&server.url(), "demo-alice", 5) {
            Ok(again) => {
                again.hello();
                break;
            }
            Err((StatusCode::TOO_MANY_REQUESTS, _, _)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[test]
fn shutdown_says_bye_to_every_stream() {
    let mut server = TestServer::with_demo();
    let alice = open(&server.url(), "demo-alice", 25).expect("alice");
    let bob = open(&server.url(), "demo-bob", 25).expect("bob");
    alice.hello();
    bob.hello();
    let stopping = std::thread::spawn(move || {
        server.stop();
        server
    });
    for live in [&alice, &bob] {
        assert_eq!(
            live.next_news(),
            ("bye".to_string(), json!({"reason": "shutdown"}))
        );
        assert_eq!(live.next(), None);
    }
    let server = stopping.join().expect("stopped");
    assert!(!server.is_running());
}
