//! The core's log, routed to the host: Android sends it to Logcat, iOS to the unified log. Records
//! are handed to the host from one background thread, never from the thread that logged (which
//! may hold a lock or be inside a transaction).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use once_cell::sync::OnceCell;

/// A log record's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something is off.
    Warn,
    /// A milestone (a sync done).
    Info,
    /// Detail for debugging.
    Debug,
    /// Everything.
    Trace,
}

/// The host's log, implemented by the shell.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// Writes one record.
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// Records waiting for the host (bounded: when the host is slower than the core logs, records
/// are dropped rather than blocking sync).
const QUEUE: usize = 1024;

/// One record for the host.
type Item = (LogLevel, String, String);

/// Records waiting for the forwarding thread. A mutex-guarded queue and a condition variable
/// rather than a channel: the mobile library carries one channel implementation fewer.
struct Forwarder {
    queue: Mutex<VecDeque<Item>>,
    ready: Condvar,
}

impl log::Log for Forwarder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = match record.level() {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        };
        let item = (
            level,
            record.target().to_string(),
            record.args().to_string(),
        );
        if let Ok(mut queue) = self.queue.lock() {
            if queue.len() < QUEUE {
                queue.push_back(item);
                self.ready.notify_one();
            }
        }
    }

    fn flush(&self) {}
}

static SINK: OnceCell<Mutex<Option<Arc<dyn LogSink>>>> = OnceCell::new();

/// The forwarding thread: hands each queued record to the current sink, for ever.
fn forward(forwarder: &Forwarder) {
    loop {
        let (level, target, message) = {
            let Ok(mut queue) = forwarder.queue.lock() else {
                return;
            };
            loop {
                if let Some(item) = queue.pop_front() {
                    break item;
                }
                queue = match forwarder.ready.wait(queue) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        };
        let sink = SINK
            .get()
            .and_then(|s| s.lock().ok().and_then(|g| g.clone()));
        if let Some(sink) = sink {
            // A host sink that panics must not end the forwarding.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sink.log(level, target, message)
            }));
        }
    }
}

/// Sends the core's log at `max_level` and above to `sink` (replacing an earlier sink).
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) {
    let slot = SINK.get_or_init(|| {
        // Installed once for the life of the process (hence leaked).
        let forwarder: &'static Forwarder = Box::leak(Box::new(Forwarder {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("syncline-log".into())
            .spawn(move || forward(forwarder));
        if spawned.is_ok() {
            // Fails only when another logger is installed (e.g. by a Rust host): keep that one.
            let _ = log::set_logger(forwarder);
        }
        Mutex::new(None)
    });
    if let Ok(mut current) = slot.lock() {
        *current = Some(sink);
    }
    log::set_max_level(match max_level {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    });
}
