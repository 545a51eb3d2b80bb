//! Reading scorer output files.
//!
//! - [`record`]: the [`ScoreRecord`] every reader produces and the
//!   [`ScoreReader`] trait it implements;
//! - [`formats`]: one file per scorer format, registered in [`Format`], and
//!   the detection that picks one; [`libvmaf`]: libvmaf's three log formats;
//! - [`json`]: JSON score rows (the reference's field lookup, a fast typed
//!   reader, Python's bare `NaN`), shared by the JSON formats;
//! - [`input`], [`text_rows`], [`frame_pattern`]: bytes and documents,
//!   lines of text files, and image scores of extracted frames regrouped
//!   into clips;
//! - [`rules`] and [`pipeline`]: what a record becomes (scorer, key,
//!   verdict, duplicates), once for every store, and the one ingest
//!   pipeline that runs a reader into a store.
//!
//! Readers know nothing of the registry. Adding a format means one new file
//! in `formats/` and one line in [`Format`].

mod feed;
mod file;
pub(crate) mod formats;
pub mod frame_pattern;
pub(crate) mod halves;
mod input;
pub(crate) mod json;
mod libvmaf;
pub(crate) mod pipeline;
pub(crate) use feed::read_on_thread;
pub(crate) mod record;
pub(crate) mod rules;
pub(crate) mod suspicious;
pub(crate) mod text_rows;

pub use file::{
    FileOutcome, FileStatus, IngestFileError, IngestOptions, KeyCollision, PreviewRow,
    ScorerCounts, ScorerDetail, SourceSpec,
};
pub use formats::{detect_format, DetectError, Detection, Format, JsonDocReader, JsonlReader};
pub(crate) use input::{read_document, strip_bom, LineCounter};
pub use json::FieldNames;
pub(crate) use record::is_ok_status;
pub use record::{
    FrameRecord, RawScore, ReadError, ReadOptions, ReadWarning, RecordSink, ScoreReader,
    ScoreRecord,
};

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A sink that keeps every record, for reader tests.
    #[derive(Default)]
    pub struct Collect(pub Vec<ScoreRecord>);

    impl RecordSink for Collect {
        type Error = ReadError;
        fn push(&mut self, record: ScoreRecord) -> Result<(), ReadError> {
            self.0.push(record);
            Ok(())
        }
    }

    pub fn read_all<R: ScoreReader>(bytes: &[u8]) -> Result<Vec<ScoreRecord>, ReadError> {
        let mut sink = Collect::default();
        R::read(&mut &bytes[..], &ReadOptions::default(), &mut sink)?;
        Ok(sink.0)
    }

    pub fn error_of<R: ScoreReader>(bytes: &[u8]) -> (u64, String) {
        match read_all::<R>(bytes) {
            Err(ReadError::Malformed { line, message }) => (line, message),
            other => panic!("expected a malformed-input error, got {other:?}"),
        }
    }
}
