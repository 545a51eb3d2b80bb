//! The audit's tables on a PostgreSQL registry: signal families and the
//! record of audit runs. `audit/families.rs` and `audit/history.rs` keep
//! the rules and messages and build their types from the rows read here
//! (the registry sits below the audit, so it hands back plain rows).

use super::{sql, PgBackend};
use crate::registry::{now_rfc3339, RegistryError};

/// A family as stored: id, key, label, question, recommendation, position.
pub(crate) type FamilyRow = (i64, String, String, String, String, i64);

/// Every family, and every pattern and candidate metric as (family id, text).
pub(crate) type FamilyTables = (Vec<FamilyRow>, Vec<(i64, String)>, Vec<(i64, String)>);

/// A scorer as the audit reads it: name, slug, range min and max,
/// direction, whether any of its scores came from a libvmaf log.
pub(crate) type AuditScorerRow = (String, String, Option<f64>, Option<f64>, Option<bool>, bool);

/// An audit's previous run of a label: run, created at, path, sha256,
/// rows, summary (JSON text).
pub(crate) type AuditRunRow = (i64, String, String, String, i64, String);

/// One input of an audit run: label, path, absolute path, sha256, size,
/// rows, summary (JSON text).
pub(crate) type AuditInputRow<'a> = (&'a str, &'a str, &'a str, &'a str, i64, i64, String);

impl PgBackend {
    /// Every family by position, and every pattern and candidate metric
    /// (family id, text), each in its family's order.
    pub(crate) fn families(&mut self) -> Result<FamilyTables, RegistryError> {
        let mut families = Vec::new();
        self.visit(sql::LIST_FAMILIES, &[], |row| {
            families.push((
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
            ))
        })?;
        let mut patterns = Vec::new();
        self.visit(sql::LIST_PATTERNS, &[], |row| {
            patterns.push((row.get(0), row.get(1)))
        })?;
        let mut candidates = Vec::new();
        self.visit(sql::LIST_CANDIDATES, &[], |row| {
            candidates.push((row.get(0), row.get(1)))
        })?;
        Ok((families, patterns, candidates))
    }

    pub(crate) fn family_id(&mut self, key: &str) -> Result<Option<i64>, RegistryError> {
        let row = self
            .client
            .query_opt(sql::FAMILY_BY_KEY, &[&key])
            .map_err(|e| self.error(e))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Add a pattern to family `id`; false when it had it.
    pub(crate) fn add_pattern(&mut self, id: i64, pattern: &str) -> Result<bool, RegistryError> {
        let added = self
            .client
            .execute(sql::INSERT_PATTERN, &[&id, &pattern])
            .map_err(|e| self.error(e))?;
        Ok(added > 0)
    }

    /// Remove a pattern from family `id`; false when it had none such.
    pub(crate) fn remove_pattern(&mut self, id: i64, pattern: &str) -> Result<bool, RegistryError> {
        let removed = self
            .client
            .execute(sql::DELETE_PATTERN, &[&id, &pattern])
            .map_err(|e| self.error(e))?;
        Ok(removed > 0)
    }

    /// A new family (key, label, question, recommendation) after the last
    /// one, with its patterns and candidate metrics, in one transaction.
    pub(crate) fn add_family(
        &mut self,
        texts: [&str; 4],
        patterns: &[String],
        candidates: &[String],
    ) -> Result<(), RegistryError> {
        let shown = self.shown.clone();
        let error = |source| RegistryError::Postgres {
            path: shown.clone(),
            source,
        };
        let mut tx = self.client.transaction().map_err(error)?;
        let [key, label, question, recommendation] = texts;
        let id: i64 = tx
            .query_one(
                sql::INSERT_FAMILY,
                &[&key, &label, &question, &recommendation],
            )
            .map_err(error)?
            .get(0);
        for pattern in patterns {
            tx.execute(sql::INSERT_PATTERN, &[&id, pattern])
                .map_err(error)?;
        }
        for metric in candidates {
            tx.execute(sql::INSERT_CANDIDATE, &[&id, metric])
                .map_err(error)?;
        }
        tx.commit().map_err(error)
    }

    pub(crate) fn audit_scorers(&mut self) -> Result<Vec<AuditScorerRow>, RegistryError> {
        let mut scorers = Vec::new();
        self.visit(sql::AUDIT_SCORERS, &[], |row| {
            scorers.push((
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
            ))
        })?;
        Ok(scorers)
    }

    pub(crate) fn last_audit_of(
        &mut self,
        label: &str,
    ) -> Result<Option<AuditRunRow>, RegistryError> {
        let row = self
            .client
            .query_opt(sql::LAST_AUDIT_OF_LABEL, &[&label])
            .map_err(|e| self.error(e))?;
        Ok(row.map(|row| {
            (
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
            )
        }))
    }

    /// Record an audit run (its options and outputs, JSON text) and its
    /// inputs together; returns the run's id.
    pub(crate) fn record_audit(
        &mut self,
        options: &str,
        outputs: &str,
        inputs: &[AuditInputRow<'_>],
    ) -> Result<i64, RegistryError> {
        let shown = self.shown.clone();
        let error = |source| RegistryError::Postgres {
            path: shown.clone(),
            source,
        };
        let mut tx = self.client.transaction().map_err(error)?;
        let run: i64 = tx
            .query_one(
                sql::INSERT_AUDIT_RUN,
                &[&now_rfc3339(), &options, &outputs, &crate::TOOL_VERSION],
            )
            .map_err(error)?
            .get(0);
        for (label, path, absolute, sha256, size, rows, summary) in inputs {
            tx.execute(
                sql::INSERT_AUDIT_INPUT,
                &[&run, label, path, absolute, sha256, size, rows, summary],
            )
            .map_err(error)?;
        }
        tx.commit().map_err(error)?;
        Ok(run)
    }
}
