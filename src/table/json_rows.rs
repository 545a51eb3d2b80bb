//! Feature tables as JSON rows (`.jsonl`, `.json`), kept member by member in
//! their original order and spelling, so an export changes nothing but the
//! columns it adds: `1.50` stays `1.50`, `"001"` stays `"001"`, nested
//! values and nulls pass through as written.

use std::fmt;
use std::io::{BufRead, Write};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::TableError;

/// One row: its members in file order, each value as its JSON text.
#[derive(Debug, Clone)]
pub struct JsonRow {
    pub members: Vec<(String, Box<RawValue>)>,
}

impl JsonRow {
    /// The value of member `name`, as JSON text.
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| &**v)
    }

    /// Member `name` as a key: strings unquoted, numbers in their spelling;
    /// null, booleans and nested values are not keys.
    pub fn key_text(&self, name: &str) -> Option<String> {
        key_text(self.get(name)?)
    }

    /// Set member `name`, in place when it exists, else at the end.
    pub fn set(&mut self, name: &str, value: Box<RawValue>) {
        match self.members.iter_mut().find(|(n, _)| n == name) {
            Some(member) => member.1 = value,
            None => self.members.push((name.to_string(), value)),
        }
    }

    /// Write the row as one compact JSON object.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(b"{")?;
        for (index, (name, value)) in self.members.iter().enumerate() {
            if index > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, name)?;
            out.write_all(b":")?;
            out.write_all(value.get().as_bytes())?;
        }
        out.write_all(b"}")
    }
}

/// A JSON value as a key: strings unquoted, numbers in their spelling.
pub fn key_text(value: &RawValue) -> Option<String> {
    let text = value.get().trim();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(text).ok(),
        b'-' | b'0'..=b'9' => Some(text.to_string()),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for JsonRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = JsonRow;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object (one table row)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRow, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((name, value));
                }
                Ok(JsonRow { members })
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}

/// Parse one row from its text; the caller adds file and line.
pub fn parse_row(text: &str) -> Result<JsonRow, String> {
    let parsed = serde_json::from_str::<JsonRow>(text);
    // Python's json.dumps writes NaN for a missing float; pandas reads it
    // and writes null, so a drop-in for the pandas script must read it too.
    // Only a row that fails is looked at for such words.
    let parsed = match parsed {
        Err(_) => match crate::nonfinite::null_nonfinite_words(text) {
            Some(nulled) => serde_json::from_str::<JsonRow>(&nulled).or(parsed),
            None => parsed,
        },
        parsed => parsed,
    };
    parsed.map_err(|e| {
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        if message.starts_with("invalid type") {
            "expected a JSON object (one table row)".to_string()
        } else {
            format!("invalid JSON at column {}: {message}", e.column())
        }
    })
}

/// Streams the rows of a JSON Lines table, batch by batch.
pub struct JsonlRows<R> {
    input: R,
    path: String,
    line: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> JsonlRows<R> {
    pub fn new(input: R, path: &str) -> Self {
        JsonlRows {
            input,
            path: path.to_string(),
            line: 0,
            buffer: Vec::new(),
        }
    }

    /// Up to `size` rows, fewer when they reach [`super::BATCH_BYTES`]; an
    /// empty vector at the end of the table.
    pub fn next_batch(&mut self, size: usize) -> Result<Vec<JsonRow>, TableError> {
        let mut rows = Vec::with_capacity(size.min(1 << 12));
        let mut cost = 0;
        while rows.len() < size && cost < super::BATCH_BYTES {
            self.buffer.clear();
            let read = self
                .input
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| TableError::io(&self.path, e))?;
            if read == 0 {
                break;
            }
            self.line += 1;
            let mut bytes = self.buffer.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = std::str::from_utf8(bytes)
                .map_err(|_| TableError::at(&self.path, self.line, "invalid UTF-8"))?;
            let row =
                parse_row(text.trim_end()).map_err(|m| TableError::at(&self.path, self.line, m))?;
            cost += super::row_cost(bytes.len(), row.members.len());
            rows.push(row);
        }
        Ok(rows)
    }
}

/// Read a whole `.json` table: a list of rows or `{"rows": [...]}`.
pub fn read_json_document(bytes: &[u8], path: &str) -> Result<Vec<JsonRow>, TableError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        TableError::at(path, line, "invalid UTF-8")
    })?;
    let located =
        |e: serde_json::Error| TableError::at(path, e.line() as u64, parse_error_message(&e));
    let parsed = match parse_document(text) {
        Err(error) => match crate::nonfinite::null_nonfinite_words(text) {
            // Python's NaN for a missing float, read as pandas reads it.
            Some(nulled) => parse_document(&nulled).map_err(|_| located(error)),
            None => Err(located(error)),
        },
        parsed => parsed.map_err(located),
    };
    match parsed? {
        Some(rows) => Ok(rows),
        None => Err(TableError::at(
            path,
            1,
            "a .json feature table must be a list of row objects or {\"rows\": [...]}",
        )),
    }
}

/// The rows of a list or `{"rows": [...]}` document; `None` for any other shape.
fn parse_document(text: &str) -> Result<Option<Vec<JsonRow>>, serde_json::Error> {
    match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str::<Vec<JsonRow>>(text).map(Some),
        Some(b'{') => {
            #[derive(serde::Deserialize)]
            struct Wrapped {
                rows: Vec<JsonRow>,
            }
            serde_json::from_str::<Wrapped>(text).map(|w| Some(w.rows))
        }
        _ => Ok(None),
    }
}

fn parse_error_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string()
}

/// Writes rows as JSON Lines or as one `{"rows": [...]}` document.
pub struct JsonRowsWriter<W: Write> {
    out: W,
    document: bool,
    written: u64,
}

impl<W: Write> JsonRowsWriter<W> {
    pub fn new(mut out: W, document: bool) -> std::io::Result<Self> {
        if document {
            out.write_all(b"{\"rows\": [")?;
        }
        Ok(JsonRowsWriter {
            out,
            document,
            written: 0,
        })
    }

    pub fn write_row(&mut self, row: &JsonRow) -> std::io::Result<()> {
        if self.document {
            self.out
                .write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
        }
        row.write_to(&mut self.out)?;
        if !self.document {
            self.out.write_all(b"\n")?;
        }
        self.written += 1;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        if self.document {
            self.out.write_all(b"\n]}\n")?;
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_member_order_and_spelling() {
        let row = parse_row(r#"{"z": 1.50, "a": "001", "n": null, "o": {"x": [1, 2]}}"#).unwrap();
        let mut out = Vec::new();
        row.write_to(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"z":1.50,"a":"001","n":null,"o":{"x": [1, 2]}}"#
        );
        assert_eq!(row.key_text("a").as_deref(), Some("001"));
        assert_eq!(row.key_text("z").as_deref(), Some("1.50"));
        assert_eq!(row.key_text("n"), None);
        assert_eq!(row.key_text("o"), None);
    }

    /// A batch of wide rows ends at the memory budget, not at the row
    /// count asked for, and no row is lost or repeated between batches.
    #[test]
    fn wide_rows_come_in_batches_bounded_by_memory() {
        let cells: String = (0..100)
            .map(|c| format!(",\"t{c:03}\":\"v{c:08}\""))
            .collect();
        let table: String = (0..20_000)
            .map(|n| format!("{{\"src\":\"clip_{n:07}\"{cells}}}\n"))
            .collect();
        let mut reader = JsonlRows::new(table.as_bytes(), "wide.jsonl");
        let mut sizes = Vec::new();
        loop {
            let rows = reader.next_batch(super::super::BATCH_ROWS).unwrap();
            if rows.is_empty() {
                break;
            }
            assert_eq!(
                rows[0].key_text("src").unwrap(),
                format!("clip_{:07}", sizes.iter().sum::<usize>())
            );
            sizes.push(rows.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 20_000);
        let per_row = super::super::row_cost(table.len() / 20_000, 101);
        let most = super::super::BATCH_BYTES / per_row + 1;
        assert!(
            sizes.len() > 1 && sizes.iter().all(|&n| n <= most),
            "{sizes:?}"
        );
        // Narrow rows still come 65,536 at a time.
        let narrow: String = (0..70_000).map(|n| format!("{{\"k\":{n}}}\n")).collect();
        let mut reader = JsonlRows::new(narrow.as_bytes(), "narrow.jsonl");
        assert_eq!(
            reader.next_batch(super::super::BATCH_ROWS).unwrap().len(),
            65_536
        );
    }

    #[test]
    fn set_replaces_in_place_or_appends() {
        let mut row = parse_row(r#"{"a": 1, "b": 2}"#).unwrap();
        row.set("a", RawValue::from_string("9".into()).unwrap());
        row.set("c", RawValue::from_string("3".into()).unwrap());
        let names: Vec<&str> = row.members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(row.get("a").unwrap().get(), "9");
    }

    #[test]
    fn documents_and_lines() {
        let rows = read_json_document(br#"{"rows": [{"a": 1}, {"a": 2}]}"#, "t.json").unwrap();
        assert_eq!(rows.len(), 2);
        let rows = read_json_document(b"[{\"a\": 1}]", "t.json").unwrap();
        assert_eq!(rows.len(), 1);
        let err = read_json_document(b"[\n{\"a\": 1},\n{\"a\": }\n]", "t.json").unwrap_err();
        assert!(err.to_string().starts_with("t.json:3: "), "{err}");
        let mut reader = JsonlRows::new(&b"{\"a\": 1}\r\n\n[1]\n"[..], "t.jsonl");
        let err = reader.next_batch(10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.jsonl:3: expected a JSON object (one table row)"
        );
    }
}
