//! A registry passes `PRAGMA integrity_check` in the SQLite its users open
//! it with. SQLite 3.40–3.45 (Debian 12, Ubuntu 22.04–24.04) misreads a
//! WITHOUT ROWID table whose NOT NULL column is declared before one of its
//! primary-key columns, and reported `NULL value in
//! family_candidates.position` on a brand-new registry.
//!
//! The test checks, on a fresh registry and on one migrated from schema 8:
//! the schema property that causes the false report (every WITHOUT ROWID
//! table declares its primary-key columns first), the bundled SQLite's own
//! check, and — when the machine has a `sqlite3` CLI — that CLI's check
//! (on a 3.40–3.45 CLI this is the check that failed; any other version
//! must say `ok` too).

mod common;

use std::process::Command;

use common::Workspace;

/// WITHOUT ROWID tables declaring a non-key column before a key column.
fn key_columns_not_first(ws: &Workspace) -> Vec<String> {
    let conn = ws.sqlite();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID%'",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!tables.is_empty());
    tables
        .into_iter()
        .filter(|table| {
            let key_positions: Vec<i64> = conn
                .prepare(&format!(
                    "SELECT pk FROM pragma_table_info('{table}') ORDER BY cid"
                ))
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let keys = key_positions.iter().filter(|pk| **pk > 0).count();
            !key_positions[..keys].iter().all(|pk| *pk > 0)
        })
        .collect()
}

fn bundled_check(ws: &Workspace) -> String {
    ws.sqlite()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// The `sqlite3` CLI's check and its version, if the machine has one.
fn cli_check(ws: &Workspace) -> Option<(String, String)> {
    let version = Command::new("sqlite3").arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let check = Command::new("sqlite3")
        .arg(ws.registry())
        .arg("PRAGMA integrity_check")
        .output()
        .ok()?;
    Some((
        version,
        String::from_utf8_lossy(&check.stdout).trim().to_string(),
    ))
}

fn assert_checks_ok(ws: &Workspace, what: &str) {
    assert_eq!(key_columns_not_first(ws), Vec::<String>::new(), "{what}");
    assert_eq!(bundled_check(ws), "ok", "{what}");
    match cli_check(ws) {
        Some((version, check)) => assert_eq!(check, "ok", "{what}: sqlite3 {version}"),
        None => eprintln!("{what}: no sqlite3 CLI here; checked the schema property instead"),
    }
}

#[test]
fn a_fresh_registry_checks_ok() {
    let ws = Workspace::new();
    ws.write(
        "s.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"nr\",\"score\":1}\n",
    );
    ws.run(&["ingest", "s.jsonl"]).ok();
    assert_checks_ok(&ws, "fresh registry");
}

#[test]
fn a_registry_migrated_from_schema_8_checks_ok_and_keeps_its_families() {
    let ws = Workspace::new();
    let repository = env!("CARGO_MANIFEST_DIR");
    {
        // A registry as the binaries of schema 8 made it.
        let conn = ws.sqlite();
        for name in [
            "0001_registry",
            "0002_scorer_scales",
            "0003_exports",
            "0004_components_versions",
            "0005_signal_families",
            "0006_lean_scores",
            "0007_points_in_time",
            "0008_export_publication",
        ] {
            let sql =
                std::fs::read_to_string(format!("{repository}/migrations/{name}.sql")).unwrap();
            conn.execute_batch(&sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO family_patterns (family_id, position, pattern) VALUES (1, 99, 'my_fr_metric');
             PRAGMA user_version = 8;",
        )
        .unwrap();
    }
    let before = ws.dump("SELECT family_id, position, pattern FROM family_patterns ORDER BY 1, 2");
    let candidates_before =
        ws.dump("SELECT family_id, position, metric FROM family_candidates ORDER BY 1, 2");
    ws.write(
        "s.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"nr\",\"score\":1}\n",
    );
    ws.run(&["ingest", "s.jsonl"]).ok();
    assert_eq!(
        ws.dump("SELECT family_id, position, pattern FROM family_patterns ORDER BY 1, 2"),
        before
    );
    assert_eq!(
        ws.dump("SELECT family_id, position, metric FROM family_candidates ORDER BY 1, 2"),
        candidates_before
    );
    assert_checks_ok(&ws, "migrated registry");
    // The user's pattern still classifies.
    let run = ws.run(&["families", "list", "--json"]).ok();
    assert!(run.stdout.contains("my_fr_metric"), "{}", run.stdout);
}
