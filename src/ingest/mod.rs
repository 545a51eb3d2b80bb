//! Readers for scorer output files.
//!
//! Each format lives in its own file and implements [`ScoreReader`]: it turns
//! the bytes of one file into [`ScoreRecord`]s and pushes them into a
//! [`RecordSink`]. Readers know nothing of the registry; the sink (the
//! registry's ingest transaction) resolves scorer names and keys and decides
//! what a record becomes. Adding a format means one new file here and one
//! line in [`Format`].

mod fields;
mod json_doc;
mod jsonl;
mod nonfinite;

use std::io::BufRead;
use std::path::Path;

pub use fields::FieldNames;
pub use json_doc::JsonDocReader;
pub use jsonl::JsonlReader;

/// One score as a reader found it, before the registry resolves it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRecord {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The field the key was read from (drives `--key-normalize auto`).
    pub key_field: String,
    /// The key as written (numbers in their JSON text form).
    pub raw_key: String,
    /// The scorer named by the row itself (`competitor`), if any.
    pub scorer: Option<String>,
    /// The clip score, or why there is none.
    pub value: RawScore,
    /// What the row's own `status` field said, if it had one.
    pub reported_status: Option<String>,
    pub runtime_ms: Option<f64>,
    /// Per-frame values, in file order.
    pub frames: Vec<FrameRecord>,
    /// How many frames were pooled into `value` (0 when the row gave the score).
    pub pooled_frames: u32,
    /// A note kept with the row (frames left out of the pool).
    pub note: Option<String>,
}

/// A clip score as read: a finite number, or the reason it is unusable.
#[derive(Clone, Debug, PartialEq)]
pub enum RawScore {
    Number(f64),
    Unusable(String),
}

/// One frame of a per-frame payload.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRecord {
    pub frame_index: i64,
    /// `None` when the frame's value was not a finite number.
    pub value: Option<f64>,
    pub runtime_ms: Option<f64>,
}

/// Where readers push what they read.
pub trait RecordSink {
    /// The sink's own failure, which also carries reader failures.
    type Error: From<ReadError>;

    fn push(&mut self, record: ScoreRecord) -> Result<(), Self::Error>;
}

/// A scorer output format.
pub trait ScoreReader {
    /// The name used by `--format` and stored with the file.
    const NAME: &'static str;
    /// Lower-case file extensions (without the dot) that select this format.
    const EXTENSIONS: &'static [&'static str];

    /// Read every record of `input`, pushing each into `sink` as soon as it
    /// is complete, so a file is never held in memory whole unless the format
    /// is a single document.
    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        fields: &FieldNames,
        sink: &mut S,
    ) -> Result<(), S::Error>;
}

/// Why a file could not be read. The caller adds the file's path.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The content is not what the format allows, at a line.
    #[error("{line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    pub(crate) fn at(line: u64, message: impl Into<String>) -> ReadError {
        ReadError::Malformed {
            line,
            message: message.into(),
        }
    }
}

/// The formats `ingest` can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Json,
}

impl Format {
    pub const ALL: &'static [Format] = &[Format::Jsonl, Format::Json];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => JsonlReader::NAME,
            Format::Json => JsonDocReader::NAME,
        }
    }

    fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Jsonl => JsonlReader::EXTENSIONS,
            Format::Json => JsonDocReader::EXTENSIONS,
        }
    }

    /// Every format name, for messages.
    pub fn names() -> String {
        Format::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The format named `name` (as given to `--format`).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The format a file's extension selects, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.extensions().contains(&extension.as_str()))
    }

    /// Read `input` in this format into `sink`.
    pub fn read<S: RecordSink>(
        self,
        input: &mut dyn BufRead,
        fields: &FieldNames,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        match self {
            Format::Jsonl => JsonlReader::read(input, fields, sink),
            Format::Json => JsonDocReader::read(input, fields, sink),
        }
    }
}

/// Strip a UTF-8 byte-order mark, which Windows tools put before the first line.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

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
        R::read(&mut &bytes[..], &FieldNames::default(), &mut sink)?;
        Ok(sink.0)
    }

    pub fn error_of<R: ScoreReader>(bytes: &[u8]) -> (u64, String) {
        match read_all::<R>(bytes) {
            Err(ReadError::Malformed { line, message }) => (line, message),
            other => panic!("expected a malformed-input error, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions_and_names() {
        assert_eq!(
            Format::from_path(Path::new("a/b.JSONL")),
            Some(Format::Jsonl)
        );
        assert_eq!(
            Format::from_path(Path::new("b.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.csv")), None);
        assert_eq!(Format::from_path(Path::new("noext")), None);
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.name()), Some(*format));
        }
    }
}
