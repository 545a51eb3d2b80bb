//! One key table for all of an export's scorers: every key some fully
//! loaded scorer holds, numbered once, and per scorer where that key's
//! score sits. Scorers of one corpus hold the same clips, so the join
//! looks each table key up once instead of once per scorer, and the key
//! check asks one table whether any scorer knows a key instead of asking
//! each. A lookup's cost is mostly the cache misses of reaching the
//! stored key, which a per-scorer table pays once per scorer (W1, five
//! scorers: two fifths of a repeated export's time, issue 16).

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::index::ScorerIndex;

/// A position no score holds: the scorer has no such key.
const NO_SCORE: u32 = u32::MAX;

/// Every key of a set of scorers, numbered, with each scorer's score
/// position per key number.
pub(super) struct JointKeys {
    ids: FxHashMap<Box<str>, u32>,
    /// Per scorer (its column, see [`link`]), the score position of each
    /// key number, [`NO_SCORE`] where it has none.
    positions: Vec<Vec<u32>>,
}

impl JointKeys {
    /// The number of `key`, if some scorer holds it.
    pub(super) fn id(&self, key: &str) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// Whether some scorer holds `key`.
    pub(super) fn contains(&self, key: &str) -> bool {
        self.ids.contains_key(key)
    }

    /// The position of key number `id`'s score in scorer `column`.
    pub(super) fn position(&self, column: usize, id: u32) -> Option<usize> {
        let position = self.positions[column][id as usize];
        (position != NO_SCORE).then_some(position as usize)
    }
}

/// Give `indexes` one joint key table, when it pays: two scorers or more,
/// each loaded in full (a probed index grows as the join runs, so its keys
/// are not known up front), with positions that fit the table's numbers.
pub(super) fn link(indexes: &mut [ScorerIndex]) {
    if indexes.len() < 2
        || indexes
            .iter()
            .any(|index| index.probe.is_some() || index.data.scores.len() >= NO_SCORE as usize)
    {
        return;
    }
    let largest = indexes.iter().map(|i| i.data.by_key.len()).max();
    let mut ids: FxHashMap<Box<str>, u32> =
        FxHashMap::with_capacity_and_hasher(largest.unwrap_or(0), Default::default());
    let mut numbered: Vec<Vec<(u32, u32)>> = Vec::with_capacity(indexes.len());
    for index in indexes.iter() {
        let mut pairs = Vec::with_capacity(index.data.by_key.len());
        for (key, position) in &index.data.by_key {
            let next = ids.len() as u32;
            let id = match ids.get(key.as_str()) {
                Some(id) => *id,
                None => {
                    ids.insert(key.as_str().into(), next);
                    next
                }
            };
            pairs.push((id, *position as u32));
        }
        numbered.push(pairs);
    }
    let positions = numbered
        .into_iter()
        .map(|pairs| {
            let mut column = vec![NO_SCORE; ids.len()];
            for (id, position) in pairs {
                column[id as usize] = position;
            }
            column
        })
        .collect();
    let joint = Arc::new(JointKeys { ids, positions });
    for (column, index) in indexes.iter_mut().enumerate() {
        index.joint = Some((Arc::clone(&joint), column));
    }
}

/// The joint key table all of `indexes` share, if they share one.
pub(super) fn shared(indexes: &[ScorerIndex]) -> Option<&Arc<JointKeys>> {
    let (first, _) = indexes.first()?.joint.as_ref()?;
    indexes
        .iter()
        .all(|index| {
            index
                .joint
                .as_ref()
                .is_some_and(|(joint, _)| Arc::ptr_eq(joint, first))
        })
        .then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::index::memory_indexes;
    use crate::export::ExportOptions;
    use crate::registry::memory::MemoryScores;

    /// Options of a per-clip export, as scores held in memory take.
    fn per_clip() -> ExportOptions {
        ExportOptions {
            per_frame: false,
            ..ExportOptions::default()
        }
    }

    /// Scorers `a` and `b` share `clip1`; each holds a key of its own; a
    /// third, `c`, holds only `clip1` (a key held by every scorer).
    fn three_scorers() -> MemoryScores {
        let mut scores = MemoryScores::default();
        let source = scores.add_source("scores.jsonl", "00");
        let held = [
            ("a", vec!["clip1", "clip2"]),
            ("b", vec!["clip3", "clip1"]),
            ("c", vec!["clip1"]),
        ];
        for (slug, keys) in held {
            for (line, key) in keys.into_iter().enumerate() {
                scores
                    .insert(
                        slug,
                        slug,
                        key.into(),
                        Some(1.0),
                        false,
                        None,
                        0,
                        source,
                        line as u64,
                    )
                    .unwrap();
            }
        }
        scores
    }

    #[test]
    fn every_scorer_finds_its_own_scores_through_the_joint_table() {
        let (indexes, _, _) = memory_indexes(three_scorers(), &per_clip()).unwrap();
        let joint = shared(&indexes).expect("fully loaded scorers share one table");
        for key in ["clip1", "clip2", "clip3"] {
            assert!(joint.contains(key), "{key}");
            let id = joint.id(key).unwrap();
            for index in &indexes {
                let (_, column) = index.joint.as_ref().unwrap();
                assert_eq!(
                    joint.position(*column, id),
                    index.data.by_key.get(key).copied(),
                    "{key} in {}",
                    index.counts.slug
                );
            }
        }
        assert!(!joint.contains("clip4"));
        assert_eq!(joint.id("clip4"), None);
    }

    #[test]
    fn one_scorer_gets_no_joint_table_nor_do_indexes_of_two_loads() {
        let mut scores = three_scorers();
        scores.scorers.retain(|slug, _| slug == "a");
        let (indexes, _, _) = memory_indexes(scores, &per_clip()).unwrap();
        assert!(indexes[0].joint.is_none());
        assert!(shared(&indexes).is_none());

        let (mut indexes, _, _) = memory_indexes(three_scorers(), &per_clip()).unwrap();
        // The last two linked anew: the first keeps the table of the
        // first load, so the set shares none and is asked scorer by scorer.
        link(&mut indexes[1..]);
        assert!(shared(&indexes[1..]).is_some());
        assert!(shared(&indexes).is_none());
    }
}
