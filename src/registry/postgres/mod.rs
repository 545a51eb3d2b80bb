//! The registry on a PostgreSQL server (issue #17): a team's
//! machines each ingest into one registry, which SQLite over a network file
//! system cannot serve.
//!
//! [`PgBackend`] is what a [`Registry`](super::Registry) holds when its
//! location is a `postgresql://` URL; the registry's public methods hand
//! their reads and writes to it (ingest, export's reads and records, the
//! history questions of `exports`, `provenance`, the corrections, the
//! audit's families and runs, one transaction over many files for
//! `materialize --registry` and `batch --registry`), while their rules and
//! messages stay shared. Its schema is
//! `migrations/postgres/`, its queries [`sql`]; the rules of what a row
//! becomes stay the pipeline's, as for SQLite.

mod audit;
mod copier;
mod corrections;
mod ingest;
mod reads;
mod service;
mod settings;
mod sql;
mod tls;
mod write;

use std::path::{Path, PathBuf};

use postgres::Client;

pub use settings::{is_postgres_url, shown_url, SettingsError};
use write::Write;

use super::{OpenMode, RegistryError};

/// The schema versions of `migrations/postgres/`, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_registry",
        include_str!("../../../migrations/postgres/0001_registry.sql"),
    ),
    (
        2,
        "0002_corrections_and_audit",
        include_str!("../../../migrations/postgres/0002_corrections_and_audit.sql"),
    ),
    (
        3,
        "0003_copy_whole_registry",
        include_str!("../../../migrations/postgres/0003_copy_whole_registry.sql"),
    ),
    (
        4,
        "0004_source_file_brin",
        include_str!("../../../migrations/postgres/0004_source_file_brin.sql"),
    ),
    (
        5,
        "0005_file_id_bounds",
        include_str!("../../../migrations/postgres/0005_file_id_bounds.sql"),
    ),
];

/// The newest schema version this binary knows on PostgreSQL.
pub const PG_SCHEMA_VERSION: i64 = 5;

/// The advisory lock two first-time users of one database take around
/// migrating it, so one creates the schema and the other finds it made.
/// (Any constant; it only has to be this tool's own.)
const MIGRATION_LOCK: i64 = 0x2d6f_7069_6e69_6f6e;

/// What the server said: the client's own Display of a server error is
/// only "db error", so its message (and detail, hint) are spelled out.
pub fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; {hint}"));
            }
            text
        }
        // The server went away (killed, restarted, network): the client
        // may see only the closed socket, not the server's last word.
        None if error.is_closed() => "the connection to the PostgreSQL server was lost \
            (connection closed); nothing of the unfinished transaction was kept"
            .to_string(),
        None => {
            let text = match std::error::Error::source(error) {
                Some(cause) => format!("{error} ({cause})"),
                None => error.to_string(),
            };
            match tls::hint(&text) {
                Some(hint) => format!("{text} — {hint}"),
                None => text,
            }
        }
    }
}

/// A server error as an ingest reports it: what the server said (see
/// [`describe`]), the client's error kept as its source.
#[derive(Debug)]
pub(crate) struct ServerError(pub postgres::Error);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.0))
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An open PostgreSQL registry, migrated to [`PG_SCHEMA_VERSION`].
pub(crate) struct PgBackend {
    client: Client,
    /// The URL as shown: never with its password.
    shown: PathBuf,
    /// Inside [`PgBackend::begin_snapshot`]'s transaction.
    in_snapshot: bool,
    /// A correction's transaction is open: what to stamp with its point.
    correction: Option<corrections::PendingCorrection>,
    /// Inside [`PgBackend::begin_outer`]'s transaction: each write takes a
    /// savepoint of it instead of a transaction of its own.
    in_outer: bool,
}

impl PgBackend {
    /// Connect to the registry at `url` and bring its schema up to date.
    /// A schema newer than this binary is refused before anything is
    /// written; a database without one is refused unless `mode` may
    /// create the registry.
    pub(crate) fn open(url: &str, mode: OpenMode) -> Result<PgBackend, RegistryError> {
        let shown = PathBuf::from(shown_url(url));
        let settings =
            settings::settings_from_url(url).map_err(|source| RegistryError::Settings {
                path: shown.clone(),
                source,
            })?;
        let client =
            tls::connect(&settings.config, &settings.tls).map_err(|failure| match failure {
                tls::ConnectFailure::Settings(source) => RegistryError::Settings {
                    path: shown.clone(),
                    source,
                },
                tls::ConnectFailure::Server(source) => RegistryError::Postgres {
                    path: shown.clone(),
                    source,
                },
            })?;
        let mut backend = PgBackend {
            client,
            shown,
            in_snapshot: false,
            correction: None,
            in_outer: false,
        };
        backend.migrate(mode)?;
        Ok(backend)
    }

    /// The connection, for `registry copy`, which reads and writes the
    /// tables row for row.
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The URL as shown.
    pub(crate) fn shown(&self) -> &Path {
        &self.shown
    }

    pub(crate) fn error(&self, source: postgres::Error) -> RegistryError {
        RegistryError::Postgres {
            path: self.shown.clone(),
            source,
        }
    }

    /// Apply the pending migrations in one transaction under
    /// [`MIGRATION_LOCK`]: the version is read again once the lock is
    /// held, so of two first-time users one migrates and the other finds
    /// the schema made.
    fn migrate(&mut self, mode: OpenMode) -> Result<(), RegistryError> {
        let found = self.schema_version()?;
        if let Some(found) = found {
            self.refuse_newer(found)?;
            if found == PG_SCHEMA_VERSION {
                return Ok(());
            }
        }
        let shown = self.shown.clone();
        let error = |source| RegistryError::Postgres {
            path: shown.clone(),
            source,
        };
        let mut tx = self.client.transaction().map_err(error)?;
        tx.execute(sql::LOCK_FOR_MIGRATION, &[&MIGRATION_LOCK])
            .map_err(error)?;
        let found: Option<i64> = match tx
            .query_one(sql::HAS_MIGRATIONS_TABLE, &[])
            .map_err(error)?
            .get(0)
        {
            true => tx
                .query_one(sql::SCHEMA_VERSION, &[])
                .map_err(error)?
                .get(0),
            false => None,
        };
        match found {
            Some(found) => {
                if found > PG_SCHEMA_VERSION {
                    drop(tx);
                    return self.refuse_newer(found);
                }
            }
            None => {
                let tables: Vec<String> = tx
                    .query(sql::USER_TABLES, &[])
                    .map_err(error)?
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                if !tables.is_empty() {
                    let shown_tables: Vec<&str> =
                        tables.iter().take(5).map(String::as_str).collect();
                    return Err(RegistryError::NotARegistry {
                        path: shown.clone(),
                        message: format!(
                            "a database of something else (tables {}{}), not a second-opinion registry",
                            shown_tables.join(", "),
                            if tables.len() > 5 { ", …" } else { "" }
                        ),
                    });
                }
                if mode == OpenMode::MustExist {
                    return Err(RegistryError::NotARegistry {
                        path: shown.clone(),
                        message: "an empty database, not a registry yet (ingest a score file into it first)"
                            .to_string(),
                    });
                }
                tx.batch_execute(sql::CREATE_MIGRATIONS_TABLE)
                    .map_err(error)?;
            }
        }
        let from = found.unwrap_or(0);
        for (version, name, script) in MIGRATIONS.iter().filter(|(v, _, _)| *v > from) {
            tx.batch_execute(script).map_err(error)?;
            tx.execute(
                sql::RECORD_MIGRATION,
                &[version, name, &super::now_rfc3339(), &crate::TOOL_VERSION],
            )
            .map_err(error)?;
        }
        tx.commit().map_err(error)
    }

    /// The schema version, `None` when the database holds no registry.
    fn schema_version(&mut self) -> Result<Option<i64>, RegistryError> {
        let has: bool = self
            .client
            .query_one(sql::HAS_MIGRATIONS_TABLE, &[])
            .map_err(|e| self.error(e))?
            .get(0);
        if !has {
            return Ok(None);
        }
        let row = self
            .client
            .query_one(sql::SCHEMA_VERSION, &[])
            .map_err(|e| self.error(e))?;
        Ok(Some(row.get(0)))
    }

    fn refuse_newer(&self, found: i64) -> Result<(), RegistryError> {
        if found > PG_SCHEMA_VERSION {
            return Err(RegistryError::TooNew {
                path: self.shown.clone(),
                found,
                known: PG_SCHEMA_VERSION,
                tool: crate::TOOL_VERSION,
            });
        }
        Ok(())
    }

    /// Start the one snapshot an export reads (`REPEATABLE READ`): ingests
    /// committing meanwhile are not seen, so an export is a state between
    /// whole files. Returns false when one is running already.
    pub(crate) fn begin_snapshot(&mut self) -> Result<bool, RegistryError> {
        // Inside one transaction over many files, reads see its own
        // writes (what `materialize` exports is what it just ingested).
        if self.in_snapshot || self.in_outer {
            return Ok(false);
        }
        self.client
            .batch_execute(sql::BEGIN_SNAPSHOT)
            .map_err(|e| self.error(e))?;
        self.in_snapshot = true;
        Ok(true)
    }

    /// End the snapshot [`PgBackend::begin_snapshot`] started.
    pub(crate) fn end_snapshot(&mut self) -> Result<(), RegistryError> {
        self.in_snapshot = false;
        self.client
            .batch_execute("COMMIT")
            .map_err(|e| self.error(e))
    }

    /// Start the one transaction of [`Registry::in_one_transaction`]
    /// (`materialize --registry`, `batch --registry`): until
    /// [`PgBackend::end_outer`], each file's ingest and the export's record
    /// take a savepoint of it, and nothing is committed before it is.
    ///
    /// [`Registry::in_one_transaction`]: super::Registry::in_one_transaction
    pub(crate) fn begin_outer(&mut self) -> Result<(), RegistryError> {
        self.client
            .batch_execute("BEGIN")
            .map_err(|e| self.error(e))?;
        self.in_outer = true;
        Ok(())
    }

    /// End [`PgBackend::begin_outer`]'s transaction: commit it, or roll
    /// everything in it back.
    pub(crate) fn end_outer(&mut self, commit: bool) -> Result<(), RegistryError> {
        self.in_outer = false;
        self.client
            .batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })
            .map_err(|e| self.error(e))
    }

    /// Run `work` in a transaction of its own, or, inside
    /// [`PgBackend::begin_outer`]'s, in a savepoint of it: its commit then
    /// releases the savepoint, its rollback (or an error) undoes only its
    /// own writes, and the outer transaction goes on.
    pub(crate) fn write_transaction<T, E>(
        &mut self,
        fail: impl Fn(postgres::Error) -> E,
        work: impl FnOnce(Write<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let write = if self.in_outer {
            Write::savepoint_of(&mut self.client, "one_write")
        } else {
            Write::begin(&mut self.client)
        };
        work(write.map_err(fail)?)
    }
}
