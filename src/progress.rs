//! How long work reports how far it got, without the library drawing
//! anything: the command line turns these calls into a progress bar, a
//! Python caller or a server into whatever it shows.

/// Told how much of a known amount of work is done. Called from the
/// thread doing the work (a file's reader), hence `Sync`.
pub trait Progress: Sync {
    /// A new piece of work of `total` units (bytes of a file) begins.
    fn begin(&self, total: u64);
    /// `done` more units are done.
    fn advance(&self, done: u64);
    /// Whether the caller wants the work stopped (Ctrl-C in Python): a
    /// file's read then fails, and its ingest is rolled back whole.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Nobody watches.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _total: u64) {}
    fn advance(&self, _done: u64) {}
}

/// A reader that reports the bytes read to a [`Progress`].
pub(crate) struct ProgressRead<'p, R> {
    pub inner: R,
    pub progress: &'p dyn Progress,
}

impl<R: std::io::Read> std::io::Read for ProgressRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.progress.cancelled() {
            // Not `ErrorKind::Interrupted`: readers retry that.
            return Err(std::io::Error::other("interrupted"));
        }
        let read = self.inner.read(buf)?;
        self.progress.advance(read as u64);
        Ok(read)
    }
}
