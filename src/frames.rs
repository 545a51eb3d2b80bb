//! Frames: matching a feature table's frame rows to stored frame scores, and
//! pooling a clip's frames into statistics.
//!
//! Frame indices in the registry are 0-based source frame numbers. Scorers
//! that sample (UVQ at 1 fps, libvmaf `--subsample`) leave gaps, so a table
//! row can take the exact frame, the nearest scored frame, or the previous
//! one, within a maximum gap.

use std::fmt;
use std::str::FromStr;

/// Columns that number the frames of a per-frame feature table, in order.
/// ffmpeg-quality-metrics' `n` is not among them: tables use `n` as a row
/// counter too often for its mere presence to switch an export to a
/// per-frame join; name it with `--frame-column n` (read 1-based).
pub const FRAME_COLUMNS: &[&str] = &["frame_idx", "frame_index", "frameNum", "frame"];

/// How a table frame finds its scored frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FrameMatch {
    /// Only the same frame index.
    #[default]
    Exact,
    /// The scored frame closest to it (the earlier one on a tie).
    Nearest,
    /// The last scored frame at or before it.
    Previous,
}

impl FrameMatch {
    pub fn name(self) -> &'static str {
        match self {
            FrameMatch::Exact => "exact",
            FrameMatch::Nearest => "nearest",
            FrameMatch::Previous => "previous",
        }
    }
}

impl FromStr for FrameMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exact" => Ok(FrameMatch::Exact),
            "nearest" => Ok(FrameMatch::Nearest),
            "previous" => Ok(FrameMatch::Previous),
            other => Err(format!(
                "unknown frame match '{other}' (expected exact, nearest or previous)"
            )),
        }
    }
}

/// A stored frame: its 0-based index, its value (`None` when unusable)
/// and its runtime.
pub type StoredFrame = (i64, Option<f64>, Option<f64>);

/// A stored frame as matching sees it.
pub trait FrameIndex {
    fn frame_index(&self) -> i64;
}

impl<V> FrameIndex for (i64, V) {
    fn frame_index(&self) -> i64 {
        self.0
    }
}

impl<V, R> FrameIndex for (i64, V, R) {
    fn frame_index(&self) -> i64 {
        self.0
    }
}

/// The position in `frames` (sorted by frame index, unique) that frame
/// `target` takes under `mode`, if any lies within `max_gap` frames.
pub fn match_frame<F: FrameIndex>(
    frames: &[F],
    target: i64,
    mode: FrameMatch,
    max_gap: Option<u64>,
) -> Option<usize> {
    let within = |index: i64| max_gap.is_none_or(|gap| target.abs_diff(index) <= gap);
    let at = frames.partition_point(|frame| frame.frame_index() < target);
    let exact = frames
        .get(at)
        .filter(|frame| frame.frame_index() == target)
        .map(|_| at);
    match mode {
        FrameMatch::Exact => exact,
        FrameMatch::Previous => exact
            .or_else(|| at.checked_sub(1))
            .filter(|p| within(frames[*p].frame_index())),
        FrameMatch::Nearest => exact.or_else(|| {
            let before = at.checked_sub(1);
            let after = (at < frames.len()).then_some(at);
            let best = match (before, after) {
                (Some(b), Some(a)) => {
                    if target - frames[b].frame_index() <= frames[a].frame_index() - target {
                        Some(b)
                    } else {
                        Some(a)
                    }
                }
                (b, a) => b.or(a),
            };
            best.filter(|p| within(frames[*p].frame_index()))
        }),
    }
}

/// A statistic pooled over a clip's finite frame values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolStat {
    Mean,
    /// libvmaf's: `n / Σ 1/(x+1) − 1`, defined for values above −1.
    #[value(name = "harmonic_mean")]
    HarmonicMean,
    Min,
    Max,
    Median,
    P05,
    P10,
    P90,
    /// Population standard deviation (ddof 0).
    Std,
}

impl PoolStat {
    pub const ALL: &'static [PoolStat] = &[
        PoolStat::Mean,
        PoolStat::HarmonicMean,
        PoolStat::Min,
        PoolStat::Max,
        PoolStat::Median,
        PoolStat::P05,
        PoolStat::P10,
        PoolStat::P90,
        PoolStat::Std,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PoolStat::Mean => "mean",
            PoolStat::HarmonicMean => "harmonic_mean",
            PoolStat::Min => "min",
            PoolStat::Max => "max",
            PoolStat::Median => "median",
            PoolStat::P05 => "p05",
            PoolStat::P10 => "p10",
            PoolStat::P90 => "p90",
            PoolStat::Std => "std",
        }
    }

    /// The statistic of `sorted` (ascending, finite); `None` when empty or
    /// undefined (a harmonic mean over a value ≤ −1).
    pub fn of(self, sorted: &[f64]) -> Option<f64> {
        if sorted.is_empty() {
            return None;
        }
        let n = sorted.len() as f64;
        let mean = || sorted.iter().sum::<f64>() / n;
        Some(match self {
            PoolStat::Mean => mean(),
            PoolStat::HarmonicMean => {
                if sorted[0] <= -1.0 {
                    return None;
                }
                n / sorted.iter().map(|x| 1.0 / (x + 1.0)).sum::<f64>() - 1.0
            }
            PoolStat::Min => sorted[0],
            PoolStat::Max => sorted[sorted.len() - 1],
            PoolStat::Median => percentile(sorted, 50.0),
            PoolStat::P05 => percentile(sorted, 5.0),
            PoolStat::P10 => percentile(sorted, 10.0),
            PoolStat::P90 => percentile(sorted, 90.0),
            PoolStat::Std => {
                let m = mean();
                (sorted.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt()
            }
        })
    }
}

impl fmt::Display for PoolStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PoolStat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PoolStat::ALL
            .iter()
            .copied()
            .find(|stat| stat.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = PoolStat::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown pooling '{s}' (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// The `q`-th percentile with linear interpolation between closest ranks
/// (numpy's default `linear` method): rank `q/100 · (n−1)`.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = q / 100.0 * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(indices: &[i64]) -> Vec<(i64, Option<f64>)> {
        indices.iter().map(|i| (*i, Some(*i as f64))).collect()
    }

    #[test]
    fn exact_nearest_previous() {
        let f = frames(&[0, 30, 60]);
        assert_eq!(match_frame(&f, 30, FrameMatch::Exact, None), Some(1));
        assert_eq!(match_frame(&f, 31, FrameMatch::Exact, None), None);
        assert_eq!(match_frame(&f, 44, FrameMatch::Nearest, None), Some(1));
        assert_eq!(
            match_frame(&f, 45, FrameMatch::Nearest, None),
            Some(1),
            "a tie takes the earlier frame"
        );
        assert_eq!(match_frame(&f, 46, FrameMatch::Nearest, None), Some(2));
        assert_eq!(match_frame(&f, 59, FrameMatch::Previous, None), Some(1));
        assert_eq!(match_frame(&f, 99, FrameMatch::Previous, None), Some(2));
        assert_eq!(match_frame(&f, 99, FrameMatch::Previous, Some(30)), None);
        assert_eq!(match_frame(&f, 75, FrameMatch::Nearest, Some(15)), Some(2));
        assert_eq!(match_frame(&f, 75, FrameMatch::Nearest, Some(14)), None);
        assert_eq!(
            match_frame(&frames(&[10]), 3, FrameMatch::Previous, None),
            None
        );
        let none: [(i64, Option<f64>); 0] = [];
        assert_eq!(match_frame(&none, 3, FrameMatch::Nearest, None), None);
    }

    #[test]
    fn pooling_statistics_match_known_values() {
        let values = [1.0, 2.0, 3.0, 4.0, 10.0];
        let of = |stat: PoolStat| stat.of(&values).unwrap();
        assert_eq!(of(PoolStat::Mean), 4.0);
        assert_eq!(of(PoolStat::Min), 1.0);
        assert_eq!(of(PoolStat::Max), 10.0);
        assert_eq!(of(PoolStat::Median), 3.0);
        // numpy.percentile([1, 2, 3, 4, 10], [5, 10, 90]) = 1.2, 1.4, 7.6
        assert!((of(PoolStat::P05) - 1.2).abs() < 1e-12);
        assert!((of(PoolStat::P10) - 1.4).abs() < 1e-12);
        assert!((of(PoolStat::P90) - 7.6).abs() < 1e-12);
        // numpy.std([1, 2, 3, 4, 10]) = 3.1622776601683795
        assert!((of(PoolStat::Std) - 3.1622776601683795).abs() < 1e-12);
        // libvmaf: 5 / (1/2 + 1/3 + 1/4 + 1/5 + 1/11) - 1
        let expected = 5.0 / (0.5 + 1.0 / 3.0 + 0.25 + 0.2 + 1.0 / 11.0) - 1.0;
        assert!((of(PoolStat::HarmonicMean) - expected).abs() < 1e-12);
        assert_eq!(PoolStat::Mean.of(&[]), None);
        assert_eq!(PoolStat::HarmonicMean.of(&[-1.0, 2.0]), None);
    }

    #[test]
    fn names_round_trip() {
        for stat in PoolStat::ALL {
            assert_eq!(stat.name().parse::<PoolStat>().unwrap(), *stat);
        }
        assert!("p50".parse::<PoolStat>().is_err());
        assert_eq!(
            "nearest".parse::<FrameMatch>().unwrap(),
            FrameMatch::Nearest
        );
    }
}
