//! One pass over a feature table, keeping what the audit computes on.
//!
//! The table is streamed batch by batch through [`crate::table`], in the
//! engine of its own format (Arrow record batches for parquet and Arrow IPC,
//! JSON rows for JSON Lines, JSON and CSV). What is kept:
//!
//! - every **numeric** column as `f64`, NaN for null, a missing member or an
//!   unusable value: 8 bytes per row and numeric column (150 000 rows × 200
//!   numeric columns ≈ 240 MB);
//! - the text of the columns `wants_text` asks for (the key column's
//!   candidates and the `_status` columns), to list disagreement rows by key
//!   and count statuses;
//! - nothing of the other columns but their names;
//! - and, while it is read, one batch as the table layer holds it (65 536
//!   rows: Arrow arrays, or for JSON Lines the rows' members as text).
//!
//! Measured with the release build on 150 000 rows × 49 columns (46
//! numeric): parquet 1.5 s and 230 MB peak, JSON Lines 2.8 s and 470 MB.
//!
//! Which columns are numeric follows what pandas makes of the same file in
//! the reference (`is_numeric_dtype` after `dropna().infer_objects()`):
//! - parquet / Arrow IPC: by the column's type: integers, floats, decimals
//!   and booleans are numeric (an all-null float column too); strings,
//!   dates and nested types are not;
//! - JSON Lines / JSON: a column is numeric when every non-null value is a
//!   number, or every non-null value is a boolean (`true` = 1); a column of
//!   only nulls, or one mixing numbers with strings or booleans, is not;
//! - CSV (which the reference does not read): when every cell parses as a
//!   number, or every cell is `true`/`false` in any case, once pandas' NA
//!   spellings (empty, `NA`, `NaN`, `null`, `None`, `N/A`, …) are set aside.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use crate::table::{Batch, JsonRow, TableError, TableFormat, TableReader};

/// Cells pandas' `read_csv` reads as missing by default.
const CSV_NA: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// What the values of a column seen so far are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Only nulls so far.
    Nothing,
    Number,
    Bool,
    /// Anything else: the column is not numeric.
    Other,
}

impl Kind {
    fn with(self, seen: Kind) -> Kind {
        match (self, seen) {
            (kind, Kind::Nothing) => kind,
            (Kind::Nothing, seen) => seen,
            (kind, seen) if kind == seen => kind,
            _ => Kind::Other,
        }
    }
}

/// One column while the table streams.
struct Column {
    name: String,
    kind: Kind,
    /// Values of rows `0..values.len()`; dropped once the column is Other.
    values: Vec<f64>,
    text: Option<Vec<Option<String>>>,
}

impl Column {
    fn new(name: &str, wants_text: bool) -> Column {
        Column {
            name: name.to_string(),
            kind: Kind::Nothing,
            values: Vec::new(),
            text: wants_text.then(Vec::new),
        }
    }

    fn push(&mut self, row: usize, kind: Kind, value: f64) {
        self.kind = self.kind.with(kind);
        if self.kind == Kind::Other {
            self.values = Vec::new();
            return;
        }
        if self.values.len() > row {
            // A repeated member in one JSON object: the last one wins.
            self.values.truncate(row);
        }
        self.values.resize(row, f64::NAN);
        self.values.push(value);
    }

    fn push_text(&mut self, row: usize, text: Option<String>) {
        if let Some(texts) = &mut self.text {
            texts.truncate(row);
            texts.resize(row, None);
            texts.push(text);
        }
    }
}

/// A table as the audit sees it.
pub struct TableData {
    pub rows: usize,
    /// Every column, in the table's order (for JSON Lines: order of first
    /// appearance).
    pub columns: Vec<String>,
    positions: HashMap<String, usize>,
    numeric: Vec<Option<Vec<f64>>>,
    texts: HashMap<String, Vec<Option<String>>>,
}

impl TableData {
    /// Read `path` in one pass, keeping numeric columns and the text of the
    /// columns `wants_text` names.
    pub fn read(
        path: &Path,
        format: TableFormat,
        wants_text: impl Fn(&str) -> bool,
    ) -> Result<TableData, TableError> {
        let mut reader = TableReader::open(path, format, format)?;
        let mut columns: Vec<Column> = reader
            .columns()
            .iter()
            .map(|name| Column::new(name, wants_text(name)))
            .collect();
        let mut index: HashMap<String, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let mut rows = 0usize;
        while let Some(batch) = reader.next_batch()? {
            match &batch {
                Batch::Arrow(record_batch) => {
                    read_arrow(record_batch, rows, &mut columns, &mut index, &wants_text)
                }
                Batch::Rows(json_rows) => {
                    for (offset, row) in json_rows.iter().enumerate() {
                        read_row(
                            row,
                            rows + offset,
                            format == TableFormat::Csv,
                            &mut columns,
                            &mut index,
                            &wants_text,
                        );
                    }
                }
            }
            rows += batch.num_rows();
        }
        let mut texts = HashMap::new();
        let mut numeric = Vec::with_capacity(columns.len());
        let mut names = Vec::with_capacity(columns.len());
        for mut column in columns {
            if let Some(mut text) = column.text.take() {
                text.resize(rows, None);
                texts.insert(column.name.clone(), text);
            }
            numeric.push(match column.kind {
                Kind::Number | Kind::Bool => {
                    column.values.resize(rows, f64::NAN);
                    column.values.shrink_to_fit();
                    Some(column.values)
                }
                Kind::Nothing | Kind::Other => None,
            });
            names.push(column.name);
        }
        Ok(TableData {
            rows,
            positions: index,
            columns: names,
            numeric,
            texts,
        })
    }

    /// The values of numeric column `name`.
    pub fn numeric(&self, name: &str) -> Option<&[f64]> {
        self.numeric[*self.positions.get(name)?].as_deref()
    }

    pub fn is_numeric(&self, name: &str) -> bool {
        self.numeric(name).is_some()
    }

    /// The kept text of column `name`.
    pub fn text(&self, name: &str) -> Option<&[Option<String>]> {
        self.texts.get(name).map(Vec::as_slice)
    }
}

fn column_index(
    name: &str,
    columns: &mut Vec<Column>,
    index: &mut HashMap<String, usize>,
    wants_text: &impl Fn(&str) -> bool,
) -> usize {
    if let Some(&at) = index.get(name) {
        return at;
    }
    columns.push(Column::new(name, wants_text(name)));
    index.insert(name.to_string(), columns.len() - 1);
    columns.len() - 1
}

fn read_arrow(
    batch: &RecordBatch,
    first_row: usize,
    columns: &mut Vec<Column>,
    index: &mut HashMap<String, usize>,
    wants_text: &impl Fn(&str) -> bool,
) {
    let schema = batch.schema();
    let mut seen = std::collections::HashSet::new();
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        // A repeated column name (possible in Arrow, not in pandas): the
        // first one is kept, as `Batch::key_texts` does.
        if !seen.insert(field.name()) {
            continue;
        }
        let at = column_index(field.name(), columns, index, wants_text);
        let column = &mut columns[at];
        if column.text.is_some() {
            let texts = Batch::Arrow(batch.clone()).key_texts(field.name());
            for (offset, text) in texts.into_iter().enumerate() {
                column.push_text(first_row + offset, text);
            }
        }
        let data_type = array.data_type();
        let kind = match data_type {
            DataType::Boolean => Kind::Bool,
            DataType::Null => Kind::Nothing,
            t if t.is_numeric() => Kind::Number,
            _ => Kind::Other,
        };
        column.kind = column.kind.with(kind);
        if !matches!(column.kind, Kind::Number | Kind::Bool) {
            if column.kind == Kind::Other {
                column.values = Vec::new();
            }
            continue;
        }
        let Ok(floats) = cast(array, &DataType::Float64) else {
            column.kind = Kind::Other;
            column.values = Vec::new();
            continue;
        };
        let floats = floats
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast to Float64");
        column.values.resize(first_row, f64::NAN);
        column
            .values
            .extend(floats.iter().map(|v| v.unwrap_or(f64::NAN)));
    }
}

fn read_row(
    row: &JsonRow,
    row_index: usize,
    csv: bool,
    columns: &mut Vec<Column>,
    index: &mut HashMap<String, usize>,
    wants_text: &impl Fn(&str) -> bool,
) {
    for (name, raw) in &row.members {
        let at = column_index(name, columns, index, wants_text);
        let column = &mut columns[at];
        let text = raw.get().trim();
        if column.text.is_some() {
            column.push_text(row_index, crate::table::key_text(raw));
        }
        if column.kind == Kind::Other {
            continue;
        }
        let (kind, value) = if csv {
            let cell: String = serde_json::from_str(text).unwrap_or_default();
            csv_value(cell.trim())
        } else {
            json_value(text)
        };
        column.push(row_index, kind, value);
    }
}

/// A JSON value's kind and number.
fn json_value(text: &str) -> (Kind, f64) {
    match text.as_bytes().first() {
        Some(b'n') => (Kind::Nothing, f64::NAN),
        Some(b't') => (Kind::Bool, 1.0),
        Some(b'f') => (Kind::Bool, 0.0),
        Some(b'-' | b'0'..=b'9') => match text.parse::<f64>() {
            Ok(value) => (Kind::Number, value),
            Err(_) => (Kind::Other, f64::NAN),
        },
        _ => (Kind::Other, f64::NAN),
    }
}

/// A CSV cell's kind and number.
fn csv_value(cell: &str) -> (Kind, f64) {
    if CSV_NA.contains(&cell) {
        return (Kind::Nothing, f64::NAN);
    }
    if cell.eq_ignore_ascii_case("true") {
        return (Kind::Bool, 1.0);
    }
    if cell.eq_ignore_ascii_case("false") {
        return (Kind::Bool, 0.0);
    }
    match cell.parse::<f64>() {
        Ok(value) => (Kind::Number, value),
        Err(_) => (Kind::Other, f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, bytes: &str) -> TableData {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let format = TableFormat::from_path(&path).unwrap();
        TableData::read(&path, format, |c| c == "src" || c.ends_with("_status")).unwrap()
    }

    #[test]
    fn jsonl_numeric_columns_like_pandas() {
        let data = read(
            "t.jsonl",
            concat!(
                "{\"src\": \"a.mp4\", \"vmaf\": 80, \"flag\": true, \"mixed\": 1, \"nulls\": null}\n",
                "{\"src\": \"b.mp4\", \"vmaf\": null, \"flag\": false, \"mixed\": \"x\", \"late\": 2.5}\n",
                "\n",
                "{\"src\": 3, \"vmaf\": 70.5, \"nested\": [1], \"x_status\": \"ok\"}\n",
            ),
        );
        assert_eq!(data.rows, 3);
        assert_eq!(
            data.columns,
            ["src", "vmaf", "flag", "mixed", "nulls", "late", "nested", "x_status"]
        );
        let vmaf = data.numeric("vmaf").unwrap();
        assert_eq!(vmaf[0], 80.0);
        assert!(vmaf[1].is_nan());
        assert_eq!(vmaf[2], 70.5);
        let flag = data.numeric("flag").unwrap();
        assert_eq!(&flag[..2], &[1.0, 0.0]);
        assert!(flag[2].is_nan());
        assert!(!data.is_numeric("mixed"));
        assert!(!data.is_numeric("nulls"));
        assert!(!data.is_numeric("nested"));
        assert!(!data.is_numeric("src"));
        let late = data.numeric("late").unwrap();
        assert!(late[0].is_nan() && late[1] == 2.5 && late[2].is_nan());
        let src = data.text("src").unwrap();
        assert_eq!(src[0].as_deref(), Some("a.mp4"));
        assert_eq!(src[2].as_deref(), Some("3"));
        let status = data.text("x_status").unwrap();
        assert_eq!(status, &[None, None, Some("ok".to_string())]);
    }

    #[test]
    fn csv_cells_are_parsed() {
        let data = read(
            "t.csv",
            "src,vmaf,flag,name,gap\n001,80,True,a,\n002,NaN,false,b,\n003,1e2,TRUE,c,NA\n",
        );
        assert_eq!(data.numeric("vmaf").unwrap()[2], 100.0);
        assert!(data.numeric("vmaf").unwrap()[1].is_nan());
        assert_eq!(data.numeric("flag").unwrap(), &[1.0, 0.0, 1.0]);
        assert!(!data.is_numeric("name"));
        assert!(!data.is_numeric("gap"), "only NA cells: not numeric");
        // The key keeps its text.
        assert_eq!(data.text("src").unwrap()[0].as_deref(), Some("001"));
    }

    #[test]
    fn json_document_rows() {
        let data = read("t.json", "{\"rows\": [{\"a\": 1}, {\"a\": 2.5}]}");
        assert_eq!(data.numeric("a").unwrap(), &[1.0, 2.5]);
    }
}
