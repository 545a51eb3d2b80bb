//! What the registry can tell about itself: its scorers, its files, and
//! where each score came from.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{sql, Registry, RegistryError};
use crate::ingest::suspicious::Warning;
use crate::key::{basename, stem, KeyNormalize};
use crate::scorer::slug;

/// One scorer and what the registry holds of it.
#[derive(Clone, Debug, Serialize)]
pub struct ScorerSummary {
    pub name: String,
    pub slug: String,
    pub scale_min: Option<f64>,
    pub scale_max: Option<f64>,
    pub higher_is_better: Option<bool>,
    pub live_rows: u64,
    pub ok_rows: u64,
    pub bad_rows: u64,
    pub superseded_rows: u64,
    pub files: u64,
    /// The typical range of a known scorer (not a hard bound).
    pub typical_min: Option<f64>,
    pub typical_max: Option<f64>,
    /// `--scorer-version`s of the files its live scores came from.
    pub versions: Vec<String>,
    /// Suspicious-output warnings recorded with those files, for this scorer.
    pub warnings: Vec<String>,
}

/// One ingested file.
#[derive(Clone, Debug, Serialize)]
pub struct FileSummary {
    pub id: i64,
    pub path: String,
    pub absolute_path: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub format: String,
    pub label: Option<String>,
    pub ingested_at: String,
    pub tool_version: String,
    /// Rows the file contributed, live or since superseded.
    pub rows: u64,
    pub live_rows: u64,
    /// Names of the scorers it holds, sorted.
    pub scorers: Vec<String>,
}

/// One stored row of a (scorer, key): the live one or a superseded one.
#[derive(Clone, Debug, Serialize)]
pub struct ProvenanceEntry {
    pub scorer: String,
    pub key: String,
    pub raw_key: String,
    pub key_field: String,
    pub score: Option<f64>,
    /// The number the file wrote, when the score is empty because the
    /// value was outside the scorer's scale.
    pub raw_value: Option<f64>,
    pub status: String,
    pub reason: Option<String>,
    /// What the reader noted about the row (frames left out of the pool).
    pub note: Option<String>,
    pub runtime_ms: Option<f64>,
    pub frame_count: u64,
    pub live: bool,
    pub superseded_at: Option<String>,
    pub superseded_by: Option<String>,
    pub path: String,
    pub absolute_path: String,
    pub sha256: String,
    pub format: String,
    pub label: Option<String>,
    /// What produced the file (`--scorer-version`), if recorded.
    pub scorer_version: Option<String>,
    pub line: u64,
    pub ingested_at: String,
    /// The point the row became live at.
    pub live_from_seq: i64,
    /// The point that superseded it; `None` while it is live.
    pub live_until_seq: Option<i64>,
    /// With `--as-of`: whether this row was the live one at that point.
    pub live_at_point: Option<bool>,
}

impl Registry {
    /// Every scorer, by slug.
    pub fn scorers(&self) -> Result<Vec<ScorerSummary>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.scorers();
        }
        let mut stmt = self
            .conn
            .prepare(sql::LIST_SCORERS)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                let name: String = row.get(0)?;
                Ok(ScorerSummary {
                    warnings: warnings_for(&row.get::<_, String>(13)?, &name),
                    name,
                    slug: row.get(1)?,
                    scale_min: row.get(2)?,
                    scale_max: row.get(3)?,
                    higher_is_better: row.get(4)?,
                    live_rows: row.get(5)?,
                    ok_rows: row.get(6)?,
                    bad_rows: row.get(7)?,
                    superseded_rows: row.get(8)?,
                    files: row.get(9)?,
                    typical_min: row.get(10)?,
                    typical_max: row.get(11)?,
                    versions: serde_json::from_str(&row.get::<_, String>(12)?).unwrap_or_default(),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }

    /// Every ingested file, in ingest order.
    pub fn files(&self) -> Result<Vec<FileSummary>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.files();
        }
        let mut stmt = self
            .conn
            .prepare(sql::LIST_FILES)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                // A JSON list, not a joined string: scorer names may hold commas.
                let scorers: String = row.get(11)?;
                let scorers: Vec<String> = serde_json::from_str(&scorers).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        11,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?;
                Ok(FileSummary {
                    id: row.get(0)?,
                    path: row.get(1)?,
                    absolute_path: row.get(2)?,
                    sha256: row.get(3)?,
                    size_bytes: row.get(4)?,
                    format: row.get(5)?,
                    label: row.get(6)?,
                    ingested_at: row.get(7)?,
                    tool_version: row.get(8)?,
                    rows: row.get(9)?,
                    live_rows: row.get(10)?,
                    scorers,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }

    /// The live row of (`scorer`, `key`) first, then its superseded history;
    /// without `scorer`, that of every scorer holding the clip (by slug).
    ///
    /// `scorer` may be spelled any way with the same slug. With
    /// `KeyNormalize::Auto`, `key` is tried as given (against normalised and
    /// raw keys), then as its basename, then as its stem, then as the stem
    /// of stored keys (`A0004` finds `A0004.mp4`; every such key when there
    /// are several), so a full path, a file name or a clip id all find the
    /// row. Any other normalisation is applied to `key` exactly as at ingest.
    ///
    /// With `point` (`--as-of`), each entry says whether it was the live
    /// one at that point.
    pub fn provenance(
        &self,
        scorer: Option<&str>,
        key: &str,
        key_normalize: KeyNormalize,
        point: Option<&super::Point>,
    ) -> Result<Vec<ProvenanceEntry>, RegistryError> {
        let not_found = |message: String| RegistryError::NotFound {
            path: self.path.clone(),
            message,
        };
        let Some(scorer) = scorer else {
            let mut entries = Vec::new();
            for (scorer_id, scorer_name) in self.all_scorers()? {
                entries.extend(self.scorer_provenance(
                    scorer_id,
                    &scorer_name,
                    key,
                    key_normalize,
                    point,
                )?);
            }
            if entries.is_empty() {
                return Err(not_found(format!("no scorer has a score for key '{key}'")));
            }
            return Ok(entries);
        };
        let (scorer_id, scorer_name) = self.scorer_by_slug(&slug(scorer))?.ok_or_else(|| {
            let known: Vec<String> = self
                .all_scorers()
                .unwrap_or_default()
                .into_iter()
                .map(|(_, name)| name)
                .collect();
            not_found(format!(
                "no scorer '{scorer}' (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        let entries = self.scorer_provenance(scorer_id, &scorer_name, key, key_normalize, point)?;
        if entries.is_empty() {
            return Err(not_found(format!(
                "no score for scorer '{scorer_name}' and key '{key}'"
            )));
        }
        Ok(entries)
    }

    /// [`Registry::provenance`] of one scorer; empty when it has no such key.
    fn scorer_provenance(
        &self,
        scorer_id: i64,
        scorer_name: &str,
        key: &str,
        key_normalize: KeyNormalize,
        point: Option<&super::Point>,
    ) -> Result<Vec<ProvenanceEntry>, RegistryError> {
        let attempts: Vec<(String, bool)> = match key_normalize {
            KeyNormalize::Auto => vec![
                (key.to_string(), false),
                (basename(key).to_string(), false),
                (stem(key).to_string(), false),
                (key.to_string(), true),
            ],
            other => vec![(other.apply("key", key).into_owned(), false)],
        };
        let history = |candidate: &str, match_raw: bool| {
            let mut entries = self.score_history(scorer_id, scorer_name, candidate, match_raw)?;
            for entry in &mut entries {
                entry.live_at_point = point.map(|p| {
                    entry.live_from_seq <= p.seq && entry.live_until_seq.is_none_or(|u| u > p.seq)
                });
            }
            Ok::<_, RegistryError>(entries)
        };
        for (candidate, match_raw) in attempts {
            let mut entries = history(&candidate, match_raw)?;
            // A raw-key match can reach rows stored under different keys
            // (one scorer ingested with two normalisations): keep the rows
            // of the first key found, so this stays one key's history.
            if let Some(first_key) = entries.first().map(|e| e.key.clone()) {
                entries.retain(|e| e.key == first_key);
            }
            if !entries.is_empty() {
                return Ok(entries);
            }
        }
        // A clip id without its extension: every stored key of that stem.
        if key_normalize != KeyNormalize::Auto {
            return Ok(Vec::new());
        }
        let wanted = stem(basename(key));
        let keys = self.keys_from_stem(scorer_id, &format!("{wanted}."), &format!("{wanted}/"))?;
        let mut entries = Vec::new();
        for stored in keys.iter().filter(|k| stem(k) == wanted) {
            entries.extend(history(stored, false)?);
        }
        Ok(entries)
    }

    /// Scorer `slug`'s id and name.
    fn scorer_by_slug(&self, slug: &str) -> Result<Option<(i64, String)>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.scorer_by_slug(slug);
        }
        self.conn
            .query_row(sql::SCORER_NAME_BY_SLUG, [slug], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .map_err(|e| self.sqlite_error(e))
    }

    /// Every row (live first, then newest first) of scorer `scorer_id`
    /// whose key (or, with `match_raw`, raw key) is `key`.
    fn score_history(
        &self,
        scorer_id: i64,
        scorer_name: &str,
        key: &str,
        match_raw: bool,
    ) -> Result<Vec<ProvenanceEntry>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.score_history(scorer_id, scorer_name, key, match_raw);
        }
        let mut stmt = self
            .conn
            .prepare_cached(sql::SCORE_HISTORY)
            .map_err(|e| self.sqlite_error(e))?;
        stmt.query_map(params![scorer_id, key, match_raw], |row| {
            let superseded_at: Option<String> = row.get(10)?;
            Ok(ProvenanceEntry {
                scorer: scorer_name.to_string(),
                key: row.get(0)?,
                raw_key: row.get(1)?,
                key_field: row.get(2)?,
                score: row.get(3)?,
                status: row.get(4)?,
                reason: row.get(5)?,
                note: row.get(18)?,
                runtime_ms: row.get(6)?,
                frame_count: row.get(7)?,
                line: row.get(8)?,
                ingested_at: row.get(9)?,
                live: superseded_at.is_none(),
                superseded_at,
                path: row.get(11)?,
                absolute_path: row.get(12)?,
                sha256: row.get(13)?,
                format: row.get(14)?,
                label: row.get(15)?,
                superseded_by: row.get(16)?,
                scorer_version: row.get(17)?,
                raw_value: row.get(21)?,
                live_from_seq: row.get(19)?,
                live_until_seq: row.get(20)?,
                live_at_point: None,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| self.sqlite_error(e))
    }

    /// Scorer `scorer_id`'s keys (live or superseded) from `from` up to
    /// `to`, at most 1000.
    fn keys_from_stem(
        &self,
        scorer_id: i64,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.keys_from_stem(scorer_id, from, to);
        }
        self.conn
            .prepare(sql::KEYS_FROM_STEM)
            .and_then(|mut keys| {
                keys.query_map(params![scorer_id, from, to], |row| row.get(0))?
                    .collect()
            })
            .map_err(|e| self.sqlite_error(e))
    }

    /// Every scorer's id and name, by slug.
    fn all_scorers(&self) -> Result<Vec<(i64, String)>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.all_scorers();
        }
        self.conn
            .prepare(sql::ALL_SCORERS)
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(|e| self.sqlite_error(e))
    }
}

/// The messages of the warnings recorded for scorer `name`, from a JSON
/// list of the files' warning lists (each itself JSON text).
fn warnings_for(files_json: &str, name: &str) -> Vec<String> {
    let files: Vec<String> = serde_json::from_str(files_json).unwrap_or_default();
    files
        .iter()
        .filter_map(|text| serde_json::from_str::<Vec<Warning>>(text).ok())
        .flatten()
        .filter(|w| w.scorer == name)
        .map(|w| format!("{} [{}]", w.message, w.check))
        .collect()
}
