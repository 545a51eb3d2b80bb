//! The score registry: an embedded SQLite database, or, named by a
//! `postgresql://` URL, a PostgreSQL server ([`postgres`], in progress).
//!
//! Opening applies the migrations; `ingest` holds the ingest transaction,
//! [`memory`] the in-memory store of a one-shot `materialize`, and
//! [`queries`] what the registry can tell about itself.

pub mod copy;
pub mod corrections;
pub mod exports;
pub mod history;
mod ingest;
pub(crate) mod memory;
pub(crate) mod migrate;
pub mod points;
pub mod postgres;
pub mod probe;
pub mod queries;
mod same_bytes;
mod sql;

use std::cell::{Cell, RefCell, RefMut};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

pub use crate::ingest::rules::ConflictPolicy;
pub use crate::ingest::{
    FileOutcome, FileStatus, IngestFileError, IngestOptions, ScorerCounts, SourceSpec,
};
pub use migrate::SCHEMA_VERSION;
pub use points::{Point, PointRef, Tag};

/// Default registry file name, in the working directory.
pub const DEFAULT_REGISTRY: &str = "second-opinion.db";

/// How long a command waits for another process's write transaction (an
/// ingest of a large file can hold the lock for minutes) before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(600);

/// The page cache, as SQLite's negative KiB: an ingest of millions of rows
/// writes index pages over and over, and with SQLite's 2 MiB default they
/// are spilled to the WAL mid-transaction and written again (a tenth of the
/// W4 ingest). 64 MiB holds the working set of a multi-million-row file.
const CACHE_KIB: i64 = -65536;

/// The page cache of a read sweeping the registry in key order (see
/// [`Registry::sweep_page_cache`]): room for the B-trees' upper levels and
/// the pages in use, as SQLite's negative KiB (32 pages of 64 KiB).
const SWEEP_CACHE_KIB: i64 = -2048;

/// Where [`Registry::read_snapshot`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    No,
    Snapshot,
    /// In a snapshot whose reads shrank the page cache.
    Swept,
    /// In a snapshot where some read wants the usual page cache: it stays.
    Kept,
}

/// The page size of new registries. A registry is millions of small rows
/// appended in bulk and read back in full by exports: 64 KiB pages mean a
/// sixteenth of the page writes, WAL frames and B-tree splits of SQLite's
/// 4 KiB default (W4 ingest: ~10% less CPU, less system time).
const PAGE_SIZE: i64 = 65536;

/// Whether opening may create the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file and its schema when missing (ingest).
    CreateIfMissing,
    /// Refuse a missing file (queries: an empty registry answers nothing).
    MustExist,
}

/// Failures of the registry itself, with its path.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "registry {path}: no such file (the first `ingest` creates it; to use another registry, \
         name it with --registry or SECOND_OPINION_REGISTRY)"
    )]
    Missing { path: PathBuf },
    #[error(
        "registry {path} has schema version {found}, but this second-opinion ({tool}) knows versions up to {known}: \
         upgrade second-opinion; the registry was not modified"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
        tool: &'static str,
    },
    #[error("registry {path}: {source}{}", disk_hint(path, source))]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("registry {path}: {message}")]
    NotFound { path: PathBuf, message: String },
    /// The file of a new registry could not be made or put in place.
    #[error("registry {path}: cannot create it: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A change the registry's rules refuse (a tag that exists, …); nothing
    /// was written.
    #[error("registry {path}: {message}")]
    Refused { path: PathBuf, message: String },
    /// The PostgreSQL server refused or failed (the path is the URL
    /// without its password).
    #[error("registry {path}: {}", postgres::describe(source))]
    Postgres {
        path: PathBuf,
        #[source]
        source: ::postgres::Error,
    },
    /// The file is not a registry this tool may use; it was not modified.
    #[error("registry {path}: {message}; the file was not modified")]
    NotARegistry { path: PathBuf, message: String },
    /// The connection settings of a PostgreSQL registry (its URL, service,
    /// environment, certificates) cannot be used: the user's to fix.
    #[error("registry {path}: {source}")]
    Settings {
        path: PathBuf,
        #[source]
        source: postgres::SettingsError,
    },
}

impl RegistryError {
    /// Usage mistakes (exit 2): connection settings that cannot be used,
    /// as opposed to a registry or server that fails (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, RegistryError::Settings { .. })
    }
}

/// What a write error of SQLite most likely means for the user: a full
/// disk says only "database or disk is full", or, in WAL mode, "disk I/O
/// error"; say so, and that nothing was changed (the transaction rolled
/// back).
fn disk_hint(path: &Path, source: &rusqlite::Error) -> String {
    let code = match source {
        rusqlite::Error::SqliteFailure(e, _) => e.code,
        _ => return String::new(),
    };
    let full = match code {
        rusqlite::ErrorCode::DiskFull => true,
        rusqlite::ErrorCode::SystemIoFailure => free_bytes(path).is_some_and(|free| free < 1 << 20),
        _ => return String::new(),
    };
    if full {
        " — the disk holding the registry is full: free space there and run the command again \
         (the registry was not changed)"
            .to_string()
    } else {
        " — check that the disk holding the registry is writable and healthy".to_string()
    }
}

/// Bytes free for this user on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = std::ffi::CString::new(folder.as_os_str().as_bytes()).ok()?;
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `name` is a NUL-terminated path and `stats` is written
        // by statvfs before it is read (only when it returns 0).
        let stats = unsafe {
            if libc::statvfs(name.as_ptr(), stats.as_mut_ptr()) != 0 {
                return None;
            }
            stats.assume_init()
        };
        #[allow(clippy::unnecessary_cast)]
        return Some(stats.f_bavail as u64 * stats.f_frsize as u64);
    }
    #[allow(unreachable_code)]
    None
}

/// An open registry, migrated to [`SCHEMA_VERSION`].
pub struct Registry {
    conn: Connection,
    path: PathBuf,
    /// The PostgreSQL server holding the registry, when `--registry` is a
    /// `postgresql://` URL: the ported methods hand their work to it, and
    /// `conn` is then an empty in-memory database, so a method not ported
    /// fails on its missing tables instead of reading an empty registry.
    pg: Option<Box<RefCell<postgres::PgBackend>>>,
    /// Whether a read snapshot begun by [`Registry::read_snapshot`] is open,
    /// and whether a read in it shrank the page cache (set back at its end).
    reading: Cell<Reading>,
}

impl Registry {
    /// Open (and, with [`OpenMode::CreateIfMissing`], create) the registry at
    /// `path`, then apply pending migrations. A registry whose schema is newer
    /// than this binary is refused before anything is written to it.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Registry, RegistryError> {
        if postgres::is_postgres_url(path) {
            let url = path.to_str().expect("a URL is UTF-8");
            let backend = postgres::PgBackend::open(url, mode)?;
            let path = backend.shown().to_path_buf();
            let conn = Connection::open_in_memory().map_err(|source| RegistryError::Sqlite {
                path: path.clone(),
                source,
            })?;
            return Ok(Registry {
                conn,
                path,
                pg: Some(Box::new(RefCell::new(backend))),
                reading: Cell::new(Reading::No),
            });
        }
        let sqlite = |source| RegistryError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        match mode {
            OpenMode::CreateIfMissing if !path.exists() => {
                create_atomically(path)?;
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            OpenMode::CreateIfMissing => flags |= OpenFlags::SQLITE_OPEN_CREATE,
            OpenMode::MustExist if !path.exists() => {
                return Err(RegistryError::Missing {
                    path: path.to_path_buf(),
                })
            }
            OpenMode::MustExist => {}
        }
        let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // Only a new, empty database takes it (before WAL is on); an
        // existing registry keeps the page size it was created with.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(sqlite)?;
        // The version and the tables are read in one snapshot: another
        // process creating this registry may commit its schema in between
        // two separate reads (tables, but version 0 as first read).
        conn.execute_batch(sql::BEGIN_READ).map_err(sqlite)?;
        let checked = migrate::user_version(&conn)
            .map_err(Refusal::Sqlite)
            .and_then(|found| check_is_registry(&conn, found, mode).map(|()| found));
        let ended = conn.execute_batch(sql::COMMIT);
        let found = checked.map_err(|e| match e {
            Refusal::Sqlite(source) => sqlite(source),
            Refusal::Not(message) => RegistryError::NotARegistry {
                path: path.to_path_buf(),
                message,
            },
        })?;
        ended.map_err(sqlite)?;
        if found > SCHEMA_VERSION {
            return Err(RegistryError::TooNew {
                path: path.to_path_buf(),
                found,
                known: SCHEMA_VERSION,
                tool: crate::TOOL_VERSION,
            });
        }
        // WAL lets readers and one writer work at once, so several ingests
        // (scorers finishing together) queue on the lock instead of failing.
        retry_while_busy(|| {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        })
        .map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sqlite)?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)
            .map_err(sqlite)?;
        migrate::migrate_to(&mut conn, SCHEMA_VERSION).map_err(sqlite)?;
        Ok(Registry {
            conn,
            path: path.to_path_buf(),
            pg: None,
            reading: Cell::new(Reading::No),
        })
    }

    /// A registry that lives in memory only (`materialize` without
    /// `--registry`): same schema and rules, nothing kept.
    pub fn open_in_memory() -> Result<Registry, RegistryError> {
        let path = PathBuf::from(":memory:");
        let sqlite = |source| RegistryError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open_in_memory().map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sqlite)?;
        migrate::migrate_to(&mut conn, SCHEMA_VERSION).map_err(sqlite)?;
        Ok(Registry {
            conn,
            path,
            pg: None,
            reading: Cell::new(Reading::No),
        })
    }

    /// Run `work` inside one write transaction: everything it ingests (each
    /// file then takes a savepoint) is committed together, or nothing is.
    pub fn in_one_transaction<T, E: From<RegistryError>>(
        &mut self,
        work: impl FnOnce(&mut Registry) -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(pg) = &self.pg {
            // Each file's ingest takes a savepoint of this transaction and
            // its point as it ends; the clock stays locked to the commit.
            pg.borrow_mut().begin_outer().map_err(E::from)?;
            let result = work(self);
            let pg = self.pg.as_ref().expect("a PostgreSQL registry");
            return match result {
                Ok(value) => pg
                    .borrow_mut()
                    .end_outer(true)
                    .map(|()| value)
                    .map_err(E::from),
                Err(error) => {
                    // The error being reported matters more than a failed
                    // rollback, which the server completes as the
                    // connection closes anyway.
                    let _ = pg.borrow_mut().end_outer(false);
                    Err(error)
                }
            };
        }
        // The files ingested inside run without per-row reference checks
        // (see `sql::FOREIGN_KEYS_OFF`); that can only change outside a
        // transaction.
        self.conn
            .execute_batch(sql::FOREIGN_KEYS_OFF)
            .and_then(|()| self.conn.execute_batch(sql::BEGIN_WRITE))
            .map_err(|e| E::from(self.sqlite_error(e)))?;
        // Through the commit, which syncs the log of every file inside.
        let _writeback = self.early_writeback();
        let result = match work(self) {
            Ok(value) => self
                .conn
                .execute_batch(sql::COMMIT)
                .map(|()| value)
                .map_err(|e| E::from(self.sqlite_error(e))),
            Err(error) => {
                // The error being reported matters more than a failed rollback,
                // which SQLite completes when the connection closes anyway.
                let _ = self.conn.execute_batch(sql::ROLLBACK);
                Err(error)
            }
        };
        let on = self.conn.execute_batch(sql::FOREIGN_KEYS_ON);
        let value = result?;
        on.map_err(|e| E::from(self.sqlite_error(e)))?;
        Ok(value)
    }

    /// Run `work`'s reads against one snapshot of the registry, so an ingest
    /// committing meanwhile cannot mix two states into one export.
    pub fn read_snapshot<T, E: From<RegistryError>>(
        &self,
        work: impl FnOnce(&Registry) -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(pg) = &self.pg {
            let began = pg.borrow_mut().begin_snapshot().map_err(E::from)?;
            let result = work(self);
            if began {
                let ended = pg.borrow_mut().end_snapshot();
                let value = result?;
                ended.map_err(E::from)?;
                return Ok(value);
            }
            return result;
        }
        if !self.conn.is_autocommit() {
            return work(self);
        }
        self.conn
            .execute_batch(sql::BEGIN_READ)
            .map_err(|e| E::from(self.sqlite_error(e)))?;
        self.reading.set(Reading::Snapshot);
        let result = work(self);
        let swept = matches!(
            self.reading.replace(Reading::No),
            Reading::Swept | Reading::Kept
        );
        let end = if result.is_ok() {
            sql::COMMIT
        } else {
            sql::ROLLBACK
        };
        let ended = self.conn.execute_batch(end);
        let restored = match swept {
            true => self.conn.pragma_update(None, "cache_size", CACHE_KIB),
            false => Ok(()),
        };
        let value = result?;
        ended.map_err(|e| E::from(self.sqlite_error(e)))?;
        restored.map_err(|e| E::from(self.sqlite_error(e)))?;
        Ok(value)
    }

    /// Shrink SQLite's page cache for the rest of this read snapshot, for
    /// reads that sweep the registry in key order (an export probing a
    /// table sorted by key): they never come back to a page they left, so
    /// a large cache only costs the memory it fills (64 MiB of fresh pages,
    /// a tenth of growth-export's time). Outside a snapshot begun by
    /// [`Registry::read_snapshot`] (an ingest's transaction), after a read
    /// of the snapshot kept the cache ([`Registry::keep_page_cache`]), and on
    /// PostgreSQL, it does nothing. Answers whether the cache was shrunk.
    pub fn sweep_page_cache(&self) -> Result<bool, RegistryError> {
        if matches!(self.reading.get(), Reading::No | Reading::Kept) || self.pg.is_some() {
            return Ok(false);
        }
        self.conn
            .pragma_update(None, "cache_size", SWEEP_CACHE_KIB)
            .map_err(|e| self.sqlite_error(e))?;
        self.reading.set(Reading::Swept);
        Ok(true)
    }

    /// Keep the page cache at its usual size for the rest of this read
    /// snapshot, giving it back if a sweep shrank it: for reads that come
    /// back to pages, which a cache keeps (lookups that left key order, a
    /// score's frames or components, found by its row id). A later sweep in
    /// the same snapshot is refused.
    pub fn keep_page_cache(&self) -> Result<(), RegistryError> {
        if self.pg.is_some() {
            return Ok(());
        }
        if self.reading.get() != Reading::No {
            self.reading.set(Reading::Kept);
        }
        self.conn
            .pragma_update(None, "cache_size", CACHE_KIB)
            .map_err(|e| self.sqlite_error(e))
    }

    /// The registry's path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PostgreSQL backend, when the registry is on a server.
    pub(crate) fn pg(&self) -> Option<RefMut<'_, postgres::PgBackend>> {
        self.pg.as_ref().map(|pg| pg.borrow_mut())
    }

    /// Whether the registry is on a PostgreSQL server.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The underlying connection, for queries this crate does not wrap.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn sqlite_error(&self, source: rusqlite::Error) -> RegistryError {
        RegistryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// Create a new registry at `path` whole or not at all: its schema is
/// written into a temporary file beside it, which is renamed into place
/// only when complete, so a full disk or a killed first ingest leaves no
/// empty or half-made registry (a killed run's temporary is removed by a
/// later export to that folder). When another process created the
/// registry meanwhile, theirs is kept.
fn create_atomically(path: &Path) -> Result<(), RegistryError> {
    let failed = |source| RegistryError::Create {
        path: path.to_path_buf(),
        source,
    };
    let staged = crate::atomic_file::Staged::begin(path).map_err(failed)?;
    {
        let sqlite = |source| RegistryError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open_with_flags(
            staged.temporary_path(),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(sqlite)?;
        migrate::migrate_to(&mut conn, SCHEMA_VERSION).map_err(sqlite)?;
        conn.close().map_err(|(_, e)| sqlite(e))?;
    }
    staged.publish_if_absent().map_err(failed)?;
    Ok(())
}

/// Why [`check_is_registry`] refused.
enum Refusal {
    Sqlite(rusqlite::Error),
    Not(String),
}

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Self {
        Refusal::Sqlite(e)
    }
}

/// Decide, before anything is written, whether the database opened on
/// `conn` (whose `user_version` is `found`) may be used as a registry: a
/// registry has a positive version; version 0 is a new, empty database,
/// which only a command that may create a registry takes. A database of
/// something else, a registry whose version was reset, and a negative
/// version are refused with what was found, so no command writes a schema
/// into a file that is not one.
fn check_is_registry(conn: &Connection, found: i64, mode: OpenMode) -> Result<(), Refusal> {
    if found < 0 {
        return Err(Refusal::Not(format!(
            "schema version {found} is not one second-opinion writes (versions are 1 to {SCHEMA_VERSION})"
        )));
    }
    if found > 0 {
        return Ok(());
    }
    let tables: Vec<String> = conn
        .prepare(sql::USER_TABLES)?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if tables.iter().any(|t| t == "scores" || t == "source_files") {
        return Err(Refusal::Not(format!(
            "it holds registry tables but reports schema version 0 (PRAGMA user_version was reset); \
             set it back to the version it was written with ({SCHEMA_VERSION} for this second-opinion) \
             before using it"
        )));
    }
    if !tables.is_empty() {
        let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
        return Err(Refusal::Not(format!(
            "an SQLite database of something else (tables {}{}), not a second-opinion registry",
            shown.join(", "),
            if tables.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        )));
    }
    match mode {
        OpenMode::CreateIfMissing => Ok(()),
        OpenMode::MustExist => Err(Refusal::Not(
            "an empty file, not a registry yet (ingest a score file into it first)".to_string(),
        )),
    }
}

/// Switching the journal mode takes an exclusive lock and does not go
/// through SQLite's busy handler, so wait for it here.
fn retry_while_busy<T>(mut attempt: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = Instant::now();
    loop {
        match attempt() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The current time as stored in the registry: RFC 3339, UTC, milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
