//! pyiqa (chaofengc/IQA-PyTorch): the `--save_file` of the repository's
//! `inference_iqa.py`, for every pyiqa metric (MUSIQ, CLIP-IQA, MANIQA,
//! NIQE, BRISQUE, Q-Align …).
//!
//! Since 2070591 (2023-10-09, v0.1.8) the script writes rows with
//! `csv.writer` on a file opened without `newline=''`: no header, the
//! image's basename, the score as Python's `repr(float)`, and `\r\n` line
//! ends (`\r\r\n` on Windows):
//!
//! ```text
//! I03.bmp,12.478515625
//! I04.bmp,75.77722930908203
//! ```
//!
//! A name holding a comma is quoted by `csv.writer` (`"a,b.png",1.5`).
//!
//! Up to v0.1.7 it wrote `f"{img_name}\t{score}\n"` instead: tab-separated,
//! `\n` ends. Between 9dc09cf (2023-07-10) and 2070591 that file also ended
//! with the mean the script prints,
//! `Average musiq score of ./images with 2 images is: 44.127872467041016`;
//! that line is skipped, and the reader leaves a note saying so. The
//! separator is chosen once per file, from its first row, so a name that
//! holds a comma (tab-separated file) or a tab (CSV) stays whole.
//!
//! The key field is `basename`. pyiqa works on images, so for videos the
//! names are frames or thumbnails (`17734.png`); `--key-normalize stem`
//! at ingest joins them to clips by stem.
//!
//! The file does not name the metric (the user typed it on the command
//! line), so it implies no scorer: name it with `LABEL=PATH`
//! (`musiq=scores.csv`, `niqe=…`). Scales differ by metric: MUSIQ ~0–100,
//! CLIP-IQA 0–1, MANIQA ~0–1, NIQE ~0–100 and BRISQUE ~0–150 (lower is
//! better for both, BRISQUE can go below 0), Q-Align 1–5.
//!
//! Detection: CRLF line ends, tabs, or the `Average … is:` line tell pyiqa
//! from the other headerless `name,score` files; a plain `\n` file
//! (converted by an editor or `dos2unix`) looks exactly like MANIQA's or
//! UVQ's, so pyiqa is then only one of the candidates and `--format`
//! decides. The other way round, a MANIQA or UVQ file written on Windows
//! has `\r\n` ends and is taken for pyiqa: these name no scorer either, so
//! the ingest then asks for a label instead of filing it under a wrong one.

use std::borrow::Cow;
use std::io::BufRead;

use crate::ingest::text_rows::{
    checked_key, head_lines, is_number, score_record, score_value, split_csv_line, LineEnd, Lines,
};
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for pyiqa's `inference_iqa.py --save_file` output.
pub struct PyiqaCsvReader;

const KEY_FIELD: &str = "basename";

/// How the rows of a file are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Separator {
    /// `csv.writer` (v0.1.8 on).
    Comma,
    /// `f"{img_name}\t{score}\n"` (up to v0.1.7).
    Tab,
}

impl Separator {
    /// The separator of a file whose first row is `text`.
    fn of_first_row(text: &str) -> Separator {
        if text.contains('\t') {
            Separator::Tab
        } else {
            Separator::Comma
        }
    }

    /// The name and score of a row.
    fn split(self, text: &str) -> Result<(Cow<'_, str>, &str), String> {
        match self {
            Separator::Tab => text
                .rsplit_once('\t')
                .map(|(name, score)| (Cow::Borrowed(name), score))
                .ok_or_else(|| "expected `basename<TAB>score`, found no tab".to_string()),
            Separator::Comma => {
                let mut fields = split_csv_line(text, ',')?;
                if fields.len() != 2 {
                    return Err(format!(
                        "expected `basename,score` (csv.writer quotes a name holding a comma), \
                         got {} fields",
                        fields.len()
                    ));
                }
                // A score is never quoted, so it borrows from the line.
                let score = match fields.pop().expect("two fields") {
                    Cow::Borrowed(score) => score,
                    Cow::Owned(_) => return Err("the score is quoted".to_string()),
                };
                Ok((fields.pop().expect("two fields"), score))
            }
        }
    }
}

/// pyiqa's `Average <metric> score of <dir> with N images is: X` line.
fn is_trailer(text: &str) -> bool {
    text.starts_with("Average ") && text.contains(" images is: ")
}

impl ScoreReader for PyiqaCsvReader {
    const NAME: &'static str = "pyiqa-csv";
    const EXTENSIONS: &'static [&'static str] = &["csv", "txt", "tsv"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let lines = head_lines(head);
        let mut rows = lines
            .iter()
            .filter(|line| !is_trailer(line.text))
            .peekable();
        let separator = Separator::of_first_row(rows.peek()?.text);
        let mut crlf = false;
        for row in rows {
            let (name, score) = separator.split(row.text).ok()?;
            if name.trim().is_empty() || !is_number(score) {
                return None;
            }
            crlf |= row.end == LineEnd::Crlf;
        }
        let trailer = lines.iter().any(|line| is_trailer(line.text));
        let reason = match (separator, crlf, trailer) {
            (Separator::Tab, _, false) => {
                "tab-separated `name<TAB>score` rows (pyiqa inference_iqa.py up to 0.1.7)"
            }
            (Separator::Tab, _, true) => {
                "tab-separated `name<TAB>score` rows and the `Average … is:` line \
                 (pyiqa inference_iqa.py 0.1.7)"
            }
            (Separator::Comma, true, _) => {
                "`name,score` rows with CRLF line ends (pyiqa inference_iqa.py --save_file)"
            }
            (Separator::Comma, false, true) => "`name,score` rows and pyiqa's `Average … is:` line",
            (Separator::Comma, false, false) => "headerless `name,score` rows",
        };
        Some(reason.to_string())
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        _options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut lines = Lines::new(input);
        let mut separator = None;
        let mut rows = 0u64;
        while let Some((line, text)) = lines.next_row()? {
            let at = |message: String| ReadError::at(line, message);
            if is_trailer(text) {
                sink.note(format!(
                    "skipped line {line}, pyiqa's trailer `{text}`: the mean of the file, \
                     not a clip score"
                ));
                continue;
            }
            let separator = *separator.get_or_insert_with(|| Separator::of_first_row(text));
            let (key, score) = separator.split(text).map_err(at)?;
            let key = checked_key(&key, KEY_FIELD).map_err(at)?;
            let value = score_value("score", score).map_err(at)?;
            let record = score_record(line, KEY_FIELD, key, value, Vec::new(), None);
            rows += 1;
            sink.push(record)?;
        }
        if rows == 0 {
            return Err(lines
                .no_rows("blank lines and pyiqa's `Average` line")
                .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::text_rows::read_with_notes;
    use crate::ingest::RawScore;

    /// Current pyiqa (scorer-formats.md §4a), byte for byte: CRLF, no header.
    const CSV: &[u8] = b"I03.bmp,12.478515625\r\nI04.bmp,75.77722930908203\r\n";

    /// pyiqa 0.1.7 between 9dc09cf and 2070591: tabs and the trailer.
    const TSV_WITH_TRAILER: &[u8] = b"I03.bmp\t12.478515625\n\
I04.bmp\t75.77722930908203\n\
Average musiq score of ./images with 2 images is: 44.127872467041016\n";

    #[test]
    fn reads_crlf_rows_keyed_by_basename() {
        let records = read_all::<PyiqaCsvReader>(CSV).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            (
                records[0].line,
                records[0].key_field.as_ref(),
                records[0].raw_key.as_str()
            ),
            (1, "basename", "I03.bmp")
        );
        assert_eq!(records[0].value, RawScore::Number(12.478515625));
        assert_eq!(records[1].value, RawScore::Number(75.77722930908203));
        assert_eq!(
            records[0].scorer_hint, None,
            "the metric is not in the file"
        );
        assert!(records[0].components.is_empty());
    }

    #[test]
    fn reads_tabs_and_skips_the_trailer_with_a_note() {
        let (records, notes) = read_with_notes::<PyiqaCsvReader>(TSV_WITH_TRAILER);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].raw_key, "I04.bmp");
        assert_eq!(
            notes,
            vec![
                "skipped line 3, pyiqa's trailer `Average musiq score of ./images with 2 \
                  images is: 44.127872467041016`: the mean of the file, not a clip score"
                    .to_string()
            ]
        );
        let plain_tsv = read_all::<PyiqaCsvReader>(b"a, b.png\t0.5\n").unwrap();
        assert_eq!(
            plain_tsv[0].raw_key, "a, b.png",
            "a comma in a tab-separated name"
        );
    }

    #[test]
    fn quoted_names_windows_line_ends_and_nan() {
        let records = read_all::<PyiqaCsvReader>(b"\"a,b.png\",1.5\r\r\nc.png,nan\r\r\n").unwrap();
        assert_eq!(records[0].raw_key, "a,b.png");
        assert_eq!(records[0].value, RawScore::Number(1.5));
        assert_eq!(
            records[1].value,
            RawScore::Unusable("score must be a finite number, got \"nan\"".into())
        );
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let cases: [(&[u8], u64, &str); 6] = [
            (b"a.png,1\r\nb.png,1,2\r\n", 2, "expected `basename,score` (csv.writer quotes a name holding a comma), got 3 fields"),
            (b"a.png\t1\nb.png 2\n", 2, "expected `basename<TAB>score`, found no tab"),
            (b"a.png,good\r\n", 1, "score is not a number: \"good\""),
            (b"a.png,\"1\"\r\n", 1, "the score is quoted"),
            (b",1\r\n", 1, "empty basename"),
            (b"Average musiq score of . with 0 images is: nan\n", 1, "no score rows, only blank lines and pyiqa's `Average` line"),
        ];
        for (bytes, line, message) in cases {
            assert_eq!(
                error_of::<PyiqaCsvReader>(bytes),
                (line, message.to_string())
            );
        }
    }

    #[test]
    fn detection_says_which_pyiqa_signature_it_saw() {
        let detect =
            |bytes: &[u8]| PyiqaCsvReader::detect(std::str::from_utf8(bytes).unwrap(), "csv");
        assert!(detect(CSV).unwrap().contains("CRLF"));
        assert!(detect(TSV_WITH_TRAILER).unwrap().contains("Average"));
        assert!(detect(b"I03.bmp\t12.478515625\n")
            .unwrap()
            .contains("tab-separated"));
        assert_eq!(
            detect(b"A0001.bmp,0.6401\n").as_deref(),
            Some("headerless `name,score` rows"),
            "a candidate, never alone: MANIQA and UVQ write the same"
        );
        for other in [
            &b"name,score\r\n"[..],
            b"a.png,1,2\r\n",
            b"a.png\t1\nb.png,2\n",
            b"{\"clip_id\": \"a\", \"score\": 1}\n",
            b"Average musiq score of . with 2 images is: 1.0\n",
            b"17734.mp4,56.123450, 48.123000,51.230000\n",
        ] {
            assert_eq!(detect(other), None, "{:?}", String::from_utf8_lossy(other));
        }
    }
}
