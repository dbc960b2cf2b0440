//! Syncline's shared vocabulary, used by the client core and the reference server alike, with no
//! I/O of its own: the wire protocol (request and response bodies of `docs/protocol.md`), entity
//! schemas with the name checks that make them safe to put into SQL, schema files (an app's
//! entities declared once, in TOML, for the server and the devices: `docs/schema.md`), and typed
//! field values.

#![deny(missing_docs)]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("syncline_protocol");

mod attachment;
mod error;
mod key;
pub mod sample;
mod schema;
mod schema_file;
mod value;
mod wire;

pub use attachment::{
    is_sha256, AttachmentRef, UploadRequest, UploadState, BLOBS_PATH, DEFAULT_MAX_BLOB_BYTES,
    MAX_ATTACHMENT_LABEL, UPLOADS_PATH, UPLOAD_OFFSET_HEADER,
};
pub use error::{SchemaError, SchemaFileError};
pub use key::{key_problem, MAX_KEY_LEN};
pub use schema::{
    validate_identifier, ConflictPolicy, EntitySchema, FieldDef, FieldType, Schema, SyncMode,
    SyncSettings, MAX_NAME_LEN,
};
pub use schema_file::{
    EntityDecl, RulesFailure, SchemaFile, ScopeRule, ServerSet, ServerValue, SetOn, WriteRules,
};
pub use value::Value;
pub use wire::{
    codes, ErrorBody, ErrorDetail, Me, Mutation, MutationResult, OnConflict, Op, Outcome, PullPage,
    PullRequest, PushRequest, PushResponse, WireFields, WireRecord, LIVE_PATH, MAX_PULL_LIMIT,
    MAX_PUSH_MUTATIONS, MAX_REQUEST_BYTES, ME_PATH, PREFIX, PULL_PATH, PUSH_PATH,
};
