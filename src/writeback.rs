//! Early write-back: the disk starts on what a long write leaves dirty
//! while the write is still going, instead of all at its end.
//!
//! An ingest into the SQLite registry writes its rows to the write-ahead
//! log, and its commit then waits for the whole log to reach the disk
//! (`fsync`), after which the checkpoint copies the log into the database
//! file and waits again. On a file of millions of rows that is hundreds
//! of megabytes, written out only once the rows are all in: the last
//! fifth of the ingest, with one thread waiting and the other core idle.
//! The kernel's own background write-back starts far later (by default,
//! after 30 s or a tenth of memory dirty).
//!
//! While an [`EarlyWriteback`] lives, a thread asks the kernel every
//! [`INTERVAL`] to start writing the named files' dirty pages
//! (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`, which does not wait
//! for the disk), so the disk works beside the ingest and the `fsync`s
//! at its end find little left to do. Nothing about durability changes:
//! every `fsync` still happens, at the same points; the writing only
//! starts earlier. Elsewhere than Linux the guard does nothing.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the dirty pages are handed to the disk: at the 100–500 MB/s
/// an ingest writes its log, a few tens of megabytes each time.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Every path a guard was started on, for tests of its callers.
#[cfg(test)]
pub(crate) static STARTED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Hands the named files' dirty pages to the disk every [`INTERVAL`]
/// until dropped (the drop waits for the thread to end).
pub struct EarlyWriteback {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<AtomicU64>,
}

impl EarlyWriteback {
    /// Start on `paths`. A file that does not exist yet is looked for
    /// again at each turn; one that cannot be opened is left to the
    /// `fsync` that would have written it anyway.
    pub fn start(paths: Vec<PathBuf>) -> EarlyWriteback {
        #[cfg(test)]
        STARTED.lock().unwrap().extend(paths.iter().cloned());
        let requests = Arc::new(AtomicU64::new(0));
        if !cfg!(target_os = "linux") {
            return EarlyWriteback {
                stop: None,
                thread: None,
                requests,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let counted = Arc::clone(&requests);
        let thread = std::thread::Builder::new()
            .name("writeback".into())
            .spawn(move || {
                let mut files: Vec<(PathBuf, Option<std::fs::File>)> =
                    paths.into_iter().map(|path| (path, None)).collect();
                // A message or a dropped sender both mean stop.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    for (path, file) in &mut files {
                        if file.is_none() {
                            *file = std::fs::File::open(&*path).ok();
                        }
                        if let Some(file) = file {
                            if start_writing(file) {
                                counted.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
            .ok();
        EarlyWriteback {
            stop: thread.as_ref().map(|_| stop),
            thread,
            requests,
        }
    }

    /// How many times the kernel accepted a request to start writing.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for EarlyWriteback {
    fn drop(&mut self) {
        // The thread holds the files open: it must let go of them before
        // the caller goes on (SQLite deletes its log as it closes).
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Ask the kernel to start writing `file`'s dirty pages; whether it took
/// the request.
#[cfg(target_os = "linux")]
fn start_writing(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor of an open file; offset 0 and length 0
    // name the whole file; the call only schedules write-back.
    unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn start_writing(_file: &std::fs::File) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn asks_for_the_files_it_names_until_dropped_and_waits_for_a_late_file() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("present");
        let late = dir.path().join("late");
        std::fs::write(&present, vec![7u8; 1 << 20]).unwrap();
        let writeback = EarlyWriteback::start(vec![present.clone(), late.clone()]);
        assert!(eventually(|| writeback.requests() >= 2), "no requests");
        std::fs::write(&late, vec![7u8; 1 << 20]).unwrap();
        // Once the late file exists both are asked for at each turn.
        let before = writeback.requests();
        assert!(eventually(|| writeback.requests() >= before + 6));
        let counter = Arc::clone(&writeback.requests);
        drop(writeback);
        let after_drop = counter.load(Ordering::Relaxed);
        std::thread::sleep(INTERVAL * 2);
        assert_eq!(
            counter.load(Ordering::Relaxed),
            after_drop,
            "asked after the drop"
        );
    }

    #[cfg(target_os = "linux")]
    /// Whether `done` holds within five seconds (a busy machine may run
    /// the thread late, never early).
    fn eventually(done: impl Fn() -> bool) -> bool {
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < until {
            if done() {
                return true;
            }
            std::thread::sleep(INTERVAL / 4);
        }
        done()
    }

    #[test]
    fn a_missing_file_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let writeback = EarlyWriteback::start(vec![dir.path().join("never")]);
        std::thread::sleep(INTERVAL * 2);
        assert_eq!(writeback.requests(), 0);
    }
}
