//! Corrections on a PostgreSQL registry: the steps `files retire` and
//! `scorers set/rename/merge` take (`registry/corrections.rs` holds their
//! rules and messages, for both backends).
//!
//! A correction is one transaction whose point is taken as it commits, as
//! an ingest's is (see `sql::STAMP_CORRECTION` for why): the rows it
//! supersedes, the copies it makes live and the file it retires are
//! remembered meanwhile and stamped with the point just before the commit.

use postgres::types::ToSql;

use super::{sql, PgBackend};
use crate::registry::corrections::{FileMatch, RowForCopy, RowToJudge, ScorerRow};
use crate::registry::{now_rfc3339, RegistryError};
use crate::scorer::Scale;

/// What a running correction wrote that its point must be stamped on.
#[derive(Default)]
pub(crate) struct PendingCorrection {
    superseded: Vec<i64>,
    born: Vec<i64>,
    retired_file: Option<i64>,
}

impl PgBackend {
    fn pending(&mut self) -> &mut PendingCorrection {
        self.correction.get_or_insert_with(Default::default)
    }

    fn run(&mut self, query: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, RegistryError> {
        self.client
            .execute(query, params)
            .map_err(|e| self.error(e))
    }

    fn ids(
        &mut self,
        query: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<i64>, RegistryError> {
        let mut ids = Vec::new();
        self.visit(query, params, |row| ids.push(row.get(0)))?;
        Ok(ids)
    }

    /// Begin a correction's transaction.
    pub(crate) fn begin_correction(&mut self) -> Result<(), RegistryError> {
        self.correction = Some(PendingCorrection::default());
        self.client
            .batch_execute("BEGIN")
            .map_err(|e| self.error(e))
    }

    /// Take the correction's point, stamp it on what it wrote, record it
    /// (`kind`, `detail`) and commit; returns the point.
    pub(crate) fn commit_correction(
        &mut self,
        kind: &str,
        detail: &serde_json::Value,
    ) -> Result<i64, RegistryError> {
        let pending = self.correction.take().unwrap_or_default();
        let seq: i64 = self
            .client
            .query_one(sql::TAKE_POINT, &[])
            .map_err(|e| self.error(e))?
            .get(0);
        self.run(
            sql::STAMP_CORRECTION,
            &[
                &seq,
                &pending.superseded,
                &pending.born,
                &pending.retired_file,
            ],
        )?;
        self.run(
            sql::INSERT_CORRECTION,
            &[&seq, &now_rfc3339(), &kind, &detail.to_string()],
        )?;
        self.client
            .batch_execute("COMMIT")
            .map_err(|e| self.error(e))?;
        Ok(seq)
    }

    pub(crate) fn rollback_correction(&mut self) -> Result<(), RegistryError> {
        self.correction = None;
        self.client
            .batch_execute("ROLLBACK")
            .map_err(|e| self.error(e))
    }

    pub(crate) fn files_matching(
        &mut self,
        id: i64,
        selector: &str,
        absolute: &str,
    ) -> Result<Vec<FileMatch>, RegistryError> {
        self.run(sql::FILL_MISSING_FILE_BOUNDS, &[])?;
        let mut files = Vec::new();
        let params: [&(dyn ToSql + Sync); 3] = [&id, &selector, &absolute];
        self.visit(sql::FILES_MATCHING, &params, |row| {
            files.push((
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get::<_, i64>(5) as u64,
            ))
        })?;
        Ok(files)
    }

    pub(crate) fn rows_superseded_by_file(&mut self, file: i64) -> Result<Vec<i64>, RegistryError> {
        self.ids(sql::ROWS_SUPERSEDED_BY_FILE, &[&file])
    }

    /// Supersede the live rows of the file numbered `file`; it is retired
    /// at the correction's point.
    pub(crate) fn retire_rows_of_file(&mut self, file: i64) -> Result<u64, RegistryError> {
        let ids = self.ids(sql::RETIRE_FILE_ROWS, &[&file, &now_rfc3339()])?;
        let pending = self.pending();
        pending.retired_file = Some(file);
        let retired = ids.len() as u64;
        pending.superseded.extend(ids);
        Ok(retired)
    }

    pub(crate) fn supersede_row(&mut self, id: i64) -> Result<(), RegistryError> {
        self.run(sql::SUPERSEDE_ROW, &[&id, &now_rfc3339()])?;
        self.pending().superseded.push(id);
        Ok(())
    }

    pub(crate) fn row_for_copy(&mut self, id: i64) -> Result<RowForCopy, RegistryError> {
        let row = self
            .client
            .query_one(sql::ROW_FOR_COPY, &[&id])
            .map_err(|e| self.error(e))?;
        Ok((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
    }

    /// As SQLite's `copy_row`; the copy is live from the correction's point.
    pub(crate) fn copy_row(
        &mut self,
        id: i64,
        scorer_id: i64,
        judged: (Option<f64>, &str, Option<&str>, Option<f64>),
    ) -> Result<i64, RegistryError> {
        let (score, status, reason, raw_value) = judged;
        let copy: i64 = self
            .client
            .query_one(
                sql::COPY_ROW,
                &[&id, &scorer_id, &score, &status, &reason, &raw_value],
            )
            .map_err(|e| self.error(e))?
            .get(0);
        self.run(sql::COPY_COMPONENTS, &[&id, &copy])?;
        self.run(sql::COPY_FRAMES, &[&id, &copy])?;
        self.pending().born.push(copy);
        Ok(copy)
    }

    pub(crate) fn live_rows_to_judge(
        &mut self,
        scorer_id: i64,
    ) -> Result<Vec<RowToJudge>, RegistryError> {
        let mut rows = Vec::new();
        self.visit(sql::LIVE_ROWS_TO_JUDGE, &[&scorer_id], |row| {
            rows.push((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        })?;
        Ok(rows)
    }

    pub(crate) fn scorer_settings(
        &mut self,
        slug: &str,
    ) -> Result<Option<ScorerRow>, RegistryError> {
        let row = self
            .client
            .query_opt(sql::SCORER_SETTINGS, &[&slug])
            .map_err(|e| self.error(e))?;
        Ok(row.map(|row| ScorerRow {
            id: row.get(0),
            name: row.get(1),
            slug: row.get(2),
            scale: row
                .get::<_, Option<f64>>(3)
                .zip(row.get::<_, Option<f64>>(4))
                .map(|(min, max)| Scale { min, max }),
            higher_is_better: row.get(5),
            version: row.get(6),
            merged_into: row.get(7),
        }))
    }

    pub(crate) fn write_scorer_settings(
        &mut self,
        scorer_id: i64,
        scale: Option<Scale>,
        higher_is_better: Option<bool>,
        version: Option<&str>,
    ) -> Result<(), RegistryError> {
        let (min, max) = (scale.map(|s| s.min), scale.map(|s| s.max));
        self.run(
            sql::SET_SCORER_SETTINGS,
            &[&scorer_id, &min, &max, &higher_is_better, &version],
        )
        .map(drop)
    }

    pub(crate) fn write_scorer_name(
        &mut self,
        scorer_id: i64,
        name: &str,
        slug: &str,
    ) -> Result<(), RegistryError> {
        self.run(sql::RENAME_SCORER, &[&scorer_id, &name, &slug])
            .map(drop)
    }

    pub(crate) fn write_scorer_merged(
        &mut self,
        from: i64,
        into: i64,
    ) -> Result<(), RegistryError> {
        self.run(sql::MERGE_SCORER, &[&from, &into]).map(drop)
    }

    pub(crate) fn keys_live_for_both(
        &mut self,
        a: i64,
        b: i64,
    ) -> Result<Vec<String>, RegistryError> {
        let mut keys = Vec::new();
        self.visit(sql::KEYS_LIVE_FOR_BOTH, &[&a, &b], |row| {
            keys.push(row.get(0))
        })?;
        Ok(keys)
    }

    pub(crate) fn live_row_ids(&mut self, scorer_id: i64) -> Result<Vec<i64>, RegistryError> {
        self.ids(sql::LIVE_ROW_IDS, &[&scorer_id])
    }
}
