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

#[test]
fn no_output_may_overwrite_the_registry_an_input_or_another_output() {
    let ws = Workspace::new();
    ws.write("nr.jsonl", rows("nr", &["a.mp4", "b.mp4"]));
    ws.run(&["ingest", "nr.jsonl"]).ok();
    ws.write("features.jsonl", "{\"clip_id\": \"a.mp4\", \"x\": 1}\n");
    std::fs::create_dir(ws.path("sub")).unwrap();
    let before = ws.registry_snapshot();
    let registry_bytes = std::fs::read(ws.registry()).unwrap();

    let refused = |args: &[&str], says: &str| {
        let run = ws.run(args).fails_with(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(ws.registry_snapshot(), before, "{args:?}");
        assert_eq!(
            std::fs::read(ws.registry()).unwrap(),
            registry_bytes,
            "{args:?}"
        );
    };
    // The registry, however it is spelled, and the files SQLite keeps beside it.
    refused(
        &[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "sub/../registry.db",
            "--out-format",
            "jsonl",
        ],
        "--out names the same file as the registry",
    );
    refused(
        &[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "registry.db-wal",
            "--out-format",
            "jsonl",
        ],
        "--out names the same file as the registry's write-ahead log",
    );
    refused(
        &[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "o.jsonl",
            "--report-json",
            "./registry.db",
        ],
        "--report-json names the same file as the registry",
    );
    refused(
        &["ingest", "nr.jsonl", "--report-json", "registry.db"],
        "--report-json names the same file as the registry",
    );
    // An input, or another output of the same command.
    refused(
        &[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "o.jsonl",
            "--report-json",
            "features.jsonl",
        ],
        "--report-json names the same file as --features",
    );
    refused(
        &[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "o.json",
            "--report-json",
            "o.json",
        ],
        "--report-json names the same file as --out",
    );
    refused(
        &["ingest", "nr.jsonl", "--report-json", "sub/../nr.jsonl"],
        "--report-json names the same file as a score file",
    );
    refused(
        &[
            "audit",
            "--input",
            "features.jsonl",
            "--out-json",
            "features.jsonl",
            "--out-md",
            "a.md",
        ],
        "--out-json names the same file as an --input table",
    );
    refused(
        &[
            "audit",
            "--input",
            "features.jsonl",
            "--out-json",
            "a.json",
            "--out-md",
            "a.json",
        ],
        "--out-md names the same file as --out-json",
    );
    for (args, says) in [
        (
            vec!["--audit-json", "nr.jsonl"],
            "--audit-json names the same file as --scores",
        ),
        (
            vec!["--audit-json", "m.jsonl"],
            "--audit-json names the same file as --out",
        ),
        (
            vec!["--registry", "registry.db", "--audit-json", "registry.db"],
            "--audit-json names the same file as the registry",
        ),
    ] {
        let mut command = ws.command();
        command.args([
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "nr.jsonl",
            "--out",
            "m.jsonl",
        ]);
        let run = common::Run::from(command.args(&args).output().unwrap()).fails_with(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(!ws.path("m.jsonl").exists());
    }
    assert_eq!(std::fs::read(ws.registry()).unwrap(), registry_bytes);
    assert_eq!(
        std::fs::read_to_string(ws.path("nr.jsonl")).unwrap(),
        rows("nr", &["a.mp4", "b.mp4"])
    );
    // Replacing the feature table in place stays allowed.
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "features.jsonl",
        "--overwrite",
    ])
    .ok();
}

/// `line` without its inline code spans (a run of N backticks up to the
/// next run of exactly N), as a Markdown renderer would set them apart.
fn outside_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let (mut kept, mut i) = (String::new(), 0);
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            kept.push(chars[i]);
            kept.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if chars[i] != '`' {
            kept.push(chars[i]);
            i += 1;
            continue;
        }
        let fence = run_at(i);
        let mut j = i + fence;
        let close = loop {
            if j >= chars.len() {
                break None;
            }
            if chars[j] == '`' {
                let run = run_at(j);
                if run == fence {
                    break Some(j + run);
                }
                j += run;
            } else {
                j += 1;
            }
        };
        match close {
            Some(end) => i = end,
            None => {
                kept.extend(&chars[i..i + fence]);
                i += fence;
            }
        }
    }
    kept
}

#[test]
fn markdown_reports_show_names_and_columns_as_written_and_run_nothing() {
    let ws = Workspace::new();
    let evil_column = "x`y|z\nw <img src=x onerror=alert(1)>";
    let evil_scorer = "<img src=x onerror=alert(2)>|**bold**";
    let rows: String = (0..12)
        .map(|n| {
            serde_json::json!({
                "clip_id": format!("c{n}.mp4"),
                "vmaf": 60.0 + n as f64,
                "mos": 3.0 + (n % 5) as f64 / 4.0,
                evil_column: (n * 7 % 11) as f64,
            })
            .to_string()
                + "\n"
        })
        .collect();
    ws.write("table.jsonl", rows);
    let keys: Vec<String> = (0..12).map(|n| format!("c{n}.mp4")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    ws.write("evil.jsonl", self::rows(evil_scorer, &keys));
    ws.run(&["ingest", "evil.jsonl"]).ok();
    ws.run(&[
        "export",
        "--features",
        "table.jsonl",
        "--out",
        "scored.jsonl",
    ])
    .ok();
    ws.run(&[
        "audit",
        "--input",
        "scored.jsonl",
        "--out-json",
        "a.json",
        "--out-md",
        "a.md",
    ])
    .ok();
    let markdown = std::fs::read_to_string(ws.path("a.md")).unwrap();
    assert!(
        markdown.contains("img src=x onerror=alert(2)"),
        "the name is shown"
    );
    for line in markdown.lines() {
        let outside = outside_code_spans(line);
        for tag in ["<img", "**bold**"] {
            let at = outside.find(tag);
            assert!(
                at.is_none_or(|at| at > 0 && outside[..at].ends_with('\\')),
                "{tag} live outside a code span in: {line}"
            );
        }
        // The column's line break cannot end a table row early.
        if line.starts_with('|') {
            assert!(line.trim_end().ends_with('|'), "{line}");
        }
    }
}

#[test]
fn files_that_are_not_registries_are_refused_and_left_as_they_were() {
    let ws = Workspace::new();
    let refused = |registry: &str, args: &[&str], says: &str| {
        let before = std::fs::read(ws.path(registry)).unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_second-opinion"));
        command
            .current_dir(ws.dir.path())
            .env_remove("SECOND_OPINION_REGISTRY")
            .args(["--registry", registry])
            .args(args);
        let run = common::Run::from(command.output().unwrap()).fails_with(1);
        assert!(
            run.stderr.contains(says),
            "{registry} {args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("the file was not modified"),
            "{}",
            run.stderr
        );
        assert_eq!(
            std::fs::read(ws.path(registry)).unwrap(),
            before,
            "{registry} {args:?}"
        );
        assert!(!ws.path(&format!("{registry}-wal")).exists());
    };
    // A 0-byte file: queries never create a schema in it.
    ws.write("empty.db", "");
    for query in [&["scorers"][..], &["files"], &["exports"]] {
        refused("empty.db", query, "an empty file, not a registry yet");
    }
    // Another program's SQLite database: nothing is created in it.
    {
        let other = rusqlite::Connection::open(ws.path("other.db")).unwrap();
        other
            .execute_batch("CREATE TABLE photos (id INTEGER); INSERT INTO photos VALUES (1);")
            .unwrap();
    }
    ws.write("nr.jsonl", rows("nr", &["a"]));
    refused(
        "other.db",
        &["scorers"],
        "an SQLite database of something else (tables photos)",
    );
    refused(
        "other.db",
        &["ingest", "nr.jsonl"],
        "not a second-opinion registry",
    );
    // A registry whose version was reset, or set below zero: the version
    // message, not an SQL error.
    ws.run(&["ingest", "nr.jsonl"]).ok();
    std::fs::copy(ws.registry(), ws.path("reset.db")).unwrap();
    std::fs::copy(ws.registry(), ws.path("negative.db")).unwrap();
    for (file, version) in [("reset.db", 0), ("negative.db", -1)] {
        let conn = rusqlite::Connection::open(ws.path(file)).unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    refused(
        "reset.db",
        &["scorers"],
        "reports schema version 0 (PRAGMA user_version was reset)",
    );
    refused(
        "negative.db",
        &["files"],
        "schema version -1 is not one second-opinion writes",
    );
    // An empty file is still a fine place for a first ingest.
    ws.write("fresh.db", "");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_second-opinion"));
    command
        .current_dir(ws.dir.path())
        .args(["--registry", "fresh.db", "ingest", "nr.jsonl"]);
    common::Run::from(command.output().unwrap()).ok();
}
