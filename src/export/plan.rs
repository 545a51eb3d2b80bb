//! The plan of an export, decided before a row is joined: the key and
//! frame columns, the columns to add (refusing to overwrite existing ones),
//! and the other ways of keying the table that the key check counts.

use crate::command_line::CommandLine;
use crate::frames::FRAME_COLUMNS;
use crate::key::{find_candidate, KeyNormalize, REFERENCE_KEY_FIELDS};
use crate::table::{AddedField, ColumnKind};

use super::index::ScorerIndex;
use super::{ExportColumn, ExportError, ExportOptions, COLUMN_SUFFIXES, EXTRA_TABLE_KEY_FIELDS};

/// The table's key and frame columns, chosen from its column names.
pub(super) struct TableKeys {
    /// The feature table as given, for messages.
    pub features_shown: String,
    pub key_column: String,
    /// `None`: a clip table (or per-frame joins were not asked for).
    pub frame_column: Option<String>,
}

impl TableKeys {
    /// The key column (`--key-column`, else the first candidate present)
    /// and, for a per-frame export, the frame column.
    pub(super) fn choose(
        columns: &[String],
        options: &ExportOptions,
        features_shown: &str,
    ) -> Result<TableKeys, ExportError> {
        let key_column = resolve_key_column(columns, options, features_shown)?;
        let frame_column = if options.per_frame {
            resolve_frame_column(columns, options.frame_column.as_deref(), features_shown)?
        } else {
            None
        };
        Ok(TableKeys {
            features_shown: features_shown.to_string(),
            key_column,
            frame_column,
        })
    }
}

/// Everything the join needs besides the scores and the rows.
pub(super) struct ExportPlan {
    /// The feature table as given, for messages.
    pub features_shown: String,
    pub key_column: String,
    pub key_normalize: KeyNormalize,
    /// The key column's normalisation, resolved once rather than per row.
    pub resolved_normalize: KeyNormalize,
    /// `--csv-safe`: formula-like text cells of a CSV output get a `'`.
    pub csv_safe: bool,
    pub frame_column: Option<String>,
    /// How the table numbers frames (`n` counts from 1).
    pub frame_base: i64,
    /// The columns added, in order, and their names.
    pub added: Vec<AddedField>,
    pub added_names: Vec<String>,
    /// `<prefix>_`, the start of every added column's name.
    pub prefix_marker: String,
    /// Other ways of keying the table, counted as the table streams, so a
    /// key mismatch can be explained with the fix.
    pub alternatives: Vec<(String, KeyNormalize)>,
    /// Per score index, in order: how the table's keys are normalised for it.
    pub keyings: Vec<Keying>,
    /// The table's candidate key columns (the key column first): the
    /// columns a scorer's own key check tries.
    pub candidate_columns: Vec<String>,
}

/// How the table's key column is normalised for one scorer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Keying {
    /// The normalisation resolved for the key column.
    pub resolved: KeyNormalize,
    /// `auto` that normalises: a key no score has is looked up as written.
    pub raw_fallback: bool,
}

impl Keying {
    fn new(normalize: KeyNormalize, key_column: &str) -> Keying {
        let resolved = normalize.resolve(key_column);
        Keying {
            resolved,
            raw_fallback: normalize == KeyNormalize::Auto && resolved != KeyNormalize::Raw,
        }
    }
}

impl ExportPlan {
    /// The plan for a table with `columns`, keyed by `keys`, joined with
    /// `indexes`; refuses columns the table already has unless overwriting.
    pub(super) fn new(
        columns: &[String],
        keys: TableKeys,
        indexes: &[ScorerIndex],
        options: &ExportOptions,
    ) -> Result<ExportPlan, ExportError> {
        let TableKeys {
            features_shown,
            key_column,
            frame_column,
        } = keys;
        let key_normalize = options.key_normalize.default.unwrap_or_default();
        let frame_base = options
            .frame_base
            .unwrap_or(if frame_column.as_deref() == Some("n") {
                1
            } else {
                0
            });
        let added = added_fields(indexes, options);
        let existing: Vec<&str> = added
            .iter()
            .map(|f| f.name.as_str())
            .filter(|name| columns.iter().any(|c| c == name))
            .collect();
        if !existing.is_empty() && !options.overwrite {
            return Err(ExportError::Data(format!(
                "refusing to overwrite existing second-opinion columns: {}",
                existing.join(", ")
            )));
        }
        let alternatives = alternatives(columns, &key_column, key_normalize);
        let default_keying = Keying::new(key_normalize, &key_column);
        let keyings = indexes
            .iter()
            .map(|index| Keying::new(index.keying, &key_column))
            .collect();
        let candidate_columns = std::iter::once(key_column.clone())
            .chain(key_candidates(columns))
            .fold(Vec::new(), |mut all: Vec<String>, c| {
                if !all.contains(&c) {
                    all.push(c);
                }
                all
            });
        Ok(ExportPlan {
            resolved_normalize: default_keying.resolved,
            keyings,
            candidate_columns,
            csv_safe: options.csv_safe,
            features_shown,
            key_column,
            key_normalize,
            frame_column,
            frame_base,
            added_names: added.iter().map(|f| f.name.clone()).collect(),
            added,
            prefix_marker: format!("{}_", options.prefix),
            alternatives,
        })
    }
}

/// The columns each scorer adds: the standard five, then the normalised
/// score, the pooled statistics and the components.
fn added_fields(indexes: &[ScorerIndex], options: &ExportOptions) -> Vec<AddedField> {
    indexes
        .iter()
        .flat_map(|index| {
            let prefix = &index.counts.column_prefix;
            let standard = COLUMN_SUFFIXES
                .iter()
                .zip(ExportColumn::STANDARD)
                .filter(|(_, column)| options.writes(*column))
                .map(|((suffix, kind), _)| (suffix.to_string(), *kind));
            let norm = index
                .normalization
                .map(|_| ("score_norm".to_string(), ColumnKind::Float));
            let pooled = options
                .pool
                .iter()
                .map(|stat| (format!("score_{stat}"), ColumnKind::Float));
            let components = index
                .data
                .components
                .iter()
                .map(|(suffix, _)| (suffix.clone(), ColumnKind::Float));
            standard
                .chain(norm)
                .chain(pooled)
                .chain(components)
                .map(move |(suffix, kind)| AddedField {
                    name: format!("{prefix}_{suffix}"),
                    kind,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every (column, normalisation) the table could be keyed by instead.
fn alternatives(
    columns: &[String],
    key_column: &str,
    key_normalize: KeyNormalize,
) -> Vec<(String, KeyNormalize)> {
    key_candidates(columns)
        .into_iter()
        .chain(std::iter::once(key_column.to_string()))
        .flat_map(|column| {
            [
                KeyNormalize::Raw,
                KeyNormalize::Basename,
                KeyNormalize::Stem,
            ]
            .into_iter()
            .map(move |n| (column.clone(), n))
        })
        .filter(|(column, n)| !(column == key_column && *n == key_normalize.resolve(key_column)))
        .fold(Vec::new(), |mut all, alt| {
            if !all.contains(&alt) {
                all.push(alt);
            }
            all
        })
}

/// Candidate key columns present in the table, in candidate order.
fn key_candidates(columns: &[String]) -> Vec<String> {
    REFERENCE_KEY_FIELDS
        .iter()
        .chain(EXTRA_TABLE_KEY_FIELDS)
        .filter_map(|candidate| find_candidate(columns.iter().map(String::as_str), &[candidate]))
        .map(str::to_string)
        .fold(Vec::new(), |mut all, c| {
            if !all.contains(&c) {
                all.push(c);
            }
            all
        })
}

fn resolve_key_column(
    columns: &[String],
    options: &ExportOptions,
    path: &str,
) -> Result<String, ExportError> {
    let setting = options.command_line.setting_name("key-column");
    match options.key_column.as_deref() {
        Some(name) if columns.iter().any(|c| c == name) => Ok(name.to_string()),
        Some(name) => Err(ExportError::Data(format!(
            "{path}: no column '{name}' ({setting}); its columns: {}",
            columns.join(", ")
        ))),
        None => key_candidates(columns).into_iter().next().ok_or_else(|| {
            let how = match options.command_line {
                CommandLine::Batch => format!("set {setting} in the table's manifest entry"),
                _ => format!("pass {setting}"),
            };
            ExportError::Data(format!(
                "{path}: cannot find a key column (looked for {}); {how}",
                REFERENCE_KEY_FIELDS
                    .iter()
                    .chain(EXTRA_TABLE_KEY_FIELDS)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }),
    }
}

/// The table's frame column: `--frame-column`, else the first of
/// [`FRAME_COLUMNS`] present (ignoring case), else none (a clip table).
fn resolve_frame_column(
    columns: &[String],
    explicit: Option<&str>,
    path: &str,
) -> Result<Option<String>, ExportError> {
    match explicit {
        Some(name) if columns.iter().any(|c| c == name) => Ok(Some(name.to_string())),
        Some(name) => Err(ExportError::Data(format!(
            "{path}: no column '{name}' (--frame-column); its columns: {}",
            columns.join(", ")
        ))),
        None => Ok(
            find_candidate(columns.iter().map(String::as_str), FRAME_COLUMNS).map(str::to_string),
        ),
    }
}
