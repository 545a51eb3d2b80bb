//! How an export reads a scorer's scores: all of them into memory before
//! the first row (`full`), or only those the table's keys name, looked up
//! in the registry's live unique index batch by batch (`probe`). The
//! output and the recorded counts and digests are the same either way;
//! what differs is what the export costs: a full read follows the
//! registry's size, a probe follows the table's.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::key::KeyNormalize;
use crate::registry::exports::At;
use crate::registry::Registry;
use crate::table::TableFormat;

use super::index::normalizes_registry_keys;
use super::ExportOptions;

/// The environment variable that chooses the strategy: `probe`, `full`
/// or `auto` (the default). `probe` is a preference: a read that cannot
/// probe (see [`ScoreLoad::choose`]) reads in full all the same.
pub const SCORE_LOAD_VARIABLE: &str = "SECOND_OPINION_SCORE_LOAD";

/// A probed table row costs about four times what reading one score in
/// a full read costs (bench/RESULTS.md, growth-export: ~10 µs of CPU per
/// row for its lookup and the key check's, against ~2.2 µs per score
/// read in full), so a scorer is probed when it holds at least this many
/// times the rows the table is estimated to have. Memory favours the
/// probe further: a full read holds every score.
pub const PROBE_COST_RATIO: u64 = 4;

/// Below this many live scores a full read takes well under a second
/// whatever the table: it is kept, as the simplest read.
pub const PROBE_MIN_LIVE_SCORES: u64 = 200_000;

/// How one scorer's scores are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreLoad {
    /// Every live score, before the first row.
    Full,
    /// The live scores of the table's keys, as each batch needs them.
    Probe,
}

impl ScoreLoad {
    pub fn name(self) -> &'static str {
        match self {
            ScoreLoad::Full => "full",
            ScoreLoad::Probe => "probe",
        }
    }

    /// The strategy for a scorer holding `live_scores` live scores, read
    /// `at` a point with `keying`, onto a table of about `table_rows`
    /// rows. A probe needs a registry that answers one (SQLite), the
    /// live state (the kept digest sums are of the live rows: an
    /// `--as-of` read reads in full), and the registry's keys as stored (a
    /// normalisation applied to the registry's keys needs all of them).
    pub(super) fn choose(
        registry: &Registry,
        at: At,
        options: &ExportOptions,
        keying: KeyNormalize,
        live_scores: u64,
        table_rows: u64,
    ) -> ScoreLoad {
        let possible = registry.can_probe()
            && at == At::Live
            && !(options.normalize_registry_keys && normalizes_registry_keys(keying));
        if !possible {
            return ScoreLoad::Full;
        }
        match std::env::var(SCORE_LOAD_VARIABLE).as_deref() {
            Ok("probe") => ScoreLoad::Probe,
            Ok("full") => ScoreLoad::Full,
            _ if live_scores >= PROBE_MIN_LIVE_SCORES
                && live_scores >= PROBE_COST_RATIO.saturating_mul(table_rows) =>
            {
                ScoreLoad::Probe
            }
            _ => ScoreLoad::Full,
        }
    }
}

/// About how many rows the table at `path` has, without reading it: a
/// parquet file's footer says; a text table's is its size over the
/// bytes per line of its first 256 KiB; an Arrow IPC file's, its size
/// over 16 bytes (a row holds at least its key). An estimate errs high
/// (towards the full read) rather than low.
pub(super) fn estimate_rows(path: &Path, format: TableFormat) -> u64 {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX);
    match format {
        TableFormat::Parquet => parquet_rows(path).unwrap_or(size / 16),
        TableFormat::ArrowIpc => size / 16,
        _ => text_rows(path, size).unwrap_or(size / 16),
    }
}

fn parquet_rows(path: &Path) -> Option<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(File::open(path).ok()?).ok()?;
    u64::try_from(reader.metadata().file_metadata().num_rows()).ok()
}

fn text_rows(path: &Path, size: u64) -> Option<u64> {
    let mut head = Vec::with_capacity(1 << 18);
    File::open(path)
        .ok()?
        .take(1 << 18)
        .read_to_end(&mut head)
        .ok()?;
    let lines = head.iter().filter(|b| **b == b'\n').count().max(1) as u64;
    Some(size.saturating_mul(lines) / head.len().max(1) as u64 + 1)
}
