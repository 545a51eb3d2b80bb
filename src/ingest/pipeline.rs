//! The one ingest pipeline: a reader's records → the rules → a store.
//!
//! [`FileIngest`] is the [`RecordSink`] every reader pushes into, whichever
//! store keeps the scores: it names each record's scorer, skips bytes
//! already ingested for it, files it under its normalised key, judges its
//! value, regroups frames of `--frame-pattern`, keeps the preview and the
//! suspicious-output summary, and counts what happened. A [`ScoreStore`]
//! only keeps what was decided: the SQLite registry inside the file's
//! transaction, or the in-memory scores of a one-shot `materialize`.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;

use super::file::{
    IngestFileError, IngestOptions, KeyCollision, PreviewRow, ScorerCounts, ScorerDetail,
    SourceSpec,
};
use super::frame_pattern::FrameGroups;
use super::rules::{
    check_flag_scale, duplicate_detail, empty_slug_message, judge, naming_hint,
    outside_scale_reason, overlong_name_message, scorer_name_of, Declared, KeyRule, LiveOrigin,
    StoredScore,
};
use super::suspicious::{OutsideScale, ValueSummary, Warning};
use super::{Format, FrameRecord, RawScore, ReadError, RecordSink, ScoreRecord};
use crate::command_line::CommandLine;
use crate::key::KeyNormalize;
use crate::scorer::{known_scorer, slug, Bounds, Scale};

/// A scorer as a store holds it, resolved for one file.
#[derive(Clone, Debug)]
pub(crate) struct StoreScorer {
    /// The store's handle for it.
    pub id: i64,
    pub slug: String,
    /// The name as registered (the first spelling seen).
    pub registered_name: String,
    /// The hard scale: values outside are bad.
    pub scale: Option<Scale>,
    /// The typical range, for the suspicious-output checks only.
    pub typical: Option<Scale>,
    pub higher_is_better: Option<bool>,
    /// These bytes were ingested for this scorer before: its rows are skipped.
    pub already_ingested: bool,
}

/// A record resolved and judged, as a store writes it.
#[derive(Clone, Debug)]
pub(crate) struct ScoreRow {
    /// [`StoreScorer::id`].
    pub scorer_id: i64,
    /// The scorer among this file's, for the counts.
    pub slot: u32,
    /// The scorer's name as the row spelled it, for messages.
    pub spelling: u32,
    pub key: String,
    /// The key as written, when normalisation changed it.
    pub raw_key: Option<String>,
    pub key_field: std::borrow::Cow<'static, str>,
    pub stored: StoredScore,
    pub runtime_ms: Option<f64>,
    pub frame_count: u32,
    pub line: u64,
}

impl ScoreRow {
    /// What the file's counts need of this row once its fate is known.
    pub(crate) fn settled(&self) -> Settled {
        Settled {
            slot: self.slot,
            score: self.stored.score,
            bad: self.stored.is_bad(),
        }
    }
}

/// What a row's fate counts towards: its scorer among the file's, its
/// value and whether it is bad. Small, so a store on another thread can
/// send it back for each row it wrote.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settled {
    pub slot: u32,
    pub score: Option<f64>,
    pub bad: bool,
}

/// What a row holds besides its clip score.
#[derive(Clone, Debug, Default)]
pub(crate) struct RowDetail {
    pub components: Vec<(String, Option<f64>)>,
    pub frames: Vec<FrameRecord>,
}

impl RowDetail {
    pub(crate) fn is_empty(&self) -> bool {
        self.components.is_empty() && self.frames.is_empty()
    }
}

/// How a row ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Written, and now live.
    Written,
    /// Written, and live in place of the row it superseded (`--replace`);
    /// `identical` when that row held the same value, status, reason and
    /// components.
    Replaced { identical: bool },
    /// Left out: the live row was kept (`--ignore`).
    Ignored,
}

/// Why a store did not keep a row or a scorer.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// The (scorer, key) is live already and the policy refuses the row.
    Duplicate {
        row: Box<ScoreRow>,
        live: LiveOrigin,
    },
    /// A declaration conflicts with what the store holds for a scorer.
    Conflict(String),
    /// The store itself failed.
    Backend(Box<dyn Error + Send + Sync>),
}

/// Where the pipeline keeps scores: one method per thing it asks.
///
/// A store keeps what [`FileIngest`] decided. The one thing only it can
/// see is whether a (scorer, key) is live already; what then happens is
/// the rule [`duplicate_action`](super::rules::duplicate_action). It
/// reports each row's fate through `settle` in file order (a store may
/// hold rows back and write them in batches).
pub(crate) trait ScoreStore {
    /// The scorer `name` (whose slug is `slug`), registered on first sight
    /// with the defaults the rules give it; what the file declares is
    /// checked against what is registered and recorded where nothing was.
    fn scorer(
        &mut self,
        name: &str,
        slug: &str,
        declared: &Declared,
    ) -> Result<StoreScorer, StoreError>;

    /// Keep one row (now or with a later batch).
    fn put(
        &mut self,
        row: ScoreRow,
        detail: RowDetail,
        settle: &mut dyn FnMut(Settled, Fate),
    ) -> Result<(), StoreError>;

    /// Keep every row held back.
    fn flush(&mut self, settle: &mut dyn FnMut(Settled, Fate)) -> Result<(), StoreError>;

    /// The file is read: record how many rows it gave each scorer
    /// (`(scorer id, rows, of which bad)`, scorers that gained rows only).
    fn finish_file(&mut self, rows_per_scorer: &[(i64, u64, u64)]) -> Result<(), StoreError>;
}

/// Why the pipeline stopped: the reader's failure, or the file's.
#[derive(Debug)]
pub(crate) enum PipelineError {
    Read(ReadError),
    File(IngestFileError),
}

impl From<ReadError> for PipelineError {
    fn from(e: ReadError) -> Self {
        PipelineError::Read(e)
    }
}

impl PipelineError {
    /// The failure as the file's: a reader's gets the path.
    pub(crate) fn into_file_error(self, path: &str) -> IngestFileError {
        match self {
            PipelineError::Read(e) => IngestFileError::from_read(path, e),
            PipelineError::File(e) => e,
        }
    }
}

/// A scorer the file's rows resolved to, with what the file gave it.
pub(crate) struct FileScorer {
    pub entry: StoreScorer,
    pub counts: ScorerCounts,
    /// The values stored `ok`, for the suspicious-output checks.
    summary: Option<ValueSummary>,
    /// The values judged against the scorer's scale, and how many left it.
    outside: OutsideScale,
}

/// One file's records through the rules into a store. See the module
/// documentation.
pub(crate) struct FileIngest<'a, S: ScoreStore> {
    store: S,
    path: &'a str,
    label: Option<&'a str>,
    options: &'a IngestOptions,
    declared: Declared,
    keys: KeyRule,
    /// Each spelling of a scorer name seen, with its slot in `scorers`.
    names: Vec<(String, u32)>,
    name_index: HashMap<String, u32>,
    /// The spelling of the last record: rows of a file nearly always name
    /// one scorer, so a row costs no lookup when it repeats.
    last_name: Option<u32>,
    /// One entry per scorer (slug) the file's rows resolved to.
    scorers: Vec<FileScorer>,
    notes: Vec<String>,
    /// Rows whose key had whitespace around it (trimmed by the key rule).
    trimmed_keys: u64,
    /// What readers found wrong with their records' values, by scorer.
    reader_warnings: Vec<Warning>,
    preview: Vec<PreviewRow>,
    /// Rows held back by `--frame-pattern` until their clips are complete.
    frame_groups: FrameGroups,
}

/// What a file's read gave, once the store has everything.
pub(crate) struct FileIngestResult {
    /// Sorted by slug.
    pub scorers: Vec<FileScorer>,
    pub notes: Vec<String>,
    pub preview: Vec<PreviewRow>,
    pub warnings: Vec<Warning>,
}

impl FileIngestResult {
    /// Every scorer the file's rows resolved to, by registered name.
    pub(crate) fn scorer_details(&self) -> BTreeMap<String, ScorerDetail> {
        self.scorers
            .iter()
            .map(|scorer| {
                let entry = &scorer.entry;
                (
                    entry.registered_name.clone(),
                    ScorerDetail {
                        slug: entry.slug.clone(),
                        scale: entry.scale.map(|s| s.to_string()),
                        typical: entry.typical.map(|s| s.to_string()),
                        higher_is_better: entry.higher_is_better,
                    },
                )
            })
            .collect()
    }

    /// Rows written, all scorers together.
    pub(crate) fn rows_written(&self) -> u64 {
        self.scorers.iter().map(|s| s.counts.ingested).sum()
    }
}

impl<'a, S: ScoreStore> FileIngest<'a, S> {
    /// The pipeline of `source` (shown as `path`), read in `format`, into
    /// `store`.
    pub(crate) fn new(
        store: S,
        path: &'a str,
        source: &'a SourceSpec,
        options: &'a IngestOptions,
        format: Format,
    ) -> Self {
        FileIngest {
            store,
            path,
            label: source.label.as_deref(),
            options,
            declared: Declared {
                scale_forced: options.force_scale,
                scale_names: options.scale_names.clone(),
                scale_may_be_unknown: options.keep_values,
                ..Declared::new(
                    options.scale,
                    format.fixed_scale(),
                    format.name(),
                    options.higher_is_better,
                )
            },
            keys: KeyRule::new(options.key_normalize, options.key_strip_prefix.clone()),
            names: Vec::new(),
            name_index: HashMap::new(),
            last_name: None,
            scorers: Vec::new(),
            notes: Vec::new(),
            trimmed_keys: 0,
            reader_warnings: Vec::new(),
            preview: Vec::new(),
            frame_groups: FrameGroups::default(),
        }
    }

    fn malformed(&self, line: u64, message: impl Into<String>) -> PipelineError {
        PipelineError::File(IngestFileError::Malformed {
            path: self.path.to_string(),
            line,
            message: message.into(),
        })
    }

    /// A record no scorer name reached: say how this command names one.
    fn unnamed(&self, line: u64, message: &str) -> PipelineError {
        self.malformed(
            line,
            format!("{message} ({})", naming_hint(self.options.command_line)),
        )
    }

    fn store_error(&self, error: StoreError) -> PipelineError {
        let path = self.path.to_string();
        PipelineError::File(match error {
            StoreError::Duplicate { row, live } if self.collision(&row, &live).is_some() => {
                let (first_raw_key, separating) = self.collision(&row, &live).expect("checked");
                let configured = self.options.key_normalize;
                let resolved = self.keys.resolved(&row.key_field);
                IngestFileError::KeyCollision(Box::new(KeyCollision {
                    path,
                    line: row.line,
                    scorer: self.names[row.spelling as usize].0.clone(),
                    raw_key: row.raw_key.clone().unwrap_or_else(|| row.key.clone()),
                    key: row.key.clone(),
                    first_line: live.line,
                    first_raw_key,
                    normalize: if configured == resolved {
                        configured.name().into_owned()
                    } else {
                        format!("{configured} ({resolved} for field '{}')", row.key_field)
                    },
                    separating: separating.name().into_owned(),
                }))
            }
            StoreError::Duplicate { row, live } => IngestFileError::Duplicate {
                path,
                line: row.line,
                scorer: self.names[row.spelling as usize].0.clone(),
                other: duplicate_detail(&live, self.options.command_line == CommandLine::Registry),
                key: row.key,
            },
            StoreError::Conflict(message) => IngestFileError::Conflict { path, message },
            StoreError::Backend(source) => IngestFileError::Store { path, source },
        })
    }

    /// Whether a duplicate within one file is two paths normalised to one
    /// key (`crf23/A0001.mp4`, `crf35/A0001.mp4` under basename) rather
    /// than one clip scored twice: the first row's raw key, and the
    /// shortest `tail:N` giving them different keys. Raw keys that no
    /// tail tells apart (`a/x.mp4` and `a\x.mp4`) are the same clip.
    fn collision(&self, row: &ScoreRow, live: &LiveOrigin) -> Option<(String, KeyNormalize)> {
        let first = live.raw_key.as_deref().filter(|_| live.same_file)?;
        let raw = row.raw_key.as_deref().unwrap_or(&row.key);
        if first.trim() == raw.trim() {
            return None;
        }
        (1..=u8::MAX).map(KeyNormalize::Tail).find_map(|tail| {
            let keys = (
                self.keys.key_under(tail, &row.key_field, first),
                self.keys.key_under(tail, &row.key_field, raw),
            );
            (keys.0 != keys.1).then(|| (first.to_string(), tail))
        })
    }

    /// The spelling index of the scorer `record` belongs to, resolved
    /// against the store on first sight.
    fn scorer_of(&mut self, record: &ScoreRecord) -> Result<u32, PipelineError> {
        let name = scorer_name_of(self.options.scorer.as_deref(), record, self.label)
            .map_err(|message| self.unnamed(record.line, message))?;
        let name = name.as_ref();
        if let Some(last) = self.last_name {
            if self.names[last as usize].0 == name {
                return Ok(last);
            }
        }
        if let Some(&index) = self.name_index.get(name) {
            self.last_name = Some(index);
            return Ok(index);
        }
        if let Some(message) = overlong_name_message(name, self.options.command_line) {
            return Err(self.malformed(record.line, message));
        }
        let spelled_slug = slug(name);
        if spelled_slug.is_empty() {
            return Err(self.malformed(record.line, empty_slug_message(name)));
        }
        // A known alias is the scorer itself (`qalign` is `q-align`); the
        // label as written stays on the file.
        let alias = match self.options.names_as_written {
            true => None,
            false => crate::scorer::alias_of(&spelled_slug),
        };
        let (registered, scorer_slug) = match alias {
            Some(scorer) => (scorer, slug(scorer)),
            None => {
                let resembles = match self.options.names_as_written {
                    true => None,
                    false => crate::scorer::resembles_known(&spelled_slug),
                };
                if let Some(known) = resembles {
                    self.reader_warnings.push(Warning {
                        scorer: name.to_string(),
                        check: "unknown_name".to_string(),
                        message: format!(
                            "scorer '{name}' is not a known scorer but looks like '{known}': \
                             if it is, name it so (LABEL=PATH or --scorer {known}) to get its \
                             scale and one column block"
                        ),
                    });
                }
                (name, spelled_slug)
            }
        };
        check_flag_scale(registered, &scorer_slug, &self.declared)
            .map_err(|message| self.store_error(StoreError::Conflict(message)))?;
        let entry = self
            .store
            .scorer(registered, &scorer_slug, &self.declared)
            .map_err(|e| self.store_error(e))?;
        let slot = match self.scorers.iter().position(|s| s.entry.slug == entry.slug) {
            Some(slot) => slot,
            None => {
                if let Some(warning) =
                    unknown_scale_warning(&entry, self.options.command_line.takes("scale"))
                {
                    self.reader_warnings.push(warning);
                }
                self.scorers.push(FileScorer {
                    entry,
                    counts: ScorerCounts::default(),
                    summary: None,
                    outside: OutsideScale::default(),
                });
                self.scorers.len() - 1
            }
        };
        let index = self.names.len() as u32;
        self.names.push((name.to_string(), slot as u32));
        self.name_index.insert(name.to_string(), index);
        self.last_name = Some(index);
        Ok(index)
    }

    /// Resolve a record and hand it to the store.
    fn keep(&mut self, record: ScoreRecord) -> Result<(), PipelineError> {
        let spelling = self.scorer_of(&record)?;
        let slot = self.names[spelling as usize].1;
        let scorer = &mut self.scorers[slot as usize];
        if scorer.entry.already_ingested {
            scorer.counts.skipped += 1;
            return Ok(());
        }
        let (scorer_id, scale) = (scorer.entry.id, scorer.entry.scale);
        if let (RawScore::Number(value), Some(range)) =
            (&record.value, scale.or(scorer.entry.typical))
        {
            scorer.outside.add(*value, range, record.line);
        }
        for warning in &record.warnings {
            self.reader_warnings.push(Warning {
                scorer: scorer.entry.registered_name.clone(),
                check: warning.check.to_string(),
                message: warning.message.clone(),
            });
        }
        if record.raw_key.trim().len() != record.raw_key.len() {
            self.trimmed_keys += 1;
        }
        let normalised = match self.keys.key_of(&record) {
            Ok(key) => (key != record.raw_key.as_str()).then(|| key.into_owned()),
            Err(message) => return Err(self.malformed(record.line, message)),
        };
        let stored = judge(&record, scale, self.options.keep_values);
        if self.preview.len() < self.options.preview_rows {
            self.preview.push(PreviewRow {
                line: record.line,
                scorer: self.scorers[slot as usize].entry.registered_name.clone(),
                key_field: record.key_field.to_string(),
                raw_key: record.raw_key.clone(),
                key: normalised.clone().unwrap_or_else(|| record.raw_key.clone()),
                score: stored.score,
                status: stored.status.to_string(),
                reason: stored.reason.clone(),
                note: stored.note.clone(),
                runtime_ms: record.runtime_ms,
                frames: record.frames.len(),
                components: record.components.clone(),
            });
        }
        // A value outside the scale is judged with the whole file's (see
        // `outside_scale_findings`): the file may be on another scale.
        if self.options.strict && stored.is_bad() && stored.raw_value.is_none() {
            let reason = stored.reason.as_deref().unwrap_or("bad row");
            return Err(
                self.malformed(record.line, format!("{reason} (--strict refuses bad rows)"))
            );
        }
        let (key, raw_key) = match normalised {
            Some(key) => (key, Some(record.raw_key)),
            None => (record.raw_key, None),
        };
        let row = ScoreRow {
            scorer_id,
            slot,
            spelling,
            key,
            raw_key,
            key_field: record.key_field,
            stored,
            runtime_ms: record.runtime_ms,
            frame_count: record.pooled_frames,
            line: record.line,
        };
        let detail = RowDetail {
            components: record.components,
            frames: record.frames,
        };
        let scorers = &mut self.scorers;
        self.store
            .put(row, detail, &mut |row, fate| settle(scorers, row, fate))
            .map_err(|e| self.store_error(e))
    }

    /// Hand the store's held-back rows over.
    fn flush(&mut self) -> Result<(), PipelineError> {
        let scorers = &mut self.scorers;
        self.store
            .flush(&mut |row, fate| settle(scorers, row, fate))
            .map_err(|e| self.store_error(e))
    }

    /// The scorer name of a record as a string of its own.
    fn scorer_name(&self, record: &ScoreRecord) -> Result<String, PipelineError> {
        scorer_name_of(self.options.scorer.as_deref(), record, self.label)
            .map(|name| name.into_owned())
            .map_err(|message| self.unnamed(record.line, message))
    }

    /// The reader is done: keep the clips `--frame-pattern` held back and
    /// what the store holds back, then take the file's results.
    pub(crate) fn finish(mut self) -> Result<(S, FileIngestResult), PipelineError> {
        let clips = std::mem::take(&mut self.frame_groups).into_records()?;
        for clip in clips {
            if let Err(e) = self.keep(clip) {
                self.flush()?;
                return Err(e);
            }
        }
        self.flush()?;
        let written: Vec<(i64, u64, u64)> = self
            .scorers
            .iter()
            .filter(|s| s.counts.ingested > 0)
            .map(|s| (s.entry.id, s.counts.ingested, s.counts.bad))
            .collect();
        let outside_warnings = self.outside_scale_findings()?;
        self.store
            .finish_file(&written)
            .map_err(|e| self.store_error(e))?;
        let mut scorers = self.scorers;
        scorers.sort_by(|a, b| a.entry.slug.cmp(&b.entry.slug));
        let mut warnings = self.reader_warnings;
        let mut notes = self.notes;
        if self.trimmed_keys > 0 {
            notes.push(format!(
                "{} {} whitespace around {}, trimmed (the raw keys keep it)",
                self.trimmed_keys,
                if self.trimmed_keys == 1 {
                    "key had"
                } else {
                    "keys had"
                },
                if self.trimmed_keys == 1 { "it" } else { "them" },
            ));
        }
        if let Some(prefix) = &self.options.key_strip_prefix {
            let without = self.keys.without_prefix;
            if without > 0 {
                notes.push(format!(
                    "{without} {} not start with --key-strip-prefix '{prefix}': kept as written",
                    if without == 1 { "key did" } else { "keys did" },
                ));
            }
        }
        // A file on another scale is said once, by its own warning.
        let on_other_scale: Vec<String> =
            outside_warnings.iter().map(|w| w.scorer.clone()).collect();
        warnings.extend(outside_warnings);
        warnings.extend(
            scorers
                .iter()
                .filter_map(|scorer| {
                    let entry = &scorer.entry;
                    let summary = scorer.summary.as_ref()?;
                    Some(summary.warnings(&entry.registered_name, entry.scale.or(entry.typical)))
                })
                .flatten()
                .filter(|w| !(w.check == "off_scale" && on_other_scale.contains(&w.scorer))),
        );
        Ok((
            self.store,
            FileIngestResult {
                scorers,
                notes,
                preview: self.preview,
                warnings,
            },
        ))
    }

    /// What the file's values outside their scorers' scales come to. Most
    /// of them outside: the file is on another scale, a warning that names
    /// the scale it looks like and the fix (and refuses the file under
    /// `--strict`). A few outside: under `--strict`, the first refuses the
    /// file at its line; when values are kept (`materialize`), a warning.
    fn outside_scale_findings(&self) -> Result<Vec<Warning>, PipelineError> {
        let mut warnings = Vec::new();
        for scorer in &self.scorers {
            let entry = &scorer.entry;
            let outside = &scorer.outside;
            let (Some(scale), Some((line, first))) = (entry.scale.or(entry.typical), outside.first)
            else {
                continue;
            };
            let name = &entry.registered_name;
            let message = if outside.is_most() {
                outside.most_message(name, scale, |guess| self.scale_fix(entry, guess))
            } else if self.options.strict && entry.scale.is_some() {
                return Err(self.malformed(
                    line,
                    format!(
                        "{} (--strict refuses bad rows)",
                        outside_scale_reason(first, scale)
                    ),
                ));
            } else if self.options.keep_values {
                format!(
                    "{} of {} scores are outside {name}'s {scale}: kept as written \
                     (the first at line {line}: {first})",
                    outside.outside, outside.judged
                )
            } else {
                continue;
            };
            warnings.push(Warning {
                scorer: name.clone(),
                check: "outside_scale".to_string(),
                message,
            });
        }
        Ok(warnings)
    }

    /// How to give a scorer the scale `guess` its file looks like: on
    /// this command's line when the file is refused or its values kept;
    /// by a correction once its rows are stored (bad, each value kept).
    fn scale_fix(&self, entry: &StoreScorer, guess: &str) -> String {
        if self.options.keep_values {
            return match !self.options.command_line.takes("scale") {
                false => format!("pass --scale {guess}"),
                true => "its values are kept as written".to_string(),
            };
        }
        if self.options.strict {
            let named_alone = self.declared.scale_names.as_deref() == Some(entry.slug.as_str());
            let documented = known_scorer(&entry.registered_name)
                .is_some_and(|known| matches!(known.bounds, Bounds::Hard | Bounds::Typical));
            let force = if documented && !named_alone && !self.declared.scale_forced {
                " --force-scale"
            } else {
                ""
            };
            return format!("pass --scale {guess}{force}");
        }
        format!(
            "the values are kept: `second-opinion scorers set '{}' --scale {guess}` judges them again",
            entry.registered_name
        )
    }

    /// Stop after a reader's failure: the rows before the unreadable line
    /// are kept first, as one of them may already be the file's error.
    pub(crate) fn fail(&mut self, error: ReadError) -> PipelineError {
        match self.flush() {
            Ok(()) => PipelineError::Read(error),
            Err(e) => e,
        }
    }
}

/// What to tell of a scorer taken without a scale although its values
/// depend on one (a Q-Align file read by `materialize`): kept with the
/// file's warnings, so the scale is on record as unknown.
fn unknown_scale_warning(entry: &StoreScorer, offer_scale_flag: bool) -> Option<Warning> {
    let known = known_scorer(&entry.registered_name)?;
    let offer = match offer_scale_flag {
        true => " (pass --scale MIN:MAX to declare one)",
        false => "",
    };
    (known.bounds == Bounds::DependsOnRun && entry.scale.is_none()).then(|| Warning {
        scorer: entry.registered_name.clone(),
        check: "scale_unknown".to_string(),
        message: format!(
            "no fixed scale ({}): every value kept as written, scale unknown{offer}",
            known.note
        ),
    })
}

/// Count how a row ended.
fn settle(scorers: &mut [FileScorer], row: Settled, fate: Fate) {
    let scorer = &mut scorers[row.slot as usize];
    if fate == Fate::Ignored {
        scorer.counts.ignored += 1;
        return;
    }
    if let (Some(value), false) = (row.score, row.bad) {
        scorer
            .summary
            .get_or_insert_with(ValueSummary::default)
            .add(value);
    }
    scorer.counts.ingested += 1;
    scorer.counts.bad += u64::from(row.bad);
    if let Fate::Replaced { identical } = fate {
        scorer.counts.replaced += 1;
        scorer.counts.replaced_identical += u64::from(identical);
    }
}

impl<S: ScoreStore> RecordSink for FileIngest<'_, S> {
    type Error = PipelineError;

    fn note(&mut self, message: String) {
        if !self.notes.contains(&message) {
            self.notes.push(message);
        }
    }

    fn push(&mut self, record: ScoreRecord) -> Result<(), PipelineError> {
        let line = record.line;
        let kept = match &self.options.frame_pattern {
            Some(pattern) => {
                let name = self.scorer_name(&record)?;
                let (clip, frame) = pattern
                    .split(&record.raw_key)
                    .map_err(|message| self.malformed(line, message))?;
                let base = self.options.frame_base.unwrap_or(0);
                if frame < base {
                    return Err(
                        self.malformed(line, format!("frame {frame} is below --frame-base {base}"))
                    );
                }
                let clip = clip.to_string();
                self.frame_groups.add(&name, &clip, frame - base, record);
                Ok(())
            }
            None => self.keep(record),
        };
        // A failing row reports only after the rows before it are kept:
        // one of them may be the file's first error.
        kept.or_else(|e| self.flush().and(Err(e)))
    }
}
