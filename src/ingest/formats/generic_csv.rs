//! Any delimited table with a header (`.csv`, `.tsv`): the shape scorers'
//! wrapper scripts and spreadsheets write when no scorer-specific format
//! applies. Chosen only when no specific format (DOVER, pyiqa, libvmaf …)
//! recognises the file.
//!
//! - The delimiter is sniffed from the header line: comma, tab or semicolon,
//!   whichever occurs most outside quotes (a `.tsv` prefers tab).
//! - Columns are found as in JSON rows: the key from `--score-key-field` or
//!   the usual key candidates (`clip_id`, `video_id`, … `path`, `src`,
//!   `video_name`, …), the score from `--score-field` or the score
//!   candidates (`score`, `mos`, …), and when present `runtime_ms` (or
//!   `runtime_total_ms`, `elapsed_ms`), `status` and `competitor`. Names
//!   match ignoring case; cells and names are trimmed, so `a, 1` reads as
//!   `a` and `1`.
//! - Every cell is text. Keys stay text (`001` is not 1). A score cell that
//!   is empty, not a number, or NaN/inf is a `bad` row with the reason, not
//!   a broken file: a scorer that failed on one clip often leaves its cell
//!   empty. A semicolon file whose numbers use a decimal comma is reported
//!   as such.
//! - A row with more or fewer cells than the header is a malformed file
//!   (`file:line`), because its cells can no longer be told apart.
//! - CRLF line ends, quoted cells (with delimiters or newlines inside) and a
//!   UTF-8 byte-order mark are read as the `csv` crate reads them; blank
//!   lines are skipped.

use std::io::BufRead;

use csv::{ByteRecord, ReaderBuilder, StringRecord, Trim};

use crate::ingest::json::fields::RUNTIME_FIELDS;
use crate::ingest::{RawScore, ReadError, ReadOptions, RecordSink, ScoreReader, ScoreRecord};
use crate::key::find_candidate;
use crate::nonfinite::is_nonfinite_word;

/// Reader for delimited tables with a header.
pub struct CsvReader;

const DELIMITERS: &[(u8, &str)] = &[(b',', "comma"), (b'\t', "tab"), (b';', "semicolon")];

impl ScoreReader for CsvReader {
    const NAME: &'static str = "csv";
    const EXTENSIONS: &'static [&'static str] = &["csv", "tsv"];
    const GENERIC: bool = true;

    fn detect(head: &str, extension: &str) -> Option<String> {
        let first = head.lines().find(|line| !line.trim().is_empty())?;
        if first.trim_start().starts_with(['{', '[']) {
            return None;
        }
        let (delimiter, name) = sniff_delimiter(first, extension)?;
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(Trim::All)
            .from_reader(head.as_bytes());
        let mut records = reader.records();
        let header = records.next()?.ok()?;
        let row = records.next()?.ok()?;
        // A header names its columns: no cell of it is a number (headerless
        // `name,score` files are another format's), and a row has as many.
        let named = header
            .iter()
            .all(|cell| !cell.is_empty() && cell.parse::<f64>().is_err());
        (named && header.len() >= 2 && row.len() == header.len()).then(|| {
            format!(
                "a header of {} {name}-separated columns ({})",
                header.len(),
                header.iter().take(4).collect::<Vec<_>>().join(", ")
            )
        })
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut records = RecordLines::new(input);
        let mut header_bytes = Vec::new();
        let Some(header_line) = records.next_record(&mut header_bytes)? else {
            return Err(ReadError::at(1, "empty file").into());
        };
        let extension = std::path::Path::new(&options.file_name)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        // A file of one column is read as comma-separated, so the error
        // names the missing column.
        let (delimiter, _) = sniff_delimiter(&String::from_utf8_lossy(&header_bytes), &extension)
            .unwrap_or((b',', "comma"));
        let mut header = Cells::default();
        parse_record(&header_bytes, delimiter, header_line, &mut header)?;
        let columns = Columns::find(&header, options, delimiter, header_line)?;
        sink.note(format!(
            "key from column '{}', score from column '{}'",
            header.cell(columns.key),
            header.cell(columns.score)
        ));

        let mut rows = 0u64;
        let mut bytes = Vec::new();
        let mut row = Cells::default();
        while let Some(line) = records.next_record(&mut bytes)? {
            parse_record(&bytes, delimiter, line, &mut row)?;
            if row.len() != header.len() {
                return Err(ReadError::at(
                    line,
                    format!(
                        "the row has {} cells, the header has {}",
                        row.len(),
                        header.len()
                    ),
                )
                .into());
            }
            let record = columns
                .record(&header, &row, line)
                .map_err(|message| ReadError::at(line, message))?;
            rows += 1;
            sink.push(record)?;
        }
        if rows == 0 {
            return Err(ReadError::at(header_line, "no score rows, only a header").into());
        }
        Ok(())
    }
}

/// The records of a delimited file with the line each starts on. The `csv`
/// crate's own line numbers drift on CRLF files and blank lines, so lines
/// are split here: a record is one line, or several while a quoted cell is
/// open (an odd number of `"` so far; escaped quotes come in pairs).
struct RecordLines<'a> {
    input: &'a mut dyn BufRead,
    line: u64,
}

impl<'a> RecordLines<'a> {
    fn new(input: &'a mut dyn BufRead) -> Self {
        RecordLines { input, line: 0 }
    }

    /// The next record that is not blank, as raw bytes into `bytes` (a
    /// buffer the caller keeps, so a row costs no allocation), and its
    /// first line.
    fn next_record(&mut self, bytes: &mut Vec<u8>) -> Result<Option<u64>, ReadError> {
        loop {
            bytes.clear();
            let start = self.line + 1;
            loop {
                if self.input.read_until(b'\n', bytes)? == 0 {
                    break;
                }
                self.line += 1;
                if self.line == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
                    bytes.drain(..3);
                }
                if bytes.iter().filter(|b| **b == b'"').count() % 2 == 0 {
                    break;
                }
            }
            if bytes.is_empty() {
                return Ok(None);
            }
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(start));
            }
        }
    }
}

/// The trimmed cells of one record: its text and each cell's range in it.
/// One is kept for the whole file and refilled row by row.
#[derive(Default)]
struct Cells {
    text: String,
    bounds: Vec<(usize, usize)>,
}

impl Cells {
    fn len(&self) -> usize {
        self.bounds.len()
    }

    fn cell(&self, column: usize) -> &str {
        let (start, end) = self.bounds[column];
        &self.text[start..end]
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|column| self.cell(column))
    }
}

/// The cells of one record, trimmed, as text, into `cells`.
///
/// A record without quotes (and without a bare `\r`, which the `csv`
/// crate takes for a line end) is split here, in place: building a `csv`
/// reader for every record cost several times the rest of the row's
/// reading (issue 18). Any other record is read by the `csv` crate, so
/// quoting is read exactly as it reads it; both trim ASCII whitespace.
fn parse_record(
    bytes: &[u8],
    delimiter: u8,
    line: u64,
    cells: &mut Cells,
) -> Result<(), ReadError> {
    cells.text.clear();
    cells.bounds.clear();
    let end = bytes
        .iter()
        .rposition(|b| *b != b'\n' && *b != b'\r')
        .map_or(0, |last| last + 1);
    let body = &bytes[..end];
    if body.contains(&b'"') || body.contains(&b'\r') {
        return parse_quoted_record(bytes, delimiter, line, cells);
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        let column = body[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == delimiter)
            .count();
        invalid_utf8(line, column)
    })?;
    cells.text.push_str(text);
    let mut start = 0;
    for field in body.split(|b| *b == delimiter) {
        let lead = field.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let trail = field[lead..]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        cells
            .bounds
            .push((start + lead, start + field.len() - trail));
        start += field.len() + 1;
    }
    Ok(())
}

/// A record with quotes (or a bare `\r`), read by the `csv` crate.
fn parse_quoted_record(
    bytes: &[u8],
    delimiter: u8,
    line: u64,
    cells: &mut Cells,
) -> Result<(), ReadError> {
    let mut reader = ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .buffer_capacity(bytes.len().max(64))
        .from_reader(bytes);
    let mut record = ByteRecord::new();
    reader
        .read_byte_record(&mut record)
        .map_err(|e| ReadError::at(line, e.to_string()))?;
    let record = StringRecord::from_byte_record(record)
        .map_err(|e| invalid_utf8(line, e.utf8_error().field()))?;
    for field in record.iter() {
        let start = cells.text.len();
        cells.text.push_str(field);
        cells.bounds.push((start, cells.text.len()));
    }
    Ok(())
}

/// Invalid UTF-8 in the cell of 0-based `column`.
fn invalid_utf8(line: u64, column: usize) -> ReadError {
    ReadError::at(line, format!("invalid UTF-8 in column {}", column + 1))
}

/// The delimiter occurring most often outside quotes in the header line.
fn sniff_delimiter(line: &str, extension: &str) -> Option<(u8, &'static str)> {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for byte in line.bytes() {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = DELIMITERS.iter().position(|(d, _)| *d == byte) {
                counts[i] += 1;
            }
        }
    }
    if extension == "tsv" && counts[1] > 0 {
        return Some(DELIMITERS[1]);
    }
    let (best, count) = counts
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| a.cmp(b).then(j.cmp(i)))?;
    (*count > 0).then_some(DELIMITERS[best])
}

/// Which column holds what.
struct Columns {
    key: usize,
    score: usize,
    runtime: Option<usize>,
    status: Option<usize>,
    competitor: Option<usize>,
    /// A semicolon file may use decimal commas, which the reason names.
    semicolon: bool,
}

impl Columns {
    fn find(
        header: &Cells,
        options: &ReadOptions,
        delimiter: u8,
        line: u64,
    ) -> Result<Columns, ReadError> {
        let names: Vec<&str> = header.iter().collect();
        let position = |candidates: &[&str]| -> Option<usize> {
            let name = find_candidate(names.iter().copied(), candidates)?;
            names.iter().position(|n| *n == name)
        };
        let key_candidates = options.fields.key_candidates();
        let score_candidates = options.fields.score_candidates();
        let key = position(&key_candidates).ok_or_else(|| {
            ReadError::at(
                line,
                match &options.fields.key {
                    Some(field) => {
                        format!("no key column '{field}' (--score-key-field) in the header")
                    }
                    None => format!(
                        "no key column: the header has none of {} (name it with {})",
                        key_candidates.join(", "),
                        options.command_line.setting_name("score-key-field")
                    ),
                },
            )
        })?;
        let score = position(&score_candidates).ok_or_else(|| {
            ReadError::at(
                line,
                match &options.fields.score {
                    Some(field) => {
                        format!("no score column '{field}' (--score-field) in the header")
                    }
                    None => format!(
                        "no score column: the header has none of {} (name it with {})",
                        score_candidates.join(", "),
                        options.command_line.setting_name("score-field")
                    ),
                },
            )
        })?;
        Ok(Columns {
            key,
            score,
            runtime: position(RUNTIME_FIELDS),
            status: position(&["status"]),
            competitor: position(&["competitor"]),
            semicolon: delimiter == b';',
        })
    }

    fn record(&self, header: &Cells, row: &Cells, line: u64) -> Result<ScoreRecord, String> {
        let key_field = header.cell(self.key);
        let raw_key = row.cell(self.key);
        if raw_key.is_empty() {
            return Err(format!("empty key in column '{key_field}'"));
        }
        let cell =
            |column: Option<usize>| column.map(|c| row.cell(c)).filter(|text| !text.is_empty());
        let runtime_ms = match cell(self.runtime) {
            None => None,
            Some(text) if is_nonfinite_word(text) => None,
            Some(text) => Some(text.parse::<f64>().map_err(|_| {
                format!(
                    "{} must be a number, got \"{text}\"",
                    header.cell(self.runtime.unwrap_or(0))
                )
            })?),
        };
        Ok(ScoreRecord {
            line,
            key_field: crate::key::field_name(key_field),
            raw_key: raw_key.to_string(),
            scorer: cell(self.competitor).map(str::to_string),
            scorer_hint: None,
            metric: None,
            value: self.score(header.cell(self.score), row.cell(self.score)),
            reported_status: cell(self.status).map(crate::ingest::record::status_text),
            runtime_ms,
            frames: Vec::new(),
            pooled_frames: 0,
            note: None,
            components: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// A score cell: a finite number, or why it is unusable.
    fn score(&self, field: &str, text: &str) -> RawScore {
        if text.is_empty() {
            return RawScore::Unusable(format!("{field} is empty"));
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => RawScore::Number(value),
            Ok(_) => RawScore::Unusable(format!("{field} must be a finite number, got \"{text}\"")),
            Err(_) if self.semicolon && text.replacen(',', ".", 1).parse::<f64>().is_ok() => {
                RawScore::Unusable(format!(
                    "{field} must be a number, got \"{text}\" (a decimal comma: write numbers with a point)"
                ))
            }
            Err(_) => RawScore::Unusable(format!("{field} must be a number, got \"{text}\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all, Collect};
    use crate::ingest::FieldNames;

    #[test]
    fn detects_a_header_and_sniffs_the_delimiter() {
        let detect = |text: &str, ext: &str| CsvReader::detect(text, ext);
        assert_eq!(
            detect("clip_id,score\na,1\n", "csv").as_deref(),
            Some("a header of 2 comma-separated columns (clip_id, score)")
        );
        assert!(detect("clip_id\tscore\ta\nx\t1\t2\n", "txt")
            .unwrap()
            .contains("tab-separated"));
        assert!(detect("clip_id;score\na;1,5\n", "csv")
            .unwrap()
            .contains("semicolon-separated"));
        assert!(detect("\"a,b\";score\nx;1\n", "csv")
            .unwrap()
            .contains("semicolon"));
        // Headerless `name,score` rows, JSON and prose are not tables with a header.
        assert_eq!(
            detect("I03.bmp,12.478515625\r\nI04.bmp,75.7\r\n", "csv"),
            None
        );
        assert_eq!(
            detect("{\"a\": 1, \"b\": 2}\n{\"a\": 1, \"b\": 2}\n", "txt"),
            None
        );
        assert_eq!(detect("3.88\n", "txt"), None);
        assert_eq!(
            detect("clip_id,score\n", "csv"),
            None,
            "no row to check the header against"
        );
        assert_eq!(detect("clip_id,score\na,1,2\n", "csv"), None);
    }

    #[test]
    fn reads_rows_with_their_lines_crlf_bom_and_blank_lines() {
        let bytes = b"\xEF\xBB\xBFclip_id,score,runtime_ms,status\r\n001,72.5,3,ok\r\n\r\n002, 61 ,,FAILED\r\n";
        let records = read_all::<CsvReader>(bytes).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            (
                records[0].line,
                records[0].key_field.as_ref(),
                records[0].raw_key.as_str()
            ),
            (2, "clip_id", "001")
        );
        assert_eq!(records[0].value, RawScore::Number(72.5));
        assert_eq!(records[0].runtime_ms, Some(3.0));
        assert_eq!(records[0].reported_status.as_deref(), Some("ok"));
        assert_eq!(
            (records[1].line, records[1].value.clone()),
            (4, RawScore::Number(61.0))
        );
        assert_eq!(records[1].runtime_ms, None);
        assert_eq!(records[1].reported_status.as_deref(), Some("FAILED"));
    }

    #[test]
    fn tabs_semicolons_quotes_and_competitor() {
        let records =
            read_all::<CsvReader>(b"Video_ID\tMOS\tcompetitor\n\"a\tb\"\t3.5\tDOVER\n").unwrap();
        assert_eq!(records[0].raw_key, "a\tb");
        assert_eq!(records[0].value, RawScore::Number(3.5));
        assert_eq!(records[0].scorer.as_deref(), Some("DOVER"));
        let records = read_all::<CsvReader>(b"path;score\n/x/a.mp4;1,5\n").unwrap();
        assert_eq!(
            records[0].value,
            RawScore::Unusable(
                "score must be a number, got \"1,5\" (a decimal comma: write numbers with a point)"
                    .into()
            )
        );
    }

    #[test]
    fn unusable_score_cells_are_bad_rows_with_a_reason() {
        let records = read_all::<CsvReader>(b"clip_id,score\na,\nb,NaN\nc,n/a\nd,inf\n").unwrap();
        let reasons: Vec<_> = records.iter().map(|r| r.value.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                RawScore::Unusable("score is empty".into()),
                RawScore::Unusable("score must be a finite number, got \"NaN\"".into()),
                RawScore::Unusable("score must be a number, got \"n/a\"".into()),
                RawScore::Unusable("score must be a finite number, got \"inf\"".into()),
            ]
        );
    }

    #[test]
    fn explicit_columns_and_their_errors() {
        let bytes = b"clip,dover_overall,score\nx,0.5,9\n";
        let options = ReadOptions {
            fields: FieldNames {
                key: Some("clip".into()),
                score: Some("dover_overall".into()),
                ..Default::default()
            },
            ..ReadOptions::default()
        };
        let mut sink = Collect::default();
        CsvReader::read(&mut &bytes[..], &options, &mut sink).unwrap();
        assert_eq!(
            (sink.0[0].raw_key.as_str(), sink.0[0].value.clone()),
            ("x", RawScore::Number(0.5))
        );
        let (line, message) = error_of::<CsvReader>(b"clip,score\nx,1\n");
        assert_eq!(line, 1);
        assert!(
            message.starts_with("no key column: the header has none of clip_id"),
            "{message}"
        );
        let (_, message) = error_of::<CsvReader>(b"clip_id,value\nx,1\n");
        assert!(message.starts_with("no score column"), "{message}");
    }

    #[test]
    fn unquoted_records_split_here_as_the_csv_crate_splits_them() {
        let records: &[&[u8]] = &[
            b"a,b\n",
            b" a , b \r\n",
            b"a,,\n",
            b",\n",
            b"x\t y \t\r\r\n",
            b"/corpus/ugc/clip_0000001.mp4,43.123456",
            b"caf\xc3\xa9;1,5\n",
            b"a\x0b,b\x0c\n",
        ];
        for bytes in records {
            for delimiter in [b',', b'\t', b';'] {
                let (mut here, mut by_crate) = (Cells::default(), Cells::default());
                parse_record(bytes, delimiter, 1, &mut here).unwrap();
                parse_quoted_record(bytes, delimiter, 1, &mut by_crate).unwrap();
                assert_eq!(
                    here.iter().collect::<Vec<_>>(),
                    by_crate.iter().collect::<Vec<_>>(),
                    "{:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
        let mut cells = Cells::default();
        for bytes in [&b"a,b\xff,c\n"[..], b"a,\xffb\n"] {
            let here = parse_record(bytes, b',', 7, &mut cells).unwrap_err();
            let by_crate = parse_quoted_record(bytes, b',', 7, &mut cells).unwrap_err();
            assert_eq!(here.to_string(), by_crate.to_string());
        }
    }

    #[test]
    fn malformed_rows_name_their_line() {
        assert_eq!(
            error_of::<CsvReader>(b"clip_id,score\na,1\nb,2,3\n"),
            (3, "the row has 3 cells, the header has 2".to_string())
        );
        assert_eq!(
            error_of::<CsvReader>(b"clip_id,score\na,1\n,2\n"),
            (3, "empty key in column 'clip_id'".to_string())
        );
        assert_eq!(
            error_of::<CsvReader>(b"clip_id,score,runtime_ms\na,1,fast\n"),
            (2, "runtime_ms must be a number, got \"fast\"".to_string())
        );
        assert_eq!(
            error_of::<CsvReader>(b"clip_id,score\na,\xff\n"),
            (2, "invalid UTF-8 in column 2".to_string())
        );
        assert_eq!(
            error_of::<CsvReader>(b"clip_id,score\n"),
            (1, "no score rows, only a header".to_string())
        );
        assert_eq!(
            error_of::<CsvReader>(b"  \n"),
            (1, "empty file".to_string())
        );
    }
}
