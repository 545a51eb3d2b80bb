//! Q-Align's concatenated JSON (`qalign-json`), UVQ's result JSON
//! (`uvq-json`), single-clip scorers' captured stdout (`score-line`) and
//! generic delimited tables (`csv`) end to end through the binary.
//!
//! Every fixture of `tests/data/<format>/` is byte-exact to the layout in
//! `scorer-formats.md` (see each folder's README). Each test ingests one
//! with detection (no `--format`) and checks the detected format and why,
//! the notes (where the key came from), the scores, components and frames
//! in the registry, and an export onto a small feature table.

mod common;

use std::path::PathBuf;

use common::{export_with, exported, missing, ok, sql_rows, Workspace};
use serde_json::{json, Value};

/// The bytes of `tests/data/<relative>`.
fn fixture(relative: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", relative]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copy `tests/data/<relative>` into the workspace under its file name
/// (which is the key of single-clip files) and return that name.
fn copy_fixture(ws: &Workspace, relative: &str) -> String {
    let name = relative.rsplit('/').next().expect("a file name");
    ws.write(name, fixture(relative));
    name.to_string()
}

/// Run `ingest --report-json` with `args` and return the report's entry of
/// the one file it ingested.
fn ingest_one(ws: &Workspace, args: &[&str]) -> Value {
    let mut all = vec!["ingest", "--report-json", "ingest-report.json"];
    all.extend_from_slice(args);
    ws.run(&all).ok();
    let report: Value =
        serde_json::from_slice(&std::fs::read(ws.path("ingest-report.json")).unwrap()).unwrap();
    let files = report["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{report}");
    files[0].clone()
}

/// The live scores of `slug` in file order: key, raw key, key field,
/// score, status, reason, frame count, line.
fn scores_of(ws: &Workspace, slug: &str) -> Vec<Value> {
    sql_rows(
        ws,
        &format!(
            "SELECT s.key, COALESCE(s.raw_key, (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key), s.key_field, s.score, s.status, s.reason, s.frame_count, s.line \
             FROM scores s JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.slug = '{slug}' AND s.superseded_at IS NULL ORDER BY s.id"
        ),
    )
}

/// The components of the live score of `slug` for `key`: name, value.
fn components_of(ws: &Workspace, slug: &str, key: &str) -> Vec<Value> {
    sql_rows(
        ws,
        &format!(
            "SELECT p.name, p.value FROM score_components p \
             JOIN scores s ON s.id = p.score_id JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.slug = '{slug}' AND s.key = '{key}' AND s.superseded_at IS NULL \
             ORDER BY p.name"
        ),
    )
}

/// The frames of the live score of `slug` for `key`: frame index, value.
fn frames_of(ws: &Workspace, slug: &str, key: &str) -> Vec<Value> {
    sql_rows(
        ws,
        &format!(
            "SELECT f.frame_index, f.value FROM frame_scores f \
             JOIN scores s ON s.id = f.score_id JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.slug = '{slug}' AND s.key = '{key}' AND s.superseded_at IS NULL \
             ORDER BY f.frame_index"
        ),
    )
}

/// Write a JSON Lines feature table whose key column `column` holds
/// `keys`, plus a feature `n`, and return its name.
fn write_features(ws: &Workspace, column: &str, keys: &[&str]) -> String {
    let lines: String = keys
        .iter()
        .enumerate()
        .map(|(n, key)| format!("{}\n", json!({column: key, "n": n})))
        .collect();
    ws.write("features.jsonl", lines);
    "features.jsonl".to_string()
}

/// Export the registry onto `features` and return the output rows.
fn export(ws: &Workspace, features: &str) -> Vec<Value> {
    export_with(ws, features, &[])
}

fn bad() -> (Value, Value) {
    (Value::Null, json!("bad"))
}

fn notes(report: &Value) -> Vec<String> {
    report["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().expect("text").to_string())
        .collect()
}

/// The 13 logit tokens `vqa_eval.py` records, as component names.
const LOGIT_COMPONENTS: [&str; 13] = [
    "logit_acceptable",
    "logit_average",
    "logit_bad",
    "logit_decent",
    "logit_excellent",
    "logit_fair",
    "logit_fine",
    "logit_good",
    "logit_high",
    "logit_low",
    "logit_medium",
    "logit_moderate",
    "logit_poor",
];

// ------------------------------------------------------------ qalign-json

#[test]
fn qalign_konvid_concatenated_records() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "qalign-json/konvid.json");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "qalign-json");
    assert_eq!(
        report["format_reason"],
        "JSON objects concatenated with no separator, keyed img_path/image (Q-Align vqa_eval.py)"
    );
    assert_eq!(report["scorers"]["q-align"]["ingested"], 3);
    assert_eq!(
        scores_of(&ws, "q_align"),
        vec![
            json!([
                "3339962845.mp4",
                "3339962845.mp4",
                "img_path",
                0.7880490374857582,
                "ok",
                null,
                0,
                1
            ]),
            json!([
                "8171831850.mp4",
                "8171831850.mp4",
                "img_path",
                0.4627862905463407,
                "ok",
                null,
                0,
                1
            ]),
            json!([
                "5246457393.mp4",
                "5246457393.mp4",
                "img_path",
                0.7240663850767538,
                "ok",
                null,
                0,
                1
            ]),
        ]
    );
    let components = components_of(&ws, "q_align", "3339962845.mp4");
    let names: Vec<&str> = components.iter().map(|c| c[0].as_str().unwrap()).collect();
    assert_eq!(names, LOGIT_COMPONENTS);
    assert!(components.contains(&json!(["logit_excellent", 15.6015625])));
    assert!(components.contains(&json!(["logit_good", 17.203125])));
    assert!(components.contains(&json!(["logit_acceptable", 8.4765625])));
    // The format fixes the scale: vqa_eval.py's score is 0–1.
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT scale_min, scale_max FROM scorers WHERE slug = 'q_align'"
        ),
        vec![json!([0.0, 1.0])]
    );

    let features = write_features(
        &ws,
        "clip_id",
        &[
            "8171831850.mp4",
            "3339962845.mp4",
            "0000000000.mp4",
            "5246457393.mp4",
        ],
    );
    let rows = export(&ws, &features);
    assert_eq!(
        exported(&rows, "q_align"),
        vec![
            ok(0.4627862905463407),
            ok(0.7880490374857582),
            missing(),
            ok(0.7240663850767538)
        ]
    );
    assert_eq!(
        rows[1]["second_opinion_q_align_logit_excellent"],
        15.6015625
    );
    assert_eq!(
        rows[2]["second_opinion_q_align_logit_excellent"],
        Value::Null
    );
}

#[test]
fn qalign_lsvq_records_keyed_by_image_join_full_paths() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "qalign-json/test_lsvq.json");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "qalign-json");
    assert_eq!(
        scores_of(&ws, "q_align"),
        vec![
            json!([
                "747.mp4",
                "lsvq/yfcc-batch1/747.mp4",
                "image",
                0.7513434562002168,
                "ok",
                null,
                0,
                1
            ]),
            json!([
                "2019.mp4",
                "lsvq/ia-batch1/2019.mp4",
                "image",
                0.3149398396455354,
                "ok",
                null,
                0,
                1
            ]),
        ]
    );
    assert_eq!(components_of(&ws, "q_align", "2019.mp4").len(), 13);
    assert!(components_of(&ws, "q_align", "2019.mp4").contains(&json!(["logit_poor", 14.796875])));

    let features = write_features(
        &ws,
        "path",
        &[
            "/data/LSVQ/ia-batch1/2019.mp4",
            "/data/LSVQ/yfcc-batch1/747.mp4",
        ],
    );
    let rows = export(&ws, &features);
    assert_eq!(
        exported(&rows, "q_align"),
        vec![ok(0.3149398396455354), ok(0.7513434562002168)]
    );
}

#[test]
fn qalign_iqa_eval_logits_without_score_are_bad_rows_that_keep_their_logits() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "qalign-json/test_koniq.json");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "qalign-json");
    assert_eq!(report["scorers"]["q-align"]["bad"], 2);
    assert_eq!(
        notes(&report),
        vec![
            "2 of 2 records have `logits` but no `score` (Q-Align iqa_eval.py output): \
             stored bad, with their logits as components"
        ]
    );
    let reason = "no `score`, only `logits` (Q-Align iqa_eval.py): the file does not say \
                  whether they pool to 0–1 or 1–5";
    assert_eq!(
        scores_of(&ws, "q_align"),
        vec![
            json!([
                "1000.jpg",
                "koniq/1000.jpg",
                "image",
                null,
                "bad",
                reason,
                0,
                1
            ]),
            json!([
                "1001.jpg",
                "koniq/1001.jpg",
                "image",
                null,
                "bad",
                reason,
                0,
                1
            ]),
        ]
    );
    let components = components_of(&ws, "q_align", "1000.jpg");
    assert_eq!(components.len(), 13);
    assert!(components.contains(&json!(["logit_good", 16.09375])));

    let features = write_features(&ws, "file_name", &["1000.jpg", "1001.jpg"]);
    assert_eq!(
        exported(&export(&ws, &features), "q_align"),
        vec![bad(), bad()]
    );
}

// --------------------------------------------------------------- uvq-json

#[test]
fn uvq15_frames_are_stored_at_their_source_frame_indices() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "uvq-json/Gaming_1080P-0ce6_orig.json");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "uvq-json");
    assert_eq!(
        report["format_reason"],
        "UVQ 1.5 output (`uvq1p5_score`, `per_frame_scores`)"
    );
    assert_eq!(
        notes(&report),
        Vec::<String>::new(),
        "the file names its video"
    );
    assert_eq!(
        scores_of(&ws, "uvq"),
        vec![json!([
            "Gaming_1080P-0ce6_orig.mp4",
            "videos/Gaming_1080P-0ce6_orig.mp4",
            "video_name",
            3.921663522720337,
            "ok",
            null,
            12,
            1
        ])]
    );
    let frames = frames_of(&ws, "uvq", "Gaming_1080P-0ce6_orig.mp4");
    let indices: Vec<i64> = frames.iter().map(|f| f[0].as_i64().unwrap()).collect();
    assert_eq!(
        indices,
        vec![0, 24, 48, 72, 96, 120, 144, 168, 192, 216, 240, 264],
        "round(i * 23.976 / 1): source frames of a 23.976 fps video sampled at 1 fps"
    );
    assert_eq!(frames[0], json!([0, 3.9041030406951904]));
    assert_eq!(frames[9], json!([216, 3.678321123123169]));
    assert_eq!(frames[11], json!([264, 3.888428211212158]));
    assert!(components_of(&ws, "uvq", "Gaming_1080P-0ce6_orig.mp4").is_empty());

    let features = write_features(&ws, "video_name", &["/mnt/ugc/Gaming_1080P-0ce6_orig.mp4"]);
    let rows = export(&ws, &features);
    assert_eq!(exported(&rows, "uvq"), vec![ok(3.921663522720337)]);
    assert_eq!(rows[0]["second_opinion_uvq_frames"], 12);
}

#[test]
fn uvq10_main_score_and_six_components() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "uvq-json/uvq1.0_Sports_720P-3eb4.json");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "uvq-json");
    assert_eq!(
        report["format_reason"],
        "UVQ 1.0 output (its seven feature-combination scores)"
    );
    assert_eq!(
        scores_of(&ws, "uvq"),
        vec![json!([
            "Sports_720P-3eb4.mp4",
            "/data/ugc/Sports_720P-3eb4.mp4",
            "video_name",
            4.032656478881836,
            "ok",
            null,
            0,
            1
        ])]
    );
    assert_eq!(
        components_of(&ws, "uvq", "Sports_720P-3eb4.mp4"),
        vec![
            json!(["compression", 4.20680570602417]),
            json!(["compression_content", 4.097027111053467]),
            json!(["compression_distortion", 4.090837383270264]),
            json!(["content", 3.972960376739502]),
            json!(["content_distortion", 3.9682242393493654]),
            json!(["distortion", 4.009924221038818]),
        ]
    );
    assert!(frames_of(&ws, "uvq", "Sports_720P-3eb4.mp4").is_empty());

    let features = write_features(&ws, "clip_id", &["Sports_720P-3eb4.mp4", "other.mp4"]);
    let rows = export(&ws, &features);
    assert_eq!(
        exported(&rows, "uvq"),
        vec![ok(4.032656478881836), missing()]
    );
    assert_eq!(rows[0]["second_opinion_uvq_content"], 3.972960376739502);
    assert_eq!(rows[0]["second_opinion_uvq_frames"], 0);
}

#[test]
fn uvq15_without_video_name_is_keyed_by_the_file_name_or_key() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "uvq-json/Vlog_480P-1b39.json");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "uvq-json");
    assert_eq!(
        notes(&report),
        vec!["key 'Vlog_480P-1b39' from the file name (the UVQ output has no `video_name`)"]
    );
    assert_eq!(
        scores_of(&ws, "uvq"),
        vec![json!([
            "Vlog_480P-1b39",
            "Vlog_480P-1b39",
            "file name",
            3.1836366653442383,
            "ok",
            null,
            5,
            1
        ])]
    );
    assert_eq!(
        frames_of(&ws, "uvq", "Vlog_480P-1b39")
            .iter()
            .map(|f| f[0].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 30, 60, 90, 120]
    );
    let features = write_features(&ws, "clip_id", &["Vlog_480P-1b39"]);
    assert_eq!(
        exported(&export(&ws, &features), "uvq"),
        vec![ok(3.1836366653442383)]
    );

    let keyed = Workspace::new();
    let file = copy_fixture(&keyed, "uvq-json/Vlog_480P-1b39.json");
    let report = ingest_one(&keyed, &["--key", "ugc/Vlog_480P-1b39.mp4", &file]);
    assert_eq!(
        notes(&report),
        vec!["key 'ugc/Vlog_480P-1b39.mp4' from --key (the UVQ output has no `video_name`)"]
    );
    assert_eq!(
        scores_of(&keyed, "uvq"),
        vec![json!([
            "ugc/Vlog_480P-1b39.mp4",
            "ugc/Vlog_480P-1b39.mp4",
            "--key",
            3.1836366653442383,
            "ok",
            null,
            5,
            1
        ])],
        "--key is not a path-like field: auto keeps it as given"
    );
}

// ------------------------------------------------------------- score-line

/// What one captured stdout should become.
struct ScoreLine<'a> {
    /// `tests/data/score-line/…`.
    fixture: &'a str,
    /// `LABEL=` to put before the file, if any.
    label: Option<&'a str>,
    reason: &'a str,
    slug: &'a str,
    key: &'a str,
    score: f64,
    line: i64,
}

/// Ingest a captured stdout and check the detected format, the key note
/// and the one stored row; return the report.
fn ingest_score_line(ws: &Workspace, expected: ScoreLine) -> Value {
    let file = copy_fixture(ws, expected.fixture);
    let source = match expected.label {
        Some(label) => format!("{label}={file}"),
        None => file,
    };
    let report = ingest_one(ws, &[&source]);
    assert_eq!(report["format"], "score-line");
    assert_eq!(report["format_reason"], expected.reason);
    assert!(
        notes(&report).contains(&format!("key '{}' from the file name", expected.key)),
        "{report}"
    );
    assert_eq!(
        scores_of(ws, expected.slug),
        vec![json!([
            expected.key,
            expected.key,
            "file name",
            expected.score,
            "ok",
            null,
            0,
            expected.line
        ])]
    );
    report
}

#[test]
fn fast_vqa_stdout_is_keyed_by_the_file_name_and_scored_by_the_model_in_brackets() {
    let ws = Workspace::new();
    let report = ingest_score_line(
        &ws,
        ScoreLine {
            fixture: "score-line/fast-vqa/10053703034.txt",
            label: None,
            reason: "FAST-VQA vqa.py stdout (`The quality score of the video (range [0,1]) is …`)",
            slug: "fastervqa",
            key: "10053703034",
            score: 0.42326,
            line: 5,
        },
    );
    assert_eq!(report["scorers"]["FasterVQA"]["ingested"], 1);
    let features = write_features(&ws, "clip_id", &["10053703034", "10053703035"]);
    assert_eq!(
        exported(&export(&ws, &features), "fastervqa"),
        vec![ok(0.42326), missing()]
    );
}

#[test]
fn dover_fused_stdout_is_its_own_scorer() {
    let ws = Workspace::new();
    let report = ingest_score_line(
        &ws,
        ScoreLine {
            fixture: "score-line/dover/17734.txt",
            label: None,
            reason: "DOVER evaluate_one_video.py -f stdout (`Normalized fused overall score (scale in [0,1]): …`)",
            slug: "dover_fused",
            key: "17734",
            score: 0.41083903655623016,
            line: 3,
        },
    );
    assert!(
        notes(&report)
            .iter()
            .any(|n| n.starts_with("DOVER's one-video fused score is on 0–1")),
        "{report}"
    );
    // The table keys by path; the file name gave the stem.
    let features = write_features(&ws, "path", &["./demo/17734.mp4"]);
    let rows = export_with(&ws, &features, &["--key-normalize", "stem"]);
    assert_eq!(
        exported(&rows, "dover_fused"),
        vec![ok(0.41083903655623016)]
    );
}

#[test]
fn musiq_stdout_among_jax_log_lines() {
    let ws = Workspace::new();
    ingest_score_line(
        &ws,
        ScoreLine {
            fixture: "score-line/musiq/I03.log",
            label: None,
            reason: "MUSIQ run_predict_image.py stdout (`Precited MOS: …`)",
            slug: "musiq",
            key: "I03",
            score: 73.05229,
            line: 3,
        },
    );
    let features = write_features(&ws, "clip_id", &["I03"]);
    assert_eq!(
        exported(&export(&ws, &features), "musiq"),
        vec![ok(73.05229)]
    );
}

#[test]
fn uvq_stdout_bare_number_needs_a_label_uvq10_names_itself() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "score-line/uvq/Gaming_1080P-0ce6_orig.out");
    // A bare number names no scorer.
    let refused = ws.run(&["ingest", &file]).fails_with(1);
    assert!(
        refused.stderr.contains("no scorer name"),
        "{}",
        refused.stderr
    );
    assert!(ws.registry_snapshot().is_empty());

    ingest_score_line(
        &ws,
        ScoreLine {
            fixture: "score-line/uvq/Gaming_1080P-0ce6_orig.out",
            label: Some("uvq"),
            reason: "the file is a single number (as UVQ's single-video stdout prints)",
            slug: "uvq",
            key: "Gaming_1080P-0ce6_orig",
            score: 3.880362033843994,
            line: 1,
        },
    );

    let uvq10 = Workspace::new();
    ingest_score_line(
        &uvq10,
        ScoreLine {
            fixture: "score-line/uvq-1.0/Sports_720P-3eb4.out",
            label: None,
            reason: "UVQ uvq_inference.py single-video stdout",
            slug: "uvq",
            key: "Sports_720P-3eb4",
            score: 4.032656478881836,
            line: 2,
        },
    );
    let features = write_features(&uvq10, "clip_id", &["Sports_720P-3eb4"]);
    assert_eq!(
        exported(&export(&uvq10, &features), "uvq"),
        vec![ok(4.032656478881836)]
    );
}

#[test]
fn score_line_key_option_names_the_clip() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "score-line/fast-vqa/10053703034.txt");
    let report = ingest_one(&ws, &["--key", "clip_x.mp4", &file]);
    assert_eq!(notes(&report), vec!["key 'clip_x.mp4' from --key"]);
    assert_eq!(
        scores_of(&ws, "fastervqa"),
        vec![json!([
            "clip_x.mp4",
            "clip_x.mp4",
            "--key",
            0.42326,
            "ok",
            null,
            0,
            5
        ])]
    );
}

// -------------------------------------------------------------------- csv

#[test]
fn csv_with_crlf_a_failed_row_and_string_keys() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "csv/nr_metric_v1.csv");
    let labelled = format!("nr-metric={file}");
    let report = ingest_one(&ws, &[&labelled]);
    assert_eq!(report["format"], "csv");
    assert_eq!(
        report["format_reason"],
        "a header of 4 comma-separated columns (clip_id, score, runtime_ms, status)"
    );
    assert_eq!(
        notes(&report),
        vec!["key from column 'clip_id', score from column 'score'"]
    );
    assert_eq!(
        scores_of(&ws, "nr_metric"),
        vec![
            json!(["001", "001", "clip_id", 72.5, "ok", null, 0, 2]),
            json!([
                "002",
                "002",
                "clip_id",
                null,
                "bad",
                "scorer reported status 'decode_error' (score is empty)",
                0,
                3
            ]),
            json!(["003", "003", "clip_id", 65.25, "ok", null, 0, 4]),
        ]
    );
    assert_eq!(
        sql_rows(&ws, "SELECT runtime_ms FROM scores ORDER BY line"),
        vec![json!([812.4]), json!([640.0]), json!([null])]
    );
    let features = write_features(&ws, "clip_id", &["003", "002", "001", "004"]);
    assert_eq!(
        exported(&export(&ws, &features), "nr_metric"),
        vec![ok(65.25), bad(), ok(72.5), missing()]
    );
}

#[test]
fn tsv_names_its_scorer_per_row_and_keys_by_path() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "csv/dover_mobile.tsv");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "csv");
    assert_eq!(
        report["format_reason"],
        "a header of 3 tab-separated columns (video_name, mos, competitor)"
    );
    assert_eq!(
        scores_of(&ws, "dover_mobile"),
        vec![
            json!([
                "clip_a.mp4",
                "/corpus/clip_a.mp4",
                "video_name",
                3.91,
                "ok",
                null,
                0,
                2
            ]),
            json!([
                "clip_b.mp4",
                "/corpus/clip_b.mp4",
                "video_name",
                2.75,
                "ok",
                null,
                0,
                3
            ]),
        ]
    );
    let features = write_features(&ws, "path", &["/other/clip_b.mp4", "/other/clip_a.mp4"]);
    assert_eq!(
        exported(&export(&ws, &features), "dover_mobile"),
        vec![ok(2.75), ok(3.91)]
    );
}

#[test]
fn semicolon_csv_with_a_decimal_comma_is_a_bad_row_with_the_reason() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "csv/clipiqa_semicolon.csv");
    let labelled = format!("clipiqa={file}");
    let report = ingest_one(&ws, &[&labelled]);
    assert_eq!(report["format"], "csv");
    assert_eq!(
        report["format_reason"],
        "a header of 2 semicolon-separated columns (path, score)"
    );
    assert_eq!(
        scores_of(&ws, "clip_iqa"),
        vec![
            json!(["clip_a.mp4", "/corpus/clip_a.mp4", "path", 0.61, "ok", null, 0, 2]),
            json!([
                "clip_b.mp4",
                "/corpus/clip_b.mp4",
                "path",
                null,
                "bad",
                "score must be a number, got \"0,44\" (a decimal comma: write numbers with a point)",
                0,
                3
            ]),
        ]
    );
    let features = write_features(&ws, "path", &["/corpus/clip_a.mp4", "/corpus/clip_b.mp4"]);
    assert_eq!(
        exported(&export(&ws, &features), "clip_iqa"),
        vec![ok(0.61), bad()]
    );
}

#[test]
fn csv_row_with_the_wrong_number_of_cells_is_refused_with_its_line() {
    let ws = Workspace::new();
    ws.write("scores.csv", "clip_id,score\r\na,1\r\n\r\nb,2,3\r\n");
    let run = ws.run(&["ingest", "nr=scores.csv"]).fails_with(1);
    assert!(
        run.stderr
            .contains("scores.csv:4: the row has 3 cells, the header has 2"),
        "{}",
        run.stderr
    );
    assert!(ws.registry_snapshot().is_empty());
}
