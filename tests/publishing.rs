//! Failure means nothing changed (issue 13, items 3–5 and 10): every
//! output of a command is written to a temporary and put in place only
//! after everything that can fail did not; an export is recorded before its
//! output is in place and confirmed after, so a crash leaves both or a
//! record that says it is pending; stale temporaries of killed runs are
//! swept; a registry is created whole or not at all; a full disk is named.

mod common;

use std::path::Path;
use std::process::Command;

use common::disks::{SmallDisk, Unwritable};
use common::{Run, Workspace};

fn scored(ws: &Workspace) {
    ws.write(
        "features.jsonl",
        "{\"video_id\": \"a\", \"vmaf\": 90.0}\n{\"video_id\": \"b\", \"vmaf\": 80.0}\n",
    );
    ws.write(
        "s.jsonl",
        "{\"video_id\": \"a\", \"competitor\": \"musiq\", \"score\": 41.5}\n\
         {\"video_id\": \"b\", \"competitor\": \"musiq\", \"score\": 52.0}\n",
    );
    ws.run(&["ingest", "s.jsonl"]).ok();
}

fn export_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["export", "--features", "features.jsonl", "--out", out];
    args.extend_from_slice(extra);
    args
}

fn exports(ws: &Workspace) -> Vec<(i64, String)> {
    let conn = ws.sqlite();
    let mut stmt = conn
        .prepare("SELECT id, state FROM exports ORDER BY id")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn states(pairs: &[(i64, &str)]) -> Vec<(i64, String)> {
    pairs.iter().map(|(id, s)| (*id, s.to_string())).collect()
}

/// A file's text, or a short description of a large one (assertion
/// messages stay readable).
fn text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    if text.len() > 200 {
        format!("{} bytes starting {:?}", text.len(), &text[..80])
    } else {
        text
    }
}

fn temporaries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".second-opinion-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_report_that_names_a_folder_fails_before_the_table_is_replaced() {
    let ws = Workspace::new();
    scored(&ws);
    ws.write("o.jsonl", "old table\n");
    std::fs::create_dir(ws.path("reports")).unwrap();
    let run = ws
        .run(&export_args("o.jsonl", &["--report-json", "reports/"]))
        .fails_with(1);
    assert!(
        run.stderr.contains("reports/: cannot write report"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("names a folder"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path("o.jsonl")).unwrap(),
        "old table\n"
    );
    assert!(exports(&ws).is_empty());
    assert!(temporaries(ws.dir.path()).is_empty());

    // materialize --audit-json and ingest --report-json alike.
    let run = ws
        .run(&[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "s.jsonl",
            "--out",
            "o.jsonl",
            "--audit-json",
            "reports/",
        ])
        .fails_with(1);
    assert!(
        run.stderr.contains("reports/: cannot write the audit JSON"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("o.jsonl")).unwrap(),
        "old table\n"
    );

    ws.write(
        "t.jsonl",
        "{\"video_id\": \"a\", \"competitor\": \"dover\", \"score\": 50.0}\n",
    );
    let before = ws.registry_snapshot();
    let run = ws
        .run(&["ingest", "t.jsonl", "--report-json", "reports/"])
        .fails_with(1);
    assert!(
        run.stderr.contains("nothing was ingested"),
        "{}",
        run.stderr
    );
    assert_eq!(
        ws.registry_snapshot(),
        before,
        "t.jsonl must not be ingested"
    );
}

#[test]
fn an_audit_whose_html_fails_replaces_neither_json_nor_markdown() {
    let ws = Workspace::new();
    ws.write(
        "t.csv",
        "video_id,vmaf,psnr,second_opinion_dover_score\na,90,40,70\nb,80,38,60\nc,70,35,55\nd,60,30,40\n",
    );
    ws.write("a.json", "old json\n");
    ws.write("a.md", "old markdown\n");
    std::fs::create_dir(ws.path("page.html")).unwrap();
    let run = ws
        .run(&[
            "audit",
            "--input",
            "t.csv",
            "--out-json",
            "a.json",
            "--out-md",
            "a.md",
            "--out-html",
            "page.html",
        ])
        .fails_with(1);
    assert!(run.stderr.contains("page.html"), "{}", run.stderr);
    assert_eq!(text(&ws.path("a.json")), "old json\n");
    assert_eq!(text(&ws.path("a.md")), "old markdown\n");
    assert!(temporaries(ws.dir.path()).is_empty());
}

#[test]
fn a_full_disk_under_the_report_replaces_nothing() {
    let Some(disk) = SmallDisk::mount(256, "a_full_disk_under_the_report_replaces_nothing") else {
        return;
    };
    let ws = Workspace::new();
    scored(&ws);
    ws.write("o.jsonl", "old table\n");
    disk.fill_leaving(0);
    let report = disk.path("r.json");
    let run = ws
        .run(&export_args(
            "o.jsonl",
            &["--report-json", common::arg(&report)],
        ))
        .fails_with(1);
    assert!(
        run.stderr.contains("r.json: cannot write report"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(".second-opinion-"),
        "no temporary's name: {}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("o.jsonl")).unwrap(),
        "old table\n"
    );
    assert!(!report.exists());
    assert!(exports(&ws).is_empty());
}

#[test]
fn an_export_the_registry_cannot_record_replaces_nothing() {
    let ws = Workspace::new();
    scored(&ws);
    ws.write("o.jsonl", "old table\n");
    let Some(_locked) = Unwritable::make(
        &ws.registry(),
        "an_export_the_registry_cannot_record_replaces_nothing",
    ) else {
        return;
    };
    let run = ws.run(&export_args("o.jsonl", &[])).fails_with(1);
    assert!(run.stderr.contains("registry"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path("o.jsonl")).unwrap(),
        "old table\n"
    );
    assert!(temporaries(ws.dir.path()).is_empty());
}

/// Run an export that crashes (aborts) at `point`.
fn crash_at(ws: &Workspace, point: &str, out: &str) {
    let output = ws
        .command()
        .env("SECOND_OPINION_CRASH_AT", point)
        .args(export_args(out, &[]))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        None,
        "the export must be stopped at {point}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_crash_before_the_output_is_in_place_leaves_a_record_that_gets_abandoned() {
    let ws = Workspace::new();
    scored(&ws);
    ws.write("o.jsonl", "old table\n");
    crash_at(&ws, "export-recorded", "o.jsonl");
    assert_eq!(
        std::fs::read_to_string(ws.path("o.jsonl")).unwrap(),
        "old table\n"
    );
    assert_eq!(exports(&ws), states(&[(1, "pending")]));
    let killed_temporaries = temporaries(ws.dir.path());
    assert_eq!(killed_temporaries.len(), 1, "{killed_temporaries:?}");
    let listed = ws.run(&["exports"]).ok();
    assert!(
        listed.stdout.contains("o.jsonl (pending)"),
        "{}",
        listed.stdout
    );

    // The next export into the folder settles the record and sweeps the
    // killed run's temporary.
    let run = ws.run(&export_args("p.jsonl", &[])).ok();
    assert!(
        run.stderr
            .contains("export 1 (o.jsonl) was recorded by a run that stopped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&killed_temporaries[0]),
        "{}",
        run.stderr
    );
    assert_eq!(exports(&ws), states(&[(1, "abandoned"), (2, "published")]));
    assert!(temporaries(ws.dir.path()).is_empty());
    let shown = ws.run(&["exports", "show", "1"]).ok();
    assert!(shown.stdout.contains("abandoned"), "{}", shown.stdout);
}

#[test]
fn a_crash_after_the_output_is_in_place_leaves_a_record_that_gets_confirmed() {
    let ws = Workspace::new();
    scored(&ws);
    crash_at(&ws, "export-published", "o.jsonl");
    let written = std::fs::read_to_string(ws.path("o.jsonl")).unwrap();
    assert!(written.contains("second_opinion_musiq_score"), "{written}");
    assert_eq!(exports(&ws), states(&[(1, "pending")]));
    let recorded: String = ws
        .sqlite()
        .query_row(
            "SELECT output_sha256 FROM exports WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(recorded, common::sha256_hex(&ws.path("o.jsonl")));

    let run = ws.run(&export_args("p.jsonl", &[])).ok();
    assert!(
        run.stderr
            .contains("export 1 (o.jsonl) was left unconfirmed"),
        "{}",
        run.stderr
    );
    assert_eq!(exports(&ws), states(&[(1, "published"), (2, "published")]));
}

#[test]
fn materialize_with_a_registry_records_before_it_publishes() {
    let ws = Workspace::new();
    scored(&ws);
    ws.write("o.jsonl", "old table\n");
    let output = ws
        .bare()
        .env("SECOND_OPINION_CRASH_AT", "export-recorded")
        .args([
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "s.jsonl",
            "--out",
            "o.jsonl",
            "--registry",
            "kept.db",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), None);
    assert_eq!(
        std::fs::read_to_string(ws.path("o.jsonl")).unwrap(),
        "old table\n"
    );
    let kept = rusqlite::Connection::open(ws.path("kept.db")).unwrap();
    let state: String = kept
        .query_row("SELECT state FROM exports", [], |row| row.get(0))
        .unwrap();
    assert_eq!(state, "pending");
}

#[test]
fn only_the_temporaries_of_gone_runs_are_swept() {
    let ws = Workspace::new();
    scored(&ws);
    let host = second_opinion::writer_process::host_name();
    let mut finished = Command::new("true").spawn().unwrap();
    let gone_pid = finished.id();
    finished.wait().unwrap();
    let gone = format!(".second-opinion-{gone_pid}@{host}.aB3dE9.partial");
    let live = format!(
        ".second-opinion-{}@{host}.xY7wQ2.partial",
        std::process::id()
    );
    let elsewhere = ".second-opinion-4242@another-machine.k8Jh2L.partial";
    let old_style_fresh = ".second-opinion-Zq81Lp.partial";
    let old_style_stale = ".second-opinion-Rt55Vb.partial";
    let users = ".second-opinion-notes.txt";
    for name in [
        &gone,
        &live,
        elsewhere,
        old_style_fresh,
        old_style_stale,
        users,
    ] {
        ws.write(name, "x");
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(ws.path(old_style_stale))
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let run = ws.run(&export_args("o.jsonl", &[])).ok();
    assert!(
        run.stderr
            .contains("removed 2 temporary files left by killed runs"),
        "{}",
        run.stderr
    );
    let mut kept = vec![
        live.clone(),
        elsewhere.to_string(),
        old_style_fresh.to_string(),
        users.to_string(),
    ];
    kept.sort();
    assert_eq!(temporaries(ws.dir.path()), kept);
}

#[test]
fn missing_output_folders_are_created_and_removed_again_on_failure() {
    let ws = Workspace::new();
    scored(&ws);
    ws.run(&export_args(
        "new/tables/o.parquet",
        &["--report-json", "new/reports/r.json"],
    ))
    .ok();
    assert!(ws.path("new/tables/o.parquet").is_file());
    assert!(ws.path("new/reports/r.json").is_file());
    ws.run(&[
        "materialize",
        "--features",
        "features.jsonl",
        "--scores",
        "s.jsonl",
        "--out",
        "m/o.jsonl",
        "--audit-json",
        "m/audit/a.json",
    ])
    .ok();
    assert!(ws.path("m/audit/a.json").is_file());

    // A failed export leaves no folder it made.
    ws.write("features2.jsonl", "{\"video_id\": \"zz\"}\n");
    ws.run(&[
        "export",
        "--features",
        "features2.jsonl",
        "--out",
        "made/for/nothing.jsonl",
        "--missing-policy",
        "fail",
    ])
    .fails_with(1);
    assert!(!ws.path("made").exists());

    // An output under a file: the cause, and no temporary's name.
    ws.write("plain.txt", "x");
    let run = ws.run(&export_args("plain.txt/o.jsonl", &[])).fails_with(1);
    assert!(run.stderr.contains("plain.txt/o.jsonl"), "{}", run.stderr);
    assert!(!run.stderr.contains(".second-opinion-"), "{}", run.stderr);
}

#[test]
fn a_first_ingest_on_a_full_disk_leaves_no_registry() {
    let Some(disk) = SmallDisk::mount(1024, "a_first_ingest_on_a_full_disk_leaves_no_registry")
    else {
        return;
    };
    let ws = Workspace::new();
    scored(&ws);
    let registry = disk.path("r.db");
    let run = Run::from(
        ws.bare()
            .arg("--registry")
            .arg(&registry)
            .args(["ingest", "s.jsonl"])
            .output()
            .unwrap(),
    )
    .fails_with(1);
    assert!(run.stderr.contains("r.db"), "{}", run.stderr);
    assert!(!registry.exists(), "no empty or half-made registry");
    let left: Vec<_> = std::fs::read_dir(disk.path(""))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_full_disk_under_the_registry_is_named() {
    let Some(disk) = SmallDisk::mount(4096, "a_full_disk_under_the_registry_is_named") else {
        return;
    };
    let ws = Workspace::new();
    scored(&ws);
    let registry = disk.path("r.db");
    let ingest = |file: &str| {
        Run::from(
            ws.bare()
                .arg("--registry")
                .arg(&registry)
                .args(["ingest", file])
                .output()
                .unwrap(),
        )
    };
    ingest("s.jsonl").ok();
    let rows: String = (0..20_000)
        .map(|i| {
            format!(
                "{{\"video_id\": \"clip_{i:06}\", \"competitor\": \"dover\", \"score\": {i}.5}}\n"
            )
        })
        .collect();
    ws.write("big.jsonl", rows);
    disk.fill_leaving(0);
    let run = ingest("big.jsonl").fails_with(1);
    assert!(run.stderr.contains("r.db"), "{}", run.stderr);
    assert!(run.stderr.contains("is full"), "{}", run.stderr);
    std::fs::remove_file(disk.path("ballast")).unwrap();
    let conn = rusqlite::Connection::open(&registry).unwrap();
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM scores", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 2, "the failed file left no row");
}
