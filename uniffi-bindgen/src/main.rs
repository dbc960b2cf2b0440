//! The uniffi generator, built from the same pinned uniffi as the library it reads.
fn main() {
    uniffi::uniffi_bindgen_main()
}
