//! `export(stream=True)`: the export's batches handed to the caller as a
//! `RecordBatchReader` while the export runs on a thread of its own, one
//! batch ahead of the reader. The export is recorded when the reader has
//! read the last batch and the verdict allowed the table; a reader dropped
//! early stops the export, and nothing is recorded.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use pyo3::exceptions::PyUserWarning;
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatchReader;

use second_opinion::export::{Destination, ExportError, ExportOptions, PreparedExport};
use second_opinion::registry::OpenMode;

use crate::errors::Failure;
use crate::interrupt::Cancel;
use crate::registry::{finish_export, plan_onto, NativeRegistry, Recording};
use crate::tables::{ExportInput, RETURNED_TABLE};

/// Batches made ahead of the reader: the export waits beyond this.
const AHEAD: usize = 1;

/// How often a waiting reader looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

/// What the export's thread tells the reader.
enum Message {
    Batch(RecordBatch),
    /// The export ended: prepared (every batch sent), or failed.
    Done(Box<Result<PreparedExport, ExportError>>),
}

/// Start the export of `registry` onto `input` and hand back its reader.
/// The steps up to loading the scores run here (their errors are raised
/// here, as exceptions); the table is read as the reader is.
pub fn start_stream(
    registry: Py<NativeRegistry>,
    py: Python<'_>,
    input: ExportInput,
    options: ExportOptions,
    recording: Recording,
) -> PyResult<PyRecordBatchReader> {
    let (sender, messages) = sync_channel::<Message>(AHEAD);
    let batches = sender.clone();
    let destination = Destination::Batches {
        shown: RETURNED_TABLE.to_string(),
        sink: Box::new(move |batch| {
            batches
                .send(Message::Batch(batch))
                .map_err(|_| ExportError::Data("the export's reader was dropped".to_string()))
        }),
    };
    let native = registry.get();
    let planned = native.with_cancel(py, OpenMode::MustExist, |opened, _| {
        plan_onto(native, opened, input, destination, &options, &recording)
    })?;
    let schema = planned
        .planned
        .output_schema()
        .ok_or_else(|| Failure::data("the export wrote no Arrow table"))?;
    let (planned, settled) = planned.into_parts();
    let cancel = Arc::new(Cancel::default());
    let stop = cancel.clone();
    std::thread::spawn(move || {
        let prepared = planned.run(None, &|| stop.is_set());
        let _ = sender.send(Message::Done(Box::new(prepared)));
    });
    Ok(PyRecordBatchReader::new(Box::new(ExportStream {
        schema,
        messages: Mutex::new(messages),
        registry,
        finish: Some((settled, recording)),
        cancel,
    })))
}

/// The reader side of a streamed export.
struct ExportStream {
    schema: SchemaRef,
    /// In a mutex only so that waiting may release the GIL (which needs
    /// what it borrows to be shareable).
    messages: Mutex<Receiver<Message>>,
    registry: Py<NativeRegistry>,
    /// What recording the export needs; taken when it ends.
    finish: Option<(Vec<String>, Recording)>,
    cancel: Arc<Cancel>,
}

impl ExportStream {
    /// The next message, waiting without the GIL (the export's thread may
    /// need it to read a Python-made input) and looking for Ctrl-C.
    fn receive(&self) -> Result<Message, ArrowError> {
        let messages = &self.messages;
        loop {
            let next = Python::attach(|py| {
                py.detach(|| {
                    let messages = messages
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    messages.recv_timeout(POLL)
                })
            });
            match next {
                Ok(message) => return Ok(message),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(failed("the export stopped without an answer"))
                }
                Err(RecvTimeoutError::Timeout) => {
                    if Python::attach(|py| py.check_signals()).is_err() {
                        self.cancel.set();
                        // The KeyboardInterrupt is raised again once the
                        // consumer has the error in hand.
                        // SAFETY: PyErr_SetInterrupt only sets the flag a
                        // signal sets; it may be called from any thread,
                        // with or without the GIL.
                        unsafe { pyo3::ffi::PyErr_SetInterrupt() };
                        return Err(failed("interrupted"));
                    }
                }
            }
        }
    }

    /// Record the export that ended (as the command would), and issue its
    /// warnings as Python warnings.
    fn finish(&mut self, prepared: PreparedExport) -> Result<(), ArrowError> {
        let (settled, recording) = self.finish.take().expect("an export ends once");
        let answer = Python::attach(|py| {
            py.detach(|| {
                self.registry.get().locked(OpenMode::MustExist, |registry| {
                    finish_export(registry, prepared, settled, recording)
                })
            })
        })
        .map_err(|e| failed(&e.message))?;
        let answer: serde_json::Value =
            serde_json::from_str(&answer).map_err(|e| failed(&e.to_string()))?;
        let warnings: Vec<String> = answer["warnings"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Python::attach(|py| {
            for warning in warnings {
                let category = py.get_type::<PyUserWarning>();
                let text = std::ffi::CString::new(warning).unwrap_or_default();
                PyErr::warn(py, &category, &text, 1)?;
            }
            Ok::<_, PyErr>(())
        })
        .map_err(|e| failed(&e.to_string()))
    }
}

fn failed(message: &str) -> ArrowError {
    ArrowError::ExternalError(message.to_string().into())
}

impl Iterator for ExportStream {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.finish.as_ref()?;
        match self.receive() {
            Ok(Message::Batch(batch)) => Some(Ok(batch)),
            Ok(Message::Done(done)) => match *done {
                Ok(prepared) => self.finish(prepared).err().map(Err),
                Err(error) => {
                    self.finish = None;
                    Some(Err(failed(&error.to_string())))
                }
            },
            Err(error) => {
                self.finish = None;
                Some(Err(error))
            }
        }
    }
}

impl RecordBatchReader for ExportStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for ExportStream {
    /// A reader dropped early: the export stops at its next batch.
    fn drop(&mut self) {
        self.cancel.set();
    }
}
