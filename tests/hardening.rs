//! Issue 13's findings, each reproduced end to end: inputs that used to
//! panic the table printer, names too long to list, and control characters
//! from the data reaching the terminal.

mod common;

use common::Workspace;

/// A JSON Lines score file of one row per (key, score).
fn rows(scorer: &str, keys: &[&str]) -> String {
    keys.iter()
        .enumerate()
        .map(|(n, key)| {
            serde_json::json!({"clip_id": key, "competitor": scorer, "score": n as f64 + 1.0})
                .to_string()
                + "\n"
        })
        .collect()
}

fn has_escape(text: &str) -> bool {
    text.contains('\u{1b}') || text.contains('\u{202e}') || text.contains('\r')
}

#[test]
fn inspect_shows_a_key_of_seventy_thousand_characters() {
    let ws = Workspace::new();
    let key = "k".repeat(70_000);
    ws.write("wide.jsonl", rows("nr", &[&key, "b"]));
    let run = ws.run(&["inspect", "wide.jsonl"]).ok();
    assert!(run.stdout.contains(&key), "the key is shown whole");
    // The other rows keep their alignment: no 70,000-space padding.
    assert!(run
        .stdout
        .lines()
        .filter(|line| !line.contains(&key))
        .all(|line| line.len() < 1_000));
}

#[test]
fn names_longer_than_the_limit_are_refused_and_the_registry_is_unchanged() {
    let ws = Workspace::new();
    ws.write("ok.jsonl", rows("nr", &["a"]));
    ws.run(&["ingest", "ok.jsonl"]).ok();
    let before = ws.registry_snapshot();

    let long_name = "n".repeat(300);
    ws.write("long.jsonl", rows(&long_name, &["a", "b"]));
    let run = ws.run(&["ingest", "long.jsonl"]).fails_with(1);
    assert!(
        run.stderr.contains(
            "long.jsonl:1: scorer name of 300 characters is longer than the limit of 256"
        ),
        "{}",
        run.stderr
    );
    let label = format!("{}=long-label.jsonl", "l".repeat(70_000));
    ws.write("long-label.jsonl", "{\"clip_id\": \"a\", \"score\": 1}\n");
    ws.run(&["ingest", &label]).fails_with(1);
    let version = "v".repeat(70_000);
    let run = ws
        .run(&[
            "ingest",
            "ok.jsonl",
            "--scorer",
            "other",
            "--scorer-version",
            &version,
        ])
        .fails_with(2);
    assert!(
        run.stderr
            .contains("--scorer-version of 70000 characters is longer than the limit of 4096"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);

    // A name at the limit is taken, and every listing prints it.
    let at_limit = "m".repeat(256);
    ws.write("limit.jsonl", rows(&at_limit, &["a"]));
    ws.run(&[
        "ingest",
        "limit.jsonl",
        "--scorer-version",
        &"v".repeat(4096),
    ])
    .ok();
    assert!(ws.run(&["scorers"]).ok().stdout.contains(&at_limit));
    assert!(ws.run(&["files"]).ok().stdout.contains("limit.jsonl"));
}

#[test]
fn control_characters_from_the_data_are_shown_escaped() {
    let ws = Workspace::new();
    let evil_key = "a\u{1b}]0;pwned\u{7}.mp4";
    let evil_name = "evil\u{1b}[2J\u{202e}";
    ws.write("evil.jsonl", rows(evil_name, &[evil_key, "b\rX"]));
    let ingest = ws.run(&["ingest", "evil.jsonl"]).ok();
    assert!(!has_escape(&ingest.stderr), "{:?}", ingest.stderr);
    assert!(
        ingest.stderr.contains("evil\\x1b[2J\\u{202e}"),
        "{}",
        ingest.stderr
    );

    let scorers = ws.run(&["scorers"]).ok();
    assert!(!has_escape(&scorers.stdout), "{:?}", scorers.stdout);
    assert!(scorers.stdout.contains("evil\\x1b[2J\\u{202e}"));
    // JSON keeps the name exactly; its own escaping makes it safe.
    let listed = ws.run(&["scorers", "--json"]).ok().json();
    assert_eq!(listed[0]["name"], evil_name);

    let provenance = ws
        .run(&["provenance", "--scorer", evil_name, "--key", evil_key])
        .ok();
    assert!(!has_escape(&provenance.stdout), "{:?}", provenance.stdout);

    // The unmatched-key list of an export names the keys no row matched.
    ws.write(
        "features.jsonl",
        "{\"clip_id\": \"c\", \"x\": 1}\n{\"clip_id\": \"a\", \"x\": 2}\n",
    );
    let export = ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "out.jsonl",
        "--key-column",
        "clip_id",
        "--key-normalize",
        "raw",
    ]);
    assert!(!has_escape(&export.stderr), "{:?}", export.stderr);
    assert!(
        export.stderr.contains("\\x1b]0;pwned\\x07"),
        "{}",
        export.stderr
    );
}
