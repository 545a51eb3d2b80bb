//! Captured stdout of scorers that score one clip per run and print the
//! score in a sentence (`python vqa.py -v clip.mp4 > clip_a.txt`). Nothing
//! in the output names the clip, so the key is `--key`, else the file's stem,
//! and the ingest says which.
//!
//! Recognised lines (each from the scorer's source, see
//! `docs/formats.md`), anywhere among the noise the scripts also print
//! (`Sampled frames are …`, `torch.Size(…)`, JAX/TensorFlow log lines):
//!
//! - FAST-VQA / FasterVQA `vqa.py` (VQAssessment/FAST-VQA-and-FasterVQA @
//!   9f264e4): `The quality score of the video (range [0,1]) is 0.42326.`,
//!   preceded by `Inferring with model [FasterVQA]:`, whose bracketed name
//!   becomes the scorer (else `fast-vqa`). The sentence's full stop is not
//!   part of the number. Older `vqa.py` printed `The quality score of the
//!   video is …` with the *unnormalised* model output: not read, and said so.
//! - DOVER `evaluate_one_video.py -f` (VQAssessment/DOVER @ f1ddc96) and
//!   `onnx_inference.py`: `Normalized fused overall score (scale in [0,1]):
//!   0.41083903655623016`, after the raw fused logit on a line of its own
//!   (redundant with the score, so not kept). This fused score is on 0–1 and
//!   normalises the aesthetic head differently from the set evaluator's
//!   0–100 `overall/final score`, so it is registered as `dover-fused`, not
//!   `dover`: one scorer never mixes the two. DOVER-Mobile prints the same
//!   lines, so its runs need a label. Without `-f` DOVER prints only
//!   percentiles against benchmark sets, which are not a score: refused with
//!   the fix.
//! - MUSIQ `run_predict_image.py` (google-research `musiq/`):
//!   `============== Precited MOS: 73.05229` ("Precited" is the source's
//!   spelling). The value is a printed JAX array; wrappers such as
//!   `Array(61.2, dtype=float32)`, `tensor([0.34])` or `np.float64(0.5)` are
//!   unwrapped.
//! - UVQ `uvq_inference.py` single video (google/uvq @ 811b6b1): the score
//!   alone, e.g. `3.880362033843994`, after `Running UVQ 1.0 inference. …`
//!   for UVQ 1.0. A file that is *only* a number is read too, but a bare
//!   number identifies no scorer: the scorer is `uvq` only when one of UVQ's
//!   own lines is there, else it must come from LABEL= or `--scorer`.
//!
//! A log holding two score lines (several runs appended to one file) is
//! refused: nothing says which clip each belongs to.

use std::io::BufRead;

use crate::ingest::{RawScore, ReadError, ReadOptions, RecordSink, ScoreReader, ScoreRecord};

/// Reader for captured stdout of single-clip scorers.
pub struct ScoreLineReader;

const FAST_VQA_SCORE: &str = "The quality score of the video (range [0,1]) is ";
const FAST_VQA_MODEL: &str = "Inferring with model [";
const FAST_VQA_OLD: &str = "The quality score of the video is ";
const DOVER_FUSED: &str = "Normalized fused overall score (scale in [0,1]):";
const DOVER_PERCENTILES: &str = "Compared with all videos in the ";
const MUSIQ_MOS: &str = "Precited MOS:";
/// Lines UVQ's single-video run prints besides the score.
const UVQ_LINES: &[&str] = &[
    "Running UVQ 1.0 inference. FPS argument is ignored (uses 5fps).",
    "Could not get frame count for ",
];

/// A scorer's labelled score line.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Labelled {
    FastVqa,
    DoverFused,
    Musiq,
}

impl Labelled {
    const ALL: [(Labelled, &'static str); 3] = [
        (Labelled::FastVqa, FAST_VQA_SCORE),
        (Labelled::DoverFused, DOVER_FUSED),
        (Labelled::Musiq, MUSIQ_MOS),
    ];

    fn describe(self) -> &'static str {
        match self {
            Labelled::FastVqa => "FAST-VQA vqa.py stdout (`The quality score of the video (range [0,1]) is …`)",
            Labelled::DoverFused => {
                "DOVER evaluate_one_video.py -f stdout (`Normalized fused overall score (scale in [0,1]): …`)"
            }
            Labelled::Musiq => "MUSIQ run_predict_image.py stdout (`Precited MOS: …`)",
        }
    }

    /// The label's position in `line` and the text after it.
    fn find(line: &str) -> Option<(Labelled, &str)> {
        Labelled::ALL.iter().find_map(|(kind, label)| {
            line.find(label)
                .map(|at| (*kind, line[at + label.len()..].trim()))
        })
    }
}

impl ScoreReader for ScoreLineReader {
    const NAME: &'static str = "score-line";
    const EXTENSIONS: &'static [&'static str] = &["txt", "log", "out"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        if let Some((kind, _)) = head.lines().find_map(Labelled::find) {
            return Some(kind.describe().to_string());
        }
        if head.contains(DOVER_PERCENTILES) && head.contains("-- the technical quality of video [")
        {
            return Some("DOVER evaluate_one_video.py stdout without -f".to_string());
        }
        let lines: Vec<&str> = head
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let (uvq, other): (Vec<&str>, Vec<&str>) = lines
            .iter()
            .partition(|line| UVQ_LINES.iter().any(|known| line.starts_with(known)));
        match other.as_slice() {
            [number] if number.parse::<f64>().is_ok() && !uvq.is_empty() => {
                Some("UVQ uvq_inference.py single-video stdout".to_string())
            }
            [number] if number.parse::<f64>().is_ok() => Some(
                "the file is a single number (as UVQ's single-video stdout prints)".to_string(),
            ),
            _ => None,
        }
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut found: Option<Found> = None;
        let mut model: Option<String> = None;
        // Lines other than blank ones and UVQ's own, and the first of them,
        // for the bare-number case.
        let mut other_lines = 0usize;
        let mut first_other: Option<(u64, String)> = None;
        let mut saw_uvq_line = false;
        let mut dover_percentiles: Option<u64> = None;
        let mut old_fast_vqa: Option<u64> = None;
        let mut buffer = Vec::with_capacity(256);
        let mut line_number = 0u64;
        loop {
            buffer.clear();
            if input
                .read_until(b'\n', &mut buffer)
                .map_err(ReadError::from)?
                == 0
            {
                break;
            }
            line_number += 1;
            // Logs carry progress bars and odd bytes; only the labels matter.
            let text = String::from_utf8_lossy(&buffer);
            let line = text.trim_start_matches('\u{feff}').trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line
                .find(FAST_VQA_MODEL)
                .map(|at| &line[at + FAST_VQA_MODEL.len()..])
                .and_then(|rest| rest.split_once(']'))
                .map(|(name, _)| name.trim())
                .filter(|name| !name.is_empty())
            {
                model = Some(name.to_string());
            }
            if let Some((kind, value)) = Labelled::find(line) {
                if let Some(first) = &found {
                    return Err(ReadError::at(
                        line_number,
                        format!(
                            "a second score line (the first is line {}): captured stdout holds \
                             one clip's score; split the log per clip",
                            first.line
                        ),
                    )
                    .into());
                }
                found = Some(Found {
                    line: line_number,
                    kind: Some(kind),
                    value: value.to_string(),
                    model: model.clone().filter(|_| kind == Labelled::FastVqa),
                });
                continue;
            }
            if line.contains(DOVER_PERCENTILES) {
                dover_percentiles.get_or_insert(line_number);
            }
            if line.contains(FAST_VQA_OLD) {
                old_fast_vqa.get_or_insert(line_number);
            }
            if UVQ_LINES.iter().any(|known| line.starts_with(known)) {
                saw_uvq_line = true;
            } else {
                other_lines += 1;
                first_other.get_or_insert_with(|| (line_number, line.to_string()));
            }
        }

        let found = match found {
            Some(found) => found,
            None => match (other_lines, first_other) {
                (1, Some((line, number))) if number.parse::<f64>().is_ok() => Found {
                    line,
                    kind: None,
                    value: number,
                    model: None,
                },
                _ => {
                    let (line, message) = if let Some(line) = dover_percentiles {
                        (line, "DOVER evaluate_one_video.py without -f prints percentiles against \
                                benchmark sets, not a score: run it with -f for the fused score on 0–1")
                    } else if let Some(line) = old_fast_vqa {
                        (line, "this is the old FAST-VQA vqa.py line, whose value is the unnormalised \
                                model output (no `(range [0,1])`); it is not read")
                    } else {
                        (1, "no score line: expected FAST-VQA's `The quality score of the video \
                             (range [0,1]) is …`, DOVER's `Normalized fused overall score (scale in \
                             [0,1]): …`, MUSIQ's `Precited MOS: …`, or a file holding only a number (UVQ)")
                    };
                    return Err(ReadError::at(line, message).into());
                }
            },
        };

        let scorer_hint = match found.kind {
            Some(Labelled::FastVqa) => {
                Some(found.model.clone().unwrap_or_else(|| "fast-vqa".into()))
            }
            Some(Labelled::DoverFused) => {
                sink.note(
                    "DOVER's one-video fused score is on 0–1, unlike the set evaluator's 0–100: \
                     scorer 'dover-fused' unless LABEL= or --scorer names it (DOVER-Mobile prints \
                     the same lines)"
                        .to_string(),
                );
                Some("dover-fused".to_string())
            }
            Some(Labelled::Musiq) => Some("musiq".to_string()),
            None if saw_uvq_line => Some("uvq".to_string()),
            None => None,
        };
        let value = match printed_number(&found.value) {
            Some(value) if value.is_finite() => RawScore::Number(value),
            Some(value) => {
                RawScore::Unusable(format!("score must be a finite number, got {value}"))
            }
            None => RawScore::Unusable(format!("cannot read a number from `{}`", found.value)),
        };
        let (source, key) = options.single_clip_key();
        let source_text = if source == "--key" {
            source.to_string()
        } else {
            format!("the {source}")
        };
        sink.note(format!("key '{key}' from {source_text}"));
        sink.push(ScoreRecord {
            line: found.line,
            key_field: crate::key::field_name(source),
            raw_key: key,
            scorer: None,
            scorer_hint,
            metric: None,
            value,
            reported_status: None,
            runtime_ms: None,
            frames: Vec::new(),
            pooled_frames: 0,
            note: None,
            components: Vec::new(),
            warnings: Vec::new(),
        })
    }
}

/// The score line found, and what printed it (`None`: a bare number).
struct Found {
    line: u64,
    kind: Option<Labelled>,
    value: String,
    model: Option<String>,
}

/// The number a Python script printed: plain (`0.42326`), ending a sentence
/// (`0.42326.`), or wrapped as numpy, torch or JAX print a scalar
/// (`np.float64(0.5)`, `tensor([0.34], device='cuda:0')`,
/// `Array(61.2, dtype=float32)`). Non-finite spellings (`nan`, `inf`) come
/// back as such for the caller to refuse; `None` when no number is there.
fn printed_number(text: &str) -> Option<f64> {
    let mut text = text.trim();
    for _ in 0..8 {
        if let Ok(value) = text.parse::<f64>() {
            return Some(value);
        }
        if let Some(inner) = unwrap_call(text) {
            text = inner;
        } else if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            text = inner.trim();
        } else if let Some(inner) = text.strip_suffix('.').filter(|t| !t.ends_with('.')) {
            text = inner.trim_end();
        } else {
            return None;
        }
    }
    None
}

/// The first argument of `Name(first, …)`, where `Name` is a dotted identifier.
fn unwrap_call(text: &str) -> Option<&str> {
    let open = text.find('(')?;
    let name = &text[..open];
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    let inside = text[open + 1..].strip_suffix(')').filter(|_| is_name)?;
    // The first argument ends at the first comma outside brackets.
    let mut depth = 0i32;
    for (at, c) in inside.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => return Some(inside[..at].trim()),
            _ => {}
        }
    }
    Some(inside.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};

    /// `vqa.py -m FasterVQA -v clip.mp4`: sampled frames, tensor sizes, then
    /// the two README lines.
    const FAST_VQA: &[u8] = b"Sampled frames are [ 0  1  2  3  4  5  6  7]\ntorch.Size([3, 32, 224, 224])\nInferring with model [FasterVQA]:\nThe quality score of the video (range [0,1]) is 0.42326.\n";
    /// `evaluate_one_video.py -v ./demo/17734.mp4 -f`.
    const DOVER: &[u8] = b"dict_keys(['technical', 'aesthetic'])\n-0.3604979296672375\nNormalized fused overall score (scale in [0,1]): 0.41083903655623016\n";
    /// `run_predict_image.py`, with absl log lines captured by `2>&1`.
    const MUSIQ: &[u8] = b"I0420 13:53:24.335033 8055423232 xla_bridge.py:440] Unable to initialize backend 'tpu'\n============== Precited MOS: 73.05229\n";

    #[test]
    fn detects_each_scorer_and_nothing_else() {
        let detect = |bytes: &[u8]| ScoreLineReader::detect(&String::from_utf8_lossy(bytes), "txt");
        assert!(detect(FAST_VQA).unwrap().starts_with("FAST-VQA"));
        assert!(detect(DOVER).unwrap().starts_with("DOVER"));
        assert!(detect(MUSIQ).unwrap().starts_with("MUSIQ"));
        assert!(detect(b"3.880362033843994\n")
            .unwrap()
            .contains("single number"));
        assert!(detect(
            b"Running UVQ 1.0 inference. FPS argument is ignored (uses 5fps).\n4.058663845062256\n"
        )
        .unwrap()
        .starts_with("UVQ"));
        assert_eq!(
            detect(b"1.0\n2.0\n"),
            None,
            "FAST-VQA new_test.py lists are not one clip"
        );
        assert_eq!(detect(b"I03.bmp,12.478515625\r\n"), None);
        assert_eq!(detect(b"{\"score\": 1}\n"), None);
        assert_eq!(
            detect(b"[0.7548828125]\n"),
            None,
            "Q-Align scorer.py prints a list"
        );
    }

    #[test]
    fn fast_vqa_takes_the_model_in_brackets() {
        let records = read_all::<ScoreLineReader>(FAST_VQA).unwrap();
        let record = &records[0];
        assert_eq!(record.value, RawScore::Number(0.42326));
        assert_eq!(record.line, 4);
        assert_eq!(record.scorer_hint.as_deref(), Some("FasterVQA"));
        let without_model =
            read_all::<ScoreLineReader>(b"The quality score of the video (range [0,1]) is 0.5.\n")
                .unwrap();
        assert_eq!(without_model[0].scorer_hint.as_deref(), Some("fast-vqa"));
    }

    #[test]
    fn dover_ignores_the_bare_logit_line() {
        let record = &read_all::<ScoreLineReader>(DOVER).unwrap()[0];
        assert_eq!(record.value, RawScore::Number(0.41083903655623016));
        assert_eq!(
            (record.line, record.scorer_hint.as_deref()),
            (3, Some("dover-fused"))
        );
        let onnx = b"Inference time cost: 0.512s.\r\nNormalized fused overall score (scale in [0,1]): 0.411\r\n";
        assert_eq!(
            read_all::<ScoreLineReader>(onnx).unwrap()[0].value,
            RawScore::Number(0.411)
        );
    }

    #[test]
    fn musiq_values_may_be_wrapped() {
        let record = &read_all::<ScoreLineReader>(MUSIQ).unwrap()[0];
        assert_eq!(record.value, RawScore::Number(73.05229));
        assert_eq!(record.scorer_hint.as_deref(), Some("musiq"));
        for (printed, value) in [
            ("Array(61.2, dtype=float32)", 61.2),
            ("DeviceArray(61.2, dtype=float32)", 61.2),
            ("tensor([0.34], device='cuda:0')", 0.34),
            ("np.float64(0.5)", 0.5),
            ("[61.2]", 61.2),
            ("0.42326.", 0.42326),
            ("5.", 5.0),
        ] {
            assert_eq!(printed_number(printed), Some(value), "{printed}");
        }
        assert!(printed_number("nan").unwrap().is_nan());
        assert_eq!(printed_number("[1.0, 2.0]"), None);
        assert_eq!(printed_number("fast"), None);

        let nan = read_all::<ScoreLineReader>(
            b"============== Precited MOS: Array(nan, dtype=float32)\n",
        )
        .unwrap();
        assert_eq!(
            nan[0].value,
            RawScore::Unusable("score must be a finite number, got NaN".into())
        );
        let odd =
            read_all::<ScoreLineReader>(b"============== Precited MOS: <unprintable>\n").unwrap();
        assert_eq!(
            odd[0].value,
            RawScore::Unusable("cannot read a number from `<unprintable>`".into())
        );
    }

    #[test]
    fn a_bare_number_names_no_scorer_unless_uvq_printed_around_it() {
        let bare = read_all::<ScoreLineReader>(b"3.880362033843994\n").unwrap();
        assert_eq!(bare[0].value, RawScore::Number(3.880362033843994));
        assert_eq!(bare[0].scorer_hint, None);
        let uvq10 = read_all::<ScoreLineReader>(
            b"Running UVQ 1.0 inference. FPS argument is ignored (uses 5fps).\n4.058663845062256\n",
        )
        .unwrap();
        assert_eq!(
            (uvq10[0].line, uvq10[0].scorer_hint.as_deref()),
            (2, Some("uvq"))
        );
    }

    #[test]
    fn key_comes_from_the_key_option_or_the_file_stem() {
        let mut sink = crate::ingest::test_support::Collect::default();
        let options = ReadOptions {
            file_name: "clip_a.fastvqa.txt".into(),
            ..ReadOptions::default()
        };
        ScoreLineReader::read(&mut &FAST_VQA[..], &options, &mut sink).unwrap();
        assert_eq!(
            (sink.0[0].key_field.as_ref(), sink.0[0].raw_key.as_str()),
            ("file name", "clip_a.fastvqa")
        );
        let options = ReadOptions {
            clip_key: Some("clip_b".into()),
            ..options
        };
        let mut sink = crate::ingest::test_support::Collect::default();
        ScoreLineReader::read(&mut &FAST_VQA[..], &options, &mut sink).unwrap();
        assert_eq!(
            (sink.0[0].key_field.as_ref(), sink.0[0].raw_key.as_str()),
            ("--key", "clip_b")
        );
    }

    #[test]
    fn refusals_say_why() {
        let (line, message) = error_of::<ScoreLineReader>(
            b"The quality score of the video (range [0,1]) is 0.5.\nThe quality score of the video (range [0,1]) is 0.6.\n",
        );
        assert_eq!(line, 2);
        assert!(
            message.starts_with("a second score line (the first is line 1)"),
            "{message}"
        );
        let (line, message) = error_of::<ScoreLineReader>(
            b"dict_keys(['technical', 'aesthetic'])\nCompared with all videos in the LIVE_VQC dataset:\n-- the technical quality of video [./demo/17734.mp4] is better than 43% of videos, with normalized score 0.10.\n",
        );
        assert_eq!(line, 2);
        assert!(message.contains("run it with -f"), "{message}");
        let (line, message) = error_of::<ScoreLineReader>(
            b"Sampled frames are [0]\nThe quality score of the video is 0.12345.\n",
        );
        assert_eq!(line, 2);
        assert!(message.contains("old FAST-VQA"), "{message}");
        let (line, message) = error_of::<ScoreLineReader>(b"1.0\n2.0\n");
        assert_eq!(line, 1);
        assert!(message.starts_with("no score line"), "{message}");
        assert!(error_of::<ScoreLineReader>(b"")
            .1
            .starts_with("no score line"));
    }
}
