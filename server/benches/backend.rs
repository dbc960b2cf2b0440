//! The backend side (issue 22): how soon the office hears of a device's push, how fast the
//! change feed reads, and how fast an import writes, each next to a baseline from the same run.
//!
//! ```sh
//! cargo bench -p syncline-server --bench backend          # SQLite
//! ```
//!
//! - **push → long poll, push → webhook**: a device's push of one task update (HTTP, loopback)
//!   to the answer of a `GET /v1/admin/changes?wait=30` waiting for it, and to the webhook
//!   receiver's call (a tiny axum server in this process). `SYNCLINE_BENCH_RUNS` (200) samples
//!   each, spaced 20–60 ms apart; p50 and p99 in ms, and the push's own round trip for
//!   comparison.
//! - **feed throughput**: `SYNCLINE_BENCH_ROWS` (100,000) tasks, read through the feed in pages
//!   of 1,000 (`Store::changes`, in process: what the HTTP route and the webhook do before
//!   encoding), against a raw paged `SELECT position, key, data FROM records` of the same rows
//!   on the same SQLite file (on PostgreSQL: the same SELECT through the store's connection,
//!   `testing::raw_log_scan`); changes/s, median of 5.
//! - **import**: the same number of tasks as NDJSON through `import` (batches of 1,000), against
//!   a raw insert of the same rows into a table shaped like `records` in transactions of 1,000
//!   (on PostgreSQL 64 rows per `INSERT`, `testing::raw_insert_baseline`); rows/s, median of 3.
//!
//! - **write rules**: a push of 100 task inserts (HTTP, loopback) to a server whose tasks have
//!   write rules (an endpoint in this process that reads the call and accepts everything), against
//!   the same push to a server without rules, alternating, `SYNCLINE_BENCH_RUNS` each: p50 and
//!   p99 of both, and the median of the paired differences (what the rules add).
//!
//! `SYNCLINE_BENCH_ONLY=latency|throughput|import|rules` runs one part.
//!
//! The server's SQLite runs with its own pragmas (WAL, `synchronous = FULL`).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use serde_json::json;
use syncline_server::testing::{bulk_insert_tasks, KeyKind, ScratchDb, TestServer};
use syncline_server::{ServerOptions, Service, WebhookConfig};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A webhook receiver: sends the time of each call it gets.
fn receiver() -> (String, mpsc::Receiver<Instant>) {
    let (tx, rx) = mpsc::channel();
    let tx = Arc::new(Mutex::new(tx));
    let app = Router::new().route(
        "/hook",
        post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.lock().map(|t| t.send(Instant::now()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let addr = syncline_server::testing::serve_on_loopback(app);
    (format!("http://{addr}/hook"), rx)
}

fn push(http: &reqwest::blocking::Client, url: &str, seq: u64, version: i64) -> i64 {
    let body = json!({"client_id": "bench-phone", "mutations": [{
        "mutation_id": format!("m{seq}"), "seq": seq, "entity": "tasks", "key": "t-harbor-1",
        "op": "update", "fields": {"title": format!("Edit {seq}")}, "base_version": version}]});
    let answer: serde_json::Value = http
        .post(format!("{url}/v1/push"))
        .bearer_auth("demo-alice")
        .json(&body)
        .send()
        .expect("push")
        .json()
        .expect("answer");
    answer["results"][0]["version"]
        .as_i64()
        .unwrap_or(version + 1)
}

fn latency(runs: usize) {
    let (hook_url, calls) = receiver();
    let options = ServerOptions {
        webhook: Some(WebhookConfig {
            url: hook_url,
            secret: "backend-bench-secret-of-at-least-32-bytes".into(),
            entities: vec![],
        }),
        ..ServerOptions::default()
    };
    let server = TestServer::try_start_with_options(options).expect("server");
    server.seed_demo().expect("seed");
    let store = server.store().clone();
    let erp = store
        .add_service(&Service {
            name: "erp".into(),
            scopes: vec![],
            all_scopes: true,
            read_only: true,
        })
        .expect("service");
    let url = server.url();
    let http = reqwest::blocking::Client::new();
    let mut version = store
        .get_record("tasks", "t-harbor-1")
        .expect("get")
        .expect("t-harbor-1")
        .version;
    let mut to_poll = Vec::new();
    let mut to_hook = Vec::new();
    let mut pushes = Vec::new();
    let feed_end = |http: &reqwest::blocking::Client| -> String {
        let page: serde_json::Value = http
            .get(format!("{url}/v1/admin/changes?limit=1000&after=0"))
            .bearer_auth(&erp)
            .send()
            .expect("feed")
            .json()
            .expect("page");
        page["cursor"].as_str().unwrap_or("0").to_string()
    };
    let mut cursor = feed_end(&http);
    std::thread::sleep(Duration::from_millis(500));
    while calls.try_recv().is_ok() {}
    for i in 0..runs + 10 {
        std::thread::sleep(Duration::from_millis(20 + (i as u64 * 7) % 40));
        while calls.try_recv().is_ok() {}
        // The poll waits first; the push comes once it is surely waiting.
        let (poll_url, token, after) = (url.clone(), erp.clone(), cursor.clone());
        let poll = std::thread::spawn(move || {
            let page: serde_json::Value = reqwest::blocking::Client::new()
                .get(format!("{poll_url}/v1/admin/changes?after={after}&wait=30"))
                .bearer_auth(token)
                .send()
                .expect("poll")
                .json()
                .expect("page");
            (
                Instant::now(),
                page["cursor"].as_str().unwrap_or("0").to_string(),
            )
        });
        std::thread::sleep(Duration::from_millis(10));
        let start = Instant::now();
        version = push(&http, &url, i as u64 + 1, version);
        let pushed = start.elapsed();
        let (polled, next) = poll.join().expect("poll");
        cursor = next;
        let hooked = calls
            .recv_timeout(Duration::from_secs(30))
            .expect("the webhook's call");
        if i >= 10 {
            pushes.push(pushed.as_secs_f64() * 1000.0);
            to_poll.push(polled.duration_since(start).as_secs_f64() * 1000.0);
            to_hook.push(hooked.duration_since(start).as_secs_f64() * 1000.0);
        }
    }
    println!(
        "push → long poll's answer over {runs} pushes: p50 {:.1} ms, p99 {:.1} ms; push → \
         webhook call: p50 {:.1} ms, p99 {:.1} ms (goal p99 ≤ 50 ms); the push's own round \
         trip: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&mut to_poll, 0.5),
        percentile(&mut to_poll, 0.99),
        percentile(&mut to_hook, 0.5),
        percentile(&mut to_hook, 0.99),
        percentile(&mut pushes, 0.5),
        percentile(&mut pushes, 0.99),
    );
}

fn throughput(rows: usize) {
    let db = ScratchDb::new();
    let store = db.open_sample().expect("open");
    syncline_server::seed_demo(&store).expect("seed");
    bulk_insert_tasks(&store, "p-harbor", rows, KeyKind::TimeOrdered).expect("rows");
    let service = Service {
        name: "bench".into(),
        scopes: vec![],
        all_scopes: true,
        read_only: true,
    };
    let path = match db.location() {
        syncline_server::Location::Sqlite(p) => Some(p.clone()),
        syncline_server::Location::Postgres(_) => None,
    };
    let raw = path
        .as_ref()
        .map(|p| rusqlite::Connection::open(p).expect("raw"));
    let (mut feed, mut base) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        let mut after = "0".to_string();
        let mut n = 0usize;
        loop {
            let page = store
                .changes(
                    &service,
                    &syncline_server::FeedQuery {
                        after: Some(after.clone()),
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .expect("page");
            n += page.changes.len();
            after = page.cursor.to_string();
            if !page.has_more {
                break;
            }
        }
        feed.push(n as f64 / start.elapsed().as_secs_f64());
        let start = Instant::now();
        let Some(raw) = &raw else {
            // PostgreSQL: the same paged SELECT through the store's own connection.
            let m = syncline_server::testing::raw_log_scan(&store, 1000).expect("raw scan");
            base.push(m as f64 / start.elapsed().as_secs_f64());
            continue;
        };
        let mut after = 0i64;
        let mut m = 0usize;
        let mut stmt = raw
            .prepare_cached(
                "SELECT position, key, data FROM records WHERE position > ?1 \
                 ORDER BY position LIMIT 1000",
            )
            .expect("prepare");
        loop {
            let page: Vec<(i64, String, String)> = stmt
                .query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            m += page.len();
            match page.last() {
                Some(last) => after = last.0,
                None => break,
            }
        }
        base.push(m as f64 / start.elapsed().as_secs_f64());
    }
    let (f, b) = (median(feed), median(base));
    println!(
        "feed over {rows} rows: {f:.0} changes/s, raw paged SELECT {b:.0} rows/s ({:.0} %) \
         (goal ≥ 50,000/s)",
        100.0 * f / b
    );
}

fn import(rows: usize) {
    let mut text = String::new();
    for i in 0..rows {
        text.push_str(
            &json!({"key": uuid::Uuid::now_v7().to_string(),
                    "fields": {"project_id": "p-harbor", "title": format!("Imported task {i}"),
                               "done": false, "notes": "Twelve words of notes, about what a task holds."}})
            .to_string(),
        );
        text.push('\n');
    }
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let db = ScratchDb::new();
        let store = db.open_sample().expect("open");
        syncline_server::seed_demo(&store).expect("seed");
        let start = Instant::now();
        let n =
            syncline_server::import(&store, "tasks", text.as_bytes(), &mut |_| {}).expect("import");
        ours.push(n as f64 / start.elapsed().as_secs_f64());
        drop(store);
        if matches!(db.location(), syncline_server::Location::Postgres(_)) {
            // PostgreSQL: the same rows, 64 per INSERT, transactions of 1,000, through the
            // store's own connection.
            let pairs: Vec<(String, String)> = text
                .lines()
                .map(|line| {
                    let v: serde_json::Value = serde_json::from_str(line).expect("line");
                    (
                        v["key"].as_str().unwrap_or_default().to_string(),
                        v["fields"].to_string(),
                    )
                })
                .collect();
            let store = db.open_sample().expect("open");
            let start = Instant::now();
            let n = syncline_server::testing::raw_insert_baseline(&store, &pairs, 1000)
                .expect("raw insert");
            base.push(n as f64 / start.elapsed().as_secs_f64());
            continue;
        }
        // The raw baseline: the same rows into a table shaped like `records`, WAL and
        // synchronous = FULL, transactions of 1,000.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut raw = rusqlite::Connection::open(dir.path().join("raw.db")).expect("raw");
        raw.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE records (position INTEGER PRIMARY KEY, entity TEXT NOT NULL,
               key TEXT NOT NULL, scope TEXT NOT NULL, version INTEGER NOT NULL,
               deleted INTEGER NOT NULL, data TEXT NOT NULL, writer TEXT, author TEXT,
               changed_at INTEGER);
             CREATE UNIQUE INDEX records_by_key ON records (entity, key);
             CREATE INDEX records_by_entity_position ON records (entity, position);
             CREATE INDEX records_by_scope ON records (scope);",
        )
        .expect("schema");
        let start = Instant::now();
        let lines: Vec<&str> = text.lines().collect();
        let mut position = 0i64;
        for chunk in lines.chunks(1000) {
            let tx = raw.transaction().expect("tx");
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO records (position, entity, key, scope, version, deleted, \
                         data, author, changed_at) VALUES (?1, 'tasks', ?2, 'p-harbor', 1, 0, \
                         ?3, 'import', ?4)",
                    )
                    .expect("prepare");
                for line in chunk {
                    let v: serde_json::Value = serde_json::from_str(line).expect("line");
                    position += 1;
                    stmt.execute(rusqlite::params![
                        position,
                        v["key"].as_str().unwrap_or_default(),
                        v["fields"].to_string(),
                        0i64
                    ])
                    .expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
        base.push(rows as f64 / start.elapsed().as_secs_f64());
    }
    let (o, b) = (median(ours), median(base));
    println!(
        "import of {rows} rows: {o:.0} rows/s, raw batched insert {b:.0} rows/s ({:.0} %) \
         (goal ≥ 100,000/s on SQLite, ≥ 20,000/s on PostgreSQL with fsync)",
        100.0 * o / b
    );
}

/// A rules endpoint that reads each call as a real one would and accepts every mutation.
fn accepting_rules() -> String {
    let app = Router::new().route(
        "/rules",
        post(|body: axum::body::Bytes| async move {
            let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let n = asked["mutations"].as_array().map_or(0, Vec::len);
            assert!(n > 0, "a call with mutations");
            axum::Json(json!({"rejected": []}))
        }),
    );
    let addr = syncline_server::testing::serve_on_loopback(app);
    format!("http://{addr}/rules")
}

/// One push of 100 new tasks (keys `prefix-run-i`); its round trip in ms.
fn push_hundred(http: &reqwest::blocking::Client, url: &str, prefix: &str, run: usize) -> f64 {
    let mutations: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            let seq = run * 100 + i + 1;
            json!({"mutation_id": format!("{prefix}-{seq}"), "seq": seq, "entity": "tasks",
                   "key": format!("{prefix}-{run}-{i}"), "op": "insert",
                   "fields": {"project_id": "p-harbor", "title": format!("Task {i}"), "done": false}})
        })
        .collect();
    let body = json!({"client_id": format!("bench-{prefix}"), "mutations": mutations});
    let started = Instant::now();
    let resp = http
        .post(format!("{url}/v1/push"))
        .bearer_auth("demo-alice")
        .json(&body)
        .send()
        .expect("push");
    assert!(resp.status().is_success(), "{}", resp.status());
    let _: serde_json::Value = resp.json().expect("answer");
    started.elapsed().as_secs_f64() * 1000.0
}

fn rules(runs: usize) {
    let rules_url = accepting_rules();
    let text = format!(
        "{}\n[entities.tasks.validate]\nurl = \"{rules_url}\"\n",
        syncline_protocol::sample::SCHEMA_TOML
    );
    let schema = syncline_server::ServerSchema::parse(&text).expect("schema");
    let ruled = TestServer::try_with_demo_schema(schema, ServerOptions::default()).expect("server");
    let plain = TestServer::with_demo_options(ServerOptions::default());
    let http = reqwest::blocking::Client::new();
    // Warm both (connections, statement caches).
    for run in 0..5 {
        push_hundred(&http, &ruled.url(), "warm-r", run);
        push_hundred(&http, &plain.url(), "warm-p", run);
    }
    let (mut with, mut without, mut added) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        // Alternating, so drift on a shared machine falls on both alike.
        let (a, b) = if run % 2 == 0 {
            let a = push_hundred(&http, &ruled.url(), "r", run);
            (a, push_hundred(&http, &plain.url(), "p", run))
        } else {
            let b = push_hundred(&http, &plain.url(), "p", run);
            (push_hundred(&http, &ruled.url(), "r", run), b)
        };
        with.push(a);
        without.push(b);
        added.push(a - b);
    }
    println!(
        "write rules: push of 100 inserts, {runs} runs: with rules p50 {:.2} ms p99 {:.2} ms; \
         without p50 {:.2} ms p99 {:.2} ms; added p50 {:.2} ms (median of paired differences {:.2} ms)",
        percentile(&mut with.clone(), 0.5),
        percentile(&mut with, 0.99),
        percentile(&mut without.clone(), 0.5),
        percentile(&mut without.clone(), 0.99),
        percentile(&mut with.clone(), 0.5) - percentile(&mut without, 0.5),
        median(added),
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "backend: a benchmark; run it with `cargo bench -p syncline-server --bench backend`"
        );
        return;
    }
    let runs: usize = env_or("SYNCLINE_BENCH_RUNS", 200);
    let rows: usize = env_or("SYNCLINE_BENCH_ROWS", 100_000);
    let only = std::env::var("SYNCLINE_BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    if part("latency") {
        latency(runs);
    }
    if part("throughput") {
        throughput(rows);
    }
    if part("import") {
        import(rows);
    }
    if part("rules") {
        rules(runs);
    }
}
