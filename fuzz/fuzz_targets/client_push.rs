//! A push answer: the 200 answer's body, decoded and applied to a device store with pending
//! inserts, an update, a delete and an append-only insert (rolled back after each input).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use syncline_core::fuzzing::{Answer, ClientTarget};

fn target() -> &'static ClientTarget {
    static TARGET: OnceLock<ClientTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("syncline-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        ClientTarget::open(&dir.join("device.db")).expect("device store")
    })
}

fuzz_target!(|data: &[u8]| {
    target().answer(Answer::Push, 200, None, data);
});
