//! Proptest strategies of JSON values: shaped enough to get past a JSON parser, random enough
//! to reach every branch of a decoder behind it.

use proptest::prelude::*;
use proptest::string::string_regex;
use serde_json::{json, Value as J};

/// Any JSON value, nested up to three levels: null, booleans, integers (`u64::MAX` too, which
/// no `i64` holds), floats, short ids, text of up to `max_text` characters, and `words` (names a
/// decoder looks for, such as the schema's entities and fields, so that generated values reach
/// past its first lookup), inside arrays and objects of a few entries.
pub fn any_json(words: &'static [&'static str], max_text: usize) -> BoxedStrategy<J> {
    // A valid pattern for every bound; should it ever fail, the leaf is one more null.
    let text = string_regex(&format!(".{{0,{max_text}}}"))
        .map(|s| s.prop_map(J::String).boxed())
        .unwrap_or_else(|_| Just(J::Null).boxed());
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        Just(json!(u64::MAX)),
        word(words),
        "[a-z0-9_-]{0,8}".prop_map(J::String),
        text,
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            prop::collection::hash_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// One of `words` as a JSON string (an empty id when there are none).
fn word(words: &'static [&'static str]) -> BoxedStrategy<J> {
    if words.is_empty() {
        return Just(J::String(String::new())).boxed();
    }
    prop::sample::select(words)
        .prop_map(|w| J::String(w.to_string()))
        .boxed()
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    /// Words are generated, texts stay within their bound, and nesting happens.
    #[test]
    fn values_cover_words_bounds_and_nesting() {
        let strategy = any_json(&["tasks", "title"], 5);
        let mut runner = TestRunner::deterministic();
        let (mut words, mut nested) = (0, 0);
        for _ in 0..2000 {
            let v = strategy.new_tree(&mut runner).expect("value").current();
            match &v {
                J::String(s) => {
                    assert!(s.chars().count() <= 8, "{s:?}");
                    words += usize::from(s == "tasks" || s == "title");
                }
                J::Array(_) | J::Object(_) => nested += 1,
                _ => {}
            }
        }
        assert!(words > 0 && nested > 0, "words {words}, nested {nested}");
    }
}
