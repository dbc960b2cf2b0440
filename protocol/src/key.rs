//! What a record key may be, one rule for the devices and the server on either database.
//!
//! Keys are identifiers: they go into URLs, logs, CSV exports and both databases' text columns.
//! PostgreSQL's `text` cannot hold U+0000 at all (a push holding such a key failed whole, with
//! `500 internal`, on every retry, while SQLite stored it), and the other control characters
//! only ever arrive by mistake. So a key is 1 to [`MAX_KEY_LEN`] bytes of UTF-8 with no control
//! character (`char::is_control`: U+0000–U+001F and U+007F–U+009F).

/// The longest record key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 256;

/// Why `key` cannot be a record key, or `None` when it can.
pub fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Some(format!("a key must be 1 to {MAX_KEY_LEN} bytes long"));
    }
    key.chars().find(|c| c.is_control()).map(|c| {
        format!(
            "a key must not hold control characters (it holds U+{:04X})",
            u32::from(c)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_text_without_control_characters() {
        for good in [
            "t-1",
            "0190f3a2-7c1e-7d4e-9a3b-2f1c0d9e8b7a",
            "Straße 7",
            "キー",
            "a b",
        ] {
            assert_eq!(key_problem(good), None, "{good:?}");
        }
        assert_eq!(key_problem(&"k".repeat(MAX_KEY_LEN)), None);
        assert!(key_problem("").is_some());
        assert!(key_problem(&"k".repeat(MAX_KEY_LEN + 1)).is_some());
        // Bytes, not characters: 129 two-byte characters are 258 bytes.
        assert!(key_problem(&"ß".repeat(129)).is_some());
        for bad in ["k\u{0}ey", "tab\there", "line\n", "del\u{7f}", "c1\u{85}"] {
            let problem = key_problem(bad).expect(bad);
            assert!(problem.contains("control characters"), "{problem}");
        }
        assert_eq!(
            key_problem("k\u{0}ey").as_deref(),
            Some("a key must not hold control characters (it holds U+0000)")
        );
    }
}
