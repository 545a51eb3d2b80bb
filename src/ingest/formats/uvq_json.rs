//! UVQ's result JSON (google/uvq `uvq_inference.py --output F`, @ 811b6b1):
//! `json.dump(results, indent=2)` of one video's result.
//!
//! - **UVQ 1.5** (the default model): `uvq1p5_score` (the mean of the
//!   frames, computed by torch in float32), `per_frame_scores` (one per
//!   sampled frame, `--fps 1` by default) and `frame_indices`, the *source*
//!   frame numbers of those samples (`round(i * orig_fps / fps)`, 0-based).
//!   Frames are stored at their source index, so frame 30 of the registry is
//!   frame 30 of the video. The clip score is `uvq1p5_score` as UVQ reported
//!   it; it is checked against the mean of the frames and a difference
//!   beyond float32 rounding (relative 1e-5) is noted with the row, because
//!   it means the file was edited or frames were dropped. `frames` counts
//!   the frames UVQ pooled.
//! - **UVQ 1.0** (`--model_version 1.0`): seven scores, one per feature
//!   combination. The clip score is `compression_content_distortion` (what
//!   UVQ prints) unless `--score-field` names another of the seven; the
//!   others are kept as components. No frames.
//! - The key is `video_name`, the input argument as given (usually a path,
//!   so `auto` takes its basename). The README's sample omits it; a file
//!   without it is keyed by `--key` or the file name, with a note.
//! - A list of such objects (`--batch_json_output`, seen in newer
//!   `uvq_inference.py`, with `video_name` = basename) is read too.
//! - Sampling faster than the video's frame rate makes `frame_indices`
//!   repeat a source frame; two values for one frame cannot both be stored,
//!   so such a file is refused with the fix (a lower `--fps`).
//! - Python writes `NaN` for a diverged value: a NaN clip score is stored
//!   `bad`, a NaN frame is stored without a value.

use crate::ingest::json::valid_json_document;
use crate::ingest::{read_document, LineCounter};
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use serde_json::value::RawValue;
use serde_json::Value;

use super::has_key;
use super::jsonl::looks_like_json_lines;
use crate::ingest::json::fields::{describe, score_value};
use crate::ingest::json::json_error;
use crate::ingest::{
    FrameRecord, RawScore, ReadError, ReadOptions, RecordSink, ScoreReader, ScoreRecord,
};

/// Reader for UVQ `--output` JSON.
pub struct UvqJsonReader;

/// UVQ 1.0's scores, in the order it writes them; the last is the main one.
const UVQ10_SCORES: &[&str] = &[
    "compression",
    "content",
    "distortion",
    "compression_content",
    "compression_distortion",
    "content_distortion",
    "compression_content_distortion",
];
const UVQ10_MAIN: &str = "compression_content_distortion";
const UVQ15_SCORE: &str = "uvq1p5_score";
/// How far `uvq1p5_score` may be from the mean of the frames (relative):
/// torch averages in float32, this tool in float64.
const MEAN_TOLERANCE: f64 = 1e-5;
const SCORER_HINT: &str = "uvq";

impl ScoreReader for UvqJsonReader {
    const NAME: &'static str = "uvq-json";
    const EXTENSIONS: &'static [&'static str] = &["json"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let text = head.trim_start();
        let list = text.starts_with('[');
        if !(list || text.starts_with('{')) || looks_like_json_lines(head) {
            return None;
        }
        // The frame lists can be far longer than the head, but the keys
        // that identify the output come first.
        let shape = if list { "a list of " } else { "" };
        if has_key(text, UVQ15_SCORE) && has_key(text, "per_frame_scores") {
            return Some(format!(
                "{shape}UVQ 1.5 output (`uvq1p5_score`, `per_frame_scores`)"
            ));
        }
        UVQ10_SCORES
            .iter()
            .all(|name| has_key(text, name))
            .then(|| format!("{shape}UVQ 1.0 output (its seven feature-combination scores)"))
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let text = read_document(input)?;
        let document = valid_json_document(&text)?;
        let document = document.as_ref();
        let single = !document.trim_start().starts_with('[');
        let results: Vec<&str> = if single {
            vec![document]
        } else {
            let items: Vec<&RawValue> = serde_json::from_str(document)
                .map_err(|e| ReadError::at(e.line() as u64, json_error(&e)))?;
            items.into_iter().map(RawValue::get).collect()
        };
        if results.is_empty() {
            return Err(ReadError::at(1, "no results: the list is empty").into());
        }
        let mut lines = LineCounter::new(document);
        for result in results {
            let line = lines.line_at(result);
            let fields: BTreeMap<String, &RawValue> =
                serde_json::from_str(result).map_err(|_| {
                    let value: Value = serde_json::from_str(result).unwrap_or(Value::Null);
                    ReadError::at(
                        line,
                        format!("expected a UVQ result object, got {}", describe(&value)),
                    )
                })?;
            let doc = Doc { document, line };
            let record = doc.record(&fields, single, options, sink)?;
            sink.push(record)?;
        }
        Ok(())
    }
}

/// One result object of the document, for locating errors.
struct Doc<'a> {
    document: &'a str,
    /// The line the result object starts on.
    line: u64,
}

impl Doc<'_> {
    /// The line `raw` (a slice of the document) starts on.
    fn line_of(&self, raw: &RawValue) -> u64 {
        let at = raw.get().as_ptr() as usize - self.document.as_ptr() as usize;
        1 + self.document.as_bytes()[..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64
    }

    fn error_at(&self, raw: &RawValue, message: impl Into<String>) -> ReadError {
        ReadError::at(self.line_of(raw), message)
    }

    fn record<S: RecordSink>(
        &self,
        fields: &BTreeMap<String, &RawValue>,
        single: bool,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<ScoreRecord, ReadError> {
        let (key_field, raw_key) = self.key(fields, single, options, sink)?;
        let mut record = ScoreRecord {
            line: self.line,
            key_field: crate::key::field_name(key_field),
            raw_key,
            scorer: None,
            scorer_hint: Some(SCORER_HINT.to_string()),
            metric: None,
            value: RawScore::Unusable(String::new()),
            reported_status: None,
            runtime_ms: None,
            frames: Vec::new(),
            pooled_frames: 0,
            note: None,
            components: Vec::new(),
            warnings: Vec::new(),
        };
        if let Some(score) = fields.get(UVQ15_SCORE) {
            self.uvq15(&mut record, score, fields, options)?;
        } else if UVQ10_SCORES.iter().any(|name| fields.contains_key(*name)) {
            self.uvq10(&mut record, fields, options)?;
        } else {
            return Err(ReadError::at(
                self.line,
                "neither `uvq1p5_score` (UVQ 1.5) nor the UVQ 1.0 scores \
                 (`compression_content_distortion` …)",
            ));
        }
        if let Some(note) = &record.note {
            sink.note(format!("{}: {note}", record.raw_key));
        }
        Ok(record)
    }

    /// `video_name`, else (for a single result without one) `--key` or the file name.
    fn key<S: RecordSink>(
        &self,
        fields: &BTreeMap<String, &RawValue>,
        single: bool,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(String, String), ReadError> {
        let field = options.fields.key.as_deref().unwrap_or("video_name");
        let raw = fields.get(field).filter(|raw| raw.get() != "null");
        let Some(raw) = raw else {
            if single && options.fields.key.is_none() {
                let (source, key) = options.single_clip_key();
                sink.note(format!(
                    "key '{key}' from {} (the UVQ output has no `video_name`)",
                    describe_source(source)
                ));
                return Ok((source.to_string(), key));
            }
            return Err(ReadError::at(
                self.line,
                match &options.fields.key {
                    Some(field) => format!("no key: no field '{field}' (--score-key-field)"),
                    None => "no key: a UVQ result in a list must name its video in `video_name`"
                        .to_string(),
                },
            ));
        };
        let text = match parse(raw) {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            other => {
                return Err(self.error_at(
                    raw,
                    format!(
                        "key field '{field}' must be a string or a number, got {}",
                        describe(&other)
                    ),
                ))
            }
        };
        if text.trim().is_empty() {
            return Err(self.error_at(raw, format!("empty key in field '{field}'")));
        }
        if let Some(clip_key) = options.clip_key.as_deref().filter(|_| single) {
            sink.note(format!(
                "--key '{clip_key}' not used: the UVQ output names its video ('{text}')"
            ));
        }
        Ok((field.to_string(), text))
    }

    fn uvq15(
        &self,
        record: &mut ScoreRecord,
        score: &RawValue,
        fields: &BTreeMap<String, &RawValue>,
        options: &ReadOptions,
    ) -> Result<(), ReadError> {
        if let Some(field) = options
            .fields
            .score
            .as_deref()
            .filter(|f| *f != UVQ15_SCORE)
        {
            return Err(ReadError::at(
                self.line,
                format!("--score-field {field}: UVQ 1.5 output has one score, `uvq1p5_score`"),
            ));
        }
        record.value = score_value(UVQ15_SCORE, &parse(score));
        let values: Vec<Option<f64>> = match fields.get("per_frame_scores") {
            None => Vec::new(),
            Some(raw) => self
                .list(raw, "per_frame_scores")?
                .into_iter()
                .map(|item| parse(item).as_f64().filter(|v| v.is_finite()))
                .collect(),
        };
        let indices = match fields.get("frame_indices") {
            Some(raw) => self.frame_indices(raw, values.len())?,
            None => {
                if !values.is_empty() {
                    record.note =
                        Some("no `frame_indices`: frames numbered by their position".to_string());
                }
                (0..values.len() as i64).collect()
            }
        };
        record.frames = indices
            .into_iter()
            .zip(values)
            .map(|(frame_index, value)| FrameRecord {
                frame_index,
                value,
                runtime_ms: None,
            })
            .collect();
        if let RawScore::Number(score) = record.value {
            if !record.frames.is_empty() {
                record.pooled_frames = record.frames.len() as u32;
                if let Some(note) = mean_disagreement(score, &record.frames) {
                    record.note = Some(note);
                }
            }
        }
        Ok(())
    }

    /// The source frame numbers of the sampled frames: non-negative
    /// integers, one per score, each once.
    fn frame_indices(&self, raw: &RawValue, frames: usize) -> Result<Vec<i64>, ReadError> {
        let items = self.list(raw, "frame_indices")?;
        if items.len() != frames {
            return Err(self.error_at(
                raw,
                format!(
                    "`frame_indices` has {} entries but `per_frame_scores` has {frames}",
                    items.len()
                ),
            ));
        }
        let mut seen: HashMap<i64, usize> = HashMap::with_capacity(items.len());
        let mut indices = Vec::with_capacity(items.len());
        for (position, item) in items.into_iter().enumerate() {
            let value = parse(item);
            let Some(index) = value.as_i64().filter(|index| *index >= 0) else {
                return Err(self.error_at(
                    item,
                    format!(
                        "frame_indices[{position}] must be a non-negative integer, got {}",
                        describe(&value)
                    ),
                ));
            };
            if let Some(first) = seen.insert(index, position) {
                return Err(self.error_at(
                    item,
                    format!(
                        "frame_indices[{position}] repeats source frame {index} (frame_indices[{first}]): \
                         UVQ sampled faster than the video's frame rate; re-run it with a lower --fps"
                    ),
                ));
            }
            indices.push(index);
        }
        Ok(indices)
    }

    fn uvq10(
        &self,
        record: &mut ScoreRecord,
        fields: &BTreeMap<String, &RawValue>,
        options: &ReadOptions,
    ) -> Result<(), ReadError> {
        let main = match options.fields.score.as_deref() {
            None => UVQ10_MAIN,
            Some(field) if UVQ10_SCORES.contains(&field) => field,
            Some(field) => {
                return Err(ReadError::at(
                    self.line,
                    format!(
                        "--score-field {field} is not one of UVQ 1.0's scores ({})",
                        UVQ10_SCORES.join(", ")
                    ),
                ))
            }
        };
        let Some(score) = fields.get(main) else {
            return Err(ReadError::at(
                self.line,
                format!("no `{main}`: this UVQ 1.0 output lacks the score taken as the clip's"),
            ));
        };
        record.value = score_value(main, &parse(score));
        record.components = UVQ10_SCORES
            .iter()
            .filter(|name| **name != main)
            .filter_map(|name| {
                let value = fields.get(*name)?;
                Some((
                    name.to_string(),
                    parse(value).as_f64().filter(|v| v.is_finite()),
                ))
            })
            .collect();
        Ok(())
    }

    fn list<'r>(&self, raw: &'r RawValue, field: &str) -> Result<Vec<&'r RawValue>, ReadError> {
        serde_json::from_str(raw.get()).map_err(|_| {
            self.error_at(
                raw,
                format!("`{field}` must be a list, got {}", describe(&parse(raw))),
            )
        })
    }
}

/// Why `uvq1p5_score` is not the mean of the frames, if it is not.
fn mean_disagreement(score: f64, frames: &[FrameRecord]) -> Option<String> {
    let finite: Vec<f64> = frames.iter().filter_map(|f| f.value).collect();
    if finite.len() < frames.len() {
        return Some(format!(
            "{} of {} frames have unusable scores; uvq1p5_score kept as UVQ reported it",
            frames.len() - finite.len(),
            frames.len()
        ));
    }
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    let tolerance = MEAN_TOLERANCE * score.abs().max(mean.abs());
    ((score - mean).abs() > tolerance).then(|| {
        format!(
            "uvq1p5_score {score} is not the mean of its {} frames ({mean}); kept as UVQ reported it",
            frames.len()
        )
    })
}

/// A value the document parse already validated.
fn parse(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// "the file name" / "--key", for notes.
fn describe_source(source: &str) -> String {
    if source == "--key" {
        source.to_string()
    } else {
        format!("the {source}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all, Collect};
    use crate::ingest::FieldNames;

    /// UVQ 1.5 `--output` as `json.dump(indent=2)` writes it: no trailing
    /// newline, `video_name` appended last, source frames of a 30 fps video
    /// sampled at 1 fps.
    const UVQ15: &[u8] = b"{\n  \"uvq1p5_score\": 3.880362033843994,\n  \"per_frame_scores\": [\n    4.021927833557129,\n    3.7387962341308594\n  ],\n  \"frame_indices\": [\n    0,\n    30\n  ],\n  \"video_name\": \"videos/Gaming_1080P-0ce6_orig.mp4\"\n}";

    /// UVQ 1.0: seven scores in the aggregation net's order, then `video_name`.
    const UVQ10: &[u8] = b"{\n  \"compression\": 4.20680570602417,\n  \"content\": 3.972960376739502,\n  \"distortion\": 4.009924221038818,\n  \"compression_content\": 4.097027111053467,\n  \"compression_distortion\": 4.090837383270264,\n  \"content_distortion\": 3.9682242393493654,\n  \"compression_content_distortion\": 4.032656478881836,\n  \"video_name\": \"Gaming_1080P-0ce6_orig.mp4\"\n}";

    fn read_with(
        bytes: &[u8],
        options: &ReadOptions,
    ) -> Result<(Vec<ScoreRecord>, Vec<String>), ReadError> {
        #[derive(Default)]
        struct Noted(Collect, Vec<String>);
        impl RecordSink for Noted {
            type Error = ReadError;
            fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
                self.0.push(record)
            }
            fn note(&mut self, message: String) {
                self.1.push(message);
            }
        }
        let mut sink = Noted::default();
        UvqJsonReader::read(&mut &bytes[..], options, &mut sink)?;
        Ok((sink.0 .0, sink.1))
    }

    #[test]
    fn detects_both_versions_but_not_other_json() {
        let head = String::from_utf8_lossy(UVQ15);
        assert!(UvqJsonReader::detect(&head, "json")
            .unwrap()
            .contains("UVQ 1.5"));
        let head = String::from_utf8_lossy(UVQ10);
        assert!(UvqJsonReader::detect(&head, "json")
            .unwrap()
            .contains("UVQ 1.0"));
        // A head cut inside a long frame list still names the version.
        let cut = &String::from_utf8_lossy(UVQ15)[..70];
        assert!(UvqJsonReader::detect(cut, "json").is_some());
        let batch = "[\n  {\n    \"uvq1p5_score\": 3.8,\n    \"per_frame_scores\": [";
        assert!(UvqJsonReader::detect(batch, "json")
            .unwrap()
            .starts_with("a list of"));

        assert_eq!(
            UvqJsonReader::detect(r#"{"clip_id": "a", "uvq1p5_score": 3.8}"#, "json"),
            None
        );
        assert_eq!(
            UvqJsonReader::detect(
                r#"{"clip_id": "a", "note": "\"uvq1p5_score\" \"per_frame_scores\""}"#,
                "json"
            ),
            None
        );
        let json_lines = "{\"uvq1p5_score\": 3.8, \"per_frame_scores\": []}\n{\"uvq1p5_score\": 3.8, \"per_frame_scores\": []}\n";
        assert_eq!(UvqJsonReader::detect(json_lines, "json"), None);
        assert_eq!(UvqJsonReader::detect("3.880362033843994\n", "txt"), None);
    }

    #[test]
    fn uvq15_frames_sit_at_their_source_index() {
        let records = read_all::<UvqJsonReader>(UVQ15).unwrap();
        let record = &records[0];
        assert_eq!(
            (
                record.key_field.as_ref(),
                record.raw_key.as_str(),
                record.line
            ),
            ("video_name", "videos/Gaming_1080P-0ce6_orig.mp4", 1)
        );
        assert_eq!(record.value, RawScore::Number(3.880362033843994));
        assert_eq!(record.scorer_hint.as_deref(), Some("uvq"));
        assert_eq!(
            record.frames,
            vec![
                FrameRecord {
                    frame_index: 0,
                    value: Some(4.021927833557129),
                    runtime_ms: None
                },
                FrameRecord {
                    frame_index: 30,
                    value: Some(3.7387962341308594),
                    runtime_ms: None
                },
            ]
        );
        assert_eq!(record.pooled_frames, 2);
        assert_eq!(record.note, None, "the score is the mean of the frames");
    }

    #[test]
    fn a_score_that_is_not_the_mean_is_noted() {
        let edited = String::from_utf8_lossy(UVQ15).replace("3.880362033843994", "3.9");
        let (records, notes) = read_with(edited.as_bytes(), &ReadOptions::default()).unwrap();
        assert_eq!(records[0].value, RawScore::Number(3.9));
        let note = records[0].note.as_deref().unwrap();
        assert!(
            note.starts_with("uvq1p5_score 3.9 is not the mean of its 2 frames"),
            "{note}"
        );
        assert_eq!(
            notes,
            vec![format!("videos/Gaming_1080P-0ce6_orig.mp4: {note}")]
        );
    }

    #[test]
    fn uvq10_main_score_and_components() {
        let records = read_all::<UvqJsonReader>(UVQ10).unwrap();
        let record = &records[0];
        assert_eq!(record.value, RawScore::Number(4.032656478881836));
        assert_eq!(record.components.len(), 6);
        assert_eq!(
            record.components[0],
            ("compression".to_string(), Some(4.20680570602417))
        );
        assert!(record.frames.is_empty());
        assert_eq!(record.pooled_frames, 0);

        let options = ReadOptions {
            fields: FieldNames {
                key: None,
                score: Some("content".into()),
                ..Default::default()
            },
            ..ReadOptions::default()
        };
        let (records, _) = read_with(UVQ10, &options).unwrap();
        assert_eq!(records[0].value, RawScore::Number(3.972960376739502));
        assert!(records[0].components.contains(&(
            "compression_content_distortion".to_string(),
            Some(4.032656478881836)
        )));
        let options = ReadOptions {
            fields: FieldNames {
                key: None,
                score: Some("mos".into()),
                ..Default::default()
            },
            ..ReadOptions::default()
        };
        assert!(read_with(UVQ10, &options)
            .unwrap_err()
            .to_string()
            .contains("not one of UVQ 1.0's scores"));
    }

    #[test]
    fn without_video_name_the_key_comes_from_the_file_name() {
        let bytes = br#"{"uvq1p5_score": 3.88, "per_frame_scores": [3.88], "frame_indices": [0]}"#;
        let options = ReadOptions {
            file_name: "clip_a.json".into(),
            ..ReadOptions::default()
        };
        let (records, notes) = read_with(bytes, &options).unwrap();
        assert_eq!(
            (records[0].key_field.as_ref(), records[0].raw_key.as_str()),
            ("file name", "clip_a")
        );
        assert_eq!(
            notes,
            vec!["key 'clip_a' from the file name (the UVQ output has no `video_name`)"]
        );
        let options = ReadOptions {
            clip_key: Some("clip_b".into()),
            ..options
        };
        let (records, notes) = read_with(bytes, &options).unwrap();
        assert_eq!(records[0].raw_key, "clip_b");
        assert_eq!(
            notes,
            vec!["key 'clip_b' from --key (the UVQ output has no `video_name`)"]
        );
        let (_, notes) = read_with(UVQ15, &options).unwrap();
        assert!(notes[0].starts_with("--key 'clip_b' not used"), "{notes:?}");
    }

    #[test]
    fn batch_lists_name_each_line() {
        let bytes = b"[\n  {\n    \"uvq1p5_score\": 3.5,\n    \"per_frame_scores\": [\n      3.5\n    ],\n    \"frame_indices\": [\n      0\n    ],\n    \"video_name\": \"a.mp4\"\n  },\n  {\n    \"uvq1p5_score\": NaN,\n    \"per_frame_scores\": [\n      NaN\n    ],\n    \"frame_indices\": [\n      0\n    ],\n    \"video_name\": \"b.mp4\"\n  }\n]";
        let records = read_all::<UvqJsonReader>(bytes).unwrap();
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![2, 12]
        );
        assert!(matches!(records[1].value, RawScore::Unusable(_)));
        assert_eq!(records[1].frames[0].value, None);
        assert_eq!(records[1].pooled_frames, 0);
        let (line, message) = error_of::<UvqJsonReader>(b"[\n{\"uvq1p5_score\": 3.5}\n]");
        assert_eq!(line, 2);
        assert!(message.contains("must name its video"), "{message}");
    }

    #[test]
    fn malformed_frames_name_their_line() {
        let repeated = String::from_utf8_lossy(UVQ15).replace("    30\n", "    0\n");
        let (line, message) = error_of::<UvqJsonReader>(repeated.as_bytes());
        assert_eq!(line, 9);
        assert!(
            message.starts_with("frame_indices[1] repeats source frame 0"),
            "{message}"
        );
        let short = String::from_utf8_lossy(UVQ15).replace("    0,\n    30\n", "    0\n");
        let (line, message) = error_of::<UvqJsonReader>(short.as_bytes());
        assert_eq!(
            (line, message.as_str()),
            (
                7,
                "`frame_indices` has 1 entries but `per_frame_scores` has 2"
            )
        );
        let negative = String::from_utf8_lossy(UVQ15).replace("    30\n", "    -1\n");
        assert_eq!(error_of::<UvqJsonReader>(negative.as_bytes()).0, 9);
        let (line, message) =
            error_of::<UvqJsonReader>(b"{\n\"uvq1p5_score\": 3,\n\"per_frame_scores\": 3}");
        assert_eq!(
            (line, message.as_str()),
            (3, "`per_frame_scores` must be a list, got 3")
        );
        let (_, message) = error_of::<UvqJsonReader>(br#"{"video_name": "a"}"#);
        assert!(message.starts_with("neither `uvq1p5_score`"), "{message}");
        assert_eq!(
            error_of::<UvqJsonReader>(b"[]").1,
            "no results: the list is empty"
        );
        assert_eq!(
            error_of::<UvqJsonReader>(b"[1]").1,
            "expected a UVQ result object, got 1"
        );
        assert_eq!(error_of::<UvqJsonReader>(b"{\n\"uvq1p5_score\": }").0, 2);
    }
}
