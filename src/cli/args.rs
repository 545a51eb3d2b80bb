//! Every flag of the command line, defined once with the documentation
//! `--help` shows, so the help and the parsing never disagree; and how the
//! reading flags become the library's [`IngestOptions`]. Values that name a
//! library enum parse through its `ValueEnum` derive ([`EnumValue`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use second_opinion::export::{ExportColumn, RowPolicy};
use second_opinion::frames::{FrameMatch, PoolStat};
use second_opinion::ingest::frame_pattern::FramePattern;
use second_opinion::ingest::{FieldNames, Format};
use second_opinion::key::{KeyNormalize, KeyNormalizeSetting};
use second_opinion::registry::{ConflictPolicy, IngestOptions, PointRef};
use second_opinion::scorer::Scale;
use second_opinion::table::TableFormat;

use super::enum_value::{EnumValue, KeyNormalizeValue};

/// A score registry for video-quality model training: ingest what
/// no-reference and MOS scorers wrote, and find out where each score came from.
#[derive(Parser, Debug)]
#[command(name = "second-opinion", version, about, max_term_width = 100)]
pub struct Cli {
    /// The score registry: an SQLite file, created on first ingest
    /// [default: second-opinion.db]; or a postgresql:// (postgres://) URL
    /// of a registry on a PostgreSQL server, for every command.
    #[arg(long, global = true, env = "SECOND_OPINION_REGISTRY")]
    pub registry: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load scorer output files into the registry, one transaction per file.
    Ingest(IngestArgs),
    /// List the scorers the registry knows, with their row counts; change
    /// their settings, rename or merge them (each a new point in time).
    Scorers(ScorersArgs),
    /// List the ingested files, with their hashes and scorers; retire one.
    Files(FilesArgs),
    /// Show the live score of a scorer and clip, and its history.
    Provenance(ProvenanceArgs),
    /// Show how a score file would be ingested, without writing anything:
    /// format, keys, scorer, scale, first rows and every problem.
    Inspect(InspectArgs),
    /// Join the registry onto a feature table as namespaced columns.
    Export(ExportArgs),
    /// List the exports recorded in the registry, with their points, tags
    /// and notes; show, compare, tag or replay them.
    Exports(ExportsArgs),
    /// One-shot ingest + export, flag-compatible with the reference
    /// materialize_second_opinion_features.py. The scores are held in memory
    /// and kept nowhere, unless --registry is given on its command line
    /// (SECOND_OPINION_REGISTRY alone does not count).
    Materialize(MaterializeArgs),
    /// Many materialize runs from one manifest, with one report;
    /// flag-compatible with the reference batch_materialize_second_opinion_features.py.
    /// Like materialize, keeps scores only with --registry on its command line.
    Batch(BatchArgs),
    /// Audit feature tables: signal-family coverage, correlations, second
    /// opinions, disagreement and retrain impact (JSON, Markdown, HTML).
    Audit(AuditArgs),
    /// List or edit the signal families the audit classifies columns with.
    Families(FamiliesArgs),
    /// Work on whole registries: copy one, SQLite or PostgreSQL, into another.
    Registry(RegistryArgs),
}

#[derive(Args, Debug)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub command: RegistryCommand,
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Copy a whole registry (files, scorers and their settings history,
    /// scores with their history, frames, components, exports, tags,
    /// signal families) into a new or empty one: an SQLite file or a
    /// postgresql:// URL, either way. All or nothing; --registry is not
    /// used.
    Copy {
        /// The registry to copy: an SQLite file or a postgresql:// URL.
        #[arg(value_name = "FROM")]
        from: PathBuf,
        /// The registry to create: a file that does not exist yet, or an
        /// empty registry (a PostgreSQL database without one, say).
        #[arg(value_name = "TO")]
        to: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Score files, each optionally named by the scorer: `LABEL=PATH`. A row's
    /// own `competitor` wins over the label.
    #[arg(value_name = "[LABEL=]PATH", required = true)]
    pub sources: Vec<String>,

    #[command(flatten)]
    pub read: ReadArgs,

    /// What produced the file: checkpoint, commit, options. Shown by
    /// `scorers` and `provenance`, listed in export reports.
    #[arg(long, value_name = "TEXT")]
    pub scorer_version: Option<String>,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// Also write the per-file summary as JSON.
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,
}

/// How score files are read: shared by `ingest` and `inspect`.
#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Read the files as this format instead of detecting it from the content.
    #[arg(long, value_parser = format())]
    pub format: Option<Format>,

    /// Name every row's scorer, over the payload's `competitor` and the label.
    #[arg(long, value_name = "NAME")]
    pub scorer: Option<String>,

    /// The clip key of files that name no clip (libvmaf logs, captured
    /// stdout); default: the file's stem.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    /// The libvmaf metric taken as the clip score (default: vmaf).
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,

    /// Field holding the clip key (default: the reference's candidates).
    #[arg(long, value_name = "FIELD")]
    pub score_key_field: Option<String>,

    /// Field holding the score (default: score, mos, predicted_mos, …).
    #[arg(long, value_name = "FIELD")]
    pub score_field: Option<String>,

    /// How keys are normalised: auto (basename for path-like fields), raw,
    /// basename, stem, or tail:N (the last N path components, joined with /).
    #[arg(long, default_value = "auto", value_parser = key_normalize())]
    pub key_normalize: KeyNormalize,

    /// Strip this leading path prefix from every key before it is normalised
    /// (`/mnt/nas/ugc/` turns `/mnt/nas/ugc/Video/crf23/A0001.mp4` into
    /// `Video/crf23/A0001.mp4`); keys without it are kept and counted.
    #[arg(long, value_name = "PREFIX")]
    pub key_strip_prefix: Option<String>,

    /// Declare the scorer's scale; values outside it are stored as bad.
    #[arg(long, value_name = "MIN:MAX", value_parser = Scale::parse)]
    pub scale: Option<Scale>,

    /// Let --scale override the documented scale of a known scorer
    /// (DOVER's 0:100, …) even when the command ingests several scorers.
    #[arg(long, requires = "scale")]
    pub force_scale: bool,

    /// Declare that higher scores are better.
    #[arg(long, conflicts_with = "lower_is_better")]
    pub higher_is_better: bool,

    /// Declare that lower scores are better (NIQE, BRISQUE).
    #[arg(long)]
    pub lower_is_better: bool,

    /// How the file numbers frames when it does not say: 0 or 1 (libvmaf
    /// and UVQ logs say; a frames[] field `n` is read 1-based).
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1))]
    pub frame_base: Option<i64>,

    /// Image scores of extracted frames: a regex with named groups `key` and
    /// `frame` turning names like clip_a_000123.png into (clip, frame) rows,
    /// stored as frames of one score per clip.
    #[arg(long, value_name = "REGEX", value_parser = FramePattern::new)]
    pub frame_pattern: Option<FramePattern>,
}

impl ReadArgs {
    /// Ingest options holding these reading choices.
    pub fn options(self) -> IngestOptions {
        IngestOptions {
            format: self.format,
            clip_key: self.key,
            metric: self.metric,
            fields: FieldNames {
                key: self.score_key_field,
                score: self.score_field,
                frame_base: self.frame_base,
            },
            frame_pattern: self.frame_pattern,
            frame_base: self.frame_base,
            key_normalize: self.key_normalize,
            key_strip_prefix: self.key_strip_prefix.filter(|prefix| !prefix.is_empty()),
            scale_names: self.scorer.as_deref().map(second_opinion::scorer::slug),
            scorer: self.scorer,
            scale: self.scale,
            force_scale: self.force_scale,
            higher_is_better: match (self.higher_is_better, self.lower_is_better) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            ..IngestOptions::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ScorersArgs {
    #[command(subcommand)]
    pub command: Option<ScorersCommand>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ScorersCommand {
    /// Change a scorer's settings from now on. A new scale judges its live
    /// scores again: values it excludes become bad, values it accepts that
    /// an earlier scale excluded become ok.
    Set {
        /// The scorer (any spelling with the same slug).
        scorer: String,
        /// The scorer's scale.
        #[arg(long, value_name = "MIN:MAX", value_parser = Scale::parse)]
        scale: Option<Scale>,
        /// Higher values are better.
        #[arg(long, conflicts_with = "lower_is_better")]
        higher_is_better: bool,
        /// Lower values are better.
        #[arg(long)]
        lower_is_better: bool,
        /// What the scorer is (checkpoint, commit), shown with it
        /// (`--scorer-version`, as ingest spells it, works too).
        #[arg(long, value_name = "TEXT", visible_alias = "scorer-version")]
        version: Option<String>,
    },
    /// Rename a scorer (its columns take the new name from now on).
    Rename {
        /// The scorer's name now (any spelling with the same slug).
        old: String,
        /// Its new name.
        new: String,
    },
    /// Make ALIAS part of INTO: ALIAS's live scores become INTO's, and files
    /// naming ALIAS are ingested as INTO from now on.
    Merge {
        /// The scorer that becomes another name of INTO.
        alias: String,
        /// The scorer that keeps the scores.
        into: String,
    },
}

#[derive(Args, Debug)]
pub struct FilesArgs {
    #[command(subcommand)]
    pub command: Option<FilesCommand>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum FilesCommand {
    /// Supersede every live score a file contributed (a new point in time;
    /// exports as of earlier points still see them).
    Retire {
        /// The file: its id, sha256, or path as `files` lists it.
        #[arg(value_name = "PATH|SHA256|ID")]
        file: String,
        /// Make the scores the file had superseded live again.
        #[arg(long)]
        restore_previous: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ExportsArgs {
    #[command(subcommand)]
    pub command: Option<ExportsCommand>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A REF names a registry point: an export id (17), a tag (retrain-2026-12),
/// a sequence number (seq:42) or an RFC 3339 time (2026-12-01T10:00:00Z).
#[derive(Subcommand, Debug)]
pub enum ExportsCommand {
    /// What an export read: per scorer, its live rows, ok/bad, the files
    /// they came from, versions and digest.
    Show {
        /// The export: its id, or a tag naming it.
        #[arg(value_name = "EXPORT")]
        export: PointRef,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Per scorer, the keys added, removed and changed between two points
    /// (export ids, tags, seq:N or times); counts first.
    Diff {
        /// The point to compare from: an export id, a tag, seq:N or an RFC 3339 time.
        #[arg(value_name = "A")]
        a: PointRef,
        /// The point to compare to, named the same ways.
        #[arg(value_name = "B")]
        b: PointRef,
        /// List every added, removed and changed key with its old and new
        /// value, status and source file:line.
        #[arg(long)]
        rows: bool,
        /// Print JSON instead of text (with the keys when --rows is given).
        #[arg(long)]
        json: bool,
    },
    /// Name a point; tags are unique and immutable, and usable as a REF.
    Tag {
        /// The tag: a letter, then letters, digits, '-', '_' or '.'.
        #[arg(value_parser = tag_name)]
        name: String,
        /// The point to name: an export id, another tag, seq:N or a time.
        #[arg(value_name = "REF")]
        reference: PointRef,
    },
    /// Run an export again at its point with its recorded options; exit 0
    /// only when the table's content matches the recorded one.
    Replay {
        /// The export: its id, or a tag naming it.
        #[arg(value_name = "EXPORT")]
        export: PointRef,
        /// Keep the replayed table here (only when its content matches)
        /// [default: check it and throw it away].
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// The feature table, if it moved since the export (its sha256 must
        /// be the recorded one) [default: the recorded path].
        #[arg(long, value_name = "TABLE")]
        features: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ProvenanceArgs {
    /// Scorer name (any spelling with the same slug); without it, every
    /// scorer's score for the clip.
    #[arg(long)]
    pub scorer: Option<String>,

    /// Clip key: as stored, as written in the file, a path whose basename or
    /// stem is the key, or a clip id without its extension (every stored key
    /// of that stem is shown).
    #[arg(long)]
    pub key: String,

    /// Normalise KEY like this before the lookup (auto tries it as given, then its basename, then its stem).
    #[arg(long, default_value = "auto", value_parser = key_normalize())]
    pub key_normalize: KeyNormalize,

    /// Also say which row was live at this point (an export id, a tag,
    /// seq:N or an RFC 3339 time).
    #[arg(long, value_name = "REF")]
    pub as_of: Option<PointRef>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What an ingest does with rows already live and with bad rows: shared by
/// `ingest` and `inspect` (which previews the same outcome).
#[derive(Args, Debug)]
pub struct RuleArgs {
    /// Make new rows live over rows already live for the same scorer and key;
    /// the old rows are kept as superseded history.
    #[arg(long, conflicts_with = "ignore")]
    pub replace: bool,

    /// Keep rows already live for the same scorer and key; count the new ones as ignored.
    #[arg(long)]
    pub ignore: bool,

    /// Refuse a file when any of its rows would be stored as bad, or when
    /// its values look suspicious (all identical, off the scorer's scale, …).
    #[arg(long)]
    pub strict: bool,
}

impl RuleArgs {
    /// The conflict policy the flags choose.
    pub fn on_conflict(&self) -> ConflictPolicy {
        match (self.replace, self.ignore) {
            (true, _) => ConflictPolicy::Replace,
            (_, true) => ConflictPolicy::Ignore,
            _ => ConflictPolicy::Refuse,
        }
    }
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The score file, optionally labelled with its scorer.
    #[arg(value_name = "[LABEL=]PATH")]
    pub source: String,

    #[command(flatten)]
    pub read: ReadArgs,

    /// Preview the ingest with these rules (--replace, --ignore, --strict).
    #[command(flatten)]
    pub rules: RuleArgs,

    /// How many rows to show.
    #[arg(long, default_value = "5", value_name = "N")]
    pub rows: usize,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The feature table (.parquet/.pq, .arrow/.feather/.ipc, .jsonl/.ndjson, .json, .csv).
    #[arg(long, value_name = "TABLE", required_unless_present = "scores_only")]
    pub features: Option<PathBuf>,

    /// Write the registry's scores alone as a table (key, scorer, score,
    /// status, runtime_ms, frames, source_path, line, source_sha256,
    /// ingested_at, version), for a join elsewhere (DuckDB, Spark).
    #[arg(long, conflicts_with_all = ["features", "key_column", "key_normalize", "frame_column",
        "frame_base", "pool", "normalize", "no_components", "overwrite", "missing_policy",
        "bad_policy", "frame_match", "max_frame_gap", "prefix", "report_json", "columns"])]
    pub scores_only: bool,

    /// The output table; its format follows the extension unless --out-format says otherwise.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,

    /// Scorers to export, comma-separated (default: every scorer with live scores).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub scorers: Option<Vec<String>>,

    /// The table's key column (default: the first of clip_id, video_id, …, path, src, src_sha256, video_name, key).
    #[arg(long, value_name = "COL")]
    pub key_column: Option<String>,

    /// How keys are compared: auto, raw, basename, stem or tail:N, for
    /// every scorer (`stem`) or per scorer (`musiq=stem,dover=basename`,
    /// `basename,musiq=stem`). basename, stem and tail:N apply to the
    /// table's keys and to the keys the scorers wrote alike; auto
    /// (basename for path-like columns) and raw compare with the keys as
    /// the registry stored them.
    #[arg(long, value_name = "NORMALISATION|SCORER=NORMALISATION,…",
        value_parser = |s: &str| s.parse::<KeyNormalizeSetting>())]
    pub key_normalize: Option<KeyNormalizeSetting>,

    /// Rows without a score: mark (keep, status missing), drop, or fail.
    #[arg(long, default_value = "mark", value_parser = row_policy())]
    pub missing_policy: RowPolicy,

    /// Rows whose score is bad: mark (keep, status bad), drop, or fail.
    #[arg(long, default_value = "mark", value_parser = row_policy())]
    pub bad_policy: RowPolicy,

    /// Column name prefix.
    #[arg(long, default_value = "second_opinion")]
    pub prefix: String,

    /// Replace second-opinion columns the table already has, in place.
    #[arg(long)]
    pub overwrite: bool,

    /// Output format instead of the extension's.
    #[arg(long, value_parser = table_format())]
    pub out_format: Option<TableFormat>,

    /// Leave out the component columns of multi-output scorers (DOVER's
    /// aesthetic/technical, libvmaf's other metrics, …).
    #[arg(long)]
    pub no_components: bool,

    /// Add <prefix>_<slug>_score_norm: the score on 0-100, higher always
    /// better, from the scorer's scale and direction.
    #[arg(long)]
    pub normalize: bool,

    /// Which columns to write per scorer (comma-separated) [default: score,
    /// status, runtime_ms, frames, source and the components; score_norm
    /// with --normalize].
    #[arg(long, value_delimiter = ',', value_parser = export_column(), value_name = "KINDS",
        conflicts_with = "no_components")]
    pub columns: Option<Vec<ExportColumn>>,

    /// The table's frame column; with one, rows join on (key, frame)
    /// [default: the first of frame_idx, frame_index, frameNum, frame; `n`
    /// (ffmpeg-quality-metrics, 1-based) only when named].
    #[arg(long, value_name = "COL")]
    pub frame_column: Option<String>,

    /// How the table numbers frames: 0 or 1 [default: 1 for a column `n`, else 0].
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1))]
    pub frame_base: Option<i64>,

    /// How a table frame finds a scored frame when the scorer sampled.
    #[arg(long, default_value = "exact", value_parser = frame_match())]
    pub frame_match: FrameMatch,

    /// The farthest a scored frame may be for nearest/previous [default: no limit].
    #[arg(long, value_name = "N")]
    pub max_frame_gap: Option<u64>,

    /// Pool each clip's stored frames into one column per statistic
    /// (comma-separated) → <prefix>_<slug>_score_<stat>.
    #[arg(long, value_delimiter = ',', value_parser = pool_stat(), value_name = "STATS")]
    pub pool: Vec<PoolStat>,

    /// Also write the export report as JSON.
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,

    /// Join the scores that were live at this earlier point instead of the
    /// live ones: an export id, a tag, seq:N or an RFC 3339 time.
    #[arg(long, value_name = "REF")]
    pub as_of: Option<PointRef>,

    /// Name this export (and its point), for later `--as-of`, `exports
    /// diff` and `exports replay`.
    #[arg(long, value_name = "NAME", value_parser = tag_name)]
    pub tag: Option<String>,

    /// A note kept with the export record (what it was for).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,

    /// CSV output: write text cells a spreadsheet would run as a formula
    /// (starting with =, +, - or @, numbers aside) with a ' in front, as
    /// OWASP advises. Off by default: cells pass through unchanged.
    #[arg(long)]
    pub csv_safe: bool,
}

#[derive(Args, Debug)]
pub struct MaterializeArgs {
    /// The feature table.
    #[arg(long, value_name = "PATH")]
    pub features: PathBuf,

    /// A score file, optionally labelled with its scorer (repeatable).
    #[arg(long, value_name = "[LABEL=]PATH", required = true)]
    pub scores: Vec<String>,

    /// The output table.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,

    /// Write the audit JSON (the reference's keys plus hashed provenance).
    #[arg(long, value_name = "PATH")]
    pub audit_json: Option<PathBuf>,

    /// The feature table's key column.
    #[arg(long, value_name = "COL")]
    pub key_column: Option<String>,

    /// Field holding the key in score rows.
    #[arg(long, value_name = "FIELD")]
    pub score_key_field: Option<String>,

    /// Field holding the score in score rows.
    #[arg(long, value_name = "FIELD")]
    pub score_field: Option<String>,

    /// auto, raw, basename, stem or tail:N, for table and score keys alike [default: auto].
    #[arg(long, value_parser = key_normalize())]
    pub key_normalize: Option<KeyNormalize>,

    /// mark, drop or fail.
    #[arg(long, default_value = "mark", value_parser = row_policy())]
    pub missing_policy: RowPolicy,

    /// Column name prefix.
    #[arg(long, default_value = "second_opinion")]
    pub prefix: String,

    /// Replace existing second-opinion columns.
    #[arg(long)]
    pub overwrite: bool,

    /// Declare the scale of every scorer of the run (Q-Align's depends on
    /// how it was run). Values are kept as written either way; those
    /// outside the scale are warned of.
    #[arg(long, value_name = "MIN:MAX", value_parser = Scale::parse)]
    pub scale: Option<Scale>,

    /// With --registry: name the recorded export (see `exports tag`).
    #[arg(long, value_name = "NAME", value_parser = tag_name)]
    pub tag: Option<String>,

    /// With --registry: a note kept with the recorded export.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,

    /// CSV output: text cells a spreadsheet would run as a formula get a '
    /// in front (see export --csv-safe). Off by default.
    #[arg(long)]
    pub csv_safe: bool,
}

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// The manifest: JSON with `defaults` and `tables` (each with id, features,
    /// scores, out, optional audit_json, and materialize's options).
    #[arg(long, value_name = "PATH")]
    pub manifest: PathBuf,

    /// Resolve the manifest's relative paths against this folder [default:
    /// the manifest's folder].
    #[arg(long, value_name = "DIR")]
    pub base_dir: Option<PathBuf>,

    /// Write the batch report as JSON (every table's status and audit).
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,

    /// Write the batch report as Markdown (one row per table).
    #[arg(long, value_name = "PATH")]
    pub report_md: Option<PathBuf>,

    /// Stop at the first table that fails; the tables after it do not run.
    #[arg(long)]
    pub fail_fast: bool,

    /// Every table's CSV output: text cells a spreadsheet would run as a
    /// formula get a ' in front (see export --csv-safe). Off by default.
    #[arg(long)]
    pub csv_safe: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("reports")
    .args(["out_json", "out_md", "out_html"]).required(true).multiple(true)))]
pub struct AuditArgs {
    /// A feature table, optionally labelled (repeatable; the label defaults to the file's stem).
    #[arg(long = "input", value_name = "[LABEL=]TABLE", required = true)]
    pub inputs: Vec<String>,

    /// The target column [default: the first of vmaf, vmaf_score, mos_raw_0_100, mos, dmos,
    /// score]; a name the table lacks means no target.
    #[arg(long, value_name = "COL")]
    pub target: Option<String>,

    /// Write the JSON report here (at least one of --out-json, --out-md,
    /// --out-html).
    #[arg(long, value_name = "PATH")]
    pub out_json: Option<PathBuf>,

    /// Write the Markdown report here.
    #[arg(long, value_name = "PATH")]
    pub out_md: Option<PathBuf>,

    /// Write a self-contained HTML page (every section of the Markdown, and
    /// scatter plots) here.
    #[arg(long, value_name = "PATH")]
    pub out_html: Option<PathBuf>,

    /// Rows listed per section (negative: all but that many, as Python's
    /// `rows[:N]`).
    #[arg(
        long,
        default_value_t = 12,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub top_k: i64,

    /// Pairs of signal columns with |r| at or above this are redundant (any
    /// number, as the reference takes: above 1 finds none).
    #[arg(
        long,
        default_value_t = 0.95,
        value_name = "R",
        allow_negative_numbers = true
    )]
    pub redundancy_threshold: f64,

    /// Cross-family pairs with |r| at or below this (each |r| >= 0.20 with the
    /// target) are complementary (any number).
    #[arg(
        long,
        default_value_t = 0.70,
        value_name = "R",
        allow_negative_numbers = true
    )]
    pub complement_threshold: f64,

    /// A column covers its family only with at least this share of finite
    /// values (any number: above 1, no column does).
    #[arg(
        long,
        default_value_t = 0.80,
        value_name = "RATIO",
        allow_negative_numbers = true
    )]
    pub min_finite_ratio: f64,

    /// Prefix of the second-opinion columns.
    #[arg(long, default_value = "second_opinion")]
    pub prefix: String,

    /// The key column that names disagreement rows [default: as export finds it].
    #[arg(long, value_name = "COL")]
    pub key_column: Option<String>,

    /// The full-reference column of the disagreement and saturation checks
    /// [default: vmaf, else a libvmaf second opinion, else a canonical_fr column].
    #[arg(long, value_name = "COL")]
    pub fr_column: Option<String>,

    /// Full-reference values at or above this are saturated [default: 95 for
    /// VMAF, 5% below the top of a registry scale].
    #[arg(long, value_name = "VALUE", allow_negative_numbers = true)]
    pub fr_ceiling: Option<f64>,

    /// Rows whose FR and NR/MOS percentiles differ by more than this disagree.
    #[arg(long, default_value_t = 0.5, value_name = "GAP")]
    pub disagreement_threshold: f64,

    /// Cross-validation folds of the retrain impact estimate.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub folds: usize,

    /// Seed of the fold shuffle.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Ridge penalty of the retrain impact estimate.
    #[arg(long, default_value_t = 1.0, value_name = "ALPHA")]
    pub ridge_alpha: f64,

    /// Report what changed since the previous audit of each table label.
    #[arg(long)]
    pub compare_last: bool,

    /// Which signal families apply: all (the reference's), or ugc
    /// (user-generated content judged by viewers: leaves out the HDR
    /// display/panel and codec/encoder families).
    #[arg(long, default_value = "all", value_name = "SCOPE")]
    pub families: FamilyScope,

    /// Leave this family out of the audit (its key, as `families list`
    /// shows it); repeat for more.
    #[arg(long, value_name = "KEY")]
    pub skip_family: Vec<String>,
}

/// The families an audit applies, by the kind of corpus.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FamilyScope {
    /// Every family.
    All,
    /// UGC judged by viewers: no panel metadata or encoder ladder to know.
    Ugc,
}

impl FamilyScope {
    /// The keys of the built-in families this scope leaves out.
    pub fn skipped(self) -> &'static [&'static str] {
        match self {
            FamilyScope::All => &[],
            FamilyScope::Ugc => &["hdr_display_panel", "codec_encoder"],
        }
    }
}

#[derive(Args, Debug)]
pub struct FamiliesArgs {
    #[command(subcommand)]
    pub command: FamiliesCommand,
}

#[derive(Subcommand, Debug)]
pub enum FamiliesCommand {
    /// List the families in classification order, with patterns and candidate metrics.
    List(JsonFlag),
    /// Add a regex to a family (case-insensitive, searched anywhere in a column name).
    AddPattern {
        /// The family's key, as `families list` shows it (`canonical_fr`).
        family: String,
        /// The regex, as written (quote it for the shell).
        #[arg(allow_hyphen_values = true)]
        regex: String,
    },
    /// Remove a regex from a family.
    RemovePattern {
        /// The family's key, as `families list` shows it (`canonical_fr`).
        family: String,
        /// The regex, as written (quote it for the shell).
        #[arg(allow_hyphen_values = true)]
        regex: String,
    },
    /// Add a family after the last one.
    Add(FamilyAddArgs),
}

#[derive(Args, Debug)]
pub struct FamilyAddArgs {
    /// Its key: lower-case letters, digits and '_'.
    pub key: String,
    /// A short label for reports.
    #[arg(long)]
    pub label: String,
    /// The question the family answers.
    #[arg(long, default_value = "")]
    pub question: String,
    /// What to do when the family is missing or weak.
    #[arg(long, default_value = "")]
    pub recommendation: String,
    /// A regex (repeatable).
    #[arg(long = "pattern", value_name = "REGEX", allow_hyphen_values = true)]
    pub patterns: Vec<String>,
    /// A metric that would fill the family (repeatable).
    #[arg(long = "candidate", value_name = "METRIC")]
    pub candidates: Vec<String>,
}

// Values that name a library enum. The noun is the one of the message for
// an unknown name, which scripts and tests match: "unknown policy 'x'
// (expected mark, drop or fail)".

fn format() -> EnumValue<Format> {
    EnumValue::one_of("format")
}

/// A tag as `exports tag` and `export --tag` take it.
fn tag_name(name: &str) -> Result<String, String> {
    second_opinion::registry::points::check_tag_name(name).map(|()| name.to_string())
}

fn key_normalize() -> KeyNormalizeValue {
    KeyNormalizeValue
}

fn row_policy() -> EnumValue<RowPolicy> {
    EnumValue::either("policy")
}

fn table_format() -> EnumValue<TableFormat> {
    EnumValue::one_of("table format")
}

fn frame_match() -> EnumValue<FrameMatch> {
    EnumValue::either("frame match")
}

fn export_column() -> EnumValue<ExportColumn> {
    EnumValue::one_of("column kind")
}

fn pool_stat() -> EnumValue<PoolStat> {
    EnumValue::one_of("pooling")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own check of the definitions: unique names and short flags,
    /// valid conflicts, and default values the value parsers accept.
    #[test]
    fn definitions_pass_clap_debug_assert() {
        Cli::command().debug_assert();
    }
}
