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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the dirty pages are handed to the disk: at the 100–500 MB/s
/// an ingest writes its log, a few megabytes each time. Every 100 ms left
/// the commit's syncs of W4-paths 0.06–0.07 s (log) and 0.13–0.15 s
/// (database file, written by the checkpoint in 0.2 s); every 25 ms,
/// 0.013–0.016 s and 0.09–0.10 s.
pub const INTERVAL: Duration = Duration::from_millis(25);

/// Every path a guard was started on, for tests of its callers.
#[cfg(test)]
pub(crate) static STARTED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A file to write back early, and how to reach it.
#[derive(Clone, Debug)]
pub enum Target {
    /// Opened by its path, and closed at the end, by the write-back
    /// thread. Only for a file this process holds no POSIX lock on: a
    /// process loses every such lock on a file when it closes any
    /// descriptor of it.
    Open(PathBuf),
    /// Reached through a descriptor this process already holds on that
    /// path (SQLite's own, on a database file it locks), found in
    /// `/proc/self/fd` and checked again at each turn; never opened or
    /// closed here.
    Held(PathBuf),
}

impl Target {
    /// The file's path.
    pub fn path(&self) -> &Path {
        match self {
            Target::Open(path) | Target::Held(path) => path,
        }
    }
}

/// Hands the named files' dirty pages to the disk every [`INTERVAL`]
/// until dropped (the drop waits for the thread to end).
pub struct EarlyWriteback {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<AtomicU64>,
}

impl EarlyWriteback {
    /// Start on `targets`. A file that does not exist yet (or is not held
    /// yet) is looked for again at each turn; one that cannot be reached
    /// is left to the `fsync` that would have written it anyway.
    pub fn start(targets: Vec<Target>) -> EarlyWriteback {
        #[cfg(test)]
        STARTED
            .lock()
            .unwrap()
            .extend(targets.iter().map(|target| target.path().to_path_buf()));
        let requests = Arc::new(AtomicU64::new(0));
        let (stop, thread) = spawn(targets, Arc::clone(&requests));
        EarlyWriteback {
            stop,
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
        // The thread holds files open: it must let go of them before the
        // caller goes on (SQLite deletes its log as it closes). A request
        // under way may wait for a full disk queue; the sync that follows
        // a guard would wait for it anyway.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Stop = Option<mpsc::Sender<()>>;

#[cfg(not(target_os = "linux"))]
fn spawn(_targets: Vec<Target>, _counted: Arc<AtomicU64>) -> (Stop, Option<JoinHandle<()>>) {
    (None, None)
}

#[cfg(target_os = "linux")]
fn spawn(targets: Vec<Target>, counted: Arc<AtomicU64>) -> (Stop, Option<JoinHandle<()>>) {
    use std::sync::mpsc::RecvTimeoutError;

    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("writeback".into())
        .spawn(move || {
            let mut reached: Vec<(Target, Reached)> = targets
                .into_iter()
                .map(|target| (target, Reached::Not))
                .collect();
            // A message or a dropped sender both mean stop.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                for (target, reached) in &mut reached {
                    if reached.start_writing(target) {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .ok();
    (thread.as_ref().map(|_| stop), thread)
}

/// How the thread reaches a target.
#[cfg(target_os = "linux")]
enum Reached {
    Not,
    Opened(std::fs::File),
    /// The number of a descriptor someone else holds, and the path (as
    /// the system resolves it) it must still name.
    Held(i32, PathBuf),
}

#[cfg(target_os = "linux")]
impl Reached {
    /// Reach `target` if not yet, and ask the kernel to start writing it;
    /// whether it took the request.
    fn start_writing(&mut self, target: &Target) -> bool {
        use std::os::fd::AsRawFd;

        if let Reached::Held(fd, resolved) = &*self {
            // Its holder may have closed it and the number gone to
            // another file since.
            if !names(*fd, resolved) {
                *self = Reached::Not;
            }
        }
        if let Reached::Not = self {
            *self = match target {
                Target::Open(path) => {
                    std::fs::File::open(path).map_or(Reached::Not, Reached::Opened)
                }
                Target::Held(path) => held_descriptor(path)
                    .map_or(Reached::Not, |(fd, resolved)| Reached::Held(fd, resolved)),
            };
        }
        let fd = match self {
            Reached::Not => return false,
            Reached::Opened(file) => file.as_raw_fd(),
            Reached::Held(fd, _) => *fd,
        };
        // SAFETY: the call takes a number, not memory; offset 0 and length
        // 0 name the whole file; it only schedules write-back. A number
        // that names no open file is refused (EBADF), and one its holder
        // closed and the system gave to another file since the check
        // above only starts that file's write-back.
        unsafe { libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE) == 0 }
    }
}

/// A descriptor this process holds on `path`, and the path as the system
/// resolves it.
#[cfg(target_os = "linux")]
fn held_descriptor(path: &Path) -> Option<(i32, PathBuf)> {
    let resolved = std::fs::canonicalize(path).ok()?;
    std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .find(|fd| names(*fd, &resolved))
        .map(|fd| (fd, resolved))
}

/// Whether descriptor `fd` of this process is open on `resolved`.
#[cfg(target_os = "linux")]
fn names(fd: i32, resolved: &Path) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|target| target == resolved)
}

/// Whether this process holds a POSIX lock on `path` (`/proc/locks`).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn process_holds_posix_lock(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path).unwrap().ino().to_string();
    let pid = std::process::id().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|line| {
            // 1: POSIX  ADVISORY  WRITE 4242 fd:01:123456 0 EOF
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&"POSIX")
                && fields.get(4) == Some(&pid.as_str())
                && fields
                    .get(5)
                    .is_some_and(|device| device.rsplit(':').next() == Some(inode.as_str()))
        })
}

/// Whether `done` holds within five seconds (a busy machine may run the
/// write-back thread late, never early): for tests that wait for it.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn eventually(done: impl Fn() -> bool) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(INTERVAL / 4);
    }
    done()
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
        let writeback = EarlyWriteback::start(vec![
            Target::Open(present.clone()),
            Target::Open(late.clone()),
        ]);
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

    #[test]
    fn a_missing_file_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let writeback = EarlyWriteback::start(vec![
            Target::Open(dir.path().join("never")),
            Target::Held(dir.path().join("never")),
        ]);
        std::thread::sleep(INTERVAL * 2);
        assert_eq!(writeback.requests(), 0);
    }

    /// Take a POSIX write lock on all of `file`, as SQLite locks its
    /// database.
    #[cfg(target_os = "linux")]
    fn lock(file: &std::fs::File) {
        use std::os::fd::AsRawFd;
        // SAFETY: a zeroed flock is valid; fcntl reads it.
        let mut range: libc::flock = unsafe { std::mem::zeroed() };
        range.l_type = libc::F_WRLCK as _;
        range.l_whence = libc::SEEK_SET as _;
        assert_eq!(
            unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &range) },
            0
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn closing_another_descriptor_of_a_file_loses_its_locks() {
        // Why the database file is only reached through its holder's
        // descriptor: the check below can see a lock lost.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let holder = std::fs::File::create(&path).unwrap();
        lock(&holder);
        assert!(process_holds_posix_lock(&path));
        drop(std::fs::File::open(&path).unwrap());
        assert!(!process_holds_posix_lock(&path));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_held_file_is_written_back_through_its_holders_descriptor_and_keeps_its_locks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let writeback = EarlyWriteback::start(vec![Target::Held(path.clone())]);
        // Not held yet: nothing to ask for, nothing opened.
        std::thread::sleep(INTERVAL * 2);
        assert_eq!(writeback.requests(), 0);
        let mut holder = std::fs::File::create(&path).unwrap();
        lock(&holder);
        std::io::Write::write_all(&mut holder, &vec![3u8; 1 << 20]).unwrap();
        assert!(
            eventually(|| writeback.requests() >= 2),
            "never written back"
        );
        drop(writeback);
        assert!(
            process_holds_posix_lock(&path),
            "the holder's lock was lost"
        );
        // Closed by its holder, it is no longer asked for.
        let writeback = EarlyWriteback::start(vec![Target::Held(path.clone())]);
        assert!(eventually(|| writeback.requests() >= 1));
        drop(holder);
        std::thread::sleep(INTERVAL * 2);
        let after_close = writeback.requests();
        std::thread::sleep(INTERVAL * 3);
        assert_eq!(writeback.requests(), after_close);
    }
}
