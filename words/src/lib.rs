//! The words of Syncline's sync banner for Rust apps, in English and German.
//!
//! The core hands an app structure only: a [`Banner`](syncline_core::Banner) with a
//! [`FailureReason`](syncline_core::FailureReason), and each record's
//! [`RecordState`](syncline_core::RecordState). [`BannerText`] turns them into the sentences of
//! `docs/banner-text.md` by the same rules as the Kotlin and Swift `BannerText`, in a [`Lang`]
//! chosen by the app or by the user's locale:
//!
//! ```
//! use syncline_core::{Banner, BannerKind};
//! use syncline_words::{BannerText, Lang};
//!
//! let words = BannerText::new(Lang::from_env());
//! let offline = Banner { kind: BannerKind::Offline, pending: 2, ..Banner::hidden() };
//! println!("{}", words.title(&offline).unwrap_or_default());
//! assert_eq!(
//!     BannerText::new(Lang::De).title(&offline).as_deref(),
//!     Some("Du bist offline · 2 Änderungen warten auf Synchronisierung")
//! );
//! ```
//!
//! Every module is private; this file re-exports what an app uses. The mobile library
//! (`bindings/`) never depends on this crate: Kotlin and Swift have their own tables.

#![deny(missing_docs)]

mod banner_text;
mod lang;
mod table;

pub use banner_text::BannerText;
pub use lang::Lang;
pub use table::fill;
