//! `export` (the registry joined onto a feature table) and `materialize`
//! (the reference script's one-shot ingest + export).

use std::path::{Path, PathBuf};

use serde_json::json;

use second_opinion::atomic_file::{check_writable, refuse_clashes, registry_files, stage_json};
use second_opinion::command_line::CommandLine;
use second_opinion::crash_point::crash_point;
use second_opinion::export::recorded::{publish_recorded, settled_warning};
use second_opinion::export::ExportOptions;
use second_opinion::ingest::FieldNames;
use second_opinion::materialize::{python_path, MaterializeRequest};
use second_opinion::registry::{OpenMode, Registry, SourceSpec};

use crate::cli::args::{ExportArgs, MaterializeArgs};
use crate::cli::render;
use crate::Failure;

/// `export`: write the table with the registry's scores as namespaced
/// columns, and record the export in the registry.
pub fn export(registry_path: &Path, args: ExportArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    if let Some(tag) = &args.tag {
        registry.check_tag_free(tag)?;
    }
    let Some(features) = args.features.clone() else {
        return export_scores_only(&registry, args);
    };
    let options = ExportOptions {
        scorers: args.scorers,
        key_column: args.key_column,
        key_normalize: args.key_normalize.unwrap_or_default(),
        normalize_registry_keys: true,
        missing_policy: args.missing_policy,
        bad_policy: args.bad_policy,
        prefix: args.prefix,
        overwrite: args.overwrite,
        out_format: args.out_format,
        components: !args.no_components,
        normalize: args.normalize,
        columns: args.columns,
        frame_column: args.frame_column,
        frame_base: args.frame_base,
        frame_match: args.frame_match,
        max_frame_gap: args.max_frame_gap,
        pool: args.pool,
        per_frame: true,
        as_of: args.as_of,
        command_line: CommandLine::Registry,
        csv_safe: args.csv_safe,
        reference_order: false,
        // The command always records what it exports.
        unrecorded: false,
    };
    let report_error =
        |path: &Path, e| Failure::data(format!("{}: cannot write report: {e}", path.display()));
    // Refused before the export runs, not after it wrote the table.
    if let Some(path) = &args.report_json {
        let registry_files = registry_files(registry_path);
        let mut inputs: Vec<(&str, &Path)> = vec![("--features", &features)];
        inputs.extend(registry_files.iter().map(|(role, p)| (*role, p.as_path())));
        refuse_clashes(
            &[("--out", &args.out), ("--report-json", path)],
            &inputs,
            &[("--out", "--features")],
        )
        .map_err(Failure::usage)?;
        check_writable(path).map_err(|e| report_error(path, e))?;
    }
    let settled = registry.settle_pending_exports()?;
    let mut prepared =
        second_opinion::export::prepare_export(&registry, &features, &args.out, &options)?;
    prepared
        .summary
        .warnings
        .extend(settled.iter().map(settled_warning));
    // Shown before anything later can fail.
    render::print_export_warnings(&prepared.summary);
    let report = match &args.report_json {
        Some(path) => {
            Some(stage_json(path, &prepared.summary.to_json()).map_err(|e| report_error(path, e))?)
        }
        None => None,
    };
    let earlier = registry
        .exports()?
        .into_iter()
        .rev()
        .find(|e| e.output_path == prepared.summary.output_path);
    let mut record = prepared.summary.record("export");
    record.note = args.note;
    let id = registry.record_export(&record, args.tag.as_deref())?;
    crash_point("export-recorded");
    let (summary, table) = prepared.into_parts();
    publish_recorded(&registry, id, table, report.into_iter().collect())
        .map_err(|e| Failure::data(format!("{e} (the export is recorded as {id})")))?;
    render::print_export_summary(&summary);
    render::print_export_recorded(id, &summary, args.tag.as_deref(), earlier.as_ref());
    Ok(())
}

/// `export --scores-only`: the scores alone as a table, recorded as an
/// export.
fn export_scores_only(registry: &Registry, args: ExportArgs) -> Result<(), Failure> {
    for settled in registry.settle_pending_exports()? {
        tell!("second-opinion: warning: {}", settled_warning(&settled));
    }
    let (summary, table) = second_opinion::export::scores_only::prepare_scores_only(
        registry,
        &args.out,
        args.out_format,
        args.scorers.as_deref(),
        args.as_of.as_ref(),
        args.csv_safe,
    )?;
    let mut record = summary.record(args.scorers.as_deref());
    record.note = args.note;
    let id = registry.record_export(&record, args.tag.as_deref())?;
    crash_point("export-recorded");
    publish_recorded(registry, id, table, Vec::new())
        .map_err(|e| Failure::data(format!("{e} (the export is recorded as {id})")))?;
    let scorers: Vec<&str> = summary.scorers.iter().map(|s| s.0.as_str()).collect();
    tell!(
        "{}: {} scores written (scorers: {}) at {}",
        summary.output_path,
        summary.rows,
        scorers.join(", "),
        summary.point
    );
    tell!(
        "recorded as export {id}{} (content {})",
        args.tag
            .as_deref()
            .map(|t| format!(", tagged '{t}'"))
            .unwrap_or_default(),
        render::short_hash(&summary.content_digest)
    );
    Ok(())
}

/// `materialize`: ingest the score files into `registry` (a throw-away one
/// in memory when `None`) and export them onto the table, as the reference
/// script does.
pub fn materialize(registry: Option<PathBuf>, args: MaterializeArgs) -> Result<(), Failure> {
    if registry.is_none() && (args.tag.is_some() || args.note.is_some()) {
        return Err(Failure::usage(
            "materialize: --tag and --note name the export a registry records: pass --registry PATH",
        ));
    }
    // The reference's parsed options, by their Python names, paths as
    // Python's `Path` spells them; this tool's own options are recorded
    // beside them by `materialize`.
    let request = MaterializeRequest {
        scores: args.scores.iter().map(|s| SourceSpec::parse(s)).collect(),
        args: json!({
            "features": python_path(&args.features),
            "scores": args.scores,
            "out": python_path(&args.out),
            "audit_json": args.audit_json.as_deref().map(python_path),
            "key_column": args.key_column,
            "score_key_field": args.score_key_field,
            "score_field": args.score_field,
            "key_normalize": args.key_normalize.unwrap_or_default().name(),
            "missing_policy": args.missing_policy.name(),
            "prefix": args.prefix,
            "overwrite": args.overwrite,
        }),
        features: args.features,
        out: args.out,
        audit_json: args.audit_json,
        key_column: args.key_column,
        fields: FieldNames {
            key: args.score_key_field,
            score: args.score_field,
            frame_base: None,
        },
        key_normalize: args.key_normalize,
        missing_policy: args.missing_policy,
        prefix: args.prefix,
        overwrite: args.overwrite,
        scale: args.scale,
        registry,
        tag: args.tag,
        note: args.note,
        argv: arguments_after("materialize"),
        command_line: CommandLine::Materialize,
        csv_safe: args.csv_safe,
    };
    let summary = second_opinion::materialize::materialize_written(&request)?;
    render::print_export_warnings(&summary);
    render::print_export_summary(&summary);
    Ok(())
}

/// The command line after the program and its subcommand, as the
/// reference's provenance records its `argv` (global options given
/// before the subcommand are not part of it).
fn arguments_after(subcommand: &str) -> Vec<String> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.iter().position(|a| a == subcommand) {
        Some(at) => arguments[at + 1..].to_vec(),
        None => arguments,
    }
}
