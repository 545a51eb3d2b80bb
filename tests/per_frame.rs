//! Per-frame export (join on key and frame, sampled frames, clip scores
//! broadcast to frame rows) and `--pool`, against a brute-force reference.

mod common;

use common::Workspace;
use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*), so every failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rows(ws: &Workspace, name: &str) -> Vec<Value> {
    std::fs::read_to_string(ws.path(name))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// What the brute-force reference expects for one table frame.
fn reference(
    frames: &[(i64, Option<f64>)],
    target: i64,
    mode: &str,
    gap: Option<i64>,
) -> (Value, &'static str) {
    let within = |index: i64| gap.is_none_or(|g| (target - index).abs() <= g);
    let candidate = match mode {
        "exact" => frames.iter().find(|(i, _)| *i == target),
        "previous" => frames
            .iter()
            .filter(|(i, _)| *i <= target)
            .max_by_key(|(i, _)| *i),
        // Nearest: smallest distance, the earlier frame on a tie.
        _ => frames.iter().min_by_key(|(i, _)| ((target - i).abs(), *i)),
    };
    match candidate.filter(|(i, _)| within(*i)) {
        None => (Value::Null, "missing"),
        Some((_, None)) => (Value::Null, "bad"),
        Some((_, Some(v))) => (json!(v), "ok"),
    }
}

#[test]
fn per_frame_join_matches_a_brute_force_reference_in_every_mode() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed * 0x9E37_79B9);
        let ws = Workspace::new();
        let clips = 1 + rng.below(4) as usize;
        let mut stored: Vec<Vec<(i64, Option<f64>)>> = Vec::new();
        let mut payloads = String::new();
        let mut scalars = String::new();
        for clip in 0..clips {
            let step = 1 + rng.below(12) as i64;
            let start = rng.below(5) as i64;
            let mut frames = Vec::new();
            let mut index = start;
            while index < 60 {
                let value = (rng.below(10) != 0).then(|| rng.below(10_000) as f64 / 100.0);
                frames.push((index, value));
                index += step;
            }
            let frame_json: Vec<Value> = frames
                .iter()
                .map(|(i, v)| json!({"frame_idx": i, "score": v}))
                .collect();
            payloads.push_str(&format!(
                "{}\n",
                json!({"name": format!("clip{clip}.mp4"), "competitor": "sampled", "frames": frame_json})
            ));
            scalars.push_str(&format!(
                "{}\n",
                json!({"name": format!("clip{clip}.mp4"), "competitor": "clipwise", "score": clip as f64 + 0.5})
            ));
            stored.push(frames);
        }
        ws.write("sampled.jsonl", payloads);
        ws.write("clipwise.jsonl", scalars);
        ws.run(&["ingest", "sampled.jsonl", "clipwise.jsonl"]).ok();

        // One clip more than was scored: its rows are missing for both.
        let mut table = String::new();
        let mut targets = Vec::new();
        for _ in 0..40 {
            let clip = rng.below(clips as u64 + 1) as usize;
            let frame = rng.below(70) as i64;
            table.push_str(&format!(
                "{}\n",
                json!({"file_name": format!("clip{clip}.mp4"), "frame_idx": frame})
            ));
            targets.push((clip, frame));
        }
        ws.write("features.jsonl", table);

        for (mode, gap) in [
            ("exact", None),
            ("nearest", None),
            ("previous", None),
            ("nearest", Some(2)),
            ("previous", Some(3)),
        ] {
            let mut args = vec![
                "export",
                "--features",
                "features.jsonl",
                "--out",
                "out.jsonl",
                "--frame-match",
                mode,
            ];
            let gap_text = gap.map(|g: i64| g.to_string());
            if let Some(gap_text) = &gap_text {
                args.extend(["--max-frame-gap", gap_text.as_str()]);
            }
            ws.run(&args).ok();
            let out = rows(&ws, "out.jsonl");
            for ((clip, frame), row) in targets.iter().zip(&out) {
                let context = format!("seed {seed}, {mode} gap {gap:?}, clip{clip} frame {frame}");
                let (score, status) = match stored.get(*clip) {
                    Some(frames) => reference(frames, *frame, mode, gap),
                    None => (Value::Null, "missing"),
                };
                assert_eq!(row["second_opinion_sampled_score"], score, "{context}");
                assert_eq!(
                    row["second_opinion_sampled_status"],
                    json!(status),
                    "{context}"
                );
                // The clip-level scorer is broadcast to every frame row of its clip.
                let (clip_score, clip_status) = if *clip < clips {
                    (json!(*clip as f64 + 0.5), "ok")
                } else {
                    (Value::Null, "missing")
                };
                assert_eq!(
                    row["second_opinion_clipwise_score"], clip_score,
                    "{context}"
                );
                assert_eq!(
                    row["second_opinion_clipwise_status"],
                    json!(clip_status),
                    "{context}"
                );
                assert_eq!(row["second_opinion_clipwise_frames"], json!(0), "{context}");
            }
        }
    }
}

#[test]
fn pooling_matches_known_values_and_libvmafs_harmonic_mean() {
    let ws = Workspace::new();
    ws.write(
        "frames.jsonl",
        "{\"name\": \"a.mp4\", \"competitor\": \"m\", \"frames\": [{\"score\": 1.0}, {\"score\": 2.0}, {\"score\": null}, {\"score\": 3.0}, {\"score\": 4.0}, {\"score\": 10.0}]}\n\
         {\"name\": \"b.mp4\", \"competitor\": \"m\", \"frames\": [{\"score\": null}]}\n\
         {\"name\": \"c.mp4\", \"competitor\": \"m\", \"score\": 7.0}\n",
    );
    ws.write(
        "features.jsonl",
        "{\"file_name\": \"a.mp4\"}\n{\"file_name\": \"b.mp4\"}\n{\"file_name\": \"c.mp4\"}\n",
    );
    ws.run(&["ingest", "frames.jsonl"]).ok();
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "out.jsonl",
        "--pool",
        "mean,harmonic_mean,min,max,median,p05,p10,p90,std",
    ])
    .ok();
    let out = rows(&ws, "out.jsonl");
    let a = &out[0];
    let close = |column: &str, expected: f64| {
        let got = a[column]
            .as_f64()
            .unwrap_or_else(|| panic!("{column} is {}", a[column]));
        assert!(
            (got - expected).abs() < 1e-9,
            "{column}: {got} vs {expected}"
        );
    };
    // The unusable frame is left out: pooled over 1, 2, 3, 4, 10.
    close("second_opinion_m_score", 4.0);
    close("second_opinion_m_score_mean", 4.0);
    close("second_opinion_m_score_min", 1.0);
    close("second_opinion_m_score_max", 10.0);
    close("second_opinion_m_score_median", 3.0);
    close("second_opinion_m_score_p05", 1.2);
    close("second_opinion_m_score_p10", 1.4);
    close("second_opinion_m_score_p90", 7.6);
    close("second_opinion_m_score_std", 3.1622776601683795);
    close(
        "second_opinion_m_score_harmonic_mean",
        5.0 / (0.5 + 1.0 / 3.0 + 0.25 + 0.2 + 1.0 / 11.0) - 1.0,
    );
    // A clip whose frames are all unusable is bad, and pools to nothing.
    assert_eq!(out[1]["second_opinion_m_status"], json!("bad"));
    assert_eq!(out[1]["second_opinion_m_score_mean"], Value::Null);
    // A scalar score has no frames to pool.
    assert_eq!(out[2]["second_opinion_m_score"], json!(7.0));
    assert_eq!(out[2]["second_opinion_m_score_max"], Value::Null);

    // libvmaf's own pooled harmonic mean, from a log written by its pooling code.
    let log = ws.write(
        "bbb_crf28.json",
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/libvmaf-json/bbb_crf28.json"
        ))
        .unwrap(),
    );
    let document: Value = serde_json::from_slice(&std::fs::read(&log).unwrap()).unwrap();
    let pooled = &document["pooled_metrics"]["vmaf"];
    ws.run(&["ingest", "bbb_crf28.json"]).ok();
    ws.write("clips.jsonl", "{\"clip_id\": \"bbb_crf28\"}\n");
    ws.run(&[
        "export",
        "--features",
        "clips.jsonl",
        "--out",
        "vmaf.jsonl",
        "--scorers",
        "vmaf",
        "--pool",
        "harmonic_mean,min,max",
    ])
    .ok();
    let vmaf = &rows(&ws, "vmaf.jsonl")[0];
    for (column, key) in [
        ("harmonic_mean", "harmonic_mean"),
        ("min", "min"),
        ("max", "max"),
    ] {
        let ours = vmaf[format!("second_opinion_vmaf_score_{column}")]
            .as_f64()
            .unwrap();
        let libvmaf = pooled[key].as_f64().unwrap();
        // libvmaf pools full-precision values and prints %.6f.
        assert!(
            (ours - libvmaf).abs() < 1e-5,
            "{column}: {ours} vs libvmaf {libvmaf}"
        );
    }
}

#[test]
fn frame_base_and_named_frame_columns() {
    let ws = Workspace::new();
    ws.write(
        "frames.jsonl",
        "{\"name\": \"a.mp4\", \"competitor\": \"m\", \"frames\": [{\"frame_idx\": 0, \"score\": 10.0}, {\"frame_idx\": 1, \"score\": 11.0}]}\n",
    );
    ws.run(&["ingest", "frames.jsonl"]).ok();
    // ffmpeg-quality-metrics numbers frames from 1 in a column `n`.
    ws.write(
        "ffqm.jsonl",
        "{\"file_name\": \"a.mp4\", \"n\": 1}\n{\"file_name\": \"a.mp4\", \"n\": 2}\n",
    );
    ws.run(&[
        "export",
        "--features",
        "ffqm.jsonl",
        "--out",
        "o.jsonl",
        "--frame-column",
        "n",
    ])
    .ok();
    let out = rows(&ws, "o.jsonl");
    assert_eq!(
        (
            out[0]["second_opinion_m_score"].clone(),
            out[1]["second_opinion_m_score"].clone()
        ),
        (json!(10.0), json!(11.0))
    );
    // Without --frame-column, `n` is just a column: the clip mean everywhere.
    ws.run(&["export", "--features", "ffqm.jsonl", "--out", "c.jsonl"])
        .ok();
    assert_eq!(
        rows(&ws, "c.jsonl")[1]["second_opinion_m_score"],
        json!(10.5)
    );
    // --frame-base overrides the column's default.
    ws.write("one.jsonl", "{\"file_name\": \"a.mp4\", \"frame\": 1}\n");
    ws.run(&[
        "export",
        "--features",
        "one.jsonl",
        "--out",
        "b.jsonl",
        "--frame-base",
        "1",
    ])
    .ok();
    assert_eq!(
        rows(&ws, "b.jsonl")[0]["second_opinion_m_score"],
        json!(10.0)
    );
    ws.run(&["export", "--features", "one.jsonl", "--out", "z.jsonl"])
        .ok();
    assert_eq!(
        rows(&ws, "z.jsonl")[0]["second_opinion_m_score"],
        json!(11.0)
    );
}

#[test]
fn frame_pattern_turns_extracted_frame_scores_into_clip_frames() {
    let ws = Workspace::new();
    // pyiqa on frames extracted by `ffmpeg -i clip.mp4 clip_%06d.png` (1-based).
    ws.write(
        "musiq.jsonl",
        "{\"image\": \"frames/clip_b_000001.png\", \"score\": 40.0}\n\
         {\"image\": \"frames/clip_a_000002.png\", \"score\": 62.0}\n\
         {\"image\": \"frames/clip_a_000001.png\", \"score\": 60.0}\n\
         {\"image\": \"frames/clip_a_000003.png\", \"score\": \"nan\"}\n",
    );
    let pattern = r"(?:.*/)?(?P<key>.+)_(?P<frame>\d+)\.png";
    ws.run(&[
        "ingest",
        "musiq=musiq.jsonl",
        "--frame-pattern",
        pattern,
        "--frame-base",
        "1",
    ])
    .ok();
    let conn = ws.sqlite();
    let frames: Vec<(String, i64, Option<f64>)> = conn
        .prepare(
            "SELECT s.key, f.frame_index, f.value FROM frame_scores f \
             JOIN scores s ON s.id = f.score_id ORDER BY s.key, f.frame_index",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<(String, i64, Option<f64>)> = vec![
        ("clip_a".into(), 0, Some(60.0)),
        ("clip_a".into(), 1, Some(62.0)),
        ("clip_a".into(), 2, None),
        ("clip_b".into(), 0, Some(40.0)),
    ];
    assert_eq!(frames, expected);
    let clips: Vec<(String, f64, i64, i64)> = conn
        .prepare("SELECT key, score, frame_count, line FROM scores ORDER BY key")
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        clips,
        vec![
            ("clip_a".to_string(), 61.0, 2, 2),
            ("clip_b".to_string(), 40.0, 1, 1)
        ]
    );

    ws.write(
        "table.jsonl",
        "{\"video_id\": \"clip_a\", \"frame\": 1}\n{\"video_id\": \"clip_a\", \"frame\": 2}\n",
    );
    ws.run(&["export", "--features", "table.jsonl", "--out", "out.jsonl"])
        .ok();
    let out = rows(&ws, "out.jsonl");
    assert_eq!(out[0]["second_opinion_musiq_score"], json!(62.0));
    assert_eq!(out[1]["second_opinion_musiq_status"], json!("bad"));
}

#[test]
fn repeated_frames_are_refused_with_both_lines() {
    let ws = Workspace::new();
    ws.write(
        "musiq.jsonl",
        "{\"image\": \"a_7.png\", \"score\": 1.0}\n{\"image\": \"b_7.png\", \"score\": 1.0}\n{\"image\": \"a_07.png\", \"score\": 2.0}\n",
    );
    let run = ws
        .run(&[
            "ingest",
            "musiq=musiq.jsonl",
            "--frame-pattern",
            r"(?P<key>.+)_(?P<frame>\d+)\.png",
        ])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("musiq.jsonl:3: clip 'a' frame 7 appears twice: lines 1 and 3"),
        "{}",
        run.stderr
    );
    assert!(ws
        .registry_snapshot()
        .iter()
        .all(|row| !row.starts_with("scores:")));
    let bad = ws
        .run(&[
            "ingest",
            "musiq.jsonl",
            "--frame-pattern",
            r"(?P<key>.+)\.png",
        ])
        .fails_with(2);
    assert!(
        bad.stderr.contains("named group (?P<frame>"),
        "{}",
        bad.stderr
    );
    let unmatched = ws
        .run(&[
            "ingest",
            "musiq=musiq.jsonl",
            "--frame-pattern",
            r"(?P<key>x+)_(?P<frame>\d+)\.jpg",
        ])
        .fails_with(1);
    assert!(
        unmatched
            .stderr
            .contains("musiq.jsonl:1: key 'a_7.png' does not match --frame-pattern"),
        "{}",
        unmatched.stderr
    );
}

#[test]
fn ffmpeg_quality_metrics_n_is_one_based_at_ingest() {
    let ws = Workspace::new();
    ws.write(
        "ffqm.json",
        "{\"name\": \"a.mp4\", \"competitor\": \"vmaf-ffqm\", \"frames\": [{\"n\": 1, \"vmaf\": 90.0}, {\"n\": 2, \"vmaf\": 80.0}]}",
    );
    ws.run(&["ingest", "ffqm.json"]).ok();
    assert_eq!(
        ws.dump("SELECT frame_index, value FROM frame_scores ORDER BY frame_index"),
        ["Integer(0)|Real(90.0)", "Integer(1)|Real(80.0)"]
    );
    ws.write("zero.json", "{\"name\": \"z.mp4\", \"competitor\": \"vmaf-ffqm\", \"frames\": [{\"n\": 0, \"vmaf\": 90.0}]}");
    let run = ws.run(&["ingest", "zero.json"]).fails_with(1);
    assert!(
        run.stderr
            .contains("frames[0].n must be an integer from 1, got 0"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_clip_the_scorer_failed_is_bad_in_every_frame() {
    let ws = Workspace::new();
    ws.write(
        "failed.jsonl",
        "{\"name\": \"a.mp4\", \"competitor\": \"m\", \"status\": \"failed\", \"frames\": [{\"frame_idx\": 0, \"score\": 70.0}, {\"frame_idx\": 1, \"score\": 74.0}]}\n",
    );
    ws.run(&["ingest", "failed.jsonl"]).ok();
    ws.write(
        "table.jsonl",
        "{\"file_name\": \"a.mp4\", \"frame\": 0}\n{\"file_name\": \"a.mp4\", \"frame\": 1}\n",
    );
    ws.run(&["export", "--features", "table.jsonl", "--out", "out.jsonl"])
        .ok();
    let out = rows(&ws, "out.jsonl");
    assert_eq!(out[0]["second_opinion_m_status"], json!("bad"));
    assert_eq!(out[1]["second_opinion_m_status"], json!("bad"));
    let refused = ws
        .run(&[
            "export",
            "--features",
            "table.jsonl",
            "--out",
            "f.jsonl",
            "--bad-policy",
            "fail",
        ])
        .fails_with(1);
    assert!(
        refused.stderr.contains("bad second-opinion scores: m=2"),
        "{}",
        refused.stderr
    );
    assert!(!ws.path("f.jsonl").exists());
}

/// W2's shape at a size `materialize` reads in two halves on two threads
/// (`ingest::halves`, from 16 MiB with a core to spare): the halves must
/// give what one pass gives (`materialize --registry` ingests in one), and
/// an error in either half must name the file's own line.
#[test]
fn a_large_payload_file_materializes_as_one_pass_reads_it() {
    let ws = Workspace::new();
    let clips = 1_200;
    let mut rng = Rng(0x5EED);
    let mut scores = String::new();
    let mut table = String::new();
    for clip in 0..clips {
        let frames: Vec<String> = (0..300)
            .map(|f| {
                let value = rng.below(100_000) as f64 / 1000.0;
                format!("{{\"frame_idx\": {f}, \"predicted_vmaf_or_mos\": {value}, \"runtime_ms\": 1.25}}")
            })
            .collect();
        scores.push_str(&format!(
            "{{\"name\": \"clip_{clip:05}.mp4\", \"frames\": [{}], \"summary\": {{\"competitor\": \"fork-nr\"}}}}\n",
            frames.join(", ")
        ));
        if clip % 97 == 0 {
            scores.push('\n');
        }
        table.push_str(&format!(
            "{{\"src\": \"/corpus/clip_{clip:05}.mp4\", \"f\": {clip}}}\n"
        ));
    }
    assert!(scores.len() > 17 << 20, "{} bytes", scores.len());
    ws.write("scores.jsonl", &scores);
    ws.write("features.jsonl", &table);
    let materialize = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "scores.jsonl",
            "--key-column",
            "src",
            "--key-normalize",
            "basename",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        ws.run_bare(&args)
    };
    materialize("halves.jsonl", &["--audit-json", "halves.json"]).ok();
    let registry = ws.path("one-pass.db");
    materialize("one-pass.jsonl", &["--registry", common::arg(&registry)]).ok();
    let halves = rows(&ws, "halves.jsonl");
    assert_eq!(halves.len(), clips);
    assert_eq!(halves, rows(&ws, "one-pass.jsonl"));
    assert_eq!(halves[7]["second_opinion_fork_nr_status"], json!("ok"));
    let audit: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("halves.json")).unwrap()).unwrap();
    assert!(
        audit
            .to_string()
            .contains(&common::sha256_hex(&ws.path("scores.jsonl"))),
        "the audit records the file's sha256: {audit}"
    );

    // Break one row in the second half, then one in each half.
    let lines: Vec<&str> = scores.split_inclusive('\n').collect();
    let broken = |at: &[usize]| -> String {
        lines
            .iter()
            .enumerate()
            .map(|(n, line)| {
                if at.contains(&n) {
                    "{\"name\": \"clip_x.mp4\", \"frames\": [}\n"
                } else {
                    line
                }
            })
            .collect()
    };
    let late = lines.len() - 5;
    for at in [vec![late], vec![40, late]] {
        ws.write("scores.jsonl", broken(&at));
        let failed = materialize("broken.jsonl", &[]).fails_with(1);
        let expected = format!("scores.jsonl:{}: invalid JSON", at[0] + 1);
        assert!(
            failed.stderr.contains(&expected),
            "{expected}: {}",
            failed.stderr
        );
        assert!(!ws.path("broken.jsonl").exists());
    }
}
