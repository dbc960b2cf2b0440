//! Any status with any body, for each request: error bodies (`{"error": …}`), `/v1/me`'s
//! answer, and non-2xx answers to pushes and pulls. Bytes 0–1: the status (100–599), byte 2: the
//! request, byte 3: a `Retry-After` or none; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncline_core::testing::fuzzing::{Answer, ClientTarget};

fn target() -> &'static ClientTarget {
    ClientTarget::shared().expect("the device store to fuzz")
}

fuzz_target!(|data: &[u8]| {
    let [s0, s1, which, retry, body @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_le_bytes([*s0, *s1]) % 500;
    let answer = match which % 3 {
        0 => Answer::Me,
        1 => Answer::Push,
        _ => Answer::Pull(*which),
    };
    let retry_after = (*retry != 0).then(|| u64::from(*retry) << (retry % 64));
    target().answer(answer, status, retry_after, body);
});
