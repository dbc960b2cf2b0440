//! Syncline's core: an offline-first sync engine for mobile apps, in plain Rust.
//!
//! The app declares its entities ([`Schema`]), opens a [`Syncline`] client on a local SQLite
//! file, reads and writes records (every write lands in the durable outbox in the same
//! transaction), and syncs: by itself as [`AutoSync`] says, or when asked
//! ([`Syncline::trigger_sync`], [`Syncline::sync_now`]). [`SyncStatus`] and its [`Banner`] say what
//! to show; they carry structure only, and each front end turns them into words.
//!
//! Every module is private; this file re-exports exactly what an app uses.
//!
//! # A first app
//!
//! Open a client, write a record, sync, read it back and follow a query. Written against the
//! demo (`cargo run -p syncline-cli -- demo`: its server on `127.0.0.1:8787`, alice's token);
//! here it runs against a server this example starts. `docs/quickstart.md` in the repository goes on to a second
//! device, a conflict and its resolution, in Rust, Kotlin and Swift.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = syncline_server::testing::TestServer::with_demo();
//! # let url = server.url();
//! # let folder = tempfile::tempdir()?;
//! # let path = folder.path().join("app.db");
//! use syncline_core::{Config, Query, Record, SortOrder, Syncline, Value};
//!
//! // The entities (docs/schema.md); an app usually parses its own schema file.
//! let schema = syncline_protocol::sample::schema()?;
//! let client = Syncline::open(&path, schema, Config::new(&url, "demo-alice"))?;
//!
//! // Saved at once, with its outbox entry, in one transaction; pushed by the next sync.
//! client.insert("tasks", Record::new("t-first-app")
//!     .with("project_id", Value::Text("p-harbor".into()))
//!     .with("title", Value::Text("Inspect pump".into())))?;
//!
//! // Push, then pull; joins the sync the client started by itself at open.
//! let report = client.sync_now_blocking("all")?;
//! assert!(report.entities.iter().any(|e| e.entity == "tasks" && e.pushed == 1));
//!
//! // Read: `None` for a record the device does not have, `None` for an unset field.
//! let task = client.get("tasks", "t-first-app")?.expect("just written");
//! assert_eq!(task.text("title"), Some("Inspect pump"));
//! assert_eq!(task.boolean("done"), None);
//!
//! // One page of a query; `watch` takes the same arguments and follows it.
//! let open = Query::all(50)
//!     .filter("project_id", Value::Text("p-harbor".into()))
//!     .order("title", SortOrder::Ascending);
//! let page = client.query("tasks", &open)?;
//! assert!(page.records.iter().any(|r| r.key == "t-first-app"));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("syncline_core");

mod attachments;
mod autosync;
mod changes;
mod client;
mod collection;
mod config;
mod conflict;
mod driver;
mod engine;
mod error;
mod hints;
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
mod sse;
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
pub use client::{AttachmentState, Syncline};
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
/// The server's stable error and rejection codes (`QuarantinedMutation::code` is one of them).
pub use syncline_protocol::codes;
pub use syncline_protocol::{
    AttachmentRef, ConflictPolicy, EntityDecl, EntitySchema, FieldDef, FieldType, Op, Schema,
    SchemaError, SchemaFile, SchemaFileError, ScopeRule, ServerSet, ServerValue, SetOn, SyncMode,
    SyncSettings, Value,
};

/// What every fallible public call returns.
pub type Result<T> = std::result::Result<T, SynclineError>;
