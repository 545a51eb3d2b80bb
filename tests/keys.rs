//! The key check and key matching of `export`, `materialize` and `batch`
//! (issues 12 and 13): what stops an export, what only warns, keys with
//! whitespace around them, per-frame tables, and messages that name only
//! flags the command takes.

mod common;

use common::Workspace;
use serde_json::Value;

fn read_rows(ws: &Workspace, name: &str) -> Vec<Value> {
    std::fs::read_to_string(ws.path(name))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Run the binary in the workspace without a registry: `materialize` and
/// `batch` as the reference runs them, one-shot in memory.
fn one_shot(ws: &Workspace, args: &[&str]) -> common::Run {
    ws.run_bare(args)
}

/// `batch` over a manifest of one table `t` (features, score entries),
/// writing `batch_out.jsonl`.
fn batch_one_table(ws: &Workspace, features: &str, scores: &[&str]) -> common::Run {
    ws.write(
        "manifest.json",
        serde_json::json!({"tables": [{"id": "t", "features": features,
            "scores": scores, "out": "batch_out.jsonl"}]})
        .to_string(),
    );
    one_shot(ws, &["batch", "--manifest", "manifest.json"])
}

fn statuses(rows: &[Value], slug: &str) -> Vec<String> {
    rows.iter()
        .map(|row| {
            row[format!("second_opinion_{slug}_status")]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

// -------------------------------------------------- per-frame key check

/// Scorers that scored 1 of 10 frames under `--frame-match exact`, one
/// keyed by basename and one by stem: the other rows are `missing`, and
/// the key check compares keys, not frames, so the scorer whose key joins
/// is never sent to another normalisation (it used to be, and following
/// the advice cycled stem → basename → stem). The scorer whose key does
/// not join gets its own fix, and with it both join.
#[test]
fn per_frame_rows_without_a_scored_frame_do_not_trip_the_key_check() {
    let ws = Workspace::new();
    ws.write(
        "by_name.jsonl",
        "{\"name\":\"/runs/clip_a.mp4\",\"competitor\":\"by-name\",\
          \"frames\":[{\"frame_idx\":0,\"score\":50.0}]}\n",
    );
    ws.write(
        "by_id.jsonl",
        "{\"clip_id\":\"clip_a\",\"competitor\":\"by-id\",\
          \"frames\":[{\"frame_idx\":3,\"score\":60.0}]}\n",
    );
    ws.run(&["ingest", "by_name.jsonl", "by_id.jsonl"]).ok();
    let table: String = (0..10)
        .map(|frame| format!("{{\"src\":\"/data/clip_a.mp4\",\"frame_idx\":{frame}}}\n"))
        .collect();
    ws.write("frames.jsonl", table);
    let export = |normalize: Option<&str>| {
        let mut args = vec![
            "export",
            "--features",
            "frames.jsonl",
            "--out",
            "out.jsonl",
            "--overwrite",
            "--frame-match",
            "exact",
        ];
        if let Some(normalize) = normalize {
            args.extend(["--key-normalize", normalize]);
        }
        ws.run(&args)
    };
    let run = export(None).fails_with(1);
    assert!(
        run.stderr.contains(
            "frames.jsonl: scorer 'by-id' matched 0 of 10 rows with src/basename; \
             src/stem matches 10: pass --key-normalize by_id=stem"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("'by-name'"), "{}", run.stderr);
    let one_frame = |frame: usize| {
        let mut expected = vec!["missing".to_string(); 10];
        expected[frame] = "ok".to_string();
        expected
    };
    // The fix, and `stem` for both (applied to both sides alike): each
    // scorer joins its one frame, and nothing more is suggested.
    for normalize in ["by_id=stem", "stem"] {
        let run = export(Some(normalize)).ok();
        assert!(!run.stderr.contains("pass --"), "{}", run.stderr);
        let rows = read_rows(&ws, "out.jsonl");
        assert_eq!(statuses(&rows, "by_name"), one_frame(0), "{normalize}");
        assert_eq!(statuses(&rows, "by_id"), one_frame(3), "{normalize}");
    }
    // `basename` chosen for both: by-id joins nothing, as asked, with the
    // fix as a warning.
    let run = export(Some("basename")).ok();
    assert!(
        run.stderr.contains(
            "warning: frames.jsonl: scorer 'by-id' matched 0 of 10 rows with src/basename; \
                       src/stem matches 10: pass --key-normalize basename,by_id=stem"
        ),
        "{}",
        run.stderr
    );
    let rows = read_rows(&ws, "out.jsonl");
    assert_eq!(statuses(&rows, "by_name"), one_frame(0));
    assert_eq!(statuses(&rows, "by_id"), vec!["missing".to_string(); 10]);
}

// ------------------------------------------------------------ the key check

/// A table keyed by `src` full paths, scores keyed by the same full paths
/// in a field `auto` keeps raw (`video_id`).
fn full_path_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        (1..=3)
            .map(|n| format!("{{\"src\":\"/data/clip_{n}.mp4\",\"vmaf\":9{n}.0}}\n"))
            .collect::<String>(),
    );
    ws.write(
        "scores.jsonl",
        (1..=3)
            .map(|n| {
                format!(
                    "{{\"video_id\":\"/data/clip_{n}.mp4\",\"competitor\":\"nr\",\"score\":{n}.5}}\n"
                )
            })
            .collect::<String>(),
    );
    ws
}

fn materialize(ws: &Workspace, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "materialize",
        "--features",
        "features.jsonl",
        "--scores",
        "scores.jsonl",
        "--out",
        "out.jsonl",
        "--overwrite",
    ];
    args.extend_from_slice(extra);
    one_shot(ws, &args)
}

/// `--key-column src` with scores keyed by the same full paths joins on
/// the raw values: the reference's `auto` keeps `src` raw, and so do the
/// raw keys here when basenames match nothing.
#[test]
fn key_column_src_with_full_path_scores_joins_raw() {
    let ws = full_path_workspace();
    for extra in [&["--key-column", "src"][..], &[]] {
        let run = materialize(&ws, extra).ok();
        assert!(!run.stderr.contains("pass --"), "{}", run.stderr);
        assert!(
            run.stderr.contains(
                "warning: features.jsonl: 3 of 3 rows matched their scores by the src value \
                 as written, not its basename"
            ),
            "{}",
            run.stderr
        );
        let rows = read_rows(&ws, "out.jsonl");
        assert_eq!(statuses(&rows, "nr"), ["ok", "ok", "ok"], "{extra:?}");
        assert_eq!(rows[1]["second_opinion_nr_score"], 2.5);
    }
    // The registry's own export too.
    ws.run(&["ingest", "scores.jsonl"]).ok();
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "exported.jsonl",
        "--key-column",
        "src",
    ])
    .ok();
    let rows = read_rows(&ws, "exported.jsonl");
    assert_eq!(statuses(&rows, "nr"), ["ok", "ok", "ok"]);
}

/// Scorers exported together look keys up in one table they share: each
/// finds what it finds exported alone — `auto`'s fallback to the key as
/// written for the scorer keyed by full paths, the basename for the one
/// keyed by file names, a missing row where only the other has the clip —
/// and the key check counts the same.
#[test]
fn scorers_exported_together_match_as_each_does_alone() {
    let ws = full_path_workspace();
    ws.write(
        "named.jsonl",
        ["clip_1.mp4", "clip_3.mp4", "other.mp4"]
            .iter()
            .enumerate()
            .map(|(n, name)| {
                format!("{{\"video_id\":\"{name}\",\"competitor\":\"named\",\"score\":{n}.25}}\n")
            })
            .collect::<String>(),
    );
    ws.run(&["ingest", "scores.jsonl", "named.jsonl"]).ok();
    let export = |out: &str, scorers: &[&str]| {
        let mut args = vec![
            "export",
            "--features",
            "features.jsonl",
            "--out",
            out,
            "--key-column",
            "src",
        ];
        for scorer in scorers {
            args.extend(["--scorers", scorer]);
        }
        let run = ws.run(&args).ok();
        (read_rows(&ws, out), run.stderr)
    };
    let (together, _) = export("together.jsonl", &[]);
    assert_eq!(statuses(&together, "nr"), ["ok", "ok", "ok"]);
    assert_eq!(statuses(&together, "named"), ["ok", "missing", "ok"]);
    for scorer in ["nr", "named"] {
        let (alone, _) = export(&format!("{scorer}.jsonl"), &[scorer]);
        for (both, one) in together.iter().zip(&alone) {
            for suffix in ["score", "status", "source"] {
                let column = format!("second_opinion_{scorer}_{suffix}");
                assert_eq!(both[&column], one[&column], "{column}");
            }
        }
    }
}

/// An explicit `--key-normalize` is never overruled by `materialize`: the
/// run goes on as asked, rows `missing`, with the fix as a warning. `export`
/// stays stricter: exit 1 with the fix, unless `--key-column` is given too.
#[test]
fn explicit_key_normalize_is_never_overruled_by_materialize() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        (1..=3)
            .map(|n| format!("{{\"video_id\":\"/t/clip_{n}.mp4\"}}\n"))
            .collect::<String>(),
    );
    // Scores keyed by basenames in a field every mode keeps as written.
    ws.write(
        "scores.jsonl",
        (1..=3)
            .map(|n| {
                format!("{{\"clip_id\":\"clip_{n}.mp4\",\"competitor\":\"nr\",\"score\":{n}}}\n")
            })
            .collect::<String>(),
    );
    let run = materialize(&ws, &["--key-normalize", "raw"]).ok();
    assert!(
        run.stderr.contains(
            "warning: features.jsonl: 0 of 3 keys matched with video_id/raw; \
             video_id/basename matches 3: pass --key-normalize basename"
        ),
        "{}",
        run.stderr
    );
    let rows = read_rows(&ws, "out.jsonl");
    assert_eq!(statuses(&rows, "nr"), ["missing", "missing", "missing"]);

    // export, the registry's own command, stays stricter.
    ws.run(&["ingest", "scores.jsonl"]).ok();
    let export = |extra: &[&str]| {
        let mut args = vec![
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "e.jsonl",
            "--overwrite",
        ];
        args.extend_from_slice(extra);
        ws.run(&args)
    };
    let run = export(&["--key-normalize", "raw"]).fails_with(1);
    assert!(
        run.stderr
            .contains("video_id/basename matches 3: pass --key-normalize basename"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("e.jsonl").exists());
    export(&["--key-normalize", "raw", "--key-column", "video_id"]).ok();
}

/// No normalisation matches anything: as the reference under `mark`, every
/// row is `missing`, exit 0, and the unmatched keys are listed.
#[test]
fn nothing_matching_anywhere_marks_every_row_missing() {
    let ws = full_path_workspace();
    ws.write(
        "scores.jsonl",
        "{\"video_id\":\"other_1\",\"competitor\":\"nr\",\"score\":1}\n\
         {\"video_id\":\"other_2\",\"competitor\":\"nr\",\"score\":2}\n",
    );
    for extra in [
        &[][..],
        &["--key-normalize", "stem"],
        &["--key-column", "src"],
    ] {
        let run = materialize(&ws, &[extra, &["--audit-json", "audit.json"][..]].concat()).ok();
        assert!(
            run.stderr
                .contains("2 of 2 scores matched no row (first: other_1, other_2)"),
            "{}",
            run.stderr
        );
        let rows = read_rows(&ws, "out.jsonl");
        assert_eq!(statuses(&rows, "nr"), ["missing", "missing", "missing"]);
        let audit: Value =
            serde_json::from_str(&std::fs::read_to_string(ws.path("audit.json")).unwrap()).unwrap();
        assert_eq!(audit["competitors"]["nr"]["missing_rows"], 3);
    }
}

/// A flag that plainly fixes a bad join still stops `materialize` (exit 1,
/// nothing written) and `batch`'s table, each naming the fix in its own
/// terms: flags for `materialize`, manifest keys for `batch`.
#[test]
fn a_plain_fix_stops_the_run_in_the_commands_own_terms() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        (1..=3)
            .map(|n| format!("{{\"src\":\"/data/clip_{n}.mp4\"}}\n"))
            .collect::<String>(),
    );
    ws.write(
        "scores.jsonl",
        (1..=3)
            .map(|n| format!("{{\"clip_id\":\"clip_{n}\",\"competitor\":\"nr\",\"score\":{n}}}\n"))
            .collect::<String>(),
    );
    let run = one_shot(
        &ws,
        &[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "scores.jsonl",
            "--out",
            "out.jsonl",
        ],
    )
    .fails_with(1);
    assert!(
        run.stderr.contains(
            "0 of 3 keys matched with src/basename; src/stem matches 3: pass --key-normalize stem"
        ),
        "{}",
        run.stderr
    );
    assert!(!ws.path("out.jsonl").exists());

    ws.write(
        "manifest.json",
        serde_json::json!({"tables": [{"id": "t", "features": "features.jsonl",
            "scores": ["scores.jsonl"], "out": "batch_out.jsonl"}]})
        .to_string(),
    );
    let run = one_shot(
        &ws,
        &[
            "batch",
            "--manifest",
            "manifest.json",
            "--report-json",
            "report.json",
        ],
    )
    .fails_with(1);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    let error = report["tables"][0]["error"].as_str().unwrap();
    assert!(
        error.ends_with(
            "src/stem matches 3: set \"key_normalize\": \"stem\" in the table's manifest entry"
        ),
        "{error}"
    );
    assert!(!error.contains("--"), "{error}");
    assert!(!run.stderr.contains("pass --"), "{}", run.stderr);
}

// ------------------------------------------------ whitespace around keys

/// `" a.mp4"` in the table and `"b.mp4 "` in the scores match once
/// trimmed; the table rows trimmed are counted in the summary, the report
/// and the audit JSON, and ingest notes the score keys it trimmed.
#[test]
fn keys_with_whitespace_around_them_match_trimmed_and_are_counted() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        "{\"video_id\":\" a.mp4\"}\n{\"video_id\":\"b.mp4\"}\n{\"video_id\":\"c.mp4\\t\"}\n",
    );
    ws.write(
        "scores.jsonl",
        "{\"video_id\":\"a.mp4\",\"competitor\":\"nr\",\"score\":1}\n\
         {\"video_id\":\"b.mp4 \",\"competitor\":\"nr\",\"score\":2}\n\
         {\"video_id\":\"c.mp4\",\"competitor\":\"nr\",\"score\":3}\n",
    );
    let run = materialize(&ws, &["--audit-json", "audit.json"]).ok();
    assert!(
        run.stderr
            .contains("2 of 3 keys had whitespace around them, trimmed before matching"),
        "{}",
        run.stderr
    );
    let rows = read_rows(&ws, "out.jsonl");
    assert_eq!(statuses(&rows, "nr"), ["ok", "ok", "ok"]);
    // The table's values pass through as they were.
    assert_eq!(rows[0]["video_id"], " a.mp4");
    let audit: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("audit.json")).unwrap()).unwrap();
    assert_eq!(audit["second_opinion_provenance"]["trimmed_keys"], 2);
    assert_eq!(audit["competitors"]["nr"]["matched_rows"], 3);

    let run = ws
        .run(&["ingest", "--report-json", "ingest.json", "scores.jsonl"])
        .ok();
    assert!(
        run.stderr
            .contains("1 key had whitespace around it, trimmed (the raw keys keep it)"),
        "{}",
        run.stderr
    );
    let raw: Vec<Value> = common::sql_rows(&ws, "SELECT key, raw_key FROM scores ORDER BY key");
    assert_eq!(raw[1], serde_json::json!(["b.mp4", "b.mp4 "]));
    let run = ws
        .run(&[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "e.jsonl",
            "--report-json",
            "export.json",
        ])
        .ok();
    assert!(
        run.stderr.contains("2 of 3 keys had whitespace"),
        "{}",
        run.stderr
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("export.json")).unwrap()).unwrap();
    assert_eq!(report["trimmed_keys"], 2);
    assert_eq!(report["scorers"]["nr"]["matched"], 3);
}

// ------------------------------- messages name only flags the command takes

/// The suggestions that differ by command: `--format` (ingest only),
/// `--out-format` (export only), `--key-column` (a manifest key in batch).
#[test]
fn suggestions_name_only_what_the_command_takes() {
    let ws = Workspace::new();
    // A file no format recognises.
    ws.write("scores.txt", "just some words\nand more words\n");
    ws.write("features.jsonl", "{\"video_id\":\"a\"}\n");
    ws.write("nokey.jsonl", "{\"vmaf\":1.0}\n");
    ws.write(
        "good.jsonl",
        "{\"video_id\":\"a\",\"competitor\":\"nr\",\"score\":1}\n",
    );
    let run = ws.run(&["ingest", "scores.txt"]).fails_with(2);
    assert!(run.stderr.contains("pass --format ("), "{}", run.stderr);
    let run = one_shot(
        &ws,
        &[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "scores.txt",
            "--out",
            "out.jsonl",
        ],
    )
    .fails_with(2);
    assert!(
        run.stderr
            .contains("scores.txt: cannot tell the format from the content")
            && run.stderr.contains("second-opinion ingest --format NAME")
            && !run.stderr.contains("pass --format"),
        "{}",
        run.stderr
    );

    // An output without a known extension.
    let run = one_shot(
        &ws,
        &[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "good.jsonl",
            "--out",
            "out.table",
        ],
    )
    .fails_with(2);
    assert!(
        run.stderr.contains("name the output with an extension of")
            && !run.stderr.contains("--out-format"),
        "{}",
        run.stderr
    );
    ws.run(&["ingest", "good.jsonl"]).ok();
    let run = ws
        .run(&[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "out.table",
        ])
        .fails_with(2);
    assert!(run.stderr.contains("pass --out-format"), "{}", run.stderr);

    // A table without a key column: a flag for materialize, a manifest key
    // for batch.
    let materialize_run = one_shot(
        &ws,
        &[
            "materialize",
            "--features",
            "nokey.jsonl",
            "--scores",
            "good.jsonl",
            "--out",
            "out.jsonl",
        ],
    )
    .fails_with(1);
    assert!(
        materialize_run.stderr.contains("; pass --key-column"),
        "{}",
        materialize_run.stderr
    );
    let run = batch_one_table(&ws, "nokey.jsonl", &["good.jsonl"]).fails_with(1);
    assert!(
        run.stderr
            .contains("; set \"key_column\" in the table's manifest entry")
            && !run.stderr.contains("--key-column"),
        "{}",
        run.stderr
    );

    // A score CSV without a key column: a flag for ingest and materialize,
    // a manifest key for batch.
    ws.write("odd.csv", "thing,score\na,1\n");
    let run = ws.run(&["ingest", "nr=odd.csv"]).fails_with(1);
    assert!(
        run.stderr.contains("(name it with --score-key-field)"),
        "{}",
        run.stderr
    );
    let run = batch_one_table(&ws, "features.jsonl", &["nr=odd.csv"]).fails_with(1);
    assert!(
        run.stderr.contains("(name it with \"score_key_field\")")
            && !run.stderr.contains("--score-key-field"),
        "{}",
        run.stderr
    );
}

/// A file that names no scorer: `ingest` offers `--scorer`, `materialize`
/// (which has none) only the label, `batch` the label in the score entry.
#[test]
fn no_scorer_name_suggests_what_the_command_takes() {
    let ws = Workspace::new();
    ws.write("features.jsonl", "{\"video_id\":\"a\"}\n");
    ws.write("anonymous.jsonl", "{\"video_id\":\"a\",\"score\":1}\n");
    let run = ws.run(&["ingest", "anonymous.jsonl"]).fails_with(1);
    assert!(
        run.stderr
            .contains("no LABEL= (write LABEL=PATH or pass --scorer)"),
        "{}",
        run.stderr
    );
    let run = one_shot(
        &ws,
        &[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "anonymous.jsonl",
            "--out",
            "out.jsonl",
        ],
    )
    .fails_with(1);
    assert!(
        run.stderr.contains("no LABEL= (write LABEL=PATH)") && !run.stderr.contains("--scorer"),
        "{}",
        run.stderr
    );
    let run = batch_one_table(&ws, "features.jsonl", &["anonymous.jsonl"]).fails_with(1);
    assert!(
        run.stderr
            .contains("no LABEL= (write the score entry as \"LABEL=PATH\")")
            && !run.stderr.contains("--scorer"),
        "{}",
        run.stderr
    );
}

/// A libvmaf log without the default model: `ingest` offers `--metric`,
/// `materialize` (which has none) says which command chooses it.
#[test]
fn a_missing_libvmaf_metric_suggests_what_the_command_takes() {
    let ws = Workspace::new();
    let log = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/libvmaf-json/bbb_crf28.json"
    ))
    .unwrap()
    .replace("\"vmaf\"", "\"vmaf_b\"");
    ws.write("clip_a.json", log);
    ws.write("features.jsonl", "{\"video_id\":\"clip_a\"}\n");
    let run = ws.run(&["ingest", "clip_a.json"]).fails_with(1);
    assert!(
        run.stderr.contains("choose the clip score with --metric"),
        "{}",
        run.stderr
    );
    let run = one_shot(
        &ws,
        &[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "clip_a.json",
            "--out",
            "out.jsonl",
        ],
    )
    .fails_with(1);
    assert!(
        run.stderr
            .contains("vmaf_b: `second-opinion ingest --metric NAME` chooses the clip score")
            && !run.stderr.contains("with --metric"),
        "{}",
        run.stderr
    );
}

// ------------------------------------- several encodes of one source

/// Scores of two encodes of one source (`crf23/A0001.mp4`,
/// `crf35/A0001.mp4`) under absolute paths, as VMAF training corpora hold
/// them, and a table naming them by a relative path.
fn encodes_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "scores.jsonl",
        "{\"dis_path\":\"/mnt/nas/ugc/Video/crf23/A0001.mp4\",\"competitor\":\"nr\",\"score\":50.5}\n\
         {\"dis_path\":\"/mnt/nas/ugc/Video/crf35/A0001.mp4\",\"competitor\":\"nr\",\"score\":40.5}\n",
    );
    ws.write(
        "features.jsonl",
        "{\"src\":\"Video/crf23/A0001.mp4\"}\n{\"src\":\"Video/crf35/A0001.mp4\"}\n",
    );
    ws
}

fn nr_scores(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|row| row["second_opinion_nr_score"].clone())
        .collect()
}

/// `--key-normalize tail:2` keeps the last two path components: the two
/// encodes stay two keys through ingest, export (recorded, so a replay
/// reproduces it), provenance, materialize and a batch manifest.
#[test]
fn tail_n_keeps_encodes_of_one_source_apart_everywhere() {
    let ws = encodes_workspace();
    ws.run(&["ingest", "--key-normalize", "tail:2", "scores.jsonl"])
        .ok();
    assert_eq!(
        common::sql_rows(&ws, "SELECT key FROM scores ORDER BY key"),
        [
            serde_json::json!(["crf23/A0001.mp4"]),
            serde_json::json!(["crf35/A0001.mp4"])
        ]
    );
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "out.jsonl",
        "--key-normalize",
        "tail:2",
    ])
    .ok();
    let expected = [serde_json::json!(50.5), serde_json::json!(40.5)];
    assert_eq!(nr_scores(&read_rows(&ws, "out.jsonl")), expected);
    let replay = ws.run(&["exports", "replay", "1", "--json"]).ok().json();
    assert_eq!(replay["recorded_content"], replay["replayed_content"]);
    assert_eq!(replay["bytes_match"], serde_json::json!(true));

    let provenance = ws
        .run(&[
            "provenance",
            "--scorer",
            "nr",
            "--key",
            "D:\\corpus\\crf35\\A0001.mp4",
            "--key-normalize",
            "tail:2",
        ])
        .ok();
    assert!(
        provenance.stdout.contains("40.5") && !provenance.stdout.contains("50.5"),
        "{}",
        provenance.stdout
    );

    materialize_encodes(&ws, &["--key-normalize", "tail:2"]).ok();
    assert_eq!(nr_scores(&read_rows(&ws, "m.jsonl")), expected);

    ws.write(
        "manifest.json",
        serde_json::json!({"tables": [{"id": "t", "features": "features.jsonl",
            "scores": ["scores.jsonl"], "out": "batch_out.jsonl", "key_normalize": "tail:2"}]})
        .to_string(),
    );
    one_shot(&ws, &["batch", "--manifest", "manifest.json"]).ok();
    assert_eq!(nr_scores(&read_rows(&ws, "batch_out.jsonl")), expected);
}

fn materialize_encodes(ws: &Workspace, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "materialize",
        "--features",
        "features.jsonl",
        "--scores",
        "scores.jsonl",
        "--out",
        "m.jsonl",
        "--overwrite",
    ];
    args.extend_from_slice(extra);
    one_shot(ws, &args)
}

/// `tail:0`, `tail:x` and friends are usage errors (exit 2) on every
/// command, naming the accepted forms; a manifest is refused the same way.
#[test]
fn tail_n_refuses_what_is_not_a_count_of_components() {
    let ws = encodes_workspace();
    for value in ["tail:0", "tail:x", "tail:", "tail:-1", "tail:256"] {
        for args in [
            vec!["ingest", "--key-normalize", value, "scores.jsonl"],
            vec![
                "export",
                "--features",
                "features.jsonl",
                "--out",
                "out.jsonl",
                "--key-normalize",
                value,
            ],
            vec!["provenance", "--key", "a", "--key-normalize", value],
        ] {
            let run = ws.run(&args).fails_with(2);
            assert!(
                run.stderr
                    .contains("(expected one of: auto, raw, basename, stem, tail:N)")
                    && run.stderr.contains(&format!("'{value}'")),
                "{args:?}: {}",
                run.stderr
            );
        }
        let run = materialize_encodes(&ws, &["--key-normalize", value]).fails_with(2);
        assert!(run.stderr.contains("tail:N"), "{}", run.stderr);
    }
    ws.write(
        "manifest.json",
        serde_json::json!({"tables": [{"id": "t", "features": "features.jsonl",
            "scores": ["scores.jsonl"], "out": "batch_out.jsonl", "key_normalize": "tail:0"}]})
        .to_string(),
    );
    let run = one_shot(&ws, &["batch", "--manifest", "manifest.json"]).fails_with(2);
    assert!(
        run.stderr
            .contains("key_normalize: key normalisation 'tail:0'"),
        "{}",
        run.stderr
    );
    let help = ws.run(&["ingest", "--help"]).ok();
    let flat = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("[possible values: auto, raw, basename, stem, tail:N]"),
        "{flat}"
    );
    let help = ws.run(&["export", "--help"]).ok();
    let flat = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("auto, raw, basename, stem or tail:N"),
        "{flat}"
    );
}

/// The normalisation is part of a file's identity: the same bytes under
/// `tail:3` are not "already ingested" as they were under `tail:2`.
#[test]
fn tail_n_is_part_of_a_files_identity() {
    let ws = encodes_workspace();
    ws.run(&["ingest", "--key-normalize", "tail:2", "scores.jsonl"])
        .ok();
    let again = ws
        .run(&["ingest", "--key-normalize", "tail:2", "scores.jsonl"])
        .ok();
    assert!(
        again.stderr.contains("already ingested"),
        "{}",
        again.stderr
    );
    let other = ws
        .run(&["ingest", "--key-normalize", "tail:3", "scores.jsonl"])
        .fails_with(1);
    assert!(
        other
            .stderr
            .contains("key_normalize tail:2 then, tail:3 now"),
        "{}",
        other.stderr
    );
    ws.run(&[
        "ingest",
        "--replace",
        "--key-normalize",
        "tail:3",
        "scores.jsonl",
    ])
    .ok();
    assert_eq!(
        common::sql_rows(
            &ws,
            "SELECT key FROM scores WHERE superseded_at IS NULL ORDER BY key"
        ),
        [
            serde_json::json!(["Video/crf23/A0001.mp4"]),
            serde_json::json!(["Video/crf35/A0001.mp4"])
        ]
    );
}

/// `--key-strip-prefix` takes a leading prefix off each key before it is
/// normalised; a key without it is kept as written and counted in a note.
/// The prefix is part of the file's identity.
#[test]
fn key_strip_prefix_strips_before_normalising_and_counts_the_misses() {
    let ws = encodes_workspace();
    ws.write(
        "mixed.jsonl",
        "{\"dis_path\":\"/mnt/nas/ugc/Video/crf23/A0001.mp4\",\"competitor\":\"nr\",\"score\":50.5}\n\
         {\"dis_path\":\"/mnt/nas/ugc/Video/crf35/A0001.mp4\",\"competitor\":\"nr\",\"score\":40.5}\n\
         {\"dis_path\":\"/scratch/B0002.mp4\",\"competitor\":\"nr\",\"score\":30.5}\n",
    );
    let run = ws
        .run(&[
            "ingest",
            "--key-strip-prefix",
            "/mnt/nas/ugc/",
            "--key-normalize",
            "raw",
            "--report-json",
            "report.json",
            "mixed.jsonl",
        ])
        .ok();
    let note = "1 key did not start with --key-strip-prefix '/mnt/nas/ugc/': kept as written";
    assert!(
        run.stdout.contains(note) || run.stderr.contains(note),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("report.json")).unwrap()).unwrap();
    assert!(
        report["files"][0]["notes"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(note)),
        "{report}"
    );
    assert_eq!(
        common::sql_rows(&ws, "SELECT key, raw_key FROM score_rows ORDER BY key"),
        [
            serde_json::json!(["/scratch/B0002.mp4", "/scratch/B0002.mp4"]),
            serde_json::json!([
                "Video/crf23/A0001.mp4",
                "/mnt/nas/ugc/Video/crf23/A0001.mp4"
            ]),
            serde_json::json!([
                "Video/crf35/A0001.mp4",
                "/mnt/nas/ugc/Video/crf35/A0001.mp4"
            ]),
        ]
    );
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "out.jsonl",
        "--key-normalize",
        "raw",
    ])
    .ok();
    assert_eq!(
        nr_scores(&read_rows(&ws, "out.jsonl")),
        [serde_json::json!(50.5), serde_json::json!(40.5)]
    );
    // Another prefix is another identity; none at all is too.
    for other in [
        &["--key-strip-prefix", "/mnt/nas/", "--key-normalize", "raw"][..],
        &["--key-normalize", "raw"][..],
    ] {
        let mut args = vec!["ingest"];
        args.extend_from_slice(other);
        args.push("mixed.jsonl");
        let run = ws.run(&args).fails_with(1);
        assert!(
            run.stderr.contains("key_strip_prefix /mnt/nas/ugc/ then"),
            "{other:?}: {}",
            run.stderr
        );
    }
}

/// Two rows of one file whose paths differ but whose basenames do not are
/// two encodes, not one clip scored twice: the refusal names both paths
/// and lines and the shortest `tail:N` that keeps them apart.
#[test]
fn a_basename_collision_names_both_paths_and_the_tail_that_separates_them() {
    let ws = encodes_workspace();
    let before = ws.registry_snapshot();
    let run = ws.run(&["ingest", "scores.jsonl"]).fails_with(1);
    assert!(
        run.stderr.contains(
            "scores.jsonl:2: keys collide for competitor='nr': \
             '/mnt/nas/ugc/Video/crf35/A0001.mp4' (line 2) and \
             '/mnt/nas/ugc/Video/crf23/A0001.mp4' (line 1) are both 'A0001.mp4' under \
             --key-normalize auto (basename for field 'dis_path'); \
             pass --key-normalize tail:2 to keep them apart"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(ws.registry_snapshot(), before);
    // A one-shot materialize holds no registry, and says the same.
    let run = materialize_encodes(&ws, &[]).fails_with(1);
    assert!(
        run.stderr.contains(
            "scores.jsonl:2: keys collide for competitor='nr': \
             '/mnt/nas/ugc/Video/crf35/A0001.mp4' (line 2) and \
             '/mnt/nas/ugc/Video/crf23/A0001.mp4' (line 1) are both 'A0001.mp4' under \
             --key-normalize auto (basename for field 'dis_path'); \
             pass --key-normalize tail:2 to keep them apart"
        ),
        "{}",
        run.stderr
    );
    assert!(!ws.path("m.jsonl").exists());

    // Deeper: the encodes differ three components up.
    ws.write(
        "deep.jsonl",
        "{\"dis_path\":\"/runs/a/crf23/A.mp4\",\"competitor\":\"nr\",\"score\":1}\n\
         {\"dis_path\":\"/runs/b/crf23/A.mp4\",\"competitor\":\"nr\",\"score\":2}\n",
    );
    for normalize in ["basename", "tail:2"] {
        let run = ws
            .run(&["ingest", "--key-normalize", normalize, "deep.jsonl"])
            .fails_with(1);
        assert!(
            run.stderr.contains(&format!(
                "under --key-normalize {normalize}; pass --key-normalize tail:3"
            )),
            "{}",
            run.stderr
        );
    }
    ws.run(&["ingest", "--key-normalize", "tail:3", "deep.jsonl"])
        .ok();

    // The same clip written twice is still a plain duplicate.
    ws.write(
        "twice.jsonl",
        "{\"dis_path\":\"/x/C.mp4\",\"competitor\":\"nr\",\"score\":1}\n\
         {\"dis_path\":\"/x/C.mp4\",\"competitor\":\"nr\",\"score\":2}\n",
    );
    let run = ws.run(&["ingest", "twice.jsonl"]).fails_with(1);
    assert!(
        run.stderr
            .contains("twice.jsonl:2: duplicate score for competitor='nr' key='C.mp4'"),
        "{}",
        run.stderr
    );
}

/// A path normalised to its basename is its directory and its key: the
/// directory is stored once, and each row names it (issue 18: the whole
/// path on every row was a fifth of what a row cost). The path as written
/// reads back through `score_rows`, `provenance` and a duplicate's message.
#[test]
fn a_paths_directory_is_stored_once_and_reads_back_whole() {
    let ws = Workspace::new();
    ws.write(
        "paths.jsonl",
        "{\"filename\":\"/corpus/ugc/a.mp4\",\"competitor\":\"nr\",\"score\":1}\n\
         {\"filename\":\"/corpus/ugc/b.mp4\",\"competitor\":\"nr\",\"score\":2}\n\
         {\"filename\":\"/corpus/hdr/c.mp4\",\"competitor\":\"nr\",\"score\":3}\n\
         {\"filename\":\"d.mp4\",\"competitor\":\"nr\",\"score\":4}\n",
    );
    ws.run(&["ingest", "paths.jsonl"]).ok();
    assert_eq!(
        common::sql_rows(&ws, "SELECT prefix FROM raw_key_prefixes ORDER BY id"),
        [
            serde_json::json!(["/corpus/ugc/"]),
            serde_json::json!(["/corpus/hdr/"])
        ]
    );
    assert_eq!(
        common::sql_rows(
            &ws,
            "SELECT key, raw_key, raw_key_prefix FROM scores ORDER BY key"
        ),
        [
            serde_json::json!(["a.mp4", null, 1]),
            serde_json::json!(["b.mp4", null, 1]),
            serde_json::json!(["c.mp4", null, 2]),
            serde_json::json!(["d.mp4", null, null]),
        ]
    );
    assert_eq!(
        common::sql_rows(&ws, "SELECT key, raw_key FROM score_rows ORDER BY key"),
        [
            serde_json::json!(["a.mp4", "/corpus/ugc/a.mp4"]),
            serde_json::json!(["b.mp4", "/corpus/ugc/b.mp4"]),
            serde_json::json!(["c.mp4", "/corpus/hdr/c.mp4"]),
            serde_json::json!(["d.mp4", "d.mp4"]),
        ]
    );
    let provenance = ws
        .run(&["provenance", "--key", "/corpus/hdr/c.mp4", "--json"])
        .ok()
        .json();
    assert_eq!(
        provenance[0]["raw_key"],
        serde_json::json!("/corpus/hdr/c.mp4")
    );
}
