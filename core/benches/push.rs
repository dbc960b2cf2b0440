//! Push throughput, end to end: 10,000 pending local inserts of tasks (UUIDv7 keys) sent from a
//! client's outbox to the reference server (a child process, SQLite backend) by
//! `sync_now("tasks")`, in mutations/s, against the same server taking the same kind of
//! mutations from a bare HTTP client in the same run: the bench process posts `PushRequest`s
//! of the same size and shape itself (reqwest, gzip, one after the other, as the engine does),
//! with no local store. The difference is the client's own work: reading the outbox, encoding,
//! and applying each answer (outbox, stages, versions) in a transaction.
//!
//! `cargo bench -p syncline-core --bench push` (mutations: `SYNCLINE_BENCH_MUTATIONS`, default
//! 10,000; runs: `SYNCLINE_BENCH_RUNS`, default 3; batch sizes: `SYNCLINE_BENCH_BATCH`, default
//! `200,500`, 500 being `Config::push_batch_size`'s default and the protocol's most).

#[path = "common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use syncline_core::{AutoSync, Config, Phase, Record, SyncProgress, SyncState, Syncline, Value};
use syncline_protocol::sample::{self, TASKS};
use syncline_protocol::{Mutation, OnConflict, Op, PushRequest, PushResponse, WireFields};

use common::{env_or, median};

fn values(i: usize) -> Vec<(&'static str, Value)> {
    vec![
        ("project_id", Value::Text(common::PROJECT.into())),
        ("title", Value::Text(format!("Check the pump at bay {i}"))),
        ("notes", Value::Text("Bring the 12 mm wrench".into())),
        ("done", Value::Boolean(false)),
        ("priority", Value::Integer((i % 5) as i64)),
        ("due_at", Value::Timestamp(1_767_225_600_000 + i as i64)),
        ("assignee", Value::Text("alice".into())),
    ]
}

/// The client's push: seconds from `sync_now` to the start of its pull (the push's last answer
/// applied), and to the end of the whole sync.
fn client_push(url: &str, db: &std::path::Path, n: usize, batch: usize) -> (f64, f64) {
    let mut config = Config::new(url, common::TOKEN);
    config.auto = AutoSync::manual();
    config.push_batch_size = batch as u32;
    let client = Syncline::open(db, sample::schema().expect("schema"), config).expect("open");
    client.sync_now_blocking("projects").expect("warm-up sync");
    for i in 0..n {
        let mut record = Record::new(uuid::Uuid::now_v7().to_string());
        for (field, value) in values(i) {
            record = record.with(field, value);
        }
        client.insert(TASKS, record).expect("insert");
    }
    assert_eq!(client.status().pending, n as u64);
    let pulling: Arc<Mutex<Option<Instant>>> = Arc::default();
    let _listening = {
        let pulling = pulling.clone();
        client.listen(move |status| {
            if let SyncState::Syncing {
                progress:
                    SyncProgress {
                        phase: Phase::Pulling { .. },
                        ..
                    },
                ..
            } = status.state
            {
                let mut at = pulling.lock().expect("lock");
                at.get_or_insert_with(Instant::now);
            }
        })
    };
    let start = Instant::now();
    let report = client.sync_now_blocking(TASKS).expect("sync");
    let whole = start.elapsed().as_secs_f64();
    assert_eq!(
        report.entities[0].pushed, n as u64,
        "every mutation applied"
    );
    let push = pulling
        .lock()
        .expect("lock")
        .map(|t| (t - start).as_secs_f64())
        .expect("the pull began");
    (push, whole)
}

/// The same number of mutations posted by a bare HTTP client: seconds.
fn bare_push(url: &str, n: usize, batch: usize, client_id: &str) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::builder().gzip(true).build().expect("http");
    let requests: Vec<Vec<u8>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|chunk| {
            let mutations = chunk
                .iter()
                .map(|&i| {
                    let fields: WireFields = values(i)
                        .into_iter()
                        .map(|(f, v)| (f.to_string(), v.to_json()))
                        .collect();
                    Mutation {
                        mutation_id: uuid::Uuid::new_v4().to_string(),
                        seq: i as u64 + 1,
                        entity: TASKS.into(),
                        key: uuid::Uuid::now_v7().to_string(),
                        op: Op::Insert,
                        fields,
                        base_version: None,
                        on_conflict: OnConflict::Overwrite,
                    }
                })
                .collect();
            serde_json::to_vec(&PushRequest {
                client_id: client_id.into(),
                mutations,
            })
            .expect("json")
        })
        .collect();
    runtime.block_on(async {
        let start = Instant::now();
        for body in requests {
            let answer = http
                .post(format!("{url}/v1/push"))
                .bearer_auth(common::TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("push");
            assert!(answer.status().is_success(), "{}", answer.status());
            let bytes = answer.bytes().await.expect("answer");
            let parsed: PushResponse = serde_json::from_slice(&bytes).expect("push answer");
            std::hint::black_box(parsed);
        }
        start.elapsed().as_secs_f64()
    })
}

fn main() {
    if common::serve_if_server() || !common::started_by_cargo_bench("push") {
        return;
    }
    let n = env_or("SYNCLINE_BENCH_MUTATIONS", 10_000);
    let runs = env_or("SYNCLINE_BENCH_RUNS", 3);
    let batches: Vec<usize> = std::env::var("SYNCLINE_BENCH_BATCH")
        .unwrap_or_else(|_| "200,500".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, url) = common::start_server(dir.path(), 0);
    println!("{n} inserts pushed to the reference server (SQLite), {runs} runs, medians:");
    println!();
    println!("| batch | client push mutations/s | whole sync (push + pull back) mutations/s | bare HTTP push mutations/s | client / bare |");
    println!("|---:|---:|---:|---:|---:|");
    for &batch in &batches {
        let (mut pushes, mut wholes, mut bares) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            // Alternating, so both see the same machine.
            let db = dir.path().join(format!("client-{batch}-{run}.db"));
            let (push, whole) = client_push(&url, &db, n, batch);
            pushes.push(n as f64 / push);
            wholes.push(n as f64 / whole);
            let id = uuid::Uuid::new_v4().to_string();
            bares.push(n as f64 / bare_push(&url, n, batch, &id));
        }
        let (p, w, b) = (median(&mut pushes), median(&mut wholes), median(&mut bares));
        println!(
            "| {batch} | {p:.0} | {w:.0} | {b:.0} | {:.0} % |",
            100.0 * p / b
        );
        let list = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        eprintln!(
            "batch {batch}: client {} / bare {}",
            list(&pushes),
            list(&bares)
        );
    }
    common::stop_server(server);
}
