//! One score file's ingest as its caller sees it: what is asked
//! ([`IngestOptions`], [`SourceSpec`]), what came out ([`FileOutcome`]) and
//! why a file was refused ([`IngestFileError`]). The same for every store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::formats::settle;
use super::frame_pattern::FramePattern;
use super::pipeline::FileIngestResult;
use super::rules::{ConflictPolicy, MAX_SCORER_VERSION_CHARS};
use super::suspicious::Warning;
use super::{detect_format, DetectError, Detection, FieldNames, Format, ReadError};
use crate::command_line::CommandLine;
use crate::key::KeyNormalize;
use crate::scorer::Scale;

/// How `ingest` reads and files scores.
#[derive(Clone, Debug, Default)]
pub struct IngestOptions {
    /// `--format`; otherwise detected from the content.
    pub format: Option<Format>,
    pub fields: FieldNames,
    /// `--key`: the clip of files that name none (libvmaf logs, captured stdout).
    pub clip_key: Option<String>,
    /// `--metric`: the libvmaf metric taken as the clip score.
    pub metric: Option<String>,
    /// `--scorer-version`: what produced the file (checkpoint, commit, options).
    pub scorer_version: Option<String>,
    pub key_normalize: KeyNormalize,
    /// `--key-strip-prefix`: a leading path prefix taken off every key
    /// before it is normalised (a key without it is kept as written).
    pub key_strip_prefix: Option<String>,
    /// `--scorer`: names every row, over the payload's `competitor` and the label.
    pub scorer: Option<String>,
    pub on_conflict: ConflictPolicy,
    /// Refuse the whole file when any row would be stored `bad`.
    pub strict: bool,
    /// Keep every finite value as written, as the reference does
    /// (`materialize`): a known scorer whose scale depends on the run goes
    /// without one (a note says so), and a value outside a scorer's scale
    /// stays `ok`, with a note on the row and a warning for the file.
    pub keep_values: bool,
    /// `--scale MIN:MAX` declared for the file's scorers.
    pub scale: Option<Scale>,
    /// `--higher-is-better` / `--lower-is-better`.
    pub higher_is_better: Option<bool>,
    /// `--force-scale`: `--scale` may override a known scorer's documented scale.
    pub force_scale: bool,
    /// The slug of the one scorer the command names (`--scorer`, or the
    /// same label on every file): `--scale` is meant for it.
    pub scale_names: Option<String>,
    /// The command reading the file: what its messages suggest (a
    /// duplicate's offers `--replace`/`--ignore` on `ingest`, not on
    /// `materialize`, which like its reference has neither; an ambiguous
    /// format offers `--format` where the command takes it).
    pub command_line: CommandLine,
    /// `--frame-pattern`: rows named by extracted frames become frames of
    /// one clip score per clip.
    pub frame_pattern: Option<FramePattern>,
    /// `--frame-base`: how the file numbers frames, when it does not say.
    pub frame_base: Option<i64>,
    /// Read and judge everything, then roll back (`inspect`).
    pub dry_run: bool,
    /// How many resolved rows to keep in the outcome (`inspect`).
    pub preview_rows: usize,
    /// Name scorers as written, without resolving known aliases (`qalign`
    /// stays its own scorer): `materialize`, whose reference makes one
    /// column block per spelling. Not part of a file's identity: bytes
    /// `ingest` took are not ingested again by `materialize --registry`.
    pub names_as_written: bool,
}

impl IngestOptions {
    /// What `ingest` settles before it opens the registry, for any caller
    /// (the command line, the Python package): the same label on every file
    /// names one scorer, which `--scale` is then meant for; and a file
    /// whose format cannot be told is a usage mistake, refused before the
    /// registry is created or touched. (Unreadable files are reported per
    /// file by the ingest itself.)
    pub fn prepare_for(&mut self, sources: &[SourceSpec]) -> Result<(), IngestFileError> {
        if self.scale_names.is_none() {
            let labels: Vec<Option<String>> = sources
                .iter()
                .map(|s| s.label.as_deref().map(crate::scorer::slug))
                .collect();
            if let Some(Some(first)) = labels.first() {
                if labels.iter().all(|l| l.as_ref() == Some(first)) {
                    self.scale_names = Some(first.clone());
                }
            }
        }
        if self.format.is_none() {
            for source in sources {
                if let Err(Detection::Unknown(source_error)) = self.detect_format(source) {
                    return Err(IngestFileError::UnknownFormat {
                        path: source.path.display().to_string(),
                        source: source_error,
                        command_line: CommandLine::Registry,
                    });
                }
            }
        }
        Ok(())
    }

    /// The format of `source`: `--format`, else detected from the content;
    /// formats that read the same `name,score` lines are settled by reading
    /// the file with each (see `formats::settle`), with the label or
    /// `--scorer` naming the scorer.
    pub fn detect_format(&self, source: &SourceSpec) -> Result<(Format, String), Detection> {
        if let Some(format) = self.format {
            return Ok((format, "--format".to_string()));
        }
        match detect_format(&source.path) {
            Err(Detection::Unknown(DetectError::Ambiguous { candidates })) => {
                let candidates: Vec<Format> = candidates
                    .iter()
                    .filter_map(|name| Format::from_name(name))
                    .collect();
                let naming = settle::Naming {
                    scorer: self.scorer.as_deref().or(source.label.as_deref()),
                    key_normalize: self.key_normalize,
                };
                settle::settle(
                    &source.path,
                    &candidates,
                    &naming,
                    &self.read_options(source),
                )
                .map_err(Detection::Unknown)
            }
            other => other,
        }
    }

    /// The options that decide which rows `source`'s bytes become when read
    /// as `format`: with the bytes' sha256, a file's identity. The same
    /// bytes with the same identity are ingested once; with another, only
    /// by `--replace` (docs/reproducibility.md).
    pub fn identity(&self, source: &SourceSpec, format: Format) -> serde_json::Value {
        let mut identity = serde_json::json!({
            "format": format.name(),
            "label": source.label,
            "scorer": self.scorer,
            "key_field": self.fields.key,
            "score_field": self.fields.score,
            "key_normalize": self.key_normalize.name(),
            "clip_key": self.clip_key,
            "metric": self.metric,
            "scale": self.scale.map(|s| s.to_string()),
            "frame_pattern": self.frame_pattern.as_ref().map(|p| p.as_str()),
            "frame_base": self.frame_base,
        });
        // Only when set: the identities of files ingested without it (every
        // file before the flag existed) stay what they were.
        if let Some(prefix) = &self.key_strip_prefix {
            identity["key_strip_prefix"] = serde_json::Value::from(prefix.as_str());
        }
        identity
    }

    /// What every store checks and learns of `source` before it opens the
    /// file's transaction: `--scorer-version` within its limit, the format
    /// (given or detected), and the file itself (a readable file, not a
    /// directory, its absolute path and size). Nothing is read into a
    /// store here, so a refusal leaves the registry untouched.
    pub(crate) fn prepare_file(
        &self,
        source: &SourceSpec,
    ) -> Result<PreparedFile, IngestFileError> {
        let path = source.path.display().to_string();
        if let Some(version) = &self.scorer_version {
            let chars = version.chars().count();
            if chars > MAX_SCORER_VERSION_CHARS {
                return Err(IngestFileError::Option {
                    path,
                    message: format!(
                        "--scorer-version of {chars} characters is longer than the limit of \
                         {MAX_SCORER_VERSION_CHARS}"
                    ),
                });
            }
        }
        let io = |source| IngestFileError::Io {
            path: path.clone(),
            source,
        };
        let (format, format_reason) = self.detect_format(source).map_err(|e| match e {
            Detection::Io(e) => io(e),
            Detection::Unknown(source) => IngestFileError::UnknownFormat {
                path: path.clone(),
                source,
                command_line: self.command_line,
            },
        })?;
        let metadata = std::fs::metadata(&source.path).map_err(io)?;
        if metadata.is_dir() {
            return Err(io(std::io::Error::other(
                "is a directory, not a score file",
            )));
        }
        let absolute_path = std::fs::canonicalize(&source.path)
            .map_err(io)?
            .display()
            .to_string();
        Ok(PreparedFile {
            path,
            absolute_path,
            size_bytes: metadata.len(),
            format,
            format_reason,
        })
    }

    /// What a reader of `source` needs to know of these options.
    pub(crate) fn read_options(&self, source: &SourceSpec) -> super::ReadOptions {
        super::ReadOptions {
            fields: self.fields.clone(),
            clip_key: self.clip_key.clone(),
            metric: self.metric.clone(),
            file_name: source
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            scorer_version_given: self.scorer_version.is_some(),
            command_line: self.command_line,
        }
    }
}

/// A row as it would be stored, for `inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct PreviewRow {
    pub line: u64,
    pub scorer: String,
    pub key_field: String,
    pub raw_key: String,
    pub key: String,
    pub score: Option<f64>,
    pub status: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub runtime_ms: Option<f64>,
    pub frames: usize,
    pub components: Vec<(String, Option<f64>)>,
}

/// A scorer as a file's rows resolve it: its registered name, slug, scale,
/// typical range and direction.
#[derive(Clone, Debug, Serialize)]
pub struct ScorerDetail {
    pub slug: String,
    pub scale: Option<String>,
    pub typical: Option<String>,
    pub higher_is_better: Option<bool>,
}

/// A score file named on the command line: `[LABEL=]PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSpec {
    pub label: Option<String>,
    pub path: PathBuf,
}

impl SourceSpec {
    /// Split `LABEL=PATH` at the first `=`, unless the whole argument is an
    /// existing path (file names may contain `=`), as the reference does.
    pub fn parse(argument: &str) -> SourceSpec {
        if !Path::new(argument).exists() {
            if let Some((label, path)) = argument.split_once('=') {
                if !label.is_empty() && !path.is_empty() {
                    return SourceSpec {
                        label: Some(label.to_string()),
                        path: PathBuf::from(path),
                    };
                }
            }
        }
        SourceSpec {
            label: None,
            path: PathBuf::from(argument),
        }
    }
}

/// Counts per scorer for one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScorerCounts {
    /// Rows written and now live (ok and bad).
    pub ingested: u64,
    /// Of those, rows stored with status `bad`.
    pub bad: u64,
    /// Rows that superseded a live row (`--replace`).
    pub replaced: u64,
    /// Of those, rows identical to the row they superseded (value, status,
    /// reason and components); the others changed it.
    pub replaced_identical: u64,
    /// Rows left out because the key was already live (`--ignore`).
    pub ignored: u64,
    /// Rows left out because these bytes were already ingested for this scorer.
    pub skipped: u64,
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// New rows were committed.
    Ingested,
    /// The same bytes were ingested before for every scorer they name.
    AlreadyIngested { at: String },
    /// Nothing new: every row was ignored (`--ignore`) or skipped.
    NothingNew,
}

/// The outcome of one file's ingest.
#[derive(Clone, Debug, Serialize)]
pub struct FileOutcome {
    pub path: String,
    pub absolute_path: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub format: String,
    /// Why this format was chosen (`--format`, or what detection saw).
    pub format_reason: String,
    pub label: Option<String>,
    pub scorer_version: Option<String>,
    pub status: FileStatus,
    /// What the reader wants the operator to know (key from the file name …).
    pub notes: Vec<String>,
    /// Suspicious-output findings about the values (kept with the file).
    pub warnings: Vec<Warning>,
    /// The first rows as they would be stored (`preview_rows` of them).
    pub preview: Vec<PreviewRow>,
    /// Every scorer the file's rows resolved to, by registered name.
    pub scorer_details: BTreeMap<String, ScorerDetail>,
    /// Counts by scorer name as registered.
    pub scorers: BTreeMap<String, ScorerCounts>,
}

impl FileOutcome {
    /// The report entry of this file, as `ingest --report-json` writes it.
    pub fn to_json(&self) -> serde_json::Value {
        let (status, already_ingested_at) = match &self.status {
            FileStatus::Ingested => ("ingested", None),
            FileStatus::AlreadyIngested { at } => ("already_ingested", Some(at.clone())),
            FileStatus::NothingNew => ("nothing_new", None),
        };
        serde_json::json!({
            "path": self.path,
            "absolute_path": self.absolute_path,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "format": self.format,
            "format_reason": self.format_reason,
            "label": self.label,
            "scorer_version": self.scorer_version,
            "notes": self.notes,
            "warnings": self.warnings,
            "status": status,
            "already_ingested_at": already_ingested_at,
            "error": null,
            "scorers": self.scorers,
            "totals": self.totals(),
        })
    }

    /// The counts of every scorer added up.
    pub fn totals(&self) -> ScorerCounts {
        self.scorers
            .values()
            .fold(ScorerCounts::default(), |mut total, c| {
                total.ingested += c.ingested;
                total.bad += c.bad;
                total.replaced += c.replaced;
                total.replaced_identical += c.replaced_identical;
                total.ignored += c.ignored;
                total.skipped += c.skipped;
                total
            })
    }
}

/// Two rows of one file filed under one key although their keys differ as
/// written: [`IngestFileError::KeyCollision`].
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}:{line}: keys collide for competitor='{scorer}': '{raw_key}' (line {line}) and \
     '{first_raw_key}' (line {first_line}) are both '{key}' under --key-normalize {normalize}; \
     pass --key-normalize {separating} to keep them apart"
)]
pub struct KeyCollision {
    pub path: String,
    pub line: u64,
    pub scorer: String,
    pub key: String,
    pub raw_key: String,
    pub first_line: u64,
    pub first_raw_key: String,
    /// The normalisation as the command line gave it, and what `auto`
    /// stood for.
    pub normalize: String,
    /// The shortest `tail:N` giving the two rows different keys.
    pub separating: String,
}

/// A score file as [`IngestOptions::prepare_file`] found it, before any
/// store reads it.
pub(crate) struct PreparedFile {
    /// The path as given, which every message names.
    pub path: String,
    pub absolute_path: String,
    /// The size when checked (the ingest's hash covers the bytes it reads).
    pub size_bytes: u64,
    pub format: Format,
    /// Why the format was chosen (`--format`, or what detection saw).
    pub format_reason: String,
}

impl PreparedFile {
    /// What a caller sees of this file's ingest, once its store has decided
    /// the `status`: the file as prepared, its bytes' `sha256`, the store's
    /// own `notes` (before the pipeline's), and what its rows gave.
    /// (Both stores, SQLite's and PostgreSQL's, report through this.)
    pub(crate) fn outcome(
        self,
        source: &SourceSpec,
        options: &IngestOptions,
        sha256: String,
        status: FileStatus,
        notes: Vec<String>,
        result: FileIngestResult,
    ) -> FileOutcome {
        let scorer_details = result.scorer_details();
        FileOutcome {
            path: self.path,
            absolute_path: self.absolute_path,
            sha256,
            size_bytes: self.size_bytes,
            format: self.format.name().to_string(),
            format_reason: self.format_reason,
            label: source.label.clone(),
            scorer_version: options.scorer_version.clone(),
            status,
            notes: notes.into_iter().chain(result.notes).collect(),
            warnings: result.warnings,
            preview: result.preview,
            scorer_details,
            scorers: result
                .scorers
                .into_iter()
                .map(|s| (s.entry.registered_name, s.counts))
                .collect(),
        }
    }
}

/// Why a file was not ingested. Every variant names the file, and the line
/// where there is one; the registry is unchanged by any of them.
#[derive(Debug, thiserror::Error)]
pub enum IngestFileError {
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}:{line}: duplicate score for competitor='{scorer}' key='{key}': {other}")]
    Duplicate {
        path: String,
        line: u64,
        scorer: String,
        key: String,
        other: String,
    },
    /// Two rows whose keys differ as written but not once normalised
    /// (`crf23/A0001.mp4` and `crf35/A0001.mp4` under basename): several
    /// encodes of one source, which a longer key keeps apart.
    #[error("{0}")]
    KeyCollision(Box<KeyCollision>),
    #[error("{path}: {message}")]
    Conflict { path: String, message: String },
    #[error("{path}: suspicious output, refused by --strict: {message}")]
    Suspicious { path: String, message: String },
    /// An option the file was ingested with cannot be used (a usage error).
    #[error("{path}: {message}")]
    Option { path: String, message: String },
    #[error("{path}: {}", .source.message(*.command_line))]
    UnknownFormat {
        path: String,
        #[source]
        source: DetectError,
        /// The command that read it: whether `--format` may be suggested.
        command_line: CommandLine,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The store failed (SQLite, the server …); nothing of the file was kept.
    #[error("{path}: registry error: {source}")]
    Store {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl IngestFileError {
    /// Usage mistakes (exit 2) as opposed to bad data (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            IngestFileError::UnknownFormat { .. } | IngestFileError::Option { .. }
        )
    }
}

impl IngestFileError {
    /// The entry of a file that was not ingested, in an ingest report
    /// (`ingest --report-json`'s `files[]`, the Python `IngestReport`),
    /// beside the entries of the ingested files (`FileOutcome::to_json`).
    pub fn report_entry(&self, source: &SourceSpec) -> serde_json::Value {
        serde_json::json!({
            "path": source.path.display().to_string(),
            "label": source.label,
            "status": "failed",
            "error": self.to_string(),
        })
    }

    /// The message an ingest of `total` files ends with when some were
    /// refused, and whether it is a usage mistake: only when every refused
    /// file was one.
    pub fn summarize(refused: &[IngestFileError], total: usize) -> (String, bool) {
        let message = format!("{} of {total} files not ingested", refused.len());
        (message, refused.iter().all(IngestFileError::is_usage))
    }
}

impl IngestFileError {
    /// A reader's failure, located in the file at `path`.
    pub(crate) fn from_read(path: &str, error: ReadError) -> IngestFileError {
        match error {
            ReadError::Malformed { line, message } => IngestFileError::Malformed {
                path: path.to_string(),
                line,
                message,
            },
            ReadError::Io(source) => IngestFileError::Io {
                path: path.to_string(),
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_split_follows_the_reference() {
        assert_eq!(
            SourceSpec::parse("dover=runs/dover.jsonl"),
            SourceSpec {
                label: Some("dover".into()),
                path: "runs/dover.jsonl".into()
            }
        );
        assert_eq!(SourceSpec::parse("runs/dover.jsonl").label, None);
        assert_eq!(SourceSpec::parse("=x.jsonl").label, None);
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a=b.jsonl");
        std::fs::write(&odd, "").unwrap();
        assert_eq!(
            SourceSpec::parse(odd.to_str().unwrap()).label,
            None,
            "an existing path is never split"
        );
    }
}
