//! A file's transaction, lent to a thread that copies scalar rows straight
//! into `scores` while the file's next rows are read: the server inserts
//! one batch while the pipeline makes the next, instead of each waiting for
//! the other at every batch's end (`postgres/ingest.rs`).
//!
//! Only rows that may be settled as written before the server has taken
//! them are lent: those copied without a savepoint, where any failure
//! aborts the file's attempt (and the pipeline's counts with it).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use postgres::binary_copy::BinaryCopyInWriter;

use super::ingest::{write_row, COPY_ROW_TYPES};
use super::sql;
use super::write::Write;
use crate::ingest::pipeline::ScoreRow;

/// Batches in flight to the copier: the pipeline runs at most this many
/// ahead of the server.
const IN_FLIGHT: usize = 2;

enum Message {
    Rows(Vec<ScoreRow>),
    /// The last batch was sent: finish the COPY. (A channel closed without
    /// it aborts the COPY: the ingest failed on this side.)
    Done,
}

/// The copier thread's end: the transaction back, and how its COPY went.
type Returned<'c> = (Write<'c>, Result<(), postgres::Error>);

/// The file's transaction, here or lent to a copier.
pub(super) struct Conn<'scope, 'env, 'c: 'scope> {
    tx: Option<Write<'c>>,
    lent: Option<Lent<'scope, 'c>>,
    scope: &'scope Scope<'scope, 'env>,
}

struct Lent<'scope, 'c: 'scope> {
    rows: SyncSender<Message>,
    copier: ScopedJoinHandle<'scope, Returned<'c>>,
}

impl<'scope, 'env, 'c: 'scope> Conn<'scope, 'env, 'c> {
    /// `tx`, whose copies may run on threads of `scope`.
    pub(super) fn new(tx: Write<'c>, scope: &'scope Scope<'scope, 'env>) -> Self {
        Conn {
            tx: Some(tx),
            lent: None,
            scope,
        }
    }

    /// The transaction, taken back from the copier (its COPY finished)
    /// if it was lent; the copier's failure, if it failed.
    pub(super) fn tx(&mut self) -> Result<&mut Write<'c>, postgres::Error> {
        if let Some(lent) = self.lent.take() {
            // A copier that failed has hung up: its error is in the join.
            let _ = lent.rows.send(Message::Done);
            let (tx, copied) = lent
                .copier
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            self.tx = Some(tx);
            copied?;
        }
        Ok(self.tx.as_mut().expect("the transaction is here"))
    }

    /// The transaction, for the rest of the file's ingest.
    pub(super) fn into_tx(mut self) -> Result<Write<'c>, postgres::Error> {
        self.tx()?;
        Ok(self.tx.take().expect("the transaction is here"))
    }

    /// Copy `rows` into `scores` as file `file_id`'s, on the copier (lent
    /// the transaction now, if it is not yet). Returns once they are on
    /// their way: a failure shows at the next [`Conn::tx`].
    pub(super) fn copy_later(
        &mut self,
        rows: Vec<ScoreRow>,
        file_id: i64,
    ) -> Result<(), postgres::Error> {
        if self.lent.is_none() {
            let tx = self.tx.take().expect("the transaction is here");
            let (sender, receiver) = sync_channel(IN_FLIGHT);
            let copier = self.scope.spawn(move || copy(tx, receiver, file_id));
            self.lent = Some(Lent {
                rows: sender,
                copier,
            });
        }
        let lent = self.lent.as_ref().expect("lent above");
        if lent.rows.send(Message::Rows(rows)).is_err() {
            // The copier stopped on an error: take it.
            self.tx()?;
        }
        Ok(())
    }
}

impl Drop for Conn<'_, '_, '_> {
    fn drop(&mut self) {
        // Abandoned while lent (the ingest failed on this side): the
        // copier aborts its COPY, and the transaction it holds rolls back.
        self.lent.take();
    }
}

/// The copier: one COPY into `scores` of every batch received, finished at
/// [`Message::Done`].
fn copy(mut tx: Write<'_>, batches: Receiver<Message>, file_id: i64) -> Returned<'_> {
    let copied = (|| {
        let sink = tx.copy_in(sql::COPY_SCORES)?;
        let mut writer = BinaryCopyInWriter::new(sink, &COPY_ROW_TYPES);
        for message in batches {
            match message {
                Message::Rows(rows) => {
                    for row in &rows {
                        write_row(&mut writer, row, file_id)?;
                    }
                }
                Message::Done => {
                    writer.finish()?;
                    return Ok(());
                }
            }
        }
        // Hung up without Done: dropped unfinished, the COPY is aborted.
        Ok(())
    })();
    (tx, copied)
}
