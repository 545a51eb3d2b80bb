//! `registry copy FROM TO`: a whole registry into a new one, SQLite or
//! PostgreSQL either way: files, scorers and their settings history, every
//! score row with its history (superseded rows, points in time), frames,
//! components, kept counts, exports and their records, tags, signal
//! families and audit runs.
//!
//! Rows are moved as they are, table by table ([`tables`]), not through
//! the registry's commands, so everything a registry holds arrives,
//! whichever commands a backend runs. The source is read in one snapshot;
//! the target is written in one transaction (a new SQLite file is built
//! beside its destination and renamed into place only when complete), so
//! a failed copy leaves no partial registry. The target must be missing or
//! an empty registry.

mod sql;
mod tables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use rusqlite::types::Value;

use super::{migrate, postgres as pg, OpenMode, Registry, RegistryError, SCHEMA_VERSION};
use crate::atomic_file::Staged;
use tables::{Kind, Table, CONTENT_TABLES, TABLES};

/// Why a copy did not happen; nothing was written to the target.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source or the target failed (unreadable, refused, lost).
    #[error("{0}; nothing was written to the target")]
    Registry(#[from] RegistryError),
    /// The target holds a registry already.
    #[error(
        "registry {path} is not empty (it holds {holds}): `registry copy` writes only into a \
         new or empty registry; nothing was written"
    )]
    NotEmpty { path: PathBuf, holds: String },
    /// The source names rows it does not hold (a damaged registry).
    #[error("registry {path}: {message}; nothing was written to the target")]
    Inconsistent { path: PathBuf, message: String },
    /// A value of the source does not fit the target's column.
    #[error("registry {path}: {table}.{column}: {message}; nothing was written to the target")]
    Value {
        path: PathBuf,
        table: &'static str,
        column: &'static str,
        message: String,
    },
}

impl CopyError {
    /// Usage mistakes (exit 2) as opposed to failures of the data (exit 1).
    pub fn is_usage(&self) -> bool {
        match self {
            CopyError::NotEmpty { .. } => true,
            CopyError::Registry(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// What a copy moved: the rows of each table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopySummary {
    /// The source as shown (a URL without its password).
    pub from: String,
    pub to: String,
    /// Rows copied, by table (a table the target does not keep, as
    /// PostgreSQL's kept counts, is not listed).
    pub rows: BTreeMap<String, u64>,
}

impl CopySummary {
    /// The rows copied into `table`.
    pub fn rows_of(&self, table: &str) -> u64 {
        self.rows.get(table).copied().unwrap_or_default()
    }
}

/// Copy the whole registry at `from` into `to` (see the module docs).
pub fn copy_registry(from: &Path, to: &Path) -> Result<CopySummary, CopyError> {
    let source_registry = Registry::open(from, OpenMode::MustExist)?;
    let mut source = Source::begin(&source_registry)?;
    let copied = if pg::is_postgres_url(to) {
        let target = Registry::open(to, OpenMode::CreateIfMissing)?;
        let shown = target.path().to_path_buf();
        let mut backend = target.pg().expect("a PostgreSQL registry");
        copy_into_postgres(&mut source, backend.client(), &shown)
    } else if to.exists() {
        let target = Registry::open(to, OpenMode::CreateIfMissing)?;
        copy_into_sqlite(&mut source, &target.conn, to)
    } else {
        copy_into_new_sqlite(&mut source, to)
    };
    let rows = match copied {
        Ok(rows) => rows,
        Err(e) => {
            // The target's failure is the one to tell.
            let _ = source.end();
            return Err(e);
        }
    };
    source.end()?;
    Ok(CopySummary {
        from: source_registry.path().display().to_string(),
        to: shown_path(to),
        rows,
    })
}

/// How messages name a registry: a URL without its password.
fn shown_path(path: &Path) -> String {
    if pg::is_postgres_url(path) {
        pg::shown_url(&path.to_string_lossy())
    } else {
        path.display().to_string()
    }
}

/// The registry being read, in one snapshot.
struct Source<'r> {
    registry: &'r Registry,
}

impl<'r> Source<'r> {
    fn begin(registry: &'r Registry) -> Result<Source<'r>, RegistryError> {
        match registry.pg() {
            Some(mut backend) => {
                let shown = registry.path().to_path_buf();
                let error = |source| RegistryError::Postgres {
                    path: shown.clone(),
                    source,
                };
                let client = backend.client();
                client
                    .batch_execute(sql::POSTGRES_BEGIN_SOURCE)
                    .map_err(error)?;
                client
                    .batch_execute(sql::POSTGRES_NUMBER_SCORES)
                    .map_err(error)?;
            }
            None => registry
                .conn
                .execute_batch(super::sql::BEGIN_READ)
                .map_err(|e| registry.sqlite_error(e))?,
        }
        Ok(Source { registry })
    }

    /// Hand each row of `table` to `put`, in the common form.
    fn read(
        &mut self,
        table: &Table,
        put: &mut dyn FnMut(&[Value]) -> Result<(), CopyError>,
    ) -> Result<u64, CopyError> {
        let mut count = 0;
        let mut row_values = Vec::with_capacity(table.columns.len());
        match self.registry.pg() {
            Some(mut backend) => {
                use postgres::fallible_iterator::FallibleIterator;
                let shown = self.registry.path().to_path_buf();
                let error = |source| RegistryError::Postgres {
                    path: shown.clone(),
                    source,
                };
                let query = sql::select_postgres(table);
                let mut rows = backend
                    .client()
                    .query_raw(query.as_str(), std::iter::empty::<&(dyn ToSql + Sync)>())
                    .map_err(error)?;
                while let Some(row) = rows.next().map_err(error)? {
                    row_values.clear();
                    for (i, column) in table.columns.iter().enumerate() {
                        row_values.push(value_of_postgres(&row, i).map_err(|message| {
                            CopyError::Value {
                                path: shown.clone(),
                                table: table.name,
                                column: column.name,
                                message,
                            }
                        })?);
                    }
                    put(&row_values)?;
                    count += 1;
                }
            }
            None => {
                let registry = self.registry;
                let sqlite = |e| CopyError::Registry(registry.sqlite_error(e));
                let mut statement = registry
                    .conn
                    .prepare(&sql::select_as_is(table))
                    .map_err(sqlite)?;
                let mut rows = statement.query([]).map_err(sqlite)?;
                while let Some(row) = rows.next().map_err(sqlite)? {
                    row_values.clear();
                    for i in 0..table.columns.len() {
                        row_values.push(row.get::<_, Value>(i).map_err(sqlite)?);
                    }
                    put(&row_values)?;
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    /// End the snapshot (it only read; nothing to keep).
    fn end(self) -> Result<(), RegistryError> {
        match self.registry.pg() {
            Some(mut backend) => backend
                .client()
                .batch_execute(sql::POSTGRES_END_SOURCE)
                .map_err(|source| RegistryError::Postgres {
                    path: self.registry.path().to_path_buf(),
                    source,
                }),
            None => self
                .registry
                .conn
                .execute_batch(super::sql::COMMIT)
                .map_err(|e| self.registry.sqlite_error(e)),
        }
    }
}

/// A cell of a PostgreSQL row as the common form holds it.
fn value_of_postgres(row: &postgres::Row, i: usize) -> Result<Value, String> {
    let ty = row.columns()[i].type_();
    let got = |e: postgres::Error| e.to_string();
    Ok(match *ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(got)?
            .map_or(Value::Null, Value::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(got)?
            .map_or(Value::Null, |v| Value::Integer(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(got)?
            .map_or(Value::Null, |v| Value::Integer(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(got)?
            .map_or(Value::Null, Value::Real),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(got)?
            .map_or(Value::Null, |v| Value::Integer(v.into())),
        Type::TEXT | Type::VARCHAR => row
            .try_get::<_, Option<String>>(i)
            .map_err(got)?
            .map_or(Value::Null, Value::Text),
        _ => {
            return Err(format!(
                "a column of type {ty}, which the copy does not know"
            ))
        }
    })
}

/// Copy into a registry file that does not exist yet: built beside its
/// destination, renamed into place only when complete.
fn copy_into_new_sqlite(
    source: &mut Source<'_>,
    to: &Path,
) -> Result<BTreeMap<String, u64>, CopyError> {
    let create = |source| {
        CopyError::Registry(RegistryError::Create {
            path: to.to_path_buf(),
            source,
        })
    };
    let staged = Staged::begin(to).map_err(create)?;
    let rows = {
        let sqlite = |source| {
            CopyError::Registry(RegistryError::Sqlite {
                path: to.to_path_buf(),
                source,
            })
        };
        let mut conn = rusqlite::Connection::open(staged.temporary_path()).map_err(sqlite)?;
        conn.pragma_update(None, "page_size", super::PAGE_SIZE)
            .map_err(sqlite)?;
        migrate::migrate_to(&mut conn, SCHEMA_VERSION).map_err(sqlite)?;
        let rows = copy_into_sqlite(source, &conn, to)?;
        conn.close().map_err(|(_, e)| sqlite(e))?;
        rows
    };
    if !staged.publish_if_absent().map_err(create)? {
        return Err(CopyError::NotEmpty {
            path: to.to_path_buf(),
            holds: "a file another process created while the copy ran".to_string(),
        });
    }
    Ok(rows)
}

/// Copy into the SQLite registry on `conn`, in one transaction.
fn copy_into_sqlite(
    source: &mut Source<'_>,
    conn: &rusqlite::Connection,
    to: &Path,
) -> Result<BTreeMap<String, u64>, CopyError> {
    let sqlite = |source| {
        CopyError::Registry(RegistryError::Sqlite {
            path: to.to_path_buf(),
            source,
        })
    };
    // Rows arrive table by table, and a scorer may be merged into one
    // inserted after it: references are checked once, before the commit.
    conn.execute_batch(super::sql::FOREIGN_KEYS_OFF)
        .map_err(sqlite)?;
    let copied = (|| {
        conn.execute_batch(super::sql::BEGIN_WRITE)
            .map_err(sqlite)?;
        let holds = non_empty_tables(|table| {
            conn.query_row(&sql::any_row(table), [], |row| row.get::<_, bool>(0))
                .map_err(sqlite)
        })?;
        if !holds.is_empty() {
            return Err(CopyError::NotEmpty {
                path: to.to_path_buf(),
                holds: holds.join(", "),
            });
        }
        conn.execute_batch(sql::CLEAR_SEEDED_FAMILIES)
            .map_err(sqlite)?;
        let mut rows = BTreeMap::new();
        for table in TABLES {
            if table.name == "scorer_revisions" {
                conn.execute_batch(sql::CLEAR_TRIGGERED_REVISIONS)
                    .map_err(sqlite)?;
            }
            let mut insert = conn.prepare(&sql::insert_sqlite(table)).map_err(sqlite)?;
            let count = source.read(table, &mut |row| {
                insert
                    .execute(rusqlite::params_from_iter(row.iter()))
                    .map(drop)
                    .map_err(sqlite)
            })?;
            rows.insert(table.name.to_string(), count);
        }
        let broken: Vec<String> = conn
            .prepare(sql::SQLITE_FOREIGN_KEY_CHECK)
            .and_then(|mut check| {
                check
                    .query_map([], |row| {
                        Ok(format!(
                            "a row of {} names a missing row of {}",
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(2)?
                        ))
                    })?
                    .collect()
            })
            .map_err(sqlite)?;
        if let Some(first) = broken.first() {
            return Err(CopyError::Inconsistent {
                path: source.registry.path().to_path_buf(),
                message: format!(
                    "{first} ({} such row{} in all)",
                    broken.len(),
                    if broken.len() == 1 { "" } else { "s" }
                ),
            });
        }
        conn.execute_batch(super::sql::COMMIT).map_err(sqlite)?;
        Ok(rows)
    })();
    if copied.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch(super::sql::ROLLBACK);
    }
    let on = conn
        .execute_batch(super::sql::FOREIGN_KEYS_ON)
        .map_err(sqlite);
    let rows = copied?;
    on?;
    Ok(rows)
}

/// Copy into the PostgreSQL registry on `client`, in one transaction.
fn copy_into_postgres(
    source: &mut Source<'_>,
    client: &mut postgres::Client,
    shown: &Path,
) -> Result<BTreeMap<String, u64>, CopyError> {
    let server = |source| {
        CopyError::Registry(RegistryError::Postgres {
            path: shown.to_path_buf(),
            source,
        })
    };
    let mut tx = client.transaction().map_err(server)?;
    tx.batch_execute(sql::POSTGRES_LOCK_TARGET)
        .map_err(server)?;
    tx.batch_execute(sql::POSTGRES_REVISIONS_GIVEN)
        .map_err(server)?;
    let holds = non_empty_tables(|table| {
        Ok(tx
            .query_one(sql::any_row(table).as_str(), &[])
            .map_err(server)?
            .get::<_, bool>(0))
    })?;
    if !holds.is_empty() {
        return Err(CopyError::NotEmpty {
            path: shown.to_path_buf(),
            holds: holds.join(", "),
        });
    }
    tx.batch_execute(sql::CLEAR_SEEDED_FAMILIES)
        .map_err(server)?;
    let mut rows = BTreeMap::new();
    let mut prefixes = std::collections::HashMap::new();
    for table in TABLES {
        if table.name == "raw_key_prefixes" {
            // Kept aside: a PostgreSQL row holds its key as written whole.
            source.read(table, &mut |row| {
                if let (Value::Integer(id), Value::Text(prefix)) = (&row[0], &row[1]) {
                    prefixes.insert(*id, prefix.clone());
                }
                Ok(())
            })?;
            continue;
        }
        if !table.on_postgres {
            continue;
        }
        let columns: Vec<(usize, Kind)> = table
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.on_postgres)
            .map(|(i, c)| (i, c.kind))
            .collect();
        let types: Vec<Type> = columns.iter().map(|(_, kind)| pg_type(*kind)).collect();
        let sink = tx
            .copy_in(sql::copy_in_postgres(table).as_str())
            .map_err(server)?;
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
        let is_scores = table.name == "scores";
        let count = source.read(table, &mut |row| {
            cells.clear();
            for &(i, kind) in &columns {
                let value = if is_scores && i == tables::SCORES_RAW_KEY {
                    whole_raw_key(row, &prefixes)
                } else {
                    row[i].clone()
                };
                cells.push(Cell::of(value, kind).map_err(|message| CopyError::Value {
                    path: shown.to_path_buf(),
                    table: table.name,
                    column: table.columns[i].name,
                    message,
                })?);
            }
            let refs: Vec<&(dyn ToSql + Sync)> =
                cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            writer.write(&refs).map_err(server)
        })?;
        writer.finish().map_err(server)?;
        rows.insert(table.name.to_string(), count);
    }
    tx.batch_execute(sql::POSTGRES_AFTER_ROWS).map_err(server)?;
    tx.commit().map_err(server)?;
    Ok(rows)
}

/// A score row's key as its file wrote it, whole: `raw_key` when set, else
/// its directory (`raw_key_prefix`) followed by the key; NULL when the
/// file wrote the key itself.
fn whole_raw_key(row: &[Value], prefixes: &std::collections::HashMap<i64, String>) -> Value {
    match (
        &row[tables::SCORES_RAW_KEY],
        &row[tables::SCORES_RAW_KEY_PREFIX],
        &row[tables::SCORES_KEY],
    ) {
        (Value::Null, Value::Integer(prefix), Value::Text(key)) => match prefixes.get(prefix) {
            Some(prefix) => Value::Text(format!("{prefix}{key}")),
            None => Value::Null,
        },
        (raw_key, _, _) => raw_key.clone(),
    }
}

/// The content tables `holds` says have rows.
fn non_empty_tables(
    mut holds: impl FnMut(&str) -> Result<bool, CopyError>,
) -> Result<Vec<String>, CopyError> {
    let mut found = Vec::new();
    for table in CONTENT_TABLES {
        if holds(table)? {
            found.push(table.to_string());
        }
    }
    Ok(found)
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::Int8 => Type::INT8,
        Kind::Int4 => Type::INT4,
        Kind::Float8 => Type::FLOAT8,
        Kind::Text => Type::TEXT,
        Kind::Bool => Type::BOOL,
    }
}

/// A value of the common form as a PostgreSQL column of its kind takes it.
#[derive(Debug)]
enum Cell {
    Int8(Option<i64>),
    Int4(Option<i32>),
    Float8(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

impl Cell {
    fn of(value: Value, kind: Kind) -> Result<Cell, String> {
        let unexpected = |value: &Value| format!("{value:?} is not a {kind:?} value");
        Ok(match (kind, value) {
            (Kind::Int8, Value::Null) => Cell::Int8(None),
            (Kind::Int8, Value::Integer(v)) => Cell::Int8(Some(v)),
            (Kind::Int4, Value::Null) => Cell::Int4(None),
            (Kind::Int4, Value::Integer(v)) => Cell::Int4(Some(
                i32::try_from(v).map_err(|_| format!("{v} is out of range"))?,
            )),
            (Kind::Float8, Value::Null) => Cell::Float8(None),
            (Kind::Float8, Value::Real(v)) => Cell::Float8(Some(v)),
            // SQLite may hold a whole number in a REAL column as an integer.
            (Kind::Float8, Value::Integer(v)) => Cell::Float8(Some(v as f64)),
            (Kind::Text, Value::Null) => Cell::Text(None),
            (Kind::Text, Value::Text(v)) => Cell::Text(Some(v)),
            (Kind::Bool, Value::Null) => Cell::Bool(None),
            (Kind::Bool, Value::Integer(v @ (0 | 1))) => Cell::Bool(Some(v == 1)),
            (_, value) => return Err(unexpected(&value)),
        })
    }
}

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Int8(v) => v.to_sql(ty, out),
            Cell::Int4(v) => v.to_sql(ty, out),
            Cell::Float8(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::FLOAT8 | Type::TEXT | Type::BOOL
        )
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score_row(raw_key: Value, prefix: Value) -> Vec<Value> {
        let mut row = vec![Value::Null; tables::SCORES.columns.len()];
        row[tables::SCORES_KEY] = Value::Text("a.mp4".into());
        row[tables::SCORES_RAW_KEY] = raw_key;
        row[tables::SCORES_RAW_KEY_PREFIX] = prefix;
        row
    }

    #[test]
    fn a_key_as_written_is_made_whole_from_its_directory() {
        let prefixes = std::collections::HashMap::from([(7, "/corpus/x/".to_string())]);
        assert_eq!(
            whole_raw_key(&score_row(Value::Null, Value::Integer(7)), &prefixes),
            Value::Text("/corpus/x/a.mp4".into())
        );
        // A raw key stored whole wins; no prefix means the key as written.
        assert_eq!(
            whole_raw_key(
                &score_row(Value::Text("A.MP4 ".into()), Value::Null),
                &prefixes
            ),
            Value::Text("A.MP4 ".into())
        );
        assert_eq!(
            whole_raw_key(&score_row(Value::Null, Value::Null), &prefixes),
            Value::Null
        );
    }

    #[test]
    fn values_take_the_postgres_kind_of_their_column() {
        assert!(matches!(
            Cell::of(Value::Integer(1), Kind::Bool),
            Ok(Cell::Bool(Some(true)))
        ));
        assert!(matches!(
            Cell::of(Value::Integer(3), Kind::Float8),
            Ok(Cell::Float8(Some(v))) if v == 3.0
        ));
        assert!(Cell::of(Value::Integer(2), Kind::Bool).is_err());
        assert!(Cell::of(Value::Integer(i64::MAX), Kind::Int4).is_err());
        assert!(Cell::of(Value::Text("x".into()), Kind::Int8).is_err());
    }

    #[test]
    fn every_table_is_read_in_its_key_order_and_content_tables_are_copied() {
        for name in CONTENT_TABLES {
            assert!(TABLES.iter().any(|t| t.name == *name), "{name}");
        }
        for table in TABLES {
            assert!(sql::select_as_is(table).ends_with(table.order_by));
        }
    }
}
