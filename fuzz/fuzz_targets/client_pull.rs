//! A pull page as the server answers it: byte 0 picks the entity the device asked for, the rest
//! is the 200 answer's body, decoded and applied to a device store (rolled back after each input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncline_core::testing::fuzzing::{Answer, ClientTarget};

fn target() -> &'static ClientTarget {
    ClientTarget::shared().expect("the device store to fuzz")
}

fuzz_target!(|data: &[u8]| {
    if let Some((&pick, body)) = data.split_first() {
        target().answer(Answer::Pull(pick), 200, None, body);
    }
});
