//! Local write latency: `insert` and `update` of a task (the row and its outbox entry, one
//! transaction, through the public API) against a bare rusqlite single-row transaction of the same
//! row into a table of the same shape with the store's pragmas, sampled alternately in the same
//! loop. First with the client idle, then while a 100,000-row initial sync applies its pages in
//! the same client (the writes wait for the writer between pages).
//!
//! `cargo bench -p syncline-core --bench write_latency` (samples per kind at idle:
//! `SYNCLINE_BENCH_SAMPLES`, default 5,000; rows pulled: `SYNCLINE_BENCH_ROWS`, default 100,000;
//! pulls: `SYNCLINE_BENCH_RUNS`, default 3). Prints p50, p99, p99.9 and max in µs, and the
//! ratio of each p50 to the bare insert's p50.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use syncline_core::{AutoSync, Config, Record, Syncline, Value};
use syncline_protocol::sample::{self, TASKS};

use common::{env_or, quantile};

/// The task written: the fields a user fills in when adding one.
fn task(key: &str, i: usize) -> Record {
    Record::new(key)
        .with("project_id", Value::Text(common::PROJECT.into()))
        .with("title", Value::Text(format!("Check the pump at bay {i}")))
        .with("notes", Value::Text("Bring the 12 mm wrench".into()))
        .with("done", Value::Boolean(false))
        .with("priority", Value::Integer((i % 5) as i64))
        .with("due_at", Value::Timestamp(1_767_225_600_000 + i as i64))
        .with("assignee", Value::Text("alice".into()))
}

/// A bare connection on its own file, with the store's writer pragmas and the store's own
/// `CREATE` statements for the tasks table and its indexes (read from `store_db`).
fn bare(path: &Path, store_db: &Path) -> Connection {
    let conn = Connection::open(path).expect("open bare");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn.pragma_update(None, "cache_size", -4000)
        .expect("cache");
    conn.pragma_update(None, "wal_autocheckpoint", 4000)
        .expect("ckpt");
    let store = Connection::open(store_db).expect("open store");
    let mut stmt = store
        .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'e_tasks' AND sql IS NOT NULL ORDER BY type DESC")
        .expect("schema");
    let ddl: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("schema")
        .map(|r| r.expect("sql"))
        .collect();
    assert!(!ddl.is_empty(), "the store has its tasks table");
    for sql in ddl {
        conn.execute_batch(&sql).expect("create");
    }
    conn
}

/// One bare single-row insert transaction of the same values `task` holds.
fn bare_insert(conn: &Connection, key: &str, i: usize) {
    let tx = conn.unchecked_transaction().expect("tx");
    tx.prepare_cached(
        "INSERT INTO e_tasks (id, project_id, title, notes, done, priority, due_at, assignee)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .expect("prepare")
    .execute(rusqlite::params![
        key,
        common::PROJECT,
        format!("Check the pump at bay {i}"),
        "Bring the 12 mm wrench",
        false,
        (i % 5) as i64,
        1_767_225_600_000 + i as i64,
        "alice"
    ])
    .expect("bare insert");
    tx.commit().expect("commit");
}

/// One bare single-row update transaction of the fields `update` changes.
fn bare_update(conn: &Connection, key: &str, i: usize) {
    let tx = conn.unchecked_transaction().expect("tx");
    tx.prepare_cached("UPDATE e_tasks SET title = ?2, done = ?3 WHERE id = ?1")
        .expect("prepare")
        .execute(rusqlite::params![
            key,
            format!("Pump at bay {i} checked"),
            true
        ])
        .expect("bare update");
    tx.commit().expect("commit");
}

fn update(client: &Syncline, key: &str, i: usize) {
    let changes = HashMap::from([
        (
            "title".to_string(),
            Value::Text(format!("Pump at bay {i} checked")),
        ),
        ("done".to_string(), Value::Boolean(true)),
    ]);
    client
        .update(TASKS, Record::new(key).with_values(changes))
        .expect("update")
        .expect("changed");
}

#[derive(Default)]
struct Samples {
    insert: Vec<f64>,
    update: Vec<f64>,
    bare_insert: Vec<f64>,
    bare_update: Vec<f64>,
}

/// Times `f` in µs.
fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e6
}

/// One round: insert, bare insert, update, bare update of row `i` (alternating, so both see the
/// same moment of the machine).
fn round(client: &Syncline, conn: &Connection, prefix: &str, i: usize, s: &mut Samples) {
    let key = format!("{prefix}-{i:07}");
    s.insert.push(time(|| {
        client.insert(TASKS, task(&key, i)).expect("insert");
    }));
    s.bare_insert.push(time(|| bare_insert(conn, &key, i)));
    s.update.push(time(|| update(client, &key, i)));
    s.bare_update.push(time(|| bare_update(conn, &key, i)));
}

fn open(url: &str, db: &Path) -> Syncline {
    let mut config = Config::new(url, common::TOKEN);
    // Only the measured sync runs; a write does not start one.
    config.auto = AutoSync::manual();
    Syncline::open(db, sample::schema().expect("schema"), config).expect("open")
}

fn print(when: &str, s: Samples) {
    let mut rows = [
        ("insert + outbox", s.insert),
        ("bare insert", s.bare_insert),
        ("update + outbox", s.update),
        ("bare update", s.bare_update),
    ];
    for (_, v) in rows.iter_mut() {
        v.sort_by(f64::total_cmp);
    }
    let base = quantile(&rows[1].1, 0.5);
    for (what, v) in &rows {
        println!(
            "| {what} | {when} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
            v.len(),
            quantile(v, 0.5),
            quantile(v, 0.99),
            quantile(v, 0.999),
            quantile(v, 1.0),
            quantile(v, 0.5) / base
        );
    }
}

fn main() {
    if common::serve_if_server() || !common::started_by_cargo_bench("write_latency") {
        return;
    }
    let samples = env_or("SYNCLINE_BENCH_SAMPLES", 5_000);
    let rows = env_or("SYNCLINE_BENCH_ROWS", 100_000);
    let runs = env_or("SYNCLINE_BENCH_RUNS", 3);
    let dir = tempfile::tempdir().expect("tempdir");

    println!(
        "| write | when | samples | p50 µs | p99 µs | p99.9 µs | max µs | p50 / bare insert p50 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");

    // Idle: no server needed (the client never syncs).
    let db = dir.path().join("idle.db");
    let client = open("http://127.0.0.1:9", &db);
    let conn = bare(&dir.path().join("bare-idle.db"), &db);
    let mut idle = Samples::default();
    // Warm-up: caches, prepared statements, the allocator.
    for i in 0..500 {
        round(&client, &conn, "warm", i, &mut Samples::default());
    }
    for i in 0..samples {
        round(&client, &conn, "idle", i, &mut idle);
    }
    drop(client);
    print("idle", idle);

    // During an initial sync of `rows` tasks, in the same client.
    let (server, url) = common::start_server(dir.path(), rows);
    let mut busy = Samples::default();
    let mut pulls = Vec::new();
    for run in 0..runs {
        let db = dir.path().join(format!("pull-{run}.db"));
        let client = open(&url, &db);
        client.sync_now_blocking("projects").expect("warm-up sync");
        let conn = bare(&dir.path().join(format!("bare-pull-{run}.db")), &db);
        for i in 0..200 {
            round(&client, &conn, "warm", i, &mut Samples::default());
        }
        let start = Instant::now();
        let syncing = {
            let client = client.clone();
            std::thread::spawn(move || client.sync_now_blocking(TASKS).expect("sync"))
        };
        let mut i = 0;
        while !syncing.is_finished() {
            round(&client, &conn, &format!("busy{run}"), i, &mut busy);
            i += 1;
            // A user's writes come now and then, not in a tight loop that starves the sync.
            std::thread::sleep(Duration::from_millis(1));
        }
        let report = syncing.join().expect("sync thread");
        pulls.push((report.entities[0].pulled, start.elapsed().as_secs_f64(), i));
    }
    common::stop_server(server);
    print("during a pull", busy);
    println!();
    for (pulled, secs, writes) in pulls {
        println!(
            "pull: {pulled} rows in {secs:.2} s ({:.0} rows/s) with {writes} rounds of writes",
            pulled as f64 / secs
        );
    }
}
