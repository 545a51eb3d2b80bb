//! What the registry held at a point: the rows each scorer had live then,
//! and the files they came from. The questions `exports show` and
//! `exports diff` ask ([`crate::history`]).

use serde::Serialize;

use super::{sql, Registry, RegistryError};

/// A score row as it was live at a point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowAt {
    pub key: String,
    pub score: Option<f64>,
    pub status: String,
    /// The file it came from, as given at ingest, and its line.
    pub path: String,
    pub line: u64,
}

/// A file whose rows were live at a point, with how many were ok and bad.
#[derive(Clone, Debug, Serialize)]
pub struct FileAt {
    pub id: i64,
    pub path: String,
    pub sha256: String,
    pub ingested_at: String,
    pub scorer_version: Option<String>,
    pub ok: u64,
    pub bad: u64,
}

impl Registry {
    /// Every row of scorer `scorer_id` live at point `seq`, by key.
    pub fn rows_at(&self, scorer_id: i64, seq: i64) -> Result<Vec<RowAt>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            let mut rows = pg.rows_at(scorer_id, seq)?;
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            return Ok(rows);
        }
        let mut stmt = self
            .conn
            .prepare_cached(sql::ROWS_AT_POINT_WITH_SOURCE)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([scorer_id, seq], |row| {
                Ok(RowAt {
                    key: row.get(0)?,
                    score: row.get(1)?,
                    status: row.get(2)?,
                    path: row.get(3)?,
                    line: row.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        let mut rows = rows.map_err(|e| self.sqlite_error(e))?;
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(rows)
    }

    /// The files scorer `scorer_id`'s rows live at point `seq` came from.
    pub fn files_at(&self, scorer_id: i64, seq: i64) -> Result<Vec<FileAt>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.files_at(scorer_id, seq);
        }
        let mut stmt = self
            .conn
            .prepare_cached(sql::FILES_AT_POINT)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([scorer_id, seq], |row| {
                Ok(FileAt {
                    id: row.get(0)?,
                    path: row.get(1)?,
                    sha256: row.get(2)?,
                    ingested_at: row.get(3)?,
                    scorer_version: row.get(4)?,
                    ok: row.get(5)?,
                    bad: row.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }
}
