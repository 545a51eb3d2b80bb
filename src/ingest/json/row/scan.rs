//! The fastest tier: a byte scanner for rows written the plain way scorers
//! write them (no escapes in strings, no exponents in numbers, little
//! nesting), which is nearly every row. It gives up (`None`) on anything
//! else, and the row goes to the serde-based tier, so that what it accepts
//! is a strict subset of what serde_json accepts, read to the same values:
//!
//! - strings: no backslash and no control character before the closing
//!   quote (serde_json refuses the latter; the former needs unescaping);
//! - numbers: `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 19 digits, so the
//!   significand cannot overflow a `u64`, and converted to the nearest
//!   `f64`, as serde_json with `float_roundtrip` does (see [`Scanner::number`]);
//! - whitespace, literals, commas and colons exactly as JSON has them;
//! - at most [`MAX_DEPTH`] levels of nesting, well inside serde_json's
//!   recursion limit of 127.
//!
//! Rows of one file, and frames of one payload, are written alike: the
//! scanner remembers the last one's field names ([`Shapes`]) and checks the
//! next one's against them before scanning and looking names up.

use std::borrow::Cow;

use serde_json::Number;

use super::{
    Class, Fields, FrameFields, FrameValue, Frames, NameTable, Row, RowReader, Scalar, Slot,
};

/// Nesting beyond this gives up: serde_json refuses 128 levels, and
/// counting exactly to its limit is not worth it for rows this deep.
const MAX_DEPTH: u32 = 100;

/// Powers of ten (`1e0` … `1e19`, each exact in an `f64`), for the
/// division that turns digits into a float.
const POW10: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// The largest significand every smaller integer of which an `f64` holds
/// exactly (2^53).
const EXACT_SIGNIFICAND: u64 = 1 << 53;

/// The high bit of each byte of `word` (read little-endian) that ends the
/// plain part of a string: a quote, a backslash or a control character.
/// Bytes past the first such byte may be marked wrongly (borrows carry
/// upwards), so only the lowest mark is meaningful.
#[inline]
fn string_stops(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    // A byte below 0x20 is one whose high bit is clear and that borrows
    // when 0x20 is taken from it.
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (zero_byte(quote) | zero_byte(backslash) | control) & HIGH
}

/// Scan one row; `None` when the row is not an object written the plain
/// way (or not valid JSON).
pub(super) fn row<'a>(
    reader: &RowReader<'_>,
    text: &'a str,
    row: &mut Row<'a>,
    shapes: &mut Shapes,
) -> Option<()> {
    let mut scanner = Scanner { text, pos: 0 };
    scanner.whitespace();
    if scanner.peek()? != b'{' {
        return None;
    }
    scanner.row(reader, row, shapes)?;
    scanner.whitespace();
    (scanner.pos == text.len()).then_some(())
}

/// The field names of the last row and of its summary, in order, with
/// what they are: the rows of one file are written alike (see
/// [`Scanner::object_with_shape`]). Kept from line to line, so owned.
#[derive(Debug, Default)]
pub(super) struct Shapes {
    row: Vec<(Box<str>, Class)>,
    summary: Vec<(Box<str>, Class)>,
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// JSON's whitespace, as serde_json skips it.
    #[inline]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// The members of the object starting at `pos` (on its `{`): `member`
    /// reads each value, given its name, from the start of the value.
    #[inline]
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.pos += 1;
        self.whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let name = self.string()?;
            self.whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.whitespace();
            member(self, name)?;
            self.whitespace();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.whitespace();
                }
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Like [`Scanner::object`], for objects whose members are expected in
    /// the order `shape` remembers (the previous object's): a name that is
    /// exactly the remembered one at that place takes its class without
    /// being scanned or looked up in `table`; any other is, and `shape` is
    /// updated from there on. A remembered name holds no quote, backslash
    /// or control character, so matching its bytes and a closing quote is
    /// matching the string that scanning would have read.
    #[inline]
    fn object_with_shape<S: AsRef<str> + From<&'a str>>(
        &mut self,
        shape: &mut Vec<(S, Class)>,
        table: &NameTable,
        mut member: impl FnMut(&mut Self, Class) -> Option<()>,
    ) -> Option<()> {
        self.pos += 1;
        self.whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        let mut at = 0;
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let bytes = &self.text.as_bytes()[self.pos + 1..];
            let remembered = shape.get(at).and_then(|(name, class)| {
                let name = name.as_ref().as_bytes();
                (bytes.get(name.len()) == Some(&b'"') && &bytes[..name.len()] == name)
                    .then_some((name.len(), *class))
            });
            let class = match remembered {
                Some((length, class)) => {
                    self.pos += length + 2;
                    class
                }
                None => {
                    let name = self.string()?;
                    let class = table.classify(name);
                    shape.truncate(at);
                    shape.push((name.into(), class));
                    class
                }
            };
            at += 1;
            self.whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.whitespace();
            member(self, class)?;
            self.whitespace();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.whitespace();
                }
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The items of the list starting at `pos` (on its `[`): `item` reads
    /// each, from its start.
    #[inline]
    fn list(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.pos += 1;
        self.whitespace();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.whitespace();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.whitespace();
                }
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The string starting at `pos` (on its quote), without escapes.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let mut end = start;
        // Eight bytes at a time while they last (names and keys are mostly
        // longer than eight), then byte by byte.
        while let Some(chunk) = bytes.get(end..end + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let stops = string_stops(word);
            if stops != 0 {
                end += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            end += 8;
        }
        while !matches!(bytes.get(end), Some(b'"' | b'\\' | 0..0x20) | None) {
            end += 1;
        }
        if bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        // Cut at ASCII quotes, so on character boundaries.
        Some(&self.text[start..end])
    }

    /// The number starting at `pos`, as serde_json reads it with its
    /// `float_roundtrip` feature: an integer is a `u64`, or an `i64` when
    /// negative (`-0` is the float -0.0); a decimal is the `f64` nearest to
    /// its text. Exponents and numbers of more than 19 digits give up.
    #[inline]
    fn number(&mut self) -> Option<Number> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut pos = self.pos;
        let negative = bytes[pos] == b'-';
        pos += usize::from(negative);
        let mut significand = 0u64;
        let mut digits = 0u32;
        match bytes.get(pos)? {
            b'0' => {
                pos += 1;
                digits = 1;
                // There can be only one leading zero.
                if let Some(b'0'..=b'9') = bytes.get(pos) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                while let Some(&digit @ b'0'..=b'9') = bytes.get(pos) {
                    if digits == 19 {
                        return None;
                    }
                    significand = significand * 10 + u64::from(digit - b'0');
                    digits += 1;
                    pos += 1;
                }
            }
            _ => return None,
        }
        let mut fraction = 0usize;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            while let Some(&digit @ b'0'..=b'9') = bytes.get(pos) {
                if digits == 19 {
                    return None;
                }
                significand = significand * 10 + u64::from(digit - b'0');
                digits += 1;
                fraction += 1;
                pos += 1;
            }
            if fraction == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(pos) {
            return None;
        }
        self.pos = pos;
        if fraction == 0 {
            if !negative {
                return Some(significand.into());
            }
            let negated = (significand as i64).wrapping_neg();
            return if negated >= 0 {
                Number::from_f64(-(significand as f64))
            } else {
                Some(negated.into())
            };
        }
        // Digits and power of ten both exact in an `f64` make the division
        // exact (IEEE division rounds correctly); past 2^53, parse the text,
        // which rounds correctly too. Either way the value is the nearest
        // double, as Python's `float()` reads it.
        let magnitude = if significand <= EXACT_SIGNIFICAND {
            significand as f64 / POW10[fraction]
        } else {
            self.text[start + usize::from(negative)..pos]
                .parse::<f64>()
                .ok()?
        };
        Number::from_f64(if negative { -magnitude } else { magnitude })
    }

    /// The literal `word` at `pos`.
    #[inline]
    fn literal(&mut self, word: &str) -> Option<()> {
        self.text.as_bytes()[self.pos..]
            .starts_with(word.as_bytes())
            .then(|| self.pos += word.len())
    }

    /// A scalar value; lists and objects give up (they are kept as `Value`s,
    /// which the serde-based tier builds).
    #[inline]
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        Some(match self.peek()? {
            b'"' => Scalar::Str(Cow::Borrowed(self.string()?)),
            b'-' | b'0'..=b'9' => Scalar::Number(self.number()?),
            b't' => self.literal("true").map(|()| Scalar::Bool(true))?,
            b'f' => self.literal("false").map(|()| Scalar::Bool(false))?,
            b'n' => self.literal("null").map(|()| Scalar::Null)?,
            _ => return None,
        })
    }

    /// A value of a frame's field, reduced to what reading a frame needs;
    /// lists and objects give up, as in [`Scanner::scalar`].
    #[inline]
    fn frame_value(&mut self) -> Option<FrameValue> {
        Some(match self.peek()? {
            b'-' | b'0'..=b'9' => FrameValue::Number(self.number()?),
            b'"' => FrameValue::of_text(self.string()?),
            b'n' => self.literal("null").map(|()| FrameValue::Null)?,
            b't' => self.literal("true").map(|()| FrameValue::Other)?,
            b'f' => self.literal("false").map(|()| FrameValue::Other)?,
            _ => return None,
        })
    }

    /// Any value, checked and dropped; `depth` is the nesting of the value.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(|scanner, _| scanner.skip(depth + 1)),
            b'[' if depth < MAX_DEPTH => self.list(|scanner| scanner.skip(depth + 1)),
            b'{' | b'[' => None,
            _ => self.scalar().map(drop),
        }
    }

    /// The row object (at depth 1).
    fn row(
        &mut self,
        reader: &RowReader<'_>,
        row: &mut Row<'a>,
        shapes: &mut Shapes,
    ) -> Option<()> {
        let table = &reader.row;
        self.object_with_shape(&mut shapes.row, table, |scanner, class| {
            match class {
                Class::Other => scanner.skip(2)?,
                Class::Ambiguous => {
                    row.own.fallback = true;
                    scanner.skip(2)?;
                }
                Class::Field(at) => {
                    row.own.see(at);
                    let roles = table.entries[at].roles;
                    if roles.summary {
                        row.summary = match scanner.peek()? {
                            b'{' => Slot::Present(scanner.summary(reader, &mut shapes.summary)?),
                            _ => match scanner.scalar()? {
                                Scalar::Null => Slot::Null,
                                _ => Slot::Wrong,
                            },
                        };
                    } else if roles.frames {
                        row.frames = match scanner.peek()? {
                            b'[' => Slot::Present(scanner.frames(reader)?),
                            _ => match scanner.scalar()? {
                                Scalar::Null => Slot::Null,
                                _ => Slot::Wrong,
                            },
                        };
                    } else {
                        let value = scanner.scalar()?;
                        row.own.take(at, roles, value);
                    }
                }
            }
            Some(())
        })
    }

    /// A `summary` object (at depth 2), searched like the row but for its
    /// own `summary` and `frames`, which are not looked at.
    fn summary(
        &mut self,
        reader: &RowReader<'_>,
        shape: &mut Vec<(Box<str>, Class)>,
    ) -> Option<Fields<'a>> {
        let table = &reader.row;
        let mut fields = Fields::default();
        self.object_with_shape(shape, table, |scanner, class| {
            match class {
                Class::Field(at) => {
                    let roles = table.entries[at].roles;
                    if roles.summary || roles.frames {
                        scanner.skip(3)?;
                    } else {
                        fields.see(at);
                        let value = scanner.scalar()?;
                        fields.take(at, roles, value);
                    }
                }
                Class::Ambiguous => {
                    fields.fallback = true;
                    scanner.skip(3)?;
                }
                Class::Other => scanner.skip(3)?,
            }
            Some(())
        })?;
        Some(fields)
    }

    /// A `frames[]` list (at depth 2) of frame objects (at depth 3).
    fn frames(&mut self, reader: &RowReader<'_>) -> Option<Frames> {
        let table = &reader.frame;
        let frame_base = reader.fields.frame_base;
        let mut list = Vec::with_capacity(reader.frames_hint);
        let mut increasing = true;
        // The names of the last frame's fields in order, with what they
        // are: the frames of one payload are written alike, so the next
        // frame's names are checked against these instead of scanned and
        // looked up.
        let mut shape: Vec<(&'a str, Class)> = Vec::new();
        self.list(|scanner| {
            if scanner.peek()? != b'{' {
                return None;
            }
            let mut frame = FrameFields::default();
            scanner.object_with_shape(&mut shape, table, |scanner, class| {
                match class {
                    Class::Other => scanner.skip(4)?,
                    Class::Ambiguous => return None,
                    Class::Field(at) => {
                        let value = scanner.frame_value()?;
                        frame.take(at, table.entries[at].roles, value);
                    }
                }
                Some(())
            })?;
            let record = frame.finish(table, list.len(), frame_base)?;
            if let Some(last) = list.last() {
                let last: &crate::ingest::FrameRecord = last;
                increasing &= record.frame_index > last.frame_index;
            }
            list.push(record);
            Some(())
        })?;
        Some(Frames {
            list,
            increasing,
            fallback: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first byte that ends a string's plain part, the slow way.
    fn first_stop(word: u64) -> Option<u32> {
        (0..8).find(|at| matches!((word >> (8 * at)) as u8, b'"' | b'\\' | 0..0x20))
    }

    #[test]
    fn string_stops_marks_the_first_stop_byte() {
        // Bytes drawn mostly from the stops and their neighbours (0x1f,
        // 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff …), where borrows and
        // off-by-one masks would show.
        let pool: &[u8] = &[
            0, 1, 0x1f, 0x20, 0x21, b'"', 0x23, b'\\', 0x5b, 0x5d, b'a', 0x7f, 0x80, 0xa2, 0xdc,
            0xff,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let word = (0..8).fold(0u64, |word, at| {
                let byte = pool[((seed >> (at * 5)) % pool.len() as u64) as usize];
                word | u64::from(byte) << (8 * at)
            });
            let stops = string_stops(word);
            let found = (stops != 0).then(|| stops.trailing_zeros() / 8);
            assert_eq!(found, first_stop(word), "{word:#018x}");
        }
    }

    #[test]
    fn strings_end_at_their_quote_or_give_up() {
        for (text, expected) in [
            (r#""""#, Some("")),
            (r#""a""#, Some("a")),
            (r#""abcdefg""#, Some("abcdefg")),
            (r#""abcdefgh""#, Some("abcdefgh")),
            (r#""abcdefghi""#, Some("abcdefghi")),
            (
                r#""été en vidéo ✓ 🎬 long enough""#,
                Some("été en vidéo ✓ 🎬 long enough"),
            ),
            (r#""abcdefghijk\"x""#, None),
            ("\"abcdefghijk\tx\"", None),
            ("\"abcdefghijk", None),
            ("\"abc", None),
        ] {
            let mut scanner = Scanner { text, pos: 0 };
            assert_eq!(scanner.string(), expected, "{text}");
            if expected.is_some() {
                assert_eq!(scanner.pos, text.len(), "{text}");
            }
        }
    }
}
