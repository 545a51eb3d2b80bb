//! Outputs are written to a temporary file in the target directory and
//! renamed into place, so a failed or killed run never leaves a partial file
//! and never truncates an existing one.

use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Write `path` atomically with whatever `write` puts into the writer.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temporary = tempfile::Builder::new()
        .prefix(".second-opinion-")
        .suffix(".partial")
        .tempfile_in(directory)?;
    let mut writer = BufWriter::new(temporary);
    write(&mut writer)?;
    let temporary = writer.into_inner().map_err(|e| e.into_error())?;
    publish(temporary, path)
}

/// Fail early, before any work, when `path` could not be written: its
/// directory must exist and take a new file. Reports are written last, so
/// a report that cannot be written must not be discovered after the table.
pub fn check_writable(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".second-opinion-")
        .suffix(".check")
        .tempfile_in(directory)
        .map(drop)
}

/// Sync a finished temporary file and rename it to `path`. The temporary is
/// created private (0600); the output gets the permissions of the file it
/// replaces, or the usual 0644 for a new file.
pub fn publish(temporary: tempfile::NamedTempFile, path: &Path) -> io::Result<()> {
    temporary.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = match std::fs::metadata(path) {
            Ok(existing) => existing.permissions(),
            Err(_) => std::fs::Permissions::from_mode(0o644),
        };
        temporary.as_file().set_permissions(permissions)?;
    }
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Serialise `value` as strict JSON (sorted keys, no NaN: serde_json writes
/// non-finite floats as `null`), pretty-printed with a final newline.
pub fn write_json_atomically(path: &Path, value: &serde_json::Value) -> io::Result<()> {
    write_atomically(path, |out| {
        serde_json::to_writer_pretty(&mut *out, value)?;
        out.write_all(b"\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_existing_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old").unwrap();
        let result = write_atomically(&path, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("boom"))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn json_is_sorted_and_strict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let value = serde_json::json!({"b": f64::NAN, "a": 1});
        write_json_atomically(&path, &value).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": null\n}\n"
        );
    }
}
