//! One write to the PostgreSQL registry, all of it or none: a transaction
//! of its own, or a savepoint of one already open (`materialize
//! --registry` and `batch --registry` hold one transaction over many
//! files; an ingest undoes one batch of a file).
//!
//! Plain `BEGIN`/`SAVEPOINT`, `COMMIT`/`RELEASE` and `ROLLBACK`/`ROLLBACK
//! TO` statements, not the client's `Transaction`: the client makes
//! savepoints only of a transaction it began itself, and the outer
//! transaction of `materialize --registry` is begun by a statement
//! (`PgBackend::begin_outer`).

use std::ops::{Deref, DerefMut};

use postgres::Client;

/// An open write. [`Write::commit`] keeps it; dropped without, it is
/// rolled back (a savepoint's writes only: the transaction around it goes
/// on).
pub(crate) struct Write<'a> {
    client: &'a mut Client,
    /// `None`: a transaction of its own; else the savepoint's name.
    savepoint: Option<&'static str>,
    open: bool,
}

impl<'a> Write<'a> {
    /// Begin a transaction of its own.
    pub(crate) fn begin(client: &'a mut Client) -> Result<Write<'a>, postgres::Error> {
        client.batch_execute("BEGIN")?;
        Ok(Write {
            client,
            savepoint: None,
            open: true,
        })
    }

    /// Begin savepoint `name` of the transaction open on `client`.
    pub(crate) fn savepoint_of(
        client: &'a mut Client,
        name: &'static str,
    ) -> Result<Write<'a>, postgres::Error> {
        client.batch_execute(&format!("SAVEPOINT {name}"))?;
        Ok(Write {
            client,
            savepoint: Some(name),
            open: true,
        })
    }

    /// Begin savepoint `name` inside this write.
    pub(crate) fn savepoint(&mut self, name: &'static str) -> Result<Write<'_>, postgres::Error> {
        Write::savepoint_of(self.client, name)
    }

    /// Keep what was written: commit the transaction, or release the
    /// savepoint into the transaction around it.
    pub(crate) fn commit(mut self) -> Result<(), postgres::Error> {
        self.open = false;
        match self.savepoint {
            None => self.client.batch_execute("COMMIT"),
            Some(name) => self
                .client
                .batch_execute(&format!("RELEASE SAVEPOINT {name}")),
        }
    }

    /// Undo what was written.
    pub(crate) fn rollback(mut self) -> Result<(), postgres::Error> {
        self.open = false;
        self.undo()
    }

    fn undo(&mut self) -> Result<(), postgres::Error> {
        match self.savepoint {
            None => self.client.batch_execute("ROLLBACK"),
            // Rolled back to, a savepoint is still there: released too, so
            // the next one of the same name does not stack on it.
            Some(name) => self.client.batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
            )),
        }
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if self.open {
            // An error is being reported already, or the connection is
            // gone (and the server undoes the transaction as it closes).
            let _ = self.undo();
        }
    }
}

impl Deref for Write<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
    }
}

impl DerefMut for Write<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
    }
}
