//! DOVER and DOVER-Mobile: the files `evaluate_a_set_of_videos.py` writes
//! (VQAssessment/DOVER, read at f1ddc962; the layout dates from 01bb3069).
//!
//! The main output (`-out`, default `./dover_predictions/demo.csv`) is a
//! header and one row per video, written with format strings:
//!
//! ```text
//! path, aesthetic score, technical score, overall/final score
//! ./demo/17734.mp4, 56.123450, 48.123000,51.230000
//! ```
//!
//! Quirks, all tolerated:
//! - the spacing is inconsistent: `", "` after the path and after the
//!   aesthetic score, none before the overall score. Fields are trimmed;
//! - the key is the video's path as `os.walk` built it from `-in`
//!   (`./demo/17734.mp4`, or absolute), so the key field is `path` and
//!   `--key-normalize auto` keeps the basename;
//! - the path is written unquoted, so a path holding a comma is split at
//!   the last three commas and keeps its own;
//! - each value is `sigmoid(z) * 100` printed with `:4f` (6 decimals):
//!   0–100, higher is better; `nan` when the model diverged (a `bad` row).
//!
//! Since the same commit, every video is also appended to a hard-coded
//! `./zero_shot_res_sensehdr.txt` in the working directory: no header, the
//! video's basename, and the values with a different spacing again
//! (`17734.mp4,56.123450, 48.123000,51.230000`). This reader reads that side
//! file too (the first line says which of the two it is: the header, or a
//! row), keyed by `basename`. The side file is appended to by every run, so
//! a second run in the same directory repeats its keys, which the registry
//! refuses as duplicates: cut it to one run first.
//!
//! The clip score is the overall (fused) score; `aesthetic` and `technical`
//! are stored as components. The file does not say whether DOVER or
//! DOVER-Mobile (`-o dover-mobile.yml`) wrote it, so it implies no scorer:
//! name it with `LABEL=PATH` or `--scorer`.
//!
//! Version pitfall: before upstream commit 01bb3069 (2023-08-11) the script
//! normalised the aesthetic and technical raw scores with each other's
//! constants, so older CSVs have wrong values in the same layout. The side
//! file only exists from that fix on; for the main CSV the reader leaves a
//! note asking for `--scorer-version`.

use std::io::BufRead;

use crate::ingest::text_rows::{
    checked_key, component_value, head_lines, header_fields, is_number, key_then_fields,
    score_record, score_value, Lines,
};
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for DOVER's set-evaluation CSV and its `zero_shot_res_sensehdr.txt`.
pub struct DoverCsvReader;

/// The header of the main CSV, as the script writes it (fields trimmed).
const HEADER: [&str; 4] = [
    "path",
    "aesthetic score",
    "technical score",
    "overall/final score",
];

const VERSION_NOTE: &str = "DOVER's set evaluator wrote wrong aesthetic/technical/overall values \
before upstream commit 01bb3069 (2023-08-11) in this same layout; record the code that wrote \
this file with --scorer-version";

impl ScoreReader for DoverCsvReader {
    const NAME: &'static str = "dover-csv";
    const EXTENSIONS: &'static [&'static str] = &["csv", "txt"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let lines = head_lines(head);
        let first = lines.first()?;
        if is_header(first.text) {
            return Some(
                "the DOVER header `path, aesthetic score, technical score, overall/final score`"
                    .to_string(),
            );
        }
        lines
            .iter()
            .all(|line| is_side_file_row(line.text))
            .then(|| {
                "DOVER's headerless `name,aesthetic, technical,overall` rows \
                 (zero_shot_res_sensehdr.txt)"
                    .to_string()
            })
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut lines = Lines::new(input);
        // The main CSV keys rows by path, the side file by basename.
        let mut key_field = None;
        let mut rows = 0u64;
        while let Some((line, text)) = lines.next_row()? {
            let at = |message: String| ReadError::at(line, message);
            let key_field = match key_field {
                Some(field) => {
                    if is_header(text) {
                        return Err(at(
                            "a second header line: are two outputs concatenated?".to_string()
                        )
                        .into());
                    }
                    field
                }
                None if is_header(text) => {
                    key_field = Some("path");
                    if !options.scorer_version_given {
                        sink.note(VERSION_NOTE.to_string());
                    }
                    continue;
                }
                None => *key_field.insert("basename"),
            };
            let (key, values) = key_then_fields(text, 3).ok_or_else(|| {
                at(format!(
                    "expected 4 comma-separated fields ({key_field}, aesthetic score, \
                     technical score, overall/final score), got {}",
                    text.split(',').count()
                ))
            })?;
            let key = checked_key(key, key_field).map_err(at)?;
            let aesthetic = component_value("aesthetic score", values[0]).map_err(at)?;
            let technical = component_value("technical score", values[1]).map_err(at)?;
            let overall = score_value("overall/final score", values[2]).map_err(at)?;
            let components = vec![
                ("aesthetic".to_string(), aesthetic),
                ("technical".to_string(), technical),
            ];
            rows += 1;
            sink.push(score_record(
                line, key_field, key, overall, components, None,
            ))?;
        }
        if rows == 0 {
            let what = match key_field {
                Some(_) => "the header (DOVER leaves out videos it cannot decode)",
                None => "blank lines",
            };
            return Err(lines.no_rows(what).into());
        }
        Ok(())
    }
}

fn is_header(line: &str) -> bool {
    header_fields(line) == HEADER
}

/// `17734.mp4,56.123450, 48.123000,51.230000`: the side file's exact
/// spacing (a space before the technical score only) is what tells it from
/// any other four-column file.
fn is_side_file_row(line: &str) -> bool {
    let Some((name, values)) = key_then_fields(line, 3) else {
        return false;
    };
    !name.trim().is_empty()
        && !name.contains(',')
        && is_number(values[0])
        && values[1].strip_prefix(' ').is_some_and(is_number)
        && is_number(values[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::text_rows::read_with_notes;
    use crate::ingest::RawScore;

    /// The layout of the reference (scorer-formats.md §1a), byte for byte.
    const MAIN_CSV: &[u8] = b"path, aesthetic score, technical score, overall/final score\n\
./demo/17734.mp4, 56.123450, 48.123000,51.230000\n\
./demo/1724.mp4, 61.004211, 39.551020,47.100933\n";

    const SIDE_FILE: &[u8] = b"17734.mp4,56.123450, 48.123000,51.230000\n\
1724.mp4,61.004211, 39.551020,47.100933\n";

    fn components(aesthetic: f64, technical: f64) -> Vec<(String, Option<f64>)> {
        vec![
            ("aesthetic".to_string(), Some(aesthetic)),
            ("technical".to_string(), Some(technical)),
        ]
    }

    #[test]
    fn reads_the_main_csv_with_its_odd_spacing() {
        let records = read_all::<DoverCsvReader>(MAIN_CSV).unwrap();
        assert_eq!(records.len(), 2);
        let first = &records[0];
        assert_eq!(
            (first.line, first.key_field.as_ref(), first.raw_key.as_str()),
            (2, "path", "./demo/17734.mp4")
        );
        assert_eq!(first.value, RawScore::Number(51.23));
        assert_eq!(first.components, components(56.12345, 48.123));
        assert_eq!(first.scorer_hint, None, "DOVER and DOVER-Mobile look alike");
        assert_eq!(records[1].value, RawScore::Number(47.100933));
    }

    #[test]
    fn only_the_main_csv_leaves_a_note_about_the_version_pitfall() {
        let (_, notes) = read_with_notes::<DoverCsvReader>(MAIN_CSV);
        assert_eq!(notes, vec![VERSION_NOTE.to_string()]);
        let (side, notes) = read_with_notes::<DoverCsvReader>(SIDE_FILE);
        assert!(
            notes.is_empty(),
            "the side file only exists from the fix on"
        );
        assert_eq!(
            (
                side[0].line,
                side[0].key_field.as_ref(),
                side[0].raw_key.as_str()
            ),
            (1, "basename", "17734.mp4")
        );
        assert_eq!(side[0].value, RawScore::Number(51.23));
        assert_eq!(side[0].components, components(56.12345, 48.123));
    }

    #[test]
    fn crlf_bom_and_commas_in_paths() {
        let records = read_all::<DoverCsvReader>(
            b"\xEF\xBB\xBFpath, aesthetic score, technical score, overall/final score\r\n\
C:\\clips\\a, b.mp4, 1.000000, 2.000000,3.000000\r\n",
        )
        .unwrap();
        assert_eq!(records[0].raw_key, "C:\\clips\\a, b.mp4");
        assert_eq!(records[0].value, RawScore::Number(3.0));
    }

    #[test]
    fn nan_is_a_bad_row_or_a_missing_component() {
        let records = read_all::<DoverCsvReader>(
            b"path, aesthetic score, technical score, overall/final score\n\
./a.mp4, nan, 48.123000,nan\n\
./b.mp4, nan, 48.123000,51.230000\n",
        )
        .unwrap();
        assert_eq!(
            records[0].value,
            RawScore::Unusable("overall/final score must be a finite number, got \"nan\"".into())
        );
        assert_eq!(records[1].value, RawScore::Number(51.23));
        assert_eq!(records[1].components[0], ("aesthetic".to_string(), None));
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let header = "path, aesthetic score, technical score, overall/final score\n";
        let cases = [
            ("./a.mp4, 1.0, 2.0\n", 2, "expected 4 comma-separated fields (path, aesthetic score, technical score, overall/final score), got 3"),
            ("./a.mp4, 1.0, 2.0,high\n", 2, "overall/final score is not a number: \"high\""),
            (", 1.0, 2.0,3.0\n", 2, "empty path"),
            ("./a.mp4, 1.0, 2.0,3.0\n\npath, aesthetic score, technical score, overall/final score\n", 4, "a second header line: are two outputs concatenated?"),
        ];
        for (rows, line, message) in cases {
            let bytes = format!("{header}{rows}");
            assert_eq!(
                error_of::<DoverCsvReader>(bytes.as_bytes()),
                (line, message.to_string()),
                "{rows:?}"
            );
        }
        assert_eq!(
            error_of::<DoverCsvReader>(header.as_bytes()).1,
            "no score rows, only the header (DOVER leaves out videos it cannot decode)"
        );
        assert_eq!(error_of::<DoverCsvReader>(b"").1, "empty file");
    }

    #[test]
    fn detection_needs_the_header_or_the_side_file_spacing() {
        let main = std::str::from_utf8(MAIN_CSV).unwrap();
        assert!(DoverCsvReader::detect(main, "csv")
            .unwrap()
            .contains("DOVER header"));
        let side = std::str::from_utf8(SIDE_FILE).unwrap();
        assert!(DoverCsvReader::detect(side, "txt")
            .unwrap()
            .contains("zero_shot_res_sensehdr"));
        for other in [
            "a.mp4,1.0,2.0,3.0\n",
            "./a.mp4, 1.0, 2.0,3.0\n",
            "a.png,12.5\r\n",
            "path, semantic score, technical score, aesthetic score, overall/final score\n",
            "name,aesthetic, technical,overall\n",
        ] {
            assert_eq!(DoverCsvReader::detect(other, "csv"), None, "{other:?}");
        }
    }
}
