//! A request to the server, through its whole router. Byte 0 picks method and path; byte 1 the
//! `Authorization` header (bits 0–1: the demo token, none, raw bytes, a JWT signed over fuzzed
//! header and claims) and the body's encoding (bits 2–3: identity, gzip, broken gzip). For raw
//! and JWT headers the rest is `header bytes, 0x00, body` (a JWT's header bytes are `header
//! JSON, 0x01, claims JSON`); otherwise the rest is the body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use syncline_server::testing::fuzzing::{signed_jwt, Encoding, ServerTarget, TOKEN};

fn target() -> &'static ServerTarget {
    static TARGET: OnceLock<ServerTarget> = OnceLock::new();
    TARGET.get_or_init(ServerTarget::new)
}

fn split(data: &[u8], at: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == at) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let [endpoint, mode, rest @ ..] = data else {
        return;
    };
    let encoding = match (mode >> 2) & 3 {
        1 => Encoding::Gzip,
        2 => Encoding::FalseGzip,
        _ => Encoding::Identity,
    };
    let token = format!("Bearer {TOKEN}").into_bytes();
    let (auth, body): (Option<Vec<u8>>, &[u8]) = match mode & 3 {
        0 => (Some(token), rest),
        1 => (None, rest),
        2 => {
            let (auth, body) = split(rest, 0);
            (Some(auth.to_vec()), body)
        }
        _ => {
            let (auth, body) = split(rest, 0);
            let (header, claims) = split(auth, 1);
            (Some(signed_jwt(header, claims)), body)
        }
    };
    target().request(*endpoint, auth.as_deref(), encoding, body);
});
