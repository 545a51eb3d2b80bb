//! End-to-end tests of the ffmpeg-quality-metrics readers
//! (`ffmpeg-quality-metrics-json`, `ffmpeg-quality-metrics-csv`): both
//! fixtures in `tests/data/ffmpeg-quality-metrics/` hold one run of four
//! frames scored by vmaf, psnr, ssim and vif, and must be detected, stored
//! as four scorers (score, 0-based frames, components) and exported alike,
//! per clip and per frame.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, assert_close, sql_rows, stored_components, stored_frames, Workspace};
use serde_json::{json, Value};

/// (format name, fixture path) for both layouts.
fn fixtures() -> Vec<(&'static str, PathBuf)> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ffmpeg-quality-metrics");
    vec![
        (
            "ffmpeg-quality-metrics-json",
            data.join("dist-854x480.json"),
        ),
        ("ffmpeg-quality-metrics-csv", data.join("dist-854x480.csv")),
    ]
}

const KEY: &str = "dist-854x480.mkv";
const DIST: &str = "videos/dist-854x480.mkv";

/// Each metric's main value on frames 0..=3 (vmaf, psnr, ssim at n 1..=4;
/// vif at n 0..=3, the mean of its four scales).
const VMAF: [f64; 4] = [14.051072, 14.480823, 14.241643, 15.102774];
const PSNR_AVG: [f64; 4] = [20.83, 20.85, 20.85, 20.89];
const SSIM_AVG: [f64; 4] = [0.945, 0.946, 0.945, 0.948];
const VIF_SCALES: [[f64; 4]; 4] = [
    [0.262, 0.557, 0.624, 0.679],
    [0.263, 0.56, 0.626, 0.682],
    [0.262, 0.559, 0.626, 0.683],
    [0.264, 0.561, 0.627, 0.684],
];

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn vif_frames() -> Vec<f64> {
    VIF_SCALES.iter().map(|scales| mean(scales)).collect()
}

/// `ingest --report-json` of one file with extra arguments; the report's entry.
fn ingest(ws: &Workspace, fixture: &Path, extra: &[&str]) -> Value {
    let report = ws.path("report.json");
    let mut args = vec!["ingest", "--report-json", arg(&report)];
    args.extend_from_slice(extra);
    args.push(arg(fixture));
    ws.run(&args).ok();
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("report JSON");
    report["files"][0].clone()
}

/// Every live score: scorer, key, raw key, score, status, frame_count, line.
fn scores(ws: &Workspace) -> Vec<Value> {
    sql_rows(
        ws,
        "SELECT c.name, s.key, COALESCE(s.raw_key, (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key), s.score, s.status, s.frame_count, s.line \
         FROM scores s JOIN scorers c ON c.id = s.scorer_id \
         WHERE s.superseded_at IS NULL ORDER BY c.name",
    )
}

fn rows(ws: &Workspace, name: &str) -> Vec<Value> {
    std::fs::read_to_string(ws.path(name))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn assert_frames(ws: &Workspace, scorer: &str, expected: &[f64], format: &str) {
    let stored = stored_frames(ws, scorer);
    assert_eq!(
        stored.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3],
        "{format}: {scorer}'s frames are 0-based"
    );
    for ((_, value), expected) in stored.iter().zip(expected) {
        assert_close(&json!(value), *expected, &format!("{format}: {scorer}"));
    }
}

#[test]
fn each_metric_is_a_scorer_with_its_frames_and_components() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        let entry = ingest(&ws, &fixture, &[]);
        assert_eq!(entry["format"], format, "{entry}");
        assert!(
            entry["format_reason"]
                .as_str()
                .unwrap()
                .starts_with("an ffmpeg-quality-metrics"),
            "{format}: {}",
            entry["format_reason"]
        );
        assert_eq!(entry["status"], "ingested");
        for scorer in ["vmaf", "psnr", "ssim", "vif"] {
            assert_eq!(entry["scorers"][scorer]["ingested"], 1, "{format}: {entry}");
        }
        assert_eq!(entry["warnings"], json!([]), "{format}: global agrees");

        let scores = scores(&ws);
        let names: Vec<&str> = scores.iter().map(|s| s[0].as_str().unwrap()).collect();
        assert_eq!(names, ["psnr", "ssim", "vif", "vmaf"], "{format}");
        let expected = [
            mean(&PSNR_AVG),
            mean(&SSIM_AVG),
            mean(&vif_frames()),
            mean(&VMAF),
        ];
        for (score, expected) in scores.iter().zip(expected) {
            assert_eq!(score[1], KEY, "{format}: the basename of input_file_dist");
            assert_eq!(score[2], DIST, "{format}: the path as written is kept");
            assert_close(&score[3], expected, &format!("{format}: {}", score[0]));
            assert_eq!((&score[4], &score[5]), (&json!("ok"), &json!(4)));
        }

        assert_frames(&ws, "vmaf", &VMAF, format);
        assert_frames(&ws, "psnr", &PSNR_AVG, format);
        assert_frames(&ws, "ssim", &SSIM_AVG, format);
        assert_frames(&ws, "vif", &vif_frames(), format);

        let psnr: Vec<String> = stored_components(&ws, "psnr")
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(
            psnr,
            ["mse_avg", "mse_u", "mse_v", "mse_y", "psnr_u", "psnr_v", "psnr_y"],
            "{format}: every submetric but the score"
        );
        let vif = stored_components(&ws, "vif");
        assert_eq!(vif.len(), 4, "{format}: {vif:?}");
        assert_eq!(vif[0].0, "scale_0");
        assert_close(&vif[0].1, mean(&[0.262, 0.263, 0.262, 0.264]), "scale_0");
        let vmaf = stored_components(&ws, "vmaf");
        assert_eq!(
            vmaf.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["integer_adm2", "integer_motion2", "integer_vif_scale0"]
        );
    }
}

#[test]
fn a_label_prefixes_every_metric_and_key_normalize_applies() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        let labelled = format!("fqm={}", arg(&fixture));
        let entry = ingest(&ws, Path::new(&labelled), &["--key-normalize", "raw"]);
        let names: Vec<&str> = entry["scorers"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            ["fqm-psnr", "fqm-ssim", "fqm-vif", "fqm-vmaf"],
            "{format}"
        );
        let scores = scores(&ws);
        assert_eq!(scores[3][0], "fqm-vmaf");
        assert_eq!(
            scores[3][1], DIST,
            "{format}: --key-normalize raw keeps the path"
        );
    }
}

#[test]
fn export_per_clip_per_frame_and_pooled() {
    for (format, fixture) in fixtures() {
        let ws = Workspace::new();
        ingest(&ws, &fixture, &[]);

        // Per clip: one column set per metric, components after them.
        ws.write(
            "clips.jsonl",
            format!("{{\"file_name\": \"{KEY}\"}}\n{{\"file_name\": \"other.mkv\"}}\n"),
        );
        ws.run(&[
            "export",
            "--features",
            "clips.jsonl",
            "--out",
            "clips_out.jsonl",
            "--pool",
            "min,max",
        ])
        .ok();
        let clips = rows(&ws, "clips_out.jsonl");
        let clip = &clips[0];
        assert_close(&clip["second_opinion_vmaf_score"], mean(&VMAF), format);
        assert_close(&clip["second_opinion_psnr_score"], mean(&PSNR_AVG), format);
        assert_close(
            &clip["second_opinion_vif_score"],
            mean(&vif_frames()),
            format,
        );
        assert_eq!(clip["second_opinion_ssim_frames"], 4, "{format}");
        assert_close(
            &clip["second_opinion_psnr_psnr_y"],
            mean(&[18.59, 18.6, 18.61, 18.65]),
            format,
        );
        // Pooled from the stored frames: the tool's own global min and max.
        assert_close(&clip["second_opinion_vmaf_score_min"], 14.051072, format);
        assert_close(&clip["second_opinion_vmaf_score_max"], 15.102774, format);
        assert_close(
            &clip["second_opinion_vif_score_min"],
            vif_frames()[0],
            format,
        );
        assert_eq!(
            clips[1]["second_opinion_vmaf_status"], "missing",
            "{format}"
        );

        // Per frame: a table numbered like the tool (`n` from 1) meets
        // every metric on the same frame, vif's counted-from-0 ones included.
        let table: String = (1..=4)
            .map(|n| format!("{{\"file_name\": \"{KEY}\", \"n\": {n}}}\n"))
            .collect();
        ws.write("frames.jsonl", table);
        ws.run(&[
            "export",
            "--features",
            "frames.jsonl",
            "--out",
            "frames_out.jsonl",
            "--frame-column",
            "n",
        ])
        .ok();
        let per_frame = rows(&ws, "frames_out.jsonl");
        assert_eq!(per_frame.len(), 4);
        for (i, row) in per_frame.iter().enumerate() {
            let what = format!("{format}: n={}", i + 1);
            assert_close(&row["second_opinion_vmaf_score"], VMAF[i], &what);
            assert_close(&row["second_opinion_psnr_score"], PSNR_AVG[i], &what);
            assert_close(&row["second_opinion_ssim_score"], SSIM_AVG[i], &what);
            assert_close(&row["second_opinion_vif_score"], vif_frames()[i], &what);
        }
    }
}

#[test]
fn a_global_average_off_the_frames_is_a_warning_that_strict_refuses() {
    let ws = Workspace::new();
    let (_, json_fixture) = &fixtures()[0];
    let text = std::fs::read_to_string(json_fixture).unwrap();
    let edited = text.replacen("\"average\": 20.855", "\"average\": 20.955", 1);
    assert_ne!(edited, text, "the fixture holds psnr_avg's average");
    let edited = ws.write("edited.json", edited);

    let strict = ws.run(&["ingest", "--strict", arg(&edited)]).fails_with(1);
    assert!(
        strict.stderr.contains(
            "suspicious output, refused by --strict: psnr: global.psnr.psnr_avg.average on line"
        ),
        "{}",
        strict.stderr
    );
    assert!(sql_rows(&ws, "SELECT 1 FROM scores").is_empty());

    let entry = ingest(&ws, &edited, &[]);
    let warnings = entry["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["scorer"], "psnr");
    assert_eq!(warnings[0]["check"], "global_mismatch");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("is 20.955, but the mean of the file's frames is 20.855000"),
        "{message}"
    );
    let psnr = &scores(&ws)[0];
    assert_close(&psnr[3], mean(&PSNR_AVG), "the frames' mean is stored");
    let kept = sql_rows(&ws, "SELECT warnings FROM source_files");
    assert!(kept[0][0].as_str().unwrap().contains("global_mismatch"));
}

#[test]
fn concatenated_runs_and_mismatched_metrics_are_refused_with_file_and_line() {
    let ws = Workspace::new();
    let (_, json_fixture) = &fixtures()[0];
    let (_, csv_fixture) = &fixtures()[1];
    let json_text = std::fs::read_to_string(json_fixture).unwrap();
    let csv_text = std::fs::read_to_string(csv_fixture).unwrap();
    let json_lines = json_text.lines().count();

    let twice = ws.write(
        "twice.json",
        format!(
            "{json_text}\n{}",
            json_text.replace(DIST, "videos/dist-640x360.mkv")
        ),
    );
    let run = ws.run(&["ingest", arg(&twice)]).fails_with(1);
    let expected = format!(
        "{}:{}: a second run starts here, of input_file_dist 'videos/dist-640x360.mkv' after '{DIST}'",
        arg(&twice),
        json_lines + 1
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(
        run.stderr.contains("the registry is unchanged"),
        "{}",
        run.stderr
    );

    let appended = ws.write("appended.csv", format!("{csv_text}{csv_text}"));
    let run = ws.run(&["ingest", arg(&appended)]).fails_with(1);
    assert!(
        run.stderr
            .contains(&format!("{}:7: a second run starts here", arg(&appended))),
        "{}",
        run.stderr
    );

    // vif's first frame (its row n=0) dropped: the metrics no longer cover
    // the same frames.
    let without_vif_start: String = csv_text
        .split_inclusive("\r\n")
        .enumerate()
        .filter(|(line, _)| *line != 1)
        .map(|(_, text)| text)
        .collect();
    let short_vif = ws.write("short.csv", without_vif_start);
    let run = ws.run(&["ingest", arg(&short_vif)]).fails_with(1);
    assert!(
        run.stderr.contains(&format!(
            "{}:5: metric 'vif' has 3 frames but 'vmaf' has 4: vmaf's frame n=4 has no vif frame",
            arg(&short_vif)
        )),
        "{}",
        run.stderr
    );
    assert!(
        sql_rows(&ws, "SELECT 1 FROM scores").is_empty(),
        "nothing stored"
    );
    assert!(sql_rows(&ws, "SELECT 1 FROM source_files").is_empty());
}
