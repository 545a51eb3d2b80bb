//! `--frame-pattern`: image scorers (pyiqa, MANIQA) run on frames extracted
//! from videos name each score by an image file (`clip_a_000123.png`). A
//! regex with named groups `key` and `frame` turns those names into
//! (clip, frame) rows, and the rows of one clip become one clip score with
//! its frames, pooled to their mean, as if the scorer had written a
//! per-frame payload.

use std::collections::BTreeMap;

use regex::Regex;

use super::{is_ok_status, FrameRecord, RawScore, ReadError, ScoreRecord};

/// A validated `--frame-pattern`.
#[derive(Clone, Debug)]
pub struct FramePattern {
    regex: Regex,
}

impl FramePattern {
    /// Compile `pattern`, which must name the groups `key` and `frame`.
    pub fn new(pattern: &str) -> Result<FramePattern, String> {
        let regex = Regex::new(pattern).map_err(|e| format!("--frame-pattern: {e}"))?;
        for group in ["key", "frame"] {
            if !regex.capture_names().flatten().any(|name| name == group) {
                return Err(format!(
                    "--frame-pattern needs a named group (?P<{group}>…), e.g. (?P<key>.+)_(?P<frame>\\d+)\\.png"
                ));
            }
        }
        Ok(FramePattern { regex })
    }

    /// The clip and frame number a raw key names.
    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    pub fn split<'a>(&self, raw_key: &'a str) -> Result<(&'a str, i64), String> {
        let captures = self.regex.captures(raw_key).ok_or_else(|| {
            format!(
                "key '{raw_key}' does not match --frame-pattern {}",
                self.regex
            )
        })?;
        let clip = captures.name("key").map_or("", |m| m.as_str());
        let frame = captures.name("frame").map_or("", |m| m.as_str());
        let frame = frame
            .parse::<i64>()
            .map_err(|_| format!("key '{raw_key}': frame '{frame}' is not a whole number"))?;
        if clip.is_empty() {
            return Err(format!(
                "key '{raw_key}': --frame-pattern captured an empty clip key"
            ));
        }
        Ok((clip, frame))
    }
}

/// One frame row, remembered until its clip is complete.
struct FrameRow {
    frame: i64,
    value: Option<f64>,
    runtime_ms: Option<f64>,
    line: u64,
}

/// Rows of a file grouped by (scorer, clip).
#[derive(Default)]
pub struct FrameGroups {
    groups: BTreeMap<(String, String), (ScoreRecord, Vec<FrameRow>)>,
}

impl FrameGroups {
    /// Add the row `record` as frame `frame` (already 0-based) of `clip`,
    /// for the scorer named `scorer`.
    pub fn add(&mut self, scorer: &str, clip: &str, frame: i64, record: ScoreRecord) {
        let value = match (&record.value, record.reported_status.as_deref()) {
            (RawScore::Number(v), None) => Some(*v),
            (RawScore::Number(v), Some(status)) if is_ok_status(status) => Some(*v),
            _ => None,
        };
        let row = FrameRow {
            frame,
            value,
            runtime_ms: record.runtime_ms,
            line: record.line,
        };
        self.groups
            .entry((scorer.to_string(), clip.to_string()))
            .or_insert_with(|| {
                let mut first = record;
                first.raw_key = clip.to_string();
                first.scorer = Some(scorer.to_string());
                (first, Vec::new())
            })
            .1
            .push(row);
    }

    /// One clip record per group, frames sorted, pooled to the mean of the
    /// usable ones. A frame given twice for one clip is refused with both lines.
    pub fn into_records(self) -> Result<Vec<ScoreRecord>, ReadError> {
        let mut records = Vec::with_capacity(self.groups.len());
        for ((_, clip), (mut record, mut rows)) in self.groups {
            rows.sort_by_key(|row| (row.frame, row.line));
            if let Some(pair) = rows.windows(2).find(|pair| pair[0].frame == pair[1].frame) {
                return Err(ReadError::at(
                    pair[1].line,
                    format!(
                        "clip '{clip}' frame {} appears twice: lines {} and {}",
                        pair[0].frame, pair[0].line, pair[1].line
                    ),
                ));
            }
            let usable: Vec<f64> = rows.iter().filter_map(|row| row.value).collect();
            record.line = rows.iter().map(|row| row.line).min().unwrap_or(record.line);
            record.reported_status = None;
            record.pooled_frames = usable.len() as u32;
            record.value = if usable.is_empty() {
                RawScore::Unusable(format!("all {} frames have unusable scores", rows.len()))
            } else {
                RawScore::Number(usable.iter().sum::<f64>() / usable.len() as f64)
            };
            record.note = (usable.len() < rows.len()).then(|| {
                format!(
                    "{} of {} frames have unusable scores and were left out of the mean",
                    rows.len() - usable.len(),
                    rows.len()
                )
            });
            let runtimes: Vec<f64> = rows.iter().filter_map(|row| row.runtime_ms).collect();
            record.runtime_ms = (!runtimes.is_empty()).then(|| runtimes.iter().sum());
            record.frames = rows
                .into_iter()
                .map(|row| FrameRecord {
                    frame_index: row.frame,
                    value: row.value,
                    runtime_ms: row.runtime_ms,
                })
                .collect();
            records.push(record);
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, line: u64, value: RawScore) -> ScoreRecord {
        ScoreRecord {
            line,
            key_field: "basename".into(),
            raw_key: key.into(),
            scorer: None,
            scorer_hint: None,
            metric: None,
            value,
            reported_status: None,
            runtime_ms: None,
            frames: Vec::new(),
            pooled_frames: 0,
            note: None,
            components: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn pattern_needs_both_groups_and_splits_names() {
        assert!(FramePattern::new(r"(?P<key>.+)_\d+").is_err());
        assert!(FramePattern::new(r"(?P<key>.+").is_err());
        let pattern = FramePattern::new(r"(?P<key>.+)_(?P<frame>\d+)\.png").unwrap();
        assert_eq!(pattern.split("clip_a_000123.png").unwrap(), ("clip_a", 123));
        assert!(pattern
            .split("clip_a.png")
            .unwrap_err()
            .contains("does not match"));
    }

    #[test]
    fn groups_pool_per_clip_and_refuse_repeated_frames() {
        let mut groups = FrameGroups::default();
        groups.add("musiq", "b", 1, row("b_1.png", 1, RawScore::Number(4.0)));
        groups.add("musiq", "a", 2, row("a_2.png", 2, RawScore::Number(3.0)));
        groups.add("musiq", "a", 0, row("a_0.png", 3, RawScore::Number(1.0)));
        groups.add(
            "musiq",
            "a",
            1,
            row("a_1.png", 4, RawScore::Unusable("nan".into())),
        );
        let records = groups.into_records().unwrap();
        assert_eq!(records.len(), 2);
        let a = &records[0];
        assert_eq!((a.raw_key.as_str(), a.line, a.pooled_frames), ("a", 2, 2));
        assert_eq!(a.value, RawScore::Number(2.0));
        assert_eq!(
            a.frames.iter().map(|f| f.frame_index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(a.frames[1].value, None);

        let mut twice = FrameGroups::default();
        twice.add("m", "a", 7, row("a_7.png", 3, RawScore::Number(1.0)));
        twice.add("m", "a", 7, row("a_07.png", 9, RawScore::Number(2.0)));
        match twice.into_records() {
            Err(ReadError::Malformed { line, message }) => {
                assert_eq!(line, 9);
                assert_eq!(message, "clip 'a' frame 7 appears twice: lines 3 and 9");
            }
            _ => panic!("a repeated frame must be refused"),
        }
    }
}
