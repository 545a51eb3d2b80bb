//! `materialize`: the one-shot ingest + export of the reference script
//! `materialize_second_opinion_features.py`, with its flags and its audit
//! JSON, over an in-memory registry unless one is named.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use serde_json::{json, Value};

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

use crate::digest::sha256_file_with_size;
use crate::export::{
    export, export_scores_opened, ExportError, ExportOptions, ExportSummary, MemoryScores,
    OpenedTable, RowPolicy,
};
use crate::ingest::FieldNames;
use crate::ingest::{Format, ReadError, ReadOptions, RecordSink, ScoreRecord};
use crate::key::KeyNormalize;
use crate::registry::load::{
    detect_format, judge, scorer_name_of, undeclared_hard_scale, Detection,
};
use crate::registry::{
    IngestFileError, IngestOptions, OpenMode, Registry, RegistryError, SourceSpec,
};
use crate::scorer::{slug, Scale};

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
    /// Keep the scores in this registry instead of a throw-away one.
    pub registry: Option<PathBuf>,
    /// The command line and parsed arguments, for the audit's provenance.
    pub argv: Vec<String>,
    pub args: Value,
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
    #[error("{path}: cannot write the audit JSON: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
}

impl MaterializeError {
    pub fn is_usage(&self) -> bool {
        match self {
            MaterializeError::Ingest(e) => e.is_usage(),
            MaterializeError::Export(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// Ingest the score files, export onto the feature table, write the audit.
pub fn materialize(
    request: &MaterializeRequest,
) -> Result<(ExportSummary, Value), MaterializeError> {
    let audit_error = |path: &Path, source| MaterializeError::Audit {
        path: path.display().to_string(),
        source,
    };
    if let Some(path) = &request.audit_json {
        crate::atomic_file::check_writable(path).map_err(|e| audit_error(path, e))?;
    }
    let Some(registry_path) = &request.registry else {
        let (summary, score_files) = materialize_in_memory(request)?;
        let audit = audit_json(request, &summary, score_files);
        if let Some(path) = &request.audit_json {
            crate::atomic_file::write_json_atomically(path, &audit)
                .map_err(|e| audit_error(path, e))?;
        }
        return Ok((summary, audit));
    };
    let mut registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
    // One transaction for the whole run: a kept registry gains the score
    // files only if the export succeeds too.
    let (summary, score_files) = registry.in_one_transaction(|registry| {
        let (scorers, score_files) = ingest_scores(registry, request)?;
        let options = ExportOptions {
            scorers: Some(scorers),
            ..reference_export_options(request)
        };
        let summary = export(registry, &request.features, &request.out, &options)?;
        if request.registry.is_some() {
            registry.record_export(&summary.record("materialize"))?;
        }
        Ok::<_, MaterializeError>((summary, score_files))
    })?;
    let audit = audit_json(request, &summary, score_files);
    if let Some(path) = &request.audit_json {
        crate::atomic_file::write_json_atomically(path, &audit)
            .map_err(|e| audit_error(path, e))?;
    }
    Ok((summary, audit))
}

/// The export the reference script does: five columns per scorer, joined
/// per clip, bad rows marked.
fn reference_export_options(request: &MaterializeRequest) -> ExportOptions {
    ExportOptions {
        scorers: None,
        key_column: request.key_column.clone(),
        key_normalize: request.key_normalize,
        missing_policy: request.missing_policy,
        bad_policy: RowPolicy::Mark,
        prefix: request.prefix.clone(),
        overwrite: request.overwrite,
        out_format: None,
        components: false,
        normalize: false,
        per_frame: false,
        ..ExportOptions::default()
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
) -> Result<(ExportSummary, Vec<Value>), MaterializeError> {
    let mut scores = MemoryScores::default();
    let mut score_files = Vec::new();
    let options = reference_export_options(request);
    // The feature table is opened (its schema inferred, for JSON Lines) while
    // the scores are read; its errors still come after theirs. A detached
    // thread, so a score error is reported without waiting for it.
    let opening = {
        let (features, out, options) = (
            request.features.clone(),
            request.out.clone(),
            options.clone(),
        );
        std::thread::spawn(move || OpenedTable::open(&features, &out, &options))
    };
    std::thread::scope(|scope| {
        // Parsing costs more than holding: two readers take the files in
        // turn (file i goes to reader i % readers), each into its own queue,
        // and this thread takes the queues in file order.
        let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
        let readers = request.scores.len().clamp(1, parallel.clamp(1, 2));
        let mut queues = Vec::with_capacity(readers);
        for reader in 0..readers {
            let (sender, receiver) = sync_channel(PARSED_QUEUE);
            // Batches go back to be freed where they were allocated: glibc
            // frees another thread's memory slowly, under that thread's
            // arena lock.
            let (recycle, recycled) = channel();
            let files: Vec<&SourceSpec> = request
                .scores
                .iter()
                .skip(reader)
                .step_by(readers)
                .collect();
            scope.spawn(move || {
                parse_score_files(&files, &request.fields, &sender, &recycled);
                drop(sender);
                recycled.iter().for_each(drop);
            });
            queues.push((receiver, recycle));
        }
        for (position, source) in request.scores.iter().enumerate() {
            let (parsed, recycle) = &queues[position % readers];
            score_files.push(hold_score_file(
                &mut scores,
                source,
                request,
                parsed,
                recycle,
            )?);
        }
        Ok::<_, IngestFileError>(())
    })?;
    let opened = opening
        .join()
        .expect("opening the feature table does not panic")?;
    let summary = export_scores_opened(scores, opened, &request.out, &options)?;
    Ok((summary, score_files))
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
        sha256: String,
        size_bytes: u64,
    },
    /// Records of the file, in file order.
    Records(Vec<ScoreRecord>),
    /// The end of the file, or the error that ended its reading (then no
    /// later file is read).
    Finished(Result<(), ReadError>),
    /// The file could not be recognised, hashed or opened; no later file is read.
    Failed(IngestFileError),
}

/// A reading thread: detect, hash, open and parse each of its score files
/// in order, stopping at the first failure or when the receiver is gone.
fn parse_score_files(
    sources: &[&SourceSpec],
    fields: &FieldNames,
    out: &SyncSender<Parsed>,
    recycled: &Receiver<Vec<ScoreRecord>>,
) {
    for source in sources {
        let path = source.path.display().to_string();
        let (format, sha256, size_bytes, file) = match open_score_file(source, &path) {
            Ok(opened) => opened,
            Err(e) => {
                let _ = out.send(Parsed::Failed(e));
                return;
            }
        };
        let opened = Parsed::Opened {
            format,
            sha256,
            size_bytes,
        };
        if out.send(opened).is_err() {
            return;
        }
        let read_options = ReadOptions {
            fields: fields.clone(),
            file_name: source
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ..ReadOptions::default()
        };
        let mut sink = ForwardingSink {
            out,
            recycled,
            records: Vec::with_capacity(PARSED_BATCH),
        };
        let read = format.read(
            &mut BufReader::with_capacity(1 << 20, file),
            &read_options,
            &mut sink,
        );
        let ended = match read {
            Ok(()) => Ok(()),
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

/// Detect the format of a score file, hash it and open it, failing as an
/// ingest does.
fn open_score_file(
    source: &SourceSpec,
    path: &str,
) -> Result<(Format, String, u64, File), IngestFileError> {
    let io = |source| IngestFileError::Io {
        path: path.to_string(),
        source,
    };
    let (format, _) = detect_format(&source.path).map_err(|e| match e {
        Detection::Io(e) => io(e),
        Detection::Unknown(source) => IngestFileError::UnknownFormat {
            path: path.to_string(),
            source,
        },
    })?;
    let (sha256, size_bytes) = sha256_file_with_size(&source.path).map_err(io)?;
    let file = File::open(&source.path).map_err(io)?;
    Ok((format, sha256, size_bytes, file))
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
    out: &'a SyncSender<Parsed>,
    /// Batches the holding thread is done with, freed here.
    recycled: &'a Receiver<Vec<ScoreRecord>>,
    records: Vec<ScoreRecord>,
}

impl ForwardingSink<'_> {
    fn flush(&mut self) -> Result<(), Forwarding> {
        if self.records.is_empty() {
            return Ok(());
        }
        while let Ok(done) = self.recycled.try_recv() {
            drop(done);
        }
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(PARSED_BATCH));
        self.out
            .send(Parsed::Records(records))
            .map_err(|_| Forwarding::Closed)
    }
}

impl RecordSink for ForwardingSink<'_> {
    type Error = Forwarding;

    fn push(&mut self, record: ScoreRecord) -> Result<(), Forwarding> {
        self.records.push(record);
        if self.records.len() >= PARSED_BATCH {
            self.flush()?;
        }
        Ok(())
    }
}

/// Hold the records of one score file as the reading thread hands them
/// over; returns the file's provenance entry.
fn hold_score_file(
    scores: &mut MemoryScores,
    source: &SourceSpec,
    request: &MaterializeRequest,
    parsed: &Receiver<Parsed>,
    recycle: &Sender<Vec<ScoreRecord>>,
) -> Result<Value, IngestFileError> {
    let path = source.path.display().to_string();
    // The reading thread ends only after a failure it has sent, or by a
    // panic, which the scope re-raises.
    let stopped = || IngestFileError::Io {
        path: path.clone(),
        source: std::io::Error::other("the score-file reader stopped"),
    };
    let (format, sha256, size_bytes) = match parsed.recv().map_err(|_| stopped())? {
        Parsed::Opened {
            format,
            sha256,
            size_bytes,
        } => (format, sha256, size_bytes),
        Parsed::Failed(e) => return Err(e),
        Parsed::Records(_) | Parsed::Finished(_) => return Err(stopped()),
    };
    let source_id = scores.add_source(&path, &sha256);
    let mut sink = MemorySink {
        scores,
        path: &path,
        sha256: &sha256,
        source_id,
        label: source.label.as_deref(),
        key_normalize: request.key_normalize.unwrap_or_default(),
        format,
        scales: HashMap::new(),
        repeated_bytes: HashMap::new(),
        last_scorer: None,
        last_key_field: None,
    };
    let ended = loop {
        match parsed.recv().map_err(|_| stopped())? {
            Parsed::Records(records) => {
                for record in &records {
                    sink.hold(record).map_err(|e| match e {
                        MemoryError::File(e) => e,
                        MemoryError::Read(e) => read_error(&path, e),
                    })?;
                }
                // A reading thread that has gone leaves the batch to be freed here.
                let _ = recycle.send(records);
            }
            Parsed::Finished(ended) => break ended,
            Parsed::Opened { .. } | Parsed::Failed(_) => return Err(stopped()),
        }
    };
    ended.map_err(|e| read_error(&path, e))?;
    Ok(json!({
        "role": "scores",
        "label": source.label,
        "path": path,
        "sha256": sha256,
        "size_bytes": size_bytes,
    }))
}

/// A reader's failure as an ingest reports it.
fn read_error(path: &str, e: ReadError) -> IngestFileError {
    match e {
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

enum MemoryError {
    Read(ReadError),
    File(IngestFileError),
}

impl From<ReadError> for MemoryError {
    fn from(e: ReadError) -> Self {
        MemoryError::Read(e)
    }
}

/// The scorer the previous record named, with what was worked out for it.
struct ScorerOfRecords {
    /// The name as the record gave it.
    name: String,
    slug: String,
    /// Its scores come from bytes already read for it: skip them.
    repeated: bool,
    /// The hard scale judging its values (unused when `repeated`).
    scale: Option<Scale>,
}

/// Where a score file's records go when no registry is kept.
struct MemorySink<'a> {
    scores: &'a mut MemoryScores,
    path: &'a str,
    sha256: &'a str,
    source_id: u32,
    label: Option<&'a str>,
    key_normalize: KeyNormalize,
    format: Format,
    /// Slug → the hard scale judging its values.
    scales: HashMap<String, Option<Scale>>,
    /// Slug → whether these bytes were already read for it (a score file
    /// named twice is read once, as ingest skips re-ingested bytes).
    repeated_bytes: HashMap<String, bool>,
    /// Rows of a file nearly always name one scorer and take their key from
    /// one field: what the last record's name and key field gave is kept,
    /// so a row costs no name, slug or normalisation work when they repeat.
    last_scorer: Option<ScorerOfRecords>,
    /// The last key field and the normalisation it resolves to.
    last_key_field: Option<(String, KeyNormalize)>,
}

impl MemorySink<'_> {
    fn malformed(&self, line: u64, message: impl Into<String>) -> MemoryError {
        MemoryError::File(IngestFileError::Malformed {
            path: self.path.to_string(),
            line,
            message: message.into(),
        })
    }

    /// Name, slug, repetition and scale of the scorer `name`, checked in
    /// the order an ingest checks them.
    fn scorer_of(&mut self, name: &str, line: u64) -> Result<ScorerOfRecords, MemoryError> {
        let scorer_slug = slug(name);
        if scorer_slug.is_empty() {
            return Err(self.malformed(
                line,
                format!("scorer name '{name}' has no letters or digits"),
            ));
        }
        let repeated = match self.repeated_bytes.get(&scorer_slug) {
            Some(repeated) => *repeated,
            None => {
                let repeated = self
                    .scores
                    .holds_bytes(&scorer_slug, self.sha256, self.source_id);
                self.repeated_bytes.insert(scorer_slug.clone(), repeated);
                repeated
            }
        };
        let mut scale = None;
        if !repeated {
            scale = match self.scales.get(&scorer_slug) {
                Some(scale) => *scale,
                None => {
                    let scale = undeclared_hard_scale(name, self.format).map_err(|message| {
                        MemoryError::File(IngestFileError::Conflict {
                            path: self.path.to_string(),
                            message,
                        })
                    })?;
                    self.scales.insert(scorer_slug.clone(), scale);
                    scale
                }
            };
        }
        Ok(ScorerOfRecords {
            name: name.to_string(),
            slug: scorer_slug,
            repeated,
            scale,
        })
    }
}

impl RecordSink for MemorySink<'_> {
    type Error = MemoryError;

    fn push(&mut self, record: ScoreRecord) -> Result<(), MemoryError> {
        self.hold(&record)
    }
}

impl MemorySink<'_> {
    /// Judge one record and hold its score (what `push` does, by reference).
    fn hold(&mut self, record: &ScoreRecord) -> Result<(), MemoryError> {
        let name = scorer_name_of(None, record, self.label)
            .map_err(|message| self.malformed(record.line, message))?;
        if self
            .last_scorer
            .as_ref()
            .is_none_or(|last| last.name != name)
        {
            let name = name.to_string();
            self.last_scorer = None;
            self.last_scorer = Some(self.scorer_of(&name, record.line)?);
        }
        let scorer = self.last_scorer.as_ref().expect("set above");
        if scorer.repeated {
            return Ok(());
        }
        if self
            .last_key_field
            .as_ref()
            .is_none_or(|(field, _)| *field != record.key_field)
        {
            let resolved = self.key_normalize.resolve(&record.key_field);
            self.last_key_field = Some((record.key_field.clone(), resolved));
        }
        let (_, resolved) = self.last_key_field.as_ref().expect("set above");
        let key = resolved.apply_resolved(&record.raw_key);
        if key.trim().is_empty() {
            return Err(self.malformed(
                record.line,
                self.key_normalize
                    .empty_key_message(&record.key_field, &record.raw_key),
            ));
        }
        let key = key.to_string();
        let stored = judge(record, scorer.scale);
        let line = record.line;
        let inserted = self.scores.insert(
            &scorer.slug,
            &scorer.name,
            key,
            stored.score,
            stored.status == "bad",
            record.runtime_ms,
            i64::from(record.pooled_frames),
            self.source_id,
            line,
        );
        inserted.map_err(|(held, key)| {
            let other = if held.path == self.path {
                format!(
                    "the same file already has it at {}:{} (a file may hold each scorer and key once)",
                    held.path, held.line
                )
            } else {
                format!("also in {}:{}", held.path, held.line)
            };
            MemoryError::File(IngestFileError::Duplicate {
                path: self.path.to_string(),
                line,
                scorer: scorer.name.clone(),
                key,
                other,
            })
        })
    }
}

/// Ingest every `--scores` file; returns the scorers they named, in order,
/// and each file's provenance entry for the audit.
fn ingest_scores(
    registry: &mut Registry,
    request: &MaterializeRequest,
) -> Result<(Vec<String>, Vec<Value>), MaterializeError> {
    let ingest_options = IngestOptions {
        fields: request.fields.clone(),
        key_normalize: request.key_normalize.unwrap_or_default(),
        ..IngestOptions::default()
    };
    let mut scorers: Vec<String> = Vec::new();
    let mut score_files = Vec::new();
    for source in &request.scores {
        let outcome = registry.ingest_file(source, &ingest_options, &ProgressBar::hidden())?;
        for name in outcome.scorers.keys() {
            if !scorers.contains(name) {
                scorers.push(name.clone());
            }
        }
        score_files.push(json!({
            "role": "scores",
            "label": outcome.label,
            "path": outcome.path,
            "sha256": outcome.sha256,
            "size_bytes": outcome.size_bytes,
        }));
    }
    Ok((scorers, score_files))
}

/// The reference's audit JSON, with hashed inputs and outputs.
fn audit_json(
    request: &MaterializeRequest,
    summary: &ExportSummary,
    score_files: Vec<Value>,
) -> Value {
    let competitors: serde_json::Map<String, Value> = summary
        .scorers
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                json!({
                    "competitor": s.name,
                    "column_prefix": s.column_prefix,
                    "scores_loaded": s.loaded,
                    "matched_rows": s.matched,
                    "missing_rows": s.missing,
                    "bad_rows": s.bad,
                    "unmatched_scores": s.unmatched,
                    "unmatched_keys": s.unmatched_keys,
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
    inputs.extend(score_files);
    json!({
        "feature_table": summary.features_path,
        "output": summary.output_path,
        "key_column": summary.key_column,
        "key_normalize": summary.key_normalize.name(),
        "input_rows": summary.input_rows,
        "output_rows": summary.output_rows,
        "missing_policy": request.missing_policy.name(),
        "competitors": competitors,
        "run_provenance": {
            "schema": "second-opinion-run-provenance-v1",
            "entrypoint": "second-opinion materialize",
            "tool_version": crate::TOOL_VERSION,
            "argv": request.argv,
            "args": request.args,
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
