//! uniffi's Swift generator for libraries whose types come from several crates: one Swift
//! module, and one FFI modulemap over every crate's header.
fn main() {
    uniffi::uniffi_bindgen_swift()
}
