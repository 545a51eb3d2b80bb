//! `batch` end to end through the binary: the reference's smoke fixture and
//! its report, the manifest checks (each refused before anything runs or is
//! written), failing tables with and without --fail-fast, a registry shared
//! by every table, relative paths, and parity with `materialize`.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use common::{arg, sha256_hex, sql_rows, Run, Workspace};

// ---------------------------------------------------------------- fixtures

const FEATURES_A: &str = concat!(
    r#"{"video_id":"a1","vmaf":91.0}"#,
    "\n",
    r#"{"video_id":"a2","vmaf":82.5}"#,
    "\n",
    r#"{"video_id":"a3","vmaf":77.0}"#,
    "\n",
);
const FEATURES_B: &str = concat!(
    r#"{"video_id":"b1","vmaf":64.0}"#,
    "\n",
    r#"{"video_id":"b2","vmaf":58.0}"#,
    "\n",
);
const SCORES_A: &str = concat!(
    r#"{"video_id":"a1","score":71.0,"runtime_ms":12.0}"#,
    "\n",
    r#"{"video_id":"a2","score":66.5,"runtime_ms":11.0}"#,
    "\n",
    r#"{"video_id":"a3","score":60.0,"runtime_ms":10.5}"#,
    "\n",
);
const SCORES_B: &str = concat!(
    r#"{"video_id":"b1","score":55.0,"runtime_ms":9.0}"#,
    "\n",
    r#"{"video_id":"b2","score":48.0,"runtime_ms":8.0}"#,
    "\n",
);

/// The reference's smoke fixture (ai/testdata/smoke-second-opinion-batch):
/// two JSON Lines tables of 3 and 2 rows keyed on `video_id`, `fork-nr=`
/// score files, the second table without `audit_json`.
fn smoke_workspace(dir: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(&format!("{dir}fixtures/features_a.jsonl"), FEATURES_A);
    ws.write(&format!("{dir}fixtures/features_b.jsonl"), FEATURES_B);
    ws.write(&format!("{dir}fixtures/scores_fork_nr_a.jsonl"), SCORES_A);
    ws.write(&format!("{dir}fixtures/scores_fork_nr_b.jsonl"), SCORES_B);
    ws
}

fn smoke_manifest() -> Value {
    json!({
        "defaults": {"key_normalize": "auto", "missing_policy": "mark", "prefix": "second_opinion"},
        "tables": [
            {"id": "smoke_table_a", "features": "fixtures/features_a.jsonl",
             "scores": ["fork-nr=fixtures/scores_fork_nr_a.jsonl"],
             "out": "out/smoke_table_a.jsonl", "audit_json": "out/smoke_table_a.audit.json"},
            {"id": "smoke_table_b", "features": "fixtures/features_b.jsonl",
             "scores": ["fork-nr=fixtures/scores_fork_nr_b.jsonl"],
             "out": "out/smoke_table_b.jsonl"}
        ]
    })
}

fn write_manifest(ws: &Workspace, name: &str, manifest: &Value) {
    ws.write(name, serde_json::to_string_pretty(manifest).unwrap());
}

/// Run the binary without `--registry`: every table gets a throw-away
/// registry, as `materialize` does.
fn run_bare(ws: &Workspace, args: &[&str]) -> Run {
    Run::from(bare(ws).args(args).output().expect("run second-opinion"))
}

fn bare(ws: &Workspace) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_second-opinion"));
    command
        .current_dir(ws.dir.path())
        .env_remove("SECOND_OPINION_REGISTRY");
    command
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", path.display()))
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Every file under the workspace, as relative paths, sorted.
fn files(ws: &Workspace) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, found);
            } else {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(ws.dir.path(), ws.dir.path(), &mut found);
    found.sort();
    found
}

/// Object keys in the order the text writes them, recursively.
fn assert_keys_sorted(value: &Value) {
    match value {
        Value::Object(map) => {
            let keys: Vec<&String> = map.keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
            map.values().for_each(assert_keys_sorted);
        }
        Value::Array(items) => items.iter().for_each(assert_keys_sorted),
        _ => {}
    }
}

/// The `(score, status)` pairs of the fork-nr columns.
fn fork_nr(rows: &[Value]) -> Vec<(Value, Value)> {
    rows.iter()
        .map(|row| {
            (
                row["second_opinion_fork_nr_score"].clone(),
                row["second_opinion_fork_nr_status"].clone(),
            )
        })
        .collect()
}

fn ok(score: f64) -> (Value, Value) {
    (json!(score), json!("ok"))
}

// ------------------------------------------------------------ smoke fixture

#[test]
fn smoke_fixture_runs_both_tables_and_reports_them() {
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", &smoke_manifest());
    let run = run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "batch.json",
            "--report-json",
            "reports/smoke.report.json",
            "--report-md",
            "reports/smoke.report.md",
        ],
    )
    .ok();
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            "second-opinion batch materialize: tables=2 input_rows=5 output_rows=5 failed_tables=0"
        ),
        "{}",
        run.stderr
    );

    let rows_a = read_jsonl(&ws.path("out/smoke_table_a.jsonl"));
    assert_eq!(fork_nr(&rows_a), [ok(71.0), ok(66.5), ok(60.0)]);
    assert_eq!(rows_a[0]["second_opinion_fork_nr_runtime_ms"], json!(12.0));
    assert_eq!(
        rows_a[0]["second_opinion_fork_nr_source"],
        "fixtures/scores_fork_nr_a.jsonl"
    );
    let rows_b = read_jsonl(&ws.path("out/smoke_table_b.jsonl"));
    assert_eq!(fork_nr(&rows_b), [ok(55.0), ok(48.0)]);
    // Folders created, no audit for the second table, nothing else.
    assert_eq!(
        files(&ws),
        [
            "batch.json",
            "fixtures/features_a.jsonl",
            "fixtures/features_b.jsonl",
            "fixtures/scores_fork_nr_a.jsonl",
            "fixtures/scores_fork_nr_b.jsonl",
            "out/smoke_table_a.audit.json",
            "out/smoke_table_a.jsonl",
            "out/smoke_table_b.jsonl",
            "reports/smoke.report.json",
            "reports/smoke.report.md",
        ]
    );

    let text = std::fs::read_to_string(ws.path("reports/smoke.report.json")).unwrap();
    assert!(!text.contains("NaN") && !text.contains("Infinity"));
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_keys_sorted(&report);
    let top: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(
        top,
        [
            "manifest",
            "run_provenance",
            "schema",
            "status",
            "summary",
            "tables"
        ]
    );
    assert_eq!(report["schema"], "second-opinion-materializer-batch-v1");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["manifest"], "batch.json");
    assert_eq!(
        report["summary"],
        json!({"tables": 2, "failed_tables": 0, "input_rows": 5, "output_rows": 5})
    );
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    let (a, b) = (&tables[0], &tables[1]);
    let fields: Vec<&String> = a.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "audit_json",
            "config",
            "features",
            "id",
            "out",
            "scores",
            "status",
            "summary"
        ]
    );
    assert_eq!(a["id"], "smoke_table_a");
    assert_eq!(a["status"], "ok");
    assert_eq!(a["features"], "fixtures/features_a.jsonl");
    assert_eq!(
        a["scores"],
        json!(["fork-nr=fixtures/scores_fork_nr_a.jsonl"])
    );
    assert_eq!(a["out"], "out/smoke_table_a.jsonl");
    assert_eq!(a["audit_json"], "out/smoke_table_a.audit.json");
    assert_eq!(
        a["config"],
        json!({"key_normalize": "auto", "missing_policy": "mark", "prefix": "second_opinion"})
    );
    // The table's summary is the audit dict materialize wrote.
    assert_eq!(
        a["summary"],
        read_json(&ws.path("out/smoke_table_a.audit.json"))
    );
    assert_eq!(a["summary"]["input_rows"], 3);
    assert_eq!(a["summary"]["output_rows"], 3);
    assert_eq!(
        a["summary"]["competitors"]["fork-nr"]["matched_rows"],
        json!(3)
    );
    assert_eq!(
        a["summary"]["run_provenance"]["args"]["table_id"],
        "smoke_table_a"
    );
    assert_eq!(b["id"], "smoke_table_b");
    assert_eq!(b["audit_json"], Value::Null);
    assert_eq!(b["summary"]["input_rows"], 2);
    assert_eq!(b["summary"]["competitors"]["fork-nr"]["scores_loaded"], 2);

    let provenance = &report["run_provenance"];
    assert_eq!(provenance["entrypoint"], "second-opinion batch");
    assert_eq!(provenance["tool_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        provenance["inputs"]["manifest"],
        json!({"exists": true, "kind": "file", "path": "batch.json",
               "sha256": sha256_hex(&ws.path("batch.json"))})
    );
    assert_eq!(
        provenance["outputs"]["report_md"]["sha256"],
        sha256_hex(&ws.path("reports/smoke.report.md"))
    );
    assert_eq!(
        provenance["outputs"]["report_json"]["path"],
        "reports/smoke.report.json"
    );
    assert_eq!(provenance["args"]["manifest"], "batch.json");
    assert_eq!(provenance["args"]["fail_fast"], false);
    assert_eq!(provenance["args"]["base_dir"], Value::Null);
    let argv: Vec<&str> = provenance["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&argv[1..4], ["batch", "--manifest", "batch.json"]);

    assert_eq!(
        std::fs::read_to_string(ws.path("reports/smoke.report.md")).unwrap(),
        "# Second-Opinion Materializer Batch Report\n\
         \n\
         Status: **ok**\n\
         \n\
         | Table | Status | Input rows | Output rows | Output |\n\
         | --- | --- | ---: | ---: | --- |\n\
         | smoke_table_a | ok | 3 | 3 | `out/smoke_table_a.jsonl` |\n\
         | smoke_table_b | ok | 2 | 2 | `out/smoke_table_b.jsonl` |\n"
    );
}

#[test]
fn each_table_writes_what_materialize_writes() {
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", &smoke_manifest());
    run_bare(&ws, &["batch", "--manifest", "batch.json"]).ok();
    run_bare(
        &ws,
        &[
            "materialize",
            "--features",
            "fixtures/features_a.jsonl",
            "--scores",
            "fork-nr=fixtures/scores_fork_nr_a.jsonl",
            "--out",
            "alone.jsonl",
            "--audit-json",
            "alone.audit.json",
            "--key-normalize",
            "auto",
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read(ws.path("out/smoke_table_a.jsonl")).unwrap(),
        std::fs::read(ws.path("alone.jsonl")).unwrap()
    );
    let mut batch = read_json(&ws.path("out/smoke_table_a.audit.json"));
    let mut alone = read_json(&ws.path("alone.audit.json"));
    for audit in [&mut batch, &mut alone] {
        let fields = audit.as_object_mut().unwrap();
        fields.remove("run_provenance");
        fields.remove("second_opinion_provenance");
        fields.remove("output");
    }
    assert_eq!(batch, alone);
}

#[test]
fn markdown_report_escapes_pipes_and_backticks() {
    let ws = smoke_workspace("");
    write_manifest(
        &ws,
        "batch.json",
        &json!({"tables": [{
            "id": "a|b`c", "features": "fixtures/features_a.jsonl",
            "scores": ["fork-nr=fixtures/scores_fork_nr_a.jsonl"], "out": "out/x|`y.jsonl"
        }]}),
    );
    run_bare(
        &ws,
        &["batch", "--manifest", "batch.json", "--report-md", "r.md"],
    )
    .ok();
    let markdown = std::fs::read_to_string(ws.path("r.md")).unwrap();
    assert_eq!(
        markdown.lines().last(),
        Some("| a\\|b\\`c | ok | 3 | 3 | ``out/x\\|`y.jsonl`` |")
    );
    assert!(ws.path("out/x|`y.jsonl").exists());
}

// ---------------------------------------------------- the manifest's checks

/// A manifest that must be refused: exit 2, each of `expected` in the
/// message, nothing run and nothing written (not even a registry, report
/// folders or output folders).
fn assert_refused(manifest: &Value, expected: &[&str]) {
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", manifest);
    let before = files(&ws);
    let run = ws
        .run(&[
            "batch",
            "--manifest",
            "batch.json",
            "--report-json",
            "reports/r.json",
            "--report-md",
            "reports/r.md",
        ])
        .fails_with(2);
    for text in expected {
        assert!(
            run.stderr.contains(text),
            "expected {text:?} in:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("table smoke_table_a: ok"),
        "{}",
        run.stderr
    );
    assert_eq!(files(&ws), before, "nothing may be written");
    assert!(!ws.path("out").exists() && !ws.path("reports").exists());
}

/// The smoke manifest with `change` applied to it.
fn smoke_with(change: impl FnOnce(&mut Value)) -> Value {
    let mut manifest = smoke_manifest();
    change(&mut manifest);
    manifest
}

#[test]
fn unknown_keys_are_refused_in_defaults_and_tables() {
    assert_refused(
        &smoke_with(|m| m["defaults"]["colour"] = json!("blue")),
        &["batch.json: defaults: colour: unknown key"],
    );
    assert_refused(
        &smoke_with(|m| m["tables"][1]["output"] = json!("x.jsonl")),
        &[r#"batch.json: tables[1] (id "smoke_table_b"): output: unknown key"#],
    );
}

#[test]
fn wrong_json_types_are_refused() {
    assert_refused(
        &smoke_with(|m| m["tables"][1]["overwrite"] = json!("yes")),
        &[r#"tables[1] (id "smoke_table_b"): overwrite: must be true or false, got "yes""#],
    );
    assert_refused(
        &smoke_with(|m| m["tables"][0]["scores"] = json!("fixtures/scores_fork_nr_a.jsonl")),
        &[r#"tables[0] (id "smoke_table_a"): scores: must be a list of score files"#],
    );
    assert_refused(
        &smoke_with(|m| m["tables"][1]["features"] = json!(7)),
        &[r#"tables[1] (id "smoke_table_b"): features: must be a path, got 7"#],
    );
    assert_refused(
        &smoke_with(|m| m["defaults"]["prefix"] = json!(["so"])),
        &[r#"defaults: prefix: must be a string, got ["so"]"#],
    );
    assert_refused(
        &smoke_with(|m| m["tables"] = json!({"a": 1})),
        &["batch.json: manifest: tables: must be a list"],
    );
    assert_refused(
        &smoke_with(|m| m["tables"][1] = json!("smoke_table_b")),
        &[r#"tables[1]: must be an object, got "smoke_table_b""#],
    );
    assert_refused(
        &smoke_with(|m| {
            m["tables"][1].as_object_mut().unwrap().remove("out");
        }),
        &[r#"tables[1] (id "smoke_table_b"): out: missing"#],
    );
}

#[test]
fn empty_and_duplicate_ids_are_refused() {
    assert_refused(
        &smoke_with(|m| m["tables"][1]["id"] = json!("  ")),
        &["tables[1]: id: must not be empty"],
    );
    assert_refused(
        &smoke_with(|m| {
            m["tables"][1].as_object_mut().unwrap().remove("id");
        }),
        &["tables[1]: id: missing"],
    );
    assert_refused(
        &smoke_with(|m| m["tables"][1]["id"] = json!("smoke_table_a")),
        &[r#"tables[1] (id "smoke_table_a"): id: "smoke_table_a" is also the id of tables[0]"#],
    );
}

#[test]
fn two_outputs_on_one_file_are_refused() {
    // The same file, spelled differently.
    assert_refused(
        &smoke_with(|m| m["tables"][1]["out"] = json!("out/../out/./smoke_table_a.jsonl")),
        &[
            r#"tables[1] (id "smoke_table_b"): out: out/../out/smoke_table_a.jsonl is also the out of tables[0] (id "smoke_table_a")"#,
        ],
    );
    // A table's out on another's audit JSON.
    assert_refused(
        &smoke_with(|m| m["tables"][1]["out"] = json!("out/smoke_table_a.audit.json")),
        &[
            r#"tables[1] (id "smoke_table_b"): out: out/smoke_table_a.audit.json is also the audit_json of tables[0] (id "smoke_table_a")"#,
        ],
    );
    // A report on a table's output.
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", &smoke_manifest());
    let run = run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "batch.json",
            "--report-json",
            "out/smoke_table_b.jsonl",
        ],
    )
    .fails_with(2);
    assert!(
        run.stderr.contains(
            r#"--report-json: out/smoke_table_b.jsonl is also the out of tables[1] (id "smoke_table_b")"#
        ),
        "{}",
        run.stderr
    );
    assert!(!ws.path("out").exists());
}

#[test]
fn policy_and_normalisation_values_are_refused_as_materialize_refuses_them() {
    // The wording of materialize's own flag.
    let ws = smoke_workspace("");
    let flag = run_bare(
        &ws,
        &[
            "materialize",
            "--features",
            "fixtures/features_a.jsonl",
            "--scores",
            "fixtures/scores_fork_nr_a.jsonl",
            "--out",
            "o.jsonl",
            "--missing-policy",
            "sometimes",
        ],
    )
    .fails_with(2);
    let policy = "unknown policy 'sometimes' (expected mark, drop or fail)";
    assert!(flag.stderr.contains(policy), "{}", flag.stderr);
    assert_refused(
        &smoke_with(|m| m["defaults"]["missing_policy"] = json!("sometimes")),
        &[&format!("batch.json: defaults: missing_policy: {policy}")],
    );
    assert_refused(
        &smoke_with(|m| m["tables"][1]["key_normalize"] = json!("path")),
        &[
            r#"tables[1] (id "smoke_table_b"): key_normalize: unknown key normalisation 'path' (expected one of: auto, raw, basename, stem, tail:N)"#,
        ],
    );
    assert_refused(
        &smoke_with(|m| m["tables"][0]["out"] = json!("out/a.xlsx")),
        &[
            r#"tables[0] (id "smoke_table_a"): out: out/a.xlsx: cannot tell the output format from the file name"#,
        ],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    assert_refused(
        &smoke_with(|m| {
            m["defaults"]["missing_policy"] = json!("never");
            m["tables"][0]["prefix"] = json!(1);
            m["tables"][1]["id"] = json!("");
        }),
        &[
            "defaults: missing_policy: unknown policy 'never'",
            r#"tables[0] (id "smoke_table_a"): prefix: must be a string, got 1"#,
            "tables[1]: id: must not be empty",
        ],
    );
}

#[test]
fn missing_or_unparsable_manifest_is_a_usage_error() {
    let ws = Workspace::new();
    let run = ws
        .run(&["batch", "--manifest", "nowhere/batch.json"])
        .fails_with(2);
    assert!(
        run.stderr
            .contains("nowhere/batch.json: cannot read the batch manifest"),
        "{}",
        run.stderr
    );
    ws.write("broken.json", "{\"tables\": [\n  {\"id\": \"a\",}\n]}\n");
    let run = ws
        .run(&["batch", "--manifest", "broken.json"])
        .fails_with(2);
    assert!(
        run.stderr
            .contains("broken.json:2:14: the batch manifest is not valid JSON: trailing comma"),
        "{}",
        run.stderr
    );
    ws.write("list.json", "[]");
    let run = ws.run(&["batch", "--manifest", "list.json"]).fails_with(2);
    assert!(
        run.stderr
            .contains("list.json: manifest: must be a JSON object with `defaults` and `tables`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(!ws.registry().exists());
}

#[test]
fn an_unwritable_report_runs_no_table() {
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", &smoke_manifest());
    ws.write("reports", "a file where a folder would go");
    let run = run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "batch.json",
            "--report-json",
            "reports/r.json",
        ],
    )
    .fails_with(1);
    assert!(
        run.stderr
            .contains("reports/r.json: cannot write the batch report"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("out").exists());
}

// ------------------------------------------------------------ failing tables

/// Three tables under `missing_policy: fail`; the middle one lacks scores
/// for its rows.
fn one_broken_manifest() -> Value {
    json!({
        "defaults": {"missing_policy": "fail"},
        "tables": [
            {"id": "first", "features": "fixtures/features_a.jsonl",
             "scores": ["fork-nr=fixtures/scores_fork_nr_a.jsonl"], "out": "out/first.jsonl"},
            {"id": "broken", "features": "fixtures/features_b.jsonl",
             "scores": ["fork-nr=fixtures/scores_fork_nr_a.jsonl"], "out": "out/broken.jsonl",
             "audit_json": "out/broken.audit.json"},
            {"id": "last", "features": "fixtures/features_b.jsonl",
             "scores": ["fork-nr=fixtures/scores_fork_nr_b.jsonl"], "out": "out/last.jsonl"}
        ]
    })
}

#[test]
fn a_failing_table_is_reported_and_the_others_run() {
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", &one_broken_manifest());
    let run = run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "batch.json",
            "--report-json",
            "r.json",
            "--report-md",
            "r.md",
        ],
    )
    .fails_with(1);
    assert!(
        run.stderr
            .contains("table broken: missing second-opinion scores: fork-nr=2"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            "second-opinion batch materialize: tables=3 input_rows=5 output_rows=5 failed_tables=1"
        )
    );
    assert!(ws.path("out/first.jsonl").exists());
    assert!(ws.path("out/last.jsonl").exists());
    assert!(!ws.path("out/broken.jsonl").exists());
    assert!(!ws.path("out/broken.audit.json").exists());

    let report = read_json(&ws.path("r.json"));
    assert_eq!(report["status"], "failed");
    assert_eq!(
        report["summary"],
        json!({"tables": 3, "failed_tables": 1, "input_rows": 5, "output_rows": 5})
    );
    let broken = &report["tables"][1];
    assert_eq!(broken["status"], "error");
    assert_eq!(broken["error"], "missing second-opinion scores: fork-nr=2");
    assert!(broken.get("summary").is_none());
    assert_eq!(broken["config"], json!({"missing_policy": "fail"}));
    assert_eq!(report["tables"][2]["status"], "ok");
    let markdown = std::fs::read_to_string(ws.path("r.md")).unwrap();
    assert!(markdown.contains("Status: **failed**"), "{markdown}");
    assert!(
        markdown.contains("| broken | error | - | - | `out/broken.jsonl` |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| last | ok | 2 | 2 | `out/last.jsonl` |"),
        "{markdown}"
    );
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", &one_broken_manifest());
    let run = run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "batch.json",
            "--fail-fast",
            "--report-json",
            "r.json",
            "--report-md",
            "r.md",
        ],
    )
    .fails_with(1);
    assert!(
        run.stderr.contains("--fail-fast: 1 table(s) not run: last"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some(
            "second-opinion batch materialize: tables=2 input_rows=3 output_rows=3 failed_tables=1"
        )
    );
    assert!(ws.path("out/first.jsonl").exists());
    assert!(!ws.path("out/last.jsonl").exists());
    let report = read_json(&ws.path("r.json"));
    let listed: Vec<(&str, &str)> = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("first", "ok"), ("broken", "error")]);
    assert_eq!(report["summary"]["tables"], 2);
    assert_eq!(report["run_provenance"]["args"]["fail_fast"], true);
    let markdown = std::fs::read_to_string(ws.path("r.md")).unwrap();
    assert!(!markdown.contains("| last |"), "{markdown}");
}

// ---------------------------------------------------------------- registry

#[test]
fn a_registry_on_the_command_line_is_shared_by_every_table() {
    let ws = smoke_workspace("");
    ws.write(
        "fixtures/scores_fork_nr_all.jsonl",
        [SCORES_A, SCORES_B].concat(),
    );
    write_manifest(
        &ws,
        "batch.json",
        &json!({"tables": [
            {"id": "a", "features": "fixtures/features_a.jsonl",
             "scores": ["fork-nr=fixtures/scores_fork_nr_all.jsonl"], "out": "out/a.jsonl"},
            {"id": "b", "features": "fixtures/features_b.jsonl",
             "scores": ["fork-nr=fixtures/scores_fork_nr_all.jsonl"], "out": "out/b.jsonl",
             "audit_json": "out/b.audit.json"}
        ]}),
    );
    ws.run(&[
        "batch",
        "--manifest",
        "batch.json",
        "--report-json",
        "r.json",
    ])
    .ok();
    // One file, ingested once: the second table found its bytes there.
    assert_eq!(
        sql_rows(&ws, "SELECT path FROM source_files"),
        [json!(["fixtures/scores_fork_nr_all.jsonl"])]
    );
    assert_eq!(sql_rows(&ws, "SELECT count(*) FROM scores"), [json!([5])]);
    assert_eq!(
        fork_nr(&read_jsonl(&ws.path("out/a.jsonl"))),
        [ok(71.0), ok(66.5), ok(60.0)]
    );
    assert_eq!(
        fork_nr(&read_jsonl(&ws.path("out/b.jsonl"))),
        [ok(55.0), ok(48.0)]
    );
    // Both exports are recorded in the registry.
    let exports = ws.run(&["exports", "--json"]).ok().json();
    assert_eq!(exports.as_array().unwrap().len(), 2);
    let report = read_json(&ws.path("r.json"));
    assert_eq!(report["run_provenance"]["registry"], arg(&ws.registry()));
    assert_eq!(
        report["tables"][1]["summary"]["second_opinion_provenance"]["registry"],
        arg(&ws.registry())
    );
}

#[test]
fn the_registry_variable_alone_keeps_nothing() {
    let ws = smoke_workspace("");
    write_manifest(&ws, "batch.json", &smoke_manifest());
    let run = Run::from(
        bare(&ws)
            .env("SECOND_OPINION_REGISTRY", ws.registry())
            .args(["batch", "--manifest", "batch.json"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(run.stderr.contains("tables=2"), "{}", run.stderr);
    assert!(!ws.registry().exists());
}

// ------------------------------------------------------------ relative paths

#[test]
fn relative_paths_resolve_against_the_manifest_folder() {
    let ws = smoke_workspace("project/");
    write_manifest(&ws, "project/batch.json", &smoke_manifest());
    let run = run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "project/batch.json",
            "--report-json",
            "r.json",
        ],
    )
    .ok();
    assert!(
        run.stderr.contains("tables=2 input_rows=5"),
        "{}",
        run.stderr
    );
    assert!(ws.path("project/out/smoke_table_a.jsonl").exists());
    assert!(ws.path("project/out/smoke_table_a.audit.json").exists());
    assert!(ws.path("project/out/smoke_table_b.jsonl").exists());
    assert!(!ws.path("out").exists());
    let report = read_json(&ws.path("r.json"));
    let a = &report["tables"][0];
    assert_eq!(report["manifest"], "project/batch.json");
    assert_eq!(a["features"], "project/fixtures/features_a.jsonl");
    assert_eq!(
        a["scores"],
        json!(["fork-nr=project/fixtures/scores_fork_nr_a.jsonl"])
    );
    assert_eq!(a["out"], "project/out/smoke_table_a.jsonl");
    assert_eq!(a["audit_json"], "project/out/smoke_table_a.audit.json");
    // The source column names the score file as materialize was given it.
    let rows = read_jsonl(&ws.path("project/out/smoke_table_a.jsonl"));
    assert_eq!(
        rows[0]["second_opinion_fork_nr_source"],
        "project/fixtures/scores_fork_nr_a.jsonl"
    );
}

#[test]
fn base_dir_overrides_the_manifest_folder() {
    let ws = smoke_workspace("data/");
    write_manifest(&ws, "manifests/batch.json", &smoke_manifest());
    run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "manifests/batch.json",
            "--base-dir",
            "data",
            "--report-json",
            "r.json",
        ],
    )
    .ok();
    assert!(ws.path("data/out/smoke_table_a.jsonl").exists());
    assert!(ws.path("data/out/smoke_table_b.jsonl").exists());
    assert!(!ws.path("manifests/out").exists());
    let report = read_json(&ws.path("r.json"));
    assert_eq!(report["tables"][1]["out"], "data/out/smoke_table_b.jsonl");
    assert_eq!(report["run_provenance"]["args"]["base_dir"], "data");

    // `--base-dir .` spells paths as written, as the reference's pathlib does.
    let ws = smoke_workspace("");
    write_manifest(&ws, "manifests/batch.json", &smoke_manifest());
    run_bare(
        &ws,
        &[
            "batch",
            "--manifest",
            "manifests/batch.json",
            "--base-dir",
            ".",
            "--report-json",
            "r.json",
        ],
    )
    .ok();
    let report = read_json(&ws.path("r.json"));
    assert_eq!(report["tables"][0]["out"], "out/smoke_table_a.jsonl");
    assert!(ws.path("out/smoke_table_a.jsonl").exists());
}

#[test]
fn absolute_paths_are_taken_as_written() {
    let ws = smoke_workspace("data/");
    let features = ws.path("data/fixtures/features_b.jsonl");
    let out = ws.path("elsewhere/b.jsonl");
    write_manifest(
        &ws,
        "manifests/batch.json",
        &json!({"tables": [{
            "id": "b", "features": arg(&features),
            "scores": [format!("fork-nr={}", arg(&ws.path("data/fixtures/scores_fork_nr_b.jsonl")))],
            "out": arg(&out)
        }]}),
    );
    run_bare(&ws, &["batch", "--manifest", "manifests/batch.json"]).ok();
    assert_eq!(fork_nr(&read_jsonl(&out)), [ok(55.0), ok(48.0)]);
}
