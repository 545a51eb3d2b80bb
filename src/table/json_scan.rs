//! A cursor over the bytes of one JSON Lines row written plainly: what the
//! schema's inference ([`super::json_shape`]) and the plain decoder
//! ([`super::json_plain`]) both read rows with. Each reading answers `None`
//! for anything not written plainly, which its caller leaves to serde_json
//! or to Arrow's decoder.

/// A cursor over one row's bytes.
pub(super) struct Scan<'a> {
    pub(super) text: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Scan<'a> {
    pub(super) fn new(text: &'a [u8]) -> Self {
        Scan { text, at: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    /// Whether the whole text has been read.
    pub(super) fn at_end(&self) -> bool {
        self.at == self.text.len()
    }

    pub(super) fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Skip JSON's whitespace (serde_json and Arrow take no other).
    pub(super) fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters: its bytes.
    pub(super) fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let length = self.text[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let end = start + length;
        if self.text[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        Some(&self.text[start..end])
    }

    pub(super) fn word(&mut self, word: &[u8]) -> Option<()> {
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// A number written plainly (at most 18 integer digits, no leading
    /// zero, an optional fraction): its text, and whether serde_json reads
    /// it as an integer (it fits i64; `-0` it reads as a float). An
    /// exponent, like any other byte not ending a value, is left unread,
    /// to fail the caller's look for `,` or `}`.
    pub(super) fn number(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let digits = self.digits();
        if digits == 0 || digits > 18 || (digits > 1 && self.text[self.at - digits] == b'0') {
            return None;
        }
        let zero = digits == 1 && self.text[self.at - 1] == b'0';
        let mut integer = !(negative && zero);
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        Some((&self.text[start..self.at], integer))
    }

    /// Skip ASCII digits: how many.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }
}
