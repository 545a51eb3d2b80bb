//! How the binary and the Python extension set up mimalloc, the allocator
//! both run on (each declares it `#[global_allocator]`: ingest parses on
//! one thread and frees on another, millions of small strings a second,
//! and glibc's allocator spent 40% of W4 there; mimalloc's thread-free
//! lists make that cost vanish, bench/RESULTS.md). Call
//! [`set_options`] first thing, before other threads exist.

// The `mimalloc` crate links the C library whose `mi_option_set` is
// declared below, whether or not this crate's own code allocates with it.
use mimalloc as _;

extern "C" {
    /// mimalloc's `mi_option_set`, from the library the `mimalloc` crate links.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_decommits` in mimalloc's `mi_option_e` (the same in
/// mimalloc 2 and 3).
const MI_OPTION_PURGE_DECOMMITS: std::ffi::c_int = 5;

/// `mi_option_destroy_on_exit` in mimalloc's `mi_option_e` (the same in
/// mimalloc 2 and 3). Above 1, mimalloc's exit handler returns at once
/// (`_mi_auto_process_done`).
const MI_OPTION_DESTROY_ON_EXIT: std::ffi::c_int = 22;

/// Which settings apply: the binary owns its process; the extension only
/// its own allocations, never the Python process it is loaded into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The `second-opinion` binary: the whole process is ours.
    Process,
    /// The Python extension, loaded into someone else's process.
    Extension,
}

/// Let mimalloc give freed memory back lazily (`MADV_FREE`) instead of
/// decommitting it (`MADV_DONTNEED`) 10 ms after it is freed. A
/// `materialize` frees and allocates its parquet writer's column buffers
/// over and over, and a Python caller's repeated exports the returned
/// tables' columns: decommitted, each reuse faulted ~120 MB of zeroed
/// pages back in (29 000 minor faults a W1 run), and how many depended on
/// how the threads were scheduled against the purge timer, so the system
/// time of identical runs swung from 0.15 s to 1.26 s (issue 18). Lazily
/// freed pages are reused without a fault (4 000–6 000 a run) and the
/// kernel still takes them back under memory pressure.
///
/// And, for the binary, no transparent huge pages. mimalloc asks for
/// them (`MADV_HUGEPAGE`), and where the machine's memory is fragmented —
/// as after any other large process, the baselines' runs between ours in
/// bench/run — the kernel compacts memory and zeroes 2 MiB at every first
/// touch: W1's `materialize` took 1.30 s there (system time up to 1 s),
/// and 0.94–0.98 s with huge pages off, with 60 MB less peak memory
/// (bench/RESULTS.md, issue 18); back to back on an idle machine the two
/// are even. The extension leaves the process's pages alone.
///
/// And, for the binary, no clean-up at exit. mimalloc's exit handler
/// collects every thread's heap and gives the freed memory back to the
/// system page by page (`madvise`) just before the process ends, when
/// the system takes all of it back anyway: 20–35 ms at the end of a W1
/// `materialize` of 0.9 s, after its output is written, while nothing
/// else runs (issue 18). The extension's memory outlives its calls, so it
/// is left alone.
///
/// `MIMALLOC_PURGE_DECOMMITS`, `MIMALLOC_ALLOW_THP`, `MIMALLOC_DESTROY_ON_EXIT`
/// and mimalloc's statistics (`MIMALLOC_SHOW_STATS`, `MIMALLOC_VERBOSE`,
/// printed at exit) in the environment still decide, for measuring.
pub fn set_options(owner: Owner) {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_none() {
        // SAFETY: sets one of mimalloc's integer options, by its documented
        // index; options are plain integers mimalloc reads when it needs them.
        unsafe { mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0) };
    }
    let measuring = [
        "MIMALLOC_DESTROY_ON_EXIT",
        "MIMALLOC_SHOW_STATS",
        "MIMALLOC_VERBOSE",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if owner == Owner::Process && !measuring {
        // SAFETY: as above, an integer option by its documented index.
        unsafe { mi_option_set(MI_OPTION_DESTROY_ON_EXIT, 2) };
    }
    #[cfg(target_os = "linux")]
    if owner == Owner::Process && std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // What mimalloc itself does for `MIMALLOC_ALLOW_THP=0`: the
        // process's memory, allocated from here on, stays in 4 KiB pages.
        // A kernel without the call leaves things as they were.
        // SAFETY: a process-wide flag with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        /// mimalloc's `mi_option_get`.
        fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    }

    #[test]
    fn only_the_binary_skips_the_clean_up_at_exit() {
        // SAFETY: reads one of mimalloc's integer options by its index.
        let destroy_on_exit = || unsafe { mi_option_get(MI_OPTION_DESTROY_ON_EXIT) };
        set_options(Owner::Extension);
        assert_eq!(destroy_on_exit(), 0, "a loaded extension leaves exit alone");
        set_options(Owner::Process);
        assert_eq!(
            destroy_on_exit(),
            2,
            "the binary's exit skips mimalloc's clean-up"
        );
    }
}
