//! Shared by the multi-process tests (`ordering.rs`, `crash.rs`): the real server binary run as
//! child processes on one database, and the seeded random number generator and run settings of
//! `syncline_server::testing`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[allow(unused_imports)] // the throughput bench includes this module without the harness parts
pub use syncline_testing::{clock_seed, env_u64, Rng};

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
