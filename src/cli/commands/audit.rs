//! `audit` (signal-family coverage and the rest of the report, over
//! feature tables) and `families` (list or edit the families it uses).

use std::path::Path;

use second_opinion::atomic_file::publish_all;
use second_opinion::audit::families::{self, NewFamily};
use second_opinion::audit::{self, AuditInput, AuditOptions};
use second_opinion::registry::{OpenMode, Registry};

use crate::cli::args::{AuditArgs, FamiliesCommand};
use crate::cli::render;
use crate::Failure;

/// The registry the audit reads families from: the file when it exists,
/// or the PostgreSQL registry it names, else the default families in
/// memory (and nothing is recorded).
fn audit_registry(registry_path: &Path) -> Result<(Registry, bool), Failure> {
    if second_opinion::registry::postgres::is_postgres_url(registry_path) || registry_path.exists()
    {
        Ok((Registry::open(registry_path, OpenMode::MustExist)?, true))
    } else {
        tell!(
            "second-opinion: no registry at {}: using the default signal families; nothing is recorded",
            registry_path.display()
        );
        Ok((Registry::open_in_memory()?, false))
    }
}

/// `audit`: write the JSON, Markdown (and HTML) reports, record the run
/// when there is a registry, and print the `[signal-mix]` line.
pub fn audit(registry_path: &Path, args: AuditArgs) -> Result<(), Failure> {
    let options = AuditOptions {
        inputs: args.inputs.iter().map(|i| AuditInput::parse(i)).collect(),
        input_arguments: args.inputs.clone(),
        target: args.target,
        top_k: args.top_k,
        redundancy_threshold: args.redundancy_threshold,
        complement_threshold: args.complement_threshold,
        min_finite_ratio: args.min_finite_ratio,
        prefix: args.prefix,
        key_column: args.key_column,
        fr_column: args.fr_column,
        fr_ceiling: args.fr_ceiling,
        disagreement_threshold: args.disagreement_threshold,
        folds: args.folds,
        seed: args.seed,
        ridge_alpha: args.ridge_alpha,
        compare_last: args.compare_last,
        skip_families: args
            .families
            .skipped()
            .iter()
            .map(|k| k.to_string())
            .chain(args.skip_family.iter().cloned())
            .collect(),
    };
    let paths = audit::ReportPaths {
        json: args.out_json,
        markdown: args.out_md,
        html: args.out_html,
    };
    paths.check_writable(
        &audit::ReportRoles {
            json: "--out-json",
            markdown: "--out-md",
            html: "--out-html",
            input: "an --input table",
        },
        &options.inputs,
        registry_path,
    )?;
    let (registry, recorded) = audit_registry(registry_path)?;
    let audited = audit::audit(&registry, &options)?;
    // Every report is written to a temporary, and the run recorded, before
    // any report is put in place: a failure changes none of them.
    let staged = audit::stage_reports(
        &audited,
        &paths,
        std::env::args().collect(),
        recorded.then_some(registry_path),
    )?;
    let run = match recorded {
        true => Some(audit::history::record(
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
    if let Some(run) = run {
        tell!("audit run {run} recorded in {}", registry_path.display());
    }
    render::print_audit_summary(&audited, &paths);
    Ok(())
}

/// `families list|add-pattern|remove-pattern|add`. Patterns are checked
/// before the registry is created.
pub fn families(registry_path: &Path, command: FamiliesCommand) -> Result<(), Failure> {
    match command {
        FamiliesCommand::List(flag) => {
            let (registry, _) = audit_registry(registry_path)?;
            let all = families::load_families(&registry)?;
            if flag.json {
                return render::print_json(&all);
            }
            render::print_families(&all);
        }
        FamiliesCommand::AddPattern { family, regex } => {
            families::checked_pattern(&regex)?;
            let registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
            if families::add_pattern(&registry, &family, &regex)? {
                say!("{family}: pattern '{regex}' added");
            } else {
                say!("{family}: already has pattern '{regex}'");
            }
        }
        FamiliesCommand::RemovePattern { family, regex } => {
            let registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
            families::remove_pattern(&registry, &family, &regex)?;
            say!("{family}: pattern '{regex}' removed");
        }
        FamiliesCommand::Add(args) => {
            for pattern in &args.patterns {
                families::checked_pattern(pattern)?;
            }
            let registry = Registry::open(registry_path, OpenMode::CreateIfMissing)?;
            families::add_family(
                &registry,
                &NewFamily {
                    key: args.key.clone(),
                    label: args.label,
                    question: args.question,
                    recommendation: args.recommendation,
                    patterns: args.patterns,
                    candidate_metrics: args.candidates,
                },
            )?;
            say!("{}: family added", args.key);
        }
    }
    Ok(())
}
