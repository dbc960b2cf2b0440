//! Live-query latency: from a local write (`insert` called; its commit is inside) to the watcher's
//! call with the page that holds it, on a real SQLite file. Each write follows a quiet spell longer than the
//! watch throttle, as a user's edits do, so this is the latency an edit sees, not a burst's.
//!
//! `cargo bench -p syncline-core --bench watch` (samples: `SYNCLINE_BENCH_RUNS`, default 200;
//! rows already in the table: `SYNCLINE_BENCH_ROWS`, default 10,000). Prints p50, p99 and max in
//! ms, and the same for the insert alone and the query alone (what a re-query costs).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use syncline_core::{AutoSync, Config, Query, Record, Syncline, Value};
use syncline_protocol::sample::{self, TASKS};

fn task(key: &str, title: &str) -> Record {
    Record::new(key)
        .with("project_id", Value::Text("p-1".into()))
        .with("title", Value::Text(title.into()))
        .with("done", Value::Boolean(false))
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("watch: a benchmark; run it with `cargo bench -p syncline-core --bench watch`");
        return;
    }
    let samples: usize = std::env::var("SYNCLINE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let rows: usize = std::env::var("SYNCLINE_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new("http://127.0.0.1:9", "t");
    config.auto = AutoSync::manual();
    let client = Syncline::open(
        &dir.path().join("watch.db"),
        sample::schema().expect("schema"),
        config,
    )
    .expect("open");
    for i in 0..rows {
        client
            .insert(TASKS, task(&format!("t-{i:06}"), &format!("Task {i}")))
            .expect("insert");
    }
    // The newest 50 tasks, as a list screen shows them (keys are made in time order, as the docs
    // recommend, so the key's index serves the order).
    let query = Query::all(50).order("id", syncline_core::SortOrder::Descending);
    let (tx, rx) = mpsc::channel::<(Instant, Vec<String>)>();
    let _watch = client
        .watch(TASKS, &query.clone(), move |page| {
            let at = Instant::now();
            let keys = page
                .map(|p| p.records.into_iter().map(|r| r.key).collect())
                .unwrap_or_default();
            let _ = tx.send((at, keys));
        })
        .expect("watch");
    rx.recv_timeout(Duration::from_secs(30))
        .expect("first page");
    let mut latency = Vec::with_capacity(samples);
    let mut query_alone = Vec::with_capacity(samples);
    let mut insert_alone = Vec::with_capacity(samples);
    for i in 0..samples {
        // Longer than the throttle: this write is the first after a quiet spell.
        std::thread::sleep(Duration::from_millis(250));
        while rx.try_recv().is_ok() {}
        // "w-" keys sort after the "t-" ones: the new task heads the page.
        let key = format!("w-{i:06}");
        // The commit happens inside `insert`, and the watch may be called before `insert` has
        // returned (the counter is bumped at the commit, and the insert still has work after
        // it), so the clock starts at the call: the figure bounds commit → call from above by
        // the insert's own time, measured next to it.
        let called = Instant::now();
        client
            .insert(TASKS, task(&key, &format!("Written {i}")))
            .expect("insert");
        insert_alone.push(called.elapsed().as_secs_f64() * 1000.0);
        loop {
            let (at, keys) = rx.recv_timeout(Duration::from_secs(30)).expect("delivery");
            if keys.first() == Some(&key) {
                latency.push(at.duration_since(called).as_secs_f64() * 1000.0);
                break;
            }
        }
        let start = Instant::now();
        std::hint::black_box(client.query(TASKS, &query).expect("query"));
        query_alone.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p99, max) = percentiles(latency);
    let (q50, q99, qmax) = percentiles(query_alone);
    let (i50, i99, imax) = percentiles(insert_alone);
    println!("| measured | samples | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    println!("| insert called → watcher's call | {samples} | {p50:.2} | {p99:.2} | {max:.2} |");
    println!(
        "| the insert alone (called → returned) | {samples} | {i50:.2} | {i99:.2} | {imax:.2} |"
    );
    println!("| the query alone (baseline) | {samples} | {q50:.2} | {q99:.2} | {qmax:.2} |");
}
