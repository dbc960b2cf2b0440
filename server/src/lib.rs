//! Syncline's reference sync server: bearer-token authentication, per-user scoping by project
//! membership, idempotent push with per-field last-write-wins or reported conflicts, and a lean
//! paged delta pull, over an embedded SQLite database. `docs/protocol.md` is the specification.
//!
//! - [`store::Store`]: the database and its admin operations (users, tokens, memberships,
//!   server-side edits, bulk data for benchmarks);
//! - [`http::router`] / [`serve`]: the HTTP endpoints;
//! - [`demo::seed_demo`]: demo users and data;
//! - [`testing::TestServer`]: a real server on a free port, for tests in any crate.

#![warn(missing_docs)]

pub mod auth;
pub mod demo;
pub mod entities;
pub mod http;
pub mod pull;
pub mod push;
pub mod store;
pub mod testing;

pub use demo::seed_demo;
pub use entities::{ScopeRule, ServedEntity, ServerSchema};
pub use http::{router, serve};
pub use store::{Store, StoreError, StoredRecord};
pub use testing::TestServer;
