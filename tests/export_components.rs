//! Component columns of multi-output scorers and `export --normalize`.

mod common;

use common::Workspace;
use serde_json::{json, Value};

fn rows(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

const DOVER_CSV: &str = "path, aesthetic score, technical score, overall/final score\n\
./demo/17734.mp4, 56.123450, 48.123000,51.230000\n\
./demo/1724.mp4, 61.004211, 39.551020,47.100933\n";

#[test]
fn dover_components_become_columns_unless_no_components() {
    let ws = Workspace::new();
    ws.write("dover.csv", DOVER_CSV);
    ws.write(
        "features.jsonl",
        "{\"path\": \"/data/17734.mp4\", \"vmaf\": 80.0}\n{\"path\": \"/data/1724.mp4\", \"vmaf\": 70.0}\n{\"path\": \"/data/9.mp4\", \"vmaf\": 60.0}\n",
    );
    ws.run(&["ingest", "dover-mobile=dover.csv"]).ok();
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "out.jsonl",
        "--report-json",
        "r.json",
    ])
    .ok();
    let out = rows(&ws.path("out.jsonl"));
    assert_eq!(out[0]["second_opinion_dover_mobile_score"], json!(51.23));
    assert_eq!(
        out[0]["second_opinion_dover_mobile_aesthetic"],
        json!(56.12345)
    );
    assert_eq!(
        out[1]["second_opinion_dover_mobile_technical"],
        json!(39.55102)
    );
    assert_eq!(
        out[2]["second_opinion_dover_mobile_aesthetic"],
        Value::Null,
        "a missing row has no components"
    );
    let first_line = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    let at = |name: &str| {
        first_line
            .find(name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(
        at("second_opinion_dover_mobile_source") < at("second_opinion_dover_mobile_aesthetic"),
        "components follow the five standard columns"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("r.json")).unwrap()).unwrap();
    assert_eq!(
        report["scorers"]["dover-mobile"]["components"],
        json!(["aesthetic", "technical"])
    );

    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "plain.jsonl",
        "--no-components",
    ])
    .ok();
    let plain = rows(&ws.path("plain.jsonl"));
    assert!(plain[0]
        .get("second_opinion_dover_mobile_aesthetic")
        .is_none());
    assert_eq!(plain[0].as_object().unwrap().len(), 2 + 5);
}

#[test]
fn normalize_maps_to_0_100_higher_better_and_refuses_unbounded_scorers() {
    let ws = Workspace::new();
    ws.write(
        "niqe.jsonl",
        "{\"clip_id\": \"a\", \"score\": 25.0}\n{\"clip_id\": \"b\", \"score\": 80.0}\n",
    );
    ws.write(
        "fast.jsonl",
        "{\"clip_id\": \"a\", \"score\": 0.25}\n{\"clip_id\": \"b\", \"score\": 0.9}\n",
    );
    ws.write(
        "features.jsonl",
        "{\"clip_id\": \"a\"}\n{\"clip_id\": \"b\"}\n",
    );
    ws.run(&["ingest", "niqe=niqe.jsonl", "fast-vqa=fast.jsonl"])
        .ok();
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "out.jsonl",
        "--normalize",
        "--report-json",
        "r.json",
    ])
    .ok();
    let out = rows(&ws.path("out.jsonl"));
    // NIQE: typical 0-100, lower is better.
    assert_eq!(out[0]["second_opinion_niqe_score_norm"], json!(75.0));
    assert_eq!(out[1]["second_opinion_niqe_score_norm"], json!(20.0));
    // FAST-VQA: 0-1, higher is better.
    assert_eq!(out[0]["second_opinion_fast_vqa_score_norm"], json!(25.0));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("r.json")).unwrap()).unwrap();
    assert_eq!(
        report["scorers"]["niqe"]["normalized_with"],
        json!("0:100 lower-is-better")
    );

    ws.write("cover.jsonl", "{\"clip_id\": \"a\", \"score\": -1.9}\n");
    ws.run(&["ingest", "cover=cover.jsonl"]).ok();
    let refused = ws
        .run(&[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "n.jsonl",
            "--normalize",
        ])
        .fails_with(1);
    assert!(
        refused
            .stderr
            .contains("cannot normalise scorer 'cover': it has no bounded scale"),
        "{}",
        refused.stderr
    );
    assert!(!ws.path("n.jsonl").exists());
}
