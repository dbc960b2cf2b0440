//! The uniffi facade over `syncline-core`: Kotlin and Swift are generated from this library
//! (`scripts/bindings`). The records, enums and the error that cross the FFI are the core's own
//! types, derived for uniffi by the core's `uniffi` feature (and the protocol crate's); this
//! crate adds only what changes shape at the boundary: the client as an object, the listeners
//! (status, pages, records, conflicts, quarantine) and the log sink as foreign traits. No panic
//! crosses the FFI: uniffi turns one into an error, and the library keeps `panic = "unwind"`.

#![deny(missing_docs)]

uniffi::setup_scaffolding!();

mod client;
mod error;
mod logging;

pub use client::{
    default_config, manual_auto_sync, sample_schema, schema_from_file_text, start_over,
    ConflictListener, ListenerHandle, PageListener, QuarantineListener, RecordListener,
    StatusListener, SynclineClient,
};
pub use error::CallbackError;
pub use logging::{set_log_sink, LogLevel, LogSink};

/// The version of the Syncline core this library was built from.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
