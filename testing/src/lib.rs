//! Test support that Syncline's crates share, and that depends on none of them (as
//! matrix-rust-sdk's `testing/matrix-sdk-test`): only ever a dev-dependency.
//!
//! - [`Rng`], [`env_u64`], [`clock_seed`]: seeded randomness for the reliability harnesses
//!   (`docs/reliability.md`), so a failing run's choices replay from its printed seed;
//! - [`json`]: proptest strategies of JSON values, for the stable fuzz passes over what a server
//!   answers a device (`core/tests/fuzz_answers.rs`) and what a device sends a server
//!   (`server/tests/fuzz_requests.rs`).
//!
//! The fixtures that need a crate's insides stay in that crate, behind its `testing` feature:
//! a real server on a free port is `syncline_server::testing::TestServer`, the fuzz targets'
//! device is `syncline_core::testing::fuzzing::ClientTarget`.

#![warn(missing_docs)]

pub mod json;
mod rng;

pub use rng::{clock_seed, env_u64, Rng};
