//! The uniffi facade over `syncline-core`: Kotlin and Swift are generated from this library
//! (`scripts/bindings`). It converts types and owns nothing else; every exported function returns
//! a typed `SynclineError` and no panic crosses the FFI (uniffi turns one into an error).

uniffi::setup_scaffolding!();

mod client;
mod error;
mod logging;
mod types;

pub use client::{
    default_config, manual_auto_sync, sample_schema, ListenerHandle, StatusListener, SynclineClient,
};
pub use error::{CallbackError, SynclineError};
pub use logging::{set_log_sink, LogLevel, LogSink};
pub use types::*;

/// The version of the Syncline core this library was built from.
#[uniffi::export]
pub fn core_version() -> Result<String, SynclineError> {
    Ok(env!("CARGO_PKG_VERSION").to_string())
}
