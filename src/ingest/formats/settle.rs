//! Files more than one format reads alike. pyiqa's headerless CSV (with
//! its line ends converted), MANIQA's `output.txt` and UVQ's batch output
//! are all `name,score` lines: detection alone cannot tell them apart.
//! Often it need not: the formats differ only in the scorer they imply
//! (`maniqa`, `uvq`, none for pyiqa), so when a label or `--scorer` names
//! the scorer, every candidate stores the same rows. Each candidate reads
//! the file; if they agree on every row — line, key, value, scorer — the
//! choice changes nothing and is made (the candidate whose scorer the name
//! is, else the first); if they disagree, a candidate whose implied scorer
//! the name is wins; otherwise the file is refused with the `--format`
//! names, as is a file whose first column holds bare numbers, not clip
//! names (a table of numbers, not a score file).

use std::path::Path;

use super::{DetectError, Format};
use crate::ingest::{RawScore, ReadError, ReadOptions, RecordSink, ScoreRecord};
use crate::key::KeyNormalize;
use crate::scorer::slug;

/// The formats whose files are all `name,score` lines.
const NAME_SCORE_FORMATS: [Format; 3] = [Format::PyiqaCsv, Format::ManiqaTxt, Format::UvqTxt];

/// What the file names about its scorer and keys, as the ingest would use
/// it: `--scorer` or the label, and the key normalisation.
pub struct Naming<'a> {
    pub scorer: Option<&'a str>,
    pub key_normalize: KeyNormalize,
}

/// Settle an ambiguity among `candidates` for the file at `path`, or say
/// why it stays refused.
pub fn settle(
    path: &Path,
    candidates: &[Format],
    naming: &Naming<'_>,
    read_options: &ReadOptions,
) -> Result<(Format, String), DetectError> {
    let ambiguous = || DetectError::Ambiguous {
        candidates: candidates.iter().map(|f| f.name()).collect(),
    };
    if candidates.len() < 2 || !candidates.iter().all(|f| NAME_SCORE_FORMATS.contains(f)) {
        return Err(ambiguous());
    }
    // These are small text files (a line per image or video): read once.
    let Ok(bytes) = std::fs::read(path) else {
        return Err(ambiguous());
    };
    let readings: Vec<(Format, Vec<ScoreRecord>)> = candidates
        .iter()
        .filter_map(|format| {
            let mut sink = Collect(Vec::new());
            format
                .read(&mut &bytes[..], read_options, &mut sink)
                .ok()
                .map(|()| (*format, sink.0))
        })
        .collect();
    let Some((_, first)) = readings.first() else {
        return Err(ambiguous());
    };
    if !first.is_empty() && first.iter().all(|r| is_bare_number(&r.raw_key)) {
        return Err(DetectError::NotClipNames {
            candidates: candidates.iter().map(|f| f.name()).collect(),
        });
    }
    let names: Vec<&str> = readings.iter().map(|(f, _)| f.name()).collect();
    let named_format = naming.scorer.and_then(|name| {
        readings
            .iter()
            .find(|(_, records)| {
                records
                    .first()
                    .and_then(|r| r.scorer_hint.as_deref())
                    .is_some_and(|hint| slug(hint) == slug(name))
            })
            .map(|(format, _)| *format)
    });
    let rows_of = |records: &[ScoreRecord]| -> Vec<Row> {
        records.iter().map(|r| Row::of(r, naming)).collect()
    };
    let reference = rows_of(first);
    let agree = readings.len() == candidates.len()
        && readings
            .iter()
            .all(|(_, records)| rows_of(records) == reference);
    let shown = names.join(", ");
    match (agree, named_format) {
        (true, Some(format)) => Ok((
            format,
            format!(
                "`name,score` lines, read alike by {shown}; {} for the scorer '{}'",
                format.name(),
                naming.scorer.unwrap_or_default()
            ),
        )),
        (true, None) => Ok((
            readings[0].0,
            format!(
                "`name,score` lines, read alike by {shown} (the scorer named '{}')",
                naming.scorer.unwrap_or_default()
            ),
        )),
        (false, Some(format)) => Ok((
            format,
            format!(
                "`name,score` lines; {} for the scorer '{}'",
                format.name(),
                naming.scorer.unwrap_or_default()
            ),
        )),
        (false, None) => Err(ambiguous()),
    }
}

/// What a record stores, whichever format read it.
#[derive(PartialEq)]
struct Row {
    line: u64,
    key: String,
    value: Option<u64>,
    unusable: Option<String>,
    scorer: Option<String>,
}

impl Row {
    fn of(record: &ScoreRecord, naming: &Naming<'_>) -> Row {
        let (value, unusable) = match &record.value {
            RawScore::Number(v) => (Some(v.to_bits()), None),
            RawScore::Unusable(text) => (None, Some(text.clone())),
        };
        Row {
            line: record.line,
            key: naming
                .key_normalize
                .apply(&record.key_field, &record.raw_key)
                .into_owned(),
            value,
            unusable,
            scorer: naming
                .scorer
                .or(record.scorer.as_deref())
                .or(record.scorer_hint.as_deref())
                .map(slug),
        }
    }
}

/// A first column of `12`, `3.5`: numbers, not clip names.
fn is_bare_number(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && text.parse::<f64>().is_ok_and(f64::is_finite)
}

struct Collect(Vec<ScoreRecord>);

impl RecordSink for Collect {
    type Error = ReadError;
    fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
        self.0.push(record);
        Ok(())
    }
}
