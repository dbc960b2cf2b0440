//! Thousands of idle live streams on one server instance (issue 21): memory per stream, CPU at
//! idle with heartbeats, and the time for one change to reach the last stream.
//!
//! ```sh
//! cargo bench -p syncline-server --bench live_streams        # 10,000 streams, SQLite
//! SYNCLINE_BENCH_STREAMS=2000 SYNCLINE_BENCH_HEARTBEAT=5 \
//!   cargo bench -p syncline-server --bench live_streams
//! ```
//!
//! The server is the release `syncline-server` binary in a child process (its memory and CPU
//! are read from `/proc/<pid>`, Linux), seeded with the demo data, with the per-user stream cap
//! raised to the stream count (every stream is alice's; the cap is a policy, not a cost) and the
//! per-user rate limit off. The streams are plain TCP connections of this process, each sending
//! `GET /v1/live` and reading events as a device would, opened 256 at a time. The file limit is
//! raised to its hard limit first (each stream is a socket on both sides).
//!
//! - **memory per stream**: the server's resident memory once every stream has its `hello`,
//!   less its resident memory with one stream open, over the stream count.
//! - **CPU at idle**: the server's user + system time over `SYNCLINE_BENCH_IDLE_SECS` (default
//!   60) with every stream idle and heartbeats every `SYNCLINE_BENCH_HEARTBEAT` seconds (default
//!   25, what devices ask for), as a share of one core; and the heartbeats the streams received.
//! - **fan-out**: bob pushes one task to `p-harbor` (alice's project); the time from the push's
//!   start until the last stream has read its `changes` event. `SYNCLINE_BENCH_RUNS` (default
//!   5) pushes, median and worst printed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The server process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(db: &std::path::Path, streams: usize) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncline-server"))
        .args(["--db", &db.display().to_string(), "--listen", "127.0.0.1:0"])
        .arg("--seed-demo")
        .args(["--max-streams", &(streams + 100).to_string()])
        .args(["--max-streams-per-user", &(streams + 100).to_string()])
        .args(["--rate-per-user", "0", "--auth-failures-per-minute", "0"])
        .env("RUST_LOG", "error")
        .env_remove("SYNCLINE_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start syncline-server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().trim_start_matches("http://").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server's listening line");
    Server { child, addr }
}

/// The server's resident memory, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// The server's user + system CPU time so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // USER_HZ is 100 on every Linux this runs on.
    ticks / 100.0
}

/// Raises this process's open-file limit to its hard limit (the child inherits it).
fn raise_file_limit() -> u64 {
    let out = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("ulimit");
    let hard = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let hard: u64 = hard.parse().unwrap_or(1024);
    // `prlimit` (util-linux) sets it on this very process.
    let _ = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={hard}:{hard}"),
        ])
        .status();
    hard
}

/// What every stream reports.
struct Tally {
    open: AtomicUsize,
    pings: AtomicU64,
    /// The push round (0: none): a stream records when it first read a `changes` event in it.
    round: AtomicU64,
    reached: Mutex<Vec<Instant>>,
}

/// One device's stream: sends the request, then reads events until the connection ends.
async fn stream(addr: String, heartbeat: u64, tally: Arc<Tally>, opened: Arc<Semaphore>) {
    let permit = opened.acquire_owned().await.expect("semaphore");
    let mut socket = TcpStream::connect(&addr).await.expect("connect");
    let request = format!(
        "GET /v1/live?heartbeat={heartbeat} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer \
         demo-alice\r\nAccept: text/event-stream\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.expect("request");
    let mut buf = vec![0u8; 4096];
    let mut text = String::new();
    let mut hello = false;
    let mut permit = Some(permit);
    let mut round_seen = 0;
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        // Events end with a blank line; chunked framing lines around them are skipped.
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.contains("event: hello") && !hello {
                hello = true;
                tally.open.fetch_add(1, Ordering::SeqCst);
                permit.take();
            } else if event.contains("event: ping") {
                tally.pings.fetch_add(1, Ordering::Relaxed);
            } else if event.contains("event: changes") {
                let round = tally.round.load(Ordering::SeqCst);
                if round > round_seen {
                    round_seen = round;
                    tally.reached.lock().expect("reached").push(Instant::now());
                }
            }
        }
    }
}

fn push_one(http: &reqwest::blocking::Client, addr: &str, seq: u64) {
    let key = uuid::Uuid::now_v7().to_string();
    let body = json!({"client_id": "bench-bob", "mutations": [{
        "mutation_id": format!("m{seq}"), "seq": seq, "entity": "tasks", "key": key,
        "op": "insert", "base_version": null,
        "fields": {"project_id": "p-harbor", "title": format!("Fan-out {seq}"), "done": false}}]});
    let resp = http
        .post(format!("http://{addr}/v1/push"))
        .bearer_auth("demo-bob")
        .json(&body)
        .send()
        .expect("push");
    assert!(resp.status().is_success(), "push: {}", resp.status());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("live_streams: a benchmark; run it with `cargo bench -p syncline-server --bench live_streams`");
        return;
    }
    let streams: usize = env_or("SYNCLINE_BENCH_STREAMS", 10_000);
    let heartbeat: u64 = env_or("SYNCLINE_BENCH_HEARTBEAT", 25);
    let idle_secs: u64 = env_or("SYNCLINE_BENCH_IDLE_SECS", 60);
    let runs: u64 = env_or("SYNCLINE_BENCH_RUNS", 5);
    let limit = raise_file_limit();
    assert!(
        limit as usize > streams + 200,
        "the open-file limit ({limit}) is too low for {streams} streams: raise `ulimit -Hn`"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server(&dir.path().join("server.db"), streams);
    let pid = server.child.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let tally = Arc::new(Tally {
        open: AtomicUsize::new(0),
        pings: AtomicU64::new(0),
        round: AtomicU64::new(0),
        reached: Mutex::new(Vec::new()),
    });
    let opening = Arc::new(Semaphore::new(256));
    let wait_open = |n: usize| {
        let start = Instant::now();
        while tally.open.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "streams never opened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        start.elapsed()
    };

    // One stream first: the baseline is a server that already serves streams.
    runtime.spawn(stream(
        server.addr.clone(),
        heartbeat,
        tally.clone(),
        opening.clone(),
    ));
    wait_open(1);
    std::thread::sleep(Duration::from_secs(1));
    let rss_one = rss(pid);
    for _ in 1..streams {
        runtime.spawn(stream(
            server.addr.clone(),
            heartbeat,
            tally.clone(),
            opening.clone(),
        ));
    }
    let took = wait_open(streams);
    std::thread::sleep(Duration::from_secs(2));
    let rss_all = rss(pid);
    let per_stream = (rss_all.saturating_sub(rss_one)) as f64 / (streams - 1) as f64;
    println!(
        "{streams} streams open in {:.1} s; server resident memory {:.1} MB with one stream, \
         {:.1} MB with {streams}: {:.1} KB per stream (goal ≤ 20 KB)",
        took.as_secs_f64(),
        rss_one as f64 / 1e6,
        rss_all as f64 / 1e6,
        per_stream / 1e3
    );

    // Idle, with heartbeats.
    let pings_before = tally.pings.load(Ordering::SeqCst);
    let cpu_before = cpu_seconds(pid);
    let idle_from = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_secs));
    let cpu = cpu_seconds(pid) - cpu_before;
    let idle = idle_from.elapsed().as_secs_f64();
    let pings = tally.pings.load(Ordering::SeqCst) - pings_before;
    println!(
        "idle {idle:.0} s with heartbeat {heartbeat} s: server CPU {cpu:.2} s = {:.2} % of one \
         core; {pings} heartbeats sent ({:.0}/s)",
        100.0 * cpu / idle,
        pings as f64 / idle
    );

    // Fan-out.
    let http = reqwest::blocking::Client::new();
    push_one(&http, &server.addr, 1);
    std::thread::sleep(Duration::from_millis(500));
    let mut times = Vec::new();
    for round in 1..=runs {
        tally.reached.lock().expect("reached").clear();
        tally.round.store(round, Ordering::SeqCst);
        let start = Instant::now();
        push_one(&http, &server.addr, round + 1);
        let deadline = start + Duration::from_secs(120);
        let last = loop {
            {
                let reached = tally.reached.lock().expect("reached");
                if reached.len() >= streams {
                    break reached.iter().max().copied().expect("a time");
                }
            }
            assert!(
                Instant::now() < deadline,
                "not every stream heard of the change"
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        let ms = last.duration_since(start).as_secs_f64() * 1000.0;
        eprintln!("push {round}: the last of {streams} streams heard of it after {ms:.0} ms");
        times.push(ms);
        tally.round.store(0, Ordering::SeqCst);
        // Past the coalescing window, so the next push is a fresh hint.
        std::thread::sleep(Duration::from_millis(500));
    }
    let worst = times.iter().copied().fold(0.0, f64::max);
    println!(
        "one push → the last of {streams} streams: median {:.0} ms, worst {worst:.0} ms over \
         {runs} pushes (goal ≤ 1,000 ms)",
        median(times)
    );
    drop(runtime);
    drop(server);
}
