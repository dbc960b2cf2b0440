//! The stored `data` arrays, split into their elements without parsing them: a pull copies each
//! value's text straight into its page, and the schema check at open counts values by slot (a
//! leaf).

use std::ops::Range;

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Index just past the string whose opening quote is at `i`.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[j] == b'"' {
            return Some(j + 1);
        }
        i = j + 2;
    }
}

/// Index just past the array or object whose opening bracket is at `i`.
fn skip_nested(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *b.get(i)? {
            b'"' => {
                i = skip_string(b, i)?;
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// Splits the text of a JSON array into the byte ranges of its top-level elements. Returns
/// `None` when the text is not an array (the store writes these, so that means corruption).
/// Elements are delimited, not validated.
pub(crate) fn split_array(b: &[u8], out: &mut Vec<Range<usize>>) -> Option<()> {
    out.clear();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(());
    }
    loop {
        let start = i;
        let end = match *b.get(i)? {
            b'"' => skip_string(b, i)?,
            b'[' | b'{' => skip_nested(b, i)?,
            b',' | b']' | b'}' => return None,
            // A number or literal: it runs to the next delimiter.
            _ => i + memchr::memchr2(b',', b']', b.get(i..)?)?,
        };
        let mut trimmed = end;
        while trimmed > start && b[trimmed - 1].is_ascii_whitespace() {
            trimmed -= 1;
        }
        out.push(start..trimmed);
        i = skip_ws(b, end);
        match *b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b']' => return Some(()),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Option<Vec<&str>> {
        let mut r = Vec::new();
        split_array(text.as_bytes(), &mut r)?;
        Some(r.into_iter().map(|x| &text[x]).collect())
    }

    #[test]
    fn arrays_are_split_into_elements() {
        assert_eq!(split("[]"), Some(vec![]));
        assert_eq!(split(" [ ] "), Some(vec![]));
        assert_eq!(
            split(r#"["a,b",1,null,true,{"x":[1,2]},[3,"]"],"q\"]",2.5]"#),
            Some(vec![
                r#""a,b""#,
                "1",
                "null",
                "true",
                r#"{"x":[1,2]}"#,
                r#"[3,"]"]"#,
                r#""q\"]""#,
                "2.5"
            ])
        );
        assert_eq!(split("[ 1 , 2 ]"), Some(vec!["1", "2"]));
        for bad in [
            "",
            "{}",
            "[1,",
            "[\"abc",
            "[1,]",
            "[,1]",
            "[}]",
            "[\"\\",
            "[[1]",
            "[\"a\" 1]",
        ] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }
}
