//! Readers for scorer output files.
//!
//! Each format lives in its own file and implements [`ScoreReader`]: it turns
//! the bytes of one file into [`ScoreRecord`]s and pushes them into a
//! [`RecordSink`]. Readers know nothing of the registry; the sink (the
//! registry's ingest transaction) resolves scorer names and keys and decides
//! what a record becomes. Adding a format means one new file here and one
//! line in [`Format`].

mod cover_csv;
mod dover_csv;
mod fields;
pub mod frame_pattern;
mod generic_csv;
mod json_doc;
mod jsonl;
mod libvmaf;
mod libvmaf_csv;
mod libvmaf_json;
mod libvmaf_xml;
mod maniqa_txt;
pub(crate) mod nonfinite;
mod pyiqa_csv;
mod qalign_json;
mod score_line;
mod text_rows;
mod typed_row;
mod uvq_json;
mod uvq_txt;

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
    /// The scorer named by the row itself (`competitor`), if any. It wins
    /// over the file's LABEL=.
    pub scorer: Option<String>,
    /// The scorer a format implies (`q-align` for Q-Align's evaluator
    /// output), used only when neither `--scorer`, the row nor a label names one.
    pub scorer_hint: Option<String>,
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
    /// Named secondary values of multi-output scorers (DOVER's aesthetic and
    /// technical scores, libvmaf's other metrics …); `None` when unusable.
    pub components: Vec<(String, Option<f64>)>,
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

    /// Something the operator should know about how the file was read (the
    /// key taken from the file name, a trailer line skipped, …).
    fn note(&mut self, _message: String) {}
}

/// What a reader needs besides the bytes.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// `--score-key-field` / `--score-field`.
    pub fields: FieldNames,
    /// `--key`: the clip a single-clip file (a libvmaf log, captured stdout)
    /// scored. Files that name no clip take their file stem otherwise.
    pub clip_key: Option<String>,
    /// `--metric`: the libvmaf metric that is the clip score (default `vmaf`).
    pub metric: Option<String>,
    /// The score file's name, as the fallback key of single-clip files.
    pub file_name: String,
    /// Whether `--scorer-version` says what wrote the file, so version
    /// pitfalls of a format need not be pointed out.
    pub scorer_version_given: bool,
}

impl ReadOptions {
    /// The key of a file that names no clip, with where it came from:
    /// `--key`, else the file's stem (`runs/clip_a.json` → `clip_a`).
    pub fn single_clip_key(&self) -> (&'static str, String) {
        match &self.clip_key {
            Some(key) => ("--key", key.clone()),
            None => ("file name", crate::key::stem(&self.file_name).to_string()),
        }
    }
}

/// A scorer output format: one file per format in this folder.
pub trait ScoreReader {
    /// The name used by `--format` and stored with the file.
    const NAME: &'static str;
    /// Lower-case file extensions (without the dot) this format is written with.
    const EXTENSIONS: &'static [&'static str];
    /// Generic shapes (JSON rows, JSON Lines, CSV with a header) are chosen
    /// only when no scorer-specific format recognises the file.
    const GENERIC: bool = false;
    /// The scale every value of this format lies on, when the format fixes
    /// it (Q-Align's evaluator writes 0–1 whatever the model could do).
    const FIXED_SCALE: Option<(f64, f64)> = None;

    /// Why the start of a file (`head`, at most 64 KiB, lossily decoded)
    /// looks like this format, or `None`. `extension` is lower-case.
    fn detect(head: &str, extension: &str) -> Option<String>;

    /// Read every record of `input`, pushing each into `sink` as soon as it
    /// is complete, so a file is never held in memory whole unless the format
    /// is a single document.
    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
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

/// Registers every format: its variant and its reader type. Adding a format
/// is one line here and one file in this folder.
macro_rules! formats {
    ($($variant:ident => $reader:ty),+ $(,)?) => {
        /// The formats `ingest` can read.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        pub enum Format {
            $(#[value(name = <$reader>::NAME)] $variant),+
        }

        impl Format {
            /// Every format, in detection order.
            pub const ALL: &'static [Format] = &[$(Format::$variant),+];

            /// The name used by `--format` and stored with the file.
            pub fn name(self) -> &'static str {
                match self {
                    $(Format::$variant => <$reader>::NAME),+
                }
            }

            fn extensions(self) -> &'static [&'static str] {
                match self {
                    $(Format::$variant => <$reader>::EXTENSIONS),+
                }
            }

            fn is_generic(self) -> bool {
                match self {
                    $(Format::$variant => <$reader>::GENERIC),+
                }
            }

            /// The scale this format fixes for its values, if any.
            pub fn fixed_scale(self) -> Option<crate::scorer::Scale> {
                let scale = match self {
                    $(Format::$variant => <$reader>::FIXED_SCALE),+
                };
                scale.map(|(min, max)| crate::scorer::Scale { min, max })
            }

            fn detect_one(self, head: &str, extension: &str) -> Option<String> {
                match self {
                    $(Format::$variant => <$reader>::detect(head, extension)),+
                }
            }

            /// Read `input` in this format into `sink`.
            pub fn read<S: RecordSink>(
                self,
                input: &mut dyn BufRead,
                options: &ReadOptions,
                sink: &mut S,
            ) -> Result<(), S::Error> {
                match self {
                    $(Format::$variant => <$reader>::read(input, options, sink)),+
                }
            }
        }
    };
}

formats! {
    Jsonl => JsonlReader,
    Json => JsonDocReader,
    DoverCsv => dover_csv::DoverCsvReader,
    CoverCsv => cover_csv::CoverCsvReader,
    PyiqaCsv => pyiqa_csv::PyiqaCsvReader,
    ManiqaTxt => maniqa_txt::ManiqaTxtReader,
    UvqTxt => uvq_txt::UvqTxtReader,
    LibvmafJson => libvmaf_json::LibvmafJsonReader,
    LibvmafCsv => libvmaf_csv::LibvmafCsvReader,
    LibvmafXml => libvmaf_xml::LibvmafXmlReader,
    QalignJson => qalign_json::QAlignJsonReader,
    UvqJson => uvq_json::UvqJsonReader,
    ScoreLine => score_line::ScoreLineReader,
    Csv => generic_csv::CsvReader,
}

/// Why a file's format could not be chosen.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("cannot tell the format: it looks like {} (pass --format with one of them)", .candidates.join(" or "))]
    Ambiguous { candidates: Vec<&'static str> },
    #[error(
        "cannot tell the format from the content; pass --format ({})",
        Format::names()
    )]
    Unknown,
}

impl Format {
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

    /// The generic format a file's extension selects, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.is_generic() && f.extensions().contains(&extension.as_str()))
    }

    /// Choose the format of a file from its first bytes, and say why.
    ///
    /// Scorer-specific formats are tried first: exactly one must recognise
    /// the file, and two or more is an ambiguity the user settles with
    /// `--format`. Only when none does are the generic shapes tried, the
    /// one matching the extension first.
    pub fn detect(head: &[u8], path: &Path) -> Result<(Format, String), DetectError> {
        let head = String::from_utf8_lossy(strip_bom(head));
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let matches = |generic: bool| -> Vec<(Format, String)> {
            Format::ALL
                .iter()
                .copied()
                .filter(|f| f.is_generic() == generic)
                .filter_map(|f| f.detect_one(&head, &extension).map(|why| (f, why)))
                .collect()
        };
        let specific = matches(false);
        match specific.len() {
            1 => return Ok(specific.into_iter().next().expect("one match")),
            0 => {}
            _ => {
                return Err(DetectError::Ambiguous {
                    candidates: specific.iter().map(|(f, _)| f.name()).collect(),
                })
            }
        }
        let generic = matches(true);
        let by_extension: Vec<_> = generic
            .iter()
            .filter(|(f, _)| f.extensions().contains(&extension.as_str()))
            .cloned()
            .collect();
        match (by_extension.len(), generic.len()) {
            (1, _) => Ok(by_extension.into_iter().next().expect("one match")),
            (0, 1) => Ok(generic.into_iter().next().expect("one match")),
            // Nothing recognised the content, but the extension names a
            // shape: read it as that, so the reader says what is wrong where.
            (0, 0) => Format::from_path(path)
                .map(|f| (f, format!("the .{extension} extension")))
                .ok_or(DetectError::Unknown),
            _ => Err(DetectError::Ambiguous {
                candidates: generic.iter().map(|(f, _)| f.name()).collect(),
            }),
        }
    }
}

/// Whether a scorer-reported status means success: empty, `ok`, `pass` or
/// `success`, in any case (the reference's rule).
pub(crate) fn is_ok_status(status: &str) -> bool {
    let status = status.trim();
    status.is_empty()
        || ["ok", "pass", "success"]
            .iter()
            .any(|ok| status.eq_ignore_ascii_case(ok))
}

/// Read a file that is one document, whole: the BOM stripped, UTF-8
/// checked (the error names the line of the first bad byte) and an empty
/// file refused. Readers of single-document formats start here.
pub(crate) fn read_document(input: &mut dyn BufRead) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let start = bytes.len() - strip_bom(&bytes).len();
    bytes.drain(..start);
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|b| **b == b'\n').count() as u64;
        ReadError::at(line, "invalid UTF-8")
    })?;
    if text.trim().is_empty() {
        return Err(ReadError::at(1, "empty file"));
    }
    Ok(text)
}

/// `text` as a JSON document that parses: as written, or with Python's bare
/// `NaN`/`Infinity` quoted (see [`nonfinite`]) when that is what failed.
/// The error names the line where the original text stopped parsing.
pub(crate) fn valid_json_document(text: &str) -> Result<std::borrow::Cow<'_, str>, ReadError> {
    use serde_json::value::RawValue;
    match serde_json::from_str::<&RawValue>(text) {
        Ok(_) => Ok(std::borrow::Cow::Borrowed(text)),
        Err(error) => match nonfinite::quote_nonfinite_words(text) {
            Some(quoted) if serde_json::from_str::<&RawValue>(&quoted).is_ok() => {
                Ok(std::borrow::Cow::Owned(quoted))
            }
            _ => Err(ReadError::at(
                error.line() as u64,
                jsonl::json_error(&error),
            )),
        },
    }
}

/// Line numbers of places in one document, counted incrementally because
/// readers mostly move forward through it (going back starts over).
pub(crate) struct LineCounter<'a> {
    document: &'a str,
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(document: &'a str) -> Self {
        LineCounter {
            document,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `offset`.
    pub(crate) fn line_of_offset(&mut self, offset: usize) -> u64 {
        if offset < self.offset {
            *self = LineCounter::new(self.document);
        }
        self.line += self.document.as_bytes()[self.offset..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        self.offset = offset;
        self.line
    }

    /// The line where `slice`, a part of the document, starts.
    pub(crate) fn line_at(&mut self, slice: &str) -> u64 {
        self.line_of_offset(slice.as_ptr() as usize - self.document.as_ptr() as usize)
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
        assert_eq!(Format::from_path(Path::new("b.csv")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("noext")), None);
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.name()), Some(*format));
        }
    }
}
