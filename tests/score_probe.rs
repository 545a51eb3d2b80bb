//! An export reads a scorer's scores in full or probes the registry's
//! live index with the table's keys (`SECOND_OPINION_SCORE_LOAD`, see
//! src/export/strategy.rs). Both must write the same bytes and record the
//! same counts and digests, whatever the registry went through: bad
//! scores, `--replace`, retired files, frames, components, `--as-of`.

mod common;

use common::Workspace;
use serde_json::{json, Value};

/// A registry that went through every kind of change an export's
/// digest and counts must see: three scorers (one with frames, one with
/// components), bad scores, a `--replace`, a retired file.
fn grown_registry() -> Workspace {
    let ws = Workspace::new();
    let mut first = String::new();
    for clip in 0..40 {
        let score = if clip % 9 == 4 {
            "\"NaN\"".to_string()
        } else {
            format!("{}.25", clip)
        };
        first.push_str(&format!(
            "{{\"name\": \"/corpus/clip{clip:03}.mp4\", \"competitor\": \"m\", \"score\": {score}, \"runtime_ms\": {clip}.5}}\n"
        ));
    }
    ws.write("m-first.jsonl", first);
    ws.run(&["ingest", "m-first.jsonl"]).ok();
    ws.run(&["exports", "tag", "before-corrections", "seq:1"])
        .ok();
    // New values for some clips, and clips the first file did not score.
    let mut replaced = String::new();
    for clip in (30..50).step_by(2) {
        replaced.push_str(&format!(
            "{{\"name\": \"/corpus/clip{clip:03}.mp4\", \"competitor\": \"m\", \"score\": {clip}.75}}\n"
        ));
    }
    ws.write("m-replace.jsonl", replaced);
    ws.run(&["ingest", "--replace", "m-replace.jsonl"]).ok();
    // A file ingested and then retired: its scores are no longer live.
    ws.write(
        "m-retired.jsonl",
        "{\"name\": \"/corpus/clip900.mp4\", \"competitor\": \"m\", \"score\": 1.0}\n\
         {\"name\": \"/corpus/clip901.mp4\", \"competitor\": \"m\", \"score\": 2.0}\n",
    );
    ws.run(&["ingest", "m-retired.jsonl"]).ok();
    ws.run(&["files", "retire", "m-retired.jsonl"]).ok();
    // Per-frame scores, one clip scored without frames.
    let mut frames = String::new();
    for clip in 0..12 {
        if clip == 5 {
            frames
                .push_str("{\"name\": \"clip005.mp4\", \"competitor\": \"fr\", \"score\": 3.5}\n");
            continue;
        }
        let values: Vec<String> = (0..4)
            .map(|f| {
                if (clip + f) % 7 == 0 {
                    "{\"score\": null}".to_string()
                } else {
                    format!("{{\"score\": {}.{f}}}", clip * 10 + f)
                }
            })
            .collect();
        frames.push_str(&format!(
            "{{\"name\": \"clip{clip:03}.mp4\", \"competitor\": \"fr\", \"frames\": [{}]}}\n",
            values.join(", ")
        ));
    }
    ws.write("frames.jsonl", frames);
    ws.run(&["ingest", "frames.jsonl"]).ok();
    // Components (DOVER's CSV).
    ws.write(
        "dover.csv",
        "path, aesthetic score, technical score, overall/final score\n\
         ./demo/clip001.mp4, 56.123450, 48.123000,51.230000\n\
         ./demo/clip002.mp4, 61.004211, 39.551020,47.100933\n\
         ./demo/clip777.mp4, 60.0, 40.0,50.0\n",
    );
    ws.run(&["ingest", "dover-mobile=dover.csv"]).ok();
    ws
}

/// A clip table over part of the registry's keys, with rows no scorer
/// knows and a repeated key.
fn clip_table(ws: &Workspace) {
    let mut rows = String::new();
    for clip in [0, 1, 2, 3, 4, 5, 13, 31, 32, 44, 48, 60, 900, 2, 7] {
        rows.push_str(&format!(
            "{{\"filename\": \"/other/place/clip{clip:03}.mp4\", \"vmaf\": {clip}.0}}\n"
        ));
    }
    ws.write("clips.jsonl", rows);
}

/// A per-frame table: each clip's frames 0–4 (frame 4 is never scored).
fn frame_table(ws: &Workspace) {
    let mut rows = String::new();
    for clip in [1, 2, 5, 7, 11, 20] {
        for frame in 0..5 {
            rows.push_str(&format!(
                "{{\"filename\": \"clip{clip:03}.mp4\", \"frame\": {frame}, \"vmaf\": 1.0}}\n"
            ));
        }
    }
    ws.write("frames-table.jsonl", rows);
}

/// What one export wrote and recorded, strategy aside.
#[derive(Debug, PartialEq)]
struct Exported {
    output: Vec<u8>,
    report: Value,
    record: Vec<String>,
}

/// Run `export` with the scores read as `load` says; returns what it
/// wrote and recorded, and how each scorer's scores were read.
fn export(ws: &Workspace, load: &str, features: &str, extra: &[&str]) -> (Exported, Value) {
    let out = format!("out-{load}.jsonl");
    let report = format!("report-{load}.json");
    let _ = std::fs::remove_file(ws.path(&out));
    let mut command = ws.command();
    command.env("SECOND_OPINION_SCORE_LOAD", load).args([
        "export",
        "--features",
        features,
        "--out",
        &out,
        "--report-json",
        &report,
    ]);
    command.args(extra);
    let run = command.output().expect("run second-opinion");
    assert!(
        run.status.success(),
        "export ({load}) failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut report: Value =
        serde_json::from_slice(&std::fs::read(ws.path(&report)).unwrap()).unwrap();
    let mut loads = serde_json::Map::new();
    for (name, counts) in report["scorers"].as_object_mut().unwrap() {
        let load = counts
            .as_object_mut()
            .unwrap()
            .remove("score_load")
            .unwrap_or(Value::Null);
        loads.insert(name.clone(), load);
    }
    report["output"]["path"] = Value::Null;
    let record = ws.dump(
        "SELECT registry_state, registry_digest, input_rows, output_rows, output_sha256, \
         content_digest, seq FROM exports ORDER BY id DESC LIMIT 1",
    );
    let output = std::fs::read(ws.path(&out)).unwrap();
    (
        Exported {
            output,
            report,
            record,
        },
        Value::Object(loads),
    )
}

/// Export both ways and require the same bytes, report and record;
/// returns how the probing run read each scorer.
fn same_both_ways(ws: &Workspace, features: &str, extra: &[&str]) -> Value {
    let (full, full_loads) = export(ws, "full", features, extra);
    let (probe, probe_loads) = export(ws, "probe", features, extra);
    assert!(
        full_loads
            .as_object()
            .unwrap()
            .values()
            .all(|l| l == "full"),
        "{full_loads}"
    );
    assert_eq!(
        String::from_utf8_lossy(&full.output),
        String::from_utf8_lossy(&probe.output),
        "outputs differ ({extra:?})"
    );
    assert_eq!(full.report, probe.report, "reports differ ({extra:?})");
    assert_eq!(full.record, probe.record, "records differ ({extra:?})");
    probe_loads
}

#[test]
fn probing_writes_and_records_what_a_full_read_does() {
    let ws = grown_registry();
    clip_table(&ws);
    let loads = same_both_ways(&ws, "clips.jsonl", &[]);
    assert_eq!(
        loads,
        json!({"m": "probe", "fr": "probe", "dover-mobile": "probe"}),
        "every scorer is probed when asked to"
    );
    // The counts the probe recorded cover every live score, not only
    // those the table named.
    let report: Value =
        serde_json::from_slice(&std::fs::read(ws.path("report-probe.json")).unwrap()).unwrap();
    let m = &report["scorers"]["m"];
    assert_eq!(
        m["loaded"],
        json!(45),
        "40 + 5 new clips; retired ones gone"
    );
    assert_eq!(m["unmatched"], json!(33));
    assert_eq!(m["unmatched_keys"][0], json!("clip006.mp4"));
    for columns in [
        &["--columns", "score,status,source,components"][..],
        &[
            "--scorers",
            "m",
            "--missing-policy",
            "mark",
            "--bad-policy",
            "drop",
        ],
        &["--key-normalize", "auto", "--pool", "mean,max,p10"],
    ] {
        same_both_ways(&ws, "clips.jsonl", columns);
    }
}

#[test]
fn probing_per_frame_tables_matches_in_every_mode() {
    let ws = grown_registry();
    frame_table(&ws);
    for mode in ["exact", "nearest", "previous"] {
        let loads = same_both_ways(
            &ws,
            "frames-table.jsonl",
            &[
                "--scorers",
                "fr",
                "--frame-match",
                mode,
                "--pool",
                "min,median",
            ],
        );
        assert_eq!(loads, json!({"fr": "probe"}));
    }
}

#[test]
fn as_of_and_normalised_registry_keys_read_in_full() {
    let ws = grown_registry();
    clip_table(&ws);
    // The kept digest sums are the live state's: an earlier point reads
    // every score, and says so.
    let loads = same_both_ways(&ws, "clips.jsonl", &["--as-of", "before-corrections"]);
    assert_eq!(loads, json!({"m": "full"}));
    // A normalisation of the registry's keys needs all of them.
    let loads = same_both_ways(
        &ws,
        "clips.jsonl",
        &["--scorers", "m", "--key-normalize", "stem"],
    );
    assert_eq!(loads, json!({"m": "full"}));
}

#[test]
fn the_key_check_says_the_same_when_probing() {
    let ws = grown_registry();
    // Stems: the scorer's keys are basenames with `.mp4`.
    let rows: String = (0..20)
        .map(|clip| format!("{{\"filename\": \"clip{clip:03}\"}}\n"))
        .collect();
    ws.write("stems.jsonl", rows);
    let messages: Vec<String> = ["full", "probe"]
        .iter()
        .map(|load| {
            let run = ws
                .command()
                .env("SECOND_OPINION_SCORE_LOAD", load)
                .args([
                    "export",
                    "--features",
                    "stems.jsonl",
                    "--out",
                    "never.jsonl",
                    "--scorers",
                    "m",
                ])
                .output()
                .unwrap();
            assert_eq!(run.status.code(), Some(1), "{load}");
            String::from_utf8_lossy(&run.stderr).into_owned()
        })
        .collect();
    assert!(messages[0].contains("key-normalize"), "{}", messages[0]);
    assert_eq!(messages[0], messages[1]);
    assert!(!ws.path("never.jsonl").exists());
}

#[test]
fn digest_sums_are_kept_through_changes_and_summed_again_when_unknown() {
    let ws = grown_registry();
    clip_table(&ws);
    let unknown = "SELECT source_file_id, scorer_id FROM live_row_counts \
                   WHERE digest_sum IS NULL AND ok_rows + bad_rows > 0";
    assert_eq!(
        ws.dump(unknown),
        Vec::<String>::new(),
        "every write leaves its sums kept"
    );
    let (before, _) = export(&ws, "probe", "clips.jsonl", &[]);
    // As a registry upgraded to keep them has them: unknown. The probing
    // export sums the files' rows itself, to the same digest.
    ws.sqlite()
        .execute("UPDATE live_row_counts SET digest_sum = NULL", [])
        .unwrap();
    let (after, _) = export(&ws, "probe", "clips.jsonl", &[]);
    assert_eq!(before.record[0], after.record[0]);
    assert_eq!(before.output, after.output);
    // The next write sums them again.
    ws.write(
        "later.jsonl",
        "{\"name\": \"/corpus/clip500.mp4\", \"competitor\": \"other\", \"score\": 1.0}\n",
    );
    ws.run(&["ingest", "later.jsonl"]).ok();
    assert_eq!(ws.dump(unknown), Vec::<String>::new());
    let (full, _) = export(
        &ws,
        "full",
        "clips.jsonl",
        &["--scorers", "m,fr,dover-mobile"],
    );
    let (probe, _) = export(
        &ws,
        "probe",
        "clips.jsonl",
        &["--scorers", "m,fr,dover-mobile"],
    );
    assert_eq!(full.record, probe.record);
    // A score edited by hand, behind the tool's back: the probing export's
    // digest shows it as a full read's does.
    ws.sqlite()
        .execute(
            "UPDATE scores SET score = 99.0 WHERE key = 'clip020.mp4' AND superseded_at IS NULL",
            [],
        )
        .unwrap();
    let scorers = ["--scorers", "m,fr,dover-mobile"];
    let (edited, _) = export(&ws, "probe", "clips.jsonl", &scorers);
    assert_ne!(
        edited.record[0], probe.record[0],
        "the digest sees the edit"
    );
    same_both_ways(&ws, "clips.jsonl", &scorers);
}

/// A probe sweeping the registry in key order shrinks SQLite's page cache
/// for its read snapshot only: the snapshot's end gives it back, and
/// outside a snapshot (an ingest's transaction) nothing shrinks it.
#[test]
fn a_sweep_shrinks_the_page_cache_for_its_snapshot_only() {
    use second_opinion::registry::{OpenMode, Registry, RegistryError};

    let ws = Workspace::new();
    let registry = Registry::open(&ws.path("r.db"), OpenMode::CreateIfMissing).unwrap();
    let cache = |registry: &Registry| -> i64 {
        registry
            .connection()
            .query_row("PRAGMA cache_size", [], |row| row.get(0))
            .unwrap()
    };
    let usual = cache(&registry);
    assert!(usual <= -65536, "the usual cache is large: {usual}");
    assert!(!registry.sweep_page_cache().unwrap());
    assert_eq!(cache(&registry), usual);

    let during = registry
        .read_snapshot(|r| {
            assert!(r.sweep_page_cache()?);
            let swept = cache(r);
            r.keep_page_cache()?;
            let back = cache(r);
            // A read that kept the cache keeps it for the snapshot.
            let again = r.sweep_page_cache()?;
            Ok::<_, RegistryError>((swept, back, again, cache(r)))
        })
        .unwrap();
    assert!(during.0 < 0 && during.0 > usual, "swept: {}", during.0);
    assert_eq!(during.1, usual);
    assert!(!during.2);
    assert_eq!(during.3, usual);
    assert_eq!(cache(&registry), usual, "the snapshot's end restores it");

    // A failed read restores it too.
    let failed: Result<(), RegistryError> = registry.read_snapshot(|r| {
        r.sweep_page_cache()?;
        Err(RegistryError::Refused {
            path: "r.db".into(),
            message: "stop".into(),
        })
    });
    assert!(failed.is_err());
    assert_eq!(cache(&registry), usual);
}
