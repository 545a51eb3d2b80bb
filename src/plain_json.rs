//! A byte scanner for JSON written plainly (no escapes in strings, no
//! exponents in numbers), which is nearly every row scorers and feature
//! tables hold. Each reading gives up (`None`) on anything else, and the
//! caller hands that text to a full JSON reader (serde_json, or Arrow's),
//! so that what the scanner accepts is a strict subset of what serde_json
//! accepts, read to the same values:
//!
//! - strings: no backslash and no control character before the closing
//!   quote (serde_json refuses the latter; the former needs unescaping);
//! - numbers: `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 19 digits, so the
//!   significand cannot overflow a `u64`, and converted to the nearest
//!   `f64`, as serde_json with `float_roundtrip` does (see
//!   [`Scanner::number`]);
//! - whitespace, literals, commas and colons exactly as JSON has them.
//!
//! Score rows (`ingest/json/row/scan.rs`) and JSON Lines feature tables
//! (`table/json_shape.rs`, `table/json_plain.rs`) are read with it.

use serde_json::Number;

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

/// A cursor over JSON text: `pos` is the next byte to read.
pub(crate) struct Scanner<'a> {
    pub(crate) text: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    /// Whether the whole text has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// JSON's whitespace, as serde_json skips it.
    #[inline]
    pub(crate) fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// The members of the object starting at `pos` (on its `{`): `member`
    /// reads each value, given its name, from the start of the value.
    #[inline]
    pub(crate) fn object(
        &mut self,
        member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.object_by(Self::string, member)
    }

    /// [`Scanner::object`] with the names read by `name`, from the start
    /// of each (on its quote): a reader that knows the names to expect can
    /// take them without scanning them, and hand `member` what it made of
    /// them instead of the name.
    #[inline]
    pub(crate) fn object_by<N>(
        &mut self,
        mut name: impl FnMut(&mut Self) -> Option<N>,
        mut member: impl FnMut(&mut Self, N) -> Option<()>,
    ) -> Option<()> {
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
            let named = name(self)?;
            self.whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.whitespace();
            member(self, named)?;
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
    pub(crate) fn list(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
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
    pub(crate) fn string(&mut self) -> Option<&'a str> {
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
    pub(crate) fn number(&mut self) -> Option<Number> {
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
    pub(crate) fn literal(&mut self, word: &str) -> Option<()> {
        self.text.as_bytes()[self.pos..]
            .starts_with(word.as_bytes())
            .then(|| self.pos += word.len())
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
