//! Arrow tables between Python and the library. The export reads a table
//! handed over through the Arrow PyCapsule interface batch by batch, as it
//! comes, and hands its output batches back in memory (sharing the input's
//! buffers): no file either way. The audit reads its tables more than once,
//! by path: a table handed to it is written once as an Arrow IPC file in a
//! private temporary folder, and `scores()` reads back the Arrow IPC file
//! `export --scores-only` wrote.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use pyo3::prelude::*;
use pyo3_arrow::{PyRecordBatchReader, PyTable};

use second_opinion::export::{Destination, ExportError, ExportOptions, OpenedTable};
use second_opinion::table::BatchIterator;

use crate::errors::Failure;

/// A private temporary folder for one call's tables, removed with it
/// (also when the call fails or is interrupted).
pub fn work_folder() -> Result<tempfile::TempDir, Failure> {
    tempfile::Builder::new()
        .prefix("second-opinion-python-")
        .tempdir()
        .map_err(|e| Failure::data(format!("cannot create a temporary folder: {e}")))
}

/// What the caller passed as a table: a file the library reads itself, or
/// an Arrow stream (anything with `__arrow_c_stream__`).
pub enum TableArgument {
    Path(PathBuf),
    Stream(PyRecordBatchReader),
}

impl TableArgument {
    /// A `str`/`os.PathLike` is a path; anything else must export an Arrow
    /// stream (pyarrow, polars, DuckDB, nanoarrow …; pandas goes through
    /// pyarrow in the Python half).
    pub fn extract(object: &Bound<'_, PyAny>, name: &str) -> PyResult<TableArgument> {
        if let Ok(path) = object.extract::<PathBuf>() {
            return Ok(TableArgument::Path(path));
        }
        match object.extract::<PyRecordBatchReader>() {
            Ok(reader) => Ok(TableArgument::Stream(reader)),
            Err(_) => Err(Failure::usage(format!(
                "{name}: expected a path or a table with __arrow_c_stream__ \
                 (pyarrow, polars, pandas, DuckDB), got {}",
                object.get_type().name()?
            ))
            .into()),
        }
    }

    /// The table as a file the audit can read: the path itself, or the
    /// stream written to `folder/<stem>.arrow`. The GIL is released while
    /// the stream is copied, and taken between batches only to see whether
    /// Ctrl-C was pressed.
    pub fn into_file(self, py: Python<'_>, folder: &Path, stem: &str) -> PyResult<PathBuf> {
        match self {
            TableArgument::Path(path) => Ok(path),
            TableArgument::Stream(stream) => {
                let reader = stream.into_reader()?;
                let path = folder.join(format!("{stem}.arrow"));
                py.detach(|| write_ipc_file(reader, &path))?;
                Ok(path)
            }
        }
    }
}

/// Copy an Arrow stream into an Arrow IPC file, batch by batch (never the
/// whole table in memory at once).
fn write_ipc_file(reader: Box<dyn RecordBatchReader + Send>, path: &Path) -> PyResult<()> {
    let failed = |e: &dyn std::fmt::Display| Failure::data(format!("the Arrow table given: {e}"));
    let file = File::create(path).map_err(|e| failed(&e))?;
    let mut writer =
        FileWriter::try_new(BufWriter::new(file), &reader.schema()).map_err(|e| failed(&e))?;
    for batch in reader {
        let batch = batch.map_err(|e| failed(&e))?;
        writer.write(&batch).map_err(|e| failed(&e))?;
        Python::attach(|py| py.check_signals())?;
    }
    writer.finish().map_err(|e| failed(&e))?;
    Ok(())
}

/// Read an Arrow IPC file the library wrote back as a pyarrow Table.
pub fn read_ipc_file(py: Python<'_>, path: &Path) -> PyResult<Py<PyAny>> {
    let (batches, schema) = py.detach(|| -> Result<_, Failure> {
        let failed = |e: &dyn std::fmt::Display| {
            Failure::data(format!(
                "{}: cannot read the table written: {e}",
                path.display()
            ))
        };
        let file = File::open(path).map_err(|e| failed(&e))?;
        let reader = FileReader::try_new(BufReader::new(file), None).map_err(|e| failed(&e))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(&e))?;
        Ok((batches, schema))
    })?;
    Ok(PyTable::try_new(batches, schema)?
        .into_pyarrow(py)?
        .unbind())
}

/// What an export records as the path of a table passed in from Python
/// (unless `features_name=` names it).
pub const ARROW_FEATURES: &str = "<arrow table>";
/// What an export records as the path of a table handed back to Python.
pub const RETURNED_TABLE: &str = "<returned table>";

/// An export's feature table: a file, or an Arrow stream read batch by
/// batch as it comes (its buffers shared, never copied).
pub enum ExportInput {
    Path(PathBuf),
    Batches {
        schema: SchemaRef,
        batches: BatchIterator,
        shown: String,
    },
}

impl ExportInput {
    /// The table passed as `features` (see [`TableArgument::extract`]); a
    /// stream is recorded as `name`, else `<arrow table>`.
    pub fn extract(object: &Bound<'_, PyAny>, name: Option<String>) -> PyResult<ExportInput> {
        match TableArgument::extract(object, "features")? {
            TableArgument::Path(path) => Ok(ExportInput::Path(path)),
            TableArgument::Stream(stream) => {
                let reader = stream.into_reader()?;
                Ok(ExportInput::Batches {
                    schema: reader.schema(),
                    batches: Box::new(reader),
                    shown: name.unwrap_or_else(|| ARROW_FEATURES.to_string()),
                })
            }
        }
    }

    /// Open the table for an export to `destination`.
    pub fn open(
        self,
        destination: &Destination,
        options: &ExportOptions,
    ) -> Result<OpenedTable, ExportError> {
        match self {
            ExportInput::Path(path) => OpenedTable::open_for(&path, destination, options),
            ExportInput::Batches {
                schema,
                batches,
                shown,
            } => OpenedTable::from_arrow(schema, batches, &shown, destination, options),
        }
    }
}

/// The batches of a table handed back whole, collected as the export
/// makes them.
#[derive(Default)]
pub struct Returned(Arc<Mutex<Vec<RecordBatch>>>);

impl Returned {
    /// The export's destination: into this collection.
    pub fn destination(&self) -> Destination {
        let batches = self.0.clone();
        Destination::Batches {
            shown: RETURNED_TABLE.to_string(),
            sink: Box::new(move |batch| {
                batches
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(batch);
                Ok(())
            }),
        }
    }

    /// The batches collected, as a pyarrow Table of `schema` (no copy:
    /// it holds the very buffers).
    pub fn into_table(self, py: Python<'_>, schema: Option<SchemaRef>) -> PyResult<Py<PyAny>> {
        let schema = schema.ok_or_else(|| Failure::data("the export wrote no Arrow table"))?;
        let batches = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        Ok(PyTable::try_new(batches, schema)?
            .into_pyarrow(py)?
            .unbind())
    }
}
