//! UVQ (google/uvq, read at 811b6b1b): the batch output of
//! `uvq_inference.py list.txt --output F`, when the input is a `.txt` list
//! of video paths (one per line) and `--batch_json_output` is not given.
//!
//! One line per video that scored, `f"{os.path.basename(video_path)},{score}"`
//! joined with `\n`: no header, the basename, and the score as Python's
//! `repr(float)`. Videos that fail are left out (the error goes to stdout).
//! *Real* (UVQ README):
//!
//! ```text
//! Gaming_1080P-0ce6_orig.mp4,3.880362033843994
//! ```
//!
//! The score is `uvq1p5_score` (UVQ 1.5, the default) or
//! `compression_content_distortion` (`--model_version 1.0`): the file does
//! not say which, so record it with `--scorer-version`. MOS-like, ~1–5
//! (YouTube-UGC), higher is better, not clamped. The key field is
//! `basename`; the name is written unquoted, so the line is split at its
//! last comma. The format names its scorer, so the file implies `uvq`.
//!
//! Detection: these lines look exactly like MANIQA's `output.txt` and like
//! a pyiqa file whose line ends were converted, and the output file name
//! is the user's, so UVQ is only ever a candidate: `formats::settle`
//! chooses it for a file labelled `uvq=`, and without a label the file is
//! refused with the list of `--format` names: pass `--format uvq-txt`.

use std::io::BufRead;

use crate::ingest::text_rows::{head_lines, plain_name_score_lines, read_name_score_lines};
use crate::ingest::{ReadOptions, RecordSink, ScoreReader};

/// Reader for UVQ's batch `basename,score` output.
pub struct UvqTxtReader;

impl ScoreReader for UvqTxtReader {
    const NAME: &'static str = "uvq-txt";
    const EXTENSIONS: &'static [&'static str] = &["txt", "csv"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        plain_name_score_lines(&head_lines(head))
            .then(|| "`basename,score` lines with LF ends (UVQ batch output)".to_string())
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        _options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        read_name_score_lines(input, sink, "basename", Some("uvq"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::RawScore;

    /// The real line of the UVQ README (scorer-formats.md §6) and a second
    /// one in the same layout.
    const BATCH: &[u8] =
        b"Gaming_1080P-0ce6_orig.mp4,3.880362033843994\nVlog_720P-1b2c.mp4,2.7153213024139404\n";

    #[test]
    fn reads_basename_score_lines() {
        let records = read_all::<UvqTxtReader>(BATCH).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            (
                records[0].line,
                records[0].key_field.as_ref(),
                records[0].raw_key.as_str()
            ),
            (1, "basename", "Gaming_1080P-0ce6_orig.mp4")
        );
        assert_eq!(records[0].value, RawScore::Number(3.880362033843994));
        assert_eq!(records[1].value, RawScore::Number(2.7153213024139404));
        assert_eq!(records[0].scorer_hint.as_deref(), Some("uvq"));
        assert!(records[0].frames.is_empty() && records[0].components.is_empty());
    }

    #[test]
    fn malformed_lines_name_their_line() {
        assert_eq!(
            error_of::<UvqTxtReader>(b"a.mp4,3.1\nError processing b.mp4: boom\n"),
            (2, "expected `basename,score`, found no comma".to_string())
        );
        assert_eq!(
            error_of::<UvqTxtReader>(b"a.mp4,\n"),
            (1, "score is not a number: \"\"".to_string())
        );
        assert_eq!(error_of::<UvqTxtReader>(b""), (1, "empty file".to_string()));
    }

    #[test]
    fn detection_is_a_candidate_for_plain_lines() {
        let text = std::str::from_utf8(BATCH).unwrap();
        assert!(UvqTxtReader::detect(text, "txt").is_some());
        assert!(UvqTxtReader::detect(text, "csv").is_some());
        assert_eq!(UvqTxtReader::detect("a.mp4,3.1\r\n", "txt"), None);
        assert_eq!(UvqTxtReader::detect("a.mp4\t3.1\n", "txt"), None);
    }
}
