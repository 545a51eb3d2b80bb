//! A large JSON Lines score file parsed on two threads: the first half on
//! the caller's, the second on a thread of its own, its records handed to
//! the caller's sink after the first half's, so the sink sees the file in
//! order. Parsing is the most expensive part of reading per-frame payloads
//! (W2: one 434 MB file parsed at about 560 MB/s while the second core
//! waited), and JSON Lines can be cut at any line end: a row is one line,
//! and a line end inside a JSON string is escaped.
//!
//! The second half's thread numbers its lines from where it starts; the
//! first half's thread, which has then counted the lines before it, adds
//! them as it hands its records on, so records and errors read as those of
//! one pass. Of two errors, the first half's is the one reported: one pass
//! would have stopped there; and an error stops the other threads at once,
//! so it is reported as soon as one pass would report it.
//!
//! The file is read, and hashed, up to the size it had when it was cut, so
//! the sha256 recorded is of the bytes parsed even if the file grows.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::formats::JsonlReader;
use super::text_rows::Lines;
use super::{ReadError, ReadOptions, RecordSink, ScoreRecord};
use crate::digest::sha256_of_open_file;
use crate::threads::{join_scoped, Feed, Handoff, Stopped};

/// Files at least this large are read in halves when a core is free for it:
/// below it, the second thread saves less than it costs to start.
pub(crate) const MIN_BYTES: u64 = 16 << 20;

/// How far past the middle a line end is looked for; a file whose line
/// there is longer is read in one pass.
const SEARCH_BYTES: u64 = 4 << 20;

/// Records per hand-off from the second half's thread.
const BATCH: usize = 4096;

/// Hand-offs the second half may run ahead of the first by: records
/// without their frames (the caller's sink decides what it keeps) are a
/// few hundred bytes, so at most a few tens of megabytes wait.
const QUEUE: usize = 16;

/// Where a file is cut into halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    /// The first byte of the second half: just after a line end.
    split: u64,
    /// The file's size when it was cut: where both halves, and the hash, end.
    end: u64,
}

/// Where to cut `file` into halves: just after the first line end past
/// its middle. `None` when the file is smaller than `min_bytes`, or no
/// line end is near the middle or before the end.
pub(crate) fn split_point(file: &File, min_bytes: u64) -> std::io::Result<Option<Cut>> {
    let size = file.metadata()?.len();
    if size < min_bytes.max(2) {
        return Ok(None);
    }
    let middle = size / 2;
    let mut window = vec![0u8; SEARCH_BYTES.min(size - middle) as usize];
    let mut filled = 0;
    while filled < window.len() {
        let read = file.read_at(&mut window[filled..], middle + filled as u64)?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    let split = window[..filled]
        .iter()
        .position(|b| *b == b'\n')
        .map(|at| middle + at as u64 + 1);
    Ok(split
        .filter(|split| *split < size)
        .map(|split| Cut { split, end: size }))
}

/// Read the JSON Lines `file`, cut at `cut` ([`split_point`]), into `sink`
/// in file order: the first half on this thread, the second on one of its
/// own; when `hash`, the sha256 and size of what was read, worked out on a
/// third. Fails as one pass over the file would. Unless `keep_frames`, the
/// second half's records lose their frames before they wait for the first
/// half (a few megabytes a batch of per-frame payloads).
pub(crate) fn read_jsonl_in_halves<S>(
    file: &File,
    cut: Cut,
    options: &ReadOptions,
    keep_frames: bool,
    hash: bool,
    sink: &mut S,
) -> Result<Option<(String, u64)>, S::Error>
where
    S: RecordSink,
{
    // Set when the read fails here: the other threads stop at once.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let hashing = hash.then(|| scope.spawn(|| sha256_of_open_file(file, cut.end, &stop)));
        let mut second = Feed::scoped(scope, QUEUE, |out| {
            read_second_half(file, cut, options, keep_frames, &stop, &out)
        });
        let read = read_both_halves(file, cut, options, &mut second, sink);
        if read.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        read?;
        let hashed = hashing
            .map(join_scoped)
            .transpose()
            .map_err(ReadError::from)?;
        Ok(hashed.flatten())
    })
}

/// The first half read into `sink`, then the second half's records handed
/// on with their file lines.
fn read_both_halves<S: RecordSink, W: crate::threads::Worker>(
    file: &File,
    cut: Cut,
    options: &ReadOptions,
    second: &mut Feed<Half, W>,
    sink: &mut S,
) -> Result<(), S::Error> {
    let mut input = BufReader::with_capacity(1 << 20, Part::new(file, 0, cut.split));
    let mut lines = Lines::new(&mut input);
    let first_rows = JsonlReader::read_rows(&mut lines, options, sink)?;
    // The cut follows a line end: the first half is whole lines, and the
    // second half's first line is the file's line after them. (Saturating:
    // a file cut short since it was measured reads fewer.)
    let shift = (lines.count() + 1).saturating_sub(SECOND_HALF_FROM_LINE);
    let mut second_rows = 0;
    while let Some(half) = second.next() {
        match half {
            Half::Records(records) => {
                for mut record in records {
                    record.line += shift;
                    sink.push(record)?;
                }
            }
            Half::Done(Ok(rows)) => second_rows = rows,
            Half::Done(Err(ReadError::Malformed { line, message })) => {
                return Err(ReadError::at(line + shift, message).into())
            }
            Half::Done(Err(e)) => return Err(e.into()),
        }
    }
    if first_rows + second_rows == 0 {
        return Err(JsonlReader::no_rows(&lines).into());
    }
    Ok(())
}

/// What the second half's thread hands over.
enum Half {
    Records(Vec<ScoreRecord>),
    /// Its rows, or the error that ended its read.
    Done(Result<u64, ReadError>),
}

/// The number the second half's thread gives its first line. Numbered as
/// if a line came before it, its first line keeps a byte-order mark (only
/// the file's first line may have one) as one pass would.
const SECOND_HALF_FROM_LINE: u64 = 2;

/// The second half: its rows read and handed over in batches, lines
/// numbered from [`SECOND_HALF_FROM_LINE`], then how it ended.
fn read_second_half(
    file: &File,
    cut: Cut,
    options: &ReadOptions,
    keep_frames: bool,
    stop: &AtomicBool,
    out: &Handoff<Half>,
) {
    let mut batches = Batches {
        out,
        keep_frames,
        stop,
        records: Vec::with_capacity(BATCH),
    };
    let mut input = BufReader::with_capacity(1 << 20, Part::new(file, cut.split, cut.end));
    let mut lines = Lines::after(&mut input, SECOND_HALF_FROM_LINE - 1);
    let read = JsonlReader::read_rows(&mut lines, options, &mut batches);
    let done = match read {
        Ok(rows) => Ok(rows),
        Err(Batched::Read(e)) => Err(e),
        Err(Batched::Stopped) => return,
    };
    // Records read before an error come first: one of them may fail sooner.
    if batches.flush().is_ok() {
        let _ = out.send(Half::Done(done));
    }
}

/// Why the second half's sink stopped.
enum Batched {
    Read(ReadError),
    /// The first half failed, or the caller's sink did: nothing more is wanted.
    Stopped,
}

impl From<ReadError> for Batched {
    fn from(e: ReadError) -> Self {
        Batched::Read(e)
    }
}

/// The second half's sink: records go over in batches.
struct Batches<'a> {
    out: &'a Handoff<Half>,
    keep_frames: bool,
    /// Set when the first half failed.
    stop: &'a AtomicBool,
    records: Vec<ScoreRecord>,
}

impl Batches<'_> {
    fn flush(&mut self) -> Result<(), Stopped> {
        if self.records.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(BATCH));
        self.out.send(Half::Records(records))
    }
}

impl RecordSink for Batches<'_> {
    type Error = Batched;

    fn push(&mut self, mut record: ScoreRecord) -> Result<(), Batched> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Batched::Stopped);
        }
        if !self.keep_frames {
            record.frames = Vec::new();
        }
        self.records.push(record);
        if self.records.len() >= BATCH {
            self.flush().map_err(|_| Batched::Stopped)?;
        }
        Ok(())
    }
}

/// Bytes `start..end` of a file, read by position: the halves share one
/// open file without sharing a read offset.
struct Part<'f> {
    file: &'f File,
    at: u64,
    end: u64,
}

impl<'f> Part<'f> {
    fn new(file: &'f File, start: u64, end: u64) -> Self {
        Part {
            file,
            at: start,
            end,
        }
    }
}

impl Read for Part<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let left = self.end.saturating_sub(self.at);
        let wanted = (buffer.len() as u64).min(left) as usize;
        if wanted == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buffer[..wanted], self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::ingest::test_support::Collect;
    use crate::ingest::ScoreReader;

    fn file_of(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    fn one_pass(bytes: &[u8]) -> Result<Vec<ScoreRecord>, String> {
        let mut sink = Collect::default();
        JsonlReader::read(&mut &bytes[..], &ReadOptions::default(), &mut sink)
            .map(|()| sink.0)
            .map_err(|e| e.to_string())
    }

    /// The records of `bytes` read in halves; checks the hash of a read
    /// that succeeds.
    fn in_halves(bytes: &[u8], keep_frames: bool) -> Result<Vec<ScoreRecord>, String> {
        use sha2::{Digest, Sha256};
        let file = file_of(bytes);
        let cut = split_point(&file, 0).unwrap().expect("a cut");
        let mut sink = Collect::default();
        let hashed = read_jsonl_in_halves(
            &file,
            cut,
            &ReadOptions::default(),
            keep_frames,
            true,
            &mut sink,
        )
        .map_err(|e| e.to_string())?;
        let whole = (
            crate::digest::hex(&Sha256::digest(bytes)),
            bytes.len() as u64,
        );
        assert_eq!(hashed, Some(whole));
        Ok(sink.0)
    }

    /// Rows of per-frame payloads, with what real files have between them.
    fn payloads(rows: usize) -> Vec<u8> {
        let mut text = b"\xEF\xBB\xBF".to_vec();
        for row in 0..rows {
            let frames: Vec<String> = (0..3)
                .map(|f| {
                    format!(
                        "{{\"frame_idx\": {f}, \"predicted_vmaf_or_mos\": {}.5}}",
                        row + f
                    )
                })
                .collect();
            let end = if row % 3 == 0 { "\r\n" } else { "\n" };
            text.extend_from_slice(
                format!(
                    "{{\"name\": \"clip_{row}.mp4\", \"frames\": [{}]}}{end}",
                    frames.join(", ")
                )
                .as_bytes(),
            );
            if row % 4 == 1 {
                text.extend_from_slice(b"\n  \n");
            }
        }
        text
    }

    #[test]
    fn the_cut_follows_the_first_line_end_past_the_middle() {
        let file = file_of(b"aaaa\nbbbb\ncccc\n");
        assert_eq!(
            split_point(&file, 0).unwrap(),
            Some(Cut { split: 10, end: 15 })
        );
        assert_eq!(
            split_point(&file, 16).unwrap(),
            None,
            "smaller than the minimum"
        );
        // The only line end past the middle ends the file: nothing to cut.
        assert_eq!(split_point(&file_of(b"aaaaaaaa\n"), 0).unwrap(), None);
        assert_eq!(split_point(&file_of(b"aaaa\nbbbbbbbb"), 0).unwrap(), None);
    }

    #[test]
    fn halves_give_the_records_of_one_pass_in_file_order() {
        for rows in [2, 3, 7, 40, 1001] {
            let bytes = payloads(rows);
            let expected = one_pass(&bytes).unwrap();
            assert_eq!(expected.len(), rows);
            assert_eq!(in_halves(&bytes, true).unwrap(), expected, "{rows} rows");
            let without_frames = in_halves(&bytes, false).unwrap();
            assert_eq!(without_frames.len(), rows);
            for (got, want) in without_frames.iter().zip(&expected) {
                assert_eq!(
                    (got.line, &got.raw_key, &got.value),
                    (want.line, &want.raw_key, &want.value)
                );
                assert_eq!(got.pooled_frames, 3);
            }
        }
    }

    #[test]
    fn an_error_is_the_one_one_pass_reports() {
        let bytes = payloads(100);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        let broken = |at: &[usize]| -> Vec<u8> {
            let mut out = Vec::new();
            for (n, line) in lines.iter().enumerate() {
                if at.contains(&n) {
                    out.extend_from_slice(b"{\"name\": \"clip_x.mp4\", \"frames\": [}\n");
                } else {
                    out.extend_from_slice(line);
                }
            }
            out
        };
        let last = lines.len() - 1;
        for at in [
            vec![last],
            vec![lines.len() / 2 + 2],
            vec![3, last],
            vec![1, lines.len() / 2 + 3],
        ] {
            let bytes = broken(&at);
            let expected = one_pass(&bytes).unwrap_err();
            assert!(
                expected.starts_with(&format!("{}:", at[0] + 1)),
                "{expected}"
            );
            assert_eq!(
                in_halves(&bytes, false).unwrap_err(),
                expected,
                "broken at {at:?}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_is_taken_off_the_first_line_only() {
        let bytes = payloads(10);
        let cut = split_point(&file_of(&bytes), 0).unwrap().unwrap();
        let split = cut.split as usize;
        let mut marked = bytes[..split].to_vec();
        marked.extend_from_slice(b"\xEF\xBB\xBF");
        marked.extend_from_slice(&bytes[split..]);
        // The mark now starts the second half's first line.
        let marked_cut = split_point(&file_of(&marked), 0).unwrap().unwrap();
        assert_eq!(marked_cut.split, cut.split);
        let expected = one_pass(&marked).unwrap_err();
        assert_eq!(in_halves(&marked, false).unwrap_err(), expected);
    }

    #[test]
    fn a_file_of_blank_lines_fails_as_one_pass_does() {
        let bytes = b"\n  \n\r\n\n\n";
        let expected = one_pass(bytes).unwrap_err();
        assert_eq!(expected, "1: no score rows, only blank lines");
        assert_eq!(in_halves(bytes, false).unwrap_err(), expected);
    }
}
