//! `exports replay ID`: run a recorded export again at its point, with its
//! recorded options, and check that the table it writes has the recorded
//! content (and whether the bytes match too: they may not when another
//! version of the tool, and so of the parquet writer, wrote the original).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::export::{ExportError, ExportOptions};
use crate::registry::exports::ExportRecord;
use crate::registry::{Point, PointRef, Registry};
use crate::table::TableFormat;

/// What to replay, and where the result goes.
pub struct ReplayRequest {
    /// An export id, or a tag naming one.
    pub export: PointRef,
    /// Keep the replayed table here (only when its content matches);
    /// without it the table is checked and thrown away.
    pub out: Option<PathBuf>,
    /// The feature table, when it is no longer at the recorded path (its
    /// sha256 must still be the recorded one).
    pub features: Option<PathBuf>,
}

/// The outcome of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct Replay {
    pub export: i64,
    pub point: Point,
    pub features: String,
    /// The content digest recorded, and the replay's.
    pub recorded_content: Option<String>,
    pub replayed_content: String,
    pub output_sha256: [String; 2],
    pub bytes_match: bool,
    /// The version of the tool that wrote the original.
    pub recorded_tool_version: String,
    /// Per scorer: the digest recorded and the replay's.
    pub scorers: Vec<DigestCheck>,
    /// Where the replayed table was kept, if it was.
    pub written: Option<String>,
}

/// One scorer's digest, recorded and replayed.
#[derive(Clone, Debug, Serialize)]
pub struct DigestCheck {
    pub name: String,
    pub recorded: Option<String>,
    pub replayed: String,
}

impl Replay {
    /// The replay of export `id` (at `point`, onto `features`) as recorded
    /// in `record`, given what the replay wrote (content digest, sha256)
    /// and its per-scorer digests.
    fn of(
        (id, point, features): (i64, Point, String),
        record: &ExportRecord,
        (content, sha256): (&str, &str),
        scorers: impl Iterator<Item = (String, String)>,
    ) -> Replay {
        Replay {
            export: id,
            point,
            features,
            recorded_content: record.content_digest.clone(),
            replayed_content: content.to_string(),
            bytes_match: sha256 == record.output_sha256,
            output_sha256: [record.output_sha256.clone(), sha256.to_string()],
            recorded_tool_version: record.tool_version.clone(),
            scorers: scorers
                .map(|(name, replayed)| DigestCheck {
                    recorded: recorded_digest(record, &name),
                    name,
                    replayed,
                })
                .collect(),
            written: None,
        }
    }

    /// Whether the replay reproduced the export's content: its content
    /// digest, or (for exports recorded before content digests) its bytes.
    pub fn reproduced(&self) -> bool {
        match &self.recorded_content {
            Some(recorded) => *recorded == self.replayed_content,
            None => self.bytes_match,
        }
    }
}

/// Replay an export; see the module docs. A feature table that is missing
/// or changed is an error, and nothing is written.
pub fn replay(registry: &Registry, request: &ReplayRequest) -> Result<Replay, ExportError> {
    let (id, point) = super::export_named(registry, &request.export)?;
    let record = registry.export_record(id)?;
    if record.command == "scores-only" {
        return replay_scores_only(registry, request, id, point, &record);
    }
    let features = request
        .features
        .clone()
        .unwrap_or_else(|| PathBuf::from(&record.features_path));
    let shown = features.display().to_string();
    if !features.is_file() {
        return Err(ExportError::Data(format!(
            "{shown}: the feature table export {id} read is not there{}",
            if request.features.is_none() {
                " (run from the directory the export ran in, or pass --features PATH)"
            } else {
                ""
            }
        )));
    }
    let sha256 = crate::digest::sha256_file(&features)
        .map_err(|e| ExportError::Data(format!("{shown}: {e}")))?;
    if sha256 != record.features_sha256 {
        return Err(ExportError::Data(format!(
            "{shown} changed since export {id}: recorded sha256 {}, now {sha256}; nothing was \
             written (the scores alone can still be exported with `export --as-of {id}`)",
            record.features_sha256
        )));
    }
    let mut options = ExportOptions::from_recorded(&record.options, &record.command)
        .map_err(|e| ExportError::Data(format!("export {id}'s recorded options: {e}")))?;
    options.as_of = Some(PointRef::Seq(point.seq));
    let format = match options.out_format {
        Some(format) => format,
        None => TableFormat::from_name(&record.output_format).ok_or_else(|| {
            ExportError::Data(format!(
                "export {id} wrote format '{}', which this version does not write",
                record.output_format
            ))
        })?,
    };
    options.out_format = Some(format);
    // Written beside its destination (or among temporary files) and moved
    // there only once its content is known to match.
    let scratch = scratch_dir(request.out.as_deref())?;
    let replayed_path = scratch_file(&scratch, &record);
    let summary = crate::export::export(registry, &features, &replayed_path, &options)?;
    let replay = Replay::of(
        (id, point, shown),
        &record,
        (
            &summary.content_digest,
            summary
                .output_sha256
                .as_deref()
                .expect("a replay hashes what it writes"),
        ),
        summary
            .scorers
            .iter()
            .map(|s| (s.name.clone(), s.digest.clone())),
    );
    keep_if_reproduced(replay, &replayed_path, request.out.as_deref())
}

/// Where a replay writes its table before it is checked.
fn scratch_file(scratch: &tempfile::TempDir, record: &ExportRecord) -> PathBuf {
    scratch.path().join(
        Path::new(&record.output_path)
            .file_name()
            .unwrap_or("replay".as_ref()),
    )
}

/// The scratch directory of a replay: beside `out`, or among temporary files.
fn scratch_dir(out: Option<&Path>) -> Result<tempfile::TempDir, ExportError> {
    let directory = match out {
        Some(out) => match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        },
        None => std::env::temp_dir(),
    };
    tempfile::Builder::new()
        .prefix(".second-opinion-replay-")
        .tempdir_in(&directory)
        .map_err(|e| {
            ExportError::Data(format!(
                "{}: cannot write the replayed table: {e}",
                directory.display()
            ))
        })
}

/// Move the replayed table to `out` when it reproduced the export.
fn keep_if_reproduced(
    mut replay: Replay,
    replayed: &Path,
    out: Option<&Path>,
) -> Result<Replay, ExportError> {
    if let (Some(out), true) = (out, replay.reproduced()) {
        std::fs::rename(replayed, out).map_err(|e| {
            ExportError::Data(format!("{}: cannot write the output: {e}", out.display()))
        })?;
        replay.written = Some(out.display().to_string());
    }
    Ok(replay)
}

/// Replay an `export --scores-only`: the scores at its point, written again.
fn replay_scores_only(
    registry: &Registry,
    request: &ReplayRequest,
    id: i64,
    point: Point,
    record: &ExportRecord,
) -> Result<Replay, ExportError> {
    let scorers: Option<Vec<String>> = record
        .options
        .get("scorers")
        .and_then(|s| s.as_array())
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        });
    let format = TableFormat::from_name(&record.output_format).ok_or_else(|| {
        ExportError::Data(format!(
            "export {id} wrote format '{}', which this version does not write",
            record.output_format
        ))
    })?;
    let scratch = scratch_dir(request.out.as_deref())?;
    let replayed_path = scratch_file(&scratch, record);
    let summary = crate::export::scores_only::export_scores_only(
        registry,
        &replayed_path,
        Some(format),
        scorers.as_deref(),
        Some(&PointRef::Seq(point.seq)),
        record
            .options
            .get("csv_safe")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
    )?;
    let replay = Replay::of(
        (id, point, "(scores only)".to_string()),
        record,
        (&summary.content_digest, &summary.output_sha256),
        summary
            .scorers
            .into_iter()
            .map(|(name, _, digest)| (name, digest)),
    );
    keep_if_reproduced(replay, &replayed_path, request.out.as_deref())
}

/// The digest export `record` recorded for scorer `name`.
fn recorded_digest(record: &ExportRecord, name: &str) -> Option<String> {
    record
        .registry_state
        .get(name)
        .and_then(|state| state.get("digest"))
        .and_then(|d| d.as_str())
        .map(str::to_string)
}
