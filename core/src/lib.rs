//! Syncline's core: an offline-first sync engine for mobile apps, in plain Rust.
//!
//! The app declares its entities ([`schema`]), opens a [`Syncline`] client on a local SQLite
//! file, reads and writes records (every write lands in the durable [`outbox`] in the same
//! transaction), and calls [`Syncline::sync_now`] to push the outbox and pull what changed on the
//! server, page by page.

pub mod client;
pub mod config;
pub mod conflict;
pub mod engine;
pub mod error;
pub mod machine;
pub mod outbox;
pub mod protocol;
pub mod queue;
pub mod runtime;
pub mod sample;
pub mod schema;
mod settle;
pub mod status;
pub mod store;
pub mod transport;
pub mod value;

pub use client::Syncline;
pub use config::{Config, SyncUnit};
pub use conflict::{Conflict, Resolution};
pub use engine::{EntityReport, SyncReport};
pub use error::{Error, Result};
pub use machine::{AutoSync, Connectivity, NetworkStatus, NetworkType};
pub use outbox::{MutationReceipt, QuarantinedMutation};
pub use outbox::{MutationStage, Stage};
pub use schema::{
    ConflictPolicy, EntitySchema, FieldDef, FieldType, Schema, SyncMode, SyncSettings,
};
pub use status::{Banner, Phase, Progress, Status, SyncState};
pub use store::{Counts, Order, Page, Query};
pub use value::{Record, Value};
