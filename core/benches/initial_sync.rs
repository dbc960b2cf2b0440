//! Initial sync benchmark: N tasks (~150 B each) from the reference server (a separate process,
//! so its memory is not counted) into a fresh local store over loopback HTTP, against a raw
//! rusqlite batched insert of the same rows into the same table, in the same run.
//!
//! `cargo bench -p syncline-core --bench initial_sync` (rows: `SYNCLINE_BENCH_ROWS`, default
//! `100000,1000000`; runs per size: `SYNCLINE_BENCH_RUNS`, default 3; rows per pull page:
//! `SYNCLINE_BENCH_PAGE`, default the sample schema's 1,000). Prints rows/s, the ratio
//! to the raw insert, and peak memory above idle (Linux: VmHWM after resetting it at idle), for
//! time-ordered keys (UUIDv7, what the docs recommend) and random keys (UUIDv4, the worst case:
//! every insert lands at a random place of the key index).
//!
//! Then, in separate runs (so the throughput figures are not disturbed), the latency of the calls
//! a shell makes from the OS's callback thread and the UI (`report_connectivity`, `status`,
//! `network_status`) while the sync applies pages, next to the same calls at idle: p50, p99,
//! p99.9 and max. `SYNCLINE_BENCH_CALLS=0` skips them.
//!
//! Last, the same initial sync with 0 and with 100 live queries on `tasks` open in the client
//! (each its own query: pages of 50 to 99 tasks in key order, newest or oldest first, as list
//! screens would hold), alternating, to show what watchers cost a sync and how many calls they
//! get during it. `SYNCLINE_BENCH_WATCHERS=0` skips it.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::types::Value as SqlValue;
use syncline_core::{AutoSync, Config, Syncline};
use syncline_protocol::sample::{self, TASKS};

use common::TOKEN;
use syncline_server::testing::KeyKind;

fn main() {
    match std::env::var("SYNCLINE_BENCH_ROLE").as_deref() {
        Ok("server") => return serve(),
        Ok("client") => return measure_sync(),
        Ok("calls") => return measure_calls(),
        _ => {}
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("initial_sync: a benchmark; run it with `cargo bench -p syncline-core --bench initial_sync`");
        return;
    }
    let sizes: Vec<usize> = std::env::var("SYNCLINE_BENCH_ROWS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("SYNCLINE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!("| keys | rows | sync rows/s (median of {runs}) | raw insert rows/s (median) | ratio | peak RSS above idle (max) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for keys in ["v7", "v4"] {
        for &rows in &sizes {
            bench(keys, rows, runs);
        }
    }
    if std::env::var("SYNCLINE_BENCH_CALLS").as_deref() != Ok("0") {
        let rows = sizes.first().copied().unwrap_or(100_000);
        println!();
        println!("Calls while a {rows}-row initial sync applies pages (UUIDv7 keys; {runs} runs, all calls pooled), µs:");
        println!();
        println!("| call | when | calls | p50 | p99 | p99.9 | max |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        calls_bench(rows, runs);
    }
    if std::env::var("SYNCLINE_BENCH_WATCHERS").as_deref() != Ok("0") {
        let rows = sizes.first().copied().unwrap_or(100_000);
        println!();
        println!("The same {rows}-row initial sync (UUIDv7 keys) with 0 and with 100 live queries on `tasks` ({runs} runs each, alternating), rows/s:");
        println!();
        println!("| watchers | sync rows/s (median) | runs | against 0 watchers | listener calls during the sync (median) |");
        println!("|---:|---:|---|---:|---:|");
        watchers_bench(rows, runs);
    }
}

/// One client process's sync rate and its watchers' calls during the sync (`RESULT <rows/s>
/// <peak> <calls>`) with `watchers` live queries.
fn sync_rate(url: &str, db: &std::path::Path, rows: usize, watchers: usize) -> (f64, usize) {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .env("SYNCLINE_BENCH_ROLE", "client")
        .env("SYNCLINE_BENCH_URL", url)
        .env("SYNCLINE_BENCH_DB", db)
        .env("SYNCLINE_BENCH_ROWS", rows.to_string())
        .env("SYNCLINE_BENCH_WATCHERS", watchers.to_string())
        .output()
        .expect("run the client process");
    let text = String::from_utf8_lossy(&out.stdout);
    let result: Vec<&str> = text
        .split_whitespace()
        .skip_while(|w| *w != "RESULT")
        .collect();
    let rate = result.get(1).and_then(|f| f.parse().ok());
    let calls = result.get(3).and_then(|f| f.parse().ok());
    (rate.expect("client rate"), calls.expect("client calls"))
}

/// The watchers' table: the sync with 0 and 100 watchers, alternating so both see the same
/// machine.
fn watchers_bench(rows: usize, runs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, url) = start_server(dir.path(), "v7", rows);
    let (mut none, mut hundred) = (Vec::new(), Vec::new());
    let mut calls = Vec::new();
    for run in 0..runs {
        for watchers in [0, 100] {
            let db = dir.path().join(format!("w{watchers}-{run}.db"));
            let (rate, delivered) = sync_rate(&url, &db, rows, watchers);
            if watchers == 0 {
                none.push(rate);
            } else {
                hundred.push(rate);
                calls.push(delivered as f64);
            }
            let _ = std::fs::remove_file(&db);
        }
    }
    common::stop_server(server);
    let list = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (none_runs, hundred_runs) = (list(&none), list(&hundred));
    let (a, b) = (common::median(&mut none), common::median(&mut hundred));
    println!("| 0 | {a:.0} | {none_runs} | 100 % | |");
    println!(
        "| 100 | {b:.0} | {hundred_runs} | {:.0} % | {:.0} |",
        100.0 * b / a,
        common::median(&mut calls)
    );
}

/// Starts the server process with `rows` tasks; returns it and its URL.
fn start_server(dir: &std::path::Path, keys: &str, rows: usize) -> (std::process::Child, String) {
    let mut command = Command::new(std::env::current_exe().expect("exe"));
    command
        .env("SYNCLINE_BENCH_ROWS", rows.to_string())
        .env("SYNCLINE_BENCH_KEYS", keys)
        .env("SYNCLINE_BENCH_DB", dir.join("server.db"));
    common::spawn_server(command)
}

/// The calls' latency table: client processes (role `calls`) sync while probing; their samples
/// (`CALL <name> <when> <ns>` lines) are pooled per call and phase.
fn calls_bench(rows: usize, runs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, url) = start_server(dir.path(), "v7", rows);
    let mut samples: std::collections::BTreeMap<(String, String), Vec<u64>> = Default::default();
    for run in 0..runs {
        let db = dir.path().join(format!("calls-{run}.db"));
        let out = Command::new(std::env::current_exe().expect("exe"))
            .env("SYNCLINE_BENCH_ROLE", "calls")
            .env("SYNCLINE_BENCH_URL", &url)
            .env("SYNCLINE_BENCH_DB", &db)
            .env("SYNCLINE_BENCH_ROWS", rows.to_string())
            .output()
            .expect("run the client process");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut f = line.split_whitespace();
            if f.next() != Some("CALL") {
                continue;
            }
            let (Some(name), Some(when), Some(ns)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if let Ok(ns) = ns.parse() {
                samples
                    .entry((name.to_string(), when.to_string()))
                    .or_default()
                    .push(ns);
            }
        }
    }
    common::stop_server(server);
    for ((name, when), mut ns) in samples {
        ns.sort_unstable();
        let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        println!(
            "| `{name}` | {when} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            ns.len(),
            at(0.5),
            at(0.99),
            at(0.999),
            at(1.0)
        );
    }
}

/// The `calls` client process: times each call at idle for a second, then again and again while
/// the initial sync runs on the core's runtime; prints one `CALL` line per sample.
fn measure_calls() {
    use syncline_core::{Connectivity, NetworkType};
    let url = std::env::var("SYNCLINE_BENCH_URL").expect("SYNCLINE_BENCH_URL");
    let db = std::env::var("SYNCLINE_BENCH_DB").expect("SYNCLINE_BENCH_DB");
    let mut config = Config::new(&url, TOKEN);
    config.auto = AutoSync::manual();
    let client =
        Syncline::open(db.as_ref(), sample::schema().expect("schema"), config).expect("open");
    client.sync_now_blocking("projects").expect("warm-up sync");
    let wifi = Connectivity::online(NetworkType::Wifi);
    let mut out = String::new();
    let sample = |when: &str, out: &mut String| {
        let t = Instant::now();
        client.report_connectivity(wifi);
        let connectivity = t.elapsed().as_nanos();
        let t = Instant::now();
        std::hint::black_box(client.status());
        let status = t.elapsed().as_nanos();
        let t = Instant::now();
        std::hint::black_box(client.network_status());
        let network = t.elapsed().as_nanos();
        out.push_str(&format!(
            "CALL report_connectivity {when} {connectivity}\nCALL status {when} {status}\nCALL network_status {when} {network}\n"
        ));
        // A shell calls now and then, not in a tight loop.
        std::thread::sleep(std::time::Duration::from_micros(200));
    };
    let idle_until = Instant::now() + std::time::Duration::from_secs(1);
    while Instant::now() < idle_until {
        sample("idle", &mut out);
    }
    let syncing = {
        let client = client.clone();
        std::thread::spawn(move || client.sync_now_blocking(TASKS).expect("sync"))
    };
    while !syncing.is_finished() {
        sample("during-sync", &mut out);
    }
    let report = syncing.join().expect("sync thread");
    assert!(report.entities[0].pulled > 0, "the sync pulled rows");
    print!("{out}");
}

fn bench(keys: &str, rows: usize, runs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, url) = start_server(dir.path(), keys, rows);

    let (mut sync_rates, mut raw_rates, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let db = dir.path().join(format!("client-{run}.db"));
        // Each sync runs in a fresh process, so earlier runs' freed memory cannot hide its peak.
        let out = Command::new(std::env::current_exe().expect("exe"))
            .env("SYNCLINE_BENCH_ROLE", "client")
            .env("SYNCLINE_BENCH_URL", &url)
            .env("SYNCLINE_BENCH_DB", &db)
            .env("SYNCLINE_BENCH_ROWS", rows.to_string())
            .output()
            .expect("run the client process");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text
            .split_whitespace()
            .skip_while(|w| *w != "RESULT")
            .skip(1);
        let rate: f64 = fields
            .next()
            .and_then(|f| f.parse().ok())
            .expect("client result");
        let peak: u64 = fields
            .next()
            .and_then(|f| f.parse().ok())
            .expect("client peak");
        sync_rates.push(rate);
        peaks.push(peak);
        let data = read_back(&db, rows);
        raw_rates.push(raw_insert(&dir.path().join(format!("raw-{run}.db")), &data));
        let _ = std::fs::remove_file(&db);
    }
    common::stop_server(server);
    let (sync, raw) = (
        common::median(&mut sync_rates),
        common::median(&mut raw_rates),
    );
    println!(
        "| UUID{keys} | {rows} | {:.0} | {:.0} | {:.0} % | {:.1} MiB |",
        sync,
        raw,
        100.0 * sync / raw,
        *peaks.iter().max().unwrap_or(&0) as f64 / 1024.0
    );
}

/// The client process: one initial sync of the tasks; prints `RESULT <rows/s> <peak KiB above idle>`.
fn measure_sync() {
    let url = std::env::var("SYNCLINE_BENCH_URL").expect("SYNCLINE_BENCH_URL");
    let db = std::env::var("SYNCLINE_BENCH_DB").expect("SYNCLINE_BENCH_DB");
    let rows: usize = std::env::var("SYNCLINE_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("rows");
    // Only the measured syncs run: no sync on start or after changes.
    let mut config = Config::new(&url, TOKEN);
    config.auto = AutoSync::manual();
    let client =
        Syncline::open(db.as_ref(), sample::schema().expect("schema"), config).expect("open");
    // Idle: client open, runtime and HTTP client warmed up by a small sync.
    client.sync_now_blocking("projects").expect("warm-up sync");
    // Live queries held open during the sync, as list screens would (a page of 50 tasks each).
    let watchers: usize = std::env::var("SYNCLINE_BENCH_WATCHERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let delivered = Arc::new(AtomicUsize::new(0));
    let _watches: Vec<_> = (0..watchers)
        .map(|i| {
            // Pages the key's index serves, newest or oldest first; each watch its own query (page
            // sizes 50 to 99), so no two could share a re-query.
            let order = if i % 2 == 0 {
                syncline_core::SortOrder::Descending
            } else {
                syncline_core::SortOrder::Ascending
            };
            let delivered = delivered.clone();
            client
                .watch(
                    TASKS,
                    &syncline_core::Query::all(50 + (i / 2) as u32).order("id", order),
                    move |page| {
                        std::hint::black_box(page.map(|p| p.records.len()).ok());
                        delivered.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .expect("watch")
        })
        .collect();
    // The screens were open before the sync: their first pages are not the sync's cost.
    while delivered.load(Ordering::SeqCst) < watchers {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    delivered.store(0, Ordering::SeqCst);
    let idle = rss_kib("VmRSS");
    reset_peak();
    let start = Instant::now();
    let report = client.sync_now_blocking(TASKS).expect("sync");
    let secs = start.elapsed().as_secs_f64();
    let peak = rss_kib("VmHWM");
    assert_eq!(
        report.entities[0].pulled as usize, rows,
        "every row arrived"
    );
    println!(
        "RESULT {} {} {}",
        rows as f64 / secs,
        peak.saturating_sub(idle),
        delivered.load(Ordering::SeqCst)
    );
}

/// The synced rows, in the order they arrived (rowid order), as SQLite values: what the baseline
/// inserts.
fn read_back(db: &std::path::Path, rows: usize) -> Vec<Vec<SqlValue>> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare("SELECT * FROM e_tasks ORDER BY rowid")
        .expect("select");
    let mut out = Vec::with_capacity(rows);
    let mut cursor = stmt.query([]).expect("query");
    while let Some(row) = cursor.next().expect("row") {
        let values = (0..row.as_ref().column_count())
            .map(|i| row.get::<_, SqlValue>(i).expect("column"))
            .collect();
        out.push(values);
    }
    out
}

/// Inserts the rows into the same table shape with plain rusqlite: prepared statement, 1,000
/// rows per transaction (the sync's page size), the store's pragmas. Returns rows/s.
fn raw_insert(path: &std::path::Path, data: &[Vec<SqlValue>]) -> f64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn.execute_batch(
        "CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, _version INTEGER, project_id TEXT, title TEXT,
           notes TEXT, done INTEGER, priority INTEGER, due_at INTEGER, assignee TEXT,
           estimate_hours REAL, tags TEXT, updated_at INTEGER);
         CREATE INDEX t_project ON t (project_id);",
    )
    .expect("table");
    let start = Instant::now();
    for chunk in data.chunks(1000) {
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO t VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)")
                .expect("prepare");
            for row in chunk {
                stmt.execute(rusqlite::params_from_iter(row.iter()))
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    data.len() as f64 / start.elapsed().as_secs_f64()
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The server process: seeds N tasks for the bench user, prints its port, serves until its
/// stdin closes.
fn serve() {
    let rows: usize = std::env::var("SYNCLINE_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let db = std::env::var("SYNCLINE_BENCH_DB").expect("SYNCLINE_BENCH_DB");
    let keys = match std::env::var("SYNCLINE_BENCH_KEYS").as_deref() {
        Ok("v4") => KeyKind::Random,
        _ => KeyKind::TimeOrdered,
    };
    common::serve_until_stdin_closes(common::bench_store(&db, rows, keys));
}
