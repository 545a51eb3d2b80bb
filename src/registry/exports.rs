//! What exports read from the registry, and the record each one leaves.

use std::collections::HashMap;

use rusqlite::params;
use serde::Serialize;

use super::{now_rfc3339, sql, Registry, RegistryError};
use crate::scorer::Scale;

/// A scorer with live scores.
#[derive(Clone, Debug)]
pub struct LiveScorer {
    pub id: i64,
    pub name: String,
    pub slug: String,
    /// The hard scale, else the typical range, for `export --normalize`.
    pub range: Option<Scale>,
    pub higher_is_better: Option<bool>,
}

/// One live score, as an export needs it.
#[derive(Clone, Debug)]
pub struct LiveScore {
    pub key: String,
    pub score: Option<f64>,
    pub bad: bool,
    pub runtime_ms: Option<f64>,
    pub frame_count: i64,
    pub source_file_id: i64,
}

/// A source file's path as given at ingest, and its sha256.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: String,
    pub sha256: String,
}

/// An export as recorded in the registry.
#[derive(Clone, Debug, Serialize)]
pub struct ExportRecord {
    pub id: i64,
    pub created_at: String,
    pub command: String,
    pub features_path: String,
    pub features_sha256: String,
    pub output_path: String,
    pub output_sha256: String,
    pub output_format: String,
    pub input_rows: u64,
    pub output_rows: u64,
    pub scorers: serde_json::Value,
    pub options: serde_json::Value,
    pub registry_state: serde_json::Value,
    pub registry_digest: String,
    pub tool_version: String,
}

impl Registry {
    /// Every scorer with at least one live score.
    pub fn live_scorers(&self) -> Result<Vec<LiveScorer>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(sql::LIVE_SCORERS)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                let hard = row
                    .get::<_, Option<f64>>(3)?
                    .zip(row.get::<_, Option<f64>>(4)?);
                let typical = row
                    .get::<_, Option<f64>>(5)?
                    .zip(row.get::<_, Option<f64>>(6)?);
                Ok(LiveScorer {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    slug: row.get(2)?,
                    range: hard.or(typical).map(|(min, max)| Scale { min, max }),
                    higher_is_better: row.get(7)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }

    /// Every source file by id.
    pub fn source_files(&self) -> Result<HashMap<i64, SourceFile>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(sql::SOURCE_FILE_PATHS)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    SourceFile {
                        path: row.get(1)?,
                        sha256: row.get(2)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect::<Result<HashMap<_, _>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }

    /// Hand every live score of `scorer` to `visit`, in key order, without
    /// collecting them. (The export digests what it reads itself, the same
    /// way for scores held in memory and scores read from here.)
    pub fn visit_live_scores(
        &self,
        scorer: &LiveScorer,
        mut visit: impl FnMut(LiveScore),
    ) -> Result<(), RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_SCORES_OF_SCORER)
            .map_err(|e| self.sqlite_error(e))?;
        let mut rows = stmt.query([scorer.id]).map_err(|e| self.sqlite_error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.sqlite_error(e))? {
            let read = || -> rusqlite::Result<LiveScore> {
                Ok(LiveScore {
                    key: row.get(0)?,
                    score: row.get(1)?,
                    bad: row.get_ref(2)?.as_str()? == "bad",
                    runtime_ms: row.get(3)?,
                    frame_count: row.get(4)?,
                    source_file_id: row.get(5)?,
                })
            };
            visit(read().map_err(|e| self.sqlite_error(e))?);
        }
        Ok(())
    }

    /// The named components of `scorer`'s live scores: `visit(key, name,
    /// value)` for each, ordered by component name then key.
    pub fn visit_live_components(
        &self,
        scorer: &LiveScorer,
        mut visit: impl FnMut(&str, &str, Option<f64>),
    ) -> Result<(), RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_COMPONENTS_OF_SCORER)
            .map_err(|e| self.sqlite_error(e))?;
        let mut rows = stmt.query([scorer.id]).map_err(|e| self.sqlite_error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.sqlite_error(e))? {
            let mut read = || -> rusqlite::Result<()> {
                visit(
                    row.get_ref(0)?.as_str()?,
                    row.get_ref(1)?.as_str()?,
                    row.get(2)?,
                );
                Ok(())
            };
            read().map_err(|e| self.sqlite_error(e))?;
        }
        Ok(())
    }

    /// The stored frames of `scorer`'s live scores: `visit(key, (frame
    /// index, value, runtime))`, ordered by key then frame index.
    pub fn visit_live_frames(
        &self,
        scorer: &LiveScorer,
        mut visit: impl FnMut(&str, crate::frames::StoredFrame),
    ) -> Result<(), RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_FRAMES_OF_SCORER)
            .map_err(|e| self.sqlite_error(e))?;
        let mut rows = stmt.query([scorer.id]).map_err(|e| self.sqlite_error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.sqlite_error(e))? {
            let mut read = || -> rusqlite::Result<()> {
                visit(
                    row.get_ref(0)?.as_str()?,
                    (row.get(1)?, row.get(2)?, row.get(3)?),
                );
                Ok(())
            };
            read().map_err(|e| self.sqlite_error(e))?;
        }
        Ok(())
    }

    /// The `--scorer-version`s of the files `scorer`'s live scores came from.
    pub fn live_versions(&self, scorer: &LiveScorer) -> Result<Vec<String>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_VERSIONS_OF_SCORER)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([scorer.id], |row| row.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }

    /// Record an export; returns its id.
    pub fn record_export(&self, export: &ExportRecord) -> Result<i64, RegistryError> {
        self.conn
            .execute(
                sql::INSERT_EXPORT,
                params![
                    now_rfc3339(),
                    export.command,
                    export.features_path,
                    export.features_sha256,
                    export.output_path,
                    export.output_sha256,
                    export.output_format,
                    export.input_rows as i64,
                    export.output_rows as i64,
                    export.scorers.to_string(),
                    export.options.to_string(),
                    export.registry_state.to_string(),
                    export.registry_digest,
                    export.tool_version
                ],
            )
            .map_err(|e| self.sqlite_error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every recorded export, oldest first.
    pub fn exports(&self) -> Result<Vec<ExportRecord>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(sql::LIST_EXPORTS)
            .map_err(|e| self.sqlite_error(e))?;
        let json =
            |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        let rows = stmt
            .query_map([], |row| {
                Ok(ExportRecord {
                    id: row.get(0)?,
                    created_at: row.get(1)?,
                    command: row.get(2)?,
                    features_path: row.get(3)?,
                    features_sha256: row.get(4)?,
                    output_path: row.get(5)?,
                    output_sha256: row.get(6)?,
                    output_format: row.get(7)?,
                    input_rows: row.get(8)?,
                    output_rows: row.get(9)?,
                    scorers: json(row.get(10)?),
                    options: json(row.get(11)?),
                    registry_state: json(row.get(12)?),
                    registry_digest: row.get(13)?,
                    tool_version: row.get(14)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }
}
