//! Every audit run is recorded in the registry (`audit_runs`,
//! `audit_inputs`): the options, and per table its label, path, sha256,
//! rows and a summary. `audit --compare-last` compares each table with the
//! previous audit of the same label.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use super::{sql, AuditError, AuditReport, TableAudit};
use crate::registry::{now_rfc3339, Registry};

/// A correlation with the target that moved at least this much is listed.
pub const CORRELATION_CHANGE: f64 = 0.01;

/// A share (coverage, disagreement, saturation) that moved at least this
/// much is listed.
pub const SHARE_CHANGE: f64 = 1e-9;

/// What `--compare-last` compares: a table's audit in a few numbers.
pub fn summary(table: &TableAudit) -> Value {
    let signals = &table.signals;
    let families: Map<String, Value> = signals
        .family_health
        .iter()
        .map(|health| (health.key.clone(), json!(health.status.name())))
        .collect();
    let correlations: Map<String, Value> = signals
        .target_correlations
        .iter()
        .map(|c| {
            (
                c.column.clone(),
                json!({"pearson": c.pearson, "spearman": c.spearman}),
            )
        })
        .collect();
    let coverage: Map<String, Value> = table
        .second_opinion
        .scorers
        .iter()
        .map(|s| {
            (
                s.slug.clone(),
                json!({
                    "ok": s.share(s.ok),
                    "bad": s.share(s.bad),
                    "missing": s.share(s.missing),
                }),
            )
        })
        .collect();
    let disagreement = table.second_opinion.disagreement.as_ref().ok().map(|d| {
        json!({
            "rows_compared": d.rows_compared,
            "rows_over_threshold": d.rows_over_threshold,
            "share": d.rows_over_threshold as f64 / d.rows_compared.max(1) as f64,
            "threshold": d.threshold,
        })
    });
    let saturation = table.second_opinion.saturation.as_ref().ok().map(
        |s| json!({"share": s.share, "ceiling": s.ceiling, "saturated_rows": s.saturated_rows}),
    );
    let impact = table.impact.as_ref().ok().map(|i| {
        json!({
            "rows": i.rows,
            "plcc_gain": i.plcc_gain.mean,
            "srocc_gain": i.srocc_gain.mean,
            "rmse_gain": i.rmse_gain.mean,
        })
    });
    json!({
        "target": signals.target,
        "rows": table.rows,
        "sha256": table.sha256,
        "signal_columns": signals.signal_columns,
        "families": families,
        "correlations": correlations,
        "coverage": coverage,
        "disagreement": disagreement,
        "saturation": saturation,
        "impact": impact,
    })
}

/// The previous audit of a label.
#[derive(Clone, Debug)]
pub struct PreviousAudit {
    pub run: i64,
    pub created_at: String,
    pub path: String,
    pub sha256: String,
    pub rows: i64,
    pub summary: Value,
}

/// The most recent recorded audit of `label`.
pub fn previous(registry: &Registry, label: &str) -> Result<Option<PreviousAudit>, AuditError> {
    if let Some(mut pg) = registry.pg() {
        let found = pg.last_audit_of(label)?;
        return Ok(found.map(
            |(run, created_at, path, sha256, rows, summary)| PreviousAudit {
                run,
                created_at,
                path,
                sha256,
                rows,
                summary: serde_json::from_str(&summary).unwrap_or(Value::Null),
            },
        ));
    }
    let found = registry
        .connection()
        .query_row(sql::LAST_AUDIT_OF_LABEL, [label], |row| {
            Ok(PreviousAudit {
                run: row.get(0)?,
                created_at: row.get(1)?,
                path: row.get(2)?,
                sha256: row.get(3)?,
                rows: row.get(4)?,
                summary: serde_json::from_str(&row.get::<_, String>(5)?).unwrap_or(Value::Null),
            })
        })
        .optional()
        .map_err(|e| registry.sqlite_error(e))?;
    Ok(found)
}

/// Record a finished run; returns its id.
pub fn record(
    registry: &Registry,
    report: &AuditReport,
    outputs: &Value,
) -> Result<i64, AuditError> {
    if let Some(mut pg) = registry.pg() {
        let inputs: Vec<_> = report
            .tables
            .iter()
            .map(|table| {
                (
                    table.label.as_str(),
                    table.path.as_str(),
                    table.absolute_path.as_str(),
                    table.sha256.as_str(),
                    table.size_bytes as i64,
                    table.rows as i64,
                    summary(table).to_string(),
                )
            })
            .collect();
        let options = report.options_json().to_string();
        return Ok(pg.record_audit(&options, &outputs.to_string(), &inputs)?);
    }
    let sqlite = |e| registry.sqlite_error(e);
    let tx = registry
        .connection()
        .unchecked_transaction()
        .map_err(sqlite)?;
    tx.execute(
        sql::INSERT_AUDIT_RUN,
        params![
            now_rfc3339(),
            report.options_json().to_string(),
            outputs.to_string(),
            crate::TOOL_VERSION
        ],
    )
    .map_err(sqlite)?;
    let run = tx.last_insert_rowid();
    for table in &report.tables {
        tx.execute(
            sql::INSERT_AUDIT_INPUT,
            params![
                run,
                table.label,
                table.path,
                table.absolute_path,
                table.sha256,
                table.size_bytes as i64,
                table.rows as i64,
                summary(table).to_string()
            ],
        )
        .map_err(sqlite)?;
    }
    tx.commit().map_err(sqlite)?;
    Ok(run)
}

fn before_after(before: &Value, after: &Value) -> Value {
    json!({"before": before, "after": after})
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64()
}

fn moved(before: &Value, after: &Value, by: f64) -> bool {
    match (number(before), number(after)) {
        (Some(b), Some(a)) => (a - b).abs() >= by,
        (None, None) => false,
        _ => true,
    }
}

/// What changed between the previous audit of a label and this one.
pub fn compare(label: &str, previous: Option<&PreviousAudit>, current: &Value) -> Value {
    let Some(previous) = previous else {
        return json!({
            "previous": null,
            "note": format!("No earlier audit of '{label}' in the registry"),
        });
    };
    let before = &previous.summary;
    let after = current;
    let object = |value: &Value, key: &str| value[key].as_object().cloned().unwrap_or_default();

    let mut families = Vec::new();
    let (families_before, families_after) = (object(before, "families"), object(after, "families"));
    for (key, status) in &families_after {
        let old = families_before.get(key).cloned().unwrap_or(Value::Null);
        if &old != status {
            families.push(json!({"family": key, "before": old, "after": status}));
        }
    }
    for (key, status) in &families_before {
        if !families_after.contains_key(key) {
            families.push(json!({"family": key, "before": status, "after": null}));
        }
    }

    let names = |value: &Value| -> Vec<String> {
        value["signal_columns"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (signals_before, signals_after) = (names(before), names(after));
    let added: Vec<&String> = signals_after
        .iter()
        .filter(|c| !signals_before.contains(c))
        .collect();
    let removed: Vec<&String> = signals_before
        .iter()
        .filter(|c| !signals_after.contains(c))
        .collect();

    let (correlations_before, correlations_after) = (
        object(before, "correlations"),
        object(after, "correlations"),
    );
    let mut correlations: Vec<(f64, Value)> = Vec::new();
    for (column, now) in &correlations_after {
        let Some(old) = correlations_before.get(column) else {
            continue;
        };
        let (b, a) = (&old["pearson"], &now["pearson"]);
        if moved(b, a, CORRELATION_CHANGE) {
            let delta = match (number(b), number(a)) {
                (Some(b), Some(a)) => a - b,
                _ => f64::NAN,
            };
            correlations.push((
                delta,
                json!({"column": column, "pearson_before": b, "pearson_after": a, "delta": delta}),
            ));
        }
    }
    correlations.sort_by(|x, y| {
        y.0.abs()
            .total_cmp(&x.0.abs())
            .then_with(|| x.1["column"].as_str().cmp(&y.1["column"].as_str()))
    });

    let (coverage_before, coverage_after) = (object(before, "coverage"), object(after, "coverage"));
    let mut coverage = Vec::new();
    let mut scorers: Vec<&String> = coverage_after
        .keys()
        .chain(coverage_before.keys())
        .collect();
    scorers.sort();
    scorers.dedup();
    for scorer in scorers {
        let share =
            |map: &Map<String, Value>| map.get(scorer).map_or(Value::Null, |c| c["ok"].clone());
        let (b, a) = (share(&coverage_before), share(&coverage_after));
        if moved(&b, &a, SHARE_CHANGE) {
            coverage.push(json!({"scorer": scorer, "ok_share_before": b, "ok_share_after": a}));
        }
    }

    let pick = |value: &Value, section: &str, key: &str| value[section][key].clone();
    json!({
        "previous": {
            "run": previous.run,
            "created_at": previous.created_at,
            "path": previous.path,
            "sha256": previous.sha256,
            "rows": previous.rows,
        },
        "same_table_bytes": before["sha256"] == after["sha256"],
        "rows": before_after(&before["rows"], &after["rows"]),
        "target": before_after(&before["target"], &after["target"]),
        "families": families,
        "signal_columns_added": added,
        "signal_columns_removed": removed,
        "correlations": correlations.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "coverage": coverage,
        "disagreement_share": before_after(&pick(before, "disagreement", "share"), &pick(after, "disagreement", "share")),
        "saturation_share": before_after(&pick(before, "saturation", "share"), &pick(after, "saturation", "share")),
        "impact_plcc_gain": before_after(&pick(before, "impact", "plcc_gain"), &pick(after, "impact", "plcc_gain")),
        "impact_srocc_gain": before_after(&pick(before, "impact", "srocc_gain"), &pick(after, "impact", "srocc_gain")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_lists_what_moved() {
        let before = json!({
            "target": "vmaf", "rows": 10, "sha256": "a",
            "signal_columns": ["adm2", "old"],
            "families": {"canonical_fr": "covered", "saliency_roi": "missing"},
            "correlations": {"adm2": {"pearson": 0.9}, "x": {"pearson": 0.5}},
            "coverage": {"dover": {"ok": 0.5}},
            "disagreement": {"share": 0.1}, "saturation": null, "impact": null,
        });
        let after = json!({
            "target": "vmaf", "rows": 12, "sha256": "b",
            "signal_columns": ["adm2", "new"],
            "families": {"canonical_fr": "covered", "saliency_roi": "weak"},
            "correlations": {"adm2": {"pearson": 0.905}, "x": {"pearson": 0.4}},
            "coverage": {"dover": {"ok": 0.75}, "musiq": {"ok": 1.0}},
            "disagreement": {"share": 0.2}, "saturation": null, "impact": null,
        });
        let previous = PreviousAudit {
            run: 1,
            created_at: "t".into(),
            path: "p".into(),
            sha256: "a".into(),
            rows: 10,
            summary: before,
        };
        let changes = compare("x", Some(&previous), &after);
        assert_eq!(changes["same_table_bytes"], false);
        assert_eq!(
            changes["families"],
            json!([{"family": "saliency_roi", "before": "missing", "after": "weak"}])
        );
        assert_eq!(changes["signal_columns_added"], json!(["new"]));
        assert_eq!(changes["signal_columns_removed"], json!(["old"]));
        let correlations = changes["correlations"].as_array().unwrap();
        assert_eq!(correlations.len(), 1, "adm2 moved by less than 0.01");
        assert_eq!(correlations[0]["column"], "x");
        assert_eq!(changes["coverage"].as_array().unwrap().len(), 2);
        assert_eq!(
            changes["disagreement_share"],
            json!({"before": 0.1, "after": 0.2})
        );
        let none = compare("x", None, &after);
        assert!(none["previous"].is_null());
        assert!(none["note"]
            .as_str()
            .unwrap()
            .contains("No earlier audit of 'x'"));
    }
}
