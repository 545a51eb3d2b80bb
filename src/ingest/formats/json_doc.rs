//! A single JSON document (`.json`): one row object, a list of row objects,
//! or an object holding the list under `rows` or `results`.
//!
//! A document has to be parsed whole, so this reader holds the file in
//! memory; use JSON Lines for large score files. Rows are located with
//! `RawValue` so that every error and every stored row carries the line the
//! row starts on, not just "somewhere in the file".

use crate::ingest::json::valid_json_document;
use crate::ingest::{read_document, LineCounter};
use std::io::BufRead;

use serde_json::value::RawValue;

use crate::ingest::json::json_error;
use crate::ingest::json::RowReader;
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for `.json` score documents.
pub struct JsonDocReader;

impl ScoreReader for JsonDocReader {
    const NAME: &'static str = "json";
    const EXTENSIONS: &'static [&'static str] = &["json"];
    const GENERIC: bool = true;

    fn detect(head: &str, _extension: &str) -> Option<String> {
        match head.trim_start().as_bytes().first() {
            Some(b'[') => Some("a JSON list".to_string()),
            Some(b'{') if !super::jsonl::looks_like_json_lines(head) => {
                Some("a JSON object".to_string())
            }
            _ => None,
        }
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let text = read_document(input)?;
        let document = valid_json_document(&text)?;
        let document = document.as_ref();
        let rows = row_slices(document)?;
        if rows.is_empty() {
            return Err(ReadError::at(1, "no score rows: the document holds an empty list").into());
        }
        let mut lines = LineCounter::new(document);
        let mut reader = RowReader::new(&options.fields);
        for row in rows {
            let line = lines.line_at(row);
            let record = reader
                .read_row(row, line)
                .map_err(|message| ReadError::at(line, message))?;
            sink.push(record)?;
        }
        Ok(())
    }
}

/// The text of every row in the document, as slices of it.
fn row_slices(document: &str) -> Result<Vec<&str>, ReadError> {
    match document.trim_start().as_bytes().first() {
        Some(b'[') => list_items(document),
        Some(b'{') => {
            let object: std::collections::BTreeMap<String, &RawValue> =
                serde_json::from_str(document)
                    .map_err(|e| ReadError::at(e.line() as u64, json_error(&e)))?;
            for list_field in ["rows", "results"] {
                if let Some(raw) = object.get(list_field) {
                    if !raw.get().trim_start().starts_with('[') {
                        return Err(ReadError::at(
                            LineCounter::new(document).line_at(raw.get()),
                            format!("`{list_field}` must be a list of row objects"),
                        ));
                    }
                    return list_items(raw.get());
                }
            }
            Ok(vec![document])
        }
        _ => Err(ReadError::at(
            1,
            "expected a row object, a list of rows, or an object with a `rows` or `results` list",
        )),
    }
}

/// The elements of a JSON list, as slices of `raw`.
fn list_items(raw: &str) -> Result<Vec<&str>, ReadError> {
    let items: Vec<&RawValue> =
        serde_json::from_str(raw).map_err(|e| ReadError::at(1, json_error(&e)))?;
    Ok(items.into_iter().map(RawValue::get).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::RawScore;

    #[test]
    fn reads_a_list_with_the_line_of_each_row() {
        let doc = b"[\n  {\"video_id\": \"a\", \"score\": 1},\n\n  {\"video_id\": \"b\",\n   \"score\": 2}\n]\n";
        let records = read_all::<JsonDocReader>(doc).unwrap();
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![2, 4]
        );
    }

    #[test]
    fn reads_rows_results_and_single_objects() {
        let rows =
            read_all::<JsonDocReader>(b"{\"rows\": [{\"clip_id\": \"a\", \"score\": 1}]}").unwrap();
        assert_eq!(rows[0].raw_key, "a");
        let results = read_all::<JsonDocReader>(
            b"{\"meta\": 1,\n\"results\": [\n{\"clip_id\": \"r\", \"score\": 1}]}",
        )
        .unwrap();
        assert_eq!((results[0].raw_key.as_str(), results[0].line), ("r", 3));
        let single =
            read_all::<JsonDocReader>(b"{\"name\": \"c.yuv\", \"frames\": [{\"score\": 4}]}")
                .unwrap();
        assert_eq!(single[0].value, RawScore::Number(4.0));
    }

    #[test]
    fn python_nan_in_a_document() {
        let records =
            read_all::<JsonDocReader>(b"[{\"clip_id\": \"a\", \"score\": -Infinity}]").unwrap();
        assert!(matches!(records[0].value, RawScore::Unusable(_)));
    }

    #[test]
    fn malformed_documents_name_their_line() {
        assert_eq!(
            error_of::<JsonDocReader>(
                b"[\n{\"clip_id\": \"a\", \"score\": 1},\n{\"clip_id\": }\n]"
            )
            .0,
            3
        );
        assert_eq!(
            error_of::<JsonDocReader>(b"[\n{\"clip_id\": \"a\", \"score\": 1},\n 5\n]").0,
            3
        );
        assert_eq!(
            error_of::<JsonDocReader>(b"[]").1,
            "no score rows: the document holds an empty list"
        );
        assert_eq!(error_of::<JsonDocReader>(b"  \n").1, "empty file");
        assert!(error_of::<JsonDocReader>(b"{\"rows\": 5}")
            .1
            .contains("must be a list"));
        assert_eq!(
            error_of::<JsonDocReader>(b"{\n\"meta\": 1,\n\"results\": {}\n}").0,
            3,
            "the line of the field's value, not of the document"
        );
        assert!(error_of::<JsonDocReader>(b"\"text\"")
            .1
            .starts_with("expected a row object"));
        assert_eq!(
            error_of::<JsonDocReader>(b"[\n\n{\"clip_id\": \"a\xff\"}]").0,
            3
        );
    }
}
