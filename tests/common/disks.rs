//! Disks that fail: a tiny tmpfs for a full disk, an immutable file for
//! one that cannot be written. Both need privileges a developer's machine
//! may not grant; a test that cannot set one up says so and skips.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a few KiB mounted on a temporary folder, unmounted on drop.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mount one of `kib` KiB, or `None` (printed) when mounting is not
    /// allowed here.
    pub fn mount(kib: u32, test: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("{test}: skipped: cannot mount a small tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a ballast file until the disk is full, then leave `spare`
    /// bytes free (as near as the file system's blocks allow).
    pub fn fill_leaving(&self, spare: usize) {
        use std::io::Write;
        let ballast = self.path("ballast");
        let mut file = std::fs::File::create(&ballast).expect("ballast");
        let chunk = vec![0u8; 1024];
        let mut written = 0usize;
        while file.write_all(&chunk).is_ok() {
            written += chunk.len();
        }
        drop(file);
        let keep = written.saturating_sub(spare);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&ballast)
            .and_then(|f| f.set_len(keep as u64))
            .expect("shrink ballast");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A file made unwritable (immutable for root, read-only otherwise); made
/// writable again on drop.
pub struct Unwritable {
    path: PathBuf,
    immutable: bool,
}

impl Unwritable {
    /// Make `path` unwritable, or `None` (printed) when that is not
    /// possible here.
    pub fn make(path: &Path, test: &str) -> Option<Unwritable> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if root {
            let done = Command::new("chattr")
                .arg("+i")
                .arg(path)
                .output()
                .is_ok_and(|o| o.status.success());
            if !done {
                eprintln!("{test}: skipped: cannot make a file immutable here (chattr)");
                return None;
            }
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
                .expect("make read-only");
        }
        Some(Unwritable {
            path: path.to_path_buf(),
            immutable: root,
        })
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o644));
        }
    }
}
