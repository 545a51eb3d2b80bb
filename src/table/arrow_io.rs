//! The Arrow engine: columnar tables (parquet, Arrow IPC) read and written
//! as record batches with their schema and metadata (pandas' index metadata
//! included), and text tables converted to or from Arrow when the other side
//! is columnar.

use std::fs::File;
use std::io::{BufReader, Cursor, Seek, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, StringBuilder,
};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::json::writer::{JsonArray, LineDelimited};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::schema::types::ColumnPath;

use super::content_digest::ContentDigest;
use super::ipc_layout;
use super::json_decode::ParallelJsonBatches;
use super::json_shape::{row_shape, Shape};
use super::parquet_out::ParallelParquetWriter;
use crate::contained::contain;
use crate::threads::Background;

use super::{
    json_rows, AddedColumns, AddedField, ColumnKind, ColumnUnion, ColumnValues, TableError,
    TableFormat, BATCH_BYTES, BATCH_ROWS,
};

/// A table read as Arrow record batches.
pub struct ArrowSource {
    schema: SchemaRef,
    batches: BatchIterator,
    path: String,
}

impl ArrowSource {
    pub fn open(path: &Path, format: TableFormat) -> Result<ArrowSource, TableError> {
        let shown = path.display().to_string();
        let (schema, batches) = contain(|| open_batches(path, format, &shown))
            .map_err(|panic| damaged(&shown, panic))??;
        Ok(ArrowSource {
            schema,
            batches,
            path: shown,
        })
    }

    /// Batches already in memory (an Arrow stream handed over by a
    /// caller), named `shown` in messages.
    pub fn from_batches(schema: SchemaRef, batches: BatchIterator, shown: &str) -> ArrowSource {
        ArrowSource {
            schema,
            batches,
            path: shown.to_string(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>, TableError> {
        contain(|| self.batches.next())
            .map_err(|panic| damaged(&self.path, panic))?
            .transpose()
            .map_err(|e| TableError::file(&self.path, e))
    }
}

/// The schema and batches of `path` read as `format`, `shown` in messages.
fn open_batches(path: &Path, format: TableFormat, shown: &str) -> Result<Batches, TableError> {
    let fail = |e: &dyn std::fmt::Display| TableError::file(shown, e);
    let file = File::open(path).map_err(|e| TableError::io(shown, e))?;
    let batches: Batches = match format {
        TableFormat::Parquet => {
            let builder = SizedFile::new(file)
                .and_then(ParquetRecordBatchReaderBuilder::try_new)
                .map_err(|e| fail(&e))?;
            let schema = builder.schema().clone();
            let rows = batch_rows(&schema);
            let reader: ParquetRecordBatchReader = builder
                .with_batch_size(rows)
                .build()
                .map_err(|e| fail(&e))?;
            (schema, Box::new(reader))
        }
        TableFormat::ArrowIpc => {
            let mut file = file;
            ipc_layout::check(&mut file).map_err(|e| fail(&e))?;
            let reader = FileReader::try_new(file, None).map_err(|e| fail(&e))?;
            (reader.schema(), Box::new(reader))
        }
        TableFormat::Jsonl => {
            let mut input = BufReader::with_capacity(1 << 20, file);
            let (schema, lines) = infer_json(&mut input, shown)?;
            json_batches(input, schema, lines, shown)?
        }
        TableFormat::Json => {
            let bytes = std::fs::read(path).map_err(|e| TableError::io(shown, e))?;
            let rows = json_rows::read_json_document(&bytes, shown)?;
            let mut lines = Vec::with_capacity(bytes.len());
            for row in &rows {
                row.write_to(&mut lines)
                    .map_err(|e| TableError::io(shown, e))?;
                lines.push(b'\n');
            }
            let mut input = Cursor::new(lines);
            let (schema, lines) = infer_json(&mut input, shown)?;
            json_batches(input, schema, lines, shown)?
        }
        TableFormat::Csv => {
            let mut file = file;
            let format = arrow::csv::reader::Format::default().with_header(true);
            let (schema, _) = format.infer_schema(&mut file, None).map_err(|e| fail(&e))?;
            file.rewind().map_err(|e| TableError::io(shown, e))?;
            let schema = keep_leading_zeros_as_text(schema, path, shown)?;
            let rows = batch_rows(&schema);
            let reader = arrow::csv::ReaderBuilder::new(Arc::new(schema))
                .with_format(format)
                .with_batch_size(rows)
                .build(file)
                .map_err(|e| fail(&e))?;
            (reader.schema(), Box::new(reader))
        }
    };
    Ok(batches)
}

/// A parquet file whose reads are checked against its size: parquet reads a
/// column chunk or the metadata into a buffer of the length the file's
/// metadata gives, reserved before reading, so a damaged length would be a
/// request for petabytes (an abort) instead of an error.
struct SizedFile {
    file: File,
    size: u64,
}

impl SizedFile {
    fn new(file: File) -> Result<SizedFile, ParquetError> {
        let size = file
            .metadata()
            .map_err(|e| ParquetError::External(Box::new(e)))?
            .len();
        Ok(SizedFile { file, size })
    }
}

impl Length for SizedFile {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for SizedFile {
    type T = <File as ChunkReader>::T;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        self.file.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let end = start.checked_add(length as u64);
        if end.is_none_or(|end| end > self.size) {
            return Err(ParquetError::EOF(format!(
                "{length} bytes at offset {start} lie past the end of the file ({} bytes)",
                self.size
            )));
        }
        self.file.get_bytes(start, length)
    }
}

/// A reader that panicked on damaged data, as the error it stands for.
fn damaged(path: &str, panic: String) -> TableError {
    TableError::file(
        path,
        format!("the table is damaged: its reader stopped with \"{panic}\""),
    )
}

/// Infer the schema of JSON Lines, then rewind. Arrow's inference lists
/// the members sorted by name; the columns are put back in the order in
/// which they first appear in the rows.
///
/// One pass parses each row once for both the types and the order. A table
/// it does not take as plain (a byte-order mark, a line that is not a JSON
/// object, non-finite words, invalid UTF-8, anything Arrow refuses) is
/// inferred the original way, in two passes, so such tables fail, or are
/// read, exactly as before.
///
/// Answers the schema and whether the one pass took the table: then every
/// line that is not blank is one JSON object, one row.
fn infer_json<R: std::io::BufRead + Seek>(
    input: &mut R,
    path: &str,
) -> Result<(Schema, RowLines), TableError> {
    let one_pass = infer_json_one_pass(&mut *input);
    input.rewind().map_err(|e| TableError::io(path, e))?;
    if let Some((schema, order)) = one_pass {
        return Ok((ordered_schema(&schema, &order), RowLines::OneObjectEach));
    }
    Ok((infer_json_two_passes(input, path)?, RowLines::Unchecked))
}

/// What the schema's inference found of a JSON Lines table's lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowLines {
    /// Each line is blank or one JSON object (a row).
    OneObjectEach,
    /// Not known: the table is read by Arrow's reader alone, as it was.
    Unchecked,
}

/// The columns of `schema`, in `order`.
fn ordered_schema(schema: &Schema, order: &[String]) -> Schema {
    let fields: Vec<Arc<Field>> = order
        .iter()
        .filter_map(|name| schema.field_with_name(name).ok())
        .map(|field| Arc::new(field.clone()))
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// Arrow's schema and the first-appearance order of the members from one
/// parse of each line; `None` when the table needs the two-pass path.
fn infer_json_one_pass<R: std::io::BufRead>(input: &mut R) -> Option<(Schema, Vec<String>)> {
    let mut order = MemberOrder::default();
    let mut shape = Vec::new();
    let mut seen_shapes: rustc_hash::FxHashSet<Vec<u8>> = Default::default();
    // No row has this shape (a name's 0xFF is always followed by a kind).
    let mut last_shape = vec![0xFF];
    let mut plain = true;
    let mut line = Vec::new();
    let mut first = true;
    let values = std::iter::from_fn(|| {
        if !plain {
            return None;
        }
        loop {
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(_) => {
                    plain = false;
                    return None;
                }
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                plain = false;
                return None;
            };
            if std::mem::take(&mut first) && text.starts_with('\u{feff}') {
                plain = false;
                return None;
            }
            let trimmed = text.trim();
            if trimmed.is_empty() {
                if text.bytes().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                plain = false;
                return None;
            }
            // A row whose member names and value kinds were all seen
            // together before changes neither the types nor the order.
            // Most rows repeat the row before: compared, not hashed.
            match row_shape(trimmed, &mut shape) {
                Some(Shape::Scalars) if shape == last_shape => continue,
                Some(Shape::Scalars) if seen_shapes.contains(&shape) => {
                    std::mem::swap(&mut shape, &mut last_shape);
                    continue;
                }
                Some(kind) => {
                    if kind == Shape::Scalars {
                        seen_shapes.insert(shape.clone());
                        last_shape.clone_from(&shape);
                    }
                }
                None => {
                    plain = false;
                    return None;
                }
            }
            match parse_ordered_object(trimmed, &mut order) {
                Some(object) => return Some(Ok(serde_json::Value::Object(object))),
                None => {
                    plain = false;
                    return None;
                }
            }
        }
    });
    let schema = arrow::json::reader::infer_json_schema_from_iterator(values).ok();
    match (plain, schema) {
        (true, Some(schema)) => Some((schema, order.names)),
        _ => None,
    }
}

/// Member names in order of first appearance, cheap when rows repeat the
/// same members in the same order (a row's n-th member is compared with the
/// n-th name known before any set is looked at).
#[derive(Default)]
struct MemberOrder {
    names: Vec<String>,
    seen: rustc_hash::FxHashSet<String>,
}

impl MemberOrder {
    fn note(&mut self, name: &str, position: usize) {
        if self.names.get(position).is_some_and(|known| known == name) {
            return;
        }
        if !self.seen.contains(name) {
            self.seen.insert(name.to_string());
            self.names.push(name.to_string());
        }
    }
}

/// Parse one line that must be a JSON object into serde_json's map (what
/// Arrow's inference reads), noting its member names; `None` if it is not one.
fn parse_ordered_object(
    text: &str,
    order: &mut MemberOrder,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

    struct Ordered<'a>(&'a mut MemberOrder);

    impl<'de> DeserializeSeed<'de> for Ordered<'_> {
        type Value = serde_json::Map<String, serde_json::Value>;
        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Ordered<'_> {
        type Value = serde_json::Map<String, serde_json::Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = serde_json::Map::new();
            let mut position = 0;
            while let Some(name) = access.next_key::<String>()? {
                self.0.note(&name, position);
                position += 1;
                let value = access.next_value::<serde_json::Value>()?;
                map.insert(name, value);
            }
            Ok(map)
        }
    }

    if !text.starts_with('{') {
        return None;
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let object = Ordered(order).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(object)
}

/// The original inference: Arrow's pass for the types, a second pass over
/// the rows for the order.
fn infer_json_two_passes<R: std::io::BufRead + Seek>(
    input: &mut R,
    path: &str,
) -> Result<Schema, TableError> {
    let (schema, _) = arrow::json::reader::infer_json_schema(&mut *input, None)
        .map_err(|e| TableError::file(path, e))?;
    input.rewind().map_err(|e| TableError::io(path, e))?;
    let mut order = ColumnUnion::default();
    let mut rows = json_rows::JsonlRows::new(&mut *input, path);
    loop {
        let batch = rows.next_batch(BATCH_ROWS)?;
        if batch.is_empty() {
            break;
        }
        batch.iter().for_each(|row| order.add(row));
    }
    input.rewind().map_err(|e| TableError::io(path, e))?;
    Ok(ordered_schema(&schema, &order.names))
}

/// Arrow's CSV inference reads `001` as the integer 1. A number spelled with
/// leading zeros is an identifier (a clip key, a code): keep such columns as
/// text, so the value and the key survive.
fn keep_leading_zeros_as_text(
    schema: Schema,
    path: &Path,
    shown: &str,
) -> Result<Schema, TableError> {
    let numeric: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).data_type().is_numeric())
        .collect();
    if numeric.is_empty() {
        return Ok(schema);
    }
    let mut text = vec![false; schema.fields().len()];
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| TableError::file(shown, e))?;
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| TableError::file(shown, e))?
    {
        for &i in &numeric {
            if !text[i] && record.get(i).is_some_and(has_leading_zero) {
                text[i] = true;
            }
        }
    }
    let fields: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .zip(&text)
        .map(|(field, &text)| match text {
            true => Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8)),
            false => field.clone(),
        })
        .collect();
    Ok(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `007`, `-01`: an integer part with a leading zero (`0`, `0.5` have none).
fn has_leading_zero(cell: &str) -> bool {
    let digits = cell.trim().trim_start_matches(['-', '+']).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

/// Rows per batch for a table of `schema`: [`BATCH_ROWS`], or fewer when
/// that many rows of its columns would pass [`BATCH_BYTES`] (a table a
/// hundred text columns wide), so memory follows a batch, not the
/// table's width times 65,536 rows.
pub(crate) fn batch_rows(schema: &Schema) -> usize {
    (BATCH_BYTES / row_bytes(schema)).clamp(1024, BATCH_ROWS)
}

/// Rows per parquet row group written: [`ROW_GROUP_ROWS`], or fewer when
/// that many rows would pass [`ROW_GROUP_BYTES`]. The writer holds a row
/// group's encoded pages until it is complete, so for a wide table of text
/// a row-count limit alone costs most of a gigabyte; tables of up to about
/// a thousand bytes a row (every measured feature table) keep
/// [`ROW_GROUP_ROWS`].
fn row_group_rows(schema: &Schema) -> usize {
    (ROW_GROUP_BYTES / row_bytes(schema)).clamp(8192, ROW_GROUP_ROWS)
}

/// Rows per parquet row group, at most.
const ROW_GROUP_ROWS: usize = 1 << 17;

/// What a row group written may hold, roughly (see [`row_group_rows`]).
const ROW_GROUP_BYTES: usize = 128 << 20;

/// The bytes a row of `schema` takes in Arrow, roughly: fixed-width values
/// their width, text and other variable-width values 36 (a value of 32
/// bytes and its offset). Worked out from the schema alone, so a table is
/// always cut into the same batches and row groups.
fn row_bytes(schema: &Schema) -> usize {
    let bytes: usize = schema
        .fields()
        .iter()
        .map(|field| field.data_type().primitive_width().unwrap_or(36))
        .sum();
    bytes.max(1)
}

/// Record batches as a reader yields them; `Send`, so a table can be
/// opened on one thread and read on another.
pub type BatchIterator =
    Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>> + Send>;

type Batches = (SchemaRef, BatchIterator);

/// The batches of JSON Lines `input` read as `schema`: decoded on two
/// threads when there are two cores and each line is known to be a row
/// ([`super::json_decode`]), else by Arrow's reader.
fn json_batches<R: std::io::BufRead + Send + 'static>(
    input: R,
    schema: Schema,
    lines: RowLines,
    path: &str,
) -> Result<Batches, TableError> {
    let rows = batch_rows(&schema);
    let schema = Arc::new(schema);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if lines == RowLines::OneObjectEach && cores >= 2 {
        let batches = ParallelJsonBatches::new(input, schema.clone(), rows)
            .map_err(|e| TableError::file(path, e))?;
        return Ok((schema, Box::new(batches)));
    }
    let reader = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows)
        .build(input)
        .map_err(|e| TableError::file(path, e))?;
    Ok((schema, Box::new(reader)))
}

/// Column `name` of `batch` as key texts.
pub fn column_as_text(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    match column_as_string_array(batch, name) {
        Some(text) => text.iter().map(|value| value.map(str::to_string)).collect(),
        None => vec![None; batch.num_rows()],
    }
}

/// Column `name` of `batch` as a string array (cast when it is not text);
/// `None` when there is no such column or it cannot be cast.
pub fn column_as_string_array(batch: &RecordBatch, name: &str) -> Option<StringArray> {
    let column = batch.column_by_name(name)?;
    let text = match column.data_type() {
        DataType::Utf8 => column.clone(),
        _ => cast(column, &DataType::Utf8).ok()?,
    };
    Some(
        text.as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8")
            .clone(),
    )
}

/// Writes record batches with the added columns, in any table format.
pub struct ArrowSink<W: Write + Send + 'static> {
    /// The output's path, for messages.
    path: String,
    schema: SchemaRef,
    /// For each output column: the input column index, or the added column index.
    layout: Vec<Slot>,
    writer: Writer<W>,
    content: ContentDigest,
    /// `--csv-safe` on a CSV output: the schema the cells are written
    /// under (names made safe, text columns plain strings).
    csv_safe: Option<SchemaRef>,
}

#[derive(Clone, Copy)]
enum Slot {
    Input(usize),
    Added(usize),
}

#[allow(clippy::large_enum_variant)] // one writer per export: size does not matter
enum Writer<W: Write + Send + 'static> {
    Parquet(Box<ParallelParquetWriter<W>>),
    Ipc(FileWriter<W>),
    IpcThread(IpcThread<W>),
    Jsonl(arrow::json::Writer<W, LineDelimited>),
    Json(arrow::json::Writer<W, JsonArray>),
    Csv(arrow::csv::Writer<W>),
    /// Batches handed back in memory and not hashed: no bytes to make.
    Unencoded(W),
}

impl<W: Write + Send + 'static> ArrowSink<W> {
    /// A sink writing `format` to `out`.
    pub fn new(
        out: W,
        format: TableFormat,
        input: &SchemaRef,
        added: &[AddedField],
        path: &str,
        csv_safe: bool,
    ) -> Result<Self, TableError> {
        ArrowSink::encoding(out, Some(format), input, added, path, csv_safe)
    }

    /// A sink that makes the batches (and their content digest) but
    /// encodes no file: for batches handed back that nothing hashes.
    pub fn unencoded(
        out: W,
        input: &SchemaRef,
        added: &[AddedField],
        path: &str,
    ) -> Result<Self, TableError> {
        ArrowSink::encoding(out, None, input, added, path, false)
    }

    fn encoding(
        mut out: W,
        format: Option<TableFormat>,
        input: &SchemaRef,
        added: &[AddedField],
        path: &str,
        csv_safe: bool,
    ) -> Result<Self, TableError> {
        let fail = |e: &dyn std::fmt::Display| TableError::file(path, e);
        let added_field = |field: &AddedField| {
            let (data_type, nullable) = match field.kind {
                ColumnKind::Float => (DataType::Float64, true),
                ColumnKind::Int => (DataType::Int64, false),
                ColumnKind::Text => (DataType::Utf8, false),
            };
            Arc::new(Field::new(&field.name, data_type, nullable))
        };
        let mut fields = Vec::with_capacity(input.fields().len() + added.len());
        let mut layout = Vec::with_capacity(fields.capacity());
        for (index, field) in input.fields().iter().enumerate() {
            match added.iter().position(|a| &a.name == field.name()) {
                Some(replaced) => {
                    fields.push(added_field(&added[replaced]));
                    layout.push(Slot::Added(replaced));
                }
                None => {
                    fields.push(field.clone());
                    layout.push(Slot::Input(index));
                }
            }
        }
        for (index, field) in added.iter().enumerate() {
            if input.field_with_name(&field.name).is_err() {
                fields.push(added_field(field));
                layout.push(Slot::Added(index));
            }
        }
        let schema = Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
        let writer = match format {
            None => Writer::Unencoded(out),
            Some(TableFormat::Parquet) => {
                // Dictionary encoding pays off for repeated values (keys,
                // statuses, sources) but hashes every value of a float
                // feature column for nothing: measured features rarely
                // repeat, so floats are written plain.
                let mut properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(row_group_rows(&schema)));
                for field in schema.fields() {
                    if matches!(
                        field.data_type(),
                        DataType::Float16 | DataType::Float32 | DataType::Float64
                    ) {
                        properties = properties.set_column_dictionary_enabled(
                            ColumnPath::from(field.name().as_str()),
                            false,
                        );
                    }
                }
                let properties = properties.build();
                Writer::Parquet(Box::new(
                    ParallelParquetWriter::try_new(out, schema.clone(), properties)
                        .map_err(|e| fail(&e))?,
                ))
            }
            Some(TableFormat::ArrowIpc) => {
                let writer = FileWriter::try_new(out, &schema).map_err(|e| fail(&e))?;
                if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
                    Writer::Ipc(writer)
                } else {
                    Writer::IpcThread(IpcThread::start(writer))
                }
            }
            Some(TableFormat::Jsonl) => Writer::Jsonl(
                arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<W, LineDelimited>(out),
            ),
            Some(TableFormat::Json) => {
                out.write_all(b"{\"rows\": ").map_err(|e| fail(&e))?;
                Writer::Json(
                    arrow::json::WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<W, JsonArray>(out),
                )
            }
            Some(TableFormat::Csv) => Writer::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
        };
        let csv_safe =
            (csv_safe && format == Some(TableFormat::Csv)).then(|| csv_safe_schema(&schema));
        Ok(ArrowSink {
            path: path.to_string(),
            content: ContentDigest::arrow(csv_safe.as_ref().unwrap_or(&schema)),
            schema,
            layout,
            writer,
            csv_safe,
        })
    }

    /// The schema of the batches written.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Write the rows of `batch` whose `keep` flag is set, with `added`;
    /// answers the batch written (it shares `batch`'s column buffers).
    pub fn write(
        &mut self,
        batch: &RecordBatch,
        added: &AddedColumns,
        keep: &[bool],
    ) -> Result<RecordBatch, TableError> {
        let fail = |e: &dyn std::fmt::Display| TableError::file(&self.path, e);
        let columns: Vec<ArrayRef> = self
            .layout
            .iter()
            .map(|slot| match *slot {
                Slot::Input(index) => batch.column(index).clone(),
                Slot::Added(index) => added_array(&added.values[index]),
            })
            .collect();
        let mut out = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| fail(&e))?;
        if keep.iter().any(|k| !k) {
            out = filter_record_batch(&out, &BooleanArray::from(keep.to_vec()))
                .map_err(|e| fail(&e))?;
        }
        if let Some(schema) = &self.csv_safe {
            out = csv_safe_batch(&out, schema).map_err(|e| fail(&e))?;
        }
        self.content.add_batch(&out);
        match &mut self.writer {
            Writer::Parquet(w) => w.write(&out).map_err(|e| fail(&e)),
            Writer::Ipc(w) => w.write(&out).map_err(|e| fail(&e)),
            Writer::IpcThread(w) => w.write(out.clone()).map_err(|e| fail(&e)),
            Writer::Unencoded(_) => Ok(()),
            Writer::Jsonl(w) => w.write(&out).map_err(|e| fail(&e)),
            Writer::Json(w) => w.write(&out).map_err(|e| fail(&e)),
            Writer::Csv(w) => w.write(&out).map_err(|e| fail(&e)),
        }?;
        Ok(out)
    }

    /// Finish the table; returns the underlying writer and the content
    /// digest of what was written.
    pub fn finish(self) -> Result<(W, String), TableError> {
        let fail = |e: &dyn std::fmt::Display| TableError::file(&self.path, e);
        let content = self.content.finish();
        let out = match self.writer {
            Writer::Parquet(w) => w.into_inner().map_err(|e| fail(&e)),
            Writer::Ipc(mut w) => {
                w.finish().map_err(|e| fail(&e))?;
                w.into_inner().map_err(|e| fail(&e))
            }
            Writer::IpcThread(w) => w.finish().map_err(|e| fail(&e)),
            Writer::Unencoded(w) => Ok(w),
            Writer::Jsonl(mut w) => {
                w.finish().map_err(|e| fail(&e))?;
                Ok(w.into_inner())
            }
            Writer::Json(mut w) => {
                w.finish().map_err(|e| fail(&e))?;
                let mut out = w.into_inner();
                out.write_all(b"}\n").map_err(|e| fail(&e))?;
                Ok(out)
            }
            Writer::Csv(w) => Ok(w.into_inner()),
        }?;
        Ok((out, content))
    }
}

/// An Arrow IPC file encoded (and, through its writer, hashed and
/// written) on a thread of its own, fed the batches as they are made:
/// encoding and hashing a large output cost about a third of the export
/// thread's time otherwise. A batch shares its buffers with the one the
/// export hands on, so nothing is copied; the bytes are those the writer
/// would write here, in the same order.
struct IpcThread<W: Write + Send + 'static> {
    batches: Option<SyncSender<RecordBatch>>,
    /// `None` once a failed write has taken its error.
    worker: Option<Background<Result<W, ArrowError>>>,
}

impl<W: Write + Send + 'static> IpcThread<W> {
    fn start(mut writer: FileWriter<W>) -> Self {
        // Two batches ahead at most: memory follows a batch, not the table.
        let (batches, received) = sync_channel::<RecordBatch>(2);
        let worker = Background::start(move || {
            // Ends when the sink finishes (or is dropped on an error).
            for batch in received {
                writer.write(&batch)?;
            }
            writer.finish()?;
            writer.into_inner()
        });
        IpcThread {
            batches: Some(batches),
            worker: Some(worker),
        }
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), ArrowError> {
        if let Some(batches) = &self.batches {
            if batches.send(batch).is_ok() {
                return Ok(());
            }
        }
        // The thread stopped only at a write that failed: that error is
        // this write's.
        self.batches = None;
        match self.worker.take().map(Background::join) {
            Some(Err(e)) => Err(e),
            _ => Err(ArrowError::IpcError(
                "the Arrow IPC writer has stopped".to_string(),
            )),
        }
    }

    fn finish(mut self) -> Result<W, ArrowError> {
        self.batches = None;
        match self.worker.take() {
            Some(worker) => worker.join(),
            None => Err(ArrowError::IpcError(
                "the Arrow IPC writer has stopped".to_string(),
            )),
        }
    }
}

/// Whether a column holds text (`--csv-safe` looks at its cells).
fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// The schema a `--csv-safe` CSV is written under: formula-like names get
/// a `'`, text columns become plain strings (their cells are rewritten).
fn csv_safe_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .map(|field| {
            let data_type = if is_text(field.data_type()) {
                DataType::Utf8
            } else {
                field.data_type().clone()
            };
            Arc::new(Field::new(
                super::csv_safe::safe_cell(field.name()).as_ref(),
                data_type,
                field.is_nullable(),
            ))
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with every formula-like text cell prefixed by `'`, under
/// `schema` ([`csv_safe_schema`]).
fn csv_safe_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .map(|column| {
            if !is_text(column.data_type()) {
                return Ok(column.clone());
            }
            let text = cast(column, &DataType::Utf8)?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8 gives a StringArray");
            let safe: StringArray = text
                .iter()
                .map(|cell| cell.map(super::csv_safe::safe_cell))
                .collect();
            Ok(Arc::new(safe) as ArrayRef)
        })
        .collect::<Result<Vec<_>, arrow::error::ArrowError>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

fn added_array(values: &ColumnValues) -> ArrayRef {
    match values {
        ColumnValues::Float(v) => Arc::new(v.iter().copied().collect::<Float64Array>()),
        ColumnValues::Int(v) => Arc::new(Int64Array::from_iter_values(v.iter().copied())),
        ColumnValues::Text(v) => {
            // Sized up front: a source column repeats a long path on every
            // row, and growing its buffer by doubling copied it over and
            // over into freshly faulted pages.
            let bytes = v
                .codes
                .iter()
                .map(|code| v.strings[*code as usize].len())
                .sum();
            let mut column = StringBuilder::with_capacity(v.codes.len(), bytes);
            for code in &v.codes {
                column.append_value(&*v.strings[*code as usize]);
            }
            Arc::new(column.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both_ways(text: &str) -> (Option<Schema>, Result<Schema, String>) {
        let mut input = Cursor::new(text.as_bytes().to_vec());
        let one =
            infer_json_one_pass(&mut input).map(|(schema, order)| ordered_schema(&schema, &order));
        let mut input = Cursor::new(text.as_bytes().to_vec());
        let two = infer_json_two_passes(&mut input, "t.jsonl").map_err(|e| e.to_string());
        (one, two)
    }

    /// Feature tables of numbers keep 65,536-row batches and 131,072-row
    /// row groups (the bytes written so far); a table a hundred text
    /// columns wide is cut finer, so memory does not follow its width.
    #[test]
    fn wide_tables_are_cut_into_smaller_batches_and_row_groups() {
        let table = |floats: usize, texts: usize| {
            let mut fields = vec![Field::new("src", DataType::Utf8, true)];
            fields
                .extend((0..floats).map(|i| Field::new(format!("f{i}"), DataType::Float64, true)));
            fields.extend((0..texts).map(|i| Field::new(format!("t{i}"), DataType::Utf8, true)));
            Schema::new(fields)
        };
        let features = table(40, 0);
        assert_eq!(batch_rows(&features), BATCH_ROWS);
        assert_eq!(row_group_rows(&features), ROW_GROUP_ROWS);
        let wide = table(0, 100);
        assert!(batch_rows(&wide) * row_bytes(&wide) <= BATCH_BYTES);
        assert!(batch_rows(&wide) < BATCH_ROWS / 4);
        assert!(row_group_rows(&wide) * row_bytes(&wide) <= ROW_GROUP_BYTES);
        assert!(row_group_rows(&wide) < ROW_GROUP_ROWS / 2);
        // However wide, a batch keeps at least a thousand rows.
        assert_eq!(batch_rows(&table(0, 100_000)), 1024);
    }

    #[test]
    fn one_pass_inference_matches_the_two_pass_one() {
        let text = "{\"z\": 1, \"a\": \"x\", \"n\": null}\n\n  \n{\"a\": \"y\", \"b\": 1.5, \"z\": 2.5, \"o\": {\"k\": [1]}}\r\n{\"c\": true, \"z\": 3, \"z\": 4}\n{\"z\": 7, \"a\": \"q\", \"n\": null}\n{\"z\": 9223372036854775808, \"a\": \"q\", \"n\": null}\n{\"o\": {\"k\": [1.5]}, \"d\": [1, 2]}\n{\"o\": {\"k\": [1.5]}, \"d\": [1, 2]}\n";
        let (one, two) = both_ways(text);
        let one = one.expect("a plain table takes one pass");
        assert_eq!(one, two.unwrap());
        let names: Vec<&str> = one.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["z", "a", "n", "b", "o", "c", "d"]);
    }

    #[test]
    fn unusual_tables_take_the_two_pass_path() {
        for text in [
            "\u{feff}{\"a\": 1}\n",
            "{\"a\": NaN}\n",
            "[1, 2]\n",
            "{\"a\": 1} x\n",
            "\u{a0}\n{\"a\": 1}\n",
        ] {
            assert!(both_ways(text).0.is_none(), "{text:?}");
        }
    }
}
