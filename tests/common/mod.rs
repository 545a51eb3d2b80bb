//! Shared helpers for the end-to-end tests: run the built binary in a
//! temporary directory with a registry of its own.
#![allow(dead_code)]

pub mod disks;
pub mod mutation;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory with its own registry file.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn registry(&self) -> PathBuf {
        self.path("registry.db")
    }

    /// Write `bytes` to `name` (parents created) and return its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, bytes).expect("write fixture");
        path
    }

    /// A command for the binary, run in the workspace with its registry.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_second-opinion"));
        command
            .current_dir(self.dir.path())
            .env_remove("SECOND_OPINION_REGISTRY")
            .arg("--registry")
            .arg(self.registry());
        command
    }

    /// A command for the binary, run in the workspace with no registry
    /// named (for `materialize`, or a registry given by the test).
    pub fn bare(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_second-opinion"));
        command
            .current_dir(self.dir.path())
            .env_remove("SECOND_OPINION_REGISTRY");
        command
    }

    /// Run the binary with `args` and no registry named: `materialize`
    /// and `batch` one-shot in memory, as the reference runs them.
    pub fn run_bare(&self, args: &[&str]) -> Run {
        Run::from(self.bare().args(args).output().expect("run second-opinion"))
    }

    /// Run the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(
            self.command()
                .args(args)
                .output()
                .expect("run second-opinion"),
        )
    }

    /// Open the registry directly, for checks the CLI does not expose.
    pub fn sqlite(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.registry()).expect("open registry")
    }

    /// Every row of `sql` rendered as text, for comparing registry states.
    pub fn dump(&self, sql: &str) -> Vec<String> {
        let conn = self.sqlite();
        let mut stmt = conn.prepare(sql).expect("prepare dump");
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                let cells: Vec<String> = (0..columns)
                    .map(|i| format!("{:?}", row.get_ref(i).expect("cell")))
                    .collect();
                Ok(cells.join("|"))
            })
            .expect("query dump");
        rows.map(Result::unwrap).collect()
    }

    /// The whole registry content (every table, every row), for
    /// "the registry is unchanged" assertions.
    pub fn registry_snapshot(&self) -> Vec<String> {
        if !self.registry().exists() {
            return Vec::new();
        }
        let mut snapshot = Vec::new();
        for table in [
            "source_files",
            "source_file_scorers",
            "scorers",
            "scores",
            "frame_scores",
        ] {
            for row in self.dump(&format!("SELECT * FROM {table} ORDER BY 1, 2")) {
                snapshot.push(format!("{table}: {row}"));
            }
        }
        snapshot
    }
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Assert success and return self.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Assert exit code `code` and return self.
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Path of a file as a `&str` for argument lists.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Every row `sql` returns from the workspace's registry, each as a JSON
/// array of its cells (NULL → null, integers and reals → numbers, text →
/// strings), so expectations read as `json!([...])` literals.
pub fn sql_rows(ws: &Workspace, sql: &str) -> Vec<serde_json::Value> {
    use serde_json::{json, Value};
    let conn = ws.sqlite();
    let mut stmt = conn.prepare(sql).expect("prepare");
    let columns = stmt.column_count();
    let rows = stmt
        .query_map([], |row| {
            let cells = (0..columns)
                .map(|i| match row.get_ref(i).expect("cell") {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(v) => json!(v),
                    rusqlite::types::ValueRef::Real(v) => json!(v),
                    rusqlite::types::ValueRef::Text(t) => {
                        json!(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => json!(b),
                })
                .collect();
            Ok(Value::Array(cells))
        })
        .expect("query");
    rows.map(Result::unwrap).collect()
}

/// Export the workspace's registry onto `features` as JSON Lines (with
/// `extra` flags) and return the output rows.
pub fn export_with(ws: &Workspace, features: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["export", "--features", features, "--out", "out.jsonl"];
    args.extend_from_slice(extra);
    ws.run(&args).ok();
    std::fs::read_to_string(ws.path("out.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The `(score, status)` column pair of `slug` in every exported row.
pub fn exported(
    rows: &[serde_json::Value],
    slug: &str,
) -> Vec<(serde_json::Value, serde_json::Value)> {
    rows.iter()
        .map(|row| {
            (
                row[format!("second_opinion_{slug}_score")].clone(),
                row[format!("second_opinion_{slug}_status")].clone(),
            )
        })
        .collect()
}

/// An `ok` pair of [`exported`].
pub fn ok(score: f64) -> (serde_json::Value, serde_json::Value) {
    (serde_json::json!(score), serde_json::json!("ok"))
}

/// A `missing` pair of [`exported`].
pub fn missing() -> (serde_json::Value, serde_json::Value) {
    (serde_json::Value::Null, serde_json::json!("missing"))
}

/// Assert that `actual` is a number within 1e-9 of `expected`.
pub fn assert_close(actual: &serde_json::Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {actual}"));
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual} != {expected}"
    );
}

/// The stored frames of `scorer`'s scores, as (frame_index, value).
pub fn stored_frames(ws: &Workspace, scorer: &str) -> Vec<(i64, Option<f64>)> {
    sql_rows(
        ws,
        &format!(
            "SELECT f.frame_index, f.value FROM frame_scores f \
             JOIN scores s ON s.id = f.score_id JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.name = '{scorer}' ORDER BY f.frame_index"
        ),
    )
    .into_iter()
    .map(|row| (row[0].as_i64().unwrap(), row[1].as_f64()))
    .collect()
}

/// The stored components of `scorer`'s scores, by name.
pub fn stored_components(ws: &Workspace, scorer: &str) -> Vec<(String, serde_json::Value)> {
    sql_rows(
        ws,
        &format!(
            "SELECT p.name, p.value FROM score_components p \
             JOIN scores s ON s.id = p.score_id JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.name = '{scorer}' ORDER BY p.name"
        ),
    )
    .into_iter()
    .map(|row| (row[0].as_str().unwrap().to_string(), row[1].clone()))
    .collect()
}

/// The sha256 of a file, in hex.
pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).expect("read file to hash");
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
