//! What every reader produces and the trait every reader implements: a
//! [`ScoreRecord`] per score, pushed into a [`RecordSink`]. Readers know
//! nothing of the registry; the sink resolves names and keys and decides
//! what a record becomes.

use std::borrow::Cow;
use std::io::BufRead;

use super::json::FieldNames;

/// One score as a reader found it, before the registry resolves it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRecord {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The field the key was read from (drives `--key-normalize auto`).
    /// Borrowed for the known key fields ([`crate::key::field_name`]).
    pub key_field: Cow<'static, str>,
    /// The key as written (numbers in their JSON text form).
    pub raw_key: String,
    /// The scorer named by the row itself (`competitor`), if any. It wins
    /// over the file's LABEL=.
    pub scorer: Option<String>,
    /// The scorer a format implies (`q-align` for Q-Align's evaluator
    /// output), used only when neither `--scorer`, the row nor a label names one.
    pub scorer_hint: Option<String>,
    /// The metric this record holds, in a file holding several metrics
    /// (ffmpeg-quality-metrics' `vmaf`, `psnr` …): each metric is a scorer of
    /// its own, named by the metric, with the file's `--scorer` or LABEL=
    /// as a prefix (`fqm-vmaf`) instead of a name for every row.
    pub metric: Option<String>,
    /// The clip score, or why there is none.
    pub value: RawScore,
    /// What the row's own `status` field said, if it had one.
    /// Borrowed for the usual spellings ([`status_text`]).
    pub reported_status: Option<Cow<'static, str>>,
    pub runtime_ms: Option<f64>,
    /// Per-frame values, in file order.
    pub frames: Vec<FrameRecord>,
    /// How many frames were pooled into `value` (0 when the row gave the score).
    pub pooled_frames: u32,
    /// A note kept with the row (frames left out of the pool).
    pub note: Option<String>,
    /// Named secondary values of multi-output scorers (DOVER's aesthetic and
    /// technical scores, libvmaf's other metrics …); `None` when unusable.
    pub components: Vec<(String, Option<f64>)>,
    /// What the reader found wrong with the values without making the file
    /// malformed (the scorer's own summary disagrees with its frames): kept
    /// with the file as warnings of this record's scorer, which `--strict`
    /// refuses.
    pub warnings: Vec<ReadWarning>,
}

/// A reader's finding about one record's values.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadWarning {
    /// Short name of the check (`global_mismatch`).
    pub check: &'static str,
    pub message: String,
}

/// A clip score as read: a finite number, or the reason it is unusable.
#[derive(Clone, Debug, PartialEq)]
pub enum RawScore {
    Number(f64),
    Unusable(String),
}

/// One frame of a per-frame payload.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRecord {
    pub frame_index: i64,
    /// `None` when the frame's value was not a finite number.
    pub value: Option<f64>,
    pub runtime_ms: Option<f64>,
}

/// Where readers push what they read.
pub trait RecordSink {
    /// The sink's own failure, which also carries reader failures.
    type Error: From<ReadError>;

    fn push(&mut self, record: ScoreRecord) -> Result<(), Self::Error>;

    /// Something the operator should know about how the file was read (the
    /// key taken from the file name, a trailer line skipped, …).
    fn note(&mut self, _message: String) {}
}

/// What a reader needs besides the bytes.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// `--score-key-field` / `--score-field`.
    pub fields: FieldNames,
    /// `--key`: the clip a single-clip file (a libvmaf log, captured stdout)
    /// scored. Files that name no clip take their file stem otherwise.
    pub clip_key: Option<String>,
    /// `--metric`: the libvmaf metric that is the clip score (default `vmaf`).
    pub metric: Option<String>,
    /// The score file's name, as the fallback key of single-clip files.
    pub file_name: String,
    /// Whether `--scorer-version` says what wrote the file, so version
    /// pitfalls of a format need not be pointed out.
    pub scorer_version_given: bool,
    /// The command reading the file: how a message names a setting
    /// (`--score-key-field`, or a batch manifest's `"score_key_field"`).
    pub command_line: crate::command_line::CommandLine,
}

impl ReadOptions {
    /// The key of a file that names no clip, with where it came from:
    /// `--key`, else the file's stem (`runs/clip_a.json` → `clip_a`).
    pub fn single_clip_key(&self) -> (&'static str, String) {
        match &self.clip_key {
            Some(key) => ("--key", key.clone()),
            None => ("file name", crate::key::stem(&self.file_name).to_string()),
        }
    }
}

/// A scorer output format: one file per format in `ingest/formats/` (and
/// `ingest/libvmaf/`), registered in [`Format`](super::Format).
pub trait ScoreReader {
    /// The name used by `--format` and stored with the file.
    const NAME: &'static str;
    /// Lower-case file extensions (without the dot) this format is written with.
    const EXTENSIONS: &'static [&'static str];
    /// Generic shapes (JSON rows, JSON Lines, CSV with a header) are chosen
    /// only when no scorer-specific format recognises the file.
    const GENERIC: bool = false;
    /// The scale every value of this format lies on, when the format fixes
    /// it (Q-Align's evaluator writes 0–1 whatever the model could do).
    const FIXED_SCALE: Option<(f64, f64)> = None;

    /// Why the start of a file (`head`, at most 64 KiB, lossily decoded)
    /// looks like this format, or `None`. `extension` is lower-case.
    fn detect(head: &str, extension: &str) -> Option<String>;

    /// Read every record of `input`, pushing each into `sink` as soon as it
    /// is complete, so a file is never held in memory whole unless the format
    /// is a single document.
    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error>;
}

/// Why a file could not be read. The caller adds the file's path.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The content is not what the format allows, at a line.
    #[error("{line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    pub(crate) fn at(line: u64, message: impl Into<String>) -> ReadError {
        ReadError::Malformed {
            line,
            message: message.into(),
        }
    }
}

/// Whether a scorer-reported status means success: empty, `ok`, `pass` or
/// `success`, in any case (the reference's rule).
/// A row's own status as a record carries it: the usual spellings
/// borrowed, any other text owned, as written. Most score rows say
/// `"status": "ok"`, and a string of its own per row is freed on another
/// thread than the reader's (see [`crate::key::field_name`]).
pub(crate) fn status_text(text: impl AsRef<str> + Into<String>) -> Cow<'static, str> {
    const USUAL: &[&str] = &["ok", "OK", "pass", "success", "error", "failed", "FAILED"];
    USUAL
        .iter()
        .find(|usual| **usual == text.as_ref())
        .map_or_else(|| Cow::Owned(text.into()), |usual| Cow::Borrowed(*usual))
}

pub(crate) fn is_ok_status(status: &str) -> bool {
    let status = status.trim();
    status.is_empty()
        || ["ok", "pass", "success"]
            .iter()
            .any(|ok| status.eq_ignore_ascii_case(ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_statuses_are_borrowed_and_others_kept_as_written() {
        assert!(matches!(status_text("ok"), Cow::Borrowed("ok")));
        assert!(matches!(
            status_text("FAILED".to_string()),
            Cow::Borrowed("FAILED")
        ));
        for other in ["Ok", " ok", "timeout", ""] {
            assert!(matches!(status_text(other), Cow::Owned(text) if text == other));
        }
    }

    #[test]
    fn ok_statuses() {
        for ok in ["", " ", "ok", "OK", "Pass", "success"] {
            assert!(is_ok_status(ok), "{ok:?}");
        }
        for bad in ["failed", "error", "timeout", "oks"] {
            assert!(!is_ok_status(bad), "{bad:?}");
        }
    }
}
