//! The join: live registry scores × a streamed feature table → namespaced
//! `<prefix>_<slug>_{score,status,runtime_ms,frames,source}` columns.
//!
//! Memory holds the index of the selected scorers and one batch of the
//! table. Everything that can make an export fail (key mismatch, missing or
//! bad rows under `fail`) is decided after the last batch and before the
//! output is renamed into place, so a failed export leaves no file.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::digest::ScoreSetDigest;
use crate::frames::{match_frame, FrameMatch, PoolStat, StoredFrame, FRAME_COLUMNS};
use crate::key::{find_candidate, KeyNormalize, REFERENCE_KEY_FIELDS};
use crate::registry::exports::{ExportRecord, LiveScorer};
use crate::registry::{Registry, RegistryError};
use crate::scorer::{slug, Scale};
use crate::table::{
    AddedColumns, AddedField, Batch, ColumnKind, ColumnUnion, ColumnValues, KeyColumn, TableError,
    TableFormat, TableReader, TableWriter, TextColumn,
};

/// Key columns of feature tables the reference misses: the fork's corpora
/// key clips by `src` and `src_sha256`.
pub const EXTRA_TABLE_KEY_FIELDS: &[&str] = &["src", "src_sha256", "video_name", "key"];

/// The five columns written per scorer, in order.
pub const COLUMN_SUFFIXES: &[(&str, ColumnKind)] = &[
    ("score", ColumnKind::Float),
    ("status", ColumnKind::Text),
    ("runtime_ms", ColumnKind::Float),
    ("frames", ColumnKind::Int),
    ("source", ColumnKind::Text),
];

/// What to do with rows that lack a score (`missing`) or hold a bad one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RowPolicy {
    /// Keep the row; its status column says what happened.
    #[default]
    Mark,
    /// Leave the row out of the output.
    Drop,
    /// Write nothing and fail.
    Fail,
}

impl RowPolicy {
    pub fn name(self) -> &'static str {
        match self {
            RowPolicy::Mark => "mark",
            RowPolicy::Drop => "drop",
            RowPolicy::Fail => "fail",
        }
    }
}

impl FromStr for RowPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mark" => Ok(RowPolicy::Mark),
            "drop" => Ok(RowPolicy::Drop),
            "fail" => Ok(RowPolicy::Fail),
            other => Err(format!(
                "unknown policy '{other}' (expected mark, drop or fail)"
            )),
        }
    }
}

/// How an export joins and writes.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Scorer names (any spelling of the slug); `None`: every live scorer.
    pub scorers: Option<Vec<String>>,
    pub key_column: Option<String>,
    /// `None` means `auto`, not chosen by the user.
    pub key_normalize: Option<KeyNormalize>,
    pub missing_policy: RowPolicy,
    pub bad_policy: RowPolicy,
    pub prefix: String,
    pub overwrite: bool,
    pub out_format: Option<TableFormat>,
    /// Write multi-output scorers' components as columns (`--no-components` turns it off).
    pub components: bool,
    /// Add `<prefix>_<slug>_score_norm`: 0–100, higher always better.
    pub normalize: bool,
    /// The table's frame column (default: the first of [`FRAME_COLUMNS`]
    /// present); with one, rows join on (key, frame).
    pub frame_column: Option<String>,
    /// How the table numbers its frames (default 1 for a column `n`, as
    /// ffmpeg-quality-metrics writes it, else 0).
    pub frame_base: Option<i64>,
    pub frame_match: FrameMatch,
    /// The largest distance to a scored frame `nearest`/`previous` accept.
    pub max_frame_gap: Option<u64>,
    /// `--pool`: statistics over each clip's stored frames, as
    /// `<prefix>_<slug>_score_<stat>` columns.
    pub pool: Vec<PoolStat>,
    /// Join per frame when the table has a frame column (`materialize`,
    /// like the reference, always joins per clip).
    pub per_frame: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            scorers: None,
            key_column: None,
            key_normalize: None,
            missing_policy: RowPolicy::Mark,
            bad_policy: RowPolicy::Mark,
            prefix: "second_opinion".to_string(),
            overwrite: false,
            out_format: None,
            components: true,
            normalize: false,
            frame_column: None,
            frame_base: None,
            frame_match: FrameMatch::Exact,
            max_frame_gap: None,
            pool: Vec::new(),
            per_frame: true,
        }
    }
}

/// Why an export wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A mistake in the command line (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The data does not allow the export (exit 1).
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ExportError {
    pub fn is_usage(&self) -> bool {
        matches!(self, ExportError::Usage(_))
    }
}

/// Per-scorer counts of one export.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ScorerExportCounts {
    pub name: String,
    pub slug: String,
    pub column_prefix: String,
    /// Live scores in the registry for this scorer.
    pub loaded: u64,
    /// Table rows that found a score (ok or bad).
    pub matched: u64,
    /// Table rows without a score.
    pub missing: u64,
    /// Table rows whose score is bad.
    pub bad: u64,
    /// Registry scores whose key matches no table row.
    pub unmatched: u64,
    /// The first ten unmatched keys, sorted.
    pub unmatched_keys: Vec<String>,
    /// Digest of the live scores read.
    pub digest: String,
    /// Component columns written (their suffixes).
    pub components: Vec<String>,
    /// The `--scorer-version`s of the files the scores came from.
    pub versions: Vec<String>,
    /// The range and direction `--normalize` used.
    pub normalized_with: Option<String>,
}

/// What an export did; becomes the report JSON and the `exports` record.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub features_path: String,
    pub features_sha256: String,
    pub features_size: u64,
    pub output_path: String,
    pub output_sha256: String,
    pub output_size: u64,
    pub output_format: TableFormat,
    pub key_column: String,
    pub key_normalize: KeyNormalize,
    pub input_rows: u64,
    pub output_rows: u64,
    pub scorers: Vec<ScorerExportCounts>,
    pub registry_digest: String,
    pub options: Value,
}

impl ExportSummary {
    /// The report (`export --report-json`): strict, keys sorted.
    pub fn to_json(&self) -> Value {
        json!({
            "feature_table": {"path": self.features_path, "sha256": self.features_sha256, "size_bytes": self.features_size},
            "output": {"path": self.output_path, "sha256": self.output_sha256, "size_bytes": self.output_size,
                       "format": self.output_format.name()},
            "key_column": self.key_column,
            "key_normalize": self.key_normalize.name(),
            "input_rows": self.input_rows,
            "output_rows": self.output_rows,
            "options": self.options,
            "registry_digest": self.registry_digest,
            "scorers": self.scorers.iter().map(|s| (s.name.clone(), json!({
                "slug": s.slug,
                "column_prefix": s.column_prefix,
                "loaded": s.loaded,
                "matched": s.matched,
                "missing": s.missing,
                "bad": s.bad,
                "unmatched": s.unmatched,
                "unmatched_keys": s.unmatched_keys,
                "digest": s.digest,
                "components": s.components,
                "versions": s.versions,
                "normalized_with": s.normalized_with,
            }))).collect::<serde_json::Map<_, _>>(),
            "tool_version": crate::TOOL_VERSION,
        })
    }

    /// The registry record of this export.
    pub fn record(&self, command: &str) -> ExportRecord {
        ExportRecord {
            id: 0,
            created_at: String::new(),
            command: command.to_string(),
            features_path: self.features_path.clone(),
            features_sha256: self.features_sha256.clone(),
            output_path: self.output_path.clone(),
            output_sha256: self.output_sha256.clone(),
            output_format: self.output_format.name().to_string(),
            input_rows: self.input_rows,
            output_rows: self.output_rows,
            scorers: json!(self.scorers.iter().map(|s| &s.name).collect::<Vec<_>>()),
            options: self.options.clone(),
            registry_state: self
                .scorers
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        json!({"live_rows": s.loaded, "digest": s.digest}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            registry_digest: self.registry_digest.clone(),
            tool_version: crate::TOOL_VERSION.to_string(),
        }
    }
}

/// Scores held in memory for one export, as `materialize` reads them
/// when no registry is kept: the scorers by slug, each score with its key.
#[derive(Default)]
pub struct MemoryScores {
    scorers: BTreeMap<String, MemoryScorer>,
    /// Source files as (path as given, sha256).
    sources: Vec<(String, String)>,
}

struct MemoryScorer {
    name: String,
    by_key: KeyIndex,
    scores: Vec<IndexedScore>,
    /// Where each score came from: (source, line).
    origins: Vec<(u32, u64)>,
    /// The digest of the scores held, kept up as they arrive.
    digest: ScoreSetDigest,
}

/// Where a score already held came from, when a second one arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldScore {
    pub path: String,
    pub line: u64,
}

impl MemoryScores {
    /// Register a score file; returns its id for [`MemoryScores::insert`].
    pub fn add_source(&mut self, path: &str, sha256: &str) -> u32 {
        self.sources.push((path.to_string(), sha256.to_string()));
        (self.sources.len() - 1) as u32
    }

    /// Whether `slug` already holds scores from another file (not
    /// `except`) with these bytes.
    pub fn holds_bytes(&self, slug: &str, sha256: &str, except: u32) -> bool {
        self.scorers.get(slug).is_some_and(|scorer| {
            scorer
                .origins
                .iter()
                .any(|(source, _)| *source != except && self.sources[*source as usize].1 == sha256)
        })
    }

    /// Hold one score; a second score for the same scorer and key is
    /// refused with where the first came from, and the key handed back.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        slug: &str,
        name: &str,
        key: String,
        score: Option<f64>,
        bad: bool,
        runtime_ms: Option<f64>,
        frame_count: i64,
        source: u32,
        line: u64,
    ) -> Result<(), (HeldScore, String)> {
        // Looked up by &str first: the slug is copied once per scorer, not per score.
        if !self.scorers.contains_key(slug) {
            self.scorers.insert(
                slug.to_string(),
                MemoryScorer {
                    name: name.to_string(),
                    by_key: KeyIndex::default(),
                    scores: Vec::new(),
                    origins: Vec::new(),
                    digest: ScoreSetDigest::default(),
                },
            );
        }
        let scorer = self.scorers.get_mut(slug).expect("inserted above");
        let position = scorer.scores.len();
        match scorer.by_key.entry(key) {
            std::collections::hash_map::Entry::Occupied(held) => {
                let (held_source, held_line) = scorer.origins[*held.get()];
                let key = held.key().clone();
                return Err((
                    HeldScore {
                        path: self.sources[held_source as usize].0.clone(),
                        line: held_line,
                    },
                    key,
                ));
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                scorer.digest.add(source as usize, vacant.key(), score, bad);
                vacant.insert(position);
            }
        }
        scorer.scores.push(IndexedScore {
            score,
            bad,
            runtime_ms,
            frame_count,
            source,
        });
        scorer.origins.push((source, line));
        Ok(())
    }

    /// The registered name of every scorer held, in slug order.
    pub fn scorer_names(&self) -> Vec<String> {
        self.scorers.values().map(|s| s.name.clone()).collect()
    }

    /// The export index: the same columns, counts and digests as a registry
    /// holding these scores would give.
    fn into_indexes(
        self,
        options: &ExportOptions,
    ) -> Result<(Vec<ScorerIndex>, Vec<String>), ExportError> {
        if options.normalize || !options.pool.is_empty() || options.per_frame {
            return Err(ExportError::Usage(
                "scores held in memory export per clip, without --normalize or --pool".to_string(),
            ));
        }
        let MemoryScores { scorers, sources } = self;
        let indexes = scorers
            .into_iter()
            .map(|(slug, scorer)| {
                let digest = scorer.digest.finish(|source| &sources[source].1);
                ScorerIndex {
                    counts: ScorerExportCounts {
                        column_prefix: format!("{}_{}", options.prefix, slug),
                        name: scorer.name,
                        slug,
                        loaded: scorer.scores.len() as u64,
                        digest,
                        ..Default::default()
                    },
                    matched: vec![false; scorer.scores.len()],
                    by_key: scorer.by_key,
                    scores: scorer.scores,
                    normalization: None,
                    frames: Vec::new(),
                    pooled: Vec::new(),
                    components: Vec::new(),
                }
            })
            .collect();
        let sources = sources.into_iter().map(|(path, _)| path).collect();
        Ok((indexes, sources))
    }
}

/// Clip key → position of its score. Looked up for every row of every
/// scorer, with keys that are not attacker-controlled: a fast hash (Fx)
/// rather than SipHash.
type KeyIndex = rustc_hash::FxHashMap<String, usize>;

/// One scorer's live scores, keyed for the join.
struct ScorerIndex {
    counts: ScorerExportCounts,
    by_key: KeyIndex,
    scores: Vec<IndexedScore>,
    matched: Vec<bool>,
    normalization: Option<Normalization>,
    /// Each score's stored frames (index, value, runtime), sorted by index;
    /// loaded only for per-frame tables and `--pool`.
    frames: Vec<Vec<StoredFrame>>,
    /// Per `--pool` statistic, its value per score position.
    pooled: Vec<Vec<Option<f64>>>,
    /// Component column suffix → value per score position.
    components: Vec<(String, Vec<Option<f64>>)>,
}

/// Maps a score to 0–100 with higher always better.
#[derive(Clone, Copy, Debug)]
struct Normalization {
    range: Scale,
    higher_is_better: bool,
}

impl Normalization {
    fn apply(self, value: f64) -> f64 {
        let share = 100.0 * (value - self.range.min) / (self.range.max - self.range.min);
        if self.higher_is_better {
            share
        } else {
            100.0 - share
        }
    }
}

/// Column suffixes a component may not take: they name the standard columns.
const RESERVED_SUFFIXES: &[&str] = &[
    "score",
    "status",
    "runtime_ms",
    "frames",
    "source",
    "score_norm",
];

/// The column suffix of a component: its slug, set apart from the standard
/// columns when they would collide.
fn component_suffix(name: &str) -> String {
    let suffix = slug(name);
    if RESERVED_SUFFIXES.contains(&suffix.as_str()) {
        format!("component_{suffix}")
    } else {
        suffix
    }
}

/// What a table row joined to.
#[derive(Clone, Copy, Debug)]
enum Hit {
    /// The clip's score (a clip-level table, or a clip scored without frames).
    Clip(usize),
    /// One stored frame of the clip: (score position, frame position).
    Frame(usize, usize),
}

impl Hit {
    fn position(self) -> usize {
        match self {
            Hit::Clip(position) | Hit::Frame(position, _) => position,
        }
    }
}

struct IndexedScore {
    score: Option<f64>,
    bad: bool,
    runtime_ms: Option<f64>,
    frame_count: i64,
    source: u32,
}

/// Export the registry onto `features`, writing `out`.
pub fn export(
    registry: &Registry,
    features: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    export_with(
        |per_frame| registry.read_snapshot(|r| load_indexes(r, options, per_frame)),
        features,
        out,
        options,
    )
}

/// Export scores held in memory (`materialize` without a registry): the
/// same join, without a round trip through SQLite.
pub fn export_scores(
    scores: MemoryScores,
    features: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    export_with(|_| scores.into_indexes(options), features, out, options)
}

/// Export scores held in memory onto a table opened beforehand (see
/// [`OpenedTable::open`]): the same as [`export_scores`], for a caller that
/// opened the table while it read the scores.
pub fn export_scores_opened(
    scores: MemoryScores,
    opened: OpenedTable,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    export_opened(|_| scores.into_indexes(options), opened, out, options)
}

/// The export, given how to load the score index (told whether the table
/// is per-frame).
fn export_with(
    load: impl FnOnce(bool) -> Result<(Vec<ScorerIndex>, Vec<String>), ExportError>,
    features: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    let opened = OpenedTable::open(features, out, options)?;
    export_opened(load, opened, out, options)
}

/// A feature table opened for an export: everything an export does before
/// it needs the scores, so a caller may do it while the scores are read.
pub struct OpenedTable {
    features: PathBuf,
    features_shown: String,
    in_format: TableFormat,
    out_format: TableFormat,
    /// The table's sha256, worked out on another thread while the export
    /// runs, not by reading the table again at the end.
    features_hash: std::thread::JoinHandle<std::io::Result<String>>,
    reader: TableReader,
    first: Option<Batch>,
    columns: Vec<String>,
}

impl OpenedTable {
    /// Check the formats, open `features` and read its first batch, failing
    /// as an export does at its start.
    pub fn open(
        features: &Path,
        out: &Path,
        options: &ExportOptions,
    ) -> Result<OpenedTable, ExportError> {
        let features_shown = features.display().to_string();
        let in_format = TableFormat::from_path(features).ok_or_else(|| {
            ExportError::Usage(format!(
                "{features_shown}: cannot tell the table format from the file name (expected one of: {})",
                TableFormat::names()
            ))
        })?;
        let out_format = match options.out_format {
            Some(format) => format,
            None => TableFormat::from_path(out).ok_or_else(|| {
                ExportError::Usage(format!(
                    "{}: cannot tell the output format from the file name; pass --out-format ({})",
                    out.display(),
                    TableFormat::names()
                ))
            })?,
        };
        if !features.is_file() {
            return Err(ExportError::Data(format!(
                "{features_shown}: no such feature table"
            )));
        }
        let features_hash = {
            let path = features.to_path_buf();
            std::thread::spawn(move || crate::digest::sha256_file(&path))
        };
        let mut reader = TableReader::open(features, in_format, out_format)?;
        let first = reader.next_batch()?;
        // Column names: known up front, or (JSON Lines) from the first batch.
        let columns: Vec<String> = if reader.columns_known() {
            reader.columns().to_vec()
        } else {
            let mut names = ColumnUnion::default();
            if let Some(Batch::Rows(rows)) = &first {
                rows.iter().for_each(|row| names.add(row));
            }
            names.into_names()
        };
        Ok(OpenedTable {
            features: features.to_path_buf(),
            features_shown,
            in_format,
            out_format,
            features_hash,
            reader,
            first,
            columns,
        })
    }
}

/// The export onto an opened table.
fn export_opened(
    load: impl FnOnce(bool) -> Result<(Vec<ScorerIndex>, Vec<String>), ExportError>,
    opened: OpenedTable,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    let OpenedTable {
        features,
        features_shown,
        in_format,
        out_format,
        features_hash,
        reader,
        mut first,
        columns,
    } = opened;
    let features = features.as_path();
    let key_column = resolve_key_column(&columns, options.key_column.as_deref(), &features_shown)?;
    let key_normalize = options.key_normalize.unwrap_or_default();
    let frame_column = if options.per_frame {
        resolve_frame_column(&columns, options.frame_column.as_deref(), &features_shown)?
    } else {
        None
    };
    let (mut indexes, sources) = load(frame_column.is_some())?;
    // Every row of a status or source column shares one of these strings.
    let sources: Vec<Arc<str>> = sources.into_iter().map(Arc::from).collect();
    let (ok, bad_status, missing, no_source): (Arc<str>, Arc<str>, Arc<str>, Arc<str>) =
        ("ok".into(), "bad".into(), "missing".into(), "".into());
    let frame_base = options
        .frame_base
        .unwrap_or(if frame_column.as_deref() == Some("n") {
            1
        } else {
            0
        });

    let added: Vec<AddedField> = indexes
        .iter()
        .flat_map(|index| {
            let prefix = &index.counts.column_prefix;
            let standard = COLUMN_SUFFIXES
                .iter()
                .map(|(suffix, kind)| (suffix.to_string(), *kind));
            let norm = index
                .normalization
                .map(|_| ("score_norm".to_string(), ColumnKind::Float));
            let pooled = options
                .pool
                .iter()
                .map(|stat| (format!("score_{stat}"), ColumnKind::Float));
            let components = index
                .components
                .iter()
                .map(|(suffix, _)| (suffix.clone(), ColumnKind::Float));
            standard
                .chain(norm)
                .chain(pooled)
                .chain(components)
                .map(move |(suffix, kind)| AddedField {
                    name: format!("{prefix}_{suffix}"),
                    kind,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let existing: Vec<&str> = added
        .iter()
        .map(|f| f.name.as_str())
        .filter(|name| columns.iter().any(|c| c == name))
        .collect();
    if !existing.is_empty() && !options.overwrite {
        return Err(ExportError::Data(format!(
            "refusing to overwrite existing second-opinion columns: {}",
            existing.join(", ")
        )));
    }

    // Other ways of keying the table, counted as the table streams, so a
    // key mismatch can be explained with the fix.
    let alternatives: Vec<(String, KeyNormalize)> = key_candidates(&columns)
        .into_iter()
        .chain(std::iter::once(key_column.clone()))
        .flat_map(|column| {
            [
                KeyNormalize::Raw,
                KeyNormalize::Basename,
                KeyNormalize::Stem,
            ]
            .into_iter()
            .map(move |n| (column.clone(), n))
        })
        .filter(|(column, n)| !(column == &key_column && *n == key_normalize.resolve(&key_column)))
        .fold(Vec::new(), |mut all, alt| {
            if !all.contains(&alt) {
                all.push(alt);
            }
            all
        });
    let mut alternative_matches = vec![0u64; alternatives.len()];
    let mut key_matches = 0u64;

    let directory = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temporary = tempfile::Builder::new()
        .prefix(".second-opinion-")
        .suffix(".partial")
        .tempfile_in(&directory)
        .map_err(|e| {
            ExportError::Data(format!("{}: cannot create the output: {e}", out.display()))
        })?;
    let file = temporary
        .reopen()
        .map_err(|e| ExportError::Data(format!("{}: {e}", out.display())))?;
    let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let out_shown = out.display().to_string();
    let mut writer = TableWriter::new(sink, out_format, &reader, &added, &out_shown)?;

    let prefix_marker = format!("{}_", options.prefix);
    // The key column's normalisation, resolved once rather than per row.
    let resolved_normalize = key_normalize.resolve(&key_column);
    // Status and source columns are codes into these strings: source `i`
    // is code `i + 1`, code 0 the empty source of a row without a score.
    let statuses: Vec<Arc<str>> = vec![ok, bad_status, missing];
    let (status_ok, status_bad, status_missing) = (0u32, 1u32, 2u32);
    let source_strings: Vec<Arc<str>> = std::iter::once(no_source)
        .chain(sources.iter().cloned())
        .collect();
    let added_names: Vec<String> = added.iter().map(|f| f.name.clone()).collect();
    let mut input_rows = 0u64;
    let mut output_rows = 0u64;
    let mut batch = first.take();
    let mut batches = Prefetch::start(reader, in_format);
    while let Some(current) = batch {
        let rows = current.num_rows();
        refuse_existing_in_rows(&current, &prefix_marker, &added, options.overwrite)?;
        let keys = current.key_column(&key_column);
        // Runs of rows with the same key (a per-frame table holds a clip's
        // frames one after another) are looked up once per scorer.
        let mut run_of_row: Vec<u32> = Vec::with_capacity(rows);
        let mut run_keys: Vec<Option<&str>> = Vec::new();
        for row in 0..rows {
            let key = keys
                .get(row)
                .map(|raw| resolved_normalize.apply_resolved(raw));
            if run_keys.last() != Some(&key) {
                run_keys.push(key);
            }
            run_of_row.push((run_keys.len() - 1) as u32);
        }
        let table_frames: Option<Vec<Option<i64>>> = frame_column.as_ref().map(|column| {
            let frames = current.key_column(column);
            (0..rows)
                .map(|row| frame_number(frames.get(row)?)?.checked_sub(frame_base))
                .collect()
        });
        let mut values: Vec<ColumnValues> = Vec::with_capacity(added.len());
        let mut keep = vec![true; rows];
        let mut any_match = vec![false; rows];
        for index in indexes.iter_mut() {
            let mut score = Vec::with_capacity(rows);
            let mut status = Vec::with_capacity(rows);
            let mut runtime = Vec::with_capacity(rows);
            let mut frames = Vec::with_capacity(rows);
            let mut source = Vec::with_capacity(rows);
            let run_positions: Vec<Option<usize>> = run_keys
                .iter()
                .map(|key| key.and_then(|key| index.by_key.get(key)).copied())
                .collect();
            // What each row takes: the clip's score, one of its frames, or nothing.
            let hits: Vec<Option<Hit>> = run_of_row
                .iter()
                .enumerate()
                .map(|(row, run)| {
                    let position = run_positions[*run as usize]?;
                    match (&table_frames, index.frames.get(position)) {
                        (Some(table_frames), Some(clip_frames)) if !clip_frames.is_empty() => {
                            let target = table_frames[row]?;
                            let matched = match_frame(
                                clip_frames,
                                target,
                                options.frame_match,
                                options.max_frame_gap,
                            )?;
                            Some(Hit::Frame(position, matched))
                        }
                        _ => Some(Hit::Clip(position)),
                    }
                })
                .collect();
            for (row, hit) in hits.iter().enumerate() {
                let Some(hit) = hit else {
                    index.counts.missing += 1;
                    score.push(None);
                    status.push(status_missing);
                    runtime.push(None);
                    frames.push(0);
                    source.push(0);
                    if options.missing_policy == RowPolicy::Drop {
                        keep[row] = false;
                    }
                    continue;
                };
                let position = hit.position();
                let clip = &index.scores[position];
                index.matched[position] = true;
                index.counts.matched += 1;
                any_match[row] = true;
                let (value, row_runtime, bad) = match *hit {
                    Hit::Clip(_) => (clip.score, clip.runtime_ms, clip.bad),
                    Hit::Frame(_, frame) => {
                        let (_, value, frame_runtime) = index.frames[position][frame];
                        // A clip the scorer failed (or that left its scale)
                        // is bad in every frame, whatever the frame says.
                        (value, frame_runtime, clip.bad || value.is_none())
                    }
                };
                score.push(value);
                runtime.push(row_runtime);
                frames.push(clip.frame_count);
                source.push(clip.source + 1);
                if bad {
                    index.counts.bad += 1;
                    status.push(status_bad);
                    if options.bad_policy == RowPolicy::Drop {
                        keep[row] = false;
                    }
                } else {
                    status.push(status_ok);
                }
            }
            let clip_of_row: Vec<Option<usize>> =
                hits.iter().map(|hit| hit.map(|h| h.position())).collect();
            let normalized = index.normalization.map(|normalization| {
                score
                    .iter()
                    .map(|v| v.map(|v| normalization.apply(v)))
                    .collect::<Vec<_>>()
            });
            values.push(ColumnValues::Float(score));
            values.push(ColumnValues::Text(TextColumn {
                strings: statuses.clone(),
                codes: status,
            }));
            values.push(ColumnValues::Float(runtime));
            values.push(ColumnValues::Int(frames));
            values.push(ColumnValues::Text(TextColumn {
                strings: source_strings.clone(),
                codes: source,
            }));
            if let Some(normalized) = normalized {
                values.push(ColumnValues::Float(normalized));
            }
            for pooled in &index.pooled {
                values.push(ColumnValues::Float(
                    clip_of_row
                        .iter()
                        .map(|p| p.and_then(|p| pooled[p]))
                        .collect(),
                ));
            }
            for (_, component) in &index.components {
                values.push(ColumnValues::Float(
                    clip_of_row
                        .iter()
                        .map(|p| p.and_then(|p| component[p]))
                        .collect(),
                ));
            }
        }
        key_matches += any_match.iter().filter(|m| **m).count() as u64;
        count_alternatives(
            &current,
            (&key_column, &keys),
            &alternatives,
            &indexes,
            &mut alternative_matches,
        );
        drop(run_keys);
        drop(keys);
        input_rows += rows as u64;
        output_rows += keep.iter().filter(|k| **k).count() as u64;
        let added_columns = AddedColumns {
            names: added_names.clone(),
            values,
        };
        writer.write(current, &added_columns, &keep)?;
        batch = batches.next_batch()?;
    }

    check_key_match(
        input_rows,
        key_matches,
        &key_column,
        key_normalize.resolve(&key_column),
        &alternatives,
        &alternative_matches,
        options,
    )?;
    for (policy, what, count) in [
        (
            options.missing_policy,
            "missing",
            (|c| c.missing) as fn(&ScorerExportCounts) -> u64,
        ),
        (options.bad_policy, "bad", |c| c.bad),
    ] {
        let offenders: Vec<String> = indexes
            .iter()
            .filter(|i| count(&i.counts) > 0)
            .map(|i| format!("{}={}", i.counts.name, count(&i.counts)))
            .collect();
        if policy == RowPolicy::Fail && !offenders.is_empty() {
            return Err(ExportError::Data(format!(
                "{what} second-opinion scores: {}",
                offenders.join(", ")
            )));
        }
    }

    let sink = writer.finish()?;
    let (buffered, output_sha256, output_size) = sink.finish();
    let file = buffered
        .into_inner()
        .map_err(|e| ExportError::Data(format!("{}: {}", out.display(), e.error())))?;
    drop(file);
    let features_sha256 = features_hash
        .join()
        .expect("the hashing thread does not panic")
        .map_err(|e| ExportError::Data(format!("{features_shown}: {e}")))?;
    let features_size = std::fs::metadata(features).map(|m| m.len()).unwrap_or(0);
    crate::atomic_file::publish(temporary, out).map_err(|e| {
        ExportError::Data(format!("{}: cannot write the output: {e}", out.display()))
    })?;

    let mut digest = Sha256::new();
    for index in &mut indexes {
        let mut unmatched: Vec<&str> = index
            .by_key
            .iter()
            .filter(|(_, position)| !index.matched[**position])
            .map(|(key, _)| key.as_str())
            .collect();
        unmatched.sort_unstable();
        index.counts.unmatched = unmatched.len() as u64;
        index.counts.unmatched_keys = unmatched.iter().take(10).map(|k| k.to_string()).collect();
        digest.update(index.counts.slug.as_bytes());
        digest.update(b"=");
        digest.update(index.counts.digest.as_bytes());
        digest.update(b"\n");
    }
    Ok(ExportSummary {
        features_path: features_shown,
        features_sha256,
        features_size,
        output_path: out.display().to_string(),
        output_sha256,
        output_size,
        output_format: out_format,
        key_column,
        key_normalize,
        input_rows,
        output_rows,
        registry_digest: crate::digest::hex(&digest.finalize()),
        options: json!({
            "scorers": options.scorers,
            "key_column": options.key_column,
            "key_normalize": key_normalize.name(),
            "missing_policy": options.missing_policy.name(),
            "bad_policy": options.bad_policy.name(),
            "prefix": options.prefix,
            "overwrite": options.overwrite,
            "out_format": out_format.name(),
            "components": options.components,
            "normalize": options.normalize,
            "frame_column": frame_column,
            "frame_base": frame_column.as_ref().map(|_| frame_base),
            "frame_match": options.frame_match.name(),
            "max_frame_gap": options.max_frame_gap,
            "pool": options.pool.iter().map(|s| s.name()).collect::<Vec<_>>(),
        }),
        scorers: {
            let counts = indexes
                .iter_mut()
                .map(|i| std::mem::take(&mut i.counts))
                .collect();
            drop_elsewhere(indexes);
            counts
        },
    })
}

/// Free `value` on a short-lived thread: the score index holds a string per
/// key, and freeing hundreds of thousands of them is work the export's
/// result does not wait for (a command-line run exits meanwhile).
fn drop_elsewhere<T: Send + 'static>(value: T) {
    // Should no thread start, the closure, and the value with it, is
    // dropped here.
    let _detached = std::thread::Builder::new().spawn(move || drop(value));
}

/// The selected scorers' live scores, and the interned source paths.
fn load_indexes(
    registry: &Registry,
    options: &ExportOptions,
    per_frame: bool,
) -> Result<(Vec<ScorerIndex>, Vec<String>), ExportError> {
    let live = registry.live_scorers()?;
    let mut selected: Vec<LiveScorer> = match &options.scorers {
        None => live,
        Some(names) => {
            let mut selected = Vec::new();
            for name in names {
                let wanted = slug(name);
                match live.iter().find(|s| s.slug == wanted) {
                    Some(scorer)
                        if !selected.iter().any(|s: &LiveScorer| s.slug == scorer.slug) =>
                    {
                        selected.push(scorer.clone())
                    }
                    Some(_) => {}
                    None => {
                        let known: Vec<&str> = live.iter().map(|s| s.name.as_str()).collect();
                        return Err(ExportError::Data(format!(
                            "no live scores for scorer '{name}' in the registry (scorers with scores: {})",
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        )));
                    }
                }
            }
            selected
        }
    };
    // Columns come in slug order whatever order --scorers named them in,
    // so the same selection always writes the same bytes.
    selected.sort_by(|a, b| a.slug.cmp(&b.slug));
    if selected.is_empty() {
        return Err(ExportError::Data(format!(
            "registry {} holds no live scores: ingest score files first",
            registry.path().display()
        )));
    }
    let source_files = registry.source_files()?;
    let mut sources: Vec<String> = Vec::new();
    // The sha256 of each interned source, for the digests.
    let mut source_sha256: Vec<String> = Vec::new();
    let mut source_ids: HashMap<i64, u32> = HashMap::new();
    let mut indexes = Vec::with_capacity(selected.len());
    for scorer in selected {
        let mut by_key = KeyIndex::default();
        let mut indexed = Vec::new();
        // The same order-independent digest as scores held in memory get
        // (the registry's own, over its key order, is not used), so equal
        // scores give equal digests either way.
        let mut digest = ScoreSetDigest::default();
        registry.visit_live_scores(&scorer, |score| {
            let source = *source_ids.entry(score.source_file_id).or_insert_with(|| {
                let file = source_files.get(&score.source_file_id);
                sources.push(file.map(|f| f.path.clone()).unwrap_or_default());
                source_sha256.push(file.map(|f| f.sha256.clone()).unwrap_or_default());
                (sources.len() - 1) as u32
            });
            digest.add(source as usize, &score.key, score.score, score.bad);
            by_key.insert(score.key, indexed.len());
            indexed.push(IndexedScore {
                score: score.score,
                bad: score.bad,
                runtime_ms: score.runtime_ms,
                frame_count: score.frame_count,
                source,
            });
        })?;
        let mut components: Vec<(String, Vec<Option<f64>>)> = Vec::new();
        if options.components {
            registry.visit_live_components(&scorer, |key, name, value| {
                let suffix = component_suffix(name);
                if components.last().is_none_or(|(last, _)| *last != suffix) {
                    components.push((suffix, vec![None; indexed.len()]));
                }
                if let (Some(position), Some((_, values))) =
                    (by_key.get(key), components.last_mut())
                {
                    values[*position] = value;
                }
            })?;
        }
        let normalization = if options.normalize {
            match (scorer.range, scorer.higher_is_better) {
                (Some(range), Some(higher_is_better)) => Some(Normalization {
                    range,
                    higher_is_better,
                }),
                _ => {
                    return Err(ExportError::Data(format!(
                        "cannot normalise scorer '{}': it has no {} \
                         (declare them at ingest with --scale MIN:MAX and --higher-is-better/--lower-is-better)",
                        scorer.name,
                        if scorer.range.is_none() { "bounded scale" } else { "known direction" }
                    )))
                }
            }
        } else {
            None
        };
        // Frames are held only when a row can take one, or pooling needs them.
        let mut frames: Vec<Vec<StoredFrame>> = Vec::new();
        if per_frame || !options.pool.is_empty() {
            frames = vec![Vec::new(); indexed.len()];
            registry.visit_live_frames(&scorer, |key, frame| {
                if let Some(position) = by_key.get(key) {
                    frames[*position].push(frame);
                }
            })?;
        }
        let pooled: Vec<Vec<Option<f64>>> = options
            .pool
            .iter()
            .map(|stat| {
                frames
                    .iter()
                    .map(|clip| {
                        let mut finite: Vec<f64> = clip.iter().filter_map(|(_, v, _)| *v).collect();
                        finite.sort_by(f64::total_cmp);
                        stat.of(&finite)
                    })
                    .collect()
            })
            .collect();
        if !per_frame {
            frames = Vec::new();
        }
        let versions = registry.live_versions(&scorer)?;
        indexes.push(ScorerIndex {
            counts: ScorerExportCounts {
                column_prefix: format!("{}_{}", options.prefix, scorer.slug),
                name: scorer.name,
                slug: scorer.slug,
                loaded: indexed.len() as u64,
                digest: digest.finish(|source| &source_sha256[source]),
                components: components
                    .iter()
                    .map(|(suffix, _)| suffix.clone())
                    .collect(),
                versions,
                normalized_with: normalization.map(|n| {
                    format!(
                        "{} {}",
                        n.range,
                        if n.higher_is_better {
                            "higher-is-better"
                        } else {
                            "lower-is-better"
                        }
                    )
                }),
                ..Default::default()
            },
            matched: vec![false; indexed.len()],
            by_key,
            scores: indexed,
            normalization,
            frames,
            pooled,
            components,
        });
    }
    Ok((indexes, sources))
}

/// The table's next batches, decoded on another thread while the export
/// joins and writes the current one, when the table is text (parsing it
/// costs about as much as the join) and there is a second core. Parquet and
/// Arrow IPC decode cheaply: there a thread costs more (measured on W3) than
/// it saves. Batches and errors arrive in table order, so a failure is met
/// where it was.
enum Prefetch {
    Here(TableReader),
    Thread(std::sync::mpsc::Receiver<Result<Option<Batch>, TableError>>),
}

impl Prefetch {
    fn start(mut reader: TableReader, format: TableFormat) -> Prefetch {
        if format.is_columnar() || std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return Prefetch::Here(reader);
        }
        // One batch ahead: memory grows by one batch, not by the table.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || loop {
            let next = reader.next_batch();
            let more = matches!(next, Ok(Some(_)));
            // Stop at the end, at an error, or when the export has stopped.
            if sender.send(next).is_err() || !more {
                break;
            }
        });
        Prefetch::Thread(receiver)
    }

    fn next_batch(&mut self) -> Result<Option<Batch>, TableError> {
        match self {
            Prefetch::Here(reader) => reader.next_batch(),
            Prefetch::Thread(receiver) => receiver
                .recv()
                .expect("the reading thread sends until the end or an error"),
        }
    }
}

/// Candidate key columns present in the table, in candidate order.
fn key_candidates(columns: &[String]) -> Vec<String> {
    REFERENCE_KEY_FIELDS
        .iter()
        .chain(EXTRA_TABLE_KEY_FIELDS)
        .filter_map(|candidate| find_candidate(columns.iter().map(String::as_str), &[candidate]))
        .map(str::to_string)
        .fold(Vec::new(), |mut all, c| {
            if !all.contains(&c) {
                all.push(c);
            }
            all
        })
}

fn resolve_key_column(
    columns: &[String],
    explicit: Option<&str>,
    path: &str,
) -> Result<String, ExportError> {
    match explicit {
        Some(name) if columns.iter().any(|c| c == name) => Ok(name.to_string()),
        Some(name) => Err(ExportError::Data(format!(
            "{path}: no column '{name}' (--key-column); its columns: {}",
            columns.join(", ")
        ))),
        None => key_candidates(columns).into_iter().next().ok_or_else(|| {
            ExportError::Data(format!(
                "{path}: cannot find a key column (looked for {}); pass --key-column",
                REFERENCE_KEY_FIELDS
                    .iter()
                    .chain(EXTRA_TABLE_KEY_FIELDS)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }),
    }
}

/// The table's frame column: `--frame-column`, else the first of
/// [`FRAME_COLUMNS`] present (ignoring case), else none (a clip table).
fn resolve_frame_column(
    columns: &[String],
    explicit: Option<&str>,
    path: &str,
) -> Result<Option<String>, ExportError> {
    match explicit {
        Some(name) if columns.iter().any(|c| c == name) => Ok(Some(name.to_string())),
        Some(name) => Err(ExportError::Data(format!(
            "{path}: no column '{name}' (--frame-column); its columns: {}",
            columns.join(", ")
        ))),
        None => Ok(
            find_candidate(columns.iter().map(String::as_str), FRAME_COLUMNS).map(str::to_string),
        ),
    }
}

/// A frame number as a table holds it: an integer, or a float with no
/// fraction (`12.0` from a JSON table read through pandas).
fn frame_number(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.fract() == 0.0 && v.abs() < 9e15)
            .map(|v| v as i64)
    })
}

/// JSON Lines rows may carry columns the first batch did not show: refuse a
/// second-opinion column there too, unless overwriting. A prefix test per
/// member keeps this cheap.
fn refuse_existing_in_rows(
    batch: &Batch,
    prefix_marker: &str,
    added: &[AddedField],
    overwrite: bool,
) -> Result<(), ExportError> {
    if overwrite {
        return Ok(());
    }
    if let Batch::Rows(rows) = batch {
        for row in rows {
            for (name, _) in &row.members {
                if name.starts_with(prefix_marker) && added.iter().any(|f| &f.name == name) {
                    return Err(ExportError::Data(format!(
                        "refusing to overwrite existing second-opinion columns: {name}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Count, for each alternative (column, normalisation), the rows of `batch`
/// whose key would match some scorer. `key` is the batch's key column,
/// already read. Runs of equal raw keys are judged once.
fn count_alternatives(
    batch: &Batch,
    key: (&str, &KeyColumn),
    alternatives: &[(String, KeyNormalize)],
    indexes: &[ScorerIndex],
    matches: &mut [u64],
) {
    let mut columns: BTreeMap<&str, KeyColumn> = BTreeMap::new();
    for (position, (column, normalize)) in alternatives.iter().enumerate() {
        let values = if column == key.0 {
            key.1
        } else {
            columns
                .entry(column.as_str())
                .or_insert_with(|| batch.key_column(column))
        };
        let normalize = normalize.resolve(column);
        let mut previous: Option<(&str, bool)> = None;
        let mut count = 0u64;
        for row in 0..values.len() {
            let Some(raw) = values.get(row) else {
                continue;
            };
            let matched = match previous {
                Some((last, matched)) if last == raw => matched,
                _ => {
                    let key = normalize.apply_resolved(raw);
                    let matched = indexes.iter().any(|index| index.by_key.contains_key(key));
                    previous = Some((raw, matched));
                    matched
                }
            };
            count += u64::from(matched);
        }
        matches[position] += count;
    }
}

/// Stop when fewer than half of the rows matched and another column or
/// normalisation would match far more, saying which flags fix it. When the
/// user chose both the column and the normalisation, a warning is enough.
fn check_key_match(
    rows: u64,
    matched: u64,
    key_column: &str,
    key_normalize: KeyNormalize,
    alternatives: &[(String, KeyNormalize)],
    alternative_matches: &[u64],
    options: &ExportOptions,
) -> Result<(), ExportError> {
    if rows == 0 || matched * 2 >= rows {
        return Ok(());
    }
    let best = alternatives
        .iter()
        .zip(alternative_matches)
        .max_by_key(|(_, count)| **count)
        .filter(|(_, count)| **count * 2 >= rows && **count >= (matched * 2).max(matched + 1));
    let Some(((column, normalize), count)) = best else {
        return Ok(());
    };
    let mut fix = Vec::new();
    if column != key_column {
        fix.push(format!("--key-column {column}"));
    }
    fix.push(format!("--key-normalize {}", normalize.name()));
    let message = format!(
        "{matched} of {rows} keys matched with {key_column}/{}; {column}/{} matches {count}: pass {}",
        key_normalize.name(),
        normalize.name(),
        fix.join(" ")
    );
    if options.key_column.is_some() && options.key_normalize.is_some() {
        eprintln!("second-opinion: warning: {message}");
        return Ok(());
    }
    Err(ExportError::Data(message))
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        let digest = crate::digest::hex(&self.hasher.finalize());
        (self.inner, digest, self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
