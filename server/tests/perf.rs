//! Pull throughput over loopback with 100k tasks of about 150 bytes. A benchmark, not a check:
//! `cargo test -p syncline-server --release --test perf -- --ignored --nocapture`.
//! The client side here is reqwest plus serde_json into a `PullPage`; the core's client adds
//! its local writes.

mod common;

use std::time::Instant;

use syncline_protocol::{PullPage, PullRequest};
use syncline_server::testing::TestServer;
use syncline_server::testing::{bulk_insert_tasks, KeyKind};

/// The fields the sample app keeps of a task.
fn fields() -> Vec<String> {
    syncline_protocol::sample::schema()
        .expect("sample schema")
        .entity("tasks")
        .expect("tasks")
        .field_names()
}

/// Pulls all of alice's tasks page by page; returns (rows, decoded bytes).
fn pull_everything(
    server: &TestServer,
    client: &reqwest::blocking::Client,
    limit: u32,
) -> (usize, usize) {
    let mut cursor: Option<String> = None;
    let (mut rows, mut bytes) = (0, 0);
    loop {
        let resp = client
            .post(format!("{}/v1/pull", server.url()))
            .bearer_auth("demo-alice")
            .json(&serde_json::json!({"entity": "tasks", "cursor": cursor, "limit": limit, "fields": fields()}))
            .send()
            .expect("pull");
        let body = resp.bytes().expect("body");
        bytes += body.len();
        let page: PullPage = serde_json::from_slice(&body).expect("page");
        rows += page.upserts.len();
        cursor = Some(page.cursor);
        if !page.has_more {
            return (rows, bytes);
        }
    }
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn pull_100k_rows_throughput() {
    let server = TestServer::with_demo();
    let t = Instant::now();
    bulk_insert_tasks(server.store(), "p-depot", 100_000, KeyKind::Random).expect("bulk");
    println!(
        "bulk insert of 100k tasks: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let gzip = reqwest::blocking::Client::new();
    let identity = reqwest::blocking::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    for (name, client) in [("gzip", &gzip), ("identity", &identity)] {
        for limit in [1000, 5000] {
            let mut times = Vec::new();
            let (mut rows, mut bytes) = (0, 0);
            for _ in 0..5 {
                let t = Instant::now();
                (rows, bytes) = pull_everything(&server, client, limit);
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(|a, b| a.total_cmp(b));
            let median = times[times.len() / 2];
            println!(
                "{name:>8} limit {limit}: {rows} rows, {:.1} MB of JSON, median {median:.3} s = {:.0} rows/s (best {:.3} s)",
                bytes as f64 / 1e6,
                rows as f64 / median,
                times[0]
            );
        }
    }
    // The server's page building alone (no HTTP, no compression).
    let t = Instant::now();
    let mut cursor = None;
    let mut rows = 0;
    loop {
        let req = PullRequest {
            entity: "tasks".into(),
            cursor: cursor.clone(),
            limit: 5000,
            fields: fields(),
        };
        let page = server.store().pull_page("alice", &req).expect("pull");
        rows += page.upserts.len();
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("store.pull_page (pages built and parsed in-process): {rows} rows, {secs:.3} s");
}
