//! The uniffi facade over `syncline-core`. Filled in by the bindings issue.
uniffi::setup_scaffolding!();

/// The version of the Syncline core this library was built from.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
