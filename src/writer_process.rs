//! Which process wrote something, and whether it is still running: the
//! temporaries of an output and a pending export record carry their
//! writer as `pid@host`, so a later run can tell what a killed run left
//! from what a live one is still writing.

use std::path::Path;
use std::time::Duration;

/// A writer on another machine (shared storage), or one that left no
/// name, is gone once what it wrote has been idle for this long: a live
/// export writes its output batch by batch and records it within moments,
/// so an hour without progress means its run is gone.
pub const GONE_AFTER: Duration = Duration::from_secs(3600);

/// This process, as `pid@host`.
pub fn this_process() -> String {
    format!("{}@{}", std::process::id(), host_name())
}

/// Whether the writer named `writer` (`pid@host`, as [`this_process`]
/// gives) is gone, given how long what it wrote has been idle.
pub fn is_gone(writer: Option<&str>, idle: Duration) -> bool {
    let this_host = host_name();
    let here = writer
        .and_then(|w| w.split_once('@'))
        .filter(|(_, host)| *host == this_host)
        .and_then(|(pid, _)| pid.parse::<u32>().ok());
    match here {
        Some(pid) => !running(pid) || idle > GONE_AFTER,
        None => idle > GONE_AFTER,
    }
}

/// This machine's name, with every character other than letters, digits
/// and `-` replaced by `_` (so it has no dots or path separators, and a
/// name that carries it parses back).
pub fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at
        // most that many bytes.
        let written = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
        if written {
            let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
            let name: String = String::from_utf8_lossy(&buffer[..end])
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if !name.is_empty() {
                return name;
            }
        }
    }
    "localhost".to_string()
}

/// Whether process `pid` of this machine is running.
fn running(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return proc.join(pid.to_string()).exists();
    }
    // Without /proc nothing tells: count it as running and leave what it
    // wrote to the age rule.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_here_is_gone_at_once_elsewhere_only_when_idle() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let host = host_name();
        let dead = format!("{pid}@{host}");
        assert!(is_gone(Some(&dead), Duration::ZERO));
        assert!(!is_gone(Some(&this_process()), Duration::ZERO));
        assert!(!is_gone(
            Some(&format!("{pid}@another-machine")),
            Duration::ZERO
        ));
        assert!(is_gone(
            Some(&format!("{pid}@another-machine")),
            GONE_AFTER + Duration::from_secs(1)
        ));
        assert!(!is_gone(None, Duration::from_secs(5)));
    }
}
