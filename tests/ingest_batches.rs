//! Ingest writes scalar rows in multi-row INSERTs of 64 and parses on a
//! thread of its own (issue 7). These tests pin that neither is visible:
//! errors are still the file's first, in file order, whatever batch they fall
//! in; conflicts inside and across batches keep their policies and counts;
//! a failed file leaves the registry as it was.

mod common;

use common::{sql_rows, Workspace};
use serde_json::{json, Value};

/// Ingest with `extra` flags and return the report's totals of the file.
fn ingest_totals(ws: &Workspace, extra: &[&str], file: &str) -> Value {
    let mut args = vec!["ingest", "--report-json", "report.json"];
    args.extend_from_slice(extra);
    args.push(file);
    ws.run(&args).ok();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    report["files"][0]["totals"].clone()
}

/// `n` scalar rows for scorer `scorer`, clips `first`..`first + n`.
fn rows(scorer: &str, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| {
            format!(
                "{{\"clip_id\": \"clip_{i:04}\", \"competitor\": \"{scorer}\", \"score\": {}.5}}\n",
                i % 90
            )
        })
        .collect()
}

/// Lines of `text` with line `number` (1-based) replaced by `line`.
fn with_line(text: &str, number: usize, line: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == number { line } else { l })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn every_row_of_many_batches_is_stored_once_in_order() {
    let ws = Workspace::new();
    // 1000 rows: 15 full batches and a tail of 40.
    ws.write("musiq.jsonl", rows("MUSIQ", 0, 1000));
    assert_eq!(
        ingest_totals(&ws, &[], "musiq.jsonl")["ingested"],
        json!(1000)
    );
    let stored = sql_rows(
        &ws,
        "SELECT COUNT(*), MIN(line), MAX(line), COUNT(DISTINCT key), SUM(line = id) FROM scores",
    );
    assert_eq!(stored, vec![json!([1000, 1, 1000, 1000, 1000])]);
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT key, score FROM scores WHERE line IN (1, 64, 65, 1000) ORDER BY line"
        ),
        vec![
            json!(["clip_0000", 0.5]),
            json!(["clip_0063", 63.5]),
            json!(["clip_0064", 64.5]),
            json!(["clip_0999", 9.5])
        ]
    );
    assert_eq!(
        sql_rows(&ws, "SELECT rows FROM source_file_scorers"),
        vec![json!([1000])]
    );
    assert_eq!(
        sql_rows(&ws, "PRAGMA page_size"),
        vec![json!([65536])],
        "a new registry has 64 KiB pages"
    );
}

#[test]
fn a_duplicate_in_a_later_batch_names_both_lines_and_nothing_is_kept() {
    let ws = Workspace::new();
    let text = with_line(
        &rows("MUSIQ", 0, 300),
        250,
        r#"{"clip_id": "clip_0010", "competitor": "MUSIQ", "score": 1.0}"#,
    );
    ws.write("musiq.jsonl", text);
    let run = ws.run(&["ingest", "musiq.jsonl"]).fails_with(1);
    assert!(
        run.stderr
            .contains("musiq.jsonl:250: duplicate score for competitor='MUSIQ' key='clip_0010'")
            && run.stderr.contains("musiq.jsonl:11"),
        "{}",
        run.stderr
    );
    assert_eq!(
        ws.registry_snapshot()
            .iter()
            .filter(|r| r.starts_with("scores:"))
            .count(),
        0
    );
}

#[test]
fn a_duplicate_within_one_batch_is_still_found() {
    let ws = Workspace::new();
    let text = with_line(
        &rows("MUSIQ", 0, 64),
        40,
        r#"{"clip_id": "clip_0003", "competitor": "MUSIQ", "score": 1.0}"#,
    );
    ws.write("musiq.jsonl", text);
    let run = ws.run(&["ingest", "musiq.jsonl"]).fails_with(1);
    assert!(
        run.stderr.contains("musiq.jsonl:40: duplicate") && run.stderr.contains("musiq.jsonl:4 "),
        "{}",
        run.stderr
    );
}

#[test]
fn the_first_error_in_file_order_wins_across_batch_and_reader() {
    let ws = Workspace::new();
    // A duplicate at line 70 (a batch still pending) comes before a line the
    // reader cannot parse at line 100: the duplicate is the file's error.
    let text = with_line(
        &rows("MUSIQ", 0, 200),
        70,
        r#"{"clip_id": "clip_0001", "competitor": "MUSIQ", "score": 1.0}"#,
    );
    let text = with_line(&text, 100, "{not json");
    ws.write("musiq.jsonl", &text);
    let run = ws.run(&["ingest", "musiq.jsonl"]).fails_with(1);
    assert!(
        run.stderr.contains("musiq.jsonl:70: duplicate"),
        "{}",
        run.stderr
    );

    // Without the duplicate, the unparsable line is the error, and the 99
    // good rows before it are not kept.
    ws.write(
        "other.jsonl",
        with_line(&rows("MUSIQ", 0, 200), 100, "{not json"),
    );
    let before = ws.registry_snapshot();
    let run = ws.run(&["ingest", "other.jsonl"]).fails_with(1);
    assert!(run.stderr.contains("other.jsonl:100:"), "{}", run.stderr);
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn ignore_and_replace_count_conflicts_spread_over_batches() {
    let ws = Workspace::new();
    // The first file holds every third clip of 0..300.
    let thirds: String = (0..300)
        .step_by(3)
        .map(|i| {
            format!("{{\"clip_id\": \"clip_{i:04}\", \"competitor\": \"MUSIQ\", \"score\": 1.0}}\n")
        })
        .collect();
    ws.write("first.jsonl", thirds);
    ws.run(&["ingest", "first.jsonl"]).ok();
    ws.write("all.jsonl", rows("MUSIQ", 0, 300));

    let refused = ws.run(&["ingest", "all.jsonl"]).fails_with(1);
    assert!(
        refused.stderr.contains("all.jsonl:1: duplicate"),
        "{}",
        refused.stderr
    );

    let totals = ingest_totals(&ws, &["--ignore"], "all.jsonl");
    assert_eq!(
        (totals["ingested"].clone(), totals["ignored"].clone()),
        (json!(200), json!(100))
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT COUNT(*), SUM(score = 1.0) FROM scores WHERE superseded_at IS NULL"
        ),
        vec![json!([300, 100])]
    );

    ws.write("again.jsonl", rows("MUSIQ", 0, 300).replace(".5}", ".25}"));
    let totals = ingest_totals(&ws, &["--replace"], "again.jsonl");
    assert_eq!(
        (totals["ingested"].clone(), totals["replaced"].clone()),
        (json!(300), json!(300))
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT COUNT(*) FILTER (WHERE superseded_at IS NULL), \
             COUNT(*) FILTER (WHERE superseded_at IS NOT NULL), \
             SUM(score - CAST(score AS INTEGER) = 0.25) FILTER (WHERE superseded_at IS NULL) FROM scores"
        ),
        vec![json!([300, 300, 300])]
    );
    // The history of one clip: live row first, then what it replaced.
    let history = ws
        .run(&[
            "provenance",
            "--scorer",
            "MUSIQ",
            "--key",
            "clip_0003",
            "--json",
        ])
        .ok()
        .json();
    let lines: Vec<_> = history
        .as_array()
        .or_else(|| history["entries"].as_array())
        .expect("provenance entries")
        .iter()
        .map(|e| (e["path"].clone(), e["live"].clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (json!("again.jsonl"), json!(true)),
            (json!("first.jsonl"), json!(false))
        ]
    );
    // `files` counts each file's rows and how many are still live.
    let files = ws.run(&["files", "--json"]).ok().json();
    let counts: Vec<_> = files
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["path"].clone(), f["rows"].clone(), f["live_rows"].clone()))
        .collect();
    assert_eq!(
        counts,
        vec![
            (json!("first.jsonl"), json!(100), json!(0)),
            (json!("all.jsonl"), json!(200), json!(0)),
            (json!("again.jsonl"), json!(300), json!(300))
        ]
    );
}

#[test]
fn the_stored_hash_is_the_file_bytes_whether_taken_first_or_while_parsing() {
    let ws = Workspace::new();
    let stored = |path: &str| {
        sql_rows(
            &ws,
            &format!("SELECT sha256, size_bytes FROM source_files WHERE path = '{path}'"),
        )
    };
    let expected = |path: &str| {
        let (sha256, size) = second_opinion::digest::sha256_file_with_size(&ws.path(path)).unwrap();
        vec![json!([sha256, size])]
    };
    // No file of its size yet: hashed while parsed (blank lines at the end
    // are hashed too, though no row is read from them).
    let first = rows("MUSIQ", 0, 500) + "\n\n   \n";
    ws.write("first.jsonl", &first);
    ws.run(&["ingest", "first.jsonl"]).ok();
    assert_eq!(stored("first.jsonl"), expected("first.jsonl"));

    // Same size, other bytes: hashed before reading, not taken for a copy.
    let other = rows("DOVEX", 0, 500) + "\n\n   \n";
    assert_eq!(other.len(), first.len());
    ws.write("other.jsonl", &other);
    ws.run(&["ingest", "other.jsonl"]).ok();
    assert_eq!(stored("other.jsonl"), expected("other.jsonl"));
    assert_eq!(
        sql_rows(&ws, "SELECT COUNT(*) FROM scores"),
        vec![json!([1000])]
    );

    // The same bytes again under another name: recognised and skipped.
    ws.write("copy.jsonl", &first);
    let again = ws.run(&["ingest", "copy.jsonl"]).ok();
    assert!(
        again.stderr.contains("already ingested"),
        "{}",
        again.stderr
    );
    assert_eq!(
        sql_rows(&ws, "SELECT COUNT(*) FROM source_files"),
        vec![json!([2])]
    );
}
