//! JSON Lines rows written plainly, decoded straight into Arrow columns.
//!
//! Arrow's JSON decoder first cuts a piece's text into a tape of tokens,
//! then walks the tape once per column: with the parse of the numbers, most
//! of what reading W1's JSON Lines features costs. A feature table's rows
//! are nearly always plain: one object per line, members named without
//! escapes, numbers without exponents, no nesting. Such a piece is decoded
//! here in one pass into the columns' builders by the plain-JSON scanner
//! the score rows are read with ([`crate::plain_json`]); its numbers are
//! the nearest `f64` to their text, as Arrow's parser makes them, so every
//! value is the one Arrow would make. A piece holding any row this decoder does not vouch
//! for (or a value of a kind its column does not plainly take) is left
//! whole to Arrow's decoder: what Arrow makes of odd rows, errors included,
//! stays Arrow's. A test compares both on generated pieces.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, NullArray, StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::plain_json::Scanner;

/// A decoder of plain pieces of a table of `schema`.
pub(super) struct PlainDecoder {
    schema: SchemaRef,
    /// Each column's name, as the rows write it (no escapes).
    names: Vec<Vec<u8>>,
    columns: Vec<Column>,
    /// The row that last set each column (to fill the others with nulls
    /// and to refuse a member named twice).
    set_in_row: Vec<usize>,
}

/// One column being built.
enum Column {
    Float(Float64Builder),
    Int(Int64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    /// A column inferred from nulls alone: its length.
    Null(usize),
}

impl Column {
    fn append_null(&mut self) {
        match self {
            Column::Float(b) => b.append_null(),
            Column::Int(b) => b.append_null(),
            Column::Bool(b) => b.append_null(),
            Column::Text(b) => b.append_null(),
            Column::Null(rows) => *rows += 1,
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Float(b) => Arc::new(b.finish()),
            Column::Int(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Text(b) => Arc::new(b.finish()),
            Column::Null(rows) => Arc::new(NullArray::new(std::mem::take(rows))),
        }
    }
}

impl PlainDecoder {
    /// A decoder for `schema`, when every column is of a type it builds
    /// (64-bit floats and integers, booleans, strings, nulls) and its name
    /// needs no escape.
    pub(super) fn for_schema(schema: &SchemaRef) -> Option<PlainDecoder> {
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for field in schema.fields() {
            let name = field.name().as_bytes();
            if name.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20) {
                return None;
            }
            names.push(name.to_vec());
            columns.push(match field.data_type() {
                DataType::Float64 => Column::Float(Float64Builder::new()),
                DataType::Int64 => Column::Int(Int64Builder::new()),
                DataType::Boolean => Column::Bool(BooleanBuilder::new()),
                DataType::Utf8 => Column::Text(StringBuilder::new()),
                DataType::Null => Column::Null(0),
                _ => return None,
            });
        }
        Some(PlainDecoder {
            schema: schema.clone(),
            set_in_row: vec![usize::MAX; names.len()],
            names,
            columns,
        })
    }

    /// The rows of `text` (whole lines) as a batch, `Some(None)` when it
    /// holds no row; `None` when a row is not plain: the piece is then
    /// Arrow's to decode.
    pub(super) fn decode(&mut self, text: &[u8]) -> Option<Option<RecordBatch>> {
        let decoded = self.decode_rows(text);
        // Whatever happened, the builders start the next piece empty.
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        self.set_in_row.fill(usize::MAX);
        let rows = decoded?;
        if rows == 0 {
            return Some(None);
        }
        RecordBatch::try_new(self.schema.clone(), arrays)
            .ok()
            .map(Some)
    }

    /// Append each line's row to the builders; the rows, or `None` at the
    /// first line that is neither blank nor a plain row.
    fn decode_rows(&mut self, text: &[u8]) -> Option<usize> {
        let text = std::str::from_utf8(text).ok()?;
        let mut rows = 0;
        for line in text.split('\n') {
            let mut scan = Scanner::new(line);
            scan.whitespace();
            if scan.at_end() {
                continue;
            }
            self.row(&mut scan, rows)?;
            scan.whitespace();
            if !scan.at_end() {
                return None;
            }
            rows += 1;
        }
        Some(rows)
    }

    /// One row: `{`, its members, `}`.
    fn row(&mut self, scan: &mut Scanner<'_>, row: usize) -> Option<()> {
        if scan.peek()? != b'{' {
            return None;
        }
        let PlainDecoder {
            names,
            columns,
            set_in_row,
            ..
        } = self;
        let mut next_column = 0;
        scan.object(|scan, name| {
            let column = column_named(names, name.as_bytes(), next_column)?;
            if set_in_row[column] == row {
                return None;
            }
            set_in_row[column] = row;
            next_column = column + 1;
            value(scan, &mut columns[column])
        })?;
        for (column, set) in columns.iter_mut().zip(set_in_row.iter()) {
            if *set != row {
                column.append_null();
            }
        }
        Some(())
    }
}

/// The column named `name`: rows nearly always list the columns in order,
/// so the one after the last member's is tried first.
fn column_named(names: &[Vec<u8>], name: &[u8], expected: usize) -> Option<usize> {
    if names.get(expected).is_some_and(|n| n == name) {
        return Some(expected);
    }
    names.iter().position(|n| n == name)
}

/// Read one value into `column`, when it is of a kind the column plainly
/// takes: a number the scanner reads for a float column, one that fits an
/// `i64` for an integer column, `true`/`false` for a boolean one, a string
/// without escapes for a string one, `null` for any.
fn value(scan: &mut Scanner<'_>, column: &mut Column) -> Option<()> {
    if scan.peek()? == b'n' {
        scan.literal("null")?;
        column.append_null();
        return Some(());
    }
    match column {
        Column::Float(builder) => builder.append_value(number(scan)?.as_f64()?),
        Column::Int(builder) => builder.append_value(number(scan)?.as_i64()?),
        Column::Bool(builder) => {
            let truth = match scan.peek()? {
                b't' => scan.literal("true").map(|()| true)?,
                b'f' => scan.literal("false").map(|()| false)?,
                _ => return None,
            };
            builder.append_value(truth);
        }
        Column::Text(builder) => {
            if scan.peek()? != b'"' {
                return None;
            }
            builder.append_value(scan.string()?);
        }
        Column::Null(_) => return None,
    }
    Some(())
}

/// The number at the scanner: the value serde_json reads, which for a
/// float is the nearest `f64` to the text, as Arrow's parser takes it too.
fn number(scan: &mut Scanner<'_>) -> Option<serde_json::Number> {
    match scan.peek()? {
        b'-' | b'0'..=b'9' => scan.number(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("src", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("gap", DataType::Null, true),
        ]))
    }

    fn arrow(text: &[u8]) -> Result<Option<RecordBatch>, String> {
        let mut decoder = arrow::json::ReaderBuilder::new(schema())
            .with_batch_size(1 << 16)
            .build_decoder()
            .unwrap();
        let mut rest = text;
        while !rest.is_empty() {
            let used = decoder.decode(rest).map_err(|e| e.to_string())?;
            if used == 0 {
                break;
            }
            rest = &rest[used..];
        }
        decoder.flush().map_err(|e| e.to_string())
    }

    /// Values of each member, written plainly or not, of each member's
    /// kind or another's.
    const MEMBERS: &[(&str, &[&str])] = &[
        (
            "\"src\"",
            &[
                "\"/c/a.mp4\"",
                "\"\"",
                "\"ü\"",
                "\"a\\\"b\"",
                "7",
                "null",
                "true",
            ],
        ),
        (
            "\"x\"",
            &[
                "0.25",
                "-0",
                "-0.0",
                "7",
                "-12",
                "123456789012345678",
                "1234567890123456789",
                "1e3",
                "1E-2",
                "0.1000000000000000055511151231257827",
                "3.",
                "01",
                "null",
                "\"4.5\"",
                "NaN",
                "true",
            ],
        ),
        (
            "\"n\"",
            &[
                "0",
                "-7",
                "42",
                "123456789012345678",
                "1.5",
                "-0",
                "1e2",
                "null",
                "\"3\"",
            ],
        ),
        ("\"ok\"", &["true", "false", "null", "1", "\"true\"", "tru"]),
        ("\"gap\"", &["null", "1", "\"\""]),
        ("\"other\"", &["1"]),
        ("\"s\\u0072c\"", &["\"x\""]),
    ];
    const BLANKS: &[&str] = &["", " ", "\t", "\r", "\u{c}"];

    /// Pieces of one to three lines, built by a fixed pseudo-random walk.
    fn pieces(count: usize) -> Vec<String> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        (0..count)
            .map(|_| {
                let mut piece = String::new();
                for _ in 0..1 + next(3) {
                    if next(12) == 0 {
                        piece.push_str(BLANKS[next(BLANKS.len())]);
                        piece.push('\n');
                        continue;
                    }
                    piece.push('{');
                    // Mostly the schema's first members in order; now and
                    // then any member, or one twice.
                    let members = next(6);
                    for m in 0..members {
                        let (name, values) = if next(8) == 0 {
                            MEMBERS[next(MEMBERS.len())]
                        } else {
                            MEMBERS[m.min(4)]
                        };
                        if m > 0 {
                            piece.push(',');
                        }
                        piece.push_str(BLANKS[next(BLANKS.len() - 1)]);
                        piece.push_str(name);
                        piece.push(':');
                        // Plain values (the first few) most of the time.
                        let value = if next(3) == 0 {
                            values[next(values.len())]
                        } else {
                            values[next(values.len().min(3))]
                        };
                        piece.push_str(value);
                    }
                    piece.push('}');
                    piece.push_str(BLANKS[next(BLANKS.len())]);
                    if next(10) > 0 {
                        piece.push('\n');
                    }
                }
                piece
            })
            .collect()
    }

    #[test]
    fn every_piece_decoded_plainly_is_the_batch_arrow_makes() {
        let mut plain = PlainDecoder::for_schema(&schema()).unwrap();
        let (mut taken, mut left) = (0, 0);
        for piece in pieces(100_000) {
            match plain.decode(piece.as_bytes()) {
                Some(batch) => {
                    taken += 1;
                    assert_eq!(Ok(batch), arrow(piece.as_bytes()), "{piece:?}");
                }
                None => left += 1,
            }
        }
        assert!(taken > 5_000 && left > 5_000, "taken {taken}, left {left}");
    }

    #[test]
    fn plain_rows_become_columns_and_other_rows_are_left_to_arrow() {
        let mut plain = PlainDecoder::for_schema(&schema()).unwrap();
        let text = "{\"src\": \"a.mp4\", \"x\": 0.1, \"n\": 3, \"ok\": true, \"gap\": null}\r\n\
                    \n\
                    {\"x\": -0, \"src\": \"b.mp4\"}\n";
        let batch = plain.decode(text.as_bytes()).unwrap().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(Some(batch), arrow(text.as_bytes()).unwrap());
        assert_eq!(plain.decode(b"\n \n"), Some(None));
        for odd in [
            "{\"x\": 1e3}\n",
            "{\"src\": \"a\\nb\"}\n",
            "{\"n\": 1.5}\n",
            "{\"x\": 1, \"x\": 2}\n",
            "{\"other\": 1}\n",
            "{\"x\": 1} {\"x\": 2}\n",
            "[1]\n",
        ] {
            assert_eq!(plain.decode(odd.as_bytes()), None, "{odd}");
        }
        // Left after a refusal: the next piece starts with empty columns.
        let again = plain.decode(b"{\"n\": 5}\n").unwrap().unwrap();
        assert_eq!(again.num_rows(), 1);
        let nested = Arc::new(Schema::new(vec![Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )]));
        assert!(PlainDecoder::for_schema(&nested).is_none());
    }
}
