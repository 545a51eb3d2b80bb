//! `exports diff A B`: per scorer, the keys added, removed and changed
//! between two points, with the old and new rows.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::registry::exports::{At, ExportRecord};
use crate::registry::history::RowAt;
use crate::registry::{Point, PointRef, Registry, RegistryError};

/// Two points compared.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    pub a: Side,
    pub b: Side,
    pub scorers: Vec<ScorerDiff>,
    /// When both sides are exports: whether they read different feature
    /// tables (by sha256), and which recorded options differ.
    pub exports: Option<ExportsCompared>,
}

/// One side of a diff: the REF as given and the point it names.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub reference: String,
    pub point: Point,
}

/// How two exports' inputs compare.
#[derive(Clone, Debug, Serialize)]
pub struct ExportsCompared {
    pub features_differ: bool,
    pub features: [String; 2],
    /// The names of the recorded options whose values differ.
    pub options_differ: Vec<String>,
}

/// One scorer's changes between the two points.
#[derive(Clone, Debug, Serialize)]
pub struct ScorerDiff {
    pub name: String,
    pub slug: String,
    /// Rows live at A and at B.
    pub rows_a: u64,
    pub rows_b: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// Every added, removed and changed key, by key.
    pub keys: Vec<KeyChange>,
}

/// A key whose score differs between the two points.
#[derive(Clone, Debug, Serialize)]
pub struct KeyChange {
    pub key: String,
    /// added, removed or changed.
    pub change: &'static str,
    pub old: Option<RowAt>,
    pub new: Option<RowAt>,
}

/// Whether the row a key has at A and at B differ as scores: value (bit
/// for bit) or status. The same value from another file is no change.
fn same_score(old: &RowAt, new: &RowAt) -> bool {
    old.score.map(f64::to_bits) == new.score.map(f64::to_bits) && old.status == new.status
}

/// Compare the registry at points `a` and `b`.
pub fn diff(registry: &Registry, a: &PointRef, b: &PointRef) -> Result<Diff, RegistryError> {
    registry.read_snapshot(|registry| {
        let side = |reference: &PointRef| -> Result<Side, RegistryError> {
            Ok(Side {
                reference: reference.to_string(),
                point: registry.resolve_point(reference)?,
            })
        };
        let (a, b) = (side(a)?, side(b)?);
        // Scorers by id, so a scorer renamed between the points is one
        // scorer; shown by its name at B (else at A).
        let mut scorers: BTreeMap<i64, (String, String)> = BTreeMap::new();
        for point in [&b.point, &a.point] {
            for scorer in registry.live_scorers(At::Point(point.seq))? {
                scorers
                    .entry(scorer.id)
                    .or_insert((scorer.name, scorer.slug));
            }
        }
        let mut diffs = Vec::new();
        for (id, (name, slug)) in scorers {
            let old = registry.rows_at(id, a.point.seq)?;
            let new = registry.rows_at(id, b.point.seq)?;
            diffs.push(scorer_diff(name, slug, old, new));
        }
        diffs.sort_by(|x, y| x.slug.cmp(&y.slug));
        let exports = match (a.point.export, b.point.export) {
            (Some(x), Some(y)) => Some(compare_exports(
                &registry.export_record(x)?,
                &registry.export_record(y)?,
            )),
            _ => None,
        };
        Ok(Diff {
            a,
            b,
            scorers: diffs,
            exports,
        })
    })
}

fn scorer_diff(name: String, slug: String, old: Vec<RowAt>, new: Vec<RowAt>) -> ScorerDiff {
    let (rows_a, rows_b) = (old.len() as u64, new.len() as u64);
    let mut before: HashMap<String, RowAt> = old.into_iter().map(|r| (r.key.clone(), r)).collect();
    let mut keys = Vec::new();
    for row in new {
        match before.remove(&row.key) {
            None => keys.push(KeyChange {
                key: row.key.clone(),
                change: "added",
                old: None,
                new: Some(row),
            }),
            Some(old) if !same_score(&old, &row) => keys.push(KeyChange {
                key: row.key.clone(),
                change: "changed",
                old: Some(old),
                new: Some(row),
            }),
            Some(_) => {}
        }
    }
    keys.extend(before.into_values().map(|old| KeyChange {
        key: old.key.clone(),
        change: "removed",
        old: Some(old),
        new: None,
    }));
    keys.sort_by(|x, y| x.key.cmp(&y.key));
    let count = |change: &str| keys.iter().filter(|k| k.change == change).count() as u64;
    ScorerDiff {
        added: count("added"),
        removed: count("removed"),
        changed: count("changed"),
        name,
        slug,
        rows_a,
        rows_b,
        keys,
    }
}

fn compare_exports(a: &ExportRecord, b: &ExportRecord) -> ExportsCompared {
    let mut names: Vec<&String> = Vec::new();
    for options in [&a.options, &b.options] {
        if let Some(map) = options.as_object() {
            names.extend(map.keys());
        }
    }
    names.sort();
    names.dedup();
    let options_differ = names
        .into_iter()
        .filter(|name| a.options.get(name.as_str()) != b.options.get(name.as_str()))
        .cloned()
        .collect();
    ExportsCompared {
        features_differ: a.features_sha256 != b.features_sha256,
        features: [a.features_path.clone(), b.features_path.clone()],
        options_differ,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, score: Option<f64>, status: &str, line: u64) -> RowAt {
        RowAt {
            key: key.into(),
            score,
            status: status.into(),
            path: "f.jsonl".into(),
            line,
        }
    }

    #[test]
    fn added_removed_and_changed_keys_in_key_order() {
        let old = vec![
            row("a", Some(1.0), "ok", 1),
            row("b", Some(2.0), "ok", 2),
            row("c", Some(3.0), "ok", 3),
            row("e", Some(0.0), "ok", 5),
        ];
        let new = vec![
            row("e", Some(-0.0), "ok", 1),
            row("d", Some(4.0), "ok", 2),
            row("b", Some(2.0), "ok", 9),
            row("a", Some(1.0), "bad", 1),
        ];
        let diff = scorer_diff("x".into(), "x".into(), old, new);
        let keys: Vec<(&str, &str)> = diff
            .keys
            .iter()
            .map(|k| (k.key.as_str(), k.change))
            .collect();
        assert_eq!(
            keys,
            [
                ("a", "changed"),
                ("c", "removed"),
                ("d", "added"),
                ("e", "changed")
            ]
        );
        assert_eq!((diff.added, diff.removed, diff.changed), (1, 1, 2));
        assert_eq!((diff.rows_a, diff.rows_b), (4, 4));
    }
}
