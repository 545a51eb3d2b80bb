//! Issue 12, reference parity: what `materialize` accepts and writes where
//! the reference script `materialize_second_opinion_features.py` accepts
//! it — a scorer without a fixed scale, values outside a known scale,
//! numbers written as strings, `--score-field` on rows that lack it — and
//! how it counts and records (`matched_rows`, `run_provenance`, column
//! order, `_source`); and how `ingest` treats a whole file on another scale.

mod common;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::{Run, Workspace};

/// Run the binary without `--registry` (materialize's throw-away registry).
fn run_bare(ws: &Workspace, args: &[&str]) -> Run {
    ws.run_bare(args)
}

/// `materialize --features features.jsonl --scores <scores> --out out.jsonl
/// --audit-json audit.json <extra>`, without a registry.
fn materialize(ws: &Workspace, scores: &[&str], extra: &[&str]) -> Run {
    let mut args = vec!["materialize", "--features", "features.jsonl"];
    for file in scores {
        args.extend(["--scores", file]);
    }
    args.extend(["--out", "out.jsonl", "--audit-json", "audit.json"]);
    args.extend_from_slice(extra);
    run_bare(ws, &args)
}

fn out_rows(ws: &Workspace) -> Vec<Value> {
    std::fs::read_to_string(ws.path("out.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn audit(ws: &Workspace) -> Value {
    serde_json::from_str(&std::fs::read_to_string(ws.path("audit.json")).unwrap()).unwrap()
}

/// The (score, status) of `slug` per output row.
fn scored(rows: &[Value], slug: &str) -> Vec<(Value, Value)> {
    rows.iter()
        .map(|row| {
            (
                row[format!("second_opinion_{slug}_score")].clone(),
                row[format!("second_opinion_{slug}_status")].clone(),
            )
        })
        .collect()
}

/// Feature rows keyed `a`, `b`, … by `video_id`.
fn features(ws: &Workspace, keys: &[&str]) {
    let text: String = keys
        .iter()
        .map(|k| format!("{{\"video_id\":\"{k}\",\"vmaf\":90.0}}\n"))
        .collect();
    ws.write("features.jsonl", text);
}

fn sha256_hex(path: &std::path::Path) -> String {
    let digest = Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------- a scorer without a fixed scale

#[test]
fn q_align_files_materialize_with_their_scale_unknown() {
    for name in ["q-align", "Q-Align", "qalign", "one-align"] {
        let ws = Workspace::new();
        features(&ws, &["a", "b"]);
        ws.write(
            "qalign.jsonl",
            format!(
                "{{\"video_id\":\"a\",\"competitor\":\"{name}\",\"score\":3.75}}\n\
                 {{\"video_id\":\"b\",\"competitor\":\"{name}\",\"score\":0.4921875}}\n"
            ),
        );
        let run = materialize(&ws, &["qalign.jsonl"], &[]).ok();
        assert!(
            run.stderr.contains(&format!(
                "qalign.jsonl: {name}: no fixed scale (0-1 from scorer.py/vqa_eval.py, 1-5 from \
                 the HF model or pyiqa): every value kept as written, scale unknown"
            )),
            "{}",
            run.stderr
        );
        let slug = name.to_lowercase().replace('-', "_");
        assert_eq!(
            scored(&out_rows(&ws), &slug),
            [(json!(3.75), json!("ok")), (json!(0.4921875), json!("ok"))]
        );
        let competitor = &audit(&ws)["competitors"][name];
        assert_eq!(competitor["scale"], Value::Null, "{name}");
        assert_eq!(competitor["matched_rows"], 2);
        assert!(competitor["warnings"][0]
            .as_str()
            .unwrap()
            .contains("scale unknown"));
    }
}

#[test]
fn materialize_takes_a_scale_and_still_keeps_every_value() {
    let ws = Workspace::new();
    features(&ws, &["a", "b"]);
    ws.write(
        "qalign.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"Q-Align\",\"score\":3.75}\n\
         {\"video_id\":\"b\",\"competitor\":\"Q-Align\",\"score\":0.5}\n",
    );
    let run = materialize(&ws, &["qalign.jsonl"], &["--scale", "1:5"]).ok();
    assert!(
        run.stderr.contains(
            "qalign.jsonl: Q-Align: 1 of 2 scores are outside Q-Align's 1:5: kept as written \
             (the first at line 2: 0.5)"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("scale unknown"), "{}", run.stderr);
    assert_eq!(
        scored(&out_rows(&ws), "q_align"),
        [(json!(3.75), json!("ok")), (json!(0.5), json!("ok"))]
    );
    let audit = audit(&ws);
    assert_eq!(audit["competitors"]["Q-Align"]["scale"], "1:5");
    assert_eq!(audit["second_opinion_provenance"]["scale"], "1:5");
    // A scale that does not parse is a usage error; nothing is written.
    let bad = materialize(&ws, &["qalign.jsonl"], &["--scale", "5:1"]).fails_with(2);
    assert!(
        bad.stderr.contains("--scale MIN must be below MAX"),
        "{}",
        bad.stderr
    );
}

// ------------------------------------------- values outside a known scale

#[test]
fn out_of_range_values_are_kept_by_materialize_and_warned_of() {
    let ws = Workspace::new();
    features(&ws, &["a", "b", "c"]);
    ws.write(
        "scores.jsonl",
        concat!(
            "{\"video_id\":\"a\",\"competitor\":\"clip-iqa\",\"score\":79.0}\n",
            "{\"video_id\":\"a\",\"competitor\":\"fast-vqa\",\"score\":83.0}\n",
            "{\"video_id\":\"a\",\"competitor\":\"DOVER-Mobile\",\"score\":100.4}\n",
            "{\"video_id\":\"b\",\"competitor\":\"DOVER-Mobile\",\"score\":-0.2}\n",
            "{\"video_id\":\"c\",\"competitor\":\"DOVER-Mobile\",\"score\":55.5}\n",
        ),
    );
    let run = materialize(&ws, &["scores.jsonl"], &[]).ok();
    for warning in [
        "scores.jsonl: clip-iqa: 1 of 1 scores are outside clip-iqa's 0:1: kept as written (the first at line 1: 79)",
        "scores.jsonl: fast-vqa: 1 of 1 scores are outside fast-vqa's 0:1: kept as written (the first at line 2: 83)",
        "scores.jsonl: DOVER-Mobile: 2 of 3 scores are outside DOVER-Mobile's 0:100: kept as written (the first at line 3: 100.4)",
    ] {
        assert!(run.stderr.contains(warning), "{warning}\n{}", run.stderr);
    }
    let rows = out_rows(&ws);
    assert_eq!(
        scored(&rows, "dover_mobile"),
        [
            (json!(100.4), json!("ok")),
            (json!(-0.2), json!("ok")),
            (json!(55.5), json!("ok"))
        ]
    );
    assert_eq!(scored(&rows, "clip_iqa")[0], (json!(79.0), json!("ok")));
    assert_eq!(scored(&rows, "fast_vqa")[0], (json!(83.0), json!("ok")));
    let audit = audit(&ws);
    assert_eq!(audit["competitors"]["DOVER-Mobile"]["matched_rows"], 3);
    assert_eq!(audit["competitors"]["DOVER-Mobile"]["bad_rows"], 0);
    assert_eq!(audit["competitors"]["clip-iqa"]["scale"], "0:1");

    // With a kept registry the rows are kept as `ok` too, with a note.
    let kept = ws.path("kept.db");
    let kept = kept.to_str().unwrap();
    run_bare(
        &ws,
        &[
            "--registry",
            kept,
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "scores.jsonl",
            "--out",
            "kept.jsonl",
        ],
    )
    .ok();
    let shown = run_bare(
        &ws,
        &[
            "--registry",
            kept,
            "provenance",
            "--scorer",
            "clip-iqa",
            "--key",
            "a",
        ],
    )
    .ok();
    assert!(
        shown.stdout.contains("score=79 status=ok")
            && shown
                .stdout
                .contains("note:        score 79 is outside the scale 0:1: kept as written"),
        "{}",
        shown.stdout
    );
}

#[test]
fn the_registry_keeps_what_the_file_wrote_for_a_bad_row() {
    let ws = Workspace::new();
    ws.write(
        "clip.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"clip-iqa\",\"score\":79.0}\n",
    );
    let run = ws.run(&["ingest", "clip.jsonl"]).ok();
    assert!(
        run.stderr.contains("1 rows ingested (1 bad"),
        "{}",
        run.stderr
    );
    let shown = ws
        .run(&["provenance", "--scorer", "clip-iqa", "--key", "a"])
        .ok();
    assert!(
        shown
            .stdout
            .contains("reason:      score 79 is outside the declared scale 0:1")
            && shown.stdout.contains("file wrote:  79"),
        "{}",
        shown.stdout
    );
}

// ------------------------------------------- a whole file on another scale

/// 200 fast-vqa scores written on 0–100: 3 of them happen to be inside 0:1.
fn fast_vqa_on_percent(ws: &Workspace) {
    let mut text = String::new();
    for i in 0..200 {
        let score = if i < 3 {
            0.25 * (i + 1) as f64
        } else {
            5.0 + (i as f64 * 0.45)
        };
        text.push_str(&format!(
            "{{\"video_id\":\"c{i}\",\"competitor\":\"fast-vqa\",\"score\":{score}}}\n"
        ));
    }
    ws.write("fast.jsonl", text);
}

#[test]
fn a_file_on_another_scale_is_said_loudly_with_the_fix() {
    // --strict refuses it, naming the scale it looks like and the flags
    // that take it; the registry is not touched.
    let ws = Workspace::new();
    fast_vqa_on_percent(&ws);
    let refused = ws.run(&["ingest", "--strict", "fast.jsonl"]).fails_with(1);
    assert!(
        refused.stderr.contains(
            "fast.jsonl: suspicious output, refused by --strict: fast-vqa: 197 of 200 scores are \
             outside fast-vqa's 0:1 — the file looks like 0:100: pass --scale 0:100 --force-scale"
        ),
        "{}",
        refused.stderr
    );
    assert!(ws.registry_snapshot().is_empty(), "nothing was ingested");
    // The fix it names works.
    let fixed = ws
        .run(&[
            "ingest",
            "--strict",
            "--scale",
            "0:100",
            "--force-scale",
            "fast.jsonl",
        ])
        .ok();
    assert!(
        fixed.stderr.contains("200 rows ingested (0 bad"),
        "{}",
        fixed.stderr
    );

    // Without --strict, the file goes in with its values kept in the bad
    // rows, and the warning names the correction that judges them again.
    let ws = Workspace::new();
    fast_vqa_on_percent(&ws);
    let run = ws.run(&["ingest", "fast.jsonl"]).ok();
    assert!(
        run.stderr.contains(
            "fast-vqa: 197 of 200 scores are outside fast-vqa's 0:1 — the file looks like 0:100: \
             the values are kept: `second-opinion scorers set 'fast-vqa' --scale 0:100` judges \
             them again"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(197 bad"), "{}", run.stderr);
    ws.run(&["scorers", "set", "fast-vqa", "--scale", "0:100"])
        .ok();
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(scorers[0]["ok_rows"], 200, "{scorers}");

    // materialize keeps the values and says the same, with its own flag.
    let ws = Workspace::new();
    fast_vqa_on_percent(&ws);
    let keys: Vec<String> = (0..200).map(|i| format!("c{i}")).collect();
    features(&ws, &keys.iter().map(String::as_str).collect::<Vec<_>>());
    let run = materialize(&ws, &["fast.jsonl"], &[]).ok();
    assert!(
        run.stderr.contains(
            "fast.jsonl: fast-vqa: 197 of 200 scores are outside fast-vqa's 0:1 — the file looks \
             like 0:100: pass --scale 0:100"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(audit(&ws)["competitors"]["fast-vqa"]["matched_rows"], 200);
    let run = materialize(&ws, &["fast.jsonl"], &["--scale", "0:100", "--overwrite"]).ok();
    assert!(!run.stderr.contains("outside"), "{}", run.stderr);
}

#[test]
fn strict_still_refuses_a_stray_value_at_its_line() {
    let ws = Workspace::new();
    let mut text = String::new();
    for i in 0..20 {
        let score = if i == 6 { 1.5 } else { 0.5 };
        text.push_str(&format!(
            "{{\"video_id\":\"c{i}\",\"competitor\":\"fast-vqa\",\"score\":{score}}}\n"
        ));
    }
    ws.write("fast.jsonl", text);
    let refused = ws.run(&["ingest", "--strict", "fast.jsonl"]).fails_with(1);
    assert!(
        refused.stderr.contains(
            "fast.jsonl:7: score 1.5 is outside the declared scale 0:1 (--strict refuses bad rows)"
        ),
        "{}",
        refused.stderr
    );
    assert!(ws.registry_snapshot().is_empty());
}

// ------------------------------------------- numbers written as strings

#[test]
fn numbers_written_as_strings_are_numbers() {
    let ws = Workspace::new();
    features(&ws, &["a", "b"]);
    ws.write(
        "scores.jsonl",
        concat!(
            "{\"video_id\":\"a\",\"competitor\":\"musiq\",\"score\":\"72.5\",\"runtime_ms\":\"12.5\"}\n",
            "{\"video_id\":\"b\",\"competitor\":\"musiq\",\"score\":\" 6.4e1 \"}\n",
        ),
    );
    materialize(&ws, &["scores.jsonl"], &[]).ok();
    let rows = out_rows(&ws);
    assert_eq!(
        scored(&rows, "musiq"),
        [(json!(72.5), json!("ok")), (json!(64.0), json!("ok"))]
    );
    assert_eq!(rows[0]["second_opinion_musiq_runtime_ms"], json!(12.5));

    // The registry keeps the text the file wrote in the row's note.
    ws.run(&["ingest", "scores.jsonl"]).ok();
    let shown = ws
        .run(&["provenance", "--scorer", "musiq", "--key", "a", "--json"])
        .ok()
        .json();
    assert_eq!(shown[0]["score"], json!(72.5));
    assert_eq!(shown[0]["status"], "ok");
    assert_eq!(shown[0]["runtime_ms"], json!(12.5));
    assert_eq!(
        shown[0]["note"],
        "score written as text \"72.5\"; runtime_ms written as text \"12.5\""
    );

    // Text that is no number is still a bad row, not a failed file.
    ws.write(
        "words.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"other\",\"score\":\"fast\"}\n",
    );
    let run = ws.run(&["ingest", "words.jsonl"]).ok();
    assert!(run.stderr.contains("(1 bad"), "{}", run.stderr);
}

// ------------------------------------------- matched_rows

#[test]
fn matched_rows_are_the_rows_with_an_ok_score() {
    let ws = Workspace::new();
    features(&ws, &["a", "b", "c", "d"]);
    ws.write(
        "scores.jsonl",
        concat!(
            "{\"video_id\":\"a\",\"competitor\":\"musiq\",\"score\":50.0}\n",
            "{\"video_id\":\"b\",\"competitor\":\"musiq\",\"score\":51.0,\"status\":\"oom\"}\n",
            "{\"video_id\":\"c\",\"competitor\":\"musiq\",\"score\":null}\n",
        ),
    );
    materialize(&ws, &["scores.jsonl"], &[]).ok();
    let competitor = &audit(&ws)["competitors"]["musiq"];
    assert_eq!(
        [
            &competitor["scores_loaded"],
            &competitor["matched_rows"],
            &competitor["bad_rows"],
            &competitor["missing_rows"]
        ],
        [&json!(3), &json!(1), &json!(2), &json!(1)]
    );
}

// ------------------------------------------- run_provenance

#[test]
fn run_provenance_has_the_reference_layout() {
    let ws = Workspace::new();
    features(&ws, &["a"]);
    ws.write(
        "wrapper.json",
        "{\"video_id\":\"a\",\"competitor\":\"musiq\",\"score\":50.0}",
    );
    let argv = [
        "--features",
        "features.jsonl",
        "--scores",
        "wrapper.json",
        "--out",
        "out.jsonl",
        "--audit-json",
        "audit.json",
    ];
    let mut args = vec!["materialize"];
    args.extend(argv);
    run_bare(&ws, &args).ok();
    let text = std::fs::read_to_string(ws.path("audit.json")).unwrap();
    assert!(text.ends_with("}\n") && text.contains("\n  \"competitors\": {"));
    let audit: Value = serde_json::from_str(&text).unwrap();
    let top: Vec<&str> = audit
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        top,
        [
            "competitors",
            "feature_table",
            "input_rows",
            "key_column",
            "key_normalize",
            "missing_policy",
            "output",
            "output_rows",
            "run_provenance",
            "second_opinion_provenance"
        ]
    );
    let provenance = &audit["run_provenance"];
    let features_sha = sha256_hex(&ws.path("features.jsonl"));
    let entrypoint = &provenance["entrypoint"];
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_second-opinion"));
    assert_eq!(
        (
            &entrypoint["exists"],
            &entrypoint["kind"],
            &entrypoint["sha256"]
        ),
        (&json!(true), &json!("file"), &json!(sha256_hex(program)))
    );
    let expected = json!({
        "args": {"audit_json": "audit.json", "features": "features.jsonl", "key_column": null,
                 "key_normalize": "auto", "missing_policy": "mark", "out": "out.jsonl",
                 "overwrite": false, "prefix": "second_opinion", "score_field": null,
                 "score_key_field": null, "scores": ["wrapper.json"]},
        "argv": argv,
        "entrypoint": entrypoint,
        "inputs": {"features": {"exists": true, "kind": "file", "path": "features.jsonl",
                                "sha256": features_sha},
                   "scores": ["wrapper.json"]},
        "outputs": {"audit_json": "audit.json", "out": "out.jsonl"},
        "schema": "ai-run-provenance-v1"
    });
    assert_eq!(provenance, &expected);
    // What this tool adds is beside it: every input and output hashed.
    let own = &audit["second_opinion_provenance"];
    assert_eq!(own["inputs"][1]["path"], "wrapper.json");
    assert_eq!(
        own["inputs"][1]["sha256"],
        sha256_hex(&ws.path("wrapper.json"))
    );
    assert_eq!(
        own["outputs"][0]["sha256"],
        sha256_hex(&ws.path("out.jsonl"))
    );
    assert_eq!(own["tool_version"], env!("CARGO_PKG_VERSION"));
}

// ------------------------------------------- --score-field on rows that lack it

#[test]
fn score_field_falls_back_to_the_usual_fields_on_rows_without_it() {
    let ws = Workspace::new();
    features(&ws, &["a", "b"]);
    ws.write(
        "scores.jsonl",
        concat!(
            "{\"video_id\":\"a\",\"competitor\":\"dover\",\"dover_overall\":61.5,\"score\":1.0}\n",
            "{\"video_id\":\"b\",\"competitor\":\"dover\",\"score\":47.25}\n",
        ),
    );
    materialize(&ws, &["scores.jsonl"], &["--score-field", "dover_overall"]).ok();
    assert_eq!(
        scored(&out_rows(&ws), "dover"),
        [(json!(61.5), json!("ok")), (json!(47.25), json!("ok"))]
    );
    ws.run(&["ingest", "--score-field", "dover_overall", "scores.jsonl"])
        .ok();
    let shown = ws
        .run(&["provenance", "--scorer", "dover", "--key", "b", "--json"])
        .ok()
        .json();
    assert_eq!(
        shown[0]["note"],
        "the row has no 'dover_overall' (--score-field): score read from 'score'"
    );
}

// ------------------------------------------- column order and _source

#[test]
fn scorer_blocks_come_in_the_reference_order_with_its_source() {
    let ws = Workspace::new();
    features(&ws, &["a"]);
    ws.write(
        "runs/clip.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"clip-iqa\",\"score\":0.5}\n",
    );
    ws.write(
        "runs/dover.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"DOVER-Mobile\",\"score\":50.0}\n",
    );
    ws.write("runs/musiq.jsonl", "{\"video_id\":\"a\",\"score\":40.0}\n");
    materialize(
        &ws,
        &[
            "./runs/clip.jsonl",
            "runs//dover.jsonl",
            " musiq =./runs/./musiq.jsonl",
        ],
        &[],
    )
    .ok();
    let text = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    let columns: Vec<String> = text
        .lines()
        .next()
        .unwrap()
        .split("\":")
        .filter_map(|part| part.rsplit('"').next())
        .filter(|name| name.ends_with("_score"))
        .map(str::to_string)
        .collect();
    // Python's sorted() of the names as written: upper case first.
    assert_eq!(
        columns,
        [
            "second_opinion_dover_mobile_score",
            "second_opinion_clip_iqa_score",
            "second_opinion_musiq_score"
        ]
    );
    let row = &out_rows(&ws)[0];
    assert_eq!(row["second_opinion_clip_iqa_source"], "runs/clip.jsonl");
    assert_eq!(
        row["second_opinion_dover_mobile_source"],
        "runs/dover.jsonl"
    );
    assert_eq!(row["second_opinion_musiq_source"], "runs/musiq.jsonl");
    assert!(
        audit(&ws)["competitors"]["musiq"].is_object(),
        "the label is trimmed"
    );
}

#[test]
fn batch_keeps_values_too_without_suggesting_a_flag_it_lacks() {
    let ws = Workspace::new();
    features(&ws, &["a", "b"]);
    ws.write(
        "qalign.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"Q-Align\",\"score\":3.75}\n\
         {\"video_id\":\"b\",\"competitor\":\"Q-Align\",\"score\":2.5}\n",
    );
    ws.write(
        "batch.json",
        json!({"tables": [{"id": "t", "features": "features.jsonl",
                           "scores": ["qalign.jsonl"], "out": "out.jsonl",
                           "audit_json": "audit.json"}]})
        .to_string(),
    );
    let run = run_bare(&ws, &["batch", "--manifest", "batch.json"]).ok();
    assert!(
        run.stderr.contains("Q-Align: no fixed scale") && !run.stderr.contains("--scale"),
        "{}",
        run.stderr
    );
    assert_eq!(
        scored(&out_rows(&ws), "q_align"),
        [(json!(3.75), json!("ok")), (json!(2.5), json!("ok"))]
    );
}
