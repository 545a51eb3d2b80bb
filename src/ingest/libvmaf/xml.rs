//! libvmaf's XML log, its default (`vmaf -o log.xml`, ffmpeg
//! `libvmaf=log_path=log.xml`): one clip, one `<frame>` per compared frame.
//!
//! Layout, from `vmaf_write_output_xml` in Netflix/vmaf
//! `libvmaf/src/output.c`:
//! ```text
//! <VMAF version="e1d466c">
//!   <params qualityWidth="1920" qualityHeight="1080" />
//!   <fyi fps="41.98" />
//!   <frames>
//!     <frame frameNum="0" integer_adm2="0.962084" … vmaf="83.856285" />
//!   </frames>
//!   <pooled_metrics>
//!     <metric name="vmaf" min="…" max="…" mean="…" harmonic_mean="…" />
//!   </pooled_metrics>
//!   <aggregate_metrics />
//! </VMAF>
//! ```
//! What becomes of it is described in [`super::libvmaf`]; this file only
//! reads the layout. Quirks handled here:
//! - Every value is an attribute printed with `%.6f`, so a NaN is the C
//!   library's `nan`/`-nan` (`-nan(ind)` on MSVC), which is an unusable
//!   frame; in `<pooled_metrics>` a NaN mean skips the cross-check.
//! - `fyi fps` is processing speed, not the video's frame rate: ignored.
//! - CRLF on Windows (`fopen(path, "w")`) is whitespace like any other.
//! - libvmaf 1.x logs (`<frame frameNum="0" adm2=… vmaf=…/>`, no
//!   `<pooled_metrics>`) read the same way.
//!
//! The log is one document, read whole. libvmaf writes a fixed subset of
//! XML: empty elements whose attributes are metric names and numbers,
//! nothing escaped, no text. So the tags are scanned here (`Tags` and
//! `Tag::attributes`, about a hundred lines, with the line of every tag
//! for errors) rather than with an XML crate: declarations, comments and
//! closing tags are skipped, attribute values may use either quote, and
//! anything libvmaf would not write (an entity in a number, an unterminated
//! tag) is an error at its line.

use crate::ingest::{read_document, LineCounter};
use std::io::BufRead;

use super::{printf_number, ClipFrames, LoggedMean};
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for libvmaf XML logs.
pub struct LibvmafXmlReader;

impl ScoreReader for LibvmafXmlReader {
    const NAME: &'static str = "libvmaf-xml";
    const EXTENSIONS: &'static [&'static str] = &["xml"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let mut rest = head.trim_start();
        // An XML declaration or comments may come before the root.
        while rest.starts_with("<?") || rest.starts_with("<!--") {
            let close = if rest.starts_with("<?") { "?>" } else { "-->" };
            rest = rest[rest.find(close)? + close.len()..].trim_start();
        }
        let after = rest.strip_prefix("<VMAF")?;
        after
            .starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .then(|| "a libvmaf XML log (`<VMAF` root element)".to_string())
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let text = read_document(input)?;
        let text = text.as_str();
        let mut lines = LineCounter::new(text);
        let mut clip = ClipFrames::new(options);
        let mut logged_mean = None;
        let mut seen_root = false;
        let mut in_pooled_metrics = false;
        let mut frames_line = None;
        for tag in Tags::new(text) {
            let tag = tag.map_err(|(offset, message)| {
                ReadError::at(lines.line_of_offset(offset), message)
            })?;
            let line = lines.line_of_offset(tag.offset);
            if !seen_root {
                if tag.name != "VMAF" || tag.closing {
                    return Err(ReadError::at(
                        line,
                        format!(
                            "not a libvmaf XML log: the root element is <{}>, not <VMAF>",
                            tag.name
                        ),
                    )
                    .into());
                }
                seen_root = true;
                continue;
            }
            if tag.closing {
                if tag.name == "pooled_metrics" {
                    in_pooled_metrics = false;
                }
                continue;
            }
            // Only the elements read below have their attributes parsed.
            let attributes = || tag.attributes().map_err(|m| ReadError::at(line, m));
            match tag.name {
                "frames" => frames_line = frames_line.or(Some(line)),
                "frame" => {
                    let attributes = attributes()?;
                    let mut frame_num = None;
                    let mut metrics = Vec::with_capacity(attributes.len());
                    for (name, value) in attributes {
                        if name == "frameNum" {
                            let number = value.trim().parse::<i64>().map_err(|_| {
                                ReadError::at(
                                    line,
                                    format!(
                                        "frameNum must be a non-negative integer, got \"{value}\""
                                    ),
                                )
                            })?;
                            frame_num = Some(number);
                            continue;
                        }
                        let number = printf_number(value).ok_or_else(|| {
                            ReadError::at(line, format!("{name} is not a number: \"{value}\""))
                        })?;
                        metrics.push((name, number));
                    }
                    let frame_num =
                        frame_num.ok_or_else(|| ReadError::at(line, "<frame> has no frameNum"))?;
                    clip.add_frame(line, frame_num, metrics)?;
                }
                "pooled_metrics" => in_pooled_metrics = !tag.self_closing,
                "metric" if in_pooled_metrics => {
                    let attributes = attributes()?;
                    let named = |wanted: &str| {
                        attributes
                            .iter()
                            .find(|(name, _)| *name == wanted)
                            .map(|(_, value)| *value)
                    };
                    if named("name") == Some(clip.model()) {
                        if let Some(mean) = named("mean") {
                            let value = printf_number(mean).ok_or_else(|| {
                                ReadError::at(line, format!("mean is not a number: \"{mean}\""))
                            })?;
                            logged_mean = Some(LoggedMean { value, line });
                        }
                    }
                }
                _ => {}
            }
        }
        if !seen_root {
            return Err(ReadError::at(1, "not a libvmaf XML log: no <VMAF> element").into());
        }
        clip.finish(logged_mean, frames_line.unwrap_or(1), options, sink)
    }
}

/// One tag: `<name attributes…>`, `<name …/>` or `</name>`.
struct Tag<'a> {
    /// Byte offset of its `<`.
    offset: usize,
    name: &'a str,
    /// What follows the name, without a final `/`.
    attribute_text: &'a str,
    closing: bool,
    self_closing: bool,
}

impl<'a> Tag<'a> {
    /// `name="value"` pairs, in order; either quote is accepted.
    fn attributes(&self) -> Result<Vec<(&'a str, &'a str)>, String> {
        let mut attributes = Vec::new();
        let mut rest = self.attribute_text.trim_start();
        while !rest.is_empty() {
            let equals = rest
                .find('=')
                .ok_or_else(|| format!("<{}>: attribute without a value: `{rest}`", self.name))?;
            let name = rest[..equals].trim_end();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!(
                    "<{}>: malformed attribute `{}`",
                    self.name,
                    &rest[..equals]
                ));
            }
            let after = rest[equals + 1..].trim_start();
            let quote = after
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| format!("<{}>: the value of {name} is not quoted", self.name))?;
            let close = after[1..]
                .find(quote)
                .ok_or_else(|| format!("<{}>: the value of {name} is not closed", self.name))?;
            let value = &after[1..1 + close];
            if attributes.iter().any(|(seen, _)| *seen == name) {
                return Err(format!("<{}>: attribute {name} appears twice", self.name));
            }
            attributes.push((name, value));
            rest = after[close + 2..].trim_start();
        }
        Ok(attributes)
    }
}

/// The tags of a document in order, skipping declarations, comments and
/// text. An error is the byte offset and the message.
struct Tags<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Tags<'a> {
    fn new(text: &'a str) -> Tags<'a> {
        Tags { text, position: 0 }
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = Result<Tag<'a>, (usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let start = self.position + self.text[self.position..].find('<')?;
            let rest = &self.text[start..];
            let skip_to = |close: &str| rest.find(close).map(|at| start + at + close.len());
            let skipped = if rest.starts_with("<!--") {
                Some(skip_to("-->"))
            } else if rest.starts_with("<?") {
                Some(skip_to("?>"))
            } else if rest.starts_with("<!") {
                Some(skip_to(">"))
            } else {
                None
            };
            if let Some(end) = skipped {
                let Some(end) = end else {
                    self.position = self.text.len();
                    return Some(Err((start, "unterminated declaration or comment".into())));
                };
                self.position = end;
                continue;
            }
            // The closing `>`, outside quoted attribute values.
            let mut quote = None;
            let end = rest
                .char_indices()
                .skip(1)
                .find_map(|(at, c)| match (quote, c) {
                    (None, '"' | '\'') => {
                        quote = Some(c);
                        None
                    }
                    (Some(open), c) if c == open => {
                        quote = None;
                        None
                    }
                    (None, '>') => Some(at),
                    _ => None,
                });
            let Some(end) = end else {
                self.position = self.text.len();
                return Some(Err((start, "unterminated tag".into())));
            };
            self.position = start + end + 1;
            let inner = &rest[1..end];
            let closing = inner.starts_with('/');
            let inner = inner.strip_prefix('/').unwrap_or(inner);
            let self_closing = inner.ends_with('/');
            let inner = inner.strip_suffix('/').unwrap_or(inner);
            let name_end = inner.find(char::is_whitespace).unwrap_or(inner.len());
            return Some(Ok(Tag {
                offset: start,
                name: &inner[..name_end],
                attribute_text: &inner[name_end..],
                closing,
                self_closing,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::{error_of, read_all};
    use crate::ingest::RawScore;

    /// The reference's frame and pooled `vmaf` (scorer-formats.md §7), laid
    /// out byte for byte as `output.c` writes them.
    const REFERENCE_LAYOUT: &[u8] = b"<VMAF version=\"e1d466c\">
  <params qualityWidth=\"1920\" qualityHeight=\"1080\" />
  <fyi fps=\"41.98\" />
  <frames>
    <frame frameNum=\"0\" integer_adm2=\"0.962084\" integer_motion2=\"0.000000\" integer_vif_scale0=\"0.505712\" psnr_y=\"34.760779\" vmaf=\"83.856285\" />
  </frames>
  <pooled_metrics>
    <metric name=\"vmaf\" min=\"71.176557\" max=\"87.181420\" mean=\"76.668905\" harmonic_mean=\"76.510006\" />
  </pooled_metrics>
  <aggregate_metrics />
</VMAF>
";

    #[test]
    fn detects_the_vmaf_root() {
        let head = std::str::from_utf8(REFERENCE_LAYOUT).unwrap();
        assert!(LibvmafXmlReader::detect(head, "xml").is_some());
        assert!(LibvmafXmlReader::detect(
            "<?xml version=\"1.0\"?>\n<!-- x -->\n<VMAF version=\"1.5.3\">",
            "xml"
        )
        .is_some());
        assert!(LibvmafXmlReader::detect("<VMAFX>", "xml").is_none());
        assert!(LibvmafXmlReader::detect("<root><VMAF/></root>", "xml").is_none());
    }

    #[test]
    fn reads_the_reference_layout() {
        let records = read_all::<LibvmafXmlReader>(REFERENCE_LAYOUT).unwrap();
        let record = &records[0];
        assert_eq!(record.value, RawScore::Number(83.856285));
        assert_eq!(record.pooled_frames, 1);
        assert_eq!(
            (record.frames[0].frame_index, record.frames[0].value),
            (0, Some(83.856285))
        );
        assert_eq!(
            record.components,
            vec![
                ("integer_adm2".to_string(), Some(0.962084)),
                ("integer_motion2".to_string(), Some(0.0)),
                ("integer_vif_scale0".to_string(), Some(0.505712)),
                ("psnr_y".to_string(), Some(34.760779)),
            ]
        );
    }

    #[test]
    fn the_pooled_mean_of_the_model_metric_is_cross_checked() {
        struct Notes(Vec<String>);
        impl RecordSink for Notes {
            type Error = ReadError;
            fn push(&mut self, _: crate::ingest::ScoreRecord) -> Result<(), ReadError> {
                Ok(())
            }
            fn note(&mut self, message: String) {
                self.0.push(message);
            }
        }
        let mut notes = Notes(Vec::new());
        LibvmafXmlReader::read(
            &mut &REFERENCE_LAYOUT[..],
            &ReadOptions::default(),
            &mut notes,
        )
        .unwrap();
        assert!(
            notes.0[1].starts_with("libvmaf's pooled mean of vmaf on line 8 is 76.668905"),
            "{:?}",
            notes.0
        );
    }

    #[test]
    fn nan_subsampled_frames_libvmaf_1_layout_and_crlf() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<VMAF version=\"1.5.3\">\r\n  <params model=\"vmaf_v0.6.1.pkl\" scaledWidth=\"1920\" scaledHeight=\"1080\" subsample=\"2\" />\r\n  <frames>\r\n    <frame frameNum=\"0\" adm2=\"0.962084\" vmaf=\"83.856285\" />\r\n    <frame frameNum=\"2\" adm2='-nan' vmaf=\"-nan\" />\r\n    <frame frameNum=\"4\" adm2=\"0.947512\" vmaf=\"76.310862\" />\r\n  </frames>\r\n</VMAF>\r\n";
        let record = &read_all::<LibvmafXmlReader>(bytes).unwrap()[0];
        assert_eq!(
            record
                .frames
                .iter()
                .map(|f| (f.frame_index, f.value))
                .collect::<Vec<_>>(),
            [(0, Some(83.856285)), (2, None), (4, Some(76.310862))]
        );
        assert_eq!(
            record.value,
            RawScore::Number((83.856285 + 76.310862) / 2.0)
        );
        assert_eq!(record.components.len(), 1);
        assert_eq!(record.components[0].0, "adm2");
    }

    #[test]
    fn malformed_logs_name_their_line() {
        assert_eq!(
            error_of::<LibvmafXmlReader>(
                b"<VMAF>\n<frames>\n<frame frameNum=\"0\" vmaf=\"high\" />\n"
            ),
            (3, "vmaf is not a number: \"high\"".to_string())
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(b"<VMAF>\n<frame vmaf=\"1.0\" />\n"),
            (2, "<frame> has no frameNum".to_string())
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(b"<VMAF>\n<frame frameNum=\"0\" vmaf=\"1.0\"\n"),
            (2, "unterminated tag".to_string())
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(b"<VMAF>\n<frame frameNum=\"0\" vmaf=1.0 />\n").1,
            "<frame>: the value of vmaf is not quoted"
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(
                b"<VMAF>\n<frame frameNum=\"0\" vmaf=\"1\" vmaf=\"2\"/>\n"
            )
            .1,
            "<frame>: attribute vmaf appears twice"
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(b"<VMAF>\n<frame frameNum=\"x\" vmaf=\"1\"/>\n").1,
            "frameNum must be a non-negative integer, got \"x\""
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(b"\n<root/>\n"),
            (
                2,
                "not a libvmaf XML log: the root element is <root>, not <VMAF>".to_string()
            )
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(
                b"<VMAF version=\"1\">\n  <frames>\n  </frames>\n</VMAF>\n"
            ),
            (2, "the log has no frames".to_string())
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(b"just text"),
            (1, "not a libvmaf XML log: no <VMAF> element".to_string())
        );
        assert_eq!(
            error_of::<LibvmafXmlReader>(b"\n"),
            (1, "empty file".to_string())
        );
    }
}
