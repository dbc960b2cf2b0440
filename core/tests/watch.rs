//! Live queries end to end: watches on real SQLite files, fed by local writes and by syncs with
//! the real reference server.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{client, eventually, new_task, server, server_put, set};
use syncline_core::{
    Conflict, ConflictPolicy, Page, QuarantinedMutation, Query, Record, RecordState, Resolution,
    SortOrder, Syncline, Value,
};
use syncline_protocol::sample::{COMMENTS, TASKS};

/// Everything a watch delivered, in order.
#[derive(Clone)]
struct Seen<T> {
    answers: Arc<Mutex<Vec<T>>>,
}

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Seen {
            answers: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<T: Clone + Send + 'static> Seen<T> {
    fn listener(&self) -> impl Fn(syncline_core::Result<T>) + Send + Sync + 'static {
        let answers = self.answers.clone();
        move |answer| {
            answers
                .lock()
                .expect("lock")
                .push(answer.expect("an answer"))
        }
    }

    fn count(&self) -> usize {
        self.answers.lock().expect("lock").len()
    }

    fn last(&self) -> Option<T> {
        self.answers.lock().expect("lock").last().cloned()
    }

    fn all(&self) -> Vec<T> {
        self.answers.lock().expect("lock").clone()
    }
}

impl<T: Clone + Send + PartialEq + std::fmt::Debug + 'static> Seen<Vec<T>> {
    /// The length of each list delivered, in order, after checking that no list was delivered
    /// twice in a row (an unchanged list is never delivered again).
    fn lengths(&self) -> Vec<usize> {
        let all = self.all();
        for pair in all.windows(2) {
            assert_ne!(pair[0], pair[1], "the same list twice in a row");
        }
        all.iter().map(Vec::len).collect()
    }
}

fn keys(page: &Page) -> Vec<&str> {
    page.records.iter().map(|r| r.key.as_str()).collect()
}

fn title(record: &Record) -> &Value {
    record.get("title").unwrap_or(&Value::Null)
}

fn shared_tasks() -> Query {
    Query::all(1000)
        .filter("project_id", Value::Text("p-shared".into()))
        .order("title", SortOrder::Ascending)
}

#[test]
fn a_watch_sees_local_inserts_updates_and_deletes_with_their_sync_state() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("all").expect("first sync");
    let seen = Seen::default();
    let _watch = device
        .watch(TASKS, &shared_tasks(), seen.listener())
        .expect("watch");
    eventually("the current page at once", || {
        seen.last()
            .is_some_and(|p| keys(&p) == ["t-shared-1", "t-shared-2"])
    });
    assert!(seen
        .last()
        .expect("page")
        .records
        .iter()
        .all(|r| r.state == Some(RecordState::Synced)));

    device
        .insert(TASKS, new_task("t-new", "p-shared", "A new one"))
        .expect("insert");
    eventually("the insert, marked pending", || {
        seen.last().is_some_and(|p| {
            p.records
                .iter()
                .any(|r| r.key == "t-new" && r.state == Some(RecordState::Pending))
        })
    });
    device
        .update(
            TASKS,
            Record::new("t-new").with_values(set("title", Value::Text("Renamed".into()))),
        )
        .expect("update");
    eventually("the update", || {
        seen.last().is_some_and(|p| {
            p.records
                .iter()
                .any(|r| r.key == "t-new" && title(r) == &Value::Text("Renamed".into()))
        })
    });
    device.delete(TASKS, "t-shared-2").expect("delete");
    eventually("the delete", || {
        seen.last()
            .is_some_and(|p| !keys(&p).contains(&"t-shared-2"))
    });

    // The server accepts the mutations: the pending marker clears.
    device.sync_now_blocking("tasks").expect("sync");
    eventually("synced", || {
        seen.last().is_some_and(|p| {
            p.records
                .iter()
                .find(|r| r.key == "t-new")
                .is_some_and(|r| r.state == Some(RecordState::Synced))
        })
    });
}

#[test]
fn a_watch_sees_a_pulled_change_from_another_client_and_a_record_watch_its_deletion() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = client(dir.path(), "phone", &server.url(), &users.alice);
    let tablet = client(dir.path(), "tablet", &server.url(), &users.bob);
    phone.sync_now_blocking("all").expect("sync");
    tablet.sync_now_blocking("all").expect("sync");
    let page = Seen::default();
    let _page = phone
        .watch(TASKS, &shared_tasks(), page.listener())
        .expect("watch");
    let record: Seen<Option<Record>> = Seen::default();
    let _record = phone
        .watch_record(TASKS, "t-shared-1", record.listener())
        .expect("watch");
    eventually("both answered", || page.count() >= 1 && record.count() >= 1);

    tablet
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("title", Value::Text("Bob's title".into()))),
        )
        .expect("edit");
    tablet.sync_now_blocking("all").expect("push");
    phone.sync_now_blocking("all").expect("pull");
    eventually("the pulled title in the page", || {
        page.last().is_some_and(|p| {
            p.records
                .iter()
                .any(|r| r.key == "t-shared-1" && title(r) == &Value::Text("Bob's title".into()))
        })
    });
    eventually("and in the record", || {
        record
            .last()
            .flatten()
            .is_some_and(|r| title(&r) == &Value::Text("Bob's title".into()))
    });

    tablet.delete(TASKS, "t-shared-1").expect("delete");
    tablet.sync_now_blocking("all").expect("push");
    phone.sync_now_blocking("all").expect("pull");
    eventually("the record watch sees the deletion", || {
        record.last() == Some(None)
    });
}

#[test]
fn a_watch_sees_a_conflict_resolved_and_a_quarantined_mutation_discarded() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::manual(&server.url(), &users.alice);
    let device = support::client_with_schema(
        dir.path(),
        "device",
        support::schema_with_task_policy(ConflictPolicy::Manual),
        config,
    );
    device.sync_now_blocking("all").expect("sync");
    let seen = Seen::default();
    let _watch = device
        .watch(TASKS, &Query::all(1000), seen.listener())
        .expect("watch");

    // The same field changed on both sides: the record waits in the inbox.
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("title", Value::Text("Mine".into()))),
        )
        .expect("edit");
    server_put(
        &server,
        "tasks",
        "t-shared-1",
        serde_json::json!({"project_id": "p-shared", "title": "Theirs"}),
    );
    device.sync_now_blocking("tasks").expect("sync");
    let state_of = |key: &str| {
        seen.last()
            .and_then(|p| p.records.into_iter().find(|r| r.key == key))
            .and_then(|r| r.state)
    };
    eventually("in conflict", || {
        state_of("t-shared-1") == Some(RecordState::InConflict)
    });
    let conflict = device.conflicts().expect("inbox").remove(0);
    device
        .resolve(conflict.id, Resolution::KeepMine)
        .expect("resolve");
    eventually("resolved: my title, pending", || {
        state_of("t-shared-1") == Some(RecordState::Pending)
            && seen.last().is_some_and(|p| {
                p.records
                    .iter()
                    .any(|r| r.key == "t-shared-1" && title(r) == &Value::Text("Mine".into()))
            })
    });

    // alice is not a member of carol's project: the server refuses the task.
    device
        .insert(TASKS, new_task("t-refused", "p-carol", "Not mine to make"))
        .expect("insert");
    device.sync_now_blocking("tasks").expect("sync");
    eventually("quarantined", || {
        state_of("t-refused") == Some(RecordState::Quarantined)
    });
    let seq = device.quarantined().expect("quarantine")[0].seq;
    device.discard_quarantined(seq).expect("discard");
    eventually("discarded: the record is gone", || {
        seen.last()
            .is_some_and(|p| !keys(&p).contains(&"t-refused"))
    });
}

#[test]
fn writes_to_other_entities_never_fire_a_watch() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("all").expect("sync");
    let seen = Seen::default();
    let _watch = device
        .watch(TASKS, &Query::all(10), seen.listener())
        .expect("watch");
    eventually("the current page", || seen.count() == 1);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    // A watch of comments, as a witness that the comments' commits are out.
    let _comments = device
        .watch(COMMENTS, &Query::all(100), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .expect("watch");
    eventually("the comments' current page", || {
        calls.load(Ordering::SeqCst) == 1
    });
    for i in 0..5 {
        let comment = Record::new(format!("c-{i}"))
            .with("project_id", Value::Text("p-shared".into()))
            .with("task_id", Value::Text("t-shared-1".into()))
            .with("body", Value::Text("hello".into()));
        device.insert(COMMENTS, comment).expect("insert");
    }
    eventually("the comments' watch saw them", || {
        calls.load(Ordering::SeqCst) >= 2
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(seen.count(), 1, "the tasks' watch was not called again");
}

#[test]
fn a_burst_of_writes_gives_few_deliveries_and_the_last_one_is_right() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    let seen = Seen::default();
    let query = Query::all(2000).filter("project_id", Value::Text("p-burst".into()));
    let _watch = device.watch(TASKS, &query, seen.listener()).expect("watch");
    for i in 0..1000 {
        device
            .insert(
                TASKS,
                new_task(&format!("t-{i:04}"), "p-burst", &format!("Task {i}")),
            )
            .expect("insert");
    }
    eventually("the last page has all 1,000", || {
        seen.last().is_some_and(|p| p.records.len() == 1000)
    });
    std::thread::sleep(Duration::from_millis(400));
    let deliveries = seen.count();
    println!("1,000 writes gave {deliveries} deliveries");
    assert!(deliveries < 100, "{deliveries} deliveries for 1,000 writes");
    assert_eq!(
        seen.last().expect("page").records.len(),
        1000,
        "nothing came after the full page"
    );
}

#[test]
fn a_large_sync_gives_a_bounded_number_of_deliveries_and_the_right_last_page() {
    let (server, users) = server();
    let rows = 100_000;
    syncline_server::testing::bulk_insert_tasks(
        server.store(),
        "p-shared",
        rows,
        syncline_server::testing::KeyKind::TimeOrdered,
    )
    .expect("bulk");
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    let seen = Seen::default();
    let _watch = device
        .watch(
            TASKS,
            &Query::all(50).order("title", SortOrder::Descending),
            seen.listener(),
        )
        .expect("watch");
    let started = std::time::Instant::now();
    let report = device.sync_now_blocking("tasks").expect("sync");
    let took = started.elapsed();
    assert!(report.entities[0].pulled as usize > rows);
    eventually("the final page", || {
        seen.last()
            == Some(
                device
                    .query(TASKS, &Query::all(50).order("title", SortOrder::Descending))
                    .expect("query"),
            )
    });
    let deliveries = seen.count();
    // At most one per throttle interval while pages arrive, plus the first and the last.
    let bound = (took.as_millis() / 200) as usize + 3;
    println!(
        "a {rows}-row sync ({} pages, {took:?}) gave {deliveries} deliveries (bound {bound})",
        report.entities[0].pages
    );
    assert!(deliveries <= bound, "{deliveries} > {bound}");
}

#[test]
fn a_slow_or_panicking_listener_is_contained_and_a_dropped_watch_stops() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    let slow_calls = Arc::new(AtomicUsize::new(0));
    let s = slow_calls.clone();
    let _slow = device
        .watch(TASKS, &Query::all(10), move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        })
        .expect("watch");
    let panics = Arc::new(AtomicUsize::new(0));
    let p = panics.clone();
    let _panicking = device
        .watch(TASKS, &Query::all(10), move |_| {
            p.fetch_add(1, Ordering::SeqCst);
            panic!("listener bug");
        })
        .expect("watch");
    let seen = Seen::default();
    let watch = device
        .watch(TASKS, &Query::all(10), seen.listener())
        .expect("watch");
    eventually("all three answered", || {
        slow_calls.load(Ordering::SeqCst) >= 1 && panics.load(Ordering::SeqCst) >= 1
    });
    // The others still get theirs at once, and the panicking one stays subscribed.
    let started = std::time::Instant::now();
    device
        .insert(TASKS, new_task("t-a", "p-shared", "First"))
        .expect("insert");
    eventually("the quick listener has it", || {
        seen.last().is_some_and(|p| keys(&p) == ["t-a"])
    });
    assert!(started.elapsed() < Duration::from_secs(30));
    eventually("the panicking listener was called again", || {
        panics.load(Ordering::SeqCst) >= 2
    });
    // Writes and syncs still work.
    device.sync_now_blocking("all").expect("the engine runs on");

    watch.stop();
    // stop() lets a call already under way finish (the sync's pages may still be on their way
    // to this listener, behind the slow one): the count is taken once a probe watch has had its
    // first answer, which the one listeners' thread hands over only after any such call.
    let probe = Seen::<Page>::default();
    let _probe = device
        .watch(TASKS, &Query::all(10), probe.listener())
        .expect("watch");
    eventually("the probe's first answer", || probe.count() >= 1);
    let count = seen.count();
    device
        .insert(TASKS, new_task("t-b", "p-shared", "Second"))
        .expect("insert");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(seen.count(), count, "a stopped watch is not called");
    let dropped = Seen::default();
    drop(
        device
            .watch(TASKS, &Query::all(10), dropped.listener())
            .expect("watch"),
    );
    std::thread::sleep(Duration::from_millis(300));
    device
        .insert(TASKS, new_task("t-c", "p-shared", "Third"))
        .expect("insert");
    std::thread::sleep(Duration::from_millis(500));
    assert!(dropped.count() <= 1, "a dropped watch stops");
}

#[test]
fn a_watch_checks_its_query_at_once() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device: Syncline = client(dir.path(), "device", &server.url(), &users.alice);
    assert!(device
        .watch(TASKS, &Query::all(10).filter("colour", Value::Null), |_| {})
        .is_err());
    assert!(device.watch("nope", &Query::all(10), |_| {}).is_err());
    assert!(device.watch_record("nope", "k", |_| {}).is_err());
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn the_conflict_watch_follows_the_inbox_and_nothing_else() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = support::client_with_schema(
        dir.path(),
        "device",
        support::schema_with_task_policy(ConflictPolicy::Manual),
        support::manual(&server.url(), &users.alice),
    );
    let bob = client(dir.path(), "bob", &server.url(), &users.bob);
    device.sync_now_blocking("all").expect("sync");
    bob.sync_now_blocking("all").expect("sync");
    let inbox: Seen<Vec<Conflict>> = Seen::default();
    let watch = device.watch_conflicts(inbox.listener()).expect("watch");
    eventually("the empty inbox at once", || {
        inbox.last().is_some_and(|list| list.is_empty())
    });

    // Commits that leave the inbox alone: a local write, its push, a pulled page. A page watch
    // is the witness that they were committed.
    let page = Seen::default();
    let _page = device
        .watch(TASKS, &Query::all(1000), page.listener())
        .expect("watch");
    device
        .insert(TASKS, new_task("t-mine", "p-shared", "Mine"))
        .expect("insert");
    bob.update(
        TASKS,
        Record::new("t-shared-2").with_values(set("title", text("Bob's"))),
    )
    .expect("edit");
    bob.sync_now_blocking("all").expect("push");
    device.sync_now_blocking("all").expect("push and pull");
    eventually("the push and the pull in the page", || {
        page.last().is_some_and(|p| {
            p.records
                .iter()
                .any(|r| r.key == "t-mine" && r.state == Some(RecordState::Synced))
                && p.records
                    .iter()
                    .any(|r| r.key == "t-shared-2" && title(r) == &text("Bob's"))
        })
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        inbox.count(),
        1,
        "an unchanged inbox is not delivered again"
    );

    // The same field changed on both sides: the sync puts the conflict in the inbox.
    device
        .update(
            TASKS,
            Record::new("t-shared-1").with_values(set("title", text("Mine"))),
        )
        .expect("edit");
    server_put(
        &server,
        "tasks",
        "t-shared-1",
        serde_json::json!({"project_id": "p-shared", "title": "Theirs"}),
    );
    device.sync_now_blocking("tasks").expect("sync");
    eventually("the conflict", || {
        inbox
            .last()
            .is_some_and(|list| list.len() == 1 && list[0].key == "t-shared-1")
    });
    let conflict = inbox.last().expect("list").remove(0);
    assert_eq!(conflict.entity, TASKS);
    assert_eq!(conflict.fields, ["title"]);
    assert_eq!(
        conflict.local.as_ref().and_then(|l| l.get("title")),
        Some(&text("Mine"))
    );
    assert_eq!(
        conflict.remote.as_ref().and_then(|r| r.get("title")),
        Some(&text("Theirs"))
    );
    assert_eq!(
        device.conflicts().expect("inbox"),
        std::slice::from_ref(&conflict)
    );

    device
        .resolve(conflict.id, Resolution::KeepMine)
        .expect("resolve");
    eventually("the empty inbox after resolve", || {
        inbox.last().is_some_and(|list| list.is_empty())
    });
    // Pushing the decision leaves the inbox as it is.
    device.sync_now_blocking("tasks").expect("sync");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(inbox.lengths(), [0, 1, 0]);

    // Stopped: a new conflict reaches the inbox, not the listener.
    watch.stop();
    device
        .update(
            TASKS,
            Record::new("t-shared-2").with_values(set("title", text("Mine again"))),
        )
        .expect("edit");
    server_put(
        &server,
        "tasks",
        "t-shared-2",
        serde_json::json!({"project_id": "p-shared", "title": "Theirs again"}),
    );
    device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(device.conflicts().expect("inbox").len(), 1);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(inbox.count(), 3, "a stopped watch is not called");
}

#[test]
fn the_quarantine_watch_follows_refusals_retries_edits_and_discards() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("all").expect("sync");
    let refused: Seen<Vec<QuarantinedMutation>> = Seen::default();
    let watch = device.watch_quarantined(refused.listener()).expect("watch");
    let empty = || refused.last().is_some_and(|list| list.is_empty());
    eventually("no refused mutation at once", empty);
    let one = |what: &str, check: &dyn Fn(&QuarantinedMutation) -> bool| {
        eventually(what, || {
            refused.last().is_some_and(|list| {
                list.len() == 1
                    && list[0].key == "t-refused"
                    && list[0].code == "forbidden"
                    && check(&list[0])
            })
        });
        refused.last().expect("list").remove(0)
    };

    // alice is not a member of carol's project: the server refuses the task.
    device
        .insert(TASKS, new_task("t-refused", "p-carol", "Not mine to make"))
        .expect("insert");
    device.sync_now_blocking("tasks").expect("sync");
    let first = one("the refused insert", &|_| true);
    assert_eq!(
        device.quarantined().expect("quarantine"),
        std::slice::from_ref(&first)
    );

    // Retried: it leaves the quarantine for the outbox, and comes back under a new seq.
    device.retry_quarantined(first.seq).expect("retry");
    eventually("gone while retried", empty);
    device.sync_now_blocking("tasks").expect("sync");
    let again = one("refused again", &|q| q.seq != first.seq);

    // Edited: the same, with the new title.
    device
        .edit_quarantined(again.seq, set("title", text("Edited")))
        .expect("edit");
    eventually("gone while edited", empty);
    device.sync_now_blocking("tasks").expect("sync");
    let edited = one("the edit refused", &|q| {
        q.seq != again.seq && q.values.get("title") == Some(&text("Edited"))
    });

    device.discard_quarantined(edited.seq).expect("discard");
    eventually("gone once discarded", empty);
    // A write the server accepts leaves the quarantine as it is.
    device
        .insert(TASKS, new_task("t-fine", "p-shared", "Fine"))
        .expect("insert");
    device.sync_now_blocking("tasks").expect("sync");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(refused.lengths(), [0, 1, 0, 1, 0, 1, 0]);

    // Dropped: a new refusal reaches the quarantine, not the listener.
    drop(watch);
    device
        .insert(TASKS, new_task("t-refused-2", "p-carol", "Not mine either"))
        .expect("insert");
    device.sync_now_blocking("tasks").expect("sync");
    assert_eq!(device.quarantined().expect("quarantine").len(), 1);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(refused.count(), 7, "a dropped watch is not called");
}
