//! Live change hints (`GET /v1/live`, docs/protocol.md; decision 0032): the streams an instance
//! holds. [`Streams`] counts them against the per-user and per-instance caps and tells them
//! when the server shuts down; [`stream`] is one stream's life, from `hello` to `bye`, woken by
//! the commits of every instance through the store's hub (`wakeup.rs`) and never by a timer on
//! the database.
//!
//! The events are this module's own ([`LiveEvent`]); the HTTP face (`http/live.rs`) writes them
//! as server-sent events and adds the heartbeat.

mod event;
mod registry;
mod stream;

pub(crate) use event::{Credential, LiveEvent};
pub(crate) use registry::Streams;
pub(crate) use stream::{open, Opening};

/// Streams one user may hold on one instance unless configured.
pub const DEFAULT_STREAMS_PER_USER: usize = 10;
/// Streams one instance holds at most unless configured.
pub const DEFAULT_STREAMS_PER_INSTANCE: usize = 20_000;
