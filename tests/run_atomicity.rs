//! A failed run changes nothing: materialize with a kept registry, reports
//! that cannot be written, and the registry environment variable.

mod common;

use std::process::Command;

use common::Workspace;

fn bare(ws: &Workspace) -> Command {
    ws.bare()
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
    // Missing folders are created; a folder that is a file cannot be.
    ws.write("plain.txt", "x");
    let run = ws
        .run(&[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "o.jsonl",
            "--report-json",
            "plain.txt/r.json",
        ])
        .fails_with(1);
    assert!(
        run.stderr.contains("plain.txt/r.json: cannot write report"),
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
            "plain.txt/a.json",
        ])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("plain.txt/a.json: cannot write the audit JSON"),
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

/// materialize reads scores straight into memory when no registry is kept,
/// and through the registry when one is: both must give the same bytes.
#[test]
fn materialize_in_memory_and_through_a_registry_agree() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        "{\"filename\": \"/c/a.yuv\", \"vmaf\": 90.0}\n{\"filename\": \"/c/b.yuv\", \"vmaf\": 80.0}\n{\"filename\": \"/c/z.yuv\", \"vmaf\": 70.0}\n",
    );
    ws.write(
        "dover.jsonl",
        "{\"path\": \"/x/a.yuv\", \"competitor\": \"DOVER-Mobile\", \"score\": 72.5, \"runtime_ms\": 3}\n\
         {\"path\": \"/x/b.yuv\", \"competitor\": \"DOVER-Mobile\", \"score\": 101.0}\n",
    );
    ws.write(
        "bench.json",
        "{\"name\": \"a.yuv\", \"frames\": [{\"frame_idx\": 0, \"predicted_vmaf_or_mos\": 70.0}, {\"frame_idx\": 1, \"predicted_vmaf_or_mos\": 74.0}], \"summary\": {\"competitor\": \"fork-nr-metric\", \"runtime_total_ms\": 3.5}}",
    );
    ws.write("musiq.jsonl", "{\"name\": \"b.yuv\", \"score\": NaN}\n{\"name\": \"a.yuv\", \"score\": 55.0, \"status\": \"oom\"}\n");
    let scores = [
        "--scores",
        "dover.jsonl",
        "--scores",
        "bench.json",
        "--scores",
        "musiq=musiq.jsonl",
        // The same bytes named twice are read once.
        "--scores",
        "musiq=musiq.jsonl",
    ];
    let run = |out: &str, audit: &str, registry: Option<&str>| {
        let mut command = bare(&ws);
        command
            .args([
                "materialize",
                "--features",
                "features.jsonl",
                "--out",
                out,
                "--audit-json",
                audit,
            ])
            .args(scores);
        if let Some(registry) = registry {
            command.args(["--registry", registry]);
        }
        common::Run::from(command.output().unwrap()).ok()
    };
    run("memory.jsonl", "memory.json", None);
    run("kept.jsonl", "kept.json", Some("kept.db"));
    let memory = std::fs::read(ws.path("memory.jsonl")).unwrap();
    assert_eq!(memory, std::fs::read(ws.path("kept.jsonl")).unwrap());
    let text = String::from_utf8(memory).unwrap();
    assert!(
        text.contains(
            "\"second_opinion_dover_mobile_score\":101.0,\"second_opinion_dover_mobile_status\":\"ok\""
        ),
        "101 is outside DOVER's 0-100, and kept as the reference keeps it: {text}"
    );
    assert!(
        text.contains("\"second_opinion_fork_nr_metric_score\":72.0"),
        "{text}"
    );
    let audit = |name: &str| -> serde_json::Value {
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ws.path(name)).unwrap()).unwrap();
        let provenance = value["run_provenance"].as_object_mut().unwrap();
        for volatile in ["argv", "args", "outputs"] {
            provenance.remove(volatile);
        }
        let own = value["second_opinion_provenance"].as_object_mut().unwrap();
        for volatile in ["registry", "outputs"] {
            own.remove(volatile);
        }
        value.as_object_mut().unwrap().remove("output");
        value
    };
    assert_eq!(audit("memory.json"), audit("kept.json"));

    // Duplicates are refused the same way in both.
    ws.write("musiq2.jsonl", "{\"name\": \"a.yuv\", \"score\": 60.0}\n");
    for registry in [None, Some("other.db")] {
        let mut command = bare(&ws);
        command.args([
            "materialize",
            "--features",
            "features.jsonl",
            "--out",
            "d.jsonl",
        ]);
        command.args([
            "--scores",
            "musiq=musiq.jsonl",
            "--scores",
            "musiq=musiq2.jsonl",
        ]);
        if let Some(registry) = registry {
            command.args(["--registry", registry]);
        }
        let refused = common::Run::from(command.output().unwrap()).fails_with(1);
        assert!(
            refused
                .stderr
                .contains("musiq2.jsonl:1: duplicate score for competitor='musiq' key='a.yuv'"),
            "{registry:?}: {}",
            refused.stderr
        );
        assert!(!ws.path("d.jsonl").exists());
    }
}

#[test]
fn a_scale_one_file_fixes_judges_later_files_alike_in_memory_and_in_a_registry() {
    let ws = Workspace::new();
    // Q-Align's evaluator output fixes its scorer's scale at 0:1; a later
    // file of the same scorer is judged on that scale either way.
    let konvid = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/qalign-json/konvid.json"
    ))
    .unwrap();
    ws.write("qa.json", konvid);
    ws.write(
        "later.jsonl",
        "{\"img_path\": \"zz.mp4\", \"score\": 3.5}\n",
    );
    ws.write(
        "features.jsonl",
        "{\"filename\": \"3339962845.mp4\"}\n{\"filename\": \"zz.mp4\"}\n",
    );
    for (out, registry) in [("memory.jsonl", None), ("kept.jsonl", Some("kept.db"))] {
        let mut command = bare(&ws);
        command.args([
            "materialize",
            "--features",
            "features.jsonl",
            "--out",
            out,
            "--scores",
            "myqa=qa.json",
            "--scores",
            "myqa=later.jsonl",
        ]);
        if let Some(registry) = registry {
            command.args(["--registry", registry]);
        }
        common::Run::from(command.output().unwrap()).ok();
    }
    let memory = std::fs::read_to_string(ws.path("memory.jsonl")).unwrap();
    assert_eq!(
        memory,
        std::fs::read_to_string(ws.path("kept.jsonl")).unwrap()
    );
    let last = memory.lines().last().unwrap();
    assert!(
        last.contains("\"second_opinion_myqa_score\":3.5,\"second_opinion_myqa_status\":\"ok\""),
        "3.5 is outside the 0:1 the first file fixed, and kept as the reference keeps it: {last}"
    );
}
