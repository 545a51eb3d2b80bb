//! A corpus of malformed score files. Each one must be refused with exit 1,
//! a `<file>:<line>: <what>` message on stderr, and a registry left exactly
//! as it was (the registry already holds a valid file, so "unchanged" is not
//! trivially "still empty").

mod common;

use common::Workspace;

/// One malformed file and what `ingest` must say about it.
struct Case {
    /// File name, written in the workspace and passed relative to it.
    name: &'static str,
    bytes: &'static [u8],
    /// `LABEL=` given on the command line (`None`: the bare path).
    label: Option<&'static str>,
    /// Flags before the path.
    flags: &'static [&'static str],
    /// The line the message must name.
    line: u64,
    /// A fragment the message must contain right after `<file>:<line>: `.
    message: &'static str,
}

const fn case(name: &'static str, bytes: &'static [u8], line: u64, message: &'static str) -> Case {
    Case {
        name,
        bytes,
        label: Some("metric"),
        flags: &[],
        line,
        message,
    }
}

fn corpus() -> Vec<Case> {
    vec![
        // --- JSON Lines: the line itself -------------------------------
        case(
            "invalid_json_line3.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip_id\": \"x2\", \"score\": 2}\n{\"clip_id\": \"x3\", \"score\": }\n{\"clip_id\": \"x4\", \"score\": 4}\n",
            3,
            "invalid JSON at column",
        ),
        case(
            "truncated_last_line.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip_id\": \"x2\", \"score\": 2}\n{\"clip_id\": \"x3\", \"sco",
            3,
            "invalid JSON at column",
        ),
        case(
            "two_objects_one_line.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1} {\"clip_id\": \"x2\", \"score\": 2}\n",
            1,
            "invalid JSON at column",
        ),
        case(
            "line_is_list.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n[1, 2]\n",
            2,
            "expected a JSON object, got a list",
        ),
        case(
            "line_is_string.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n\n\"clip_x2\"\n",
            3,
            "expected a JSON object, got \"clip_x2\"",
        ),
        case(
            "line_is_number.jsonl",
            b"42\n{\"clip_id\": \"x1\", \"score\": 1}\n",
            1,
            "expected a JSON object, got 42",
        ),
        case(
            "empty.jsonl",
            b"",
            1,
            "empty file",
        ),
        case(
            "only_blank_lines.jsonl",
            b"\n\r\n   \n\t\n",
            1,
            "no score rows, only blank lines",
        ),
        case(
            "invalid_utf8_line2.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip_id\": \"x\xff2\", \"score\": 2}\n",
            2,
            "invalid UTF-8",
        ),
        // --- keys --------------------------------------------------------
        case(
            "no_key_field.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip\": \"x2\", \"score\": 2}\n",
            2,
            "no key: the row has none of the key fields",
        ),
        case(
            "null_key_only.jsonl",
            b"{\"clip_id\": null, \"score\": 1}\n",
            1,
            "no key: the row has none of the key fields",
        ),
        Case {
            flags: &["--score-key-field", "clip"],
            ..case(
                "named_key_field_missing.jsonl",
                b"{\"clip\": \"x1\", \"score\": 1}\n{\"clip_id\": \"x2\", \"score\": 2}\n",
                2,
                "no key: the row has no field 'clip' (--score-key-field)",
            )
        },
        case(
            "empty_key.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip_id\": \"\", \"score\": 2}\n",
            2,
            "empty key in field 'clip_id'",
        ),
        case(
            "whitespace_key.jsonl",
            b"{\"video_id\": \" \\t \", \"score\": 2}\n",
            1,
            "empty key in field 'video_id'",
        ),
        case(
            "object_key.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip_id\": {\"id\": \"x2\"}, \"score\": 2}\n",
            2,
            "key field 'clip_id' must be a string or a number, got an object",
        ),
        case(
            "bool_key.jsonl",
            b"{\"clip_id\": true, \"score\": 2}\n",
            1,
            "key field 'clip_id' must be a string or a number, got true",
        ),
        Case {
            flags: &["--key-normalize", "basename"],
            ..case(
                "key_empty_after_basename.jsonl",
                b"{\"clip_id\": \"dir/x1\", \"score\": 1}\n{\"clip_id\": \"/\", \"score\": 2}\n",
                2,
                "key '/' is empty after --key-normalize basename",
            )
        },
        case(
            "duplicate_key_in_file.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip_id\": \"x2\", \"score\": 2}\n{\"clip_id\": \"x1\", \"score\": 1}\n",
            3,
            "duplicate score for competitor='metric' key='x1': the same file already has it at duplicate_key_in_file.jsonl:1",
        ),
        // --- scores and frames ---------------------------------------------
        case(
            "no_score_no_frames.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"clip_id\": \"x2\", \"runtime_ms\": 3.0}\n",
            2,
            "no score: the row has none of the score fields",
        ),
        case(
            "frames_not_a_list.jsonl",
            b"{\"name\": \"x1.yuv\", \"frames\": {\"0\": 70.0}}\n",
            1,
            "`frames` must be a list, got an object",
        ),
        case(
            "frame_not_an_object.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"name\": \"x2.yuv\", \"frames\": [{\"frame_idx\": 0, \"score\": 1}, 70.5]}\n",
            2,
            "frames[1] must be an object, got 70.5",
        ),
        case(
            "frame_without_score.jsonl",
            b"{\"name\": \"x1.yuv\", \"frames\": [{\"frame_idx\": 0, \"runtime_ms\": 1.5}]}\n",
            1,
            "frames[0] has no score field",
        ),
        case(
            "repeated_frame_index.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n\n{\"name\": \"x2.yuv\", \"frames\": [{\"frame_idx\": 0, \"score\": 1}, {\"frame_idx\": 1, \"score\": 2}, {\"frame_idx\": 1, \"score\": 3}]}\n",
            3,
            "frame 1 (0-based) appears twice in `frames` (frames[2])",
        ),
        case(
            "negative_frame_index.jsonl",
            b"{\"name\": \"x1.yuv\", \"frames\": [{\"frame_idx\": -1, \"score\": 1}]}\n",
            1,
            "frames[0].frame_idx must be an integer from 0, got -1",
        ),
        case(
            "summary_not_an_object.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1}\n{\"name\": \"x2.yuv\", \"frames\": [{\"score\": 1}], \"summary\": [\"DOVER\"]}\n",
            2,
            "`summary` must be an object, got a list",
        ),
        case(
            "runtime_fast.jsonl",
            b"{\"clip_id\": \"x1\", \"score\": 1, \"runtime_ms\": \"fast\"}\n",
            1,
            "runtime_ms must be a number, got \"fast\"",
        ),
        // --- scorer names --------------------------------------------------
        Case {
            label: None,
            ..case(
                "no_scorer_name.jsonl",
                b"{\"clip_id\": \"x1\", \"score\": 1}\n",
                1,
                "no scorer name",
            )
        },
        Case {
            label: None,
            ..case(
                "scorer_without_letters.jsonl",
                b"{\"clip_id\": \"x1\", \"competitor\": \"DOVER\", \"score\": 1}\n{\"clip_id\": \"x2\", \"competitor\": \"---\", \"score\": 2}\n",
                2,
                "scorer name '---' has no letters or digits",
            )
        },
        Case {
            label: Some("---"),
            // `---=…` would read as a flag; `--` ends the flags.
            flags: &["--"],
            ..case(
                "label_without_letters.jsonl",
                b"{\"clip_id\": \"x1\", \"score\": 1}\n",
                1,
                "scorer name '---' has no letters or digits",
            )
        },
        // --- JSON documents ----------------------------------------------
        case(
            "empty_list.json",
            b"[]\n",
            1,
            "no score rows: the document holds an empty list",
        ),
        case(
            "rows_not_a_list.json",
            b"{\"rows\": 5}\n",
            1,
            "`rows` must be a list of row objects",
        ),
        case(
            "results_not_a_list_line3.json",
            b"{\n  \"meta\": {\"model\": \"dover\"},\n  \"results\": {\"clip_id\": \"x1\", \"score\": 1}\n}\n",
            3,
            "`results` must be a list of row objects",
        ),
        case(
            "top_level_string.json",
            b"\"scores.jsonl\"\n",
            1,
            "expected a row object, a list of rows, or an object with a `rows` or `results` list",
        ),
        case(
            "syntax_error_line4.json",
            b"[\n  {\"clip_id\": \"x1\", \"score\": 1},\n  {\"clip_id\": \"x2\", \"score\": 2},\n  {\"clip_id\": \"x3\" \"score\": 3}\n]\n",
            4,
            "invalid JSON at column",
        ),
        case(
            "whitespace_only.json",
            b"  \n\n",
            1,
            "empty file",
        ),
        case(
            "invalid_utf8_line3.json",
            b"[\n  {\"clip_id\": \"x1\", \"score\": 1},\n  {\"clip_id\": \"x\xc32\", \"score\": 2}\n]\n",
            3,
            "invalid UTF-8",
        ),
        case(
            "row_is_number.json",
            b"[\n  {\"clip_id\": \"x1\", \"score\": 1},\n  7\n]\n",
            3,
            "expected a JSON object, got 7",
        ),
        case(
            "row_without_key.json",
            b"{\"rows\": [\n  {\"clip_id\": \"x1\", \"score\": 1},\n\n  {\"score\": 2}\n]}\n",
            4,
            "no key: the row has none of the key fields",
        ),
        case(
            "duplicate_key.json",
            b"[\n  {\"clip_id\": \"x1\", \"score\": 1},\n  {\"clip_id\": \"x1\",\n   \"score\": 2}\n]\n",
            3,
            "duplicate score for competitor='metric' key='x1'",
        ),
    ]
}

const SEED: &[u8] = b"{\"clip_id\": \"a\", \"score\": 1.5}\n{\"clip_id\": \"b\", \"score\": 2.5, \"runtime_ms\": 4}\n{\"name\": \"c.yuv\", \"frames\": [{\"frame_idx\": 0, \"score\": 3}, {\"frame_idx\": 1, \"score\": 5}]}\n";

#[test]
fn every_malformed_file_is_refused_with_its_line_and_leaves_the_registry_unchanged() {
    let ws = Workspace::new();
    ws.write("seed.jsonl", SEED);
    ws.run(&["ingest", "metric=seed.jsonl"]).ok();
    let before = ws.registry_snapshot();
    assert!(
        before.iter().any(|row| row.starts_with("scores: ")),
        "the seed file is in the registry: {before:#?}"
    );

    let corpus = corpus();
    assert!(corpus.len() >= 24, "corpus has {} cases", corpus.len());
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in &corpus {
        assert!(names.insert(case.name), "case {} twice", case.name);
        ws.write(case.name, case.bytes);
        let source = match case.label {
            Some(label) => format!("{label}={}", case.name),
            None => case.name.to_string(),
        };
        let mut args = vec!["ingest"];
        args.extend_from_slice(case.flags);
        args.push(&source);
        let run = ws.run(&args);
        let expected = format!("{}:{}: {}", case.name, case.line, case.message);
        let mut problems = Vec::new();
        if run.code != 1 {
            problems.push(format!("exit code {} (expected 1)", run.code));
        }
        if !run.stderr.contains(&expected) {
            problems.push(format!("stderr lacks `{expected}`"));
        }
        if run.stderr.contains("panicked") {
            problems.push("panicked".to_string());
        }
        if ws.registry_snapshot() != before {
            problems.push("registry changed".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                case.name,
                problems.join("; "),
                run.stderr.trim_end().replace('\n', "\n          ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} malformed files misbehaved:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    let integrity: String = ws
        .sqlite()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// A malformed file among good ones: the good files are ingested, the bad
/// one is not, and the run still exits 1 naming it.
#[test]
fn a_malformed_file_does_not_stop_or_spoil_the_others() {
    let ws = Workspace::new();
    ws.write(
        "good1.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1}\n{\"clip_id\": \"b\", \"score\": 2}\n",
    );
    ws.write(
        "bad.jsonl",
        "{\"clip_id\": \"c\", \"score\": 3}\n{\"clip_id\": \"d\", \"score\": 4}\n{oops}\n",
    );
    ws.write("good2.json", "[{\"clip_id\": \"e\", \"score\": 5}]");
    let run = ws
        .run(&["ingest", "m=good1.jsonl", "m=bad.jsonl", "m=good2.json"])
        .fails_with(1);
    assert!(
        run.stderr.contains("bad.jsonl:3: invalid JSON"),
        "{}",
        run.stderr
    );
    let conn = ws.sqlite();
    let texts = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |row| row.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(
        texts("SELECT key FROM scores ORDER BY key"),
        ["a", "b", "e"]
    );
    assert_eq!(
        texts("SELECT path FROM source_files ORDER BY id"),
        ["good1.jsonl", "good2.json"]
    );
}
