//! Corrections (issue 14): each is a new point in time, exports as of a
//! point before it read what was live then, and nothing is deleted.

mod common;

use common::{Run, Workspace};
use serde_json::{json, Value};

fn jsonl(scorer: &str, rows: &[(&str, f64)]) -> String {
    rows.iter()
        .map(|(key, score)| {
            format!("{{\"filename\": \"/corpus/{key}.mp4\", \"competitor\": \"{scorer}\", \"score\": {score}}}\n")
        })
        .collect()
}

const FEATURES: &str = "clip_id,vmaf\nk1.mp4,1\nk2.mp4,2\nk3.mp4,3\n";

/// Export onto the features as JSON Lines and return (score, status) of
/// `slug` per row.
fn export(ws: &Workspace, out: &str, extra: &[&str]) -> (Run, Vec<(Value, Value)>) {
    let mut args = vec!["export", "--features", "features.csv", "--out", out];
    args.extend_from_slice(extra);
    let run = ws.run(&args).ok();
    let rows: Vec<Value> = std::fs::read_to_string(ws.path(out))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pairs = rows
        .iter()
        .map(|row| {
            let score = row
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.ends_with("_score"))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            let status = row
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.ends_with("_status"))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            (score, status)
        })
        .collect();
    (run, pairs)
}

fn bytes(ws: &Workspace, name: &str) -> Vec<u8> {
    std::fs::read(ws.path(name)).unwrap()
}

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write("features.csv", FEATURES);
    ws
}

#[test]
fn retiring_a_file_supersedes_its_rows_and_can_restore_what_it_replaced() {
    let ws = workspace();
    ws.write("a.jsonl", jsonl("dover", &[("k1", 10.0), ("k2", 20.0)]));
    ws.write("b.jsonl", jsonl("dover", &[("k1", 11.0), ("k3", 30.0)]));
    ws.run(&["ingest", "a.jsonl"]).ok();
    ws.run(&["ingest", "--replace", "b.jsonl"]).ok();
    let (_, before) = export(&ws, "e1.jsonl", &[]);
    assert_eq!(
        before,
        [
            (json!(11.0), json!("ok")),
            (json!(20.0), json!("ok")),
            (json!(30.0), json!("ok"))
        ]
    );
    let snapshot = ws.registry_snapshot();
    let retired = ws.run(&["files", "retire", "b.jsonl"]).ok();
    assert!(
        retired.stdout.contains("2 live rows superseded"),
        "{}",
        retired.stdout
    );
    assert!(
        retired
            .stdout
            .contains("1 rows it had superseded stay superseded (pass --restore-previous"),
        "{}",
        retired.stdout
    );
    let (_, after) = export(&ws, "e2.jsonl", &[]);
    assert_eq!(
        after,
        [
            (Value::Null, json!("missing")),
            (json!(20.0), json!("ok")),
            (Value::Null, json!("missing"))
        ]
    );
    // Nothing was deleted: every row that was there is there.
    let kept = ws.registry_snapshot();
    for line in snapshot.iter().filter(|l| l.starts_with("scores|")) {
        let id = line.split('|').nth(1).unwrap();
        assert!(
            kept.iter().any(|k| k.starts_with(&format!("scores|{id}|"))),
            "row {id} is gone"
        );
    }
    // As of the first export: the same table.
    export(&ws, "e1-again.jsonl", &["--as-of", "1"]);
    assert_eq!(bytes(&ws, "e1-again.jsonl"), bytes(&ws, "e1.jsonl"));
    // Retired twice: refused, nothing changes.
    let before_again = ws.registry_snapshot();
    let run = ws.run(&["files", "retire", "b.jsonl"]).fails_with(1);
    assert!(
        run.stderr.contains("was retired at seq:3"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.registry_snapshot(), before_again);
    let run = ws.run(&["files", "retire", "nothing.jsonl"]).fails_with(1);
    assert!(
        run.stderr.contains("no ingested file is 'nothing.jsonl'"),
        "{}",
        run.stderr
    );

    // The same bytes retired are no longer "already ingested": ingesting
    // them again makes them live again, and then --restore-previous on a
    // second retirement brings back a's k1.
    ws.run(&["ingest", "--replace", "b.jsonl"]).ok();
    let restored = ws
        .run(&["files", "retire", "--restore-previous", "--json", "4"])
        .ok()
        .json();
    assert_eq!(
        (
            &restored["retired"],
            &restored["previous"],
            &restored["restored"]
        ),
        (&json!(2), &json!(0), &json!(0))
    );
    // A file that replaced rows of a: retire with --restore-previous.
    ws.write("c.jsonl", jsonl("dover", &[("k2", 21.0)]));
    ws.run(&["ingest", "--replace", "c.jsonl"]).ok();
    let run = ws
        .run(&["files", "retire", "--restore-previous", "c.jsonl"])
        .ok();
    assert!(
        run.stdout
            .contains("1 rows it had superseded are live again"),
        "{}",
        run.stdout
    );
    // `files` counts the restored copy as a.jsonl's live row (its k1 stays
    // superseded: the first b.jsonl replaced it, and only the second,
    // which replaced nothing, was retired with --restore-previous).
    let files = ws.run(&["files", "--json"]).ok().json();
    let live_rows: Vec<(&Value, &Value)> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (&f["path"], &f["live_rows"]))
        .collect();
    assert_eq!(
        live_rows,
        [
            (&json!("a.jsonl"), &json!(1)),
            (&json!("b.jsonl"), &json!(0)),
            (&json!("b.jsonl"), &json!(0)),
            (&json!("c.jsonl"), &json!(0))
        ]
    );
    let (_, restored_table) = export(&ws, "e3.jsonl", &[]);
    assert_eq!(restored_table[1], (json!(20.0), json!("ok")));
    let provenance = ws
        .run(&[
            "provenance",
            "--scorer",
            "dover",
            "--key",
            "k2.mp4",
            "--json",
        ])
        .ok()
        .json();
    let live = provenance
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["live"] == json!(true))
        .unwrap();
    assert_eq!(
        (&live["path"], &live["line"]),
        (&json!("a.jsonl"), &json!(2))
    );
}

#[test]
fn the_same_bytes_with_other_options_are_refused_or_replace_the_earlier_ingest() {
    let ws = Workspace::new();
    ws.write("features.csv", "clip_id,vmaf\nk1.mp4,1\nk2.mp4,2\n");
    ws.write("d.jsonl", jsonl("dover", &[("k1", 10.0), ("k2", 20.0)]));
    ws.run(&["ingest", "--key-normalize", "stem", "d.jsonl"])
        .ok();
    let before = ws.registry_snapshot();
    // Again with the same options: skipped, as before.
    let run = ws
        .run(&["ingest", "--key-normalize", "stem", "d.jsonl"])
        .ok();
    assert!(run.stderr.contains("already ingested"), "{}", run.stderr);
    // With other options: refused, naming the difference and the fix.
    let run = ws.run(&["ingest", "d.jsonl"]).fails_with(1);
    assert!(
        run.stderr
            .contains("these bytes were ingested as file 1 (d.jsonl) at "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("key_normalize stem then, auto now"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`--replace` ingests them again"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);
    // With --replace: the wrongly keyed rows go, whatever their keys.
    let run = ws.run(&["ingest", "--replace", "d.jsonl"]).ok();
    assert!(
        run.stderr
            .contains("superseded 2 live rows of the earlier ingest of these bytes"),
        "{}",
        run.stderr
    );
    let (_, rows) = export(&ws, "out.jsonl", &[]);
    assert_eq!(
        rows,
        [(json!(10.0), json!("ok")), (json!(20.0), json!("ok"))]
    );
    let diff = ws
        .run(&["exports", "diff", "seq:1", "seq:2", "--rows", "--json"])
        .ok()
        .json();
    let changes: Vec<(&Value, &Value)> = diff["scorers"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (&k["key"], &k["change"]))
        .collect();
    assert_eq!(
        changes,
        [
            (&json!("k1"), &json!("removed")),
            (&json!("k1.mp4"), &json!("added")),
            (&json!("k2"), &json!("removed")),
            (&json!("k2.mp4"), &json!("added"))
        ]
    );
    // The same bytes for another scorer are another ingest, not a re-ingest.
    ws.run(&["ingest", "--scorer", "dover-copy", "d.jsonl"])
        .ok();
}

#[test]
fn a_new_scale_judges_live_scores_again_and_as_of_keeps_the_old_judgement() {
    let ws = workspace();
    ws.write(
        "q.jsonl",
        jsonl("q-align", &[("k1", 3.5), ("k2", 101.0), ("k3", 60.0)]),
    );
    ws.run(&["ingest", "--scale", "0:100", "q.jsonl"]).ok();
    let (_, first) = export(&ws, "e1.jsonl", &[]);
    assert_eq!(
        first,
        [
            (json!(3.5), json!("ok")),
            (Value::Null, json!("bad")),
            (json!(60.0), json!("ok"))
        ]
    );
    // The number a bad row's file wrote is kept.
    let provenance = ws
        .run(&[
            "provenance",
            "--scorer",
            "q-align",
            "--key",
            "k2.mp4",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(provenance[0]["raw_value"], json!(101.0));
    let run = ws
        .run(&["scorers", "set", "q-align", "--scale", "0:200"])
        .ok();
    assert!(run.stdout.contains("0 now bad, 1 now ok"), "{}", run.stdout);
    let (_, wider) = export(&ws, "e2.jsonl", &[]);
    assert_eq!(wider[1], (json!(101.0), json!("ok")));
    let run = ws
        .run(&["scorers", "set", "q-align", "--scale", "1:5"])
        .ok();
    assert!(run.stdout.contains("2 now bad, 0 now ok"), "{}", run.stdout);
    let (_, narrow) = export(&ws, "e3.jsonl", &[]);
    assert_eq!(
        narrow,
        [
            (json!(3.5), json!("ok")),
            (Value::Null, json!("bad")),
            (Value::Null, json!("bad"))
        ]
    );
    for (id, file) in [("1", "e1.jsonl"), ("2", "e2.jsonl")] {
        export(&ws, "again.jsonl", &["--as-of", id]);
        assert_eq!(bytes(&ws, "again.jsonl"), bytes(&ws, file), "as of {id}");
    }
    // Setting what is already set is refused.
    let run = ws
        .run(&["scorers", "set", "q-align", "--scale", "1:5"])
        .fails_with(1);
    assert!(run.stderr.contains("nothing to change"), "{}", run.stderr);
    ws.run(&["scorers", "set", "q-align"]).fails_with(2);
}

#[test]
fn normalisation_as_of_uses_the_direction_then_in_force() {
    let ws = workspace();
    ws.write("m.jsonl", jsonl("metric", &[("k1", 25.0), ("k2", 75.0)]));
    ws.run(&[
        "ingest",
        "--scale",
        "0:100",
        "--higher-is-better",
        "m.jsonl",
    ])
    .ok();
    export(&ws, "e1.jsonl", &["--normalize"]);
    ws.run(&["scorers", "set", "metric", "--lower-is-better"])
        .ok();
    export(&ws, "e2.jsonl", &["--normalize"]);
    assert_ne!(bytes(&ws, "e1.jsonl"), bytes(&ws, "e2.jsonl"));
    export(&ws, "again.jsonl", &["--normalize", "--as-of", "1"]);
    assert_eq!(bytes(&ws, "again.jsonl"), bytes(&ws, "e1.jsonl"));
}

#[test]
fn rename_and_merge_change_columns_from_their_point_on() {
    let ws = workspace();
    ws.write("a.jsonl", jsonl("qa-koniq", &[("k1", 3.0)]));
    ws.write("b.jsonl", jsonl("qa-live", &[("k2", 4.0)]));
    ws.write("c.jsonl", jsonl("qa-live", &[("k1", 2.0)]));
    ws.run(&["ingest", "--scale", "1:5", "a.jsonl", "b.jsonl"])
        .ok();
    let columns = |name: &str| -> Vec<String> {
        let text = std::fs::read_to_string(ws.path(name)).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        first
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.ends_with("_score"))
            .cloned()
            .collect()
    };
    export(&ws, "e1.jsonl", &[]);
    assert_eq!(
        columns("e1.jsonl"),
        [
            "second_opinion_qa_koniq_score",
            "second_opinion_qa_live_score"
        ]
    );
    // Keys live for both are refused, as duplicates are at ingest.
    ws.run(&["ingest", "--scale", "1:5", "c.jsonl"]).ok();
    let before = ws.registry_snapshot();
    let run = ws
        .run(&["scorers", "merge", "qa-live", "qa-koniq"])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("1 keys are live for both 'qa-live' and 'qa-koniq' (first: k1.mp4)"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);
    ws.run(&["files", "retire", "c.jsonl"]).ok();
    let merged = ws.run(&["scorers", "merge", "qa-live", "qa-koniq"]).ok();
    assert!(
        merged.stdout.contains("1 live scores moved"),
        "{}",
        merged.stdout
    );
    ws.run(&["scorers", "rename", "qa-koniq", "Q-Align"]).ok();
    let (_, rows) = export(&ws, "e2.jsonl", &[]);
    assert_eq!(columns("e2.jsonl"), ["second_opinion_q_align_score"]);
    assert_eq!(
        rows,
        [
            (json!(3.0), json!("ok")),
            (json!(4.0), json!("ok")),
            (Value::Null, json!("missing"))
        ]
    );
    // A file naming the merged name now goes to the scorer it was merged into,
    // also when it names both.
    ws.write(
        "d.jsonl",
        format!(
            "{}{}",
            jsonl("qa-live", &[("k3", 5.0)]),
            jsonl("Q-Align", &[("k4", 1.0)])
        ),
    );
    ws.run(&["ingest", "--scale", "1:5", "d.jsonl"]).ok();
    let (_, rows) = export(&ws, "e3.jsonl", &[]);
    assert_eq!(rows[2], (json!(5.0), json!("ok")));
    // As of the first export: two blocks, old names, the same bytes.
    export(&ws, "again.jsonl", &["--as-of", "1"]);
    assert_eq!(bytes(&ws, "again.jsonl"), bytes(&ws, "e1.jsonl"));
    // A rename onto an existing scorer points to merge.
    ws.write("e.jsonl", jsonl("other", &[("k1", 1.0)]));
    ws.run(&["ingest", "e.jsonl"]).ok();
    let run = ws
        .run(&["scorers", "rename", "other", "q-align"])
        .fails_with(1);
    assert!(
        run.stderr.contains("scorers merge other Q-Align"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_scale_flag_never_silently_overrides_a_known_scorers_scale() {
    let ws = Workspace::new();
    ws.write("dover.csv", "name,score\nk1.mp4,50\n");
    ws.write("q.csv", "name,score\nk1.mp4,3.2\n");
    let before = ws.run(&["ingest", "q-align=q.csv", "--scale", "1:5"]).ok();
    assert!(
        before.stderr.contains("q-align: 1 rows ingested"),
        "{}",
        before.stderr
    );
    let snapshot = ws.registry_snapshot();
    let run = ws
        .run(&[
            "ingest",
            "dover=dover.csv",
            "qalign=q.csv",
            "--scale",
            "1:5",
        ])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("--scale 1:5 would override the documented scale 0:100 of scorer 'dover'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force-scale"), "{}", run.stderr);
    assert_eq!(
        ws.registry_snapshot()
            .iter()
            .filter(|l| l.starts_with("scores|"))
            .count(),
        snapshot.iter().filter(|l| l.starts_with("scores|")).count()
    );
    // Named alone, or forced, it is the user's call.
    ws.run(&["ingest", "--scorer", "dover", "dover.csv", "--scale", "1:5"])
        .ok();
    ws.write("dover2.csv", "name,score\nk2.mp4,3\n");
    ws.write("q2.csv", "name,score\nk2.mp4,3.3\n");
    ws.run(&[
        "ingest",
        "dover=dover2.csv",
        "qalign=q2.csv",
        "--scale",
        "1:5",
        "--force-scale",
    ])
    .ok();
}
