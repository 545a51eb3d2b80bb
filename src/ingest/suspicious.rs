//! Checks on the values a file gave one scorer, run after the file is read.
//!
//! Scorers fail quietly: a wrong checkpoint gives every clip the same score,
//! a script bug swaps columns, a model run on the wrong scale writes 0–1
//! where 0–100 was expected. None of that makes a row malformed, so each
//! file's values are summarised as they stream in (exact count, mean,
//! spread and bounds, plus a deterministic sample for the share checks)
//! and judged against the scorer's scale.

use serde::Serialize;

use crate::scorer::Scale;

/// Values kept for the share checks; the rest of a file is summarised exactly.
const SAMPLE_SIZE: usize = 100_000;
/// Fewer values than this say too little to judge.
const MIN_VALUES: u64 = 10;

/// One finding about a file's values for one scorer.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Warning {
    pub scorer: String,
    /// Short name of the check: `identical`, `nearly_identical`, `at_bounds`,
    /// `off_scale`, `narrow`; `outside_scale` (most values outside the
    /// scale, or any kept outside it) and `scale_unknown` (a scorer whose
    /// scale depends on the run, taken without one) from the pipeline.
    pub check: String,
    pub message: String,
}

/// A streaming summary of one scorer's ok values in one file.
#[derive(Clone, Debug)]
pub struct ValueSummary {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    sample: Vec<f64>,
    rng: u64,
}

impl Default for ValueSummary {
    fn default() -> Self {
        ValueSummary {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sample: Vec::new(),
            // Fixed seed: the same file always gives the same warnings.
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl ValueSummary {
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.sample.len() < SAMPLE_SIZE {
            self.sample.push(value);
        } else {
            // Reservoir sampling, so the sample stands for the whole file.
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let slot = (self.rng % self.count) as usize;
            if slot < SAMPLE_SIZE {
                self.sample[slot] = value;
            }
        }
    }

    fn std(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            (self.m2 / (self.count - 1) as f64).sqrt()
        }
    }

    /// Judge the values against the scorer's `scale` (hard or typical).
    pub fn warnings(&self, scorer: &str, scale: Option<Scale>) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if self.count < MIN_VALUES {
            return warnings;
        }
        let warn = |check: &str, message: String| Warning {
            scorer: scorer.to_string(),
            check: check.to_string(),
            message,
        };
        let n = self.count;
        if self.std() == 0.0 || self.min == self.max {
            warnings.push(warn(
                "identical",
                format!("all {n} scores are identical ({}): zero spread", self.min),
            ));
            return warnings;
        }
        let mut sorted = self.sample.clone();
        sorted.sort_by(f64::total_cmp);
        let sampled = sorted.len() as f64;
        let (mode, mode_count) = mode(&sorted);
        let mode_share = mode_count as f64 / sampled;
        if mode_share >= 0.9 {
            warnings.push(warn(
                "nearly_identical",
                format!(
                    "{:.1}% of {n} scores are the same value ({mode})",
                    100.0 * mode_share
                ),
            ));
        }
        let Some(scale) = scale else {
            return warnings;
        };
        let width = scale.max - scale.min;
        let at_bounds = sorted
            .iter()
            .filter(|v| **v == scale.min || **v == scale.max)
            .count() as f64
            / sampled;
        if at_bounds >= 0.5 {
            warnings.push(warn(
                "at_bounds",
                format!(
                    "{:.1}% of {n} scores sit exactly at the scale bounds {scale}",
                    100.0 * at_bounds
                ),
            ));
        }
        let median = sorted[sorted.len() / 2];
        if median < scale.min - width || median > scale.max + width {
            warnings.push(warn(
                "off_scale",
                format!("the median score {median} is far outside the scale {scale}"),
            ));
        } else if width > 0.0 && (self.max - self.min) < 0.01 * width {
            warnings.push(warn(
                "narrow",
                format!(
                    "{n} scores span only {}..{} of the scale {scale} (another scale, or a constant model?)",
                    self.min, self.max
                ),
            ));
        }
        warnings
    }
}

/// Scales scorers commonly write, narrowest first: what a file whose
/// values leave its scorer's scale was probably written on.
const USUAL_SCALES: &[Scale] = &[
    Scale { min: 0.0, max: 1.0 },
    Scale { min: 1.0, max: 5.0 },
    Scale { min: 0.0, max: 5.0 },
    Scale {
        min: 1.0,
        max: 10.0,
    },
    Scale {
        min: 0.0,
        max: 10.0,
    },
    Scale {
        min: 0.0,
        max: 100.0,
    },
];

/// How many of a file's values for one scorer fall outside the scorer's
/// scale (hard or typical), counted as the rows are judged: a file on
/// another scale (fast-vqa written 0–100 instead of 0–1) is not a few bad
/// rows but one mistake, said once, with the scale it looks like.
#[derive(Clone, Debug)]
pub struct OutsideScale {
    /// Values judged against the scale.
    pub judged: u64,
    pub outside: u64,
    /// The first value outside, and its line.
    pub first: Option<(u64, f64)>,
    min: f64,
    max: f64,
}

impl Default for OutsideScale {
    fn default() -> Self {
        OutsideScale {
            judged: 0,
            outside: 0,
            first: None,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl OutsideScale {
    pub fn add(&mut self, value: f64, scale: Scale, line: u64) {
        self.judged += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if !scale.contains(value) {
            self.outside += 1;
            self.first.get_or_insert((line, value));
        }
    }

    /// Whether most of the values are outside: the file is on another
    /// scale (a file of fewer than ten values says too little for that).
    pub fn is_most(&self) -> bool {
        self.judged >= MIN_VALUES && self.outside * 2 > self.judged
    }

    /// The narrowest usual scale, other than `scale`, holding every value.
    pub fn looks_like(&self, scale: Scale) -> Option<Scale> {
        USUAL_SCALES
            .iter()
            .copied()
            .find(|usual| *usual != scale && usual.contains(self.min) && usual.contains(self.max))
    }

    /// `148525 of 150000 scores are outside fast-vqa's 0:1 — the file looks
    /// like 0:100: <fix>`; `fix` is given the scale to pass (`MIN:MAX` when
    /// no usual scale holds the values).
    pub fn most_message(&self, scorer: &str, scale: Scale, fix: impl Fn(&str) -> String) -> String {
        let head = format!(
            "{} of {} scores are outside {scorer}'s {scale}",
            self.outside, self.judged
        );
        match self.looks_like(scale) {
            Some(guess) => format!(
                "{head} — the file looks like {guess}: {}",
                fix(&guess.to_string())
            ),
            None => format!(
                "{head} — its values span {}..{}: {}",
                self.min,
                self.max,
                fix("MIN:MAX")
            ),
        }
    }
}

/// The most frequent value of a sorted slice and its count.
fn mode(sorted: &[f64]) -> (f64, usize) {
    let mut best = (sorted[0], 0);
    let mut run = (sorted[0], 0);
    for value in sorted {
        if *value == run.0 {
            run.1 += 1;
        } else {
            run = (*value, 1);
        }
        if run.1 > best.1 {
            best = run;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(values: impl IntoIterator<Item = f64>) -> ValueSummary {
        let mut summary = ValueSummary::default();
        values.into_iter().for_each(|v| summary.add(v));
        summary
    }

    fn checks(summary: &ValueSummary, scale: Option<Scale>) -> Vec<String> {
        summary
            .warnings("dover", scale)
            .into_iter()
            .map(|w| w.check)
            .collect()
    }

    const PERCENT: Scale = Scale {
        min: 0.0,
        max: 100.0,
    };

    #[test]
    fn healthy_values_raise_nothing() {
        let values = summary((0..200).map(|i| 20.0 + (i as f64 * 0.37) % 60.0));
        assert!(checks(&values, Some(PERCENT)).is_empty());
    }

    #[test]
    fn identical_and_nearly_identical() {
        assert_eq!(checks(&summary([51.23; 40]), Some(PERCENT)), ["identical"]);
        let mostly = summary((0..100).map(|i| if i < 95 { 51.23 } else { i as f64 }));
        assert_eq!(checks(&mostly, None), ["nearly_identical"]);
    }

    #[test]
    fn bounds_off_scale_and_narrow() {
        let clipped = summary((0..100).map(|i| if i % 3 == 0 { 50.0 } else { 100.0 }));
        assert_eq!(checks(&clipped, Some(PERCENT)), ["at_bounds"]);
        let unit = summary((0..100).map(|i| i as f64 / 100.0 * 0.9));
        assert_eq!(checks(&unit, Some(PERCENT)), ["narrow"]);
        let far = summary((0..100).map(|i| 500.0 + i as f64));
        assert_eq!(checks(&far, Some(PERCENT)), ["off_scale"]);
    }

    #[test]
    fn a_file_on_another_scale_is_named() {
        let unit = Scale { min: 0.0, max: 1.0 };
        let mut outside = OutsideScale::default();
        for i in 0..100 {
            outside.add(0.5 + i as f64 * 0.9, unit, i + 1);
        }
        assert!(outside.is_most());
        assert_eq!(outside.first, Some((2, 1.4)));
        assert_eq!(
            outside.most_message("fast-vqa", unit, |s| format!("pass --scale {s}")),
            "99 of 100 scores are outside fast-vqa's 0:1 — the file looks like 0:100: pass --scale 0:100"
        );
        let mut mos = OutsideScale::default();
        [1.2, 4.9, 3.3].iter().for_each(|v| mos.add(*v, unit, 1));
        assert_eq!(mos.looks_like(unit), Some(Scale { min: 1.0, max: 5.0 }));
        let mut wide = OutsideScale::default();
        [-3.0, 500.0].iter().for_each(|v| wide.add(*v, unit, 1));
        assert!(wide
            .most_message("x", unit, |s| format!("pass --scale {s}"))
            .ends_with("its values span -3..500: pass --scale MIN:MAX"));
    }

    #[test]
    fn too_few_values_say_nothing() {
        assert!(checks(&summary([1.0; 5]), Some(PERCENT)).is_empty());
    }

    #[test]
    fn large_files_are_sampled_deterministically() {
        let values = || summary((0..300_000).map(|i| (i % 997) as f64 / 10.0));
        assert_eq!(values().sample, values().sample);
        assert!(checks(&values(), Some(PERCENT)).is_empty());
    }
}
