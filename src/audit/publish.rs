//! Writing an audit's reports: the JSON (with the run's provenance), the
//! Markdown and, when asked, the HTML page, each written atomically.

use serde_json::{json, Value};

use crate::atomic_file::{
    check_writable, publish_all, refuse_clashes, registry_files, stage, stage_json, Staged,
};

use super::html::to_html;
use super::report::{to_json, to_markdown};
use super::{AuditError, AuditReport};

/// Where the reports go.
#[derive(Clone, Debug)]
pub struct ReportPaths {
    pub json: Option<std::path::PathBuf>,
    pub markdown: Option<std::path::PathBuf>,
    pub html: Option<std::path::PathBuf>,
}

impl ReportPaths {
    /// The paths as recorded with the run and in the provenance.
    pub fn to_json(&self) -> Value {
        json!({
            "json_report": self.json.as_ref().map(|p| p.display().to_string()),
            "markdown_report": self.markdown.as_ref().map(|p| p.display().to_string()),
            "html_report": self.html.as_ref().map(|p| p.display().to_string()),
        })
    }
}

/// How a caller names the reports and the input tables in its messages
/// (`--out-json` on the command line, `out_json` in Python).
pub struct ReportRoles {
    pub json: &'static str,
    pub markdown: &'static str,
    pub html: &'static str,
    pub input: &'static str,
}

impl ReportPaths {
    /// Refuse reports that would overwrite each other, an input table or
    /// the registry (a usage error), and reports that cannot be written (a
    /// data error): found before any table is read, not after the reports
    /// are made.
    pub fn check_writable(
        &self,
        roles: &ReportRoles,
        inputs: &[super::AuditInput],
        registry: &std::path::Path,
    ) -> Result<(), AuditError> {
        let outputs: Vec<(&str, &std::path::Path)> = [
            (roles.json, &self.json),
            (roles.markdown, &self.markdown),
            (roles.html, &self.html),
        ]
        .into_iter()
        .filter_map(|(role, path)| path.as_deref().map(|p| (role, p)))
        .collect();
        let protected = registry_files(registry);
        let mut read: Vec<(&str, &std::path::Path)> = inputs
            .iter()
            .map(|input| (roles.input, input.path.as_path()))
            .collect();
        read.extend(protected.iter().map(|(role, p)| (*role, p.as_path())));
        refuse_clashes(&outputs, &read, &[]).map_err(AuditError::Usage)?;
        for (_, path) in &outputs {
            check_writable(path).map_err(|e| {
                AuditError::Data(format!("{}: cannot write report: {e}", path.display()))
            })?;
        }
        Ok(())
    }
}

/// The run's provenance, as the JSON report carries it: what was asked
/// (`argv`, the options), the tables read (with their hashes), where the
/// reports go, and the registry the run is recorded in, if any.
pub fn run_provenance(
    report: &AuditReport,
    paths: &ReportPaths,
    argv: Vec<String>,
    registry: Option<&std::path::Path>,
) -> Value {
    json!({
        "schema": "second-opinion-run-provenance-v1",
        "entrypoint": "second-opinion audit",
        "tool_version": crate::TOOL_VERSION,
        "argv": argv,
        "args": report.options_json(),
        "registry": registry.map(|p| p.display().to_string()),
        "inputs": report.tables.iter().map(|t| json!({
            "role": "table",
            "label": t.label,
            "path": t.path,
            "sha256": t.sha256,
            "size_bytes": t.size_bytes,
            "format": t.format.name(),
        })).collect::<Vec<_>>(),
        "outputs": paths.to_json(),
    })
}

/// Every report, written to a temporary beside its path (parent folders
/// created, as the reference does), to be put in place together with
/// [`crate::atomic_file::publish_all`] once nothing else can fail.
/// `registry` is the registry file the run is recorded in, if any.
pub fn stage_reports(
    report: &AuditReport,
    paths: &ReportPaths,
    argv: Vec<String>,
    registry: Option<&std::path::Path>,
) -> Result<Vec<Staged>, AuditError> {
    let provenance = run_provenance(report, paths, argv, registry);
    let failed = |path: &std::path::Path, e: std::io::Error| {
        AuditError::Data(format!("{}: cannot write report: {e}", path.display()))
    };
    let mut staged = Vec::new();
    if let Some(path) = &paths.json {
        staged.push(stage_json(path, &to_json(report, provenance)).map_err(|e| failed(path, e))?);
    }
    if let Some(path) = &paths.markdown {
        let markdown = to_markdown(report);
        staged.push(
            stage(path, |out| out.write_all(markdown.as_bytes())).map_err(|e| failed(path, e))?,
        );
    }
    if let Some(path) = &paths.html {
        let page = to_html(report);
        staged
            .push(stage(path, |out| out.write_all(page.as_bytes())).map_err(|e| failed(path, e))?);
    }
    Ok(staged)
}

/// Write every report (see [`stage_reports`]): all of them, or none when
/// one cannot be written.
pub fn write_reports(
    report: &AuditReport,
    paths: &ReportPaths,
    argv: Vec<String>,
    registry: Option<&std::path::Path>,
) -> Result<(), AuditError> {
    let staged = stage_reports(report, paths, argv, registry)?;
    publish_all(staged).map_err(|e| AuditError::Data(e.to_string()))
}
