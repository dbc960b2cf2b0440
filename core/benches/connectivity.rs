//! Connectivity restored → first sync request: how long after the shell reports connectivity
//! the server sees the first byte of a sync request, through the real scheduler, runtime and
//! HTTP client. The baseline, in the same run, is `trigger_sync` → first byte: the same path
//! without the connectivity handling, so the ratio shows what the network watcher costs.
//!
//! `cargo bench -p syncline-core --bench connectivity` (samples: `SYNCLINE_BENCH_RUNS`, default
//! 200). A tap between client and server (a plain TCP relay) timestamps the first byte the
//! client sends after the report; the reference server runs in the same process.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use syncline_core::{
    AutoSync, Config, Connectivity, NetworkStatus, NetworkType, SyncState, Syncline,
};
use syncline_server::testing::TestServer;

/// When the first byte after arming went by.
type Mark = Arc<Mutex<Option<Instant>>>;

/// Relays every connection to `upstream`, recording in `mark` the first client byte seen while
/// it is armed (`None`).
fn tap(upstream: std::net::SocketAddr, mark: Mark) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut s_read, mut c_write) = (server, client);
            let mark = mark.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let now = Instant::now();
                    let mut m = mark.lock().expect("mark");
                    if m.is_none() {
                        *m = Some(now);
                    }
                    drop(m);
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
            });
        }
    });
    addr
}

fn wait(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn idle(client: &Syncline) -> bool {
    !matches!(client.status().state, SyncState::Syncing { .. }) && client.queued_syncs().is_empty()
}

/// Arms the tap, runs `act`, and returns how long until the first request byte.
fn sample(client: &Syncline, mark: &Mark, act: impl FnOnce()) -> Duration {
    wait("idle", || idle(client));
    // Quiet: a mark from an earlier request's tail would spoil the sample.
    std::thread::sleep(Duration::from_millis(20));
    *mark.lock().expect("mark") = None;
    let start = Instant::now();
    act();
    wait("a request", || mark.lock().expect("mark").is_some());
    let at = mark.lock().expect("mark").expect("marked");
    at.duration_since(start)
}

fn stats(mut xs: Vec<Duration>) -> (f64, f64) {
    xs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(xs[xs.len() / 2]),
        ms(xs[(xs.len() * 95).div_ceil(100) - 1]),
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("connectivity: a benchmark; run it with `cargo bench -p syncline-core --bench connectivity`");
        return;
    }
    let runs: usize = std::env::var("SYNCLINE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let server = TestServer::with_demo();
    // The tap starts disarmed: `Some` means "already marked".
    let mark: Mark = Arc::new(Mutex::new(Some(Instant::now())));
    let addr = tap(server.addr(), mark.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(&format!("http://{addr}"), "demo-alice");
    config.auto = AutoSync {
        // Only connectivity and explicit triggers start syncs in this measurement.
        after_change: None,
        periodic: None,
        offline_debounce: Duration::ZERO,
        ..AutoSync::default()
    };
    let client = Syncline::open(
        &dir.path().join("bench.db"),
        syncline_protocol::sample::schema().expect("schema"),
        config,
    )
    .expect("open");
    wait("the start sync", || {
        client.status().last_synced_at.is_some() && idle(&client)
    });

    let mut restored = Vec::with_capacity(runs);
    let mut triggered = Vec::with_capacity(runs);
    for _ in 0..runs {
        client.report_connectivity(Connectivity::offline());
        wait("offline", || {
            client.network_status() == NetworkStatus::Offline
        });
        restored.push(sample(&client, &mark, || {
            client.report_connectivity(Connectivity::online(NetworkType::Wifi))
        }));
        triggered.push(sample(&client, &mark, || {
            client.trigger_sync("all", false).expect("trigger")
        }));
    }
    let (r50, r95) = stats(restored);
    let (t50, t95) = stats(triggered);
    println!("| path | samples | median ms | p95 ms |");
    println!("|---|---:|---:|---:|");
    println!("| connectivity restored → first request | {runs} | {r50:.2} | {r95:.2} |");
    println!("| trigger_sync → first request (baseline) | {runs} | {t50:.2} | {t95:.2} |");
    println!("median ratio restored / baseline: {:.2}", r50 / t50);
}
