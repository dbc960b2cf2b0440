//! Syncline's core: an offline-first sync engine for mobile apps, in plain Rust.
//!
//! The app declares its entities ([`schema`]), opens a [`Syncline`] client on a local SQLite
//! file, reads and writes records (every write lands in the durable [`outbox`] in the same
//! transaction), and calls [`Syncline::sync_now`] to push the outbox and pull what changed on the
//! server, page by page.

pub mod error;
pub mod protocol;
pub mod sample;
pub mod schema;
pub mod value;

pub use error::{Error, Result};
pub use schema::{EntitySchema, FieldDef, FieldType, Schema, SyncMode, SyncSettings};
pub use value::{Record, Value};
