//! libvmaf's JSON log (`vmaf --json -o log.json`, ffmpeg
//! `libvmaf=log_fmt=json:log_path=log.json`): one clip, every metric of every
//! compared frame.
//!
//! Layout, from `vmaf_write_output_json` in Netflix/vmaf
//! `libvmaf/src/output.c`:
//! `{"version": "…", "fps": 41.98, "frames": [{"frameNum": 0, "metrics":
//! {"integer_adm2": 0.962084, …, "vmaf": 83.856285}}, …], "pooled_metrics":
//! {"vmaf": {"min", "max", "mean", "harmonic_mean"}, …}, "aggregate_metrics": {}}`.
//! What becomes of it is described in [`super::libvmaf`]; this file only
//! reads the layout. Quirks handled here:
//! - `fps` is libvmaf's *processing speed* (pictures per CPU-second), not the
//!   video's frame rate. It is ignored, never stored as a frame rate.
//! - A non-finite metric is written `null`, and without the newline a
//!   finite one gets (`"psnr_y": null,        "vmaf": 76.310862`): still
//!   valid JSON, and the frame's value is unusable.
//! - The separator before each frame is chosen by `i > 0`, not "a frame was
//!   already written", so a log whose first written frame is not frame 0
//!   starts `"frames": [,`. That one stray comma is tolerated.
//! - libvmaf 1.x logs (`frames` + `frameNum` + `metrics`, no
//!   `pooled_metrics`) read the same way, without the pooled-mean check.
//!
//! The log is one JSON document, so it is read whole and parsed with
//! serde_json; frames are located with `RawValue` so that errors name the
//! line of the frame.

use crate::ingest::{read_document, LineCounter};
use std::io::BufRead;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ClipFrames, LoggedMean};
use crate::ingest::json::{message_without_location as message, Fields, RawFields};
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for libvmaf JSON logs.
pub struct LibvmafJsonReader;

impl ScoreReader for LibvmafJsonReader {
    const NAME: &'static str = "libvmaf-json";
    const EXTENSIONS: &'static [&'static str] = &["json"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let has = |needle: &str| head.contains(needle);
        let libvmaf = head.trim_start().starts_with('{')
            && has("\"frames\"")
            && has("\"frameNum\"")
            && has("\"metrics\"")
            && (has("\"version\"") || has("\"pooled_metrics\""));
        libvmaf.then(|| "a libvmaf JSON log (`frames` of `frameNum` and `metrics`)".to_string())
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let text = read_document(input)?;
        let text = text.as_str();
        // Parsed once; only a log that fails is retried, with its stray
        // leading comma (if that is what failed) turned into a space.
        let repaired: String;
        let (document, log) = match serde_json::from_str::<Log>(text) {
            Ok(log) => (text, log),
            Err(error) => {
                let failure = || ReadError::at(error.line() as u64, message(&error));
                repaired = without_leading_frame_comma(text).ok_or_else(failure)?;
                let log = serde_json::from_str::<Log>(&repaired).map_err(|_| failure())?;
                (repaired.as_str(), log)
            }
        };
        let mut lines = LineCounter::new(document);
        let offset = |raw: &RawValue| raw.get().as_ptr() as usize - document.as_ptr() as usize;
        // serde_json counts lines from the start of the slice it parsed.
        let error_at = |line: u64, what: &str, e: serde_json::Error| {
            ReadError::at(
                line + e.line() as u64 - 1,
                format!("{what}: {}", message(&e)),
            )
        };

        let Some(frames) = log.frames else {
            return Err(ReadError::at(1, "not a libvmaf JSON log: no `frames` list").into());
        };
        let mut clip = ClipFrames::new(options);
        for (position, raw) in frames.iter().enumerate() {
            let line = lines.line_of_offset(offset(raw));
            let what = format!("frames[{position}]");
            let frame: Frame =
                serde_json::from_str(raw.get()).map_err(|e| error_at(line, &what, e))?;
            let Some(frame_num) = frame.frame_num else {
                return Err(ReadError::at(line, format!("{what} has no frameNum")).into());
            };
            let Some(metrics) = frame.metrics else {
                return Err(ReadError::at(line, format!("{what} has no metrics")).into());
            };
            clip.add_frame(
                line,
                frame_num,
                metrics
                    .0
                    .iter()
                    .map(|(name, value)| (name.as_str(), *value)),
            )?;
        }

        // libvmaf's own mean of the model metric: pooled_metrics.<model>.mean.
        let mut logged_mean = None;
        if let Some(raw) = log.pooled_metrics {
            let line = lines.line_of_offset(offset(raw));
            let pooled: RawFields =
                serde_json::from_str(raw.get()).map_err(|e| error_at(line, "pooled_metrics", e))?;
            if let Some((_, raw)) = pooled.0.iter().find(|(name, _)| name == clip.model()) {
                let what = format!("pooled_metrics.{}", clip.model());
                let line = lines.line_of_offset(offset(raw));
                let stats: RawFields =
                    serde_json::from_str(raw.get()).map_err(|e| error_at(line, &what, e))?;
                if let Some((_, raw)) = stats.0.iter().find(|(name, _)| name == "mean") {
                    let line = lines.line_of_offset(offset(raw));
                    let value: Option<f64> = serde_json::from_str(raw.get())
                        .map_err(|e| error_at(line, &format!("{what}.mean"), e))?;
                    logged_mean = Some(LoggedMean { value, line });
                }
            }
        }
        clip.finish(logged_mean, 1, options, sink)
    }
}

/// The top level: `version`, `fps` and `aggregate_metrics` are not needed.
#[derive(Deserialize)]
struct Log<'a> {
    #[serde(borrow)]
    frames: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    pooled_metrics: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "frameNum")]
    frame_num: Option<i64>,
    /// Metric names to numbers, or `null` for a non-finite value.
    metrics: Option<Fields<Option<f64>>>,
}

/// The log with the comma of `"frames": [,` (first written frame not
/// frame 0) turned into a space, or `None` when the log has no such comma.
fn without_leading_frame_comma(text: &str) -> Option<String> {
    let key = text.find("\"frames\"")?;
    let after_key = key + "\"frames\"".len();
    let rest = &text[after_key..];
    let open = after_key + rest.find('[')?;
    if !text[after_key..open].trim().starts_with(':') {
        return None;
    }
    let comma = open + 1 + (text[open + 1..].len() - text[open + 1..].trim_start().len());
    (text.as_bytes().get(comma) == Some(&b',')).then(|| {
        let mut fixed = text.to_string();
        fixed.replace_range(comma..comma + 1, " ");
        fixed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, Collect};
    use crate::ingest::{RawScore, ScoreRecord};

    /// The example of the reference (scorer-formats.md §7), byte for byte as
    /// `output.c` lays it out.
    const REFERENCE_EXAMPLE: &[u8] = b"{
  \"version\": \"e1d466c\",
  \"fps\": 41.98,
  \"frames\": [
    {
      \"frameNum\": 0,
      \"metrics\": {
        \"integer_adm2\": 0.962084,
        \"integer_motion2\": 0.000000,
        \"integer_vif_scale0\": 0.505712,
        \"psnr_y\": 34.760779,
        \"vmaf\": 83.856285
      }
    }
  ],
  \"pooled_metrics\": {
    \"vmaf\": {
      \"min\": 71.176557,
      \"max\": 87.181420,
      \"mean\": 76.668905,
      \"harmonic_mean\": 76.510006
    }
  },
  \"aggregate_metrics\": {
  }
}
";

    /// Two frames of a `--subsample 2` run, the second with a NaN `psnr_y`
    /// written as `output.c` writes it: `null,` and no newline.
    const SUBSAMPLED_WITH_NULL: &[u8] = b"{
  \"version\": \"e1d466c\",
  \"fps\": null,
  \"frames\": [
    {
      \"frameNum\": 0,
      \"metrics\": {
        \"psnr_y\": 34.760779,
        \"vmaf\": 83.856285
      }
    },
    {
      \"frameNum\": 2,
      \"metrics\": {
        \"psnr_y\": null,        \"vmaf\": 80.471325
      }
    }
  ],
  \"pooled_metrics\": {
    \"psnr_y\": {
      \"min\": 34.760779,
      \"max\": 34.760779,
      \"mean\": null,
      \"harmonic_mean\": null
    },
    \"vmaf\": {
      \"min\": 80.471325,
      \"max\": 83.856285,
      \"mean\": 82.163805,
      \"harmonic_mean\": 82.129361
    }
  },
  \"aggregate_metrics\": {
  }
}
";

    #[derive(Default)]
    struct Noted {
        records: Vec<ScoreRecord>,
        notes: Vec<String>,
    }

    impl RecordSink for Noted {
        type Error = ReadError;
        fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
            self.records.push(record);
            Ok(())
        }
        fn note(&mut self, message: String) {
            self.notes.push(message);
        }
    }

    fn read(bytes: &[u8], metric: Option<&str>) -> Noted {
        let options = ReadOptions {
            metric: metric.map(str::to_string),
            file_name: "bbb_crf28.json".into(),
            ..ReadOptions::default()
        };
        let mut sink = Noted::default();
        LibvmafJsonReader::read(&mut &bytes[..], &options, &mut sink).unwrap();
        sink
    }

    #[test]
    fn detects_libvmaf_logs_only() {
        let head = std::str::from_utf8(REFERENCE_EXAMPLE).unwrap();
        assert!(LibvmafJsonReader::detect(head, "json").is_some());
        assert!(LibvmafJsonReader::detect(
            r#"{"name": "c", "frames": [{"frame_idx": 0, "score": 1}]}"#,
            "json"
        )
        .is_none());
        assert!(LibvmafJsonReader::detect(r#"[{"frameNum": 0}]"#, "json").is_none());
    }

    #[test]
    fn reads_the_reference_example() {
        let sink = read(REFERENCE_EXAMPLE, None);
        let record = &sink.records[0];
        assert_eq!(record.raw_key, "bbb_crf28");
        assert_eq!(record.value, RawScore::Number(83.856285));
        assert_eq!(record.pooled_frames, 1);
        assert_eq!(
            (record.frames[0].frame_index, record.frames[0].value),
            (0, Some(83.856285))
        );
        assert_eq!(record.scorer_hint.as_deref(), Some("vmaf"));
        assert_eq!(
            record.components,
            vec![
                ("integer_adm2".to_string(), Some(0.962084)),
                ("integer_motion2".to_string(), Some(0.0)),
                ("integer_vif_scale0".to_string(), Some(0.505712)),
                ("psnr_y".to_string(), Some(34.760779)),
            ]
        );
        // The example's pooled values come from a longer run than its one
        // frame, so the cross-check speaks up.
        assert_eq!(sink.notes.len(), 2, "{:?}", sink.notes);
        assert!(
            sink.notes[1].starts_with("libvmaf's pooled mean of vmaf on line 20 is 76.668905"),
            "{}",
            sink.notes[1]
        );
    }

    #[test]
    fn null_values_and_subsampled_frame_numbers() {
        let sink = read(SUBSAMPLED_WITH_NULL, None);
        let record = &sink.records[0];
        assert_eq!(
            record
                .frames
                .iter()
                .map(|f| f.frame_index)
                .collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(
            record.value,
            RawScore::Number((83.856285 + 80.471325) / 2.0)
        );
        assert_eq!(record.components, vec![("psnr_y".into(), Some(34.760779))]);
        assert_eq!(sink.notes.len(), 1, "pooled mean agrees: {:?}", sink.notes);

        let psnr = read(SUBSAMPLED_WITH_NULL, Some("psnr_y"));
        let record = &psnr.records[0];
        assert_eq!(record.value, RawScore::Number(34.760779));
        assert_eq!(record.pooled_frames, 1);
        assert_eq!(record.frames[1].value, None);
        assert_eq!(record.scorer_hint.as_deref(), Some("psnr_y"));
        assert!(psnr.notes[1].starts_with("1 of 2 frames (frame 2)"));
        assert!(
            psnr.notes[2].contains("pooled mean of psnr_y on line 23 is not a number"),
            "{:?}",
            psnr.notes
        );
    }

    #[test]
    fn a_stray_comma_before_the_first_frame_is_tolerated() {
        let bytes = b"{\n  \"version\": \"2.3.1\",\n  \"fps\": 12.00,\n  \"frames\": [,\n    {\n      \"frameNum\": 1,\n      \"metrics\": {\n        \"vmaf\": 90.000000\n      }\n    }\n  ],\n  \"pooled_metrics\": {\n  },\n  \"aggregate_metrics\": {\n  }\n}\n";
        let sink = read(bytes, None);
        assert_eq!(sink.records[0].frames[0].frame_index, 1);
        assert_eq!(sink.records[0].value, RawScore::Number(90.0));
    }

    #[test]
    fn malformed_logs_name_their_line() {
        let (line, message) = error_of::<LibvmafJsonReader>(
            b"{\n\"frames\": [\n{\"frameNum\": 0, \"metrics\": {\"vmaf\": 1}},\n{\"frameNum\": 1,\n \"metrics\": {\"vmaf\": \"high\"}}\n]}\n",
        );
        assert_eq!(line, 5);
        assert!(
            message.starts_with("frames[1]: invalid type: string"),
            "{message}"
        );
        let (line, message) = error_of::<LibvmafJsonReader>(
            b"{\"frames\": [\n{\"frameNum\": 0, \"metrics\": {}},\n{\"frameNum\": 0, \"metrics\": {}}]}",
        );
        assert_eq!(
            (line, message.as_str()),
            (3, "frame 0 appears twice (also on line 2)")
        );
        let (line, message) = error_of::<LibvmafJsonReader>(b"{\"frames\": [\n{\"metrics\": {}}]}");
        assert_eq!((line, message.as_str()), (2, "frames[0] has no frameNum"));
        assert_eq!(
            error_of::<LibvmafJsonReader>(b"{\"version\": \"x\"}").1,
            "not a libvmaf JSON log: no `frames` list"
        );
        assert_eq!(
            error_of::<LibvmafJsonReader>(b"{\"frames\": []}").1,
            "the log has no frames"
        );
        assert_eq!(error_of::<LibvmafJsonReader>(b"{\n\"frames\": [\n").0, 3);
        assert_eq!(error_of::<LibvmafJsonReader>(b" \n").1, "empty file");
        let mut sink = Collect::default();
        assert!(LibvmafJsonReader::read(
            &mut &b"{\"frames\": [{\"frameNum\": -1, \"metrics\": {}}]}"[..],
            &ReadOptions::default(),
            &mut sink
        )
        .is_err());
    }
}
