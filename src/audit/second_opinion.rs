//! What the reference does not ask: how complete the second opinions in a
//! table are, where full-reference and no-reference / MOS evidence rank the
//! same clips very differently, and how often the full-reference score sits
//! at its ceiling — the blind spots second opinions exist for.
//!
//! - **Full-reference column** (one per table): `--fr-column`, else the
//!   first numeric column named `vmaf`, `vmaf_score` or `vmaf_neg` (any
//!   case), else the `_score` column of a full-reference scorer, else the
//!   first healthy column whose primary family is `canonical_fr`.
//! - **No-reference / MOS evidence**: the `_score` column of every
//!   no-reference scorer (values whose `_status` is not `ok` left out),
//!   plus columns named `mos`, `mos_raw_0_100` and `dmos`. A scorer known
//!   to be lower-is-better (NIQE, BRISQUE), and `dmos`, count reversed.
//! - **Rank gap** of a row: its percentile (0 = lowest, 1 = highest, ties
//!   averaged) in the full-reference column minus the mean of its
//!   percentiles in the evidence columns it has values in. A row disagrees
//!   when |gap| is above `--disagreement-threshold`.
//! - **Saturation**: rows whose full-reference value is at or above the
//!   ceiling (`--fr-ceiling`, else 5% of the scale below its top: 95 for
//!   VMAF's 0–100, or the registry's scale of a full-reference scorer), and
//!   how much of its overall spread each second opinion keeps among them.

use super::data::TableData;
use super::families::{Classifier, ColumnClass, ColumnRole, Evidence};
use super::stats;

/// Columns holding subjective scores, and whether higher is better.
pub const MOS_COLUMNS: &[(&str, bool)] = &[("mos", true), ("mos_raw_0_100", true), ("dmos", false)];

/// Column names taken as the full-reference column before any other.
pub const FR_COLUMN_NAMES: &[&str] = &["vmaf", "vmaf_score", "vmaf_neg"];

/// At most this many points per scatter plot (rows flagged as
/// disagreeing are always kept; the others are taken evenly).
pub const MAX_PLOT_POINTS: usize = 4000;

/// Coverage of one scorer in a table.
#[derive(Clone, Debug)]
pub struct ScorerCoverage {
    pub name: String,
    pub slug: String,
    pub evidence: Evidence,
    pub in_registry: bool,
    pub score_column: Option<String>,
    pub status_column: Option<String>,
    pub rows: usize,
    pub ok: usize,
    pub bad: usize,
    pub missing: usize,
    /// Null or any other status value.
    pub other: usize,
}

impl ScorerCoverage {
    pub fn share(&self, count: usize) -> f64 {
        if self.rows == 0 {
            f64::NAN
        } else {
            count as f64 / self.rows as f64
        }
    }
}

/// An evidence column of the disagreement check.
#[derive(Clone, Debug)]
pub struct EvidenceColumn {
    pub column: String,
    /// The scorer's name, or `None` for a MOS column.
    pub scorer: Option<String>,
    pub higher_is_better: bool,
}

/// One row where the two kinds of evidence disagree.
#[derive(Clone, Debug)]
pub struct DisagreementRow {
    /// 0-based row of the table.
    pub row: usize,
    pub key: Option<String>,
    pub fr_value: f64,
    pub fr_percentile: f64,
    pub nr_percentile: f64,
    /// `fr_percentile - nr_percentile`.
    pub gap: f64,
    pub target: f64,
    /// The evidence columns' values on this row, in evidence order.
    pub values: Vec<f64>,
}

#[derive(Clone, Debug)]
pub struct Disagreement {
    pub threshold: f64,
    pub evidence: Vec<EvidenceColumn>,
    pub rows_compared: usize,
    pub rows_over_threshold: usize,
    /// Spearman's rho of the full-reference values and the mean evidence
    /// percentile, over the rows compared.
    pub rank_agreement: f64,
    /// The `top_k` widest gaps, widest first.
    pub top_rows: Vec<DisagreementRow>,
    /// Every row over the threshold (for plots).
    pub flagged: Vec<usize>,
}

/// A second opinion's spread among saturated rows.
#[derive(Clone, Debug)]
pub struct SaturatedSpread {
    pub column: String,
    pub finite: usize,
    pub min: f64,
    pub max: f64,
    pub std: f64,
    pub overall_std: f64,
    /// `std / overall_std`: how much of its spread the second opinion keeps
    /// where the full-reference score no longer moves.
    pub spread_ratio: f64,
}

#[derive(Clone, Debug)]
pub struct Saturation {
    pub ceiling: f64,
    /// `--fr-ceiling`, `vmaf scale 0:100` or `registry scale MIN:MAX`.
    pub ceiling_from: String,
    pub rows_with_fr: usize,
    pub saturated_rows: usize,
    pub share: f64,
    pub spreads: Vec<SaturatedSpread>,
}

/// The points of one scatter plot: full-reference value against one second
/// opinion, coloured by the target.
#[derive(Clone, Debug)]
pub struct Scatter {
    pub scorer: String,
    pub column: String,
    /// (x, y, target, flagged, key)
    pub points: Vec<(f64, f64, f64, bool, Option<String>)>,
    /// Rows with both values (before thinning).
    pub rows: usize,
}

#[derive(Clone, Debug)]
pub struct SecondOpinionAudit {
    pub scorers: Vec<ScorerCoverage>,
    pub fr_column: Option<String>,
    /// Why no full-reference column was chosen.
    pub fr_note: Option<String>,
    pub disagreement: Result<Disagreement, String>,
    pub saturation: Result<Saturation, String>,
    pub plots: Vec<Scatter>,
}

/// The options of this part of the audit.
#[derive(Clone, Debug)]
pub struct SecondOpinionOptions {
    pub fr_column: Option<String>,
    pub fr_ceiling: Option<f64>,
    pub disagreement_threshold: f64,
    pub top_k: i64,
    pub min_finite_ratio: f64,
}

/// Status of a row: ok, bad, missing, other.
fn status_code(status: Option<&str>) -> u8 {
    match status {
        Some("ok") => 0,
        Some("bad") => 1,
        Some("missing") => 2,
        _ => 3,
    }
}

/// The values of a scorer's score column, NaN where its status is not ok.
fn usable_scores(data: &TableData, score: &str, status: Option<&str>) -> Option<Vec<f64>> {
    let values = data.numeric(score)?;
    let statuses = status.and_then(|s| data.text(s));
    Some(match statuses {
        Some(statuses) => values
            .iter()
            .zip(statuses)
            .map(|(v, s)| {
                if status_code(s.as_deref()) == 0 {
                    *v
                } else {
                    f64::NAN
                }
            })
            .collect(),
        None => values.to_vec(),
    })
}

pub fn audit_second_opinions(
    data: &TableData,
    classifier: &Classifier,
    classes: &[ColumnClass],
    target: Option<&str>,
    keys: Option<&[Option<String>]>,
    options: &SecondOpinionOptions,
) -> SecondOpinionAudit {
    // Scorers present: those owning at least one column, in scorer order.
    let mut scorers = Vec::new();
    for (index, scorer) in classifier.scorers.iter().enumerate() {
        let owned: Vec<(&String, &ColumnRole)> = data
            .columns
            .iter()
            .zip(classes)
            .filter_map(|(column, class)| match &class.owner {
                Some((owner, role)) if *owner == index => Some((column, role)),
                _ => None,
            })
            .collect();
        if owned.is_empty() {
            continue;
        }
        let find = |suffix: &str| {
            let name = format!("{}_{}_{suffix}", classifier.prefix, scorer.slug);
            owned
                .iter()
                .find(|(column, _)| **column == name)
                .map(|(column, _)| (*column).clone())
        };
        let score_column = find("score");
        let status_column = find("status").filter(|s| data.text(s).is_some());
        let mut coverage = ScorerCoverage {
            name: scorer.name.clone(),
            slug: scorer.slug.clone(),
            evidence: scorer.evidence,
            in_registry: scorer.in_registry,
            score_column: score_column.clone(),
            status_column: status_column.clone(),
            rows: data.rows,
            ok: 0,
            bad: 0,
            missing: 0,
            other: 0,
        };
        if let Some(statuses) = status_column.as_deref().and_then(|s| data.text(s)) {
            for status in statuses {
                match status_code(status.as_deref()) {
                    0 => coverage.ok += 1,
                    1 => coverage.bad += 1,
                    2 => coverage.missing += 1,
                    _ => coverage.other += 1,
                }
            }
        } else if let Some(values) = score_column.as_deref().and_then(|s| data.numeric(s)) {
            // No status column: a finite score is ok, anything else missing.
            coverage.ok = values.iter().filter(|v| v.is_finite()).count();
            coverage.missing = data.rows - coverage.ok;
        } else {
            coverage.other = data.rows;
        }
        scorers.push(coverage);
    }

    let (fr_column, fr_note) = choose_fr_column(data, classifier, classes, options);
    let evidence = evidence_columns(data, &scorers, classifier, fr_column.as_deref());
    let target_values = target.and_then(|t| data.numeric(t));
    let disagreement = match &fr_column {
        None => Err(fr_note
            .clone()
            .unwrap_or_else(|| "no full-reference column".to_string())),
        Some(fr) => disagreement(data, fr, &evidence, target_values, keys, options),
    };
    let saturation = match &fr_column {
        None => Err(fr_note
            .clone()
            .unwrap_or_else(|| "no full-reference column".to_string())),
        Some(fr) => saturation(data, fr, classifier, classes, &evidence, options),
    };
    let flagged = disagreement
        .as_ref()
        .map(|d| d.flagged.clone())
        .unwrap_or_default();
    let plots = match &fr_column {
        Some(fr) => scatter_plots(data, fr, &evidence, target_values, keys, &flagged),
        None => Vec::new(),
    };
    SecondOpinionAudit {
        scorers,
        fr_column,
        fr_note,
        disagreement,
        saturation,
        plots,
    }
}

fn choose_fr_column(
    data: &TableData,
    classifier: &Classifier,
    classes: &[ColumnClass],
    options: &SecondOpinionOptions,
) -> (Option<String>, Option<String>) {
    if let Some(requested) = &options.fr_column {
        return if data.is_numeric(requested) {
            (Some(requested.clone()), None)
        } else {
            (
                None,
                Some(format!(
                    "--fr-column {requested}: the table has no numeric column of that name"
                )),
            )
        };
    }
    let named = data
        .columns
        .iter()
        .find(|c| FR_COLUMN_NAMES.contains(&c.to_lowercase().as_str()) && data.is_numeric(c));
    let scorer_score = || {
        data.columns
            .iter()
            .zip(classes)
            .find_map(|(c, class)| match &class.owner {
                Some((owner, ColumnRole::Score))
                    if classifier.scorers[*owner].evidence == Evidence::FullReference
                        && data.is_numeric(c) =>
                {
                    Some(c)
                }
                _ => None,
            })
    };
    let canonical = || {
        data.columns.iter().zip(classes).find_map(|(c, class)| {
            let is_canonical = class
                .primary()
                .is_some_and(|f| classifier.key(f) == super::families::FULL_REFERENCE_FAMILY);
            let bookkeeping = matches!(class.owner, Some((_, ColumnRole::Bookkeeping)));
            let healthy = data.numeric(c).is_some_and(|v| {
                let s = stats::finite_stats(v);
                s.finite_ratio >= options.min_finite_ratio && s.has_spread()
            });
            (is_canonical && !bookkeeping && healthy).then_some(c)
        })
    };
    match named.or_else(scorer_score).or_else(canonical) {
        Some(column) => (Some(column.clone()), None),
        None => (
            None,
            Some(
                "no full-reference column (vmaf, a libvmaf second opinion, or a healthy \
                 canonical_fr column): pass --fr-column"
                    .to_string(),
            ),
        ),
    }
}

fn evidence_columns(
    data: &TableData,
    scorers: &[ScorerCoverage],
    classifier: &Classifier,
    fr_column: Option<&str>,
) -> Vec<(EvidenceColumn, Vec<f64>)> {
    let mut evidence = Vec::new();
    for coverage in scorers {
        if coverage.evidence != Evidence::NoReference {
            continue;
        }
        let Some(score) = &coverage.score_column else {
            continue;
        };
        let Some(values) = usable_scores(data, score, coverage.status_column.as_deref()) else {
            continue;
        };
        let higher_is_better = classifier
            .scorers
            .iter()
            .find(|s| s.slug == coverage.slug)
            .and_then(|s| s.higher_is_better)
            .unwrap_or(true);
        evidence.push((
            EvidenceColumn {
                column: score.clone(),
                scorer: Some(coverage.name.clone()),
                higher_is_better,
            },
            values,
        ));
    }
    for column in &data.columns {
        let lower = column.to_lowercase();
        let Some((_, higher_is_better)) = MOS_COLUMNS.iter().find(|(name, _)| *name == lower)
        else {
            continue;
        };
        if Some(column.as_str()) == fr_column {
            continue;
        }
        if let Some(values) = data.numeric(column) {
            evidence.push((
                EvidenceColumn {
                    column: column.clone(),
                    scorer: None,
                    higher_is_better: *higher_is_better,
                },
                values.to_vec(),
            ));
        }
    }
    evidence
        .retain(|(_, values)| values.iter().filter(|v| v.is_finite()).count() >= stats::MIN_PAIRS);
    evidence
}

fn disagreement(
    data: &TableData,
    fr_column: &str,
    evidence: &[(EvidenceColumn, Vec<f64>)],
    target: Option<&[f64]>,
    keys: Option<&[Option<String>]>,
    options: &SecondOpinionOptions,
) -> Result<Disagreement, String> {
    if evidence.is_empty() {
        return Err(
            "no no-reference or MOS evidence (second-opinion score columns, mos, dmos) with 3 or more values"
                .to_string(),
        );
    }
    let fr_values = data.numeric(fr_column).expect("numeric FR column");
    let fr_percentiles = stats::percentiles(fr_values, false);
    let evidence_percentiles: Vec<Vec<f64>> = evidence
        .iter()
        .map(|(column, values)| stats::percentiles(values, !column.higher_is_better))
        .collect();
    let nr_percentiles: Vec<f64> = (0..data.rows)
        .map(|row| {
            let available: Vec<f64> = evidence_percentiles
                .iter()
                .map(|p| p[row])
                .filter(|p| p.is_finite())
                .collect();
            if available.is_empty() {
                f64::NAN
            } else {
                available.iter().sum::<f64>() / available.len() as f64
            }
        })
        .collect();
    let compared: Vec<usize> = (0..data.rows)
        .filter(|&row| fr_percentiles[row].is_finite() && nr_percentiles[row].is_finite())
        .collect();
    if compared.len() < stats::MIN_PAIRS {
        return Err(format!(
            "only {} rows have both {fr_column} and no-reference/MOS evidence",
            compared.len()
        ));
    }
    let mut flagged: Vec<(usize, f64)> = compared
        .iter()
        .map(|&row| (row, fr_percentiles[row] - nr_percentiles[row]))
        .filter(|(_, gap)| gap.abs() > options.disagreement_threshold)
        .collect();
    flagged.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    let top_rows = flagged
        .iter()
        .take(super::listed(flagged.len(), options.top_k))
        .map(|&(row, gap)| DisagreementRow {
            row,
            key: keys.and_then(|k| k[row].clone()),
            fr_value: fr_values[row],
            fr_percentile: fr_percentiles[row],
            nr_percentile: nr_percentiles[row],
            gap,
            target: target.map_or(f64::NAN, |t| t[row]),
            values: evidence.iter().map(|(_, values)| values[row]).collect(),
        })
        .collect();
    let mut flagged_rows: Vec<usize> = flagged.iter().map(|(row, _)| *row).collect();
    flagged_rows.sort_unstable();
    Ok(Disagreement {
        threshold: options.disagreement_threshold,
        evidence: evidence.iter().map(|(c, _)| c.clone()).collect(),
        rows_compared: compared.len(),
        rows_over_threshold: flagged_rows.len(),
        rank_agreement: stats::spearman(fr_values, &nr_percentiles),
        top_rows,
        flagged: flagged_rows,
    })
}

fn saturation(
    data: &TableData,
    fr_column: &str,
    classifier: &Classifier,
    classes: &[ColumnClass],
    evidence: &[(EvidenceColumn, Vec<f64>)],
    options: &SecondOpinionOptions,
) -> Result<Saturation, String> {
    let (ceiling, ceiling_from) = match options.fr_ceiling {
        Some(ceiling) => (ceiling, "--fr-ceiling".to_string()),
        None => {
            let class = data
                .columns
                .iter()
                .position(|c| c == fr_column)
                .map(|i| &classes[i]);
            let registry_range = class
                .and_then(|c| c.owner.as_ref())
                .and_then(|(owner, _)| classifier.scorers[*owner].range);
            match registry_range {
                Some(range) => (
                    range.max - 0.05 * (range.max - range.min),
                    format!("registry scale {range}"),
                ),
                None if fr_column.to_lowercase().contains("vmaf") => {
                    (95.0, "VMAF scale 0:100".to_string())
                }
                None => {
                    return Err(format!(
                        "the scale of {fr_column} is unknown: pass --fr-ceiling to say where it saturates"
                    ))
                }
            }
        }
    };
    let fr_values = data.numeric(fr_column).expect("numeric FR column");
    let rows_with_fr = fr_values.iter().filter(|v| v.is_finite()).count();
    let saturated: Vec<usize> = (0..data.rows)
        .filter(|&row| fr_values[row].is_finite() && fr_values[row] >= ceiling)
        .collect();
    let spreads = evidence
        .iter()
        .map(|(column, values)| {
            let inside: Vec<f64> = saturated
                .iter()
                .map(|&row| values[row])
                .filter(|v| v.is_finite())
                .collect();
            let (_, std) = stats::mean_std(inside.iter().copied());
            let (_, overall_std) =
                stats::mean_std(values.iter().copied().filter(|v| v.is_finite()));
            SaturatedSpread {
                column: column.column.clone(),
                finite: inside.len(),
                min: inside.iter().copied().fold(f64::NAN, f64::min),
                max: inside.iter().copied().fold(f64::NAN, f64::max),
                std,
                overall_std,
                spread_ratio: if inside.len() >= 2 && overall_std > stats::MIN_SPREAD {
                    std / overall_std
                } else {
                    f64::NAN
                },
            }
        })
        .collect();
    Ok(Saturation {
        ceiling,
        ceiling_from,
        rows_with_fr,
        saturated_rows: saturated.len(),
        share: if rows_with_fr == 0 {
            f64::NAN
        } else {
            saturated.len() as f64 / rows_with_fr as f64
        },
        spreads,
    })
}

fn scatter_plots(
    data: &TableData,
    fr_column: &str,
    evidence: &[(EvidenceColumn, Vec<f64>)],
    target: Option<&[f64]>,
    keys: Option<&[Option<String>]>,
    flagged: &[usize],
) -> Vec<Scatter> {
    let fr_values = data.numeric(fr_column).expect("numeric FR column");
    evidence
        .iter()
        .filter_map(|(column, values)| {
            let scorer = column.scorer.clone()?;
            let rows: Vec<usize> = (0..data.rows)
                .filter(|&row| fr_values[row].is_finite() && values[row].is_finite())
                .collect();
            if rows.is_empty() {
                return None;
            }
            let step = rows.len().div_ceil(MAX_PLOT_POINTS).max(1);
            let points = rows
                .iter()
                .enumerate()
                .filter(|(i, row)| i % step == 0 || flagged.binary_search(row).is_ok())
                .map(|(_, &row)| {
                    (
                        fr_values[row],
                        values[row],
                        target.map_or(f64::NAN, |t| t[row]),
                        flagged.binary_search(&row).is_ok(),
                        keys.and_then(|k| k[row].clone()),
                    )
                })
                .collect();
            Some(Scatter {
                scorer,
                column: column.column.clone(),
                points,
                rows: rows.len(),
            })
        })
        .collect()
}
