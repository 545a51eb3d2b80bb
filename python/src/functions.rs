//! The module functions: `materialize` (the reference's function) and
//! `audit` (the signal-family report), each the request its command builds.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use serde_json::json;

use second_opinion::atomic_file::publish_all;
use second_opinion::audit::{
    self as core_audit, AuditInput, AuditOptions, ReportPaths, ReportRoles,
};
use second_opinion::command_line::CommandLine;
use second_opinion::export::RowPolicy;
use second_opinion::ingest::FieldNames;
use second_opinion::key::KeyNormalize;
use second_opinion::materialize::{python_path, MaterializeRequest};
use second_opinion::registry::{OpenMode, Registry, SourceSpec};
use second_opinion::scorer::Scale;

use crate::errors::{parse_option, parse_optional, Failure};
use crate::registry::json_text;
use crate::tables::{work_folder, TableArgument};

/// `materialize`: the reference's one-shot join of score files onto a
/// feature table, written to `out` (and the audit JSON to `audit_json`).
/// Answers the audit dict as JSON text (what the reference returns).
#[pyfunction]
#[pyo3(signature = (features, scores, out, *, audit_json=None, key_column=None,
                    score_key_field=None, score_field=None, key_normalize=None,
                    missing_policy="mark", prefix="second_opinion".to_string(), overwrite=false,
                    scale=None, registry=None, tag=None, note=None, csv_safe=false,
                    argv=Vec::new()))]
#[allow(clippy::too_many_arguments)]
pub fn materialize(
    py: Python<'_>,
    features: PathBuf,
    scores: Vec<String>,
    out: PathBuf,
    audit_json: Option<PathBuf>,
    key_column: Option<String>,
    score_key_field: Option<String>,
    score_field: Option<String>,
    key_normalize: Option<String>,
    missing_policy: &str,
    prefix: String,
    overwrite: bool,
    scale: Option<String>,
    registry: Option<PathBuf>,
    tag: Option<String>,
    note: Option<String>,
    csv_safe: bool,
    argv: Vec<String>,
) -> PyResult<String> {
    if registry.is_none() && (tag.is_some() || note.is_some()) {
        return Err(Failure::usage(
            "materialize: tag and note name the export a registry records: pass registry=PATH",
        )
        .into());
    }
    let key_normalize = parse_optional::<KeyNormalize>("key_normalize", key_normalize.as_deref())?;
    let missing_policy = parse_option::<RowPolicy>("missing_policy", missing_policy)?;
    let scale = scale
        .map(|text| Scale::parse(&text).map_err(|e| Failure::usage(format!("scale={text:?}: {e}"))))
        .transpose()?;
    // The reference's parsed arguments by their Python names, as the
    // command records them in the audit's `run_provenance`.
    let args = json!({
        "features": python_path(&features),
        "scores": scores,
        "out": python_path(&out),
        "audit_json": audit_json.as_deref().map(python_path),
        "key_column": key_column,
        "score_key_field": score_key_field,
        "score_field": score_field,
        "key_normalize": key_normalize.unwrap_or_default().name(),
        "missing_policy": missing_policy.name(),
        "prefix": prefix,
        "overwrite": overwrite,
    });
    let request = MaterializeRequest {
        scores: scores.iter().map(|s| SourceSpec::parse(s)).collect(),
        args,
        features,
        out,
        audit_json,
        key_column,
        fields: FieldNames {
            key: score_key_field,
            score: score_field,
            frame_base: None,
        },
        key_normalize,
        missing_policy,
        prefix,
        overwrite,
        scale,
        registry,
        tag,
        note,
        argv,
        command_line: CommandLine::Materialize,
        csv_safe,
    };
    let audit = py.detach(|| -> Result<String, Failure> {
        let (_summary, audit) = second_opinion::materialize::materialize(&request)?;
        json_text(&audit)
    })?;
    Ok(audit)
}

/// One input of `audit`: its label (`None`: the command's default, the
/// file's stem) and a path (`LABEL=PATH` allowed, as on the command line)
/// or an Arrow stream.
type LabelledInput<'py> = (Option<String>, Bound<'py, PyAny>);

/// `audit`: the signal-family report over the tables, as JSON text (the
/// `--out-json` report, `run_provenance` included). The reports named are
/// written as the command writes them, and the run is recorded when the
/// registry exists.
#[pyfunction]
#[pyo3(signature = (inputs, *, registry, target=None, top_k=12, redundancy_threshold=0.95,
                    complement_threshold=0.70, min_finite_ratio=0.80,
                    prefix="second_opinion".to_string(), key_column=None, fr_column=None,
                    fr_ceiling=None, disagreement_threshold=0.5, folds=5, seed=0,
                    ridge_alpha=1.0, compare_last=false, skip_families=Vec::new(),
                    out_json=None, out_md=None, out_html=None, argv=Vec::new()))]
#[allow(clippy::too_many_arguments)]
pub fn audit(
    py: Python<'_>,
    inputs: Vec<LabelledInput<'_>>,
    registry: PathBuf,
    target: Option<String>,
    top_k: i64,
    redundancy_threshold: f64,
    complement_threshold: f64,
    min_finite_ratio: f64,
    prefix: String,
    key_column: Option<String>,
    fr_column: Option<String>,
    fr_ceiling: Option<f64>,
    disagreement_threshold: f64,
    folds: usize,
    seed: u64,
    ridge_alpha: f64,
    compare_last: bool,
    skip_families: Vec<String>,
    out_json: Option<PathBuf>,
    out_md: Option<PathBuf>,
    out_html: Option<PathBuf>,
    argv: Vec<String>,
) -> PyResult<String> {
    let work = work_folder()?;
    let mut audit_inputs = Vec::new();
    let mut input_arguments = Vec::new();
    // Tables that were never files are reported under this path, not the
    // temporary file they were read from.
    let mut streamed = Vec::new();
    for (position, (label, object)) in inputs.into_iter().enumerate() {
        match TableArgument::extract(&object, "inputs")? {
            TableArgument::Path(path) => {
                let argument = path.display().to_string();
                let (input, given) = match label {
                    Some(label) => (
                        AuditInput {
                            label: label.trim().to_string(),
                            path,
                        },
                        format!("{label}={argument}"),
                    ),
                    None => (AuditInput::parse(&argument), argument),
                };
                input_arguments.push(given);
                audit_inputs.push(input);
            }
            stream @ TableArgument::Stream(_) => {
                let label = label.unwrap_or_else(|| format!("table{}", position + 1));
                let path = stream.into_file(py, work.path(), &format!("input{position}"))?;
                input_arguments.push(format!("{label}=<arrow table>"));
                streamed.push(position);
                audit_inputs.push(AuditInput { label, path });
            }
        }
    }
    let options = AuditOptions {
        inputs: audit_inputs,
        input_arguments,
        target,
        top_k,
        redundancy_threshold,
        complement_threshold,
        min_finite_ratio,
        prefix,
        key_column,
        fr_column,
        fr_ceiling,
        disagreement_threshold,
        folds,
        seed,
        ridge_alpha,
        compare_last,
        skip_families,
    };
    let paths = ReportPaths {
        json: out_json,
        markdown: out_md,
        html: out_html,
    };
    let report = py.detach(|| run_audit(&registry, options, &paths, &streamed, argv))?;
    Ok(report)
}

/// The `audit` command's steps, in its order: outputs checked before any
/// table is read, the audit, every report staged and the run recorded,
/// then the reports put in place.
fn run_audit(
    registry_path: &Path,
    options: AuditOptions,
    paths: &ReportPaths,
    streamed: &[usize],
    argv: Vec<String>,
) -> Result<String, Failure> {
    paths.check_writable(
        &ReportRoles {
            json: "out_json",
            markdown: "out_md",
            html: "out_html",
            input: "an input table",
        },
        &options.inputs,
        registry_path,
    )?;
    // The registry when it exists, else the default families in memory
    // (and nothing is recorded), as the command does.
    let recorded = registry_path.exists();
    let registry = if recorded {
        Registry::open(registry_path, OpenMode::MustExist)?
    } else {
        Registry::open_in_memory()?
    };
    let mut audited = core_audit::audit(&registry, &options)?;
    for &position in streamed {
        let table = &mut audited.tables[position];
        table.path = "<arrow table>".to_string();
        table.absolute_path = "<arrow table>".to_string();
    }
    let staged = core_audit::stage_reports(
        &audited,
        paths,
        argv.clone(),
        recorded.then_some(registry_path),
    )?;
    let run = match recorded {
        true => Some(core_audit::history::record(
            &registry,
            &audited,
            &paths.to_json(),
        )?),
        false => None,
    };
    publish_all(staged).map_err(|e| {
        let run = run
            .map(|run| format!(" (the audit run is recorded as {run})"))
            .unwrap_or_default();
        Failure::data(format!("{e}{run}"))
    })?;
    let provenance =
        core_audit::run_provenance(&audited, paths, argv, recorded.then_some(registry_path));
    json_text(&core_audit::report::to_json(&audited, provenance))
}
