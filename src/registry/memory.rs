//! The registry of a one-shot `materialize`, in memory: the scores of the
//! run's files, held for one export, without a round trip through SQLite.
//! The ingest rules are the pipeline's, as for the SQLite registry; this
//! store keeps what a per-clip export reads (no components or frames).

use std::collections::{BTreeMap, HashMap};

use crate::digest::ScoreSetDigest;
use crate::ingest::pipeline::{
    Fate, RowDetail, ScoreRow, ScoreStore, Settled, StoreError, StoreScorer,
};
use crate::ingest::rules::{
    check_declared_direction, check_declared_scale, new_scorer_defaults, Declared, LiveOrigin,
    ScorerDefaults,
};

/// Scores held in memory for one export, as `materialize` reads them
/// when no registry is kept: the scorers by slug, each score with its key.
#[derive(Default)]
pub struct MemoryScores {
    pub(crate) scorers: BTreeMap<String, MemoryScorer>,
    /// Source files as (path as given, sha256).
    pub(crate) sources: Vec<(String, String)>,
    /// Slug → what the scorer was registered with, first in this run.
    registered: HashMap<String, (String, ScorerDefaults)>,
    /// Room to make for a scorer not held yet, at its first score.
    reserve_first: Option<(String, usize)>,
}

pub(crate) struct MemoryScorer {
    pub(crate) name: String,
    pub(crate) by_key: KeyIndex,
    pub(crate) scores: Vec<IndexedScore>,
    /// Where each score came from: (source, line).
    origins: Vec<(u32, u64)>,
    /// The digest of the scores held, kept up as they arrive.
    pub(crate) digest: ScoreSetDigest,
}

impl MemoryScorer {
    fn reserve(&mut self, additional: usize) {
        self.by_key.reserve(additional);
        self.scores.reserve(additional);
        self.origins.reserve(additional);
    }
}

/// Where a score already held came from, when a second one arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldScore {
    pub path: String,
    pub line: u64,
}

impl MemoryScores {
    /// Register a score file; returns its id for [`MemoryScores::insert`].
    pub fn add_source(&mut self, path: &str, sha256: &str) -> u32 {
        self.sources.push((path.to_string(), sha256.to_string()));
        (self.sources.len() - 1) as u32
    }

    /// Record the sha256 of source `source`, hashed as it was read.
    pub(crate) fn set_sha256(&mut self, source: u32, sha256: &str) {
        self.sources[source as usize].1 = sha256.to_string();
    }

    /// Whether `slug` already holds scores from another file (not
    /// `except`) with these bytes.
    pub fn holds_bytes(&self, slug: &str, sha256: &str, except: u32) -> bool {
        self.scorers.get(slug).is_some_and(|scorer| {
            scorer
                .origins
                .iter()
                .any(|(source, _)| *source != except && self.sources[*source as usize].1 == sha256)
        })
    }

    /// Make room for `additional` more scores of `slug`: now if it holds
    /// scores, else when its first score arrives (a scorer holding none
    /// is not held at all).
    fn reserve(&mut self, slug: &str, additional: usize) {
        match self.scorers.get_mut(slug) {
            Some(scorer) => scorer.reserve(additional),
            None => self.reserve_first = Some((slug.to_string(), additional)),
        }
    }

    /// The scorer held as `slug`, added as `name` if it is new.
    fn scorer_mut(&mut self, slug: &str, name: &str) -> &mut MemoryScorer {
        // Looked up by &str first: the slug is copied once per scorer, not per score.
        if !self.scorers.contains_key(slug) {
            let mut scorer = MemoryScorer {
                name: name.to_string(),
                by_key: KeyIndex::default(),
                scores: Vec::new(),
                origins: Vec::new(),
                digest: ScoreSetDigest::default(),
            };
            if let Some((_, rows)) = self.reserve_first.take_if(|(held, _)| held == slug) {
                scorer.reserve(rows);
            }
            self.scorers.insert(slug.to_string(), scorer);
        }
        self.scorers.get_mut(slug).expect("inserted above")
    }

    /// Hold one score; a second score for the same scorer and key is
    /// refused with where the first came from, and the key handed back.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        slug: &str,
        name: &str,
        key: String,
        score: Option<f64>,
        bad: bool,
        runtime_ms: Option<f64>,
        frame_count: i64,
        source: u32,
        line: u64,
    ) -> Result<(), (HeldScore, String)> {
        let scorer = self.scorer_mut(slug, name);
        let position = scorer.scores.len();
        match scorer.by_key.entry(key) {
            std::collections::hash_map::Entry::Occupied(held) => {
                let (held_source, held_line) = scorer.origins[*held.get()];
                let key = held.key().clone();
                return Err((
                    HeldScore {
                        path: self.sources[held_source as usize].0.clone(),
                        line: held_line,
                    },
                    key,
                ));
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                scorer.digest.add(source as usize, vacant.key(), score, bad);
                vacant.insert(position);
            }
        }
        scorer.scores.push(IndexedScore {
            score,
            bad,
            runtime_ms,
            frame_count,
            source,
        });
        scorer.origins.push((source, line));
        Ok(())
    }

    /// The registered name of every scorer held, in slug order.
    pub fn scorer_names(&self) -> Vec<String> {
        self.scorers.values().map(|s| s.name.clone()).collect()
    }
}

/// Clip key → position of its score. Looked up for every row of every
/// scorer, with keys that are not attacker-controlled: a fast hash (Fx)
/// rather than SipHash.
pub(crate) type KeyIndex = rustc_hash::FxHashMap<String, usize>;

/// One score as an export index holds it.
pub(crate) struct IndexedScore {
    pub(crate) score: Option<f64>,
    pub(crate) bad: bool,
    pub(crate) runtime_ms: Option<f64>,
    pub(crate) frame_count: i64,
    pub(crate) source: u32,
}

/// [`MemoryScores`] as the store of one file's ingest.
pub(crate) struct MemoryStore<'a> {
    scores: &'a mut MemoryScores,
    path: &'a str,
    /// `None` when the file is hashed as it is read: no other file of the
    /// run has its size, so none holds its bytes.
    sha256: Option<&'a str>,
    source: u32,
    /// Scorer id (a position here) → its slug and registered name.
    scorers: Vec<(String, String)>,
    /// (line, key as written) of this file's rows whose key normalisation
    /// changed, in line order: a collision names both rows' keys as
    /// written, as the registry's store does.
    written_keys: Vec<(u64, String)>,
    /// About how many rows the file holds, reserved for its first scorer.
    rows_hint: Option<usize>,
}

impl<'a> MemoryStore<'a> {
    /// The store of the file at `path` with these bytes (`sha256`, when
    /// known before the read; else set with [`MemoryScores::set_sha256`]
    /// once it is read).
    pub(crate) fn new(
        scores: &'a mut MemoryScores,
        path: &'a str,
        sha256: Option<&'a str>,
    ) -> Self {
        let source = scores.add_source(path, sha256.unwrap_or_default());
        // Room for an earlier file's scorer that held nothing is not made.
        scores.reserve_first = None;
        MemoryStore {
            scores,
            path,
            sha256,
            source,
            scorers: Vec::new(),
            written_keys: Vec::new(),
            rows_hint: None,
        }
    }

    /// Expect about `rows` rows: room for them is made for the file's
    /// first scorer, which holds them all in a file of one scorer. A file
    /// of several scorers over-reserves for its first one only.
    pub(crate) fn expecting_rows(mut self, rows: Option<usize>) -> Self {
        self.rows_hint = rows;
        self
    }
}

impl MemoryStore<'_> {
    /// This file's source id in [`MemoryScores`].
    pub(crate) fn source(&self) -> u32 {
        self.source
    }
}

impl ScoreStore for MemoryStore<'_> {
    fn scorer(
        &mut self,
        name: &str,
        slug: &str,
        declared: &Declared,
    ) -> Result<StoreScorer, StoreError> {
        // A score file named twice is read once, as ingest skips
        // re-ingested bytes.
        let already_ingested = self
            .sha256
            .is_some_and(|sha256| self.scores.holds_bytes(slug, sha256, self.source));
        // Registered and checked as the SQLite store does: defaults on first
        // sight, then a declaration must agree, and fills in what is unset.
        let (registered_name, mut defaults) = match self.scores.registered.get(slug) {
            Some(registered) => registered.clone(),
            None => (
                name.to_string(),
                new_scorer_defaults(name, declared).map_err(StoreError::Conflict)?,
            ),
        };
        check_declared_scale(&registered_name, defaults.scale, declared)
            .map_err(StoreError::Conflict)?;
        check_declared_direction(&registered_name, defaults.higher_is_better, declared)
            .map_err(StoreError::Conflict)?;
        defaults.scale = defaults.scale.or(declared.scale);
        defaults.higher_is_better = defaults.higher_is_better.or(declared.higher_is_better);
        self.scores
            .registered
            .insert(slug.to_string(), (registered_name.clone(), defaults));
        // A file whose bytes are held already is skipped: no room for it.
        if let (true, false, Some(rows)) =
            (self.scorers.is_empty(), already_ingested, self.rows_hint)
        {
            self.scores.reserve(slug, rows);
        }
        self.scorers
            .push((slug.to_string(), registered_name.clone()));
        Ok(StoreScorer {
            id: (self.scorers.len() - 1) as i64,
            slug: slug.to_string(),
            registered_name,
            scale: defaults.scale,
            typical: defaults.typical,
            higher_is_better: defaults.higher_is_better,
            already_ingested,
        })
    }

    fn put(
        &mut self,
        mut row: ScoreRow,
        _detail: RowDetail,
        settle: &mut dyn FnMut(Settled, Fate),
    ) -> Result<(), StoreError> {
        let (slug, name) = &self.scorers[row.scorer_id as usize];
        // Moved, not copied: a refused row takes it back below.
        let written = row.raw_key.is_some();
        if let Some(raw_key) = row.raw_key.take() {
            self.written_keys.push((row.line, raw_key));
        }
        // The key moves into the index; a refusal hands it back.
        let inserted = self.scores.insert(
            slug,
            name,
            std::mem::take(&mut row.key),
            row.stored.score,
            row.stored.is_bad(),
            row.runtime_ms,
            i64::from(row.frame_count),
            self.source,
            row.line,
        );
        let (held, key) = match inserted {
            Ok(()) => {
                settle(row.settled(), Fate::Written);
                return Ok(());
            }
            Err(refused) => refused,
        };
        // The refused row is not held: no later row can collide with it.
        if written {
            row.raw_key = self.written_keys.pop().map(|(_, raw_key)| raw_key);
        }
        // A one-shot run refuses every duplicate, as the reference does
        // (materialize takes no --replace or --ignore): it has no history
        // to keep a superseded score in.
        let same_file = held.path == self.path;
        let raw_key = same_file.then(|| {
            match self
                .written_keys
                .binary_search_by_key(&held.line, |(line, _)| *line)
            {
                Ok(at) => self.written_keys[at].1.clone(),
                Err(_) => key.clone(),
            }
        });
        Err(StoreError::Duplicate {
            live: LiveOrigin {
                same_file,
                path: held.path,
                line: held.line,
                ingested_at: None,
                raw_key,
            },
            row: Box::new(ScoreRow { key, ..row }),
        })
    }

    fn flush(&mut self, _settle: &mut dyn FnMut(Settled, Fate)) -> Result<(), StoreError> {
        Ok(())
    }

    fn finish_file(&mut self, _rows_per_scorer: &[(i64, u64, u64)]) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(scores: &mut MemoryScores, slug: &str, key: &str) {
        scores
            .insert(slug, slug, key.to_string(), Some(1.0), false, None, 0, 0, 1)
            .unwrap();
    }

    #[test]
    fn room_is_made_at_a_scorers_first_score_and_only_for_it() {
        let mut scores = MemoryScores::default();
        scores.add_source("a.jsonl", "");
        scores.reserve("dover", 10_000);
        assert!(
            scores.scorer_names().is_empty(),
            "a reserved scorer holds nothing yet"
        );
        hold(&mut scores, "musiq", "a");
        assert!(scores.scorers["musiq"].by_key.capacity() < 10_000);
        hold(&mut scores, "dover", "a");
        let dover = &scores.scorers["dover"];
        assert!(dover.by_key.capacity() >= 10_000 && dover.scores.capacity() >= 10_000);
        // A scorer already held gets its room at once.
        scores.reserve("musiq", 5_000);
        assert!(scores.scorers["musiq"].by_key.capacity() >= 5_001);
    }

    #[test]
    fn a_files_hint_is_for_its_first_scorer() {
        let mut scores = MemoryScores::default();
        let mut store = MemoryStore::new(&mut scores, "a.jsonl", None).expecting_rows(Some(10_000));
        store
            .scorer("DOVER", "dover", &Declared::default())
            .unwrap();
        store
            .scorer("MUSIQ", "musiq", &Declared::default())
            .unwrap();
        drop(store);
        hold(&mut scores, "musiq", "a");
        hold(&mut scores, "dover", "a");
        assert!(scores.scorers["dover"].by_key.capacity() >= 10_000);
        assert!(scores.scorers["musiq"].by_key.capacity() < 10_000);
    }

    #[test]
    fn no_room_is_made_for_bytes_held_already() {
        let mut scores = MemoryScores::default();
        let mut store = MemoryStore::new(&mut scores, "a.jsonl", Some("abc"));
        store
            .scorer("DOVER", "dover", &Declared::default())
            .unwrap();
        drop(store);
        hold(&mut scores, "dover", "a");
        let capacity = scores.scorers["dover"].by_key.capacity();
        let mut again =
            MemoryStore::new(&mut scores, "b.jsonl", Some("abc")).expecting_rows(Some(10_000));
        let scorer = again
            .scorer("DOVER", "dover", &Declared::default())
            .unwrap();
        assert!(scorer.already_ingested);
        drop(again);
        assert_eq!(scores.scorers["dover"].by_key.capacity(), capacity);
    }

    #[test]
    fn a_files_hint_does_not_outlive_it() {
        let mut scores = MemoryScores::default();
        scores.reserve("dover", 10_000);
        drop(MemoryStore::new(&mut scores, "b.jsonl", None));
        hold(&mut scores, "dover", "a");
        assert!(scores.scorers["dover"].by_key.capacity() < 10_000);
    }
}
