//! Cold start: a fresh process opens a store holding 100,000 tasks and 1,000 pending mutations,
//! then waits for its first status callback (`listen`), timed separately: `Syncline::open`
//! returning, then the first call, then the first call that counts the 1,000 pending. Baseline,
//! in the same run and alternating with it: a fresh process opens the same file with bare
//! rusqlite and runs `SELECT count(*)` on the tasks table.
//!
//! `cargo bench -p syncline-core --bench cold_start` (rows: `SYNCLINE_BENCH_ROWS`, default
//! 100,000; pending: `SYNCLINE_BENCH_PENDING`, default 1,000; samples of each:
//! `SYNCLINE_BENCH_RUNS`, default 15). The file is in the OS's page cache (as after a recent
//! use of the app); nobody drops the machine's caches for a benchmark on a shared machine.
//! The client is opened with `AutoSync::manual()`, so no sync's network work runs alongside.

#[path = "common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use syncline_core::{AutoSync, Config, Record, Syncline, Value};
use syncline_protocol::sample::{self, TASKS};

use common::{env_or, median};

fn config(url: &str) -> Config {
    let mut config = Config::new(url, common::TOKEN);
    config.auto = AutoSync::manual();
    config
}

/// Role `open`: prints `OPEN <open µs> <first status µs> <first status with the pending µs>`,
/// each from the start.
fn open_once(db: &str, pending: u64) {
    let start = Instant::now();
    let client = Syncline::open(
        db.as_ref(),
        sample::schema().expect("schema"),
        config("http://127.0.0.1:9"),
    )
    .expect("open");
    let opened = start.elapsed();
    let (tx, rx) = mpsc::channel();
    let _listening = client.listen(move |status| {
        let _ = tx.send((Instant::now(), status.pending));
    });
    let (first, mut counted) = rx.recv_timeout(Duration::from_secs(10)).expect("status");
    let first_at = first - start;
    let mut counted_at = first_at;
    while counted != pending {
        let (at, n) = rx.recv_timeout(Duration::from_secs(10)).expect("status");
        counted = n;
        counted_at = at - start;
    }
    println!(
        "OPEN {} {} {}",
        opened.as_secs_f64() * 1e6,
        first_at.as_secs_f64() * 1e6,
        counted_at.as_secs_f64() * 1e6
    );
}

/// Role `bare`: prints `BARE <open and count µs> <rows>`.
fn bare_once(db: &str) {
    let start = Instant::now();
    let conn = rusqlite::Connection::open(db).expect("open");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM e_tasks", [], |r| r.get(0))
        .expect("count");
    println!("BARE {} {n}", start.elapsed().as_secs_f64() * 1e6);
}

fn child(role: &str, db: &std::path::Path, pending: usize) -> Vec<f64> {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .env("SYNCLINE_BENCH_ROLE", role)
        .env("SYNCLINE_BENCH_DB", db)
        .env("SYNCLINE_BENCH_PENDING", pending.to_string())
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect()
}

fn main() {
    let pending = env_or("SYNCLINE_BENCH_PENDING", 1_000);
    match std::env::var("SYNCLINE_BENCH_ROLE").as_deref() {
        Ok("open") => {
            return open_once(
                &std::env::var("SYNCLINE_BENCH_DB").expect("db"),
                pending as u64,
            )
        }
        Ok("bare") => return bare_once(&std::env::var("SYNCLINE_BENCH_DB").expect("db")),
        _ => {}
    }
    if common::serve_if_server() || !common::started_by_cargo_bench("cold_start") {
        return;
    }
    let rows = env_or("SYNCLINE_BENCH_ROWS", 100_000);
    let runs = env_or("SYNCLINE_BENCH_RUNS", 15);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cold.db");
    {
        // The store: an initial sync of `rows` tasks, then `pending` local inserts.
        let (server, url) = common::start_server(dir.path(), rows);
        let client =
            Syncline::open(&db, sample::schema().expect("schema"), config(&url)).expect("open");
        let report = client.sync_now_blocking("all").expect("sync");
        assert!(report.entities.iter().any(|e| e.pulled as usize == rows));
        common::stop_server(server);
        for i in 0..pending {
            let record = Record::new(format!("local-{i:05}"))
                .with("project_id", Value::Text(common::PROJECT.into()))
                .with("title", Value::Text(format!("Written offline {i}")));
            client.insert(TASKS, record).expect("insert");
        }
        assert_eq!(client.status().pending, pending as u64);
    }
    let (mut open, mut first, mut counted, mut bare) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let o = child("open", &db, pending);
        let b = child("bare", &db, pending);
        assert_eq!(o.len(), 3, "the open child answered");
        assert_eq!(
            b.get(1).copied(),
            Some((rows + pending) as f64),
            "bare count"
        );
        open.push(o[0] / 1000.0);
        first.push(o[1] / 1000.0);
        counted.push(o[2] / 1000.0);
        bare.push(b[0] / 1000.0);
    }
    let base = median(&mut bare);
    println!("A store of {rows} tasks and {pending} pending mutations, {runs} fresh processes each, ms (median, max):");
    println!();
    println!("| step | median ms | max ms | against bare open + count |");
    println!("|---|---:|---:|---:|");
    for (what, v) in [
        ("bare rusqlite open + `SELECT count(*)`", &mut bare),
        ("`Syncline::open` returned", &mut open),
        ("first status callback", &mut first),
        ("first status counting the pending mutations", &mut counted),
    ] {
        let m = median(v);
        println!(
            "| {what} | {m:.2} | {:.2} | {:.1}× |",
            v.last().copied().unwrap_or(f64::NAN),
            m / base
        );
    }
}
