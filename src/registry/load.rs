//! The ingest transaction: one score file into the registry, all of its
//! rows or none.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use indicatif::ProgressBar;
use rusqlite::{params, Connection, OptionalExtension, Statement};
use serde::Serialize;

use super::suspicious::{ValueSummary, Warning};
use super::{now_rfc3339, sql, Registry};
use crate::digest::{hex, sha256_file};
use crate::ingest::frame_pattern::{FrameGroups, FramePattern};
use crate::ingest::{
    is_ok_status, DetectError, FieldNames, Format, RawScore, ReadError, ReadOptions, RecordSink,
    ScoreRecord,
};
use crate::key::KeyNormalize;
use crate::scorer::{known_scorer, slug, Bounds, Scale};
use sha2::{Digest, Sha256};

/// What to do when a (scorer, key) is already live from an earlier file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Refuse the file (the default: duplicates are data poisoning).
    #[default]
    Refuse,
    /// Make the new row live; the old one stays as superseded history.
    Replace,
    /// Keep the live row and count the new one as ignored.
    Ignore,
}

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
    /// `--scorer`: names every row, over the payload's `competitor` and the label.
    pub scorer: Option<String>,
    pub on_conflict: ConflictPolicy,
    /// Refuse the whole file when any row would be stored `bad`.
    pub strict: bool,
    /// `--scale MIN:MAX` declared for the file's scorers.
    pub scale: Option<Scale>,
    /// `--higher-is-better` / `--lower-is-better`.
    pub higher_is_better: Option<bool>,
    /// Whether a duplicate's message offers `--replace`/`--ignore` (the
    /// `ingest` command has them; `materialize`, like its reference, does not).
    pub suggest_conflict_flags: bool,
    /// `--frame-pattern`: rows named by extracted frames become frames of
    /// one clip score per clip.
    pub frame_pattern: Option<FramePattern>,
    /// `--frame-base`: how the file numbers frames, when it does not say.
    pub frame_base: Option<i64>,
    /// Read and judge everything, then roll back (`inspect`).
    pub dry_run: bool,
    /// How many resolved rows to keep in the outcome (`inspect`).
    pub preview_rows: usize,
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
                total.ignored += c.ignored;
                total.skipped += c.skipped;
                total
            })
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
    #[error("{path}: {message}")]
    Conflict { path: String, message: String },
    #[error("{path}: suspicious output, refused by --strict: {message}")]
    Suspicious { path: String, message: String },
    #[error("{path}: {source}")]
    UnknownFormat {
        path: String,
        #[source]
        source: DetectError,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: registry error: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
}

impl IngestFileError {
    /// Usage mistakes (exit 2) as opposed to bad data (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, IngestFileError::UnknownFormat { .. })
    }
}

impl Registry {
    /// Ingest one score file in one transaction. `progress` advances with the
    /// bytes read (pass `ProgressBar::hidden()` when nobody watches).
    pub fn ingest_file(
        &mut self,
        source: &SourceSpec,
        options: &IngestOptions,
        progress: &ProgressBar,
    ) -> Result<FileOutcome, IngestFileError> {
        let path = source.path.display().to_string();
        let io = |source| IngestFileError::Io {
            path: path.clone(),
            source,
        };
        let (format, format_reason) = match options.format {
            Some(format) => (format, "--format".to_string()),
            None => detect_format(&source.path).map_err(|e| match e {
                Detection::Io(e) => io(e),
                Detection::Unknown(source) => IngestFileError::UnknownFormat {
                    path: path.clone(),
                    source,
                },
            })?,
        };
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
        let sqlite = |source| IngestFileError::Sqlite {
            path: path.clone(),
            source,
        };

        let tx = FileTransaction::begin(&self.conn).map_err(sqlite)?;
        let ingested_at = now_rfc3339();
        // Whether these bytes were ingested before decides, row by row, what
        // happens to them, so then the hash must come first. Identical bytes
        // have the same size: when no file of this size was ingested, the
        // hash is taken from the bytes as they are parsed instead (one read
        // of the file, not two). The write lock is held, so no other ingest
        // can add such a file meanwhile.
        let hashed_first = if same_size_ingested(&tx, metadata.len()).map_err(sqlite)? {
            Some(sha256_file(&source.path).map_err(io)?)
        } else {
            None
        };
        let earlier_ingests = match &hashed_first {
            Some(sha256) => earlier_ingests_of(&tx, sha256).map_err(sqlite)?,
            None => HashMap::new(),
        };
        tx.execute(
            sql::INSERT_SOURCE_FILE,
            params![
                path,
                absolute_path,
                hashed_first.as_deref().unwrap_or_default(),
                metadata.len() as i64,
                format.name(),
                source.label,
                ingested_at,
                crate::TOOL_VERSION,
                options.scorer_version
            ],
        )
        .map_err(sqlite)?;
        let file_id = tx.last_insert_rowid();

        progress.set_length(metadata.len());
        progress.set_position(0);
        let file = File::open(&source.path).map_err(io)?;
        let hashing = HashingRead {
            inner: progress.wrap_read(file),
            hasher: hashed_first.is_none().then(Sha256::new),
            bytes: 0,
        };
        let mut input = BufReader::with_capacity(1 << 20, hashing);
        let mut loader = Loader {
            tx: &tx,
            path: &path,
            file_id,
            label: source.label.as_deref(),
            options,
            ingested_at: &ingested_at,
            earlier_ingests: &earlier_ingests,
            name_index: HashMap::new(),
            names: Vec::new(),
            scorers: Vec::new(),
            notes: Vec::new(),
            preview: Vec::new(),
            frame_groups: FrameGroups::default(),
            format_scale: format.fixed_scale(),
            format_name: format.name(),
            pending: Vec::with_capacity(sql::SCORE_BATCH),
            batch_insert: None,
            row_insert: sql::insert_scores(1),
        };
        let read_options = ReadOptions {
            fields: options.fields.clone(),
            clip_key: options.clip_key.clone(),
            metric: options.metric.clone(),
            file_name: source
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            scorer_version_given: options.scorer_version.is_some(),
        };
        // The file is parsed on a thread of its own while this one resolves
        // and writes the rows: SQLite and the parser each get a core.
        let read = std::thread::scope(|scope| {
            let (sender, receiver) = sync_channel(MESSAGES_IN_FLIGHT);
            let reader = scope.spawn(move || {
                let mut sink = ChannelSink::new(sender);
                let read = format
                    .read(&mut input, &read_options, &mut sink)
                    // Hash what the reader left unread too (a trailer).
                    .and_then(|()| Ok(std::io::copy(&mut input, &mut std::io::sink()).map(drop)?));
                sink.finish(read);
                input.into_inner().digest()
            });
            // On an error the receiver is dropped here, which stops the reader.
            loader.consume(receiver)?;
            Ok(reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        })
        .and_then(|hashed_while_read| {
            if let Some((sha256, bytes)) = hashed_while_read {
                tx.execute(sql::SET_FILE_SHA256, params![file_id, sha256, bytes as i64])
                    .map_err(|e| loader.sqlite(e))?;
            }
            Ok(())
        })
        .and_then(|()| {
            let clips = std::mem::take(&mut loader.frame_groups).into_records()?;
            clips
                .into_iter()
                .try_for_each(|clip| loader.store(clip).or_else(|e| loader.flush().and(Err(e))))
        })
        .and_then(|()| loader.finish());
        read.map_err(|e| match e {
            LoadError::Read(ReadError::Malformed { line, message }) => IngestFileError::Malformed {
                path: path.clone(),
                line,
                message,
            },
            LoadError::Read(ReadError::Io(source)) => IngestFileError::Io {
                path: path.clone(),
                source,
            },
            LoadError::File(e) => e,
        })?;
        let notes = std::mem::take(&mut loader.notes);
        let preview = std::mem::take(&mut loader.preview);
        let mut scorers = std::mem::take(&mut loader.scorers);
        drop(loader);
        scorers.sort_by(|a, b| a.entry.slug.cmp(&b.entry.slug));
        let scorer_details: BTreeMap<String, ScorerDetail> = scorers
            .iter()
            .map(|scorer| {
                let entry = &scorer.entry;
                (
                    entry.registered_name.clone(),
                    ScorerDetail {
                        slug: entry.slug.clone(),
                        scale: entry.scale.map(|s| s.to_string()),
                        typical: entry.typical.map(|s| s.to_string()),
                        higher_is_better: entry.higher_is_better,
                    },
                )
            })
            .collect();
        let (sha256, size_bytes) = match hashed_first {
            Some(sha256) => (sha256, metadata.len()),
            None => tx
                .query_row(sql::FILE_SHA256_AND_SIZE, [file_id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
                })
                .map_err(sqlite)?,
        };
        let warnings: Vec<Warning> = scorers
            .iter()
            .filter_map(|scorer| {
                let entry = &scorer.entry;
                let summary = scorer.summary.as_ref()?;
                Some(summary.warnings(&entry.registered_name, entry.scale.or(entry.typical)))
            })
            .flatten()
            .collect();
        if !warnings.is_empty() {
            if options.strict {
                let found: Vec<String> = warnings
                    .iter()
                    .map(|w| format!("{}: {}", w.scorer, w.message))
                    .collect();
                return Err(IngestFileError::Suspicious {
                    path: path.clone(),
                    message: found.join("; "),
                });
            }
            let text = serde_json::to_string(&warnings).expect("warnings serialise");
            tx.execute(sql::SET_FILE_WARNINGS, params![file_id, text])
                .map_err(sqlite)?;
        }

        let totals: u64 = scorers.iter().map(|s| s.counts.ingested).sum();
        let status = if totals > 0 {
            if options.dry_run {
                tx.rollback().map_err(sqlite)?;
            } else {
                tx.commit().map_err(sqlite)?;
            }
            FileStatus::Ingested
        } else {
            // Nothing new: leave no trace of this attempt.
            tx.rollback().map_err(sqlite)?;
            let all_skipped = scorers.iter().all(|s| s.counts.ignored == 0);
            match earlier_ingests.values().min() {
                Some(at) if all_skipped => FileStatus::AlreadyIngested { at: at.clone() },
                _ => FileStatus::NothingNew,
            }
        };
        Ok(FileOutcome {
            path,
            absolute_path,
            sha256,
            size_bytes,
            format: format.name().to_string(),
            format_reason,
            label: source.label.clone(),
            scorer_version: options.scorer_version.clone(),
            status,
            notes,
            warnings,
            preview,
            scorer_details,
            scorers: scorers
                .into_iter()
                .map(|s| (s.entry.registered_name, s.counts))
                .collect(),
        })
    }
}

/// Why detection failed: the file could not be read, or matched no single format.
pub enum Detection {
    Io(std::io::Error),
    Unknown(DetectError),
}

/// The format of a score file from its first 64 KiB, and why.
pub fn detect_format(path: &Path) -> Result<(Format, String), Detection> {
    let mut head = Vec::with_capacity(1 << 16);
    File::open(path)
        .and_then(|file| file.take(1 << 16).read_to_end(&mut head))
        .map_err(Detection::Io)?;
    Format::detect(&head, path).map_err(Detection::Unknown)
}

/// The scorer a record belongs to: `--scorer`, the row's `competitor`,
/// the file's label, then what the format implies.
pub(crate) fn scorer_name_of<'a>(
    flag: Option<&'a str>,
    record: &'a ScoreRecord,
    label: Option<&'a str>,
) -> Result<&'a str, &'static str> {
    flag.or(record.scorer.as_deref())
        .or(label)
        .or(record.scorer_hint.as_deref())
        .ok_or(
            "no scorer name: the row has no `competitor` and the file no LABEL= \
             (write LABEL=PATH or pass --scorer)",
        )
}

/// The hard scale a new scorer starts with when nothing is declared: the
/// one its format fixes, else a known scorer's hard scale. A scorer whose
/// scale depends on how it was run is refused (`Err` says why).
pub(crate) fn undeclared_hard_scale(name: &str, format: Format) -> Result<Option<Scale>, String> {
    if let Some(scale) = format.fixed_scale() {
        return Ok(Some(scale));
    }
    Ok(match known_scorer(name) {
        Some(known) if known.bounds == Bounds::Hard => Some(Scale {
            min: known.min,
            max: known.max,
        }),
        Some(known) if known.bounds == Bounds::DependsOnRun => {
            return Err(format!(
                "scorer '{name}' has no fixed scale ({}): pass --scale MIN:MAX",
                known.note
            ))
        }
        _ => None,
    })
}

/// One file's transaction: a transaction of its own, or a savepoint when the
/// caller already holds one (`materialize --registry` keeps its whole run
/// in one transaction, so a failed export leaves the registry as it was).
/// Dropped without `commit`, it rolls back.
struct FileTransaction<'c> {
    conn: &'c Connection,
    nested: bool,
    finished: bool,
}

impl<'c> FileTransaction<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<FileTransaction<'c>> {
        let nested = !conn.is_autocommit();
        if !nested {
            // A nested file runs inside a transaction that already did this.
            conn.execute_batch(sql::FOREIGN_KEYS_OFF)?;
        }
        conn.execute_batch(if nested {
            sql::BEGIN_FILE_SAVEPOINT
        } else {
            sql::BEGIN_WRITE
        })?;
        Ok(FileTransaction {
            conn,
            nested,
            finished: false,
        })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.finished = true;
        if self.nested {
            return self.conn.execute_batch(sql::RELEASE_FILE_SAVEPOINT);
        }
        self.conn.execute_batch(sql::COMMIT)?;
        self.conn.execute_batch(sql::FOREIGN_KEYS_ON)
    }

    fn rollback(mut self) -> rusqlite::Result<()> {
        self.finished = true;
        self.undo()
    }

    fn undo(&self) -> rusqlite::Result<()> {
        if self.nested {
            return self.conn.execute_batch(sql::ROLLBACK_FILE_SAVEPOINT);
        }
        self.conn.execute_batch(sql::ROLLBACK)?;
        self.conn.execute_batch(sql::FOREIGN_KEYS_ON)
    }
}

impl std::ops::Deref for FileTransaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for FileTransaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Nothing more can be done about a failed rollback here; SQLite
            // rolls an unfinished transaction back when the connection closes.
            let _ = self.undo();
        }
    }
}

/// Whether a file of `size` bytes was ingested before.
fn same_size_ingested(tx: &Connection, size: u64) -> rusqlite::Result<bool> {
    tx.query_row(sql::FILE_OF_SIZE_EXISTS, [size as i64], |row| row.get(0))
}

/// The file as the reader thread reads it, hashed on the way unless its
/// hash was needed (and taken) before the read.
struct HashingRead<R> {
    inner: R,
    hasher: Option<Sha256>,
    bytes: u64,
}

impl<R> HashingRead<R> {
    /// The sha256 (lower-case hex) and size of the bytes read, if hashing.
    fn digest(self) -> Option<(String, u64)> {
        let bytes = self.bytes;
        self.hasher.map(|hasher| (hex(&hasher.finalize()), bytes))
    }
}

impl<R: Read> Read for HashingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..read]);
            self.bytes += read as u64;
        }
        Ok(read)
    }
}

/// Slug → first time these bytes were ingested for that scorer.
fn earlier_ingests_of(tx: &Connection, sha256: &str) -> rusqlite::Result<HashMap<String, String>> {
    let mut stmt = tx.prepare(sql::SCORERS_INGESTED_FROM_SHA256)?;
    let rows = stmt.query_map([sha256], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// A scorer as the registry holds it.
#[derive(Clone, Debug)]
struct ScorerEntry {
    id: i64,
    slug: String,
    /// Name as registered (the first spelling seen).
    registered_name: String,
    /// The hard scale: values outside are bad.
    scale: Option<Scale>,
    /// The typical range, for the suspicious-output checks only.
    typical: Option<Scale>,
    higher_is_better: Option<bool>,
}

/// What a new scorer was registered with from the known-scorer table.
#[derive(Default)]
struct ScorerDefaults {
    scale: Option<Scale>,
    higher_is_better: Option<bool>,
    typical: Option<Scale>,
}
enum LoadError {
    Read(ReadError),
    File(IngestFileError),
}

impl From<ReadError> for LoadError {
    fn from(e: ReadError) -> Self {
        LoadError::Read(e)
    }
}

impl From<IngestFileError> for LoadError {
    fn from(e: IngestFileError) -> Self {
        LoadError::File(e)
    }
}

/// Records per message from the reader thread: enough to make the channel's
/// cost per record negligible, few enough that a batch of per-frame payloads
/// (hundreds of frames each) stays a few megabytes.
const RECORDS_PER_MESSAGE: usize = 256;

/// Messages the reader thread may have in flight before it waits for the
/// writer: bounds the memory between them.
const MESSAGES_IN_FLIGHT: usize = 4;

/// What the reader thread sends the writer, in file order.
enum ReaderMessage {
    Records(Vec<ScoreRecord>),
    Note(String),
    /// The reader is done: the whole file was read, or why not.
    Finished(Result<(), ReadError>),
}

/// The sink of the reader thread: batches records onto the channel to the
/// thread that resolves and writes them. Parsing a file and writing its rows
/// into SQLite then use both cores.
struct ChannelSink {
    sender: SyncSender<ReaderMessage>,
    batch: Vec<ScoreRecord>,
}

impl ChannelSink {
    fn new(sender: SyncSender<ReaderMessage>) -> ChannelSink {
        ChannelSink {
            sender,
            batch: Vec::with_capacity(RECORDS_PER_MESSAGE),
        }
    }

    fn send(&mut self, message: ReaderMessage) -> Result<(), ReadError> {
        // The writer hangs up only when it has failed; its error is the one
        // reported, so this one is never seen.
        self.sender
            .send(message)
            .map_err(|_| ReadError::Io(std::io::Error::other("the writer stopped")))
    }

    fn send_batch(&mut self) -> Result<(), ReadError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(RECORDS_PER_MESSAGE));
        self.send(ReaderMessage::Records(batch))
    }

    /// Send the rows read so far (before a failed line too: one of them
    /// may be the file's first error), then how the read ended.
    fn finish(mut self, read: Result<(), ReadError>) {
        if self.send_batch().is_ok() {
            let _ = self.send(ReaderMessage::Finished(read));
        }
    }
}

impl RecordSink for ChannelSink {
    type Error = ReadError;

    fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
        self.batch.push(record);
        if self.batch.len() == RECORDS_PER_MESSAGE {
            self.send_batch()?;
        }
        Ok(())
    }

    fn note(&mut self, message: String) {
        // Records before the note go first, so the writer sees file order.
        if self.send_batch().is_ok() {
            let _ = self.send(ReaderMessage::Note(message));
        }
    }
}

/// A scorer this file's rows resolved to, with what the file gave it.
struct FileScorer {
    entry: ScorerEntry,
    counts: ScorerCounts,
    /// The values stored `ok`, for the suspicious-output checks.
    summary: Option<ValueSummary>,
    /// These bytes were ingested for this scorer before: its rows are skipped.
    already_ingested: bool,
}

/// A scalar row resolved and judged, waiting for its batch INSERT.
struct PendingRow {
    /// Index into `Loader::names`: the scorer as the row named it.
    name: usize,
    key: String,
    /// The key as written, when normalisation changed it.
    raw_key: Option<String>,
    key_field: String,
    stored: StoredScore,
    runtime_ms: Option<f64>,
    frame_count: u32,
    line: u64,
}

/// The sink readers push into: resolves each record and writes it inside
/// the file's transaction.
struct Loader<'a> {
    tx: &'a Connection,
    path: &'a str,
    file_id: i64,
    label: Option<&'a str>,
    options: &'a IngestOptions,
    ingested_at: &'a str,
    earlier_ingests: &'a HashMap<String, String>,
    /// Scorer name as written → its index in `names`, so each spelling is
    /// resolved against the registry once.
    name_index: HashMap<String, usize>,
    /// Each spelling seen, with the index of its scorer in `scorers`.
    names: Vec<(String, usize)>,
    /// One entry per scorer (slug) the file's rows resolved to.
    scorers: Vec<FileScorer>,
    notes: Vec<String>,
    preview: Vec<PreviewRow>,
    /// Rows held back by `--frame-pattern` until their clips are complete.
    frame_groups: FrameGroups,
    /// The scale the file's format fixes, if any, and the format's name.
    format_scale: Option<Scale>,
    format_name: &'static str,
    /// Scalar rows not yet written: at most [`sql::SCORE_BATCH`].
    pending: Vec<PendingRow>,
    /// The INSERT of a full batch, prepared once for the whole file (a
    /// cached statement would clear its 768 bindings and hash its text on
    /// every return to the cache), and the INSERT of one row.
    batch_insert: Option<Statement<'a>>,
    row_insert: String,
}

impl<'a> Loader<'a> {
    fn malformed(&self, line: u64, message: impl Into<String>) -> LoadError {
        LoadError::File(IngestFileError::Malformed {
            path: self.path.to_string(),
            line,
            message: message.into(),
        })
    }

    fn sqlite(&self, source: rusqlite::Error) -> LoadError {
        LoadError::File(IngestFileError::Sqlite {
            path: self.path.to_string(),
            source,
        })
    }

    fn conflict(&self, message: String) -> LoadError {
        LoadError::File(IngestFileError::Conflict {
            path: self.path.to_string(),
            message,
        })
    }

    /// Resolve and write what the reader thread sends, in file order, until
    /// it finishes or a row fails.
    fn consume(&mut self, messages: Receiver<ReaderMessage>) -> Result<(), LoadError> {
        for message in messages {
            match message {
                ReaderMessage::Records(records) => {
                    for record in records {
                        self.push(record)?;
                    }
                }
                ReaderMessage::Note(message) => self.note(message),
                ReaderMessage::Finished(Ok(())) => return Ok(()),
                // Rows before the unreadable line come first: one of them
                // may already be the file's error.
                ReaderMessage::Finished(Err(e)) => return self.flush().and(Err(e.into())),
            }
        }
        Err(LoadError::Read(ReadError::Io(std::io::Error::other(
            "the reader stopped before the end of the file",
        ))))
    }

    /// The index in `names` of the scorer `record` belongs to, resolved
    /// against the registry on first sight.
    fn scorer_of(&mut self, record: &ScoreRecord) -> Result<usize, LoadError> {
        let (options, label) = (self.options, self.label);
        let name = scorer_name_of(options.scorer.as_deref(), record, label)
            .map_err(|message| self.malformed(record.line, message))?;
        if let Some(&index) = self.name_index.get(name) {
            return Ok(index);
        }
        let entry = self.resolve_scorer(name, record.line)?;
        let scorer = match self.scorers.iter().position(|s| s.entry.slug == entry.slug) {
            Some(scorer) => scorer,
            None => {
                self.scorers.push(FileScorer {
                    already_ingested: self.earlier_ingests.contains_key(&entry.slug),
                    entry,
                    counts: ScorerCounts::default(),
                    summary: None,
                });
                self.scorers.len() - 1
            }
        };
        self.names.push((name.to_string(), scorer));
        self.name_index
            .insert(name.to_string(), self.names.len() - 1);
        Ok(self.names.len() - 1)
    }

    /// The registry entry for `name`, created on first sight, with the
    /// declared scale and direction checked against what is registered.
    fn resolve_scorer(&self, name: &str, line: u64) -> Result<ScorerEntry, LoadError> {
        let scorer_slug = slug(name);
        if scorer_slug.is_empty() {
            return Err(self.malformed(
                line,
                format!("scorer name '{name}' has no letters or digits"),
            ));
        }
        let existing = self
            .tx
            .prepare_cached(sql::SCORER_BY_SLUG)
            .and_then(|mut stmt| {
                stmt.query_row([&scorer_slug], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<f64>>(2)?,
                        row.get::<_, Option<f64>>(3)?,
                        row.get::<_, Option<bool>>(4)?,
                        row.get::<_, Option<f64>>(5)?
                            .zip(row.get::<_, Option<f64>>(6)?),
                    ))
                })
                .optional()
            })
            .map_err(|e| self.sqlite(e))?;
        // A scale fixed by the file's format counts as declared.
        let (declared_scale, declared_by) = match (self.options.scale, self.format_scale) {
            (Some(scale), _) => (Some(scale), format!("--scale {scale}")),
            (None, Some(scale)) => (
                Some(scale),
                format!("the {} format's scale {scale}", self.format_name),
            ),
            (None, None) => (None, String::new()),
        };
        let (id, registered_name, scale, direction, typical) = match existing {
            Some((id, registered, min, max, direction, typical)) => {
                let scale = min.zip(max).map(|(min, max)| Scale { min, max });
                let typical = typical.map(|(min, max)| Scale { min, max });
                (id, registered, scale, direction, typical)
            }
            None => {
                self.tx
                    .execute(
                        sql::INSERT_SCORER,
                        params![name, scorer_slug, self.ingested_at],
                    )
                    .map_err(|e| self.sqlite(e))?;
                let id = self.tx.last_insert_rowid();
                let defaults = self.register_known_defaults(id, name, declared_scale)?;
                (
                    id,
                    name.to_string(),
                    defaults.scale,
                    defaults.higher_is_better,
                    defaults.typical,
                )
            }
        };
        let scale = match (scale, declared_scale) {
            (Some(registered), Some(declared)) if registered != declared => {
                return Err(self.conflict(format!(
                    "scorer '{registered_name}' is registered with scale {registered}; {declared_by} conflicts \
                     (a scorer has one scale; name a different scorer with --scorer if this is another model)"
                )))
            }
            (None, Some(declared)) => {
                self.tx
                    .execute(sql::SET_SCORER_SCALE, params![id, declared.min, declared.max])
                    .map_err(|e| self.sqlite(e))?;
                Some(declared)
            }
            (registered, _) => registered,
        };
        match (direction, self.options.higher_is_better) {
            (Some(registered), Some(declared)) if registered != declared => {
                let says = |higher: bool| {
                    if higher {
                        "higher-is-better"
                    } else {
                        "lower-is-better"
                    }
                };
                return Err(self.conflict(format!(
                    "scorer '{registered_name}' is registered as {}; --{} conflicts",
                    says(registered),
                    says(declared)
                )));
            }
            (None, Some(declared)) => {
                self.tx
                    .execute(sql::SET_SCORER_DIRECTION, params![id, declared])
                    .map_err(|e| self.sqlite(e))?;
            }
            _ => {}
        }
        Ok(ScorerEntry {
            id,
            slug: scorer_slug,
            registered_name,
            scale,
            typical,
            higher_is_better: self.options.higher_is_better.or(direction),
        })
    }

    /// A new scorer takes the documented scale and direction of the known
    /// scorer its name refers to, unless the user (or the format) declared
    /// them. Returns the hard scale and the direction now registered.
    fn register_known_defaults(
        &self,
        id: i64,
        name: &str,
        declared_scale: Option<Scale>,
    ) -> Result<ScorerDefaults, LoadError> {
        let Some(known) = known_scorer(name) else {
            return Ok(ScorerDefaults::default());
        };
        let range = Scale {
            min: known.min,
            max: known.max,
        };
        let direction = self
            .options
            .higher_is_better
            .unwrap_or(known.higher_is_better);
        let (hard, typical) = match (declared_scale, known.bounds) {
            (Some(_), _) => (None, None),
            (None, Bounds::Hard) => (Some(range), None),
            (None, Bounds::Typical) => (None, Some(range)),
            (None, Bounds::Unbounded) => (None, None),
            (None, Bounds::DependsOnRun) => {
                return Err(self.conflict(format!(
                    "scorer '{name}' has no fixed scale ({}): pass --scale MIN:MAX",
                    known.note
                )))
            }
        };
        self.tx
            .execute(
                sql::SET_SCORER_KNOWN_DEFAULTS,
                params![
                    id,
                    hard.map(|s| s.min),
                    hard.map(|s| s.max),
                    typical.map(|s| s.min),
                    typical.map(|s| s.max),
                    direction
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(ScorerDefaults {
            scale: hard,
            higher_is_better: Some(direction),
            typical,
        })
    }

    /// Insert one score row; on a (scorer, key) that is already live, apply
    /// the conflict policy. Returns whether a row was written, and whether it
    /// replaced another.
    /// Insert one row on its own; on a (scorer, key) that is already live,
    /// apply the conflict policy. Returns the new row's id, and whether it
    /// replaced another; `None` when `--ignore` kept the live row.
    fn insert_score(&self, row: &PendingRow) -> Result<Option<(i64, bool)>, LoadError> {
        let scorer = &self.scorers[self.names[row.name].1].entry;
        let insert = || {
            self.tx.prepare_cached(&self.row_insert)?.execute(params![
                scorer.id,
                row.key,
                row.raw_key,
                row.key_field,
                row.stored.score,
                row.stored.status,
                row.stored.reason,
                row.stored.note,
                row.runtime_ms,
                row.frame_count,
                self.file_id,
                row.line as i64,
            ])?;
            Ok(self.tx.last_insert_rowid())
        };
        let error = match insert() {
            Ok(id) => return Ok(Some((id, false))),
            Err(e) if !is_unique_violation(&e) => return Err(self.sqlite(e)),
            Err(e) => e,
        };
        drop(error);
        // The live-row index refused it: find out whose row is live.
        let (live_id, live_file, live_line, live_path, live_at) = self
            .tx
            .prepare_cached(sql::LIVE_SCORE_WITH_SOURCE)
            .and_then(|mut stmt| {
                stmt.query_row(params![scorer.id, row.key], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })
            })
            .map_err(|e| self.sqlite(e))?;
        let duplicate = |other: String| {
            LoadError::File(IngestFileError::Duplicate {
                path: self.path.to_string(),
                line: row.line,
                scorer: self.names[row.name].0.clone(),
                key: row.key.clone(),
                other,
            })
        };
        if live_file == self.file_id {
            return Err(duplicate(format!(
                "the same file already has it at {}:{live_line} (a file may hold each scorer and key once)",
                self.path
            )));
        }
        match self.options.on_conflict {
            ConflictPolicy::Refuse => {
                let hint = if self.options.suggest_conflict_flags {
                    " (pass --replace to supersede it, or --ignore to keep it)"
                } else {
                    ""
                };
                Err(duplicate(format!(
                    "already live from {live_path}:{live_line}, ingested {live_at}{hint}"
                )))
            }
            ConflictPolicy::Ignore => Ok(None),
            ConflictPolicy::Replace => {
                self.tx
                    .prepare_cached(sql::SUPERSEDE_SCORE)
                    .and_then(|mut stmt| {
                        stmt.execute(params![live_id, self.ingested_at, self.file_id])
                    })
                    .map_err(|e| self.sqlite(e))?;
                let id = insert().map_err(|e| self.sqlite(e))?;
                Ok(Some((id, true)))
            }
        }
    }

    /// Write the pending rows: one multi-row INSERT for a full batch, row by
    /// row for the rest and for a batch the live-row index refused (the
    /// refused statement changed nothing; row by row finds the conflicting
    /// row and applies the policy, in file order).
    fn flush(&mut self) -> Result<(), LoadError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut rows = std::mem::take(&mut self.pending);
        let written = if rows.len() == sql::SCORE_BATCH {
            self.insert_batch(&rows).map_err(|e| self.sqlite(e))?
        } else {
            0
        };
        let all_written = written == rows.len();
        for row in &rows {
            let inserted = if all_written || (written > 0 && self.is_live_here(row)?) {
                Some(false)
            } else {
                self.insert_score(row)?.map(|(_, replaced)| replaced)
            };
            self.settle(row, inserted);
        }
        rows.clear();
        self.pending = rows;
        Ok(())
    }

    /// Whether the live row of `row`'s scorer and key is `row` itself: the
    /// batch INSERT wrote it rather than leaving it out.
    fn is_live_here(&self, row: &PendingRow) -> Result<bool, LoadError> {
        let scorer = &self.scorers[self.names[row.name].1].entry;
        let origin = self
            .tx
            .prepare_cached(sql::LIVE_SCORE_ORIGIN)
            .and_then(|mut stmt| {
                stmt.query_row(params![scorer.id, row.key], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
            })
            .map_err(|e| self.sqlite(e))?;
        Ok(origin == Some((self.file_id, row.line as i64)))
    }

    /// Write a full batch in one `INSERT OR IGNORE`; returns how many rows
    /// it wrote (the others were refused by a constraint).
    fn insert_batch(&mut self, rows: &[PendingRow]) -> rusqlite::Result<usize> {
        if self.batch_insert.is_none() {
            self.batch_insert = Some(self.tx.prepare(&sql::insert_scores(sql::SCORE_BATCH))?);
        }
        let stmt = self.batch_insert.as_mut().expect("prepared above");
        for (index, row) in rows.iter().enumerate() {
            let first = index * sql::SCORE_PARAMS + 1;
            let scorer = &self.scorers[self.names[row.name].1].entry;
            stmt.raw_bind_parameter(first, scorer.id)?;
            stmt.raw_bind_parameter(first + 1, &row.key)?;
            stmt.raw_bind_parameter(first + 2, &row.raw_key)?;
            stmt.raw_bind_parameter(first + 3, &row.key_field)?;
            stmt.raw_bind_parameter(first + 4, row.stored.score)?;
            stmt.raw_bind_parameter(first + 5, row.stored.status)?;
            stmt.raw_bind_parameter(first + 6, &row.stored.reason)?;
            stmt.raw_bind_parameter(first + 7, &row.stored.note)?;
            stmt.raw_bind_parameter(first + 8, row.runtime_ms)?;
            stmt.raw_bind_parameter(first + 9, row.frame_count)?;
            stmt.raw_bind_parameter(first + 10, self.file_id)?;
            stmt.raw_bind_parameter(first + 11, row.line as i64)?;
        }
        stmt.raw_execute()
    }

    /// Count a written row (`Some(replaced)`) or an ignored one (`None`).
    fn settle(&mut self, row: &PendingRow, inserted: Option<bool>) {
        let scorer = &mut self.scorers[self.names[row.name].1];
        let Some(replaced) = inserted else {
            scorer.counts.ignored += 1;
            return;
        };
        if let (Some(value), "ok") = (row.stored.score, row.stored.status) {
            scorer
                .summary
                .get_or_insert_with(ValueSummary::default)
                .add(value);
        }
        scorer.counts.ingested += 1;
        scorer.counts.bad += u64::from(row.stored.status == "bad");
        scorer.counts.replaced += u64::from(replaced);
    }

    /// Resolve a record and queue it (scalar rows) or write it at once (rows
    /// with components or frames, which need the new row's id).
    fn store(&mut self, record: ScoreRecord) -> Result<(), LoadError> {
        let name = self.scorer_of(&record)?;
        let scorer = &mut self.scorers[self.names[name].1];
        if scorer.already_ingested {
            scorer.counts.skipped += 1;
            return Ok(());
        }
        let scale = scorer.entry.scale;
        let key = self
            .options
            .key_normalize
            .apply(&record.key_field, &record.raw_key);
        if key.trim().is_empty() {
            return Err(self.malformed(
                record.line,
                self.options
                    .key_normalize
                    .empty_key_message(&record.key_field, &record.raw_key),
            ));
        }
        let normalised = (key.as_ref() != record.raw_key).then(|| key.into_owned());
        let stored = judge(&record, scale);
        if self.preview.len() < self.options.preview_rows {
            let scorer = &self.scorers[self.names[name].1].entry;
            self.preview.push(PreviewRow {
                line: record.line,
                scorer: scorer.registered_name.clone(),
                key_field: record.key_field.clone(),
                raw_key: record.raw_key.clone(),
                key: normalised.clone().unwrap_or_else(|| record.raw_key.clone()),
                score: stored.score,
                status: stored.status.to_string(),
                reason: stored.reason.clone(),
                note: stored.note.clone(),
                runtime_ms: record.runtime_ms,
                frames: record.frames.len(),
                components: record.components.clone(),
            });
        }
        if self.options.strict && stored.status == "bad" {
            let reason = stored.reason.as_deref().unwrap_or("bad row");
            return Err(
                self.malformed(record.line, format!("{reason} (--strict refuses bad rows)"))
            );
        }
        let (key, raw_key) = match normalised {
            Some(key) => (key, Some(record.raw_key)),
            None => (record.raw_key, None),
        };
        let row = PendingRow {
            name,
            key,
            raw_key,
            key_field: record.key_field,
            stored,
            runtime_ms: record.runtime_ms,
            frame_count: record.pooled_frames,
            line: record.line,
        };
        if record.components.is_empty() && record.frames.is_empty() {
            self.pending.push(row);
            if self.pending.len() == sql::SCORE_BATCH {
                self.flush()?;
            }
            return Ok(());
        }
        self.flush()?;
        let Some((score_id, replaced)) = self.insert_score(&row)? else {
            self.settle(&row, None);
            return Ok(());
        };
        if !record.components.is_empty() {
            let mut stmt = self
                .tx
                .prepare_cached(sql::INSERT_SCORE_COMPONENT)
                .map_err(|e| self.sqlite(e))?;
            for (name, value) in &record.components {
                stmt.execute(params![score_id, name, value])
                    .map_err(|e| self.sqlite(e))?;
            }
        }
        if !record.frames.is_empty() {
            let mut stmt = self
                .tx
                .prepare_cached(sql::INSERT_FRAME_SCORE)
                .map_err(|e| self.sqlite(e))?;
            for frame in &record.frames {
                stmt.execute(params![
                    score_id,
                    frame.frame_index,
                    frame.value,
                    frame.runtime_ms
                ])
                .map_err(|e| self.sqlite(e))?;
            }
        }
        self.settle(&row, Some(replaced));
        Ok(())
    }

    /// Write what is pending and record, per scorer, how many rows the file
    /// gave it.
    fn finish(&mut self) -> Result<(), LoadError> {
        self.flush()?;
        let mut stmt = self
            .tx
            .prepare_cached(sql::INSERT_SOURCE_FILE_SCORER)
            .map_err(|e| self.sqlite(e))?;
        for scorer in self.scorers.iter().filter(|s| s.counts.ingested > 0) {
            stmt.execute(params![
                self.file_id,
                scorer.entry.id,
                scorer.counts.ingested as i64
            ])
            .map_err(|e| self.sqlite(e))?;
        }
        Ok(())
    }
}

/// A record's score as it will be stored.
pub(crate) struct StoredScore {
    pub score: Option<f64>,
    pub status: &'static str,
    /// Why the row is bad.
    pub reason: Option<String>,
    /// What the reader noted about the row (frames left out of the pool).
    pub note: Option<String>,
}

/// Decide what a record's score becomes: an unusable value is stored `bad`
/// with no score; a row whose scorer reported a failure keeps its value but
/// is `bad`; a value outside the declared scale is `bad` with no score.
pub(crate) fn judge(record: &ScoreRecord, scale: Option<Scale>) -> StoredScore {
    let bad = |score, reason| StoredScore {
        score,
        status: "bad",
        reason: Some(reason),
        note: record.note.clone(),
    };
    let failed_status = record
        .reported_status
        .as_deref()
        .filter(|s| !is_ok_status(s));
    match &record.value {
        RawScore::Unusable(reason) => match failed_status {
            Some(status) => bad(
                None,
                format!("scorer reported status '{status}' ({reason})"),
            ),
            None => bad(None, reason.clone()),
        },
        RawScore::Number(value) => {
            if let Some(status) = failed_status {
                return bad(Some(*value), format!("scorer reported status '{status}'"));
            }
            if let Some(scale) = scale.filter(|scale| !scale.contains(*value)) {
                return bad(
                    None,
                    format!("score {value} is outside the declared scale {scale}"),
                );
            }
            StoredScore {
                score: Some(*value),
                status: "ok",
                reason: None,
                note: record.note.clone(),
            }
        }
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl RecordSink for Loader<'_> {
    type Error = LoadError;

    fn note(&mut self, message: String) {
        if !self.notes.contains(&message) {
            self.notes.push(message);
        }
    }

    fn push(&mut self, record: ScoreRecord) -> Result<(), LoadError> {
        let line = record.line;
        let stored = match &self.options.frame_pattern {
            Some(pattern) => {
                let name = self.scorer_name(&record)?;
                let (clip, frame) = pattern
                    .split(&record.raw_key)
                    .map_err(|message| self.malformed(line, message))?;
                let base = self.options.frame_base.unwrap_or(0);
                if frame < base {
                    return Err(
                        self.malformed(line, format!("frame {frame} is below --frame-base {base}"))
                    );
                }
                let clip = clip.to_string();
                self.frame_groups.add(&name, &clip, frame - base, record);
                Ok(())
            }
            None => self.store(record),
        };
        // A failing row reports only after the rows before it are written:
        // one of them may be the file's first error.
        stored.or_else(|e| self.flush().and(Err(e)))
    }
}

impl Loader<'_> {
    /// The scorer a record belongs to: `--scorer`, the row's `competitor`,
    /// the file's label, then what the format implies.
    fn scorer_name(&self, record: &ScoreRecord) -> Result<String, LoadError> {
        scorer_name_of(self.options.scorer.as_deref(), record, self.label)
            .map(str::to_string)
            .map_err(|message| self.malformed(record.line, message))
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

    #[test]
    fn ok_statuses() {
        for ok in ["", " ", "ok", "OK", "Pass", "success"] {
            assert!(is_ok_status(ok), "{ok:?}");
        }
        for bad in ["failed", "error", "timeout", "oks"] {
            assert!(!is_ok_status(bad), "{bad:?}");
        }
    }

    fn record(value: RawScore, status: Option<&str>) -> ScoreRecord {
        ScoreRecord {
            line: 1,
            key_field: "clip_id".into(),
            raw_key: "a".into(),
            scorer: None,
            scorer_hint: None,
            value,
            reported_status: status.map(str::to_string),
            runtime_ms: None,
            frames: Vec::new(),
            pooled_frames: 0,
            note: None,
            components: Vec::new(),
        }
    }

    #[test]
    fn judge_marks_bad_rows_with_a_reason() {
        let ok = judge(
            &record(RawScore::Number(50.0), Some("ok")),
            Some(Scale {
                min: 0.0,
                max: 100.0,
            }),
        );
        assert_eq!((ok.score, ok.status, ok.reason), (Some(50.0), "ok", None));
        let failed = judge(&record(RawScore::Number(50.0), Some("oom")), None);
        assert_eq!(
            (failed.score, failed.status, failed.reason.as_deref()),
            (Some(50.0), "bad", Some("scorer reported status 'oom'"))
        );
        let outside = judge(
            &record(RawScore::Number(101.0), None),
            Some(Scale {
                min: 0.0,
                max: 100.0,
            }),
        );
        assert_eq!(
            (outside.score, outside.status, outside.reason.as_deref()),
            (
                None,
                "bad",
                Some("score 101 is outside the declared scale 0:100")
            )
        );
        let unusable = judge(
            &record(RawScore::Unusable("score is null".into()), None),
            None,
        );
        assert_eq!((unusable.score, unusable.status), (None, "bad"));
        let both = judge(
            &record(
                RawScore::Unusable("score is null".into()),
                Some("decode_error"),
            ),
            None,
        );
        assert_eq!(
            both.reason.as_deref(),
            Some("scorer reported status 'decode_error' (score is null)")
        );
    }
}
