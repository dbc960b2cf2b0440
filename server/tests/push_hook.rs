//! The push hook (docs/protocol.md, "Push hook") on a real server over loopback HTTP, on the
//! run's backend, calling a tiny axum receiver of the test's own: a commit for users without a
//! live stream calls it once per user, signed (checked here with HMAC-SHA256 independently of
//! the server's code) and naming the entity and position; a user with an open stream is not
//! called; quick commits are coalesced into one call per interval; a failing receiver is
//! retried with the same delivery id, and all of it is counted in `/metrics`.
//!
//! Every wait has a hang guard ([`GUARD`]); the one timing assertion is a lower bound the
//! server guarantees (no second call for a user within the interval).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::receiver::{Call, Receiver, GUARD, RETRY_AFTER_SECS};
use common::Api;
use reqwest::blocking::Client;
use serde_json::{json, Value as Json};
use syncline_server::testing::{test_backend, ScratchDb, TestServer};
use syncline_server::{PushHookConfig, ServerOptions, DEPOT, HARBOR};

/// The shared secret of the tests' hook.
const SECRET: &str = "push-hook-test-secret-of-32-bytes!!";

fn hooked(url: &str, interval: Duration) -> ServerOptions {
    ServerOptions {
        push_hook: Some(PushHookConfig {
            url: url.to_string(),
            secret: SECRET.to_string(),
            interval,
        }),
        ..ServerOptions::default()
    }
}

/// A metric's value from `/metrics` (0 when absent).
fn metric(server: &TestServer, line: &str) -> u64 {
    let text = Client::new()
        .get(format!("{}/metrics", server.url()))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `check` until it holds, for at most [`GUARD`].
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + GUARD;
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens a live stream and waits for its `hello`: from then on the server counts it. The
/// stream stays open while the returned thread's response lives (until the test ends).
fn open_stream(url: &str, token: &str) -> mpsc::Receiver<String> {
    let resp = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client")
        .get(format!("{url}/v1/live"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .expect("stream");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + GUARD;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("hello");
        if line == "event: hello" {
            return rx;
        }
    }
}

/// Waits until the server answers: its hook listens from then on (the test server starts
/// serving on its own thread, and a commit made before would not be called about).
fn serving(server: TestServer) -> TestServer {
    let resp = Client::new()
        .get(format!("{}/healthz", server.url()))
        .send()
        .expect("healthz");
    assert!(resp.status().is_success());
    server
}

fn write_task(server: &TestServer, key: &str, project: &str) -> i64 {
    let fields = json!({"project_id": project, "title": format!("Task {key}")});
    server
        .store()
        .upsert_record("tasks", key, fields.as_object().expect("fields"))
        .expect("server write");
    server
        .store()
        .get_record("tasks", key)
        .expect("read")
        .expect("stored")
        .position
}

#[test]
fn a_commit_calls_the_hook_signed_for_users_without_a_stream_only() {
    let mut hook = Receiver::start(0);
    let server = serving(TestServer::with_demo_options(hooked(
        &hook.url,
        Duration::from_secs(30),
    )));
    // Alice (a member of p-harbor) holds a stream; bob (a member too) does not; carol is not
    // a member.
    let _alice = open_stream(&server.url(), "demo-alice");
    let pushed = Api::new(&server).push(
        "demo-bob",
        "bob-phone",
        json!([{"mutation_id": "m-hook-1", "seq": 1, "entity": "tasks", "key": "t-hook-1",
                "op": "insert", "fields": {"project_id": HARBOR, "title": "Call me"},
                "base_version": null}]),
    );
    assert_eq!(pushed.results.len(), 1);
    let position = server
        .store()
        .get_record("tasks", "t-hook-1")
        .expect("read")
        .expect("stored")
        .position;

    let call = hook.next_where("for bob", |c| c.user() == "bob");
    call.assert_signed(SECRET);
    assert_eq!(
        call.json(),
        json!({"user": "bob", "entities": {"tasks": position.to_string()}})
    );
    assert_eq!(call.header("content-type"), "application/json");
    assert!(!call.header("x-syncline-delivery").is_empty());
    // A wrong secret does not verify.
    let forged = std::panic::catch_unwind(|| call.assert_signed("another-secret"));
    assert!(
        forged.is_err(),
        "a signature checks out only with the secret"
    );

    // Alice's case was decided with bob's (one commit): skipped for her stream.
    eventually("alice skipped for her stream", || {
        metric(&server, "syncline_push_hook_skipped_total{reason=\"live\"}") >= 1
    });
    eventually("the call counted", || {
        metric(
            &server,
            "syncline_push_hook_calls_total{outcome=\"delivered\"}",
        ) == 1
    });
    let users: Vec<String> = hook.all().iter().map(Call::user).collect();
    assert_eq!(users, vec!["bob"], "only bob is called");
}

#[test]
fn quick_commits_are_coalesced_into_one_call_per_interval() {
    let mut hook = Receiver::start(0);
    let interval = Duration::from_secs(2);
    let server = serving(TestServer::with_demo_options(hooked(&hook.url, interval)));
    // p-depot: alice alone.
    let first = write_task(&server, "t-coalesce-1", DEPOT);
    let call = hook.next_where("the first", |c| c.user() == "alice");
    assert_eq!(call.json()["entities"]["tasks"], json!(first.to_string()));

    // Two quick commits within the interval: one call, at its end, naming the newest.
    let _second = write_task(&server, "t-coalesce-2", DEPOT);
    let third = write_task(&server, "t-coalesce-3", DEPOT);
    let later = hook.next_where("the coalesced one", |c| c.user() == "alice");
    assert_eq!(
        later.json(),
        json!({"user": "alice", "entities": {"tasks": third.to_string()}})
    );
    later.assert_signed(SECRET);
    let gap = later.at.duration_since(call.at);
    // The server waits the whole interval; the receiver may see the two calls a little
    // closer than the server sent them (the first one's own delivery time).
    assert!(gap >= interval - Duration::from_millis(500), "{gap:?}");
    let calls: Vec<String> = hook.all().iter().map(Call::user).collect();
    assert_eq!(calls, vec!["alice", "alice"], "two calls for three commits");
    assert!(metric(&server, "syncline_push_hook_coalesced_total") >= 1);

    // A commit touching no scope of hers (p-ridge: carol) calls carol, never alice.
    write_task(&server, "t-coalesce-ridge", syncline_server::RIDGE);
    let carol = hook.next_where("for carol", |c| c.user() == "carol");
    let entities: BTreeMap<String, Json> =
        serde_json::from_value(carol.json()["entities"].clone()).expect("entities");
    assert_eq!(entities.keys().collect::<Vec<_>>(), vec!["tasks"]);
}

#[test]
fn a_failing_hook_is_retried_with_the_same_delivery_and_counted() {
    let mut hook = Receiver::start(1);
    let server = serving(TestServer::with_demo_options(hooked(
        &hook.url,
        Duration::from_secs(30),
    )));
    write_task(&server, "t-retry-1", DEPOT);
    let refused = hook.next_where("the first attempt", |c| c.user() == "alice");
    let again = hook.next_where("the retry", |c| c.user() == "alice");
    assert_eq!(
        refused.header("x-syncline-delivery"),
        again.header("x-syncline-delivery")
    );
    assert_eq!(refused.body, again.body);
    again.assert_signed(SECRET);
    // The receiver's Retry-After (3 s), not the first backoff step (1 s), sets the wait.
    let waited = again.at.duration_since(refused.at);
    assert!(
        waited >= Duration::from_millis(RETRY_AFTER_SECS * 1000 - 100),
        "the retry came after {waited:?}"
    );
    eventually("counted", || {
        metric(
            &server,
            "syncline_push_hook_calls_total{outcome=\"retried\"}",
        ) == 1
            && metric(
                &server,
                "syncline_push_hook_calls_total{outcome=\"delivered\"}",
            ) == 1
    });
}

#[test]
fn of_two_instances_only_the_committing_one_calls() {
    if test_backend() != "postgres" {
        println!("skipped: two instances share a database on PostgreSQL only");
        return;
    }
    let mut hook = Receiver::start(0);
    let db = ScratchDb::new();
    db.open_sample()
        .and_then(|store| syncline_server::seed_demo(&store))
        .expect("seed");
    let options = hooked(&hook.url, Duration::from_secs(30));
    let a = serving(
        TestServer::try_start_at_with_options(db.location().clone(), options.clone())
            .expect("instance a"),
    );
    let b =
        serving(TestServer::try_start_at_with_options(db.location().clone(), options).expect("b"));
    // Both instances hear the commit on a (b wakes its streams with it); only a calls.
    write_task(&a, "t-two-1", DEPOT);
    hook.next_where("for alice", |c| c.user() == "alice");
    // b decides in commit order: once its own later commit is called about, it has passed
    // a's commit too, had it been going to call about it.
    write_task(&b, "t-two-2", syncline_server::RIDGE);
    hook.next_where("for carol", |c| c.user() == "carol");
    let users: Vec<String> = hook.all().iter().map(Call::user).collect();
    assert_eq!(users, vec!["alice", "carol"]);
    assert_eq!(
        metric(&b, "syncline_push_hook_calls_total{outcome=\"delivered\"}"),
        1
    );
}
