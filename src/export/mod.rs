//! Export: live registry scores × a streamed feature table → namespaced
//! `<prefix>_<slug>_{score,status,runtime_ms,frames,source}` columns.
//!
//! In stages, each a module: the score [`index`] is loaded (from the
//! registry in one snapshot, or from scores held in memory); the [`plan`]
//! chooses key and frame columns and the columns to add; each batch is
//! [`join`]ed; the [`verdict`] decides whether the key matched and the
//! policies allow the result; [`publish`] renames the output into place
//! and sums up what was read and written.
//!
//! Memory holds the index of the selected scorers and one batch of the
//! table. Everything that can make an export fail is decided after the
//! last batch and before the output is renamed into place, so a failed
//! export leaves no file.

pub mod cache;
mod index;
mod join;
mod joint_keys;
mod key_sample;
mod plan;
mod publish;
pub mod recorded;
pub mod scores_only;
pub mod strategy;
mod verdict;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{json, Value};

use crate::command_line::CommandLine;
use crate::frames::{FrameMatch, PoolStat};
use crate::key::{KeyNormalize, KeyNormalizeSetting};
use crate::registry::exports::{ExportRecord, PublishState};
use crate::registry::memory::MemoryScores;
use crate::registry::{Point, PointRef, Registry, RegistryError};
use crate::table::{Batch, ColumnKind, ColumnUnion, TableError, TableFormat, TableReader};
use crate::threads::Background;

use crate::table::ipc_digest::IpcDigest;
use crate::table::BatchIterator;
use index::{load_indexes, memory_indexes, Loaded, ScorerIndex, TableHint};
use join::{Join, Prefetch};
use plan::{ExportPlan, TableKeys};
use publish::{summarize, Inputs, Output, Written};
pub use publish::{BatchSink, Destination};
use verdict::verdict;

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

/// A kind of column an export writes per scorer (`--columns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportColumn {
    #[value(name = "score")]
    Score,
    #[value(name = "status")]
    Status,
    #[value(name = "runtime_ms")]
    RuntimeMs,
    #[value(name = "frames")]
    Frames,
    #[value(name = "source")]
    Source,
    /// Multi-output scorers' components, one column each.
    #[value(name = "components")]
    Components,
    /// The score on 0–100, higher better (as `--normalize`).
    #[value(name = "score_norm")]
    ScoreNorm,
}

impl ExportColumn {
    /// The five standard columns, in the order [`COLUMN_SUFFIXES`] lists them.
    pub const STANDARD: [ExportColumn; 5] = [
        ExportColumn::Score,
        ExportColumn::Status,
        ExportColumn::RuntimeMs,
        ExportColumn::Frames,
        ExportColumn::Source,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExportColumn::Score => "score",
            ExportColumn::Status => "status",
            ExportColumn::RuntimeMs => "runtime_ms",
            ExportColumn::Frames => "frames",
            ExportColumn::Source => "source",
            ExportColumn::Components => "components",
            ExportColumn::ScoreNorm => "score_norm",
        }
    }
}

impl FromStr for ExportColumn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <ExportColumn as clap::ValueEnum>::from_str(s, false)
            .map_err(|_| format!("unknown column kind '{s}'"))
    }
}

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
    /// How keys are normalised, for every scorer or per scorer. A
    /// normalisation chosen for a scorer (other than `auto` and `raw`)
    /// applies to the registry's keys as written too, so both sides are
    /// compared alike (see [`ExportOptions::normalize_registry_keys`]).
    pub key_normalize: KeyNormalizeSetting,
    /// Apply a chosen `basename`, `stem` or `tail:N` to the keys the
    /// scorers wrote as well as to the table's. Exports recorded before
    /// this existed compared the table's normalised keys with the keys as
    /// the registry stored them; their replay keeps doing so.
    pub normalize_registry_keys: bool,
    pub missing_policy: RowPolicy,
    pub bad_policy: RowPolicy,
    pub prefix: String,
    pub overwrite: bool,
    pub out_format: Option<TableFormat>,
    /// Write multi-output scorers' components as columns (`--no-components` turns it off).
    pub components: bool,
    /// Add `<prefix>_<slug>_score_norm`: 0–100, higher always better.
    pub normalize: bool,
    /// `--columns`: which columns to write per scorer (`None`: the
    /// reference's five, the components unless `components` is off, and
    /// `score_norm` with `normalize`).
    pub columns: Option<Vec<ExportColumn>>,
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
    /// Read the scores live at this earlier point (`--as-of`) instead of
    /// the live ones.
    pub as_of: Option<PointRef>,
    /// The command that runs the export: what its messages suggest, and
    /// how strict its key check is.
    pub command_line: CommandLine,
    /// `--csv-safe`: text cells of a CSV output that a spreadsheet would
    /// run as a formula get a `'` in front (see `table::csv_safe`).
    pub csv_safe: bool,
    /// Scorers' columns in the order of their names as written, as the
    /// reference sorts its competitors (`materialize`); otherwise by slug.
    pub reference_order: bool,
    /// The export is not recorded (the Python package's `record=False`):
    /// nothing will name its table or output by hash, so neither is hashed
    /// (a third of a returned table's cost) and the report's `sha256` and
    /// `size_bytes` fields are null. A table handed back in memory is then
    /// not encoded as Arrow IPC at all.
    pub unrecorded: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            scorers: None,
            key_column: None,
            key_normalize: KeyNormalizeSetting::default(),
            normalize_registry_keys: true,
            missing_policy: RowPolicy::Mark,
            bad_policy: RowPolicy::Mark,
            prefix: "second_opinion".to_string(),
            overwrite: false,
            out_format: None,
            components: true,
            normalize: false,
            columns: None,
            frame_column: None,
            frame_base: None,
            frame_match: FrameMatch::Exact,
            max_frame_gap: None,
            pool: Vec::new(),
            per_frame: true,
            as_of: None,
            command_line: CommandLine::Registry,
            csv_safe: false,
            reference_order: false,
            unrecorded: false,
        }
    }
}

impl ExportOptions {
    /// Whether the export writes columns of `kind` (see [`ExportOptions::columns`]).
    pub fn writes(&self, kind: ExportColumn) -> bool {
        match (&self.columns, kind) {
            (Some(chosen), ExportColumn::ScoreNorm) => self.normalize || chosen.contains(&kind),
            (Some(chosen), _) => chosen.contains(&kind),
            (None, ExportColumn::Components) => self.components,
            (None, ExportColumn::ScoreNorm) => self.normalize,
            (None, _) => true,
        }
    }

    /// The options an export recorded (`exports.options`), to run it
    /// again: every choice it made is in the record, the ones `auto`
    /// resolved included, so a replay joins exactly as the export did.
    pub fn from_recorded(recorded: &Value, command: &str) -> Result<ExportOptions, String> {
        fn parsed<T: FromStr<Err = String>>(
            recorded: &Value,
            name: &str,
        ) -> Result<Option<T>, String> {
            match recorded.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => text.parse().map(Some),
                Some(other) => Err(format!("option {name} is {other}, not a name")),
            }
        }
        let text = |name: &str| {
            recorded
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let flag = |name: &str| recorded.get(name).and_then(Value::as_bool);
        let defaults = ExportOptions::default();
        Ok(ExportOptions {
            scorers: recorded
                .get("scorers")
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                }),
            key_column: text("key_column"),
            key_normalize: KeyNormalizeSetting {
                default: parsed(recorded, "key_normalize")?,
                per_scorer: match recorded.get("scorer_key_normalize") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Object(entries)) => entries
                        .iter()
                        .map(|(scorer, name)| match name.as_str() {
                            Some(name) => Ok((scorer.clone(), name.parse()?)),
                            None => Err(format!("option scorer_key_normalize.{scorer} is {name}")),
                        })
                        .collect::<Result<_, String>>()?,
                    Some(other) => {
                        return Err(format!("option scorer_key_normalize is {other}, not a map"))
                    }
                },
            },
            normalize_registry_keys: flag("registry_keys_normalized").unwrap_or(false),
            missing_policy: parsed(recorded, "missing_policy")?.unwrap_or(defaults.missing_policy),
            bad_policy: parsed(recorded, "bad_policy")?.unwrap_or(defaults.bad_policy),
            prefix: text("prefix").unwrap_or(defaults.prefix),
            overwrite: flag("overwrite").unwrap_or(false),
            out_format: match text("out_format") {
                Some(name) => Some(
                    TableFormat::from_name(&name)
                        .ok_or_else(|| format!("unknown output format '{name}'"))?,
                ),
                None => None,
            },
            components: flag("components").unwrap_or(defaults.components),
            normalize: flag("normalize").unwrap_or(false),
            columns: recorded
                .get("columns")
                .and_then(Value::as_array)
                .map(|kinds| {
                    kinds
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::parse)
                        .collect::<Result<Vec<ExportColumn>, String>>()
                })
                .transpose()?,
            frame_column: text("frame_column"),
            frame_base: recorded.get("frame_base").and_then(Value::as_i64),
            frame_match: parsed(recorded, "frame_match")?.unwrap_or(defaults.frame_match),
            max_frame_gap: recorded.get("max_frame_gap").and_then(Value::as_u64),
            pool: recorded
                .get("pool")
                .and_then(Value::as_array)
                .map(|stats| {
                    stats
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::parse)
                        .collect::<Result<Vec<PoolStat>, String>>()
                })
                .transpose()?
                .unwrap_or_default(),
            // materialize joins per clip and orders its scorers by name,
            // as the reference does.
            per_frame: command != "materialize",
            as_of: None,
            csv_safe: flag("csv_safe").unwrap_or(false),
            command_line: if command == "materialize" {
                CommandLine::Materialize
            } else {
                CommandLine::Registry
            },
            reference_order: command == "materialize",
            // A replayed export hashes what it writes, to compare.
            unrecorded: false,
        })
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
    /// The caller asked the export to stop (Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
}

impl ExportError {
    pub fn is_usage(&self) -> bool {
        match self {
            ExportError::Usage(_) => true,
            ExportError::Registry(e) => e.is_usage(),
            _ => false,
        }
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
    /// The scorer's own `--key-normalize` (`musiq=stem`), when it has one.
    pub key_normalize: Option<String>,
    /// How its scores were read (`full` or `probe`, see
    /// [`strategy::ScoreLoad`]); empty for scores held in memory. In the
    /// report only: the record is the same either way.
    #[serde(skip)]
    pub score_load: &'static str,
}

/// What an export did; becomes the report JSON and the `exports` record.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub features_path: String,
    /// The table's and the output's sha256 and size: `None` for an export
    /// not recorded ([`ExportOptions::unrecorded`]).
    pub features_sha256: Option<String>,
    pub features_size: Option<u64>,
    pub output_path: String,
    pub output_sha256: Option<String>,
    pub output_size: Option<u64>,
    pub output_format: TableFormat,
    pub key_column: String,
    pub key_normalize: KeyNormalize,
    pub input_rows: u64,
    pub output_rows: u64,
    /// Rows whose key had whitespace around it, matched once trimmed.
    pub trimmed_keys: u64,
    pub scorers: Vec<ScorerExportCounts>,
    pub registry_digest: String,
    /// The digest of the table written: its schema and every cell.
    pub content_digest: String,
    /// The registry point the scores were read at (none for scores held
    /// in memory).
    pub point: Option<Point>,
    /// The `--as-of` REF as given.
    pub as_of: Option<String>,
    pub options: Value,
    /// What the caller should show the user: a key that matched badly
    /// although the column and normalisation were chosen explicitly.
    pub warnings: Vec<String>,
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
            "trimmed_keys": self.trimmed_keys,
            "options": self.options,
            "registry_digest": self.registry_digest,
            "content_digest": self.content_digest,
            "point": self.point,
            "as_of": self.as_of,
            "scorers": self.scorers.iter().map(|s| { let mut counts = json!({
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
            });
                // Only a scorer with its own normalisation says so.
                if let Some(own) = &s.key_normalize {
                    counts["key_normalize"] = json!(own);
                }
                if !s.score_load.is_empty() {
                    counts["score_load"] = json!(s.score_load);
                }
                (s.name.clone(), counts)
            }).collect::<serde_json::Map<_, _>>(),
            "tool_version": crate::TOOL_VERSION,
        })
    }

    /// The registry record of this export (one not made unrecorded: a
    /// record names its files by their hashes).
    pub fn record(&self, command: &str) -> ExportRecord {
        let hashed = |hash: &Option<String>| {
            hash.clone()
                .expect("a recorded export hashes its files (ExportOptions::unrecorded)")
        };
        ExportRecord {
            id: 0,
            created_at: String::new(),
            command: command.to_string(),
            features_path: self.features_path.clone(),
            features_sha256: hashed(&self.features_sha256),
            output_path: self.output_path.clone(),
            output_sha256: hashed(&self.output_sha256),
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
            seq: self.point.as_ref().map(|p| p.seq),
            seq_inferred: false,
            as_of: self.as_of.clone(),
            content_digest: Some(self.content_digest.clone()),
            note: None,
            tags: Vec::new(),
            state: PublishState::Pending,
        }
    }
}

/// Export the registry onto `features`, writing `out`.
pub fn export(
    registry: &Registry,
    features: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    prepare_export(registry, features, out, options)?.publish()
}

/// An export whose table is written (to a temporary file beside its
/// output, or handed back batch by batch) and summarised, but not in place
/// yet: the caller does what may still fail (recording it, staging its
/// reports), then publishes.
pub struct PreparedExport {
    pub summary: ExportSummary,
    written: Written,
    out: String,
}

impl PreparedExport {
    /// Rename the table into place (nothing to do for batches handed back).
    pub fn publish(self) -> Result<ExportSummary, ExportError> {
        if self.written.is_file() {
            let out = self.out;
            self.written
                .into_staged()
                .publish()
                .map_err(|e| ExportError::Data(format!("{out}: cannot write the output: {e}")))?;
        }
        Ok(self.summary)
    }

    /// The summary, and the table to publish with the command's other
    /// outputs (an export to a file: see [`Destination::File`]).
    pub fn into_parts(self) -> (ExportSummary, crate::atomic_file::Staged) {
        (self.summary, self.written.into_staged())
    }

    /// Whether the table is a file still to be put in place.
    pub fn is_file(&self) -> bool {
        self.written.is_file()
    }
}

/// Export the registry onto `features` into a temporary beside `out`
/// (see [`PreparedExport`]).
pub fn prepare_export(
    registry: &Registry,
    features: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<PreparedExport, ExportError> {
    refuse_registry_as_output(registry, out)?;
    let opened = OpenedTable::open(features, out, options)?;
    // One snapshot for the plan and the whole join: a scorer probed by the
    // table's keys reads its scores batch by batch.
    registry.read_snapshot(|registry| {
        plan_opened(
            |table| load_indexes(registry, options, table),
            opened,
            Destination::File(out.to_path_buf()),
            options,
            true,
        )?
        .run(Some(registry), &|| false)
    })
}

/// Plan an export of the registry's scores onto an opened table, to
/// `destination`: the key and columns chosen and the scores loaded in one
/// snapshot; the table is read by [`PlannedExport::run`], which needs no
/// registry (it may run on another thread, or as a caller pulls batches),
/// so every selected scorer's scores are read in full here: a probe by the
/// table's keys ([`strategy`]) reads the registry while the table is read.
///
/// The scores come from `cache` when it holds those of the same registry
/// point loaded with the same options, and are left there for the next
/// export ([`cache::IndexCache`]).
pub fn plan_registry_export(
    registry: &Registry,
    opened: OpenedTable,
    destination: Destination,
    options: &ExportOptions,
    cache: &mut cache::IndexCache,
) -> Result<PlannedExport, ExportError> {
    if let Destination::File(out) = &destination {
        refuse_registry_as_output(registry, out)?;
    }
    plan_opened(
        |table| registry.read_snapshot(|r| cache.load(r, options, table)),
        opened,
        destination,
        options,
        false,
    )
}

/// Refuse an output that is one of the registry's own files.
fn refuse_registry_as_output(registry: &Registry, out: &Path) -> Result<(), ExportError> {
    let registry_files = crate::atomic_file::registry_files(registry.path());
    let protected: Vec<(&str, &Path)> = registry_files
        .iter()
        .map(|(role, path)| (*role, path.as_path()))
        .collect();
    crate::atomic_file::refuse_clashes(&[("--out", out)], &protected, &[])
        .map_err(ExportError::Usage)
}

/// The output's format: `--out-format`, else the file name's.
fn output_format(
    out: &Path,
    chosen: Option<TableFormat>,
    command_line: CommandLine,
) -> Result<TableFormat, ExportError> {
    match chosen {
        Some(format) => Ok(format),
        None => TableFormat::from_path(out).ok_or_else(|| {
            let how = match command_line {
                CommandLine::Registry => "pass --out-format",
                // No --out-format: the output's extension says it.
                CommandLine::Materialize | CommandLine::Batch => {
                    "name the output with an extension of"
                }
            };
            ExportError::Usage(format!(
                "{}: cannot tell the output format from the file name; {how} ({})",
                out.display(),
                TableFormat::names()
            ))
        }),
    }
}

/// The format written to `destination`: a file's (see [`output_format`]);
/// batches handed back are hashed as an Arrow IPC file.
fn destination_format(
    destination: &Destination,
    options: &ExportOptions,
) -> Result<TableFormat, ExportError> {
    match destination {
        Destination::File(out) => output_format(out, options.out_format, options.command_line),
        Destination::Batches { .. } => Ok(TableFormat::ArrowIpc),
    }
}

/// Export scores held in memory (`materialize` without a registry) onto a
/// table opened beforehand (see [`OpenedTable::open`]), for a caller that
/// opened the table while it read the scores: the same join, without a
/// round trip through SQLite.
pub fn export_scores_opened(
    scores: MemoryScores,
    opened: OpenedTable,
    out: &Path,
    options: &ExportOptions,
) -> Result<PreparedExport, ExportError> {
    plan_opened(
        |_| memory_indexes(scores, options),
        opened,
        Destination::File(out.to_path_buf()),
        options,
        false,
    )?
    .run(None, &|| false)
}

/// A batch handed over in memory cut into pieces of the rows the table's
/// reader would read from a file ([`crate::table::batch_rows`]): a caller's
/// table is often one batch of every row, and the output's encoding and
/// hashing, on threads of their own, can then start on a piece while the
/// next is joined instead of waiting for the whole table (W1 from Python).
/// The pieces share the batch's buffers, and the output holds the batches
/// `export` writes for the same table read from a file. The table's own
/// hash is of its batches as handed over. Batches read from files are cut
/// by their readers already.
fn pieces(batch: Batch, features_hash: &FeaturesHash) -> Vec<Batch> {
    let Batch::Arrow(whole) = &batch else {
        return vec![batch];
    };
    let rows = crate::table::batch_rows(&whole.schema());
    if !matches!(features_hash, FeaturesHash::Batches(_)) || whole.num_rows() <= rows {
        return vec![batch];
    }
    (0..whole.num_rows())
        .step_by(rows)
        .map(|start| Batch::Arrow(whole.slice(start, rows.min(whole.num_rows() - start))))
        .collect()
}

/// How the table read is hashed for the export record.
enum FeaturesHash {
    /// A file's sha256, worked out on another thread while the export
    /// runs, not by reading the table again at the end.
    File {
        path: PathBuf,
        /// `None` for an unrecorded export: not hashed.
        hash: Option<Background<std::io::Result<String>>>,
    },
    /// Batches handed over in memory: hashed as the Arrow IPC file that
    /// holds them, as they are read ([`IpcDigest`]); `None` when unrecorded.
    Batches(Option<IpcDigest>),
}

impl FeaturesHash {
    /// Hash `path` on another thread, unless the export is `unrecorded`.
    fn file(path: &Path, unrecorded: bool) -> FeaturesHash {
        let hash = (!unrecorded).then(|| {
            let path = path.to_path_buf();
            Background::start(move || crate::digest::sha256_file(&path))
        });
        FeaturesHash::File {
            path: path.to_path_buf(),
            hash,
        }
    }

    /// The sha256 and size in bytes (none for a table not hashed).
    #[allow(clippy::type_complexity)]
    fn finish(self, shown: &str) -> Result<(Option<String>, Option<u64>), ExportError> {
        let failed = |e: &dyn std::fmt::Display| ExportError::Data(format!("{shown}: {e}"));
        match self {
            FeaturesHash::File {
                path,
                hash: Some(hash),
            } => {
                let sha256 = hash.join().map_err(|e| failed(&e))?;
                Ok((
                    Some(sha256),
                    Some(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)),
                ))
            }
            FeaturesHash::Batches(Some(digest)) => {
                let (sha256, size) = digest.finish().map_err(|e| failed(&e))?;
                Ok((Some(sha256), Some(size)))
            }
            FeaturesHash::File { hash: None, .. } | FeaturesHash::Batches(None) => Ok((None, None)),
        }
    }
}

/// A feature table opened for an export: everything an export does before
/// it needs the scores, so a caller may do it while the scores are read.
pub struct OpenedTable {
    features_shown: String,
    in_format: TableFormat,
    out_format: TableFormat,
    features_hash: FeaturesHash,
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
        let out_format = output_format(out, options.out_format, options.command_line)?;
        OpenedTable::open_as(features, out_format, options.unrecorded)
    }

    /// [`OpenedTable::open`] for an export to `destination`.
    pub fn open_for(
        features: &Path,
        destination: &Destination,
        options: &ExportOptions,
    ) -> Result<OpenedTable, ExportError> {
        let out_format = destination_format(destination, options)?;
        OpenedTable::open_as(features, out_format, options.unrecorded)
    }

    fn open_as(
        features: &Path,
        out_format: TableFormat,
        unrecorded: bool,
    ) -> Result<OpenedTable, ExportError> {
        let features_shown = features.display().to_string();
        let in_format = TableFormat::from_path(features).ok_or_else(|| {
            ExportError::Usage(format!(
                "{features_shown}: cannot tell the table format from the file name (expected one of: {})",
                TableFormat::names()
            ))
        })?;
        if !features.is_file() {
            return Err(ExportError::Data(format!(
                "{features_shown}: no such feature table"
            )));
        }
        let features_hash = FeaturesHash::file(features, unrecorded);
        let reader = TableReader::open(features, in_format, out_format)?;
        OpenedTable::first_batch(features_shown, in_format, out_format, features_hash, reader)
    }

    /// A table handed over as Arrow batches of `schema` (a caller's table
    /// in memory), named `shown` in messages and the record, for an export
    /// to `destination`. Its batches pass through as they are (the output
    /// shares their buffers); the record's hash of it is that of the Arrow
    /// IPC file holding them.
    pub fn from_arrow(
        schema: arrow::datatypes::SchemaRef,
        batches: BatchIterator,
        shown: &str,
        destination: &Destination,
        options: &ExportOptions,
    ) -> Result<OpenedTable, ExportError> {
        let out_format = destination_format(destination, options)?;
        let features_hash =
            FeaturesHash::Batches((!options.unrecorded).then(|| IpcDigest::start(schema.clone())));
        let reader = TableReader::from_arrow(schema, batches, shown);
        OpenedTable::first_batch(
            shown.to_string(),
            TableFormat::ArrowIpc,
            out_format,
            features_hash,
            reader,
        )
    }

    fn first_batch(
        features_shown: String,
        in_format: TableFormat,
        out_format: TableFormat,
        features_hash: FeaturesHash,
        mut reader: TableReader,
    ) -> Result<OpenedTable, ExportError> {
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

/// An export with its key, columns and score index chosen, and its
/// output begun: [`PlannedExport::run`] reads the table.
pub struct PlannedExport {
    opened: OpenedTable,
    plan: ExportPlan,
    indexes: Vec<ScorerIndex>,
    sources: Vec<String>,
    point: Option<Point>,
    output: Output,
    options: ExportOptions,
}

/// Plan the export onto an opened table, given how to load the score
/// index (told whether the table is per-frame).
fn plan_opened(
    load: impl FnOnce(TableHint) -> Result<Loaded, ExportError>,
    opened: OpenedTable,
    destination: Destination,
    options: &ExportOptions,
    can_probe: bool,
) -> Result<PlannedExport, ExportError> {
    let keys = TableKeys::choose(&opened.columns, options, &opened.features_shown)?;
    let rows = match &opened.features_hash {
        FeaturesHash::File { path, .. } => strategy::estimate_rows(path, opened.in_format),
        FeaturesHash::Batches(_) => u64::MAX,
    };
    let (mut indexes, sources, point) = load(TableHint {
        per_frame: keys.frame_column.is_some(),
        rows,
        can_probe,
    })?;
    if options.reference_order {
        // Python's `sorted()` of the names: by code point, as UTF-8 bytes sort.
        indexes.sort_by(|a, b| a.counts.name.cmp(&b.counts.name));
    }
    let plan = ExportPlan::new(&opened.columns, keys, &indexes, options)?;
    let output = Output::create(
        destination,
        opened.out_format,
        &opened.reader,
        &plan,
        !options.unrecorded,
    )?;
    Ok(PlannedExport {
        opened,
        plan,
        indexes,
        sources,
        point,
        output,
        options: options.clone(),
    })
}

impl PlannedExport {
    /// The schema of the batches written (the Arrow engine's; `None` when
    /// a text table is written as text).
    pub fn output_schema(&self) -> Option<arrow::datatypes::SchemaRef> {
        self.output.schema()
    }

    /// Join each batch and write it, then the verdict; `interrupted` is
    /// asked between batches, and a `true` stops the export
    /// ([`ExportError::Interrupted`]) with nothing in place.
    ///
    /// `registry` is the one the plan read, inside the same snapshot: a
    /// scorer planned to be probed reads its scores from it as batches
    /// come (a plan made by [`plan_registry_export`] probes none, and
    /// takes `None`).
    pub fn run(
        self,
        registry: Option<&Registry>,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<PreparedExport, ExportError> {
        let PlannedExport {
            opened,
            plan,
            mut indexes,
            sources,
            point,
            mut output,
            options,
        } = self;
        let OpenedTable {
            features_shown,
            in_format,
            out_format,
            features_hash,
            reader,
            first,
            columns: _,
        } = opened;
        let options = &options;
        let mut join = Join::new(&plan, options, sources, registry);
        let mut batch = first;
        let mut batches = Prefetch::start(reader, in_format);
        while let Some(current) = batch {
            if interrupted() {
                return Err(ExportError::Interrupted);
            }
            if let (FeaturesHash::Batches(Some(digest)), Batch::Arrow(read)) =
                (&features_hash, &current)
            {
                digest.add(read);
            }
            for piece in pieces(current, &features_hash) {
                let (added, keep) = join.batch(&mut indexes, &piece)?;
                output.write(piece, &added, &keep)?;
            }
            batch = batches.next_batch()?;
        }
        drop(batches);
        let warnings = verdict(
            &plan,
            &join.counts,
            &indexes,
            options,
            &join.sample,
            registry,
        )?;
        for index in &mut indexes {
            index.count_unmatched(registry)?;
        }

        let out = output.shown().to_string();
        let written = output.finish()?;
        let (features_sha256, features_size) = features_hash.finish(&features_shown)?;
        let (output_sha256, output_size) = (written.sha256.clone(), written.size);
        let content_digest = written.content_digest.clone();
        let counts = join.counts;
        let mut summary = summarize(
            indexes,
            plan,
            &counts,
            Inputs {
                features_shown,
                features_sha256,
                features_size,
                out_format,
            },
            (out.clone(), output_sha256, output_size),
            options,
            warnings,
        );
        summary.content_digest = content_digest;
        summary.point = point;
        summary.as_of = options.as_of.as_ref().map(|r| r.to_string());
        Ok(PreparedExport {
            summary,
            written,
            out,
        })
    }
}
