//! The shape of a JSON Lines row: its member names in order and the kind of
//! each value, all a schema's inference learns from a row of scalars.
//!
//! A feature table's rows nearly all share one shape, so inferring the
//! schema of a JSON Lines table is mostly telling that a row has a shape
//! seen before. serde_json does that by parsing every value, numbers to
//! `f64` included: an eighth of W1's CPU with JSON Lines features. Rows
//! written plainly (no escapes, no exponents, no long numbers, no nesting)
//! are read by the plain-JSON scanner instead ([`crate::plain_json`], the
//! score rows' own), which reads each value only to its kind; any other row
//! goes to serde_json as before, so both agree on every row the scanner
//! takes (a test compares them).

use crate::plain_json::Scanner;

/// Write the shape of a one-line JSON object into `shape`: for each member
/// in order its name, 0xFF (never in UTF-8) and the kind Arrow's inference
/// tells apart (`n`ull, `b`oolean, `s`tring, `i`nteger fitting i64, `f`
/// other number; `x` nested). `None` when the line is no JSON object.
pub(super) fn row_shape(text: &str, shape: &mut Vec<u8>) -> Option<Shape> {
    if !text.starts_with('{') {
        return None;
    }
    if plain_shape(text, shape).is_some() {
        return Some(Shape::Scalars);
    }
    serde_shape(text, shape)
}

/// The shape of a row of scalars written plainly, as serde_json would
/// give it; `None` for anything the plain-JSON scanner leaves to a full
/// reader (an escape, an exponent, more than 19 digits, a leading zero),
/// a nested value, or any text that is not JSON.
fn plain_shape(text: &str, shape: &mut Vec<u8>) -> Option<()> {
    shape.clear();
    let mut scan = Scanner::new(text);
    if scan.peek()? != b'{' {
        return None;
    }
    scan.object(|scan, name| {
        shape.extend_from_slice(name.as_bytes());
        shape.push(0xFF);
        shape.push(match scan.peek()? {
            b'"' => scan.string().map(|_| b's')?,
            b't' => scan.literal("true").map(|()| b'b')?,
            b'f' => scan.literal("false").map(|()| b'b')?,
            b'n' => scan.literal("null").map(|()| b'n')?,
            // serde_json's Number::is_i64, as Arrow's inference asks it.
            b'-' | b'0'..=b'9' => match scan.number()?.is_i64() {
                true => b'i',
                false => b'f',
            },
            _ => return None,
        });
        Some(())
    })?;
    scan.whitespace();
    scan.at_end().then_some(())
}

/// What a row's shape says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// Only scalar members: Arrow's inference takes from the row no more
    /// than its shape, so a row of a shape seen before adds nothing (the
    /// inferred types are sets of kinds per member, and a kind once seen
    /// stays in its member's set).
    Scalars,
    /// A nested object or array: the row is always inferred in full.
    Nested,
}

/// [`row_shape`] by serde_json, which takes any JSON: every row the byte
/// scanner leaves alone.
fn serde_shape(text: &str, shape: &mut Vec<u8>) -> Option<Shape> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    struct Row<'a> {
        shape: &'a mut Vec<u8>,
        nested: bool,
    }
    struct Name<'a>(&'a mut Vec<u8>);
    struct Kind;

    impl<'de> Visitor<'de> for Name<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a member name")
        }
        fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<(), E> {
            self.0.extend_from_slice(name.as_bytes());
            self.0.push(0xFF);
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Name<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for Kind {
        type Value = u8;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<u8, E> {
            Ok(b'n')
        }
        fn visit_bool<E>(self, _: bool) -> Result<u8, E> {
            Ok(b'b')
        }
        fn visit_i64<E>(self, _: i64) -> Result<u8, E> {
            Ok(b'i')
        }
        fn visit_u64<E>(self, value: u64) -> Result<u8, E> {
            // serde_json's Number::is_i64, as Arrow asks it.
            Ok(if i64::try_from(value).is_ok() {
                b'i'
            } else {
                b'f'
            })
        }
        fn visit_f64<E>(self, _: f64) -> Result<u8, E> {
            Ok(b'f')
        }
        fn visit_str<E>(self, _: &str) -> Result<u8, E> {
            Ok(b's')
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<u8, A::Error> {
            while items.next_element::<IgnoredAny>()?.is_some() {}
            Ok(b'x')
        }
        fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<u8, A::Error> {
            while members.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(b'x')
        }
    }
    impl<'de> DeserializeSeed<'de> for Kind {
        type Value = u8;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u8, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Row<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut members: A) -> Result<bool, A::Error> {
            while members.next_key_seed(Name(self.shape))?.is_some() {
                let kind = members.next_value_seed(Kind)?;
                self.nested |= kind == b'x';
                self.shape.push(kind);
            }
            Ok(self.nested)
        }
    }
    impl<'de> DeserializeSeed<'de> for Row<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    shape.clear();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let nested = Row {
        shape,
        nested: false,
    }
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()?;
    Some(if nested {
        Shape::Nested
    } else {
        Shape::Scalars
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Option<Vec<u8>> {
        let mut shape = Vec::new();
        plain_shape(text, &mut shape).map(|()| shape)
    }

    fn by_serde(text: &str) -> Option<(Shape, Vec<u8>)> {
        let mut shape = Vec::new();
        serde_shape(text, &mut shape).map(|kind| (kind, shape))
    }

    /// Pieces of rows, plain and not: whatever the scanner takes, serde_json
    /// must read to the same shape.
    const NAMES: &[&str] = &[
        "\"src\"",
        "\"a b\"",
        "\"\"",
        "\"é\"",
        "\"a\\\"b\"",
        "\"tab\tin\"",
        "\"\\u0041\"",
        "src",
    ];
    const VALUES: &[&str] = &[
        "0",
        "-0",
        "7",
        "-7",
        "01",
        "-01",
        "0.5",
        "-0.0",
        "1.",
        ".5",
        "1.5e3",
        "2E-1",
        "1e400",
        "123456789012345678",
        "-123456789012345678",
        "1234567890123456789",
        "99999999999999999999",
        "3.14159265358979323846264338327950288",
        "1.2.3",
        "12a",
        "--1",
        "+1",
        "true",
        "false",
        "null",
        "tru",
        "nul",
        "True",
        "\"x\"",
        "\"\"",
        "\"a\\\\b\"",
        "\"new\nline\"",
        "\"ünï\"",
        "[1]",
        "{\"a\":1}",
        "NaN",
        "Infinity",
    ];
    const BLANKS: &[&str] = &["", " ", "\t", "\r\n", "\u{a0}", "\u{2028}"];
    const AFTER: &[&str] = &["", " ", ",", "x", "}"];

    /// Rows built from the pieces by a fixed pseudo-random walk.
    fn rows(count: usize) -> Vec<String> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        (0..count)
            .map(|_| {
                let mut row = String::from("{");
                let members = next(5);
                for member in 0..members {
                    if member > 0 {
                        row.push_str(BLANKS[next(BLANKS.len())]);
                        row.push(',');
                    }
                    row.push_str(BLANKS[next(BLANKS.len())]);
                    row.push_str(NAMES[next(NAMES.len())]);
                    row.push_str(BLANKS[next(BLANKS.len())]);
                    row.push(':');
                    row.push_str(BLANKS[next(BLANKS.len())]);
                    row.push_str(VALUES[next(VALUES.len())]);
                }
                row.push_str(BLANKS[next(BLANKS.len())]);
                row.push('}');
                row.push_str(AFTER[next(AFTER.len())]);
                row
            })
            .collect()
    }

    #[test]
    fn every_row_the_scanner_takes_serde_json_reads_to_the_same_shape() {
        let mut taken = 0;
        let mut left = 0;
        for row in rows(200_000) {
            match plain(&row) {
                Some(shape) => {
                    taken += 1;
                    assert_eq!(
                        by_serde(&row),
                        Some((Shape::Scalars, shape)),
                        "the scanner took {row:?}"
                    );
                }
                None => left += 1,
            }
        }
        // Both sides are well exercised: the comparison is not vacuous.
        assert!(taken > 5_000 && left > 5_000, "taken {taken}, left {left}");
    }

    #[test]
    fn plain_rows_are_scanned_and_kinds_follow_serde_json() {
        let row =
            r#"{"src": "/corpus/a.mp4", "f0": 0.25, "n": -3, "z": -0, "ok": true, "gap": null}"#;
        let mut expected = Vec::new();
        for (name, kind) in [("src", b's'), ("f0", b'f'), ("n", b'i'), ("z", b'f')] {
            expected.extend_from_slice(name.as_bytes());
            expected.extend([0xFF, kind]);
        }
        expected.extend(b"ok\xFFb");
        expected.extend(b"gap\xFFn");
        assert_eq!(plain(row), Some(expected.clone()));
        assert_eq!(by_serde(row), Some((Shape::Scalars, expected)));
        assert_eq!(plain("{}"), Some(Vec::new()));
    }

    #[test]
    fn rows_the_scanner_cannot_vouch_for_go_to_serde_json() {
        for row in [
            r#"{"a": 1e3}"#,
            r#"{"a": 12345678901234567890}"#,
            r#"{"a\"b": 1}"#,
            r#"{"a": "x\\y"}"#,
            r#"{"a": [1, 2]}"#,
            r#"{"a": {"b": 1}}"#,
            r#"{"a": 01}"#,
            r#"{"a": 1,}"#,
            r#"{"a": 1} x"#,
        ] {
            assert_eq!(plain(row), None, "{row}");
        }
        let mut shape = Vec::new();
        assert_eq!(
            row_shape(r#"{"a": [1, 2]}"#, &mut shape),
            Some(Shape::Nested)
        );
        assert_eq!(shape, b"a\xFFx");
        assert_eq!(row_shape(r#"{"a": 1e3}"#, &mut shape), Some(Shape::Scalars));
        assert_eq!(shape, b"a\xFFf");
        assert_eq!(row_shape("[1]", &mut shape), None);
    }
}
