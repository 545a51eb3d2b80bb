//! The ingest transaction: one score file into the SQLite registry, all of
//! its rows or none. The rules of what a row becomes are the pipeline's
//! ([`crate::ingest::pipeline`]); this file opens the transaction, hashes
//! the file, runs it through the pipeline from a reading thread
//! ([`crate::ingest::read_on_thread`]), keeps the rows in SQLite
//! ([`SqliteStore`], 64 to an INSERT), and decides what the file's outcome
//! is (suspicious output under `--strict`, already ingested, nothing new).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;

use rusqlite::{params, Connection, OptionalExtension, Statement, ToSql};

use super::points::{begin_change, stamp_change};
use super::same_bytes::other_ingests;
use super::{now_rfc3339, sql, Registry};
use crate::digest::{sha256_file, HashingRead, ScoreSum};
use crate::ingest::pipeline::{
    Fate, FileIngest, PipelineError, RowDetail, ScoreRow, ScoreStore, Settled, StoreError,
    StoreScorer,
};
use crate::ingest::rules::{
    check_declared_direction, check_declared_scale, duplicate_action, new_scorer_defaults,
    ConflictPolicy, Declared, DuplicateAction, LiveOrigin,
};
use crate::ingest::{
    read_on_thread, FileOutcome, FileStatus, IngestFileError, IngestOptions, SourceSpec,
};
use crate::progress::{Progress, ProgressRead};
use crate::scorer::Scale;
use crate::writeback::{EarlyWriteback, Target};

impl Registry {
    /// Ingest one score file in one transaction; `progress` hears of the
    /// bytes read.
    pub fn ingest_file(
        &mut self,
        source: &SourceSpec,
        options: &IngestOptions,
        progress: &dyn Progress,
    ) -> Result<FileOutcome, IngestFileError> {
        if let Some(mut pg) = self.pg() {
            return pg.ingest_file(source, options, progress);
        }
        let mut prepared = options.prepare_file(source)?;
        let (path, size_bytes, format) =
            (prepared.path.clone(), prepared.size_bytes, prepared.format);
        let io = |source| IngestFileError::Io {
            path: path.clone(),
            source,
        };
        let sqlite = |source: rusqlite::Error| IngestFileError::Store {
            path: path.clone(),
            source: Box::new(source),
        };

        let tx = FileTransaction::begin(&self.conn).map_err(sqlite)?;
        // Until after the commit, which syncs the log; a file inside a
        // larger transaction is covered by that transaction's own.
        let _writeback = if tx.nested {
            None
        } else {
            self.early_writeback()
        };
        // The file's id is its point in time.
        let file_id = begin_change(&tx, "ingest", None).map_err(sqlite)?;
        let ingested_at = now_rfc3339();
        // Whether these bytes were ingested before decides, row by row, what
        // happens to them, so then the hash must come first. Identical bytes
        // have the same size: when no file of this size was ingested, the
        // hash is taken from the bytes as they are parsed instead (one read
        // of the file, not two). The write lock is held, so no other ingest
        // can add such a file meanwhile.
        let hashed_first = if same_size_ingested(&tx, size_bytes).map_err(sqlite)? {
            Some(sha256_file(&source.path).map_err(io)?)
        } else {
            None
        };
        let identity_value = options.identity(source, format);
        let identity = identity_value.to_string();
        let replace = options.on_conflict == ConflictPolicy::Replace;
        let mut notes = Vec::new();
        // Earlier ingests of these bytes with other options whose scorers
        // are known only once this file's rows are read.
        let mut check_after_read = Vec::new();
        let earlier_ingests = match &hashed_first {
            Some(sha256) => {
                let earlier =
                    earlier_ingests_of(&tx, sha256, &identity, !replace).map_err(sqlite)?;
                if earlier.is_empty() {
                    for other in other_ingests(&tx, sha256, &identity).map_err(sqlite)? {
                        if !other.names_scorers_like(&identity_value) {
                            check_after_read.push(other);
                        } else if replace {
                            let superseded = other.supersede(&tx, file_id, None).map_err(sqlite)?;
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
                earlier
            }
            None => HashMap::new(),
        };
        tx.execute(
            sql::INSERT_SOURCE_FILE,
            params![
                file_id,
                path,
                prepared.absolute_path,
                hashed_first.as_deref().unwrap_or_default(),
                size_bytes as i64,
                format.name(),
                source.label,
                ingested_at,
                crate::TOOL_VERSION,
                options.scorer_version,
                identity
            ],
        )
        .map_err(sqlite)?;

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
        let mut store = SqliteStore {
            tx: &tx,
            path: &path,
            file_id,
            ingested_at: &ingested_at,
            earlier_ingests: &earlier_ingests,
            on_conflict: options.on_conflict,
            pending: Vec::with_capacity(sql::SCORE_BATCH),
            batch_insert: None,
            row_insert: sql::insert_scores(1),
            raw_key_prefixes: HashMap::new(),
            live_sums: Vec::new(),
            batches_summed: SummedBeside::start(),
            superseded_own_row: std::cell::Cell::new(false),
        };
        let read_options = options.read_options(source);
        let read = read_on_thread(
            format,
            input,
            &read_options,
            &mut store,
            |store| FileIngest::new(store, &path, source, options, format),
            |input, read| {
                // Hash what the reader left unread too (a trailer).
                match read.and_then(|()| Ok(input.into_inner().finish()?)) {
                    Ok(digest) => (Ok(()), digest),
                    Err(e) => (Err(e), None),
                }
            },
        )
        .and_then(|(result, hashed_while_read)| {
            if let Some((sha256, bytes)) = hashed_while_read {
                tx.execute(sql::SET_FILE_SHA256, params![file_id, sha256, bytes as i64])
                    .map_err(|e| PipelineError::File(sqlite(e)))?;
            }
            Ok(result)
        });
        // The store borrows the transaction, which ends below.
        drop(store);
        let result = read.map_err(|e| e.into_file_error(&path))?;
        let written: Vec<(i64, String)> = result
            .scorers
            .iter()
            .map(|s| (s.entry.id, s.entry.registered_name.clone()))
            .collect();
        for other in &check_after_read {
            let earlier_scorers = other.scorer_ids(&tx).map_err(sqlite)?;
            let shared: Vec<&(i64, String)> = written
                .iter()
                .filter(|(id, _)| earlier_scorers.contains(id))
                .collect();
            if shared.is_empty() {
                continue;
            }
            if !replace {
                let names: Vec<String> = shared.iter().map(|(_, name)| name.clone()).collect();
                return Err(IngestFileError::Conflict {
                    path: path.clone(),
                    message: other.refusal(&identity_value, Some(&names)),
                });
            }
            for (id, _) in shared {
                let superseded = other.supersede(&tx, file_id, Some(*id)).map_err(sqlite)?;
                notes.push(format!(
                    "superseded {superseded} live rows of the earlier ingest of these bytes"
                ));
            }
        }
        let (sha256, size_bytes) = match hashed_first {
            Some(sha256) => (sha256, size_bytes),
            None => tx
                .query_row(sql::FILE_SHA256_AND_SIZE, [file_id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
                })
                .map_err(sqlite)?,
        };
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
            tx.execute(sql::SET_FILE_WARNINGS, params![file_id, text])
                .map_err(sqlite)?;
        }

        let status = if result.rows_written() > 0 {
            if options.dry_run {
                tx.rollback().map_err(sqlite)?;
            } else {
                super::probe::refresh_unknown_digest_sums(&tx).map_err(sqlite)?;
                stamp_change(&tx, file_id).map_err(sqlite)?;
                tx.commit().map_err(sqlite)?;
            }
            FileStatus::Ingested
        } else {
            // Nothing new: leave no trace of this attempt.
            tx.rollback().map_err(sqlite)?;
            let all_skipped = result.scorers.iter().all(|s| s.counts.ignored == 0);
            match earlier_ingests.values().min() {
                Some(at) if all_skipped => FileStatus::AlreadyIngested { at: at.clone() },
                _ => FileStatus::NothingNew,
            }
        };
        prepared.size_bytes = size_bytes;
        Ok(prepared.outcome(source, options, sha256, status, notes, result))
    }
}

impl Registry {
    /// Early write-back of this registry's files while a write transaction
    /// fills them ([`EarlyWriteback`]): the write-ahead log, which SQLite
    /// locks nothing on, opened beside it; the database file, which SQLite
    /// locks with POSIX locks (lost by the whole process when it closes
    /// any descriptor of the file), only through SQLite's own descriptor.
    /// None for a registry in memory.
    pub(crate) fn early_writeback(&self) -> Option<EarlyWriteback> {
        let database = self.conn.path().filter(|path| !path.is_empty())?;
        Some(EarlyWriteback::start(vec![
            Target::Open(format!("{database}-wal").into()),
            Target::Held(database.into()),
        ]))
    }
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

/// Slug → first time these bytes were ingested for that scorer.
fn earlier_ingests_of(
    tx: &Connection,
    sha256: &str,
    identity: &str,
    include_unrecorded: bool,
) -> rusqlite::Result<HashMap<String, String>> {
    let mut stmt = tx.prepare(sql::SCORERS_INGESTED_FROM_SHA256)?;
    let rows = stmt.query_map(params![sha256, identity, include_unrecorded], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    rows.collect()
}

/// The SQLite registry as the pipeline's store, inside one file's
/// transaction. Scalar rows are held back and written 64 to an INSERT;
/// rows with components or frames are written at once (they need the new
/// row's id).
struct SqliteStore<'a> {
    tx: &'a Connection,
    path: &'a str,
    file_id: i64,
    ingested_at: &'a str,
    /// Slug → first time these bytes were ingested for that scorer.
    earlier_ingests: &'a HashMap<String, String>,
    on_conflict: ConflictPolicy,
    /// Scalar rows not yet written: at most [`sql::SCORE_BATCH`].
    pending: Vec<ScoreRow>,
    /// The INSERT of a full batch, prepared once for the whole file (a
    /// cached statement would clear its 832 bindings and hash its text on
    /// every return to the cache), and the INSERT of one row.
    batch_insert: Option<Statement<'a>>,
    row_insert: String,
    /// The directories of raw keys seen in this file, by their id in
    /// `raw_key_prefixes`.
    raw_key_prefixes: HashMap<String, i64>,
    /// Per scorer id, the digest sum of the rows this file made live
    /// (`live_row_counts.digest_sum`), kept as rows are written alone;
    /// the rows written in batches are summed beside.
    live_sums: Vec<(i64, ScoreSum)>,
    batches_summed: SummedBeside,
    /// A row of this file superseded another of its own (`--replace`):
    /// the sums above no longer hold, and the file's are left unknown.
    superseded_own_row: std::cell::Cell<bool>,
}

/// The sum of `scorer_id` in `sums`, added at zero if missing.
fn live_sum_of(sums: &mut Vec<(i64, ScoreSum)>, scorer_id: i64) -> &mut ScoreSum {
    match sums.iter().position(|(id, _)| *id == scorer_id) {
        Some(at) => &mut sums[at].1,
        None => {
            sums.push((scorer_id, ScoreSum::default()));
            &mut sums.last_mut().expect("pushed").1
        }
    }
}

/// Batches of rows the SQLite store has written, summed into their
/// scorers' digests and freed on a thread of their own. The SQLite
/// thread is an ingest's critical path (the reader runs ahead of it), and
/// a row's sha256 and its strings' frees were a tenth of its own work.
#[derive(Default)]
struct SummedBeside {
    rows: Option<std::sync::mpsc::SyncSender<Vec<WrittenRows>>>,
    /// Batches not yet handed over: a hand-over wakes the summing thread,
    /// and one per batch of 64 rows cost more than the sums.
    held: Vec<WrittenRows>,
    sums: Option<std::thread::JoinHandle<Vec<(i64, ScoreSum)>>>,
}

/// Rows written by one statement, and whether each is now live.
type WrittenRows = (Vec<ScoreRow>, Vec<bool>);

impl SummedBeside {
    /// Batches handed over at once.
    const HAND_OVER: usize = 64;
    /// Hand-overs the summing thread may be behind by.
    const QUEUE: usize = 4;

    fn start() -> SummedBeside {
        let (rows, handed) = std::sync::mpsc::sync_channel::<Vec<WrittenRows>>(Self::QUEUE);
        let sums = std::thread::spawn(move || {
            let mut sums = Vec::new();
            for (rows, live) in handed.into_iter().flatten() {
                for (row, live) in rows.iter().zip(live) {
                    if live {
                        live_sum_of(&mut sums, row.scorer_id).add(
                            &row.key,
                            row.stored.score,
                            row.stored.is_bad(),
                        );
                    }
                }
            }
            sums
        });
        SummedBeside {
            rows: Some(rows),
            held: Vec::with_capacity(Self::HAND_OVER),
            sums: Some(sums),
        }
    }

    /// Take written `rows`; `live[i]` says whether row i is now live.
    fn send(&mut self, rows: Vec<ScoreRow>, live: Vec<bool>) {
        assert!(
            self.rows.is_some(),
            "rows written after their file's sums were taken"
        );
        self.held.push((rows, live));
        if self.held.len() == Self::HAND_OVER {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        let held = std::mem::replace(&mut self.held, Vec::with_capacity(Self::HAND_OVER));
        let rows_channel = self.rows.as_ref().expect("handing over until finished");
        // The thread ends only when the channel closes, or by a panic,
        // which `finish` raises.
        let _ = rows_channel.send(held);
    }

    /// The sums per scorer id of every live row handed over.
    fn finish(mut self) -> Vec<(i64, ScoreSum)> {
        if !self.held.is_empty() {
            self.hand_over();
        }
        drop(self.rows.take());
        self.sums
            .take()
            .map(|sums| {
                sums.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .unwrap_or_default()
    }
}

/// The most directories one file adds to `raw_key_prefixes`: a file whose
/// every row lies in a directory of its own gains nothing by naming them,
/// so past this many its rows keep their raw keys whole.
const MAX_NEW_RAW_KEY_PREFIXES: usize = 4096;

impl ScoreStore for SqliteStore<'_> {
    fn scorer(
        &mut self,
        name: &str,
        slug: &str,
        declared: &Declared,
    ) -> Result<StoreScorer, StoreError> {
        let existing = self
            .tx
            .prepare_cached(sql::SCORER_BY_SLUG)?
            .query_row([slug], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<f64>>(2)?
                        .zip(row.get::<_, Option<f64>>(3)?)
                        .map(|(min, max)| Scale { min, max }),
                    row.get::<_, Option<bool>>(4)?,
                    row.get::<_, Option<f64>>(5)?
                        .zip(row.get::<_, Option<f64>>(6)?)
                        .map(|(min, max)| Scale { min, max }),
                ))
            })
            .optional()?;
        let (id, registered_name, scale, direction, typical) = match existing {
            Some(registered) => registered,
            None => {
                let defaults = new_scorer_defaults(name, declared).map_err(StoreError::Conflict)?;
                self.tx
                    .execute(sql::INSERT_SCORER, params![name, slug, self.ingested_at])?;
                let id = self.tx.last_insert_rowid();
                self.tx.execute(
                    sql::SET_SCORER_KNOWN_DEFAULTS,
                    params![
                        id,
                        defaults.scale.map(|s| s.min),
                        defaults.scale.map(|s| s.max),
                        defaults.typical.map(|s| s.min),
                        defaults.typical.map(|s| s.max),
                        defaults.higher_is_better
                    ],
                )?;
                (
                    id,
                    name.to_string(),
                    defaults.scale,
                    defaults.higher_is_better,
                    defaults.typical,
                )
            }
        };
        check_declared_scale(&registered_name, scale, declared).map_err(StoreError::Conflict)?;
        let scale = match (scale, declared.scale) {
            (None, Some(declared)) => {
                self.tx.execute(
                    sql::SET_SCORER_SCALE,
                    params![id, declared.min, declared.max],
                )?;
                Some(declared)
            }
            (registered, _) => registered,
        };
        check_declared_direction(&registered_name, direction, declared)
            .map_err(StoreError::Conflict)?;
        if let (None, Some(higher)) = (direction, declared.higher_is_better) {
            self.tx
                .execute(sql::SET_SCORER_DIRECTION, params![id, higher])?;
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
        // A row keeping the number its file wrote outside the scale is
        // written alone (the batches leave that column out).
        if detail.is_empty() && row.stored.raw_value.is_none() {
            self.pending.push(row);
            if self.pending.len() == sql::SCORE_BATCH {
                self.flush(settle)?;
            }
            return Ok(());
        }
        self.flush(settle)?;
        let prefix = self.raw_key_prefix(&row)?;
        let Some((score_id, fate)) = self.insert_score(&row, prefix, &detail.components)? else {
            settle(row.settled(), Fate::Ignored);
            return Ok(());
        };
        self.count_live(&row, fate);
        if !detail.components.is_empty() {
            let mut stmt = self.tx.prepare_cached(sql::INSERT_SCORE_COMPONENT)?;
            for (name, value) in &detail.components {
                stmt.execute(params![score_id, name, value])?;
            }
        }
        if !detail.frames.is_empty() {
            let mut stmt = self.tx.prepare_cached(sql::INSERT_FRAME_SCORE)?;
            for frame in &detail.frames {
                stmt.execute(params![
                    score_id,
                    frame.frame_index,
                    frame.value,
                    frame.runtime_ms
                ])?;
            }
        }
        settle(row.settled(), fate);
        Ok(())
    }

    /// One multi-row INSERT for a full batch, row by row for the rest and
    /// for a batch the live-row index refused (the refused statement
    /// changed nothing; row by row finds the conflicting row and applies
    /// the policy, in file order).
    fn flush(&mut self, settle: &mut dyn FnMut(Settled, Fate)) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let prefixes = rows
            .iter()
            .map(|row| self.raw_key_prefix(row))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let written = if rows.len() == sql::SCORE_BATCH {
            self.insert_batch(&rows, &prefixes)?
        } else {
            0
        };
        let all_written = written == rows.len();
        let mut live = Vec::with_capacity(rows.len());
        for (row, prefix) in rows.iter().zip(&prefixes) {
            let fate = if all_written || (written > 0 && self.is_live_here(row)?) {
                Fate::Written
            } else {
                self.insert_score(row, *prefix, &[])?
                    .map_or(Fate::Ignored, |(_, fate)| fate)
            };
            live.push(fate != Fate::Ignored);
            settle(row.settled(), fate);
        }
        self.pending = Vec::with_capacity(sql::SCORE_BATCH);
        self.batches_summed.send(rows, live);
        Ok(())
    }

    fn finish_file(&mut self, rows_per_scorer: &[(i64, u64, u64)]) -> Result<(), StoreError> {
        // Two names of one file can be one scorer (an alias merged into
        // the other): one count per scorer.
        let mut totals: Vec<(i64, u64, u64)> = Vec::with_capacity(rows_per_scorer.len());
        for &(scorer_id, rows, bad) in rows_per_scorer {
            match totals.iter_mut().find(|(id, _, _)| *id == scorer_id) {
                Some((_, total, total_bad)) => {
                    *total += rows;
                    *total_bad += bad;
                }
                None => totals.push((scorer_id, rows, bad)),
            }
        }
        let mut stmt = self.tx.prepare_cached(sql::INSERT_SOURCE_FILE_SCORER)?;
        for &(scorer_id, rows, _) in &totals {
            stmt.execute(params![self.file_id, scorer_id, rows as i64])?;
        }
        for (scorer_id, sum) in std::mem::take(&mut self.batches_summed).finish() {
            self.live_sum(scorer_id).add_sum(&sum);
        }
        let mut stmt = self.tx.prepare_cached(sql::COUNT_FILE_ROWS)?;
        for (scorer_id, rows, bad) in totals {
            let sum = (!self.superseded_own_row.get()).then(|| {
                self.live_sums
                    .iter()
                    .find(|(id, _)| *id == scorer_id)
                    .map_or_else(ScoreSum::default, |(_, sum)| *sum)
                    .to_bytes()
            });
            stmt.execute(params![
                self.file_id,
                scorer_id,
                (rows - bad) as i64,
                bad as i64,
                sum.as_ref().map(|bytes| &bytes[..])
            ])?;
        }
        Ok(())
    }
}

impl SqliteStore<'_> {
    /// Take a row written alone that is now live into its scorer's digest sum.
    fn count_live(&mut self, row: &ScoreRow, fate: Fate) {
        if fate == Fate::Ignored {
            return;
        }
        self.live_sum(row.scorer_id)
            .add(&row.key, row.stored.score, row.stored.is_bad());
    }

    /// The digest sum of the rows this file made live for `scorer_id`.
    fn live_sum(&mut self, scorer_id: i64) -> &mut ScoreSum {
        live_sum_of(&mut self.live_sums, scorer_id)
    }

    /// Insert one row on its own; on a (scorer, key) that is already live,
    /// do what the conflict policy says. Returns the new row's id and how
    /// it was written; `None` when `--ignore` kept the live row.
    fn insert_score(
        &self,
        row: &ScoreRow,
        raw_key_prefix: Option<i64>,
        components: &[(String, Option<f64>)],
    ) -> Result<Option<(i64, Fate)>, StoreError> {
        let raw_key = row.raw_key.as_ref().filter(|_| raw_key_prefix.is_none());
        let insert = || {
            let line = row.line as i64;
            let columns: [&dyn ToSql; sql::SCORE_PARAMS] = [
                &row.scorer_id,
                &row.key,
                &raw_key,
                &row.key_field,
                &row.stored.score,
                &row.stored.status,
                &row.stored.reason,
                &row.stored.note,
                &row.runtime_ms,
                &row.frame_count,
                &self.file_id,
                &line,
                &raw_key_prefix,
            ];
            match &row.stored.raw_value {
                None => self
                    .tx
                    .prepare_cached(&self.row_insert)?
                    .execute(&columns[..])?,
                Some(raw_value) => {
                    let mut with_raw = columns.to_vec();
                    with_raw.push(raw_value);
                    self.tx
                        .prepare_cached(sql::INSERT_SCORE_WITH_RAW_VALUE)?
                        .execute(&with_raw[..])?
                }
            };
            Ok::<_, rusqlite::Error>(self.tx.last_insert_rowid())
        };
        match insert() {
            Ok(id) => return Ok(Some((id, Fate::Written))),
            Err(e) if !is_unique_violation(&e) => return Err(e.into()),
            Err(_) => {}
        }
        // The live-row index refused it: find out whose row is live.
        let (live_id, live_file, live_line, live_path, live_at, live_raw_key) = self
            .tx
            .prepare_cached(sql::LIVE_SCORE_WITH_SOURCE)?
            .query_row(params![row.scorer_id, row.key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
        let same_file = live_file == self.file_id;
        match duplicate_action(self.on_conflict, same_file) {
            DuplicateAction::Refuse => {}
            DuplicateAction::Ignore => return Ok(None),
            DuplicateAction::Supersede => {
                if same_file {
                    self.superseded_own_row.set(true);
                }
                let identical = self.holds_the_same(live_id, row, components)?;
                self.tx
                    .prepare_cached(sql::SUPERSEDE_SCORE)?
                    .execute(params![live_id, self.ingested_at, self.file_id])?;
                return Ok(Some((insert()?, Fate::Replaced { identical })));
            }
        }
        Err(StoreError::Duplicate {
            row: Box::new(row.clone()),
            live: LiveOrigin {
                path: if same_file {
                    self.path.to_string()
                } else {
                    live_path
                },
                line: live_line as u64,
                ingested_at: Some(live_at),
                same_file,
                raw_key: Some(live_raw_key),
            },
        })
    }

    /// Whether live row `live_id` holds what `row` and its `components`
    /// would: the same value (bit for bit), status, reason and components.
    fn holds_the_same(
        &self,
        live_id: i64,
        row: &ScoreRow,
        components: &[(String, Option<f64>)],
    ) -> Result<bool, StoreError> {
        let (score, status, reason) =
            self.tx
                .prepare_cached(sql::SCORE_CONTENT)?
                .query_row([live_id], |r| {
                    Ok((
                        r.get::<_, Option<f64>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?;
        let same_value = score.map(f64::to_bits) == row.stored.score.map(f64::to_bits);
        if !same_value || status != row.stored.status || reason != row.stored.reason {
            return Ok(false);
        }
        let mut stmt = self.tx.prepare_cached(sql::SCORE_COMPONENTS)?;
        let live: Vec<(String, Option<f64>)> = stmt
            .query_map([live_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut new: Vec<&(String, Option<f64>)> = components.iter().collect();
        new.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(live.len() == new.len()
            && live
                .iter()
                .zip(new)
                .all(|(a, b)| a.0 == b.0 && a.1.map(f64::to_bits) == b.1.map(f64::to_bits)))
    }

    /// Whether the live row of `row`'s scorer and key is `row` itself: the
    /// batch INSERT wrote it rather than leaving it out.
    fn is_live_here(&self, row: &ScoreRow) -> Result<bool, StoreError> {
        let origin = self
            .tx
            .prepare_cached(sql::LIVE_SCORE_ORIGIN)?
            .query_row(params![row.scorer_id, row.key], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        Ok(origin == Some((self.file_id, row.line as i64)))
    }

    /// The id of the directory `row`'s raw key holds before its key (a
    /// path normalised to its basename), named in `raw_key_prefixes` on
    /// first sight; `None` when the raw key is stored whole.
    fn raw_key_prefix(&mut self, row: &ScoreRow) -> rusqlite::Result<Option<i64>> {
        let Some(prefix) = row
            .raw_key
            .as_deref()
            .and_then(|raw| raw.strip_suffix(row.key.as_str()))
            .filter(|prefix| !prefix.is_empty())
        else {
            return Ok(None);
        };
        if let Some(id) = self.raw_key_prefixes.get(prefix) {
            return Ok(Some(*id));
        }
        if self.raw_key_prefixes.len() >= MAX_NEW_RAW_KEY_PREFIXES {
            return Ok(None);
        }
        let known = self
            .tx
            .prepare_cached(sql::RAW_KEY_PREFIX_ID)?
            .query_row([prefix], |r| r.get(0))
            .optional()?;
        let id = match known {
            Some(id) => id,
            None => {
                self.tx
                    .prepare_cached(sql::INSERT_RAW_KEY_PREFIX)?
                    .execute([prefix])?;
                self.tx.last_insert_rowid()
            }
        };
        self.raw_key_prefixes.insert(prefix.to_string(), id);
        Ok(Some(id))
    }

    /// Write a full batch in one `INSERT OR IGNORE`; returns how many rows
    /// it wrote (the others were refused by a constraint). `prefixes` are
    /// the rows' raw-key directories ([`SqliteStore::raw_key_prefix`]).
    fn insert_batch(
        &mut self,
        rows: &[ScoreRow],
        prefixes: &[Option<i64>],
    ) -> rusqlite::Result<usize> {
        if self.batch_insert.is_none() {
            self.batch_insert = Some(self.tx.prepare(&sql::insert_scores(sql::SCORE_BATCH))?);
        }
        let stmt = self.batch_insert.as_mut().expect("prepared above");
        for (index, (row, prefix)) in rows.iter().zip(prefixes).enumerate() {
            let first = index * sql::SCORE_PARAMS + 1;
            stmt.raw_bind_parameter(first, row.scorer_id)?;
            stmt.raw_bind_parameter(first + 1, &row.key)?;
            stmt.raw_bind_parameter(first + 2, row.raw_key.as_ref().filter(|_| prefix.is_none()))?;
            stmt.raw_bind_parameter(first + 3, &row.key_field)?;
            stmt.raw_bind_parameter(first + 4, row.stored.score)?;
            stmt.raw_bind_parameter(first + 5, row.stored.status)?;
            stmt.raw_bind_parameter(first + 6, &row.stored.reason)?;
            stmt.raw_bind_parameter(first + 7, &row.stored.note)?;
            stmt.raw_bind_parameter(first + 8, row.runtime_ms)?;
            stmt.raw_bind_parameter(first + 9, row.frame_count)?;
            stmt.raw_bind_parameter(first + 10, self.file_id)?;
            stmt.raw_bind_parameter(first + 11, row.line as i64)?;
            stmt.raw_bind_parameter(first + 12, *prefix)?;
        }
        stmt.raw_execute()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::progress::NoProgress;
    use crate::registry::OpenMode;

    #[test]
    fn an_ingest_into_a_registry_file_writes_its_log_and_database_back_early() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("registry.db");
        let scores = dir.path().join("dover.jsonl");
        std::fs::write(
            &scores,
            "{\"clip_id\": \"a\", \"competitor\": \"DOVER\", \"score\": 1.5}\n",
        )
        .unwrap();
        let mut registry = Registry::open(&database, OpenMode::CreateIfMissing).unwrap();
        let source = SourceSpec::parse(scores.to_str().unwrap());
        registry
            .ingest_file(&source, &IngestOptions::default(), &NoProgress)
            .unwrap();
        let started = crate::writeback::STARTED.lock().unwrap().clone();
        let log = PathBuf::from(format!("{}-wal", registry.conn.path().unwrap()));
        assert!(started.contains(&log), "{started:?}");
        assert!(started.contains(&PathBuf::from(registry.conn.path().unwrap())));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_write_back_leaves_sqlite_its_locks_on_the_database_file() {
        use crate::writeback::process_holds_posix_lock;
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("registry.db");
        let registry = Registry::open(&database, OpenMode::CreateIfMissing).unwrap();
        // In WAL mode a connection keeps a shared lock on the database
        // file while it is open; closing another descriptor of the file
        // would drop it, and SQLite would not know.
        assert!(process_holds_posix_lock(&database));
        let writeback = registry.early_writeback().unwrap();
        assert!(
            crate::writeback::eventually(|| writeback.requests() >= 2),
            "never written back"
        );
        drop(writeback);
        assert!(
            process_holds_posix_lock(&database),
            "SQLite's lock was lost"
        );
    }

    #[test]
    fn one_transaction_of_many_files_writes_its_log_back_until_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("registry.db");
        let mut registry = Registry::open(&database, OpenMode::CreateIfMissing).unwrap();
        registry
            .in_one_transaction(|_| Ok::<_, crate::registry::RegistryError>(()))
            .unwrap();
        let log = PathBuf::from(format!("{}-wal", registry.conn.path().unwrap()));
        assert!(crate::writeback::STARTED.lock().unwrap().contains(&log));
    }

    #[test]
    fn a_registry_in_memory_has_no_files_to_write_back() {
        let registry = Registry::open_in_memory().unwrap();
        assert!(registry.early_writeback().is_none());
    }
}
