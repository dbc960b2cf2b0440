//! Syncline's reference sync server: bearer-token authentication (opaque tokens stored hashed,
//! or JWTs from a team's identity provider), per-user scoping by project membership, idempotent
//! push with per-field last-write-wins or reported conflicts, and a lean paged delta pull, over
//! an embedded SQLite file or PostgreSQL (several stateless instances on one database).
//! `docs/protocol.md` is the specification; `docs/architecture.md` maps the modules.
//!
//! - [`Store`]: the database and its admin operations (users, tokens, memberships, server-side
//!   edits), opened at a [`Location`];
//! - [`ServerSchema`]: the served entities, from a schema file (`docs/schema.md`;
//!   [`ServerSchema::load`]) checked at every start against the one the database was last opened
//!   with;
//! - [`router`] / [`serve`]: the HTTP endpoints (live change hints on `GET /v1/live`, woken
//!   by every commit of every instance), with what a public deployment needs (health,
//!   metrics, request ids, rate and concurrency limits) configured by [`ServerOptions`], and
//!   the push hook ([`PushHookConfig`]) for users with changes and no live stream;
//! - [`openapi_json`]: the OpenAPI 3.1 document of the HTTP API (served at [`OPENAPI_PATH`],
//!   committed as `docs/openapi.json`), and [`route_paths`], the routes it must cover;
//! - [`run_admin`]: the admin commands of the binary; [`seed_demo`]: demo users and data;
//! - [`JwtVerifier`]: verifying JWT bearer tokens (HS256 secret or a JWKS file);
//! - `testing` (cargo feature `testing`, for tests, benchmarks and fuzz targets only):
//!   `TestServer`, a real server on a free port, scratch databases and bulk data loaders;
//!   `testing::fuzzing`, the fuzz target's entry point. Test support that needs no crate's
//!   insides is the `syncline-testing` crate.
//!
//! Every module is private; this file re-exports exactly what the binary, the terminal client
//! and the tests use.

#![warn(missing_docs)]

mod admin;
mod attachments;
mod auth;
pub mod blobs;
mod bulk;
mod clock;
mod db;
mod demo;
mod error;
mod feed;
mod http;
mod jwt;
mod live;
mod pull;
mod push;
mod push_hook;
mod rules;
mod schema;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod token_hash;
mod wakeup;
mod webhooks;

pub use admin::{
    run as run_admin, run_to as run_admin_to, AdminCommand, MemberCommand, ScopeCommand,
    ServiceCommand, TokenCommand, UserCommand, WebhookCommand,
};
pub use attachments::{
    collect_garbage, AttachmentError, Attachments, BlobLimits, BlobReader, GcReport, Through,
};
pub use bulk::{export, export_for, import, import_as, ImportError, IMPORT_BATCH, MAX_IMPORT_LINE};
pub use db::Location;
pub use demo::{seed_demo, DemoSeed, DEMO_USERS, DEPOT, HARBOR, RIDGE};
pub use error::{SchemaError, StoreError};
pub use feed::{Change, ChangesPage, FeedError, FeedOp, FeedQuery, MAX_FEED_LIMIT};
pub use http::{
    default_max_concurrent_pulls, openapi_json, route_paths, router, router_with, serve,
    serve_with, Limits, ServerOptions, DEFAULT_AUTH_FAILURES_PER_MINUTE, DEFAULT_RATE_BURST,
    DEFAULT_RATE_PER_USER, OPENAPI_PATH,
};
pub use jwt::{JwtConfig, JwtConfigError, JwtKeys, JwtVerifier};
pub use live::{DEFAULT_STREAMS_PER_INSTANCE, DEFAULT_STREAMS_PER_USER};
pub use push_hook::{PushHookConfig, DEFAULT_PUSH_HOOK_INTERVAL};
pub use schema::{EntityDef, LoadError, ServedEntity, ServerSchema};
pub use store::{Service, Store, StoredRecord};
pub use syncline_protocol::ScopeRule;
pub use webhooks::{WebhookConfig, WEBHOOK_NAME};
