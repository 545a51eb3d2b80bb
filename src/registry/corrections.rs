//! Corrections: retire a file, change a scorer's settings, rename or merge
//! scorers. Each is one new point in time; nothing is deleted. Rows a
//! correction changes are superseded at its point and, where they stay
//! live in another form, copied with `born_seq` set to it, so an export as
//! of any earlier point still reads what was live then.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::points::{begin_change, stamp_change};
use super::{now_rfc3339, sql, Point, Registry, RegistryError};
use crate::ingest::rules::outside_scale_reason;
use crate::scorer::{slug, Scale};

/// What `files retire` did.
#[derive(Clone, Debug, Serialize)]
pub struct Retirement {
    pub point: Point,
    pub file_id: i64,
    pub path: String,
    pub sha256: String,
    /// Live rows the file held, now superseded.
    pub retired: u64,
    /// Rows the file's ingest had superseded for keys it held live.
    pub previous: u64,
    /// Of those, made live again (`--restore-previous`).
    pub restored: u64,
}

/// New settings for a scorer (`scorers set`); `None` keeps one as it is.
#[derive(Clone, Debug, Default)]
pub struct ScorerSettings {
    pub scale: Option<Scale>,
    pub higher_is_better: Option<bool>,
    pub version: Option<String>,
}

/// What a scorer correction did.
#[derive(Clone, Debug, Serialize)]
pub struct ScorerCorrection {
    pub point: Point,
    pub scorer: String,
    /// What changed, in words.
    pub changes: Vec<String>,
    /// Live rows the new scale made bad, and made ok.
    pub now_bad: u64,
    pub now_ok: u64,
    /// Live rows moved to another scorer (`merge`).
    pub moved: u64,
}

/// A row as a correction copies it: scorer, score, status, reason, raw value.
pub(crate) type RowForCopy = (i64, Option<f64>, String, Option<String>, Option<f64>);

/// A file a `files retire` selector matched: id, path, sha256, ingested
/// at, retired at, live rows.
pub(crate) type FileMatch = (i64, String, String, String, Option<i64>, u64);

/// A scorer as a correction reads it.
pub(crate) struct ScorerRow {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub scale: Option<Scale>,
    pub higher_is_better: Option<bool>,
    pub version: Option<String>,
    pub merged_into: Option<i64>,
}

/// A live row a new scale judges again: id, score, status, reason, raw value.
pub(crate) type RowToJudge = (i64, Option<f64>, String, Option<String>, Option<f64>);

impl Registry {
    fn refused(&self, message: String) -> RegistryError {
        RegistryError::Refused {
            path: self.path.clone(),
            message,
        }
    }

    /// Run `work` in one write transaction that opens point `kind`; the
    /// point is stamped as it commits. On error nothing is kept.
    fn correction<T>(
        &self,
        kind: &str,
        detail: serde_json::Value,
        work: impl FnOnce(i64) -> Result<T, RegistryError>,
    ) -> Result<(T, Point), RegistryError> {
        // On PostgreSQL a change's point is taken as it commits (see
        // `postgres/corrections.rs`): `work` gets point 0, and the backend
        // stamps the real one on what it wrote.
        let began = self.pg().map(|mut pg| pg.begin_correction());
        if let Some(began) = began {
            began?;
            let done = work(0).and_then(|value| {
                let seq = self.pg().map(|mut pg| pg.commit_correction(kind, &detail));
                Ok((value, seq.expect("on PostgreSQL")?))
            });
            return match done {
                Ok((value, seq)) => Ok((value, self.resolve_point(&super::PointRef::Seq(seq))?)),
                Err(e) => {
                    // The error matters more than a failed rollback, which
                    // the server completes when the connection closes.
                    let _ = self.pg().map(|mut pg| pg.rollback_correction());
                    Err(e)
                }
            };
        }
        let sqlite = |e| self.sqlite_error(e);
        self.conn.execute_batch(sql::BEGIN_WRITE).map_err(sqlite)?;
        let result = begin_change(&self.conn, kind, Some(&detail))
            .map_err(sqlite)
            .and_then(|seq| Ok((work(seq)?, seq)))
            .and_then(|(value, seq)| {
                super::probe::refresh_unknown_digest_sums(&self.conn).map_err(sqlite)?;
                stamp_change(&self.conn, seq).map_err(sqlite)?;
                self.conn.execute_batch(sql::COMMIT).map_err(sqlite)?;
                Ok((value, seq))
            });
        match result {
            Ok((value, seq)) => Ok((value, self.resolve_point(&super::PointRef::Seq(seq))?)),
            Err(e) => {
                // The error matters more than a failed rollback, which SQLite
                // completes when the connection closes anyway.
                let _ = self.conn.execute_batch(sql::ROLLBACK);
                Err(e)
            }
        }
    }

    /// Copy row `id` as a new live row at point `seq` (for `scorer_id`,
    /// with `score`, `status`, `reason`, `raw_value`), its components and
    /// frames with it; returns the copy's id.
    fn copy_row(
        &self,
        id: i64,
        seq: i64,
        scorer_id: i64,
        judged: (Option<f64>, &str, Option<&str>, Option<f64>),
    ) -> Result<i64, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.copy_row(id, scorer_id, judged);
        }
        let (score, status, reason, raw_value) = judged;
        let copy = || -> rusqlite::Result<i64> {
            self.conn.prepare_cached(sql::COPY_ROW)?.execute(params![
                id, seq, scorer_id, score, status, reason, raw_value
            ])?;
            let copy = self.conn.last_insert_rowid();
            self.conn
                .prepare_cached(sql::COUNT_COPIED_ROW)?
                .execute([copy])?;
            self.conn
                .prepare_cached(sql::COPY_COMPONENTS)?
                .execute([id, copy])?;
            self.conn
                .prepare_cached(sql::COPY_FRAMES)?
                .execute([id, copy])?;
            Ok(copy)
        };
        copy().map_err(|e| self.sqlite_error(e))
    }

    /// The first column of every row `query` returns for `params`.
    fn column<T: rusqlite::types::FromSql>(
        &self,
        query: &str,
        params: &[i64],
    ) -> Result<Vec<T>, RegistryError> {
        let values = || -> rusqlite::Result<Vec<T>> {
            let mut stmt = self.conn.prepare(query)?;
            let values = stmt.query_map(rusqlite::params_from_iter(params), |row| row.get(0))?;
            values.collect()
        };
        values().map_err(|e| self.sqlite_error(e))
    }

    /// The rows file `file_id`'s ingest superseded whose keys it still
    /// holds live.
    fn rows_superseded_by_file(&self, file_id: i64) -> Result<Vec<i64>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.rows_superseded_by_file(file_id);
        }
        self.column(sql::ROWS_SUPERSEDED_BY_FILE, &[file_id])
    }

    /// Keys live for both scorers.
    fn keys_live_for_both(&self, a: i64, b: i64) -> Result<Vec<String>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.keys_live_for_both(a, b);
        }
        self.column(sql::KEYS_LIVE_FOR_BOTH, &[a, b])
    }

    /// A scorer's live row ids.
    fn live_row_ids(&self, scorer_id: i64) -> Result<Vec<i64>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.live_row_ids(scorer_id);
        }
        self.column(sql::LIVE_ROW_IDS, &[scorer_id])
    }

    /// Supersede file `file_id`'s live rows at point `seq`, and mark the
    /// file retired there; returns how many rows.
    fn retire_rows_of_file(&self, file_id: i64, seq: i64) -> Result<u64, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.retire_rows_of_file(file_id);
        }
        let retire = || -> rusqlite::Result<usize> {
            let retired = self
                .conn
                .execute(sql::RETIRE_FILE_ROWS, params![file_id, seq, now_rfc3339()])?;
            self.conn
                .execute(sql::SET_FILE_RETIRED, params![file_id, seq])?;
            Ok(retired)
        };
        retire().map(|n| n as u64).map_err(|e| self.sqlite_error(e))
    }

    /// Files `files retire SELECTOR` may mean: by id (`id`), by sha256 or
    /// path (`selector`), by absolute path (`absolute`).
    fn files_matching(
        &self,
        id: i64,
        selector: &str,
        absolute: &str,
    ) -> Result<Vec<FileMatch>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.files_matching(id, selector, absolute);
        }
        let matches = || -> rusqlite::Result<Vec<FileMatch>> {
            let mut stmt = self.conn.prepare(sql::FILES_MATCHING)?;
            let rows = stmt.query_map(params![id, selector, absolute], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })?;
            rows.collect()
        };
        matches().map_err(|e| self.sqlite_error(e))
    }

    /// Scorer `scorer_id`'s live rows, with what a new scale judges.
    fn live_rows_to_judge(&self, scorer_id: i64) -> Result<Vec<RowToJudge>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.live_rows_to_judge(scorer_id);
        }
        let rows = || -> rusqlite::Result<Vec<RowToJudge>> {
            self.conn
                .prepare(sql::LIVE_ROWS_TO_JUDGE)?
                .query_map([scorer_id], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })?
                .collect()
        };
        rows().map_err(|e| self.sqlite_error(e))
    }

    /// A scorer's new settings (scale, direction, version).
    fn write_scorer_settings(
        &self,
        scorer_id: i64,
        scale: Option<Scale>,
        higher_is_better: Option<bool>,
        version: Option<&str>,
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.write_scorer_settings(scorer_id, scale, higher_is_better, version);
        }
        self.conn
            .execute(
                sql::SET_SCORER_SETTINGS,
                params![
                    scorer_id,
                    scale.map(|s| s.min),
                    scale.map(|s| s.max),
                    higher_is_better,
                    version
                ],
            )
            .map(drop)
            .map_err(|e| self.sqlite_error(e))
    }

    /// A scorer's new name and slug.
    fn write_scorer_name(
        &self,
        scorer_id: i64,
        name: &str,
        slug: &str,
    ) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.write_scorer_name(scorer_id, name, slug);
        }
        self.conn
            .execute(sql::RENAME_SCORER, params![scorer_id, name, slug])
            .map(drop)
            .map_err(|e| self.sqlite_error(e))
    }

    /// Scorer `from` resolves to `into` from now on.
    fn write_scorer_merged(&self, from: i64, into: i64) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.write_scorer_merged(from, into);
        }
        self.conn
            .execute(sql::MERGE_SCORER, params![from, into])
            .map(drop)
            .map_err(|e| self.sqlite_error(e))
    }

    /// Row `id`'s scorer and what it holds.
    fn row_for_copy(&self, id: i64) -> Result<RowForCopy, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.row_for_copy(id);
        }
        let read = || -> rusqlite::Result<RowForCopy> {
            self.conn
                .prepare_cached(sql::ROW_FOR_COPY)?
                .query_row([id], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
        };
        read().map_err(|e| self.sqlite_error(e))
    }

    /// Supersede one row at point `seq` (a correction; no file supersedes it).
    fn supersede_row(&self, id: i64, seq: i64) -> Result<(), RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.supersede_row(id);
        }
        self.conn
            .prepare_cached(sql::SUPERSEDE_ROW_AT)
            .and_then(|mut stmt| stmt.execute(params![id, seq, now_rfc3339()]))
            .map(drop)
            .map_err(|e| self.sqlite_error(e))
    }

    /// `files retire`: supersede every live row `selector` (a file id, its
    /// sha256, or its path as given or absolute) contributed. The rows it
    /// had superseded stay superseded unless `restore_previous`.
    pub fn retire_file(
        &self,
        selector: &str,
        restore_previous: bool,
    ) -> Result<Retirement, RegistryError> {
        let absolute = std::fs::canonicalize(selector)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let id: i64 = selector.parse().unwrap_or(-1);
        let matches = self.files_matching(id, selector, &absolute)?;
        let live: Vec<&FileMatch> = matches.iter().filter(|m| m.5 > 0).collect();
        let file = match (matches.as_slice(), live.as_slice()) {
            ([], _) => {
                return Err(RegistryError::NotFound {
                    path: self.path.clone(),
                    message: format!(
                        "no ingested file is '{selector}' (give a file id, sha256 or path as `files` lists them)"
                    ),
                })
            }
            (_, [one]) => *one,
            (all, []) => {
                let (id, path, _, at, retired, _) = &all[all.len() - 1];
                return Err(self.refused(match retired {
                    Some(seq) => format!("file {id} ({path}) was retired at seq:{seq}: nothing to retire"),
                    None => format!(
                        "file {id} ({path}, ingested {at}) has no live rows (later files superseded them): \
                         nothing to retire"
                    ),
                }));
            }
            (_, several) => {
                let listed: Vec<String> = several
                    .iter()
                    .map(|(id, path, _, at, _, rows)| format!("{id} ({path}, {at}, {rows} live rows)"))
                    .collect();
                return Err(self.refused(format!(
                    "'{selector}' matches several files with live rows: {}; give the file id",
                    listed.join(", ")
                )));
            }
        };
        let (file_id, path, sha256) = (file.0, file.1.clone(), file.2.clone());
        let detail = serde_json::json!({"file": file_id, "restore_previous": restore_previous});
        let ((retired, previous, restored), point) = self.correction("retire", detail, |seq| {
            let previous = self.rows_superseded_by_file(file_id)?;
            let retired = self.retire_rows_of_file(file_id, seq)?;
            let mut restored = 0;
            if restore_previous {
                for id in &previous {
                    let (scorer_id, score, status, reason, raw_value) = self.row_for_copy(*id)?;
                    self.copy_row(
                        *id,
                        seq,
                        scorer_id,
                        (score, &status, reason.as_deref(), raw_value),
                    )?;
                    restored += 1;
                }
            }
            Ok((retired, previous.len() as u64, restored))
        })?;
        Ok(Retirement {
            point,
            file_id,
            path,
            sha256,
            retired,
            previous,
            restored,
        })
    }

    fn scorer_row(&self, name: &str) -> Result<ScorerRow, RegistryError> {
        self.scorer_settings(&slug(name))?
            .ok_or_else(|| RegistryError::NotFound {
                path: self.path.clone(),
                message: format!("no scorer '{name}' (see `scorers`)"),
            })
    }

    /// Scorer `slug`'s settings (not following merges).
    fn scorer_settings(&self, slug: &str) -> Result<Option<ScorerRow>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.scorer_settings(slug);
        }
        self.conn
            .query_row(sql::SCORER_SETTINGS, [slug], |row| {
                Ok(ScorerRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    slug: row.get(2)?,
                    scale: row
                        .get::<_, Option<f64>>(3)?
                        .zip(row.get::<_, Option<f64>>(4)?)
                        .map(|(min, max)| Scale { min, max }),
                    higher_is_better: row.get(5)?,
                    version: row.get(6)?,
                    merged_into: row.get(7)?,
                })
            })
            .optional()
            .map_err(|e| self.sqlite_error(e))
    }

    /// `scorers set`: new settings for a scorer, as a new point. A new
    /// scale judges the live rows again: values it excludes become bad,
    /// values an earlier scale excluded and it accepts become ok.
    pub fn set_scorer(
        &self,
        name: &str,
        settings: &ScorerSettings,
    ) -> Result<ScorerCorrection, RegistryError> {
        let scorer = self.scorer_row(name)?;
        let mut changes = Vec::new();
        if let Some(scale) = settings.scale.filter(|s| Some(*s) != scorer.scale) {
            changes.push(format!(
                "scale {} -> {scale}",
                scorer.scale.map_or("none".to_string(), |s| s.to_string())
            ));
        }
        if let Some(higher) = settings
            .higher_is_better
            .filter(|h| Some(*h) != scorer.higher_is_better)
        {
            changes.push(format!(
                "direction -> {}",
                if higher {
                    "higher-is-better"
                } else {
                    "lower-is-better"
                }
            ));
        }
        if let Some(version) = settings
            .version
            .as_ref()
            .filter(|v| Some(*v) != scorer.version.as_ref())
        {
            changes.push(format!("version -> {version}"));
        }
        if changes.is_empty() {
            return Err(self.refused(format!(
                "scorer '{}' already has these settings: nothing to change",
                scorer.name
            )));
        }
        let scale = settings.scale.or(scorer.scale);
        let detail = serde_json::json!({"scorer": scorer.name, "set": changes});
        let ((now_bad, now_ok), point) = self.correction("scorer", detail, |seq| {
            self.write_scorer_settings(
                scorer.id,
                scale,
                settings.higher_is_better.or(scorer.higher_is_better),
                settings.version.as_deref().or(scorer.version.as_deref()),
            )?;
            let Some(scale) = settings.scale.filter(|s| Some(*s) != scorer.scale) else {
                return Ok((0, 0));
            };
            self.judge_again(scorer.id, scale, seq)
        })?;
        Ok(ScorerCorrection {
            point,
            scorer: scorer.name,
            changes,
            now_bad,
            now_ok,
            moved: 0,
        })
    }

    /// Judge scorer `scorer_id`'s live rows against `scale` at point `seq`:
    /// returns how many became bad and how many ok.
    fn judge_again(
        &self,
        scorer_id: i64,
        scale: Scale,
        seq: i64,
    ) -> Result<(u64, u64), RegistryError> {
        let rows = self.live_rows_to_judge(scorer_id)?;
        let (mut now_bad, mut now_ok) = (0, 0);
        for (id, score, status, _reason, raw_value) in rows {
            match (status.as_str(), score, raw_value) {
                ("ok", Some(value), _) if !scale.contains(value) => {
                    self.supersede_row(id, seq)?;
                    let reason = outside_scale_reason(value, scale);
                    self.copy_row(
                        id,
                        seq,
                        scorer_id,
                        (None, "bad", Some(&reason), Some(value)),
                    )?;
                    now_bad += 1;
                }
                ("bad", None, Some(value)) if scale.contains(value) => {
                    self.supersede_row(id, seq)?;
                    self.copy_row(id, seq, scorer_id, (Some(value), "ok", None, None))?;
                    now_ok += 1;
                }
                _ => {}
            }
        }
        Ok((now_bad, now_ok))
    }

    /// `scorers rename`: a scorer's name (and so its column names) from
    /// this point on.
    pub fn rename_scorer(&self, old: &str, new: &str) -> Result<ScorerCorrection, RegistryError> {
        let scorer = self.scorer_row(old)?;
        let new_slug = slug(new);
        if new_slug.is_empty() {
            return Err(self.refused(format!(
                "'{new}' has no letters or digits to name a scorer by"
            )));
        }
        if new_slug != scorer.slug {
            if let Ok(taken) = self.scorer_row(new) {
                return Err(self.refused(format!(
                    "scorer '{}' exists (slug {}); to make '{}' part of it use `scorers merge {} {}`",
                    taken.name, taken.slug, scorer.name, scorer.name, taken.name
                )));
            }
        } else if new == scorer.name {
            return Err(self.refused(format!("scorer '{new}' already has that name")));
        }
        let detail = serde_json::json!({"scorer": scorer.name, "renamed_to": new});
        let ((), point) = self.correction("scorer", detail, |_| {
            self.write_scorer_name(scorer.id, new, &new_slug)
        })?;
        Ok(ScorerCorrection {
            point,
            scorer: new.to_string(),
            changes: vec![format!("name {} -> {new}", scorer.name)],
            now_bad: 0,
            now_ok: 0,
            moved: 0,
        })
    }

    /// `scorers merge ALIAS INTO`: ALIAS's live rows become INTO's, and the
    /// name ALIAS resolves to INTO from then on. Keys live for both are
    /// refused, as duplicates are at ingest.
    pub fn merge_scorer(&self, alias: &str, into: &str) -> Result<ScorerCorrection, RegistryError> {
        let from = self.scorer_row(alias)?;
        let to = self.scorer_row(into)?;
        if from.id == to.id {
            return Err(self.refused(format!("'{alias}' and '{into}' are one scorer already")));
        }
        if let Some(target) = from.merged_into {
            return Err(self.refused(format!(
                "scorer '{}' was merged already (into scorer id {target})",
                from.name
            )));
        }
        if let (Some(a), Some(b)) = (from.scale, to.scale) {
            if a != b {
                return Err(self.refused(format!(
                    "scorer '{}' has scale {a} and '{}' {b}: set one scale first (`scorers set {} --scale {b}`)",
                    from.name, to.name, from.name
                )));
            }
        }
        let both = self.keys_live_for_both(from.id, to.id)?;
        if !both.is_empty() {
            return Err(self.refused(format!(
                "{} keys are live for both '{}' and '{}' (first: {}); a scorer has one live score per key: \
                 retire or replace one side first",
                both.len(),
                from.name,
                to.name,
                both.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let detail = serde_json::json!({"scorer": from.name, "merged_into": to.name});
        let (moved, point) = self.correction("scorer", detail, |seq| {
            let ids = self.live_row_ids(from.id)?;
            for id in &ids {
                let (_, score, status, reason, raw_value) = self.row_for_copy(*id)?;
                self.supersede_row(*id, seq)?;
                self.copy_row(
                    *id,
                    seq,
                    to.id,
                    (score, &status, reason.as_deref(), raw_value),
                )?;
            }
            self.write_scorer_merged(from.id, to.id)?;
            Ok(ids.len() as u64)
        })?;
        Ok(ScorerCorrection {
            point,
            scorer: to.name.clone(),
            changes: vec![format!("{} merged into {}", from.name, to.name)],
            now_bad: 0,
            now_ok: 0,
            moved,
        })
    }
}
