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
/// the key check does not send the user to another normalisation (it used
/// to, and following it cycled stem → basename → stem).
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
    for (normalize, matched_slug, frame) in [
        (None, "by_name", 0),
        (Some("basename"), "by_name", 0),
        (Some("stem"), "by_id", 3),
    ] {
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
        let run = ws.run(&args).ok();
        assert!(!run.stderr.contains("--key-normalize"), "{}", run.stderr);
        let rows = read_rows(&ws, "out.jsonl");
        let mut expected = vec!["missing".to_string(); 10];
        expected[frame] = "ok".to_string();
        assert_eq!(statuses(&rows, matched_slug), expected, "{normalize:?}");
    }
}
