//! Outputs are written to a temporary file in the target directory and
//! renamed into place, so a failed or killed run never leaves a partial file
//! and never truncates an existing one.
//!
//! A command with several outputs stages each of them first ([`Staged`]),
//! does whatever may still fail (recording the export), and only then
//! publishes them all ([`publish_all`]). A temporary is named after the
//! process that writes it (`.second-opinion-<pid>@<host>.<random>.partial`),
//! so a later run can tell the temporaries of a killed run from those of a
//! run still writing, and remove them ([`sweep_stale_temporaries`]).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use tempfile::NamedTempFile;

use crate::writeback::{EarlyWriteback, Target};

/// The start of every temporary file this tool writes.
const TEMPORARY_PREFIX: &str = ".second-opinion-";

/// The end of a temporary output.
const TEMPORARY_SUFFIX: &str = ".partial";

/// An output written to a temporary file beside its destination, not in
/// place yet. Dropped without [`Staged::publish`], it removes the
/// temporary, and the folders it created for it when they are still empty.
pub struct Staged {
    temporary: Option<NamedTempFile>,
    path: PathBuf,
    created_folders: Vec<PathBuf>,
    /// The disk starts on the output while it is written, so the sync
    /// that publishes it waits for little.
    writeback: Option<EarlyWriteback>,
}

impl Staged {
    /// A new, empty temporary beside `path`: its missing folders are created
    /// (as the reference scripts do), and stale temporaries of killed runs
    /// in that folder are removed first.
    pub fn begin(path: &Path) -> io::Result<Staged> {
        let directory = folder_of(path);
        let created_folders = create_folders(&directory)?;
        let mut staged = Staged {
            temporary: None,
            path: path.to_path_buf(),
            created_folders,
            writeback: None,
        };
        sweep_once(&directory);
        let temporary = tempfile::Builder::new()
            .prefix(&temporary_prefix())
            .suffix(TEMPORARY_SUFFIX)
            .tempfile_in(&directory)
            .map_err(without_temporary_name)?;
        // No one locks a temporary while it is written, so it may be opened
        // and closed beside its writer.
        staged.writeback = Some(EarlyWriteback::start(vec![Target::Open(
            temporary.path().to_path_buf(),
        )]));
        staged.temporary = Some(temporary);
        Ok(staged)
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the output is being written.
    pub fn temporary_path(&self) -> &Path {
        self.temporary().path()
    }

    /// A second handle on the temporary file, to write it.
    pub fn reopen(&self) -> io::Result<File> {
        self.temporary().reopen().map_err(without_temporary_name)
    }

    fn temporary(&self) -> &NamedTempFile {
        self.temporary
            .as_ref()
            .expect("a staged output holds its temporary until published or dropped")
    }

    /// Sync the finished temporary and rename it to its destination. The
    /// temporary is created private (0600); the output gets the permissions
    /// of the file it replaces, or the usual 0644 for a new file.
    pub fn publish(mut self) -> io::Result<()> {
        drop(self.writeback.take());
        let temporary = self
            .temporary
            .take()
            .expect("a staged output is published once");
        self.created_folders.clear();
        publish(temporary, &self.path)
    }

    /// Like [`Staged::publish`], but only when nothing is at the
    /// destination yet; returns whether it was put in place (when not, the
    /// temporary is removed and what is there stays).
    pub fn publish_if_absent(mut self) -> io::Result<bool> {
        drop(self.writeback.take());
        let temporary = self
            .temporary
            .take()
            .expect("a staged output is published once");
        temporary.as_file().sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            temporary
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        match temporary.persist_noclobber(&self.path) {
            Ok(_) => {
                self.created_folders.clear();
                Ok(true)
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.error),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        drop(self.writeback.take());
        drop(self.temporary.take());
        // Deepest first; a folder someone else wrote into meanwhile stays.
        for folder in self.created_folders.iter().rev() {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

/// Stage `path` with whatever `write` puts into the writer.
pub fn stage(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<Staged> {
    let staged = Staged::begin(path)?;
    let mut writer = BufWriter::new(staged.reopen()?);
    write(&mut writer)?;
    writer.into_inner().map_err(|e| e.into_error())?;
    Ok(staged)
}

/// Stage `value` as strict JSON (see [`write_json_atomically`]).
pub fn stage_json(path: &Path, value: &serde_json::Value) -> io::Result<Staged> {
    stage(path, |out| {
        serde_json::to_writer_pretty(&mut *out, value)?;
        out.write_all(b"\n")
    })
}

/// Write `path` atomically with whatever `write` puts into the writer.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    stage(path, write)?.publish()
}

/// Outputs published before one failed: a rename can fail after the ones
/// before it succeeded, and the user must know which files are new.
#[derive(Debug)]
pub struct PartlyPublished {
    pub published: Vec<PathBuf>,
    pub failed: PathBuf,
    pub not_published: Vec<PathBuf>,
    pub error: io::Error,
}

impl std::fmt::Display for PartlyPublished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |paths: &[PathBuf]| {
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "{}: cannot write it: {}",
            self.failed.display(),
            self.error
        )?;
        if !self.published.is_empty() {
            write!(f, "; already written: {}", list(&self.published))?;
        }
        if !self.not_published.is_empty() {
            write!(f, "; not written: {}", list(&self.not_published))?;
        }
        Ok(())
    }
}

/// Publish staged outputs in order, stopping at the first that fails. A
/// destination that became a folder since it was checked is found before
/// anything is renamed (a rename onto a folder is the one failure a
/// rename within one folder still has).
pub fn publish_all(staged: Vec<Staged>) -> Result<(), PartlyPublished> {
    if let Some(position) = staged.iter().position(|s| s.path().is_dir()) {
        let failed = staged[position].path().to_path_buf();
        return Err(PartlyPublished {
            published: Vec::new(),
            not_published: staged
                .iter()
                .map(|s| s.path().to_path_buf())
                .filter(|p| *p != failed)
                .collect(),
            failed,
            error: io::Error::new(io::ErrorKind::IsADirectory, "it names a folder, not a file"),
        });
    }
    let mut published = Vec::new();
    let mut rest = staged.into_iter();
    while let Some(output) = rest.next() {
        let path = output.path().to_path_buf();
        if let Err(error) = output.publish() {
            return Err(PartlyPublished {
                published,
                failed: path,
                not_published: rest.map(|s| s.path().to_path_buf()).collect(),
                error,
            });
        }
        published.push(path);
    }
    Ok(())
}

/// Fail early, before any work, when `path` could not be written: it must
/// not be a folder, and the nearest folder of it that exists must take a
/// new file (the missing ones are created when the output is written).
/// Reports are written last, so a report that cannot be written must not
/// be discovered after the table.
pub fn check_writable(path: &Path) -> io::Result<()> {
    let spelled_as_folder = path
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::MAIN_SEPARATOR);
    if spelled_as_folder || path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it names a folder, not a file",
        ));
    }
    let mut directory = folder_of(path);
    while !directory.exists() {
        match directory.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => directory = parent.to_path_buf(),
            _ => directory = PathBuf::from("."),
        }
    }
    if !directory.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a folder", directory.display()),
        ));
    }
    tempfile::Builder::new()
        .prefix(&temporary_prefix())
        .suffix(".check")
        .tempfile_in(&directory)
        .map(drop)
        .map_err(without_temporary_name)
}

/// Sync a finished temporary file and rename it to `path` (see
/// [`Staged::publish`]).
pub fn publish(temporary: NamedTempFile, path: &Path) -> io::Result<()> {
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

/// The folder a file is written in.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Create `directory` and its missing parents; returns the folders created,
/// outermost first.
fn create_folders(directory: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut folder = directory;
    while !folder.as_os_str().is_empty() && !folder.exists() {
        missing.push(folder.to_path_buf());
        match folder.parent() {
            Some(parent) => folder = parent,
            None => break,
        }
    }
    missing.reverse();
    for (done, folder) in missing.iter().enumerate() {
        if let Err(e) = std::fs::create_dir(folder) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                for made in missing[..done].iter().rev() {
                    let _ = std::fs::remove_dir(made);
                }
                return Err(e);
            }
        }
    }
    Ok(missing)
}

/// tempfile adds the temporary's name to its errors; the user named the
/// output, not our temporary, so keep the cause alone.
fn without_temporary_name(error: io::Error) -> io::Error {
    if error.raw_os_error().is_some() || error.get_ref().is_none() {
        return error;
    }
    let kind = error.kind();
    let code = error
        .get_ref()
        .and_then(|inner| inner.source())
        .and_then(|cause| cause.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error);
    match code {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(kind),
    }
}

/// This process's temporaries start with this.
fn temporary_prefix() -> String {
    format!(
        "{TEMPORARY_PREFIX}{}.",
        crate::writer_process::this_process()
    )
}

/// The writer (`pid@host`) of a temporary output named `name`: `Some(None)`
/// for one of this tool's temporaries that names no writer (older
/// versions), `None` for any other file.
fn writer_of(name: &str) -> Option<Option<&str>> {
    // A registry being created has its rollback journal beside it.
    let name = name.strip_suffix("-journal").unwrap_or(name);
    let inner = name
        .strip_prefix(TEMPORARY_PREFIX)?
        .strip_suffix(TEMPORARY_SUFFIX)?;
    Some(
        inner
            .rsplit_once('.')
            .map(|(writer, _random)| writer)
            .filter(|writer| writer.contains('@')),
    )
}

/// Remove, from `directory`, the temporary outputs of this tool whose runs
/// are gone: those of a process of this machine that is no longer running,
/// and any not written to for an hour. A user's own files never match the
/// name pattern (see [`crate::writer_process::is_gone`]). Returns what was
/// removed.
pub fn sweep_stale_temporaries(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(writer) = name.to_str().and_then(writer_of) else {
            continue;
        };
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        let idle = metadata
            .modified()
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .unwrap_or_default();
        if crate::writer_process::is_gone(writer, idle)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed.sort();
    removed
}

/// The folders swept by this process, and what the sweeps removed.
#[derive(Default)]
struct Sweeps {
    folders: HashSet<PathBuf>,
    removed: Vec<PathBuf>,
}

static SWEEPS: Mutex<Option<Sweeps>> = Mutex::new(None);

/// Sweep each folder once per process (see [`take_swept`]).
fn sweep_once(directory: &Path) {
    let key = directory
        .canonicalize()
        .unwrap_or_else(|_| directory.to_path_buf());
    {
        let mut sweeps = SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        if !sweeps
            .get_or_insert_with(Sweeps::default)
            .folders
            .insert(key)
        {
            return;
        }
    }
    let removed = sweep_stale_temporaries(directory);
    if !removed.is_empty() {
        let mut sweeps = SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        sweeps
            .get_or_insert_with(Sweeps::default)
            .removed
            .extend(removed);
    }
}

/// The stale temporaries this process removed so far (and forgets them),
/// for the command to tell the user.
pub fn take_swept() -> Vec<PathBuf> {
    let mut sweeps = SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
    sweeps
        .as_mut()
        .map(|s| std::mem::take(&mut s.removed))
        .unwrap_or_default()
}

/// Serialise `value` as strict JSON (sorted keys, no NaN: serde_json writes
/// non-finite floats as `null`), pretty-printed with a final newline.
pub fn write_json_atomically(path: &Path, value: &serde_json::Value) -> io::Result<()> {
    stage_json(path, value)?.publish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_output_is_written_back_while_written_and_not_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.parquet");
        let staged = Staged::begin(&path).unwrap();
        let temporary = staged.temporary_path().to_path_buf();
        assert!(crate::writeback::STARTED
            .lock()
            .unwrap()
            .contains(&temporary));
        let mut file = staged.reopen().unwrap();
        file.write_all(&vec![1u8; 4 << 20]).unwrap();
        #[cfg(target_os = "linux")]
        {
            let writeback = staged.writeback.as_ref().expect("a write-back guard");
            assert!(
                crate::writeback::eventually(|| writeback.requests() > 0),
                "the output was never written back"
            );
        }
        staged.publish().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 << 20);
        assert!(!temporary.exists());
    }

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
