//! The commands that only read the registry: `scorers`, `files`,
//! `provenance` and `exports`.

use std::path::Path;

use second_opinion::registry::{OpenMode, Registry};

use second_opinion::history;

use crate::cli::args::{ExportsArgs, ExportsCommand, ProvenanceArgs};
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
    let point = args
        .as_of
        .as_ref()
        .map(|reference| registry.resolve_point(reference))
        .transpose()?;
    let entries =
        registry.provenance(&args.scorer, &args.key, args.key_normalize, point.as_ref())?;
    if args.json {
        return render::print_json(&entries);
    }
    render::print_provenance(&entries, point.as_ref());
    Ok(())
}

/// `exports`: the exports recorded in the registry, and what can be done
/// with them (show, diff, tag, replay).
pub fn exports(registry_path: &Path, args: ExportsArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    match args.command {
        None => {
            let exports = registry.exports()?;
            if args.json {
                return render::print_json(&exports);
            }
            render::print_exports(&exports);
            Ok(())
        }
        Some(ExportsCommand::Show { export, json }) => {
            let shown = history::show::show_export(&registry, &export)?;
            if json {
                return render::print_json(&shown);
            }
            render::print_export_show(&shown);
            Ok(())
        }
        Some(ExportsCommand::Diff { a, b, rows, json }) => {
            let mut diff = history::diff::diff(&registry, &a, &b)?;
            if !rows {
                diff.scorers.iter_mut().for_each(|s| s.keys.clear());
            }
            if json {
                return render::print_json(&diff);
            }
            render::print_diff(&diff, rows);
            Ok(())
        }
        Some(ExportsCommand::Tag { name, reference }) => {
            let point = registry.resolve_point(&reference)?;
            let tag = registry.tag_point(&name, &point)?;
            say!(
                "tagged {} as '{}'{}",
                point,
                tag.name,
                tag.export_id
                    .map(|id| format!(" (export {id})"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Some(ExportsCommand::Replay {
            export,
            out,
            features,
            json,
        }) => {
            let request = history::replay::ReplayRequest {
                export,
                out,
                features,
            };
            let replay = history::replay::replay(&registry, &request)?;
            if json {
                render::print_json(&replay)?;
            } else {
                render::print_replay(&replay);
            }
            if replay.reproduced() {
                Ok(())
            } else {
                Err(Failure::already_shown())
            }
        }
    }
}
