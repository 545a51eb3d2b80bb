//! ffmpeg-quality-metrics' JSON result (`ffmpeg-quality-metrics dist ref -m …
//! -o out.json`, the default output): one run, one clip, several metrics.
//!
//! Layout, from `get_results_json` in slhck/ffmpeg-quality-metrics
//! (`json.dumps(ret, indent=4)`; its test output `tests/response.json`):
//! `{"vmaf": [{"integer_adm2": 0.699075, …, "vmaf": 14.051072, "n": 1}, …],
//! "psnr": [{"n": 1, "mse_avg": 536.66, …, "psnr_avg": 20.83, …}, …],
//! "ssim": […], "vif": [{"n": 0, "scale_0": 0.262, …}, …],
//! "global": {metric: {submetric: {"average", "median", "stdev", "min",
//! "max"}}}, "input_file_dist": "…", "input_file_ref": "…"}`.
//! What becomes of it is described in [`super::fqm`]; this file only reads
//! the layout. Quirks handled here:
//! - A list is a metric, whatever its name, so metrics newer than this
//!   reader are read too; `n` is anywhere in a frame (last in `vmaf`'s,
//!   which are libvmaf's metrics with `n` added, first in the others').
//! - Python writes a non-finite value as a bare `NaN`/`Infinity`, and a
//!   libvmaf `null` stays `null`: unusable frame values.
//! - Running the tool twice into one file (`>>`) gives two documents one
//!   after the other: refused where the second starts.
//! - The metrics come first and the paths last, so detection (on the first
//!   64 KiB) goes by the first key: a metric's list of frames numbered `n`.
//!
//! The result is one JSON document, read whole; frames are located with
//! `RawValue` so that errors name the line of the frame.

use std::io::BufRead;

use serde_json::value::RawValue;
use serde_json::Value;

use super::fqm::{
    second_run, GlobalAverage, Run, FRAME_FIELD, KEY_FIELD, METRICS, REFERENCE_FIELD,
};
use super::has_key;
use crate::ingest::json::fields::describe;
use crate::ingest::json::{json_error, message_without_location, Fields, RawFields};
use crate::ingest::{read_document, LineCounter};
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};
use crate::nonfinite::{is_nonfinite_word, quote_nonfinite_words};

/// Reader for ffmpeg-quality-metrics JSON results.
pub struct FqmJsonReader;

/// A frame: submetric names (and `n`) to values, in file order.
type Frame = Fields<Value>;

/// The key of `global`'s statistic checked against the frames.
const GLOBAL_FIELD: &str = "global";
const AVERAGE: &str = "average";

impl ScoreReader for FqmJsonReader {
    const NAME: &'static str = "ffmpeg-quality-metrics-json";
    const EXTENSIONS: &'static [&'static str] = &["json"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let text = head.trim_start().strip_prefix('{')?.trim_start();
        // A head cut inside the first key (or damaged) has no closing quote.
        let (first_key, after_key) = text.strip_prefix('"')?.split_once('"')?;
        let value = after_key.trim_start().strip_prefix(':')?.trim_start();
        let list_of_objects = value
            .strip_prefix('[')
            .is_some_and(|list| list.trim_start().starts_with('{'));
        let named = METRICS.contains(&first_key) || has_key(text, KEY_FIELD);
        (list_of_objects && named && has_key(text, FRAME_FIELD) && !has_key(text, "frameNum"))
            .then(|| {
                format!(
                    "an ffmpeg-quality-metrics JSON result (a list `{first_key}` of frames numbered `n`)"
                )
            })
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        _options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let text = read_document(input)?;
        // Python's bare NaN/Infinity quoted, so the document parses; lines
        // stay where they were.
        let quoted = quote_nonfinite_words(&text);
        let document = quoted.as_deref().unwrap_or(&text);
        let mut lines = LineCounter::new(document);
        let mut results = serde_json::Deserializer::from_str(document).into_iter::<&RawValue>();
        let result = match results.next() {
            Some(Ok(result)) => result,
            Some(Err(e)) => return Err(ReadError::at(e.line() as u64, json_error(&e)).into()),
            None => return Err(ReadError::at(1, "empty file").into()),
        };
        let fields: RawFields = serde_json::from_str(result.get()).map_err(|_| {
            ReadError::at(
                lines.line_at(result.get()),
                format!(
                    "expected an ffmpeg-quality-metrics result object, got {}",
                    describe(&serde_json::from_str(result.get()).unwrap_or(Value::Null))
                ),
            )
        })?;
        let key = dist_of(&fields, &mut lines)?;
        if let Some(next) = results.next() {
            let next = next.map_err(|e| ReadError::at(e.line() as u64, json_error(&e)))?;
            let second: Option<String> = serde_json::from_str::<RawFields>(next.get())
                .ok()
                .and_then(|fields| {
                    let (_, raw) = fields.0.into_iter().find(|(name, _)| name == KEY_FIELD)?;
                    serde_json::from_str(raw.get()).ok()
                });
            let line = lines.line_at(next.get());
            return Err(second_run(line, &key, second.as_deref()).into());
        }

        let mut run = Run::default();
        let mut global = Vec::new();
        let mut values: Vec<(String, Option<f64>)> = Vec::new();
        for (name, raw) in &fields.0 {
            let line = lines.line_at(raw.get());
            if name == GLOBAL_FIELD {
                global = global_averages(raw, &mut lines)?;
                continue;
            }
            if !raw.get().starts_with('[') {
                continue; // the paths, or a field newer than this reader
            }
            let frames: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|e| {
                ReadError::at(
                    line + e.line() as u64 - 1,
                    format!("{name}: {}", message_without_location(&e)),
                )
            })?;
            if frames.is_empty() {
                return Err(ReadError::at(line, format!("metric '{name}' has no frames")).into());
            }
            for (position, raw) in frames.into_iter().enumerate() {
                let line = lines.line_at(raw.get());
                let what = format!("{name}[{position}]");
                let frame: Frame = serde_json::from_str(raw.get()).map_err(|e| {
                    ReadError::at(
                        line + e.line() as u64 - 1,
                        format!("{what}: {}", message_without_location(&e)),
                    )
                })?;
                let n = frame_number(&frame, &what).map_err(|m| ReadError::at(line, m))?;
                values.clear();
                for (submetric, value) in &frame.0 {
                    if submetric != FRAME_FIELD {
                        let value = frame_value(value)
                            .map_err(|m| ReadError::at(line, format!("{what}.{submetric} {m}")))?;
                        values.push((submetric.clone(), value));
                    }
                }
                let borrowed: Vec<(&str, Option<f64>)> =
                    values.iter().map(|(s, v)| (s.as_str(), *v)).collect();
                run.add_frame(name, line, n, &borrowed)?;
            }
        }
        if run.is_empty() {
            return Err(ReadError::at(1, "no metric: the result holds no list of frames").into());
        }
        if global.is_empty() {
            sink.note(format!(
                "no `{GLOBAL_FIELD}` statistics in the file to check the frames against"
            ));
        }
        run.finish(key, &global, sink)
    }
}

/// `input_file_dist`, the distorted video as given to the tool: the key.
fn dist_of(fields: &RawFields, lines: &mut LineCounter) -> Result<String, ReadError> {
    let Some((_, raw)) = fields.0.iter().find(|(name, _)| name == KEY_FIELD) else {
        return Err(ReadError::at(
            1,
            format!(
                "no `{KEY_FIELD}`: the result does not name its distorted video \
                 (every ffmpeg-quality-metrics result ends with `{KEY_FIELD}` and `{REFERENCE_FIELD}`; \
                 was the file cut short?)"
            ),
        ));
    };
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::String(path)) => Ok(path),
        Ok(other) => Err(ReadError::at(
            lines.line_at(raw.get()),
            format!("`{KEY_FIELD}` must be a path, got {}", describe(&other)),
        )),
        Err(e) => Err(ReadError::at(lines.line_at(raw.get()), json_error(&e))),
    }
}

/// `global.<metric>.<submetric>.average`, each with its line.
fn global_averages(
    raw: &RawValue,
    lines: &mut LineCounter,
) -> Result<Vec<GlobalAverage>, ReadError> {
    fn object<'a>(
        raw: &'a RawValue,
        what: &str,
        lines: &mut LineCounter,
    ) -> Result<RawFields<'a>, ReadError> {
        serde_json::from_str(raw.get()).map_err(|e| {
            ReadError::at(
                lines.line_at(raw.get()) + e.line() as u64 - 1,
                format!("{what}: {}", message_without_location(&e)),
            )
        })
    }
    let mut averages = Vec::new();
    for (metric, raw) in object(raw, GLOBAL_FIELD, lines)?.0 {
        let what = format!("{GLOBAL_FIELD}.{metric}");
        for (submetric, raw) in object(raw, &what, lines)?.0 {
            let what = format!("{what}.{submetric}");
            let statistics = object(raw, &what, lines)?;
            if let Some((_, raw)) = statistics.0.iter().find(|(name, _)| name == AVERAGE) {
                let line = lines.line_at(raw.get());
                let value: Value = serde_json::from_str(raw.get())
                    .map_err(|e| ReadError::at(line, json_error(&e)))?;
                let average = frame_value(&value)
                    .map_err(|m| ReadError::at(line, format!("{what}.{AVERAGE} {m}")))?;
                averages.push(GlobalAverage {
                    metric: metric.clone(),
                    submetric,
                    average,
                    line,
                });
            }
        }
    }
    Ok(averages)
}

/// A frame's `n`.
fn frame_number(frame: &Frame, what: &str) -> Result<i64, String> {
    match frame.0.iter().find(|(name, _)| name == FRAME_FIELD) {
        None => Err(format!("{what} has no frame number `{FRAME_FIELD}`")),
        Some((_, value)) => value.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
            format!(
                "{what}.{FRAME_FIELD} must be a non-negative integer, got {}",
                describe(value)
            )
        }),
    }
}

/// A value as the tool wrote it: a number, or (`null`, `NaN`, `Infinity`)
/// an unusable one. The error completes "`<where>` …".
fn frame_value(value: &Value) -> Result<Option<f64>, String> {
    match value {
        Value::Number(number) => Ok(number.as_f64().filter(|v| v.is_finite())),
        Value::Null => Ok(None),
        Value::String(word) if is_nonfinite_word(word) => Ok(None),
        other => Err(format!("must be a number, got {}", describe(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::error_of;
    use crate::ingest::text_rows::read_with_notes;
    use crate::ingest::RawScore;

    /// The layout of the tool's own test output (`tests/response.json`),
    /// cut to two frames and three metrics, `indent=4` as it writes it.
    const TWO_FRAMES: &[u8] = b"{
    \"vmaf\": [
        {
            \"integer_adm2\": 0.699075,
            \"vmaf\": 14.051072,
            \"n\": 1
        },
        {
            \"integer_adm2\": 0.698627,
            \"vmaf\": 14.480823,
            \"n\": 2
        }
    ],
    \"psnr\": [
        {
            \"n\": 1,
            \"mse_avg\": 536.66,
            \"psnr_avg\": 20.83,
            \"psnr_y\": 18.59
        },
        {
            \"n\": 2,
            \"mse_avg\": 535.24,
            \"psnr_avg\": 20.85,
            \"psnr_y\": NaN
        }
    ],
    \"vif\": [
        {
            \"n\": 0,
            \"scale_0\": 0.262,
            \"scale_1\": 0.557
        },
        {
            \"n\": 1,
            \"scale_0\": 0.263,
            \"scale_1\": 0.56
        }
    ],
    \"global\": {
        \"vmaf\": {
            \"vmaf\": {
                \"average\": 14.266,
                \"median\": 14.266,
                \"stdev\": 0.215,
                \"min\": 14.051,
                \"max\": 14.481
            }
        },
        \"psnr\": {
            \"psnr_avg\": {
                \"average\": 20.9,
                \"median\": 20.84,
                \"stdev\": 0.01,
                \"min\": 20.83,
                \"max\": 20.85
            }
        }
    },
    \"input_file_dist\": \"tests/dist-854x480.mkv\",
    \"input_file_ref\": \"tests/ref-1280x720.mkv\"
}";

    #[test]
    fn detects_results_by_their_first_metric() {
        let head = std::str::from_utf8(TWO_FRAMES).unwrap();
        assert!(FqmJsonReader::detect(head, "json").is_some());
        let cut = &head[..200];
        assert!(
            FqmJsonReader::detect(cut, "json").is_some(),
            "paths beyond the head"
        );
        assert!(FqmJsonReader::detect("{\"ssim\": [{\"n\": 1, \"ssim_avg\": 0.9}]}", "").is_some());
        for other in [
            "{\"frames\": [{\"frameNum\": 0, \"metrics\": {\"vmaf\": 1}}], \"version\": \"x\"}",
            "{\"rows\": [{\"n\": 1, \"score\": 2}]}",
            "[{\"vmaf\": [{\"n\": 1}]}]",
            "{\"name\": \"a\", \"n\": 3}",
            // A head that ends inside its first key (found by tests/fuzz.rs).
            "{\"m",
            "{ \"",
        ] {
            assert!(FqmJsonReader::detect(other, "json").is_none(), "{other}");
        }
    }

    #[test]
    fn reads_each_metric_as_a_record() {
        let (records, notes) = read_with_notes::<FqmJsonReader>(TWO_FRAMES);
        let metrics: Vec<_> = records
            .iter()
            .map(|r| r.metric.as_deref().unwrap())
            .collect();
        assert_eq!(metrics, ["vmaf", "psnr", "vif"]);
        let [vmaf, psnr, vif] = &records[..] else {
            unreachable!()
        };
        assert_eq!(vmaf.raw_key, "tests/dist-854x480.mkv");
        assert_eq!((vmaf.line, psnr.line, vif.line), (3, 15, 29));
        assert_eq!(vmaf.value, RawScore::Number((14.051072 + 14.480823) / 2.0));
        assert_eq!(psnr.components[1], ("psnr_y".to_string(), Some(18.59)));
        assert_eq!(psnr.frames[1].frame_index, 1);
        assert_eq!(
            vif.frames.iter().map(|f| f.frame_index).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(vmaf.warnings.is_empty(), "{:?}", vmaf.warnings);
        assert_eq!(psnr.warnings.len(), 1);
        assert!(
            psnr.warnings[0]
                .message
                .starts_with("global.psnr.psnr_avg.average on line 52 is 20.9, but the mean"),
            "{}",
            psnr.warnings[0].message
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn concatenated_runs_are_refused_where_the_second_starts() {
        let first = std::str::from_utf8(TWO_FRAMES).unwrap();
        let second = first.replace("tests/dist-854x480.mkv", "other.mkv");
        let twice = format!("{first}\n{second}\n");
        let (line, message) = error_of::<FqmJsonReader>(twice.as_bytes());
        assert_eq!(line, 63);
        assert_eq!(
            message,
            "a second run starts here, of input_file_dist 'other.mkv' after \
             'tests/dist-854x480.mkv': the file holds concatenated runs; give each run a file of its own"
        );
    }

    #[test]
    fn malformed_results_name_their_line() {
        let (line, message) = error_of::<FqmJsonReader>(
            b"{\"psnr\": [\n{\"n\": 1, \"psnr_avg\": 1},\n{\"n\": 2, \"psnr_avg\": \"high\"}\n],\n\"input_file_dist\": \"d.mkv\"}",
        );
        assert_eq!(
            (line, message.as_str()),
            (3, "psnr[1].psnr_avg must be a number, got \"high\"")
        );
        let (line, message) = error_of::<FqmJsonReader>(
            b"{\"psnr\": [\n{\"psnr_avg\": 1}\n],\n\"input_file_dist\": \"d.mkv\"}",
        );
        assert_eq!(
            (line, message.as_str()),
            (2, "psnr[0] has no frame number `n`")
        );
        let (line, message) =
            error_of::<FqmJsonReader>(b"{\"psnr\": [\n{\"n\": 1, \"psnr_avg\": 1}\n]}");
        assert_eq!(line, 1);
        assert!(message.starts_with("no `input_file_dist`"), "{message}");
        let (line, message) =
            error_of::<FqmJsonReader>(b"{\"psnr\": [],\n\"input_file_dist\": \"d.mkv\"}");
        assert_eq!((line, message.as_str()), (1, "metric 'psnr' has no frames"));
        let (line, _) = error_of::<FqmJsonReader>(b"{\"psnr\": [\n{\"n\": 1,\n");
        assert_eq!(line, 3);
    }
}
