//! Server push and pull throughput on SQLite and PostgreSQL (issue 10), each next to a raw
//! baseline on the same database in the same run.
//!
//! ```sh
//! cargo bench -p syncline-server --bench throughput                       # SQLite only
//! SYNCLINE_BENCH_POSTGRES=postgres://user@host:port/postgres \
//!   cargo bench -p syncline-server --bench throughput                     # and PostgreSQL
//! ```
//!
//! Setups: SQLite (one server process on one file), PostgreSQL with one server instance, and
//! PostgreSQL with two instances on the same database (clients split evenly). Servers are the
//! release `syncline-server` binary in child processes; clients are threads of this process with
//! blocking reqwest clients (gzip on, like the Syncline client). PostgreSQL databases are created
//! on the server `SYNCLINE_BENCH_POSTGRES` names and dropped afterwards; its durability is
//! whatever that cluster is configured with (say so when you record figures).
//!
//! - **push**: `SYNCLINE_BENCH_CLIENTS` (16) clients, each with its own client id, sends
//!   `SYNCLINE_BENCH_BATCHES` (20) batches of 100 inserts of new tasks (~150 B of fields,
//!   UUIDv7 keys) one after the other; mutations/s over the wall time, on a fresh database each
//!   run. Baseline: the same rows inserted raw into a table shaped like the server's `records`
//!   (same indexes) in transactions of 100 rows: rusqlite with the server's pragmas (WAL,
//!   `synchronous = FULL`), one connection; tokio-postgres, one multi-row INSERT per
//!   transaction, as many connections as clients, positions from a sequence.
//! - **pull**: a data set of `SYNCLINE_BENCH_PULL_ROWS` (100,000) tasks; one client pulls all of
//!   it in pages of 1,000, then `SYNCLINE_BENCH_CLIENTS` clients each pull all of it at once
//!   (total rows/s). Baseline: one connection reading the same rows raw (key, version, data) in
//!   pages of 1,000 by position.
//!
//! `SYNCLINE_BENCH_RUNS` (3) runs, medians printed (the setups take turns within a run, so a
//! noisy machine disturbs them alike); `SYNCLINE_BENCH_SETUPS` (`sqlite,pg1,pg2`) picks setups;
//! `SYNCLINE_BENCH_PULL=0` skips the pull table, `SYNCLINE_BENCH_PUSH=0` the push table.

#[path = "../tests/instances/mod.rs"]
mod instances;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value as Json};
use syncline_protocol::{Outcome, PullPage, PushResponse};
use syncline_server::testing::{bulk_insert_tasks, KeyKind};
use syncline_server::Store;

use instances::ServerProcess;

const PROJECT: &str = "p-bench";
const USER: &str = "bench";
/// Rows per push batch, raw insert transaction and pull page.
const BATCH: usize = 100;
const PAGE: usize = 1000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Thousands separated by commas, for the tables.
fn fmt(rate: f64) -> String {
    let n = rate.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ----- databases -----

/// A throw-away database: a SQLite file in a temporary folder or a fresh PostgreSQL database.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

fn postgres_admin(url: &str, sql: &str) {
    syncline_server::testing::postgres_admin(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(
            tempfile::Builder::new()
                .prefix("syncline-bench-")
                .tempdir()
                .expect("tempdir"),
        )
    }

    fn postgres(admin: &str) -> Db {
        let name = format!("syncline_bench_{}", uuid::Uuid::new_v4().simple());
        postgres_admin(admin, &format!("CREATE DATABASE {name}"));
        Db::Postgres {
            admin: admin.to_string(),
            name,
        }
    }

    /// The server's `--db`.
    fn arg(&self) -> String {
        match self {
            Db::Sqlite(dir) => dir.path().join("server.db").display().to_string(),
            Db::Postgres { admin, name } => syncline_server::testing::with_database(admin, name),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Postgres { admin, name } = self {
            postgres_admin(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Creates the bench user, its project and token; returns the token.
fn prepare(db: &Db) -> String {
    let store = Store::open_sample(db.arg()).expect("open");
    store.create_project(PROJECT, "Bench").expect("project");
    store.create_user(USER).expect("user");
    store.add_membership(USER, PROJECT).expect("membership");
    store.issue_token(USER, None).expect("token")
}

// ----- rows -----

/// A task's fields as a device would push them, ~150 B.
fn task_fields(i: usize) -> serde_json::Map<String, Json> {
    let base: i64 = 1_767_225_600_000;
    let n = i as i64;
    let Json::Object(map) = json!({
        "project_id": PROJECT,
        "title": format!("Inspect valve #{i}"),
        "notes": format!("Station {}, bay {}: see last report", i % 97, i % 13),
        "done": i % 3 == 0,
        "priority": n % 5,
        "due_at": base + n * 3_600_000,
        "assignee": "alice",
        "estimate_hours": (n % 8) as f64 * 0.5 + 0.5,
        "tags": ["bench", format!("zone-{}", i % 9)],
        "updated_at": base + n,
    }) else {
        unreachable!()
    };
    map
}

/// The fields in the sample schema's declaration order (the server's storage slots on a fresh
/// database), as the JSON array text the server stores.
fn stored_data(order: &[String], fields: &serde_json::Map<String, Json>) -> String {
    let values: Vec<Json> = order
        .iter()
        .map(|f| fields.get(f).cloned().unwrap_or(Json::Null))
        .collect();
    Json::Array(values).to_string()
}

/// The sample's `tasks` fields in declaration order (the storage slots of a fresh database).
fn task_field_order() -> Vec<String> {
    let schema = syncline_server::ServerSchema::sample().expect("the sample schema");
    let tasks = schema.entity("tasks").expect("tasks");
    tasks.schema.fields.iter().map(|f| f.name.clone()).collect()
}

/// Each client's batches: push bodies (already serialized: the server is measured, not the
/// client's JSON) and the same rows as (key, data) for the raw insert.
struct Workload {
    bodies: Vec<Vec<Vec<u8>>>,
    rows: Vec<Vec<(String, String)>>,
}

fn workload(clients: usize, batches: usize) -> Workload {
    let order = task_field_order();
    let mut bodies = Vec::new();
    let mut rows = Vec::new();
    let mut i = 0;
    for c in 0..clients {
        let client_id = format!("bench-client-{c}-{}", uuid::Uuid::new_v4().simple());
        let mut mine = Vec::new();
        let mut raw = Vec::new();
        for b in 0..batches {
            let mutations: Vec<Json> = (0..BATCH)
                .map(|m| {
                    i += 1;
                    let key = uuid::Uuid::now_v7().to_string();
                    let fields = task_fields(i);
                    raw.push((key.clone(), stored_data(&order, &fields)));
                    // seq 1 is the warm-up push.
                    let seq = 2 + b * BATCH + m;
                    json!({"mutation_id": format!("m{seq}"), "seq": seq, "entity": "tasks",
                           "key": key, "op": "insert", "fields": fields, "base_version": null})
                })
                .collect();
            let body = json!({"client_id": client_id, "mutations": mutations});
            mine.push(serde_json::to_vec(&body).expect("json"));
        }
        // Binds the client id and opens the connection before the clock starts.
        let warm = json!({"client_id": client_id, "mutations": [
            {"mutation_id": "warm", "seq": 1, "entity": "tasks",
             "key": uuid::Uuid::now_v7().to_string(), "op": "insert",
             "fields": task_fields(0), "base_version": null}]});
        mine.insert(0, serde_json::to_vec(&warm).expect("json"));
        bodies.push(mine);
        rows.push(raw);
    }
    Workload { bodies, rows }
}

// ----- push -----

/// Sends every client's batches (client `c` to `urls[c % len]`); returns mutations/s.
fn push_rate(urls: &[String], token: &str, work: &Workload) -> f64 {
    let clients = work.bodies.len();
    let barrier = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = work
        .bodies
        .iter()
        .enumerate()
        .map(|(c, bodies)| {
            let url = format!("{}/v1/push", urls[c % urls.len()]);
            let (token, bodies, barrier) = (token.to_string(), bodies.clone(), barrier.clone());
            std::thread::spawn(move || {
                let http = Client::builder()
                    .timeout(Duration::from_secs(600))
                    .build()
                    .expect("client");
                let send = |body: &[u8]| {
                    let resp = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.to_vec())
                        .send()
                        .expect("push");
                    assert!(resp.status().is_success(), "push: {}", resp.status());
                    let answer: PushResponse = resp.json().expect("answer");
                    assert!(answer
                        .results
                        .iter()
                        .all(|r| matches!(r.outcome, Outcome::Applied { .. })));
                    answer.results.len()
                };
                send(&bodies[0]);
                barrier.wait();
                bodies[1..].iter().map(|b| send(b)).sum::<usize>()
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let total: usize = threads.into_iter().map(|t| t.join().expect("pusher")).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// The server's `records` table for the raw baselines (SQLite).
const SQLITE_TABLE: &str = "
CREATE TABLE records (
    position INTEGER PRIMARY KEY, entity TEXT NOT NULL, key TEXT NOT NULL, scope TEXT NOT NULL,
    version INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, writer TEXT);
CREATE UNIQUE INDEX records_by_key ON records (entity, key);
CREATE INDEX records_by_entity_position ON records (entity, position);";

/// The same for PostgreSQL; positions from a sequence (nothing serializes the writers).
const POSTGRES_TABLE: &str = "
CREATE TABLE records (
    position BIGSERIAL PRIMARY KEY, entity TEXT NOT NULL, key TEXT NOT NULL, scope TEXT NOT NULL,
    version BIGINT NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE, data TEXT NOT NULL,
    writer TEXT);
CREATE UNIQUE INDEX records_by_key ON records (entity, key);
CREATE INDEX records_by_entity_position ON records (entity, position);
CREATE INDEX records_by_scope ON records (scope);";

fn sqlite_connection(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open");
    // The server's pragmas: what makes a commit durable is the same.
    conn.busy_timeout(Duration::from_secs(10)).expect("pragma");
    let _mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("pragma");
    conn
}

/// Raw baseline on SQLite: one connection, a transaction per 100 rows; rows/s.
fn raw_push_sqlite(rows: &[Vec<(String, String)>]) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conn = sqlite_connection(&dir.path().join("raw.db"));
    conn.execute_batch(SQLITE_TABLE).expect("table");
    let all: Vec<&(String, String)> = rows.iter().flatten().collect();
    let started = Instant::now();
    for chunk in all.chunks(BATCH) {
        let tx = conn.transaction().expect("begin");
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO records (entity, key, scope, version, data, writer)
                     VALUES ('tasks', ?1, ?2, 1, ?3, 'raw')",
                )
                .expect("prepare");
            for (key, data) in chunk {
                stmt.execute((key, PROJECT, data)).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    all.len() as f64 / started.elapsed().as_secs_f64()
}

/// How the raw PostgreSQL baseline inserts its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawMode {
    /// One connection per client, one 100-row INSERT per transaction.
    MultiRow,
    /// One connection per client, 100 single-row INSERTs per transaction (one round trip each).
    RowByRow,
    /// All rows through one connection, 100 single-row INSERTs per transaction: one writer at a
    /// time, as the server's serialized writes are.
    RowByRowSerial,
}

/// Raw baseline on PostgreSQL, in transactions of 100 rows (see [`RawMode`]); rows/s.
fn raw_push_postgres(admin: &str, rows: &[Vec<(String, String)>], mode: RawMode) -> f64 {
    let db = Db::postgres(admin);
    let url = db.arg();
    postgres_admin(&url, POSTGRES_TABLE);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let total: usize = rows.iter().map(Vec::len).sum();
    let shares: Vec<Vec<(String, String)>> = match mode {
        RawMode::RowByRowSerial => vec![rows.iter().flatten().cloned().collect()],
        _ => rows.to_vec(),
    };
    let rate = rt.block_on(async {
        let mut clients = Vec::new();
        for _ in &shares {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            clients.push(client);
        }
        let per = if mode == RawMode::MultiRow { BATCH } else { 1 };
        let mut sql =
            String::from("INSERT INTO records (entity, key, scope, version, data, writer) VALUES ");
        for i in 0..per {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('tasks', ${}, ${}, 1, ${}, 'raw')",
                3 * i + 1,
                3 * i + 2,
                3 * i + 3
            ));
        }
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .zip(shares)
            .map(|(mut client, mine)| {
                let sql = sql.clone();
                tokio::spawn(async move {
                    let stmt = client.prepare(&sql).await.expect("prepare");
                    let project = PROJECT.to_string();
                    for chunk in mine.chunks(BATCH) {
                        let tx = client.transaction().await.expect("begin");
                        for rows in chunk.chunks(per) {
                            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                                Vec::with_capacity(3 * per);
                            for (key, data) in rows {
                                params.push(key);
                                params.push(&project);
                                params.push(data);
                            }
                            assert_eq!(rows.len(), per, "whole batches only");
                            tx.execute(&stmt, &params).await.expect("insert");
                        }
                        tx.commit().await.expect("commit");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("raw inserter");
        }
        total as f64 / started.elapsed().as_secs_f64()
    });
    drop(rt);
    rate
}

// ----- pull -----

/// The fields the sample app keeps of a task.
fn pull_fields() -> Vec<String> {
    syncline_protocol::sample::schema()
        .expect("sample schema")
        .entity("tasks")
        .expect("tasks")
        .field_names()
}

/// Pulls all tasks in pages of 1,000; returns rows pulled.
fn pull_all(http: &Client, url: &str, token: &str, fields: &[String]) -> usize {
    let mut cursor: Option<String> = None;
    let mut rows = 0;
    loop {
        let resp = http
            .post(format!("{url}/v1/pull"))
            .bearer_auth(token)
            .json(&json!({"entity": "tasks", "cursor": cursor, "limit": PAGE, "fields": fields}))
            .send()
            .expect("pull");
        assert!(resp.status().is_success(), "pull: {}", resp.status());
        let page: PullPage = resp.json().expect("page");
        rows += page.upserts.len();
        cursor = Some(page.cursor);
        if !page.has_more {
            return rows;
        }
    }
}

/// `pullers` clients (client `c` on `urls[c % len]`) each pull everything at once; total
/// rows/s.
fn pull_rate(urls: &[String], token: &str, pullers: usize, expect_rows: usize) -> f64 {
    let barrier = Arc::new(Barrier::new(pullers + 1));
    let fields = pull_fields();
    let threads: Vec<_> = (0..pullers)
        .map(|c| {
            let url = urls[c % urls.len()].clone();
            let (token, fields, barrier) = (token.to_string(), fields.clone(), barrier.clone());
            std::thread::spawn(move || {
                let http = Client::builder()
                    .timeout(Duration::from_secs(600))
                    .build()
                    .expect("client");
                // Warm-up: the connection and the server's statement caches.
                http.get(format!("{url}/v1/me"))
                    .bearer_auth(&token)
                    .send()
                    .expect("me");
                barrier.wait();
                pull_all(&http, &url, &token, &fields)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let rows: usize = threads.into_iter().map(|t| t.join().expect("puller")).sum();
    assert_eq!(rows, pullers * expect_rows, "every puller got every row");
    rows as f64 / started.elapsed().as_secs_f64()
}

/// Raw baseline: one connection reads (key, version, data) of every task in pages of 1,000 by
/// position, like the pull's scan; rows/s.
fn raw_pull_sqlite(path: &Path) -> f64 {
    let conn = sqlite_connection(path);
    let mut stmt = conn
        .prepare(
            "SELECT position, key, version, data FROM records WHERE entity = 'tasks'
             AND position > ?1 ORDER BY position LIMIT ?2",
        )
        .expect("prepare");
    let started = Instant::now();
    let (mut after, mut rows, mut bytes) = (0i64, 0usize, 0usize);
    loop {
        let mut n = 0;
        let mut q = stmt.query((after, PAGE as i64)).expect("query");
        while let Some(r) = q.next().expect("row") {
            after = r.get(0).expect("position");
            let key: String = r.get(1).expect("key");
            let _version: i64 = r.get(2).expect("version");
            let data: String = r.get(3).expect("data");
            bytes += key.len() + data.len();
            n += 1;
        }
        rows += n;
        if n < PAGE {
            break;
        }
    }
    assert!(bytes > 0);
    rows as f64 / started.elapsed().as_secs_f64()
}

fn raw_pull_postgres(url: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let stmt = client
            .prepare(
                "SELECT position, key, version, data FROM records WHERE entity = 'tasks'
                 AND position > $1 ORDER BY position LIMIT $2",
            )
            .await
            .expect("prepare");
        let started = Instant::now();
        let (mut after, mut rows, mut bytes) = (0i64, 0usize, 0usize);
        loop {
            let page = client
                .query(&stmt, &[&after, &(PAGE as i64)])
                .await
                .expect("query");
            for r in &page {
                after = r.get(0);
                let key: &str = r.get(1);
                let _version: i64 = r.get(2);
                let data: &str = r.get(3);
                bytes += key.len() + data.len();
            }
            rows += page.len();
            if page.len() < PAGE {
                break;
            }
        }
        assert!(bytes > 0);
        rows as f64 / started.elapsed().as_secs_f64()
    })
}

// ----- the tables -----

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    Sqlite,
    Pg1,
    Pg2,
}

impl Setup {
    fn label(self) -> &'static str {
        match self {
            Setup::Sqlite => "SQLite | 1",
            Setup::Pg1 => "PostgreSQL | 1",
            Setup::Pg2 => "PostgreSQL | 2",
        }
    }

    fn instances(self) -> usize {
        if self == Setup::Pg2 {
            2
        } else {
            1
        }
    }

    fn fresh_db(self, admin: Option<&str>) -> Db {
        match (self, admin) {
            (Setup::Sqlite, _) => Db::sqlite(),
            (_, Some(a)) => Db::postgres(a),
            (_, None) => unreachable!("PostgreSQL setups need SYNCLINE_BENCH_POSTGRES"),
        }
    }
}

fn start_servers(db: &Db, n: usize) -> (Vec<ServerProcess>, Vec<String>) {
    let servers: Vec<ServerProcess> = (0..n)
        .map(|_| ServerProcess::start(&db.arg(), None))
        .collect();
    let urls = servers.iter().map(|s| s.url().to_string()).collect();
    (servers, urls)
}

fn runs_list(v: &[f64]) -> String {
    v.iter().map(|r| fmt(*r)).collect::<Vec<_>>().join(", ")
}

fn push_table(setups: &[Setup], admin: Option<&str>, runs: usize, clients: usize, batches: usize) {
    let mut push: BTreeMap<Setup, Vec<f64>> = BTreeMap::new();
    // Raw baselines per backend (false: SQLite, true: PostgreSQL) and mode, once per run.
    let mut raw: BTreeMap<(bool, &'static str), Vec<f64>> = BTreeMap::new();
    for run in 0..runs {
        for &setup in setups {
            let work = workload(clients, batches);
            let db = setup.fresh_db(admin);
            let token = prepare(&db);
            let (servers, urls) = start_servers(&db, setup.instances());
            let rate = push_rate(&urls, &token, &work);
            drop(servers);
            drop(db);
            eprintln!("run {run}: push {} {rate:.0}/s", setup.label());
            push.entry(setup).or_default().push(rate);
            // The backend's raw baselines once per run, right after its first setup.
            let postgres = setup != Setup::Sqlite;
            if raw.get(&(postgres, "multi")).map_or(0, Vec::len) > run {
                continue;
            }
            if postgres {
                let admin = admin.unwrap_or_default();
                for (name, mode) in [
                    ("multi", RawMode::MultiRow),
                    ("rows", RawMode::RowByRow),
                    ("serial", RawMode::RowByRowSerial),
                ] {
                    let r = raw_push_postgres(admin, &work.rows, mode);
                    eprintln!("run {run}: raw PostgreSQL {name} {r:.0}/s");
                    raw.entry((true, name)).or_default().push(r);
                }
            } else {
                let r = raw_push_sqlite(&work.rows);
                eprintln!("run {run}: raw SQLite {r:.0}/s");
                raw.entry((false, "multi")).or_default().push(r);
            }
        }
    }
    println!();
    println!(
        "Push: {clients} clients × {batches} batches × {BATCH} inserts, mutations/s (median of {runs}; all runs in brackets). \
         Raw baselines insert the same rows in transactions of {BATCH}: (a) SQLite one connection, PostgreSQL one 100-row INSERT per transaction on {clients} connections; \
         (b) PostgreSQL 100 single-row INSERTs per transaction on {clients} connections; (c) the same on one connection:"
    );
    println!();
    println!("| database | server instances | push mutations/s | raw (a) rows/s | push / raw (a) | raw (b) rows/s | raw (c) rows/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let med = |postgres: bool, name: &str| -> (f64, String) {
        let v = raw.get(&(postgres, name)).cloned().unwrap_or_default();
        let list = runs_list(&v);
        (median(&mut v.clone()), list)
    };
    for (setup, mut rates) in push {
        let postgres = setup != Setup::Sqlite;
        let (a, a_runs) = med(postgres, "multi");
        let all = runs_list(&rates);
        let m = median(&mut rates);
        let (b, c) = if postgres {
            let ((b, b_runs), (c, c_runs)) = (med(true, "rows"), med(true, "serial"));
            (
                format!("{} ({b_runs})", fmt(b)),
                format!("{} ({c_runs})", fmt(c)),
            )
        } else {
            ("–".to_string(), "–".to_string())
        };
        println!(
            "| {} | {} ({all}) | {} ({a_runs}) | {:.1} % | {b} | {c} |",
            setup.label(),
            fmt(m),
            fmt(a),
            100.0 * m / a
        );
    }
}

fn pull_table(setups: &[Setup], admin: Option<&str>, runs: usize, clients: usize, rows: usize) {
    // One seeded database per backend, shared by its setups (pulls only read).
    let mut seeded: Vec<(bool, Db, String)> = Vec::new();
    for postgres in [false, true] {
        let wanted = setups.iter().any(|s| (*s != Setup::Sqlite) == postgres);
        if !wanted {
            continue;
        }
        let db = if postgres {
            Db::postgres(admin.unwrap_or_default())
        } else {
            Db::sqlite()
        };
        let token = prepare(&db);
        let store = Store::open_sample(db.arg()).expect("open");
        let t = Instant::now();
        bulk_insert_tasks(&store, PROJECT, rows, KeyKind::TimeOrdered).expect("seed");
        drop(store);
        eprintln!(
            "seeded {rows} tasks on {} in {:.1} s",
            if postgres { "PostgreSQL" } else { "SQLite" },
            t.elapsed().as_secs_f64()
        );
        seeded.push((postgres, db, token));
    }
    let mut one: BTreeMap<Setup, Vec<f64>> = BTreeMap::new();
    let mut many: BTreeMap<Setup, Vec<f64>> = BTreeMap::new();
    let mut raw: BTreeMap<bool, Vec<f64>> = BTreeMap::new();
    for run in 0..runs {
        for &setup in setups {
            let postgres = setup != Setup::Sqlite;
            let Some((_, db, token)) = seeded.iter().find(|(p, _, _)| *p == postgres) else {
                continue;
            };
            let (servers, urls) = start_servers(db, setup.instances());
            let a = pull_rate(&urls, token, 1, rows);
            let b = pull_rate(&urls, token, clients, rows);
            drop(servers);
            eprintln!(
                "run {run}: pull {} {a:.0}/s, ×{clients} {b:.0}/s",
                setup.label()
            );
            one.entry(setup).or_default().push(a);
            many.entry(setup).or_default().push(b);
            if raw.get(&postgres).map_or(0, Vec::len) == run {
                let r = match db {
                    Db::Sqlite(dir) => raw_pull_sqlite(&dir.path().join("server.db")),
                    Db::Postgres { .. } => raw_pull_postgres(&db.arg()),
                };
                raw.entry(postgres).or_default().push(r);
            }
        }
    }
    println!();
    println!(
        "Pull: {rows} tasks in pages of {PAGE}, rows/s (median of {runs}; all runs in brackets):"
    );
    println!();
    println!("| database | server instances | 1 puller rows/s | {clients} pullers rows/s (total) | raw paged SELECT rows/s (1 reader) | 1 puller / raw |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (setup, mut a) in one {
        let mut b = many.remove(&setup).unwrap_or_default();
        let mut r = raw
            .get(&(setup != Setup::Sqlite))
            .cloned()
            .unwrap_or_default();
        let (a_runs, b_runs, r_runs) = (runs_list(&a), runs_list(&b), runs_list(&r));
        let (am, bm, rm) = (median(&mut a), median(&mut b), median(&mut r));
        println!(
            "| {} | {} ({a_runs}) | {} ({b_runs}) | {} ({r_runs}) | {:.0} % |",
            setup.label(),
            fmt(am),
            fmt(bm),
            fmt(rm),
            100.0 * am / rm
        );
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: a benchmark; run it with `cargo bench -p syncline-server --bench throughput`");
        return;
    }
    let admin = std::env::var("SYNCLINE_BENCH_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty());
    let runs = env_usize("SYNCLINE_BENCH_RUNS", 3);
    let clients = env_usize("SYNCLINE_BENCH_CLIENTS", 16);
    let batches = env_usize("SYNCLINE_BENCH_BATCHES", 20);
    let rows = env_usize("SYNCLINE_BENCH_PULL_ROWS", 100_000);
    let setups: Vec<Setup> = std::env::var("SYNCLINE_BENCH_SETUPS")
        .unwrap_or_else(|_| "sqlite,pg1,pg2".into())
        .split(',')
        .filter_map(|s| match s.trim() {
            "sqlite" => Some(Setup::Sqlite),
            "pg1" if admin.is_some() => Some(Setup::Pg1),
            "pg2" if admin.is_some() => Some(Setup::Pg2),
            _ => None,
        })
        .collect();
    if admin.is_none() {
        eprintln!("SYNCLINE_BENCH_POSTGRES is not set: SQLite only");
    }
    if std::env::var("SYNCLINE_BENCH_PUSH").as_deref() != Ok("0") {
        push_table(&setups, admin.as_deref(), runs, clients, batches);
    }
    if std::env::var("SYNCLINE_BENCH_PULL").as_deref() != Ok("0") {
        pull_table(&setups, admin.as_deref(), runs, clients, rows);
    }
}
