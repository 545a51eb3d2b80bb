//! `materialize`: the one-shot ingest + export of the reference script
//! `materialize_second_opinion_features.py`, with its flags and its audit
//! JSON, over an in-memory registry unless one is named.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::command_line::CommandLine;
use crate::digest::{sha256_file_with_size, HashingRead};
use crate::export::{
    export_scores_opened, prepare_export, ExportError, ExportOptions, ExportSummary, OpenedTable,
    PreparedExport, RowPolicy,
};
use crate::ingest::pipeline::{FileIngest, PipelineError};
use crate::ingest::suspicious::Warning;
use crate::ingest::{
    halves, Detection, FieldNames, Format, ReadError, ReadOptions, RecordSink, ScoreRecord,
};
use crate::key::KeyNormalize;
use crate::progress::NoProgress;
use crate::registry::memory::{MemoryScores, MemoryStore};
use crate::registry::{
    IngestFileError, IngestOptions, OpenMode, Registry, RegistryError, SourceSpec,
};
use crate::scorer::Scale;
use crate::threads::{Background, Feed, Handoff, Worker};

/// Everything `materialize` was asked to do.
#[derive(Clone, Debug)]
pub struct MaterializeRequest {
    pub features: PathBuf,
    pub scores: Vec<SourceSpec>,
    pub out: PathBuf,
    pub audit_json: Option<PathBuf>,
    pub key_column: Option<String>,
    pub fields: FieldNames,
    /// `None` when not given (then `auto`).
    pub key_normalize: Option<KeyNormalize>,
    pub missing_policy: RowPolicy,
    pub prefix: String,
    pub overwrite: bool,
    /// `--scale MIN:MAX`: the scale of every scorer of the run (values
    /// outside it are still kept, as every value is, and warned of).
    pub scale: Option<Scale>,
    /// Keep the scores in this registry instead of a throw-away one.
    pub registry: Option<PathBuf>,
    /// With a registry: name the recorded export, and a note kept with it.
    pub tag: Option<String>,
    pub note: Option<String>,
    /// The command line after the subcommand, and the parsed arguments by
    /// the reference's (Python) names, for the audit's `run_provenance`.
    pub argv: Vec<String>,
    pub args: Value,
    /// `materialize`, or `batch` running a table: what messages suggest.
    pub command_line: CommandLine,
    /// `--csv-safe`: formula-like text cells of a CSV output get a `'`.
    pub csv_safe: bool,
}

impl MaterializeRequest {
    /// The request with each score file as the reference takes it: the
    /// label trimmed (an empty one is none), the path as Python's `Path`
    /// spells it (`./scores.jsonl` is `scores.jsonl`), which is what its
    /// `_source` column and messages show.
    fn as_reference_reads_it(&self) -> MaterializeRequest {
        let scores = self
            .scores
            .iter()
            .map(|source| SourceSpec {
                label: source
                    .label
                    .as_deref()
                    .map(str::trim)
                    .filter(|label| !label.is_empty())
                    .map(str::to_string),
                path: PathBuf::from(python_path(&source.path)),
            })
            .collect();
        MaterializeRequest {
            scores,
            ..self.clone()
        }
    }
}

/// A path as Python's `str(Path(text))` spells it: `.` components and
/// repeated or trailing slashes dropped (`./a//b/` is `a/b`), a leading
/// `//` kept as POSIX does, `..` kept, and the empty path `.`.
pub fn python_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let root = if text.starts_with("//") && !text.starts_with("///") {
        "//"
    } else if text.starts_with('/') {
        "/"
    } else {
        ""
    };
    let parts: Vec<&str> = text
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    let spelled = format!("{root}{}", parts.join("/"));
    if spelled.is_empty() {
        ".".to_string()
    } else {
        spelled
    }
}

/// Why `materialize` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum MaterializeError {
    #[error(transparent)]
    Ingest(#[from] IngestFileError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Two of the run's files are one (an output over an input, the
    /// registry or another output).
    #[error("{0}")]
    Clash(String),
    #[error("{path}: cannot write the audit JSON: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
    /// Renaming the outputs into place failed part of the way.
    #[error("{failure}{}", recorded.map(|id| format!(" (the export is recorded as {id})")).unwrap_or_default())]
    Publish {
        failure: crate::atomic_file::PartlyPublished,
        recorded: Option<i64>,
    },
}

impl MaterializeError {
    pub fn is_usage(&self) -> bool {
        match self {
            MaterializeError::Ingest(e) => e.is_usage(),
            MaterializeError::Export(e) => e.is_usage(),
            MaterializeError::Registry(e) => e.is_usage(),
            MaterializeError::Clash(_) => true,
            _ => false,
        }
    }
}

/// Ingest the score files, export onto the feature table, write the audit.
///
/// Both outputs are written to temporaries first; with a registry, the
/// scores and the export's record are committed next, and the outputs
/// are renamed into place last (the record is confirmed after that).
///
/// What reading the score files found (a scorer without a scale, values
/// outside a scale) is in the summary's warnings, each naming its file,
/// and in the audit's competitors.
pub fn materialize(
    request: &MaterializeRequest,
) -> Result<(ExportSummary, Value), MaterializeError> {
    let (summary, audit) = run(request, true)?;
    Ok((summary, audit.expect("the audit is built when asked for")))
}

/// [`materialize`] for a caller that needs the audit JSON only where
/// `audit_json` names it (the command): without it, the audit is not
/// built, so neither the program nor the table is hashed for it.
pub fn materialize_written(
    request: &MaterializeRequest,
) -> Result<ExportSummary, MaterializeError> {
    run(request, request.audit_json.is_some()).map(|(summary, _)| summary)
}

/// The run of [`materialize`]; the audit is built when `audit` or written
/// anyway.
fn run(
    request: &MaterializeRequest,
    audit: bool,
) -> Result<(ExportSummary, Option<Value>), MaterializeError> {
    let request = &request.as_reference_reads_it();
    let build_audit = audit || request.audit_json.is_some();
    if build_audit {
        // The program's hash, for the audit, while the run reads.
        std::thread::spawn(|| drop(entrypoint()));
    }
    let audit_error = |path: &Path, source| MaterializeError::Audit {
        path: path.display().to_string(),
        source,
    };
    refuse_clashes(request)?;
    if let Some(path) = &request.audit_json {
        crate::atomic_file::check_writable(path).map_err(|e| audit_error(path, e))?;
    }
    let stage_audit = |audit: &Value| {
        request
            .audit_json
            .as_deref()
            .map(|path| {
                crate::atomic_file::stage_json(path, audit).map_err(|e| audit_error(path, e))
            })
            .transpose()
    };
    let Some(registry_path) = &request.registry else {
        let (prepared, read) = materialize_in_memory(request)?;
        let audit = build_audit.then(|| audit_json(request, &prepared.summary, &read));
        let staged_audit = audit.as_ref().map(stage_audit).transpose()?.flatten();
        let (mut summary, table) = prepared.into_parts();
        crate::atomic_file::publish_all(std::iter::once(table).chain(staged_audit).collect())
            .map_err(|e| MaterializeError::Publish {
                failure: e,
                recorded: None,
            })?;
        read.tell(&mut summary);
        return Ok((summary, audit));
    };
    let mut registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
    // A tag the record could not take is refused before anything is written.
    if let Some(tag) = &request.tag {
        registry.check_tag_free(tag)?;
    }
    let settled = registry.settle_pending_exports()?;
    // One transaction for the whole run: a kept registry gains the score
    // files only if the export succeeds too, and its record is committed
    // with them, before the outputs are put in place.
    let (prepared, audit, staged_audit, id, read) = registry.in_one_transaction(|registry| {
        let (scorers, read) = ingest_scores(registry, request)?;
        let options = ExportOptions {
            scorers: Some(scorers),
            ..reference_export_options(request)
        };
        let mut prepared = prepare_export(registry, &request.features, &request.out, &options)?;
        prepared
            .summary
            .warnings
            .extend(settled.iter().map(crate::export::recorded::settled_warning));
        let audit = build_audit.then(|| audit_json(request, &prepared.summary, &read));
        let staged_audit = audit.as_ref().map(stage_audit).transpose()?.flatten();
        let mut record = prepared.summary.record("materialize");
        record.note = request.note.clone();
        let id = registry.record_export(&record, request.tag.as_deref())?;
        Ok::<_, MaterializeError>((prepared, audit, staged_audit, id, read))
    })?;
    crate::crash_point::crash_point("export-recorded");
    let (mut summary, table) = prepared.into_parts();
    crate::export::recorded::publish_recorded(
        &registry,
        id,
        table,
        staged_audit.into_iter().collect(),
    )
    .map_err(|failure| MaterializeError::Publish {
        failure,
        recorded: Some(id),
    })?;
    read.tell(&mut summary);
    Ok((summary, audit))
}

/// The table and the audit JSON must not overwrite each other, a score
/// file or the registry; the table may replace the feature table in place.
fn refuse_clashes(request: &MaterializeRequest) -> Result<(), MaterializeError> {
    let mut outputs: Vec<(&str, &Path)> = vec![("--out", &request.out)];
    if let Some(audit) = &request.audit_json {
        outputs.push(("--audit-json", audit));
    }
    let mut inputs: Vec<(&str, &Path)> = vec![("--features", &request.features)];
    inputs.extend(
        request
            .scores
            .iter()
            .map(|s| ("--scores", s.path.as_path())),
    );
    let registry_files = request
        .registry
        .as_deref()
        .map(crate::atomic_file::registry_files)
        .unwrap_or_default();
    inputs.extend(
        registry_files
            .iter()
            .map(|(role, path)| (*role, path.as_path())),
    );
    crate::atomic_file::refuse_clashes(&outputs, &inputs, &[("--out", "--features")])
        .map_err(MaterializeError::Clash)
}

/// The export the reference script does: five columns per scorer, joined
/// per clip, bad rows marked.
fn reference_export_options(request: &MaterializeRequest) -> ExportOptions {
    ExportOptions {
        scorers: None,
        key_column: request.key_column.clone(),
        key_normalize: crate::key::KeyNormalizeSetting::every(request.key_normalize),
        missing_policy: request.missing_policy,
        bad_policy: RowPolicy::Mark,
        prefix: request.prefix.clone(),
        overwrite: request.overwrite,
        out_format: None,
        components: false,
        normalize: false,
        per_frame: false,
        command_line: request.command_line,
        csv_safe: request.csv_safe,
        reference_order: true,
        ..ExportOptions::default()
    }
}

/// What reading a run's score files found, for the audit and the user.
#[derive(Debug, Default)]
struct ScoresRead {
    /// Each file's provenance entry, in command-line order.
    files: Vec<Value>,
    /// Per scorer (as registered): the scale its values were judged
    /// against (`None`: none known), and what was found about its values.
    scorers: BTreeMap<String, ScorerRead>,
    /// Every finding as the user is told it, naming its file.
    messages: Vec<String>,
}

#[derive(Debug, Default)]
struct ScorerRead {
    scale: Option<String>,
    warnings: Vec<String>,
}

impl ScoresRead {
    /// Take what one file's read found.
    fn add(
        &mut self,
        path: &str,
        entry: Value,
        notes: &[String],
        warnings: &[Warning],
        scales: impl IntoIterator<Item = (String, Option<String>)>,
    ) {
        self.files.push(entry);
        for (name, scale) in scales {
            self.scorers.entry(name).or_default().scale = scale;
        }
        for note in notes {
            self.messages.push(format!("{path}: {note}"));
        }
        for warning in warnings {
            self.messages
                .push(format!("{path}: {}: {}", warning.scorer, warning.message));
            self.scorers
                .entry(warning.scorer.clone())
                .or_default()
                .warnings
                .push(warning.message.clone());
        }
    }

    /// Hand the findings to the caller with the export's own warnings,
    /// first: they were found first.
    fn tell(self, summary: &mut ExportSummary) {
        let export_warnings = std::mem::take(&mut summary.warnings);
        summary.warnings = self.messages;
        summary.warnings.extend(export_warnings);
    }
}

/// Without a registry to keep, the score files are read straight into the
/// export's index: the same readers, names, keys, judgements and duplicate
/// refusals as an ingest, without a round trip through SQLite.
///
/// Reading threads read and parse the files while this one judges and
/// holds their records in command-line order: the outcome, and the first
/// error, are those of reading the files one by one.
fn materialize_in_memory(
    request: &MaterializeRequest,
) -> Result<(PreparedExport, ScoresRead), MaterializeError> {
    let mut scores = MemoryScores::default();
    let mut read = ScoresRead::default();
    let options = reference_export_options(request);
    let ingest_options = reference_ingest_options(request);
    // The feature table is opened (its schema inferred, for JSON Lines) while
    // the scores are read; its errors still come after theirs. A detached
    // thread, so a score error is reported without waiting for it.
    let opening = {
        let (features, out, options) = (
            request.features.clone(),
            request.out.clone(),
            options.clone(),
        );
        Background::start(move || OpenedTable::open(&features, &out, &options))
    };
    std::thread::scope(|scope| {
        // Parsing costs more than holding: two readers take the files in
        // turn (file i goes to reader i % readers), each into its own feed,
        // and this thread takes the feeds in file order.
        let hash_first = files_hashed_first(&request.scores);
        let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
        let readers = request.scores.len().clamp(1, parallel.clamp(1, 2));
        // With a core to spare (one score file on two cores: W2), a file is
        // hashed on a thread of its own, beside its parse, and a large JSON
        // Lines file is parsed in halves.
        let hash_beside = readers < parallel;
        let halves_from = if hash_beside {
            halves::MIN_BYTES
        } else {
            u64::MAX
        };
        let mut feeds: Vec<_> = (0..readers)
            .map(|reader| {
                let files: Vec<(&SourceSpec, bool)> = request
                    .scores
                    .iter()
                    .zip(hash_first.iter().copied())
                    .skip(reader)
                    .step_by(readers)
                    .collect();
                let options = &ingest_options;
                Feed::scoped(scope, PARSED_QUEUE, move |out| {
                    parse_score_files(&files, options, hash_beside, halves_from, &out)
                })
            })
            .collect();
        for (position, source) in request.scores.iter().enumerate() {
            let held = hold_score_file(
                &mut scores,
                source,
                &ingest_options,
                &mut feeds[position % readers],
                &mut read,
            );
            match held {
                Ok(()) => {}
                Err(e) => {
                    feeds.into_iter().for_each(Feed::finish);
                    return Err(e);
                }
            }
        }
        feeds.into_iter().for_each(Feed::finish);
        Ok::<_, IngestFileError>(())
    })?;
    let opened = opening.join()?;
    let prepared = export_scores_opened(scores, opened, &request.out, &options)?;
    Ok((prepared, read))
}

/// The ingest a one-shot run does, into memory or a kept registry: the
/// reference's fields and key normalisation, duplicates refused without
/// the registry's flags, and every finite value kept as written, as the
/// reference keeps it (`--scale`, when given, is every scorer's scale).
fn reference_ingest_options(request: &MaterializeRequest) -> IngestOptions {
    IngestOptions {
        fields: request.fields.clone(),
        key_normalize: request.key_normalize.unwrap_or_default(),
        command_line: request.command_line,
        names_as_written: true,
        keep_values: true,
        scale: request.scale,
        force_scale: request.scale.is_some(),
        ..IngestOptions::default()
    }
}

/// Which score files are hashed before they are read: those whose size
/// another file of the run shares. A store must know whether a file holds
/// the same bytes as one read before it (it is then read once) when the
/// file's first scorer is registered; only a file of the same size can,
/// so every other file is hashed as it is parsed, in the one read of its
/// bytes (issue 18: the second read was 30% of W2). A file whose size
/// cannot be read is hashed first, where its error is reported.
fn files_hashed_first(sources: &[SourceSpec]) -> Vec<bool> {
    let sizes: Vec<Option<u64>> = sources
        .iter()
        .map(|source| std::fs::metadata(&source.path).ok().map(|m| m.len()))
        .collect();
    sizes
        .iter()
        .enumerate()
        .map(|(position, size)| {
            size.is_none()
                || sizes
                    .iter()
                    .enumerate()
                    .any(|(other, other_size)| other != position && other_size == size)
        })
        .collect()
}

/// Batches of parsed records the reading thread may run ahead by.
const PARSED_QUEUE: usize = 16;

/// Records per batch handed from the reading thread.
const PARSED_BATCH: usize = 4096;

/// What the reading thread hands over, file by file in command-line order.
enum Parsed {
    /// A file about to be read.
    Opened {
        format: Format,
        /// The sha256 and size, when the file was hashed before its read.
        hashed_first: Option<Hashed>,
        /// About how many rows the file holds ([`rows_hint`]).
        rows_hint: Option<usize>,
    },
    /// Records of the file, in file order.
    Records(Vec<ScoreRecord>),
    /// The end of the file with its sha256 and size when it was hashed as
    /// it was read, or the error that ended its reading (then no later
    /// file is read).
    Finished(Result<Option<Hashed>, ReadError>),
    /// The file could not be recognised, hashed or opened; no later file is read.
    Failed(IngestFileError),
}

/// A reading thread: detect, hash, open and parse each of its score files
/// in order, stopping at the first failure or when the receiver is gone.
/// A file hashed as it is read is hashed on a thread of its own when
/// `hash_beside`; a JSON Lines file of at least `halves_from` bytes is
/// parsed in two halves on two threads.
fn parse_score_files(
    sources: &[(&SourceSpec, bool)],
    options: &IngestOptions,
    hash_beside: bool,
    halves_from: u64,
    out: &Handoff<Parsed>,
) {
    for &(source, hash_first) in sources {
        let path = source.path.display().to_string();
        let (format, hashed_first, file) = match open_score_file(source, &path, options, hash_first)
        {
            Ok(opened) => opened,
            Err(e) => {
                let _ = out.send(Parsed::Failed(e));
                return;
            }
        };
        let hash_while_reading = hashed_first.is_none();
        let opened = Parsed::Opened {
            format,
            hashed_first,
            rows_hint: rows_hint(&source.path, format),
        };
        if out.send(opened).is_err() {
            return;
        }
        let read_options = options.read_options(source);
        let mut sink = ForwardingSink {
            out,
            records: Vec::with_capacity(PARSED_BATCH),
        };
        let halves = match format {
            Format::Jsonl => halves::split_point(&file, halves_from),
            _ => Ok(None),
        };
        let read = match halves {
            // Hashed, when it is hashed as it is read, on a third thread:
            // a per-frame payload file parses at about half the speed it hashes.
            Ok(Some(cut)) => halves::read_jsonl_in_halves(
                &file,
                cut,
                &read_options,
                KEEP_FRAMES,
                hash_while_reading,
                &mut sink,
            ),
            Ok(None) => read_in_one_pass(
                file,
                format,
                hash_while_reading,
                hash_beside,
                &read_options,
                &mut sink,
            ),
            Err(e) => Err(Forwarding::Read(e.into())),
        };
        let ended = match read {
            Ok(hashed) => Ok(hashed),
            Err(Forwarding::Read(e)) => Err(e),
            Err(Forwarding::Closed) => return,
        };
        // Records read before an error come first: one of them may fail sooner.
        if sink.flush().is_err() {
            return;
        }
        let failed = ended.is_err();
        if out.send(Parsed::Finished(ended)).is_err() || failed {
            return;
        }
    }
}

/// Read `file` in `format` into `sink` in one pass, hashing it as it is
/// read when `hash` (on a thread of its own when `hash_beside`).
fn read_in_one_pass(
    file: File,
    format: Format,
    hash: bool,
    hash_beside: bool,
    options: &ReadOptions,
    sink: &mut ForwardingSink,
) -> Result<Option<Hashed>, Forwarding> {
    let hashing = if hash && hash_beside {
        HashingRead::beside(file)
    } else {
        HashingRead::new(file, hash)
    };
    let mut input = BufReader::with_capacity(1 << 20, hashing);
    format.read(&mut input, options, sink)?;
    // Hash what the reader left unread too (a trailer).
    Ok(input.into_inner().finish().map_err(ReadError::from)?)
}

/// A file's sha256 (lower-case hex) and size.
type Hashed = (String, u64);

/// Bytes of a file's opening that [`rows_hint`] counts lines in.
const HINT_SAMPLE: usize = 64 << 10;

/// About how many rows `file` holds, for a format of one row per line:
/// its size times the lines per byte of its first [`HINT_SAMPLE`] bytes.
/// The holding side reserves room for them once instead of growing its
/// key index and score list by doubling (a tenth of W1's holding thread,
/// issue 18). `None` for other formats, small files, or a failed read:
/// a hint, never a limit.
fn rows_hint(path: &Path, format: Format) -> Option<usize> {
    if !matches!(format, Format::Jsonl | Format::Csv | Format::PyiqaCsv) {
        return None;
    }
    let file = File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    if size <= HINT_SAMPLE as u64 {
        return None;
    }
    let mut sample = Vec::with_capacity(HINT_SAMPLE);
    file.take(HINT_SAMPLE as u64)
        .read_to_end(&mut sample)
        .ok()?;
    let lines = sample.iter().filter(|&&byte| byte == b'\n').count();
    // An eighth over: a list reserved a row short doubles at its end.
    (!sample.is_empty())
        .then(|| (size as f64 * lines as f64 / sample.len() as f64 * 1.125) as usize)
}

/// Whether records keep their frames on their way to the holding thread:
/// the in-memory store keeps none (registry/memory.rs), so they are freed
/// on the thread that made them rather than carried across.
const KEEP_FRAMES: bool = false;

/// Detect the format of a score file, hash it when `hash_first` and open
/// it, failing as an ingest does.
fn open_score_file(
    source: &SourceSpec,
    path: &str,
    options: &IngestOptions,
    hash_first: bool,
) -> Result<(Format, Option<Hashed>, File), IngestFileError> {
    let command_line = options.command_line;
    let io = |source| IngestFileError::Io {
        path: path.to_string(),
        source,
    };
    let (format, _) = options.detect_format(source).map_err(|e| match e {
        Detection::Io(e) => io(e),
        Detection::Unknown(source) => IngestFileError::UnknownFormat {
            path: path.to_string(),
            source,
            command_line,
        },
    })?;
    let hashed_first = if hash_first {
        Some(sha256_file_with_size(&source.path).map_err(io)?)
    } else {
        None
    };
    let file = File::open(&source.path).map_err(io)?;
    Ok((format, hashed_first, file))
}

/// Why the reading thread's sink stopped.
enum Forwarding {
    Read(ReadError),
    /// The holding side stopped (it failed): nothing more is wanted.
    Closed,
}

impl From<ReadError> for Forwarding {
    fn from(e: ReadError) -> Self {
        Forwarding::Read(e)
    }
}

/// The reading thread's sink: records go over in batches.
struct ForwardingSink<'a> {
    out: &'a Handoff<Parsed>,
    records: Vec<ScoreRecord>,
}

impl ForwardingSink<'_> {
    fn flush(&mut self) -> Result<(), Forwarding> {
        if self.records.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(PARSED_BATCH));
        self.out
            .send(Parsed::Records(records))
            .map_err(|_| Forwarding::Closed)
    }
}

impl RecordSink for ForwardingSink<'_> {
    type Error = Forwarding;

    fn push(&mut self, mut record: ScoreRecord) -> Result<(), Forwarding> {
        if !KEEP_FRAMES {
            record.frames = Vec::new();
        }
        self.records.push(record);
        if self.records.len() >= PARSED_BATCH {
            self.flush()?;
        }
        Ok(())
    }
}

/// Hold the records of one score file as its reading thread hands them
/// over, through the ingest pipeline into the in-memory store; what the
/// read found goes to `read`.
fn hold_score_file<W: Worker>(
    scores: &mut MemoryScores,
    source: &SourceSpec,
    options: &IngestOptions,
    parsed: &mut Feed<Parsed, W>,
    read: &mut ScoresRead,
) -> Result<(), IngestFileError> {
    let path = source.path.display().to_string();
    // The reading thread ends only after a failure it has sent, or by a
    // panic, which the feed re-raises.
    let stopped = || IngestFileError::Io {
        path: path.clone(),
        source: std::io::Error::other("the score-file reader stopped"),
    };
    let (format, hashed_first, rows_hint) = match parsed.next().ok_or_else(stopped)? {
        Parsed::Opened {
            format,
            hashed_first,
            rows_hint,
        } => (format, hashed_first, rows_hint),
        Parsed::Failed(e) => return Err(e),
        Parsed::Records(_) | Parsed::Finished(_) => return Err(stopped()),
    };
    let store = MemoryStore::new(
        scores,
        &path,
        hashed_first.as_ref().map(|(sha256, _)| &**sha256),
    )
    .expecting_rows(rows_hint);
    let mut pipeline = FileIngest::new(store, &path, source, options, format);
    let ended = loop {
        match parsed.next().ok_or_else(stopped)? {
            Parsed::Records(records) => {
                for record in records {
                    pipeline
                        .push(record)
                        .map_err(|e| e.into_file_error(&path))?;
                }
            }
            Parsed::Finished(ended) => break ended,
            Parsed::Opened { .. } | Parsed::Failed(_) => return Err(stopped()),
        }
    };
    let hashed_while_read = match ended {
        Ok(hashed) => hashed,
        Err(e) => return Err(pipeline.fail(e).into_file_error(&path)),
    };
    let (store, result) = pipeline
        .finish()
        .map_err(|e: PipelineError| e.into_file_error(&path))?;
    let source_id = store.source();
    let (sha256, size_bytes) = hashed_first
        .or(hashed_while_read)
        .expect("a file is hashed before or while it is read");
    scores.set_sha256(source_id, &sha256);
    let scales = result
        .scorer_details()
        .into_iter()
        .map(|(name, detail)| (name, detail.scale));
    let entry = json!({
        "role": "scores",
        "label": source.label,
        "path": path,
        "sha256": sha256,
        "size_bytes": size_bytes,
    });
    read.add(&path, entry, &result.notes, &result.warnings, scales);
    Ok(())
}

/// Ingest every `--scores` file; returns the scorers they named, in order,
/// and what reading them found.
fn ingest_scores(
    registry: &mut Registry,
    request: &MaterializeRequest,
) -> Result<(Vec<String>, ScoresRead), MaterializeError> {
    let ingest_options = reference_ingest_options(request);
    let mut scorers: Vec<String> = Vec::new();
    let mut read = ScoresRead::default();
    for source in &request.scores {
        let outcome = registry.ingest_file(source, &ingest_options, &NoProgress)?;
        for name in outcome.scorers.keys() {
            if !scorers.contains(name) {
                scorers.push(name.clone());
            }
        }
        let entry = json!({
            "role": "scores",
            "label": outcome.label,
            "path": outcome.path,
            "sha256": outcome.sha256,
            "size_bytes": outcome.size_bytes,
        });
        let scales = outcome
            .scorer_details
            .iter()
            .map(|(name, detail)| (name.clone(), detail.scale.clone()));
        read.add(
            &outcome.path,
            entry,
            &outcome.notes,
            &outcome.warnings,
            scales,
        );
    }
    Ok((scorers, read))
}

/// The reference's audit JSON: its keys and counts (`matched_rows` are
/// the rows with an `ok` score, `bad_rows` those with a `bad` one), its
/// `run_provenance` exactly, and beside them, under keys of this tool's
/// own, what the reference does not say: each competitor's scale and
/// warnings, its unmatched scores, and `second_opinion_provenance` with
/// the sha256 and size of every input and output.
fn audit_json(request: &MaterializeRequest, summary: &ExportSummary, read: &ScoresRead) -> Value {
    let competitors: serde_json::Map<String, Value> = summary
        .scorers
        .iter()
        .map(|s| {
            let found = read.scorers.get(&s.name);
            (
                s.name.clone(),
                json!({
                    "competitor": s.name,
                    "column_prefix": s.column_prefix,
                    "scores_loaded": s.loaded,
                    "matched_rows": s.matched - s.bad,
                    "missing_rows": s.missing,
                    "bad_rows": s.bad,
                    "unmatched_scores": s.unmatched,
                    "unmatched_keys": s.unmatched_keys,
                    "scale": found.and_then(|f| f.scale.clone()),
                    "warnings": found.map(|f| f.warnings.clone()).unwrap_or_default(),
                }),
            )
        })
        .collect();
    let mut inputs = vec![json!({
        "role": "features",
        "path": summary.features_path,
        "sha256": summary.features_sha256,
        "size_bytes": summary.features_size,
    })];
    inputs.extend(read.files.iter().cloned());
    let features = python_path(&request.features);
    let out = python_path(&request.out);
    let audit_json = request.audit_json.as_deref().map(python_path);
    json!({
        "feature_table": features,
        "output": out,
        "key_column": summary.key_column,
        "key_normalize": summary.key_normalize.name(),
        "input_rows": summary.input_rows,
        "output_rows": summary.output_rows,
        "missing_policy": request.missing_policy.name(),
        "competitors": competitors,
        "run_provenance": {
            "schema": "ai-run-provenance-v1",
            "entrypoint": entrypoint(),
            "argv": request.argv,
            "args": request.args,
            "inputs": {
                "features": described_table(&request.features, summary),
                "scores": request.args.get("scores").cloned().unwrap_or_else(|| json!([])),
            },
            "outputs": {
                "out": out,
                "audit_json": audit_json,
            },
        },
        "second_opinion_provenance": {
            "schema": "second-opinion-run-provenance-v1",
            "command": "second-opinion materialize",
            "tool_version": crate::TOOL_VERSION,
            "scale": request.scale.map(|s| s.to_string()),
            "csv_safe": request.csv_safe,
            "trimmed_keys": summary.trimmed_keys,
            "registry": request.registry.as_deref().map(Path::display).map(|p| p.to_string()),
            "registry_digest": summary.registry_digest,
            "inputs": inputs,
            "outputs": [{
                "role": "table",
                "path": summary.output_path,
                "format": summary.output_format.name(),
                "sha256": summary.output_sha256,
                "size_bytes": summary.output_size,
            }],
        },
    })
}

/// A path as the reference's provenance describes one: whether it
/// exists, what it is, and a file's sha256 (only a file has one).
fn described(path: &Path) -> Value {
    let kind = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => "directory",
        Ok(_) => "file",
        Err(_) => "missing",
    };
    let mut entry = json!({
        "exists": kind != "missing",
        "kind": kind,
        "path": python_path(path),
    });
    if kind == "file" {
        if let Ok(sha256) = crate::digest::sha256_file(path) {
            entry["sha256"] = json!(sha256);
        }
    }
    entry
}

/// The feature table described as [`described`] does, with the sha256 the
/// export took of it as it read it (not a second read of the table).
fn described_table(path: &Path, summary: &ExportSummary) -> Value {
    match &summary.features_sha256 {
        Some(sha256) => json!({
            "exists": true,
            "kind": "file",
            "path": python_path(path),
            "sha256": sha256,
        }),
        None => described(path),
    }
}

/// The running program described as the reference describes its script
/// (`{exists, kind, path, sha256}`), hashed once per process.
fn entrypoint() -> Value {
    static DESCRIBED: OnceLock<Value> = OnceLock::new();
    DESCRIBED
        .get_or_init(|| match std::env::current_exe() {
            Ok(program) => described(&program),
            Err(_) => json!({"exists": false, "kind": "missing", "path": "second-opinion"}),
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A score file of `rows` JSON Lines rows; its path.
    fn jsonl_rows(dir: &Path, rows: usize) -> PathBuf {
        let path = dir.join("scores.jsonl");
        let text: String = (0..rows)
            .map(|i| {
                format!("{{\"filename\": \"/corpus/ugc/clip_{i:07}.mp4\", \"score\": {i}.5}}\n")
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_line_format_hints_its_rows_with_a_margin() {
        let dir = tempfile::tempdir().unwrap();
        let path = jsonl_rows(dir.path(), 20_000);
        let hint = rows_hint(&path, Format::Jsonl).expect("a large JSON Lines file is hinted");
        assert!((20_000..=25_000).contains(&hint), "{hint}");
        assert_eq!(rows_hint(&path, Format::Json), None, "not a row per line");
        let small = jsonl_rows(dir.path(), 100);
        assert_eq!(
            rows_hint(&small, Format::Jsonl),
            None,
            "read whole, nothing to guess"
        );
        assert_eq!(rows_hint(&dir.path().join("gone"), Format::Jsonl), None);
    }
}
