//! The fastest tier: the plain-JSON byte scanner ([`crate::plain_json`])
//! reading rows written the plain way scorers write them (no escapes in
//! strings, no exponents in numbers, little nesting), which is nearly every
//! row. It gives up (`None`) on anything else, and the row goes to the
//! serde-based tier, so that what it accepts is a strict subset of what
//! serde_json accepts, read to the same values (the scanner's rules), with
//! at most [`MAX_DEPTH`] levels of nesting, well inside serde_json's
//! recursion limit of 127.
//!
//! Rows of one file, and frames of one payload, are written alike: the
//! scanner remembers the last one's field names ([`Shapes`]) and checks the
//! next one's against them before scanning and looking names up.

use std::borrow::Cow;

use crate::plain_json::Scanner;

use super::{
    Class, Fields, FrameFields, FrameValue, Frames, NameTable, Row, RowReader, Scalar, Slot,
};

/// Nesting beyond this gives up: serde_json refuses 128 levels, and
/// counting exactly to its limit is not worth it for rows this deep.
const MAX_DEPTH: u32 = 100;

/// Scan one row; `None` when the row is not an object written the plain
/// way (or not valid JSON).
pub(super) fn row<'a>(
    reader: &RowReader<'_>,
    text: &'a str,
    row: &mut Row<'a>,
    shapes: &mut Shapes,
) -> Option<()> {
    let mut scanner = Scanner::new(text);
    scanner.whitespace();
    if scanner.peek()? != b'{' {
        return None;
    }
    scanner.row(reader, row, shapes)?;
    scanner.whitespace();
    (scanner.pos == text.len()).then_some(())
}

/// The field names of the last row and of its summary, in order, with
/// what they are: the rows of one file are written alike (see
/// [`Scanner::object_with_shape`]). Kept from line to line, so owned.
#[derive(Debug, Default)]
pub(super) struct Shapes {
    row: Vec<(Box<str>, Class)>,
    summary: Vec<(Box<str>, Class)>,
}

impl<'a> Scanner<'a> {
    /// Like [`Scanner::object`], for objects whose members are expected in
    /// the order `shape` remembers (the previous object's): a name that is
    /// exactly the remembered one at that place takes its class without
    /// being scanned or looked up in `table`; any other is, and `shape` is
    /// updated from there on. A remembered name holds no quote, backslash
    /// or control character, so matching its bytes and a closing quote is
    /// matching the string that scanning would have read.
    #[inline]
    fn object_with_shape<S: AsRef<str> + From<&'a str>>(
        &mut self,
        shape: &mut Vec<(S, Class)>,
        table: &NameTable,
        member: impl FnMut(&mut Self, Class) -> Option<()>,
    ) -> Option<()> {
        let mut at = 0;
        let name = |scanner: &mut Self| {
            let bytes = &scanner.text.as_bytes()[scanner.pos + 1..];
            let remembered = shape.get(at).and_then(|(name, class)| {
                let name = name.as_ref().as_bytes();
                (bytes.get(name.len()) == Some(&b'"') && &bytes[..name.len()] == name)
                    .then_some((name.len(), *class))
            });
            let class = match remembered {
                Some((length, class)) => {
                    scanner.pos += length + 2;
                    class
                }
                None => {
                    let name = scanner.string()?;
                    let class = table.classify(name);
                    shape.truncate(at);
                    shape.push((name.into(), class));
                    class
                }
            };
            at += 1;
            Some(class)
        };
        self.object_by(name, member)
    }

    /// A scalar value; lists and objects give up (they are kept as `Value`s,
    /// which the serde-based tier builds).
    #[inline]
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        Some(match self.peek()? {
            b'"' => Scalar::Str(Cow::Borrowed(self.string()?)),
            b'-' | b'0'..=b'9' => Scalar::Number(self.number()?),
            b't' => self.literal("true").map(|()| Scalar::Bool(true))?,
            b'f' => self.literal("false").map(|()| Scalar::Bool(false))?,
            b'n' => self.literal("null").map(|()| Scalar::Null)?,
            _ => return None,
        })
    }

    /// A value of a frame's field, reduced to what reading a frame needs;
    /// lists and objects give up, as in [`Scanner::scalar`].
    #[inline]
    fn frame_value(&mut self) -> Option<FrameValue> {
        Some(match self.peek()? {
            b'-' | b'0'..=b'9' => FrameValue::Number(self.number()?),
            b'"' => FrameValue::of_text(self.string()?),
            b'n' => self.literal("null").map(|()| FrameValue::Null)?,
            b't' => self.literal("true").map(|()| FrameValue::Other)?,
            b'f' => self.literal("false").map(|()| FrameValue::Other)?,
            _ => return None,
        })
    }

    /// Any value, checked and dropped; `depth` is the nesting of the value.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(|scanner, _| scanner.skip(depth + 1)),
            b'[' if depth < MAX_DEPTH => self.list(|scanner| scanner.skip(depth + 1)),
            b'{' | b'[' => None,
            _ => self.scalar().map(drop),
        }
    }

    /// The row object (at depth 1).
    fn row(
        &mut self,
        reader: &RowReader<'_>,
        row: &mut Row<'a>,
        shapes: &mut Shapes,
    ) -> Option<()> {
        let table = &reader.row;
        self.object_with_shape(&mut shapes.row, table, |scanner, class| {
            match class {
                Class::Other => scanner.skip(2)?,
                Class::Ambiguous => {
                    row.own.fallback = true;
                    scanner.skip(2)?;
                }
                Class::Field(at) => {
                    row.own.see(at);
                    let roles = table.entries[at].roles;
                    if roles.summary {
                        row.summary = match scanner.peek()? {
                            b'{' => Slot::Present(scanner.summary(reader, &mut shapes.summary)?),
                            _ => match scanner.scalar()? {
                                Scalar::Null => Slot::Null,
                                _ => Slot::Wrong,
                            },
                        };
                    } else if roles.frames {
                        row.frames = match scanner.peek()? {
                            b'[' => Slot::Present(scanner.frames(reader)?),
                            _ => match scanner.scalar()? {
                                Scalar::Null => Slot::Null,
                                _ => Slot::Wrong,
                            },
                        };
                    } else {
                        let value = scanner.scalar()?;
                        row.own.take(at, roles, value);
                    }
                }
            }
            Some(())
        })
    }

    /// A `summary` object (at depth 2), searched like the row but for its
    /// own `summary` and `frames`, which are not looked at.
    fn summary(
        &mut self,
        reader: &RowReader<'_>,
        shape: &mut Vec<(Box<str>, Class)>,
    ) -> Option<Fields<'a>> {
        let table = &reader.row;
        let mut fields = Fields::default();
        self.object_with_shape(shape, table, |scanner, class| {
            match class {
                Class::Field(at) => {
                    let roles = table.entries[at].roles;
                    if roles.summary || roles.frames {
                        scanner.skip(3)?;
                    } else {
                        fields.see(at);
                        let value = scanner.scalar()?;
                        fields.take(at, roles, value);
                    }
                }
                Class::Ambiguous => {
                    fields.fallback = true;
                    scanner.skip(3)?;
                }
                Class::Other => scanner.skip(3)?,
            }
            Some(())
        })?;
        Some(fields)
    }

    /// A `frames[]` list (at depth 2) of frame objects (at depth 3).
    fn frames(&mut self, reader: &RowReader<'_>) -> Option<Frames> {
        let table = &reader.frame;
        let frame_base = reader.fields.frame_base;
        let mut list = Vec::with_capacity(reader.frames_hint);
        let mut increasing = true;
        // The names of the last frame's fields in order, with what they
        // are: the frames of one payload are written alike, so the next
        // frame's names are checked against these instead of scanned and
        // looked up.
        let mut shape: Vec<(&'a str, Class)> = Vec::new();
        self.list(|scanner| {
            if scanner.peek()? != b'{' {
                return None;
            }
            let mut frame = FrameFields::default();
            scanner.object_with_shape(&mut shape, table, |scanner, class| {
                match class {
                    Class::Other => scanner.skip(4)?,
                    Class::Ambiguous => return None,
                    Class::Field(at) => {
                        let value = scanner.frame_value()?;
                        frame.take(at, table.entries[at].roles, value);
                    }
                }
                Some(())
            })?;
            let record = frame.finish(table, list.len(), frame_base)?;
            if let Some(last) = list.last() {
                let last: &crate::ingest::FrameRecord = last;
                increasing &= record.frame_index > last.frame_index;
            }
            list.push(record);
            Some(())
        })?;
        Some(Frames {
            list,
            increasing,
            fallback: false,
        })
    }
}
