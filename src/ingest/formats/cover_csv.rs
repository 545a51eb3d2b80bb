//! COVER: the CSVs of taco-group/COVER (read at 7373bee6).
//!
//! Two scripts write the same columns with different keys and spellings:
//!
//! `evaluate_a_set_of_videos.py --output F` (default `./demo.csv`) writes a
//! header with spaces and rows without, from format strings, keyed by the
//! video's basename (`name.split("/")[-1]`), values printed with `:4f`
//! (`evaluate_one_video.py` prints the same header and one row to stdout; a
//! capture holding just those two lines reads the same):
//!
//! ```text
//! path, semantic score, technical score, aesthetic score, overall/final score
//! fun_video_3.mp4,-0.111073,-0.917492,-0.869427,-1.897992
//! ```
//!
//! The header says `path` but the rows hold basenames, so the key field is
//! `basename`; a basename holding a comma is split at the last four commas.
//!
//! `evaluate_one_dataset.py` (the built-in labelled sets) writes with
//! `csv.writer` on a file opened with `newline=''`: no spaces, `\r\n` line
//! ends, full float precision, names quoted when they hold a comma, and the
//! key is the video's *stem* (`os.path.splitext(video)[0]`):
//!
//! ```text
//! Video,semantic score,technical score,aesthetic score,overall/final score
//! Gaming_1080P-0ce6_crf_10_ss_00_t_20.0,-0.08621597290039062,…
//! ```
//!
//! The key field is `stem`, which `--key-normalize auto` leaves alone. Do
//! not ingest these with `--key-normalize stem`: a stem with a dot of its
//! own (`…_t_20.0`) would lose it again.
//!
//! Values are raw regression outputs, `overall = semantic + technical +
//! aesthetic`: no sigmoid, no official range, negative values are normal
//! (higher is better in practice). The clip score is the overall score;
//! `semantic`, `technical` and `aesthetic` are stored as components. The
//! layout names its scorer, so the file implies `cover`.

use std::borrow::Cow;
use std::io::BufRead;

use crate::ingest::text_rows::{
    checked_key, component_value, head_lines, header_fields, key_then_fields, score_record,
    score_value, split_csv_line, Lines,
};
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for COVER's set and dataset evaluation CSVs.
pub struct CoverCsvReader;

/// The value columns after the key, as both scripts name them.
const VALUE_COLUMNS: [&str; 4] = [
    "semantic score",
    "technical score",
    "aesthetic score",
    "overall/final score",
];

/// Which script wrote the file, told by the first header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// `evaluate_a_set_of_videos.py`: `path, …`, format strings, basenames.
    SetOfVideos,
    /// `evaluate_one_dataset.py`: `Video,…`, `csv.writer`, stems.
    OneDataset,
}

impl Variant {
    fn of_header(line: &str) -> Option<Variant> {
        let fields = header_fields(line);
        let (first, values) = fields.split_first()?;
        if values != VALUE_COLUMNS {
            return None;
        }
        match first.as_str() {
            "path" => Some(Variant::SetOfVideos),
            "video" => Some(Variant::OneDataset),
            _ => None,
        }
    }

    fn key_field(self) -> &'static str {
        match self {
            Variant::SetOfVideos => "basename",
            Variant::OneDataset => "stem",
        }
    }

    /// The key and the four values of a row.
    fn split(self, text: &str) -> Result<(Cow<'_, str>, Vec<Cow<'_, str>>), String> {
        let fields = match self {
            Variant::SetOfVideos => key_then_fields(text, 4).map(|(key, values)| {
                let values = values.into_iter().map(Cow::Borrowed).collect();
                (Cow::Borrowed(key), values)
            }),
            Variant::OneDataset => {
                let mut fields = split_csv_line(text, ',')?;
                (fields.len() == 5).then(|| {
                    let key = fields.remove(0);
                    (key, fields)
                })
            }
        };
        fields.ok_or_else(|| {
            format!(
                "expected 5 comma-separated fields ({}, semantic, technical, aesthetic, \
                 overall/final score), got {}",
                self.key_field(),
                text.split(',').count()
            )
        })
    }
}

impl ScoreReader for CoverCsvReader {
    const NAME: &'static str = "cover-csv";
    const EXTENSIONS: &'static [&'static str] = &["csv"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let first = *head_lines(head).first()?;
        match Variant::of_header(first.text)? {
            Variant::SetOfVideos => Some(
                "the COVER header `path, semantic score, technical score, aesthetic score, \
                 overall/final score` (evaluate_a_set_of_videos.py)"
                    .to_string(),
            ),
            Variant::OneDataset => Some(
                "the COVER header `Video,semantic score,technical score,aesthetic score,\
                 overall/final score` (evaluate_one_dataset.py)"
                    .to_string(),
            ),
        }
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        _options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut lines = Lines::new(input);
        let Some((first_line, header)) = lines.next_row()? else {
            return Err(lines.no_rows("blank lines").into());
        };
        let variant = Variant::of_header(header).ok_or_else(|| {
            ReadError::at(
                first_line,
                "expected COVER's header `path, semantic score, technical score, aesthetic \
                 score, overall/final score` or `Video,semantic score,…`",
            )
        })?;
        let key_field = variant.key_field();
        let mut rows = 0u64;
        while let Some((line, text)) = lines.next_row()? {
            let at = |message: String| ReadError::at(line, message);
            if Variant::of_header(text).is_some() {
                return Err(
                    at("a second header line: are two outputs concatenated?".to_string()).into(),
                );
            }
            let (key, values) = variant.split(text).map_err(at)?;
            let key = checked_key(&key, key_field).map_err(at)?;
            let mut components = Vec::with_capacity(3);
            for (name, value) in ["semantic", "technical", "aesthetic"].iter().zip(&values) {
                let value = component_value(&format!("{name} score"), value).map_err(at)?;
                components.push((name.to_string(), value));
            }
            let overall = score_value("overall/final score", &values[3]).map_err(at)?;
            let record = score_record(line, key_field, key, overall, components, Some("cover"));
            rows += 1;
            sink.push(record)?;
        }
        if rows == 0 {
            return Err(lines.no_rows("the header").into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::RawScore;

    /// The real output quoted in taco-group/COVER issue #7
    /// (scorer-formats.md §5), byte for byte.
    const SET_CSV: &[u8] =
        b"path, semantic score, technical score, aesthetic score, overall/final score\n\
fun_video_3.mp4,-0.111073,-0.917492,-0.869427,-1.897992\n\
video_1.mp4,-0.086216,-0.131936,0.105127,-0.113025\n";

    /// `csv.writer` output of `evaluate_one_dataset.py`: CRLF, stems, repr floats.
    const DATASET_CSV: &[u8] = b"Video,semantic score,technical score,aesthetic score,overall/final score\r\n\
Gaming_1080P-0ce6_crf_10_ss_00_t_20.0,-0.08621597290039062,0.4513581991195679,0.2206125557422638,0.585754781961441\r\n\
3337642103,0.1,0.2,0.3,0.6000000000000001\r\n";

    fn components(values: [f64; 3]) -> Vec<(String, Option<f64>)> {
        ["semantic", "technical", "aesthetic"]
            .iter()
            .zip(values)
            .map(|(name, value)| (name.to_string(), Some(value)))
            .collect()
    }

    #[test]
    fn reads_the_set_csv_with_negative_values() {
        let records = read_all::<CoverCsvReader>(SET_CSV).unwrap();
        assert_eq!(records.len(), 2);
        let first = &records[0];
        assert_eq!(
            (first.line, first.key_field.as_ref(), first.raw_key.as_str()),
            (2, "basename", "fun_video_3.mp4")
        );
        assert_eq!(first.value, RawScore::Number(-1.897992));
        assert_eq!(
            first.components,
            components([-0.111073, -0.917492, -0.869427])
        );
        assert_eq!(first.scorer_hint.as_deref(), Some("cover"));
    }

    #[test]
    fn reads_the_dataset_csv_keyed_by_stems() {
        let records = read_all::<CoverCsvReader>(DATASET_CSV).unwrap();
        assert_eq!(
            (records[0].key_field.as_ref(), records[0].raw_key.as_str()),
            ("stem", "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0")
        );
        assert_eq!(records[0].value, RawScore::Number(0.585754781961441));
        assert_eq!(
            records[0].components,
            components([-0.08621597290039062, 0.4513581991195679, 0.2206125557422638])
        );
        assert_eq!(
            records[1].raw_key, "3337642103",
            "a numeric stem stays text"
        );
    }

    #[test]
    fn quoted_names_and_commas_in_basenames() {
        let records = read_all::<CoverCsvReader>(
            b"Video,semantic score,technical score,aesthetic score,overall/final score\r\n\
\"a,b\",1,2,3,6\r\n",
        )
        .unwrap();
        assert_eq!(records[0].raw_key, "a,b");
        let records = read_all::<CoverCsvReader>(
            b"path, semantic score, technical score, aesthetic score, overall/final score\n\
a,b.mp4,1.000000,2.000000,3.000000,6.000000\n",
        )
        .unwrap();
        assert_eq!(records[0].raw_key, "a,b.mp4");
    }

    #[test]
    fn nan_is_a_bad_row() {
        let records = read_all::<CoverCsvReader>(
            b"path, semantic score, technical score, aesthetic score, overall/final score\n\
a.mp4,nan,-0.131936,0.105127,nan\n",
        )
        .unwrap();
        assert!(matches!(records[0].value, RawScore::Unusable(_)));
        assert_eq!(records[0].components[0], ("semantic".to_string(), None));
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let set = "path, semantic score, technical score, aesthetic score, overall/final score\n";
        let dataset =
            "Video,semantic score,technical score,aesthetic score,overall/final score\r\n";
        let cases = [
            (format!("{set}a.mp4,1,2,3\n"), 2, "expected 5 comma-separated fields (basename, semantic, technical, aesthetic, overall/final score), got 4"),
            (format!("{dataset}a,b,1,2,3,6\r\n"), 2, "expected 5 comma-separated fields (stem, semantic, technical, aesthetic, overall/final score), got 6"),
            (format!("{set}a.mp4,1,two,3,6\n"), 2, "technical score is not a number: \"two\""),
            (format!("{dataset}\"a,1,2,3,6\r\n"), 2, "a quoted field is not closed on its line"),
            (format!("{set}a.mp4,1,2,3,6\n{set}"), 3, "a second header line: are two outputs concatenated?"),
            ("clip,score\na,1\n".to_string(), 1, "expected COVER's header `path, semantic score, technical score, aesthetic score, overall/final score` or `Video,semantic score,…`"),
            (set.to_string(), 1, "no score rows, only the header"),
        ];
        for (bytes, line, message) in cases {
            assert_eq!(
                error_of::<CoverCsvReader>(bytes.as_bytes()),
                (line, message.to_string()),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn detection_needs_a_cover_header() {
        let set = std::str::from_utf8(SET_CSV).unwrap();
        assert!(CoverCsvReader::detect(set, "csv")
            .unwrap()
            .contains("evaluate_a_set_of_videos.py"));
        let dataset = std::str::from_utf8(DATASET_CSV).unwrap();
        assert!(CoverCsvReader::detect(dataset, "csv")
            .unwrap()
            .contains("evaluate_one_dataset.py"));
        for other in [
            "path, aesthetic score, technical score, overall/final score\n",
            "fun_video_3.mp4,-0.111073,-0.917492,-0.869427,-1.897992\n",
            "name,semantic score,technical score,aesthetic score,overall/final score\n",
        ] {
            assert_eq!(CoverCsvReader::detect(other, "csv"), None, "{other:?}");
        }
    }
}
