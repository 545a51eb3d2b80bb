//! What exports read from the registry, and the record each one leaves.

use std::collections::HashMap;

use rusqlite::params;
use serde::Serialize;

use super::{now_rfc3339, sql, Registry, RegistryError};
use crate::scorer::Scale;

/// See [`Registry::live_rows_are_dense`]: a scorer whose live scores are
/// at least one in this many of the registry's score rows is read by a
/// scan of the table.
const DENSE_SHARE: i64 = 8;

/// Which scores a read sees: the live ones, or those live at an earlier
/// point (`export --as-of`). A read at the newest point is a live read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    Live,
    Point(i64),
}

impl At {
    /// The query for this read: `live` reads scorer ?1's live rows,
    /// `at_point` its rows live at point ?2.
    fn pick(self, live: &'static str, at_point: &'static str) -> (&'static str, Vec<i64>) {
        match self {
            At::Live => (live, Vec::new()),
            At::Point(seq) => (at_point, vec![seq]),
        }
    }

    /// The parameters of a per-scorer query of [`At::pick`].
    fn params(extra: &[i64], scorer_id: i64) -> Vec<i64> {
        std::iter::once(scorer_id)
            .chain(extra.iter().copied())
            .collect()
    }
}

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

/// One row of `export --scores-only`.
#[derive(Clone, Debug)]
pub struct ScoresTableRow {
    pub key: String,
    pub score: Option<f64>,
    pub status: String,
    pub runtime_ms: Option<f64>,
    pub frames: i64,
    pub source_path: String,
    pub line: i64,
    pub source_sha256: String,
    pub ingested_at: String,
    pub version: Option<String>,
    pub source_file_id: i64,
}

/// A source file's path as given at ingest, and its sha256.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: String,
    pub sha256: String,
}

/// Where an export's output stands. A record is written before its output
/// is renamed into place and confirmed after, so a crash between the two
/// leaves it pending until the next export settles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishState {
    /// Recorded; the output is not known to be in place yet.
    Pending,
    /// The output was put in place.
    Published,
    /// The run stopped before its output was in place.
    Abandoned,
}

impl PublishState {
    pub fn name(self) -> &'static str {
        match self {
            PublishState::Pending => "pending",
            PublishState::Published => "published",
            PublishState::Abandoned => "abandoned",
        }
    }

    fn parse(text: &str) -> PublishState {
        match text {
            "pending" => PublishState::Pending,
            "abandoned" => PublishState::Abandoned,
            _ => PublishState::Published,
        }
    }
}

/// A pending export settled by [`Registry::settle_pending_exports`].
#[derive(Clone, Debug)]
pub struct Settled {
    pub id: i64,
    pub output_path: String,
    pub state: PublishState,
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
    /// The registry point the export read.
    pub seq: Option<i64>,
    /// The point was inferred from the times when the registry was
    /// upgraded to keep points (the export predates them).
    pub seq_inferred: bool,
    /// The `--as-of` REF as given.
    pub as_of: Option<String>,
    /// The digest of the table's schema and cells (none for exports
    /// recorded before content digests were kept).
    pub content_digest: Option<String>,
    pub note: Option<String>,
    /// The tags that name this export.
    pub tags: Vec<String>,
    /// Whether its output was put in place.
    pub state: PublishState,
}

impl Registry {
    /// Every scorer with at least one score live `at` the read's point,
    /// with the settings in force then.
    pub fn live_scorers(&self, at: At) -> Result<Vec<LiveScorer>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.live_scorers(at);
        }
        let (query, params) = match at {
            At::Live => (sql::LIVE_SCORERS, Vec::new()),
            At::Point(seq) => (sql::SCORERS_AT_POINT, vec![seq]),
        };
        let mut stmt = self.conn.prepare(query).map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |row| {
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
        if let Some(mut pg) = self.pg() {
            return pg.source_files();
        }
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

    /// Hand every score of `scorer` live `at` the read's point to `visit`,
    /// without collecting them. (The export digests what it reads itself,
    /// the same way for scores held in memory and scores read from here,
    /// in any order.)
    pub fn visit_live_scores(
        &self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(LiveScore),
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.visit_live_scores(scorer, at, visit);
        }
        let live = if at == At::Live && self.live_rows_are_dense(scorer.id)? {
            sql::LIVE_SCORES_OF_SCORER_SCANNED
        } else {
            sql::LIVE_SCORES_OF_SCORER
        };
        self.visit_scorer_rows(scorer, at, (live, sql::SCORES_AT_POINT), |row| {
            visit(live_score(row)?);
            Ok(())
        })
    }

    /// [`Registry::visit_live_scores`] with each score's key as its file
    /// wrote it (`None`: as stored) and the field it came from:
    /// `visit(score, written, field)`, in no particular order. One read
    /// where an export that normalises the registry's keys would otherwise
    /// read the scores and then the keys' forms
    /// ([`Registry::visit_live_key_forms`]).
    pub fn visit_live_scores_with_key_forms(
        &self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(LiveScore, Option<&str>, &str),
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.visit_live_scores_with_key_forms(scorer, at, visit);
        }
        let live = if at == At::Live && self.live_rows_are_dense(scorer.id)? {
            sql::LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER_SCANNED
        } else {
            sql::LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER
        };
        let queries = (live, sql::SCORES_WITH_KEY_FORMS_AT_POINT);
        self.visit_scorer_rows(scorer, at, queries, |row| {
            let written = match row.get_ref(6)? {
                rusqlite::types::ValueRef::Null => None,
                value => Some(value.as_str()?),
            };
            visit(live_score(row)?, written, row.get_ref(7)?.as_str()?);
            Ok(())
        })
    }

    /// Whether `scorer_id`'s live scores are at least a
    /// [`DENSE_SHARE`]th of every score row the registry holds (the kept
    /// counts say, without reading rows). Read through the live index,
    /// each score is a lookup of its row by id, in key order, so at
    /// random across the table's 64 KiB pages: once a scorer's rows are a
    /// good share of the table, scanning the table in id order reads them
    /// several times faster (W1's 150,000 scores of one scorer among
    /// 750,000: 0.3 s against 2.1 s), and the export needs them in no
    /// order.
    fn live_rows_are_dense(&self, scorer_id: i64) -> Result<bool, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_AND_ALL_SCORE_ROWS)
            .map_err(|e| self.sqlite_error(e))?;
        let (live, all): (i64, i64) = stmt
            .query_row([scorer_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| self.sqlite_error(e))?;
        Ok(live > 0 && live.saturating_mul(DENSE_SHARE) >= all)
    }

    /// Run the live or the at-point form of a per-scorer query (`queries`)
    /// for `scorer` and hand each row to `visit`, without collecting them.
    fn visit_scorer_rows(
        &self,
        scorer: &LiveScorer,
        at: At,
        queries: (&'static str, &'static str),
        mut visit: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), RegistryError> {
        let (query, extra) = at.pick(queries.0, queries.1);
        let mut stmt = self
            .conn
            .prepare_cached(query)
            .map_err(|e| self.sqlite_error(e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(At::params(&extra, scorer.id)))
            .map_err(|e| self.sqlite_error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.sqlite_error(e))? {
            visit(row).map_err(|e| self.sqlite_error(e))?;
        }
        Ok(())
    }

    /// The keys of `scorer`'s scores live `at` the read's point, each as
    /// stored, as its file wrote it and with the field it was read from:
    /// `visit(stored, written, field)`, in no particular order. What an
    /// export normalises when its normalisation is not the one the keys
    /// were stored with.
    pub fn visit_live_key_forms(
        &self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(&str, &str, &str),
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.visit_live_key_forms(scorer, at, visit);
        }
        let live = if at == At::Live && self.live_rows_are_dense(scorer.id)? {
            sql::LIVE_KEY_FORMS_OF_SCORER_SCANNED
        } else {
            sql::LIVE_KEY_FORMS_OF_SCORER
        };
        self.visit_scorer_rows(scorer, at, (live, sql::KEY_FORMS_AT_POINT), |row| {
            let stored = row.get_ref(0)?.as_str()?;
            let written = match row.get_ref(1)? {
                rusqlite::types::ValueRef::Null => stored,
                value => value.as_str()?,
            };
            visit(stored, written, row.get_ref(2)?.as_str()?);
            Ok(())
        })
    }

    /// The named components of `scorer`'s scores live `at` the read's
    /// point: `visit(key, name, value)` for each, ordered by component
    /// name then key.
    pub fn visit_live_components(
        &self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(&str, &str, Option<f64>),
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.visit_live_components(scorer, at, visit);
        }
        let queries = (sql::LIVE_COMPONENTS_OF_SCORER, sql::COMPONENTS_AT_POINT);
        self.visit_scorer_rows(scorer, at, queries, |row| {
            visit(
                row.get_ref(0)?.as_str()?,
                row.get_ref(1)?.as_str()?,
                row.get(2)?,
            );
            Ok(())
        })
    }

    /// The stored frames of `scorer`'s scores live `at` the read's point:
    /// `visit(key, (frame index, value, runtime))`, a score's frames
    /// together and in frame order.
    pub fn visit_live_frames(
        &self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(&str, crate::frames::StoredFrame),
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.visit_live_frames(scorer, at, visit);
        }
        let queries = (sql::LIVE_FRAMES_OF_SCORER, sql::FRAMES_AT_POINT);
        self.visit_scorer_rows(scorer, at, queries, |row| {
            visit(
                row.get_ref(0)?.as_str()?,
                (row.get(1)?, row.get(2)?, row.get(3)?),
            );
            Ok(())
        })
    }

    /// The `--scorer-version`s of the files `scorer`'s scores live `at` the
    /// read's point came from.
    pub fn live_versions(&self, scorer: &LiveScorer, at: At) -> Result<Vec<String>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.live_versions(scorer, at);
        }
        let mut versions = Vec::new();
        let queries = (sql::LIVE_VERSIONS_FROM_COUNTS, sql::VERSIONS_AT_POINT);
        self.visit_scorer_rows(scorer, at, queries, |row| {
            versions.push(row.get(0)?);
            Ok(())
        })?;
        Ok(versions)
    }

    /// Hand `scorer`'s rows live `at` the read's point to `visit` in key
    /// order, with where each came from (`export --scores-only`).
    pub fn visit_scores_table(
        &self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(ScoresTableRow),
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.visit_scores_table(scorer, at, visit);
        }
        let queries = (sql::SCORES_TABLE_LIVE, sql::SCORES_TABLE_AT_POINT);
        self.visit_scorer_rows(scorer, at, queries, |row| {
            visit(ScoresTableRow {
                key: row.get(0)?,
                score: row.get(1)?,
                status: row.get(2)?,
                runtime_ms: row.get(3)?,
                frames: row.get(4)?,
                source_path: row.get(5)?,
                line: row.get(6)?,
                source_sha256: row.get(7)?,
                ingested_at: row.get(8)?,
                version: row.get(9)?,
                source_file_id: row.get(10)?,
            });
            Ok(())
        })
    }

    /// Record an export, with its note, and name it `tag` when given (the
    /// record and the tag are written together or not at all); returns its
    /// id. The record is pending until [`Registry::confirm_export`]: write
    /// it before the output is renamed into place, confirm it after.
    pub fn record_export(
        &self,
        export: &ExportRecord,
        tag: Option<&str>,
    ) -> Result<i64, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.record_export(export, tag);
        }
        self.conn
            .execute_batch(sql::BEGIN_RECORD_SAVEPOINT)
            .map_err(|e| self.sqlite_error(e))?;
        let recorded = self.insert_export(export).and_then(|id| {
            if let Some(name) = tag {
                let point = super::Point {
                    seq: export.seq.unwrap_or(0),
                    at: None,
                    export: Some(id),
                };
                self.tag_point(name, &point)?;
            }
            Ok(id)
        });
        let end = if recorded.is_ok() {
            sql::RELEASE_RECORD_SAVEPOINT
        } else {
            sql::ROLLBACK_RECORD_SAVEPOINT
        };
        let ended = self.conn.execute_batch(end);
        let id = recorded?;
        ended.map_err(|e| self.sqlite_error(e))?;
        Ok(id)
    }

    fn insert_export(&self, export: &ExportRecord) -> Result<i64, RegistryError> {
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
                    export.tool_version,
                    export.seq,
                    export.as_of,
                    export.content_digest,
                    export.note,
                    crate::writer_process::this_process()
                ],
            )
            .map_err(|e| self.sqlite_error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The export's output is in place.
    pub fn confirm_export(&self, id: i64) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.confirm_export(id);
        }
        self.conn
            .execute(sql::CONFIRM_EXPORT, params![id])
            .map(drop)
            .map_err(|e| self.sqlite_error(e))
    }

    /// The export's output was not put in place (its publishing failed).
    pub fn abandon_export(&self, id: i64) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.abandon_export(id);
        }
        self.conn
            .execute(sql::ABANDON_EXPORT, params![id, now_rfc3339()])
            .map(drop)
            .map_err(|e| self.sqlite_error(e))
    }

    /// Settle the exports a killed run left pending: published when the
    /// file at the output path is the recorded output, abandoned when it
    /// is not. A record whose run may still be going (its process runs on
    /// this machine, or it is another machine's and less than an hour old)
    /// is left alone. Returns what was settled.
    pub fn settle_pending_exports(&self) -> Result<Vec<Settled>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.settle_pending_exports();
        }
        let pending: Vec<(i64, String, String, String, Option<String>)> = self
            .conn
            .prepare(sql::PENDING_EXPORTS)
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })?
                .collect()
            })
            .map_err(|e| self.sqlite_error(e))?;
        let now = chrono::Utc::now();
        let mut settled = Vec::new();
        for (id, created_at, output_path, output_sha256, recorded_by) in pending {
            let idle = chrono::DateTime::parse_from_rfc3339(&created_at)
                .ok()
                .and_then(|at| (now - at.with_timezone(&chrono::Utc)).to_std().ok())
                .unwrap_or_default();
            if !crate::writer_process::is_gone(recorded_by.as_deref(), idle) {
                continue;
            }
            let in_place = crate::digest::sha256_file(std::path::Path::new(&output_path))
                .is_ok_and(|sha256| sha256 == output_sha256);
            let state = if in_place {
                PublishState::Published
            } else {
                PublishState::Abandoned
            };
            self.conn
                .execute(sql::SETTLE_EXPORT, params![id, state.name(), now_rfc3339()])
                .map_err(|e| self.sqlite_error(e))?;
            settled.push(Settled {
                id,
                output_path,
                state,
            });
        }
        Ok(settled)
    }

    /// Refuse, before an export runs, a tag it could not take afterwards.
    pub fn check_tag_free(&self, name: &str) -> Result<(), RegistryError> {
        super::points::check_tag_name(name).map_err(|message| RegistryError::Refused {
            path: self.path.clone(),
            message,
        })?;
        if let Some(tag) = self.tags()?.into_iter().find(|t| t.name == name) {
            return Err(RegistryError::Refused {
                path: self.path.clone(),
                message: format!(
                    "tag '{name}' already names seq:{}{}; tags are immutable: choose another name",
                    tag.seq,
                    tag.export_id
                        .map(|id| format!(", export {id}"))
                        .unwrap_or_default()
                ),
            });
        }
        Ok(())
    }

    /// Export `id` as recorded.
    pub fn export_record(&self, id: i64) -> Result<ExportRecord, RegistryError> {
        match self.exports()?.into_iter().find(|e| e.id == id) {
            Some(record) => Ok(record),
            None => Err(RegistryError::NotFound {
                path: self.path.clone(),
                message: self.no_export_message(id)?,
            }),
        }
    }

    /// Every recorded export, oldest first.
    pub fn exports(&self) -> Result<Vec<ExportRecord>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.exports();
        }
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
                    seq: row.get(15)?,
                    seq_inferred: row.get(16)?,
                    as_of: row.get(17)?,
                    content_digest: row.get(18)?,
                    note: row.get(19)?,
                    tags: Vec::new(),
                    state: PublishState::parse(&row.get::<_, String>(20)?),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        let mut exports = rows.map_err(|e| self.sqlite_error(e))?;
        for tag in self.tags()? {
            if let Some(export) = tag
                .export_id
                .and_then(|id| exports.iter_mut().find(|e| e.id == id))
            {
                export.tags.push(tag.name);
            }
        }
        Ok(exports)
    }
}

/// A live score from the first six columns every live-score query of this
/// module selects: key, score, status, runtime, frame count, source file.
fn live_score(row: &rusqlite::Row<'_>) -> rusqlite::Result<LiveScore> {
    Ok(LiveScore {
        key: row.get(0)?,
        score: row.get(1)?,
        bad: row.get_ref(2)?.as_str()? == "bad",
        runtime_ms: row.get(3)?,
        frame_count: row.get(4)?,
        source_file_id: row.get(5)?,
    })
}
