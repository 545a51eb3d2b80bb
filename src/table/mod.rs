//! Feature tables in and out: parquet, Arrow IPC, JSON Lines, JSON and CSV.
//!
//! Two engines keep tables lossless. Columnar tables (parquet, Arrow IPC)
//! travel as Arrow record batches, schema and metadata included. Text tables
//! going to a text format travel as rows whose values keep their original
//! text ([`JsonRow`]). A text table written as parquet or Arrow IPC is read
//! through Arrow with a schema inferred in a first pass. Every reader is
//! streamed batch by batch except `.json`, a single document parsed whole.

mod arrow_io;
pub mod content_digest;
mod csv_rows;
pub mod csv_safe;
pub mod ipc_digest;
mod ipc_layout;
mod json_decode;
mod json_plain;
mod json_rows;
mod json_shape;
mod parquet_out;

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use arrow::record_batch::RecordBatch;

pub(crate) use arrow_io::batch_rows;
pub use arrow_io::BatchIterator;
pub use json_rows::{key_text, JsonRow};

/// Rows per batch read from a table, at most.
pub const BATCH_ROWS: usize = 65_536;

/// What one batch of a table read row by row (JSON Lines, CSV) may hold
/// in memory, roughly: a batch also ends when its rows reach this, so a
/// table of a hundred text columns streams in batches of a few thousand
/// rows instead of 65,536 rows × 100 cells (half a gigabyte each, and
/// three are in flight: read ahead, joined, written).
pub const BATCH_BYTES: usize = 32 << 20;

/// The memory a row read as text takes, roughly: its text, and for each
/// cell the member's name, the boxed value and their allocations.
pub(crate) fn row_cost(text_bytes: usize, cells: usize) -> usize {
    const PER_CELL: usize = 64;
    text_bytes + cells * PER_CELL
}

/// A feature-table format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    #[value(alias = "pq")]
    Parquet,
    #[value(name = "arrow", aliases = ["feather", "ipc"])]
    ArrowIpc,
    #[value(alias = "ndjson")]
    Jsonl,
    Json,
    Csv,
}

impl TableFormat {
    pub const ALL: &'static [TableFormat] = &[
        TableFormat::Parquet,
        TableFormat::ArrowIpc,
        TableFormat::Jsonl,
        TableFormat::Json,
        TableFormat::Csv,
    ];

    /// The name used by `--out-format` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Parquet => "parquet",
            TableFormat::ArrowIpc => "arrow",
            TableFormat::Jsonl => "jsonl",
            TableFormat::Json => "json",
            TableFormat::Csv => "csv",
        }
    }

    fn extensions(self) -> &'static [&'static str] {
        match self {
            TableFormat::Parquet => &["parquet", "pq"],
            TableFormat::ArrowIpc => &["arrow", "feather", "ipc"],
            TableFormat::Jsonl => &["jsonl", "ndjson"],
            TableFormat::Json => &["json"],
            TableFormat::Csv => &["csv"],
        }
    }

    pub fn names() -> String {
        TableFormat::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn from_name(name: &str) -> Option<TableFormat> {
        TableFormat::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name || f.extensions().contains(&name))
    }

    pub fn from_path(path: &Path) -> Option<TableFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        TableFormat::ALL
            .iter()
            .copied()
            .find(|f| f.extensions().contains(&extension.as_str()))
    }

    /// Whether the format is columnar and typed (read through Arrow).
    pub fn is_columnar(self) -> bool {
        matches!(self, TableFormat::Parquet | TableFormat::ArrowIpc)
    }
}

/// A feature table that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}:{line}: {message}")]
    At {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

impl TableError {
    pub fn at(path: &str, line: u64, message: impl Into<String>) -> TableError {
        TableError::At {
            path: path.to_string(),
            line,
            message: message.into(),
        }
    }

    pub fn file(path: &str, message: impl ToString) -> TableError {
        TableError::File {
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    pub fn io(path: &str, error: std::io::Error) -> TableError {
        TableError::file(path, error)
    }
}

/// A slice of a feature table, as its engine holds it.
pub enum Batch {
    Arrow(RecordBatch),
    Rows(Vec<JsonRow>),
}

impl Batch {
    pub fn num_rows(&self) -> usize {
        match self {
            Batch::Arrow(batch) => batch.num_rows(),
            Batch::Rows(rows) => rows.len(),
        }
    }

    /// The values of column `name` as keys (strings as written, numbers in
    /// their text form, nulls as `None`).
    pub fn key_texts(&self, name: &str) -> Vec<Option<String>> {
        match self {
            Batch::Arrow(batch) => arrow_io::column_as_text(batch, name),
            Batch::Rows(rows) => rows.iter().map(|row| row.key_text(name)).collect(),
        }
    }

    /// The same keys as [`Batch::key_texts`], borrowed where the batch
    /// already holds them as text: an Arrow string column is read in place
    /// instead of copied into one `String` per row.
    pub fn key_column(&self, name: &str) -> KeyColumn {
        match self {
            Batch::Arrow(batch) => match arrow_io::column_as_string_array(batch, name) {
                Some(array) => KeyColumn::Arrow(array),
                None => KeyColumn::Owned(vec![None; batch.num_rows()]),
            },
            Batch::Rows(rows) => {
                KeyColumn::Owned(rows.iter().map(|row| row.key_text(name)).collect())
            }
        }
    }
}

/// One column of a batch as keys; see [`Batch::key_column`].
pub enum KeyColumn {
    /// An Arrow column as text (cast once when it held numbers).
    Arrow(arrow::array::StringArray),
    /// Keys taken out of JSON or CSV rows.
    Owned(Vec<Option<String>>),
}

impl KeyColumn {
    /// The key of `row`; `None` for a null (or a value that is no key).
    pub fn get(&self, row: usize) -> Option<&str> {
        match self {
            KeyColumn::Arrow(array) => {
                use arrow::array::Array;
                array.is_valid(row).then(|| array.value(row))
            }
            KeyColumn::Owned(keys) => keys[row].as_deref(),
        }
    }

    /// How many rows the column has.
    pub fn len(&self) -> usize {
        match self {
            KeyColumn::Arrow(array) => arrow::array::Array::len(array),
            KeyColumn::Owned(keys) => keys.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The values of one added column for one batch.
pub enum ColumnValues {
    Float(Vec<Option<f64>>),
    Int(Vec<i64>),
    /// A status or a source path repeats on every row: rows hold a code
    /// into a few distinct strings, not a string each.
    Text(TextColumn),
}

/// Text values as codes into a table of distinct strings.
pub struct TextColumn {
    /// The distinct strings.
    pub strings: Vec<std::sync::Arc<str>>,
    /// Per row, the index of its string in `strings`.
    pub codes: Vec<u32>,
}

impl TextColumn {
    /// The string of `row`.
    pub fn get(&self, row: usize) -> &str {
        &self.strings[self.codes[row] as usize]
    }
}

/// The type of an added column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Float,
    Int,
    Text,
}

/// A column an export adds, declared before the first batch is written.
#[derive(Clone, Debug)]
pub struct AddedField {
    pub name: String,
    pub kind: ColumnKind,
}

/// Columns an export adds (or, with `--overwrite`, replaces), for one batch.
pub struct AddedColumns {
    pub names: Vec<String>,
    pub values: Vec<ColumnValues>,
}

/// Reads a feature table batch by batch.
pub struct TableReader {
    columns: Vec<String>,
    source: Source,
}

enum Source {
    Arrow(arrow_io::ArrowSource),
    Jsonl(json_rows::JsonlRows<BufReader<File>>),
    Document(std::vec::IntoIter<JsonRow>),
    Csv(csv_rows::CsvRows),
}

impl TableReader {
    /// Open `path` as `format`, in the engine that writing `out_format` needs.
    pub fn open(
        path: &Path,
        format: TableFormat,
        out_format: TableFormat,
    ) -> Result<TableReader, TableError> {
        let shown = path.display().to_string();
        let open = || File::open(path).map_err(|e| TableError::io(&shown, e));
        if format.is_columnar() || out_format.is_columnar() {
            let source = arrow_io::ArrowSource::open(path, format)?;
            let columns = source
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            return Ok(TableReader {
                columns,
                source: Source::Arrow(source),
            });
        }
        match format {
            TableFormat::Jsonl => {
                // Column names are the union of every row's members, in order
                // of first appearance; only a CSV output needs them up front.
                let columns = if out_format == TableFormat::Csv {
                    let mut scan = json_rows::JsonlRows::new(BufReader::new(open()?), &shown);
                    let mut columns = ColumnUnion::default();
                    loop {
                        let rows = scan.next_batch(BATCH_ROWS)?;
                        if rows.is_empty() {
                            break;
                        }
                        rows.iter().for_each(|row| columns.add(row));
                    }
                    columns.names
                } else {
                    Vec::new()
                };
                Ok(TableReader {
                    columns,
                    source: Source::Jsonl(json_rows::JsonlRows::new(
                        BufReader::new(open()?),
                        &shown,
                    )),
                })
            }
            TableFormat::Json => {
                let bytes = std::fs::read(path).map_err(|e| TableError::io(&shown, e))?;
                let rows = json_rows::read_json_document(&bytes, &shown)?;
                let mut columns = ColumnUnion::default();
                rows.iter().for_each(|row| columns.add(row));
                Ok(TableReader {
                    columns: columns.names,
                    source: Source::Document(rows.into_iter()),
                })
            }
            TableFormat::Csv => {
                let rows = csv_rows::CsvRows::open(path)?;
                Ok(TableReader {
                    columns: rows.header().to_vec(),
                    source: Source::Csv(rows),
                })
            }
            TableFormat::Parquet | TableFormat::ArrowIpc => {
                unreachable!("columnar tables are read through Arrow")
            }
        }
    }

    /// A table handed over as Arrow batches of `schema` (a caller's table
    /// in memory), named `shown` in messages: read through the Arrow
    /// engine, every batch as it comes, its buffers shared, not copied.
    pub fn from_arrow(
        schema: arrow::datatypes::SchemaRef,
        batches: BatchIterator,
        shown: &str,
    ) -> TableReader {
        TableReader {
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            source: Source::Arrow(arrow_io::ArrowSource::from_batches(schema, batches, shown)),
        }
    }

    /// Column names known before reading (every column for parquet, Arrow
    /// IPC, CSV and `.json`; for JSON Lines only when a CSV is written, since
    /// rows may differ and are only known as they stream).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Whether every column name is known up front.
    pub fn columns_known(&self) -> bool {
        !matches!(self.source, Source::Jsonl(_)) || !self.columns.is_empty()
    }

    /// The next batch, or `None` at the end of the table.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, TableError> {
        let batch = match &mut self.source {
            Source::Arrow(source) => source.next_batch()?.map(Batch::Arrow),
            Source::Jsonl(rows) => Some(rows.next_batch(BATCH_ROWS)?)
                .filter(|r| !r.is_empty())
                .map(Batch::Rows),
            Source::Document(rows) => Some(rows.by_ref().take(BATCH_ROWS).collect::<Vec<_>>())
                .filter(|r| !r.is_empty())
                .map(Batch::Rows),
            Source::Csv(rows) => Some(rows.next_batch(BATCH_ROWS)?)
                .filter(|r| !r.is_empty())
                .map(Batch::Rows),
        };
        Ok(batch)
    }

    /// The Arrow schema, for columnar engines.
    pub fn arrow_schema(&self) -> Option<arrow::datatypes::SchemaRef> {
        match &self.source {
            Source::Arrow(source) => Some(source.schema()),
            _ => None,
        }
    }
}

/// Column names in order of first appearance over rows.
#[derive(Default)]
pub struct ColumnUnion {
    names: Vec<String>,
    seen: std::collections::HashSet<String>,
}

impl ColumnUnion {
    /// Take in the names of `row`'s members.
    pub fn add(&mut self, row: &JsonRow) {
        for (name, _) in &row.members {
            if !self.seen.contains(name) {
                self.seen.insert(name.clone());
                self.names.push(name.clone());
            }
        }
    }

    /// The names, in order of first appearance.
    pub fn into_names(self) -> Vec<String> {
        self.names
    }
}

/// Writes the output table. `added` names the columns of every batch; a name
/// that is already a column of the input replaces it in place.
pub enum TableWriter<W: Write + Send + 'static> {
    Arrow(arrow_io::ArrowSink<W>),
    Rows(RowsSink<W>),
}

/// The text-engine writer.
pub struct RowsSink<W: Write + Send + 'static> {
    inner: RowsSinkKind<W>,
    content: content_digest::ContentDigest,
    /// The output's path, for messages.
    path: String,
}

#[allow(clippy::large_enum_variant)] // one writer per export: size does not matter
enum RowsSinkKind<W: Write + Send + 'static> {
    Json(json_rows::JsonRowsWriter<W>),
    Csv(csv_rows::CsvRowsWriter<W>),
}

impl<W: Write + Send + 'static> TableWriter<W> {
    /// A writer of `format` for what `reader` yields, adding `added`.
    pub fn new(
        out: W,
        format: TableFormat,
        reader: &TableReader,
        added: &[AddedField],
        path: &str,
        csv_safe: bool,
    ) -> Result<Self, TableError> {
        if let Some(schema) = reader.arrow_schema() {
            return Ok(TableWriter::Arrow(arrow_io::ArrowSink::new(
                out, format, &schema, added, path, csv_safe,
            )?));
        }
        let inner = match format {
            TableFormat::Jsonl => RowsSinkKind::Json(
                json_rows::JsonRowsWriter::new(out, false).map_err(|e| TableError::io(path, e))?,
            ),
            TableFormat::Json => RowsSinkKind::Json(
                json_rows::JsonRowsWriter::new(out, true).map_err(|e| TableError::io(path, e))?,
            ),
            TableFormat::Csv => {
                let mut header = reader.columns().to_vec();
                for field in added {
                    if !header.contains(&field.name) {
                        header.push(field.name.clone());
                    }
                }
                RowsSinkKind::Csv(
                    csv_rows::CsvRowsWriter::new(out, header, csv_safe)
                        .map_err(|e| TableError::file(path, e))?,
                )
            }
            TableFormat::Parquet | TableFormat::ArrowIpc => {
                unreachable!("columnar outputs read through Arrow")
            }
        };
        Ok(TableWriter::Rows(RowsSink {
            inner,
            content: content_digest::ContentDigest::rows(),
            path: path.to_string(),
        }))
    }

    /// A writer that makes the batches of a table of `schema` read
    /// through Arrow, adding `added`, and encodes no file: for batches
    /// handed back in memory that nothing hashes.
    pub fn unencoded(
        out: W,
        schema: &arrow::datatypes::SchemaRef,
        added: &[AddedField],
        path: &str,
    ) -> Result<Self, TableError> {
        arrow_io::ArrowSink::unencoded(out, schema, added, path).map(TableWriter::Arrow)
    }

    /// A writer of `format` for Arrow batches of `schema` (a table made
    /// here, not read: `export --scores-only`).
    pub fn for_schema(
        out: W,
        format: TableFormat,
        schema: &arrow::datatypes::SchemaRef,
        path: &str,
        csv_safe: bool,
    ) -> Result<Self, TableError> {
        Ok(TableWriter::Arrow(arrow_io::ArrowSink::new(
            out,
            format,
            schema,
            &[],
            path,
            csv_safe,
        )?))
    }

    /// The schema of the batches written, for the Arrow engine.
    pub fn arrow_schema(&self) -> Option<arrow::datatypes::SchemaRef> {
        match self {
            TableWriter::Arrow(sink) => Some(sink.schema()),
            TableWriter::Rows(_) => None,
        }
    }

    /// Write the rows of `batch` whose `keep` flag is set, with `added`;
    /// answers the Arrow batch written, if the Arrow engine wrote one.
    pub fn write(
        &mut self,
        batch: Batch,
        added: &AddedColumns,
        keep: &[bool],
    ) -> Result<Option<RecordBatch>, TableError> {
        match (self, batch) {
            (TableWriter::Arrow(sink), Batch::Arrow(batch)) => {
                sink.write(&batch, added, keep).map(Some)
            }
            (TableWriter::Rows(sink), Batch::Rows(rows)) => {
                for (index, mut row) in rows.into_iter().enumerate() {
                    if !keep[index] {
                        continue;
                    }
                    for (name, values) in added.names.iter().zip(&added.values) {
                        row.set(name, json_value(values, index));
                    }
                    sink.content.add_row(&row);
                    match &mut sink.inner {
                        RowsSinkKind::Json(writer) => writer.write_row(&row),
                        RowsSinkKind::Csv(writer) => {
                            writer.write_row(&row).map_err(std::io::Error::other)
                        }
                    }
                    .map_err(|e| TableError::io(&sink.path, e))?;
                }
                Ok(None)
            }
            _ => unreachable!("reader and writer engines are chosen together"),
        }
    }

    /// Flush everything; returns the underlying writer and the content
    /// digest of the table written ([`content_digest`]).
    pub fn finish(self) -> Result<(W, String), TableError> {
        match self {
            TableWriter::Arrow(sink) => sink.finish(),
            TableWriter::Rows(RowsSink {
                inner,
                content,
                path,
            }) => {
                let out = match inner {
                    RowsSinkKind::Json(writer) => {
                        writer.finish().map_err(|e| TableError::io(&path, e))
                    }
                    RowsSinkKind::Csv(writer) => {
                        writer.finish().map_err(|e| TableError::file(&path, e))
                    }
                }?;
                Ok((out, content.finish()))
            }
        }
    }
}

/// One added value as JSON text: floats keep a decimal point (`64.0`),
/// missing values are `null`.
fn json_value(values: &ColumnValues, index: usize) -> Box<serde_json::value::RawValue> {
    let text = match values {
        ColumnValues::Float(v) => match v[index] {
            Some(x) if x.is_finite() => serde_json::to_string(&x).expect("finite float"),
            _ => "null".to_string(),
        },
        ColumnValues::Int(v) => v[index].to_string(),
        ColumnValues::Text(v) => serde_json::to_string(v.get(index)).expect("string"),
    };
    serde_json::value::RawValue::from_string(text).expect("valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension_and_name() {
        assert_eq!(
            TableFormat::from_path(Path::new("a.PQ")),
            Some(TableFormat::Parquet)
        );
        assert_eq!(
            TableFormat::from_path(Path::new("a.feather")),
            Some(TableFormat::ArrowIpc)
        );
        assert_eq!(
            TableFormat::from_path(Path::new("a.ndjson")),
            Some(TableFormat::Jsonl)
        );
        assert_eq!(TableFormat::from_path(Path::new("a.txt")), None);
        for format in TableFormat::ALL {
            assert_eq!(TableFormat::from_name(format.name()), Some(*format));
        }
        assert_eq!(TableFormat::from_name("ipc"), Some(TableFormat::ArrowIpc));
    }

    #[test]
    fn added_values_as_json() {
        let floats = ColumnValues::Float(vec![Some(64.0), None, Some(f64::NAN)]);
        assert_eq!(json_value(&floats, 0).get(), "64.0");
        assert_eq!(json_value(&floats, 1).get(), "null");
        assert_eq!(json_value(&floats, 2).get(), "null");
        assert_eq!(
            json_value(
                &ColumnValues::Text(TextColumn {
                    strings: vec!["ok".into(), "a\"b".into()],
                    codes: vec![1]
                }),
                0
            )
            .get(),
            "\"a\\\"b\""
        );
    }
}
