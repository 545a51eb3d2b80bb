//! The `second-opinion` command line: parse, call the library, map errors to
//! exit codes (1: data, 2: usage). Nothing here decides what a score means.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use second_opinion::atomic_file::{check_writable, write_json_atomically};
use second_opinion::export::{ExportError, ExportOptions, ExportSummary, RowPolicy};
use second_opinion::frames::{FrameMatch, PoolStat};
use second_opinion::ingest::frame_pattern::FramePattern;
use second_opinion::ingest::{detect_format, Detection, FieldNames, Format};
use second_opinion::key::KeyNormalize;
use second_opinion::materialize::{MaterializeError, MaterializeRequest};
use second_opinion::progress::{NoProgress, Progress};
use second_opinion::registry::{
    ConflictPolicy, FileOutcome, FileStatus, IngestFileError, IngestOptions, OpenMode, Registry,
    RegistryError, SourceSpec, DEFAULT_REGISTRY,
};
use second_opinion::scorer::Scale;
use second_opinion::table::TableFormat;

/// Ingest parses on one thread and frees on another, millions of small
/// strings a second: glibc's allocator spent 40% of W4 there, mimalloc's
/// thread-free lists make that cost vanish (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A score registry for video-quality model training: ingest what
/// no-reference and MOS scorers wrote, and find out where each score came from.
#[derive(Parser, Debug)]
#[command(name = "second-opinion", version, about, max_term_width = 100)]
struct Cli {
    /// The score registry (an SQLite file, created on first ingest)
    /// [default: second-opinion.db; materialize: a throw-away registry in memory].
    #[arg(long, global = true, env = "SECOND_OPINION_REGISTRY")]
    registry: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load scorer output files into the registry, one transaction per file.
    Ingest(IngestArgs),
    /// List the scorers the registry knows, with their row counts.
    Scorers(JsonFlag),
    /// List the ingested files, with their hashes and scorers.
    Files(JsonFlag),
    /// Show the live score of a scorer and clip, and its history.
    Provenance(ProvenanceArgs),
    /// Show how a score file would be ingested, without writing anything:
    /// format, keys, scorer, scale, first rows and every problem.
    Inspect(InspectArgs),
    /// Join the registry onto a feature table as namespaced columns.
    Export(ExportArgs),
    /// List the exports recorded in the registry.
    Exports(JsonFlag),
    /// One-shot ingest + export, flag-compatible with the reference
    /// materialize_second_opinion_features.py.
    Materialize(MaterializeArgs),
    /// Audit feature tables: signal-family coverage, correlations, second
    /// opinions, disagreement and retrain impact (JSON, Markdown, HTML).
    Audit(AuditArgs),
    /// List or edit the signal families the audit classifies columns with.
    Families(FamiliesArgs),
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// The feature table (.parquet/.pq, .arrow/.feather/.ipc, .jsonl/.ndjson, .json, .csv).
    #[arg(long, value_name = "TABLE")]
    features: PathBuf,

    /// The output table; its format follows the extension unless --out-format says otherwise.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,

    /// Scorers to export, comma-separated (default: every scorer with live scores).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    scorers: Option<Vec<String>>,

    /// The table's key column (default: the first of clip_id, video_id, …, path, src, src_sha256, video_name, key).
    #[arg(long, value_name = "COL")]
    key_column: Option<String>,

    /// How the table's keys are normalised: auto, raw, basename, stem [default: auto].
    #[arg(long, value_parser = parse_key_normalize)]
    key_normalize: Option<KeyNormalize>,

    /// Rows without a score: mark (keep, status missing), drop, or fail.
    #[arg(long, default_value = "mark", value_parser = parse_policy)]
    missing_policy: RowPolicy,

    /// Rows whose score is bad: mark (keep, status bad), drop, or fail.
    #[arg(long, default_value = "mark", value_parser = parse_policy)]
    bad_policy: RowPolicy,

    /// Column name prefix.
    #[arg(long, default_value = "second_opinion")]
    prefix: String,

    /// Replace second-opinion columns the table already has, in place.
    #[arg(long)]
    overwrite: bool,

    /// Output format (parquet, arrow, jsonl, json, csv) instead of the extension's.
    #[arg(long, value_parser = parse_table_format)]
    out_format: Option<TableFormat>,

    /// Leave out the component columns of multi-output scorers (DOVER's
    /// aesthetic/technical, libvmaf's other metrics, …).
    #[arg(long)]
    no_components: bool,

    /// Add <prefix>_<slug>_score_norm: the score on 0-100, higher always
    /// better, from the scorer's scale and direction.
    #[arg(long)]
    normalize: bool,

    /// The table's frame column; with one, rows join on (key, frame)
    /// [default: the first of frame_idx, frame_index, frameNum, frame; `n`
    /// (ffmpeg-quality-metrics, 1-based) only when named].
    #[arg(long, value_name = "COL")]
    frame_column: Option<String>,

    /// How the table numbers frames: 0 or 1 [default: 1 for a column `n`, else 0].
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1))]
    frame_base: Option<i64>,

    /// How a table frame finds a scored frame when the scorer sampled:
    /// exact, nearest or previous.
    #[arg(long, default_value = "exact", value_parser = parse_frame_match)]
    frame_match: FrameMatch,

    /// The farthest a scored frame may be for nearest/previous [default: no limit].
    #[arg(long, value_name = "N")]
    max_frame_gap: Option<u64>,

    /// Pool each clip's stored frames: mean, harmonic_mean, min, max,
    /// median, p05, p10, p90, std (comma-separated) → <prefix>_<slug>_score_<stat>.
    #[arg(long, value_delimiter = ',', value_parser = parse_pool_stat, value_name = "STATS")]
    pool: Vec<PoolStat>,

    /// Also write the export report as JSON.
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct MaterializeArgs {
    /// The feature table.
    #[arg(long, value_name = "PATH")]
    features: PathBuf,

    /// A score file, optionally labelled with its scorer (repeatable).
    #[arg(long, value_name = "[LABEL=]PATH", required = true)]
    scores: Vec<String>,

    /// The output table.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,

    /// Write the audit JSON (the reference's keys plus hashed provenance).
    #[arg(long, value_name = "PATH")]
    audit_json: Option<PathBuf>,

    /// The feature table's key column.
    #[arg(long, value_name = "COL")]
    key_column: Option<String>,

    /// Field holding the key in score rows.
    #[arg(long, value_name = "FIELD")]
    score_key_field: Option<String>,

    /// Field holding the score in score rows.
    #[arg(long, value_name = "FIELD")]
    score_field: Option<String>,

    /// auto, raw, basename or stem, for table and score keys alike [default: auto].
    #[arg(long, value_parser = parse_key_normalize)]
    key_normalize: Option<KeyNormalize>,

    /// mark, drop or fail.
    #[arg(long, default_value = "mark", value_parser = parse_policy)]
    missing_policy: RowPolicy,

    /// Column name prefix.
    #[arg(long, default_value = "second_opinion")]
    prefix: String,

    /// Replace existing second-opinion columns.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args, Debug)]
struct IngestArgs {
    /// Score files, each optionally named by the scorer: `LABEL=PATH`. A row's
    /// own `competitor` wins over the label.
    #[arg(value_name = "[LABEL=]PATH", required = true)]
    sources: Vec<String>,

    #[command(flatten)]
    read: ReadArgs,

    /// What produced the file: checkpoint, commit, options. Shown by
    /// `scorers` and `provenance`, listed in export reports.
    #[arg(long, value_name = "TEXT")]
    scorer_version: Option<String>,

    /// Make new rows live over rows already live for the same scorer and key;
    /// the old rows are kept as superseded history.
    #[arg(long, conflicts_with = "ignore")]
    replace: bool,

    /// Keep rows already live for the same scorer and key; count the new ones as ignored.
    #[arg(long)]
    ignore: bool,

    /// Refuse a file when any of its rows would be stored as bad, or when
    /// its values look suspicious (all identical, off the scorer's scale, …).
    #[arg(long)]
    strict: bool,

    /// Also write the per-file summary as JSON.
    #[arg(long, value_name = "PATH")]
    report_json: Option<PathBuf>,
}

/// How score files are read: shared by `ingest` and `inspect`.
#[derive(Args, Debug)]
struct ReadArgs {
    /// Read the files as this format instead of detecting it from the content.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,

    /// Name every row's scorer, over the payload's `competitor` and the label.
    #[arg(long, value_name = "NAME")]
    scorer: Option<String>,

    /// The clip key of files that name no clip (libvmaf logs, captured
    /// stdout); default: the file's stem.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,

    /// The libvmaf metric taken as the clip score (default: vmaf).
    #[arg(long, value_name = "NAME")]
    metric: Option<String>,

    /// Field holding the clip key (default: the reference's candidates).
    #[arg(long, value_name = "FIELD")]
    score_key_field: Option<String>,

    /// Field holding the score (default: score, mos, predicted_mos, …).
    #[arg(long, value_name = "FIELD")]
    score_field: Option<String>,

    /// How keys are normalised: auto (basename for path-like fields), raw, basename, stem.
    #[arg(long, default_value = "auto", value_parser = parse_key_normalize)]
    key_normalize: KeyNormalize,

    /// Declare the scorer's scale; values outside it are stored as bad.
    #[arg(long, value_name = "MIN:MAX", value_parser = Scale::parse)]
    scale: Option<Scale>,

    /// Declare that higher scores are better.
    #[arg(long, conflicts_with = "lower_is_better")]
    higher_is_better: bool,

    /// Declare that lower scores are better (NIQE, BRISQUE).
    #[arg(long)]
    lower_is_better: bool,

    /// How the file numbers frames when it does not say: 0 or 1 (libvmaf
    /// and UVQ logs say; a frames[] field `n` is read 1-based).
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1))]
    frame_base: Option<i64>,

    /// Image scores of extracted frames: a regex with named groups `key` and
    /// `frame` turning names like clip_a_000123.png into (clip, frame) rows,
    /// stored as frames of one score per clip.
    #[arg(long, value_name = "REGEX", value_parser = FramePattern::new)]
    frame_pattern: Option<FramePattern>,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The score file, optionally labelled with its scorer.
    #[arg(value_name = "[LABEL=]PATH")]
    source: String,

    #[command(flatten)]
    read: ReadArgs,

    /// How many rows to show.
    #[arg(long, default_value = "5", value_name = "N")]
    rows: usize,

    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ProvenanceArgs {
    /// Scorer name (any spelling with the same slug).
    #[arg(long)]
    scorer: String,

    /// Clip key: as stored, as written in the file, or a path whose basename or stem is the key.
    #[arg(long)]
    key: String,

    /// Normalise KEY like this before the lookup (auto tries it as given, then its basename, then its stem).
    #[arg(long, default_value = "auto", value_parser = parse_key_normalize)]
    key_normalize: KeyNormalize,

    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl ReadArgs {
    /// Ingest options holding these reading choices.
    fn options(self) -> IngestOptions {
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
            scorer: self.scorer,
            scale: self.scale,
            higher_is_better: match (self.higher_is_better, self.lower_is_better) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            ..IngestOptions::default()
        }
    }
}

fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name).ok_or_else(|| {
        format!(
            "unknown format '{name}' (expected one of: {})",
            Format::names()
        )
    })
}

fn parse_key_normalize(name: &str) -> Result<KeyNormalize, String> {
    name.parse()
}

fn parse_frame_match(name: &str) -> Result<FrameMatch, String> {
    name.parse()
}

fn parse_pool_stat(name: &str) -> Result<PoolStat, String> {
    name.parse()
}

fn parse_policy(name: &str) -> Result<RowPolicy, String> {
    name.parse()
}

fn parse_table_format(name: &str) -> Result<TableFormat, String> {
    TableFormat::from_name(name).ok_or_else(|| {
        format!(
            "unknown table format '{name}' (expected one of: {})",
            TableFormat::names()
        )
    })
}

/// A failure as the user sees it: the message and the exit code.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn data(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            code: 1,
        }
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Failure {
        Failure {
            code: if e.is_usage() { 2 } else { 1 },
            message: e.to_string(),
        }
    }
}

impl From<MaterializeError> for Failure {
    fn from(e: MaterializeError) -> Failure {
        Failure {
            code: if e.is_usage() { 2 } else { 1 },
            message: e.to_string(),
        }
    }
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Failure {
        Failure::data(e)
    }
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`… | head`)
    // would panic; like other command-line tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at startup, before
    // any thread exists, has no memory-safety implications.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = Cli::command().get_matches();
    // materialize keeps its scores only when told on its command line: a
    // SECOND_OPINION_REGISTRY exported for ingest must not turn the
    // reference's one-shot drop-in into one that writes a registry.
    let registry_on_command_line =
        matches.value_source("registry") == Some(ValueSource::CommandLine);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let registry = cli
        .registry
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRY));
    let result = match cli.command {
        Command::Ingest(args) => ingest(&registry, args),
        Command::Scorers(args) => scorers(&registry, args.json),
        Command::Files(args) => files(&registry, args.json),
        Command::Provenance(args) => provenance(&registry, args),
        Command::Inspect(args) => inspect(&registry, args),
        Command::Export(args) => export(&registry, args),
        Command::Exports(args) => exports(&registry, args.json),
        Command::Materialize(args) => {
            materialize(cli.registry.filter(|_| registry_on_command_line), args)
        }
        Command::Audit(args) => audit(&registry, args),
        Command::Families(args) => families(&registry, args.command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("second-opinion: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn ingest(registry_path: &std::path::Path, args: IngestArgs) -> Result<(), Failure> {
    let options = IngestOptions {
        suggest_conflict_flags: true,
        scorer_version: args.scorer_version,
        on_conflict: match (args.replace, args.ignore) {
            (true, _) => ConflictPolicy::Replace,
            (_, true) => ConflictPolicy::Ignore,
            _ => ConflictPolicy::Refuse,
        },
        strict: args.strict,
        ..args.read.options()
    };
    // A file whose format cannot be told is a usage mistake: report it
    // before the registry is created or touched. (Unreadable files are
    // reported per file by the ingest itself.)
    if options.format.is_none() {
        for source in args.sources.iter().map(|a| SourceSpec::parse(a)) {
            if let Err(Detection::Unknown(source_error)) = detect_format(&source.path) {
                let error = IngestFileError::UnknownFormat {
                    path: source.path.display().to_string(),
                    source: source_error,
                };
                return Err(Failure {
                    message: error.to_string(),
                    code: 2,
                });
            }
        }
    }
    let mut registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
    let mut entries = Vec::new();
    let mut failures = Vec::new();
    for argument in &args.sources {
        let source = SourceSpec::parse(argument);
        let progress = progress_bar(&source);
        let outcome = registry.ingest_file(&source, &options, &BytesBar(&progress));
        progress.finish_and_clear();
        match outcome {
            Ok(outcome) => {
                eprintln!("{}", summary_line(&outcome));
                for note in &outcome.notes {
                    eprintln!("  note: {note}");
                }
                for warning in &outcome.warnings {
                    eprintln!(
                        "  warning: {}: {} [{}]",
                        warning.scorer, warning.message, warning.check
                    );
                }
                entries.push(outcome.to_json());
            }
            Err(error) => {
                eprintln!("second-opinion: {error}");
                eprintln!(
                    "{}: not ingested; the registry is unchanged by this file",
                    source.path.display()
                );
                entries.push(json!({
                    "path": source.path.display().to_string(),
                    "label": source.label,
                    "status": "failed",
                    "error": error.to_string(),
                }));
                failures.push(error);
            }
        }
    }
    if let Some(report_path) = &args.report_json {
        let report = json!({
            "registry": registry_path.display().to_string(),
            "tool_version": second_opinion::TOOL_VERSION,
            "files": entries,
            "failed_files": failures.len(),
        });
        write_json_atomically(report_path, &report).map_err(|e| {
            Failure::data(format!(
                "{}: cannot write report: {e}",
                report_path.display()
            ))
        })?;
    }
    match failures.len() {
        0 => Ok(()),
        count => {
            let code = if failures.iter().all(|e| e.is_usage()) {
                2
            } else {
                1
            };
            Err(Failure {
                message: format!("{count} of {} files not ingested", args.sources.len()),
                code,
            })
        }
    }
}

/// A byte progress bar on stderr, drawn only when stderr is a terminal and
/// the file is large enough to take a while.
fn progress_bar(source: &SourceSpec) -> ProgressBar {
    const WORTH_A_BAR: u64 = 16 << 20;
    let size = std::fs::metadata(&source.path)
        .map(|m| m.len())
        .unwrap_or(0);
    if !std::io::stderr().is_terminal() || size < WORTH_A_BAR {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(source.path.display().to_string());
    bar
}

/// The library's progress reports drawn as the bar.
struct BytesBar<'a>(&'a ProgressBar);

impl Progress for BytesBar<'_> {
    fn begin(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
    }

    fn advance(&self, done: u64) {
        self.0.inc(done);
    }
}

fn summary_line(outcome: &FileOutcome) -> String {
    match &outcome.status {
        FileStatus::AlreadyIngested { at } => {
            format!("{}: already ingested at {at}, skipped", outcome.path)
        }
        FileStatus::NothingNew => {
            let totals = outcome.totals();
            format!(
                "{}: nothing new ({} rows ignored, {} skipped); not recorded",
                outcome.path, totals.ignored, totals.skipped
            )
        }
        FileStatus::Ingested => {
            let per_scorer: Vec<String> = outcome
                .scorers
                .iter()
                .map(|(name, c)| {
                    format!(
                        "{name}: {} rows ingested ({} bad, {} replaced, {} ignored, {} skipped)",
                        c.ingested, c.bad, c.replaced, c.ignored, c.skipped
                    )
                })
                .collect();
            format!("{}: {}", outcome.path, per_scorer.join("; "))
        }
    }
}

fn scorers(registry_path: &std::path::Path, as_json: bool) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let scorers = registry.scorers()?;
    if as_json {
        return print_json(&scorers);
    }
    let rows = scorers
        .iter()
        .map(|s| {
            let scale = match (s.scale_min, s.scale_max) {
                (Some(min), Some(max)) => format!("{min}:{max}"),
                _ => "-".to_string(),
            };
            let direction = match s.higher_is_better {
                Some(true) => "higher",
                Some(false) => "lower",
                None => "-",
            };
            vec![
                s.name.clone(),
                s.slug.clone(),
                s.live_rows.to_string(),
                s.ok_rows.to_string(),
                s.bad_rows.to_string(),
                s.superseded_rows.to_string(),
                s.files.to_string(),
                scale,
                direction.to_string(),
                if s.versions.is_empty() {
                    "-".to_string()
                } else {
                    s.versions.join(",")
                },
                s.warnings.len().to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "NAME",
            "SLUG",
            "LIVE",
            "OK",
            "BAD",
            "SUPERSEDED",
            "FILES",
            "SCALE",
            "BETTER",
            "VERSIONS",
            "WARNINGS",
        ],
        rows,
    );
    for scorer in scorers.iter().filter(|s| !s.warnings.is_empty()) {
        for warning in &scorer.warnings {
            println!("warning: {}: {warning}", scorer.name);
        }
    }
    Ok(())
}

fn files(registry_path: &std::path::Path, as_json: bool) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let files = registry.files()?;
    if as_json {
        return print_json(&files);
    }
    let rows = files
        .iter()
        .map(|f| {
            vec![
                f.id.to_string(),
                f.path.clone(),
                short_hash(&f.sha256),
                f.format.clone(),
                f.scorers.join(","),
                f.rows.to_string(),
                f.live_rows.to_string(),
                f.ingested_at.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "PATH",
            "SHA256",
            "FORMAT",
            "SCORERS",
            "ROWS",
            "LIVE",
            "INGESTED_AT",
        ],
        rows,
    );
    Ok(())
}

fn provenance(registry_path: &std::path::Path, args: ProvenanceArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let entries = registry.provenance(&args.scorer, &args.key, args.key_normalize)?;
    if args.json {
        return print_json(&entries);
    }
    for entry in &entries {
        let score = entry.score.map_or("null".to_string(), |s| s.to_string());
        let state = if entry.live { "live" } else { "superseded" };
        println!(
            "{state}: {} key={} score={score} status={}",
            entry.scorer, entry.key, entry.status
        );
        if let Some(reason) = &entry.reason {
            println!("  reason:      {reason}");
        }
        if let Some(note) = &entry.note {
            println!("  note:        {note}");
        }
        println!(
            "  from:        {}:{} (raw key '{}' in field '{}')",
            entry.path, entry.line, entry.raw_key, entry.key_field
        );
        println!(
            "  file:        {} sha256 {}",
            entry.absolute_path, entry.sha256
        );
        println!("  ingested_at: {}", entry.ingested_at);
        if let Some(version) = &entry.scorer_version {
            println!("  version:     {version}");
        }
        if let Some(runtime) = entry.runtime_ms {
            println!("  runtime_ms:  {runtime}");
        }
        if entry.frame_count > 0 {
            println!("  frames:      {}", entry.frame_count);
        }
        if let (Some(at), Some(by)) = (&entry.superseded_at, &entry.superseded_by) {
            println!("  superseded:  {at} by {by}");
        }
    }
    Ok(())
}

/// The first 12 characters of a hex digest, for tables.
fn short_hash(hex: &str) -> String {
    hex.chars().take(12).collect()
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    // Through Value so object keys come out sorted.
    let value = serde_json::to_value(value).map_err(Failure::data)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&value).map_err(Failure::data)?
    );
    Ok(())
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<String>| {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    render(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        render(row);
    }
}

fn export(registry_path: &std::path::Path, args: ExportArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let options = ExportOptions {
        scorers: args.scorers,
        key_column: args.key_column,
        key_normalize: args.key_normalize,
        missing_policy: args.missing_policy,
        bad_policy: args.bad_policy,
        prefix: args.prefix,
        overwrite: args.overwrite,
        out_format: args.out_format,
        components: !args.no_components,
        normalize: args.normalize,
        frame_column: args.frame_column,
        frame_base: args.frame_base,
        frame_match: args.frame_match,
        max_frame_gap: args.max_frame_gap,
        pool: args.pool,
        per_frame: true,
    };
    let report_error = |path: &std::path::Path, e| {
        Failure::data(format!("{}: cannot write report: {e}", path.display()))
    };
    if let Some(path) = &args.report_json {
        check_writable(path).map_err(|e| report_error(path, e))?;
    }
    let summary = second_opinion::export::export(&registry, &args.features, &args.out, &options)?;
    if let Some(path) = &args.report_json {
        write_json_atomically(path, &summary.to_json()).map_err(|e| report_error(path, e))?;
    }
    registry.record_export(&summary.record("export"))?;
    print_export_summary(&summary);
    Ok(())
}

fn print_export_summary(summary: &ExportSummary) {
    eprintln!(
        "{}: {} rows written ({} read from {}, key {}/{})",
        summary.output_path,
        summary.output_rows,
        summary.input_rows,
        summary.features_path,
        summary.key_column,
        summary.key_normalize
    );
    for scorer in &summary.scorers {
        eprintln!(
            "  {}: {} matched, {} missing, {} bad; {} of {} scores matched no row{}",
            scorer.name,
            scorer.matched,
            scorer.missing,
            scorer.bad,
            scorer.unmatched,
            scorer.loaded,
            if scorer.unmatched_keys.is_empty() {
                String::new()
            } else {
                format!(" (first: {})", scorer.unmatched_keys.join(", "))
            }
        );
    }
}

fn exports(registry_path: &std::path::Path, as_json: bool) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let exports = registry.exports()?;
    if as_json {
        return print_json(&exports);
    }
    let rows = exports
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.created_at.clone(),
                e.command.clone(),
                e.features_path.clone(),
                e.output_path.clone(),
                short_hash(&e.output_sha256),
                e.output_rows.to_string(),
                short_hash(&e.registry_digest),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "CREATED_AT",
            "COMMAND",
            "FEATURES",
            "OUTPUT",
            "OUT_SHA256",
            "ROWS",
            "REGISTRY",
        ],
        rows,
    );
    Ok(())
}

fn materialize(registry: Option<PathBuf>, args: MaterializeArgs) -> Result<(), Failure> {
    let request = MaterializeRequest {
        scores: args.scores.iter().map(|s| SourceSpec::parse(s)).collect(),
        args: json!({
            "features": args.features,
            "scores": args.scores,
            "out": args.out,
            "audit_json": args.audit_json,
            "key_column": args.key_column,
            "score_key_field": args.score_key_field,
            "score_field": args.score_field,
            "key_normalize": args.key_normalize.unwrap_or_default().name(),
            "missing_policy": args.missing_policy.name(),
            "prefix": args.prefix,
            "overwrite": args.overwrite,
            "registry": registry,
        }),
        features: args.features,
        out: args.out,
        audit_json: args.audit_json,
        key_column: args.key_column,
        fields: FieldNames {
            key: args.score_key_field,
            score: args.score_field,
            frame_base: None,
        },
        key_normalize: args.key_normalize,
        missing_policy: args.missing_policy,
        prefix: args.prefix,
        overwrite: args.overwrite,
        registry,
        argv: std::env::args().collect(),
    };
    let (summary, _audit) = second_opinion::materialize::materialize(&request)?;
    print_export_summary(&summary);
    Ok(())
}

fn inspect(registry_path: &std::path::Path, args: InspectArgs) -> Result<(), Failure> {
    let source = SourceSpec::parse(&args.source);
    let options = IngestOptions {
        dry_run: true,
        preview_rows: args.rows,
        suggest_conflict_flags: true,
        ..args.read.options()
    };
    // Judged against the registry when there is one (duplicates, scales),
    // else against an empty one in memory: inspect never creates a file.
    let mut registry = if registry_path.exists() {
        Registry::open(registry_path, OpenMode::MustExist)?
    } else {
        Registry::open_in_memory()?
    };
    let outcome = registry.ingest_file(&source, &options, &NoProgress);
    if args.json {
        let report = match &outcome {
            Ok(outcome) => json!({
                "would_ingest": true,
                "file": outcome.to_json(),
                "preview": outcome.preview,
                "scorers": outcome.scorer_details,
                "problem": null,
            }),
            Err(error) => json!({
                "would_ingest": false,
                "file": {"path": source.path.display().to_string(), "label": source.label},
                "problem": error.to_string(),
            }),
        };
        print_json(&report)?;
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            if !args.json {
                println!("{}: would not be ingested", source.path.display());
                println!("problem: {error}");
            }
            return Err(Failure {
                message: format!("{}: would not be ingested", source.path.display()),
                code: if error.is_usage() { 2 } else { 1 },
            });
        }
    };
    if args.json {
        return Ok(());
    }
    println!("file:     {} (sha256 {})", outcome.path, outcome.sha256);
    println!("format:   {} ({})", outcome.format, outcome.format_reason);
    for (name, detail) in &outcome.scorer_details {
        let direction = match detail.higher_is_better {
            Some(true) => "higher is better",
            Some(false) => "lower is better",
            None => "direction unknown",
        };
        let scale = match (&detail.scale, &detail.typical) {
            (Some(scale), _) => format!("scale {scale}"),
            (None, Some(typical)) => format!("typical range {typical}"),
            (None, None) => "no scale".to_string(),
        };
        println!(
            "scorer:   {name} (slug {}; {scale}; {direction})",
            detail.slug
        );
    }
    println!("dry run:  {}", summary_line(&outcome));
    for note in &outcome.notes {
        println!("note:     {note}");
    }
    for warning in &outcome.warnings {
        println!(
            "warning:  {}: {} [{}]",
            warning.scorer, warning.message, warning.check
        );
    }
    let rows = outcome
        .preview
        .iter()
        .map(|row| {
            let components: Vec<String> = row
                .components
                .iter()
                .map(|(name, value)| {
                    format!("{name}={}", value.map_or("null".into(), |v| v.to_string()))
                })
                .collect();
            vec![
                row.line.to_string(),
                row.scorer.clone(),
                format!("{}={}", row.key_field, row.raw_key),
                row.key.clone(),
                row.score.map_or("null".into(), |v| v.to_string()),
                row.status.clone(),
                // A bad row says why; an ok row may carry the reader's note.
                row.reason
                    .clone()
                    .or_else(|| row.note.clone())
                    .unwrap_or_default(),
                if row.frames > 0 {
                    row.frames.to_string()
                } else {
                    String::new()
                },
                components.join(" "),
            ]
        })
        .collect();
    println!();
    print_table(
        &[
            "LINE",
            "SCORER",
            "RAW KEY",
            "KEY",
            "SCORE",
            "STATUS",
            "REASON / NOTE",
            "FRAMES",
            "COMPONENTS",
        ],
        rows,
    );
    Ok(())
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// A feature table, optionally labelled (repeatable; the label defaults to the file's stem).
    #[arg(long = "input", value_name = "[LABEL=]TABLE", required = true)]
    inputs: Vec<String>,

    /// The target column [default: the first of vmaf, vmaf_score, mos_raw_0_100, mos, dmos,
    /// score]; a name the table lacks means no target.
    #[arg(long, value_name = "COL")]
    target: Option<String>,

    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    out_json: PathBuf,

    /// Write the Markdown report here.
    #[arg(long, value_name = "PATH")]
    out_md: PathBuf,

    /// Also write a self-contained HTML page with scatter plots.
    #[arg(long, value_name = "PATH")]
    out_html: Option<PathBuf>,

    /// Rows listed per section.
    #[arg(long, default_value_t = 12, value_name = "N")]
    top_k: usize,

    /// Pairs of signal columns with |r| at or above this are redundant.
    #[arg(long, default_value_t = 0.95, value_name = "R")]
    redundancy_threshold: f64,

    /// Cross-family pairs with |r| at or below this (each |r| >= 0.20 with the
    /// target) are complementary.
    #[arg(long, default_value_t = 0.70, value_name = "R")]
    complement_threshold: f64,

    /// A column covers its family only with at least this share of finite values.
    #[arg(long, default_value_t = 0.80, value_name = "RATIO")]
    min_finite_ratio: f64,

    /// Prefix of the second-opinion columns.
    #[arg(long, default_value = "second_opinion")]
    prefix: String,

    /// The key column that names disagreement rows [default: as export finds it].
    #[arg(long, value_name = "COL")]
    key_column: Option<String>,

    /// The full-reference column of the disagreement and saturation checks
    /// [default: vmaf, else a libvmaf second opinion, else a canonical_fr column].
    #[arg(long, value_name = "COL")]
    fr_column: Option<String>,

    /// Full-reference values at or above this are saturated [default: 95 for
    /// VMAF, 5% below the top of a registry scale].
    #[arg(long, value_name = "VALUE", allow_negative_numbers = true)]
    fr_ceiling: Option<f64>,

    /// Rows whose FR and NR/MOS percentiles differ by more than this disagree.
    #[arg(long, default_value_t = 0.5, value_name = "GAP")]
    disagreement_threshold: f64,

    /// Cross-validation folds of the retrain impact estimate.
    #[arg(long, default_value_t = 5, value_name = "K")]
    folds: usize,

    /// Seed of the fold shuffle.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Ridge penalty of the retrain impact estimate.
    #[arg(long, default_value_t = 1.0, value_name = "ALPHA")]
    ridge_alpha: f64,

    /// Report what changed since the previous audit of each table label.
    #[arg(long)]
    compare_last: bool,
}

#[derive(Args, Debug)]
struct FamiliesArgs {
    #[command(subcommand)]
    command: FamiliesCommand,
}

#[derive(Subcommand, Debug)]
enum FamiliesCommand {
    /// List the families in classification order, with patterns and candidate metrics.
    List(JsonFlag),
    /// Add a regex to a family (case-insensitive, searched anywhere in a column name).
    AddPattern {
        family: String,
        #[arg(allow_hyphen_values = true)]
        regex: String,
    },
    /// Remove a regex from a family.
    RemovePattern {
        family: String,
        #[arg(allow_hyphen_values = true)]
        regex: String,
    },
    /// Add a family after the last one.
    Add(FamilyAddArgs),
}

#[derive(Args, Debug)]
struct FamilyAddArgs {
    /// Its key: lower-case letters, digits and '_'.
    key: String,
    /// A short label for reports.
    #[arg(long)]
    label: String,
    /// The question the family answers.
    #[arg(long, default_value = "")]
    question: String,
    /// What to do when the family is missing or weak.
    #[arg(long, default_value = "")]
    recommendation: String,
    /// A regex (repeatable).
    #[arg(long = "pattern", value_name = "REGEX", allow_hyphen_values = true)]
    patterns: Vec<String>,
    /// A metric that would fill the family (repeatable).
    #[arg(long = "candidate", value_name = "METRIC")]
    candidates: Vec<String>,
}

impl From<second_opinion::audit::AuditError> for Failure {
    fn from(e: second_opinion::audit::AuditError) -> Failure {
        Failure {
            code: if e.is_usage() { 2 } else { 1 },
            message: e.to_string(),
        }
    }
}

/// The registry the audit reads families from: the file when it exists,
/// else the default families in memory (and nothing is recorded).
fn audit_registry(registry_path: &std::path::Path) -> Result<(Registry, bool), Failure> {
    if registry_path.exists() {
        Ok((Registry::open(registry_path, OpenMode::MustExist)?, true))
    } else {
        eprintln!(
            "second-opinion: no registry at {}: using the default signal families; nothing is recorded",
            registry_path.display()
        );
        Ok((Registry::open_in_memory()?, false))
    }
}

fn audit(registry_path: &std::path::Path, args: AuditArgs) -> Result<(), Failure> {
    use second_opinion::audit::{self, report, AuditInput, AuditOptions};
    let options = AuditOptions {
        inputs: args.inputs.iter().map(|i| AuditInput::parse(i)).collect(),
        input_arguments: args.inputs.clone(),
        target: args.target,
        top_k: args.top_k,
        redundancy_threshold: args.redundancy_threshold,
        complement_threshold: args.complement_threshold,
        min_finite_ratio: args.min_finite_ratio,
        prefix: args.prefix,
        key_column: args.key_column,
        fr_column: args.fr_column,
        fr_ceiling: args.fr_ceiling,
        disagreement_threshold: args.disagreement_threshold,
        folds: args.folds,
        seed: args.seed,
        ridge_alpha: args.ridge_alpha,
        compare_last: args.compare_last,
    };
    let (registry, recorded) = audit_registry(registry_path)?;
    let audited = audit::audit(&registry, &options)?;
    let paths = second_opinion::audit::ReportPaths {
        json: args.out_json,
        markdown: args.out_md,
        html: args.out_html,
    };
    second_opinion::audit::write_reports(
        &audited,
        &paths,
        std::env::args().collect(),
        recorded.then_some(registry_path),
    )?;
    if recorded {
        let run = audit::history::record(&registry, &audited, &paths.to_json())?;
        eprintln!("audit run {run} recorded in {}", registry_path.display());
    }
    let count = |f: fn(&audit::TableAudit) -> usize| audited.tables.iter().map(f).sum::<usize>();
    let mut wrote = vec![
        paths.json.display().to_string(),
        paths.markdown.display().to_string(),
    ];
    wrote.extend(paths.html.iter().map(|p| p.display().to_string()));
    println!(
        "[signal-mix] tables={} missing_families={} weak_families={} wrote={}",
        audited.tables.len(),
        count(|t| t.signals.missing_families.len()),
        count(|t| t.signals.weak_families.len()),
        wrote.join(" ")
    );
    for table in &audited.tables {
        if let Some(changes) = &table.changes {
            println!("changes since the last audit of '{}':", table.label);
            for line in report::changes_lines(changes) {
                println!("  {line}");
            }
        }
    }
    Ok(())
}

fn families(registry_path: &std::path::Path, command: FamiliesCommand) -> Result<(), Failure> {
    use second_opinion::audit::families::{self, NewFamily};
    match command {
        FamiliesCommand::List(flag) => {
            let (registry, _) = audit_registry(registry_path)?;
            let all = families::load_families(&registry)?;
            if flag.json {
                return print_json(&all);
            }
            for family in &all {
                println!("{}. {} — {}", family.position, family.key, family.label);
                if !family.question.is_empty() {
                    println!("   question:       {}", family.question);
                }
                println!("   patterns:       {}", family.patterns.join("  "));
                if !family.candidate_metrics.is_empty() {
                    println!("   candidates:     {}", family.candidate_metrics.join(", "));
                }
                if !family.recommendation.is_empty() {
                    println!("   recommendation: {}", family.recommendation);
                }
            }
        }
        FamiliesCommand::AddPattern { family, regex } => {
            families::checked_pattern(&regex)?;
            let registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
            if families::add_pattern(&registry, &family, &regex)? {
                println!("{family}: pattern '{regex}' added");
            } else {
                println!("{family}: already has pattern '{regex}'");
            }
        }
        FamiliesCommand::RemovePattern { family, regex } => {
            let registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
            families::remove_pattern(&registry, &family, &regex)?;
            println!("{family}: pattern '{regex}' removed");
        }
        FamiliesCommand::Add(args) => {
            for pattern in &args.patterns {
                families::checked_pattern(pattern)?;
            }
            let registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
            families::add_family(
                &registry,
                &NewFamily {
                    key: args.key.clone(),
                    label: args.label,
                    question: args.question,
                    recommendation: args.recommendation,
                    patterns: args.patterns,
                    candidate_metrics: args.candidates,
                },
            )?;
            println!("{}: family added", args.key);
        }
    }
    Ok(())
}
