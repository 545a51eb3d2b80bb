//! `Registry`: one registry file, opened on first use the way the command
//! that does the same opens it (`ingest` creates it, every other call
//! needs it to exist), and kept open until `close()`.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;
use serde::Serialize;
use serde_json::json;

use second_opinion::export::cache::IndexCache;
use second_opinion::export::recorded::{publish_recorded, settled_warning};
use second_opinion::export::scores_only::prepare_scores_only;
use second_opinion::export::{
    plan_registry_export, Destination, ExportColumn, ExportOptions, PlannedExport, PreparedExport,
    RowPolicy,
};
use second_opinion::frames::{FrameMatch, PoolStat};
use second_opinion::ingest::{FieldNames, Format};
use second_opinion::key::{KeyNormalize, KeyNormalizeSetting};
use second_opinion::registry::{
    ConflictPolicy, IngestFileError, IngestOptions, OpenMode, PointRef, Registry, SourceSpec,
};
use second_opinion::scorer::Scale;

use crate::errors::{parse_option, parse_optional, Failure};
use crate::interrupt::{interruptible, Cancel};
use crate::stream::start_stream;
use crate::tables::{read_ipc_file, work_folder, ExportInput, Returned, RETURNED_TABLE};

/// The registry behind `second_opinion.Registry`.
#[pyclass(module = "second_opinion._native", frozen)]
pub struct NativeRegistry {
    path: PathBuf,
    /// `None` until the first call, and again after `close()`. A mutex
    /// because calls run with the GIL released: two Python threads using
    /// one `Registry` take turns, as two commands would.
    opened: Mutex<Option<Registry>>,
    /// The score indexes of the last export, for the next one reading the
    /// same registry point with the same options (`IndexCache`); locked
    /// after `opened`, never before.
    indexes: Mutex<IndexCache>,
}

impl NativeRegistry {
    /// Run `call` on the registry, opened with `mode` if it is not open
    /// yet (the caller does not hold the GIL).
    pub(crate) fn locked<T>(
        &self,
        mode: OpenMode,
        call: impl FnOnce(&mut Registry) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut opened = self
            .opened
            .lock()
            .map_err(|_| Failure::data("the registry was left unusable by a failed call"))?;
        if opened.is_none() {
            *opened = Some(Registry::open(&self.path, mode)?);
        }
        let registry = opened.as_mut().expect("opened just above");
        call(registry)
    }

    /// Run `call` on the registry, opened with `mode` if it is not open
    /// yet, without the GIL.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        mode: OpenMode,
        call: impl FnOnce(&mut Registry) -> Result<T, Failure> + Send,
    ) -> PyResult<T> {
        py.detach(|| self.locked(mode, call)).map_err(PyErr::from)
    }

    /// [`NativeRegistry::with`], interruptible by Ctrl-C: `call` is told
    /// when to stop ([`Cancel`]), and the KeyboardInterrupt is raised.
    pub(crate) fn with_cancel<T: Send>(
        &self,
        py: Python<'_>,
        mode: OpenMode,
        call: impl FnOnce(&mut Registry, &Cancel) -> Result<T, Failure> + Send,
    ) -> PyResult<T> {
        interruptible(py, |cancel| {
            self.locked(mode, |registry| call(registry, cancel))
        })?
        .map_err(PyErr::from)
    }

    /// A read of the registry answered as the command's `--json` prints it.
    fn query<T: Serialize>(
        &self,
        py: Python<'_>,
        call: impl FnOnce(&mut Registry) -> Result<T, Failure> + Send,
    ) -> PyResult<String> {
        self.with(py, OpenMode::MustExist, |registry| {
            let answer = call(registry)?;
            json_text(&answer)
        })
    }
}

/// JSON text with object keys sorted (through `Value`), as `--json` prints.
pub fn json_text<T: Serialize>(value: &T) -> Result<String, Failure> {
    let value = serde_json::to_value(value).map_err(Failure::data)?;
    serde_json::to_string(&value).map_err(Failure::data)
}

fn point_ref(name: &str, value: Option<&str>) -> Result<Option<PointRef>, Failure> {
    parse_optional(name, value)
}

#[pymethods]
impl NativeRegistry {
    #[new]
    fn new(path: PathBuf) -> NativeRegistry {
        NativeRegistry {
            path,
            opened: Mutex::new(None),
            indexes: Mutex::new(IndexCache::new()),
        }
    }

    /// The registry's path as given.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Close the connection (a later call opens it again) and free the
    /// score indexes kept from the last export.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            if let Ok(mut opened) = self.opened.lock() {
                opened.take();
                if let Ok(mut indexes) = self.indexes.lock() {
                    indexes.clear();
                }
            }
        })
    }

    /// Whether score indexes from an earlier export are held (for tests
    /// of `close()`).
    fn _holds_indexes(&self) -> bool {
        self.indexes.lock().map(|i| !i.is_empty()).unwrap_or(false)
    }

    /// `ingest`: each file in its own transaction. Answers the JSON of
    /// `ingest --report-json` (without `registry`/`tool_version`), plus
    /// `message`/`usage`: the command's closing error when a file was
    /// refused (the files before and after it are still ingested).
    #[pyo3(signature = (paths, *, scorer=None, scorer_version=None, format=None,
                        score_key_field=None, score_field=None, key=None, metric=None,
                        key_normalize="auto", key_strip_prefix=None, scale=None,
                        higher_is_better=None, force_scale=false, frame_base=None,
                        replace=false, ignore=false, strict=false))]
    #[allow(clippy::too_many_arguments)]
    fn ingest(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        scorer: Option<String>,
        scorer_version: Option<String>,
        format: Option<String>,
        score_key_field: Option<String>,
        score_field: Option<String>,
        key: Option<String>,
        metric: Option<String>,
        key_normalize: &str,
        key_strip_prefix: Option<String>,
        scale: Option<String>,
        higher_is_better: Option<bool>,
        force_scale: bool,
        frame_base: Option<i64>,
        replace: bool,
        ignore: bool,
        strict: bool,
    ) -> PyResult<String> {
        if replace && ignore {
            return Err(Failure::usage("ingest: replace and ignore cannot both be set").into());
        }
        let format = format
            .map(|name| {
                Format::from_name(&name).ok_or_else(|| {
                    Failure::usage(format!(
                        "format={name:?}: unknown format (expected one of: {})",
                        Format::names()
                    ))
                })
            })
            .transpose()?;
        let scale = scale
            .map(|text| {
                Scale::parse(&text).map_err(|e| Failure::usage(format!("scale={text:?}: {e}")))
            })
            .transpose()?;
        let mut options = IngestOptions {
            format,
            clip_key: key,
            metric,
            fields: FieldNames {
                key: score_key_field,
                score: score_field,
                frame_base,
            },
            frame_base,
            key_normalize: parse_option::<KeyNormalize>("key_normalize", key_normalize)?,
            key_strip_prefix: key_strip_prefix.filter(|prefix| !prefix.is_empty()),
            scale_names: scorer.as_deref().map(second_opinion::scorer::slug),
            scorer,
            scorer_version,
            scale,
            force_scale,
            higher_is_better,
            on_conflict: match (replace, ignore) {
                (true, _) => ConflictPolicy::Replace,
                (_, true) => ConflictPolicy::Ignore,
                _ => ConflictPolicy::Refuse,
            },
            strict,
            ..IngestOptions::default()
        };
        let sources: Vec<SourceSpec> = paths.iter().map(|p| SourceSpec::parse(p)).collect();
        // Refused before the registry is created, as the command does.
        py.detach(|| options.prepare_for(&sources).map_err(Failure::from))?;
        let answer = self.with_cancel(py, OpenMode::CreateIfMissing, |registry, cancel| {
            let mut entries = Vec::new();
            let mut refused = Vec::new();
            for source in &sources {
                // Ctrl-C: the file being read fails its read and is rolled
                // back whole (each file is its own transaction); the files
                // before stay ingested, none after is begun.
                if cancel.is_set() {
                    break;
                }
                match registry.ingest_file(source, &options, cancel) {
                    Ok(outcome) => entries.push(outcome.to_json()),
                    Err(error) => {
                        entries.push(error.report_entry(source));
                        refused.push(error);
                    }
                }
            }
            let closing =
                (!refused.is_empty()).then(|| IngestFileError::summarize(&refused, sources.len()));
            json_text(&json!({
                "files": entries,
                "failed_files": refused.len(),
                "message": closing.as_ref().map(|(message, _)| message),
                "usage": closing.map(|(_, usage)| usage).unwrap_or(false),
            }))
        })?;
        Ok(answer)
    }

    /// `export`: the registry joined onto `features` (a path or an Arrow
    /// stream). With `out`, the table is written there as the command
    /// writes it; without, it comes back as a pyarrow Table. Answers the
    /// table (or `None`) and the JSON `{"id", "report"}` (the record's id,
    /// `None` unless `record`, and the `--report-json` report).
    #[pyo3(signature = (features, *, out=None, features_name=None, scorers=None,
                        key_column=None, key_normalize=None, missing_policy="mark",
                        bad_policy="mark", prefix="second_opinion".to_string(), overwrite=false,
                        out_format=None, components=true, normalize=false, columns=None,
                        frame_column=None, frame_base=None, frame_match="exact",
                        max_frame_gap=None, pool=Vec::new(), as_of=None, csv_safe=false,
                        record=true, note=None, tag=None, stream=false))]
    #[allow(clippy::too_many_arguments)]
    fn export(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        features: &Bound<'_, PyAny>,
        out: Option<PathBuf>,
        features_name: Option<String>,
        scorers: Option<Vec<String>>,
        key_column: Option<String>,
        key_normalize: Option<String>,
        missing_policy: &str,
        bad_policy: &str,
        prefix: String,
        overwrite: bool,
        out_format: Option<String>,
        components: bool,
        normalize: bool,
        columns: Option<Vec<String>>,
        frame_column: Option<String>,
        frame_base: Option<i64>,
        frame_match: &str,
        max_frame_gap: Option<u64>,
        pool: Vec<String>,
        as_of: Option<String>,
        csv_safe: bool,
        record: bool,
        note: Option<String>,
        tag: Option<String>,
        stream: bool,
    ) -> PyResult<(Option<Py<PyAny>>, Option<String>)> {
        if stream && out.is_some() {
            return Err(Failure::usage(
                "export: stream=True hands the table back as a reader: leave out unset",
            )
            .into());
        }
        if !record && (note.is_some() || tag.is_some()) {
            return Err(Failure::usage(
                "export: note and tag name the export a registry records: leave record=True",
            )
            .into());
        }
        let options = ExportOptions {
            scorers,
            key_column,
            // One normalisation, or per scorer (`"musiq=stem,dover=basename"`).
            key_normalize: parse_optional::<KeyNormalizeSetting>(
                "key_normalize",
                key_normalize.as_deref(),
            )?
            .unwrap_or_default(),
            missing_policy: parse_option::<RowPolicy>("missing_policy", missing_policy)?,
            bad_policy: parse_option::<RowPolicy>("bad_policy", bad_policy)?,
            prefix,
            overwrite,
            out_format: out_format
                .as_deref()
                .map(|name| {
                    second_opinion::table::TableFormat::from_name(name).ok_or_else(|| {
                        Failure::usage(format!(
                            "out_format={name:?}: unknown format (expected one of: {})",
                            second_opinion::table::TableFormat::names()
                        ))
                    })
                })
                .transpose()?,
            components,
            normalize,
            columns: columns
                .map(|names| {
                    names
                        .iter()
                        .map(|n| parse_option::<ExportColumn>("columns", n))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            frame_column,
            frame_base,
            frame_match: parse_option::<FrameMatch>("frame_match", frame_match)?,
            max_frame_gap,
            pool: pool
                .iter()
                .map(|p| parse_option::<PoolStat>("pool", p))
                .collect::<Result<Vec<_>, _>>()?,
            as_of: point_ref("as_of", as_of.as_deref())?,
            csv_safe,
            unrecorded: !record,
            ..ExportOptions::default()
        };
        let input = ExportInput::extract(features, features_name)?;
        let recording = Recording { record, note, tag };
        let native = slf.get();
        let Some(out) = out else {
            if stream {
                let reader = start_stream(slf.clone().unbind(), py, input, options, recording)?;
                return Ok((Some(reader.into_pyarrow(py)?.unbind()), None));
            }
            let returned = Returned::default();
            let destination = returned.destination();
            let (answer, schema) =
                native.with_cancel(py, OpenMode::MustExist, |registry, cancel| {
                    let planned =
                        plan_onto(native, registry, input, destination, &options, &recording)?;
                    let schema = planned.planned.output_schema();
                    let answer = planned.run(registry, cancel, recording)?;
                    Ok((answer, schema))
                })?;
            let table = returned.into_table(py, schema)?;
            return Ok((Some(table), Some(answer)));
        };
        let destination = Destination::File(out);
        let answer = native.with_cancel(py, OpenMode::MustExist, |registry, cancel| {
            plan_onto(native, registry, input, destination, &options, &recording)?
                .run(registry, cancel, recording)
        })?;
        Ok((None, Some(answer)))
    }

    /// `export --scores-only`: the scores alone as a pyarrow Table (or
    /// written to `out`); recorded as the command records it when `record`.
    #[pyo3(signature = (*, scorers=None, as_of=None, out=None, record=false, note=None, tag=None))]
    #[allow(clippy::too_many_arguments)]
    fn scores(
        &self,
        py: Python<'_>,
        scorers: Option<Vec<String>>,
        as_of: Option<String>,
        out: Option<PathBuf>,
        record: bool,
        note: Option<String>,
        tag: Option<String>,
    ) -> PyResult<(Option<Py<PyAny>>, Option<i64>)> {
        if !record && (note.is_some() || tag.is_some()) {
            return Err(Failure::usage(
                "scores: note and tag name the export a registry records: pass record=True",
            )
            .into());
        }
        let as_of = point_ref("as_of", as_of.as_deref())?;
        let work = work_folder()?;
        let returned = out.is_none();
        let out = out.unwrap_or_else(|| work.path().join("scores.arrow"));
        let id = self.with(py, OpenMode::MustExist, |registry| {
            if let Some(tag) = &tag {
                registry.check_tag_free(tag)?;
            }
            if record {
                registry.settle_pending_exports()?;
            }
            let (mut summary, table) = prepare_scores_only(
                registry,
                &out,
                None,
                scorers.as_deref(),
                as_of.as_ref(),
                false,
            )?;
            if !record {
                table.publish().map_err(|e| {
                    Failure::data(format!("{}: cannot write the output: {e}", out.display()))
                })?;
                return Ok(None);
            }
            if returned {
                summary.output_path = RETURNED_TABLE.to_string();
            }
            let mut recorded = summary.record(scorers.as_deref());
            recorded.note = note;
            let id = registry.record_export(&recorded, tag.as_deref())?;
            publish_recorded(registry, id, table, Vec::new())
                .map_err(|e| Failure::data(format!("{e} (the export is recorded as {id})")))?;
            Ok(Some(id))
        })?;
        let table = returned.then(|| read_ipc_file(py, &out)).transpose()?;
        Ok((table, id))
    }

    /// `scorers --json`.
    fn scorers(&self, py: Python<'_>) -> PyResult<String> {
        self.query(py, |registry| Ok(registry.scorers()?))
    }

    /// `files --json`.
    fn files(&self, py: Python<'_>) -> PyResult<String> {
        self.query(py, |registry| Ok(registry.files()?))
    }

    /// `provenance --json`.
    #[pyo3(signature = (key, *, scorer=None, key_normalize="auto", as_of=None))]
    fn provenance(
        &self,
        py: Python<'_>,
        key: String,
        scorer: Option<String>,
        key_normalize: &str,
        as_of: Option<String>,
    ) -> PyResult<String> {
        let key_normalize = parse_option::<KeyNormalize>("key_normalize", key_normalize)?;
        let as_of = point_ref("as_of", as_of.as_deref())?;
        self.query(py, |registry| {
            let point = as_of
                .as_ref()
                .map(|reference| registry.resolve_point(reference))
                .transpose()?;
            Ok(registry.provenance(scorer.as_deref(), &key, key_normalize, point.as_ref())?)
        })
    }

    /// `exports --json`.
    fn exports(&self, py: Python<'_>) -> PyResult<String> {
        self.query(py, |registry| Ok(registry.exports()?))
    }

    /// `exports show REF --json`.
    fn show_export(&self, py: Python<'_>, reference: String) -> PyResult<String> {
        let reference = parse_option::<PointRef>("export", &reference)?;
        self.query(py, |registry| {
            Ok(second_opinion::history::show::show_export(
                registry, &reference,
            )?)
        })
    }

    /// `exports diff A B --json` (with `--rows` when `rows`).
    #[pyo3(signature = (a, b, *, rows=false))]
    fn diff(&self, py: Python<'_>, a: String, b: String, rows: bool) -> PyResult<String> {
        let a = parse_option::<PointRef>("a", &a)?;
        let b = parse_option::<PointRef>("b", &b)?;
        self.query(py, |registry| {
            let mut diff = second_opinion::history::diff::diff(registry, &a, &b)?;
            if !rows {
                diff.scorers.iter_mut().for_each(|s| s.keys.clear());
            }
            Ok(diff)
        })
    }
}

/// Whether and how an export is recorded.
pub(crate) struct Recording {
    pub record: bool,
    pub note: Option<String>,
    pub tag: Option<String>,
}

/// An export planned by the steps of the `export` command that come first,
/// in its order: a tag checked, pending records settled, the table opened,
/// the scores loaded.
pub(crate) struct Planned {
    pub planned: PlannedExport,
    settled: Vec<String>,
}

/// Plan the export of `registry` (opened by `native`, whose kept score
/// indexes it may reuse) onto `input`, to `destination`.
pub(crate) fn plan_onto(
    native: &NativeRegistry,
    registry: &mut Registry,
    input: ExportInput,
    destination: Destination,
    options: &ExportOptions,
    recording: &Recording,
) -> Result<Planned, Failure> {
    if let Some(tag) = &recording.tag {
        registry.check_tag_free(tag)?;
    }
    let settled = registry.settle_pending_exports()?;
    let opened = input.open(&destination, options)?;
    let mut indexes = native
        .indexes
        .lock()
        .map_err(|_| Failure::data("the registry was left unusable by a failed call"))?;
    let planned = plan_registry_export(registry, opened, destination, options, &mut indexes)?;
    Ok(Planned {
        planned,
        settled: settled.iter().map(settled_warning).collect(),
    })
}

impl Planned {
    /// The export, and the warnings of the records settled before it.
    pub fn into_parts(self) -> (PlannedExport, Vec<String>) {
        (self.planned, self.settled)
    }

    /// Read and join the table, stopping when `cancel` is raised, then
    /// [`finish_export`].
    fn run(
        self,
        registry: &mut Registry,
        cancel: &Cancel,
        recording: Recording,
    ) -> Result<String, Failure> {
        let prepared = self.planned.run(None, &|| cancel.is_set())?;
        finish_export(registry, prepared, self.settled, recording)
    }
}

/// The last steps of the `export` command: the record committed, then the
/// table put in place (a table handed back has no place to be put) and
/// the record confirmed. Answers the JSON `{"id", "report", "warnings"}`.
pub(crate) fn finish_export(
    registry: &mut Registry,
    mut prepared: PreparedExport,
    settled: Vec<String>,
    recording: Recording,
) -> Result<String, Failure> {
    prepared.summary.warnings.extend(settled);
    let report = prepared.summary.to_json();
    let warnings = prepared.summary.warnings.clone();
    let id = if recording.record {
        let mut record = prepared.summary.record("export");
        record.note = recording.note;
        let id = registry.record_export(&record, recording.tag.as_deref())?;
        if prepared.is_file() {
            let (_, table) = prepared.into_parts();
            publish_recorded(registry, id, table, Vec::new())
                .map_err(|e| Failure::data(format!("{e} (the export is recorded as {id})")))?;
        } else {
            registry.confirm_export(id)?;
        }
        Some(id)
    } else {
        prepared.publish()?;
        None
    };
    json_text(&json!({"id": id, "report": report, "warnings": warnings}))
}
