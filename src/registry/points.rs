//! Points in time. Every change to the registry (an ingest, a correction)
//! is one point, numbered in commit order by its `seq`; an ingest's seq is
//! its file's id. A REF names a point the way a user remembers it: an
//! export id (`17`), a tag (`retrain-2026-12`), a sequence number
//! (`seq:42`) or an RFC 3339 time (`2026-12-01T10:00:00Z`: the last point
//! committed at or before it).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{now_rfc3339, sql, Registry, RegistryError};

/// The longest tag name.
pub const MAX_TAG_CHARS: usize = 200;

/// A point as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PointRef {
    /// The point export N read.
    Export(i64),
    /// A point by its sequence number (`seq:N`).
    Seq(i64),
    /// The last point committed at or before this time.
    Time(DateTime<Utc>),
    /// The point a tag names.
    Tag(String),
}

impl FromStr for PointRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let number = |digits: &str, what: &str| {
            digits
                .parse::<i64>()
                .map_err(|_| format!("'{text}' is not {what}"))
        };
        if text.is_empty() {
            return Err(
                "an empty REF names no point (give an export id, a tag, seq:N or an RFC 3339 time)"
                    .into(),
            );
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(PointRef::Export(number(text, "an export id")?));
        }
        if let Some(digits) = text.strip_prefix("seq:") {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "'{text}' is not a sequence number (write seq:N, e.g. seq:42)"
                ));
            }
            return Ok(PointRef::Seq(number(digits, "a sequence number")?));
        }
        if looks_like_time(text) {
            return DateTime::parse_from_rfc3339(text)
                .map(|time| PointRef::Time(time.with_timezone(&Utc)))
                .map_err(|e| {
                    format!(
                        "'{text}' is not an RFC 3339 time ({e}; write e.g. 2026-12-01T10:00:00Z)"
                    )
                });
        }
        check_tag_name(text)?;
        Ok(PointRef::Tag(text.to_string()))
    }
}

impl fmt::Display for PointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointRef::Export(id) => write!(f, "{id}"),
            PointRef::Seq(seq) => write!(f, "seq:{seq}"),
            PointRef::Time(time) => f.write_str(&time_text(time)),
            PointRef::Tag(name) => f.write_str(name),
        }
    }
}

/// A REF that starts like a date (`2026-…`) is read as a time, never as a
/// tag, so a mistyped time is an error rather than an unknown tag.
fn looks_like_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

/// A time as the registry stores times: RFC 3339, UTC, milliseconds, so
/// stored times compare as text.
fn time_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whether `name` may name a tag: it starts with a letter and holds
/// letters, digits, `-`, `_` and `.`, so it can never be read as an export
/// id, a `seq:N` or a time.
pub fn check_tag_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars > MAX_TAG_CHARS {
        return Err(format!(
            "a tag of {chars} characters is longer than the limit of {MAX_TAG_CHARS}"
        ));
    }
    let mut letters = name.chars();
    let starts_with_letter = letters.next().is_some_and(|c| c.is_alphabetic());
    if !starts_with_letter || !letters.all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "'{}' is not a REF: give an export id (17), a tag (a letter, then letters, digits, \
             '-', '_' or '.'), seq:N or an RFC 3339 time (2026-12-01T10:00:00Z)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// A resolved point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Point {
    pub seq: i64,
    /// When its change committed; `None` for point 0, the empty registry.
    pub at: Option<String>,
    /// The export the REF named (directly or through a tag).
    pub export: Option<i64>,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq:{}", self.seq)?;
        if let Some(at) = &self.at {
            write!(f, " ({at})")?;
        }
        Ok(())
    }
}

/// A named point.
#[derive(Clone, Debug, Serialize)]
pub struct Tag {
    pub name: String,
    pub seq: i64,
    pub export_id: Option<i64>,
    pub created_at: String,
}

/// Open a new point for a change being made inside the current write
/// transaction; returns its seq. It must come before anything else the
/// change writes: the scorer-settings triggers stamp revisions with the
/// newest seq.
pub(crate) fn begin_change(
    conn: &rusqlite::Connection,
    kind: &str,
    detail: Option<&serde_json::Value>,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(sql::INSERT_CHANGE)?.execute(params![
        now_rfc3339(),
        kind,
        detail.map(|d| d.to_string())
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Stamp point `seq` with the time it commits, just before the commit: a
/// time REF finds the changes that had committed by then, as an export
/// running at that time saw them.
pub(crate) fn stamp_change(conn: &rusqlite::Connection, seq: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(sql::SET_CHANGE_AT)?
        .execute(params![seq, now_rfc3339()])?;
    Ok(())
}

impl Registry {
    /// The newest point: what a read without `--as-of` sees.
    pub fn latest_point(&self) -> Result<Point, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.latest_point();
        }
        let latest = self
            .conn
            .query_row(sql::LATEST_CHANGE, [], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(|e| self.sqlite_error(e))?;
        Ok(match latest {
            Some((seq, at)) => Point {
                seq,
                at: Some(at),
                export: None,
            },
            None => Point {
                seq: 0,
                at: None,
                export: None,
            },
        })
    }

    /// The point `reference` names in this registry; an error says what
    /// exists when it names nothing.
    pub fn resolve_point(&self, reference: &PointRef) -> Result<Point, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.resolve_point(reference);
        }
        let latest = self.latest_point()?;
        let not_found = |message: String| RegistryError::NotFound {
            path: self.path.clone(),
            message,
        };
        let sqlite = |e| self.sqlite_error(e);
        let (seq, export) = match reference {
            PointRef::Export(id) => {
                let seq: Option<i64> = self
                    .conn
                    .query_row(sql::EXPORT_SEQ, [id], |row| row.get(0))
                    .optional()
                    .map_err(sqlite)?;
                match seq {
                    Some(seq) => (seq, Some(*id)),
                    None => return Err(not_found(self.no_export_message(*id)?)),
                }
            }
            PointRef::Tag(name) => {
                let tagged: Option<(i64, Option<i64>)> = self
                    .conn
                    .query_row(sql::TAG_BY_NAME, [name], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
                    .map_err(sqlite)?;
                match tagged {
                    Some(found) => found,
                    None => {
                        let tags = self.tags()?;
                        return Err(not_found(if tags.is_empty() {
                            format!(
                                "no tag '{name}': no point is tagged yet \
                                 (name one with `exports tag NAME REF`)"
                            )
                        } else {
                            let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
                            format!("no tag '{name}' (tags: {})", names.join(", "))
                        }));
                    }
                }
            }
            PointRef::Seq(seq) => {
                if *seq < 1 || *seq > latest.seq {
                    return Err(not_found(if latest.seq == 0 {
                        format!("no point seq:{seq}: nothing was ingested yet")
                    } else {
                        format!(
                            "no point seq:{seq}: the registry's points run from seq:1 to seq:{}",
                            latest.seq
                        )
                    }));
                }
                (*seq, None)
            }
            PointRef::Time(time) => {
                let now = Utc::now();
                if *time > now {
                    return Err(not_found(format!(
                        "{} is in the future (now: {})",
                        time_text(time),
                        now_rfc3339()
                    )));
                }
                let seq: Option<i64> = self
                    .conn
                    .query_row(sql::LAST_CHANGE_AT_OR_BEFORE, [time_text(time)], |row| {
                        row.get(0)
                    })
                    .map_err(sqlite)?;
                match seq {
                    Some(seq) => (seq, None),
                    None => {
                        let first: Option<String> = self
                            .conn
                            .query_row(sql::FIRST_CHANGE_AT, [], |row| row.get(0))
                            .optional()
                            .map_err(sqlite)?;
                        return Err(not_found(match first {
                            Some(first) => format!(
                                "{} is before the registry's first point (seq:1 at {first})",
                                time_text(time)
                            ),
                            None => format!("{}: nothing was ingested yet", time_text(time)),
                        }));
                    }
                }
            }
        };
        let at = self
            .conn
            .query_row(sql::CHANGE_AT, [seq], |row| row.get(0))
            .optional()
            .map_err(sqlite)?;
        Ok(Point { seq, at, export })
    }

    /// Why export `id` cannot be found, with the ids that exist.
    pub(crate) fn no_export_message(&self, id: i64) -> Result<String, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.no_export_message(id);
        }
        let range: (Option<i64>, Option<i64>) = self
            .conn
            .query_row(sql::EXPORT_ID_RANGE, [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(|e| self.sqlite_error(e))?;
        Ok(match range {
            (Some(first), Some(last)) => {
                format!("no export {id}: exports run from {first} to {last}")
            }
            _ => format!("no export {id}: no export is recorded yet"),
        })
    }

    /// Name `point` (and the export it came from, if any). Tags are
    /// immutable: a name already taken is refused.
    pub fn tag_point(&self, name: &str, point: &Point) -> Result<Tag, RegistryError> {
        check_tag_name(name).map_err(|message| RegistryError::Refused {
            path: self.path.clone(),
            message,
        })?;
        let existing = self.tag_details(name)?;
        if let Some((seq, export, created_at)) = existing {
            return Err(RegistryError::Refused {
                path: self.path.clone(),
                message: format!(
                    "tag '{name}' already names seq:{seq}{} (since {created_at}); tags are \
                     immutable: choose another name",
                    export
                        .map(|id| format!(", export {id}"))
                        .unwrap_or_default()
                ),
            });
        }
        let created_at = now_rfc3339();
        if !self.insert_tag(name, point, &created_at)? {
            // Another user took the name since it was looked up.
            return Err(RegistryError::Refused {
                path: self.path.clone(),
                message: format!(
                    "tag '{name}' already exists; tags are immutable: choose another name"
                ),
            });
        }
        Ok(Tag {
            name: name.to_string(),
            seq: point.seq,
            export_id: point.export,
            created_at,
        })
    }

    /// Tag `name`'s point, export and creation time, if it exists.
    fn tag_details(&self, name: &str) -> Result<Option<(i64, Option<i64>, String)>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.tag_details(name);
        }
        self.conn
            .query_row(sql::TAG_DETAILS, [name], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
            .map_err(|e| self.sqlite_error(e))
    }

    /// Write tag `name` for `point`; false when the name is taken.
    fn insert_tag(
        &self,
        name: &str,
        point: &Point,
        created_at: &str,
    ) -> Result<bool, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.insert_tag(name, point.seq, point.export, created_at);
        }
        self.conn
            .execute(
                sql::INSERT_TAG,
                params![name, point.seq, point.export, created_at],
            )
            .map(|written| written > 0)
            .map_err(|e| self.sqlite_error(e))
    }

    /// Every tag, by name.
    pub fn tags(&self) -> Result<Vec<Tag>, RegistryError> {
        if let Some(mut pg) = self.pg() {
            return pg.tags();
        }
        let mut stmt = self
            .conn
            .prepare(sql::LIST_TAGS)
            .map_err(|e| self.sqlite_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(Tag {
                    name: row.get(0)?,
                    seq: row.get(1)?,
                    export_id: row.get(2)?,
                    created_at: row.get(3)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sqlite_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_by_shape() {
        assert_eq!("17".parse::<PointRef>(), Ok(PointRef::Export(17)));
        assert_eq!("seq:42".parse::<PointRef>(), Ok(PointRef::Seq(42)));
        assert_eq!(
            "retrain-2026-12".parse::<PointRef>(),
            Ok(PointRef::Tag("retrain-2026-12".into()))
        );
        let time: PointRef = "2026-12-01T11:00:00+01:00".parse().unwrap();
        assert_eq!(time.to_string(), "2026-12-01T10:00:00.000Z");
    }

    #[test]
    fn malformed_refs_say_what_a_ref_is() {
        for bad in [
            "",
            "seq:",
            "seq:x",
            "seq:-1",
            "2026-12-01",
            "2026-13-01T00:00:00Z",
            "-x",
            "a b",
            "99999999999999999999",
        ] {
            let error = bad.parse::<PointRef>().unwrap_err();
            assert!(!error.is_empty(), "{bad}");
        }
        assert!("2026-12-01"
            .parse::<PointRef>()
            .unwrap_err()
            .contains("RFC 3339"));
    }
}
