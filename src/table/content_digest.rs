//! The content digest of a written table: its schema and every cell, so
//! two exports can be compared whatever wrote their bytes (a parquet file
//! names the writer's version inside it; the content does not change with
//! it).
//!
//! Cells are hashed column by column, each column as streams — its
//! values and its validity — so the digest does not depend on how the rows
//! were split into batches (and variable-width values a third: their
//! lengths). Fixed-width values hash as Arrow holds them
//! (numbers bit for bit, NaN payloads included; a null slot as zeros),
//! strings and binaries as their lengths and their bytes, a dictionary as
//! the values it stands for; types without a fixed byte form (lists,
//! structs, …) hash each cell's display text. Rows of the text engine (JSON
//! Lines, JSON, CSV onto a text table) hash each member's name and JSON
//! text. The streams are hashed with XXH3-128 (an export writes gigabytes
//! of cells; this keeps the digest at memory speed), and the schema, the
//! row count and every stream's hash with sha256. The layout is versioned
//! in the digest's first bytes; docs/reproducibility.md describes it.

use arrow::array::{Array, AsArray, GenericByteArray};
use arrow::datatypes::{ArrowNativeType, ByteArrayType, DataType, Schema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::Xxh3;

use super::json_rows::JsonRow;

/// The content digest of a table being written; see the module docs.
pub struct ContentDigest {
    header: Sha256,
    rows: u64,
    kind: Kind,
}

enum Kind {
    Arrow(Vec<ColumnDigest>),
    Rows(Box<Xxh3>),
}

/// One column's streams: values, validity, and the lengths of variable-
/// width values. (XXH3's streaming state is large: boxed.)
struct ColumnDigest {
    values: Box<Xxh3>,
    validity: Box<Xxh3>,
    lengths: Box<Xxh3>,
}

impl Default for ColumnDigest {
    fn default() -> Self {
        ColumnDigest {
            values: Box::new(Xxh3::new()),
            validity: Box::new(Xxh3::new()),
            lengths: Box::new(Xxh3::new()),
        }
    }
}

/// Feed a length-prefixed byte string.
fn feed(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// Feed a length-prefixed byte string to a stream.
fn feed_stream(hasher: &mut Xxh3, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

impl ContentDigest {
    /// The digest of an Arrow table with `schema`.
    pub fn arrow(schema: &Schema) -> ContentDigest {
        let mut header = Sha256::new();
        header.update(b"second-opinion content v1: arrow\n");
        let metadata: std::collections::BTreeMap<_, _> = schema.metadata().iter().collect();
        for (key, value) in metadata {
            feed(&mut header, key.as_bytes());
            feed(&mut header, value.as_bytes());
        }
        for field in schema.fields() {
            feed(&mut header, field.name().as_bytes());
            feed(&mut header, field.data_type().to_string().as_bytes());
            header.update([u8::from(field.is_nullable())]);
            let metadata: std::collections::BTreeMap<_, _> = field.metadata().iter().collect();
            for (key, value) in metadata {
                feed(&mut header, key.as_bytes());
                feed(&mut header, value.as_bytes());
            }
        }
        ContentDigest {
            header,
            rows: 0,
            kind: Kind::Arrow(
                std::iter::repeat_with(ColumnDigest::default)
                    .take(schema.fields().len())
                    .collect(),
            ),
        }
    }

    /// The digest of a table of text-engine rows.
    pub fn rows() -> ContentDigest {
        let mut header = Sha256::new();
        header.update(b"second-opinion content v1: rows\n");
        ContentDigest {
            header,
            rows: 0,
            kind: Kind::Rows(Box::new(Xxh3::new())),
        }
    }

    /// Add a batch as written.
    pub fn add_batch(&mut self, batch: &RecordBatch) {
        let Kind::Arrow(columns) = &mut self.kind else {
            unreachable!("an Arrow batch goes to an Arrow table's digest")
        };
        for (column, digest) in batch.columns().iter().zip(columns.iter_mut()) {
            digest.add(column.as_ref());
        }
        self.rows += batch.num_rows() as u64;
    }

    /// Add a row as written.
    pub fn add_row(&mut self, row: &JsonRow) {
        let Kind::Rows(hasher) = &mut self.kind else {
            unreachable!("a text row goes to a text table's digest")
        };
        hasher.update(&(row.members.len() as u64).to_le_bytes());
        for (name, value) in &row.members {
            feed_stream(hasher, name.as_bytes());
            feed_stream(hasher, value.get().as_bytes());
        }
        self.rows += 1;
    }

    /// The digest, as lower-case hex.
    pub fn finish(self) -> String {
        let mut total = self.header;
        total.update(self.rows.to_le_bytes());
        match self.kind {
            Kind::Arrow(columns) => {
                for column in columns {
                    total.update(column.values.digest128().to_le_bytes());
                    total.update(column.validity.digest128().to_le_bytes());
                    total.update(column.lengths.digest128().to_le_bytes());
                }
            }
            Kind::Rows(rows) => total.update(rows.digest128().to_le_bytes()),
        }
        crate::digest::hex(&total.finalize())
    }
}

/// A run of "valid" bytes, fed for arrays without nulls.
const ALL_VALID: [u8; 4096] = [1; 4096];

impl ColumnDigest {
    /// Hash `array`'s validity (one byte per row) and values.
    fn add(&mut self, array: &dyn Array) {
        match array.logical_nulls() {
            None => {
                let mut left = array.len();
                while left > 0 {
                    let run = left.min(ALL_VALID.len());
                    self.validity.update(&ALL_VALID[..run]);
                    left -= run;
                }
            }
            Some(nulls) => {
                let bytes: Vec<u8> = nulls.iter().map(u8::from).collect();
                self.validity.update(&bytes);
            }
        }
        self.add_values(array);
    }

    /// Hash `array`'s values (its validity is hashed apart).
    fn add_values(&mut self, array: &dyn Array) {
        let data_type = array.data_type();
        match data_type {
            DataType::Null => {}
            DataType::Boolean => {
                let values = array.as_boolean();
                let bytes: Vec<u8> = (0..values.len())
                    .map(|row| u8::from(values.is_valid(row) && values.value(row)))
                    .collect();
                self.values.update(&bytes);
            }
            DataType::Utf8 => self.bytes(array.as_string::<i32>()),
            DataType::LargeUtf8 => self.bytes(array.as_string::<i64>()),
            DataType::Binary => self.bytes(array.as_binary::<i32>()),
            DataType::LargeBinary => self.bytes(array.as_binary::<i64>()),
            DataType::Utf8View => {
                for value in array.as_string_view().iter() {
                    feed_stream(&mut self.values, value.unwrap_or_default().as_bytes());
                }
            }
            DataType::BinaryView => {
                for value in array.as_binary_view().iter() {
                    feed_stream(&mut self.values, value.unwrap_or_default());
                }
            }
            DataType::Dictionary(_, value_type) => {
                // The values the dictionary stands for, not its codes.
                match arrow::compute::cast(array, value_type) {
                    Ok(values) => self.add_values(values.as_ref()),
                    Err(_) => self.displayed(array),
                }
            }
            _ if data_type.is_primitive() => self.primitives(array),
            _ => self.displayed(array),
        }
    }

    /// Strings or binaries: every row's length (0 for a null), then the
    /// bytes of the values.
    fn bytes<T: ByteArrayType>(&mut self, array: &GenericByteArray<T>) {
        let offsets = array.value_offsets();
        let data = array.value_data();
        let lengths: Vec<u64> = (0..array.len())
            .map(|row| {
                if array.is_valid(row) {
                    (offsets[row + 1].as_usize() - offsets[row].as_usize()) as u64
                } else {
                    0
                }
            })
            .collect();
        let mut length_bytes = Vec::with_capacity(lengths.len() * 8);
        lengths
            .iter()
            .for_each(|l| length_bytes.extend_from_slice(&l.to_le_bytes()));
        self.lengths.update(&length_bytes);
        if array.null_count() == 0 {
            let (first, last) = (offsets[0].as_usize(), offsets[array.len()].as_usize());
            self.values.update(&data[first..last]);
        } else {
            for row in (0..array.len()).filter(|row| array.is_valid(*row)) {
                self.values
                    .update(&data[offsets[row].as_usize()..offsets[row + 1].as_usize()]);
            }
        }
    }

    /// Fixed-width values, as Arrow holds them; a null slot (whose bytes
    /// Arrow leaves undefined) hashes as zeros.
    fn primitives(&mut self, array: &dyn Array) {
        let width = array
            .data_type()
            .primitive_width()
            .expect("primitive types have a width");
        let data = array.to_data();
        let start = data.offset() * width;
        let bytes = &data.buffers()[0].as_slice()[start..start + data.len() * width];
        match array.logical_nulls() {
            None => self.values.update(bytes),
            Some(nulls) => {
                let mut masked = bytes.to_vec();
                for (row, valid) in nulls.iter().enumerate() {
                    if !valid {
                        masked[row * width..(row + 1) * width].fill(0);
                    }
                }
                self.values.update(&masked);
            }
        }
    }

    /// Each cell's display text, for types without a fixed byte form.
    fn displayed(&mut self, array: &dyn Array) {
        let options = FormatOptions::default().with_null("");
        match ArrayFormatter::try_new(array, &options) {
            Ok(formatter) => {
                for row in 0..array.len() {
                    if array.is_valid(row) {
                        feed_stream(
                            &mut self.values,
                            formatter.value(row).to_string().as_bytes(),
                        );
                    }
                }
            }
            Err(_) => {
                // No display either: the type's debug form of the cells.
                feed_stream(&mut self.values, format!("{array:?}").as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Int32Type};

    use super::*;

    fn digest_of(batches: &[RecordBatch]) -> String {
        let mut digest = ContentDigest::arrow(&batches[0].schema());
        batches.iter().for_each(|b| digest.add_batch(b));
        digest.finish()
    }

    fn table(scores: Vec<Option<f64>>, names: Vec<Option<&str>>) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("score", Arc::new(Float64Array::from(scores)) as ArrayRef),
            ("name", Arc::new(StringArray::from(names)) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn batch_boundaries_do_not_matter() {
        let whole = table(
            vec![Some(1.5), None, Some(-0.0), Some(3.0)],
            vec![Some("a"), Some("bc"), None, Some("")],
        );
        let parts = [whole.slice(0, 1), whole.slice(1, 2), whole.slice(3, 1)];
        assert_eq!(digest_of(&[whole]), digest_of(&parts));
    }

    #[test]
    fn every_cell_and_the_schema_count() {
        let base = table(vec![Some(1.5), None], vec![Some("a"), Some("b")]);
        let digest = digest_of(std::slice::from_ref(&base));
        // A value, bit for bit (0.0 and -0.0 differ).
        let other = table(vec![Some(1.5), Some(0.0)], vec![Some("a"), Some("b")]);
        assert_ne!(digest, digest_of(&[other]));
        let signed = table(vec![Some(-0.0), None], vec![Some("a"), Some("b")]);
        let unsigned = table(vec![Some(0.0), None], vec![Some("a"), Some("b")]);
        assert_ne!(digest_of(&[signed]), digest_of(&[unsigned]));
        // A null where a value was, strings split differently.
        let nulls = table(vec![Some(1.5), None], vec![None, Some("b")]);
        assert_ne!(digest, digest_of(&[nulls]));
        let split = table(vec![Some(1.5), None], vec![Some("ab"), Some("")]);
        assert_ne!(digest, digest_of(&[split]));
        // A column renamed or retyped.
        let renamed = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("score2", DataType::Float64, true),
                Field::new("name", DataType::Utf8, true),
            ])),
            base.columns().to_vec(),
        )
        .unwrap();
        assert_ne!(digest, digest_of(&[renamed]));
        let ints = RecordBatch::try_from_iter([
            (
                "score",
                Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
            ),
            (
                "name",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
        ])
        .unwrap();
        assert_ne!(digest, digest_of(&[ints]));
    }

    #[test]
    fn a_dictionary_hashes_the_values_it_stands_for() {
        let dictionary: DictionaryArray<Int32Type> = vec![Some("x"), None, Some("y"), Some("x")]
            .into_iter()
            .collect();
        let plain = StringArray::from(vec![Some("x"), None, Some("y"), Some("x")]);
        let mut a = ColumnDigest::default();
        a.add(&dictionary);
        let mut b = ColumnDigest::default();
        b.add(&plain);
        assert_eq!(a.values.digest128(), b.values.digest128());
        assert_eq!(a.validity.digest128(), b.validity.digest128());
    }
}
