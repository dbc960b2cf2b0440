//! A push answer: the 200 answer's body, decoded and applied to a device store with pending
//! inserts, an update, a delete and an append-only insert (rolled back after each input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncline_core::testing::fuzzing::{Answer, ClientTarget};

fn target() -> &'static ClientTarget {
    ClientTarget::shared().expect("the device store to fuzz")
}

fuzz_target!(|data: &[u8]| {
    target().answer(Answer::Push, 200, None, data);
});
