//! One score file into a PostgreSQL registry, all of its rows or none: the
//! PostgreSQL side of `registry/ingest.rs`. The rules are the pipeline's
//! ([`FileIngest`]); this file keeps what it decided ([`PgStore`]).
//!
//! How it differs from SQLite, and why:
//! * Scalar rows are held back and written in batches by binary COPY. While
//!   no row of the file has met a live one, a batch is copied straight into
//!   `scores`: the live-row index refuses the copy at the first row whose
//!   (scorer, key) is live. The first batch is copied under a savepoint,
//!   which then undoes it, and that batch and the rest of the file take the
//!   staged way; a refusal of a later batch aborts the attempt, and the
//!   file is tried again, all staged ([`DIRECT_SAVEPOINTS`]). (Straight in
//!   is most of the ingest's time saved: `INSERT … ON CONFLICT` inserts
//!   each row speculatively, and staging writes every row twice.) The
//!   staged way streams rows into a temporary staging table, then moves
//!   them into `scores` by one `INSERT … ON CONFLICT DO NOTHING` in file
//!   order; a row the index refused is redone alone, where the conflict
//!   policy (and its file:line message) applies, as SQLite's batches do.
//!   On PostgreSQL an error aborts the transaction (a savepoint's, here),
//!   so no other statement relies on a constraint error.
//! * "Already ingested" is race-free: the ingest locks its bytes' sha256
//!   (an advisory lock held to its end) before looking for them, so of
//!   two machines ingesting one file, the second waits, then finds the
//!   first's and reports the file skipped. When no file of the same size
//!   was ingested (so not these bytes), the rows go in at once and the
//!   bytes are hashed as they are read; the lock is taken and the look
//!   made after the read, before the commit. An ingest of these bytes
//!   that committed meanwhile (another machine's) sends the file round
//!   again, hashed first: that attempt finds it, as above. (Hashing first
//!   kept the server idle for the hash: 0.44 s of a 5 M-row file.)
//! * A file's point is taken as it commits (`TAKE_POINT`), not when it
//!   starts: see `migrations/postgres/0001_registry.sql`.
//! * Deadlocks and serialisation failures between machines ingesting
//!   overlapping keys are retried, the whole file again.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::Client;

use super::copier::Conn;
use super::{sql, PgBackend, ServerError};
use crate::digest::{sha256_file, HashingRead};
use crate::ingest::pipeline::{
    Fate, FileIngest, RowDetail, ScoreRow, ScoreStore, Settled, StoreError, StoreScorer,
};
use crate::ingest::rules::{
    check_declared_direction, check_declared_scale, duplicate_action, new_scorer_defaults,
    ConflictPolicy, Declared, DuplicateAction, LiveOrigin,
};
use crate::ingest::{
    read_on_thread, FileOutcome, FileStatus, IngestFileError, IngestOptions, SourceSpec,
};
use crate::progress::{Progress, ProgressRead};
use crate::registry::now_rfc3339;
use crate::registry::same_bytes::OtherIngest;
use crate::scorer::Scale;

/// A store failure with the registry it happened on.
#[derive(Debug)]
struct OnRegistry {
    registry: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for OnRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.registry, self.source)
    }
}

impl std::error::Error for OnRegistry {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Scalar rows per COPY into the staging table: large enough that the
/// round trips do not count, small enough to hold in memory.
const STAGED_ROWS: usize = 50_000;

/// Scalar rows of the first batch copied straight in, under a savepoint:
/// the server waits while the pipeline makes them, and the pipeline while
/// the server copies them, so it is kept small; a file that meets live
/// rows from its start shows it as well in a few thousand rows.
const FIRST_DIRECT_ROWS: usize = 4_096;

/// Scalar rows per batch sent to the copier thread: small, so the server
/// starts on the first soon after the savepoint's batch, and little of
/// the last is left for it once the pipeline ends.
const LENT_ROWS: usize = 8_192;

/// How often a file is tried again after a deadlock or serialisation
/// failure with another machine's ingest.
const RETRIES: usize = 8;

/// Batches of a file copied straight into `scores` under a savepoint each:
/// the first. A file that meets live rows mostly does so from its start (a
/// rerun, a `--replace` of a scorer's new run); it then goes the staged way
/// at the cost of one batch. A later batch goes straight in without one:
/// a row of it that meets a live row aborts the attempt, and the file is
/// tried again the staged way. (Every savepoint that writes is a
/// subtransaction; past 64 in one transaction the server stops caching
/// their ids, which slows every other session's snapshots while the
/// ingest runs: one per 50,000 rows would pass that at 3.2 M rows.)
const DIRECT_SAVEPOINTS: usize = 1;

impl PgBackend {
    /// Ingest one score file in one transaction; see the module docs.
    pub(crate) fn ingest_file(
        &mut self,
        source: &SourceSpec,
        options: &IngestOptions,
        progress: &dyn Progress,
    ) -> Result<FileOutcome, IngestFileError> {
        let mut attempt = 0;
        let mut direct = true;
        let mut hash_first = false;
        loop {
            let mut read_unhashed = false;
            match self.ingest_once(
                source,
                options,
                progress,
                direct,
                hash_first,
                &mut read_unhashed,
            ) {
                Ok(Attempt::Done(outcome)) => return Ok(*outcome),
                // Another ingest of these bytes committed while this one
                // read them: hashed first, the next attempt meets it.
                Ok(Attempt::SameBytesMeanwhile) => hash_first = true,
                // A row copied straight in without a savepoint met a live
                // row: the attempt is undone; the staged way settles it.
                Err(IngestFileError::Store { source: e, .. })
                    if direct && is_refused_by_live_row_index(e.as_ref()) =>
                {
                    direct = false;
                }
                Err(IngestFileError::Store { source: e, .. })
                    if attempt < RETRIES && is_transient(e.as_ref()) =>
                {
                    attempt += 1;
                    // Back off a little, differently per process, so the
                    // same two ingests do not collide again at once.
                    let jitter = u64::from(std::process::id() % 7) * 10;
                    std::thread::sleep(std::time::Duration::from_millis(
                        20 * attempt as u64 + jitter,
                    ));
                }
                // Refused while read before its hash (a row met one of
                // another machine's ingest of the same file, say): if a
                // file of its size came in meanwhile, the attempt hashed
                // first decides.
                Err(_) if read_unhashed && self.file_of_size_ingested(source) => {
                    hash_first = true;
                }
                // A failure of the server names the registry (without its
                // password): with many machines and registries, which one
                // went away is the first thing to know.
                Err(e) => return Err(self.naming_registry(e)),
            }
        }
    }

    /// Whether a file of `source`'s size is in the registry now (false
    /// when either cannot be told: the attempt's own error stands).
    fn file_of_size_ingested(&mut self, source: &SourceSpec) -> bool {
        let Ok(size) = std::fs::metadata(&source.path).map(|m| m.len() as i64) else {
            return false;
        };
        self.client
            .query_one(sql::FILE_OF_SIZE_EXISTS, &[&size])
            .map(|row| row.get(0))
            .unwrap_or(false)
    }

    fn naming_registry(&self, error: IngestFileError) -> IngestFileError {
        match error {
            IngestFileError::Store { path, source } => IngestFileError::Store {
                path,
                source: Box::new(OnRegistry {
                    registry: self.shown.display().to_string(),
                    source,
                }),
            },
            other => other,
        }
    }

    /// One attempt; `direct`: whether scalar rows may go straight into
    /// `scores` (see [`PgStore::flush`]); `hash_first`: hash the bytes
    /// before any row even when no file of their size was ingested.
    /// `read_unhashed` is set when the attempt read rows before knowing
    /// its hash.
    fn ingest_once(
        &mut self,
        source: &SourceSpec,
        options: &IngestOptions,
        progress: &dyn Progress,
        direct: bool,
        hash_first: bool,
        read_unhashed: &mut bool,
    ) -> Result<Attempt, IngestFileError> {
        let prepared = options.prepare_file(source)?;
        let (path, size_bytes, format) =
            (prepared.path.clone(), prepared.size_bytes, prepared.format);
        let io = |source| IngestFileError::Io {
            path: path.clone(),
            source,
        };
        let store_error = |source: postgres::Error| IngestFileError::Store {
            path: path.clone(),
            source: Box::new(ServerError(source)),
        };
        let identity_value = options.identity(source, format);
        let identity = identity_value.to_string();
        let replace = options.on_conflict == ConflictPolicy::Replace;
        let ingested_at = now_rfc3339();

        let begin_error = {
            let path = path.clone();
            move |source| IngestFileError::Store {
                path: path.clone(),
                source: Box::new(ServerError(source)),
            }
        };
        // Its own transaction, or a savepoint of `materialize`'s or
        // `batch`'s one over many files (`PgBackend::write_transaction`).
        self.write_transaction(begin_error, |mut tx| {
            // Whether these bytes were ingested before decides, row by row,
            // what happens to them, so then the hash comes first. Identical
            // bytes have the same size: when no file of this size was
            // ingested, the hash is taken as the bytes are read, and looked
            // for before the commit (see the module docs).
            let same_size: bool = tx
                .query_one(sql::FILE_OF_SIZE_EXISTS, &[&(size_bytes as i64)])
                .map_err(store_error)?
                .get(0);
            let hashed_first = if hash_first || same_size {
                Some(sha256_file(&source.path).map_err(io)?)
            } else {
                None
            };
            *read_unhashed = hashed_first.is_none();
            let earlier_ingests = match &hashed_first {
                Some(sha256) => {
                    earlier_ingests_of(&mut tx, sha256, &identity, replace).map_err(store_error)?
                }
                None => HashMap::new(),
            };
            let file_id: i64 = tx
                .query_one(
                    sql::INSERT_SOURCE_FILE,
                    &[
                        &path,
                        &prepared.absolute_path,
                        &hashed_first.as_deref().unwrap_or_default(),
                        &(size_bytes as i64),
                        &format.name(),
                        &source.label,
                        &ingested_at,
                        &crate::TOOL_VERSION,
                        &options.scorer_version,
                        &identity,
                    ],
                )
                .map_err(store_error)?
                .get(0);
            // Earlier ingests of these bytes with other options: as SQLite's
            // (`registry/same_bytes.rs`), refused, or superseded by --replace;
            // those whose scorers are known only once this file is read, after.
            let mut notes = Vec::new();
            let mut check_after_read = Vec::new();
            let hashed = hashed_first.as_ref().filter(|_| earlier_ingests.is_empty());
            if let Some(sha256) = hashed {
                for row in tx
                    .query(sql::OTHER_INGESTS_OF_SHA256, &[sha256, &identity])
                    .map_err(store_error)?
                {
                    let other_id: i64 = row.get(0);
                    let other = OtherIngest::new(row.get(1), row.get(2), row.get(3), row.get(4));
                    if !other.names_scorers_like(&identity_value) {
                        check_after_read.push((other, other_id));
                    } else if replace {
                        let superseded = supersede_file(&mut tx, other_id, file_id, None)
                            .map_err(store_error)?;
                        notes.push(format!(
                        "superseded {superseded} live rows of the earlier ingest of these bytes"
                    ));
                    } else {
                        return Err(IngestFileError::Conflict {
                            path: path.clone(),
                            message: other.refusal(&identity_value, None),
                        });
                    }
                }
            }
            tx.batch_execute(sql::CREATE_STAGING).map_err(store_error)?;

            progress.begin(size_bytes);
            let file = File::open(&source.path).map_err(io)?;
            let hashing = HashingRead::new(
                ProgressRead {
                    inner: file,
                    progress,
                },
                hashed_first.is_none(),
            );
            let input = BufReader::with_capacity(1 << 20, hashing);
            // The store may lend the transaction to a copier thread of
            // this scope (`postgres/copier.rs`); it is back when the read
            // ends.
            let (mut tx, result) = std::thread::scope(|scope| {
                let mut store = PgStore {
                    conn: Conn::new(tx, scope),
                    path: &path,
                    file_id,
                    ingested_at: &ingested_at,
                    earlier_ingests: &earlier_ingests,
                    on_conflict: options.on_conflict,
                    pending: Vec::with_capacity(STAGED_ROWS),
                    copy_direct: direct,
                    savepoints_left: DIRECT_SAVEPOINTS,
                };
                let read_options = options.read_options(source);
                let (result, hashed_while_read) = read_on_thread(
                    format,
                    input,
                    &read_options,
                    &mut store,
                    |store| FileIngest::new(store, &path, source, options, format),
                    |mut input, read| {
                        // Read (and hash) what the reader left unread too (a
                        // trailer), as the SQLite ingest does.
                        let read = read.and_then(|()| {
                            std::io::copy(&mut input, &mut std::io::sink())?;
                            Ok(input.into_inner().finish()?)
                        });
                        match read {
                            Ok(digest) => (Ok(()), digest),
                            Err(e) => (Err(e), None),
                        }
                    },
                )
                .map_err(|e| e.into_file_error(&path))?;
                let tx = store.conn.into_tx().map_err(store_error)?;
                Ok((tx, (result, hashed_while_read)))
            })?;
            let (result, hashed_while_read) = result;
            let sha256 = match (hashed_first, hashed_while_read) {
                (Some(sha256), _) => sha256,
                (None, Some((sha256, bytes))) => {
                    // Another machine's ingest of these bytes may have
                    // committed while they were read: looked for under the
                    // lock, as a first hash would have been.
                    let meanwhile = !earlier_ingests_of(&mut tx, &sha256, &identity, replace)
                        .map_err(store_error)?
                        .is_empty()
                        || !tx
                            .query(sql::OTHER_INGESTS_OF_SHA256, &[&sha256, &identity])
                            .map_err(store_error)?
                            .is_empty();
                    if meanwhile {
                        return Ok(Attempt::SameBytesMeanwhile);
                    }
                    tx.execute(sql::SET_FILE_SHA256, &[&file_id, &sha256, &(bytes as i64)])
                        .map_err(store_error)?;
                    sha256
                }
                (None, None) => unreachable!("a read without a first hash is hashed"),
            };
            for (other, other_id) in &check_after_read {
                let earlier_scorers: Vec<i64> = tx
                    .query(sql::FILE_SCORER_IDS, &[other_id])
                    .map_err(store_error)?
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                let shared: Vec<&crate::ingest::pipeline::FileScorer> = result
                    .scorers
                    .iter()
                    .filter(|s| earlier_scorers.contains(&s.entry.id))
                    .collect();
                if shared.is_empty() {
                    continue;
                }
                if !replace {
                    let names: Vec<String> = shared
                        .iter()
                        .map(|s| s.entry.registered_name.clone())
                        .collect();
                    return Err(IngestFileError::Conflict {
                        path: path.clone(),
                        message: other.refusal(&identity_value, Some(&names)),
                    });
                }
                for scorer in shared {
                    let superseded =
                        supersede_file(&mut tx, *other_id, file_id, Some(scorer.entry.id))
                            .map_err(store_error)?;
                    notes.push(format!(
                        "superseded {superseded} live rows of the earlier ingest of these bytes"
                    ));
                }
            }

            if !result.warnings.is_empty() {
                if options.strict {
                    let found: Vec<String> = result
                        .warnings
                        .iter()
                        .map(|w| format!("{}: {}", w.scorer, w.message))
                        .collect();
                    return Err(IngestFileError::Suspicious {
                        path: path.clone(),
                        message: found.join("; "),
                    });
                }
                let text = serde_json::to_string(&result.warnings).expect("warnings serialise");
                tx.execute(sql::SET_FILE_WARNINGS, &[&file_id, &text])
                    .map_err(store_error)?;
            }
            let status = if result.rows_written() > 0 {
                if options.dry_run {
                    tx.rollback().map_err(store_error)?;
                } else {
                    stamp_point(&mut tx, file_id).map_err(store_error)?;
                    tx.commit().map_err(store_error)?;
                }
                FileStatus::Ingested
            } else {
                // Nothing new: leave no trace of this attempt.
                tx.rollback().map_err(store_error)?;
                let all_skipped = result.scorers.iter().all(|s| s.counts.ignored == 0);
                match earlier_ingests.values().min() {
                    Some(at) if all_skipped => FileStatus::AlreadyIngested { at: at.clone() },
                    _ => FileStatus::NothingNew,
                }
            };
            Ok(Attempt::Done(Box::new(
                prepared.outcome(source, options, sha256, status, notes, result),
            )))
        })
    }
}

/// How one attempt at a file ended, when it did not fail.
enum Attempt {
    Done(Box<FileOutcome>),
    /// Read before its hash was known, the file turned out to hold bytes
    /// another ingest committed meanwhile: undone, to be tried again
    /// hashed first.
    SameBytesMeanwhile,
}

/// Lock the bytes of `sha256` to the transaction's end, then the scorers
/// they were ingested for with these options (slug → first time), as
/// `already ingested` counts them.
fn earlier_ingests_of(
    tx: &mut Client,
    sha256: &str,
    identity: &str,
    replace: bool,
) -> Result<HashMap<String, String>, postgres::Error> {
    tx.execute(sql::LOCK_SAME_BYTES, &[&sha_lock_key(sha256)])?;
    Ok(tx
        .query(
            sql::SCORERS_INGESTED_FROM_SHA256,
            &[&sha256, &identity, &!replace],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Give the ingest its point, last thing before it commits. The clock's
/// row stays locked until the commit, so the ingest numbered N commits
/// before any other is numbered N+1: a snapshot that sees point N+1 sees
/// every point before it, and `--as-of seq:N` never shows a later point
/// without an earlier one. (Numbers handed out as ingests start would not
/// be in commit order: a long file started first commits last.)
fn stamp_point(tx: &mut Client, file_id: i64) -> Result<(), postgres::Error> {
    let seq: i64 = tx.query_one(sql::TAKE_POINT, &[])?.get(0);
    tx.execute(sql::STAMP_FILE, &[&file_id, &seq])?;
    tx.execute(sql::STAMP_SUPERSEDED, &[&file_id, &seq])?;
    tx.execute(sql::INSERT_CHANGE, &[&seq, &now_rfc3339(), &file_id])?;
    Ok(())
}

/// Supersede, for ingest `file_id`, the live rows of the earlier ingest
/// `other_id` of the same bytes (those of `scorer_id`, if given); returns
/// how many. Their point is stamped as this ingest commits.
fn supersede_file(
    tx: &mut Client,
    other_id: i64,
    file_id: i64,
    scorer_id: Option<i64>,
) -> Result<u64, postgres::Error> {
    tx.execute(sql::FILL_MISSING_FILE_BOUNDS, &[])?;
    tx.execute(
        sql::SUPERSEDE_LIVE_ROWS_OF_FILE,
        &[&other_id, &now_rfc3339(), &file_id, &scorer_id],
    )
}

/// The advisory-lock key of a file's bytes: the first 8 bytes of its
/// sha256. Two different files sharing them only wait for each other.
fn sha_lock_key(sha256: &str) -> i64 {
    u64::from_str_radix(&sha256[..16.min(sha256.len())], 16).unwrap_or(0) as i64
}

/// A deadlock or serialisation failure with another ingest: trying the
/// file again succeeds.
fn is_transient(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<ServerError>()
        .and_then(|e| e.0.code())
        .is_some_and(|code| {
            *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        })
}

/// A server error of the ingest is the live-row index's refusal (only a
/// copy straight into `scores` can be refused: every other write asks
/// `ON CONFLICT DO NOTHING`).
fn is_refused_by_live_row_index(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<ServerError>()
        .is_some_and(|e| is_live_row_conflict(&e.0))
}

/// The live-row index refused a row: its (scorer, key) is live already.
fn is_live_row_conflict(error: &postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
        && error
            .as_db_error()
            .and_then(|e| e.constraint())
            .is_some_and(|name| name == sql::LIVE_ROW_INDEX)
}

/// Rows straight into `scores` by binary COPY, in `tx` (a savepoint or the
/// file's transaction), as ingest `file_id`'s.
fn copy_rows_into_scores(
    tx: &mut Client,
    rows: &[ScoreRow],
    file_id: i64,
) -> Result<(), postgres::Error> {
    let sink = tx.copy_in(sql::COPY_SCORES)?;
    write_rows(sink, rows, |_| file_id)
}

/// The column types of both binary COPYs of scalar rows, [`sql::COPY_SCORES`]
/// and [`sql::COPY_STAGING`], in their order: a row's columns, then a
/// number (the file's id, or the row's place in a staged batch), then its
/// line.
pub(super) const COPY_ROW_TYPES: [Type; 12] = [
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::FLOAT8,
    Type::INT4,
    Type::INT8,
    Type::INT8,
];

/// Write `rows` into a binary COPY of [`COPY_ROW_TYPES`], the eleventh
/// column of row `n` being `tag(n)`, and finish it.
fn write_rows(
    sink: postgres::CopyInWriter<'_>,
    rows: &[ScoreRow],
    tag: impl Fn(usize) -> i64,
) -> Result<(), postgres::Error> {
    let mut writer = BinaryCopyInWriter::new(sink, &COPY_ROW_TYPES);
    for (n, row) in rows.iter().enumerate() {
        write_row(&mut writer, row, tag(n))?;
    }
    writer.finish()?;
    Ok(())
}

/// Write one row into a binary COPY of [`COPY_ROW_TYPES`], `tag` its
/// eleventh column.
pub(super) fn write_row(
    writer: &mut BinaryCopyInWriter<'_>,
    row: &ScoreRow,
    tag: i64,
) -> Result<(), postgres::Error> {
    let numbers = RowNumbers::of(row);
    writer.write(&numbers.params(row, &tag))
}

/// A row's line and frame count as the server's column types take them,
/// and its key field as text.
struct RowNumbers<'r> {
    line: i64,
    frame_count: i32,
    key_field: &'r str,
}

impl<'r> RowNumbers<'r> {
    fn of(row: &'r ScoreRow) -> RowNumbers<'r> {
        RowNumbers {
            line: row.line as i64,
            frame_count: row.frame_count as i32,
            key_field: &row.key_field,
        }
    }

    /// The row's [`COPY_ROW_TYPES`] columns, `file` the eleventh: what a
    /// COPY writes and the first twelve parameters of `INSERT_SCORE`.
    fn params<'a>(&'a self, row: &'a ScoreRow, file: &'a i64) -> [&'a (dyn ToSql + Sync); 12] {
        [
            &row.scorer_id,
            &row.key,
            &row.raw_key,
            &self.key_field,
            &row.stored.score,
            &row.stored.status,
            &row.stored.reason,
            &row.stored.note,
            &row.runtime_ms,
            &self.frame_count,
            file,
            &self.line,
        ]
    }
}

/// The PostgreSQL registry as the pipeline's store, inside one file's
/// transaction.
struct PgStore<'a, 's, 'e, 'c: 's> {
    conn: Conn<'s, 'e, 'c>,
    path: &'a str,
    file_id: i64,
    ingested_at: &'a str,
    /// Slug → first time these bytes were ingested for that scorer.
    earlier_ingests: &'a HashMap<String, String>,
    on_conflict: ConflictPolicy,
    /// Scalar rows not yet written: at most [`STAGED_ROWS`].
    pending: Vec<ScoreRow>,
    /// Whether scalar rows still go straight into `scores` (until one of
    /// this file meets a live row; see [`PgStore::flush`]).
    copy_direct: bool,
    /// Direct copies that may still take a savepoint of their own.
    savepoints_left: usize,
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Backend(Box::new(ServerError(e)))
    }
}

impl ScoreStore for PgStore<'_, '_, '_, '_> {
    fn scorer(
        &mut self,
        name: &str,
        slug: &str,
        declared: &Declared,
    ) -> Result<StoreScorer, StoreError> {
        let mut existing = self.conn.tx()?.query_opt(sql::SCORER_BY_SLUG, &[&slug])?;
        if existing.is_none() {
            let defaults = new_scorer_defaults(name, declared).map_err(StoreError::Conflict)?;
            // Another machine may register it meanwhile: then this inserts
            // nothing, and the read below finds theirs.
            self.conn.tx()?.execute(
                sql::INSERT_SCORER,
                &[
                    &name,
                    &slug,
                    &self.ingested_at,
                    &defaults.scale.map(|s| s.min),
                    &defaults.scale.map(|s| s.max),
                    &defaults.typical.map(|s| s.min),
                    &defaults.typical.map(|s| s.max),
                    &defaults.higher_is_better,
                ],
            )?;
            existing = self.conn.tx()?.query_opt(sql::SCORER_BY_SLUG, &[&slug])?;
        }
        let row = existing.expect("registered above");
        let id: i64 = row.get(0);
        let registered_name: String = row.get(1);
        let scale = row
            .get::<_, Option<f64>>(2)
            .zip(row.get::<_, Option<f64>>(3))
            .map(|(min, max)| Scale { min, max });
        let direction: Option<bool> = row.get(4);
        let typical = row
            .get::<_, Option<f64>>(5)
            .zip(row.get::<_, Option<f64>>(6))
            .map(|(min, max)| Scale { min, max });
        check_declared_scale(&registered_name, scale, declared).map_err(StoreError::Conflict)?;
        let scale = match (scale, declared.scale) {
            (None, Some(declared)) => {
                self.conn
                    .tx()?
                    .execute(sql::SET_SCORER_SCALE, &[&id, &declared.min, &declared.max])?;
                Some(declared)
            }
            (registered, _) => registered,
        };
        check_declared_direction(&registered_name, direction, declared)
            .map_err(StoreError::Conflict)?;
        if let (None, Some(higher)) = (direction, declared.higher_is_better) {
            self.conn
                .tx()?
                .execute(sql::SET_SCORER_DIRECTION, &[&id, &higher])?;
        }
        Ok(StoreScorer {
            id,
            already_ingested: self.earlier_ingests.contains_key(slug),
            slug: slug.to_string(),
            registered_name,
            scale,
            typical,
            higher_is_better: declared.higher_is_better.or(direction),
        })
    }

    fn put(
        &mut self,
        row: ScoreRow,
        detail: RowDetail,
        settle: &mut dyn FnMut(Settled, Fate),
    ) -> Result<(), StoreError> {
        if detail.is_empty() && row.stored.raw_value.is_none() {
            self.pending.push(row);
            if self.pending.len() >= self.batch_rows() {
                self.flush(settle)?;
            }
            return Ok(());
        }
        // Rows before this one first: fates are settled in file order.
        self.flush(settle)?;
        let Some((score_id, fate)) = self.insert_score(&row, &detail.components)? else {
            settle(row.settled(), Fate::Ignored);
            return Ok(());
        };
        for (name, value) in &detail.components {
            self.conn
                .tx()?
                .execute(sql::INSERT_SCORE_COMPONENT, &[&score_id, name, value])?;
        }
        if !detail.frames.is_empty() {
            let statement = self.conn.tx()?.prepare(sql::INSERT_FRAME_SCORE)?;
            for frame in &detail.frames {
                self.conn.tx()?.execute(
                    &statement,
                    &[
                        &score_id,
                        &frame.frame_index,
                        &frame.value,
                        &frame.runtime_ms,
                    ],
                )?;
            }
        }
        settle(row.settled(), fate);
        Ok(())
    }

    /// Write the held-back rows: straight into `scores` by binary COPY
    /// while no row of this file has met a live one; else staged by COPY,
    /// moved in one INSERT, and each row the live-row index refused redone
    /// alone, in file order.
    fn flush(&mut self, settle: &mut dyn FnMut(Settled, Fate)) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        if self.copy_direct && self.savepoints_left == 0 {
            // Without a savepoint, a refusal aborts the attempt, and these
            // fates with it: they may be settled before the server has the
            // rows, which a copier thread sends while the next are read.
            for row in &rows {
                settle(row.settled(), Fate::Written);
            }
            self.conn.copy_later(rows, self.file_id)?;
            return Ok(());
        }
        if self.copy_direct {
            match self.copy_into_scores(&rows) {
                Ok(()) => {
                    for row in &rows {
                        settle(row.settled(), Fate::Written);
                    }
                    return Ok(());
                }
                // A row met a live one (of an earlier file, of this one, or
                // of another machine's ingest that has just committed): the
                // copy was undone; these rows, and the rest of the file,
                // take the way that settles each conflict. (Without a
                // savepoint, the error ends the attempt: `ingest_file`.)
                Err(e) if is_live_row_conflict(&e) => self.copy_direct = false,
                Err(e) => return Err(e.into()),
            }
        }
        self.stage_and_move(rows, settle)
    }

    fn finish_file(&mut self, rows_per_scorer: &[(i64, u64, u64)]) -> Result<(), StoreError> {
        // Two names of one file can be one scorer: one count per scorer.
        // The bad rows' count is not kept here: this backend's `scorers`
        // and `files` count live rows with the server's own indexes.
        let mut totals: Vec<(i64, u64)> = Vec::with_capacity(rows_per_scorer.len());
        for &(scorer_id, rows, _bad) in rows_per_scorer {
            match totals.iter_mut().find(|(id, _)| *id == scorer_id) {
                Some((_, total)) => *total += rows,
                None => totals.push((scorer_id, rows)),
            }
        }
        for (scorer_id, rows) in totals {
            self.conn.tx()?.execute(
                sql::INSERT_SOURCE_FILE_SCORER,
                &[&self.file_id, &scorer_id, &(rows as i64)],
            )?;
        }
        Ok(())
    }
}

impl<'c> PgStore<'_, '_, '_, 'c> {
    /// Copy rows straight into `scores`, all or none: under a savepoint, so
    /// a row the live-row index refuses undoes only this copy. The index
    /// decides, as it does for every other write: the copy fails on the
    /// first row whose (scorer, key) is live, here or in a commit it waited
    /// for. Past [`DIRECT_SAVEPOINTS`] copies, without a savepoint: a
    /// refusal then aborts the attempt.
    fn copy_into_scores(&mut self, rows: &[ScoreRow]) -> Result<(), postgres::Error> {
        self.savepoints_left -= 1;
        let mut copy = self.conn.tx()?.savepoint("direct_copy")?;
        copy_rows_into_scores(&mut copy, rows, self.file_id)?;
        copy.commit()
    }

    /// Stage rows by binary COPY, move them into `scores` in one INSERT,
    /// then redo alone, in file order, each row the live-row index refused.
    fn stage_and_move(
        &mut self,
        rows: Vec<ScoreRow>,
        settle: &mut dyn FnMut(Settled, Fate),
    ) -> Result<(), StoreError> {
        self.conn.tx()?.batch_execute(sql::CLEAR_STAGING)?;
        let sink = self.conn.tx()?.copy_in(sql::COPY_STAGING)?;
        // `n`, each row's place in the batch, where the file's id goes in
        // `scores`: the move inserts in that order.
        write_rows(sink, &rows, |n| n as i64)?;
        let before: i64 = self.conn.tx()?.query_one(sql::SCORE_ID_FLOOR, &[])?.get(0);
        let moved = self
            .conn
            .tx()?
            .execute(sql::MOVE_STAGED, &[&self.file_id])?;
        let all_written = moved as usize == rows.len();
        // When some were left out: which rows were written, by (scorer,
        // line, key), counted. Rows of one line (a JSON array on one line)
        // may repeat a key, and then the first in file order is the one
        // written. (Sending every row back from the move would cost the
        // usual case, where all are written.)
        let mut written: HashMap<(i64, i64, String), usize> = HashMap::new();
        if !all_written {
            for row in self
                .conn
                .tx()?
                .query(sql::MOVED_ROWS, &[&self.file_id, &before])?
            {
                *written
                    .entry((row.get(0), row.get(1), row.get(2)))
                    .or_default() += 1;
            }
        }
        if all_written {
            for row in &rows {
                settle(row.settled(), Fate::Written);
            }
            return Ok(());
        }
        for row in &rows {
            let fate = match written.get_mut(&(row.scorer_id, row.line as i64, row.key.clone())) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    Fate::Written
                }
                _ => self
                    .insert_score(row, &[])?
                    .map_or(Fate::Ignored, |(_, fate)| fate),
            };
            settle(row.settled(), fate);
        }
        Ok(())
    }
}

impl<'c> PgStore<'_, '_, '_, 'c> {
    /// How many scalar rows the next batch holds, by the way it will go.
    fn batch_rows(&self) -> usize {
        match (self.copy_direct, self.savepoints_left) {
            (true, 0) => LENT_ROWS,
            (true, _) => FIRST_DIRECT_ROWS,
            (false, _) => STAGED_ROWS,
        }
    }

    /// Insert one row on its own; on a (scorer, key) that is live already,
    /// do what the conflict policy says. Returns the new row's id and how
    /// it was written; `None` when `--ignore` kept the live row.
    fn insert_score(
        &mut self,
        row: &ScoreRow,
        components: &[(String, Option<f64>)],
    ) -> Result<Option<(i64, Fate)>, StoreError> {
        // The live row found may be superseded by another machine before
        // it is locked: then the insert is tried again.
        for _ in 0..RETRIES {
            if let Some(id) = self.try_insert(row)? {
                return Ok(Some((id, Fate::Written)));
            }
            let Some(live) = self
                .conn
                .tx()?
                .query_opt(sql::LIVE_SCORE_WITH_SOURCE, &[&row.scorer_id, &row.key])?
            else {
                continue;
            };
            let (live_id, live_file, live_line): (i64, i64, i64) =
                (live.get(0), live.get(1), live.get(2));
            let same_file = live_file == self.file_id;
            match duplicate_action(self.on_conflict, same_file) {
                DuplicateAction::Refuse => {}
                DuplicateAction::Ignore => return Ok(None),
                DuplicateAction::Supersede => {
                    let identical = self.holds_the_same(live_id, row, components)?;
                    self.conn.tx()?.execute(
                        sql::SUPERSEDE_SCORE,
                        &[&live_id, &self.ingested_at, &self.file_id],
                    )?;
                    let id = self.try_insert(row)?.ok_or_else(|| {
                        StoreError::Conflict(format!(
                            "line {}: the live row of '{}' changed while it was replaced",
                            row.line, row.key
                        ))
                    })?;
                    return Ok(Some((id, Fate::Replaced { identical })));
                }
            }
            return Err(StoreError::Duplicate {
                row: Box::new(row.clone()),
                live: LiveOrigin {
                    path: if same_file {
                        self.path.to_string()
                    } else {
                        live.get(3)
                    },
                    line: live_line as u64,
                    ingested_at: Some(live.get(4)),
                    same_file,
                    raw_key: Some(live.get(5)),
                },
            });
        }
        Err(StoreError::Conflict(format!(
            "line {}: the live row of '{}' kept changing under other ingests",
            row.line, row.key
        )))
    }

    /// The row's id, or `None` when a row of its (scorer, key) is live.
    fn try_insert(&mut self, row: &ScoreRow) -> Result<Option<i64>, StoreError> {
        let numbers = RowNumbers::of(row);
        let mut params = numbers.params(row, &self.file_id).to_vec();
        params.push(&row.stored.raw_value);
        Ok(self
            .conn
            .tx()?
            .query_opt(sql::INSERT_SCORE, &params)?
            .map(|r| r.get(0)))
    }

    /// Whether live row `live_id` holds what `row` and its `components`
    /// would: the same value (bit for bit), status, reason and components.
    fn holds_the_same(
        &mut self,
        live_id: i64,
        row: &ScoreRow,
        components: &[(String, Option<f64>)],
    ) -> Result<bool, StoreError> {
        let live = self.conn.tx()?.query_one(sql::SCORE_CONTENT, &[&live_id])?;
        let (score, status, reason): (Option<f64>, String, Option<String>) =
            (live.get(0), live.get(1), live.get(2));
        let same_value = score.map(f64::to_bits) == row.stored.score.map(f64::to_bits);
        if !same_value || status != row.stored.status || reason != row.stored.reason {
            return Ok(false);
        }
        let live: Vec<(String, Option<f64>)> = self
            .conn
            .tx()?
            .query(sql::SCORE_COMPONENTS, &[&live_id])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut new: Vec<&(String, Option<f64>)> = components.iter().collect();
        new.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(live.len() == new.len()
            && live
                .iter()
                .zip(new)
                .all(|(a, b)| a.0 == b.0 && a.1.map(f64::to_bits) == b.1.map(f64::to_bits)))
    }
}
