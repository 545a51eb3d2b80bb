//! `exports show`: what one export read, scorer by scorer.

use serde::Serialize;

use crate::registry::exports::{At, ExportRecord};
use crate::registry::history::FileAt;
use crate::registry::{Point, PointRef, Registry, RegistryError};

/// An export and what it read.
#[derive(Clone, Debug, Serialize)]
pub struct ExportShow {
    pub export: ExportRecord,
    pub point: Point,
    pub scorers: Vec<ScorerRead>,
}

/// One scorer as an export read it.
#[derive(Clone, Debug, Serialize)]
pub struct ScorerRead {
    pub name: String,
    pub slug: String,
    pub live_rows: u64,
    pub ok: u64,
    pub bad: u64,
    /// The files its live rows came from.
    pub files: Vec<FileAt>,
    /// The `--scorer-version`s of those files.
    pub versions: Vec<String>,
    /// The digest of its scores, as the export recorded it.
    pub digest: Option<String>,
}

/// What the export `reference` names read: per scorer, the rows live at
/// its point and the files they came from.
pub fn show_export(registry: &Registry, reference: &PointRef) -> Result<ExportShow, RegistryError> {
    registry.read_snapshot(|registry| {
        let (id, point) = super::export_named(registry, reference)?;
        let export = registry.export_record(id)?;
        let read: Vec<&str> = export
            .scorers
            .as_array()
            .map(|names| names.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        let mut scorers = Vec::new();
        for scorer in registry.live_scorers(At::Point(point.seq))? {
            if !read.contains(&scorer.name.as_str()) {
                continue;
            }
            let files = registry.files_at(scorer.id, point.seq)?;
            let mut versions: Vec<String> = files
                .iter()
                .filter_map(|f| f.scorer_version.clone())
                .collect();
            versions.sort();
            versions.dedup();
            let (ok, bad) = files
                .iter()
                .fold((0, 0), |(ok, bad), f| (ok + f.ok, bad + f.bad));
            scorers.push(ScorerRead {
                digest: export
                    .registry_state
                    .get(&scorer.name)
                    .and_then(|state| state.get("digest"))
                    .and_then(|d| d.as_str())
                    .map(str::to_string),
                name: scorer.name,
                slug: scorer.slug,
                live_rows: ok + bad,
                ok,
                bad,
                files,
                versions,
            });
        }
        Ok(ExportShow {
            export,
            point,
            scorers,
        })
    })
}
