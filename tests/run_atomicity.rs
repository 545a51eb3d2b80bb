//! A failed run changes nothing: materialize with a kept registry, reports
//! that cannot be written, and the registry environment variable.

mod common;

use std::process::Command;

use common::Workspace;

fn bare(ws: &Workspace) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_second-opinion"));
    command
        .current_dir(ws.dir.path())
        .env_remove("SECOND_OPINION_REGISTRY");
    command
}

#[test]
fn a_failed_materialize_leaves_a_kept_registry_as_it_was() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        "{\"video_id\": \"a\"}\n{\"video_id\": \"b\"}\n",
    );
    ws.write(
        "s1.jsonl",
        "{\"video_id\": \"a\", \"competitor\": \"musiq\", \"score\": 1.0}\n",
    );
    ws.write(
        "other.jsonl",
        "{\"video_id\": \"z\", \"competitor\": \"dover\", \"score\": 50.0}\n",
    );
    ws.run(&["ingest", "other.jsonl"]).ok();
    let before = ws.registry_snapshot();
    let registry = ws.registry();
    let run = common::Run::from(
        bare(&ws)
            .args([
                "materialize",
                "--features",
                "features.jsonl",
                "--scores",
                "s1.jsonl",
            ])
            .args([
                "--out",
                "out.jsonl",
                "--missing-policy",
                "fail",
                "--registry",
            ])
            .arg(&registry)
            .output()
            .unwrap(),
    )
    .fails_with(1);
    assert!(
        run.stderr
            .contains("missing second-opinion scores: musiq=1"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("out.jsonl").exists());
    assert_eq!(
        ws.registry_snapshot(),
        before,
        "s1.jsonl must not stay in the registry"
    );

    // The same run without the failing policy keeps its scores and records the export.
    common::Run::from(
        bare(&ws)
            .args([
                "materialize",
                "--features",
                "features.jsonl",
                "--scores",
                "s1.jsonl",
                "--out",
                "out.jsonl",
            ])
            .args(["--registry"])
            .arg(&registry)
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(ws.dump("SELECT COUNT(*) FROM exports"), ["Integer(1)"]);
    assert_eq!(ws.dump("SELECT COUNT(*) FROM scores"), ["Integer(2)"]);
}

#[test]
fn materialize_ignores_the_registry_environment_variable() {
    let ws = Workspace::new();
    ws.write("features.jsonl", "{\"video_id\": \"a\"}\n");
    ws.write(
        "s.jsonl",
        "{\"video_id\": \"a\", \"competitor\": \"musiq\", \"score\": 1.0}\n",
    );
    common::Run::from(
        bare(&ws)
            .env("SECOND_OPINION_REGISTRY", ws.path("env.db"))
            .args([
                "materialize",
                "--features",
                "features.jsonl",
                "--scores",
                "s.jsonl",
                "--out",
                "o.jsonl",
            ])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(ws.path("o.jsonl").exists());
    assert!(
        !ws.path("env.db").exists(),
        "the reference's one-shot keeps nothing"
    );
}

#[test]
fn an_unwritable_report_fails_before_the_table_is_written() {
    let ws = Workspace::new();
    ws.write("features.jsonl", "{\"video_id\": \"a\"}\n");
    ws.write(
        "s.jsonl",
        "{\"video_id\": \"a\", \"competitor\": \"musiq\", \"score\": 1.0}\n",
    );
    ws.run(&["ingest", "s.jsonl"]).ok();
    let run = ws
        .run(&[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "o.jsonl",
            "--report-json",
            "no/such/dir/r.json",
        ])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("no/such/dir/r.json: cannot write report"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("o.jsonl").exists());
    assert_eq!(ws.dump("SELECT COUNT(*) FROM exports"), ["Integer(0)"]);
    let run = ws
        .run(&[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "s.jsonl",
            "--out",
            "m.jsonl",
            "--audit-json",
            "no/such/dir/a.json",
        ])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("no/such/dir/a.json: cannot write the audit JSON"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("m.jsonl").exists());
}

#[test]
fn python_nan_in_a_feature_table_reads_as_null() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        "{\"video_id\": \"a\", \"vmaf\": NaN}\n{\"video_id\": \"b\", \"vmaf\": 80.5}\n",
    );
    ws.write("features.json", "[{\"video_id\": \"a\", \"vmaf\": NaN}]");
    ws.write(
        "s.jsonl",
        "{\"video_id\": \"a\", \"competitor\": \"musiq\", \"score\": 1.0}\n",
    );
    ws.run(&[
        "materialize",
        "--features",
        "features.jsonl",
        "--scores",
        "s.jsonl",
        "--out",
        "o.jsonl",
    ])
    .ok();
    let out = std::fs::read_to_string(ws.path("o.jsonl")).unwrap();
    assert!(
        out.starts_with("{\"video_id\":\"a\",\"vmaf\":null,"),
        "{out}"
    );
    assert!(out.contains("\"vmaf\":80.5"), "{out}");
    ws.run(&[
        "materialize",
        "--features",
        "features.json",
        "--scores",
        "s.jsonl",
        "--out",
        "o.json",
    ])
    .ok();
    assert!(std::fs::read_to_string(ws.path("o.json"))
        .unwrap()
        .contains("\"vmaf\":null"));
}
