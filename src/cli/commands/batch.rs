//! `batch` (many `materialize` runs from the reference's batch manifest,
//! one report).

use std::path::PathBuf;

use second_opinion::batch::{self, BatchRequest};

use crate::cli::args::BatchArgs;
use crate::cli::render;
use crate::Failure;

/// `batch`: check the manifest whole, run its tables in order, write the
/// reports, and end with the reference's summary line. `registry` is the one
/// registry every table shares (`--registry` on the command line), or `None`
/// for a throw-away registry per table.
pub fn batch(registry: Option<PathBuf>, args: BatchArgs) -> Result<(), Failure> {
    let request = BatchRequest {
        manifest: args.manifest,
        base_dir: args.base_dir,
        report_json: args.report_json,
        report_md: args.report_md,
        fail_fast: args.fail_fast,
        csv_safe: args.csv_safe,
        registry,
        argv: std::env::args().collect(),
    };
    let manifest = batch::load(&request)?;
    for key in &manifest.ignored_keys {
        tell!(
            "second-opinion: warning: {}: top-level key {key:?} ignored (a manifest holds defaults and tables)",
            manifest.path.display()
        );
    }
    let report = batch::run(&request, &manifest, render::print_batch_table)?;
    if !report.not_run.is_empty() {
        tell!(
            "second-opinion: --fail-fast: {} table(s) not run: {}",
            report.not_run.len(),
            report.not_run.join(", ")
        );
    }
    tell!("{}", report.summary_line());
    if report.failed_tables() > 0 {
        // Each failure was shown as its table ended, and the summary line
        // must stay the last: only the exit code is left to give.
        return Err(Failure::already_shown());
    }
    Ok(())
}
