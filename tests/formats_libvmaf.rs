//! End-to-end tests of the libvmaf log readers (`libvmaf-json`,
//! `libvmaf-csv`, `libvmaf-xml`): each fixture in `tests/data/libvmaf-*/`
//! holds the same five frames, byte-exact to libvmaf's `output.c`, and must
//! be detected, stored (score, frames, components) and exported alike.

mod common;

use std::path::{Path, PathBuf};

use common::{
    arg, assert_close, sql_rows, stored_components as components, stored_frames as frames, Run,
    Workspace,
};
use serde_json::{json, Value};

/// (format name, fixture path) for every layout.
fn fixtures() -> Vec<(&'static str, PathBuf)> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    vec![
        ("libvmaf-json", data.join("libvmaf-json/bbb_crf28.json")),
        ("libvmaf-csv", data.join("libvmaf-csv/bbb_crf28.csv")),
        ("libvmaf-xml", data.join("libvmaf-xml/bbb_crf28.xml")),
    ]
}

/// The fixtures' frames: (frameNum, vmaf), and psnr_y (NaN on frame 4).
const VMAF_FRAMES: [(i64, f64); 5] = [
    (0, 83.856285),
    (2, 80.471325),
    (4, 76.310862),
    (6, 77.954120),
    (8, 72.093406),
];
const PSNR_Y_FRAMES: [(i64, Option<f64>); 5] = [
    (0, Some(34.760779)),
    (2, Some(34.112437)),
    (4, None),
    (6, Some(33.620518)),
    (8, Some(32.981443)),
];
/// What libvmaf itself printed in the JSON and XML fixtures' pooled vmaf.
const LOGGED_VMAF_MEAN: f64 = 78.137200;
const LOGGED_VMAF_HARMONIC_MEAN: f64 = 77.938574;

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.into_iter().collect();
    values.iter().sum::<f64>() / values.len() as f64
}

fn vmaf_mean() -> f64 {
    mean(VMAF_FRAMES.iter().map(|(_, v)| *v))
}

fn psnr_y_mean() -> f64 {
    mean(PSNR_Y_FRAMES.iter().filter_map(|(_, v)| *v))
}

/// `ingest --report-json` of one file with extra arguments; the report's entry.
fn ingest(ws: &Workspace, fixture: &Path, extra: &[&str]) -> (Run, Value) {
    let report = ws.path("report.json");
    let mut args = vec!["ingest", "--report-json", arg(&report)];
    args.extend_from_slice(extra);
    args.push(arg(fixture));
    let run = ws.run(&args).ok();
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("report JSON");
    (run, report["files"][0].clone())
}

/// The live score of `scorer`: key, raw key, score, status, reason, frame_count.
fn live_score(ws: &Workspace, scorer: &str) -> Value {
    let rows = sql_rows(
        ws,
        &format!(
            "SELECT s.key, COALESCE(s.raw_key, (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key), s.score, s.status, \
             COALESCE(s.reason, 'note: ' || s.note), s.frame_count \
             FROM scores s JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.name = '{scorer}' AND s.superseded_at IS NULL"
        ),
    );
    assert_eq!(rows.len(), 1, "{scorer}: {rows:?}");
    rows[0].clone()
}

#[test]
fn every_layout_is_detected_and_stored_with_its_frames_and_components() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        let (run, entry) = ingest(&ws, &fixture, &[]);
        assert_eq!(entry["format"], format, "{format}");
        assert!(
            entry["format_reason"]
                .as_str()
                .unwrap()
                .starts_with("a libvmaf"),
            "{format}: {}",
            entry["format_reason"]
        );
        assert_eq!(entry["status"], "ingested");
        assert_eq!(entry["scorers"]["vmaf"]["ingested"], 1, "{format}: {entry}");
        let notes: Vec<&str> = entry["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(
            notes,
            ["libvmaf log of one clip: key 'bbb_crf28' from the file name (pass --key to name the clip)"],
            "{format}: no unusable vmaf frame, and libvmaf's pooled mean agrees"
        );
        assert!(
            run.stderr.contains("key 'bbb_crf28' from the file name"),
            "{format}: {}",
            run.stderr
        );

        let score = live_score(&ws, "vmaf");
        assert_eq!(score[0], "bbb_crf28", "{format}");
        assert_eq!(score[1], "bbb_crf28");
        assert_close(&score[2], vmaf_mean(), format);
        assert_eq!(
            (&score[3], &score[4], &score[5]),
            (&json!("ok"), &Value::Null, &json!(5))
        );
        // The stored clip score is the plain mean: it agrees with libvmaf's
        // printed pooled mean, and is not its harmonic mean.
        let stored = score[2].as_f64().unwrap();
        assert!(
            (stored - LOGGED_VMAF_MEAN).abs() <= 1e-6,
            "{format}: {stored}"
        );
        assert!(
            (stored - LOGGED_VMAF_HARMONIC_MEAN).abs() > 0.1,
            "{format}: {stored}"
        );

        assert_eq!(
            frames(&ws, "vmaf"),
            VMAF_FRAMES
                .iter()
                .map(|(i, v)| (*i, Some(*v)))
                .collect::<Vec<_>>(),
            "{format}: every frame at its frameNum, gaps of --subsample 2 kept"
        );

        let components = components(&ws, "vmaf");
        let names: Vec<&str> = components.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "integer_adm2",
                "integer_motion2",
                "integer_vif_scale0",
                "psnr_y"
            ],
            "{format}"
        );
        assert_close(&components[0].1, 0.9519214, "integer_adm2");
        assert_close(&components[1].1, 3.204158, "integer_motion2");
        assert_close(&components[2].1, 0.4821096, "integer_vif_scale0");
        assert_close(
            &components[3].1,
            psnr_y_mean(),
            "psnr_y over its finite frames",
        );

        // The processing speed (`fps`) is stored nowhere as a frame rate.
        let stored_text = ws.registry_snapshot().join("\n");
        assert!(!stored_text.contains("41.98"), "{format}: {stored_text}");
    }
}

#[test]
fn key_flag_names_the_clip() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        let (_, entry) = ingest(&ws, &fixture, &["--key", "clip_0042.mp4"]);
        assert_eq!(entry["format"], format);
        assert_eq!(
            entry["notes"],
            json!(["libvmaf log of one clip: key 'clip_0042.mp4' from --key"]),
            "{format}"
        );
        let score = live_score(&ws, "vmaf");
        assert_eq!(
            (&score[0], &score[1]),
            (&json!("clip_0042.mp4"), &json!("clip_0042.mp4"))
        );
        assert_close(&score[2], vmaf_mean(), format);
        assert_eq!(frames(&ws, "vmaf").len(), 5);
    }
}

#[test]
fn metric_flag_takes_another_metric_as_the_clip_score() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        let (_, entry) = ingest(&ws, &fixture, &["--metric", "psnr_y"]);
        assert_eq!(
            entry["scorers"]["psnr_y"]["ingested"], 1,
            "{format}: {entry}"
        );
        let notes = entry["notes"].to_string();
        assert!(
            notes.contains("1 of 5 frames (frame 4) have no usable psnr_y value"),
            "{format}: {notes}"
        );
        if format != "libvmaf-csv" {
            assert!(
                notes.contains("libvmaf's pooled mean of psnr_y on line"),
                "{format}: libvmaf's own mean is NaN: {notes}"
            );
        }

        let score = live_score(&ws, "psnr_y");
        assert_eq!(score[0], "bbb_crf28");
        assert_close(&score[2], psnr_y_mean(), format);
        assert_eq!(score[3], "ok");
        assert_eq!(score[5], 4, "{format}: the NaN frame is not pooled");
        assert_eq!(
            score[4],
            "note: 1 of 5 frames (frame 4) have no usable psnr_y value and were left out of the mean",
            "an ok row's note is not a reason"
        );
        assert_eq!(frames(&ws, "psnr_y"), PSNR_Y_FRAMES.to_vec(), "{format}");

        let components = components(&ws, "psnr_y");
        assert_eq!(components.len(), 4, "{format}: {components:?}");
        let vmaf = components
            .iter()
            .find(|(n, _)| n == "vmaf")
            .expect("vmaf component");
        assert_close(&vmaf.1, vmaf_mean(), "vmaf as a component");
        assert!(sql_rows(&ws, "SELECT 1 FROM scorers WHERE name = 'vmaf'").is_empty());
    }
}

#[test]
fn unknown_metric_is_refused_naming_the_available_ones() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        let run = ws
            .run(&["ingest", "--metric", "vmaf_neg", arg(&fixture)])
            .fails_with(1);
        assert!(
            run.stderr.contains(
                "no metric 'vmaf_neg' in the log; it has integer_adm2, integer_motion2, \
                 integer_vif_scale0, psnr_y, vmaf: choose the clip score with --metric"
            ),
            "{format}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(arg(&fixture)),
            "the message names the file"
        );
        assert!(
            sql_rows(&ws, "SELECT 1 FROM scores").is_empty(),
            "{format}: nothing stored"
        );
    }
}

#[test]
fn a_pooled_mean_that_disagrees_with_the_frames_is_noted() {
    let ws = Workspace::new();
    let (_, json_fixture) = &fixtures()[0];
    let edited = std::fs::read_to_string(json_fixture)
        .unwrap()
        .replace("\"mean\": 78.137200", "\"mean\": 78.237200");
    let edited = ws.write("edited.json", edited);
    let (_, entry) = ingest(&ws, &edited, &[]);
    assert_eq!(entry["format"], "libvmaf-json");
    let notes = entry["notes"].to_string();
    assert!(
        notes.contains(
            "libvmaf's pooled mean of vmaf on line 83 is 78.237200, but the mean of the log's frames is 78.137200"
        ),
        "{notes}"
    );
    assert_close(
        &live_score(&ws, "vmaf")[2],
        vmaf_mean(),
        "the frames' mean is stored",
    );
}

#[test]
fn export_puts_the_clip_score_on_a_feature_table() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        ingest(&ws, &fixture, &[]);
        ws.write(
            "features.jsonl",
            "{\"clip_id\": \"bbb_crf28\", \"bitrate\": 2800}\n{\"clip_id\": \"bbb_crf35\", \"bitrate\": 900}\n",
        );
        ws.run(&[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "out.jsonl",
        ])
        .ok();
        let rows: Vec<Value> = std::fs::read_to_string(ws.path("out.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["bitrate"], 2800);
        assert_close(&rows[0]["second_opinion_vmaf_score"], vmaf_mean(), format);
        assert_eq!(rows[0]["second_opinion_vmaf_status"], "ok", "{format}");
        assert_eq!(rows[0]["second_opinion_vmaf_frames"], 5, "{format}");
        assert_eq!(rows[1]["second_opinion_vmaf_status"], "missing", "{format}");
        assert_eq!(rows[1]["second_opinion_vmaf_score"], Value::Null);
    }
}
