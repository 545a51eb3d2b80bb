//! A score file read on a thread of its own into the pipeline, so parsing
//! and the store each get a core. Every store's ingest of a file runs it
//! through [`read_on_thread`]; the messages between the two threads are
//! batches of records, notes, and how the read ended, in file order.

use std::io::BufRead;

use super::pipeline::{FileIngest, PipelineError, ScoreStore};
use super::{Format, ReadError, ReadOptions, RecordSink, ScoreRecord};
use crate::threads::{Feed, Handoff, Worker};

/// Records per message from the reader thread: enough to make the channel's
/// cost per record negligible, few enough that a batch of per-frame payloads
/// (hundreds of frames each) stays a few megabytes.
const RECORDS_PER_MESSAGE: usize = 256;

/// Messages the reader thread may have in flight before it waits for the
/// writer: bounds the memory between them.
const MESSAGES_IN_FLIGHT: usize = 4;

/// Read `input` in `format` on a thread of its own while this thread runs
/// its records through `pipeline`. When the reader is done, `after` gets
/// the input and how the read went, on the reading thread (to read a
/// trailer, to take the hash of what was read), and may turn success into
/// an error; what it returns comes back here. A row the pipeline refuses
/// stops the reader at its next hand-off.
pub(crate) fn read_on_thread<S, I, T>(
    format: Format,
    mut input: I,
    options: &ReadOptions,
    pipeline: &mut FileIngest<'_, S>,
    after: impl FnOnce(I, Result<(), ReadError>) -> (Result<(), ReadError>, T) + Send,
) -> Result<T, PipelineError>
where
    S: ScoreStore,
    I: BufRead + Send,
    T: Send,
{
    std::thread::scope(|scope| {
        let mut messages = Feed::scoped(scope, MESSAGES_IN_FLIGHT, |out| {
            let mut sink = ChannelSink::new(out);
            let read = format.read(&mut input, options, &mut sink);
            let (read, returned) = after(input, read);
            sink.finish(read, returned);
        });
        let consumed = consume(pipeline, &mut messages);
        // Waits for the reader (stopped by the dropped channel if the
        // pipeline failed) and re-raises its panic, if it had one.
        messages.finish();
        consumed
    })
}

/// Take what the reader thread sends, in file order, through the pipeline
/// until it finishes or a row fails; returns what the reader returned.
fn consume<S: ScoreStore, T, W: Worker>(
    pipeline: &mut FileIngest<'_, S>,
    messages: &mut Feed<ReaderMessage<T>, W>,
) -> Result<T, PipelineError> {
    while let Some(message) = messages.next() {
        match message {
            ReaderMessage::Records(records) => {
                for record in records {
                    pipeline.push(record)?;
                }
            }
            ReaderMessage::Note(message) => pipeline.note(message),
            ReaderMessage::Finished(Ok(()), returned) => return Ok(returned),
            // Rows before the unreadable line come first: one of them
            // may already be the file's error.
            ReaderMessage::Finished(Err(e), _) => return Err(pipeline.fail(e)),
        }
    }
    Err(PipelineError::Read(ReadError::Io(std::io::Error::other(
        "the reader stopped before the end of the file",
    ))))
}

/// What the reader thread sends the writer, in file order.
enum ReaderMessage<T> {
    Records(Vec<ScoreRecord>),
    Note(String),
    /// The reader is done: the whole file was read, or why not; with what
    /// the caller's `after` returned.
    Finished(Result<(), ReadError>, T),
}

/// The sink of the reader thread: batches records onto the channel to the
/// thread that resolves and writes them. Parsing a file and writing its rows
/// into SQLite then use both cores.
struct ChannelSink<T> {
    out: Handoff<ReaderMessage<T>>,
    batch: Vec<ScoreRecord>,
}

impl<T> ChannelSink<T> {
    fn new(out: Handoff<ReaderMessage<T>>) -> ChannelSink<T> {
        ChannelSink {
            out,
            batch: Vec::with_capacity(RECORDS_PER_MESSAGE),
        }
    }

    fn send(&mut self, message: ReaderMessage<T>) -> Result<(), ReadError> {
        // The writer hangs up only when it has failed; its error is the one
        // reported, so this one is never seen.
        self.out
            .send(message)
            .map_err(|_| ReadError::Io(std::io::Error::other("the writer stopped")))
    }

    fn send_batch(&mut self) -> Result<(), ReadError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(RECORDS_PER_MESSAGE));
        self.send(ReaderMessage::Records(batch))
    }

    /// Send the rows read so far (before a failed line too: one of them
    /// may be the file's first error), then how the read ended.
    fn finish(mut self, read: Result<(), ReadError>, returned: T) {
        if self.send_batch().is_ok() {
            let _ = self.send(ReaderMessage::Finished(read, returned));
        }
    }
}

impl<T> RecordSink for ChannelSink<T> {
    type Error = ReadError;

    fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
        self.batch.push(record);
        if self.batch.len() == RECORDS_PER_MESSAGE {
            self.send_batch()?;
        }
        Ok(())
    }

    fn note(&mut self, message: String) {
        // Records before the note go first, so the writer sees file order.
        if self.send_batch().is_ok() {
            let _ = self.send(ReaderMessage::Note(message));
        }
    }
}
