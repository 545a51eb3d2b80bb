//! What the three libvmaf log formats (`libvmaf-json`, `libvmaf-csv`,
//! `libvmaf-xml`) share: one log is one clip, pooled the same way whichever
//! layout wrote it.
//!
//! libvmaf (the `vmaf` CLI, and ffmpeg's `libvmaf` filter, which calls the
//! same `vmaf_write_output` in Netflix/vmaf `libvmaf/src/output.c`) compares
//! one distorted video with its reference and writes every metric of every
//! compared frame. The log never names the clip, so the key is `--key` or the
//! file's stem, and the reader says which it used.
//!
//! From a log the readers build one [`ScoreRecord`]:
//! - the *model metric* is `--metric` or `vmaf` (the default model's name;
//!   the NEG model writes `vmaf_neg`, a `--model …:name=x` run writes `x`);
//! - its value on every frame is kept at the frame's `frameNum` (0-based;
//!   with `--subsample N` only every Nth frame is written but `frameNum` keeps
//!   its real index, so the gaps stay);
//! - the clip score is the plain mean of the model metric over the frames
//!   whose value is a finite number. NaN (JSON `null`, `nan`/`-nan` in CSV
//!   and XML) marks an unusable frame, left out of the mean and noted; so
//!   does a frame that does not write the model metric at all (stored with
//!   no value, so the frame count still matches the log).
//!   libvmaf's own `harmonic_mean` is not the clip score: harmonic pooling
//!   is an export option of its own (issue 5);
//! - every other metric (`integer_adm2`, `psnr_y`, …) becomes a component
//!   of that name holding its mean over its finite frame values;
//! - when the log carries libvmaf's own pooled mean of the model metric, it
//!   is compared with ours. libvmaf pools the unrounded values and prints
//!   everything with `%.6f`, so the two may differ by up to 1e-6; more than
//!   that is noted (the log was edited, or frames are missing).

pub(crate) mod csv;
pub(crate) mod json;
pub(crate) mod xml;

use std::collections::HashMap;

use crate::ingest::{FrameRecord, RawScore, ReadError, ReadOptions, RecordSink, ScoreRecord};

/// The model metric when `--metric` names none: the default model's name.
pub(crate) const DEFAULT_MODEL_METRIC: &str = "vmaf";

/// How far our mean may be from libvmaf's printed pooled mean before it is
/// noted: both sides are rounded to `%.6f`, so up to 1e-6 is rounding. The
/// extra 1e-9 absorbs binary floating-point error in that worst case.
const POOLED_MEAN_TOLERANCE: f64 = 1e-6 + 1e-9;

/// At most this many frame numbers are listed in a note about unusable frames.
const LISTED_FRAMES: usize = 5;

/// A number as C's `printf("%.6f")` writes it: a decimal, or the spellings
/// of non-finite values (`nan`, `-nan` from glibc, `-nan(ind)` from MSVC,
/// `inf`, `-inf`). `Some(None)` is a non-finite value (an unusable frame),
/// `None` is not a number at all.
pub(crate) fn printf_number(text: &str) -> Option<Option<f64>> {
    let text = text.trim();
    if let Ok(value) = text.parse::<f64>() {
        return Some(value.is_finite().then_some(value));
    }
    let unsigned = text.trim_start_matches(['-', '+']).to_ascii_lowercase();
    (unsigned.starts_with("nan") || unsigned.starts_with("inf")).then_some(None)
}

/// libvmaf's own pooled mean of the model metric, where the log has one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LoggedMean {
    /// `None` when libvmaf wrote `null`/`nan` (a frame was NaN).
    pub value: Option<f64>,
    /// The line it was written on.
    pub line: u64,
}

/// One metric's running mean over its finite frame values.
struct MetricMean {
    name: String,
    sum: f64,
    finite: u32,
}

/// Collects the frames of one log and turns them into the clip's record.
pub(crate) struct ClipFrames {
    model: String,
    /// Every metric, in the order the log first names it.
    metrics: Vec<MetricMean>,
    metric_index: HashMap<String, usize>,
    /// The model metric on every frame, in file order.
    model_frames: Vec<FrameRecord>,
    /// frameNum → the line it was written on, to name both lines of a repeat.
    frame_lines: HashMap<i64, u64>,
    /// Frames on which the model metric is not written at all.
    frames_without_model: u32,
    model_seen: bool,
    /// Metric indices of the frame being added (reused buffer).
    in_frame: Vec<usize>,
}

impl ClipFrames {
    pub fn new(options: &ReadOptions) -> ClipFrames {
        ClipFrames::with_model(
            options
                .metric
                .clone()
                .unwrap_or_else(|| DEFAULT_MODEL_METRIC.to_string()),
        )
    }

    /// Frames pooled on `model`, whatever `--metric` says (a file whose
    /// format names the clip score of each of its metrics).
    pub fn with_model(model: String) -> ClipFrames {
        ClipFrames {
            model,
            metrics: Vec::new(),
            metric_index: HashMap::new(),
            model_frames: Vec::new(),
            frame_lines: HashMap::new(),
            frames_without_model: 0,
            model_seen: false,
            in_frame: Vec::new(),
        }
    }

    /// The metric taken as the clip score.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Add one frame: its `frameNum`, the line it starts on, and each metric
    /// written for it (`None` for a non-finite value).
    pub fn add_frame<'m>(
        &mut self,
        line: u64,
        frame_num: i64,
        metrics: impl IntoIterator<Item = (&'m str, Option<f64>)>,
    ) -> Result<(), ReadError> {
        if frame_num < 0 {
            return Err(ReadError::at(
                line,
                format!("frameNum must be a non-negative integer, got {frame_num}"),
            ));
        }
        if let Some(first) = self.frame_lines.insert(frame_num, line) {
            return Err(ReadError::at(
                line,
                format!("frame {frame_num} appears twice (also on line {first})"),
            ));
        }
        self.in_frame.clear();
        let mut model_value = None;
        let mut has_model = false;
        for (name, value) in metrics {
            let index = match self.metric_index.get(name) {
                Some(index) => *index,
                None => {
                    self.metrics.push(MetricMean {
                        name: name.to_string(),
                        sum: 0.0,
                        finite: 0,
                    });
                    self.metric_index
                        .insert(name.to_string(), self.metrics.len() - 1);
                    self.metrics.len() - 1
                }
            };
            if self.in_frame.contains(&index) {
                return Err(ReadError::at(
                    line,
                    format!("frame {frame_num} has metric '{name}' twice"),
                ));
            }
            self.in_frame.push(index);
            if let Some(value) = value {
                let metric = &mut self.metrics[index];
                metric.sum += value;
                metric.finite += 1;
            }
            if name == self.model {
                has_model = true;
                model_value = value;
            }
        }
        self.model_seen |= has_model;
        self.frames_without_model += u32::from(!has_model);
        self.model_frames.push(FrameRecord {
            frame_index: frame_num,
            value: model_value,
            runtime_ms: None,
        });
        Ok(())
    }

    /// Build the clip's record and push it, with notes on where the key came
    /// from, on unusable frames and on a pooled mean that disagrees with ours.
    /// `empty_line` is where a log without frames is reported.
    pub fn finish<S: RecordSink>(
        self,
        logged_mean: Option<LoggedMean>,
        empty_line: u64,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let Some(first_frame_line) = self.frame_lines.values().min().copied() else {
            return Err(ReadError::at(empty_line, "the log has no frames").into());
        };
        let model = self.model.clone();
        if !self.model_seen {
            let available: Vec<&str> = self.metrics.iter().map(|m| m.name.as_str()).collect();
            let default = if options.metric.is_none() {
                " (the default)"
            } else {
                ""
            };
            return Err(ReadError::at(
                first_frame_line,
                format!(
                    "no metric '{model}'{default} in the log; it has {}: {}",
                    available.join(", "),
                    if options.command_line.takes("metric") {
                        "choose the clip score with --metric"
                    } else {
                        // materialize and batch read libvmaf's default model only.
                        "`second-opinion ingest --metric NAME` chooses the clip score"
                    }
                ),
            )
            .into());
        }

        let (key_source, key) = options.single_clip_key();
        sink.note(match key_source {
            "--key" => format!("libvmaf log of one clip: key '{key}' from --key"),
            source => format!(
                "libvmaf log of one clip: key '{key}' from the {source} (pass --key to name the clip)"
            ),
        });

        let pooled = self.pool(sink);
        if let (RawScore::Number(mean), Some(logged)) = (&pooled.value, logged_mean) {
            match logged.value {
                Some(logged_mean) if (logged_mean - mean).abs() > POOLED_MEAN_TOLERANCE => {
                    sink.note(format!(
                        "libvmaf's pooled mean of {model} on line {} is {logged_mean:.6}, but the mean of \
                         the log's frames is {mean:.6} (off by {:.6}); the mean of the frames is stored",
                        logged.line,
                        (logged_mean - mean).abs()
                    ))
                }
                Some(_) => {}
                None => sink.note(format!(
                    "libvmaf's pooled mean of {model} on line {} is not a number (a frame was NaN); \
                     the mean of the {} usable frames is stored",
                    logged.line, pooled.pooled_frames
                )),
            }
        }

        let record = ScoreRecord {
            line: 1,
            key_field: crate::key::field_name(key_source),
            raw_key: key,
            scorer: None,
            scorer_hint: Some(model),
            metric: None,
            value: pooled.value,
            reported_status: None,
            runtime_ms: None,
            pooled_frames: pooled.pooled_frames,
            frames: pooled.frames,
            note: pooled.note,
            components: pooled.components,
            warnings: Vec::new(),
        };
        sink.push(record)
    }

    /// The clip's score from its frames: the mean of the model metric over
    /// the frames where it is finite, every frame kept, every other metric's
    /// mean as a component. Unusable frames are noted (with the record and
    /// to `sink`).
    pub fn pool<S: RecordSink>(self, sink: &mut S) -> PooledClip {
        let model = self.model.as_str();
        let total = self.model_frames.len();
        let finite: Vec<f64> = self.model_frames.iter().filter_map(|f| f.value).collect();
        let unusable: Vec<i64> = self
            .model_frames
            .iter()
            .filter(|f| f.value.is_none())
            .map(|f| f.frame_index)
            .collect();
        let (value, note) = if finite.is_empty() {
            let reason = format!("all {total} frames have no usable {model} value");
            (RawScore::Unusable(reason), None)
        } else {
            let mean = finite.iter().sum::<f64>() / finite.len() as f64;
            let note = (!unusable.is_empty()).then(|| {
                format!(
                    "{} of {total} frames ({}) have no usable {model} value and were left out of the mean",
                    unusable.len(),
                    frame_list(&unusable),
                )
            });
            (RawScore::Number(mean), note)
        };
        if let Some(note) = &note {
            let absent = match self.frames_without_model {
                0 => String::new(),
                n => format!("; {n} of them do not write {model} at all"),
            };
            sink.note(format!("{note}{absent}"));
        }
        let components = self
            .metrics
            .iter()
            .filter(|m| m.name != model)
            .map(|m| {
                let mean = (m.finite > 0).then(|| m.sum / f64::from(m.finite));
                (m.name.clone(), mean)
            })
            .collect();
        PooledClip {
            value,
            pooled_frames: finite.len() as u32,
            frames: self.model_frames,
            note,
            components,
        }
    }
}

/// A clip's frames pooled into what its record holds.
#[derive(Debug)]
pub(crate) struct PooledClip {
    /// The mean of the model metric over its finite frames, or why there is none.
    pub value: RawScore,
    /// How many frames the mean is over.
    pub pooled_frames: u32,
    /// The model metric on every frame, in file order.
    pub frames: Vec<FrameRecord>,
    /// The frames left out of the mean, for the record.
    pub note: Option<String>,
    /// Every other metric's mean over its finite frames, in the order the
    /// file first names them.
    pub components: Vec<(String, Option<f64>)>,
}

/// `frame 4` / `frames 4, 6` / `frames 4, 6, 8, 10, 12, …`.
fn frame_list(frames: &[i64]) -> String {
    let listed: Vec<String> = frames
        .iter()
        .take(LISTED_FRAMES)
        .map(i64::to_string)
        .collect();
    let more = if frames.len() > LISTED_FRAMES {
        ", …"
    } else {
        ""
    };
    let noun = if frames.len() == 1 { "frame" } else { "frames" };
    format!("{noun} {}{more}", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::Collect;

    #[derive(Default)]
    struct Noted {
        records: Collect,
        notes: Vec<String>,
    }

    impl RecordSink for Noted {
        type Error = ReadError;
        fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
            self.records.push(record)
        }
        fn note(&mut self, message: String) {
            self.notes.push(message);
        }
    }

    fn options(metric: Option<&str>, key: Option<&str>) -> ReadOptions {
        ReadOptions {
            metric: metric.map(str::to_string),
            clip_key: key.map(str::to_string),
            file_name: "runs/clip_a.json".into(),
            ..ReadOptions::default()
        }
    }

    #[test]
    fn printf_spellings_of_numbers() {
        assert_eq!(printf_number("83.856285"), Some(Some(83.856285)));
        assert_eq!(printf_number(" 0.000000"), Some(Some(0.0)));
        for nonfinite in [
            "nan",
            "-nan",
            "-nan(ind)",
            "nan(snan)",
            "inf",
            "-inf",
            "NaN",
        ] {
            assert_eq!(printf_number(nonfinite), Some(None), "{nonfinite}");
        }
        for text in ["", "x", "1,5", "0x"] {
            assert_eq!(printf_number(text), None, "{text}");
        }
    }

    #[test]
    fn pools_the_model_metric_and_keeps_the_others_as_components() {
        let options = options(None, None);
        let mut clip = ClipFrames::new(&options);
        clip.add_frame(2, 0, [("adm2", Some(0.9)), ("vmaf", Some(80.0))])
            .unwrap();
        clip.add_frame(3, 2, [("adm2", None), ("vmaf", None)])
            .unwrap();
        clip.add_frame(4, 4, [("adm2", Some(0.7)), ("vmaf", Some(70.0))])
            .unwrap();
        let mut sink = Noted::default();
        clip.finish(
            Some(LoggedMean {
                value: Some(75.0000004),
                line: 9,
            }),
            1,
            &options,
            &mut sink,
        )
        .unwrap();
        let record = &sink.records.0[0];
        assert_eq!(record.value, RawScore::Number(75.0));
        assert_eq!(record.pooled_frames, 2);
        assert_eq!(
            (record.raw_key.as_str(), record.key_field.as_ref()),
            ("clip_a", "file name")
        );
        assert_eq!(record.scorer_hint.as_deref(), Some("vmaf"));
        assert_eq!(
            record
                .frames
                .iter()
                .map(|f| (f.frame_index, f.value))
                .collect::<Vec<_>>(),
            vec![(0, Some(80.0)), (2, None), (4, Some(70.0))]
        );
        assert_eq!(record.components.len(), 1);
        assert_eq!(record.components[0].0, "adm2");
        assert!((record.components[0].1.unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(
            record.note.as_deref(),
            Some("1 of 3 frames (frame 2) have no usable vmaf value and were left out of the mean")
        );
        assert_eq!(
            sink.notes,
            [
                "libvmaf log of one clip: key 'clip_a' from the file name (pass --key to name the clip)",
                "1 of 3 frames (frame 2) have no usable vmaf value and were left out of the mean",
            ],
            "a pooled mean within rounding is not noted"
        );
    }

    #[test]
    fn a_pooled_mean_off_by_more_than_rounding_is_noted() {
        let options = options(Some("psnr_y"), Some("clip_9"));
        let mut clip = ClipFrames::new(&options);
        clip.add_frame(1, 0, [("psnr_y", Some(30.0))]).unwrap();
        let mut sink = Noted::default();
        let logged = LoggedMean {
            value: Some(30.000002),
            line: 7,
        };
        clip.finish(Some(logged), 1, &options, &mut sink).unwrap();
        assert_eq!(sink.records.0[0].raw_key, "clip_9");
        assert_eq!(sink.records.0[0].key_field, "--key");
        assert_eq!(sink.records.0[0].scorer_hint.as_deref(), Some("psnr_y"));
        assert_eq!(
            sink.notes,
            [
                "libvmaf log of one clip: key 'clip_9' from --key",
                "libvmaf's pooled mean of psnr_y on line 7 is 30.000002, but the mean of the log's \
                 frames is 30.000000 (off by 0.000002); the mean of the frames is stored",
            ]
        );
    }

    #[test]
    fn all_frames_unusable_is_a_bad_score_and_a_nan_pooled_mean_is_noted() {
        let options = options(None, None);
        let mut clip = ClipFrames::new(&options);
        clip.add_frame(1, 0, [("vmaf", None)]).unwrap();
        clip.add_frame(2, 1, [("psnr_y", Some(1.0))]).unwrap();
        let mut sink = Noted::default();
        let logged = LoggedMean {
            value: None,
            line: 5,
        };
        clip.finish(Some(logged), 1, &options, &mut sink).unwrap();
        let record = &sink.records.0[0];
        assert_eq!(
            record.value,
            RawScore::Unusable("all 2 frames have no usable vmaf value".into())
        );
        assert_eq!(record.pooled_frames, 0);
        assert_eq!(record.frames[1].value, None, "frame 1 has no vmaf at all");
        assert_eq!(sink.notes.len(), 1, "{:?}", sink.notes);
    }

    #[test]
    fn a_missing_model_metric_lists_the_metrics_of_the_log() {
        let options = options(Some("vmaf_neg"), None);
        let mut clip = ClipFrames::new(&options);
        clip.add_frame(4, 0, [("psnr_y", Some(30.0)), ("vmaf", Some(80.0))])
            .unwrap();
        let error = clip.finish(None, 1, &options, &mut Collect::default());
        match error {
            Err(ReadError::Malformed { line, message }) => {
                assert_eq!(line, 4);
                assert_eq!(
                    message,
                    "no metric 'vmaf_neg' in the log; it has psnr_y, vmaf: choose the clip score with --metric"
                );
            }
            other => panic!("{other:?}"),
        }
        let default = ReadOptions::default();
        let mut clip = ClipFrames::new(&default);
        clip.add_frame(2, 0, [("psnr_y", Some(30.0))]).unwrap();
        let Err(ReadError::Malformed { message, .. }) =
            clip.finish(None, 1, &default, &mut Collect::default())
        else {
            panic!("expected an error");
        };
        assert!(message.starts_with("no metric 'vmaf' (the default) in the log"));
    }

    #[test]
    fn repeated_frames_metrics_and_empty_logs_are_refused() {
        let options = ReadOptions::default();
        let mut clip = ClipFrames::new(&options);
        clip.add_frame(2, 0, [("vmaf", Some(1.0))]).unwrap();
        let Err(ReadError::Malformed { line, message }) =
            clip.add_frame(3, 0, [("vmaf", Some(2.0))])
        else {
            panic!("expected an error");
        };
        assert_eq!(
            (line, message.as_str()),
            (3, "frame 0 appears twice (also on line 2)")
        );
        let Err(ReadError::Malformed { message, .. }) =
            clip.add_frame(4, 1, [("vmaf", Some(1.0)), ("vmaf", Some(2.0))])
        else {
            panic!("expected an error");
        };
        assert_eq!(message, "frame 1 has metric 'vmaf' twice");
        let Err(ReadError::Malformed { line, message }) =
            ClipFrames::new(&options).finish(None, 6, &options, &mut Collect::default())
        else {
            panic!("expected an error");
        };
        assert_eq!((line, message.as_str()), (6, "the log has no frames"));
    }

    #[test]
    fn frame_lists_are_cut() {
        assert_eq!(frame_list(&[4]), "frame 4");
        assert_eq!(frame_list(&[1, 2, 3, 4, 5, 6]), "frames 1, 2, 3, 4, 5, …");
    }

    #[test]
    fn lines_of_offsets() {
        let mut lines = crate::ingest::LineCounter::new("a\nb\n\nc");
        assert_eq!(lines.line_of_offset(0), 1);
        assert_eq!(lines.line_of_offset(2), 2);
        assert_eq!(lines.line_of_offset(5), 4);
        assert_eq!(lines.line_of_offset(1), 1, "going back starts over");
    }
}
