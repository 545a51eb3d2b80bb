//! `batch`: the reference's `batch_materialize_second_opinion_features.py`.
//! A manifest names many tables; each is one [`materialize`] run, with the
//! same library call and semantics as the `materialize` command, and one
//! report covers them all.
//!
//! Everything that can be checked without running a table is checked
//! first ([`manifest`]): a manifest with a problem runs nothing and writes
//! nothing. A table that fails while running is reported and the others
//! still run, unless `fail_fast`.

pub mod manifest;
mod report;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::export::ExportSummary;
use crate::materialize::{materialize, MaterializeError, MaterializeRequest};

pub use manifest::{
    load_manifest, Manifest, ManifestError, ManifestProblem, ReportPaths, TableConfig, TableSpec,
};

/// The schema name of the batch report, the reference's.
pub const REPORT_SCHEMA: &str = "second-opinion-materializer-batch-v1";

/// Everything `batch` was asked to do.
#[derive(Clone, Debug)]
pub struct BatchRequest {
    /// The manifest, as given.
    pub manifest: PathBuf,
    /// Resolve the manifest's relative paths here instead of its folder.
    pub base_dir: Option<PathBuf>,
    pub report_json: Option<PathBuf>,
    pub report_md: Option<PathBuf>,
    /// Stop at the first table that fails.
    pub fail_fast: bool,
    /// One registry every table ingests into and exports from; `None`: each
    /// table gets a throw-away registry in memory, as `materialize` does.
    pub registry: Option<PathBuf>,
    /// The command line, for the provenance of the report and of each audit.
    pub argv: Vec<String>,
    /// `--csv-safe` for every table's CSV output.
    pub csv_safe: bool,
}

impl BatchRequest {
    fn report_paths(&self) -> ReportPaths {
        ReportPaths {
            json: self.report_json.clone(),
            markdown: self.report_md.clone(),
        }
    }

    /// The parsed arguments by the reference's (Python) names, for the
    /// provenance.
    fn args_json(&self) -> Value {
        let shown = |path: &Option<PathBuf>| path.as_ref().map(|p| p.display().to_string());
        json!({
            "manifest": self.manifest.display().to_string(),
            "base_dir": shown(&self.base_dir),
            "report_json": shown(&self.report_json),
            "report_md": shown(&self.report_md),
            "fail_fast": self.fail_fast,
            "csv_safe": self.csv_safe,
            "registry": shown(&self.registry),
        })
    }
}

/// Why a batch ran no table, or could not write its report. A table that
/// fails is not one of these: it is a [`TableRun`] with an error.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The manifest is missing, not JSON, or has problems (nothing ran).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A report destination refused before any table ran, or the report
    /// failed to be written after them.
    #[error("{path}: cannot write the batch report: {source}")]
    Report {
        path: String,
        source: std::io::Error,
    },
    /// Putting the reports in place failed part of the way (what was
    /// written is named).
    #[error("the batch report: {0}")]
    Published(String),
}

impl BatchError {
    /// A manifest that cannot be read or is not valid is the user's to fix
    /// (exit 2); a report that cannot be written is not.
    pub fn is_usage(&self) -> bool {
        matches!(self, BatchError::Manifest(_))
    }
}

/// Why one table of a batch wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A missing folder of its `out` or `audit_json` could not be made.
    #[error("{path}: cannot create the directory: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Materialize(#[from] MaterializeError),
}

/// What `materialize` returned for a table.
#[derive(Clone, Debug)]
pub struct Materialized {
    pub summary: ExportSummary,
    /// The single-table audit dict, as `--audit-json` holds it.
    pub audit: Value,
}

/// One table that ran, and how it ended.
#[derive(Debug)]
pub struct TableRun {
    pub spec: TableSpec,
    pub outcome: Result<Materialized, TableError>,
}

/// What a batch did: the tables that ran, in manifest order.
#[derive(Debug)]
pub struct BatchReport {
    pub tables: Vec<TableRun>,
    /// Ids of the tables `fail_fast` left unrun (not in the report, as in
    /// the reference: only what ran is listed).
    pub not_run: Vec<String>,
}

impl BatchReport {
    /// Tables that ran and failed.
    pub fn failed_tables(&self) -> usize {
        self.tables.iter().filter(|t| t.outcome.is_err()).count()
    }

    /// Rows read by the tables that succeeded.
    pub fn input_rows(&self) -> u64 {
        self.succeeded().map(|m| m.summary.input_rows).sum()
    }

    /// Rows written by the tables that succeeded.
    pub fn output_rows(&self) -> u64 {
        self.succeeded().map(|m| m.summary.output_rows).sum()
    }

    /// `ok`, or `failed` when any table failed (the reference's words).
    pub fn status(&self) -> &'static str {
        if self.failed_tables() == 0 {
            "ok"
        } else {
            "failed"
        }
    }

    /// The reference's last line on stderr.
    pub fn summary_line(&self) -> String {
        format!(
            "second-opinion batch materialize: tables={} input_rows={} output_rows={} failed_tables={}",
            self.tables.len(),
            self.input_rows(),
            self.output_rows(),
            self.failed_tables()
        )
    }

    fn succeeded(&self) -> impl Iterator<Item = &Materialized> {
        self.tables.iter().filter_map(|t| t.outcome.as_ref().ok())
    }
}

/// Read and check the manifest of `request`: nothing runs and nothing is
/// written when it has a problem.
pub fn load(request: &BatchRequest) -> Result<Manifest, BatchError> {
    Ok(load_manifest(
        &request.manifest,
        request.base_dir.as_deref(),
        &request.report_paths(),
    )?)
}

/// Run every table of `manifest` (see [`load`]) in order, telling
/// `on_table` of each as it ends, then write the reports.
///
/// The report destinations are made ready (folders created, a file tried)
/// before the first table, so a report that cannot be written is not found
/// out after the tables were.
pub fn run(
    request: &BatchRequest,
    manifest: &Manifest,
    mut on_table: impl FnMut(&TableRun),
) -> Result<BatchReport, BatchError> {
    for path in [&request.report_json, &request.report_md]
        .into_iter()
        .flatten()
    {
        prepare_report(path)?;
    }
    let mut report = BatchReport {
        tables: Vec::new(),
        not_run: Vec::new(),
    };
    let mut remaining = manifest.tables.iter();
    for spec in remaining.by_ref() {
        let run = TableRun {
            spec: spec.clone(),
            outcome: run_table(request, manifest, spec),
        };
        on_table(&run);
        let failed = run.outcome.is_err();
        report.tables.push(run);
        if failed && request.fail_fast {
            break;
        }
    }
    report.not_run = remaining.map(|spec| spec.id.clone()).collect();
    report::write_reports(request, manifest, &report)?;
    Ok(report)
}

/// Create the folders of a report and try a file there.
fn prepare_report(path: &Path) -> Result<(), BatchError> {
    let failed = |source| BatchError::Report {
        path: path.display().to_string(),
        source,
    };
    if path.is_dir() {
        return Err(failed(std::io::Error::other("it is a directory")));
    }
    create_parent(path).map_err(failed)?;
    crate::atomic_file::check_writable(path).map_err(failed)
}

fn create_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent),
        _ => Ok(()),
    }
}

/// One table: the folders of its outputs created (as the reference does),
/// then `materialize` as the command runs it.
fn run_table(
    request: &BatchRequest,
    manifest: &Manifest,
    spec: &TableSpec,
) -> Result<Materialized, TableError> {
    for path in std::iter::once(&spec.out).chain(&spec.audit_json) {
        create_parent(path).map_err(|source| TableError::Directory {
            path: path
                .parent()
                .map_or_else(String::new, |p| p.display().to_string()),
            source,
        })?;
    }
    let (summary, audit) = materialize(&materialize_request(request, manifest, spec))?;
    Ok(Materialized { summary, audit })
}

/// The request the `materialize` command would build for this table; the
/// provenance's arguments are `materialize`'s, plus the manifest and the
/// table's id, so an audit says which batch wrote it.
fn materialize_request(
    request: &BatchRequest,
    manifest: &Manifest,
    spec: &TableSpec,
) -> MaterializeRequest {
    let config = &spec.config;
    MaterializeRequest {
        features: spec.features.clone(),
        scores: spec.scores.clone(),
        out: spec.out.clone(),
        audit_json: spec.audit_json.clone(),
        key_column: config.key_column.clone(),
        fields: crate::ingest::FieldNames {
            key: config.score_key_field.clone(),
            score: config.score_field.clone(),
            frame_base: None,
        },
        key_normalize: config.key_normalize,
        missing_policy: config.missing_policy,
        prefix: config.prefix.clone(),
        overwrite: config.overwrite,
        scale: None,
        registry: request.registry.clone(),
        tag: None,
        note: None,
        argv: request.argv.clone(),
        command_line: crate::command_line::CommandLine::Batch,
        csv_safe: request.csv_safe,
        args: json!({
            "manifest": manifest.path.display().to_string(),
            "table_id": spec.id,
            "features": spec.features.display().to_string(),
            "scores": spec.score_arguments(),
            "out": spec.out.display().to_string(),
            "audit_json": spec.audit_json.as_ref().map(|p| p.display().to_string()),
            "key_column": config.key_column,
            "score_key_field": config.score_key_field,
            "score_field": config.score_field,
            "key_normalize": config.key_normalize.unwrap_or_default().name(),
            "missing_policy": config.missing_policy.name(),
            "prefix": config.prefix,
            "overwrite": config.overwrite,
            "registry": request.registry.as_ref().map(|p| p.display().to_string()),
        }),
    }
}
