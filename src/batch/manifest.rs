//! The batch manifest of the reference's
//! `batch_materialize_second_opinion_features.py`: `defaults` and
//! `tables[]`, read and checked whole before any table runs.
//!
//! The reference checks unknown keys and little else, so a typo in a policy
//! or two tables writing one file is found only after some tables have been
//! written. Here every entry is checked first, every problem is collected
//! (a user fixes them all in one go), and each names its entry and field:
//! `tables[1] (id "b"): missing_policy: unknown policy 'sometimes' (…)`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::atomic_file::{file_identity, FileIdentity};
use crate::export::RowPolicy;
use crate::key::KeyNormalize;
use crate::registry::SourceSpec;
use crate::table::TableFormat;

/// The keys `defaults` and every table may hold: `materialize`'s options
/// by their Python names.
pub const CONFIG_KEYS: [&str; 7] = [
    "key_column",
    "score_key_field",
    "score_field",
    "key_normalize",
    "missing_policy",
    "prefix",
    "overwrite",
];

/// The keys only a table holds.
pub const TABLE_KEYS: [&str; 5] = ["id", "features", "scores", "out", "audit_json"];

/// A manifest checked whole: every table resolved and valid.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The manifest's path as given.
    pub path: PathBuf,
    /// The sha256 of the bytes read, for the report's provenance.
    pub sha256: String,
    /// The folder relative paths were resolved against.
    pub base_dir: PathBuf,
    pub tables: Vec<TableSpec>,
    /// Top-level keys other than `defaults` and `tables`. The reference
    /// ignores them, so they are ignored here too (a drop-in must take the
    /// manifests the reference takes), and the caller may say so.
    pub ignored_keys: Vec<String>,
}

/// One table of the manifest, resolved: what one `materialize` run is asked.
#[derive(Clone, Debug)]
pub struct TableSpec {
    /// `id`, trimmed as the reference trims it.
    pub id: String,
    pub features: PathBuf,
    /// The score files, resolved against the base folder, labels kept.
    pub scores: Vec<SourceSpec>,
    pub out: PathBuf,
    pub audit_json: Option<PathBuf>,
    pub config: TableConfig,
    /// The defaults overridden by the table's own keys, as written: the
    /// report's `config`.
    pub config_json: Map<String, Value>,
}

impl TableSpec {
    /// The score files as the report lists them: `LABEL=PATH` or `PATH`,
    /// the path resolved.
    pub fn score_arguments(&self) -> Vec<String> {
        self.scores
            .iter()
            .map(|source| match &source.label {
                Some(label) => format!("{label}={}", source.path.display()),
                None => source.path.display().to_string(),
            })
            .collect()
    }
}

/// `materialize`'s options for one table: its defaults, then the manifest's
/// `defaults`, then the table's own keys.
#[derive(Clone, Debug, PartialEq)]
pub struct TableConfig {
    pub key_column: Option<String>,
    pub score_key_field: Option<String>,
    pub score_field: Option<String>,
    /// `None`: not given (then `auto`, and the key check may suggest another).
    pub key_normalize: Option<KeyNormalize>,
    pub missing_policy: RowPolicy,
    pub prefix: String,
    pub overwrite: bool,
}

impl Default for TableConfig {
    /// `materialize`'s own defaults.
    fn default() -> Self {
        TableConfig {
            key_column: None,
            score_key_field: None,
            score_field: None,
            key_normalize: None,
            missing_policy: RowPolicy::Mark,
            prefix: "second_opinion".to_string(),
            overwrite: false,
        }
    }
}

impl TableConfig {
    /// Set `key` (one of [`CONFIG_KEYS`]) from its manifest value, refusing
    /// what `materialize`'s command line would refuse. Enum values go
    /// through the library's own parsers, so the messages are the flags'.
    fn set(&mut self, key: &str, value: &Value) -> Result<(), String> {
        match key {
            "key_column" => self.key_column = optional_name(value)?,
            "score_key_field" => self.score_key_field = optional_name(value)?,
            "score_field" => self.score_field = optional_name(value)?,
            "key_normalize" => {
                self.key_normalize = match value {
                    Value::Null => None,
                    Value::String(name) => Some(name.parse::<KeyNormalize>()?),
                    other => return Err(wrong_type("a string or null", other)),
                }
            }
            "missing_policy" => {
                self.missing_policy = match value {
                    Value::String(name) => name.parse::<RowPolicy>()?,
                    other => return Err(wrong_type("a string", other)),
                }
            }
            "prefix" => {
                self.prefix = match value {
                    Value::String(prefix) => prefix.clone(),
                    other => return Err(wrong_type("a string", other)),
                }
            }
            "overwrite" => {
                self.overwrite = match value {
                    Value::Bool(overwrite) => *overwrite,
                    other => return Err(wrong_type("true or false", other)),
                }
            }
            other => unreachable!("{other} is not a config key"),
        }
        Ok(())
    }
}

/// A column or field name: a non-empty string, or null for the default.
fn optional_name(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        // An empty name would be looked up as a column named "" and fail
        // only when the table runs; leaving the key out says "default".
        Value::String(name) if name.is_empty() => {
            Err("must not be empty (leave it out, or null, for the default)".to_string())
        }
        Value::String(name) => Ok(Some(name.clone())),
        other => Err(wrong_type("a string or null", other)),
    }
}

fn wrong_type(expected: &str, got: &Value) -> String {
    format!("must be {expected}, got {}", shown(got))
}

/// A JSON value in a message, cut short when long.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    let cut: String = text.chars().take(57).collect();
    format!("{cut}...")
}

/// One thing wrong with the manifest: where (the entry and, when there is
/// one, the field) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestProblem {
    /// `manifest`, `defaults`, or `tables[i]` with its id when it has one:
    /// `tables[1] (id "b")`.
    pub entry: String,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {field}: {}", self.entry, self.message),
            None => write!(f, "{}: {}", self.entry, self.message),
        }
    }
}

/// Why a manifest was not accepted; every variant is the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read the batch manifest: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: the batch manifest is not valid JSON: {message}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Every problem found, in manifest order; one per line, each after
    /// the manifest's path.
    #[error("{}", problems.iter().map(|p| format!("{path}: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        problems: Vec<ManifestProblem>,
    },
}

/// Where the outputs the manifest does not name go: the batch reports,
/// which must not be written over a table's output either.
#[derive(Clone, Debug, Default)]
pub struct ReportPaths {
    pub json: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
}

/// Read the manifest at `path` and check it whole. Relative paths resolve
/// against `base_dir`, else the manifest's folder.
pub fn load_manifest(
    path: &Path,
    base_dir: Option<&Path>,
    reports: &ReportPaths,
) -> Result<Manifest, ManifestError> {
    let shown_path = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ManifestError::Read {
        path: shown_path.clone(),
        source,
    })?;
    let sha256 = {
        use sha2::{Digest, Sha256};
        crate::digest::hex(&Sha256::digest(&bytes))
    };
    let document: Value = serde_json::from_slice(&bytes).map_err(|e| ManifestError::Json {
        path: shown_path.clone(),
        line: e.line(),
        column: e.column(),
        // serde_json ends its message with the position, given above.
        message: e
            .to_string()
            .trim_end_matches(&format!(" at line {} column {}", e.line(), e.column()))
            .to_string(),
    })?;
    let base_dir = match base_dir {
        Some(base) => base.to_path_buf(),
        None => path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut checker = Checker::default();
    let (tables, ignored_keys) = checker.manifest(&document, &base_dir);
    checker.distinct_outputs(reports);
    if !checker.problems.is_empty() {
        return Err(ManifestError::Invalid {
            path: shown_path,
            problems: checker.problems,
        });
    }
    Ok(Manifest {
        path: path.to_path_buf(),
        sha256,
        base_dir,
        tables,
        ignored_keys,
    })
}

/// Collects every problem of a manifest instead of stopping at the first.
#[derive(Default)]
struct Checker {
    problems: Vec<ManifestProblem>,
    /// Every output path resolved so far, with its entry and field, for
    /// [`Checker::distinct_outputs`]; kept even for entries with other
    /// problems, so one run of the check finds every clash.
    outputs: Vec<(String, Option<&'static str>, PathBuf)>,
}

impl Checker {
    fn problem(&mut self, entry: &str, field: Option<&str>, message: impl Into<String>) {
        self.problems.push(ManifestProblem {
            entry: entry.to_string(),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    /// The tables of the whole document (those without problems), and the
    /// top-level keys ignored.
    fn manifest(&mut self, document: &Value, base_dir: &Path) -> (Vec<TableSpec>, Vec<String>) {
        let Value::Object(root) = document else {
            self.problem(
                "manifest",
                None,
                format!(
                    "must be a JSON object with `defaults` and `tables`, got {}",
                    shown(document)
                ),
            );
            return (Vec::new(), Vec::new());
        };
        let ignored_keys = root
            .keys()
            .filter(|key| !matches!(key.as_str(), "defaults" | "tables"))
            .cloned()
            .collect();
        let empty = Map::new();
        let defaults = match root.get("defaults") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(defaults)) => defaults,
            Some(other) => {
                self.problem("manifest", Some("defaults"), wrong_type("an object", other));
                &empty
            }
        };
        let mut base_config = TableConfig::default();
        for (key, value) in defaults {
            if !CONFIG_KEYS.contains(&key.as_str()) {
                self.problem(
                    "defaults",
                    Some(key),
                    format!("unknown key (defaults take {})", CONFIG_KEYS.join(", ")),
                );
            } else if let Err(message) = base_config.set(key, value) {
                self.problem("defaults", Some(key), message);
            }
        }
        let entries = match root.get("tables") {
            Some(Value::Array(entries)) if !entries.is_empty() => entries.as_slice(),
            Some(Value::Array(_)) => {
                self.problem("manifest", Some("tables"), "must not be empty");
                &[]
            }
            None => {
                self.problem("manifest", Some("tables"), "missing (a list of tables)");
                &[]
            }
            Some(other) => {
                self.problem("manifest", Some("tables"), wrong_type("a list", other));
                &[]
            }
        };
        let mut tables = Vec::new();
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        for (index, entry) in entries.iter().enumerate() {
            // Ids are compared whatever else is wrong with the entries.
            let id = entry.get("id").and_then(Value::as_str).map(str::trim);
            if let Some(id) = id.filter(|id| !id.is_empty()) {
                match ids.get(id) {
                    Some(first) => self.problem(
                        &entry_name(index, Some(id)),
                        Some("id"),
                        format!("{id:?} is also the id of {first}"),
                    ),
                    None => {
                        ids.insert(id.to_string(), entry_name(index, None));
                    }
                }
            }
            if let Some(table) = self.table(index, entry, defaults, &base_config, base_dir) {
                tables.push(table);
            }
        }
        (tables, ignored_keys)
    }

    /// One table entry, resolved; `None` when it has a problem (recorded).
    fn table(
        &mut self,
        index: usize,
        entry: &Value,
        defaults: &Map<String, Value>,
        base_config: &TableConfig,
        base_dir: &Path,
    ) -> Option<TableSpec> {
        let Value::Object(fields) = entry else {
            self.problem(
                &entry_name(index, None),
                None,
                wrong_type("an object", entry),
            );
            return None;
        };
        let before = self.problems.len();
        // The id names the entry in every other message, so it comes first.
        let id = match fields.get("id") {
            Some(Value::String(id)) if !id.trim().is_empty() => Some(id.trim().to_string()),
            Some(Value::String(_)) => {
                self.problem(&entry_name(index, None), Some("id"), "must not be empty");
                None
            }
            None => {
                self.problem(&entry_name(index, None), Some("id"), "missing");
                None
            }
            Some(other) => {
                self.problem(
                    &entry_name(index, None),
                    Some("id"),
                    wrong_type("a string", other),
                );
                None
            }
        };
        let name = entry_name(index, id.as_deref());
        let mut config = base_config.clone();
        let mut config_json = defaults.clone();
        for (key, value) in fields {
            if CONFIG_KEYS.contains(&key.as_str()) {
                match config.set(key, value) {
                    Ok(()) => {
                        config_json.insert(key.clone(), value.clone());
                    }
                    Err(message) => self.problem(&name, Some(key), message),
                }
            } else if !TABLE_KEYS.contains(&key.as_str()) {
                self.problem(
                    &name,
                    Some(key),
                    format!(
                        "unknown key (a table takes {}, {})",
                        TABLE_KEYS.join(", "),
                        CONFIG_KEYS.join(", ")
                    ),
                );
            }
        }
        let features = self.path_field(&name, fields, "features", base_dir);
        if let Some(features) = &features {
            if TableFormat::from_path(features).is_none() {
                self.problem(
                    &name,
                    Some("features"),
                    format!(
                        "{}: cannot tell the table format from the file name (expected one of: {})",
                        features.display(),
                        TableFormat::names()
                    ),
                );
            }
        }
        let out = self.path_field(&name, fields, "out", base_dir);
        if let Some(out) = &out {
            self.outputs.push((name.clone(), Some("out"), out.clone()));
            if TableFormat::from_path(out).is_none() {
                self.problem(
                    &name,
                    Some("out"),
                    format!(
                        "{}: cannot tell the output format from the file name (expected one of: {})",
                        out.display(),
                        TableFormat::names()
                    ),
                );
            }
        }
        let audit_json = match fields.get("audit_json") {
            // The reference reads "" as "no audit", like null.
            None | Some(Value::Null) => None,
            Some(Value::String(path)) if path.is_empty() => None,
            Some(Value::String(path)) => {
                let audit_json = resolve(base_dir, path);
                self.outputs
                    .push((name.clone(), Some("audit_json"), audit_json.clone()));
                Some(audit_json)
            }
            Some(other) => {
                self.problem(
                    &name,
                    Some("audit_json"),
                    wrong_type("a path or null", other),
                );
                None
            }
        };
        let scores = self.scores(&name, fields.get("scores"), base_dir);
        if self.problems.len() > before {
            return None;
        }
        Some(TableSpec {
            id: id?,
            features: features?,
            scores: scores?,
            out: out?,
            audit_json,
            config,
            config_json,
        })
    }

    /// A required path (`features`, `out`), resolved.
    fn path_field(
        &mut self,
        name: &str,
        fields: &Map<String, Value>,
        key: &str,
        base_dir: &Path,
    ) -> Option<PathBuf> {
        match fields.get(key) {
            Some(Value::String(path)) if !path.is_empty() => Some(resolve(base_dir, path)),
            None | Some(Value::Null) => {
                self.problem(name, Some(key), "missing (a path is required)");
                None
            }
            Some(Value::String(_)) => {
                self.problem(name, Some(key), "must not be empty");
                None
            }
            Some(other) => {
                self.problem(name, Some(key), wrong_type("a path", other));
                None
            }
        }
    }

    /// `scores`: a non-empty list of `[LABEL=]PATH`.
    fn scores(
        &mut self,
        name: &str,
        value: Option<&Value>,
        base_dir: &Path,
    ) -> Option<Vec<SourceSpec>> {
        let items = match value {
            Some(Value::Array(items)) if !items.is_empty() => items,
            None | Some(Value::Null) => {
                self.problem(name, Some("scores"), "missing (a list of score files)");
                return None;
            }
            Some(Value::Array(_)) => {
                self.problem(name, Some("scores"), "must not be empty");
                return None;
            }
            Some(other) => {
                self.problem(
                    name,
                    Some("scores"),
                    wrong_type("a list of score files", other),
                );
                return None;
            }
        };
        let mut sources = Vec::new();
        for (position, item) in items.iter().enumerate() {
            let field = format!("scores[{position}]");
            match item {
                Value::String(text) if !text.is_empty() => {
                    sources.push(resolve_source(base_dir, text));
                }
                Value::String(_) => self.problem(name, Some(&field), "must not be empty"),
                other => self.problem(
                    name,
                    Some(&field),
                    wrong_type("a [LABEL=]PATH string", other),
                ),
            }
        }
        (sources.len() == items.len()).then_some(sources)
    }

    /// No two outputs (a table's `out` or `audit_json`, a report) may be
    /// one file: the later would silently replace the earlier. Paths are
    /// compared as files, not as spellings (`a/../out.jsonl`, a symlinked
    /// folder).
    fn distinct_outputs(&mut self, reports: &ReportPaths) {
        let mut outputs = std::mem::take(&mut self.outputs);
        for (flag, path) in [
            ("--report-json", &reports.json),
            ("--report-md", &reports.markdown),
        ] {
            if let Some(path) = path {
                outputs.push((flag.to_string(), None, path.clone()));
            }
        }
        let mut seen: BTreeMap<FileIdentity, String> = BTreeMap::new();
        for (entry, field, path) in outputs {
            let described = match field {
                Some(field) => format!("the {field} of {entry}"),
                None => entry.clone(),
            };
            match seen.get(&file_identity(&path)) {
                Some(first) => {
                    self.problem(&entry, field, format!("{} is also {first}", path.display()))
                }
                None => {
                    seen.insert(file_identity(&path), described);
                }
            }
        }
    }
}

/// How an entry is named in messages: its place in `tables`, and its id
/// when it has one.
fn entry_name(index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("tables[{index}] (id {id:?})"),
        None => format!("tables[{index}]"),
    }
}

/// A manifest path resolved as the reference resolves it: absolute paths
/// as written, relative ones under `base_dir`; spelled as Python's pathlib
/// spells a path (no `.` components), so the report's paths read the same.
pub fn resolve(base_dir: &Path, written: &str) -> PathBuf {
    let written = Path::new(written);
    let joined = if written.is_absolute() {
        written.to_path_buf()
    } else {
        base_dir.join(written)
    };
    let cleaned: PathBuf = joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// A `[LABEL=]PATH` score entry resolved under `base_dir`. The rule of
/// `materialize --scores` ([`SourceSpec::parse`]): split at the first `=`
/// unless the whole text names an existing file, here under `base_dir`.
fn resolve_source(base_dir: &Path, text: &str) -> SourceSpec {
    let whole = resolve(base_dir, text);
    if !whole.exists() {
        if let Some((label, path)) = text.split_once('=') {
            if !label.is_empty() && !path.is_empty() {
                return SourceSpec {
                    label: Some(label.to_string()),
                    path: resolve(base_dir, path),
                };
            }
        }
    }
    SourceSpec {
        label: None,
        path: whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_spells_paths_as_pathlib_does() {
        assert_eq!(resolve(Path::new(""), "a.jsonl"), Path::new("a.jsonl"));
        assert_eq!(resolve(Path::new("."), "a.jsonl"), Path::new("a.jsonl"));
        assert_eq!(
            resolve(Path::new("./m"), "./x/a.jsonl"),
            Path::new("m/x/a.jsonl")
        );
        assert_eq!(
            resolve(Path::new("m"), "/abs/a.jsonl"),
            Path::new("/abs/a.jsonl")
        );
        assert_eq!(
            resolve(Path::new("m"), "../a.jsonl"),
            Path::new("m/../a.jsonl")
        );
    }

    #[test]
    fn score_entries_split_at_the_first_equals_sign() {
        let source = resolve_source(Path::new("m"), "fork-nr=s/a=b.jsonl");
        assert_eq!(source.label.as_deref(), Some("fork-nr"));
        assert_eq!(source.path, Path::new("m/s/a=b.jsonl"));
        let source = resolve_source(Path::new("m"), "s/a.jsonl");
        assert_eq!(source.label, None);
        assert_eq!(source.path, Path::new("m/s/a.jsonl"));
        // An empty label is no label, as on the command line.
        assert_eq!(resolve_source(Path::new(""), "=a.jsonl").label, None);
    }

    #[test]
    fn file_identity_sees_through_dot_dot_and_existing_folders() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        assert_eq!(
            file_identity(&base.join("x/../out.jsonl")),
            file_identity(&base.join("out.jsonl"))
        );
        assert_eq!(
            file_identity(&base.join("new/./a.json")),
            file_identity(&base.join("new/a.json"))
        );
        assert_ne!(
            file_identity(&base.join("a.json")),
            file_identity(&base.join("b.json"))
        );
    }

    fn config_of(pairs: &[(&str, Value)]) -> Result<TableConfig, String> {
        let mut config = TableConfig::default();
        for (key, value) in pairs {
            config.set(key, value)?;
        }
        Ok(config)
    }

    #[test]
    fn config_values_are_refused_as_the_flags_refuse_them() {
        use serde_json::json;
        assert_eq!(
            config_of(&[("missing_policy", json!("sometimes"))]).unwrap_err(),
            "sometimes".parse::<RowPolicy>().unwrap_err()
        );
        assert_eq!(
            config_of(&[("key_normalize", json!("path"))]).unwrap_err(),
            "path".parse::<KeyNormalize>().unwrap_err()
        );
        assert_eq!(
            config_of(&[("overwrite", json!("yes"))]).unwrap_err(),
            "must be true or false, got \"yes\""
        );
        assert_eq!(
            config_of(&[("key_column", json!(""))]).unwrap_err(),
            "must not be empty (leave it out, or null, for the default)"
        );
        let config = config_of(&[
            ("key_normalize", json!("stem")),
            ("missing_policy", json!("drop")),
            ("key_column", json!("src")),
            ("key_normalize", Value::Null),
        ])
        .unwrap();
        assert_eq!(config.key_normalize, None);
        assert_eq!(config.missing_policy, RowPolicy::Drop);
        assert_eq!(config.key_column.as_deref(), Some("src"));
    }
}
