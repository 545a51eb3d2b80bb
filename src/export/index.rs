//! The score index an export joins against: each selected scorer's live
//! scores by key, with their frames, pooled statistics, components and
//! normalisation, read from the registry in one snapshot or taken from
//! scores held in memory.

use std::collections::HashMap;
use std::sync::Arc;

use crate::digest::ScoreSetDigest;
use crate::frames::StoredFrame;
use crate::key::KeyNormalize;
use crate::registry::exports::{At, LiveScore, LiveScorer, SourceFile};
use crate::registry::memory::{IndexedScore, KeyIndex, MemoryScores};
use crate::registry::{Point, PointRef, Registry};
use crate::scorer::{slug, Scale};

use super::joint_keys::JointKeys;
use super::strategy::ScoreLoad;
use super::{ExportError, ExportOptions, ScorerExportCounts};

/// One scorer's live scores keyed for the join, as loaded: what no
/// export changes, so loaded once it may serve several exports of the
/// same registry point ([`super::cache::IndexCache`]). A probed index
/// grows its own as batches name keys, and is never shared.
#[derive(Default)]
pub(super) struct ScoreData {
    pub(super) by_key: KeyIndex,
    pub(super) scores: Vec<IndexedScore>,
    /// Each score's stored frames (index, value, runtime), sorted by index;
    /// loaded only for per-frame tables and `--pool`.
    pub(super) frames: Vec<Vec<StoredFrame>>,
    /// Per `--pool` statistic, its value per score position.
    pub(super) pooled: Vec<Vec<Option<f64>>>,
    /// Component column suffix → value per score position.
    pub(super) components: Vec<(String, Vec<Option<f64>>)>,
}

/// One scorer's live scores, keyed for the join, and what one export
/// counts of them.
pub(super) struct ScorerIndex {
    pub(super) counts: ScorerExportCounts,
    pub(super) data: Arc<ScoreData>,
    /// Which score positions a row matched (this export's).
    pub(super) matched: Vec<bool>,
    pub(super) normalization: Option<Normalization>,
    /// How the table's keys are normalised for this scorer (unresolved:
    /// `auto` is resolved against the key column), and whether the user
    /// chose it.
    pub(super) keying: KeyNormalize,
    pub(super) keying_chosen: bool,
    /// Table rows whose key this scorer knows, whether or not a frame
    /// matched: what its own key check counts.
    pub(super) key_rows: u64,
    /// How the scores are read; with `Some`, only the table's keys are
    /// looked up, batch by batch ([`ScorerIndex::probe_keys`]).
    pub(super) probe: Option<Probe>,
    /// The key table this index shares with the export's other scorers,
    /// and its column there ([`super::joint_keys`]).
    pub(super) joint: Option<(Arc<JointKeys>, usize)>,
}

/// What a probed index needs to read a score when a batch names its key.
pub(super) struct Probe {
    scorer_id: i64,
    /// Per-frame tables and `--pool` read each score's frames; only
    /// per-frame tables keep them.
    read_frames: bool,
    keep_frames: bool,
    /// Component name → its column in `components`.
    component_columns: Vec<(String, usize)>,
    /// Source file id → its interned source.
    source_of_file: HashMap<i64, u32>,
    /// This batch's keys found to have no live score, and keys the key
    /// check's alternatives found to have one (cleared each batch).
    absent: rustc_hash::FxHashSet<String>,
    present: rustc_hash::FxHashSet<String>,
    /// The scorer's first and last live keys: a key outside them is absent
    /// without asking (the key check's other forms of a key, such as the
    /// path as written, mostly are). `None`: it has no live key.
    live_keys: Option<(String, String)>,
    /// Whether the lookups so far came in key order (see [`KeyOrder`]).
    order: KeyOrder,
}

/// Whether a probe's lookups sweep the registry in key order: the table's
/// keys (and the key check's other forms of them) ascend, as in a table
/// sorted by clip. Such a sweep never comes back to a page, so the
/// registry's page cache is kept small ([`Registry::sweep_page_cache`])
/// until a lookup goes back, when it gets its usual size again.
#[derive(Default)]
pub(super) struct KeyOrder {
    /// The last key of each kind of lookup: the scores the table's keys
    /// name, and the key check's.
    last_score: String,
    last_check: String,
    /// Whether some lookup went back: the usual cache, for good.
    went_back: bool,
}

/// Which of a probe's lookups a key is for.
#[derive(Clone, Copy)]
enum Lookup {
    Score,
    Check,
}

impl KeyOrder {
    /// Note a lookup of `key`; answers whether it is the first to go back.
    fn went_back_at(&mut self, lookup: Lookup, key: &str) -> bool {
        if self.went_back {
            return false;
        }
        let last = match lookup {
            Lookup::Score => &mut self.last_score,
            Lookup::Check => &mut self.last_check,
        };
        if key < last.as_str() {
            self.went_back = true;
            return true;
        }
        last.clear();
        last.push_str(key);
        false
    }
}

impl Probe {
    /// Before a lookup of `key`: give the page cache its usual size the
    /// first time the lookups leave key order.
    fn before_lookup(
        &mut self,
        registry: &Registry,
        lookup: Lookup,
        key: &str,
    ) -> Result<(), ExportError> {
        if self.order.went_back_at(lookup, key) {
            registry.keep_page_cache()?;
        }
        Ok(())
    }

    /// Whether `key` may have a live score: within the live keys' range.
    fn may_hold(&self, key: &str) -> bool {
        self.live_keys
            .as_ref()
            .is_some_and(|(first, last)| first.as_str() <= key && key <= last.as_str())
    }
}

/// Whether a normalisation chosen for an export applies to the keys the
/// scorers wrote as well: `basename`, `stem` and `tail:N` do; `raw` means
/// the registry's keys as stored (what ingest's own normalisation made of
/// them, a stripped prefix included), and `auto` the same.
pub(super) fn normalizes_registry_keys(normalize: KeyNormalize) -> bool {
    matches!(
        normalize,
        KeyNormalize::Basename | KeyNormalize::Stem | KeyNormalize::Tail(_)
    )
}

/// Maps a score to 0–100 with higher always better.
#[derive(Clone, Copy, Debug)]
pub(super) struct Normalization {
    range: Scale,
    higher_is_better: bool,
}

impl Normalization {
    /// The value on 0–100, higher better, to 12 significant digits: the
    /// arithmetic would turn 49.13 on 0:100 into 49.129999999999995, and a
    /// score on a 0–100 scale has nothing beyond its 12th digit to keep.
    pub(super) fn apply(self, value: f64) -> f64 {
        let share = 100.0 * (value - self.range.min) / (self.range.max - self.range.min);
        round_significant(if self.higher_is_better {
            share
        } else {
            100.0 - share
        })
    }
}

/// Exact powers of ten, 10⁰ to 10²².
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `value` rounded to 12 significant digits: the double nearest to that
/// decimal (an integer divided by an exact power of ten is correctly
/// rounded), so it prints as its shortest form. Values too large or too
/// small for that are kept as they are.
fn round_significant(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let digits = 11 - value.abs().log10().floor() as i32;
    match usize::try_from(digits)
        .ok()
        .and_then(|d| POWERS_OF_TEN.get(d))
    {
        Some(scale) => (value * scale).round() / scale,
        None => value,
    }
}

/// Column suffixes a component may not take: they name the standard columns.
const RESERVED_SUFFIXES: &[&str] = &[
    "score",
    "status",
    "runtime_ms",
    "frames",
    "source",
    "score_norm",
];

/// The column suffix of a component: its slug, set apart from the standard
/// columns when they would collide.
fn component_suffix(name: &str) -> String {
    let suffix = slug(name);
    if RESERVED_SUFFIXES.contains(&suffix.as_str()) {
        format!("component_{suffix}")
    } else {
        suffix
    }
}

/// The score indexes of an export, the interned source paths their
/// scores came from, and the registry point they were read at (none for
/// scores held in memory).
pub(super) type Loaded = (Vec<ScorerIndex>, Vec<String>, Option<Point>);

/// The export index of scores held in memory: the same columns, counts
/// and digests as a registry holding these scores would give.
pub(super) fn memory_indexes(
    scores: MemoryScores,
    options: &ExportOptions,
) -> Result<Loaded, ExportError> {
    if options.writes(super::ExportColumn::ScoreNorm)
        || !options.pool.is_empty()
        || options.per_frame
    {
        return Err(ExportError::Usage(
            "scores held in memory export per clip, without --normalize or --pool".to_string(),
        ));
    }
    let MemoryScores {
        scorers, sources, ..
    } = scores;
    let mut indexes: Vec<ScorerIndex> = scorers
        .into_iter()
        .map(|(slug, scorer)| {
            let digest = scorer.digest.finish(|source| &sources[source].1);
            let (keying, keying_chosen) = options.key_normalize.for_scorer(&slug);
            let own_keying = options.key_normalize.own(&slug).map(|n| n.to_string());
            ScorerIndex {
                keying,
                keying_chosen,
                key_rows: 0,
                counts: ScorerExportCounts {
                    column_prefix: format!("{}_{}", options.prefix, slug),
                    name: scorer.name,
                    slug,
                    loaded: scorer.scores.len() as u64,
                    digest,
                    key_normalize: own_keying,
                    ..Default::default()
                },
                matched: vec![false; scorer.scores.len()],
                data: Arc::new(ScoreData {
                    by_key: scorer.by_key,
                    scores: scorer.scores,
                    ..ScoreData::default()
                }),
                normalization: None,
                probe: None,
                joint: None,
            }
        })
        .collect();
    super::joint_keys::link(&mut indexes);
    let sources = sources.into_iter().map(|(path, _)| path).collect();
    Ok((indexes, sources, None))
}

/// What the loading of an export's scores knows of its table.
#[derive(Clone, Copy, Debug)]
pub(super) struct TableHint {
    /// The table joins per frame.
    pub per_frame: bool,
    /// About how many rows it has ([`super::strategy::estimate_rows`]).
    pub rows: u64,
    /// The join will have the registry to probe (see
    /// [`super::PlannedExport::run`]); without it every scorer is read
    /// in full.
    pub can_probe: bool,
}

/// Interned source files: their paths (what the source column shows) and
/// sha256 (what the digests name), by registry file id.
#[derive(Default)]
struct Sources {
    paths: Vec<String>,
    sha256: Vec<String>,
    by_file: HashMap<i64, u32>,
}

impl Sources {
    fn intern(&mut self, file: i64, files: &HashMap<i64, SourceFile>) -> u32 {
        *self.by_file.entry(file).or_insert_with(|| {
            let known = files.get(&file);
            self.paths
                .push(known.map(|f| f.path.clone()).unwrap_or_default());
            self.sha256
                .push(known.map(|f| f.sha256.clone()).unwrap_or_default());
            (self.paths.len() - 1) as u32
        })
    }
}

/// The selected scorers' scores live at the export's point (`--as-of`,
/// else the newest), the interned source paths, and the point. Run
/// inside one read snapshot: the point is the snapshot's. Each scorer is
/// read in full or probed by the table's keys ([`ScoreLoad::choose`]); a
/// probed index must be joined inside the same snapshot.
pub(super) fn load_indexes(
    registry: &Registry,
    options: &ExportOptions,
    table: TableHint,
) -> Result<Loaded, ExportError> {
    let (point, at) = read_point(registry, options.as_of.as_ref())?;
    let selected = selected_scorers(registry, options.scorers.as_deref(), at, &point)?;
    refuse_unselected_keyings(options, &selected)?;
    let source_files = registry.source_files()?;
    let mut sources = Sources::default();
    let mut loads = Vec::with_capacity(selected.len());
    for scorer in &selected {
        let (keying, _) = options.key_normalize.for_scorer(&scorer.slug);
        let live = if registry.can_probe() && at == At::Live {
            registry.live_score_count(scorer.id)?
        } else {
            0
        };
        loads.push(if table.can_probe {
            ScoreLoad::choose(registry, at, options, keying, live, table.rows)
        } else {
            ScoreLoad::Full
        });
    }
    if loads.contains(&ScoreLoad::Probe) {
        // A probed score may come from any file: every file is interned
        // up front, in id order (the order only names them: the source
        // column writes each row's path).
        let mut files: Vec<i64> = source_files.keys().copied().collect();
        files.sort_unstable();
        for file in files {
            sources.intern(file, &source_files);
        }
    }
    let mut indexes = Vec::with_capacity(selected.len());
    for (scorer, load) in selected.into_iter().zip(loads) {
        let normalization = normalization_of(&scorer, options)?;
        let (keying, keying_chosen) = options.key_normalize.for_scorer(&scorer.slug);
        let mut index = match load {
            ScoreLoad::Full => full_index(
                registry,
                &scorer,
                at,
                options,
                (table.per_frame, registry_keying(options, keying)),
                (&source_files, &mut sources),
            )?,
            ScoreLoad::Probe => probed_index(
                registry,
                &scorer,
                options,
                table.per_frame,
                (&source_files, &mut sources),
            )?,
        };
        let versions = registry.live_versions(&scorer, at)?;
        let own_keying = options
            .key_normalize
            .own(&scorer.slug)
            .map(|n| n.to_string());
        index.counts = ScorerExportCounts {
            column_prefix: format!("{}_{}", options.prefix, scorer.slug),
            name: scorer.name,
            slug: scorer.slug,
            components: index
                .data
                .components
                .iter()
                .map(|(suffix, _)| suffix.clone())
                .collect(),
            versions,
            key_normalize: own_keying,
            normalized_with: normalization.map(|n| {
                format!(
                    "{} {}",
                    n.range,
                    if n.higher_is_better {
                        "higher-is-better"
                    } else {
                        "lower-is-better"
                    }
                )
            }),
            score_load: load.name(),
            ..std::mem::take(&mut index.counts)
        };
        index.normalization = normalization;
        index.keying = keying;
        index.keying_chosen = keying_chosen;
        indexes.push(index);
    }
    super::joint_keys::link(&mut indexes);
    Ok((indexes, sources.paths, Some(point)))
}

/// The scorer's normalisation to 0–100 when the export writes it; an
/// error when the scorer lacks a bounded scale or a direction.
fn normalization_of(
    scorer: &LiveScorer,
    options: &ExportOptions,
) -> Result<Option<Normalization>, ExportError> {
    if !options.writes(super::ExportColumn::ScoreNorm) {
        return Ok(None);
    }
    match (scorer.range, scorer.higher_is_better) {
        (Some(range), Some(higher_is_better)) => Ok(Some(Normalization {
            range,
            higher_is_better,
        })),
        _ => Err(ExportError::Data(format!(
            "cannot normalise scorer '{}': it has no {} \
             (declare them at ingest with --scale MIN:MAX and --higher-is-better/--lower-is-better)",
            scorer.name,
            if scorer.range.is_none() { "bounded scale" } else { "known direction" }
        ))),
    }
}

/// The pooled statistics of one score's frames, one per `--pool` stat.
fn pool_frames(pool: &[crate::frames::PoolStat], clip: &[StoredFrame]) -> Vec<Option<f64>> {
    let mut finite: Vec<f64> = clip.iter().filter_map(|(_, v, _)| *v).collect();
    finite.sort_by(f64::total_cmp);
    pool.iter().map(|stat| stat.of(&finite)).collect()
}

/// The normalisation applied to the keys the scorers wrote for a join
/// with `keying`, when there is one (see [`normalizes_registry_keys`]).
fn registry_keying(options: &ExportOptions, keying: KeyNormalize) -> Option<KeyNormalize> {
    (options.normalize_registry_keys && normalizes_registry_keys(keying)).then_some(keying)
}

/// A scorer's index with every live score read up front: the scores, the
/// digest over them, components and frames. With a `registry_keying`,
/// the index is keyed by that normalisation of each key as its file
/// wrote it, read in the same pass as the scores.
fn full_index(
    registry: &Registry,
    scorer: &LiveScorer,
    at: At,
    options: &ExportOptions,
    (per_frame, registry_keying): (bool, Option<KeyNormalize>),
    (source_files, sources): (&HashMap<i64, SourceFile>, &mut Sources),
) -> Result<ScorerIndex, ExportError> {
    let read_frames = per_frame || !options.pool.is_empty();
    let read_components = options.writes(super::ExportColumn::Components);
    // Components and frames are read by stored key: a normalised index
    // needs the stored keys as well only to place them.
    let keep_stored = registry_keying.is_none() || read_frames || read_components;
    let mut normalized = registry_keying.map(NormalizedKeys::new);
    let mut by_key = KeyIndex::default();
    let mut indexed = Vec::new();
    // The same order-independent digest as scores held in memory get
    // (the registry's own, over its key order, is not used), so equal
    // scores give equal digests either way.
    let mut digest = ScoreSetDigest::default();
    let mut add = |score: LiveScore, written: Option<&str>, field: &str| {
        let position = indexed.len();
        let source = sources.intern(score.source_file_id, source_files);
        digest.add(source as usize, &score.key, score.score, score.bad);
        if let Some(normalized) = &mut normalized {
            normalized.add(written.unwrap_or(&score.key), field, position);
        }
        if keep_stored {
            by_key.insert(score.key, position);
        }
        indexed.push(IndexedScore {
            score: score.score,
            bad: score.bad,
            runtime_ms: score.runtime_ms,
            frame_count: score.frame_count,
            source,
        });
    };
    if registry_keying.is_some() {
        registry.visit_live_scores_with_key_forms(scorer, at, &mut add)?;
    } else {
        // No key form is read: `add` looks at it only to normalise.
        registry.visit_live_scores(scorer, at, |score| add(score, None, ""))?;
    }
    let mut components: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    if read_components {
        registry.visit_live_components(scorer, at, |key, name, value| {
            let suffix = component_suffix(name);
            if components.last().is_none_or(|(last, _)| *last != suffix) {
                components.push((suffix, vec![None; indexed.len()]));
            }
            if let (Some(position), Some((_, values))) = (by_key.get(key), components.last_mut()) {
                values[*position] = value;
            }
        })?;
    }
    // Frames are held only when a row can take one, or pooling needs them.
    let mut frames: Vec<Vec<StoredFrame>> = Vec::new();
    if read_frames {
        frames = vec![Vec::new(); indexed.len()];
        registry.visit_live_frames(scorer, at, |key, frame| {
            if let Some(position) = by_key.get(key) {
                frames[*position].push(frame);
            }
        })?;
        // Each score's frames arrive in frame order; keep that a
        // guarantee of this code, not of a query plan.
        for clip in &mut frames {
            if !clip.is_sorted_by_key(|(index, _, _)| *index) {
                clip.sort_by_key(|(index, _, _)| *index);
            }
        }
    }
    let mut pooled: Vec<Vec<Option<f64>>> =
        vec![Vec::with_capacity(frames.len()); options.pool.len()];
    for clip in &frames {
        for (stat, value) in pooled.iter_mut().zip(pool_frames(&options.pool, clip)) {
            stat.push(value);
        }
    }
    if !per_frame {
        frames = Vec::new();
    }
    if let Some(normalized) = normalized {
        by_key = normalized.finish(registry, scorer, at)?;
    }
    Ok(ScorerIndex {
        counts: ScorerExportCounts {
            loaded: indexed.len() as u64,
            digest: digest.finish(|source| &sources.sha256[source]),
            ..Default::default()
        },
        matched: vec![false; indexed.len()],
        data: Arc::new(ScoreData {
            by_key,
            scores: indexed,
            frames,
            pooled,
            components,
        }),
        normalization: None,
        keying: KeyNormalize::Auto,
        keying_chosen: false,
        key_rows: 0,
        probe: None,
        joint: None,
    })
}

/// A scorer's index that starts empty and reads each score when a batch
/// names its key; its count and digest are the kept ones of every live
/// score, as a full read would count and digest them.
fn probed_index(
    registry: &Registry,
    scorer: &LiveScorer,
    options: &ExportOptions,
    per_frame: bool,
    (source_files, sources): (&HashMap<i64, SourceFile>, &mut Sources),
) -> Result<ScorerIndex, ExportError> {
    let mut digest = ScoreSetDigest::default();
    let mut loaded = 0u64;
    for (file, count, sum) in registry.live_digest_sums(scorer.id)? {
        let source = sources.intern(file, source_files);
        digest.add_sum(source as usize, count, &sum);
        loaded += count;
    }
    let mut components: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let mut component_columns = Vec::new();
    if options.writes(super::ExportColumn::Components) {
        for name in registry.live_component_names(scorer.id)? {
            let suffix = component_suffix(&name);
            if components.last().is_none_or(|(last, _)| *last != suffix) {
                components.push((suffix, Vec::new()));
            }
            component_columns.push((name, components.len() - 1));
        }
    }
    // A score's frames and components are found by its row id, in no
    // order the table's keys give: such reads keep the usual page cache.
    // A sweep of keys alone shrinks it until a lookup leaves key order
    // (see `KeyOrder`).
    let read_frames = per_frame || !options.pool.is_empty();
    if read_frames || !components.is_empty() {
        registry.keep_page_cache()?;
    } else {
        registry.sweep_page_cache()?;
    }
    Ok(ScorerIndex {
        counts: ScorerExportCounts {
            loaded,
            digest: digest.finish(|source| &sources.sha256[source]),
            ..Default::default()
        },
        matched: Vec::new(),
        data: Arc::new(ScoreData {
            pooled: vec![Vec::new(); options.pool.len()],
            components,
            ..ScoreData::default()
        }),
        normalization: None,
        keying: KeyNormalize::Auto,
        keying_chosen: false,
        key_rows: 0,
        probe: Some(Probe {
            scorer_id: scorer.id,
            read_frames,
            keep_frames: per_frame,
            component_columns,
            source_of_file: sources.by_file.clone(),
            absent: Default::default(),
            present: Default::default(),
            live_keys: registry.live_key_range(scorer.id)?,
            order: KeyOrder::default(),
        }),
        joint: None,
    })
}

impl ScorerIndex {
    /// This index as loaded, for another export of the same scores: the
    /// scores shared, nothing matched or counted yet. Only for an index
    /// read in full (a probed one grows as its export runs).
    pub(super) fn fresh_copy(&self) -> ScorerIndex {
        debug_assert!(self.probe.is_none(), "a probed index is not copied");
        ScorerIndex {
            counts: self.counts.clone(),
            data: Arc::clone(&self.data),
            matched: vec![false; self.data.scores.len()],
            normalization: self.normalization,
            keying: self.keying,
            keying_chosen: self.keying_chosen,
            key_rows: 0,
            probe: None,
            joint: self.joint.clone(),
        }
    }

    /// Read the live scores of `keys` this probed index does not hold yet
    /// (a full index holds them all: nothing to do), with their frames,
    /// pooled statistics and components, as a full read would hold them.
    pub(super) fn probe_keys<'k>(
        &mut self,
        registry: &Registry,
        pool: &[crate::frames::PoolStat],
        keys: impl Iterator<Item = &'k str>,
    ) -> Result<(), ExportError> {
        let Some(probe) = &mut self.probe else {
            return Ok(());
        };
        let data = Arc::get_mut(&mut self.data).expect("a probed index is never shared");
        for key in keys {
            // A key outside the live keys' range (`auto`'s path as
            // written, mostly) is answered without a lookup, so it is not
            // remembered either: that would cost more than the comparison.
            if data.by_key.contains_key(key) || !probe.may_hold(key) || probe.absent.contains(key) {
                continue;
            }
            probe.before_lookup(registry, Lookup::Score, key)?;
            let Some(found) = registry.live_score_by_key(probe.scorer_id, key)? else {
                probe.absent.insert(key.to_string());
                continue;
            };
            let position = data.scores.len();
            let source = probe.source_of_file[&found.score.source_file_id];
            data.scores.push(IndexedScore {
                score: found.score.score,
                bad: found.score.bad,
                runtime_ms: found.score.runtime_ms,
                frame_count: found.score.frame_count,
                source,
            });
            self.matched.push(false);
            data.by_key.insert(found.score.key, position);
            if probe.read_frames {
                let frames = registry.frames_of_score(found.id)?;
                for (stat, value) in data.pooled.iter_mut().zip(pool_frames(pool, &frames)) {
                    stat.push(value);
                }
                if probe.keep_frames {
                    data.frames.push(frames);
                }
            }
            if !data.components.is_empty() {
                for (_, values) in &mut data.components {
                    values.push(None);
                }
                for (name, value) in registry.components_of_score(found.id)? {
                    if let Some((_, column)) =
                        probe.component_columns.iter().find(|(n, _)| *n == name)
                    {
                        data.components[*column].1[position] = value;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the scorer has a live score of `key`: the index's own
    /// answer, and for a probed index the registry's.
    pub(super) fn knows(
        &mut self,
        registry: Option<&Registry>,
        key: &str,
    ) -> Result<bool, ExportError> {
        if self.data.by_key.contains_key(key) {
            return Ok(true);
        }
        let (Some(probe), Some(registry)) = (&mut self.probe, registry) else {
            return Ok(false);
        };
        if probe.present.contains(key) {
            return Ok(true);
        }
        if !probe.may_hold(key) || probe.absent.contains(key) {
            return Ok(false);
        }
        probe.before_lookup(registry, Lookup::Check, key)?;
        let known = registry.has_live_key(probe.scorer_id, key)?;
        if known {
            probe.present.insert(key.to_string());
        } else {
            probe.absent.insert(key.to_string());
        }
        Ok(known)
    }

    /// Forget what the last batch's probes found absent: memory follows
    /// a batch, not the table.
    pub(super) fn end_batch(&mut self) {
        if let Some(probe) = &mut self.probe {
            probe.absent.clear();
            probe.present.clear();
        }
    }

    /// A probed index's live keys, read from the registry (only when the
    /// key check needs them); `None` for an index holding every key.
    pub(super) fn probed_keys(
        &self,
        registry: Option<&Registry>,
    ) -> Result<Option<Vec<String>>, ExportError> {
        let (Some(probe), Some(registry)) = (&self.probe, registry) else {
            return Ok(None);
        };
        let mut keys = Vec::new();
        registry.visit_live_keys_in_order(probe.scorer_id, |key| {
            keys.push(key.to_string());
            true
        })?;
        Ok(Some(keys))
    }

    /// The scores no row matched, and the first ten of their keys in
    /// order, into the counts: from the index, or for a probed index by
    /// reading the registry's keys in order only as far as the tenth.
    pub(super) fn count_unmatched(
        &mut self,
        registry: Option<&Registry>,
    ) -> Result<(), ExportError> {
        match (&self.probe, registry) {
            (Some(probe), Some(registry)) => {
                let matched = self.matched.iter().filter(|m| **m).count() as u64;
                let mut first = Vec::new();
                registry.visit_live_keys_in_order(probe.scorer_id, |key| {
                    let hit = self.data.by_key.get(key).is_some_and(|p| self.matched[*p]);
                    if !hit {
                        first.push(key.to_string());
                    }
                    first.len() < 10
                })?;
                self.counts.unmatched = self.counts.loaded.saturating_sub(matched);
                self.counts.unmatched_keys = first;
            }
            _ => {
                let mut unmatched: Vec<&str> = self
                    .data
                    .by_key
                    .iter()
                    .filter(|(_, position)| !self.matched[**position])
                    .map(|(key, _)| key.as_str())
                    .collect();
                unmatched.sort_unstable();
                self.counts.unmatched = unmatched.len() as u64;
                self.counts.unmatched_keys =
                    unmatched.iter().take(10).map(|k| k.to_string()).collect();
            }
        }
        Ok(())
    }
}

/// Refuse a per-scorer `--key-normalize` entry naming a scorer the export
/// does not read: a misspelt name would otherwise quietly change nothing.
fn refuse_unselected_keyings(
    options: &ExportOptions,
    selected: &[LiveScorer],
) -> Result<(), ExportError> {
    for (name, _) in &options.key_normalize.per_scorer {
        let wanted = slug(name);
        if !selected.iter().any(|s| s.slug == wanted) {
            return Err(ExportError::Usage(format!(
                "--key-normalize {name}=…: this export reads no scorer '{name}' (it reads: {})",
                selected
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// A scorer's index keyed by `normalize` applied to each key as its file
/// wrote it, so the registry's side of the join is normalised as the
/// table's is; built as the scores are read. Two scores whose keys become
/// one are refused: which of them a row meant cannot be told.
struct NormalizedKeys {
    normalize: KeyNormalize,
    by_key: KeyIndex,
    /// The first normalised key two scores share.
    collision: Option<String>,
}

impl NormalizedKeys {
    fn new(normalize: KeyNormalize) -> NormalizedKeys {
        NormalizedKeys {
            normalize,
            by_key: KeyIndex::default(),
            collision: None,
        }
    }

    /// The score at `position`, whose file wrote its key as `written` in
    /// `field`.
    fn add(&mut self, written: &str, field: &str, position: usize) {
        let key = self.normalize.resolve(field).apply_resolved(written);
        match self.by_key.get(key.as_ref()) {
            Some(other) if *other != position => {
                self.collision.get_or_insert_with(|| key.into_owned());
            }
            Some(_) => {}
            None => {
                self.by_key.insert(key.into_owned(), position);
            }
        }
    }

    /// The index, or the refusal naming the keys that collided (read
    /// again from the registry: only a failing export pays for that).
    fn finish(
        self,
        registry: &Registry,
        scorer: &LiveScorer,
        at: At,
    ) -> Result<KeyIndex, ExportError> {
        let Some(key) = self.collision else {
            return Ok(self.by_key);
        };
        let normalize = self.normalize;
        let mut written_as: Vec<String> = Vec::new();
        registry.visit_live_key_forms(scorer, at, |_, written, field| {
            if normalize.resolve(field).apply_resolved(written) == key.as_str() {
                written_as.push(written.to_string());
            }
        })?;
        written_as.sort();
        Err(ExportError::Data(collision_message(
            &scorer.name,
            &written_as,
            &key,
            normalize,
        )))
    }
}

fn quoted(key: &str) -> String {
    format!("'{key}'")
}

/// Why `scorer`'s keys cannot be normalised with `normalize`: the keys
/// `written` all become `key`. Suggests the shortest `tail:N` that tells
/// the first two apart.
pub(super) fn collision_message(
    scorer: &str,
    written: &[String],
    key: &str,
    normalize: KeyNormalize,
) -> String {
    let shown = match written {
        [a, b] => format!("{} and {} are both", quoted(a), quoted(b)),
        [a, b, rest @ ..] => format!(
            "{}, {} and {} more are all",
            quoted(a),
            quoted(b),
            rest.len()
        ),
        _ => "are".to_string(),
    };
    let fix = match written {
        [a, b, ..] => (1..=255u8)
            .find(|n| crate::key::tail(a, usize::from(*n)) != crate::key::tail(b, usize::from(*n)))
            .map(KeyNormalize::Tail)
            .filter(|n| *n != normalize)
            .map_or("pass --key-normalize raw".to_string(), |n| {
                format!("pass --key-normalize {n} (or {scorer}={n} for this scorer alone)")
            }),
        _ => "pass --key-normalize raw".to_string(),
    };
    format!(
        "scorer '{scorer}': its keys {shown} '{key}' with --key-normalize {normalize}, \
         so a table row cannot tell which it means: {fix}"
    )
}

/// The point a read is at (`--as-of`, else the newest), and how to read
/// it: at the newest point the live rows are the rows live then, so the
/// common path reads the live-row index alone.
pub(super) fn read_point(
    registry: &Registry,
    as_of: Option<&PointRef>,
) -> Result<(Point, At), ExportError> {
    let latest = registry.latest_point()?;
    let point = match as_of {
        Some(reference) => registry.resolve_point(reference)?,
        None => latest.clone(),
    };
    let at = if point.seq == latest.seq {
        At::Live
    } else {
        At::Point(point.seq)
    };
    Ok((point, at))
}

/// The scorers `names` selects (any spelling of a slug; all of them when
/// `None`) among those with scores live `at` the read's point, in slug
/// order whatever order they were named in, so the same selection always
/// writes the same bytes.
pub(super) fn selected_scorers(
    registry: &Registry,
    names: Option<&[String]>,
    at: At,
    point: &Point,
) -> Result<Vec<LiveScorer>, ExportError> {
    let live = registry.live_scorers(at)?;
    let mut selected: Vec<LiveScorer> = match names {
        None => live,
        Some(names) => {
            let mut selected = Vec::new();
            for name in names {
                let wanted = slug(name);
                match live.iter().find(|s| s.slug == wanted) {
                    Some(scorer)
                        if !selected.iter().any(|s: &LiveScorer| s.slug == scorer.slug) =>
                    {
                        selected.push(scorer.clone())
                    }
                    Some(_) => {}
                    None => {
                        let known: Vec<&str> = live.iter().map(|s| s.name.as_str()).collect();
                        return Err(ExportError::Data(format!(
                            "no live scores for scorer '{name}' in the registry{} (scorers with scores: {})",
                            if at == At::Live { String::new() } else { format!(" at {point}") },
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        )));
                    }
                }
            }
            selected
        }
    };
    selected.sort_by(|a, b| a.slug.cmp(&b.slug));
    if selected.is_empty() {
        return Err(ExportError::Data(match at {
            At::Live => format!(
                "registry {} holds no live scores: ingest score files first",
                registry.path().display()
            ),
            At::Point(_) => format!(
                "registry {} held no live scores at {point}",
                registry.path().display()
            ),
        }));
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_scores_print_as_written() {
        let on = |min, max, higher| Normalization {
            range: Scale { min, max },
            higher_is_better: higher,
        };
        // Each of these printed with a long tail before (7.000000000000001 …).
        assert_eq!(on(0.0, 1.0, true).apply(0.07).to_string(), "7");
        assert_eq!(on(0.0, 1.0, true).apply(0.56).to_string(), "56");
        assert_eq!(on(1.0, 5.0, true).apply(1.05).to_string(), "1.25");
        assert_eq!(on(1.0, 5.0, true).apply(1.19).to_string(), "4.75");
        assert_eq!(on(1.0, 5.0, false).apply(1.33).to_string(), "91.75");
        assert_eq!(on(0.0, 100.0, true).apply(49.13).to_string(), "49.13");
        assert_eq!(round_significant(1e-300), 1e-300);
        assert_eq!(round_significant(-0.30000000000000004), -0.3);
    }

    #[test]
    fn key_order_goes_back_once_and_each_kind_of_lookup_on_its_own() {
        let mut order = KeyOrder::default();
        // A table sorted by clip: its keys ascend, and so do the key
        // check's forms of them, which come after the batch's keys.
        for key in ["a.mp4", "b.mp4", "c.mp4"] {
            assert!(!order.went_back_at(Lookup::Score, key));
        }
        for key in ["a", "b", "c"] {
            assert!(!order.went_back_at(Lookup::Check, key));
        }
        assert!(
            !order.went_back_at(Lookup::Score, "c.mp4"),
            "a repeat is in order"
        );
        assert!(!order.went_back_at(Lookup::Score, "d.mp4"));
        // A key before the last: back, once.
        assert!(order.went_back_at(Lookup::Check, "b"));
        assert!(!order.went_back_at(Lookup::Score, "a.mp4"));
        assert!(!order.went_back_at(Lookup::Check, "a"));
    }

    #[test]
    fn a_probe_asks_only_about_keys_within_the_live_ones() {
        let probe = |live_keys: Option<(&str, &str)>| Probe {
            scorer_id: 1,
            read_frames: false,
            keep_frames: false,
            component_columns: Vec::new(),
            source_of_file: HashMap::new(),
            absent: Default::default(),
            present: Default::default(),
            live_keys: live_keys.map(|(a, b)| (a.to_string(), b.to_string())),
            order: KeyOrder::default(),
        };
        let live = probe(Some(("clip_0001.mp4", "clip_0009.mp4")));
        // Both ends are live keys themselves.
        for key in ["clip_0001.mp4", "clip_0005", "clip_0009.mp4"] {
            assert!(live.may_hold(key), "{key}");
        }
        // The path as written, a stem before the first key, after the last.
        for key in [
            "/corpus/clip_0005.mp4",
            "clip_0001",
            "clip_0009.mp4x",
            "ugc/clip_0005.mp4",
        ] {
            assert!(!live.may_hold(key), "{key}");
        }
        // Bytewise, as SQLite orders TEXT: a letter sorts after the digits.
        assert!(!live.may_hold("clip_Z"));
        assert!(!probe(None).may_hold("clip_0005.mp4"));
    }
}
