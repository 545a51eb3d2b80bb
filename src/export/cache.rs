//! The score indexes of the last export, kept for the next export that
//! would load exactly the same ones: a trainer calls `export` many times
//! on one open registry, and reading every scorer's live scores again
//! each time costs more than the join.
//!
//! Why reuse is safe: what an export loads is fixed by the registry point
//! it reads at. History is append-only, and every change that an export
//! can see — an ingest, a `--replace`, `scorers set`, a rename, a merge,
//! a retired file — commits a new point (SQLite: `begin_change` inside
//! the write transaction; PostgreSQL: the point clock's row, locked until
//! the commit, so points commit in order). The key therefore holds the
//! newest point (its number and commit time) as well as the point read:
//! any change since the indexes were loaded makes a new key, even for an
//! `--as-of` read of an older point. The key is read inside the export's
//! own read snapshot, so an ingest committing meanwhile only means a
//! reload next time.

use crate::registry::{Point, Registry};

use super::index::{load_indexes, read_point, Loaded, ScorerIndex, TableHint};
use super::{ExportColumn, ExportError, ExportOptions};

/// At most one export's score indexes, and what they were loaded for.
#[derive(Default)]
pub struct IndexCache {
    entry: Option<Entry>,
}

/// One load: its key, and the indexes as loaded (no export's counts).
struct Entry {
    key: LoadKey,
    indexes: Vec<ScorerIndex>,
    sources: Vec<String>,
    point: Point,
}

/// Everything a load of the score indexes depends on.
#[derive(PartialEq, Debug)]
struct LoadKey {
    /// The point read (`as_of`, else the newest).
    point: Point,
    /// The newest point when the indexes were read.
    latest: Point,
    /// The table joins per frame (frames are loaded then).
    per_frame: bool,
    /// The options `load_indexes` reads, as text.
    options: String,
}

impl LoadKey {
    fn of(point: Point, latest: Point, options: &ExportOptions, table: TableHint) -> LoadKey {
        // Every option `load_indexes` and the index builders look at; an
        // option left out here would let a cached index answer an export
        // that should have loaded a different one.
        let options = format!(
            "{:?}",
            (
                &options.scorers,
                &options.key_normalize,
                options.normalize_registry_keys,
                options.writes(ExportColumn::Components),
                options.writes(ExportColumn::ScoreNorm),
                &options.pool,
                &options.prefix,
            )
        );
        LoadKey {
            point,
            latest,
            per_frame: table.per_frame,
            options,
        }
    }
}

impl IndexCache {
    /// An empty cache.
    pub fn new() -> IndexCache {
        IndexCache::default()
    }

    /// Forget the indexes held (and free their memory).
    pub fn clear(&mut self) {
        self.entry = None;
    }

    /// Whether indexes are held.
    pub fn is_empty(&self) -> bool {
        self.entry.is_none()
    }

    /// The export's score indexes: the held ones when they were loaded
    /// for the same key, else loaded (and then held in place of the old
    /// ones). Run inside the export's read snapshot. A load that probes
    /// the table's keys is never held: its index grows as the join runs.
    pub(super) fn load(
        &mut self,
        registry: &Registry,
        options: &ExportOptions,
        table: TableHint,
    ) -> Result<Loaded, ExportError> {
        if table.can_probe {
            return load_indexes(registry, options, table);
        }
        let (point, _) = read_point(registry, options.as_of.as_ref())?;
        let latest = registry.latest_point()?;
        let key = LoadKey::of(point, latest, options, table);
        if let Some(entry) = &self.entry {
            if entry.key == key {
                let indexes = entry.indexes.iter().map(ScorerIndex::fresh_copy).collect();
                return Ok((indexes, entry.sources.clone(), Some(entry.point.clone())));
            }
        }
        // The old indexes go before the new ones are read: one set in
        // memory, not two.
        self.entry = None;
        let (indexes, sources, point) = load_indexes(registry, options, table)?;
        if let Some(point) = &point {
            if indexes.iter().all(|index| index.probe.is_none()) {
                self.entry = Some(Entry {
                    key,
                    indexes: indexes.iter().map(ScorerIndex::fresh_copy).collect(),
                    sources: sources.clone(),
                    point: point.clone(),
                });
            }
        }
        Ok((indexes, sources, point))
    }
}
