//! libvmaf's CSV log (`vmaf --csv -o log.csv`, ffmpeg
//! `libvmaf=log_fmt=csv:log_path=log.csv`): one clip, one row per compared
//! frame.
//!
//! Layout, from `vmaf_write_output_csv` in Netflix/vmaf
//! `libvmaf/src/output.c`:
//! ```text
//! Frame,integer_adm2,integer_motion2,integer_vif_scale0,psnr_y,vmaf,
//! 0,0.962084,0.000000,0.505712,34.760779,83.856285,
//! ```
//! What becomes of it is described in [`super::libvmaf`]; this file only
//! reads the layout. Quirks handled here:
//! - Header and rows both end with a **trailing comma** (every name and value
//!   is printed as `"%s,"`). The empty last field is not a metric.
//! - The first column is `frameNum`, 0-based; `--subsample N` leaves gaps.
//! - Values are `%.6f`, so a NaN is printed by the C library: `nan` or
//!   `-nan` (glibc), `-nan(ind)` (MSVC); infinities `inf`/`-inf`. Those
//!   are unusable frames.
//! - libvmaf opens the log with `fopen(path, "w")`, which writes CRLF on
//!   Windows: a CR before the newline is dropped.
//! - A value libvmaf did not compute for a frame is left out of the row, not
//!   left empty, so such a row has fewer values than the header has names
//!   and its columns cannot be matched: it is refused (the JSON and XML logs
//!   name every value and have no such problem).
//! - There is no pooled mean in this layout, so nothing to cross-check.
//!
//! Read line by line; only the model metric's frames are kept in memory.

use std::io::BufRead;

use super::{printf_number, ClipFrames};
use crate::ingest::text_rows::Lines;
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for libvmaf CSV logs.
pub struct LibvmafCsvReader;

/// How the header starts.
const HEADER_START: &str = "Frame,";

impl ScoreReader for LibvmafCsvReader {
    const NAME: &'static str = "libvmaf-csv";
    const EXTENSIONS: &'static [&'static str] = &["csv"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let first = head.lines().next()?.trim_end_matches('\r');
        (first.starts_with(HEADER_START) && first.ends_with(',')).then(|| {
            "a libvmaf CSV header (`Frame,` and metric names, with a trailing comma)".to_string()
        })
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut lines = Lines::new(input);
        let mut names: Option<Vec<String>> = None;
        let mut clip = ClipFrames::new(options);
        while let Some((line, text)) = lines.next_row()? {
            let fields = without_trailing_comma(text);
            let Some(names) = &names else {
                names = Some(header(&fields).map_err(|message| ReadError::at(line, message))?);
                continue;
            };
            let (frame_num, values) = row(&fields, names).map_err(|m| ReadError::at(line, m))?;
            clip.add_frame(
                line,
                frame_num,
                names.iter().map(String::as_str).zip(values),
            )?;
        }
        if names.is_none() {
            return Err(ReadError::at(1, "empty file").into());
        }
        clip.finish(None, 1, options, sink)
    }
}

/// The comma-separated fields of a line, without the empty one the trailing
/// comma leaves (tolerated when absent).
fn without_trailing_comma(text: &str) -> Vec<&str> {
    let text = text.strip_suffix(',').unwrap_or(text);
    text.split(',').collect()
}

/// The metric names of the header `Frame,<name>,…,`.
fn header(fields: &[&str]) -> Result<Vec<String>, String> {
    if fields.first().map(|f| f.trim()) != Some("Frame") {
        return Err(format!(
            "expected libvmaf's CSV header `{HEADER_START}<metric>,…,`, got `{}`",
            fields.join(",")
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(fields.len() - 1);
    for (column, name) in fields.iter().enumerate().skip(1) {
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("column {} of the header has no name", column + 1));
        }
        if names.iter().any(|seen| seen == name) {
            return Err(format!("metric '{name}' appears twice in the header"));
        }
        names.push(name.to_string());
    }
    if names.is_empty() {
        return Err("the header names no metric".to_string());
    }
    Ok(names)
}

/// One row: its frame number and a value per header name.
fn row(fields: &[&str], names: &[String]) -> Result<(i64, Vec<Option<f64>>), String> {
    let frame = fields[0].trim();
    let frame_num = frame
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("frame number must be a non-negative integer, got '{frame}'"))?;
    let values = &fields[1..];
    if values.len() != names.len() {
        return Err(format!(
            "frame {frame_num} has {} values but the header names {} metrics \
             (libvmaf leaves out values it did not compute, so the columns cannot be matched; \
             use its JSON or XML log)",
            values.len(),
            names.len()
        ));
    }
    values
        .iter()
        .zip(names)
        .map(|(text, name)| {
            printf_number(text)
                .ok_or_else(|| format!("{name} of frame {frame_num} is not a number: '{text}'"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|values| (frame_num, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::RawScore;

    /// The reference's frame (scorer-formats.md §7) as `output.c` writes it.
    const REFERENCE_LAYOUT: &[u8] = b"Frame,integer_adm2,integer_motion2,integer_vif_scale0,psnr_y,vmaf,\n0,0.962084,0.000000,0.505712,34.760779,83.856285,\n";

    #[test]
    fn detects_the_header_with_its_trailing_comma() {
        let head = std::str::from_utf8(REFERENCE_LAYOUT).unwrap();
        assert!(LibvmafCsvReader::detect(head, "csv").is_some());
        assert!(LibvmafCsvReader::detect("Frame,vmaf,\r\n0,1.000000,\r\n", "txt").is_some());
        assert!(LibvmafCsvReader::detect("Frame,vmaf\n0,1\n", "csv").is_none());
        assert!(LibvmafCsvReader::detect("n,adm2,vmaf\n", "csv").is_none());
    }

    #[test]
    fn reads_the_reference_layout() {
        let records = read_all::<LibvmafCsvReader>(REFERENCE_LAYOUT).unwrap();
        let record = &records[0];
        assert_eq!(record.value, RawScore::Number(83.856285));
        assert_eq!(record.pooled_frames, 1);
        assert_eq!(record.frames[0].frame_index, 0);
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
    }

    #[test]
    fn nan_crlf_and_subsampled_frames() {
        let bytes = b"Frame,psnr_y,vmaf,\r\n0,34.760779,83.856285,\r\n2,-nan,80.471325,\r\n4,nan,-nan(ind),\r\n";
        let record = &read_all::<LibvmafCsvReader>(bytes).unwrap()[0];
        assert_eq!(
            record
                .frames
                .iter()
                .map(|f| (f.frame_index, f.value))
                .collect::<Vec<_>>(),
            [(0, Some(83.856285)), (2, Some(80.471325)), (4, None)]
        );
        assert_eq!(record.pooled_frames, 2);
        assert_eq!(record.components, vec![("psnr_y".into(), Some(34.760779))]);
    }

    #[test]
    fn rows_that_cannot_be_matched_are_refused() {
        let (line, message) = error_of::<LibvmafCsvReader>(
            b"Frame,integer_motion2,vmaf,\n0,0.000000,90.000000,\n1,91.000000,\n",
        );
        assert_eq!(line, 3);
        assert!(
            message.starts_with("frame 1 has 1 values but the header names 2 metrics"),
            "{message}"
        );
        assert_eq!(
            error_of::<LibvmafCsvReader>(b"Frame,vmaf,\n0,high,\n"),
            (2, "vmaf of frame 0 is not a number: 'high'".to_string())
        );
        assert_eq!(
            error_of::<LibvmafCsvReader>(b"Frame,vmaf,\n-1,1.0,\n").1,
            "frame number must be a non-negative integer, got '-1'"
        );
        assert_eq!(
            error_of::<LibvmafCsvReader>(b"Frame,vmaf,\n0,1.0,\n0,2.0,\n").1,
            "frame 0 appears twice (also on line 2)"
        );
        assert!(error_of::<LibvmafCsvReader>(b"clip,vmaf\n")
            .1
            .starts_with("expected libvmaf's CSV header"));
        assert_eq!(
            error_of::<LibvmafCsvReader>(b"Frame,vmaf,,\n").1,
            "column 3 of the header has no name"
        );
        assert_eq!(
            error_of::<LibvmafCsvReader>(b"Frame,vmaf,\n"),
            (1, "the log has no frames".to_string())
        );
        assert_eq!(
            error_of::<LibvmafCsvReader>(b""),
            (1, "empty file".to_string())
        );
    }
}
