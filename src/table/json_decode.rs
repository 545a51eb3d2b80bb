//! JSON Lines decoded into Arrow batches on two threads.
//!
//! Parsing the text is most of what reading a JSON Lines table costs, and
//! Arrow's reader does it on one thread. Here each batch's lines are cut
//! into pieces of whole lines; two decoders take the pieces in turn (the
//! reading of a piece is shared, under a lock, the decoding is not) and the
//! pieces are joined back in table order. A batch holds exactly the rows
//! the one-thread reader's batch would (a batch ends after the same row),
//! so the batches, the row groups and the bytes written are the same.
//!
//! Only tables whose every non-blank line was read as one JSON object by
//! the schema's inference come here ([`super::arrow_io`]): a row is then a
//! line, which is what makes cutting at line ends safe. Errors arrive in
//! table order, in place of the batch that held them, as Arrow's reader
//! gives them. A piece of plain rows is decoded without Arrow's decoder
//! ([`super::json_plain`]); any other piece is Arrow's.

use std::io::BufRead;
use std::sync::Mutex;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::json::reader::Decoder;
use arrow::record_batch::RecordBatch;

use super::json_plain::PlainDecoder;

/// Rows per piece, at most: small enough that both decoders are busy on
/// every batch and a piece's text and tape stay a few megabytes.
const PIECE_ROWS: usize = 8192;

/// The batches of a JSON Lines table, each decoded on two threads.
pub(super) struct ParallelJsonBatches<R> {
    input: R,
    schema: SchemaRef,
    rows: usize,
    decoders: [Decoder; 2],
    /// Each decoder's plain-row fast path, when the schema allows one.
    plain: [Option<PlainDecoder>; 2],
    ended: bool,
}

impl<R: BufRead + Send> ParallelJsonBatches<R> {
    /// Batches of `rows` rows of `schema` from `input`.
    pub(super) fn new(
        input: R,
        schema: SchemaRef,
        rows: usize,
    ) -> Result<ParallelJsonBatches<R>, ArrowError> {
        // A decoder must never end a batch of its own: a piece is at most
        // `rows` rows, so one row more is never reached.
        let decoder = || {
            arrow::json::ReaderBuilder::new(schema.clone())
                .with_batch_size(rows + 1)
                .build_decoder()
        };
        Ok(ParallelJsonBatches {
            input,
            decoders: [decoder()?, decoder()?],
            plain: [
                PlainDecoder::for_schema(&schema),
                PlainDecoder::for_schema(&schema),
            ],
            schema,
            rows,
            ended: false,
        })
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let shared = Mutex::new(Cutting {
            input: &mut self.input,
            rows_left: self.rows,
            pieces: 0,
            ended: false,
        });
        let [first, second] = &mut self.decoders;
        let [first_plain, second_plain] = &mut self.plain;
        let (mut decoded, other) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| decode_pieces(&shared, second, second_plain.as_mut()));
            let mine = decode_pieces(&shared, first, first_plain.as_mut());
            let theirs = match helper.join() {
                Ok(theirs) => theirs,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            (mine, theirs)
        });
        self.ended = shared.into_inner().expect("no panic holds the lock").ended;
        decoded.extend(other);
        decoded.sort_by_key(|(index, _)| *index);
        let mut pieces = Vec::with_capacity(decoded.len());
        for (_, piece) in decoded {
            // The first failure in table order is the one reported.
            if let Some(batch) = piece? {
                pieces.push(batch);
            }
        }
        match pieces.len() {
            0 => Ok(None),
            1 => Ok(pieces.pop()),
            _ => concat_batches(&self.schema, &pieces).map(Some),
        }
    }
}

impl<R: BufRead + Send> Iterator for ParallelJsonBatches<R> {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let batch = self.next_batch();
        if batch.is_err() {
            // Like Arrow's reader, nothing after an error.
            self.ended = true;
        }
        batch.transpose()
    }
}

/// The input being cut into the pieces of one batch.
struct Cutting<'a, R> {
    input: &'a mut R,
    /// Rows the batch may still take.
    rows_left: usize,
    /// Pieces cut so far (the next piece's place in the batch).
    pieces: usize,
    /// The input is exhausted, or failed.
    ended: bool,
}

/// A decoded piece (`None`: it held no row), by its place in the batch.
type Piece = (usize, Result<Option<RecordBatch>, ArrowError>);

/// Take pieces of the batch and decode them, until the batch is cut.
fn decode_pieces<R: BufRead>(
    shared: &Mutex<Cutting<'_, R>>,
    decoder: &mut Decoder,
    mut plain: Option<&mut PlainDecoder>,
) -> Vec<Piece> {
    let mut decoded = Vec::new();
    let mut text = Vec::new();
    loop {
        text.clear();
        let index = {
            let mut cutting = shared.lock().expect("no panic holds the lock");
            if cutting.ended || cutting.rows_left == 0 {
                break;
            }
            let index = cutting.pieces;
            cutting.pieces += 1;
            let most = cutting.rows_left.min(PIECE_ROWS);
            match read_lines(&mut *cutting.input, most, &mut text) {
                Ok((rows, at_end)) => {
                    cutting.rows_left -= rows;
                    cutting.ended = at_end;
                }
                Err(error) => {
                    cutting.ended = true;
                    decoded.push((index, Err(ArrowError::from(error))));
                    break;
                }
            }
            index
        };
        let fast = plain.as_deref_mut().and_then(|plain| plain.decode(&text));
        decoded.push((index, fast.map_or_else(|| decode(decoder, &text), Ok)));
    }
    decoded
}

/// Append whole lines of `input` to `text` until they hold `most` rows (a
/// line that is not all whitespace is a row) or the input ends; answers
/// the rows taken and whether the input ended.
fn read_lines<R: BufRead>(
    input: &mut R,
    most: usize,
    text: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let mut rows = 0;
    while rows < most {
        let start = text.len();
        if input.read_until(b'\n', text)? == 0 {
            return Ok((rows, true));
        }
        if !text[start..].iter().all(u8::is_ascii_whitespace) {
            rows += 1;
        }
    }
    Ok((rows, false))
}

/// Decode one piece of whole lines.
fn decode(decoder: &mut Decoder, text: &[u8]) -> Result<Option<RecordBatch>, ArrowError> {
    let mut rest = text;
    while !rest.is_empty() {
        let used = decoder.decode(rest)?;
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }
    decoder.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
        ]))
    }

    /// Arrow's reader, up to its first error (after one it may go on
    /// answering errors).
    fn one_thread(text: &[u8], rows: usize) -> Vec<Result<RecordBatch, String>> {
        let mut batches = Vec::new();
        for batch in arrow::json::ReaderBuilder::new(schema())
            .with_batch_size(rows)
            .build(text)
            .unwrap()
        {
            let failed = batch.is_err();
            batches.push(batch.map_err(|e| e.to_string()));
            if failed {
                break;
            }
        }
        batches
    }

    fn two_threads(text: &[u8], rows: usize) -> Vec<Result<RecordBatch, String>> {
        ParallelJsonBatches::new(text, schema(), rows)
            .unwrap()
            .map(|b| b.map_err(|e| e.to_string()))
            .take(1000)
            .collect()
    }

    /// Batches of the same rows as Arrow's one-thread reader, blank lines,
    /// a last line without its newline and CRLF included.
    #[test]
    fn batches_match_the_one_thread_reader() {
        let mut text = String::new();
        for n in 0..30_000 {
            text.push_str(&format!(
                "{{\"k\": \"clip_{n:06}\", \"x\": {}.25, \"n\": {n}}}{}",
                n % 97,
                if n % 5 == 0 { "\r\n" } else { "\n" }
            ));
            if n % 1000 == 7 {
                text.push_str("  \n\n");
            }
            if n % 3333 == 0 {
                text.push_str("{\"n\": null}\n");
            }
        }
        text.push_str("{\"k\": \"last\"}");
        for rows in [1024, 4096, 10_000, 65_536] {
            let expected = one_thread(text.as_bytes(), rows);
            let got = two_threads(text.as_bytes(), rows);
            assert_eq!(got.len(), expected.len(), "{rows}");
            for (got, expected) in got.iter().zip(&expected) {
                assert_eq!(got.as_ref().unwrap(), expected.as_ref().unwrap(), "{rows}");
            }
        }
        assert!(two_threads(b"\n \n", 1024).is_empty());
    }

    /// The first bad row's error ends the table, in place of its batch:
    /// the batches before it arrive, nothing after it.
    #[test]
    fn the_first_error_in_table_order_ends_the_table() {
        let mut text = String::new();
        for n in 0..40_000 {
            match n {
                25_000 => text.push_str("{\"x\": \"not a number\"}\n"),
                35_000 => text.push_str("{\"k\": }\n"),
                _ => text.push_str(&format!("{{\"k\": \"c{n}\", \"x\": 1.5}}\n")),
            }
        }
        let expected = one_thread(text.as_bytes(), 10_000);
        let got = two_threads(text.as_bytes(), 10_000);
        assert_eq!(got.len(), 3);
        assert_eq!(got, expected);
        assert!(got[2].is_err(), "{:?}", got[2]);
    }
}
