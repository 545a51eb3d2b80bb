//! What every reader does with a file's bytes before its format matters: a
//! UTF-8 byte-order mark dropped, a single-document file read whole and
//! checked, line numbers found for places in a document.

use std::io::BufRead;

use super::ReadError;

/// Read a file that is one document, whole: the BOM stripped, UTF-8
/// checked (the error names the line of the first bad byte) and an empty
/// file refused. Readers of single-document formats start here.
pub(crate) fn read_document(input: &mut dyn BufRead) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let start = bytes.len() - strip_bom(&bytes).len();
    bytes.drain(..start);
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|b| **b == b'\n').count() as u64;
        ReadError::at(line, "invalid UTF-8")
    })?;
    if text.trim().is_empty() {
        return Err(ReadError::at(1, "empty file"));
    }
    Ok(text)
}

/// Line numbers of places in one document, counted incrementally because
/// readers mostly move forward through it (going back starts over).
pub(crate) struct LineCounter<'a> {
    document: &'a str,
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(document: &'a str) -> Self {
        LineCounter {
            document,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `offset`.
    pub(crate) fn line_of_offset(&mut self, offset: usize) -> u64 {
        if offset < self.offset {
            *self = LineCounter::new(self.document);
        }
        self.line += self.document.as_bytes()[self.offset..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        self.offset = offset;
        self.line
    }

    /// The line where `slice`, a part of the document, starts.
    pub(crate) fn line_at(&mut self, slice: &str) -> u64 {
        self.line_of_offset(slice.as_ptr() as usize - self.document.as_ptr() as usize)
    }
}

/// Strip a UTF-8 byte-order mark, which Windows tools put before the first line.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}
