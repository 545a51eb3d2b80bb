//! Writing an audit's reports: the JSON (with the run's provenance), the
//! Markdown and, when asked, the HTML page, each written atomically.

use serde_json::{json, Value};

use super::html::to_html;
use super::report::{to_json, to_markdown};
use super::{AuditError, AuditReport};

/// Where the reports go.
#[derive(Clone, Debug)]
pub struct ReportPaths {
    pub json: std::path::PathBuf,
    pub markdown: std::path::PathBuf,
    pub html: Option<std::path::PathBuf>,
}

impl ReportPaths {
    /// The paths as recorded with the run and in the provenance.
    pub fn to_json(&self) -> Value {
        json!({
            "json_report": self.json.display().to_string(),
            "markdown_report": self.markdown.display().to_string(),
            "html_report": self.html.as_ref().map(|p| p.display().to_string()),
        })
    }
}

/// Write every report atomically (parent folders created, as the reference
/// does). `registry` is the registry file the run is recorded in, if any.
pub fn write_reports(
    report: &AuditReport,
    paths: &ReportPaths,
    argv: Vec<String>,
    registry: Option<&std::path::Path>,
) -> Result<(), AuditError> {
    let provenance = json!({
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
    });
    let failed = |path: &std::path::Path, e: std::io::Error| {
        AuditError::Data(format!("{}: cannot write report: {e}", path.display()))
    };
    let mut outputs: Vec<&std::path::Path> = vec![&paths.json, &paths.markdown];
    outputs.extend(paths.html.as_deref());
    for path in &outputs {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| failed(path, e))?;
        }
    }
    crate::atomic_file::write_json_atomically(&paths.json, &to_json(report, provenance))
        .map_err(|e| failed(&paths.json, e))?;
    let markdown = to_markdown(report);
    crate::atomic_file::write_atomically(&paths.markdown, |out| out.write_all(markdown.as_bytes()))
        .map_err(|e| failed(&paths.markdown, e))?;
    if let Some(path) = &paths.html {
        let page = to_html(report);
        crate::atomic_file::write_atomically(path, |out| out.write_all(page.as_bytes()))
            .map_err(|e| failed(path, e))?;
    }
    Ok(())
}
