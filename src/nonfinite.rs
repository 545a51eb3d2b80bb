//! Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity` as bare
//! words, which is not JSON. Scorers written in Python emit them whenever a
//! model diverges, so a reader that rejected the whole file would punish the
//! operator for one bad clip. When a document fails to parse, these words
//! (outside strings) are turned into strings and the parse is retried; the
//! score then reads as unusable (`score must be a finite number, got "NaN"`)
//! and the row is stored `bad`.

/// Whether `text` is one of the words Python (or numpy) writes for a
/// non-finite number.
pub fn is_nonfinite_word(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "nan" | "-nan" | "inf" | "-inf" | "+inf" | "infinity" | "-infinity" | "+infinity"
    )
}

const WORDS: &[&[u8]] = &[b"-Infinity", b"Infinity", b"NaN"];

/// Quote bare `NaN`/`Infinity`/`-Infinity` outside strings. Returns `None`
/// when there were none, so the caller reports the original parse error.
/// Never adds or removes a newline, so line numbers stay right.
pub fn quote_nonfinite_words(text: &str) -> Option<String> {
    rewrite_nonfinite_words(text, |word, out| {
        out.push(b'"');
        out.extend_from_slice(word);
        out.push(b'"');
    })
}

/// Replace bare `NaN`/`Infinity`/`-Infinity` outside strings with `null`,
/// as pandas writes a missing float: a feature table keeps its column
/// numeric. `None` when there were none.
pub fn null_nonfinite_words(text: &str) -> Option<String> {
    rewrite_nonfinite_words(text, |_, out| out.extend_from_slice(b"null"))
}

fn rewrite_nonfinite_words(text: &str, replace: impl Fn(&[u8], &mut Vec<u8>)) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(word) = WORDS.iter().find(|w| bytes[i..].starts_with(w)) {
            let out = out.get_or_insert_with(|| bytes[..i].to_vec());
            replace(word, out);
            i += word.len();
            continue;
        }
        if let Some(out) = out.as_mut() {
            out.push(b);
        }
        i += 1;
    }
    // Only ASCII was inserted into valid UTF-8, at character boundaries.
    out.map(|bytes| String::from_utf8(bytes).expect("rewriting keeps UTF-8 valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_bare_words_but_not_strings() {
        assert_eq!(
            quote_nonfinite_words(r#"{"a": NaN, "b": -Infinity, "c": "NaN", "d": [Infinity]}"#)
                .unwrap(),
            r#"{"a": "NaN", "b": "-Infinity", "c": "NaN", "d": ["Infinity"]}"#
        );
        assert_eq!(quote_nonfinite_words(r#"{"a": "x \" NaN"}"#), None);
        assert_eq!(quote_nonfinite_words(r#"{"a": 1}"#), None);
        assert_eq!(
            null_nonfinite_words(r#"{"a": NaN, "b": "NaN", "c": -Infinity}"#).unwrap(),
            r#"{"a": null, "b": "NaN", "c": null}"#
        );
    }

    #[test]
    fn recognises_python_and_numpy_spellings() {
        for word in ["NaN", "nan", "inf", "-inf", "Infinity", "-Infinity"] {
            assert!(is_nonfinite_word(word), "{word}");
        }
        assert!(!is_nonfinite_word("1.0"));
    }
}
