//! The commands that only read the registry: `scorers`, `files`,
//! `provenance` and `exports`; and `registry copy`, which reads one whole.

use std::path::Path;

use second_opinion::registry::{OpenMode, Registry};

use second_opinion::history;

use second_opinion::registry::corrections::ScorerSettings;

use crate::cli::args::{
    ExportsArgs, ExportsCommand, FilesArgs, FilesCommand, ProvenanceArgs, RegistryArgs,
    RegistryCommand, ScorersArgs, ScorersCommand,
};
use crate::cli::render;
use crate::Failure;

/// `scorers`: the scorers the registry knows, with their row counts; and
/// the corrections of a scorer (set, rename, merge).
pub fn scorers(registry_path: &Path, args: ScorersArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let correction = match args.command {
        None => {
            let scorers = registry.scorers()?;
            if args.json {
                return render::print_json(&scorers);
            }
            render::print_scorers(&scorers);
            return Ok(());
        }
        Some(ScorersCommand::Set {
            scorer,
            scale,
            higher_is_better,
            lower_is_better,
            version,
        }) => {
            if scale.is_none() && !higher_is_better && !lower_is_better && version.is_none() {
                return Err(Failure::usage(
                    "scorers set: give --scale, --higher-is-better, --lower-is-better or --version",
                ));
            }
            let settings = ScorerSettings {
                scale,
                higher_is_better: match (higher_is_better, lower_is_better) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                version,
            };
            registry.set_scorer(&scorer, &settings)?
        }
        Some(ScorersCommand::Rename { old, new }) => registry.rename_scorer(&old, &new)?,
        Some(ScorersCommand::Merge { alias, into }) => registry.merge_scorer(&alias, &into)?,
    };
    if args.json {
        return render::print_json(&correction);
    }
    render::print_scorer_correction(&correction);
    Ok(())
}

/// `files`: the ingested files, with their hashes and scorers; and `files
/// retire`.
pub fn files(registry_path: &Path, args: FilesArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    match args.command {
        None => {
            let files = registry.files()?;
            if args.json {
                return render::print_json(&files);
            }
            render::print_files(&files);
            Ok(())
        }
        Some(FilesCommand::Retire {
            file,
            restore_previous,
            json,
        }) => {
            let retirement = registry.retire_file(&file, restore_previous)?;
            if json {
                return render::print_json(&retirement);
            }
            render::print_retirement(&retirement, restore_previous);
            Ok(())
        }
    }
}

/// `provenance`: the live score of a scorer and clip, and its history.
pub fn provenance(registry_path: &Path, args: ProvenanceArgs) -> Result<(), Failure> {
    let registry = Registry::open(registry_path, OpenMode::MustExist)?;
    let point = args
        .as_of
        .as_ref()
        .map(|reference| registry.resolve_point(reference))
        .transpose()?;
    let entries = registry.provenance(
        args.scorer.as_deref(),
        &args.key,
        args.key_normalize,
        point.as_ref(),
    )?;
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

/// `registry copy FROM TO`: a whole registry into a new or empty one.
pub fn registry(args: RegistryArgs) -> Result<(), Failure> {
    match args.command {
        RegistryCommand::Copy { from, to, json } => {
            let summary = second_opinion::registry::copy::copy_registry(&from, &to)?;
            if json {
                return render::print_json(&summary);
            }
            render::print_copy_summary(&summary);
            Ok(())
        }
    }
}
