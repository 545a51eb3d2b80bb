//! The comma- and tab-separated scorer outputs end to end through the
//! binary: DOVER (`dover-csv`), COVER (`cover-csv`), pyiqa (`pyiqa-csv`),
//! MANIQA (`maniqa-txt`) and UVQ batch (`uvq-txt`).
//!
//! Every fixture of `tests/data/<format>/` is byte-exact to the layout in
//! `scorer-formats.md` (see each folder's README). Each test ingests one
//! with detection (no `--format`) and checks the detected format and why,
//! the scores, keys and components in the registry, and an export onto a
//! feature table keyed by full paths. The plain `name,score` files of MANIQA
//! and UVQ cannot be told apart by content: detection refuses them with the
//! candidates, and `--format` reads them.

mod common;

use std::path::{Path, PathBuf};

use common::{export_with as export, exported, missing, ok, sql_rows, Workspace};
use serde_json::{json, Value};

/// The bytes of `tests/data/<format>/<name>`.
fn fixture(format: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", format, name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copy a fixture into the workspace under `name` (its file name matters
/// to nothing but the messages) and return that relative path.
fn copy_fixture(ws: &Workspace, format: &str, name: &str) -> String {
    ws.write(name, fixture(format, name));
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

/// The live scores of `scorer` (by slug) in file order: key, raw key, key
/// field, score, status.
fn scores_of(ws: &Workspace, slug: &str) -> Vec<Value> {
    sql_rows(
        ws,
        &format!(
            "SELECT s.key, COALESCE(s.raw_key, (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key), s.key_field, s.score, s.status FROM scores s \
             JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.slug = '{slug}' AND s.superseded_at IS NULL ORDER BY s.line"
        ),
    )
}

/// The components of `scorer`'s live scores: key, component, value.
fn components_of(ws: &Workspace, slug: &str) -> Vec<Value> {
    sql_rows(
        ws,
        &format!(
            "SELECT s.key, p.name, p.value FROM score_components p \
             JOIN scores s ON s.id = p.score_id JOIN scorers c ON c.id = s.scorer_id \
             WHERE c.slug = '{slug}' AND s.superseded_at IS NULL ORDER BY s.line, p.name"
        ),
    )
}

/// Write a JSON Lines feature table with one `path` column (full paths)
/// and a feature `n`.
fn write_features(ws: &Workspace, paths: &[&str]) -> String {
    let lines: String = paths
        .iter()
        .enumerate()
        .map(|(n, path)| format!("{}\n", json!({"path": path, "n": n})))
        .collect();
    ws.write("features.jsonl", lines);
    "features.jsonl".to_string()
}

fn scorer_names(ws: &Workspace) -> Vec<Value> {
    sql_rows(ws, "SELECT name FROM scorers ORDER BY name")
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

// ------------------------------------------------------------------ DOVER

#[test]
fn dover_set_csv_full_paths_join_by_basename_with_components() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "dover-csv", "demo.csv");
    let report = ingest_one(&ws, &[&format!("DOVER={file}")]);
    assert_eq!(report["format"], "dover-csv");
    assert_eq!(
        report["format_reason"],
        "the DOVER header `path, aesthetic score, technical score, overall/final score`"
    );
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes[0].as_str().unwrap().contains("01bb3069")
            && notes[0].as_str().unwrap().contains("--scorer-version"),
        "{notes:?}"
    );
    assert_eq!(
        scores_of(&ws, "dover"),
        vec![
            json!(["17734.mp4", "./demo/17734.mp4", "path", 51.23, "ok"]),
            json!(["1724.mp4", "./demo/1724.mp4", "path", 47.100933, "ok"]),
        ]
    );
    assert_eq!(
        components_of(&ws, "dover"),
        vec![
            json!(["17734.mp4", "aesthetic", 56.12345]),
            json!(["17734.mp4", "technical", 48.123]),
            json!(["1724.mp4", "aesthetic", 61.004211]),
            json!(["1724.mp4", "technical", 39.55102]),
        ]
    );
    let features = write_features(
        &ws,
        &[
            "/data/ugc/1724.mp4",
            "/data/ugc/0001.mp4",
            "/data/ugc/17734.mp4",
        ],
    );
    // The table's `path` column is path-like: auto compares basenames.
    let rows = export(&ws, &features, &[]);
    assert_eq!(
        exported(&rows, "dover"),
        vec![ok(47.100933), missing(), ok(51.23)]
    );
}

#[test]
fn dover_side_file_is_keyed_by_basename() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "dover-csv", "zero_shot_res_sensehdr.txt");
    let report = ingest_one(&ws, &[&format!("DOVER-Mobile={file}")]);
    assert_eq!(report["format"], "dover-csv");
    assert_eq!(
        report["format_reason"],
        "DOVER's headerless `name,aesthetic, technical,overall` rows (zero_shot_res_sensehdr.txt)"
    );
    assert_eq!(
        report["notes"],
        json!([]),
        "the side file only exists after the fix"
    );
    assert_eq!(
        scores_of(&ws, "dover_mobile"),
        vec![
            json!(["17734.mp4", "17734.mp4", "basename", 51.23, "ok"]),
            json!(["1724.mp4", "1724.mp4", "basename", 47.100933, "ok"]),
        ]
    );
    assert_eq!(components_of(&ws, "dover_mobile").len(), 4);
    let features = write_features(&ws, &["/data/ugc/17734.mp4", "/data/ugc/1724.mp4"]);
    let rows = export(&ws, &features, &[]);
    assert_eq!(
        exported(&rows, "dover_mobile"),
        vec![ok(51.23), ok(47.100933)]
    );
}

#[test]
fn dover_names_no_scorer_so_it_needs_a_label() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "dover-csv", "demo.csv");
    let run = ws.run(&["ingest", &file]).fails_with(1);
    assert!(
        run.stderr.contains("demo.csv:2: no scorer name"),
        "{}",
        run.stderr
    );
    assert!(ws.dump("SELECT * FROM scores").is_empty());
}

#[test]
fn a_malformed_dover_row_names_the_file_and_line() {
    let ws = Workspace::new();
    ws.write(
        "demo.csv",
        "path, aesthetic score, technical score, overall/final score\n\
         ./demo/a.mp4, 56.123450, 48.123000,51.230000\n\
         ./demo/b.mp4, 56.123450, 48.123000,high\n",
    );
    let run = ws.run(&["ingest", "dover=demo.csv"]).fails_with(1);
    assert!(
        run.stderr
            .contains("demo.csv:3: overall/final score is not a number: \"high\""),
        "{}",
        run.stderr
    );
    assert!(ws.dump("SELECT * FROM scores").is_empty(), "all or nothing");
}

// ------------------------------------------------------------------ COVER

#[test]
fn cover_set_csv_basenames_negative_values_and_its_own_scorer_name() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "cover-csv", "demo.csv");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "cover-csv");
    assert!(
        report["format_reason"]
            .as_str()
            .unwrap()
            .contains("(evaluate_a_set_of_videos.py)"),
        "{report}"
    );
    assert_eq!(
        scorer_names(&ws),
        vec![json!("cover")],
        "named by the format"
    );
    assert_eq!(
        scores_of(&ws, "cover"),
        vec![
            json!([
                "fun_video_3.mp4",
                "fun_video_3.mp4",
                "basename",
                -1.897992,
                "ok"
            ]),
            json!(["video_1.mp4", "video_1.mp4", "basename", -0.113025, "ok"]),
        ]
    );
    assert_eq!(
        components_of(&ws, "cover"),
        vec![
            json!(["fun_video_3.mp4", "aesthetic", -0.869427]),
            json!(["fun_video_3.mp4", "semantic", -0.111073]),
            json!(["fun_video_3.mp4", "technical", -0.917492]),
            json!(["video_1.mp4", "aesthetic", 0.105127]),
            json!(["video_1.mp4", "semantic", -0.086216]),
            json!(["video_1.mp4", "technical", -0.131936]),
        ]
    );
    let features = write_features(&ws, &["/in/video_1.mp4", "/in/fun_video_3.mp4"]);
    let rows = export(&ws, &features, &[]);
    assert_eq!(exported(&rows, "cover"), vec![ok(-0.113025), ok(-1.897992)]);
}

#[test]
fn cover_one_dataset_csv_stems_join_with_key_normalize_stem() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "cover-csv", "ytugc.csv");
    let report = ingest_one(&ws, &[&file]);
    assert_eq!(report["format"], "cover-csv");
    assert!(
        report["format_reason"]
            .as_str()
            .unwrap()
            .contains("(evaluate_one_dataset.py)"),
        "{report}"
    );
    assert_eq!(
        scores_of(&ws, "cover"),
        vec![
            json!([
                "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0",
                "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0",
                "stem",
                0.585754781961441,
                "ok"
            ]),
            json!([
                "Vlog_720P-1b2c_crf_10_ss_00_t_20.0",
                "Vlog_720P-1b2c_crf_10_ss_00_t_20.0",
                "stem",
                -0.2588680982589722,
                "ok"
            ]),
        ]
    );
    assert_eq!(
        components_of(&ws, "cover")[..3],
        [
            json!([
                "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0",
                "aesthetic",
                0.2206125557422638
            ]),
            json!([
                "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0",
                "semantic",
                -0.08621597290039062
            ]),
            json!([
                "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0",
                "technical",
                0.4513581991195679
            ]),
        ]
    );
    let features = write_features(
        &ws,
        &[
            "/corpus/ugc/Vlog_720P-1b2c_crf_10_ss_00_t_20.0.mp4",
            "/corpus/ugc/Gaming_1080P-0ce6_crf_10_ss_00_t_20.0.mp4",
        ],
    );
    let rows = export(&ws, &features, &["--key-normalize", "stem"]);
    assert_eq!(
        exported(&rows, "cover"),
        vec![ok(-0.2588680982589722), ok(0.585754781961441)]
    );
}

// ------------------------------------------------------------------ pyiqa

#[test]
fn pyiqa_crlf_csv_is_detected_and_keyed_by_basename() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "pyiqa-csv", "musiq.csv");
    let report = ingest_one(&ws, &[&format!("musiq={file}")]);
    assert_eq!(report["format"], "pyiqa-csv");
    assert_eq!(
        report["format_reason"],
        "`name,score` rows with CRLF line ends (pyiqa inference_iqa.py --save_file)"
    );
    assert_eq!(
        scores_of(&ws, "musiq"),
        vec![
            json!(["I03.bmp", "I03.bmp", "basename", 12.478515625, "ok"]),
            json!(["I04.bmp", "I04.bmp", "basename", 75.77722930908203, "ok"]),
        ]
    );
    assert!(components_of(&ws, "musiq").is_empty());
    let features = write_features(&ws, &["/frames/I04.bmp", "/frames/I03.bmp"]);
    let rows = export(&ws, &features, &[]);
    assert_eq!(
        exported(&rows, "musiq"),
        vec![ok(75.77722930908203), ok(12.478515625)]
    );
}

#[test]
fn pyiqa_tab_separated_file_skips_its_average_line_with_a_note() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "pyiqa-csv", "musiq_0.1.7.txt");
    let report = ingest_one(&ws, &[&format!("musiq={file}")]);
    assert_eq!(report["format"], "pyiqa-csv");
    assert!(
        report["format_reason"]
            .as_str()
            .unwrap()
            .starts_with("tab-separated `name<TAB>score` rows and the `Average … is:` line"),
        "{report}"
    );
    assert_eq!(
        report["notes"],
        json!([
            "skipped line 3, pyiqa's trailer `Average musiq score of ./images with 2 images \
                is: 44.127872467041016`: the mean of the file, not a clip score"
        ])
    );
    assert_eq!(report["scorers"]["musiq"]["ingested"], 2);
    assert_eq!(
        scores_of(&ws, "musiq")
            .iter()
            .map(|row| row[3].clone())
            .collect::<Vec<_>>(),
        vec![json!(12.478515625), json!(75.77722930908203)]
    );
    let features = write_features(&ws, &["/frames/I03.bmp", "/frames/I99.bmp"]);
    let rows = export(&ws, &features, &[]);
    assert_eq!(exported(&rows, "musiq"), vec![ok(12.478515625), missing()]);
}

// ---------------------------------------------------------- MANIQA and UVQ

/// The message `Format::detect` refuses a plain `name,score` file with.
const AMBIGUOUS_TXT: &str = "cannot tell the format: it looks like pyiqa-csv or maniqa-txt or \
                             uvq-txt (pass --format with one of them)";

#[test]
fn plain_name_score_lines_are_refused_with_the_candidate_formats() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "maniqa-txt", "output.txt");
    let run = ws.run(&["ingest", &file]).fails_with(2);
    assert!(
        run.stderr.contains(&format!("output.txt: {AMBIGUOUS_TXT}")),
        "{}",
        run.stderr
    );
    let file = copy_fixture(&ws, "uvq-txt", "results.txt");
    let run = ws.run(&["ingest", &file]).fails_with(2);
    assert!(run.stderr.contains(AMBIGUOUS_TXT), "{}", run.stderr);
    // MANIQA only ever writes .txt, so a .csv leaves two candidates.
    ws.write("scores.csv", fixture("uvq-txt", "results.txt"));
    let run = ws.run(&["ingest", "scores.csv"]).fails_with(2);
    assert!(
        run.stderr.contains(
            "cannot tell the format: it looks like pyiqa-csv or uvq-txt \
             (pass --format with one of them)"
        ),
        "{}",
        run.stderr
    );
    assert!(ws.registry_snapshot().is_empty(), "nothing was written");
}

#[test]
fn maniqa_output_txt_with_format() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "maniqa-txt", "output.txt");
    let report = ingest_one(&ws, &["--format", "maniqa-txt", &file]);
    assert_eq!(
        (&report["format"], &report["format_reason"]),
        (&json!("maniqa-txt"), &json!("--format"))
    );
    assert_eq!(
        scorer_names(&ws),
        vec![json!("maniqa")],
        "named by the format"
    );
    assert_eq!(
        scores_of(&ws, "maniqa"),
        vec![
            json!(["A0001.bmp", "A0001.bmp", "name", 0.6401, "ok"]),
            json!(["A0002.bmp", "A0002.bmp", "name", 0.51236147, "ok"]),
        ]
    );
    let features = write_features(&ws, &["/kadid/A0002.bmp", "/kadid/A0001.bmp"]);
    let rows = export(&ws, &features, &[]);
    assert_eq!(exported(&rows, "maniqa"), vec![ok(0.51236147), ok(0.6401)]);
}

#[test]
fn uvq_batch_txt_with_format() {
    let ws = Workspace::new();
    let file = copy_fixture(&ws, "uvq-txt", "results.txt");
    let report = ingest_one(&ws, &["--format", "uvq-txt", &file]);
    assert_eq!(report["format"], "uvq-txt");
    assert_eq!(scorer_names(&ws), vec![json!("uvq")], "named by the format");
    assert_eq!(
        scores_of(&ws, "uvq"),
        vec![
            json!([
                "Gaming_1080P-0ce6_orig.mp4",
                "Gaming_1080P-0ce6_orig.mp4",
                "basename",
                3.880362033843994,
                "ok"
            ]),
            json!([
                "Vlog_720P-1b2c_orig.mp4",
                "Vlog_720P-1b2c_orig.mp4",
                "basename",
                2.7153213024139404,
                "ok"
            ]),
        ]
    );
    let features = write_features(
        &ws,
        &[
            "/ugc/Gaming_1080P-0ce6_orig.mp4",
            "/ugc/Vlog_720P-1b2c_orig.mp4",
        ],
    );
    let rows = export(&ws, &features, &[]);
    assert_eq!(
        exported(&rows, "uvq"),
        vec![ok(3.880362033843994), ok(2.7153213024139404)]
    );
}

#[test]
fn a_nan_score_is_a_bad_row_not_a_malformed_file() {
    let ws = Workspace::new();
    ws.write("results.txt", "a.mp4,3.5\nb.mp4,nan\n");
    let report = ingest_one(&ws, &["--format", "uvq-txt", "results.txt"]);
    assert_eq!(report["scorers"]["uvq"]["bad"], 1);
    assert_eq!(
        sql_rows(
            &ws,
            "SELECT key, score, status, reason FROM scores ORDER BY line"
        ),
        vec![
            json!(["a.mp4", 3.5, "ok", null]),
            json!([
                "b.mp4",
                null,
                "bad",
                "score must be a finite number, got \"nan\""
            ]),
        ]
    );
    let features = write_features(&ws, &["/x/a.mp4", "/x/b.mp4"]);
    let rows = export(&ws, &features, &[]);
    assert_eq!(
        exported(&rows, "uvq"),
        vec![ok(3.5), (Value::Null, json!("bad"))]
    );
}

// ------------------------------------------- one table, three kinds of keys

/// The clips of the feature table, as full paths. Two stems hold a dot of
/// their own (`…_t_20.0`), as YouTube-UGC's names do.
const CLIPS: [&str; 3] = [
    "/corpus/ugc/Gaming_1080P-0ce6_crf_10_ss_00_t_20.0.mp4",
    "/corpus/ugc/17734.mp4",
    "/corpus/ugc/Vlog_720P-1b2c_crf_10_ss_00_t_20.0.mp4",
];

/// DOVER, keyed by the full paths it walked (another mount than the table's).
const DOVER_FULL_PATHS: &str = "path, aesthetic score, technical score, overall/final score\n\
/mnt/videos/ugc/Gaming_1080P-0ce6_crf_10_ss_00_t_20.0.mp4, 61.004211, 39.551020,47.100933\n\
/mnt/videos/ugc/17734.mp4, 56.123450, 48.123000,51.230000\n\
/mnt/videos/ugc/Vlog_720P-1b2c_crf_10_ss_00_t_20.0.mp4, 40.500000, 30.250000,33.125000\n";

/// COVER `evaluate_one_dataset.py`, keyed by stems.
const COVER_STEMS: &str =
    "Video,semantic score,technical score,aesthetic score,overall/final score\r\n\
Gaming_1080P-0ce6_crf_10_ss_00_t_20.0,0.1,0.2,0.3,0.6000000000000001\r\n\
17734,-0.5,0.25,0.125,-0.125\r\n\
Vlog_720P-1b2c_crf_10_ss_00_t_20.0,0.5,0.5,0.5,1.5\r\n";

/// pyiqa on one thumbnail per clip, keyed by the thumbnails' basenames.
const PYIQA_BASENAMES: &str = "17734.png,61.5\r\n\
Gaming_1080P-0ce6_crf_10_ss_00_t_20.0.png,44.25\r\n\
Vlog_720P-1b2c_crf_10_ss_00_t_20.0.png,70.125\r\n";

/// Full paths (DOVER), stems (COVER `evaluate_one_dataset.py`) and
/// basenames of other files (pyiqa thumbnails) of the same clips join one
/// table keyed by full paths. What works: ingest the path and basename
/// files with `--key-normalize stem`, ingest the stem file as it is (its
/// key field `stem` is left alone by `auto`), and export with
/// `--key-normalize stem`. Stemming the stems again would cut `.0` off
/// `…_t_20.0`, and the clip would no longer match.
#[test]
fn full_paths_stems_and_basenames_of_the_same_clips_join_one_table() {
    let ws = Workspace::new();
    ws.write("dover.csv", DOVER_FULL_PATHS);
    ws.write("ytugc.csv", COVER_STEMS);
    ws.write("thumbs.csv", PYIQA_BASENAMES);
    ws.run(&[
        "ingest",
        "--key-normalize",
        "stem",
        "dover=dover.csv",
        "musiq=thumbs.csv",
    ])
    .ok();
    ws.run(&["ingest", "ytugc.csv"]).ok();
    let keys = |slug: &str| -> Vec<Value> {
        scores_of(&ws, slug)
            .iter()
            .map(|row| row[0].clone())
            .collect()
    };
    let stems = [
        "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0",
        "17734",
        "Vlog_720P-1b2c_crf_10_ss_00_t_20.0",
    ];
    assert_eq!(keys("dover"), stems.map(|s| json!(s)));
    assert_eq!(keys("cover"), stems.map(|s| json!(s)));
    let mut musiq = keys("musiq");
    musiq.sort_by_key(|key| key.to_string());
    let mut sorted = stems.map(|s| json!(s)).to_vec();
    sorted.sort_by_key(|key| key.to_string());
    assert_eq!(musiq, sorted);

    let features = write_features(&ws, &CLIPS);
    let rows = export(&ws, &features, &["--key-normalize", "stem"]);
    assert_eq!(
        exported(&rows, "dover"),
        vec![ok(47.100933), ok(51.23), ok(33.125)]
    );
    assert_eq!(
        exported(&rows, "cover"),
        vec![ok(0.6000000000000001), ok(-0.125), ok(1.5)]
    );
    assert_eq!(
        exported(&rows, "musiq"),
        vec![ok(44.25), ok(61.5), ok(70.125)]
    );
    // Every original column passes through.
    assert_eq!(rows[1]["path"], CLIPS[1]);
    assert_eq!(rows[1]["n"], 1);

    // A stem file ingested with --key-normalize stem keeps its stems whole
    // (stemming `…_t_20.0` again would cut `.0`), so it still matches.
    let again = Workspace::new();
    again.write("ytugc.csv", COVER_STEMS);
    again
        .run(&["ingest", "--key-normalize", "stem", "ytugc.csv"])
        .ok();
    assert_eq!(
        scores_of(&again, "cover")[0][0],
        "Gaming_1080P-0ce6_crf_10_ss_00_t_20.0"
    );
    let features = write_features(&again, &CLIPS);
    let rows = export(&again, &features, &["--key-normalize", "stem"]);
    assert_eq!(
        exported(&rows, "cover"),
        vec![ok(0.6000000000000001), ok(-0.125), ok(1.5)]
    );
}

#[test]
fn every_fixture_is_documented_next_to_it() {
    for format in [
        "dover-csv",
        "cover-csv",
        "pyiqa-csv",
        "maniqa-txt",
        "uvq-txt",
        "ffmpeg-quality-metrics",
    ] {
        let readme = String::from_utf8(fixture(format, "README.md")).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(format);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name != "README.md" && name != ".gitattributes" {
                assert!(
                    readme.contains(&format!("`{name}`")),
                    "{format}/README.md does not describe {name}"
                );
            }
        }
    }
}

/// Formats that read the same `name,score` lines need no `--format` when
/// the label names the scorer: every candidate stores the same rows, and
/// the label says which format's scorer it is. A first column of bare
/// numbers stays refused, listing the `--format` names.
#[test]
fn name_score_lines_are_settled_by_the_label() {
    let ws = Workspace::new();
    let maniqa = copy_fixture(&ws, "maniqa-txt", "output.txt");
    let report = ingest_one(&ws, &[&format!("maniqa={maniqa}")]);
    assert_eq!(report["format"], "maniqa-txt");
    assert!(
        report["format_reason"]
            .as_str()
            .unwrap()
            .contains("read alike by pyiqa-csv, maniqa-txt, uvq-txt"),
        "{report}"
    );
    assert_eq!(
        scores_of(&ws, "maniqa"),
        vec![
            json!(["A0001.bmp", "A0001.bmp", "name", 0.6401, "ok"]),
            json!(["A0002.bmp", "A0002.bmp", "name", 0.51236147, "ok"]),
        ]
    );
    let uvq = copy_fixture(&ws, "uvq-txt", "results.txt");
    assert_eq!(
        ingest_one(&ws, &[&format!("uvq={uvq}")])["format"],
        "uvq-txt"
    );
    // A metric pyiqa computes: the candidates agree, pyiqa's format is taken.
    ws.write("frames.txt", "I03.bmp,12.5\nI04.bmp,75.75\n");
    let report = ingest_one(&ws, &["musiq=frames.txt"]);
    assert_eq!(report["format"], "pyiqa-csv");
    assert_eq!(scores_of(&ws, "musiq").len(), 2);

    // materialize takes the label the same way.
    ws.write("features.jsonl", "{\"name\":\"/kadid/A0002.bmp\"}\n");
    let run = common::Run::from(
        std::process::Command::new(env!("CARGO_BIN_EXE_second-opinion"))
            .current_dir(ws.dir.path())
            .env_remove("SECOND_OPINION_REGISTRY")
            .args([
                "materialize",
                "--features",
                "features.jsonl",
                "--out",
                "out.jsonl",
            ])
            .arg("--scores")
            .arg(format!("maniqa={maniqa}"))
            .output()
            .unwrap(),
    )
    .ok();
    assert!(run.stderr.contains("maniqa: 1 matched"), "{}", run.stderr);

    // Without a label the choice names the scorer: still refused.
    let run = ws.run(&["ingest", &maniqa]).fails_with(2);
    assert!(run.stderr.contains(AMBIGUOUS_TXT), "{}", run.stderr);
    // Bare numbers are not clip names, whatever the label.
    ws.write("numbers.txt", "1,3.5\n2,4.25\n");
    for argument in ["numbers.txt", "musiq=numbers.txt"] {
        let run = ws.run(&["ingest", argument]).fails_with(2);
        assert!(
            run.stderr.contains(
                "the first column holds bare numbers, not clip names \
                 (pass --format with one of pyiqa-csv, maniqa-txt, uvq-txt"
            ),
            "{}",
            run.stderr
        );
    }
    ingest_one(
        &ws,
        &["--format", "uvq-txt", "--scorer", "numbered", "numbers.txt"],
    );
}
