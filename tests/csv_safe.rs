//! `--csv-safe` (issue 13): CSV cells a spreadsheet would run as a formula
//! get a `'` in front — in both CSV writers (text tables, and Arrow tables
//! from parquet), in `export`, `export --scores-only`, `materialize` and
//! `batch` — while the default stays lossless passthrough.

mod common;

use common::Workspace;

const FEATURES: &str = "video_id,note,delta\na,=SUM(A1),-1.5\nb,plain,+2\n";
const SCORES: &str = "{\"video_id\":\"a\",\"competitor\":\"nr\",\"score\":1}\n\
                      {\"video_id\":\"b\",\"competitor\":\"nr\",\"score\":2}\n";
/// A score file whose name is a formula: every `_source` cell holds it.
const SCORE_FILE: &str = "=2+5.jsonl";

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write("features.csv", FEATURES);
    ws.write(SCORE_FILE, SCORES);
    ws
}

fn read(ws: &Workspace, name: &str) -> String {
    std::fs::read_to_string(ws.path(name)).unwrap()
}

const SAFE_ROWS: [&str; 2] = [
    "a,'=SUM(A1),-1.5,1.0,ok,,0,'=2+5.jsonl",
    "b,plain,+2,2.0,ok,,0,'=2+5.jsonl",
];

#[test]
fn materialize_and_batch_write_safe_csv_only_when_asked() {
    let ws = workspace();
    let materialize = |out: &str, extra: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_second-opinion"));
        command
            .current_dir(ws.dir.path())
            .env_remove("SECOND_OPINION_REGISTRY")
            .args([
                "materialize",
                "--features",
                "features.csv",
                "--scores",
                SCORE_FILE,
                "--out",
                out,
            ])
            .args(extra);
        common::Run::from(command.output().unwrap()).ok()
    };
    // The default is lossless: cells as they were, the path as given.
    materialize("plain.csv", &[]);
    let plain = read(&ws, "plain.csv");
    assert!(
        plain.contains("a,=SUM(A1),-1.5,1.0,ok,,0,=2+5.jsonl\n"),
        "{plain}"
    );

    materialize("safe.csv", &["--csv-safe"]);
    let safe = read(&ws, "safe.csv");
    for row in SAFE_ROWS {
        assert!(safe.contains(&format!("{row}\n")), "{safe}");
    }

    ws.write(
        "manifest.json",
        serde_json::json!({"tables": [{"id": "t", "features": "features.csv",
            "scores": [SCORE_FILE], "out": "batch.csv"}]})
        .to_string(),
    );
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_second-opinion"));
    command
        .current_dir(ws.dir.path())
        .env_remove("SECOND_OPINION_REGISTRY")
        .args(["batch", "--manifest", "manifest.json", "--csv-safe"]);
    common::Run::from(command.output().unwrap()).ok();
    assert_eq!(read(&ws, "batch.csv"), safe);
}

#[test]
fn export_writes_safe_csv_from_text_and_arrow_tables_and_replays_it() {
    let ws = workspace();
    ws.run(&["ingest", SCORE_FILE]).ok();
    // Text engine: CSV in, CSV out.
    ws.run(&[
        "export",
        "--features",
        "features.csv",
        "--out",
        "text.csv",
        "--csv-safe",
    ])
    .ok();
    // Arrow engine: parquet in (the same table), CSV out.
    ws.run(&["export", "--features", "features.csv", "--out", "t.parquet"])
        .ok();
    ws.run(&[
        "export",
        "--features",
        "t.parquet",
        "--out",
        "arrow.csv",
        "--csv-safe",
        "--overwrite",
    ])
    .ok();
    for name in ["text.csv", "arrow.csv"] {
        let written = read(&ws, name);
        for row in SAFE_ROWS {
            assert!(written.contains(&format!("{row}\n")), "{name}:\n{written}");
        }
    }
    // A replay writes the same bytes: --csv-safe is in the record.
    let exports = ws.run(&["exports", "--json"]).ok().json();
    let arrow_id = exports
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["output_path"].as_str().unwrap().ends_with("arrow.csv"))
        .unwrap()["id"]
        .to_string();
    let run = ws.run(&["exports", "replay", &arrow_id]).ok();
    assert!(run.stdout.contains("bytes: match"), "{}", run.stdout);

    // The scores alone: the source path column.
    ws.run(&[
        "export",
        "--scores-only",
        "--out",
        "scores.csv",
        "--csv-safe",
    ])
    .ok();
    let scores = read(&ws, "scores.csv");
    assert!(scores.contains(",0,'=2+5.jsonl,1,"), "{scores}");
    ws.run(&["export", "--scores-only", "--out", "raw_scores.csv"])
        .ok();
    assert!(read(&ws, "raw_scores.csv").contains(",0,=2+5.jsonl,1,"));
}
