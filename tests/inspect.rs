//! `inspect`: how a file would be ingested, with nothing written.

mod common;

use common::Workspace;
use serde_json::json;

const ROWS: &str =
    "{\"path\": \"/corpus/a.mp4\", \"competitor\": \"DOVER-Mobile\", \"score\": 72.5}\n\
{\"path\": \"/corpus/b.mp4\", \"competitor\": \"DOVER-Mobile\", \"score\": NaN}\n";

#[test]
fn inspect_shows_format_scorer_keys_and_rows_and_creates_nothing() {
    let ws = Workspace::new();
    ws.write("dover.jsonl", ROWS);
    let run = ws.run(&["inspect", "dover.jsonl"]).ok();
    assert!(!ws.registry().exists(), "inspect never creates a registry");
    for expected in [
        "format:   jsonl (the .jsonl extension)",
        "scorer:   DOVER-Mobile (slug dover_mobile; scale 0:100; higher is better)",
        "dry run:  dover.jsonl: DOVER-Mobile: 2 rows ingested (1 bad, 0 replaced, 0 ignored, 0 skipped)",
        "path=/corpus/a.mp4",
        "a.mp4",
        "score must be a finite number, got \"NaN\"",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in\n{}", run.stdout);
    }
    let json = ws
        .run(&["inspect", "dover.jsonl", "--json", "--rows", "1"])
        .ok()
        .json();
    assert_eq!(json["would_ingest"], json!(true));
    assert_eq!(json["preview"].as_array().unwrap().len(), 1);
    assert_eq!(json["preview"][0]["key"], json!("a.mp4"));
    assert_eq!(json["preview"][0]["raw_key"], json!("/corpus/a.mp4"));
    assert_eq!(json["scorers"]["DOVER-Mobile"]["scale"], json!("0:100"));
}

#[test]
fn inspect_reports_what_ingest_would_refuse_and_leaves_the_registry_alone() {
    let ws = Workspace::new();
    ws.write("first.jsonl", ROWS);
    ws.write(
        "again.jsonl",
        "{\"path\": \"/elsewhere/a.mp4\", \"competitor\": \"DOVER-Mobile\", \"score\": 70.0}\n",
    );
    ws.run(&["ingest", "first.jsonl"]).ok();
    let before = ws.registry_snapshot();
    let run = ws.run(&["inspect", "again.jsonl"]).fails_with(1);
    assert!(
        run.stdout.contains(
            "problem:  again.jsonl:1: duplicate score for competitor='DOVER-Mobile' key='a.mp4'"
        ),
        "{}",
        run.stdout
    );
    // The format it was read as once, and the refusal once (on stderr).
    assert_eq!(run.stdout.matches("format:").count(), 1, "{}", run.stdout);
    assert!(run.stdout.contains("format:   jsonl"), "{}", run.stdout);
    let both = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(both.matches("would not be ingested").count(), 1, "{both}");
    // inspect takes the flags it suggests, and previews what they would do.
    assert!(run.stdout.contains("--replace"), "{}", run.stdout);
    let replaced = ws.run(&["inspect", "again.jsonl", "--replace"]).ok();
    assert!(
        replaced
            .stdout
            .contains("1 rows ingested (0 bad, 1 replaced"),
        "{}",
        replaced.stdout
    );
    let ignored = ws.run(&["inspect", "again.jsonl", "--ignore"]).ok();
    assert!(
        ignored.stdout.contains("1 rows ignored"),
        "{}",
        ignored.stdout
    );
    let json = ws
        .run(&["inspect", "again.jsonl", "--json"])
        .fails_with(1)
        .json();
    assert_eq!(json["would_ingest"], json!(false));
    // A file that would be fine is still only inspected.
    ws.write(
        "new.jsonl",
        "{\"path\": \"/c/z.mp4\", \"competitor\": \"DOVER-Mobile\", \"score\": 40.0}\n",
    );
    ws.run(&["inspect", "new.jsonl"]).ok();
    assert_eq!(ws.registry_snapshot(), before);
}

#[test]
fn help_lists_the_values_of_enum_flags_and_speaks_of_its_own_command() {
    let ws = Workspace::new();
    let ingest = ws.run(&["ingest", "--help"]).ok();
    assert!(
        ingest
            .stdout
            .contains("[possible values: jsonl, json, dover-csv"),
        "{}",
        ingest.stdout
    );
    let export = ws.run(&["export", "--help"]).ok();
    // Help wraps to the terminal: compare with whitespace folded.
    let flat = export
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for listed in [
        // Per scorer or for all: the values are in the text.
        "How keys are compared: auto, raw, basename, stem or tail:N",
        "[possible values: mark, drop, fail]",
        "[possible values: parquet, arrow, jsonl, json, csv]",
    ] {
        assert!(flat.contains(listed), "{listed}: {flat}");
    }
    // --registry is global: its help must not speak of other commands.
    let registry_help: String = export
        .stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--registry"))
        .take(3)
        .collect();
    assert!(!registry_help.contains("materialize"), "{registry_help}");
    let materialize = ws.run(&["help", "materialize"]).ok();
    assert!(
        materialize.stdout.contains("unless --registry"),
        "{}",
        materialize.stdout
    );
    let inspect = ws.run(&["inspect", "--help"]).ok();
    for flag in ["--replace", "--ignore", "--strict"] {
        assert!(inspect.stdout.contains(flag), "{flag}: {}", inspect.stdout);
    }
}

/// A DOVER CSV names its scorer by its layout: `inspect` previews it as
/// `dover` without a label, and says `ingest` wants one (DOVER and
/// DOVER-Mobile write the same file); a label given is used as it is.
#[test]
fn inspect_a_dover_csv_without_a_label() {
    let ws = Workspace::new();
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/dover-csv/demo.csv"
    ))
    .unwrap();
    ws.write("dover.csv", fixture);
    let run = ws.run(&["inspect", "dover.csv"]).ok();
    for expected in [
        "format:   dover-csv",
        "scorer:   dover (slug dover; scale 0:100; higher is better)",
        "dry run:  dover.csv: dover: 2 rows ingested (0 bad, 0 replaced, 0 ignored, 0 skipped)",
        "label:    none given: previewed as 'dover'",
        "dover-mobile=PATH",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            run.stdout
        );
    }
    assert!(!ws.registry().exists(), "inspect never creates a registry");
    let json = ws.run(&["inspect", "dover.csv", "--json"]).ok().json();
    assert_eq!(json["would_ingest"], true);
    assert_eq!(json["provisional_label"], "dover");

    let run = ws.run(&["inspect", "dover-mobile=dover.csv"]).ok();
    assert!(
        run.stdout.contains("scorer:   dover-mobile"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("label:"), "{}", run.stdout);
    // ingest still wants the label.
    ws.run(&["ingest", "dover.csv"]).fails_with(1);
}
