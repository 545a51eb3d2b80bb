//! What exports, `scorers` and `files` read from a PostgreSQL registry,
//! and the records exports leave: the same answers as the SQLite
//! registry's (`registry/exports.rs`, `points.rs`, `queries.rs`).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use postgres::types::ToSql;
use postgres::Row;

use super::{sql, PgBackend};
use crate::ingest::suspicious::Warning;
use crate::registry::exports::{
    At, ExportRecord, LiveScore, LiveScorer, PublishState, ScoresTableRow, Settled, SourceFile,
};
use crate::registry::history::{FileAt, RowAt};
use crate::registry::queries::{FileSummary, ProvenanceEntry, ScorerSummary};
use crate::registry::{now_rfc3339, Point, PointRef, RegistryError, Tag};
use crate::scorer::Scale;

fn scale(min: Option<f64>, max: Option<f64>) -> Option<Scale> {
    min.zip(max).map(|(min, max)| Scale { min, max })
}

impl PgBackend {
    /// Run a query and hand each row to `visit` as the server sends it,
    /// without collecting them.
    pub(super) fn visit(
        &mut self,
        query: &str,
        params: &[&(dyn ToSql + Sync)],
        mut visit: impl FnMut(&Row),
    ) -> Result<(), RegistryError> {
        use postgres::fallible_iterator::FallibleIterator;
        let shown = &self.shown;
        let error = |source| RegistryError::Postgres {
            path: shown.clone(),
            source,
        };
        let mut rows = self
            .client
            .query_raw(query, params.iter().copied())
            .map_err(error)?;
        while let Some(row) = rows.next().map_err(error)? {
            visit(&row);
        }
        Ok(())
    }

    /// The live or the at-point form of a per-scorer query.
    fn visit_scorer(
        &mut self,
        scorer: &LiveScorer,
        at: At,
        queries: (&str, &str),
        visit: impl FnMut(&Row),
    ) -> Result<(), RegistryError> {
        match at {
            At::Live => self.visit(queries.0, &[&scorer.id], visit),
            At::Point(seq) => self.visit(queries.1, &[&scorer.id, &seq], visit),
        }
    }

    pub(crate) fn live_scorers(&mut self, at: At) -> Result<Vec<LiveScorer>, RegistryError> {
        let mut scorers = Vec::new();
        let keep = |row: &Row| {
            let hard = scale(row.get(3), row.get(4));
            let typical = scale(row.get(5), row.get(6));
            scorers.push(LiveScorer {
                id: row.get(0),
                name: row.get(1),
                slug: row.get(2),
                range: hard.or(typical),
                higher_is_better: row.get(7),
            });
        };
        match at {
            At::Live => self.visit(sql::LIVE_SCORERS, &[], keep)?,
            At::Point(seq) => self.visit(sql::SCORERS_AT_POINT, &[&seq], keep)?,
        }
        Ok(scorers)
    }

    pub(crate) fn source_files(&mut self) -> Result<HashMap<i64, SourceFile>, RegistryError> {
        let mut files = HashMap::new();
        self.visit(sql::SOURCE_FILE_PATHS, &[], |row| {
            files.insert(
                row.get(0),
                SourceFile {
                    path: row.get(1),
                    sha256: row.get(2),
                },
            );
        })?;
        Ok(files)
    }

    pub(crate) fn visit_live_scores(
        &mut self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(LiveScore),
    ) -> Result<(), RegistryError> {
        let queries = (sql::LIVE_SCORES_OF_SCORER, sql::SCORES_AT_POINT);
        self.visit_scorer(scorer, at, queries, |row| visit(live_score(row)))
    }

    pub(crate) fn visit_live_scores_with_key_forms(
        &mut self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(LiveScore, Option<&str>, &str),
    ) -> Result<(), RegistryError> {
        let queries = (
            sql::LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER,
            sql::SCORES_WITH_KEY_FORMS_AT_POINT,
        );
        self.visit_scorer(scorer, at, queries, |row| {
            visit(live_score(row), row.get(6), row.get(7))
        })
    }

    pub(crate) fn visit_live_key_forms(
        &mut self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(&str, &str, &str),
    ) -> Result<(), RegistryError> {
        let queries = (sql::LIVE_KEY_FORMS_OF_SCORER, sql::KEY_FORMS_AT_POINT);
        self.visit_scorer(scorer, at, queries, |row| {
            visit(row.get(0), row.get(1), row.get(2))
        })
    }

    pub(crate) fn visit_live_components(
        &mut self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(&str, &str, Option<f64>),
    ) -> Result<(), RegistryError> {
        let queries = (sql::LIVE_COMPONENTS_OF_SCORER, sql::COMPONENTS_AT_POINT);
        self.visit_scorer(scorer, at, queries, |row| {
            visit(row.get(0), row.get(1), row.get(2))
        })
    }

    pub(crate) fn visit_live_frames(
        &mut self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(&str, crate::frames::StoredFrame),
    ) -> Result<(), RegistryError> {
        let queries = (sql::LIVE_FRAMES_OF_SCORER, sql::FRAMES_AT_POINT);
        self.visit_scorer(scorer, at, queries, |row| {
            visit(row.get(0), (row.get(1), row.get(2), row.get(3)))
        })
    }

    pub(crate) fn live_versions(
        &mut self,
        scorer: &LiveScorer,
        at: At,
    ) -> Result<Vec<String>, RegistryError> {
        let mut versions = Vec::new();
        let queries = (sql::LIVE_VERSIONS_OF_SCORER, sql::VERSIONS_AT_POINT);
        self.visit_scorer(scorer, at, queries, |row| versions.push(row.get(0)))?;
        Ok(versions)
    }

    pub(crate) fn visit_scores_table(
        &mut self,
        scorer: &LiveScorer,
        at: At,
        mut visit: impl FnMut(ScoresTableRow),
    ) -> Result<(), RegistryError> {
        let queries = (sql::SCORES_TABLE_LIVE, sql::SCORES_TABLE_AT_POINT);
        self.visit_scorer(scorer, at, queries, |row| {
            visit(ScoresTableRow {
                key: row.get(0),
                score: row.get(1),
                status: row.get(2),
                runtime_ms: row.get(3),
                frames: row.get(4),
                source_path: row.get(5),
                line: row.get(6),
                source_sha256: row.get(7),
                ingested_at: row.get(8),
                version: row.get(9),
                source_file_id: row.get(10),
            })
        })
    }

    pub(crate) fn scorers(&mut self) -> Result<Vec<ScorerSummary>, RegistryError> {
        let mut scorers = Vec::new();
        self.visit(sql::LIST_SCORERS, &[], |row| {
            let name: String = row.get(0);
            let count = |i: usize| row.get::<_, i64>(i) as u64;
            let files: Vec<String> = row.get(13);
            scorers.push(ScorerSummary {
                warnings: files
                    .iter()
                    .filter_map(|text| serde_json::from_str::<Vec<Warning>>(text).ok())
                    .flatten()
                    .filter(|w| w.scorer == name)
                    .map(|w| format!("{} [{}]", w.message, w.check))
                    .collect(),
                slug: row.get(1),
                scale_min: row.get(2),
                scale_max: row.get(3),
                higher_is_better: row.get(4),
                live_rows: count(5),
                ok_rows: count(6),
                bad_rows: count(7),
                superseded_rows: count(8),
                files: count(9),
                typical_min: row.get(10),
                typical_max: row.get(11),
                versions: row.get(12),
                name,
            });
        })?;
        Ok(scorers)
    }

    pub(crate) fn files(&mut self) -> Result<Vec<FileSummary>, RegistryError> {
        let mut files = Vec::new();
        self.visit(sql::LIST_FILES, &[], |row| {
            files.push(FileSummary {
                id: row.get(0),
                path: row.get(1),
                absolute_path: row.get(2),
                sha256: row.get(3),
                size_bytes: row.get::<_, i64>(4) as u64,
                format: row.get(5),
                label: row.get(6),
                ingested_at: row.get(7),
                tool_version: row.get(8),
                rows: row.get::<_, i64>(9) as u64,
                live_rows: row.get::<_, i64>(10) as u64,
                scorers: row.get(11),
            });
        })?;
        Ok(files)
    }

    pub(crate) fn latest_point(&mut self) -> Result<Point, RegistryError> {
        let latest = self
            .client
            .query_opt(sql::LATEST_CHANGE, &[])
            .map_err(|e| self.error(e))?;
        Ok(match latest {
            Some(row) => Point {
                seq: row.get(0),
                at: Some(row.get(1)),
                export: None,
            },
            None => Point {
                seq: 0,
                at: None,
                export: None,
            },
        })
    }

    /// As [`crate::registry::Registry::resolve_point`], with its messages.
    pub(crate) fn resolve_point(&mut self, reference: &PointRef) -> Result<Point, RegistryError> {
        let latest = self.latest_point()?;
        let not_found = |path: &std::path::Path, message: String| RegistryError::NotFound {
            path: path.to_path_buf(),
            message,
        };
        let (seq, export) = match reference {
            PointRef::Export(id) => {
                let row = self
                    .client
                    .query_opt(sql::EXPORT_SEQ, &[id])
                    .map_err(|e| self.error(e))?;
                match row.and_then(|row| row.get::<_, Option<i64>>(0)) {
                    Some(seq) => (seq, Some(*id)),
                    None => {
                        let message = self.no_export_message(*id)?;
                        return Err(not_found(&self.shown, message));
                    }
                }
            }
            PointRef::Tag(name) => {
                let row = self
                    .client
                    .query_opt(sql::TAG_BY_NAME, &[name])
                    .map_err(|e| self.error(e))?;
                match row {
                    Some(row) => (row.get(0), row.get(1)),
                    None => {
                        let tags = self.tags()?;
                        let message = if tags.is_empty() {
                            format!(
                                "no tag '{name}': no point is tagged yet \
                                 (name one with `exports tag NAME REF`)"
                            )
                        } else {
                            let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
                            format!("no tag '{name}' (tags: {})", names.join(", "))
                        };
                        return Err(not_found(&self.shown, message));
                    }
                }
            }
            PointRef::Seq(seq) => {
                if *seq < 1 || *seq > latest.seq {
                    return Err(not_found(
                        &self.shown,
                        if latest.seq == 0 {
                            format!("no point seq:{seq}: nothing was ingested yet")
                        } else {
                            format!(
                                "no point seq:{seq}: the registry's points run from seq:1 to seq:{}",
                                latest.seq
                            )
                        },
                    ));
                }
                (*seq, None)
            }
            PointRef::Time(time) => {
                let text = time.to_rfc3339_opts(SecondsFormat::Millis, true);
                if *time > Utc::now() {
                    return Err(not_found(
                        &self.shown,
                        format!("{text} is in the future (now: {})", now_rfc3339()),
                    ));
                }
                let seq: Option<i64> = self
                    .client
                    .query_one(sql::LAST_CHANGE_AT_OR_BEFORE, &[&text])
                    .map_err(|e| self.error(e))?
                    .get(0);
                match seq {
                    Some(seq) => (seq, None),
                    None => {
                        let first = self
                            .client
                            .query_opt(sql::FIRST_CHANGE_AT, &[])
                            .map_err(|e| self.error(e))?
                            .map(|row| row.get::<_, String>(0));
                        return Err(not_found(
                            &self.shown,
                            match first {
                                Some(first) => format!(
                                    "{text} is before the registry's first point (seq:1 at {first})"
                                ),
                                None => format!("{text}: nothing was ingested yet"),
                            },
                        ));
                    }
                }
            }
        };
        let at = self
            .client
            .query_opt(sql::CHANGE_AT, &[&seq])
            .map_err(|e| self.error(e))?
            .map(|row| row.get(0));
        Ok(Point { seq, at, export })
    }

    pub(crate) fn no_export_message(&mut self, id: i64) -> Result<String, RegistryError> {
        let row = self
            .client
            .query_one(sql::EXPORT_ID_RANGE, &[])
            .map_err(|e| self.error(e))?;
        Ok(
            match (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)) {
                (Some(first), Some(last)) => {
                    format!("no export {id}: exports run from {first} to {last}")
                }
                _ => format!("no export {id}: no export is recorded yet"),
            },
        )
    }

    pub(crate) fn tags(&mut self) -> Result<Vec<Tag>, RegistryError> {
        let mut tags = Vec::new();
        self.visit(sql::LIST_TAGS, &[], |row| {
            tags.push(Tag {
                name: row.get(0),
                seq: row.get(1),
                export_id: row.get(2),
                created_at: row.get(3),
            })
        })?;
        Ok(tags)
    }

    /// Every recorded export, oldest first, with its tags.
    pub(crate) fn exports(&mut self) -> Result<Vec<ExportRecord>, RegistryError> {
        let json =
            |text: String| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        let mut exports = Vec::new();
        self.visit(sql::LIST_EXPORTS, &[], |row| {
            exports.push(ExportRecord {
                id: row.get(0),
                created_at: row.get(1),
                command: row.get(2),
                features_path: row.get(3),
                features_sha256: row.get(4),
                output_path: row.get(5),
                output_sha256: row.get(6),
                output_format: row.get(7),
                input_rows: row.get::<_, i64>(8) as u64,
                output_rows: row.get::<_, i64>(9) as u64,
                scorers: json(row.get(10)),
                options: json(row.get(11)),
                registry_state: json(row.get(12)),
                registry_digest: row.get(13),
                tool_version: row.get(14),
                seq: row.get(15),
                seq_inferred: row.get(16),
                as_of: row.get(17),
                content_digest: row.get(18),
                note: row.get(19),
                tags: Vec::new(),
                state: match row.get::<_, &str>(20) {
                    "pending" => PublishState::Pending,
                    "abandoned" => PublishState::Abandoned,
                    _ => PublishState::Published,
                },
            })
        })?;
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

    /// Record an export (pending) and its tag together; returns its id.
    pub(crate) fn record_export(
        &mut self,
        export: &ExportRecord,
        tag: Option<&str>,
    ) -> Result<i64, RegistryError> {
        let shown = self.shown.clone();
        let error = |source| RegistryError::Postgres {
            path: shown.clone(),
            source,
        };
        self.write_transaction(error, |mut tx| {
            let (scorers, options, state) = (
                export.scorers.to_string(),
                export.options.to_string(),
                export.registry_state.to_string(),
            );
            let (input_rows, output_rows) = (export.input_rows as i64, export.output_rows as i64);
            let recorded_by = crate::writer_process::this_process();
            let id: i64 = tx
                .query_one(
                    sql::INSERT_EXPORT,
                    &[
                        &now_rfc3339(),
                        &export.command,
                        &export.features_path,
                        &export.features_sha256,
                        &export.output_path,
                        &export.output_sha256,
                        &export.output_format,
                        &input_rows,
                        &output_rows,
                        &scorers,
                        &options,
                        &state,
                        &export.registry_digest,
                        &export.tool_version,
                        &export.seq,
                        &export.as_of,
                        &export.content_digest,
                        &export.note,
                        &recorded_by,
                    ],
                )
                .map_err(error)?
                .get(0);
            if let Some(name) = tag {
                let seq = export.seq.unwrap_or(0);
                let written = tx
                    .execute(sql::INSERT_TAG, &[&name, &seq, &id, &now_rfc3339()])
                    .map_err(error)?;
                if written == 0 {
                    return Err(RegistryError::Refused {
                        path: shown.clone(),
                        message: format!(
                            "tag '{name}' already exists; tags are immutable: choose another name"
                        ),
                    });
                }
            }
            tx.commit().map_err(error)?;
            Ok(id)
        })
    }

    pub(crate) fn confirm_export(&mut self, id: i64) -> Result<(), RegistryError> {
        self.client
            .execute(sql::CONFIRM_EXPORT, &[&id])
            .map(drop)
            .map_err(|e| self.error(e))
    }

    pub(crate) fn abandon_export(&mut self, id: i64) -> Result<(), RegistryError> {
        self.client
            .execute(sql::ABANDON_EXPORT, &[&id, &now_rfc3339()])
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// As SQLite's: a pending export whose run is gone is published when
    /// its output is in place, else abandoned.
    pub(crate) fn settle_pending_exports(&mut self) -> Result<Vec<Settled>, RegistryError> {
        let mut pending = Vec::new();
        self.visit(sql::PENDING_EXPORTS, &[], |row| {
            pending.push((
                row.get::<_, i64>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, String>(3),
                row.get::<_, Option<String>>(4),
            ))
        })?;
        let now = Utc::now();
        let mut settled = Vec::new();
        for (id, created_at, output_path, output_sha256, recorded_by) in pending {
            let idle = DateTime::parse_from_rfc3339(&created_at)
                .ok()
                .and_then(|at| (now - at.with_timezone(&Utc)).to_std().ok())
                .unwrap_or_default();
            if !crate::writer_process::is_gone(recorded_by.as_deref(), idle) {
                continue;
            }
            let in_place = crate::digest::sha256_file(std::path::Path::new(&output_path))
                .is_ok_and(|sha256| sha256 == output_sha256);
            let state = match in_place {
                true => PublishState::Published,
                false => PublishState::Abandoned,
            };
            self.client
                .execute(sql::SETTLE_EXPORT, &[&id, &state.name(), &now_rfc3339()])
                .map_err(|e| self.error(e))?;
            settled.push(Settled {
                id,
                output_path,
                state,
            });
        }
        Ok(settled)
    }

    /// Tag `name`'s point, export and creation time, if it exists.
    pub(crate) fn tag_details(
        &mut self,
        name: &str,
    ) -> Result<Option<(i64, Option<i64>, String)>, RegistryError> {
        let row = self
            .client
            .query_opt(sql::TAG_DETAILS, &[&name])
            .map_err(|e| self.error(e))?;
        Ok(row.map(|row| (row.get(0), row.get(1), row.get(2))))
    }

    /// Write a tag; false when another user took the name meanwhile.
    pub(crate) fn insert_tag(
        &mut self,
        name: &str,
        seq: i64,
        export: Option<i64>,
        created_at: &str,
    ) -> Result<bool, RegistryError> {
        let written = self
            .client
            .execute(sql::INSERT_TAG, &[&name, &seq, &export, &created_at])
            .map_err(|e| self.error(e))?;
        Ok(written > 0)
    }

    pub(crate) fn rows_at(
        &mut self,
        scorer_id: i64,
        seq: i64,
    ) -> Result<Vec<RowAt>, RegistryError> {
        let mut rows = Vec::new();
        self.visit(sql::ROWS_AT_POINT_WITH_SOURCE, &[&scorer_id, &seq], |row| {
            rows.push(RowAt {
                key: row.get(0),
                score: row.get(1),
                status: row.get(2),
                path: row.get(3),
                line: row.get::<_, i64>(4) as u64,
            })
        })?;
        Ok(rows)
    }

    pub(crate) fn files_at(
        &mut self,
        scorer_id: i64,
        seq: i64,
    ) -> Result<Vec<FileAt>, RegistryError> {
        let mut files = Vec::new();
        self.visit(sql::FILES_AT_POINT, &[&scorer_id, &seq], |row| {
            files.push(FileAt {
                id: row.get(0),
                path: row.get(1),
                sha256: row.get(2),
                ingested_at: row.get(3),
                scorer_version: row.get(4),
                ok: row.get::<_, i64>(5) as u64,
                bad: row.get::<_, i64>(6) as u64,
            })
        })?;
        Ok(files)
    }

    pub(crate) fn scorer_by_slug(
        &mut self,
        slug: &str,
    ) -> Result<Option<(i64, String)>, RegistryError> {
        let row = self
            .client
            .query_opt(sql::SCORER_NAME_BY_SLUG, &[&slug])
            .map_err(|e| self.error(e))?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    pub(crate) fn all_scorers(&mut self) -> Result<Vec<(i64, String)>, RegistryError> {
        let mut scorers = Vec::new();
        self.visit(sql::ALL_SCORERS, &[], |row| {
            scorers.push((row.get(0), row.get(1)))
        })?;
        Ok(scorers)
    }

    pub(crate) fn keys_from_stem(
        &mut self,
        scorer_id: i64,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let mut keys = Vec::new();
        self.visit(sql::KEYS_FROM_STEM, &[&scorer_id, &from, &to], |row| {
            keys.push(row.get(0))
        })?;
        Ok(keys)
    }

    /// As [`crate::registry::Registry::provenance`]'s rows of one key.
    pub(crate) fn score_history(
        &mut self,
        scorer_id: i64,
        scorer_name: &str,
        key: &str,
        match_raw: bool,
    ) -> Result<Vec<ProvenanceEntry>, RegistryError> {
        let mut entries = Vec::new();
        self.visit(sql::SCORE_HISTORY, &[&scorer_id, &key, &match_raw], |row| {
            let superseded_at: Option<String> = row.get(10);
            entries.push(ProvenanceEntry {
                scorer: scorer_name.to_string(),
                key: row.get(0),
                raw_key: row.get(1),
                key_field: row.get(2),
                score: row.get(3),
                status: row.get(4),
                reason: row.get(5),
                note: row.get(18),
                runtime_ms: row.get(6),
                frame_count: row.get::<_, i64>(7) as u64,
                line: row.get::<_, i64>(8) as u64,
                ingested_at: row.get(9),
                live: superseded_at.is_none(),
                superseded_at,
                path: row.get(11),
                absolute_path: row.get(12),
                sha256: row.get(13),
                format: row.get(14),
                label: row.get(15),
                superseded_by: row.get(16),
                scorer_version: row.get(17),
                raw_value: row.get(21),
                live_from_seq: row.get(19),
                live_until_seq: row.get(20),
                live_at_point: None,
            })
        })?;
        Ok(entries)
    }
}

/// A live score from the first six columns every live-score query selects:
/// key, score, status, runtime, frame count, source file.
fn live_score(row: &postgres::Row) -> LiveScore {
    LiveScore {
        key: row.get(0),
        score: row.get(1),
        bad: row.get::<_, &str>(2) == "bad",
        runtime_ms: row.get(3),
        frame_count: row.get(4),
        source_file_id: row.get(5),
    }
}
