//! `audit` and `families` end to end through the binary: the reference's
//! 24-row synthetic fixture and its family statuses, second-opinion columns
//! of registry scorers (whatever their names), disagreement, saturation,
//! the retrain estimate, the HTML page, editing families, `--compare-last`,
//! strict JSON and exit codes.

mod common;

use serde_json::{json, Value};

use common::{arg, Run, Workspace};

// ---------------------------------------------------------------- fixtures

/// One row of the reference's synthetic fixture (`test_signal_mix_audit.py`).
fn fixture_row(idx: usize) -> serde_json::Map<String, Value> {
    let i = idx as f64;
    let alternating = if idx % 2 == 1 { -1.0 } else { 1.0 };
    let row = json!({
        "src": format!("clip-{idx:02}.mp4"),
        "vmaf": 50.0 + i,
        "adm2": 0.50 + 0.01 * i,
        "vif_scale0": 0.50 + 0.01 * i + 0.00001 * alternating,
        "motion2": (idx % 7) as f64,
        "float_ms_ssim": 0.70 + 0.005 * i,
        "ssimulacra2": 20.0 + 0.75 * i,
        "cambi": 1.0 + 0.05 * i,
        "ciede2000": 3.0 + 0.04 * (23.0 - i),
        "bitdepth": 10,
        "chug_bitrate_mbps": 2.0 + 0.20 * i + 0.75 * alternating,
        "mos": 1.0 + 4.0 * i / 23.0,
    });
    row.as_object().expect("object").clone()
}

/// The fixture as JSON Lines, each row changed by `edit`.
fn fixture(edit: impl Fn(usize, &mut serde_json::Map<String, Value>)) -> String {
    (0..24)
        .map(|idx| {
            let mut row = fixture_row(idx);
            edit(idx, &mut row);
            serde_json::to_string(&row).expect("row") + "\n"
        })
        .collect()
}

/// Scores of a no-reference scorer `foo-iqa` for the fixture's clips: in
/// vmaf's order except clip 0 (ranked top) and clip 23 (ranked bottom);
/// clips 5 and 6 have no score, clip 7 is bad.
fn foo_iqa_scores() -> String {
    let mut lines = String::new();
    for idx in 0..24 {
        if idx == 5 || idx == 6 {
            continue;
        }
        let score = match idx {
            0 => 100.0,
            23 => 40.0,
            i => 60.0 + i as f64,
        };
        let status = if idx == 7 { "error" } else { "ok" };
        lines.push_str(&format!(
            "{{\"path\": \"/corpus/clip-{idx:02}.mp4\", \"competitor\": \"foo-iqa\", \"score\": {score}, \"status\": \"{status}\"}}\n"
        ));
    }
    lines
}

/// libvmaf's NEG model as a second opinion.
fn vmaf_neg_scores() -> String {
    (0..24)
        .map(|idx| {
            format!(
                "{{\"path\": \"clip-{idx:02}.mp4\", \"competitor\": \"vmaf-neg\", \"score\": {}}}\n",
                48.0 + idx as f64 * 0.9
            )
        })
        .collect()
}

fn audit(ws: &Workspace, extra: &[&str]) -> Run {
    let mut args = vec!["audit", "--out-json", "audit.json", "--out-md", "audit.md"];
    args.extend_from_slice(extra);
    ws.run(&args)
}

fn report(ws: &Workspace) -> Value {
    let text = std::fs::read_to_string(ws.path("audit.json")).expect("audit.json");
    serde_json::from_str(&text).expect("JSON report")
}

fn markdown(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.path("audit.md")).expect("audit.md")
}

fn status(table: &Value, family: &str) -> String {
    table["family_health"][family]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no family {family}"))
        .to_string()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

/// A workspace with foo-iqa and vmaf-neg ingested and exported onto the
/// fixture with prefix `so`, as `enriched.<ext>`.
fn enriched(ext: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    ws.write("scores/foo.jsonl", foo_iqa_scores());
    ws.write("scores/neg.jsonl", vmaf_neg_scores());
    ws.run(&["ingest", "scores/foo.jsonl", "scores/neg.jsonl"])
        .ok();
    let out = format!("enriched.{ext}");
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        &out,
        "--prefix",
        "so",
    ])
    .ok();
    ws
}

// ------------------------------------------------- the reference's fixture

#[test]
fn reference_fixture_family_statuses() {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    let run = audit(&ws, &["--input", "features.jsonl"]).ok();
    assert!(run
        .stdout
        .starts_with("[signal-mix] tables=1 missing_families="));
    let report = report(&ws);
    let table = &report["tables"][0];
    assert_eq!(table["label"], "features");
    assert_eq!(table["target"], "vmaf");
    assert_eq!(table["rows"], 24);
    let signals = strings(&table["signal_columns"]);
    assert!(!signals.contains(&"mos".to_string()));
    assert!(!signals.contains(&"src".to_string()));
    assert_eq!(status(table, "canonical_fr"), "covered");
    assert_eq!(status(table, "texture_deep_perceptual"), "covered");
    assert_eq!(status(table, "banding_tone_mapping"), "covered");
    assert_eq!(status(table, "saliency_roi"), "missing");
    assert_eq!(status(table, "noise_grain_blur"), "missing");
    assert_eq!(status(table, "hdr_display_panel"), "weak");
    // `mos` matches, but is a target candidate, so not a signal.
    assert_eq!(status(table, "no_reference_ugc"), "weak");
    assert_eq!(
        strings(&table["family_health"]["hdr_display_panel"]["matched_columns"]),
        ["bitdepth"]
    );
    assert!(strings(&table["missing_families"]).contains(&"saliency_roi".to_string()));
    assert!(strings(&table["weak_families"]).contains(&"hdr_display_panel".to_string()));
    // The constant column has no correlation with the target.
    let correlated: Vec<&str> = table["target_correlations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert!(!correlated.contains(&"bitdepth"));
    assert_eq!(correlated.len(), 8);

    let md = markdown(&ws);
    for section in [
        "# Signal-mix audit",
        "## Inputs",
        "## Coverage Matrix",
        "## Strongest Target Signals",
        "## Complementary Intersections",
        "## Redundant Pairs",
        "## Blind Spots",
        "## Recommended Next Actions",
        "## Second-Opinion Coverage",
        "## Disagreement and Saturation",
        "## Retrain Impact Estimate",
    ] {
        assert!(md.contains(section), "missing section {section}\n{md}");
    }
    assert!(md.contains("Saliency and ROI weighting"));
    assert!(md.contains("U2NetP"));
    assert!(md.contains("`adm2`"));
    assert!(md.contains("| `features` | 24 | 12 | `vmaf` | 9 |"));
}

#[test]
fn redundancy_and_complementary_intersections() {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    audit(
        &ws,
        &[
            "--input",
            "features.jsonl",
            "--complement-threshold",
            "0.995",
        ],
    )
    .ok();
    let table = &report(&ws)["tables"][0];
    let redundant: Vec<(String, String)> = table["redundant_pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["left"].as_str().unwrap().to_string(),
                p["right"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(redundant.contains(&("adm2".to_string(), "vif_scale0".to_string())));
    let families: Vec<(String, String)> = table["intersections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["left_family"].as_str().unwrap().to_string(),
                p["right_family"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(families.iter().any(|(l, r)| {
        (l == "canonical_fr" && r == "codec_encoder")
            || (l == "codec_encoder" && r == "canonical_fr")
    }));
}

#[test]
fn second_opinion_columns_cover_the_no_reference_family() {
    let ws = Workspace::new();
    ws.write(
        "second_opinion.jsonl",
        fixture(|idx, row| {
            row.insert(
                "second_opinion_dover_mobile_score".into(),
                json!(60.0 + idx as f64),
            );
            row.insert(
                "second_opinion_q_align_score".into(),
                json!(62.0 + 0.5 * idx as f64),
            );
        }),
    );
    audit(&ws, &["--input", "second-opinion=second_opinion.jsonl"]).ok();
    let table = &report(&ws)["tables"][0];
    assert_eq!(table["label"], "second-opinion");
    assert_eq!(status(table, "no_reference_ugc"), "covered");
    let matched = strings(&table["family_health"]["no_reference_ugc"]["matched_columns"]);
    assert!(matched.contains(&"second_opinion_dover_mobile_score".to_string()));
    assert!(matched.contains(&"second_opinion_q_align_score".to_string()));
    // Both scorers are found from the columns alone (no registry here).
    let scorers = table["second_opinion"]["scorers"].as_array().unwrap();
    assert_eq!(scorers.len(), 2);
    assert_eq!(scorers[0]["ok_share"], 1.0);
}

#[test]
fn custom_unknown_and_missing_targets() {
    let ws = Workspace::new();
    ws.write(
        "mos_features.jsonl",
        fixture(|_, row| {
            let mos = row.remove("mos").unwrap();
            row.insert("mos_target".into(), mos);
            row.remove("vmaf");
        }),
    );
    audit(
        &ws,
        &["--input", "mos_features.jsonl", "--target", "mos_target"],
    )
    .ok();
    let table = &report(&ws)["tables"][0];
    assert_eq!(table["target"], "mos_target");
    assert!(!table["target_correlations"].as_array().unwrap().is_empty());

    ws.write("features.jsonl", fixture(|_, _| {}));
    audit(
        &ws,
        &["--input", "features.jsonl", "--target", "not_present"],
    )
    .ok();
    let table = &report(&ws)["tables"][0];
    assert!(table["target"].is_null(), "no fallback to vmaf");
    assert_eq!(table["target_correlations"], json!([]));
    assert_eq!(table["retrain_impact"]["computed"], false);
    assert!(markdown(&ws).contains("No target column found"));
}

// ------------------------------------------- scorers the registry knows

#[test]
fn registry_scorers_classify_their_columns_whatever_their_names() {
    let ws = enriched("jsonl");
    audit(
        &ws,
        &[
            "--input",
            "enriched.jsonl",
            "--prefix",
            "so",
            "--disagreement-threshold",
            "0.4",
            "--fr-ceiling",
            "70",
        ],
    )
    .ok();
    let table = &report(&ws)["tables"][0];
    // `so_foo_iqa_score` matches no pattern: the registry knows foo-iqa.
    assert_eq!(
        table["column_families"]["so_foo_iqa_score"],
        "no_reference_ugc"
    );
    assert_eq!(status(table, "no_reference_ugc"), "covered");
    // vmaf-neg is full-reference evidence.
    assert_eq!(
        table["column_families"]["so_vmaf_neg_score"],
        "canonical_fr"
    );
    // Bookkeeping columns are never signals.
    let signals = strings(&table["signal_columns"]);
    assert!(signals.contains(&"so_foo_iqa_score".to_string()));
    assert!(!signals.contains(&"so_foo_iqa_runtime_ms".to_string()));
    assert!(!signals.contains(&"so_foo_iqa_frames".to_string()));

    let second = &table["second_opinion"];
    let foo = second["scorers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == "foo_iqa")
        .expect("foo_iqa coverage");
    assert_eq!(foo["evidence"], "no_reference");
    assert_eq!(foo["in_registry"], true);
    assert_eq!(
        (
            foo["ok"].as_u64(),
            foo["bad"].as_u64(),
            foo["missing"].as_u64()
        ),
        (Some(21), Some(1), Some(2))
    );
    assert_eq!(foo["ok_share"], 21.0 / 24.0);

    // Disagreement: clips 0 and 23 are ranked the other way round by foo-iqa.
    let disagreement = &second["disagreement"];
    assert_eq!(second["fr_column"], "vmaf");
    assert_eq!(disagreement["computed"], true);
    assert_eq!(disagreement["rows_over_threshold"], 2);
    let rows = disagreement["top_rows"].as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["clip-00.mp4", "clip-23.mp4"]);
    assert_eq!(rows[0]["direction"], "nr_higher");
    assert_eq!(rows[1]["direction"], "fr_higher");
    assert_eq!(rows[0]["gap"], -0.5);
    // Saturation at the given ceiling: vmaf 70..73.
    let saturation = &second["saturation"];
    assert_eq!(saturation["saturated_rows"], 4);
    assert_eq!(saturation["ceiling_from"], "--fr-ceiling");

    // The retrain estimate runs, and says plainly that 21 rows are few.
    let impact = &table["retrain_impact"];
    assert_eq!(impact["computed"], true, "{impact}");
    assert_eq!(impact["rows"], 21);
    assert_eq!(impact["reliable"], false);
    assert!(strings(&impact["fr_plus_second_opinion"]["columns"])
        .contains(&"so_foo_iqa_score".to_string()));
    assert!(!strings(&impact["fr_only"]["columns"]).contains(&"so_foo_iqa_score".to_string()));
    let md = markdown(&ws);
    assert!(md.contains("Too few rows to tell"), "{md}");
    assert!(md.contains("`clip-00.mp4`"));
}

#[test]
fn every_table_format_gives_the_same_numbers() {
    let mut reports = Vec::new();
    for ext in ["jsonl", "parquet", "csv", "arrow", "json"] {
        let ws = enriched(ext);
        let input = format!("t=enriched.{ext}");
        audit(&ws, &["--input", &input, "--prefix", "so"]).ok();
        let table = report(&ws)["tables"][0].clone();
        reports.push((ext, table));
    }
    let (_, first) = &reports[0];
    for (ext, table) in &reports[1..] {
        for key in [
            "target",
            "signal_columns",
            "target_correlations",
            "redundant_pairs",
            "family_health",
            "second_opinion",
            "retrain_impact",
        ] {
            assert_eq!(
                table[key], first[key],
                "{ext}: {key} differs from JSON Lines"
            );
        }
    }
}

// ---------------------------------------------------------------- outputs

#[test]
fn json_is_strict_sorted_and_atomic() {
    let ws = enriched("jsonl");
    audit(&ws, &["--input", "enriched.jsonl", "--prefix", "so"]).ok();
    let text = std::fs::read_to_string(ws.path("audit.json")).unwrap();
    assert!(!text.contains("NaN") && !text.contains("Infinity"));
    let value: Value = serde_json::from_str(&text).unwrap();
    // Keys are sorted: at the top level and in a table.
    let in_order = |keys: &[&str], indent: &str, from: usize| {
        let positions: Vec<usize> = keys
            .iter()
            .map(|k| {
                text[from..]
                    .find(&format!("\n{indent}\"{k}\": "))
                    .unwrap_or_else(|| panic!("no key {k}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{keys:?} out of order"
        );
    };
    in_order(
        &[
            "families",
            "options",
            "run_provenance",
            "schema",
            "tables",
            "tool_version",
        ],
        "  ",
        0,
    );
    in_order(
        &[
            "absolute_path",
            "column_families",
            "family_health",
            "label",
            "retrain_impact",
            "second_opinion",
            "target_correlations",
            "weak_families",
        ],
        "      ",
        text.find("\n  \"tables\": ").unwrap(),
    );
    // No saturated rows at VMAF's default ceiling: spreads are null, not NaN.
    let spread = &value["tables"][0]["second_opinion"]["saturation"]["second_opinion_spread"][0];
    assert!(spread["min"].is_null(), "{spread}");
    assert_eq!(value["schema"], "second-opinion-audit-v1");
    let provenance = &value["run_provenance"];
    assert_eq!(provenance["inputs"][0]["role"], "table");
    assert_eq!(
        provenance["inputs"][0]["sha256"].as_str().unwrap().len(),
        64
    );
    // Same inputs, same options: the same bytes.
    audit(&ws, &["--input", "enriched.jsonl", "--prefix", "so"]).ok();
    assert_eq!(
        std::fs::read_to_string(ws.path("audit.json")).unwrap(),
        text
    );
    // No temporary file is left behind.
    let leftovers: Vec<String> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn html_page_is_self_contained_with_one_plot_per_second_opinion() {
    let ws = Workspace::new();
    ws.write(
        "so.jsonl",
        fixture(|idx, row| {
            row.insert(
                "second_opinion_dover_mobile_score".into(),
                json!(60.0 + idx as f64),
            );
            row.insert(
                "second_opinion_q_align_score".into(),
                json!(62.0 + 0.5 * (23 - idx) as f64),
            );
        }),
    );
    audit(
        &ws,
        &[
            "--input",
            "so.jsonl",
            "--out-html",
            "out/audit.html",
            "--disagreement-threshold",
            "0.3",
        ],
    )
    .ok();
    let page = std::fs::read_to_string(ws.path("out/audit.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg class=\"scatter\"").count(), 2);
    // q-align ranks every clip the other way: the far ends are ringed.
    assert!(page.contains("stroke=\"#d62728\" stroke-width=\"2\"><title>clip-00.mp4"));
    // Each point's tooltip names every value once: the target here is the
    // FR column on the x axis, so it is not repeated.
    let titles: Vec<&str> = page
        .split("<title>")
        .skip(2)
        .map(|t| t.split("</title>").next().unwrap())
        .collect();
    assert!(!titles.is_empty());
    for title in titles {
        let names: Vec<&str> = title
            .split(", ")
            .map(|part| {
                part.rsplit(" · ")
                    .next()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
            })
            .collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "{title}");
    }
    assert!(page.contains("<tr class=\"disagree\">"));
    for fetch in ["<link", " src=", "url(http", "@import"] {
        assert!(!page.contains(fetch), "the page fetches something: {fetch}");
    }
    let value = report(&ws);
    assert_eq!(
        value["run_provenance"]["outputs"]["html_report"],
        "out/audit.html"
    );
}

// ---------------------------------------------------------------- families

#[test]
fn families_list_edit_and_classify() {
    let ws = Workspace::new();
    // Without a registry, list shows the defaults and creates nothing.
    let run = ws.run(&["families", "list", "--json"]).ok();
    let families = run.json();
    assert_eq!(families.as_array().unwrap().len(), 13);
    assert_eq!(families[0]["key"], "canonical_fr");
    assert_eq!(families[0]["patterns"][4], "vmaf");
    assert!(!ws.registry().exists());

    // An invalid regex is refused at entry, with the regex error.
    let run = ws
        .run(&["families", "add-pattern", "saliency_roi", "(unclosed"])
        .fails_with(2);
    assert!(
        run.stderr.contains("invalid regex '(unclosed'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("unclosed group"), "{}", run.stderr);
    assert!(
        !ws.registry().exists(),
        "nothing created for a refused edit"
    );
    ws.run(&[
        "families",
        "add",
        "film_look",
        "--label",
        "Film look",
        "--pattern",
        "[grain",
    ])
    .fails_with(2);
    ws.run(&["families", "add-pattern", "no_such_family", "x"])
        .fails_with(1);

    ws.run(&["families", "add-pattern", "saliency_roi", "^sal_"])
        .ok();
    let run = ws
        .run(&["families", "add-pattern", "saliency_roi", "^sal_"])
        .ok();
    assert!(run.stdout.contains("already has pattern"));
    ws.run(&[
        "families",
        "add",
        "film_look",
        "--label",
        "Film look",
        "--question",
        "Is film grain synthesised?",
        "--recommendation",
        "Record the grain synthesis table.",
        "--pattern",
        "grain_synth",
        "--candidate",
        "AV1 film grain parameters",
    ])
    .ok();
    ws.run(&["families", "add", "film_look", "--label", "again"])
        .fails_with(1);
    ws.run(&["families", "add", "Film Look", "--label", "x"])
        .fails_with(2);
    let list = ws.run(&["families", "list"]).ok().stdout;
    assert!(list.contains("14. film_look — Film look"), "{list}");
    assert!(list.contains("^sal_"));

    ws.write(
        "features.jsonl",
        fixture(|idx, row| {
            row.insert("sal_weight".into(), json!(idx as f64 * 0.1));
            row.insert("grain_synth_level".into(), json!(3));
        }),
    );
    audit(&ws, &["--input", "features.jsonl"]).ok();
    let value = report(&ws);
    let table = &value["tables"][0];
    assert_eq!(status(table, "saliency_roi"), "covered");
    assert_eq!(status(table, "film_look"), "weak", "constant column");
    assert_eq!(value["families"][13]["key"], "film_look");
    assert!(markdown(&ws).contains("Record the grain synthesis table."));

    ws.run(&["families", "remove-pattern", "saliency_roi", "^sal_"])
        .ok();
    ws.run(&["families", "remove-pattern", "saliency_roi", "^sal_"])
        .fails_with(1);
    audit(&ws, &["--input", "features.jsonl"]).ok();
    assert_eq!(status(&report(&ws)["tables"][0], "saliency_roi"), "missing");
}

// ---------------------------------------------------------------- history

#[test]
fn runs_are_recorded_and_compare_last_shows_changes() {
    let ws = enriched("jsonl");
    let run = audit(
        &ws,
        &[
            "--input",
            "t=enriched.jsonl",
            "--prefix",
            "so",
            "--compare-last",
        ],
    )
    .ok();
    assert!(
        run.stdout.contains("No earlier audit of 't'"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("audit run 1 recorded"),
        "{}",
        run.stderr
    );

    // The table gains a saliency column and loses a clip.
    let lines: Vec<String> = std::fs::read_to_string(ws.path("enriched.jsonl"))
        .unwrap()
        .lines()
        .take(23)
        .map(|line| {
            let mut row: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            let vmaf = row["vmaf"].as_f64().unwrap();
            row.insert("saliency_mean".into(), json!(vmaf * 0.01));
            serde_json::to_string(&row).unwrap()
        })
        .collect();
    ws.write("enriched.jsonl", lines.join("\n") + "\n");
    let run = audit(
        &ws,
        &[
            "--input",
            "t=enriched.jsonl",
            "--prefix",
            "so",
            "--compare-last",
        ],
    )
    .ok();
    assert!(
        run.stdout.contains("changes since the last audit of 't':"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Rows: 24 → 23."), "{}", run.stdout);
    assert!(
        run.stdout.contains("saliency_roi missing → covered"),
        "{}",
        run.stdout
    );
    let changes = &report(&ws)["tables"][0]["changes_since_last"];
    assert_eq!(changes["previous"]["run"], 1);
    assert_eq!(changes["same_table_bytes"], false);
    assert_eq!(changes["signal_columns_added"], json!(["saliency_mean"]));
    assert!(markdown(&ws).contains("## Changes Since Last Audit"));

    let conn = ws.sqlite();
    let mut stmt = conn
        .prepare("SELECT run_id, label, rows, length(sha256) FROM audit_inputs ORDER BY id")
        .unwrap();
    let recorded: Vec<(i64, String, i64, i64)> = stmt
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        recorded,
        [(1, "t".to_string(), 24, 64), (2, "t".to_string(), 23, 64)]
    );
    let prefixes: Vec<String> = conn
        .prepare("SELECT json_extract(options, '$.prefix') FROM audit_runs")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(prefixes, ["so", "so"]);
}

// ---------------------------------------------------------------- failures

#[test]
fn exit_codes() {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    let run = audit(&ws, &["--input", "missing.jsonl"]).fails_with(1);
    assert!(run.stderr.contains("missing.jsonl: no such file"));
    ws.write("t.txt", "x");
    audit(&ws, &["--input", "t.txt"]).fails_with(2);
    audit(&ws, &["--input", "features.jsonl", "--folds", "1"]).fails_with(2);
    // This tool's own threshold is a share; the reference's take any number
    // (see reference_numeric_flags_take_any_number), but not a word.
    audit(
        &ws,
        &["--input", "features.jsonl", "--disagreement-threshold", "2"],
    )
    .fails_with(2);
    audit(
        &ws,
        &["--input", "features.jsonl", "--min-finite-ratio", "most"],
    )
    .fails_with(2);
    ws.write("broken.jsonl", "{\"vmaf\": 1}\n{\"vmaf\": \n");
    let run = audit(&ws, &["--input", "broken.jsonl"]).fails_with(1);
    assert!(run.stderr.contains("broken.jsonl:2:"), "{}", run.stderr);
    assert!(
        !ws.path("audit.json").exists(),
        "nothing written on failure"
    );
    let run = audit(&ws, &["--input", "features.jsonl", "--key-column", "nope"]).fails_with(1);
    assert!(run.stderr.contains("no column 'nope'"));
    ws.run(&["audit", "--input", "features.jsonl"])
        .fails_with(2);
    assert!(arg(&ws.path("x")).ends_with('x'));
}

// ------------------------------------------------------ defaults for MOS work

#[test]
fn the_target_is_explained_and_a_mos_target_counts_vmaf_as_a_signal() {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    // Without --target the reference's order picks vmaf, says so, and
    // points at the MOS column.
    let run = audit(&ws, &["--input", "features.jsonl"]).ok();
    let table = &report(&ws)["tables"][0];
    assert_eq!(table["target"], "vmaf");
    let reason = table["target_reason"].as_str().unwrap();
    assert!(
        reason.contains("first of the reference's target candidates"),
        "{reason}"
    );
    let hint = table["target_hint"].as_str().unwrap();
    assert!(hint.contains("--target mos"), "{hint}");
    assert!(
        run.stderr.contains("hint: features: target vmaf"),
        "{}",
        run.stderr
    );
    assert!(
        markdown(&ws).contains("Hint: the table also has mos"),
        "{}",
        markdown(&ws)
    );
    let signals = strings(&table["signal_columns"]);
    assert!(!signals.contains(&"vmaf".to_string()) && !signals.contains(&"mos".to_string()));

    // Against viewers' scores, VMAF is evidence, not another target.
    audit(&ws, &["--input", "features.jsonl", "--target", "mos"]).ok();
    let table = &report(&ws)["tables"][0];
    assert_eq!(table["target_reason"], "given by --target");
    assert!(table["target_hint"].is_null());
    let signals = strings(&table["signal_columns"]);
    assert!(signals.contains(&"vmaf".to_string()), "{signals:?}");
    assert!(!signals.contains(&"mos".to_string()), "{signals:?}");
    assert!(
        strings(&table["family_health"]["canonical_fr"]["healthy_columns"])
            .contains(&"vmaf".to_string())
    );
    let correlated: Vec<&str> = table["target_correlations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert!(correlated.contains(&"vmaf"), "{correlated:?}");
}

#[test]
fn coverage_counts_signal_columns_only() {
    let ws = enriched("jsonl");
    audit(&ws, &["--input", "enriched.jsonl", "--prefix", "so"]).ok();
    let table = &report(&ws)["tables"][0];
    let health = &table["family_health"]["no_reference_ugc"];
    let healthy = health["healthy_columns"].as_array().unwrap().len();
    let signals = health["numeric_columns"].as_array().unwrap().len();
    let matched = health["matched_columns"].as_array().unwrap().len();
    assert!(
        matched > signals,
        "the fixture has bookkeeping columns: {health}"
    );
    let shown = format!("`enriched`: covered ({healthy}/{signals})");
    assert!(
        markdown(&ws).contains(&shown),
        "{shown} in {}",
        markdown(&ws)
    );
}

#[test]
fn any_one_report_is_enough_and_the_page_has_every_section() {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    ws.run(&[
        "audit",
        "--input",
        "features.jsonl",
        "--out-html",
        "page.html",
    ])
    .ok();
    assert!(!ws.path("audit.json").exists() && !ws.path("audit.md").exists());
    let page = std::fs::read_to_string(ws.path("page.html")).unwrap();
    for section in [
        "<h2>Recommended next actions</h2>",
        "<h3>Complementary intersections</h3>",
        "<h3>Redundant pairs</h3>",
        "<h3>Strongest target signals</h3>",
        "Target of <code>features</code>: the first of the reference",
    ] {
        assert!(page.contains(section), "{section}");
    }
    let run = ws
        .run(&["audit", "--input", "features.jsonl"])
        .fails_with(2);
    assert!(run.stderr.contains("--out-json"), "{}", run.stderr);
}

#[test]
fn a_ugc_audit_is_not_told_panel_and_encoder_context_are_missing() {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    audit(&ws, &["--input", "features.jsonl", "--target", "mos"]).ok();
    let table = &report(&ws)["tables"][0];
    for family in ["hdr_display_panel", "codec_encoder"] {
        assert!(!table["family_health"][family].is_null(), "{family}");
    }
    audit(
        &ws,
        &[
            "--input",
            "features.jsonl",
            "--target",
            "mos",
            "--families",
            "ugc",
            "--skip-family",
            "saliency_roi",
        ],
    )
    .ok();
    let json = report(&ws);
    let table = &json["tables"][0];
    for left_out in ["hdr_display_panel", "codec_encoder", "saliency_roi"] {
        for list in ["missing_families", "weak_families"] {
            assert!(
                !strings(&table[list]).contains(&left_out.to_string()),
                "{left_out} in {list}"
            );
        }
        assert!(table["family_health"][left_out].is_null(), "{left_out}");
    }
    assert_eq!(
        strings(&json["skipped_families"]),
        // In the families' own order.
        ["saliency_roi", "hdr_display_panel", "codec_encoder"]
    );
    assert!(markdown(&ws).contains("Left out of this audit"));

    let run = audit(&ws, &["--input", "features.jsonl", "--skip-family", "nope"]).fails_with(2);
    assert!(
        run.stderr.contains("--skip-family nope: no such family"),
        "{}",
        run.stderr
    );
}

/// The reference's numeric flags take what its argparse `float`/`int`
/// flags take: `--redundancy-threshold 1.5` (no pair is redundant),
/// `--min-finite-ratio 1.5` (no column covers a family), a negative
/// `--complement-threshold`, and `--top-k -1` (every row but the last, as
/// Python's `rows[:-1]`).
#[test]
fn reference_numeric_flags_take_any_number() {
    let ws = Workspace::new();
    ws.write("features.jsonl", fixture(|_, _| {}));
    audit(
        &ws,
        &[
            "--input",
            "features.jsonl",
            "--redundancy-threshold",
            "1.5",
            "--complement-threshold",
            "-0.1",
        ],
    )
    .ok();
    let json = report(&ws);
    assert_eq!(json["options"]["redundancy_threshold"], 1.5);
    let table = &json["tables"][0];
    assert_eq!(table["redundant_pairs"], json!([]));
    assert_eq!(table["intersections"], json!([]));

    audit(
        &ws,
        &["--input", "features.jsonl", "--min-finite-ratio", "1.5"],
    )
    .ok();
    let table = &report(&ws)["tables"][0];
    assert_eq!(status(table, "canonical_fr"), "weak");
    assert_eq!(status(table, "structural_similarity"), "weak");

    let table_lines = |top_k: &str| {
        audit(&ws, &["--input", "features.jsonl", "--top-k", top_k]).ok();
        markdown(&ws)
            .lines()
            .filter(|l| l.starts_with("| `"))
            .count()
    };
    // The overview's one row per table stays whatever --top-k says.
    let (none, but_last, all) = (table_lines("0"), table_lines("-1"), table_lines("100"));
    assert!(none < but_last && but_last < all, "{none} {but_last} {all}");
}
