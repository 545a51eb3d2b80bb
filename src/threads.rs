//! How work goes to another thread here: a worker produces items into a
//! bounded channel ([`Feed`]), or computes one result in the background
//! ([`Background`]). Whoever waits for a worker gets its panic as that
//! panic, never as a second one that hides it; a detached worker nobody
//! waits for (the caller failed first) ends on its own. Two places keep
//! threads of their own for reasons given there: the parquet writer's
//! encoding thread and the freeing of an export's index.

use std::panic::resume_unwind;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{JoinHandle, Scope, ScopedJoinHandle};

/// A worker thread that can be waited for, re-raising its panic.
pub(crate) trait Worker {
    fn wait(self);
}

impl Worker for JoinHandle<()> {
    fn wait(self) {
        if let Err(panic) = self.join() {
            resume_unwind(panic)
        }
    }
}

impl Worker for ScopedJoinHandle<'_, ()> {
    fn wait(self) {
        if let Err(panic) = self.join() {
            resume_unwind(panic)
        }
    }
}

/// The producing end of a [`Feed`].
pub(crate) struct Handoff<T>(SyncSender<T>);

/// The consumer has stopped (it failed, or needs nothing more): the
/// producer should stop too.
#[derive(Debug)]
pub(crate) struct Stopped;

// Not derived: a derived Clone would ask `T: Clone` of the items.
impl<T> Clone for Handoff<T> {
    fn clone(&self) -> Self {
        Handoff(self.0.clone())
    }
}

impl<T> Handoff<T> {
    /// Hand `item` over, waiting while the channel is full.
    pub(crate) fn send(&self, item: T) -> Result<(), Stopped> {
        self.0.send(item).map_err(|_| Stopped)
    }
}

/// Items a worker thread produces, at most `in_flight` ahead of the
/// consumer, in the order it produced them.
pub(crate) struct Feed<T, W: Worker> {
    items: Receiver<T>,
    worker: Option<W>,
}

impl<T: Send + 'static> Feed<T, JoinHandle<()>> {
    /// A detached worker: a consumer that returns early does not wait for
    /// it (it stops at its next hand-off).
    pub(crate) fn detached(
        in_flight: usize,
        produce: impl FnOnce(Handoff<T>) + Send + 'static,
    ) -> Self {
        let (sender, items) = sync_channel(in_flight);
        let worker = std::thread::spawn(move || produce(Handoff(sender)));
        Feed {
            items,
            worker: Some(worker),
        }
    }
}

impl<'scope, T: Send + 'scope> Feed<T, ScopedJoinHandle<'scope, ()>> {
    /// A worker of `scope`, which may borrow from the caller.
    pub(crate) fn scoped<'env>(
        scope: &'scope Scope<'scope, 'env>,
        in_flight: usize,
        produce: impl FnOnce(Handoff<T>) + Send + 'scope,
    ) -> Self {
        let (sender, items) = sync_channel(in_flight);
        let worker = scope.spawn(move || produce(Handoff(sender)));
        Feed {
            items,
            worker: Some(worker),
        }
    }
}

impl<T, W: Worker> Feed<T, W> {
    /// The next item, or `None` once the worker has finished. A worker
    /// that panicked has its panic re-raised here.
    pub(crate) fn next(&mut self) -> Option<T> {
        match self.items.recv() {
            Ok(item) => Some(item),
            Err(_) => {
                if let Some(worker) = self.worker.take() {
                    worker.wait();
                }
                None
            }
        }
    }

    /// Stop taking items and wait for the worker (which stops at its next
    /// hand-off), re-raising its panic.
    pub(crate) fn finish(mut self) {
        let worker = self.worker.take();
        drop(self);
        if let Some(worker) = worker {
            worker.wait();
        }
    }
}

/// One result computed on a detached thread.
pub(crate) struct Background<T>(JoinHandle<T>);

impl<T: Send + 'static> Background<T> {
    pub(crate) fn start(work: impl FnOnce() -> T + Send + 'static) -> Self {
        Background(std::thread::spawn(work))
    }

    /// The result, waiting for it; the worker's panic is re-raised.
    pub(crate) fn join(self) -> T {
        self.0.join().unwrap_or_else(|panic| resume_unwind(panic))
    }
}

/// Join a scoped helper, re-raising its panic as is.
pub(crate) fn join_scoped<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    #[test]
    fn items_arrive_in_order_and_the_feed_ends() {
        let mut feed = Feed::detached(2, |out| {
            for i in 0..10 {
                if out.send(i).is_err() {
                    return;
                }
            }
        });
        let mut seen = Vec::new();
        while let Some(i) = feed.next() {
            seen.push(i);
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_producers_panic_is_raised_as_itself() {
        let caught = std::panic::catch_unwind(|| {
            let mut feed = Feed::<u8, _>::detached(1, |_| panic!("reader broke on row 7"));
            while feed.next().is_some() {}
        });
        assert_eq!(panic_message(caught.unwrap_err()), "reader broke on row 7");
        let caught = std::panic::catch_unwind(|| {
            std::thread::scope(|scope| {
                let feed = Feed::<u8, _>::scoped(scope, 1, |_| panic!("scoped reader broke"));
                feed.finish();
            })
        });
        assert_eq!(panic_message(caught.unwrap_err()), "scoped reader broke");
        let caught = std::panic::catch_unwind(|| {
            Background::start(|| -> u8 { panic!("hashing broke") }).join()
        });
        assert_eq!(panic_message(caught.unwrap_err()), "hashing broke");
    }

    #[test]
    fn a_consumer_that_stops_stops_the_producer() {
        let feed = Feed::detached(1, |out| {
            let mut sent = 0u64;
            while out.send(sent).is_ok() {
                sent += 1;
            }
        });
        // Returns only once the producer has seen the consumer go.
        feed.finish();
    }
}
