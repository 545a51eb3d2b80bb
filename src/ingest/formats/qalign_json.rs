//! Q-Align's benchmark evaluator output (`q_align/evaluate/vqa_eval.py`,
//! Q-Future/Q-Align @ 14dfdff): JSON objects written back to back with no
//! separator, `{…}{…}{…}`, usually all on one line.
//!
//! The script appends `json.dump(record)` per video to
//! `results/<model-path>/<test-json>`; a record is the benchmark's input
//! record (`img_path`, or `id` + `image` + `conversations` for LSVQ, and
//! `gt_score`) plus `logits` (13 tokens) and `score` (0–1: softmax over
//! excellent…bad weighted 1, .75, .5, .25, 0). So:
//!
//! - The file is neither JSON nor JSON Lines: it is decoded as a stream of
//!   values. Every record usually starts on line 1, so errors also name the
//!   record (`record 3`) and the column.
//! - The key is `img_path`, else `image` (a relative path; `auto` takes its
//!   basename), as the script itself looks them up. `gt_score` is the
//!   benchmark's human MOS, not a scorer output, and is not stored.
//! - `logits` are kept as components `logit_<token>`.
//! - `iqa_eval.py` writes the same form with `logits` and **no `score`**.
//!   Its logits can be pooled to 0–1 (vqa_eval's weights) or 1–5 (the
//!   README's), and the file does not say which the operator means, so such
//!   a record is stored `bad` with the reason and its logits as components:
//!   nothing is invented, and nothing is lost.
//! - The script opens its results file in append mode, so a re-run adds the
//!   same videos again. A repeated record with the same score and logits as
//!   the first is skipped with a note; a different one is refused, because
//!   the file then holds two runs and only the operator knows which is right.
//! - Python writes `NaN` for a diverged score; it reads as unusable (`bad`).

use crate::ingest::read_document;
use std::collections::HashMap;
use std::io::BufRead;

use serde_json::{Map, Value};

use crate::ingest::json::fields::{describe, score_value};
use crate::ingest::json::json_error;
use crate::ingest::ScoreRecord;
use crate::ingest::{RawScore, ReadError, ReadOptions, RecordSink, ScoreReader};
use crate::nonfinite;

/// Reader for Q-Align `vqa_eval.py` / `iqa_eval.py` results files.
pub struct QAlignJsonReader;

/// The fields naming the video, in the order `vqa_eval.py` tries them.
const KEY_FIELDS: &[&str] = &["img_path", "image"];
/// The scorer these files come from, unless a label or `--scorer` says otherwise.
const SCORER_HINT: &str = "q-align";

impl ScoreReader for QAlignJsonReader {
    const NAME: &'static str = "qalign-json";
    const EXTENSIONS: &'static [&'static str] = &["json"];
    /// `vqa_eval.py`'s `score` is a weighted softmax with weights 1 … 0.
    const FIXED_SCALE: Option<(f64, f64)> = Some((0.0, 1.0));

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let text = head.trim_start();
        if !text.starts_with('{') {
            return None;
        }
        let quoted = nonfinite::quote_nonfinite_words(text);
        let text = quoted.as_deref().unwrap_or(text);
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let Some(Ok(Value::Object(first))) = stream.next() else {
            return None;
        };
        let has_logits = matches!(first.get("logits"), Some(Value::Object(_)));
        let has_key = KEY_FIELDS.iter().any(|field| first.contains_key(*field));
        // Only spaces may separate two records of the same line: objects on
        // separate lines are JSON Lines, which that reader reads.
        let after = text[stream.byte_offset()..].trim_start_matches([' ', '\t']);
        if after.starts_with('{') && (has_logits || has_key) {
            return Some(
                "JSON objects concatenated with no separator, keyed img_path/image (Q-Align vqa_eval.py)"
                    .to_string(),
            );
        }
        (after.trim().is_empty() && has_logits && has_key)
            .then(|| "a JSON object with Q-Align's `logits` (Q-Align vqa_eval.py)".to_string())
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        // A results file is one line of JSON, so it is read whole.
        let text = read_document(input)?;
        let text = text.as_str();
        let objects = match split_objects(text) {
            Ok(objects) => objects,
            // Python's NaN: quote the bare words and try again; quoting
            // never moves a line, so the lines found stay right.
            Err(error) => match nonfinite::quote_nonfinite_words(text) {
                Some(quoted) => split_objects(&quoted).map_err(|_| error)?,
                None => return Err(error.into()),
            },
        };

        // Video → the first record of it, for re-runs appended to the file.
        let mut seen: HashMap<String, (usize, ScoreRecord)> = HashMap::new();
        let mut repeated = 0usize;
        let mut logits_only = 0usize;
        for (index, (line, object)) in objects.iter().enumerate() {
            let number = index + 1;
            let (record, has_only_logits) = record_from_object(object, *line, options)
                .map_err(|message| ReadError::at(*line, format!("record {number}: {message}")))?;
            if let Some((first, earlier)) = seen.get(&record.raw_key) {
                if earlier.value == record.value && earlier.components == record.components {
                    repeated += 1;
                    continue;
                }
                return Err(ReadError::at(
                    *line,
                    format!(
                        "record {number}: '{}' again with a different result than record {first}: \
                         vqa_eval.py appends to its results file, so this file holds two runs; \
                         keep the records of one run",
                        record.raw_key
                    ),
                )
                .into());
            }
            seen.insert(record.raw_key.clone(), (number, record.clone()));
            logits_only += usize::from(has_only_logits);
            sink.push(record)?;
        }
        if repeated > 0 {
            sink.note(format!(
                "{repeated} record(s) repeat an earlier record of the same video with the same result \
                 (vqa_eval.py appends on re-runs); each video was read once"
            ));
        }
        if logits_only > 0 {
            sink.note(format!(
                "{logits_only} of {} records have `logits` but no `score` (Q-Align iqa_eval.py output): \
                 stored bad, with their logits as components",
                objects.len()
            ));
        }
        Ok(())
    }
}

/// A record of the stream and the line it starts on.
type LocatedObject = (u64, Map<String, Value>);

/// Every top-level value of the stream, with the line it starts on. Each
/// must be an object.
fn split_objects(text: &str) -> Result<Vec<LocatedObject>, ReadError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut objects = Vec::new();
    let mut line = 1u64;
    let mut counted_to = 0usize;
    loop {
        let rest = &text[stream.byte_offset()..];
        let start = text.len() - rest.trim_start().len();
        if start == text.len() {
            break;
        }
        line += text.as_bytes()[counted_to..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = start;
        let number = objects.len() + 1;
        match stream.next() {
            None => break,
            Some(Err(error)) => {
                return Err(ReadError::at(
                    error.line() as u64,
                    format!("record {number}: {}", json_error(&error)),
                ))
            }
            Some(Ok(Value::Object(object))) => objects.push((line, object)),
            Some(Ok(other)) => {
                return Err(ReadError::at(
                    line,
                    format!(
                        "record {number}: expected a JSON object, got {}",
                        describe(&other)
                    ),
                ))
            }
        }
    }
    Ok(objects)
}

/// One record, and whether it has logits but no score (`iqa_eval.py`).
/// The error is the message only; the caller adds where.
fn record_from_object(
    object: &Map<String, Value>,
    line: u64,
    options: &ReadOptions,
) -> Result<(ScoreRecord, bool), String> {
    let (key_field, raw_key) = key(object, options)?;
    let components = match object.get("logits") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(logits)) => logits
            .iter()
            .map(|(token, value)| {
                let value = value.as_f64().filter(|v| v.is_finite());
                (format!("logit_{token}"), value)
            })
            .collect(),
        Some(other) => {
            return Err(format!(
                "`logits` must be an object of token → logit, got {}",
                describe(other)
            ))
        }
    };
    let score_field = options.fields.score.as_deref().unwrap_or("score");
    let has_only_logits = !object.contains_key(score_field) && !components.is_empty();
    let value = match object.get(score_field) {
        Some(value) => score_value(score_field, value),
        None if options.fields.score.is_some() => {
            return Err(format!("no field '{score_field}' (--score-field)"))
        }
        None if !components.is_empty() => RawScore::Unusable(
            "no `score`, only `logits` (Q-Align iqa_eval.py): the file does not say whether \
             they pool to 0–1 or 1–5"
                .to_string(),
        ),
        None => return Err("no `score` and no `logits`".to_string()),
    };
    let record = ScoreRecord {
        line,
        key_field: crate::key::field_name(key_field),
        raw_key,
        scorer: None,
        scorer_hint: Some(SCORER_HINT.to_string()),
        metric: None,
        value,
        reported_status: None,
        runtime_ms: None,
        frames: Vec::new(),
        pooled_frames: 0,
        note: None,
        components,
        warnings: Vec::new(),
    };
    Ok((record, has_only_logits))
}

/// The video a record scored: `--score-key-field`, else `img_path`, else `image`.
fn key(object: &Map<String, Value>, options: &ReadOptions) -> Result<(String, String), String> {
    let candidates: Vec<&str> = match &options.fields.key {
        Some(field) => vec![field.as_str()],
        None => KEY_FIELDS.to_vec(),
    };
    let Some((field, value)) = candidates.iter().find_map(|field| {
        object
            .get_key_value(*field)
            .filter(|(_, value)| !value.is_null())
    }) else {
        return Err(match &options.fields.key {
            Some(field) => format!("no key: the record has no field '{field}' (--score-key-field)"),
            None => "no key: a Q-Align record names its video in `img_path` or `image`, \
                     and this one has neither"
                .to_string(),
        });
    };
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => {
            return Err(format!(
                "key field '{field}' must be a string or a number, got {}",
                describe(other)
            ))
        }
    };
    if text.trim().is_empty() {
        return Err(format!("empty key in field '{field}'"));
    }
    Ok((field.clone(), text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all, Collect};

    /// Two `vqa_eval.py` records exactly as `json.dump` appends them: no
    /// separator, no newline, logits in the script's token order.
    const KONVID: &[u8] = br#"{"img_path": "3339962845.mp4", "gt_score": 4.64, "logits": {"good": 17.203125, "poor": 9.8125, "high": 12.125, "fair": 13.0, "low": 8.875, "excellent": 15.5625, "bad": 7.40625, "fine": 10.1875, "moderate": 9.125, "decent": 9.875, "average": 8.6875, "medium": 8.0, "acceptable": 8.3125}, "score": 0.7120361328125}{"img_path": "8171831850.mp4", "gt_score": 2.38, "logits": {"good": 12.5, "poor": 13.1875, "high": 8.4375, "fair": 14.5, "low": 10.625, "excellent": 8.0625, "bad": 11.3125, "fine": 9.75, "moderate": 9.0, "decent": 8.8125, "average": 9.9375, "medium": 8.4375, "acceptable": 8.5625}, "score": 0.4321337890625}"#;

    #[test]
    fn detects_concatenated_records_but_not_json_lines_or_rows() {
        let head = String::from_utf8_lossy(KONVID);
        assert!(QAlignJsonReader::detect(&head, "json")
            .unwrap()
            .contains("concatenated"));
        let lsvq = r#"{"id": "747", "image": "lsvq/yfcc-batch1/747.mp4", "score": 0.5}{"id": "9"}"#;
        assert!(QAlignJsonReader::detect(lsvq, "json").is_some());
        let single = r#"{"img_path": "a.mp4", "logits": {"good": 1.0}, "score": 0.5}"#;
        assert!(QAlignJsonReader::detect(single, "json").is_some());

        let json_lines = "{\"img_path\": \"a.mp4\", \"score\": 0.5}\n{\"img_path\": \"b.mp4\", \"score\": 0.6}\n";
        assert_eq!(QAlignJsonReader::detect(json_lines, "json"), None);
        let row = r#"{"img_path": "a.mp4", "score": 0.5}"#;
        assert_eq!(QAlignJsonReader::detect(row, "json"), None);
        let rows = r#"[{"img_path": "a.mp4", "score": 0.5}]"#;
        assert_eq!(QAlignJsonReader::detect(rows, "json"), None);
        let other = r#"{"clip_id": "a", "score": 0.5}{"clip_id": "b", "score": 0.5}"#;
        assert_eq!(QAlignJsonReader::detect(other, "json"), None);
    }

    #[test]
    fn reads_score_key_and_logits() {
        let records = read_all::<QAlignJsonReader>(KONVID).unwrap();
        assert_eq!(records.len(), 2);
        let first = &records[0];
        assert_eq!(
            (first.key_field.as_ref(), first.raw_key.as_str(), first.line),
            ("img_path", "3339962845.mp4", 1)
        );
        assert_eq!(first.value, RawScore::Number(0.7120361328125));
        assert_eq!(first.scorer_hint.as_deref(), Some("q-align"));
        assert_eq!(first.components.len(), 13);
        assert!(first
            .components
            .contains(&("logit_excellent".to_string(), Some(15.5625))));
        assert_eq!(records[1].raw_key, "8171831850.mp4");
    }

    #[test]
    fn lsvq_records_are_keyed_by_image_on_their_own_lines() {
        let bytes = b"{\"id\": \"747\", \"image\": \"lsvq/yfcc-batch1/747.mp4\", \"gt_score\": 3.1, \"score\": 0.61}\n\n{\"id\": \"9\", \"image\": \"lsvq/yfcc-batch1/9.mp4\", \"gt_score\": 2.0, \"score\": 0.4}";
        let records = read_all::<QAlignJsonReader>(bytes).unwrap();
        assert_eq!(
            records
                .iter()
                .map(|r| (r.key_field.as_ref(), r.raw_key.as_str(), r.line))
                .collect::<Vec<_>>(),
            vec![
                ("image", "lsvq/yfcc-batch1/747.mp4", 1),
                ("image", "lsvq/yfcc-batch1/9.mp4", 3)
            ]
        );
        assert!(records[0].components.is_empty());
    }

    #[test]
    fn logits_without_a_score_are_a_bad_row_with_a_note() {
        let bytes =
            br#"{"image": "koniq/1.jpg", "gt_score": 3.0, "logits": {"good": 1.5, "bad": NaN}}"#;
        let mut sink = Collect::default();
        QAlignJsonReader::read(&mut &bytes[..], &ReadOptions::default(), &mut sink).unwrap();
        let record = &sink.0[0];
        assert!(
            matches!(&record.value, RawScore::Unusable(reason) if reason.contains("only `logits`"))
        );
        assert_eq!(
            record.components,
            vec![
                ("logit_bad".to_string(), None),
                ("logit_good".to_string(), Some(1.5))
            ]
        );
    }

    #[test]
    fn python_nan_score_is_unusable() {
        let records = read_all::<QAlignJsonReader>(
            br#"{"img_path": "a.mp4", "score": NaN}{"img_path": "b.mp4", "score": 0.5}"#,
        )
        .unwrap();
        assert_eq!(
            records[0].value,
            RawScore::Unusable("score must be a finite number, got \"NaN\"".into())
        );
        assert_eq!(records[1].value, RawScore::Number(0.5));
    }

    #[test]
    fn appended_re_runs_are_read_once_or_refused() {
        let same = br#"{"img_path": "a.mp4", "score": 0.5}{"img_path": "b.mp4", "score": 0.6}{"img_path": "a.mp4", "score": 0.5}"#;
        assert_eq!(read_all::<QAlignJsonReader>(same).unwrap().len(), 2);
        let (line, message) = error_of::<QAlignJsonReader>(
            br#"{"img_path": "a.mp4", "score": 0.5}{"img_path": "a.mp4", "score": 0.7}"#,
        );
        assert_eq!(line, 1);
        let logits_differ = error_of::<QAlignJsonReader>(
            br#"{"image": "a.jpg", "logits": {"good": 1.0}}{"image": "a.jpg", "logits": {"good": 2.0}}"#,
        );
        assert!(
            logits_differ.1.contains("different result"),
            "{logits_differ:?}"
        );
        assert!(
            message.starts_with("record 2: 'a.mp4' again with a different result than record 1"),
            "{message}"
        );
    }

    #[test]
    fn malformed_records_name_the_record_and_column() {
        let (line, message) =
            error_of::<QAlignJsonReader>(br#"{"img_path": "a.mp4", "score": 0.5}{"img_path": }"#);
        assert_eq!(line, 1);
        assert!(
            message.starts_with("record 2: invalid JSON at column 49"),
            "{message}"
        );
        let (line, message) =
            error_of::<QAlignJsonReader>(b"{\"img_path\": \"a.mp4\", \"score\": 0.5}\n[1]");
        assert_eq!(
            (line, message.as_str()),
            (2, "record 2: expected a JSON object, got a list")
        );
        let (_, message) = error_of::<QAlignJsonReader>(br#"{"id": "a", "score": 0.5}"#);
        assert!(message.starts_with("record 1: no key"), "{message}");
        let (_, message) = error_of::<QAlignJsonReader>(br#"{"img_path": "a.mp4"}"#);
        assert_eq!(message, "record 1: no `score` and no `logits`");
        let (_, message) =
            error_of::<QAlignJsonReader>(br#"{"img_path": "a.mp4", "logits": [1], "score": 1}"#);
        assert!(message.contains("`logits` must be an object"), "{message}");
        assert_eq!(error_of::<QAlignJsonReader>(b" \n").1, "empty file");
    }
}
