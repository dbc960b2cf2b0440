//! Bytes on the wire per row for the initial-sync data set (the same 100,000 tasks as
//! `initial_sync`), with and without gzip, against the raw bytes of the values themselves.
//!
//! `cargo bench -p syncline-core --bench wire_bytes` (rows: `SYNCLINE_BENCH_ROWS`, default
//! 100,000). The pages are fetched as the client fetches them (its fields, pages of its page
//! size) by a client that does not decompress, so the gzip figure is what crossed the wire; the
//! uncompressed one is the same pages asked for without `Accept-Encoding`. HTTP headers (about
//! 200 bytes a page, 0.2 B a row at 1,000 rows a page) are not counted.
//!
//! Raw value bytes: what the values are without any format around them: a text's UTF-8 bytes (a
//! JSON field's text likewise), 8 bytes for an integer, a timestamp or a real, 1 for a boolean,
//! nothing for a null; the key's bytes and 8 for the version, per row. A second figure counts
//! numbers by their decimal digits instead (as a CSV file would hold them), which is smaller for
//! the small integers of this data set.

#[path = "common/mod.rs"]
mod common;

use syncline_protocol::sample::{self, TASKS};
use syncline_protocol::{PullPage, PullRequest};

use common::env_or;

/// What one way of fetching every page cost.
#[derive(Default)]
struct Tally {
    rows: u64,
    body: u64,
    raw_binary: u64,
    raw_text: u64,
}

fn value_bytes(v: &serde_json::Value) -> (u64, u64) {
    use serde_json::Value as J;
    match v {
        J::Null => (0, 0),
        J::Bool(_) => (1, 1),
        J::Number(n) => (8, n.to_string().len() as u64),
        J::String(s) => (s.len() as u64, s.len() as u64),
        // A JSON field's value is its text.
        other => {
            let n = other.to_string().len() as u64;
            (n, n)
        }
    }
}

/// Posts one pull request for `cursor`; the answer's body as it came over the wire.
async fn pull(http: &reqwest::Client, url: &str, cursor: Option<String>, gzip: bool) -> Vec<u8> {
    let schema = sample::schema().expect("schema");
    let e = schema.entity(TASKS).expect("tasks");
    let request = PullRequest {
        entity: TASKS.into(),
        cursor,
        limit: e.sync.page_size,
        fields: e.field_names(),
    };
    let mut post = http
        .post(format!("{url}/v1/pull"))
        .bearer_auth(common::TOKEN)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&request).expect("json"));
    if gzip {
        post = post.header("accept-encoding", "gzip");
    }
    let answer = post.send().await.expect("pull");
    assert!(answer.status().is_success());
    let encoded = answer
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    assert_eq!(encoded, gzip, "gzip exactly when asked for");
    answer.bytes().await.expect("body").to_vec()
}

/// Fetches every page uncompressed (counting rows and raw value bytes), then the same pages,
/// cursor by cursor, with gzip (counting only the bytes: the client that measures does not
/// decompress, so the length is what crossed the wire).
fn fetch_all(url: &str) -> (Tally, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::builder()
        .gzip(false)
        .build()
        .expect("http");
    let mut tally = Tally::default();
    let mut cursors = vec![None];
    runtime.block_on(async {
        loop {
            let cursor = cursors.last().cloned().flatten();
            let body = pull(&http, url, cursor, false).await;
            tally.body += body.len() as u64;
            let page: PullPage = serde_json::from_slice(&body).expect("page");
            for row in &page.upserts {
                tally.rows += 1;
                for v in &row[2..] {
                    let (b, t) = value_bytes(v);
                    tally.raw_binary += b;
                    tally.raw_text += t;
                }
                let key = row[0].as_str().map_or(0, str::len) as u64;
                tally.raw_binary += key + 8;
                tally.raw_text += key + row[1].to_string().len() as u64;
            }
            if !page.has_more {
                break;
            }
            cursors.push(Some(page.cursor));
        }
        let mut gzipped = 0;
        for cursor in cursors {
            gzipped += pull(&http, url, cursor, true).await.len() as u64;
        }
        (tally, gzipped)
    })
}

fn main() {
    if common::serve_if_server() || !common::started_by_cargo_bench("wire_bytes") {
        return;
    }
    let rows = env_or("SYNCLINE_BENCH_ROWS", 100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, url) = common::start_server(dir.path(), rows);
    let (plain, gzipped) = fetch_all(&url);
    common::stop_server(server);
    let n = plain.rows as f64;
    let raw = plain.raw_binary as f64 / n;
    let raw_text = plain.raw_text as f64 / n;
    println!(
        "{} rows pulled in pages of the sample schema's size:",
        plain.rows
    );
    println!();
    println!("| what | bytes per row | against raw values (binary) | against raw values (numbers as digits) |");
    println!("|---|---:|---:|---:|");
    println!("| raw values, binary numbers | {raw:.1} | 1.00× | |");
    println!("| raw values, numbers as digits | {raw_text:.1} | | 1.00× |");
    for (what, bytes) in [
        ("pull pages, no gzip", plain.body),
        ("pull pages, gzip", gzipped),
    ] {
        let b = bytes as f64 / n;
        println!(
            "| {what} | {b:.1} | {:.2}× | {:.2}× |",
            b / raw,
            b / raw_text
        );
    }
    println!("| PowerSync (published, JSON) | ~142 | | |");
}
