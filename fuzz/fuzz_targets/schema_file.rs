//! A schema file's text, as an app hands it to the library (`schemaFromFileText`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        syncline_core::testing::fuzzing::schema_file(text);
    }
});
