//! How a JSON score row is read: which fields hold the key, the scorer, the
//! score, the runtime and the status. Shared by every JSON-shaped format, so
//! scalar rows and external-bench wrapper payloads (`frames[]` + `summary`)
//! are read the same way whatever file they came from.
//!
//! Lookup order follows the reference materializer: the row itself first,
//! then its `summary` object, then (for the score and runtime) its frames.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::ingest::record::status_text;
use crate::ingest::{FrameRecord, RawScore, ScoreRecord};
use crate::key::{find_candidate, EXTRA_SCORE_KEY_FIELDS, REFERENCE_KEY_FIELDS};

/// Score fields tried in order (case-insensitive) when `--score-field` is not given.
pub const SCORE_FIELDS: &[&str] = &[
    "score",
    "mos",
    "predicted_mos",
    "predicted_vmaf_or_mos",
    "quality",
    "vmaf",
];
/// Runtime fields, in milliseconds.
pub const RUNTIME_FIELDS: &[&str] = &["runtime_ms", "runtime_total_ms", "elapsed_ms"];
/// Fields numbering the frames of a `frames[]` payload.
pub const FRAME_INDEX_FIELDS: &[&str] = &["frame_idx", "frame_index", "frameNum", "frame", "n"];

/// Which fields hold the key and the score; `None` means "try the defaults".
#[derive(Clone, Debug, Default)]
pub struct FieldNames {
    /// `--score-key-field`.
    pub key: Option<String>,
    /// `--score-field`.
    pub score: Option<String>,
    /// `--frame-base`: how `frames[]` number their frames when the field
    /// does not say (`n`, ffmpeg-quality-metrics' counter, is 1-based).
    pub frame_base: Option<i64>,
}

impl FieldNames {
    /// The key fields tried, in order: `--score-key-field`, else the defaults.
    pub(crate) fn key_candidates(&self) -> Vec<&str> {
        match &self.key {
            Some(field) => vec![field.as_str()],
            None => REFERENCE_KEY_FIELDS
                .iter()
                .chain(EXTRA_SCORE_KEY_FIELDS)
                .copied()
                .collect(),
        }
    }

    /// The score fields tried, in order: `--score-field` first, then the
    /// defaults. A row without the named field takes its score from the
    /// usual fields, as the reference does (and says so in its note).
    pub(crate) fn score_candidates(&self) -> Vec<&str> {
        match &self.score {
            Some(field) => std::iter::once(field.as_str())
                .chain(
                    SCORE_FIELDS
                        .iter()
                        .copied()
                        .filter(|name| !name.eq_ignore_ascii_case(field)),
                )
                .collect(),
            None => SCORE_FIELDS.to_vec(),
        }
    }

    /// What a row's note says about where its score and runtime came from:
    /// a score read from another field than `--score-field`, and numbers
    /// written as text (kept here as written).
    pub(crate) fn value_notes(
        &self,
        score: Option<(&str, &Value)>,
        runtime: Option<(&str, &Value)>,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        if let (Some(wanted), Some((field, _))) = (&self.score, score) {
            if !field.eq_ignore_ascii_case(wanted) {
                notes.push(format!(
                    "the row has no '{wanted}' (--score-field): score read from '{field}'"
                ));
            }
        }
        for (field, value) in [score, runtime].into_iter().flatten() {
            if let Value::String(text) = value {
                if number_in_text(text).is_some() {
                    notes.push(format!("{field} written as text {}", describe(value)));
                }
            }
        }
        notes
    }

    /// Read one row object that starts at `line`. The error is the message
    /// only; the reader adds the line.
    pub fn record_from_object(
        &self,
        row: &Map<String, Value>,
        line: u64,
    ) -> Result<ScoreRecord, String> {
        let summary = match row.get("summary") {
            Some(Value::Object(summary)) => Some(summary),
            Some(Value::Null) | None => None,
            Some(other) => {
                return Err(format!(
                    "`summary` must be an object, got {}",
                    describe(other)
                ))
            }
        };
        let (key_field, raw_key) = self.key(row, summary)?;
        let scorer = text_field(row, "competitor")
            .or_else(|| summary.and_then(|s| text_field(s, "competitor")))
            .filter(|name| !name.trim().is_empty())
            .map(|name| name.trim().to_string());
        let reported_status = match lookup(row, summary, &["status"]) {
            None | Some((_, Value::Null)) => None,
            Some((_, Value::String(status))) => Some(status_text(status.as_str())),
            Some((_, other)) => Some(other.to_string().into()),
        };

        let frames = self.frames(row)?;
        let score_candidates = self.score_candidates();
        let score = lookup(row, summary, &score_candidates);
        let (value, pooled_frames, pool_note) = match score {
            Some((field, value)) => (score_value(field, value), 0, None),
            None => pool_frames(&frames, &score_candidates)?,
        };
        let runtime = lookup(row, summary, RUNTIME_FIELDS);
        let runtime_ms = match runtime {
            Some((field, value)) => optional_number(field, value)?,
            None => frames_runtime(&frames),
        };
        let note = join_notes(pool_note, self.value_notes(score, runtime));
        Ok(ScoreRecord {
            line,
            key_field: crate::key::field_name(key_field),
            raw_key,
            scorer,
            scorer_hint: None,
            metric: None,
            value,
            reported_status,
            runtime_ms,
            frames,
            pooled_frames,
            note,
            components: Vec::new(),
            warnings: Vec::new(),
        })
    }

    fn key(
        &self,
        row: &Map<String, Value>,
        summary: Option<&Map<String, Value>>,
    ) -> Result<(String, String), String> {
        let candidates = self.key_candidates();
        let (field, value) =
            lookup_present(row, summary, &candidates).ok_or_else(|| match &self.key {
                Some(field) => {
                    format!("no key: the row has no field '{field}' (--score-key-field)")
                }
                None => format!(
                    "no key: the row has none of the key fields {}",
                    candidates.join(", ")
                ),
            })?;
        let text = match value {
            Value::String(text) => text.clone(),
            // A number used as a key keeps its JSON spelling: 7 is "7", never 7.0.
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
        Ok((field.to_string(), text))
    }

    fn frames(&self, row: &Map<String, Value>) -> Result<Vec<FrameRecord>, String> {
        let frames = match row.get("frames") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(frames)) => frames,
            Some(other) => return Err(format!("`frames` must be a list, got {}", describe(other))),
        };
        let score_candidates = self.score_candidates();
        let mut seen = HashSet::with_capacity(frames.len());
        let mut records = Vec::with_capacity(frames.len());
        for (position, frame) in frames.iter().enumerate() {
            let Value::Object(frame) = frame else {
                return Err(format!(
                    "frames[{position}] must be an object, got {}",
                    describe(frame)
                ));
            };
            let frame_index = match lookup(frame, None, FRAME_INDEX_FIELDS) {
                Some((field, value)) => {
                    let base = self.frame_base.unwrap_or(i64::from(field == "n"));
                    value
                        .as_i64()
                        .filter(|index| *index >= base)
                        .map(|index| index - base)
                        .ok_or_else(|| {
                            format!(
                                "frames[{position}].{field} must be an integer from {base}, got {value}"
                            )
                        })?
                }
                None => position as i64,
            };
            if !seen.insert(frame_index) {
                return Err(format!(
                    "frame {frame_index} (0-based) appears twice in `frames` (frames[{position}])"
                ));
            }
            let value = match lookup(frame, None, &score_candidates) {
                Some((field, value)) => match score_value(field, value) {
                    RawScore::Number(v) => Some(v),
                    RawScore::Unusable(_) => None,
                },
                None => {
                    return Err(format!(
                        "frames[{position}] has no score field (looked for {})",
                        score_candidates.join(", ")
                    ))
                }
            };
            let runtime_ms = match lookup(frame, None, &["runtime_ms"]) {
                Some((field, value)) => optional_number(field, value)?,
                None => None,
            };
            records.push(FrameRecord {
                frame_index,
                value,
                runtime_ms,
            });
        }
        Ok(records)
    }
}

/// The runtime of a payload without a runtime field: the sum of its
/// frames' runtimes, or `None` when no frame has one.
pub(super) fn frames_runtime(frames: &[FrameRecord]) -> Option<f64> {
    let mut timed = frames.iter().filter_map(|f| f.runtime_ms).peekable();
    timed.peek()?;
    Some(timed.sum())
}

/// The clip score of a payload without a row-level score: the mean of the
/// frames whose value is a finite number.
pub(super) fn pool_frames(
    frames: &[FrameRecord],
    score_candidates: &[&str],
) -> Result<(RawScore, u32, Option<String>), String> {
    if frames.is_empty() {
        return Err(format!(
            "no score: the row has none of the score fields {} and no frames",
            score_candidates.join(", ")
        ));
    }
    // Summed in frame order, without collecting the values first.
    let finite = frames.iter().filter(|f| f.value.is_some()).count();
    if finite == 0 {
        let reason = format!("all {} frames have unusable scores", frames.len());
        return Ok((RawScore::Unusable(reason), 0, None));
    }
    let mean = frames.iter().filter_map(|f| f.value).sum::<f64>() / finite as f64;
    let note = (finite < frames.len()).then(|| {
        format!(
            "{} of {} frames have unusable scores and were left out of the mean",
            frames.len() - finite,
            frames.len()
        )
    });
    Ok((RawScore::Number(mean), finite as u32, note))
}

/// The row's note: the reader's (frames left out of a pool) and the
/// value notes, in that order, joined by `; `.
pub(crate) fn join_notes(first: Option<String>, more: Vec<String>) -> Option<String> {
    let notes: Vec<String> = first.into_iter().chain(more).collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// The finite number a string spells, read as Python's `float()` reads
/// the reference's scores (`"72.5"`, `" 1e-3 "`); `None` for any other
/// text, and for `"NaN"` or `"inf"`, which are no usable score.
pub(crate) fn number_in_text(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Interpret a score value: a finite JSON number, or a string spelling
/// one (`"72.5"`, as the reference's `float()` reads it; the row's note
/// keeps the text). Anything else is unusable.
pub(crate) fn score_value(field: &str, value: &Value) -> RawScore {
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(v) if v.is_finite() => RawScore::Number(v),
            _ => RawScore::Unusable(format!("{field} must be a finite number, got {number}")),
        },
        Value::String(text) => match number_in_text(text) {
            Some(v) => RawScore::Number(v),
            None => RawScore::Unusable(format!(
                "{field} must be a finite number, got {}",
                describe(value)
            )),
        },
        Value::Null => RawScore::Unusable(format!("{field} is null")),
        other => RawScore::Unusable(format!(
            "{field} must be a finite number, got {}",
            describe(other)
        )),
    }
}

/// A runtime: a number (or a string spelling one, as for scores), or
/// nothing. NaN (as Python writes it) counts as nothing, because a missing
/// timing must not cost the row its score.
pub(super) fn optional_number(field: &str, value: &Value) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => Ok(number.as_f64().filter(|v| v.is_finite())),
        Value::String(text) if number_in_text(text).is_some() => Ok(number_in_text(text)),
        Value::String(text) if crate::nonfinite::is_nonfinite_word(text) => Ok(None),
        other => Err(format!("{field} must be a number, got {}", describe(other))),
    }
}

fn text_field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    match object.get(name) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// The first candidate present on the row, then on the summary.
fn lookup<'a>(
    row: &'a Map<String, Value>,
    summary: Option<&'a Map<String, Value>>,
    candidates: &[&str],
) -> Option<(&'a str, &'a Value)> {
    [Some(row), summary]
        .into_iter()
        .flatten()
        .find_map(|object| {
            let name = find_candidate(object.keys().map(String::as_str), candidates)?;
            object.get_key_value(name).map(|(k, v)| (k.as_str(), v))
        })
}

/// Like [`lookup`], but a candidate holding `null` counts as absent, so a
/// row with `"clip_id": null, "name": "a.mp4"` is keyed by `name`.
fn lookup_present<'a>(
    row: &'a Map<String, Value>,
    summary: Option<&'a Map<String, Value>>,
    candidates: &[&str],
) -> Option<(&'a str, &'a Value)> {
    [Some(row), summary]
        .into_iter()
        .flatten()
        .find_map(|object| {
            candidates.iter().find_map(|candidate| {
                let name = find_candidate(object.keys().map(String::as_str), &[candidate])?;
                object
                    .get_key_value(name)
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.as_str(), v))
            })
        })
}

/// A short description of a JSON value for messages: strings quoted and
/// long values cut.
pub(crate) fn describe(value: &Value) -> String {
    let text = match value {
        Value::Object(_) => return "an object".to_string(),
        Value::Array(_) => return "a list".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(fields: &FieldNames, row: Value) -> Result<ScoreRecord, String> {
        fields.record_from_object(row.as_object().unwrap(), 3)
    }

    #[test]
    fn scalar_row_of_the_reference() {
        let record = read(
            &FieldNames::default(),
            json!({"video_id": "a", "competitor": "DOVER-Mobile", "score": 72.5, "runtime_ms": 3.0}),
        )
        .unwrap();
        assert_eq!(record.line, 3);
        assert_eq!(
            (record.key_field.as_ref(), record.raw_key.as_str()),
            ("video_id", "a")
        );
        assert_eq!(record.scorer.as_deref(), Some("DOVER-Mobile"));
        assert_eq!(record.value, RawScore::Number(72.5));
        assert_eq!(record.runtime_ms, Some(3.0));
        assert_eq!((record.frames.len(), record.pooled_frames), (0, 0));
    }

    #[test]
    fn wrapper_payload_pools_frames_and_reads_summary() {
        let record = read(
            &FieldNames::default(),
            json!({"name": "clip_a.yuv",
                   "frames": [{"frame_idx": 0, "predicted_vmaf_or_mos": 70.0, "runtime_ms": 1.5},
                              {"frame_idx": 1, "predicted_vmaf_or_mos": 74.0, "runtime_ms": 2.0}],
                   "summary": {"competitor": "fork-nr-metric", "runtime_total_ms": 3.5}}),
        )
        .unwrap();
        assert_eq!(record.raw_key, "clip_a.yuv");
        assert_eq!(record.scorer.as_deref(), Some("fork-nr-metric"));
        assert_eq!(record.value, RawScore::Number(72.0));
        assert_eq!(record.pooled_frames, 2);
        assert_eq!(record.runtime_ms, Some(3.5));
        assert_eq!(
            record.frames[1],
            FrameRecord {
                frame_index: 1,
                value: Some(74.0),
                runtime_ms: Some(2.0)
            }
        );
    }

    #[test]
    fn frame_runtimes_sum_when_no_runtime_field() {
        let record = read(
            &FieldNames::default(),
            json!({"name": "c", "frames": [{"score": 1.0, "runtime_ms": 1.25}, {"score": 3.0, "runtime_ms": 2.0}]}),
        )
        .unwrap();
        assert_eq!(record.runtime_ms, Some(3.25));
        assert_eq!(
            record.frames[1].frame_index, 1,
            "position numbers frames without an index field"
        );
    }

    #[test]
    fn unusable_frames_are_left_out_of_the_mean() {
        let record = read(
            &FieldNames::default(),
            json!({"name": "c", "frames": [{"score": 1.0}, {"score": null}, {"score": 3.0}]}),
        )
        .unwrap();
        assert_eq!(record.value, RawScore::Number(2.0));
        assert_eq!(record.pooled_frames, 2);
        assert!(record.note.unwrap().contains("1 of 3 frames"));
        let all_bad = read(
            &FieldNames::default(),
            json!({"name": "c", "frames": [{"score": "x"}]}),
        )
        .unwrap();
        assert_eq!(
            all_bad.value,
            RawScore::Unusable("all 1 frames have unusable scores".into())
        );
    }

    #[test]
    fn repeated_frame_index_is_refused() {
        let err = read(
            &FieldNames::default(),
            json!({"name": "c", "frames": [{"n": 4, "score": 1.0}, {"n": 4, "score": 2.0}]}),
        )
        .unwrap_err();
        // `n` counts from 1, as ffmpeg-quality-metrics writes it.
        assert!(err.contains("frame 3 (0-based) appears twice"), "{err}");
    }

    #[test]
    fn keys_stay_strings_and_numbers_keep_their_spelling() {
        let fields = FieldNames::default();
        assert_eq!(
            read(&fields, json!({"clip_id": "001", "score": 1}))
                .unwrap()
                .raw_key,
            "001"
        );
        assert_eq!(
            read(&fields, json!({"clip_id": 7, "score": 1}))
                .unwrap()
                .raw_key,
            "7"
        );
        assert_eq!(
            read(&fields, json!({"clip_id": 7.50, "score": 1}))
                .unwrap()
                .raw_key,
            "7.5"
        );
        assert!(read(&fields, json!({"clip_id": "  ", "score": 1}))
            .unwrap_err()
            .contains("empty key"));
        assert!(read(&fields, json!({"clip_id": true, "score": 1}))
            .unwrap_err()
            .contains("string or a number"));
        assert!(read(&fields, json!({"other": "a", "score": 1}))
            .unwrap_err()
            .starts_with("no key"));
        let null_falls_through = read(
            &fields,
            json!({"clip_id": null, "name": "/x/a.mp4", "score": 1}),
        )
        .unwrap();
        assert_eq!(null_falls_through.key_field, "name");
    }

    #[test]
    fn extra_key_candidates_and_summary_keys() {
        let fields = FieldNames::default();
        for field in ["src", "video_name", "img_path", "image", "video", "key"] {
            let record = read(&fields, json!({field: "k", "score": 1})).unwrap();
            assert_eq!(record.key_field, field);
        }
        let record = read(&fields, json!({"summary": {"video_id": "s"}, "score": 1})).unwrap();
        assert_eq!(record.raw_key, "s");
    }

    #[test]
    fn explicit_fields_replace_the_candidates() {
        let fields = FieldNames {
            key: Some("clip".into()),
            score: Some("dover_overall".into()),
            ..Default::default()
        };
        let record = read(
            &fields,
            json!({"clip": "x", "video_id": "y", "dover_overall": 0.5, "score": 9}),
        )
        .unwrap();
        assert_eq!(
            (record.raw_key.as_str(), record.value.clone()),
            ("x", RawScore::Number(0.5))
        );
        let err = read(&fields, json!({"video_id": "y", "dover_overall": 0.5})).unwrap_err();
        assert!(err.contains("--score-key-field"), "{err}");
    }

    #[test]
    fn unusable_scores_are_described() {
        let fields = FieldNames::default();
        let cases = [
            (json!("NaN"), "score must be a finite number, got \"NaN\""),
            (json!("fast"), "score must be a finite number, got \"fast\""),
            (json!("inf"), "score must be a finite number, got \"inf\""),
            (json!(true), "score must be a finite number, got true"),
            (json!(null), "score is null"),
            (json!([1]), "score must be a finite number, got a list"),
        ];
        for (value, reason) in cases {
            let record = read(&fields, json!({"clip_id": "a", "score": value})).unwrap();
            assert_eq!(record.value, RawScore::Unusable(reason.into()));
        }
    }

    #[test]
    fn numbers_written_as_text_are_numbers_with_a_note() {
        let fields = FieldNames::default();
        let record = read(
            &fields,
            json!({"clip_id": "a", "score": " 72.5", "runtime_ms": "12.5"}),
        )
        .unwrap();
        assert_eq!(record.value, RawScore::Number(72.5));
        assert_eq!(record.runtime_ms, Some(12.5));
        assert_eq!(
            record.note.as_deref(),
            Some("score written as text \" 72.5\"; runtime_ms written as text \"12.5\"")
        );
    }

    #[test]
    fn a_row_without_the_score_field_falls_back_to_the_usual_fields() {
        let fields = FieldNames {
            score: Some("dover_overall".into()),
            ..Default::default()
        };
        let record = read(&fields, json!({"clip_id": "a", "score": 0.25})).unwrap();
        assert_eq!(record.value, RawScore::Number(0.25));
        assert_eq!(
            record.note.as_deref(),
            Some("the row has no 'dover_overall' (--score-field): score read from 'score'")
        );
        let named = read(
            &fields,
            json!({"clip_id": "a", "score": 9, "dover_overall": 0.5}),
        )
        .unwrap();
        assert_eq!((named.value, named.note), (RawScore::Number(0.5), None));
    }

    #[test]
    fn score_fields_are_case_insensitive_and_ordered() {
        let fields = FieldNames::default();
        let record = read(&fields, json!({"clip_id": "a", "VMAF": 90.0, "MOS": 3.5})).unwrap();
        assert_eq!(
            record.value,
            RawScore::Number(3.5),
            "mos comes before vmaf in the candidate list"
        );
    }

    #[test]
    fn no_score_anywhere_is_an_error() {
        let err = read(&FieldNames::default(), json!({"clip_id": "a"})).unwrap_err();
        assert!(err.starts_with("no score"), "{err}");
        let err = read(
            &FieldNames::default(),
            json!({"clip_id": "a", "frames": []}),
        )
        .unwrap_err();
        assert!(err.starts_with("no score"), "{err}");
    }

    #[test]
    fn status_and_runtime_quirks() {
        let fields = FieldNames::default();
        let record = read(
            &fields,
            json!({"clip_id": "a", "score": 1, "status": "FAILED", "runtime_ms": "NaN"}),
        )
        .unwrap();
        assert_eq!(record.reported_status.as_deref(), Some("FAILED"));
        assert_eq!(record.runtime_ms, None);
        let err = read(
            &fields,
            json!({"clip_id": "a", "score": 1, "runtime_ms": "fast"}),
        )
        .unwrap_err();
        assert_eq!(err, "runtime_ms must be a number, got \"fast\"");
    }
}
