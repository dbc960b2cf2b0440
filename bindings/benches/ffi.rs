//! The Rust side of the FFI benchmark: the same calls as the Kotlin benchmark
//! (`android/syncline/src/bench/kotlin/dev/syncline/FfiBench.kt`) made on the facade from Rust,
//! with no FFI. `scripts/ffi-bench` runs both and prints the ratios.

use std::time::Instant;

use syncline::{default_config, manual_auto_sync, sample_schema, SynclineClient};
use syncline_core::{Query, Record, Value};

/// Median of `rounds` rounds of `n` calls of `work`, in nanoseconds per call.
fn median_nanos(rounds: usize, n: usize, mut work: impl FnMut()) -> f64 {
    let mut per_call: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                work();
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ffi: a benchmark; run scripts/ffi-bench");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = default_config("http://127.0.0.1:9".into(), "t".into());
    config.auto = manual_auto_sync();
    let client = SynclineClient::open(
        dir.path().join("bench.db").to_string_lossy().into_owned(),
        sample_schema().expect("schema"),
        config,
    )
    .expect("open");
    for i in 0..1000 {
        let record = Record::new(format!("t-{i:04}"))
            .with("project_id", Value::Text("p-bench".into()))
            .with(
                "title",
                Value::Text(format!("Task number {i} with a title of typical length")),
            )
            .with("done", Value::Boolean(i % 2 == 0))
            .with("priority", Value::Integer(i % 5));
        client.insert("tasks".into(), record).expect("insert");
    }
    let page = || Query::all(1000);
    assert_eq!(
        client
            .query("tasks".into(), page())
            .expect("q")
            .records
            .len(),
        1000
    );
    median_nanos(3, 20_000, || {
        std::hint::black_box(client.network_status());
    });
    let trivial = median_nanos(7, 200_000, || {
        std::hint::black_box(client.network_status());
    });
    let query = median_nanos(7, 200, || {
        std::hint::black_box(client.query("tasks".into(), page()).expect("q"));
    });
    println!(
        "rust trivial_call_ns={trivial:.1} page_1000_us={:.1}",
        query / 1000.0
    );
}
