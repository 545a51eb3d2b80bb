//! Arrow tables between Python and the library. The library's export and
//! audit read and write table *files* (that is where their atomicity,
//! hashing and lossless pass-through live); a table handed over from
//! Python through the Arrow PyCapsule interface is written once as an
//! Arrow IPC file in a private temporary folder and read by the very same
//! code as `export --features table.arrow`, and a table handed back is the
//! Arrow IPC file the export wrote, read into memory.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatchReader;
use pyo3::prelude::*;
use pyo3_arrow::{PyRecordBatchReader, PyTable};

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

    /// The table as a file the library can read: the path itself, or the
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
