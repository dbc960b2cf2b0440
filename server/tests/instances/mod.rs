//! Shared by the multi-process tests (`ordering.rs`, `crash.rs`): the real server binary run as
//! child processes on one database, and a small seeded random number generator.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `syncline-server` process (the binary cargo built for these tests) on `127.0.0.1:<free
/// port>`, killed with SIGKILL when dropped.
pub struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    /// Starts the server on `db` (a SQLite file or a PostgreSQL URL) with the per-user rate
    /// limit, the auth-failure budget and the pull cap off (the tests' many threads all act for a
    /// few users), and with `SYNCLINE_TEST_SLOW_WRITES=<slow_writes>` when given. Waits for its
    /// `listening on http://…` line.
    ///
    /// # Panics
    /// When it does not start within 30 s.
    pub fn start(db: &str, slow_writes: Option<&str>) -> ServerProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncline-server"));
        cmd.args([
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--rate-per-user",
            "0",
            "--auth-failures-per-minute",
            "0",
            "--max-concurrent-pulls",
            "256",
        ])
        // Errors only: the slow-writes warning and request lines would drown the test's output.
        .env("RUST_LOG", "error")
        .env_remove("SYNCLINE_DB")
        .env_remove("SYNCLINE_TEST_SLOW_WRITES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if let Some(spec) = slow_writes {
            cmd.env("SYNCLINE_TEST_SLOW_WRITES", spec);
        }
        let mut child = cmd.spawn().expect("start syncline-server");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so the pipe never fills; hands over the listening line.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => ServerProcess { child, url },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("syncline-server did not start on {db}: {status:?}");
            }
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SplitMix64: a tiny seeded generator, so a failing run's choices can be replayed from its
/// seed (thread interleavings cannot be, but the operations each thread makes can).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A `u64` from the environment variable `name`, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not `{v}`")),
        Err(_) => default,
    }
}

/// A seed from the clock, for runs that do not name one.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}
