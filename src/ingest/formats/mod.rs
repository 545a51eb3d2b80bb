//! The scorer output formats: one file per format (the libvmaf logs in
//! `../libvmaf/`; what ffmpeg-quality-metrics' two layouts share in
//! `fqm.rs`), each a [`ScoreReader`], registered in [`Format`] by one line,
//! and the detection that picks a format from a file's first bytes.

mod cover_csv;
mod dover_csv;
mod fqm;
mod fqm_csv;
mod fqm_json;
mod generic_csv;
mod json_doc;
mod jsonl;
mod maniqa_txt;
mod pyiqa_csv;
mod qalign_json;
mod score_line;
pub(crate) mod settle;
mod uvq_json;
mod uvq_txt;

use crate::command_line::CommandLine;
use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

pub use json_doc::JsonDocReader;
pub use jsonl::JsonlReader;

use super::strip_bom;
use crate::ingest::{ReadOptions, RecordSink, ScoreReader};

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
    Jsonl => jsonl::JsonlReader,
    Json => json_doc::JsonDocReader,
    DoverCsv => dover_csv::DoverCsvReader,
    CoverCsv => cover_csv::CoverCsvReader,
    PyiqaCsv => pyiqa_csv::PyiqaCsvReader,
    ManiqaTxt => maniqa_txt::ManiqaTxtReader,
    UvqTxt => uvq_txt::UvqTxtReader,
    LibvmafJson => crate::ingest::libvmaf::json::LibvmafJsonReader,
    LibvmafCsv => crate::ingest::libvmaf::csv::LibvmafCsvReader,
    LibvmafXml => crate::ingest::libvmaf::xml::LibvmafXmlReader,
    FqmJson => fqm_json::FqmJsonReader,
    FqmCsv => fqm_csv::FqmCsvReader,
    QalignJson => qalign_json::QAlignJsonReader,
    UvqJson => uvq_json::UvqJsonReader,
    ScoreLine => score_line::ScoreLineReader,
    Csv => generic_csv::CsvReader,
}

/// Why a file's format could not be chosen. Its `Display` is what
/// `ingest` says; [`DetectError::message`] what another command says.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("cannot tell the format: it looks like {} (pass --format with one of them)", .candidates.join(" or "))]
    Ambiguous { candidates: Vec<&'static str> },
    /// `name,score` lines whose names are bare numbers: not clip names.
    #[error(
        "cannot tell the format: the first column holds bare numbers, not clip names \
         (pass --format with one of {} if it is a score file)",
        .candidates.join(", ")
    )]
    NotClipNames { candidates: Vec<&'static str> },
    #[error(
        "cannot tell the format from the content; pass --format ({})",
        Format::names()
    )]
    Unknown,
}

impl DetectError {
    /// The message for `command_line`: `--format` is suggested only to a
    /// command that takes it (`materialize` and `batch` do not: their
    /// score files must be told apart by their content).
    pub fn message(&self, command_line: CommandLine) -> String {
        if command_line.takes("format") {
            return self.to_string();
        }
        let fix = "materialize cannot be told the format: `second-opinion ingest --format NAME` \
                   reads it into a registry, and `materialize --registry` or `export` joins it";
        match self {
            DetectError::Ambiguous { candidates } => format!(
                "cannot tell the format: it looks like {} ({fix})",
                candidates.join(" or ")
            ),
            DetectError::Unknown => format!(
                "cannot tell the format from the content (formats: {}; {fix})",
                Format::names()
            ),
            DetectError::NotClipNames { candidates } => format!(
                "cannot tell the format: the first column holds bare numbers, not clip names \
                 (formats that read such lines: {}; {fix})",
                candidates.join(", ")
            ),
        }
    }
}

impl Format {
    /// The scorer a format names although its rows do not say which of
    /// its models wrote them: DOVER and DOVER-Mobile write the same CSV, so
    /// `ingest` wants a `LABEL=`, and `inspect` without one previews the
    /// file as this scorer.
    pub fn scorer_family(self) -> Option<&'static str> {
        match self {
            Format::DoverCsv => Some("dover"),
            _ => None,
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

/// Whether `"name"` appears as an object key (followed by `:`) in `text`,
/// for detecting JSON layouts by their keys.
pub(crate) fn has_key(text: &str, name: &str) -> bool {
    let quoted = format!("\"{name}\"");
    text.match_indices(&quoted)
        .any(|(at, _)| text[at + quoted.len()..].trim_start().starts_with(':'))
}

/// Why detection failed: the file could not be read, or matched no single format.
pub enum Detection {
    Io(std::io::Error),
    Unknown(DetectError),
}

/// The format of a score file from its first 64 KiB, and why.
pub fn detect_format(path: &Path) -> Result<(Format, String), Detection> {
    let mut head = Vec::with_capacity(1 << 16);
    File::open(path)
        .and_then(|file| file.take(1 << 16).read_to_end(&mut head))
        .map_err(Detection::Io)?;
    Format::detect(&head, path).map_err(Detection::Unknown)
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
