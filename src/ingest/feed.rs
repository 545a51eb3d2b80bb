//! A score file read, and run through the pipeline's rules, on a thread of
//! its own, while the calling thread only keeps the rows in the store.
//!
//! The store's thread is an ingest's critical path: SQLite's inserts, or a
//! PostgreSQL connection, take all of it. So everything else happens on
//! the reading thread: parsing, naming the scorer, normalising the key,
//! judging the value, the counts and the suspicious-output summary. The
//! pipeline there ([`FileIngest`]) keeps rows in a [`StoreAcross`], which
//! hands them over in batches to [`serve`] on the calling thread, where
//! the real store is (neither an SQLite transaction nor a PostgreSQL
//! connection can leave its thread). What the store says back (each row's
//! fate, a scorer it resolved, its first failure) comes back in file
//! order, so the messages, counts and errors are those of one thread.

use std::io::BufRead;
use std::sync::mpsc::{channel, Receiver, Sender};

use super::pipeline::{
    Fate, FileIngest, FileIngestResult, PipelineError, RowDetail, ScoreRow, ScoreStore, Settled,
    StoreError, StoreScorer,
};
use super::rules::Declared;
use super::{Format, ReadError, ReadOptions};
use crate::threads::{Feed, Handoff, Worker};

/// Rows per message to the store's thread: enough to make the channel's
/// cost per row negligible, few enough that a batch of per-frame payloads
/// (hundreds of frames each) stays a few megabytes.
const ROWS_PER_MESSAGE: usize = 256;

/// Messages the reading thread may have in flight before it waits for the
/// store: bounds the memory between them.
const MESSAGES_IN_FLIGHT: usize = 4;

/// Read `input` in `format` through the pipeline `pipeline` makes, on a
/// thread of its own, while this thread keeps the rows in `store`. When
/// the reader is done, `after` gets the input and how the read went, on
/// the reading thread (to read a trailer, to take the hash of what was
/// read), and may turn success into an error; what it returns comes back
/// with the file's results. A row the store refuses stops the reader at
/// its next hand-off.
pub(crate) fn read_on_thread<'p, S, I, T>(
    format: Format,
    mut input: I,
    options: &ReadOptions,
    store: &mut S,
    pipeline: impl FnOnce(StoreAcross<T>) -> FileIngest<'p, StoreAcross<T>> + Send,
    after: impl FnOnce(I, Result<(), ReadError>) -> (Result<(), ReadError>, T) + Send,
) -> Result<(FileIngestResult, T), PipelineError>
where
    S: ScoreStore,
    I: BufRead + Send,
    T: Send,
{
    std::thread::scope(|scope| {
        // Made inside the scope: should the store panic, unwinding drops
        // the answering end before the scope waits for the reader, so a
        // reader waiting for an answer stops instead of waiting forever.
        let (answer, answers) = channel();
        let mut requests = Feed::scoped(scope, MESSAGES_IN_FLIGHT, |out: Handoff<Request<T>>| {
            let done = out.clone();
            let mut pipeline = pipeline(StoreAcross::new(out, answers));
            let outcome = match format.read(&mut input, options, &mut pipeline) {
                Ok(()) => Ok(()),
                Err(PipelineError::Read(e)) => Err(e),
                // The pipeline kept the rows before the failing one first.
                Err(e) => {
                    let _ = done.send(Request::Done(Err(e)));
                    return;
                }
            };
            let finished = match after(input, outcome) {
                (Ok(()), returned) => pipeline.finish().map(|(_store, result)| (result, returned)),
                // Rows before the unreadable line come first: one of them
                // may already be the file's error.
                (Err(e), _) => Err(pipeline.fail(e)),
            };
            // The store's thread waits for this; if it has gone, it failed.
            let _ = done.send(Request::Done(finished));
        });
        let served = serve(store, &mut requests, &answer);
        // Waits for the reader and re-raises its panic, if it had one.
        requests.finish();
        served
    })
}

/// Keep the rows the reading thread hands over in `store`, in file order,
/// answering what it asks, until it is done; returns what it returned.
/// After the store's first failure, rows are dropped unread: the reader
/// stops at its next hand-off.
fn serve<S: ScoreStore, T, W: Worker>(
    store: &mut S,
    requests: &mut Feed<Request<T>, W>,
    answer: &Sender<Answer>,
) -> Result<(FileIngestResult, T), PipelineError> {
    let mut failed = false;
    // An answer can go nowhere only when the reader has stopped; its own
    // outcome (or panic) is what this returns.
    let reply = |message| {
        let _ = answer.send(message);
    };
    while let Some(request) = requests.next() {
        match request {
            Request::Rows(rows) => {
                if failed {
                    continue;
                }
                let mut settled = Vec::with_capacity(rows.len());
                let mut kept = Ok(());
                for (row, detail) in rows {
                    kept = store.put(row, detail, &mut |row, fate| settled.push((row, fate)));
                    if kept.is_err() {
                        break;
                    }
                }
                if !settled.is_empty() {
                    reply(Answer::Settled(settled));
                }
                if let Err(e) = kept {
                    failed = true;
                    reply(Answer::Failed(e));
                }
            }
            Request::Flush => {
                if failed {
                    reply(Answer::Flushed);
                    continue;
                }
                let mut settled = Vec::new();
                let flushed = store.flush(&mut |row, fate| settled.push((row, fate)));
                if !settled.is_empty() {
                    reply(Answer::Settled(settled));
                }
                match flushed {
                    Ok(()) => reply(Answer::Flushed),
                    Err(e) => {
                        failed = true;
                        reply(Answer::Failed(e));
                    }
                }
            }
            Request::Scorer {
                name,
                slug,
                declared,
            } => reply(Answer::Scorer(store.scorer(&name, &slug, &declared))),
            Request::FinishFile(rows_per_scorer) => {
                reply(Answer::FileFinished(store.finish_file(&rows_per_scorer)))
            }
            Request::Done(outcome) => return outcome,
        }
    }
    Err(PipelineError::Read(ReadError::Io(std::io::Error::other(
        "the reader stopped before the end of the file",
    ))))
}

/// What the reading thread asks of the store's thread, in file order.
pub(crate) enum Request<T> {
    /// Keep these rows ([`ScoreStore::put`]).
    Rows(Vec<(ScoreRow, RowDetail)>),
    /// Keep every row held back ([`ScoreStore::flush`]).
    Flush,
    /// Resolve a scorer ([`ScoreStore::scorer`]).
    Scorer {
        name: String,
        slug: String,
        declared: Declared,
    },
    /// [`ScoreStore::finish_file`].
    FinishFile(Vec<(i64, u64, u64)>),
    /// The reader is done: the file's results and what `after` returned,
    /// or why the file failed.
    Done(Result<(FileIngestResult, T), PipelineError>),
}

/// What the store's thread says back, in the order it did it.
enum Answer {
    /// Rows whose fate is now known, in file order.
    Settled(Vec<(Settled, Fate)>),
    /// The store failed; it takes no more rows.
    Failed(StoreError),
    /// Every row sent before the flush is kept.
    Flushed,
    Scorer(Result<StoreScorer, StoreError>),
    FileFinished(Result<(), StoreError>),
}

/// The store as the reading thread's pipeline sees it: rows go over to
/// the store's thread in batches, questions wait for their answers, and
/// fates are settled in file order as they come back.
pub(crate) struct StoreAcross<T> {
    requests: Handoff<Request<T>>,
    answers: Receiver<Answer>,
    batch: Vec<(ScoreRow, RowDetail)>,
    /// Fates that came back while no settling was at hand (while a scorer
    /// was resolved), settled at the next chance, before any later ones.
    unsettled: Vec<(Settled, Fate)>,
    /// The store's failure has been reported: nothing more is sent.
    stopped: bool,
}

impl<T> StoreAcross<T> {
    fn new(requests: Handoff<Request<T>>, answers: Receiver<Answer>) -> Self {
        StoreAcross {
            requests,
            answers,
            batch: Vec::with_capacity(ROWS_PER_MESSAGE),
            unsettled: Vec::new(),
            stopped: false,
        }
    }

    fn send(&mut self, request: Request<T>) -> Result<(), StoreError> {
        self.requests.send(request).map_err(|_| store_gone())
    }

    /// Send the batched rows, then take what has come back meanwhile.
    fn send_batch(&mut self) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            let rows = std::mem::replace(&mut self.batch, Vec::with_capacity(ROWS_PER_MESSAGE));
            self.send(Request::Rows(rows))?;
        }
        while let Ok(answer) = self.answers.try_recv() {
            match answer {
                Answer::Settled(fates) => self.unsettled.extend(fates),
                Answer::Failed(e) => return Err(self.fail(e)),
                // Answers to questions come only while the question waits.
                Answer::Flushed | Answer::Scorer(_) | Answer::FileFinished(_) => {
                    unreachable!("an answer nobody waits for")
                }
            }
        }
        Ok(())
    }

    /// Wait for the answer to the question just sent, taking the fates
    /// that come before it; the store's failure, if it fails first.
    fn answer(&mut self) -> Result<Answer, StoreError> {
        loop {
            match self.answers.recv() {
                Ok(Answer::Settled(fates)) => self.unsettled.extend(fates),
                Ok(Answer::Failed(e)) => return Err(self.fail(e)),
                Ok(answer) => return Ok(answer),
                Err(_) => return Err(store_gone()),
            }
        }
    }

    fn fail(&mut self, error: StoreError) -> StoreError {
        self.stopped = true;
        error
    }

    fn settle_received(&mut self, settle: &mut dyn FnMut(Settled, Fate)) {
        for (row, fate) in self.unsettled.drain(..) {
            settle(row, fate);
        }
    }
}

impl<T> ScoreStore for StoreAcross<T> {
    fn scorer(
        &mut self,
        name: &str,
        slug: &str,
        declared: &Declared,
    ) -> Result<StoreScorer, StoreError> {
        // Rows before the first of this scorer's go first, in file order.
        self.send_batch()?;
        self.send(Request::Scorer {
            name: name.to_string(),
            slug: slug.to_string(),
            declared: declared.clone(),
        })?;
        match self.answer()? {
            Answer::Scorer(scorer) => scorer,
            _ => unreachable!("a scorer is answered with a scorer"),
        }
    }

    fn put(
        &mut self,
        row: ScoreRow,
        detail: RowDetail,
        settle: &mut dyn FnMut(Settled, Fate),
    ) -> Result<(), StoreError> {
        self.batch.push((row, detail));
        if self.batch.len() == ROWS_PER_MESSAGE {
            self.send_batch()?;
            self.settle_received(settle);
        }
        Ok(())
    }

    fn flush(&mut self, settle: &mut dyn FnMut(Settled, Fate)) -> Result<(), StoreError> {
        // After a failure the store holds nothing back (as a store on this
        // thread would not): the failure was the file's error.
        if self.stopped {
            return Ok(());
        }
        self.send_batch()?;
        self.send(Request::Flush)?;
        let flushed = self.answer();
        self.settle_received(settle);
        match flushed? {
            Answer::Flushed => Ok(()),
            _ => unreachable!("a flush is answered with flushed"),
        }
    }

    fn finish_file(&mut self, rows_per_scorer: &[(i64, u64, u64)]) -> Result<(), StoreError> {
        self.send_batch()?;
        self.send(Request::FinishFile(rows_per_scorer.to_vec()))?;
        match self.answer()? {
            Answer::FileFinished(finished) => finished,
            _ => unreachable!("finishing a file is answered with its end"),
        }
    }
}

/// The store's thread has stopped taking requests: it failed (and says
/// why itself) or panicked (and that panic is raised).
fn store_gone() -> StoreError {
    StoreError::Backend("the store's thread stopped".into())
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::ingest::file::{IngestOptions, SourceSpec};
    use crate::ingest::pipeline::Settled;

    /// A store on the calling thread that holds rows back as SQLite's
    /// does (a batch at a time), leaves every third line out (`--ignore`
    /// meeting a live row) and can refuse one line.
    #[derive(Default)]
    struct Recording {
        held: Vec<ScoreRow>,
        /// Every line the store was handed, in order.
        seen: Vec<u64>,
        refuse_line: Option<u64>,
        panic_line: Option<u64>,
        finished: Vec<(i64, u64, u64)>,
    }

    const HELD: usize = 64;

    impl ScoreStore for Recording {
        fn scorer(
            &mut self,
            name: &str,
            slug: &str,
            _declared: &Declared,
        ) -> Result<StoreScorer, StoreError> {
            Ok(StoreScorer {
                id: 7,
                slug: slug.to_string(),
                registered_name: name.to_string(),
                scale: None,
                typical: None,
                higher_is_better: None,
                already_ingested: false,
            })
        }

        fn put(
            &mut self,
            row: ScoreRow,
            _detail: RowDetail,
            settle: &mut dyn FnMut(Settled, Fate),
        ) -> Result<(), StoreError> {
            self.seen.push(row.line);
            if Some(row.line) == self.panic_line {
                panic!("the store broke at line {}", row.line);
            }
            self.held.push(row);
            if self.held.len() == HELD {
                self.flush(settle)?;
            }
            Ok(())
        }

        fn flush(&mut self, settle: &mut dyn FnMut(Settled, Fate)) -> Result<(), StoreError> {
            for row in std::mem::take(&mut self.held) {
                if Some(row.line) == self.refuse_line {
                    return Err(StoreError::Backend(
                        format!("refused line {}", row.line).into(),
                    ));
                }
                let fate = match row.line % 3 {
                    0 => Fate::Ignored,
                    _ => Fate::Written,
                };
                settle(row.settled(), fate);
            }
            Ok(())
        }

        fn finish_file(&mut self, rows_per_scorer: &[(i64, u64, u64)]) -> Result<(), StoreError> {
            self.finished = rows_per_scorer.to_vec();
            Ok(())
        }
    }

    fn lines(rows: u64, malformed_line: Option<u64>) -> Vec<u8> {
        let mut text = String::new();
        for line in 1..=rows {
            if Some(line) == malformed_line {
                text.push_str("{\"clip_id\": \n");
            } else {
                text.push_str(&format!(
                    "{{\"clip_id\": \"c{line}\", \"competitor\": \"DOVER\", \"score\": {}}}\n",
                    line as f64 / rows as f64
                ));
            }
        }
        text.into_bytes()
    }

    /// Bytes that count how far they were read.
    struct Counted<'c> {
        bytes: Cursor<Vec<u8>>,
        read: &'c AtomicU64,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.bytes.read(buf)?;
            self.read.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }

    impl BufRead for Counted<'_> {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            self.bytes.fill_buf()
        }

        fn consume(&mut self, n: usize) {
            self.read.fetch_add(n as u64, Ordering::Relaxed);
            self.bytes.consume(n)
        }
    }

    fn ingest(
        bytes: Vec<u8>,
        store: &mut Recording,
    ) -> Result<(FileIngestResult, u64), PipelineError> {
        ingest_counted(bytes, store, &AtomicU64::new(0))
    }

    fn ingest_counted(
        bytes: Vec<u8>,
        store: &mut Recording,
        read: &AtomicU64,
    ) -> Result<(FileIngestResult, u64), PipelineError> {
        let options = IngestOptions::default();
        let source = SourceSpec {
            label: None,
            path: PathBuf::from("scores.jsonl"),
        };
        let read_options = options.read_options(&source);
        read_on_thread(
            Format::Jsonl,
            Counted {
                bytes: Cursor::new(bytes),
                read,
            },
            &read_options,
            store,
            |store| FileIngest::new(store, "scores.jsonl", &source, &options, Format::Jsonl),
            |input, read| (read, input.bytes.position()),
        )
    }

    fn error_of(result: Result<(FileIngestResult, u64), PipelineError>) -> String {
        match result {
            Ok(_) => panic!("expected the file to fail"),
            Err(e) => e.into_file_error("scores.jsonl").to_string(),
        }
    }

    #[test]
    fn fates_settle_in_file_order_across_the_threads() {
        let rows = 10_000;
        let mut store = Recording::default();
        let (result, read_to) = ingest(lines(rows, None), &mut store).expect("ingests");
        assert_eq!(store.seen, (1..=rows).collect::<Vec<_>>());
        let counts = &result.scorers[0].counts;
        assert_eq!(counts.ignored, rows / 3);
        assert_eq!(counts.ingested, rows - rows / 3);
        // The store heard the counts the fates it settled make.
        assert_eq!(store.finished, vec![(7, rows - rows / 3, 0)]);
        // `after` ran on the whole input and its value came back.
        assert_eq!(read_to, lines(rows, None).len() as u64);
    }

    #[test]
    fn a_refused_row_stops_the_reader_and_is_the_files_error() {
        let rows = 200_000;
        let mut store = Recording {
            refuse_line: Some(10),
            ..Recording::default()
        };
        let bytes = lines(rows, None);
        let (size, row_size) = (bytes.len() as u64, bytes.len() as u64 / rows);
        let read = AtomicU64::new(0);
        let message = error_of(ingest_counted(bytes, &mut store, &read));
        assert!(message.contains("refused line 10"), "{message}");
        // The reader stopped within the messages in flight (and the 64 KiB
        // of its buffer), not at the end of the file.
        let in_flight = (ROWS_PER_MESSAGE * (MESSAGES_IN_FLIGHT + 3)) as u64 * row_size;
        let read = read.load(Ordering::Relaxed);
        assert!(
            read < in_flight + (1 << 16) && read < size / 10,
            "{read} of {size} bytes read"
        );
    }

    #[test]
    fn a_row_refused_before_a_malformed_line_is_the_error_and_not_after_it() {
        // The store refuses line 5 only when it writes its batch, long
        // after the reader has met the malformed line 300.
        let mut store = Recording {
            refuse_line: Some(5),
            ..Recording::default()
        };
        let message = error_of(ingest(lines(1_000, Some(300)), &mut store));
        assert!(message.contains("refused line 5"), "{message}");

        let mut store = Recording {
            refuse_line: Some(500),
            ..Recording::default()
        };
        let message = error_of(ingest(lines(1_000, Some(300)), &mut store));
        assert!(
            message.starts_with("scores.jsonl:300: invalid JSON"),
            "{message}"
        );
        assert!(!message.contains("refused"), "{message}");
    }

    #[test]
    fn a_store_that_panics_raises_its_panic_and_stops_the_reader() {
        // The reader, having sent every row, waits for the answer to its
        // flush; the store panics before it answers.
        let panicked = std::panic::catch_unwind(|| {
            let mut store = Recording {
                panic_line: Some(900),
                ..Recording::default()
            };
            ingest(lines(1_000, None), &mut store).is_ok()
        });
        let message = panicked.expect_err("the store's panic is raised");
        assert_eq!(
            message.downcast_ref::<String>().map(String::as_str),
            Some("the store broke at line 900")
        );
    }

    #[test]
    fn an_unreadable_file_keeps_the_rows_before_it_first() {
        // Fewer rows than a batch: the store holds them until the read's
        // failure flushes them, and its refusal, earlier, wins.
        let mut store = Recording {
            refuse_line: Some(2),
            ..Recording::default()
        };
        let bytes = [lines(3, None), vec![0xff, b'\n']].concat();
        let message = error_of(ingest(bytes, &mut store));
        assert!(message.contains("refused line 2"), "{message}");
    }
}
