//! Syncline's core: an offline-first sync engine for mobile apps, in plain Rust.
//!
//! The app declares its entities ([`Schema`]), opens a [`Syncline`] client on a local SQLite
//! file, reads and writes records (every write lands in the durable outbox in the same
//! transaction), and syncs: by itself as [`AutoSync`] says, or when asked
//! ([`Syncline::trigger_sync`], [`Syncline::sync_now`]). [`SyncStatus`] and its [`Banner`] say what
//! to show; they carry structure only, and each front end turns them into words.
//!
//! Every module is private; this file re-exports exactly what an app uses.

#![warn(missing_docs)]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("syncline_core");

mod autosync;
mod changes;
mod client;
mod collection;
mod config;
mod conflict;
mod driver;
mod engine;
mod error;
mod live;
mod machine;
mod model;
mod mutation;
mod network;
mod pulled;
mod queue;
mod record;
mod runtime;
mod shared;
mod status;
mod store;
mod stream;
// Test support (fuzz entry points, the store's fault switches): this crate's tests and the
// `testing` feature only, which tests, benchmarks and the fuzz targets turn on; never an app.
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
mod tls;
mod transport;

pub use autosync::{AutoSync, ALL_UNIT};
pub use client::Syncline;
pub use collection::Collection;
pub use config::{Config, SyncUnit};
pub use conflict::{Conflict, Resolution};
pub use driver::Event;
pub use engine::{EntityReport, SyncReport};
pub use error::SynclineError;
pub use live::ListenerHandle;
pub use mutation::{MutationReceipt, MutationStage, QuarantinedMutation};
pub use network::{Connectivity, NetworkStatus, NetworkType};
pub use queue::SyncRequest;
pub use record::{Filter, Page, Query, Record, RecordState, Sort, SortOrder};
pub use status::{
    Banner, BannerKind, FailureReason, Phase, StorageErrorKind, SyncProgress, SyncState, SyncStatus,
};
pub use store::Salvage;
pub use syncline_protocol::{
    ConflictPolicy, EntityDecl, EntitySchema, FieldDef, FieldType, Op, Schema, SchemaError,
    SchemaFile, SchemaFileError, ScopeRule, ServerSet, ServerValue, SetOn, SyncMode, SyncSettings,
    Value,
};

/// What every fallible public call returns.
pub type Result<T> = std::result::Result<T, SynclineError>;
