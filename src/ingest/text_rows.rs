//! What the comma- and tab-separated scorer outputs have in common.
//!
//! DOVER, COVER, pyiqa, MANIQA and UVQ write their scores with Python, line
//! by line, either with a format string (`f"{name},{score}\n"`) or with
//! `csv.writer`. So they share:
//! - line ends: `\n` from a format string on Linux, `\r\n` from `csv.writer`
//!   (its default line terminator) or from any text file written on Windows,
//!   and `\r\r\n` from `csv.writer` on Windows when the file was not opened
//!   with `newline=''`. Every `\r` before the `\n` is dropped;
//! - a UTF-8 byte-order mark before the first line (a file re-saved by a
//!   Windows editor), and blank lines (a trailing newline), both skipped;
//! - the spelling of numbers: `repr(float)` or `:4f`, and `nan` / `inf` when
//!   a model diverged. Those two read as an unusable score (the row is
//!   stored `bad`), never as a malformed file: one diverged clip must not
//!   cost the operator the whole run;
//! - keys: a format string writes the name unquoted, so a name holding a
//!   comma is split at the *last* commas (the numbers never hold one);
//!   `csv.writer` quotes such a name, and [`split_csv_line`] undoes that.

use std::borrow::Cow;
use std::io::BufRead;

use super::{strip_bom, RawScore, ReadError, RecordSink, ScoreRecord};

/// The lines of a text score file, read one at a time so a file of any
/// size streams through in constant memory.
pub(crate) struct Lines<'a> {
    input: &'a mut dyn BufRead,
    buffer: Vec<u8>,
    number: u64,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(input: &'a mut dyn BufRead) -> Self {
        Self::after(input, 0)
    }

    /// The lines of `input` numbered from `lines_before + 1` (a part of a
    /// file read on its own: see `ingest::halves`). Only a line numbered 1
    /// may start with a byte-order mark.
    pub(crate) fn after(input: &'a mut dyn BufRead, lines_before: u64) -> Self {
        Lines {
            input,
            buffer: Vec::with_capacity(256),
            number: lines_before,
        }
    }

    /// The next line that is not blank: its 1-based number and its text
    /// without the line end (and, on line 1, without a byte-order mark).
    pub(crate) fn next_row(&mut self) -> Result<Option<(u64, &str)>, ReadError> {
        let (start, end) = loop {
            self.buffer.clear();
            if self.input.read_until(b'\n', &mut self.buffer)? == 0 {
                return Ok(None);
            }
            self.number += 1;
            let start = if self.number == 1 {
                self.buffer.len() - strip_bom(&self.buffer).len()
            } else {
                0
            };
            let line = &self.buffer[start..];
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let end = start
                + line
                    .iter()
                    .rposition(|b| *b != b'\r')
                    .map_or(0, |last| last + 1);
            if !self.buffer[start..end].iter().all(u8::is_ascii_whitespace) {
                break (start, end);
            }
        };
        let text = std::str::from_utf8(&self.buffer[start..end]).map_err(|e| {
            ReadError::at(
                self.number,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
            )
        })?;
        Ok(Some((self.number, text)))
    }

    /// The number of the last line read (blank or not).
    pub(crate) fn count(&self) -> u64 {
        self.number
    }

    /// The error for a file that held no score row: empty, only blank
    /// lines, or only lines the reader skips (`what` says which).
    pub(crate) fn no_rows(&self, what: &str) -> ReadError {
        if self.number == 0 {
            ReadError::at(1, "empty file")
        } else {
            ReadError::at(1, format!("no score rows, only {what}"))
        }
    }
}

/// A clip score as Python writes a float: a finite number, or (for `nan`,
/// `inf` and their spellings) the reason it is unusable. Text that is no
/// number at all is an error: these files are written from floats, so it
/// means the file is not what the reader thinks.
pub(crate) fn score_value(what: &str, text: &str) -> Result<RawScore, String> {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(RawScore::Number(value)),
        Ok(_) => Ok(RawScore::Unusable(format!(
            "{what} must be a finite number, got \"{text}\""
        ))),
        Err(_) => Err(format!("{what} is not a number: \"{}\"", shorten(text))),
    }
}

/// A secondary value (a component): `None` when Python wrote `nan`/`inf`.
pub(crate) fn component_value(what: &str, text: &str) -> Result<Option<f64>, String> {
    Ok(match score_value(what, text)? {
        RawScore::Number(value) => Some(value),
        RawScore::Unusable(_) => None,
    })
}

/// Whether `text`, exactly as it stands (no spaces), is a number Python
/// could have written, `nan` and `inf` included. For detection.
pub(crate) fn is_number(text: &str) -> bool {
    !text.is_empty() && !text.starts_with(char::is_whitespace) && text.parse::<f64>().is_ok()
}

/// `text` cut to 40 characters, for messages.
fn shorten(text: &str) -> Cow<'_, str> {
    if text.chars().count() > 40 {
        Cow::Owned(format!("{}…", text.chars().take(40).collect::<String>()))
    } else {
        Cow::Borrowed(text)
    }
}

/// Split a line written by a format string into its key and the `count`
/// fields after it, at the last `count` commas: the key is written
/// unquoted and may hold commas of its own, the numbers never do. `None`
/// when the line has fewer than `count` commas.
pub(crate) fn key_then_fields(text: &str, count: usize) -> Option<(&str, Vec<&str>)> {
    let mut parts: Vec<&str> = text.rsplitn(count + 1, ',').collect();
    if parts.len() != count + 1 {
        return None;
    }
    let key = parts.pop().expect("count + 1 parts");
    parts.reverse();
    Some((key, parts))
}

/// Split one line written by Python's `csv.writer` (its default
/// `QUOTE_MINIMAL`): a field holding the delimiter or a quote is quoted, and
/// a quote inside it is doubled.
pub(crate) fn split_csv_line(line: &str, delimiter: char) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let after = loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed on its line".to_string()),
                    Some((at, '"')) => {
                        if quoted[at + 1..].starts_with('"') {
                            value.push('"');
                            chars.next();
                        } else {
                            break &quoted[at + 1..];
                        }
                    }
                    Some((_, c)) => value.push(c),
                }
            };
            fields.push(Cow::Owned(value));
            if after.is_empty() {
                return Ok(fields);
            }
            match after.strip_prefix(delimiter) {
                Some(next) => rest = next,
                None => return Err("text after the closing quote of a quoted field".to_string()),
            }
        } else {
            match rest.find(delimiter) {
                Some(at) => {
                    fields.push(Cow::Borrowed(&rest[..at]));
                    rest = &rest[at + delimiter.len_utf8()..];
                }
                None => {
                    fields.push(Cow::Borrowed(rest));
                    return Ok(fields);
                }
            }
        }
    }
}

/// The fields of a header line, trimmed and lower-cased, for comparing
/// with a scorer's header whatever spaces it was written with.
pub(crate) fn header_fields(line: &str) -> Vec<String> {
    line.split(',')
        .map(|field| field.trim().to_ascii_lowercase())
        .collect()
}

/// How a line of a detection head ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineEnd {
    Lf,
    Crlf,
    /// The last line of the head, with no line end: the file ends there
    /// without a newline.
    None,
}

/// One line of a detection head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadLine<'a> {
    pub text: &'a str,
    pub end: LineEnd,
}

/// The non-blank lines of a detection head. The head is the first 64 KiB
/// of the file, so its last line may be cut short: it is left out, unless
/// it is the only line there is.
pub(crate) fn head_lines(head: &str) -> Vec<HeadLine<'_>> {
    let mut segments: Vec<&str> = head.split('\n').collect();
    let last = segments.pop().unwrap_or("");
    let mut lines: Vec<HeadLine> = segments
        .into_iter()
        .map(|segment| {
            let text = segment.trim_end_matches('\r');
            let end = if text.len() < segment.len() {
                LineEnd::Crlf
            } else {
                LineEnd::Lf
            };
            HeadLine { text, end }
        })
        .filter(|line| !line.text.trim().is_empty())
        .collect();
    if lines.is_empty() && !last.trim().is_empty() {
        lines.push(HeadLine {
            text: last.trim_end_matches('\r'),
            end: LineEnd::None,
        });
    }
    lines
}

/// Whether every line of a head is a plain `name,score` row as a format
/// string writes it: exactly one comma, a score spelled as a number with
/// no spaces, no tab, no `\r` line end. MANIQA's `output.txt`, UVQ's batch
/// output and (after a line-end conversion) pyiqa's `--save_file` all look
/// like this, which is why none of them can claim such a file alone.
pub(crate) fn plain_name_score_lines(lines: &[HeadLine]) -> bool {
    !lines.is_empty()
        && lines.iter().all(|line| {
            line.end != LineEnd::Crlf
                && !line.text.contains('\t')
                && matches!(line.text.split_once(','), Some((name, score))
                    if !name.trim().is_empty() && !score.contains(',') && is_number(score))
        })
}

/// A clip-level record of a text score file.
pub(crate) fn score_record(
    line: u64,
    key_field: &str,
    raw_key: &str,
    value: RawScore,
    components: Vec<(String, Option<f64>)>,
    scorer_hint: Option<&str>,
) -> ScoreRecord {
    ScoreRecord {
        line,
        key_field: crate::key::field_name(key_field),
        raw_key: raw_key.to_string(),
        scorer: None,
        scorer_hint: scorer_hint.map(str::to_string),
        metric: None,
        value,
        reported_status: None,
        runtime_ms: None,
        frames: Vec::new(),
        pooled_frames: 0,
        note: None,
        components,
        warnings: Vec::new(),
    }
}

/// The key of a row: refused when empty, kept exactly as written otherwise
/// (a name may end in a space, and the registry compares keys as strings).
pub(crate) fn checked_key<'k>(key: &'k str, key_field: &str) -> Result<&'k str, String> {
    if key.trim().is_empty() {
        Err(format!("empty {key_field}"))
    } else {
        Ok(key)
    }
}

/// Read `name,score` lines written by `f"{name},{score}\n"` (MANIQA's
/// `output.txt`, UVQ's batch output): the key is everything before the last
/// comma, the score everything after it.
pub(crate) fn read_name_score_lines<S: RecordSink>(
    input: &mut dyn BufRead,
    sink: &mut S,
    key_field: &str,
    scorer_hint: Option<&str>,
) -> Result<(), S::Error> {
    let mut lines = Lines::new(input);
    let mut rows = 0u64;
    while let Some((line, text)) = lines.next_row()? {
        let at = |message: String| ReadError::at(line, message);
        let (key, score) = text
            .rsplit_once(',')
            .ok_or_else(|| at(format!("expected `{key_field},score`, found no comma")))?;
        let key = checked_key(key, key_field).map_err(at)?;
        let value = score_value("score", score).map_err(at)?;
        let record = score_record(line, key_field, key, value, Vec::new(), scorer_hint);
        rows += 1;
        sink.push(record)?;
    }
    if rows == 0 {
        return Err(lines.no_rows("blank lines").into());
    }
    Ok(())
}

/// Read `bytes` with `R`, keeping the records and the notes it left.
#[cfg(test)]
pub(crate) fn read_with_notes<R: super::ScoreReader>(
    bytes: &[u8],
) -> (Vec<ScoreRecord>, Vec<String>) {
    #[derive(Default)]
    struct Keep(Vec<ScoreRecord>, Vec<String>);
    impl RecordSink for Keep {
        type Error = ReadError;
        fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
            self.0.push(record);
            Ok(())
        }
        fn note(&mut self, message: String) {
            self.1.push(message);
        }
    }
    let mut sink = Keep::default();
    R::read(&mut &bytes[..], &super::ReadOptions::default(), &mut sink).expect("readable");
    (sink.0, sink.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(bytes: &[u8]) -> Vec<(u64, String)> {
        let mut input = bytes;
        let mut lines = Lines::new(&mut input);
        let mut rows = Vec::new();
        while let Some((number, text)) = lines.next_row().unwrap() {
            rows.push((number, text.to_string()));
        }
        rows
    }

    #[test]
    fn lines_drop_bom_line_ends_and_blank_lines() {
        assert_eq!(
            rows(b"\xEF\xBB\xBFa,1\r\n\r\n  \nb,2\r\r\nc,3"),
            vec![(1, "a,1".into()), (4, "b,2".into()), (5, "c,3".into())]
        );
        let mut input: &[u8] = b"a,1\n\xff,2\n";
        let mut lines = Lines::new(&mut input);
        lines.next_row().unwrap();
        match lines.next_row() {
            Err(ReadError::Malformed { line, message }) => {
                assert_eq!(
                    (line, message.as_str()),
                    (2, "invalid UTF-8 at byte 1 of the line")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn python_numbers_and_nonfinite_words() {
        assert_eq!(
            score_value("score", " 51.230000"),
            Ok(RawScore::Number(51.23))
        );
        assert_eq!(
            score_value("score", "-1.897992"),
            Ok(RawScore::Number(-1.897992))
        );
        assert_eq!(score_value("score", "1e-05"), Ok(RawScore::Number(1e-5)));
        for word in ["nan", "-nan", "inf", "-inf", "NaN"] {
            assert_eq!(
                score_value("score", word),
                Ok(RawScore::Unusable(format!(
                    "score must be a finite number, got \"{word}\""
                )))
            );
        }
        assert_eq!(
            score_value("score", "tensor([0.34])"),
            Err("score is not a number: \"tensor([0.34])\"".to_string())
        );
        assert_eq!(component_value("technical", "nan"), Ok(None));
        assert!(is_number("3.880362033843994") && is_number("nan"));
        assert!(!is_number(" 1") && !is_number("") && !is_number("score"));
    }

    #[test]
    fn keys_keep_their_commas() {
        assert_eq!(
            key_then_fields("./a,b.mp4, 1, 2,3", 3),
            Some(("./a,b.mp4", vec![" 1", " 2", "3"]))
        );
        assert_eq!(key_then_fields("a.mp4,1", 3), None);
    }

    #[test]
    fn csv_writer_quoting_is_undone() {
        assert_eq!(
            split_csv_line("a.png,1.5", ',').unwrap(),
            vec!["a.png", "1.5"]
        );
        assert_eq!(
            split_csv_line("\"a,b.png\",1.5", ',').unwrap(),
            vec!["a,b.png", "1.5"]
        );
        assert_eq!(
            split_csv_line("\"say \"\"hi\"\".png\",2", ',').unwrap(),
            vec!["say \"hi\".png", "2"]
        );
        assert_eq!(split_csv_line("a,,", ',').unwrap(), vec!["a", "", ""]);
        assert!(split_csv_line("\"a,1", ',').is_err());
        assert!(split_csv_line("\"a\"b,1", ',').is_err());
    }

    #[test]
    fn head_lines_leave_out_a_cut_last_line() {
        let lines = head_lines("a,1\r\n\nb,2\nc,");
        assert_eq!(
            lines,
            vec![
                HeadLine {
                    text: "a,1",
                    end: LineEnd::Crlf
                },
                HeadLine {
                    text: "b,2",
                    end: LineEnd::Lf
                }
            ]
        );
        assert_eq!(
            head_lines("only,1"),
            vec![HeadLine {
                text: "only,1",
                end: LineEnd::None
            }]
        );
        assert!(head_lines("\n \n").is_empty());
    }

    #[test]
    fn plain_name_score_lines_are_exactly_two_fields() {
        assert!(plain_name_score_lines(&head_lines(
            "a.bmp,0.64\nb.bmp,nan\n"
        )));
        assert!(!plain_name_score_lines(&head_lines("a.bmp,0.64\r\n")));
        assert!(!plain_name_score_lines(&head_lines("a.bmp\t0.64\n")));
        assert!(!plain_name_score_lines(&head_lines("name,score\n")));
        assert!(!plain_name_score_lines(&head_lines("a.mp4,1, 2,3\n")));
        assert!(!plain_name_score_lines(&head_lines(",1\n")));
        assert!(!plain_name_score_lines(&[]));
    }
}
