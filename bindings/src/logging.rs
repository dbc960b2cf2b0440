//! The core's log, routed to the host: Android sends it to Logcat, iOS to the unified log. Records
//! are handed to the host from one background thread, never from the thread that logged (which
//! may hold a lock or be inside a transaction).

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

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

struct Forwarder {
    tx: Mutex<SyncSender<(LogLevel, String, String)>>,
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
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.try_send(item);
        }
    }

    fn flush(&self) {}
}

static SINK: OnceCell<Mutex<Option<Arc<dyn LogSink>>>> = OnceCell::new();

/// Sends the core's log at `max_level` and above to `sink` (replacing an earlier sink).
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) {
    let slot = SINK.get_or_init(|| {
        let (tx, rx) = sync_channel::<(LogLevel, String, String)>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("syncline-log".into())
            .spawn(move || {
                for (level, target, message) in rx {
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
            });
        if spawned.is_ok() {
            // Installed once for the life of the process (hence leaked); fails only when another
            // logger is installed (e.g. by a Rust host): keep that one.
            let forwarder: &'static Forwarder =
                Box::leak(Box::new(Forwarder { tx: Mutex::new(tx) }));
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
