//! Opaque bearer tokens: making new ones and the hash the database keeps instead of the token.
//!
//! The store keeps `hash_token(token)` and looks a presented token up by its hash, so a leaked
//! database (a backup, a replica, an SQL injection elsewhere) yields no token that works against
//! the server.
//!
//! Why no constant-time comparison: the lookup is an index search for the *hash* of the presented
//! token. Timing can at best tell an attacker how many leading bytes of a hash they chose matched a
//! stored hash; knowing a stored hash is no help without a SHA-256 preimage of it, and a token
//! whose hash shares a prefix with a real one is no closer to being that token.

use sha2::{Digest, Sha256};

/// Random bytes in a new token: 256 bits, so guessing one, or a preimage of a stored hash, is out
/// of reach (the UUID v4 tokens issued before carried 122 random bits).
const TOKEN_BYTES: usize = 32;

/// The operating system's random number generator failed; no token can be issued safely.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed: {0}")]
pub struct RngError(#[from] getrandom::Error);

/// The value the database stores for a token: SHA-256 of its UTF-8 bytes, 64 lowercase hex digits.
///
/// A plain fast hash is enough, with no salt and no slow KDF (bcrypt, Argon2): those protect
/// low-entropy secrets such as passwords, where an attacker with the hash can try likely inputs.
/// Tokens from [`new_token`] carry 256 random bits (older UUID v4 tokens 122), so there is nothing
/// likely to try and a preimage search is infeasible; a slow hash would only cost CPU on every
/// request. Deterministic on purpose: the store finds a token by its hash in an index. (The
/// demo's fixed tokens, such as `demo-alice`, are guessable, but they are public anyway.)
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A fresh opaque bearer token: 32 bytes from the operating system's RNG (`getrandom`), as 64
/// lowercase hex digits.
///
/// Lowercase hex like the UUID v4 "simple" tokens issued before, only longer: no dots (so
/// [`crate::jwt::looks_like_jwt`] never takes it for a JWT), no spaces, safe in a header and a
/// URL. Errs only when the OS RNG fails (for example, read before the kernel's pool is
/// initialised); a token from a weaker source would be worse than no token.
pub fn new_token() -> Result<String, RngError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// Lowercase hex of bytes (two digits per byte).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hashes_are_sha256_in_lowercase_hex() {
        // Known answers (FIPS 180-2 test vector "abc", and the empty string).
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_token(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(hash_token("demo-alice"), hash_token("demo-alice"));
        assert_ne!(hash_token("demo-alice"), hash_token("demo-bob"));
    }

    #[test]
    fn new_tokens_are_64_hex_digits_and_distinct() {
        let tokens: HashSet<String> = (0..1000).map(|_| new_token().expect("rng")).collect();
        assert_eq!(tokens.len(), 1000);
        for t in &tokens {
            assert_eq!(t.len(), 64);
            assert!(t
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            assert!(!crate::jwt::looks_like_jwt(t));
        }
    }

    #[test]
    fn hex_encodes_every_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }
}
