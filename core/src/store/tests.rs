//! The local store on a real SQLite file: writes and their outbox entries, partial updates,
//! entity modes, queries, reopening, and pulled pages (good and bad).

use std::collections::HashMap;

use serde_json::json;
use syncline_protocol::sample::{self, COMMENTS, PROJECTS, TASKS};
use syncline_protocol::{MutationResult, Op, Outcome, PullPage, Value, WireRecord};

use super::Store;
use crate::error::Error;
use crate::queue::{Queue, QueueChange};
use crate::record::{Query, Record, SortOrder};
use crate::shared::lock;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &dir.path().join("client.db"),
        sample::schema().expect("schema"),
    )
    .expect("open")
}

fn task(key: &str, title: &str) -> Record {
    Record::new(key)
        .with("project_id", Value::Text("p1".into()))
        .with("title", Value::Text(title.into()))
        .with("done", Value::Boolean(false))
}

fn changes(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Everything the store holds for `tasks`, and the outbox, to compare before and after.
fn snapshot(store: &Store) -> (Vec<Record>, usize, Option<String>) {
    let tasks = store
        .query(TASKS, &Query::all(10_000))
        .expect("query")
        .records;
    let pending = store.pending(TASKS, 10_000).expect("pending").len();
    (tasks, pending, store.pull_cursor(TASKS).expect("cursor"))
}

#[test]
fn each_write_lands_with_its_outbox_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let r1 = store
        .insert(TASKS, task("t1", "Inspect pump"))
        .expect("insert");
    let r2 = store
        .update(
            TASKS,
            "t1",
            changes(&[
                ("title", Value::Text("Inspect pump 3".into())),
                ("done", Value::Boolean(false)),
            ]),
        )
        .expect("update")
        .expect("something changed");
    assert!(r2.seq > r1.seq, "sequence numbers increase");
    let none = store
        .update(TASKS, "t1", changes(&[("done", Value::Boolean(false))]))
        .expect("no-op update");
    assert!(
        none.is_none(),
        "an update that changes nothing records nothing"
    );
    store.delete(TASKS, "t1").expect("delete");

    let pending = store.pending(TASKS, 100).expect("pending");
    let ops: Vec<Op> = pending.iter().map(|m| m.op).collect();
    assert_eq!(ops, vec![Op::Insert, Op::Update, Op::Delete]);
    assert_eq!(pending[0].fields.get("title"), Some(&json!("Inspect pump")));
    // Only the field that changed travels.
    assert_eq!(pending[1].fields.len(), 1);
    assert_eq!(
        pending[1].fields.get("title"),
        Some(&json!("Inspect pump 3"))
    );
    assert!(pending.iter().all(|m| m.entity == TASKS && m.key == "t1"));
    assert_eq!(store.get(TASKS, "t1").expect("get"), None);
    assert_eq!(
        store
            .counts()
            .map(|c| (c.pending, c.quarantined))
            .expect("counts"),
        (3, 0)
    );
}

#[test]
fn writes_are_checked_against_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let p = Record::new("p9").with("name", Value::Text("x".into()));
    assert!(matches!(store.insert(PROJECTS, p), Err(Error::ReadOnly(_))));
    let c = Record::new("c1")
        .with("project_id", Value::Text("p1".into()))
        .with("task_id", Value::Text("t1".into()))
        .with("body", Value::Text("hi".into()));
    // The server sets a comment's author and creation time: the app cannot give them, and the
    // required author is not required of it.
    for (field, value) in [
        ("author", Value::Text("alice".into())),
        ("created_at", Value::Timestamp(1)),
    ] {
        assert!(
            matches!(
                store.insert(COMMENTS, c.clone().with(field, value)),
                Err(Error::ReadOnlyField { .. })
            ),
            "{field}"
        );
    }
    store.insert(COMMENTS, c).expect("comments can be created");
    assert!(matches!(
        store.update(
            COMMENTS,
            "c1",
            changes(&[("body", Value::Text("edit".into()))])
        ),
        Err(Error::AppendOnly(_))
    ));
    assert!(matches!(
        store.delete(COMMENTS, "c1"),
        Err(Error::AppendOnly(_))
    ));
    assert!(matches!(
        store.insert("nope", task("t", "x")),
        Err(Error::UnknownEntity(_))
    ));
    assert!(matches!(
        store.insert(
            TASKS,
            task("t2", "x").with("colour", Value::Text("red".into()))
        ),
        Err(Error::UnknownField { .. })
    ));
    assert!(matches!(
        store.insert(
            TASKS,
            task("t2", "x").with("done", Value::Text("yes".into()))
        ),
        Err(Error::WrongType { .. })
    ));
    assert!(matches!(
        store.insert(
            TASKS,
            Record::new("t3").with("title", Value::Text("no project".into()))
        ),
        Err(Error::MissingField { .. })
    ));
    store.insert(TASKS, task("t2", "x")).expect("insert");
    assert!(matches!(
        store.insert(TASKS, task("t2", "again")),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.update(TASKS, "zz", changes(&[("done", Value::Boolean(true))])),
        Err(Error::NotFound { .. })
    ));
    // Refused writes left nothing in the outbox.
    assert_eq!(
        store
            .counts()
            .map(|c| (c.pending, c.quarantined))
            .expect("counts"),
        (2, 0)
    );
}

#[test]
fn fields_only_the_server_writes_are_never_pushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    // A mutation that copies a whole record (as client-wins and a retried insert do) carries
    // the server-set fields as last pulled.
    let fields = json!({"project_id": "p1", "task_id": "t1", "author": "alice",
                        "body": "hi", "created_at": 5});
    let serde_json::Value::Object(fields) = fields else {
        panic!("an object")
    };
    store
        .write(|tx| {
            super::outbox::record(
                tx,
                COMMENTS,
                "c1",
                Op::Insert,
                &fields,
                None,
                &serde_json::Map::new(),
            )
        })
        .expect("outbox entry");
    let sent = store.pending(COMMENTS, 10).expect("pending");
    let names: Vec<&String> = sent[0].fields.keys().collect();
    assert_eq!(names, vec!["body", "project_id", "task_id"]);
}

#[test]
fn queries_filter_order_and_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    for i in 0..25 {
        let rec = task(&format!("t{i:02}"), &format!("task {i:02}"))
            .with("priority", Value::Integer(i % 3))
            .with(
                "project_id",
                Value::Text(if i < 20 { "p1" } else { "p2" }.into()),
            );
        store.insert(TASKS, rec).expect("insert");
    }
    let q = Query::all(5)
        .filter("project_id", Value::Text("p1".into()))
        .order("priority", SortOrder::Descending);
    let mut seen = Vec::new();
    let mut query = q.clone();
    loop {
        let page = store.query(TASKS, &query).expect("query");
        assert!(page.records.len() <= 5);
        seen.extend(
            page.records
                .iter()
                .map(|r| (r.get_or_null("priority").clone(), r.key.clone())),
        );
        match page.next_offset {
            Some(next) => query.offset = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 20, "every p1 task once");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| match (&b.0, &a.0) {
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
        _ => std::cmp::Ordering::Equal,
    });
    assert_eq!(seen, sorted, "priority descending, key breaks ties");
    let nulls = store
        .query(TASKS, &Query::all(100).filter("notes", Value::Null))
        .expect("null filter");
    assert_eq!(nulls.records.len(), 25);
    assert!(matches!(
        store.query(TASKS, &Query::all(1).filter("colour", Value::Null)),
        Err(Error::UnknownField { .. })
    ));
    assert!(matches!(
        store.query(TASKS, &Query::all(1).filter("x\" OR 1=1 --", Value::Null)),
        Err(Error::UnknownField { .. })
    ));
}

#[test]
fn data_and_outbox_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client_id = {
        let store = open(&dir);
        store.insert(TASKS, task("t1", "Survives")).expect("insert");
        store.client_id().to_string()
    };
    let store = open(&dir);
    assert_eq!(store.client_id(), client_id, "same device, same client id");
    assert_eq!(
        store
            .get(TASKS, "t1")
            .expect("get")
            .expect("kept")
            .get("title"),
        Some(&Value::Text("Survives".into()))
    );
    assert_eq!(store.pending(TASKS, 10).expect("pending").len(), 1);
}

fn page(upserts: Vec<serde_json::Value>, tombstones: Vec<(&str, i64)>, cursor: &str) -> PullPage {
    let schema = sample::schema().expect("schema");
    PullPage {
        entity: TASKS.into(),
        fields: schema.entity(TASKS).expect("tasks").field_names(),
        upserts: upserts
            .into_iter()
            .map(|v| match v {
                serde_json::Value::Array(a) => a,
                _ => panic!("rows are arrays"),
            })
            .collect(),
        tombstones: tombstones
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        cursor: cursor.into(),
        has_more: false,
    }
}

fn server_task(key: &str, version: i64, title: &str) -> serde_json::Value {
    json!([
        key,
        version,
        "p1",
        title,
        null,
        false,
        1,
        null,
        null,
        null,
        ["a"],
        null,
        null
    ])
}

#[test]
fn a_pulled_page_applies_with_its_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let stats = store
        .apply_pull_page(
            TASKS,
            &page(
                vec![server_task("s1", 1, "one"), server_task("s2", 4, "two")],
                vec![],
                "10",
            ),
        )
        .expect("apply");
    assert_eq!(stats.upserts, 2);
    assert_eq!(
        store.pull_cursor(TASKS).expect("cursor").as_deref(),
        Some("10")
    );
    let s2 = store.get(TASKS, "s2").expect("get").expect("present");
    assert_eq!(s2.version, Some(4));
    assert_eq!(s2.get("tags"), Some(&Value::Json("[\"a\"]".into())));
    // An older version never replaces a newer one.
    store
        .apply_pull_page(
            TASKS,
            &page(vec![server_task("s2", 3, "stale")], vec![("s1", 2)], "11"),
        )
        .expect("apply");
    assert_eq!(
        store
            .get(TASKS, "s2")
            .expect("get")
            .expect("present")
            .get("title"),
        Some(&Value::Text("two".into()))
    );
    assert_eq!(
        store.get(TASKS, "s1").expect("get"),
        None,
        "tombstone deletes"
    );
    assert_eq!(
        store.pending(TASKS, 10).expect("pending").len(),
        0,
        "pulls never write the outbox"
    );
}

#[test]
fn a_bad_page_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .apply_pull_page(TASKS, &page(vec![server_task("s1", 1, "one")], vec![], "5"))
        .expect("apply");
    store.insert(TASKS, task("local", "mine")).expect("insert");
    let before = snapshot(&store);

    let mut wrong_type = page(
        vec![
            server_task("s2", 1, "ok"),
            json!(["s3", 1, "p1", 42, null, false, 1, null, null, null, null, null]),
        ],
        vec![],
        "9",
    );
    let mut unknown_field = page(vec![], vec![], "9");
    unknown_field.fields.push("colour".into());
    let mut other_entity = page(vec![], vec![], "9");
    other_entity.entity = "nope".into();
    let short_row = page(vec![json!(["s4", 1, "p1"])], vec![], "9");
    let no_version = page(
        vec![json!([
            "s5", "x", "p1", "t", null, false, 1, null, null, null, null, null
        ])],
        vec![],
        "9",
    );
    let no_cursor = page(vec![server_task("s6", 1, "x")], vec![], "");
    wrong_type.has_more = true;
    for (what, bad) in [
        ("wrong type", wrong_type),
        ("unknown field", unknown_field),
        ("other entity", other_entity),
        ("short row", short_row),
        ("no version", no_version),
        ("no cursor", no_cursor),
    ] {
        let err = store.apply_pull_page(TASKS, &bad).expect_err(what);
        assert!(
            matches!(err, Error::MalformedResponse(_)),
            "{what}: {err:?}"
        );
        assert_eq!(snapshot(&store), before, "{what} changed the store");
    }
}

#[test]
fn pulled_data_keeps_pending_local_edits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .apply_pull_page(
            TASKS,
            &page(vec![server_task("s1", 1, "server title")], vec![], "1"),
        )
        .expect("apply");
    store
        .update(TASKS, "s1", changes(&[("done", Value::Boolean(true))]))
        .expect("update");
    // The server changed the title meanwhile; the local `done` edit is not pushed yet.
    store
        .apply_pull_page(
            TASKS,
            &page(vec![server_task("s1", 2, "new title")], vec![], "2"),
        )
        .expect("apply");
    let s1 = store.get(TASKS, "s1").expect("get").expect("present");
    assert_eq!(s1.get("title"), Some(&Value::Text("new title".into())));
    assert_eq!(
        s1.get("done"),
        Some(&Value::Boolean(true)),
        "the unsent edit is still shown"
    );
    // A tombstone does not delete a record the user is still editing.
    store
        .apply_pull_page(TASKS, &page(vec![], vec![("s1", 3)], "3"))
        .expect("apply");
    assert!(store.get(TASKS, "s1").expect("get").is_some());
}

#[test]
fn push_results_clear_or_quarantine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.insert(TASKS, task("t1", "a")).expect("insert");
    store.insert(TASKS, task("t2", "b")).expect("insert");
    let sent = store.pending(TASKS, 10).expect("pending");
    let results = vec![
        MutationResult {
            mutation_id: sent[0].mutation_id.clone(),
            seq: sent[0].seq,
            outcome: Outcome::Applied {
                version: 1,
                overwrote: None,
            },
        },
        MutationResult {
            mutation_id: sent[1].mutation_id.clone(),
            seq: sent[1].seq,
            outcome: Outcome::Rejected {
                code: "forbidden".into(),
                message: "not a member".into(),
            },
        },
    ];
    // A mismatched answer is refused before anything is written.
    let mut swapped = results.clone();
    swapped.swap(0, 1);
    assert!(matches!(
        store.apply_push_results(&sent, &swapped),
        Err(Error::MalformedResponse(_))
    ));
    assert!(matches!(
        store.apply_push_results(&sent, &results[..1]),
        Err(Error::MalformedResponse(_))
    ));
    assert_eq!(
        store
            .counts()
            .map(|c| (c.pending, c.quarantined))
            .expect("counts"),
        (2, 0)
    );

    let stats = store.apply_push_results(&sent, &results).expect("apply");
    assert_eq!((stats.applied, stats.quarantined), (1, 1));
    assert_eq!(
        store.get(TASKS, "t1").expect("get").expect("t1").version,
        Some(1)
    );
    assert_eq!(
        store
            .counts()
            .map(|c| (c.pending, c.quarantined))
            .expect("counts"),
        (0, 1)
    );
    let q = store.quarantined().expect("quarantined");
    assert_eq!(q[0].key, "t2");
    assert_eq!(q[0].code, "forbidden");
    assert!(
        store.get(TASKS, "t2").expect("get").is_some(),
        "the refused edit is not lost"
    );
    // The kept counts follow every way an entry changes state or leaves; reopened too.
    let q_seq = q[0].seq;
    let counted = |store: &Store| {
        let c = store.counts().expect("counts");
        let real = lock(&store.writer)
            .query_row(
                "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending'),
                        (SELECT COUNT(*) FROM outbox WHERE state = 'quarantined')",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .expect("count");
        assert_eq!((c.pending, c.quarantined), real, "kept counts = COUNT(*)");
        real
    };
    let (new_seq, _) = store.retry_quarantined(q_seq).expect("retry");
    assert_eq!(counted(&store), (1, 0));
    store.insert(TASKS, task("t3", "c")).expect("insert");
    store
        .update(TASKS, "t3", changes(&[("title", Value::Text("d".into()))]))
        .expect("update");
    assert_eq!(counted(&store), (3, 0));
    answer_all(
        &store,
        Outcome::Rejected {
            code: "no".into(),
            message: "no".into(),
        },
    );
    assert_eq!(counted(&store), (0, 3));
    store.discard_quarantined(new_seq).expect("discard");
    assert_eq!(counted(&store), (0, 2));
    drop(store);
    assert_eq!(counted(&open(&dir)), (0, 2));
}

/// Answers every pending mutation of `tasks` with `outcome`.
fn answer_all(store: &Store, outcome: Outcome) {
    let sent = store.pending(TASKS, 100).expect("pending");
    let results: Vec<MutationResult> = sent
        .iter()
        .map(|m| MutationResult {
            mutation_id: m.mutation_id.clone(),
            seq: m.seq,
            outcome: outcome.clone(),
        })
        .collect();
    store.apply_push_results(&sent, &results).expect("apply");
}

/// The server's `t1` at `version` with `title`, as a conflict answer carries it.
fn theirs(version: i64, title: &str) -> Outcome {
    Outcome::Conflict {
        current: Some(WireRecord {
            key: "t1".into(),
            version,
            fields: json!({"project_id": "p1", "title": title, "done": false})
                .as_object()
                .cloned()
                .expect("object"),
        }),
    }
}

#[test]
fn the_inbox_and_quarantine_fingerprints_follow_their_rows_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let (list, inbox) = store
        .conflicts_if_changed(None)
        .expect("inbox")
        .expect("a first answer");
    assert!(list.is_empty());
    let (list, quarantine) = store
        .quarantined_if_changed(None)
        .expect("quarantine")
        .expect("a first answer");
    assert!(list.is_empty());

    // A write and an accepted push leave both as they were: nothing is decoded.
    store.insert(TASKS, task("t1", "a")).expect("insert");
    answer_all(
        &store,
        Outcome::Applied {
            version: 1,
            overwrote: None,
        },
    );
    assert!(store
        .conflicts_if_changed(Some(inbox))
        .expect("inbox")
        .is_none());
    assert!(store
        .quarantined_if_changed(Some(quarantine))
        .expect("quarantine")
        .is_none());

    // A conflict, then a newer one merged into it: one conflict both times (same id), told
    // apart by its rows.
    store
        .update(
            TASKS,
            "t1",
            changes(&[("title", Value::Text("mine".into()))]),
        )
        .expect("update");
    answer_all(&store, theirs(2, "theirs"));
    let (list, first) = store
        .conflicts_if_changed(Some(inbox))
        .expect("inbox")
        .expect("a conflict");
    assert_eq!(list.len(), 1);
    store
        .update(
            TASKS,
            "t1",
            changes(&[("title", Value::Text("mine 2".into()))]),
        )
        .expect("update");
    answer_all(&store, theirs(3, "theirs 2"));
    let (merged, _) = store
        .conflicts_if_changed(Some(first))
        .expect("inbox")
        .expect("the merged conflict");
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].id, list[0].id);
    assert_eq!(merged[0].remote_version, Some(3));
    assert!(store
        .quarantined_if_changed(Some(quarantine))
        .expect("quarantine")
        .is_none());

    // A refusal changes the quarantine's fingerprint; undone, it is the empty one again.
    store.insert(TASKS, task("t2", "b")).expect("insert");
    answer_all(
        &store,
        Outcome::Rejected {
            code: "forbidden".into(),
            message: "not a member".into(),
        },
    );
    let (list, _) = store
        .quarantined_if_changed(Some(quarantine))
        .expect("quarantine")
        .expect("the refused insert");
    assert_eq!(list.len(), 1);
    store.discard_quarantined(list[0].seq).expect("discard");
    assert!(store
        .quarantined_if_changed(Some(quarantine))
        .expect("quarantine")
        .is_none());
}

#[test]
fn the_sync_queue_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        let mut queue = Queue::default();
        let mut changes = Vec::new();
        queue.push("tasks", 0, false, false, 1, &mut changes);
        queue.push("all", 0, false, false, 2, &mut changes);
        let running = queue.pop(&mut changes).expect("one");
        assert_eq!(running.unit, "tasks");
        store.apply_queue_changes(&changes).expect("persist");
        // The process dies here, mid-sync of `tasks`.
    }
    let store = open(&dir);
    let (kept, highest) = store.kept_queue().expect("kept");
    let mut queue = Queue::restore(kept, highest);
    let units: Vec<&str> = queue.requests().map(|r| r.unit.as_str()).collect();
    assert_eq!(
        units,
        vec!["tasks", "all"],
        "the interrupted request is queued again, in its place"
    );
    let mut changes = Vec::new();
    let next = queue.pop(&mut changes).expect("one");
    changes.push(QueueChange::Finished { id: next.id });
    store.apply_queue_changes(&changes).expect("persist");
    drop(store);
    let (kept, _) = open(&dir).kept_queue().expect("kept");
    assert_eq!(kept.len(), 1);
}

/// Found by the crash harness (`tests/crash.rs`), where a second process opened the file: a
/// write transaction began deferred, read, and then failed at once with "database is locked"
/// (SQLite's `BUSY_SNAPSHOT`, which skips the busy timeout) when another connection had committed
/// since its read. Writes now take the write lock first, so they wait for the other writer.
#[test]
fn writes_wait_for_another_connection_instead_of_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .insert(TASKS, task("t1", "Contended"))
        .expect("insert");
    let path = dir.path().join("client.db");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Another process on the same file (an app extension, a second tool), committing
            // small writes one after the other (with a breath between them, so the store's
            // writes are never starved of the lock on a loaded machine).
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.busy_timeout(std::time::Duration::from_secs(30))
                .expect("busy timeout");
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES ('other', ?1)",
                    [n.to_string()],
                )
                .expect("the other writer");
                n += 1;
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            n
        })
    };
    for i in 0..1000 {
        store
            .update(
                TASKS,
                "t1",
                changes(&[("title", Value::Text(format!("edit {i}")))]),
            )
            .unwrap_or_else(|e| panic!("edit {i} failed: {e:?}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(other.join().expect("the other writer") > 0);
}

#[test]
fn a_page_split_for_waiting_writes_applies_every_row_and_moves_the_cursor_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .apply_pull_page(
            TASKS,
            &page(vec![server_task("s0", 1, "zero")], vec![], "1"),
        )
        .expect("apply");
    let rows: Vec<_> = (0..350)
        .map(|i| server_task(&format!("r{i:03}"), 2, "row"))
        .collect();
    // As if a local write waited all along: the page commits in parts of at least 100 rows
    // (and waits up to 20 ms before each for the write that never comes).
    store
        .writers_waiting
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let stats = store
        .apply_pull_page(TASKS, &page(rows.clone(), vec![("s0", 3)], "2"))
        .expect("apply");
    store
        .writers_waiting
        .store(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!((stats.upserts, stats.tombstones), (350, 1));
    assert_eq!(
        store.pull_cursor(TASKS).expect("cursor").as_deref(),
        Some("2")
    );
    assert!(store.get(TASKS, "s0").expect("get").is_none());
    assert!(store.get(TASKS, "r349").expect("get").is_some());
    // Applying the page again (a crash between parts re-pulls it) changes nothing.
    let again = store
        .apply_pull_page(TASKS, &page(rows, vec![], "2"))
        .expect("apply again");
    assert_eq!(again.upserts, 350);
    let all = store.query(TASKS, &Query::all(1000)).expect("query");
    assert_eq!(all.records.len(), 350);
}

#[test]
fn a_commit_reaches_the_database_file_by_the_background_checkpoint() {
    // The checkpointer sleeps until a commit wakes it (no timer while idle): a write must still
    // be copied from the WAL into the database file by it, soon and without another write.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    std::thread::sleep(std::time::Duration::from_millis(600));
    store
        .insert(TASKS, task("t1", "Inspect pump"))
        .expect("insert");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // The database file alone, without its WAL: what a checkpoint has copied into it.
        let copy = dir.path().join("copy.db");
        std::fs::copy(dir.path().join("client.db"), &copy).expect("copy");
        let conn = rusqlite::Connection::open(&copy).expect("open the copy");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM \"e_tasks\"", [], |r| r.get(0))
            .unwrap_or(0);
        drop(conn);
        let _ = std::fs::remove_file(&copy);
        if rows == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the write never reached the database file"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_key_the_server_would_refuse_is_refused_before_it_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let before = snapshot(&store);
    let long = "k".repeat(257);
    for bad in ["", "k\u{0}ey", "line\nbreak", "del\u{7f}", long.as_str()] {
        let err = store.insert(TASKS, task(bad, "Bad key")).expect_err(bad);
        assert!(
            matches!(err, Error::InvalidKey(ref k) if k == bad),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(snapshot(&store), before, "nothing written, nothing queued");
    // Any other text is a key, up to 256 bytes.
    store
        .insert(TASKS, task("Straße 7 · キー", "Good key"))
        .expect("insert");
    store
        .insert(TASKS, task(&"k".repeat(256), "Longest key"))
        .expect("insert");
}
