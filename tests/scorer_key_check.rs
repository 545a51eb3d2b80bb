//! `export`'s key check per scorer, and key normalisation applied to both
//! sides (issue 15): a scorer that joins nothing while another keying
//! would join it stops the export with the fix; per-scorer
//! `--key-normalize`; `stem`/`tail:N` on the registry's keys as written;
//! path suffixes found by the check; and scorers of other corpora left
//! alone.

mod common;

use common::Workspace;
use serde_json::Value;

const CLIPS: usize = 40;

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
                .unwrap_or("-")
                .to_string()
        })
        .collect()
}

/// The id of the newest export recorded.
fn last_export(ws: &Workspace) -> String {
    let listed = ws.run(&["exports", "--json"]).ok().json();
    let ids = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap());
    ids.max().unwrap().to_string()
}

fn all(status: &str) -> Vec<String> {
    vec![status.to_string(); CLIPS]
}

/// The newcomer's corpus: a table keyed by absolute `src` paths, DOVER's
/// CSV with the same absolute paths, pyiqa's MUSIQ CSV scored on PNG
/// frames (`A0001.png`), and a scorer of another corpus.
fn newcomer() -> Workspace {
    let ws = Workspace::new();
    let clips: Vec<String> = (1..=CLIPS).map(|n| format!("A{n:04}")).collect();
    ws.write(
        "features.jsonl",
        clips
            .iter()
            .map(|c| format!("{{\"src\":\"/mnt/ugc/{c}.mp4\",\"vmaf\":80.5}}\n"))
            .collect::<String>(),
    );
    ws.write(
        "dover.csv",
        std::iter::once(
            "path, aesthetic score, technical score, overall/final score\n".to_string(),
        )
        .chain(
            clips
                .iter()
                .map(|c| format!("/mnt/ugc/{c}.mp4, 56.123450, 48.123000,51.230000\n")),
        )
        .collect::<String>(),
    );
    ws.write(
        "musiq.csv",
        clips
            .iter()
            .map(|c| format!("{c}.png,61.25\n"))
            .collect::<String>(),
    );
    ws.write(
        "other.jsonl",
        (1..=CLIPS)
            .map(|n| {
                format!("{{\"clip_id\":\"Z{n:04}\",\"competitor\":\"other\",\"score\":3.5}}\n")
            })
            .collect::<String>(),
    );
    ws.run(&["ingest", "dover=dover.csv"]).ok();
    ws.run(&["ingest", "musiq=musiq.csv"]).ok();
    ws.run(&["ingest", "other.jsonl"]).ok();
    ws
}

fn export(ws: &Workspace, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "out.jsonl",
    ];
    args.extend_from_slice(extra);
    ws.run(&args)
}

/// MUSIQ joins nothing with the table's basenames but all of it with
/// stems: the export stops, naming the scorer and the per-scorer fix, and
/// writes nothing; the fix then joins every scorer. The scorer of another
/// corpus, not named, matches nothing and does not stop anything.
#[test]
fn a_scorer_that_joins_nothing_stops_the_export_with_its_own_fix() {
    let ws = newcomer();
    let run = export(&ws, &[]).fails_with(1);
    assert!(
        run.stderr.contains(&format!(
            "features.jsonl: scorer 'musiq' matched 0 of {CLIPS} rows with src/basename; \
             src/stem matches {CLIPS}: pass --key-normalize musiq=stem"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("'dover'"), "{}", run.stderr);
    assert!(!run.stderr.contains("'other'"), "{}", run.stderr);
    assert!(!ws.path("out.jsonl").exists());

    let run = export(&ws, &["--key-normalize", "musiq=stem"]).ok();
    assert!(
        run.stderr
            .contains(&format!("musiq (keys stem): {CLIPS} matched")),
        "{}",
        run.stderr
    );
    let rows = read_rows(&ws, "out.jsonl");
    assert_eq!(statuses(&rows, "musiq"), all("ok"));
    assert_eq!(statuses(&rows, "dover"), all("ok"));
    assert_eq!(statuses(&rows, "other"), all("missing"));
    assert_eq!(rows[0]["second_opinion_musiq_score"], 61.25);

    // The record keeps the per-scorer choice; a replay joins as it did.
    let record = ws
        .run(&["exports", "show", &last_export(&ws), "--json"])
        .ok()
        .json();
    let options = &record["export"]["options"];
    assert_eq!(
        options["scorer_key_normalize"],
        serde_json::json!({"musiq": "stem"})
    );
    let replay = ws
        .run(&["exports", "replay", &last_export(&ws), "--json"])
        .ok()
        .json();
    assert_eq!(replay["bytes_match"], serde_json::json!(true), "{replay}");
}

/// Named with `--scorers`, a scorer of another corpus that matches nothing
/// in any keying stops the export: the user asked for its scores.
#[test]
fn a_named_scorer_that_matches_nothing_at_all_stops_the_export() {
    let ws = newcomer();
    let run = export(&ws, &["--scorers", "dover,other"]).fails_with(1);
    assert!(
        run.stderr.contains(&format!(
            "scorer 'other' matched 0 of {CLIPS} rows with src/basename, although it has \
             {CLIPS} live scores (a key: 'Z0001'; a table key: '/mnt/ugc/A0001.mp4'), and no \
             other key column or normalisation matches them: leave it out of --scorers"
        )),
        "{}",
        run.stderr
    );
    export(&ws, &["--scorers", "dover"]).ok();
}

/// `--key-normalize stem` for every scorer: the table's keys and the
/// registry's (stored as basenames `A0001.mp4`, written as full paths)
/// become stems alike, and both scorers join.
#[test]
fn a_normalisation_applies_to_the_registry_keys_too() {
    let ws = newcomer();
    let run = export(
        &ws,
        &["--key-normalize", "stem", "--scorers", "dover,musiq"],
    )
    .ok();
    assert!(
        run.stderr.contains(&format!("dover: {CLIPS} matched")),
        "{}",
        run.stderr
    );
    let rows = read_rows(&ws, "out.jsonl");
    assert_eq!(statuses(&rows, "dover"), all("ok"));
    assert_eq!(statuses(&rows, "musiq"), all("ok"));
    let record = ws
        .run(&["exports", "show", &last_export(&ws), "--json"])
        .ok()
        .json();
    assert_eq!(
        record["export"]["options"]["registry_keys_normalized"],
        true
    );
    let replay = ws
        .run(&["exports", "replay", &last_export(&ws), "--json"])
        .ok()
        .json();
    assert_eq!(replay["bytes_match"], serde_json::json!(true), "{replay}");
    // DOVER's keys are stored as basenames; tail:2 of the paths it wrote
    // (`ugc/A0001.mp4`) is what the table's paths give too.
    export(&ws, &["--key-normalize", "tail:2", "--scorers", "dover"]).ok();
    let rows = read_rows(&ws, "out.jsonl");
    assert_eq!(statuses(&rows, "dover"), all("ok"));
}

/// A per-scorer entry naming a scorer the export does not read is a
/// mistake on the command line.
#[test]
fn a_per_scorer_normalisation_must_name_a_scorer_read() {
    let ws = newcomer();
    let run = export(&ws, &["--key-normalize", "musik=stem"]).fails_with(2);
    assert!(
        run.stderr
            .contains("--key-normalize musik=…: this export reads no scorer 'musik'"),
        "{}",
        run.stderr
    );
    let run = export(&ws, &["--key-normalize", "stem,raw"]).fails_with(2);
    assert!(
        run.stderr.contains("more than one normalisation"),
        "{}",
        run.stderr
    );
}

/// Several encodes per source, scored by absolute paths and ingested raw;
/// the table holds paths relative to the corpus root. Nothing matches as
/// written and basenames collide: the check finds the path suffix that
/// joins (tail:3), and with it every row joins. A normalisation under
/// which two scores become one is refused, naming both.
#[test]
fn the_key_check_finds_the_path_suffix_that_joins() {
    let ws = Workspace::new();
    let mut features = String::new();
    let mut scores = String::new();
    for crf in [23, 35] {
        for n in 1..=CLIPS / 2 {
            features.push_str(&format!(
                "{{\"src\":\"Video/crf{crf}/A{n:04}.mp4\",\"vmaf\":80.5}}\n"
            ));
            scores.push_str(&format!(
                "{{\"filename\":\"/mnt/nas/ugc/Video/crf{crf}/A{n:04}.mp4\",\
                  \"competitor\":\"dover\",\"score\":0.{crf}}}\n"
            ));
        }
    }
    ws.write("features.jsonl", features);
    ws.write("scores.jsonl", scores);
    ws.run(&["ingest", "scores.jsonl", "--key-normalize", "raw"])
        .ok();

    let run = export(&ws, &[]).fails_with(1);
    assert!(
        run.stderr.contains(&format!(
            "scorer 'dover' matched 0 of {CLIPS} rows with src/basename; src/tail:2 matches \
             {CLIPS}: pass --key-normalize tail:2"
        )),
        "{}",
        run.stderr
    );
    export(&ws, &["--key-normalize", "tail:2"]).ok();
    let rows = read_rows(&ws, "out.jsonl");
    assert_eq!(statuses(&rows, "dover"), all("ok"));
    assert_eq!(rows[0]["second_opinion_dover_score"], 0.23);
    assert_eq!(rows[CLIPS - 1]["second_opinion_dover_score"], 0.35);

    let run = export(&ws, &["--key-normalize", "basename"]).fails_with(1);
    assert!(
        run.stderr.contains(
            "scorer 'dover': its keys '/mnt/nas/ugc/Video/crf23/A0001.mp4' and \
             '/mnt/nas/ugc/Video/crf35/A0001.mp4' are both 'A0001.mp4' with --key-normalize \
             basename"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pass --key-normalize tail:2"),
        "{}",
        run.stderr
    );
}

/// A table longer than the key check's sample: the better keying is
/// counted over the table's first 20,000 rows, and the message says so
/// (a count over the sample beside a count over the whole table would
/// otherwise read as a contradiction).
#[test]
fn a_table_longer_than_the_sample_says_the_count_is_of_its_first_rows() {
    const ROWS: usize = 25_000;
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        (1..=ROWS)
            .map(|n| format!("{{\"src\":\"/mnt/ugc/B{n:05}.mp4\",\"vmaf\":80.5}}\n"))
            .collect::<String>(),
    );
    ws.write(
        "musiq.csv",
        (1..=ROWS)
            .map(|n| format!("B{n:05}.png,61.25\n"))
            .collect::<String>(),
    );
    ws.run(&["ingest", "musiq=musiq.csv"]).ok();
    let run = export(&ws, &[]).fails_with(1);
    assert!(
        run.stderr.contains(&format!(
            "features.jsonl: scorer 'musiq' matched 0 of {ROWS} rows with src/basename; \
             src/stem matches 20000 of the first 20000 rows: pass --key-normalize stem"
        )),
        "{}",
        run.stderr
    );
    assert!(!ws.path("out.jsonl").exists());
}
