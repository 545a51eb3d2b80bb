//! End-to-end tests of `ingest` and the registry queries, one test per rule
//! of issue 2: each runs the built binary on files it writes into a scratch
//! directory, then reads back what the registry holds (through `--json`
//! output or straight from SQLite).

mod common;

use std::path::Path;
use std::process::Command;

use common::{arg, sql_rows, Run, Workspace};
use serde_json::{json, Value};

/// The scalar row of the issue, as one JSON Lines line.
const SCALAR_ROW: &str =
    r#"{"video_id": "a", "competitor": "DOVER-Mobile", "score": 72.5, "runtime_ms": 3.0}"#;

/// The external-bench wrapper payload of the issue.
const WRAPPER_PAYLOAD: &str = r#"{
  "name": "/corpus/clip_a.yuv",
  "frames": [
    {"frame_idx": 0, "predicted_vmaf_or_mos": 70.0, "runtime_ms": 1.5},
    {"frame_idx": 1, "predicted_vmaf_or_mos": 74.0, "runtime_ms": 2.0}
  ],
  "summary": {"competitor": "fork-nr-metric", "runtime_total_ms": 3.5}
}
"#;

/// Where tests write the wrapper payload.
const WRAPPER_PAYLOAD_NAME: &str = "bench.json";

/// The one value `sql` returns.
fn sql_value(ws: &Workspace, sql: &str) -> Value {
    let rows = sql_rows(ws, sql);
    assert_eq!(rows.len(), 1, "{sql} returned {rows:?}");
    rows[0][0].clone()
}

/// Assert `text` is strict JSON with every object's keys in sorted order:
/// `serde_json::Value` keeps objects sorted (no `preserve_order` here), so a
/// sorted document survives a parse and a pretty re-print byte for byte.
fn assert_sorted_strict_json(text: &str) -> Value {
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not strict JSON ({e}):\n{text}"));
    let reprinted = serde_json::to_string_pretty(&value).unwrap() + "\n";
    assert_eq!(
        text, reprinted,
        "keys are not sorted (or not pretty-printed)"
    );
    value
}

/// A command for the binary with no `--registry` and no environment
/// variable, run in `dir`.
fn bare_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_second-opinion"));
    command
        .current_dir(dir)
        .env_remove("SECOND_OPINION_REGISTRY");
    command
}

fn run(command: &mut Command) -> Run {
    Run::from(command.output().expect("run second-opinion"))
}

/// The single `ingested_at` of the file ingested from `path` (as given).
fn ingested_at(ws: &Workspace, path: &str) -> String {
    let at = sql_value(
        ws,
        &format!("SELECT ingested_at FROM source_files WHERE path = '{path}'"),
    );
    at.as_str().expect("text").to_string()
}

/// How many migration files the crate ships: the schema version a registry
/// has after any command opened it.
fn latest_schema_version() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    std::fs::read_dir(dir)
        .expect("migrations directory")
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .and_then(|e| e.to_str())
                == Some("sql")
        })
        .count() as i64
}

#[test]
fn scalar_row_is_stored_with_slug_score_runtime_and_no_frames() {
    let ws = Workspace::new();
    ws.write("dover.jsonl", format!("{SCALAR_ROW}\n"));
    let run = ws.run(&["ingest", "dover.jsonl"]).ok();
    assert_eq!(
        run.stderr,
        "dover.jsonl: DOVER-Mobile: 1 rows ingested (0 bad, 0 replaced, 0 ignored, 0 skipped)\n"
    );
    assert_eq!(
        sql_rows(&ws, "SELECT name, slug, scale_min, scale_max FROM scorers"),
        vec![json!(["DOVER-Mobile", "dover_mobile", 0.0, 100.0])]
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT key, COALESCE(raw_key, (SELECT prefix FROM raw_key_prefixes WHERE id = raw_key_prefix) || key, key), key_field, score, status, reason, runtime_ms, frame_count, \
             line, superseded_at FROM scores"
        ),
        vec![json!([
            "a", "a", "video_id", 72.5, "ok", null, 3.0, 0, 1, null
        ])]
    );
    assert_eq!(
        sql_value(&ws, "SELECT COUNT(*) FROM frame_scores"),
        json!(0)
    );
    let file = &sql_rows(
        &ws,
        "SELECT path, absolute_path, sha256, size_bytes, format, label, tool_version FROM source_files",
    )[0];
    assert_eq!(file[0], json!("dover.jsonl"));
    assert_eq!(
        Path::new(file[1].as_str().unwrap()),
        ws.path("dover.jsonl").canonicalize().unwrap()
    );
    assert_eq!(file[2].as_str().unwrap().len(), 64);
    assert_eq!(file[3], json!(SCALAR_ROW.len() + 1));
    assert_eq!(
        (&file[4], &file[5], &file[6]),
        (
            &json!("jsonl"),
            &Value::Null,
            &json!(env!("CARGO_PKG_VERSION"))
        )
    );
    // RFC 3339, UTC.
    let at = ingested_at(&ws, "dover.jsonl");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&at).is_ok() && at.ends_with('Z'),
        "{at}"
    );
}

#[test]
fn wrapper_payload_pools_frames_and_stores_every_frame() {
    let ws = Workspace::new();
    ws.write("bench.json", WRAPPER_PAYLOAD);
    ws.run(&["ingest", "bench.json"]).ok();
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT sc.name, sc.slug, s.key, COALESCE(s.raw_key, (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key), s.key_field, s.score, s.status, \
             s.runtime_ms, s.frame_count, s.line \
             FROM scores s JOIN scorers sc ON sc.id = s.scorer_id"
        ),
        vec![json!([
            "fork-nr-metric",
            "fork_nr_metric",
            "clip_a.yuv",
            "/corpus/clip_a.yuv",
            "name",
            72.0,
            "ok",
            3.5,
            2,
            1
        ])]
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT frame_index, value, runtime_ms FROM frame_scores ORDER BY frame_index"
        ),
        vec![json!([0, 70.0, 1.5]), json!([1, 74.0, 2.0])]
    );
    assert_eq!(
        sql_value(&ws, "SELECT format FROM source_files"),
        json!("json")
    );
}

#[test]
fn json_documents_may_be_an_object_a_list_or_hold_rows_or_results() {
    let ws = Workspace::new();
    ws.write(
        "single.json",
        "{\n  \"clip_id\": \"s\",\n  \"score\": 1\n}\n",
    );
    ws.write(
        "list.json",
        "[\n  {\"clip_id\": \"l1\", \"score\": 2},\n\n  {\"clip_id\": \"l2\",\n   \"score\": 3}\n]\n",
    );
    ws.write(
        "rows.json",
        "{\"meta\": {\"model\": \"x\"},\n \"rows\": [\n  {\"clip_id\": \"r1\", \"score\": 4},\n  {\"clip_id\": \"r2\", \"score\": 5}\n ]\n}\n",
    );
    ws.write(
        "results.json",
        "{\n \"results\": [\n\n\n  {\"clip_id\": \"q1\", \"score\": 6}\n ]\n}",
    );
    ws.run(&[
        "ingest",
        "single=single.json",
        "list=list.json",
        "rows=rows.json",
        "results=results.json",
    ])
    .ok();
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT sc.name, s.key, s.score, s.line, f.format FROM scores s \
             JOIN scorers sc ON sc.id = s.scorer_id JOIN source_files f ON f.id = s.source_file_id \
             ORDER BY s.id"
        ),
        vec![
            json!(["single", "s", 1.0, 1, "json"]),
            json!(["list", "l1", 2.0, 2, "json"]),
            json!(["list", "l2", 3.0, 4, "json"]),
            json!(["rows", "r1", 4.0, 3, "json"]),
            json!(["rows", "r2", 5.0, 4, "json"]),
            json!(["results", "q1", 6.0, 5, "json"]),
        ]
    );
}

#[test]
fn jsonl_tolerates_bom_crlf_and_blank_lines_and_keeps_line_numbers() {
    let ws = Workspace::new();
    ws.write(
        "windows.jsonl",
        b"\xEF\xBB\xBF{\"clip_id\": \"a\", \"score\": 1}\r\n\r\n   \r\n{\"clip_id\": \"b\", \"score\": 2}\r\n\n{\"clip_id\": \"c\", \"score\": 3}",
    );
    ws.write("unix.ndjson", "\n{\"clip_id\": \"d\", \"score\": 4}\n\n");
    let run = ws.run(&["ingest", "w=windows.jsonl", "u=unix.ndjson"]).ok();
    assert!(
        run.stderr.contains("windows.jsonl: w: 3 rows ingested"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT s.key, COALESCE(s.raw_key, (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key), s.score, s.line, f.format FROM scores s \
             JOIN source_files f ON f.id = s.source_file_id ORDER BY s.id"
        ),
        vec![
            json!(["a", "a", 1.0, 1, "jsonl"]),
            json!(["b", "b", 2.0, 4, "jsonl"]),
            json!(["c", "c", 3.0, 6, "jsonl"]),
            json!(["d", "d", 4.0, 2, "jsonl"]),
        ]
    );
}

#[test]
fn keys_stay_strings() {
    let ws = Workspace::new();
    ws.write(
        "keys.jsonl",
        "{\"video_id\": \"001\", \"score\": 1}\n{\"video_id\": 7, \"score\": 2}\n",
    );
    ws.run(&["ingest", "s=keys.jsonl"]).ok();
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT key, COALESCE(raw_key, (SELECT prefix FROM raw_key_prefixes WHERE id = raw_key_prefix) || key, key), typeof(key) FROM scores ORDER BY line"
        ),
        vec![json!(["001", "001", "text"]), json!(["7", "7", "text"])]
    );
    let found = ws
        .run(&["provenance", "--scorer", "s", "--key", "001", "--json"])
        .ok();
    assert_eq!(found.json()[0]["score"], json!(1.0));
    let not_coerced = ws
        .run(&["provenance", "--scorer", "s", "--key", "1"])
        .fails_with(1);
    assert!(
        not_coerced
            .stderr
            .contains("no score for scorer 's' and key '1'"),
        "{}",
        not_coerced.stderr
    );
    // A number and the string of its JSON text are the same key.
    ws.write("seven.jsonl", "{\"video_id\": \"7\", \"score\": 3}\n");
    let duplicate = ws.run(&["ingest", "s=seven.jsonl"]).fails_with(1);
    assert!(duplicate.stderr.contains("key='7'"), "{}", duplicate.stderr);
}

#[test]
fn key_normalize_modes() {
    let ws = Workspace::new();
    ws.write(
        "paths.jsonl",
        "{\"path\": \"/corpus/dir/clip_b.mp4\", \"score\": 1}\n",
    );
    for mode in ["raw", "basename", "stem", "auto"] {
        let scorer = format!("by-{mode}");
        ws.run(&[
            "ingest",
            "--key-normalize",
            mode,
            "--scorer",
            &scorer,
            "paths.jsonl",
        ])
        .ok();
    }
    // `auto` keeps the value of a field whose name is not path-like.
    ws.write(
        "ids.jsonl",
        "{\"video_id\": \"dir/clip_b.mp4\", \"score\": 1}\n",
    );
    ws.run(&["ingest", "--scorer", "id-auto", "ids.jsonl"]).ok();
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT sc.name, s.key, COALESCE(s.raw_key, (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key) FROM scores s JOIN scorers sc ON sc.id = s.scorer_id \
             ORDER BY s.id"
        ),
        vec![
            json!(["by-raw", "/corpus/dir/clip_b.mp4", "/corpus/dir/clip_b.mp4"]),
            json!(["by-basename", "clip_b.mp4", "/corpus/dir/clip_b.mp4"]),
            json!(["by-stem", "clip_b", "/corpus/dir/clip_b.mp4"]),
            json!(["by-auto", "clip_b.mp4", "/corpus/dir/clip_b.mp4"]),
            json!(["id-auto", "dir/clip_b.mp4", "dir/clip_b.mp4"]),
        ]
    );
    // Keys given to `provenance` are normalised the same way.
    let stem = ws
        .run(&[
            "provenance",
            "--scorer",
            "by-stem",
            "--key",
            "/elsewhere/clip_b.mkv",
            "--key-normalize",
            "stem",
            "--json",
        ])
        .ok();
    assert_eq!(stem.json()[0]["key"], json!("clip_b"));
}

#[test]
fn score_key_field_and_score_field_choose_the_fields() {
    let ws = Workspace::new();
    ws.write(
        "custom.jsonl",
        "{\"clip_id\": \"not-this\", \"my_key\": \"k1\", \"score\": 1, \"my_score\": 42}\n",
    );
    ws.run(&[
        "ingest",
        "--score-key-field",
        "my_key",
        "--score-field",
        "my_score",
        "s=custom.jsonl",
    ])
    .ok();
    assert_eq!(
        sql_rows(&ws, "SELECT key, key_field, score FROM scores"),
        vec![json!(["k1", "my_key", 42.0])]
    );
    ws.write("other.jsonl", "{\"clip_id\": \"x\", \"score\": 1}\n");
    let missing = ws
        .run(&["ingest", "--score-key-field", "my_key", "s=other.jsonl"])
        .fails_with(1);
    assert!(
        missing
            .stderr
            .contains("other.jsonl:1: no key: the row has no field 'my_key' (--score-key-field)"),
        "{}",
        missing.stderr
    );
}

#[test]
fn scorer_name_comes_from_flag_then_payload_then_label() {
    let ws = Workspace::new();
    ws.write(
        "named.jsonl",
        "{\"clip_id\": \"a\", \"competitor\": \"payload-name\", \"score\": 1}\n",
    );
    ws.write("anonymous.jsonl", "{\"clip_id\": \"a\", \"score\": 2}\n");
    ws.write(
        "forced.jsonl",
        "{\"clip_id\": \"a\", \"competitor\": \"ignored-name\", \"score\": 3}\n",
    );
    ws.write(WRAPPER_PAYLOAD_NAME, WRAPPER_PAYLOAD);
    ws.run(&["ingest", "label-a=named.jsonl"]).ok();
    ws.run(&["ingest", "label-b=anonymous.jsonl"]).ok();
    ws.run(&["ingest", "--scorer", "Forced", "label-c=forced.jsonl"])
        .ok();
    ws.run(&["ingest", "--scorer", "Forced", WRAPPER_PAYLOAD_NAME])
        .ok();
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    let names: Vec<&str> = scorers
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Forced", "label-b", "payload-name"]);
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT f.path, f.label, sc.name, s.key FROM scores s \
             JOIN scorers sc ON sc.id = s.scorer_id JOIN source_files f ON f.id = s.source_file_id \
             ORDER BY s.id"
        ),
        vec![
            json!(["named.jsonl", "label-a", "payload-name", "a"]),
            json!(["anonymous.jsonl", "label-b", "label-b", "a"]),
            json!(["forced.jsonl", "label-c", "Forced", "a"]),
            json!([WRAPPER_PAYLOAD_NAME, null, "Forced", "clip_a.yuv"]),
        ]
    );
    // No competitor, no label, no --scorer: nothing names the scorer.
    let before = ws.registry_snapshot();
    let unnamed = ws.run(&["ingest", "anonymous.jsonl"]).fails_with(1);
    assert!(
        unnamed.stderr.contains("anonymous.jsonl:1: no scorer name"),
        "{}",
        unnamed.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn same_bytes_reingested_are_skipped() {
    let ws = Workspace::new();
    let rows = format!(
        "{SCALAR_ROW}\n{{\"video_id\": \"b\", \"competitor\": \"DOVER-Mobile\", \"score\": 1}}\n"
    );
    ws.write("dover.jsonl", &rows);
    ws.write("copy/dover-again.jsonl", &rows);
    ws.run(&["ingest", "dover.jsonl"]).ok();
    let at = ingested_at(&ws, "dover.jsonl");
    let before = ws.registry_snapshot();

    let again = ws
        .run(&["ingest", "--report-json", "report.json", "dover.jsonl"])
        .ok();
    assert_eq!(
        again.stderr,
        format!("dover.jsonl: already ingested at {at}, skipped\n")
    );
    assert_eq!(ws.registry_snapshot(), before);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    let entry = &report["files"][0];
    assert_eq!(entry["status"], json!("already_ingested"));
    assert_eq!(entry["already_ingested_at"], json!(at));
    assert_eq!(entry["totals"]["skipped"], json!(2));
    assert_eq!(entry["totals"]["ingested"], json!(0));

    // The same bytes under another name are the same content.
    let copy = ws.run(&["ingest", "copy/dover-again.jsonl"]).ok();
    assert_eq!(
        copy.stderr,
        format!("copy/dover-again.jsonl: already ingested at {at}, skipped\n")
    );
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn duplicate_across_files_is_refused_naming_both_places() {
    let ws = Workspace::new();
    ws.write(
        "runs/musiq-a.jsonl",
        "{\"clip_id\": \"z\", \"competitor\": \"musiq\", \"score\": 1}\n\
         {\"clip_id\": \"a\", \"competitor\": \"musiq\", \"score\": 2}\n",
    );
    ws.write(
        "runs/musiq-b.jsonl",
        "{\"clip_id\": \"b\", \"competitor\": \"musiq\", \"score\": 3}\n\
         {\"clip_id\": \"c\", \"competitor\": \"musiq\", \"score\": 4}\n\
         \n\
         {\"clip_id\": \"a\", \"competitor\": \"musiq\", \"score\": 5}\n",
    );
    ws.run(&["ingest", "runs/musiq-a.jsonl"]).ok();
    let at = ingested_at(&ws, "runs/musiq-a.jsonl");
    let before = ws.registry_snapshot();
    let refused = ws.run(&["ingest", "runs/musiq-b.jsonl"]).fails_with(1);
    assert_eq!(
        refused.stderr,
        format!(
            "second-opinion: runs/musiq-b.jsonl:4: duplicate score for competitor='musiq' key='a': \
             already live from runs/musiq-a.jsonl:2, ingested {at} \
             (pass --replace to supersede it, or --ignore to keep it)\n\
             runs/musiq-b.jsonl: not ingested; the registry is unchanged by this file\n\
             second-opinion: 1 of 1 files not ingested\n"
        )
    );
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn duplicate_within_one_file_is_refused_naming_both_lines() {
    let ws = Workspace::new();
    ws.write("seed.jsonl", "{\"clip_id\": \"seed\", \"score\": 1}\n");
    ws.run(&["ingest", "musiq=seed.jsonl"]).ok();
    let before = ws.registry_snapshot();
    ws.write(
        "twice.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1}\n\
         {\"clip_id\": \"b\", \"score\": 2}\n\
         {\"clip_id\": \"a\", \"score\": 3}\n",
    );
    for policy in [None, Some("--replace"), Some("--ignore")] {
        let mut args = vec!["ingest"];
        args.extend(policy);
        args.push("musiq=twice.jsonl");
        let refused = ws.run(&args).fails_with(1);
        assert!(
            refused.stderr.starts_with(
                "second-opinion: twice.jsonl:3: duplicate score for competitor='musiq' key='a': \
                 the same file already has it at twice.jsonl:1"
            ),
            "{policy:?}: {}",
            refused.stderr
        );
        assert_eq!(ws.registry_snapshot(), before, "{policy:?}");
    }
}

#[test]
fn replace_makes_the_new_row_live_and_keeps_the_old_as_history() {
    let ws = Workspace::new();
    ws.write(
        "old.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1}\n{\"clip_id\": \"b\", \"score\": 2}\n",
    );
    ws.write(
        "new.jsonl",
        "{\"clip_id\": \"c\", \"score\": 30}\n{\"clip_id\": \"a\", \"score\": 10}\n",
    );
    ws.run(&["ingest", "musiq=old.jsonl"]).ok();
    let run = ws
        .run(&[
            "ingest",
            "--replace",
            "--report-json",
            "report.json",
            "musiq=new.jsonl",
        ])
        .ok();
    assert_eq!(
        run.stderr,
        "new.jsonl: musiq: 2 rows ingested (0 bad, 1 replaced (1 changed, 0 identical), 0 ignored, 0 skipped)\n"
    );
    let old_at = ingested_at(&ws, "old.jsonl");
    let new_at = ingested_at(&ws, "new.jsonl");
    let history = ws
        .run(&["provenance", "--scorer", "musiq", "--key", "a", "--json"])
        .ok()
        .json();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2);
    let picked = |entry: &Value| {
        json!([
            entry["live"],
            entry["score"],
            entry["path"],
            entry["line"],
            entry["ingested_at"],
            entry["superseded_at"],
            entry["superseded_by"]
        ])
    };
    assert_eq!(
        picked(&history[0]),
        json!([true, 10.0, "new.jsonl", 2, new_at, null, null])
    );
    assert_eq!(
        picked(&history[1]),
        json!([false, 1.0, "old.jsonl", 1, old_at, new_at, "new.jsonl"])
    );
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(
        (
            &scorers[0]["live_rows"],
            &scorers[0]["superseded_rows"],
            &scorers[0]["files"]
        ),
        (&json!(3), &json!(1), &json!(2))
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["files"][0]["scorers"]["musiq"],
        json!({"ingested": 2, "bad": 0, "replaced": 1, "replaced_identical": 0, "ignored": 0, "skipped": 0})
    );
}

#[test]
fn ignore_keeps_the_live_row_and_counts_the_new_one() {
    let ws = Workspace::new();
    ws.write(
        "first.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1}\n{\"clip_id\": \"b\", \"score\": 2}\n",
    );
    ws.write(
        "second.jsonl",
        "{\"clip_id\": \"b\", \"score\": 20}\n{\"clip_id\": \"c\", \"score\": 30}\n",
    );
    ws.write("third.jsonl", "{\"clip_id\": \"a\", \"score\": 100}\n");
    ws.run(&["ingest", "musiq=first.jsonl"]).ok();
    let run = ws
        .run(&[
            "ingest",
            "--ignore",
            "--report-json",
            "report.json",
            "musiq=second.jsonl",
        ])
        .ok();
    assert_eq!(
        run.stderr,
        "second.jsonl: musiq: 1 rows ingested (0 bad, 0 replaced, 1 ignored, 0 skipped)\n"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["files"][0]["totals"],
        json!({"ingested": 1, "bad": 0, "replaced": 0, "replaced_identical": 0, "ignored": 1, "skipped": 0})
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT s.key, s.score, f.path FROM scores s JOIN source_files f ON f.id = s.source_file_id \
             WHERE s.superseded_at IS NULL ORDER BY s.key"
        ),
        vec![
            json!(["a", 1.0, "first.jsonl"]),
            json!(["b", 2.0, "first.jsonl"]),
            json!(["c", 30.0, "second.jsonl"]),
        ]
    );
    assert_eq!(sql_value(&ws, "SELECT COUNT(*) FROM scores"), json!(3));

    // A file of which every row is ignored leaves no trace.
    let before = ws.registry_snapshot();
    let nothing = ws.run(&["ingest", "--ignore", "musiq=third.jsonl"]).ok();
    assert_eq!(
        nothing.stderr,
        "third.jsonl: nothing new (1 rows ignored, 0 skipped); not recorded\n"
    );
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn unusable_scores_are_stored_bad_with_a_reason() {
    let ws = Workspace::new();
    ws.write(
        "mixed.jsonl",
        [
            r#"{"clip_id": "string", "score": "72.5"}"#,
            r#"{"clip_id": "boolean", "score": true}"#,
            r#"{"clip_id": "null", "score": null}"#,
            r#"{"clip_id": "bare-nan", "score": NaN}"#,
            r#"{"clip_id": "nan-string", "score": "NaN"}"#,
            r#"{"clip_id": "minus-infinity", "score": -Infinity}"#,
            r#"{"clip_id": "above", "score": 101}"#,
            r#"{"clip_id": "below", "score": -0.5}"#,
            r#"{"clip_id": "at-max", "score": 100}"#,
            r#"{"clip_id": "failed", "score": 55, "status": "failed"}"#,
            r#"{"clip_id": "success", "score": 50, "status": "SUCCESS"}"#,
            r#"{"clip_id": "good", "score": 0}"#,
        ]
        .join("\n"),
    );
    let run = ws
        .run(&["ingest", "--scale", "0:100", "musiq=mixed.jsonl"])
        .ok();
    assert_eq!(
        run.stderr,
        "mixed.jsonl: musiq: 12 rows ingested (8 bad, 0 replaced, 0 ignored, 0 skipped)\n"
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT key, score, status, reason, line FROM scores ORDER BY line"
        ),
        vec![
            // A number written as text is read as the reference reads it.
            json!(["string", 72.5, "ok", null, 1]),
            json!([
                "boolean",
                null,
                "bad",
                "score must be a finite number, got true",
                2
            ]),
            json!(["null", null, "bad", "score is null", 3]),
            json!([
                "bare-nan",
                null,
                "bad",
                "score must be a finite number, got \"NaN\"",
                4
            ]),
            json!([
                "nan-string",
                null,
                "bad",
                "score must be a finite number, got \"NaN\"",
                5
            ]),
            json!([
                "minus-infinity",
                null,
                "bad",
                "score must be a finite number, got \"-Infinity\"",
                6
            ]),
            json!([
                "above",
                null,
                "bad",
                "score 101 is outside the declared scale 0:100",
                7
            ]),
            json!([
                "below",
                null,
                "bad",
                "score -0.5 is outside the declared scale 0:100",
                8
            ]),
            json!(["at-max", 100.0, "ok", null, 9]),
            json!(["failed", 55.0, "bad", "scorer reported status 'failed'", 10]),
            json!(["success", 50.0, "ok", null, 11]),
            json!(["good", 0.0, "ok", null, 12]),
        ]
    );
    assert_eq!(
        sql_rows(&ws, "SELECT scale_min, scale_max FROM scorers"),
        vec![json!([0.0, 100.0])]
    );
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(
        (&scorers[0]["ok_rows"], &scorers[0]["bad_rows"]),
        (&json!(4), &json!(8))
    );
}

#[test]
fn strict_refuses_a_file_with_a_bad_row() {
    let ws = Workspace::new();
    ws.write("seed.jsonl", "{\"clip_id\": \"seed\", \"score\": 1}\n");
    ws.run(&["ingest", "musiq=seed.jsonl"]).ok();
    let before = ws.registry_snapshot();
    ws.write(
        "nan.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1}\n{\"clip_id\": \"b\", \"score\": NaN}\n",
    );
    let refused = ws
        .run(&["ingest", "--strict", "musiq=nan.jsonl"])
        .fails_with(1);
    assert!(
        refused.stderr.starts_with(
            "second-opinion: nan.jsonl:2: score must be a finite number, got \"NaN\" \
             (--strict refuses bad rows)\n"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);

    ws.write(
        "failed.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1, \"status\": \"failed\"}\n",
    );
    let refused = ws
        .run(&["ingest", "--strict", "musiq=failed.jsonl"])
        .fails_with(1);
    assert!(
        refused.stderr.starts_with(
            "second-opinion: failed.jsonl:1: scorer reported status 'failed' (--strict refuses bad rows)\n"
        ),
        "{}",
        refused.stderr
    );
    ws.write("outside.jsonl", "{\"clip_id\": \"a\", \"score\": 7}\n");
    ws.run(&[
        "ingest",
        "--strict",
        "--scale",
        "1:5",
        "musiq=outside.jsonl",
    ])
    .fails_with(1);
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn a_scale_conflicting_with_the_registered_one_is_refused() {
    let ws = Workspace::new();
    ws.write("first.jsonl", "{\"clip_id\": \"a\", \"score\": 50}\n");
    ws.run(&["ingest", "--scale", "0:100", "musiq=first.jsonl"])
        .ok();
    let before = ws.registry_snapshot();
    ws.write("second.jsonl", "{\"clip_id\": \"b\", \"score\": 3}\n");
    let refused = ws
        .run(&["ingest", "--scale", "1:5", "musiq=second.jsonl"])
        .fails_with(1);
    assert!(
        refused.stderr.starts_with(
            "second-opinion: second.jsonl: scorer 'musiq' is registered with scale 0:100; \
             --scale 1:5 conflicts"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);

    // Without --scale, the registered scale still judges the rows.
    ws.write("third.jsonl", "{\"clip_id\": \"c\", \"score\": 150}\n");
    ws.run(&["ingest", "musiq=third.jsonl"]).ok();
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT score, status, reason FROM scores WHERE key = 'c'"
        ),
        vec![json!([
            null,
            "bad",
            "score 150 is outside the declared scale 0:100"
        ])]
    );
}

#[test]
fn each_file_is_its_own_transaction() {
    let ws = Workspace::new();
    ws.write(
        "good.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1}\n{\"clip_id\": \"b\", \"score\": 2}\n",
    );
    // Two good rows, then a line that is not JSON: none of its rows stay.
    ws.write(
        "broken.jsonl",
        "{\"clip_id\": \"c\", \"score\": 3}\n{\"clip_id\": \"d\", \"score\": 4}\n{\"clip_id\": \"e\", \"score\": }\n",
    );
    ws.write("later.jsonl", "{\"clip_id\": \"f\", \"score\": 5}\n");
    let run = ws
        .run(&[
            "ingest",
            "--report-json",
            "report.json",
            "musiq=good.jsonl",
            "musiq=broken.jsonl",
            "musiq=later.jsonl",
        ])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("second-opinion: broken.jsonl:3: invalid JSON at column"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .ends_with("second-opinion: 1 of 3 files not ingested\n"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT s.key, f.path FROM scores s JOIN source_files f ON f.id = s.source_file_id ORDER BY s.key"
        ),
        vec![
            json!(["a", "good.jsonl"]),
            json!(["b", "good.jsonl"]),
            json!(["f", "later.jsonl"]),
        ]
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    assert_eq!(report["failed_files"], json!(1));
    let statuses: Vec<&Value> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["status"])
        .collect();
    assert_eq!(statuses, vec!["ingested", "failed", "ingested"]);
    assert!(report["files"][1]["error"]
        .as_str()
        .unwrap()
        .starts_with("broken.jsonl:3: invalid JSON"));
}

#[test]
fn report_json_is_strict_sorted_and_written_atomically() {
    let ws = Workspace::new();
    ws.write(
        "scores.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1, \"runtime_ms\": NaN}\n\
         {\"clip_id\": \"b\", \"score\": NaN}\n",
    );
    ws.write("bench.json", WRAPPER_PAYLOAD);
    ws.write("reports/report.json", "stale content");
    ws.run(&[
        "ingest",
        "--report-json",
        "reports/report.json",
        "musiq=scores.jsonl",
        "bench.json",
    ])
    .ok();
    let text = std::fs::read_to_string(ws.path("reports/report.json")).unwrap();
    let report = assert_sorted_strict_json(&text);
    assert!(
        !text.contains("NaN") && !text.contains("Infinity"),
        "{text}"
    );
    let registry = ws.registry();
    assert_eq!(report["registry"], json!(arg(&registry)));
    assert_eq!(report["tool_version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(report["failed_files"], json!(0));
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let scores_file = &files[0];
    assert_eq!(
        (
            &scores_file["path"],
            &scores_file["label"],
            &scores_file["format"],
            &scores_file["status"],
            &scores_file["error"]
        ),
        (
            &json!("scores.jsonl"),
            &json!("musiq"),
            &json!("jsonl"),
            &json!("ingested"),
            &Value::Null
        )
    );
    assert_eq!(
        scores_file["scorers"],
        json!({"musiq": {"ingested": 2, "bad": 1, "replaced": 0, "replaced_identical": 0, "ignored": 0, "skipped": 0}})
    );
    assert_eq!(
        scores_file["sha256"],
        sql_value(
            &ws,
            "SELECT sha256 FROM source_files WHERE path = 'scores.jsonl'"
        )
    );
    assert_eq!(
        files[1]["scorers"],
        json!({"fork-nr-metric": {"ingested": 1, "bad": 0, "replaced": 0, "replaced_identical": 0, "ignored": 0, "skipped": 0}})
    );
    // Replaced whole, by a rename: no temporary file is left beside it.
    let left: Vec<String> = std::fs::read_dir(ws.path("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["report.json"]);
    // A NaN runtime is no runtime.
    assert_eq!(
        sql_value(&ws, "SELECT runtime_ms FROM scores WHERE key = 'a'"),
        Value::Null
    );
}

#[test]
fn registry_location_flag_then_environment_then_working_directory() {
    let ws = Workspace::new();
    ws.write("scores.jsonl", format!("{SCALAR_ROW}\n"));

    // Default: second-opinion.db in the working directory.
    run(bare_command(ws.dir.path()).args(["ingest", "scores.jsonl"])).ok();
    assert!(ws.path("second-opinion.db").is_file());

    // The environment variable names another registry.
    let from_env = ws.path("env/registry-from-env.db");
    std::fs::create_dir_all(from_env.parent().unwrap()).unwrap();
    run(bare_command(ws.dir.path())
        .env("SECOND_OPINION_REGISTRY", &from_env)
        .args(["ingest", "scores.jsonl"]))
    .ok();
    assert!(from_env.is_file());
    let files = run(bare_command(ws.dir.path())
        .env("SECOND_OPINION_REGISTRY", &from_env)
        .args(["files", "--json"]))
    .ok()
    .json();
    assert_eq!(files.as_array().unwrap().len(), 1);

    // --registry wins over the environment.
    let from_flag = ws.path("flag.db");
    run(bare_command(ws.dir.path())
        .env("SECOND_OPINION_REGISTRY", ws.path("never.db"))
        .arg("--registry")
        .arg(&from_flag)
        .args(["ingest", "scores.jsonl"]))
    .ok();
    assert!(from_flag.is_file());
    assert!(!ws.path("never.db").exists());
    // The flag is global: it may also follow the subcommand.
    let scorers = run(bare_command(ws.dir.path())
        .args(["scorers", "--json", "--registry"])
        .arg(&from_flag))
    .ok()
    .json();
    assert_eq!(scorers[0]["slug"], json!("dover_mobile"));
}

#[test]
fn queries_report_scorers_files_and_provenance() {
    let ws = Workspace::new();
    ws.write(
        "dover.jsonl",
        format!("{SCALAR_ROW}\n{{\"video_id\": \"b\", \"competitor\": \"DOVER-Mobile\", \"score\": \"x\"}}\n"),
    );
    ws.write("bench.json", WRAPPER_PAYLOAD);
    ws.run(&["ingest", "dover=dover.jsonl", "bench.json"]).ok();

    let scorers = ws.run(&["scorers", "--json"]).ok();
    let scorers = assert_sorted_strict_json(&scorers.stdout);
    assert_eq!(
        scorers,
        json!([
            // Both are known scorers: DOVER's sigmoid x 100 is a hard 0-100
            // scale; the fork's metric is competitor-native (no scale).
            {"name": "DOVER-Mobile", "slug": "dover_mobile", "scale_min": 0.0, "scale_max": 100.0,
             "typical_min": null, "typical_max": null,
             "higher_is_better": true, "live_rows": 2, "ok_rows": 1, "bad_rows": 1,
             "superseded_rows": 0, "files": 1, "versions": [], "warnings": []},
            {"name": "fork-nr-metric", "slug": "fork_nr_metric", "scale_min": null, "scale_max": null,
             "typical_min": null, "typical_max": null,
             "higher_is_better": true, "live_rows": 1, "ok_rows": 1, "bad_rows": 0,
             "superseded_rows": 0, "files": 1, "versions": [], "warnings": []},
        ])
    );

    let files = ws.run(&["files", "--json"]).ok();
    let files = assert_sorted_strict_json(&files.stdout);
    let files = files.as_array().unwrap();
    assert_eq!(files.len(), 2);
    for (file, (path, label, format, rows, scorer)) in files.iter().zip([
        ("dover.jsonl", json!("dover"), "jsonl", 2, "DOVER-Mobile"),
        ("bench.json", Value::Null, "json", 1, "fork-nr-metric"),
    ]) {
        let bytes = std::fs::read(ws.path(path)).unwrap();
        assert_eq!(file["path"], json!(path));
        assert_eq!(file["label"], label);
        assert_eq!(file["format"], json!(format));
        assert_eq!(file["rows"], json!(rows));
        assert_eq!(file["live_rows"], json!(rows));
        assert_eq!(file["scorers"], json!([scorer]));
        assert_eq!(file["size_bytes"], json!(bytes.len()));
        assert_eq!(file["ingested_at"], json!(ingested_at(&ws, path)));
        assert_eq!(
            file["sha256"],
            sql_value(
                &ws,
                &format!("SELECT sha256 FROM source_files WHERE path = '{path}'")
            )
        );
    }

    // A full path finds the score stored under its basename.
    let provenance = ws
        .run(&[
            "provenance",
            "--scorer",
            "fork-nr-metric",
            "--key",
            "/some/other/dir/clip_a.yuv",
            "--json",
        ])
        .ok();
    let provenance = assert_sorted_strict_json(&provenance.stdout);
    let bench_path = ws.path("bench.json").canonicalize().unwrap();
    assert_eq!(
        provenance,
        json!([{
            "scorer": "fork-nr-metric",
            "key": "clip_a.yuv",
            "raw_key": "/corpus/clip_a.yuv",
            "key_field": "name",
            "score": 72.0,
            "raw_value": null,
            "status": "ok",
            "reason": null,
            "note": null,
            "runtime_ms": 3.5,
            "frame_count": 2,
            "live": true,
            "superseded_at": null,
            "superseded_by": null,
            "path": "bench.json",
            "scorer_version": null,
            "absolute_path": arg(&bench_path),
            "sha256": files[1]["sha256"],
            "format": "json",
            "label": null,
            "line": 1,
            "ingested_at": ingested_at(&ws, "bench.json"),
            "live_from_seq": 2,
            "live_until_seq": null,
            "live_at_point": null,
        }])
    );
    // Any spelling with the same slug names the scorer; bad rows show why.
    let bad = ws
        .run(&[
            "provenance",
            "--scorer",
            "dover mobile",
            "--key",
            "b",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (
            &bad[0]["scorer"],
            &bad[0]["status"],
            &bad[0]["score"],
            &bad[0]["reason"],
            &bad[0]["line"]
        ),
        (
            &json!("DOVER-Mobile"),
            &json!("bad"),
            &Value::Null,
            &json!("score must be a finite number, got \"x\""),
            &json!(2)
        )
    );

    let registry = ws.registry();
    let unknown_scorer = ws
        .run(&["provenance", "--scorer", "nope", "--key", "a"])
        .fails_with(1);
    assert_eq!(
        unknown_scorer.stderr,
        format!(
            "second-opinion: registry {}: no scorer 'nope' (known: DOVER-Mobile, fork-nr-metric)\n",
            arg(&registry)
        )
    );
    let unknown_key = ws
        .run(&["provenance", "--scorer", "DOVER-Mobile", "--key", "zzz"])
        .fails_with(1);
    assert_eq!(
        unknown_key.stderr,
        format!(
            "second-opinion: registry {}: no score for scorer 'DOVER-Mobile' and key 'zzz'\n",
            arg(&registry)
        )
    );
    assert!(unknown_key.stdout.is_empty());
}

#[test]
fn files_lists_scorer_names_whole_even_with_commas() {
    let ws = Workspace::new();
    ws.write(
        "two.jsonl",
        "{\"clip_id\": \"a\", \"competitor\": \"Q-Align (1,5)\", \"score\": 3}\n\
         {\"clip_id\": \"a\", \"competitor\": \"MUSIQ\", \"score\": 60}\n",
    );
    ws.run(&["ingest", "two.jsonl"]).ok();
    let files = ws.run(&["files", "--json"]).ok().json();
    assert_eq!(files[0]["scorers"], json!(["MUSIQ", "Q-Align (1,5)"]));
    assert_eq!(files[0]["rows"], json!(2));
}

#[test]
fn queries_on_a_missing_registry_fail_and_do_not_create_it() {
    let ws = Workspace::new();
    for args in [
        vec!["scorers"],
        vec!["files", "--json"],
        vec!["provenance", "--scorer", "s", "--key", "k"],
    ] {
        let refused = ws.run(&args).fails_with(1);
        assert_eq!(
            refused.stderr,
            format!(
                "second-opinion: registry {}: no such file (the first `ingest` creates it; \
                 to use another registry, name it with --registry or SECOND_OPINION_REGISTRY)\n",
                arg(&ws.registry())
            ),
            "{args:?}"
        );
        let left: Vec<_> = std::fs::read_dir(ws.dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{args:?} created {left:?}");
    }
    // An empty SECOND_OPINION_REGISTRY names no registry: --registry on
    // the command line still counts (clap used to refuse it, exit 2).
    let output = ws
        .command()
        .env("SECOND_OPINION_REGISTRY", "")
        .arg("scorers")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such file"));
}

#[test]
fn a_registry_made_by_migration_1_alone_is_upgraded() {
    let ws = Workspace::new();
    {
        let conn = ws.sqlite();
        conn.execute_batch(include_str!("../migrations/0001_registry.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO scorers (id, name, slug, created_at) \
                 VALUES (1, 'MUSIQ', 'musiq', '2025-01-01T00:00:00.000Z');
             INSERT INTO source_files (id, path, absolute_path, sha256, size_bytes, format, label, \
                 ingested_at, tool_version) \
                 VALUES (1, 'legacy.jsonl', '/old/legacy.jsonl', 'abc', 10, 'jsonl', NULL, \
                 '2025-01-01T00:00:00.000Z', '0.0.1');
             INSERT INTO scores (scorer_id, key, raw_key, key_field, score, status, reason, \
                 runtime_ms, frame_count, source_file_id, line, ingested_at) \
                 VALUES (1, 'old', 'old', 'clip_id', 42.5, 'ok', NULL, 1.0, 0, 1, 5, \
                 '2025-01-01T00:00:00.000Z'), \
                 (1, 'older.mp4', '/corpus/older.mp4', 'video', 40.0, 'ok', \
                 '1 of 3 frames have no usable value', NULL, 2, 1, 6, '2025-01-01T00:00:00.000Z'), \
                 (1, 'broken', 'broken', 'clip_id', NULL, 'bad', 'score is null', NULL, 0, 1, 7, \
                 '2025-01-01T00:00:00.000Z');",
        )
        .unwrap();
    }
    // Every fact of the data model, as version 1 stored it.
    let model = "key, raw_key, key_field, score, status, runtime_ms, frame_count, \
                 source_file_id, line, ingested_at, superseded_at";
    let old_rows = sql_rows(&ws, &format!("SELECT {model} FROM scores ORDER BY id"));

    ws.write(
        "new.jsonl",
        "{\"clip_id\": \"new\", \"competitor\": \"MUSIQ\", \"score\": 7}\n",
    );
    ws.run(&["ingest", "--scale", "0:100", "new.jsonl"]).ok();
    assert_eq!(
        sql_value(&ws, "PRAGMA user_version"),
        json!(latest_schema_version())
    );
    assert_eq!(
        sql_rows(
            &ws,
            &format!("SELECT {model} FROM score_rows WHERE source_file_id = 1 ORDER BY id")
        ),
        old_rows,
        "the score_rows view shows the upgraded rows as they were"
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT key, raw_key FROM scores WHERE source_file_id = 1 ORDER BY id"
        ),
        vec![
            json!(["old", null]),
            json!(["older.mp4", "/corpus/older.mp4"]),
            json!(["broken", null])
        ],
        "a raw key equal to the key is stored once"
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT reason, note FROM scores WHERE source_file_id = 1 ORDER BY id"
        ),
        vec![
            json!([null, null]),
            json!([null, "1 of 3 frames have no usable value"]),
            json!(["score is null", null])
        ],
        "an ok row's note moved out of `reason`; a bad row keeps its reason"
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT source_file_id, scorer_id, rows FROM source_file_scorers ORDER BY 1"
        ),
        vec![json!([1, 1, 3]), json!([2, 1, 1])]
    );
    assert_eq!(
        sql_value(&ws, "PRAGMA page_size"),
        json!(4096),
        "an existing registry keeps its page size"
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT id, name, slug, scale_min, scale_max FROM scorers"
        ),
        vec![json!([1, "MUSIQ", "musiq", 0.0, 100.0])]
    );
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT key, score, source_file_id FROM scores ORDER BY id"
        ),
        vec![
            json!(["old", 42.5, 1]),
            json!(["older.mp4", 40.0, 1]),
            json!(["broken", null, 1]),
            json!(["new", 7.0, 2])
        ]
    );
    // The old row is still live: a new score for its key is a duplicate.
    ws.write(
        "again.jsonl",
        "{\"clip_id\": \"old\", \"competitor\": \"MUSIQ\", \"score\": 8}\n",
    );
    let refused = ws.run(&["ingest", "again.jsonl"]).fails_with(1);
    assert!(
        refused
            .stderr
            .contains("already live from legacy.jsonl:5, ingested 2025-01-01T00:00:00.000Z"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_registry_newer_than_the_binary_is_refused_and_left_untouched() {
    let ws = Workspace::new();
    {
        let conn = ws.sqlite();
        conn.execute_batch("CREATE TABLE future (x INTEGER); INSERT INTO future VALUES (1);")
            .unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let bytes = std::fs::read(ws.registry()).unwrap();
    ws.write("scores.jsonl", format!("{SCALAR_ROW}\n"));
    let expected = format!(
        "second-opinion: registry {} has schema version 99, but this second-opinion ({}) knows \
         versions up to {}: upgrade second-opinion; the registry was not modified\n",
        arg(&ws.registry()),
        env!("CARGO_PKG_VERSION"),
        latest_schema_version()
    );
    for args in [vec!["ingest", "scores.jsonl"], vec!["scorers", "--json"]] {
        let refused = ws.run(&args).fails_with(1);
        assert_eq!(refused.stderr, expected, "{args:?}");
        assert_eq!(std::fs::read(ws.registry()).unwrap(), bytes, "{args:?}");
    }
    let left: Vec<String> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("registry.db"))
        .collect();
    assert_eq!(left, vec!["registry.db"], "no journal or WAL left behind");
}

#[test]
fn the_database_itself_rejects_a_second_live_row() {
    let ws = Workspace::new();
    ws.write("scores.jsonl", format!("{SCALAR_ROW}\n"));
    ws.run(&["ingest", "scores.jsonl"]).ok();
    let conn = ws.sqlite();
    let copy_of_a = |superseded_at: &str| {
        format!(
            "INSERT INTO scores (scorer_id, key, raw_key, key_field, score, status, runtime_ms, \
             frame_count, source_file_id, line, superseded_at) \
             SELECT scorer_id, key, raw_key, key_field, 1.0, 'ok', NULL, 0, source_file_id, 99, \
             {superseded_at} FROM scores WHERE key = 'a'"
        )
    };
    let error = conn
        .execute(&copy_of_a("NULL"), [])
        .expect_err("a second live row must be refused");
    assert!(
        error
            .to_string()
            .contains("UNIQUE constraint failed: scores.scorer_id, scores.key"),
        "{error}"
    );
    // Superseded history is not constrained.
    conn.execute(&copy_of_a("'2026-01-01T00:00:00.000Z'"), [])
        .unwrap();
    assert_eq!(sql_value(&ws, "SELECT COUNT(*) FROM scores"), json!(2));
}

#[test]
fn usage_errors_exit_2() {
    let ws = Workspace::new();
    ws.write("scores.jsonl", format!("{SCALAR_ROW}\n"));
    // Nothing any reader recognises, under an extension no format claims.
    ws.write("scores.dat", "hello, scorer\n");

    let format = ws
        .run(&["ingest", "--format", "xml", "scores.jsonl"])
        .fails_with(2);
    assert!(
        format
            .stderr
            .contains("unknown format 'xml' (expected one of: jsonl, json"),
        "{}",
        format.stderr
    );
    let both = ws
        .run(&["ingest", "--replace", "--ignore", "scores.jsonl"])
        .fails_with(2);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
    let normalize = ws
        .run(&["ingest", "--key-normalize", "base", "scores.jsonl"])
        .fails_with(2);
    assert!(
        normalize
            .stderr
            .contains("unknown key normalisation 'base'"),
        "{}",
        normalize.stderr
    );
    ws.run(&["ingest"]).fails_with(2);
    assert!(
        !ws.registry().exists(),
        "a rejected command line touches nothing"
    );

    let extension = ws.run(&["ingest", "scores.dat"]).fails_with(2);
    assert!(
        extension.stderr.starts_with(
            "second-opinion: scores.dat: cannot tell the format from the content; \
             pass --format (jsonl, json"
        ),
        "{}",
        extension.stderr
    );
    assert!(ws.registry_snapshot().is_empty());
    // --format reads any file name.
    ws.write("scores.txt", format!("{SCALAR_ROW}\n"));
    ws.run(&["ingest", "--format", "jsonl", "scores.txt"]).ok();
    assert_eq!(
        sql_value(&ws, "SELECT format FROM source_files"),
        json!("jsonl")
    );
}

#[test]
fn provenance_finds_a_clip_by_its_id_and_shows_every_scorer() {
    let ws = Workspace::new();
    ws.write(
        "dover.jsonl",
        "{\"path\": \"/corpus/A0004.mp4\", \"competitor\": \"dover\", \"score\": 61.5}\n\
         {\"path\": \"/corpus/A0004.mkv\", \"competitor\": \"dover\", \"score\": 58.0}\n\
         {\"path\": \"/corpus/A00040.mp4\", \"competitor\": \"dover\", \"score\": 40.0}\n",
    );
    ws.write(
        "musiq.jsonl",
        "{\"name\": \"A0004.mp4\", \"competitor\": \"musiq\", \"score\": 44.0}\n",
    );
    ws.run(&["ingest", "dover.jsonl", "musiq.jsonl"]).ok();
    let keys = |entries: &Value| -> Vec<(String, String)> {
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["scorer"].as_str().unwrap().to_string(),
                    e["key"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // A clip id without its extension finds every key of that stem.
    let found = ws
        .run(&[
            "provenance",
            "--scorer",
            "dover",
            "--key",
            "A0004",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        keys(&found),
        [
            ("dover".to_string(), "A0004.mkv".to_string()),
            ("dover".to_string(), "A0004.mp4".to_string())
        ]
    );
    // Without --scorer: every scorer's score for the clip.
    let every = ws
        .run(&["provenance", "--key", "/elsewhere/A0004.mp4", "--json"])
        .ok()
        .json();
    assert_eq!(
        keys(&every),
        [
            ("dover".to_string(), "A0004.mp4".to_string()),
            ("musiq".to_string(), "A0004.mp4".to_string())
        ]
    );
    let none = ws.run(&["provenance", "--key", "Z9.mp4"]).fails_with(1);
    assert!(
        none.stderr
            .contains("no scorer has a score for key 'Z9.mp4'"),
        "{}",
        none.stderr
    );
}
