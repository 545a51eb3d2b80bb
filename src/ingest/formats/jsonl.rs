//! JSON Lines: one score row per line (`.jsonl`, `.ndjson`).
//!
//! Read line by line, so a file of any size streams through in constant
//! memory. Tolerated, because real scorer runs produce them: blank lines
//! (a trailing newline, or rows separated by empty lines), CRLF line ends
//! (files written on Windows or by Python without `newline=''`) and a UTF-8
//! byte-order mark before the first row.

use std::io::BufRead;

use serde_json::Value;

use crate::ingest::json::RowReader;
use crate::ingest::text_rows::Lines;
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for `.jsonl` / `.ndjson` score files.
pub struct JsonlReader;

impl ScoreReader for JsonlReader {
    const NAME: &'static str = "jsonl";
    const EXTENSIONS: &'static [&'static str] = &["jsonl", "ndjson"];
    const GENERIC: bool = true;

    fn detect(head: &str, extension: &str) -> Option<String> {
        if Self::EXTENSIONS.contains(&extension) {
            return Some(format!("the .{extension} extension"));
        }
        looks_like_json_lines(head).then(|| "one JSON object per line".to_string())
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut lines = Lines::new(input);
        if Self::read_rows(&mut lines, options, sink)? == 0 {
            return Err(Self::no_rows(&lines).into());
        }
        Ok(())
    }
}

impl JsonlReader {
    /// Read the rows of `lines` into `sink`, which may be a part of a file
    /// ([`Lines::after`]); returns how many there were.
    pub(crate) fn read_rows<S: RecordSink>(
        lines: &mut Lines,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<u64, S::Error> {
        let mut reader = RowReader::new(&options.fields);
        let mut rows = 0u64;
        while let Some((line, text)) = lines.next_row()? {
            let record = reader
                .read_row(text, line)
                .map_err(|message| ReadError::at(line, message))?;
            rows += 1;
            sink.push(record)?;
        }
        Ok(rows)
    }

    /// The error of a file without a row, `lines` being its first lines.
    pub(crate) fn no_rows(lines: &Lines) -> ReadError {
        lines.no_rows("blank lines")
    }
}

/// Whether the first non-blank line is a whole JSON object and another
/// object starts on a later line: JSON Lines whatever the extension.
pub(crate) fn looks_like_json_lines(head: &str) -> bool {
    let mut lines = head.lines().map(str::trim).filter(|l| !l.is_empty());
    let first_is_object = lines
        .next()
        .is_some_and(|first| matches!(serde_json::from_str::<Value>(first), Ok(Value::Object(_))));
    first_is_object && lines.next().is_some_and(|second| second.starts_with('{'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::RawScore;

    #[test]
    fn reads_rows_skipping_blank_lines_with_crlf_and_bom() {
        let bytes = b"\xEF\xBB\xBF{\"video_id\": \"a\", \"score\": 1.5}\r\n\r\n  \n{\"video_id\": \"b\", \"score\": 2}\r\n";
        let records = read_all::<JsonlReader>(bytes).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].line, records[0].raw_key.as_str()), (1, "a"));
        assert_eq!((records[1].line, records[1].raw_key.as_str()), (4, "b"));
        assert_eq!(records[1].value, RawScore::Number(2.0));
    }

    #[test]
    fn last_line_without_newline_is_read() {
        let records = read_all::<JsonlReader>(b"{\"clip_id\": \"a\", \"score\": 1}").unwrap();
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn python_nan_reads_as_an_unusable_score() {
        let records = read_all::<JsonlReader>(b"{\"clip_id\": \"a\", \"score\": NaN}\n").unwrap();
        assert_eq!(
            records[0].value,
            RawScore::Unusable("score must be a finite number, got \"NaN\"".into())
        );
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let (line, message) = error_of::<JsonlReader>(
            b"{\"clip_id\": \"a\", \"score\": 1}\n{\"clip_id\": \"b\", \"score\": }\n",
        );
        assert_eq!(line, 2);
        assert!(message.starts_with("invalid JSON at column"), "{message}");
        let (line, message) = error_of::<JsonlReader>(b"\n[1, 2]\n");
        assert_eq!(
            (line, message.as_str()),
            (2, "expected a JSON object, got a list")
        );
        let (line, message) = error_of::<JsonlReader>(b"{\"clip_id\": \"\xff\", \"score\": 1}\n");
        assert_eq!(
            (line, message.as_str()),
            (1, "invalid UTF-8 at byte 14 of the line")
        );
        assert_eq!(error_of::<JsonlReader>(b""), (1, "empty file".to_string()));
        assert_eq!(
            error_of::<JsonlReader>(b"\n\r\n"),
            (1, "no score rows, only blank lines".to_string())
        );
    }
}
