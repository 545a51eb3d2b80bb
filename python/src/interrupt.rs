//! Ctrl-C during a long call. The work runs on a worker thread while the
//! calling thread waits without the GIL, asking Python every few
//! milliseconds whether a signal came (only the main thread can). A
//! KeyboardInterrupt raises the [`Cancel`] flag the work looks at between
//! batches (an export) or reads (an ingest), so it stops the way it stops
//! on any error: nothing half-written, nothing recorded. The exception is
//! then raised in place of the call's answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

use second_opinion::progress::Progress;

/// How often the waiting thread looks for a signal.
const POLL: Duration = Duration::from_millis(20);

/// Raised when the caller pressed Ctrl-C; the work stops at its next look.
#[derive(Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    /// Whether the work should stop.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed)
    }
}

/// An ingest's reader sees the flag on every read (nobody draws progress).
impl Progress for Cancel {
    fn begin(&self, _total: u64) {}
    fn advance(&self, _done: u64) {}
    fn cancelled(&self) -> bool {
        self.is_set()
    }
}

/// Run `work` without the GIL, interruptible by Ctrl-C (see the module).
/// A signal's exception wins over the work's answer: the work has seen the
/// flag and stopped (or, finishing just then, completed, as a statement
/// can before a KeyboardInterrupt lands).
pub fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&Cancel) -> T + Send,
) -> PyResult<T> {
    let cancel = Cancel::default();
    py.detach(|| {
        std::thread::scope(|scope| {
            let waiting = std::thread::current();
            let cancel = &cancel;
            let worker = scope.spawn(move || {
                let answer = work(cancel);
                waiting.unpark();
                answer
            });
            let mut signal = None;
            while !worker.is_finished() {
                std::thread::park_timeout(POLL);
                if signal.is_none() {
                    if let Err(error) = Python::attach(|py| py.check_signals()) {
                        cancel.set();
                        signal = Some(error);
                    }
                }
            }
            let answer = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            match signal {
                Some(error) => Err(error),
                None => Ok(answer),
            }
        })
    })
}
