//! The reference's signal-mix audit of one table: target, signal columns,
//! family health, correlations with the target, redundant pairs and
//! complementary intersections — the semantics of `signal_mix_audit.py`,
//! with the families read from the registry.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};

use super::data::TableData;
use super::families::{Classifier, ColumnClass, ColumnRole};
use super::stats::{self, FiniteStats};

/// Target columns tried in order when `--target` is not given (compared
/// ignoring case).
pub const TARGET_CANDIDATES: &[&str] = &[
    "vmaf",
    "vmaf_score",
    "mos_raw_0_100",
    "mos",
    "dmos",
    "score",
];

/// Full-reference targets among the candidates: with a subjective target
/// they are signals, not other targets.
const FR_TARGETS: &[&str] = &["vmaf", "vmaf_score"];

/// Whether `target` is a subjective score (viewers' MOS or DMOS under any
/// spelling: `mos`, `dmos`, `mos_raw_0_100`, `MOS_z` …).
pub fn is_subjective(target: &str) -> bool {
    target.to_lowercase().contains("mos")
}

/// The target of a table's audit, and why.
#[derive(Clone, Debug, Default)]
pub struct TargetChoice {
    pub column: Option<String>,
    /// How it was chosen, for the report.
    pub reason: String,
    /// When the reference's order chose a full-reference target while a
    /// subjective one is there too: how to audit against that instead.
    pub hint: Option<String>,
}

/// [`infer_target`], with the reason and a hint for MOS work.
pub fn choose_target(columns: &[String], requested: Option<&str>) -> TargetChoice {
    let column = infer_target(columns, requested);
    let candidates = TARGET_CANDIDATES.join(", ");
    let reason = match (requested, &column) {
        (Some(_), Some(_)) => "given by --target".to_string(),
        (Some(name), None) => format!("--target {name} names no column of the table: no target"),
        (None, Some(_)) => {
            format!("the first of the reference's target candidates present ({candidates})")
        }
        (None, None) => {
            format!("none of the reference's target candidates ({candidates}) is a column")
        }
    };
    let hint = match (requested, &column) {
        (None, Some(chosen)) if !is_subjective(chosen) => columns
            .iter()
            .find(|c| {
                TARGET_CANDIDATES.contains(&c.to_lowercase().as_str()) && is_subjective(c)
            })
            .map(|mos| {
                format!(
                    "the table also has {mos}: pass --target {mos} to audit against viewers' scores \
                     (full-reference metrics such as {chosen} then count as signals)"
                )
            }),
        _ => None,
    };
    TargetChoice {
        column,
        reason,
        hint,
    }
}

/// Columns that describe a clip rather than measure it.
pub const METADATA_PATTERN: &str = "(^src$|sha|basename|path|filename|uuid|id$|timestamp|ingested|manifest|license|url|bucket|split|fold|corpus_version)";

/// A target correlation counts towards intersections at this |r| or above.
pub const TARGET_RELEVANCE: f64 = 0.20;

/// The thresholds of the reference.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub redundancy: f64,
    pub complement: f64,
    pub min_finite_ratio: f64,
}

/// How well a table covers one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyStatus {
    /// A healthy numeric signal column matches.
    Covered,
    /// Columns match, but none is a numeric signal with enough finite
    /// values and some spread.
    Weak,
    /// No column matches.
    Missing,
}

impl FamilyStatus {
    pub fn name(self) -> &'static str {
        match self {
            FamilyStatus::Covered => "covered",
            FamilyStatus::Weak => "weak",
            FamilyStatus::Missing => "missing",
        }
    }
}

#[derive(Clone, Debug)]
pub struct FamilyHealth {
    pub key: String,
    pub status: FamilyStatus,
    pub matched_columns: Vec<String>,
    pub numeric_columns: Vec<String>,
    pub healthy_columns: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct TargetCorrelation {
    pub column: String,
    /// Primary family key, or `uncategorized`.
    pub family: String,
    pub pearson: f64,
    pub spearman: f64,
    pub abs_pearson: f64,
}

#[derive(Clone, Debug)]
pub struct Pair {
    pub left: String,
    pub right: String,
    pub left_family: String,
    pub right_family: String,
    pub pearson: f64,
    pub abs_pearson: f64,
}

#[derive(Clone, Debug)]
pub struct Intersection {
    pub pair: Pair,
    pub left_target_abs_pearson: f64,
    pub right_target_abs_pearson: f64,
}

/// The reference part of a table's audit.
#[derive(Clone, Debug)]
pub struct SignalAudit {
    pub target: Option<String>,
    /// How the target was chosen, and a hint for MOS work.
    pub target_reason: String,
    pub target_hint: Option<String>,
    pub numeric_columns: Vec<String>,
    pub signal_columns: Vec<String>,
    /// Per family (by position): the columns it matches.
    pub family_columns: Vec<Vec<String>>,
    /// Per family (by position).
    pub family_health: Vec<FamilyHealth>,
    pub column_stats: BTreeMap<String, FiniteStats>,
    /// Every column's primary family key (`uncategorized` when none).
    pub column_families: BTreeMap<String, String>,
    pub target_correlations: Vec<TargetCorrelation>,
    pub redundant_pairs: Vec<Pair>,
    pub intersections: Vec<Intersection>,
    pub missing_families: Vec<String>,
    pub weak_families: Vec<String>,
}

/// The metadata regex, compiled.
pub fn metadata_regex() -> Regex {
    RegexBuilder::new(METADATA_PATTERN)
        .case_insensitive(true)
        .build()
        .expect("valid metadata pattern")
}

/// The target: `requested` when the table has exactly that column (else
/// none: an unknown explicit target never falls back), otherwise the first
/// candidate present, ignoring case (the last column of that spelling, as
/// the reference's dict does).
pub fn infer_target(columns: &[String], requested: Option<&str>) -> Option<String> {
    if let Some(requested) = requested {
        return columns
            .iter()
            .any(|c| c == requested)
            .then(|| requested.to_string());
    }
    TARGET_CANDIDATES.iter().find_map(|candidate| {
        columns
            .iter()
            .rev()
            .find(|c| c.to_lowercase() == *candidate)
            .cloned()
    })
}

/// Whether `column` is a signal (given that it is numeric): not the target,
/// not another target candidate when there is a target, not metadata, and
/// not a scorer's bookkeeping column (`_status`, `_source`, `_runtime_ms`,
/// `_frames`: the reference counts the numeric ones as signals). Against a
/// subjective target, the full-reference candidates (`vmaf`) are signals:
/// a MOS model trains on them (the reference drops them; a deliberate
/// difference).
pub fn is_signal(
    column: &str,
    target: Option<&str>,
    metadata: &Regex,
    class: &ColumnClass,
) -> bool {
    if let Some(target) = target {
        let lower = column.to_lowercase();
        let fr_against_mos = is_subjective(target) && FR_TARGETS.contains(&lower.as_str());
        if column == target || (TARGET_CANDIDATES.contains(&lower.as_str()) && !fr_against_mos) {
            return false;
        }
    }
    if matches!(class.owner, Some((_, ColumnRole::Bookkeeping))) {
        return false;
    }
    !metadata.is_match(column)
}

/// The family key of a class, as reports name it.
pub fn family_key(classifier: &Classifier, class: &ColumnClass) -> String {
    class.primary().map_or("uncategorized".to_string(), |i| {
        classifier.key(i).to_string()
    })
}

/// Audit one table the reference's way.
pub fn audit_signals(
    data: &TableData,
    classifier: &Classifier,
    classes: &[ColumnClass],
    choice: TargetChoice,
    thresholds: Thresholds,
) -> SignalAudit {
    let TargetChoice {
        column: target,
        reason: target_reason,
        hint: target_hint,
    } = choice;
    let metadata = metadata_regex();
    let columns = &data.columns;
    let numeric_columns: Vec<String> = columns
        .iter()
        .filter(|c| data.is_numeric(c))
        .cloned()
        .collect();
    let signal_columns: Vec<String> = columns
        .iter()
        .zip(classes)
        .filter(|(c, class)| {
            data.is_numeric(c) && is_signal(c, target.as_deref(), &metadata, class)
        })
        .map(|(c, _)| c.clone())
        .collect();
    let column_families: BTreeMap<String, String> = columns
        .iter()
        .zip(classes)
        .map(|(c, class)| (c.clone(), family_key(classifier, class)))
        .collect();
    let primary = |column: &str| column_families[column].clone();

    let families = &classifier.families;
    let mut family_columns: Vec<Vec<String>> = vec![Vec::new(); families.len()];
    for (column, class) in columns.iter().zip(classes) {
        for &family in &class.families {
            family_columns[family].push(column.clone());
        }
    }

    let column_stats: BTreeMap<String, FiniteStats> = signal_columns
        .iter()
        .map(|c| {
            (
                c.clone(),
                stats::finite_stats(data.numeric(c).expect("numeric")),
            )
        })
        .collect();

    let mut family_health = Vec::with_capacity(families.len());
    let mut missing_families = Vec::new();
    let mut weak_families = Vec::new();
    for (family, matched) in families.iter().zip(&family_columns) {
        let numeric: Vec<String> = matched
            .iter()
            .filter(|c| column_stats.contains_key(*c))
            .cloned()
            .collect();
        let healthy: Vec<String> = numeric
            .iter()
            .filter(|c| {
                let stats = &column_stats[*c];
                stats.finite_ratio >= thresholds.min_finite_ratio && stats.has_spread()
            })
            .cloned()
            .collect();
        let status = if matched.is_empty() {
            missing_families.push(family.key.clone());
            FamilyStatus::Missing
        } else if healthy.is_empty() {
            weak_families.push(family.key.clone());
            FamilyStatus::Weak
        } else {
            FamilyStatus::Covered
        };
        family_health.push(FamilyHealth {
            key: family.key.clone(),
            status,
            matched_columns: matched.clone(),
            numeric_columns: numeric,
            healthy_columns: healthy,
        });
    }

    let mut target_correlations = Vec::new();
    if let Some(target_values) = target.as_deref().and_then(|t| data.numeric(t)) {
        let target_ranks = stats::average_ranks(target_values);
        for column in &signal_columns {
            let values = data.numeric(column).expect("numeric");
            let pearson = stats::pearson(values, target_values);
            let spearman = stats::pearson(&stats::average_ranks(values), &target_ranks);
            if pearson.is_nan() && spearman.is_nan() {
                continue;
            }
            target_correlations.push(TargetCorrelation {
                column: column.clone(),
                family: primary(column),
                pearson,
                spearman,
                abs_pearson: pearson.abs(),
            });
        }
        // Stable: ties keep the table's order; NaN |r| last.
        target_correlations.sort_by(|a, b| {
            let key = |c: &TargetCorrelation| {
                (
                    c.abs_pearson.is_nan(),
                    if c.abs_pearson.is_nan() {
                        0.0
                    } else {
                        -c.abs_pearson
                    },
                )
            };
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        });
    }

    let relevant: BTreeMap<&str, f64> = target_correlations
        .iter()
        .filter(|c| !c.abs_pearson.is_nan() && c.abs_pearson >= TARGET_RELEVANCE)
        .map(|c| (c.column.as_str(), c.abs_pearson))
        .collect();
    let mut redundant_pairs = Vec::new();
    let mut intersections = Vec::new();
    for (i, left) in signal_columns.iter().enumerate() {
        let left_values = data.numeric(left).expect("numeric");
        for right in &signal_columns[i + 1..] {
            let r = stats::pearson(left_values, data.numeric(right).expect("numeric"));
            if r.is_nan() {
                continue;
            }
            let pair = Pair {
                left: left.clone(),
                right: right.clone(),
                left_family: primary(left),
                right_family: primary(right),
                pearson: r,
                abs_pearson: r.abs(),
            };
            if r.abs() >= thresholds.redundancy {
                redundant_pairs.push(pair.clone());
            }
            if pair.left_family != pair.right_family && r.abs() <= thresholds.complement {
                if let (Some(&l), Some(&r)) =
                    (relevant.get(left.as_str()), relevant.get(right.as_str()))
                {
                    intersections.push(Intersection {
                        pair,
                        left_target_abs_pearson: l,
                        right_target_abs_pearson: r,
                    });
                }
            }
        }
    }
    redundant_pairs.sort_by(|a, b| b.abs_pearson.total_cmp(&a.abs_pearson));
    intersections.sort_by(|a, b| {
        let sum = |x: &Intersection| x.left_target_abs_pearson + x.right_target_abs_pearson;
        sum(b).total_cmp(&sum(a))
    });

    SignalAudit {
        target,
        target_reason,
        target_hint,
        numeric_columns,
        signal_columns,
        family_columns,
        family_health,
        column_stats,
        column_families,
        target_correlations,
        redundant_pairs,
        intersections,
        missing_families,
        weak_families,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn target_inference_follows_the_reference() {
        let columns = names(&["src", "MOS", "vmaf_score"]);
        assert_eq!(infer_target(&columns, None).as_deref(), Some("vmaf_score"));
        assert_eq!(infer_target(&columns, Some("MOS")).as_deref(), Some("MOS"));
        // An explicit target is matched exactly and never falls back.
        assert_eq!(infer_target(&columns, Some("mos")), None);
        assert_eq!(infer_target(&columns, Some("not_present")), None);
        assert_eq!(infer_target(&names(&["a", "b"]), None), None);
        // The reference's {c.lower(): c} keeps the last spelling.
        assert_eq!(
            infer_target(&names(&["Mos", "mos"]), None).as_deref(),
            Some("mos")
        );
    }

    #[test]
    fn metadata_columns() {
        let metadata = metadata_regex();
        for column in [
            "src",
            "src_sha256",
            "clip_id",
            "Video_ID",
            "dis_path",
            "split",
            "fold",
        ] {
            assert!(metadata.is_match(column), "{column}");
        }
        for column in [
            "source",
            "adm2",
            "vmaf",
            "width",
            "second_opinion_dover_score",
        ] {
            assert!(!metadata.is_match(column), "{column}");
        }
    }
}
