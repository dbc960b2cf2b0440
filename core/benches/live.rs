//! Live changes (issue 21): an edit on device A → device B's live query callback, through the
//! real reference server over loopback HTTP, and what an idle device with its stream open costs
//! in wake-ups.
//!
//! ```text
//! cargo bench -p syncline-core --bench live                   # SQLite, one instance
//! SYNCLINE_TEST_BACKEND=postgres SYNCLINE_TEST_POSTGRES=postgres://… \
//!   cargo bench -p syncline-core --bench live                 # PostgreSQL, A and B on two instances
//! scripts/bench-live                                          # both, with a throw-away cluster
//! ```
//!
//! **Latency.** Bob (device A) and alice (device B) share `p-harbor`. Bob syncs only when told
//! and holds no stream; alice syncs only when hinted (`AutoSync::manual()` with `on_hint`), so
//! nothing but the live path can bring her the change. Each sample: bob inserts a task and
//! pushes at once (what `AutoSync::after_change` does 2 s later by default; the debounce is the
//! app's choice, not the path's), and the clock runs from bob's `insert` to the call of alice's
//! watch with a page holding it: A's commit, A's push, the server's commit and hint, B's pull,
//! B's commit and B's re-query. Samples are spaced past the server's 100 ms hint coalescing, as
//! a colleague's edits are. Prints p50, p99 and max, and the push alone for comparison.
//! `SYNCLINE_BENCH_RUNS` (default 200).
//!
//! **Wake-ups.** Alice then idles with her stream open, heartbeat `SYNCLINE_BENCH_HEARTBEAT`
//! seconds (default 5, the shortest the server allows, to count many heartbeats in a short
//! window), for `SYNCLINE_BENCH_IDLE_SECS` (default 60); then as long again with the app in the
//! background (`paused()`: no stream). A wake-up is a thread of the core leaving a wait: the
//! context switches of the process's `syncline*` threads, from `/proc` (Linux). Printed: per
//! heartbeat, and per hour at the default 25 s heartbeat. `SYNCLINE_BENCH_IDLE_SECS=0` skips it.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use syncline_core::{AutoSync, Config, Query, Record, Syncline, Value};
use syncline_protocol::sample::{self, TASKS};
use syncline_server::testing::{test_backend, ScratchDb, TestServer};

/// Far past anything a loaded machine needs; only against a hang.
const HANG: Duration = Duration::from_secs(60);
/// The heartbeat a device asks for by default (`Config::live_heartbeat`).
const DEFAULT_HEARTBEAT_SECS: f64 = 25.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

fn device(dir: &std::path::Path, name: &str, url: &str, token: &str, live: bool) -> Syncline {
    let mut config = Config::new(url, token);
    config.auto = AutoSync {
        on_hint: live,
        ..AutoSync::manual()
    };
    config.live = live;
    config.live_heartbeat = Duration::from_secs(env_or("SYNCLINE_BENCH_HEARTBEAT", 5));
    Syncline::open(
        &dir.join(format!("{name}.db")),
        sample::schema().expect("schema"),
        config,
    )
    .expect("open")
}

fn task(key: &str) -> Record {
    Record::new(key)
        .with("project_id", Value::Text("p-harbor".into()))
        .with("title", Value::Text(format!("Live {key}")))
        .with("done", Value::Boolean(false))
}

/// Context switches so far of each of this process's threads that belong to a Syncline client
/// (named `syncline…`, not the in-process test server's `syncline-test-server`), by thread id.
fn core_switches() -> BTreeMap<String, (String, u64)> {
    let mut threads = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("syncline") || comm.starts_with("syncline-test") {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let switches = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>();
        let tid = task.file_name().to_string_lossy().into_owned();
        threads.insert(tid, (comm.trim().to_string(), switches));
    }
    threads
}

/// The wake-ups of the client's threads over `window`: each thread's context switches at the
/// end less those at the start (a thread started meanwhile counts from zero; the pool's
/// blocking threads come and go). With the threads' names, for the record.
fn wakeups_over(window: Duration) -> (u64, BTreeMap<String, u64>) {
    let before = core_switches();
    std::thread::sleep(window);
    let mut by_name = BTreeMap::new();
    let mut total = 0;
    for (tid, (name, after)) in core_switches() {
        let start = before.get(&tid).map_or(0, |(_, n)| *n);
        let woke = after.saturating_sub(start);
        total += woke;
        *by_name.entry(name).or_insert(0) += woke;
    }
    (total, by_name)
}

fn wait_for(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < HANG, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("live: a benchmark; run it with `cargo bench -p syncline-core --bench live`");
        return;
    }
    let runs: usize = env_or("SYNCLINE_BENCH_RUNS", 200);
    let idle_secs: u64 = env_or("SYNCLINE_BENCH_IDLE_SECS", 60);
    let heartbeat: f64 = env_or("SYNCLINE_BENCH_HEARTBEAT", 5.0);

    // One database; on PostgreSQL, A's and B's devices talk to two instances of it, and only
    // LISTEN/NOTIFY can carry A's commit to B's stream.
    let db = ScratchDb::new();
    let store = db.open_sample().expect("open the server's database");
    syncline_server::seed_demo(&store).expect("seed");
    drop(store);
    let backend = test_backend();
    let instance_a = TestServer::start_at(db.location().clone());
    let instance_b = (backend == "postgres").then(|| TestServer::start_at(db.location().clone()));
    let url_b = instance_b.as_ref().unwrap_or(&instance_a).url();
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = device(dir.path(), "bob", &instance_a.url(), "demo-bob", false);
    let alice = device(dir.path(), "alice", &url_b, "demo-alice", true);
    bob.sync_now_blocking("all").expect("bob's first sync");
    alice.sync_now_blocking("all").expect("alice's first sync");
    wait_for("alice live", || alice.is_live());

    let (tx, pages) = mpsc::channel::<(Instant, Vec<String>)>();
    let query = Query::all(100_000).filter("project_id", Value::Text("p-harbor".into()));
    let _watch = alice
        .watch(TASKS, &query, move |page| {
            if let Ok(page) = page {
                let keys = page.records.into_iter().map(|r| r.key).collect();
                let _ = tx.send((Instant::now(), keys));
            }
        })
        .expect("watch");

    let mut latencies = Vec::with_capacity(runs);
    let mut pushes = Vec::with_capacity(runs);
    for i in 0..runs + 10 {
        // Past the server's hint coalescing (100 ms) and alice's re-query, as separate edits are.
        std::thread::sleep(Duration::from_millis(150 + (i as u64 * 37) % 100));
        while pages.try_recv().is_ok() {}
        let key = format!("t-live-{i:05}");
        let edited = Instant::now();
        bob.insert(TASKS, task(&key)).expect("bob's insert");
        bob.sync_now_blocking("tasks").expect("bob's push");
        let pushed = edited.elapsed();
        let seen = loop {
            let (at, keys) = pages
                .recv_timeout(HANG)
                .unwrap_or_else(|_| panic!("{key} never reached alice's watch"));
            if keys.contains(&key) {
                break at;
            }
        };
        // The first ten warm both sides up.
        if i >= 10 {
            latencies.push(seen.duration_since(edited).as_secs_f64() * 1000.0);
            pushes.push(pushed.as_secs_f64() * 1000.0);
        }
    }
    let (p50, p99, max) = percentiles(latencies);
    let (push50, push99, _) = percentiles(pushes);
    let instances = if instance_b.is_some() {
        "A and B on two instances"
    } else {
        "one instance"
    };
    println!(
        "live latency, {backend}, {instances}: A's edit → B's live query callback over {runs} \
         edits: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (goal p99 ≤ 1,000 ms, aim \
         ≤ 200 ms); A's insert + push alone: p50 {push50:.1} ms, p99 {push99:.1} ms"
    );

    if idle_secs == 0 {
        return;
    }
    // Idle: bob goes; alice stays, live, then in the background.
    drop(bob);
    let window = Duration::from_secs(idle_secs);
    std::thread::sleep(Duration::from_secs(1));
    let (live_wakeups, live_threads) = wakeups_over(window);
    assert!(alice.is_live(), "alice stayed live while idle");
    alice.paused();
    wait_for("the stream closed in the background", || !alice.is_live());
    std::thread::sleep(Duration::from_secs(1));
    let (background_wakeups, background_threads) = wakeups_over(window);
    println!(
        "  by thread, stream open: {live_threads:?}; in the background: {background_threads:?}"
    );
    let heartbeats = idle_secs as f64 / heartbeat;
    let per_heartbeat = (live_wakeups as f64 - background_wakeups as f64).max(0.0) / heartbeats;
    let per_hour_background = background_wakeups as f64 * 3600.0 / idle_secs as f64;
    let heartbeats_per_hour = 3600.0 / DEFAULT_HEARTBEAT_SECS;
    println!(
        "idle wake-ups over {idle_secs} s: {live_wakeups} with the stream open (heartbeat \
         {heartbeat} s, {heartbeats:.0} heartbeats), {background_wakeups} in the background \
         without it; {per_heartbeat:.1} thread wake-ups per heartbeat. At the default 25 s \
         heartbeat: {heartbeats_per_hour:.0} network wake-ups per hour, about {:.0} thread \
         wake-ups per hour with the stream open against {per_hour_background:.0} without",
        heartbeats_per_hour * per_heartbeat + per_hour_background
    );
}
