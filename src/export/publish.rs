//! Publishing an export: the output is written to a temporary file in the
//! target directory, hashed as it is written, and renamed into place only
//! after the verdict; the summary (counts, unmatched keys, digests) is
//! what the export record and the report are made of.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::atomic_file::Staged;
use crate::scorer::slug;

use crate::table::{AddedColumns, Batch, TableFormat, TableReader, TableWriter};

use super::index::{normalizes_registry_keys, ScorerIndex};
use super::join::JoinCounts;
use super::plan::ExportPlan;
use super::{ExportError, ExportOptions, ExportSummary};

/// Where an export's table goes.
pub enum Destination {
    /// A file: written to a temporary beside it, renamed into place when
    /// the export is published.
    File(PathBuf),
    /// Arrow batches handed to `sink` as they are made (a table handed
    /// back to a caller in memory), recorded under the name `shown`. They
    /// are hashed as the Arrow IPC file `--out table.arrow` would hold,
    /// without writing one.
    Batches { shown: String, sink: BatchSink },
}

/// Takes each batch of a table handed back in memory; an error stops the
/// export (the taker went away, or was interrupted).
pub type BatchSink = Box<dyn FnMut(RecordBatch) -> Result<(), ExportError> + Send>;

impl Destination {
    /// The output as named in messages and the report.
    pub fn shown(&self) -> String {
        match self {
            Destination::File(path) => path.display().to_string(),
            Destination::Batches { shown, .. } => shown.clone(),
        }
    }
}

/// What the written bytes go through: a buffer, then the hash, then a
/// file or nothing (only hashed). The buffer comes first so sha256 sees
/// blocks of a megabyte, not every cell and comma a text writer writes
/// (about a tenth of a JSON Lines output's time when it hashed those).
type Sink = BufWriter<HashingWriter<Box<dyn Write + Send>>>;

/// The sink of `bytes`: buffered, then (when `hashed`) hashed as it
/// reaches `bytes`.
fn hashed_sink(bytes: Box<dyn Write + Send>, hashed: bool) -> Sink {
    BufWriter::with_capacity(1 << 20, HashingWriter::new(bytes, hashed))
}

/// The output being written: a temporary file beside `out`, or batches
/// handed back.
pub(super) struct Output {
    temporary: Option<Staged>,
    writer: TableWriter<Sink>,
    shown: String,
    batches: Option<BatchSink>,
}

/// The output, written and hashed, waiting to be renamed into place.
pub struct Written {
    /// `None` for batches handed back: nothing to put in place.
    temporary: Option<Staged>,
    /// The output's sha256 and size; `None` when not hashed.
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// The digest of the table's schema and cells.
    pub content_digest: String,
}

impl Output {
    /// The output at `destination` in `format`, holding the table's
    /// columns and then `plan`'s; `hashed` unless the export is not
    /// recorded. Batches handed back unhashed are not encoded at all.
    pub(super) fn create(
        destination: Destination,
        format: TableFormat,
        reader: &TableReader,
        plan: &ExportPlan,
        hashed: bool,
    ) -> Result<Output, ExportError> {
        let handed_back = matches!(destination, Destination::Batches { .. });
        Output::with_writer(destination, hashed, |sink, shown| {
            match reader.arrow_schema() {
                Some(schema) if handed_back && !hashed => {
                    TableWriter::unencoded(sink, &schema, &plan.added, shown)
                }
                _ => TableWriter::new(sink, format, reader, &plan.added, shown, plan.csv_safe),
            }
        })
    }

    /// A temporary file in `out`'s directory, and a writer of `format` for
    /// a table of `schema` made here (`export --scores-only`).
    pub(super) fn for_schema(
        out: &Path,
        format: TableFormat,
        schema: &arrow::datatypes::SchemaRef,
        csv_safe: bool,
    ) -> Result<Output, ExportError> {
        Output::with_writer(Destination::File(out.to_path_buf()), true, |sink, shown| {
            TableWriter::for_schema(sink, format, schema, shown, csv_safe)
        })
    }

    fn with_writer(
        destination: Destination,
        hashed: bool,
        writer: impl FnOnce(Sink, &str) -> Result<TableWriter<Sink>, crate::table::TableError>,
    ) -> Result<Output, ExportError> {
        let shown = destination.shown();
        let (temporary, bytes, batches): (_, Box<dyn Write + Send>, _) = match destination {
            Destination::File(out) => {
                let temporary = Staged::begin(&out).map_err(|e| {
                    ExportError::Data(format!("{}: cannot create the output: {e}", out.display()))
                })?;
                let file = temporary
                    .reopen()
                    .map_err(|e| ExportError::Data(format!("{}: {e}", out.display())))?;
                (Some(temporary), Box::new(file), None)
            }
            Destination::Batches { sink, .. } => (None, Box::new(std::io::sink()), Some(sink)),
        };
        let writer = writer(hashed_sink(bytes, hashed), &shown)?;
        Ok(Output {
            temporary,
            writer,
            shown,
            batches,
        })
    }

    /// The schema of the Arrow batches written, if the Arrow engine writes.
    pub(super) fn schema(&self) -> Option<arrow::datatypes::SchemaRef> {
        self.writer.arrow_schema()
    }

    /// The output as named in messages and the report.
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    /// Write one joined batch (and hand it on, for batches handed back).
    pub(super) fn write(
        &mut self,
        batch: Batch,
        added: &AddedColumns,
        keep: &[bool],
    ) -> Result<(), ExportError> {
        let written = self.writer.write(batch, added, keep)?;
        if let (Some(sink), Some(written)) = (&mut self.batches, written) {
            sink(written)?;
        }
        Ok(())
    }

    /// Finish the table and flush it; nothing is in place yet.
    pub(super) fn finish(self) -> Result<Written, ExportError> {
        let (sink, content_digest) = self.writer.finish()?;
        let hashing = sink
            .into_inner()
            .map_err(|e| ExportError::Data(format!("{}: {}", self.shown, e.error())))?;
        let (mut bytes, hashed) = hashing.finish();
        let (sha256, size) = hashed.unzip();
        bytes
            .flush()
            .map_err(|e| ExportError::Data(format!("{}: {e}", self.shown)))?;
        drop(bytes);
        Ok(Written {
            temporary: self.temporary,
            sha256,
            size,
            content_digest,
        })
    }
}

impl Written {
    /// The output, to publish with other outputs of the same command
    /// ([`crate::atomic_file::publish_all`]): a file destination's only
    /// (batches handed back have nothing to put in place).
    pub fn into_staged(self) -> Staged {
        self.temporary
            .expect("only an export to a file has a file to put in place")
    }

    /// Whether there is a file to put in place.
    pub fn is_file(&self) -> bool {
        self.temporary.is_some()
    }
}

/// What was read and written, for the report and the export record.
pub(super) struct Inputs {
    pub features_shown: String,
    pub features_sha256: Option<String>,
    pub features_size: Option<u64>,
    pub out_format: TableFormat,
}

/// The summary of a published export: per scorer its counts (the scores
/// no row matched counted beforehand: [`ScorerIndex::count_unmatched`]),
/// and the digest of what was read.
pub(super) fn summarize(
    mut indexes: Vec<ScorerIndex>,
    plan: ExportPlan,
    counts: &JoinCounts,
    inputs: Inputs,
    written: (String, Option<String>, Option<u64>),
    options: &ExportOptions,
    warnings: Vec<String>,
) -> ExportSummary {
    let (out, output_sha256, output_size) = written;
    let mut digest = Sha256::new();
    for index in &indexes {
        digest.update(index.counts.slug.as_bytes());
        digest.update(b"=");
        digest.update(index.counts.digest.as_bytes());
        digest.update(b"\n");
    }
    let ExportPlan {
        key_column,
        key_normalize,
        frame_column,
        frame_base,
        ..
    } = plan;
    let out_format = inputs.out_format;
    let mut recorded_options = json!({
        "scorers": options.scorers,
        "key_column": options.key_column,
        "key_normalize": key_normalize.name(),
        "missing_policy": options.missing_policy.name(),
        "bad_policy": options.bad_policy.name(),
        "prefix": options.prefix,
        "overwrite": options.overwrite,
        "csv_safe": options.csv_safe,
        "out_format": out_format.name(),
        "components": options.components,
        "normalize": options.normalize,
        "columns": options.columns.as_ref().map(|kinds| kinds.iter().map(|k| k.name()).collect::<Vec<_>>()),
        "frame_column": frame_column,
        "frame_base": frame_column.as_ref().map(|_| frame_base),
        "frame_match": options.frame_match.name(),
        "max_frame_gap": options.max_frame_gap,
        "pool": options.pool.iter().map(|s| s.name()).collect::<Vec<_>>(),
    });
    // Written only when used, so exports that do not use them record
    // (and replay with) the options they always did.
    if !options.key_normalize.per_scorer.is_empty() {
        recorded_options["scorer_key_normalize"] = options
            .key_normalize
            .per_scorer
            .iter()
            .map(|(scorer, n)| (slug(scorer), Value::from(n.name())))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if options.normalize_registry_keys
        && options.command_line == crate::command_line::CommandLine::Registry
        && indexes
            .iter()
            .any(|index| normalizes_registry_keys(index.keying))
    {
        recorded_options["registry_keys_normalized"] = Value::Bool(true);
    }
    ExportSummary {
        features_path: inputs.features_shown,
        features_sha256: inputs.features_sha256,
        features_size: inputs.features_size,
        output_path: out,
        output_sha256,
        output_size,
        output_format: out_format,
        key_column,
        key_normalize,
        input_rows: counts.input_rows,
        output_rows: counts.output_rows,
        trimmed_keys: counts.trimmed_keys,
        registry_digest: crate::digest::hex(&digest.finalize()),
        content_digest: String::new(),
        point: None,
        as_of: None,
        options: recorded_options,
        scorers: {
            let counts = indexes
                .iter_mut()
                .map(|i| std::mem::take(&mut i.counts))
                .collect();
            drop_elsewhere(indexes);
            counts
        },
        warnings,
    }
}

/// Free `value` on a short-lived thread: the score index holds a string per
/// key, and freeing hundreds of thousands of them is work the export's
/// result does not wait for (a command-line run exits meanwhile).
fn drop_elsewhere<T: Send + 'static>(value: T) {
    // Should no thread start, the closure, and the value with it, is
    // dropped here.
    let _detached = std::thread::Builder::new().spawn(move || drop(value));
}

/// A writer that hashes and counts what passes through it.
pub(super) struct HashingWriter<W: Write> {
    inner: W,
    /// `None`: the bytes pass through unhashed.
    hasher: Option<Sha256>,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W, hashed: bool) -> Self {
        HashingWriter {
            inner,
            hasher: hashed.then(Sha256::new),
            bytes: 0,
        }
    }

    /// The writer, and the sha256 and size of what passed (when hashed).
    fn finish(self) -> (W, Option<(String, u64)>) {
        let hashed = self
            .hasher
            .map(|hasher| (crate::digest::hex(&hasher.finalize()), self.bytes));
        (self.inner, hashed)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..written]);
        }
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer that keeps the size of every write it is handed.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<usize>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A text writer's many small writes reach the hash (and the file
    /// behind it) as a few large blocks, and the digest is the sha256 of
    /// every byte written.
    #[test]
    fn the_hash_sees_buffered_blocks() {
        let writes = Writes::default();
        let mut sink = hashed_sink(Box::new(writes.clone()), true);
        let mut expected = Sha256::new();
        for n in 0..200_000u32 {
            let cell = format!("{n},");
            sink.write_all(cell.as_bytes()).unwrap();
            expected.update(cell.as_bytes());
        }
        let hashing = sink.into_inner().map_err(|e| e.into_error()).unwrap();
        let (_, hashed) = hashing.finish();
        let (sha256, size) = hashed.unwrap();
        let sizes = writes.0.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>() as u64, size);
        assert!(sizes.len() <= 2, "{} writes reached the hash", sizes.len());
        assert_eq!(sha256, crate::digest::hex(&expected.finalize()));
    }

    /// The digest and size are those of the bytes written, in order,
    /// however they are split into writes.
    #[test]
    fn hashing_writer_digests_the_bytes_in_order() {
        let data: Vec<u8> = (0..(3 << 20) + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut writer = HashingWriter::new(Vec::new(), true);
        for piece in data.chunks(4093) {
            writer.write_all(piece).unwrap();
        }
        let (inner, hashed) = writer.finish();
        let (digest, size) = hashed.unwrap();
        assert_eq!(inner, data);
        assert_eq!(size, data.len() as u64);
        assert_eq!(digest, crate::digest::hex(&Sha256::digest(&data)));
    }
}
