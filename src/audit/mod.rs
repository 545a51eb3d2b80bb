//! `audit`: the signal-mix report of feature tables, with the families kept
//! in the registry — and whether the second opinions add anything.
//!
//! The reference part ([`signals`]) follows `signal_mix_audit.py`: target,
//! signal and metadata columns, family coverage, correlations with the
//! target, redundant pairs, complementary intersections. Beyond it:
//! second-opinion coverage, disagreement and saturation
//! ([`second_opinion`]), a cross-validated retrain estimate ([`impact`]),
//! an HTML page ([`html`]) and a record of every run ([`history`]).
//!
//! Each table is read once ([`data`]) and dropped before the next one is
//! read; only its audit is kept.

pub(crate) mod data;
pub mod families;
pub mod history;
pub(crate) mod html;
pub(crate) mod impact;
mod publish;
pub mod report;
pub(crate) mod second_opinion;
pub(crate) mod signals;
mod sql;
pub(crate) mod stats;

pub use publish::{run_provenance, stage_reports, write_reports, ReportPaths, ReportRoles};

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::export::EXTRA_TABLE_KEY_FIELDS;
use crate::key::{find_candidate, REFERENCE_KEY_FIELDS};
use crate::registry::{Registry, RegistryError};
use crate::table::{TableError, TableFormat};

use families::{Classifier, Family};
use impact::{Impact, ImpactOptions, NoImpact};
use second_opinion::{SecondOpinionAudit, SecondOpinionOptions};
use signals::{SignalAudit, Thresholds};

/// Why an audit or a family edit did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A mistake in the command line (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The data does not allow it (exit 1).
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Table(#[from] TableError),
}

impl AuditError {
    pub fn is_usage(&self) -> bool {
        match self {
            AuditError::Usage(_) => true,
            AuditError::Registry(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// One `--input [LABEL=]TABLE`.
#[derive(Clone, Debug)]
pub struct AuditInput {
    pub label: String,
    pub path: PathBuf,
}

impl AuditInput {
    /// Split `LABEL=PATH` at the first `=` unless the whole argument is an
    /// existing path; the label is trimmed, and defaults to the file's stem
    /// (the reference's `_parse_input`).
    pub fn parse(argument: &str) -> AuditInput {
        let (label, path) = match argument.split_once('=') {
            Some((label, path)) if !Path::new(argument).exists() => (
                Some(label.trim()).filter(|l| !l.is_empty()),
                PathBuf::from(path),
            ),
            _ => (None, PathBuf::from(argument)),
        };
        let label = label.map(str::to_string).unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        AuditInput { label, path }
    }
}

/// Everything `audit` is asked.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    pub inputs: Vec<AuditInput>,
    /// The inputs as given on the command line.
    pub input_arguments: Vec<String>,
    pub target: Option<String>,
    /// Rows listed per section; negative leaves out that many from the
    /// end, as the reference's `rows[:top_k]` does.
    pub top_k: i64,
    pub redundancy_threshold: f64,
    pub complement_threshold: f64,
    pub min_finite_ratio: f64,
    pub prefix: String,
    pub key_column: Option<String>,
    pub fr_column: Option<String>,
    pub fr_ceiling: Option<f64>,
    pub disagreement_threshold: f64,
    pub folds: usize,
    pub seed: u64,
    pub ridge_alpha: f64,
    pub compare_last: bool,
    /// Keys of the families left out (`--families ugc`, `--skip-family`).
    pub skip_families: Vec<String>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            inputs: Vec::new(),
            input_arguments: Vec::new(),
            target: None,
            top_k: 12,
            redundancy_threshold: 0.95,
            complement_threshold: 0.70,
            min_finite_ratio: 0.80,
            prefix: "second_opinion".to_string(),
            key_column: None,
            fr_column: None,
            fr_ceiling: None,
            disagreement_threshold: 0.5,
            folds: 5,
            seed: 0,
            ridge_alpha: 1.0,
            compare_last: false,
            skip_families: Vec::new(),
        }
    }
}

/// How many of `len` rows a section lists for `top_k`, as Python's
/// `rows[:top_k]` takes them: a negative `top_k` leaves out that many
/// from the end.
pub(crate) fn listed(len: usize, top_k: i64) -> usize {
    if top_k >= 0 {
        len.min(usize::try_from(top_k).unwrap_or(usize::MAX))
    } else {
        len.saturating_sub(usize::try_from(top_k.unsigned_abs()).unwrap_or(usize::MAX))
    }
}

impl AuditOptions {
    /// Refuse options that cannot mean anything. The reference's own
    /// thresholds (`--redundancy-threshold`, `--complement-threshold`,
    /// `--min-finite-ratio`) take any number, as its `float` arguments do:
    /// `--redundancy-threshold 1.5` finds no redundant pair.
    pub fn check(&self) -> Result<(), AuditError> {
        let unit = [("--disagreement-threshold", self.disagreement_threshold)];
        for (flag, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(AuditError::Usage(format!(
                    "{flag} must be between 0 and 1, got {value}"
                )));
            }
        }
        if self.folds < 2 {
            return Err(AuditError::Usage(format!(
                "--folds must be 2 or more, got {}",
                self.folds
            )));
        }
        if !(self.ridge_alpha.is_finite() && self.ridge_alpha > 0.0) {
            return Err(AuditError::Usage(format!(
                "--ridge-alpha must be a positive number, got {}",
                self.ridge_alpha
            )));
        }
        if self.fr_ceiling.is_some_and(|c| !c.is_finite()) {
            return Err(AuditError::Usage(
                "--fr-ceiling must be a finite number".to_string(),
            ));
        }
        if self.inputs.is_empty() {
            return Err(AuditError::Usage("give at least one --input".to_string()));
        }
        Ok(())
    }
}

/// The audit of one table.
#[derive(Clone, Debug)]
pub struct TableAudit {
    pub label: String,
    /// As given.
    pub path: String,
    pub absolute_path: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub format: TableFormat,
    pub rows: usize,
    pub columns: Vec<String>,
    pub key_column: Option<String>,
    pub signals: SignalAudit,
    pub second_opinion: SecondOpinionAudit,
    pub impact: Result<Impact, NoImpact>,
    /// With `--compare-last`: what changed since the previous audit of the label.
    pub changes: Option<Value>,
}

/// A whole run: the families used (and those left out) and every table's
/// audit.
#[derive(Clone, Debug)]
pub struct AuditReport {
    pub families: Vec<Family>,
    /// Families the run left out (`--families`, `--skip-family`).
    pub skipped_families: Vec<Family>,
    pub tables: Vec<TableAudit>,
    pub options: AuditOptions,
}

impl AuditReport {
    /// The options as recorded and reported.
    pub fn options_json(&self) -> Value {
        let o = &self.options;
        json!({
            "inputs": o.input_arguments,
            "target": o.target,
            "top_k": o.top_k,
            "redundancy_threshold": o.redundancy_threshold,
            "complement_threshold": o.complement_threshold,
            "min_finite_ratio": o.min_finite_ratio,
            "prefix": o.prefix,
            "key_column": o.key_column,
            "fr_column": o.fr_column,
            "fr_ceiling": o.fr_ceiling,
            "disagreement_threshold": o.disagreement_threshold,
            "folds": o.folds,
            "seed": o.seed,
            "ridge_alpha": o.ridge_alpha,
            "compare_last": o.compare_last,
            "skip_families": o.skip_families,
        })
    }

    /// The family with key `key`.
    pub fn family(&self, key: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.key == key)
    }

    /// The label of family `key` (the key itself for `uncategorized`).
    pub fn family_label<'a>(&'a self, key: &'a str) -> &'a str {
        self.family(key).map_or(key, |f| f.label.as_str())
    }
}

/// sha256 and size of a file.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    crate::digest::sha256_file_with_size(path)
}

/// Audit every input table against the registry's families and scorers.
/// Nothing is written: see [`report`], [`html`] and [`history::record`].
pub fn audit(registry: &Registry, options: &AuditOptions) -> Result<AuditReport, AuditError> {
    options.check()?;
    let mut families = families::load_families(registry)?;
    for key in &options.skip_families {
        if !families.iter().any(|f| &f.key == key) {
            let keys: Vec<&str> = families.iter().map(|f| f.key.as_str()).collect();
            return Err(AuditError::Usage(format!(
                "--skip-family {key}: no such family (families: {})",
                keys.join(", ")
            )));
        }
    }
    let skipped: Vec<Family> = families
        .iter()
        .filter(|f| options.skip_families.contains(&f.key))
        .cloned()
        .collect();
    families.retain(|f| !options.skip_families.contains(&f.key));
    let known_scorers = families::registry_scorers(registry)?;
    // Check every input before reading any, so a typo fails fast.
    let mut formats = Vec::with_capacity(options.inputs.len());
    for input in &options.inputs {
        let shown = input.path.display();
        if !input.path.is_file() {
            return Err(AuditError::Data(format!("{shown}: no such file")));
        }
        let format = TableFormat::from_path(&input.path).ok_or_else(|| {
            AuditError::Usage(format!(
                "{shown}: unknown table format (expected one of the extensions of: {})",
                TableFormat::names()
            ))
        })?;
        formats.push(format);
    }
    let mut tables = Vec::with_capacity(options.inputs.len());
    for (input, format) in options.inputs.iter().zip(formats) {
        tables.push(audit_table(
            registry,
            input,
            format,
            &families,
            &known_scorers,
            options,
        )?);
    }
    Ok(AuditReport {
        families,
        skipped_families: skipped,
        tables,
        options: options.clone(),
    })
}

fn audit_table(
    registry: &Registry,
    input: &AuditInput,
    format: TableFormat,
    families: &[Family],
    known_scorers: &[families::ScorerInfo],
    options: &AuditOptions,
) -> Result<TableAudit, AuditError> {
    let shown = input.path.display().to_string();
    let (sha256, size_bytes) =
        hash_file(&input.path).map_err(|e| AuditError::Data(format!("{shown}: {e}")))?;
    let is_key_candidate = |name: &str| {
        options.key_column.as_deref() == Some(name)
            || REFERENCE_KEY_FIELDS
                .iter()
                .chain(EXTRA_TABLE_KEY_FIELDS)
                .any(|candidate| candidate.eq_ignore_ascii_case(name))
    };
    let data = data::TableData::read(&input.path, format, |name| {
        is_key_candidate(name) || name.ends_with("_status")
    })?;
    let key_column = match &options.key_column {
        Some(name) if data.columns.contains(name) => Some(name.clone()),
        Some(name) => {
            return Err(AuditError::Data(format!(
                "{shown}: no column '{name}' (--key-column); its columns: {}",
                data.columns.join(", ")
            )))
        }
        None => REFERENCE_KEY_FIELDS
            .iter()
            .chain(EXTRA_TABLE_KEY_FIELDS)
            .find_map(|candidate| {
                find_candidate(data.columns.iter().map(String::as_str), &[candidate])
            })
            .map(str::to_string),
    };
    let mut scorers = known_scorers.to_vec();
    scorers.extend(families::scorers_in_columns(
        &data.columns,
        &options.prefix,
        known_scorers,
    ));
    let classifier = Classifier::new(families.to_vec(), &options.prefix, scorers)?;
    let classes: Vec<families::ColumnClass> = data
        .columns
        .iter()
        .map(|c| classifier.classify(c))
        .collect();
    let choice = signals::choose_target(&data.columns, options.target.as_deref());
    let target = choice.column.clone();
    let signal_audit = signals::audit_signals(
        &data,
        &classifier,
        &classes,
        choice,
        Thresholds {
            redundancy: options.redundancy_threshold,
            complement: options.complement_threshold,
            min_finite_ratio: options.min_finite_ratio,
        },
    );
    let keys = key_column.as_deref().and_then(|k| data.text(k));
    let second = second_opinion::audit_second_opinions(
        &data,
        &classifier,
        &classes,
        target.as_deref(),
        keys,
        &SecondOpinionOptions {
            fr_column: options.fr_column.clone(),
            fr_ceiling: options.fr_ceiling,
            disagreement_threshold: options.disagreement_threshold,
            top_k: options.top_k,
            min_finite_ratio: options.min_finite_ratio,
        },
    );
    let impact = impact::estimate(
        &data,
        &classifier,
        &classes,
        &signal_audit.signal_columns,
        target.as_deref(),
        ImpactOptions {
            folds: options.folds,
            seed: options.seed,
            alpha: options.ridge_alpha,
            min_finite_ratio: options.min_finite_ratio,
        },
    );
    let absolute_path = std::fs::canonicalize(&input.path)
        .unwrap_or_else(|_| input.path.clone())
        .display()
        .to_string();
    let mut table = TableAudit {
        label: input.label.clone(),
        path: shown,
        absolute_path,
        sha256,
        size_bytes,
        format,
        rows: data.rows,
        columns: data.columns.clone(),
        key_column,
        signals: signal_audit,
        second_opinion: second,
        impact,
        changes: None,
    };
    if options.compare_last {
        let previous = history::previous(registry, &table.label)?;
        table.changes = Some(history::compare(
            &table.label,
            previous.as_ref(),
            &history::summary(&table),
        ));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_split_like_the_reference() {
        let input = AuditInput::parse("syn=/no/such/dir/features.jsonl");
        assert_eq!(input.label, "syn");
        assert_eq!(input.path, PathBuf::from("/no/such/dir/features.jsonl"));
        let input = AuditInput::parse("/no/such/dir/features.jsonl");
        assert_eq!(input.label, "features");
        let input = AuditInput::parse(" =/x/t.parquet");
        assert_eq!(input.label, "t");
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a=b.jsonl");
        std::fs::write(&odd, "").unwrap();
        let input = AuditInput::parse(odd.to_str().unwrap());
        assert_eq!(input.path, odd);
        assert_eq!(input.label, "a=b");
    }

    #[test]
    fn options_are_checked() {
        let options = AuditOptions {
            inputs: vec![AuditInput::parse("t.jsonl")],
            ..AuditOptions::default()
        };
        assert!(options.check().is_ok());
        // The reference's thresholds take any number, as its `float` flags.
        for fine in [
            AuditOptions {
                min_finite_ratio: 1.5,
                redundancy_threshold: 1.5,
                complement_threshold: -0.2,
                ..options.clone()
            },
            AuditOptions {
                top_k: -2,
                ..options.clone()
            },
        ] {
            assert!(fine.check().is_ok());
        }
        assert_eq!(
            [listed(5, 12), listed(5, 2), listed(5, -2), listed(5, -9)],
            [5, 2, 3, 0]
        );
        for bad in [
            AuditOptions {
                folds: 1,
                ..options.clone()
            },
            AuditOptions {
                disagreement_threshold: 1.5,
                ..options.clone()
            },
            AuditOptions {
                ridge_alpha: 0.0,
                ..options.clone()
            },
            AuditOptions {
                inputs: Vec::new(),
                ..options.clone()
            },
        ] {
            assert!(bad.check().unwrap_err().is_usage());
        }
    }
}
