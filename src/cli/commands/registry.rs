//! The commands that only read the registry: `scorers`, `files`,
//! `provenance` and `exports`.

use std::path::Path;

use second_opinion::registry::{OpenMode, Registry};

use crate::cli::args::ProvenanceArgs;
use crate::cli::render;
use crate::Failure;

/// `scorers`: the scorers the registry knows, with their row counts.
pub fn scorers(registry_path: &Path, as_json: bool) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let scorers = registry.scorers()?;
    if as_json {
        return render::print_json(&scorers);
    }
    render::print_scorers(&scorers);
    Ok(())
}

/// `files`: the ingested files, with their hashes and scorers.
pub fn files(registry_path: &Path, as_json: bool) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let files = registry.files()?;
    if as_json {
        return render::print_json(&files);
    }
    render::print_files(&files);
    Ok(())
}

/// `provenance`: the live score of a scorer and clip, and its history.
pub fn provenance(registry_path: &Path, args: ProvenanceArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let entries = registry.provenance(&args.scorer, &args.key, args.key_normalize)?;
    if args.json {
        return render::print_json(&entries);
    }
    render::print_provenance(&entries);
    Ok(())
}

/// `exports`: the exports recorded in the registry.
pub fn exports(registry_path: &Path, as_json: bool) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let exports = registry.exports()?;
    if as_json {
        return render::print_json(&exports);
    }
    render::print_exports(&exports);
    Ok(())
}
