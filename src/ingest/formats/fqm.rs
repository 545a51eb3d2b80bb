//! What the two layouts of ffmpeg-quality-metrics (`ffmpeg-quality-metrics-json`,
//! `ffmpeg-quality-metrics-csv`) share: one run of the tool is one clip
//! scored by several metrics, each its own scorer.
//!
//! ffmpeg-quality-metrics (slhck/ffmpeg-quality-metrics, layout of 3.x,
//! fixtures from 3.12) runs ffmpeg's `libvmaf`, `psnr`, `ssim`, `vif` and
//! `msad` filters on one distorted video against its reference
//! (`ffmpeg-quality-metrics dist.mkv ref.mkv -m vmaf psnr ssim vif`) and
//! writes every frame of every metric, each frame numbered `n`, with the
//! distorted and reference paths as given (`input_file_dist`,
//! `input_file_ref`). From one run the readers build one record per metric:
//!
//! - the key is `input_file_dist` (a path: `auto` takes its basename);
//! - the scorer is the metric (`vmaf`, `psnr` …), prefixed by a label or
//!   `--scorer` (`fqm-vmaf`), see [`rules::scorer_name_of`];
//! - the clip score is the metric's main submetric ([`MAIN_SUBMETRICS`]:
//!   `vmaf`, `psnr_avg`, `ssim_avg`, `msad_avg`; for `vif`, which has no
//!   overall value, the mean of its `scale_*` values on each frame), pooled
//!   as libvmaf logs are ([`ClipFrames`]): the mean over frames with a
//!   finite value, every frame stored, unusable frames noted; every other
//!   submetric is a component holding its mean;
//! - frames are stored 0-based. `n` is 1-based (libvmaf's `frameNum + 1`,
//!   the `psnr` and `ssim` filters' own counters), except for `vif` and
//!   `msad`, which the tool reads from ffmpeg's metadata printout counting
//!   from 0: its own test output has `vif` at `n` 0, 1, 2 beside the others'
//!   1, 2, 3. So a metric whose first frame is `n` 0 is taken as 0-based and
//!   any other as 1-based, and frame 0 of every metric is the first frame;
//! - every metric of a run covers the same frames, so metrics with different
//!   frame counts are refused (a `--vmaf-subsample` run, or two runs' frames
//!   in one file), at the first frame one has and another lacks;
//! - the tool's own statistics (`global`, JSON only) are checked against the
//!   pooled values: its `average` of a submetric is rounded to 3 decimals, so
//!   a difference beyond that is a warning (`global_mismatch`) kept with the
//!   file. The stored score stays the frames' mean.
//!
//! [`rules::scorer_name_of`]: crate::ingest::rules::scorer_name_of

use std::collections::HashMap;

use crate::ingest::libvmaf::{ClipFrames, PooledClip};
use crate::ingest::{RawScore, ReadError, ReadWarning, RecordSink, ScoreRecord};

/// The field naming the distorted video: the key.
pub(crate) const KEY_FIELD: &str = "input_file_dist";
/// The field naming the reference video.
pub(crate) const REFERENCE_FIELD: &str = "input_file_ref";
/// The frame number of every frame.
pub(crate) const FRAME_FIELD: &str = "n";

/// The metrics the tool writes, in the order it writes them.
pub(crate) const METRICS: &[&str] = &["vmaf", "psnr", "ssim", "vif", "msad"];

/// The submetric that is a metric's clip score.
pub(crate) const MAIN_SUBMETRICS: &[(&str, &str)] = &[
    ("vmaf", "vmaf"),
    ("psnr", "psnr_avg"),
    ("ssim", "ssim_avg"),
    ("msad", "msad_avg"),
];

/// The metric without an overall value: its clip score is the mean of its
/// scales, written `scale_0` … `scale_3`.
const VIF: &str = "vif";
const VIF_SCALE_PREFIX: &str = "scale_";

/// The check name of a `global` average that disagrees with the frames.
pub(crate) const GLOBAL_MISMATCH: &str = "global_mismatch";

/// How far `global`'s average may be from the frames' mean: the tool
/// rounds it to 3 decimals (`round(mean, 3)`). The extra 1e-9 absorbs
/// binary floating-point error in that worst case.
const GLOBAL_TOLERANCE: f64 = 5e-4 + 1e-9;

/// The submetric that is `metric`'s clip score: the one [`MAIN_SUBMETRICS`]
/// names, else (a metric newer than this reader) one named as the metric or
/// `<metric>_avg`. `None` for `vif`, pooled from its scales.
fn main_submetric(metric: &str, submetrics: &[&str]) -> Result<Option<String>, String> {
    if metric == VIF {
        return if submetrics.iter().any(|s| s.starts_with(VIF_SCALE_PREFIX)) {
            Ok(None)
        } else {
            Err(format!(
                "metric 'vif' has no `scale_*` values to pool (it has {})",
                submetrics.join(", ")
            ))
        };
    }
    let candidates: Vec<String> = match MAIN_SUBMETRICS.iter().find(|(m, _)| *m == metric) {
        Some((_, main)) => vec![main.to_string()],
        None => vec![metric.to_string(), format!("{metric}_avg")],
    };
    candidates
        .iter()
        .find(|c| submetrics.contains(&c.as_str()))
        .map(|main| Some(main.clone()))
        .ok_or_else(|| {
            format!(
                "metric '{metric}' has no {} value to take as its score (it has {})",
                candidates.join(" or "),
                submetrics.join(", ")
            )
        })
}

/// One metric of a run, as its frames arrive.
struct Metric {
    name: String,
    /// Where the metric's frames start: its list, or its first row.
    line: u64,
    /// `n` of the metric's first frame: 0 (counted by ffmpeg's metadata
    /// printout) or 1.
    base: i64,
    /// The submetric pooled into the clip score (`vif`: the mean of the scales).
    main: String,
    pool_scales: bool,
    clip: ClipFrames,
    /// Every frame: 0-based frame → (n, line).
    frames: HashMap<i64, (i64, u64)>,
}

/// The tool's own average of one submetric, from `global`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GlobalAverage {
    pub metric: String,
    pub submetric: String,
    /// `None` when the tool wrote `NaN` or `null` (versions that pooled NaN frames).
    pub average: Option<f64>,
    pub line: u64,
}

/// One run of the tool: every metric's frames as they are read.
#[derive(Default)]
pub(crate) struct Run {
    metrics: Vec<Metric>,
    index: HashMap<String, usize>,
}

impl Run {
    /// Add one frame of `metric`, numbered `n`, written on `line`, with its
    /// submetrics (`None` for a non-finite value) in file order.
    pub fn add_frame(
        &mut self,
        metric: &str,
        line: u64,
        n: i64,
        values: &[(&str, Option<f64>)],
    ) -> Result<(), ReadError> {
        let at = match self.index.get(metric) {
            Some(at) => *at,
            None => {
                let names: Vec<&str> = values.iter().map(|(name, _)| *name).collect();
                let main = main_submetric(metric, &names).map_err(|m| ReadError::at(line, m))?;
                let pool_scales = main.is_none();
                let main = main.unwrap_or_else(|| VIF.to_string());
                self.metrics.push(Metric {
                    name: metric.to_string(),
                    line,
                    base: if n == 0 { 0 } else { 1 },
                    clip: ClipFrames::with_model(main.clone()),
                    main,
                    pool_scales,
                    frames: HashMap::new(),
                });
                self.index
                    .insert(metric.to_string(), self.metrics.len() - 1);
                self.metrics.len() - 1
            }
        };
        let metric = &mut self.metrics[at];
        let frame = n - metric.base;
        if frame < 0 {
            return Err(ReadError::at(
                line,
                format!(
                    "{} frame n={n}: its frames are numbered from {}",
                    metric.name, metric.base
                ),
            ));
        }
        if let Some((_, first)) = metric.frames.insert(frame, (n, line)) {
            return Err(ReadError::at(
                line,
                format!(
                    "{} frame n={n} appears twice (also on line {first})",
                    metric.name
                ),
            ));
        }
        let values = values.iter().copied();
        if metric.pool_scales {
            let scales: Vec<Option<f64>> = values
                .clone()
                .filter(|(name, _)| name.starts_with(VIF_SCALE_PREFIX))
                .map(|(_, value)| value)
                .collect();
            // A frame with an unusable scale has no usable mean of them.
            let mean = scales
                .iter()
                .copied()
                .sum::<Option<f64>>()
                .filter(|_| !scales.is_empty())
                .map(|sum| sum / scales.len() as f64);
            metric
                .clip
                .add_frame(line, frame, values.chain([(VIF, mean)]))
        } else {
            metric.clip.add_frame(line, frame, values)
        }
    }

    /// Whether no frame was added.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// Refuse metrics that cover different frames: one run compares the
    /// same frames with every metric.
    fn check_frame_counts(&self) -> Result<(), ReadError> {
        let Some(longest) = self.metrics.iter().reduce(|a, b| {
            if b.frames.len() > a.frames.len() {
                b
            } else {
                a
            }
        }) else {
            return Ok(());
        };
        for metric in &self.metrics {
            if metric.frames.len() == longest.frames.len() {
                continue;
            }
            // The first frame (in frame order) the two do not share.
            let mut frames: Vec<(&i64, &(i64, u64))> = longest.frames.iter().collect();
            frames.sort_unstable();
            let (_, &(n, line)) = frames
                .iter()
                .find(|(frame, _)| !metric.frames.contains_key(frame))
                .or(frames.last())
                .copied()
                .expect("the longest metric has frames");
            return Err(ReadError::at(
                line,
                format!(
                    "metric '{}' has {} frames but '{}' has {}: {}'s frame n={n} has no {} frame \
                     (the metrics of one run cover the same frames; a --vmaf-subsample run, or \
                     frames of two runs in one file?)",
                    metric.name,
                    metric.frames.len(),
                    longest.name,
                    longest.frames.len(),
                    longest.name,
                    metric.name,
                ),
            ));
        }
        Ok(())
    }

    /// Push one record per metric, keyed by `key` (the run's
    /// `input_file_dist`), each checked against `global`'s averages.
    pub fn finish<S: RecordSink>(
        self,
        key: String,
        global: &[GlobalAverage],
        sink: &mut S,
    ) -> Result<(), S::Error> {
        self.check_frame_counts()?;
        for metric in self.metrics {
            let (name, main, line) = (metric.name, metric.main, metric.line);
            let pooled = metric.clip.pool(sink);
            let warnings = global
                .iter()
                .filter(|average| average.metric == name)
                .filter_map(|average| global_mismatch(average, &main, &pooled))
                .collect();
            sink.push(ScoreRecord {
                line,
                key_field: KEY_FIELD.into(),
                raw_key: key.clone(),
                scorer: None,
                scorer_hint: None,
                metric: Some(name),
                value: pooled.value,
                reported_status: None,
                runtime_ms: None,
                frames: pooled.frames,
                pooled_frames: pooled.pooled_frames,
                note: pooled.note,
                components: pooled.components,
                warnings,
            })?;
        }
        Ok(())
    }
}

/// The warning for a `global` average further from the frames' mean than
/// its rounding allows, if it is.
fn global_mismatch(
    average: &GlobalAverage,
    main: &str,
    pooled: &PooledClip,
) -> Option<ReadWarning> {
    let logged = average.average?;
    let mean = if average.submetric == main {
        match pooled.value {
            RawScore::Number(mean) => Some(mean),
            RawScore::Unusable(_) => None,
        }
    } else {
        pooled
            .components
            .iter()
            .find(|(name, _)| *name == average.submetric)
            .and_then(|(_, mean)| *mean)
    }?;
    let off = (logged - mean).abs();
    (off > GLOBAL_TOLERANCE).then(|| ReadWarning {
        check: GLOBAL_MISMATCH,
        message: format!(
            "global.{}.{}.average on line {} is {logged}, but the mean of the file's frames is \
             {mean:.6} (off by {off:.6}, more than its rounding to 3 decimals); the mean of the \
             frames is stored",
            average.metric, average.submetric, average.line
        ),
    })
}

/// Refuse a second run in one file: its distorted input (`None` when it
/// names none) at `line`, after the first run's.
pub(crate) fn second_run(line: u64, first: &str, second: Option<&str>) -> ReadError {
    let which = match second {
        Some(second) if second != first => {
            format!("a second run starts here, of {KEY_FIELD} '{second}' after '{first}'")
        }
        _ => "a second run starts here".to_string(),
    };
    ReadError::at(
        line,
        format!("{which}: the file holds concatenated runs; give each run a file of its own"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::Collect;

    /// A frame as a test writes it: metric, line, n, submetrics.
    type TestFrame<'a> = (&'a str, u64, i64, &'a [(&'a str, Option<f64>)]);

    fn run_of(frames: &[TestFrame]) -> Run {
        let mut run = Run::default();
        for (metric, line, n, values) in frames {
            run.add_frame(metric, *line, *n, values).unwrap();
        }
        run
    }

    fn average(metric: &str, submetric: &str, value: f64, line: u64) -> GlobalAverage {
        GlobalAverage {
            metric: metric.into(),
            submetric: submetric.into(),
            average: Some(value),
            line,
        }
    }

    #[test]
    fn main_submetrics_of_known_new_and_pooled_metrics() {
        assert_eq!(
            main_submetric("psnr", &["mse_avg", "psnr_avg", "psnr_y"]),
            Ok(Some("psnr_avg".into()))
        );
        assert_eq!(main_submetric("vif", &["scale_0", "scale_1"]), Ok(None));
        assert_eq!(
            main_submetric("msssim", &["msssim_y", "msssim_avg"]),
            Ok(Some("msssim_avg".into()))
        );
        assert_eq!(
            main_submetric("cambi", &["cambi"]),
            Ok(Some("cambi".into()))
        );
        assert_eq!(
            main_submetric("vmaf", &["integer_adm2"]),
            Err(
                "metric 'vmaf' has no vmaf value to take as its score (it has integer_adm2)".into()
            )
        );
        assert_eq!(
            main_submetric("foo", &["a"]),
            Err("metric 'foo' has no foo or foo_avg value to take as its score (it has a)".into())
        );
    }

    #[test]
    fn each_metric_is_a_record_with_zero_based_frames_and_vif_pooled_from_its_scales() {
        let run = run_of(&[
            (
                "psnr",
                3,
                1,
                &[("psnr_avg", Some(20.0)), ("psnr_y", Some(18.0))],
            ),
            ("psnr", 4, 2, &[("psnr_avg", Some(22.0)), ("psnr_y", None)]),
            (
                "vif",
                7,
                0,
                &[("scale_0", Some(0.2)), ("scale_1", Some(0.4))],
            ),
            ("vif", 8, 1, &[("scale_0", Some(0.4)), ("scale_1", None)]),
        ]);
        let mut sink = Collect::default();
        run.finish("dist.mkv".into(), &[], &mut sink).unwrap();
        let [psnr, vif] = &sink.0[..] else {
            panic!("{:?}", sink.0)
        };
        assert_eq!(psnr.metric.as_deref(), Some("psnr"));
        assert_eq!((psnr.line, psnr.key_field.as_ref()), (3, "input_file_dist"));
        assert_eq!(psnr.value, RawScore::Number(21.0));
        assert_eq!(
            psnr.frames
                .iter()
                .map(|f| f.frame_index)
                .collect::<Vec<_>>(),
            [0, 1],
            "n is 1-based"
        );
        assert_eq!(psnr.components, [("psnr_y".to_string(), Some(18.0))]);
        assert_eq!(
            vif.frames
                .iter()
                .map(|f| (f.frame_index, f.value))
                .collect::<Vec<_>>(),
            [(0, Some(0.30000000000000004)), (1, None)],
            "vif counts from 0; a frame with an unusable scale has no mean"
        );
        assert_eq!(vif.pooled_frames, 1);
        assert_eq!(
            vif.components,
            [
                ("scale_0".to_string(), Some(0.30000000000000004)),
                ("scale_1".to_string(), Some(0.4))
            ]
        );
        assert!(vif.warnings.is_empty() && psnr.warnings.is_empty());
    }

    #[test]
    fn a_global_average_beyond_rounding_is_a_warning() {
        let run = run_of(&[
            (
                "ssim",
                2,
                1,
                &[("ssim_y", Some(0.9341)), ("ssim_avg", Some(0.945))],
            ),
            (
                "ssim",
                3,
                2,
                &[("ssim_y", Some(0.9342)), ("ssim_avg", Some(0.946))],
            ),
        ]);
        let global = [
            average("ssim", "ssim_y", 0.934, 20),
            average("ssim", "ssim_avg", 0.947, 27),
            average("psnr", "psnr_avg", 1.0, 30),
        ];
        let mut sink = Collect::default();
        run.finish("d.mkv".into(), &global, &mut sink).unwrap();
        assert_eq!(
            sink.0[0].warnings,
            [ReadWarning {
                check: GLOBAL_MISMATCH,
                message: "global.ssim.ssim_avg.average on line 27 is 0.947, but the mean of the \
                          file's frames is 0.945500 (off by 0.001500, more than its rounding to 3 \
                          decimals); the mean of the frames is stored"
                    .into()
            }],
            "0.93415 rounds to 0.934: no warning for ssim_y"
        );
    }

    #[test]
    fn metrics_covering_different_frames_are_refused_where_they_part() {
        let run = run_of(&[
            ("vmaf", 3, 1, &[("vmaf", Some(10.0))]),
            ("vmaf", 4, 2, &[("vmaf", Some(11.0))]),
            ("vmaf", 5, 3, &[("vmaf", Some(12.0))]),
            ("vif", 9, 0, &[("scale_0", Some(0.2))]),
            ("vif", 10, 1, &[("scale_0", Some(0.2))]),
        ]);
        let error = run.finish("d.mkv".into(), &[], &mut Collect::default());
        let Err(ReadError::Malformed { line, message }) = error else {
            panic!("{error:?}")
        };
        assert_eq!(line, 5);
        assert!(
            message.starts_with(
                "metric 'vif' has 2 frames but 'vmaf' has 3: vmaf's frame n=3 has no vif frame"
            ),
            "{message}"
        );
    }

    #[test]
    fn frames_below_the_first_frames_numbering_and_repeats_are_refused() {
        let mut run = Run::default();
        run.add_frame("psnr", 2, 1, &[("psnr_avg", Some(1.0))])
            .unwrap();
        let Err(ReadError::Malformed { line, message }) =
            run.add_frame("psnr", 3, 0, &[("psnr_avg", Some(1.0))])
        else {
            panic!("expected an error")
        };
        assert_eq!(
            (line, message.as_str()),
            (3, "psnr frame n=0: its frames are numbered from 1")
        );
        let Err(ReadError::Malformed { message, .. }) =
            run.add_frame("psnr", 4, 1, &[("psnr_avg", Some(1.0))])
        else {
            panic!("expected an error")
        };
        assert_eq!(message, "psnr frame n=1 appears twice (also on line 2)");
    }
}
