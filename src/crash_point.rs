//! Named points where a test may stop the process as a crash would:
//! `SECOND_OPINION_CRASH_AT=export-recorded` aborts an export just after
//! its record is committed, `export-published` just after its output is
//! renamed into place. The tests of what a crash leaves behind
//! (tests/run_atomicity.rs) use them; nothing else sets the variable.

/// Abort the process, without unwinding or cleaning up, when the crash
/// point `name` is the one asked for.
pub fn crash_point(name: &str) {
    if std::env::var_os("SECOND_OPINION_CRASH_AT").is_some_and(|asked| asked == name) {
        std::process::abort();
    }
}
