//! `scorers` and `files` read counts kept as rows change (issue 18), not
//! the score rows: after every kind of change the kept counts must equal
//! a full count of the rows.

mod common;

use common::{sql_rows, Workspace};
use serde_json::{json, Value};

fn jsonl(scorer: &str, rows: &[(&str, &str)]) -> String {
    rows.iter()
        .map(|(key, score)| {
            format!(
                "{{\"filename\": \"/corpus/{key}.mp4\", \"competitor\": \"{scorer}\", \"score\": {score}}}\n"
            )
        })
        .collect()
}

/// `scorers --json` and `files --json` against counts of every score row.
fn assert_counts_match_the_rows(ws: &Workspace, after: &str) {
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    let listed: Vec<Value> = scorers
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!([
                s["slug"],
                s["live_rows"],
                s["ok_rows"],
                s["bad_rows"],
                s["superseded_rows"]
            ])
        })
        .collect();
    let counted = sql_rows(
        ws,
        "SELECT sc.slug, \
            (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL), \
            (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL \
                AND s.status = 'ok'), \
            (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL \
                AND s.status = 'bad'), \
            (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NOT NULL) \
         FROM scorers sc ORDER BY sc.slug",
    );
    assert_eq!(listed, counted, "scorers after {after}");
    let files = ws.run(&["files", "--json"]).ok().json();
    let listed: Vec<Value> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!([f["id"], f["live_rows"]]))
        .collect();
    let counted = sql_rows(
        ws,
        "SELECT f.id, (SELECT COUNT(*) FROM scores s WHERE s.source_file_id = f.id \
            AND s.superseded_at IS NULL) FROM source_files f ORDER BY f.id",
    );
    assert_eq!(listed, counted, "files after {after}");
    // The kept table itself, row by row.
    let kept = sql_rows(
        ws,
        "SELECT source_file_id, scorer_id, ok_rows, bad_rows, superseded_rows \
         FROM live_row_counts WHERE ok_rows + bad_rows + superseded_rows > 0 \
         ORDER BY source_file_id, scorer_id",
    );
    let counted = sql_rows(
        ws,
        "SELECT source_file_id, scorer_id, SUM(superseded_at IS NULL AND status = 'ok'), \
            SUM(superseded_at IS NULL AND status = 'bad'), SUM(superseded_at IS NOT NULL) \
         FROM scores GROUP BY source_file_id, scorer_id ORDER BY source_file_id, scorer_id",
    );
    assert_eq!(kept, counted, "live_row_counts after {after}");
}

#[test]
fn kept_counts_equal_a_full_count_after_every_kind_of_change() {
    let ws = Workspace::new();
    ws.write(
        "a.jsonl",
        jsonl(
            "dover",
            &[("k1", "10"), ("k2", "20"), ("k3", "\"NaN\""), ("k4", "4")],
        ),
    );
    let mut b = jsonl("dover", &[("k1", "11"), ("k5", "50"), ("k3", "3")]);
    b.push_str(&jsonl("musiq", &[("k6", "60"), ("k7", "\"oops\"")]));
    ws.write("b.jsonl", b);
    ws.write(
        "c.jsonl",
        jsonl("other", &[("k8", "8"), ("k9", "9"), ("k1", "1")]),
    );

    ws.run(&["ingest", "a.jsonl"]).ok();
    assert_counts_match_the_rows(&ws, "an ingest");
    ws.run(&["ingest", "--replace", "b.jsonl"]).ok();
    assert_counts_match_the_rows(&ws, "an ingest with --replace");
    ws.run(&["ingest", "c.jsonl"]).ok();
    ws.run(&["files", "retire", "b.jsonl", "--restore-previous"])
        .ok();
    assert_counts_match_the_rows(&ws, "a retire restoring the rows it replaced");
    ws.run(&["ingest", "--replace", "b.jsonl"]).ok();
    assert_counts_match_the_rows(&ws, "the retired bytes ingested again");
    ws.run(&["scorers", "rename", "musiq", "MUSIQ-2"]).ok();
    assert_counts_match_the_rows(&ws, "a rename");
    ws.run(&["scorers", "merge", "MUSIQ-2", "dover"]).ok();
    assert_counts_match_the_rows(&ws, "a merge");
    ws.run(&["scorers", "set", "dover", "--scale", "0:15"]).ok();
    assert_counts_match_the_rows(&ws, "a new scale judging the live rows again");
    ws.run(&["files", "retire", "a.jsonl"]).ok();
    assert_counts_match_the_rows(&ws, "a retire");
    let scorers = ws.run(&["scorers", "--json"]).ok().json();
    let dover = scorers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == "dover")
        .unwrap();
    assert!(dover["superseded_rows"].as_i64().unwrap() > 0);
    assert!(dover["bad_rows"].as_i64().unwrap() > 0);
}
