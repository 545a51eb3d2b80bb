//! The batch report, as the reference writes it: JSON (schema
//! `second-opinion-materializer-batch-v1`) and Markdown, both atomically.

use std::path::Path;

use serde_json::{json, Value};
use sha2::Digest;

use super::{BatchError, BatchReport, BatchRequest, Manifest, TableRun, REPORT_SCHEMA};

/// Write the reports `request` asks for, both or neither: each is staged,
/// then both are put in place. The JSON's provenance describes the
/// Markdown by the bytes staged for it.
pub(super) fn write_reports(
    request: &BatchRequest,
    manifest: &Manifest,
    report: &BatchReport,
) -> Result<(), BatchError> {
    let failed = |path: &Path, source| BatchError::Report {
        path: path.display().to_string(),
        source,
    };
    let mut staged = Vec::new();
    let mut markdown_sha256 = None;
    if let Some(path) = &request.report_md {
        let markdown = to_markdown(report);
        markdown_sha256 = Some(crate::digest::hex(&sha2::Sha256::digest(
            markdown.as_bytes(),
        )));
        staged.push(
            crate::atomic_file::stage(path, |out| out.write_all(markdown.as_bytes()))
                .map_err(|e| failed(path, e))?,
        );
    }
    if let Some(path) = &request.report_json {
        staged.push(
            crate::atomic_file::stage_json(
                path,
                &to_json(request, manifest, report, markdown_sha256),
            )
            .map_err(|e| failed(path, e))?,
        );
    }
    // Both reports, or neither.
    crate::atomic_file::publish_all(staged).map_err(|e| BatchError::Published(e.to_string()))
}

/// The JSON report: the reference's keys, each table's `summary` being the
/// audit dict its `materialize` produced.
pub(super) fn to_json(
    request: &BatchRequest,
    manifest: &Manifest,
    report: &BatchReport,
    markdown_sha256: Option<String>,
) -> Value {
    json!({
        "schema": REPORT_SCHEMA,
        "status": report.status(),
        "manifest": manifest.path.display().to_string(),
        "summary": {
            "tables": report.tables.len(),
            "failed_tables": report.failed_tables(),
            "input_rows": report.input_rows(),
            "output_rows": report.output_rows(),
        },
        "tables": report.tables.iter().map(table_json).collect::<Vec<_>>(),
        "run_provenance": provenance(request, manifest, markdown_sha256),
    })
}

fn table_json(run: &TableRun) -> Value {
    let spec = &run.spec;
    let mut entry = json!({
        "id": spec.id,
        "features": spec.features.display().to_string(),
        "scores": spec.score_arguments(),
        "out": spec.out.display().to_string(),
        "audit_json": spec.audit_json.as_ref().map(|p| p.display().to_string()),
        "config": spec.config_json,
    });
    let fields = entry.as_object_mut().expect("a table entry is an object");
    match &run.outcome {
        Ok(materialized) => {
            fields.insert("status".into(), "ok".into());
            fields.insert("summary".into(), materialized.audit.clone());
        }
        Err(e) => {
            fields.insert("status".into(), "error".into());
            fields.insert("error".into(), e.to_string().into());
        }
    }
    entry
}

/// The reference's `run_provenance` shape — `inputs` and `outputs` keyed by
/// name, paths described as `{exists, kind, path, sha256}` — with this
/// tool's version and registry under keys of their own. The entrypoint is a
/// plain string, as `materialize`'s is: the binary is not hashed.
fn provenance(
    request: &BatchRequest,
    manifest: &Manifest,
    markdown_sha256: Option<String>,
) -> Value {
    json!({
        "schema": "second-opinion-run-provenance-v1",
        "entrypoint": "second-opinion batch",
        "tool_version": crate::TOOL_VERSION,
        "argv": request.argv,
        "args": request.args_json(),
        "registry": request.registry.as_ref().map(|p| p.display().to_string()),
        "inputs": {
            "manifest": described(&manifest.path, Some(manifest.sha256.clone())),
        },
        "outputs": {
            // A file cannot hold its own hash: the JSON report is described
            // as the file it becomes, without one.
            "report_json": request.report_json.as_deref().map(|path| json!({
                "exists": true,
                "kind": "file",
                "path": path.display().to_string(),
                "sha256": null,
            })),
            // Put in place with the JSON: described as the file it becomes.
            "report_md": request.report_md.as_deref().map(|path| json!({
                "exists": true,
                "kind": "file",
                "path": path.display().to_string(),
                "sha256": markdown_sha256,
            })),
        },
    })
}

/// A path as the reference describes one: whether it exists, what it is,
/// and a file's sha256 (`known` when the bytes were already hashed).
fn described(path: &Path, known: Option<String>) -> Value {
    let kind = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => "directory",
        Ok(_) => "file",
        Err(_) => "missing",
    };
    let sha256 = match kind {
        "file" => known.or_else(|| crate::digest::sha256_file(path).ok()),
        _ => None,
    };
    json!({
        "exists": kind != "missing",
        "kind": kind,
        "path": path.display().to_string(),
        "sha256": sha256,
    })
}

/// The reference's Markdown report, byte for byte, with user strings made
/// safe for a table cell.
pub(super) fn to_markdown(report: &BatchReport) -> String {
    let mut lines = vec![
        "# Second-Opinion Materializer Batch Report".to_string(),
        String::new(),
        format!("Status: **{}**", report.status()),
        String::new(),
        "| Table | Status | Input rows | Output rows | Output |".to_string(),
        "| --- | --- | ---: | ---: | --- |".to_string(),
    ];
    for run in &report.tables {
        let (status, input_rows, output_rows) = match &run.outcome {
            Ok(m) => (
                "ok",
                m.summary.input_rows.to_string(),
                m.summary.output_rows.to_string(),
            ),
            Err(_) => ("error", "-".to_string(), "-".to_string()),
        };
        lines.push(format!(
            "| {} | {status} | {input_rows} | {output_rows} | {} |",
            cell(&run.spec.id),
            code_cell(&run.spec.out.display().to_string()),
        ));
    }
    lines.join("\n") + "\n"
}

/// Text in a table cell: a `|` would end the cell and a backtick open a
/// code span, so both are escaped; a line break would end the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('`', "\\`")
        .replace(['\r', '\n'], " ")
}

/// Text as a code span in a table cell. Backslashes do not escape inside a
/// code span, so a backtick in the text is fenced by a longer run of
/// backticks (CommonMark's rule); `\|` is the one escape a table cell
/// honours inside a span (GFM's rule).
fn code_cell(text: &str) -> String {
    let text = text.replace('|', "\\|").replace(['\r', '\n'], " ");
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    // A span's content beginning or ending with a backtick needs a space
    // (stripped again by the renderer) to keep it apart from the fence.
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_backticks() {
        assert_eq!(cell("a|b`c"), "a\\|b\\`c");
        assert_eq!(cell("two\nlines"), "two lines");
        assert_eq!(code_cell("out/a.jsonl"), "`out/a.jsonl`");
        assert_eq!(code_cell("a|b.jsonl"), "`a\\|b.jsonl`");
        assert_eq!(code_cell("a`b.jsonl"), "``a`b.jsonl``");
        assert_eq!(code_cell("a``b`"), "``` a``b` ```");
    }
}
