//! Known scorers' scales and directions, scorer versions, and the
//! suspicious-output checks, through the binary.

mod common;

use common::Workspace;
use serde_json::{json, Value};

fn rows(ws: &Workspace, name: &str, scorer: &str, values: impl Iterator<Item = f64>) {
    let text: String = values
        .enumerate()
        .map(|(i, v)| {
            format!("{{\"clip_id\": \"c{i:03}\", \"competitor\": \"{scorer}\", \"score\": {v}}}\n")
        })
        .collect();
    ws.write(name, text);
}

fn scorer<'a>(scorers: &'a Value, slug: &str) -> &'a Value {
    scorers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == json!(slug))
        .unwrap_or_else(|| panic!("no scorer {slug} in {scorers}"))
}

#[test]
fn known_scorers_get_their_documented_scale_and_direction() {
    let ws = Workspace::new();
    rows(
        &ws,
        "niqe.jsonl",
        "NIQE",
        (0..20).map(|i| 3.0 + i as f64 * 0.5),
    );
    rows(&ws, "fast.jsonl", "FasterVQA", [0.4, 0.7, 1.3].into_iter());
    ws.run(&["ingest", "niqe.jsonl", "fast.jsonl"]).ok();
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    let niqe = scorer(&scorers, "niqe");
    assert_eq!(niqe["higher_is_better"], json!(false));
    assert_eq!(
        (niqe["typical_min"].clone(), niqe["typical_max"].clone()),
        (json!(0.0), json!(100.0))
    );
    assert_eq!(
        niqe["scale_min"],
        Value::Null,
        "a typical range never marks values bad"
    );
    let fast = scorer(&scorers, "fastervqa");
    assert_eq!(
        (fast["scale_min"].clone(), fast["scale_max"].clone()),
        (json!(0.0), json!(1.0))
    );
    assert_eq!(
        fast["bad_rows"],
        json!(1),
        "1.3 is outside FAST-VQA's sigmoid"
    );
    // The table shows the typical range too, marked as not enforced.
    let table = ws.run(&["scorers"]).ok().stdout;
    let niqe_line = table.lines().find(|l| l.starts_with("NIQE")).unwrap();
    assert!(niqe_line.contains(" ~0:100 "), "{table}");
    let fast_line = table.lines().find(|l| l.starts_with("FasterVQA")).unwrap();
    assert!(fast_line.contains(" 0:1 "), "{table}");
}

#[test]
fn q_align_needs_a_declared_scale_and_declarations_win() {
    let ws = Workspace::new();
    rows(&ws, "qalign.jsonl", "q-align", [3.1, 4.2].into_iter());
    let refused = ws.run(&["ingest", "qalign.jsonl"]).fails_with(1);
    assert!(
        refused
            .stderr
            .contains("scorer 'q-align' has no fixed scale")
            && refused.stderr.contains("--scale"),
        "{}",
        refused.stderr
    );
    assert!(ws
        .registry_snapshot()
        .iter()
        .all(|row| !row.contains("q-align")));
    ws.run(&["ingest", "qalign.jsonl", "--scale", "1:5"]).ok();
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(scorer(&scorers, "q_align")["scale_max"], json!(5.0));

    rows(&ws, "brisque.jsonl", "brisque", [10.0, 20.0].into_iter());
    ws.run(&["ingest", "brisque.jsonl", "--higher-is-better"])
        .ok();
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(scorer(&scorers, "brisque")["higher_is_better"], json!(true));
}

#[test]
fn scorer_versions_are_recorded_and_shown() {
    let ws = Workspace::new();
    rows(&ws, "old.jsonl", "dover", [50.0, 60.0].into_iter());
    rows(&ws, "new.jsonl", "dover", [55.0, 65.0].into_iter());
    ws.run(&[
        "ingest",
        "old.jsonl",
        "--scorer-version",
        "DOVER 2022-12 (pre-01bb306)",
    ])
    .ok();
    ws.run(&[
        "ingest",
        "new.jsonl",
        "--replace",
        "--scorer-version",
        "DOVER f1ddc96",
    ])
    .ok();
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(
        scorer(&scorers, "dover")["versions"],
        json!(["DOVER f1ddc96"])
    );
    let history = ws
        .run(&["provenance", "--scorer", "dover", "--key", "c000", "--json"])
        .ok()
        .json();
    assert_eq!(history[0]["scorer_version"], json!("DOVER f1ddc96"));
    assert_eq!(
        history[1]["scorer_version"],
        json!("DOVER 2022-12 (pre-01bb306)")
    );
    let text = ws
        .run(&["provenance", "--scorer", "dover", "--key", "c000"])
        .ok();
    assert!(
        text.stdout.contains("version:     DOVER f1ddc96"),
        "{}",
        text.stdout
    );
}

#[test]
fn identical_scores_are_flagged_recorded_and_refused_by_strict() {
    let ws = Workspace::new();
    rows(&ws, "stuck.jsonl", "DOVER", std::iter::repeat_n(51.23, 30));
    let strict = ws.run(&["ingest", "stuck.jsonl", "--strict"]).fails_with(1);
    assert!(
        strict.stderr.contains(
            "suspicious output, refused by --strict: DOVER: all 30 scores are identical (51.23)"
        ),
        "{}",
        strict.stderr
    );
    assert!(ws
        .registry_snapshot()
        .iter()
        .all(|row| !row.starts_with("scores:")));

    let run = ws
        .run(&["ingest", "stuck.jsonl", "--report-json", "report.json"])
        .ok();
    assert!(
        run.stderr.contains(
            "warning: DOVER: all 30 scores are identical (51.23): zero spread [identical]"
        ),
        "{}",
        run.stderr
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["files"][0]["warnings"][0]["check"],
        json!("identical")
    );
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(
        scorer(&scorers, "dover")["warnings"],
        json!(["all 30 scores are identical (51.23): zero spread [identical]"])
    );
    let table = ws.run(&["scorers"]).ok();
    assert!(
        table.stdout.contains("warning: DOVER: all 30 scores"),
        "{}",
        table.stdout
    );
}

#[test]
fn values_on_another_scale_are_flagged() {
    let ws = Workspace::new();
    // MUSIQ is ~0-100; these look like a 0-1 checkpoint.
    rows(
        &ws,
        "musiq.jsonl",
        "musiq",
        (0..40).map(|i| 0.2 + i as f64 * 0.01),
    );
    let run = ws.run(&["ingest", "musiq.jsonl"]).ok();
    assert!(run.stderr.contains("[narrow]"), "{}", run.stderr);
    // Healthy values raise nothing.
    rows(
        &ws,
        "musiq2.jsonl",
        "musiq2",
        (0..40).map(|i| 20.0 + i as f64 * 1.5),
    );
    let run = ws.run(&["ingest", "musiq2.jsonl"]).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn dover_version_note_only_when_no_version_is_recorded() {
    let ws = Workspace::new();
    let csv = "path, aesthetic score, technical score, overall/final score\n\
./demo/1.mp4, 56.123450, 48.123000,51.230000\n";
    ws.write("a/dover.csv", csv);
    ws.write("b/dover.csv", csv.replace("51.23", "52.23"));
    let unversioned = ws.run(&["ingest", "dover=a/dover.csv"]).ok();
    assert!(
        unversioned.stderr.contains("note: DOVER's set evaluator"),
        "{}",
        unversioned.stderr
    );
    let versioned = ws
        .run(&[
            "ingest",
            "dover=b/dover.csv",
            "--replace",
            "--scorer-version",
            "f1ddc96",
        ])
        .ok();
    assert!(!versioned.stderr.contains("note:"), "{}", versioned.stderr);
}

#[test]
fn a_conflicting_direction_is_refused() {
    let ws = Workspace::new();
    rows(&ws, "a.jsonl", "in-house", [1.0, 2.0].into_iter());
    rows(&ws, "b.jsonl", "in-house", [3.0, 4.0].into_iter());
    ws.run(&["ingest", "a.jsonl", "--lower-is-better"]).ok();
    let before = ws.registry_snapshot();
    let run = ws
        .run(&["ingest", "b.jsonl", "--replace", "--higher-is-better"])
        .fails_with(1);
    assert!(
        run.stderr.contains(
            "scorer 'in-house' is registered as lower-is-better; --higher-is-better conflicts"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn export_reports_the_versions_each_scorer_came_from_in_slug_order() {
    let ws = Workspace::new();
    rows(&ws, "z.jsonl", "zeta", [1.0, 2.0].into_iter());
    rows(&ws, "a.jsonl", "alpha", [1.0, 2.0].into_iter());
    ws.run(&["ingest", "z.jsonl", "--scorer-version", "zeta v2 ckpt-7"])
        .ok();
    ws.run(&["ingest", "a.jsonl"]).ok();
    ws.write("t.jsonl", "{\"clip_id\": \"c000\"}\n");
    ws.run(&[
        "export",
        "--features",
        "t.jsonl",
        "--out",
        "o.jsonl",
        "--scorers",
        "zeta,alpha",
        "--report-json",
        "r.json",
    ])
    .ok();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("r.json")).unwrap()).unwrap();
    assert_eq!(
        report["scorers"]["zeta"]["versions"],
        json!(["zeta v2 ckpt-7"])
    );
    assert_eq!(report["scorers"]["alpha"]["versions"], json!([]));
    let line = std::fs::read_to_string(ws.path("o.jsonl")).unwrap();
    assert!(
        line.find("second_opinion_alpha_score").unwrap()
            < line.find("second_opinion_zeta_score").unwrap(),
        "columns come in slug order whatever --scorers said: {line}"
    );
}

#[test]
fn known_aliases_are_one_scorer_and_look_alikes_are_warned_about() {
    let ws = Workspace::new();
    for (file, label, key) in [
        ("a.jsonl", "q-align", "c1"),
        ("b.jsonl", "qalign", "c2"),
        ("c.jsonl", "one-align", "c3"),
    ] {
        ws.write(
            file,
            format!("{{\"clip_id\": \"{key}\", \"score\": 0.5}}\n"),
        );
        ws.run(&["ingest", &format!("{label}={file}"), "--scale", "0:1"])
            .ok();
    }
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    let slugs: Vec<&str> = scorers
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["q_align"]);
    assert_eq!(scorer(&scorers, "q_align")["live_rows"], json!(3));
    // The label as written stays on the file.
    let files = ws.run(&["files", "--json"]).ok().json();
    let labels: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["q-align", "qalign", "one-align"]);

    ws.write("d.jsonl", "{\"clip_id\": \"c4\", \"score\": 40.0}\n");
    let run = ws.run(&["ingest", "muziq=d.jsonl"]).ok();
    let shown = format!("{}{}", run.stdout, run.stderr);
    assert!(
        shown.contains("scorer 'muziq' is not a known scorer but looks like 'musiq'"),
        "{shown}"
    );

    // materialize (no registry kept) keeps the reference's one block per
    // spelling.
    ws.write("features.jsonl", "{\"clip_id\": \"c2\"}\n");
    common::Run::from(
        ws.bare()
            .args([
                "materialize",
                "--features",
                "features.jsonl",
                "--scores",
                "clipiqa=b.jsonl",
                "--out",
                "m.jsonl",
            ])
            .output()
            .unwrap(),
    )
    .ok();
    let out = std::fs::read_to_string(ws.path("m.jsonl")).unwrap();
    assert!(out.contains("second_opinion_clipiqa_score"), "{out}");
}
