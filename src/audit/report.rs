//! The audit's JSON and Markdown reports.
//!
//! JSON keeps every key of the reference's report per table (`label`,
//! `path`, `rows`, `columns`, `target`, `numeric_columns`,
//! `signal_columns`, `family_columns`, `family_health`, `column_stats`,
//! `target_correlations`, `redundant_pairs`, `intersections`,
//! `missing_families`, `weak_families`) and adds the rest; it is strict
//! (non-finite numbers are `null`) with sorted keys. Markdown has the
//! reference's sections in its order, then this project's.

use serde_json::{json, Map, Value};

use super::impact::{MetricSummary, ModelScores};
use super::second_opinion::SecondOpinionAudit;
use super::{AuditReport, TableAudit};

/// The report schema name.
pub const SCHEMA: &str = "second-opinion-audit-v1";

/// The whole JSON report. `provenance` is the `run_provenance` object.
pub fn to_json(report: &AuditReport, provenance: Value) -> Value {
    json!({
        "schema": SCHEMA,
        "tool_version": crate::TOOL_VERSION,
        "options": report.options_json(),
        "families": report.families,
        "skipped_families": report.skipped_families.iter().map(|f| &f.key).collect::<Vec<_>>(),
        "tables": report.tables.iter().map(|t| table_json(report, t)).collect::<Vec<_>>(),
        "run_provenance": provenance,
    })
}

fn stats_json(stats: &super::stats::FiniteStats) -> Value {
    json!({
        "finite_ratio": stats.finite_ratio,
        "mean": stats.mean,
        "std": stats.std,
        "min": stats.min,
        "max": stats.max,
    })
}

fn pair_json(pair: &super::signals::Pair) -> Map<String, Value> {
    let value = json!({
        "left": pair.left,
        "right": pair.right,
        "left_family": pair.left_family,
        "right_family": pair.right_family,
        "pearson": pair.pearson,
        "abs_pearson": pair.abs_pearson,
    });
    value.as_object().cloned().expect("object")
}

fn table_json(report: &AuditReport, table: &TableAudit) -> Value {
    let signals = &table.signals;
    let family_columns: Map<String, Value> = signals
        .family_health
        .iter()
        .map(|h| (h.key.clone(), json!(h.matched_columns)))
        .collect();
    let family_health: Map<String, Value> = signals
        .family_health
        .iter()
        .map(|h| {
            let family = report.family(&h.key).expect("known family");
            (
                h.key.clone(),
                json!({
                    "status": h.status.name(),
                    "label": family.label,
                    "question": family.question,
                    "matched_columns": h.matched_columns,
                    "numeric_columns": h.numeric_columns,
                    "healthy_columns": h.healthy_columns,
                    "candidate_metrics": family.candidate_metrics,
                    "recommendation": family.recommendation,
                }),
            )
        })
        .collect();
    let column_stats: Map<String, Value> = signals
        .column_stats
        .iter()
        .map(|(column, stats)| (column.clone(), stats_json(stats)))
        .collect();
    let correlations: Vec<Value> = signals
        .target_correlations
        .iter()
        .map(|c| {
            json!({
                "column": c.column,
                "family": c.family,
                "pearson": c.pearson,
                "spearman": c.spearman,
                "abs_pearson": c.abs_pearson,
            })
        })
        .collect();
    let redundant: Vec<Value> = signals
        .redundant_pairs
        .iter()
        .map(|p| Value::Object(pair_json(p)))
        .collect();
    let intersections: Vec<Value> = signals
        .intersections
        .iter()
        .map(|i| {
            let mut object = pair_json(&i.pair);
            object.insert(
                "left_target_abs_pearson".into(),
                json!(i.left_target_abs_pearson),
            );
            object.insert(
                "right_target_abs_pearson".into(),
                json!(i.right_target_abs_pearson),
            );
            Value::Object(object)
        })
        .collect();
    let mut object = json!({
        "label": table.label,
        "path": table.path,
        "absolute_path": table.absolute_path,
        "sha256": table.sha256,
        "size_bytes": table.size_bytes,
        "format": table.format.name(),
        "rows": table.rows,
        "columns": table.columns,
        "key_column": table.key_column,
        "target": signals.target,
        "target_reason": signals.target_reason,
        "target_hint": signals.target_hint,
        "numeric_columns": signals.numeric_columns,
        "signal_columns": signals.signal_columns,
        "family_columns": family_columns,
        "family_health": family_health,
        "column_stats": column_stats,
        "column_families": signals.column_families,
        "target_correlations": correlations,
        "redundant_pairs": redundant,
        "intersections": intersections,
        "missing_families": signals.missing_families,
        "weak_families": signals.weak_families,
        "second_opinion": second_opinion_json(&table.second_opinion),
        "retrain_impact": impact_json(table),
    });
    if let Some(changes) = &table.changes {
        object["changes_since_last"] = changes.clone();
    }
    object
}

fn second_opinion_json(audit: &SecondOpinionAudit) -> Value {
    let scorers: Vec<Value> = audit
        .scorers
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "slug": s.slug,
                "evidence": s.evidence.name(),
                "in_registry": s.in_registry,
                "score_column": s.score_column,
                "status_column": s.status_column,
                "rows": s.rows,
                "ok": s.ok,
                "bad": s.bad,
                "missing": s.missing,
                "other": s.other,
                "ok_share": s.share(s.ok),
                "bad_share": s.share(s.bad),
                "missing_share": s.share(s.missing),
                "other_share": s.share(s.other),
            })
        })
        .collect();
    let disagreement = match &audit.disagreement {
        Ok(d) => json!({
            "computed": true,
            "threshold": d.threshold,
            "evidence": d.evidence.iter().map(|e| json!({
                "column": e.column,
                "scorer": e.scorer,
                "higher_is_better": e.higher_is_better,
            })).collect::<Vec<_>>(),
            "rows_compared": d.rows_compared,
            "rows_over_threshold": d.rows_over_threshold,
            "share": d.rows_over_threshold as f64 / d.rows_compared.max(1) as f64,
            "rank_agreement": d.rank_agreement,
            "top_rows": d.top_rows.iter().map(|r| json!({
                "row": r.row,
                "key": r.key,
                "fr_value": r.fr_value,
                "fr_percentile": r.fr_percentile,
                "nr_percentile": r.nr_percentile,
                "gap": r.gap,
                "direction": if r.gap > 0.0 { "fr_higher" } else { "nr_higher" },
                "target": r.target,
                "evidence_values": d.evidence.iter().zip(&r.values)
                    .map(|(e, v)| (e.column.clone(), json!(v)))
                    .collect::<Map<String, Value>>(),
            })).collect::<Vec<_>>(),
        }),
        Err(reason) => json!({"computed": false, "reason": reason}),
    };
    let saturation = match &audit.saturation {
        Ok(s) => json!({
            "computed": true,
            "ceiling": s.ceiling,
            "ceiling_from": s.ceiling_from,
            "rows_with_fr": s.rows_with_fr,
            "saturated_rows": s.saturated_rows,
            "share": s.share,
            "second_opinion_spread": s.spreads.iter().map(|x| json!({
                "column": x.column,
                "rows": x.finite,
                "min": x.min,
                "max": x.max,
                "std": x.std,
                "overall_std": x.overall_std,
                "spread_ratio": x.spread_ratio,
            })).collect::<Vec<_>>(),
        }),
        Err(reason) => json!({"computed": false, "reason": reason}),
    };
    json!({
        "scorers": scorers,
        "fr_column": audit.fr_column,
        "disagreement": disagreement,
        "saturation": saturation,
        "plots": audit.plots.iter().map(|p| json!({
            "scorer": p.scorer, "column": p.column, "rows": p.rows, "points": p.points.len(),
        })).collect::<Vec<_>>(),
    })
}

fn summary_json(summary: &MetricSummary) -> Value {
    json!({
        "mean": summary.mean,
        "std": summary.std,
        "min": summary.min,
        "max": summary.max,
        "folds": summary.folds,
    })
}

fn model_json(model: &ModelScores) -> Value {
    json!({
        "columns": model.columns,
        "plcc": summary_json(&model.plcc),
        "srocc": summary_json(&model.srocc),
        "rmse": summary_json(&model.rmse),
        "per_fold": model.folds.iter().map(|f| json!({
            "train_rows": f.train_rows,
            "test_rows": f.test_rows,
            "plcc": f.plcc,
            "srocc": f.srocc,
            "rmse": f.rmse,
        })).collect::<Vec<_>>(),
    })
}

fn impact_json(table: &TableAudit) -> Value {
    match &table.impact {
        Ok(i) => json!({
            "computed": true,
            "target": i.target,
            "rows": i.rows,
            "folds": i.folds,
            "seed": i.seed,
            "ridge_alpha": i.alpha,
            "fold_method": "splitmix64-fisher-yates",
            "fr_only": model_json(&i.baseline),
            "fr_plus_second_opinion": model_json(&i.with_second_opinions),
            "difference": {
                "plcc": summary_json(&i.plcc_gain),
                "srocc": summary_json(&i.srocc_gain),
                "rmse": summary_json(&i.rmse_gain),
            },
            "reliable": i.reliable,
            "note": i.note,
        }),
        Err(no) => json!({
            "computed": false,
            "reason": no.reason,
            "rows": no.rows,
            "fr_columns": no.baseline_columns,
            "second_opinion_columns": no.second_opinion_columns,
        }),
    }
}

/// A number as the reference's Markdown writes it.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "n/a".to_string()
    } else {
        format!("{value:.3}")
    }
}

/// A share as a percentage.
pub fn format_share(value: f64) -> String {
    if value.is_nan() {
        "n/a".to_string()
    } else {
        format!("{:.1}%", value * 100.0)
    }
}

fn format_signed(value: f64) -> String {
    if value.is_nan() {
        "n/a".to_string()
    } else {
        format!("{value:+.3}")
    }
}

fn mean_spread(summary: &MetricSummary) -> String {
    if summary.mean.is_nan() {
        "n/a".to_string()
    } else {
        format!("{:.3} ± {:.3}", summary.mean, summary.std)
    }
}

/// Markdown table cells: no pipes or line breaks.
/// `text` from the data or the user (a scorer or family name) as Markdown
/// prose in a table cell: the characters that would start markup, a link,
/// an HTML tag or an entity, or end the cell are backslash-escaped, and
/// line breaks become spaces, so it reads as written and runs nothing.
fn cell(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\n' | '\r' => escaped.push(' '),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// `text` (a column, table or scorer name: anything from the data) as an
/// inline code span that no character of it can leave: the span is fenced
/// by more backticks than `text` holds in a row, line breaks become spaces
/// and `|` is escaped for tables. Inside the span HTML is shown, not run.
pub(crate) fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    if longest_run == 0 {
        return format!("{fence}{text}{fence}");
    }
    // A span that starts or ends with a backtick needs a space inside.
    format!("{fence} {text} {fence}")
}

/// The Markdown report: the reference's sections, then this project's.
pub fn to_markdown(report: &AuditReport) -> String {
    let top_k = report.options.top_k;
    let mut lines: Vec<String> = vec![
        "# Signal-mix audit".into(),
        "".into(),
        "This report audits extracted VQA tables for signal-family coverage,".into(),
        "target correlation, redundancy, complementary intersections, and blind spots.".into(),
        "It is advisory: use it to choose the next metrics/models to wire or retrain.".into(),
        "".into(),
        "## Inputs".into(),
        "".into(),
        "| Table | Rows | Columns | Target | Signal columns |".into(),
        "|---|---:|---:|---|---:|".into(),
    ];
    for table in &report.tables {
        lines.push(format!(
            "| {} | {} | {} | {} | {} |",
            code(&table.label),
            table.rows,
            table.columns.len(),
            code(table.signals.target.as_deref().unwrap_or("none")),
            table.signals.signal_columns.len()
        ));
    }
    lines.push(String::new());
    for table in &report.tables {
        lines.push(format!(
            "Target of {}: {}.",
            code(&table.label),
            cell(&table.signals.target_reason)
        ));
        if let Some(hint) = &table.signals.target_hint {
            lines.push(format!("Hint: {}.", cell(hint)));
        }
    }

    lines.extend([
        "".into(),
        "## Coverage Matrix".into(),
        "".into(),
        "Counts: healthy signal columns / signal columns the family matches (the target and \
         scorers' bookkeeping columns are not signals)."
            .into(),
        "".into(),
    ]);
    if !report.skipped_families.is_empty() {
        let labels: Vec<String> = report
            .skipped_families
            .iter()
            .map(|f| cell(&f.label))
            .collect();
        lines.extend([
            format!(
                "Left out of this audit (`--families`, `--skip-family`): {}.",
                labels.join(", ")
            ),
            "".into(),
        ]);
    }
    lines.extend([
        "| Signal family | Question | Status by table | Candidate metrics not yet guaranteed |"
            .into(),
        "|---|---|---|---|".into(),
    ]);
    for (index, family) in report.families.iter().enumerate() {
        let statuses: Vec<String> = report
            .tables
            .iter()
            .map(|table| {
                let health = &table.signals.family_health[index];
                format!(
                    "{}: {} ({}/{})",
                    code(&table.label),
                    health.status.name(),
                    health.healthy_columns.len(),
                    health.numeric_columns.len()
                )
            })
            .collect();
        lines.push(format!(
            "| {} | {} | {} | {} |",
            cell(&family.label),
            cell(&family.question),
            statuses.join("<br>"),
            cell(&family.candidate_metrics.join(", "))
        ));
    }

    lines.extend(["".into(), "## Strongest Target Signals".into(), "".into()]);
    for table in &report.tables {
        lines.extend([format!("### {}", code(&table.label)), "".into()]);
        if table.signals.target.is_none() {
            lines.extend([
                "No target column found; pass `--target` if this table uses a custom name.".into(),
                "".into(),
            ]);
            continue;
        }
        if table.signals.target_correlations.is_empty() {
            lines.extend([
                "No usable numeric signal columns correlate with the target.".into(),
                "".into(),
            ]);
            continue;
        }
        lines.extend([
            "| Column | Family | Pearson | Spearman |".into(),
            "|---|---|---:|---:|".into(),
        ]);
        for row in table.signals.target_correlations.iter().take(super::listed(
            table.signals.target_correlations.len(),
            top_k,
        )) {
            lines.push(format!(
                "| {} | {} | {} | {} |",
                code(&row.column),
                cell(report.family_label(&row.family)),
                format_float(row.pearson),
                format_float(row.spearman)
            ));
        }
        lines.push("".into());
    }

    lines.extend(["## Complementary Intersections".into(), "".into()]);
    let mut any_intersection = false;
    for table in &report.tables {
        if table.signals.intersections.is_empty() {
            continue;
        }
        any_intersection = true;
        lines.extend([
            format!("### {}", code(&table.label)),
            "".into(),
            "| Pair | Families | Pair r | Target r values |".into(),
            "|---|---|---:|---|".into(),
        ]);
        for row in table
            .signals
            .intersections
            .iter()
            .take(super::listed(table.signals.intersections.len(), top_k))
        {
            lines.push(format!(
                "| {} × {} | {} × {} | {} | {} / {} |",
                code(&row.pair.left),
                code(&row.pair.right),
                cell(report.family_label(&row.pair.left_family)),
                cell(report.family_label(&row.pair.right_family)),
                format_float(row.pair.pearson),
                format_float(row.left_target_abs_pearson),
                format_float(row.right_target_abs_pearson)
            ));
        }
        lines.push("".into());
    }
    if !any_intersection {
        lines.extend([
            "No cross-family low-correlation/high-target pairs met the current thresholds.".into(),
            "That usually means the table is too narrow, the target is missing, or the".into(),
            "current columns are mostly redundant.".into(),
            "".into(),
        ]);
    }

    lines.extend(["## Redundant Pairs".into(), "".into()]);
    let mut any_redundant = false;
    for table in &report.tables {
        if table.signals.redundant_pairs.is_empty() {
            continue;
        }
        any_redundant = true;
        lines.extend([
            format!("### {}", code(&table.label)),
            "".into(),
            "| Pair | Families | Pearson |".into(),
            "|---|---|---:|".into(),
        ]);
        for row in table
            .signals
            .redundant_pairs
            .iter()
            .take(super::listed(table.signals.redundant_pairs.len(), top_k))
        {
            lines.push(format!(
                "| {} × {} | {} × {} | {} |",
                code(&row.left),
                code(&row.right),
                cell(report.family_label(&row.left_family)),
                cell(report.family_label(&row.right_family)),
                format_float(row.pearson)
            ));
        }
        lines.push("".into());
    }
    if !any_redundant {
        lines.extend([
            "No redundant pairs crossed the configured threshold.".into(),
            "".into(),
        ]);
    }

    lines.extend(["## Blind Spots".into(), "".into()]);
    for table in &report.tables {
        let labels = |keys: &[String]| -> Vec<String> {
            keys.iter()
                .map(|k| report.family_label(k).to_string())
                .collect()
        };
        let missing = labels(&table.signals.missing_families);
        let weak = labels(&table.signals.weak_families);
        lines.push(format!("### {}", code(&table.label)));
        lines.push(if missing.is_empty() {
            "- Missing signal families: none.".into()
        } else {
            format!("- Missing signal families: {}.", missing.join(", "))
        });
        lines.push(if weak.is_empty() {
            "- Weak signal families: none.".into()
        } else {
            format!("- Weak signal families: {}.", weak.join(", "))
        });
        lines.push("".into());
    }

    lines.extend(["## Recommended Next Actions".into(), "".into()]);
    let actions = recommended_actions(report);
    if !actions.iter().any(|a| matches!(a, Action::Family { .. })) {
        lines.push(
            "- No missing or weak signal families detected at the configured thresholds.".into(),
        );
    }
    lines.extend(actions.iter().map(Action::to_markdown));
    lines.push("".into());

    second_opinion_sections(report, &mut lines);
    lines.push(String::new());
    lines.join("\n")
}

/// One recommended next action: a family's recommendation (the
/// reference's), or one the beyond-reference sections suggest.
pub(crate) enum Action<'a> {
    Family {
        label: &'a str,
        recommendation: &'a str,
    },
    LowCoverage {
        scorer: &'a str,
        table: &'a str,
        ok: f64,
        bad: f64,
        missing: f64,
    },
    Disagreement {
        table: &'a str,
        rows: u64,
        threshold: f64,
    },
}

impl Action<'_> {
    /// The Markdown list item (the reference's wording for families).
    fn to_markdown(&self) -> String {
        match *self {
            Action::Family {
                label,
                recommendation,
            } => format!("- **{label}**: {recommendation}"),
            Action::LowCoverage {
                scorer,
                table,
                ok,
                bad,
                missing,
            } => format!(
                "- **Second opinion {}** in {}: only {} of rows have an ok score \
                 ({} bad, {} missing): ingest its remaining outputs and export again.",
                code(scorer),
                code(table),
                format_share(ok),
                format_share(bad),
                format_share(missing)
            ),
            Action::Disagreement {
                table,
                rows,
                threshold,
            } => format!(
                "- **Disagreement** in {}: {} rows where full-reference and no-reference/MOS \
                 evidence rank the clip more than {:.2} apart: look at them before the retrain \
                 (listed under Disagreement and Saturation).",
                code(table),
                rows,
                threshold
            ),
        }
    }

    /// The same item as HTML, every user string escaped.
    pub(crate) fn to_html(&self, escape: impl Fn(&str) -> String) -> String {
        match *self {
            Action::Family {
                label,
                recommendation,
            } => format!(
                "<li><strong>{}</strong>: {}</li>",
                escape(label),
                escape(recommendation)
            ),
            Action::LowCoverage {
                scorer,
                table,
                ok,
                bad,
                missing,
            } => format!(
                "<li><strong>Second opinion <code>{}</code></strong> in <code>{}</code>: only {} of \
                 rows have an ok score ({} bad, {} missing): ingest its remaining outputs and export \
                 again.</li>",
                escape(scorer),
                escape(table),
                format_share(ok),
                format_share(bad),
                format_share(missing)
            ),
            Action::Disagreement {
                table,
                rows,
                threshold,
            } => format!(
                "<li><strong>Disagreement</strong> in <code>{}</code>: {} rows where full-reference \
                 and no-reference/MOS evidence rank the clip more than {:.2} apart: look at them \
                 before the retrain (listed under Disagreement and saturation).</li>",
                escape(table),
                rows,
                threshold
            ),
        }
    }
}

/// The recommended next actions: each missing or weak family's
/// recommendation once (in table order), then what the beyond-reference
/// sections suggest.
pub(crate) fn recommended_actions(report: &AuditReport) -> Vec<Action<'_>> {
    let mut actions = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for table in &report.tables {
        let signals = &table.signals;
        for key in signals
            .missing_families
            .iter()
            .chain(&signals.weak_families)
        {
            if seen.contains(&key.as_str()) {
                continue;
            }
            seen.push(key);
            if let Some(family) = report.family(key) {
                actions.push(Action::Family {
                    label: &family.label,
                    recommendation: &family.recommendation,
                });
            }
        }
    }
    let floor = report.options.min_finite_ratio;
    for table in &report.tables {
        for scorer in &table.second_opinion.scorers {
            let ok = scorer.share(scorer.ok);
            if ok < floor {
                actions.push(Action::LowCoverage {
                    scorer: &scorer.name,
                    table: &table.label,
                    ok,
                    bad: scorer.share(scorer.bad),
                    missing: scorer.share(scorer.missing),
                });
            }
        }
        if let Ok(d) = &table.second_opinion.disagreement {
            if d.rows_over_threshold > 0 {
                actions.push(Action::Disagreement {
                    table: &table.label,
                    rows: d.rows_over_threshold as u64,
                    threshold: d.threshold,
                });
            }
        }
    }
    actions
}

fn second_opinion_sections(report: &AuditReport, lines: &mut Vec<String>) {
    let prefix_code = code(&format!("{}_<scorer>_*", report.options.prefix));
    lines.extend(["## Second-Opinion Coverage".into(), "".into()]);
    for table in &report.tables {
        lines.extend([format!("### {}", code(&table.label)), "".into()]);
        let scorers = &table.second_opinion.scorers;
        if scorers.is_empty() {
            lines.extend([
                format!(
                    "No second-opinion columns ({prefix_code}) in this table: \
                     `second-opinion export` adds them."
                ),
                "".into(),
            ]);
            continue;
        }
        lines.extend([
            "| Scorer | Evidence | Score column | ok | bad | missing | other |".into(),
            "|---|---|---|---:|---:|---:|---:|".into(),
        ]);
        for s in scorers {
            lines.push(format!(
                "| {}{} | {} | {} | {} | {} | {} | {} |",
                cell(&s.name),
                if s.in_registry {
                    ""
                } else {
                    " (not in registry)"
                },
                s.evidence.name().replace('_', "-"),
                s.score_column.as_deref().map_or("none".to_string(), code),
                format_share(s.share(s.ok)),
                format_share(s.share(s.bad)),
                format_share(s.share(s.missing)),
                format_share(s.share(s.other)),
            ));
        }
        lines.push("".into());
    }

    lines.extend(["## Disagreement and Saturation".into(), "".into()]);
    for table in &report.tables {
        lines.extend([format!("### {}", code(&table.label)), "".into()]);
        let audit = &table.second_opinion;
        let Some(fr) = &audit.fr_column else {
            lines.extend([
                format!(
                    "Not computed: {}.",
                    audit
                        .fr_note
                        .as_deref()
                        .unwrap_or("no full-reference column")
                ),
                "".into(),
            ]);
            continue;
        };
        let fr_code = code(fr);
        lines.push(format!("- Full-reference column: {}.", code(fr)));
        match &audit.disagreement {
            Err(reason) => lines.push(format!("- Disagreement not computed: {reason}.")),
            Ok(d) => {
                let evidence: Vec<String> = d
                    .evidence
                    .iter()
                    .map(|e| {
                        format!(
                            "{} ({}{})",
                            code(&e.column),
                            cell(e.scorer.as_deref().unwrap_or("subjective")),
                            if e.higher_is_better {
                                ""
                            } else {
                                ", lower is better"
                            }
                        )
                    })
                    .collect();
                lines.push(format!(
                    "- No-reference / MOS evidence: {}.",
                    evidence.join(", ")
                ));
                lines.push(format!(
                    "- Rank agreement (Spearman of {fr_code} and the mean evidence percentile): {} over {} rows.",
                    format_float(d.rank_agreement),
                    d.rows_compared
                ));
                lines.push(format!(
                    "- Rows whose rank gap exceeds {:.2}: {} of {} ({}).",
                    d.threshold,
                    d.rows_over_threshold,
                    d.rows_compared,
                    format_share(d.rows_over_threshold as f64 / d.rows_compared.max(1) as f64)
                ));
                if !d.top_rows.is_empty() {
                    let mut header = format!(
                        "| Row | Key | {fr_code} | FR percentile | NR/MOS percentile | Gap | Target |"
                    );
                    let mut rule = "|---:|---|---:|---:|---:|---:|---:|".to_string();
                    for e in &d.evidence {
                        header.push_str(&format!(" {} |", code(&e.column)));
                        rule.push_str("---:|");
                    }
                    lines.extend(["".into(), header, rule]);
                    for r in &d.top_rows {
                        let mut line = format!(
                            "| {} | {} | {} | {} | {} | {} | {} |",
                            r.row,
                            r.key.as_deref().map_or("n/a".to_string(), code),
                            format_float(r.fr_value),
                            format_float(r.fr_percentile),
                            format_float(r.nr_percentile),
                            format_signed(r.gap),
                            format_float(r.target)
                        );
                        for v in &r.values {
                            line.push_str(&format!(" {} |", format_float(*v)));
                        }
                        lines.push(line);
                    }
                    lines.push("".into());
                }
            }
        }
        match &audit.saturation {
            Err(reason) => lines.push(format!("- Saturation not computed: {reason}.")),
            Ok(s) => {
                lines.push(format!(
                    "- Saturation: {fr_code} ≥ {} ({}) on {} of {} rows ({}).",
                    format_float(s.ceiling),
                    s.ceiling_from,
                    s.saturated_rows,
                    s.rows_with_fr,
                    format_share(s.share)
                ));
                if s.saturated_rows > 0 && !s.spreads.is_empty() {
                    lines.extend([
                        "".into(),
                        "| Second opinion at the ceiling | Rows | Min | Max | Std | Spread kept |"
                            .into(),
                        "|---|---:|---:|---:|---:|---:|".into(),
                    ]);
                    for x in &s.spreads {
                        lines.push(format!(
                            "| {} | {} | {} | {} | {} | {} |",
                            code(&x.column),
                            x.finite,
                            format_float(x.min),
                            format_float(x.max),
                            format_float(x.std),
                            format_share(x.spread_ratio)
                        ));
                    }
                }
            }
        }
        lines.push("".into());
    }

    lines.extend(["## Retrain Impact Estimate".into(), "".into()]);
    for table in &report.tables {
        lines.extend([format!("### {}", code(&table.label)), "".into()]);
        match &table.impact {
            Err(no) => {
                lines.push(format!("Not estimated: {}.", no.reason));
                lines.push("".into());
            }
            Ok(i) => {
                lines.push(format!(
                    "Ridge regression of {} (alpha {}), {}-fold cross-validation (seed {}) on {} rows \
                     with every column present. {}.",
                    code(&i.target), i.alpha, i.folds, i.seed, i.rows, i.note
                ));
                lines.extend([
                    "".into(),
                    "| Model | Columns | PLCC | SROCC | RMSE |".into(),
                    "|---|---:|---:|---:|---:|".into(),
                ]);
                for (name, model) in [
                    ("FR only", &i.baseline),
                    ("FR + second opinions", &i.with_second_opinions),
                ] {
                    lines.push(format!(
                        "| {name} | {} | {} | {} | {} |",
                        model.columns.len(),
                        mean_spread(&model.plcc),
                        mean_spread(&model.srocc),
                        mean_spread(&model.rmse)
                    ));
                }
                lines.push(format!(
                    "| Difference | {:+} | {} | {} | {} |",
                    i.with_second_opinions.columns.len() as i64 - i.baseline.columns.len() as i64,
                    signed_spread(&i.plcc_gain),
                    signed_spread(&i.srocc_gain),
                    signed_spread(&i.rmse_gain)
                ));
                lines.push("".into());
                lines.push(impact_verdict(i));
                lines.push("".into());
            }
        }
    }

    if report.tables.iter().any(|t| t.changes.is_some()) {
        lines.extend(["## Changes Since Last Audit".into(), "".into()]);
        for table in &report.tables {
            if let Some(changes) = &table.changes {
                lines.extend([format!("### {}", code(&table.label)), "".into()]);
                lines.extend(changes_lines(changes));
                lines.push("".into());
            }
        }
    }
}

fn signed_spread(summary: &MetricSummary) -> String {
    if summary.mean.is_nan() {
        "n/a".to_string()
    } else {
        format!("{:+.3} ± {:.3}", summary.mean, summary.std)
    }
}

/// One sentence on what the estimate says.
pub fn impact_verdict(impact: &super::impact::Impact) -> String {
    let gain = &impact.plcc_gain;
    if !impact.reliable {
        return format!(
            "Too few rows to tell: {} rows cannot show whether the second opinions help.",
            impact.rows
        );
    }
    if gain.mean.is_nan() {
        "PLCC is undefined on some folds (constant predictions); no verdict.".to_string()
    } else if gain.mean > gain.std {
        format!(
            "Adding the second-opinion columns raises PLCC by {:.3}, more than its fold-to-fold spread ({:.3}).",
            gain.mean, gain.std
        )
    } else if gain.mean < -gain.std {
        format!(
            "Adding the second-opinion columns lowers PLCC by {:.3}, more than its fold-to-fold spread ({:.3}).",
            -gain.mean, gain.std
        )
    } else {
        format!(
            "No PLCC change beyond the fold-to-fold spread ({:+.3} ± {:.3}).",
            gain.mean, gain.std
        )
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "none".to_string(),
        Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.0}")
            } else {
                format_float(f)
            }
        }),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `--compare-last` as Markdown bullets.
pub fn changes_lines(changes: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let previous = &changes["previous"];
    if previous.is_null() {
        lines.push(format!(
            "- {}.",
            changes["note"].as_str().unwrap_or("no earlier audit")
        ));
        return lines;
    }
    lines.push(format!(
        "- Previous audit: run {} at {} of {} ({}).",
        show(&previous["run"]),
        show(&previous["created_at"]),
        code(&show(&previous["path"])),
        if changes["same_table_bytes"] == Value::Bool(true) {
            "same bytes"
        } else {
            "the table changed"
        }
    ));
    let pair = |key: &str| (show(&changes[key]["before"]), show(&changes[key]["after"]));
    let (before, after) = pair("rows");
    lines.push(format!("- Rows: {before} → {after}."));
    let (before, after) = pair("target");
    if before != after {
        lines.push(format!("- Target: {} → {}.", code(&before), code(&after)));
    }
    let families = changes["families"].as_array().cloned().unwrap_or_default();
    if families.is_empty() {
        lines.push("- Family status: no family changed.".into());
    } else {
        let moved: Vec<String> = families
            .iter()
            .map(|f| {
                format!(
                    "{} {} → {}",
                    show(&f["family"]),
                    show(&f["before"]),
                    show(&f["after"])
                )
            })
            .collect();
        lines.push(format!("- Family status: {}.", moved.join("; ")));
    }
    for (key, what) in [
        ("signal_columns_added", "Signal columns added"),
        ("signal_columns_removed", "Signal columns removed"),
    ] {
        let list: Vec<String> = changes[key]
            .as_array()
            .map(|l| l.iter().map(|c| code(&show(c)).to_string()).collect())
            .unwrap_or_default();
        if !list.is_empty() {
            lines.push(format!("- {what}: {}.", list.join(", ")));
        }
    }
    let correlations = changes["correlations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !correlations.is_empty() {
        let moved: Vec<String> = correlations
            .iter()
            .take(12)
            .map(|c| {
                format!(
                    "{} {} → {}",
                    code(&show(&c["column"])),
                    show(&c["pearson_before"]),
                    show(&c["pearson_after"])
                )
            })
            .collect();
        lines.push(format!(
            "- Target correlations that moved by 0.01 or more: {}.",
            moved.join("; ")
        ));
    }
    let coverage = changes["coverage"].as_array().cloned().unwrap_or_default();
    if !coverage.is_empty() {
        let moved: Vec<String> = coverage
            .iter()
            .map(|c| {
                let share = |v: &Value| v.as_f64().map_or("none".to_string(), format_share);
                format!(
                    "{} ok {} → {}",
                    show(&c["scorer"]),
                    share(&c["ok_share_before"]),
                    share(&c["ok_share_after"])
                )
            })
            .collect();
        lines.push(format!("- Second-opinion coverage: {}.", moved.join("; ")));
    }
    for (key, what) in [
        ("disagreement_share", "Disagreement share"),
        ("saturation_share", "Saturation share"),
        ("impact_plcc_gain", "Retrain PLCC gain"),
    ] {
        let share = |v: &Value| v.as_f64().map_or("none".to_string(), format_float);
        let (before, after) = (
            share(&changes[key]["before"]),
            share(&changes[key]["after"]),
        );
        if before != after {
            lines.push(format!("- {what}: {before} → {after}."));
        }
    }
    lines
}
