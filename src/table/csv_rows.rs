//! CSV feature tables in the text engine: every cell is kept as the text it
//! was (CSV has no types), so a CSV comes out of an export cell for cell as
//! it went in. Rows become [`JsonRow`]s of JSON strings so one engine serves
//! CSV and JSON alike.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde_json::value::RawValue;

use super::csv_safe::safe_cell;
use super::{JsonRow, TableError};

/// Streams the rows of a CSV table with a header line.
pub struct CsvRows {
    reader: csv::Reader<File>,
    header: Vec<String>,
    path: String,
    record: csv::StringRecord,
}

impl CsvRows {
    pub fn open(path: &Path) -> Result<CsvRows, TableError> {
        let shown = path.display().to_string();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(path)
            .map_err(|e| TableError::file(&shown, e))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(&shown, e))?
            .iter()
            .map(|name| name.trim_start_matches('\u{feff}').to_string())
            .collect();
        if header.is_empty() || header.iter().all(String::is_empty) {
            return Err(TableError::at(&shown, 1, "empty CSV: no header line"));
        }
        Ok(CsvRows {
            reader,
            header,
            path: shown,
            record: csv::StringRecord::new(),
        })
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    pub fn next_batch(&mut self, size: usize) -> Result<Vec<JsonRow>, TableError> {
        let mut rows = Vec::with_capacity(size.min(1 << 12));
        let mut cost = 0;
        while rows.len() < size && cost < super::BATCH_BYTES {
            if !self
                .reader
                .read_record(&mut self.record)
                .map_err(|e| csv_error(&self.path, e))?
            {
                break;
            }
            let members = self
                .header
                .iter()
                .zip(self.record.iter())
                .map(|(name, cell)| {
                    let text = serde_json::to_string(cell).expect("string");
                    (
                        name.clone(),
                        RawValue::from_string(text).expect("valid JSON"),
                    )
                })
                .collect();
            cost += super::row_cost(self.record.as_slice().len(), self.record.len());
            rows.push(JsonRow { members });
        }
        Ok(rows)
    }
}

fn csv_error(path: &str, error: csv::Error) -> TableError {
    match error.position() {
        Some(position) => {
            let message = match error.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => {
                    format!("row has {len} fields, the header has {expected_len}")
                }
                csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
                _ => error.to_string(),
            };
            TableError::at(path, position.line(), message)
        }
        None => TableError::file(path, error),
    }
}

/// Writes rows as CSV under a fixed header; a cell a row lacks is empty.
pub struct CsvRowsWriter<W: Write> {
    writer: csv::Writer<W>,
    /// Column name → its position in the header, so a row's members are
    /// placed in one pass however wide the table.
    positions: std::collections::HashMap<String, usize>,
    cells: Vec<String>,
    /// `--csv-safe`: formula-like text cells get a `'` in front.
    csv_safe: bool,
}

impl<W: Write> CsvRowsWriter<W> {
    pub fn new(out: W, header: Vec<String>, csv_safe: bool) -> Result<Self, csv::Error> {
        let mut writer = csv::WriterBuilder::new().from_writer(out);
        if csv_safe {
            writer.write_record(header.iter().map(|name| safe_cell(name).into_owned()))?;
        } else {
            writer.write_record(&header)?;
        }
        Ok(CsvRowsWriter {
            csv_safe,
            writer,
            cells: vec![String::new(); header.len()],
            positions: header
                .into_iter()
                .enumerate()
                .map(|(position, name)| (name, position))
                .collect(),
        })
    }

    /// Write `row` under the header; a cell the row lacks is empty.
    pub fn write_row(&mut self, row: &JsonRow) -> Result<(), csv::Error> {
        self.cells.iter_mut().for_each(String::clear);
        for (name, value) in &row.members {
            if let Some(position) = self.positions.get(name) {
                let text = cell_text(value);
                if self.csv_safe {
                    self.cells[*position].push_str(&safe_cell(&text));
                } else {
                    self.cells[*position].push_str(&text);
                }
            }
        }
        self.writer.write_record(&self.cells)
    }

    pub fn finish(self) -> Result<W, csv::Error> {
        self.writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }
}

/// A JSON value as a CSV cell: strings unquoted, null empty, the rest as JSON text.
fn cell_text(value: &RawValue) -> String {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_string()),
        Some(b'n') if text == "null" => String::new(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_cell_for_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            "src,vmaf,note\n/a/x.mp4,91.50,\"has, comma\"\n/a/y.mp4,,001\n",
        )
        .unwrap();
        let mut rows = CsvRows::open(&path).unwrap();
        let batch = rows.next_batch(10).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[1].key_text("note").as_deref(), Some("001"));
        let mut writer = CsvRowsWriter::new(Vec::new(), rows.header().to_vec(), false).unwrap();
        for row in &batch {
            writer.write_row(row).unwrap();
        }
        let out = String::from_utf8(writer.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "src,vmaf,note\n/a/x.mp4,91.50,\"has, comma\"\n/a/y.mp4,,001\n"
        );
    }

    #[test]
    fn ragged_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b\n1,2\n3\n").unwrap();
        let err = CsvRows::open(&path).unwrap().next_batch(10).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("t.csv:3: row has 1 fields, the header has 2"),
            "{err}"
        );
    }
}
