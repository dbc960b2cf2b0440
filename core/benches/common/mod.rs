//! What the benchmarks of issue 13 share: the reference server in a child process (so its work
//! shows as another process on the same cores, as a real deployment's would not, and its memory
//! is not the client's), percentiles and medians.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use syncline_server::testing::{bulk_insert_tasks, KeyKind};

/// The bench user's token on the server.
pub const TOKEN: &str = "bench-token";

/// The project the bench user's tasks are in.
pub const PROJECT: &str = "p-bench";

/// Whether this process was started as the server (`SYNCLINE_BENCH_ROLE=server`); if so it has
/// served and the caller returns.
pub fn serve_if_server() -> bool {
    if std::env::var("SYNCLINE_BENCH_ROLE").as_deref() != Ok("server") {
        return false;
    }
    serve();
    true
}

/// A reference server in a child process (this executable, role `server`) on a fresh SQLite
/// file in `dir`, seeded with `rows` tasks with time-ordered keys; returns it and its URL.
pub fn start_server(dir: &std::path::Path, rows: usize) -> (Child, String) {
    let mut command = Command::new(std::env::current_exe().expect("exe"));
    command
        .env("SYNCLINE_BENCH_SEED", rows.to_string())
        .env("SYNCLINE_BENCH_SERVER_DB", dir.join("server.db"));
    spawn_server(command)
}

/// Starts `command` (this executable, with the server's settings in its environment) as the
/// server role; returns it and the URL it printed.
pub fn spawn_server(mut command: Command) -> (Child, String) {
    let mut server = command
        .env("SYNCLINE_BENCH_ROLE", "server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server port");
    let url = format!(
        "http://127.0.0.1:{}",
        line.trim().trim_start_matches("PORT ")
    );
    (server, url)
}

/// Stops a server started by [`start_server`] (closing its stdin) and waits for it.
pub fn stop_server(mut server: Child) {
    let _ = server.stdin.take().map(|mut s| s.write_all(b"q\n"));
    let _ = server.wait();
}

fn serve() {
    let rows: usize = std::env::var("SYNCLINE_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let db = std::env::var("SYNCLINE_BENCH_SERVER_DB").expect("SYNCLINE_BENCH_SERVER_DB");
    serve_until_stdin_closes(bench_store(&db, rows, KeyKind::TimeOrdered));
}

/// The server's store at `db` with the bench user (token [`TOKEN`]), a member of [`PROJECT`],
/// which holds `rows` tasks with keys of the given kind.
pub fn bench_store(db: &str, rows: usize, keys: KeyKind) -> syncline_server::Store {
    let store = syncline_server::Store::open_sample(db).expect("server store");
    store.create_user("bench").expect("user");
    store.add_token("bench", TOKEN, None).expect("token");
    store.create_project(PROJECT, "Bench").expect("project");
    store.add_membership("bench", PROJECT).expect("membership");
    if rows > 0 {
        bulk_insert_tasks(&store, PROJECT, rows, keys).expect("seed");
    }
    store
}

/// Serves `store` on a free loopback port, printed as `PORT n`, until stdin closes.
pub fn serve_until_stdin_closes(store: syncline_server::Store) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        let _ = std::io::stdout().flush();
        let stop = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut s = String::new();
                let _ = std::io::stdin().read_line(&mut s);
            })
            .await;
        };
        syncline_server::serve(listener, store, stop)
            .await
            .expect("serve");
    });
}

/// The value at quantile `q` (0..=1) of `sorted`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Sorts `v` and returns its median.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(v, 0.5)
}

/// An environment variable as a number, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Whether the executable was started by `cargo bench` (it passes `--bench`); prints how to run
/// it when not (`cargo test` runs benches' executables too).
pub fn started_by_cargo_bench(name: &str) -> bool {
    if std::env::args().any(|a| a == "--bench") {
        return true;
    }
    println!("{name}: a benchmark; run it with `cargo bench -p syncline-core --bench {name}`");
    false
}
