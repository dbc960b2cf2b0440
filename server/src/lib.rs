//! Syncline's reference sync server: bearer-token authentication, per-user scoping by project
//! membership, idempotent push with per-field last-write-wins or reported conflicts, and a lean
//! paged delta pull, over an embedded SQLite database. `docs/protocol.md` is the specification.
//!
//! - [`store::Store`]: the database and its admin operations (users, tokens, memberships,
//!   server-side edits);
//! - [`entities::ServerSchema`]: the served entities, from a schema file (`docs/schema.md`;
//!   [`schema_file::load`]) checked at every start against the one the database was last opened
//!   with;
//! - [`http::router`] / [`serve`]: the HTTP endpoints;
//! - [`ops`], [`limits`], [`metrics`], [`request_id`]: what a public deployment needs (health,
//!   metrics, request ids, rate and concurrency limits), configured by [`ServerOptions`];
//! - [`demo::seed_demo`]: demo users and data;
//! - [`token_hash`]: new opaque bearer tokens and the SHA-256 hash the database keeps instead;
//! - [`jwt`]: verifying JWT bearer tokens from a team's own identity provider (HS256 secret or a
//!   JWKS file), with [`jwt::looks_like_jwt`] to route a bearer token to the right check;
//! - `testing` (cargo feature `testing`, for tests and benchmarks only): `TestServer`, a real
//!   server on a free port, and bulk data loaders; `fuzzing`, the fuzz targets' entry point.

#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod db;
pub mod demo;
pub mod entities;
#[cfg(feature = "testing")]
pub mod fuzzing;
pub mod http;
pub mod jwt;
pub mod limits;
pub mod metrics;
pub mod ops;
pub mod pull;
pub mod push;
pub mod request_id;
pub mod schema_file;
pub mod store;
mod test_hooks;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token_hash;

pub use db::Location;
pub use demo::seed_demo;
pub use entities::{ScopeRule, ServedEntity, ServerSchema};
pub use http::{router, router_with, serve, serve_with};
pub use limits::Limits;
pub use ops::ServerOptions;
pub use store::{Store, StoreError, StoredRecord};
#[cfg(feature = "testing")]
pub use testing::TestServer;
