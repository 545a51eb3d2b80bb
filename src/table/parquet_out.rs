//! A parquet writer that encodes on other threads than the caller's.
//!
//! It does what `parquet::arrow::ArrowWriter` does, step for step (the same
//! schema conversion, embedded Arrow schema, row-group splitting and column
//! writers), so the file is byte for byte the one `ArrowWriter` writes. The
//! batches are handed to an encoding thread (one batch may wait), so the
//! caller prepares the next batch meanwhile; that thread shares the
//! encoding of each batch's columns (and the closing of a row group's
//! column chunks) with a helper. Column chunks are appended in schema
//! order. Memory is what `ArrowWriter` holds, the encoded pages of the row
//! group in progress, plus the batches in flight.

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn,
    ArrowRowGroupWriterFactory,
};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

/// See the module documentation.
pub enum ParallelParquetWriter<W: Write + Send + 'static> {
    /// One core: encode on the caller's thread.
    Inline(Box<Encoder<W>>),
    Threaded {
        /// Batches to the encoding thread.
        batches: SyncSender<RecordBatch>,
        /// `None` once joined after a failure.
        encoding: Option<JoinHandle<Result<W>>>,
    },
}

impl<W: Write + Send + 'static> ParallelParquetWriter<W> {
    /// A writer of `arrow_schema` with `properties`, as `ArrowWriter::try_new`
    /// (its errors come from here, before any thread starts).
    pub fn try_new(out: W, arrow_schema: SchemaRef, properties: WriterProperties) -> Result<Self> {
        let mut encoder = Encoder::try_new(out, arrow_schema, properties)?;
        if !encoder.parallel {
            return Ok(ParallelParquetWriter::Inline(Box::new(encoder)));
        }
        let (batches, received) = sync_channel::<RecordBatch>(1);
        let encoding = std::thread::spawn(move || {
            for batch in received {
                encoder.write(&batch)?;
            }
            encoder.into_inner()
        });
        Ok(ParallelParquetWriter::Threaded {
            batches,
            encoding: Some(encoding),
        })
    }

    /// Encode `batch`, or hand it to the encoding thread. An encoding
    /// failure there shows at the next batch, or at `into_inner`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            ParallelParquetWriter::Inline(encoder) => encoder.write(batch),
            ParallelParquetWriter::Threaded { batches, encoding } => {
                if batches.send(batch.clone()).is_ok() {
                    return Ok(());
                }
                // The encoding thread stopped early: it failed.
                finished(encoding.take())?;
                Err(stopped())
            }
        }
    }

    /// Wait for the encoding to end; write the footer; return the output.
    pub fn into_inner(self) -> Result<W> {
        match self {
            ParallelParquetWriter::Inline(encoder) => encoder.into_inner(),
            ParallelParquetWriter::Threaded { batches, encoding } => {
                drop(batches);
                finished(encoding)
            }
        }
    }
}

/// The encoding thread's outcome (its panic goes on here).
fn finished<W>(encoding: Option<JoinHandle<Result<W>>>) -> Result<W> {
    match encoding.map(JoinHandle::join) {
        Some(Ok(result)) => result,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => Err(stopped()),
    }
}

fn stopped() -> ParquetError {
    ParquetError::General("the parquet encoding thread stopped".to_string())
}

/// The encoding itself: `ArrowWriter`'s steps, columns shared with a helper.
pub struct Encoder<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    arrow_schema: SchemaRef,
    /// Makes the column writers of each row group, as `ArrowWriter`'s does.
    row_groups: ArrowRowGroupWriterFactory,
    /// The column writers of the row group in progress.
    in_progress: Option<Vec<ArrowColumnWriter>>,
    buffered_rows: usize,
    /// `None`: one row group, however many rows.
    max_row_group_rows: Option<usize>,
    /// Whether a second thread may encode (more than one core).
    parallel: bool,
}

impl<W: Write + Send> Encoder<W> {
    fn try_new(out: W, arrow_schema: SchemaRef, mut properties: WriterProperties) -> Result<Self> {
        let schema = ArrowSchemaConverter::new()
            .with_coerce_types(properties.coerce_types())
            .convert(&arrow_schema)?;
        add_encoded_arrow_schema_to_metadata(&arrow_schema, &mut properties);
        if properties.max_row_group_bytes().is_some() {
            // ArrowWriter would split by estimated size too; nothing here sets it.
            return Err(ParquetError::General(
                "the parallel parquet writer splits row groups by rows only".to_string(),
            ));
        }
        let max_row_group_rows = properties.max_row_group_row_count();
        let writer =
            SerializedFileWriter::new(out, schema.root_schema_ptr(), Arc::new(properties))?;
        let row_groups = ArrowRowGroupWriterFactory::new(&writer, arrow_schema.clone());
        let parallel = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        Ok(Encoder {
            writer,
            arrow_schema,
            row_groups,
            in_progress: None,
            buffered_rows: 0,
            max_row_group_rows,
            parallel,
        })
    }

    /// Encode `batch`, splitting it across row groups as `ArrowWriter` does:
    /// every row group but the last holds `max_row_group_row_count` rows.
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.in_progress.is_none() {
            let row_group_index = self.writer.flushed_row_groups().len();
            self.in_progress = Some(self.row_groups.create_column_writers(row_group_index)?);
            self.buffered_rows = 0;
        }
        let max_rows = self.max_row_group_rows.unwrap_or(usize::MAX);
        if self.buffered_rows + batch.num_rows() > max_rows {
            let to_write = max_rows - self.buffered_rows;
            let rest = batch.num_rows() - to_write;
            self.write(&batch.slice(0, to_write))?;
            return self.write(&batch.slice(to_write, rest));
        }
        self.buffered_rows += batch.num_rows();
        let writers = self.in_progress.as_mut().expect("created above");
        let mut leaves: Vec<(ArrowLeafColumn, usize)> = Vec::with_capacity(writers.len());
        for (field, column) in self.arrow_schema.fields().iter().zip(batch.columns()) {
            let weight = weight_of(column);
            for leaf in compute_leaves(field.as_ref(), column)? {
                leaves.push((leaf, weight));
            }
        }
        let work: Vec<(&mut ArrowColumnWriter, (ArrowLeafColumn, usize))> =
            writers.iter_mut().zip(leaves).collect();
        let weights: Vec<usize> = work.iter().map(|(_, (_, weight))| *weight).collect();
        let (helper, own) = split_by_weight(work, &weights, self.parallel);
        let encode = |work: Vec<(&mut ArrowColumnWriter, (ArrowLeafColumn, usize))>| {
            work.into_iter()
                .try_for_each(|(writer, (leaf, _))| writer.write(&leaf))
        };
        both(helper, own, encode, encode)?;
        if self.buffered_rows >= max_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Close the row group in progress and append its column chunks.
    fn flush(&mut self) -> Result<()> {
        let Some(writers) = self.in_progress.take() else {
            return Ok(());
        };
        let weights: Vec<usize> = writers.iter().map(|w| w.memory_size()).collect();
        let indexed: Vec<(usize, ArrowColumnWriter)> = writers.into_iter().enumerate().collect();
        let (helper, own) = split_by_weight(indexed, &weights, self.parallel);
        let close = |writers: Vec<(usize, ArrowColumnWriter)>| {
            writers
                .into_iter()
                .map(|(index, writer)| writer.close().map(|chunk| (index, chunk)))
                .collect::<Result<Vec<(usize, ArrowColumnChunk)>>>()
        };
        let (mut chunks, own_chunks) = both(helper, own, close, close)?;
        chunks.extend(own_chunks);
        chunks.sort_unstable_by_key(|(index, _)| *index);
        let mut row_group = self.writer.next_row_group()?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Write what is buffered and the footer; return the output.
    fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        self.writer.into_inner()
    }
}

/// How much encoding a column costs, roughly: the bytes it holds.
fn weight_of(column: &ArrayRef) -> usize {
    column.get_buffer_memory_size().max(1)
}

/// Split `items` into the helper's share and the caller's, balancing
/// `weights` greedily (heaviest first); all to the caller when not parallel.
fn split_by_weight<T>(items: Vec<T>, weights: &[usize], parallel: bool) -> (Vec<T>, Vec<T>) {
    if !parallel || items.len() < 2 {
        return (Vec::new(), items);
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
    let mut to_helper = vec![false; items.len()];
    let (mut helper_load, mut own_load) = (0usize, 0usize);
    for i in order {
        if helper_load < own_load {
            helper_load += weights[i];
            to_helper[i] = true;
        } else {
            own_load += weights[i];
        }
    }
    let mut helper = Vec::new();
    let mut own = Vec::new();
    for (item, to_helper) in items.into_iter().zip(to_helper) {
        if to_helper {
            helper.push(item);
        } else {
            own.push(item);
        }
    }
    (helper, own)
}

/// Run `on_helper(helper)` on a second thread (when there is work for it)
/// and `on_own(own)` here; both results, or the first error in that order.
fn both<A: Send, B, R: Send, S>(
    helper: Vec<A>,
    own: Vec<B>,
    on_helper: impl FnOnce(Vec<A>) -> Result<R> + Send,
    on_own: impl FnOnce(Vec<B>) -> Result<S>,
) -> Result<(R, S)> {
    if helper.is_empty() {
        let helped = on_helper(helper)?;
        return Ok((helped, on_own(own)?));
    }
    std::thread::scope(|scope| {
        let helping = scope.spawn(move || on_helper(helper));
        let own = on_own(own);
        let helped = crate::threads::join_scoped(helping);
        Ok((helped?, own?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;

    #[test]
    fn writes_the_bytes_arrow_writer_writes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("x", DataType::Float64, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = |start: i64, rows: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from_iter_values(
                        (start..start + rows).map(|i| format!("clip_{}", i % 7)),
                    )),
                    Arc::new(Float64Array::from_iter(
                        (start..start + rows).map(|i| (i % 5 != 0).then_some(i as f64 / 3.0)),
                    )),
                    Arc::new(Int64Array::from_iter_values(start..start + rows)),
                ],
            )
            .unwrap()
        };
        let properties = || {
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(1000))
                .build()
        };
        let mut expected =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties())).unwrap();
        let mut parallel =
            ParallelParquetWriter::try_new(Vec::new(), schema.clone(), properties()).unwrap();
        let mut encoder = Encoder::try_new(Vec::new(), schema.clone(), properties()).unwrap();
        encoder.parallel = true;
        for (start, rows) in [(0, 700), (700, 700), (1400, 0), (1400, 2500), (3900, 10)] {
            expected.write(&batch(start, rows)).unwrap();
            parallel.write(&batch(start, rows)).unwrap();
            encoder.write(&batch(start, rows)).unwrap();
        }
        let expected = expected.into_inner().unwrap();
        assert_eq!(parallel.into_inner().unwrap(), expected);
        // The column-sharing path, whatever this machine's core count.
        assert_eq!(encoder.into_inner().unwrap(), expected);
    }

    #[test]
    fn splits_balance_the_weights() {
        let (helper, own) = split_by_weight(vec!['a', 'b', 'c', 'd'], &[10, 1, 6, 5], true);
        assert_eq!((helper, own), (vec!['c', 'd'], vec!['a', 'b']));
        let (helper, own) = split_by_weight(vec!['a', 'b'], &[1, 1], false);
        assert_eq!((helper, own), (vec![], vec!['a', 'b']));
    }
}
