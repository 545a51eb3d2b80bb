//! `materialize`: the one-shot ingest + export of the reference script
//! `materialize_second_opinion_features.py`, with its flags and its audit
//! JSON, over an in-memory registry unless one is named.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use serde_json::{json, Value};

use crate::export::{export, ExportError, ExportOptions, ExportSummary, RowPolicy};
use crate::ingest::FieldNames;
use crate::key::KeyNormalize;
use crate::registry::{
    IngestFileError, IngestOptions, OpenMode, Registry, RegistryError, SourceSpec,
};

/// Everything `materialize` was asked to do.
#[derive(Clone, Debug)]
pub struct MaterializeRequest {
    pub features: PathBuf,
    pub scores: Vec<SourceSpec>,
    pub out: PathBuf,
    pub audit_json: Option<PathBuf>,
    pub key_column: Option<String>,
    pub fields: FieldNames,
    /// `None` when not given (then `auto`).
    pub key_normalize: Option<KeyNormalize>,
    pub missing_policy: RowPolicy,
    pub prefix: String,
    pub overwrite: bool,
    /// Keep the scores in this registry instead of a throw-away one.
    pub registry: Option<PathBuf>,
    /// The command line and parsed arguments, for the audit's provenance.
    pub argv: Vec<String>,
    pub args: Value,
}

/// Why `materialize` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum MaterializeError {
    #[error(transparent)]
    Ingest(#[from] IngestFileError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{path}: cannot write the audit JSON: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
}

impl MaterializeError {
    pub fn is_usage(&self) -> bool {
        match self {
            MaterializeError::Ingest(e) => e.is_usage(),
            MaterializeError::Export(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// Ingest the score files, export onto the feature table, write the audit.
pub fn materialize(
    request: &MaterializeRequest,
) -> Result<(ExportSummary, Value), MaterializeError> {
    let audit_error = |path: &Path, source| MaterializeError::Audit {
        path: path.display().to_string(),
        source,
    };
    if let Some(path) = &request.audit_json {
        crate::atomic_file::check_writable(path).map_err(|e| audit_error(path, e))?;
    }
    let mut registry = match &request.registry {
        Some(path) => Registry::open(path, OpenMode::CreateIfMissing)?,
        None => Registry::open_in_memory()?,
    };
    // One transaction for the whole run: a kept registry gains the score
    // files only if the export succeeds too.
    let (summary, score_files) = registry.in_one_transaction(|registry| {
        let (scorers, score_files) = ingest_scores(registry, request)?;
        let options = ExportOptions {
            scorers: Some(scorers),
            key_column: request.key_column.clone(),
            key_normalize: request.key_normalize,
            missing_policy: request.missing_policy,
            bad_policy: RowPolicy::Mark,
            prefix: request.prefix.clone(),
            overwrite: request.overwrite,
            out_format: None,
            // The reference writes five columns per scorer, joined per clip;
            // so does its drop-in.
            components: false,
            normalize: false,
            per_frame: false,
            ..ExportOptions::default()
        };
        let summary = export(registry, &request.features, &request.out, &options)?;
        if request.registry.is_some() {
            registry.record_export(&summary.record("materialize"))?;
        }
        Ok::<_, MaterializeError>((summary, score_files))
    })?;
    let audit = audit_json(request, &summary, score_files);
    if let Some(path) = &request.audit_json {
        crate::atomic_file::write_json_atomically(path, &audit)
            .map_err(|e| audit_error(path, e))?;
    }
    Ok((summary, audit))
}

/// Ingest every `--scores` file; returns the scorers they named, in order,
/// and each file's provenance entry for the audit.
fn ingest_scores(
    registry: &mut Registry,
    request: &MaterializeRequest,
) -> Result<(Vec<String>, Vec<Value>), MaterializeError> {
    let ingest_options = IngestOptions {
        fields: request.fields.clone(),
        key_normalize: request.key_normalize.unwrap_or_default(),
        ..IngestOptions::default()
    };
    let mut scorers: Vec<String> = Vec::new();
    let mut score_files = Vec::new();
    for source in &request.scores {
        let outcome = registry.ingest_file(source, &ingest_options, &ProgressBar::hidden())?;
        for name in outcome.scorers.keys() {
            if !scorers.contains(name) {
                scorers.push(name.clone());
            }
        }
        score_files.push(json!({
            "role": "scores",
            "label": outcome.label,
            "path": outcome.path,
            "sha256": outcome.sha256,
            "size_bytes": outcome.size_bytes,
        }));
    }
    Ok((scorers, score_files))
}

/// The reference's audit JSON, with hashed inputs and outputs.
fn audit_json(
    request: &MaterializeRequest,
    summary: &ExportSummary,
    score_files: Vec<Value>,
) -> Value {
    let competitors: serde_json::Map<String, Value> = summary
        .scorers
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                json!({
                    "competitor": s.name,
                    "column_prefix": s.column_prefix,
                    "scores_loaded": s.loaded,
                    "matched_rows": s.matched,
                    "missing_rows": s.missing,
                    "bad_rows": s.bad,
                    "unmatched_scores": s.unmatched,
                    "unmatched_keys": s.unmatched_keys,
                }),
            )
        })
        .collect();
    let mut inputs = vec![json!({
        "role": "features",
        "path": summary.features_path,
        "sha256": summary.features_sha256,
        "size_bytes": summary.features_size,
    })];
    inputs.extend(score_files);
    json!({
        "feature_table": summary.features_path,
        "output": summary.output_path,
        "key_column": summary.key_column,
        "key_normalize": summary.key_normalize.name(),
        "input_rows": summary.input_rows,
        "output_rows": summary.output_rows,
        "missing_policy": request.missing_policy.name(),
        "competitors": competitors,
        "run_provenance": {
            "schema": "second-opinion-run-provenance-v1",
            "entrypoint": "second-opinion materialize",
            "tool_version": crate::TOOL_VERSION,
            "argv": request.argv,
            "args": request.args,
            "registry": request.registry.as_deref().map(Path::display).map(|p| p.to_string()),
            "registry_digest": summary.registry_digest,
            "inputs": inputs,
            "outputs": [{
                "role": "table",
                "path": summary.output_path,
                "format": summary.output_format.name(),
                "sha256": summary.output_sha256,
                "size_bytes": summary.output_size,
            }],
        },
    })
}
