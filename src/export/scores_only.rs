//! `export --scores-only`: the registry's scores live at a point as a
//! table of their own — key, scorer, score, status, runtime, frames,
//! source path, line, sha256, ingested at, version — for teams whose
//! feature tables live elsewhere (a DuckDB or Spark join; docs/
//! reproducibility.md). Parquet and Arrow files carry the point and the
//! per-scorer digests in their schema metadata.

use crate::command_line::CommandLine;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::atomic_file::Staged;
use crate::digest::ScoreSetDigest;
use crate::registry::exports::{ExportRecord, PublishState, ScoresTableRow};
use crate::registry::{Point, PointRef, Registry};
use crate::table::{AddedColumns, Batch, TableFormat};

use super::index::{read_point, selected_scorers};
use super::publish::Output;
use super::ExportError;

/// Rows per written batch.
const BATCH_ROWS: usize = 65_536;

/// What `export --scores-only` wrote; becomes its export record.
#[derive(Clone, Debug)]
pub struct ScoresOnlySummary {
    pub output_path: String,
    pub output_format: TableFormat,
    pub output_sha256: String,
    pub content_digest: String,
    pub rows: u64,
    pub point: Point,
    pub as_of: Option<String>,
    /// Per scorer (slug order): name, live rows, digest.
    pub scorers: Vec<(String, u64, String)>,
    pub registry_digest: String,
    /// Written with `--csv-safe`.
    pub csv_safe: bool,
}

impl ScoresOnlySummary {
    /// The registry record of this export (command `scores-only`: no
    /// feature table).
    pub fn record(&self, scorers_option: Option<&[String]>) -> ExportRecord {
        ExportRecord {
            id: 0,
            created_at: String::new(),
            command: "scores-only".to_string(),
            features_path: String::new(),
            features_sha256: String::new(),
            output_path: self.output_path.clone(),
            output_sha256: self.output_sha256.clone(),
            output_format: self.output_format.name().to_string(),
            input_rows: 0,
            output_rows: self.rows,
            scorers: json!(self.scorers.iter().map(|s| &s.0).collect::<Vec<_>>()),
            options: json!({
                "scorers": scorers_option,
                "out_format": self.output_format.name(),
                "csv_safe": self.csv_safe,
            }),
            registry_state: self
                .scorers
                .iter()
                .map(|(name, rows, digest)| {
                    (name.clone(), json!({"live_rows": rows, "digest": digest}))
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            registry_digest: self.registry_digest.clone(),
            tool_version: crate::TOOL_VERSION.to_string(),
            seq: Some(self.point.seq),
            seq_inferred: false,
            as_of: self.as_of.clone(),
            content_digest: Some(self.content_digest.clone()),
            note: None,
            tags: Vec::new(),
            state: PublishState::Pending,
        }
    }
}

fn schema(metadata: HashMap<String, String>) -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new_with_metadata(
        vec![
            text("key", false),
            text("scorer", false),
            Field::new("score", DataType::Float64, true),
            text("status", false),
            Field::new("runtime_ms", DataType::Float64, true),
            Field::new("frames", DataType::Int64, false),
            text("source_path", false),
            Field::new("line", DataType::Int64, false),
            text("source_sha256", false),
            text("ingested_at", false),
            text("version", true),
        ],
        metadata,
    ))
}

/// The rows of one batch, column by column.
#[derive(Default)]
struct Columns {
    key: StringBuilder,
    scorer: StringBuilder,
    score: Float64Builder,
    status: StringBuilder,
    runtime_ms: Float64Builder,
    frames: Int64Builder,
    source_path: StringBuilder,
    line: Int64Builder,
    source_sha256: StringBuilder,
    ingested_at: StringBuilder,
    version: StringBuilder,
    rows: usize,
}

impl Columns {
    fn push(&mut self, scorer: &str, row: &ScoresTableRow) {
        self.key.append_value(&row.key);
        self.scorer.append_value(scorer);
        self.score.append_option(row.score);
        self.status.append_value(&row.status);
        self.runtime_ms.append_option(row.runtime_ms);
        self.frames.append_value(row.frames);
        self.source_path.append_value(&row.source_path);
        self.line.append_value(row.line);
        self.source_sha256.append_value(&row.source_sha256);
        self.ingested_at.append_value(&row.ingested_at);
        self.version.append_option(row.version.as_deref());
        self.rows += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ExportError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.key.finish()),
            Arc::new(self.scorer.finish()),
            Arc::new(self.score.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.runtime_ms.finish()),
            Arc::new(self.frames.finish()),
            Arc::new(self.source_path.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.source_sha256.finish()),
            Arc::new(self.ingested_at.finish()),
            Arc::new(self.version.finish()),
        ];
        RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| ExportError::Data(format!("scores table: {e}")))
    }
}

/// Write the scores of `scorers` (all when `None`) live at `as_of` (else
/// now) to `out`, in `format` (else the extension's).
pub fn export_scores_only(
    registry: &Registry,
    out: &Path,
    format: Option<TableFormat>,
    scorers: Option<&[String]>,
    as_of: Option<&PointRef>,
    csv_safe: bool,
) -> Result<ScoresOnlySummary, ExportError> {
    let (summary, staged) = prepare_scores_only(registry, out, format, scorers, as_of, csv_safe)?;
    staged.publish().map_err(|e| {
        ExportError::Data(format!("{}: cannot write the output: {e}", out.display()))
    })?;
    Ok(summary)
}

/// [`export_scores_only`] into a temporary beside `out`, not in place yet
/// (see [`super::PreparedExport`]).
pub fn prepare_scores_only(
    registry: &Registry,
    out: &Path,
    format: Option<TableFormat>,
    scorers: Option<&[String]>,
    as_of: Option<&PointRef>,
    csv_safe: bool,
) -> Result<(ScoresOnlySummary, Staged), ExportError> {
    let format = super::output_format(out, format, CommandLine::Registry)?;
    super::refuse_registry_as_output(registry, out)?;
    registry.read_snapshot(|registry| {
        let (point, at) = read_point(registry, as_of)?;
        let selected = selected_scorers(registry, scorers, at, &point)?;
        // The digests first: they go into the file's metadata, before
        // its first byte.
        let mut digests = Vec::with_capacity(selected.len());
        for scorer in &selected {
            let mut digest = ScoreSetDigest::default();
            let mut sources: HashMap<i64, usize> = HashMap::new();
            let mut shas: Vec<String> = Vec::new();
            let mut rows = 0u64;
            registry.visit_scores_table(scorer, at, |row| {
                let next = sources.len();
                let source = *sources.entry(row.source_file_id).or_insert_with(|| {
                    shas.push(row.source_sha256.clone());
                    next
                });
                digest.add(source, &row.key, row.score, row.status == "bad");
                rows += 1;
            })?;
            digests.push((
                scorer.name.clone(),
                rows,
                digest.finish(|source| &shas[source]),
            ));
        }
        let mut combined = Sha256::new();
        for (scorer, (_, _, digest)) in selected.iter().zip(&digests) {
            combined.update(scorer.slug.as_bytes());
            combined.update(b"=");
            combined.update(digest.as_bytes());
            combined.update(b"\n");
        }
        let registry_digest = crate::digest::hex(&combined.finalize());
        let metadata = HashMap::from([
            ("second_opinion.point".to_string(), point.seq.to_string()),
            (
                "second_opinion.point_at".to_string(),
                point.at.clone().unwrap_or_default(),
            ),
            (
                "second_opinion.scorers".to_string(),
                Value::Object(
                    digests
                        .iter()
                        .map(|(name, rows, digest)| {
                            (name.clone(), json!({"live_rows": rows, "digest": digest}))
                        })
                        .collect(),
                )
                .to_string(),
            ),
            (
                "second_opinion.registry_digest".to_string(),
                registry_digest.clone(),
            ),
            (
                "second_opinion.tool_version".to_string(),
                crate::TOOL_VERSION.to_string(),
            ),
        ]);
        let schema = schema(metadata);
        let mut output = Output::for_schema(out, format, &schema, csv_safe)?;
        let none = AddedColumns {
            names: Vec::new(),
            values: Vec::new(),
        };
        let mut columns = Columns::default();
        let mut failed = None;
        let mut total = 0u64;
        for scorer in &selected {
            registry.visit_scores_table(scorer, at, |row| {
                if failed.is_some() {
                    return;
                }
                columns.push(&scorer.name, &row);
                total += 1;
                if columns.rows == BATCH_ROWS {
                    let rows = columns.rows;
                    if let Err(e) = columns.finish(&schema).and_then(|batch| {
                        output.write(Batch::Arrow(batch), &none, &vec![true; rows])
                    }) {
                        failed = Some(e);
                    }
                }
            })?;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if columns.rows > 0 {
            let rows = columns.rows;
            let batch = columns.finish(&schema)?;
            output.write(Batch::Arrow(batch), &none, &vec![true; rows])?;
        }
        let written = output.finish()?;
        let (output_sha256, content_digest) = (
            written
                .sha256
                .clone()
                .expect("a scores-only output is always hashed"),
            written.content_digest.clone(),
        );
        let summary = ScoresOnlySummary {
            output_path: out.display().to_string(),
            output_format: format,
            output_sha256,
            content_digest,
            rows: total,
            point,
            as_of: as_of.map(|r| r.to_string()),
            scorers: digests,
            registry_digest,
            csv_safe,
        };
        Ok((summary, written.into_staged()))
    })
}
