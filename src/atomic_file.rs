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

/// Where a path leads, for telling two spellings of one file apart from
/// two files: the file itself when it exists (device and inode, so hard
/// links and symlinks count as the same file), else the path it would be
/// created at: absolute, `..` folded, through the symlinks of the deepest
/// folder that exists already (the rest, not created yet, as written).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileIdentity {
    Existing(u64, u64),
    Planned(std::path::PathBuf),
}

/// The [`FileIdentity`] of `path`.
pub fn file_identity(path: &Path) -> FileIdentity {
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        return FileIdentity::Existing(metadata.dev(), metadata.ino());
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut folded = std::path::PathBuf::new();
    for component in absolute.components() {
        match component {
            std::path::Component::ParentDir => {
                folded.pop();
            }
            std::path::Component::CurDir => {}
            other => folded.push(other),
        }
    }
    let mut existing = folded.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            let planned = rest
                .iter()
                .rev()
                .fold(canonical, |path, name| path.join(name));
            return FileIdentity::Planned(planned);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return FileIdentity::Planned(folded),
        }
    }
}

/// Whether `a` and `b` name the same file (existing or not).
pub fn same_file(a: &Path, b: &Path) -> bool {
    file_identity(a) == file_identity(b)
}

/// A command's outputs must not overwrite one another, the registry (or
/// its `-wal`/`-shm` files) or any of its inputs: each `(role, path)` of
/// `outputs` is checked against the other outputs and against `inputs`,
/// by file identity, not spelling. `allowed` lists (output role, input
/// role) pairs that may be one file (`export --out T --features T`
/// replaces the table in place). The error names both roles and the path.
pub fn refuse_clashes(
    outputs: &[(&str, &Path)],
    inputs: &[(&str, &Path)],
    allowed: &[(&str, &str)],
) -> Result<(), String> {
    for (index, (role, path)) in outputs.iter().enumerate() {
        let clash = outputs[..index]
            .iter()
            .chain(inputs.iter())
            .filter(|(other, _)| !allowed.contains(&(role, other)))
            .find(|(_, other)| same_file(path, other));
        if let Some((other, _)) = clash {
            return Err(format!(
                "{}: {role} names the same file as {other}: refusing to overwrite it",
                path.display()
            ));
        }
    }
    Ok(())
}

/// The registry and the files SQLite keeps beside it, as inputs for
/// [`refuse_clashes`].
pub fn registry_files(registry: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let with_suffix = |suffix: &str| {
        let mut name = registry.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    vec![
        ("the registry", registry.to_path_buf()),
        ("the registry's write-ahead log", with_suffix("-wal")),
        ("the registry's shared-memory file", with_suffix("-shm")),
    ]
}

#[cfg(test)]
mod clash_tests {
    use super::*;

    #[test]
    fn spellings_links_and_planned_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        std::fs::write(&db, b"x").unwrap();
        let spelled = dir.path().join("sub/../r.db");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(same_file(&db, &spelled));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.db");
            std::os::unix::fs::symlink(&db, &link).unwrap();
            assert!(same_file(&db, &link));
        }
        let planned = dir.path().join("new.parquet");
        assert!(same_file(&planned, &dir.path().join("sub/../new.parquet")));
        let deeper = dir.path().join("not/yet/made/t.jsonl");
        assert!(same_file(
            &deeper,
            &dir.path().join("not/yet/x/../made/t.jsonl")
        ));
        assert!(!same_file(&planned, &db));
        let registry = registry_files(&db);
        let inputs: Vec<(&str, &Path)> = registry.iter().map(|(r, p)| (*r, p.as_path())).collect();
        let wal = dir.path().join("r.db-wal");
        let message = refuse_clashes(&[("--out", &wal)], &inputs, &[]).unwrap_err();
        assert!(message.ends_with(
            "--out names the same file as the registry's write-ahead log: refusing to overwrite it"
        ));
        let table = dir.path().join("t.parquet");
        std::fs::write(&table, b"t").unwrap();
        let features = [("--features", table.as_path())];
        assert!(
            refuse_clashes(&[("--out", &table)], &features, &[("--out", "--features")]).is_ok()
        );
        assert!(refuse_clashes(
            &[("--out", &planned), ("--report-json", &planned)],
            &[],
            &[]
        )
        .is_err());
    }
}
