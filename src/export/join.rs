//! The join of one batch: each row's key (and frame) looked up in every
//! scorer's index, the added columns' values built, the rows a `drop`
//! policy leaves out marked, and the counts the verdict needs kept.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::frames::match_frame;
use crate::key::KeyNormalize;
use crate::registry::Registry;
use crate::table::{
    AddedColumns, AddedField, Batch, ColumnValues, KeyColumn, TableError, TableFormat, TableReader,
    TextColumn,
};
use crate::threads::Feed;

use super::index::ScorerIndex;
use super::joint_keys;
use super::key_sample::KeySample;
use super::plan::ExportPlan;
use super::{ExportColumn, ExportError, ExportOptions, RowPolicy};

/// Status and source columns are codes into shared strings: every row of
/// such a column shares one of them.
const STATUS_OK: u32 = 0;
const STATUS_BAD: u32 = 1;
const STATUS_MISSING: u32 = 2;

/// What the rows joined so far add up to.
#[derive(Default)]
pub(super) struct JoinCounts {
    pub input_rows: u64,
    pub output_rows: u64,
    /// Rows whose key matched some scorer (a frame the scorer did not
    /// score still counts: the key check compares keys, not frames).
    pub key_matches: u64,
    /// Per alternative of the plan, the rows it would have matched.
    pub alternative_matches: Vec<u64>,
    /// Rows whose key had whitespace around it (matched once trimmed).
    pub trimmed_keys: u64,
    /// Rows some scorer matched only by the key as written (`auto`'s
    /// fallback when the normalised key has no score).
    pub raw_key_matches: u64,
}

/// The join of a table's batches, one after another.
pub(super) struct Join<'p> {
    plan: &'p ExportPlan,
    options: &'p ExportOptions,
    statuses: Vec<Arc<str>>,
    /// Source `i` is code `i + 1`; code 0 is the empty source of a row
    /// without a score.
    source_strings: Vec<Arc<str>>,
    pub counts: JoinCounts,
    /// The first rows' candidate keys, for a scorer's own key check.
    pub sample: KeySample,
    /// Where a probed index reads the scores a batch names (in the
    /// export's read snapshot); `None` for scores held in memory.
    registry: Option<&'p Registry>,
}

impl<'p> Join<'p> {
    /// The join of `plan`, naming scores by `sources` (the files they
    /// came from), probed indexes reading from `registry`.
    pub(super) fn new(
        plan: &'p ExportPlan,
        options: &'p ExportOptions,
        sources: Vec<String>,
        registry: Option<&'p Registry>,
    ) -> Self {
        let statuses: Vec<Arc<str>> = vec!["ok".into(), "bad".into(), "missing".into()];
        let source_strings = std::iter::once(Arc::from(""))
            .chain(sources.into_iter().map(Arc::from))
            .collect();
        Join {
            plan,
            options,
            statuses,
            source_strings,
            counts: JoinCounts {
                alternative_matches: vec![0; plan.alternatives.len()],
                ..JoinCounts::default()
            },
            sample: KeySample::new(plan, options),
            registry,
        }
    }

    /// Join one batch: the added columns' values and which rows to keep.
    pub(super) fn batch(
        &mut self,
        indexes: &mut [ScorerIndex],
        current: &Batch,
    ) -> Result<(AddedColumns, Vec<bool>), ExportError> {
        let (plan, options) = (self.plan, self.options);
        let rows = current.num_rows();
        refuse_existing_in_rows(current, &plan.prefix_marker, &plan.added, options.overwrite)?;
        let keys = current.key_column(&plan.key_column);
        self.sample.take(current, plan, &keys);
        // Runs of rows with the same key (a per-frame table holds a clip's
        // frames one after another) are looked up once per scorer.
        let mut run_of_row: Vec<u32> = Vec::with_capacity(rows);
        // Per run, the key as written (trimmed).
        let mut run_keys: Vec<Option<&str>> = Vec::new();
        for row in 0..rows {
            let key = keys.get(row).map(|raw| {
                let trimmed = raw.trim();
                if trimmed.len() != raw.len() {
                    self.counts.trimmed_keys += 1;
                }
                trimmed
            });
            if run_keys.last() != Some(&key) {
                run_keys.push(key);
            }
            run_of_row.push((run_keys.len() - 1) as u32);
        }
        // Per normalisation some scorer's keys take, each run's key so
        // normalised (computed once however many scorers share it).
        let mut normalized_runs: Vec<(KeyNormalize, Vec<Option<Cow<'_, str>>>)> = Vec::new();
        for keying in &plan.keyings {
            if !normalized_runs.iter().any(|(n, _)| *n == keying.resolved) {
                let keys = run_keys
                    .iter()
                    .map(|key| key.map(|key| keying.resolved.apply_resolved(key)))
                    .collect();
                normalized_runs.push((keying.resolved, keys));
            }
        }
        // Scorers sharing one key table look each run's key up there once
        // (per normalisation), and each finds its position by the key's
        // number; `auto`'s raw fallback numbers a run's raw key when first
        // asked.
        let joint = joint_keys::shared(indexes).cloned();
        let normalized_ids: Vec<(KeyNormalize, Vec<Option<u32>>)> = match &joint {
            Some(joint) => normalized_runs
                .iter()
                .map(|(normalize, keys)| {
                    let ids = keys.iter().map(|key| joint.id(key.as_deref()?)).collect();
                    (*normalize, ids)
                })
                .collect(),
            None => Vec::new(),
        };
        let mut raw_ids: Vec<Option<Option<u32>>> = Vec::new();
        let table_frames: Option<Vec<Option<i64>>> = plan.frame_column.as_ref().map(|column| {
            let frames = current.key_column(column);
            (0..rows)
                .map(|row| frame_number(frames.get(row)?)?.checked_sub(plan.frame_base))
                .collect()
        });
        let mut values: Vec<ColumnValues> = Vec::with_capacity(plan.added.len());
        let mut keep = vec![true; rows];
        // Rows whose key some scorer knows, whether or not its frame matched.
        let mut key_found = vec![false; rows];
        // Rows some scorer matched only through `auto`'s raw fallback.
        let mut raw_found = vec![false; rows];
        for (index, keying) in indexes.iter_mut().zip(&plan.keyings) {
            let mut score = Vec::with_capacity(rows);
            let mut status = Vec::with_capacity(rows);
            let mut runtime = Vec::with_capacity(rows);
            let mut frames = Vec::with_capacity(rows);
            let mut source = Vec::with_capacity(rows);
            let normalized = normalized_runs
                .iter()
                .find(|(n, _)| *n == keying.resolved)
                .map(|(_, keys)| keys)
                .expect("every keying's runs are normalised");
            if let Some(registry) = self.registry {
                // A probed index reads the scores of this batch's keys
                // (each run's key, and as written for `auto`'s fallback).
                let wanted = run_keys.iter().zip(normalized).flat_map(|(raw, key)| {
                    let key = key.as_deref().filter(|_| raw.is_some());
                    let raw =
                        raw.filter(|raw| keying.raw_fallback && key.is_some_and(|key| key != *raw));
                    key.into_iter().chain(raw)
                });
                index.probe_keys(registry, &options.pool, wanted)?;
            }
            // Per run, the score's position and whether the raw key found it.
            let run_positions: Vec<Option<(usize, bool)>> = match (&joint, &index.joint) {
                (Some(joint), Some((_, column))) => {
                    let ids = normalized_ids
                        .iter()
                        .find(|(n, _)| *n == keying.resolved)
                        .map(|(_, ids)| ids)
                        .expect("every keying's runs are numbered");
                    if keying.raw_fallback && raw_ids.is_empty() {
                        raw_ids = vec![None; run_keys.len()];
                    }
                    (0..run_keys.len())
                        .map(|run| {
                            let (raw, key) = (run_keys[run]?, normalized[run].as_deref()?);
                            match ids[run].and_then(|id| joint.position(*column, id)) {
                                Some(position) => Some((position, false)),
                                None if keying.raw_fallback && raw != key => {
                                    let id = *raw_ids[run].get_or_insert_with(|| joint.id(raw));
                                    id.and_then(|id| joint.position(*column, id))
                                        .map(|position| (position, true))
                                }
                                None => None,
                            }
                        })
                        .collect()
                }
                _ => run_keys
                    .iter()
                    .zip(normalized)
                    .map(|(raw, key)| {
                        let (raw, key) = ((*raw)?, key.as_deref()?);
                        match index.data.by_key.get(key) {
                            Some(position) => Some((*position, false)),
                            None if keying.raw_fallback && raw != key => {
                                index.data.by_key.get(raw).map(|position| (*position, true))
                            }
                            None => None,
                        }
                    })
                    .collect(),
            };
            for (row, run) in run_of_row.iter().enumerate() {
                if let Some((_, via_raw)) = run_positions[*run as usize] {
                    key_found[row] = true;
                    raw_found[row] |= via_raw;
                    index.key_rows += 1;
                }
            }
            let run_positions: Vec<Option<usize>> = run_positions
                .into_iter()
                .map(|found| found.map(|(position, _)| position))
                .collect();
            // What each row takes: the clip's score, one of its frames, or nothing.
            let hits: Vec<Option<Hit>> = run_of_row
                .iter()
                .enumerate()
                .map(|(row, run)| {
                    let position = run_positions[*run as usize]?;
                    match (&table_frames, index.data.frames.get(position)) {
                        (Some(table_frames), Some(clip_frames)) if !clip_frames.is_empty() => {
                            let target = table_frames[row]?;
                            let matched = match_frame(
                                clip_frames,
                                target,
                                options.frame_match,
                                options.max_frame_gap,
                            )?;
                            Some(Hit::Frame(position, matched))
                        }
                        _ => Some(Hit::Clip(position)),
                    }
                })
                .collect();
            for (row, hit) in hits.iter().enumerate() {
                let Some(hit) = hit else {
                    index.counts.missing += 1;
                    score.push(None);
                    status.push(STATUS_MISSING);
                    runtime.push(None);
                    frames.push(0);
                    source.push(0);
                    if options.missing_policy == RowPolicy::Drop {
                        keep[row] = false;
                    }
                    continue;
                };
                let position = hit.position();
                let clip = &index.data.scores[position];
                index.matched[position] = true;
                index.counts.matched += 1;
                let (value, row_runtime, bad) = match *hit {
                    Hit::Clip(_) => (clip.score, clip.runtime_ms, clip.bad),
                    Hit::Frame(_, frame) => {
                        let (_, value, frame_runtime) = index.data.frames[position][frame];
                        // A clip the scorer failed (or that left its scale)
                        // is bad in every frame, whatever the frame says.
                        (value, frame_runtime, clip.bad || value.is_none())
                    }
                };
                score.push(value);
                runtime.push(row_runtime);
                frames.push(clip.frame_count);
                source.push(clip.source + 1);
                if bad {
                    index.counts.bad += 1;
                    status.push(STATUS_BAD);
                    if options.bad_policy == RowPolicy::Drop {
                        keep[row] = false;
                    }
                } else {
                    status.push(STATUS_OK);
                }
            }
            let clip_of_row: Vec<Option<usize>> =
                hits.iter().map(|hit| hit.map(|h| h.position())).collect();
            let normalized = index.normalization.map(|normalization| {
                score
                    .iter()
                    .map(|v| v.map(|v| normalization.apply(v)))
                    .collect::<Vec<_>>()
            });
            let standard = [
                ColumnValues::Float(score),
                ColumnValues::Text(TextColumn {
                    strings: self.statuses.clone(),
                    codes: status,
                }),
                ColumnValues::Float(runtime),
                ColumnValues::Int(frames),
                ColumnValues::Text(TextColumn {
                    strings: self.source_strings.clone(),
                    codes: source,
                }),
            ];
            values.extend(
                standard
                    .into_iter()
                    .zip(ExportColumn::STANDARD)
                    .filter(|(_, column)| options.writes(*column))
                    .map(|(values, _)| values),
            );
            if let Some(normalized) = normalized {
                values.push(ColumnValues::Float(normalized));
            }
            for pooled in &index.data.pooled {
                values.push(ColumnValues::Float(
                    clip_of_row
                        .iter()
                        .map(|p| p.and_then(|p| pooled[p]))
                        .collect(),
                ));
            }
            for (_, component) in &index.data.components {
                values.push(ColumnValues::Float(
                    clip_of_row
                        .iter()
                        .map(|p| p.and_then(|p| component[p]))
                        .collect(),
                ));
            }
        }
        self.counts.key_matches += key_found.iter().filter(|m| **m).count() as u64;
        self.counts.raw_key_matches += raw_found.iter().filter(|m| **m).count() as u64;
        count_alternatives(
            current,
            (&plan.key_column, &keys),
            &plan.alternatives,
            (indexes, self.registry),
            &mut self.counts.alternative_matches,
        )?;
        indexes.iter_mut().for_each(ScorerIndex::end_batch);
        self.counts.input_rows += rows as u64;
        self.counts.output_rows += keep.iter().filter(|k| **k).count() as u64;
        let added_columns = AddedColumns {
            names: plan.added_names.clone(),
            values,
        };
        Ok((added_columns, keep))
    }
}

/// What a table row joined to.
#[derive(Clone, Copy, Debug)]
enum Hit {
    /// The clip's score (a clip-level table, or a clip scored without frames).
    Clip(usize),
    /// One stored frame of the clip: (score position, frame position).
    Frame(usize, usize),
}

impl Hit {
    fn position(self) -> usize {
        match self {
            Hit::Clip(position) | Hit::Frame(position, _) => position,
        }
    }
}

/// A frame number as a table holds it: an integer, or a float with no
/// fraction (`12.0` from a JSON table read through pandas).
fn frame_number(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.fract() == 0.0 && v.abs() < 9e15)
            .map(|v| v as i64)
    })
}

/// JSON Lines rows may carry columns the first batch did not show: refuse a
/// second-opinion column there too, unless overwriting. A prefix test per
/// member keeps this cheap.
fn refuse_existing_in_rows(
    batch: &Batch,
    prefix_marker: &str,
    added: &[AddedField],
    overwrite: bool,
) -> Result<(), ExportError> {
    if overwrite {
        return Ok(());
    }
    if let Batch::Rows(rows) = batch {
        for row in rows {
            for (name, _) in &row.members {
                if name.starts_with(prefix_marker) && added.iter().any(|f| &f.name == name) {
                    return Err(ExportError::Data(format!(
                        "refusing to overwrite existing second-opinion columns: {name}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Count, for each alternative (column, normalisation), the rows of `batch`
/// whose key would match some scorer (a probed scorer asks the registry).
/// `key` is the batch's key column, already read. Runs of equal raw keys
/// are judged once.
fn count_alternatives(
    batch: &Batch,
    key: (&str, &KeyColumn),
    alternatives: &[(String, KeyNormalize)],
    (indexes, registry): (&mut [ScorerIndex], Option<&Registry>),
    matches: &mut [u64],
) -> Result<(), ExportError> {
    // Scorers sharing one key table: one question, not one per scorer.
    let joint = joint_keys::shared(indexes).cloned();
    let mut columns: BTreeMap<&str, KeyColumn> = BTreeMap::new();
    for (position, (column, normalize)) in alternatives.iter().enumerate() {
        let values = if column == key.0 {
            key.1
        } else {
            columns
                .entry(column.as_str())
                .or_insert_with(|| batch.key_column(column))
        };
        let normalize = normalize.resolve(column);
        let mut previous: Option<(&str, bool)> = None;
        let mut count = 0u64;
        for row in 0..values.len() {
            let Some(raw) = values.get(row) else {
                continue;
            };
            let matched = match previous {
                Some((last, matched)) if last == raw => matched,
                _ => {
                    let key = normalize.apply_resolved(raw);
                    let mut matched = false;
                    if let Some(joint) = &joint {
                        matched = joint.contains(key.as_ref());
                    } else {
                        for index in indexes.iter_mut() {
                            if index.knows(registry, key.as_ref())? {
                                matched = true;
                                break;
                            }
                        }
                    }
                    previous = Some((raw, matched));
                    matched
                }
            };
            count += u64::from(matched);
        }
        matches[position] += count;
    }
    Ok(())
}

/// The table's next batches, decoded on another thread while the export
/// joins and writes the current one, when the table is text (parsing it
/// costs about as much as the join) and there is a second core. Parquet and
/// Arrow IPC decode cheaply: there a thread costs more (measured on W3) than
/// it saves. Batches and errors arrive in table order, so a failure is met
/// where it was.
pub(super) enum Prefetch {
    Here(TableReader),
    Thread(Feed<Result<Option<Batch>, TableError>, JoinHandle<()>>),
}

impl Prefetch {
    pub(super) fn start(mut reader: TableReader, format: TableFormat) -> Prefetch {
        if format.is_columnar() || std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return Prefetch::Here(reader);
        }
        // One batch ahead: memory grows by one batch, not by the table.
        Prefetch::Thread(Feed::detached(1, move |out| loop {
            let next = reader.next_batch();
            let more = matches!(next, Ok(Some(_)));
            // Stop at the end, at an error, or when the export has stopped.
            if out.send(next).is_err() || !more {
                break;
            }
        }))
    }

    pub(super) fn next_batch(&mut self) -> Result<Option<Batch>, TableError> {
        match self {
            Prefetch::Here(reader) => reader.next_batch(),
            // The reading thread sends until the end or an error; its
            // panic is re-raised by the feed.
            Prefetch::Thread(feed) => feed.next().unwrap_or(Ok(None)),
        }
    }
}
