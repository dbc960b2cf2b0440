//! Syncline's shared vocabulary, used by the client core and the reference server alike, with no
//! I/O of its own: the wire protocol (request and response bodies of `docs/protocol.md`), entity
//! schemas with the name checks that make them safe to put into SQL, and typed field values.

#![warn(missing_docs)]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("syncline_protocol");

mod error;
pub mod sample;
mod schema;
mod value;
mod wire;

pub use error::SchemaError;
pub use schema::{
    validate_identifier, ConflictPolicy, EntitySchema, FieldDef, FieldType, Schema, SyncMode,
    SyncSettings, MAX_NAME_LEN,
};
pub use value::Value;
pub use wire::*;
