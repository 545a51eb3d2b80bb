//! `ingest` (score files into the registry) and `inspect` (the same
//! reading as a dry run, showing how a file would go in).

use std::path::Path;

use serde_json::json;

use second_opinion::atomic_file::{
    check_writable, refuse_clashes, registry_files, write_json_atomically,
};
use second_opinion::ingest::detect_format;
use second_opinion::progress::NoProgress;
use second_opinion::registry::{IngestFileError, IngestOptions, OpenMode, Registry, SourceSpec};

use crate::cli::args::{IngestArgs, InspectArgs};
use crate::cli::{progress, render};
use crate::Failure;

/// `ingest`: each file in its own transaction; a refused file leaves the
/// registry as it was and the others go on.
pub fn ingest(registry_path: &Path, args: IngestArgs) -> Result<(), Failure> {
    let mut options = IngestOptions {
        scorer_version: args.scorer_version,
        on_conflict: args.rules.on_conflict(),
        strict: args.rules.strict,
        ..args.read.options()
    };
    let sources: Vec<SourceSpec> = args.sources.iter().map(|a| SourceSpec::parse(a)).collect();
    options.prepare_for(&sources)?;
    if let Some(report) = &args.report_json {
        let registry_files = registry_files(registry_path);
        let mut inputs: Vec<(&str, &Path)> = sources
            .iter()
            .map(|s| ("a score file", s.path.as_path()))
            .collect();
        inputs.extend(registry_files.iter().map(|(role, p)| (*role, p.as_path())));
        refuse_clashes(&[("--report-json", report)], &inputs, &[]).map_err(Failure::usage)?;
        // Files are committed one by one: a report that cannot be written
        // must be found before the first of them.
        check_writable(report).map_err(|e| {
            Failure::data(format!(
                "{}: cannot write report: {e}; nothing was ingested",
                report.display()
            ))
        })?;
    }
    let mut registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
    let mut entries = Vec::new();
    let mut failures = Vec::new();
    for source in sources {
        let progress = progress::file_bar(&source);
        let outcome = registry.ingest_file(&source, &options, &progress::BytesBar(&progress));
        progress.finish_and_clear();
        match outcome {
            Ok(outcome) => {
                render::report_ingested(&outcome);
                entries.push(outcome.to_json());
            }
            Err(error) => {
                render::report_not_ingested(&source.path, &error);
                entries.push(error.report_entry(&source));
                failures.push(error);
            }
        }
    }
    if let Some(report_path) = &args.report_json {
        let report = json!({
            "registry": registry_path.display().to_string(),
            "tool_version": second_opinion::TOOL_VERSION,
            "files": entries,
            "failed_files": failures.len(),
        });
        write_json_atomically(report_path, &report).map_err(|e| {
            let ingested = entries.len() - failures.len();
            Failure::data(format!(
                "{}: cannot write report: {e}; the {ingested} file{} ingested before stay in the registry \
                 (ingest them again to get the report: they are skipped as already ingested)",
                report_path.display(),
                if ingested == 1 { "" } else { "s" },
            ))
        })?;
    }
    if failures.is_empty() {
        return Ok(());
    }
    let (message, usage) = IngestFileError::summarize(&failures, args.sources.len());
    Err(if usage {
        Failure::usage(message)
    } else {
        Failure::data(message)
    })
}

/// `inspect`: read one file as `ingest` would, write nothing, and show the
/// format, keys, scorer, scale, first rows and every problem.
pub fn inspect(registry_path: &Path, args: InspectArgs) -> Result<(), Failure> {
    let mut source = SourceSpec::parse(&args.source);
    let forced = args.read.format;
    let options = IngestOptions {
        dry_run: true,
        preview_rows: args.rows,
        on_conflict: args.rules.on_conflict(),
        strict: args.rules.strict,
        ..args.read.options()
    };
    // A format that names its scorer (a DOVER CSV) is previewed as that
    // scorer without a label; ingest still wants one (DOVER or DOVER-Mobile).
    let provisional = match (&source.label, &options.scorer) {
        (None, None) => options
            .format
            .or_else(|| detect_format(&source.path).ok().map(|(format, _)| format))
            .and_then(|format| Some((format, format.scorer_family()?))),
        _ => None,
    };
    if let Some((_, family)) = provisional {
        source.label = Some(family.to_string());
    }
    // Judged against the registry when there is one (duplicates, scales),
    // else against an empty one in memory: inspect never creates a file.
    // A PostgreSQL registry is judged against as it stands (its dry run
    // rolls back).
    let on_server = second_opinion::registry::postgres::is_postgres_url(registry_path);
    let mut registry = if on_server || registry_path.exists() {
        Registry::open(registry_path, OpenMode::MustExist)?
    } else {
        Registry::open_in_memory()?
    };
    let outcome = registry.ingest_file(&source, &options, &NoProgress);
    if args.json {
        let report = match &outcome {
            Ok(outcome) => json!({
                "provisional_label": provisional.map(|(_, family)| family),
                "would_ingest": true,
                "file": outcome.to_json(),
                "preview": outcome.preview,
                "scorers": outcome.scorer_details,
                "problem": null,
            }),
            Err(error) => json!({
                "would_ingest": false,
                "file": {"path": source.path.display().to_string(), "label": source.label},
                "problem": error.to_string(),
            }),
        };
        render::print_json(&report)?;
    }
    match outcome {
        Ok(outcome) => {
            if !args.json {
                render::print_inspection(&outcome);
                if let Some((format, family)) = provisional {
                    say!(
                        "label:    none given: previewed as '{family}', the scorer {} files come from; \
                         `ingest` needs LABEL=PATH to say which model wrote it ({family}=PATH, or e.g. {family}-mobile=PATH)",
                        format.name()
                    );
                }
            }
            Ok(())
        }
        Err(error) => {
            if !args.json {
                // The format it was read as, when the failure came after
                // the format was told.
                let format = match forced {
                    Some(format) => Some((format, "as --format says".to_string())),
                    None => detect_format(&source.path).ok(),
                };
                render::print_not_inspected(&error, format);
            }
            let refused = format!("{}: would not be ingested", source.path.display());
            Err(Failure::from(error).reworded(refused))
        }
    }
}
