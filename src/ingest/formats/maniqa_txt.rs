//! MANIQA (IIGROUP/MANIQA, read at f573d862): the `output.txt` its
//! `inference.py` writes under `valid_path` (default
//! `./output/valid/inference_valid/output.txt`), and the sorted copy its
//! `sort_file` writes to `./output.txt`.
//!
//! One line per image, `f.write(name + ',' + str(score) + '\n')`: no
//! header, `\n` ends, the basename from `os.listdir`, and the score as
//! `str(np.float32)` (short digits, `nan` when the model diverged):
//!
//! ```text
//! A0001.bmp,0.6401
//! ```
//!
//! The key field is `name`, which `--key-normalize auto` treats as a path
//! (a basename stays as it is). The name is written unquoted, so the line
//! is split at its last comma. The score is ~0–1, higher is better. The
//! format names its scorer, so the file implies `maniqa`.
//!
//! Detection: these lines look exactly like UVQ's batch output and like a
//! pyiqa file whose line ends were converted, so a `.txt` file of plain
//! `name,score` lines is only a candidate: `Format::detect` calls it
//! ambiguous, and `formats::settle` chooses when the label names the scorer
//! (every candidate then reads the same rows), else refuses it with the
//! list of `--format` names. The one thing that would tell MANIQA
//! apart, the file name `output.txt`, is not given to `detect`. Files with
//! another extension are never claimed: MANIQA always writes `.txt`.

use std::io::BufRead;

use crate::ingest::text_rows::{head_lines, plain_name_score_lines, read_name_score_lines};
use crate::ingest::{ReadOptions, RecordSink, ScoreReader};

/// Reader for MANIQA's `output.txt`.
pub struct ManiqaTxtReader;

impl ScoreReader for ManiqaTxtReader {
    const NAME: &'static str = "maniqa-txt";
    const EXTENSIONS: &'static [&'static str] = &["txt"];

    fn detect(head: &str, extension: &str) -> Option<String> {
        (extension == "txt" && plain_name_score_lines(&head_lines(head))).then(|| {
            "`name,score` lines with LF ends in a .txt file (MANIQA output.txt)".to_string()
        })
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        _options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        read_name_score_lines(input, sink, "name", Some("maniqa"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::RawScore;

    /// The layout of scorer-formats.md §4d, byte for byte.
    const OUTPUT_TXT: &[u8] = b"A0001.bmp,0.6401\nA0002.bmp,0.51236147\n";

    #[test]
    fn reads_name_score_lines() {
        let records = read_all::<ManiqaTxtReader>(OUTPUT_TXT).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            (
                records[0].line,
                records[0].key_field.as_ref(),
                records[0].raw_key.as_str()
            ),
            (1, "name", "A0001.bmp")
        );
        assert_eq!(records[0].value, RawScore::Number(0.6401));
        assert_eq!(records[1].value, RawScore::Number(0.51236147));
        assert_eq!(records[0].scorer_hint.as_deref(), Some("maniqa"));
    }

    #[test]
    fn a_comma_in_a_name_and_nan() {
        let records = read_all::<ManiqaTxtReader>(b"a,b.bmp,0.5\nc.bmp,nan\n").unwrap();
        assert_eq!(records[0].raw_key, "a,b.bmp");
        assert!(matches!(records[1].value, RawScore::Unusable(_)));
    }

    #[test]
    fn malformed_lines_name_their_line() {
        assert_eq!(
            error_of::<ManiqaTxtReader>(b"a.bmp,0.5\nb.bmp 0.5\n"),
            (2, "expected `name,score`, found no comma".to_string())
        );
        assert_eq!(
            error_of::<ManiqaTxtReader>(b"a.bmp,tensor([0.34])\n"),
            (1, "score is not a number: \"tensor([0.34])\"".to_string())
        );
        assert_eq!(
            error_of::<ManiqaTxtReader>(b",0.5\n"),
            (1, "empty name".to_string())
        );
        assert_eq!(
            error_of::<ManiqaTxtReader>(b"\n\n"),
            (1, "no score rows, only blank lines".to_string())
        );
    }

    #[test]
    fn detection_is_a_candidate_for_plain_lines_in_txt_files() {
        let text = std::str::from_utf8(OUTPUT_TXT).unwrap();
        assert!(ManiqaTxtReader::detect(text, "txt").is_some());
        assert_eq!(ManiqaTxtReader::detect(text, "csv"), None);
        assert_eq!(ManiqaTxtReader::detect("a.bmp,0.5\r\n", "txt"), None);
        assert_eq!(ManiqaTxtReader::detect("name,score\n", "txt"), None);
    }
}
