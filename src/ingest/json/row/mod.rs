//! The fast way to read a JSON score row: parse only the fields
//! [`FieldNames::record_from_object`] would consult, instead of building a
//! `serde_json::Value` tree of the whole row and then searching it. A
//! wrapper payload holds hundreds of frame objects per line, and building
//! those trees was most of the time spent reading one.
//!
//! [`RowReader::read_row`] tries three tiers, each handing what it cannot
//! read exactly like the tree to the next:
//!
//! 1. [`scan`], a byte scanner for rows written the plain way (nearly all);
//! 2. a serde parse with seeds that keep only the candidate fields, for
//!    rows with escapes, exponents, long numbers, nested candidate values,
//!    and (after the same retry with bare `NaN`/`Infinity` quoted) rows
//!    Python wrote with those words;
//! 3. the tree itself (`parse_row` + `record_from_object`).
//!
//! Neither fast tier decides anything the tree would decide differently:
//!
//! - The same JSON grammar. The serde tier sends every value, looked at or
//!   not, through serde_json's `deserialize_any`, as building a `Value`
//!   does, so the same texts parse (numbers out of range, lone surrogates,
//!   nesting deeper than serde_json's recursion limit are refused alike);
//!   serde_json's own skipping (`IgnoredAny`, `RawValue`) is not used
//!   because it checks less. The scanner accepts a subset of that grammar.
//! - The same field lookup. A name matching a candidate only
//!   case-insensitively, or a field that appears twice in one object, makes
//!   the tree-based lookup depend on key order or on which duplicate wins;
//!   such rows go to the tree rather than re-implement that.
//! - The same errors. Any row that would be refused (bad key, frames that
//!   are not objects, no score …) goes to the tree, so the message is
//!   produced by the one place that words it, with the same line.
//!
//! The field rules are resolved once per file ([`NameTable`]), and reading
//! a row allocates only what the [`ScoreRecord`] keeps.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::fields::{self, FieldNames, FRAME_INDEX_FIELDS, RUNTIME_FIELDS};
use crate::ingest::record::status_text;
#[cfg(test)]
use crate::ingest::RawScore;
use crate::ingest::{FrameRecord, ScoreRecord};
use crate::nonfinite;

mod scan;

/// Reads JSON score rows with the field rules of one [`FieldNames`],
/// resolved once for a whole file.
pub(crate) struct RowReader<'f> {
    fields: &'f FieldNames,
    /// The names a row (or its `summary`) is searched for.
    row: NameTable,
    /// The names a frame of `frames[]` is searched for.
    frame: NameTable,
    /// The score candidates, for the "no score" wording of pooling.
    score_candidates: Vec<&'f str>,
    /// Whether the fast path can be used at all with these field names.
    fast: bool,
    /// How many frames the last payload had: the next one likely has as many.
    frames_hint: usize,
    /// How the last rows were written, for the scanner.
    shapes: scan::Shapes,
}

impl<'f> RowReader<'f> {
    /// A reader for rows named by `fields` (`--score-key-field`,
    /// `--score-field`, `--frame-base`).
    pub(crate) fn new(fields: &'f FieldNames) -> Self {
        let score_candidates = fields.score_candidates();
        let key_candidates = fields.key_candidates();

        let mut row = NameTable::default();
        for (at, name) in key_candidates.iter().enumerate() {
            row.add(name, true, |roles| {
                roles.key.get_or_insert(at as u8);
            });
        }
        for (at, name) in score_candidates.iter().enumerate() {
            row.add(name, true, |roles| {
                roles.score.get_or_insert(at as u8);
            });
        }
        for (at, name) in RUNTIME_FIELDS.iter().enumerate() {
            row.add(name, true, |roles| {
                roles.runtime.get_or_insert(at as u8);
            });
        }
        row.add("status", true, |roles| roles.status = true);
        // Looked up by exact name only (`Map::get`), so other spellings of
        // these are ordinary fields.
        row.add("competitor", false, |roles| roles.competitor = true);
        row.add("summary", false, |roles| roles.summary = true);
        row.add("frames", false, |roles| roles.frames = true);

        let mut frame = NameTable::default();
        for (at, name) in FRAME_INDEX_FIELDS.iter().enumerate() {
            frame.add(name, true, |roles| {
                roles.frame_index.get_or_insert(at as u8);
            });
        }
        for (at, name) in score_candidates.iter().enumerate() {
            frame.add(name, true, |roles| {
                roles.score.get_or_insert(at as u8);
            });
        }
        frame.add("runtime_ms", true, |roles| roles.runtime = Some(0));

        // `summary` and `frames` are read as structures; a field name that
        // is also a key or score candidate (`--score-field frames`) would
        // need its value twice over, which only the tree-based reading does.
        let structural_clash = row.entries.iter().any(|entry| {
            (entry.roles.summary || entry.roles.frames) && entry.roles.has_value_role()
        });
        let fast = !structural_clash && row.entries.len() <= 64 && frame.entries.len() <= 64;
        RowReader {
            fields,
            row,
            frame,
            score_candidates,
            fast,
            frames_hint: 0,
            shapes: scan::Shapes::default(),
        }
    }

    /// Read one row object that starts at `line`: the record, or the
    /// message of why it cannot be read (the reader adds the line).
    /// Identical in every outcome to `parse_row` + `record_from_object`.
    pub(crate) fn read_row(&mut self, text: &str, line: u64) -> Result<ScoreRecord, String> {
        if self.fast {
            // Filled in place: a row is a few hundred bytes, not worth moving.
            let mut row = Row::new();
            let mut shapes = std::mem::take(&mut self.shapes);
            let scanned = scan::row(self, text, &mut row, &mut shapes);
            self.shapes = shapes;
            if scanned.is_some() {
                if let Some(record) = self.resolve(&mut row, line) {
                    return Ok(record);
                }
                // Refused, or order-dependent: the serde-based tier would
                // come to the same, so go straight to the tree.
                let row = crate::ingest::json::parse_row(text)?;
                return self.fields.record_from_object(&row, line);
            }
            match self.parse(text) {
                Ok(Some(mut row)) => {
                    if let Some(record) = self.resolve(&mut row, line) {
                        return Ok(record);
                    }
                }
                Ok(None) => {}
                // Not JSON as written: retry with Python's bare words quoted,
                // exactly as `parse_row` does.
                Err(_) => {
                    if let Some(quoted) = nonfinite::quote_nonfinite_words(text) {
                        if let Ok(Some(mut row)) = self.parse(&quoted) {
                            if let Some(record) = self.resolve(&mut row, line) {
                                return Ok(record);
                            }
                        }
                    }
                }
            }
        }
        let row = crate::ingest::json::parse_row(text)?;
        self.fields.record_from_object(&row, line)
    }

    /// Parse `text` as one JSON value, collecting the fields that matter.
    /// `Ok(None)`: valid JSON, but not an object. `Err`: not valid JSON, in
    /// exactly the cases where parsing it into a `Value` fails.
    fn parse<'a>(&self, text: &'a str) -> Result<Option<Row<'a>>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let row = (&mut deserializer).deserialize_any(RowVisitor { reader: self })?;
        deserializer.end()?;
        Ok(row)
    }

    /// The record of a parsed row, or `None` when the row must be read the
    /// tree-based way (it is refused, or its lookup is order-dependent).
    fn resolve(&mut self, row: &mut Row<'_>, line: u64) -> Option<ScoreRecord> {
        if row.own.fallback {
            return None;
        }
        let summary = match &row.summary {
            Slot::Absent | Slot::Null => None,
            Slot::Present(summary) if !summary.fallback => Some(summary),
            Slot::Present(_) | Slot::Wrong => return None,
        };

        let (_, entry, key) = row
            .own
            .key
            .as_ref()
            .or_else(|| summary.and_then(|s| s.key.as_ref()))?;
        let raw_key = match key {
            Scalar::Str(text) if !text.trim().is_empty() => String::from(text.as_ref()),
            // A number used as a key keeps its JSON spelling: 7 is "7".
            Scalar::Number(number) => number.to_string(),
            _ => return None,
        };
        let key_field = self.row.entries[usize::from(*entry)].name.clone();

        fn text_of<'v>(fields: &'v Fields<'_>) -> Option<&'v str> {
            match &fields.competitor {
                Some(Scalar::Str(text)) => Some(text.as_ref()),
                _ => None,
            }
        }
        let scorer = text_of(&row.own)
            .or_else(|| summary.and_then(text_of))
            .filter(|name| !name.trim().is_empty())
            .map(|name| name.trim().to_string());

        let status = match row.own.status.as_ref() {
            Some(status) => Some(status),
            None => summary.and_then(|s| s.status.as_ref()),
        };
        let reported_status = match status {
            None | Some(Scalar::Null) => None,
            Some(Scalar::Str(text)) => Some(status_text(text.as_ref())),
            Some(other) => Some(Cow::Owned(other.to_value().to_string())),
        };

        let frames = match &mut row.frames {
            Slot::Absent | Slot::Null => Vec::new(),
            Slot::Present(frames) if !frames.fallback && !has_repeats(frames) => {
                std::mem::take(&mut frames.list)
            }
            Slot::Present(_) | Slot::Wrong => return None,
        };
        self.frames_hint = frames.len();
        // The list was sized by the previous payload's frame count (or grew
        // by doubling); a record keeps its frames, so do not let it keep
        // room for more than it has, as the tree-based reading never did.
        let mut frames = frames;
        if frames.capacity() > frames.len() + frames.len() / 16 + 8 {
            frames.shrink_to_fit();
        }

        let score = row
            .own
            .score
            .as_ref()
            .or_else(|| summary.and_then(|s| s.score.as_ref()));
        let (value, pooled_frames, pool_note) = match score {
            Some((_, entry, value)) => (
                fields::score_value(
                    &self.row.entries[usize::from(*entry)].name,
                    &value.to_value(),
                ),
                0,
                None,
            ),
            None => fields::pool_frames(&frames, &self.score_candidates).ok()?,
        };
        let runtime = row
            .own
            .runtime
            .as_ref()
            .or_else(|| summary.and_then(|s| s.runtime.as_ref()));
        let runtime_ms = match runtime {
            Some((_, entry, value)) => {
                optional_number(&self.row.entries[usize::from(*entry)].name, value).ok()?
            }
            None => fields::frames_runtime(&frames),
        };
        // Notes only when a value could need one (the usual row has none).
        let is_text =
            |found: Option<&(u8, u8, Scalar<'_>)>| matches!(found, Some((_, _, Scalar::Str(_))));
        let note = if self.fields.score.is_some() || is_text(score) || is_text(runtime) {
            let named = |found: Option<&(u8, u8, Scalar<'_>)>| {
                found.map(|(_, entry, value)| {
                    (
                        self.row.entries[usize::from(*entry)].name.as_ref(),
                        value.to_value(),
                    )
                })
            };
            let (score, runtime) = (named(score), named(runtime));
            fields::join_notes(
                pool_note,
                self.fields.value_notes(
                    score.as_ref().map(|(field, value)| (*field, value)),
                    runtime.as_ref().map(|(field, value)| (*field, value)),
                ),
            )
        } else {
            pool_note
        };
        Some(ScoreRecord {
            line,
            key_field,
            raw_key,
            scorer,
            scorer_hint: None,
            metric: None,
            value,
            reported_status,
            runtime_ms,
            frames,
            pooled_frames,
            note,
            components: Vec::new(),
            warnings: Vec::new(),
        })
    }
}

/// Whether two frames share a frame index (an error: the row falls back).
/// Frames almost always come in increasing order, which rules it out
/// without a set.
fn has_repeats(frames: &Frames) -> bool {
    if frames.increasing {
        return false;
    }
    let mut indices: Vec<i64> = frames.list.iter().map(|f| f.frame_index).collect();
    indices.sort_unstable();
    indices.windows(2).any(|pair| pair[0] == pair[1])
}

/// A runtime as `fields::optional_number` reads it, without building a
/// `Value` for the usual number.
fn optional_number(field: &str, value: &Scalar<'_>) -> Result<Option<f64>, String> {
    match value {
        Scalar::Number(number) => Ok(number.as_f64().filter(|v| v.is_finite())),
        Scalar::Null => Ok(None),
        other => fields::optional_number(field, &other.to_value()),
    }
}

/// What one field name is a candidate for. A name can be several things
/// at once (`--score-key-field status`).
#[derive(Clone, Copy, Debug, Default)]
struct Roles {
    /// Position among the key candidates (earlier wins).
    key: Option<u8>,
    /// Position among the score candidates (earlier wins).
    score: Option<u8>,
    /// Position among the runtime candidates (earlier wins).
    runtime: Option<u8>,
    /// Position among the frame index fields (frames only).
    frame_index: Option<u8>,
    status: bool,
    competitor: bool,
    summary: bool,
    frames: bool,
}

impl Roles {
    /// How many row-level lookups the field is a candidate for.
    fn count(&self) -> usize {
        usize::from(self.key.is_some())
            + usize::from(self.score.is_some())
            + usize::from(self.runtime.is_some())
            + usize::from(self.status)
            + usize::from(self.competitor)
    }

    /// Whether the field's value is kept as a scalar for some role.
    fn has_value_role(&self) -> bool {
        self.key.is_some()
            || self.score.is_some()
            || self.runtime.is_some()
            || self.frame_index.is_some()
            || self.status
            || self.competitor
    }
}

/// One field name the reader looks for.
#[derive(Debug)]
struct Entry {
    name: Cow<'static, str>,
    /// Whether the lookup of this name also accepts other letter cases
    /// (`find_candidate`), so that a differently-cased field matters.
    case_insensitive: bool,
    roles: Roles,
    /// `n`, the frame counter that counts from 1 unless `--frame-base` says.
    one_based: bool,
    /// The first letter, lower-cased.
    first: Option<u8>,
}

/// The field names of one level (row or frame), found by length first:
/// most names in a row are not candidates and are rejected by that alone.
#[derive(Debug, Default)]
struct NameTable {
    entries: Vec<Entry>,
    /// For each name length, the entries of that length.
    by_length: Vec<Vec<usize>>,
}

/// Whether two names of the same length are equal, compared eight bytes
/// at a time inline: names are short, and a call to `memcmp` for each one
/// cost more than the comparison.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a_chunks = a.chunks_exact(8);
    let mut b_chunks = b.chunks_exact(8);
    for (x, y) in a_chunks.by_ref().zip(b_chunks.by_ref()) {
        if x != y {
            return false;
        }
    }
    a_chunks.remainder() == b_chunks.remainder()
}

/// What a field name is to the reader.
#[derive(Clone, Copy, Debug)]
enum Class {
    /// Not a candidate for anything.
    Other,
    /// Exactly the name of this entry, and no other spelling of a name.
    Field(usize),
    /// Another letter case of a candidate: the lookup depends on key order.
    Ambiguous,
}

impl NameTable {
    fn add(&mut self, name: &str, case_insensitive: bool, set: impl FnOnce(&mut Roles)) {
        let at = match self.entries.iter().position(|e| &*e.name == name) {
            Some(at) => at,
            None => {
                self.entries.push(Entry {
                    name: crate::key::field_name(name),
                    case_insensitive: false,
                    roles: Roles::default(),
                    one_based: name == "n",
                    first: name.as_bytes().first().map(u8::to_ascii_lowercase),
                });
                let at = self.entries.len() - 1;
                if self.by_length.len() <= name.len() {
                    self.by_length.resize(name.len() + 1, Vec::new());
                }
                self.by_length[name.len()].push(at);
                at
            }
        };
        let entry = &mut self.entries[at];
        entry.case_insensitive |= case_insensitive;
        set(&mut entry.roles);
    }

    fn classify(&self, name: &str) -> Class {
        let Some(same_length) = self.by_length.get(name.len()) else {
            return Class::Other;
        };
        // Names of one length rarely share their first letter: compare that
        // first (an exact or other-case match has the same, lower-cased).
        let first = name.as_bytes().first().map(u8::to_ascii_lowercase);
        let mut class = Class::Other;
        for &at in same_length {
            let entry = &self.entries[at];
            if entry.first != first {
                continue;
            }
            if same_bytes(entry.name.as_bytes(), name.as_bytes()) {
                class = Class::Field(at);
            } else if entry.case_insensitive && entry.name.eq_ignore_ascii_case(name) {
                return Class::Ambiguous;
            }
        }
        class
    }
}

/// A field value the reader keeps: scalars as parsed (strings borrowed
/// from the line unless they hold escapes), lists and objects as `Value`s,
/// which only unusual rows have where a candidate is looked up.
#[derive(Clone, Debug)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Nested(Box<Value>),
}

impl Scalar<'_> {
    /// The `Value` parsing the field into a tree would have given.
    fn to_value(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(flag) => Value::Bool(*flag),
            Scalar::Number(number) => Value::Number(number.clone()),
            Scalar::Str(text) => Value::String(text.to_string()),
            Scalar::Nested(value) => Value::clone(value),
        }
    }
}

/// A field that is read as a structure (`summary`, `frames`).
enum Slot<T> {
    Absent,
    Null,
    Present(T),
    /// Neither null nor the right kind of JSON value: the row is refused.
    Wrong,
}

/// The candidates found on one object (the row or its summary): for each
/// lookup, the earliest candidate present, with its entry and value.
#[derive(Default)]
struct Fields<'a> {
    /// The earliest key candidate whose value is not null.
    key: Option<(u8, u8, Scalar<'a>)>,
    score: Option<(u8, u8, Scalar<'a>)>,
    runtime: Option<(u8, u8, Scalar<'a>)>,
    status: Option<Scalar<'a>>,
    competitor: Option<Scalar<'a>>,
    /// Entries seen, to notice a repeated field.
    seen: u64,
    /// The object must be read the tree-based way.
    fallback: bool,
}

impl<'a> Fields<'a> {
    /// Note entry `at` seen; a second time means a repeated field.
    fn see(&mut self, at: usize) {
        let bit = 1u64 << at;
        self.fallback |= self.seen & bit != 0;
        self.seen |= bit;
    }

    fn take(&mut self, at: usize, roles: Roles, value: Scalar<'a>) {
        let entry = at as u8;
        if roles.count() == 1 {
            // The usual case: the value goes to one place, without a copy.
            if let Some(position) = roles.key {
                if !matches!(value, Scalar::Null)
                    && self.key.as_ref().is_none_or(|held| position < held.0)
                {
                    self.key = Some((position, entry, value));
                }
            } else if let Some(position) = roles.score {
                if self.score.as_ref().is_none_or(|held| position < held.0) {
                    self.score = Some((position, entry, value));
                }
            } else if let Some(position) = roles.runtime {
                if self.runtime.as_ref().is_none_or(|held| position < held.0) {
                    self.runtime = Some((position, entry, value));
                }
            } else if roles.status {
                self.status = Some(value);
            } else if roles.competitor {
                self.competitor = Some(value);
            }
            return;
        }
        let earlier = |slot: &Option<(u8, u8, Scalar<'a>)>, position: u8| {
            slot.as_ref().is_none_or(|(held, _, _)| position < *held)
        };
        if let Some(position) = roles.key {
            if !matches!(value, Scalar::Null) && earlier(&self.key, position) {
                self.key = Some((position, entry, value.clone()));
            }
        }
        if let Some(position) = roles.score {
            if earlier(&self.score, position) {
                self.score = Some((position, entry, value.clone()));
            }
        }
        if let Some(position) = roles.runtime {
            if earlier(&self.runtime, position) {
                self.runtime = Some((position, entry, value.clone()));
            }
        }
        if roles.status {
            self.status = Some(value.clone());
        }
        if roles.competitor {
            self.competitor = Some(value);
        }
    }
}

/// What a frame's field can be, as far as reading a frame is concerned:
/// small, because frames are many.
#[derive(Clone, Debug)]
enum FrameValue {
    Number(Number),
    Null,
    /// A string Python writes for a non-finite number (a runtime of `"NaN"`
    /// is no runtime, not an error).
    NonfiniteWord,
    /// Any other string, a boolean, a list or an object.
    Other,
}

impl FrameValue {
    /// A string: the number it spells (as `fields::score_value` reads
    /// it), a non-finite word, or other text.
    fn of_text(text: &str) -> FrameValue {
        match fields::number_in_text(text).and_then(Number::from_f64) {
            Some(number) => FrameValue::Number(number),
            None if nonfinite::is_nonfinite_word(text) => FrameValue::NonfiniteWord,
            None => FrameValue::Other,
        }
    }
}

impl From<&Scalar<'_>> for FrameValue {
    fn from(value: &Scalar<'_>) -> Self {
        match value {
            Scalar::Number(number) => FrameValue::Number(number.clone()),
            Scalar::Null => FrameValue::Null,
            Scalar::Str(text) => FrameValue::of_text(text),
            _ => FrameValue::Other,
        }
    }
}

/// The candidates found on one frame object, each reduced on arrival to
/// what [`FrameFields::finish`] needs (frames are many: no value is kept).
#[derive(Default)]
struct FrameFields {
    /// The earliest frame index field present: its position among the
    /// candidates, its entry, and the value if it is an integer.
    index: Option<(u8, usize, Option<i64>)>,
    /// The earliest score candidate present, and its value if it is usable.
    score: Option<(u8, Option<f64>)>,
    /// The runtime, `Err` when it is refused.
    runtime: Option<Result<Option<f64>, ()>>,
    seen: u64,
    /// The frame must be read the tree-based way.
    fallback: bool,
}

impl FrameFields {
    fn take(&mut self, at: usize, roles: Roles, value: FrameValue) {
        let bit = 1u64 << at;
        self.fallback |= self.seen & bit != 0;
        self.seen |= bit;
        if let Some(position) = roles.frame_index {
            if self.index.is_none_or(|(held, _, _)| position < held) {
                let index = match &value {
                    FrameValue::Number(number) => number.as_i64(),
                    _ => None,
                };
                self.index = Some((position, at, index));
            }
        }
        if roles.runtime.is_some() {
            // As `fields::optional_number`; its error falls back, so only
            // whether there is one matters.
            self.runtime = Some(match &value {
                FrameValue::Number(number) => Ok(number.as_f64().filter(|v| v.is_finite())),
                FrameValue::Null | FrameValue::NonfiniteWord => Ok(None),
                FrameValue::Other => Err(()),
            });
        }
        if let Some(position) = roles.score {
            if self.score.is_none_or(|(held, _)| position < held) {
                // As `fields::score_value`: only a finite number is usable.
                let score = match &value {
                    FrameValue::Number(number) => number.as_f64().filter(|v| v.is_finite()),
                    _ => None,
                };
                self.score = Some((position, score));
            }
        }
    }

    /// The frame as `FieldNames::frames` reads it, or `None` when it would
    /// be refused (or must be read the tree-based way). `position` is its
    /// place in `frames[]`, its index when no field gives one.
    fn finish(
        self,
        table: &NameTable,
        position: usize,
        frame_base: Option<i64>,
    ) -> Option<FrameRecord> {
        if self.fallback {
            return None;
        }
        let frame_index = match self.index {
            Some((_, at, index)) => {
                let base = frame_base.unwrap_or(i64::from(table.entries[at].one_based));
                index.filter(|index| *index >= base)? - base
            }
            None => position as i64,
        };
        let (_, value) = self.score?;
        let runtime_ms = match self.runtime {
            Some(runtime) => runtime.ok()?,
            None => None,
        };
        Some(FrameRecord {
            frame_index,
            value,
            runtime_ms,
        })
    }
}

/// A parsed row object.
struct Row<'a> {
    own: Fields<'a>,
    summary: Slot<Fields<'a>>,
    frames: Slot<Frames>,
}

impl Row<'_> {
    fn new() -> Self {
        Row {
            own: Fields::default(),
            summary: Slot::Absent,
            frames: Slot::Absent,
        }
    }
}

/// A parsed `frames[]` list.
struct Frames {
    list: Vec<FrameRecord>,
    /// Whether every frame index is larger than the one before.
    increasing: bool,
    /// Some frame must be read the tree-based way (or is refused).
    fallback: bool,
}

/// A field name, borrowed from the line unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_string()))
    }
}

/// Any JSON value, parsed and dropped. Goes through `deserialize_any` at
/// every level so that it accepts exactly what building a `Value` accepts.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KeySeed)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

/// A field value kept as a [`Scalar`].
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ScalarSeed)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(flag))
    }

    // The number conversions are those of `Value`'s own visitor.
    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(number.into()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(number.into()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(number).map_or(Scalar::Null, Scalar::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(text.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        use serde::Deserialize;
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq))
            .map(|value| Scalar::Nested(Box::new(value)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        use serde::Deserialize;
        Value::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(|value| Scalar::Nested(Box::new(value)))
    }
}

/// Implements the visits of a seed that only wants one kind of JSON value
/// (`$wanted`): every other kind is consumed as the grammar requires and
/// answered with `$other`.
macro_rules! other_kinds_are {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// The row: an object, else `None`.
struct RowVisitor<'r, 'f> {
    reader: &'r RowReader<'f>,
}

impl<'de> Visitor<'de> for RowVisitor<'_, '_> {
    type Value = Option<Row<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a row object")
    }

    other_kinds_are!(None);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skip.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let table = &self.reader.row;
        let mut row = Row::new();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            match table.classify(&name) {
                Class::Other => map.next_value_seed(Skip)?,
                Class::Ambiguous => {
                    row.own.fallback = true;
                    map.next_value_seed(Skip)?;
                }
                Class::Field(at) => {
                    row.own.see(at);
                    let roles = table.entries[at].roles;
                    if roles.summary {
                        row.summary = map.next_value_seed(SummarySeed { table })?;
                    } else if roles.frames {
                        row.frames = map.next_value_seed(FramesSeed {
                            reader: self.reader,
                        })?;
                    } else {
                        let value = map.next_value_seed(ScalarSeed)?;
                        row.own.take(at, roles, value);
                    }
                }
            }
        }
        Ok(Some(row))
    }
}

/// A row's `summary`: an object searched like the row (its own `summary`
/// and `frames` are not looked at), or null.
struct SummarySeed<'t> {
    table: &'t NameTable,
}

impl<'de> DeserializeSeed<'de> for SummarySeed<'_> {
    type Value = Slot<Fields<'de>>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SummarySeed<'_> {
    type Value = Slot<Fields<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a summary object")
    }

    other_kinds_are!(Slot::Wrong);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Slot::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skip.visit_seq(seq).map(|()| Slot::Wrong)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Fields::default();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            match self.table.classify(&name) {
                Class::Field(at) => {
                    let roles = self.table.entries[at].roles;
                    if roles.summary || roles.frames {
                        // Not looked up inside a summary (and, by
                        // construction, not a candidate for anything else).
                        map.next_value_seed(Skip)?;
                    } else {
                        fields.see(at);
                        let value = map.next_value_seed(ScalarSeed)?;
                        fields.take(at, roles, value);
                    }
                }
                Class::Ambiguous => {
                    fields.fallback = true;
                    map.next_value_seed(Skip)?;
                }
                Class::Other => map.next_value_seed(Skip)?,
            }
        }
        Ok(Slot::Present(fields))
    }
}

/// A row's `frames[]`: a list of frame objects, or null.
struct FramesSeed<'r, 'f> {
    reader: &'r RowReader<'f>,
}

impl<'de> DeserializeSeed<'de> for FramesSeed<'_, '_> {
    type Value = Slot<Frames>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FramesSeed<'_, '_> {
    type Value = Slot<Frames>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of frames")
    }

    other_kinds_are!(Slot::Wrong);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Slot::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Skip.visit_map(map).map(|()| Slot::Wrong)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut frames = Frames {
            list: Vec::with_capacity(self.reader.frames_hint),
            increasing: true,
            fallback: false,
        };
        let frame_base = self.reader.fields.frame_base;
        while let Some(frame) = seq.next_element_seed(FrameSeed {
            table: &self.reader.frame,
            position: frames.list.len(),
            frame_base,
        })? {
            match frame {
                Some(frame) => {
                    if let Some(last) = frames.list.last() {
                        frames.increasing &= frame.frame_index > last.frame_index;
                    }
                    frames.list.push(frame);
                }
                // Keep the positions right for the frames after it, though
                // the row falls back anyway.
                None => {
                    frames.fallback = true;
                    frames.list.push(FrameRecord {
                        frame_index: 0,
                        value: None,
                        runtime_ms: None,
                    });
                }
            }
        }
        Ok(Slot::Present(frames))
    }
}

/// One frame object of `frames[]`; `None` when it is refused or its lookup
/// is order-dependent.
struct FrameSeed<'t> {
    table: &'t NameTable,
    /// The frame's place in the list, its index when no field gives one.
    position: usize,
    frame_base: Option<i64>,
}

impl<'de> DeserializeSeed<'de> for FrameSeed<'_> {
    type Value = Option<FrameRecord>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_> {
    type Value = Option<FrameRecord>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a frame object")
    }

    other_kinds_are!(None);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skip.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut frame = FrameFields::default();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            match self.table.classify(&name) {
                Class::Other => map.next_value_seed(Skip)?,
                Class::Ambiguous => {
                    frame.fallback = true;
                    map.next_value_seed(Skip)?;
                }
                Class::Field(at) => {
                    let value = map.next_value_seed(ScalarSeed)?;
                    frame.take(at, self.table.entries[at].roles, (&value).into());
                }
            }
        }
        Ok(frame.finish(self.table, self.position, self.frame_base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading every tier must agree with: a `Value` tree, then the lookup.
    fn by_tree(fields: &FieldNames, text: &str) -> Result<ScoreRecord, String> {
        let row = crate::ingest::json::parse_row(text)?;
        fields.record_from_object(&row, 7)
    }

    /// What the scanner tier alone reads, when it reads the row at all
    /// (never with field names the fast tiers are not used for).
    fn by_scanner(fields: &FieldNames, text: &str) -> Option<ScoreRecord> {
        let mut reader = RowReader::new(fields);
        if !reader.fast {
            return None;
        }
        let mut row = Row::new();
        scan::row(&reader, text, &mut row, &mut scan::Shapes::default())?;
        reader.resolve(&mut row, 7)
    }

    /// What the serde-based tier alone reads, when it reads the row at all
    /// (never with field names the fast tiers are not used for).
    fn by_serde(fields: &FieldNames, text: &str) -> Option<ScoreRecord> {
        let mut reader = RowReader::new(fields);
        if !reader.fast {
            return None;
        }
        let mut row = reader.parse(text).ok()??;
        reader.resolve(&mut row, 7)
    }

    /// Records compared through `Debug`, which tells -0.0 from 0.0.
    fn same(a: &ScoreRecord, b: &ScoreRecord) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    /// Every tier that reads `text` reads it as the tree does, and
    /// `read_row` gives the tree's outcome, error message included. Returns
    /// which tiers read the row, for tests that need the fast path taken.
    fn agrees(fields: &FieldNames, text: &str) -> (bool, bool) {
        let expected = by_tree(fields, text);
        let scanned = by_scanner(fields, text);
        let parsed = by_serde(fields, text);
        for (tier, record) in [("scanner", &scanned), ("serde", &parsed)] {
            if let Some(record) = record {
                match &expected {
                    Ok(expected) => assert!(
                        same(record, expected),
                        "{tier} tier differs on {text} with {fields:?}:\n{record:?}\n{expected:?}"
                    ),
                    Err(message) => panic!(
                        "{tier} tier read {text} with {fields:?}, which is refused: {message}"
                    ),
                }
            }
        }
        let got = RowReader::new(fields).read_row(text, 7);
        match (&got, &expected) {
            (Ok(got), Ok(expected)) => assert!(same(got, expected), "{text}: {got:?}"),
            (Err(got), Err(expected)) => assert_eq!(got, expected, "{text}"),
            _ => panic!("{text} with {fields:?}: read_row {got:?}, tree {expected:?}"),
        }
        (scanned.is_some(), parsed.is_some())
    }

    fn field_sets() -> Vec<FieldNames> {
        let named = |key: Option<&str>, score: Option<&str>, frame_base: Option<i64>| FieldNames {
            key: key.map(str::to_string),
            score: score.map(str::to_string),
            frame_base,
        };
        vec![
            FieldNames::default(),
            named(Some("clip"), Some("dover_overall"), None),
            named(Some("Clip"), Some("SCORE"), None),
            named(Some("status"), Some("runtime_ms"), None),
            named(Some("competitor"), Some("frame_idx"), None),
            named(None, Some("frames"), None),
            named(Some("summary"), None, None),
            named(None, None, Some(0)),
            named(None, None, Some(5)),
        ]
    }

    /// Rows of every shape the readers meet, well-formed or not.
    const ROWS: &[&str] = &[
        // The benchmark's scalar row and a wrapper payload.
        r#"{"clip_id": "clip_000000001", "competitor": "DOVER-Mobile", "score": 56.733, "runtime_ms": 27.16, "status": "ok"}"#,
        r#"{"name": "clip_a.mp4", "frames": [{"frame_idx": 0, "predicted_vmaf_or_mos": 26.407, "runtime_ms": 2.34}, {"frame_idx": 1, "predicted_vmaf_or_mos": 29.86, "runtime_ms": 0.79}], "summary": {"competitor": "fork-nr-metric", "runtime_total_ms": 533.41}}"#,
        r#"  {"clip":"x","video_id":"y","dover_overall":0.5,"score":9}	"#,
        r#"{}"#,
        r#"{ }"#,
        // Repeated fields: the last one counts.
        r#"{"clip_id": "a", "score": 1, "score": 2}"#,
        r#"{"clip_id": "a", "clip_id": null, "name": "b", "score": 1}"#,
        r#"{"clip_id": null, "clip_id": "a", "score": 1}"#,
        r#"{"clip_id": "a", "summary": {"score": 1, "score": null}}"#,
        r#"{"clip_id": "a", "summary": 5, "summary": {"score": 3}}"#,
        r#"{"clip_id": "a", "frames": [{"score": 1}], "frames": [{"score": 5}, {"score": 7}]}"#,
        r#"{"clip_id": "a", "frames": [1], "frames": [{"score": 5}]}"#,
        r#"{"clip_id": "a", "frames": [{"score": 1, "score": 3}]}"#,
        r#"{"clip_id": "a", "frames": [{"frame_idx": 1, "frame_idx": 0, "score": 1}, {"frame_idx": 1, "score": 2}]}"#,
        r#"{"clip_id": "a", "other": 1, "other": [2], "score": 4}"#,
        // Other letter cases of candidates.
        r#"{"Clip_ID": "a", "score": 1}"#,
        r#"{"clip_id": "a", "SCORE": 1, "Score": 2}"#,
        r#"{"clip_id": "a", "MOS": 1, "vmaf": 2}"#,
        r#"{"clip_id": "a", "score": 1, "Status": "bad"}"#,
        r#"{"clip_id": "a", "score": 1, "Competitor": "x", "Frames": 3, "Summary": 4}"#,
        r#"{"clip_id": "a", "frames": [{"Frame_Idx": 3, "score": 1}]}"#,
        r#"{"clip_id": "a", "summary": {"Score": 1}}"#,
        // Frames with missing or unusable values.
        r#"{"name": "c", "frames": [{"score": 1.0}, {"score": null}, {"score": 3.0}]}"#,
        r#"{"name": "c", "frames": [{"score": 1}, {"runtime_ms": 3}]}"#,
        r#"{"name": "c", "frames": [{"score": 1.0}, {}]}"#,
        r#"{"name": "c", "frames": [{"score": "x"}, {"score": true}, {"score": [1]}, {"score": {"a": 1}}]}"#,
        r#"{"name": "c", "frames": [{"score": 2, "runtime_ms": null}, {"score": 4, "runtime_ms": "NaN"}]}"#,
        r#"{"name": "c", "frames": [{"score": 2, "runtime_ms": "fast"}]}"#,
        r#"{"name": "c", "frames": [{"score": 2, "runtime_ms": 1.5}, {"score": 4}], "runtime_ms": null}"#,
        r#"{"name": "c", "frames": [], "score": 1}"#,
        r#"{"name": "c", "frames": []}"#,
        r#"{"name": "c", "frames": null, "score": 1}"#,
        r#"{"name": "c", "frames": {}, "score": 1}"#,
        r#"{"name": "c", "frames": 3, "score": 1}"#,
        r#"{"name": "c", "frames": [1, 2], "score": 1}"#,
        r#"{"name": "c", "frames": [[{"score": 1}]], "score": 1}"#,
        r#"{"name": "c", "frames": [null], "score": 1}"#,
        // Frames whose fields change order, name or number from one frame
        // to the next (the scanner expects each frame shaped like the last).
        r#"{"name": "c", "frames": [{"frame_idx": 0, "score": 1}, {"score": 2, "frame_idx": 1}, {"frame_idx": 2, "score": 3}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 0, "score": 1}, {"frame_idx_x": 5, "score": 2}, {"frame": 9, "score": 3}, {"frame_idx": 3, "score": 4, "extra": [1]}, {"frame_idx": 4, "score": 5}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 0, "score": 1}, {"frame_idx": 1, "mos": 2, "score": 5}, {"frame_idx": 2, "mos": 3}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 0, "score": 1}, {"frame_idx": 1}]}"#,
        r#"{"name": "c", "frames": [{"score": 1}, {"Score": 2}]}"#,
        r#"{"name": "c", "frames": [{"score": 1}, {"score": 2, "score": 3}]}"#,
        r#"{"name": "c", "frames": [{"score": 1, "n": 1}, {}, {"score": 1, "n": 3}]}"#,
        r#"{"name": "c", "frames": [{"sc": 1, "score": 1}, {"score": 2, "sc": 1}, {"scor": 3, "score": 3}]}"#,
        // Frame numbering.
        r#"{"name": "c", "frames": [{"n": 1, "score": 1}, {"n": 2, "score": 2}]}"#,
        r#"{"name": "c", "frames": [{"n": 4, "score": 1}, {"n": 4, "score": 2}]}"#,
        r#"{"name": "c", "frames": [{"n": 0, "score": 1}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 5, "score": 1}, {"frame_idx": 2, "score": 2}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 5, "score": 1}, {"frame_idx": 2, "score": 2}, {"frame_idx": 5, "score": 3}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 0, "score": 1}, {"score": 2}, {"score": 3}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 2, "score": 1}, {"score": 2}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": -1, "score": 1}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 1.0, "score": 1}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": "1", "score": 1}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": null, "score": 1}]}"#,
        r#"{"name": "c", "frames": [{"frame": 3, "frame_idx": 9, "n": 1, "score": 1}]}"#,
        r#"{"name": "c", "frames": [{"frameNum": 18446744073709551615, "score": 1}]}"#,
        r#"{"name": "c", "frames": [{"frame_idx": 7, "score": 1}], "frame_idx": 3}"#,
        // Python's non-finite words, bare and quoted.
        r#"{"clip_id": "a", "score": NaN}"#,
        r#"{"clip_id": "a", "score": -Infinity, "runtime_ms": Infinity}"#,
        r#"{"clip_id": "a", "score": "NaN"}"#,
        r#"{"name": "c", "frames": [{"score": NaN}, {"score": 2.5, "runtime_ms": NaN}]}"#,
        r#"{"name": "c", "frames": [{"score": Infinity}]}"#,
        r#"{"clip_id": NaN, "score": 1}"#,
        r#"{"clip_id": "NaN", "score": nan}"#,
        // Numbers, as keys and as scores.
        r#"{"clip_id": 7, "score": 1}"#,
        r#"{"clip_id": 7.50, "score": 1}"#,
        r#"{"clip_id": -3, "score": -2}"#,
        r#"{"clip_id": -0, "score": -0}"#,
        r#"{"clip_id": -0.0, "score": -0.0}"#,
        r#"{"clip_id": 0, "score": 0.000123}"#,
        r#"{"clip_id": 1e2, "score": 1E-2}"#,
        r#"{"clip_id": 12345678901234567890, "score": 1234567890123456789}"#,
        r#"{"clip_id": 9999999999999999999, "score": 99999999999999999999}"#,
        r#"{"clip_id": -9223372036854775808, "score": -9223372036854775809}"#,
        r#"{"clip_id": 0.1, "score": 0.30000000000000004}"#,
        r#"{"clip_id": 123456789012345678.5, "score": 1.7976931348623157}"#,
        r#"{"clip_id": "a", "score": 1E400}"#,
        r#"{"clip_id": "a", "score": 1.5e-400}"#,
        r#"{"clip_id": "a", "score": 01}"#,
        r#"{"clip_id": "a", "score": 1.}"#,
        r#"{"clip_id": "a", "score": .5}"#,
        r#"{"clip_id": "a", "score": -}"#,
        r#"{"clip_id": "a", "score": +1}"#,
        r#"{"clip_id": "a", "score": 1.5.3}"#,
        r#"{"clip_id": "a", "score": 0x10}"#,
        // Escapes and odd characters in names and values.
        r#"{"clip\u005fid": "a", "score": 1}"#,
        r#"{"clip_id": "a\"b", "sc\u006fre": 1}"#,
        r#"{"clip_id": "\u00e9t\u00e9", "score": 1}"#,
        r#"{"clip_id": "été ✓", "score": 1, "émoji 🎬": "x"}"#,
        r#"{"clip_id": "a\\b", "score": 1, "na\nme": 1}"#,
        r#"{"clip_id": "\ud800", "score": 1}"#,
        r#"{"clip_id": "\ud83c\udfac", "score": 1}"#,
        "{\"clip_id\": \"a\tb\", \"score\": 1}",
        "{\"clip_id\": \"a\", \"x\": \"\u{1}\", \"score\": 1}",
        "{\"clip_id\":\"a\",\r\n\"score\":\t1}",
        r#"{"clip_id": "a", "score": 1, "\"": 2}"#,
        // Keys, status, competitor and runtime of every kind.
        r#"{"clip_id": "  ", "score": 1}"#,
        r#"{"clip_id": true, "score": 1}"#,
        r#"{"clip_id": [1], "score": 1}"#,
        r#"{"clip_id": {"a": 1}, "name": "b", "score": 1}"#,
        r#"{"other": "a", "score": 1}"#,
        r#"{"summary": {"video_id": "s"}, "score": 1}"#,
        r#"{"clip_id": null, "summary": {"clip_id": "s", "status": "bad", "score": 2, "runtime_ms": 4}, "status": null}"#,
        r#"{"clip_id": "a", "score": 1, "status": 3}"#,
        r#"{"clip_id": "a", "score": 1, "status": {"code": 2, "a": [1, 2.50]}}"#,
        r#"{"clip_id": "a", "score": 1, "status": [true, null]}"#,
        r#"{"clip_id": "a", "score": 1, "status": false}"#,
        r#"{"clip_id": "a", "score": 1, "competitor": "  "}"#,
        r#"{"clip_id": "a", "score": 1, "competitor": "  ", "summary": {"competitor": "x"}}"#,
        r#"{"clip_id": "a", "score": 1, "competitor": 5, "summary": {"competitor": " x "}}"#,
        r#"{"clip_id": "a", "score": 1, "runtime_ms": "fast"}"#,
        r#"{"clip_id": "a", "score": 1, "runtime_ms": "inf", "elapsed_ms": 3}"#,
        r#"{"clip_id": "a", "score": 1, "elapsed_ms": 3, "runtime_total_ms": 2}"#,
        r#"{"clip_id": "a", "score": 1, "runtime_ms": [1]}"#,
        r#"{"clip_id": "a", "score": "72.5"}"#,
        r#"{"clip_id": "a", "score": true}"#,
        r#"{"clip_id": "a", "score": null, "mos": 3}"#,
        r#"{"clip_id": "a", "score": [1]}"#,
        r#"{"clip_id": "a", "score": {"v": 1}}"#,
        r#"{"clip_id": "a", "vmaf": 1, "mos": 2}"#,
        r#"{"clip_id": "a", "score": 1, "summary": null}"#,
        r#"{"clip_id": "a", "score": 1, "summary": [1]}"#,
        r#"{"clip_id": "a", "score": 1, "summary": "x"}"#,
        r#"{"clip_id": "a", "summary": {"summary": {"score": 1}, "frames": [], "mos": 2}}"#,
        r#"{"clip_id": "a", "score": 1, "nested": {"deep": [1, {"x": [null, true, false, "s"]}], "e": {}}}"#,
        // Not a row, or not JSON.
        r#"[1, 2]"#,
        r#"5"#,
        r#""x""#,
        r#"null"#,
        r#"{"clip_id": "a", "score": 1} x"#,
        r#"{"clip_id": "a", "score": 1}}"#,
        r#"{"clip_id": "a", "score": 1,}"#,
        r#"{"clip_id": "a" "score": 1}"#,
        r#"{"clip_id": "a", "score" 1}"#,
        r#"{clip_id: "a"}"#,
        r#"{"clip_id": "a", "score": tru}"#,
        r#"{"clip_id": "a", "score": nul, "x": 1}"#,
        r#"{"clip_id": "a", "score": 1, "x": [1, 2,]}"#,
        r#"{"clip_id": "a", "score": 1, "x": [1 2]}"#,
        r#"{"clip_id": "a", "score": 1"#,
        r#"{"clip_id": "a", "frames": [{"score": 1}"#,
        r#"{"clip_id": "a", "score": 1, "x": "unterminated}"#,
    ];

    #[test]
    fn every_tier_reads_rows_as_the_tree_does() {
        for fields in field_sets() {
            for row in ROWS {
                agrees(&fields, row);
            }
        }
    }

    #[test]
    fn one_reader_reads_a_file_of_rows_as_the_tree_does() {
        // A reader remembers how the last rows were written; rows that
        // differ from it, by a little or a lot, must read as on their own.
        let shifting = [
            r#"{"clip_id": "a", "score": 1, "summary": {"competitor": "x", "runtime_ms": 2}}"#,
            r#"{"clip_id": "b", "score": 2, "summary": {"competitor": "x", "runtime_ms": 3}}"#,
            r#"{"clip_idx": "c", "name": "c2", "score": 3, "summary": {"competitor": "y"}}"#,
            r#"{"clip_i": "d", "clip_id": "d2", "score": 4}"#,
            r#"{"clip_id": "e", "Score": 5, "score": 6}"#,
            r#"{"clip_id": "f", "score": 7, "score": 8}"#,
            r#"{"clip_id": "g", "scor": 0, "score": 9, "summary": {"competitors": "z", "competitor": "w"}}"#,
            r#"{"clip_id": "h", "score": 10, "summary": {"competitor": "x", "runtime_ms": 3}}"#,
        ];
        for fields in field_sets() {
            let mut reader = RowReader::new(&fields);
            let rows = ROWS
                .iter()
                .chain(&shifting)
                .chain(ROWS.iter().rev())
                .chain(&shifting);
            for row in rows {
                let got = reader.read_row(row, 7);
                match (&got, &by_tree(&fields, row)) {
                    (Ok(got), Ok(expected)) => assert!(same(got, expected), "{row}"),
                    (Err(got), Err(expected)) => assert_eq!(got, expected, "{row}"),
                    (got, expected) => panic!("{row} with {fields:?}: {got:?}, tree {expected:?}"),
                }
            }
        }
    }

    #[test]
    fn records_keep_no_room_for_frames_they_do_not_have() {
        let fields = FieldNames::default();
        let mut reader = RowReader::new(&fields);
        let payload = |count: usize| {
            let frames: Vec<String> = (0..count).map(|i| format!(r#"{{"score": {i}}}"#)).collect();
            format!(r#"{{"name": "c", "frames": [{}]}}"#, frames.join(", "))
        };
        let big = reader.read_row(&payload(1000), 1).unwrap();
        assert_eq!(big.frames.len(), 1000);
        let small = reader.read_row(&payload(2), 2).unwrap();
        assert_eq!(small.frames.len(), 2);
        assert!(small.frames.capacity() < 16, "{}", small.frames.capacity());
    }

    #[test]
    fn nesting_is_refused_where_serde_json_refuses_it() {
        // serde_json refuses 128 levels; the scanner stops at 100 and leaves
        // deeper rows to the serde-based tier, which must count as the
        // tree does, even inside a field that is not looked at.
        for depth in [90, 99, 100, 101, 126, 127, 128, 200] {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let row = format!(r#"{{"clip_id": "a", "score": 1, "x": {nested}}}"#);
            for fields in field_sets() {
                agrees(&fields, &row);
            }
            let in_frame =
                format!(r#"{{"clip_id": "a", "frames": [{{"score": 1, "x": {nested}}}]}}"#);
            agrees(&FieldNames::default(), &in_frame);
        }
        let row = format!(
            r#"{{"clip_id": "a", "score": 1, "x": {}}}"#,
            "[".repeat(127) + &"]".repeat(127)
        );
        assert!(by_tree(&FieldNames::default(), &row).is_err());
        assert!(by_serde(&FieldNames::default(), &row).is_none());
    }

    #[test]
    fn plain_rows_take_the_scanner() {
        let fields = FieldNames::default();
        for row in [
            ROWS[0],
            ROWS[1],
            r#"{"clip_id": -0, "score": -0.0, "runtime_ms": null}"#,
            r#"{"clip_id": "été", "score": -12.5, "status": 3}"#,
            r#"{"name": "c", "frames": [{"score": null}, {"score": "NaN", "runtime_ms": "NaN"}]}"#,
            r#"{"clip_id": "a", "score": 1, "x": [1, {"y": null}], "z": true}"#,
        ] {
            assert_eq!(agrees(&fields, row), (true, true), "{row}");
        }
        // A status object is kept as a `Value`, which the scanner leaves to
        // the serde-based tier.
        let row = r#"{"clip_id": "a", "score": 1, "status": {"a": 1}}"#;
        assert_eq!(agrees(&fields, row), (false, true));
    }

    #[test]
    fn escapes_and_long_numbers_take_the_serde_tier() {
        let fields = FieldNames::default();
        for row in [
            r#"{"clip\u005fid": "a", "score": 1}"#,
            r#"{"clip_id": "a\"b", "score": 1}"#,
            r#"{"clip_id": 12345678901234567890, "score": 1e2}"#,
            r#"{"clip_id": "a", "score": 1.5, "status": ["x"]}"#,
        ] {
            assert_eq!(agrees(&fields, row), (false, true), "{row}");
        }
        let record = by_serde(&fields, r#"{"clip\u005fid": "a\"b", "score": 1e2}"#).unwrap();
        assert_eq!(
            (record.key_field.as_ref(), record.raw_key.as_str()),
            ("clip_id", "a\"b")
        );
        assert_eq!(record.value, RawScore::Number(100.0));
    }

    #[test]
    fn every_tier_names_a_known_key_field_and_status_without_a_string_of_its_own() {
        let fields = FieldNames::default();
        let plain = r#"{"filename": "/c/a.mp4", "score": 1, "status": "ok"}"#;
        let escaped = r#"{"filename": "/c/a\u002emp4", "score": 1e0, "status": "ok"}"#;
        for record in [
            by_scanner(&fields, plain).unwrap(),
            by_serde(&fields, escaped).unwrap(),
            by_tree(&fields, plain).unwrap(),
        ] {
            assert!(
                matches!(record.key_field, Cow::Borrowed("filename")),
                "{record:?}"
            );
            assert!(
                matches!(record.reported_status, Some(Cow::Borrowed("ok"))),
                "{record:?}"
            );
        }
        let odd = by_scanner(&fields, r#"{"filename": "a", "score": 1, "status": "Ok "}"#);
        assert_eq!(odd.unwrap().reported_status.as_deref(), Some("Ok "));
        let custom = FieldNames {
            key: Some("clip_ref".to_string()),
            ..FieldNames::default()
        };
        let record = by_tree(&custom, r#"{"clip_ref": "a", "score": 1}"#).unwrap();
        assert_eq!(record.key_field, "clip_ref");
    }

    #[test]
    fn order_dependent_rows_fall_back_to_the_tree() {
        let fields = FieldNames::default();
        for row in [
            r#"{"clip_id": "a", "score": 1, "score": 2}"#,
            r#"{"clip_id": "a", "SCORE": 1, "Score": 2}"#,
            r#"{"clip_id": "a", "frames": [{"score": 1, "Score": 2}]}"#,
        ] {
            assert_eq!(agrees(&fields, row), (false, false), "{row}");
        }
        // The last of repeated fields wins, as in a `Value` map.
        let record = RowReader::new(&fields)
            .read_row(r#"{"clip_id": "a", "score": 1, "score": 2}"#, 1)
            .unwrap();
        assert_eq!(record.value, RawScore::Number(2.0));
    }

    #[test]
    fn values_of_the_fast_path() {
        let fields = FieldNames::default();
        let record = by_scanner(
            &fields,
            r#"{"name": "c", "frames": [{"n": 1, "score": 1.5, "runtime_ms": 2}, {"n": 2, "score": NaN}, {"n": 3, "score": 2.5, "runtime_ms": 0.25}], "summary": {"competitor": " x "}}"#
                .replace("NaN", "\"NaN\"")
                .as_str(),
        )
        .unwrap();
        assert_eq!(record.scorer.as_deref(), Some("x"));
        assert_eq!(record.value, RawScore::Number(2.0));
        assert_eq!(record.pooled_frames, 2);
        assert_eq!(record.runtime_ms, Some(2.25));
        assert_eq!(
            record
                .frames
                .iter()
                .map(|f| (f.frame_index, f.value))
                .collect::<Vec<_>>(),
            vec![(0, Some(1.5)), (1, None), (2, Some(2.5))]
        );
        assert!(record.note.unwrap().starts_with("1 of 3 frames"));
        // Bare NaN goes through the same retry as the tree-based reading.
        let record = RowReader::new(&fields)
            .read_row(r#"{"clip_id": 7.50, "score": NaN, "runtime_ms": NaN}"#, 2)
            .unwrap();
        assert_eq!(record.raw_key, "7.5");
        assert_eq!(
            record.value,
            RawScore::Unusable("score must be a finite number, got \"NaN\"".into())
        );
        assert_eq!(record.runtime_ms, None);
    }

    #[test]
    fn numbers_keep_serde_json_arithmetic() {
        // A build of serde_json with `arbitrary_precision` would spell
        // numbers as written and break the scanner's reading of them.
        let value: Value = serde_json::from_str("[7.50, -0, 1e2]").unwrap();
        assert_eq!(value.to_string(), "[7.5,-0.0,100.0]");
        // Decimals as serde_json computes them with `float_roundtrip`: the
        // nearest float, as Python's `float()`; the scanner gives the same bits.
        let fields = FieldNames::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let digits = (seed % 10u64.pow(1 + (seed >> 60) as u32 % 18)).to_string();
            let split = (seed >> 40) as usize % digits.len();
            let number = if split == 0 {
                digits.clone()
            } else {
                format!("{}.{}", &digits[..split], &digits[split..])
            };
            let sign = if seed & 1 == 0 { "-" } else { "" };
            let row = format!(r#"{{"clip_id": {sign}{number}, "score": {sign}{number}}}"#);
            if digits.len() > 1 && digits.starts_with('0') {
                continue;
            }
            assert!(agrees(&fields, &row).0, "{row}");
            let nearest: f64 = format!("{sign}{number}").parse().unwrap();
            let read = by_scanner(&fields, &row).expect("a plain row is scanned");
            assert_eq!(
                read.value,
                RawScore::Number(nearest),
                "{row}: not the nearest double"
            );
        }
    }
}
