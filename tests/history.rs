//! The registry's history (issue 14): every ingest a point in time, exports
//! as of any earlier point, replays, diffs, tags, and the upgrade of a
//! registry made by the previous schema.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Run, Workspace};
use serde_json::{json, Value};

const CLIPS: usize = 100_000;

/// DOVER scores for every clip; `changed` clips get another value.
fn dover_scores(changed: &[usize]) -> String {
    let mut text = String::with_capacity(CLIPS * 80);
    for clip in 0..CLIPS {
        let score = if changed.contains(&clip) {
            10.0 + (clip % 50) as f64 / 8.0
        } else {
            40.0 + (clip % 400) as f64 / 16.0
        };
        writeln!(
            text,
            r#"{{"filename": "clip_{clip:06}.mp4", "competitor": "DOVER", "score": {score}}}"#
        )
        .unwrap();
    }
    text
}

/// The first `rows` lines of [`dover_scores`].
fn first_scores(changed: &[usize], rows: usize) -> String {
    dover_scores(changed)
        .lines()
        .take(rows)
        .collect::<Vec<_>>()
        .join("\n")
}

fn features(rows: usize) -> String {
    let mut text = String::from("clip_id,vmaf,adm2\n");
    for clip in 0..rows {
        writeln!(text, "clip_{clip:06}.mp4,{}.5,0.{}", clip % 97, clip % 13).unwrap();
    }
    text
}

/// The stderr line `export` ends with: `recorded as export N at seq:S …`.
fn recorded_id(run: &Run) -> String {
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("recorded as export "))
        .unwrap_or_else(|| panic!("no record line in:\n{}", run.stderr));
    line["recorded as export ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

fn read(ws: &Workspace, name: &str) -> Vec<u8> {
    std::fs::read(ws.path(name)).unwrap()
}

#[test]
fn a_retrain_is_reproduced_compared_and_replayed_after_a_replace() {
    let ws = Workspace::new();
    ws.write("features.csv", features(CLIPS));
    ws.write("dover.jsonl", dover_scores(&[]));
    ws.run(&["ingest", "dover.jsonl"]).ok();
    let first = ws
        .run(&[
            "export",
            "--features",
            "features.csv",
            "--out",
            "retrain-1.parquet",
            "--tag",
            "retrain-1",
            "--note",
            "first model",
        ])
        .ok();
    let e1 = recorded_id(&first);
    assert!(first.stderr.contains("at seq:1"), "{}", first.stderr);

    // A fixed DOVER run changes 1,000 of the 100,000 scores; a new scorer
    // arrives.
    let changed: Vec<usize> = (0..CLIPS).step_by(CLIPS / 1000).collect();
    assert_eq!(changed.len(), 1000);
    ws.write("dover-fixed.jsonl", dover_scores(&changed));
    let replace = ws.run(&["ingest", "--replace", "dover-fixed.jsonl"]).ok();
    assert!(
        replace
            .stderr
            .contains("100000 replaced (1000 changed, 99000 identical)"),
        "{}",
        replace.stderr
    );
    let mut musiq = String::new();
    for clip in 0..500 {
        writeln!(musiq, "clip_{clip:06}.mp4,{}", 30 + clip % 40).unwrap();
    }
    ws.write("musiq.csv", format!("name,score\n{musiq}"));
    ws.run(&["ingest", "musiq=musiq.csv"]).ok();
    let second = ws
        .run(&[
            "export",
            "--features",
            "features.csv",
            "--out",
            "retrain-2.parquet",
        ])
        .ok();
    let e2 = recorded_id(&second);
    assert!(second.stderr.contains("at seq:3"), "{}", second.stderr);

    // The first retrain's table, byte for byte, from the registry as it was.
    ws.run(&[
        "export",
        "--features",
        "features.csv",
        "--out",
        "again.parquet",
        "--as-of",
        &e1,
    ])
    .ok();
    assert_eq!(read(&ws, "again.parquet"), read(&ws, "retrain-1.parquet"));
    ws.run(&[
        "export",
        "--features",
        "features.csv",
        "--out",
        "again-by-tag.parquet",
        "--as-of",
        "retrain-1",
    ])
    .ok();
    assert_eq!(
        read(&ws, "again-by-tag.parquet"),
        read(&ws, "retrain-1.parquet")
    );
    let listed = ws.run(&["exports", "--json"]).ok().json();
    let record = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == json!(id.parse::<i64>().unwrap()))
            .unwrap()
            .clone()
    };
    let (r1, r3) = (record(&e1), record("3"));
    assert_eq!(r1["tags"], json!(["retrain-1"]));
    assert_eq!(r1["note"], json!("first model"));
    assert_eq!(r3["seq"], r1["seq"]);
    assert_eq!(r3["as_of"], json!(e1));
    assert_eq!(r3["content_digest"], r1["content_digest"]);
    assert_eq!(r3["registry_state"], r1["registry_state"]);
    assert_ne!(record(&e2)["content_digest"], r1["content_digest"]);

    // Replay: the content and the bytes match, nothing is written.
    let replay = ws.run(&["exports", "replay", &e1, "--json"]).ok().json();
    assert_eq!(replay["recorded_content"], replay["replayed_content"]);
    assert_eq!(replay["bytes_match"], json!(true));
    assert_eq!(replay["written"], Value::Null);
    ws.run(&[
        "exports",
        "replay",
        "retrain-1",
        "--out",
        "replayed.parquet",
    ])
    .ok();
    assert_eq!(
        read(&ws, "replayed.parquet"),
        read(&ws, "retrain-1.parquet")
    );

    // The diff names exactly the 1,000 changed keys and the new scorer.
    let diff = ws
        .run(&["exports", "diff", &e1, &e2, "--rows", "--json"])
        .ok()
        .json();
    let dover = &diff["scorers"][0];
    assert_eq!(dover["name"], json!("DOVER"));
    assert_eq!(
        (&dover["changed"], &dover["added"], &dover["removed"]),
        (&json!(1000), &json!(0), &json!(0))
    );
    let keys: Vec<String> = dover["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = changed
        .iter()
        .map(|clip| format!("clip_{clip:06}.mp4"))
        .collect();
    assert_eq!(keys, expected);
    let first_change = &dover["keys"][0];
    assert_eq!(first_change["old"]["score"], json!(40.0));
    assert_eq!(first_change["new"]["score"], json!(10.0));
    assert_eq!(first_change["old"]["path"], json!("dover.jsonl"));
    assert_eq!(first_change["new"]["path"], json!("dover-fixed.jsonl"));
    assert_eq!(first_change["new"]["line"], json!(1));
    let musiq = &diff["scorers"][1];
    assert_eq!(
        (&musiq["name"], &musiq["added"], &musiq["rows_a"]),
        (&json!("musiq"), &json!(500), &json!(0))
    );
    assert_eq!(diff["exports"]["features_differ"], json!(false));
    assert_eq!(diff["exports"]["options_differ"], json!([]));
    // Counts first, in text.
    let text = ws.run(&["exports", "diff", &e1, &e2]).ok().stdout;
    assert!(
        text.contains("DOVER: 1000 changed, 0 added, 0 removed (100000 rows at A, 100000 at B)"),
        "{text}"
    );
    assert!(
        text.contains("musiq (new scorer): 0 changed, 500 added"),
        "{text}"
    );

    // What the first export read, and where it came from.
    let shown = ws.run(&["exports", "show", &e1, "--json"]).ok().json();
    assert_eq!(shown["scorers"][0]["live_rows"], json!(CLIPS));
    assert_eq!(
        shown["scorers"][0]["files"][0]["path"],
        json!("dover.jsonl")
    );
    assert_eq!(shown["scorers"].as_array().unwrap().len(), 1);

    // Which row was live for a clip at each export.
    let history = ws
        .run(&[
            "provenance",
            "--scorer",
            "dover",
            "--key",
            "clip_000000.mp4",
            "--as-of",
            &e1,
            "--json",
        ])
        .ok()
        .json();
    let live_then: Vec<(&Value, &Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (&e["score"], &e["live_at_point"]))
        .collect();
    assert_eq!(
        live_then,
        [(&json!(10.0), &json!(false)), (&json!(40.0), &json!(true))]
    );
}

#[test]
fn a_replay_refuses_a_changed_table_and_a_changed_content() {
    let ws = Workspace::new();
    ws.write("features.csv", features(50));
    ws.write("dover.jsonl", first_scores(&[], 50));
    ws.run(&["ingest", "dover.jsonl"]).ok();
    ws.run(&[
        "export",
        "--features",
        "features.csv",
        "--out",
        "out.parquet",
    ])
    .ok();

    // The feature table changed: both hashes named, nothing written.
    let original = read(&ws, "features.csv");
    ws.write("features.csv", features(49));
    let run = ws
        .run(&["exports", "replay", "1", "--out", "replayed.parquet"])
        .fails_with(1);
    assert!(
        run.stderr.contains("features.csv changed since export 1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("export --as-of 1"), "{}", run.stderr);
    assert!(!ws.path("replayed.parquet").exists());
    std::fs::remove_file(ws.path("features.csv")).unwrap();
    let run = ws.run(&["exports", "replay", "1"]).fails_with(1);
    assert!(run.stderr.contains("is not there"), "{}", run.stderr);
    // Elsewhere, with the same bytes, it replays.
    ws.write("moved/features.csv", &original);
    ws.run(&["exports", "replay", "1", "--features", "moved/features.csv"])
        .ok();

    // A score edited behind the registry's back: the content differs,
    // the replay fails and keeps nothing.
    ws.sqlite()
        .execute(
            "UPDATE scores SET score = 1.0 WHERE key = 'clip_000003.mp4'",
            [],
        )
        .unwrap();
    let run = ws
        .run(&[
            "exports",
            "replay",
            "1",
            "--features",
            "moved/features.csv",
            "--out",
            "replayed.parquet",
        ])
        .fails_with(1);
    assert!(run.stdout.contains("content: DIFFERS"), "{}", run.stdout);
    assert!(
        run.stdout.contains("DOVER: scores differ"),
        "{}",
        run.stdout
    );
    assert!(!ws.path("replayed.parquet").exists());
}

#[test]
fn refs_that_name_nothing_say_what_exists() {
    let ws = Workspace::new();
    ws.write("features.csv", features(5));
    ws.write("dover.jsonl", first_scores(&[], 5));
    ws.run(&["ingest", "dover.jsonl"]).ok();
    ws.run(&["export", "--features", "features.csv", "--out", "out.csv"])
        .ok();
    let before = ws.registry_snapshot();
    let export_as_of = |reference: &str| {
        ws.run(&[
            "export",
            "--features",
            "features.csv",
            "--out",
            "as-of.csv",
            "--as-of",
            reference,
        ])
    };
    for (reference, code, message) in [
        ("41", 1, "no export 41: exports run from 1 to 1"),
        (
            "seq:7",
            1,
            "no point seq:7: the registry's points run from seq:1 to seq:1",
        ),
        ("seq:0", 1, "no point seq:0"),
        ("retrain-9", 1, "no tag 'retrain-9': no point is tagged yet"),
        (
            "2001-01-01T00:00:00Z",
            1,
            "is before the registry's first point (seq:1 at ",
        ),
        ("2999-01-01T00:00:00Z", 1, "is in the future"),
        ("2026-12-01", 2, "is not an RFC 3339 time"),
        ("2026-12-01T25:00:00Z", 2, "is not an RFC 3339 time"),
        ("seq:x", 2, "is not a sequence number"),
        ("a b", 2, "is not a REF"),
    ] {
        let run = export_as_of(reference).fails_with(code);
        assert!(run.stderr.contains(message), "{reference}: {}", run.stderr);
        assert!(!ws.path("as-of.csv").exists(), "{reference}");
    }
    assert_eq!(
        ws.registry_snapshot(),
        before,
        "a failed command changed nothing"
    );
    let run = ws.run(&["exports", "show", "seq:1"]).fails_with(1);
    assert!(
        run.stderr.contains("names a point (seq:1), not an export"),
        "{}",
        run.stderr
    );
    ws.run(&["exports", "replay", "9"]).fails_with(1);
}

#[test]
fn tags_are_unique_and_immutable() {
    let ws = Workspace::new();
    ws.write("features.csv", features(5));
    ws.write("dover.jsonl", first_scores(&[], 5));
    ws.run(&["ingest", "dover.jsonl"]).ok();
    ws.run(&["exports", "tag", "before-export", "seq:1"]).ok();
    ws.run(&[
        "export",
        "--features",
        "features.csv",
        "--out",
        "out.csv",
        "--tag",
        "v1",
    ])
    .ok();
    let run = ws.run(&["exports", "tag", "v1", "seq:1"]).fails_with(1);
    assert!(
        run.stderr
            .contains("tag 'v1' already names seq:1, export 1"),
        "{}",
        run.stderr
    );
    // A taken tag refuses an export before it writes anything.
    let run = ws
        .run(&[
            "export",
            "--features",
            "features.csv",
            "--out",
            "out2.csv",
            "--tag",
            "v1",
        ])
        .fails_with(1);
    assert!(run.stderr.contains("tags are immutable"), "{}", run.stderr);
    assert!(!ws.path("out2.csv").exists());
    assert_eq!(
        ws.run(&["exports", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    ws.run(&["exports", "tag", "9lives", "1"]).fails_with(2);
    // A tag of a tag names the same export; a tag of a point names none.
    ws.run(&["exports", "tag", "v1-again", "v1"]).ok();
    ws.run(&["exports", "show", "v1-again"]).ok();
    ws.run(&["exports", "show", "before-export"]).fails_with(1);
    let listed = ws.run(&["exports"]).ok().stdout;
    assert!(listed.contains("v1,v1-again"), "{listed}");
}

#[test]
fn an_upgraded_registry_replays_the_exports_it_recorded_before() {
    let ws = Workspace::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/registry-v6");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), ws.path(entry.file_name().to_str().unwrap())).unwrap();
    }
    std::fs::rename(ws.path("registry.sqlite"), ws.registry()).unwrap();
    let version = |ws: &Workspace| -> i64 {
        ws.sqlite()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(version(&ws), 6);
    let listed = ws.run(&["exports", "--json"]).ok().json();
    assert!(version(&ws) > 6);
    assert_eq!(listed[0]["seq"], json!(2));
    assert_eq!(listed[1]["seq"], json!(3));
    assert_eq!(listed[0]["seq_inferred"], json!(true));
    for id in ["1", "2"] {
        let replay = ws.run(&["exports", "replay", id, "--json"]).ok().json();
        assert_eq!(replay["bytes_match"], json!(true), "export {id}");
        assert_eq!(replay["recorded_content"], Value::Null);
    }
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "again.parquet",
        "--as-of",
        "1",
    ])
    .ok();
    assert_eq!(read(&ws, "again.parquet"), read(&ws, "export-1.parquet"));
    let diff = ws
        .run(&["exports", "diff", "1", "2", "--rows", "--json"])
        .ok()
        .json();
    let dover = &diff["scorers"][0];
    assert_eq!((&dover["changed"], &dover["added"]), (&json!(2), &json!(1)));
    assert_eq!(diff["exports"]["options_differ"], json!(["scorers"]));
    // New ingests continue the points after the files already there.
    ws.write(
        "late.jsonl",
        r#"{"filename": "A001.mp4", "competitor": "late", "score": 1}"#,
    );
    ws.run(&["ingest", "late.jsonl"]).ok();
    let seqs = common::sql_rows(&ws, "SELECT seq, kind FROM changes ORDER BY seq");
    assert_eq!(
        seqs,
        [
            json!([1, "ingest"]),
            json!([2, "ingest"]),
            json!([3, "ingest"]),
            json!([4, "ingest"])
        ]
    );
}

#[test]
fn the_scores_alone_as_a_table_at_any_point() {
    let ws = Workspace::new();
    ws.write("dover.jsonl", first_scores(&[], 3));
    ws.run(&["ingest", "dover.jsonl"]).ok();
    ws.write("dover-fixed.jsonl", first_scores(&[1], 3));
    ws.run(&["ingest", "--replace", "dover-fixed.jsonl"]).ok();
    let run = ws
        .run(&[
            "export",
            "--scores-only",
            "--out",
            "now.csv",
            "--tag",
            "scores-now",
        ])
        .ok();
    assert!(
        run.stderr
            .contains("3 scores written (scorers: DOVER) at seq:2"),
        "{}",
        run.stderr
    );
    ws.run(&[
        "export",
        "--scores-only",
        "--out",
        "then.csv",
        "--as-of",
        "seq:1",
    ])
    .ok();
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(ws.path(name))
            .unwrap()
            .lines()
            .map(|l| {
                // Up to the sha256: the ingest time differs per run.
                l.split(',').take(8).collect::<Vec<_>>().join(",")
            })
            .collect()
    };
    assert_eq!(
        lines("now.csv"),
        [
            "key,scorer,score,status,runtime_ms,frames,source_path,line",
            "clip_000000.mp4,DOVER,40.0,ok,,0,dover-fixed.jsonl,1",
            "clip_000001.mp4,DOVER,10.125,ok,,0,dover-fixed.jsonl,2",
            "clip_000002.mp4,DOVER,40.125,ok,,0,dover-fixed.jsonl,3",
        ]
    );
    assert_eq!(
        lines("then.csv")[2],
        "clip_000001.mp4,DOVER,40.0625,ok,,0,dover.jsonl,2"
    );
    // Parquet carries the point and the digests; the export replays.
    ws.run(&[
        "export",
        "--scores-only",
        "--out",
        "then.parquet",
        "--as-of",
        "seq:1",
    ])
    .ok();
    let file = std::fs::File::open(ws.path("then.parquet")).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = reader.schema().metadata().clone();
    assert_eq!(metadata["second_opinion.point"], "1");
    let scorers: Value = serde_json::from_str(&metadata["second_opinion.scorers"]).unwrap();
    assert_eq!(scorers["DOVER"]["live_rows"], json!(3));
    ws.run(&["exports", "replay", "scores-now"]).ok();
    // The join flags do not apply.
    ws.run(&[
        "export",
        "--scores-only",
        "--out",
        "x.csv",
        "--key-column",
        "k",
    ])
    .fails_with(2);
}

#[test]
fn materialize_into_a_registry_takes_a_tag_and_a_note() {
    let ws = Workspace::new();
    ws.write("features.csv", features(3));
    ws.write("dover.jsonl", first_scores(&[], 3));
    let materialize = |extra: &[&str]| {
        let mut args = vec![
            "materialize",
            "--features",
            "features.csv",
            "--scores",
            "dover.jsonl",
            "--out",
            "out.csv",
        ];
        args.extend_from_slice(extra);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_second-opinion"));
        command
            .current_dir(ws.dir.path())
            .env_remove("SECOND_OPINION_REGISTRY")
            .args(&args);
        Run::from(command.output().unwrap())
    };
    let run = materialize(&["--tag", "t1"]).fails_with(2);
    assert!(
        run.stderr.contains("pass --registry PATH"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("out.csv").exists());
    let registry = ws.registry();
    let registry = registry.to_str().unwrap();
    materialize(&["--registry", registry, "--tag", "t1", "--note", "one-shot"]).ok();
    let listed = ws.run(&["exports", "--json"]).ok().json();
    assert_eq!(listed[0]["command"], json!("materialize"));
    assert_eq!(listed[0]["tags"], json!(["t1"]));
    assert_eq!(listed[0]["note"], json!("one-shot"));
    // The tag is taken: refused before anything is written.
    std::fs::remove_file(ws.path("out.csv")).unwrap();
    materialize(&["--registry", registry, "--tag", "t1"]).fails_with(1);
    assert!(!ws.path("out.csv").exists());
    ws.run(&["exports", "replay", "t1"]).ok();
}
