//! The registry under stress: several `ingest` processes at once, and an
//! ingest killed with SIGKILL half-way through a large file.

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Workspace;

/// Write `rows` score rows keyed `<prefix>_<n>`; with `frames`, each row is a
/// two-frame wrapper payload instead of a scalar row.
fn write_score_file(path: &Path, prefix: &str, rows: usize, frames: bool) {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).expect("create score file"));
    for n in 0..rows {
        let score = (n % 1000) as f64 / 10.0;
        if frames {
            writeln!(
                out,
                r#"{{"name": "/corpus/{prefix}_{n:07}.yuv", "frames": [{{"frame_idx": 0, "predicted_vmaf_or_mos": {score}, "runtime_ms": 1.5}}, {{"frame_idx": 1, "predicted_vmaf_or_mos": {}, "runtime_ms": 2.0}}], "summary": {{"runtime_total_ms": 3.5}}}}"#,
                score + 1.0
            )
        } else {
            writeln!(
                out,
                r#"{{"clip_id": "{prefix}_{n:07}", "score": {score}, "runtime_ms": 3.0}}"#
            )
        }
        .expect("write row");
    }
    out.flush().expect("flush score file");
}

fn integrity_check(ws: &Workspace) -> String {
    ws.sqlite()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check")
}

/// Rows per scorer name: (name, all rows, distinct keys), ordered by name.
fn rows_per_scorer(ws: &Workspace) -> Vec<(String, i64, i64)> {
    let conn = ws.sqlite();
    let mut stmt = conn
        .prepare(
            "SELECT sc.name, COUNT(*), COUNT(DISTINCT s.key) FROM scores s \
             JOIN scorers sc ON sc.id = s.scorer_id \
             WHERE s.superseded_at IS NULL GROUP BY sc.name ORDER BY sc.name",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn count(ws: &Workspace, sql: &str) -> i64 {
    ws.sqlite()
        .query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Eight ingests started together on a registry that does not exist yet:
/// four scorers of their own, and four files of one shared scorer with
/// distinct keys. Every process succeeds and every row is there.
#[test]
fn eight_concurrent_ingests_lose_nothing() {
    const ROWS: usize = 20_000;
    let ws = Workspace::new();
    let mut sources = Vec::new();
    for i in 0..8 {
        let name = format!("run{i}.jsonl");
        // Files 0-3: scorers own0..own3, same keys; one of them per-frame.
        // Files 4-7: scorer `shared`, keys of their own.
        let (label, prefix) = if i < 4 {
            (format!("own{i}"), "clip".to_string())
        } else {
            ("shared".to_string(), format!("clip{i}"))
        };
        write_score_file(&ws.path(&name), &prefix, ROWS, i == 0);
        sources.push(format!("{label}={name}"));
    }
    assert!(!ws.registry().exists());

    let started = Instant::now();
    let children: Vec<Child> = sources
        .iter()
        .map(|source| {
            ws.command()
                .args(["ingest", source])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn ingest")
        })
        .collect();
    for (source, child) in sources.iter().zip(children) {
        let output = child.wait_with_output().expect("wait for ingest");
        assert!(
            output.status.success(),
            "{source}: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    eprintln!(
        "8 concurrent ingests of {ROWS} rows took {:?}",
        started.elapsed()
    );

    let n = ROWS as i64;
    assert_eq!(
        rows_per_scorer(&ws),
        vec![
            ("own0".to_string(), n, n),
            ("own1".to_string(), n, n),
            ("own2".to_string(), n, n),
            ("own3".to_string(), n, n),
            ("shared".to_string(), 4 * n, 4 * n),
        ]
    );
    assert_eq!(count(&ws, "SELECT COUNT(*) FROM source_files"), 8);
    assert_eq!(count(&ws, "SELECT COUNT(*) FROM frame_scores"), 2 * n);
    assert_eq!(
        count(&ws, "SELECT COUNT(DISTINCT source_file_id) FROM scores"),
        8
    );
    assert_eq!(integrity_check(&ws), "ok");
}

/// SIGKILL in the middle of a large file's transaction: the registry passes
/// `integrity_check`, holds nothing of that file, keeps what it had, and
/// takes the same file cleanly afterwards.
#[test]
fn kill_9_during_a_large_ingest_leaves_no_trace() {
    // Uncommitted pages reach the WAL only once they overflow the 64 MiB
    // page cache (about 700 000 rows); 2 M rows keep the transaction
    // spilling for seconds after that, so the kill lands well inside it.
    const BIG_ROWS: usize = 2_000_000;
    let ws = Workspace::new();
    ws.write(
        "small.jsonl",
        "{\"clip_id\": \"a\", \"score\": 1.5}\n{\"clip_id\": \"b\", \"score\": 2.5}\n\
         {\"name\": \"c.yuv\", \"frames\": [{\"score\": 3}, {\"score\": 5}]}\n",
    );
    ws.run(&["ingest", "small=small.jsonl"]).ok();
    let big = ws.path("big.jsonl");
    write_score_file(&big, "big", BIG_ROWS, false);
    let before = ws.registry_snapshot();

    let wal = ws.path("registry.db-wal");
    let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let wal_at_start = wal_size();
    let mut child = ws
        .command()
        .args(["ingest", "big=big.jsonl"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ingest");
    let started = Instant::now();

    // Mid-transaction: the page cache has spilled into the WAL (at least
    // 4 MiB of uncommitted pages) and the WAL is still growing.
    let mut last = wal_size();
    let mut grew_at = None;
    while started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(status) = child.try_wait().expect("poll ingest") {
            panic!(
                "the ingest finished ({status}) after {:?}, before it could be killed; \
                 make the big file larger",
                started.elapsed()
            );
        }
        let now = wal_size();
        if now > wal_at_start + (4 << 20) && now > last {
            grew_at = Some(now);
            break;
        }
        last = now;
    }
    let wal_when_killed = grew_at.expect("the WAL never grew: the ingest is not writing");
    assert!(
        child.try_wait().expect("poll ingest").is_none(),
        "the ingest must still be running when it is killed"
    );
    child.kill().expect("SIGKILL the ingest");
    let status = child.wait().expect("reap the ingest");
    eprintln!(
        "killed after {:?} with a {} KiB WAL: {status:?}",
        started.elapsed(),
        wal_when_killed >> 10
    );
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    }

    assert_eq!(integrity_check(&ws), "ok");
    assert_eq!(
        count(
            &ws,
            "SELECT COUNT(*) FROM source_files WHERE path = 'big.jsonl'"
        ),
        0
    );
    assert_eq!(
        count(&ws, "SELECT COUNT(*) FROM scores WHERE key LIKE 'big_%'"),
        0
    );
    assert_eq!(
        ws.registry_snapshot(),
        before,
        "the registry is exactly as before the killed ingest"
    );
    let files = ws.run(&["files", "--json"]).ok().json();
    assert_eq!(files.as_array().map(Vec::len), Some(1), "{files}");

    // The same file, ingested again, goes in whole: nothing of the killed
    // attempt is taken for an earlier ingest of these bytes.
    let run = ws.run(&["ingest", "big=big.jsonl"]).ok();
    assert!(
        run.stderr
            .contains(&format!("big: {BIG_ROWS} rows ingested")),
        "{}",
        run.stderr
    );
    assert_eq!(
        rows_per_scorer(&ws),
        vec![
            ("big".to_string(), BIG_ROWS as i64, BIG_ROWS as i64),
            ("small".to_string(), 3, 3),
        ]
    );
    assert_eq!(integrity_check(&ws), "ok");
}
