//! Instance failover for the live stream (issue 21, "Reliability"): a device reaches the server
//! through a plain TCP forwarder, as through a load balancer, that can be pointed at instance A
//! or B. A dies or shuts down; the forwarder sends new connections to B; the device's stream
//! reconnects through it, and a change committed on B reaches the device's live query by B's
//! own hint.
//!
//! On PostgreSQL (`SYNCLINE_TEST_BACKEND=postgres`) A and B are two instances on one database,
//! both running from the start. On SQLite, where one instance serves a file at a time, B starts
//! on A's file once A is gone: the same failover, with a gap in between.
//!
//! Latencies are printed; the one bound asserted is the point of `bye shutdown`: a device told
//! to go reconnects well before its dead-stream timeout (two heartbeats).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::client_with;
use syncline_core::{AutoSync, Config, Event, ListenerHandle, Page, Query, Syncline, Value};
use syncline_protocol::sample::TASKS;
use syncline_server::testing::{test_backend, ScratchDb, TestServer};
use syncline_server::HARBOR;

/// Only against a hang: far past anything a loaded machine needs.
const HANG: Duration = Duration::from_secs(90);

/// A TCP forwarder: each connection it accepts is joined to a new connection to its target at
/// that moment. Connections already open stay where they are, as behind a load balancer.
struct Forwarder {
    addr: SocketAddr,
    state: Arc<Forwarding>,
}

struct Forwarding {
    target: Mutex<SocketAddr>,
    /// Every connection, both ends, to cut them all at once.
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
    /// The target of each connection made, in order.
    made: Mutex<Vec<SocketAddr>>,
}

impl Forwarder {
    fn start(target: SocketAddr) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Forwarding {
            target: Mutex::new(target),
            open: Mutex::new(Vec::new()),
            made: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                let to = *shared.target.lock().expect("target");
                shared.made.lock().expect("made").push(to);
                // A target that is down: the device's connection just closes, as a load
                // balancer's would without a healthy backend.
                let Ok(outbound) = TcpStream::connect(to) else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                shared.open.lock().expect("open").push((
                    inbound.try_clone().expect("clone"),
                    outbound.try_clone().expect("clone"),
                ));
                let (up_from, up_to) = (
                    inbound.try_clone().expect("clone"),
                    outbound.try_clone().expect("clone"),
                );
                std::thread::spawn(move || pipe(up_from, up_to));
                std::thread::spawn(move || pipe(outbound, inbound));
            }
        });
        Forwarder { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// New connections go to `target` from now on.
    fn point_at(&self, target: SocketAddr) {
        *self.state.target.lock().expect("target") = target;
    }

    /// Cuts every connection, both ends: what a device sees when the machine behind them dies.
    fn cut_all(&self) {
        for (a, b) in self.state.open.lock().expect("open").drain(..) {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    /// Connections made to `target` so far.
    fn made_to(&self, target: SocketAddr) -> usize {
        let made = self.state.made.lock().expect("made");
        made.iter().filter(|t| **t == target).count()
    }
}

/// Copies one direction until it ends; then ends the other side's writing.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Live streams a server holds now, from its `/metrics` (plain HTTP/1.0 over a socket).
fn streams_on(server: &TestServer) -> u64 {
    let mut conn = TcpStream::connect(server.addr()).expect("connect");
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .expect("send");
    let mut text = String::new();
    conn.read_to_string(&mut text).expect("read");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("syncline_live_streams ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A device that syncs only on a live hint (and its catch-up after a reconnect).
fn live(url: &str, token: &str, heartbeat: Duration) -> Config {
    let mut config = Config::new(url, token);
    config.auto = AutoSync {
        on_hint: true,
        ..AutoSync::manual()
    };
    config.live = true;
    config.live_heartbeat = heartbeat;
    config
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < HANG, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

/// The device's `p-harbor` tasks as its watch delivers them.
fn watch_harbor(client: &Syncline) -> (ListenerHandle, mpsc::Receiver<Page>) {
    let (tx, rx) = mpsc::channel();
    let query = Query::all(10_000).filter("project_id", Value::Text(HARBOR.into()));
    let handle = client
        .watch(TASKS, &query, move |page| {
            if let Ok(page) = page {
                let _ = tx.send(page);
            }
        })
        .expect("watch");
    (handle, rx)
}

fn page_with(pages: &mpsc::Receiver<Page>, key: &str) {
    let start = Instant::now();
    loop {
        let left = HANG.saturating_sub(start.elapsed());
        let page = pages
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("`{key}` never reached the watch"));
        if page.records.iter().any(|r| r.key == key) {
            return;
        }
    }
}

/// A task written on `server` directly, as bob's push to that instance would.
fn commit_on(server: &TestServer, key: &str) {
    let fields = json!({"project_id": HARBOR, "title": format!("Task {key}"), "done": false});
    server
        .store()
        .upsert_record(TASKS, key, fields.as_object().expect("fields"))
        .expect("write on the instance");
}

/// A seeded database, instance A on it, and B too on PostgreSQL (on SQLite B comes later).
fn instances() -> (ScratchDb, TestServer, Option<TestServer>) {
    let db = ScratchDb::new();
    let store = db.open_sample().expect("open");
    syncline_server::seed_demo(&store).expect("seed");
    drop(store);
    let a = TestServer::start_at(db.location().clone());
    let b = (test_backend() == "postgres").then(|| TestServer::start_at(db.location().clone()));
    (db, a, b)
}

/// B: the one running since the start, or (SQLite) a new instance on A's file now that A is
/// gone.
fn b_now(db: &ScratchDb, b: Option<TestServer>) -> TestServer {
    b.unwrap_or_else(|| TestServer::start_at(db.location().clone()))
}

/// Waits for the device's stream to go down and come up again; how long after `since`.
fn relived(events: &mut tokio::sync::broadcast::Receiver<Event>, since: Instant) -> Duration {
    let mut down = false;
    loop {
        assert!(since.elapsed() < HANG, "the stream never came back");
        match events.try_recv() {
            Ok(Event::LiveChanged { live: false }) => down = true,
            Ok(Event::LiveChanged { live: true }) if down => return since.elapsed(),
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

#[test]
fn a_killed_instance_sends_its_devices_to_another() {
    let (db, mut a, b) = instances();
    let lb = Forwarder::start(a.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = client_with(
        dir.path(),
        "alice",
        live(&lb.url(), "demo-alice", Duration::from_secs(5)),
    );
    wait_for("alice live on a", || alice.is_live());
    assert_eq!(streams_on(&a), 1);
    let (_watch, pages) = watch_harbor(&alice);
    let mut events = alice.events();

    // A dies: every connection through it ends at once, and it serves no more.
    let killed = Instant::now();
    let b_addr = b.as_ref().map(TestServer::addr);
    if let Some(addr) = b_addr {
        lb.point_at(addr);
    }
    lb.cut_all();
    a.stop();
    let b = b_now(&db, b);
    lb.point_at(b.addr());
    let back = relived(&mut events, killed);
    wait_for("the stream held by b", || streams_on(&b) == 1);
    assert!(lb.made_to(b.addr()) >= 1);

    // A change committed on B reaches the live query by B's hint (the device syncs on
    // nothing else, and its catch-up sync after reconnecting is over).
    let committed = Instant::now();
    commit_on(&b, "t-after-failover");
    page_with(&pages, "t-after-failover");
    println!(
        "killed instance ({}): live again on b {:.0} ms after the kill; b's change in the \
         watch {:.0} ms after its commit",
        test_backend(),
        back.as_secs_f64() * 1000.0,
        committed.elapsed().as_secs_f64() * 1000.0,
    );
}

#[test]
fn a_shutdown_says_bye_and_the_device_reconnects_at_once() {
    let (db, mut a, b) = instances();
    let lb = Forwarder::start(a.addr());
    let heartbeat = Duration::from_secs(25);
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = client_with(
        dir.path(),
        "alice",
        live(&lb.url(), "demo-alice", heartbeat),
    );
    wait_for("alice live on a", || alice.is_live());
    let (_watch, pages) = watch_harbor(&alice);
    let mut events = alice.events();
    if let Some(b) = &b {
        lb.point_at(b.addr());
    }

    // A stops gracefully: its streams get `bye shutdown` and end, and the device reconnects
    // after its first, short backoff instead of waiting out two heartbeats (50 s here) to call
    // the stream dead.
    let stopping = Instant::now();
    a.stop();
    let b = b_now(&db, b);
    lb.point_at(b.addr());
    let back = relived(&mut events, stopping);
    wait_for("the stream held by b", || streams_on(&b) == 1);
    // Reconnect delays start at 1 s (full jitter); a dead stream is found only after two
    // heartbeats (50 s here). Well under that, with room for a loaded machine.
    assert!(back < heartbeat, "reconnected {back:?} after the shutdown");
    commit_on(&b, "t-after-bye");
    page_with(&pages, "t-after-bye");
    println!(
        "graceful shutdown ({}): live again on b {:.0} ms after the stop began (dead-stream \
         timeout {} s)",
        test_backend(),
        back.as_secs_f64() * 1000.0,
        (heartbeat * 2).as_secs(),
    );
}
